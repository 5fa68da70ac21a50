//! Weir's domain core: what a stream is, who may publish it, who plays it, and the
//! contract every signaling adapter (WHIP/WHEP, ZLMediaKit, SRS, later RTMP and relays)
//! uses to ask the media engine for a session.
//!
//! This crate knows nothing about sockets, SDP parsing or HTTP. Protocol crates depend
//! on it; it depends on none of them.

pub mod key;
pub mod net;
pub mod registry;
pub mod rooms;
pub mod session;
pub mod track;
pub mod util;

pub use key::{StreamKey, StreamKeyError, DEFAULT_VHOST};
pub use registry::{Registry, RegistryError, SourceLease, StreamSnapshot};
pub use rooms::RoomDirectory;
pub use session::{
    BoxFuture, BroadcastRequest, BroadcastTarget, CandidatePlan, SessionAnswer, SessionError, SessionKind, SessionRequest,
    SessionService, SessionSummary, TrickleOutcome,
};
pub use track::{MediaKindTag, TrackInfo};
