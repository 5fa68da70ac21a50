//! One WebRTC peer connection as the engine sees it: the str0m `Rtc`, its role, addresses,
//! consent, counters; and the three things the engine does with it — feed it a datagram
//! ([`Session::receive`]), drain what it produced ([`Session::drain`]), send what was written to
//! it in this loop turn ([`Session::send_written`]). Each writes into one [`PeerOutput`]: the
//! engine thread's or an egress-pool worker's.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use serde_json::json;
use str0m::channel::{ChannelData, ChannelId};
use str0m::media::{KeyframeRequest, Mid};
use str0m::net::{Protocol, Receive, Transmit};
use str0m::rtp::rtcp::{Nack, Rtcp};
use str0m::rtp::{RawPacket, RtpPacket};
use str0m::stats::{MediaEgressStats, MediaIngressStats};
use str0m::{Event, Input, Output, Rtc};
use tracing::{debug, info, warn};
use weir_core::{SessionKind, StreamKey};
use weir_stream::StreamId;

use crate::datachannel::DcState;
use crate::demux::is_stun;
use crate::direct::DirectEgress;
use crate::echo::Echo;
use crate::key_capture::KeySlot;
use crate::net::{Net, Transmitter, WorkerNet};
use crate::play::Player;
use crate::publish::Publisher;
use crate::table::SessionId;

/// Most remote addresses a session keeps (ICE checks from several candidates of one peer).
pub const MAX_ADDRS_PER_SESSION: usize = 8;

#[derive(Debug, Default)]
pub struct Counters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_rtp_dropped: u64,
    pub bad_packets: u64,
    pub keyframe_requests_received: u64,
    pub keyframe_requests_sent: u64,
    pub fast_start_packets: u64,
    /// NACK packets received from a direct-egress player, and retransmissions sent for them.
    pub nacks_received: u64,
    pub rtx_sent: u64,
    pub first_packet_at: Option<Instant>,
    pub first_keyframe_at: Option<Instant>,
}

#[allow(clippy::large_enum_variant)] // one per session, never moved on the hot path
pub enum Role {
    /// Media flows in from the peer: the source of its stream (`publish.rs`).
    Publisher(Publisher),
    /// The peer receives its stream's media (`play.rs`).
    Player(Player),
    /// Media flows in and straight back out (`echo.rs`).
    Echo(Echo),
}

/// A session's next `Rtc` timeout.
pub(crate) type TimerEntry = Reverse<(Instant, SessionId)>;
pub(crate) type Timers = BinaryHeap<TimerEntry>;

/// What a session's output asks the engine to do; handled on the engine thread
/// (`Shard::process_work`). Work items live for one processing round in a reused queue; boxing
/// the RTP packet would add an allocation per forwarded packet.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Work {
    Rtp(SessionId, RtpPacket),
    KeyframeRequest(SessionId, KeyframeRequest),
    Connected(SessionId),
    Close(SessionId, &'static str),
    ChannelData(SessionId, ChannelData),
    ChannelFlush(SessionId, ChannelId),
    /// A direct-egress player's NACK (str0m's raw RTCP event).
    Nack(SessionId, Nack),
}

/// Where a session's output goes: datagrams, its next timer, work for the engine thread.
pub(crate) trait PeerOutput: Transmitter {
    fn timer(&mut self, at: Instant, id: SessionId);
    fn work(&mut self, w: Work);
}

/// The engine thread's output: its socket batch, its timer heap, its work queue.
pub(crate) struct ThreadOut<'a> {
    pub(crate) net: &'a mut Net,
    pub(crate) timers: &'a mut Timers,
    pub(crate) work: &'a mut VecDeque<Work>,
}

impl Transmitter for ThreadOut<'_> {
    fn transmit(&mut self, t: Transmit) {
        self.net.transmit(t);
    }
    fn datagram(&mut self, proto: Protocol, dest: SocketAddr, data: Vec<u8>) {
        self.net.datagram(proto, dest, data);
    }
}

