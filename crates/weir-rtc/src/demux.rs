//! Routing of datagrams arriving on the shared media port to sessions.
//!
//! All peers share one UDP port (and one TCP port). A STUN Binding request names its session in
//! USERNAME (`<server ufrag>:<client ufrag>`, RFC 8445 section 7.2.2); once a session has
//! answered from an address, everything else from that address (DTLS, SRTP, SRTCP) belongs to it.
//! Parsing is by hand because it is a dozen lines and runs before we know which `Rtc` to ask.

/// RFC 8489 section 5: magic cookie in bytes 4..8 of every STUN message.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
const ATTR_USERNAME: u16 = 0x0006;

/// RFC 7983 section 7: the first byte tells STUN (0..=3), DTLS (20..=63), RTP/RTCP (128..=191).
pub fn is_stun(packet: &[u8]) -> bool {
    packet.len() >= 20 && packet[0] < 4 && packet[4..8] == MAGIC_COOKIE
}

/// The server-side ufrag from a STUN request's USERNAME, if the packet is STUN and has one.
pub fn stun_local_ufrag(packet: &[u8]) -> Option<&str> {
    if !is_stun(packet) {
        return None;
    }
    let declared = u16::from_be_bytes([packet[2], packet[3]]) as usize;
    let end = 20usize.checked_add(declared)?.min(packet.len());
    let mut i = 20;
    while i + 4 <= end {
        let typ = u16::from_be_bytes([packet[i], packet[i + 1]]);
        let len = u16::from_be_bytes([packet[i + 2], packet[i + 3]]) as usize;
        let value = packet.get(i + 4..i + 4 + len)?;
        if typ == ATTR_USERNAME {
            let username = std::str::from_utf8(value).ok()?;
            return username.split(':').next().filter(|u| !u.is_empty());
        }
        i += 4 + len.div_ceil(4) * 4;
    }
    None
}

/// RFC 4571 framing of ICE-TCP: every packet is prefixed by its 16-bit big-endian length.
/// Accumulates bytes from a TCP stream and yields whole frames.
#[derive(Debug, Default)]
pub struct Rfc4571Decoder {
    buf: Vec<u8>,
}

impl Rfc4571Decoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Next complete frame, if any. Zero-length frames are skipped.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.buf.len() < 2 {
                return None;
            }
            let len = u16::from_be_bytes([self.buf[0], self.buf[1]]) as usize;
            if self.buf.len() < 2 + len {
                return None;
            }
            let frame: Vec<u8> = self.buf[2..2 + len].to_vec();
            self.buf.drain(..2 + len);
            if !frame.is_empty() {
                return Some(frame);
            }
        }
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

/// Frames `packet` for ICE-TCP. `None` if it cannot be framed (over 65535 bytes).
pub fn rfc4571_frame(packet: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(packet.len()).ok()?;
    let mut out = Vec::with_capacity(packet.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &str) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username.as_bytes());
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        let mut p = vec![0x00, 0x01];
        p.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        p.extend_from_slice(&MAGIC_COOKIE);
        p.extend_from_slice(b"tymzAQ+/JKwR");
        p.extend_from_slice(&attrs);
        p
    }

    #[test]
    fn extracts_server_ufrag() {
        assert_eq!(stun_local_ufrag(&binding_request("6pk11386:J8X7")), Some("6pk11386"));
        assert_eq!(stun_local_ufrag(&binding_request("abc")), Some("abc"));
        assert_eq!(stun_local_ufrag(&binding_request(":x")), None);
    }

    #[test]
    fn rejects_non_stun_and_truncated() {
        assert_eq!(stun_local_ufrag(&[0x80; 40]), None);
        let mut p = binding_request("6pk11386:J8X7");
        p.truncate(26);
        assert_eq!(stun_local_ufrag(&p), None);
        // Declared length past the end of the datagram.
        let mut p = binding_request("a:b");
        p[2] = 0xff;
        assert_eq!(stun_local_ufrag(&p), Some("a"));
        let mut p = binding_request("a:b");
        p[22] = 0xff; // attribute length beyond the packet
        assert_eq!(stun_local_ufrag(&p), None);
    }

    #[test]
    fn framing_round_trip_across_chunks() {
        let mut d = Rfc4571Decoder::default();
        let a = rfc4571_frame(b"hello").unwrap();
        let b = rfc4571_frame(b"world!").unwrap();
        let all: Vec<u8> = [a, vec![0, 0], b].concat();
        d.push(&all[..3]);
        assert_eq!(d.next_frame(), None);
        d.push(&all[3..]);
        assert_eq!(d.next_frame().as_deref(), Some(&b"hello"[..]));
        assert_eq!(d.next_frame().as_deref(), Some(&b"world!"[..]));
        assert_eq!(d.next_frame(), None);
        assert!(rfc4571_frame(&vec![0; 70_000]).is_none());
    }
}
