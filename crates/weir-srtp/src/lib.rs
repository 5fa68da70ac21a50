//! SRTP with AEAD_AES_128_GCM / AEAD_AES_256_GCM (RFC 7714), the profiles WebRTC servers pick,
//! the sending side of AES_CM_128_HMAC_SHA1_80 (RFC 3711, for peers that offer only it), and
//! the RFC 3711 key derivation from DTLS-SRTP keying material (RFC 5764).
//!
//! Hand-written because no crate exposes SRTP contexts separately from a whole WebRTC stack
//! (str0m keeps its own private). The server's direct egress path protects the packets it
//! forwards to players with it (one AEAD seal per packet, in place, no allocation); the load
//! generator decrypts a sample of what it receives and protects the RTCP it writes itself.
//! The ciphers are aws-lc-rs's (the same library str0m's default crypto provider uses).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128, AES_256};
use aws_lc_rs::iv::FixedLength;

pub const TAG_LEN: usize = 16;
pub const RTP_HEADER_LEN: usize = 12;
/// Master salt length of the GCM profiles (RFC 7714 section 12).
pub const SALT_LEN: usize = 12;

/// RFC 3711 section 4.3.2 key derivation labels.
pub const LABEL_RTP_KEY: u8 = 0;
pub const LABEL_RTP_SALT: u8 = 2;
pub const LABEL_RTCP_KEY: u8 = 3;
pub const LABEL_RTCP_SALT: u8 = 5;

/// Length of an RTP packet's header: fixed part, CSRCs and the header extension (RFC 3550
/// section 5.3.1). `None` when the packet is shorter than its header says.
pub fn header_len(pkt: &[u8]) -> Option<usize> {
    if pkt.len() < RTP_HEADER_LEN || pkt[0] >> 6 != 2 {
        return None;
    }
    let mut len = RTP_HEADER_LEN + 4 * usize::from(pkt[0] & 0x0f);
    if pkt[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([*pkt.get(len + 2)?, *pkt.get(len + 3)?]);
        len += 4 + 4 * usize::from(words);
    }
    (len <= pkt.len()).then_some(len)
}

pub struct SrtpGcm {
    key: LessSafeKey,
    salt: [u8; 12],
}

impl SrtpGcm {
    /// AES-128-GCM (the RFC 7714 test vectors use it).
    #[cfg(test)]
    pub fn new(key: &[u8; 16], salt: &[u8; 12]) -> SrtpGcm {
        SrtpGcm {
            key: LessSafeKey::new(UnboundKey::new(&AES_128_GCM, key).expect("aes-128-gcm key")),
            salt: *salt,
        }
    }

    /// A 16-byte key gives AES-128-GCM, a 32-byte key AES-256-GCM.
    pub fn with_key(key: &[u8], salt: &[u8; 12]) -> Option<SrtpGcm> {
        let alg = match key.len() {
            16 => &AES_128_GCM,
            32 => &AES_256_GCM,
            _ => return None,
        };
        Some(SrtpGcm {
            key: LessSafeKey::new(UnboundKey::new(alg, key).ok()?),
            salt: *salt,
        })
    }

