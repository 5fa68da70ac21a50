//! ZLMediaKit's `/index/api/*` (spec part A): `webrtc`, `whip`, `whep`, `delete_webrtc`, and the
//! secret-protected `getMediaList` / `isMediaOnline` / `listWebrtcRooms`.
//!
//! JSON answers use HTTP 200 and carry the result in `code` (0 ok, -100 auth, -300 missing
//! argument, -400 exception, -500 not found). Keys are written in sorted order like jsoncpp.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use weir_core::{SessionError, SessionKind, SessionRequest, StreamKey, DEFAULT_VHOST};
use weir_stream::{MediaKind, StreamSnapshot, TrackDesc};

use crate::candidates::CandidateOverride;
use crate::util::{self, Args};
use crate::{check_secret, zlm_admin, zlm_config, Inner, Shared};

/// The text of ZLMediaKit's `CHECK(!offer.empty(), ...)` failure. ZLMediaKit appends the source
/// path and line; clients only match the prefix.
pub(crate) const EMPTY_OFFER: &str = "Assertion failed: (!offer.empty(), http body(webrtc offer sdp) is empty), function operator(), file WebApi.cpp, line 0.";
const MISSING_APP_STREAM: &str = "Required parameter missed: \"app\", \"stream\"";
const UNSUPPORTED_TYPE: &str = "the type can not supported";

#[derive(Serialize)]
struct CodeMsg<'a> {
    code: i32,
    msg: &'a str,
}

#[derive(Serialize)]
struct CodeOnly {
    code: i32,
}

#[derive(Serialize)]
struct Answer<'a> {
    code: i32,
    id: &'a str,
    sdp: &'a str,
    #[serde(rename = "type")]
    ty: &'a str,
}

pub(crate) fn json(inner: &Inner, value: &impl Serialize) -> Response {
    util::json_with(StatusCode::OK, &util::json_content_type(&inner.cfg()), value)
}

pub(crate) fn err(inner: &Inner, code: i32, msg: &str) -> Response {
    json(inner, &CodeMsg { code, msg })
}

pub(crate) async fn api(State(inner): State<Shared>, Path(name): Path<String>, req: Request) -> Response {
    dispatch(inner, &name, req).await
}

