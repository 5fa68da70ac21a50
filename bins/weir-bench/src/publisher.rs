//! The synthetic WHIP publisher: a str0m client sending H264 (SPS/PPS + IDR every `gop` seconds,
//! FU-A fragmented) and Opus-sized audio at a chosen bitrate and frame rate. Every packet carries
//! abs-capture-time (the wall-clock send time) so players measure latency through the server
//! from the clear RTP header, and a payload stamp (its number) for the players' sampled checks.

use crate::clip::Clip;
use crate::h264;
use crate::http;
use std::sync::Arc;
use crate::rtp::ntp_of;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{AbsCaptureTime, Extension, ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

pub const AUDIO_BYTES: usize = 100;
/// One audio packet every 20 ms (Opus frames), 50 a second.
pub const AUDIO_MS: u64 = 20;

/// Media shape of a publisher.
#[derive(Clone, Copy)]
pub struct MediaShape {
    pub bitrate_kbps: f64,
    pub fps: f64,
    pub gop_secs: f64,
    /// Video pacing rate as a multiple of the bitrate (libwebrtc's default is 2.5); 0 sends
    /// every packet of a frame at once, as OBS, GStreamer and FFmpeg publishers do.
    pub pacing: f64,
}

impl MediaShape {
    /// Frames per GOP and the NAL bytes of a delta frame. A keyframe is as big as 4 delta
    /// frames: (F - 1) d + 4 d = bytes per GOP.
    pub fn frame_sizes(&self) -> (u64, usize) {
        let frames_per_gop = ((self.fps * self.gop_secs).round() as u64).max(1);
        let gop_bytes = self.bitrate_kbps * 1000.0 / 8.0 * (frames_per_gop as f64 / self.fps);
        (frames_per_gop, (gop_bytes / (frames_per_gop as f64 + 3.0)) as usize)
    }

    /// One GOP of this stream as RTP payload sizes, in send order, grouped by what leaves the
    /// publisher together: all packets of a frame when it bursts, one video packet at a time
    /// when it paces, and every audio packet alone. The raw-limit probe sends exactly these.
    pub fn gop_events(&self) -> Vec<Vec<usize>> {
        let (frames, delta_bytes) = self.frame_sizes();
        let mut rng = h264::Rng(1);
        let frame_sizes = (0..frames)
            .map(|f| {
                let size = if f == 0 { delta_bytes * 4 } else { delta_bytes };
                h264::frame(f == 0, size, 0, 0, &mut rng).iter().map(Vec::len).collect()
            })
            .collect();
        let audio_per_gop = (frames as f64 / self.fps * 1000.0 / AUDIO_MS as f64).round() as usize;
        let audio_size = h264::audio(AUDIO_BYTES, 0, 0, &mut rng).len();
        self.events_of(frame_sizes, vec![audio_size; audio_per_gop])
    }

    /// Frames (payload sizes per frame, one every 1/fps) and audio packets (one every 20 ms)
    /// merged in send order, grouped as `gop_events` says.
    pub fn events_of(&self, frames: Vec<Vec<usize>>, audio: Vec<usize>) -> Vec<Vec<usize>> {
        let mut events = Vec::with_capacity(frames.len() + audio.len());
        let mut frames = frames.into_iter().enumerate().peekable();
        let mut audio = audio.into_iter().enumerate().peekable();
        loop {
            let frame_at = frames.peek().map(|(f, _)| *f as f64 / self.fps);
            let audio_at = audio.peek().map(|(a, _)| *a as f64 * AUDIO_MS as f64 / 1000.0);
            match (frame_at, audio_at) {
                (Some(f), a) if a.is_none_or(|a| f <= a) => {
                    let Some((_, sizes)) = frames.next() else { break };
                    if self.pacing > 0.0 {
                        events.extend(sizes.into_iter().map(|s| vec![s]));
                    } else {
                        events.push(sizes);
                    }
                }
                (_, Some(_)) => {
                    let Some((_, size)) = audio.next() else { break };
                    events.push(vec![size]);
                }
                _ => break,
            }
        }
        events
    }
}

/// The start phase of publisher `i` of `n`, spread evenly: publisher i starts i/n into its
/// frame interval, audio interval and GOP, so no two publishers' frames or keyframes coincide.
pub fn phase_of(i: usize, n: usize) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    i as f64 / n as f64
}

