//! Weir's HTTP front: WebRTC signaling in three dialects, the management API and demo pages.
//!
//! | Route | Methods | Dialect |
//! |---|---|---|
//! | `/whip/{app}/{*stream}` | POST, OPTIONS | RFC 9725 WHIP (publish) |
//! | `/whep/{app}/{*stream}` | POST, OPTIONS | RFC 9725 WHEP (play) |
//! | `/session/{id}/{token}` | DELETE, PATCH, OPTIONS (GET → 405) | RFC 9725 session resource |
//! | `/index/api/webrtc` | any | ZLMediaKit offer/answer (JSON) |
//! | `/index/api/whip`, `/index/api/whep` | any (POST) | ZLMediaKit WHIP/WHEP |
//! | `/index/api/delete_webrtc` | DELETE | ZLMediaKit teardown |
//! | `/index/api/getMediaList`, `/index/api/isMediaOnline` | any | ZLMediaKit management (secret) |
//! | `/index/api/listWebrtcRooms` | any | ZLMediaKit P2P signaling rooms (secret) |
//! | `/rtc/v1/whip/`, `/rtc/v1/whep/`, `/rtc/v1/whip-play/` (± trailing `/`) | POST, DELETE | SRS WHIP/WHEP |
//! | `/rtc/v1/publish/`, `/rtc/v1/play/` (± trailing `/`) | POST | SRS JSON API |
//! | `/api/v1/sessions`, `/api/v1/sessions/{id}`, `/api/v1/streams`, `/api/v1/server` | GET | Weir stats (secret) |
//! | `/api/v1/testsrc[/{app}/{*stream}]`, `/api/v1/probe/{app}/{*stream}` | GET, POST, DELETE | test pattern source, stream probe (secret) |
//! | `/`, `/demo/publish.html`, `/demo/play.html`, `/demo/call.html`, `/demo/style.css`, `/demo/demo.js`, `/favicon.ico` | GET | demo pages |
//!
//! `/index/api/*` names match case-insensitively, as in ZLMediaKit. `OPTIONS` is answered for
//! every path (CORS preflight).

// Handler helpers return a ready-made `Response` as their error; its size does not matter here.
#![allow(clippy::result_large_err)]

pub mod candidates;
pub mod prometheus;

mod api;
mod demo;
mod srs;
mod streams_api;
mod util;
mod whip;
mod zlm;
mod zlm_admin;
mod zlm_config;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get, post};
use axum::Router;
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use weir_config::Config;
use weir_core::{SessionAnswer, SessionError, SessionKind, SessionRequest, SessionService};
use weir_stream::{Directory, StreamService};

use crate::candidates::{CandidateInput, CandidateOverride};

/// Everything the HTTP front needs. The binary builds it and serves [`router`].
pub struct HttpState {
    pub sessions: Arc<dyn SessionService>,
    /// The streams as the media engine's hub publishes them.
    pub directory: Arc<Directory>,
    /// Where the stream tools (test source, probe) publish and subscribe; `None`: they answer 501.
    pub streams: Option<Arc<dyn StreamService>>,
    pub config: Arc<Config>,
    /// Ready-made `Link` header values for ICE servers (RFC 9725 section 4.6); may be empty.
    pub ice_servers: IceServers,
    /// When the server started (uptime in `/api/v1/server`).
    pub started: Instant,
    /// Rooms of the P2P signaling server (`/index/api/listWebrtcRooms`); `None`: no signaling
    /// server, the list is empty.
    pub rooms: Option<Arc<dyn weir_core::RoomDirectory>>,
    /// Run at every `/metrics` scrape to copy counters of parts this crate does not know (the
    /// binary's TURN server) into the recorder.
    pub metrics_refresh: Option<prometheus::MetricsRefresh>,
    /// The configuration file the server was started with: `setServerConfig` saves its changes
    /// there (only the changed keys' lines; comments stay). `None`: changes last until restart.
    pub config_file: Option<std::path::PathBuf>,
}

