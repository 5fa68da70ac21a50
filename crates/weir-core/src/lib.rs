//! Weir's domain core: what names a stream, and the contract every signaling adapter
//! (WHIP/WHEP, ZLMediaKit, SRS, the P2P rooms) uses to ask the media engine for a session.
//! The streams themselves (sources, sinks, tracks, media) are `weir-stream`'s.
//!
//! This crate knows nothing about sockets, SDP parsing or HTTP. Protocol crates depend
//! on it; it depends on none of them.

pub mod key;
pub mod net;
pub mod rooms;
pub mod session;
pub mod util;

pub use key::{StreamKey, StreamKeyError, DEFAULT_VHOST};
pub use rooms::RoomDirectory;
pub use session::{
    BoxFuture, BroadcastRequest, BroadcastTarget, CandidatePlan, SessionAnswer, SessionError, SessionKind, SessionRequest,
    SessionService, SessionSummary, TrickleOutcome,
};
