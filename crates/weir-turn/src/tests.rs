//! Unit tests of the sans-IO server: no socket, a fake clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::auth::{rest_password, rest_username};
use crate::filter::parse_ip_ranges;
use crate::framing::{channel_data, parse_channel_data};
use crate::server::*;
use crate::stun::{attr, long_term_key, method, Class, Message, MessageBuilder};

const UNIX0: u64 = 1_800_000_000;
const RELAY: &str = "203.0.113.1:50000";
const PUBLIC_PEER: &str = "198.51.100.7:4000";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config() -> ServerConfig {
    ServerConfig {
        static_user: Some(("ZLMediaKit".into(), "secret".into())),
        rest_secret: Some("restkey".into()),
        own_ips: vec!["203.0.113.1".parse().unwrap()],
        listener_ports: vec![3478],
        max_bytes_per_sec: 0,
        ..ServerConfig::default()
    }
}

struct T {
    srv: Server,
    now: Instant,
    tid: u8,
    next_relay_port: u16,
}

struct Client {
    tuple: FiveTuple,
    user: String,
    pwd: String,
    nonce: Option<String>,
}

impl T {
    fn new(cfg: ServerConfig) -> T {
        let t0 = Instant::now();
        T { srv: Server::new(cfg, t0, UNIX0), now: t0, tid: 0, next_relay_port: 50000 }
    }

    fn advance(&mut self, secs: u64) -> Vec<Output> {
        self.now += Duration::from_secs(secs);
        let mut out = Vec::new();
        self.srv.handle_timeout(self.now, &mut out);
        out
    }

    fn client(&self, addr: &str, transport: Transport) -> Client {
        Client {
            tuple: FiveTuple { transport, client: sa(addr), server: sa("203.0.113.1:3478") },
            user: "ZLMediaKit".into(),
            pwd: "secret".into(),
            nonce: None,
        }
    }

    fn tid(&mut self) -> [u8; 12] {
        self.tid = self.tid.wrapping_add(1);
        [self.tid; 12]
    }

    /// Sends raw bytes from `c`, completes any relay opening, returns every output.
    fn send_raw(&mut self, c: &Client, data: &[u8]) -> Vec<Output> {
        let mut out = Vec::new();
        self.srv.handle_client(self.now, c.tuple, data, &mut out);
        let mut all = Vec::new();
        for o in out {
            match o {
                Output::OpenRelay(req) => {
                    let relay = match req.reserved {
                        Some(r) => r,
                        None => {
                            let mut p = self.next_relay_port;
                            if req.even_port && p % 2 == 1 {
                                p += 1;
                            }
                            self.next_relay_port = p + 2;
                            SocketAddr::new("203.0.113.1".parse().unwrap(), p)
                        }
                    };
                    let reserved = (req.reserve_next).then(|| SocketAddr::new(relay.ip(), relay.port() + 1));
                    let mut more = Vec::new();
                    self.srv.relay_opened(self.now, req.id, Ok(RelayOpened { relay, reserved }), &mut more);
                    all.push(Output::OpenRelay(req));
                    all.extend(more);
                }
                o => all.push(o),
            }
        }
        all
    }

    /// A request from `c`, authenticated when `c` has a nonce.
    fn request(&mut self, c: &Client, m: u16, f: impl FnOnce(MessageBuilder) -> MessageBuilder) -> Vec<u8> {
        let tid = self.tid();
        let mut b = f(MessageBuilder::new(m, Class::Request, tid));
        if let Some(n) = &c.nonce {
            b = b
                .attr(attr::USERNAME, c.user.as_bytes())
                .attr(attr::REALM, b"weir")
                .attr(attr::NONCE, n.as_bytes())
                .integrity(&long_term_key(&c.user, "weir", &c.pwd));
        }
        b.fingerprint().build()
    }

    /// Sends a request and returns the response (the only ToClient output) and the outputs.
    fn call(&mut self, c: &mut Client, m: u16, f: impl Fn(MessageBuilder) -> MessageBuilder) -> (Vec<u8>, Vec<Output>) {
        let (resp, outs) = self.call_once(c, m, &f);
        if code(&resp) == Some(438) {
            // A stale nonce: retry with the new one, as clients do.
            return self.call_once(c, m, &f);
        }
        (resp, outs)
    }

    fn call_once(&mut self, c: &mut Client, m: u16, f: impl FnOnce(MessageBuilder) -> MessageBuilder) -> (Vec<u8>, Vec<Output>) {
        let req = self.request(c, m, f);
        let outs = self.send_raw(c, &req);
        let resp = outs
            .iter()
            .find_map(|o| match o {
                Output::ToClient { data, .. } => Some(data.clone()),
                _ => None,
            })
            .expect("a response");
        let msg = Message::parse(&resp).unwrap();
        if let Some(n) = msg.get_str(attr::NONCE) {
            c.nonce = Some(n.to_owned());
        }
        (resp, outs)
    }

