//! ZLMediaKit's generic management APIs as they apply to WebRTC (API contract §A8): `version`,
//! `getServerConfig`, `getAllSession`, `kick_session`, `kick_sessions`, `close_stream`,
//! `close_streams`, `getStatistic`. All of them pass `CHECK_SECRET` first (`management_args`).
//!
//! Where ZLMediaKit's effect is weaker than its name, Weir does what the name says: `kick_session`
//! ends the WebRTC session (ZLMediaKit only detaches an ICE pair, which may come back), and
//! `close_stream` ends the publishing session, so its players see the stream end.
//! `setServerConfig` and `restartServer` live in `zlm_config.rs`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use axum::extract::Request;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use weir_core::{SessionKind, SessionSummary};

use crate::zlm::{err, json, management_args, normalize_vhost, required_stream_args, schema_matches};
use crate::Shared;

/// ZLMediaKit's `typeid` for a WebRTC media session (`mediakit::WebRtcSession`), kept so tools
/// that filter `getAllSession` by it find Weir's sessions too.
const RTC_SESSION_TYPEID: &str = "mediakit::WebRtcSession";

/// `version`: `{"code":0,"data":{"branchName","buildTime","commitHash"}}` plus Weir's version.
pub(crate) async fn version(inner: Shared, req: Request) -> Response {
    if let Err(r) = management_args(&inner, req).await {
        return r;
    }
    #[derive(Serialize)]
    #[allow(non_snake_case)]
    struct Version {
        branchName: &'static str,
        buildTime: &'static str,
        commitHash: &'static str,
        server: &'static str,
        version: &'static str,
    }
    #[derive(Serialize)]
    struct Reply {
        code: i32,
        data: Version,
    }
    let data = Version {
        branchName: "weir",
        buildTime: option_env!("WEIR_BUILD_TIME").unwrap_or(""),
        commitHash: option_env!("WEIR_COMMIT").unwrap_or(""),
        server: "weir",
        version: env!("CARGO_PKG_VERSION"),
    };
    json(&inner, &Reply { code: 0, data })
}

/// `getServerConfig`: `{"code":0,"data":[{"section.key":"value",...}]}`, every key Weir reads
/// with its effective value (as `weir --dump-config` prints it).
pub(crate) async fn get_server_config(inner: Shared, req: Request) -> Response {
    if let Err(r) = management_args(&inner, req).await {
        return r;
    }
    let flat: BTreeMap<String, String> = inner.cfg().entries().into_iter().collect();
    #[derive(Serialize)]
    struct Reply {
        code: i32,
        data: [BTreeMap<String, String>; 1],
    }
    json(&inner, &Reply { code: 0, data: [flat] })
}

/// One `getAllSession` item.
#[derive(Serialize)]
struct SessionItem {
    id: String,
    identifier: String,
    local_ip: String,
    local_port: u16,
    peer_ip: String,
    peer_port: u16,
    #[serde(rename = "type")]
    kind: &'static str,
    typeid: &'static str,
    /// Weir's additions: what the session does and on which stream.
    role: &'static str,
    app: String,
    stream: String,
    vhost: String,
    state: &'static str,
}

/// The sessions matching `local_port` and `peer_ip` (both optional; a filter that does not parse
/// matches nothing, as a wrong value would in ZLMediaKit).
fn matching_sessions(inner: &Shared, all: Vec<SessionSummary>, local_port: Option<&str>, peer_ip: Option<&str>) -> Vec<SessionSummary> {
    let rtc_port = inner.cfg().rtc.port;
    let want_port = local_port.map(|p| p.parse::<u16>().ok());
    let want_ip = peer_ip.map(|p| p.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok());
    all.into_iter()
        .filter(|_| match want_port {
            None => true,
            Some(p) => p == Some(rtc_port),
        })
        .filter(|s| match &want_ip {
            None => true,
            Some(ip) => ip.is_some() && s.peer.map(|a| a.ip().to_canonical()) == ip.map(|i| i.to_canonical()),
        })
        .collect()
}