/// Produces the `Link: rel="ice-server"` values for one answer. A function rather than a list so
/// that time-limited TURN credentials (TURN REST API) can be minted per answer.
pub type IceServers = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// Fixed `Link` values (or none).
pub fn static_ice_servers(links: Vec<String>) -> IceServers {
    Arc::new(move || links.clone())
}

/// Shared state of the handlers.
pub(crate) struct Inner {
    pub(crate) st: HttpState,
    /// The configuration as it is now (`st.config` is the one the server started with):
    /// `setServerConfig` swaps it whole, each request loads it once.
    live: ArcSwap<LiveConfig>,
    /// ICE generation per session (1 unless restarted through PATCH); the ETag is derived from it.
    etags: Mutex<HashMap<String, u32>>,
    /// Test pattern sources started through the API, and the probe (`streams_api.rs`).
    pub(crate) test_sources: Option<weir_testsrc::TestSources>,
    /// Web hooks (on or off per `hook.enable`, which can change live); `None` only when their
    /// HTTP client could not be built.
    pub(crate) hooks: Option<Arc<weir_hook::Hooks>>,
    /// The restart the admin API asked for (`restartServer`); the binary waits on it.
    pub(crate) restart: Arc<zlm_config::RestartSignal>,
    /// Serialises `setServerConfig` calls (read, change, swap, save).
    pub(crate) config_writer: tokio::sync::Mutex<()>,
    /// Numbers the signaling requests for the hooks' `id`.
    request_seq: AtomicU64,
    /// `getThreadsLoad`: the engine's busy time at the previous call, so the load covers the
    /// time between calls (the first call: since start).
    pub(crate) load_sample: Mutex<Option<(Instant, u64)>>,
}

/// Stream events buffered between the engine and the hook tasks; more are dropped (counted).
const HOOK_EVENT_QUEUE: usize = 4096;

pub(crate) type Shared = Arc<Inner>;

/// Bounds the ETag map: beyond this many restarted sessions, entries of ended sessions are pruned.
const ETAG_PRUNE_AT: usize = 4096;

/// The configuration in force and what is derived from it, swapped together.
pub(crate) struct LiveConfig {
    pub(crate) config: Arc<Config>,
    /// `http.allow_ip_range`, parsed once per configuration (validated when it was loaded or
    /// changed); empty allows every address.
    pub(crate) allow: Vec<weir_core::net::IpRange>,
}

impl LiveConfig {
    fn new(config: Arc<Config>) -> LiveConfig {
        LiveConfig { allow: config.http.allow_ip_ranges(), config }
    }
}

impl Inner {
    /// The configuration in force now (a reference count, no lock).
    pub(crate) fn cfg(&self) -> Arc<Config> {
        self.live.load().config.clone()
    }

    pub(crate) fn live(&self) -> arc_swap::Guard<Arc<LiveConfig>> {
        self.live.load()
    }

    /// Puts `config` in force for every request from now on, and the hooks' settings with it.
    pub(crate) fn set_config(&self, config: Config) {
        let config = Arc::new(config);
        if let Some(h) = &self.hooks {
            h.update(weir_hook::HookSettings::from_config(&config));
        }
        self.live.store(Arc::new(LiveConfig::new(config)));
    }

    pub(crate) fn etag(&self, id: &str) -> String {
        let generation = self.etags.lock().get(id).copied().unwrap_or(1);
        make_etag(id, generation)
    }

    /// Records an ICE restart and returns the new ETag.
    pub(crate) async fn bump_etag(&self, id: &str) -> String {
        let (generation, len) = {
            let mut map = self.etags.lock();
            let g = map.entry(id.to_owned()).or_insert(1);
            *g += 1;
            (*g, map.len())
        };
        if len > ETAG_PRUNE_AT {
            let live: std::collections::HashSet<String> = self.st.sessions.list().await.into_iter().map(|s| s.id).collect();
            self.etags.lock().retain(|k, _| live.contains(k) || k == id);
        }
        make_etag(id, generation)
    }

    pub(crate) fn forget_etag(&self, id: &str) {
        self.etags.lock().remove(id);
    }

