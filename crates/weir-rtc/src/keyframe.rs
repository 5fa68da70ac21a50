//! Does this RTP payload start a keyframe? Needed for the GOP cache (fast start) and to start a
//! new player on a decodable picture. str0m only exposes keyframe flags in frame mode, and we
//! forward at RTP level, so this reads the first bytes of each payload format by hand.

/// Video payload formats we can classify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    H265,
    Vp8,
    Vp9,
    Av1,
}

/// True when `payload` is the first packet of a keyframe (or of the parameter sets that
/// precede one). Never panics on malformed input: short or odd payloads are "not a keyframe".
pub fn starts_keyframe(codec: VideoCodec, payload: &[u8]) -> bool {
    match codec {
        VideoCodec::H264 => h264(payload),
        VideoCodec::H265 => h265(payload),
        VideoCodec::Vp8 => vp8(payload),
        VideoCodec::Vp9 => vp9(payload),
        VideoCodec::Av1 => av1(payload),
    }
}

/// RFC 6184: single NAL unit (1-23), STAP-A (24), FU-A (28).
fn h264(p: &[u8]) -> bool {
    const IDR: u8 = 5;
    const SPS: u8 = 7;
    let is_key = |t: u8| t == IDR || t == SPS;
    let Some(&first) = p.first() else { return false };
    match first & 0x1f {
        24 => {
            // STAP-A: [hdr][size16][nal]...
            let mut i = 1;
            while i + 2 < p.len() {
                let size = u16::from_be_bytes([p[i], p[i + 1]]) as usize;
                if size == 0 {
                    return false;
                }
                if is_key(p[i + 2] & 0x1f) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        28 => {
            // FU-A: [indicator][header S E R type]
            p.get(1).is_some_and(|h| h & 0x80 != 0 && h & 0x1f == IDR)
        }
        t => is_key(t),
    }
}

/// RFC 7798: two-byte NAL header, type in bits 1..7 of the first byte; AP (48), FU (49).
fn h265(p: &[u8]) -> bool {
    // IRAP pictures are NAL types 16..=21; VPS 32, SPS 33 precede them.
    let is_key = |t: u8| (16..=21).contains(&t) || t == 32 || t == 33;
    if p.len() < 3 {
        return false;
    }
    match (p[0] >> 1) & 0x3f {
        48 => {
            let mut i = 2;
            while i + 2 < p.len() {
                let size = u16::from_be_bytes([p[i], p[i + 1]]) as usize;
                if size == 0 {
                    return false;
                }
                if is_key((p[i + 2] >> 1) & 0x3f) {
                    return true;
                }
                i += 2 + size;
            }
            false
        }
        49 => p[2] & 0x80 != 0 && is_key(p[2] & 0x3f),
        t => is_key(t),
    }
}

/// RFC 7741: payload descriptor, then (at the start of a partition 0) the VP8 payload header
/// whose lowest bit is 0 for a key frame.
fn vp8(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let start = b0 & 0x10 != 0;
    let pid = b0 & 0x07;
    if !start || pid != 0 {
        return false;
    }
    let mut i = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = p.get(i) else { return false };
        i += 1;
        if x & 0x80 != 0 {
            // PictureID: 7 or 15 bits.
            let Some(&pic) = p.get(i) else { return false };
            i += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // TID/Y/KEYIDX
        }
    }
    p.get(i).is_some_and(|h| h & 0x01 == 0)
}

/// RFC 9628: I P L F B E V Z. A keyframe starts where B (start of frame) is set and P (inter
/// picture predicted) is clear, on spatial layer 0.
fn vp9(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let inter_predicted = b0 & 0x40 != 0;
    let begin = b0 & 0x08 != 0;
    if inter_predicted || !begin {
        return false;
    }
    if b0 & 0x20 != 0 {
        // Layer indices present: skip picture id to read the spatial id.
        let mut i = 1;
        if b0 & 0x80 != 0 {
            let Some(&pic) = p.get(i) else { return false };
            i += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        let Some(&layer) = p.get(i) else { return false };
        return (layer >> 1) & 0x07 == 0;
    }
    true
}

/// AV1 RTP specification section 4.4: the N bit of the aggregation header marks the first
/// packet of a coded video sequence, i.e. a keyframe with its sequence header.
fn av1(p: &[u8]) -> bool {
    p.first().is_some_and(|h| h & 0x08 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_variants() {
        assert!(starts_keyframe(VideoCodec::H264, &[0x67, 0x42])); // SPS
        assert!(starts_keyframe(VideoCodec::H264, &[0x65, 0x88])); // IDR
        assert!(!starts_keyframe(VideoCodec::H264, &[0x41, 0x9a])); // non-IDR slice
        // STAP-A with SPS then PPS.
        assert!(starts_keyframe(VideoCodec::H264, &[0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce]));
        // STAP-A with only PPS.
        assert!(!starts_keyframe(VideoCodec::H264, &[0x78, 0, 2, 0x68, 0xce]));
        // FU-A start of IDR, and a continuation of it.
        assert!(starts_keyframe(VideoCodec::H264, &[0x7c, 0x85, 0]));
        assert!(!starts_keyframe(VideoCodec::H264, &[0x7c, 0x05, 0]));
    }

    #[test]
    fn vp8_key_and_delta() {
        // X=1, S=1, PID=0; I=1 with 15-bit picture id; payload header P=0.
        assert!(starts_keyframe(VideoCodec::Vp8, &[0x90, 0x80, 0x81, 0x23, 0x10]));
        assert!(!starts_keyframe(VideoCodec::Vp8, &[0x90, 0x80, 0x81, 0x23, 0x11]));
        // Not the start of a partition.
        assert!(!starts_keyframe(VideoCodec::Vp8, &[0x80, 0x80, 0x81, 0x23, 0x10]));
        // Minimal descriptor without extension.
        assert!(starts_keyframe(VideoCodec::Vp8, &[0x10, 0x9c]));
    }

    #[test]
    fn vp9_av1_h265() {
        assert!(starts_keyframe(VideoCodec::Vp9, &[0x88]));
        assert!(!starts_keyframe(VideoCodec::Vp9, &[0xc8, 0x01]));
        assert!(starts_keyframe(VideoCodec::Av1, &[0x18]));
        assert!(!starts_keyframe(VideoCodec::Av1, &[0x10]));
        assert!(starts_keyframe(VideoCodec::H265, &[0x40, 0x01, 0x0c])); // VPS
        assert!(starts_keyframe(VideoCodec::H265, &[0x62, 0x01, 0x93])); // FU start, IDR_W_RADL (19)
        assert!(!starts_keyframe(VideoCodec::H265, &[0x02, 0x01, 0xd0])); // TRAIL_R
    }

    #[test]
    fn garbage_never_panics() {
        let codecs = [VideoCodec::H264, VideoCodec::H265, VideoCodec::Vp8, VideoCodec::Vp9, VideoCodec::Av1];
        let mut seed = 0x1234_5678_u32;
        for len in 0..64 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            for c in codecs {
                let _ = starts_keyframe(c, &data);
            }
        }
        // A STAP-A whose size field points past the end.
        assert!(!starts_keyframe(VideoCodec::H264, &[0x78, 0xff, 0xff]));
    }
}