    /// Decrypts an SRTP packet with any RTP header (CSRCs, extensions: all of it is the AAD,
    /// RFC 7714 section 8.2). Returns the plaintext payload.
    pub fn unprotect_payload(&self, pkt: &[u8], roc: u32) -> Option<Vec<u8>> {
        let hlen = header_len(pkt)?;
        if pkt.len() < hlen + TAG_LEN {
            return None;
        }
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let nonce = Nonce::assume_unique_for_key(self.iv(ssrc, roc, seq));
        let mut body = pkt[hlen..].to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(&pkt[..hlen]), &mut body)
            .ok()?
            .len();
        body.truncate(plain);
        Some(body)
    }

    /// SRTCP protect (RFC 7714 section 9): the first 8 bytes stay clear and, with the E flag and
    /// SRTCP index, form the AAD; the rest is encrypted; tag then E||index are appended.
    pub fn protect_rtcp(&self, rtcp: &[u8], index: u32, out: &mut Vec<u8>) -> bool {
        if rtcp.len() < 8 {
            return false;
        }
        let ssrc = u32::from_be_bytes([rtcp[4], rtcp[5], rtcp[6], rtcp[7]]);
        let e_and_index = 0x8000_0000 | (index & 0x7fff_ffff);
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[8..12].copy_from_slice(&(index & 0x7fff_ffff).to_be_bytes());
        for (b, s) in iv.iter_mut().zip(self.salt.iter()) {
            *b ^= s;
        }
        let mut aad = [0u8; 12];
        aad[..8].copy_from_slice(&rtcp[..8]);
        aad[8..].copy_from_slice(&e_and_index.to_be_bytes());
        out.clear();
        out.extend_from_slice(rtcp);
        let (_, body) = out.split_at_mut(8);
        let Ok(tag) = self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(&aad[..]),
            body,
        ) else {
            return false;
        };
        out.extend_from_slice(tag.as_ref());
        out.extend_from_slice(&e_and_index.to_be_bytes());
        true
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

    /// Encrypts the payload of the RTP packet in `pkt` in place and appends the 16-byte tag
    /// (RFC 7714 section 8). The whole header (`header_len` bytes: fixed part, CSRCs,
    /// extensions) is the AAD; `roc` is the rollover counter of the packet's sequence number.
    /// False (and `pkt` unchanged) when `header_len` does not fit the packet.
    pub fn protect_rtp(&self, pkt: &mut Vec<u8>, header_len: usize, roc: u32) -> bool {
        if pkt.len() < header_len || header_len < RTP_HEADER_LEN {
            return false;
        }
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let nonce = Nonce::assume_unique_for_key(self.iv(ssrc, roc, seq));
        let (hdr, payload) = pkt.split_at_mut(header_len);
        let Ok(tag) = self.key.seal_in_place_separate_tag(nonce, Aad::from(&*hdr), payload) else {
            return false;
        };
        pkt.extend_from_slice(tag.as_ref());
        true
    }

    /// [`SrtpGcm::protect_rtp`] for a packet whose header length is read from the packet.
    pub fn protect(&self, pkt: &mut Vec<u8>, roc: u32) -> bool {
        match header_len(pkt) {
            Some(hlen) => self.protect_rtp(pkt, hlen, roc),
            None => false,
        }
    }

    /// Inverse of `protect` (used by the tests to check the format): header + plaintext.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn unprotect(&self, pkt: &[u8], roc: u32) -> Option<Vec<u8>> {
        let payload = self.unprotect_payload(pkt, roc)?;
        let mut out = pkt[..header_len(pkt)?].to_vec();
        out.extend_from_slice(&payload);
        Some(out)
    }
}

/// The RFC 3711 section 4.3 key derivation with the AES-CM PRF (RFC 7714 section 11 keeps it
/// for the GCM profiles): the master salt is left-aligned in the 112-bit x, the label XORed into
/// its 8th byte, the key derivation rate is 0; the output is the AES-CTR keystream from x * 2^16.
pub fn kdf(master_key: &[u8], master_salt: &[u8], label: u8, out: &mut [u8]) -> bool {
    let alg = match master_key.len() {
        16 => &AES_128,
        32 => &AES_256,
        _ => return false,
    };
    let mut x = [0u8; 16];
    let n = master_salt.len().min(14);
    x[..n].copy_from_slice(&master_salt[..n]);
    x[7] ^= label;
    let Ok(key) = UnboundCipherKey::new(alg, master_key).and_then(EncryptingKey::ctr) else {
        return false;
    };
    out.fill(0);
    key.less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(x)))
        .is_ok()
}

/// Session contexts of one DTLS-SRTP association, from the receiving side's point of view.
pub struct SrtpSession {
    /// Decrypts what the remote side sends (its SRTP).
    pub rtp_in: SrtpGcm,
    /// Protects the RTCP we send.
    pub rtcp_out: SrtpGcm,
    /// Next SRTCP index.
    pub srtcp_index: u32,
}

impl SrtpSession {
    /// `material` is the RFC 5764 section 4.2 export: client key, server key, client salt, server
    /// salt; `key_len` 16 (AES-128) or 32 (AES-256), salts 12 bytes (GCM).
    pub fn from_keying_material(material: &[u8], key_len: usize, we_are_client: bool) -> Option<SrtpSession> {
        Some(SrtpSession {
            rtp_in: derive_context(material, key_len, we_are_client, Side::Remote, LABEL_RTP_KEY, LABEL_RTP_SALT)?,
            rtcp_out: derive_context(material, key_len, we_are_client, Side::Local, LABEL_RTCP_KEY, LABEL_RTCP_SALT)?,
            srtcp_index: 0,
        })
    }

