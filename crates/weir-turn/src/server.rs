//! The sans-IO STUN/TURN server: a state machine fed with `(now, transport, source, bytes)` that
//! returns datagrams to send and relay socket commands. It owns no socket and no clock.
//!
//! Inputs: [`Server::handle_client`] (bytes from a client on the STUN/TURN port, one STUN message
//! or ChannelData message at a time), [`Server::handle_relay`] (a datagram a relay socket received
//! from a peer), [`Server::relay_opened`] (the answer to an [`Output::OpenRelay`] command),
//! [`Server::client_closed`] (a TCP client went away) and [`Server::handle_timeout`] (expiry of
//! allocations, permissions, channels and reservations; call it at least once a second).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::auth::{AuthError, Credentials, NonceCheck, Nonces};
use crate::filter::{IpRange, PeerFilter};
use crate::framing::{channel_data, parse_channel_data, is_channel_data};
use crate::stun::{self, attr, method, reason_phrase, Class, Message, MessageBuilder};

// Allocate and Refresh (RFC 8656 sections 7-8).
mod allocate;
// Permissions, channels and the data they let through (RFC 8656 sections 9-12).
mod relay;

/// How a client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The client side of an allocation: transport, client address, server (listener) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FiveTuple {
    pub transport: Transport,
    pub client: SocketAddr,
    pub server: SocketAddr,
}

/// Address family of a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.ip().to_canonical().is_ipv4() { Family::V4 } else { Family::V6 }
    }
}

/// A relay socket the shell must open for a pending Allocate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRequest {
    /// Echoed in [`Server::relay_opened`].
    pub id: u64,
    pub family: Family,
    /// EVEN-PORT: the port must be even.
    pub even_port: bool,
    /// EVEN-PORT with the R bit: also bind port + 1 and keep it reserved (not read from).
    pub reserve_next: bool,
    /// RESERVATION-TOKEN: use this socket the shell reserved earlier instead of binding a new
    /// one.
    pub reserved: Option<SocketAddr>,
}

/// The result of a [`RelayRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayOpened {
    /// The relayed transport address, as advertised to clients and seen by peers.
    pub relay: SocketAddr,
    /// With `reserve_next`: the reserved address (port + 1).
    pub reserved: Option<SocketAddr>,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send to a client over its transport (one whole STUN or ChannelData message).
    ToClient { tuple: FiveTuple, data: Vec<u8> },
    /// Send from the relay socket `relay` to `peer`.
    ToPeer { relay: SocketAddr, peer: SocketAddr, data: Vec<u8> },
    /// Open a relay socket, then call [`Server::relay_opened`].
    OpenRelay(RelayRequest),
    /// Close the relay (or reserved) socket with this address.
    CloseRelay { relay: SocketAddr },
}

/// Configuration of the core (no sockets).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Answer TURN methods; when false only Binding is served (others get 400).
    pub enable_turn: bool,
    pub realm: String,
    /// Static user `(username, password)`.
    pub static_user: Option<(String, String)>,
    /// Shared secret of time-limited (TURN REST API) credentials; `None`/empty disables them.
    pub rest_secret: Option<String>,
    /// Peers always allowed / always refused.
    pub allow_peers: Vec<IpRange>,
    pub deny_peers: Vec<IpRange>,
    /// The server's own addresses and listener ports (refused as peers, see [`PeerFilter`]).
    pub own_ips: Vec<IpAddr>,
    pub listener_ports: Vec<u16>,
    /// Relay families the shell can open.
    pub relay_v4: bool,
    pub relay_v6: bool,
    /// 486 beyond this many allocations of one user (0: unlimited).
    pub max_allocations_per_user: usize,
    /// 486 beyond this many allocations from one client IP (0: unlimited).
    pub max_allocations_per_ip: usize,
    /// 508 beyond this many allocations in total.
    pub max_allocations: usize,
    /// Relayed bytes per second per allocation and direction (0: unlimited); beyond it packets
    /// are dropped. Bursts of one second's worth pass.
    pub max_bytes_per_sec: u64,
    pub default_lifetime: Duration,
    pub max_lifetime: Duration,
    pub nonce_lifetime: Duration,
    pub permission_lifetime: Duration,
    pub channel_lifetime: Duration,
    /// How long a port reserved by EVEN-PORT R stays reserved.
    pub reservation_lifetime: Duration,
    /// Permissions (peer IPs) per allocation.
    pub max_permissions: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            enable_turn: true,
            realm: "weir".into(),
            static_user: None,
            rest_secret: None,
            allow_peers: Vec::new(),
            deny_peers: Vec::new(),
            own_ips: Vec::new(),
            listener_ports: Vec::new(),
            relay_v4: true,
            relay_v6: false,
            max_allocations_per_user: 10,
            max_allocations_per_ip: 20,
            max_allocations: 10_000,
            max_bytes_per_sec: 500_000,
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            nonce_lifetime: Duration::from_secs(600),
            permission_lifetime: Duration::from_secs(300),
            channel_lifetime: Duration::from_secs(600),
            reservation_lifetime: Duration::from_secs(30),
            max_permissions: 64,
        }
    }
}

