//! The engine thread: owns the media sockets, every session's `Rtc`, the per-stream forwarding
//! state and the timers; signaling reaches it through a bounded command queue. No locks on the
//! media path: the one parallel part, the egress pool (`rtc.egressThreads`), borrows disjoint
//! player sessions for the end of a loop turn (`Shard::send_written_media`) while the engine
//! thread waits, so every session still has a single owner at any time.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol as SockProto, Socket, Type};
use str0m::change::SdpOffer;
use str0m::config::DtlsCert;
use str0m::format::{CodecConfig, PayloadParams};
use str0m::media::{KeyframeRequest, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive, TcpType, Transmit};
use str0m::rtp::rtcp::{Nack, Rtcp};
use str0m::rtp::{Extension, ExtensionValues, RawPacket, RtpPacket, RtpWrite};
use str0m::channel::{ChannelData, ChannelId};
use str0m::{Candidate, Event, IceCreds, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use weir_core::util::random_alnum;
use weir_core::{
    BroadcastRequest, BroadcastTarget, Registry, RegistryError, SessionAnswer, SessionError, SessionKind, SessionRequest, SessionSummary,
    StreamKey, TrickleOutcome,
};

use crate::datachannel::{DcState, Enqueued};
use crate::counters::EngineCounters;
use crate::codec::{publisher_codecs, select_offer_codecs, track_info, video_codec};
use crate::demux::{is_stun, rfc4571_frame, stun_local_ufrag};
use crate::gop::{CachedPacket, GopCache};
use crate::direct::{DirectEgress, DirectTrack, ExtIds, RecentPackets, RtpOut, MAX_RTX_PER_NACK};
use crate::key_capture::{self, KeySlot};
use crate::keyframe::starts_keyframe;
use crate::rewrite::Rewriter;
use crate::session::{Counters, DownTrack, PtMap, Role, Session, MAX_ADDRS_PER_SESSION};
use crate::tcp::{accept_loop, TcpEvent};
use crate::udp_batch::{SendCounts, UdpBatch};
use crate::{Command, EngineConfig};

const MAX_TCP_CONNECTIONS: usize = 10_000;
/// Datagrams read per readiness event before other work (timers, commands) gets a turn.
const RECV_BATCH: usize = 256;
const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(500);
/// The egress pool for `threads` (0: one per available core); `None` for a single thread.
fn egress_pool(threads: usize) -> io::Result<Option<rayon::ThreadPool>> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    if threads <= 1 {
        return Ok(None);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("weir-egress-{i}"))
        .build()
        .map(Some)
        .map_err(io::Error::other)
}

// ---------------------------------------------------------------------------------------------
// Sockets

pub(crate) struct Sockets {
    udp: Option<std::net::UdpSocket>,
    tcp: Option<std::net::TcpListener>,
}

/// Binds `addr`; a wildcard IPv4 address becomes a dual-stack `[::]` socket where the system
/// allows it, so IPv6 peers work on the same port.
fn bind_socket(addr: SocketAddr, ty: Type) -> io::Result<Socket> {
    let proto = if ty == Type::DGRAM { SockProto::UDP } else { SockProto::TCP };
    if addr.ip() == IpAddr::from([0, 0, 0, 0]) {
        let v6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), addr.port());
        if let Ok(s) = Socket::new(Domain::IPV6, ty, Some(proto)) {
            let ok = s.set_only_v6(false).is_ok() && s.set_reuse_address(true).is_ok() && s.bind(&v6.into()).is_ok();
            if ok {
                return Ok(s);
            }
        }
    }
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

impl Sockets {
    pub fn bind(cfg: &EngineConfig) -> io::Result<Self> {
        let udp = match cfg.udp_bind {
            None => None,
            Some(addr) => {
                let s = bind_socket(addr, Type::DGRAM)
                    .map_err(|e| io::Error::new(e.kind(), format!("binding UDP media port {addr}: {e}")))?;
                // Large kernel buffers absorb bursts (keyframes, fast start) to many players.
                let _ = s.set_recv_buffer_size(8 << 20);
                let _ = s.set_send_buffer_size(8 << 20);
                s.set_nonblocking(true)?;
                Some(s.into())
            }
        };
        let tcp = match cfg.tcp_bind {
            None => None,
            Some(addr) => {
                let s = bind_socket(addr, Type::STREAM)
                    .map_err(|e| io::Error::new(e.kind(), format!("binding ICE-TCP media port {addr}: {e}")))?;
                s.listen(1024)?;
                s.set_nonblocking(true)?;
                Some(s.into())
            }
        };
        Ok(Self { udp, tcp })
    }

    pub fn udp_local_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }

    pub fn tcp_local_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|s| s.local_addr().ok())
    }
}

pub(crate) fn spawn(
    cfg: EngineConfig,
    registry: Arc<Registry>,
    counters: Arc<EngineCounters>,
    sockets: Sockets,
    commands: mpsc::Receiver<Command>,
) -> io::Result<()> {
    let provider = str0m::crypto::from_feature_flags();
    // ECDSA P-256 (dimpl's generator): RSA-only DTLS fails against aiortc and other
    // ECDSA-only clients. One certificate for all sessions: generating one per session is slow.
    let cert = provider
        .dtls_provider
        .generate_certificate()
        .ok_or_else(|| io::Error::other("could not generate the DTLS certificate"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("weir-media".into()).spawn(move || {
        rt.block_on(async move {
            match Shard::new(cfg, registry, counters, cert, sockets) {
                Ok(shard) => shard.run(commands).await,
                Err(e) => warn!(error = %e, "media engine failed to start"),
            }
        })
    })?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// State

/// What a published track looks like to its players.
struct SourceTrack {
    mid: Mid,
    /// Payload params the publisher negotiated for this m-line; the first is what it sends.
    params: Vec<PayloadParams>,
    gop: Option<GopCache>,
    /// Video: the latest packets, for the NACKs of direct-egress players.
    recent: Option<RecentPackets>,
}

impl SourceTrack {
    fn primary(&self) -> Option<PayloadParams> {
        self.params.first().copied()
    }
    fn params_for(&self, pt: Pt) -> Option<&PayloadParams> {
        self.params.iter().find(|p| p.pt() == pt)
    }
}

struct StreamState {
    key: StreamKey,
    publisher: Option<usize>,
    players: Vec<usize>,
    /// Incremented at every new publisher so players re-splice their RTP sequence.
    epoch: u32,
    audio: Option<SourceTrack>,
    video: Option<SourceTrack>,
    last_keyframe_request: Option<Instant>,
    /// Packets of this loop turn waiting to be written to the players at the end of the turn,
    /// player by player (streams with at least [`FANOUT_QUEUE_MIN_PLAYERS`] players), by the
    /// egress pool when the turn has `egress_min_players` players to write or more.
    fanout: Vec<FanoutItem>,
    /// Fan-out items ever queued: numbers them, so a player that got them in the GOP replay
    /// skips them (`Session::fanout_after`).
    fanout_count: u64,
}

/// A stream with this many players has its packets queued during a loop turn and written
/// player by player at its end ([`StreamState::fanout`]); a single player gets them at once.
const FANOUT_QUEUE_MIN_PLAYERS: usize = 2;

/// A publisher's packet on its way to many players, owned so a pool thread can write it.
struct FanoutItem {
    n: u64,
    kind: MediaKind,
    packet: CachedPacket,
    ext: ExtensionValues,
    keyframe: bool,
    params: PayloadParams,
    epoch: u32,
}

/// Slot of a session: the generation guards against a reused index in queued work and timers.
struct Slot {
    gen: u64,
    session: Session,
    stream: Option<usize>,
}

// Work items live for one processing round in a reused queue; boxing the RTP packet would add
// an allocation per forwarded packet.
#[allow(clippy::large_enum_variant)]
enum Work {
    Rtp(usize, u64, RtpPacket),
    KeyframeRequest(usize, u64, KeyframeRequest),
    Connected(usize, u64),
    Close(usize, u64, &'static str),
    ChannelData(usize, u64, ChannelData),
    ChannelFlush(usize, u64, ChannelId),
    /// A direct-egress player's NACK (str0m's raw RTCP event).
    Nack(usize, u64, Nack),
}

struct Net {
    udp: Option<tokio::net::UdpSocket>,
    udp_dual_stack: bool,
    tcp: HashMap<SocketAddr, TcpConn>,
    /// UDP datagrams waiting for the next `sendmmsg`, and sends dropped.
    batch: UdpBatch,
}

struct TcpConn {
    tx: mpsc::Sender<Vec<u8>>,
    opened: Instant,
    bound: bool,
}

/// Where a session's transmits go: the engine's own [`Net`] or an egress worker's
/// [`WorkerNet`] (see [`Shard::send_written_media`]).
trait Transmitter {
    fn transmit(&mut self, t: Transmit);
    /// A datagram built outside str0m (direct egress).
    fn datagram(&mut self, proto: Protocol, dest: SocketAddr, data: Vec<u8>);
}

/// The parts of [`Net`] an egress worker may use from its own thread: the UDP socket's fd
/// (`sendmmsg` on one socket from several threads is safe) and the TCP connections' queues
/// (`try_send` through a shared reference).
#[derive(Clone, Copy)]
struct NetView<'a> {
    udp_fd: Option<std::os::fd::RawFd>,
    udp_dual_stack: bool,
    tcp: &'a HashMap<SocketAddr, TcpConn>,
}

impl NetView<'_> {
    /// Queues a UDP datagram in `batch` (sent by [`UdpBatch::flush`]) or frames a TCP one
    /// onto its connection's queue.
    fn route(&self, t: Transmit, batch: &mut UdpBatch) {
        self.route_datagram(t.proto, t.destination, t.contents.into(), batch);
    }

    fn route_datagram(&self, proto: Protocol, destination: SocketAddr, contents: Vec<u8>, batch: &mut UdpBatch) {
        match proto {
            Protocol::Udp => {
                let Some(fd) = self.udp_fd else { return };
                let dest = if self.udp_dual_stack { v6_mapped(destination) } else { destination };
                if batch.push(socket2::SockAddr::from(dest), contents) {
                    batch.flush(fd);
                }
            }
            _ => {
                let Some(conn) = self.tcp.get(&destination) else { return };
                if let Some(frame) = rfc4571_frame(&contents) {
                    if conn.tx.try_send(frame).is_err() {
                        batch.counts.drops += 1;
                    }
                }
            }
        }
    }
}

impl Net {
    fn view(&self) -> NetView<'_> {
        Self::view_of(&self.udp, self.udp_dual_stack, &self.tcp)
    }

    fn view_of<'a>(udp: &Option<tokio::net::UdpSocket>, udp_dual_stack: bool, tcp: &'a HashMap<SocketAddr, TcpConn>) -> NetView<'a> {
        use std::os::fd::AsRawFd;
        NetView { udp_fd: udp.as_ref().map(|u| u.as_raw_fd()), udp_dual_stack, tcp }
    }

    /// Queues a datagram. UDP datagrams are sent in batches by [`Net::flush`]; the engine
    /// flushes at the end of every loop turn, so nothing waits longer than the processing of
    /// one input.
    fn send(&mut self, t: Transmit) {
        Self::view_of(&self.udp, self.udp_dual_stack, &self.tcp).route(t, &mut self.batch);
    }

    fn flush(&mut self) {
        use std::os::fd::AsRawFd;
        match &self.udp {
            Some(udp) => self.batch.flush(udp.as_raw_fd()),
            None => self.batch.clear(),
        }
    }
}

impl Transmitter for Net {
    fn transmit(&mut self, t: Transmit) {
        self.send(t);
    }
    fn datagram(&mut self, proto: Protocol, dest: SocketAddr, data: Vec<u8>) {
        self.batch.counts.direct += 1;
        Self::view_of(&self.udp, self.udp_dual_stack, &self.tcp).route_datagram(proto, dest, data, &mut self.batch);
    }
}

