// Echo sessions (ZLMediaKit type=echo: the browser's own media comes back to it) and ICE-TCP
// (RFC 6544 passive candidates, RFC 4571 framing on the media port).
import assert from 'node:assert/strict';
import { closePages, expectServerSession } from './lib/checks.mjs';
import { e2eFile } from './lib/harness.mjs';
import { statLine, streamName } from './lib/util.mjs';

const ctx = e2eFile('echo_tcp');

ctx.test('echo: ZLMediaKit /index/api/webrtc?type=echo loops a sendrecv camera back', { timeout: 60000 }, async (t) => {
  const s = ctx.server;
  const page = await ctx.browser.newPage('echo', s.base);
  try {
    const res = await page.eval(async (url) => {
      const media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
      const pc = new RTCPeerConnection();
      window.echoPc = pc;
      for (const track of media.getTracks()) pc.addTransceiver(track, { direction: 'sendrecv' });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((r) => { pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r(); setTimeout(r, 1000); });
      const resp = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain;charset=utf-8' }, body: pc.localDescription.sdp });
      const json = await resp.json();
      if (json.code !== 0) return json;
      await pc.setRemoteDescription({ type: 'answer', sdp: json.sdp });
      return { code: json.code, id: json.id };
    }, s.url(`/index/api/webrtc?type=echo&app=live&stream=${streamName('echo')}`));
    assert.equal(res.code, 0, `echo answer: ${JSON.stringify(res)}`);
    const info = await expectServerSession(s, res.id, { kind: 'echo', dir: 'rx' });
    let last = null;
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      last = await page.eval(async () => {
        const out = {};
        (await window.echoPc.getStats()).forEach((r) => {
          if (r.type === 'inbound-rtp') out[r.kind] = { framesDecoded: r.framesDecoded, packetsReceived: r.packetsReceived, frameWidth: r.frameWidth };
        });
        return out;
      });
      if (last.video && last.video.framesDecoded > 60 && last.audio && last.audio.packetsReceived > 50) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(last.video && last.video.framesDecoded > 60, `echoed video decodes: ${JSON.stringify(last)}`);
    assert.ok(last.video.frameWidth > 0);
    assert.ok(last.audio && last.audio.packetsReceived > 50, `echoed audio arrives: ${JSON.stringify(last)}`);
    ctx.log(t, 'echo', { session: info.id, ...last });
  } finally {
    await closePages([page]);
  }
});

ctx.test('ICE-TCP: a player offered only a TCP candidate connects over TCP and decodes', { timeout: 60000 }, async (t) => {
  const s = ctx.server;
  const stream = streamName('tcp');
  const pages = [];
  try {
    const pub = await ctx.browser.newPage('pub', s.base);
    pages.push(pub);
    await pub.publish({ url: s.url(`/whip/live/${stream}`), codec: 'H264', signaling: 'whip', name: 'pub' });
    await pub.waitStats('pub', (st) => st.connectionState === 'connected' && st.outVideo && st.outVideo.framesEncoded > 0, 20000, 'publisher sending');

    // ZLMediaKit's cand_tcp replaces every candidate of the answer: only ICE-TCP is possible.
    const player = await ctx.browser.newPage('tcpPlayer', s.base);
    pages.push(player);
    const play = await player.play({
      url: s.url(`/index/api/whep?app=live&stream=${stream}&cand_tcp=127.0.0.1:${s.rtcPort}`),
      signaling: 'zlm-whep',
      name: 'play',
    });
    assert.ok(play.answerCandidates.every((c) => / tcp /i.test(c)), `only TCP candidates: ${play.answerCandidates.join(' | ')}`);
    const st = await player.waitDecoding('play', 60, 30000);
    assert.equal(st.pair.remote.protocol, 'tcp', `selected pair is TCP: ${JSON.stringify(st.pair)}`);
    assert.equal(st.pair.remote.port, s.rtcPort);
    const info = await expectServerSession(s, play.id, { kind: 'play', dir: 'tx' });
    assert.ok(info.remote_addrs.some((a) => a.startsWith('tcp://')), `server sees a TCP peer: ${info.remote_addrs}`);
    ctx.log(t, 'tcp player', statLine(st));
  } finally {
    await closePages(pages);
  }
});

ctx.test('plain STUN Binding on the media port is answered (SRS connectivity check)', { timeout: 20000 }, async (t) => {
  const dgram = await import('node:dgram');
  const crypto = await import('node:crypto');
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise((r) => sock.bind(0, '127.0.0.1', r));
    const txid = crypto.randomBytes(12);
    // RFC 8489 Binding request without attributes: type 0x0001, length 0, magic cookie.
    const req = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), txid]);
    const resp = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no STUN response from the media port')), 5000);
      sock.once('message', (msg) => { clearTimeout(timer); resolve(msg); });
      sock.send(req, ctx.server.rtcPort, '127.0.0.1');
    });
    assert.equal(resp.readUInt16BE(0), 0x0101, 'Binding success response');
    assert.ok(resp.subarray(8, 20).equals(txid), 'same transaction id');
    // Find XOR-MAPPED-ADDRESS (0x0020) and decode the port.
    let i = 20;
    let mappedPort = null;
    while (i + 4 <= resp.length) {
      const type = resp.readUInt16BE(i);
      const len = resp.readUInt16BE(i + 2);
      if (type === 0x0020) mappedPort = resp.readUInt16BE(i + 6) ^ 0x2112;
      i += 4 + Math.ceil(len / 4) * 4;
    }
    assert.equal(mappedPort, sock.address().port, 'XOR-MAPPED-ADDRESS carries our port');
    ctx.log(t, 'stun binding response bytes', resp.length);
  } finally {
    sock.close();
  }
});