    /// Challenge + authenticated Allocate; returns the response.
    fn allocate(&mut self, c: &mut Client, f: impl Fn(MessageBuilder) -> MessageBuilder) -> Vec<u8> {
        if c.nonce.is_none() {
            let (resp, _) = self.call(c, method::ALLOCATE, |b| f(b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24)));
            assert_eq!(code(&resp), Some(401));
        }
        self.call(c, method::ALLOCATE, |b| f(b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24))).0
    }
}

fn code(resp: &[u8]) -> Option<u16> {
    Message::parse(resp).unwrap().error_code().map(|e| e.0)
}

fn key(c: &Client) -> [u8; 16] {
    long_term_key(&c.user, "weir", &c.pwd)
}

fn relay_of(resp: &[u8]) -> SocketAddr {
    Message::parse(resp).unwrap().get_xor_addr(attr::XOR_RELAYED_ADDRESS).unwrap()
}

fn to_peers(outs: &[Output]) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::ToPeer { relay, peer, data } => Some((*relay, *peer, data.clone())),
            _ => None,
        })
        .collect()
}

fn relay_in(t: &mut T, relay: SocketAddr, peer: &str, data: &[u8]) -> Vec<Output> {
    let mut out = Vec::new();
    t.srv.handle_relay(t.now, relay, sa(peer), data, &mut out);
    out
}

fn send_ind(t: &mut T, peer: &str, data: &[u8]) -> Vec<u8> {
    let tid = t.tid();
    MessageBuilder::new(method::SEND, Class::Indication, tid)
        .xor_addr(attr::XOR_PEER_ADDRESS, sa(peer))
        .attr(attr::DATA, data)
        .build()
}

#[test]
fn binding_is_answered_without_credentials() {
    let mut t = T::new(config());
    let c = t.client("192.0.2.10:1234", Transport::Udp);
    let req = MessageBuilder::new(method::BINDING, Class::Request, [3; 12]).fingerprint().build();
    let outs = t.send_raw(&c, &req);
    let [Output::ToClient { tuple, data }] = &outs[..] else { panic!("{outs:?}") };
    assert_eq!(*tuple, c.tuple);
    let m = Message::parse(data).unwrap();
    assert_eq!(m.class, Class::Success);
    assert!(m.has_fingerprint);
    assert_eq!(m.get_xor_addr(attr::XOR_MAPPED_ADDRESS), Some(sa("192.0.2.10:1234")));
}

#[test]
fn allocate_with_long_term_credentials() {
    let mut t = T::new(config());
    let mut c = t.client("192.0.2.10:1234", Transport::Udp);
    let (resp, _) = t.call(&mut c, method::ALLOCATE, |b| b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24));
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.error_code().map(|e| e.0), Some(401));
    assert_eq!(m.get_str(attr::REALM), Some("weir"));
    assert!(!m.has_integrity());
    assert!(m.has_fingerprint);

    let (resp, outs) = t.call(&mut c, method::ALLOCATE, |b| {
        b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24).u32_attr(attr::LIFETIME, 60)
    });
    assert!(matches!(outs[0], Output::OpenRelay(RelayRequest { even_port: false, reserve_next: false, reserved: None, .. })));
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.class, Class::Success, "{:?}", m.error_code());
    assert!(m.verify_integrity(&key(&c)));
    assert_eq!(m.get_xor_addr(attr::XOR_RELAYED_ADDRESS), Some(sa(RELAY)));
    assert_eq!(m.get_xor_addr(attr::XOR_MAPPED_ADDRESS), Some(c.tuple.client));
    // Asking less than the default gives the default.
    assert_eq!(m.get_u32(attr::LIFETIME), Some(600));
    assert_eq!(t.srv.stats().allocations, 1);
    assert_eq!(t.srv.relay_of(&c.tuple), Some(sa(RELAY)));

    // A retransmission of the same transaction gets the same answer; a new Allocate gets 437.
    let again = t.send_raw(&c, &{
        let mut b = MessageBuilder::new(method::ALLOCATE, Class::Request, m.transaction_id)
            .u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24)
            .u32_attr(attr::LIFETIME, 60);
        b = b.attr(attr::USERNAME, b"ZLMediaKit").attr(attr::REALM, b"weir").attr(attr::NONCE, c.nonce.as_ref().unwrap().as_bytes());
        b.integrity(&key(&c)).build()
    });
    assert_eq!(again, vec![Output::ToClient { tuple: c.tuple, data: resp.clone() }]);
    let (resp, _) = t.call(&mut c, method::ALLOCATE, |b| b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24));
    assert_eq!(code(&resp), Some(437));
    assert!(Message::parse(&resp).unwrap().verify_integrity(&key(&c)), "errors after authentication are signed");

    // Lifetime: capped at 3600.
    let (resp, _) = t.call(&mut c, method::REFRESH, |b| b.u32_attr(attr::LIFETIME, 100_000));
    assert_eq!(Message::parse(&resp).unwrap().get_u32(attr::LIFETIME), Some(3600));
    // Refresh 0 deletes it and closes the relay.
    let (resp, outs) = t.call(&mut c, method::REFRESH, |b| b.u32_attr(attr::LIFETIME, 0));
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
    assert!(outs.contains(&Output::CloseRelay { relay: sa(RELAY) }));
    assert_eq!(t.srv.stats().allocations, 0);
    let (resp, _) = t.call(&mut c, method::REFRESH, |b| b);
    assert_eq!(code(&resp), Some(437));
}

