//! Unit tests of the signaling state machine (no sockets) and of the configuration helpers.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::rooms::*;
use crate::{advertised_ip, host_of_url, ice_server};

struct T {
    r: Rooms,
    now: Instant,
}

fn cfg() -> RoomsConfig {
    RoomsConfig {
        ice_servers: vec![IceServer { url: "turn:192.0.2.1:3478?transport=udp".into(), ufrag: "u".into(), pwd: "p".into() }],
        ice_transport_policy: 0,
        max_calls: 2,
        max_connections: 8,
        ping_after: Duration::from_secs(10),
        timeout: Duration::from_secs(30),
    }
}

impl T {
    fn new() -> Self {
        Self::with(cfg())
    }
    fn with(c: RoomsConfig) -> Self {
        Self { r: Rooms::new(c), now: Instant::now() }
    }
    fn conn(&mut self) -> ConnId {
        self.r.connect(self.now).expect("connection accepted")
    }
    /// Sends raw text; returns every output frame as (conn, JSON).
    fn raw(&mut self, c: ConnId, text: &str) -> Vec<(ConnId, Value)> {
        let out = self.r.handle(c, text, self.now);
        frames(out)
    }
    fn send(&mut self, c: ConnId, v: Value) -> Vec<(ConnId, Value)> {
        self.raw(c, &v.to_string())
    }
    /// Registers `room` on a new connection.
    fn registered(&mut self, room: &str) -> ConnId {
        let c = self.conn();
        let out = self.send(c, register(room));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1["class"], "accept", "{out:?}");
        c
    }
    /// `caller` calls `room` as `guest`; the request reaches the callee unchanged.
    fn call(&mut self, caller: ConnId, callee: ConnId, room: &str, guest: &str) {
        let req = call_req(room, guest);
        let out = self.send(caller, req.clone());
        assert_eq!(out, vec![(callee, req)]);
    }
    fn rooms(&self) -> Value {
        self.r.rooms_json()
    }
}

fn frames(out: Vec<(ConnId, Outgoing)>) -> Vec<(ConnId, Value)> {
    out.into_iter()
        .map(|(c, o)| {
            let t = o.text().unwrap_or_else(|| panic!("not a text frame: {o:?}"));
            (c, serde_json::from_str(t).expect("valid JSON"))
        })
        .collect()
}

fn register(room: &str) -> Value {
    json!({"class":"request","method":"register","transaction_id":"t-reg","room_id":room})
}

fn call_req(room: &str, guest: &str) -> Value {
    json!({"class":"request","method":"call","transaction_id":"t-call","guest_id":guest,"room_id":room,
           "type":"play","vhost":"__defaultVhost__","app":"live","stream":"s","sdp":"v=0\r\n"})
}

fn call_answer(class: &str, room: &str, guest: &str) -> Value {
    let mut v = json!({"class":class,"method":"call","transaction_id":"t-call","guest_id":guest,"room_id":room,
           "type":"play","vhost":"__defaultVhost__","app":"live","stream":"s"});
    if class == "accept" {
        v["sdp"] = "v=0 answer".into();
    } else {
        v["reason"] = "busy".into();
    }
    v
}

fn candidate(room: &str, guest: &str) -> Value {
    json!({"class":"indication","method":"candidate","transaction_id":"t-cand","guest_id":guest,"room_id":room,
           "candidate":"1 1 udp 2122260223 127.0.0.1 50000 typ host","ufrag":"uf","pwd":"pw","sender":guest})
}

fn bye(room: &str, guest: &str) -> Value {
    json!({"class":"indication","method":"bye","transaction_id":"t-bye","guest_id":guest,"room_id":room,"sender":guest})
}

// ---- register ----

#[test]
fn register_accept_carries_ice_servers() {
    let mut t = T::new();
    let c = t.conn();
    let out = t.send(c, register("alice"));
    assert_eq!(
        out,
        vec![(c, json!({"class":"accept","method":"register","room_id":"alice","transaction_id":"t-reg",
            "ice_servers":[{"url":"turn:192.0.2.1:3478?transport=udp","ufrag":"u","pwd":"p"}]}))]
    );
    assert_eq!(t.r.room_of(c), Some("alice"));
    assert_eq!(t.r.conn_of("alice"), Some(c));
}