    pub fn protect_rtcp(&mut self, rtcp: &[u8], out: &mut Vec<u8>) -> bool {
        let ok = self.rtcp_out.protect_rtcp(rtcp, self.srtcp_index, out);
        self.srtcp_index = (self.srtcp_index + 1) & 0x7fff_ffff;
        ok
    }
}

/// Whose keys of a DTLS-SRTP association: ours (what we send) or the peer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Local,
    Remote,
}

/// One session context of a DTLS-SRTP association (RFC 5764 section 4.2): `material` is the
/// exported keying material (client key, server key, client salt, server salt), `key_len` 16
/// (AES-128-GCM) or 32 (AES-256-GCM), salts 12 bytes; `side` picks whose master key, the labels
/// which session key and salt (RFC 3711 section 4.3.2).
pub fn derive_context(material: &[u8], key_len: usize, we_are_client: bool, side: Side, key_label: u8, salt_label: u8) -> Option<SrtpGcm> {
    if !matches!(key_len, 16 | 32) {
        return None;
    }
    let (mk, ms) = master_key_and_salt(material, key_len, SALT_LEN, we_are_client, side)?;
    let mut key = [0u8; 32];
    let mut salt = [0u8; SALT_LEN];
    if !kdf(mk, ms, key_label, &mut key[..key_len]) || !kdf(mk, ms, salt_label, &mut salt) {
        return None;
    }
    SrtpGcm::with_key(&key[..key_len], &salt)
}

/// One side's master key and salt in DTLS-SRTP keying material (RFC 5764 section 4.2: client
/// key, server key, client salt, server salt); `None` when the material has another length.
fn master_key_and_salt(material: &[u8], key_len: usize, salt_len: usize, we_are_client: bool, side: Side) -> Option<(&[u8], &[u8])> {
    if material.len() != 2 * key_len + 2 * salt_len {
        return None;
    }
    let (ck, rest) = material.split_at(key_len);
    let (sk, rest) = rest.split_at(key_len);
    let (cs, ss) = rest.split_at(salt_len);
    Some(if (side == Side::Local) == we_are_client { (ck, cs) } else { (sk, ss) })
}

/// The sending side of SRTP_AES128_CM_HMAC_SHA1_80 (RFC 3711 sections 4.1.1 and 4.2): AES-128
/// in counter mode over the payload, then an HMAC-SHA1 over the packet and the rollover
/// counter, truncated to 80 bits and appended.
pub struct SrtpCmSha1 {
    key: EncryptingKey,
    auth: aws_lc_rs::hmac::Key,
    salt: [u8; CM_SALT_LEN],
}

/// Master (and session) salt length of the AES-CM profile.
pub const CM_SALT_LEN: usize = 14;
/// Authentication tag length of the `_80` profile.
pub const CM_TAG_LEN: usize = 10;
/// RFC 3711 section 4.3.2: label of the SRTP authentication key.
pub const LABEL_RTP_AUTH: u8 = 1;

