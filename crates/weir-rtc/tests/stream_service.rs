//! The engine as a stream owner for adapters on other threads: a source port's units reach a
//! sink port through the engine thread's hub, in order, GOP first; the directory follows; a
//! second source is refused; a dropped source ends the stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_core::StreamKey;
use weir_rtc::{Engine, EngineConfig};
use weir_stream::{
    Codec, HubError, MediaExt, MediaUnit, PublishRequest, SinkEvent, SinkPort, StreamError, StreamService, SubscribeRequest,
    TrackDesc, TrackId,
};

fn engine(continue_push: Duration) -> Engine {
    let cfg = EngineConfig {
        udp_bind: Some("127.0.0.1:0".parse().unwrap()),
        tcp_bind: None,
        continue_push,
        egress_threads: 1,
        ..EngineConfig::default()
    };
    Engine::start(cfg).unwrap()
}

fn tracks() -> Vec<TrackDesc> {
    vec![TrackDesc::new(Codec::Opus), TrackDesc::new(Codec::H264).with_fmtp("packetization-mode=1;profile-level-id=42e01f")]
}

fn unit(track: u8, seq: u64, keyframe: bool) -> MediaUnit {
    MediaUnit {
        payload: Arc::from(vec![seq as u8; 100]),
        arrival: Instant::now(),
        seq,
        ts: seq as u32 * 3000,
        track: TrackId(track),
        marker: true,
        keyframe,
        ext: MediaExt::default(),
    }
}

async fn next(sink: &mut SinkPort) -> Option<SinkEvent> {
    tokio::time::timeout(Duration::from_secs(5), sink.recv()).await.expect("an event within 5 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_flow_from_a_source_port_to_a_sink_port_through_the_engine() {
    let engine = engine(Duration::ZERO);
    let key = StreamKey::default_vhost("live", "core").unwrap();
    let (mut source, published) = engine.publish(PublishRequest::new(key.clone(), "test", tracks())).await.unwrap();
    assert!(!published.resumed);
    let snap = engine.directory().get(&key, Instant::now()).unwrap();
    assert_eq!(snap.source_protocol, Some("test"));
    assert_eq!(snap.tracks, tracks());

    // A GOP before the sink comes: it is replayed to it.
    source.push(unit(1, 100, true)).unwrap();
    source.push(unit(1, 101, false)).unwrap();
    // The engine drains the port on its own thread; give it a moment before the sink asks.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut sink = engine.subscribe(SubscribeRequest::new(key.clone(), "test")).await.unwrap();
    match next(&mut sink).await {
        Some(SinkEvent::Tracks { tracks: t, .. }) => assert_eq!(&*t, tracks().as_slice()),
        other => panic!("tracks first, got {other:?}"),
    }
    let mut seqs = Vec::new();
    for _ in 0..2 {
        match next(&mut sink).await {
            Some(SinkEvent::Unit(u)) => seqs.push((u.seq, u.keyframe)),
            other => panic!("a GOP unit, got {other:?}"),
        }
    }
    assert_eq!(seqs, vec![(100, true), (101, false)]);

    // Live units, audio and video, in order.
    for seq in 102..200 {
        source.push(unit(1, seq, false)).unwrap();
        source.push(unit(0, 1000 + seq, false)).unwrap();
    }
    let mut video = Vec::new();
    let mut audio = Vec::new();
    while video.len() < 98 || audio.len() < 98 {
        match next(&mut sink).await {
            Some(SinkEvent::Unit(u)) if u.track == TrackId(1) => video.push(u.seq),
            Some(SinkEvent::Unit(u)) => audio.push(u.seq),
            other => panic!("a live unit, got {other:?}"),
        }
    }
    assert_eq!(video, (102..200).collect::<Vec<_>>());
    assert_eq!(audio, (1102..1200).collect::<Vec<_>>());
    assert_eq!(sink.dropped(), 0);
    assert_eq!(engine.directory().get(&key, Instant::now()).unwrap().sinks.len(), 1);

    // One source at a time.
    let second = engine.publish(PublishRequest::new(key.clone(), "test", tracks())).await;
    assert_eq!(second.err(), Some(StreamError::Hub(HubError::AlreadyPublishing)));

    // The source leaves (no grace period): the stream ends for its sink and in the directory.
    drop(source);
    assert!(next(&mut sink).await.is_none(), "the stream ended");
    assert!(engine.directory().get(&key, Instant::now()).is_none());
}

#[tokio::test]
async fn a_sink_of_a_missing_stream_waits_then_is_refused() {
    let engine = engine(Duration::ZERO);
    let key = StreamKey::default_vhost("live", "nobody").unwrap();
    let t0 = Instant::now();
    let req = SubscribeRequest { max_wait: Duration::from_millis(200), ..SubscribeRequest::new(key, "test") };
    let res = engine.subscribe(req).await;
    assert_eq!(res.err(), Some(StreamError::Hub(HubError::NotFound)));
    assert!(t0.elapsed() >= Duration::from_millis(200), "it waited maxStreamWaitMS");
}
