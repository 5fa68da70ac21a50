//! SRS's RTC API (spec part B): WHIP/WHEP on `/rtc/v1/whip/`, `/rtc/v1/whep/`, `/rtc/v1/whip-play/`
//! and the legacy JSON `/rtc/v1/publish/` and `/rtc/v1/play/`.
//!
//! WHIP errors follow SRS >= 7.0.121: the status from [`SessionError::http_status`], a
//! `text/plain; charset=utf-8` body `<srs code>: <name>`, with these SRS codes:
//!
//! | Weir error | SRS code |
//! |---|---|
//! | empty body | 400 `5043: RtcInvalidSdp` |
//! | bad `ice-ufrag` / `ice-pwd` | 400 `5037: RtcInvalidIce` |
//! | bad app/stream name | 400 `5023: RtcInvalidParams` |
//! | `BadOffer` | 400 `5012: RtcSdpDecode` |
//! | `BadRequest` | 400 `5023: RtcInvalidParams` |
//! | `TokenMismatch` | 401 `5036: RtcInvalidSession` |
//! | `StreamNotFound` | 404 `2048: StreamNotFound` |
//! | `SessionNotFound` | 404 `5036: RtcInvalidSession` |
//! | `NoCommonCodec` | 406 `5018: RtcSdpNegotiate` |
//! | `AlreadyPublishing` | 409 `5020: RtcStreamBusy` |
//! | `Internal` | 500 `1021: SystemAssert` |
//! | `Unsupported` | 501 `5021: RtcDisabled` |
//! | `Overloaded` | 503 `1074: ConnectionsExceed` |
//! | `Denied` (a `[hook] on_publish` / `on_play` refusal) | 403 `403: HookDenied` (Weir's own; the JSON API answers `{"code":403}`) |

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use weir_core::{SessionAnswer, SessionError, SessionKind, SessionRequest, StreamKey};

use crate::candidates::CandidateOverride;
use crate::util::{self, Args};
use crate::{Inner, Shared};

fn srs_code(e: &SessionError) -> &'static str {
    match e {
        SessionError::BadOffer(_) => "5012: RtcSdpDecode",
        SessionError::BadRequest(_) => "5023: RtcInvalidParams",
        SessionError::TokenMismatch | SessionError::SessionNotFound => "5036: RtcInvalidSession",
        SessionError::StreamNotFound => "2048: StreamNotFound",
        SessionError::NoCommonCodec(_) => "5018: RtcSdpNegotiate",
        SessionError::AlreadyPublishing => "5020: RtcStreamBusy",
        SessionError::Internal(_) => "1021: SystemAssert",
        SessionError::Unsupported(_) => "5021: RtcDisabled",
        SessionError::Overloaded(_) => "1074: ConnectionsExceed",
        // Weir's own text: SRS's code for a refused callback is not in the contract.
        SessionError::Denied(_) => "403: HookDenied",
    }
}

fn error(status: StatusCode, body: &'static str) -> Response {
    let mut r = util::text(status, body);
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn session_error(e: &SessionError) -> Response {
    error(StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), srs_code(e))
}

fn ice_chars_ok(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/')
}

/// The app and stream of a WHIP call, SRS defaults applied.
fn app_stream(args: &Args) -> (String, String) {
    let app = args.query("app").filter(|s| !s.is_empty()).unwrap_or("live").to_owned();
    let stream = args.query("stream").filter(|s| !s.is_empty()).unwrap_or("livestream").to_owned();
    (app, stream)
}

fn eip_override(args: &Args) -> CandidateOverride {
    let eip = args.query("eip").filter(|s| !s.is_empty()).or_else(|| args.query("candidate").filter(|s| !s.is_empty()));
    match eip {
        Some(v) => CandidateOverride::parse_srs(v).unwrap_or_else(|| {
            tracing::warn!(eip = v, "SRS eip/candidate is not an IP address, ignored");
            CandidateOverride::None
        }),
        None => CandidateOverride::None,
    }
}

/// The vhost SRS would use: `vhost` or `domain` argument, else the Host (when vhosts are on).
fn vhost(inner: &Inner, args: &Args, host: Option<&str>) -> String {
    let arg = args.query("vhost").filter(|s| !s.is_empty()).or_else(|| args.query("domain"));
    util::vhost_of(&inner.cfg(), arg, host)
}