impl SrtpCmSha1 {
    /// Session contexts from a 16-byte session key, a 20-byte authentication key and a 14-byte
    /// session salt (already derived).
    pub fn new(key: &[u8; 16], auth: &[u8; 20], salt: &[u8; CM_SALT_LEN]) -> Option<SrtpCmSha1> {
        let key = UnboundCipherKey::new(&AES_128, key).and_then(EncryptingKey::ctr).ok()?;
        let auth = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, auth);
        Some(SrtpCmSha1 { key, auth, salt: *salt })
    }

    /// RFC 3711 section 4.1.1: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16), where
    /// index = ROC * 2^16 + SEQ.
    pub fn iv(&self, ssrc: u32, roc: u32, seq: u16) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..CM_SALT_LEN].copy_from_slice(&self.salt);
        let index = (u64::from(roc) << 16) | u64::from(seq);
        for (b, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *b ^= s;
        }
        for (b, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *b ^= s;
        }
        iv
    }

    /// Encrypts the payload behind `header_len` bytes of header in place and appends the
    /// 10-byte tag. False (and `pkt` unchanged) when the header does not fit.
    pub fn protect_rtp(&self, pkt: &mut Vec<u8>, header_len: usize, roc: u32) -> bool {
        if pkt.len() < header_len || header_len < RTP_HEADER_LEN {
            return false;
        }
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let iv = self.iv(ssrc, roc, seq);
        if pkt.len() > header_len
            && self.key.less_safe_encrypt(&mut pkt[header_len..], EncryptionContext::Iv128(FixedLength::from(iv))).is_err()
        {
            return false;
        }
        let mut mac = aws_lc_rs::hmac::Context::with_key(&self.auth);
        mac.update(pkt);
        mac.update(&roc.to_be_bytes());
        let tag = mac.sign();
        pkt.extend_from_slice(&tag.as_ref()[..CM_TAG_LEN]);
        true
    }

    /// The sending context of one side of an AES_CM_128_HMAC_SHA1_80 association: `material`
    /// is client key, server key, client salt, server salt (16, 16, 14, 14 bytes).
    pub fn from_keying_material(material: &[u8], we_are_client: bool, side: Side) -> Option<SrtpCmSha1> {
        let (mk, ms) = master_key_and_salt(material, 16, CM_SALT_LEN, we_are_client, side)?;
        let mut key = [0u8; 16];
        let mut auth = [0u8; 20];
        let mut salt = [0u8; CM_SALT_LEN];
        let ok = kdf(mk, ms, LABEL_RTP_KEY, &mut key) && kdf(mk, ms, LABEL_RTP_AUTH, &mut auth) && kdf(mk, ms, LABEL_RTP_SALT, &mut salt);
        if !ok {
            return None;
        }
        SrtpCmSha1::new(&key, &auth, &salt)
    }
}

/// A sending SRTP context of either family.
pub enum SrtpSender {
    Gcm(SrtpGcm),
    // Boxed: the HMAC key state is large, and GCM is what nearly every peer picks.
    CmSha1(Box<SrtpCmSha1>),
}

impl SrtpSender {
    /// Bytes a protected packet grows by.
    pub fn overhead(&self) -> usize {
        match self {
            SrtpSender::Gcm(_) => TAG_LEN,
            SrtpSender::CmSha1(_) => CM_TAG_LEN,
        }
    }

    pub fn protect_rtp(&self, pkt: &mut Vec<u8>, header_len: usize, roc: u32) -> bool {
        match self {
            SrtpSender::Gcm(s) => s.protect_rtp(pkt, header_len, roc),
            SrtpSender::CmSha1(s) => s.protect_rtp(pkt, header_len, roc),
        }
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
        assert!(s.protect(&mut p, 0));
        assert_eq!(p, want);
        assert_eq!(s.unprotect(&p, 0).unwrap(), plain);
    }

