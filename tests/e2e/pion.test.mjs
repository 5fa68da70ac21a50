// Interop with pion/webrtc v3 (Go, as packaged by Debian), a stack that behaves like many
// embedded and server-side clients: pion's default interceptors (NACK, receiver/sender reports,
// TWCC), no RTX, and no STUN on the selected pair while media flows (RFC 7675 consent is then
// proven by authenticated SRTP/SRTCP alone). The client is tests/e2e/pion/weir-pion, built by
// tests/e2e/pion/build.sh against /usr/share/gocode (no module download).
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sessionIds } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { fakeRtp, stunBindingRequest } from './lib/packets.mjs';
import { JsonPeer } from './lib/peer.mjs';
import { E2E_DIR, REPO_ROOT, RTC_TIMEOUT_SEC, weirBinary } from './lib/server.mjs';
import { sleep, streamName, waitFor } from './lib/util.mjs';

const ctx = e2eFile('pion', { browser: false });
const PION_DIR = path.join(E2E_DIR, 'pion');
const PION_BIN = path.join(PION_DIR, 'bin/weir-pion');
const HOLD_SEC = 60;

let clipDir = null;
function prepare() {
  const built = spawnSync('bash', [path.join(PION_DIR, 'build.sh')], { encoding: 'utf8', timeout: 300000 });
  assert.equal(built.status, 0, `building the pion client failed:\n${built.stdout}\n${built.stderr}`);
  if (!clipDir) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-pion-clip-'));
    const bench = path.join(path.dirname(weirBinary()), 'weir-bench');
    const made = spawnSync(bench, ['make-clip', '--out', dir, '--seconds', '4'], { encoding: 'utf8', timeout: 60000, cwd: REPO_ROOT });
    assert.equal(made.status, 0, `make-clip failed: ${made.stderr}`);
    clipDir = dir;
  }
}

function pion(args, label) {
  return new JsonPeer(PION_BIN, args, { label });
}

const result = (peer) => peer.events.find((e) => e.event === 'result');
const track = (res, kind) => res?.tracks?.find((x) => x.kind === kind);

async function stopped(peer, timeoutMs) {
  const r = await Promise.race([peer.exited, sleep(timeoutMs).then(() => null)]);
  if (!r) await peer.stop(2000);
  return peer.exit;
}

/** The server session that appeared since `before` (a list of ids). */
async function newSession(s, before, what) {
  return waitFor(async () => (await sessionIds(s)).find((id) => !before.includes(id)) ?? null, 10000, { what: `${what}'s server session` });
}