#[test]
fn wrong_credentials_are_refused_with_401() {
    let mut t = T::new(config());
    let mut c = t.client("192.0.2.10:1234", Transport::Udp);
    c.pwd = "wrong".into();
    let resp = t.allocate(&mut c, |b| b);
    assert_eq!(code(&resp), Some(401));
    let m = Message::parse(&resp).unwrap();
    assert!(m.get(attr::NONCE).is_some() && m.get(attr::REALM).is_some());
    let mut c = t.client("192.0.2.10:1235", Transport::Udp);
    c.user = "nobody".into();
    assert_eq!(code(&t.allocate(&mut c, |b| b)), Some(401));
    // MESSAGE-INTEGRITY without NONCE: 400.
    let bad = MessageBuilder::new(method::ALLOCATE, Class::Request, [1; 12])
        .u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24)
        .attr(attr::USERNAME, b"ZLMediaKit")
        .integrity(&[0; 16])
        .build();
    let outs = t.send_raw(&c, &bad);
    let Output::ToClient { data, .. } = &outs[0] else { panic!() };
    assert_eq!(code(data), Some(400));
    assert_eq!(t.srv.stats().allocations, 0);
    assert!(t.srv.stats().refusals >= 3);
}

#[test]
fn time_limited_rest_credentials() {
    let mut t = T::new(config());
    let user = rest_username(UNIX0 + 100, Some("alice"));
    let mut c = t.client("192.0.2.10:1234", Transport::Udp);
    c.user = user.clone();
    c.pwd = rest_password("restkey", &user);
    let resp = t.allocate(&mut c, |b| b);
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
    // After the expiry the same credentials are refused (the allocation itself lives on).
    t.advance(101);
    let mut c2 = t.client("192.0.2.10:1235", Transport::Udp);
    c2.user = user.clone();
    c2.pwd = rest_password("restkey", &user);
    assert_eq!(code(&t.allocate(&mut c2, |b| b)), Some(401));
    // A wrong secret never works.
    let mut c3 = t.client("192.0.2.10:1236", Transport::Udp);
    c3.user = rest_username(UNIX0 + 10_000, Some("alice"));
    c3.pwd = rest_password("other", &c3.user);
    assert_eq!(code(&t.allocate(&mut c3, |b| b)), Some(401));
}

#[test]
fn stale_nonce_gets_438_and_a_fresh_nonce() {
    let mut cfg = config();
    cfg.nonce_lifetime = Duration::from_secs(30);
    let mut t = T::new(cfg);
    let mut c = t.client("192.0.2.10:1234", Transport::Udp);
    assert_eq!(Message::parse(&t.allocate(&mut c, |b| b)).unwrap().class, Class::Success);
    t.advance(31);
    let old = c.nonce.clone();
    let (resp, _) = t.call_once(&mut c, method::REFRESH, |b| b);
    let m = Message::parse(&resp).unwrap();
    assert_eq!(m.error_code().map(|e| e.0), Some(438));
    assert_eq!(m.get_str(attr::REALM), Some("weir"));
    assert_ne!(c.nonce, old);
    let (resp, _) = t.call(&mut c, method::REFRESH, |b| b);
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
    // A nonce issued for another client address is not accepted either.
    let mut other = t.client("192.0.2.99:1", Transport::Udp);
    other.nonce = c.nonce.clone();
    let (resp, _) = t.call_once(&mut other, method::ALLOCATE, |b| b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24));
    assert_eq!(code(&resp), Some(438));
}

