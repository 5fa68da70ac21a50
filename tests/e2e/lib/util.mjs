// Small helpers shared by the e2e tests (Node side).

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `fn` until it returns a truthy value (which is returned). `fn` may return
 * `{__notYet: true, last}` to report the last observed value in the timeout error.
 * Timeouts here bound a wait for a functional condition; they are not performance assertions.
 */
export async function waitFor(fn, timeoutMs = 10000, { interval = 200, what = 'condition' } = {}) {
  const t0 = Date.now();
  let last;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v && !v.__notYet) return v;
      last = v && v.__notYet ? v.last : v;
      lastErr = undefined;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() - t0 > timeoutMs) {
      const detail = lastErr ? `last error: ${lastErr.message}` : `last value: ${short(last)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${detail}`);
    }
    await sleep(interval);
  }
}

export function short(v, max = 2000) {
  let s;
  try { s = typeof v === 'string' ? v : JSON.stringify(v); } catch { s = String(v); }
  return s && s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Unique stream name per test, so tests in one file never collide on the server. */
let streamSeq = 0;
export function streamName(prefix) {
  return `${prefix}-${process.pid}-${++streamSeq}-${Math.random().toString(36).slice(2, 7)}`;
}

export function mimeOf(codec) {
  return `video/${codec.toUpperCase()}`;
}

/** Summarise page stats for a log line. */
export function statLine(s) {
  if (!s) return 'no stats';
  const v = s.video ? `video ${s.video.codec} ${s.video.frameWidth}x${s.video.frameHeight} decoded=${s.video.framesDecoded} pkts=${s.video.packetsReceived} lost=${s.video.packetsLost}` : 'no inbound video';
  const a = s.audio ? `audio ${s.audio.codec} pkts=${s.audio.packetsReceived}` : 'no inbound audio';
  const ov = s.outVideo ? ` | out video ${s.outVideo.codec} enc=${s.outVideo.framesEncoded} sent=${s.outVideo.packetsSent}` : '';
  const p = s.pair ? ` | pair ${s.pair.local?.address}:${s.pair.local?.port}/${s.pair.local?.protocol} -> ${s.pair.remote?.address}:${s.pair.remote?.port}` : '';
  return `${s.name}: ${s.connectionState} ${v}; ${a}${ov}${p}`;
}
