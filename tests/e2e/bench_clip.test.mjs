// weir-bench's publisher with an encoded clip (`make-clip`: FFmpeg's libx264 + libopus) is a
// real H264 + Opus source: while weir-bench runs its own players against Weir, a Chromium WHEP
// player of the same stream decodes the clip's 640x360 picture and its audio.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { closePages, deleteOk } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { REPO_ROOT } from './lib/server.mjs';
import { statLine, streamName } from './lib/util.mjs';

const ctx = e2eFile('bench_clip');

function benchBinary() {
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(REPO_ROOT, 'target');
  return path.join(target, 'release/weir-bench');
}

ctx.test('weir-bench publishes an encoded clip; its players and a Chromium player receive it, Chromium decodes it', { timeout: 90000 }, async (t) => {
  const bench = benchBinary();
  assert.ok(fs.existsSync(bench), `${bench} not built (cargo build --release -j2 -p weir-bench)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-clip-'));
  const pages = [];
  let run = null;
  try {
    const made = spawnSync(bench, ['make-clip', '--out', dir, '--seconds', '4'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(made.status, 0, `make-clip failed: ${made.stderr}`);
    ctx.log(t, 'make-clip', made.stdout.trim());

    const s = ctx.server;
    const stream = streamName('clip');
    let stdout = '';
    let stderr = '';
    run = spawn(bench, ['fanout', '--players', '2', '--duration', '8', '--clip', dir, '--stream', stream, '--probe', '0',
      '--setup-timeout', '15', '--whip', `${s.base}/whip/{app}/{stream}`, '--whep', `${s.base}/whep/{app}/{stream}`]);
    run.stdout.on('data', (d) => { stdout += d; });
    run.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((resolve) => run.on('exit', (code) => resolve(code)));

    // The publisher is up once the stream exists; a WHEP POST before that waits for it
    // (maxStreamWaitMS), so one retry covers a slow start.
    const page = await ctx.browser.newPage('chromePlayer', s.base);
    pages.push(page);
    let play = null;
    let name = null;
    for (let i = 0; i < 5; i++) {
      name = `play${i}`;
      play = await page.play({ url: s.url(`/whep/live/${stream}`), signaling: 'whep', name });
      if (play.status === 201) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(play.status, 201, `WHEP play of the clip's stream: ${JSON.stringify(play)}`);
    const st = await page.waitDecoding(name, 60, 30000);
    assert.equal(st.video.codec, 'video/H264');
    assert.equal(`${st.video.frameWidth}x${st.video.frameHeight}`, '640x360', 'the clip\'s picture size (the synthetic stream\'s SPS says 640x368 and its slices are noise)');
    assert.ok(st.audio && st.audio.totalSamplesReceived > 0, 'the clip\'s Opus audio is decoded');
    ctx.log(t, 'Chromium player', statLine(st));
    await deleteOk(s, play.location, 'Chromium player');

    const code = await exited;
    assert.equal(code, 0, `weir-bench fanout failed:\n${stdout}\n${stderr}`);
    const line = stdout.split('\n').find((l) => l.startsWith('{"bench":"fanout"'));
    assert.ok(line, `no JSON line in:\n${stdout}`);
    ctx.log(t, 'weir-bench output', stdout.split('\n').filter((l) => !l.startsWith('{')).join('\n'));
    const r = JSON.parse(line);
    ctx.log(t, 'weir-bench', { clip: r.clip, sent: r.publisher_sent_window, min_player_ratio: r.min_player_ratio, verified: r.verified, verify_failed: r.verify_failed });
    assert.equal(r.clip, true);
    assert.equal(r.players_receiving, 2);
    assert.ok(r.publisher_sent_window > 500, `publisher sent ${r.publisher_sent_window} packets in 8 s`);
    assert.ok(r.min_player_ratio >= 0.99, `a weir-bench player got ${r.min_player_ratio} of the stream`);
    assert.equal(r.verify_failed, 0);
  } finally {
    if (run && run.exitCode === null) run.kill('SIGKILL');
    await closePages(pages);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
