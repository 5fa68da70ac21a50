//! HTTP contract tests: every endpoint of weir-http against a fake `SessionService`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use tower::ServiceExt;
use weir_config::Config;
use weir_core::{
    BoxFuture, BroadcastRequest, BroadcastTarget, CandidatePlan, SessionAnswer, SessionError, SessionKind, SessionRequest,
    SessionService, SessionSummary, StreamKey, TrickleOutcome,
};
use weir_stream::{Codec, Directory, Hub, HubConfig, SourceClaim, SourceKind, TrackDesc};
use weir_http::candidates::{plan, CandidateInput, CandidateOverride};
use weir_http::{router, HttpState};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:cli1\r\n";
const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n";
const SECRET: &str = "7d1e0c52-operator-chosen-test-secret";

// ---------------------------------------------------------------------------------------------
// Fake engine

struct Fake {
    requests: Mutex<Vec<SessionRequest>>,
    fail_next: Mutex<Option<SessionError>>,
    next_id: Mutex<String>,
    next_token: Mutex<String>,
    /// id -> token
    live: Mutex<HashMap<String, String>>,
    broadcasts: Mutex<Vec<BroadcastRequest>>,
}

impl Fake {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            requests: Mutex::new(Vec::new()),
            fail_next: Mutex::new(None),
            next_id: Mutex::new("sess1".into()),
            next_token: Mutex::new("tok".into()),
            live: Mutex::new(HashMap::new()),
            broadcasts: Mutex::new(Vec::new()),
        })
    }
    fn fail(&self, e: SessionError) {
        *self.fail_next.lock().unwrap() = Some(e);
    }
    fn ids(&self, id: &str, token: &str) {
        *self.next_id.lock().unwrap() = id.into();
        *self.next_token.lock().unwrap() = token.into();
    }
    fn last(&self) -> SessionRequest {
        self.requests.lock().unwrap().last().cloned().expect("no session request recorded")
    }
    fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
    fn add(&self, id: &str, token: &str) {
        self.live.lock().unwrap().insert(id.into(), token.into());
    }
    fn check(&self, id: &str, token: Option<&str>) -> Result<(), SessionError> {
        match self.live.lock().unwrap().get(id) {
            None => Err(SessionError::SessionNotFound),
            Some(t) if token.is_some_and(|x| x != t) => Err(SessionError::TokenMismatch),
            Some(_) => Ok(()),
        }
    }
}

