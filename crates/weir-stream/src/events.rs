//! Stream lifecycle events for observers off the engine thread (the web hooks in weir-http).
//!
//! The [`Directory`](crate::Directory) emits them in the same call that changes a stream, on the
//! engine thread; emitting never waits: the channel is bounded and a full channel drops the event
//! (counted, `EventTap::dropped`). Nothing is built or sent while nobody subscribed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::mpsc;
use weir_core::StreamKey;

/// What happened to a stream or one of its sessions.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A source claimed the stream (a new publish, or a publisher back within `continue_push_ms`).
    SourceUp { key: StreamKey, session: String, protocol: &'static str },
    /// The stream's source left (the stream may stay orphaned for `continue_push_ms`).
    SourceDown { key: StreamKey, session: String },
    /// The stream has a source and no sink: it just lost its last one, or its source came up
    /// without any.
    NoReaders { key: StreamKey },
    /// A publishing or playing session ended (emitted by the engine that owned it).
    SessionEnded {
        key: StreamKey,
        session: String,
        player: bool,
        /// Bytes received plus bytes sent on the session's transport.
        bytes: u64,
        duration: Duration,
        /// The media address (the last one the session used), if any.
        media_peer: Option<SocketAddr>,
    },
}

/// The sending half, inside the directory.
#[derive(Default)]
pub(crate) struct EventTap {
    tx: OnceLock<mpsc::Sender<StreamEvent>>,
    sent: AtomicU64,
    dropped: AtomicU64,
}

impl EventTap {
    pub(crate) fn subscribe(&self, capacity: usize) -> Option<mpsc::Receiver<StreamEvent>> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.tx.set(tx).ok()?;
        Some(rx)
    }

    pub(crate) fn active(&self) -> bool {
        self.tx.get().is_some_and(|tx| !tx.is_closed())
    }

    /// Never blocks: `try_send`; a full or closed channel drops the event.
    pub(crate) fn emit(&self, ev: impl FnOnce() -> StreamEvent) {
        let Some(tx) = self.tx.get() else { return };
        match tx.try_send(ev()) {
            Ok(()) => {
                self.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.sent.load(Ordering::Relaxed), self.dropped.load(Ordering::Relaxed))
    }
}