    #[test]
    fn probe_packet_format() {
        let s = SrtpGcm::new(&[7; 16], &[9; 12]);
        let mut p = Vec::new();
        rtp_header(&mut p, 96, true, 65535, 90_000, 0xdeadbeef);
        p.resize(1200, 0xab);
        assert!(s.protect(&mut p, 0));
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

    #[test]
    fn rfc3711_kdf_test_vectors() {
        // RFC 3711 appendix B.3 (key derivation test vectors).
        let mk: [u8; 16] = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let ms = hexv("0EC675AD498AFEEBB6960B3AABE6");
        let mut k = [0u8; 16];
        assert!(kdf(&mk, &ms, 0, &mut k));
        assert_eq!(k.to_vec(), hexv("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut salt = [0u8; 14];
        assert!(kdf(&mk, &ms, 2, &mut salt));
        assert_eq!(salt.to_vec(), hexv("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth = [0u8; 20];
        assert!(kdf(&mk, &ms, 1, &mut auth));
        assert_eq!(auth.to_vec(), hexv("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
    }

    #[test]
    fn rfc7714_srtcp_test_vector_17_1() {
        // RFC 7714 section 17.1: AEAD_AES_128_GCM SRTCP, SRTCP index 0x5d4.
        let key: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f");
        let salt: [u8; 12] = hex("517569642070726f2071756f");
        let s = SrtpGcm::new(&key, &salt);
        let mut out = Vec::new();
        let rtcp = hexv("81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeefdeadbeefdeadbeefdeadbeef");
        assert!(s.protect_rtcp(&rtcp, 0x5d4, &mut out));
        assert_eq!(&out[..8], &rtcp[..8]);
        assert_eq!(out.len(), rtcp.len() + TAG_LEN + 4);
        assert_eq!(&out[out.len() - 4..], &[0x80, 0, 0x05, 0xd4]);
        let want = hexv("81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade800005d4");
        assert_eq!(out, want);
    }

    #[test]
    fn both_ends_of_an_association_derive_matching_contexts() {
        let material: Vec<u8> = (0..(2 * 32 + 2 * SALT_LEN) as u8).collect();
        let server_out = derive_context(&material, 32, false, Side::Local, LABEL_RTP_KEY, LABEL_RTP_SALT).unwrap();
        let client_in = derive_context(&material, 32, true, Side::Remote, LABEL_RTP_KEY, LABEL_RTP_SALT).unwrap();
        let client_out = derive_context(&material, 32, true, Side::Local, LABEL_RTP_KEY, LABEL_RTP_SALT).unwrap();
        // A header with a one-byte extension block (RFC 8285): it is all AAD.
        let mut pkt = vec![0x90, 96, 0x12, 0x34, 0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0];
        pkt.extend_from_slice(b"payload bytes");
        let plain = pkt.clone();
        assert!(server_out.protect_rtp(&mut pkt, 20, 3));
        assert_eq!(&pkt[..20], &plain[..20]);
        assert_eq!(client_in.unprotect_payload(&pkt, 3).unwrap(), b"payload bytes");
        assert!(client_out.unprotect_payload(&pkt, 3).is_none(), "each direction has its own key");
        assert!(client_in.unprotect_payload(&pkt, 2).is_none());
        assert!(derive_context(&material[1..], 32, false, Side::Local, 0, 2).is_none());
        assert!(!server_out.protect_rtp(&mut vec![0x80; 8], 12, 0));
    }

    #[test]
    fn rfc3711_b2_aes_cm_keystream() {
        // RFC 3711 appendix B.2: session key, salt, SSRC 0, ROC 0, SEQ 0: the ciphertext of a
        // zero payload is the keystream.
        let key: [u8; 16] = hex("2B7E151628AED2A6ABF7158809CF4F3C");
        let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD");
        let s = SrtpCmSha1::new(&key, &[0; 20], &salt).unwrap();
        assert_eq!(s.iv(0, 0, 0).to_vec(), hexv("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
        let mut pkt = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        pkt.resize(12 + 48, 0);
        assert!(s.protect_rtp(&mut pkt, 12, 0));
        assert_eq!(pkt.len(), 12 + 48 + CM_TAG_LEN);
        assert_eq!(
            pkt[12..60].to_vec(),
            hexv("E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0")
        );
    }

    #[test]
    fn aes_cm_tag_is_the_truncated_hmac_of_packet_and_roc() {
        let s = SrtpCmSha1::new(&[1; 16], &[2; 20], &[3; 14]).unwrap();
        let mut pkt = vec![0x80, 96, 0xab, 0xcd, 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7];
        assert!(s.protect_rtp(&mut pkt, 12, 7));
        let body = &pkt[..pkt.len() - CM_TAG_LEN];
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[2; 20]);
        let mut msg = body.to_vec();
        msg.extend_from_slice(&7u32.to_be_bytes());
        let want = aws_lc_rs::hmac::sign(&key, &msg);
        assert_eq!(&pkt[pkt.len() - CM_TAG_LEN..], &want.as_ref()[..CM_TAG_LEN]);
        // SSRC and index land in the IV (RFC 3711 section 4.1.1).
        let iv = s.iv(0x01020304, 0x0a0b0c0d, 0xeeff);
        let mut want_iv = [3u8; 16];
        want_iv[14] = 0;
        want_iv[15] = 0;
        for (i, b) in [1u8, 2, 3, 4].iter().enumerate() {
            want_iv[4 + i] ^= b;
        }
        for (i, b) in [0x0a, 0x0b, 0x0c, 0x0d, 0xee, 0xff].iter().enumerate() {
            want_iv[8 + i] ^= b;
        }
        assert_eq!(iv, want_iv);
        let material: Vec<u8> = (0..60).collect();
        assert!(SrtpCmSha1::from_keying_material(&material, false, Side::Local).is_some());
        assert!(SrtpCmSha1::from_keying_material(&material[1..], false, Side::Local).is_none());
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
