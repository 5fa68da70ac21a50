//! Weir's protocol-neutral stream core.
//!
//! A stream (keyed by `(vhost, app, stream)`) has one source and many sinks. Its media travels
//! as [`MediaUnit`]s — one RTP payload of one track, shared by every sink — described by
//! [`TrackDesc`]s that any protocol can produce and consume. The [`Hub`] owns every stream and
//! is the single source of truth: sources and sinks, the GOP cache for fast start, recent units
//! for retransmission, keyframe-request throttling, the grace period for a returning source.
//! The [`Directory`] the management APIs read, and where players wait for a source, is written
//! only by the hub.
//!
//! The hub is sans-IO and lives on its owner's thread (the media engine's): WebRTC sessions on
//! that thread are sources and sinks by handle, written to with `&mut` access and no lock. Adapters
//! on other threads (RTMP, HLS, relays) use [`StreamService`] and the bounded, wait-free ports of
//! [`port`]. This crate knows no protocol: no SDP, no RTP header, no socket.

pub mod directory;
pub mod events;
pub mod gop;
pub mod hub;
pub mod port;
pub mod recent;
pub mod service;
pub mod stream;
pub mod track;
pub mod unit;

pub use directory::{Directory, StreamSnapshot};
pub use events::StreamEvent;
pub use hub::{Claimed, Hub, HubConfig, HubEffect, HubError, SourceClaim, StreamId};
pub use port::{sink_port, source_port, KeyframeRequests, PushError, SinkEnd, SinkEvent, SinkPort, SourceEnd, SourcePort};
pub use recent::RecentUnits;
pub use service::{PublishRequest, PublishedStream, StreamError, StreamService, SubscribeRequest};
pub use stream::{FanoutItem, SourceKind, Stream, StreamTrack};
pub use track::{Codec, DecoderConfig, MediaKind, TrackDesc, TrackId, MAX_TRACKS};
pub use unit::{CaptureTime, MediaExt, MediaUnit};

#[cfg(test)]
pub(crate) fn test_unit(seq: u64, ts: u32, keyframe: bool) -> MediaUnit {
    MediaUnit {
        payload: std::sync::Arc::from(&[seq as u8][..]),
        arrival: std::time::Instant::now(),
        seq,
        ts,
        track: TrackId(0),
        marker: false,
        keyframe,
        ext: MediaExt::default(),
    }
}

#[cfg(test)]
mod tests;