/// Counters of one server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub allocations: usize,
    pub allocations_total: u64,
    pub to_peer_packets: u64,
    pub to_peer_bytes: u64,
    pub to_client_packets: u64,
    pub to_client_bytes: u64,
    /// Relayed packets dropped by the bandwidth cap.
    pub dropped_bandwidth: u64,
    /// Data from or to a peer without permission, or to a refused peer.
    pub dropped_no_permission: u64,
    /// Packets that are neither STUN nor ChannelData of an allocation.
    pub dropped_invalid: u64,
    /// Error responses sent for refusals (401 with bad credentials, 403, 437, 438, 441, 486, 508).
    pub refusals: u64,
}

/// A token bucket in bytes.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: u64,
    last: Instant,
}

impl Bucket {
    fn new(now: Instant, rate: u64) -> Bucket {
        Bucket { tokens: rate, last: now }
    }

    fn take(&mut self, now: Instant, n: usize, rate: u64) -> bool {
        if rate == 0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last);
        let add = (u128::from(rate) * elapsed.as_nanos() / 1_000_000_000).min(u128::from(rate)) as u64;
        if add > 0 {
            self.tokens = (self.tokens + add).min(rate);
            self.last = now;
        }
        let n = n as u64;
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Channel {
    peer: SocketAddr,
    expires: Instant,
}

#[derive(Debug)]
struct Allocation {
    tuple: FiveTuple,
    relay: SocketAddr,
    username: String,
    quota_user: String,
    expires: Instant,
    /// Peer IP (canonical) -> expiry.
    permissions: HashMap<IpAddr, Instant>,
    channels: HashMap<u16, Channel>,
    peer_channels: HashMap<SocketAddr, u16>,
    /// The Allocate transaction and its success response (answered again on a retransmission).
    allocate_tid: [u8; 12],
    allocate_response: Vec<u8>,
    to_peer_bucket: Bucket,
    to_client_bucket: Bucket,
    dropped_bandwidth: u64,
}

impl Allocation {
    fn permitted(&self, ip: IpAddr, now: Instant) -> bool {
        self.permissions.get(&ip.to_canonical()).is_some_and(|e| *e > now)
    }
}

#[derive(Debug)]
struct Pending {
    tuple: FiveTuple,
    tid: [u8; 12],
    username: String,
    quota_user: String,
    key: [u8; 16],
    lifetime: Duration,
}

#[derive(Debug)]
struct Reservation {
    relay: SocketAddr,
    expires: Instant,
}

/// Limits how many refusal log lines are written per second (a flood of bad requests must not
/// flood the log); the number skipped is reported with the next line.
#[derive(Debug)]
struct LogLimiter {
    window: Instant,
    count: u32,
    suppressed: u64,
}

impl LogLimiter {
    const PER_SEC: u32 = 20;