#[test]
fn register_without_id_assigns_counter_and_random() {
    let mut t = T::new();
    let mut ids = Vec::new();
    for (i, msg) in [register(""), json!({"class":"request","method":"register","transaction_id":"x"})].into_iter().enumerate() {
        let c = t.conn();
        let out = t.send(c, msg);
        assert_eq!(out[0].1["class"], "accept");
        let id = out[0].1["room_id"].as_str().unwrap().to_owned();
        let (n, rand) = id.split_once('_').unwrap();
        assert_eq!(n, (i + 1).to_string());
        assert_eq!(rand.len(), 16);
        assert!(rand.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        assert_eq!(t.r.room_of(c), Some(id.as_str()));
        ids.push(id);
    }
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn duplicate_room_is_rejected() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.conn();
    let out = t.send(b, register("alice"));
    assert_eq!(
        out,
        vec![(b, json!({"class":"reject","method":"register","room_id":"alice","reason":"room id conflict","transaction_id":"t-reg"}))]
    );
    assert_eq!(t.r.conn_of("alice"), Some(a));
    assert_eq!(t.r.room_of(b), None);
}

#[test]
fn same_connection_registering_its_room_again_is_confirmed() {
    let mut t = T::new();
    let a = t.registered("alice");
    let out = t.send(a, register("alice"));
    assert_eq!(out[0].1["class"], "accept");
    assert_eq!(t.rooms().as_array().unwrap().len(), 1);
}

#[test]
fn re_register_releases_the_old_room_and_ends_its_calls() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    t.call(b, a, "alice", "g1");
    let out = t.send(a, register("alice2"));
    // bye to the caller of the old room, then the accept.
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0].0, b);
    assert_eq!(out[0].1["method"], "bye");
    assert_eq!(out[0].1["reason"], "peer unregister");
    assert_eq!(out[0].1["room_id"], "alice");
    assert_eq!(out[1].0, a);
    assert_eq!(out[1].1["room_id"], "alice2");
    assert_eq!(t.r.conn_of("alice"), None);
    assert_eq!(t.r.conn_of("alice2"), Some(a));
    // The old id is free for someone else.
    t.registered("alice");
    // A re-register with an id taken by another connection keeps the current room.
    let out = t.send(a, register("bob"));
    assert_eq!(out[0].1["reason"], "room id conflict");
    assert_eq!(t.r.room_of(a), Some("alice2"));
}

#[test]
fn overlong_room_id_is_rejected() {
    let mut t = T::new();
    let c = t.conn();
    let long = "x".repeat(MAX_ID_LEN + 1);
    let out = t.send(c, register(&long));
    assert_eq!(out[0].1["class"], "reject");
    assert_eq!(out[0].1["reason"], REASON_ID_TOO_LONG);
    assert_eq!(t.r.room_of(c), None);
}

#[test]
fn register_accept_informs_about_relay_policy() {
    let mut t = T::with(RoomsConfig { ice_transport_policy: 1, ..cfg() });
    let c = t.conn();
    let out = t.send(c, register("a"));
    assert_eq!(out[0].1["ice_transport_policy"], "relay");
    assert_eq!(out[0].1["ice_servers"].as_array().unwrap().len(), 1);
    let mut t = T::new();
    let c = t.conn();
    let out = t.send(c, register("a"));
    assert!(out[0].1.get("ice_transport_policy").is_none());
}

// ---- unregister ----

