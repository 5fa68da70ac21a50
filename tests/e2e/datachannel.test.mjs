// DataChannels (SCTP over DTLS) through the server: relay inside a stream, broadcastMessage,
// reliability modes, binary payloads, a slow reader, garbage on the association, aiortc interop
// and the demo pages' chat box.
//
// Relay rules under test (defaults: datachannel_relay_players=0, datachannel_echo=0): a message of
// the publisher on label L reaches every player on its channel labelled L, else on its first open
// channel (lowest SCTP stream id); a player's message reaches the publisher the same way and no
// other player. Ordering arguments ("C did not get B's message") are causal, not timed: a later
// message on the same ordered channel arrived, so an earlier relay would have arrived first.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { closePages, expectDecodingGrows } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { PyPeer } from './lib/py.mjs';
import { API_SECRET, startServer } from './lib/server.mjs';
import { short, streamName, waitFor } from './lib/util.mjs';

const ctx = e2eFile('datachannel');
const DC_SOURCE = fs.readFileSync(new URL('./lib/datachannel_inpage.js', import.meta.url), 'utf8');

const KiB = 1024;
const MiB = 1024 * 1024;
const BUFFER_BYTES = 4 * MiB; // [rtc] datachannelBufferBytes default
const MAX_MESSAGE = 256 * KiB; // [rtc] datachannelMaxMessageSize default
const CHAT = [{ label: 'chat' }];

// ---------------------------------------------------------------------------------------------
// helpers

/** A harness page (window.weir) with window.weirDc installed. */
async function dcPage(label, server = ctx.server) {
  const page = await ctx.browser.newPage(label, server.base);
  await page.eval(DC_SOURCE);
  return page;
}

/** Call window.weirDc[fn](...args) in the page. */
function dc(page, fn, ...args) {
  return page.eval(([f, a]) => window.weirDc[f](...a), [fn, args]);
}

/** The server answered the offer's m=application with a usable SCTP section. */
async function expectSctpAnswer(page, name) {
  const sc = await dc(page, 'sctp', name);
  assert.ok(sc.answerApplication, `${page.label}/${name}: the answer has no m=application section at all — ` +
    'the server does not negotiate DataChannels (engine part missing?)');
  const mline = sc.answerApplication.find((l) => l.startsWith('m=application'));
  assert.ok(!/^m=application 0 /.test(mline), `${page.label}/${name}: the server rejected m=application (port 0): ${mline} — ` +
    'DataChannels are not negotiated (engine part missing?)');
  assert.match(mline, /webrtc-datachannel/, `${page.label}/${name}: ${mline}`);
  return sc;
}

/**
 * data.datachannel of GET /api/v1/sessions/{id}; a clear error when the server has no such stats
 * (the engine part has not landed in this binary).
 */
