// Ending sessions tells the peer: an RTCP BYE and a DTLS close_notify, so Chromium's DTLS
// transport is `closed` at once (not after its consent checks fail). SIGTERM stops the server
// gracefully: every publisher and player gets that close_notify, the hooks are told the stream
// left, and the process exits 0 within a bounded time.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHookBackend } from './lib/hook_backend.mjs';
import { closePages, deleteOk } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { API_SECRET, startServer } from './lib/server.mjs';
import { sleep, streamName, waitFor } from './lib/util.mjs';

const ctx = e2eFile('shutdown');

// Chromium reports a peer's close_notify as dtlsState 'closed'; its consent failure would take
// ~30 s (and show 'failed'), so 3 s separates the two.
const CLOSE_NOTIFY_MS = 3000;

async function publisher(pages, s, stream) {
  const pub = await ctx.browser.newPage('pub', s.base);
  pages.push(pub);
  const p = await pub.publish({ url: s.url(`/whip/live/${stream}`), codec: 'H264', signaling: 'whip', name: 'pub' });
  await pub.waitStats('pub', (x) => x.connectionState === 'connected' && x.outVideo && x.outVideo.framesEncoded > 0, 20000, 'publisher sending');
  return { page: pub, signal: p };
}

async function player(pages, s, stream) {
  const page = await ctx.browser.newPage('play', s.base);
  pages.push(page);
  const p = await page.play({ url: s.url(`/whep/live/${stream}`), signaling: 'whep', name: 'play' });
  await page.waitDecoding('play', 10, 25000);
  return { page, signal: p };
}

ctx.test('DELETE of a WHEP session: the player sees close_notify (dtlsState closed) at once', { timeout: 60000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('bye');
  const pages = [];
  try {
    await publisher(pages, s, stream);
    const play = await player(pages, s, stream);
    const t0 = Date.now();
    await deleteOk(s, play.signal.location, 'player');
    const st = await play.page.waitStats('play', (x) => x.dtlsState === 'closed', CLOSE_NOTIFY_MS, 'player DTLS closed by the server');
    ctx.log(t, 'player closed', { ms: Date.now() - t0, dtls: st.dtlsState, connection: st.connectionState });
  } finally {
    await closePages(pages);
  }
});

ctx.test('SIGTERM: publisher and player get close_notify, on_stream_changed regist=false is told, exit 0 within 5 s', { timeout: 90000 }, async (t) => {
  const backend = await startHookBackend();
  const { calls } = backend;
  const hookBase = backend.base;
  const s = await startServer('shutdown-sigterm', {
    WEIR_HOOK_ENABLE: '1',
    WEIR_HOOK_ON_STREAM_CHANGED: `${hookBase}/on_stream_changed`,
    WEIR_HOOK_ON_FLOW_REPORT: `${hookBase}/on_flow_report`,
    WEIR_GENERAL_FLOWTHRESHOLD: '0',
  });
  const stream = streamName('term');
  const pages = [];
  try {
    const pub = await publisher(pages, s, stream);
    const play = await player(pages, s, stream);
    await waitFor(() => calls.some((c) => c.hook === 'on_stream_changed' && c.body.regist === true && c.body.stream === stream), 5000, { what: 'regist=true told' });
    const exited = new Promise((r) => s.proc.once('exit', (code, signal) => r({ code, signal, at: Date.now() })));
    const t0 = Date.now();
    s.proc.kill('SIGTERM');
    const exit = await Promise.race([exited, sleep(5000).then(() => null)]);
    assert.ok(exit, 'the server exited within 5 s of SIGTERM');
    assert.equal(exit.code, 0, `exit status ${JSON.stringify(exit)}`);
    for (const [who, page] of [['pub', pub.page], ['play', play.page]]) {
      const st = await page.waitStats(who, (x) => x.dtlsState === 'closed', CLOSE_NOTIFY_MS, `${who} DTLS closed by the server`);
      assert.equal(st.dtlsState, 'closed');
    }
    const gone = calls.find((c) => c.hook === 'on_stream_changed' && c.body.regist === false && c.body.stream === stream);
    assert.ok(gone && gone.at <= exit.at, `on_stream_changed regist=false reached the backend before exit: ${JSON.stringify(calls.map((c) => [c.hook, c.body.regist]))}`);
    const flows = calls.filter((c) => c.hook === 'on_flow_report' && c.body.stream === stream);
    assert.equal(flows.length, 2, `on_flow_report for publisher and player: ${flows.length}`);
    const log = fs.readFileSync(s.logFile, 'utf8');
    assert.match(log, /shutting down: ending sessions/);
    const stopped = log.split('\n').find((l) => l.includes(' stopped'));
    assert.ok(stopped && /sessions_closed=2/.test(stopped) && /hooks_quiet=true/.test(stopped), `stop line: ${stopped}`);
    ctx.log(t, 'sigterm', { exit_ms: exit.at - t0, stopped });
  } finally {
    await closePages(pages);
    await s.stop();
    backend.close();
  }
});

ctx.test('setServerConfig saves to the config file and applies live keys at once; restartServer starts the same process again with them', { timeout: 60000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-restart-'));
  const file = path.join(dir, 'config.ini');
  fs.writeFileSync(file, '# operator comment\n[general]\nmediaServerId=before\n');
  const s = await startServer('restart-server', { WEIR_CONFIG: file });
  try {
    const set = await s.request('GET', `/index/api/setServerConfig?secret=${API_SECRET}&general.mediaServerId=after&rtc.maxSessions=777`);
    assert.equal(set.json?.code, 0, set.text);
    assert.equal(set.json.changed, 2, set.text);
    assert.deepEqual(set.json.restart_required, ['rtc.maxSessions']);
    assert.equal(set.json.saved, true, set.text);
    const saved = fs.readFileSync(file, 'utf8');
    assert.match(saved, /^# operator comment$/m, 'comments stay');
    assert.match(saved, /^mediaServerId=after$/m);
    assert.match(saved, /^maxSessions=777$/m);
    const live = await s.request('GET', `/api/v1/server?secret=${API_SECRET}`);
    assert.equal(live.json.data.media_server_id, 'after', 'a live key is in force at once');
    const pid = live.json.data.pid;

    const r = await s.request('GET', `/index/api/restartServer?secret=${API_SECRET}`);
    assert.equal(r.json?.code, 0, r.text);
    // Back within 10 s: same process (exec), new start, the saved restart-only key in force.
    let after = null;
    await waitFor(async () => {
      try {
        const a = await s.request('GET', `/api/v1/server?secret=${API_SECRET}`, { timeoutMs: 1000 });
        if (a.json?.code === 0 && a.json.data.uptime_ms < 5000 && a.json.data.pid === pid) after = a.json.data;
      } catch { /* restarting */ }
      return after !== null;
    }, 10000, { what: 'the server answering again after restartServer' });
    assert.equal(s.proc.exitCode, null, 'the process did not exit');
    assert.equal(after.media_server_id, 'after');
    const cfg = await s.request('GET', `/index/api/getServerConfig?secret=${API_SECRET}`);
    assert.equal(cfg.json.data[0]['rtc.maxSessions'], '777');
    assert.match(s.logTail(200), /restarting/);
  } finally {
    await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