/// What an egress worker hands back to the engine thread.
struct WorkerResult {
    timers: Vec<TimerEntry>,
    work: Vec<Work>,
    /// Streams a player of which waits for a keyframe.
    want_keyframe: Vec<usize>,
}

/// An egress worker's sending side: its own `sendmmsg` batch on the engine's sockets.
struct WorkerNet<'a> {
    view: NetView<'a>,
    batch: UdpBatch,
}

impl Transmitter for WorkerNet<'_> {
    fn transmit(&mut self, t: Transmit) {
        self.view.route(t, &mut self.batch);
    }
    fn datagram(&mut self, proto: Protocol, dest: SocketAddr, data: Vec<u8>) {
        self.batch.counts.direct += 1;
        self.view.route_datagram(proto, dest, data, &mut self.batch);
    }
}

impl WorkerNet<'_> {
    fn flush(&mut self) {
        match self.view.udp_fd {
            Some(fd) => self.batch.flush(fd),
            None => self.batch.clear(),
        }
    }
}

fn v6_mapped(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        v6 => v6,
    }
}

fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// A session's next `Rtc` timeout: (when, slot index, slot generation).
type TimerEntry = Reverse<(Instant, usize, u64)>;
type Timers = BinaryHeap<TimerEntry>;

struct Shard {
    cfg: EngineConfig,
    registry: Arc<Registry>,
    cert: DtlsCert,
    net: Net,
    tcp_listener: Option<std::net::TcpListener>,
    /// Boxed: a session is ~11 KB (str0m's `Rtc` inline), and an inline slot vector keeps the
    /// peak's worth of them resident after the sessions end (10,000 idle sessions left ~110 MB).
    slots: Vec<Option<Box<Slot>>>,
    free: Vec<usize>,
    next_gen: u64,
    live_sessions: usize,
    /// Sessions closed since memory was last handed back to the OS (`release_freed_memory`).
    closed_since_trim: usize,
    last_trim: Instant,
    by_ufrag: HashMap<String, usize>,
    by_addr: HashMap<(bool, SocketAddr), usize>,
    streams: Vec<Option<StreamState>>,
    stream_by_key: HashMap<StreamKey, usize>,
    timers: Timers,
    /// Sessions with `Session::media_written` set, in the order they were written to.
    media_written: Vec<(usize, u64)>,
    work: VecDeque<Work>,
    unknown_packets: u64,
    /// Published on every housekeeping tick for `/api/v1/server`.
    counters: Arc<EngineCounters>,
    /// Threads that encrypt and send the packets written to players (`rtc.egressThreads`);
    /// `None`: the engine thread does it.
    egress: Option<rayon::ThreadPool>,
    /// Streams with a non-empty `StreamState::fanout`.
    fanout_streams: Vec<usize>,
    /// Datagrams handed to the pool by `handle_datagrams_parallel` (for `/api/v1/server`).
    ingress_pooled: u64,
}

// ---------------------------------------------------------------------------------------------
// Loop

