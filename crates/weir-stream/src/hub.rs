//! The hub: every stream by key, with its one source and its sinks. It is the single owner and
//! the single source of truth of the streams; the [`Directory`] the management APIs read is
//! written from here, in the call that changes a stream.
//!
//! Sans-IO and single-threaded: the owner (the engine thread) calls it with `&mut`, feeds it
//! units, and carries out what it asks for in [`HubEffect`]s (a keyframe request to a local
//! source, closing a local sink whose stream ended). Adapters on other threads reach it only
//! through ports.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::info;
use weir_core::StreamKey;

use crate::directory::Directory;
use crate::port::SinkEnd;
use crate::stream::{ForeignSink, Source, SourceKind, Stream, StreamTrack};
use crate::{MediaUnit, TrackDesc, MAX_TRACKS};

#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Most units of one GOP kept for fast start (`rtc.gopCacheMaxPackets`); 0 keeps none.
    pub gop_cache_max_units: usize,
    /// Recent video units kept per track to answer retransmission requests; 0 keeps none.
    pub recent_units: usize,
    /// At most one keyframe request to the source per stream in this interval
    /// (`rtc.keyframeRequestIntervalMS`): many sinks losing the same packet must not flood it.
    pub keyframe_request_interval: Duration,
    /// How long a stream whose source left keeps its sinks for a returning source
    /// (`protocol.continue_push_ms`); zero ends the stream with its source.
    pub grace: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            gop_cache_max_units: 4096,
            recent_units: 1024,
            keyframe_request_interval: Duration::from_millis(500),
            grace: Duration::from_secs(15),
        }
    }
}

/// A stream's slot in the hub: index plus generation, so a handle kept by a session or a port
/// never reaches a later stream in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    index: u32,
    generation: u32,
}

impl StreamId {
    pub fn index(self) -> usize {
        self.index as usize
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// ZLMediaKit's wording, which its clients match on.
    #[error("already publishing")]
    AlreadyPublishing,
    /// ZLMediaKit's wording, which its clients match on.
    #[error("stream not found")]
    NotFound,
    #[error("unusable tracks: {0}")]
    BadTracks(String),
}

/// What the hub asks its owner to do for handles only the owner can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubEffect<L> {
    /// Ask this local source for a keyframe (already throttled).
    RequestKeyframe(L),
    /// This local sink's stream ended: close it.
    CloseSink(L, &'static str),
}

/// A source taking a stream.
pub struct SourceClaim<L> {
    /// Shown in the directory (a session id, an RTMP connection id, ...).
    pub id: String,
    pub protocol: &'static str,
    pub tracks: Vec<TrackDesc>,
    pub kind: SourceKind<L>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    pub stream: StreamId,
    /// A previous source left within the grace period and this one takes over its sinks.
    pub resumed: bool,
}

struct Slot<L> {
    generation: u32,
    stream: Option<Stream<L>>,
}

pub struct Hub<L> {
    cfg: HubConfig,
    directory: Arc<Directory>,
    slots: Vec<Slot<L>>,
    free: Vec<u32>,
    by_key: HashMap<StreamKey, StreamId>,
    /// Streams with units queued for their local sinks in this turn.
    pending: Vec<StreamId>,
    /// Streams with a foreign source or foreign sinks: the ones `poll_foreign` looks at.
    foreign: Vec<StreamId>,
    /// Streams whose foreign sinks got events in this turn.
    to_wake: Vec<StreamId>,
    effects: Vec<HubEffect<L>>,
    /// Units drained from a foreign source, reused by every poll.
    drained: Vec<MediaUnit>,
}

impl<L: Copy + PartialEq + std::fmt::Debug> Hub<L> {
    pub fn new(cfg: HubConfig, directory: Arc<Directory>) -> Self {
        Hub {
            cfg,
            directory,
            slots: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            pending: Vec::new(),
            foreign: Vec::new(),
            to_wake: Vec::new(),
            effects: Vec::new(),
            drained: Vec::new(),
        }
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    pub fn find(&self, key: &StreamKey) -> Option<StreamId> {
        self.by_key.get(key).copied()
    }

    pub fn get(&self, id: StreamId) -> Option<&Stream<L>> {
        let slot = self.slots.get(id.index())?;
        if slot.generation != id.generation {
            return None;
        }
        slot.stream.as_ref()
    }

    fn get_mut(&mut self, id: StreamId) -> Option<&mut Stream<L>> {
        let slot = self.slots.get_mut(id.index())?;
        if slot.generation != id.generation {
            return None;
        }
        slot.stream.as_mut()
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    fn alloc(&mut self, key: &StreamKey) -> StreamId {
        let stream = Some(Stream::new(key.clone()));
        let id = match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.stream = stream;
                StreamId { index, generation: slot.generation }
            }
            None => {
                self.slots.push(Slot { generation: 0, stream });
                StreamId { index: (self.slots.len() - 1) as u32, generation: 0 }
            }
        };
        self.by_key.insert(key.clone(), id);
        id
    }