ctx.test(`pion publishes H264 + Opus; pion players without RTX hold a ${HOLD_SEC} s session with no STUN after connecting, every packet arrives, NACKed packets come back`, { timeout: (HOLD_SEC + 60) * 1000 }, async (t) => {
  prepare();
  const s = ctx.server;
  const stream = streamName('pion');
  const peers = [];
  try {
    const before = await sessionIds(s);
    const pub = pion(['publish', '--url', s.url(`/whip/live/${stream}`), '--clip', clipDir, '--seconds', String(HOLD_SEC + 8)], 'pion publisher');
    peers.push(pub);
    await pub.waitEvent('connected', 15000);
    const pubId = await newSession(s, before, 'publisher');
    await sleep(1500); // a running stream with a cached GOP

    const before2 = await sessionIds(s);
    const player = pion(['play', '--url', s.url(`/whep/live/${stream}`), '--seconds', String(HOLD_SEC), '--h264-out', path.join(clipDir, 'played.h264')], 'pion player');
    const lossy = pion(['play', '--url', s.url(`/whep/live/${stream}`), '--seconds', String(HOLD_SEC), '--drop-every', '25'], 'pion player dropping 1 in 25');
    peers.push(player, lossy);
    await Promise.all([player.waitEvent('connected', 15000), lossy.waitEvent('connected', 15000)]);
    const playerIds = await waitFor(async () => {
      const ids = (await sessionIds(s)).filter((id) => !before2.includes(id));
      return ids.length >= 2 ? ids : null;
    }, 10000, { what: 'the players\' server sessions' });

    // Halfway through: every session is still there and the players are on direct egress.
    await sleep((HOLD_SEC / 2) * 1000);
    const mid = await sessionIds(s);
    for (const id of [pubId, ...playerIds]) assert.ok(mid.includes(id), `session ${id} still open after ${HOLD_SEC / 2} s`);
    for (const id of playerIds) {
      const info = (await s.sessionInfo(id)).data;
      assert.equal(info.tx.direct_egress, true, `player ${id} is on the direct egress path without RTX`);
    }

    for (const p of [player, lossy]) {
      const exit = await stopped(p, (HOLD_SEC / 2 + 20) * 1000);
      assert.equal(exit.code, 0, `${p.label} exit ${JSON.stringify(exit)}; events ${JSON.stringify(p.events.filter((e) => e.event !== 'stats')).slice(-1500)}; stderr ${p.stderr.slice(-1500)}`);
    }
    const res = result(player);
    const resLossy = result(lossy);
    ctx.log(t, 'pion player', res);
    ctx.log(t, 'pion lossy player', resLossy);
    for (const [r, label] of [[res, 'player'], [resLossy, 'lossy player']]) {
      assert.equal(r.state, 'connected', `${label} connected throughout`);
      assert.ok(r.seconds >= HOLD_SEC - 1, `${label} ran ${r.seconds} s`);
      assert.equal(r.stun_sent_after_connected, 0, `${label}: pion sends no STUN on the selected pair while media flows`);
      const v = track(r, 'video');
      const a = track(r, 'audio');
      assert.ok(v && v.packets > HOLD_SEC * 50, `${label}: video packets ${v?.packets}`);
      assert.ok(a && a.packets > HOLD_SEC * 40, `${label}: audio packets ${a?.packets}`);
      assert.equal(a.missing, 0, `${label}: every audio packet arrived`);
      ctx.log(t, `${label} sender reports`, JSON.stringify([v, a].map((x) => ({ kind: x.kind, packets: x.packets, srs: x.sender_reports, sr_packets: x.sr_packet_count, rtp_err_ms: x.sr_rtp_error_ms, ntp_err_ms: x.sr_ntp_error_ms, no_rtp: x.sr_without_rtp_time }))));
      // Sender reports (RFC 3550 section 6.4.1) from what direct egress tells str0m: no media
      // goes through str0m, yet every SR maps RTP to NTP time as the packets do (A/V sync) and
      // counts what was sent (it lags by at most 250 ms plus the SR interval).
      for (const x of [v, a]) {
        assert.ok(x.sender_reports >= HOLD_SEC / 6, `${label} ${x.kind}: sender reports ${x.sender_reports}`);
        assert.equal(x.sr_without_rtp_time, 0, `${label} ${x.kind}: every SR has an RTP time`);
        assert.ok(x.sr_rtp_error_ms < 40, `${label} ${x.kind}: SR RTP time off by ${x.sr_rtp_error_ms} ms`);
        assert.ok(x.sr_ntp_error_ms < 40, `${label} ${x.kind}: SR NTP time off by ${x.sr_ntp_error_ms} ms`);
        assert.ok(x.sr_packet_count <= x.packets + 10 && x.sr_packet_count >= x.packets - 300, `${label} ${x.kind}: SR packet count ${x.sr_packet_count}, received ${x.packets}`);
      }
    }
    assert.equal(track(res, 'video').missing, 0, 'player: every video packet arrived');
    const lv = track(resLossy, 'video');
    assert.ok(lv.dropped_on_purpose >= HOLD_SEC * 2, `dropped on purpose ${lv.dropped_on_purpose}`);
    // Resent with their own SSRC and sequence number (no media of the track goes through
    // str0m, so every packet can be resent as it was sent).
    const lost = lv.dropped_on_purpose - lv.recovered;
    assert.equal(lost, 0, `NACKed packets came back: ${lv.recovered} of ${lv.dropped_on_purpose} (not: ${JSON.stringify(lv.not_recovered)})`);
    assert.equal(lv.missing, lost, 'nothing else is missing');

    // A frame must decode: what the player received, depacketized by pion, read by FFmpeg.
    const probe = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', path.join(clipDir, 'played.h264')], { encoding: 'utf8', timeout: 60000 });
    const frames = Number(probe.stdout.trim());
    ctx.log(t, 'frames FFmpeg decoded from what the pion player received', frames);
    assert.ok(frames >= HOLD_SEC * 25, `decoded frames ${frames} (${probe.stderr.slice(0, 500)})`);

    const pubExit = await stopped(pub, 20000);
    assert.equal(pubExit.code, 0, `publisher exit ${JSON.stringify(pubExit)}; stderr ${pub.stderr.slice(-1500)}`);
    const pr = result(pub);
    ctx.log(t, 'pion publisher', pr);
    assert.equal(pr.state, 'connected', 'publisher connected throughout');
    // pion pings a pair whose remote has been quiet for 2 s (ice: checkKeepalive); a publisher
    // hears little from the server, so a few checks are its normal behaviour, not asserted.
    assert.ok(pr.video_samples >= (HOLD_SEC + 7) * 29, `publisher sent ${pr.video_samples} frames`);
  } finally {
    for (const p of peers) await p.stop(2000);
  }
});

