//! The raw-limit probe: what one pinned core can SRTP-protect and send to loopback.

use crate::args::Args;
use weir_srtp::{rtp_header, SrtpGcm, TAG_LEN};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PAYLOAD_PACKET: usize = 1200; // RTP header + payload, before the tag
const MMSG_BATCH: usize = 32;
const GSO_SEGMENTS: usize = 8;
/// RTP header and header extensions of a forwarded packet (12 + an extension block with mid
/// and abs-capture-time), added to a payload for the "stream" row.
const FORWARD_HEADER: usize = 28;

/// One probe result: per-packet microseconds for SRTP encrypt, send, and both, by send method.
pub struct ProbeRow {
    pub method: &'static str,
    pub encrypt_us: f64,
    pub send_us: f64,
    pub both_us: f64,
}

pub struct ProbeResult {
    pub rows: Vec<ProbeRow>,
    pub received: u64,
    pub packet_bytes: usize,
    pub gso_note: String,
    /// What the "stream" row's batch sent: datagrams, messages, GSO messages.
    pub stream_sent: (u64, u64, u64),
}

pub fn run(a: &Args) -> Result<(), String> {
    let nsock: usize = a.num("sockets", 100)?;
    let npk: usize = a.num("packets", 200_000)?;
    let core: usize = a.num("core", 0)?;
    let key_len = match a.num::<u32>("cipher", 256)? {
        128 => 16,
        256 => 32,
        _ => return Err("--cipher 128|256 (AEAD_AES_128_GCM or AEAD_AES_256_GCM)".into()),
    };
    if nsock == 0 || npk == 0 || nsock > 10_000 || npk > 100_000_000 {
        return Err("--sockets 1..10000, --packets 1..1e8".into());
    }
    let shape = crate::publisher::MediaShape {
        bitrate_kbps: a.num("bitrate", 600.0)?,
        fps: a.num("fps", 30.0)?,
        gop_secs: a.num("gop-secs", 2.0)?,
        pacing: a.num("pacing", 0.0)?,
    };
    if !(1.0..=120.0).contains(&shape.fps) || !(10.0..=100_000.0).contains(&shape.bitrate_kbps) || !(0.1..=60.0).contains(&shape.gop_secs) {
        return Err("out of range: --fps 1..120, --bitrate 10..100000, --gop-secs 0.1..60".into());
    }
    let r = measure(nsock, npk, core, key_len, &shape.gop_events())?;
    let (rows, got, seg, gso_note, stream_sent) = (r.rows, r.received, r.packet_bytes, r.gso_note, r.stream_sent);
    println!("weir-bench probe: {npk} packets of {} bytes ({} SRTP), {nsock} loopback sockets, core {core}", seg, cipher_name(key_len));
    println!(
        "{:<12} {:>12} {:>12} {:>12}",
        "method", "encrypt us", "send us", "both us"
    );
    for r in &rows {
        println!("{:<12} {:>12.3} {:>12.3} {:>12.3}", r.method, r.encrypt_us, r.send_us, r.both_us);
    }
    println!("(reader thread received {got} datagrams; loopback drops at full receive buffers do not change the sender's cost)");
    let mut j = format!(
        "{{\"bench\":\"probe\",\"sockets\":{nsock},\"packets\":{npk},\"packet_bytes\":{seg},\"core\":{core},\"cipher\":\"{}\",\"received\":{got}",
        cipher_name(key_len)
    );
    for r in &rows {
        j += &format!(",\"{}\":{{\"encrypt_us\":{:.4},\"send_us\":{:.4},\"both_us\":{:.4}}}", r.method, r.encrypt_us, r.send_us, r.both_us);
    }
    if !gso_note.is_empty() {
        j += &format!(",\"gso_error\":{:?}", gso_note);
    }
    j += &format!(
        ",\"stream_datagrams\":{},\"stream_messages\":{},\"stream_gso_messages\":{}",
        stream_sent.0, stream_sent.1, stream_sent.2
    );
    j += "}";
    println!("{j}");
    Ok(())
}

pub fn cipher_name(key_len: usize) -> &'static str {
    if key_len == 32 {
        "AEAD_AES_256_GCM"
    } else {
        "AEAD_AES_128_GCM"
    }
}

