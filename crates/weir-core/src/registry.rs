//! The stream registry: which streams exist, who their source is, who their sinks are.
//!
//! A stream has at most one live source (a WHIP publisher today; RTMP and relays later) and any
//! number of sinks. When its source leaves, the stream may stay *orphaned* for a grace period
//! (`protocol.continue_push_ms`) so that a reconnecting publisher resumes it for existing players.
//! The registry is pure bookkeeping under one short lock; the media path never touches it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;

use crate::{StreamKey, TrackInfo};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("already publishing")]
    AlreadyPublishing,
    #[error("stream not found")]
    NotFound,
}

#[derive(Debug, Clone)]
struct Source {
    session_id: String,
    protocol: &'static str,
    tracks: Vec<TrackInfo>,
    since: Instant,
}

#[derive(Debug)]
struct Entry {
    source: Option<Source>,
    /// Tracks of the last source; kept while orphaned so a resuming publisher can be checked.
    last_tracks: Vec<TrackInfo>,
    orphaned_since: Option<Instant>,
    sinks: HashMap<String, &'static str>,
    created: Instant,
    total_sinks: u64,
}

/// What a successful claim means for existing sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLease {
    /// A previous source left within the grace period and this one takes over its sinks.
    pub resumed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamSnapshot {
    pub key: StreamKey,
    pub source_session: Option<String>,
    pub source_protocol: Option<&'static str>,
    pub tracks: Vec<TrackInfo>,
    pub sinks: Vec<String>,
    pub total_sinks: u64,
    pub alive_ms: u64,
    pub source_alive_ms: Option<u64>,
    pub orphaned: bool,
}

#[derive(Default)]
pub struct Registry {
    streams: Mutex<BTreeMap<StreamKey, Entry>>,
    /// Woken whenever any source appears; waiters re-check their key. Sources appear rarely
    /// (once per publish), so one shared notifier is simpler than one per key and costs little.
    source_added: Notify,
}

