//! The hub's rules (one source, grace period, directory), and the ports' delivery rules
//! (tracks first, GOP replay, keyframe start, overflow and resynchronisation).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use weir_core::StreamKey;

use crate::*;

type TestHub = Hub<u32>;

fn key(s: &str) -> StreamKey {
    StreamKey::default_vhost("live", s).unwrap()
}

fn av() -> Vec<TrackDesc> {
    vec![TrackDesc::new(Codec::Opus), TrackDesc::new(Codec::H264).with_fmtp("packetization-mode=1;profile-level-id=42e01f")]
}

fn hub() -> TestHub {
    Hub::new(HubConfig::default(), Directory::new())
}

fn local(id: &str, handle: u32) -> SourceClaim<u32> {
    SourceClaim { id: id.into(), protocol: "whip", tracks: av(), kind: SourceKind::Local(handle) }
}

fn unit(track: u8, seq: u64, ts: u32, keyframe: bool) -> MediaUnit {
    MediaUnit { track: TrackId(track), ..test_unit(seq, ts, keyframe) }
}

fn effects(h: &mut TestHub) -> Vec<HubEffect<u32>> {
    let mut out = Vec::new();
    h.take_effects(&mut out);
    out
}

#[test]
fn second_source_is_refused_while_first_is_live() {
    let mut h = hub();
    let now = Instant::now();
    assert!(h.claim_source(&key("a"), local("s1", 1), now).is_ok());
    assert_eq!(h.claim_source(&key("a"), local("s2", 2), now), Err(HubError::AlreadyPublishing));
    assert!(h.claim_source(&key("b"), local("s2", 2), now).is_ok());
    let snap = h.directory().snapshot(now);
    assert_eq!(snap.len(), 2);
    assert_eq!(snap[0].source_session.as_deref(), Some("s1"));
    assert_eq!(snap[0].tracks, av());
}

#[test]
fn source_leaving_without_sinks_removes_stream() {
    let mut h = hub();
    let now = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), now).unwrap().stream;
    h.release_source(id, "s1", now);
    assert!(h.directory().snapshot(now).is_empty());
    assert!(h.get(id).is_none());
    assert_eq!(h.add_local_sink(&key("a"), 5, "p1", "whep"), Err(HubError::NotFound));
}

#[test]
fn return_within_grace_resumes_for_sinks() {
    let mut h = hub();
    let t0 = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    assert_eq!(h.add_local_sink(&key("a"), 7, "p1", "whep"), Ok(id));
    h.release_source(id, "s1", t0);
    let snap = h.directory().get(&key("a"), t0).unwrap();
    assert!(snap.orphaned);
    assert_eq!(snap.tracks, av(), "an orphaned stream keeps its tracks for its sinks");
    let epoch = h.get(id).unwrap().epoch();
    let claimed = h.claim_source(&key("a"), local("s2", 2), t0 + Duration::from_secs(3)).unwrap();
    assert_eq!(claimed, Claimed { stream: id, resumed: true });
    let stream = h.get(id).unwrap();
    assert_eq!(stream.local_sinks(), &[7]);
    assert_eq!(stream.epoch(), epoch + 1, "a new source is a new epoch");
    assert_eq!(h.directory().get(&key("a"), t0).unwrap().sinks, vec!["p1".to_string()]);
    assert!(effects(&mut h).is_empty());
}

#[test]
fn orphans_expire_after_grace_and_their_sinks_close() {
    let mut h = hub();
    let t0 = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    h.add_local_sink(&key("a"), 7, "p1", "whep").unwrap();
    h.release_source(id, "s1", t0);
    h.expire_orphans(t0 + Duration::from_secs(14));
    assert!(h.get(id).is_some());
    h.expire_orphans(t0 + Duration::from_secs(15));
    assert!(h.get(id).is_none());
    assert!(h.directory().snapshot(t0).is_empty());
    assert_eq!(effects(&mut h), vec![HubEffect::CloseSink(7, "stream ended")]);
}

#[test]
fn stale_release_by_old_source_does_not_evict_new_one() {
    let mut h = hub();
    let t0 = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    h.add_local_sink(&key("a"), 7, "p1", "whep").unwrap();
    h.release_source(id, "s1", t0);
    h.claim_source(&key("a"), local("s2", 2), t0).unwrap();
    h.release_source(id, "s1", t0);
    assert_eq!(h.get(id).and_then(|s| s.local_source()), Some(2));
}

