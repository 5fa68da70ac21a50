//! The tokio shell around [`Server`]: UDP and TCP listeners, relay sockets, a 1 s timer.
//!
//! All protocol state lives in the core behind one mutex; a task only moves bytes. Each relay
//! socket has a small task that reads with `try_recv_from` into a per-thread 64 KiB buffer (no
//! per-allocation buffer), feeds the core and sends what it returns. Sends never wait: UDP uses
//! `try_send_to` (a full socket buffer drops the datagram, as the network would), a TCP client
//! has a bounded queue (full: the frame is dropped) drained by its writer task.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::framing::frame_len;
use crate::server::{Family, FiveTuple, Output, RelayOpened, RelayRequest, Server, ServerConfig, Stats, Transport};

/// Frames queued towards one TCP client before further frames are dropped.
const TCP_QUEUE: usize = 1024;
/// A TCP client without an allocation is closed after this long without a message.
const TCP_IDLE: Duration = Duration::from_secs(30);
/// Packets handled per readiness event before the task yields to others.
const BUDGET: usize = 256;
/// Socket buffer sizes asked for (listener, relays).
const LISTENER_BUFFER: usize = 4 << 20;
const RELAY_BUFFER: usize = 1 << 20;
/// Random ports tried for one relay before 508.
const PORT_TRIES: usize = 64;

/// Everything [`start`] needs.
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// Address the STUN/TURN listeners bind to (`[rtc] ip`). With `0.0.0.0`, `[::]` is also
    /// bound (IPv6 only) when possible.
    pub listen_ip: IpAddr,
    /// UDP port (`[rtc] icePort`); 0: no UDP listener.
    pub udp_port: u16,
    /// TCP port (`[rtc] iceTcpPort`); 0: no TCP listener.
    pub tcp_port: u16,
    /// Relay port range, inclusive (`[rtc] port_range`).
    pub relay_ports: (u16, u16),
    /// Addresses advertised as relayed addresses (`[rtc] externIP`): the first IPv4 one for IPv4
    /// relays, the first IPv6 one for IPv6 relays. Without an IPv4 one: `listen_ip` if it is a
    /// specific address, else the first non-loopback interface address, else 127.0.0.1. IPv6
    /// relays exist only when an IPv6 address is known this way.
    pub external_ips: Vec<IpAddr>,
    /// Most TCP clients at once.
    pub max_tcp_connections: usize,
    /// The protocol core's settings (`own_ips` and `listener_ports` are completed by `start`).
    pub server: ServerConfig,
}

impl Default for TurnConfig {
    fn default() -> Self {
        TurnConfig {
            listen_ip: Ipv4Addr::UNSPECIFIED.into(),
            udp_port: 3478,
            tcp_port: 3478,
            relay_ports: (49152, 65535),
            external_ips: Vec::new(),
            max_tcp_connections: 10_000,
            server: ServerConfig::default(),
        }
    }
}

/// Counters of the shell (sends that could not be made).
#[derive(Debug, Default)]
struct ShellStats {
    udp_send_dropped: AtomicU64,
    tcp_queue_dropped: AtomicU64,
}

struct Relay {
    socket: Arc<UdpSocket>,
    /// `None` for a reserved (EVEN-PORT R) socket nobody reads yet.
    task: Option<JoinHandle<()>>,
}

struct State {
    core: Server,
    relays: HashMap<SocketAddr, Relay>,
    tcp: HashMap<FiveTuple, mpsc::Sender<Vec<u8>>>,
}

struct RelayPlan {
    bind_v4: IpAddr,
    bind_v6: IpAddr,
    public_v4: Option<IpAddr>,
    public_v6: Option<IpAddr>,
    ports: (u16, u16),
}

struct Shared {
    state: Mutex<State>,
    udp: HashMap<SocketAddr, Arc<UdpSocket>>,
    plan: RelayPlan,
    stats: ShellStats,
    shutdown: watch::Receiver<bool>,
}

