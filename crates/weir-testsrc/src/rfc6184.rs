//! RTP payload format for H.264 (RFC 6184), `packetization-mode=1`
//! (non-interleaved mode, RFC 6184 section 6.3).
//!
//! [`packetize`] turns the NAL units of one access unit into RTP payloads:
//!
//! * consecutive small NAL units that fit together are aggregated into one
//!   **STAP-A** (type 24, section 5.7.1), typically SPS + PPS;
//! * a NAL unit that fits on its own is sent as a **single NAL unit packet**
//!   (section 5.6);
//! * a larger NAL unit is split into **FU-A** fragments (type 28,
//!   section 5.8) of nearly equal size.
//!
//! Only the payloads are produced; the RTP header is the caller's. Per
//! RFC 6184 section 5.1 the caller sets the RTP **marker bit on the last
//! payload of an access unit** (the last element appended for a frame) and
//! gives every payload of the frame the same RTP timestamp; sequence numbers
//! follow the order of `out`.

/// NAL unit type of a STAP-A aggregation packet (RFC 6184 section 5.7.1).
pub const STAP_A: u8 = 24;
/// NAL unit type of an FU-A fragment (RFC 6184 section 5.8).
pub const FU_A: u8 = 28;

/// Appends to `out` the RTP payloads carrying `nals` (NAL units without
/// start codes, in decoding order), none longer than `max_payload` bytes.
///
/// Empty NAL units are skipped. With `max_payload < 3` (too small for an
/// FU-A carrying one byte) nothing is appended. Never panics.
pub fn packetize(nals: &[Vec<u8>], max_payload: usize, out: &mut Vec<Vec<u8>>) {
    if max_payload < 3 {
        return;
    }
    let nals: Vec<&[u8]> = nals.iter().map(Vec::as_slice).filter(|n| !n.is_empty()).collect();
    let mut i = 0;
    while i < nals.len() {
        // How many NAL units from `i` on fit into one STAP-A?
        let mut size = 1; // STAP-A NAL unit header
        let mut end = i;
        while let Some(nal) = nals.get(end) {
            if !can_aggregate(nal) || size + 2 + nal.len() > max_payload {
                break;
            }
            size += 2 + nal.len();
            end += 1;
        }
        if end - i >= 2 {
            out.push(stap_a(&nals[i..end], size));
            i = end;
            continue;
        }
        let nal = nals[i];
        if nal.len() <= max_payload {
            out.push(nal.to_vec()); // single NAL unit packet, section 5.6
        } else {
            fu_a(nal, max_payload, out);
        }
        i += 1;
    }
}

/// Only ordinary NAL units (types 1..=23) go into a STAP-A, and only if
/// their size fits in its 16-bit NALU size field (section 5.7.1).
fn can_aggregate(nal: &[u8]) -> bool {
    let nal_type = nal[0] & 0x1f;
    (1..=23).contains(&nal_type) && nal.len() <= usize::from(u16::MAX)
}

/// STAP-A, section 5.7.1: a header byte whose F bit is the OR of the
/// aggregated units' F bits and whose NRI is the maximum of their NRIs
/// (section 5.7), then for each unit a 16-bit big-endian size and the unit.
fn stap_a(nals: &[&[u8]], size: usize) -> Vec<u8> {
    let f = nals.iter().fold(0, |acc, n| acc | (n[0] & 0x80));
    let nri = nals.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
    let mut p = Vec::with_capacity(size);
    p.push(f | nri | STAP_A);
    for nal in nals {
        p.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        p.extend_from_slice(nal);
    }
    p
}