/// Whether frame `frame_no` of a publisher whose GOP is shifted by `gop_shift` frames is a
/// keyframe: the first frame always, then every `frames_per_gop` frames counted from the shift.
fn is_keyframe(frame_no: u64, gop_shift: u64, frames_per_gop: u64) -> bool {
    frame_no == 0 || (frame_no + gop_shift).is_multiple_of(frames_per_gop.max(1))
}

/// The clip frame sent as frame `frame_no` when `next` is next in line. Out of step (see
/// `start_media`), the first GOP is cut short by `gop_shift` frames: the frame where it ends
/// jumps to the next keyframe, which a decoder can start from.
fn clip_frame_at(clip: &Clip, next: usize, frame_no: u64, gop_shift: u64) -> usize {
    let next = next % clip.frames.len();
    let cut = (clip.gop_len() as u64).saturating_sub(gop_shift);
    if gop_shift > 0 && frame_no == cut && !clip.frames[next].key {
        return clip.next_key(next);
    }
    next
}

/// The wall-clock time a packet is stamped with, and the same in microseconds since the epoch.
fn wall_clock_now() -> (SystemTime, u64) {
    let now = SystemTime::now();
    (now, now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_micros() as u64)
}

/// A video packet, held for its pacing slot when the publisher paces.
struct VideoPacket {
    payload: Vec<u8>,
    /// Ends with a payload stamp (synthetic video; a clip's packets are the encoder's bytes).
    stamped: bool,
    ts: u32,
    marker: bool,
}

pub struct Publisher {
    rtc: Rtc,
    sock: UdpSocket,
    local: SocketAddr,
    pub location: Option<String>,
    pub connected: bool,
    pub dead: Option<String>,
    timeout: Instant,
    video: (Mid, Pt),
    audio: (Mid, Pt),
    vseq: u64,
    aseq: u64,
    frame_no: u64,
    /// Frames the keyframe cadence is shifted by (see `start_media`).
    gop_shift: u64,
    /// The encoded clip this publisher loops (`--clip`), the next frame and audio packet of it.
    clip: Option<Arc<Clip>>,
    clip_frame: usize,
    clip_audio: usize,
    number: u32,
    next_frame: Instant,
    next_audio: Instant,
    media_on: bool,
    frame_every: Duration,
    frames_per_gop: u64,
    delta_bytes: usize,
    fps: f64,
    rng: h264::Rng,
    /// Bytes per second of the video pacer; 0 = no pacing.
    pace_bytes_per_s: f64,
    paced: std::collections::VecDeque<VideoPacket>,
    next_paced: Instant,
    /// Packets sent in total, and those whose capture time falls in the window.
    pub sent_total: u64,
    pub sent_in_window: u64,
    buf: Vec<u8>,
}

