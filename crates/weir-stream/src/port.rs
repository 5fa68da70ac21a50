//! Ports: how an adapter that runs outside the stream owner's thread (RTMP, HLS, relays, the test
//! source and probe) feeds a stream or reads one.
//!
//! Each port is one wait-free single-producer single-consumer ring (`rtrb`) plus a few atomics:
//! - a [`SourcePort`] pushes [`MediaUnit`]s towards the owner and learns when a keyframe is
//!   wanted;
//! - a [`SinkPort`] receives the stream's tracks, its cached GOP, then live units.
//!
//! The owner (the engine thread) never blocks on an adapter: a sink whose ring is full loses
//! units and resynchronises at the next keyframe (counted in [`SinkPort::dropped`]); a source
//! whose ring is full is told so by [`SourcePort::push`]. Wake-ups are batched: a source wakes
//! the owner once per drain, the owner wakes a sink once per loop turn.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use rtrb::{Consumer, Producer, RingBuffer};
use tokio::sync::Notify;

use crate::{MediaUnit, TrackDesc};

/// Units a port's ring holds unless the adapter asks for another size: a few seconds of a
/// typical stream (video ~100-300 packets/s, audio 50/s), a few hundred kilobytes of slots.
pub const DEFAULT_PORT_CAPACITY: usize = 2048;
/// Bounds on the ring size an adapter may ask for.
pub const MIN_PORT_CAPACITY: usize = 16;
pub const MAX_PORT_CAPACITY: usize = 1 << 16;

fn ring_capacity(requested: usize) -> usize {
    requested.clamp(MIN_PORT_CAPACITY, MAX_PORT_CAPACITY)
}

// ---------------------------------------------------------------------------------------------
// Source

struct SourceShared {
    /// Set by the port after a push when the owner has not drained since. The owner clears it
    /// before it drains, so a push that lands during the drain wakes it once more: no unit is
    /// left behind without a wake-up, and a burst costs one wake-up, not one per unit.
    scheduled: AtomicBool,
    keyframe_wanted: AtomicBool,
    keyframe: Notify,
    /// The owner ended the source (stream closed, another source took over, shutdown).
    closed: AtomicBool,
    full_drops: AtomicU64,
}

/// Why a unit was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The ring is full: the owner is behind; the unit was dropped (counted).
    #[error("the stream's input queue is full")]
    Full,
    /// The stream no longer takes units from this source.
    #[error("the source was closed")]
    Closed,
}

/// The adapter's side of a stream source.
pub struct SourcePort {
    units: Producer<MediaUnit>,
    shared: Arc<SourceShared>,
    owner: Arc<Notify>,
}

impl SourcePort {
    /// Hands a unit to the stream. Never blocks.
    pub fn push(&mut self, unit: MediaUnit) -> Result<(), PushError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(PushError::Closed);
        }
        if self.units.push(unit).is_err() {
            self.shared.full_drops.fetch_add(1, Ordering::Relaxed);
            self.wake_owner();
            return Err(PushError::Full);
        }
        self.wake_owner();
        Ok(())
    }

    fn wake_owner(&self) {
        if !self.shared.scheduled.swap(true, Ordering::AcqRel) {
            self.owner.notify_one();
        }
    }

    /// Free slots in the ring.
    pub fn capacity_left(&self) -> usize {
        self.units.slots()
    }

    /// Units refused because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.shared.full_drops.load(Ordering::Relaxed)
    }

    /// Whether a sink asked for a keyframe since the last call (and clears the request).
    pub fn take_keyframe_request(&self) -> bool {
        self.shared.keyframe_wanted.swap(false, Ordering::AcqRel)
    }

    /// The port's keyframe requests, to wait on from a task that also pushes (the ring's
    /// producer side cannot be shared across an await).
    pub fn keyframe_requests(&self) -> KeyframeRequests {
        KeyframeRequests { shared: self.shared.clone() }
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }
}

/// Keyframe requests of a source port (see [`SourcePort::keyframe_requests`]).
#[derive(Clone)]
pub struct KeyframeRequests {
    shared: Arc<SourceShared>,
}

