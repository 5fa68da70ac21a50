//! STUN message codec (RFC 8489): parsing, building, MESSAGE-INTEGRITY (HMAC-SHA1), FINGERPRINT
//! (CRC-32), XOR address attributes, ERROR-CODE — and [`binding_response`], the answer to a plain
//! (unauthenticated) Binding request, usable on any socket that receives STUN.
//!
//! Usable on its own: nothing here knows about TURN state or sockets. Parsing never panics on
//! any input (every length is checked); it borrows the input buffer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The magic cookie of RFC 8489 messages.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Size of the STUN header.
pub const HEADER_LEN: usize = 20;
/// XOR-ed into the CRC-32 of the FINGERPRINT attribute ("STUN").
const FINGERPRINT_XOR: u32 = 0x5354_554e;
/// The value of SOFTWARE in Weir's messages.
pub const SOFTWARE: &str = concat!("weir ", env!("CARGO_PKG_VERSION"));

/// STUN/TURN methods.
pub mod method {
    pub const BINDING: u16 = 0x001;
    pub const ALLOCATE: u16 = 0x003;
    pub const REFRESH: u16 = 0x004;
    pub const SEND: u16 = 0x006;
    pub const DATA: u16 = 0x007;
    pub const CREATE_PERMISSION: u16 = 0x008;
    pub const CHANNEL_BIND: u16 = 0x009;
}

/// Attribute types (RFC 8489, RFC 8656, RFC 8445, RFC 5780).
pub mod attr {
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    pub const CHANGE_REQUEST: u16 = 0x0003;
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    pub const CHANNEL_NUMBER: u16 = 0x000C;
    pub const LIFETIME: u16 = 0x000D;
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    pub const DATA: u16 = 0x0013;
    pub const REALM: u16 = 0x0014;
    pub const NONCE: u16 = 0x0015;
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    pub const REQUESTED_ADDRESS_FAMILY: u16 = 0x0017;
    pub const EVEN_PORT: u16 = 0x0018;
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    pub const DONT_FRAGMENT: u16 = 0x001A;
    pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
    pub const PASSWORD_ALGORITHM: u16 = 0x001D;
    pub const USERHASH: u16 = 0x001E;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    pub const RESERVATION_TOKEN: u16 = 0x0022;
    pub const PRIORITY: u16 = 0x0024;
    pub const USE_CANDIDATE: u16 = 0x0025;
    pub const PADDING: u16 = 0x0026;
    pub const RESPONSE_PORT: u16 = 0x0027;
    pub const ADDITIONAL_ADDRESS_FAMILY: u16 = 0x8000;
    pub const SOFTWARE: u16 = 0x8022;
    pub const ALTERNATE_SERVER: u16 = 0x8023;
    pub const FINGERPRINT: u16 = 0x8028;
    pub const ICE_CONTROLLED: u16 = 0x8029;
    pub const ICE_CONTROLLING: u16 = 0x802A;
    pub const RESPONSE_ORIGIN: u16 = 0x802B;
    pub const OTHER_ADDRESS: u16 = 0x802C;
}

/// The class of a message (the C1/C0 bits of its type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

/// The 16-bit message type of `method` and `class` (RFC 8489 section 5).
pub fn message_type(method: u16, class: Class) -> u16 {
    let c = match class {
        Class::Request => 0b00,
        Class::Indication => 0b01,
        Class::Success => 0b10,
        Class::Error => 0b11,
    };
    let m = method & 0x0fff;
    (m & 0x000f) | ((m & 0x0070) << 1) | ((m & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

/// Splits a message type into method and class.
pub fn split_type(t: u16) -> (u16, Class) {
    let method = (t & 0x000f) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0f80);
    let class = match ((t >> 7) & 2) | ((t >> 4) & 1) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    (method, class)
}

/// Why a buffer is not a STUN message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the header, or than the length field says.
    Truncated,
    /// The first two bits are not zero, or the magic cookie is wrong.
    NotStun,
    /// The length field is not a multiple of 4 or disagrees with the buffer.
    BadLength,
    /// An attribute runs past the end of the message.
    BadAttribute,
    /// FINGERPRINT is present but wrong (or not last).
    BadFingerprint,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParseError::Truncated => "truncated STUN message",
            ParseError::NotStun => "not a STUN message",
            ParseError::BadLength => "bad STUN length",
            ParseError::BadAttribute => "malformed STUN attribute",
            ParseError::BadFingerprint => "bad STUN FINGERPRINT",
        })
    }
}

