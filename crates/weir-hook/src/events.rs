//! The lifecycle hooks, driven by the stream core's events (`Directory::subscribe_events`).
//!
//! One task reads the bounded channel and starts a task per hook call (at most
//! `MAX_INFLIGHT` at once; beyond that an event is dropped and counted): a slow backend delays
//! nothing but its own notifications.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use weir_core::{SessionService, StreamKey};
use weir_stream::{Directory, StreamEvent};

use crate::body::{self, Flow};
use crate::{HookKind, Hooks};

impl Hooks {
    /// Starts the consumer of `events` on the current tokio runtime.
    pub fn spawn_events(
        self: &Arc<Self>,
        mut events: mpsc::Receiver<StreamEvent>,
        directory: Arc<Directory>,
        sessions: Arc<dyn SessionService>,
    ) -> tokio::task::JoinHandle<()> {
        let hooks = self.clone();
        let pending: Arc<Mutex<HashSet<StreamKey>>> = Arc::default();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                hooks.dispatch(ev, &directory, &sessions, &pending);
            }
        })
    }

    fn dispatch(
        self: &Arc<Self>,
        ev: StreamEvent,
        directory: &Arc<Directory>,
        sessions: &Arc<dyn SessionService>,
        pending: &Arc<Mutex<HashSet<StreamKey>>>,
    ) {
        let kind = match &ev {
            StreamEvent::SourceUp { .. } | StreamEvent::SourceDown { .. } => HookKind::OnStreamChanged,
            StreamEvent::NoReaders { .. } => HookKind::OnStreamNoneReader,
            StreamEvent::SessionEnded { .. } => HookKind::OnFlowReport,
        };
        if let StreamEvent::SessionEnded { session, .. } = &ev {
            // Forget the params whatever happens next.
            let params = self.take_params(session);
            if !self.is_on(kind) {
                return;
            }
            return self.spawn_call(kind, ev, params, directory, sessions, pending);
        }
        if !self.is_on(kind) {
            return;
        }
        if let StreamEvent::NoReaders { key } = &ev {
            // One timer per stream at a time.
            if !pending.lock().insert(key.clone()) {
                return;
            }
        }
        self.spawn_call(kind, ev, String::new(), directory, sessions, pending);
    }

    fn spawn_call(
        self: &Arc<Self>,
        kind: HookKind,
        ev: StreamEvent,
        params: String,
        directory: &Arc<Directory>,
        sessions: &Arc<dyn SessionService>,
        pending: &Arc<Mutex<HashSet<StreamKey>>>,
    ) {
        let Ok(permit) = self.inflight.clone().try_acquire_owned() else {
            self.events_dropped.fetch_add(1, Ordering::Relaxed);
            if let StreamEvent::NoReaders { key } = &ev {
                pending.lock().remove(key);
            }
            tracing::warn!(hook = kind.name(), "too many hook calls in flight, event dropped");
            return;
        };
        let (hooks, directory, sessions, pending) = (self.clone(), directory.clone(), sessions.clone(), pending.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match ev {
                StreamEvent::SourceUp { key, session, protocol } => {
                    let res = hooks.call(kind, body::on_stream_changed(&key, "", true, Some((&session, protocol)))).await;
                    tracing::debug!(stream = %key, session = %session, ok = res.is_ok(), "on_stream_changed regist=true");
                }
                StreamEvent::SourceDown { key, session } => {
                    let res = hooks.call(kind, body::on_stream_changed(&key, "", false, None)).await;
                    tracing::debug!(stream = %key, session = %session, ok = res.is_ok(), "on_stream_changed regist=false");
                }
                StreamEvent::NoReaders { key } => {
                    tokio::time::sleep(hooks.settings().none_reader_delay).await;
                    pending.lock().remove(&key);
                    hooks.none_reader(&key, &directory, &sessions).await;
                }
                StreamEvent::SessionEnded { key, session, player, bytes, duration, media_peer } => {
                    if bytes < hooks.settings().flow_threshold {
                        return;
                    }
                    let flow = Flow { key, params, session, player, bytes, duration, media_peer };
                    let res = hooks.call(kind, body::on_flow_report(&flow)).await;
                    tracing::debug!(stream = %flow.key, session = %flow.session, ok = res.is_ok(), "on_flow_report");
                }
            }
        });
    }

    /// After the delay: still a source and no sink? Then ask; `close: true` ends the source.
    async fn none_reader(&self, key: &StreamKey, directory: &Directory, sessions: &Arc<dyn SessionService>) {
        let Some(snap) = directory.get(key, Instant::now()) else { return };
        let Some(source) = snap.source_session.filter(|_| snap.sinks.is_empty()) else { return };
        match self.call(HookKind::OnStreamNoneReader, body::on_stream_none_reader(key, "")).await {
            Ok(a) if a.close => {
                // The stream may have gained a player meanwhile; ZLMediaKit closes anyway.
                tracing::info!(stream = %key, session = %source, "on_stream_none_reader: close, ending the publisher");
                if let Err(e) = sessions.delete(&source, None).await {
                    tracing::info!(stream = %key, session = %source, error = %e, "closing the stream's source failed");
                }
            }
            Ok(_) => tracing::debug!(stream = %key, "on_stream_none_reader: keep"),
            Err(e) => tracing::info!(stream = %key, error = %e, "on_stream_none_reader failed; the stream is kept"),
        }
    }
}
