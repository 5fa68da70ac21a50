//! Web hooks end to end through the HTTP layer: a fake engine, a real hook backend (axum on
//! 127.0.0.1), real HTTP between them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Method, Request, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use weir_config::Config;
use weir_core::{
    BoxFuture, BroadcastRequest, SessionAnswer, SessionError, SessionRequest, SessionService, SessionSummary, StreamKey,
    TrickleOutcome,
};
use weir_stream::{Codec, Directory, Hub, HubConfig, SourceClaim, SourceKind, TrackDesc};
use weir_http::{router, HttpState};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:cli1\r\n";
const SECRET: &str = "035c73f7-bb6b-4889-a715-d9eb2d1925cc";

// ---- fake engine ----

#[derive(Default)]
struct Fake {
    created: Mutex<Vec<SessionRequest>>,
    deleted: Mutex<Vec<String>>,
    seq: Mutex<u32>,
}

impl SessionService for Fake {
    fn create(&self, req: SessionRequest) -> BoxFuture<'_, Result<SessionAnswer, SessionError>> {
        Box::pin(async move {
            self.created.lock().unwrap().push(req);
            let mut n = self.seq.lock().unwrap();
            *n += 1;
            Ok(SessionAnswer { id: format!("s{n}"), token: "tok".into(), sdp: "v=0\r\n".into(), remote_ufrag: "cli1".into() })
        })
    }
    fn delete<'a>(&'a self, id: &'a str, _token: Option<&'a str>) -> BoxFuture<'a, Result<(), SessionError>> {
        Box::pin(async move {
            self.deleted.lock().unwrap().push(id.to_owned());
            Ok(())
        })
    }
    fn trickle<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<TrickleOutcome, SessionError>> {
        Box::pin(async { Ok(TrickleOutcome::Applied) })
    }
    fn stats<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Value, SessionError>> {
        Box::pin(async { Err(SessionError::SessionNotFound) })
    }
    fn list(&self) -> BoxFuture<'_, Vec<SessionSummary>> {
        Box::pin(async { Vec::new() })
    }
    fn broadcast(&self, _: BroadcastRequest) -> BoxFuture<'_, Result<usize, SessionError>> {
        Box::pin(async { Err(SessionError::StreamNotFound) })
    }
    fn engine_stats(&self) -> Value {
        json!({})
    }
}

// ---- hook backend ----

