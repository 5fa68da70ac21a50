// Bad input and session lifecycle, with a live H264 player decoding the whole time: HTTP error
// codes of the WHIP/WHEP/ZLM APIs, hostile UDP/TCP traffic on the media port, DELETE and timeout.
import assert from 'node:assert/strict';
import {
  closePages, deleteOk, expectDecodingGrows, expectServerSession, sessionIds,
} from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import dgram from 'node:dgram';
import { hostileDatagrams, sendTcpGarbage, sendUdpGarbage, stunBindingRequest } from './lib/packets.mjs';
import { MAX_STREAM_WAIT_MS, RTC_TIMEOUT_SEC } from './lib/server.mjs';
import { statLine, streamName, waitFor } from './lib/util.mjs';

const ctx = e2eFile('lifecycle_badinput');

// Shared live stream for this file: one H264 publisher and one player, decoding throughout.
const live = { stream: streamName('live'), pages: [] };

// Set up once, by the first test that needs it; if that failed, later tests fail with its error.
let liveSetup = null;
function ensureLive(t) {
  if (!liveSetup) liveSetup = setUpLive(t);
  return liveSetup.catch((e) => {
    throw new Error(`the shared live publisher/player could not be set up: ${e.message}`);
  });
}

async function setUpLive(t) {
  const s = ctx.server;
  live.pubPage = await ctx.browser.newPage('pub', s.base);
  live.pages.push(live.pubPage);
  live.pub = await live.pubPage.publish({ url: s.url(`/whip/live/${live.stream}`), codec: 'H264', signaling: 'whip', name: 'pub' });
  live.playPage = await ctx.browser.newPage('player', s.base);
  live.pages.push(live.playPage);
  live.play = await live.playPage.play({ url: s.url(`/whep/live/${live.stream}`), signaling: 'whep', name: 'play' });
  // A page to build real browser offers for negative requests (never answered).
  live.offerPage = await ctx.browser.newPage('offers', s.base);
  live.pages.push(live.offerPage);
  const st = await live.playPage.waitStats('play', (x) => x.connectionState === 'connected', 20000, 'player connected');
  ctx.log(t, 'live player connected', statLine(st));
  return live;
}

async function offerSdp(opts) {
  const o = await live.offerPage.offer(opts);
  await live.offerPage.closePc(o.name);
  return o.sdp;
}

function expectStatus(r, status, what) {
  assert.equal(r.status, status, `${what}: expected HTTP ${status}, got ${r.status} ${r.text.slice(0, 200)}`);
}