/// Routes one `/index/api/<name>` call; `name` matches case-insensitively.
pub(crate) async fn dispatch(inner: Shared, name: &str, req: Request) -> Response {
    match name.to_ascii_lowercase().as_str() {
        "webrtc" => webrtc(inner, req).await,
        "whip" => whip_whep(inner, SessionKind::Publish, req).await,
        "whep" => whip_whep(inner, SessionKind::Play, req).await,
        "delete_webrtc" => delete_webrtc(inner, req).await,
        "getmedialist" => get_media_list(inner, req).await,
        "ismediaonline" => is_media_online(inner, req).await,
        "listwebrtcrooms" => list_webrtc_rooms(inner, req).await,
        "broadcastmessage" => broadcast_message(inner, req).await,
        "version" => zlm_admin::version(inner, req).await,
        "getserverconfig" => zlm_admin::get_server_config(inner, req).await,
        "getallsession" => zlm_admin::get_all_session(inner, req).await,
        "kick_session" => zlm_admin::kick_session(inner, req).await,
        "kick_sessions" => zlm_admin::kick_sessions(inner, req).await,
        "close_stream" => zlm_admin::close_stream(inner, req).await,
        "close_streams" => zlm_admin::close_streams(inner, req).await,
        "getstatistic" => zlm_admin::get_statistic(inner, req).await,
        "getthreadsload" | "getworkthreadsload" => zlm_admin::get_threads_load(inner, req).await,
        "setserverconfig" => zlm_config::set_server_config(inner, req).await,
        "restartserver" => zlm_config::restart_server(inner, req).await,
        _ => util::text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Reads the body of an API call (the SDP offer, or form/JSON arguments).
async fn body_of(inner: &Inner, req: Request) -> Result<(axum::http::request::Parts, Bytes), Response> {
    let (parts, body) = req.into_parts();
    match util::read_body(&parts.headers, body, inner.cfg().http.max_req_size).await {
        Ok(b) => Ok((parts, b)),
        Err(e) => Err(e.into_response()),
    }
}

struct Offer {
    key: StreamKey,
    offer: String,
    host: Option<String>,
    args: Args,
    /// The raw query, for the hooks' `params`.
    params: String,
}

/// The common part of `webrtc` / `whip` / `whep`: empty-body check, then `app`/`stream`.
/// Errors are the JSON answers ZLMediaKit gives for them (HTTP 200).
fn parse_offer(inner: &Inner, parts: &axum::http::request::Parts, args: Args, body: &Bytes) -> Result<Offer, Response> {
    if body.is_empty() {
        tracing::info!(path = parts.uri.path(), "ZLM API: empty offer");
        return Err(err(inner, -400, EMPTY_OFFER));
    }
    let (Some(app), Some(stream)) = (args.nonempty("app"), args.nonempty("stream")) else {
        tracing::info!(path = parts.uri.path(), "ZLM API: app or stream missing");
        return Err(err(inner, -300, MISSING_APP_STREAM));
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    let vhost = util::vhost_of(&inner.cfg(), args.get("vhost"), host.as_deref());
    let key = StreamKey::new(&vhost, app, stream).map_err(|e| {
        tracing::info!(app, stream, error = %e, "ZLM API: bad stream name");
        err(inner, -400, &e.to_string())
    })?;
    let offer = String::from_utf8_lossy(body).into_owned();
    Ok(Offer { key, offer, host, args, params: parts.uri.query().unwrap_or("").to_owned() })
}

fn session_request(inner: &Inner, kind: SessionKind, o: Offer, peer: Option<std::net::SocketAddr>) -> SessionRequest {
    let ov = CandidateOverride::parse_zlm(o.args.get("cand_udp"), o.args.get("cand_tcp")).unwrap_or_default();
    if o.args.flag("preferred_tcp").is_some() {
        tracing::debug!(stream = %o.key, "preferred_tcp per request is not supported; rtc.preferred_tcp applies");
    }
    SessionRequest {
        kind,
        key: o.key,
        offer: o.offer,
        candidates: inner.candidates(o.host.as_deref(), &ov),
        ice_ufrag: None,
        ice_pwd: None,
        peer,
        protocol: "zlm",
        max_wait: inner.max_wait(kind),
        params: o.params,
    }
}

/// `/index/api/webrtc?type=push|play|echo&app=&stream=`
async fn webrtc(inner: Shared, req: Request) -> Response {
    let args = Args::from_parts(req.uri().query(), req.headers());
    let peer = crate::peer(&req);
    let Some(ty) = args.nonempty("type").map(str::to_owned) else {
        return err(&inner, -300, "Required parameter missed: \"type\"");
    };
    let (parts, body) = match body_of(&inner, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let offer = match parse_offer(&inner, &parts, args, &body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let kind = match ty.as_str() {
        "push" => SessionKind::Publish,
        "play" => SessionKind::Play,
        "echo" if inner.cfg().rtc.enable_echo => SessionKind::Echo,
        _ => {
            tracing::info!(stream = %offer.key, ty = %ty, "webrtc API: unsupported type");
            return err(&inner, -400, UNSUPPORTED_TYPE);
        }
    };
    let sreq = session_request(&inner, kind, offer, peer);
    match inner.create_session(sreq).await {
        Ok(a) => json(&inner, &Answer { code: 0, id: &a.id, sdp: &a.sdp, ty: "answer" }),
        Err(e) => err(&inner, -400, &e.to_string()),
    }
}

/// `/index/api/whip` and `/index/api/whep`.
async fn whip_whep(inner: Shared, kind: SessionKind, req: Request) -> Response {
    let args = Args::from_parts(req.uri().query(), req.headers());
    let peer = crate::peer(&req);
    let (parts, body) = match body_of(&inner, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    // ZLMediaKit's `allArgs["host"]`: a `host` query argument, else the Host header, verbatim.
    let location_host = args
        .query("host")
        .map(str::to_owned)
        .or_else(|| parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(str::to_owned))
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let offer = match parse_offer(&inner, &parts, args, &body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let sreq = session_request(&inner, kind, offer, peer);
    let answer = match inner.create_session(sreq).await {
        Ok(a) => a,
        Err(e) => {
            return (StatusCode::NOT_ACCEPTABLE, [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))], e.to_string())
                .into_response()
        }
    };
    let location = format!(
        "http://{location_host}/index/api/delete_webrtc?id={}&token={}",
        util::encode_component(&answer.id),
        util::encode_component(&answer.token)
    );
    let mut resp = (StatusCode::CREATED, [(header::CONTENT_TYPE, HeaderValue::from_static("application/sdp"))], answer.sdp)
        .into_response();
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => tracing::error!(session = %answer.id, "cannot build Location header (bad Host?)"),
    }
    resp.headers_mut().insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("Location, ETag, Link"));
    resp
}

/// `DELETE /index/api/delete_webrtc?id=&token=`
async fn delete_webrtc(inner: Shared, req: Request) -> Response {
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_owned);
    let (parts, body) = match body_of(&inner, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let args = Args::from_parts(query.as_deref(), &parts.headers).with_body(ct, &body);
    let (Some(id), Some(token)) = (args.nonempty("id"), args.nonempty("token")) else {
        return err(&inner, -300, "Required parameter missed: \"id\", \"token\"");
    };
    if method != Method::DELETE {
        let msg = format!(
            "Assertion failed: (method == \"DELETE\", http method is not DELETE: {method}), function operator(), file WebApi.cpp, line 0."
        );
        return err(&inner, -400, &msg);
    }
    let ct = util::json_content_type(&inner.cfg());
    let reply = |status: StatusCode, body: &'static str| -> Response {
        let ct = HeaderValue::from_str(&ct).unwrap_or(HeaderValue::from_static("application/json"));
        (status, [(header::CONTENT_TYPE, ct)], body).into_response()
    };
    match inner.st.sessions.delete(id, Some(token)).await {
        Ok(()) => {
            inner.forget_etag(id);
            tracing::info!(session = %id, "session deleted (delete_webrtc)");
            reply(StatusCode::OK, "")
        }
        Err(SessionError::SessionNotFound) => {
            tracing::info!(session = %id, "delete_webrtc: id not found");
            reply(StatusCode::NOT_FOUND, "id not found")
        }
        Err(SessionError::TokenMismatch) => {
            tracing::info!(session = %id, "delete_webrtc: token incorrect");
            reply(StatusCode::UNAUTHORIZED, "token incorrect")
        }
        Err(e) => {
            tracing::warn!(session = %id, error = %e, "delete_webrtc failed");
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            util::text(status, e.to_string())
        }
    }
}

/// Arguments of a management API (query, form/JSON body, headers) after the secret check.
pub(crate) async fn management_args(inner: &Inner, req: Request) -> Result<Args, Response> {
    let query = req.uri().query().map(str::to_owned);
    let (parts, body) = body_of(inner, req).await?;
    let ct = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let args = Args::from_parts(query.as_deref(), &parts.headers).with_body(ct, &body);
    let probe = axum::http::Request::from_parts(parts, ());
    if let Err(f) = check_secret(inner, &probe, args.get("secret")) {
        return Err(err(inner, f.code(), f.msg()));
    }
    Ok(args)
}

/// One `getMediaList` item (`makeMediaSourceJson`), as far as Weir knows the fields.
#[derive(Serialize)]
#[allow(non_snake_case)]
struct MediaItem {
    aliveSecond: u64,
    app: String,
    createStamp: u64,
    isRecordingHLS: bool,
    isRecordingMP4: bool,
    originType: i32,
    originTypeStr: &'static str,
    originUrl: String,
    readerCount: usize,
    schema: &'static str,
    stream: String,
    totalReaderCount: u64,
    tracks: Vec<MediaTrack>,
    vhost: String,
}

#[derive(Serialize)]
struct MediaTrack {
    #[serde(skip_serializing_if = "Option::is_none")]
    channels: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    codec_id: Option<i32>,
    codec_id_name: String,
    /// ZLMediaKit's `TrackType`: 0 video, 1 audio.
    codec_type: i32,
    ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    sample_rate: Option<u32>,
}

/// ZLMediaKit's `CodecId` number and name for an SDP codec name.
fn zlm_codec(codec: &str) -> (Option<i32>, String) {
    let known: &[(&str, i32)] = &[
        ("H264", 0),
        ("H265", 1),
        ("mpeg4-generic", 2),
        ("PCMA", 3),
        ("PCMU", 4),
        ("opus", 5),
        ("L16", 6),
        ("VP8", 7),
        ("VP9", 8),
        ("AV1", 9),
    ];
    let c = if codec.eq_ignore_ascii_case("hevc") { "H265" } else { codec };
    match known.iter().find(|(n, _)| n.eq_ignore_ascii_case(c)) {
        Some((n, id)) => (Some(*id), (*n).to_owned()),
        None => (None, codec.to_owned()),
    }
}

fn media_track(t: &TrackDesc, ready: bool) -> MediaTrack {
    let (codec_id, codec_id_name) = zlm_codec(t.codec.sdp_name());
    let audio = t.kind == MediaKind::Audio;
    MediaTrack {
        channels: if audio { Some(t.channels.unwrap_or(1)) } else { None },
        codec_id,
        codec_id_name,
        codec_type: if audio { 1 } else { 0 },
        ready,
        sample_rate: audio.then_some(t.clock_rate),
    }
}

fn origin_of(protocol: Option<&str>) -> (i32, &'static str) {
    match protocol {
        Some("rtmp") => (1, "rtmp_push"),
        Some("rtsp") => (2, "rtsp_push"),
        Some("rtp") => (3, "rtp_push"),
        _ => (8, "rtc_push"),
    }
}

fn media_item(s: &StreamSnapshot, now_unix: u64) -> MediaItem {
    let (origin_type, origin_type_str) = origin_of(s.source_protocol);
    let alive = s.alive_ms / 1000;
    let ready = s.source_session.is_some();
    MediaItem {
        aliveSecond: alive,
        app: s.key.app.clone(),
        createStamp: now_unix.saturating_sub(alive),
        isRecordingHLS: false,
        isRecordingMP4: false,
        originType: origin_type,
        originTypeStr: origin_type_str,
        originUrl: format!("rtc://{}/{}/{}", s.key.vhost, s.key.app, s.key.stream),
        readerCount: s.sinks.len(),
        schema: "rtsp",
        stream: s.key.stream.clone(),
        totalReaderCount: s.total_sinks,
        tracks: s.tracks.iter().map(|t| media_track(t, ready)).collect(),
        vhost: s.key.vhost.clone(),
    }
}

/// WebRTC streams are RTSP media sources in ZLMediaKit; no other schema exists in Weir yet.
pub(crate) fn schema_matches(schema: Option<&str>) -> bool {
    // A WebRTC stream is an `rtsp` source in ZLMediaKit; `rtc`/`webrtc` are accepted as well.
    schema.is_none_or(|s| s.is_empty() || ["rtsp", "rtc", "webrtc"].iter().any(|x| s.eq_ignore_ascii_case(x)))
}

pub(crate) fn normalize_vhost(inner: &Inner, vhost: &str) -> String {
    if !inner.cfg().general.enable_vhost || vhost.is_empty() {
        DEFAULT_VHOST.to_owned()
    } else {
        vhost.to_owned()
    }
}

/// `getMediaList?secret=&schema=&vhost=&app=&stream=`
async fn get_media_list(inner: Shared, req: Request) -> Response {
    let args = match management_args(&inner, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let now_unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let vhost = args.nonempty("vhost").map(|v| normalize_vhost(&inner, v));
    let app = args.nonempty("app");
    let stream = args.nonempty("stream");
    if !schema_matches(args.nonempty("schema")) {
        return json(&inner, &CodeOnly { code: 0 });
    }
    let items: Vec<MediaItem> = inner
        .st
        .directory
        .snapshot(Instant::now())
        .iter()
        .filter(|s| vhost.as_deref().is_none_or(|v| v == s.key.vhost))
        .filter(|s| app.is_none_or(|a| a == s.key.app))
        .filter(|s| stream.is_none_or(|st| st == s.key.stream))
        .map(|s| media_item(s, now_unix))
        .collect();
    if items.is_empty() {
        return json(&inner, &CodeOnly { code: 0 });
    }
    #[derive(Serialize)]
    struct List {
        code: i32,
        data: Vec<MediaItem>,
    }
    json(&inner, &List { code: 0, data: items })
}

/// The four names `isMediaOnline`, `close_stream` and friends require, or ZLMediaKit's -300 answer.
pub(crate) fn required_stream_args<'a>(inner: &Inner, args: &'a Args) -> Result<(&'a str, &'a str, &'a str, &'a str), Response> {
    match (args.nonempty("schema"), args.nonempty("vhost"), args.nonempty("app"), args.nonempty("stream")) {
        (Some(schema), Some(vhost), Some(app), Some(stream)) => Ok((schema, vhost, app, stream)),
        _ => Err(err(inner, -300, "Required parameter missed: \"schema\", \"vhost\", \"app\", \"stream\"")),
    }
}

/// `isMediaOnline?secret=&schema=&vhost=&app=&stream=`
async fn is_media_online(inner: Shared, req: Request) -> Response {
    let args = match management_args(&inner, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (schema, vhost, app, stream) = match required_stream_args(&inner, &args) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let online = schema_matches(Some(schema))
        && StreamKey::new(&normalize_vhost(&inner, vhost), app, stream)
            .ok()
            .is_some_and(|k| inner.st.directory.get(&k, Instant::now()).is_some());
    #[derive(Serialize)]
    struct Online {
        code: i32,
        online: bool,
    }
    json(&inner, &Online { code: 0, online })
}

/// `broadcastMessage?secret=&schema=&vhost=&app=&stream=&msg=` (ZLMediaKit §A7): delivers `msg`
/// as a text message on the DataChannel of every player of the stream. Weir's additions:
/// `target=players|publisher|all`, `session=<id>` (one session), `binary=1` (`msg` is base64 and
/// is sent as a binary message). The reply adds `count`, the sessions the message was queued for.
async fn broadcast_message(inner: Shared, req: Request) -> Response {
    use base64::Engine as _;
    let args = match management_args(&inner, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(schema), Some(vhost), Some(app), Some(stream), Some(msg)) = (
        args.nonempty("schema"),
        args.nonempty("vhost"),
        args.nonempty("app"),
        args.nonempty("stream"),
        args.nonempty("msg"),
    ) else {
        return err(&inner, -300, "Required parameter missed: \"schema\", \"vhost\", \"app\", \"stream\", \"msg\"");
    };
    let target = match args.nonempty("target").map(str::to_ascii_lowercase).as_deref() {
        None | Some("players") => weir_core::BroadcastTarget::Players,
        Some("publisher") => weir_core::BroadcastTarget::Publisher,
        Some("all") => weir_core::BroadcastTarget::All,
        Some(other) => return err(&inner, -300, &format!("invalid target {other:?}: players, publisher or all")),
    };
    let binary = args.nonempty("binary").is_some_and(|b| b == "1" || b.eq_ignore_ascii_case("true"));
    let payload = if binary {
        match base64::engine::general_purpose::STANDARD.decode(msg.trim()) {
            Ok(p) => p,
            Err(e) => return err(&inner, -300, &format!("binary=1 needs base64 msg: {e}")),
        }
    } else {
        msg.as_bytes().to_vec()
    };
    let key = match StreamKey::new(&normalize_vhost(&inner, vhost), app, stream) {
        Ok(k) if schema_matches(Some(schema)) => k,
        _ => return err(&inner, -500, "can not find the stream"),
    };
    let req = weir_core::BroadcastRequest {
        key: key.clone(),
        target,
        session: args.nonempty("session").map(str::to_owned),
        payload,
        binary,
    };
    match inner.st.sessions.broadcast(req).await {
        Ok(count) => {
            tracing::info!(stream = %key, count, binary, "broadcastMessage delivered");
            #[derive(Serialize)]
            struct Sent {
                code: i32,
                count: usize,
            }
            json(&inner, &Sent { code: 0, count })
        }
        Err(SessionError::StreamNotFound) => err(&inner, -500, "can not find the stream"),
        Err(e) => err(&inner, -1, &e.to_string()),
    }
}

/// `listWebrtcRooms?secret=`: the rooms of the P2P signaling server (§A11),
/// `{"code":0,"data":[{"room_id","tours":[{"guest_id","room_id"}],"guests":[{"guest_id"}]}]}`;
/// `data` is absent when there is no room.
async fn list_webrtc_rooms(inner: Shared, req: Request) -> Response {
    if let Err(r) = management_args(&inner, req).await {
        return r;
    }
    let rooms = inner.st.rooms.as_ref().map(|d| d.rooms_json()).unwrap_or_default();
    match rooms {
        serde_json::Value::Array(list) if !list.is_empty() => {
            json(&inner, &serde_json::json!({"code": 0, "data": list}))
        }
        _ => json(&inner, &CodeOnly { code: 0 }),
    }
}