/// `POST /rtc/v1/whip/?app=&stream=[&action=publish|play]`, `/rtc/v1/whep/`, `/rtc/v1/whip-play/`.
pub(crate) async fn whip(State(inner): State<Shared>, req: Request) -> Response {
    let args = Args::from_parts(req.uri().query(), &HeaderMap::new());
    let path = req.uri().path().trim_end_matches('/');
    let play = path.ends_with("/whep")
        || path.ends_with("/whip-play")
        || args.query("action").is_some_and(|a| a.eq_ignore_ascii_case("play"));
    let kind = if play { SessionKind::Play } else { SessionKind::Publish };
    let host = util::host_header(&req);
    let peer = crate::peer(&req);
    let params = req.uri().query().unwrap_or("").to_owned();
    let (parts, body) = req.into_parts();
    let body = match util::read_body(&parts.headers, body, inner.cfg().http.max_req_size).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if body.is_empty() {
        tracing::info!(peer = ?peer, "SRS WHIP: empty offer");
        return error(StatusCode::BAD_REQUEST, "5043: RtcInvalidSdp");
    }
    let ufrag = args.query("ice-ufrag").filter(|s| !s.is_empty()).map(str::to_owned);
    let pwd = args.query("ice-pwd").filter(|s| !s.is_empty()).map(str::to_owned);
    if ufrag.as_deref().is_some_and(|u| !(4..=32).contains(&u.len()) || !ice_chars_ok(u))
        || pwd.as_deref().is_some_and(|p| !(22..=32).contains(&p.len()) || !ice_chars_ok(p))
    {
        tracing::info!(peer = ?peer, "SRS WHIP: invalid ice-ufrag or ice-pwd");
        return error(StatusCode::BAD_REQUEST, "5037: RtcInvalidIce");
    }
    let (app, stream) = app_stream(&args);
    let key = match StreamKey::new(&vhost(&inner, &args, host.as_deref()), &app, &stream) {
        Ok(k) => k,
        Err(e) => {
            tracing::info!(app = %app, stream = %stream, error = %e, "SRS WHIP: bad stream name");
            return error(StatusCode::BAD_REQUEST, "5023: RtcInvalidParams");
        }
    };
    let sreq = SessionRequest {
        kind,
        key,
        offer: String::from_utf8_lossy(&body).into_owned(),
        candidates: inner.candidates(host.as_deref(), &eip_override(&args)),
        ice_ufrag: ufrag,
        ice_pwd: pwd,
        peer,
        protocol: "srs",
        max_wait: inner.max_wait(kind),
        params,
    };
    let answer = match inner.create_session(sreq).await {
        Ok(a) => a,
        Err(e) => return session_error(&e),
    };
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, util::QUERY_VALUE).to_string();
    let location = format!(
        "/rtc/v1/whip/?action=delete&token={}&app={}&stream={}&session={}:{}",
        enc(&answer.token),
        enc(&app),
        enc(&stream),
        enc(&answer.id),
        enc(&answer.remote_ufrag)
    );
    let mut headers = HeaderMap::new();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"));
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            headers.insert(header::LOCATION, v);
        }
        Err(_) => tracing::error!(session = %answer.id, "cannot build Location header"),
    }
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Location, ETag, Link"));
    (StatusCode::CREATED, headers, answer.sdp).into_response()
}

/// `DELETE /rtc/v1/whip/?...&session=<id>:<ufrag>&token=<token>`
pub(crate) async fn delete(State(inner): State<Shared>, req: Request) -> Response {
    let args = Args::from_parts(req.uri().query(), &HeaderMap::new());
    let token = args.query("token").unwrap_or("");
    if token.is_empty() {
        tracing::info!("SRS DELETE: token empty");
        return error(StatusCode::BAD_REQUEST, "5036: RtcInvalidSession");
    }
    let session = args.query("session").unwrap_or("");
    let id = session.split_once(':').map(|(id, _)| id).unwrap_or(session);
    let ok = || {
        let mut r = StatusCode::OK.into_response();
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    if id.is_empty() {
        return ok();
    }
    match inner.st.sessions.delete(id, Some(token)).await {
        Ok(()) => {
            inner.forget_etag(id);
            tracing::info!(session = %id, "session deleted (SRS DELETE)");
            ok()
        }
        // SRS answers 200 for sessions it does not know.
        Err(SessionError::SessionNotFound) => ok(),
        Err(e) => {
            tracing::info!(session = %id, error = %e, "SRS DELETE refused");
            session_error(&e)
        }
    }
}

pub(crate) async fn publish(State(inner): State<Shared>, req: Request) -> Response {
    legacy(inner, SessionKind::Publish, req).await
}

pub(crate) async fn play(State(inner): State<Shared>, req: Request) -> Response {
    legacy(inner, SessionKind::Play, req).await
}

/// `webrtc://host[:port]/app/stream?k=v` → (host, app, stream, query). App defaults to `live`.
pub(crate) fn parse_stream_url(url: &str) -> Option<(String, String, String, String)> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let path = path.trim_matches('/');
    let (app, stream) = match path.rsplit_once('/') {
        Some((app, stream)) => (app.trim_matches('/'), stream),
        None => ("", path),
    };
    if stream.is_empty() {
        return None;
    }
    let app = if app.is_empty() { "live" } else { app };
    Some((host.to_owned(), app.to_owned(), stream.to_owned(), query.to_owned()))
}

