//! TURN over a stream (TCP): RFC 8656 section 12.5 / RFC 8489 section 6.2.2. There is no length
//! prefix: STUN messages carry their own length, and ChannelData messages are padded to a
//! multiple of 4 bytes (the padding is not counted in their length field). Over UDP the
//! padding is optional, so a datagram may be up to 3 bytes longer than `4 + length`.

use crate::stun::{HEADER_LEN, MAGIC_COOKIE};

/// The stream is not TURN (its first bytes are neither STUN nor ChannelData).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotTurn;

/// Whether the first byte starts a ChannelData message (channel numbers 0x4000-0x7FFF).
pub fn is_channel_data(first: u8) -> bool {
    (0x40..=0x7f).contains(&first)
}

/// The length of the first whole frame of `buf` (a STUN message, or a ChannelData message with
/// its padding), `Ok(None)` when more bytes are needed.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, NotTurn> {
    let Some(&first) = buf.first() else { return Ok(None) };
    if first & 0xc0 == 0 {
        if buf.len() >= 8 && buf[4..8] != MAGIC_COOKIE.to_be_bytes() {
            return Err(NotTurn);
        }
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        if len % 4 != 0 {
            return Err(NotTurn);
        }
        let total = HEADER_LEN + len;
        return Ok((buf.len() >= total).then_some(total));
    }
    if is_channel_data(first) {
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
        let total = 4 + ((len + 3) & !3);
        return Ok((buf.len() >= total).then_some(total));
    }
    Err(NotTurn)
}

/// A ChannelData message; `pad` (stream transports) pads it to a multiple of 4 bytes.
pub fn channel_data(channel: u16, payload: &[u8], pad: bool) -> Vec<u8> {
    let len = payload.len().min(0xffff);
    let padding = if pad { ((len + 3) & !3) - len } else { 0 };
    let mut v = Vec::with_capacity(4 + len + padding);
    v.extend_from_slice(&channel.to_be_bytes());
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v.extend_from_slice(&payload[..len]);
    v.extend_from_slice(&[0u8; 3][..padding]);
    v
}

/// Splits a received ChannelData message into `(channel, payload)`; the message may carry up to
/// 3 bytes of padding after the payload (more is refused, as is a shorter message).
pub fn parse_channel_data(buf: &[u8]) -> Option<(u16, &[u8])> {
    if buf.len() < 4 || !is_channel_data(buf[0]) {
        return None;
    }
    let channel = u16::from_be_bytes([buf[0], buf[1]]);
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let end = 4 + len;
    if buf.len() < end || buf.len() > 4 + ((len + 3) & !3) {
        return None;
    }
    Some((channel, &buf[4..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stun::{method, Class, MessageBuilder};

    #[test]
    fn frames() {
        let stun = MessageBuilder::new(method::BINDING, Class::Request, [1; 12]).attr(0x8022, b"abcde").build();
        assert_eq!(frame_len(&stun), Ok(Some(stun.len())));
        assert_eq!(frame_len(&stun[..3]), Ok(None));
        assert_eq!(frame_len(&stun[..stun.len() - 1]), Ok(None));
        let mut two = stun.clone();
        two.extend_from_slice(&stun);
        assert_eq!(frame_len(&two), Ok(Some(stun.len())));

        let cd = channel_data(0x4001, b"hello", true);
        assert_eq!(cd.len(), 12);
        assert_eq!(frame_len(&cd), Ok(Some(12)));
        assert_eq!(frame_len(&cd[..9]), Ok(None));
        assert_eq!(parse_channel_data(&cd), Some((0x4001, &b"hello"[..])));
        let cd = channel_data(0x7fff, b"hello", false);
        assert_eq!(cd.len(), 9);
        assert_eq!(parse_channel_data(&cd), Some((0x7fff, &b"hello"[..])));
        assert_eq!(parse_channel_data(&cd[..8]), None);
        let mut long = channel_data(0x4000, b"abcd", false);
        long.extend_from_slice(&[0; 4]);
        assert_eq!(parse_channel_data(&long), None);

        assert_eq!(frame_len(b""), Ok(None));
        // A TLS ClientHello is refused at once; text such as "GET " looks like ChannelData of
        // channel 0x4745 (the TCP shell requires the first frame of a connection to be STUN).
        assert_eq!(frame_len(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), Err(NotTurn));
        assert_eq!(frame_len(b"GET / HTTP/1.1\r\n"), Ok(None));
        assert_eq!(frame_len(&[0x80, 0, 0, 0]), Err(NotTurn));
        assert_eq!(frame_len(&[0, 1, 0, 0, 1, 2, 3, 4]), Err(NotTurn));
        assert_eq!(frame_len(&[0, 1, 0, 3]), Err(NotTurn));
    }
}
