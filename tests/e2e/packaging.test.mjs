// Packaging (issue 18): dist/weir.service and the Dockerfile.
//  * `systemd-analyze verify` accepts the unit with ExecStart pointing at the binary under test,
//    and `systemd-analyze security --offline` rates its sandbox;
//  * the binary started with ExecStart's arguments (a temp config on free ports, the unit's empty
//    environment) answers HTTP(S), and SIGTERM (KillSignal) ends it within TimeoutStopSec with an
//    exit systemd counts as clean;
//  * ExecReload (SIGHUP) leaves it running;
//  * every system call of a run (strace) is allowed by the unit's SystemCallFilter;
//  * the Dockerfile exposes the default ports, and builds and runs when a Docker daemon is there.
// No browser, no harness server: each test starts its own process the way the unit would.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ARTIFACTS, REPO_ROOT, freeTcpPort, freeUdpAndTcpPort, tailFile, weirBinary } from './lib/server.mjs';
import { sleep } from './lib/util.mjs';

const UNIT_FILE = path.join(REPO_ROOT, 'dist/weir.service');
const DOCKERFILE = path.join(REPO_ROOT, 'Dockerfile');
const BIN = weirBinary();
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-packaging-'));
const measurements = [];

after(() => {
  fs.rmSync(TMP, { recursive: true, force: true });
  if (measurements.length) {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'packaging.timings.json'), `${JSON.stringify(measurements, null, 2)}\n`);
  }
});

