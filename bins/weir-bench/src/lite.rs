//! A cheap WHEP player: just enough of a WebRTC receiver to be counted as a real viewer, at a
//! fraction of the server's cost per packet.
//!
//! - ICE: a controlling full agent towards an ICE-lite server (RFC 8445): Binding requests with
//!   USE-CANDIDATE, then consent freshness (RFC 7675) every 5 s.
//! - DTLS: `dimpl` (the sans-IO DTLS 1.2 that str0m uses) as the client (`a=setup:active`), the
//!   server's certificate checked against the answer's fingerprint, SRTP keys exported (RFC 5764).
//! - SRTP: sequence numbers, RTP timestamps and the abs-capture-time extension are read from the
//!   clear header; payloads are decrypted only until the first keyframe, for RTX packets (their
//!   original sequence number is inside) and for a sample (`verify_every`) whose payload stamp
//!   is checked, which proves the keys and the server's forwarding byte-exact.
//! - RTCP like a browser: RR + SDES every second, generic NACK for gaps, PLI until a keyframe.

use crate::h264;
use crate::http;
use crate::rtp::{self, SeqEvent, SeqTracker};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_srtp::SrtpSession;
use weir_turn::stun::{self, attr, method, Class, MessageBuilder};

// The WHEP offer the player sends and what it reads from the answer.
mod sdp;
pub use sdp::{offer, parse_answer};

pub const ABS_CAPTURE_TIME_URI: &str =
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time";
const ABS_CAPTURE_TIME_ID: u8 = 7;
const ICE_TIMEOUT: Duration = Duration::from_secs(10);
const DTLS_TIMEOUT: Duration = Duration::from_secs(10);
/// A Binding request on the selected pair this often once connected: Chromium's interval for a
/// stable, writable connection (2.5 s), so servers with a short ICE timeout (Weir's
/// `timeoutSec`, ZLMediaKit's default 15 s) see players exactly as busy as browsers.
const CONSENT_EVERY: Duration = Duration::from_millis(2500);
const RR_EVERY: Duration = Duration::from_secs(1);
const PLI_EVERY: Duration = Duration::from_millis(500);

/// What all lite players of a process share: the DTLS identity (one certificate is enough, the
/// server only checks it against each offer's fingerprint).
pub struct Identity {
    pub cert: dimpl::DtlsCertificate,
    pub fingerprint: String,
    pub config: Arc<dimpl::Config>,
}

impl Identity {
    pub fn new() -> Result<Identity, String> {
        let cert = dimpl::certificate::generate_self_signed_certificate()
            .map_err(|e| format!("certificate: {e}"))?;
        let fingerprint = fingerprint_hex(&cert.certificate);
        Ok(Identity {
            cert,
            fingerprint,
            config: Arc::new(dimpl::Config::default()),
        })
    }
}

fn fingerprint_hex(der: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ice,
    Dtls,
    Media,
    Dead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Video,
    Audio,
    Rtx,
}

struct Track {
    ssrc: u32,
    kind: Kind,
    seq: SeqTracker,
    clock: u32,
    /// RFC 3550 A.8 interarrival jitter, in timestamp units * 16.
    jitter16: u32,
    last_transit: Option<i64>,
    /// For the fraction lost of the next RR.
    prior_expected: u64,
    prior_received: u64,
}

/// Per-player results.
#[derive(Debug, Clone, Default)]
pub struct PlayerStats {
    pub to_201: Option<Duration>,
    pub to_ice: Option<Duration>,
    pub to_dtls: Option<Duration>,
    pub to_first_rtp: Option<Duration>,
    pub to_first_key: Option<Duration>,
    pub packets: u64,
    pub bytes: u64,
    pub rtx_packets: u64,
    pub recovered: u64,
    /// Unique media packets whose capture time lies in the measurement window.
    pub window_received: u64,
    pub duplicates: u64,
    pub reordered: u64,
    pub verified: u64,
    pub verify_failed: u64,
    pub decrypted: u64,
    pub dropped_on_purpose: u64,
    pub nacks_sent: u64,
    pub plis_sent: u64,
    pub rrs_sent: u64,
    /// SRTP master key length the DTLS handshake chose (16: AES-128-GCM, 32: AES-256-GCM).
    pub srtp_key_len: usize,
    pub dead: Option<String>,
}

