//! RFC 9725 WHIP and WHEP: `POST /whip/{app}/{*stream}`, `POST /whep/{app}/{*stream}` and the
//! session resource `/session/{id}/{token}` (DELETE, PATCH for trickle ICE and ICE restarts).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use weir_core::{SessionError, SessionKind, SessionRequest, StreamKey, TrickleOutcome};

use crate::candidates::CandidateOverride;
use crate::util::{self, text, Args};
use crate::Shared;

const SDP: &str = "application/sdp";
const SDPFRAG: &str = "application/trickle-ice-sdpfrag";

pub(crate) async fn publish(State(inner): State<Shared>, Path((app, stream)): Path<(String, String)>, req: Request) -> Response {
    offer(inner, SessionKind::Publish, "whip", app, stream, req).await
}

pub(crate) async fn play(State(inner): State<Shared>, Path((app, stream)): Path<(String, String)>, req: Request) -> Response {
    offer(inner, SessionKind::Play, "whep", app, stream, req).await
}

fn error(e: &SessionError) -> Response {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    text(status, e.to_string())
}

async fn offer(inner: Shared, kind: SessionKind, protocol: &'static str, app: String, stream: String, req: Request) -> Response {
    let cfg = inner.cfg();
    if let Some(token) = cfg.api.bearer_token_for(&app, &stream) {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned());
        if !given.is_some_and(|g| util::ct_eq(&g, &token)) {
            tracing::warn!(app = %app, stream = %stream, protocol, peer = ?crate::peer(&req), "missing or wrong bearer token");
            let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized: a valid bearer token is required");
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    if !util::media_type_is(util::content_type(&req).as_deref(), SDP) {
        tracing::info!(app = %app, stream = %stream, protocol, content_type = ?util::content_type(&req), "offer refused: not application/sdp");
        return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/sdp");
    }
    let host = util::host_header(&req);
    let peer = crate::peer(&req);
    let args = Args::from_parts(req.uri().query(), req.headers());
    let params = req.uri().query().unwrap_or("").to_owned();
    let vhost = util::vhost_of(&cfg, args.query("vhost"), host.as_deref());
    let (parts, body) = req.into_parts();
    let body = match util::read_body(&parts.headers, body, cfg.http.max_req_size).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if body.is_empty() {
        tracing::info!(app = %app, stream = %stream, protocol, "offer refused: empty body");
        return text(StatusCode::BAD_REQUEST, "empty SDP offer");
    }
    let offer = match String::from_utf8(body.to_vec()) {
        Ok(s) => s,
        Err(_) => return error(&SessionError::BadOffer("SDP is not UTF-8".into())),
    };
    let key = match StreamKey::new(&vhost, &app, &stream) {
        Ok(k) => k,
        Err(e) => {
            tracing::info!(app = %app, stream = %stream, protocol, error = %e, "offer refused: bad stream name");
            return text(StatusCode::BAD_REQUEST, format!("bad stream name: {e}"));
        }
    };
    let sreq = SessionRequest {
        kind,
        key: key.clone(),
        offer,
        candidates: inner.candidates(host.as_deref(), &CandidateOverride::None),
        ice_ufrag: None,
        ice_pwd: None,
        peer,
        protocol,
        max_wait: inner.max_wait(kind),
        params,
    };
    let answer = match inner.create_session(sreq).await {
        Ok(a) => a,
        Err(e) => return error(&e),
    };
    let location = format!("/session/{}/{}", util::encode_component(&answer.id), util::encode_component(&answer.token));
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SDP));
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            headers.insert(header::LOCATION, v);
        }
        Err(_) => tracing::error!(stream = %key, session = %answer.id, "cannot build Location header"),
    }
    if let Ok(v) = HeaderValue::from_str(&inner.etag(&answer.id)) {
        headers.insert(header::ETAG, v);
    }
    inner.add_ice_links(&mut headers);
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Location, ETag, Link"));
    (StatusCode::CREATED, headers, answer.sdp).into_response()
}

pub(crate) async fn delete(State(inner): State<Shared>, Path((id, token)): Path<(String, String)>) -> Response {
    match inner.st.sessions.delete(&id, Some(&token)).await {
        Ok(()) => {
            inner.forget_etag(&id);
            tracing::info!(session = %id, "session deleted (RFC 9725 DELETE)");
            StatusCode::OK.into_response()
        }
        Err(e) => {
            tracing::info!(session = %id, error = %e, "session delete refused");
            error(&e)
        }
    }
}

/// `If-Match`: `*` or a list containing the current ETag (weak or strong) passes.
fn if_match_ok(header_value: &str, current: &str) -> bool {
    header_value.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == current)
}

pub(crate) async fn patch(State(inner): State<Shared>, Path((id, token)): Path<(String, String)>, req: Request) -> Response {
    if !util::media_type_is(util::content_type(&req).as_deref(), SDPFRAG) {
        return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/trickle-ice-sdpfrag");
    }
    if let Some(im) = req.headers().get(header::IF_MATCH) {
        let current = inner.etag(&id);
        let ok = im.to_str().map(|v| if_match_ok(v, &current)).unwrap_or(false);
        if !ok {
            tracing::info!(session = %id, "PATCH with a stale If-Match");
            return text(StatusCode::PRECONDITION_FAILED, "If-Match does not match the current ETag");
        }
    }
    let (parts, body): (_, Body) = req.into_parts();
    let body = match util::read_body(&parts.headers, body, inner.cfg().http.max_req_size).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let frag = String::from_utf8_lossy(&body);
    match inner.st.sessions.trickle(&id, &token, &frag).await {
        Ok(TrickleOutcome::Applied) => {
            tracing::debug!(session = %id, "trickle ICE applied");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(TrickleOutcome::Restarted { sdpfrag }) => {
            let etag = inner.bump_etag(&id).await;
            tracing::info!(session = %id, etag = %etag, "ICE restart");
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SDPFRAG));
            if let Ok(v) = HeaderValue::from_str(&etag) {
                headers.insert(header::ETAG, v);
            }
            (StatusCode::OK, headers, sdpfrag).into_response()
        }
        Err(e) => {
            tracing::info!(session = %id, error = %e, "trickle refused");
            error(&e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::if_match_ok;

    #[test]
    fn if_match_forms() {
        assert!(if_match_ok("*", "\"a-1\""));
        assert!(if_match_ok("\"a-1\"", "\"a-1\""));
        assert!(if_match_ok("W/\"a-1\"", "\"a-1\""));
        assert!(if_match_ok("\"x\", \"a-1\"", "\"a-1\""));
        assert!(!if_match_ok("\"a-2\"", "\"a-1\""));
    }
}
