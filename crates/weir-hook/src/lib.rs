//! Web hooks as ZLMediaKit sends them (spec §A14): `POST <url>` with a JSON body, the answer
//! judged by [`parse_answer`].
//!
//! - [`Hooks::on_publish`] / [`Hooks::on_play`] are awaited by the signaling request that asks
//!   (only that request waits); a refusal *or a failure after the retries* denies, as in
//!   ZLMediaKit.
//! - [`Hooks::on_stream_not_found`] is awaited by the player before it waits for the stream;
//!   `close: true` fails it at once, anything else (also a failure) lets it wait.
//! - The lifecycle hooks (`on_stream_changed`, `on_stream_none_reader`, `on_flow_report`) are
//!   driven by the stream core's [`StreamEvent`]s ([`Hooks::spawn_events`]); the engine only
//!   `try_send`s them into a bounded channel and never waits for a hook.
//!
//! Every call is a task of its own on the tokio runtime; no lock is held across an await.

mod answer;
pub mod body;
mod events;
mod stats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use serde_json::{json, Map, Value};
use weir_config::Config;
use weir_core::StreamKey;

pub use answer::{parse_answer, HookAnswer, HookError, MAX_ANSWER_BYTES};
pub use body::{Flow, Requester};
pub use stats::HookKind;
use stats::Stats;

/// `[hook]` and the `[general]` keys the hooks use, checked.
#[derive(Debug, Clone)]
pub struct HookSettings {
    /// `hook.enable`: off, no hook is called whatever its URL.
    pub enabled: bool,
    pub media_server_id: String,
    /// The URL of each hook, by [`HookKind`] (empty: that hook is off).
    urls: [String; HookKind::ALL.len()],
    pub timeout: Duration,
    pub retry: u32,
    pub retry_delay: Duration,
    pub none_reader_delay: Duration,
    /// `flowThreshold` in bytes.
    pub flow_threshold: u64,
}

impl HookSettings {
    /// The settings of `c`, also when `hook.enable=0` (then [`HookSettings::enabled`] is false),
    /// so that `setServerConfig` can turn hooks on and off while the server runs.
    pub fn from_config(c: &Config) -> HookSettings {
        let h = &c.hook;
        HookSettings {
            enabled: h.enable,
            media_server_id: c.general.media_server_id.clone(),
            urls: HookKind::ALL.map(|kind| {
                match kind {
                    HookKind::OnPublish => &h.on_publish,
                    HookKind::OnPlay => &h.on_play,
                    HookKind::OnStreamNotFound => &h.on_stream_not_found,
                    HookKind::OnStreamNoneReader => &h.on_stream_none_reader,
                    HookKind::OnStreamChanged => &h.on_stream_changed,
                    HookKind::OnFlowReport => &h.on_flow_report,
                }
                .clone()
            }),
            timeout: Duration::from_secs(h.timeout_sec.max(1)),
            retry: h.retry,
            retry_delay: Duration::from_secs_f64(h.retry_delay.clamp(0.0, 86_400.0)),
            none_reader_delay: Duration::from_millis(c.general.stream_none_reader_delay_ms),
            flow_threshold: c.general.flow_threshold.saturating_mul(1024),
        }
    }

    /// The URL of `kind` (empty when that hook is off).
    fn url(&self, kind: HookKind) -> &str {
        &self.urls[kind.index()]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("hook HTTP client: {0}")]
    Client(String),
}

/// What a session was created with, kept until it ends (for `on_flow_report`'s `params`).
const MAX_REMEMBERED: usize = 100_000;

pub struct Hooks {
    /// Swapped whole by [`Hooks::update`]; every call reads it once at its start.
    cfg: ArcSwap<HookSettings>,
    client: reqwest::Client,
    index: AtomicU64,
    stats: Stats,
    /// Session id -> its request's params, for `on_flow_report` (bounded).
    params: Mutex<HashMap<String, String>>,
    /// Lifecycle hook calls in flight, bounded (`spawn_events`).
    inflight: Arc<tokio::sync::Semaphore>,
    events_dropped: AtomicU64,
}

/// Lifecycle hook calls in flight at once; further events are dropped (counted).
const MAX_INFLIGHT: usize = 256;