/// Runs the probe on `core` (the calling thread is pinned there: call it from a thread of its
/// own), encrypting with AES-GCM of `key_len` bytes (16 or 32), the cipher the server chose.
///
/// `stream` (payload sizes of what arrives together, `MediaShape::gop_events`) adds the row
/// "stream": the same packets a fan-out of that stream sends, each event to every socket,
/// encrypted one by one and sent with the engine's own batching (`weir_rtc::udp_batch`:
/// `sendmmsg`, a frame's packets to one socket as one GSO message). Its ratio is what the
/// server adds over sending exactly its traffic; the sendto/sendmmsg32/gso8 rows send uniform
/// 1200-byte packets (gso8: eight to a socket at once, more than any player gets here).
pub fn measure(nsock: usize, npk: usize, core: usize, key_len: usize, stream: &[Vec<usize>]) -> Result<ProbeResult, String> {
    // Receivers: N loopback sockets drained by one reader thread (not pinned to our core).
    let mut rx = Vec::new();
    for _ in 0..nsock {
        let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        s.set_nonblocking(true).map_err(|e| e.to_string())?;
        crate::sys::set_rcvbuf(&s, 1 << 20);
        rx.push(s);
    }
    let dests: Vec<SocketAddr> = rx.iter().map(|s| s.local_addr()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, received) = (stop.clone(), received.clone());
        // The reader runs on another core than the measured one when there is one.
        // (online CPUs, not available_parallelism: that honours a `taskset` mask of one core)
        let ncpu = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
        let reader_core = if ncpu > 1 {
            Some((core + 1) % ncpu)
        } else {
            None
        };
        std::thread::spawn(move || {
            if let Some(c) = reader_core {
                let _ = crate::sys::pin_to_core(c);
            }
            drain(rx, stop, received)
        })
    };
    crate::sys::pin_to_core(core)?;

    let tx = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    set_sndbuf(&tx, 4 << 20);
    let srtp = SrtpGcm::with_key(&[0x42; 32][..key_len], &[0x17; 12]).ok_or("SRTP key length must be 16 or 32")?;
    let mut pkt = Vec::with_capacity(PAYLOAD_PACKET + TAG_LEN);
    let payload: Vec<u8> = (0..PAYLOAD_PACKET - 12)
        .map(|i| (i * 31 + 7) as u8)
        .collect();
    let fill = |pkt: &mut Vec<u8>, i: usize| {
        rtp_header(
            pkt,
            96,
            false,
            i as u16,
            (i / 10) as u32 * 3000,
            0x1000 + (i % nsock) as u32,
        );
        pkt.extend_from_slice(&payload);
    };

    // Warm-up.
    for i in 0..1000.min(npk) {
        fill(&mut pkt, i);
        srtp.protect(&mut pkt, 0);
        let _ = tx.send_to(&pkt, dests[i % nsock]);
    }

    let mut rows: Vec<(&str, f64, f64, f64)> = Vec::new(); // method, encrypt, send, both (us/packet)

    // Encrypt alone.
    let t = Instant::now();
    for i in 0..npk {
        fill(&mut pkt, i);
        srtp.protect(&mut pkt, 0);
        std::hint::black_box(&pkt);
    }
    let enc = per(t, npk);

    // Pre-encrypted packets for "send alone".
    let mut pre: Vec<Vec<u8>> = Vec::with_capacity(MMSG_BATCH * GSO_SEGMENTS);
    for i in 0..MMSG_BATCH.max(GSO_SEGMENTS) {
        let mut p = Vec::new();
        fill(&mut p, i);
        srtp.protect(&mut p, 0);
        pre.push(p);
    }

    // sendto
    let fd = tx.as_raw_fd();
    let addrs: Vec<libc::sockaddr_in> = dests.iter().map(sockaddr).collect();
    let t = Instant::now();
    for i in 0..npk {
        sendto(fd, &pre[i % pre.len()], &addrs[i % nsock]);
    }
    let send = per(t, npk);
    let t = Instant::now();
    for i in 0..npk {
        fill(&mut pkt, i);
        srtp.protect(&mut pkt, 0);
        sendto(fd, &pkt, &addrs[i % nsock]);
    }
    let both = per(t, npk);
    rows.push(("sendto", enc, send, both));

    // sendmmsg, batches of 32 packets to 32 different sockets.
    let mut bufs: Vec<Vec<u8>> = (0..MMSG_BATCH)
        .map(|_| Vec::with_capacity(PAYLOAD_PACKET + TAG_LEN))
        .collect();
    let t = Instant::now();
    let mut i = 0;
    while i < npk {
        let n = MMSG_BATCH.min(npk - i);
        let refs: Vec<&[u8]> = (0..n).map(|k| &pre[k][..]).collect();
        sendmmsg(fd, &refs, &addrs, i);
        i += n;
    }
    let send = per(t, npk);
    let t = Instant::now();
    let mut i = 0;
    while i < npk {
        let n = MMSG_BATCH.min(npk - i);
        for (k, b) in bufs.iter_mut().take(n).enumerate() {
            fill(b, i + k);
            srtp.protect(b, 0);
        }
        let refs: Vec<&[u8]> = bufs[..n].iter().map(|b| &b[..]).collect();
        sendmmsg(fd, &refs, &addrs, i);
        i += n;
    }
    let both = per(t, npk);
    rows.push(("sendmmsg32", enc, send, both));

    // UDP GSO: 8 segments of one size to one socket per sendmsg (UDP_SEGMENT cmsg).
    let mut gso_note = String::new();
    let seg = PAYLOAD_PACKET + TAG_LEN;
    let mut gbuf = Vec::with_capacity(seg * GSO_SEGMENTS);
    for p in pre.iter().take(GSO_SEGMENTS) {
        gbuf.extend_from_slice(p);
    }
    match send_gso(fd, &gbuf, seg as u16, &addrs[0]) {
        Err(e) => {
            gso_note = format!("UDP GSO refused by the kernel ({e}); GSO rows skipped");
            eprintln!("{gso_note}");
        }
        Ok(()) => {
            let calls = npk.div_ceil(GSO_SEGMENTS);
            let t = Instant::now();
            for c in 0..calls {
                let _ = send_gso(fd, &gbuf, seg as u16, &addrs[c % nsock]);
            }
            let send = per(t, calls * GSO_SEGMENTS);
            let t = Instant::now();
            for c in 0..calls {
                gbuf.clear();
                for k in 0..GSO_SEGMENTS {
                    fill(&mut pkt, c * GSO_SEGMENTS + k);
                    srtp.protect(&mut pkt, 0);
                    gbuf.extend_from_slice(&pkt);
                }
                let _ = send_gso(fd, &gbuf, seg as u16, &addrs[c % nsock]);
            }
            let both = per(t, calls * GSO_SEGMENTS);
            rows.push(("gso8", enc, send, both));
        }
    }

    let mut stream_sent = (0, 0, 0);
    if !stream.is_empty() {
        let (enc, both, sent) = stream_row(&tx, &dests, &srtp, stream, npk);
        stream_sent = sent;
        // Sending alone is not timed separately here: the difference stands for it.
        rows.push(("stream", enc, both - enc, both));
    }

    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let got = received.load(Ordering::Relaxed);

    Ok(ProbeResult {
        rows: rows
            .into_iter()
            .map(|(method, encrypt_us, send_us, both_us)| ProbeRow { method, encrypt_us, send_us, both_us })
            .collect(),
        received: got,
        packet_bytes: seg,
        gso_note,
        stream_sent,
    })
}

