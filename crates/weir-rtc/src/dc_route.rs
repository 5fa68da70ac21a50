//! DataChannel routing inside a stream (payloads are never parsed; text stays text and binary
//! stays binary): publisher -> every player; player -> publisher (and the other players with
//! `datachannel_relay_players=1`); optional echo (`datachannel_echo=1`); `broadcastMessage`
//! from the management API. Per-channel queues live in `datachannel.rs`.

use std::sync::Arc;
use std::time::Instant;

use str0m::channel::ChannelData;
use tracing::warn;
use weir_core::{BroadcastRequest, BroadcastTarget, SessionError, SessionKind};

use crate::datachannel::Enqueued;
use crate::shard::Shard;
use crate::table::SessionId;

impl Shard {
    /// A message arrived on a session's DataChannel: relay it inside the stream.
    pub(crate) fn on_channel_data(&mut self, id: SessionId, data: ChannelData, now: Instant) {
        let max = self.cfg.datachannel_max_message_size;
        let Some((sess, mut out)) = self.session_out(id) else { return };
        let Some(label) = sess.dc.on_data(data.id, data.data.len()) else { return };
        if data.data.len() > max {
            // Over the advertised a=max-message-size: only this channel is closed (RFC 8841
            // section 6.1 leaves the reaction to the receiver).
            warn!(session = %sess.id, stream = %sess.key, %label, len = data.data.len(), limit = max,
                "data channel message over datachannelMaxMessageSize; closing the channel");
            sess.dc.count_refused();
            sess.rtc.direct_api().close_data_channel(data.id);
            sess.dc.on_close(data.id);
            sess.drain(now, &mut out);
            return;
        }
        let (stream, kind, binary) = (sess.stream, sess.kind, data.binary);
        let payload: Arc<[u8]> = Arc::from(data.data);
        let mut targets: Vec<SessionId> = Vec::new();
        if self.cfg.datachannel_echo {
            targets.push(id);
        }
        if let Some(st) = stream.and_then(|s| self.hub.get(s)) {
            match kind {
                SessionKind::Publish => targets.extend(st.local_sinks().iter().copied()),
                SessionKind::Play => {
                    targets.extend(st.local_source());
                    if self.cfg.datachannel_relay_players {
                        targets.extend(st.local_sinks().iter().copied().filter(|&p| p != id));
                    }
                }
                SessionKind::Echo => {}
            }
        }
        for t in targets {
            self.deliver(t, Some(&label), binary, payload.clone(), now);
        }
    }

    /// Queues a message on the best channel of a session. Returns false when the session has no
    /// open channel or the message was dropped.
    fn deliver(&mut self, id: SessionId, label: Option<&str>, binary: bool, payload: Arc<[u8]>, now: Instant) -> bool {
        let bound = self.cfg.datachannel_buffer_bytes;
        let Some((sess, mut out)) = self.session_out(id) else { return false };
        let Some(ch) = sess.dc.target(label) else { return false };
        let queued = match sess.dc.enqueue(ch, binary, payload, bound) {
            Enqueued::Queued => {
                sess.dc.flush(&mut sess.rtc, ch);
                true
            }
            Enqueued::CloseSlow => {
                let cid = sess.dc.channels[ch].id;
                warn!(session = %sess.id, stream = %sess.key, label = %sess.dc.channels[ch].label, bound,
                    "data channel closed: the peer does not read fast enough (send queue over datachannelBufferBytes)");
                sess.rtc.direct_api().close_data_channel(cid);
                sess.dc.on_close(cid);
                false
            }
            Enqueued::Dropped | Enqueued::NoChannel => false,
        };
        sess.drain(now, &mut out);
        queued
    }

    /// `broadcastMessage`: a server message for the DataChannels of a stream's sessions.
    pub(crate) fn broadcast(&mut self, req: BroadcastRequest, now: Instant) -> Result<usize, SessionError> {
        let st = self.hub.find(&req.key).and_then(|s| self.hub.get(s)).ok_or(SessionError::StreamNotFound)?;
        let mut targets: Vec<SessionId> = Vec::new();
        if matches!(req.target, BroadcastTarget::Publisher | BroadcastTarget::All) {
            targets.extend(st.local_source());
        }
        if matches!(req.target, BroadcastTarget::Players | BroadcastTarget::All) {
            targets.extend(st.local_sinks().iter().copied());
        }
        if let Some(only) = &req.session {
            targets.retain(|&t| self.sessions.get(t).is_some_and(|s| &s.id == only));
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

    /// A channel's queue can take more (str0m's BufferedAmountLow).
    pub(crate) fn on_channel_flush(&mut self, id: SessionId, cid: str0m::channel::ChannelId, now: Instant) {
        let Some((sess, mut out)) = self.session_out(id) else { return };
        if let Some(ch) = sess.dc.position(cid) {
            sess.dc.flush(&mut sess.rtc, ch);
            sess.drain(now, &mut out);
        }
    }
}
