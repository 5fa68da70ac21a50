//! The stream probe: a sink that reads a stream for a while and reports what it delivered —
//! per track the units, bytes, frames and keyframes, whether the units came in order and
//! complete, whether the first video unit was a keyframe, and whether the keyframe flags agree
//! with the payloads (checked here independently of the source's detector, for H.264 per RFC
//! 6184 and VP8 per RFC 7741). [`Probe`] is sans-IO; [`run_probe`] drives it from a sink port.

use std::time::{Duration, Instant};

use serde::Serialize;
use weir_stream::{Codec, MediaKind, SinkEvent, SinkPort, TrackDesc};

/// What one track delivered.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrackReport {
    pub kind: Option<MediaKind>,
    pub codec: Option<String>,
    pub units: u64,
    pub bytes: u64,
    /// Units with the RTP marker (video: frames).
    pub markers: u64,
    pub keyframes: u64,
    /// Whether the first unit (video: the first after each new source) was a keyframe.
    pub first_is_keyframe: Option<bool>,
    /// When the first unit arrived, from the probe's start.
    pub first_unit_ms: Option<u64>,
    /// Sequence numbers skipped (lost before the stream got them, or by the source).
    pub missing: u64,
    pub duplicates: u64,
    /// Units older than one already delivered.
    pub out_of_order: u64,
    /// Units whose keyframe flag was checked against the payload, and disagreements.
    pub keyframe_flags_checked: u64,
    pub keyframe_flag_mismatches: u64,
    pub kbps: f64,
    /// Video: frames per second (markers).
    pub fps: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ProbeReport {
    pub duration_ms: u64,
    /// The tracks of the latest `Tracks` event.
    pub tracks: Vec<TrackDesc>,
    /// `Tracks` events: the first, then one per new source.
    pub sources: u64,
    pub source_left: u64,
    /// Ring overflows (`Gap`) and the units they lost.
    pub gaps: u64,
    pub gap_units: u64,
    /// The stream ended while the probe read it.
    pub ended: bool,
    pub per_track: Vec<TrackReport>,
}

#[derive(Default)]
struct TrackState {
    report: TrackReport,
    last_seq: Option<u64>,
    /// The first unit after a new source has not come yet.
    fresh: bool,
}

/// Reads sink events and keeps the report.
pub struct Probe {
    started: Instant,
    report: ProbeReport,
    tracks: Vec<TrackState>,
}

impl Probe {
    pub fn new(now: Instant) -> Self {
        Probe { started: now, report: ProbeReport::default(), tracks: Vec::new() }
    }

    pub fn on_event(&mut self, ev: SinkEvent, now: Instant) {
        match ev {
            SinkEvent::Tracks { tracks, .. } => {
                self.report.sources += 1;
                self.report.tracks = tracks.to_vec();
                while self.tracks.len() < tracks.len() {
                    self.tracks.push(TrackState::default());
                }
                for (state, desc) in self.tracks.iter_mut().zip(tracks.iter()) {
                    state.report.kind = Some(desc.kind);
                    state.report.codec = Some(desc.codec.sdp_name().to_owned());
                    state.last_seq = None; // a new source numbers afresh
                    state.fresh = true;
                }
            }
            SinkEvent::Gap { dropped } => {
                self.report.gaps += 1;
                self.report.gap_units += dropped;
                for t in &mut self.tracks {
                    t.last_seq = None;
                }
            }
            SinkEvent::SourceLeft => self.report.source_left += 1,
            SinkEvent::Unit(u) => {
                let codec = self.report.tracks.get(u.track.index()).map(|t| t.codec);
                let Some(t) = self.tracks.get_mut(u.track.index()) else { return };
                let r = &mut t.report;
                r.units += 1;
                r.bytes += u.payload.len() as u64;
                r.markers += u64::from(u.marker);
                r.keyframes += u64::from(u.keyframe);
                r.first_unit_ms.get_or_insert(now.saturating_duration_since(self.started).as_millis() as u64);
                if std::mem::take(&mut t.fresh) && r.first_is_keyframe.is_none_or(|k| k) {
                    // Audio has no keyframes: only video's first unit must be one.
                    r.first_is_keyframe = Some(u.keyframe || r.kind == Some(MediaKind::Audio));
                }
                match t.last_seq {
                    Some(last) if u.seq == last => r.duplicates += 1,
                    Some(last) if u.seq < last => r.out_of_order += 1,
                    Some(last) => r.missing += u.seq - last - 1,
                    None => {}
                }
                if t.last_seq.is_none_or(|last| u.seq > last) {
                    t.last_seq = Some(u.seq);
                }
                let starts = match codec {
                    Some(Codec::H264) => Some(h264_starts_keyframe(&u.payload)),
                    Some(Codec::Vp8) => Some(vp8_starts_keyframe(&u.payload)),
                    _ => None,
                };
                if let Some(starts) = starts {
                    r.keyframe_flags_checked += 1;
                    r.keyframe_flag_mismatches += u64::from(starts != u.keyframe);
                }
            }
        }
    }

    pub fn end(&mut self) {
        self.report.ended = true;
    }

