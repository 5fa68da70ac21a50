//! Engine-wide counters read by the management API and `/metrics` without a round trip to the
//! engine thread. The engine publishes its running totals into these atomics on its
//! housekeeping tick, so the media path never touches a shared cache line.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::peer::Session;
use crate::udp_batch::{gso_usable, SendCounts};

/// Media totals over every session, live and ended: the live sessions' counters are summed on
/// the housekeeping tick (the same walk as the consent check) and added to what ended sessions
/// left in [`MediaTotals::closed`]. Plain integers: only the engine thread touches them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MediaTotals {
    rx_packets: u64,
    rx_bytes: u64,
    tx_packets: u64,
    tx_bytes: u64,
    rx_rtp_dropped: u64,
    bad_packets: u64,
    nacks_received: u64,
    nacks_sent: u64,
    rtx_sent: u64,
    keyframe_requests_received: u64,
    keyframe_requests_sent: u64,
    datachannel_messages_in: u64,
    datachannel_messages_out: u64,
    sessions_closed: u64,
}

impl MediaTotals {
    pub(crate) fn add_session(&mut self, s: &Session) {
        let c = &s.counters;
        self.rx_packets += c.rx_packets;
        self.rx_bytes += c.rx_bytes;
        self.tx_packets += c.tx_packets;
        self.tx_bytes += c.tx_bytes;
        self.rx_rtp_dropped += c.rx_rtp_dropped;
        self.bad_packets += c.bad_packets;
        self.nacks_received += c.nacks_received;
        self.rtx_sent += c.rtx_sent;
        self.keyframe_requests_received += c.keyframe_requests_received;
        self.keyframe_requests_sent += c.keyframe_requests_sent;
        self.nacks_sent += s.ingress.values().map(|i| i.nacks).sum::<u64>();
        self.datachannel_messages_in += s.dc.counters.messages_in;
        self.datachannel_messages_out += s.dc.counters.messages_out;
    }

    /// Adds an ended session's final counters.
    pub(crate) fn close(&mut self, s: &Session) {
        self.add_session(s);
        self.sessions_closed += 1;
    }
}

/// Receive-report quality over the live sessions (RFC 3550 §6.4 fraction lost, RTT), taken on
/// the same walk.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Quality {
    ingress_loss_max: f32,
    egress_loss_max: f32,
    rtt_max: Duration,
    rtt_sum: Duration,
    rtt_n: u32,
}

impl Quality {
    pub(crate) fn add_session(&mut self, s: &Session) {
        for i in s.ingress.values() {
            self.ingress_loss_max = self.ingress_loss_max.max(i.loss.unwrap_or(0.0));
            self.rtt(i.rtt);
        }
        for e in s.egress.values() {
            self.egress_loss_max = self.egress_loss_max.max(e.loss.unwrap_or(0.0));
            self.rtt(e.rtt);
        }
    }

    fn rtt(&mut self, rtt: Option<Duration>) {
        if let Some(r) = rtt {
            self.rtt_max = self.rtt_max.max(r);
            self.rtt_sum += r;
            self.rtt_n += 1;
        }
    }
}

/// The engine loop's own cost: turns and the time spent working in them (not waiting).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LoopTime {
    pub turns: u64,
    pub busy: Duration,
    /// Longest turn since the last housekeeping tick.
    pub max_turn: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct EngineCounters {
    datagrams_sent: AtomicU64,
    messages_sent: AtomicU64,
    gso_messages: AtomicU64,
    send_calls: AtomicU64,
    send_drops: AtomicU64,
    direct_packets: AtomicU64,
    pool_datagrams: AtomicU64,
    ingress_pool_datagrams: AtomicU64,
    unknown_packets: AtomicU64,
    gso: AtomicBool,
    egress_threads: AtomicU64,
    media: [AtomicU64; 14],
    /// f32 bit patterns (loss fractions) and microseconds (RTT).
    ingress_loss_max: AtomicU64,
    egress_loss_max: AtomicU64,
    rtt_max_us: AtomicU64,
    rtt_mean_us: AtomicU64,
    turns: AtomicU64,
    busy_ns: AtomicU64,
    max_turn_us: AtomicU64,
}

