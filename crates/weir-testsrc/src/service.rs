//! Test sources by stream, for the management API (`/api/v1/testsrc/...`): start a pattern
//! source on a stream, stop it, list them; and a one-shot probe of any stream. Both go through
//! [`StreamService`] only: this crate knows the stream core, not the engine or any protocol.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::oneshot;
use tracing::info;
use weir_core::StreamKey;
use weir_stream::{PublishRequest, StreamError, StreamService, SubscribeRequest, TrackDesc};

use crate::probe::{run_probe, ProbeReport};
use crate::source::{run_pattern, PatternConfig, PatternStream};

/// Most test sources running at once: each costs a task and a few hundred kbit/s.
pub const MAX_TEST_SOURCES: usize = 64;
/// Longest a probe may read a stream.
pub const MAX_PROBE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum TestSourceError {
    #[error("bad pattern parameters: {0}")]
    BadConfig(String),
    #[error("{MAX_TEST_SOURCES} test sources are running already")]
    TooMany,
    #[error(transparent)]
    Stream(#[from] StreamError),
}

#[derive(Debug, Clone, Serialize)]
pub struct TestSourceInfo {
    pub id: String,
    pub stream: StreamKey,
    pub config: PatternConfig,
    pub tracks: Vec<TrackDesc>,
    pub age_ms: u64,
}

struct Running {
    id: String,
    config: PatternConfig,
    tracks: Vec<TrackDesc>,
    started: Instant,
    stop: oneshot::Sender<()>,
}

pub struct TestSources {
    streams: Arc<dyn StreamService>,
    running: Arc<Mutex<HashMap<StreamKey, Running>>>,
}

impl TestSources {
    pub fn new(streams: Arc<dyn StreamService>) -> Self {
        TestSources { streams, running: Arc::default() }
    }

    /// Starts a pattern source as the source of `key` (refused while the stream has another).
    pub async fn start(&self, key: StreamKey, config: PatternConfig) -> Result<TestSourceInfo, TestSourceError> {
        let pattern = PatternStream::new(config).map_err(|e| TestSourceError::BadConfig(e.to_string()))?;
        if self.running.lock().len() >= MAX_TEST_SOURCES {
            return Err(TestSourceError::TooMany);
        }
        let tracks = pattern.tracks();
        let (port, published) = self.streams.publish(PublishRequest::new(key.clone(), "testsrc", tracks.clone())).await?;
        let (stop, stopped) = oneshot::channel();
        let running = Running { id: published.id.clone(), config, tracks: tracks.clone(), started: Instant::now(), stop };
        if let Some(old) = self.running.lock().insert(key.clone(), running) {
            // A source of ours whose port the stream had already closed: it is ending anyway.
            let _ = old.stop.send(());
        }
        info!(stream = %key, source = %published.id, ?config, "test pattern started");
        let (table, id, stream) = (self.running.clone(), published.id.clone(), key.clone());
        tokio::spawn(async move {
            let stats = run_pattern(port, pattern, stopped).await;
            info!(stream = %stream, source = %id, ?stats, "test pattern stopped");
            let mut table = table.lock();
            if table.get(&stream).is_some_and(|r| r.id == id) {
                table.remove(&stream);
            }
        });
        Ok(TestSourceInfo { id: published.id, stream: key, config, tracks, age_ms: 0 })
    }

    /// Stops the pattern source of `key`; false when there is none.
    pub fn stop(&self, key: &StreamKey) -> bool {
        match self.running.lock().remove(key) {
            Some(r) => {
                let _ = r.stop.send(());
                true
            }
            None => false,
        }
    }

    pub fn list(&self) -> Vec<TestSourceInfo> {
        let now = Instant::now();
        let mut list: Vec<TestSourceInfo> = (self.running.lock().iter())
            .map(|(k, r)| TestSourceInfo {
                id: r.id.clone(),
                stream: k.clone(),
                config: r.config,
                tracks: r.tracks.clone(),
                age_ms: now.saturating_duration_since(r.started).as_millis() as u64,
            })
            .collect();
        list.sort_by(|a, b| a.stream.cmp(&b.stream));
        list
    }

    /// Reads `key` for `duration` (at most [`MAX_PROBE`]), waiting up to `max_wait` for a
    /// source, and reports what it delivered.
    pub async fn probe(&self, key: StreamKey, duration: Duration, max_wait: Duration) -> Result<ProbeReport, StreamError> {
        let req = SubscribeRequest { max_wait, ..SubscribeRequest::new(key, "probe") };
        let port = self.streams.subscribe(req).await?;
        Ok(run_probe(port, duration.min(MAX_PROBE)).await)
    }
}