    pub fn report(&self, now: Instant) -> ProbeReport {
        let secs = now.saturating_duration_since(self.started).as_secs_f64().max(1e-3);
        let mut report = self.report.clone();
        report.duration_ms = (secs * 1000.0) as u64;
        report.per_track = self
            .tracks
            .iter()
            .map(|t| {
                let mut r = t.report.clone();
                r.kbps = (r.bytes as f64 * 8.0 / 1000.0 / secs * 10.0).round() / 10.0;
                if r.kind == Some(MediaKind::Video) {
                    r.fps = (r.markers as f64 / secs * 10.0).round() / 10.0;
                }
                r
            })
            .collect();
        report
    }
}

/// Reads `port` for `duration` (or until the stream ends) and reports.
pub async fn run_probe(mut port: SinkPort, duration: Duration) -> ProbeReport {
    let start = Instant::now();
    let mut probe = Probe::new(start);
    let deadline = tokio::time::Instant::now() + duration;
    loop {
        match tokio::time::timeout_at(deadline, port.recv()).await {
            Ok(Some(ev)) => probe.on_event(ev, Instant::now()),
            Ok(None) => {
                probe.end();
                break;
            }
            Err(_) => break,
        }
    }
    probe.report(Instant::now())
}

/// RFC 6184: does the payload start an IDR picture or the SPS before one? Single NAL units,
/// STAP-A (24) aggregates and FU-A (28) start fragments; malformed payloads say no.
fn h264_starts_keyframe(p: &[u8]) -> bool {
    const IDR: u8 = 5;
    const SPS: u8 = 7;
    let key = |nal_type: u8| nal_type == IDR || nal_type == SPS;
    match p.first().map(|b| b & 0x1f) {
        Some(24) => {
            let mut rest = &p[1..];
            while let [hi, lo, tail @ ..] = rest {
                let size = usize::from(u16::from_be_bytes([*hi, *lo]));
                let Some(nal) = tail.get(..size).filter(|n| !n.is_empty()) else { return false };
                if key(nal[0] & 0x1f) {
                    return true;
                }
                rest = &tail[size..];
            }
            false
        }
        Some(28) => p.get(1).is_some_and(|fu| fu & 0x80 != 0 && fu & 0x1f == IDR),
        Some(t) => key(t),
        None => false,
    }
}

/// RFC 7741: does the payload start a VP8 key frame? The descriptor's S bit with partition 0,
/// then the frame tag's inverted key frame bit (RFC 6386 section 9.1).
fn vp8_starts_keyframe(p: &[u8]) -> bool {
    let Some(&first) = p.first() else { return false };
    let (start, pid) = (first & 0x10 != 0, first & 0x07);
    if !start || pid != 0 {
        return false;
    }
    let mut i = 1;
    if first & 0x80 != 0 {
        let Some(&x) = p.get(i) else { return false };
        i += 1;
        if x & 0x80 != 0 {
            // PictureID: one byte, or two with the M bit.
            let Some(&pic) = p.get(i) else { return false };
            i += if pic & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            i += 1; // TID/KEYIDX
        }
    }
    p.get(i).is_some_and(|tag| tag & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use weir_stream::{MediaExt, MediaUnit, TrackId};

    fn unit(track: u8, seq: u64, keyframe: bool, payload: &[u8]) -> SinkEvent {
        SinkEvent::Unit(MediaUnit {
            payload: Arc::from(payload),
            arrival: Instant::now(),
            seq,
            ts: 0,
            track: TrackId(track),
            marker: true,
            keyframe,
            ext: MediaExt::default(),
        })
    }

    #[test]
    fn counts_order_gaps_and_keyframe_flags() {
        let t0 = Instant::now();
        let mut p = Probe::new(t0);
        let tracks: Arc<[TrackDesc]> = Arc::from(vec![TrackDesc::new(Codec::Opus), TrackDesc::new(Codec::H264)]);
        p.on_event(SinkEvent::Tracks { epoch: 1, tracks }, t0);
        p.on_event(unit(1, 10, true, &[0x78, 0, 2, 0x67, 0x42]), t0); // STAP-A with an SPS
        p.on_event(unit(1, 11, false, &[0x7c, 0x85, 0]), t0); // FU-A IDR start, not flagged
        p.on_event(unit(1, 13, false, &[0x41, 0]), t0); // one missing
        p.on_event(unit(1, 12, false, &[0x41, 0]), t0); // late
        p.on_event(unit(0, 500, false, &[0xb8]), t0);
        let r = p.report(t0 + Duration::from_secs(1));
        let v = &r.per_track[1];
        assert_eq!((v.units, v.keyframes, v.missing, v.out_of_order), (4, 1, 1, 1));
        assert_eq!(v.first_is_keyframe, Some(true));
        assert_eq!((v.keyframe_flags_checked, v.keyframe_flag_mismatches), (4, 1));
        assert_eq!(r.per_track[0].first_is_keyframe, Some(true), "audio needs none");
    }

    #[test]
    fn vp8_key_frames_by_descriptor_and_tag() {
        // X=1, S=1, PID=0; I=1 with a 15-bit picture id; frame tag with P=0 (key frame).
        assert!(vp8_starts_keyframe(&[0x90, 0x80, 0x81, 0x23, 0x50]));
        assert!(!vp8_starts_keyframe(&[0x90, 0x80, 0x81, 0x23, 0x51]), "inter frame");
        assert!(!vp8_starts_keyframe(&[0x80, 0x80, 0x81, 0x23, 0x50]), "not a partition start");
        assert!(!vp8_starts_keyframe(&[0x90, 0x80]), "truncated");
    }
}