impl std::error::Error for ParseError {}

/// Whether `buf` looks like a STUN message (header only: first bits and magic cookie).
pub fn is_stun(buf: &[u8]) -> bool {
    buf.len() >= HEADER_LEN
        && buf[0] & 0xc0 == 0
        && buf[4..8] == MAGIC_COOKIE.to_be_bytes()
}

/// One attribute: its type and the value (without padding).
#[derive(Debug, Clone, Copy)]
pub struct RawAttr<'a> {
    pub typ: u16,
    pub value: &'a [u8],
}

/// A parsed STUN message borrowing its buffer.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    raw: &'a [u8],
    pub method: u16,
    pub class: Class,
    pub transaction_id: [u8; 12],
    /// Attributes before MESSAGE-INTEGRITY (and MESSAGE-INTEGRITY itself), in order. Attributes
    /// after MESSAGE-INTEGRITY other than FINGERPRINT are ignored as RFC 8489 section 14.5 says.
    attrs: Vec<RawAttr<'a>>,
    /// Offset of the MESSAGE-INTEGRITY attribute header, if any.
    integrity_at: Option<usize>,
    /// Whether a (valid) FINGERPRINT was present.
    pub has_fingerprint: bool,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn padded(len: usize) -> usize {
    (len + 3) & !3
}

impl<'a> Message<'a> {
    /// Parses one whole message; `buf` must be exactly the message (the length field must match).
    /// A FINGERPRINT, if present, must be the last attribute and correct.
    pub fn parse(buf: &'a [u8]) -> Result<Message<'a>, ParseError> {
        if buf.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        if !is_stun(buf) {
            return Err(ParseError::NotStun);
        }
        let typ = be16(buf, 0).ok_or(ParseError::Truncated)?;
        let len = usize::from(be16(buf, 2).ok_or(ParseError::Truncated)?);
        if len % 4 != 0 {
            return Err(ParseError::BadLength);
        }
        if buf.len() < HEADER_LEN + len {
            return Err(ParseError::Truncated);
        }
        if buf.len() != HEADER_LEN + len {
            return Err(ParseError::BadLength);
        }
        let (method, class) = split_type(typ);
        let mut transaction_id = [0u8; 12];
        transaction_id.copy_from_slice(&buf[8..20]);
        let mut attrs = Vec::with_capacity(8);
        let mut integrity_at = None;
        let mut has_fingerprint = false;
        let mut pos = HEADER_LEN;
        while pos < buf.len() {
            let t = be16(buf, pos).ok_or(ParseError::BadAttribute)?;
            let l = usize::from(be16(buf, pos + 2).ok_or(ParseError::BadAttribute)?);
            let start = pos + 4;
            let end = start + l;
            if end > buf.len() || start + padded(l) > buf.len() {
                return Err(ParseError::BadAttribute);
            }
            let value = &buf[start..end];
            if t == attr::FINGERPRINT {
                if l != 4 || start + 4 != buf.len() {
                    return Err(ParseError::BadFingerprint);
                }
                let want = u32::from_be_bytes([value[0], value[1], value[2], value[3]]);
                if fingerprint_of(buf, pos) != want {
                    return Err(ParseError::BadFingerprint);
                }
                has_fingerprint = true;
            } else if integrity_at.is_none() {
                if t == attr::MESSAGE_INTEGRITY {
                    if l != 20 {
                        return Err(ParseError::BadAttribute);
                    }
                    integrity_at = Some(pos);
                }
                attrs.push(RawAttr { typ: t, value });
            }
            pos = start + padded(l);
        }
        Ok(Message { raw: buf, method, class, transaction_id, attrs, integrity_at, has_fingerprint })
    }

    /// The whole message.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Every attribute before MESSAGE-INTEGRITY (inclusive), in order.
    pub fn attributes(&self) -> &[RawAttr<'a>] {
        &self.attrs
    }

    /// The value of the first attribute of type `typ`.
    pub fn get(&self, typ: u16) -> Option<&'a [u8]> {
        self.attrs.iter().find(|a| a.typ == typ).map(|a| a.value)
    }

