// Transports and listeners in real Chromium: WebRTC media over ICE-TCP only ([rtc]
// protocol=tcp), WHIP/WHEP and media over IPv6 loopback, WHIP over HTTPS ([http] sslport) from
// an HTTPS page, and the HTTPS certificate reloaded on SIGHUP.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { launchBrowser } from './lib/browser.mjs';
import { closePages } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { startServer } from './lib/server.mjs';
import { statLine, streamName, waitFor } from './lib/util.mjs';

// The file's own server offers TCP candidates only; the Host of the request picks the address
// (externIP empty), so a request to [::1] gets ::1 candidates.
const ctx = e2eFile('net', {
  serverEnv: { WEIR_RTC_PROTOCOL: 'tcp', WEIR_RTC_EXTERNIP: '' },
  browserArgs: ['--ignore-certificate-errors'],
});

// The IPv6 address the IPv6 test uses. Chromium gathers no candidate on `::1` (WebRTC skips
// IPv6 loopback even with --allow-loopback-in-peer-connection), so the test needs an address on
// a real interface: WEIR_E2E_IPV6_ADDR when given, else (in scripts/test.sh's private network
// namespace, WEIR_E2E_PRIVATE_NETNS=1) a veth pair with a ULA address that the test adds and
// removes itself. Traffic to it still stays inside the namespace (local routing table).
const V6_OWN = 'fd00:57::1';
const V6 = process.env.WEIR_E2E_IPV6_ADDR || V6_OWN;

/** Whether this namespace has the IPv6 address `V6` (bindable). */
async function hasIpv6Address() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port: 0, host: V6 }, () => srv.close(() => resolve(true)));
  });
}

/** Adds the veth pair carrying `V6_OWN` (private namespace only); returns its remover or null. */
function addOwnIpv6() {
  if (process.env.WEIR_E2E_IPV6_ADDR || process.env.WEIR_E2E_PRIVATE_NETNS !== '1') return null;
  const ip = (...args) => execFileSync('ip', args, { stdio: 'pipe' });
  try {
    ip('link', 'add', 'weir6a', 'type', 'veth', 'peer', 'name', 'weir6b');
    ip('addr', 'add', `${V6_OWN}/64`, 'dev', 'weir6a', 'nodad');
    ip('link', 'set', 'weir6a', 'up');
    ip('link', 'set', 'weir6b', 'up');
  } catch (e) {
    try { ip('link', 'del', 'weir6a'); } catch { /* not created */ }
    throw new Error(`could not add an IPv6 test address in the private namespace: ${e.stderr || e.message}`);
  }
  return () => { try { ip('link', 'del', 'weir6a'); } catch { /* already gone */ } };
}