/// The "stream" row: returns (encrypt alone, encrypt + send) in µs per packet and what the
/// batch sent (datagrams, messages, GSO messages).
fn stream_row(tx: &UdpSocket, dests: &[SocketAddr], srtp: &SrtpGcm, events: &[Vec<usize>], npk: usize) -> (f64, f64, (u64, u64, u64)) {
    use weir_rtc::udp_batch::{datagram_buffer, UdpBatch};
    let payload: Vec<u8> = (0..2048).map(|i| (i * 31 + 7) as u8).collect();
    let dests: Vec<socket2::SockAddr> = dests.iter().map(|&d| d.into()).collect();
    let fill = |b: &mut Vec<u8>, size: usize, last: bool, seq: u16, ssrc: u32| {
        rtp_header(b, 96, last, seq, u32::from(seq) * 3000, ssrc);
        let body = (size + FORWARD_HEADER).saturating_sub(12).min(payload.len());
        b.extend_from_slice(&payload[..body]);
    };
    let packets_per_round: usize = events.iter().map(Vec::len).sum::<usize>() * dests.len();
    let rounds = npk.div_ceil(packets_per_round.max(1)).max(1);

    let mut b = Vec::with_capacity(2048);
    let t = Instant::now();
    let n = replay(
        &mut b,
        events,
        dests.len(),
        rounds,
        |b, s, size, last, seq| {
            fill(b, size, last, seq, 0x1000 + s as u32);
            srtp.protect(b, 0);
            std::hint::black_box(&b);
        },
        |_| {},
    );
    let enc = per(t, n);

    let fd = tx.as_raw_fd();
    let mut batch = UdpBatch::with_capacity();
    let t = Instant::now();
    let n = replay(
        &mut batch,
        events,
        dests.len(),
        rounds,
        |batch, s, size, last, seq| {
            let mut d = datagram_buffer(size + FORWARD_HEADER + TAG_LEN);
            fill(&mut d, size, last, seq, 0x1000 + s as u32);
            srtp.protect(&mut d, 0);
            if batch.push(dests[s].clone(), d) {
                batch.flush(fd);
            }
        },
        // What arrives together goes to every player, then the turn's batch is flushed, as
        // the engine does at the end of a loop turn.
        |batch| batch.flush(fd),
    );
    let both = per(t, n);
    let c = batch.counts;
    (enc, both, (c.datagrams, c.messages, c.gso_messages))
}