ctx.test('a pion player killed mid-session is closed after timeoutSec although forged STUN (right ufrags, wrong key) and SRTP-looking packets keep coming from its address', { timeout: 60000 }, async (t) => {
  prepare();
  const s = ctx.server;
  const stream = streamName('pion-kill');
  const peers = [];
  let sock = null;
  try {
    const pub = pion(['publish', '--url', s.url(`/whip/live/${stream}`), '--clip', clipDir, '--seconds', '40'], 'pion publisher');
    peers.push(pub);
    await pub.waitEvent('connected', 15000);
    await sleep(1000);
    const before = await sessionIds(s);
    const player = pion(['play', '--url', s.url(`/whep/live/${stream}`), '--seconds', '40'], 'pion player');
    peers.push(player);
    const offer = await player.waitEvent('offer', 15000);
    const answer = await player.waitEvent('answer', 15000);
    const local = await player.waitEvent('local', 15000);
    await player.waitEvent('connected', 15000);
    const id = await newSession(s, before, 'player');
    await sleep(2000);
    assert.ok((await sessionIds(s)).includes(id), 'player session up while media flows');

    player.proc.kill('SIGKILL');
    await player.exited;
    const killedAt = Date.now();
    // The dead player's 5-tuple, now ours: what an attacker on the path who knows the address
    // and the ufrags (both in clear in every STUN check) can send.
    sock = dgram.createSocket('udp4');
    await new Promise((resolve, reject) => { sock.once('error', reject); sock.bind(local.port, '127.0.0.1', resolve); });
    let sent = 0;
    const timer = setInterval(() => {
      const forged = stunBindingRequest(`${answer.ufrag}:${offer.ufrag}`, 'not-the-ice-password');
      const srtpLike = fakeRtp(102, 300);
      for (const d of [forged, srtpLike]) sock.send(d, s.rtcPort, '127.0.0.1');
      sent += 2;
    }, 250);
    try {
      await waitFor(async () => !(await sessionIds(s)).includes(id), (RTC_TIMEOUT_SEC + 4) * 1000, { interval: 200, what: `session ${id} closed after the player died` });
    } finally {
      clearInterval(timer);
    }
    const closedAfterMs = Date.now() - killedAt;
    ctx.log(t, 'silent pion player closed after ms (with forged traffic)', { closedAfterMs, forgedDatagrams: sent });
    assert.ok(closedAfterMs >= (RTC_TIMEOUT_SEC - 1) * 1000, `closed after ${closedAfterMs} ms: not before timeoutSec`);
    const log = fs.readFileSync(s.logFile, 'utf8');
    assert.match(log, /no consent within timeoutSec/, 'the server log names the consent timeout');
  } finally {
    if (sock) sock.close();
    for (const p of peers) await p.stop(2000);
  }
});