#[test]
fn unregister_every_answer() {
    let mut t = T::new();
    let c = t.conn();
    let unreg = |room: &str| json!({"class":"request","method":"unregister","transaction_id":"t-un","room_id":room});
    // room_id missing: dropped.
    assert!(t.send(c, json!({"class":"request","method":"unregister","transaction_id":"t"})).is_empty());
    // Not registered.
    assert_eq!(
        t.send(c, unreg("alice")),
        vec![(c, json!({"class":"reject","method":"unregister","room_id":"alice","reason":"unregistered","transaction_id":"t-un"}))]
    );
    t.send(c, register("alice"));
    // Another room's id.
    assert_eq!(
        t.send(c, unreg("bob")),
        vec![(c, json!({"class":"reject","method":"unregister","room_id":"bob","reason":"room_id: \"bob\" not match room_id:alice","transaction_id":"t-un"}))]
    );
    // Success.
    assert_eq!(
        t.send(c, unreg("alice")),
        vec![(c, json!({"class":"accept","method":"unregister","room_id":"alice","transaction_id":"t-un"}))]
    );
    assert_eq!(t.r.conn_of("alice"), None);
    assert_eq!(t.send(c, unreg("alice"))[0].1["reason"], "unregistered");
    // The id can be registered again, by anyone.
    t.registered("alice");
}

#[test]
fn unregister_sends_bye_to_every_peer() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    let c = t.registered("carol");
    t.call(b, a, "alice", "gb"); // bob calls alice
    t.call(a, c, "carol", "ga"); // alice calls carol
    let out = t.send(a, json!({"class":"request","method":"unregister","transaction_id":"t","room_id":"alice"}));
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[0], (a, json!({"class":"accept","method":"unregister","room_id":"alice","transaction_id":"t"})));
    let to_b = out.iter().find(|(c, _)| *c == b).unwrap();
    let to_c = out.iter().find(|(x, _)| *x == c).unwrap();
    for (v, room, guest) in [(&to_b.1, "alice", "gb"), (&to_c.1, "carol", "ga")] {
        assert_eq!(v["class"], "indication");
        assert_eq!(v["method"], "bye");
        assert_eq!(v["reason"], "peer unregister");
        assert_eq!(v["room_id"], room);
        assert_eq!(v["guest_id"], guest);
        let tid = v["transaction_id"].as_str().unwrap();
        assert_eq!(tid.len(), 32);
    }
    assert_ne!(to_b.1["transaction_id"], to_c.1["transaction_id"]);
    // Every record of those calls is gone.
    assert_eq!(
        t.rooms(),
        json!([{"room_id":"bob","tours":[],"guests":[]},{"room_id":"carol","tours":[],"guests":[]}])
    );
}

// ---- call ----

#[test]
fn call_request_is_forwarded_unchanged_and_recorded() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    // Byte-for-byte, including unknown keys and formatting.
    let text = "{ \"class\" : \"request\", \"method\":\"call\", \"transaction_id\":\"t1\", \"guest_id\":\"g1\",\n\
                \"room_id\":\"alice\", \"type\":\"push\", \"vhost\":\"v\", \"app\":\"a\", \"stream\":\"s\", \"sdp\":\"o\", \"x\":[1] }";
    let out = t.r.handle(b, text, t.now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, a);
    assert_eq!(out[0].1.text(), Some(text));
    assert_eq!(
        t.rooms(),
        json!([{"room_id":"alice","tours":[],"guests":[{"guest_id":"g1"}]},
               {"room_id":"bob","tours":[{"guest_id":"g1","room_id":"alice"}],"guests":[]}])
    );
}

#[test]
fn call_rejections() {
    let mut t = T::new();
    let c = t.conn();
    let fields = |reason: &str| {
        json!({"class":"reject","method":"call","room_id":"alice","guest_id":"g","vhost":"__defaultVhost__",
               "app":"live","stream":"s","type":"play","reason":reason,"transaction_id":"t-call"})
    };
    // Caller not registered.
    assert_eq!(t.send(c, call_req("alice", "g")), vec![(c, fields("should register first"))]);
    t.send(c, register("bob"));
    // Callee unknown.
    assert_eq!(t.send(c, call_req("alice", "g")), vec![(c, fields("room_id: \"alice\" unregistered"))]);
    // Every required key: missing or empty -> dropped silently.
    t.registered("alice");
    for key in ["transaction_id", "guest_id", "room_id", "vhost", "app", "stream", "type", "sdp"] {
        let mut m = call_req("alice", "g");
        m.as_object_mut().unwrap().remove(key);
        assert!(t.send(c, m).is_empty(), "without {key}");
        let mut m = call_req("alice", "g");
        m[key] = "".into();
        assert!(t.send(c, m).is_empty(), "with empty {key}");
    }
    assert_eq!(t.rooms()[0]["guests"], json!([]));
}

