//! Synthetic H264 (RFC 6184) and Opus-sized RTP payloads.
//!
//! Every payload ends with a 16-byte stamp (magic, publisher packet number, send time), so the
//! players can measure loss and latency whatever the server does with header extensions (Weir
//! does not forward abs-send-time / abs-capture-time). In H264 the stamp sits inside FU-A
//! fragment data, or in a filler-data NAL unit (type 12) at the end of a STAP-A.

pub const STAMP_LEN: usize = 16;
pub const MAGIC: u32 = 0x5745_4952; // "WEIR"
/// Maximum RTP payload (the rest of a 1200-byte packet is header, extensions and the SRTP tag).
pub const MAX_PAYLOAD: usize = 1100;

/// Baseline profile 3.1, 640x368 — a small valid SPS and PPS (nal headers included).
pub const SPS: &[u8] = &[
    0x67, 0x42, 0xc0, 0x1f, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00,
    0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20,
];
pub const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub number: u32,
    pub send_us: u64,
}

pub fn write_stamp(out: &mut Vec<u8>, s: Stamp) {
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.extend_from_slice(&s.number.to_be_bytes());
    out.extend_from_slice(&s.send_us.to_be_bytes());
}

/// Replaces the send time of a stamped payload (a paced packet leaves after it was made).
pub fn restamp(payload: &mut [u8], send_us: u64) {
    if read_stamp(payload).is_some() {
        let n = payload.len();
        payload[n - 8..].copy_from_slice(&send_us.to_be_bytes());
    }
}

pub fn read_stamp(payload: &[u8]) -> Option<Stamp> {
    if payload.len() < STAMP_LEN {
        return None;
    }
    let t = &payload[payload.len() - STAMP_LEN..];
    if u32::from_be_bytes(t[0..4].try_into().ok()?) != MAGIC {
        return None;
    }
    Some(Stamp {
        number: u32::from_be_bytes(t[4..8].try_into().ok()?),
        send_us: u64::from_be_bytes(t[8..16].try_into().ok()?),
    })
}

/// xorshift64 pseudo-random filler.
pub struct Rng(pub u64);
impl Rng {
    pub fn fill(&mut self, out: &mut Vec<u8>, n: usize) {
        for _ in 0..n {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            out.push(self.0 as u8);
        }
    }
}

/// Packetizes one frame of `size` bytes of NAL data (one NAL unit, IDR when `key`), preceded by a
/// STAP-A with SPS/PPS on keyframes. The stamp numbers are `first_number..`. Returns payloads;
/// the last one of a frame carries the marker bit.
pub fn frame(
    key: bool,
    size: usize,
    first_number: u32,
    send_us: u64,
    rng: &mut Rng,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut number = first_number;
    if key {
        let mut p = vec![24u8]; // STAP-A, NRI 0 in the STAP header... set NRI 3 below
        p[0] |= 0x60;
        for nal in [SPS, PPS] {
            p.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            p.extend_from_slice(nal);
        }
        p.extend_from_slice(&((1 + STAMP_LEN) as u16).to_be_bytes());
        p.push(12); // filler data, NRI 0
        write_stamp(&mut p, Stamp { number, send_us });
        number += 1;
        out.push(p);
    }
    let nal_header: u8 = if key { 0x65 } else { 0x41 }; // IDR NRI 3 / non-IDR NRI 2
    let per = MAX_PAYLOAD - 2 - STAMP_LEN;
    let size = size.max(1);
    let nfrag = size.div_ceil(per);
    let mut left = size;
    for i in 0..nfrag {
        let n = left.min(per);
        left -= n;
        let mut p = Vec::with_capacity(2 + n + STAMP_LEN);
        p.push(nal_header & 0xe0 | 28); // FU indicator: F/NRI from the NAL, type 28
        let mut fu = nal_header & 0x1f;
        if i == 0 {
            fu |= 0x80;
        }
        if i + 1 == nfrag {
            fu |= 0x40;
        }
        p.push(fu);
        rng.fill(&mut p, n);
        write_stamp(&mut p, Stamp { number, send_us });
        number += 1;
        out.push(p);
    }
    out
}

