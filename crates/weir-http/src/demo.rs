//! The demo pages, embedded at build time from `assets/`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../assets/index.html");
const PUBLISH: &str = include_str!("../assets/publish.html");
const PLAY: &str = include_str!("../assets/play.html");
const CALL: &str = include_str!("../assets/call.html");
const STYLE: &str = include_str!("../assets/style.css");
const DEMO_JS: &str = include_str!("../assets/demo.js");

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

pub(crate) async fn index() -> Response {
    page("text/html; charset=utf-8", INDEX)
}

pub(crate) async fn publish() -> Response {
    page("text/html; charset=utf-8", PUBLISH)
}

pub(crate) async fn play() -> Response {
    page("text/html; charset=utf-8", PLAY)
}

/// The 1:1 P2P call page (WebSocket signaling, media between the browsers).
pub(crate) async fn call() -> Response {
    page("text/html; charset=utf-8", CALL)
}

pub(crate) async fn demo_js() -> Response {
    page("text/javascript; charset=utf-8", DEMO_JS)
}

pub(crate) async fn style() -> Response {
    page("text/css; charset=utf-8", STYLE)
}

pub(crate) async fn favicon() -> StatusCode {
    StatusCode::NO_CONTENT
}
