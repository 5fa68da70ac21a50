// SFU fan-out: one Chromium publisher, two Chromium players on separate pages, across the three
// signalling dialects (standard WHIP/WHEP, ZLMediaKit, SRS). Players must decode real frames of
// the publisher's codec.
import assert from 'node:assert/strict';
import {
  assertMediaPathToServer, closePages, deleteOk, expectAudioGrowing, expectServerSession, sessionIds,
} from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { mimeOf, statLine, streamName, waitFor } from './lib/util.mjs';

const ctx = e2eFile('sfu_whip_whep');

/** The answer's video m-line carries only the requested media codec (plus repair formats). */
function assertOnlyCodec(codecs, codec) {
  const media = codecs.filter((c) => !/^(rtx|red|ulpfec|flexfec-03)$/i.test(c));
  assert.ok(media.length > 0 && media.every((c) => c.toUpperCase() === codec), `answer video codecs ${codecs.join(',')} should be ${codec} only`);
}

/** Publisher page: publish and wait until the browser is encoding and connected. */
async function startPublisher(t, { label, url, codec, signaling }) {
  const page = await ctx.browser.newPage(label, ctx.server.base);
  const pub = await page.publish({ url, codec, signaling, name: 'pub' });
  const st = await page.waitStats('pub', (s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.packetsSent > 0,
    20000, 'publisher connected and sending');
  assert.equal(st.outVideo.codec, mimeOf(codec), `publisher encodes ${codec}`);
  ctx.log(t, `${label} publish`, { signaling, status: pub.status, id: pub.id, location: pub.location, signalMs: pub.signalMs, connectedMs: st.timings.connected, encoder: st.outVideo.encoderImplementation });
  return { page, pub, st };
}

/** Player page: play, then wait for > 60 decoded frames of the expected codec and growing audio. */
async function startPlayer(t, { label, url, signaling }) {
  const page = await ctx.browser.newPage(label, ctx.server.base);
  const play = await page.play({ url, signaling, name: 'play' });
  return { page, play };
}

async function expectPlayerDecodes(t, { page, play }, codec, signaling) {
  const st = await page.waitDecoding('play', 60, 30000);
  assert.equal(st.video.codec, mimeOf(codec), `${page.label} decodes the publisher's codec`);
  assert.ok(st.video.frameWidth > 0 && st.video.frameHeight > 0, `${page.label}: frame size ${st.video.frameWidth}x${st.video.frameHeight}`);
  assert.equal(st.trackEvents, 2, `${page.label}: one video and one audio track`);
  assertMediaPathToServer(st, ctx.server);
  const audio = await expectAudioGrowing(page, 'play');
  assert.equal(audio.codec, 'audio/opus');
  ctx.log(t, `${page.label} (${signaling}) time to first frame ms`, st.timeToFirstFrameMs);
  ctx.log(t, `${page.label} stats`, `${statLine(st)}; answer ${play.signalMs} ms, connected at ${st.timings.connected} ms, first frame at ${st.timeToFirstFrameMs} ms; audio ${audio.before} -> ${audio.after}`);
  return st;
}

ctx.test('H264: standard WHIP publisher, two standard WHEP players on separate pages', { timeout: 120000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('h264');
  const pages = [];
  try {
    const A = await startPublisher(t, { label: 'pubA', url: s.url(`/whip/live/${stream}`), codec: 'H264', signaling: 'whip' });
    pages.push(A.page);
    assert.equal(A.pub.status, 201);
    assert.match(A.pub.location, /^\/session\/[^/]+\/[^/]+$/, 'WHIP Location is relative /session/{id}/{token}');
    assert.match(A.pub.contentType || '', /^application\/sdp/, 'answer Content-Type');
    assert.ok(A.pub.answerCandidates.some((c) => / 127\.0\.0\.1 /.test(c)), `answer advertises 127.0.0.1: ${A.pub.answerCandidates.join(' | ')}`);
    assertOnlyCodec(A.pub.answerVideoCodecs, 'H264');
    assertMediaPathToServer(A.st, s);

    const B = await startPlayer(t, { label: 'playB', url: s.url(`/whep/live/${stream}`), signaling: 'whep' });
    pages.push(B.page);
    const C = await startPlayer(t, { label: 'playC', url: s.url(`/whep/live/${stream}`), signaling: 'whep' });
    pages.push(C.page);
    for (const P of [B, C]) {
      assert.equal(P.play.status, 201);
      assert.match(P.play.location, /^\/session\/[^/]+\/[^/]+$/);
    }
    assert.notEqual(B.play.id, C.play.id, 'each player has its own session');
    await expectPlayerDecodes(t, B, 'H264', 'whep');
    await expectPlayerDecodes(t, C, 'H264', 'whep');

    // Server-side view of the three sessions.
    const pubInfo = await expectServerSession(s, A.pub.id, { kind: 'publish', dir: 'rx' });
    const bInfo = await expectServerSession(s, B.play.id, { kind: 'play', dir: 'tx' });
    const cInfo = await expectServerSession(s, C.play.id, { kind: 'play', dir: 'tx' });
    ctx.log(t, 'server sessions', { pub: pubInfo, playB: bInfo, playC: cInfo });
    const ids = await sessionIds(s);
    for (const id of [A.pub.id, B.play.id, C.play.id]) assert.ok(ids.includes(String(id)), `${id} listed in /api/v1/sessions`);

    await deleteOk(s, B.play.location, 'player B');
    await deleteOk(s, C.play.location, 'player C');
    await deleteOk(s, A.pub.location, 'publisher');
    const after = await sessionIds(s);
    for (const id of [A.pub.id, B.play.id, C.play.id]) assert.ok(!after.includes(String(id)), `${id} gone after DELETE`);
  } finally {
    await closePages(pages);
  }
});

ctx.test('VP8: ZLMediaKit /index/api/webrtc push, players via ZLM type=play and SRS /rtc/v1/whep/', { timeout: 120000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('vp8');
  const pages = [];
  try {
    const A = await startPublisher(t, {
      label: 'pubZlm', url: s.url(`/index/api/webrtc?type=push&app=live&stream=${stream}`), codec: 'VP8', signaling: 'zlm-webrtc',
    });
    pages.push(A.page);
    assert.equal(A.pub.status, 200, 'ZLM webrtc API answers HTTP 200');
    assert.ok(A.pub.id, 'ZLM JSON carries the session id');
    assertOnlyCodec(A.pub.answerVideoCodecs, 'VP8');

    const B = await startPlayer(t, { label: 'playZlm', url: s.url(`/index/api/webrtc?type=play&app=live&stream=${stream}`), signaling: 'zlm-webrtc' });
    pages.push(B.page);
    const C = await startPlayer(t, { label: 'playSrs', url: s.url(`/rtc/v1/whep/?app=live&stream=${stream}`), signaling: 'srs-whep' });
    pages.push(C.page);
    assert.equal(B.play.status, 200);
    assert.equal(C.play.status, 201);
    assert.match(C.play.location, /^\/rtc\/v1\/whip\/\?action=delete&/, `SRS Location is relative /rtc/v1/whip/?action=delete...: ${C.play.location}`);
    assert.ok(C.play.token, 'SRS Location has a token');
    assert.match(C.play.srsSession || '', /^[^:]+:[^:]+$/, 'SRS session=<server ufrag>:<client ufrag>');
    assert.equal(C.play.srsSession.split(':')[1], C.play.offerUfrag, 'SRS session id ends with the client ufrag');

    await expectPlayerDecodes(t, B, 'VP8', 'zlm-webrtc');
    await expectPlayerDecodes(t, C, 'VP8', 'srs-whep');
    await expectServerSession(s, A.pub.id, { kind: 'publish', dir: 'rx' });
    await expectServerSession(s, B.play.id, { kind: 'play', dir: 'tx' });
    await expectServerSession(s, C.play.id, { kind: 'play', dir: 'tx' });

    // SRS DELETE (relative Location) ends that player at once.
    await deleteOk(s, C.play.location, 'SRS player');
    assert.ok(!(await sessionIds(s)).includes(String(C.play.id)), 'SRS player gone after DELETE');
    // The ZLM player is unaffected.
    const still = await B.page.waitDecoding('play', (await B.page.stats('play')).video.framesDecoded + 20, 15000);
    ctx.log(t, 'ZLM player after SRS player left', statLine(still));
  } finally {
    await closePages(pages);
  }
});

ctx.test('ZLMediaKit /index/api/whip + /index/api/whep pair and their DELETE Location', { timeout: 90000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('zlmwhip');
  const pages = [];
  try {
    const A = await startPublisher(t, { label: 'pubZlmWhip', url: s.url(`/index/api/whip?app=live&stream=${stream}`), codec: 'H264', signaling: 'zlm-whip' });
    pages.push(A.page);
    const B = await startPlayer(t, { label: 'playZlmWhep', url: s.url(`/index/api/whep?app=live&stream=${stream}`), signaling: 'zlm-whep' });
    pages.push(B.page);
    for (const r of [A.pub, B.play]) {
      assert.equal(r.status, 201);
      assert.ok(r.location.startsWith(`http://${s.host}/index/api/delete_webrtc?`), `absolute ZLM Location built from Host: ${r.location}`);
      assert.ok(r.id && r.token, `Location carries id and token: ${r.location}`);
      assert.match(r.contentType || '', /^application\/sdp$/, 'ZLM WHIP answer Content-Type is exactly application/sdp');
    }
    await expectPlayerDecodes(t, B, 'H264', 'zlm-whep');
    await expectServerSession(s, B.play.id, { kind: 'play', dir: 'tx' });

    await deleteOk(s, B.play.location, 'ZLM WHEP player');
    assert.ok(!(await sessionIds(s)).includes(String(B.play.id)), 'player gone after delete_webrtc');
    // The player's PeerConnection is cut off by the server (no more media).
    const frozen = await B.page.stats('play');
    await deleteOk(s, A.pub.location, 'ZLM WHIP publisher');
    assert.ok(!(await sessionIds(s)).includes(String(A.pub.id)), 'publisher gone after delete_webrtc');
    // Deleting twice: the session no longer exists.
    const again = await s.delete(A.pub.location);
    assert.equal(again.status, 404, `second delete_webrtc -> 404, got ${again.status}`);
    ctx.log(t, 'player after delete', statLine(frozen));
  } finally {
    await closePages(pages);
  }
});

ctx.test('no session lingers once every peer has gone (DELETE or timeout)', { timeout: 30000 }, async () => {
  // Everything above was deleted: nothing may linger.
  const list = await waitFor(async () => {
    const l = await ctx.server.listSessions();
    return l.length === 0 ? l : { __notYet: true, last: l };
  }, 12000, { what: 'empty session list (pages closed, ZLM sessions time out)' });
  assert.deepEqual(list, []);
});