    /// Every attribute of type `typ`.
    pub fn get_all(&self, typ: u16) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.attrs.iter().filter(move |a| a.typ == typ).map(|a| a.value)
    }

    pub fn has(&self, typ: u16) -> bool {
        self.attrs.iter().any(|a| a.typ == typ)
    }

    /// A UTF-8 attribute (USERNAME, REALM, NONCE, SOFTWARE).
    pub fn get_str(&self, typ: u16) -> Option<&'a str> {
        std::str::from_utf8(self.get(typ)?).ok()
    }

    /// A 32-bit attribute (LIFETIME).
    pub fn get_u32(&self, typ: u16) -> Option<u32> {
        let v = self.get(typ)?;
        (v.len() == 4).then(|| u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    }

    /// An XOR address attribute (XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS).
    pub fn get_xor_addr(&self, typ: u16) -> Option<SocketAddr> {
        decode_xor_addr(self.get(typ)?, &self.transaction_id)
    }

    /// ERROR-CODE as (code, reason).
    pub fn error_code(&self) -> Option<(u16, &'a str)> {
        let v = self.get(attr::ERROR_CODE)?;
        if v.len() < 4 {
            return None;
        }
        let code = u16::from(v[2] & 0x07) * 100 + u16::from(v[3]);
        Some((code, std::str::from_utf8(&v[4..]).unwrap_or("")))
    }

    pub fn has_integrity(&self) -> bool {
        self.integrity_at.is_some()
    }

    /// Checks MESSAGE-INTEGRITY (HMAC-SHA1) with `key`: the short-term password, or the
    /// long-term key from [`long_term_key`]. False if there is none. Constant-time comparison.
    pub fn verify_integrity(&self, key: &[u8]) -> bool {
        let Some(at) = self.integrity_at else { return false };
        let Some(mut mac) = hmac_sha1(key) else { return false };
        let adjusted_len = (at + 24 - HEADER_LEN) as u16;
        mac.update(&self.raw[0..2]);
        mac.update(&adjusted_len.to_be_bytes());
        mac.update(&self.raw[4..at]);
        mac.verify_slice(&self.raw[at + 4..at + 24]).is_ok()
    }

    /// Comprehension-required attribute types (below 0x8000) not in `known`.
    pub fn unknown_required(&self, known: &[u16]) -> Vec<u16> {
        let mut out: Vec<u16> = Vec::new();
        for a in &self.attrs {
            if a.typ < 0x8000 && !known.contains(&a.typ) && !out.contains(&a.typ) {
                out.push(a.typ);
            }
        }
        out
    }
}

fn hmac_sha1(key: &[u8]) -> Option<Hmac<Sha1>> {
    <Hmac<Sha1> as Mac>::new_from_slice(key).ok()
}

/// CRC-32 of `buf[..at]` with the length field adjusted to end after an 8-byte FINGERPRINT at
/// `at`, XOR-ed with 0x5354554e.
fn fingerprint_of(buf: &[u8], at: usize) -> u32 {
    let adjusted_len = (at + 8 - HEADER_LEN) as u16;
    let mut h = crc32fast::Hasher::new();
    h.update(&buf[0..2]);
    h.update(&adjusted_len.to_be_bytes());
    h.update(&buf[4..at]);
    h.finalize() ^ FINGERPRINT_XOR
}

/// The long-term credential key: MD5(username ":" realm ":" password) (RFC 8489 section 9.2.2).
/// The strings are used as given (no SASLprep/OpaqueString processing: ASCII credentials are
/// unchanged by it).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    use md5::{Digest, Md5};
    let mut h = Md5::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}

/// Encodes an XOR address attribute value.
pub fn encode_xor_addr(addr: SocketAddr, tid: &[u8; 12]) -> Vec<u8> {
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let cookie = MAGIC_COOKIE.to_be_bytes();
    match addr.ip() {
        IpAddr::V4(ip) => {
            let mut v = Vec::with_capacity(8);
            v.extend_from_slice(&[0, 0x01]);
            v.extend_from_slice(&port.to_be_bytes());
            for (i, b) in ip.octets().iter().enumerate() {
                v.push(b ^ cookie[i]);
            }
            v
        }
        IpAddr::V6(ip) => {
            let mut v = Vec::with_capacity(20);
            v.extend_from_slice(&[0, 0x02]);
            v.extend_from_slice(&port.to_be_bytes());
            let o = ip.octets();
            for i in 0..16 {
                let k = if i < 4 { cookie[i] } else { tid[i - 4] };
                v.push(o[i] ^ k);
            }
            v
        }
    }
}