/// Walks `rounds` times over `events`, each event to every one of `sockets` in turn:
/// `packet(state, socket, payload_size, last_of_event, event_no)` for each of its packets,
/// then `event_done(state)`. Returns the packets walked.
fn replay<S>(
    state: &mut S,
    events: &[Vec<usize>],
    sockets: usize,
    rounds: usize,
    mut packet: impl FnMut(&mut S, usize, usize, bool, u16),
    mut event_done: impl FnMut(&mut S),
) -> usize {
    let mut n = 0;
    for _ in 0..rounds {
        for (seq, ev) in events.iter().enumerate() {
            for s in 0..sockets {
                for (k, &size) in ev.iter().enumerate() {
                    packet(state, s, size, k + 1 == ev.len(), seq as u16);
                    n += 1;
                }
            }
            event_done(state);
        }
    }
    n
}

fn per(t: Instant, n: usize) -> f64 {
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn drain(socks: Vec<UdpSocket>, stop: Arc<AtomicBool>, received: Arc<AtomicU64>) {
    let mut buf = vec![0u8; 65536];
    let mut n = 0u64;
    let deadline = Instant::now() + Duration::from_secs(3600);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut any = false;
        for s in &socks {
            for _ in 0..64 {
                match s.recv(&mut buf) {
                    Ok(len) => {
                        // A GSO send arrives as separate datagrams of the segment size (no GRO on plain sockets).
                        n += 1.max(len as u64 / (PAYLOAD_PACKET + TAG_LEN) as u64);
                        any = true;
                    }
                    Err(_) => break,
                }
            }
        }
        received.store(n, Ordering::Relaxed);
        if !any {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn sockaddr(a: &SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(v4) = a else {
        panic!("IPv4 only")
    };
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = v4.port().to_be();
    s.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
    s
}

fn sendto(fd: i32, b: &[u8], a: &libc::sockaddr_in) {
    unsafe {
        libc::sendto(
            fd,
            b.as_ptr() as *const libc::c_void,
            b.len(),
            0,
            a as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
    }
}

/// One sendmmsg of `bufs`, packet k to `addrs[(base + k) % len]`.
fn sendmmsg(fd: i32, bufs: &[&[u8]], addrs: &[libc::sockaddr_in], base: usize) {
    let mut iov: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = Vec::with_capacity(bufs.len());
    for k in 0..bufs.len() {
        let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
        h.msg_name =
            &addrs[(base + k) % addrs.len()] as *const libc::sockaddr_in as *mut libc::c_void;
        h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
        h.msg_iov = &mut iov[k];
        h.msg_iovlen = 1;
        msgs.push(libc::mmsghdr {
            msg_hdr: h,
            msg_len: 0,
        });
    }
    let mut off = 0;
    while off < msgs.len() {
        let r =
            unsafe { libc::sendmmsg(fd, msgs[off..].as_mut_ptr(), (msgs.len() - off) as u32, 0) };
        if r <= 0 {
            break;
        }
        off += r as usize;
    }
}

/// One sendmsg with a UDP_SEGMENT control message.
fn send_gso(fd: i32, buf: &[u8], seg: u16, a: &libc::sockaddr_in) -> Result<(), std::io::Error> {
    let mut iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) } as usize;
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
    h.msg_name = a as *const libc::sockaddr_in as *mut libc::c_void;
    h.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
    h.msg_iov = &mut iov;
    h.msg_iovlen = 1;
    h.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    h.msg_controllen = space as _;
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&h);
        (*c).cmsg_level = libc::SOL_UDP;
        (*c).cmsg_type = libc::UDP_SEGMENT;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, seg);
        if libc::sendmsg(fd, &h, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn set_sndbuf(s: &UdpSocket, n: i32) {
    setsockopt_int(s.as_raw_fd(), libc::SO_SNDBUF, n);
}
fn setsockopt_int(fd: i32, opt: i32, v: i32) {
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            &v as *const i32 as *const libc::c_void,
            4,
        );
    }
}