impl PeerOutput for ThreadOut<'_> {
    fn timer(&mut self, at: Instant, id: SessionId) {
        self.timers.push(Reverse((at, id)));
    }
    fn work(&mut self, w: Work) {
        self.work.push_back(w);
    }
}

/// An egress-pool worker's output: its own socket batch; timers and work are handed back to the
/// engine thread when the pool pass ends.
pub(crate) struct WorkerOut<'a> {
    pub(crate) net: WorkerNet<'a>,
    pub(crate) timers: Vec<TimerEntry>,
    pub(crate) work: Vec<Work>,
}

impl Transmitter for WorkerOut<'_> {
    fn transmit(&mut self, t: Transmit) {
        self.net.transmit(t);
    }
    fn datagram(&mut self, proto: Protocol, dest: SocketAddr, data: Vec<u8>) {
        self.net.datagram(proto, dest, data);
    }
}

impl PeerOutput for WorkerOut<'_> {
    fn timer(&mut self, at: Instant, id: SessionId) {
        self.timers.push(Reverse((at, id)));
    }
    fn work(&mut self, w: Work) {
        self.work.push(w);
    }
}

/// What a session did with a datagram.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Taken {
    /// A STUN request authenticated with the session's ICE password: consent and address
    /// bookkeeping follow.
    Stun,
    /// Anything else, including what str0m rejected or a datagram for no local address.
    Other,
    /// The WebRTC stack panicked: the session is closing (a `Work::Close` is queued).
    Dead,
}

/// Fields a forwarded packet touches come first and stay together (`repr(C)` keeps the
/// declared order): a fan-out visits every player's session per packet, and the `Rtc` between
/// them would spread each visit over more cache lines.
#[repr(C)]
pub struct Session {
    pub connected_at: Option<Instant>,
    /// Packets were written with `write_rtp` or queued for direct egress since the last send:
    /// the session is listed in `Shard::media_written` for the end of the loop turn.
    pub media_written: bool,
    /// Of those, some went to the `Rtc`: it needs its `Input::Timeout` (str0m sends a written
    /// packet only after a timeout has timestamped it; one per turn covers them all).
    pub rtc_written: bool,
    /// Player: its stream's fan-out items up to this number were covered by the fast-start GOP
    /// replay and are skipped.
    pub fanout_after: u64,
    pub(crate) handle: SessionId,
    pub stream: Option<StreamId>,
    /// Protocol and remote address of str0m's latest DTLS or RTP/RTCP transmit: the path the
    /// direct egress sends on.
    pub media_path: Option<(Protocol, SocketAddr)>,
    /// Direct egress (`direct.rs`), set up when a player connects with usable keys.
    pub direct: Option<DirectEgress>,
    pub counters: Counters,
    pub role: Role,
    pub id: String,
    pub token: String,
    pub kind: SessionKind,
    pub key: StreamKey,
    pub protocol: &'static str,
    pub peer: Option<SocketAddr>,
    pub remote_ufrag: String,
    /// Every local ufrag this session answers to (more than one after an ICE restart).
    pub ufrags: Vec<String>,
    pub created: Instant,
    /// Last authenticated STUN request (ICE consent, RFC 7675) or, before the first, creation.
    pub last_consent: Instant,
    /// `(is_tcp, remote address)` this session receives from.
    pub addrs: Vec<(bool, SocketAddr)>,
    /// Advertised local candidates; str0m checks a request's destination against them.
    pub local_udp: Vec<SocketAddr>,
    pub local_tcp: Vec<SocketAddr>,
    /// When str0m wants its next `Input::Timeout` (from the last `poll_output`).
    pub next_timeout: Instant,
    /// A player's SRTP keys, captured from its DTLS handshake (`key_capture.rs`).
    pub keys: Option<KeySlot>,
    pub ingress: HashMap<Mid, MediaIngressStats>,
    pub egress: HashMap<Mid, MediaEgressStats>,
    pub ice_generation: u32,
    pub dc: DcState,
    pub rtc: Rtc,
}

fn ms_since(from: Instant, at: Option<Instant>) -> Option<u64> {
    at.map(|t| t.saturating_duration_since(from).as_millis() as u64)
}

