//! SRTP protect with AEAD_AES_128_GCM (RFC 7714), the profile Chromium negotiates first.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};

pub const TAG_LEN: usize = 16;
pub const RTP_HEADER_LEN: usize = 12;

pub struct SrtpGcm {
    key: LessSafeKey,
    salt: [u8; 12],
}

impl SrtpGcm {
    pub fn new(key: &[u8; 16], salt: &[u8; 12]) -> SrtpGcm {
        SrtpGcm {
            key: LessSafeKey::new(UnboundKey::new(&AES_128_GCM, key).expect("aes-128-gcm key")),
            salt: *salt,
        }
    }

    /// RFC 7714 section 8.1: IV = (00 00 || SSRC || ROC || SEQ) XOR salt.
    pub fn iv(&self, ssrc: u32, roc: u32, seq: u16) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..10].copy_from_slice(&roc.to_be_bytes());
        iv[10..12].copy_from_slice(&seq.to_be_bytes());
        for (b, s) in iv.iter_mut().zip(self.salt.iter()) {
            *b ^= s;
        }
        iv
    }

    /// Encrypts the payload of the RTP packet in `pkt` (12-byte header, no CSRC or extension) in place
    /// and appends the 16-byte tag. The header is the AAD.
    pub fn protect(&self, pkt: &mut Vec<u8>, roc: u32) {
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let nonce = Nonce::assume_unique_for_key(self.iv(ssrc, roc, seq));
        let (hdr, payload) = pkt.split_at_mut(RTP_HEADER_LEN);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&*hdr), payload)
            .expect("seal");
        pkt.extend_from_slice(tag.as_ref());
    }

    /// Inverse of `protect` (used by the tests to check the format).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn unprotect(&self, pkt: &[u8], roc: u32) -> Option<Vec<u8>> {
        if pkt.len() < RTP_HEADER_LEN + TAG_LEN {
            return None;
        }
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let nonce = Nonce::assume_unique_for_key(self.iv(ssrc, roc, seq));
        let mut body = pkt[RTP_HEADER_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(&pkt[..RTP_HEADER_LEN]), &mut body)
            .ok()?
            .len();
        body.truncate(plain);
        let mut out = pkt[..RTP_HEADER_LEN].to_vec();
        out.extend_from_slice(&body);
        Some(out)
    }
}

/// Writes a plain 12-byte RTP header (V=2, no padding/extension/CSRC) into `buf`.
pub fn rtp_header(buf: &mut Vec<u8>, pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32) {
    buf.clear();
    buf.push(0x80);
    buf.push(pt & 0x7f | if marker { 0x80 } else { 0 });
    buf.extend_from_slice(&seq.to_be_bytes());
    buf.extend_from_slice(&ts.to_be_bytes());
    buf.extend_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7714_iv_layout() {
        let s = SrtpGcm::new(&[0; 16], &[0; 12]);
        let iv = s.iv(0x01020304, 0x0a0b0c0d, 0xbeef);
        assert_eq!(iv, [0, 0, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0xbe, 0xef]);
        let s = SrtpGcm::new(&[0; 16], &[0xff; 12]);
        assert_eq!(s.iv(0, 0, 0), [0xff; 12]);
    }

    #[test]
    fn rfc7714_test_vector_16_1() {
        // RFC 7714 section 16.1.1: AEAD_AES_128_GCM, RTP packet encryption.
        let key: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f");
        let salt: [u8; 12] = hex("517569642070726f2071756f");
        let plain = hexv("8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573");
        let want = hexv(
            "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce",
        );
        let s = SrtpGcm::new(&key, &salt);
        let mut p = plain.clone();
        s.protect(&mut p, 0);
        assert_eq!(p, want);
        assert_eq!(s.unprotect(&p, 0).unwrap(), plain);
    }

    #[test]
    fn probe_packet_format() {
        let s = SrtpGcm::new(&[7; 16], &[9; 12]);
        let mut p = Vec::new();
        rtp_header(&mut p, 96, true, 65535, 90_000, 0xdeadbeef);
        p.resize(1200, 0xab);
        s.protect(&mut p, 0);
        assert_eq!(p.len(), 1200 + TAG_LEN);
        assert_eq!(p[0], 0x80);
        assert_eq!(p[1], 0x80 | 96);
        assert_eq!(&p[2..4], &[0xff, 0xff]);
        assert_eq!(&p[8..12], &0xdeadbeefu32.to_be_bytes());
        assert_ne!(&p[12..1200], &[0xab; 1188][..]);
        let back = s.unprotect(&p, 0).unwrap();
        assert_eq!(back.len(), 1200);
        assert!(back[12..].iter().all(|&b| b == 0xab));
        assert!(s.unprotect(&p, 1).is_none(), "ROC is part of the IV");
    }

    fn hexv(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    fn hex<const N: usize>(s: &str) -> [u8; N] {
        hexv(s).try_into().unwrap()
    }
}
