//! str0m's types to the stream core's and back: a negotiated codec (`PayloadParams`) is a
//! [`TrackDesc`], the header extensions a stream forwards are a [`MediaExt`]. The stream core
//! knows no str0m type; this is the only place that translates.

use str0m::format::{Codec as RtcCodec, CodecSpec, FormatParams, PayloadParams};
use str0m::media::{Frequency, MediaKind as RtcKind, Pt};
use str0m::rtp::{AbsCaptureTime, ExtensionValues, VideoOrientation};
use weir_stream::{CaptureTime, Codec, MediaExt, MediaKind, TrackDesc};

use crate::keyframe::VideoCodec;

pub fn media_kind(kind: RtcKind) -> MediaKind {
    match kind {
        RtcKind::Audio => MediaKind::Audio,
        RtcKind::Video => MediaKind::Video,
    }
}

fn codec_of(c: RtcCodec) -> Option<Codec> {
    Some(match c {
        RtcCodec::H264 => Codec::H264,
        RtcCodec::H265 => Codec::H265,
        RtcCodec::Vp8 => Codec::Vp8,
        RtcCodec::Vp9 => Codec::Vp9,
        RtcCodec::Av1 => Codec::Av1,
        RtcCodec::Opus => Codec::Opus,
        RtcCodec::PCMU => Codec::Pcmu,
        RtcCodec::PCMA => Codec::Pcma,
        _ => return None,
    })
}

fn rtc_codec(c: Codec) -> Option<RtcCodec> {
    Some(match c {
        Codec::H264 => RtcCodec::H264,
        Codec::H265 => RtcCodec::H265,
        Codec::Vp8 => RtcCodec::Vp8,
        Codec::Vp9 => RtcCodec::Vp9,
        Codec::Av1 => RtcCodec::Av1,
        Codec::Opus => RtcCodec::Opus,
        Codec::Pcmu => RtcCodec::PCMU,
        Codec::Pcma => RtcCodec::PCMA,
        // No WebRTC payload format: a stream with AAC needs transcoding to reach a player.
        Codec::Aac => return None,
    })
}

/// The track a negotiated codec describes; `None` for a codec the stream core does not carry.
pub fn track_desc(p: &PayloadParams) -> Option<TrackDesc> {
    let spec = p.spec();
    let codec = codec_of(spec.codec)?;
    Some(TrackDesc {
        kind: codec.kind(),
        codec,
        clock_rate: spec.clock_rate.get(),
        channels: spec.channels,
        fmtp: spec.format.to_string(),
        config: Default::default(),
    })
}

/// The codec a track carries as str0m negotiates it (payload types are the caller's);
/// `None` when WebRTC cannot carry it.
pub fn codec_spec(t: &TrackDesc) -> Option<CodecSpec> {
    Some(CodecSpec {
        codec: rtc_codec(t.codec)?,
        clock_rate: Frequency::new(t.clock_rate)?,
        channels: t.channels,
        format: FormatParams::parse_line(&t.fmtp),
    })
}

/// `codec_spec` with payload types.
pub fn payload_params(t: &TrackDesc, pt: Pt, rtx: Option<Pt>) -> Option<PayloadParams> {
    Some(PayloadParams::new(pt, rtx, codec_spec(t)?))
}

/// The video payload format the keyframe detector reads (`keyframe.rs`).
pub fn video_codec(codec: Codec) -> Option<VideoCodec> {
    Some(match codec {
        Codec::H264 => VideoCodec::H264,
        Codec::H265 => VideoCodec::H265,
        Codec::Vp8 => VideoCodec::Vp8,
        Codec::Vp9 => VideoCodec::Vp9,
        Codec::Av1 => VideoCodec::Av1,
        _ => return None,
    })
}

/// The header extensions of a received packet that are forwarded with its media.
pub fn media_ext(e: &ExtensionValues) -> MediaExt {
    MediaExt {
        audio_level: e.audio_level,
        voice_activity: e.voice_activity,
        video_orientation: e.video_orientation.map(|o| o as u8),
        capture_time: e.abs_capture_time.map(|a| CaptureTime { at: a.capture_time, clock_offset: a.clock_offset }),
    }
}

/// The same extensions for a packet str0m sends.
pub fn extension_values(e: &MediaExt) -> ExtensionValues {
    ExtensionValues {
        audio_level: e.audio_level,
        voice_activity: e.voice_activity,
        video_orientation: e.video_orientation.map(|o| match o & 3 {
            0 => VideoOrientation::Deg0,
            1 => VideoOrientation::Deg270,
            2 => VideoOrientation::Deg180,
            _ => VideoOrientation::Deg90,
        }),
        abs_capture_time: e.capture_time.map(|c| AbsCaptureTime { capture_time: c.at, clock_offset: c.clock_offset }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::format::CodecConfig;

    /// Every codec str0m offers round-trips through a track description: a player negotiated
    /// from the description matches what the publisher negotiated.
    #[test]
    fn negotiated_codecs_round_trip_through_track_descriptions() {
        let mut cfg = CodecConfig::new_with_defaults();
        cfg.enable_h265(true);
        let mut n = 0;
        for p in cfg.params() {
            let Some(desc) = track_desc(p) else { continue };
            let back = payload_params(&desc, p.pt(), p.resend()).unwrap();
            assert_eq!(back.spec(), p.spec(), "{desc:?}");
            assert_eq!(cfg.match_params(back).map(|m| m.pt()), Some(p.pt()), "{desc:?}");
            n += 1;
        }
        assert!(n >= 8, "{n} codecs checked");
    }

    #[test]
    fn extensions_round_trip() {
        for o in [VideoOrientation::Deg0, VideoOrientation::Deg90, VideoOrientation::Deg180, VideoOrientation::Deg270] {
            let e = ExtensionValues { video_orientation: Some(o), audio_level: Some(-30), voice_activity: Some(true), ..Default::default() };
            let back = extension_values(&media_ext(&e));
            assert_eq!(back.video_orientation, Some(o));
            assert_eq!(back.audio_level, Some(-30));
            assert_eq!(back.voice_activity, Some(true));
        }
    }
}