    /// Removes a stream: its foreign sinks end, its local sinks are to be closed.
    fn remove(&mut self, id: StreamId, reason: &'static str) {
        let Some(slot) = self.slots.get_mut(id.index()).filter(|s| s.generation == id.generation) else { return };
        let Some(stream) = slot.stream.take() else { return };
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.by_key.remove(&stream.key);
        self.directory.removed(&stream.key);
        self.foreign.retain(|&f| f != id);
        // `ForeignSink`s end when dropped (their `SinkEnd`s), a foreign source is closed.
        for sink in stream.local_sinks {
            self.effects.push(HubEffect::CloseSink(sink, reason));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Sources

    /// Makes `claim` the source of `key`. Fails if another live source holds it. A stream that
    /// was orphaned is resumed: its sinks stay and follow the new source (a new epoch).
    pub fn claim_source(&mut self, key: &StreamKey, claim: SourceClaim<L>, now: Instant) -> Result<Claimed, HubError> {
        if claim.tracks.is_empty() || claim.tracks.len() > MAX_TRACKS {
            return Err(HubError::BadTracks(format!("{} tracks (1 to {MAX_TRACKS})", claim.tracks.len())));
        }
        let existing = self.find(key);
        if let Some(source) = existing.and_then(|id| self.get(id)).and_then(|s| s.source.as_ref()) {
            if source.id != claim.id {
                return Err(HubError::AlreadyPublishing);
            }
        }
        let id = match existing {
            Some(id) => id,
            None => self.alloc(key),
        };
        let foreign = matches!(claim.kind, SourceKind::Foreign(_));
        let (gop_units, recent_units) = (self.cfg.gop_cache_max_units, self.cfg.recent_units);
        let Some(stream) = self.get_mut(id) else { return Err(HubError::NotFound) };
        let resumed = stream.orphaned_since.take().is_some();
        stream.epoch = stream.epoch.wrapping_add(1);
        stream.tracks = claim.tracks.iter().map(|t| StreamTrack::new(t.clone(), gop_units, recent_units)).collect();
        stream.descs = Arc::from(claim.tracks.clone());
        stream.last_keyframe_request = None;
        stream.source = Some(Source { id: claim.id.clone(), kind: claim.kind });
        let (epoch, descs) = (stream.epoch, stream.descs.clone());
        for sink in &mut stream.foreign_sinks {
            sink.end.set_tracks(epoch, descs.clone());
        }
        let wake = !stream.foreign_sinks.is_empty();
        self.directory.source_set(key, &claim.id, claim.protocol, &claim.tracks, now);
        if foreign {
            self.note_foreign(id);
        }
        if wake {
            self.to_wake.push(id);
        }
        if resumed {
            info!(stream = %key, source = %claim.id, "source resumed the stream within continue_push_ms");
        }
        Ok(Claimed { stream: id, resumed })
    }

    /// The source `source_id` left. With sinks and a grace period the stream waits for a new
    /// source (orphaned); otherwise it ends and its local sinks are to be closed
    /// ([`HubEffect::CloseSink`]). A source that is not (any more) the stream's changes nothing.
    pub fn release_source(&mut self, id: StreamId, source_id: &str, now: Instant) {
        let grace = self.cfg.grace;
        let Some(stream) = self.get_mut(id) else { return };
        if stream.source.as_ref().map(|s| s.id.as_str()) != Some(source_id) {
            return;
        }
        stream.source = None;
        if !grace.is_zero() && stream.has_sinks() {
            stream.orphaned_since = Some(now);
            for sink in &mut stream.foreign_sinks {
                sink.end.source_left();
            }
            let (key, wake) = (stream.key.clone(), !stream.foreign_sinks.is_empty());
            info!(stream = %key, "source left; sinks wait continue_push_ms for it to return");
            self.directory.source_left(&key);
            if wake {
                self.to_wake.push(id);
            }
        } else {
            self.remove(id, "stream ended");
        }
    }

    /// Streams orphaned for longer than the grace period end.
    pub fn expire_orphans(&mut self, now: Instant) {
        let grace = self.cfg.grace;
        let expired: Vec<(StreamId, StreamKey)> = (self.by_key.iter())
            .filter(|(_, &id)| self.get(id).and_then(|s| s.orphaned_since).is_some_and(|t| now.saturating_duration_since(t) >= grace))
            .map(|(k, &id)| (id, k.clone()))
            .collect();
        for (id, key) in expired {
            info!(stream = %key, "source did not return within continue_push_ms; closing sinks");
            self.remove(id, "stream ended");
        }
    }

    /// Asks the stream's source for a keyframe, at most once per `keyframe_request_interval`.
    /// A foreign source is asked through its port; a local one is returned for the owner to ask.
    pub fn request_keyframe(&mut self, id: StreamId, now: Instant) -> Option<L> {
        let interval = self.cfg.keyframe_request_interval;
        let stream = self.get_mut(id)?;
        if stream.last_keyframe_request.is_some_and(|t| now.saturating_duration_since(t) < interval) {
            return None;
        }
        if !stream.has_video() {
            return None;
        }
        let source = stream.source.as_ref()?;
        stream.last_keyframe_request = Some(now);
        match &source.kind {
            SourceKind::Local(l) => Some(*l),
            SourceKind::Foreign(end) => {
                end.request_keyframe();
                None
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Sinks

    /// Adds a local sink. Fails if the stream has neither a source nor is orphaned.
    pub fn add_local_sink(&mut self, key: &StreamKey, sink: L, sink_id: &str, protocol: &'static str) -> Result<StreamId, HubError> {
        let id = self.find(key).ok_or(HubError::NotFound)?;
        let stream = self.get_mut(id).ok_or(HubError::NotFound)?;
        if stream.source.is_none() && stream.orphaned_since.is_none() {
            return Err(HubError::NotFound);
        }
        if !stream.local_sinks.contains(&sink) {
            stream.local_sinks.push(sink);
        }
        self.directory.sink_added(key, sink_id, protocol);
        Ok(id)
    }

    pub fn remove_local_sink(&mut self, id: StreamId, sink: L, sink_id: &str) {
        let Some(stream) = self.get_mut(id) else { return };
        stream.local_sinks.retain(|&s| s != sink);
        let key = stream.key.clone();
        self.directory.sink_removed(&key, sink_id);
        self.forget_if_unwatched(id);
    }

    /// Adds a sink on another thread: it gets the tracks and the cached GOP now, live units
    /// from then on.
    pub fn add_foreign_sink(
        &mut self,
        key: &StreamKey,
        sink_id: &str,
        protocol: &'static str,
        mut end: SinkEnd,
        now: Instant,
    ) -> Result<StreamId, HubError> {
        let id = self.find(key).ok_or(HubError::NotFound)?;
        let stream = self.get_mut(id).ok_or(HubError::NotFound)?;
        if stream.source.is_none() && stream.orphaned_since.is_none() {
            return Err(HubError::NotFound);
        }
        stream.start_foreign_sink(&mut end);
        let wants_keyframe = stream.has_video() && stream.tracks.iter().all(|t| t.gop().is_empty());
        stream.foreign_sinks.push(ForeignSink { id: sink_id.to_owned(), end });
        self.directory.sink_added(key, sink_id, protocol);
        self.note_foreign(id);
        self.to_wake.push(id);
        if wants_keyframe {
            self.keyframe_for_sink(id, now);
        }
        Ok(id)
    }

    /// An orphaned stream nobody watches any more has no reason to wait for its source.
    fn forget_if_unwatched(&mut self, id: StreamId) {
        if self.get(id).is_some_and(|s| s.source.is_none() && !s.has_sinks()) {
            self.remove(id, "stream ended");
        }
    }

    fn note_foreign(&mut self, id: StreamId) {
        if !self.foreign.contains(&id) {
            self.foreign.push(id);
        }
    }

    fn keyframe_for_sink(&mut self, id: StreamId, now: Instant) {
        if let Some(local) = self.request_keyframe(id, now) {
            self.effects.push(HubEffect::RequestKeyframe(local));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Media

    /// Takes a unit from the stream's source into the stream (see [`Stream::push`]); local sinks
    /// get it at the end of the turn from [`Hub::fanout_pending`].
    pub fn push(&mut self, id: StreamId, unit: MediaUnit, now: Instant) {
        let Some(stream) = self.get_mut(id) else { return };
        let has_foreign = !stream.foreign_sinks.is_empty();
        let (first, overflowed) = stream.push(unit);
        if first {
            self.pending.push(id);
        }
        if has_foreign && !self.to_wake.contains(&id) {
            self.to_wake.push(id);
        }
        if overflowed {
            self.keyframe_for_sink(id, now);
        }
    }

    /// Moves the streams with queued fan-out into `out` (cleared first); the hub keeps `out`'s
    /// old buffer, so no turn allocates.
    pub fn fanout_pending(&mut self, out: &mut Vec<StreamId>) {
        out.clear();
        std::mem::swap(out, &mut self.pending);
    }

    /// Takes a stream's queued fan-out items; hand the vector back with [`Hub::return_fanout`].
    pub fn take_fanout(&mut self, id: StreamId) -> Vec<crate::FanoutItem> {
        self.get_mut(id).map(|s| std::mem::take(&mut s.fanout)).unwrap_or_default()
    }

    /// Gives a fan-out vector back (its capacity serves the next turn).
    pub fn return_fanout(&mut self, id: StreamId, mut items: Vec<crate::FanoutItem>) {
        items.clear();
        if let Some(stream) = self.get_mut(id) {
            if stream.fanout.is_empty() && stream.fanout.capacity() < items.capacity() {
                stream.fanout = items;
            }
        }
    }

    /// Drains the foreign sources' rings into their streams and tends foreign ports: an adapter
    /// that dropped its source port releases the source, one that dropped its sink port leaves,
    /// a sink's keyframe request goes to the source. Call when the owner's port notifier fires.
    pub fn poll_foreign(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.foreign.len() {
            let id = self.foreign[i];
            i += 1;
            let mut units = std::mem::take(&mut self.drained);
            let mut source_gone = None;
            let mut wants_keyframe = false;
            let Some(stream) = self.get_mut(id) else { continue };
            if let Some(Source { id: source_id, kind: SourceKind::Foreign(end) }) = stream.source.as_mut() {
                end.drain(|u| units.push(u));
                if end.is_gone() {
                    source_gone = Some(source_id.clone());
                }
            }
            let key = stream.key.clone();
            let mut left = Vec::new();
            stream.foreign_sinks.retain(|s| {
                wants_keyframe |= s.end.take_keyframe_request();
                if s.end.is_gone() {
                    left.push(s.id.clone());
                }
                !s.end.is_gone()
            });
            for unit in units.drain(..) {
                self.push(id, unit, now);
            }
            self.drained = units;
            for sink_id in left {
                self.directory.sink_removed(&key, &sink_id);
            }
            if wants_keyframe {
                self.keyframe_for_sink(id, now);
            }
            if let Some(source_id) = source_gone {
                self.release_source(id, &source_id, now);
            }
            self.forget_if_unwatched(id);
            let still_foreign = self.get(id).is_some_and(|s| {
                s.foreign_sink_count() > 0 || matches!(s.source, Some(Source { kind: SourceKind::Foreign(_), .. }))
            });
            if !still_foreign {
                if let Some(pos) = self.foreign.iter().position(|&f| f == id) {
                    self.foreign.remove(pos);
                    i = i.min(pos);
                }
            }
        }
    }

    /// Wakes the adapters of the foreign sinks that got events this turn: once per sink and
    /// turn, not once per unit. Call at the end of the owner's loop turn.
    pub fn wake_sinks(&mut self) {
        let to_wake = std::mem::take(&mut self.to_wake);
        for &id in &to_wake {
            if let Some(stream) = self.get_mut(id) {
                for sink in &mut stream.foreign_sinks {
                    if sink.end.unwoken() {
                        sink.end.wake();
                    }
                }
            }
        }
        self.to_wake = to_wake;
        self.to_wake.clear();
    }

    /// What the hub needs its owner to do (appended to `out`).
    pub fn take_effects(&mut self, out: &mut Vec<HubEffect<L>>) {
        out.append(&mut self.effects);
    }

    pub fn has_effects(&self) -> bool {
        !self.effects.is_empty()
    }
}