function record(t, key, value) {
  measurements.push({ test: t.name, key, value });
  t.diagnostic(`${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
}

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(':').concat(['/usr/bin', '/bin', '/usr/sbin'])) {
    if (dir && fs.existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}

function requireBinary() {
  assert.ok(fs.existsSync(BIN),
    `weir binary not found at ${BIN}. Build it first (cargo build --release -j2) or point WEIR_BIN at another binary.`);
}

// ---- the unit file ----

/** [Service] (and other sections') settings: {section: {key: [values in order]}}. */
function parseUnit(text) {
  const out = {};
  let section = null;
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) { section = m[1]; out[section] ??= {}; continue; }
    const eq = line.indexOf('=');
    if (eq < 0 || !section) continue;
    const k = line.slice(0, eq).trim();
    (out[section][k] ??= []).push(line.slice(eq + 1).trim());
  }
  return out;
}

const UNIT_TEXT = fs.readFileSync(UNIT_FILE, 'utf8');
const UNIT = parseUnit(UNIT_TEXT);
const SERVICE = UNIT.Service || {};
const one = (k) => { const v = SERVICE[k]; return v && v[v.length - 1]; };
const EXEC_START = one('ExecStart').split(/\s+/);
const TIMEOUT_STOP_MS = Number.parseFloat(one('TimeoutStopSec')) * 1000;

/** The unit with ExecStart's binary replaced, written to a temp dir; returns its path. */
function unitCopy(dir, bin) {
  fs.mkdirSync(dir, { recursive: true });
  const text = UNIT_TEXT.replace(/^ExecStart=\S+/m, `ExecStart=${bin}`);
  const file = path.join(dir, 'weir.service');
  fs.writeFileSync(file, text);
  return file;
}

test('dist/weir.service: the settings the packaging promises', () => {
  const expect = {
    Type: 'simple', Restart: 'on-failure', KillSignal: 'SIGTERM', TimeoutStopSec: '15',
    ExecReload: '/bin/kill -HUP $MAINPID', DynamicUser: 'yes', LimitNOFILE: '1048576',
    NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes',
    PrivateDevices: 'yes', ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes',
    ProtectKernelLogs: 'yes', ProtectControlGroups: 'yes', ProtectClock: 'yes', ProtectHostname: 'yes',
    RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX AF_NETLINK', RestrictNamespaces: 'yes',
    RestrictRealtime: 'yes', LockPersonality: 'yes', MemoryDenyWriteExecute: 'yes',
    SystemCallArchitectures: 'native', CapabilityBoundingSet: '', StateDirectory: 'weir',
    ConfigurationDirectory: 'weir',
  };
  for (const [k, v] of Object.entries(expect)) assert.equal(one(k), v, `[Service] ${k}=`);
  assert.ok(!SERVICE.AmbientCapabilities, 'no capability by default (all default ports are >= 1024)');
  assert.equal(SERVICE.SystemCallFilter[0], '@system-service');
  assert.deepEqual(EXEC_START, ['/usr/local/bin/weir', '-c', '/etc/weir/config.ini']);
  assert.ok(TIMEOUT_STOP_MS > 0);
  // The arguments exist in the binary under test.
  requireBinary();
  const help = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /-c, --config <FILE>/, 'weir --help lists -c');
});

test('systemd-analyze verify accepts dist/weir.service (ExecStart = the binary under test)', (t) => {
  const sa = which('systemd-analyze');
  if (!sa) { t.skip('systemd-analyze not installed (Debian: systemd package): unit not verified'); return; }
  requireBinary();
  const file = unitCopy(path.join(TMP, 'verify'), BIN);
  const r = spawnSync(sa, ['verify', file], { encoding: 'utf8', timeout: 60000 });
  const stderr = `${r.stderr}${r.error ? `\n${r.error.message}` : ''}`;
  record(t, 'systemd-analyze verify', { code: r.status, stderr: stderr.trim() });
  assert.equal(r.status, 0, `systemd-analyze verify ${file} exited ${r.status}:\n${stderr}`);
  const aboutUnit = stderr.split('\n').filter((l) => l.includes('weir.service') || l.includes(file));
  assert.deepEqual(aboutUnit, [], `systemd-analyze verify warns about the unit:\n${stderr}`);

  // The check is real: the same unit with a missing binary is refused.
  const bad = unitCopy(path.join(TMP, 'verify-missing'), path.join(TMP, 'no-such-weir'));
  const rb = spawnSync(sa, ['verify', bad], { encoding: 'utf8', timeout: 60000 });
  assert.notEqual(rb.status, 0, `verify should refuse a missing ExecStart binary:\n${rb.stderr}`);
  assert.match(rb.stderr, /not executable|No such file/);

  // The sandbox's rating (lower is better; systemd calls < 2 "OK", 0 would be a perfect score).
  const sec = spawnSync(sa, ['--offline=yes', 'security', file], { encoding: 'utf8', timeout: 60000 });
  const m = /Overall exposure level for weir\.service: ([\d.]+) (\S+)/.exec(`${sec.stdout}${sec.stderr}`);
  if (!m) {
    t.diagnostic(`systemd-analyze --offline=yes security unavailable (systemd < 250?): ${sec.stderr.trim().slice(0, 200)}`);
    return;
  }
  record(t, 'systemd-analyze security exposure', `${m[1]} ${m[2]}`);
  assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} ${m[2]} > 2.0:\n${sec.stdout}`);
});

// ---- running the binary as the unit does ----