impl Registry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Makes `session_id` the source of `key`. Fails if another live source holds it.
    pub fn claim_source(
        &self,
        key: &StreamKey,
        session_id: &str,
        protocol: &'static str,
        tracks: Vec<TrackInfo>,
        now: Instant,
    ) -> Result<SourceLease, RegistryError> {
        let mut streams = self.streams.lock();
        let entry = streams.entry(key.clone()).or_insert_with(|| Entry {
            source: None,
            last_tracks: Vec::new(),
            orphaned_since: None,
            sinks: HashMap::new(),
            created: now,
            total_sinks: 0,
        });
        if let Some(src) = &entry.source {
            if src.session_id != session_id {
                return Err(RegistryError::AlreadyPublishing);
            }
        }
        let resumed = entry.orphaned_since.take().is_some();
        entry.last_tracks = tracks.clone();
        entry.source = Some(Source { session_id: session_id.to_owned(), protocol, tracks, since: now });
        drop(streams);
        self.source_added.notify_waiters();
        Ok(SourceLease { resumed })
    }

    /// The source left. With sinks and a non-zero grace the stream becomes orphaned, otherwise it
    /// is removed. Returns true when the stream still exists (orphaned).
    pub fn release_source(&self, key: &StreamKey, session_id: &str, grace: Duration, now: Instant) -> bool {
        let mut streams = self.streams.lock();
        let Some(entry) = streams.get_mut(key) else { return false };
        if entry.source.as_ref().map(|s| s.session_id.as_str()) != Some(session_id) {
            return entry.source.is_some() || entry.orphaned_since.is_some();
        }
        entry.source = None;
        if !grace.is_zero() && !entry.sinks.is_empty() {
            entry.orphaned_since = Some(now);
            true
        } else {
            streams.remove(key);
            false
        }
    }

    /// Streams orphaned for longer than `grace`: they are removed and returned so their sinks can
    /// be closed.
    pub fn expire_orphans(&self, grace: Duration, now: Instant) -> Vec<StreamKey> {
        let mut streams = self.streams.lock();
        let expired: Vec<StreamKey> = streams
            .iter()
            .filter(|(_, e)| e.orphaned_since.is_some_and(|t| now.duration_since(t) >= grace))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            streams.remove(k);
        }
        expired
    }

    /// The tracks of the live source (or of the last one, while orphaned).
    pub fn source_tracks(&self, key: &StreamKey) -> Option<Vec<TrackInfo>> {
        let streams = self.streams.lock();
        let e = streams.get(key)?;
        match &e.source {
            Some(s) => Some(s.tracks.clone()),
            None if e.orphaned_since.is_some() => Some(e.last_tracks.clone()),
            None => None,
        }
    }

    /// Waits up to `max_wait` for `key` to have a live source, and returns its tracks.
    /// An orphaned stream counts: its players keep their session while the publisher reconnects.
    pub async fn wait_for_source(&self, key: &StreamKey, max_wait: Duration) -> Result<Vec<TrackInfo>, RegistryError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            // Register interest before checking, so a claim between check and wait is not lost.
            let notified = self.source_added.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(tracks) = self.live_tracks(key) {
                return Ok(tracks);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(RegistryError::NotFound);
            }
        }
    }

    fn live_tracks(&self, key: &StreamKey) -> Option<Vec<TrackInfo>> {
        let streams = self.streams.lock();
        streams.get(key).and_then(|e| e.source.as_ref().map(|s| s.tracks.clone()))
    }

    /// Registers a sink. Fails if the stream has neither a source nor is orphaned.
    pub fn add_sink(&self, key: &StreamKey, session_id: &str, protocol: &'static str) -> Result<(), RegistryError> {
        let mut streams = self.streams.lock();
        let entry = streams.get_mut(key).ok_or(RegistryError::NotFound)?;
        if entry.source.is_none() && entry.orphaned_since.is_none() {
            return Err(RegistryError::NotFound);
        }
        if entry.sinks.insert(session_id.to_owned(), protocol).is_none() {
            entry.total_sinks += 1;
        }
        Ok(())
    }

    pub fn remove_sink(&self, key: &StreamKey, session_id: &str) {
        let mut streams = self.streams.lock();
        if let Some(entry) = streams.get_mut(key) {
            entry.sinks.remove(session_id);
            // An orphaned stream nobody watches any more has no reason to wait for its publisher.
            if entry.source.is_none() && entry.sinks.is_empty() {
                streams.remove(key);
            }
        }
    }

    pub fn snapshot(&self, now: Instant) -> Vec<StreamSnapshot> {
        let streams = self.streams.lock();
        streams
            .iter()
            .map(|(k, e)| StreamSnapshot {
                key: k.clone(),
                source_session: e.source.as_ref().map(|s| s.session_id.clone()),
                source_protocol: e.source.as_ref().map(|s| s.protocol),
                tracks: e.source.as_ref().map(|s| s.tracks.clone()).unwrap_or_else(|| e.last_tracks.clone()),
                sinks: {
                    let mut v: Vec<String> = e.sinks.keys().cloned().collect();
                    v.sort();
                    v
                },
                total_sinks: e.total_sinks,
                alive_ms: now.duration_since(e.created).as_millis() as u64,
                source_alive_ms: e.source.as_ref().map(|s| now.duration_since(s.since).as_millis() as u64),
                orphaned: e.orphaned_since.is_some(),
            })
            .collect()
    }

    pub fn get(&self, key: &StreamKey, now: Instant) -> Option<StreamSnapshot> {
        self.snapshot(now).into_iter().find(|s| &s.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MediaKindTag;

    fn key(s: &str) -> StreamKey {
        StreamKey::default_vhost("live", s).unwrap()
    }
    fn h264() -> Vec<TrackInfo> {
        vec![TrackInfo {
            kind: MediaKindTag::Video,
            codec: "H264".into(),
            clock_rate: 90_000,
            channels: None,
            fmtp: "packetization-mode=1".into(),
        }]
    }

    #[test]
    fn second_publisher_is_refused_while_first_is_live() {
        let r = Registry::new();
        let now = Instant::now();
        assert_eq!(r.claim_source(&key("a"), "s1", "whip", h264(), now), Ok(SourceLease { resumed: false }));
        assert_eq!(r.claim_source(&key("a"), "s2", "whip", h264(), now), Err(RegistryError::AlreadyPublishing));
        // Other streams are unaffected.
        assert!(r.claim_source(&key("b"), "s2", "whip", h264(), now).is_ok());
    }

    #[test]
    fn publisher_leaving_without_sinks_removes_stream() {
        let r = Registry::new();
        let now = Instant::now();
        r.claim_source(&key("a"), "s1", "whip", h264(), now).unwrap();
        assert!(!r.release_source(&key("a"), "s1", Duration::from_secs(15), now));
        assert!(r.snapshot(now).is_empty());
        assert_eq!(r.add_sink(&key("a"), "p1", "whep"), Err(RegistryError::NotFound));
    }

    #[test]
    fn reconnect_within_grace_resumes_for_sinks() {
        let r = Registry::new();
        let t0 = Instant::now();
        r.claim_source(&key("a"), "s1", "whip", h264(), t0).unwrap();
        r.add_sink(&key("a"), "p1", "whep").unwrap();
        assert!(r.release_source(&key("a"), "s1", Duration::from_secs(15), t0));
        assert!(r.snapshot(t0)[0].orphaned);
        // The orphaned stream still has its tracks for the sink's sake.
        assert_eq!(r.source_tracks(&key("a")), Some(h264()));
        let lease = r.claim_source(&key("a"), "s2", "whip", h264(), t0 + Duration::from_secs(3)).unwrap();
        assert!(lease.resumed);
        assert_eq!(r.snapshot(t0)[0].sinks, vec!["p1".to_string()]);
    }

    #[test]
    fn orphans_expire_after_grace() {
        let r = Registry::new();
        let t0 = Instant::now();
        r.claim_source(&key("a"), "s1", "whip", h264(), t0).unwrap();
        r.add_sink(&key("a"), "p1", "whep").unwrap();
        r.release_source(&key("a"), "s1", Duration::from_secs(15), t0);
        assert!(r.expire_orphans(Duration::from_secs(15), t0 + Duration::from_secs(14)).is_empty());
        assert_eq!(r.expire_orphans(Duration::from_secs(15), t0 + Duration::from_secs(15)), vec![key("a")]);
        assert!(r.snapshot(t0).is_empty());
    }

    #[test]
    fn stale_release_by_old_source_does_not_evict_new_one() {
        let r = Registry::new();
        let t0 = Instant::now();
        r.claim_source(&key("a"), "s1", "whip", h264(), t0).unwrap();
        r.add_sink(&key("a"), "p1", "whep").unwrap();
        r.release_source(&key("a"), "s1", Duration::from_secs(15), t0);
        r.claim_source(&key("a"), "s2", "whip", h264(), t0).unwrap();
        assert!(r.release_source(&key("a"), "s1", Duration::from_secs(15), t0));
        assert_eq!(r.snapshot(t0)[0].source_session.as_deref(), Some("s2"));
    }

    #[tokio::test]
    async fn waiting_player_wakes_when_source_arrives() {
        let r = Registry::new();
        let r2 = r.clone();
        let waiter = tokio::spawn(async move { r2.wait_for_source(&key("a"), Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        r.claim_source(&key("a"), "s1", "whip", h264(), Instant::now()).unwrap();
        assert_eq!(waiter.await.unwrap(), Ok(h264()));
    }

    #[tokio::test]
    async fn waiting_player_times_out() {
        let r = Registry::new();
        let res = r.wait_for_source(&key("a"), Duration::from_millis(30)).await;
        assert_eq!(res, Err(RegistryError::NotFound));
    }
}