#[test]
fn call_accept_goes_back_to_the_caller() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    t.call(b, a, "alice", "g1");
    let ans = call_answer("accept", "alice", "g1");
    assert_eq!(t.send(a, ans.clone()), vec![(b, ans)]);
    // The call stays up.
    assert_eq!(t.rooms()[0]["guests"], json!([{"guest_id":"g1"}]));
}

#[test]
fn call_answer_rules() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    let stranger = t.conn();
    // Not registered: the reject has no `method`.
    assert_eq!(
        t.send(stranger, call_answer("accept", "alice", "g1")),
        vec![(stranger, json!({"class":"reject","room_id":"alice","reason":"should register first","transaction_id":"t-call"}))]
    );
    assert_eq!(t.send(stranger, call_answer("reject", "alice", "g1"))[0].1["reason"], "should register first");
    // Unknown guest: dropped.
    assert!(t.send(a, call_answer("accept", "alice", "nobody")).is_empty());
    t.call(b, a, "alice", "g1");
    // Only the callee can answer: the caller answering its own call goes nowhere.
    assert!(t.send(b, call_answer("accept", "alice", "g1")).is_empty());
    // Required keys.
    for key in ["guest_id", "room_id", "vhost", "app", "stream"] {
        let mut m = call_answer("accept", "alice", "g1");
        m.as_object_mut().unwrap().remove(key);
        assert!(t.send(a, m).is_empty(), "without {key}");
    }
}

#[test]
fn call_reject_is_relayed_and_ends_the_call() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    t.call(b, a, "alice", "g1");
    let rej = call_answer("reject", "alice", "g1");
    assert_eq!(t.send(a, rej.clone()), vec![(b, rej)]);
    assert_eq!(
        t.rooms(),
        json!([{"room_id":"alice","tours":[],"guests":[]},{"room_id":"bob","tours":[],"guests":[]}])
    );
    // Candidates of the ended call go nowhere.
    assert!(t.send(b, candidate("alice", "g1")).is_empty());
}

#[test]
fn guest_id_of_another_call_is_refused() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    let c = t.registered("carol");
    t.call(b, a, "alice", "g1");
    let out = t.send(c, call_req("alice", "g1"));
    assert_eq!(out[0].0, c);
    assert_eq!(out[0].1["reason"], "guest_id: \"g1\" conflict");
    // Bob reusing g1 towards another room is refused too.
    assert_eq!(t.send(b, call_req("carol", "g1"))[0].1["reason"], "guest_id: \"g1\" conflict");
    // Bob repeating his own call is forwarded again.
    t.call(b, a, "alice", "g1");
    // The accept still reaches Bob only.
    assert_eq!(t.send(a, call_answer("accept", "alice", "g1"))[0].0, b);
}

#[test]
fn calls_per_room_and_per_connection_are_limited() {
    let mut t = T::new(); // max_calls = 2
    let a = t.registered("alice");
    let b = t.registered("bob");
    t.call(b, a, "alice", "g1");
    t.call(b, a, "alice", "g2");
    let out = t.send(b, call_req("alice", "g3"));
    assert_eq!(out[0].1["reason"], "room_id: \"alice\" too many guests");
    let c = t.registered("carol");
    let d = t.registered("dave");
    t.call(c, d, "dave", "c1");
    t.call(c, b, "bob", "c2");
    let out = t.send(c, call_req("alice", "c3"));
    assert_eq!(out[0].1["reason"], "room_id: \"alice\" too many guests");
    let out = t.send(c, call_req("dave", "c4"));
    assert_eq!(out[0].1["reason"], REASON_TOO_MANY_CALLS);
    // A bye frees a slot.
    t.send(b, bye("alice", "g1"));
    let e = t.registered("erin");
    t.call(e, a, "alice", "e1");
}

