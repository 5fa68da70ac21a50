// Start/stop the Weir server under test on free loopback ports, and talk to its HTTP API.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(E2E_DIR, '../..');
export const ARTIFACTS = path.join(E2E_DIR, 'artifacts');

export const API_SECRET = 'testsecret';
export const RTC_TIMEOUT_SEC = 4;
export const MAX_STREAM_WAIT_MS = 3000;
export const CONTINUE_PUSH_MS = 15000;

export function weirBinary() {
  return process.env.WEIR_BIN ? path.resolve(process.env.WEIR_BIN) : path.join(REPO_ROOT, 'target/release/weir');
}

export class ServerStartError extends Error {}

function listenTcp(port, host) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ port, host, exclusive: true }, () => resolve(srv));
  });
}

function bindUdp(port, host) {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    sock.once('error', (e) => { sock.close(); reject(e); });
    sock.bind({ port, address: host, exclusive: true }, () => resolve(sock));
  });
}

const closeTcp = (s) => new Promise((r) => s.close(() => r()));
const closeUdp = (s) => new Promise((r) => s.close(() => r()));

/** A TCP port that is free on all interfaces (the server may bind 0.0.0.0). */
export async function freeTcpPort() {
  const srv = await listenTcp(0, '0.0.0.0');
  const { port } = srv.address();
  await closeTcp(srv);
  return port;
}

/** A port number that is free for both UDP and TCP (WEIR_RTC_PORT == WEIR_RTC_TCPPORT). */
export async function freeUdpAndTcpPort(avoid = []) {
  for (let i = 0; i < 50; i++) {
    const udp = await bindUdp(0, '0.0.0.0');
    const { port } = udp.address();
    try {
      if (avoid.includes(port)) continue;
      const tcp = await listenTcp(port, '0.0.0.0').catch(() => null);
      if (!tcp) continue;
      await closeTcp(tcp);
      return port;
    } finally {
      await closeUdp(udp);
    }
  }
  throw new Error('could not find a port free for both UDP and TCP');
}

export function tailFile(file, lines = 80) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const all = text.split('\n');
    return all.slice(Math.max(0, all.length - lines - 1)).join('\n');
  } catch (e) {
    return `(no log: ${e.message})`;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The server reads every WEIR_<SECTION>_<KEY> variable as config: don't hand it the harness's own
// variables (WEIR_BIN, WEIR_CHROMIUM, WEIR_E2E_*). Other WEIR_* variables pass through on purpose.
const HARNESS_VARS = /^WEIR_(BIN|CHROMIUM|E2E_.*)$/;
function serverBaseEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!HARNESS_VARS.test(k)) env[k] = v;
  env.NO_COLOR = '1'; // plain log file
  return env;
}

export class WeirServer {
  constructor({ name, bin, httpPort, rtcPort, logFile, env }) {
    Object.assign(this, { name, bin, httpPort, rtcPort, logFile, env });
    this.base = `http://127.0.0.1:${httpPort}`;
    this.host = `127.0.0.1:${httpPort}`;
    this.proc = null;
    this.exit = null; // {code, signal} once exited
  }

  url(p) { return new URL(p, this.base).href; }

  logTail(lines = 80) { return tailFile(this.logFile, lines); }

  /** Print the tail of the server log (used on failure). */
  dumpLog(reason = '', lines = 80) {
    const head = `----- weir log tail (${this.logFile})${reason ? ` after: ${reason}` : ''} -----`;
    process.stderr.write(`\n${head}\n${this.logTail(lines)}\n${'-'.repeat(head.length)}\n`);
  }

  alive() { return this.proc && this.exit === null; }