    fn allow(&mut self, now: Instant) -> Option<u64> {
        if now.saturating_duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.count = 0;
        }
        if self.count < Self::PER_SEC {
            self.count += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

/// An authenticated request.
struct Authed {
    username: String,
    quota_user: String,
    key: [u8; 16],
}

/// The largest payload relayed to a client (a Data indication around it fits in 65535 bytes).
const MAX_RELAYED: usize = 0xffff - 64;

/// Attributes understood in TURN requests (others below 0x8000 get 420).
const TURN_KNOWN: &[u16] = &[
    attr::USERNAME,
    attr::MESSAGE_INTEGRITY,
    attr::MESSAGE_INTEGRITY_SHA256,
    attr::REALM,
    attr::NONCE,
    attr::LIFETIME,
    attr::REQUESTED_TRANSPORT,
    attr::REQUESTED_ADDRESS_FAMILY,
    attr::EVEN_PORT,
    attr::RESERVATION_TOKEN,
    attr::XOR_PEER_ADDRESS,
    attr::CHANNEL_NUMBER,
    attr::DATA,
];

/// The sans-IO STUN/TURN server.
pub struct Server {
    cfg: ServerConfig,
    creds: Credentials,
    nonces: Nonces,
    filter: PeerFilter,
    epoch: Instant,
    unix_at_epoch: u64,
    next_id: u64,
    tid_seq: u64,
    tid_base: [u8; 12],
    allocs: HashMap<u64, Allocation>,
    by_tuple: HashMap<FiveTuple, u64>,
    by_relay: HashMap<SocketAddr, u64>,
    pending: HashMap<u64, Pending>,
    pending_by_tuple: HashMap<FiveTuple, u64>,
    reservations: HashMap<[u8; 8], Reservation>,
    per_user: HashMap<String, usize>,
    per_ip: HashMap<IpAddr, usize>,
    stats: Stats,
    log: LogLimiter,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("stats", &self.stats).finish_non_exhaustive()
    }
}

fn lifetime_attr(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

impl Server {
    /// A server started at `now`, when the wall clock read `unix_now` seconds since 1970 (used
    /// for the expiry of time-limited credentials).
    pub fn new(cfg: ServerConfig, now: Instant, unix_now: u64) -> Server {
        let creds = Credentials {
            realm: cfg.realm.clone(),
            static_user: cfg.static_user.clone(),
            rest_secret: cfg.rest_secret.clone(),
        };
        let filter = PeerFilter {
            allow: cfg.allow_peers.clone(),
            deny: cfg.deny_peers.clone(),
            own_ips: cfg.own_ips.clone(),
            listener_ports: cfg.listener_ports.clone(),
        };
        Server {
            nonces: Nonces::new(rand::random(), cfg.nonce_lifetime, now),
            creds,
            filter,
            epoch: now,
            unix_at_epoch: unix_now,
            next_id: 1,
            tid_seq: 0,
            tid_base: rand::random(),
            allocs: HashMap::new(),
            by_tuple: HashMap::new(),
            by_relay: HashMap::new(),
            pending: HashMap::new(),
            pending_by_tuple: HashMap::new(),
            reservations: HashMap::new(),
            per_user: HashMap::new(),
            per_ip: HashMap::new(),
            stats: Stats::default(),
            log: LogLimiter { window: now, count: 0, suppressed: 0 },
            cfg,
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.cfg
    }

    pub fn stats(&self) -> Stats {
        Stats { allocations: self.allocs.len(), ..self.stats }
    }

    /// Whether `tuple` has an allocation (or one being created).
    pub fn has_allocation(&self, tuple: &FiveTuple) -> bool {
        self.by_tuple.contains_key(tuple) || self.pending_by_tuple.contains_key(tuple)
    }

    /// The relay address of `tuple`'s allocation.
    pub fn relay_of(&self, tuple: &FiveTuple) -> Option<SocketAddr> {
        self.by_tuple.get(tuple).and_then(|id| self.allocs.get(id)).map(|a| a.relay)
    }

    fn unix_now(&self, now: Instant) -> u64 {
        self.unix_at_epoch + now.saturating_duration_since(self.epoch).as_secs()
    }

    fn next_tid(&mut self) -> [u8; 12] {
        self.tid_seq = self.tid_seq.wrapping_add(1);
        let mut t = self.tid_base;
        for (i, b) in self.tid_seq.to_be_bytes().iter().enumerate() {
            t[4 + i] ^= b;
        }
        t
    }

    /// Logs a refusal (rate limited) and counts it.
    fn refuse_log(&mut self, now: Instant, code: u16, reason: &str, client: SocketAddr, username: &str) {
        self.stats.refusals += 1;
        if let Some(skipped) = self.log.allow(now) {
            warn!(code, reason, client = %client, username, skipped_log_lines = skipped, "TURN request refused");
        }
    }

    fn drop_log(&mut self, now: Instant, reason: &str, client: SocketAddr, username: &str, peer: SocketAddr) {
        if let Some(skipped) = self.log.allow(now) {
            warn!(reason, client = %client, username, peer = %peer, skipped_log_lines = skipped, "TURN data to a refused peer dropped");
        }
    }

    // ---- inputs ----

    /// One STUN or ChannelData message from a client (a whole UDP datagram, or one frame of a
    /// TCP stream as cut by [`crate::framing::frame_len`]).
    pub fn handle_client(&mut self, now: Instant, tuple: FiveTuple, data: &[u8], out: &mut Vec<Output>) {
        let Some(&first) = data.first() else { return };
        if is_channel_data(first) {
            self.client_channel_data(now, tuple, data, out);
            return;
        }
        let msg = match Message::parse(data) {
            Ok(m) => m,
            Err(e) => {
                self.stats.dropped_invalid += 1;
                debug!(client = %tuple.client, error = %e, "dropped a malformed message");
                return;
            }
        };
        match (msg.class, msg.method) {
            (Class::Request, method::BINDING) => {
                out.push(Output::ToClient { tuple, data: stun::binding_answer(&msg, tuple.client) });
            }
            (Class::Indication, method::SEND) if self.cfg.enable_turn => self.send_indication(now, tuple, &msg, out),
            (Class::Request, m @ (method::ALLOCATE | method::REFRESH | method::CREATE_PERMISSION | method::CHANNEL_BIND))
                if self.cfg.enable_turn =>
            {
                let resp = match self.authenticate(now, tuple, &msg) {
                    Ok(auth) => match m {
                        method::ALLOCATE => self.allocate(now, tuple, &msg, auth, out),
                        method::REFRESH => Some(self.refresh(now, tuple, &msg, auth, out)),
                        method::CREATE_PERMISSION => Some(self.create_permission(now, tuple, &msg, auth)),
                        _ => Some(self.channel_bind(now, tuple, &msg, auth)),
                    },
                    Err(resp) => Some(resp),
                };
                if let Some(data) = resp {
                    out.push(Output::ToClient { tuple, data });
                }
            }
            (Class::Request, _) => {
                // An unknown method, or TURN while it is disabled (RFC 8489 section 6.3.1).
                let data = self.error(&msg, 400, None, |b| b);
                out.push(Output::ToClient { tuple, data });
            }
            _ => {} // Indications we do not serve, stray responses: ignored.
        }
    }

    /// A datagram received by relay socket `relay` from `peer`.
    pub fn handle_relay(&mut self, now: Instant, relay: SocketAddr, peer: SocketAddr, data: &[u8], out: &mut Vec<Output>) {
        let Some(&id) = self.by_relay.get(&relay) else {
            self.stats.dropped_invalid += 1;
            return;
        };
        // A Data indication must stay within STUN's 16-bit length (UDP payloads are < 64 KiB
        // anyway; this only matters for the largest IPv6 datagrams).
        if data.len() > MAX_RELAYED {
            self.stats.dropped_invalid += 1;
            return;
        }
        let rate = self.cfg.max_bytes_per_sec;
        let Some(a) = self.allocs.get_mut(&id) else { return };
        if !a.permitted(peer.ip(), now) {
            self.stats.dropped_no_permission += 1;
            return;
        }
        if !a.to_client_bucket.take(now, data.len(), rate) {
            a.dropped_bandwidth += 1;
            self.stats.dropped_bandwidth += 1;
            if a.dropped_bandwidth == 1 {
                info!(client = %a.tuple.client, username = %a.username, relay = %a.relay, "TURN bandwidth cap reached: dropping packets");
            }
            return;
        }
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let channel = a.peer_channels.get(&peer).copied().filter(|c| a.channels.get(c).is_some_and(|ch| ch.expires > now));
        let tuple = a.tuple;
        let msg = match channel {
            Some(ch) => channel_data(ch, data, tuple.transport == Transport::Tcp),
            None => {
                let tid = self.next_tid();
                MessageBuilder::with_capacity(method::DATA, Class::Indication, tid, data.len() + 40)
                    .xor_addr(attr::XOR_PEER_ADDRESS, peer)
                    .attr(attr::DATA, data)
                    .fingerprint()
                    .build()
            }
        };
        self.stats.to_client_packets += 1;
        self.stats.to_client_bytes += data.len() as u64;
        out.push(Output::ToClient { tuple, data: msg });
    }

    /// The answer to [`Output::OpenRelay`]: `Err` when no port could be bound.
    pub fn relay_opened(&mut self, now: Instant, id: u64, result: Result<RelayOpened, String>, out: &mut Vec<Output>) {
        let Some(p) = self.pending.remove(&id) else {
            // The client went away meanwhile: give the sockets back.
            if let Ok(opened) = result {
                out.push(Output::CloseRelay { relay: opened.relay });
                if let Some(r) = opened.reserved {
                    out.push(Output::CloseRelay { relay: r });
                }
            }
            return;
        };
        self.pending_by_tuple.remove(&p.tuple);
        let opened = match result {
            Ok(o) => o,
            Err(e) => {
                self.quota_release(&p.quota_user, p.tuple.client.ip());
                self.refuse_log(now, 508, &format!("no relay port: {e}"), p.tuple.client, &p.username);
                let data = MessageBuilder::new(method::ALLOCATE, Class::Error, p.tid)
                    .error(508, reason_phrase(508))
                    .software()
                    .integrity(&p.key)
                    .fingerprint()
                    .build();
                out.push(Output::ToClient { tuple: p.tuple, data });
                return;
            }
        };
        let mut token = None;
        if let Some(r) = opened.reserved {
            let t: [u8; 8] = rand::random();
            self.reservations.insert(t, Reservation { relay: r, expires: now + self.cfg.reservation_lifetime });
            token = Some(t);
        }
        let mut b = MessageBuilder::new(method::ALLOCATE, Class::Success, p.tid)
            .xor_addr(attr::XOR_RELAYED_ADDRESS, opened.relay)
            .u32_attr(attr::LIFETIME, lifetime_attr(p.lifetime))
            .xor_addr(attr::XOR_MAPPED_ADDRESS, p.tuple.client);
        if let Some(t) = token {
            b = b.attr(attr::RESERVATION_TOKEN, &t);
        }
        let response = b.software().integrity(&p.key).fingerprint().build();
        let rate = self.cfg.max_bytes_per_sec;
        info!(client = %p.tuple.client, transport = ?p.tuple.transport, username = %p.username, relay = %opened.relay,
              lifetime = p.lifetime.as_secs(), "TURN allocation created");
        self.allocs.insert(id, Allocation {
            tuple: p.tuple,
            relay: opened.relay,
            username: p.username,
            quota_user: p.quota_user,
            expires: now + p.lifetime,
            permissions: HashMap::new(),
            channels: HashMap::new(),
            peer_channels: HashMap::new(),
            allocate_tid: p.tid,
            allocate_response: response.clone(),
            to_peer_bucket: Bucket::new(now, rate),
            to_client_bucket: Bucket::new(now, rate),
            dropped_bandwidth: 0,
        });
        self.by_tuple.insert(p.tuple, id);
        self.by_relay.insert(opened.relay, id);
        self.stats.allocations_total += 1;
        out.push(Output::ToClient { tuple: p.tuple, data: response });
    }

    /// A stream (TCP) client closed its connection: its allocation goes with it.
    pub fn client_closed(&mut self, _now: Instant, tuple: FiveTuple, out: &mut Vec<Output>) {
        if let Some(id) = self.by_tuple.get(&tuple).copied() {
            self.remove_allocation(id, "client connection closed", out);
        }
        if let Some(id) = self.pending_by_tuple.remove(&tuple) {
            if let Some(p) = self.pending.remove(&id) {
                self.quota_release(&p.quota_user, p.tuple.client.ip());
            }
        }
    }

    /// Expires allocations, permissions, channels and port reservations.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Output>) {
        let expired: Vec<u64> = self.allocs.iter().filter(|(_, a)| a.expires <= now).map(|(id, _)| *id).collect();
        for id in expired {
            self.remove_allocation(id, "lifetime expired", out);
        }
        for a in self.allocs.values_mut() {
            a.permissions.retain(|_, e| *e > now);
            let before = a.channels.len();
            a.channels.retain(|_, c| c.expires > now);
            if a.channels.len() != before {
                let channels = &a.channels;
                a.peer_channels.retain(|_, ch| channels.contains_key(ch));
            }
        }
        self.reservations.retain(|_, r| {
            let keep = r.expires > now;
            if !keep {
                out.push(Output::CloseRelay { relay: r.relay });
            }
            keep
        });
    }

    /// When [`Server::handle_timeout`] next has something to do (at the latest).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let allocs = self.allocs.values().flat_map(|a| {
            std::iter::once(a.expires)
                .chain(a.permissions.values().copied())
                .chain(a.channels.values().map(|c| c.expires))
        });
        allocs.chain(self.reservations.values().map(|r| r.expires)).min()
    }