#[test]
fn connections_are_limited() {
    let mut t = T::with(RoomsConfig { max_connections: 2, ..cfg() });
    let a = t.conn();
    t.conn();
    assert!(t.r.connect(t.now).is_none());
    t.r.disconnect(a);
    assert!(t.r.connect(t.now).is_some());
    assert_eq!(t.r.connections(), 2);
}

// ---- candidate ----

#[test]
fn candidates_flow_both_ways_along_the_call_only() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    let eve = t.registered("eve");
    t.call(b, a, "alice", "g1");
    // Caller -> callee (room_id = callee room).
    let c1 = candidate("alice", "g1");
    assert_eq!(t.send(b, c1.clone()), vec![(a, c1)]);
    // Callee -> caller (room_id = own room).
    let c2 = candidate("alice", "g1");
    assert_eq!(t.send(a, c2.clone()), vec![(b, c2)]);
    // A third party naming the call reaches nobody, whichever way it names it.
    assert!(t.send(eve, candidate("alice", "g1")).is_empty());
    assert!(t.send(eve, candidate("bob", "g1")).is_empty());
    // Unknown guest or room: dropped.
    assert!(t.send(a, candidate("alice", "nobody")).is_empty());
    assert!(t.send(b, candidate("zed", "g1")).is_empty());
}

#[test]
fn candidate_rules() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    let stranger = t.conn();
    assert_eq!(
        t.send(stranger, candidate("alice", "g1")),
        vec![(stranger, json!({"class":"reject","method":"candidate","room_id":"alice","reason":"should register first","transaction_id":"t-cand"}))]
    );
    t.call(b, a, "alice", "g1");
    for key in ["transaction_id", "guest_id", "room_id", "candidate", "ufrag", "pwd"] {
        let mut m = candidate("alice", "g1");
        m.as_object_mut().unwrap().remove(key);
        assert!(t.send(b, m).is_empty(), "without {key}");
    }
}

// ---- bye ----

#[test]
fn bye_is_relayed_and_ends_the_call() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    t.call(b, a, "alice", "g1");
    let m = bye("alice", "g1");
    assert_eq!(t.send(b, m.clone()), vec![(a, m)]);
    assert_eq!(
        t.rooms(),
        json!([{"room_id":"alice","tours":[],"guests":[]},{"room_id":"bob","tours":[],"guests":[]}])
    );
    // Callee hanging up.
    t.call(b, a, "alice", "g2");
    let m = bye("alice", "g2");
    assert_eq!(t.send(a, m.clone()), vec![(b, m)]);
    assert_eq!(t.rooms()[1]["tours"], json!([]));
    // Nothing left to hang up.
    assert!(t.send(a, bye("alice", "g2")).is_empty());
}

#[test]
fn bye_rules() {
    let mut t = T::new();
    let stranger = t.conn();
    assert_eq!(
        t.send(stranger, bye("alice", "g1")),
        vec![(stranger, json!({"class":"reject","method":"bye","room_id":"alice","guest_id":"g1","reason":"should register first","transaction_id":"t-bye"}))]
    );
    let a = t.registered("alice");
    let b = t.registered("bob");
    t.call(b, a, "alice", "g1");
    for key in ["guest_id", "room_id", "transaction_id"] {
        let mut m = bye("alice", "g1");
        m.as_object_mut().unwrap().remove(key);
        assert!(t.send(b, m).is_empty(), "without {key}");
    }
    assert_eq!(t.rooms()[0]["guests"], json!([{"guest_id":"g1"}]));
}

// ---- disconnect ----