impl Shard {
    fn new(cfg: EngineConfig, registry: Arc<Registry>, counters: Arc<EngineCounters>, cert: DtlsCert, sockets: Sockets) -> io::Result<Self> {
        let egress = egress_pool(cfg.egress_threads)?;
        let (udp, udp_dual_stack) = match sockets.udp {
            Some(s) => {
                let dual = s.local_addr()?.is_ipv6();
                (Some(tokio::net::UdpSocket::from_std(s)?), dual)
            }
            None => (None, false),
        };
        Ok(Self {
            cfg,
            registry,
            cert,
            net: Net { udp, udp_dual_stack, tcp: HashMap::new(), batch: UdpBatch::with_capacity() },
            tcp_listener: sockets.tcp,
            slots: Vec::new(),
            free: Vec::new(),
            next_gen: 1,
            live_sessions: 0,
            closed_since_trim: 0,
            last_trim: Instant::now(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            streams: Vec::new(),
            stream_by_key: HashMap::new(),
            timers: BinaryHeap::new(),
            media_written: Vec::new(),
            work: VecDeque::new(),
            unknown_packets: 0,
            counters,
            egress,
            fanout_streams: Vec::new(),
            ingress_pooled: 0,
        })
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let (tcp_tx, mut tcp_rx) = mpsc::channel::<TcpEvent>(4096);
        if let Some(listener) = self.tcp_listener.take() {
            match tokio::net::TcpListener::from_std(listener) {
                Ok(l) => {
                    tokio::spawn(accept_loop(l, tcp_tx.clone(), MAX_TCP_CONNECTIONS));
                }
                Err(e) => warn!(error = %e, "ICE-TCP listener unusable"),
            }
        }
        let mut received = ReceivedBatch::new();
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING_EVERY);
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        info!(udp = ?self.net.udp.as_ref().and_then(|u| u.local_addr().ok()), "media engine running");
        loop {
            let deadline = self
                .timers
                .peek()
                .map(|Reverse((t, _, _))| *t)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let has_udp = self.net.udp.is_some();
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.handle_command(cmd),
                    None => break,
                },
                ready = async {
                    match &self.net.udp {
                        Some(u) => u.readable().await,
                        None => std::future::pending().await,
                    }
                }, if has_udp => {
                    if ready.is_ok() {
                        self.read_udp(&mut received);
                    }
                }
                Some(ev) = tcp_rx.recv() => self.handle_tcp_event(ev),
                _ = tokio::time::sleep_until(deadline.into()) => self.handle_timers(Instant::now()),
                _ = housekeeping.tick() => self.housekeeping(Instant::now()),
            }
            self.send_written_media();
            self.net.flush();
        }
        info!("media engine stopped");
    }

    /// Reads what the UDP socket has (up to `RECV_BATCH` datagrams) and hands it to the
    /// sessions: on the engine thread, or for a batch of `ingressMinDatagrams` or more spread
    /// over the egress pool (`handle_datagrams_parallel`).
    fn read_udp(&mut self, received: &mut ReceivedBatch) {
        received.clear();
        let Some(udp) = &self.net.udp else { return };
        while let Some(buf) = received.next_buffer() {
            match udp.try_recv_from(buf) {
                Ok((n, src)) => received.push(canonical(src), n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP errors (port unreachable from a departed peer) surface here; harmless.
                    debug!(error = %e, "UDP receive error");
                    break;
                }
            }
        }
        if self.egress.is_some() && received.len() >= self.cfg.ingress_min_datagrams {
            self.handle_datagrams_parallel(received, Instant::now());
        } else {
            for i in 0..received.len() {
                let (src, data) = received.get(i);
                self.handle_datagram(false, src, data, Instant::now());
            }
        }
    }

    fn handle_tcp_event(&mut self, ev: TcpEvent) {
        match ev {
            TcpEvent::Opened { peer, tx } => {
                self.net.tcp.insert(peer, TcpConn { tx, opened: Instant::now(), bound: false });
            }
            TcpEvent::Frame { peer, data } => self.handle_datagram(true, peer, &data, Instant::now()),
            TcpEvent::Closed { peer } => {
                self.net.tcp.remove(&peer);
                self.by_addr.remove(&(true, peer));
            }
        }
    }

    fn handle_datagram(&mut self, tcp: bool, src: SocketAddr, data: &[u8], now: Instant) {
        let Some(idx) = self.session_of(tcp, src, data) else {
            self.answer_unrouted(tcp, src, data);
            return;
        };
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { return };
        let gen = slot.gen;
        let taken = receive_on_session(&mut slot.session, idx, gen, tcp, src, data, now, &mut self.net, &mut self.timers, &mut self.work);
        if taken == Taken::Stun {
            self.note_stun_from(idx, tcp, src, now);
        }
        self.process_work(now);
    }

    /// The session a datagram is for: a STUN request names it in USERNAME (the server ufrag is
    /// the session id), anything else is known by the address it comes from.
    fn session_of(&self, tcp: bool, src: SocketAddr, data: &[u8]) -> Option<usize> {
        if is_stun(data) {
            if let Some(&i) = stun_local_ufrag(data).and_then(|u| self.by_ufrag.get(u)) {
                return Some(i);
            }
        }
        self.by_addr.get(&(tcp, src)).copied()
    }

    /// A datagram of no session: a plain Binding request without credentials (SRS's documented
    /// connectivity check, `nc -u <ip> 8000`) is answered with the mapped address, as a STUN
    /// server would; anything else is counted and dropped.
    fn answer_unrouted(&mut self, tcp: bool, src: SocketAddr, data: &[u8]) {
        if is_stun(data) {
            if let Some(resp) = weir_turn::stun::binding_response(data, src) {
                let proto = if tcp { Protocol::Tcp } else { Protocol::Udp };
                self.net.send(Transmit { proto, source: src, destination: src, contents: resp.into() });
                return;
            }
        }
        self.unknown_packets += 1;
    }

    /// A session took a STUN request from `src`: its consent is fresh (RFC 7675), and from now
    /// on that address's DTLS and SRTP go to it.
    fn note_stun_from(&mut self, idx: usize, tcp: bool, src: SocketAddr, now: Instant) {
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { return };
        let sess = &mut slot.session;
        sess.last_consent = now;
        if !sess.addrs.contains(&(tcp, src)) && sess.addrs.len() < MAX_ADDRS_PER_SESSION {
            sess.addrs.push((tcp, src));
            self.by_addr.insert((tcp, src), idx);
            if tcp {
                if let Some(c) = self.net.tcp.get_mut(&src) {
                    c.bound = true;
                }
            }
        }
    }

    /// A big batch of datagrams (a loop turn's `RECV_BATCH` at most), sessions spread over the
    /// egress pool: what the engine thread would do datagram by datagram (str0m's
    /// `handle_input` — SRTP decryption, RTCP, DTLS, ICE — and the drain of each), done for
    /// disjoint sessions at once. The tables (which session, consent, addresses) and the work
    /// the sessions produce (forwarding, keyframe requests, closes) stay on the engine thread:
    /// demultiplexing before, bookkeeping and `process_work` after, so the result is the same
    /// as the serial path's with each session's datagrams in arrival order.
    fn handle_datagrams_parallel(&mut self, received: &ReceivedBatch, now: Instant) {
        // (session, datagram) in session order, arrival order within a session.
        let mut routed: Vec<(usize, usize)> = Vec::with_capacity(received.len());
        // Addresses first seen in this batch in an authenticated STUN request: on the serial
        // path that request would already have bound the address when the next datagram from
        // it is looked up.
        let mut new_addrs: Vec<(SocketAddr, usize)> = Vec::new();
        for i in 0..received.len() {
            let (src, data) = received.get(i);
            let idx = self.session_of(false, src, data).or_else(|| new_addrs.iter().find(|a| a.0 == src).map(|a| a.1));
            let Some(idx) = idx else {
                self.answer_unrouted(false, src, data);
                continue;
            };
            routed.push((idx, i));
            if is_stun(data) && !self.by_addr.contains_key(&(false, src)) && !new_addrs.iter().any(|a| a.0 == src) {
                let authenticated = match self.slots.get_mut(idx) {
                    Some(Some(slot)) => stun_request_authenticated(&mut slot.session, data),
                    _ => false,
                };
                if authenticated {
                    new_addrs.push((src, idx));
                }
            }
        }
        routed.sort_unstable();
        let Some(pool) = &self.egress else {
            for (_, i) in routed {
                let (src, data) = received.get(i);
                self.handle_datagram(false, src, data, now);
            }
            return;
        };
        // What this turn queued on the engine's own batch leaves first (a session's earlier
        // transmits must not be overtaken by what a worker sends at once).
        self.net.flush();
        // Disjoint `&mut Session`s of the sessions with datagrams, in one pass over the slots.
        let mut groups = routed.chunk_by(|a, b| a.0 == b.0).peekable();
        let mut targets: Vec<IngressTarget<'_>> = Vec::new();
        for (idx, slot) in self.slots.iter_mut().enumerate() {
            let Some(&group) = groups.peek() else { break };
            if group.first().map(|g| g.0) != Some(idx) {
                continue;
            }
            groups.next();
            if let Some(slot) = slot {
                targets.push((idx, slot.gen, &mut slot.session, group));
            }
        }
        let results = on_pool(pool, self.net.view(), &mut targets, |sessions, net| {
            let mut out = IngressResult::default();
            for (idx, gen, sess, datagrams) in sessions.iter_mut() {
                for &(_, i) in datagrams.iter() {
                    let (src, data) = received.get(i);
                    out.datagrams += 1;
                    match receive_on_session(sess, *idx, *gen, false, src, data, now, net, &mut out.timers, &mut out.work) {
                        Taken::Stun => out.stun_from.push((*idx, src)),
                        Taken::Other => {}
                        // The session is closing; its later datagrams are dropped.
                        Taken::Dead => break,
                    }
                }
            }
            out
        });
        for (r, sent) in results {
            self.timers.extend(r.timers);
            self.work.extend(r.work);
            self.net.batch.counts += sent;
            self.ingress_pooled += r.datagrams;
            for (idx, src) in r.stun_from {
                self.note_stun_from(idx, false, src, now);
            }
        }
        self.process_work(now);
    }

    fn handle_timers(&mut self, now: Instant) {
        while let Some(&Reverse((t, idx, gen))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { continue };
            if slot.gen != gen || slot.session.next_timeout != t {
                continue; // stale entry: the session re-armed its timer since
            }
            give_timeout(&mut slot.session, now);
            self.drain(idx, gen, now);
        }
        self.process_work(now);
    }

    /// Sends what was written to down-tracks during this loop turn: one `Input::Timeout` per
    /// written session releases all its new packets from str0m's send queue (a `poll_output`
    /// right after `write_rtp` only reports an already-due timeout, so the engine does not
    /// poll between writes). Runs at the end of every loop turn, before the `sendmmsg` flush.
    ///
    /// This is where fan-out costs: per player, str0m builds each packet, encrypts it (SRTP)
    /// and the kernel sends it. With an egress pool and enough players written to, the
    /// sessions are split across the pool's threads, each with its own `sendmmsg` batch;
    /// everything else (the sessions' events, timers, the next round of work) stays on the
    /// engine thread.
    fn send_written_media(&mut self) {
        let now = Instant::now();
        while !self.media_written.is_empty() || !self.fanout_streams.is_empty() {
            // The pool is worth its hand-over only for a turn with enough players to write,
            // whether one big stream or many small ones (a conference of small rooms).
            let parallel = self.egress.is_some() && {
                let queued: usize = (self.fanout_streams.iter())
                    .filter_map(|&sidx| self.streams.get(sidx)?.as_ref())
                    .map(|stream| stream.players.len())
                    .sum();
                queued + self.media_written.len() >= self.cfg.egress_min_players
            };
            if parallel {
                self.send_written_media_parallel(now);
            } else {
                self.send_fanout_serial(now);
                self.send_written_media_serial(now);
            }
            // Events of the drained sessions (a publisher's reordered packets, keyframe
            // requests) may write to more down-tracks; those are sent in the next pass.
            self.process_work(now);
        }
    }

    fn send_written_media_serial(&mut self, now: Instant) {
        for (idx, gen) in std::mem::take(&mut self.media_written) {
            if let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) {
                if slot.gen == gen && std::mem::take(&mut slot.session.media_written) {
                    send_written(&mut slot.session, idx, gen, &mut self.net, &mut self.timers, &mut self.work, now);
                }
            }
        }
    }

    /// Without a pool: the turn's queued fan-out, player by player. Each player's packets of
    /// the turn are written and handed to the socket batch together, so the first players'
    /// datagrams leave while later players' are still being encrypted (packet by packet, every
    /// player would wait for the whole turn's encryption), a player's state is touched once
    /// per turn, and a burst to one player can leave as one GSO message.
    fn send_fanout_serial(&mut self, now: Instant) {
        let Shard { streams, slots, fanout_streams, net, timers, work, .. } = self;
        let mut want_keyframe = Vec::new();
        for sidx in std::mem::take(fanout_streams) {
            let Some(Some(stream)) = streams.get_mut(sidx) else { continue };
            let mut items = std::mem::take(&mut stream.fanout);
            for &p in &stream.players {
                let Some(Some(slot)) = slots.get_mut(p) else { continue };
                let written = write_fanout(&mut slot.session, sidx, &items, &mut want_keyframe, now);
                if std::mem::take(&mut slot.session.media_written) || written {
                    send_written(&mut slot.session, p, slot.gen, net, timers, work, now);
                }
            }
            // The vector's capacity serves the next turn.
            items.clear();
            stream.fanout = items;
        }
        for sidx in want_keyframe {
            // At most once per keyframeRequestIntervalMS per stream.
            self.request_keyframe(sidx, now);
        }
    }

    fn send_written_media_parallel(&mut self, now: Instant) {
        // Datagrams this turn queued on the engine's own batch (an earlier serial pass, RTCP)
        // leave first: the workers send at once, and a player must not see its packets
        // reordered.
        self.net.flush();
        self.media_written.clear();
        // Fan-out items by stream index (`u32::MAX`: none).
        let mut items: Vec<(usize, Vec<FanoutItem>)> = Vec::with_capacity(self.fanout_streams.len());
        let mut items_of_stream = vec![u32::MAX; self.streams.len()];
        for sidx in std::mem::take(&mut self.fanout_streams) {
            if let Some(Some(stream)) = self.streams.get_mut(sidx) {
                items_of_stream[sidx] = items.len() as u32;
                items.push((sidx, std::mem::take(&mut stream.fanout)));
            }
        }
        let Some(pool) = &self.egress else {
            // `send_written_media` comes here only with a pool.
            return;
        };
        // One pass over the slots hands out disjoint `&mut Session`s without unsafe code: the
        // players of the streams with items, and every session flagged as written to (a slot
        // reused since was not flagged).
        let mut targets: Vec<(usize, u64, Option<usize>, &mut Session)> = Vec::with_capacity(self.live_sessions);
        for (idx, slot) in self.slots.iter_mut().enumerate() {
            let Some(slot) = slot else { continue };
            let stream_items = slot
                .stream
                .and_then(|sidx| items_of_stream.get(sidx).copied())
                .filter(|&i| i != u32::MAX && matches!(slot.session.role, Role::Player { .. }))
                .map(|i| i as usize);
            if stream_items.is_some() || slot.session.media_written {
                targets.push((idx, slot.gen, stream_items, &mut slot.session));
            }
        }
        let items = &items;
        let results = on_pool(pool, self.net.view(), &mut targets, |sessions, net| {
            let (mut timers, mut work, mut want_keyframe) = (Vec::new(), Vec::new(), Vec::new());
            for (idx, gen, stream_items, sess) in sessions.iter_mut() {
                let mut written = std::mem::take(&mut sess.media_written);
                if let Some(i) = *stream_items {
                    written |= write_fanout(sess, items[i].0, &items[i].1, &mut want_keyframe, now);
                }
                if written {
                    send_written(sess, *idx, *gen, net, &mut timers, &mut work, now);
                }
            }
            WorkerResult { timers, work, want_keyframe }
        });
        for (WorkerResult { timers, work, want_keyframe }, sent) in results {
            self.timers.extend(timers);
            self.work.extend(work);
            self.net.batch.counts += SendCounts { pooled: sent.datagrams, ..sent };
            for sidx in want_keyframe {
                // At most once per keyframeRequestIntervalMS per stream.
                self.request_keyframe(sidx, now);
            }
        }
    }

    fn housekeeping(&mut self, now: Instant) {
        self.counters.publish(self.net.batch.counts, self.unknown_packets, self.ingress_pooled);
        let timeout = self.cfg.timeout;
        let mut expired = Vec::new();
        for (idx, slot) in self.slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let s = &slot.session;
            if !s.rtc.is_alive() {
                expired.push((idx, slot.gen, "peer connection closed"));
            } else if now.saturating_duration_since(s.last_consent) > timeout {
                expired.push((idx, slot.gen, "no ICE consent within timeoutSec"));
            }
        }
        for (idx, gen, reason) in expired {
            self.work.push_back(Work::Close(idx, gen, reason));
        }
        // DataChannel queues normally refill on BufferedAmountLow; this catches any missed one.
        for (idx, slot) in self.slots.iter_mut().enumerate() {
            let Some(slot) = slot else { continue };
            if slot.session.dc.has_queued() {
                for ch in 0..slot.session.dc.channels.len() {
                    slot.session.dc.flush(&mut slot.session.rtc, ch);
                }
                drain_session(&mut slot.session, idx, slot.gen, &mut self.net, &mut self.timers, &mut self.work, now);
            }
        }
        for key in self.registry.expire_orphans(self.cfg.continue_push, now) {
            if let Some(&sidx) = self.stream_by_key.get(&key) {
                info!(stream = %key, "publisher did not return within continue_push_ms; closing players");
                self.close_stream_players(sidx, "stream ended");
            }
        }
        // TCP connections that never completed an ICE check within the timeout.
        let stale: Vec<SocketAddr> = self
            .net
            .tcp
            .iter()
            .filter(|(_, c)| !c.bound && now.saturating_duration_since(c.opened) > timeout)
            .map(|(a, _)| *a)
            .collect();
        for a in stale {
            self.net.tcp.remove(&a);
        }
        self.process_work(now);
        self.release_freed_memory(now);
    }

    /// After sessions ended, hands freed heap pages back to the OS at most every 5 s. glibc's
    /// allocator otherwise keeps the peak (a burst of 10,000 sessions left ~300 MB resident after
    /// they all ended), which operators read as a leak; `malloc_trim` costs a few milliseconds
    /// on a large heap, hence the rate limit and doing it only after closes.
    fn release_freed_memory(&mut self, now: Instant) {
        if self.closed_since_trim == 0 || now.saturating_duration_since(self.last_trim) < Duration::from_secs(5) {
            return;
        }
        self.closed_since_trim = 0;
        self.last_trim = now;
        self.compact_session_tables();
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// Gives back what the session tables grew to at a peak: trailing empty slots (their
    /// indices leave the free list; queued work and timers for them are ignored, as for any
    /// closed slot) and the spare capacity of the slot vector and the lookup maps.
    fn compact_session_tables(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let len = self.slots.len();
        self.free.retain(|&i| i < len);
        fn oversized(capacity: usize, len: usize) -> bool {
            capacity > 2 * len + 64
        }
        if oversized(self.slots.capacity(), len) {
            self.slots.shrink_to_fit();
            self.free.shrink_to_fit();
        }
        if oversized(self.by_ufrag.capacity(), self.by_ufrag.len()) {
            self.by_ufrag.shrink_to_fit();
        }
        if oversized(self.by_addr.capacity(), self.by_addr.len()) {
            self.by_addr.shrink_to_fit();
        }
    }

    // -----------------------------------------------------------------------------------------
    // Draining a session's output

    fn drain(&mut self, idx: usize, gen: u64, now: Instant) {
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { return };
        drain_session(&mut slot.session, idx, gen, &mut self.net, &mut self.timers, &mut self.work, now);
    }

    fn process_work(&mut self, now: Instant) {
        while let Some(w) = self.work.pop_front() {
            match w {
                Work::Rtp(idx, gen, pkt) => {
                    if self.is_live(idx, gen) {
                        self.forward(idx, pkt, now);
                    }
                }
                Work::KeyframeRequest(idx, gen, req) => {
                    if self.is_live(idx, gen) {
                        self.on_keyframe_request(idx, req, now);
                    }
                }
                Work::Connected(idx, gen) => {
                    if self.is_live(idx, gen) {
                        self.on_connected(idx, now);
                    }
                }
                Work::Close(idx, gen, reason) => {
                    if self.is_live(idx, gen) {
                        self.close_session(idx, reason, now);
                    }
                }
                Work::ChannelData(idx, gen, data) => {
                    if self.is_live(idx, gen) {
                        self.on_channel_data(idx, data, now);
                    }
                }
                Work::Nack(idx, gen, nack) => {
                    if self.is_live(idx, gen) {
                        self.on_nack(idx, &nack, now);
                    }
                }
                Work::ChannelFlush(idx, gen, id) => {
                    if let Some(Some(slot)) = self.slots.get_mut(idx) {
                        if slot.gen == gen {
                            if let Some(ch) = slot.session.dc.position(id) {
                                slot.session.dc.flush(&mut slot.session.rtc, ch);
                                drain_session(&mut slot.session, idx, gen, &mut self.net, &mut self.timers, &mut self.work, now);
                            }
                        }
                    }
                }
            }
        }
    }

    fn is_live(&self, idx: usize, gen: u64) -> bool {
        matches!(self.slots.get(idx), Some(Some(s)) if s.gen == gen)
    }

    // -----------------------------------------------------------------------------------------
    // Forwarding

    fn forward(&mut self, idx: usize, pkt: RtpPacket, now: Instant) {
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { return };
        let gen = slot.gen;
        let stream_idx = slot.stream;
        let sess = &mut slot.session;
        let ssrc = pkt.header.ssrc;
        match &mut sess.role {
            Role::Echo { tracks } => {
                let Some(mid) = sess.rtc.direct_api().stream_rx(&ssrc).map(|s| s.mid()) else { return };
                let Some(dt) = tracks.get_mut(&mid) else { return };
                let Some((seq, ts)) = dt.rewriter.map(0, *pkt.seq_no, pkt.header.timestamp, now) else { return };
                let video = dt.kind == MediaKind::Video;
                if let Some(tx) = sess.rtc.direct_api().stream_tx_by_mid(mid, None) {
                    tx.write_rtp(
                        RtpWrite::new(pkt.header.payload_type, seq.into(), ts, pkt.timestamp, pkt.payload.clone())
                            .marker(pkt.header.marker)
                            .nackable(video)
                            .ext_vals(forwarded_ext(&pkt.header.ext_vals)),
                    );
                    sess.counters.tx_packets += 1;
                    sess.counters.tx_bytes += pkt.payload.len() as u64;
                    sess.rtc_written = true;
                    note_media_written(sess, idx, gen, &mut self.media_written);
                }
            }
            Role::Publisher { tracks } => {
                let kind = match tracks.get(&ssrc) {
                    Some((_, kind)) => *kind,
                    None => {
                        let mut api = sess.rtc.direct_api();
                        let Some(mid) = api.stream_rx(&ssrc).map(|s| s.mid()) else { return };
                        let Some(kind) = sess.rtc.media(mid).map(|m| m.kind()) else { return };
                        if tracks.len() < 16 {
                            tracks.insert(ssrc, (mid, kind));
                        }
                        kind
                    }
                };
                let Some(stream_idx) = stream_idx else { return };
                let Some(Some(stream)) = self.streams.get_mut(stream_idx) else { return };
                let epoch = stream.epoch;
                let track = match kind {
                    MediaKind::Audio => stream.audio.as_mut(),
                    MediaKind::Video => stream.video.as_mut(),
                };
                let Some(track) = track else { return };
                let Some(params) = track.params_for(pkt.header.payload_type).copied() else {
                    sess.counters.rx_rtp_dropped += 1;
                    return;
                };
                let keyframe = video_codec(&params).is_some_and(|c| starts_keyframe(c, &pkt.payload));
                let packet = CachedPacket {
                    seq: *pkt.seq_no,
                    ts: pkt.header.timestamp,
                    pt: pkt.header.payload_type,
                    marker: pkt.header.marker,
                    payload: pkt.payload.clone(),
                    arrival: pkt.timestamp,
                };
                let ext = forwarded_ext(&pkt.header.ext_vals);
                if let Some(recent) = track.recent.as_mut() {
                    recent.push(&packet, &ext);
                }
                if let Some(gop) = track.gop.as_mut() {
                    gop.push(packet.clone(), keyframe);
                }
                if stream.players.len() >= FANOUT_QUEUE_MIN_PLAYERS {
                    // Written at the end of the turn, player by player: by the egress pool in
                    // parallel, or by this thread (`send_fanout_serial`).
                    stream.fanout_count += 1;
                    if stream.fanout.is_empty() {
                        self.fanout_streams.push(stream_idx);
                    }
                    stream.fanout.push(FanoutItem {
                        n: stream.fanout_count,
                        kind,
                        packet,
                        ext,
                        keyframe,
                        params,
                        epoch,
                    });
                    return;
                }
                let fwd = Forward::new(&packet, &ext, keyframe);
                let mut want_keyframe = false;
                for &p in &stream.players {
                    let Some(Some(pslot)) = self.slots.get_mut(p) else { continue };
                    match write_to_player(&mut pslot.session, kind, &fwd, &params, epoch, now) {
                        PlayerWrite::Written => note_media_written(&mut pslot.session, p, pslot.gen, &mut self.media_written),
                        PlayerWrite::NeedsKeyframe => want_keyframe = true,
                        PlayerWrite::Skipped => {}
                    }
                }
                if want_keyframe {
                    self.request_keyframe(stream_idx, now);
                }
            }
            Role::Player { .. } => {
                // Players are recvonly; media from them (e.g. a sendrecv client) is not forwarded.
                sess.counters.rx_rtp_dropped += 1;
            }
        }
    }

    /// A player's DTLS is up: replay the cached GOP so it can decode at once (fast start).
    fn on_connected(&mut self, idx: usize, now: Instant) {
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { return };
        let gen = slot.gen;
        let Some(stream_idx) = slot.stream else { return };
        if !matches!(slot.session.role, Role::Player { .. }) {
            return;
        }
        setup_direct_egress(&mut slot.session);
        let Some(Some(stream)) = self.streams.get(stream_idx) else { return };
        let epoch = stream.epoch;
        // Packets queued for the pool this turn are in the GOP replayed below (video) or
        // predate the player (audio).
        slot.session.fanout_after = stream.fanout_count;
        let mut need_keyframe = false;
        if let Some(track) = &stream.video {
            let cached = track.gop.as_ref().map(|g| g.packets()).unwrap_or(&[]);
            if cached.is_empty() {
                need_keyframe = true;
            }
            let player = &mut slot.session;
            let mut sent = 0u64;
            let no_ext = ExtensionValues::default();
            for (i, c) in cached.iter().enumerate() {
                let Some(params) = track.params_for(c.pt) else { continue };
                let fwd = Forward::new(c, &no_ext, i == 0);
                match write_to_player(player, MediaKind::Video, &fwd, params, epoch, now) {
                    PlayerWrite::Written => note_media_written(player, idx, gen, &mut self.media_written),
                    PlayerWrite::NeedsKeyframe => need_keyframe = true,
                    PlayerWrite::Skipped => {}
                }
                sent += 1;
            }
            player.counters.fast_start_packets += sent;
            if sent > 0 {
                debug!(session = %player.id, stream = %player.key, packets = sent, "fast start: cached GOP sent");
            }
        }
        if need_keyframe {
            self.request_keyframe(stream_idx, now);
        }
    }

    /// A direct-egress player lost packets: resend them as RTX (RFC 4588) from the track's
    /// recent packets. Packets of an earlier source epoch or gone from the buffer are not
    /// resent (the player's PLI after its NACKs fail gets it a keyframe).
    fn on_nack(&mut self, idx: usize, nack: &Nack, now: Instant) {
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { return };
        let gen = slot.gen;
        let Some(Some(stream)) = slot.stream.and_then(|s| self.streams.get(s)) else { return };
        let Some(recent) = stream.video.as_ref().and_then(|t| t.recent.as_ref()) else { return };
        let sess = &mut slot.session;
        let Session { role, direct, counters, .. } = sess;
        let (Role::Player { video: Some(dt), .. }, Some(out)) = (role, direct.as_mut()) else { return };
        let Some(track) = dt.direct.as_mut() else { return };
        if *nack.ssrc != track.ssrc {
            return;
        }
        counters.nacks_received += 1;
        let Some(last) = dt.rewriter.last_out_seq() else { return };
        // str0m expands each entry's bitmask and extends the numbers around our latest.
        let lost = nack.reports.iter().flat_map(|e| e.into_iter(last.into()));
        let mut sent = 0;
        for out_seq in lost.take(MAX_RTX_PER_NACK) {
            let out_seq = *out_seq;
            if out_seq > last {
                continue; // not sent yet
            }
            let Some((pkt, ext)) = dt.rewriter.source_seq(out_seq).and_then(|s| recent.get(s)) else { continue };
            let Some(local_pt) = dt.pt_map.get(pkt.pt) else { continue };
            let Some(rtx_pt) = track.rtx_pt(*local_pt) else { continue };
            let Some(rtx_ssrc) = track.rtx_ssrc else { continue };
            let Some(epoch) = dt.rewriter.epoch() else { continue };
            // Same mapping as when it was first sent: the splice is unchanged (source_seq).
            let Some((_, ts)) = dt.rewriter.map(epoch, pkt.seq, pkt.ts, pkt.arrival) else { continue };
            if !track.take_rtx_token(now) {
                break;
            }
            let h = RtpOut { pt: rtx_pt, marker: pkt.marker, seq: track.rtx_seq as u16, ts, ssrc: rtx_ssrc };
            // RFC 4588 section 4: the payload starts with the original sequence number.
            let osn = (out_seq as u16).to_be_bytes();
            if out.queue_rtp(&h, track.rtx_seq, ext, &track.ext_ids, dt.mid.as_bytes(), &[&osn, &pkt.payload]) {
                track.rtx_seq += 1;
                track.rtx_sent += 1;
                counters.rtx_sent += 1;
                sent += 1;
            }
        }
        if sent > 0 {
            note_media_written(sess, idx, gen, &mut self.media_written);
        }
    }

    fn on_keyframe_request(&mut self, idx: usize, req: KeyframeRequest, now: Instant) {
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { return };
        slot.session.counters.keyframe_requests_received += 1;
        match &slot.session.role {
            Role::Echo { .. } => {
                let gen = slot.gen;
                let sess = &mut slot.session;
                if let Some(rx) = sess.rtc.direct_api().stream_rx_by_mid(req.mid, None) {
                    rx.request_keyframe(req.kind);
                }
                drain_session(sess, idx, gen, &mut self.net, &mut self.timers, &mut self.work, now);
            }
            Role::Player { .. } => {
                if let Some(stream_idx) = slot.stream {
                    self.request_keyframe(stream_idx, now);
                }
            }
            Role::Publisher { .. } => {}
        }
    }

    /// Asks the publisher for a keyframe, at most once per `keyframeRequestIntervalMS` per
    /// stream: many players losing the same packet must not flood the publisher with PLIs.
    fn request_keyframe(&mut self, stream_idx: usize, now: Instant) {
        let Some(Some(stream)) = self.streams.get_mut(stream_idx) else { return };
        if stream
            .last_keyframe_request
            .is_some_and(|t| now.saturating_duration_since(t) < self.cfg.keyframe_request_interval)
        {
            return;
        }
        let (Some(pidx), Some(video)) = (stream.publisher, stream.video.as_ref()) else { return };
        let mid = video.mid;
        stream.last_keyframe_request = Some(now);
        let Some(Some(slot)) = self.slots.get_mut(pidx) else { return };
        let gen = slot.gen;
        let sess = &mut slot.session;
        if let Some(rx) = sess.rtc.direct_api().stream_rx_by_mid(mid, None) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
            sess.counters.keyframe_requests_sent += 1;
        }
        drain_session(sess, pidx, gen, &mut self.net, &mut self.timers, &mut self.work, now);
    }

    // -----------------------------------------------------------------------------------------
    // DataChannel routing

    /// A message arrived on a session's DataChannel: relay it inside the stream. The payload is
    /// never parsed; text stays text and binary stays binary.
    fn on_channel_data(&mut self, idx: usize, data: ChannelData, now: Instant) {
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { return };
        let Some(label) = slot.session.dc.on_data(data.id, data.data.len()) else { return };
        if data.data.len() > self.cfg.datachannel_max_message_size {
            // Over the advertised a=max-message-size: only this channel is closed (RFC 8841
            // section 6.1 leaves the reaction to the receiver).
            let sess = &mut slot.session;
            warn!(session = %sess.id, stream = %sess.key, %label, len = data.data.len(),
                limit = self.cfg.datachannel_max_message_size, "data channel message over datachannelMaxMessageSize; closing the channel");
            sess.dc.count_refused();
            sess.rtc.direct_api().close_data_channel(data.id);
            sess.dc.on_close(data.id);
            let gen = slot.gen;
            drain_session(&mut slot.session, idx, gen, &mut self.net, &mut self.timers, &mut self.work, now);
            return;
        }
        let stream_idx = slot.stream;
        let kind = slot.session.kind;
        let binary = data.binary;
        let payload: Arc<[u8]> = Arc::from(data.data);
        let mut targets: Vec<usize> = Vec::new();
        if self.cfg.datachannel_echo {
            targets.push(idx);
        }
        if let Some(st) = stream_idx.and_then(|i| self.streams.get(i)).and_then(|s| s.as_ref()) {
            match kind {
                SessionKind::Publish => targets.extend(st.players.iter().copied()),
                SessionKind::Play => {
                    targets.extend(st.publisher);
                    if self.cfg.datachannel_relay_players {
                        targets.extend(st.players.iter().copied().filter(|&p| p != idx));
                    }
                }
                SessionKind::Echo => {}
            }
        }
        for t in targets {
            self.deliver(t, Some(&label), binary, payload.clone(), now);
        }
    }

    /// Queues a message on the best channel of session `idx`. Returns false when the session has
    /// no open channel or the message was dropped.
    fn deliver(&mut self, idx: usize, label: Option<&str>, binary: bool, payload: Arc<[u8]>, now: Instant) -> bool {
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { return false };
        let gen = slot.gen;
        let sess = &mut slot.session;
        let Some(ch) = sess.dc.target(label) else { return false };
        let queued = match sess.dc.enqueue(ch, binary, payload, self.cfg.datachannel_buffer_bytes) {
            Enqueued::Queued => {
                sess.dc.flush(&mut sess.rtc, ch);
                true
            }
            Enqueued::CloseSlow => {
                let id = sess.dc.channels[ch].id;
                warn!(session = %sess.id, stream = %sess.key, label = %sess.dc.channels[ch].label,
                    bound = self.cfg.datachannel_buffer_bytes,
                    "data channel closed: the peer does not read fast enough (send queue over datachannelBufferBytes)");
                sess.rtc.direct_api().close_data_channel(id);
                sess.dc.on_close(id);
                false
            }
            Enqueued::Dropped | Enqueued::NoChannel => false,
        };
        drain_session(sess, idx, gen, &mut self.net, &mut self.timers, &mut self.work, now);
        queued
    }

    fn broadcast(&mut self, req: BroadcastRequest, now: Instant) -> Result<usize, SessionError> {
        let stream_idx = *self.stream_by_key.get(&req.key).ok_or(SessionError::StreamNotFound)?;
        let Some(Some(st)) = self.streams.get(stream_idx) else { return Err(SessionError::StreamNotFound) };
        let mut targets: Vec<usize> = Vec::new();
        if matches!(req.target, BroadcastTarget::Publisher | BroadcastTarget::All) {
            targets.extend(st.publisher);
        }
        if matches!(req.target, BroadcastTarget::Players | BroadcastTarget::All) {
            targets.extend(st.players.iter().copied());
        }
        if let Some(only) = &req.session {
            targets.retain(|&t| matches!(self.slots.get(t), Some(Some(s)) if &s.session.id == only));
        }
        let payload: Arc<[u8]> = Arc::from(req.payload);
        let mut count = 0;
        for t in targets {
            if self.deliver(t, None, req.binary, payload.clone(), now) {
                count += 1;
            }
        }
        Ok(count)
    }

    // -----------------------------------------------------------------------------------------
    // Commands

    fn handle_command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::Create { req, reply } => {
                let res = self.create_session(req, now);
                let _ = reply.send(res);
            }
            Command::Delete { id, token, reply } => {
                let res = match self.by_ufrag.get(&id).copied() {
                    None => Err(SessionError::SessionNotFound),
                    Some(idx) => match self.slots.get(idx).and_then(|s| s.as_ref()) {
                        Some(s) if s.session.id != id => Err(SessionError::SessionNotFound),
                        Some(s) if token.as_deref().is_some_and(|t| t != s.session.token) => {
                            Err(SessionError::TokenMismatch)
                        }
                        Some(_) => {
                            self.close_session(idx, "deleted by signaling", now);
                            Ok(())
                        }
                        None => Err(SessionError::SessionNotFound),
                    },
                };
                let _ = reply.send(res);
            }
            Command::Trickle { id, token, frag, reply } => {
                let res = self.trickle(&id, &token, &frag, now);
                let _ = reply.send(res);
            }
            Command::Stats { id, reply } => {
                let res = match self.find_session(&id) {
                    Some(idx) => match self.slots.get(idx).and_then(|s| s.as_ref()) {
                        Some(s) => Ok(s.session.stats_json(now)),
                        None => Err(SessionError::SessionNotFound),
                    },
                    None => Err(SessionError::SessionNotFound),
                };
                let _ = reply.send(res);
            }
            Command::Broadcast { req, reply } => {
                let res = self.broadcast(req, now);
                let _ = reply.send(res);
            }
            Command::List { reply } => {
                let list = self
                    .slots
                    .iter()
                    .flatten()
                    .map(|s| SessionSummary {
                        id: s.session.id.clone(),
                        kind: s.session.kind,
                        stream: s.session.key.clone(),
                        protocol: s.session.protocol,
                        state: s.session.state(),
                        peer: s.session.peer,
                        age_ms: now.saturating_duration_since(s.session.created).as_millis() as u64,
                    })
                    .collect();
                let _ = reply.send(list);
            }
        }
        self.process_work(now);
    }

    fn find_session(&self, id: &str) -> Option<usize> {
        let idx = *self.by_ufrag.get(id)?;
        match self.slots.get(idx) {
            Some(Some(s)) if s.session.id == id => Some(idx),
            _ => None,
        }
    }

    /// A configured `Rtc` for a new session, and for a player with direct egress on, the slot
    /// its DTLS-SRTP keys will land in.
    fn new_rtc(&self, ufrag: &str, pwd: &str, codecs: CodecConfig, req: &SessionRequest) -> Result<(Rtc, Option<KeySlot>), SessionError> {
        let mut config = RtcConfig::new()
            .set_crypto_provider(key_capture::provider())
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .set_dtls_cert(self.cert.clone())
            .set_local_ice_credentials(IceCreds { ufrag: ufrag.to_owned(), pass: pwd.to_owned() })
            .set_stats_interval(Some(Duration::from_secs(2)))
            // Answered when a peer offers it, forwarded from publisher to players (id 7 is free
            // in str0m's standard map; an offer's own id wins).
            .set_extension(7, Extension::AbsoluteCaptureTime)
            .set_send_buffer_video(self.cfg.rtx_cache_packets)
            .set_send_buffer_audio(self.cfg.rtx_cache_packets.min(512))
            // str0m uses one value for the advertised a=max-message-size and for its SCTP
            // receive limit, and a message over the receive limit aborts the whole association.
            // So the receive limit is set well above the policy (the answer is rewritten to
            // advertise the policy), and a message between the two closes only its channel.
            .set_sctp_max_message_size(u32::try_from(sctp_receive_limit(self.cfg.datachannel_max_message_size)).unwrap_or(u32::MAX))
            // SCTP's own buffer; our per-channel queues (datachannelBufferBytes) sit in front.
            .set_sctp_max_buffered_amount(1 << 20);
        *config.codec_config() = codecs;
        let direct = req.kind == SessionKind::Play && self.cfg.direct_egress;
        if req.kind == SessionKind::Play {
            config = without_transport_cc(config);
        }
        if direct {
            // A player's NACKs reach the engine only as raw RTCP (str0m answers NACKs itself
            // from its own cache, which direct egress does not fill).
            config = config.enable_raw_packets(true);
        }
        let keys = direct.then(key_capture::capture_next_dtls);
        let mut rtc = config.build(Instant::now());
        key_capture::cancel_capture();
        let mut added = 0;
        for &addr in &req.candidates.udp {
            if let Ok(c) = Candidate::host(addr, "udp") {
                if rtc.add_local_candidate(c).is_some() {
                    added += 1;
                }
            }
        }
        for &addr in &req.candidates.tcp {
            if let Ok(c) = Candidate::builder().tcp().host(addr).tcptype(TcpType::Passive).build() {
                if rtc.add_local_candidate(c).is_some() {
                    added += 1;
                }
            }
        }
        if added == 0 {
            return Err(SessionError::Internal("no usable ICE candidate address (check rtc.externIP)".into()));
        }
        Ok((rtc, keys))
    }

    fn create_session(&mut self, req: SessionRequest, now: Instant) -> Result<SessionAnswer, SessionError> {
        if self.live_sessions >= self.cfg.max_sessions {
            return Err(SessionError::Overloaded(format!("{} sessions (rtc.maxSessions)", self.live_sessions)));
        }
        if req.kind == SessionKind::Echo && !self.cfg.enable_echo {
            return Err(SessionError::Unsupported("echo sessions are disabled (rtc.echo=0)".into()));
        }
        let ufrag = match &req.ice_ufrag {
            Some(u) if self.by_ufrag.contains_key(u) => {
                return Err(SessionError::BadRequest("ice-ufrag already in use".into()));
            }
            Some(u) => u.clone(),
            None => loop {
                let u = random_alnum(16);
                if !self.by_ufrag.contains_key(&u) {
                    break u;
                }
            },
        };
        let pwd = req.ice_pwd.clone().unwrap_or_else(|| random_alnum(32));

        // Stream and codecs this session is negotiated against.
        let existing = self.stream_by_key.get(&req.key).copied();
        let codecs = match req.kind {
            SessionKind::Publish | SessionKind::Echo => publisher_codecs(&self.cfg.audio_pref, &self.cfg.video_pref),
            SessionKind::Play => {
                let stream = existing
                    .and_then(|i| self.streams.get(i).and_then(|s| s.as_ref()))
                    .ok_or(SessionError::StreamNotFound)?;
                let mut free = unused_payload_types(&req.offer);
                let primaries: Vec<PayloadParams> = [&stream.audio, &stream.video]
                    .into_iter()
                    .filter_map(|t| t.as_ref().and_then(|t| t.primary()))
                    .filter_map(|p| for_player(p, &mut free))
                    .collect();
                if primaries.is_empty() {
                    return Err(SessionError::StreamNotFound);
                }
                CodecConfig::new_from_payload_params(primaries)
            }
        };
        let offer_text = match req.kind {
            SessionKind::Publish | SessionKind::Echo => {
                select_offer_codecs(&req.offer, &self.cfg.audio_pref, &self.cfg.video_pref)
            }
            // A player's offer is negotiated against the publisher's codec alone.
            SessionKind::Play => req.offer.clone(),
        };
        let offer = SdpOffer::from_sdp_string(&offer_text).map_err(|e| SessionError::BadOffer(e.to_string()))?;
        let remote_ufrag = offer_ufrag(&offer_text).unwrap_or_default();
        let (mut rtc, keys) = self.new_rtc(&ufrag, &pwd, codecs, &req)?;
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| SessionError::BadOffer(e.to_string()))?;

        // The negotiated m-lines, by the offer's mids (str0m's MediaAdded events only come
        // once the connection is up).
        let mut medias: Vec<(Mid, MediaKind, bool, bool)> = Vec::new(); // mid, kind, we receive, we send
        for mid in offer_mids(&offer_text) {
            if let Some(m) = rtc.media(mid) {
                if !medias.iter().any(|x| x.0 == mid) {
                    medias.push((mid, m.kind(), m.direction().is_receiving(), m.direction().is_sending()));
                }
            }
        }
        let negotiated = |rtc: &Rtc, mid: Mid| -> Vec<PayloadParams> {
            let Some(media) = rtc.media(mid) else { return Vec::new() };
            media
                .remote_pts()
                .iter()
                .filter_map(|pt| rtc.codec_config().params().iter().find(|p| p.pt() == *pt).copied())
                .collect()
        };

        let mut dc = DcState::default();
        if offer_text.lines().any(|l| l.starts_with("m=application")) {
            dc.precreate_negotiated(&mut rtc, &self.cfg.datachannel_negotiated_ids);
        }
        let id = ufrag.clone();
        let token = random_alnum(32);
        let (role, stream_idx) = match req.kind {
            SessionKind::Publish => {
                let mut audio = None;
                let mut video = None;
                for &(mid, kind, receiving, _) in &medias {
                    if !receiving {
                        continue;
                    }
                    let params = negotiated(&rtc, mid);
                    if params.is_empty() {
                        continue;
                    }
                    let slot = if kind == MediaKind::Audio { &mut audio } else { &mut video };
                    if slot.is_none() {
                        let video = kind == MediaKind::Video;
                        let gop = video.then(|| GopCache::new(self.cfg.gop_cache_max_packets));
                        // One buffer for all players (maxRtpCacheSize, at most 1024 packets:
                        // seconds of video, far more than a NACK's round trip).
                        let recent = (video && self.cfg.direct_egress).then(|| RecentPackets::new(self.cfg.rtx_cache_packets.min(1024)));
                        *slot = Some(SourceTrack { mid, params, gop, recent });
                    }
                }
                if audio.is_none() && video.is_none() {
                    return Err(SessionError::NoCommonCodec(
                        "the publish offer has no audio or video the server accepts (see rtc.preferredCodecA/V)".into(),
                    ));
                }
                let tracks = audio.iter().chain(video.iter()).filter_map(|t| t.primary()).map(|p| track_info(&p)).collect();
                let lease = self.registry.claim_source(&req.key, &id, req.protocol, tracks, now).map_err(|e| match e {
                    RegistryError::AlreadyPublishing => SessionError::AlreadyPublishing,
                    RegistryError::NotFound => SessionError::StreamNotFound,
                })?;
                let stream_idx = match existing {
                    Some(i) => i,
                    None => self.alloc_stream(req.key.clone()),
                };
                if let Some(Some(st)) = self.streams.get_mut(stream_idx) {
                    st.epoch = st.epoch.wrapping_add(1);
                    st.audio = audio;
                    st.video = video;
                    st.last_keyframe_request = None;
                }
                if lease.resumed {
                    info!(stream = %req.key, session = %id, "publisher resumed the stream within continue_push_ms");
                }
                (Role::Publisher { tracks: HashMap::new() }, Some(stream_idx))
            }
            SessionKind::Play => {
                let stream_idx = existing.ok_or(SessionError::StreamNotFound)?;
                let Some(Some(stream)) = self.streams.get(stream_idx) else { return Err(SessionError::StreamNotFound) };
                let mut audio_dt = None;
                let mut video_dt = None;
                for &(mid, kind, _, sending) in &medias {
                    let source = if kind == MediaKind::Audio { &stream.audio } else { &stream.video };
                    let Some(src) = source.as_ref().and_then(|s| s.primary()) else { continue };
                    let slot = if kind == MediaKind::Audio { &mut audio_dt } else { &mut video_dt };
                    if slot.is_some() {
                        continue;
                    }
                    let local = rtc.codec_config().match_params(src).copied();
                    let ok = sending
                        && local.is_some_and(|l| rtc.media(mid).is_some_and(|m| m.remote_pts().contains(&l.pt())));
                    if !ok {
                        let t = track_info(&src);
                        return Err(SessionError::NoCommonCodec(format!(
                            "the stream's {} is {} ({}) and the player does not accept it",
                            if kind == MediaKind::Audio { "audio" } else { "video" },
                            t.codec,
                            t.fmtp
                        )));
                    }
                    *slot = Some(DownTrack {
                        mid,
                        kind,
                        rewriter: Rewriter::new(src.spec().clock_rate.get()),
                        pt_map: PtMap::default(),
                        negotiated: src,
                        waiting_keyframe: kind == MediaKind::Video,
                        direct: None,
                    });
                }
                if audio_dt.is_none() && video_dt.is_none() {
                    return Err(SessionError::NoCommonCodec("the play offer has no audio or video m-line".into()));
                }
                for dt in [&audio_dt, &video_dt].into_iter().flatten() {
                    if let Some(tx) = rtc.direct_api().stream_tx_by_mid(dt.mid, None) {
                        tx.set_rtx_cache(self.cfg.rtx_cache_packets, self.cfg.rtx_cache_age, Some(0.15));
                    }
                }
                self.registry.add_sink(&req.key, &id, req.protocol).map_err(|_| SessionError::StreamNotFound)?;
                (Role::Player { audio: audio_dt, video: video_dt }, Some(stream_idx))
            }
            SessionKind::Echo => {
                let mut tracks = HashMap::new();
                for &(mid, kind, receiving, sending) in &medias {
                    let params = negotiated(&rtc, mid);
                    let (true, true, Some(primary)) = (receiving, sending, params.first().copied()) else { continue };
                    tracks.insert(
                        mid,
                        DownTrack {
                            mid,
                            kind,
                            rewriter: Rewriter::new(primary.spec().clock_rate.get()),
                            pt_map: PtMap::default(),
                            negotiated: primary,
                            waiting_keyframe: false,
                            direct: None,
                        },
                    );
                }
                if tracks.is_empty() {
                    return Err(SessionError::NoCommonCodec("the echo offer has no sendrecv audio or video".into()));
                }
                (Role::Echo { tracks }, None)
            }
        };

        let session = Session {
            id: id.clone(),
            token: token.clone(),
            kind: req.kind,
            key: req.key.clone(),
            protocol: req.protocol,
            peer: req.peer,
            remote_ufrag: remote_ufrag.clone(),
            ufrags: vec![ufrag.clone()],
            rtc,
            role,
            created: now,
            connected_at: None,
            last_consent: now,
            addrs: Vec::new(),
            local_udp: req.candidates.udp.clone(),
            local_tcp: req.candidates.tcp.clone(),
            next_timeout: now,
            media_written: false,
            rtc_written: false,
            keys,
            direct: None,
            media_path: None,
            fanout_after: 0,
            counters: Counters::default(),
            ingress: HashMap::new(),
            egress: HashMap::new(),
            ice_generation: 1,
            dc,
        };
        let gen = self.next_gen;
        self.next_gen += 1;
        let slot = Box::new(Slot { gen, session, stream: stream_idx });
        let idx = match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.live_sessions += 1;
        self.by_ufrag.insert(ufrag, idx);
        if let Some(st) = stream_idx.and_then(|i| self.streams.get_mut(i)).and_then(|s| s.as_mut()) {
            match req.kind {
                SessionKind::Publish => st.publisher = Some(idx),
                SessionKind::Play => st.players.push(idx),
                SessionKind::Echo => {}
            }
        }
        self.drain(idx, gen, now);
        info!(session = %id, stream = %req.key, kind = ?req.kind, protocol = req.protocol, peer = ?req.peer, "session created");
        let sdp = advertise_max_message_size(&answer.to_sdp_string(), self.cfg.datachannel_max_message_size);
        Ok(SessionAnswer { id, token, sdp, remote_ufrag })
    }

    fn alloc_stream(&mut self, key: StreamKey) -> usize {
        let st = StreamState {
            key: key.clone(),
            publisher: None,
            players: Vec::new(),
            epoch: 0,
            audio: None,
            video: None,
            last_keyframe_request: None,
            fanout: Vec::new(),
            fanout_count: 0,
        };
        let idx = match self.streams.iter().position(|s| s.is_none()) {
            Some(i) => {
                self.streams[i] = Some(st);
                i
            }
            None => {
                self.streams.push(Some(st));
                self.streams.len() - 1
            }
        };
        self.stream_by_key.insert(key, idx);
        idx
    }

    fn trickle(&mut self, id: &str, token: &str, frag: &str, now: Instant) -> Result<TrickleOutcome, SessionError> {
        let idx = self.find_session(id).ok_or(SessionError::SessionNotFound)?;
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else {
            return Err(SessionError::SessionNotFound);
        };
        let gen = slot.gen;
        let sess = &mut slot.session;
        if sess.token != token {
            return Err(SessionError::TokenMismatch);
        }
        let mut ufrag = None;
        let mut pwd = None;
        let mut candidates = Vec::new();
        for line in frag.lines().map(|l| l.trim()) {
            if let Some(v) = line.strip_prefix("a=ice-ufrag:") {
                ufrag = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("a=ice-pwd:") {
                pwd = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("a=") {
                if v.starts_with("candidate:") {
                    candidates.push(v.to_owned());
                }
            }
        }
        let restart = match (&ufrag, &pwd) {
            (Some(u), Some(_)) => *u != sess.remote_ufrag,
            _ => false,
        };
        let outcome = if restart {
            // RFC 8839 section 4.4.1.1.1 / RFC 9725 section 4.4: new credentials on both sides.
            let (Some(u), Some(p)) = (ufrag, pwd) else { return Err(SessionError::BadRequest("ice restart needs ufrag and pwd".into())) };
            let new_local = IceCreds { ufrag: random_alnum(16), pass: random_alnum(32) };
            let mut api = sess.rtc.direct_api();
            api.set_remote_ice_credentials(IceCreds { ufrag: u.clone(), pass: p });
            api.set_local_ice_credentials(new_local.clone());
            sess.remote_ufrag = u;
            sess.ice_generation += 1;
            sess.ufrags.push(new_local.ufrag.clone());
            let mut body = format!("a=ice-lite\r\na=ice-ufrag:{}\r\na=ice-pwd:{}\r\n", new_local.ufrag, new_local.pass);
            for a in sess.local_udp.iter() {
                body.push_str(&format!("a=candidate:1 1 udp 2130706431 {} {} typ host\r\n", a.ip(), a.port()));
            }
            for a in sess.local_tcp.iter() {
                body.push_str(&format!("a=candidate:2 1 tcp 1671430143 {} {} typ host tcptype passive\r\n", a.ip(), a.port()));
            }
            self.by_ufrag.insert(new_local.ufrag, idx);
            TrickleOutcome::Restarted { sdpfrag: body }
        } else {
            for c in candidates {
                match Candidate::from_sdp_string(&c) {
                    Ok(c) => sess.rtc.add_remote_candidate(c),
                    Err(e) => return Err(SessionError::BadRequest(format!("bad candidate: {e}"))),
                }
            }
            TrickleOutcome::Applied
        };
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.as_mut()) else { return Ok(outcome) };
        drain_session(&mut slot.session, idx, gen, &mut self.net, &mut self.timers, &mut self.work, now);
        Ok(outcome)
    }

    // -----------------------------------------------------------------------------------------
    // Teardown

    fn close_stream_players(&mut self, stream_idx: usize, reason: &'static str) {
        let Some(Some(st)) = self.streams.get(stream_idx) else { return };
        for &p in &st.players {
            if let Some(Some(s)) = self.slots.get(p) {
                self.work.push_back(Work::Close(p, s.gen, reason));
            }
        }
    }

    fn close_session(&mut self, idx: usize, reason: &'static str, now: Instant) {
        let Some(slot) = self.slots.get_mut(idx).and_then(|s| s.take()) else { return };
        self.free.push(idx);
        self.live_sessions = self.live_sessions.saturating_sub(1);
        self.closed_since_trim += 1;
        let Slot { session: mut sess, stream, .. } = *slot;
        sess.rtc.disconnect();
        for u in &sess.ufrags {
            if self.by_ufrag.get(u) == Some(&idx) {
                self.by_ufrag.remove(u);
            }
        }
        for key in &sess.addrs {
            if self.by_addr.get(key) == Some(&idx) {
                self.by_addr.remove(key);
            }
            if key.0 {
                // Dropping the sender ends the connection task.
                self.net.tcp.remove(&key.1);
            }
        }
        if let Some(stream_idx) = stream {
            match sess.kind {
                SessionKind::Publish => {
                    let still = self.registry.release_source(&sess.key, &sess.id, self.cfg.continue_push, now);
                    if let Some(Some(st)) = self.streams.get_mut(stream_idx) {
                        if st.publisher == Some(idx) {
                            st.publisher = None;
                        }
                    }
                    if !still {
                        self.close_stream_players(stream_idx, "stream ended");
                    } else {
                        info!(stream = %sess.key, "publisher left; players wait continue_push_ms for it to return");
                    }
                }
                SessionKind::Play => {
                    self.registry.remove_sink(&sess.key, &sess.id);
                    if let Some(Some(st)) = self.streams.get_mut(stream_idx) {
                        st.players.retain(|&p| p != idx);
                    }
                }
                SessionKind::Echo => {}
            }
            // Forget the stream once nobody uses it and the registry has let it go.
            let remove = match self.streams.get(stream_idx) {
                Some(Some(st)) => {
                    st.publisher.is_none() && st.players.is_empty() && self.registry.source_tracks(&st.key).is_none()
                }
                _ => false,
            };
            if remove {
                if let Some(st) = self.streams.get_mut(stream_idx).and_then(|s| s.take()) {
                    self.stream_by_key.remove(&st.key);
                }
            }
        }
        info!(session = %sess.id, stream = %sess.key, kind = ?sess.kind, reason, "session closed");
    }
}

