//! The engine thread: owns the media sockets, every session, the stream hub and the timers;
//! signaling and adapters reach it through a bounded command queue and the hub's ports. One
//! loop turn: take one input (a command, received datagrams, an ICE-TCP frame, due timers,
//! units from adapters' ports, the housekeeping tick), process the work it produced, then send
//! what the turn wrote (`fanout.rs`) and flush the socket batch.
//!
//! No locks on the media path: the one parallel part, the egress pool (`pool.rs`), borrows
//! disjoint sessions while the engine thread waits, so every session still has a single owner.

use std::cmp::Reverse;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::config::DtlsCert;
use str0m::net::{Protocol, Transmit};
use tokio::sync::{mpsc, Notify};
use tracing::{info, warn};
use weir_core::SessionKind;
use weir_stream::{Directory, Hub, HubConfig, HubEffect, StreamId};

use crate::counters::{EngineCounters, LoopTime, MediaTotals, Quality};
use crate::echo::{echo_keyframe_request, echo_rtp};
use crate::net::{Net, ReceivedBatch, Sockets};
use crate::peer::{Role, Session, Taken, ThreadOut, Timers, Work};
use crate::pool::egress_pool;
use crate::table::{SessionId, SessionTable};
use crate::tcp::{accept_loop, TcpEvent};
use crate::{Command, EngineConfig};

const MAX_TCP_CONNECTIONS: usize = 10_000;
const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(500);

pub(crate) struct Shard {
    pub(crate) cfg: EngineConfig,
    pub(crate) cert: DtlsCert,
    pub(crate) net: Net,
    tcp_listener: Option<std::net::TcpListener>,
    pub(crate) sessions: SessionTable,
    /// Every stream, its source and sinks (`weir-stream`); sessions are its local handles.
    pub(crate) hub: Hub<SessionId>,
    /// Woken by the hub's ports when an adapter pushed units, asked for a keyframe or left.
    pub(crate) ports: Arc<Notify>,
    pub(crate) timers: Timers,
    /// Sessions with `Session::media_written` set, in the order they were written to.
    pub(crate) media_written: Vec<SessionId>,
    /// Streams with fan-out queued in this turn (a buffer swapped with the hub's).
    pub(crate) fanout_streams: Vec<StreamId>,
    pub(crate) work: VecDeque<Work>,
    /// Players with a cached-GOP replay under way (`fast_start.rs`), and when they were last
    /// continued.
    pub(crate) replays: Vec<SessionId>,
    pub(crate) replays_at: Instant,
    effects: Vec<HubEffect<SessionId>>,
    /// Threads that encrypt and send the packets written to players (`rtc.egressThreads`);
    /// `None`: the engine thread does it.
    pub(crate) pool: Option<rayon::ThreadPool>,
    /// Published on every housekeeping tick for `/api/v1/server`.
    counters: Arc<EngineCounters>,
    unknown_packets: u64,
    /// Datagrams handed to the pool by `handle_datagrams_parallel` (for `/api/v1/server`).
    pub(crate) ingress_pooled: u64,
    /// Sessions closed since memory was last handed back to the OS (`release_freed_memory`).
    closed_since_trim: usize,
    last_trim: Instant,
    /// Counters that ended sessions left behind (`/metrics` totals).
    closed_totals: MediaTotals,
    loop_time: LoopTime,
}

/// What woke the engine loop.
enum Wake {
    Command(Option<Command>),
    Udp(bool),
    Tcp(TcpEvent),
    Ports,
    Timer,
    Housekeeping,
}

/// What the engine thread starts with.
pub(crate) struct ShardParts {
    pub cfg: EngineConfig,
    pub directory: Arc<Directory>,
    pub counters: Arc<EngineCounters>,
    pub sockets: Sockets,
    pub ports: Arc<Notify>,
}

