//! The media unit: one RTP payload of one track, carried once for every sink of a stream.
//!
//! RTP payloads are the common currency (as in mediasoup and MediaMTX): a WebRTC source hands
//! over what it received, an RTMP source packetizes once per stream (RFC 6184/7798), an HLS
//! muxer depacketizes once per stream, and a WebRTC sink only writes a header in front. The
//! payload is shared (`Arc<[u8]>`): a unit costs every sink a reference count, not a copy.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::TrackId;

/// When the media of a packet was captured (RTP header extension abs-capture-time,
/// <http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureTime {
    pub at: SystemTime,
    /// The sender's estimate of its clock's offset to the capture system's (Q32.32 seconds).
    pub clock_offset: Option<i64>,
}

/// Header extensions that describe the media and are forwarded with it. Transport-level ones
/// (transport-wide sequence numbers, abs-send-time, mid) are each sending side's own business.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaExt {
    /// RFC 6464: level in -dBov (0..=127 as a negative number) and the voice activity flag.
    pub audio_level: Option<i8>,
    pub voice_activity: Option<bool>,
    /// 3GPP TS 26.114 coordination of video orientation: the extension's byte (rotation in
    /// bits 0-1, flip in bit 2, camera in bit 3).
    pub video_orientation: Option<u8>,
    pub capture_time: Option<CaptureTime>,
}

/// One RTP payload of a stream's track with what its sinks need to send or mux it.
#[derive(Debug, Clone)]
pub struct MediaUnit {
    /// The RTP payload (no header).
    pub payload: Arc<[u8]>,
    /// When the unit reached the server (its source's receive time).
    pub arrival: Instant,
    /// The source's extended RTP sequence number (no wrap within a source epoch). Sinks number
    /// their own output; this one orders the units and names them for retransmission.
    pub seq: u64,
    /// RTP timestamp in the track's clock rate.
    pub ts: u32,
    pub track: TrackId,
    /// RTP marker: the last packet of a video frame, the first of an audio talk spurt.
    pub marker: bool,
    /// The unit starts a keyframe (or the parameter sets right before one): a decoder can start
    /// here. Always false for audio.
    pub keyframe: bool,
    pub ext: MediaExt,
}
