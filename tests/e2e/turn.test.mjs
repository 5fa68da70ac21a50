// The embedded STUN/TURN server ([rtc] icePort / iceTcpPort) against independent clients:
// coturn's turnutils_uclient (with turnutils_peer as the peer) and aioice (py/turn_aioice.py).
// Every packet stays on 127.0.0.1: the server under test allows relaying to 127.0.0.1 through
// WEIR_RTC_TURNALLOWPEERS; a second server without that allow list checks the refusals.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { e2eFile } from './lib/harness.mjs';
import { sample, scrape } from './lib/prom.mjs';
import { runPy } from './lib/py.mjs';
import { startServer } from './lib/server.mjs';

const SECRET = 'e2e-turn-secret';
// Credentials of the test's own choosing: the defaults have no TURN user (safe defaults below).
const USER = 'weir-e2e';
const PASSWORD = 'e2e-turn-password';

const ctx = e2eFile('turn', {
  browser: false,
  serverEnv: {
    WEIR_RTC_TURNALLOWPEERS: '127.0.0.1',
    WEIR_RTC_TURNSECRET: SECRET,
    WEIR_RTC_ICEUFRAG: USER,
    WEIR_RTC_ICEPWD: PASSWORD,
  },
});

function which(bin) {
  for (const dir of (process.env.PATH || '').split(':').concat(['/usr/bin', '/usr/sbin'])) {
    if (dir && fs.existsSync(`${dir}/${bin}`)) return `${dir}/${bin}`;
  }
  throw new Error(`${bin} not found: scripts/install-test-deps.sh installs Debian's coturn package`);
}

/** Runs a command to completion (killed after timeoutMs); resolves {code, signal, out}. */
function run(cmd, args, timeoutMs = 60000) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out }); });
  });
}

/** A UDP port free on 127.0.0.1. */
function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** turnutils_peer (a UDP echo peer) on 127.0.0.1. */
async function startPeer() {
  const port = await freeUdpPort();
  const proc = spawn(which('turnutils_peer'), ['-L', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 300));
  return { port, stop: () => proc.kill('SIGTERM') };
}

/** Loss figures from turnutils_uclient's summary. */
function uclientStats(out) {
  const lost = out.match(/Total lost packets (\d+) \(([\d.]+)%\)/);
  const totals = [...out.matchAll(/start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/g)].pop();
  return {
    lost: lost ? Number(lost[1]) : null,
    sent: totals ? Number(totals[1]) : null,
    received: totals ? Number(totals[2]) : null,
  };
}

async function uclient(t, label, extra, { messages = 40, clients = 2 } = {}) {
  const s = ctx.server;
  const peer = await startPeer();
  try {
    const args = [...extra, '-p', String(s.icePort), '-e', '127.0.0.1', '-r', String(peer.port),
      '-n', String(messages), '-m', String(clients), '-l', '160', '-z', '10', '127.0.0.1'];
    const r = await run(which('turnutils_uclient'), args, 60000);
    const st = uclientStats(r.out);
    ctx.log(t, label, { args: args.join(' '), ...st });
    assert.equal(r.code, 0, `turnutils_uclient ${args.join(' ')} exited ${r.code}/${r.signal}:\n${r.out.slice(-3000)}`);
    assert.equal(st.lost, 0, `0 messages lost:\n${r.out.slice(-2000)}`);
    assert.ok(st.sent > 0 && st.received === st.sent, `every message came back: ${JSON.stringify(st)}`);
    return st;
  } finally {
    peer.stop();
  }
}

ctx.test('STUN Binding over UDP and TCP: XOR-MAPPED-ADDRESS and FINGERPRINT', { timeout: 30000 }, async (t) => {
  for (const transport of ['udp', 'tcp']) {
    const r = await runPy('turn_aioice.py', ['binding', '--port', String(ctx.server.icePort), '--transport', transport], { timeoutMs: 20000 });
    assert.equal(r.last?.event, 'result', `${transport}: ${JSON.stringify(r.events)} ${r.stderr.slice(-1000)}`);
    assert.equal(r.last.klass, 'RESPONSE');
    assert.ok(r.last.same_transaction);
    assert.deepEqual(r.last.mapped, r.last.local, 'the mapped address is the client address');
    assert.ok(r.last.fingerprint, 'FINGERPRINT present');
    ctx.log(t, `binding ${transport}`, r.last);
  }
});

ctx.test('turnutils_uclient over UDP with channels: 0 lost', { timeout: 70000 }, async (t) => {
  await uclient(t, 'uclient udp', ['-u', USER, '-w', PASSWORD]);
});

ctx.test('turnutils_uclient over TCP (-t, padded ChannelData): 0 lost', { timeout: 70000 }, async (t) => {
  await uclient(t, 'uclient tcp', ['-t', '-u', USER, '-w', PASSWORD]);
});

