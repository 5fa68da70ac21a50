//! RTP header reading (RFC 3550 section 5.1, RFC 8285 header extensions) and the RTCP a receiver
//! writes (RFC 3550 RR + SDES, RFC 4585 generic NACK and PLI). Everything here works on the
//! clear parts of SRTP packets, so the load generator reads sequence numbers and timestamps
//! without decrypting.

/// The fixed part of an RTP header the receiver needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpInfo {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    /// Length of the whole header (fixed part, CSRCs, extension block).
    pub header_len: usize,
}

/// Length of the RTP header including CSRCs and the extension block, if the packet is long
/// enough to hold it.
pub fn header_len(pkt: &[u8]) -> Option<usize> {
    if pkt.len() < 12 || pkt[0] >> 6 != 2 {
        return None;
    }
    let mut len = 12 + 4 * usize::from(pkt[0] & 0x0f);
    if pkt[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([*pkt.get(len + 2)?, *pkt.get(len + 3)?]);
        len += 4 + 4 * usize::from(words);
    }
    (len <= pkt.len()).then_some(len)
}

pub fn parse(pkt: &[u8]) -> Option<RtpInfo> {
    let header_len = header_len(pkt)?;
    Some(RtpInfo {
        pt: pkt[1] & 0x7f,
        marker: pkt[1] & 0x80 != 0,
        seq: u16::from_be_bytes([pkt[2], pkt[3]]),
        ts: u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]),
        ssrc: u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]),
        header_len,
    })
}

/// Whether a packet that starts like RTP is RTCP (RFC 5761 section 4: PT 192..=223 after the
/// marker bit is taken into the PT byte).
pub fn is_rtcp(pkt: &[u8]) -> bool {
    pkt.len() >= 2 && (192..=223).contains(&pkt[1])
}

/// The value of header extension `id` (RFC 8285 one-byte 0xBEDE or two-byte 0x100X form).
pub fn extension(pkt: &[u8], id: u8) -> Option<&[u8]> {
    if pkt.len() < 12 || pkt[0] & 0x10 == 0 {
        return None;
    }
    let at = 12 + 4 * usize::from(pkt[0] & 0x0f);
    let profile = u16::from_be_bytes([*pkt.get(at)?, *pkt.get(at + 1)?]);
    let words = u16::from_be_bytes([*pkt.get(at + 2)?, *pkt.get(at + 3)?]);
    let block = pkt.get(at + 4..at + 4 + 4 * usize::from(words))?;
    let mut i = 0;
    if profile == 0xBEDE {
        while i < block.len() {
            let b = block[i];
            if b == 0 {
                i += 1; // padding
                continue;
            }
            let (eid, len) = (b >> 4, usize::from(b & 0x0f) + 1);
            if eid == 15 {
                return None; // reserved: stop parsing (RFC 8285 section 4.2)
            }
            let v = block.get(i + 1..i + 1 + len)?;
            if eid == id {
                return Some(v);
            }
            i += 1 + len;
        }
    } else if profile & 0xfff0 == 0x1000 {
        while i + 1 < block.len() {
            let (eid, len) = (block[i], usize::from(block[i + 1]));
            if eid == 0 {
                i += 1;
                continue;
            }
            let v = block.get(i + 2..i + 2 + len)?;
            if eid == id {
                return Some(v);
            }
            i += 2 + len;
        }
    }
    None
}

/// abs-capture-time's capture timestamp (NTP 64-bit, upper 32 bits seconds since 1900).
pub fn abs_capture_ntp(pkt: &[u8], id: u8) -> Option<u64> {
    let v = extension(pkt, id)?;
    Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}

/// NTP 64-bit time of a wall-clock instant (seconds since 1900 in Q32.32).
pub fn ntp_of(t: std::time::SystemTime) -> u64 {
    const SECS_1900: u64 = 2_208_988_800;
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    ((d.as_secs() + SECS_1900) << 32) | ((u64::from(d.subsec_nanos()) << 32) / 1_000_000_000)
}

/// Microseconds between two NTP 64-bit times (b - a), negative when b is earlier.
pub fn ntp_diff_us(a: u64, b: u64) -> i64 {
    let d = b.wrapping_sub(a) as i64; // Q32.32 seconds
    ((d as i128 * 1_000_000) >> 32) as i64
}

/// One RFC 3550 section 6.4.1 report block.
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    pub cumulative_lost: i32,
    pub highest_seq: u32,
    pub jitter: u32,
}