/// The measurement window in capture time (NTP 64), shared by the publisher and the players.
#[derive(Clone, Copy)]
pub struct Window {
    pub start_ntp: u64,
    pub end_ntp: u64,
}

impl Window {
    pub fn contains(&self, ntp: u64) -> bool {
        self.start_ntp != 0 && ntp >= self.start_ntp && ntp < self.end_ntp
    }
}

/// Latency histogram: 10 us buckets up to 200 ms.
pub struct Histogram {
    pub buckets: Vec<u64>,
    pub overflow: u64,
}

const HIST_BUCKET_US: u64 = 10;
const HIST_BUCKETS: usize = 20_000;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; HIST_BUCKETS],
            overflow: 0,
        }
    }
}

impl Histogram {
    pub fn add(&mut self, us: i64) {
        let b = (us.max(0) as u64 / HIST_BUCKET_US) as usize;
        match self.buckets.get_mut(b) {
            Some(c) => *c += 1,
            None => self.overflow += 1,
        }
    }
    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.overflow += o.overflow;
    }
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum::<u64>() + self.overflow
    }
    /// Quantile in milliseconds (upper edge of the bucket), NaN when empty.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.count();
        if n == 0 {
            return f64::NAN;
        }
        let want = ((n as f64 - 1.0) * q).round() as u64 + 1;
        let mut acc = 0;
        for (i, c) in self.buckets.iter().enumerate() {
            acc += c;
            if acc >= want {
                return ((i as u64 + 1) * HIST_BUCKET_US) as f64 / 1000.0;
            }
        }
        f64::INFINITY
    }
}

/// Options of a player.
#[derive(Clone, Copy)]
pub struct Options {
    /// Decrypt and check one media packet in this many (0: never after the first keyframe).
    pub verify_every: u64,
    /// Pretend to lose one video packet in this many (0: never), to exercise NACK/RTX.
    pub drop_every: u64,
    /// Offer RTX for video (without it the server resends lost packets as they were).
    pub rtx: bool,
    /// Count packets and measure latency by the payload stamp (`h264.rs`: publisher packet
    /// number and send time, end-to-end encrypted) instead of abs-capture-time: every packet is
    /// decrypted. Always so when the server did not negotiate abs-capture-time (ZLMediaKit does
    /// not forward it); `--count stamp` forces it, to compare servers by one method.
    pub count_by_stamp: bool,
}

/// The NTP 64-bit time of a stamp's send time (Unix microseconds).
fn stamp_ntp(send_us: u64) -> u64 {
    rtp::ntp_of(std::time::UNIX_EPOCH + Duration::from_micros(send_us))
}

pub struct LitePlayer {
    pub sock: UdpSocket,
    pub location: Option<String>,
    pub phase: Phase,
    pub stats: PlayerStats,
    pub t_post: Instant,
    opts: Options,
    local_ufrag: String,
    remote_ufrag: String,
    remote_pwd: String,
    remote_fingerprint: String,
    dtls: dimpl::Dtls,
    dtls_deadline: Option<Instant>,
    srtp: Option<SrtpSession>,
    stun_tid: [u8; 12],
    next_stun: Instant,
    phase_deadline: Instant,
    next_rr: Instant,
    next_pli: Option<Instant>,
    video_pts: Vec<u8>,
    audio_pts: Vec<u8>,
    rtx_pts: Vec<u8>,
    abs_id: Option<u8>,
    tracks: Vec<Track>,
    ssrc: u32,
    cname: String,
    /// State of `report_interval` (never 0).
    rr_jitter: u32,
    nack_pending: Vec<u16>,
    have_key: bool,
    media_seen: u64,
    scratch: Vec<u8>,
    rtcp: Vec<u8>,
}

