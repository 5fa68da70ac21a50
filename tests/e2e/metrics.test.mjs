// Prometheus /metrics: parsed by the reference Python client's parser; counters move with a
// Chromium publisher and player (packets, bytes, sessions, engine loop) and stay monotonic after
// the sessions end (ended sessions' counts are kept); access follows [metrics] enable/secret and
// http.allow_ip_range.
import assert from 'node:assert/strict';
import { closePages } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { sample, scrape } from './lib/prom.mjs';
import { startServer } from './lib/server.mjs';
import { sleep, statLine, streamName, waitFor } from './lib/util.mjs';

const ctx = e2eFile('metrics');

// The engine publishes its totals every 500 ms (housekeeping tick).
const TICK_MS = 1200;

ctx.test('counters move with a Chromium publisher and player and survive their end', { timeout: 60000 }, async (t) => {
  const s = ctx.server;
  const before = await scrape(s);
  assert.equal(before.status, 200, before.text.slice(0, 300));
  const f0 = before.families;
  for (const [name, fam] of Object.entries(f0)) {
    assert.ok(['counter', 'gauge', 'histogram'].includes(fam.type), `${name} has a type: ${fam.type}`);
  }
  assert.ok(f0.weir_bytes_sent.help.length > 0, 'HELP text present');
  assert.equal(sample(f0, 'weir_info', { version: f0.weir_info.samples[0].labels.version }), 1);
  const rx0 = sample(f0, 'weir_bytes_received_total');
  const tx0 = sample(f0, 'weir_bytes_sent_total');
  const turns0 = sample(f0, 'weir_engine_turns_total');
  const closed0 = sample(f0, 'weir_sessions_closed_total');
  assert.ok(rx0 !== undefined && tx0 !== undefined && turns0 !== undefined && closed0 !== undefined, 'engine counters present');

  const stream = streamName('metrics');
  const pages = [];
  let during;
  try {
    const pub = await ctx.browser.newPage('pub', s.base);
    pages.push(pub);
    await pub.publish({ url: s.url(`/whip/live/${stream}`), codec: 'H264', signaling: 'whip', name: 'pub' });
    const player = await ctx.browser.newPage('play', s.base);
    pages.push(player);
    await player.play({ url: s.url(`/whep/live/${stream}`), signaling: 'whep', name: 'play' });
    const st = await player.waitDecoding('play', 30, 25000);
    ctx.log(t, 'player', statLine(st));
    await sleep(TICK_MS);
    during = (await scrape(s)).families;
    ctx.log(t, 'during', {
      sessions: during.weir_sessions.samples.filter((x) => x.value > 0),
      rx: sample(during, 'weir_bytes_received_total') - rx0,
      tx: sample(during, 'weir_bytes_sent_total') - tx0,
      turns: sample(during, 'weir_engine_turns_total') - turns0,
      busy_us: sample(during, 'weir_engine_busy_microseconds_total'),
      rtt_max: sample(during, 'weir_rtt_seconds_max'),
    });
    assert.equal(sample(during, 'weir_sessions', { kind: 'publish', state: 'connected' }), 1);
    assert.equal(sample(during, 'weir_sessions', { kind: 'play', state: 'connected' }), 1);
    assert.ok(sample(during, 'weir_streams') >= 1, 'a stream is listed');
    // 30 decoded frames of 640x480 H264 plus audio: well over 50 kB each way.
    assert.ok(sample(during, 'weir_bytes_received_total') - rx0 > 50000, 'bytes received grew');
    assert.ok(sample(during, 'weir_bytes_sent_total') - tx0 > 50000, 'bytes sent grew');
    assert.ok(sample(during, 'weir_packets_received_total') > sample(f0, 'weir_packets_received_total'), 'packets received grew');
    assert.ok(sample(during, 'weir_engine_turns_total') > turns0, 'engine turns grew');
    assert.ok(sample(during, 'weir_engine_busy_microseconds_total') > sample(f0, 'weir_engine_busy_microseconds_total'), 'busy time grew');
    assert.ok(sample(during, 'weir_rtt_seconds_max') !== undefined, 'RTT gauge present');
  } finally {
    await closePages(pages);
  }
  // Ended sessions' counters stay in the totals: nothing goes backwards.
  const after = await waitFor(async () => {
    const f = (await scrape(s)).families;
    return sample(f, 'weir_sessions_closed_total') >= closed0 + 2 ? f : null;
  }, 10000, { what: 'both sessions counted as closed' });
  for (const name of ['weir_bytes_received_total', 'weir_bytes_sent_total', 'weir_packets_received_total', 'weir_packets_sent_total']) {
    assert.ok(sample(after, name) >= sample(during, name), `${name} monotonic after the sessions ended: ${sample(during, name)} -> ${sample(after, name)}`);
  }
  assert.equal(sample(after, 'weir_sessions', { kind: 'play', state: 'connected' }), 0);
});

ctx.test('access: [metrics] secret as a bearer token, enable=0 is 404, outside allow_ip_range is 403', { timeout: 40000 }, async () => {
  const secret = 'metrics-secret-4d1f0a77';
  const guarded = await startServer('metrics-secret', { WEIR_METRICS_SECRET: secret });
  const off = await startServer('metrics-off', { WEIR_METRICS_ENABLE: '0' });
  const far = await startServer('metrics-far', { WEIR_HTTP_ALLOW_IP_RANGE: '10.0.0.0/8' });
  try {
    const none = await scrape(guarded);
    assert.equal(none.status, 401, none.text);
    const wrong = await scrape(guarded, { headers: { Authorization: 'Bearer not-the-secret' } });
    assert.equal(wrong.status, 401, wrong.text);
    const ok = await scrape(guarded, { headers: { Authorization: `Bearer ${secret}` } });
    assert.equal(ok.status, 200, ok.text.slice(0, 300));
    assert.ok(sample(ok.families, 'weir_uptime_seconds') > 0);
    const byQuery = await scrape(guarded, { query: `?secret=${secret}` });
    assert.equal(byQuery.status, 200);
    const r404 = await scrape(off);
    assert.equal(r404.status, 404, r404.text);
    const r403 = await scrape(far);
    assert.equal(r403.status, 403, r403.text);
  } finally {
    await Promise.all([guarded.stop(), off.stop(), far.stop()]);
  }
});