async function dcStats(server, id) {
  const r = await server.sessionInfo(id);
  if (r.status !== 200 || !r.data) throw new Error(`GET /api/v1/sessions/${id}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  const d = r.data.datachannel;
  if (!d || typeof d !== 'object') {
    throw new Error(`GET /api/v1/sessions/${id} has no "datachannel" stats object (keys: ${Object.keys(r.data).join(', ')}) — ` +
      'the engine does not report DataChannel stats yet');
  }
  return d;
}

/** Poll the session's DataChannel stats until pred(stats) holds. */
function waitDcStats(server, id, pred, what, timeoutMs = 10000) {
  return waitFor(async () => {
    const d = await dcStats(server, id);
    return pred(d) ? d : { __notYet: true, last: d };
  }, timeoutMs, { interval: 200, what: `session ${id}: ${what}` });
}

/** The server has `n` open channels for the session (it saw their DCEP OPEN). */
function waitServerOpen(server, id, n = 1) {
  return waitDcStats(server, id, (d) => d.channels_open >= n, `datachannel.channels_open >= ${n}`);
}

/** Every key of the stats contract is there with the right type. */
function assertStatsShape(d, who) {
  for (const k of ['channels_open', 'channels_opened', 'channels_closed', 'messages_in', 'messages_out', 'bytes_in',
    'bytes_out', 'messages_dropped', 'closed_slow', 'queued_bytes', 'max_queued_bytes']) {
    assert.equal(typeof d[k], 'number', `${who}: datachannel.${k} is a number: ${short(d)}`);
  }
  assert.ok(Array.isArray(d.channels), `${who}: datachannel.channels is an array: ${short(d)}`);
  for (const c of d.channels) {
    assert.equal(typeof c.id, 'number', `${who}: channel id: ${short(c)}`);
    assert.equal(typeof c.label, 'string', `${who}: channel label: ${short(c)}`);
    assert.equal(typeof c.ordered, 'boolean', `${who}: channel ordered: ${short(c)}`);
    assert.equal(typeof c.reliable, 'boolean', `${who}: channel reliable: ${short(c)}`);
    assert.equal(typeof c.queued_bytes, 'number', `${who}: channel queued_bytes: ${short(c)}`);
  }
}

/** Wait until a channel in the page has received a text message equal to `text`. */
function waitText(page, name, label, text, timeoutMs = 10000) {
  return waitFor(async () => {
    const texts = await dc(page, 'texts', name, label);
    return texts.includes(text) ? texts : { __notYet: true, last: texts.slice(-5) };
  }, timeoutMs, { interval: 100, what: `${page.label}/${name}/${label} to receive ${JSON.stringify(text)}` });
}

/** Chromium publisher (WHIP, camera + mic, given DataChannels), connected, channels open on the server. */
async function startPublisher(label, stream, channels = CHAT, server = ctx.server) {
  const page = await dcPage(label, server);
  const pub = await page.publish({
    url: server.url(`/whip/live/${stream}`), codec: 'H264', signaling: 'whip', name: 'pub',
    width: 320, height: 240, dataChannels: channels,
  });
  await page.waitStats('pub', (s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.packetsSent > 0,
    20000, 'publisher connected and sending');
  await expectSctpAnswer(page, 'pub');
  await dc(page, 'waitAllOpen', 'pub', 10000);
  await waitServerOpen(server, pub.id, channels.filter((c) => !(c.init && c.init.negotiated)).length);
  return { page, id: pub.id, pub };
}

/** Chromium player (WHEP by default), decoding, its in-band channels open on the server. */
async function startPlayer(label, stream, channels = CHAT, { server = ctx.server, url, signaling = 'whep' } = {}) {
  const page = await dcPage(label, server);
  const play = await page.play({ url: url || server.url(`/whep/live/${stream}`), signaling, name: 'play', dataChannels: channels });
  await page.waitDecoding('play', 5, 30000);
  await expectSctpAnswer(page, 'play');
  await dc(page, 'waitAllOpen', 'play', 10000);
  await waitServerOpen(server, play.id, channels.filter((c) => !(c.init && c.init.negotiated)).length);
  return { page, id: play.id, play };
}

/** GET /index/api/broadcastMessage with the given query (secret, schema, vhost, app filled in). */
async function broadcast(params, server = ctx.server) {
  const q = new URLSearchParams({ secret: API_SECRET, schema: 'rtsp', vhost: '__defaultVhost__', app: 'live', ...params });
  return apiJson(server, 'GET', `/index/api/broadcastMessage?${q}`);
}

async function apiJson(server, method, path, { body, contentType } = {}) {
  const r = await server.request(method, path, { body, contentType });
  if (!r.json) {
    throw new Error(`${method} ${path.replace(/secret=[^&]*/, 'secret=…')}: HTTP ${r.status} ${r.text.slice(0, 200)} — ` +
      'not a JSON answer (broadcastMessage not implemented?)');
  }
  return r.json;
}

function sha256(buf) { return crypto.createHash('sha256').update(buf).digest('hex'); }

/** Session id of an aiortc peer ("signaled" event). */
async function pyPeerId(peer) {
  const ev = await peer.waitEvent('signaled', 20000);
  assert.ok(ev.id, `${peer.label}: no session id in the Location ${ev.location}`);
  return ev.id;
}

async function stopPeers(peers) {
  for (const p of peers) {
    try { await p.stop(); } catch { /* ignore */ }
  }
}

// ---------------------------------------------------------------------------------------------
// 1. relay and broadcastMessage between Chromium peers

ctx.test('WHIP publisher + 2 WHEP players: broadcastMessage, player -> publisher only, publisher -> players; video keeps decoding',
  { timeout: 90000 }, async (t) => {
    const s = ctx.server;
    const stream = streamName('dc-relay');
    const pages = [];
    try {
      const A = await startPublisher('pubA', stream);
      pages.push(A.page);
      const sc = await dc(A.page, 'sctp', 'pub');
      assert.ok(sc.answerApplication.includes(`a=max-message-size:${MAX_MESSAGE}`), `answer advertises 256 KiB: ${short(sc.answerApplication)}`);
      const B = await startPlayer('playB', stream);
      pages.push(B.page);
      const C = await startPlayer('playC', stream);
      pages.push(C.page);
      const decodedBefore = { B: (await B.page.stats('play')).framesDecodedTotal, C: (await C.page.stats('play')).framesDecodedTotal };

      // broadcastMessage (default target: players) reaches both players, exact text.
      const hello = 'hello players ✓ <&> "quoted" 漢字';
      const r = await broadcast({ stream, msg: hello });
      assert.deepEqual(r, { code: 0, count: 2 }, `broadcastMessage answer: ${short(r)}`);
      await waitText(B.page, 'play', 'chat', hello);
      await waitText(C.page, 'play', 'chat', hello);

      // A player's message reaches the publisher and not the other player (relay_players=0).
      await dc(B.page, 'send', 'play', 'chat', 'from B');
      await waitText(A.page, 'pub', 'chat', 'from B');
      // The publisher's message reaches both players.
      await dc(A.page, 'send', 'pub', 'chat', 'from pub');
      const cTexts = await waitText(C.page, 'play', 'chat', 'from pub');
      const bTexts = await waitText(B.page, 'play', 'chat', 'from pub');
      assert.ok(!cTexts.includes('from B'), `player C must not get player B's message (relay_players=0): ${short(cTexts)}`);
      assert.ok(!bTexts.includes('from B'), `player B must not get its own message back (datachannel_echo=0): ${short(bTexts)}`);
      assert.deepEqual(cTexts, [hello, 'from pub'], 'player C got exactly the broadcast and the publisher message');
      assert.deepEqual(bTexts, [hello, 'from pub'], 'player B got exactly the broadcast and the publisher message');
      const aTexts = await dc(A.page, 'texts', 'pub', 'chat');
      assert.deepEqual(aTexts, ['from B'], 'the publisher got only the player message (broadcast targets players)');

      // Server-side stats.
      const aSt = await waitDcStats(s, A.id, (d) => d.messages_in >= 1 && d.messages_out >= 1, 'publisher counted 1 in, 1 out');
      const bSt = await waitDcStats(s, B.id, (d) => d.messages_in >= 1 && d.messages_out >= 2, 'player B counted 1 in, 2 out');
      assertStatsShape(aSt, 'publisher');
      assertStatsShape(bSt, 'player B');
      assert.equal(aSt.channels_open, 1, `publisher has one open channel: ${short(aSt)}`);
      const ch = aSt.channels.find((c) => c.label === 'chat');
      assert.ok(ch, `publisher stats list the "chat" channel: ${short(aSt.channels)}`);
      assert.equal(ch.ordered, true);
      assert.equal(ch.reliable, true);
      assert.equal(aSt.messages_in, 1, 'publisher: one message in ("from pub")');
      assert.equal(aSt.messages_out, 1, 'publisher: one message out ("from B")');
      assert.equal(bSt.messages_in, 1, 'player B: one message in');
      assert.equal(bSt.messages_out, 2, 'player B: two messages out (broadcast + publisher)');
      assert.equal(aSt.bytes_in, Buffer.byteLength('from pub'), 'publisher bytes_in');
      assert.equal(bSt.bytes_out, Buffer.byteLength(hello) + Buffer.byteLength('from pub'), 'player B bytes_out');
      for (const [who, d] of [['publisher', aSt], ['player B', bSt]]) {
        assert.equal(d.messages_dropped, 0, `${who}: nothing dropped`);
        assert.equal(d.closed_slow, 0, `${who}: no channel closed as slow`);
      }
      ctx.log(t, 'publisher datachannel stats', aSt);
      ctx.log(t, 'player B datachannel stats', bSt);

      // Video kept decoding on both players throughout.
      for (const [P, name] of [[B, 'B'], [C, 'C']]) {
        const g = await expectDecodingGrows(P.page, 'play', 20, 15000);
        assert.ok(g.after > decodedBefore[name], `player ${name} decodes`);
      }
    } finally {
      await closePages(pages);
    }
  });

// ---------------------------------------------------------------------------------------------
// 2. ordered reliable bulk of small messages

