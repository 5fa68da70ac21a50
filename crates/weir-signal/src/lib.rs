//! Weir's P2P signaling server: ZLMediaKit's WebSocket signaling protocol (API contract §A10)
//! on `[rtc] signalingPort` (ws) and `[rtc] signalingSslPort` (wss).
//!
//! Peers register a room, call another room with an SDP offer, get the answer back and trickle
//! ICE candidates; media then flows between the peers directly (or through the STUN/TURN server
//! advertised in the register accept), never through Weir's media engine.
//!
//! * [`rooms`]: the sans-IO state machine ([`Rooms`]), unit-tested without sockets.
//! * [`SignalState`]: the shared state of the listeners (rooms + one outbox per connection); it
//!   is also the [`weir_core::RoomDirectory`] behind `/index/api/listWebrtcRooms`.
//! * [`serve`] / [`start`]: the WebSocket shell (axum; TLS through axum-server + rustls).

pub mod rooms;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use parking_lot::Mutex;
use tokio::sync::mpsc;

pub use weir_net::RustlsConfig;
pub use rooms::{ConnId, IceServer, Outgoing, Rooms, RoomsConfig};
pub use weir_net::{load_or_generate_tls, TlsError};

/// Close code for a message above `signalingMaxMessageSize` (RFC 6455 "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code when a connection cannot keep up with what it is sent.
pub const CLOSE_SLOW: u16 = 1008;
/// Frames queued per connection before it is considered too slow and closed.
const OUTBOX: usize = 128;

/// Everything the signaling server is configured with.
#[derive(Debug, Clone)]
pub struct SignalConfig {
    /// The state machine's settings (ICE servers, limits, keepalive durations).
    pub rooms: RoomsConfig,
    /// `[rtc] signalingMaxMessageSize`: larger frames and messages close the connection.
    pub max_message_size: usize,
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self { rooms: RoomsConfig::default(), max_message_size: 64 * 1024 }
    }
}

impl SignalConfig {
    /// From Weir's configuration: `[rtc] signalingPingSec`, `signalingTimeoutSec`,
    /// `signalingMaxMessageSize`, `signalingMaxGuests`, `signalingMaxConnections`, and the
    /// `ice_servers` entry (`enableTurn` with credentials, `externIP`, `icePort`, `iceUfrag`, `icePwd`,
    /// `iceTransportPolicy`).
    pub fn from_config(c: &weir_config::Config) -> Self {
        let r = &c.rtc;
        let ip = advertised_ip(&r.extern_ip, &|name| std::env::var(name).ok(), &interface_ips());
        Self {
            rooms: RoomsConfig {
                ice_servers: vec![ice_server(r.turn_active(), ip, r.ice_port, &r.ice_ufrag, &r.ice_pwd)],
                ice_transport_policy: r.ice_transport_policy,
                max_calls: r.signaling_max_guests.max(1),
                max_connections: r.signaling_max_connections.max(1),
                ping_after: Duration::from_secs(r.signaling_ping_sec.max(1)),
                timeout: Duration::from_secs(r.signaling_timeout_sec.max(1)),
            },
            max_message_size: r.signaling_max_message_size.max(1024),
        }
    }
}

/// ZLMediaKit's single `ice_servers` entry: `turn:<ip>:<icePort>?transport=udp` (or `stun:` when
/// TURN is disabled) with the STUN/TURN credentials. IPv6 addresses are bracketed.
pub fn ice_server(enable_turn: bool, ip: IpAddr, port: u16, ufrag: &str, pwd: &str) -> IceServer {
    let scheme = if enable_turn { "turn" } else { "stun" };
    let host = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    IceServer { url: format!("{scheme}:{host}:{port}?transport=udp"), ufrag: ufrag.to_owned(), pwd: pwd.to_owned() }
}