// ---------------------------------------------------------------------------------------------
// Free functions of the forwarding path (they take the parts of the shard they need, so a
// publisher's and its players' state can be borrowed at once).

/// One packet on its way to a player.
struct Forward<'a> {
    seq: u64,
    ts: u32,
    pt: Pt,
    marker: bool,
    payload: &'a Arc<[u8]>,
    arrival: Instant,
    ext: &'a ExtensionValues,
    keyframe: bool,
}

impl<'a> Forward<'a> {
    fn new(p: &'a CachedPacket, ext: &'a ExtensionValues, keyframe: bool) -> Self {
        Forward { seq: p.seq, ts: p.ts, pt: p.pt, marker: p.marker, payload: &p.payload, arrival: p.arrival, ext, keyframe }
    }
}

/// Header extensions that describe the media and are passed through. Transport-level ones
/// (transport-cc sequence, abs-send-time, mid) are the sending `Rtc`'s own business.
fn forwarded_ext(e: &ExtensionValues) -> ExtensionValues {
    ExtensionValues {
        audio_level: e.audio_level,
        voice_activity: e.voice_activity,
        video_orientation: e.video_orientation,
        // When the capture happened (abs-capture-time): end-to-end latency and A/V sync for
        // the players, and what weir-bench measures latency through the server with.
        abs_capture_time: e.abs_capture_time,
        ..Default::default()
    }
}