#[test]
fn allocate_attribute_rules() {
    let mut t = T::new(config());
    let mut c = t.client("192.0.2.10:1234", Transport::Udp);
    let (_, _) = t.call(&mut c, method::ALLOCATE, |b| b);
    let (resp, _) = t.call(&mut c, method::ALLOCATE, |b| b);
    assert_eq!(code(&resp), Some(400), "no REQUESTED-TRANSPORT");
    let (resp, _) = t.call(&mut c, method::ALLOCATE, |b| b.u32_attr(attr::REQUESTED_TRANSPORT, 6 << 24));
    assert_eq!(code(&resp), Some(442), "TCP relays");
    let (resp, _) = t.call(&mut c, method::ALLOCATE, |b| {
        b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24).attr(attr::DONT_FRAGMENT, &[])
    });
    assert_eq!(code(&resp), Some(420));
    assert_eq!(Message::parse(&resp).unwrap().get(attr::UNKNOWN_ATTRIBUTES), Some(&[0x00, 0x1a][..]));
    let (resp, _) = t.call(&mut c, method::ALLOCATE, |b| {
        b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24).u32_attr(attr::REQUESTED_ADDRESS_FAMILY, 2 << 24)
    });
    assert_eq!(code(&resp), Some(440), "no IPv6 relays configured");
    let (resp, _) = t.call(&mut c, method::ALLOCATE, |b| {
        b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24).attr(attr::EVEN_PORT, &[0]).attr(attr::RESERVATION_TOKEN, &[1; 8])
    });
    assert_eq!(code(&resp), Some(400));
    let (resp, _) = t.call(&mut c, method::ALLOCATE, |b| {
        b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24).attr(attr::RESERVATION_TOKEN, &[1; 8])
    });
    assert_eq!(code(&resp), Some(508), "unknown token");
    // Requests other than Allocate without an allocation: 437.
    let (resp, _) = t.call(&mut c, method::CREATE_PERMISSION, |b| b.xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER)));
    assert_eq!(code(&resp), Some(437));
    // An unknown method: 400.
    let (resp, _) = t.call(&mut c, 0x0ff, |b| b);
    assert_eq!(code(&resp), Some(400));
}

#[test]
fn even_port_and_reservation_token() {
    let mut t = T::new(config());
    t.next_relay_port = 50001;
    let mut rtp = t.client("192.0.2.10:1000", Transport::Udp);
    let resp = t.allocate(&mut rtp, |b| b.attr(attr::EVEN_PORT, &[0x80, 0, 0, 0]));
    let m = Message::parse(&resp).unwrap();
    let relay = m.get_xor_addr(attr::XOR_RELAYED_ADDRESS).unwrap();
    assert_eq!(relay.port() % 2, 0);
    let token = m.get(attr::RESERVATION_TOKEN).unwrap().to_vec();
    assert_eq!(token.len(), 8);
    let mut rtcp = t.client("192.0.2.10:1001", Transport::Udp);
    let resp = t.allocate(&mut rtcp, |b| b.attr(attr::RESERVATION_TOKEN, &token));
    assert_eq!(relay_of(&resp).port(), relay.port() + 1);
    // A token works once.
    let mut third = t.client("192.0.2.10:1002", Transport::Udp);
    assert_eq!(code(&t.allocate(&mut third, |b| b.attr(attr::RESERVATION_TOKEN, &token))), Some(508));
    // An unused reservation is released after 30 s.
    let mut four = t.client("192.0.2.10:1003", Transport::Udp);
    let resp = t.allocate(&mut four, |b| b.attr(attr::EVEN_PORT, &[0x80]));
    let reserved = SocketAddr::new(relay_of(&resp).ip(), relay_of(&resp).port() + 1);
    assert!(t.advance(29).is_empty());
    assert_eq!(t.advance(1), vec![Output::CloseRelay { relay: reserved }]);
}

