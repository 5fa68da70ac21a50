//! Request parsing and response building shared by the dialects.

use std::net::{IpAddr, SocketAddr};

use axum::body::{Body, Bytes};
use axum::extract::connect_info::{ConnectInfo, MockConnectInfo};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use weir_config::Config;
use weir_core::DEFAULT_VHOST;

use crate::candidates::host_part;

pub(crate) const TEXT_UTF8: &str = "text/plain; charset=utf-8";

/// RFC 3986 unreserved characters stay, everything else is percent-encoded (ZLMediaKit's
/// `UrlEncodeComponent`): `Ab+/9` becomes `Ab%2B%2F9`.
pub(crate) const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Characters that would change the meaning of an SRS-style query value. SRS writes values raw;
/// we keep that for ordinary names and only escape what would break the round trip.
pub(crate) const QUERY_VALUE: &AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'<')
    .add(b'>')
    .add(b'=')
    .add(b'`');

pub(crate) fn encode_component(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

/// Named request arguments: URL query first, then form/JSON body fields, then a request header of
/// the same name (ZLMediaKit's `HttpAllArgs`). Names match case-insensitively.
#[derive(Debug, Default)]
pub(crate) struct Args {
    query: Vec<(String, String)>,
    body: Vec<(String, String)>,
    headers: HeaderMap,
}

impl Args {
    /// Query arguments (URL-decoded, `+` as space) with header fallback.
    pub(crate) fn from_parts(query: Option<&str>, headers: &HeaderMap) -> Self {
        let query = query.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        Self { query, body: Vec::new(), headers: headers.clone() }
    }

    /// Adds fields from a `application/x-www-form-urlencoded` or `application/json` body.
    /// JSON: each top-level string/number/bool member; like ZLMediaKit, parsing stops at the first
    /// object or array member.
    pub(crate) fn with_body(mut self, content_type: Option<&str>, body: &[u8]) -> Self {
        let ct = content_type.unwrap_or("").trim().to_ascii_lowercase();
        if ct.starts_with("application/x-www-form-urlencoded") {
            self.body = form_urlencoded::parse(body).into_owned().collect();
        } else if ct.starts_with("application/json") {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body) {
                for (k, v) in map {
                    let s = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Bool(b) => b.to_string(),
                        serde_json::Value::Null => String::new(),
                        _ => break,
                    };
                    self.body.push((k, s));
                }
            }
        }
        self
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        let find = |v: &'_ [(String, String)]| -> Option<usize> { v.iter().position(|(k, _)| k.eq_ignore_ascii_case(key)) };
        if let Some(i) = find(&self.query) {
            return Some(self.query[i].1.as_str());
        }
        if let Some(i) = find(&self.body) {
            return Some(self.body[i].1.as_str());
        }
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }

    /// Every query and body argument in order (query first), without the header fallback.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.query.iter().chain(&self.body).map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The argument when present and not empty (ZLMediaKit's `CHECK_ARGS` treats empty as missing).
    pub(crate) fn nonempty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// From the URL query only (no body, no header fallback).
    pub(crate) fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// ZLMediaKit's boolean parsing (`variant::as<bool>`): a value starting with a digit is a number
    /// and only `1` is true; otherwise `true` (case-insensitive) is true and anything else false.
    pub(crate) fn flag(&self, key: &str) -> Option<bool> {
        let v = self.get(key)?.trim();
        if v.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(v.parse::<i64>().map(|n| n == 1).unwrap_or(false));
        }
        Some(v.eq_ignore_ascii_case("true"))
    }
}

/// The `Host` header, or the URI authority (HTTP/2).
pub(crate) fn host_header<B>(req: &Request<B>) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
}

/// The TCP peer of the request (set by `into_make_service_with_connect_info`).
pub(crate) fn peer_addr<B>(req: &Request<B>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| req.extensions().get::<MockConnectInfo<SocketAddr>>().map(|c| c.0))
        // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; allow-lists, loopback
        // checks and logs want the IPv4 address.
        .map(|a| SocketAddr::new(a.ip().to_canonical(), a.port()))
}

/// The client IP for access control: `forwarded_ip_header` when configured (first entry of a
/// comma list), else the socket peer.
pub(crate) fn client_ip<B>(req: &Request<B>, cfg: &Config) -> Option<IpAddr> {
    let name = cfg.http.forwarded_ip_header.trim();
    if !name.is_empty() {
        let v = req.headers().get(name).and_then(|v| v.to_str().ok())?;
        let first = v.split(',').next().unwrap_or("").trim();
        return first
            .parse::<IpAddr>()
            .ok()
            .or_else(|| first.parse::<SocketAddr>().ok().map(|s| s.ip()))
            .or_else(|| first.trim_start_matches('[').trim_end_matches(']').parse().ok())
            .map(|ip: IpAddr| ip.to_canonical());
    }
    peer_addr(req).map(|s| s.ip())
}