ctx.test('WHIP/WHEP HTTP errors: 400, 406, 413, 409, 404, 401 while a player keeps decoding', { timeout: 120000 }, async (t) => {
  const s = ctx.server;
  await ensureLive(t);
  const st = await live.playPage.waitDecoding('play', 30, 25000);
  assert.equal(st.video.codec, 'video/H264');
  ctx.log(t, 'live player before the bad requests', statLine(st));
  const fresh = streamName('bad');

  expectStatus(await s.post(`/whip/live/${fresh}`, ''), 400, 'WHIP with an empty body');
  expectStatus(await s.post(`/whep/live/${live.stream}`, ''), 400, 'WHEP with an empty body');
  expectStatus(await s.post(`/whip/live/${fresh}`, 'this is not an SDP offer\r\nat all\r\n'), 400, 'WHIP with garbage');
  const noMedia = await s.post(`/whip/live/${fresh}`, 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n');
  assert.ok([400, 406].includes(noMedia.status), `WHIP with an SDP without media: expected 400/406, got ${noMedia.status}`);
  expectStatus(await s.post(`/whep/live/${live.stream}`, Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80, 0x81]).toString('latin1')), 400, 'WHEP with binary junk');

  // A play offer whose only video codec is VP8, for an H264 stream.
  const vp8Only = await offerSdp({ kind: 'play', video: true, audio: false, videoCodec: 'VP8' });
  assert.ok(!/H264/i.test(vp8Only), 'the offer really has no H264');
  expectStatus(await s.post(`/whep/live/${live.stream}`, vp8Only), 406, 'WHEP offering only VP8 for an H264 stream');

  // A body over 40960 bytes.
  const big = `v=0\r\n${'a=x-padding:'.padEnd(100, 'x')}\r\n`.repeat(512);
  assert.ok(big.length > 50000);
  expectStatus(await s.post(`/whip/live/${fresh}`, big), 413, 'WHIP with a 50 KB body');

  // A second publisher on the live stream.
  const pubOffer = await offerSdp({ kind: 'publish', codec: 'H264' });
  expectStatus(await s.post(`/whip/live/${live.stream}`, pubOffer), 409, 'second WHIP publisher on a live stream');

  // WHEP to a stream that never appears: 404 once maxStreamWaitMS has passed.
  const playOffer = await offerSdp({ kind: 'play' });
  const missing = await s.post(`/whep/live/${streamName('missing')}`, playOffer, 'application/sdp', { timeoutMs: MAX_STREAM_WAIT_MS + 15000 });
  expectStatus(missing, 404, 'WHEP to a missing stream');
  ctx.log(t, 'WHEP to a missing stream answered after ms (maxStreamWaitMS=3000)', missing.ms);

  // DELETE with a wrong token, and of an unknown session.
  expectStatus(await s.delete(`/session/${encodeURIComponent(live.play.id)}/wrongtoken`), 401, 'DELETE with a wrong token');
  expectStatus(await s.delete(`/session/nosuchsession${Date.now()}/sometoken`), 404, 'DELETE of an unknown session');
  assert.ok((await sessionIds(s)).includes(String(live.play.id)), 'wrong-token DELETE left the player alone');

  const grow = await expectDecodingGrows(live.playPage, 'play', 30, 20000);
  ctx.log(t, 'player after HTTP errors', statLine(grow.stats));
});

ctx.test('ZLMediaKit JSON errors: code != 0 for missing type/app/stream, empty body, unknown type', { timeout: 60000 }, async (t) => {
  const s = ctx.server;
  await ensureLive(t);
  const offer = await offerSdp({ kind: 'play' });
  const cases = [
    ['missing type', `/index/api/webrtc?app=live&stream=${live.stream}`, offer],
    ['missing app and stream', '/index/api/webrtc?type=play', offer],
    ['missing stream', '/index/api/webrtc?type=play&app=live', offer],
    ['empty body', `/index/api/webrtc?type=play&app=live&stream=${live.stream}`, ''],
    ['unknown type', `/index/api/webrtc?type=bogus&app=live&stream=${live.stream}`, offer],
    ['garbage SDP', `/index/api/webrtc?type=push&app=live&stream=${streamName('zlmbad')}`, 'garbage'],
  ];
  const seen = {};
  for (const [what, path, body] of cases) {
    const r = await s.post(path, body, 'text/plain;charset=utf-8');
    assert.equal(r.status, 200, `ZLM ${what}: JSON APIs answer HTTP 200 (got ${r.status})`);
    assert.ok(r.json && typeof r.json.code === 'number', `ZLM ${what}: JSON body with a numeric code: ${r.text.slice(0, 200)}`);
    assert.notEqual(r.json.code, 0, `ZLM ${what}: code != 0`);
    seen[what] = r.json;
  }
  // ZLM's whip/whep with missing app/stream are JSON errors too (§A3).
  const r = await s.post('/index/api/whep', offer);
  assert.ok(r.json && r.json.code !== 0, `/index/api/whep without app/stream: ${r.status} ${r.text.slice(0, 200)}`);
  ctx.log(t, 'ZLM error replies', seen);
});

