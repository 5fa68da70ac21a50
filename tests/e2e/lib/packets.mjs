// Hostile datagrams for the media port (robustness tests). Everything is sent to 127.0.0.1 only.
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import zlib from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(buf) >>> 0;
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function attr(type, value) {
  const len = value.length;
  const pad = (4 - (len % 4)) % 4;
  const b = Buffer.alloc(4 + len + pad);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(len, 2);
  value.copy(b, 4);
  return b;
}

/**
 * A well-formed STUN Binding Request (RFC 5389) with USERNAME, PRIORITY, ICE-CONTROLLING,
 * MESSAGE-INTEGRITY keyed with `password` and FINGERPRINT.
 */
export function stunBindingRequest(username, password = crypto.randomBytes(16).toString('hex')) {
  const txid = crypto.randomBytes(12);
  const prio = Buffer.alloc(4); prio.writeUInt32BE(1853824767, 0);
  let attrs = Buffer.concat([
    attr(0x0006, Buffer.from(username, 'utf8')),
    attr(0x0024, prio),
    attr(0x802a, crypto.randomBytes(8)),
  ]);
  const header = (extra) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(0x0001, 0);
    h.writeUInt16BE(attrs.length + extra, 2);
    h.writeUInt32BE(0x2112a442, 4);
    txid.copy(h, 8);
    return h;
  };
  // MESSAGE-INTEGRITY covers the header with a length that includes the MI attribute (24 bytes).
  const mi = crypto.createHmac('sha1', Buffer.from(password, 'utf8')).update(Buffer.concat([header(24), attrs])).digest();
  attrs = Buffer.concat([attrs, attr(0x0008, mi)]);
  // FINGERPRINT covers everything before it with a length that includes FINGERPRINT (8 bytes).
  const fp = Buffer.alloc(4);
  fp.writeUInt32BE((crc32(Buffer.concat([header(8), attrs])) ^ 0x5354554e) >>> 0, 0);
  attrs = Buffer.concat([attrs, attr(0x8028, fp)]);
  return Buffer.concat([header(0), attrs]);
}

export function fakeRtp(pt = 96, payloadLen = 200) {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = pt & 0x7f;
  h.writeUInt16BE(crypto.randomInt(0, 65536), 2);
  h.writeUInt32BE(crypto.randomInt(0, 2 ** 32 - 1), 4);
  h.writeUInt32BE(crypto.randomInt(0, 2 ** 32 - 1), 8);
  return Buffer.concat([h, crypto.randomBytes(payloadLen)]);
}

export function fakeRtcpSenderReport() {
  const b = Buffer.alloc(28);
  b[0] = 0x80; b[1] = 200; b.writeUInt16BE(6, 2);
  crypto.randomBytes(24).copy(b, 4);
  return b;
}

export function fakeRtcpPli() {
  const b = Buffer.alloc(12);
  b[0] = 0x81; b[1] = 206; b.writeUInt16BE(2, 2);
  crypto.randomBytes(8).copy(b, 4);
  return b;
}

export function fakeRtcpBye() {
  const b = Buffer.alloc(8);
  b[0] = 0x81; b[1] = 203; b.writeUInt16BE(1, 2);
  crypto.randomBytes(4).copy(b, 4);
  return b;
}

/** Bytes that look like a DTLS record (content type 22, DTLS 1.2) with a random body. */
export function fakeDtls() {
  const body = crypto.randomBytes(100);
  const h = Buffer.from([22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, body.length]);
  return Buffer.concat([h, body]);
}