#[test]
fn an_orphan_nobody_watches_is_forgotten() {
    let mut h = hub();
    let t0 = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    h.add_local_sink(&key("a"), 7, "p1", "whep").unwrap();
    h.release_source(id, "s1", t0);
    h.remove_local_sink(id, 7, "p1");
    assert!(h.get(id).is_none());
    assert!(h.directory().is_empty());
    // The slot's next stream is not reachable through the old handle.
    let id2 = h.claim_source(&key("b"), local("s3", 3), t0).unwrap().stream;
    assert_eq!(id2.index(), id.index());
    assert!(h.get(id).is_none());
}

#[test]
fn units_are_queued_once_per_turn_for_local_sinks_and_cached() {
    let mut h = hub();
    let t0 = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    // Without sinks nothing is queued, but the GOP is cached.
    h.push(id, unit(1, 10, 0, true), t0);
    let mut pending = Vec::new();
    h.fanout_pending(&mut pending);
    assert!(pending.is_empty());
    h.add_local_sink(&key("a"), 7, "p1", "whep").unwrap();
    h.push(id, unit(1, 11, 0, false), t0);
    h.push(id, unit(0, 500, 960, false), t0);
    h.fanout_pending(&mut pending);
    assert_eq!(pending, vec![id]);
    let items = h.take_fanout(id);
    assert_eq!(items.iter().map(|i| (i.n, i.unit.seq)).collect::<Vec<_>>(), vec![(1, 11), (2, 500)]);
    h.return_fanout(id, items);
    let stream = h.get(id).unwrap();
    assert_eq!(stream.fanout_count(), 2);
    let (video, track) = stream.track_of_kind(MediaKind::Video).unwrap();
    assert_eq!(video, TrackId(1));
    assert_eq!(track.gop().iter().map(|u| u.seq).collect::<Vec<_>>(), vec![10, 11]);
    assert!(track.recent().and_then(|r| r.get(11)).is_some());
    assert!(stream.track_of_kind(MediaKind::Audio).unwrap().1.recent().is_none(), "audio is not retransmitted");
}

#[test]
fn keyframe_requests_are_throttled_per_stream() {
    let mut h = hub();
    let t0 = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    assert_eq!(h.request_keyframe(id, t0), Some(1));
    assert_eq!(h.request_keyframe(id, t0 + Duration::from_millis(100)), None);
    assert_eq!(h.request_keyframe(id, t0 + Duration::from_millis(500)), Some(1));
}

