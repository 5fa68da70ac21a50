//! One stream: its source, its sinks, and the media state every sink shares (the GOP cache, the
//! recent units for retransmission, the turn's fan-out queue).
//!
//! `L` is the owner's handle of a sink or source that lives on the owner's own thread (the
//! engine's session id): those are written to with `&mut` access at the end of the owner's
//! loop turn, from [`Stream::fanout`]. Sinks and sources on other threads are reached through
//! ports (`port.rs`).

use std::sync::Arc;
use std::time::Instant;

use weir_core::StreamKey;

use crate::gop::GopCache;
use crate::port::{Offered, SinkEnd, SourceEnd};
use crate::recent::RecentUnits;
use crate::{MediaKind, MediaUnit, TrackDesc, TrackId};

/// Where a stream's media comes from.
pub enum SourceKind<L> {
    /// A session on the owner's thread (a WebRTC publisher).
    Local(L),
    /// An adapter on another thread, through a source port.
    Foreign(SourceEnd),
}

pub(crate) struct Source<L> {
    pub(crate) id: String,
    pub(crate) kind: SourceKind<L>,
}

/// A track of a stream with the state its sinks share.
pub struct StreamTrack {
    pub desc: TrackDesc,
    gop: Option<GopCache>,
    recent: Option<RecentUnits>,
}

impl StreamTrack {
    pub(crate) fn new(desc: TrackDesc, gop_units: usize, recent_units: usize) -> Self {
        let video = desc.kind == MediaKind::Video;
        StreamTrack {
            gop: (video && gop_units > 0).then(|| GopCache::new(gop_units)),
            recent: (video && recent_units > 0).then(|| RecentUnits::new(recent_units)),
            desc,
        }
    }

    /// The cached GOP (video), from its keyframe on.
    pub fn gop(&self) -> &[MediaUnit] {
        self.gop.as_ref().map(|g| g.units()).unwrap_or(&[])
    }

    /// Recent units by sequence number (video, when the hub keeps them).
    pub fn recent(&self) -> Option<&RecentUnits> {
        self.recent.as_ref()
    }
}

/// A unit of this loop turn on its way to the stream's local sinks.
#[derive(Debug, Clone)]
pub struct FanoutItem {
    /// Numbers the stream's fan-out items, so a sink that got this unit in its GOP replay can
    /// skip it ([`Stream::fanout_count`]).
    pub n: u64,
    pub epoch: u32,
    pub unit: MediaUnit,
}

pub(crate) struct ForeignSink {
    pub(crate) id: String,
    pub(crate) end: SinkEnd,
}

pub struct Stream<L> {
    pub(crate) key: StreamKey,
    pub(crate) source: Option<Source<L>>,
    /// Incremented for every new source: sinks re-splice their output and restart video at a
    /// keyframe.
    pub(crate) epoch: u32,
    pub(crate) tracks: Vec<StreamTrack>,
    /// The same descriptions, shared with foreign sinks' `Tracks` events.
    pub(crate) descs: Arc<[TrackDesc]>,
    pub(crate) local_sinks: Vec<L>,
    pub(crate) foreign_sinks: Vec<ForeignSink>,
    pub(crate) last_keyframe_request: Option<Instant>,
    pub(crate) orphaned_since: Option<Instant>,
    pub(crate) fanout: Vec<FanoutItem>,
    pub(crate) fanout_count: u64,
}

impl<L: Copy + PartialEq> Stream<L> {
    pub(crate) fn new(key: StreamKey) -> Self {
        Stream {
            key,
            source: None,
            epoch: 0,
            tracks: Vec::new(),
            descs: Arc::from(Vec::new()),
            local_sinks: Vec::new(),
            foreign_sinks: Vec::new(),
            last_keyframe_request: None,
            orphaned_since: None,
            fanout: Vec::new(),
            fanout_count: 0,
        }
    }

    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn tracks(&self) -> &[StreamTrack] {
        &self.tracks
    }

    pub fn track(&self, id: TrackId) -> Option<&StreamTrack> {
        self.tracks.get(id.index())
    }

    /// The first track of `kind`: what a sink that takes one audio and one video track follows.
    pub fn track_of_kind(&self, kind: MediaKind) -> Option<(TrackId, &StreamTrack)> {
        self.tracks.iter().enumerate().find(|(_, t)| t.desc.kind == kind).map(|(i, t)| (TrackId(i as u8), t))
    }

    pub fn has_video(&self) -> bool {
        self.tracks.iter().any(|t| t.desc.kind == MediaKind::Video)
    }

    /// The source, when it is a session on the owner's thread.
    pub fn local_source(&self) -> Option<L> {
        match &self.source {
            Some(Source { kind: SourceKind::Local(l), .. }) => Some(*l),
            _ => None,
        }
    }

    pub fn has_source(&self) -> bool {
        self.source.is_some()
    }

    pub fn is_orphaned(&self) -> bool {
        self.orphaned_since.is_some()
    }

    pub fn local_sinks(&self) -> &[L] {
        &self.local_sinks
    }

    pub fn foreign_sink_count(&self) -> usize {
        self.foreign_sinks.len()
    }

    pub(crate) fn has_sinks(&self) -> bool {
        !self.local_sinks.is_empty() || !self.foreign_sinks.is_empty()
    }

    /// Fan-out items ever queued (see [`FanoutItem::n`]).
    pub fn fanout_count(&self) -> u64 {
        self.fanout_count
    }

    /// This turn's queued units for the local sinks.
    pub fn fanout(&self) -> &[FanoutItem] {
        &self.fanout
    }

    /// Takes the unit into the stream: recent units, GOP cache, foreign sinks' rings, and the
    /// turn's fan-out queue when there are local sinks. Returns (whether this is the turn's first
    /// queued item, whether a foreign sink overflowed and wants a keyframe).
    pub(crate) fn push(&mut self, unit: MediaUnit) -> (bool, bool) {
        let Some(track) = self.tracks.get_mut(unit.track.index()) else { return (false, false) };
        let video = track.desc.kind == MediaKind::Video;
        if let Some(recent) = track.recent.as_mut() {
            recent.push(&unit);
        }
        if let Some(gop) = track.gop.as_mut() {
            gop.push(&unit);
        }
        let mut overflowed = false;
        if !self.foreign_sinks.is_empty() {
            let has_video = self.tracks.iter().any(|t| t.desc.kind == MediaKind::Video);
            for sink in &mut self.foreign_sinks {
                overflowed |= sink.end.offer(&unit, video, has_video) == Offered::Overflowed;
            }
        }
        if self.local_sinks.is_empty() {
            return (false, overflowed);
        }
        self.fanout_count += 1;
        let first = self.fanout.is_empty();
        self.fanout.push(FanoutItem { n: self.fanout_count, epoch: self.epoch, unit });
        (first, overflowed)
    }

    /// Replays the GOP to a foreign sink that just attached, after the tracks.
    pub(crate) fn start_foreign_sink(&self, end: &mut SinkEnd) {
        end.set_tracks(self.epoch, self.descs.clone());
        let has_video = self.has_video();
        for track in &self.tracks {
            for unit in track.gop() {
                if end.offer(unit, true, has_video) != Offered::Delivered {
                    return;
                }
            }
        }
    }
}