ctx.test('hostile UDP and TCP traffic on the media port does not disturb a live player', { timeout: 90000 }, async (t) => {
  const s = ctx.server;
  await ensureLive(t);
  const before = await live.playPage.stats('play');
  // The live player's STUN USERNAME (server ufrag : client ufrag) with a wrong MESSAGE-INTEGRITY.
  const ufragPair = live.play.answerUfrag && live.play.offerUfrag ? `${live.play.answerUfrag}:${live.play.offerUfrag}` : null;
  const datagrams = hostileDatagrams({ knownUfragPair: ufragPair });
  const sent = await sendUdpGarbage(s.rtcPort, datagrams, { rounds: 3 });
  const tcp = await sendTcpGarbage(s.rtcPort);
  ctx.log(t, 'hostile traffic', { udpDatagrams: sent, kinds: datagrams.map(([l]) => l), tcp });

  assert.ok(s.alive(), 'weir is still running');
  const grow = await expectDecodingGrows(live.playPage, 'play', 30, 20000);
  assert.equal(grow.stats.connectionState, 'connected');
  assert.equal(grow.stats.pair.remote.port, before.pair.remote.port, 'media path unchanged');
  const root = await s.request('GET', '/');
  assert.equal(root.status, 200, 'GET / still answers');
  const pubStats = await live.pubPage.stats('pub');
  assert.equal(pubStats.connectionState, 'connected', 'publisher still connected');
  ctx.log(t, 'player after hostile traffic', statLine(grow.stats));
});

ctx.test('DELETE removes a player at once; a closed page disappears within timeoutSec + 3 s, forged consent checks do not keep it', { timeout: 90000 }, async (t) => {
  const s = ctx.server;
  await ensureLive(t);

  const p2 = await ctx.browser.newPage('player2', s.base);
  live.pages.push(p2);
  const play2 = await p2.play({ url: s.url(`/whep/live/${live.stream}`), signaling: 'whep', name: 'play' });
  await p2.waitDecoding('play', 10, 20000);
  await expectServerSession(s, play2.id, { kind: 'play', dir: 'tx' });
  await deleteOk(s, play2.location, 'player 2');
  assert.ok(!(await sessionIds(s)).includes(String(play2.id)), 'player 2 gone from /api/v1/sessions right after DELETE');
  const info = await s.sessionInfo(play2.id);
  assert.ok(info.status === 404 || (info.json && info.json.code !== 0), `stats of a deleted session: ${info.status} ${info.text.slice(0, 200)}`);

  const p3 = await ctx.browser.newPage('player3', s.base);
  live.pages.push(p3);
  const play3 = await p3.play({ url: s.url(`/whep/live/${live.stream}`), signaling: 'whep', name: 'play' });
  await p3.waitDecoding('play', 10, 20000);
  assert.ok((await sessionIds(s)).includes(String(play3.id)));
  const tClose = Date.now();
  await p3.page.close(); // abrupt: no DELETE
  // Someone who saw the session's ufrags sends Binding requests without its ICE password
  // (wrong MESSAGE-INTEGRITY) every 300 ms: consent needs an authenticated check (RFC 7675),
  // so the session must still time out.
  assert.ok(play3.answerUfrag && play3.offerUfrag, 'ufrags of player 3');
  const forger = dgram.createSocket('udp4');
  let forged = 0;
  const forge = setInterval(() => {
    forger.send(stunBindingRequest(`${play3.answerUfrag}:${play3.offerUfrag}`), s.rtcPort, '127.0.0.1');
    forged += 1;
  }, 300);
  try {
    await waitFor(async () => !(await sessionIds(s)).includes(String(play3.id)),
      (RTC_TIMEOUT_SEC + 3) * 1000, { interval: 200, what: `closed page's session ${play3.id} to leave /api/v1/sessions despite forged consent checks` });
  } finally {
    clearInterval(forge);
    forger.close();
  }
  ctx.log(t, 'closed player page left the session list after ms', { ms: Date.now() - tClose, forgedChecks: forged });

  // The live player was not affected by either.
  const grow = await expectDecodingGrows(live.playPage, 'play', 20, 20000);
  ctx.log(t, 'live player at the end', statLine(grow.stats));
  await deleteOk(s, live.play.location, 'live player');
  await deleteOk(s, live.pub.location, 'live publisher');
  await closePages(live.pages);
});