    // ---- internals ----

    fn remove_allocation(&mut self, id: u64, why: &str, out: &mut Vec<Output>) {
        let Some(a) = self.allocs.remove(&id) else { return };
        self.by_tuple.remove(&a.tuple);
        self.by_relay.remove(&a.relay);
        self.quota_release(&a.quota_user, a.tuple.client.ip());
        info!(client = %a.tuple.client, username = %a.username, relay = %a.relay, reason = why,
              dropped_bandwidth = a.dropped_bandwidth, "TURN allocation deleted");
        out.push(Output::CloseRelay { relay: a.relay });
    }

    fn quota_release(&mut self, user: &str, ip: IpAddr) {
        if let Some(n) = self.per_user.get_mut(user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_user.remove(user);
            }
        }
        let ip = ip.to_canonical();
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// An error response; signed with `key` when the request was authenticated.
    fn error(&self, req: &Message<'_>, code: u16, key: Option<&[u8; 16]>, extra: impl FnOnce(MessageBuilder) -> MessageBuilder) -> Vec<u8> {
        let b = MessageBuilder::new(req.method, Class::Error, req.transaction_id).error(code, reason_phrase(code));
        let b = extra(b).software();
        let b = match key {
            Some(k) => b.integrity(k),
            None => b,
        };
        b.fingerprint().build()
    }