/// The running server. Dropping it stops every task and closes every socket.
pub struct TurnHandle {
    shared: Arc<Shared>,
    udp_addrs: Vec<SocketAddr>,
    tcp_addrs: Vec<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

/// A snapshot of the server's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnStats {
    pub core: Stats,
    pub udp_send_dropped: u64,
    pub tcp_queue_dropped: u64,
    pub tcp_connections: usize,
    pub relay_sockets: usize,
}

/// Reads a server's counters; see [`TurnHandle::stats_source`].
#[derive(Clone)]
pub struct TurnStatsSource {
    shared: Arc<Shared>,
}

impl TurnStatsSource {
    pub fn stats(&self) -> TurnStats {
        stats_of(&self.shared)
    }
}

fn stats_of(shared: &Shared) -> TurnStats {
    let st = shared.state.lock();
    TurnStats {
        core: st.core.stats(),
        udp_send_dropped: shared.stats.udp_send_dropped.load(Ordering::Relaxed),
        tcp_queue_dropped: shared.stats.tcp_queue_dropped.load(Ordering::Relaxed),
        tcp_connections: st.tcp.len(),
        relay_sockets: st.relays.len(),
    }
}

impl TurnHandle {
    /// The bound UDP listener addresses (first: `listen_ip`).
    pub fn udp_addrs(&self) -> &[SocketAddr] {
        &self.udp_addrs
    }

    /// The bound TCP listener addresses.
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp_addrs
    }

    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addrs.first().copied()
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addrs.first().copied()
    }

    pub fn stats(&self) -> TurnStats {
        stats_of(&self.shared)
    }

    /// A cloneable reader of these counters (for `/metrics`). It does not keep the server
    /// running: dropping this handle still stops it.
    pub fn stats_source(&self) -> TurnStatsSource {
        TurnStatsSource { shared: self.shared.clone() }
    }

    /// Stops the server (the same as dropping the handle).
    pub fn shutdown(self) {}
}

impl Drop for TurnHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
        let mut st = self.shared.state.lock();
        for (_, r) in st.relays.drain() {
            if let Some(t) = r.task {
                t.abort();
            }
        }
        st.tcp.clear();
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A non-blocking UDP socket with (best effort: the kernel caps them at net.core.{r,w}mem_max)
/// `buffer`-byte receive and send buffers, so that a burst survives a short scheduling delay.
fn udp_socket(addr: SocketAddr, buffer: usize) -> io::Result<std::net::UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    let _ = s.set_recv_buffer_size(buffer);
    let _ = s.set_send_buffer_size(buffer);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

fn relay_plan(cfg: &TurnConfig, interfaces: &[IpAddr]) -> RelayPlan {
    let specific = |ip: IpAddr| !ip.is_unspecified();
    let public_v4 = cfg
        .external_ips
        .iter()
        .copied()
        .find(IpAddr::is_ipv4)
        .or_else(|| Some(cfg.listen_ip).filter(|ip| ip.is_ipv4() && specific(*ip)))
        .or_else(|| interfaces.iter().copied().find(|ip| ip.is_ipv4() && !ip.is_loopback()))
        .or(Some(Ipv4Addr::LOCALHOST.into()));
    let public_v6 = cfg
        .external_ips
        .iter()
        .copied()
        .find(IpAddr::is_ipv6)
        .or_else(|| Some(cfg.listen_ip).filter(|ip| ip.is_ipv6() && specific(*ip)));
    let bind_v4 = match cfg.listen_ip {
        IpAddr::V4(ip) if !ip.is_unspecified() => ip.into(),
        _ => Ipv4Addr::UNSPECIFIED.into(),
    };
    let bind_v6 = match cfg.listen_ip {
        IpAddr::V6(ip) if !ip.is_unspecified() => ip.into(),
        _ => Ipv6Addr::UNSPECIFIED.into(),
    };
    RelayPlan { bind_v4, bind_v6, public_v4, public_v6, ports: cfg.relay_ports }
}

