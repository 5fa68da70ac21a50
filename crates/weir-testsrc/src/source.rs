//! The test pattern as a stream source: H.264 pictures from [`PatternEncoder`] packetized once
//! (RFC 6184) and the Opus tone every 20 ms, as [`MediaUnit`]s on the stream core's currency.
//! [`PatternStream`] is sans-IO (time in, units out); [`run_pattern`] drives it into a source
//! port until it is stopped or the stream closes the port.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;
use tracing::debug;
use weir_stream::{CaptureTime, Codec, DecoderConfig, MediaExt, MediaUnit, PushError, SourcePort, TrackDesc, TrackId};

use crate::opus::{tone_packet, TONE_SAMPLES};
use crate::pattern::{PatternEncoder, PatternError};
use crate::rfc6184::packetize;

/// Largest RTP payload produced: room for the RTP header, its extensions and SRTP under a
/// 1500-byte MTU.
pub const MAX_PAYLOAD: usize = 1150;
const AUDIO_TRACK: TrackId = TrackId(0);
const VIDEO_TRACK: TrackId = TrackId(1);
const AUDIO_PACKET: Duration = Duration::from_millis(20);
/// A source woken this late (a suspended process, an overloaded machine) starts afresh instead
/// of sending everything it missed at once.
const MAX_LAG: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PatternConfig {
    pub width: u16,
    pub height: u16,
    pub fps: u32,
    /// Frames from one IDR picture to the next.
    pub gop_frames: u32,
}

impl Default for PatternConfig {
    fn default() -> Self {
        PatternConfig { width: 320, height: 240, fps: 15, gop_frames: 30 }
    }
}

/// The test pattern's units over time.
pub struct PatternStream {
    encoder: PatternEncoder,
    cfg: PatternConfig,
    tracks: Vec<TrackDesc>,
    start: Option<Instant>,
    frames: u64,
    audio_packets: u64,
    video_seq: u64,
    audio_seq: u64,
    /// Random RTP timestamp offsets (RFC 3550 section 5.1).
    video_ts_offset: u32,
    audio_ts_offset: u32,
    payloads: Vec<Vec<u8>>,
}

impl PatternStream {
    pub fn new(cfg: PatternConfig) -> Result<Self, PatternError> {
        let encoder = PatternEncoder::new(cfg.width, cfg.height, cfg.fps, cfg.gop_frames)?;
        let video = TrackDesc {
            config: DecoderConfig::ParameterSets(vec![encoder.sps().to_vec(), encoder.pps().to_vec()]),
            ..TrackDesc::new(Codec::H264).with_fmtp("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f")
        };
        let audio = TrackDesc::new(Codec::Opus).with_fmtp("minptime=10;useinbandfec=1");
        Ok(PatternStream {
            encoder,
            cfg,
            tracks: vec![audio, video],
            start: None,
            frames: 0,
            audio_packets: 0,
            video_seq: u64::from(rand::random::<u16>()),
            audio_seq: u64::from(rand::random::<u16>()),
            video_ts_offset: rand::random(),
            audio_ts_offset: rand::random(),
            payloads: Vec::new(),
        })
    }

    /// Audio (Opus) is track 0, video (H.264) track 1.
    pub fn tracks(&self) -> Vec<TrackDesc> {
        self.tracks.clone()
    }

    pub fn config(&self) -> PatternConfig {
        self.cfg
    }

    /// The next picture is an IDR picture (a sink asked for a keyframe).
    pub fn request_keyframe(&mut self) {
        self.encoder.request_keyframe();
    }

    fn frame_due(&self, start: Instant) -> Instant {
        start + Duration::from_secs_f64(self.frames as f64 / f64::from(self.cfg.fps.max(1)))
    }

    fn audio_due(&self, start: Instant) -> Instant {
        start + AUDIO_PACKET * (self.audio_packets as u32)
    }