/// Writes a turn's queued fan-out items of stream `sidx` to one of its players (those the
/// player's fast-start GOP replay already covered are skipped); a player waiting for a keyframe
/// adds the stream to `want_keyframe`. Returns whether anything was written.
fn write_fanout(sess: &mut Session, sidx: usize, items: &[FanoutItem], want_keyframe: &mut Vec<usize>, now: Instant) -> bool {
    let mut written = false;
    for item in items {
        if item.n <= sess.fanout_after {
            continue;
        }
        let fwd = Forward::new(&item.packet, &item.ext, item.keyframe);
        match write_to_player(sess, item.kind, &fwd, &item.params, item.epoch, now) {
            PlayerWrite::Written => written = true,
            PlayerWrite::NeedsKeyframe => {
                if !want_keyframe.contains(&sidx) {
                    want_keyframe.push(sidx);
                }
            }
            PlayerWrite::Skipped => {}
        }
    }
    written
}

/// What [`write_to_player`] did with a packet.
enum PlayerWrite {
    /// Queued in the player's `Rtc`; it goes out with the session's next `Input::Timeout`.
    Written,
    /// Dropped: the player waits for a keyframe (a new player or a new publisher).
    NeedsKeyframe,
    /// Dropped: not connected yet, no such down-track or no matching codec.
    Skipped,
}