/// Records every hook body; decides by stream name: `deny*` refuses, `hang*` never answers
/// (30 s), `close*` answers `close: true`, `bad*` answers non-JSON; anything else allows.
#[derive(Default, Clone)]
struct Backend {
    calls: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Backend {
    fn of(&self, hook: &str) -> Vec<Value> {
        self.calls.lock().unwrap().iter().filter(|(h, _)| h == hook).map(|(_, b)| b.clone()).collect()
    }
}

async fn hook(State(b): State<Backend>, Path(name): Path<String>, Json(body): Json<Value>) -> axum::response::Response {
    use axum::response::IntoResponse;
    b.calls.lock().unwrap().push((name, body.clone()));
    let stream = body["stream"].as_str().unwrap_or("").to_owned();
    if stream.starts_with("hang") {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if stream.starts_with("bad") {
        return (StatusCode::OK, "not json").into_response();
    }
    if stream.starts_with("deny") {
        return Json(json!({"code": -1, "msg": "no"})).into_response();
    }
    Json(json!({"code": 0, "msg": "success", "close": stream.starts_with("close")})).into_response()
}

async fn backend() -> (Backend, String) {
    let b = Backend::default();
    let app = Router::new().route("/{name}", post(hook)).with_state(b.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (b, format!("http://{addr}"))
}

// ---- harness ----

struct App {
    router: Router,
    fake: Arc<Fake>,
    directory: Arc<Directory>,
}

fn app(base: &str, edit: impl FnOnce(&mut Config)) -> App {
    let mut cfg = Config::default();
    cfg.api.secret = SECRET.into();
    cfg.general.max_stream_wait_ms = 15000;
    cfg.general.media_server_id = "weir-test".into();
    cfg.general.stream_none_reader_delay_ms = 100;
    cfg.general.flow_threshold = 0;
    cfg.hook.enable = true;
    for (field, name) in [
        (&mut cfg.hook.on_publish, "on_publish"),
        (&mut cfg.hook.on_play, "on_play"),
        (&mut cfg.hook.on_stream_not_found, "on_stream_not_found"),
        (&mut cfg.hook.on_stream_none_reader, "on_stream_none_reader"),
        (&mut cfg.hook.on_stream_changed, "on_stream_changed"),
        (&mut cfg.hook.on_flow_report, "on_flow_report"),
    ] {
        *field = format!("{base}/{name}");
    }
    cfg.hook.timeout_sec = 10;
    cfg.hook.retry = 0;
    cfg.hook.retry_delay = 0.0;
    edit(&mut cfg);
    let fake = Arc::new(Fake::default());
    let directory = Directory::new();
    let state = HttpState {
        sessions: fake.clone(),
        directory: directory.clone(),
        streams: None,
        config: Arc::new(cfg),
        ice_servers: weir_http::static_ice_servers(Vec::new()),
        started: Instant::now(),
        rooms: None,
        metrics_refresh: None,
        config_file: None,
    };
    App { router: router(state), fake, directory }
}

struct Resp {
    status: StatusCode,
    body: String,
}

async fn send(router: &Router, method: Method, uri: &str, ct: &str, body: &str) -> Resp {
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1:8080")
        .header("content-type", ct)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    r.extensions_mut().insert(ConnectInfo(peer));
    let resp = router.clone().oneshot(r).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Resp { status, body: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn whip(a: &App, path: &str) -> Resp {
    send(&a.router, Method::POST, path, "application/sdp", OFFER).await
}

async fn zlm(a: &App, query: &str) -> Value {
    let r = send(&a.router, Method::POST, &format!("/index/api/webrtc?{query}"), "text/plain", OFFER).await;
    assert_eq!(r.status, StatusCode::OK);
    serde_json::from_str(&r.body).unwrap()
}

async fn server_json(a: &App) -> Value {
    let r = send(&a.router, Method::GET, &format!("/api/v1/server?secret={SECRET}"), "text/plain", "").await;
    serde_json::from_str::<Value>(&r.body).unwrap()["data"]["hooks"].clone()
}

fn key(stream: &str) -> StreamKey {
    StreamKey::new("__defaultVhost__", "live", stream).unwrap()
}

fn tracks() -> Vec<TrackDesc> {
    vec![TrackDesc::new(Codec::H264)]
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(5), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---- tests ----

#[tokio::test]
async fn publish_and_play_allowed_and_denied_in_every_dialect() {
    // The process-wide recorder before any hook runs, so that their latencies are recorded.
    assert!(weir_http::prometheus::install_recorder().is_some());
    let (b, base) = backend().await;
    let a = app(&base, |_| {});

    // RFC 9725 WHIP / WHEP.
    let r = whip(&a, "/whip/live/cam?token=abc").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = whip(&a, "/whip/live/deny1").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body, "[auth failed]: code:-1 msg:no");
    let r = whip(&a, "/whep/live/cam").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = whip(&a, "/whep/live/deny2").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // ZLMediaKit's /index/api/webrtc: HTTP 200, code -400 with the hook's text.
    assert_eq!(zlm(&a, "type=push&app=live&stream=cam2").await["code"], 0);
    let v = zlm(&a, "type=push&app=live&stream=deny3").await;
    assert_eq!((v["code"].as_i64(), v["msg"].as_str()), (Some(-400), Some("[auth failed]: code:-1 msg:no")));
    assert_eq!(zlm(&a, "type=play&app=live&stream=cam2").await["code"], 0);
    assert_eq!(zlm(&a, "type=play&app=live&stream=deny4").await["code"], -400);
    // ZLMediaKit WHIP: 406 with the text; SRS WHIP: 403.
    let r = whip(&a, "/index/api/whip?app=live&stream=deny5").await;
    assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE);
    assert!(r.body.contains("[auth failed]"), "{}", r.body);
    let r = whip(&a, "/rtc/v1/whip/?app=live&stream=deny6").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Only allowed requests reached the engine, with their params.
    let created: Vec<String> = a.fake.created.lock().unwrap().iter().map(|r| r.key.stream.clone()).collect();
    assert_eq!(created, ["cam", "cam", "cam2", "cam2"]);
    assert_eq!(a.fake.created.lock().unwrap()[0].params, "token=abc");

    // The bodies carry the contract's fields.
    let p = &b.of("on_publish")[0];
    for (k, v) in [
        ("mediaServerId", json!("weir-test")),
        ("app", json!("live")),
        ("stream", json!("cam")),
        ("vhost", json!("__defaultVhost__")),
        ("schema", json!("rtc")),
        ("protocol", json!("rtc")),
        ("params", json!("token=abc")),
        ("ip", json!("127.0.0.1")),
        ("port", json!(50000)),
        ("originType", json!(8)),
        ("originTypeStr", json!("rtc_push")),
    ] {
        assert_eq!(p[k], v, "{k} in {p}");
    }
    assert!(p["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(p["hook_index"].is_u64());
    assert!(b.of("on_play")[0].get("originType").is_none());
    assert_eq!(b.of("on_publish").len(), 6);
    assert_eq!(b.of("on_play").len(), 4);

    let h = server_json(&a).await;
    assert_eq!(h["enabled"], true);
    assert_eq!((h["on_publish"]["calls"].as_u64(), h["on_publish"]["refused"].as_u64()), (Some(6), Some(4)));
    assert_eq!(h["on_play"]["refused"], 2);
    assert_eq!(h["on_publish"]["failed"], 0);

    // /metrics: the latency histogram and the outcomes (other tests of this binary share the
    // process-wide recorder, hence at-least counts).
    let m = send(&a.router, Method::GET, "/metrics", "text/plain", "").await;
    assert_eq!(m.status, StatusCode::OK, "{}", m.body);
    let count = |name: &str| {
        m.body
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.trim().parse::<f64>().ok()))
    };
    assert!(count("weir_hook_duration_seconds_count{hook=\"on_publish\"}").is_some_and(|n| n >= 6.0), "{}", m.body);
    assert!(m.body.contains("weir_hook_duration_seconds_bucket{hook=\"on_play\",le=\"0.005\"}"), "{}", m.body);
    assert!(m.body.contains("weir_hook_requests_total{hook=\"on_publish\",outcome=\"refused\"}"), "{}", m.body);
}

#[tokio::test]
async fn a_hanging_backend_delays_only_its_own_request() {
    let (_b, base) = backend().await;
    let a = Arc::new(app(&base, |c| c.hook.timeout_sec = 2));
    let hanging = {
        let a = a.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            (whip(&a, "/whip/live/hang1").await, t0.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut worst = Duration::ZERO;
    for (i, path) in ["/whip/live/other", "/whep/live/other"].iter().enumerate() {
        let t0 = Instant::now();
        let r = whip(&a, path).await;
        let took = t0.elapsed();
        worst = worst.max(took);
        assert_eq!(r.status, StatusCode::CREATED, "request {i}");
    }
    let v = {
        let t0 = Instant::now();
        let v = zlm(&a, "type=play&app=live&stream=other").await;
        worst = worst.max(t0.elapsed());
        v
    };
    assert_eq!(v["code"], 0);
    println!("requests beside a hanging hook (each asks the backend too): worst {} us", worst.as_micros());
    // Measured about 0.5 ms here; the bound leaves room for a loaded 2-core CI machine.
    assert!(worst < Duration::from_millis(250), "{worst:?}");
    assert!(!hanging.is_finished(), "the hanging request waits for its hook");
    // Its hook times out (timeoutSec=2, retry=0): a failed on_publish denies.
    let (r, took) = hanging.await.unwrap();
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.starts_with("[network err]:timeout"), "{}", r.body);
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(6), "{took:?}");
}

#[tokio::test]
async fn a_backend_that_is_down_denies_after_the_retries() {
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let a = app(&base, |c| {
        c.hook.retry = 2;
        c.hook.retry_delay = 0.1;
    });
    let t0 = Instant::now();
    let r = whip(&a, "/whip/live/cam").await;
    let took = t0.elapsed();
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.starts_with("[network err]:connect"), "{}", r.body);
    assert!(took >= Duration::from_millis(200), "two retries 0.1 s apart: {took:?}");
    let v = zlm(&a, "type=play&app=live&stream=cam").await;
    assert_eq!(v["code"], -400);
    assert!(a.fake.created.lock().unwrap().is_empty());
    let h = server_json(&a).await;
    assert_eq!((h["on_publish"]["calls"].as_u64(), h["on_publish"]["failed"].as_u64()), (Some(1), Some(1)));
    assert_eq!(h["on_play"]["failed"], 1);

    // A non-JSON answer is a failure too; hooks off for a kind means allowed unasked.
    let (_b, base) = backend().await;
    let a = app(&base, |c| c.hook.on_play = String::new());
    assert_eq!(whip(&a, "/whip/live/bad1").await.status, StatusCode::FORBIDDEN);
    assert_eq!(whip(&a, "/whep/live/bad1").await.status, StatusCode::CREATED);
    // hook.enable=0: nothing is asked.
    let a = app(&base, |c| c.hook.enable = false);
    assert_eq!(whip(&a, "/whip/live/deny1").await.status, StatusCode::CREATED);
    assert_eq!(server_json(&a).await["enabled"], false);
}

#[tokio::test]
async fn stream_not_found_asks_then_waits_or_closes() {
    let (b, base) = backend().await;
    let a = app(&base, |_| {});
    // close: true fails the player at once.
    let r = whip(&a, "/whep/live/close1?x=1").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Otherwise the play goes on (the engine waits maxStreamWaitMS for the stream).
    let r = whip(&a, "/whep/live/missing").await;
    assert_eq!(r.status, StatusCode::CREATED);
    let nf = b.of("on_stream_not_found");
    assert_eq!(nf.len(), 2);
    assert_eq!((nf[0]["schema"].as_str(), nf[0]["params"].as_str()), (Some("rtsp"), Some("x=1")));
    // A live stream is not "not found".
    let mut hub: Hub<u32> = Hub::new(HubConfig::default(), a.directory.clone());
    let claim = SourceClaim { id: "pub1".into(), protocol: "whip", tracks: tracks(), kind: SourceKind::Local(1) };
    hub.claim_source(&key("live1"), claim, Instant::now()).unwrap();
    assert_eq!(whip(&a, "/whep/live/live1").await.status, StatusCode::CREATED);
    assert_eq!(b.of("on_stream_not_found").len(), 2);
}

#[tokio::test]
async fn lifecycle_hooks_follow_the_stream() {
    let (b, base) = backend().await;
    let a = app(&base, |_| {});
    let mut hub: Hub<u32> = Hub::new(HubConfig::default(), a.directory.clone());
    let t0 = Instant::now();
    let claim = |id: &str, h| SourceClaim { id: id.into(), protocol: "whip", tracks: tracks(), kind: SourceKind::Local(h) };

    // A stream comes and goes: regist true, then false.
    let id = hub.claim_source(&key("cam"), claim("pub1", 1), t0).unwrap().stream;
    until("regist true", || !b.of("on_stream_changed").is_empty()).await;
    let up = &b.of("on_stream_changed")[0];
    assert_eq!((up["regist"].as_bool(), up["stream"].as_str()), (Some(true), Some("cam")));
    assert_eq!(up["mediaServerId"], "weir-test");
    // Its last player leaves: after streamNoneReaderDelayMS, on_stream_none_reader; the backend
    // keeps "cam" (close false).
    hub.add_local_sink(&key("cam"), 2, "play1", "whep").unwrap();
    hub.remove_local_sink(id, 2, "play1");
    until("none reader", || !b.of("on_stream_none_reader").is_empty()).await;
    assert_eq!(b.of("on_stream_none_reader")[0]["stream"], "cam");
    hub.release_source(id, "pub1", t0);
    until("regist false", || b.of("on_stream_changed").len() == 2).await;
    assert_eq!(b.of("on_stream_changed")[1]["regist"], false);
    assert!(a.fake.deleted.lock().unwrap().is_empty());

    // close: true ends the publisher of a stream nobody watches.
    hub.claim_source(&key("close1"), claim("pub2", 3), t0).unwrap();
    until("close", || !a.fake.deleted.lock().unwrap().is_empty()).await;
    assert_eq!(*a.fake.deleted.lock().unwrap(), ["pub2"]);

    // on_flow_report when a session ends (the engine emits it), with the request's params.
    let r = whip(&a, "/whep/live/cam?k=v").await;
    assert_eq!(r.status, StatusCode::CREATED);
    let sid = a.fake.seq.lock().unwrap().to_string();
    a.directory.session_ended(|| weir_stream::StreamEvent::SessionEnded {
        key: key("cam"),
        session: format!("s{sid}"),
        player: true,
        bytes: 123_456,
        duration: Duration::from_secs(3),
        media_peer: Some("127.0.0.1:9".parse().unwrap()),
    });
    until("flow report", || !b.of("on_flow_report").is_empty()).await;
    let f = &b.of("on_flow_report")[0];
    assert_eq!(
        (f["totalBytes"].as_u64(), f["duration"].as_u64(), f["player"].as_bool(), f["params"].as_str()),
        (Some(123_456), Some(3), Some(true), Some("k=v"))
    );
    let h = server_json(&a).await;
    assert!(h["events_sent"].as_u64().unwrap_or(0) >= 5, "{h}");
    assert_eq!(h["stream_events_dropped"], 0);
}