/// A bound socket and the address it is advertised as.
type BoundSocket = (std::net::UdpSocket, SocketAddr);

/// Binds a relay socket (and its reserved neighbour) for `req`.
fn bind_relay(plan: &RelayPlan, req: &RelayRequest) -> Result<(BoundSocket, Option<BoundSocket>), String> {
    let (bind_ip, public) = match req.family {
        Family::V4 => (plan.bind_v4, plan.public_v4),
        Family::V6 => (plan.bind_v6, plan.public_v6),
    };
    let public = public.ok_or("no relay address of this family")?;
    let (lo, hi) = plan.ports;
    if lo == 0 || lo > hi {
        return Err(format!("invalid relay port range {lo}-{hi}"));
    }
    let mut last_err = String::from("no free port");
    for _ in 0..PORT_TRIES {
        let mut port = rand::random_range(lo..=hi);
        if req.even_port && port % 2 == 1 {
            port = if port > lo { port - 1 } else { port + 1 };
        }
        if req.even_port && (port % 2 == 1 || port < lo || port > hi) {
            continue;
        }
        if req.reserve_next && port >= hi {
            continue;
        }
        let main = match udp_socket(SocketAddr::new(bind_ip, port), RELAY_BUFFER) {
            Ok(s) => s,
            Err(e) => {
                last_err = e.to_string();
                continue;
            }
        };
        let reserved = if req.reserve_next {
            match udp_socket(SocketAddr::new(bind_ip, port + 1), RELAY_BUFFER) {
                Ok(s) => Some((s, SocketAddr::new(public, port + 1))),
                Err(e) => {
                    last_err = e.to_string();
                    continue;
                }
            }
        } else {
            None
        };
        return Ok(((main, SocketAddr::new(public, port)), reserved));
    }
    Err(last_err)
}

/// Starts the STUN/TURN server on the current tokio runtime: binds the UDP listener on
/// `udp_port` and the TCP listener on `tcp_port` (0 disables either), then serves until the
/// handle is dropped.
pub async fn start(mut cfg: TurnConfig) -> io::Result<TurnHandle> {
    let mut udp_addrs = Vec::new();
    let mut tcp_addrs = Vec::new();
    let mut udp = HashMap::new();
    let mut tcp_listeners = Vec::new();
    let mut listen_ips = vec![cfg.listen_ip];
    if cfg.listen_ip == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
        listen_ips.push(Ipv6Addr::UNSPECIFIED.into());
    }
    for (i, ip) in listen_ips.iter().enumerate() {
        let primary = i == 0;
        if cfg.udp_port != 0 {
            match udp_socket(SocketAddr::new(*ip, cfg.udp_port), LISTENER_BUFFER).and_then(UdpSocket::from_std) {
                Ok(s) => {
                    let addr = s.local_addr()?;
                    udp_addrs.push(addr);
                    udp.insert(addr, Arc::new(s));
                }
                Err(e) if primary => return Err(io::Error::new(e.kind(), format!("STUN/TURN UDP {ip}:{}: {e}", cfg.udp_port))),
                Err(e) => debug!(ip = %ip, port = cfg.udp_port, error = %e, "no IPv6 STUN/TURN UDP listener"),
            }
        }
        if cfg.tcp_port != 0 {
            match tcp_listener(SocketAddr::new(*ip, cfg.tcp_port)) {
                Ok(l) => {
                    tcp_addrs.push(l.local_addr()?);
                    tcp_listeners.push(l);
                }
                Err(e) if primary => return Err(io::Error::new(e.kind(), format!("STUN/TURN TCP {ip}:{}: {e}", cfg.tcp_port))),
                Err(e) => debug!(ip = %ip, port = cfg.tcp_port, error = %e, "no IPv6 STUN/TURN TCP listener"),
            }
        }
    }

    let interfaces: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|v| v.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    let plan = relay_plan(&cfg, &interfaces);
    let sc = &mut cfg.server;
    sc.relay_v4 = plan.public_v4.is_some();
    sc.relay_v6 = plan.public_v6.is_some();
    for ip in interfaces.iter().chain(cfg.external_ips.iter()).chain(listen_ips.iter()) {
        if !ip.is_unspecified() && !sc.own_ips.contains(ip) {
            sc.own_ips.push(*ip);
        }
    }
    for p in udp_addrs.iter().chain(tcp_addrs.iter()).map(SocketAddr::port) {
        if !sc.listener_ports.contains(&p) {
            sc.listener_ports.push(p);
        }
    }
    info!(udp = ?udp_addrs, tcp = ?tcp_addrs, turn = sc.enable_turn, realm = %sc.realm,
          relay_v4 = ?plan.public_v4, relay_v6 = ?plan.public_v6, ports = ?plan.ports,
          allow_peers = sc.allow_peers.len(), deny_peers = sc.deny_peers.len(),
          "STUN/TURN server listening");

    let (stop, shutdown) = watch::channel(false);
    let core = Server::new(cfg.server.clone(), Instant::now(), unix_now());
    let shared = Arc::new(Shared {
        state: Mutex::new(State { core, relays: HashMap::new(), tcp: HashMap::new() }),
        udp,
        plan,
        stats: ShellStats::default(),
        shutdown,
    });
    let mut tasks = Vec::new();
    for (addr, sock) in &shared.udp {
        tasks.push(tokio::spawn(udp_listener_task(shared.clone(), sock.clone(), *addr)));
    }
    for l in tcp_listeners {
        tasks.push(tokio::spawn(tcp_accept_task(shared.clone(), l, cfg.max_tcp_connections)));
    }
    tasks.push(tokio::spawn(timer_task(shared.clone())));
    Ok(TurnHandle { shared, udp_addrs, tcp_addrs, tasks, stop })
}