/// Writes one packet to a player's down-track.
fn write_to_player(player: &mut Session, kind: MediaKind, fwd: &Forward, src: &PayloadParams, epoch: u32, now: Instant) -> PlayerWrite {
    use PlayerWrite::{NeedsKeyframe, Skipped, Written};
    if player.connected_at.is_none() {
        return Skipped;
    }
    let Session { rtc, role, counters, direct, rtc_written, .. } = player;
    let Role::Player { audio, video } = role else { return Skipped };
    let dt = match kind {
        MediaKind::Audio => audio.as_mut(),
        MediaKind::Video => video.as_mut(),
    };
    let Some(dt) = dt else { return Skipped };
    // A new source epoch (publisher reconnected): re-learn payload types, and video restarts
    // at a keyframe so the player's decoder never sees the new stream mid-GOP.
    if dt.rewriter.epoch().is_some_and(|e| e != epoch) {
        dt.pt_map.clear();
        if kind == MediaKind::Video {
            dt.waiting_keyframe = true;
        }
    }
    let local_pt = match dt.pt_map.get(fwd.pt) {
        Some(l) => l,
        None => {
            let Some(local) = rtc.codec_config().match_params(*src).map(|p| p.pt()) else { return Skipped };
            if !rtc.media(dt.mid).is_some_and(|m| m.remote_pts().contains(&local)) {
                return Skipped; // a new publisher with a codec this player did not negotiate
            }
            dt.pt_map.insert(fwd.pt, local);
            local
        }
    };
    if dt.waiting_keyframe {
        if !fwd.keyframe {
            return NeedsKeyframe;
        }
        dt.waiting_keyframe = false;
    }
    let Some((seq, ts)) = dt.rewriter.map(epoch, fwd.seq, fwd.ts, now) else { return Skipped };
    let via_rtc = match (direct.as_mut(), dt.direct.as_mut()) {
        // The packet for str0m is the player's first of the turn, so sending str0m's output
        // before the direct queue keeps the player's packets in order (`send_written`).
        (Some(out), Some(track)) if !(track.sender_report_due(now) && out.queue.is_empty() && !*rtc_written) => {
            let h = RtpOut { pt: *local_pt, marker: fwd.marker, seq: seq as u16, ts, ssrc: track.ssrc };
            if !out.queue_rtp(&h, seq, fwd.ext, &track.ext_ids, dt.mid.as_bytes(), &[fwd.payload]) {
                return Skipped;
            }
            false
        }
        (Some(_), Some(track)) => {
            // Once a second str0m sends one, so its sender reports map RTP to wall-clock time.
            track.rtc_written_at = Some(now);
            true
        }
        _ => true,
    };
    if via_rtc {
        let mut api = rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(dt.mid, None) else { return Skipped };
        tx.write_rtp(
            RtpWrite::new(local_pt, seq.into(), ts, fwd.arrival, fwd.payload.clone())
                .marker(fwd.marker)
                .nackable(kind == MediaKind::Video)
                .ext_vals(fwd.ext.clone()),
        );
        *rtc_written = true;
    }
    counters.tx_packets += 1;
    counters.tx_bytes += fwd.payload.len() as u64;
    counters.first_packet_at.get_or_insert(now);
    if fwd.keyframe {
        counters.first_keyframe_at.get_or_insert(now);
    }
    Written
}

