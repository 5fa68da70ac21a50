//! DataChannel state of one session: which channels are open, and a bounded send queue per
//! channel so that a slow or stalled peer costs a fixed amount of memory and never delays
//! anyone else (RFC 8831 leaves flow control to the application).
//!
//! Routing (who gets a message) is decided by the engine; this module only picks the channel a
//! message goes out on and queues it.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::json;
use str0m::channel::{ChannelConfig, ChannelId, Reliability};
use str0m::Rtc;

/// Default SCTP stream ids pre-created as negotiated channels (`negotiated: true` in the browser
/// API, `rtc.datachannelNegotiatedIds`). str0m drops data on a stream it has no channel for, and
/// negotiated channels announce nothing, so a configured set is created up front. Odd ids: a
/// browser acting as DTLS client (our answer is always DTLS server) opens its in-band channels on
/// even ids (RFC 8832 section 6), so these never collide with them.
pub const NEGOTIATED_IDS: [u16; 8] = [1, 3, 5, 7, 9, 11, 13, 15];

#[derive(Debug)]
pub struct DcChannel {
    pub id: ChannelId,
    pub sctp_id: u16,
    pub label: String,
    pub ordered: bool,
    pub reliable: bool,
    /// Opened by the peer in-band, or a pre-created negotiated channel the peer has used.
    pub live: bool,
    queue: VecDeque<(bool, Arc<[u8]>)>,
    queued_bytes: usize,
}

#[derive(Debug, Default)]
pub struct DcCounters {
    pub opened: u64,
    pub closed: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub dropped: u64,
    pub closed_slow: u64,
    pub max_queued_bytes: usize,
}

#[derive(Debug, Default)]
pub struct DcState {
    pub channels: Vec<DcChannel>,
    pub counters: DcCounters,
}

/// What happened to a message handed to [`DcState::enqueue`].
#[derive(Debug, PartialEq, Eq)]
pub enum Enqueued {
    Queued,
    /// Unreliable channel over its bound: the message was dropped.
    Dropped,
    /// Reliable channel over its bound: the channel must be closed.
    CloseSlow,
    NoChannel,
}

impl DcState {
    /// Creates the negotiated channels a peer may use without announcing them.
    pub fn precreate_negotiated(&mut self, rtc: &mut Rtc, ids: &[u16]) {
        let mut api = rtc.direct_api();
        for &sctp_id in ids {
            let config = ChannelConfig {
                label: format!("negotiated-{sctp_id}"),
                negotiated: Some(sctp_id),
                ..Default::default()
            };
            let id = api.create_data_channel(config);
            self.channels.push(DcChannel {
                id,
                sctp_id,
                label: format!("negotiated-{sctp_id}"),
                ordered: true,
                reliable: true,
                live: false,
                queue: VecDeque::new(),
                queued_bytes: 0,
            });
        }
    }

    /// A channel opened (in-band by the peer, or one of ours becoming usable). True when it is a
    /// channel the peer opened, false for our pre-created negotiated ones.
    pub fn on_open(&mut self, rtc: &mut Rtc, id: ChannelId, label: &str) -> bool {
        let sctp_id = rtc.direct_api().sctp_stream_id_by_channel_id(id).unwrap_or(u16::MAX);
        let (ordered, reliable) = rtc
            .channel(id)
            .and_then(|c| c.config().map(|c| (c.ordered, matches!(c.reliability, Reliability::Reliable))))
            .unwrap_or((true, true));
        if let Some(ch) = self.channels.iter_mut().find(|c| c.id == id) {
            // One of the pre-created negotiated channels: it is usable once the peer uses it.
            ch.ordered = ordered;
            ch.reliable = reliable;
            return false;
        }
        if let Some(mut c) = rtc.channel(id) {
            // Below this, str0m tells us to refill from our queue.
            c.set_buffered_amount_low_threshold(256 * 1024);
        }
        self.counters.opened += 1;
        self.channels.push(DcChannel {
            id,
            sctp_id,
            label: label.to_owned(),
            ordered,
            reliable,
            live: true,
            queue: VecDeque::new(),
            queued_bytes: 0,
        });
        self.channels.sort_by_key(|c| c.sctp_id);
        true
    }