#[test]
fn disconnect_sends_bye_and_frees_the_room() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    t.call(b, a, "alice", "g1");
    // The callee drops: the caller gets a bye naming the callee room.
    let out = frames(t.r.disconnect(a));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, b);
    let v = &out[0].1;
    assert_eq!((v["class"].as_str(), v["method"].as_str()), (Some("indication"), Some("bye")));
    assert_eq!((v["room_id"].as_str(), v["guest_id"].as_str()), (Some("alice"), Some("g1")));
    assert_eq!(v["reason"], "peer unregister");
    assert_eq!(t.rooms(), json!([{"room_id":"bob","tours":[],"guests":[]}]));
    // The caller drops: the callee gets a bye naming its own room.
    let a = t.registered("alice");
    t.call(b, a, "alice", "g2");
    let out = frames(t.r.disconnect(b));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, a);
    assert_eq!((out[0].1["room_id"].as_str(), out[0].1["guest_id"].as_str()), (Some("alice"), Some("g2")));
    assert_eq!(t.rooms(), json!([{"room_id":"alice","tours":[],"guests":[]}]));
    // Messages from a disconnected connection are ignored.
    assert!(t.send(b, register("bob")).is_empty());
    assert!(t.r.disconnect(b).is_empty());
}

// ---- malformed input ----

