//! Codec policy: which codecs a publisher may use and in which order, and how its offer is
//! narrowed to one codec per m-line. (How a negotiated codec becomes a stream track:
//! `convert.rs`.)

use str0m::format::{Codec, CodecConfig};

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

/// Narrows a publisher's offer to one codec per m-line, chosen by the server's preference.
///
/// A sender uses the first codec of the answer, but several payload types of one codec (H264
/// with different profiles and packetization modes) can match one configured codec, so the
/// answer's order alone does not pin down what the publisher will send. Players are negotiated
/// for exactly the publisher's codec, so the publisher must be answered with exactly one. The
/// choice: the most preferred codec name the offer has, in the offer's own order among its
/// variants (the client's preference), skipping variants the server cannot packetize; its RTX
/// payload type (RFC 4588 `apt=`) is kept with it. An m-line with no acceptable codec is left
/// as it is, and negotiation rejects it.
pub fn select_offer_codecs(offer: &str, audio_pref: &[String], video_pref: &[String]) -> String {
    let lines: Vec<&str> = offer.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let prefs = if line.starts_with("m=audio ") {
            audio_pref
        } else if line.starts_with("m=video ") {
            video_pref
        } else {
            out.push(line.to_owned());
            i += 1;
            continue;
        };
        let end = (i + 1..lines.len()).find(|&j| lines[j].starts_with("m=")).unwrap_or(lines.len());
        let section = &lines[i + 1..end];
        let parts: Vec<&str> = line.split(' ').collect();
        let formats: Vec<&str> = parts.get(3..).map(|f| f.to_vec()).unwrap_or_default();
        let attr = |prefix: &str, pt: &str| -> Option<String> {
            let want = format!("{prefix}{pt} ");
            section.iter().find_map(|l| l.strip_prefix(want.as_str()).map(str::to_owned))
        };
        let name_of = |pt: &str| attr("a=rtpmap:", pt).map(|m| m.split('/').next().unwrap_or("").to_owned());
        let chosen = formats
            .iter()
            .enumerate()
            .filter_map(|(pos, pt)| {
                let name = name_of(pt)?;
                let rank = prefs.iter().position(|p| p.trim().eq_ignore_ascii_case(&name))?;
                let fmtp = attr("a=fmtp:", pt).unwrap_or_default();
                supported_variant(&name, &fmtp).then_some((rank, pos, *pt))
            })
            .min()
            .map(|(_, _, pt)| pt.to_owned());
        let Some(chosen) = chosen else {
            out.extend(lines[i..end].iter().map(|l| (*l).to_owned()));
            i = end;
            continue;
        };
        let rtx: Vec<String> = formats
            .iter()
            .filter(|pt| {
                name_of(pt).is_some_and(|n| n.eq_ignore_ascii_case("rtx"))
                    && attr("a=fmtp:", pt).is_some_and(|f| f.split(';').any(|kv| kv.trim() == format!("apt={chosen}")))
            })
            .map(|pt| (*pt).to_owned())
            .collect();
        let keep: Vec<String> = std::iter::once(chosen).chain(rtx).collect();
        out.push(format!("{} {}", parts[..3.min(parts.len())].join(" "), keep.join(" ")));
        for l in section {
            // Drop per-payload attributes of the formats not kept.
            let pt_attr = ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"]
                .iter()
                .find_map(|p| l.strip_prefix(p))
                .map(|rest| rest.split(' ').next().unwrap_or(""));
            match pt_attr {
                Some(pt) if pt != "*" && !keep.iter().any(|k| k == pt) => {}
                _ => out.push((*l).to_owned()),
            }
        }
        i = end;
    }
    let mut s = out.join("\r\n");
    s.push_str("\r\n");
    s
}

/// Codec variants str0m can packetize: H264 only in packetization modes 0 and 1 and in the
/// profiles of its configuration (baseline, constrained baseline, main, high).
fn supported_variant(name: &str, fmtp: &str) -> bool {
    if !name.eq_ignore_ascii_case("h264") {
        return true;
    }
    let param = |key: &str| {
        fmtp.split(';').find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            k.eq_ignore_ascii_case(key).then(|| v.trim().to_ascii_lowercase())
        })
    };
    let mode_ok = matches!(param("packetization-mode").as_deref(), None | Some("0") | Some("1"));
    let profile_ok = param("profile-level-id")
        .map(|p| ["4200", "42e0", "4d00", "6400"].iter().any(|pre| p.starts_with(pre)))
        .unwrap_or(true);
    mode_ok && profile_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefs(s: &str) -> Vec<String> {
        s.split(',').map(str::to_owned).collect()
    }

    #[test]
    fn keeps_one_preferred_codec_and_its_rtx() {
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n\
a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\na=rtpmap:104 H264/90000\r\na=fmtp:104 packetization-mode=0;profile-level-id=42e01f\r\n";
        let out = select_offer_codecs(offer, &prefs("PCMU,opus"), &prefs("H264,VP8"));
        assert!(out.contains("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"), "{out}");
        assert!(out.contains("m=video 9 UDP/TLS/RTP/SAVPF 102 103\r\n"), "{out}");
        assert!(!out.contains("a=rtpmap:96 "));
        assert!(!out.contains("a=rtcp-fb:96 "));
        assert!(!out.contains("a=fmtp:104 "));
        assert!(out.contains("a=fmtp:103 apt=102"));
        assert!(out.contains("a=mid:0"));
    }

    #[test]
    fn skips_h264_variants_we_cannot_send() {
        let offer = "m=video 9 UDP/TLS/RTP/SAVPF 35 36\r\na=rtpmap:35 H264/90000\r\na=fmtp:35 packetization-mode=1;profile-level-id=f4001f\r\n\
a=rtpmap:36 H264/90000\r\na=fmtp:36 packetization-mode=1;profile-level-id=4d001f\r\n";
        let out = select_offer_codecs(offer, &prefs("opus"), &prefs("H264"));
        assert!(out.contains("m=video 9 UDP/TLS/RTP/SAVPF 36\r\n"), "{out}");
    }

    #[test]
    fn no_acceptable_codec_leaves_line_untouched() {
        let offer = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";
        let out = select_offer_codecs(offer, &prefs("opus"), &prefs("H264"));
        assert!(out.contains("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000"), "{out}");
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