    /// Counts a message that was refused (over the size limit).
    pub fn count_refused(&mut self) {
        self.counters.dropped += 1;
    }

    pub fn on_close(&mut self, id: ChannelId) {
        if let Some(pos) = self.channels.iter().position(|c| c.id == id) {
            let ch = self.channels.remove(pos);
            if ch.live {
                self.counters.closed += 1;
            }
        }
    }

    /// Counts an incoming message and returns the label of its channel.
    pub fn on_data(&mut self, id: ChannelId, len: usize) -> Option<String> {
        self.counters.messages_in += 1;
        self.counters.bytes_in += len as u64;
        let ch = self.channels.iter_mut().find(|c| c.id == id)?;
        if !ch.live {
            ch.live = true;
            self.counters.opened += 1;
        }
        Some(ch.label.clone())
    }

    /// The channel a message goes out on: the peer's live channel with the same label, else its
    /// first live channel (lowest SCTP stream id; ZLMediaKit broadcasts on stream 0).
    pub fn target(&self, label: Option<&str>) -> Option<usize> {
        label
            .and_then(|l| self.channels.iter().position(|c| c.live && c.label == l))
            .or_else(|| self.channels.iter().position(|c| c.live))
    }

    pub fn enqueue(&mut self, ch: usize, binary: bool, data: Arc<[u8]>, bound: usize) -> Enqueued {
        let Some(c) = self.channels.get_mut(ch) else { return Enqueued::NoChannel };
        if c.queued_bytes + data.len() > bound {
            return if c.reliable {
                self.counters.closed_slow += 1;
                Enqueued::CloseSlow
            } else {
                self.counters.dropped += 1;
                Enqueued::Dropped
            };
        }
        c.queued_bytes += data.len();
        c.queue.push_back((binary, data));
        self.counters.max_queued_bytes = self.counters.max_queued_bytes.max(c.queued_bytes);
        Enqueued::Queued
    }

    /// Moves queued messages of channel `ch` into SCTP while it accepts them.
    pub fn flush(&mut self, rtc: &mut Rtc, ch: usize) {
        let Some(c) = self.channels.get_mut(ch) else { return };
        while let Some((binary, data)) = c.queue.front() {
            let Some(mut channel) = rtc.channel(c.id) else {
                // Gone underneath us: forget what was queued.
                self.counters.dropped += c.queue.len() as u64;
                c.queue.clear();
                c.queued_bytes = 0;
                return;
            };
            match channel.write(*binary, data) {
                Ok(true) => {
                    self.counters.messages_out += 1;
                    self.counters.bytes_out += data.len() as u64;
                    c.queued_bytes -= data.len();
                    c.queue.pop_front();
                }
                Ok(false) => return, // SCTP buffer full: wait for BufferedAmountLow
                Err(_) => {
                    self.counters.dropped += 1;
                    c.queued_bytes -= data.len();
                    c.queue.pop_front();
                }
            }
        }
    }

    pub fn position(&self, id: ChannelId) -> Option<usize> {
        self.channels.iter().position(|c| c.id == id)
    }

    pub fn has_queued(&self) -> bool {
        self.channels.iter().any(|c| !c.queue.is_empty())
    }

    pub fn stats_json(&self) -> serde_json::Value {
        let c = &self.counters;
        let live: Vec<&DcChannel> = self.channels.iter().filter(|c| c.live).collect();
        json!({
            "channels_open": live.len(),
            "channels_opened": c.opened,
            "channels_closed": c.closed,
            "messages_in": c.messages_in,
            "messages_out": c.messages_out,
            "bytes_in": c.bytes_in,
            "bytes_out": c.bytes_out,
            "messages_dropped": c.dropped,
            "closed_slow": c.closed_slow,
            "queued_bytes": self.channels.iter().map(|c| c.queued_bytes).sum::<usize>(),
            "max_queued_bytes": c.max_queued_bytes,
            "channels": live.iter().map(|c| json!({"id": c.sctp_id, "label": c.label, "ordered": c.ordered,
                "reliable": c.reliable, "queued_bytes": c.queued_bytes})).collect::<Vec<_>>(),
        })
    }
}
