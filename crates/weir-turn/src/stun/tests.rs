use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// RFC 5769 section 2.1: sample request (short-term password "VOkJxbRl1RmTxUk/WvJxBt").
const REQ: &str = "
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf";
// RFC 5769 section 2.2: sample IPv4 response.
const RESP4: &str = "
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96";
// RFC 5769 section 2.3: sample IPv6 response.
const RESP6: &str = "
  01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c";
// RFC 5769 section 2.4: request with long-term authentication.
const REQ_LT: &str = "
  00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
  00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
  00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
  00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
  00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66";

const PWD: &[u8] = b"VOkJxbRl1RmTxUk/WvJxBt";

#[test]
fn rfc5769_request() {
    let b = hex(REQ);
    let m = Message::parse(&b).unwrap();
    assert_eq!(m.method, method::BINDING);
    assert_eq!(m.class, Class::Request);
    assert!(m.has_fingerprint);
    assert_eq!(m.get_str(attr::USERNAME), Some("evtj:h6vY"));
    assert_eq!(m.get_str(attr::SOFTWARE), Some("STUN test client"));
    assert_eq!(m.get_u32(attr::PRIORITY), Some(0x6e0001ff));
    assert!(m.verify_integrity(PWD));
    assert!(!m.verify_integrity(b"wrong"));
    let at = b.len() - 24 - 8;
    let rebuilt = MessageBuilder { buf: b[..at].to_vec(), tid: m.transaction_id }
        .integrity(PWD)
        .fingerprint()
        .build();
    assert_eq!(rebuilt, b);
}

#[test]
fn rfc5769_responses() {
    for (v, want) in [(RESP4, "192.0.2.1:32853"), (RESP6, "[2001:db8:1234:5678:11:2233:4455:6677]:32853")] {
        let b = hex(v);
        let m = Message::parse(&b).unwrap();
        assert_eq!(m.class, Class::Success);
        assert!(m.has_fingerprint);
        assert!(m.verify_integrity(PWD));
        let want: SocketAddr = want.parse().unwrap();
        assert_eq!(m.get_xor_addr(attr::XOR_MAPPED_ADDRESS), Some(want));
        // Our MESSAGE-INTEGRITY and FINGERPRINT over the vector's attributes give the
        // vector's bytes exactly.
        let at = b.len() - 24 - 8;
        let rebuilt = MessageBuilder { buf: b[..at].to_vec(), tid: m.transaction_id }
            .integrity(PWD)
            .fingerprint()
            .build();
        assert_eq!(rebuilt, b);
        // And a message built from scratch round-trips.
        let built = MessageBuilder::new(method::BINDING, Class::Success, m.transaction_id)
            .attr(attr::SOFTWARE, b"test vector")
            .xor_addr(attr::XOR_MAPPED_ADDRESS, want)
            .integrity(PWD)
            .fingerprint()
            .build();
        let reparsed = Message::parse(&built).unwrap();
        assert!(reparsed.verify_integrity(PWD));
        assert_eq!(reparsed.get_xor_addr(attr::XOR_MAPPED_ADDRESS), Some(want));
        assert_eq!(built.len(), b.len());
    }
}

#[test]
fn rfc5769_long_term() {
    let b = hex(REQ_LT);
    let m = Message::parse(&b).unwrap();
    let user = m.get_str(attr::USERNAME).unwrap();
    assert_eq!(user, "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}");
    assert_eq!(m.get_str(attr::REALM), Some("example.org"));
    assert_eq!(m.get_str(attr::NONCE), Some("f//499k954d6OL34oL9FSTvy64sA"));
    // The password "The<U+00AD>M<U+00AA>tr<U+2168>" is "TheMatrIX" after SASLprep.
    let key = long_term_key(user, "example.org", "TheMatrIX");
    assert!(m.verify_integrity(&key));
    assert!(!m.verify_integrity(&long_term_key(user, "example.org", "TheMatrix")));
}

#[test]
fn fingerprint_and_integrity_round_trip() {
    let tid = [1u8; 12];
    let key = long_term_key("u", "r", "p");
    let b = MessageBuilder::new(method::ALLOCATE, Class::Request, tid)
        .u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24)
        .attr(attr::USERNAME, b"u")
        .attr(attr::REALM, b"r")
        .attr(attr::NONCE, b"abcde")
        .integrity(&key)
        .fingerprint()
        .build();
    let m = Message::parse(&b).unwrap();
    assert_eq!((m.method, m.class), (method::ALLOCATE, Class::Request));
    assert!(m.verify_integrity(&key));
    assert!(m.has_fingerprint);
    assert_eq!(m.get_str(attr::NONCE), Some("abcde"));
    // Any flipped bit breaks the fingerprint (or the integrity when it is in the MI).
    // (Flipping the FINGERPRINT type makes it an unknown attribute after MESSAGE-INTEGRITY,
    // which is ignored: the message then simply has no fingerprint.)
    for i in 0..b.len() {
        let mut c = b.clone();
        c[i] ^= 0x01;
        if let Ok(m) = Message::parse(&c) {
            assert!(!m.has_fingerprint && m.verify_integrity(&key), "byte {i} flipped: {m:?}");
            assert!(i == b.len() - 8 || i == b.len() - 7, "only the FINGERPRINT type bytes, not {i}");
        }
    }
    // Without fingerprint, a flipped attribute byte breaks the integrity.
    let b = MessageBuilder::new(method::ALLOCATE, Class::Request, tid)
        .attr(attr::USERNAME, b"user")
        .integrity(&key)
        .build();
    let mut c = b.clone();
    c[HEADER_LEN + 5] ^= 0x20;
    assert!(!Message::parse(&c).unwrap().verify_integrity(&key));
    // Attributes after MESSAGE-INTEGRITY (other than FINGERPRINT) are ignored.
    let b = MessageBuilder::new(method::BINDING, Class::Request, tid)
        .integrity(&key)
        .attr(attr::USERNAME, b"late")
        .build();
    let m = Message::parse(&b).unwrap();
    assert!(m.get(attr::USERNAME).is_none());
}