/** A self-signed certificate for 127.0.0.1 / ::1 / localhost, written to `dir` (openssl). */
function makeCert(dir, tag) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${key}.tmp`, '-out', `${cert}.tmp`, '-days', '2', '-subj', `/CN=weir-e2e-${tag}`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
  ], { stdio: 'ignore' });
  // Renamed into place so that a reload never reads half a file.
  fs.renameSync(`${key}.tmp`, key);
  fs.renameSync(`${cert}.tmp`, cert);
  return { cert, key };
}

/** SHA-256 fingerprint of the certificate the server presents on 127.0.0.1:port. */
function fingerprint(port) {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const fp = sock.getPeerCertificate().fingerprint256;
      sock.end();
      resolve(fp);
    });
    sock.once('error', reject);
    sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('TLS connect timed out')); });
  });
}

/** Publishes H264 from a fresh page and waits until it is sent. */
async function publisher(pages, origin, url, browser = ctx.browser) {
  const pub = await browser.newPage('pub', origin);
  pages.push(pub);
  const p = await pub.publish({ url, codec: 'H264', signaling: 'whip', name: 'pub' });
  const st = await pub.waitStats('pub', (s) => s.connectionState === 'connected' && s.outVideo && s.outVideo.framesEncoded > 0, 20000, 'publisher sending');
  return { page: pub, signal: p, stats: st };
}

ctx.test('ICE-TCP only: [rtc] protocol=tcp, Chromium publishes and plays over TCP', { timeout: 45000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('tcponly');
  const pages = [];
  try {
    const pub = await publisher(pages, s.base, s.url(`/whip/live/${stream}`));
    assert.ok(pub.signal.answerCandidates.length > 0, 'the answer has candidates');
    assert.ok(pub.signal.answerCandidates.every((c) => / tcp /i.test(c) && /tcptype passive/.test(c)),
      `publisher answer: only passive TCP candidates: ${pub.signal.answerCandidates.join(' | ')}`);
    assert.equal(pub.stats.pair && pub.stats.pair.remote.protocol, 'tcp', `publisher pair is TCP: ${JSON.stringify(pub.stats.pair)}`);
    assert.equal(pub.stats.pair.local.protocol, 'tcp');

    const player = await ctx.browser.newPage('play', s.base);
    pages.push(player);
    const play = await player.play({ url: s.url(`/whep/live/${stream}`), signaling: 'whep', name: 'play' });
    assert.ok(play.answerCandidates.every((c) => / tcp /i.test(c)), `player answer: only TCP: ${play.answerCandidates.join(' | ')}`);
    const st = await player.waitDecoding('play', 30, 25000);
    assert.equal(st.pair.remote.protocol, 'tcp', `player pair remote is TCP: ${JSON.stringify(st.pair)}`);
    assert.equal(st.pair.local.protocol, 'tcp', `player pair local is TCP: ${JSON.stringify(st.pair)}`);
    assert.equal(st.pair.remote.port, s.rtcPort);
    ctx.log(t, 'tcp-only player', `${statLine(st)} pair ${JSON.stringify(st.pair.remote)}`);
  } finally {
    await closePages(pages);
  }
});

ctx.test('preferred_tcp=1: UDP and TCP offered, TCP candidates rank first and Chromium selects TCP', { timeout: 45000 }, async (t) => {
  const s = await startServer('net-prefer-tcp', { WEIR_RTC_PROTOCOL: 'all', WEIR_RTC_PREFERRED_TCP: '1' });
  const stream = streamName('prefertcp');
  const pages = [];
  try {
    const pub = await publisher(pages, s.base, s.url(`/whip/live/${stream}`));
    const cands = pub.signal.answerCandidates;
    const prio = (c) => Number(c.split(' ')[3]);
    const tcp = cands.filter((c) => / tcp /i.test(c));
    const udp = cands.filter((c) => / udp /i.test(c));
    assert.ok(tcp.length > 0 && udp.length > 0, `both transports offered: ${cands.join(' | ')}`);
    assert.ok(Math.min(...tcp.map(prio)) > Math.max(...udp.map(prio)), `TCP candidates have the higher priority: ${cands.join(' | ')}`);
    assert.equal(pub.stats.pair && pub.stats.pair.remote.protocol, 'tcp', `publisher pair is TCP: ${JSON.stringify(pub.stats.pair)}`);
    const player = await ctx.browser.newPage('play', s.base);
    pages.push(player);
    await player.play({ url: s.url(`/whep/live/${stream}`), signaling: 'whep', name: 'play' });
    const st = await player.waitDecoding('play', 30, 25000);
    assert.equal(st.pair && st.pair.remote.protocol, 'tcp', `player pair is TCP: ${JSON.stringify(st.pair)}`);
    ctx.log(t, 'prefer-tcp player', `${statLine(st)} pair ${JSON.stringify(st.pair)}`);
  } finally {
    await closePages(pages);
    await s.stop();
  }
});

ctx.test(`IPv6: WHIP/WHEP to http://[${V6}]:port, IPv6 candidates only, media over IPv6`, { timeout: 45000 }, async (t) => {
  const removeOwnIpv6 = addOwnIpv6();
  t.after(() => { if (removeOwnIpv6) removeOwnIpv6(); });
  if (!(await hasIpv6Address())) {
    t.skip(`IPv6 address ${V6} is not configured here (run in scripts/test.sh's network namespace as root, or set WEIR_E2E_IPV6_ADDR): cannot test IPv6`);
    return;
  }
  // UDP and TCP candidates here (protocol=all), both on the IPv6 address the request named.
  const s6 = await startServer('net-ipv6', { WEIR_RTC_EXTERNIP: '' });
  const base6 = `http://[${V6}]:${s6.httpPort}`;
  // getUserMedia needs a secure context and http://[fd00:...] is not one (only loopback is), so
  // this test has its own browser that treats the server's IPv6 origin as secure.
  const browser6 = await launchBrowser({ extraArgs: [`--unsafely-treat-insecure-origin-as-secure=${base6}`] });
  const stream = streamName('v6');
  const pages = [];
  try {
    const pub = await publisher(pages, base6, `${base6}/whip/live/${stream}`, browser6);
    assert.ok(pub.signal.answerCandidates.length > 0 && pub.signal.answerCandidates.every((c) => c.includes(` ${V6} `)),
      `publisher candidates on ${V6}: ${pub.signal.answerCandidates.join(' | ')}`);
    assert.equal(pub.stats.pair && pub.stats.pair.remote.address, V6, `publisher pair: ${JSON.stringify(pub.stats.pair)}`);

    const player = await browser6.newPage('play6', base6);
    pages.push(player);
    const play = await player.play({ url: `${base6}/whep/live/${stream}`, signaling: 'whep', name: 'play' });
    assert.ok(play.answerCandidates.every((c) => c.includes(` ${V6} `)), `player candidates on ${V6}: ${play.answerCandidates.join(' | ')}`);
    const st = await player.waitDecoding('play', 30, 25000);
    assert.equal(st.pair.remote.address, V6, `player pair remote is ${V6}: ${JSON.stringify(st.pair)}`);
    // The server saw the signaling peer over IPv6 too.
    const sessions = await s6.listSessions();
    ctx.log(t, 'ipv6 player', `${statLine(st)} pair ${JSON.stringify(st.pair)} sessions ${sessions.length}`);
  } finally {
    await closePages(pages);
    await browser6.close();
    await s6.stop();
  }
});

