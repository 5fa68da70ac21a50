// The stream core is protocol-neutral: a source that is not WebRTC (the test pattern, pushed
// through a stream source port) is played by Chromium and by aiortc over WHEP and decoded; a
// sink that is not WebRTC (the probe, reading a sink port) receives a WebRTC publisher's units in
// order with correct keyframe flags, while a WebRTC player of the same stream keeps decoding.
import assert from 'node:assert/strict';
import { closePages, deleteOk, expectDecodingGrows, expectServerSession } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { runPy } from './lib/py.mjs';
import { API_SECRET } from './lib/server.mjs';
import { sleep, statLine, streamName } from './lib/util.mjs';

const ctx = e2eFile('stream_core');

async function api(method, path, expectStatus = 200) {
  const sep = path.includes('?') ? '&' : '?';
  const r = await ctx.server.request(method, `${path}${sep}secret=${API_SECRET}`, { timeoutMs: 70000 });
  assert.equal(r.status, expectStatus, `${method} ${path}: HTTP ${r.status} ${r.text.slice(0, 400)}`);
  return r.json;
}

// 75 % colour bars as the pattern draws them (BT.601, limited range), in RGB.
const BARS = [[180, 180, 180], [180, 180, 16], [16, 180, 180], [16, 180, 16], [180, 16, 180], [180, 16, 16], [16, 16, 180], [16, 16, 16]];

/** RGB of 8 points along the top of the picture, one in the middle of each bar. */
function sampleBars(page, name) {
  return page.eval((n) => {
    const v = document.querySelector(`video[data-session="${n}"]`);
    const c = document.createElement('canvas');
    c.width = v.videoWidth; c.height = v.videoHeight;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0);
    const bar = c.width / 8;
    return [...Array(8).keys()].map((i) => Array.from(g.getImageData(Math.floor(bar * i + bar / 2), 8, 1, 1).data.slice(0, 3)));
  }, name);
}

/** The received audio through WebAudio for ~1.5 s: its RMS and the strongest frequency. */
function listen(page, name) {
  return page.eval(async (n) => {
    const v = document.querySelector(`video[data-session="${n}"]`);
    const ac = new AudioContext();
    await ac.resume();
    const an = ac.createAnalyser();
    an.fftSize = 8192;
    ac.createMediaStreamSource(new MediaStream(v.srcObject.getAudioTracks())).connect(an);
    await new Promise((r) => setTimeout(r, 1500));
    const wave = new Float32Array(an.fftSize);
    an.getFloatTimeDomainData(wave);
    const spectrum = new Float32Array(an.frequencyBinCount);
    an.getFloatFrequencyData(spectrum);
    let peak = 0;
    for (let i = 1; i < spectrum.length; i++) if (spectrum[i] > spectrum[peak]) peak = i;
    const rms = Math.sqrt(wave.reduce((a, x) => a + x * x, 0) / wave.length);
    const out = { rms, peakHz: (peak * ac.sampleRate) / an.fftSize, binHz: ac.sampleRate / an.fftSize, state: ac.state };
    await ac.close();
    return out;
  }, name);
}

function nearestBar(rgb) {
  const d = (b) => Math.max(...b.map((x, i) => Math.abs(x - rgb[i])));
  let best = 0;
  for (let i = 1; i < BARS.length; i++) if (d(BARS[i]) < d(BARS[best])) best = i;
  return { bar: best, distance: d(BARS[best]) };
}

