//! A canned Opus tone: no encoder at run time.
//!
//! [`TONE_20MS`] is one real Opus packet (RFC 6716) of 20 ms of a 1000 Hz
//! sine tone at 48 kHz. 20 ms is exactly 20 periods of 1 kHz, so sending
//! the same packet every 20 ms (RTP timestamp +960 at the 48 kHz Opus RTP
//! clock, RFC 7587) gives a continuous, steady tone.
//!
//! # How it was produced
//!
//! Once, with FFmpeg 5.1.9 (Debian 12) and libopus 1.3.1, by
//! `tools/opus_tone.py extract`:
//!
//! ```text
//! ffmpeg -f lavfi -i sine=frequency=1000:sample_rate=48000 -t 2 \
//!     -c:a libopus -b:a 32k -vbr off -frame_duration 20 -application audio tone.ogg
//! ```
//!
//! The Ogg pages were parsed and audio packet 50 (t = 1.00 s, in the steady
//! middle of the 101 packets, all 80 bytes in CBR) was copied here. TOC byte
//! `0xb8`: configuration 23 = CELT-only, super-wideband, 20 ms; mono; one
//! frame (code 0). The sine source has amplitude 1/8 (-18 dBFS peak).
//!
//! # How it was checked
//!
//! `tools/opus_tone.py check` wrote an Ogg Opus file (RFC 7845) with the
//! original OpusHead/OpusTags and 500 copies of this packet (10 s) and
//! decoded it with FFmpeg (no errors printed):
//!
//! * `ffmpeg -i rep.ogg -af astats`: RMS level -21.106 dB, peak level
//!   -18.015 dB (the sine source's amplitude), zero crossings rate
//!   0.041667 per sample = 2000 per second, i.e. 1000 Hz;
//! * without the first and last 100 ms: 100.0 % of the power at 1000 Hz
//!   (Goertzel), zero-crossing frequency 1000.000 Hz (the original
//!   2-second encode: -21.096 dBFS RMS, 99.9 %, 999.7 Hz);
//! * steady state: from the 11th packet on, every 20 ms frame has an RMS of
//!   -21.09 dBFS (+-0.005 dB) and consecutive frames differ by at most
//!   8.5e-5 (peak 0.126, i.e. -63 dB), so one repeated packet is seamless.
//!
//! The first ~200 ms fade in (frame RMS -29.6, -25.4, -23.3, -22.2 dBFS,
//! ...) while the decoder's inter-frame energy prediction converges from
//! its initial state; after that the tone is steady.

/// One 20 ms Opus packet (48 kHz, mono, CELT) of a 1000 Hz sine tone; see
/// the module docs for how it was produced and checked.
pub const TONE_20MS: &[u8] = &[
    0xb8, 0xc7, 0x80, 0xd3, 0xdb, 0x93, 0xe6, 0x74, 0x03, 0xf8, 0x81, 0xa8, 0x69, 0xa3, 0x80, 0xb1, 0x2f,
    0x2e, 0x5c, 0xb0, 0x21, 0x8c, 0x1e, 0x21, 0x5a, 0x17, 0xe8, 0x6d, 0x08, 0xd0, 0xb7, 0x6e, 0x80, 0x09,
    0x5a, 0x09, 0x32, 0x73, 0xe0, 0xc0, 0xa3, 0x7e, 0xdd, 0x0e, 0xf3, 0xd4, 0x5e, 0xb9, 0xc0, 0x7b, 0xb4,
    0x57, 0x03, 0x0f, 0x53, 0x3f, 0x11, 0x9c, 0x9e, 0xcd, 0x98, 0xc3, 0x75, 0xff, 0x69, 0x8f, 0xc4, 0xf4,
    0xda, 0xbf, 0x1f, 0xc3, 0xda, 0xdb, 0x38, 0xfa, 0xc5, 0x4f, 0x73, 0x11,
];

/// Duration of [`TONE_20MS`] in 48 kHz RTP timestamp units (RFC 7587).
pub const TONE_SAMPLES: u32 = 960;

/// The tone packet, to be sent every 20 ms with the RTP timestamp advanced
/// by [`TONE_SAMPLES`].
pub fn tone_packet() -> &'static [u8] {
    TONE_20MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_is_a_20ms_celt_single_frame() {
        let p = tone_packet();
        assert_eq!(p.len(), 80);
        let toc = p[0];
        let config = toc >> 3;
        // RFC 6716 3.1: configs 16..=31 are CELT-only; 16 + 4k + 3 is 20 ms.
        assert!((16..=31).contains(&config) && config % 4 == 3, "config {config}");
        assert_eq!(toc & 0x03, 0, "code 0: one frame in the packet");
    }
}