ctx.test('HTTPS: a page served over HTTPS publishes with WHIP over HTTPS, a player decodes; SIGHUP reloads the certificate', { timeout: 50000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weir-e2e-tls-'));
  const files = makeCert(dir, 'one');
  const s = await startServer('net-https', {
    WEIR_HTTP_SSLPORT: 'auto', WEIR_HTTP_SSLCERT: files.cert, WEIR_HTTP_SSLKEY: files.key,
  });
  const httpsBase = `https://127.0.0.1:${s.sslPort}`;
  const stream = streamName('https');
  const pages = [];
  try {
    // A real page of the server, loaded over TLS.
    const demo = await ctx.browser.openUrl('demo', `${httpsBase}/`);
    pages.push(demo);
    assert.equal(demo.response && demo.response.status(), 200, 'GET / over HTTPS');
    const sec = await demo.eval(() => ({ protocol: location.protocol, secure: window.isSecureContext }));
    assert.deepEqual(sec, { protocol: 'https:', secure: true });

    const pub = await ctx.browser.newPage('pubs', httpsBase);
    pages.push(pub);
    assert.equal(await pub.eval(() => location.protocol), 'https:');
    const p = await pub.publish({ url: `${httpsBase}/whip/live/${stream}`, codec: 'H264', signaling: 'whip', name: 'pub' });
    assert.equal(p.status, 201);
    assert.ok(p.location, 'WHIP Location over HTTPS');
    await pub.waitStats('pub', (st) => st.connectionState === 'connected' && st.outVideo && st.outVideo.framesEncoded > 0, 20000, 'publisher sending');

    const player = await ctx.browser.newPage('plays', httpsBase);
    pages.push(player);
    await player.play({ url: `${httpsBase}/whep/live/${stream}`, signaling: 'whep', name: 'play' });
    const st = await player.waitDecoding('play', 30, 25000);
    ctx.log(t, 'https player', statLine(st));

    // Certificate reload: new files, SIGHUP, the next handshake presents the new certificate.
    const before = await fingerprint(s.sslPort);
    makeCert(dir, 'two');
    s.proc.kill('SIGHUP');
    const after = await waitFor(async () => {
      const fp = await fingerprint(s.sslPort);
      return fp !== before ? fp : { __notYet: true, last: fp };
    }, 8000, { interval: 200, what: 'a new certificate after SIGHUP' });
    assert.notEqual(after, before);
    assert.ok(s.alive(), 'the server survives SIGHUP');
    ctx.log(t, 'certificate reload', { before: before.slice(0, 23), after: after.slice(0, 23) });
  } finally {
    await closePages(pages);
    await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