/// The address put in the `ice_servers` URL: the first `externIP` entry (an address, `$ENV_NAME`
/// naming one, or `*` for the interface addresses), else the first non-loopback interface
/// address (IPv4 first), else 127.0.0.1.
pub fn advertised_ip(extern_ip: &str, env: &dyn Fn(&str) -> Option<String>, interfaces: &[IpAddr]) -> IpAddr {
    let first_interface = || {
        let usable = |ip: &&IpAddr| !ip.is_loopback() && !ip.is_unspecified() && !is_link_local(ip);
        interfaces
            .iter()
            .filter(usable)
            .find(|ip| ip.is_ipv4())
            .or_else(|| interfaces.iter().find(usable))
            .copied()
    };
    let parse = |s: &str| s.trim().trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().ok();
    let from_extern = extern_ip.split(',').map(str::trim).find(|e| !e.is_empty()).and_then(|e| {
        if e == "*" {
            first_interface()
        } else if let Some(name) = e.strip_prefix('$') {
            env(name).and_then(|v| v.split(',').find_map(parse))
        } else {
            parse(e)
        }
    });
    from_extern.or_else(first_interface).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// The machine's interface addresses (empty if they cannot be listed).
pub fn interface_ips() -> Vec<IpAddr> {
    if_addrs::get_if_addrs().map(|v| v.into_iter().map(|i| i.ip()).collect()).unwrap_or_default()
}

/// The signaling server's shared state: the rooms and one outbox per open connection. Shared by
/// both listeners (ws and wss), so rooms on one can call rooms on the other.
pub struct SignalState {
    cfg: SignalConfig,
    hub: Mutex<Hub>,
    ticking: AtomicBool,
}

struct Hub {
    rooms: Rooms,
    outboxes: HashMap<ConnId, mpsc::Sender<Outgoing>>,
}

impl Hub {
    /// Queues frames without waiting; a connection whose outbox is full is dropped (its task
    /// sees the closed outbox and closes the socket).
    fn deliver(&mut self, frames: Vec<(ConnId, Outgoing)>) {
        for (conn, frame) in frames {
            let Some(tx) = self.outboxes.get(&conn) else { continue };
            if let Err(e) = tx.try_send(frame) {
                if matches!(e, mpsc::error::TrySendError::Full(_)) {
                    tracing::warn!(conn = %conn, "signaling connection too slow: closing");
                }
                self.outboxes.remove(&conn);
            }
        }
    }
}

impl SignalState {
    pub fn new(cfg: SignalConfig) -> Arc<Self> {
        let rooms = Rooms::new(cfg.rooms.clone());
        Arc::new(Self { cfg, hub: Mutex::new(Hub { rooms, outboxes: HashMap::new() }), ticking: AtomicBool::new(false) })
    }

    pub fn config(&self) -> &SignalConfig {
        &self.cfg
    }

    /// Open WebSocket connections.
    pub fn connections(&self) -> usize {
        self.hub.lock().rooms.connections()
    }

    fn connect(&self) -> Option<(ConnId, mpsc::Receiver<Outgoing>)> {
        let mut hub = self.hub.lock();
        let id = hub.rooms.connect(Instant::now())?;
        let (tx, rx) = mpsc::channel(OUTBOX);
        hub.outboxes.insert(id, tx);
        Some((id, rx))
    }

    fn handle(&self, conn: ConnId, text: &str) {
        let mut hub = self.hub.lock();
        let out = hub.rooms.handle(conn, text, Instant::now());
        hub.deliver(out);
    }

    fn touch(&self, conn: ConnId) {
        self.hub.lock().rooms.touch(conn, Instant::now());
    }

    fn disconnect(&self, conn: ConnId) {
        let mut hub = self.hub.lock();
        hub.outboxes.remove(&conn);
        let out = hub.rooms.disconnect(conn);
        hub.deliver(out);
    }

    fn tick(&self) {
        let mut hub = self.hub.lock();
        let out = hub.rooms.tick(Instant::now());
        hub.deliver(out);
    }

    /// Starts the keepalive clock once (a task on the current runtime).
    fn ensure_ticking(self: &Arc<Self>) {
        if self.ticking.swap(true, Ordering::SeqCst) {
            return;
        }
        let period = (self.cfg.rooms.ping_after.min(self.cfg.rooms.timeout) / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(2));
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(period);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                iv.tick().await;
                let Some(state) = weak.upgrade() else { break };
                state.tick();
            }
        });
    }
}

impl weir_core::RoomDirectory for SignalState {
    fn rooms_json(&self) -> serde_json::Value {
        self.hub.lock().rooms.rooms_json()
    }
}

/// Serves the signaling WebSocket on `listener` (TLS when `tls` is given) until the listener
/// fails. Any URL path upgrades; the first requested `Sec-WebSocket-Protocol` is echoed.
pub async fn serve(state: Arc<SignalState>, listener: tokio::net::TcpListener, tls: Option<RustlsConfig>) -> std::io::Result<()> {
    state.ensure_ticking();
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    match tls {
        None => axum::serve(listener, app).await,
        Some(tls) => {
            let std_listener = listener.into_std()?;
            axum_server::from_tcp_rustls(std_listener, tls)?.serve(app).await
        }
    }
}

/// The axum router of one listener (every path, every method).
pub fn router(state: Arc<SignalState>) -> Router {
    Router::new().fallback(upgrade).with_state(state)
}

async fn upgrade(
    State(state): State<Arc<SignalState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(mut ws) = ws else {
        return (StatusCode::UPGRADE_REQUIRED, "weir P2P signaling: connect with a WebSocket\n").into_response();
    };
    let Some((conn, rx)) = state.connect() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many signaling connections\n").into_response();
    };
    // The first protocol the client asked for (ZLMediaKit echoes the header; a browser accepts
    // only one of the names it sent).
    let first_protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').map(str::trim).find(|p| !p.is_empty()))
        .and_then(|p| HeaderValue::from_str(p).ok());
    if let Some(p) = first_protocol {
        ws.set_selected_protocol(p);
    }
    tracing::info!(conn = %conn, peer = %peer, "signaling websocket connected");
    let max = state.cfg.max_message_size;
    let st = state.clone();
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_failed_upgrade(move |e| {
            tracing::info!(conn = %conn, error = %e, "signaling websocket upgrade failed");
            st.disconnect(conn);
        })
        .on_upgrade(move |socket| run_connection(state, conn, socket, rx))
}