impl Publisher {
    pub fn connect(url: &str, shape: MediaShape, clip: Option<Arc<Clip>>) -> Result<Publisher, String> {
        let now = Instant::now();
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .set_extension(7, Extension::AbsoluteCaptureTime)
            .build(now);
        let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        let local = sock.local_addr().map_err(|e| e.to_string())?;
        rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
        let mut ch = rtc.sdp_api();
        let vmid = ch.add_media(MediaKind::Video, Direction::SendOnly, Some("weir-bench".into()), Some("v".into()), None);
        let amid = ch.add_media(MediaKind::Audio, Direction::SendOnly, Some("weir-bench".into()), Some("a".into()), None);
        let (offer, pending): (_, SdpPendingOffer) = ch.apply().ok_or("no offer")?;
        let (status, headers, body) = http::request("POST", url, "application/sdp", &offer.to_sdp_string())?;
        if status != 201 && status != 200 {
            return Err(format!("POST {url}: HTTP {status}: {}", body.chars().take(200).collect::<String>()));
        }
        let answer = SdpAnswer::from_sdp_string(&body).map_err(|e| format!("answer: {e}"))?;
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| format!("accept_answer: {e}"))?;
        let pt_of = |rtc: &Rtc, mid: Mid| rtc.media(mid).and_then(|m| m.remote_pts().first().copied());
        let v = pt_of(&rtc, vmid).ok_or("the answer has no video payload type")?;
        let a = pt_of(&rtc, amid).ok_or("the answer has no audio payload type")?;
        let location = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("location"))
            .map(|(_, l)| http::absolute(url, l));
        let (mut frames_per_gop, delta_bytes) = shape.frame_sizes();
        if let Some(clip) = &clip {
            frames_per_gop = clip.gop_len() as u64;
        }
        Ok(Publisher {
            rtc,
            sock,
            local,
            location,
            connected: false,
            dead: None,
            timeout: now,
            video: (vmid, v),
            audio: (amid, a),
            vseq: 1000,
            aseq: 5000,
            frame_no: 0,
            gop_shift: 0,
            clip_frame: 0,
            clip_audio: 0,
            clip,
            number: 0,
            next_frame: now,
            next_audio: now,
            media_on: false,
            frame_every: Duration::from_secs_f64(1.0 / shape.fps),
            frames_per_gop,
            delta_bytes,
            fps: shape.fps,
            rng: h264::Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(local.port())),
            pace_bytes_per_s: shape.pacing * shape.bitrate_kbps * 1000.0 / 8.0,
            paced: std::collections::VecDeque::new(),
            next_paced: now,
            sent_total: 0,
            sent_in_window: 0,
            buf: vec![0; 2048],
        })
    }

    /// Starts sending. `phase` (0..1) is where in its frame interval, audio interval and GOP
    /// this publisher starts: independent encoders are not in step, so publishers of one run
    /// get different phases (see `phase_of`) and their frames and keyframes do not reach the
    /// server at the same instant. The first frame is a keyframe whatever the phase (a stream
    /// starts decodable); the phase decides when the next one comes.
    pub fn start_media(&mut self, now: Instant, phase: f64) {
        if !self.media_on {
            let phase = phase.clamp(0.0, 1.0);
            self.media_on = true;
            self.next_frame = now + self.frame_every.mul_f64(phase);
            self.next_audio = now + Duration::from_millis(AUDIO_MS).mul_f64(phase);
            self.gop_shift = (phase * self.frames_per_gop as f64) as u64 % self.frames_per_gop.max(1);
        }
    }

    /// Earliest instant `step` has something to do.
    pub fn next_deadline(&self) -> Instant {
        let mut t = self.timeout;
        if self.media_on {
            t = t.min(self.next_frame).min(self.next_audio);
        }
        if !self.paced.is_empty() {
            t = t.min(self.next_paced);
        }
        t
    }

    pub fn fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.sock.as_raw_fd()
    }

    /// Sends due media, reads the socket, runs str0m's timers. `window` is the capture-time
    /// window (NTP 64, end exclusive; start 0 = not open) the sent packets are counted against.
    pub fn step(&mut self, now: Instant, window: (u64, u64)) {
        if self.dead.is_some() {
            return;
        }
        if self.media_on && self.connected {
            self.send_media(now, window);
        }
        for _ in 0..256 {
            let Ok((n, src)) = self.sock.recv_from(&mut self.buf) else { break };
            let Ok(contents) = self.buf[..n].try_into() else { continue };
            let r = Receive { proto: Protocol::Udp, source: src, destination: self.local, contents };
            if let Err(e) = self.rtc.handle_input(Input::Receive(now, r)) {
                self.dead = Some(format!("input: {e}"));
                return;
            }
            self.drive();
        }
        if self.timeout <= now {
            if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
                self.dead = Some(format!("timeout: {e}"));
                return;
            }
        }
        self.drive();
    }

    fn count(&mut self, capture: SystemTime, window: (u64, u64)) {
        self.sent_total += 1;
        let ntp = ntp_of(capture);
        if window.0 != 0 && ntp >= window.0 && ntp < window.1 {
            self.sent_in_window += 1;
        }
    }

    fn ext(capture: SystemTime) -> ExtensionValues {
        let mut e = ExtensionValues::default();
        e.abs_capture_time = Some(AbsCaptureTime { capture_time: capture, clock_offset: None });
        e
    }

    fn send_media(&mut self, now: Instant, window: (u64, u64)) {
        let mut frames = 0;
        while self.next_frame <= now && frames < 10 {
            let (capture, send_us) = wall_clock_now();
            let (pkts, stamped) = match &self.clip {
                Some(clip) => {
                    let at = clip_frame_at(clip, self.clip_frame, self.frame_no, self.gop_shift);
                    self.clip_frame = (at + 1) % clip.frames.len();
                    (crate::clip::packetize(&clip.frames[at]), false)
                }
                None => {
                    let key = is_keyframe(self.frame_no, self.gop_shift, self.frames_per_gop);
                    let size = if key { self.delta_bytes * 4 } else { self.delta_bytes };
                    (h264::frame(key, size, self.number, send_us, &mut self.rng), true)
                }
            };
            self.number += pkts.len() as u32;
            let ts = (self.frame_no as f64 * 90_000.0 / self.fps) as u32;
            let n = pkts.len();
            for (i, payload) in pkts.into_iter().enumerate() {
                let packet = VideoPacket { payload, stamped, ts, marker: i + 1 == n };
                if self.pace_bytes_per_s > 0.0 {
                    self.paced.push_back(packet);
                } else {
                    self.send_video(now, capture, packet, window);
                }
            }
            self.frame_no += 1;
            self.next_frame += self.frame_every;
            frames += 1;
        }
        // The pacer: one packet per slot, the next slot its size later at the pacing rate. The
        // send time (abs-capture-time and the payload stamp) is when the packet leaves.
        while self.next_paced <= now {
            let Some(mut packet) = self.paced.pop_front() else { break };
            let (capture, send_us) = wall_clock_now();
            if packet.stamped {
                h264::restamp(&mut packet.payload, send_us);
            }
            let bytes = packet.payload.len() + 12;
            self.send_video(now, capture, packet, window);
            self.next_paced = self.next_paced.max(now.checked_sub(Duration::from_millis(5)).unwrap_or(now)) + Duration::from_secs_f64(bytes as f64 / self.pace_bytes_per_s);
        }
        if self.paced.is_empty() {
            self.next_paced = self.next_paced.max(now);
        }
        let mut n = 0;
        while self.next_audio <= now && n < 10 {
            let (capture, send_us) = wall_clock_now();
            let pl = match self.clip.as_ref().filter(|c| !c.audio.is_empty()) {
                Some(clip) => {
                    let packet = clip.audio[self.clip_audio % clip.audio.len()].clone();
                    self.clip_audio = (self.clip_audio + 1) % clip.audio.len();
                    packet
                }
                None => h264::audio(AUDIO_BYTES, self.number, send_us, &mut self.rng),
            };
            self.number += 1;
            self.count(capture, window);
            let (mid, pt) = self.audio;
            let ts = ((self.aseq - 5000) * 960) as u32;
            if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
                tx.write_rtp(RtpWrite::new(pt, self.aseq.into(), ts, now, pl).marker(false).ext_vals(Self::ext(capture)));
            }
            self.aseq += 1;
            self.next_audio += Duration::from_millis(AUDIO_MS);
            n += 1;
        }
    }

    fn send_video(&mut self, now: Instant, capture: SystemTime, packet: VideoPacket, window: (u64, u64)) {
        self.count(capture, window);
        let (mid, pt) = self.video;
        if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
            tx.write_rtp(
                RtpWrite::new(pt, self.vseq.into(), packet.ts, now, packet.payload)
                    .marker(packet.marker)
                    .nackable(true)
                    .ext_vals(Self::ext(capture)),
            );
        }
        self.vseq += 1;
    }

    fn drive(&mut self) {
        for _ in 0..100_000 {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.timeout = t;
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    let _ = self.sock.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => self.connected = true,
                Ok(Output::Event(Event::IceConnectionStateChange(IceConnectionState::Disconnected))) => {
                    self.dead = Some("ICE disconnected".into());
                }
                Ok(Output::Event(_)) => {}
                Err(e) => {
                    self.dead = Some(format!("{e}"));
                    return;
                }
            }
        }
    }

    pub fn delete(&self) {
        if let Some(loc) = &self.location {
            let _ = http::request("DELETE", loc, "application/sdp", "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(pacing: f64) -> MediaShape {
        MediaShape { bitrate_kbps: 600.0, fps: 30.0, gop_secs: 2.0, pacing }
    }

    #[test]
    fn publishers_of_one_run_are_out_of_step() {
        assert_eq!(phase_of(0, 1), 0.0);
        let phases: Vec<f64> = (0..4).map(|i| phase_of(i, 4)).collect();
        assert_eq!(phases, [0.0, 0.25, 0.5, 0.75]);
        // 60 frames per GOP: unshifted, keyframes at 0, 60, 120; shifted by 15 frames, the first
        // frame is still a keyframe, then 45, 105.
        let keys = |shift| (0..130).filter(|&f| is_keyframe(f, shift, 60)).collect::<Vec<u64>>();
        assert_eq!(keys(0), [0, 60, 120]);
        assert_eq!(keys(15), [0, 45, 105]);
    }

    #[test]
    fn a_clip_publisher_out_of_step_cuts_its_first_gop_at_a_keyframe() {
        let frame = |key| crate::clip::Frame { nals: vec![vec![if key { 0x65 } else { 0x41 }, 0x88]], key };
        let clip = Clip { frames: [true, false, false, false, true, false, false, false].map(frame).to_vec(), audio: Vec::new() };
        let play = |shift: u64| {
            let (mut next, mut sent) = (0, Vec::new());
            for frame_no in 0..10u64 {
                let at = clip_frame_at(&clip, next, frame_no, shift);
                sent.push(at);
                next = (at + 1) % clip.frames.len();
            }
            sent
        };
        assert_eq!(play(0), [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]);
        // GOP of 4 shifted by 1: the first GOP has 3 frames, then keyframes every 4.
        assert_eq!(play(1), [0, 1, 2, 4, 5, 6, 7, 0, 1, 2]);
        assert_eq!(play(3), [0, 4, 5, 6, 7, 0, 1, 2, 3, 4]);
    }

    #[test]
    fn gop_events_follow_the_publisher() {
        let events = shape(0.0).gop_events();
        // 60 frames and 100 audio packets in a 2-second GOP, the keyframe first.
        let audio: Vec<&Vec<usize>> = events.iter().filter(|e| e.len() == 1 && e[0] < 200).collect();
        assert_eq!(audio.len(), 100);
        assert_eq!(events.len(), 160);
        assert!(events[0].len() > events[2].len(), "keyframe first: {:?}", &events[..3]);
        // Bytes per GOP match the bitrate within the packetization overhead.
        let video: usize = events.iter().filter(|e| e.len() > 1 || e[0] >= 200).flatten().sum();
        assert!((150_000..=156_000).contains(&video), "{video}");
        assert!(events.iter().flatten().all(|&s| s <= h264::MAX_PAYLOAD));
        // Paced: the same packets, each on its own.
        let paced = shape(2.5).gop_events();
        assert!(paced.iter().all(|e| e.len() == 1));
        assert_eq!(paced.iter().flatten().sum::<usize>(), events.iter().flatten().sum::<usize>());
    }
}