/// Decodes an XOR address attribute value.
pub fn decode_xor_addr(v: &[u8], tid: &[u8; 12]) -> Option<SocketAddr> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = be16(v, 2)? ^ (MAGIC_COOKIE >> 16) as u16;
    match (v.get(1)?, v.len()) {
        (0x01, 8) => {
            let ip = Ipv4Addr::new(v[4] ^ cookie[0], v[5] ^ cookie[1], v[6] ^ cookie[2], v[7] ^ cookie[3]);
            Some(SocketAddr::new(ip.into(), port))
        }
        (0x02, 20) => {
            let mut o = [0u8; 16];
            for i in 0..16 {
                let k = if i < 4 { cookie[i] } else { tid[i - 4] };
                o[i] = v[4 + i] ^ k;
            }
            Some(SocketAddr::new(Ipv6Addr::from(o).into(), port))
        }
        _ => None,
    }
}

/// Encodes a plain (non-XOR) address attribute value (MAPPED-ADDRESS).
pub fn encode_addr(addr: SocketAddr) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    match addr.ip() {
        IpAddr::V4(ip) => {
            v.extend_from_slice(&[0, 0x01]);
            v.extend_from_slice(&addr.port().to_be_bytes());
            v.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            v.extend_from_slice(&[0, 0x02]);
            v.extend_from_slice(&addr.port().to_be_bytes());
            v.extend_from_slice(&ip.octets());
        }
    }
    v
}

/// The standard reason phrase of a STUN/TURN error code.
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        300 => "Try Alternate",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        405 => "Mobility Forbidden",
        420 => "Unknown Attribute",
        437 => "Allocation Mismatch",
        438 => "Stale Nonce",
        440 => "Address Family not Supported",
        441 => "Wrong Credentials",
        442 => "Unsupported Transport Protocol",
        443 => "Peer Address Family Mismatch",
        486 => "Allocation Quota Reached",
        500 => "Server Error",
        508 => "Insufficient Capacity",
        _ => "Error",
    }
}

/// Builds a message: header, attributes in order, then optionally MESSAGE-INTEGRITY and
/// FINGERPRINT (which must come last, in that order).
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    buf: Vec<u8>,
    tid: [u8; 12],
}

impl MessageBuilder {
    pub fn new(method: u16, class: Class, transaction_id: [u8; 12]) -> MessageBuilder {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&message_type(method, class).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&transaction_id);
        MessageBuilder { buf, tid: transaction_id }
    }

    /// A builder with room for `extra` more bytes (Data indications).
    pub fn with_capacity(method: u16, class: Class, transaction_id: [u8; 12], extra: usize) -> MessageBuilder {
        let mut b = MessageBuilder::new(method, class, transaction_id);
        b.buf.reserve(extra);
        b
    }

    fn set_len(&mut self) {
        let len = (self.buf.len() - HEADER_LEN) as u16;
        self.buf[2..4].copy_from_slice(&len.to_be_bytes());
    }

    /// Appends an attribute (padded with zeros). Values longer than 65535 bytes are truncated
    /// to keep the message well-formed (callers never pass such values).
    pub fn attr(mut self, typ: u16, value: &[u8]) -> Self {
        self.push_attr(typ, value);
        self
    }

    pub fn push_attr(&mut self, typ: u16, value: &[u8]) {
        let value = &value[..value.len().min(0xffff)];
        self.buf.extend_from_slice(&typ.to_be_bytes());
        self.buf.extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(value);
        let pad = padded(value.len()) - value.len();
        self.buf.extend_from_slice(&[0u8; 3][..pad]);
    }

    pub fn u32_attr(self, typ: u16, v: u32) -> Self {
        self.attr(typ, &v.to_be_bytes())
    }

    pub fn xor_addr(self, typ: u16, addr: SocketAddr) -> Self {
        let v = encode_xor_addr(addr, &self.tid);
        self.attr(typ, &v)
    }

    pub fn error(self, code: u16, reason: &str) -> Self {
        let mut v = Vec::with_capacity(4 + reason.len());
        v.extend_from_slice(&[0, 0, (code / 100) as u8 & 0x07, (code % 100) as u8]);
        // The reason phrase is at most 127 characters (RFC 8489 section 14.8).
        let mut end = reason.len().min(127);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        v.extend_from_slice(&reason.as_bytes()[..end]);
        self.attr(attr::ERROR_CODE, &v)
    }

    pub fn unknown_attributes(self, types: &[u16]) -> Self {
        let v: Vec<u8> = types.iter().flat_map(|t| t.to_be_bytes()).collect();
        self.attr(attr::UNKNOWN_ATTRIBUTES, &v)
    }

    pub fn software(self) -> Self {
        self.attr(attr::SOFTWARE, SOFTWARE.as_bytes())
    }

    /// Appends MESSAGE-INTEGRITY computed with `key`.
    pub fn integrity(mut self, key: &[u8]) -> Self {
        let at = self.buf.len();
        self.buf.extend_from_slice(&attr::MESSAGE_INTEGRITY.to_be_bytes());
        self.buf.extend_from_slice(&20u16.to_be_bytes());
        self.buf.extend_from_slice(&[0u8; 20]);
        self.set_len();
        if let Some(mut mac) = hmac_sha1(key) {
            mac.update(&self.buf[..at]);
            let tag = mac.finalize().into_bytes();
            self.buf[at + 4..at + 24].copy_from_slice(&tag);
        }
        self
    }

    /// Appends FINGERPRINT.
    pub fn fingerprint(mut self) -> Self {
        let at = self.buf.len();
        self.buf.extend_from_slice(&attr::FINGERPRINT.to_be_bytes());
        self.buf.extend_from_slice(&4u16.to_be_bytes());
        self.buf.extend_from_slice(&[0u8; 4]);
        self.set_len();
        let crc = fingerprint_of(&self.buf, at);
        self.buf[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
        self
    }

    pub fn build(mut self) -> Vec<u8> {
        self.set_len();
        self.buf
    }
}