    /// `Link` headers advertising the ICE servers.
    pub(crate) fn add_ice_links(&self, headers: &mut HeaderMap) {
        for v in (self.st.ice_servers)() {
            match HeaderValue::from_str(&v) {
                Ok(h) => {
                    headers.append(header::LINK, h);
                }
                Err(_) => tracing::warn!(value = %v, "ICE server Link header value is not a valid header, skipped"),
            }
        }
    }

    /// Asks the hooks (`on_publish` / `on_play`, `on_stream_not_found`), then the engine for a
    /// session, and logs the outcome. Only this request waits for its hooks; nothing is locked
    /// across the awaits.
    pub(crate) async fn create_session(&self, mut req: SessionRequest) -> Result<SessionAnswer, SessionError> {
        let key = req.key.clone();
        let (kind, protocol, peer) = (req.kind, req.protocol, req.peer);
        let t0 = Instant::now();
        if let Some(hooks) = &self.hooks {
            let id = format!("http-{}", self.request_seq.fetch_add(1, Ordering::Relaxed));
            let who = weir_hook::requester(&key, &req.params, peer, id);
            let verdict = match kind {
                SessionKind::Publish => Some(hooks.on_publish(&who).await),
                SessionKind::Play => Some(hooks.on_play(&who).await),
                SessionKind::Echo => None,
            };
            if let Some(Err(e)) = verdict {
                let ms = t0.elapsed().as_millis() as u64;
                tracing::warn!(stream = %key, ?kind, protocol, ?peer, ms, error = %e, "session refused by hook");
                return Err(SessionError::Denied(e.to_string()));
            }
            if kind == SessionKind::Play
                && hooks.is_on(weir_hook::HookKind::OnStreamNotFound)
                && self.st.directory.get(&key, Instant::now()).is_none_or(|s| s.source_session.is_none())
            {
                let asked = Instant::now();
                if hooks.on_stream_not_found(&who).await {
                    tracing::info!(stream = %key, ?kind, protocol, ?peer, "on_stream_not_found: close");
                    return Err(SessionError::StreamNotFound);
                }
                // The wait for the stream counts from the request, as in ZLMediaKit.
                req.max_wait = req.max_wait.saturating_sub(asked.elapsed());
            }
        }
        let params = self.hooks.as_ref().map(|_| req.params.clone());
        let res = self.st.sessions.create(req).await;
        let ms = t0.elapsed().as_millis() as u64;
        match &res {
            Ok(a) => {
                tracing::info!(stream = %key, session = %a.id, ?kind, protocol, ?peer, ms, "session created");
                if let (Some(h), Some(p)) = (&self.hooks, params) {
                    h.session_created(&a.id, &p);
                }
            }
            Err(e) => tracing::warn!(stream = %key, ?kind, protocol, ?peer, ms, error = %e, "session refused"),
        }
        res
    }

    pub(crate) fn hooks_json(&self) -> serde_json::Value {
        let (sent, dropped) = self.st.directory.event_counts();
        let mut v = match &self.hooks {
            Some(h) => h.stats_json(),
            None => serde_json::json!({}),
        };
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("enabled".into(), self.hooks.as_ref().is_some_and(|h| h.settings().enabled).into());
            m.insert("events_sent".into(), sent.into());
            m.insert("stream_events_dropped".into(), dropped.into());
        }
        v
    }

    /// The candidate plan for a request, using the live interface list and environment.
    pub(crate) fn candidates(&self, host: Option<&str>, request_override: &CandidateOverride) -> weir_core::CandidatePlan {
        let rtc = &self.cfg().rtc;
        let ifs = if needs_interfaces(&rtc.extern_ip, host, request_override) {
            candidates::interface_addrs()
        } else {
            Vec::new()
        };
        // `[rtc] protocol` decides which transports are offered at all (SRS rtc_server.protocol).
        let input = CandidateInput {
            udp_port: if rtc.protocol.udp() { rtc.port } else { 0 },
            tcp_port: if rtc.protocol.tcp() { rtc.tcp_port } else { 0 },
            extern_ip: &rtc.extern_ip,
            request_override,
            host_header: host,
            interfaces: &ifs,
        };
        candidates::plan(&input, &candidates::env_lookup)
    }

    /// How long a session of this kind waits for its stream.
    pub(crate) fn max_wait(&self, kind: SessionKind) -> std::time::Duration {
        match kind {
            SessionKind::Play => std::time::Duration::from_millis(self.cfg().general.max_stream_wait_ms),
            SessionKind::Publish | SessionKind::Echo => std::time::Duration::ZERO,
        }
    }
}