  async start(timeoutMs = Number(process.env.WEIR_E2E_START_TIMEOUT_MS || 30000)) {
    if (!fs.existsSync(this.bin)) {
      throw new ServerStartError(
        `weir binary not found at ${this.bin}. Build it first (cargo build --release -j2; scripts/test.sh does this) ` +
        'or point WEIR_BIN at another binary.');
    }
    fs.mkdirSync(path.dirname(this.logFile), { recursive: true });
    const fd = fs.openSync(this.logFile, 'w');
    fs.writeSync(fd, `# ${new Date().toISOString()} ${this.bin}\n# env: ${Object.entries(this.env).map(([k, v]) => `${k}=${v}`).join(' ')}\n`);
    this.proc = spawn(this.bin, [], {
      cwd: REPO_ROOT,
      env: { ...serverBaseEnv(), ...this.env },
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    this.proc.on('exit', (code, signal) => { this.exit = { code, signal }; });
    this.proc.on('error', (e) => { this.exit = { code: null, signal: null, error: e.message }; });

    const t0 = Date.now();
    let last = 'no answer';
    while (Date.now() - t0 < timeoutMs) {
      if (this.exit) {
        const how = this.exit.error ? `failed to start (${this.exit.error})` : `exited with code ${this.exit.code}${this.exit.signal ? ` (signal ${this.exit.signal})` : ''}`;
        throw new ServerStartError(
          `weir server ${how} before answering GET ${this.base}/ — the server does not run yet (not implemented?) or crashed at startup.\n` +
          `binary: ${this.bin}\nlog: ${this.logFile}\n----- log tail -----\n${this.logTail(40)}`);
      }
      try {
        const resp = await fetch(`${this.base}/`, { signal: AbortSignal.timeout(1000) });
        await resp.arrayBuffer();
        if (resp.status === 200) {
          this.startupMs = Date.now() - t0;
          return this;
        }
        last = `HTTP ${resp.status}`;
      } catch (e) {
        last = e.cause?.code || e.message;
      }
      await sleep(100);
    }
    await this.stop();
    throw new ServerStartError(
      `weir server did not answer 200 on GET ${this.base}/ within ${timeoutMs} ms (last: ${last}).\n` +
      `log: ${this.logFile}\n----- log tail -----\n${this.logTail(40)}`);
  }

  async stop() {
    if (!this.proc || this.exit) return this.exit;
    const exited = new Promise((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGTERM');
    const t = await Promise.race([exited.then(() => 'exited'), sleep(3000).then(() => 'timeout')]);
    if (t === 'timeout' && !this.exit) {
      this.proc.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]);
    }
    return this.exit;
  }

  // ---- HTTP helpers (Node's fetch; all to 127.0.0.1) ----

  async request(method, p, { body, contentType, headers = {}, timeoutMs = 15000 } = {}) {
    const h = { ...headers };
    if (contentType) h['Content-Type'] = contentType;
    const t0 = Date.now();
    const resp = await fetch(this.url(p), { method, body, headers: h, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    const text = await resp.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: resp.status, headers: resp.headers, text, json, ms: Date.now() - t0 };
  }

  post(p, body, contentType = 'application/sdp', opts = {}) {
    return this.request('POST', p, { body, contentType, ...opts });
  }

  delete(p, opts = {}) { return this.request('DELETE', p, opts); }

  /** GET /api/v1/sessions -> array of sessions (asserts the envelope). */
  async listSessions() {
    const r = await this.request('GET', `/api/v1/sessions?secret=${API_SECRET}`);
    if (r.status !== 200 || !r.json || r.json.code !== 0 || !Array.isArray(r.json.data)) {
      throw new Error(`GET /api/v1/sessions: unexpected answer HTTP ${r.status} ${r.text.slice(0, 300)}`);
    }
    return r.json.data;
  }

  /** GET /api/v1/server -> data.engine (the media engine's send counters). */
  async engineCounters() {
    const r = await this.request('GET', `/api/v1/server?secret=${API_SECRET}`);
    if (r.status !== 200 || !r.json || r.json.code !== 0 || !r.json.data || !r.json.data.engine) {
      throw new Error(`GET /api/v1/server: unexpected answer HTTP ${r.status} ${r.text.slice(0, 300)}`);
    }
    return r.json.data.engine;
  }

  /** GET /api/v1/sessions/{id} -> {status, json, data}. */
  async sessionInfo(id) {
    const r = await this.request('GET', `/api/v1/sessions/${encodeURIComponent(id)}?secret=${API_SECRET}`);
    return { ...r, data: r.json && r.json.code === 0 ? r.json.data : undefined };
  }
}

/** A free TCP port not in `avoid`. */
async function freeTcpPortAvoiding(avoid) {
  for (let i = 0; i < 50; i++) {
    const p = await freeTcpPort();
    if (!avoid.includes(p)) return p;
  }
  throw new Error('could not find a free TCP port');
}

// Ports the harness always chooses itself, so that test files never collide on a default
// (the P2P signaling server would otherwise bind 3000/3001 in every file). A test can ask for a
// free port with the value 'auto' (e.g. serverEnv: {WEIR_RTC_SIGNALINGSSLPORT: 'auto'}).
const TCP_AUTO_PORTS = ['WEIR_RTC_SIGNALINGPORT', 'WEIR_RTC_SIGNALINGSSLPORT', 'WEIR_HTTP_SSLPORT'];
const UDP_TCP_AUTO_PORTS = ['WEIR_RTC_ICEPORT', 'WEIR_RTC_ICETCPPORT'];

async function resolveAutoPorts(env, taken) {
  for (const k of TCP_AUTO_PORTS) {
    if (env[k] === 'auto') { env[k] = String(await freeTcpPortAvoiding(taken)); taken.push(Number(env[k])); }
  }
  let iceAuto = null;
  for (const k of UDP_TCP_AUTO_PORTS) {
    if (env[k] === 'auto') {
      iceAuto = iceAuto || await freeUdpAndTcpPort(taken);
      env[k] = String(iceAuto);
    }
  }
  if (iceAuto) taken.push(iceAuto);
}

/**
 * Start a fresh server on free ports. `name` labels the log file under tests/e2e/artifacts/.
 * The P2P signaling server gets a free ws port (`server.signalingPort`) and no wss listener
 * unless `extraEnv` asks for one (`WEIR_RTC_SIGNALINGSSLPORT: 'auto'` -> `server.signalingSslPort`).
 */
export async function startServer(name, extraEnv = {}) {
  const httpPort = await freeTcpPort();
  const rtcPort = await freeUdpAndTcpPort([httpPort]);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const logFile = path.join(ARTIFACTS, `${name}-${stamp}.weir.log`);
  const env = {
    WEIR_HTTP_PORT: String(httpPort),
    WEIR_RTC_PORT: String(rtcPort),
    WEIR_RTC_TCPPORT: String(rtcPort),
    WEIR_RTC_EXTERNIP: '127.0.0.1',
    WEIR_RTC_TIMEOUTSEC: String(RTC_TIMEOUT_SEC),
    WEIR_PROTOCOL_CONTINUE_PUSH_MS: String(CONTINUE_PUSH_MS),
    WEIR_GENERAL_MAXSTREAMWAITMS: String(MAX_STREAM_WAIT_MS),
    WEIR_API_SECRET: API_SECRET,
    WEIR_LOG: process.env.WEIR_LOG || 'info',
    WEIR_RTC_SIGNALINGPORT: 'auto',
    WEIR_RTC_SIGNALINGSSLPORT: '0',
    // HTTPS only when a test asks for it (WEIR_HTTP_SSLPORT: 'auto' -> `server.sslPort`).
    WEIR_HTTP_SSLPORT: '0',
    // The embedded STUN/TURN server: one free port for UDP and TCP (`server.icePort`).
    WEIR_RTC_ICEPORT: 'auto',
    WEIR_RTC_ICETCPPORT: 'auto',
    ...extraEnv,
  };
  await resolveAutoPorts(env, [httpPort, rtcPort]);
  const srv = new WeirServer({ name, bin: weirBinary(), httpPort, rtcPort, logFile, env });
  srv.signalingPort = Number(env.WEIR_RTC_SIGNALINGPORT) || null;
  srv.signalingSslPort = Number(env.WEIR_RTC_SIGNALINGSSLPORT) || null;
  srv.sslPort = Number(env.WEIR_HTTP_SSLPORT) || null;
  srv.icePort = Number(env.WEIR_RTC_ICEPORT) || null;
  srv.iceTcpPort = Number(env.WEIR_RTC_ICETCPPORT) || null;
  await srv.start();
  return srv;
}