#[test]
fn message_types() {
    for m in [method::BINDING, method::ALLOCATE, method::REFRESH, method::SEND, method::DATA,
              method::CREATE_PERMISSION, method::CHANNEL_BIND, 0xfff] {
        for c in [Class::Request, Class::Indication, Class::Success, Class::Error] {
            assert_eq!(split_type(message_type(m, c)), (m, c));
        }
    }
    assert_eq!(message_type(method::BINDING, Class::Request), 0x0001);
    assert_eq!(message_type(method::BINDING, Class::Success), 0x0101);
    assert_eq!(message_type(method::ALLOCATE, Class::Error), 0x0113);
    assert_eq!(message_type(method::SEND, Class::Indication), 0x0016);
    assert_eq!(message_type(method::DATA, Class::Indication), 0x0017);
}

#[test]
fn xor_addresses() {
    let tid = [0xab; 12];
    for a in ["1.2.3.4:5", "[2001:db8::1]:65535", "0.0.0.0:0", "[::]:1"] {
        let a: SocketAddr = a.parse().unwrap();
        assert_eq!(decode_xor_addr(&encode_xor_addr(a, &tid), &tid), Some(a));
    }
    assert_eq!(decode_xor_addr(&[0, 1, 0], &tid), None);
    assert_eq!(decode_xor_addr(&[0, 3, 0, 0, 0, 0, 0, 0], &tid), None);
}

#[test]
fn errors_and_malformed_input() {
    let b = MessageBuilder::new(method::ALLOCATE, Class::Error, [0; 12])
        .error(438, "Stale Nonce")
        .build();
    assert_eq!(Message::parse(&b).unwrap().error_code(), Some((438, "Stale Nonce")));
    assert_eq!(Message::parse(&[]).unwrap_err(), ParseError::Truncated);
    assert_eq!(Message::parse(&[0u8; 20]).unwrap_err(), ParseError::NotStun);
    let mut bad = MessageBuilder::new(method::BINDING, Class::Request, [0; 12]).build();
    bad[3] = 4; // claims 4 bytes of attributes that are not there
    assert_eq!(Message::parse(&bad).unwrap_err(), ParseError::Truncated);
    bad.extend_from_slice(&[0, 6, 0, 9]); // USERNAME of 9 bytes: runs past the end
    assert_eq!(Message::parse(&bad).unwrap_err(), ParseError::BadAttribute);
    // Random garbage never panics.
    let mut x: u32 = 0x1234_5678;
    for n in 0..2000 {
        let len = 20 + (n % 64);
        let mut buf: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        buf[0] &= 0x3f;
        buf[2] = 0;
        buf[3] = (len - 20) as u8 & !3;
        buf[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
        if let Ok(m) = Message::parse(&buf) {
            let _ = m.error_code();
            let _ = m.get_xor_addr(attr::XOR_PEER_ADDRESS);
            let _ = m.verify_integrity(b"k");
        }
        let _ = binding_response(&buf, "1.2.3.4:5".parse().unwrap());
    }
}

#[test]
fn binding() {
    let from: SocketAddr = "[2001:db8::7]:40000".parse().unwrap();
    let req = MessageBuilder::new(method::BINDING, Class::Request, [9; 12]).build();
    let resp = binding_response(&req, from).unwrap();
    let m = Message::parse(&resp).unwrap();
    assert_eq!((m.method, m.class), (method::BINDING, Class::Success));
    assert_eq!(m.transaction_id, [9; 12]);
    assert_eq!(m.get_xor_addr(attr::XOR_MAPPED_ADDRESS), Some(from));
    assert!(m.has_fingerprint);
    // ICE checks (USERNAME + MESSAGE-INTEGRITY) and indications are not ours to answer.
    let ice = MessageBuilder::new(method::BINDING, Class::Request, [9; 12])
        .attr(attr::USERNAME, b"a:b")
        .integrity(b"pwd")
        .build();
    assert!(binding_response(&ice, from).is_none());
    let ind = MessageBuilder::new(method::BINDING, Class::Indication, [9; 12]).build();
    assert!(binding_response(&ind, from).is_none());
    // Unknown comprehension-required attribute: 420 listing it.
    let odd = MessageBuilder::new(method::BINDING, Class::Request, [9; 12])
        .attr(attr::CHANGE_REQUEST, &[0, 0, 0, 6])
        .build();
    let m2 = binding_response(&odd, from).unwrap();
    let m2 = Message::parse(&m2).unwrap();
    assert_eq!(m2.error_code().map(|e| e.0), Some(420));
    assert_eq!(m2.get(attr::UNKNOWN_ATTRIBUTES), Some(&[0x00, 0x03][..]));
    // Not STUN at all.
    assert!(binding_response(b"\x80\x00hello world, this is rtp", from).is_none());
}