impl KeyframeRequests {
    /// Waits until a keyframe is wanted (and clears the request) or the source is closed.
    pub async fn wait(&self) {
        loop {
            let notified = self.shared.keyframe.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.keyframe_wanted.swap(false, Ordering::AcqRel) || self.shared.closed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for SourcePort {
    fn drop(&mut self) {
        // The owner notices the abandoned ring on its next drain; make that drain happen.
        self.shared.scheduled.store(true, Ordering::Release);
        self.owner.notify_one();
    }
}

/// The owner's side of a source port.
pub struct SourceEnd {
    units: Consumer<MediaUnit>,
    shared: Arc<SourceShared>,
}

impl SourceEnd {
    /// Takes every unit the port has pushed so far.
    pub(crate) fn drain(&mut self, mut each: impl FnMut(MediaUnit)) {
        self.shared.scheduled.store(false, Ordering::Release);
        while let Ok(unit) = self.units.pop() {
            each(unit);
        }
    }

    /// The adapter dropped its port and everything it pushed was taken.
    pub(crate) fn is_gone(&self) -> bool {
        self.units.is_abandoned() && self.units.is_empty()
    }

    pub(crate) fn request_keyframe(&self) {
        self.shared.keyframe_wanted.store(true, Ordering::Release);
        self.shared.keyframe.notify_one();
    }

    pub(crate) fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.keyframe.notify_one();
    }
}

impl Drop for SourceEnd {
    fn drop(&mut self) {
        self.close();
    }
}

/// A connected source port pair. `owner` is woken when the port has units for it.
pub fn source_port(capacity: usize, owner: Arc<Notify>) -> (SourcePort, SourceEnd) {
    let (producer, consumer) = RingBuffer::new(ring_capacity(capacity));
    let shared = Arc::new(SourceShared {
        scheduled: AtomicBool::new(false),
        keyframe_wanted: AtomicBool::new(false),
        keyframe: Notify::new(),
        closed: AtomicBool::new(false),
        full_drops: AtomicU64::new(0),
    });
    (SourcePort { units: producer, shared: shared.clone(), owner }, SourceEnd { units: consumer, shared })
}

// ---------------------------------------------------------------------------------------------
// Sink

/// What a sink receives, in order.
#[derive(Debug, Clone)]
pub enum SinkEvent {
    /// The stream's tracks: the first event, and again when a new source takes the stream over
    /// (a new `epoch`: the units' sequence numbers and timestamps start afresh).
    Tracks { epoch: u32, tracks: Arc<[TrackDesc]> },
    /// One RTP payload of a track. The first video unit after `Tracks` or `Gap` is a keyframe.
    Unit(MediaUnit),
    /// The ring was full and `dropped` units were lost; what follows starts at a keyframe.
    Gap { dropped: u64 },
    /// The source left; the stream waits for it to come back (the grace period), after which
    /// either `Tracks` (a new source) or the end follows.
    SourceLeft,
}

struct SinkShared {
    data: Notify,
    /// The owner will push nothing more: the stream ended or the sink was removed.
    ended: AtomicBool,
    keyframe_wanted: AtomicBool,
    dropped: AtomicU64,
}

/// The adapter's side of a stream sink.
pub struct SinkPort {
    events: Consumer<SinkEvent>,
    shared: Arc<SinkShared>,
    owner: Arc<Notify>,
}

impl SinkPort {
    /// The next event, if one is ready.
    pub fn try_recv(&mut self) -> Option<SinkEvent> {
        self.events.pop().ok()
    }

    /// The next event; `None` once the stream has ended and every event was taken.
    pub async fn recv(&mut self) -> Option<SinkEvent> {
        loop {
            let notified = self.shared.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Ok(ev) = self.events.pop() {
                return Some(ev);
            }
            if self.shared.ended.load(Ordering::Acquire) {
                // Events pushed before the end flag are visible now.
                return self.events.pop().ok();
            }
            notified.await;
        }
    }

    /// Asks the stream's source for a keyframe (throttled by the stream, as for every sink).
    pub fn request_keyframe(&self) {
        self.shared.keyframe_wanted.store(true, Ordering::Release);
        self.owner.notify_one();
    }

    /// Units lost because this sink's ring was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    pub fn is_ended(&self) -> bool {
        self.shared.ended.load(Ordering::Acquire)
    }
}

impl Drop for SinkPort {
    fn drop(&mut self) {
        self.owner.notify_one();
    }
}

/// What happened to a unit offered to a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    Delivered,
    /// Dropped while the sink waits for a keyframe (or for room).
    Dropped,
    /// The ring just filled up: the sink now waits for the next keyframe, which should be asked for.
    Overflowed,
}

