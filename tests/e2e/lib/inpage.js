// In-page WebRTC helpers for the Weir e2e suite.
//
// This file is evaluated inside a Chromium page with `page.evaluate(source)` (see browser.mjs).
// It installs `window.weir` and must stay plain browser JavaScript (no imports, no Node APIs).
// It does not depend on the server's demo pages: the harness loads a blank page on the server's
// origin (so fetch() is same-origin and Location headers are readable) and injects this file.
//
// Every function returns plain JSON-serialisable objects so Playwright can hand them to Node.
(() => {
  if (window.weir) return 'already-installed';

  const sessions = new Map(); // name -> session state
  let seq = 0;

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const now = () => performance.now();

  async function waitFor(predicate, timeoutMs = 10000, intervalMs = 100, what = 'condition') {
    const start = now();
    let last;
    for (;;) {
      last = await predicate();
      if (last) return last;
      if (now() - start > timeoutMs) throw new Error(`waitFor(${what}) timed out after ${timeoutMs} ms`);
      await sleep(intervalMs);
    }
  }

  class SignalError extends Error {
    constructor(message, info) {
      super(message);
      this.name = 'SignalError';
      Object.assign(this, info);
    }
  }

  function getSession(name) {
    const s = sessions.get(name);
    if (!s) throw new Error(`no such in-page session: ${name} (have: ${[...sessions.keys()].join(', ')})`);
    return s;
  }

  function newSession(role, name) {
    name = name || `${role}${++seq}`;
    if (sessions.has(name)) throw new Error(`in-page session ${name} already exists`);
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require', iceServers: [] });
    const s = {
      name, role, pc, t0: now(), timings: {}, events: [],
      trackEvents: 0, negotiationNeeded: 0, stream: null, video: null,
      renderedFrames: 0, firstFrameAt: null, firstFrameMeta: null, signal: null, decodedBySsrc: {},
    };
    const mark = (ev) => { s.events.push({ ev, t: Math.round(now() - s.t0) }); };
    pc.addEventListener('connectionstatechange', () => {
      mark(`connection:${pc.connectionState}`);
      if (pc.connectionState === 'connected' && s.timings.connected == null) s.timings.connected = Math.round(now() - s.t0);
    });
    pc.addEventListener('iceconnectionstatechange', () => mark(`ice:${pc.iceConnectionState}`));
    pc.addEventListener('signalingstatechange', () => mark(`signaling:${pc.signalingState}`));
    pc.addEventListener('negotiationneeded', () => { s.negotiationNeeded++; });
    sessions.set(name, s);
    return s;
  }

  // Restrict a transceiver to one video codec (plus RTX). `dir` is 'send' or 'recv'.
  function preferVideoCodec(transceiver, codec, dir) {
    const caps = (dir === 'send' ? RTCRtpSender : RTCRtpReceiver).getCapabilities('video');
    const want = `video/${String(codec).toUpperCase()}`.toLowerCase();
    let list = caps.codecs.filter((c) => c.mimeType.toLowerCase() === want);
    if (!list.length) throw new Error(`codec ${codec} not offered by this browser (${dir})`);
    if (want === 'video/h264') {
      // Constrained baseline, packetization-mode=1 first: what every server takes.
      const score = (c) => {
        const f = c.sdpFmtpLine || '';
        return (/packetization-mode=1/.test(f) ? 0 : 2) + (/profile-level-id=42e01f/i.test(f) ? 0 : 1);
      };
      list = list.slice().sort((a, b) => score(a) - score(b));
    }
    const rtx = caps.codecs.filter((c) => /\/rtx$/i.test(c.mimeType));
    transceiver.setCodecPreferences([...list, ...rtx]);
  }

  function waitGathering(pc, timeoutMs = 1000) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve('complete');
    return new Promise((resolve) => {
      const t = setTimeout(() => { pc.removeEventListener('icegatheringstatechange', h); resolve('timeout'); }, timeoutMs);
      const h = () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(t); pc.removeEventListener('icegatheringstatechange', h); resolve('complete'); }
      };
      pc.addEventListener('icegatheringstatechange', h);
    });
  }

  function attachVideo(s) {
    const v = document.createElement('video');
    v.muted = true; v.autoplay = true; v.playsInline = true;
    v.width = 320; v.height = 240;
    v.dataset.session = s.name;
    document.body.appendChild(v);
    s.video = v;
    s.stream = new MediaStream();
    const onFrame = (_t, meta) => {
      s.renderedFrames++;
      if (s.firstFrameAt == null) {
        // The callback's own timestamp is the rendering frame's start, which headless Chromium
        // can date well before the frame arrived (seen: 150 ms before the offer); the time the
        // callback runs is a safe upper bound.
        s.firstFrameAt = now();
        s.firstFrameMeta = { width: meta.width, height: meta.height, presentedFrames: meta.presentedFrames };
      }
      if (sessions.get(s.name) === s) v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
    s.pc.addEventListener('track', (e) => {
      s.trackEvents++;
      s.stream.addTrack(e.track);
      // Re-assign so the element picks up every track.
      v.srcObject = new MediaStream(s.stream.getTracks());
      v.play().catch(() => {});
      if (s.timings.firstTrack == null) s.timings.firstTrack = Math.round(now() - s.t0);
    });
  }

  function parseLocation(loc) {
    if (!loc) return {};
    const u = new URL(loc, location.origin);
    const out = { deleteUrl: u.href, relative: !/^[a-z]+:\/\//i.test(loc) };
    let m;
    if ((m = u.pathname.match(/^\/session\/([^/]+)\/([^/]+)$/))) {
      out.id = decodeURIComponent(m[1]); out.token = decodeURIComponent(m[2]); out.flavor = 'whip';
    } else if (/\/index\/api\/delete_webrtc$/.test(u.pathname)) {
      out.id = u.searchParams.get('id'); out.token = u.searchParams.get('token'); out.flavor = 'zlm';
    } else if (/^\/rtc\/v1\//.test(u.pathname)) {
      const sess = u.searchParams.get('session') || '';
      out.srsSession = sess; out.id = sess.split(':')[0]; out.token = u.searchParams.get('token'); out.flavor = 'srs';
    }
    return out;
  }

  // POST an offer with one of the supported signalling flavours. Returns the answer and session ids.
  // Throws SignalError (with .status/.body) unless the server accepted the offer.
  async function signal({ url, signaling, sdp }) {
    const t = now();
    if (signaling === 'zlm-webrtc') {
      const resp = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/plain;charset=utf-8' }, body: sdp });
      const body = await resp.text();
      let json = null;
      try { json = JSON.parse(body); } catch (e) { /* reported below */ }
      if (resp.status !== 200 || !json || json.code !== 0 || typeof json.sdp !== 'string') {
        throw new SignalError(`zlm-webrtc ${url}: HTTP ${resp.status} ${body.slice(0, 300)}`, { status: resp.status, body });
      }
      return { status: resp.status, id: json.id, answer: json.sdp, json, location: null, ms: Math.round(now() - t) };
    }
    if (!['whip', 'whep', 'zlm-whip', 'zlm-whep', 'srs-whep', 'srs-whip'].includes(signaling)) {
      throw new Error(`unknown signaling ${signaling}`);
    }
    const resp = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: sdp });
    const body = await resp.text();
    if (resp.status !== 201) {
      throw new SignalError(`${signaling} ${url}: HTTP ${resp.status} ${body.slice(0, 300)}`, { status: resp.status, body });
    }
    const loc = resp.headers.get('Location');
    return {
      status: resp.status, answer: body, location: loc, contentType: resp.headers.get('Content-Type'),
      ...parseLocation(loc), ms: Math.round(now() - t),
    };
  }

  const ufragOf = (sdp) => ((sdp || '').match(/a=ice-ufrag:(\S+)/) || [])[1] || null;
  // Codec names of the m=<kind> section of an SDP, in order (e.g. ['H264', 'rtx']).
  function codecsOf(sdp, kind) {
    const sec = (sdp || '').split(/\r?\n(?=m=)/).find((x) => x.startsWith(`m=${kind} `));
    if (!sec) return [];
    if (/^m=\S+ 0 /.test(sec)) return ['(rejected)'];
    const pts = sec.split(/\r?\n/)[0].split(' ').slice(3);
    return pts.map((pt) => ((sec.match(new RegExp(`a=rtpmap:${pt} ([^/\\s]+)`)) || [])[1] || pt));
  }

  function summary(s) {
    const r = s.signal || {};
    return {
      name: s.name, role: s.role, status: r.status, id: r.id, token: r.token, location: r.location,
      deleteUrl: r.deleteUrl, relativeLocation: r.relative, srsSession: r.srsSession,
      contentType: r.contentType, answerIceLite: /a=ice-lite/.test(r.answer || ''),
      answerCandidates: (r.answer || '').split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')),
      answerUfrag: ufragOf(r.answer), offerUfrag: ufragOf(s.offerSdp),
      answerVideoCodecs: codecsOf(r.answer, 'video'), answerAudioCodecs: codecsOf(r.answer, 'audio'),
      signalMs: r.ms, timings: { ...s.timings },
    };
  }

  async function addSendTracks(s, { codec = 'H264', video = true, audio = true, width = 640, height = 480, frameRate = 30 }) {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: video ? { width, height, frameRate } : false, audio: !!audio,
    });
    s.stream = stream;
    s.timings.getUserMedia = Math.round(now() - s.t0);
    const vt = stream.getVideoTracks()[0];
    const at = stream.getAudioTracks()[0];
    if (vt) {
      const tr = s.pc.addTransceiver(vt, { direction: 'sendonly', streams: [stream] });
      if (codec) preferVideoCodec(tr, codec, 'send');
    }
    if (at) s.pc.addTransceiver(at, { direction: 'sendonly', streams: [stream] });
  }

  function addRecvTransceivers(s, { video = true, audio = true, videoCodec = null }) {
    if (video) {
      const tr = s.pc.addTransceiver('video', { direction: 'recvonly' });
      if (videoCodec) preferVideoCodec(tr, videoCodec, 'recv');
    }
    if (audio) s.pc.addTransceiver('audio', { direction: 'recvonly' });
  }

  // Extension point: functions registered with window.weir.addHook(fn) run as
  // `await fn(pc, name, opts)` after the tracks are added and before the offer is created (the
  // DataChannel tests create their channels there, see datachannel_inpage.js). No hook: no change.
  const offerHooks = [];
  async function beforeOffer(s, opts) {
    for (const h of offerHooks) await h(s.pc, s.name, opts || {});
  }

  async function createLocalOffer(s, gatherMs) {
    const offer = await s.pc.createOffer();
    await s.pc.setLocalDescription(offer);
    s.timings.gathering = await waitGathering(s.pc, gatherMs);
    s.timings.offerReady = Math.round(now() - s.t0);
    return s.pc.localDescription.sdp;
  }

  async function finishSignal(s, opts) {
    try {
      s.signal = await signal({ url: opts.url, signaling: opts.signaling, sdp: s.offerSdp });
    } catch (e) {
      closeSession(s);
      throw e;
    }
    s.timings.answered = Math.round(now() - s.t0);
    await s.pc.setRemoteDescription({ type: 'answer', sdp: s.signal.answer });
    return summary(s);
  }

  // publish({url, codec: 'H264'|'VP8', signaling: 'whip'|'zlm-webrtc'|'zlm-whip'|'srs-whip', name?})
  async function publish(opts) {
    const s = newSession('publish', opts.name);
    try {
      await addSendTracks(s, opts);
      await beforeOffer(s, opts);
      s.offerSdp = await createLocalOffer(s, opts.gatherMs ?? 1000);
    } catch (e) { closeSession(s); throw e; }
    return finishSignal(s, { url: opts.url, signaling: opts.signaling || 'whip' });
  }

  // play({url, signaling: 'whep'|'zlm-webrtc'|'zlm-whep'|'srs-whep', videoCodec?, name?})
  async function play(opts) {
    const s = newSession('play', opts.name);
    try {
      attachVideo(s);
      addRecvTransceivers(s, opts);
      await beforeOffer(s, opts);
      s.offerSdp = await createLocalOffer(s, opts.gatherMs ?? 1000);
    } catch (e) { closeSession(s); throw e; }
    return finishSignal(s, { url: opts.url, signaling: opts.signaling || 'whep' });
  }

  // offer({kind: 'publish'|'play', codec?, videoCodec?, video?, audio?}) -> {name, sdp}
  // Builds a real browser offer without sending it (for negative tests driven from Node).
  async function offer(opts = {}) {
    const s = newSession(opts.kind === 'publish' ? 'offer-publish' : 'offer-play', opts.name);
    try {
      if (opts.kind === 'publish') await addSendTracks(s, opts);
      else addRecvTransceivers(s, opts);
      await beforeOffer(s, opts);
      s.offerSdp = await createLocalOffer(s, opts.gatherMs ?? 1000);
    } catch (e) { closeSession(s); throw e; }
    return { name: s.name, sdp: s.offerSdp };
  }

  // Two PeerConnections in this page, publisher -> player, with no server. Used by the harness
  // self-test to prove that capture, encode, decode and stats() work in this browser.
  async function loopback({ codec = 'H264', name = 'loop' } = {}) {
    const a = newSession('loop-send', `${name}-send`);
    const b = newSession('loop-recv', `${name}-recv`);
    attachVideo(b);
    await addSendTracks(a, { codec });
    // No trickle: full gathering, then only loopback candidates are kept so that test traffic
    // stays on 127.0.0.1 / ::1 even when the machine has other interfaces.
    const loopOnly = (sdp) => sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:')
      || / (127\.0\.0\.1|::1) \d+ typ /.test(l)).join('\r\n');
    await a.pc.setLocalDescription(await a.pc.createOffer());
    await waitGathering(a.pc, 2000);
    await b.pc.setRemoteDescription({ type: 'offer', sdp: loopOnly(a.pc.localDescription.sdp) });
    await b.pc.setLocalDescription(await b.pc.createAnswer());
    await waitGathering(b.pc, 2000);
    await a.pc.setRemoteDescription({ type: 'answer', sdp: loopOnly(b.pc.localDescription.sdp) });
    return { send: a.name, recv: b.name };
  }

  function candInfo(c) {
    if (!c) return null;
    return { address: c.address, port: c.port, protocol: c.protocol, candidateType: c.candidateType };
  }

  async function stats(name) {
    const s = getSession(name);
    const report = await s.pc.getStats();
    const out = {
      name: s.name, role: s.role,
      connectionState: s.pc.connectionState, iceConnectionState: s.pc.iceConnectionState,
      signalingState: s.pc.signalingState, trackEvents: s.trackEvents, negotiationNeeded: s.negotiationNeeded,
      video: null, audio: null, outVideo: null, outAudio: null, pair: null,
      inboundVideoCount: 0,
      renderedFrames: s.renderedFrames,
      timeToFirstFrameMs: s.firstFrameAt == null ? null : Math.round(s.firstFrameAt - s.t0),
      firstFrame: s.firstFrameMeta,
      videoWidth: s.video ? s.video.videoWidth : null,
      videoHeight: s.video ? s.video.videoHeight : null,
      timings: { ...s.timings }, events: s.events.slice(-30),
    };
    let transport = null;
    const pairs = [];
    report.forEach((x) => {
      const codec = x.codecId ? report.get(x.codecId) : null;
      const c = codec ? { codec: codec.mimeType, payloadType: codec.payloadType, sdpFmtpLine: codec.sdpFmtpLine || '' } : { codec: null };
      if (x.type === 'inbound-rtp') {
        const base = { ssrc: x.ssrc, mid: x.mid, packetsReceived: x.packetsReceived || 0, packetsLost: x.packetsLost || 0, bytesReceived: x.bytesReceived || 0, jitter: x.jitter, ...c };
        if (x.kind === 'video') {
          out.inboundVideoCount++;
          const v = {
            ...base, framesDecoded: x.framesDecoded || 0, keyFramesDecoded: x.keyFramesDecoded || 0,
            framesReceived: x.framesReceived || 0, framesDropped: x.framesDropped || 0,
            frameWidth: x.frameWidth || 0, frameHeight: x.frameHeight || 0, framesPerSecond: x.framesPerSecond || 0,
            pliCount: x.pliCount || 0, firCount: x.firCount || 0, nackCount: x.nackCount || 0,
            freezeCount: x.freezeCount || 0, decoderImplementation: x.decoderImplementation,
          };
          s.decodedBySsrc[x.ssrc] = Math.max(s.decodedBySsrc[x.ssrc] || 0, v.framesDecoded);
          if (!out.video || v.framesDecoded >= out.video.framesDecoded) out.video = v;
        } else if (x.kind === 'audio') {
          out.audio = { ...base, totalSamplesReceived: x.totalSamplesReceived || 0, concealedSamples: x.concealedSamples || 0 };
        }
      } else if (x.type === 'outbound-rtp') {
        const base = { ssrc: x.ssrc, mid: x.mid, packetsSent: x.packetsSent || 0, bytesSent: x.bytesSent || 0, nackCount: x.nackCount || 0, ...c };
        if (x.kind === 'video') {
          out.outVideo = {
            ...base, framesEncoded: x.framesEncoded || 0, keyFramesEncoded: x.keyFramesEncoded || 0,
            frameWidth: x.frameWidth || 0, frameHeight: x.frameHeight || 0, framesPerSecond: x.framesPerSecond || 0,
            pliCount: x.pliCount || 0, firCount: x.firCount || 0, encoderImplementation: x.encoderImplementation,
          };
        } else if (x.kind === 'audio') {
          out.outAudio = base;
        }
      } else if (x.type === 'transport') {
        transport = x;
      } else if (x.type === 'candidate-pair') {
        pairs.push(x);
      }
    });
    let pair = transport && transport.selectedCandidatePairId ? report.get(transport.selectedCandidatePairId) : null;
    if (!pair) pair = pairs.find((p) => p.nominated && p.state === 'succeeded') || null;
    if (pair) {
      out.pair = {
        state: pair.state, nominated: pair.nominated,
        local: candInfo(report.get(pair.localCandidateId)), remote: candInfo(report.get(pair.remoteCandidateId)),
        currentRoundTripTime: pair.currentRoundTripTime, requestsSent: pair.requestsSent, responsesReceived: pair.responsesReceived,
      };
    }
    if (transport) out.dtlsState = transport.dtlsState;
    // Monotonic count of decoded frames over every inbound video SSRC this session has seen
    // (a server may switch SSRC when a publisher reconnects; per-SSRC stats then restart).
    out.framesDecodedTotal = Object.values(s.decodedBySsrc).reduce((a, b) => a + b, 0);
    out.videoSsrcsSeen = Object.keys(s.decodedBySsrc).length;
    return out;
  }

  function closeSession(s) {
    try { s.pc.close(); } catch (e) { /* ignore */ }
    if (s.stream && s.role !== 'play' && s.role !== 'loop-recv') s.stream.getTracks().forEach((t) => t.stop());
    if (s.video) { s.video.srcObject = null; s.video.remove(); }
    sessions.delete(s.name);
  }

  function close(name) {
    const s = sessions.get(name);
    if (s) closeSession(s);
    return !!s;
  }

  function closeAll() {
    const names = [...sessions.keys()];
    for (const n of names) closeSession(sessions.get(n));
    return names;
  }

  // Apply an answer (e.g. obtained by Node) to a session created by offer().
  async function applyAnswer(name, sdp) {
    const s = getSession(name);
    await s.pc.setRemoteDescription({ type: 'answer', sdp });
    return true;
  }

  window.weir = {
    publish, play, offer, loopback, stats, close, closeAll, applyAnswer, waitFor, signal, parseLocation,
    sessions: () => [...sessions.keys()],
    // The RTCPeerConnection of an in-page session (for extensions such as datachannel_inpage.js).
    pc: (name) => getSession(name).pc,
    addHook: (fn) => { offerHooks.push(fn); return offerHooks.length; },
    // Wait (in the page) until the session decodes more than `frames` video frames; returns stats.
    async waitDecoding(name, frames = 30, timeoutMs = 15000) {
      return waitFor(async () => {
        const st = await stats(name);
        return st.video && st.video.framesDecoded > frames ? st : null;
      }, timeoutMs, 200, `${name} framesDecoded > ${frames}`);
    },
  };
  return 'installed';
})();