    fn challenge(&self, now: Instant, req: &Message<'_>, client: SocketAddr, code: u16) -> Vec<u8> {
        let nonce = self.nonces.issue(now, client.ip());
        let realm = self.cfg.realm.clone();
        self.error(req, code, None, |b| b.attr(attr::REALM, realm.as_bytes()).attr(attr::NONCE, nonce.as_bytes()))
    }

    /// RFC 8489 section 9.2.4: the long-term credential checks, in order.
    fn authenticate(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>) -> Result<Authed, Vec<u8>> {
        if !msg.has_integrity() {
            // The normal first step of every client: not a refusal worth a log line.
            debug!(client = %tuple.client, method = msg.method, "TURN challenge (401)");
            return Err(self.challenge(now, msg, tuple.client, 401));
        }
        let (Some(username), Some(realm), Some(nonce)) =
            (msg.get_str(attr::USERNAME), msg.get_str(attr::REALM), msg.get_str(attr::NONCE))
        else {
            self.refuse_log(now, 400, "MESSAGE-INTEGRITY without USERNAME, REALM or NONCE", tuple.client, "");
            return Err(self.error(msg, 400, None, |b| b));
        };
        match self.nonces.check(nonce, now, tuple.client.ip()) {
            NonceCheck::Valid => {}
            check => {
                // Expected after nonce_lifetime; the client retries with the new nonce.
                debug!(client = %tuple.client, username, ?check, "TURN stale nonce (438)");
                self.stats.refusals += 1;
                return Err(self.challenge(now, msg, tuple.client, 438));
            }
        }
        if realm != self.cfg.realm {
            self.refuse_log(now, 401, "wrong realm", tuple.client, username);
            return Err(self.challenge(now, msg, tuple.client, 401));
        }
        let user = match self.creds.key_for(username, self.unix_now(now)) {
            Ok(u) => u,
            Err(e) => {
                let reason = match e {
                    AuthError::UnknownUser => "unknown user".to_owned(),
                    e @ AuthError::Expired(_) => e.to_string(),
                };
                self.refuse_log(now, 401, &reason, tuple.client, username);
                return Err(self.challenge(now, msg, tuple.client, 401));
            }
        };
        if !msg.verify_integrity(&user.key) {
            self.refuse_log(now, 401, "wrong password (MESSAGE-INTEGRITY mismatch)", tuple.client, username);
            return Err(self.challenge(now, msg, tuple.client, 401));
        }
        let unknown = msg.unknown_required(TURN_KNOWN);
        if !unknown.is_empty() {
            self.refuse_log(now, 420, "unknown comprehension-required attribute", tuple.client, username);
            return Err(self.error(msg, 420, Some(&user.key), |b| b.unknown_attributes(&unknown)));
        }
        Ok(Authed { username: username.to_owned(), quota_user: user.quota_user, key: user.key })
    }