ctx.test('a test pattern source (no WebRTC behind it) plays in Chromium over WHEP: the picture is the pattern, the tone is audio', { timeout: 120000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('pattern');
  const pages = [];
  try {
    const started = await api('POST', `/api/v1/testsrc/live/${stream}?width=320&height=240&fps=15&gop=15`);
    assert.equal(started.code, 0);
    assert.deepEqual(started.data.tracks.map((x) => x.codec), ['opus', 'H264']);
    const list = await api('GET', '/api/v1/streams');
    const entry = list.data.find((x) => x.key.stream === stream);
    assert.equal(entry?.source_protocol, 'testsrc', `the directory shows the adapter source: ${JSON.stringify(entry)}`);

    const page = await ctx.browser.newPage('player', s.base);
    pages.push(page);
    const play = await page.play({ url: s.url(`/whep/live/${stream}`), signaling: 'whep', name: 'play' });
    const st = await page.waitDecoding('play', 30, 30000);
    assert.equal(st.video.codec, 'video/H264');
    assert.equal(st.video.frameWidth, 320);
    assert.equal(st.video.frameHeight, 240);
    assert.ok(st.video.keyFramesDecoded >= 1, 'a keyframe was decoded');
    ctx.log(t, 'player', statLine(st));
    ctx.log(t, 'time to first frame ms (rVFC)', st.timeToFirstFrameMs);

    // The decoded picture is the pattern: each of the 8 points lies in a different colour bar.
    const samples = await sampleBars(page, 'play');
    const matched = samples.map(nearestBar);
    ctx.log(t, 'bar samples (rgb -> bar, distance)', samples.map((rgb, i) => `${rgb.join(',')}->${matched[i].bar}/${matched[i].distance}`));
    const close = matched.filter((m) => m.distance <= 40);
    assert.ok(close.length >= 7, `at least 7 of 8 points are a bar colour: ${JSON.stringify(samples)}`);
    assert.ok(new Set(close.map((m) => m.bar)).size >= 7, `the points are different bars: ${JSON.stringify(matched)}`);

    // The Opus tone is decoded audio, not concealment: a 1 kHz tone at about -21 dBFS RMS.
    const a = await page.waitStats('play', (x) => x.audio && x.audio.totalSamplesReceived > 96000, 15000, '2 s of audio samples');
    ctx.log(t, 'audio', a.audio);
    assert.ok(a.audio.concealedSamples < a.audio.totalSamplesReceived / 4, `mostly decoded, not concealed: ${JSON.stringify(a.audio)}`);
    const heard = await listen(page, 'play');
    ctx.log(t, 'audio through WebAudio', heard);
    assert.ok(heard.rms > 0.02, `the tone is audible: ${JSON.stringify(heard)}`);
    assert.ok(Math.abs(heard.peakHz - 1000) <= 2 * heard.binHz, `the tone is at 1 kHz: ${JSON.stringify(heard)}`);

    const info = await expectServerSession(s, play.id, { kind: 'play', dir: 'tx' });
    assert.equal(info.tx.direct_egress, true, 'the player of an adapter source uses direct egress');
    assert.ok(info.fast_start.cached_packets_sent > 0 || info.fast_start.first_keyframe_after_ms != null, 'the player started at a keyframe');

    // A stream-core sink reads the adapter source too: complete, in order, flags as the payloads say.
    const probe = (await api('GET', `/api/v1/probe/live/${stream}?ms=1500`)).data;
    const pv = probe.per_track.find((x) => x.kind === 'video');
    ctx.log(t, 'probe of the pattern (video)', pv);
    assert.ok(pv.units > 20 && pv.missing === 0 && pv.out_of_order === 0, `pattern video through the probe: ${JSON.stringify(pv)}`);
    assert.equal(pv.keyframe_flag_mismatches, 0, 'the pattern flags its keyframes as the payloads say');
    assert.equal(pv.first_is_keyframe, true);

    // The adapter source leaves and comes back within continue_push_ms: the WebRTC player's
    // PeerConnection stays and keeps decoding the new source (a new epoch of the stream).
    await api('DELETE', `/api/v1/testsrc/live/${stream}`);
    await sleep(1500);
    const orphan = (await api('GET', '/api/v1/streams')).data.find((x) => x.key.stream === stream);
    assert.equal(orphan?.orphaned, true, `the stream waits for its source: ${JSON.stringify(orphan)}`);
    await api('POST', `/api/v1/testsrc/live/${stream}`);
    const grow = await expectDecodingGrows(page, 'play', 20, 20000);
    ctx.log(t, 'after the source came back', { ...grow, stats: undefined });
    assert.equal(grow.stats.connectionState, 'connected');

    await deleteOk(s, play.location, 'player');
  } finally {
    await closePages(pages);
    await ctx.server.request('DELETE', `/api/v1/testsrc/live/${stream}?secret=${API_SECRET}`);
  }
});

ctx.test('aiortc (not a browser) plays the test pattern over WHEP and decodes it', { timeout: 90000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('pattern-aio');
  try {
    await api('POST', `/api/v1/testsrc/live/${stream}?width=320&height=240&fps=15&gop=15`);
    const N = 45;
    const r = await runPy('whep_play.py', [s.url(`/whep/live/${stream}`), String(N), '--timeout', '40'], { timeoutMs: 60000 });
    ctx.log(t, 'whep_play.py result', r.last);
    assert.equal(r.code, 0, `whep_play.py exit ${r.code}: ${JSON.stringify(r.last)}\nstderr: ${r.stderr.slice(-1500)}`);
    assert.ok(r.last.frames >= N, `aiortc decoded ${r.last.frames} frames`);
    assert.equal(r.last.width, 320);
    assert.equal(r.last.height, 240);
    assert.equal(r.last.codec, 'video/H264');
    assert.ok(r.last.audio_frames > 0, 'aiortc decoded audio frames');
  } finally {
    await ctx.server.request('DELETE', `/api/v1/testsrc/live/${stream}?secret=${API_SECRET}`);
  }
});