/// Listing interfaces costs a syscall; skip it when the plan cannot need them.
fn needs_interfaces(extern_ip: &str, host: Option<&str>, ov: &CandidateOverride) -> bool {
    if !matches!(ov, CandidateOverride::None) {
        return false;
    }
    let ext = extern_ip.trim();
    if !ext.is_empty() && !ext.contains('$') && !ext.contains('*') {
        return false;
    }
    !(ext.is_empty() && host.and_then(candidates::host_ip).is_some_and(|ip| !ip.is_unspecified()))
}

fn make_etag(id: &str, generation: u32) -> String {
    let id: String = id.chars().filter(|c| c.is_ascii_graphic() && *c != '"').collect();
    format!("\"{id}-{generation}\"")
}

/// Builds the router. Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so that
/// peers and the IP allow-list see real addresses.
///
/// With `[hook] enable=1` it subscribes to the directory's stream events and starts the hook
/// task, so it must be called inside a tokio runtime then.
pub fn router(state: HttpState) -> Router {
    router_and_handle(state).0
}

/// What the binary keeps of the HTTP front for a graceful shutdown.
pub struct HttpHandle {
    hooks: Option<Arc<weir_hook::Hooks>>,
    restart: Arc<zlm_config::RestartSignal>,
}

impl HttpHandle {
    /// Resolves when `restartServer` was called. Until something waits here, `restartServer`
    /// answers 501 (an embedding that cannot restart must not claim it will).
    pub async fn restart_requested(&self) {
        self.restart.requested().await
    }

    /// Waits (at most `max`) until no web hook call is in flight, so that the `on_stream_changed`
    /// / `on_flow_report` calls of the sessions a shutdown just ended reach the backend. True when
    /// quiet (or hooks are off).
    pub async fn hooks_quiet(&self, max: std::time::Duration) -> bool {
        let Some(h) = &self.hooks else { return true };
        let deadline = tokio::time::Instant::now() + max;
        // Quiet twice in a row: events still queued between the directory and the hook
        // consumer become calls within a poll.
        let mut quiet_polls = 0;
        while tokio::time::Instant::now() < deadline {
            if h.in_flight() == 0 {
                quiet_polls += 1;
                if quiet_polls >= 2 {
                    return true;
                }
            } else {
                quiet_polls = 0;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }
}

/// [`router`] and the handle the binary uses at shutdown.
pub fn router_and_handle(state: HttpState) -> (Router, HttpHandle) {
    let hooks = match weir_hook::Hooks::new(weir_hook::HookSettings::from_config(&state.config)) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::error!(error = %e, "web hooks disabled");
            None
        }
    };
    if let Some(h) = &hooks {
        match (state.directory.subscribe_events(HOOK_EVENT_QUEUE), tokio::runtime::Handle::try_current()) {
            (Some(rx), Ok(rt)) => {
                let _guard = rt.enter();
                h.spawn_events(rx, state.directory.clone(), state.sessions.clone());
            }
            (None, _) => tracing::warn!("stream events already taken: lifecycle hooks are off"),
            (_, Err(_)) => tracing::warn!("no tokio runtime: lifecycle hooks are off"),
        }
        if h.settings().enabled {
            tracing::info!(settings = ?h.settings(), "web hooks enabled");
        }
    }
    let inner: Shared = Arc::new(Inner {
        live: ArcSwap::from_pointee(LiveConfig::new(state.config.clone())),
        test_sources: state.streams.clone().map(weir_testsrc::TestSources::new),
        st: state,
        etags: Mutex::new(HashMap::new()),
        hooks,
        restart: Arc::default(),
        config_writer: tokio::sync::Mutex::new(()),
        request_seq: AtomicU64::new(1),
        load_sample: Mutex::new(None),
    });

