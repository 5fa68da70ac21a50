//! The contract between signaling adapters and the media engine.
//!
//! Every signaling dialect (RFC 9725 WHIP/WHEP, ZLMediaKit's `/index/api/*`, SRS's `/rtc/v1/*`,
//! later the P2P WebSocket server and relays) turns its request into a [`SessionRequest`] and asks
//! a [`SessionService`] for a session. The adapters then render the result, or the typed
//! [`SessionError`], in their own dialect. The engine never sees HTTP.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use serde::Serialize;

use crate::StreamKey;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// The peer sends media: it becomes the stream's source.
    Publish,
    /// The peer receives the stream's media.
    Play,
    /// The peer's media is looped back to it (connectivity check).
    Echo,
}

/// Server addresses to advertise as ICE host candidates in the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CandidatePlan {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct SessionRequest {
    pub kind: SessionKind,
    pub key: StreamKey,
    /// The SDP offer, as received.
    pub offer: String,
    pub candidates: CandidatePlan,
    /// Forced server ICE credentials (SRS's `ice-ufrag` / `ice-pwd` query parameters).
    pub ice_ufrag: Option<String>,
    pub ice_pwd: Option<String>,
    /// The signaling peer (for logs and stats).
    pub peer: Option<SocketAddr>,
    /// Which signaling dialect created the session: `whip`, `whep`, `zlm`, `srs`, ...
    pub protocol: &'static str,
    /// Play only: how long to wait for a source that is not there yet (`general.maxStreamWaitMS`).
    pub max_wait: Duration,
    /// The request's raw URL query (`params` of the ZLMediaKit hooks); may be empty.
    pub params: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAnswer {
    /// Session id: also the server's ICE ufrag, so STUN routes to the session by USERNAME.
    pub id: String,
    /// Secret needed to delete or patch the session.
    pub token: String,
    pub sdp: String,
    /// The client's ICE ufrag from the offer (SRS builds its session id from both ufrags).
    pub remote_ufrag: String,
}

/// Result of a WHIP/WHEP `PATCH` (RFC 9725 section 4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrickleOutcome {
    /// Remote candidates were added; `204 No Content`.
    Applied,
    /// The fragment carried new ICE credentials: an ICE restart. The server's new
    /// credentials go back as an `application/trickle-ice-sdpfrag` body with `200 OK`.
    Restarted { sdpfrag: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("invalid SDP offer: {0}")]
    BadOffer(String),
    #[error("no common codec: {0}")]
    NoCommonCodec(String),
    /// ZLMediaKit's wording, which its clients match on.
    #[error("already publishing")]
    AlreadyPublishing,
    /// ZLMediaKit's wording, which its clients match on.
    #[error("stream not found")]
    StreamNotFound,
    #[error("session not found")]
    SessionNotFound,
    #[error("token incorrect")]
    TokenMismatch,
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not implemented: {0}")]
    Unsupported(String),
    #[error("server busy: {0}")]
    Overloaded(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// An authorization hook (`on_publish` / `on_play`) refused, or failed, which refuses too;
    /// the text is the hook's error text (ZLMediaKit's `[auth failed]: code:-1 msg:...`).
    #[error("{0}")]
    Denied(String),
}

impl SessionError {
    /// The status a standard WHIP/WHEP endpoint answers with (RFC 9725 plus common practice).
    pub fn http_status(&self) -> u16 {
        match self {
            SessionError::BadOffer(_) | SessionError::BadRequest(_) => 400,
            SessionError::TokenMismatch => 401,
            SessionError::Denied(_) => 403,
            SessionError::StreamNotFound | SessionError::SessionNotFound => 404,
            SessionError::NoCommonCodec(_) => 406,
            SessionError::AlreadyPublishing => 409,
            SessionError::Unsupported(_) => 501,
            SessionError::Overloaded(_) => 503,
            SessionError::Internal(_) => 500,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionSummary {
    pub id: String,
    pub kind: SessionKind,
    pub stream: StreamKey,
    pub protocol: &'static str,
    /// `new`, `connected`, `closed`.
    pub state: &'static str,
    pub peer: Option<SocketAddr>,
    pub age_ms: u64,
}

/// Who receives a server-originated DataChannel message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BroadcastTarget {
    Players,
    Publisher,
    All,
}

/// `/index/api/broadcastMessage`: a message for the DataChannels of a stream's sessions.
#[derive(Debug, Clone)]
pub struct BroadcastRequest {
    pub key: StreamKey,
    pub target: BroadcastTarget,
    /// Only this session (by id), if given.
    pub session: Option<String>,
    pub payload: Vec<u8>,
    /// Sent as a binary message (PPID 53) instead of text (PPID 51).
    pub binary: bool,
}

/// What the media engine offers to signaling adapters.
pub trait SessionService: Send + Sync + 'static {
    fn create(&self, req: SessionRequest) -> BoxFuture<'_, Result<SessionAnswer, SessionError>>;
    /// Ends a session and frees everything it held. `token` is checked when given.
    fn delete<'a>(&'a self, id: &'a str, token: Option<&'a str>) -> BoxFuture<'a, Result<(), SessionError>>;
    /// Applies an `application/trickle-ice-sdpfrag` body.
    fn trickle<'a>(
        &'a self,
        id: &'a str,
        token: &'a str,
        sdpfrag: &'a str,
    ) -> BoxFuture<'a, Result<TrickleOutcome, SessionError>>;
    /// Live statistics of one session, as JSON.
    fn stats<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<serde_json::Value, SessionError>>;
    fn list(&self) -> BoxFuture<'_, Vec<SessionSummary>>;
    /// Sends a message on the DataChannels of a stream's sessions; returns how many sessions it
    /// was queued for. `StreamNotFound` when the stream has no live session.
    fn broadcast(&self, req: BroadcastRequest) -> BoxFuture<'_, Result<usize, SessionError>>;
    /// Engine-wide transport counters (datagrams sent, batching, drops), as JSON; read
    /// without waiting for the engine, so they may be up to a housekeeping tick old.
    fn engine_stats(&self) -> serde_json::Value;
}