#[test]
fn permissions_channels_and_data() {
    let mut t = T::new(config());
    let mut c = t.client("192.0.2.10:1234", Transport::Udp);
    let relay = relay_of(&t.allocate(&mut c, |b| b));

    // No permission: nothing passes, either way.
    let send = send_ind(&mut t, PUBLIC_PEER, b"hello");
    assert!(t.send_raw(&c, &send).is_empty());
    assert!(relay_in(&mut t, relay, PUBLIC_PEER, b"x").is_empty());
    assert_eq!(t.srv.stats().dropped_no_permission, 2);

    let (resp, _) = t.call(&mut c, method::CREATE_PERMISSION, |b| b.xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER)));
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
    // Send indication -> peer.
    let outs = t.send_raw(&c, &send);
    assert_eq!(to_peers(&outs), vec![(relay, sa(PUBLIC_PEER), b"hello".to_vec())]);
    // Peer -> Data indication (any port of a permitted IP).
    let outs = relay_in(&mut t, relay, "198.51.100.7:9999", b"back");
    let [Output::ToClient { tuple, data }] = &outs[..] else { panic!("{outs:?}") };
    assert_eq!(*tuple, c.tuple);
    let m = Message::parse(data).unwrap();
    assert_eq!((m.method, m.class), (method::DATA, Class::Indication));
    assert_eq!(m.get_xor_addr(attr::XOR_PEER_ADDRESS), Some(sa("198.51.100.7:9999")));
    assert_eq!(m.get(attr::DATA), Some(&b"back"[..]));

    // ChannelBind: ChannelData both ways.
    let (resp, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
        b.u32_attr(attr::CHANNEL_NUMBER, 0x4001 << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER))
    });
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
    let outs = t.send_raw(&c, &channel_data(0x4001, b"via channel", false));
    assert_eq!(to_peers(&outs), vec![(relay, sa(PUBLIC_PEER), b"via channel".to_vec())]);
    let outs = relay_in(&mut t, relay, PUBLIC_PEER, b"abc");
    let [Output::ToClient { data, .. }] = &outs[..] else { panic!() };
    assert_eq!(data, &channel_data(0x4001, b"abc", false));
    // Padded ChannelData over UDP is accepted too; an unbound channel is dropped.
    let outs = t.send_raw(&c, &channel_data(0x4001, b"pad", true));
    assert_eq!(to_peers(&outs).len(), 1);
    assert!(t.send_raw(&c, &channel_data(0x4002, b"x", false)).is_empty());

    // Channel rules.
    let (resp, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
        b.u32_attr(attr::CHANNEL_NUMBER, 0x4001 << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa("198.51.100.8:1"))
    });
    assert_eq!(code(&resp), Some(400), "channel bound to another peer");
    let (resp, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
        b.u32_attr(attr::CHANNEL_NUMBER, 0x4002 << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER))
    });
    assert_eq!(code(&resp), Some(400), "peer bound to another channel");
    for bad in [0x3fffu32, 0x8000, 0xffff] {
        let (resp, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
            b.u32_attr(attr::CHANNEL_NUMBER, bad << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa("198.51.100.9:1"))
        });
        assert_eq!(code(&resp), Some(400), "channel {bad:#x}");
    }
    let (resp, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
        b.u32_attr(attr::CHANNEL_NUMBER, 0x4001 << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER))
    });
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success, "rebinding refreshes");

    // Expiry: the permission (300 s) outlives nothing it should; the channel lasts 600 s but
    // data needs the permission too. Refresh the allocation so it lives on.
    let (_, _) = t.call(&mut c, method::REFRESH, |b| b.u32_attr(attr::LIFETIME, 3600));
    t.advance(301);
    assert!(relay_in(&mut t, relay, PUBLIC_PEER, b"late").is_empty());
    assert!(t.send_raw(&c, &channel_data(0x4001, b"late", false)).is_empty());
    t.advance(300);
    // The channel is gone: the number is free for another peer.
    let (resp, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
        b.u32_attr(attr::CHANNEL_NUMBER, 0x4001 << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa("198.51.100.8:1"))
    });
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
}

#[test]
fn refused_peers_get_403() {
    let mut t = T::new(config());
    let mut c = t.client("192.0.2.10:1234", Transport::Udp);
    let relay = relay_of(&t.allocate(&mut c, |b| b));
    for peer in ["127.0.0.1:5000", "10.0.0.1:5000", "192.168.1.1:5000", "169.254.1.1:5000", "224.0.0.1:5000", "0.0.0.0:5000"] {
        let (resp, _) = t.call(&mut c, method::CREATE_PERMISSION, |b| b.xor_addr(attr::XOR_PEER_ADDRESS, sa(peer)));
        assert_eq!(code(&resp), Some(403), "{peer}");
        let (resp, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
            b.u32_attr(attr::CHANNEL_NUMBER, 0x4000 << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa(peer))
        });
        assert_eq!(code(&resp), Some(403), "{peer}");
    }
    // All or nothing: one refused peer refuses the whole CreatePermission.
    let (resp, _) = t.call(&mut c, method::CREATE_PERMISSION, |b| {
        b.xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER)).xor_addr(attr::XOR_PEER_ADDRESS, sa("127.0.0.1:1"))
    });
    assert_eq!(code(&resp), Some(403));
    let send = send_ind(&mut t, PUBLIC_PEER, b"x");
    assert!(t.send_raw(&c, &send).is_empty(), "the public peer got no permission");
    // The server's own address: permission yes, but data only towards a live relay.
    let (resp, _) = t.call(&mut c, method::CREATE_PERMISSION, |b| b.xor_addr(attr::XOR_PEER_ADDRESS, sa("203.0.113.1:1")));
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
    let send = send_ind(&mut t, "203.0.113.1:22", b"ssh?");
    assert!(t.send_raw(&c, &send).is_empty());
    let (resp, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
        b.u32_attr(attr::CHANNEL_NUMBER, 0x4000 << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa("203.0.113.1:3478"))
    });
    assert_eq!(code(&resp), Some(403), "own listener");
    // Relay to relay on this server works (two clients of one server).
    let mut c2 = t.client("192.0.2.11:1234", Transport::Udp);
    let relay2 = relay_of(&t.allocate(&mut c2, |b| b));
    let send = send_ind(&mut t, &relay2.to_string(), b"hi relay 2");
    assert_eq!(to_peers(&t.send_raw(&c, &send)), vec![(relay, relay2, b"hi relay 2".to_vec())]);
}