// ---- moving bytes ----

enum Job {
    Udp(Arc<UdpSocket>, SocketAddr, Vec<u8>),
    Tcp(mpsc::Sender<Vec<u8>>, Vec<u8>),
    Open(RelayRequest),
}

/// Turns the core's outputs into jobs (socket lookups under the lock).
fn resolve(st: &mut State, shared: &Shared, outs: &mut Vec<Output>, jobs: &mut Vec<Job>) {
    for o in outs.drain(..) {
        match o {
            Output::ToClient { tuple, data } => match tuple.transport {
                Transport::Udp => {
                    if let Some(s) = shared.udp.get(&tuple.server) {
                        jobs.push(Job::Udp(s.clone(), tuple.client, data));
                    }
                }
                Transport::Tcp => {
                    if let Some(tx) = st.tcp.get(&tuple) {
                        jobs.push(Job::Tcp(tx.clone(), data));
                    }
                }
            },
            Output::ToPeer { relay, peer, data } => {
                if let Some(r) = st.relays.get(&relay) {
                    jobs.push(Job::Udp(r.socket.clone(), peer, data));
                }
            }
            Output::OpenRelay(req) => jobs.push(Job::Open(req)),
            Output::CloseRelay { relay } => {
                if let Some(r) = st.relays.remove(&relay) {
                    if let Some(t) = r.task {
                        t.abort();
                    }
                }
            }
        }
    }
}