/// The compact success body, fields in SRS's order.
#[derive(Serialize)]
struct LegacyAnswer<'a> {
    code: i32,
    server: &'a str,
    service: &'a str,
    pid: String,
    sdp: &'a str,
    sessionid: String,
}

/// `/rtc/v1/publish/` and `/rtc/v1/play/`: JSON `{api, tid, streamurl, clientip, sdp}`.
async fn legacy(inner: Shared, kind: SessionKind, req: Request) -> Response {
    let args = Args::from_parts(req.uri().query(), &HeaderMap::new());
    let callback = args.query("callback").filter(|c| is_js_identifier(c)).map(str::to_owned);
    let respond = |body: String| -> Response {
        let (ct, body) = match &callback {
            Some(cb) => ("text/javascript", format!("{cb}({body})")),
            None => ("application/json", body),
        };
        let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static(ct))], body).into_response();
        r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    };
    let failed = |why: &str| {
        tracing::info!(?kind, reason = why, "SRS RTC API refused");
        respond("{\"code\":400}".to_owned())
    };
    let host_header = util::host_header(&req);
    let peer = crate::peer(&req);
    let (parts, body) = req.into_parts();
    let body = match util::read_body(&parts.headers, body, inner.cfg().http.max_req_size).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let v: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return failed(&format!("body is not JSON: {e}")),
    };
    let (Some(sdp), Some(url)) = (v.get("sdp").and_then(|s| s.as_str()), v.get("streamurl").and_then(|s| s.as_str())) else {
        return failed("sdp and streamurl are required strings");
    };
    if sdp.is_empty() {
        return failed("empty sdp");
    }
    let Some((url_host, app, stream, url_query)) = parse_stream_url(url) else {
        return failed("bad streamurl");
    };
    let url_args = Args::from_parts(Some(&url_query), &HeaderMap::new());
    let vhost = {
        let arg = url_args.query("vhost").filter(|s| !s.is_empty()).or_else(|| url_args.query("domain"));
        util::vhost_of(&inner.cfg(), arg, Some(&url_host))
    };
    let key = match StreamKey::new(&vhost, &app, &stream) {
        Ok(k) => k,
        Err(e) => return failed(&format!("bad stream name: {e}")),
    };
    let sreq = SessionRequest {
        kind,
        key,
        offer: sdp.to_owned(),
        candidates: inner.candidates(host_header.as_deref(), &eip_override(&args)),
        ice_ufrag: None,
        ice_pwd: None,
        peer,
        protocol: "srs",
        max_wait: inner.max_wait(kind),
        params: url_query,
    };
    let a: SessionAnswer = match inner.create_session(sreq).await {
        Ok(a) => a,
        Err(e @ SessionError::Denied(_)) => {
            tracing::info!(?kind, reason = %e, "SRS RTC API refused by hook");
            return respond("{\"code\":403}".to_owned());
        }
        Err(e) => return failed(&e.to_string()),
    };
    let out = LegacyAnswer {
        code: 0,
        server: &inner.cfg().general.media_server_id,
        service: "weir",
        pid: std::process::id().to_string(),
        sdp: &a.sdp,
        sessionid: format!("{}:{}", a.id, a.remote_ufrag),
    };
    match serde_json::to_string(&out) {
        Ok(s) => respond(s),
        Err(e) => failed(&e.to_string()),
    }
}

/// JSONP callback names are restricted to identifier characters (no script injection).
fn is_js_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_urls() {
        let p = parse_stream_url;
        assert_eq!(
            p("webrtc://host:1985/live/cam?k=v"),
            Some(("host:1985".into(), "live".into(), "cam".into(), "k=v".into()))
        );
        assert_eq!(p("webrtc://host/cam"), Some(("host".into(), "live".into(), "cam".into(), "".into())));
        assert_eq!(p("webrtc://host/a/b/c"), Some(("host".into(), "a/b".into(), "c".into(), "".into())));
        assert_eq!(p("webrtc://host/"), None);
    }

    #[test]
    fn jsonp_names() {
        assert!(is_js_identifier("jQuery_123.cb"));
        assert!(!is_js_identifier("alert(1)"));
        assert!(!is_js_identifier(""));
    }
}