    fn lifetime_of(&self, msg: &Message<'_>) -> Duration {
        match msg.get_u32(attr::LIFETIME) {
            Some(secs) => {
                let asked = Duration::from_secs(u64::from(secs)).min(self.cfg.max_lifetime);
                asked.max(self.cfg.default_lifetime)
            }
            None => self.cfg.default_lifetime,
        }
    }

    /// Finds the allocation of `tuple` for a request authenticated as `auth` (437 / 441).
    fn allocation_for(&mut self, now: Instant, tuple: FiveTuple, msg: &Message<'_>, auth: &Authed) -> Result<u64, Vec<u8>> {
        let Some(&id) = self.by_tuple.get(&tuple) else {
            self.refuse_log(now, 437, "no allocation for this 5-tuple", tuple.client, &auth.username);
            return Err(self.error(msg, 437, Some(&auth.key), |b| b));
        };
        let Some(a) = self.allocs.get(&id) else {
            return Err(self.error(msg, 437, Some(&auth.key), |b| b));
        };
        if a.username != auth.username {
            self.refuse_log(now, 441, "credentials differ from the allocation's", tuple.client, &auth.username);
            return Err(self.error(msg, 441, Some(&auth.key), |b| b));
        }
        Ok(id)
    }

    fn success(&self, req: &Message<'_>, key: &[u8; 16], extra: impl FnOnce(MessageBuilder) -> MessageBuilder) -> Vec<u8> {
        let b = MessageBuilder::new(req.method, Class::Success, req.transaction_id);
        extra(b).software().integrity(key).fingerprint().build()
    }

    fn is_relay(&self, addr: SocketAddr) -> bool {
        self.by_relay.contains_key(&addr)
    }
}