/// Attributes a plain Binding request may carry that this server understands (or may ignore).
const BINDING_KNOWN: &[u16] = &[
    attr::USERNAME,
    attr::MESSAGE_INTEGRITY,
    attr::MESSAGE_INTEGRITY_SHA256,
    attr::PRIORITY,
    attr::USE_CANDIDATE,
    attr::PADDING,
    attr::MAPPED_ADDRESS,
    attr::XOR_MAPPED_ADDRESS,
];

/// The answer to an unauthenticated Binding request received from `source`, or `None` when
/// `request` is not a well-formed Binding request or carries USERNAME / MESSAGE-INTEGRITY (an
/// ICE connectivity check, which must be answered by the ICE agent that owns the credentials).
///
/// The success response has XOR-MAPPED-ADDRESS, SOFTWARE and FINGERPRINT; a request with an
/// unknown comprehension-required attribute gets 420 with UNKNOWN-ATTRIBUTES (RFC 8489 section
/// 6.3.1). Binding indications (keep-alives) get no answer.
///
/// ```
/// use std::net::SocketAddr;
/// use weir_turn::stun::{binding_response, method, Class, Message, MessageBuilder, attr};
/// let req = MessageBuilder::new(method::BINDING, Class::Request, [7; 12]).fingerprint().build();
/// let from: SocketAddr = "192.0.2.1:5000".parse().unwrap();
/// let resp = binding_response(&req, from).unwrap();
/// let msg = Message::parse(&resp).unwrap();
/// assert_eq!(msg.class, Class::Success);
/// assert_eq!(msg.get_xor_addr(attr::XOR_MAPPED_ADDRESS), Some(from));
/// ```
pub fn binding_response(request: &[u8], source: SocketAddr) -> Option<Vec<u8>> {
    let msg = Message::parse(request).ok()?;
    if msg.method != method::BINDING || msg.class != Class::Request {
        return None;
    }
    if msg.has(attr::USERNAME) || msg.has_integrity() || msg.has(attr::MESSAGE_INTEGRITY_SHA256) {
        return None;
    }
    Some(binding_answer(&msg, source))
}

/// The answer to a Binding request, authenticated or not (the TURN port answers them all, as
/// coturn does).
pub(crate) fn binding_answer(msg: &Message<'_>, source: SocketAddr) -> Vec<u8> {
    let unknown = msg.unknown_required(BINDING_KNOWN);
    if !unknown.is_empty() {
        return MessageBuilder::new(method::BINDING, Class::Error, msg.transaction_id)
            .error(420, reason_phrase(420))
            .unknown_attributes(&unknown)
            .software()
            .fingerprint()
            .build();
    }
    MessageBuilder::new(method::BINDING, Class::Success, msg.transaction_id)
        .xor_addr(attr::XOR_MAPPED_ADDRESS, source)
        .attr(attr::MAPPED_ADDRESS, &encode_addr(source))
        .software()
        .fingerprint()
        .build()
}

#[cfg(test)]
mod tests;