/// Switches a player that just connected to direct egress (`direct.rs`) when its video (if
/// any) has RTX; otherwise it stays on str0m.
fn setup_direct_egress(sess: &mut Session) {
    let Some(keys) = sess.keys.take().and_then(|slot| slot.get().cloned()) else { return };
    let Some(srtp) = keys.local_sender() else {
        debug!(session = %sess.id, profile = ?keys.profile, "SRTP profile not handled by direct egress");
        return;
    };
    let Session { rtc, role, .. } = sess;
    let Role::Player { audio, video } = role else { return };
    let mut tracks = Vec::new();
    for dt in [audio.as_ref(), video.as_ref()].into_iter().flatten() {
        let Some(media) = rtc.media(dt.mid) else { return };
        let ext_ids = ExtIds::of(media.remote_extmap());
        let mut api = rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(dt.mid, None) else { return };
        let (ssrc, rtx_ssrc) = (*tx.ssrc(), tx.rtx().map(|s| *s));
        let rtx_pts: Vec<(u8, u8)> = rtc
            .codec_config()
            .params()
            .iter()
            .filter_map(|p| Some((*p.pt(), *p.resend()?)))
            .collect();
        if dt.kind == MediaKind::Video && (rtx_ssrc.is_none() || rtx_pts.is_empty()) {
            debug!(session = %sess.id, "player has no RTX for video: staying on the WebRTC stack");
            return;
        }
        tracks.push(DirectTrack {
            ssrc,
            rtx_ssrc,
            rtx_pts,
            rtx_seq: u64::from(rand::random::<u16>() >> 1),
            ext_ids,
            rtc_written_at: None,
            rtx_sent: 0,
            rtx_tokens: 0.0,
            rtx_tokens_at: None,
        });
    }
    for (dt, track) in [audio.as_mut(), video.as_mut()].into_iter().flatten().zip(tracks) {
        // str0m must never send RTX on these SSRCs itself: its RTX sequence numbers would
        // collide with ours under the same SRTP key. An inert cache (age 0) resends nothing.
        if let Some(tx) = rtc.direct_api().stream_tx_by_mid(dt.mid, None) {
            tx.set_rtx_cache(0, Duration::ZERO, None);
        }
        dt.direct = Some(track);
    }
    sess.direct = Some(DirectEgress::new(srtp));
    debug!(session = %sess.id, stream = %sess.key, "direct egress");
}

/// Records that `sess` has packets waiting for their `Input::Timeout` (see
/// [`Shard::send_written_media`]); each session is listed once per loop turn.
fn note_media_written(sess: &mut Session, idx: usize, gen: u64, written: &mut Vec<(usize, u64)>) {
    if !sess.media_written {
        sess.media_written = true;
        written.push((idx, gen));
    }
}

/// Sends what a session was given in this loop turn: if its `Rtc` was written to, what str0m
/// releases on the `Input::Timeout` it now gets, then its direct-egress datagrams (str0m only
/// gets a direct player's first packet of a turn, see `write_to_player`).
#[allow(clippy::too_many_arguments)]
fn send_written(
    sess: &mut Session,
    idx: usize,
    gen: u64,
    net: &mut impl Transmitter,
    timers: &mut impl Extend<TimerEntry>,
    work: &mut impl Extend<Work>,
    now: Instant,
) {
    if std::mem::take(&mut sess.rtc_written) {
        give_timeout(sess, now);
        drain_session(sess, idx, gen, net, timers, work, now);
    }
    if let Some(out) = sess.direct.as_mut() {
        match sess.media_path {
            Some((proto, dest)) => {
                for datagram in out.queue.drain(..) {
                    net.datagram(proto, dest, datagram);
                }
            }
            None => out.queue.clear(),
        }
    }
}

/// What a session did with a datagram.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Taken {
    /// A STUN request authenticated with the session's ICE password: consent and address
    /// bookkeeping follow.
    Stun,
    /// Anything else, including what str0m rejected or a datagram for no local address.
    Other,
    /// The WebRTC stack panicked: the session is closing (a `Work::Close` is queued).
    Dead,
}