impl SessionService for Fake {
    fn create(&self, req: SessionRequest) -> BoxFuture<'_, Result<SessionAnswer, SessionError>> {
        Box::pin(async move {
            self.requests.lock().unwrap().push(req);
            if let Some(e) = self.fail_next.lock().unwrap().take() {
                return Err(e);
            }
            let id = self.next_id.lock().unwrap().clone();
            let token = self.next_token.lock().unwrap().clone();
            self.add(&id, &token);
            Ok(SessionAnswer { id, token, sdp: ANSWER.into(), remote_ufrag: "cli1".into() })
        })
    }
    fn delete<'a>(&'a self, id: &'a str, token: Option<&'a str>) -> BoxFuture<'a, Result<(), SessionError>> {
        Box::pin(async move {
            self.check(id, token)?;
            self.live.lock().unwrap().remove(id);
            Ok(())
        })
    }
    fn trickle<'a>(&'a self, id: &'a str, token: &'a str, frag: &'a str) -> BoxFuture<'a, Result<TrickleOutcome, SessionError>> {
        Box::pin(async move {
            self.check(id, Some(token))?;
            if frag.contains("a=ice-ufrag:") {
                Ok(TrickleOutcome::Restarted { sdpfrag: "a=ice-ufrag:srv2\r\na=ice-pwd:0123456789012345678901\r\n".into() })
            } else {
                Ok(TrickleOutcome::Applied)
            }
        })
    }
    fn engine_stats(&self) -> serde_json::Value {
        serde_json::json!({ "udp": { "datagrams_sent": 7 } })
    }
    fn stats<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<serde_json::Value, SessionError>> {
        Box::pin(async move {
            self.check(id, None)?;
            Ok(serde_json::json!({ "id": id, "bytes": 42 }))
        })
    }
    fn broadcast(&self, req: BroadcastRequest) -> BoxFuture<'_, Result<usize, SessionError>> {
        Box::pin(async move {
            let known = req.key.stream == "cam";
            self.broadcasts.lock().unwrap().push(req);
            if known { Ok(2) } else { Err(SessionError::StreamNotFound) }
        })
    }
    fn list(&self) -> BoxFuture<'_, Vec<SessionSummary>> {
        Box::pin(async move {
            self.live
                .lock()
                .unwrap()
                .keys()
                .map(|id| SessionSummary {
                    id: id.clone(),
                    kind: SessionKind::Publish,
                    stream: StreamKey::default_vhost("live", "cam").unwrap(),
                    protocol: "whip",
                    state: "connected",
                    peer: None,
                    age_ms: 1,
                })
                .collect()
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Harness

struct App {
    router: Router,
    fake: Arc<Fake>,
    /// The streams the directory shows, as the engine's hub would keep them (handles: numbers).
    hub: Mutex<Hub<u32>>,
    rooms: Arc<FakeRooms>,
}

/// The P2P signaling rooms `listWebrtcRooms` reports (set by a test).
#[derive(Default)]
struct FakeRooms(Mutex<serde_json::Value>);

impl weir_core::RoomDirectory for FakeRooms {
    fn rooms_json(&self) -> serde_json::Value {
        self.0.lock().unwrap().clone()
    }
}

fn app_with(edit: impl FnOnce(&mut Config)) -> App {
    // Pin every default the tests rely on, so they do not depend on the shipped defaults.
    let mut cfg = Config::default();
    cfg.api.secret = SECRET.into();
    cfg.api.bearer_tokens = String::new();
    cfg.http.allow_cross_domains = true;
    cfg.http.max_req_size = 40960;
    cfg.http.char_set = "utf-8".into();
    cfg.http.allow_ip_range =
        "::1,127.0.0.1,172.16.0.0-172.31.255.255,192.168.0.0-192.168.255.255,10.0.0.0-10.255.255.255".into();
    cfg.http.forwarded_ip_header = String::new();
    cfg.general.enable_vhost = false;
    cfg.general.max_stream_wait_ms = 15000;
    cfg.general.media_server_id = "weir".into();
    cfg.rtc.enable_echo = true;
    cfg.rtc.port = 8000;
    cfg.rtc.tcp_port = 8001;
    cfg.rtc.extern_ip = String::new();
    edit(&mut cfg);
    let fake = Fake::new();
    let directory = Directory::new();
    let hub = Mutex::new(Hub::new(HubConfig::default(), directory.clone()));
    let rooms = Arc::new(FakeRooms::default());
    let state = HttpState {
        sessions: fake.clone(),
        directory,
        streams: None,
        config: Arc::new(cfg),
        ice_servers: weir_http::static_ice_servers(vec![
            "<stun:127.0.0.1:3478>; rel=\"ice-server\"".into(),
            "<turn:127.0.0.1:3478?transport=udp>; rel=\"ice-server\"; username=\"u\"; credential=\"p\"".into(),
        ]),
        started: Instant::now(),
        rooms: Some(rooms.clone()),
        metrics_refresh: None,
        config_file: None,
    };
    App { router: router(state), fake, hub, rooms }
}

fn app() -> App {
    app_with(|_| {})
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

struct Req {
    builder: axum::http::request::Builder,
    body: Vec<u8>,
    peer: SocketAddr,
}

fn req(method: Method, uri: &str) -> Req {
    Req {
        builder: Request::builder().method(method).uri(uri).header("host", "127.0.0.1:8080"),
        body: Vec::new(),
        peer: "127.0.0.1:50000".parse().unwrap(),
    }
}

impl Req {
    fn header(mut self, k: &str, v: &str) -> Self {
        self.builder = self.builder.header(k, v);
        self
    }
    /// Replaces the default `Host: 127.0.0.1:8080`.
    fn host(mut self, h: &str) -> Self {
        if let Some(headers) = self.builder.headers_mut() {
            headers.insert("host", h.parse().unwrap());
        }
        self
    }
    fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = b.into();
        self
    }
    fn sdp(self, b: &str) -> Self {
        self.header("content-type", "application/sdp").body(b)
    }
    fn peer(mut self, p: &str) -> Self {
        self.peer = p.parse().unwrap();
        self
    }
    async fn send(self, app: &App) -> Resp {
        let mut r = self.builder.body(Body::from(self.body)).unwrap();
        r.extensions_mut().insert(ConnectInfo(self.peer));
        let resp = app.router.clone().oneshot(r).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Resp { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn all_errors() -> Vec<(SessionError, u16)> {
    vec![
        (SessionError::BadOffer("x".into()), 400),
        (SessionError::BadRequest("x".into()), 400),
        (SessionError::TokenMismatch, 401),
        (SessionError::StreamNotFound, 404),
        (SessionError::SessionNotFound, 404),
        (SessionError::NoCommonCodec("x".into()), 406),
        (SessionError::AlreadyPublishing, 409),
        (SessionError::Internal("x".into()), 500),
        (SessionError::Unsupported("x".into()), 501),
        (SessionError::Overloaded("x".into()), 503),
    ]
}

// ---------------------------------------------------------------------------------------------
// A. RFC 9725

#[tokio::test]
async fn whip_publish_success() {
    let a = app();
    let r = req(Method::POST, "/whip/live/cam").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("content-type"), Some("application/sdp"));
    assert_eq!(r.body, ANSWER);
    assert_eq!(r.header("location"), Some("/session/sess1/tok"));
    assert_eq!(r.header("etag"), Some("\"sess1-1\""));
    assert_eq!(r.all("link").len(), 2);
    assert!(r.all("link")[0].starts_with("<stun:127.0.0.1:3478>"));
    assert_eq!(r.header("access-control-expose-headers"), Some("Location, ETag, Link"));

    let s = a.fake.last();
    assert_eq!(s.kind, SessionKind::Publish);
    assert_eq!(s.protocol, "whip");
    assert_eq!(s.key, StreamKey::default_vhost("live", "cam").unwrap());
    assert_eq!(s.offer, OFFER);
    assert_eq!(s.max_wait, Duration::ZERO);
    assert_eq!(s.peer, Some(sa("127.0.0.1:50000")));
    assert_eq!(s.ice_ufrag, None);
    // Host is 127.0.0.1 and externIP is empty: the Host's IP is advertised.
    assert_eq!(s.candidates, CandidatePlan { udp: vec![sa("127.0.0.1:8000")], tcp: vec![sa("127.0.0.1:8001")] });
}

#[tokio::test]
async fn whep_play_success_with_slash_in_stream() {
    let a = app();
    let r = req(Method::POST, "/whep/live/a/b").header("content-type", "application/SDP; charset=utf-8").body(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let s = a.fake.last();
    assert_eq!(s.kind, SessionKind::Play);
    assert_eq!(s.protocol, "whep");
    assert_eq!(s.key.stream, "a/b");
    assert_eq!(s.max_wait, Duration::from_millis(15000));
}

#[tokio::test]
async fn whip_location_encodes_id_and_token() {
    let a = app();
    a.fake.ids("Ab+/9", "t/k");
    let r = req(Method::POST, "/whip/live/cam").sdp(OFFER).send(&a).await;
    assert_eq!(r.header("location"), Some("/session/Ab%2B%2F9/t%2Fk"));
    // And the encoded resource resolves back to the raw id and token.
    let r = req(Method::DELETE, "/session/Ab%2B%2F9/t%2Fk").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn whip_rejects_wrong_content_type_and_empty_body() {
    let a = app();
    let r = req(Method::POST, "/whip/live/cam").header("content-type", "text/plain").body(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = req(Method::POST, "/whip/live/cam").body(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = req(Method::POST, "/whip/live/cam").sdp("").send(&a).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, "empty SDP offer");
    assert_eq!(a.fake.count(), 0);
}

#[tokio::test]
async fn whip_session_errors_map_to_status_and_text() {
    let a = app();
    for (e, status) in all_errors() {
        a.fake.fail(e.clone());
        let r = req(Method::POST, "/whep/live/cam").sdp(OFFER).send(&a).await;
        assert_eq!(r.status.as_u16(), status, "{e:?}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.body, e.to_string());
    }
}

#[tokio::test]
async fn whip_body_limit_is_413() {
    let a = app_with(|c| c.http.max_req_size = 100);
    let big = "a".repeat(200);
    let r = req(Method::POST, "/whip/live/cam").sdp(&big).send(&a).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body.contains("too large"), "{}", r.body);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    // With a declared Content-Length the body is refused before it is read.
    let r = req(Method::POST, "/whip/live/cam").header("content-length", "200").sdp(&big).send(&a).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // The other dialects share the limit.
    let r = req(Method::POST, "/index/api/webrtc?type=push&app=live&stream=cam").body(big.clone()).send(&a).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = req(Method::POST, "/rtc/v1/whip/?app=live&stream=cam").body(big).send(&a).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.fake.count(), 0);
}

#[tokio::test]
async fn bearer_token_required_when_configured() {
    let a = app_with(|c| c.api.bearer_tokens = "live/cam=s3cret".into());
    let r = req(Method::POST, "/whip/live/cam").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = req(Method::POST, "/whip/live/cam").header("authorization", "Bearer wrong").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.fake.count(), 0);
    let r = req(Method::POST, "/whip/live/cam").header("authorization", "Bearer s3cret").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED);
    // Another stream needs no token.
    let r = req(Method::POST, "/whep/live/other").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn session_delete() {
    let a = app();
    a.fake.add("s1", "t1");
    let r = req(Method::DELETE, "/session/s1/wrong").send(&a).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = req(Method::DELETE, "/session/s1/t1").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "");
    let r = req(Method::DELETE, "/session/s1/t1").send(&a).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn session_patch_trickle_restart_and_if_match() {
    let a = app();
    a.fake.add("s1", "t1");
    let frag = "a=candidate:1 1 udp 1 10.0.0.1 5000 typ host\r\n";
    let r = req(Method::PATCH, "/session/s1/t1").header("content-type", "application/sdp").body(frag).send(&a).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let ct = "application/trickle-ice-sdpfrag";
    let r = req(Method::PATCH, "/session/s1/t1").header("content-type", ct).body(frag).send(&a).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = req(Method::PATCH, "/session/s1/t1").header("content-type", ct).header("if-match", "\"s1-1\"").body(frag).send(&a).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = req(Method::PATCH, "/session/s1/t1").header("content-type", ct).header("if-match", "\"s1-7\"").body(frag).send(&a).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    // ICE restart.
    let restart = "a=ice-ufrag:new1\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n";
    let r = req(Method::PATCH, "/session/s1/t1").header("content-type", ct).header("if-match", "*").body(restart).send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(ct));
    assert_eq!(r.header("etag"), Some("\"s1-2\""));
    assert!(r.body.contains("a=ice-ufrag:srv2"));
    // The old ETag is stale now; the new one passes.
    let r = req(Method::PATCH, "/session/s1/t1").header("content-type", ct).header("if-match", "\"s1-1\"").body(frag).send(&a).await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = req(Method::PATCH, "/session/s1/t1").header("content-type", ct).header("if-match", "\"s1-2\"").body(frag).send(&a).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // Errors.
    let r = req(Method::PATCH, "/session/s1/bad").header("content-type", ct).body(frag).send(&a).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = req(Method::PATCH, "/session/nope/t1").header("content-type", ct).body(frag).send(&a).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn session_get_is_405() {
    let a = app();
    let r = req(Method::GET, "/session/s1/t1").send(&a).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn cors_preflight_and_options() {
    let a = app();
    let r = req(Method::OPTIONS, "/whip/live/cam")
        .header("origin", "http://page.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, authorization")
        .send(&a)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("accept-post"), Some("application/sdp"));
    assert_eq!(r.all("link").len(), 2);
    assert_eq!(r.header("access-control-allow-origin"), Some("http://page.example"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST, PATCH, DELETE, OPTIONS"));
    let allow_headers = r.header("access-control-allow-headers").unwrap();
    assert!(allow_headers.contains('*') && allow_headers.contains("authorization"), "{allow_headers}");

    let r = req(Method::OPTIONS, "/whep/live/cam").send(&a).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("accept-post"), Some("application/sdp"));
    assert_eq!(r.header("access-control-allow-origin"), None);

    let r = req(Method::OPTIONS, "/session/s1/t1").header("origin", "http://x").send(&a).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.all("link").len(), 2);
    assert_eq!(r.header("access-control-allow-origin"), Some("http://x"));

    let r = req(Method::OPTIONS, "/index/api/webrtc").header("origin", "http://x").send(&a).await;
    assert!(r.status.is_success());
    assert_eq!(r.header("access-control-allow-origin"), Some("http://x"));
}

#[tokio::test]
async fn cors_on_responses_follows_config() {
    let a = app();
    let r = req(Method::POST, "/whip/live/cam").header("origin", "http://page.example").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("access-control-allow-origin"), Some("http://page.example"));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    // No Origin, no CORS headers.
    let r = req(Method::POST, "/whip/live/cam2").sdp(OFFER).send(&a).await;
    assert_eq!(r.header("access-control-allow-origin"), None);

    let a = app_with(|c| c.http.allow_cross_domains = false);
    let r = req(Method::POST, "/whip/live/cam").header("origin", "http://page.example").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

// ---------------------------------------------------------------------------------------------
// B. ZLMediaKit

const JSON_CT: &str = "application/json; charset=utf-8";
const EMPTY_OFFER_MSG: &str = "Assertion failed: (!offer.empty(), http body(webrtc offer sdp) is empty)";

#[tokio::test]
async fn zlm_webrtc_success() {
    let a = app();
    let r = req(Method::POST, "/index/api/webrtc?app=live&stream=c%2Bd+e&type=push")
        .header("content-type", "text/plain;charset=utf-8")
        .body(OFFER)
        .send(&a)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(JSON_CT));
    let want = serde_json::to_string(&serde_json::json!({"code":0,"id":"sess1","sdp":ANSWER,"type":"answer"})).unwrap();
    assert_eq!(r.body, want, "keys sorted, no msg");
    let s = a.fake.last();
    assert_eq!(s.kind, SessionKind::Publish);
    assert_eq!(s.protocol, "zlm");
    assert_eq!(s.key.stream, "c+d e");
    assert_eq!(s.max_wait, Duration::ZERO);

    let r = req(Method::POST, "/index/api/webrtc?app=live&stream=cam&type=play").body(OFFER).send(&a).await;
    assert_eq!(r.json()["code"], 0);
    assert_eq!(a.fake.last().kind, SessionKind::Play);
    assert_eq!(a.fake.last().max_wait, Duration::from_millis(15000));
}

#[tokio::test]
async fn zlm_webrtc_args_from_headers_and_case_insensitive_path() {
    let a = app();
    let r = req(Method::POST, "/INDEX/API/WebRTC?app=live&stream=cam").header("type", "push").body(OFFER).send(&a).await;
    assert_eq!(r.json()["code"], 0, "{}", r.body);
    assert_eq!(a.fake.last().kind, SessionKind::Publish);
    // Trailing slash is a different path in ZLMediaKit.
    let r = req(Method::POST, "/index/api/webrtc/?app=live&stream=cam&type=push").body(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn zlm_webrtc_errors() {
    let a = app();
    let r = req(Method::POST, "/index/api/webrtc?app=live&stream=cam").body(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, r#"{"code":-300,"msg":"Required parameter missed: \"type\""}"#);

    let r = req(Method::POST, "/index/api/webrtc?type=push&app=live&stream=cam").send(&a).await;
    assert_eq!(r.json()["code"], -400);
    assert!(r.json()["msg"].as_str().unwrap().starts_with(EMPTY_OFFER_MSG));

    let r = req(Method::POST, "/index/api/webrtc?type=push&app=live").body(OFFER).send(&a).await;
    assert_eq!(r.body, r#"{"code":-300,"msg":"Required parameter missed: \"app\", \"stream\""}"#);

    let r = req(Method::POST, "/index/api/webrtc?type=talk&app=live&stream=cam").body(OFFER).send(&a).await;
    assert_eq!(r.body, r#"{"code":-400,"msg":"the type can not supported"}"#);

    a.fake.fail(SessionError::AlreadyPublishing);
    let r = req(Method::POST, "/index/api/webrtc?type=push&app=live&stream=cam").body(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, r#"{"code":-400,"msg":"already publishing"}"#);
    assert_eq!(r.header("content-type"), Some(JSON_CT));
}

#[tokio::test]
async fn zlm_webrtc_echo_follows_config() {
    let a = app_with(|c| c.rtc.enable_echo = false);
    let r = req(Method::POST, "/index/api/webrtc?type=echo&app=live&stream=cam").body(OFFER).send(&a).await;
    assert_eq!(r.body, r#"{"code":-400,"msg":"the type can not supported"}"#);
    assert_eq!(a.fake.count(), 0);

    let a = app_with(|c| c.rtc.enable_echo = true);
    let r = req(Method::POST, "/index/api/webrtc?type=echo&app=live&stream=cam").body(OFFER).send(&a).await;
    assert_eq!(r.json()["code"], 0);
    assert_eq!(a.fake.last().kind, SessionKind::Echo);
}

#[tokio::test]
async fn zlm_candidate_overrides() {
    let a = app();
    let r = req(Method::POST, "/index/api/webrtc?type=push&app=live&stream=cam&cand_udp=1.2.3.4:7000&cand_tcp=1.2.3.4:7001")
        .body(OFFER)
        .send(&a)
        .await;
    assert_eq!(r.json()["code"], 0);
    assert_eq!(a.fake.last().candidates, CandidatePlan { udp: vec![sa("1.2.3.4:7000")], tcp: vec![sa("1.2.3.4:7001")] });
}

#[tokio::test]
async fn zlm_whip_success_and_location_encoding() {
    let a = app();
    a.fake.ids("Ab+/9", "token+/9");
    let r = req(Method::POST, "/index/api/whip?app=live&stream=cam").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("content-type"), Some("application/sdp"));
    assert_eq!(r.body, ANSWER);
    assert_eq!(
        r.header("location"),
        Some("http://127.0.0.1:8080/index/api/delete_webrtc?id=Ab%2B%2F9&token=token%2B%2F9")
    );
    assert_eq!(a.fake.last().kind, SessionKind::Publish);
    assert_eq!(a.fake.last().protocol, "zlm");

    // The Location round-trips through delete_webrtc.
    let r = req(Method::DELETE, "/index/api/delete_webrtc?id=Ab%2B%2F9&token=token%2B%2F9").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);

    // A `host` argument replaces the Host header.
    let r = req(Method::POST, "/index/api/whep?app=live&stream=cam&host=media.example:1234").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.header("location").unwrap().starts_with("http://media.example:1234/index/api/delete_webrtc?id="));
    assert_eq!(a.fake.last().kind, SessionKind::Play);
}

#[tokio::test]
async fn zlm_whip_errors() {
    let a = app();
    let r = req(Method::POST, "/index/api/whip?app=live&stream=cam").sdp("").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(JSON_CT));
    assert_eq!(r.json()["code"], -400);
    assert!(r.json()["msg"].as_str().unwrap().starts_with(EMPTY_OFFER_MSG));

    let r = req(Method::POST, "/index/api/whip?stream=cam").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, r#"{"code":-300,"msg":"Required parameter missed: \"app\", \"stream\""}"#);

    for (e, _) in all_errors() {
        a.fake.fail(e.clone());
        let r = req(Method::POST, "/index/api/whep?app=live&stream=cam").sdp(OFFER).send(&a).await;
        assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE);
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.body, e.to_string());
    }
}

#[tokio::test]
async fn zlm_delete_webrtc() {
    let a = app();
    a.fake.add("s1", "t1");
    let r = req(Method::DELETE, "/index/api/delete_webrtc?id=s1").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, r#"{"code":-300,"msg":"Required parameter missed: \"id\", \"token\""}"#);

    let r = req(Method::POST, "/index/api/delete_webrtc?id=s1&token=t1").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["code"], -400);
    let msg = r.json()["msg"].as_str().unwrap().to_owned();
    assert!(msg.starts_with("Assertion failed: (method == \"DELETE\", http method is not DELETE: POST)"), "{msg}");

    let r = req(Method::DELETE, "/index/api/delete_webrtc?id=nope&token=t1").send(&a).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, "id not found");
    assert_eq!(r.header("content-type"), Some(JSON_CT));

    let r = req(Method::DELETE, "/index/api/delete_webrtc?id=s1&token=bad").send(&a).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, "token incorrect");
    assert_eq!(r.header("content-type"), Some(JSON_CT));

    // Arguments from a form body.
    let r = req(Method::DELETE, "/index/api/delete_webrtc")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("id=s1&token=t1")
        .send(&a)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "");
    assert_eq!(r.header("content-type"), Some(JSON_CT));

    // Arguments from headers.
    a.fake.add("s2", "t2");
    let r = req(Method::DELETE, "/index/api/delete_webrtc").header("id", "s2").header("token", "t2").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn zlm_management_secret_and_ip() {
    let a = app();
    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={SECRET}")).peer("8.8.8.8:1").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, r#"{"code":-100,"msg":"Your ip is not allowed to access the service."}"#);

    let r = req(Method::GET, "/index/api/getMediaList").send(&a).await;
    assert_eq!(r.body, r#"{"code":-300,"msg":"Required parameter missed: \"secret\""}"#);

    let r = req(Method::GET, "/index/api/getMediaList?secret=nope").send(&a).await;
    assert_eq!(r.body, r#"{"code":-100,"msg":"Incorrect secret"}"#);

    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={SECRET}")).peer("192.168.3.4:1").send(&a).await;
    assert_eq!(r.body, r#"{"code":0}"#);
    assert_eq!(r.header("content-type"), Some(JSON_CT));

    // Secret in a header or a form body.
    let r = req(Method::GET, "/index/api/getMediaList").header("secret", SECRET).send(&a).await;
    assert_eq!(r.body, r#"{"code":0}"#);
    let r = req(Method::POST, "/index/api/getMediaList")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("secret={SECRET}"))
        .send(&a)
        .await;
    assert_eq!(r.body, r#"{"code":0}"#);

    // IPv6 peers, empty range, forwarded header.
    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={SECRET}")).peer("[::1]:1").send(&a).await;
    assert_eq!(r.body, r#"{"code":0}"#);
    let open = app_with(|c| c.http.allow_ip_range = String::new());
    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={SECRET}")).peer("8.8.8.8:1").send(&open).await;
    assert_eq!(r.body, r#"{"code":0}"#);
    let fwd = app_with(|c| c.http.forwarded_ip_header = "X-Real-IP".into());
    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={SECRET}")).header("x-real-ip", "8.8.8.8").send(&fwd).await;
    assert_eq!(r.json()["code"], -100);
    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={SECRET}"))
        .peer("8.8.8.8:1")
        .header("x-real-ip", "10.1.2.3")
        .send(&fwd)
        .await;
    assert_eq!(r.body, r#"{"code":0}"#);
}

/// ZLMediaKit's published default secret protects nothing: with it configured, the admin API
/// answers loopback clients only, whatever `allow_ip_range` says; behind a proxy both the socket
/// peer and the forwarded client must be local. Mapped IPv4 (a dual-stack listener) counts as IPv4.
#[tokio::test]
async fn well_known_default_secret_is_loopback_only() {
    let dflt = weir_config::WELL_KNOWN_SECRET;
    let a = app_with(|c| c.api.secret = dflt.into());
    let refused = r#"{"code":-100,"msg":"The default secret is accepted from loopback only: set [api] secret to administer this server remotely."}"#;
    for peer in ["127.0.0.1:1", "[::1]:1", "[::ffff:127.0.0.1]:1"] {
        let r = req(Method::GET, &format!("/index/api/getMediaList?secret={dflt}")).peer(peer).send(&a).await;
        assert_eq!(r.body, r#"{"code":0}"#, "from {peer}");
    }
    for peer in ["192.168.3.4:1", "10.0.0.7:1", "[::ffff:10.0.0.7]:1"] {
        let r = req(Method::GET, &format!("/index/api/getMediaList?secret={dflt}")).peer(peer).send(&a).await;
        assert_eq!(r.body, refused, "from {peer} (inside allow_ip_range)");
    }
    // Weir's own stats API: 403.
    let r = req(Method::GET, &format!("/api/v1/sessions?secret={dflt}")).peer("192.168.3.4:1").send(&a).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = req(Method::GET, &format!("/api/v1/sessions?secret={dflt}")).send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    // A proxy on this host forwarding a remote client: refused; a local client through it: allowed.
    let fwd = app_with(|c| {
        c.api.secret = dflt.into();
        c.http.forwarded_ip_header = "X-Real-IP".into();
        c.http.allow_ip_range = String::new();
    });
    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={dflt}")).header("x-real-ip", "10.1.2.3").send(&fwd).await;
    assert_eq!(r.body, refused);
    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={dflt}")).header("x-real-ip", "127.0.0.1").send(&fwd).await;
    assert_eq!(r.body, r#"{"code":0}"#);
    // A remote peer claiming to be local in the header: refused.
    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={dflt}"))
        .peer("203.0.113.9:1")
        .header("x-real-ip", "127.0.0.1")
        .send(&fwd)
        .await;
    assert_eq!(r.body, refused);
    // An operator's own secret: allow_ip_range applies as in ZLMediaKit.
    let own = app();
    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={SECRET}")).peer("[::ffff:10.0.0.7]:1").send(&own).await;
    assert_eq!(r.body, r#"{"code":0}"#);
}

#[tokio::test]
async fn zlm_list_webrtc_rooms() {
    let a = app();
    // Secret protected like the other management APIs.
    let r = req(Method::GET, "/index/api/listWebrtcRooms").send(&a).await;
    assert_eq!(r.body, r#"{"code":-300,"msg":"Required parameter missed: \"secret\""}"#);
    let r = req(Method::GET, "/index/api/listWebrtcRooms?secret=nope").send(&a).await;
    assert_eq!(r.json()["code"], -100);
    // No room: `data` absent.
    let r = req(Method::GET, &format!("/index/api/listWebrtcRooms?secret={SECRET}")).send(&a).await;
    assert_eq!(r.body, r#"{"code":0}"#);
    assert_eq!(r.header("content-type"), Some(JSON_CT));
    let rooms = serde_json::json!([
        {"room_id":"alice","tours":[],"guests":[{"guest_id":"g1"}]},
        {"room_id":"bob","tours":[{"guest_id":"g1","room_id":"alice"}],"guests":[]}
    ]);
    *a.rooms.0.lock().unwrap() = rooms.clone();
    let r = req(Method::GET, &format!("/index/api/listwebrtcrooms?secret={SECRET}")).send(&a).await;
    assert_eq!(r.json(), serde_json::json!({"code":0,"data":rooms}));
}

fn tracks() -> Vec<TrackDesc> {
    vec![TrackDesc::new(Codec::H264), TrackDesc::new(Codec::Opus)]
}

/// Makes `id` the source of `key`, as a WHIP publisher would.
fn publish(a: &App, key: &StreamKey, id: &str) -> weir_stream::StreamId {
    let claim = SourceClaim { id: id.into(), protocol: "whip", tracks: tracks(), kind: SourceKind::Local(0) };
    a.hub.lock().unwrap().claim_source(key, claim, Instant::now()).unwrap().stream
}

#[tokio::test]
async fn zlm_get_media_list_and_is_media_online() {
    let a = app();
    let key = StreamKey::default_vhost("live", "cam").unwrap();
    let stream = publish(&a, &key, "pub1");
    {
        let mut hub = a.hub.lock().unwrap();
        hub.add_local_sink(&key, 1, "p1", "whep").unwrap();
        hub.add_local_sink(&key, 2, "p2", "whep").unwrap();
        hub.remove_local_sink(stream, 2, "p2");
    }

    let r = req(Method::GET, &format!("/index/api/getMediaList?secret={SECRET}")).send(&a).await;
    let v = r.json();
    assert_eq!(v["code"], 0);
    let item = &v["data"][0];
    assert_eq!(item["schema"], "rtsp");
    assert_eq!(item["vhost"], "__defaultVhost__");
    assert_eq!(item["app"], "live");
    assert_eq!(item["stream"], "cam");
    assert_eq!(item["readerCount"], 1);
    assert_eq!(item["totalReaderCount"], 2);
    assert_eq!(item["originType"], 8);
    assert_eq!(item["originTypeStr"], "rtc_push");
    assert!(item["aliveSecond"].is_u64());
    assert_eq!(item["tracks"][0]["codec_type"], 0);
    assert_eq!(item["tracks"][0]["codec_id_name"], "H264");
    assert_eq!(item["tracks"][1]["codec_type"], 1);
    assert_eq!(item["tracks"][1]["codec_id_name"], "opus");
    assert_eq!(item["tracks"][1]["sample_rate"], 48000);
    // jsoncpp-style sorted keys (checked on the first item, up to its tracks).
    let item_text = &r.body[r.body.find("\"data\":[{").unwrap() + 9..r.body.find("\"tracks\"").unwrap()];
    let keys: Vec<&str> = item_text.match_indices("\":").map(|(i, _)| item_text[..i].rsplit('"').next().unwrap()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(keys.len() >= 10, "{keys:?}");

    // Filters.
    for (q, n) in [("schema=rtsp", 1), ("schema=rtmp", 0), ("app=live", 1), ("app=other", 0), ("stream=cam", 1), ("vhost=__defaultVhost__", 1)] {
        let r = req(Method::GET, &format!("/index/api/getMediaList?secret={SECRET}&{q}")).send(&a).await;
        let len = r.json()["data"].as_array().map(|d| d.len()).unwrap_or(0);
        assert_eq!(len, n, "{q}: {}", r.body);
        if n == 0 {
            assert_eq!(r.body, r#"{"code":0}"#);
        }
    }

    let r = req(Method::GET, &format!("/index/api/isMediaOnline?secret={SECRET}&schema=rtsp&vhost=__defaultVhost__&app=live&stream=cam"))
        .send(&a)
        .await;
    assert_eq!(r.body, r#"{"code":0,"online":true}"#);
    let r = req(Method::GET, &format!("/index/api/isMediaOnline?secret={SECRET}&schema=rtsp&vhost=__defaultVhost__&app=live&stream=nope"))
        .send(&a)
        .await;
    assert_eq!(r.body, r#"{"code":0,"online":false}"#);
    let r = req(Method::GET, &format!("/index/api/isMediaOnline?secret={SECRET}&app=live&stream=cam")).send(&a).await;
    assert_eq!(r.json()["code"], -300);
    let r = req(Method::GET, "/index/api/isMediaOnline?schema=rtsp&vhost=__defaultVhost__&app=live&stream=cam").send(&a).await;
    assert_eq!(r.json()["code"], -300);
}

#[tokio::test]
async fn vhost_from_host_when_enabled() {
    let a = app_with(|c| c.general.enable_vhost = true);
    let r = req(Method::POST, "/index/api/webrtc?type=push&app=live&stream=cam").host("Media.Example:80").body(OFFER).send(&a).await;
    assert_eq!(r.json()["code"], 0);
    assert_eq!(a.fake.last().key.vhost, "media.example");
    // An IP or localhost Host gives the default vhost.
    for host in ["127.0.0.1:8080", "localhost:80", "[::1]:80"] {
        req(Method::POST, "/whip/live/x").host(host).sdp(OFFER).send(&a).await;
        assert_eq!(a.fake.last().key.vhost, "__defaultVhost__", "{host}");
    }
    // The vhost argument wins.
    let r = req(Method::POST, "/index/api/webrtc?type=push&app=live&stream=cam2&vhost=v1").host("media.example").body(OFFER).send(&a).await;
    assert_eq!(r.json()["code"], 0);
    assert_eq!(a.fake.last().key.vhost, "v1");
    // Vhosts off: always the default.
    let b = app();
    req(Method::POST, "/index/api/webrtc?type=push&app=live&stream=cam&vhost=v1").host("media.example").body(OFFER).send(&b).await;
    assert_eq!(b.fake.last().key.vhost, "__defaultVhost__");
}

#[tokio::test]
async fn candidates_follow_host_and_extern_ip() {
    // A Host that is a name: interface addresses (never empty: 127.0.0.1 at worst).
    let a = app();
    req(Method::POST, "/whip/live/cam").host("media.example").sdp(OFFER).send(&a).await;
    let c = a.fake.last().candidates;
    assert!(!c.udp.is_empty() && c.udp.iter().all(|s| s.port() == 8000), "{c:?}");
    assert!(c.tcp.iter().all(|s| s.port() == 8001));
    // externIP wins over the Host.
    let a = app_with(|c| c.rtc.extern_ip = "203.0.113.5, ::1".into());
    req(Method::POST, "/whip/live/cam").host("127.0.0.1").sdp(OFFER).send(&a).await;
    assert_eq!(a.fake.last().candidates.udp, vec![sa("203.0.113.5:8000"), sa("[::1]:8000")]);
    // Disabled TCP.
    let a = app_with(|c| c.rtc.tcp_port = 0);
    req(Method::POST, "/whip/live/cam").sdp(OFFER).send(&a).await;
    assert!(a.fake.last().candidates.tcp.is_empty());
}

// ---------------------------------------------------------------------------------------------
// C. SRS

#[tokio::test]
async fn srs_whip_success_and_location() {
    let a = app();
    let r = req(Method::POST, "/rtc/v1/whip/?app=live&stream=cam").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.header("content-type"), Some("application/sdp"));
    assert_eq!(r.body, ANSWER);
    assert_eq!(r.header("location"), Some("/rtc/v1/whip/?action=delete&token=tok&app=live&stream=cam&session=sess1:cli1"));
    let s = a.fake.last();
    assert_eq!(s.kind, SessionKind::Publish);
    assert_eq!(s.protocol, "srs");
    assert_eq!(s.key, StreamKey::default_vhost("live", "cam").unwrap());
}

#[tokio::test]
async fn srs_whip_variants_and_defaults() {
    let a = app();
    let r = req(Method::POST, "/rtc/v1/whip").body(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED, "no trailing slash, no redirect; any content type");
    assert_eq!(a.fake.last().key, StreamKey::default_vhost("live", "livestream").unwrap());
    assert_eq!(a.fake.last().kind, SessionKind::Publish);
    for path in ["/rtc/v1/whep/", "/rtc/v1/whep", "/rtc/v1/whip-play/", "/rtc/v1/whip-play", "/rtc/v1/whip/?action=play"] {
        let r = req(Method::POST, path).sdp(OFFER).send(&a).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}");
        assert_eq!(a.fake.last().kind, SessionKind::Play, "{path}");
        assert_eq!(a.fake.last().max_wait, Duration::from_millis(15000));
    }
}

#[tokio::test]
async fn srs_whip_ice_credentials_and_eip() {
    let a = app();
    let r = req(Method::POST, "/rtc/v1/whip/?ice-ufrag=6pk11386&ice-pwd=l91z529147ri9163933p51c4&eip=1.2.3.4:9000")
        .sdp(OFFER)
        .send(&a)
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let s = a.fake.last();
    assert_eq!(s.ice_ufrag.as_deref(), Some("6pk11386"));
    assert_eq!(s.ice_pwd.as_deref(), Some("l91z529147ri9163933p51c4"));
    assert_eq!(s.candidates, CandidatePlan { udp: vec![sa("1.2.3.4:9000")], tcp: vec![sa("1.2.3.4:9000")] });

    let r = req(Method::POST, "/rtc/v1/whip/?candidate=5.6.7.8").sdp(OFFER).send(&a).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(a.fake.last().candidates, CandidatePlan { udp: vec![sa("5.6.7.8:8000")], tcp: vec![sa("5.6.7.8:8001")] });

    let n = a.fake.count();
    for q in ["ice-ufrag=abc", &format!("ice-ufrag={}", "a".repeat(33)), "ice-pwd=short", &format!("ice-pwd={}", "p".repeat(33))] {
        let r = req(Method::POST, &format!("/rtc/v1/whip/?{q}")).sdp(OFFER).send(&a).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(r.body, "5037: RtcInvalidIce");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    }
    assert_eq!(a.fake.count(), n);
}

#[tokio::test]
async fn srs_whip_errors() {
    let a = app();
    let r = req(Method::POST, "/rtc/v1/whip/?app=live&stream=cam").sdp("").send(&a).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, "5043: RtcInvalidSdp");

    let expected = [
        (SessionError::AlreadyPublishing, 409, "5020: RtcStreamBusy"),
        (SessionError::BadOffer("x".into()), 400, "5012: RtcSdpDecode"),
        (SessionError::NoCommonCodec("x".into()), 406, "5018: RtcSdpNegotiate"),
        (SessionError::StreamNotFound, 404, "2048: StreamNotFound"),
        (SessionError::BadRequest("x".into()), 400, "5023: RtcInvalidParams"),
        (SessionError::TokenMismatch, 401, "5036: RtcInvalidSession"),
        (SessionError::Internal("x".into()), 500, "1021: SystemAssert"),
        (SessionError::Overloaded("x".into()), 503, "1074: ConnectionsExceed"),
        (SessionError::Unsupported("x".into()), 501, "5021: RtcDisabled"),
    ];
    for (e, status, body) in expected {
        a.fake.fail(e.clone());
        let r = req(Method::POST, "/rtc/v1/whip/?app=live&stream=cam").sdp(OFFER).send(&a).await;
        assert_eq!(r.status.as_u16(), status, "{e:?}");
        assert_eq!(r.body, body);
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    }
}

#[tokio::test]
async fn srs_delete() {
    let a = app();
    a.fake.add("s1", "t1");
    let r = req(Method::DELETE, "/rtc/v1/whip/?action=delete&app=live&stream=cam&session=s1:cli1").send(&a).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, "5036: RtcInvalidSession");
    let r = req(Method::DELETE, "/rtc/v1/whip/?action=delete&token=bad&session=s1:cli1").send(&a).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body, "5036: RtcInvalidSession");
    let r = req(Method::DELETE, "/rtc/v1/whip/?action=delete&token=t1&session=s1:cli1").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "");
    // Unknown (now deleted) session: 200 like SRS.
    let r = req(Method::DELETE, "/rtc/v1/whep?action=delete&token=t1&session=s1:cli1").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn srs_location_round_trips_through_delete() {
    let a = app();
    a.fake.ids("Ab+/9", "tok");
    let r = req(Method::POST, "/rtc/v1/whep/?app=live&stream=cam").sdp(OFFER).send(&a).await;
    let loc = r.header("location").unwrap().to_owned();
    let r = req(Method::DELETE, &loc).send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(a.fake.live.lock().unwrap().is_empty(), "session deleted through {loc}");
}

#[tokio::test]
async fn srs_legacy_publish_and_play() {
    let a = app();
    let body = serde_json::json!({
        "api": "http://127.0.0.1:1985/rtc/v1/publish/",
        "tid": "abc",
        "streamurl": "webrtc://127.0.0.1/myapp/mystream?token=x",
        "clientip": null,
        "sdp": OFFER,
    });
    let r = req(Method::POST, "/rtc/v1/publish/").header("content-type", "application/json").body(body.to_string()).send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("connection"), Some("close"));
    let want = format!(
        "{{\"code\":0,\"server\":\"weir\",\"service\":\"weir\",\"pid\":\"{}\",\"sdp\":{},\"sessionid\":\"sess1:cli1\"}}",
        std::process::id(),
        serde_json::to_string(ANSWER).unwrap()
    );
    assert_eq!(r.body, want);
    let s = a.fake.last();
    assert_eq!(s.kind, SessionKind::Publish);
    assert_eq!(s.key, StreamKey::default_vhost("myapp", "mystream").unwrap());
    assert_eq!(s.protocol, "srs");

    let body = serde_json::json!({"streamurl": "webrtc://h/justone", "sdp": OFFER});
    let r = req(Method::POST, "/rtc/v1/play?eip=9.9.9.9").body(body.to_string()).send(&a).await;
    assert_eq!(r.json()["code"], 0);
    let s = a.fake.last();
    assert_eq!(s.kind, SessionKind::Play);
    assert_eq!(s.key, StreamKey::default_vhost("live", "justone").unwrap());
    assert_eq!(s.candidates.udp, vec![sa("9.9.9.9:8000")]);

    // JSONP.
    let r = req(Method::POST, "/rtc/v1/play/?callback=cb_1").body(body.to_string()).send(&a).await;
    assert_eq!(r.header("content-type"), Some("text/javascript"));
    assert!(r.body.starts_with("cb_1({\"code\":0,") && r.body.ends_with("})"), "{}", r.body);
}

#[tokio::test]
async fn srs_legacy_errors_are_code_400() {
    let a = app();
    for body in ["", "not json", r#"{"sdp":"x"}"#, r#"{"streamurl":"webrtc://h/live/s"}"#, r#"{"streamurl":"webrtc://h/","sdp":"v=0"}"#] {
        let r = req(Method::POST, "/rtc/v1/publish/").body(body).send(&a).await;
        assert_eq!(r.status, StatusCode::OK, "{body}");
        assert_eq!(r.body, r#"{"code":400}"#, "{body}");
    }
    a.fake.fail(SessionError::AlreadyPublishing);
    let body = serde_json::json!({"streamurl": "webrtc://h/live/s", "sdp": OFFER});
    let r = req(Method::POST, "/rtc/v1/publish/").body(body.to_string()).send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, r#"{"code":400}"#);
}

// ---------------------------------------------------------------------------------------------
// E. Weir stats API

#[tokio::test]
async fn stats_api() {
    let a = app();
    a.fake.add("s1", "t1");
    let key = StreamKey::default_vhost("live", "cam").unwrap();
    publish(&a, &key, "s1");

    let r = req(Method::GET, "/api/v1/sessions").send(&a).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["code"], -300);
    let r = req(Method::GET, "/api/v1/sessions?secret=bad").send(&a).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["code"], -100);
    let r = req(Method::GET, &format!("/api/v1/sessions?secret={SECRET}")).peer("8.8.8.8:1").send(&a).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["code"], -100);

    let r = req(Method::GET, &format!("/api/v1/sessions?secret={SECRET}")).send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["code"], 0);
    assert_eq!(r.json()["data"][0]["id"], "s1");

    let r = req(Method::GET, "/api/v1/sessions/s1").header("x-weir-secret", SECRET).send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["data"]["bytes"], 42);
    let r = req(Method::GET, "/api/v1/sessions/nope").header("x-weir-secret", SECRET).send(&a).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, r#"{"code":-500,"msg":"session not found"}"#);

    let r = req(Method::GET, "/api/v1/streams").header("x-weir-secret", SECRET).send(&a).await;
    assert_eq!(r.json()["code"], 0);
    assert_eq!(r.json()["data"][0]["key"]["stream"], "cam");
    assert_eq!(r.json()["data"][0]["source_session"], "s1");

    let r = req(Method::GET, "/api/v1/server").header("x-weir-secret", SECRET).send(&a).await;
    assert_eq!(r.json()["data"]["service"], "weir");
    assert_eq!(r.json()["data"]["sessions"], 1);
    assert_eq!(r.json()["data"]["streams"], 1);
    assert_eq!(r.json()["data"]["engine"]["udp"]["datagrams_sent"], 7, "engine counters are passed through");
}

// ---------------------------------------------------------------------------------------------
// F. Pages

#[tokio::test]
async fn demo_pages() {
    let a = app();
    let r = req(Method::GET, "/").send(&a).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.body.contains("/demo/publish.html") && r.body.contains("/demo/play.html"));
    let r = req(Method::GET, "/demo/publish.html").send(&a).await;
    assert!(r.body.contains("setCodecPreferences") && r.body.contains("/whip/"));
    let r = req(Method::GET, "/demo/play.html").send(&a).await;
    assert!(r.body.contains("recvonly") && r.body.contains("/whep/"));
    let r = req(Method::GET, "/demo/style.css").send(&a).await;
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    for page in ["/", "/demo/publish.html", "/demo/play.html"] {
        let r = req(Method::GET, page).send(&a).await;
        for needle in ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "url(http"] {
            assert!(!r.body.contains(needle), "{page} must not load external resources ({needle})");
        }
    }
    let r = req(Method::GET, "/favicon.ico").send(&a).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = req(Method::GET, "/nope").send(&a).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// D. Candidate rules through the public function

#[test]
fn candidate_rules_public_api() {
    let ifs: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.7".parse().unwrap(), "fe80::1".parse().unwrap()];
    let none = CandidateOverride::None;
    let env = |n: &str| (n == "EXT").then(|| "203.0.113.9".to_string());
    let base = CandidateInput { udp_port: 8000, tcp_port: 0, extern_ip: "", request_override: &none, host_header: None, interfaces: &ifs };

    assert_eq!(plan(&base, &env).udp, vec![sa("10.0.0.7:8000")]);
    assert!(plan(&base, &env).tcp.is_empty());
    assert_eq!(plan(&CandidateInput { host_header: Some("[::1]:80"), ..base }, &env).udp, vec![sa("[::1]:8000")]);
    assert_eq!(plan(&CandidateInput { extern_ip: "$EXT", host_header: Some("127.0.0.1"), ..base }, &env).udp, vec![sa("203.0.113.9:8000")]);
    let srs = CandidateOverride::parse_srs("198.51.100.1:1234").unwrap();
    assert_eq!(plan(&CandidateInput { extern_ip: "$EXT", request_override: &srs, ..base }, &env).udp, vec![sa("198.51.100.1:1234")]);
}

// ---------------------------------------------------------------------------------------------
// Served for real: the binary's `into_make_service_with_connect_info` wiring over loopback.

async fn raw_http(addr: SocketAddr, request: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await.expect("server closes").unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn served_over_loopback() {
    let a = app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = a.router.clone().into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, svc).await });

    let resp = raw_http(
        addr,
        format!(
            "POST /rtc/v1/whip/?app=live&stream=cam HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
            OFFER.len()
        ),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("connection: close"), "{resp}");
    assert!(resp.ends_with(ANSWER));
    let s = a.fake.last();
    assert_eq!(s.peer.map(|p| p.ip()), Some("127.0.0.1".parse().unwrap()));
    assert_eq!(s.candidates.udp, vec![sa("127.0.0.1:8000")]);

    // The real peer address passes the IP allow-list.
    let resp = raw_http(
        addr,
        format!("GET /index/api/getMediaList?secret={SECRET} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with("{\"code\":0}"), "{resp}");
    server.abort();
}

#[tokio::test]
async fn zlm_broadcast_message() {
    let a = app();
    let base = format!("/index/api/broadcastMessage?secret={SECRET}&schema=rtsp&vhost=__defaultVhost__&app=live");
    let r = req(Method::GET, &format!("{base}&stream=cam&msg=hello%20there")).send(&a).await;
    assert_eq!(r.body, r#"{"code":0,"count":2}"#);
    {
        let b = a.fake.broadcasts.lock().unwrap();
        let last = b.last().unwrap();
        assert_eq!(last.payload, b"hello there");
        assert!(!last.binary);
        assert_eq!(last.target, BroadcastTarget::Players);
        assert_eq!(last.session, None);
    }
    // Unknown stream, missing argument, bad secret.
    let r = req(Method::GET, &format!("{base}&stream=nope&msg=x")).send(&a).await;
    assert_eq!(r.body, r#"{"code":-500,"msg":"can not find the stream"}"#);
    let r = req(Method::GET, &format!("{base}&stream=cam")).send(&a).await;
    assert_eq!(r.json()["code"], -300);
    let r = req(Method::GET, "/index/api/broadcastMessage?secret=bad&schema=rtsp&vhost=v&app=live&stream=cam&msg=x").send(&a).await;
    assert_eq!(r.json()["code"], -100);
    // Extensions: binary (base64), target, session; a JSON body.
    let r = req(Method::POST, "/index/api/broadcastMessage")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"secret":"{SECRET}","schema":"rtsp","vhost":"__defaultVhost__","app":"live","stream":"cam","msg":"AAEC/w==","binary":"1","target":"all","session":"s1"}}"#
        ))
        .send(&a)
        .await;
    assert_eq!(r.body, r#"{"code":0,"count":2}"#);
    let b = a.fake.broadcasts.lock().unwrap();
    let last = b.last().unwrap();
    assert_eq!(last.payload, vec![0, 1, 2, 255]);
    assert!(last.binary);
    assert_eq!(last.target, BroadcastTarget::All);
    assert_eq!(last.session.as_deref(), Some("s1"));
    drop(b);
    let r = req(Method::GET, &format!("{base}&stream=cam&msg=x&target=everyone")).send(&a).await;
    assert_eq!(r.json()["code"], -300);
    let r = req(Method::GET, &format!("{base}&stream=cam&msg=%%%&binary=1")).send(&a).await;
    assert_eq!(r.json()["code"], -300);
}

/// ZLMediaKit's generic management APIs (§A8): secret first, then the envelopes; `kick_session`
/// and `close_stream` end the sessions in the engine; setServerConfig changes the configuration live.
#[tokio::test]
async fn zlm_admin_apis() {
    let a = app();
    // Secret first, for every name.
    for name in ["version", "getServerConfig", "getAllSession", "kick_session", "kick_sessions", "close_stream", "close_streams", "getStatistic", "getThreadsLoad", "setServerConfig", "restartServer"] {
        let r = req(Method::GET, &format!("/index/api/{name}")).send(&a).await;
        assert_eq!(r.json()["code"], -300, "{name} without a secret: {}", r.body);
        let r = req(Method::GET, &format!("/index/api/{name}?secret=bad")).send(&a).await;
        assert_eq!(r.json()["code"], -100, "{name} with a wrong secret: {}", r.body);
        let r = req(Method::GET, &format!("/index/api/{name}?secret={SECRET}")).peer("8.8.8.8:1").send(&a).await;
        assert_eq!(r.json()["code"], -100, "{name} from outside allow_ip_range: {}", r.body);
    }
    let v = req(Method::GET, &format!("/index/api/version?secret={SECRET}")).send(&a).await.json();
    assert_eq!(v["code"], 0);
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
    let v = req(Method::GET, &format!("/index/api/getServerConfig?secret={SECRET}")).send(&a).await.json();
    assert_eq!(v["code"], 0);
    assert_eq!(v["data"][0]["api.secret"], SECRET);
    assert_eq!(v["data"][0]["general.maxStreamWaitMS"], "15000");
    assert!(v["data"][0]["rtc.port"].is_string(), "{v}");

    // Two live sessions in the fake engine, one the source of live/cam.
    a.fake.add("pub1", "t1");
    a.fake.add("s2", "t2");
    let key = StreamKey::default_vhost("live", "cam").unwrap();
    publish(&a, &key, "pub1");
    let v = req(Method::GET, &format!("/index/api/getAllSession?secret={SECRET}")).send(&a).await.json();
    assert_eq!(v["code"], 0);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["data"][0]["typeid"], "mediakit::WebRtcSession");
    let v = req(Method::GET, &format!("/index/api/getAllSession?secret={SECRET}&peer_ip=10.9.9.9")).send(&a).await.json();
    assert_eq!(v["data"].as_array().map(Vec::len), Some(0), "{v}");
    let v = req(Method::GET, &format!("/index/api/getStatistic?secret={SECRET}")).send(&a).await.json();
    assert_eq!(v["data"]["WebRtcTransport"], 2);
    assert_eq!(v["data"]["MediaSource"], 1);
    let v = req(Method::GET, &format!("/index/api/getThreadsLoad?secret={SECRET}")).send(&a).await.json();
    assert_eq!(v["code"], 0, "{v}");
    let threads = v["data"].as_array().expect("a list of threads");
    assert_eq!(threads.len(), 1, "{v}");
    assert!(threads[0]["load"].as_u64().is_some_and(|l| l <= 100) && threads[0]["delay"].is_u64(), "{v}");

    // kick_session: ends it; an unknown id: -1.
    let v = req(Method::GET, &format!("/index/api/kick_session?secret={SECRET}&id=s2")).send(&a).await.json();
    assert_eq!(v, serde_json::json!({"code": 0, "msg": "success"}));
    assert!(!a.fake.live.lock().unwrap().contains_key("s2"));
    let v = req(Method::GET, &format!("/index/api/kick_session?secret={SECRET}&id=s2")).send(&a).await.json();
    assert_eq!(v, serde_json::json!({"code": -1, "msg": "can not find the target"}));
    let v = req(Method::GET, &format!("/index/api/kick_session?secret={SECRET}")).send(&a).await.json();
    assert_eq!(v["code"], -300);

    // close_stream: a missing stream -500, then the live one: its source session ends.
    let base = format!("/index/api/close_stream?secret={SECRET}&schema=rtsp&vhost=__defaultVhost__&app=live");
    let v = req(Method::GET, &format!("{base}&stream=nope")).send(&a).await.json();
    assert_eq!(v["code"], -500, "{v}");
    let v = req(Method::GET, &format!("{base}&stream=cam&force=1")).send(&a).await.json();
    assert_eq!(v, serde_json::json!({"code": 0, "result": 0, "msg": "success"}));
    assert!(a.fake.live.lock().unwrap().is_empty(), "the publisher was ended");
    // close_streams: the stream is still listed (the fake hub is not told), its source is gone now.
    let v = req(Method::GET, &format!("/index/api/close_streams?secret={SECRET}&app=live")).send(&a).await.json();
    assert_eq!(v, serde_json::json!({"code": 0, "count_hit": 1, "count_closed": 0}));
    let v = req(Method::GET, &format!("/index/api/close_streams?secret={SECRET}&app=other")).send(&a).await.json();
    assert_eq!(v, serde_json::json!({"code": 0, "count_hit": 0, "count_closed": 0}));

    // setServerConfig: a bad value refuses the whole call and changes nothing.
    let v = req(Method::GET, &format!("/index/api/setServerConfig?secret={SECRET}&general.maxStreamWaitMS=5&rtc.timeoutSec=0")).send(&a).await.json();
    assert_eq!(v["code"], -300, "{v}");
    let v = req(Method::GET, &format!("/index/api/getServerConfig?secret={SECRET}")).send(&a).await.json();
    assert_eq!(v["data"][0]["general.maxStreamWaitMS"], "15000", "unchanged after a refused call");
    // Live keys take effect at once (a new secret here), others are stored and reported;
    // keys Weir does not have are listed, as ZLMediaKit skips them. No config file: not saved.
    let v = req(Method::GET, &format!("/index/api/setServerConfig?secret={SECRET}&api.secret=n3w&rtc.timeoutSec=31&hls.segDur=2&general.maxStreamWaitMS=15000")).send(&a).await.json();
    assert_eq!(v["code"], 0, "{v}");
    assert_eq!(v["changed"], 2, "maxStreamWaitMS kept its value: {v}");
    assert_eq!(v["restart_required"], serde_json::json!(["rtc.timeoutSec"]));
    assert_eq!(v["ignored"], serde_json::json!(["hls.segDur"]));
    assert_eq!(v["saved"], false);
    let v = req(Method::GET, &format!("/index/api/getServerConfig?secret={SECRET}")).send(&a).await.json();
    assert_eq!(v["code"], -100, "the old secret is refused now: {v}");
    let v = req(Method::GET, "/index/api/getServerConfig?secret=n3w").send(&a).await.json();
    assert_eq!(v["data"][0]["rtc.timeoutSec"], "31", "{v}");
    assert_eq!(v["data"][0]["api.secret"], "n3w");
    // restartServer: this router's embedding does not wait for restarts, so it says so.
    let r = req(Method::GET, "/index/api/restartServer?secret=n3w").send(&a).await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(r.json()["code"], -1);
}