ctx.test('turnutils_uclient with Send/Data indications (-s) over UDP and TCP: 0 lost', { timeout: 130000 }, async (t) => {
  await uclient(t, 'uclient udp send', ['-s', '-u', USER, '-w', PASSWORD]);
  await uclient(t, 'uclient tcp send', ['-t', '-s', '-u', USER, '-w', PASSWORD]);
});

ctx.test('turnutils_uclient with TURN REST API credentials (-W secret): 0 lost', { timeout: 70000 }, async (t) => {
  await uclient(t, 'uclient rest', ['-W', SECRET, '-u', 'rest-user'], { clients: 1 });
});

for (const transport of ['udp', 'tcp']) {
  ctx.test(`aioice: two relay-only ICE agents connect relay to relay (TURN over ${transport.toUpperCase()})`, { timeout: 80000 }, async (t) => {
    const r = await runPy('turn_aioice.py', ['relay', '--port', String(ctx.server.icePort), '--transport', transport,
      '--user', USER, '--password', PASSWORD, '--messages', '20'], { timeoutMs: 66000 });
    if (r.last?.event !== 'result' || r.last.attempts > 1) {
      // Printed before the assert so a CI log shows the failed attempt (aioice's timing).
      ctx.log(t, `aioice ${transport} attempts`, r.events.filter((e) => e.event !== 'candidates'));
      ctx.server.dumpLog(`aioice ${transport}`, 40);
    }
    assert.equal(r.last?.event, 'result', `${JSON.stringify(r.events)}\n${r.stderr.slice(-2000)}`);
    const { candidates, selected } = r.last;
    for (const side of ['a', 'b']) {
      assert.ok(candidates[side].length > 0 && candidates[side].every((c) => / typ relay /.test(c)), `${side}: relay candidates only: ${candidates[side]}`);
    }
    const port = (c) => Number(c.split(' ')[5]);
    for (const c of [...candidates.a, ...candidates.b]) {
      assert.ok(port(c) >= 49152 && port(c) <= 65535, `relay port from port_range: ${c}`);
    }
    assert.equal(selected.local[0], 'relay');
    assert.equal(selected.remote[0], 'relay');
    assert.equal(r.last.a_to_b, r.last.sent, `a -> b: ${JSON.stringify(r.last)}`);
    assert.equal(r.last.b_to_a, r.last.sent, `b -> a: ${JSON.stringify(r.last)}`);
    ctx.log(t, `aioice ${transport}`, { selected, a_to_b: r.last.a_to_b, b_to_a: r.last.b_to_a, attempts: r.last.attempts });
    // The relayed traffic shows in /metrics (Prometheus text, parsed by prometheus_client).
    const m = await scrape(ctx.server);
    assert.equal(m.status, 200, m.text.slice(0, 300));
    const relayed = {
      allocations: sample(m.families, 'weir_turn_allocations_total'),
      to_peer: sample(m.families, 'weir_turn_relayed_bytes_total', { direction: 'to_peer' }),
      to_client: sample(m.families, 'weir_turn_relayed_bytes_total', { direction: 'to_client' }),
    };
    ctx.log(t, `metrics after aioice ${transport}`, relayed);
    assert.ok(relayed.allocations >= 2, `two allocations counted: ${JSON.stringify(relayed)}`);
    assert.ok(relayed.to_peer > 0 && relayed.to_client > 0, `relayed bytes counted: ${JSON.stringify(relayed)}`);
  });
}

ctx.test('refusals: 401 wrong password, 403 loopback/private peers, 486 quota, REST expiry', { timeout: 60000 }, async (t) => {
  // Without WEIR_RTC_TURNALLOWPEERS loopback is refused; one allocation per user.
  const strict = await startServer('turn_strict', {
    WEIR_RTC_TURNMAXALLOCATIONSPERUSER: '1',
    WEIR_RTC_TURNSECRET: SECRET,
    WEIR_RTC_ICEUFRAG: USER,
    WEIR_RTC_ICEPWD: PASSWORD,
  });
  try {
    const r = await runPy('turn_aioice.py', ['refusals', '--port', String(strict.icePort),
      '--user', USER, '--password', PASSWORD, '--secret', SECRET], { timeoutMs: 50000 });
    assert.equal(r.last?.event, 'result', `${JSON.stringify(r.events)}\n${r.stderr.slice(-2000)}`);
    const res = r.last;
    ctx.log(t, 'refusals', res);
    assert.deepEqual(res.wrong_password, { ok: false, code: 401 });
    assert.equal(res.first_allocation.ok, true, JSON.stringify(res.first_allocation));
    assert.deepEqual(res.permission_loopback, { ok: false, code: 403 });
    assert.deepEqual(res.channel_loopback, { ok: false, code: 403 });
    assert.deepEqual(res.permission_private, { ok: false, code: 403 });
    assert.deepEqual(res.second_allocation, { ok: false, code: 486 });
    assert.equal(res.rest_valid.ok, true, JSON.stringify(res.rest_valid));
    assert.deepEqual(res.rest_expired, { ok: false, code: 401 });
    // Every refusal is logged with its reason, the client address and the username.
    const log = fs.readFileSync(strict.logFile, 'utf8');
    for (const want of [/code=401 reason="wrong password[^"]*" client=127\.0\.0\.1:\d+ username="weir-e2e"/,
      /code=403 reason="peer 127\.0\.0\.1 refused: loopback" client=127\.0\.0\.1:\d+ username="weir-e2e"/,
      /code=486 reason="user has 1 allocations[^"]*" client=127\.0\.0\.1:\d+ username="weir-e2e"/,
      /code=401 reason="time-limited credentials expired[^"]*" client=127\.0\.0\.1:\d+ username="\d+:rest-\d+"/]) {
      assert.match(log, want);
    }
  } catch (e) {
    strict.dumpLog('refusals', 60);
    throw e;
  } finally {
    await strict.stop();
  }
});