/// `getAllSession?local_port=&peer_ip=`: the WebRTC sessions (the P2P signaling WebSockets are
/// listed by `listWebrtcRooms`).
pub(crate) async fn get_all_session(inner: Shared, req: Request) -> Response {
    let args = match management_args(&inner, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let all = inner.st.sessions.list().await;
    let rtc_port = inner.cfg().rtc.port;
    let local_ip = inner.cfg().rtc.ip.clone();
    let items: Vec<SessionItem> = matching_sessions(&inner, all, args.nonempty("local_port"), args.nonempty("peer_ip"))
        .into_iter()
        .map(|s| SessionItem {
            identifier: s.id.clone(),
            id: s.id,
            local_ip: local_ip.clone(),
            local_port: rtc_port,
            peer_ip: s.peer.map(|p| p.ip().to_canonical().to_string()).unwrap_or_default(),
            peer_port: s.peer.map(|p| p.port()).unwrap_or(0),
            kind: "rtc",
            typeid: RTC_SESSION_TYPEID,
            role: kind_name(s.kind),
            app: s.stream.app,
            stream: s.stream.stream,
            vhost: s.stream.vhost,
            state: s.state,
        })
        .collect();
    #[derive(Serialize)]
    struct Reply {
        code: i32,
        data: Vec<SessionItem>,
    }
    json(&inner, &Reply { code: 0, data: items })
}

fn kind_name(k: SessionKind) -> &'static str {
    match k {
        SessionKind::Publish => "publish",
        SessionKind::Play => "play",
        _ => "echo",
    }
}