/// The owner's side of a sink port, with the sink's delivery state.
pub struct SinkEnd {
    events: Producer<SinkEvent>,
    shared: Arc<SinkShared>,
    capacity: usize,
    /// Tracks not delivered yet: they go before any unit of their epoch.
    tracks_due: Option<(u32, Arc<[TrackDesc]>)>,
    /// Video waits for a keyframe (a new sink, a new source, or after an overflow).
    wait_video_keyframe: bool,
    /// After an overflow everything waits (audio too, so audio and video restart together).
    resync: bool,
    /// Units dropped since the last `Gap`.
    gap: u64,
    /// Events pushed since the adapter was last woken.
    unwoken: bool,
}

impl SinkEnd {
    /// The stream has (new) tracks: they are delivered before its next unit.
    pub(crate) fn set_tracks(&mut self, epoch: u32, tracks: Arc<[TrackDesc]>) {
        self.tracks_due = Some((epoch, tracks));
        self.wait_video_keyframe = true;
        self.flush_tracks();
    }

    fn flush_tracks(&mut self) -> bool {
        let Some((epoch, tracks)) = self.tracks_due.take() else { return true };
        match self.events.push(SinkEvent::Tracks { epoch, tracks }) {
            Ok(()) => {
                self.unwoken = true;
                true
            }
            Err(rtrb::PushError::Full(SinkEvent::Tracks { epoch, tracks })) => {
                self.tracks_due = Some((epoch, tracks));
                false
            }
            Err(_) => false,
        }
    }

    /// Offers a unit. `video` says whether the unit's track is video, `has_video` whether the
    /// stream has a video track (an audio-only sink resynchronises when half its ring is free).
    pub(crate) fn offer(&mut self, unit: &MediaUnit, video: bool, has_video: bool) -> Offered {
        if self.resync {
            let restart = if has_video { video && unit.keyframe } else { self.events.slots() >= self.capacity / 2 };
            // Room for a pending `Tracks`, the `Gap` and the unit itself.
            if !restart || self.events.slots() < 3 {
                return self.drop_unit();
            }
            self.resync = false;
            self.wait_video_keyframe = false;
            if !self.flush_tracks() {
                return self.overflow();
            }
            let dropped = std::mem::take(&mut self.gap);
            if self.events.push(SinkEvent::Gap { dropped }).is_err() {
                return self.overflow();
            }
        } else if !self.flush_tracks() {
            return self.overflow();
        } else if video && self.wait_video_keyframe {
            if !unit.keyframe {
                return Offered::Dropped; // not counted: nothing was lost, the sink starts clean
            }
            self.wait_video_keyframe = false;
        }
        match self.events.push(SinkEvent::Unit(unit.clone())) {
            Ok(()) => {
                self.unwoken = true;
                Offered::Delivered
            }
            Err(_) => self.overflow(),
        }
    }

    fn drop_unit(&mut self) -> Offered {
        self.gap += 1;
        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        Offered::Dropped
    }

    fn overflow(&mut self) -> Offered {
        self.resync = true;
        self.drop_unit();
        Offered::Overflowed
    }

    /// Best effort: a sink that cannot take it learns of the change from the next `Tracks`.
    pub(crate) fn source_left(&mut self) {
        if self.events.push(SinkEvent::SourceLeft).is_ok() {
            self.unwoken = true;
        }
    }

    /// Wakes the adapter if it has events it was not woken for.
    pub(crate) fn wake(&mut self) {
        if std::mem::take(&mut self.unwoken) {
            self.shared.data.notify_one();
        }
    }

    pub(crate) fn end(&mut self) {
        self.shared.ended.store(true, Ordering::Release);
        self.shared.data.notify_one();
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.events.is_abandoned()
    }

    pub(crate) fn take_keyframe_request(&self) -> bool {
        self.shared.keyframe_wanted.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn unwoken(&self) -> bool {
        self.unwoken
    }
}

impl Drop for SinkEnd {
    fn drop(&mut self) {
        self.end();
    }
}

/// A connected sink port pair. `owner` is woken when the adapter drops the port or asks for a
/// keyframe.
pub fn sink_port(capacity: usize, owner: Arc<Notify>) -> (SinkPort, SinkEnd) {
    let capacity = ring_capacity(capacity);
    let (producer, consumer) = RingBuffer::new(capacity);
    let shared = Arc::new(SinkShared {
        data: Notify::new(),
        ended: AtomicBool::new(false),
        keyframe_wanted: AtomicBool::new(false),
        dropped: AtomicU64::new(0),
    });
    (
        SinkPort { events: consumer, shared: shared.clone(), owner },
        SinkEnd {
            events: producer,
            shared,
            capacity,
            tracks_due: None,
            wait_video_keyframe: true,
            resync: false,
            gap: 0,
            unwoken: false,
        },
    )
}