/// FU-A, section 5.8: the NAL unit header is replaced by an FU indicator
/// (F and NRI of the unit, type 28) and an FU header (S, E, R = 0, the
/// unit's type); the rest of the unit is cut into fragments whose sizes
/// differ by at most one byte. Called only for `nal.len() > max_payload`
/// (so there are always at least two fragments: S and E are never both set
/// in one packet) and `max_payload >= 3`.
fn fu_a(nal: &[u8], max_payload: usize, out: &mut Vec<Vec<u8>>) {
    let indicator = (nal[0] & 0xe0) | FU_A;
    let nal_type = nal[0] & 0x1f;
    let payload = &nal[1..];
    let capacity = max_payload - 2;
    let count = payload.len().div_ceil(capacity);
    let (base, extra) = (payload.len() / count, payload.len() % count);
    let mut offset = 0;
    for k in 0..count {
        let len = base + usize::from(k < extra);
        let start = if k == 0 { 0x80 } else { 0 };
        let end = if k + 1 == count { 0x40 } else { 0 };
        let mut p = Vec::with_capacity(2 + len);
        p.push(indicator);
        p.push(start | end | nal_type);
        p.extend_from_slice(&payload[offset..offset + len]);
        offset += len;
        out.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::PatternEncoder;

    /// Reassembles NAL units from RTP payloads (single NAL unit, STAP-A and
    /// FU-A), checking the structure as it goes.
    fn depacketize(payloads: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
        let mut nals = Vec::new();
        let mut fu: Option<Vec<u8>> = None;
        for p in payloads {
            let header = *p.first().ok_or("empty payload")?;
            match header & 0x1f {
                1..=23 => nals.push(p.clone()),
                STAP_A => {
                    let (mut rest, mut f, mut nri) = (&p[1..], 0, 0);
                    if rest.is_empty() {
                        return Err("empty STAP-A".into());
                    }
                    while !rest.is_empty() {
                        let len = usize::from(u16::from_be_bytes([rest[0], *rest.get(1).ok_or("cut size")?]));
                        let nal = rest.get(2..2 + len).ok_or("STAP-A unit overruns")?;
                        f |= nal[0] & 0x80;
                        nri = nri.max(nal[0] & 0x60);
                        nals.push(nal.to_vec());
                        rest = &rest[2 + len..];
                    }
                    if header != f | nri | STAP_A {
                        return Err(format!("STAP-A header {header:#04x}"));
                    }
                }
                FU_A => {
                    let fu_header = *p.get(1).ok_or("FU-A without FU header")?;
                    let (s, e) = (fu_header & 0x80 != 0, fu_header & 0x40 != 0);
                    if s && e || fu_header & 0x20 != 0 || p.len() < 3 {
                        return Err(format!("bad FU header {fu_header:#04x}"));
                    }
                    if s {
                        if fu.is_some() {
                            return Err("FU-A start inside a fragmented unit".into());
                        }
                        fu = Some(vec![(header & 0xe0) | (fu_header & 0x1f)]);
                    }
                    let buf = fu.as_mut().ok_or("FU-A continuation without start")?;
                    if buf[0] != (header & 0xe0) | (fu_header & 0x1f) {
                        return Err("FU-A header changed between fragments".into());
                    }
                    buf.extend_from_slice(&p[2..]);
                    if e {
                        nals.extend(fu.take());
                    }
                }
                t => return Err(format!("unexpected NAL unit type {t}")),
            }
        }
        if fu.is_some() {
            return Err("unterminated FU-A".into());
        }
        Ok(nals)
    }

    fn nal(header: u8, len: usize, seed: u8) -> Vec<u8> {
        let mut v = vec![header];
        v.extend((1..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
        v
    }

    #[test]
    fn sps_pps_aggregate_and_idr_fragments() {
        let enc = PatternEncoder::new(320, 240, 15, 15).unwrap();
        let (sps, pps) = (enc.sps().to_vec(), enc.pps().to_vec());
        let idr = nal(0x65, 5000, 1);
        let nals = vec![sps.clone(), pps.clone(), idr.clone()];
        let mut out = Vec::new();
        packetize(&nals, 1200, &mut out);
        assert_eq!(out[0][0], 0x78, "STAP-A, NRI 3");
        assert_eq!(out[0].len(), 1 + 2 + sps.len() + 2 + pps.len());
        // 4999 bytes after the header at 1198 per fragment: 5 fragments.
        assert_eq!(out.len(), 6);
        let sizes: Vec<usize> = out[1..].iter().map(Vec::len).collect();
        assert_eq!(sizes, [1002, 1002, 1002, 1002, 1001]);
        assert_eq!((out[1][0], out[1][1]), (0x7c, 0x85), "FU indicator, S + type 5");
        assert_eq!(out[3][1], 0x05);
        assert_eq!(out[5][1], 0x45, "E + type 5");
        assert_eq!(depacketize(&out).unwrap(), nals);
    }

    #[test]
    fn stap_a_header_is_or_of_f_and_max_of_nri() {
        let nals = vec![nal(0x06, 10, 0), nal(0xc1, 10, 1), nal(0x21, 3, 2)];
        let mut out = Vec::new();
        packetize(&nals, 100, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0][0], 0x80 | 0x40 | STAP_A);
        assert_eq!(depacketize(&out).unwrap(), nals);
    }

    #[test]
    fn single_nal_unit_packets_and_limits() {
        let nals = vec![nal(0x41, 700, 0), nal(0x41, 700, 1), nal(0x41, 1200, 2)];
        let mut out = Vec::new();
        packetize(&nals, 1200, &mut out);
        assert_eq!(out, nals, "do not fit together: one packet each, exact fit allowed");

        out.clear();
        packetize(&[vec![], nal(0x41, 10, 0), vec![], nal(0x41, 10, 1)], 100, &mut out);
        assert_eq!(out.len(), 1, "empty NAL units are skipped");
        assert_eq!(depacketize(&out).unwrap().len(), 2);

        for max in [0, 1, 2] {
            out.clear();
            packetize(&nals, max, &mut out);
            assert!(out.is_empty());
        }
        out.clear();
        packetize(&[nal(0x65, 5, 9)], 3, &mut out);
        assert_eq!(out.len(), 4, "one byte per FU-A at max_payload 3");
        assert_eq!(depacketize(&out).unwrap(), vec![nal(0x65, 5, 9)]);

        // A NAL unit too large for the 16-bit STAP-A size goes alone.
        out.clear();
        let big = vec![nal(0x41, 70_000, 3), nal(0x41, 5, 4)];
        packetize(&big, 100_000, &mut out);
        assert_eq!(out, big);
    }

    #[test]
    fn random_roundtrips() {
        let mut state = 0x1234_5678_u32;
        let mut rand = move |n: u32| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) % n
        };
        for _ in 0..500 {
            let max = 3 + rand(1500) as usize;
            let count = rand(6) as usize;
            let nals: Vec<Vec<u8>> = (0..count)
                .map(|k| {
                    let limit = if rand(2) == 0 { 40 } else { 6000 };
                    let len = 1 + rand(limit) as usize;
                    nal(((rand(4) as u8) << 5) | (1 + rand(23) as u8), len, k as u8)
                })
                .collect();
            let mut out = Vec::new();
            packetize(&nals, max, &mut out);
            assert!(out.iter().all(|p| !p.is_empty() && p.len() <= max), "max {max}");
            assert_eq!(depacketize(&out).unwrap(), nals, "max {max}");
            // FU-A fragments of one unit differ in size by at most one byte.
            let mut sizes = Vec::new();
            for p in &out {
                if p[0] & 0x1f == FU_A {
                    sizes.push(p.len());
                    if p[1] & 0x40 != 0 {
                        let (lo, hi) = (sizes.iter().min(), sizes.iter().max());
                        assert!(hi.unwrap() - lo.unwrap() <= 1 && sizes.len() >= 2);
                        sizes.clear();
                    }
                }
            }
        }
    }

    /// The pattern stream survives packetization at 1200 bytes. With
    /// `WEIR_TESTSRC_DUMP_DIR` set, the reassembled stream is written there as
    /// Annex B (`rtp_roundtrip_320x240.h264`) for checking with FFmpeg.
    #[test]
    fn pattern_stream_roundtrip() {
        let mut enc = PatternEncoder::new(320, 240, 15, 15).unwrap();
        let mut annex_b = Vec::new();
        let mut payloads_total = 0;
        for _ in 0..45 {
            let frame = enc.next_frame();
            let mut out = Vec::new();
            packetize(&frame.nals, 1200, &mut out);
            payloads_total += out.len();
            assert!(out.iter().all(|p| p.len() <= 1200));
            if frame.keyframe {
                assert_eq!(out[0][0] & 0x1f, STAP_A, "SPS + PPS in one STAP-A");
            }
            let nals = depacketize(&out).unwrap();
            assert_eq!(nals, frame.nals);
            for n in &nals {
                annex_b.extend_from_slice(&[0, 0, 0, 1]);
                annex_b.extend_from_slice(n);
            }
        }
        assert!(payloads_total > 45);
        if let Some(dir) = std::env::var_os("WEIR_TESTSRC_DUMP_DIR") {
            let path = std::path::Path::new(&dir).join("rtp_roundtrip_320x240.h264");
            std::fs::write(path, &annex_b).unwrap();
        }
    }
}
