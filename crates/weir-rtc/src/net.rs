//! The media sockets and how datagrams reach them: the shared UDP socket (batched `sendmmsg`
//! sends, `udp_batch.rs`), ICE-TCP connections (RFC 4571 framing, `tcp.rs`), and the views of
//! them an egress-pool worker may use from its own thread.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use socket2::{Domain, Protocol as SockProto, Socket, Type};
use str0m::net::{Protocol, Transmit};
use tokio::sync::mpsc;

use crate::demux::rfc4571_frame;
use crate::udp_batch::UdpBatch;
use crate::EngineConfig;

/// The media sockets, bound before the engine thread starts (a busy port fails at start-up).
pub(crate) struct Sockets {
    pub(crate) udp: Option<std::net::UdpSocket>,
    pub(crate) tcp: Option<std::net::TcpListener>,
}

/// Binds `addr`; a wildcard IPv4 address becomes a dual-stack `[::]` socket where the system
/// allows it, so IPv6 peers work on the same port.
fn bind_socket(addr: SocketAddr, ty: Type) -> io::Result<Socket> {
    let proto = if ty == Type::DGRAM { SockProto::UDP } else { SockProto::TCP };
    if addr.ip() == IpAddr::from([0, 0, 0, 0]) {
        let v6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), addr.port());
        if let Ok(s) = Socket::new(Domain::IPV6, ty, Some(proto)) {
            let ok = s.set_only_v6(false).is_ok() && s.set_reuse_address(true).is_ok() && s.bind(&v6.into()).is_ok();
            if ok {
                return Ok(s);
            }
        }
    }
    let s = Socket::new(Domain::for_address(addr), ty, Some(proto))?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

impl Sockets {
    pub fn bind(cfg: &EngineConfig) -> io::Result<Self> {
        let udp = match cfg.udp_bind {
            None => None,
            Some(addr) => {
                let s = bind_socket(addr, Type::DGRAM)
                    .map_err(|e| io::Error::new(e.kind(), format!("binding UDP media port {addr}: {e}")))?;
                // Large kernel buffers absorb bursts (keyframes, fast start) to many players.
                let _ = s.set_recv_buffer_size(8 << 20);
                let _ = s.set_send_buffer_size(8 << 20);
                s.set_nonblocking(true)?;
                Some(s.into())
            }
        };
        let tcp = match cfg.tcp_bind {
            None => None,
            Some(addr) => {
                let s = bind_socket(addr, Type::STREAM)
                    .map_err(|e| io::Error::new(e.kind(), format!("binding ICE-TCP media port {addr}: {e}")))?;
                s.listen(1024)?;
                s.set_nonblocking(true)?;
                Some(s.into())
            }
        };
        Ok(Self { udp, tcp })
    }

    pub fn udp_local_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }

    pub fn tcp_local_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|s| s.local_addr().ok())
    }
}

pub(crate) struct TcpConn {
    pub(crate) tx: mpsc::Sender<Vec<u8>>,
    pub(crate) opened: Instant,
    /// An authenticated ICE check arrived on it: it belongs to a session.
    pub(crate) bound: bool,
}

/// The engine thread's sending side.
pub(crate) struct Net {
    pub(crate) udp: Option<tokio::net::UdpSocket>,
    udp_dual_stack: bool,
    pub(crate) tcp: HashMap<SocketAddr, TcpConn>,
    /// UDP datagrams waiting for the next `sendmmsg`, and the send counters.
    pub(crate) batch: UdpBatch,
}

/// Where transmits go: the engine's own [`Net`] or an egress worker's [`WorkerNet`].
pub(crate) trait Transmitter {
    fn transmit(&mut self, t: Transmit);
    /// A datagram built outside str0m (direct egress).
    fn datagram(&mut self, proto: Protocol, dest: SocketAddr, data: Vec<u8>);
}

/// The parts of [`Net`] an egress worker may use from its own thread: the UDP socket's fd
/// (`sendmmsg` on one socket from several threads is safe) and the TCP connections' queues
/// (`try_send` through a shared reference).
#[derive(Clone, Copy)]
pub(crate) struct NetView<'a> {
    udp_fd: Option<std::os::fd::RawFd>,
    udp_dual_stack: bool,
    tcp: &'a HashMap<SocketAddr, TcpConn>,
}

impl NetView<'_> {
    /// Queues a UDP datagram in `batch` (sent by [`UdpBatch::flush`]) or frames a TCP one onto
    /// its connection's queue.
    fn route(&self, proto: Protocol, destination: SocketAddr, contents: Vec<u8>, batch: &mut UdpBatch) {
        match proto {
            Protocol::Udp => {
                let Some(fd) = self.udp_fd else { return };
                let dest = if self.udp_dual_stack { v6_mapped(destination) } else { destination };
                if batch.push(socket2::SockAddr::from(dest), contents) {
                    batch.flush(fd);
                }
            }
            _ => {
                let Some(conn) = self.tcp.get(&destination) else { return };
                if let Some(frame) = rfc4571_frame(&contents) {
                    if conn.tx.try_send(frame).is_err() {
                        batch.counts.drops += 1;
                    }
                }
            }
        }
    }
}