/** Does the binary have an HTTPS port ([http] sslport in --dump-config)? */
function binaryHasHttps() {
  const r = spawnSync(BIN, ['--dump-config'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  return r.status === 0 && /^sslport\s*=/m.test(r.stdout);
}

function selfSignedCert(dir) {
  if (!which('openssl')) return null;
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { encoding: 'utf8' });
  return r.status === 0 ? { cert, key } : null;
}

/**
 * Start the binary with ExecStart's arguments, the config path replaced by a temp config on free
 * ports, cwd a temp "state directory" and an environment without WEIR_* variables (systemd passes
 * none). `wrap` prefixes the command (strace). Resolves once GET / answers 200.
 */
async function startLikeUnit(name, { wrap = [], tls = null } = {}) {
  requireBinary();
  const dir = fs.mkdtempSync(path.join(TMP, `${name}-`));
  const httpPort = await freeTcpPort();
  const mediaPort = await freeUdpAndTcpPort([httpPort]);
  const icePort = await freeUdpAndTcpPort([httpPort, mediaPort]);
  const hasHttps = binaryHasHttps();
  const sslPort = hasHttps ? await freeTcpPort() : 0;
  const secret = crypto.randomBytes(12).toString('hex');
  const ini = [
    '[api]', `secret=${secret}`,
    '[http]', `port=${httpPort}`,
    ...(hasHttps ? [`sslport=${sslPort}`, ...(tls ? [`sslCert=${tls.cert}`, `sslKey=${tls.key}`] : [])] : []),
    '[rtc]', `port=${mediaPort}`, `tcpPort=${mediaPort}`, 'externIP=127.0.0.1',
    'signalingPort=0', 'signalingSslPort=0', `icePort=${icePort}`, `iceTcpPort=${icePort}`, '',
  ].join('\n');
  const config = path.join(dir, 'config.ini');
  fs.writeFileSync(config, ini);
  const args = EXEC_START.slice(1).map((a) => (a === '/etc/weir/config.ini' ? config : a));
  assert.ok(args.includes(config), `ExecStart passes the config file: ${EXEC_START.join(' ')}`);

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const logFile = path.join(ARTIFACTS, `packaging-${name}-${stamp}.weir.log`);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const fd = fs.openSync(logFile, 'w');
  fs.writeSync(fd, `# ${new Date().toISOString()} ${[...wrap, BIN, ...args].join(' ')}\n# config:\n${ini.replace(/^/gm, '#   ')}\n`);
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', NO_COLOR: '1' };
  if (process.env.WEIR_LOG) env.WEIR_LOG = process.env.WEIR_LOG;
  const cmd = wrap.length ? wrap[0] : BIN;
  const proc = spawn(cmd, [...wrap.slice(1), ...(wrap.length ? [BIN] : []), ...args], { cwd: dir, env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const srv = {
    proc, dir, config, logFile, httpPort, mediaPort, icePort, sslPort, secret, exit: null,
    base: `http://127.0.0.1:${httpPort}`,
    log: (n = 40) => tailFile(logFile, n),
  };
  srv.exited = new Promise((resolve) => proc.on('exit', (code, signal) => { srv.exit = { code, signal, at: Date.now() }; resolve(srv.exit); }));
  proc.on('error', (e) => { srv.exit = { error: e.message }; });

  const t0 = Date.now();
  let last = 'no answer';
  while (Date.now() - t0 < Number(process.env.WEIR_E2E_START_TIMEOUT_MS || 30000)) {
    if (srv.exit) throw new Error(`weir exited before answering GET /: ${JSON.stringify(srv.exit)}\n${srv.log()}`);
    try {
      const r = await fetch(`${srv.base}/`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) { srv.startupMs = Date.now() - t0; return srv; }
      last = `HTTP ${r.status}`;
    } catch (e) { last = e.cause?.code || e.message; }
    await sleep(100);
  }
  await stop(srv, 'SIGKILL');
  throw new Error(`weir did not answer 200 on GET ${srv.base}/ (last: ${last})\n${srv.log()}`);
}

/** Send `signal` to the server process (the traced one under strace); resolves {exit, ms}. */
async function stop(srv, signal = 'SIGTERM', pid = srv.proc.pid) {
  if (srv.exit) return { exit: srv.exit, ms: 0 };
  const t0 = Date.now();
  process.kill(pid, signal);
  let timer;
  const r = await Promise.race([srv.exited, new Promise((res) => { timer = setTimeout(() => res(null), TIMEOUT_STOP_MS + 5000); })]);
  clearTimeout(timer);
  if (!r) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await srv.exited;
    return { exit: null, ms: Date.now() - t0 };
  }
  return { exit: r, ms: r.at - t0 };
}

function httpsGet(port, p = '/') {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: p, rejectUnauthorized: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** A STUN Binding Request (no attributes) to udp://127.0.0.1:port; resolves the answer's type or null. */
function stunBinding(port, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const msg = Buffer.alloc(20);
    msg.writeUInt16BE(0x0001, 0);
    msg.writeUInt32BE(0x2112a442, 4);
    crypto.randomBytes(12).copy(msg, 8);
    const timer = setTimeout(() => { s.close(); resolve(null); }, timeoutMs);
    s.on('message', (m) => { clearTimeout(timer); s.close(); resolve(m.readUInt16BE(0)); });
    s.send(msg, port, '127.0.0.1');
  });
}

/** A clean stop for systemd: exit status 0 or death by SIGTERM (or SIGHUP/SIGINT/SIGPIPE). */
const cleanForSystemd = (e) => e && (e.code === 0 || ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGPIPE'].includes(e.signal));

test('the binary started like ExecStart answers HTTP, and SIGTERM ends it within TimeoutStopSec', { timeout: 90000 }, async (t) => {
  const srv = await startLikeUnit('run');
  try {
    record(t, 'startup ms (to GET / = 200)', srv.startupMs);
    const v = await fetch(`${srv.base}/index/api/version?secret=${srv.secret}`);
    const body = await v.text();
    assert.equal(v.status, 200, `GET /index/api/version: ${body}`);
    assert.equal(JSON.parse(body).code, 0, `version API with the config's secret: ${body}`);
    if (srv.sslPort) assert.equal(await httpsGet(srv.sslPort), 200, 'GET / over HTTPS (self-signed)');
    else t.diagnostic('binary without [http] sslport: HTTPS not checked');
    assert.equal(await stunBinding(srv.icePort), 0x0101, 'STUN Binding success response on icePort');
  } catch (e) {
    await stop(srv, 'SIGKILL');
    throw new Error(`${e.message}\n----- log -----\n${srv.log()}`);
  }
  const { exit, ms } = await stop(srv, one('KillSignal'));
  record(t, `exit after ${one('KillSignal')} (ms)`, ms);
  record(t, 'exit status', { code: exit && exit.code, signal: exit && exit.signal });
  assert.ok(exit, `weir did not exit within TimeoutStopSec (${TIMEOUT_STOP_MS} ms) + 5 s after ${one('KillSignal')}: systemd would SIGKILL it\n${srv.log()}`);
  assert.ok(ms <= TIMEOUT_STOP_MS, `exit took ${ms} ms > TimeoutStopSec ${TIMEOUT_STOP_MS} ms`);
  assert.ok(cleanForSystemd(exit), `exit ${JSON.stringify(exit)} is a failure for systemd (Restart=on-failure would restart a stopped service)\n${srv.log()}`);
  // Weir handles SIGTERM itself (graceful shutdown, main.rs): it exits 0 after logging its stop.
  assert.equal(exit.code, 0, `graceful exit status 0 after SIGTERM: ${JSON.stringify(exit)}\n${srv.log()}`);
  assert.match(srv.log(), /stopped sessions_closed=0/, 'the graceful stop was logged');
});

/** Runs ExecReload with $MAINPID replaced, as systemctl reload does. */
function execReload(pid) {
  const [cmd, ...args] = one('ExecReload').replace('$MAINPID', String(pid)).split(/\s+/);
  return spawnSync(cmd, args, { encoding: 'utf8' });
}

async function assertSurvivesReload(t, srv) {
  try {
    const r = execReload(srv.proc.pid);
    assert.equal(r.status, 0, `ExecReload: ${r.stderr}`);
    await sleep(1000);
    assert.equal(srv.exit, null, `weir ended on ExecReload (${one('ExecReload')}): ${JSON.stringify(srv.exit)}; ` +
      `systemd counts a SIGHUP death as clean, so Restart=on-failure would not bring it back\n${srv.log()}`);
    const g = await fetch(`${srv.base}/`);
    await g.arrayBuffer();
    assert.equal(g.status, 200, 'GET / after reload');
    if (srv.sslPort) assert.equal(await httpsGet(srv.sslPort), 200, 'GET / over HTTPS after reload');
    const reloaded = /certificate reloaded/i.test(fs.readFileSync(srv.logFile, 'utf8'));
    record(t, 'log says certificate reloaded', reloaded);
  } finally {
    await stop(srv);
  }
}

test('ExecReload (SIGHUP) with certificate files configured: reloads, keeps running', { timeout: 60000 }, async (t) => {
  if (!binaryHasHttps()) { t.skip('binary without [http] sslport/sslCert'); return; }
  const tls = selfSignedCert(fs.mkdtempSync(path.join(TMP, 'tls-')));
  if (!tls) { t.skip('openssl not available to make a certificate file'); return; }
  await assertSurvivesReload(t, await startLikeUnit('reload-certfiles', { tls }));
});

// Without certificate files no listener waits for SIGHUP (crates/weir-net watch_reload): the
// binary holds it at start (weir_net::hold_sighup), else its default action would end the server.
test('ExecReload (SIGHUP) with the default self-signed certificates keeps the server running', { timeout: 60000 }, async (t) => {
  await assertSurvivesReload(t, await startLikeUnit('reload-default'));
});

// ---- the system call filter ----

/** `systemd-analyze syscall-filter` -> Map(group -> [entries]) (entries may be @groups). */
function syscallGroups(sa) {
  const r = spawnSync(sa, ['syscall-filter'], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`systemd-analyze syscall-filter: ${r.stderr}`);
  const groups = new Map();
  let cur = null;
  for (const line of r.stdout.split('\n')) {
    const m = /^(@[\w-]+)\s*$/.exec(line);
    if (m) { cur = []; groups.set(m[1], cur); continue; }
    const e = line.trim();
    if (cur && e && !e.startsWith('#')) cur.push(e);
  }
  return groups;
}

function expand(groups, name, seen = new Set()) {
  if (!name.startsWith('@')) return [name];
  if (seen.has(name)) return [];
  seen.add(name);
  const entries = groups.get(name);
  if (!entries) throw new Error(`unknown syscall group ${name}`);
  return entries.flatMap((e) => expand(groups, e, seen));
}

/** The set of system calls the unit's SystemCallFilter= lines allow (allow list, then ~ removals). */
function allowedSyscalls(groups) {
  let allowed = null;
  for (const v of SERVICE.SystemCallFilter || []) {
    const deny = v.startsWith('~');
    const names = (deny ? v.slice(1) : v).split(/\s+/).filter(Boolean).flatMap((n) => expand(groups, n));
    if (deny) {
      assert.ok(allowed, 'an allow list comes first');
      for (const n of names) allowed.delete(n);
    } else {
      allowed = new Set([...(allowed || []), ...names, ...expand(groups, '@default')]);
    }
  }
  return allowed;
}

test('every system call of a run is allowed by SystemCallFilter (strace)', { timeout: 120000 }, async (t) => {
  const sa = which('systemd-analyze');
  const strace = which('strace');
  if (!sa || !strace) { t.skip(`${!sa ? 'systemd-analyze' : 'strace'} not installed: system call filter not checked`); return; }
  const allowed = allowedSyscalls(syscallGroups(sa));
  // The expansion is real: networking is in, what ~@privileged removes is out.
  for (const s of ['recvmmsg', 'sendmmsg', 'epoll_wait', 'prlimit64']) assert.ok(allowed.has(s), `filter allows ${s}`);
  for (const s of ['reboot', 'chown', 'mount', 'init_module']) assert.ok(!allowed.has(s), `filter denies ${s}`);
  const trace = path.join(TMP, 'strace.txt');
  const tls = binaryHasHttps() ? selfSignedCert(fs.mkdtempSync(path.join(TMP, 'tls-'))) : null;
  const srv = await startLikeUnit('strace', { wrap: [strace, '-f', '-qq', '-o', trace], tls });
  // The traced weir is strace's child.
  const children = fs.readFileSync(`/proc/${srv.proc.pid}/task/${srv.proc.pid}/children`, 'utf8').trim().split(/\s+/);
  const pid = Number(children[0]);
  assert.ok(pid > 0, 'strace has a child');
  try {
    // Some work on every kind of socket: HTTP, HTTPS, STUN over UDP, and a reload (SIGHUP).
    for (let i = 0; i < 3; i++) await (await fetch(`${srv.base}/index/api/version?secret=${srv.secret}`)).arrayBuffer();
    if (srv.sslPort) await httpsGet(srv.sslPort);
    await stunBinding(srv.icePort);
    await stunBinding(srv.mediaPort, 300);
    process.kill(pid, 'SIGHUP'); await sleep(500);
    await sleep(1000);
  } finally {
    await stop(srv, 'SIGTERM', pid);
  }
  const used = new Set();
  for (const line of fs.readFileSync(trace, 'utf8').split('\n')) {
    const m = /^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)/.exec(line);
    if (m) used.add(m[1]);
  }
  record(t, 'distinct system calls', used.size);
  const denied = [...used].filter((s) => !allowed.has(s)).sort();
  assert.ok(used.size > 20, `strace saw too few calls (${used.size}): ${[...used].join(' ')}`);
  assert.deepEqual(denied, [], `calls outside SystemCallFilter (${SERVICE.SystemCallFilter.join(' ; ')}) would kill the service with SIGSYS; all calls: ${[...used].sort().join(' ')}`);
});

// ---- the Dockerfile ----

test('Dockerfile: EXPOSE lists the default ports of the binary, ENTRYPOINT the binary', () => {
  requireBinary();
  const text = fs.readFileSync(DOCKERFILE, 'utf8');
  const expose = new Set((/^EXPOSE\s+(.+)$/m.exec(text) || [, ''])[1].trim().split(/\s+/));
  const dump = spawnSync(BIN, ['--dump-config'], { encoding: 'utf8', env: { PATH: process.env.PATH } }).stdout;
  const ports = {};
  let section = '';
  for (const line of dump.split('\n')) {
    const s = /^\[(\w+)\]/.exec(line);
    if (s) section = s[1];
    const kv = /^(\w+)=(\d+)$/.exec(line);
    if (kv) ports[`${section}.${kv[1]}`] = Number(kv[2]);
  }
  const want = [
    [`${ports['http.port']}/tcp`, 'http.port'],
    [`${ports['rtc.port']}/udp`, 'rtc.port'],
    [`${ports['rtc.tcpPort']}/tcp`, 'rtc.tcpPort'],
    [`${ports['rtc.icePort']}/udp`, 'rtc.icePort'],
    [`${ports['rtc.iceTcpPort']}/tcp`, 'rtc.iceTcpPort'],
  ];
  if (ports['http.sslport']) want.push([`${ports['http.sslport']}/tcp`, 'http.sslport']);
  for (const [p, key] of want) assert.ok(expose.has(p), `EXPOSE lacks ${p} ([${key.replace('.', '] ')} default)`);
  assert.match(text, /^ENTRYPOINT \["\/usr\/local\/bin\/weir"\]$/m);
  assert.match(text, /cargo build --release --locked -p weir/);
  assert.match(text, /^USER weir$/m, 'runs as a non-root user');
});

function dockerAvailable() {
  if (!which('docker')) return false;
  return spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 20000 }).status === 0;
}