ctx.test('10,000 ordered messages from the publisher arrive at a player complete and in order', { timeout: 75000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('dc-order');
  const pages = [];
  try {
    const A = await startPublisher('pubOrder', stream);
    pages.push(A.page);
    const B = await startPlayer('playOrder', stream);
    pages.push(B.page);
    const N = 10000;
    const t0 = Date.now();
    await dc(A.page, 'sendMany', 'pub', 'chat', { prefix: 'm', count: N });
    const got = await waitFor(async () => {
      const c = await dc(B.page, 'channel', 'play', 'chat');
      return c.textCount >= N ? c : { __notYet: true, last: { textCount: c.textCount, readyState: c.readyState } };
    }, 40000, { interval: 250, what: `${N} messages at the player` });
    const ms = Date.now() - t0;
    const check = await dc(B.page, 'checkSequence', 'play', 'chat', 'm', N);
    assert.equal(check.received, N, `exactly ${N} messages`);
    assert.equal(check.firstBad, null, `messages in order: first mismatch ${short(check.firstBad)}`);
    const bSt = await waitDcStats(s, B.id, (d) => d.messages_out >= N, `player messages_out >= ${N}`);
    assert.equal(bSt.messages_dropped, 0);
    assert.ok(bSt.max_queued_bytes <= BUFFER_BYTES, `queue stayed under the bound: ${bSt.max_queued_bytes}`);
    ctx.log(t, 'ordered messages', { n: N, ms, readyState: got.readyState, max_queued_bytes: bSt.max_queued_bytes });
  } finally {
    await closePages(pages);
  }
});

// ---------------------------------------------------------------------------------------------
// 3. reliability modes, pre-negotiated channels, label fallback

ctx.test('unreliable and partially reliable channels, a pre-negotiated channel, and the first-open-channel fallback', { timeout: 75000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('dc-modes');
  const pages = [];
  try {
    const A = await startPublisher('pubModes', stream, [
      { label: 'chat' },
      { label: 'fast', init: { ordered: false, maxRetransmits: 0 } },
      { label: 'life', init: { maxPacketLifeTime: 2000 } },
    ]);
    pages.push(A.page);
    const B = await startPlayer('playModes', stream, [
      { label: 'chat' },
      { label: 'fast', init: { ordered: false, maxRetransmits: 0 } },
      { label: 'pre', init: { negotiated: true, id: 5 } },
    ]);
    pages.push(B.page);

    // The server took the reliability parameters from the DCEP OPEN.
    const aSt = await dcStats(s, A.id);
    const bSt = await dcStats(s, B.id);
    const find = (d, label) => d.channels.find((c) => c.label === label);
    for (const [who, d, expect] of [
      ['publisher', aSt, { chat: [true, true], fast: [false, false], life: [true, false] }],
      ['player', bSt, { chat: [true, true], fast: [false, false] }],
    ]) {
      for (const [label, [ordered, reliable]] of Object.entries(expect)) {
        const c = find(d, label);
        assert.ok(c, `${who} stats list channel "${label}": ${short(d.channels)}`);
        assert.equal(c.ordered, ordered, `${who} "${label}" ordered`);
        assert.equal(c.reliable, reliable, `${who} "${label}" reliable`);
      }
    }
    const browserIds = Object.fromEntries((await dc(A.page, 'channels', 'pub')).map((c) => [c.label, c.id]));
    assert.equal(find(aSt, 'fast').id, browserIds.fast, 'stats id is the SCTP stream id the browser uses');

    // Unreliable, unordered: messages arrive on loopback, on the channel with the same label.
    const U = 200;
    for (let i = 0; i < U; i += 50) {
      await A.page.eval(([from, to]) => { for (let k = from; k < to; k++) window.weirDc.send('pub', 'fast', `u${k}`); }, [i, i + 50]);
    }
    const fast = await waitFor(async () => {
      const c = await dc(B.page, 'channel', 'play', 'fast');
      return c.textCount >= U ? c : { __notYet: true, last: c.textCount };
    }, 10000, { interval: 200, what: 'unreliable messages at the player' }).catch(async () => dc(B.page, 'channel', 'play', 'fast'));
    assert.ok(fast.textCount > 0, `unreliable channel delivered nothing: ${short(fast)}`);
    const fastTexts = await dc(B.page, 'texts', 'play', 'fast');
    assert.ok(fastTexts.every((x) => /^u\d+$/.test(x)), 'only u<i> messages on "fast"');
    assert.equal(new Set(fastTexts).size, fastTexts.length, 'no duplicates on an unreliable channel');
    ctx.log(t, 'unreliable channel', { sent: U, received: fast.textCount });

    // Partially reliable (maxPacketLifeTime) "life": the player has no such label -> its first
    // open channel, "chat" (stream id 0, lower than "fast" and the negotiated 5).
    await dc(A.page, 'send', 'pub', 'life', 'on life');
    await waitText(B.page, 'play', 'chat', 'on life');

    // A channel the publisher opens in-band after connecting works too; no such label at the
    // player either -> "chat".
    await dc(A.page, 'create', 'pub', 'late', {});
    await dc(A.page, 'waitOpen', 'pub', 'late', 10000);
    await waitServerOpen(s, A.id, 4);
    await dc(A.page, 'send', 'pub', 'late', 'on late');
    await waitText(B.page, 'play', 'chat', 'on late');
    await dc(A.page, 'send', 'pub', 'chat', 'on chat');
    await waitText(B.page, 'play', 'chat', 'on chat');

    // Pre-negotiated channel (negotiated:true, id 5): no DCEP OPEN ever reaches the server; data
    // on it is accepted and reaches the publisher (no "pre" there -> its first open channel, "chat").
    await dc(B.page, 'send', 'play', 'pre', 'via pre');
    await waitText(A.page, 'pub', 'chat', 'via pre');
    const preInfo = await dc(B.page, 'channel', 'play', 'pre');
    assert.equal(preInfo.id, 5);
    assert.equal(preInfo.readyState, 'open', `the negotiated channel stays open: ${short(preInfo)}`);
    const texts = await dc(B.page, 'texts', 'play', 'chat');
    assert.ok(!texts.some((x) => /^u\d+$/.test(x)), 'unreliable messages went to "fast", not to "chat"');
    ctx.log(t, 'player channels', await dc(B.page, 'channels', 'play'));
    ctx.log(t, 'player datachannel stats', await dcStats(s, B.id));
  } finally {
    await closePages(pages);
  }
});