pub(crate) fn spawn(parts: ShardParts, commands: mpsc::Receiver<Command>) -> io::Result<()> {
    let provider = str0m::crypto::from_feature_flags();
    // ECDSA P-256 (dimpl's generator): RSA-only DTLS fails against aiortc and other
    // ECDSA-only clients. One certificate for all sessions: generating one per session is slow.
    let cert = provider
        .dtls_provider
        .generate_certificate()
        .ok_or_else(|| io::Error::other("could not generate the DTLS certificate"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("weir-media".into())
        .spawn(move || {
            rt.block_on(async move {
                match Shard::new(parts, cert) {
                    Ok(shard) => shard.run(commands).await,
                    Err(e) => warn!(error = %e, "media engine failed to start"),
                }
            })
        })?;
    Ok(())
}

impl Shard {
    fn new(parts: ShardParts, cert: DtlsCert) -> io::Result<Self> {
        let ShardParts {
            cfg,
            directory,
            counters,
            sockets,
            ports,
        } = parts;
        let hub_cfg = HubConfig {
            gop_cache_max_units: cfg.gop_cache_max_packets,
            // One buffer per video track for all direct-egress players' NACKs (maxRtpCacheSize,
            // at most 1024 packets: seconds of video, far more than a NACK's round trip).
            recent_units: if cfg.direct_egress {
                cfg.rtx_cache_packets.min(1024)
            } else {
                0
            },
            keyframe_request_interval: cfg.keyframe_request_interval,
            grace: cfg.continue_push,
        };
        Ok(Self {
            pool: egress_pool(cfg.egress_threads)?,
            net: Net::new(sockets.udp)?,
            tcp_listener: sockets.tcp,
            hub: Hub::new(hub_cfg, directory),
            cfg,
            cert,
            ports,
            sessions: SessionTable::default(),
            timers: Timers::new(),
            media_written: Vec::new(),
            fanout_streams: Vec::new(),
            work: VecDeque::new(),
            replays: Vec::new(),
            replays_at: Instant::now(),
            effects: Vec::new(),
            counters,
            unknown_packets: 0,
            ingress_pooled: 0,
            closed_since_trim: 0,
            last_trim: Instant::now(),
            closed_totals: MediaTotals::default(),
            loop_time: LoopTime::default(),
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
        let ports = self.ports.clone();
        info!(udp = ?self.net.udp.as_ref().and_then(|u| u.local_addr().ok()), "media engine running");
        loop {
            let deadline = self
                .timers
                .peek()
                .map(|Reverse((t, _))| *t)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let deadline = self.replay_deadline().map_or(deadline, |r| r.min(deadline));
            let has_udp = self.net.udp.is_some();
            let wake = tokio::select! {
                biased;
                cmd = commands.recv() => Wake::Command(cmd),
                ready = async {
                    match &self.net.udp {
                        Some(u) => u.readable().await,
                        None => std::future::pending().await,
                    }
                }, if has_udp => Wake::Udp(ready.is_ok()),
                Some(ev) = tcp_rx.recv() => Wake::Tcp(ev),
                _ = ports.notified() => Wake::Ports,
                _ = tokio::time::sleep_until(deadline.into()) => Wake::Timer,
                _ = housekeeping.tick() => Wake::Housekeeping,
            };
            // The turn's working time starts here (for `/metrics`: two clock reads per turn,
            // not per packet).
            let woke = Instant::now();
            match wake {
                Wake::Command(Some(cmd)) => self.handle_command(cmd),
                Wake::Command(None) => break,
                Wake::Udp(ready) => {
                    if ready {
                        self.read_udp(&mut received);
                    }
                }
                Wake::Tcp(ev) => self.handle_tcp_event(ev),
                Wake::Ports => {
                    self.hub.poll_foreign(woke);
                    self.process_work(woke);
                }
                Wake::Timer => {
                    self.handle_timers(woke);
                    self.continue_replays(woke);
                }
                Wake::Housekeeping => self.housekeeping(woke),
            }
            // Replays are continued on their tick whatever woke the loop (a busy socket can keep
            // the timer branch from being taken).
            self.continue_replays(Instant::now());
            self.send_written_media();
            self.net.flush();
            self.hub.wake_sinks();
            let took = woke.elapsed();
            self.loop_time.turns += 1;
            self.loop_time.busy += took;
            self.loop_time.max_turn = self.loop_time.max_turn.max(took);
        }
        info!("media engine stopped");
    }

    /// A session borrowed together with the engine thread's output.
    pub(crate) fn session_out(&mut self, id: SessionId) -> Option<(&mut Session, ThreadOut<'_>)> {
        let sess = self.sessions.get_mut(id)?;
        Some((
            sess,
            ThreadOut {
                net: &mut self.net,
                timers: &mut self.timers,
                work: &mut self.work,
            },
        ))
    }

    pub(crate) fn drain_session(&mut self, id: SessionId, now: Instant) {
        if let Some((sess, mut out)) = self.session_out(id) {
            sess.drain(now, &mut out);
        }
    }

    fn handle_tcp_event(&mut self, ev: TcpEvent) {
        match ev {
            TcpEvent::Opened { peer, tx } => {
                self.net.tcp.insert(
                    peer,
                    crate::net::TcpConn {
                        tx,
                        opened: Instant::now(),
                        bound: false,
                    },
                );
            }
            TcpEvent::Frame { peer, data } => {
                self.handle_datagram(true, peer, &data, Instant::now())
            }
            TcpEvent::Closed { peer } => {
                self.net.tcp.remove(&peer);
                self.sessions.unbind(true, peer);
            }
        }
    }

    pub(crate) fn handle_datagram(
        &mut self,
        tcp: bool,
        src: SocketAddr,
        data: &[u8],
        now: Instant,
    ) {
        let Some(id) = self.sessions.route(tcp, src, data) else {
            self.answer_unrouted(tcp, src, data);
            return;
        };
        let Some((sess, mut out)) = self.session_out(id) else {
            return;
        };
        if sess.receive(tcp, src, data, now, &mut out) == Taken::Stun {
            self.note_stun_from(id, tcp, src, now);
        }
        self.process_work(now);
    }

    /// A datagram of no session: a plain Binding request without credentials (SRS's documented
    /// connectivity check, `nc -u <ip> 8000`) is answered with the mapped address, as a STUN
    /// server would; anything else is counted and dropped.
    pub(crate) fn answer_unrouted(&mut self, tcp: bool, src: SocketAddr, data: &[u8]) {
        if crate::demux::is_stun(data) {
            if let Some(resp) = weir_turn::stun::binding_response(data, src) {
                let proto = if tcp { Protocol::Tcp } else { Protocol::Udp };
                self.net.send(Transmit {
                    proto,
                    source: src,
                    destination: src,
                    contents: resp.into(),
                });
                return;
            }
        }
        self.unknown_packets += 1;
    }

    /// A session took an authenticated STUN request from `src`: its consent is fresh (RFC
    /// 7675), and from now on that address's DTLS and SRTP go to it.
    pub(crate) fn note_stun_from(
        &mut self,
        id: SessionId,
        tcp: bool,
        src: SocketAddr,
        now: Instant,
    ) {
        let Some(sess) = self.sessions.get_mut(id) else {
            return;
        };
        sess.last_consent = now;
        if self.sessions.bind_addr(id, tcp, src) && tcp {
            if let Some(c) = self.net.tcp.get_mut(&src) {
                c.bound = true;
            }
        }
    }

    fn handle_timers(&mut self, now: Instant) {
        while let Some(&Reverse((t, id))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some((sess, mut out)) = self.session_out(id) else {
                continue;
            };
            if sess.next_timeout != t {
                continue; // stale entry: the session re-armed its timer since
            }
            sess.give_timeout(now);
            sess.drain(now, &mut out);
        }
        self.process_work(now);
    }

    fn housekeeping(&mut self, now: Instant) {
        self.counters.publish(
            self.net.batch.counts,
            self.unknown_packets,
            self.ingress_pooled,
        );
        let timeout = self.cfg.timeout;
        let from_media = self.cfg.consent_from_authenticated_media;
        let mut totals = self.closed_totals;
        let mut quality = Quality::default();
        for s in self.sessions.iter() {
            totals.add_session(s);
            quality.add_session(s);
            if !s.rtc.is_alive() {
                self.work
                    .push_back(Work::Close(s.handle, "peer connection closed"));
            } else if now.saturating_duration_since(s.consent_at(from_media)) > timeout {
                self.work
                    .push_back(Work::Close(s.handle, "no consent within timeoutSec"));
            }
        }
        let threads = self.pool.as_ref().map_or(0, |p| p.current_num_threads());
        self.counters.publish_media(&totals, &quality, &self.loop_time, threads);
        self.loop_time.max_turn = Duration::ZERO;
        // DataChannel queues normally refill on BufferedAmountLow; this catches any missed one.
        let Shard {
            sessions,
            net,
            timers,
            work,
            ..
        } = self;
        for sess in sessions.iter_mut() {
            if sess.dc.has_queued() {
                for ch in 0..sess.dc.channels.len() {
                    sess.dc.flush(&mut sess.rtc, ch);
                }
                sess.drain(now, &mut ThreadOut { net, timers, work });
            }
        }
        self.hub.expire_orphans(now);
        // Adapters that left without the owner being woken (none should) are noticed here too.
        self.hub.poll_foreign(now);
        // TCP connections that never completed an ICE check within the timeout.
        self.net
            .tcp
            .retain(|_, c| c.bound || now.saturating_duration_since(c.opened) <= timeout);
        self.process_work(now);
        self.release_freed_memory(now);
    }

    /// After sessions ended, hands freed heap pages back to the OS at most every 5 s. glibc's
    /// allocator otherwise keeps the peak (a burst of 10,000 sessions left ~300 MB resident after
    /// they all ended), which operators read as a leak; `malloc_trim` costs a few milliseconds
    /// on a large heap, hence the rate limit and doing it only after closes.
    fn release_freed_memory(&mut self, now: Instant) {
        if self.closed_since_trim == 0
            || now.saturating_duration_since(self.last_trim) < Duration::from_secs(5)
        {
            return;
        }
        self.closed_since_trim = 0;
        self.last_trim = now;
        self.sessions.compact();
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// Runs the work the sessions produced, and what the hub asks for, until neither has more.
    pub(crate) fn process_work(&mut self, now: Instant) {
        loop {
            while let Some(w) = self.work.pop_front() {
                self.do_work(w, now);
            }
            if !self.hub.has_effects() {
                return;
            }
            self.hub.take_effects(&mut self.effects);
            for effect in std::mem::take(&mut self.effects) {
                match effect {
                    HubEffect::RequestKeyframe(source) => {
                        self.ask_publisher_for_keyframe(source, now)
                    }
                    HubEffect::CloseSink(sink, reason) => self.close_session(sink, reason, now),
                }
            }
        }
    }

    fn do_work(&mut self, w: Work, now: Instant) {
        match w {
            Work::Rtp(id, pkt) => match self.sessions.get(id).map(|s| s.kind) {
                Some(SessionKind::Publish) => self.on_publisher_rtp(id, pkt, now),
                Some(SessionKind::Echo) => {
                    if let Some(sess) = self.sessions.get_mut(id) {
                        echo_rtp(sess, pkt, now, &mut self.media_written);
                    }
                }
                Some(SessionKind::Play) => {
                    // Players are recvonly; media from them (a sendrecv client) is not forwarded.
                    if let Some(sess) = self.sessions.get_mut(id) {
                        sess.counters.rx_rtp_dropped += 1;
                    }
                }
                None => {}
            },
            Work::KeyframeRequest(id, req) => {
                let Some(sess) = self.sessions.get_mut(id) else {
                    return;
                };
                sess.counters.keyframe_requests_received += 1;
                match sess.role {
                    Role::Echo(_) => {
                        echo_keyframe_request(sess, &req);
                        self.drain_session(id, now);
                    }
                    Role::Player(_) => self.on_player_keyframe_request(id, now),
                    Role::Publisher(_) => {}
                }
            }
            Work::Connected(id) => self.on_player_connected(id, now),
            Work::Close(id, reason) => self.close_session(id, reason, now),
            Work::ChannelData(id, data) => self.on_channel_data(id, data, now),
            Work::ChannelFlush(id, cid) => self.on_channel_flush(id, cid, now),
            Work::Nack(id, nack) => self.on_nack(id, &nack, now),
        }
    }

    /// Asks a stream's source for a keyframe, at most once per `keyframeRequestIntervalMS` per
    /// stream: many players losing the same packet must not flood the publisher with PLIs.
    pub(crate) fn request_keyframe(&mut self, sid: StreamId, now: Instant) {
        if let Some(source) = self.hub.request_keyframe(sid, now) {
            self.ask_publisher_for_keyframe(source, now);
        }
    }

    /// Ends a session: its `Rtc` is dropped, its ufrags and addresses route nowhere, and its
    /// stream forgets it (a publisher that leaves orphans or ends its stream, `weir-stream`).
    pub(crate) fn close_session(&mut self, id: SessionId, reason: &'static str, now: Instant) {
        // Tell the peer before forgetting it: str0m's close queues an RTCP BYE (RFC 3550 §6.6)
        // and a DTLS close_notify alert (RFC 6347 §4.1, RFC 5246 §7.2.1), sent by this drain,
        // so a browser shows `closed` at once instead of waiting for its consent checks to fail.
        if let Some((sess, mut out)) = self.session_out(id) {
            if sess.rtc.is_alive() && sess.rtc.close().is_ok() {
                sess.drain(now, &mut out);
            }
        }
        let Some(mut sess) = self.sessions.remove(id) else {
            return;
        };
        self.closed_since_trim += 1;
        self.closed_totals.close(&sess);
        sess.rtc.disconnect();
        for &(tcp, addr) in &sess.addrs {
            if tcp {
                // Dropping the sender ends the connection task.
                self.net.tcp.remove(&addr);
            }
        }
        if let Some(sid) = sess.stream {
            match sess.kind {
                SessionKind::Publish => self.hub.release_source(sid, &sess.id, now),
                SessionKind::Play => self.hub.remove_local_sink(sid, id, &sess.id),
                SessionKind::Echo => {}
            }
        }
        if sess.kind != SessionKind::Echo {
            // For `on_flow_report`; a try_send, nothing is built without a subscriber.
            let c = &sess.counters;
            self.hub.directory().session_ended(|| weir_stream::StreamEvent::SessionEnded {
                key: sess.key.clone(),
                session: sess.id.clone(),
                player: sess.kind == SessionKind::Play,
                bytes: c.rx_bytes + c.tx_bytes,
                duration: now.saturating_duration_since(sess.created),
                media_peer: sess.media_path.map(|(_, a)| a),
            });
        }
        info!(session = %sess.id, stream = %sess.key, kind = ?sess.kind, reason, "session closed");
    }
}