/// Receiver report (PT 201) followed by an SDES with a CNAME (PT 202): the compound packet
/// RFC 3550 section 6.1 asks for.
pub fn receiver_report(out: &mut Vec<u8>, sender_ssrc: u32, blocks: &[ReportBlock], cname: &str) {
    out.clear();
    let n = blocks.len().min(31);
    out.push(0x80 | n as u8);
    out.push(201);
    out.extend_from_slice(&((1 + 6 * n) as u16).to_be_bytes());
    out.extend_from_slice(&sender_ssrc.to_be_bytes());
    for b in &blocks[..n] {
        out.extend_from_slice(&b.ssrc.to_be_bytes());
        let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
        out.extend_from_slice(&((u32::from(b.fraction_lost) << 24) | lost).to_be_bytes());
        out.extend_from_slice(&b.highest_seq.to_be_bytes());
        out.extend_from_slice(&b.jitter.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes()); // LSR: we do not track the server's SRs
        out.extend_from_slice(&0u32.to_be_bytes()); // DLSR
    }
    // SDES: one chunk with CNAME, null-terminated and padded to 32 bits.
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    let chunk_len = 4 + 2 + cname.len() + 1;
    let padded = chunk_len.div_ceil(4) * 4;
    out.push(0x81);
    out.push(202);
    out.extend_from_slice(&((padded / 4) as u16).to_be_bytes());
    out.extend_from_slice(&sender_ssrc.to_be_bytes());
    out.push(1); // CNAME
    out.push(cname.len() as u8);
    out.extend_from_slice(cname);
    out.resize(out.len() + (padded - chunk_len) + 1, 0);
}

/// Generic NACK (RFC 4585 section 6.2.1) for the sequence numbers `lost` (any order).
pub fn nack(out: &mut Vec<u8>, sender_ssrc: u32, media_ssrc: u32, lost: &[u16]) {
    out.clear();
    let mut sorted: Vec<u16> = lost.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut fci: Vec<(u16, u16)> = Vec::new();
    for s in sorted {
        match fci.last_mut() {
            Some((pid, blp)) if s.wrapping_sub(*pid) >= 1 && s.wrapping_sub(*pid) <= 16 => {
                *blp |= 1 << (s.wrapping_sub(*pid) - 1);
            }
            _ => fci.push((s, 0)),
        }
    }
    out.push(0x81); // FMT 1
    out.push(205);
    out.extend_from_slice(&((2 + fci.len()) as u16).to_be_bytes());
    out.extend_from_slice(&sender_ssrc.to_be_bytes());
    out.extend_from_slice(&media_ssrc.to_be_bytes());
    for (pid, blp) in fci {
        out.extend_from_slice(&pid.to_be_bytes());
        out.extend_from_slice(&blp.to_be_bytes());
    }
}

/// Picture Loss Indication (RFC 4585 section 6.3.1).
pub fn pli(out: &mut Vec<u8>, sender_ssrc: u32, media_ssrc: u32) {
    out.clear();
    out.push(0x81);
    out.push(206);
    out.extend_from_slice(&2u16.to_be_bytes());
    out.extend_from_slice(&sender_ssrc.to_be_bytes());
    out.extend_from_slice(&media_ssrc.to_be_bytes());
}

/// Receive-side sequence tracking of one SSRC: extended sequence numbers, the SRTP rollover
/// counter guess of RFC 3711 section 3.3.1, duplicates and gaps, over a sliding window.
pub struct SeqTracker {
    max_ext: Option<u64>,
    /// Bit i set: extended seq (base + i) was received; base = max_ext - WINDOW + 1.
    seen: Box<[u64; WINDOW / 64]>,
    pub received: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub first_ext: u64,
}

pub const WINDOW: usize = 4096;

pub enum SeqEvent {
    /// New packet; `gap` sequence numbers before it are missing (first arrival only).
    New { ext: u64, gap: u64 },
    /// Arrived before the newest one but not seen yet.
    Late { ext: u64 },
    Duplicate,
    /// Too old for the window.
    TooOld,
}

impl Default for SeqTracker {
    fn default() -> Self {
        SeqTracker {
            max_ext: None,
            seen: Box::new([0; WINDOW / 64]),
            received: 0,
            duplicates: 0,
            reordered: 0,
            first_ext: 0,
        }
    }
}

impl SeqTracker {
    /// The extended sequence number (ROC << 16 | seq) a new `seq` most likely has.
    pub fn extend(&self, seq: u16) -> u64 {
        let Some(max) = self.max_ext else { return u64::from(seq) + (1 << 16) };
        let roc = max >> 16;
        let cands = [roc.saturating_sub(1), roc, roc + 1].map(|r| (r << 16) | u64::from(seq));
        *cands
            .iter()
            .min_by_key(|&&c| c.abs_diff(max))
            .unwrap_or(&cands[1])
    }

    /// ROC (for SRTP) of an extended sequence number. The first packet gets ROC 1 internally to
    /// allow going back; SRTP's ROC starts at 0.
    pub fn roc(ext: u64) -> u32 {
        ((ext >> 16).saturating_sub(1)) as u32
    }

    pub fn max_ext(&self) -> Option<u64> {
        self.max_ext
    }

    fn bit(&mut self, ext: u64) -> Option<(usize, u64)> {
        let max = self.max_ext?;
        if ext > max || max - ext >= WINDOW as u64 {
            return None;
        }
        let i = (ext % WINDOW as u64) as usize;
        Some((i / 64, 1u64 << (i % 64)))
    }

    pub fn is_seen(&mut self, ext: u64) -> bool {
        self.bit(ext).is_some_and(|(w, m)| self.seen[w] & m != 0)
    }