    let srs_whip = || post(srs::whip).delete(srs::delete);
    let router = Router::new()
        // RFC 9725
        .route("/whip/{app}/{*stream}", post(whip::publish))
        .route("/whep/{app}/{*stream}", post(whip::play))
        .route("/session/{id}/{token}", delete(whip::delete).patch(whip::patch))
        // ZLMediaKit
        .route("/index/api/{name}", any(zlm::api))
        // SRS
        .route("/rtc/v1/whip/", srs_whip())
        .route("/rtc/v1/whip", srs_whip())
        .route("/rtc/v1/whep/", srs_whip())
        .route("/rtc/v1/whep", srs_whip())
        .route("/rtc/v1/whip-play/", srs_whip())
        .route("/rtc/v1/whip-play", srs_whip())
        .route("/rtc/v1/publish/", post(srs::publish))
        .route("/rtc/v1/publish", post(srs::publish))
        .route("/rtc/v1/play/", post(srs::play))
        .route("/rtc/v1/play", post(srs::play))
        // Weir
        .route("/api/v1/sessions", get(api::sessions))
        .route("/api/v1/sessions/{*id}", get(api::session))
        .route("/api/v1/streams", get(api::streams))
        .route("/api/v1/server", get(api::server))
        .route("/metrics", get(prometheus::metrics))
        .route("/api/v1/testsrc", get(streams_api::list))
        .route("/api/v1/testsrc/{app}/{*stream}", post(streams_api::start).delete(streams_api::stop))
        .route("/api/v1/probe/{app}/{*stream}", get(streams_api::probe))
        // Pages
        .route("/", get(demo::index))
        .route("/index.html", get(demo::index))
        .route("/demo/publish.html", get(demo::publish))
        .route("/demo/play.html", get(demo::play))
        .route("/demo/call.html", get(demo::call))
        .route("/demo/style.css", get(demo::style))
        .route("/demo/demo.js", get(demo::demo_js))
        .route("/favicon.ico", get(demo::favicon))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(inner.clone(), cors))
        .with_state(inner.clone());
    (router, HttpHandle { hooks: inner.hooks.clone(), restart: inner.restart.clone() })
}

/// Unmatched paths: ZLMediaKit API names are matched case-insensitively here.
async fn fallback(State(inner): State<Shared>, req: Request) -> Response {
    const PREFIX: &str = "/index/api/";
    let path = req.uri().path().to_owned();
    if path.get(..PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(PREFIX)) {
        let name = path.get(PREFIX.len()..).unwrap_or("");
        if !name.is_empty() && !name.contains('/') {
            return zlm::dispatch(inner, name, req).await;
        }
    }
    util::text(StatusCode::NOT_FOUND, "not found")
}

const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
const EXPOSE: &str = "Location, ETag, Link";

/// CORS on every response, and the answer to every `OPTIONS` request.
async fn cors(State(inner): State<Shared>, req: Request, next: Next) -> Response {
    let origin = if inner.cfg().http.allow_cross_domains { req.headers().get(header::ORIGIN).cloned() } else { None };
    let mut resp = if req.method() == Method::OPTIONS {
        let mut r = options(&inner, &req);
        if origin.is_some() {
            let h = r.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
            // `*` is not honoured on credentialed requests, so the requested names are echoed too.
            let allow_headers = match req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS).and_then(|v| v.to_str().ok()) {
                Some(asked) if !asked.trim().is_empty() => format!("*, {}", asked.trim()),
                _ => "*".to_owned(),
            };
            if let Ok(v) = HeaderValue::from_str(&allow_headers) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
        r
    } else {
        next.run(req).await
    };
    if let Some(origin) = origin {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        if !h.contains_key(header::ACCESS_CONTROL_EXPOSE_HEADERS) {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE));
        }
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

