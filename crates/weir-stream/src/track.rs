//! What a track carries, in terms every protocol can produce and consume: kind, codec, clock
//! rate, channels and the codec's parameters (SDP fmtp and, where the codec has one, its
//! out-of-band decoder configuration).

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Audio,
    Video,
}

/// The codecs a stream can carry. RTP payloads are the stream's currency, so a codec here is one
/// with an RTP payload format; an adapter for a protocol that carries another framing (FLV,
/// MPEG-TS, MP4) converts at its edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// RFC 6184.
    H264,
    /// RFC 7798.
    H265,
    /// RFC 7741.
    Vp8,
    /// RFC 9628.
    Vp9,
    /// AOM's RTP payload format for AV1.
    Av1,
    /// RFC 7587.
    Opus,
    /// G.711 mu-law, RFC 3551.
    Pcmu,
    /// G.711 A-law, RFC 3551.
    Pcma,
    /// AAC in RFC 3640 `mpeg4-generic` (AAC-hbr).
    Aac,
}

impl Codec {
    pub fn kind(self) -> MediaKind {
        match self {
            Codec::H264 | Codec::H265 | Codec::Vp8 | Codec::Vp9 | Codec::Av1 => MediaKind::Video,
            Codec::Opus | Codec::Pcmu | Codec::Pcma | Codec::Aac => MediaKind::Audio,
        }
    }

    /// The encoding name as SDP's `a=rtpmap` writes it (and as the management APIs list it).
    pub fn sdp_name(self) -> &'static str {
        match self {
            Codec::H264 => "H264",
            Codec::H265 => "H265",
            Codec::Vp8 => "VP8",
            Codec::Vp9 => "VP9",
            Codec::Av1 => "AV1",
            Codec::Opus => "opus",
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
            Codec::Aac => "mpeg4-generic",
        }
    }

    /// The codec of an SDP encoding name or a configuration name (`preferredCodecV=H264,...`),
    /// case-insensitively; `hevc` and `aac` are accepted as aliases.
    pub fn from_name(name: &str) -> Option<Codec> {
        let n = name.trim().to_ascii_lowercase();
        Some(match n.as_str() {
            "h264" => Codec::H264,
            "h265" | "hevc" => Codec::H265,
            "vp8" => Codec::Vp8,
            "vp9" => Codec::Vp9,
            "av1" => Codec::Av1,
            "opus" => Codec::Opus,
            "pcmu" => Codec::Pcmu,
            "pcma" => Codec::Pcma,
            "mpeg4-generic" | "aac" => Codec::Aac,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.sdp_name())
    }
}

impl Serialize for Codec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.sdp_name())
    }
}

/// A codec's configuration as carried out of band by protocols that do not send it in the media
/// (FLV/RTMP sequence headers, MP4 sample entries). RTP sources usually leave it empty: their
/// parameter sets travel in band (or in `sprop-parameter-sets`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DecoderConfig {
    #[default]
    None,
    /// H.264 SPS and PPS, H.265 VPS, SPS and PPS: NAL units without start codes.
    ParameterSets(Vec<Vec<u8>>),
    /// AAC's AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1).
    AudioSpecificConfig(Vec<u8>),
}

/// One track of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackDesc {
    pub kind: MediaKind,
    pub codec: Codec,
    /// RTP clock rate in Hz (90,000 for video; 48,000 for Opus).
    pub clock_rate: u32,
    pub channels: Option<u8>,
    /// The codec's SDP fmtp parameters, e.g. `profile-level-id=42e01f;packetization-mode=1`.
    pub fmtp: String,
    #[serde(skip)]
    pub config: DecoderConfig,
}

impl TrackDesc {
    /// A track of `codec` with its usual RTP clock rate and no parameters.
    pub fn new(codec: Codec) -> Self {
        let (clock_rate, channels) = match codec {
            Codec::Opus => (48_000, Some(2)),
            Codec::Pcmu | Codec::Pcma => (8_000, Some(1)),
            Codec::Aac => (48_000, Some(2)),
            _ => (90_000, None),
        };
        TrackDesc { kind: codec.kind(), codec, clock_rate, channels, fmtp: String::new(), config: DecoderConfig::None }
    }

    pub fn with_fmtp(mut self, fmtp: impl Into<String>) -> Self {
        self.fmtp = fmtp.into();
        self
    }

    pub fn with_clock_rate(mut self, clock_rate: u32, channels: Option<u8>) -> Self {
        self.clock_rate = clock_rate;
        self.channels = channels;
        self
    }

    /// Whether the codec needs its receiver to start at a keyframe (every video codec here).
    pub fn needs_keyframe(&self) -> bool {
        self.kind == MediaKind::Video
    }
}

/// Index of a track in its stream's track list (in the order the source declared them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackId(pub u8);

impl TrackId {
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Most tracks a stream carries. WebRTC sources have one audio and one video track; the bound
/// keeps a hostile source's declaration and every per-track table small.
pub const MAX_TRACKS: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in [Codec::H264, Codec::H265, Codec::Vp8, Codec::Vp9, Codec::Av1, Codec::Opus, Codec::Pcmu, Codec::Pcma, Codec::Aac] {
            assert_eq!(Codec::from_name(c.sdp_name()), Some(c));
        }
        assert_eq!(Codec::from_name("HEVC"), Some(Codec::H265));
        assert_eq!(Codec::from_name("G722"), None);
    }

    #[test]
    fn serializes_as_the_management_api_lists_it() {
        let t = TrackDesc::new(Codec::Opus).with_fmtp("minptime=10;useinbandfec=1");
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "audio", "codec": "opus", "clock_rate": 48000, "channels": 2,
            "fmtp": "minptime=10;useinbandfec=1"}));
    }
}