test('docker build of the Dockerfile; the image serves GET / and stops on docker stop', { timeout: 3600000 }, async (t) => {
  if (!dockerAvailable()) { t.skip('Docker daemon not available: image not built'); return; }
  const tag = `weir-packaging-test:${process.pid}`;
  const b = spawnSync('docker', ['build', '-t', tag, REPO_ROOT], { encoding: 'utf8', timeout: 3500000, maxBuffer: 256 << 20, env: { ...process.env, DOCKER_BUILDKIT: '1' } });
  assert.equal(b.status, 0, `docker build failed:\n${`${b.stdout}${b.stderr}`.slice(-6000)}`);
  const port = await freeTcpPort();
  const name = `weir-packaging-${process.pid}`;
  const run = spawnSync('docker', ['run', '-d', '--rm', '--name', name, '-p', `127.0.0.1:${port}:8080`, tag], { encoding: 'utf8' });
  assert.equal(run.status, 0, `docker run: ${run.stderr}`);
  try {
    let status = null;
    for (let i = 0; i < 100 && status !== 200; i++) {
      try { const r = await fetch(`http://127.0.0.1:${port}/`); await r.arrayBuffer(); status = r.status; } catch { await sleep(200); }
    }
    assert.equal(status, 200, `GET / on the container:\n${spawnSync('docker', ['logs', name], { encoding: 'utf8' }).stderr}`);
    const t0 = Date.now();
    const st = spawnSync('docker', ['stop', '-t', '15', name], { encoding: 'utf8' });
    record(t, 'docker stop ms', Date.now() - t0);
    assert.equal(st.status, 0, st.stderr);
  } finally {
    spawnSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
    spawnSync('docker', ['rmi', tag], { stdio: 'ignore' });
  }
});