#[test]
fn allow_and_deny_lists() {
    let mut cfg = config();
    cfg.allow_peers = parse_ip_ranges("127.0.0.1").unwrap();
    cfg.deny_peers = parse_ip_ranges("198.51.100.0/24").unwrap();
    let mut t = T::new(cfg);
    let mut c = t.client("192.0.2.10:1234", Transport::Udp);
    let relay = relay_of(&t.allocate(&mut c, |b| b));
    let (resp, _) = t.call(&mut c, method::CREATE_PERMISSION, |b| b.xor_addr(attr::XOR_PEER_ADDRESS, sa("127.0.0.1:5000")));
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
    let send = send_ind(&mut t, "127.0.0.1:5000", b"lo");
    assert_eq!(to_peers(&t.send_raw(&c, &send)), vec![(relay, sa("127.0.0.1:5000"), b"lo".to_vec())]);
    let (resp, _) = t.call(&mut c, method::CREATE_PERMISSION, |b| b.xor_addr(attr::XOR_PEER_ADDRESS, sa("127.0.0.2:5000")));
    assert_eq!(code(&resp), Some(403));
    let (resp, _) = t.call(&mut c, method::CREATE_PERMISSION, |b| b.xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER)));
    assert_eq!(code(&resp), Some(403), "deny list");
}

#[test]
fn quotas_per_user_and_per_ip() {
    let mut cfg = config();
    cfg.max_allocations_per_user = 2;
    cfg.max_allocations_per_ip = 3;
    let mut t = T::new(cfg);
    let mut a = t.client("192.0.2.10:1", Transport::Udp);
    let mut b = t.client("192.0.2.10:2", Transport::Udp);
    let mut c = t.client("192.0.2.10:3", Transport::Udp);
    assert_eq!(Message::parse(&t.allocate(&mut a, |x| x)).unwrap().class, Class::Success);
    assert_eq!(Message::parse(&t.allocate(&mut b, |x| x)).unwrap().class, Class::Success);
    let resp = t.allocate(&mut c, |x| x);
    assert_eq!(code(&resp), Some(486), "per user");
    assert!(Message::parse(&resp).unwrap().verify_integrity(&key(&c)));
    // Another user from the same IP: the per-IP quota (3) still has room for one.
    let rest_user = rest_username(UNIX0 + 1000, Some("bob"));
    let mut d = t.client("192.0.2.10:4", Transport::Udp);
    d.user = rest_user.clone();
    d.pwd = rest_password("restkey", &rest_user);
    assert_eq!(Message::parse(&t.allocate(&mut d, |x| x)).unwrap().class, Class::Success);
    let mut e = t.client("192.0.2.10:5", Transport::Udp);
    e.user = rest_user.clone();
    e.pwd = d.pwd.clone();
    assert_eq!(code(&t.allocate(&mut e, |x| x)), Some(486), "per IP");
    // Deleting one frees a slot.
    let (_, _) = t.call(&mut a, method::REFRESH, |x| x.u32_attr(attr::LIFETIME, 0));
    let resp = t.allocate(&mut c, |x| x);
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
    // Another IP is not affected by the per-IP quota, but the user quota still applies.
    let mut f = t.client("192.0.2.11:1", Transport::Udp);
    assert_eq!(code(&t.allocate(&mut f, |x| x)), Some(486));
}

#[test]
fn refresh_with_other_credentials_gets_441() {
    let mut t = T::new(config());
    let mut c = t.client("192.0.2.10:1", Transport::Udp);
    let _ = t.allocate(&mut c, |x| x);
    let user = rest_username(UNIX0 + 1000, None);
    c.pwd = rest_password("restkey", &user);
    c.user = user;
    let (resp, _) = t.call(&mut c, method::REFRESH, |x| x);
    assert_eq!(code(&resp), Some(441));
}

#[test]
fn allocations_expire() {
    let mut t = T::new(config());
    let mut c = t.client("192.0.2.10:1", Transport::Udp);
    let relay = relay_of(&t.allocate(&mut c, |x| x));
    assert!(t.advance(599).is_empty());
    assert_eq!(t.advance(1), vec![Output::CloseRelay { relay }]);
    assert_eq!(t.srv.stats().allocations, 0);
    assert!(relay_in(&mut t, relay, PUBLIC_PEER, b"x").is_empty());
}