impl Net {
    pub(crate) fn new(udp: Option<std::net::UdpSocket>) -> io::Result<Net> {
        let (udp, udp_dual_stack) = match udp {
            Some(s) => {
                let dual = s.local_addr()?.is_ipv6();
                (Some(tokio::net::UdpSocket::from_std(s)?), dual)
            }
            None => (None, false),
        };
        Ok(Net { udp, udp_dual_stack, tcp: HashMap::new(), batch: UdpBatch::with_capacity() })
    }

    pub(crate) fn view(&self) -> NetView<'_> {
        use std::os::fd::AsRawFd;
        NetView { udp_fd: self.udp.as_ref().map(|u| u.as_raw_fd()), udp_dual_stack: self.udp_dual_stack, tcp: &self.tcp }
    }

    /// Queues a datagram. UDP datagrams are sent in batches by [`Net::flush`]; the engine
    /// flushes at the end of every loop turn, so nothing waits longer than one turn.
    pub(crate) fn send(&mut self, t: Transmit) {
        self.route(t.proto, t.destination, t.contents.into());
    }

    fn route(&mut self, proto: Protocol, destination: SocketAddr, contents: Vec<u8>) {
        use std::os::fd::AsRawFd;
        // Not `self.view()`: the batch is borrowed mutably beside the socket and the connections.
        let view = NetView { udp_fd: self.udp.as_ref().map(|u| u.as_raw_fd()), udp_dual_stack: self.udp_dual_stack, tcp: &self.tcp };
        view.route(proto, destination, contents, &mut self.batch);
    }

    pub(crate) fn flush(&mut self) {
        use std::os::fd::AsRawFd;
        match &self.udp {
            Some(udp) => self.batch.flush(udp.as_raw_fd()),
            None => self.batch.clear(),
        }
    }
}

impl Transmitter for Net {
    fn transmit(&mut self, t: Transmit) {
        self.send(t);
    }
    fn datagram(&mut self, proto: Protocol, dest: SocketAddr, data: Vec<u8>) {
        self.batch.counts.direct += 1;
        self.route(proto, dest, data);
    }
}

/// An egress worker's sending side: its own `sendmmsg` batch on the engine's sockets.
pub(crate) struct WorkerNet<'a> {
    view: NetView<'a>,
    pub(crate) batch: UdpBatch,
}

impl<'a> WorkerNet<'a> {
    pub(crate) fn new(view: NetView<'a>) -> Self {
        WorkerNet { view, batch: UdpBatch::with_capacity() }
    }

    pub(crate) fn flush(&mut self) {
        match self.view.udp_fd {
            Some(fd) => self.batch.flush(fd),
            None => self.batch.clear(),
        }
    }
}

impl Transmitter for WorkerNet<'_> {
    fn transmit(&mut self, t: Transmit) {
        self.view.route(t.proto, t.destination, t.contents.into(), &mut self.batch);
    }
    fn datagram(&mut self, proto: Protocol, dest: SocketAddr, data: Vec<u8>) {
        self.batch.counts.direct += 1;
        self.view.route(proto, dest, data, &mut self.batch);
    }
}

fn v6_mapped(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port()),
        v6 => v6,
    }
}

/// An address as the tables key it: IPv4-mapped IPv6 addresses of the dual-stack socket as IPv4.
pub(crate) fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// Datagrams read per readiness event before other work (timers, commands) gets a turn.
pub(crate) const RECV_BATCH: usize = 256;

/// Bytes of a receive buffer: a datagram longer than this is cut (WebRTC peers keep theirs
/// under the path MTU).
const MAX_DATAGRAM: usize = 2048;

/// One loop turn's received UDP datagrams: `RECV_BATCH` buffers of `MAX_DATAGRAM` bytes in one
/// allocation, reused every turn.
pub(crate) struct ReceivedBatch {
    buf: Vec<u8>,
    /// Source and length of each datagram received, in order.
    meta: Vec<(SocketAddr, usize)>,
}

impl ReceivedBatch {
    pub(crate) fn new() -> Self {
        Self { buf: vec![0; RECV_BATCH * MAX_DATAGRAM], meta: Vec::with_capacity(RECV_BATCH) }
    }
    pub(crate) fn clear(&mut self) {
        self.meta.clear();
    }
    pub(crate) fn len(&self) -> usize {
        self.meta.len()
    }
    /// The buffer for the next datagram, `None` when the batch is full.
    pub(crate) fn next_buffer(&mut self) -> Option<&mut [u8]> {
        let at = self.meta.len() * MAX_DATAGRAM;
        self.buf.get_mut(at..at + MAX_DATAGRAM)
    }
    pub(crate) fn push(&mut self, src: SocketAddr, len: usize) {
        self.meta.push((src, len.min(MAX_DATAGRAM)));
    }
    /// Datagram `i`: its source and bytes.
    pub(crate) fn get(&self, i: usize) -> (SocketAddr, &[u8]) {
        let (src, len) = self.meta[i];
        let at = i * MAX_DATAGRAM;
        (src, &self.buf[at..at + len])
    }
}