/// Feeds one datagram to a session's `Rtc` and drains what it produces (transmits, timer,
/// work items). Runs on the engine thread or an egress worker (`handle_datagrams_parallel`);
/// the engine's tables are updated by the caller.
#[allow(clippy::too_many_arguments)]
fn receive_on_session(
    sess: &mut Session,
    idx: usize,
    gen: u64,
    tcp: bool,
    src: SocketAddr,
    data: &[u8],
    now: Instant,
    net: &mut impl Transmitter,
    timers: &mut impl Extend<TimerEntry>,
    work: &mut impl Extend<Work>,
) -> Taken {
    let Some(destination) = sess.local_addr_for(tcp, src) else { return Taken::Other };
    let Ok(contents) = data.try_into() else {
        sess.counters.bad_packets += 1;
        return Taken::Other;
    };
    let stun = is_stun(data);
    let proto = if tcp { Protocol::Tcp } else { Protocol::Udp };
    let input = Input::Receive(now, Receive { proto, source: src, destination, contents });
    // str0m promises not to panic on network input; if a bug breaks that promise, only this
    // session dies (its Rtc is discarded), never the thread serving everyone else.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sess.rtc.handle_input(input))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            sess.counters.bad_packets += 1;
            debug!(session = %sess.id, stream = %sess.key, error = %e, "packet rejected");
        }
        Err(_) => {
            warn!(session = %sess.id, stream = %sess.key, "WebRTC stack panicked on input; closing the session");
            work.extend([Work::Close(idx, gen, "internal error in the WebRTC stack")]);
            return Taken::Dead;
        }
    }
    drain_session(sess, idx, gen, net, timers, work, now);
    if stun && stun_request_authenticated(sess, data) {
        Taken::Stun
    } else {
        Taken::Other
    }
}

/// Whether a STUN message is a request whose MESSAGE-INTEGRITY checks out against the session's
/// ICE password. Only such a request refreshes consent (RFC 7675 section 5.1: consent needs an
/// authenticated check) or binds its source address to the session (RFC 8445 section 7.3):
/// str0m drops a forged one silently, so the engine checks too, else anyone who learned a
/// session's ufrag could keep it alive or attach addresses to it.
fn stun_request_authenticated(sess: &mut Session, data: &[u8]) -> bool {
    let Ok(msg) = weir_turn::stun::Message::parse(data) else { return false };
    msg.class == weir_turn::stun::Class::Request && msg.verify_integrity(sess.rtc.direct_api().local_ice_credentials().pass.as_bytes())
}

/// A session given to the pool by `handle_datagrams_parallel`: (slot index, generation, the
/// session, its (session, datagram index) pairs).
type IngressTarget<'a> = (usize, u64, &'a mut Session, &'a [(usize, usize)]);

/// Runs `work` on the pool: `targets` cut into one chunk per thread, each chunk with its own
/// `WorkerNet` (flushed after it). Returns each chunk's result and what its net sent.
fn on_pool<T: Send, R: Send>(
    pool: &rayon::ThreadPool,
    view: NetView<'_>,
    targets: &mut [T],
    work: impl Fn(&mut [T], &mut WorkerNet<'_>) -> R + Sync,
) -> Vec<(R, SendCounts)> {
    use rayon::prelude::*;
    let chunk = targets.len().div_ceil(pool.current_num_threads()).max(1);
    pool.install(|| {
        targets
            .par_chunks_mut(chunk)
            .map(|chunk| {
                let mut net = WorkerNet { view, batch: UdpBatch::with_capacity() };
                let result = work(chunk, &mut net);
                net.flush();
                (result, net.batch.counts)
            })
            .collect()
    })
}

/// What an egress worker's share of `handle_datagrams_parallel` produced.
#[derive(Default)]
struct IngressResult {
    timers: Vec<TimerEntry>,
    work: Vec<Work>,
    /// (session, source) of every STUN request taken, for the engine's consent bookkeeping.
    stun_from: Vec<(usize, SocketAddr)>,
    datagrams: u64,
}

/// One loop turn's received UDP datagrams: `RECV_BATCH` buffers of `MAX_DATAGRAM` bytes in one
/// allocation, reused every turn.
struct ReceivedBatch {
    buf: Vec<u8>,
    /// Source and length of each datagram received, in order.
    meta: Vec<(SocketAddr, usize)>,
}

/// Bytes of a receive buffer: a datagram longer than this is cut (WebRTC peers keep theirs
/// under the path MTU).
const MAX_DATAGRAM: usize = 2048;

impl ReceivedBatch {
    fn new() -> Self {
        Self { buf: vec![0; RECV_BATCH * MAX_DATAGRAM], meta: Vec::with_capacity(RECV_BATCH) }
    }
    fn clear(&mut self) {
        self.meta.clear();
    }
    fn len(&self) -> usize {
        self.meta.len()
    }
    /// The buffer for the next datagram, `None` when the batch is full.
    fn next_buffer(&mut self) -> Option<&mut [u8]> {
        let at = self.meta.len() * MAX_DATAGRAM;
        self.buf.get_mut(at..at + MAX_DATAGRAM)
    }
    fn push(&mut self, src: SocketAddr, len: usize) {
        self.meta.push((src, len.min(MAX_DATAGRAM)));
    }
    /// Datagram `i`: its source and bytes.
    fn get(&self, i: usize) -> (SocketAddr, &[u8]) {
        let (src, len) = self.meta[i];
        let at = i * MAX_DATAGRAM;
        (src, &self.buf[at..at + len])
    }
}

/// Feeds `Input::Timeout(now)` to a session's `Rtc`: str0m's periodic work (RTCP, NACK,
/// stats) and the release of written packets.
fn give_timeout(sess: &mut Session, now: Instant) {
    if let Err(e) = sess.rtc.handle_input(Input::Timeout(now)) {
        debug!(session = %sess.id, error = %e, "timeout handling failed");
    }
}

#[allow(clippy::too_many_arguments)]
fn drain_session(
    sess: &mut Session,
    idx: usize,
    gen: u64,
    net: &mut impl Transmitter,
    timers: &mut impl Extend<TimerEntry>,
    work: &mut impl Extend<Work>,
    now: Instant,
) {
    loop {
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sess.rtc.poll_output()));
        let Ok(polled) = polled else {
            warn!(session = %sess.id, stream = %sess.key, "WebRTC stack panicked; closing the session");
            work.extend([Work::Close(idx, gen, "internal error in the WebRTC stack")]);
            return;
        };
        match polled {
            Ok(Output::Timeout(t)) => {
                if t != sess.next_timeout {
                    sess.next_timeout = t;
                    timers.extend([Reverse((t, idx, gen))]);
                }
                return;
            }
            Ok(Output::Transmit(t)) => {
                // DTLS (20..=63) and RTP/RTCP (128..=191) go on the selected path; STUN
                // answers go wherever a check came from (RFC 7983 demultiplexing ranges).
                if matches!(t.contents.first(), Some(20..=63 | 128..=191)) {
                    sess.media_path = Some((t.proto, t.destination));
                }
                net.transmit(t)
            }
            Ok(Output::Event(ev)) => match ev {
                Event::Connected => {
                    sess.connected_at = Some(now);
                    info!(session = %sess.id, stream = %sess.key, after_ms = now.saturating_duration_since(sess.created).as_millis() as u64, "ICE+DTLS connected");
                    work.extend([Work::Connected(idx, gen)]);
                }
                Event::RtpPacket(p) => {
                    sess.counters.rx_packets += 1;
                    sess.counters.rx_bytes += p.payload.len() as u64;
                    work.extend([Work::Rtp(idx, gen, p)]);
                }
                Event::KeyframeRequest(r) => work.extend([Work::KeyframeRequest(idx, gen, r)]),
                Event::MediaIngressStats(s) if sess.ingress.len() < 8 || sess.ingress.contains_key(&s.mid) => {
                    sess.ingress.insert(s.mid, s);
                }
                Event::MediaEgressStats(s) if sess.egress.len() < 8 || sess.egress.contains_key(&s.mid) => {
                    sess.egress.insert(s.mid, s);
                }
                Event::Closed => work.extend([Work::Close(idx, gen, "peer closed the connection")]),
                Event::ChannelOpen(id, label) => {
                    if sess.dc.on_open(&mut sess.rtc, id, &label) {
                        info!(session = %sess.id, stream = %sess.key, %label, "data channel open");
                    }
                }
                Event::ChannelClose(id) => {
                    info!(session = %sess.id, stream = %sess.key, "data channel closed");
                    sess.dc.on_close(id);
                }
                Event::ChannelData(d) => work.extend([Work::ChannelData(idx, gen, d)]),
                Event::ChannelBufferedAmountLow(id) => work.extend([Work::ChannelFlush(idx, gen, id)]),
                Event::RawPacket(raw) => {
                    if let RawPacket::RtcpRx(Rtcp::Nack(nack)) = *raw {
                        work.extend([Work::Nack(idx, gen, nack)]);
                    }
                }
                Event::IceConnectionStateChange(state) => {
                    debug!(session = %sess.id, ?state, "ICE state");
                }
                _ => {}
            },
            Err(e) => {
                warn!(session = %sess.id, stream = %sess.key, error = %e, "session failed");
                work.extend([Work::Close(idx, gen, "protocol error")]);
                return;
            }
        }
    }
}

/// Payload type numbers the offer does not use, in the dynamic range (RFC 3551 section 6).
fn unused_payload_types(offer: &str) -> Vec<Pt> {
    let used: Vec<u8> = offer
        .lines()
        .filter(|l| l.starts_with("m="))
        .flat_map(|l| l.split(' ').skip(3).filter_map(|p| p.trim().parse::<u8>().ok()))
        .collect();
    (96u8..=127).chain(35..=63).filter(|p| !used.contains(p)).map(Pt::from).collect()
}

/// The publisher's codec as configured for a player: fresh payload type numbers the player's
/// offer does not use (str0m renumbers them to the player's own during negotiation, which fails
/// if our number collides with another of the player's codecs), and for video a retransmission
/// payload type (RFC 4588) so the player's NACKs are answered as RTX from our buffer.
fn for_player(p: PayloadParams, free: &mut Vec<Pt>) -> Option<PayloadParams> {
    if free.is_empty() {
        return None;
    }
    let pt = free.remove(0);
    let rtx = if p.spec().codec.is_video() && !free.is_empty() { Some(free.remove(0)) } else { None };
    Some(PayloadParams::new(pt, rtx, p.spec()))
}

/// Players are not offered transport-wide sequence numbers (transport-cc): their feedback only
/// serves a sender-side bandwidth estimator, which the engine does not run (str0m's BWE is off),
/// yet each player would send ~20 feedback packets a second to be decrypted and parsed (nine in
/// ten of the datagrams the engine received in a 150-player fan-out), and every forwarded packet
/// would be registered for it. Publishers keep it: their own bandwidth estimation needs our
/// feedback. A congestion controller towards players (simulcast layer choice) would need it back.
fn without_transport_cc(mut config: RtcConfig) -> RtcConfig {
    // str0m's map has no single-entry removal: rebuild it without the one extension.
    let kept: Vec<(u8, Extension)> = config
        .extension_map()
        .iter()
        .filter(|(_, ext)| **ext != Extension::TransportSequenceNumber)
        .map(|(id, ext)| (id, ext.clone()))
        .collect();
    kept.into_iter().fold(config.clear_extension_map(), |config, (id, ext)| config.set_extension(id, ext))
}

/// SCTP receive limit for a policy limit of `policy` bytes: room for a hostile or mistaken
/// sender to overshoot without aborting the association.
fn sctp_receive_limit(policy: usize) -> usize {
    policy.saturating_mul(4).max(1 << 20)
}

/// Rewrites `a=max-message-size` (RFC 8841) in an answer to the policy limit.
fn advertise_max_message_size(sdp: &str, policy: usize) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=max-message-size:") {
            out.push_str(&format!("a=max-message-size:{policy}\r\n"));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The `a=mid:` values of an offer, in order.
fn offer_mids(sdp: &str) -> Vec<Mid> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=mid:"))
        .map(|m| Mid::from(m.trim()))
        .collect()
}

/// The client's ICE ufrag from its offer (session-level or first media-level attribute).
fn offer_ufrag(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|l| l.trim().strip_prefix("a=ice-ufrag:").map(|v| v.trim().to_owned()))
}
