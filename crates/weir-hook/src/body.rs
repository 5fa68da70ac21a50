//! The JSON bodies ZLMediaKit sends (spec §A14.2-A14.7). `mediaServerId` and `hook_index` are
//! added by the transport ([`crate::Hooks`]).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Map, Value};
use weir_core::StreamKey;

/// Who asked, for `on_publish` / `on_play` / `on_stream_not_found`: the HTTP signaling
/// connection, as in ZLMediaKit (not the media socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requester {
    pub key: StreamKey,
    /// The request's raw query string.
    pub params: String,
    pub peer: Option<SocketAddr>,
    /// An identifier of the signaling request (ZLMediaKit: the HTTP session's).
    pub id: String,
}

fn base(schema: &str, key: &StreamKey, params: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("schema".into(), json!(schema));
    m.insert("vhost".into(), json!(key.vhost));
    m.insert("app".into(), json!(key.app));
    m.insert("stream".into(), json!(key.stream));
    m.insert("params".into(), json!(params));
    m
}

fn with_peer(mut m: Map<String, Value>, peer: Option<SocketAddr>, id: &str) -> Map<String, Value> {
    m.insert("ip".into(), json!(peer.map(|p| p.ip().to_string()).unwrap_or_default()));
    m.insert("port".into(), json!(peer.map(|p| p.port()).unwrap_or(0)));
    m.insert("id".into(), json!(id));
    m
}

/// `on_publish`: `originType` 8 = `rtc_push`.
pub fn on_publish(r: &Requester) -> Map<String, Value> {
    let mut m = with_peer(base("rtc", &r.key, &r.params), r.peer, &r.id);
    m.insert("protocol".into(), json!("rtc"));
    m.insert("originType".into(), json!(8));
    m.insert("originTypeStr".into(), json!("rtc_push"));
    m
}

/// `on_play`: the same fields without the origin.
pub fn on_play(r: &Requester) -> Map<String, Value> {
    let mut m = with_peer(base("rtc", &r.key, &r.params), r.peer, &r.id);
    m.insert("protocol".into(), json!("rtc"));
    m
}

/// `on_stream_not_found`: ZLMediaKit looks WebRTC streams up as RTSP sources, hence `rtsp`.
pub fn on_stream_not_found(r: &Requester) -> Map<String, Value> {
    let mut m = with_peer(base("rtsp", &r.key, &r.params), r.peer, &r.id);
    m.insert("protocol".into(), json!("rtsp"));
    m
}

/// `on_stream_none_reader`.
pub fn on_stream_none_reader(key: &StreamKey, params: &str) -> Map<String, Value> {
    base("rtsp", key, params)
}

/// `on_stream_changed`. Register carries what Weir knows of the source (ZLMediaKit sends its
/// whole `getMediaList` item; `originType`/`originTypeStr` and `originSock` here).
pub fn on_stream_changed(key: &StreamKey, params: &str, regist: bool, source: Option<(&str, &str)>) -> Map<String, Value> {
    let mut m = base("rtsp", key, params);
    m.insert("regist".into(), json!(regist));
    if let (true, Some((session, protocol))) = (regist, source) {
        m.insert("originType".into(), json!(8));
        m.insert("originTypeStr".into(), json!("rtc_push"));
        m.insert("originUrl".into(), json!(format!("rtc://{}/{}/{}", key.vhost, key.app, key.stream)));
        m.insert("originSock".into(), json!({"identifier": session, "protocol": protocol}));
    }
    m
}

/// What `on_flow_report` says of one ended session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub key: StreamKey,
    pub params: String,
    pub session: String,
    pub player: bool,
    pub bytes: u64,
    pub duration: Duration,
    pub media_peer: Option<SocketAddr>,
}

/// `on_flow_report`: `ip`/`port`/`id` of the media socket, `duration` in seconds.
pub fn on_flow_report(f: &Flow) -> Map<String, Value> {
    let mut m = with_peer(base("rtc", &f.key, &f.params), f.media_peer, &f.session);
    m.insert("protocol".into(), json!("rtc"));
    m.insert("totalBytes".into(), json!(f.bytes));
    m.insert("duration".into(), json!(f.duration.as_secs()));
    m.insert("player".into(), json!(f.player));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Requester {
        Requester {
            key: StreamKey::new("__defaultVhost__", "live", "test").unwrap(),
            params: "token=abc&x=1".into(),
            peer: Some("192.168.1.100:12345".parse().unwrap()),
            id: "http-7".into(),
        }
    }

    #[test]
    fn on_publish_has_the_contract_fields() {
        let v = Value::Object(on_publish(&req()));
        assert_eq!(
            v,
            json!({"schema":"rtc","protocol":"rtc","vhost":"__defaultVhost__","app":"live","stream":"test",
                "params":"token=abc&x=1","ip":"192.168.1.100","port":12345,"id":"http-7",
                "originType":8,"originTypeStr":"rtc_push"})
        );
    }

    #[test]
    fn on_play_and_not_found() {
        let v = Value::Object(on_play(&req()));
        assert!(v.get("originType").is_none());
        assert_eq!(v["schema"], "rtc");
        assert_eq!(v["port"], 12345);
        let v = Value::Object(on_stream_not_found(&req()));
        assert_eq!(v["schema"], "rtsp");
        assert_eq!(v["protocol"], "rtsp");
        let no_peer = Requester { peer: None, ..req() };
        let v = Value::Object(on_play(&no_peer));
        assert_eq!((v["ip"].as_str(), v["port"].as_u64()), (Some(""), Some(0)));
    }

    #[test]
    fn lifecycle_bodies() {
        let k = req().key;
        let up = Value::Object(on_stream_changed(&k, "", true, Some(("sess1", "whip"))));
        assert_eq!(up["regist"], true);
        assert_eq!(up["originSock"]["identifier"], "sess1");
        let down = Value::Object(on_stream_changed(&k, "", false, None));
        assert_eq!(down, json!({"schema":"rtsp","vhost":"__defaultVhost__","app":"live","stream":"test","params":"","regist":false}));
        let nr = Value::Object(on_stream_none_reader(&k, ""));
        assert_eq!(nr["stream"], "test");
        let flow = Flow {
            key: k,
            params: "a=1".into(),
            session: "s".into(),
            player: true,
            bytes: 5000,
            duration: Duration::from_millis(2500),
            media_peer: Some("10.0.0.1:5000".parse().unwrap()),
        };
        let v = Value::Object(on_flow_report(&flow));
        assert_eq!((v["totalBytes"].as_u64(), v["duration"].as_u64(), v["player"].as_bool()), (Some(5000), Some(2), Some(true)));
        assert_eq!(v["ip"], "10.0.0.1");
    }
}
