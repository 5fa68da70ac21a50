//! Engine-wide counters read by the management API without a round trip to the engine thread.
//! The engine publishes its running totals into these atomics on its housekeeping tick, so
//! the media path never touches a shared cache line.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::udp_batch::{gso_usable, SendCounts};

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

    pub(crate) fn to_json(&self) -> serde_json::Value {
        let r = Ordering::Relaxed;
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
        })
    }
}