impl Session {
    pub fn state(&self) -> &'static str {
        if !self.rtc.is_alive() {
            "closed"
        } else if self.connected_at.is_some() {
            "connected"
        } else {
            "new"
        }
    }

    /// The local address a datagram from `source` was sent to, as str0m expects it: the
    /// advertised candidate of the same family. The socket is bound to a wildcard address, and
    /// behind NAT the advertised address is not even ours, so the real destination cannot be used.
    pub fn local_addr_for(&self, tcp: bool, source: SocketAddr) -> Option<SocketAddr> {
        let list = if tcp { &self.local_tcp } else { &self.local_udp };
        list.iter().find(|a| a.is_ipv4() == source.is_ipv4()).or(list.first()).copied()
    }

    /// Feeds one datagram to the `Rtc` and drains what it produces. Runs on the engine thread
    /// or an egress worker; the engine's tables are updated by the caller.
    pub(crate) fn receive(&mut self, tcp: bool, src: SocketAddr, data: &[u8], now: Instant, out: &mut impl PeerOutput) -> Taken {
        let Some(destination) = self.local_addr_for(tcp, src) else { return Taken::Other };
        let Ok(contents) = data.try_into() else {
            self.counters.bad_packets += 1;
            return Taken::Other;
        };
        let stun = is_stun(data);
        let proto = if tcp { Protocol::Tcp } else { Protocol::Udp };
        let input = Input::Receive(now, Receive { proto, source: src, destination, contents });
        // str0m promises not to panic on network input; if a bug breaks that promise, only this
        // session dies (its Rtc is discarded), never the thread serving everyone else.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.rtc.handle_input(input))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.counters.bad_packets += 1;
                debug!(session = %self.id, stream = %self.key, error = %e, "packet rejected");
            }
            Err(_) => {
                warn!(session = %self.id, stream = %self.key, "WebRTC stack panicked on input; closing the session");
                out.work(Work::Close(self.handle, "internal error in the WebRTC stack"));
                return Taken::Dead;
            }
        }
        self.drain(now, out);
        if stun && self.stun_request_authenticated(data) {
            Taken::Stun
        } else {
            Taken::Other
        }
    }

    /// When the peer last proved it still wants this session (RFC 7675 consent): an
    /// authenticated STUN request (`last_consent`), and with `from_media` also the last SRTP,
    /// SRTCP or DTLS input that passed the session's keys.
    ///
    /// Why media counts: RFC 7675 section 5.1 has the *sender* of media check consent with
    /// STUN; an ICE-lite server (RFC 8445 section 2.5) sends no checks and only sees the
    /// peer's. Clients that check only on an idle pair (pion 3.x, many embedded stacks) send
    /// none while media or RTCP flows, so STUN alone would drop them mid-call. A packet that
    /// authenticates under keys from this session's DTLS handshake proves the same thing a
    /// check does (the peer holds this session's secrets and is sending to this address);
    /// str0m counts an SRTP packet only for a new sequence number, so replaying a captured
    /// packet does not refresh it. Someone who knows just the address or the ufrag can make
    /// neither.
    pub(crate) fn consent_at(&self, from_media: bool) -> Instant {
        match self.rtc.last_authenticated_input() {
            Some(t) if from_media => t.max(self.last_consent),
            _ => self.last_consent,
        }
    }

    /// Whether a STUN message is a request whose MESSAGE-INTEGRITY checks out against the
    /// session's ICE password. Only such a request refreshes consent (RFC 7675 section 5.1:
    /// consent needs an authenticated check) or binds its source address to the session (RFC
    /// 8445 section 7.3): str0m drops a forged one silently, so the engine checks too, else anyone
    /// who learned a session's ufrag could keep it alive or attach addresses to it.
    pub(crate) fn stun_request_authenticated(&mut self, data: &[u8]) -> bool {
        let Ok(msg) = weir_turn::stun::Message::parse(data) else { return false };
        msg.class == weir_turn::stun::Class::Request
            && msg.verify_integrity(self.rtc.direct_api().local_ice_credentials().pass.as_bytes())
    }

    /// Feeds `Input::Timeout(now)`: str0m's periodic work (RTCP, NACK, stats) and the release of
    /// written packets.
    pub(crate) fn give_timeout(&mut self, now: Instant) {
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            debug!(session = %self.id, error = %e, "timeout handling failed");
        }
    }

    /// Sends what the session was given in this loop turn: if its `Rtc` was written to, what
    /// str0m releases on the `Input::Timeout` it now gets, then its direct-egress datagrams
    /// (str0m only gets a direct player's first packet of a turn, see `play.rs`).
    pub(crate) fn send_written(&mut self, now: Instant, out: &mut impl PeerOutput) {
        if std::mem::take(&mut self.rtc_written) {
            self.give_timeout(now);
            self.drain(now, out);
        }
        if let Some(direct) = self.direct.as_mut() {
            match self.media_path {
                Some((proto, dest)) => {
                    for datagram in direct.queue.drain(..) {
                        out.datagram(proto, dest, datagram);
                    }
                }
                None => direct.queue.clear(),
            }
        }
    }

    /// Drains the `Rtc`'s output completely (str0m's single-mutation rule): transmits go out,
    /// the next timeout is armed, events become work items.
    pub(crate) fn drain(&mut self, now: Instant, out: &mut impl PeerOutput) {
        let id = self.handle;
        loop {
            let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.rtc.poll_output()));
            let Ok(polled) = polled else {
                warn!(session = %self.id, stream = %self.key, "WebRTC stack panicked; closing the session");
                out.work(Work::Close(id, "internal error in the WebRTC stack"));
                return;
            };
            match polled {
                Ok(Output::Timeout(t)) => {
                    if t != self.next_timeout {
                        self.next_timeout = t;
                        out.timer(t, id);
                    }
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    // DTLS (20..=63) and RTP/RTCP (128..=191) go on the selected path; STUN
                    // answers go wherever a check came from (RFC 7983 demultiplexing ranges).
                    if matches!(t.contents.first(), Some(20..=63 | 128..=191)) {
                        self.media_path = Some((t.proto, t.destination));
                    }
                    out.transmit(t)
                }
                Ok(Output::Event(ev)) => self.on_event(ev, now, out),
                Err(e) => {
                    warn!(session = %self.id, stream = %self.key, error = %e, "session failed");
                    out.work(Work::Close(id, "protocol error"));
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, ev: Event, now: Instant, out: &mut impl PeerOutput) {
        let id = self.handle;
        match ev {
            Event::Connected => {
                self.connected_at = Some(now);
                let after_ms = now.saturating_duration_since(self.created).as_millis() as u64;
                info!(session = %self.id, stream = %self.key, after_ms, "ICE+DTLS connected");
                out.work(Work::Connected(id));
            }
            Event::RtpPacket(p) => {
                self.counters.rx_packets += 1;
                self.counters.rx_bytes += p.payload.len() as u64;
                out.work(Work::Rtp(id, p));
            }
            Event::KeyframeRequest(r) => out.work(Work::KeyframeRequest(id, r)),
            Event::MediaIngressStats(s) if self.ingress.len() < 8 || self.ingress.contains_key(&s.mid) => {
                self.ingress.insert(s.mid, s);
            }
            Event::MediaEgressStats(s) if self.egress.len() < 8 || self.egress.contains_key(&s.mid) => {
                self.egress.insert(s.mid, s);
            }
            Event::Closed => out.work(Work::Close(id, "peer closed the connection")),
            Event::ChannelOpen(cid, label) => {
                if self.dc.on_open(&mut self.rtc, cid, &label) {
                    info!(session = %self.id, stream = %self.key, %label, "data channel open");
                }
            }
            Event::ChannelClose(cid) => {
                info!(session = %self.id, stream = %self.key, "data channel closed");
                self.dc.on_close(cid);
            }
            Event::ChannelData(d) => out.work(Work::ChannelData(id, d)),
            Event::ChannelBufferedAmountLow(cid) => out.work(Work::ChannelFlush(id, cid)),
            Event::RawPacket(raw) => {
                if let RawPacket::RtcpRx(Rtcp::Nack(nack)) = *raw {
                    out.work(Work::Nack(id, nack));
                }
            }
            Event::IceConnectionStateChange(state) => {
                debug!(session = %self.id, ?state, "ICE state");
            }
            _ => {}
        }
    }

    pub fn stats_json(&self, now: Instant) -> serde_json::Value {
        let c = &self.counters;
        let tracks = match &self.role {
            Role::Publisher(p) => p.stats_json(),
            Role::Player(p) => p.stats_json(),
            Role::Echo(e) => e.stats_json(),
        };
        let ingress: Vec<_> = self
            .ingress
            .values()
            .map(|s| json!({"mid": s.mid.to_string(), "packets": s.packets, "bytes": s.bytes, "nacks_sent": s.nacks,
                "plis_sent": s.plis, "firs_sent": s.firs, "loss": s.loss, "jitter": s.jitter,
                "rtt_ms": s.rtt.map(|r| r.as_secs_f64() * 1000.0)}))
            .collect();
        let egress: Vec<_> = self
            .egress
            .values()
            .map(|s| json!({"mid": s.mid.to_string(), "packets": s.packets, "bytes": s.bytes, "nacks_received": s.nacks,
                "plis_received": s.plis, "firs_received": s.firs, "loss": s.loss,
                "rtt_ms": s.rtt.map(|r| r.as_secs_f64() * 1000.0)}))
            .collect();
        json!({
            "id": self.id,
            "kind": self.kind,
            "protocol": self.protocol,
            "stream": self.key,
            "state": self.state(),
            "peer": self.peer.map(|p| p.to_string()),
            "remote_addrs": self.addrs.iter().map(|(tcp, a)| format!("{}://{a}", if *tcp {"tcp"} else {"udp"})).collect::<Vec<_>>(),
            "age_ms": now.saturating_duration_since(self.created).as_millis() as u64,
            "connected_after_ms": ms_since(self.created, self.connected_at),
            "ice_generation": self.ice_generation,
            "rx": {"packets": c.rx_packets, "bytes": c.rx_bytes, "dropped": c.rx_rtp_dropped, "bad_packets": c.bad_packets,
                   "keyframe_requests_sent": c.keyframe_requests_sent},
            "tx": {"packets": c.tx_packets, "bytes": c.tx_bytes, "keyframe_requests_received": c.keyframe_requests_received,
                   "direct_egress": self.direct.is_some(), "nacks_received": c.nacks_received, "rtx_sent": c.rtx_sent},
            "fast_start": {
                "cached_packets_sent": c.fast_start_packets,
                "first_packet_after_ms": ms_since(self.created, c.first_packet_at),
                "first_keyframe_after_ms": ms_since(self.created, c.first_keyframe_at),
            },
            "tracks": tracks,
            "ingress": ingress,
            "egress": egress,
            "datachannel": self.dc.stats_json(),
        })
    }
}

/// Records that `sess` has packets waiting for the end of the loop turn; each session is listed
/// once per turn.
pub(crate) fn note_media_written(sess: &mut Session, written: &mut Vec<SessionId>) {
    if !sess.media_written {
        sess.media_written = true;
        written.push(sess.handle);
    }
}

#[cfg(test)]
mod tests {
    /// Every session holds a `str0m::Rtc` inline. The vendored str0m (vendor/README.md) boxes
    /// the SCTP association and drops the RTX caches' inline index: the registry's 0.25.0
    /// makes this 10,080 bytes, the patched one 7,952. A layout guard, not a timing: if it
    /// fails, the `[patch.crates-io]` entry is gone or str0m grew, and idle sessions with it.
    #[test]
    fn rtc_inline_size_stays_patched() {
        let size = std::mem::size_of::<str0m::Rtc>();
        assert!(size <= 8 * 1024, "str0m::Rtc is {size} bytes inline");
    }
}