/// True when the payload starts a keyframe: a STAP-A carrying an SPS, or the first FU-A
/// fragment of an IDR, or a single IDR / SPS NAL unit.
pub fn is_keyframe_start(p: &[u8]) -> bool {
    match p.first().map(|b| b & 0x1f) {
        Some(5) | Some(7) => true,
        Some(24) => p.len() > 3 && p[3] & 0x1f == 7,
        Some(28) => p.len() > 1 && p[1] & 0x80 != 0 && p[1] & 0x1f == 5,
        _ => false,
    }
}

/// First byte of our audio payloads (never a valid H264 first byte: the F bit is set).
pub const AUDIO_TOC: u8 = 0xfc;

/// An Opus-sized audio payload (TOC byte for 20 ms CELT fullband, filler, stamp).
pub fn audio(size: usize, number: u32, send_us: u64, rng: &mut Rng) -> Vec<u8> {
    let mut p = vec![AUDIO_TOC];
    rng.fill(&mut p, size.saturating_sub(1 + STAMP_LEN));
    write_stamp(&mut p, Stamp { number, send_us });
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restamp_changes_only_the_send_time() {
        let mut p = frame(false, 500, 7, 1, &mut Rng(3)).remove(0);
        restamp(&mut p, 99);
        assert_eq!(read_stamp(&p), Some(Stamp { number: 7, send_us: 99 }));
    }

    #[test]
    fn keyframe_is_stap_a_then_fu_a() {
        let mut r = Rng(1);
        let f = frame(true, 5000, 100, 42, &mut r);
        // STAP-A + ceil(5000 / 1082) FU-A
        assert_eq!(f.len(), 1 + 5);
        let stap = &f[0];
        assert_eq!(stap[0] & 0x1f, 24);
        assert_eq!(u16::from_be_bytes([stap[1], stap[2]]) as usize, SPS.len());
        assert_eq!(&stap[3..3 + SPS.len()], SPS);
        let o = 3 + SPS.len();
        assert_eq!(
            u16::from_be_bytes([stap[o], stap[o + 1]]) as usize,
            PPS.len()
        );
        assert_eq!(&stap[o + 2..o + 2 + PPS.len()], PPS);
        let o = o + 2 + PPS.len();
        assert_eq!(
            u16::from_be_bytes([stap[o], stap[o + 1]]) as usize,
            1 + STAMP_LEN
        );
        assert_eq!(stap[o + 2] & 0x1f, 12);
        assert_eq!(o + 2 + 1 + STAMP_LEN, stap.len(), "STAP-A lengths add up");
        assert!(is_keyframe_start(stap));
        assert!(is_keyframe_start(&f[1]));
        // FU-A headers: start bit only on the first, end bit only on the last; type 5 (IDR).
        for (i, p) in f[1..].iter().enumerate() {
            assert_eq!(p[0], 0x60 | 28);
            assert_eq!(p[1] & 0x1f, 5);
            assert_eq!(p[1] & 0x80 != 0, i == 0);
            assert_eq!(p[1] & 0x40 != 0, i == 4);
            assert!(p.len() <= MAX_PAYLOAD);
        }
        let data: usize = f[1..].iter().map(|p| p.len() - 2 - STAMP_LEN).sum();
        assert_eq!(data, 5000);
        let nums: Vec<u32> = f.iter().map(|p| read_stamp(p).unwrap().number).collect();
        assert_eq!(nums, (100..106).collect::<Vec<_>>());
        assert!(f.iter().all(|p| read_stamp(p).unwrap().send_us == 42));
    }

    #[test]
    fn delta_frame_is_non_idr() {
        let mut r = Rng(7);
        let f = frame(false, 800, 0, 1, &mut r);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0][0], 0x40 | 28);
        assert_eq!(f[0][1], 0x80 | 0x40 | 1);
        assert!(!is_keyframe_start(&f[0]));
    }

    #[test]
    fn audio_stamp() {
        let mut r = Rng(3);
        let p = audio(120, 9, 77, &mut r);
        assert_eq!(p.len(), 120);
        assert_eq!(
            read_stamp(&p),
            Some(Stamp {
                number: 9,
                send_us: 77
            })
        );
        assert_eq!(read_stamp(&p[..p.len() - 1]), None);
    }
}
