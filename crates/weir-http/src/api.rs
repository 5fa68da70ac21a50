//! Weir's own stats API: `GET /api/v1/sessions`, `/api/v1/sessions/{id}`, `/api/v1/streams`,
//! `/api/v1/server`.
//!
//! Protected like ZLMediaKit's management APIs (`http.allow_ip_range`, then `api.secret` from the
//! `secret` query parameter or the `X-Weir-Secret` header). Bodies use ZLMediaKit's envelope
//! (`{"code":0,"data":...}` / `{"code":<n>,"msg":...}`); unlike ZLMediaKit the HTTP status also
//! tells the outcome: 403 address not allowed, 401 secret missing or wrong, 404 unknown session.

use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use weir_core::SessionError;

use crate::util::{self, Args};
use crate::{check_secret, AuthFailure, Inner, Shared};

#[derive(Serialize)]
pub(crate) struct Data<T: Serialize> {
    pub(crate) code: i32,
    pub(crate) data: T,
}

#[derive(Serialize)]
pub(crate) struct CodeMsg<'a> {
    pub(crate) code: i32,
    pub(crate) msg: &'a str,
}

pub(crate) fn reply(inner: &Inner, status: StatusCode, value: &impl Serialize) -> Response {
    util::json_with(status, &util::json_content_type(&inner.cfg()), value)
}

pub(crate) fn authorize(inner: &Inner, req: &Request) -> Result<(), Response> {
    let args = Args::from_parts(req.uri().query(), &axum::http::HeaderMap::new());
    let secret = args
        .query("secret")
        .map(str::to_owned)
        .or_else(|| req.headers().get("x-weir-secret").and_then(|v| v.to_str().ok()).map(str::to_owned));
    check_secret(inner, req, secret.as_deref()).map_err(|f| {
        let status = match f {
            AuthFailure::IpDenied | AuthFailure::DefaultSecretRemote => StatusCode::FORBIDDEN,
            AuthFailure::Missing | AuthFailure::Incorrect => StatusCode::UNAUTHORIZED,
        };
        reply(inner, status, &CodeMsg { code: f.code(), msg: f.msg() })
    })
}

pub(crate) async fn sessions(State(inner): State<Shared>, req: Request) -> Response {
    if let Err(r) = authorize(&inner, &req) {
        return r;
    }
    let list = inner.st.sessions.list().await;
    reply(&inner, StatusCode::OK, &Data { code: 0, data: list })
}

pub(crate) async fn session(State(inner): State<Shared>, Path(id): Path<String>, req: Request) -> Response {
    if let Err(r) = authorize(&inner, &req) {
        return r;
    }
    match inner.st.sessions.stats(&id).await {
        Ok(v) => reply(&inner, StatusCode::OK, &Data { code: 0, data: v }),
        Err(SessionError::SessionNotFound) => {
            reply(&inner, StatusCode::NOT_FOUND, &CodeMsg { code: -500, msg: "session not found" })
        }
        Err(e) => {
            tracing::warn!(session = %id, error = %e, "stats failed");
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            reply(&inner, status, &CodeMsg { code: -1, msg: &e.to_string() })
        }
    }
}

pub(crate) async fn streams(State(inner): State<Shared>, req: Request) -> Response {
    if let Err(r) = authorize(&inner, &req) {
        return r;
    }
    let snap = inner.st.directory.snapshot(Instant::now());
    reply(&inner, StatusCode::OK, &Data { code: 0, data: snap })
}

#[derive(Serialize)]
struct ServerInfo<'a> {
    service: &'static str,
    version: &'static str,
    media_server_id: &'a str,
    pid: u32,
    uptime_ms: u64,
    sessions: usize,
    streams: usize,
    /// The media engine's transport counters (`SessionService::engine_stats`).
    engine: serde_json::Value,
    /// Web hooks: `enabled`, per hook `calls`/`refused`/`failed`/`total_ms`/`max_ms`, and the
    /// stream events (`events_sent`/`events_dropped` by the engine's bounded channel).
    hooks: serde_json::Value,
}

pub(crate) async fn server(State(inner): State<Shared>, req: Request) -> Response {
    if let Err(r) = authorize(&inner, &req) {
        return r;
    }
    let sessions = inner.st.sessions.list().await.len();
    let info = ServerInfo {
        service: "weir",
        version: env!("CARGO_PKG_VERSION"),
        media_server_id: &inner.cfg().general.media_server_id,
        pid: std::process::id(),
        uptime_ms: inner.st.started.elapsed().as_millis() as u64,
        sessions,
        streams: inner.st.directory.len(),
        engine: inner.st.sessions.engine_stats(),
        hooks: inner.hooks_json(),
    };
    reply(&inner, StatusCode::OK, &Data { code: 0, data: info })
}
