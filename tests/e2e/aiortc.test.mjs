// Interop with an independent WebRTC stack: aiortc (Python) publishes, Chromium plays; Chromium
// publishes, aiortc plays. The aiortc peers are tests/e2e/py/whip_publish.py and whep_play.py.
import assert from 'node:assert/strict';
import { closePages, deleteOk, expectServerSession, sessionIds } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { PyPeer, runPy } from './lib/py.mjs';
import { statLine, streamName } from './lib/util.mjs';

const ctx = e2eFile('aiortc');

for (const codec of ['VP8', 'H264']) {
  ctx.test(`aiortc publishes ${codec} with WHIP, Chromium plays with WHEP and decodes`, { timeout: 90000 }, async (t) => {
    const s = ctx.server;
    const stream = streamName(`aio-${codec.toLowerCase()}`);
    const pages = [];
    const peer = new PyPeer('whip_publish.py', [s.url(`/whip/live/${stream}`), '--codec', codec], `whip_publish.py ${codec}`);
    try {
      const published = await peer.waitEvent('published', 20000);
      assert.equal(published.codec, `video/${codec}`, `server answered aiortc with ${codec}`);
      const connected = await peer.waitEvent('connected', 20000);
      ctx.log(t, 'aiortc publisher', { ...published, ...connected });

      const page = await ctx.browser.newPage('chromePlayer', s.base);
      pages.push(page);
      const play = await page.play({ url: s.url(`/whep/live/${stream}`), signaling: 'whep', name: 'play' });
      const st = await page.waitDecoding('play', 30, 30000);
      assert.equal(st.video.codec, `video/${codec}`);
      assert.equal(st.video.frameWidth, 320, 'the synthetic 320x240 pattern arrives');
      assert.ok(st.audio && st.audio.packetsReceived > 0, 'aiortc tone arrives as audio');
      ctx.log(t, 'Chromium player', statLine(st));
      ctx.log(t, 'time to first frame ms', st.timeToFirstFrameMs);

      const pubId = new URL(published.location).pathname.split('/')[2];
      await expectServerSession(s, decodeURIComponent(pubId), { kind: 'publish', dir: 'rx' });
      await deleteOk(s, play.location, 'Chromium player');
    } finally {
      const end = await peer.stop();
      const done = end.events.find((e) => e.event === 'done');
      ctx.log(t, 'aiortc publisher exit', { exit: end.exit, done });
      await closePages(pages);
    }
    assert.equal(peer.exit.code, 0, `whip_publish.py exit code; stderr: ${peer.stderr.slice(-1500)}`);
    const done = peer.events.find((e) => e.event === 'done');
    assert.equal(done?.delete_status, 200, 'aiortc DELETEd its WHIP session on exit');
  });
}

/** A Chromium page publishing VP8 to `stream` with WHIP, once it is sending. */
async function chromiumPublisher(s, stream, pages) {
  const page = await ctx.browser.newPage('chromePublisher', s.base);
  pages.push(page);
  const pub = await page.publish({ url: s.url(`/whip/live/${stream}`), codec: 'VP8', signaling: 'whip', name: 'pub' });
  await page.waitStats('pub', (x) => x.connectionState === 'connected' && x.outVideo && x.outVideo.framesEncoded > 0, 20000, 'publisher sending');
  return pub;
}

ctx.test('Chromium publishes VP8 with WHIP, aiortc plays with WHEP and decodes N frames', { timeout: 90000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('aio-play');
  const pages = [];
  try {
    const pub = await chromiumPublisher(s, stream, pages);

    const N = 60;
    const r = await runPy('whep_play.py', [s.url(`/whep/live/${stream}`), String(N), '--timeout', '40'], { timeoutMs: 60000 });
    ctx.log(t, 'whep_play.py result', r.last);
    assert.equal(r.code, 0, `whep_play.py exit ${r.code}: ${JSON.stringify(r.last)}\nstderr: ${r.stderr.slice(-1500)}`);
    assert.equal(r.last.ok, true);
    assert.ok(r.last.frames >= N, `aiortc decoded ${r.last.frames} frames`);
    assert.equal(r.last.codec, 'video/VP8');
    assert.ok(r.last.width > 0 && r.last.height > 0);
    assert.ok(r.last.audio_frames > 0, 'aiortc received audio');
    assert.equal(r.last.delete_status, 200, 'aiortc DELETEd its WHEP session');
    ctx.log(t, 'aiortc time to first frame ms', r.last.time_to_first_frame_ms);

    const ids = await sessionIds(s);
    assert.ok(ids.includes(String(pub.id)), 'publisher still listed');
    await deleteOk(s, pub.location, 'Chromium publisher');
  } finally {
    await closePages(pages);
  }
});

for (const profile of ['any', 'aes-cm']) ctx.test(`aiortc player (SRTP ${profile}) losing 1 video packet in 20: its NACKs are answered with RTX and it decodes`, { timeout: 90000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName(`aio-loss-${profile}`);
  const pages = [];
  try {
    const pub = await chromiumPublisher(s, stream, pages);
    const before = await s.engineCounters();

    const N = 90;
    const r = await runPy('whep_play.py', [s.url(`/whep/live/${stream}`), String(N), '--timeout', '45', '--drop-every', '20', '--srtp-profile', profile], { timeoutMs: 60000 });
    ctx.log(t, 'whep_play.py result', r.last);
    assert.equal(r.code, 0, `whep_play.py exit ${r.code}: ${JSON.stringify(r.last)}\nstderr: ${r.stderr.slice(-1500)}`);
    assert.ok(r.last.frames >= N, `aiortc decoded ${r.last.frames} frames`);
    assert.ok(r.last.dropped >= 3, `packets discarded on purpose: ${r.last.dropped}`);
    if (profile === 'aes-cm') assert.equal(r.last.srtp_profile, 'SRTP_AES128_CM_SHA1_80');
    else assert.match(r.last.srtp_profile ?? '', /GCM/, 'aiortc and Weir prefer AES-GCM');
    // Each discarded packet is NACKed by aiortc; the server resends it as RTX (RFC 4588),
    // which aiortc unwraps by the SSRC group of the answer.
    assert.ok(r.last.rtx_received >= r.last.dropped * 0.8, `RTX received ${r.last.rtx_received} for ${r.last.dropped} dropped`);
    const after = await s.engineCounters();
    // aiortc negotiates RTX, so its packets (and the RTX) came from direct egress: AES-GCM by
    // default, AES-CM + HMAC-SHA1-80 when it offers only that (RFC 3711; aiortc's libsrtp
    // checks every tag).
    assert.ok(after.direct_packets > before.direct_packets, `direct egress used: ${JSON.stringify(after)}`);
    await deleteOk(s, pub.location, 'Chromium publisher');
  } finally {
    await closePages(pages);
  }
});

