// In-page DataChannel helpers for datachannel.test.mjs.
//
// Evaluated in a page after inpage.js (`page.eval(source)`); installs `window.weirDc`. It hooks
// into window.weir.publish/play/offer: `opts.dataChannels = [{label, init}]` creates those
// channels on the session's RTCPeerConnection before the offer (so the offer has
// m=application). Every channel (created here, later with create(), or announced by the remote
// side) records what it receives:
//   text messages   -> `texts` (the first TEXT_CAP of them) and `textCount`
//   binary messages -> `binCount`, `binBytes`, and the first BIN_KEEP of them (<= 300 KiB) kept for
//                      hashing; messages that start with the magic 'WSEQ' + uint32 sequence number
//                      (bulk transfers) are only checked for order, never kept.
// Plain browser JavaScript; every function returns JSON-serialisable values.
(() => {
  if (window.weirDc) return 'already-installed';
  if (!window.weir || typeof window.weir.addHook !== 'function') {
    throw new Error('datachannel_inpage.js needs inpage.js with addHook() installed first');
  }

  const TEXT_CAP = 20000;
  const BIN_KEEP = 16;
  const MAGIC = 0x57534551; // 'WSEQ'
  const channels = new Map(); // session name -> Map(label -> entry)
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
  async function sha256(buf) { return hex(await crypto.subtle.digest('SHA-256', buf)); }

  function randomBytes(size) {
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(size, i + 65536)));
    return out;
  }

  function sessionChannels(name) {
    if (!channels.has(name)) channels.set(name, new Map());
    return channels.get(name);
  }

  function register(name, ch, origin) {
    const map = sessionChannels(name);
    let key = ch.label;
    for (let n = 2; map.has(key); n++) key = `${ch.label}#${n}`;
    const e = {
      key, ch, origin, openedAt: null, closedAt: null, errors: [], events: [],
      texts: [], textCount: 0, binCount: 0, binBytes: 0, bins: [],
      seq: { count: 0, bytes: 0, expected: 0, outOfOrder: 0, firstBad: null },
      bulk: null,
      ackEvery: 0, // receiver: send "ack:<n>" after every ackEvery bulk messages (see autoAck)
      acked: 0, // sender: highest n of an "ack:<n>" received
      ackWaiters: [],
    };
    const t0 = performance.now();
    const mark = (ev) => e.events.push({ ev, t: Math.round(performance.now() - t0) });
    ch.binaryType = 'arraybuffer';
    if (ch.readyState === 'open') e.openedAt = 0;
    ch.addEventListener('open', () => { e.openedAt = Math.round(performance.now() - t0); mark('open'); });
    ch.addEventListener('close', () => { e.closedAt = Math.round(performance.now() - t0); mark('close'); });
    ch.addEventListener('closing', () => mark('closing'));
    ch.addEventListener('error', (ev) => {
      const err = ev.error ? `${ev.error.name}: ${ev.error.message}` : ev.type;
      e.errors.push(err);
      mark(`error:${err}`);
    });
    ch.addEventListener('message', (ev) => {
      if (typeof ev.data === 'string') {
        e.textCount++;
        if (e.texts.length < TEXT_CAP) e.texts.push(ev.data);
        const m = /^ack:(\d+)$/.exec(ev.data);
        if (m) {
          e.acked = Math.max(e.acked, Number(m[1]));
          for (const w of e.ackWaiters.splice(0)) w();
        }
        return;
      }
      const buf = ev.data; // ArrayBuffer (binaryType)
      e.binCount++;
      e.binBytes += buf.byteLength;
      if (buf.byteLength >= 8 && new DataView(buf).getUint32(0) === MAGIC) {
        const n = new DataView(buf).getUint32(4);
        if (n !== e.seq.expected) {
          e.seq.outOfOrder++;
          if (!e.seq.firstBad) e.seq.firstBad = { expected: e.seq.expected, got: n };
        }
        e.seq.expected = n + 1;
        e.seq.count++;
        e.seq.bytes += buf.byteLength;
        if (e.ackEvery && e.seq.count % e.ackEvery === 0 && ch.readyState === 'open') ch.send(`ack:${e.seq.count}`);
        return;
      }
      if (e.bins.length < BIN_KEEP && buf.byteLength <= 300 * 1024) e.bins.push(buf);
    });
    map.set(key, e);
    return e;
  }

  function entry(name, label) {
    const e = channels.get(name) && channels.get(name).get(label);
    if (!e) {
      const have = channels.get(name) ? [...channels.get(name).keys()].join(', ') : '(no channels)';
      throw new Error(`no DataChannel "${label}" in session ${name} (have: ${have})`);
    }
    return e;
  }

  function info(e) {
    const c = e.ch;
    return {
      key: e.key, label: c.label, id: c.id, origin: e.origin, readyState: c.readyState,
      ordered: c.ordered, maxRetransmits: c.maxRetransmits, maxPacketLifeTime: c.maxPacketLifeTime,
      negotiated: c.negotiated, protocol: c.protocol, bufferedAmount: c.bufferedAmount,
      openedAt: e.openedAt, closedAt: e.closedAt, errors: e.errors.slice(-5), events: e.events.slice(-10),
      textCount: e.textCount, binCount: e.binCount, binBytes: e.binBytes, seq: { ...e.seq },
      lastTexts: e.texts.slice(-5).map((x) => (x.length > 80 ? `${x.slice(0, 80)}…` : x)),
    };
  }

  // Channels of opts.dataChannels, created just before the offer; plus any remote-announced one.
  window.weir.addHook((pc, name, opts) => {
    pc.addEventListener('datachannel', (ev) => register(name, ev.channel, 'remote'));
    for (const spec of opts.dataChannels || []) {
      register(name, pc.createDataChannel(spec.label, spec.init || {}), 'local');
    }
  });

  async function waitOpen(name, label, timeoutMs = 10000) {
    const e = entry(name, label);
    const t0 = performance.now();
    while (e.ch.readyState !== 'open') {
      if (e.ch.readyState === 'closed' || e.ch.readyState === 'closing') {
        throw new Error(`DataChannel ${name}/${label} is ${e.ch.readyState} before it opened (errors: ${e.errors.join('; ')})`);
      }
      if (performance.now() - t0 > timeoutMs) {
        const pc = window.weir.pc(name);
        throw new Error(`DataChannel ${name}/${label} not open after ${timeoutMs} ms: readyState ${e.ch.readyState}, ` +
          `pc ${pc.connectionState}, sctp ${pc.sctp ? pc.sctp.state : 'none (no m=application negotiated)'}`);
      }
      await sleep(50);
    }
    return info(e);
  }

  // Resolves when bufferedAmount <= the channel's bufferedAmountLowThreshold (or it closes).
  function drained(ch) {
    if (ch.bufferedAmount <= ch.bufferedAmountLowThreshold || ch.readyState !== 'open') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { ch.removeEventListener('bufferedamountlow', done); ch.removeEventListener('close', done); resolve(); };
      ch.addEventListener('bufferedamountlow', done);
      ch.addEventListener('close', done);
    });
  }

  window.weirDc = {
    sha256: async (b64) => sha256(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))),

    create(name, label, init = {}) {
      return info(register(name, window.weir.pc(name).createDataChannel(label, init), 'local'));
    },

    waitOpen,

    async waitAllOpen(name, timeoutMs = 10000) {
      const out = [];
      for (const key of sessionChannels(name).keys()) out.push(await waitOpen(name, key, timeoutMs));
      return out;
    },

    send(name, label, text) {
      entry(name, label).ch.send(text);
      return true;
    },

    // `count` text messages prefix+i, paced so that Chromium's send buffer never overflows.
    async sendMany(name, label, { prefix = 'm', count = 1000 } = {}) {
      const ch = entry(name, label).ch;
      ch.bufferedAmountLowThreshold = 256 * 1024;
      for (let i = 0; i < count; i++) {
        if (ch.bufferedAmount > 4 * 1024 * 1024) await drained(ch);
        if (ch.readyState !== 'open') throw new Error(`${name}/${label} ${ch.readyState} after ${i} messages`);
        ch.send(`${prefix}${i}`);
      }
      return { sent: count, bufferedAmount: ch.bufferedAmount };
    },

    // One random binary message; returns its size and SHA-256.
    async sendRandom(name, label, size) {
      const bytes = randomBytes(size);
      entry(name, label).ch.send(bytes.buffer);
      return { size, sha256: await sha256(bytes.buffer) };
    },

    // Receiver side of an end-to-end window: answer every `every` bulk messages with
    // "ack:<messages received>" on the same channel (the server relays it back to the sender).
    autoAck(name, label, every) {
      entry(name, label).ackEvery = every;
      return true;
    },

    // Starts a bulk transfer of `total` bytes in `size`-byte binary messages ('WSEQ' + uint32
    // sequence number + filler), paced by bufferedamountlow: send while bufferedAmount < high,
    // then wait for it to fall to `low`. With `window` (messages), also never more than `window`
    // messages beyond the highest "ack:<n>" received on the channel. Runs in the background; see
    // bulkStatus().
    startBulk(name, label, { total, size = 65536, low = 1 << 20, high = 4 << 20, window = 0 }) {
      const e = entry(name, label);
      const ch = e.ch;
      const count = Math.ceil(total / size);
      const st = (e.bulk = { count, size, window, sent: 0, bytes: 0, waits: 0, ackWaits: 0, done: false, error: null, ms: null, maxBuffered: 0 });
      const ackedEnough = () => new Promise((resolve) => {
        const tm = setTimeout(resolve, 1000); // re-check readyState now and then
        e.ackWaiters.push(() => { clearTimeout(tm); resolve(); });
      });
      const payload = randomBytes(size);
      const view = new DataView(payload.buffer);
      view.setUint32(0, MAGIC);
      ch.bufferedAmountLowThreshold = low;
      const t0 = performance.now();
      (async () => {
        try {
          while (st.sent < count) {
            if (ch.readyState !== 'open') throw new Error(`channel ${ch.readyState} after ${st.sent} of ${count} messages`);
            if (ch.bufferedAmount >= high) { st.waits++; await drained(ch); continue; }
            if (window && st.sent - e.acked >= window) { st.ackWaits++; await ackedEnough(); continue; }
            view.setUint32(4, st.sent);
            ch.send(payload.buffer);
            st.sent++;
            st.bytes += size;
            st.maxBuffered = Math.max(st.maxBuffered, ch.bufferedAmount);
            if (st.sent % 16 === 0) await sleep(0); // let the page breathe
          }
          await drained(ch);
          st.done = true;
        } catch (err) {
          st.error = String(err && err.message || err);
        }
        st.ms = Math.round(performance.now() - t0);
      })();
      return { count, size };
    },

    bulkStatus(name, label) {
      const e = entry(name, label);
      return { ...e.bulk, acked: e.acked, bufferedAmount: e.ch.bufferedAmount, readyState: e.ch.readyState };
    },

    texts(name, label) { return entry(name, label).texts.slice(); },

    // Binary messages kept on that channel: sizes and SHA-256 digests.
    async binaries(name, label) {
      const out = [];
      for (const b of entry(name, label).bins) out.push({ size: b.byteLength, sha256: await sha256(b) });
      return out;
    },

    // Checks that the channel received exactly prefix0..prefix(count-1), in order.
    checkSequence(name, label, prefix, count) {
      const t = entry(name, label).texts;
      let firstBad = null;
      for (let i = 0; i < Math.min(t.length, count); i++) {
        if (t[i] !== `${prefix}${i}`) { firstBad = { index: i, got: t[i] }; break; }
      }
      return { received: entry(name, label).textCount, firstBad };
    },

    channel(name, label) { return info(entry(name, label)); },

    channels(name) { return [...sessionChannels(name).values()].map(info); },

    // What the server answered for the data section, and the SCTP transport as the browser sees it.
    sctp(name) {
      const pc = window.weir.pc(name);
      const sdp = (pc.remoteDescription && pc.remoteDescription.sdp) || '';
      const sec = sdp.split(/\r?\n(?=m=)/).find((x) => x.startsWith('m=application')) || null;
      return {
        answerApplication: sec ? sec.split(/\r?\n/).filter((l) => /^(m=|a=sctp-port|a=max-message-size|a=setup|a=mid)/.test(l)) : null,
        sctpState: pc.sctp ? pc.sctp.state : null,
        maxMessageSize: pc.sctp ? pc.sctp.maxMessageSize : null,
        connectionState: pc.connectionState,
      };
    },
  };
  return 'installed';
})();