// str0m drops data on an SCTP stream it has no channel for, and a negotiated channel announces
// nothing, so the server accepts negotiated channels on the ids of rtc.datachannelNegotiatedIds
// (default: odd ids 1..15). Here a server configured with other ids (even, above 15, large).
ctx.test('pre-negotiated channels on configured ids (even, above 15, large) carry data both ways', { timeout: 60000 }, async (t) => {
  const IDS = [4, 40, 1001];
  const s = await startServer('datachannel-negotiated', { WEIR_RTC_DATACHANNELNEGOTIATEDIDS: [...IDS, 42].join(',') });
  const stream = streamName('dc-neg');
  const pages = [];
  try {
    const A = await startPublisher('pubNeg', stream, [{ label: 'chat' }, { label: 'neg-pub', init: { negotiated: true, id: 42 } }], s);
    pages.push(A.page);
    const B = await startPlayer('playNeg', stream, [{ label: 'chat' }, ...IDS.map((id) => ({ label: `neg${id}`, init: { negotiated: true, id } }))], { server: s });
    pages.push(B.page);
    const results = {};
    for (const id of IDS) {
      await dc(B.page, 'send', 'play', `neg${id}`, `via negotiated ${id}`);
    }
    // Publisher side: no such labels -> each arrives on its first open channel.
    const texts = await waitFor(async () => {
      const all = [...await dc(A.page, 'texts', 'pub', 'chat'), ...await dc(A.page, 'texts', 'pub', 'neg-pub')];
      for (const id of IDS) results[id] = all.includes(`via negotiated ${id}`);
      return Object.values(results).every(Boolean) ? all : { __notYet: true, last: { ...results } };
    }, 8000, { what: `player messages on negotiated ids ${IDS.join(', ')} at the publisher` });
    // And the publisher's own negotiated channel (id 42) carries data to the players.
    await dc(A.page, 'send', 'pub', 'neg-pub', 'from negotiated 42');
    await waitText(B.page, 'play', 'chat', 'from negotiated 42');
    ctx.log(t, 'publisher texts', texts);
    ctx.log(t, 'player datachannel stats', await dcStats(s, B.id));
  } finally {
    await closePages(pages);
    await s.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// 4. binary payloads and the broadcastMessage API

ctx.test('binary messages round-trip byte-exact; broadcastMessage binary=1, POST JSON/form, session=, target=, errors', { timeout: 75000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('dc-bin');
  const pages = [];
  try {
    const A = await startPublisher('pubBin', stream);
    pages.push(A.page);
    const B = await startPlayer('playBin', stream);
    pages.push(B.page);

    // 64 KiB of random bytes, publisher -> player, byte-exact; a text stays text.
    const sent = await dc(A.page, 'sendRandom', 'pub', 'chat', 64 * KiB);
    await dc(A.page, 'send', 'pub', 'chat', 'text after binary');
    await waitText(B.page, 'play', 'chat', 'text after binary');
    let bins = await dc(B.page, 'binaries', 'play', 'chat');
    assert.deepEqual(bins, [{ size: 64 * KiB, sha256: sent.sha256 }], 'the player got the 64 KiB message byte-exact, as binary');
    const bInfo = await dc(B.page, 'channel', 'play', 'chat');
    assert.equal(bInfo.textCount, 1, 'one text message');
    assert.equal(bInfo.binCount, 1, 'one binary message');

    // The largest message the contract allows (a=max-message-size, 256 KiB) goes through too.
    const biggest = await dc(A.page, 'sendRandom', 'pub', 'chat', MAX_MESSAGE);
    await waitFor(async () => {
      const b = await dc(B.page, 'binaries', 'play', 'chat');
      return b.length >= 2 ? b : { __notYet: true, last: b };
    }, 10000, { what: 'the 256 KiB message at the player' });
    bins = await dc(B.page, 'binaries', 'play', 'chat');
    assert.deepEqual(bins[1], { size: MAX_MESSAGE, sha256: biggest.sha256 }, 'a 256 KiB message arrives byte-exact');

    // A player's binary message reaches the publisher as binary.
    const back = await dc(B.page, 'sendRandom', 'play', 'chat', 1000);
    const aBins = await waitFor(async () => {
      const b = await dc(A.page, 'binaries', 'pub', 'chat');
      return b.length ? b : { __notYet: true, last: b };
    }, 10000, { what: 'binary message at the publisher' });
    assert.deepEqual(aBins, [{ size: 1000, sha256: back.sha256 }]);

    // broadcastMessage binary=1: base64 msg -> one binary message with exactly those bytes.
    const small = crypto.randomBytes(1000);
    let r = await broadcast({ stream, msg: small.toString('base64'), binary: '1' });
    assert.deepEqual(r, { code: 0, count: 1 }, `binary broadcast: ${short(r)}`);
    // Larger binary payload in a POST JSON body (24 KiB: base64 must fit the 40 KiB body limit
    // of the management APIs).
    const large = crypto.randomBytes(24 * KiB);
    r = await apiJson(s, 'POST', '/index/api/broadcastMessage', {
      contentType: 'application/json',
      body: JSON.stringify({ secret: API_SECRET, schema: 'rtsp', vhost: '__defaultVhost__', app: 'live', stream, msg: large.toString('base64'), binary: 1 }),
    });
    assert.deepEqual(r, { code: 0, count: 1 }, `POST JSON binary broadcast: ${short(r)}`);
    bins = await waitFor(async () => {
      const b = await dc(B.page, 'binaries', 'play', 'chat');
      return b.length >= 4 ? b : { __notYet: true, last: b };
    }, 10000, { what: 'the two broadcast binary messages at the player' });
    assert.deepEqual(bins.slice(2), [{ size: 1000, sha256: sha256(small) }, { size: 24 * KiB, sha256: sha256(large) }],
      'broadcast binary messages arrive byte-exact, in order');

    // Text via POST JSON and POST form bodies; GET is covered by test 1.
    r = await apiJson(s, 'POST', '/index/api/broadcastMessage', {
      contentType: 'application/json',
      body: JSON.stringify({ secret: API_SECRET, schema: 'rtsp', vhost: '__defaultVhost__', app: 'live', stream, msg: 'json body' }),
    });
    assert.deepEqual(r, { code: 0, count: 1 }, `POST JSON: ${short(r)}`);
    r = await apiJson(s, 'POST', '/index/api/broadcastMessage', {
      contentType: 'application/x-www-form-urlencoded',
      body: new URLSearchParams({ secret: API_SECRET, schema: 'rtsp', vhost: '__defaultVhost__', app: 'live', stream, msg: 'form body & more' }).toString(),
    });
    assert.deepEqual(r, { code: 0, count: 1 }, `POST form: ${short(r)}`);
    r = await apiJson(s, 'POST', `/index/api/broadcastMessage?${new URLSearchParams({ secret: API_SECRET, schema: 'rtsp', vhost: '__defaultVhost__', app: 'live', stream, msg: 'post query' })}`);
    assert.deepEqual(r, { code: 0, count: 1 }, `POST with query args: ${short(r)}`);
    await waitText(B.page, 'play', 'chat', 'post query');
    let bTexts = await dc(B.page, 'texts', 'play', 'chat');
    assert.deepEqual(bTexts.slice(-3), ['json body', 'form body & more', 'post query'], 'JSON, form and query messages in order');

    // target= and session=.
    r = await broadcast({ stream, msg: 'to publisher', target: 'publisher' });
    assert.deepEqual(r, { code: 0, count: 1 }, `target=publisher: ${short(r)}`);
    await waitText(A.page, 'pub', 'chat', 'to publisher');
    r = await broadcast({ stream, msg: 'to all', target: 'all' });
    assert.deepEqual(r, { code: 0, count: 2 }, `target=all: ${short(r)}`);
    await waitText(A.page, 'pub', 'chat', 'to all');
    await waitText(B.page, 'play', 'chat', 'to all');
    r = await broadcast({ stream, msg: 'only the publisher session', target: 'all', session: A.id });
    assert.deepEqual(r, { code: 0, count: 1 }, `session=<publisher id>: ${short(r)}`);
    r = await broadcast({ stream, msg: 'only the player session', session: B.id });
    assert.deepEqual(r, { code: 0, count: 1 }, `session=<player id>: ${short(r)}`);
    await waitText(A.page, 'pub', 'chat', 'only the publisher session');
    bTexts = await waitText(B.page, 'play', 'chat', 'only the player session');
    assert.ok(!bTexts.includes('to publisher') && !bTexts.includes('only the publisher session'), `player got publisher-only messages: ${short(bTexts)}`);
    const aTexts = await dc(A.page, 'texts', 'pub', 'chat');
    assert.deepEqual(aTexts, ['to publisher', 'to all', 'only the publisher session'], 'the publisher got exactly its messages');

    // Errors, ZLMediaKit style.
    const missing = await apiJson(s, 'GET', `/index/api/broadcastMessage?secret=${API_SECRET}&schema=rtsp&vhost=__defaultVhost__&app=live&msg=x`);
    assert.equal(missing.code, -300, `missing stream -> -300: ${short(missing)}`);
    assert.match(missing.msg || '', /^Required parameter missed/, `missing stream message: ${short(missing)}`);
    const noMsg = await apiJson(s, 'GET', `/index/api/broadcastMessage?secret=${API_SECRET}&schema=rtsp&vhost=__defaultVhost__&app=live&stream=${stream}`);
    assert.equal(noMsg.code, -300, `missing msg -> -300: ${short(noMsg)}`);
    const unknown = await broadcast({ stream: `${stream}-nobody`, msg: 'x' });
    assert.deepEqual(unknown, { code: -500, msg: 'can not find the stream' }, 'unknown stream');
    const wrong = await apiJson(s, 'GET', `/index/api/broadcastMessage?secret=wrong&schema=rtsp&vhost=__defaultVhost__&app=live&stream=${stream}&msg=x`);
    assert.equal(wrong.code, -100, `wrong secret -> -100: ${short(wrong)}`);
    const noSecret = await apiJson(s, 'GET', `/index/api/broadcastMessage?schema=rtsp&vhost=__defaultVhost__&app=live&stream=${stream}&msg=x`);
    assert.equal(noSecret.code, -300, `no secret -> -300: ${short(noSecret)}`);
    // None of the refused calls delivered anything.
    await dc(A.page, 'send', 'pub', 'chat', 'last');
    bTexts = await waitText(B.page, 'play', 'chat', 'last');
    assert.ok(!bTexts.includes('x'), `a refused broadcast was delivered: ${short(bTexts)}`);
    ctx.log(t, 'player datachannel stats', await dcStats(s, B.id));
  } finally {
    await closePages(pages);
  }
});

// ---------------------------------------------------------------------------------------------
// 5. flow control: a slow reader is bounded, the others are unaffected

ctx.test('slow reader: 50 MB to a fast Chromium player and an aiortc player that never reads; bounded queue, fast player complete', { timeout: 120000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('dc-slow');
  const pages = [];
  const peers = [];
  try {
    const A = await startPublisher('pubSlow', stream);
    pages.push(A.page);
    const fast = await startPlayer('playFast', stream);
    pages.push(fast.page);
    const slow = new PyPeer('dc_slow_player.py', [s.url(`/whep/live/${stream}`), '--timeout', '110'], 'dc_slow_player.py');
    peers.push(slow);
    const slowId = await pyPeerId(slow);
    await slow.waitEvent('open', 20000);
    await waitServerOpen(s, slowId, 1);

    // The publisher is paced by bufferedamountlow (its own SCTP send buffer) and, end to end, by
    // the fast player: it acknowledges every 8 messages ("ack:<n>", relayed to the publisher like
    // any player message) and the publisher keeps at most WINDOW messages (2 MiB) beyond the last
    // ack. The server has no way to slow the publisher down, so without this window a player that
    // reads as fast as it can is still "slow" whenever the server forwards more slowly than the
    // publisher sends, and is rightly closed at datachannelBufferBytes; with it, the fast player's
    // queue can never reach the bound, while the slow player (which never reads, never acks)
    // must hit it.
    const TOTAL = 50 * 1000 * 1000;
    const SIZE = 64 * KiB;
    const COUNT = Math.ceil(TOTAL / SIZE);
    const WINDOW = 32;
    const before = (await fast.page.stats('play')).framesDecodedTotal;
    await dc(fast.page, 'autoAck', 'play', 'chat', 8);
    const t0 = Date.now();
    await dc(A.page, 'startBulk', 'pub', 'chat', { total: TOTAL, size: SIZE, low: 1 * MiB, high: 4 * MiB, window: WINDOW });
    let maxSlowQueued = 0;
    const done = await waitFor(async () => {
      const [pubSt, fastCh] = [await dc(A.page, 'bulkStatus', 'pub', 'chat'), await dc(fast.page, 'channel', 'play', 'chat')];
      const slowSt = await dcStats(s, slowId).catch(() => null);
      if (slowSt) maxSlowQueued = Math.max(maxSlowQueued, slowSt.queued_bytes);
      if (pubSt.error) throw Object.assign(new Error(`publisher bulk send failed: ${pubSt.error}`), { fatal: true });
      return fastCh.seq.count >= COUNT ? { pubSt, fastCh } : { __notYet: true, last: { sent: pubSt.sent, fastReceived: fastCh.seq.count, fastState: fastCh.readyState } };
    }, 100000, { interval: 500, what: `${COUNT} messages of ${SIZE} bytes at the fast player` });
    const ms = Date.now() - t0;
    assert.equal(done.fastCh.seq.count, COUNT, 'the fast player got every message');
    assert.equal(done.fastCh.seq.outOfOrder, 0, `in order: ${short(done.fastCh.seq)}`);
    assert.equal(done.fastCh.seq.bytes, COUNT * SIZE);
    assert.equal(done.fastCh.readyState, 'open', 'the fast player\'s channel is still open');

    const slowSt = await dcStats(s, slowId);
    const fastSt = await dcStats(s, fast.id);
    const slowEvents = slow.events.filter((e) => e.event === 'status');
    const lastStatus = slowEvents[slowEvents.length - 1];
    ctx.log(t, 'bulk transfer', { bytes: COUNT * SIZE, messages: COUNT, ms, MBps: Math.round((COUNT * SIZE) / ms / 100) / 10, publisher: done.pubSt });
    ctx.log(t, 'slow player datachannel stats', slowSt);
    ctx.log(t, 'slow player (aiortc) last status', lastStatus);
    ctx.log(t, 'fast player datachannel stats', fastSt);
    assert.ok(lastStatus && lastStatus.held_messages > 0, `the slow player received (and held) some messages: ${short(lastStatus)}`);
    assert.ok(slowSt.closed_slow >= 1 || slowSt.messages_dropped > 0,
      `the slow reader's channel was closed (closed_slow >= 1) or messages dropped: ${short(slowSt)}`);
    assert.ok(slowSt.max_queued_bytes <= BUFFER_BYTES + MAX_MESSAGE,
      `bounded memory: slow player's max_queued_bytes ${slowSt.max_queued_bytes} <= ${BUFFER_BYTES + MAX_MESSAGE}`);
    assert.ok(slowSt.max_queued_bytes >= maxSlowQueued, 'max_queued_bytes is at least every queued_bytes we saw');
    assert.equal(fastSt.closed_slow, 0, `fast player not closed: ${short(fastSt)}`);
    assert.equal(fastSt.messages_dropped, 0, 'nothing dropped for the fast player');
    assert.ok(fastSt.messages_out >= COUNT, `fast player messages_out ${fastSt.messages_out}`);
    assert.ok(fastSt.max_queued_bytes <= WINDOW * SIZE, `fast player's queue stayed within the window: ${fastSt.max_queued_bytes}`);
    if (slowSt.closed_slow >= 1) {
      assert.ok(!slowSt.channels.some((c) => c.label === 'chat'), `the closed channel is gone from the slow player's list: ${short(slowSt.channels)}`);
    }
    // The media path is unaffected.
    const g = await expectDecodingGrows(fast.page, 'play', 20, 15000);
    assert.ok(g.after > before, 'the fast player kept decoding video');
    const slowSession = await s.sessionInfo(slowId);
    assert.equal(slowSession.status, 200, 'the slow player\'s session is still alive (only its channel was affected)');
  } finally {
    await stopPeers(peers);
    await closePages(pages);
  }
});

ctx.test('slow reader on an unreliable channel: the server drops messages for it instead of closing, memory stays bounded', { timeout: 60000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('dc-slow-unrel');
  const pages = [];
  const peers = [];
  try {
    const A = await startPublisher('pubSlowU', stream, [{ label: 'chat' }, { label: 'fast', init: { ordered: false, maxRetransmits: 0 } }]);
    pages.push(A.page);
    const slow = new PyPeer('dc_slow_player.py', [s.url(`/whep/live/${stream}`), '--label', 'fast', '--unreliable', '--timeout', '50'], 'dc_slow_player.py --unreliable');
    peers.push(slow);
    const slowId = await pyPeerId(slow);
    await slow.waitEvent('open', 20000);
    const opened = await waitServerOpen(s, slowId, 1);
    const ch = opened.channels.find((c) => c.label === 'fast');
    assert.ok(ch && ch.reliable === false && ch.ordered === false, `the server sees the slow player's channel as unreliable, unordered: ${short(opened.channels)}`);

    // 16 MB, paced only by the publisher's own send buffer: far more than the 4 MiB bound.
    const TOTAL = 16 * 1000 * 1000;
    const SIZE = 64 * KiB;
    await dc(A.page, 'startBulk', 'pub', 'fast', { total: TOTAL, size: SIZE, low: 1 * MiB, high: 4 * MiB });
    const done = await waitFor(async () => {
      const st = await dc(A.page, 'bulkStatus', 'pub', 'fast');
      if (st.error) throw new Error(`publisher bulk send failed: ${st.error}`);
      return st.done ? st : { __notYet: true, last: st };
    }, 40000, { interval: 250, what: 'the publisher to send 16 MB on "fast"' });
    const slowSt = await waitDcStats(s, slowId, (d) => d.messages_dropped > 0, 'messages_dropped > 0 for the slow unreliable channel');
    ctx.log(t, 'publisher', done);
    ctx.log(t, 'slow player datachannel stats', slowSt);
    ctx.log(t, 'slow player (aiortc) last status', slow.events.filter((e) => e.event === 'status').pop());
    assert.equal(slowSt.closed_slow, 0, `an unreliable channel is not closed for slowness: ${short(slowSt)}`);
    assert.ok(slowSt.channels.some((c) => c.label === 'fast'), `the unreliable channel stays open: ${short(slowSt.channels)}`);
    assert.ok(!slow.events.some((e) => e.event === 'close'), 'aiortc saw no close');
    assert.ok(slowSt.max_queued_bytes <= BUFFER_BYTES + MAX_MESSAGE,
      `bounded memory: max_queued_bytes ${slowSt.max_queued_bytes} <= ${BUFFER_BYTES + MAX_MESSAGE}`);
    assert.equal((await s.sessionInfo(slowId)).status, 200, 'the slow player\'s session is alive');
    assert.equal((await dcStats(s, A.id)).closed_slow, 0, 'the publisher is not affected');
  } finally {
    await stopPeers(peers);
    await closePages(pages);
  }
});

// ---------------------------------------------------------------------------------------------
// 6. garbage on the association (aiortc internals, py/dc_garbage.py)

/** Publisher, a Chromium player, and the garbage peer with "chat" and "big" open on the server. */
async function garbageSetup(prefix, pages, peers) {
  const s = ctx.server;
  const stream = streamName(prefix);
  const A = await startPublisher(`${prefix}-pub`, stream);
  pages.push(A.page);
  const C = await startPlayer(`${prefix}-other`, stream);
  pages.push(C.page);
  const g = new PyPeer('dc_garbage.py', [s.url(`/whep/live/${stream}`), '--timeout', '60'], `dc_garbage.py (${prefix})`);
  peers.push(g);
  const gid = await pyPeerId(g);
  await waitServerOpen(s, gid, 2);
  return { A, C, g, gid };
}

/** The garbage peer's session is still there, its "chat" works both ways, the other player too. */
async function expectOthersUnaffected(t, { A, C, g, gid }, tag) {
  const s = ctx.server;
  const alive = await s.sessionInfo(gid);
  assert.equal(alive.status, 200, `the server ended the garbage peer's whole session (HTTP ${alive.status} for its stats; ` +
    `aiortc events ${short(g.events.filter((e) => ['close', 'connection'].includes(e.event)))})`);
  await dc(A.page, 'send', 'pub', 'chat', `ping:${tag}`);
  await waitText(A.page, 'pub', 'chat', `pong:${tag}`, 15000);
  assert.ok(!g.events.some((e) => e.event === 'close' && e.label === 'chat'), 'aiortc\'s "chat" was not closed');
  await waitText(C.page, 'play', 'chat', `ping:${tag}`);
  await expectDecodingGrows(C.page, 'play', 20, 15000);
}

ctx.test('garbage on the SCTP association: malformed DCEP messages open nothing and break nothing', { timeout: 60000 }, async (t) => {
  const pages = [];
  const peers = [];
  try {
    const G = await garbageSetup('dc-dcep', pages, peers);
    await dc(G.A.page, 'send', 'pub', 'chat', 'dcep');
    const sent = await G.g.waitEvent('dcep-sent', 15000);
    await expectOthersUnaffected(t, G, 'dcep');
    const gSt = await dcStats(ctx.server, G.gid);
    for (const id of sent.dcep_streams) {
      assert.ok(!gSt.channels.some((c) => c.id === id), `no channel was created by malformed DCEP on stream ${id}: ${short(gSt.channels)}`);
    }
    assert.deepEqual(gSt.channels.map((c) => c.label).sort(), ['big', 'chat'], 'both real channels still open');
    assert.equal(gSt.channels_open, 2);
    assert.ok(!G.g.events.some((e) => e.event === 'close'), `no channel of the garbage peer closed: ${short(G.g.events.filter((e) => e.event === 'close'))}`);
    const cTexts = await dc(G.C.page, 'texts', 'play', 'chat');
    assert.deepEqual(cTexts, ['dcep', 'ping:dcep'], 'the other player got the publisher messages and nothing else');
    ctx.log(t, 'garbage peer datachannel stats', gSt);
  } finally {
    await stopPeers(peers);
    await closePages(pages);
  }
});

ctx.test('garbage on the SCTP association: a message over a=max-message-size closes only that channel', { timeout: 60000 }, async (t) => {
  const pages = [];
  const peers = [];
  try {
    const G = await garbageSetup('dc-oversize', pages, peers);
    await dc(G.A.page, 'send', 'pub', 'chat', 'oversize');
    const sent = await G.g.waitEvent('oversize-sent', 15000);
    ctx.log(t, 'oversize', sent);
    await waitFor(() => G.g.events.find((e) => e.event === 'close' && e.label === 'big'), 15000,
      { what: `the server to close the "big" channel after a ${sent.bytes}-byte message (limit ${MAX_MESSAGE})` });
    await expectOthersUnaffected(t, G, 'oversize');
    const gSt = await waitDcStats(ctx.server, G.gid, (d) => !d.channels.some((c) => c.label === 'big'), '"big" gone from the channel list');
    assert.deepEqual(gSt.channels.map((c) => c.label), ['chat'], `only "chat" left open on the server: ${short(gSt.channels)}`);
    assert.ok(gSt.channels_closed >= 1, `channels_closed counts the closed channel: ${short(gSt)}`);
    ctx.log(t, 'garbage peer datachannel stats', gSt);
  } finally {
    await stopPeers(peers);
    await closePages(pages);
  }
});

// ---------------------------------------------------------------------------------------------
// 7. independent stack

ctx.test('aiortc WHEP player with a DataChannel: receives the Chromium publisher\'s message and answers it', { timeout: 60000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('dc-aiortc');
  const pages = [];
  const peers = [];
  try {
    const A = await startPublisher('pubAiortc', stream);
    pages.push(A.page);
    const p = new PyPeer('dc_whep_chat.py', [s.url(`/whep/live/${stream}`), '--timeout', '50'], 'dc_whep_chat.py');
    peers.push(p);
    const id = await pyPeerId(p);
    const signaled = p.events.find((e) => e.event === 'signaled');
    assert.ok(signaled.answer_application.some((l) => /^m=application [1-9]/.test(l)), `SCTP in the answer to aiortc: ${short(signaled.answer_application)}`);
    await p.waitEvent('open', 20000); // aiortc opens on the server's DCEP ACK
    await waitServerOpen(s, id, 1);
    await dc(A.page, 'send', 'pub', 'chat', 'ping:aiortc');
    const msg = await p.waitEvent('message', 10000);
    assert.deepEqual({ label: msg.label, kind: msg.kind, text: msg.text }, { label: 'chat', kind: 'text', text: 'ping:aiortc' });
    await waitText(A.page, 'pub', 'chat', 'pong:aiortc');
    // Binary both ways: aiortc answers with the bytes reversed.
    const sent = await dc(A.page, 'sendRandom', 'pub', 'chat', 10000);
    const bin = await waitFor(() => p.events.find((e) => e.event === 'message' && e.kind === 'binary'), 10000, { what: 'binary at aiortc' });
    assert.equal(bin.sha256, sent.sha256, 'aiortc got the bytes exactly');
    const back = await waitFor(async () => {
      const b = await dc(A.page, 'binaries', 'pub', 'chat');
      return b.length ? b : { __notYet: true, last: b };
    }, 10000, { what: 'reversed binary at the publisher' });
    assert.equal(back[0].size, 10000);
    await p.waitEvent('frames', 20000); // aiortc decodes video too
    ctx.log(t, 'aiortc events', p.events.filter((e) => e.event !== 'message').slice(0, 12));
  } finally {
    await stopPeers(peers);
    await closePages(pages);
  }
});

// ---------------------------------------------------------------------------------------------
// 8. other dialects, and the datachannel_echo / datachannel_relay_players switches

ctx.test('datachannel_echo=1 + relay_players=1 + datachannelMaxMessageSize server: ZLM and SRS players, echo session, player-to-player relay', { timeout: 90000 }, async (t) => {
  const s = await startServer('datachannel-flags', {
    WEIR_RTC_DATACHANNEL_ECHO: '1', WEIR_RTC_DATACHANNEL_RELAY_PLAYERS: '1', WEIR_RTC_DATACHANNELMAXMESSAGESIZE: '100000',
  });
  const stream = streamName('dc-flags');
  const pages = [];
  try {
    const A = await startPublisher('pubFlags', stream, CHAT, s);
    pages.push(A.page);
    // datachannelMaxMessageSize is what the answer advertises, and what the browser then allows.
    const sc = await dc(A.page, 'sctp', 'pub');
    assert.ok(sc.answerApplication.includes('a=max-message-size:100000'), `answer advertises the configured size: ${short(sc.answerApplication)}`);
    assert.equal(sc.maxMessageSize, 100000, 'RTCSctpTransport.maxMessageSize follows the answer');
    const Z = await startPlayer('playZlm', stream, CHAT, { server: s, url: s.url(`/index/api/webrtc?type=play&app=live&stream=${stream}`), signaling: 'zlm-webrtc' });
    pages.push(Z.page);
    const R = await startPlayer('playSrs', stream, CHAT, { server: s, url: s.url(`/rtc/v1/whep/?app=live&stream=${stream}`), signaling: 'srs-whep' });
    pages.push(R.page);

    // A player's message: echoed to it, relayed to the publisher and to the other player.
    await dc(Z.page, 'send', 'play', 'chat', 'from zlm');
    await waitText(A.page, 'pub', 'chat', 'from zlm');
    await waitText(R.page, 'play', 'chat', 'from zlm');
    await waitText(Z.page, 'play', 'chat', 'from zlm');
    // The publisher's message: to both players and echoed back to it.
    await dc(A.page, 'send', 'pub', 'chat', 'from pub');
    await waitText(A.page, 'pub', 'chat', 'from pub');
    await waitText(Z.page, 'play', 'chat', 'from pub');
    await waitText(R.page, 'play', 'chat', 'from pub');
    // Binary echo stays binary.
    const sent = await dc(R.page, 'sendRandom', 'play', 'chat', 2000);
    const echoed = await waitFor(async () => {
      const b = await dc(R.page, 'binaries', 'play', 'chat');
      return b.length ? b : { __notYet: true, last: b };
    }, 10000, { what: 'binary echo' });
    assert.deepEqual(echoed, [{ size: 2000, sha256: sent.sha256 }]);

    // A ZLMediaKit type=echo session negotiates SCTP too; with datachannel_echo=1 its message comes back.
    const E = await dcPage('echo', s);
    pages.push(E);
    const echo = await E.eval(async ([url]) => {
      const pc = new RTCPeerConnection();
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true });
      for (const track of media.getTracks()) pc.addTransceiver(track, { direction: 'sendrecv' });
      const ch = pc.createDataChannel('chat');
      window.echoGot = [];
      ch.onmessage = (ev) => window.echoGot.push(ev.data);
      window.echoCh = ch;
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((r) => { pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 1000); });
      const resp = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain;charset=utf-8' }, body: pc.localDescription.sdp });
      const json = await resp.json();
      if (json.code !== 0) return json;
      await pc.setRemoteDescription({ type: 'answer', sdp: json.sdp });
      await new Promise((resolve, reject) => {
        if (ch.readyState === 'open') { resolve(); return; }
        ch.onopen = resolve;
        setTimeout(() => reject(new Error(`echo session channel not open: ${ch.readyState}, sctp ${pc.sctp && pc.sctp.state}`)), 10000);
      });
      return { code: 0, id: json.id, app: json.sdp.split('\r\n').filter((l) => l.startsWith('m=application')) };
    }, [s.url(`/index/api/webrtc?type=echo&app=live&stream=${streamName('dc-echo')}`)]);
    assert.equal(echo.code, 0, `echo answer: ${short(echo)}`);
    await waitServerOpen(s, echo.id, 1);
    await E.eval(() => window.echoCh.send('echo me'));
    await waitFor(async () => ((await E.eval(() => window.echoGot)).includes('echo me') ? true : { __notYet: true, last: await E.eval(() => window.echoGot) }),
      10000, { what: 'the echo session to echo its DataChannel message' });
    ctx.log(t, 'flags server stats (zlm player)', await dcStats(s, Z.id));
  } finally {
    await closePages(pages);
    await s.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// 9. the demo pages' chat box

ctx.test('demo pages: a chat message typed on the publish page appears on the play page', { timeout: 60000 }, async (t) => {
  const s = ctx.server;
  const stream = `dcdemo${Date.now() % 100000}`;
  const pages = [];
  try {
    const pub = await ctx.browser.openUrl('demoPublishChat', s.url(`/demo/publish.html?app=live&stream=${stream}&autostart=1`));
    pages.push(pub);
    const hasChat = await pub.page.evaluate(() => !!(window.weirDemo && Array.isArray(window.weirDemo.chat)));
    assert.ok(hasChat, 'the publish page exposes window.weirDemo.chat (chat box missing from the demo page)');
    const ofStream = (x) => JSON.stringify(x.stream).includes(stream);
    const pubSession = await waitFor(async () => (await s.listSessions()).find((x) => x.kind === 'publish' && ofStream(x)),
      20000, { what: 'the demo publisher session' });
    const play = await ctx.browser.openUrl('demoPlayChat', s.url(`/demo/play.html?app=live&stream=${stream}&autostart=1`));
    pages.push(play);
    // Both pages' chat channels open (browser side), and the player's on the server.
    for (const p of [pub, play]) {
      await waitFor(async () => ((await p.page.evaluate(() => window.weirDemo.chatState)) === 'open' ? true
        : { __notYet: true, last: await p.page.evaluate(() => ({ chat: window.weirDemo.chatState, state: window.weirDemo.state, error: window.weirDemo.error })) }),
      20000, { what: `${p.label}: chat channel open` });
    }
    const playSession = await waitFor(async () => {
      for (const x of await s.listSessions()) {
        if (x.kind !== 'play' || !ofStream(x)) continue;
        const d = await dcStats(s, x.id).catch(() => null);
        if (d && d.channels_open >= 1) return x;
      }
      return null;
    }, 10000, { what: 'the demo player\'s chat channel open on the server' });
    const text = `hello from the publish page ${Date.now()}`;
    await pub.page.fill('#chat-input', text);
    await pub.page.click('#chat-send');
    await waitFor(async () => {
      const lines = await play.page.evaluate(() => window.weirDemo.chat);
      return lines.some((l) => l.includes(text)) ? lines : { __notYet: true, last: lines };
    }, 10000, { what: 'the chat line on the play page' });
    const pubLines = await pub.page.evaluate(() => window.weirDemo.chat);
    assert.ok(pubLines.some((l) => l.includes(text)), `the publish page shows its own line: ${short(pubLines)}`);
    ctx.log(t, 'demo chat', { pubSession: pubSession.id, playSession: playSession.id, playLines: await play.page.evaluate(() => window.weirDemo.chat) });
    const IGNORED = [/favicon\.ico/i];
    for (const p of [pub, play]) {
      assert.deepEqual(p.consoleErrors.filter((e) => !IGNORED.some((re) => re.test(e))), [], `no console errors on ${p.label}`);
    }
  } finally {
    await closePages(pages);
  }
});