pub(crate) fn content_type<B>(req: &Request<B>) -> Option<String> {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Whether the media type (before any parameters) equals `want`, case-insensitively.
pub(crate) fn media_type_is(ct: Option<&str>, want: &str) -> bool {
    ct.and_then(|c| c.split(';').next()).is_some_and(|m| m.trim().eq_ignore_ascii_case(want))
}

/// The vhost of a request: `__defaultVhost__` unless `general.enableVhost`; then the `vhost`
/// argument, else the Host's host part when it is a name other than `localhost`.
pub(crate) fn vhost_of(cfg: &Config, vhost_arg: Option<&str>, host: Option<&str>) -> String {
    if !cfg.general.enable_vhost {
        return DEFAULT_VHOST.to_owned();
    }
    if let Some(v) = vhost_arg.map(str::trim).filter(|v| !v.is_empty()) {
        return v.to_owned();
    }
    if let Some(h) = host {
        let h = host_part(h);
        if !h.is_empty() && h.parse::<IpAddr>().is_err() && !h.eq_ignore_ascii_case("localhost") {
            return h.to_ascii_lowercase();
        }
    }
    DEFAULT_VHOST.to_owned()
}

pub(crate) enum BodyError {
    TooLarge(usize),
    Read(String),
}

impl BodyError {
    pub(crate) fn into_response(self) -> Response {
        match self {
            BodyError::TooLarge(limit) => {
                text(StatusCode::PAYLOAD_TOO_LARGE, format!("request body too large (limit {limit} bytes)"))
            }
            BodyError::Read(e) => text(StatusCode::BAD_REQUEST, format!("cannot read request body: {e}")),
        }
    }
}

/// Reads the whole body, refusing more than `limit` bytes (`http.maxReqSize`).
pub(crate) async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b),
        Err(e) => {
            let is_limit = {
                let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
                let mut found = false;
                while let Some(s) = src {
                    if s.to_string().contains("length limit exceeded") {
                        found = true;
                        break;
                    }
                    src = s.source();
                }
                found
            };
            if is_limit {
                Err(BodyError::TooLarge(limit))
            } else {
                Err(BodyError::Read(e.to_string()))
            }
        }
    }
}

pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_UTF8))], body.into()).into_response()
}

/// Compact JSON with the given status and content type.
pub(crate) fn json_with(status: StatusCode, content_type: &str, value: &impl Serialize) -> Response {
    let body = match serde_json::to_vec(value) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize JSON response");
            return text(StatusCode::INTERNAL_SERVER_ERROR, "cannot serialize response");
        }
    };
    let ct = HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json"));
    (status, [(header::CONTENT_TYPE, ct)], body).into_response()
}

/// `application/json; charset=<http.charSet>`.
pub(crate) fn json_content_type(cfg: &Config) -> String {
    let cs = cfg.http.char_set.trim();
    if cs.is_empty() {
        "application/json".to_owned()
    } else {
        format!("application/json; charset={cs}")
    }
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_encoding_matches_zlm() {
        assert_eq!(encode_component("Ab+/9"), "Ab%2B%2F9");
        assert_eq!(encode_component("token+/9"), "token%2B%2F9");
        assert_eq!(encode_component("a-b_c.d~e"), "a-b_c.d~e");
    }

    #[test]
    fn args_precedence_and_decoding() {
        let mut h = HeaderMap::new();
        h.insert("secret", HeaderValue::from_static("from-header"));
        h.insert("app", HeaderValue::from_static("hdr"));
        let a = Args::from_parts(Some("App=a+b%2Bc&x="), &h).with_body(Some("application/x-www-form-urlencoded"), b"app=body&y=1");
        assert_eq!(a.get("app"), Some("a b+c"));
        assert_eq!(a.get("y"), Some("1"));
        assert_eq!(a.get("secret"), Some("from-header"));
        assert_eq!(a.nonempty("x"), None);
        assert_eq!(a.get("x"), Some(""));
    }

    #[test]
    fn json_body_args_stop_at_objects() {
        let a = Args::from_parts(None, &HeaderMap::new())
            .with_body(Some("application/json"), br#"{"a":"1","b":2,"c":{"x":1},"d":"4"}"#);
        assert_eq!(a.get("a"), Some("1"));
        assert_eq!(a.get("b"), Some("2"));
        // serde_json orders keys; whatever follows the object is skipped like in ZLMediaKit.
        assert_eq!(a.get("d"), None);
    }

    #[test]
    fn zlm_bool_parsing() {
        let a = Args::from_parts(Some("a=1&b=0&c=2&d=TRUE&e=yes"), &HeaderMap::new());
        assert_eq!(a.flag("a"), Some(true));
        assert_eq!(a.flag("b"), Some(false));
        assert_eq!(a.flag("c"), Some(false));
        assert_eq!(a.flag("d"), Some(true));
        assert_eq!(a.flag("e"), Some(false));
        assert_eq!(a.flag("f"), None);
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "ab"));
    }
}