    /// Appends the units due at `now` to `out` and returns when the next one is due.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<MediaUnit>) -> Instant {
        let mut start = *self.start.get_or_insert(now);
        if now.saturating_duration_since(self.frame_due(start).min(self.audio_due(start))) > MAX_LAG {
            // Rebase the schedule on now: what was missed is skipped, not sent at once.
            start = now
                - Duration::from_secs_f64(self.frames as f64 / f64::from(self.cfg.fps.max(1)))
                    .max(AUDIO_PACKET * (self.audio_packets as u32));
            self.start = Some(start);
        }
        let capture = Some(CaptureTime { at: SystemTime::now(), clock_offset: None });
        while self.frame_due(start) <= now {
            self.frames += 1;
            let frame = self.encoder.next_frame();
            self.payloads.clear();
            packetize(&frame.nals, MAX_PAYLOAD, &mut self.payloads);
            let n = self.payloads.len();
            for (i, p) in self.payloads.drain(..).enumerate() {
                // The parameter sets and the start of the IDR slice: where a decoder can start.
                let keyframe = frame.keyframe && (i == 0 || starts_idr_slice(&p));
                out.push(MediaUnit {
                    payload: Arc::from(p),
                    arrival: now,
                    seq: self.video_seq,
                    ts: frame.rtp_timestamp.wrapping_add(self.video_ts_offset),
                    track: VIDEO_TRACK,
                    marker: i + 1 == n,
                    keyframe,
                    ext: MediaExt { capture_time: capture, ..Default::default() },
                });
                self.video_seq += 1;
            }
        }
        while self.audio_due(start) <= now {
            out.push(MediaUnit {
                payload: Arc::from(tone_packet()),
                arrival: now,
                seq: self.audio_seq,
                ts: (self.audio_packets as u32).wrapping_mul(TONE_SAMPLES).wrapping_add(self.audio_ts_offset),
                track: AUDIO_TRACK,
                // RFC 3551 section 4.1: the first packet of a talk spurt.
                marker: self.audio_packets == 0,
                keyframe: false,
                ext: MediaExt { capture_time: capture, audio_level: Some(-21), voice_activity: Some(true), ..Default::default() },
            });
            self.audio_seq += 1;
            self.audio_packets += 1;
        }
        self.frame_due(start).min(self.audio_due(start))
    }
}

/// RFC 6184: a single NAL unit packet of an IDR slice, or the first FU-A fragment of one.
fn starts_idr_slice(p: &[u8]) -> bool {
    const IDR: u8 = 5;
    match p.first().map(|b| b & 0x1f) {
        Some(IDR) => true,
        Some(28) => p.get(1).is_some_and(|fu| fu & 0x80 != 0 && fu & 0x1f == IDR),
        _ => false,
    }
}

/// What a pattern source did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PatternStats {
    pub units: u64,
    /// Units the stream's input queue refused (it was full).
    pub dropped: u64,
    pub keyframe_requests: u64,
}

/// Feeds `stream` into `port` in real time until `stop` fires (or its sender is dropped) or the
/// stream closes the port.
pub async fn run_pattern(mut port: SourcePort, mut stream: PatternStream, mut stop: oneshot::Receiver<()>) -> PatternStats {
    let mut stats = PatternStats::default();
    let mut units = Vec::new();
    let keyframes = port.keyframe_requests();
    loop {
        let next = stream.poll(Instant::now(), &mut units);
        for unit in units.drain(..) {
            match port.push(unit) {
                Ok(()) => stats.units += 1,
                Err(PushError::Full) => stats.dropped += 1,
                Err(PushError::Closed) => return stats,
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = keyframes.wait() => {
                if port.is_closed() {
                    return stats;
                }
                stats.keyframe_requests += 1;
                debug!("test pattern: keyframe requested");
                stream.request_keyframe();
            }
            _ = &mut stop => return stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_follow_the_clock_with_keyframes_markers_and_continuous_numbers() {
        let mut s = PatternStream::new(PatternConfig { width: 160, height: 96, fps: 10, gop_frames: 5 }).unwrap();
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut at = t0;
        while at < t0 + Duration::from_millis(1000) {
            at = s.poll(at, &mut out);
        }
        let video: Vec<&MediaUnit> = out.iter().filter(|u| u.track == VIDEO_TRACK).collect();
        let audio: Vec<&MediaUnit> = out.iter().filter(|u| u.track == AUDIO_TRACK).collect();
        // One second: 10 frames (0, 0.1, ..., 0.9 s) and 50 audio packets (every 20 ms).
        assert_eq!(video.iter().filter(|u| u.marker).count(), 10);
        assert_eq!(audio.len(), 50);
        assert!(video[0].keyframe && video[0].payload[0] & 0x1f == 24, "a keyframe starts with STAP-A (SPS, PPS)");
        // Frames 0 and 5: each the STAP-A of SPS and PPS, then the IDR slice's first fragment.
        assert_eq!(video.iter().filter(|u| u.keyframe).count(), 4);
        assert!(video.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        assert!(audio.windows(2).all(|w| w[1].seq == w[0].seq + 1 && w[1].ts.wrapping_sub(w[0].ts) == 960));
        assert!(video.iter().all(|u| u.payload.len() <= MAX_PAYLOAD));
        let frame_ts: Vec<u32> = video.iter().filter(|u| u.marker).map(|u| u.ts).collect();
        assert!(frame_ts.windows(2).all(|w| w[1].wrapping_sub(w[0]) == 9000));
    }

    #[test]
    fn a_late_wakeup_skips_instead_of_bursting() {
        let mut s = PatternStream::new(PatternConfig::default()).unwrap();
        let t0 = Instant::now();
        let mut out = Vec::new();
        s.poll(t0, &mut out);
        out.clear();
        s.poll(t0 + Duration::from_secs(30), &mut out);
        let frames = out.iter().filter(|u| u.track == VIDEO_TRACK && u.marker).count();
        assert!(frames <= 2, "{frames} frames after a 30 s stall");
    }
}