fn run_jobs(shared: &Arc<Shared>, jobs: Vec<Job>) {
    for job in jobs {
        match job {
            Job::Udp(sock, to, data) => {
                if let Err(e) = sock.try_send_to(&data, to) {
                    if e.kind() == io::ErrorKind::WouldBlock {
                        shared.stats.udp_send_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Job::Tcp(tx, data) => {
                if tx.try_send(data).is_err() {
                    shared.stats.tcp_queue_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Job::Open(req) => open_relay(shared, req),
        }
    }
}

fn open_relay(shared: &Arc<Shared>, req: RelayRequest) {
    let mut outs = Vec::new();
    let mut jobs = Vec::new();
    let now = Instant::now();
    if let Some(addr) = req.reserved {
        let mut st = shared.state.lock();
        let st = &mut *st;
        let result = match st.relays.get_mut(&addr) {
            Some(r) if r.task.is_none() => {
                r.task = Some(tokio::spawn(relay_task(shared.clone(), r.socket.clone(), addr)));
                Ok(RelayOpened { relay: addr, reserved: None })
            }
            _ => Err("the reserved port is gone".to_owned()),
        };
        st.core.relay_opened(now, req.id, result, &mut outs);
        resolve(st, shared, &mut outs, &mut jobs);
    } else {
        let bound = bind_relay(&shared.plan, &req).and_then(|((main, addr), reserved)| {
            let main = UdpSocket::from_std(main).map_err(|e| e.to_string())?;
            let reserved = match reserved {
                Some((s, a)) => Some((UdpSocket::from_std(s).map_err(|e| e.to_string())?, a)),
                None => None,
            };
            Ok((main, addr, reserved))
        });
        let mut st = shared.state.lock();
        let st = &mut *st;
        let result = match bound {
            Ok((main, addr, reserved)) => {
                let main = Arc::new(main);
                let task = tokio::spawn(relay_task(shared.clone(), main.clone(), addr));
                st.relays.insert(addr, Relay { socket: main, task: Some(task) });
                let reserved_addr = reserved.map(|(s, a)| {
                    st.relays.insert(a, Relay { socket: Arc::new(s), task: None });
                    a
                });
                Ok(RelayOpened { relay: addr, reserved: reserved_addr })
            }
            Err(e) => Err(e),
        };
        st.core.relay_opened(now, req.id, result, &mut outs);
        resolve(st, shared, &mut outs, &mut jobs);
    }
    // relay_opened never asks to open another relay, so this does not recurse further.
    run_jobs(shared, jobs);
}

fn on_client(shared: &Arc<Shared>, tuple: FiveTuple, data: &[u8]) {
    let mut outs = Vec::new();
    let mut jobs = Vec::new();
    {
        let mut st = shared.state.lock();
        let st = &mut *st;
        st.core.handle_client(Instant::now(), tuple, data, &mut outs);
        resolve(st, shared, &mut outs, &mut jobs);
    }
    run_jobs(shared, jobs);
}

fn on_relay(shared: &Arc<Shared>, relay: SocketAddr, peer: SocketAddr, data: &[u8]) {
    let mut outs = Vec::new();
    let mut jobs = Vec::new();
    {
        let mut st = shared.state.lock();
        let st = &mut *st;
        st.core.handle_relay(Instant::now(), relay, peer, data, &mut outs);
        resolve(st, shared, &mut outs, &mut jobs);
    }
    run_jobs(shared, jobs);
}

thread_local! {
    static RECV_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 65536]);
}

/// Reads every datagram `sock` has ready (at most [`BUDGET`]) and hands each to `f`.
/// Returns false after an unexpected error (the caller backs off briefly).
fn drain_socket(sock: &UdpSocket, mut f: impl FnMut(SocketAddr, &[u8])) -> bool {
    RECV_BUF.with(|b| {
        let mut b = b.borrow_mut();
        for _ in 0..BUDGET {
            match sock.try_recv_from(&mut b[..]) {
                Ok((n, from)) => f(from, &b[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                // ICMP errors reported on the socket (port unreachable, ...): keep reading.
                Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted) => {}
                Err(e) => {
                    debug!(error = %e, "UDP receive failed");
                    return false;
                }
            }
        }
        true
    })
}

async fn udp_listener_task(shared: Arc<Shared>, sock: Arc<UdpSocket>, local: SocketAddr) {
    let mut stop = shared.shutdown.clone();
    loop {
        tokio::select! {
            r = sock.readable() => {
                if let Err(e) = r {
                    warn!(error = %e, addr = %local, "STUN/TURN UDP listener failed");
                    return;
                }
            }
            _ = stop.changed() => return,
        }
        let ok = drain_socket(&sock, |from, data| {
            let tuple = FiveTuple { transport: Transport::Udp, client: from, server: local };
            on_client(&shared, tuple, data);
        });
        if !ok {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::task::yield_now().await;
    }
}

async fn relay_task(shared: Arc<Shared>, sock: Arc<UdpSocket>, relay: SocketAddr) {
    loop {
        if sock.readable().await.is_err() {
            return;
        }
        let ok = drain_socket(&sock, |from, data| on_relay(&shared, relay, from, data));
        if !ok {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::task::yield_now().await;
    }
}

async fn timer_task(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut outs = Vec::new();
        let mut jobs = Vec::new();
        {
            let mut st = shared.state.lock();
            let st = &mut *st;
            st.core.handle_timeout(Instant::now(), &mut outs);
            resolve(st, &shared, &mut outs, &mut jobs);
        }
        run_jobs(&shared, jobs);
    }
}

async fn tcp_accept_task(shared: Arc<Shared>, listener: TcpListener, max_conns: usize) {
    let mut stop = shared.shutdown.clone();
    let server = match listener.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, client)) => {
                let conns = shared.state.lock().tcp.len();
                if conns >= max_conns {
                    warn!(client = %client, conns, "STUN/TURN TCP connection refused: too many connections");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().unwrap_or(server);
                tokio::spawn(tcp_conn_task(shared.clone(), stream, client, local));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                debug!(error = %e, "STUN/TURN TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn tcp_conn_task(shared: Arc<Shared>, stream: TcpStream, client: SocketAddr, server: SocketAddr) {
    let tuple = FiveTuple { transport: Transport::Tcp, client, server };
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_QUEUE);
    shared.state.lock().tcp.insert(tuple, tx);
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(65536);
        while let Some(first) = rx.recv().await {
            batch.clear();
            batch.extend_from_slice(&first);
            while batch.len() < 65536 {
                match rx.try_recv() {
                    Ok(more) => batch.extend_from_slice(&more),
                    Err(_) => break,
                }
            }
            if wr.write_all(&batch).await.is_err() {
                break;
            }
        }
    });
    let mut stop = shared.shutdown.clone();
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16384];
    let mut seen_stun = false;
    'conn: loop {
        let read = tokio::select! {
            r = tokio::time::timeout(TCP_IDLE, rd.read(&mut chunk)) => r,
            _ = stop.changed() => break,
        };
        let n = match read {
            Err(_) => {
                if shared.state.lock().core.has_allocation(&tuple) {
                    continue;
                }
                debug!(client = %client, "STUN/TURN TCP client idle without an allocation: closed");
                break;
            }
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if !seen_stun {
            // A client must Allocate before it can send ChannelData: a stream that does not
            // start with STUN is something else (HTTP, TLS, a scanner).
            if buf.first().is_some_and(|b| b & 0xc0 != 0) {
                debug!(client = %client, "STUN/TURN TCP stream does not start with STUN: closed");
                break;
            }
            seen_stun = true;
        }
        let mut at = 0;
        loop {
            match frame_len(&buf[at..]) {
                Ok(Some(len)) => {
                    on_client(&shared, tuple, &buf[at..at + len]);
                    at += len;
                }
                Ok(None) => break,
                Err(_) => {
                    debug!(client = %client, "STUN/TURN TCP stream is not STUN/ChannelData: closed");
                    break 'conn;
                }
            }
        }
        buf.drain(..at);
    }
    writer.abort();
    let mut outs = Vec::new();
    let mut jobs = Vec::new();
    {
        let mut st = shared.state.lock();
        let st = &mut *st;
        st.tcp.remove(&tuple);
        st.core.client_closed(Instant::now(), tuple, &mut outs);
        resolve(st, &shared, &mut outs, &mut jobs);
    }
    run_jobs(&shared, jobs);
}