ctx.test('safe defaults: no TURN user, ZLMediaKit/ZLMediaKit refused over UDP and TCP, STUN still answered, no TURN link', { timeout: 60000 }, async (t) => {
  // A server with the embedded defaults only (no credentials, no turnSecret), as a new user runs it.
  const dflt = await startServer('turn_defaults', {});
  try {
    for (const transport of ['udp', 'tcp']) {
      const r = await runPy('turn_aioice.py', ['allocate', '--port', String(dflt.icePort), '--transport', transport,
        '--user', 'ZLMediaKit', '--password', 'ZLMediaKit'], { timeoutMs: 30000 });
      assert.equal(r.last?.event, 'result', `${JSON.stringify(r.events)}\n${r.stderr.slice(-2000)}`);
      ctx.log(t, `default server, ZLMediaKit user, ${transport}`, r.last.allocation);
      assert.equal(r.last.allocation.ok, false, `the default server relayed for the well-known user over ${transport}`);
      assert.ok([400, 401, 403].includes(r.last.allocation.code), JSON.stringify(r.last.allocation));
    }
    const b = await runPy('turn_aioice.py', ['binding', '--port', String(dflt.icePort)], { timeoutMs: 20000 });
    assert.equal(b.last?.event, 'result', JSON.stringify(b.events));
    const link = (await dflt.request('OPTIONS', '/whip/live/turn-defaults')).headers.get('link') || '';
    assert.ok(link.includes(`<stun:127.0.0.1:${dflt.icePort}>`), link);
    assert.ok(!link.includes('turn:'), `no TURN advertised without credentials: ${link}`);
    const log = fs.readFileSync(dflt.logFile, 'utf8');
    assert.match(log, /exposure: TURN is off: no \[rtc\] iceUfrag\/icePwd or turnSecret configured/);
  } catch (e) {
    dflt.dumpLog('defaults', 60);
    throw e;
  } finally {
    await dflt.stop();
  }
});

ctx.test('WHIP/WHEP Link headers advertise the STUN and TURN servers (static user without turnSecret)', { timeout: 30000 }, async (t) => {
  // This file's main server has turnSecret set (REST credentials, next test); the static user is
  // advertised only by a server without it.
  const s = await startServer('turn-static-link', { WEIR_RTC_ICEUFRAG: USER, WEIR_RTC_ICEPWD: PASSWORD });
  try {
    const r = await s.request('OPTIONS', '/whip/live/turn-link');
    const link = r.headers.get('link') || '';
    ctx.log(t, 'link', link);
    assert.ok(link.includes(`<stun:127.0.0.1:${s.icePort}>; rel="ice-server"`), link);
    assert.ok(link.includes(`<turn:127.0.0.1:${s.icePort}?transport=udp>; rel="ice-server"; username="${USER}"; credential="${PASSWORD}"; credential-type="password"`), link);
  } finally {
    await s.stop();
  }
});

ctx.test('with turnSecret, WHIP/WHEP Link headers carry time-limited TURN REST credentials, not the static user', { timeout: 30000 }, async (t) => {
  const { createHmac } = await import('node:crypto');
  const SECRET_KEY = 'link-secret-42';
  const s = await startServer('turn-rest-link', { WEIR_RTC_TURNSECRET: SECRET_KEY });
  try {
    const r = await s.request('OPTIONS', '/whip/live/turn-rest-link');
    const link = r.headers.get('link') || '';
    ctx.log(t, 'link', link);
    const m = link.match(/<turn:127\.0\.0\.1:\d+\?transport=udp>; rel="ice-server"; username="(\d+):weir"; credential="([^"]+)"/);
    assert.ok(m, `TURN link with a REST username: ${link}`);
    const expiry = Number(m[1]);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(expiry > now + 3600 && expiry <= now + 86400 + 60, `expiry ${expiry} is in the future, at most a day away`);
    const expected = createHmac('sha1', SECRET_KEY).update(`${m[1]}:weir`).digest('base64');
    assert.equal(m[2], expected, 'credential = base64(HMAC-SHA1(turnSecret, username))');
    assert.ok(!link.includes(`username="${USER}"`), 'the static user is not advertised');
  } finally {
    await s.stop();
  }
});