/** The named hostile datagrams, each [label, Buffer]. */
export function hostileDatagrams({ knownUfragPair = null } = {}) {
  const list = [];
  for (const n of [1, 2, 7, 20, 64, 200, 1200, 1500]) list.push([`random ${n} bytes`, crypto.randomBytes(n)]);
  list.push(['empty datagram', Buffer.alloc(0)]);
  const stun = stunBindingRequest('nosuchufrag:alsonot');
  list.push(['truncated STUN header (10 bytes)', stun.subarray(0, 10)]);
  list.push(['STUN header only, length claims attributes', stun.subarray(0, 20)]);
  list.push(['STUN binding, truncated attributes', stun.subarray(0, stun.length - 9)]);
  list.push(['STUN binding request, unknown USERNAME', stun]);
  list.push(['STUN binding request, no colon in USERNAME', stunBindingRequest('x'.repeat(300))]);
  if (knownUfragPair) {
    // A live session's USERNAME with a wrong MESSAGE-INTEGRITY: must not move the session.
    list.push(['STUN binding request, live USERNAME, wrong integrity', stunBindingRequest(knownUfragPair, 'wrongpassword')]);
  }
  const stunResp = Buffer.from(stun); stunResp.writeUInt16BE(0x0101, 0);
  list.push(['unsolicited STUN binding success response', stunResp]);
  for (const pt of [96, 111, 0, 127]) list.push([`fake RTP pt=${pt} random payload`, fakeRtp(pt, 160)]);
  list.push(['fake RTP header only', fakeRtp(96, 0)]);
  list.push(['fake RTCP sender report', fakeRtcpSenderReport()]);
  list.push(['fake RTCP PLI', fakeRtcpPli()]);
  list.push(['fake RTCP BYE', fakeRtcpBye()]);
  list.push(['fake RTCP compound SR+BYE', Buffer.concat([fakeRtcpSenderReport(), fakeRtcpBye()])]);
  list.push(['DTLS-looking record', fakeDtls()]);
  list.push(['DTLS content type, 3 bytes', Buffer.from([22, 0xfe, 0xfd])]);
  return list;
}

/** Send every hostile datagram `rounds` times from one or more fresh sockets. */
export async function sendUdpGarbage(port, datagrams, { rounds = 3, host = '127.0.0.1' } = {}) {
  if (host !== '127.0.0.1' && host !== '::1') throw new Error('tests only send to loopback');
  let sent = 0;
  for (let r = 0; r < rounds; r++) {
    const sock = dgram.createSocket('udp4');
    await new Promise((res, rej) => sock.bind(0, '127.0.0.1', (e) => (e ? rej(e) : res())));
    for (const [, buf] of datagrams) {
      await new Promise((res) => sock.send(buf, port, host, () => res()));
      sent++;
    }
    await new Promise((res) => setTimeout(res, 50));
    await new Promise((res) => sock.close(res));
  }
  return sent;
}

/** Connect to the ICE-TCP port and send garbage (framed and unframed), then close. */
export async function sendTcpGarbage(port, host = '127.0.0.1') {
  if (host !== '127.0.0.1' && host !== '::1') throw new Error('tests only send to loopback');
  const results = [];
  const payloads = [
    ['unframed random bytes', crypto.randomBytes(300)],
    ['RFC 4571 frame of random bytes', (() => { const p = crypto.randomBytes(200); const b = Buffer.alloc(2); b.writeUInt16BE(p.length); return Buffer.concat([b, p]); })()],
    ['RFC 4571 frame with unknown STUN USERNAME', (() => { const p = stunBindingRequest('nosuch:ufrag'); const b = Buffer.alloc(2); b.writeUInt16BE(p.length); return Buffer.concat([b, p]); })()],
    ['frame length 65535, truncated', Buffer.from([0xff, 0xff, 1, 2, 3])],
    ['HTTP request on media port', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
  ];
  for (const [label, buf] of payloads) {
    const r = await new Promise((resolve) => {
      const sock = net.connect({ port, host });
      const done = (how) => { sock.destroy(); resolve(`${label}: ${how}`); };
      sock.setTimeout(1500, () => done('sent, no close within 1.5 s'));
      sock.on('error', (e) => done(`error ${e.code || e.message}`));
      sock.on('connect', () => sock.write(buf, () => setTimeout(() => done('sent'), 100)));
    });
    results.push(r);
  }
  return results;
}
