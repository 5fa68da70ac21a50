//! The sans-IO core of the P2P signaling server: rooms, calls and the relaying of ZLMediaKit's
//! WebSocket signaling messages (API contract §A10), plus the keepalive clock.
//!
//! [`Rooms`] never touches a socket. The WebSocket shell feeds it every received text frame
//! ([`Rooms::handle`]), every other frame ([`Rooms::touch`]), disconnects ([`Rooms::disconnect`])
//! and a periodic clock ([`Rooms::tick`]); each call returns the frames to send as
//! `(connection, Outgoing)` pairs.
//!
//! Routing rules (ZLMediaKit's `WebRtcSignalingSession`, tightened so that a client can only
//! reach rooms it names in a `call` and peers of calls it is part of):
//! * `call` request: from a registered connection to the connection registered as `room_id`;
//!   records `tours[guest_id] = room_id` on the caller and `guests[guest_id] = caller` on the
//!   callee, then forwards the request unchanged.
//! * `call` accept / reject: from the callee to `guests[guest_id]`, unchanged. A reject ends the
//!   call (both records are removed).
//! * `candidate` / `bye`: if `room_id` is the sender's own room, the callee is sending: to
//!   `guests[guest_id]`. Otherwise the caller is sending: to the room `room_id`, but only when
//!   the sender really is that call's caller. `bye` removes both records.
//! * unregister, re-register and disconnect: `bye` with `reason: "peer unregister"` to every peer
//!   of every call of the leaving room.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::distr::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// One WebSocket connection of the signaling server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ws{}", self.0)
    }
}

/// A frame for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// One TEXT frame holding one JSON object.
    Text(Arc<str>),
    /// A WebSocket PING with an empty payload (keepalive).
    Ping,
    /// Close the connection with this close code and reason.
    Close(u16, &'static str),
}

impl Outgoing {
    /// The text of a [`Outgoing::Text`] frame.
    pub fn text(&self) -> Option<&str> {
        match self {
            Outgoing::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// WebSocket close code sent when nothing was received for [`RoomsConfig::timeout`].
pub const CLOSE_TIMEOUT: u16 = 1001;

/// One entry of `ice_servers` in the register accept: `{"url","ufrag","pwd"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    pub url: String,
    pub ufrag: String,
    pub pwd: String,
}

/// What the state machine needs to know; see `SignalConfig` for the configuration keys.
#[derive(Debug, Clone)]
pub struct RoomsConfig {
    /// Sent in every register accept.
    pub ice_servers: Vec<IceServer>,
    /// `[rtc] iceTransportPolicy`: 0 all, 1 relay only, 2 direct only. Non-zero values are added
    /// to the register accept as `ice_transport_policy` (`"relay"` / `"direct"`); ZLMediaKit
    /// peers ignore the key.
    pub ice_transport_policy: u8,
    /// Calls a room may receive at once (its guests), and calls a connection may place at once.
    pub max_calls: usize,
    /// Open connections; [`Rooms::connect`] refuses more.
    pub max_connections: usize,
    /// A PING is sent after this long without any frame received.
    pub ping_after: Duration,
    /// The connection is closed after this long without any frame received.
    pub timeout: Duration,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self {
            ice_servers: Vec::new(),
            ice_transport_policy: 0,
            max_calls: 64,
            max_connections: 10_000,
            ping_after: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Room and guest ids longer than this are refused (`register`) or ignored.
pub const MAX_ID_LEN: usize = 256;

// Reject reasons of ZLMediaKit (§A10.3).
pub const REASON_CONFLICT: &str = "room id conflict";
pub const REASON_UNREGISTERED: &str = "unregistered";
pub const REASON_REGISTER_FIRST: &str = "should register first";
pub const REASON_PEER_UNREGISTER: &str = "peer unregister";
// Weir's own reject reasons (limits and ids ZLMediaKit does not check).
pub const REASON_ID_TOO_LONG: &str = "room id too long";
pub const REASON_TOO_MANY_CALLS: &str = "too many calls";

#[derive(Debug)]
struct Conn {
    room: Option<String>,
    /// As caller: guest id -> callee room id.
    tours: BTreeMap<String, String>,
    /// As callee: guest id -> caller connection.
    guests: BTreeMap<String, ConnId>,
    last_recv: Instant,
    last_ping: Option<Instant>,
    closing: bool,
}

/// The signaling server's rooms and calls. See the module documentation.
#[derive(Debug)]
pub struct Rooms {
    cfg: RoomsConfig,
    next_conn: u64,
    /// Counter of server-assigned room ids (`"<counter>_<16 random>"`), from 1.
    next_room: u64,
    conns: HashMap<ConnId, Conn>,
    rooms: BTreeMap<String, ConnId>,
}

type Out = Vec<(ConnId, Outgoing)>;

/// A JSON value as ZLMediaKit's argument reader sees it: strings as they are, numbers and
/// booleans as text, null as empty; objects and arrays make the whole message invalid.
fn arg(obj: &Map<String, Value>, key: &str) -> Result<String, ()> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(_) => Err(()),
    }
}

/// The named arguments of one message; `Err` if one is an object or array.
fn args<const N: usize>(obj: &Map<String, Value>, keys: [&str; N]) -> Result<[String; N], ()> {
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, key) in out.iter_mut().zip(keys) {
        *slot = arg(obj, key)?;
    }
    Ok(out)
}

fn random_str(n: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(n).map(char::from).collect()
}

fn text(v: Value) -> Outgoing {
    Outgoing::Text(Arc::from(v.to_string()))
}

/// A reply: `body` plus `class`, `transaction_id` (and `reason` for a reject).
fn reply(mut body: Map<String, Value>, class: &str, transaction_id: &str, reason: Option<&str>) -> Outgoing {
    body.insert("class".into(), class.into());
    body.insert("transaction_id".into(), transaction_id.into());
    if let Some(r) = reason {
        body.insert("reason".into(), r.into());
    }
    text(Value::Object(body))
}

fn body<const N: usize>(pairs: [(&str, &str); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), Value::from(v))).collect()
}

