// Assertions shared by the scenario files.
import assert from 'node:assert/strict';
import { short, waitFor } from './util.mjs';

/**
 * Wait until GET /api/v1/sessions/{id} reports `state` and a packet counter > 0, then check the
 * contract fields. `dir` is 'rx' (publisher: packets received by the server) or 'tx' (player).
 */
export async function expectServerSession(server, id, { kind, dir, state = 'connected', timeoutMs = 10000 }) {
  assert.ok(id, `session id missing (kind ${kind})`);
  const info = await waitFor(async () => {
    const r = await server.sessionInfo(id);
    const d = r.data;
    const ok = r.status === 200 && d && d.state === state && (!dir || (d[dir] && d[dir].packets > 0));
    return ok ? r : { __notYet: true, last: { status: r.status, body: r.text.slice(0, 600) } };
  }, timeoutMs, { interval: 250, what: `session ${id} ${state}${dir ? ` with ${dir}.packets > 0` : ''}` });
  const d = info.data;
  assert.equal(info.json.code, 0);
  assert.equal(String(d.id), String(id), 'stats id echoes the session id');
  if (kind) assert.equal(d.kind, kind, `session ${id} kind`);
  assert.equal(typeof d.tx?.packets, 'number', `tx.packets is a number: ${short(d)}`);
  assert.equal(typeof d.rx?.packets, 'number', `rx.packets is a number: ${short(d)}`);
  return d;
}

export async function sessionIds(server) {
  return (await server.listSessions()).map((s) => String(s.id));
}

/** DELETE a Location (relative or absolute) and expect 200. */
export async function deleteOk(server, location, what = 'session') {
  assert.ok(location, `${what}: no Location to DELETE`);
  const r = await server.delete(location);
  assert.equal(r.status, 200, `DELETE ${location} (${what}) -> ${r.status} ${r.text.slice(0, 200)}`);
  return r;
}

/** The media path goes to the server's RTC port on loopback. */
export function assertMediaPathToServer(stats, server) {
  assert.ok(stats.pair, `${stats.name}: no selected candidate pair`);
  assert.equal(stats.pair.remote.address, '127.0.0.1', `${stats.name}: remote candidate ${short(stats.pair.remote)}`);
  // WEIR_E2E_MOCK=1: running against tests/e2e/mock/weir-mock, whose aiortc peers use random ports.
  if (process.env.WEIR_E2E_MOCK !== '1') {
    assert.equal(stats.pair.remote.port, server.rtcPort, `${stats.name}: remote port is WEIR_RTC_PORT`);
  }
}

/** Wait for the audio packet counter to grow past its current value. */
export async function expectAudioGrowing(page, name, timeoutMs = 8000) {
  const s0 = await page.stats(name);
  assert.ok(s0.audio, `${page.label}/${name}: no inbound audio stats`);
  const base = s0.audio.packetsReceived;
  const s1 = await page.waitStats(name, (s) => s.audio && s.audio.packetsReceived > base + 10, timeoutMs,
    `audio packetsReceived > ${base} + 10`);
  return { before: base, after: s1.audio.packetsReceived, codec: s1.audio.codec };
}

/** Wait for the monotonic decoded-frame count to grow by `frames` beyond `base`. */
export async function expectDecodingGrows(page, name, frames = 30, timeoutMs = 20000) {
  const s0 = await page.stats(name);
  const base = s0.framesDecodedTotal;
  const t0 = Date.now();
  const s1 = await page.waitStats(name, (s) => s.framesDecodedTotal > base + frames, timeoutMs,
    `framesDecodedTotal > ${base} + ${frames}`);
  return { before: base, after: s1.framesDecodedTotal, ms: Date.now() - t0, stats: s1 };
}

export async function closePages(pages) {
  for (const p of pages) {
    if (p && !p.page.isClosed()) {
      try { await p.closeAll(); } catch { /* ignore */ }
      try { await p.close(); } catch { /* ignore */ }
    }
  }
}