for (const codec of ['H264', 'VP8']) {
  ctx.test(`a probe sink gets a Chromium ${codec} publisher's units in order with keyframe flags that match the payloads, beside a WebRTC player`, { timeout: 90000 }, async (t) => {
    const s = ctx.server;
    const stream = streamName(`probe-${codec.toLowerCase()}`);
    const pages = [];
    try {
      const pubPage = await ctx.browser.newPage('publisher', s.base);
      pages.push(pubPage);
      const pub = await pubPage.publish({ url: s.url(`/whip/live/${stream}`), codec, signaling: 'whip', name: 'pub' });
      await pubPage.waitStats('pub', (x) => x.connectionState === 'connected' && x.outVideo && x.outVideo.framesEncoded > 30, 20000, 'publisher sending');
      const playPage = await ctx.browser.newPage('player', s.base);
      pages.push(playPage);
      const play = await playPage.play({ url: s.url(`/whep/live/${stream}`), signaling: 'whep', name: 'play' });
      await playPage.waitDecoding('play', 10, 20000);

      const before = await playPage.stats('play');
      const probe = (await api('GET', `/api/v1/probe/live/${stream}?ms=3000`)).data;
      ctx.log(t, 'probe report', probe);
      const video = probe.per_track.find((x) => x.kind === 'video');
      const audio = probe.per_track.find((x) => x.kind === 'audio');
      assert.equal(probe.sources, 1, 'one Tracks event');
      assert.equal(probe.gaps, 0, 'the probe kept up');
      assert.equal(video.codec, codec);
      assert.ok(video.units > 50, `video units: ${video.units}`);
      assert.ok(video.markers > 20, `video frames: ${video.markers}`);
      assert.equal(video.first_is_keyframe, true, 'the first video unit starts a keyframe (the cached GOP)');
      assert.ok(video.keyframes >= 1, 'a keyframe');
      assert.equal(video.out_of_order, 0, 'video in order');
      assert.equal(video.duplicates, 0);
      assert.equal(video.missing, 0, 'no sequence number skipped on loopback');
      assert.equal(video.keyframe_flags_checked, video.units, 'every video unit checked');
      assert.equal(video.keyframe_flag_mismatches, 0, 'the keyframe flags agree with the payloads');
      assert.ok(audio.units > 100, `audio units: ${audio.units}`);
      assert.equal(audio.out_of_order, 0, 'audio in order');

      // The WebRTC player kept decoding while the foreign sink was attached.
      const after = await playPage.stats('play');
      assert.ok(after.framesDecodedTotal > before.framesDecodedTotal + 30, `player decoded ${after.framesDecodedTotal - before.framesDecodedTotal} frames meanwhile`);
      // The probe's sink detaches through the engine's next turn after its report: poll briefly.
      let dir = null;
      for (let i = 0; i < 40; i++) {
        dir = (await api('GET', '/api/v1/streams')).data.find((x) => x.key.stream === stream);
        if (dir.sinks.length === 1) break;
        await sleep(50);
      }
      assert.equal(dir.sinks.length, 1, `the probe left the stream within 2 s: ${JSON.stringify(dir.sinks)}`);
      ctx.log(t, 'player', statLine(after));

      await deleteOk(s, play.location, 'player');
      await deleteOk(s, pub.location, 'publisher');
    } finally {
      await closePages(pages);
    }
  });
}

ctx.test('stream tools answer errors: unknown stream 404, second source 409, bad parameters 400, no secret 401', { timeout: 30000 }, async () => {
  const stream = streamName('errors');
  await api('GET', `/api/v1/probe/live/${stream}?ms=100`, 404);
  await api('POST', `/api/v1/testsrc/live/${stream}?width=100`, 400);
  await api('POST', `/api/v1/testsrc/live/${stream}`);
  await api('POST', `/api/v1/testsrc/live/${stream}`, 409);
  const listed = await api('GET', '/api/v1/testsrc');
  assert.ok(listed.data.some((x) => x.stream.stream === stream));
  await api('DELETE', `/api/v1/testsrc/live/${stream}`);
  await api('DELETE', `/api/v1/testsrc/live/${stream}`, 404);
  const r = await ctx.server.request('POST', `/api/v1/testsrc/live/${stream}`);
  assert.equal(r.status, 401);
});