#[test]
fn tcp_clients() {
    let mut t = T::new(config());
    let mut c = t.client("192.0.2.10:1", Transport::Tcp);
    let relay = relay_of(&t.allocate(&mut c, |x| x));
    let (_, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
        b.u32_attr(attr::CHANNEL_NUMBER, 0x4abc << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER))
    });
    // ChannelData to a stream client is padded to 4 bytes.
    let outs = relay_in(&mut t, relay, PUBLIC_PEER, b"12345");
    let [Output::ToClient { data, .. }] = &outs[..] else { panic!() };
    assert_eq!(data.len(), 12);
    assert_eq!(parse_channel_data(data), Some((0x4abc, &b"12345"[..])));
    // Closing the connection deletes the allocation.
    let mut out = Vec::new();
    t.srv.client_closed(t.now, c.tuple, &mut out);
    assert_eq!(out, vec![Output::CloseRelay { relay }]);
    assert_eq!(t.srv.stats().allocations, 0);
}

#[test]
fn bandwidth_cap_drops_the_excess() {
    let mut cfg = config();
    cfg.max_bytes_per_sec = 1000;
    let mut t = T::new(cfg);
    let mut c = t.client("192.0.2.10:1", Transport::Udp);
    let relay = relay_of(&t.allocate(&mut c, |x| x));
    let (_, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
        b.u32_attr(attr::CHANNEL_NUMBER, 0x4000 << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER))
    });
    let pkt = channel_data(0x4000, &[0u8; 100], false);
    let sent: usize = (0..20).map(|_| to_peers(&t.send_raw(&c, &pkt)).len()).sum();
    assert_eq!(sent, 10, "one second's worth passes");
    // The other direction has its own budget.
    let back: usize = (0..20).map(|_| relay_in(&mut t, relay, PUBLIC_PEER, &[0u8; 100]).len()).sum();
    assert_eq!(back, 10);
    t.now += Duration::from_millis(500);
    let sent: usize = (0..20).map(|_| to_peers(&t.send_raw(&c, &pkt)).len()).sum();
    assert_eq!(sent, 5);
    assert_eq!(t.srv.stats().dropped_bandwidth, 10 + 10 + 15);
}

#[test]
fn turn_disabled_still_answers_binding() {
    let mut cfg = config();
    cfg.enable_turn = false;
    let mut t = T::new(cfg);
    let mut c = t.client("192.0.2.10:1", Transport::Udp);
    let (resp, _) = t.call(&mut c, method::ALLOCATE, |b| b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24));
    assert_eq!(code(&resp), Some(400));
    let (resp, _) = t.call(&mut c, method::BINDING, |b| b);
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
}

#[test]
fn relay_open_failure_gives_508_and_frees_the_quota() {
    let mut cfg = config();
    cfg.max_allocations_per_user = 1;
    let mut t = T::new(cfg);
    let mut c = t.client("192.0.2.10:1", Transport::Udp);
    let (_, _) = t.call(&mut c, method::ALLOCATE, |b| b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24));
    let req = t.request(&c, method::ALLOCATE, |b| b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24));
    let mut out = Vec::new();
    t.srv.handle_client(t.now, c.tuple, &req, &mut out);
    let [Output::OpenRelay(r)] = &out[..] else { panic!("{out:?}") };
    // A retransmission while the relay is being opened is not answered twice.
    let mut dup = Vec::new();
    t.srv.handle_client(t.now, c.tuple, &req, &mut dup);
    assert!(dup.is_empty());
    let mut out2 = Vec::new();
    t.srv.relay_opened(t.now, r.id, Err("no port".into()), &mut out2);
    let [Output::ToClient { data, .. }] = &out2[..] else { panic!() };
    assert_eq!(code(data), Some(508));
    assert_eq!(Message::parse(&t.allocate(&mut c, |x| x)).unwrap().class, Class::Success);
    // A relay opened for a client that left meanwhile is closed again.
    let mut d = t.client("192.0.2.10:2", Transport::Tcp);
    d.user = rest_username(UNIX0 + 1000, None);
    d.pwd = rest_password("restkey", &d.user);
    let (_, _) = t.call(&mut d, method::ALLOCATE, |b| b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24));
    let req = t.request(&d, method::ALLOCATE, |b| b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24));
    let mut out = Vec::new();
    t.srv.handle_client(t.now, d.tuple, &req, &mut out);
    let [Output::OpenRelay(r)] = &out[..] else { panic!("{out:?}") };
    t.srv.client_closed(t.now, d.tuple, &mut Vec::new());
    let mut out = Vec::new();
    t.srv.relay_opened(t.now, r.id, Ok(RelayOpened { relay: sa("203.0.113.1:60000"), reserved: None }), &mut out);
    assert_eq!(out, vec![Output::CloseRelay { relay: sa("203.0.113.1:60000") }]);
}

