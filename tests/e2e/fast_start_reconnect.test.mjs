// Fast start (a late joiner gets the cached GOP) and publisher reconnect (the player's
// PeerConnection survives a publisher change without renegotiation).
import assert from 'node:assert/strict';
import {
  closePages, deleteOk, expectDecodingGrows, expectServerSession, sessionIds,
} from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { RTC_TIMEOUT_SEC } from './lib/server.mjs';
import { sleep, statLine, streamName, waitFor } from './lib/util.mjs';

// This file's server splits every send over two egress threads (egressMinPlayers=1), so fast
// start, publisher reconnects and NACK run through the parallel fan-out path with real
// browsers; the other files keep the engine thread's serial path.
const ctx = e2eFile('fast_start_reconnect', {
  serverEnv: { WEIR_RTC_EGRESSTHREADS: '2', WEIR_RTC_EGRESSMINPLAYERS: '1' },
});

async function publisher(t, label, stream, codec = 'H264') {
  const page = await ctx.browser.newPage(label, ctx.server.base);
  const pub = await page.publish({ url: ctx.server.url(`/whip/live/${stream}`), codec, signaling: 'whip', name: 'pub' });
  await page.waitStats('pub', (s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.framesEncoded > 0, 20000, 'publisher sending');
  return { page, pub };
}

ctx.test('fast start: a player joining a live stream gets the cached GOP and decodes', { timeout: 90000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('faststart');
  const pages = [];
  try {
    const P = await publisher(t, 'pub', stream);
    pages.push(P.page);
    await expectServerSession(s, P.pub.id, { kind: 'publish', dir: 'rx' });
    await sleep(3000); // the publisher is live for ~3 s before anyone joins

    const page = await ctx.browser.newPage('lateJoiner', s.base);
    pages.push(page);
    const t0 = Date.now();
    const play = await page.play({ url: s.url(`/whep/live/${stream}`), signaling: 'whep', name: 'play' });
    const st = await page.waitDecoding('play', 10, 20000);
    const wallMs = Date.now() - t0;
    assert.equal(st.video.codec, 'video/H264');
    assert.ok(st.video.keyFramesDecoded >= 1, 'a keyframe was decoded');

    const info = await expectServerSession(s, play.id, { kind: 'play', dir: 'tx' });
    assert.ok(info.fast_start, `session stats have fast_start: ${JSON.stringify(info)}`);
    assert.equal(typeof info.fast_start.cached_packets_sent, 'number');
    assert.ok(info.fast_start.cached_packets_sent > 0, `cached GOP was sent at join (cached_packets_sent=${info.fast_start.cached_packets_sent})`);
    // Chromium's DTLS picks AES-GCM and offers RTX: the frames it decoded were built and
    // SRTP-protected by the engine's direct egress (rtc.directEgress=1), not by str0m.
    assert.equal(info.tx.direct_egress, true, `player uses direct egress: ${JSON.stringify(info.tx)}`);
    assert.equal(info.tracks.video.direct, true, `video down-track is direct: ${JSON.stringify(info.tracks)}`);

    ctx.log(t, 'time to first frame ms (rVFC, play() start -> first frame)', st.timeToFirstFrameMs);
    ctx.log(t, 'fast_start', info.fast_start);
    ctx.log(t, 'join timeline', { answerMs: play.signalMs, connectedMs: st.timings.connected, firstTrackMs: st.timings.firstTrack, firstFrameMs: st.timeToFirstFrameMs, tenFramesDecodedWallMs: wallMs });
    ctx.log(t, 'player', statLine(st));

    await deleteOk(s, play.location, 'player');
    await deleteOk(s, P.pub.location, 'publisher');
  } finally {
    await closePages(pages);
  }
});

ctx.test('publisher reconnect: the same player PeerConnection keeps decoding (DELETE, then abrupt close)', { timeout: 150000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('reconnect');
  const pages = [];
  try {
    const P1 = await publisher(t, 'pub1', stream);
    pages.push(P1.page);
    const playerPage = await ctx.browser.newPage('player', s.base);
    pages.push(playerPage);
    const play = await playerPage.play({ url: s.url(`/whep/live/${stream}`), signaling: 'whep', name: 'play' });
    const first = await playerPage.waitDecoding('play', 30, 20000);
    const baseline = { trackEvents: first.trackEvents, negotiationNeeded: first.negotiationNeeded };
    ctx.log(t, 'player before any reconnect', statLine(first));

    // Round 1: the publisher leaves cleanly (DELETE), a new page publishes the same stream.
    await deleteOk(s, P1.pub.location, 'publisher 1');
    await P1.page.close();
    await sleep(1000);
    const gap1 = await playerPage.stats('play');
    const tRepublish1 = Date.now();
    const P2 = await publisher(t, 'pub2', stream);
    pages.push(P2.page);
    assert.equal(P2.pub.status, 201, 'republish within continue_push_ms is accepted');
    const grow1 = await expectDecodingGrows(playerPage, 'play', 30, 25000);
    ctx.log(t, 'round 1 (DELETE + republish): frames before/after, ms from republish to +30 frames',
      { gapFrames: gap1.framesDecodedTotal, ...grow1, stats: undefined, sinceRepublishMs: Date.now() - tRepublish1 });

    // Round 2: the publisher page disappears without DELETE. A new publisher may be refused with
    // 409 while the server still holds the old session (until rtc timeout); retry until accepted.
    await P2.page.close();
    const tGone = Date.now();
    const page3 = await ctx.browser.newPage('pub3', s.base);
    pages.push(page3);
    let attempts = 0;
    const pub3 = await waitFor(async () => {
      attempts++;
      try {
        return await page3.publish({ url: s.url(`/whip/live/${stream}`), codec: 'H264', signaling: 'whip', name: `pub${attempts}` });
      } catch (e) {
        if (/HTTP 409/.test(e.message)) return { __notYet: true, last: '409 (old publisher still held)' };
        throw e;
      }
    }, (RTC_TIMEOUT_SEC + 8) * 1000, { interval: 500, what: 'republish after abrupt close to be accepted' });
    ctx.log(t, 'round 2: republish accepted after abrupt close', { attempts, msAfterClose: Date.now() - tGone });
    await page3.waitStats(pub3.name, (x) => x.connectionState === 'connected', 20000, 'publisher 3 connected');
    const grow2 = await expectDecodingGrows(playerPage, 'play', 30, 25000);
    ctx.log(t, 'round 2 (abrupt close + republish)', { ...grow2, stats: undefined });

    // Same RTCPeerConnection throughout: no new tracks, no renegotiation, still connected.
    const end = grow2.stats;
    assert.equal(end.connectionState, 'connected');
    assert.equal(end.signalingState, 'stable');
    assert.equal(end.trackEvents, baseline.trackEvents, 'no new track events on the player');
    assert.equal(end.negotiationNeeded, baseline.negotiationNeeded, 'no renegotiation on the player');
    ctx.log(t, 'inbound video SSRCs seen by the player', end.videoSsrcsSeen);
    assert.ok((await sessionIds(s)).includes(String(play.id)), 'player session survived both publisher changes');
    await expectServerSession(s, play.id, { kind: 'play', dir: 'tx' });
    await deleteOk(s, play.location, 'player');
    await deleteOk(s, pub3.location, 'publisher 3');
  } finally {
    await closePages(pages);
  }
});
