//! Codec policy: which codecs a publisher may use and in which order, what a player is offered,
//! and how str0m's payload parameters map to the core's protocol-neutral [`TrackInfo`].

use str0m::format::{Codec, CodecConfig, PayloadParams};
use str0m::media::MediaKind;
use weir_core::{MediaKindTag, TrackInfo};

use crate::keyframe::VideoCodec;

/// Canonical codec names accepted in `preferredCodecA` / `preferredCodecV`.
fn codec_from_name(name: &str) -> Option<Codec> {
    match name.trim().to_ascii_lowercase().as_str() {
        "opus" => Some(Codec::Opus),
        "pcmu" => Some(Codec::PCMU),
        "pcma" => Some(Codec::PCMA),
        "h264" => Some(Codec::H264),
        "h265" | "hevc" => Some(Codec::H265),
        "vp8" => Some(Codec::Vp8),
        "vp9" => Some(Codec::Vp9),
        "av1" => Some(Codec::Av1),
        _ => None,
    }
}

/// Codec set for publishers (and echo sessions): exactly the codecs named in the preference
/// lists. Unknown names are skipped (the config loader already warned about them).
pub fn publisher_codecs(audio_pref: &[String], video_pref: &[String]) -> CodecConfig {
    let mut cfg = CodecConfig::empty();
    for name in audio_pref.iter().chain(video_pref) {
        match codec_from_name(name) {
            Some(Codec::Opus) => cfg.enable_opus(true, false),
            Some(Codec::PCMU) => cfg.enable_pcmu(true, false),
            Some(Codec::PCMA) => cfg.enable_pcma(true, false),
            Some(Codec::H264) => cfg.enable_h264(true),
            Some(Codec::H265) => cfg.enable_h265(true),
            Some(Codec::Vp8) => cfg.enable_vp8(true),
            Some(Codec::Vp9) => cfg.enable_vp9(true),
            Some(Codec::Av1) => cfg.enable_av1(true),
            _ => {}
        }
    }
    cfg
}

/// str0m answers with the offer's payload order, and a sender uses the first codec of the
/// answer. To make the server's preference win, the offer's m-line format lists are reordered
/// by preference before str0m sees them. Formats that are not a preferred codec (RTX, RED, FEC,
/// unknown codecs) keep their relative order after the preferred ones.
pub fn reorder_offer(offer: &str, audio_pref: &[String], video_pref: &[String]) -> String {
    let lines: Vec<&str> = offer.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end_matches('\r');
        let prefs = if line.starts_with("m=audio ") {
            Some(audio_pref)
        } else if line.starts_with("m=video ") {
            Some(video_pref)
        } else {
            None
        };
        let Some(prefs) = prefs else {
            out.push(line.to_owned());
            i += 1;
            continue;
        };
        // Section runs to the next m= line.
        let end = (i + 1..lines.len()).find(|&j| lines[j].starts_with("m=")).unwrap_or(lines.len());
        let rank = |pt: &str| -> usize {
            let name = lines[i + 1..end].iter().find_map(|l| {
                let rest = l.trim_end_matches('\r').strip_prefix("a=rtpmap:")?;
                let (p, enc) = rest.split_once(' ')?;
                (p == pt).then(|| enc.split('/').next().unwrap_or("").to_owned())
            });
            name.and_then(|n| prefs.iter().position(|p| p.trim().eq_ignore_ascii_case(&n)))
                .unwrap_or(usize::MAX)
        };
        let parts: Vec<&str> = line.split(' ').collect();
        if parts.len() > 3 {
            let mut fmts: Vec<&str> = parts[3..].to_vec();
            fmts.sort_by_key(|pt| rank(pt)); // stable: ties keep offer order
            out.push(format!("{} {}", parts[..3].join(" "), fmts.join(" ")));
        } else {
            out.push(line.to_owned());
        }
        i += 1;
    }
    let mut s = out.join("\r\n");
    s.push_str("\r\n");
    s
}

pub fn kind_tag(kind: MediaKind) -> MediaKindTag {
    match kind {
        MediaKind::Audio => MediaKindTag::Audio,
        MediaKind::Video => MediaKindTag::Video,
    }
}

pub fn track_info(p: &PayloadParams) -> TrackInfo {
    let spec = p.spec();
    TrackInfo {
        kind: kind_tag(spec.codec.kind()),
        codec: match spec.codec {
            Codec::H264 => "H264".into(),
            Codec::H265 => "H265".into(),
            Codec::Vp8 => "VP8".into(),
            Codec::Vp9 => "VP9".into(),
            Codec::Av1 => "AV1".into(),
            Codec::PCMU => "PCMU".into(),
            Codec::PCMA => "PCMA".into(),
            other => other.to_string(),
        },
        clock_rate: spec.clock_rate.get(),
        channels: spec.channels,
        fmtp: spec.format.to_string(),
    }
}

pub fn video_codec(p: &PayloadParams) -> Option<VideoCodec> {
    match p.spec().codec {
        Codec::H264 => Some(VideoCodec::H264),
        Codec::H265 => Some(VideoCodec::H265),
        Codec::Vp8 => Some(VideoCodec::Vp8),
        Codec::Vp9 => Some(VideoCodec::Vp9),
        Codec::Av1 => Some(VideoCodec::Av1),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefs(s: &str) -> Vec<String> {
        s.split(',').map(str::to_owned).collect()
    }

    #[test]
    fn reorders_video_formats_by_preference() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n\
a=rtpmap:102 H264/90000\r\na=rtpmap:103 rtx/90000\r\n";
        let out = reorder_offer(offer, &prefs("PCMU,opus"), &prefs("H264,VP8"));
        assert!(out.contains("m=audio 9 UDP/TLS/RTP/SAVPF 0 111\r\n"), "{out}");
        assert!(out.contains("m=video 9 UDP/TLS/RTP/SAVPF 102 96 97 103\r\n"), "{out}");
        assert!(out.contains("a=rtpmap:97 rtx/90000"));
    }

    #[test]
    fn publisher_codecs_follow_lists() {
        let cfg = publisher_codecs(&prefs("opus"), &prefs("VP8,bogus"));
        let codecs: Vec<Codec> = cfg.params().iter().map(|p| p.spec().codec).collect();
        assert!(codecs.contains(&Codec::Opus));
        assert!(codecs.contains(&Codec::Vp8));
        assert!(!codecs.contains(&Codec::H264));
    }
}