#[test]
fn hostile_input_never_panics() {
    let mut t = T::new(config());
    let mut c = t.client("192.0.2.10:1", Transport::Udp);
    let relay = relay_of(&t.allocate(&mut c, |x| x));
    let (_, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
        b.u32_attr(attr::CHANNEL_NUMBER, 0x4000 << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER))
    });
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let nonce = c.nonce.clone().unwrap();
    for i in 0..20_000 {
        let len = (rnd() % 120) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        match i % 4 {
            0 => {}
            1 if len >= 20 => {
                // A plausible STUN header with a random body.
                buf[0] &= 0x01;
                buf[2] = 0;
                buf[3] = ((len - 20) & !3) as u8;
                buf.truncate(20 + buf[3] as usize);
                buf[4..8].copy_from_slice(&crate::stun::MAGIC_COOKIE.to_be_bytes());
            }
            2 => {
                // Authenticated requests with random attribute values.
                let m = [method::ALLOCATE, method::REFRESH, method::CREATE_PERMISSION, method::CHANNEL_BIND][(rnd() % 4) as usize];
                let mut b = MessageBuilder::new(m, Class::Request, [i as u8; 12]);
                for _ in 0..(rnd() % 4) {
                    let typ = [attr::LIFETIME, attr::XOR_PEER_ADDRESS, attr::CHANNEL_NUMBER, attr::REQUESTED_TRANSPORT,
                               attr::EVEN_PORT, attr::RESERVATION_TOKEN, attr::REQUESTED_ADDRESS_FAMILY, attr::DATA][(rnd() % 8) as usize];
                    let v: Vec<u8> = (0..(rnd() % 24)).map(|_| rnd() as u8).collect();
                    b = b.attr(typ, &v);
                }
                buf = b.attr(attr::USERNAME, b"ZLMediaKit").attr(attr::REALM, b"weir").attr(attr::NONCE, nonce.as_bytes())
                    .integrity(&key(&c)).build();
            }
            _ => {
                if !buf.is_empty() {
                    buf[0] = 0x40 | (buf[0] & 0x3f);
                }
            }
        }
        let mut out = Vec::new();
        t.srv.handle_client(t.now, c.tuple, &buf, &mut out);
        for o in out {
            if let Output::OpenRelay(r) = o {
                let port = 40000 + (i % 1000) as u16;
                t.srv.relay_opened(t.now, r.id, Ok(RelayOpened { relay: SocketAddr::new("203.0.113.1".parse().unwrap(), port), reserved: None }), &mut Vec::new());
            }
        }
        t.srv.handle_relay(t.now, relay, sa(PUBLIC_PEER), &buf, &mut Vec::new());
    }
    t.advance(4000);
    assert_eq!(t.srv.stats().allocations, 0);
}

/// Not a test: the cost of the core alone per relayed packet (no sockets), both directions.
/// `cargo test --release -p weir-turn core_throughput -- --ignored --nocapture`
#[test]
#[ignore]
fn core_throughput() {
    let mut t = T::new(config());
    let mut clients = Vec::new();
    for i in 0..200u16 {
        let mut c = t.client(&format!("192.0.2.{}:10000", i + 1), Transport::Udp);
        c.user = rest_username(UNIX0 + 10_000, Some(&format!("u{i}")));
        c.pwd = rest_password("restkey", &c.user);
        let relay = relay_of(&t.allocate(&mut c, |x| x));
        let (_, _) = t.call(&mut c, method::CHANNEL_BIND, |b| {
            b.u32_attr(attr::CHANNEL_NUMBER, 0x4000 << 16).xor_addr(attr::XOR_PEER_ADDRESS, sa(PUBLIC_PEER))
        });
        clients.push((c, relay));
    }
    let pkt = channel_data(0x4000, &[7u8; 160], false);
    let n = 2_000_000usize;
    let mut out = Vec::with_capacity(4);
    let start = Instant::now();
    for i in 0..n {
        let (c, relay) = &clients[i % clients.len()];
        out.clear();
        if i % 2 == 0 {
            t.srv.handle_client(t.now, c.tuple, &pkt, &mut out);
        } else {
            t.srv.handle_relay(t.now, *relay, sa(PUBLIC_PEER), &pkt[4..], &mut out);
        }
        assert_eq!(out.len(), 1);
    }
    let el = start.elapsed();
    println!("core: {} relayed packets in {:?}: {:.0} ns/packet, {:.2} M packets/s on one core",
             n, el, el.as_nanos() as f64 / n as f64, n as f64 / el.as_secs_f64() / 1e6);
}