/// `kick_session?id=`: ends that WebRTC session. Unknown id: `{"code":-1,"msg":"can not find the target"}`.
pub(crate) async fn kick_session(inner: Shared, req: Request) -> Response {
    let args = match management_args(&inner, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(id) = args.nonempty("id").map(str::to_owned) else {
        return err(&inner, -300, "Required parameter missed: \"id\"");
    };
    match inner.st.sessions.delete(&id, None).await {
        Ok(()) => {
            tracing::info!(session = %id, "kick_session: session ended");
            #[derive(Serialize)]
            struct Reply {
                code: i32,
                msg: &'static str,
            }
            json(&inner, &Reply { code: 0, msg: "success" })
        }
        Err(_) => err(&inner, -1, "can not find the target"),
    }
}

/// `kick_sessions?local_port=&peer_ip=`: ends every matching session; `{"code":0,"count_hit":N}`.
pub(crate) async fn kick_sessions(inner: Shared, req: Request) -> Response {
    let args = match management_args(&inner, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let all = inner.st.sessions.list().await;
    let hit = matching_sessions(&inner, all, args.nonempty("local_port"), args.nonempty("peer_ip"));
    let mut count = 0usize;
    for s in &hit {
        if inner.st.sessions.delete(&s.id, None).await.is_ok() {
            count += 1;
        }
    }
    tracing::info!(count, "kick_sessions: sessions ended");
    #[derive(Serialize)]
    struct Reply {
        code: i32,
        count_hit: usize,
    }
    json(&inner, &Reply { code: 0, count_hit: count })
}

/// Closes the matching streams' sources; returns (hit, closed).
async fn close_matching(inner: &Shared, vhost: Option<String>, app: Option<&str>, stream: Option<&str>) -> (usize, usize) {
    let snaps = inner.st.directory.snapshot(Instant::now());
    let mut hit = 0;
    let mut closed = 0;
    for s in snaps
        .iter()
        .filter(|s| vhost.as_deref().is_none_or(|v| v == s.key.vhost))
        .filter(|s| app.is_none_or(|a| a == s.key.app))
        .filter(|s| stream.is_none_or(|st| st == s.key.stream))
    {
        hit += 1;
        let Some(source) = &s.source_session else { continue };
        match inner.st.sessions.delete(source, None).await {
            Ok(()) => {
                closed += 1;
                tracing::info!(stream = %s.key, session = %source, "close_stream: source session ended");
            }
            Err(e) => tracing::warn!(stream = %s.key, session = %source, error = %e, "close_stream: the source is not a WebRTC session here"),
        }
    }
    (hit, closed)
}

/// `close_stream?schema=&vhost=&app=&stream=&force=` (all four names required):
/// `{"code":0,"result":0,"msg":"success"}`, or `{"code":-1,"result":-1,"msg":"close failed"}`;
/// a stream that does not exist: `-500 can not find the stream`.
pub(crate) async fn close_stream(inner: Shared, req: Request) -> Response {
    let args = match management_args(&inner, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (schema, vhost, app, stream) = match required_stream_args(&inner, &args) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !schema_matches(Some(schema)) {
        return err(&inner, -500, "can not find the stream");
    }
    let (hit, closed) = close_matching(&inner, Some(normalize_vhost(&inner, vhost)), Some(app), Some(stream)).await;
    #[derive(Serialize)]
    struct Reply {
        code: i32,
        result: i32,
        msg: &'static str,
    }
    match (hit, closed) {
        (0, _) => err(&inner, -500, "can not find the stream"),
        (_, 0) => json(&inner, &Reply { code: -1, result: -1, msg: "close failed" }),
        _ => json(&inner, &Reply { code: 0, result: 0, msg: "success" }),
    }
}

/// `close_streams?schema=&vhost=&app=&stream=&force=` (all optional): `{"code":0,"count_hit":N,"count_closed":N}`.
pub(crate) async fn close_streams(inner: Shared, req: Request) -> Response {
    let args = match management_args(&inner, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    #[derive(Serialize)]
    struct Reply {
        code: i32,
        count_hit: usize,
        count_closed: usize,
    }
    if !schema_matches(args.nonempty("schema")) {
        return json(&inner, &Reply { code: 0, count_hit: 0, count_closed: 0 });
    }
    let vhost = args.nonempty("vhost").map(|v| normalize_vhost(&inner, v));
    let (count_hit, count_closed) = close_matching(&inner, vhost, args.nonempty("app"), args.nonempty("stream")).await;
    json(&inner, &Reply { code: 0, count_hit, count_closed })
}

/// `getStatistic`: counts of the live objects, under ZLMediaKit's names where one exists
/// (`MediaSource`, `WebRtcTransport`), plus Weir's (`RtcPublisher`, `RtcPlayer`).
pub(crate) async fn get_statistic(inner: Shared, req: Request) -> Response {
    if let Err(r) = management_args(&inner, req).await {
        return r;
    }
    let all = inner.st.sessions.list().await;
    let count = |k: SessionKind| all.iter().filter(|s| s.kind == k).count();
    #[allow(non_snake_case)]
    #[derive(Serialize)]
    struct Stat {
        MediaSource: usize,
        WebRtcTransport: usize,
        RtcPublisher: usize,
        RtcPlayer: usize,
    }
    #[derive(Serialize)]
    struct Reply {
        code: i32,
        data: Stat,
    }
    let data = Stat {
        MediaSource: inner.st.directory.len(),
        WebRtcTransport: all.len(),
        RtcPublisher: count(SessionKind::Publish),
        RtcPlayer: count(SessionKind::Play),
    };
    json(&inner, &Reply { code: 0, data })
}

/// `getThreadsLoad` (and `getWorkThreadsLoad`): ZLMediaKit lists its event-poller threads with
/// `load` (busy percent) and `delay` (ms a posted task waits). Weir's media engine is one
/// thread: its load is the share of wall time its loop spent working since the previous call
/// (`engine.loop.busy_ns`, published every 500 ms), its delay the round trip of a command
/// through its queue measured now.
pub(crate) async fn get_threads_load(inner: Shared, req: Request) -> Response {
    if let Err(r) = management_args(&inner, req).await {
        return r;
    }
    let t0 = Instant::now();
    let _ = inner.st.sessions.list().await;
    let delay_ms = t0.elapsed().as_millis() as u64;
    let busy_ns = inner.st.sessions.engine_stats().pointer("/loop/busy_ns").and_then(Value::as_u64).unwrap_or(0);
    let now = Instant::now();
    let (since, busy_before) = inner.load_sample.lock().replace((now, busy_ns)).unwrap_or((inner.st.started, 0));
    let wall_ns = now.saturating_duration_since(since).as_nanos().max(1) as f64;
    let load = ((busy_ns.saturating_sub(busy_before)) as f64 / wall_ns * 100.0).round().clamp(0.0, 100.0) as u64;
    json(&inner, &serde_json::json!({"code": 0, "data": [{"load": load, "delay": delay_ms, "name": "weir-media"}]}))
}