/// The next RTCP report interval, uniform in [0.5, 1.5] x `RR_EVERY`, from a xorshift32 state
/// (cheap enough for thousands of players; never 0).
fn report_interval(state: &mut u32) -> Duration {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    RR_EVERY.mul_f64(0.5 + f64::from(x) / f64::from(u32::MAX))
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut b);
    u32::from_be_bytes(b)
}

fn rand_token(n: usize) -> String {
    const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut b = vec![0u8; n];
    let _ = aws_lc_rs::rand::fill(&mut b);
    b.iter()
        .map(|x| ALPHA[usize::from(*x) % ALPHA.len()] as char)
        .collect()
}

impl LitePlayer {
    /// POSTs the offer to `url` (a WHEP endpoint) and prepares the session. Blocking: one HTTP
    /// request, bounded by the HTTP client's timeouts.
    pub fn connect(url: &str, id: &Identity, opts: Options) -> Result<LitePlayer, String> {
        let local_ufrag = rand_token(8);
        let local_pwd = rand_token(24);
        let sdp = offer(&local_ufrag, &local_pwd, &id.fingerprint, opts.rtx);
        let t_post = Instant::now();
        let (status, headers, body) = http::request("POST", url, "application/sdp", &sdp)?;
        let to_201 = t_post.elapsed();
        if status != 201 && status != 200 {
            return Err(format!(
                "POST {url}: HTTP {status}: {}",
                body.chars().take(200).collect::<String>()
            ));
        }
        let ans = parse_answer(&body)?;
        let remote = ans
            .candidates
            .iter()
            .find(|c| c.is_ipv4())
            .or(ans.candidates.first())
            .copied()
            .ok_or("no candidate")?;
        let bind: SocketAddr = if remote.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .map_err(|_| "bind addr")?;
        let sock = UdpSocket::bind(bind).map_err(|e| format!("bind: {e}"))?;
        sock.connect(remote)
            .map_err(|e| format!("connect {remote}: {e}"))?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        crate::sys::enable_rx_timestamps(&sock)?;
        // Room for keyframe bursts while the worker serves other sockets.
        crate::sys::set_rcvbuf(&sock, 1 << 20);
        let location = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("location"))
            .map(|(_, v)| http::absolute(url, v));
        let now = Instant::now();
        let mut dtls = dimpl::Dtls::new_12(id.config.clone(), id.cert.clone(), now);
        dtls.set_active(true);
        let mut tid = [0u8; 12];
        let _ = aws_lc_rs::rand::fill(&mut tid);
        Ok(LitePlayer {
            sock,
            location,
            phase: Phase::Ice,
            stats: PlayerStats {
                to_201: Some(to_201),
                ..Default::default()
            },
            t_post,
            opts,
            local_ufrag,
            remote_ufrag: ans.ufrag,
            remote_pwd: ans.pwd,
            remote_fingerprint: ans.fingerprint,
            dtls,
            dtls_deadline: None,
            srtp: None,
            stun_tid: tid,
            next_stun: now,
            phase_deadline: now + ICE_TIMEOUT,
            next_rr: now + RR_EVERY,
            next_pli: None,
            video_pts: ans.video_pts,
            audio_pts: ans.audio_pts,
            rtx_pts: ans.rtx_pts,
            abs_id: ans.abs_id,
            tracks: Vec::new(),
            ssrc: rand_u32() | 1,
            rr_jitter: rand_u32() | 1,
            cname: rand_token(16),
            nack_pending: Vec::new(),
            have_key: false,
            media_seen: 0,
            scratch: Vec::with_capacity(2048),
            rtcp: Vec::with_capacity(256),
        })
    }

    pub fn is_dead(&self) -> bool {
        self.phase == Phase::Dead
    }

    fn die(&mut self, why: String) {
        if self.phase != Phase::Dead {
            self.phase = Phase::Dead;
            self.stats.dead = Some(why);
        }
    }

    /// Earliest instant `on_timer` has something to do.
    pub fn next_deadline(&self) -> Instant {
        let mut t = self.next_stun.min(self.next_rr);
        if self.phase != Phase::Media {
            t = t.min(self.phase_deadline);
        }
        if let Some(d) = self.dtls_deadline {
            t = t.min(d);
        }
        if let Some(p) = self.next_pli {
            t = t.min(p);
        }
        t
    }

    pub fn on_timer(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        if self.phase != Phase::Media && now >= self.phase_deadline {
            let what = if self.phase == Phase::Ice {
                "ICE"
            } else {
                "DTLS"
            };
            self.die(format!("{what} timeout"));
            return;
        }
        if now >= self.next_stun {
            self.send_binding(now);
        }
        if let Some(d) = self.dtls_deadline {
            if now >= d {
                self.dtls_deadline = None;
                if let Err(e) = self.dtls.handle_timeout(now) {
                    self.die(format!("DTLS: {e}"));
                    return;
                }
                self.drain_dtls(now);
            }
        }
        if self.phase == Phase::Media {
            if now >= self.next_rr {
                self.send_rr();
                self.next_rr = now + self.rr_interval();
            }
            if self.next_pli.is_some_and(|t| now >= t) {
                if !self.have_key {
                    self.send_pli();
                    self.next_pli = Some(now + PLI_EVERY);
                } else {
                    self.next_pli = None;
                }
            }
        } else {
            // No RR before media flows.
            self.next_rr = now + self.rr_interval();
        }
    }

    fn send_binding(&mut self, now: Instant) {
        // While checking: retransmit every 50 ms (RFC 8445 section 14 pacing is per agent; one
        // pair here). Connected: consent freshness every 5 s (RFC 7675).
        let _ = aws_lc_rs::rand::fill(&mut self.stun_tid);
        let username = format!("{}:{}", self.remote_ufrag, self.local_ufrag);
        let mut tiebreaker = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut tiebreaker);
        let msg = MessageBuilder::new(method::BINDING, Class::Request, self.stun_tid)
            .attr(attr::USERNAME, username.as_bytes())
            .u32_attr(attr::PRIORITY, 0x6e00_01ff)
            .attr(attr::ICE_CONTROLLING, &tiebreaker)
            .attr(attr::USE_CANDIDATE, &[])
            .integrity(self.remote_pwd.as_bytes())
            .fingerprint()
            .build();
        let _ = self.sock.send(&msg);
        self.next_stun = now
            + if self.phase == Phase::Ice {
                Duration::from_millis(50)
            } else {
                CONSENT_EVERY
            };
    }

    /// One datagram from the server. `rx_ntp` is its kernel receive time (NTP 64).
    pub fn on_datagram(
        &mut self,
        buf: &[u8],
        rx_ntp: u64,
        now: Instant,
        window: &Window,
        hist: &mut Histogram,
    ) {
        if self.phase == Phase::Dead || buf.is_empty() {
            return;
        }
        match buf[0] {
            0..=3 => self.on_stun(buf, now),
            20..=63 => {
                if let Err(e) = self.dtls.handle_packet(buf) {
                    self.die(format!("DTLS: {e}"));
                    return;
                }
                self.drain_dtls(now);
            }
            128..=191 if !rtp::is_rtcp(buf) => self.on_rtp(buf, rx_ntp, now, window, hist),
            _ => {} // SRTCP from the server (SR): not needed for what we measure.
        }
    }

    fn on_stun(&mut self, buf: &[u8], now: Instant) {
        let Ok(m) = stun::Message::parse(buf) else {
            return;
        };
        if m.method != method::BINDING || m.transaction_id != self.stun_tid {
            return;
        }
        match m.class {
            Class::Success if m.verify_integrity(self.remote_pwd.as_bytes()) => {
                if self.phase == Phase::Ice {
                    self.stats.to_ice = Some(self.t_post.elapsed());
                    self.phase = Phase::Dtls;
                    self.phase_deadline = now + DTLS_TIMEOUT;
                    self.next_stun = now + CONSENT_EVERY;
                    if let Err(e) = self.dtls.handle_timeout(now) {
                        self.die(format!("DTLS: {e}"));
                        return;
                    }
                    self.drain_dtls(now);
                }
            }
            Class::Error => {
                let why = m
                    .error_code()
                    .map(|(c, r)| format!("{c} {r}"))
                    .unwrap_or_default();
                self.die(format!("STUN error {why}"));
            }
            _ => {}
        }
    }

    fn drain_dtls(&mut self, now: Instant) {
        let mut buf = [0u8; 2048];
        for _ in 0..64 {
            match self.dtls.poll_output(&mut buf) {
                dimpl::Output::Packet(p) => {
                    let _ = self.sock.send(p);
                }
                dimpl::Output::Timeout(t) => {
                    self.dtls_deadline = Some(t);
                    return;
                }
                dimpl::Output::PeerCert(der) => {
                    if fingerprint_hex(der) != self.remote_fingerprint {
                        self.die(
                            "the server's DTLS certificate does not match the answer's fingerprint"
                                .into(),
                        );
                        return;
                    }
                }
                dimpl::Output::KeyingMaterial(km, profile) => {
                    let key_len = match profile {
                        dimpl::SrtpProfile::AEAD_AES_128_GCM => 16,
                        dimpl::SrtpProfile::AEAD_AES_256_GCM => 32,
                        other => {
                            self.die(format!(
                                "SRTP profile {other:?} not supported by weir-bench (GCM only)"
                            ));
                            return;
                        }
                    };
                    self.stats.srtp_key_len = key_len;
                    match SrtpSession::from_keying_material(&km, key_len, true) {
                        Some(s) => self.srtp = Some(s),
                        None => {
                            self.die("bad DTLS-SRTP keying material".into());
                            return;
                        }
                    }
                }
                dimpl::Output::Connected => {
                    if self.phase == Phase::Dtls {
                        self.stats.to_dtls = Some(self.t_post.elapsed());
                        self.phase = Phase::Media;
                        self.next_pli = Some(now + Duration::from_millis(300));
                    }
                }
                dimpl::Output::CloseNotify => {
                    self.die("DTLS close_notify from the server".into());
                    return;
                }
                dimpl::Output::BufferTooSmall { .. } | dimpl::Output::ApplicationData(_) => {}
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
    }

    fn track(&mut self, ssrc: u32, pt: u8) -> Option<usize> {
        if let Some(i) = self.tracks.iter().position(|t| t.ssrc == ssrc) {
            return Some(i);
        }
        let (kind, clock) = if self.rtx_pts.contains(&pt) {
            (Kind::Rtx, 90_000)
        } else if self.video_pts.contains(&pt) {
            (Kind::Video, 90_000)
        } else if self.audio_pts.contains(&pt) {
            (Kind::Audio, 48_000)
        } else {
            return None;
        };
        if self.tracks.len() >= 8 {
            return None;
        }
        self.tracks.push(Track {
            ssrc,
            kind,
            seq: SeqTracker::default(),
            clock,
            jitter16: 0,
            last_transit: None,
            prior_expected: 0,
            prior_received: 0,
        });
        Some(self.tracks.len() - 1)
    }

    fn on_rtp(
        &mut self,
        buf: &[u8],
        rx_ntp: u64,
        now: Instant,
        window: &Window,
        hist: &mut Histogram,
    ) {
        let Some(h) = rtp::parse(buf) else { return };
        if self.srtp.is_none() {
            return;
        }
        let Some(ti) = self.track(h.ssrc, h.pt) else {
            return;
        };
        self.stats.packets += 1;
        self.stats.bytes += buf.len() as u64;
        if self.stats.to_first_rtp.is_none() {
            self.stats.to_first_rtp = Some(self.t_post.elapsed());
        }
        let kind = self.tracks[ti].kind;
        let by_stamp = self.opts.count_by_stamp || self.abs_id.is_none();
        let mut capture = if by_stamp { None } else { self.abs_id.and_then(|id| rtp::abs_capture_ntp(buf, id)) };
        if kind == Kind::Rtx {
            self.stats.rtx_packets += 1;
            self.on_rtx(ti, buf, &h, capture, rx_ntp, window, hist);
            return;
        }
        self.media_seen += 1;
        if kind == Kind::Video
            && self.opts.drop_every > 0
            && self.media_seen.is_multiple_of(self.opts.drop_every)
            && self.have_key
        {
            // Simulated loss: as if the network had eaten it. NACK will ask for it again.
            self.stats.dropped_on_purpose += 1;
            return;
        }
        let ev = self.tracks[ti].seq.record(h.seq);
        let ext = match ev {
            SeqEvent::New { ext, gap } => {
                if kind == Kind::Video && gap > 0 && gap < 64 {
                    for e in ext - gap..ext {
                        self.nack_pending.push(e as u16);
                    }
                }
                ext
            }
            SeqEvent::Late { ext } => {
                self.stats.reordered += 1;
                ext
            }
            SeqEvent::Duplicate => {
                self.stats.duplicates += 1;
                return;
            }
            SeqEvent::TooOld => return,
        };
        // Interarrival jitter (RFC 3550 A.8) from the kernel receive time.
        {
            let t = &mut self.tracks[ti];
            let arrival = ((rx_ntp as u128 * u128::from(t.clock)) >> 32) as i64;
            let transit = arrival - i64::from(h.ts);
            if let Some(last) = t.last_transit {
                let d = (transit - last).unsigned_abs().min(u64::from(u32::MAX)) as u32;
                t.jitter16 = t
                    .jitter16
                    .wrapping_add(d.wrapping_sub((t.jitter16 + 8) >> 4));
            }
            t.last_transit = Some(transit);
        }
        let must_decrypt = (kind == Kind::Video && !self.have_key) || by_stamp;
        let sample =
            self.opts.verify_every > 0 && self.media_seen.is_multiple_of(self.opts.verify_every);
        if must_decrypt || sample {
            let roc = SeqTracker::roc(ext);
            let Some(plain) = self
                .srtp
                .as_ref()
                .and_then(|s| s.rtp_in.unprotect_payload(buf, roc))
            else {
                self.stats.verify_failed += 1;
                return;
            };
            self.stats.decrypted += 1;
            if kind == Kind::Video && !self.have_key && h264::is_keyframe_start(&plain) {
                self.have_key = true;
                self.stats.to_first_key = Some(self.t_post.elapsed());
                self.next_pli = None;
            }
            let stamp = h264::read_stamp(&plain);
            if by_stamp {
                capture = stamp.map(|st| stamp_ntp(st.send_us));
            }
            if sample {
                // Packets of our own publisher end with a stamp; anything decrypting counts as
                // verified (the AEAD tag proves the bytes), the stamp proves they are ours.
                match stamp {
                    Some(_) => self.stats.verified += 1,
                    None if self.stats.to_first_key.is_some() => self.stats.verified += 1,
                    None => {}
                }
            }
        }
        if let Some(c) = capture {
            if window.contains(c) {
                self.stats.window_received += 1;
                hist.add(rtp::ntp_diff_us(c, rx_ntp));
            }
        }
        if !self.nack_pending.is_empty() {
            let media = self.tracks[ti].ssrc;
            self.send_nack(media);
        }
        let _ = now;
    }

    #[allow(clippy::too_many_arguments)]
    fn on_rtx(
        &mut self,
        ti: usize,
        buf: &[u8],
        h: &rtp::RtpInfo,
        capture: Option<u64>,
        rx_ntp: u64,
        window: &Window,
        hist: &mut Histogram,
    ) {
        let ev = self.tracks[ti].seq.record(h.seq);
        let ext = match ev {
            SeqEvent::New { ext, .. } | SeqEvent::Late { ext } => ext,
            _ => return,
        };
        let roc = SeqTracker::roc(ext);
        let Some(plain) = self
            .srtp
            .as_ref()
            .and_then(|s| s.rtp_in.unprotect_payload(buf, roc))
        else {
            self.stats.verify_failed += 1;
            return;
        };
        self.stats.decrypted += 1;
        if plain.len() < 2 {
            return; // padding-only probe
        }
        let osn = u16::from_be_bytes([plain[0], plain[1]]);
        let Some(vi) = self.tracks.iter().position(|t| t.kind == Kind::Video) else {
            return;
        };
        match self.tracks[vi].seq.record(osn) {
            SeqEvent::New { .. } | SeqEvent::Late { .. } => {
                self.stats.recovered += 1;
                let by_stamp = self.opts.count_by_stamp || self.abs_id.is_none();
                let capture = if by_stamp { h264::read_stamp(&plain[2..]).map(|st| stamp_ntp(st.send_us)) } else { capture };
                if let Some(c) = capture {
                    if window.contains(c) {
                        self.stats.window_received += 1;
                        hist.add(rtp::ntp_diff_us(c, rx_ntp));
                    }
                }
            }
            _ => {}
        }
    }

    fn send_rtcp(&mut self) {
        let Some(srtp) = self.srtp.as_mut() else {
            return;
        };
        if srtp.protect_rtcp(&self.rtcp, &mut self.scratch) {
            let _ = self.sock.send(&self.scratch);
        }
    }

    fn send_rr(&mut self) {
        let mut blocks = Vec::with_capacity(3);
        for t in self.tracks.iter_mut().filter(|t| t.kind != Kind::Rtx) {
            let Some(max) = t.seq.max_ext() else { continue };
            let expected = max - t.seq.first_ext + 1;
            let received = t.seq.received;
            let lost = expected as i64 - received as i64;
            let exp_int = expected - t.prior_expected;
            let rec_int = received.saturating_sub(t.prior_received);
            t.prior_expected = expected;
            t.prior_received = received;
            let lost_int = exp_int as i64 - rec_int as i64;
            let fraction = if exp_int == 0 || lost_int <= 0 {
                0
            } else {
                ((lost_int << 8) / exp_int as i64).min(255) as u8
            };
            blocks.push(rtp::ReportBlock {
                ssrc: t.ssrc,
                fraction_lost: fraction,
                cumulative_lost: lost.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
                highest_seq: (max - (1 << 16)) as u32,
                jitter: t.jitter16 >> 4,
            });
        }
        rtp::receiver_report(&mut self.rtcp, self.ssrc, &blocks, &self.cname);
        self.send_rtcp();
        self.stats.rrs_sent += 1;
    }

    /// RFC 3550 section 6.3.1: each report interval is drawn from [0.5, 1.5] times the nominal
    /// one, so the reports of players that connected together do not reach the server in step.
    fn rr_interval(&mut self) -> Duration {
        report_interval(&mut self.rr_jitter)
    }

    fn send_pli(&mut self) {
        let Some(media) = self
            .tracks
            .iter()
            .find(|t| t.kind == Kind::Video)
            .map(|t| t.ssrc)
        else {
            return;
        };
        rtp::pli(&mut self.rtcp, self.ssrc, media);
        self.send_rtcp();
        self.stats.plis_sent += 1;
    }

    fn send_nack(&mut self, media_ssrc: u32) {
        let lost = std::mem::take(&mut self.nack_pending);
        rtp::nack(&mut self.rtcp, self.ssrc, media_ssrc, &lost);
        self.send_rtcp();
        self.stats.nacks_sent += 1;
        self.nack_pending = lost;
        self.nack_pending.clear();
    }

    /// Ends the session on the server (HTTP DELETE of the Location), best effort.
    pub fn delete(&self) {
        if let Some(loc) = &self.location {
            let _ = http::request("DELETE", loc, "application/sdp", "");
        }
    }
}

#[cfg(test)]
mod tests;