/// One connection: frames in go to the state machine, frames out come from its outbox.
async fn run_connection(state: Arc<SignalState>, conn: ConnId, mut socket: WebSocket, mut rx: mpsc::Receiver<Outgoing>) {
    let send_timeout = state.cfg.rooms.timeout;
    let why = loop {
        tokio::select! {
            frame = rx.recv() => {
                let msg = match frame {
                    Some(Outgoing::Text(t)) => Message::Text(t.as_ref().into()),
                    Some(Outgoing::Ping) => Message::Ping(Default::default()),
                    Some(Outgoing::Close(code, reason)) => {
                        close(&mut socket, code, reason).await;
                        break reason;
                    }
                    None => {
                        close(&mut socket, CLOSE_SLOW, "too slow").await;
                        break "outbox closed";
                    }
                };
                match tokio::time::timeout(send_timeout, socket.send(msg)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break "send failed",
                    Err(_) => break "send timed out",
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => state.handle(conn, t.as_str()),
                Some(Ok(Message::Binary(b))) => match std::str::from_utf8(&b) {
                    Ok(t) => state.handle(conn, t),
                    Err(_) => state.touch(conn),
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => state.touch(conn),
                Some(Ok(Message::Close(_))) | None => break "closed by peer",
                Some(Err(e)) => {
                    let text = e.to_string();
                    if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                        tracing::info!(conn = %conn, error = %text, "signaling message too big: closing");
                        close(&mut socket, CLOSE_TOO_BIG, "message too big").await;
                        break "message too big";
                    }
                    tracing::info!(conn = %conn, error = %text, "signaling websocket error");
                    break "read error";
                }
            }
        }
    };
    tracing::info!(conn = %conn, reason = why, "signaling websocket closed");
    state.disconnect(conn);
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.send(frame)).await;
}

/// Why the listeners could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("[http] ip {0:?} is not an IP address")]
    BadIp(String),
    #[error("binding the signaling port {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The listeners [`start`] opened.
#[derive(Debug, Clone, Default)]
pub struct Started {
    /// The ws listener (`[rtc] signalingPort`), if enabled.
    pub ws: Option<SocketAddr>,
    /// The wss listener (`[rtc] signalingSslPort`), if enabled.
    pub wss: Option<SocketAddr>,
}

/// Binds `[rtc] signalingPort` (ws) and `signalingSslPort` (wss) on `[http] ip` (a port of 0
/// disables that listener; `::` / `0.0.0.0` listen dual-stack, see [`weir_net::bind_tcp`]) and serves them on the current runtime. The wss certificate comes
/// from `signalingSslCert` / `signalingSslKey` (reloaded on SIGHUP and when the files change),
/// or is self-signed when they are empty.
pub async fn start(config: &weir_config::Config, state: Arc<SignalState>) -> Result<Started, StartError> {
    let ip: IpAddr = config.http.ip.parse().map_err(|_| StartError::BadIp(config.http.ip.clone()))?;
    let rtc = &config.rtc;
    let mut started = Started::default();
    for (port, secure) in [(rtc.signaling_port, false), (rtc.signaling_ssl_port, true)] {
        if port == 0 {
            continue;
        }
        let tls = if secure {
            let names = state.cfg.rooms.ice_servers.iter().filter_map(|s| host_of_url(&s.url)).collect::<Vec<_>>();
            let tls = load_or_generate_tls("[rtc] signalingSslPort", &rtc.signaling_ssl_cert, &rtc.signaling_ssl_key, &names).await?;
            weir_net::watch_reload("[rtc] signalingSslPort", tls.clone(), rtc.signaling_ssl_cert.clone(), rtc.signaling_ssl_key.clone());
            Some(tls)
        } else {
            None
        };
        let addr = SocketAddr::new(ip, port);
        let listener = weir_net::bind_tcp(addr).map_err(|source| StartError::Bind { addr, source })?;
        let local = listener.local_addr().unwrap_or(addr);
        if secure {
            started.wss = Some(local);
        } else {
            started.ws = Some(local);
        }
        let st = state.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(st, listener, tls).await {
                tracing::error!(addr = %local, error = %e, "signaling listener stopped");
            }
        });
    }
    state.ensure_ticking();
    Ok(started)
}

/// `turn:1.2.3.4:3478?...` -> `1.2.3.4` (for the self-signed certificate's names).
fn host_of_url(url: &str) -> Option<String> {
    let rest = url.split_once(':')?.1;
    let host = if let Some(r) = rest.strip_prefix('[') { r.split_once(']')?.0 } else { rest.split_once(':')?.0 };
    Some(host.to_owned())
}
