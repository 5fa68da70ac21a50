// Benchmark, run by hand (not part of the test suite): how long a Chromium player joining a
// running stream waits for its first frame, and where that time goes.
//
//   node tests/e2e/bench/first_frame.mjs [--joins 20] [--codecs H264,VP8] [--json out.json]
//                                        [--source chromium|testsrc] [--zlm http://127.0.0.1:18080]
//
// Per join: WHEP POST -> answer, -> ICE connected, -> DTLS/PeerConnection connected, -> first
// presented frame (requestVideoFrameCallback, in the page). One Chromium publisher per codec (fake camera) feeds the stream; each
// join is a fresh PeerConnection in a fresh page, one after another. `--source testsrc` feeds H264
// from the server's test pattern instead (`/api/v1/testsrc`, 640x368, 30 fps, a keyframe every
// 2 s), so no Chromium encoder competes with the joining player for the machine's two cores.
// `--zlm BASE` measures a running ZLMediaKit instead (its /index/api/whip and /whep, same method). The server is the release
// build (WEIR_BIN to choose another) on loopback; the server side of each join (ICE, DTLS,
// first RTP) is read from its debug log.
import fs from 'node:fs';
import { launchBrowser } from '../lib/browser.mjs';
import { API_SECRET, startServer } from '../lib/server.mjs';
import { sleep, streamName } from '../lib/util.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const joins = Number(opt('joins', '20'));
const codecs = opt('codecs', 'H264,VP8').split(',');
const jsonOut = opt('json', null);
const source = opt('source', 'chromium');
const zlm = opt('zlm', null);
const whipPath = (stream) => (zlm ? `/index/api/whip?app=live&stream=${stream}` : `/whip/live/${stream}`);
const whepPath = (stream) => (zlm ? `/index/api/whep?app=live&stream=${stream}` : `/whep/live/${stream}`);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : null;
};

const server = zlm
  ? { base: zlm, url: (p) => new URL(p, zlm).href, stop: async () => {}, logFile: '(ZLMediaKit: its own log)' }
  : await startServer('bench_first_frame', { WEIR_LOG: process.env.WEIR_LOG || 'info,weir_rtc=debug' });
const browser = await launchBrowser();
const results = {};
try {
  for (const codec of codecs) {
    const stream = streamName(`ff-${codec.toLowerCase()}`);
    let pubPage = null;
    if (source === 'testsrc') {
      if (codec !== 'H264' || zlm) throw new Error('the test pattern is H264 only, and Weir\'s');
      const r = await server.request('POST', `/api/v1/testsrc/live/${stream}?secret=${API_SECRET}&width=640&height=368&fps=30&gop=60`);
      if (r.status !== 200) throw new Error(`testsrc: HTTP ${r.status} ${r.text}`);
    } else {
      pubPage = await browser.newPage(`pub-${codec}`, server.base);
      await pubPage.publish({ url: server.url(whipPath(stream)), codec, signaling: 'whip', name: 'pub' });
      await pubPage.waitStats('pub', (s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.framesEncoded > 30, 20000, 'publisher sending');
    }
    await sleep(2500); // a running stream with a cached GOP
    const rows = [];
    for (let i = 0; i < joins; i++) {
      const page = await browser.newPage(`join-${codec}-${i}`, server.base);
      const play = await page.play({ url: server.url(whepPath(stream)), signaling: 'whep', name: 'play' });
      // The first presented frame (requestVideoFrameCallback) can come a little after getStats
      // counts the first decoded one: wait for it, it is what a viewer sees.
      const st = await page.waitStats('play', (x) => x.timeToFirstFrameMs != null, 10000, 'first frame presented');
      const tm = st.timings;
      const ev = Object.fromEntries((st.events || []).map((e) => [e.ev, e.t]));
      const post = tm.offerReady;
      rows.push({
        answer: tm.answered - post,
        iceConnected: (ev['ice:connected'] ?? NaN) - post,
        connected: tm.connected - post,
        firstFrame: st.timeToFirstFrameMs - post,
        session: play.id,
        codec: st.video && st.video.codec,
      });
      await page.closeAll().catch(() => {});
      await page.close();
      await sleep(300);
    }
    if (pubPage) await pubPage.close();
    else await server.request('DELETE', `/api/v1/testsrc/live/${stream}?secret=${API_SECRET}`);
    const col = (k) => rows.map((r) => r[k]).filter((x) => Number.isFinite(x));
    const summary = {};
    for (const k of ['answer', 'iceConnected', 'connected', 'firstFrame']) {
      summary[k] = { p50: pct(col(k), 50), p95: pct(col(k), 95), min: Math.min(...col(k)), max: Math.max(...col(k)) };
    }
    results[codec] = { server: zlm ? 'zlmediakit' : 'weir', source, joins: rows.length, summary, rows };
    console.log(codec, JSON.stringify(summary));
  }
} finally {
  await browser.close();
  await server.stop();
}
console.log('server log:', server.logFile);
if (jsonOut) fs.writeFileSync(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