impl EngineCounters {
    pub(crate) fn publish(&self, sent: SendCounts, unknown_packets: u64, ingress_pooled: u64) {
        let r = Ordering::Relaxed;
        self.datagrams_sent.store(sent.datagrams, r);
        self.messages_sent.store(sent.messages, r);
        self.gso_messages.store(sent.gso_messages, r);
        self.send_calls.store(sent.calls, r);
        self.send_drops.store(sent.drops, r);
        self.direct_packets.store(sent.direct, r);
        self.pool_datagrams.store(sent.pooled, r);
        self.ingress_pool_datagrams.store(ingress_pooled, r);
        self.unknown_packets.store(unknown_packets, r);
        self.gso.store(gso_usable(), r);
    }

    /// Publishes the media totals, link quality and loop time of one housekeeping tick.
    pub(crate) fn publish_media(&self, totals: &MediaTotals, q: &Quality, lt: &LoopTime, egress_threads: usize) {
        let r = Ordering::Relaxed;
        let t = totals;
        let values = [
            t.rx_packets,
            t.rx_bytes,
            t.tx_packets,
            t.tx_bytes,
            t.rx_rtp_dropped,
            t.bad_packets,
            t.nacks_received,
            t.nacks_sent,
            t.rtx_sent,
            t.keyframe_requests_received,
            t.keyframe_requests_sent,
            t.datachannel_messages_in,
            t.datachannel_messages_out,
            t.sessions_closed,
        ];
        for (slot, v) in self.media.iter().zip(values) {
            slot.store(v, r);
        }
        self.ingress_loss_max.store(u64::from(q.ingress_loss_max.to_bits()), r);
        self.egress_loss_max.store(u64::from(q.egress_loss_max.to_bits()), r);
        self.rtt_max_us.store(q.rtt_max.as_micros() as u64, r);
        let mean = if q.rtt_n == 0 { Duration::ZERO } else { q.rtt_sum / q.rtt_n };
        self.rtt_mean_us.store(mean.as_micros() as u64, r);
        self.turns.store(lt.turns, r);
        self.busy_ns.store(lt.busy.as_nanos() as u64, r);
        self.max_turn_us.store(lt.max_turn.as_micros() as u64, r);
        self.egress_threads.store(egress_threads as u64, r);
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        let r = Ordering::Relaxed;
        let m = |i: usize| self.media[i].load(r);
        serde_json::json!({
            "udp": {
                "datagrams_sent": self.datagrams_sent.load(r),
                "messages_sent": self.messages_sent.load(r),
                "gso_messages": self.gso_messages.load(r),
                "sendmmsg_calls": self.send_calls.load(r),
                "gso": self.gso.load(r),
            },
            "send_drops": self.send_drops.load(r),
            // Packets to players built and protected by the engine (rtc.directEgress).
            "direct_packets": self.direct_packets.load(r),
            // Datagrams sent by the egress pool's threads (rtc.egressThreads).
            "egress_pool_datagrams": self.pool_datagrams.load(r),
            // Datagrams received and handled by the pool's threads (rtc.ingressMinDatagrams).
            "ingress_pool_datagrams": self.ingress_pool_datagrams.load(r),
            "unknown_packets": self.unknown_packets.load(r),
            "egress_threads": self.egress_threads.load(r),
            // Totals over every session since start (live ones as of the last tick).
            "media": {
                "rx_packets": m(0), "rx_bytes": m(1), "tx_packets": m(2), "tx_bytes": m(3),
                "rx_rtp_dropped": m(4), "bad_packets": m(5), "nacks_received": m(6),
                "nacks_sent": m(7), "rtx_sent": m(8), "keyframe_requests_received": m(9),
                "keyframe_requests_sent": m(10), "datachannel_messages_in": m(11),
                "datachannel_messages_out": m(12), "sessions_closed": m(13),
                "ingress_loss_max": f32::from_bits(self.ingress_loss_max.load(r) as u32),
                "egress_loss_max": f32::from_bits(self.egress_loss_max.load(r) as u32),
                "rtt_ms_max": self.rtt_max_us.load(r) as f64 / 1000.0,
                "rtt_ms_mean": self.rtt_mean_us.load(r) as f64 / 1000.0,
            },
            // The engine thread: loop turns, time spent working (not waiting), longest recent turn.
            "loop": {
                "turns": self.turns.load(r),
                "busy_ns": self.busy_ns.load(r),
                "max_turn_us": self.max_turn_us.load(r),
            },
        })
    }
}
