//! Weir's stream tools (secret, like the stats API): a test pattern source on any stream, and a
//! probe that reads a stream for a while and reports what it delivered.
//!
//! | Route | Method | What |
//! |---|---|---|
//! | `/api/v1/testsrc` | GET | running test sources |
//! | `/api/v1/testsrc/{app}/{*stream}` | POST | start one (`width`, `height`, `fps`, `gop` query parameters) |
//! | `/api/v1/testsrc/{app}/{*stream}` | DELETE | stop it |
//! | `/api/v1/probe/{app}/{*stream}` | GET | read the stream `ms` milliseconds (default 2000, at most 60000), waiting up to `wait_ms` for a source |
//!
//! Both work through the stream core's `StreamService`, as any adapter does: a test source is a
//! stream's source like a WHIP publisher, a probe one of its sinks like a WHEP player.

use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use weir_core::StreamKey;
use weir_stream::{HubError, StreamError};
use weir_testsrc::{PatternConfig, TestSourceError, TestSources};

use crate::api::{authorize, reply, CodeMsg, Data};
use crate::util::{self, Args};
use crate::Shared;

/// What every stream tool call checks first: the secret, that the server has the tools, and for
/// a stream's route its key.
fn admit<'a>(inner: &'a Shared, req: &Request) -> Result<&'a TestSources, Response> {
    authorize(inner, req)?;
    inner.test_sources.as_ref().ok_or_else(|| reply(inner, StatusCode::NOT_IMPLEMENTED, &CodeMsg { code: -1, msg: "this server has no stream service" }))
}

fn admit_stream<'a>(inner: &'a Shared, req: &Request, app: &str, stream: &str) -> Result<(&'a TestSources, StreamKey), Response> {
    let sources = admit(inner, req)?;
    let args = Args::from_parts(req.uri().query(), req.headers());
    let vhost = util::vhost_of(&inner.cfg(), args.query("vhost"), util::host_header(req).as_deref());
    let key = StreamKey::new(&vhost, app, stream)
        .map_err(|e| reply(inner, StatusCode::BAD_REQUEST, &CodeMsg { code: -300, msg: &format!("bad stream name: {e}") }))?;
    Ok((sources, key))
}

fn stream_error(inner: &Shared, e: &StreamError) -> Response {
    let status = match e {
        StreamError::Hub(HubError::AlreadyPublishing) => StatusCode::CONFLICT,
        StreamError::Hub(HubError::NotFound) => StatusCode::NOT_FOUND,
        StreamError::Hub(HubError::BadTracks(_)) => StatusCode::BAD_REQUEST,
        StreamError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        StreamError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    reply(inner, status, &CodeMsg { code: -500, msg: &e.to_string() })
}

pub(crate) async fn list(State(inner): State<Shared>, req: Request) -> Response {
    match admit(&inner, &req) {
        Ok(sources) => reply(&inner, StatusCode::OK, &Data { code: 0, data: sources.list() }),
        Err(r) => r,
    }
}

pub(crate) async fn start(State(inner): State<Shared>, Path((app, stream)): Path<(String, String)>, req: Request) -> Response {
    let (sources, key) = match admit_stream(&inner, &req, &app, &stream) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let args = Args::from_parts(req.uri().query(), req.headers());
    let mut config = PatternConfig::default();
    let number = |name: &str| args.nonempty(name).map(|v| v.parse::<u32>().map_err(|_| format!("{name}={v:?} is not a number")));
    let parsed = (|| -> Result<(), String> {
        if let Some(w) = number("width").transpose()? {
            config.width = u16::try_from(w).map_err(|_| "width is too large".to_owned())?;
        }
        if let Some(h) = number("height").transpose()? {
            config.height = u16::try_from(h).map_err(|_| "height is too large".to_owned())?;
        }
        if let Some(f) = number("fps").transpose()? {
            config.fps = f.clamp(1, 60);
        }
        if let Some(g) = number("gop").transpose()? {
            config.gop_frames = g.max(1);
        }
        Ok(())
    })();
    if let Err(msg) = parsed {
        return reply(&inner, StatusCode::BAD_REQUEST, &CodeMsg { code: -300, msg: &msg });
    }
    match sources.start(key, config).await {
        Ok(info) => reply(&inner, StatusCode::OK, &Data { code: 0, data: info }),
        Err(TestSourceError::Stream(e)) => stream_error(&inner, &e),
        Err(e @ TestSourceError::BadConfig(_)) => reply(&inner, StatusCode::BAD_REQUEST, &CodeMsg { code: -300, msg: &e.to_string() }),
        Err(e @ TestSourceError::TooMany) => reply(&inner, StatusCode::SERVICE_UNAVAILABLE, &CodeMsg { code: -1, msg: &e.to_string() }),
    }
}

pub(crate) async fn stop(State(inner): State<Shared>, Path((app, stream)): Path<(String, String)>, req: Request) -> Response {
    let (sources, key) = match admit_stream(&inner, &req, &app, &stream) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if sources.stop(&key) {
        #[derive(Serialize)]
        struct Code {
            code: i32,
        }
        reply(&inner, StatusCode::OK, &Code { code: 0 })
    } else {
        reply(&inner, StatusCode::NOT_FOUND, &CodeMsg { code: -500, msg: "no test source on this stream" })
    }
}

pub(crate) async fn probe(State(inner): State<Shared>, Path((app, stream)): Path<(String, String)>, req: Request) -> Response {
    let (sources, key) = match admit_stream(&inner, &req, &app, &stream) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let args = Args::from_parts(req.uri().query(), req.headers());
    let ms = |name: &str, default: u64| args.nonempty(name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(default);
    let duration = Duration::from_millis(ms("ms", 2000).min(60_000));
    let wait = Duration::from_millis(ms("wait_ms", 0).min(60_000));
    match sources.probe(key, duration, wait).await {
        Ok(report) => reply(&inner, StatusCode::OK, &Data { code: 0, data: report }),
        Err(e) => stream_error(&inner, &e),
    }
}