impl Hooks {
    pub fn new(cfg: HookSettings) -> Result<Arc<Hooks>, SetupError> {
        // No client-wide timeout: `timeoutSec` can change live, so each request sets its own
        // (covering connect, send and the answer's body).
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SetupError::Client(e.to_string()))?;
        Ok(Arc::new(Hooks {
            cfg: ArcSwap::from_pointee(cfg),
            client,
            index: AtomicU64::new(0),
            stats: Stats::default(),
            params: Mutex::new(HashMap::new()),
            inflight: Arc::new(tokio::sync::Semaphore::new(MAX_INFLIGHT)),
            events_dropped: AtomicU64::new(0),
        }))
    }

    /// Lifecycle hook calls under way now.
    pub fn in_flight(&self) -> usize {
        MAX_INFLIGHT - self.inflight.available_permits()
    }

    pub fn settings(&self) -> Arc<HookSettings> {
        self.cfg.load_full()
    }

    /// New settings for every call that starts from now on (calls under way finish with the
    /// settings they started with).
    pub fn update(&self, cfg: HookSettings) {
        self.cfg.store(Arc::new(cfg));
    }

    /// Whether hooks are enabled and that hook has a URL.
    pub fn is_on(&self, kind: HookKind) -> bool {
        let cfg = self.cfg.load();
        cfg.enabled && !cfg.url(kind).is_empty()
    }

    /// `Ok` allows. `Err` is the text for the refusal (a `code != 0` answer, or a hook that
    /// failed after its retries).
    pub async fn on_publish(&self, r: &Requester) -> Result<HookAnswer, HookError> {
        self.authorize(HookKind::OnPublish, r, body::on_publish(r)).await
    }

    pub async fn on_play(&self, r: &Requester) -> Result<HookAnswer, HookError> {
        self.authorize(HookKind::OnPlay, r, body::on_play(r)).await
    }

    async fn authorize(&self, kind: HookKind, r: &Requester, body: Map<String, Value>) -> Result<HookAnswer, HookError> {
        if !self.is_on(kind) {
            return Ok(HookAnswer::default());
        }
        let res = self.call(kind, body).await;
        match &res {
            Ok(a) if !a.options.is_empty() => {
                tracing::debug!(stream = %r.key, id = %r.id, hook = kind.name(), options = ?a.options, "hook options are not applied by Weir")
            }
            Ok(_) => {}
            Err(e) => tracing::info!(stream = %r.key, id = %r.id, hook = kind.name(), error = %e, "hook denied"),
        }
        res
    }

    /// `true`: the backend answered `close: true`, the player fails at once.
    pub async fn on_stream_not_found(&self, r: &Requester) -> bool {
        if !self.is_on(HookKind::OnStreamNotFound) {
            return false;
        }
        match self.call(HookKind::OnStreamNotFound, body::on_stream_not_found(r)).await {
            Ok(a) => a.close,
            Err(e) => {
                tracing::info!(stream = %r.key, id = %r.id, error = %e, "on_stream_not_found failed; the player waits");
                false
            }
        }
    }

    /// Remembers a created session's params for its `on_flow_report`.
    pub fn session_created(&self, session: &str, params: &str) {
        if !self.is_on(HookKind::OnFlowReport) {
            return;
        }
        let mut m = self.params.lock();
        if m.len() < MAX_REMEMBERED {
            m.insert(session.to_owned(), params.to_owned());
        }
    }

    fn take_params(&self, session: &str) -> String {
        self.params.lock().remove(session).unwrap_or_default()
    }

    /// One hook: POST, then up to `retry` more attempts after `retry_delay` when it failed in
    /// transport (network, status, JSON); a `code != 0` answer is final.
    pub async fn call(&self, kind: HookKind, mut body: Map<String, Value>) -> Result<HookAnswer, HookError> {
        let cfg = self.cfg.load_full();
        let url = cfg.url(kind);
        if !cfg.enabled || url.is_empty() {
            // Turned off after the caller looked: nothing to ask, as if it had been off.
            return Ok(HookAnswer::default());
        }
        body.insert("mediaServerId".into(), json!(cfg.media_server_id));
        body.insert("hook_index".into(), json!(self.index.fetch_add(1, Ordering::Relaxed)));
        let vhost = body.get("vhost").and_then(Value::as_str).map(str::to_owned);
        let payload = Value::Object(body).to_string();
        let t0 = Instant::now();
        let mut attempt = 0;
        let res = loop {
            let res = self.post_once(url, cfg.timeout, vhost.as_deref(), &payload).await;
            match res {
                Err(e) if e.retryable() && attempt < cfg.retry => {
                    attempt += 1;
                    tracing::debug!(hook = kind.name(), url = %url, attempt, error = %e, "hook failed, retrying");
                    tokio::time::sleep(cfg.retry_delay).await;
                }
                other => break other,
            }
        };
        self.stats.record(kind, &res, t0.elapsed());
        res
    }

    async fn post_once(&self, url: &str, timeout: Duration, vhost: Option<&str>, payload: &str) -> Result<HookAnswer, HookError> {
        let mut req = self
            .client
            .post(url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(payload.to_owned());
        if let Some(v) = vhost {
            req = req.header("X-VHOST", v);
        }
        let mut resp = req.send().await.map_err(|e| HookError::Network(network_text(&e)))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(HookError::Status(status));
        }
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| HookError::Network(network_text(&e)))? {
            if buf.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(HookError::TooLarge(MAX_ANSWER_BYTES));
            }
            buf.extend_from_slice(&chunk);
        }
        parse_answer(status, &buf)
    }

    /// Counters per hook for `/api/v1/server`.
    pub fn stats_json(&self) -> Value {
        let mut v = self.stats.json();
        if let Value::Object(m) = &mut v {
            m.insert("events_dropped".into(), json!(self.events_dropped.load(Ordering::Relaxed)));
        }
        v
    }
}

fn network_text(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "request"
    };
    let mut s = format!("{kind}: {e}");
    s.truncate(300);
    s
}

/// For the HTTP layer: who asked, from a signaling request.
pub fn requester(key: &StreamKey, params: &str, peer: Option<SocketAddr>, id: String) -> Requester {
    Requester { key: key.clone(), params: params.to_owned(), peer, id }
}