#[tokio::test]
async fn waiting_player_wakes_when_source_arrives() {
    let dir = Directory::new();
    let waiter = {
        let dir = dir.clone();
        tokio::spawn(async move { dir.wait_for_source(&key("a"), Duration::from_secs(5)).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut h: TestHub = Hub::new(HubConfig::default(), dir.clone());
    h.claim_source(&key("a"), local("s1", 1), Instant::now()).unwrap();
    assert_eq!(waiter.await.unwrap(), Some(av()));
    assert_eq!(dir.wait_for_source(&key("b"), Duration::from_millis(30)).await, None);
    // An orphaned stream makes a new sink wait for its source to return.
    let id = h.find(&key("a")).unwrap();
    h.add_local_sink(&key("a"), 7, "p1", "whep").unwrap();
    h.release_source(id, "s1", Instant::now());
    assert_eq!(dir.wait_for_source(&key("a"), Duration::from_millis(30)).await, None);
}

// ---------------------------------------------------------------------------------------------
// Ports

fn events(port: &mut SinkPort) -> Vec<SinkEvent> {
    std::iter::from_fn(|| port.try_recv()).collect()
}

fn described(evs: &[SinkEvent]) -> Vec<String> {
    evs.iter()
        .map(|e| match e {
            SinkEvent::Tracks { epoch, tracks } => format!("tracks{epoch}x{}", tracks.len()),
            SinkEvent::Unit(u) => format!("{}{}:{}", if u.keyframe { "K" } else { "" }, u.track.0, u.seq),
            SinkEvent::Gap { dropped } => format!("gap{dropped}"),
            SinkEvent::SourceLeft => "left".into(),
        })
        .collect()
}

#[test]
fn a_foreign_sink_gets_tracks_then_the_gop_then_live_units_from_a_keyframe() {
    let mut h = hub();
    let t0 = Instant::now();
    let owner = Arc::new(Notify::new());
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    h.push(id, unit(1, 10, 0, true), t0);
    h.push(id, unit(1, 11, 0, false), t0);
    let (mut port, end) = sink_port(64, owner.clone());
    h.add_foreign_sink(&key("a"), "probe1", "probe", end, t0).unwrap();
    h.push(id, unit(0, 100, 0, false), t0);
    h.push(id, unit(1, 12, 3000, false), t0);
    h.wake_sinks();
    assert_eq!(described(&events(&mut port)), ["tracks1x2", "K1:10", "1:11", "0:100", "1:12"]);
    assert_eq!(h.directory().get(&key("a"), t0).unwrap().sinks, vec!["probe1".to_string()]);

    // Without a cached keyframe a new sink gets audio at once and video from the next keyframe,
    // and the source is asked for one.
    let id_b = h.claim_source(&key("b"), local("s2", 2), t0).unwrap().stream;
    let (mut port_b, end_b) = sink_port(64, owner);
    h.add_foreign_sink(&key("b"), "probe2", "probe", end_b, t0).unwrap();
    assert_eq!(effects(&mut h), vec![HubEffect::RequestKeyframe(2)]);
    h.push(id_b, unit(1, 5, 0, false), t0);
    h.push(id_b, unit(0, 6, 0, false), t0);
    h.push(id_b, unit(1, 7, 3000, true), t0);
    assert_eq!(described(&events(&mut port_b)), ["tracks1x2", "0:6", "K1:7"]);
}

#[test]
fn a_full_sink_drops_and_resynchronises_at_the_next_keyframe() {
    let mut h = hub();
    let t0 = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    let (mut port, end) = sink_port(16, Arc::new(Notify::new()));
    h.add_foreign_sink(&key("a"), "slow", "probe", end, t0).unwrap();
    effects(&mut h);
    // Past the keyframe request throttle of the sink's start.
    let t1 = t0 + Duration::from_secs(1);
    h.push(id, unit(1, 0, 0, true), t1);
    for seq in 1..40 {
        h.push(id, unit(1, seq, 0, false), t1);
    }
    // 16 slots: the tracks and 15 units; the 16th unit overflowed, a keyframe was asked for.
    assert_eq!(effects(&mut h), vec![HubEffect::RequestKeyframe(1)]);
    let first = events(&mut port);
    assert_eq!(first.len(), 16);
    // Audio and video alike wait for the keyframe now.
    h.push(id, unit(0, 900, 0, false), t0);
    h.push(id, unit(1, 40, 9000, true), t0);
    h.push(id, unit(0, 901, 960, false), t0);
    assert_eq!(described(&events(&mut port)), ["gap26", "K1:40", "0:901"]);
    assert_eq!(port.dropped(), 26);
}

#[test]
fn a_new_source_is_announced_to_foreign_sinks_before_its_units() {
    let mut h = hub();
    let t0 = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    let (mut port, end) = sink_port(64, Arc::new(Notify::new()));
    h.add_foreign_sink(&key("a"), "probe", "probe", end, t0).unwrap();
    h.push(id, unit(1, 1, 0, true), t0);
    h.release_source(id, "s1", t0);
    h.claim_source(&key("a"), local("s2", 2), t0).unwrap();
    h.push(id, unit(1, 70_000, 5, false), t0);
    h.push(id, unit(1, 70_001, 5, true), t0);
    assert_eq!(described(&events(&mut port)), ["tracks1x2", "K1:1", "left", "tracks2x2", "K1:70001"]);
}

#[tokio::test]
async fn a_foreign_source_feeds_local_and_foreign_sinks_and_leaves_when_dropped() {
    let mut h = hub();
    let t0 = Instant::now();
    let owner = Arc::new(Notify::new());
    let (mut source, end) = source_port(64, owner.clone());
    let claim = SourceClaim { id: "gen1".into(), protocol: "testsrc", tracks: av(), kind: SourceKind::Foreign(end) };
    let id = h.claim_source(&key("a"), claim, t0).unwrap().stream;
    h.add_local_sink(&key("a"), 9, "p1", "whep").unwrap();
    let (mut sink, sink_end) = sink_port(64, owner.clone());
    h.add_foreign_sink(&key("a"), "probe", "probe", sink_end, t0).unwrap();
    // The new sink's keyframe request reached the source port.
    assert!(source.take_keyframe_request());

    source.push(unit(1, 1, 0, true)).unwrap();
    source.push(unit(0, 2, 0, false)).unwrap();
    // One wake-up for the burst.
    tokio::time::timeout(Duration::from_secs(1), owner.notified()).await.unwrap();
    h.poll_foreign(t0);
    h.wake_sinks();
    let mut pending = Vec::new();
    h.fanout_pending(&mut pending);
    assert_eq!(pending, vec![id]);
    assert_eq!(h.take_fanout(id).len(), 2);
    assert_eq!(described(&events(&mut sink)), ["tracks1x2", "K1:1", "0:2"]);

    // A local sink asks for a keyframe: the throttle lets it through once a second interval
    // passed, then the port learns of it.
    assert_eq!(h.request_keyframe(id, t0 + Duration::from_secs(1)), None);
    tokio::time::timeout(Duration::from_secs(1), source.keyframe_requests().wait()).await.unwrap();

    drop(source);
    h.poll_foreign(t0);
    let snap = h.directory().get(&key("a"), t0).unwrap();
    assert!(snap.orphaned, "sinks wait for the source to return");
    h.expire_orphans(t0 + Duration::from_secs(20));
    assert_eq!(effects(&mut h), vec![HubEffect::CloseSink(9, "stream ended")]);
    assert!(tokio::time::timeout(Duration::from_secs(1), sink.recv()).await.unwrap().is_some_and(|e| matches!(e, SinkEvent::SourceLeft)));
    assert!(tokio::time::timeout(Duration::from_secs(1), sink.recv()).await.unwrap().is_none(), "ended");
}

#[test]
fn a_dropped_sink_port_leaves_the_stream() {
    let mut h = hub();
    let t0 = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    let (port, end) = sink_port(64, Arc::new(Notify::new()));
    h.add_foreign_sink(&key("a"), "probe", "probe", end, t0).unwrap();
    drop(port);
    h.poll_foreign(t0);
    assert_eq!(h.get(id).unwrap().foreign_sink_count(), 0);
    assert!(h.directory().get(&key("a"), t0).unwrap().sinks.is_empty());
}

#[test]
fn a_full_source_port_says_so() {
    let (mut source, _end) = source_port(16, Arc::new(Notify::new()));
    for seq in 0..16 {
        source.push(unit(0, seq, 0, false)).unwrap();
    }
    assert_eq!(source.push(unit(0, 16, 0, false)), Err(PushError::Full));
    assert_eq!(source.dropped(), 1);
    drop(_end);
    assert_eq!(source.push(unit(0, 17, 0, false)), Err(PushError::Closed));
}

#[test]
fn lifecycle_events_are_emitted_without_waiting() {
    use crate::StreamEvent;
    let dir = Directory::new();
    let mut rx = dir.subscribe_events(16).unwrap();
    assert!(dir.subscribe_events(16).is_none(), "one subscriber");
    let mut h: TestHub = Hub::new(HubConfig::default(), dir.clone());
    let t0 = Instant::now();
    let id = h.claim_source(&key("a"), local("s1", 1), t0).unwrap().stream;
    h.add_local_sink(&key("a"), 7, "p1", "whep").unwrap();
    h.remove_local_sink(id, 7, "p1");
    h.release_source(id, "s1", t0);
    let mut got = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        got.push(ev);
    }
    assert_eq!(
        got,
        [
            StreamEvent::SourceUp { key: key("a"), session: "s1".into(), protocol: "whip" },
            StreamEvent::NoReaders { key: key("a") },
            StreamEvent::NoReaders { key: key("a") },
            StreamEvent::SourceDown { key: key("a"), session: "s1".into() },
        ]
    );
    // A full channel drops (counted) instead of blocking the caller.
    for i in 0..40 {
        h.claim_source(&key(&format!("x{i}")), local("s", 100 + i), t0).unwrap();
    }
    let (sent, dropped) = dir.event_counts();
    assert_eq!(sent, 4 + 16, "the 4 read above, then the channel filled");
    assert!(dropped > 0);
}
