//! The tokio shell on real loopback sockets: Binding over UDP and TCP, then an allocation that
//! relays ChannelData to a UDP peer on 127.0.0.1 and back (over UDP and over TCP).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use weir_turn::framing::{channel_data, frame_len, parse_channel_data};
use weir_turn::stun::{attr, long_term_key, method, Class, Message, MessageBuilder};
use weir_turn::{parse_ip_ranges, start, ServerConfig, TurnConfig};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A port free for both UDP and TCP on 127.0.0.1.
fn free_port() -> u16 {
    for _ in 0..50 {
        let u = std::net::UdpSocket::bind((LO, 0)).unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind((LO, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

fn config(port: u16) -> TurnConfig {
    TurnConfig {
        listen_ip: LO,
        udp_port: port,
        tcp_port: port,
        relay_ports: (40000, 60000),
        external_ips: vec![LO],
        server: ServerConfig {
            static_user: Some(("user".into(), "pass".into())),
            allow_peers: parse_ip_ranges("127.0.0.1").unwrap(),
            ..ServerConfig::default()
        },
        ..TurnConfig::default()
    }
}

/// A minimal TURN client over a datagram or stream transport.
enum Conn {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream, Vec<u8>),
}

impl Conn {
    async fn send(&mut self, data: &[u8]) {
        match self {
            Conn::Udp(s, to) => {
                s.send_to(data, *to).await.unwrap();
            }
            Conn::Tcp(s, _) => s.write_all(data).await.unwrap(),
        }
    }

    async fn recv(&mut self) -> Vec<u8> {
        let fut = async {
            match self {
                Conn::Udp(s, _) => {
                    let mut buf = vec![0u8; 65536];
                    let (n, _) = s.recv_from(&mut buf).await.unwrap();
                    buf.truncate(n);
                    buf
                }
                Conn::Tcp(s, pending) => loop {
                    if let Some(n) = frame_len(pending).unwrap() {
                        return pending.drain(..n).collect();
                    }
                    let mut chunk = [0u8; 4096];
                    let n = s.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "connection closed");
                    pending.extend_from_slice(&chunk[..n]);
                },
            }
        };
        tokio::time::timeout(Duration::from_secs(5), fut).await.expect("an answer within 5 s")
    }
}

struct Client {
    conn: Conn,
    nonce: Option<String>,
    tid: u8,
}

impl Client {
    async fn request(&mut self, m: u16, f: impl Fn(MessageBuilder) -> MessageBuilder) -> Vec<u8> {
        loop {
            self.tid += 1;
            let mut b = f(MessageBuilder::new(m, Class::Request, [self.tid; 12]));
            if let Some(n) = &self.nonce {
                b = b
                    .attr(attr::USERNAME, b"user")
                    .attr(attr::REALM, b"weir")
                    .attr(attr::NONCE, n.as_bytes())
                    .integrity(&long_term_key("user", "weir", "pass"));
            }
            self.conn.send(&b.fingerprint().build()).await;
            let resp = self.conn.recv().await;
            let msg = Message::parse(&resp).unwrap();
            assert_eq!(msg.transaction_id, [self.tid; 12]);
            match msg.error_code() {
                Some((401 | 438, _)) if self.nonce.is_none() || msg.error_code().unwrap().0 == 438 => {
                    self.nonce = msg.get_str(attr::NONCE).map(str::to_owned);
                }
                _ => return resp,
            }
        }
    }
}

async fn relay_round_trip(conn: Conn) {
    let peer = UdpSocket::bind((LO, 0)).await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let mut c = Client { conn, nonce: None, tid: 0 };
    let resp = c.request(method::ALLOCATE, |b| b.u32_attr(attr::REQUESTED_TRANSPORT, 17 << 24)).await;
    let msg = Message::parse(&resp).unwrap();
    assert_eq!(msg.class, Class::Success, "{:?}", msg.error_code());
    assert!(msg.verify_integrity(&long_term_key("user", "weir", "pass")));
    let relay = msg.get_xor_addr(attr::XOR_RELAYED_ADDRESS).unwrap();
    assert_eq!(relay.ip(), LO);
    assert!((40000..=60000).contains(&relay.port()));

    let resp = c
        .request(method::CHANNEL_BIND, |b| {
            b.u32_attr(attr::CHANNEL_NUMBER, 0x4001 << 16).xor_addr(attr::XOR_PEER_ADDRESS, peer_addr)
        })
        .await;
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);

    let pad = matches!(c.conn, Conn::Tcp(..));
    c.conn.send(&channel_data(0x4001, b"to the peer", pad)).await;
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"to the peer");
    assert_eq!(from, relay);
    peer.send_to(b"back to the client", relay).await.unwrap();
    let back = c.conn.recv().await;
    assert_eq!(parse_channel_data(&back), Some((0x4001, &b"back to the client"[..])));
    // Padded to 4 bytes on TCP only (4 + 18 bytes of payload).
    assert_eq!(back.len(), if pad { 24 } else { 22 });

    // Delete it.
    let resp = c.request(method::REFRESH, |b| b.u32_attr(attr::LIFETIME, 0)).await;
    assert_eq!(Message::parse(&resp).unwrap().class, Class::Success);
}

#[tokio::test]
async fn binding_and_relaying_on_loopback() {
    let port = free_port();
    let handle = start(config(port)).await.unwrap();
    let server = SocketAddr::new(LO, port);
    assert_eq!(handle.udp_addr(), Some(server));
    assert_eq!(handle.tcp_addr(), Some(server));

    // Binding over UDP.
    let udp = UdpSocket::bind((LO, 0)).await.unwrap();
    let me = udp.local_addr().unwrap();
    let mut conn = Conn::Udp(udp, server);
    conn.send(&MessageBuilder::new(method::BINDING, Class::Request, [1; 12]).build()).await;
    let resp = conn.recv().await;
    assert_eq!(Message::parse(&resp).unwrap().get_xor_addr(attr::XOR_MAPPED_ADDRESS), Some(me));

    // Binding over TCP.
    let tcp = TcpStream::connect(server).await.unwrap();
    let me = tcp.local_addr().unwrap();
    let mut tconn = Conn::Tcp(tcp, Vec::new());
    tconn.send(&MessageBuilder::new(method::BINDING, Class::Request, [2; 12]).fingerprint().build()).await;
    let resp = tconn.recv().await;
    assert_eq!(Message::parse(&resp).unwrap().get_xor_addr(attr::XOR_MAPPED_ADDRESS), Some(me));

    relay_round_trip(conn).await;
    relay_round_trip(tconn).await;
    let stats = handle.stats();
    assert_eq!(stats.core.allocations_total, 2);
    assert_eq!(stats.core.to_peer_packets, 2);
    assert_eq!(stats.core.to_client_packets, 2);
    assert_eq!(stats.core.allocations, 0);

    // A TCP stream that is not STUN is closed.
    let mut junk = TcpStream::connect(server).await.unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), junk.read(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0);

    // Dropping the handle frees the ports.
    drop(handle);
    tokio::time::sleep(Duration::from_millis(100)).await;
    std::net::UdpSocket::bind(server).expect("UDP port released");
}