impl Rooms {
    pub fn new(cfg: RoomsConfig) -> Self {
        Self { cfg, next_conn: 1, next_room: 1, conns: HashMap::new(), rooms: BTreeMap::new() }
    }

    pub fn config(&self) -> &RoomsConfig {
        &self.cfg
    }

    /// A new connection, or `None` when `max_connections` are open.
    pub fn connect(&mut self, now: Instant) -> Option<ConnId> {
        if self.conns.len() >= self.cfg.max_connections {
            tracing::warn!(max = self.cfg.max_connections, "signaling connection refused: too many connections");
            return None;
        }
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(
            id,
            Conn { room: None, tours: BTreeMap::new(), guests: BTreeMap::new(), last_recv: now, last_ping: None, closing: false },
        );
        Some(id)
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// The room registered by `conn`.
    pub fn room_of(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn).and_then(|c| c.room.as_deref())
    }

    /// The connection registered as `room`.
    pub fn conn_of(&self, room: &str) -> Option<ConnId> {
        self.rooms.get(room).copied()
    }

    /// Something (any frame) was received on `conn`: the keepalive clock restarts.
    pub fn touch(&mut self, conn: ConnId, now: Instant) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_recv = now;
            c.last_ping = None;
        }
    }

    /// The connection is gone: its room is released and the peers of its calls get `bye`.
    pub fn disconnect(&mut self, conn: ConnId) -> Out {
        let mut out = Vec::new();
        if self.conns.contains_key(&conn) {
            if let Some(room) = self.room_of(conn) {
                tracing::info!(conn = %conn, room = ?room, "signaling connection closed: room released");
            } else {
                tracing::debug!(conn = %conn, "signaling connection closed");
            }
            self.leave(conn, &mut out);
            self.conns.remove(&conn);
        }
        out
    }

    /// Keepalive: a PING to connections idle for `ping_after` (again every `ping_after`), a close
    /// to those idle for `timeout`.
    pub fn tick(&mut self, now: Instant) -> Out {
        let mut out = Vec::new();
        for (&id, c) in self.conns.iter_mut() {
            if c.closing {
                continue;
            }
            let idle = now.saturating_duration_since(c.last_recv);
            if idle >= self.cfg.timeout {
                tracing::info!(conn = %id, room = ?c.room, idle_ms = idle.as_millis() as u64, "signaling websocket timeout: closing");
                c.closing = true;
                out.push((id, Outgoing::Close(CLOSE_TIMEOUT, "websocket timeout")));
            } else if idle >= self.cfg.ping_after
                && c.last_ping.is_none_or(|p| now.saturating_duration_since(p) >= self.cfg.ping_after)
            {
                c.last_ping = Some(now);
                out.push((id, Outgoing::Ping));
            }
        }
        out
    }

    /// One received TEXT frame of `conn`. Invalid or incomplete messages are dropped as
    /// ZLMediaKit drops them (logged, no reply); see the module documentation for the routing.
    pub fn handle(&mut self, conn: ConnId, msg: &str, now: Instant) -> Out {
        let mut out = Vec::new();
        if !self.conns.contains_key(&conn) {
            return out;
        }
        self.touch(conn, now);
        let obj = match serde_json::from_str::<Value>(msg) {
            Ok(Value::Object(o)) => o,
            _ => {
                tracing::info!(conn = %conn, len = msg.len(), "signaling message dropped: not a JSON object");
                return out;
            }
        };
        let Ok([class, method, tid, room_id, guest_id]) =
            args(&obj, ["class", "method", "transaction_id", "room_id", "guest_id"])
        else {
            tracing::info!(conn = %conn, "signaling message dropped: a key holds an object or array");
            return out;
        };
        let own = self.room_of(conn).map(str::to_owned);
        tracing::info!(conn = %conn, class = %class, method = %method, own_room = ?own, room = ?room_id, guest = ?guest_id, "signaling message");
        if class.is_empty() || method.is_empty() || tid.is_empty() {
            tracing::info!(conn = %conn, "signaling message dropped: class, method and transaction_id are required");
            return out;
        }
        let raw: Arc<str> = Arc::from(msg);
        let m = Msg { conn, obj: &obj, raw, tid: &tid, room_id: &room_id, guest_id: &guest_id };
        match (class.as_str(), method.as_str()) {
            ("request", "register") => self.register(&m, &mut out),
            ("request", "unregister") => self.unregister(&m, &mut out),
            ("request", "call") => self.call(&m, &mut out),
            ("accept", "call") | ("reject", "call") => self.call_answer(&m, class == "reject", &mut out),
            ("indication", "candidate") => self.candidate(&m, &mut out),
            ("indication", "bye") => self.bye(&m, &mut out),
            _ => tracing::info!(conn = %conn, class = %class, method = %method, "signaling message ignored: unknown class/method"),
        }
        out
    }

    fn register(&mut self, m: &Msg<'_>, out: &mut Out) {
        let conn = m.conn;
        let own = self.room_of(conn).map(str::to_owned);
        let mut b = body([("method", "register")]);
        if !m.room_id.is_empty() && own.as_deref() == Some(m.room_id) {
            // The same connection registering its own room again: confirm it.
            b.insert("room_id".into(), m.room_id.into());
            out.push((conn, self.register_accept(b, m.tid)));
            return;
        }
        let room_id = if m.room_id.is_empty() {
            loop {
                let id = format!("{}_{}", self.next_room, random_str(16));
                self.next_room += 1;
                if !self.rooms.contains_key(&id) {
                    break id;
                }
            }
        } else {
            b.insert("room_id".into(), m.room_id.into());
            if self.rooms.contains_key(m.room_id) {
                tracing::info!(conn = %conn, room = ?m.room_id, "register rejected: room id conflict");
                out.push((conn, reply(b, "reject", m.tid, Some(REASON_CONFLICT))));
                return;
            }
            if m.room_id.len() > MAX_ID_LEN {
                tracing::info!(conn = %conn, len = m.room_id.len(), "register rejected: room id too long");
                out.push((conn, reply(b, "reject", m.tid, Some(REASON_ID_TOO_LONG))));
                return;
            }
            m.room_id.to_owned()
        };
        if own.is_some() {
            // One room per connection: the old one is released first.
            tracing::info!(conn = %conn, old = ?own, new = ?room_id, "re-register: old room released");
            self.leave(conn, out);
        }
        self.rooms.insert(room_id.clone(), conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.room = Some(room_id.clone());
        }
        tracing::info!(conn = %conn, room = ?room_id, rooms = self.rooms.len(), "room registered");
        b.insert("room_id".into(), room_id.into());
        out.push((conn, self.register_accept(b, m.tid)));
    }

    fn register_accept(&self, mut b: Map<String, Value>, tid: &str) -> Outgoing {
        b.insert("ice_servers".into(), serde_json::to_value(&self.cfg.ice_servers).unwrap_or_else(|_| json!([])));
        match self.cfg.ice_transport_policy {
            1 => {
                b.insert("ice_transport_policy".into(), "relay".into());
            }
            2 => {
                b.insert("ice_transport_policy".into(), "direct".into());
            }
            _ => {}
        }
        reply(b, "accept", tid, None)
    }

    fn unregister(&mut self, m: &Msg<'_>, out: &mut Out) {
        let conn = m.conn;
        if m.room_id.is_empty() {
            tracing::info!(conn = %conn, "unregister dropped: room_id missing");
            return;
        }
        let b = body([("method", "unregister"), ("room_id", m.room_id)]);
        let Some(own) = self.room_of(conn).map(str::to_owned) else {
            out.push((conn, reply(b, "reject", m.tid, Some(REASON_UNREGISTERED))));
            return;
        };
        if own != m.room_id {
            let reason = format!("room_id: \"{}\" not match room_id:{}", m.room_id, own);
            out.push((conn, reply(b, "reject", m.tid, Some(&reason))));
            return;
        }
        out.push((conn, reply(b, "accept", m.tid, None)));
        tracing::info!(conn = %conn, room = ?own, "room unregistered");
        self.leave(conn, out);
    }

    fn call(&mut self, m: &Msg<'_>, out: &mut Out) {
        let conn = m.conn;
        let Ok([vhost, app, stream, ty, sdp]) = args(m.obj, ["vhost", "app", "stream", "type", "sdp"]) else {
            return;
        };
        if [m.guest_id, m.room_id, &vhost, &app, &stream, &ty, &sdp].iter().any(|v| v.is_empty()) {
            tracing::info!(conn = %conn, "call dropped: guest_id, room_id, vhost, app, stream, type and sdp are required");
            return;
        }
        let b = body([
            ("method", "call"),
            ("room_id", m.room_id),
            ("guest_id", m.guest_id),
            ("vhost", &vhost),
            ("app", &app),
            ("stream", &stream),
            ("type", &ty),
        ]);
        if self.room_of(conn).is_none() {
            out.push((conn, reply(b, "reject", m.tid, Some(REASON_REGISTER_FIRST))));
            return;
        }
        let Some(callee) = self.conn_of(m.room_id) else {
            let reason = format!("room_id: \"{}\" unregistered", m.room_id);
            out.push((conn, reply(b, "reject", m.tid, Some(&reason))));
            return;
        };
        let reject = |reason: String, out: &mut Out| {
            tracing::info!(conn = %conn, room = ?m.room_id, guest = ?m.guest_id, reason = %reason, "call rejected");
            out.push((conn, reply(b.clone(), "reject", m.tid, Some(&reason))));
        };
        if m.guest_id.len() > MAX_ID_LEN {
            return reject("guest id too long".into(), out);
        }
        let (tours, guests) = {
            let caller = &self.conns[&conn];
            let callee_c = &self.conns[&callee];
            (caller.tours.get(m.guest_id).cloned(), callee_c.guests.get(m.guest_id).copied())
        };
        // A guest id names one call: another caller's, or a call to another room, is taken.
        let same_call = tours.as_deref() == Some(m.room_id) && guests == Some(conn);
        if !same_call && (tours.is_some() || guests.is_some()) {
            return reject(format!("guest_id: \"{}\" conflict", m.guest_id), out);
        }
        if !same_call {
            if self.conns[&callee].guests.len() >= self.cfg.max_calls {
                return reject(format!("room_id: \"{}\" too many guests", m.room_id), out);
            }
            if self.conns[&conn].tours.len() >= self.cfg.max_calls {
                return reject(REASON_TOO_MANY_CALLS.into(), out);
            }
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.tours.insert(m.guest_id.to_owned(), m.room_id.to_owned());
        }
        if let Some(c) = self.conns.get_mut(&callee) {
            c.guests.insert(m.guest_id.to_owned(), conn);
        }
        out.push((callee, Outgoing::Text(m.raw.clone())));
    }

    fn call_answer(&mut self, m: &Msg<'_>, is_reject: bool, out: &mut Out) {
        let conn = m.conn;
        let Ok([vhost, app, stream]) = args(m.obj, ["vhost", "app", "stream"]) else {
            return;
        };
        if [m.guest_id, m.room_id, &vhost, &app, &stream].iter().any(|v| v.is_empty()) {
            tracing::info!(conn = %conn, "call answer dropped: guest_id, room_id, vhost, app and stream are required");
            return;
        }
        let Some(own) = self.room_of(conn).map(str::to_owned) else {
            // ZLMediaKit's reply has no `method` here.
            out.push((conn, reply(body([("room_id", m.room_id)]), "reject", m.tid, Some(REASON_REGISTER_FIRST))));
            return;
        };
        let Some(caller) = self.conns[&conn].guests.get(m.guest_id).copied() else {
            tracing::info!(conn = %conn, guest = ?m.guest_id, "call answer dropped: no such guest");
            return;
        };
        if is_reject {
            self.end_call(caller, conn, &own, m.guest_id);
        }
        out.push((caller, Outgoing::Text(m.raw.clone())));
    }

    fn candidate(&mut self, m: &Msg<'_>, out: &mut Out) {
        let conn = m.conn;
        let Ok([candidate, ufrag, pwd]) = args(m.obj, ["candidate", "ufrag", "pwd"]) else {
            return;
        };
        if [m.guest_id, m.room_id, &candidate, &ufrag, &pwd].iter().any(|v| v.is_empty()) {
            tracing::info!(conn = %conn, "candidate dropped: guest_id, room_id, candidate, ufrag and pwd are required");
            return;
        }
        if self.room_of(conn).is_none() {
            let b = body([("method", "candidate"), ("room_id", m.room_id)]);
            out.push((conn, reply(b, "reject", m.tid, Some(REASON_REGISTER_FIRST))));
            return;
        }
        if let Some((to, _, _)) = self.route(conn, m.room_id, m.guest_id) {
            out.push((to, Outgoing::Text(m.raw.clone())));
        }
    }

    fn bye(&mut self, m: &Msg<'_>, out: &mut Out) {
        let conn = m.conn;
        if m.guest_id.is_empty() || m.room_id.is_empty() {
            tracing::info!(conn = %conn, "bye dropped: guest_id and room_id are required");
            return;
        }
        if self.room_of(conn).is_none() {
            let b = body([("method", "bye"), ("room_id", m.room_id), ("guest_id", m.guest_id)]);
            out.push((conn, reply(b, "reject", m.tid, Some(REASON_REGISTER_FIRST))));
            return;
        }
        if let Some((to, caller, callee)) = self.route(conn, m.room_id, m.guest_id) {
            self.end_call(caller, callee, m.room_id, m.guest_id);
            out.push((to, Outgoing::Text(m.raw.clone())));
        }
    }

    /// Where a `candidate` / `bye` of `conn` about call (`room_id`, `guest_id`) goes:
    /// `(target, caller, callee)`, or `None` (logged) when `conn` is not part of that call.
    fn route(&self, conn: ConnId, room_id: &str, guest_id: &str) -> Option<(ConnId, ConnId, ConnId)> {
        let sender = self.conns.get(&conn)?;
        if sender.room.as_deref() == Some(room_id) {
            // The callee is sending.
            match sender.guests.get(guest_id) {
                Some(&caller) if self.conns.contains_key(&caller) => return Some((caller, caller, conn)),
                _ => tracing::info!(conn = %conn, guest = ?guest_id, "dropped: guest_id not a guest of this room"),
            }
            return None;
        }
        // The caller is sending: only along a call it placed.
        let callee = self.conn_of(room_id);
        match callee {
            Some(callee)
                if sender.tours.get(guest_id).map(String::as_str) == Some(room_id)
                    && self.conns.get(&callee).and_then(|c| c.guests.get(guest_id)) == Some(&conn) =>
            {
                Some((callee, conn, callee))
            }
            Some(_) => {
                tracing::info!(conn = %conn, room = ?room_id, guest = ?guest_id, "dropped: no such call from this connection");
                None
            }
            None => {
                tracing::info!(conn = %conn, room = ?room_id, "dropped: room_id not registered");
                None
            }
        }
    }

    /// Forgets call `guest_id` between `caller` and the room `callee_room` of `callee`.
    fn end_call(&mut self, caller: ConnId, callee: ConnId, callee_room: &str, guest_id: &str) {
        if let Some(c) = self.conns.get_mut(&caller) {
            if c.tours.get(guest_id).map(String::as_str) == Some(callee_room) {
                c.tours.remove(guest_id);
            }
        }
        if let Some(c) = self.conns.get_mut(&callee) {
            if c.guests.get(guest_id) == Some(&caller) {
                c.guests.remove(guest_id);
            }
        }
    }

    /// Releases the room of `conn` (if any) and ends all its calls with a server `bye`.
    fn leave(&mut self, conn: ConnId, out: &mut Out) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let room = c.room.take();
        let guests = std::mem::take(&mut c.guests);
        let tours = std::mem::take(&mut c.tours);
        if let Some(room) = &room {
            if self.rooms.get(room) == Some(&conn) {
                self.rooms.remove(room);
            }
        }
        let bye = |guest_id: &str, room_id: &str| {
            text(json!({
                "class": "indication",
                "method": "bye",
                "reason": REASON_PEER_UNREGISTER,
                "transaction_id": random_str(32),
                "guest_id": guest_id,
                "room_id": room_id,
            }))
        };
        // As callee: every caller.
        if let Some(room) = &room {
            for (guest_id, caller) in guests {
                if let Some(cc) = self.conns.get_mut(&caller) {
                    if cc.tours.get(&guest_id) == Some(room) {
                        cc.tours.remove(&guest_id);
                        tracing::info!(to = %caller, room = ?room, guest = ?guest_id, "bye (peer unregister) to caller");
                        out.push((caller, bye(&guest_id, room)));
                    }
                }
            }
        }
        // As caller: every called room.
        for (guest_id, callee_room) in tours {
            if let Some(callee) = self.conn_of(&callee_room) {
                if let Some(cc) = self.conns.get_mut(&callee) {
                    if cc.guests.get(&guest_id) == Some(&conn) {
                        cc.guests.remove(&guest_id);
                        tracing::info!(to = %callee, room = ?callee_room, guest = ?guest_id, "bye (peer unregister) to callee");
                        out.push((callee, bye(&guest_id, &callee_room)));
                    }
                }
            }
        }
    }

    /// `listWebrtcRooms` data: `[{"room_id","tours":[{"guest_id","room_id"}],"guests":[{"guest_id"}]}]`,
    /// rooms and guests sorted by id.
    pub fn rooms_json(&self) -> Value {
        let list: Vec<Value> = self
            .rooms
            .iter()
            .filter_map(|(room, conn)| {
                let c = self.conns.get(conn)?;
                let tours: Vec<Value> =
                    c.tours.iter().map(|(g, r)| json!({"guest_id": g, "room_id": r})).collect();
                let guests: Vec<Value> = c.guests.keys().map(|g| json!({"guest_id": g})).collect();
                Some(json!({"room_id": room, "tours": tours, "guests": guests}))
            })
            .collect();
        Value::Array(list)
    }
}

/// One parsed message with its envelope fields.
struct Msg<'a> {
    conn: ConnId,
    obj: &'a Map<String, Value>,
    raw: Arc<str>,
    tid: &'a str,
    room_id: &'a str,
    guest_id: &'a str,
}
