//! A protocol-neutral description of a published track, so that a sink (a WHEP player, later
//! RTMP or HLS) can decide whether it can take the source's media without knowing SDP.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKindTag {
    Audio,
    Video,
}

/// One negotiated codec of a source track.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackInfo {
    pub kind: MediaKindTag,
    /// Codec name as in SDP rtpmap, e.g. `H264`, `VP8`, `opus`.
    pub codec: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
    /// The fmtp line's parameters, e.g. `profile-level-id=42e01f;packetization-mode=1`.
    pub fmtp: String,
}