    pub fn record(&mut self, seq: u16) -> SeqEvent {
        let ext = self.extend(seq);
        self.record_ext(ext)
    }

    pub fn record_ext(&mut self, ext: u64) -> SeqEvent {
        match self.max_ext {
            None => {
                self.max_ext = Some(ext);
                self.first_ext = ext;
                self.mark(ext);
                self.received += 1;
                SeqEvent::New { ext, gap: 0 }
            }
            Some(max) if ext > max => {
                // Clear the bits of the numbers the window slides over.
                let step = ext - max;
                if step >= WINDOW as u64 {
                    self.seen.fill(0);
                } else {
                    for e in max + 1..=ext {
                        let i = (e % WINDOW as u64) as usize;
                        self.seen[i / 64] &= !(1u64 << (i % 64));
                    }
                }
                self.max_ext = Some(ext);
                self.mark(ext);
                self.received += 1;
                SeqEvent::New { ext, gap: step - 1 }
            }
            Some(max) => {
                if max - ext >= WINDOW as u64 {
                    return SeqEvent::TooOld;
                }
                if self.is_seen(ext) {
                    self.duplicates += 1;
                    return SeqEvent::Duplicate;
                }
                self.mark(ext);
                self.received += 1;
                self.reordered += 1;
                SeqEvent::Late { ext }
            }
        }
    }

    fn mark(&mut self, ext: u64) {
        if let Some((w, m)) = self.bit(ext) {
            self.seen[w] |= m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_one_byte_extension() {
        // V=2, X=1, CC=0, PT 96, seq 7, ts 9, ssrc 0x11223344, BEDE block: id 7 len 8, padding.
        let mut p = vec![0x90, 96, 0, 7, 0, 0, 0, 9, 0x11, 0x22, 0x33, 0x44, 0xBE, 0xDE, 0, 3];
        p.push(0x77);
        p.extend_from_slice(&0x0102_0304_0506_0708u64.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0]);
        p.extend_from_slice(b"payload");
        let h = parse(&p).unwrap();
        assert_eq!((h.pt, h.seq, h.ts, h.ssrc, h.header_len), (96, 7, 9, 0x11223344, 28));
        assert_eq!(abs_capture_ntp(&p, 7), Some(0x0102_0304_0506_0708));
        assert_eq!(abs_capture_ntp(&p, 3), None);
        // Truncated extension block: no panic, no value.
        assert!(parse(&p[..20]).is_none());
        assert_eq!(extension(&p[..20], 7), None);
    }

    #[test]
    fn two_byte_extension() {
        let mut p = vec![0x90, 96, 0, 7, 0, 0, 0, 9, 0, 0, 0, 1, 0x10, 0x00, 0, 3];
        p.extend_from_slice(&[7, 8]);
        p.extend_from_slice(&42u64.to_be_bytes());
        p.extend_from_slice(&[0, 0]);
        assert_eq!(abs_capture_ntp(&p, 7), Some(42));
    }

    #[test]
    fn rtcp_layouts() {
        let mut o = Vec::new();
        receiver_report(&mut o, 1, &[ReportBlock { ssrc: 2, fraction_lost: 3, cumulative_lost: 4, highest_seq: 5, jitter: 6 }], "abc");
        assert_eq!(&o[..4], &[0x81, 201, 0, 7]);
        let sdes = &o[32..];
        assert_eq!(sdes[1], 202);
        assert_eq!(sdes.len() % 4, 0);
        assert_eq!(usize::from(u16::from_be_bytes([sdes[2], sdes[3]])) * 4 + 4, sdes.len());
        nack(&mut o, 1, 2, &[10, 11, 26, 27, 10]);
        // 10 with bits for 11 and 26; 27 starts a new entry.
        assert_eq!(&o[12..], &[0, 10, 0x80, 0x01, 0, 27, 0, 0]);
        assert_eq!(u16::from_be_bytes([o[2], o[3]]), 4);
        pli(&mut o, 1, 2);
        assert_eq!(o.len(), 12);
    }

    #[test]
    fn seq_tracker_wrap_gap_dup_late() {
        let mut t = SeqTracker::default();
        assert!(matches!(t.record(65534), SeqEvent::New { gap: 0, .. }));
        assert!(matches!(t.record(65535), SeqEvent::New { gap: 0, .. }));
        let SeqEvent::New { ext, gap } = t.record(2) else { panic!() };
        assert_eq!(gap, 2);
        assert_eq!(SeqTracker::roc(ext), 1);
        assert!(matches!(t.record(1), SeqEvent::Late { .. }));
        assert!(matches!(t.record(1), SeqEvent::Duplicate));
        assert_eq!((t.received, t.duplicates, t.reordered), (4, 1, 1));
    }

    #[test]
    fn ntp_roundtrip() {
        let now = std::time::SystemTime::now();
        let a = ntp_of(now);
        let b = ntp_of(now + std::time::Duration::from_micros(1500));
        assert!((ntp_diff_us(a, b) - 1500).abs() <= 1);
        assert!((ntp_diff_us(b, a) + 1500).abs() <= 1);
    }
}