/// `OPTIONS`: 204 on the RFC 9725 resources (with `Accept-Post` / `Accept-Patch` and the ICE
/// server `Link`s), 200 with `Allow` elsewhere (as ZLMediaKit and SRS answer).
fn options(inner: &Inner, req: &Request) -> Response {
    let path = req.uri().path();
    let mut headers = HeaderMap::new();
    let status = if path.starts_with("/whip/") || path.starts_with("/whep/") {
        headers.insert(HeaderName::from_static("accept-post"), HeaderValue::from_static("application/sdp"));
        inner.add_ice_links(&mut headers);
        StatusCode::NO_CONTENT
    } else if path.starts_with("/session/") {
        headers.insert(HeaderName::from_static("accept-patch"), HeaderValue::from_static("application/trickle-ice-sdpfrag"));
        inner.add_ice_links(&mut headers);
        StatusCode::NO_CONTENT
    } else {
        StatusCode::OK
    };
    headers.insert(header::ALLOW, HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"));
    (status, headers).into_response()
}

/// Outcome of the secret check shared by the ZLMediaKit management and Weir stats APIs.
pub(crate) enum AuthFailure {
    /// `-100 Your ip is not allowed to access the service.`
    IpDenied,
    /// `-300 Required parameter missed: "secret"`
    Missing,
    /// `-100 Incorrect secret`
    Incorrect,
    /// `-100`: the well-known default secret from a client that is not on loopback.
    DefaultSecretRemote,
}

impl AuthFailure {
    pub(crate) fn code(&self) -> i32 {
        match self {
            AuthFailure::IpDenied | AuthFailure::Incorrect | AuthFailure::DefaultSecretRemote => -100,
            AuthFailure::Missing => -300,
        }
    }
    pub(crate) fn msg(&self) -> &'static str {
        match self {
            AuthFailure::IpDenied => "Your ip is not allowed to access the service.",
            AuthFailure::Missing => "Required parameter missed: \"secret\"",
            AuthFailure::Incorrect => "Incorrect secret",
            AuthFailure::DefaultSecretRemote => {
                "The default secret is accepted from loopback only: set [api] secret to administer this server remotely."
            }
        }
    }
}

/// ZLMediaKit 8.0 `CHECK_SECRET`: IP allow-list, then presence, then equality.
/// The client's address when `http.allow_ip_range` admits it (every management route and
/// `/metrics` check this first); `IpDenied` otherwise.
pub(crate) fn client_allowed<B>(inner: &Inner, req: &axum::http::Request<B>) -> Result<Option<std::net::IpAddr>, AuthFailure> {
    let ip = util::client_ip(req, &inner.cfg());
    let allowed = match ip {
        Some(ip) => {
            let live = inner.live();
            live.allow.is_empty() || weir_core::net::in_ranges(&live.allow, ip)
        }
        None => inner.cfg().http.allow_ip_range.trim().is_empty(),
    };
    if !allowed {
        tracing::warn!(ip = ?ip, path = req.uri().path(), "access from an address outside http.allow_ip_range");
        return Err(AuthFailure::IpDenied);
    }
    Ok(ip)
}

pub(crate) fn check_secret<B>(inner: &Inner, req: &axum::http::Request<B>, secret: Option<&str>) -> Result<(), AuthFailure> {
    let ip = client_allowed(inner, req)?;
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Err(AuthFailure::Missing);
    };
    if !util::ct_eq(secret, &inner.cfg().api.secret) {
        tracing::warn!(ip = ?ip, path = req.uri().path(), "API call with an incorrect secret");
        return Err(AuthFailure::Incorrect);
    }
    // ZLMediaKit's published default protects nothing: accept it only when both the socket peer
    // and (behind a proxy) the forwarded client are on this host (weir_config exposure.rs).
    if inner.cfg().api.secret_is_well_known() {
        let peer_local = util::peer_addr(req).is_some_and(|p| p.ip().is_loopback());
        let client_local = ip.is_some_and(|ip| ip.is_loopback());
        if !(peer_local && client_local) {
            tracing::warn!(ip = ?ip, path = req.uri().path(), "API call with the well-known default secret from outside loopback refused");
            return Err(AuthFailure::DefaultSecretRemote);
        }
    }
    Ok(())
}

/// Peer socket address (for logs and `SessionRequest::peer`).
pub(crate) fn peer<B>(req: &axum::http::Request<B>) -> Option<SocketAddr> {
    util::peer_addr(req)
}