#[test]
fn malformed_messages_are_dropped_silently() {
    let mut t = T::new();
    let a = t.registered("alice");
    let b = t.registered("bob");
    t.call(b, a, "alice", "g1");
    for bad in [
        "",
        "not json",
        "{",
        "[]",
        "42",
        "\"register\"",
        "null",
        r#"{"class":"request","method":"register"}"#,
        r#"{"class":"request","transaction_id":"t","room_id":"x"}"#,
        r#"{"method":"register","transaction_id":"t","room_id":"x"}"#,
        r#"{"class":"","method":"register","transaction_id":"t","room_id":"x"}"#,
        r#"{"class":"request","method":"register","transaction_id":"","room_id":"x"}"#,
        r#"{"class":"request","method":"register","transaction_id":{"a":1},"room_id":"x"}"#,
        r#"{"class":"request","method":"register","transaction_id":"t","room_id":["x"]}"#,
        r#"{"class":"request","method":"dance","transaction_id":"t"}"#,
        r#"{"class":"indication","method":"register","transaction_id":"t","room_id":"x"}"#,
        r#"{"class":"accept","method":"register","transaction_id":"t","room_id":"x"}"#,
        r#"{"class":"request","method":"call","transaction_id":"t","guest_id":"g","room_id":"alice","type":"play","vhost":"v","app":"a","stream":"s","sdp":{"x":1}}"#,
    ] {
        assert!(t.raw(b, bad).is_empty(), "{bad:?} produced output");
    }
    assert_eq!(t.r.room_of(b), Some("bob"));
    // Numbers and booleans read as text, like ZLMediaKit's argument reader.
    let out = t.raw(a, r#"{"class":"request","method":"register","transaction_id":7,"room_id":"alice"}"#);
    assert_eq!(out[0].1["transaction_id"], "7");
    // Other rooms keep working.
    let c = candidate("alice", "g1");
    assert_eq!(t.send(b, c.clone()), vec![(a, c)]);
}

// ---- keepalive ----

#[test]
fn keepalive_pings_then_closes() {
    let mut t = T::new();
    let c = t.conn();
    let t0 = t.now;
    assert!(t.r.tick(t0 + Duration::from_secs(9)).is_empty());
    assert_eq!(t.r.tick(t0 + Duration::from_secs(10)), vec![(c, Outgoing::Ping)]);
    assert!(t.r.tick(t0 + Duration::from_secs(12)).is_empty(), "one ping per interval");
    assert_eq!(t.r.tick(t0 + Duration::from_secs(20)), vec![(c, Outgoing::Ping)]);
    // Anything received (a pong) restarts the clock.
    t.r.touch(c, t0 + Duration::from_secs(21));
    assert!(t.r.tick(t0 + Duration::from_secs(30)).is_empty());
    assert_eq!(t.r.tick(t0 + Duration::from_secs(31)), vec![(c, Outgoing::Ping)]);
    assert_eq!(t.r.tick(t0 + Duration::from_secs(51)), vec![(c, Outgoing::Close(CLOSE_TIMEOUT, "websocket timeout"))]);
    assert!(t.r.tick(t0 + Duration::from_secs(60)).is_empty(), "closed once");
    // A text message counts as activity too.
    let d = t.r.connect(t0).unwrap();
    t.r.handle(d, "garbage", t0 + Duration::from_secs(25));
    assert!(t.r.tick(t0 + Duration::from_secs(34)).iter().all(|(x, _)| *x != d));
}

// ---- configuration helpers ----

#[test]
fn ice_server_urls() {
    let v4: IpAddr = "203.0.113.5".parse().unwrap();
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    assert_eq!(
        ice_server(true, v4, 3478, "ZLMediaKit", "pw"),
        IceServer { url: "turn:203.0.113.5:3478?transport=udp".into(), ufrag: "ZLMediaKit".into(), pwd: "pw".into() }
    );
    assert_eq!(ice_server(false, v4, 9, "u", "p").url, "stun:203.0.113.5:9?transport=udp");
    assert_eq!(ice_server(true, v6, 3478, "u", "p").url, "turn:[2001:db8::1]:3478?transport=udp");
    assert_eq!(host_of_url("turn:[2001:db8::1]:3478?transport=udp").as_deref(), Some("2001:db8::1"));
    assert_eq!(host_of_url("stun:1.2.3.4:3478?transport=udp").as_deref(), Some("1.2.3.4"));
}

#[test]
fn advertised_ip_order() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let ifs = [ip("127.0.0.1"), ip("fe80::1"), ip("2001:db8::7"), ip("10.0.0.5")];
    let env = |name: &str| (name == "PUBLIC").then(|| "198.51.100.9".to_owned());
    assert_eq!(advertised_ip("203.0.113.1, 10.1.1.1", &env, &ifs), ip("203.0.113.1"));
    assert_eq!(advertised_ip("$PUBLIC", &env, &ifs), ip("198.51.100.9"));
    assert_eq!(advertised_ip("*", &env, &ifs), ip("10.0.0.5"));
    assert_eq!(advertised_ip("", &env, &ifs), ip("10.0.0.5"));
    assert_eq!(advertised_ip("$MISSING", &env, &ifs), ip("10.0.0.5"));
    assert_eq!(advertised_ip("", &env, &[ip("127.0.0.1"), ip("2001:db8::7")]), ip("2001:db8::7"));
    assert_eq!(advertised_ip("", &env, &[ip("127.0.0.1")]), ip("127.0.0.1"));
    assert_eq!(advertised_ip("", &env, &[]), ip("127.0.0.1"));
}

#[test]
fn config_from_weir_config() {
    let loaded = weir_config::load_from(
        Some("[rtc]\nexternIP=192.0.2.7\nicePort=5349\nenableTurn=0\niceUfrag=a\nicePwd=b\nsignalingPingSec=2\nsignalingTimeoutSec=5\nsignalingMaxGuests=3\n"),
        &[],
    )
    .unwrap();
    let c = crate::SignalConfig::from_config(&loaded.config);
    assert_eq!(c.rooms.ice_servers, vec![IceServer { url: "stun:192.0.2.7:5349?transport=udp".into(), ufrag: "a".into(), pwd: "b".into() }]);
    assert_eq!(c.rooms.ping_after, Duration::from_secs(2));
    assert_eq!(c.rooms.timeout, Duration::from_secs(5));
    assert_eq!(c.rooms.max_calls, 3);
    assert_eq!(c.rooms.max_connections, 10000);
    assert_eq!(c.max_message_size, 65536);
}

#[test]
fn self_signed_certificate_is_pem() {
    let (cert, key) = weir_net::tls::self_signed("wss", &["192.0.2.7".into()]).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    assert!(key.contains("PRIVATE KEY-----"), "{key}");
}
