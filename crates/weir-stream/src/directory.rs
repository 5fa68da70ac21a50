//! The read side of the streams: what the management APIs list (`getMediaList`,
//! `/api/v1/streams`, `isMediaOnline`) and what a player waits on (`maxStreamWaitMS`).
//!
//! It is a projection, never a second authority: only the [`Hub`](crate::Hub) writes it, in the
//! same call that changes a stream, so it cannot disagree with the streams for longer than that
//! call. Readers on any thread take a short lock; the media path never touches it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;
use weir_core::StreamKey;

use crate::events::{EventTap, StreamEvent};
use crate::TrackDesc;

/// One stream as the management APIs show it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamSnapshot {
    pub key: StreamKey,
    pub source_session: Option<String>,
    pub source_protocol: Option<&'static str>,
    pub tracks: Vec<TrackDesc>,
    pub sinks: Vec<String>,
    pub total_sinks: u64,
    pub alive_ms: u64,
    pub source_alive_ms: Option<u64>,
    pub orphaned: bool,
}

#[derive(Debug)]
struct Source {
    id: String,
    protocol: &'static str,
    since: Instant,
}

#[derive(Debug)]
struct Entry {
    source: Option<Source>,
    /// The tracks of the live source, or of the last one while orphaned.
    tracks: Vec<TrackDesc>,
    orphaned: bool,
    sinks: HashMap<String, &'static str>,
    created: Instant,
    total_sinks: u64,
}

#[derive(Default)]
pub struct Directory {
    entries: Mutex<BTreeMap<StreamKey, Entry>>,
    /// Woken whenever any source appears; waiters re-check their key. Sources appear rarely
    /// (once per publish), so one shared notifier is simpler than one per key and costs little.
    source_added: Notify,
    /// Lifecycle events for one observer (the hooks); see [`Directory::subscribe_events`].
    events: EventTap,
}

impl Directory {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn snapshot(&self, now: Instant) -> Vec<StreamSnapshot> {
        self.entries.lock().iter().map(|(k, e)| Self::project(k, e, now)).collect()
    }

    pub fn get(&self, key: &StreamKey, now: Instant) -> Option<StreamSnapshot> {
        self.entries.lock().get(key).map(|e| Self::project(key, e, now))
    }

    /// The stream lifecycle events ([`StreamEvent`]), for one subscriber (the first caller; a
    /// later one gets `None`). `capacity` bounds the channel: the engine thread never waits for
    /// the subscriber, a full channel drops events (counted in [`Directory::event_counts`]).
    pub fn subscribe_events(&self, capacity: usize) -> Option<tokio::sync::mpsc::Receiver<StreamEvent>> {
        self.events.subscribe(capacity)
    }

    /// `(sent, dropped)` lifecycle events.
    pub fn event_counts(&self) -> (u64, u64) {
        self.events.counts()
    }

    /// For the engine: a session ended (`on_flow_report`). Free when nobody subscribed.
    pub fn session_ended(&self, ev: impl FnOnce() -> StreamEvent) {
        self.events.emit(ev);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits up to `max_wait` for `key` to have a live source and returns its tracks; `None` on
    /// timeout. An orphaned stream does not count: a new sink waits for the source to return
    /// (the sinks it already has keep their sessions meanwhile).
    pub async fn wait_for_source(&self, key: &StreamKey, max_wait: Duration) -> Option<Vec<TrackDesc>> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            // Register interest before checking, so a claim between check and wait is not lost.
            let notified = self.source_added.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(tracks) = self.live_tracks(key) {
                return Some(tracks);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    fn live_tracks(&self, key: &StreamKey) -> Option<Vec<TrackDesc>> {
        let entries = self.entries.lock();
        let e = entries.get(key)?;
        e.source.is_some().then(|| e.tracks.clone())
    }

    fn project(key: &StreamKey, e: &Entry, now: Instant) -> StreamSnapshot {
        let mut sinks: Vec<String> = e.sinks.keys().cloned().collect();
        sinks.sort();
        StreamSnapshot {
            key: key.clone(),
            source_session: e.source.as_ref().map(|s| s.id.clone()),
            source_protocol: e.source.as_ref().map(|s| s.protocol),
            tracks: e.tracks.clone(),
            sinks,
            total_sinks: e.total_sinks,
            alive_ms: now.saturating_duration_since(e.created).as_millis() as u64,
            source_alive_ms: e.source.as_ref().map(|s| now.saturating_duration_since(s.since).as_millis() as u64),
            orphaned: e.orphaned,
        }
    }

    // Writers: the hub only.

    pub(crate) fn source_set(&self, key: &StreamKey, id: &str, protocol: &'static str, tracks: &[TrackDesc], now: Instant) {
        let mut entries = self.entries.lock();
        let e = entries.entry(key.clone()).or_insert_with(|| Entry {
            source: None,
            tracks: Vec::new(),
            orphaned: false,
            sinks: HashMap::new(),
            created: now,
            total_sinks: 0,
        });
        e.source = Some(Source { id: id.to_owned(), protocol, since: now });
        e.tracks = tracks.to_vec();
        e.orphaned = false;
        let no_sinks = e.sinks.is_empty();
        drop(entries);
        self.source_added.notify_waiters();
        if self.events.active() {
            self.events.emit(|| StreamEvent::SourceUp { key: key.clone(), session: id.to_owned(), protocol });
            if no_sinks {
                self.events.emit(|| StreamEvent::NoReaders { key: key.clone() });
            }
        }
    }

    pub(crate) fn source_left(&self, key: &StreamKey) {
        let left = self.entries.lock().get_mut(key).and_then(|e| {
            e.orphaned = true;
            e.source.take()
        });
        if let Some(s) = left {
            self.events.emit(|| StreamEvent::SourceDown { key: key.clone(), session: s.id });
        }
    }

    pub(crate) fn sink_added(&self, key: &StreamKey, id: &str, protocol: &'static str) {
        if let Some(e) = self.entries.lock().get_mut(key) {
            if e.sinks.insert(id.to_owned(), protocol).is_none() {
                e.total_sinks += 1;
            }
        }
    }

    pub(crate) fn sink_removed(&self, key: &StreamKey, id: &str) {
        let last = self.entries.lock().get_mut(key).is_some_and(|e| e.sinks.remove(id).is_some() && e.sinks.is_empty() && e.source.is_some());
        if last {
            self.events.emit(|| StreamEvent::NoReaders { key: key.clone() });
        }
    }

    pub(crate) fn removed(&self, key: &StreamKey) {
        let gone = self.entries.lock().remove(key).and_then(|e| e.source);
        if let Some(s) = gone {
            self.events.emit(|| StreamEvent::SourceDown { key: key.clone(), session: s.id });
        }
    }
}
