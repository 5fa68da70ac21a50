//! One WebRTC peer connection as the engine sees it: the str0m `Rtc`, its role in a stream,
//! its addresses, timers and counters.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use serde_json::json;
use str0m::format::PayloadParams;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::rtp::Ssrc;
use str0m::stats::{MediaEgressStats, MediaIngressStats};
use str0m::Rtc;
use weir_core::{SessionKind, StreamKey};

use crate::datachannel::DcState;
use crate::direct::{DirectEgress, DirectTrack};
use crate::key_capture::KeySlot;
use crate::rewrite::Rewriter;

/// The sending side towards one player for one media kind ("down-track").
#[derive(Debug)]
pub struct DownTrack {
    pub mid: Mid,
    pub kind: MediaKind,
    pub rewriter: Rewriter,
    /// Source payload type -> our payload type towards this player. Usually one entry;
    /// re-learned when the source changes.
    pub pt_map: PtMap,
    /// The source params this player was negotiated for (to match a new publisher's params).
    pub negotiated: PayloadParams,
    /// Video only: drop packets until a keyframe starts, so the decoder starts clean.
    pub waiting_keyframe: bool,
    /// Set when the session uses direct egress (`direct.rs`).
    pub direct: Option<DirectTrack>,
}

/// A few payload type pairs kept inline: it is read for every packet to every player, and a
/// separate allocation would be one more cache miss per player and packet.
#[derive(Debug, Clone, Copy, Default)]
pub struct PtMap {
    pairs: [(u8, u8); 4],
    len: u8,
}

impl PtMap {
    pub fn get(&self, source: Pt) -> Option<Pt> {
        self.pairs[..usize::from(self.len)].iter().find(|(s, _)| *s == *source).map(|(_, l)| Pt::from(*l))
    }

    /// Adds a pair; false when full (the caller then looks the pair up again next time).
    pub fn insert(&mut self, source: Pt, local: Pt) -> bool {
        let Some(slot) = self.pairs.get_mut(usize::from(self.len)) else { return false };
        *slot = (*source, *local);
        self.len += 1;
        true
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }
}

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
    /// Media flows in from the peer; `ssrc -> (mid, kind)` learnt from the first packets.
    Publisher { tracks: HashMap<Ssrc, (Mid, MediaKind)> },
    Player { audio: Option<DownTrack>, video: Option<DownTrack> },
    /// Media flows in and straight back out, per mid.
    Echo { tracks: HashMap<Mid, DownTrack> },
}

/// Fields a forwarded packet touches come first and stay together (`repr(C)` keeps the
/// declared order): a fan-out visits every player's session per packet, and the `Rtc` between
/// them would spread each visit over more cache lines.
#[repr(C)]
pub struct Session {
    pub connected_at: Option<Instant>,
    /// Packets were written with `write_rtp` since the last `Input::Timeout`. str0m sends a
    /// written packet only after a timeout has timestamped it; the engine gives that timeout
    /// once per loop turn for all packets written in the turn (`Shard::send_written_media`).
    pub media_written: bool,
    /// Of those, some went to the `Rtc` (not only to `direct`): it needs its `Input::Timeout`.
    pub rtc_written: bool,
    /// Player: its stream's fan-out items up to this number were covered by the fast-start
    /// GOP replay and are skipped (`Shard::send_written_media_parallel`).
    pub fanout_after: u64,
    /// Protocol and remote address of str0m's latest DTLS or RTP/RTCP transmit: the path the
    /// direct egress sends on.
    pub media_path: Option<(str0m::net::Protocol, SocketAddr)>,
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
    /// Last STUN Binding request (ICE consent, RFC 7675) or, before the first, creation time.
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

/// Most remote addresses a session keeps (ICE checks from several candidates of one peer).
pub const MAX_ADDRS_PER_SESSION: usize = 8;

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

    pub fn stats_json(&self, now: Instant) -> serde_json::Value {
        let c = &self.counters;
        let down = |d: &Option<DownTrack>| {
            d.as_ref().map(|d| {
                let t = crate::codec::track_info(&d.negotiated);
                json!({"mid": d.mid.to_string(), "codec": t.codec, "fmtp": t.fmtp, "waiting_keyframe": d.waiting_keyframe,
                    "direct": d.direct.is_some()})
            })
        };
        let tracks = match &self.role {
            Role::Publisher { tracks } => json!(tracks
                .iter()
                .map(|(ssrc, (mid, kind))| json!({"ssrc": **ssrc, "mid": mid.to_string(), "kind": format!("{kind:?}").to_lowercase()}))
                .collect::<Vec<_>>()),
            Role::Player { audio, video } => json!({"audio": down(audio), "video": down(video)}),
            Role::Echo { tracks } => json!(tracks.keys().map(|m| m.to_string()).collect::<Vec<_>>()),
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
