//! Direct egress: a player's forwarded RTP packets are built and SRTP-protected here, with the
//! session's own keys (`key_capture.rs`), instead of going through the player's str0m `Rtc`.
//!
//! Why: in a fan-out, str0m's per-player work (an `RtpPacket` with its own payload copy, the
//! resend cache, the send queue, a full `Input::Timeout` per player and turn, then SRTP) was
//! most of the server's CPU per forwarded packet. Here a packet to a player is one header
//! write, one payload copy and one AEAD seal into the buffer the kernel sends from, as in
//! LiveKit's down-tracks and mediasoup's consumers.
//!
//! What str0m keeps doing for these players: ICE, DTLS, everything received (RTCP from the
//! player: receiver reports, PLI/FIR become keyframe requests), and the RTCP it sends. Its
//! sender reports need the RTP time at a wall-clock time, the clock rate and the sender's
//! counts: each down-track tells str0m those every [`SR_REFRESH`] (a vendor patch,
//! `StreamTx::note_sent_outside`), so no media of these tracks goes through str0m. The SR's
//! packet and octet counts lag by at most that interval. Retransmissions (a player's NACK,
//! RFC 4585) are answered here as RTX (RFC 4588) from a shared per-track buffer of recent
//! source packets (`weir_stream::RecentUnits`), with sequence numbers of our own on the RTX SSRC;
//! str0m's own resend cache for these streams is made inert so it never sends RTX on that
//! SSRC itself.
//!
//! A player without RTX (many non-browser stacks offer NACK but no RTX) gets its NACKed packets
//! resent as they were first sent, same SSRC and sequence number (RFC 4585 section 3.2's
//! retransmission without RFC 4588): the same header and payload under the same key and index
//! make the same SRTP packet, so no IV is reused for other bytes.
//!
//! Every player with an SRTP profile str0m offers (AEAD-AES-GCM per RFC 7714, AES-CM +
//! HMAC-SHA1-80 per RFC 3711) gets this path, whatever its codecs; `rtc.directEgress=0` keeps
//! all players on str0m (the path before).

use std::time::{Duration, Instant, SystemTime};

use str0m::rtp::{Extension, ExtensionMap};
use weir_srtp::SrtpSender;
use weir_stream::MediaExt;

/// How often a down-track tells str0m its RTP time at a wall-clock time and what it sent, so
/// the RTCP sender reports carry a current RTP/NTP mapping (A/V sync in the player, RFC 3550
/// section 6.4.1) and counts.
pub const SR_REFRESH: Duration = Duration::from_millis(250);

/// Most RTX packets sent for one NACK packet (a NACK can name up to 17 packets per entry).
pub const MAX_RTX_PER_NACK: usize = 64;

/// Retransmissions a player may ask for per second (and at once). A NACK of a few bytes asks
/// for up to 64 packets of ~1.2 kB: without a budget a hostile or broken player could make
/// the engine spend its time resending (str0m caps resends at a share of the bytes sent for
/// the same reason). 10 % loss of a 2 Mbps stream is ~20 packets a second.
pub const RTX_PER_SECOND: f64 = 100.0;

/// Most times one packet is resent to one player. A player whose NACKs keep naming a packet it
/// was sent several times cannot take it (a full receive buffer, a replay window it is outside
/// of); more copies only spend the budget that other lost packets need.
pub const MAX_RESENDS_PER_PACKET: u8 = 3;

/// Least time between two resends of one packet to one player: a NACK repeated sooner than a
/// resend can arrive (one RTT) asks for what is already on its way.
pub const RESEND_SPACING: Duration = Duration::from_millis(15);

/// Packets remembered by [`ResendLog`].
const RESEND_LOG_LEN: usize = 64;

/// The packets recently resent to one player's track, how often and when last.
#[derive(Debug, Clone, Default)]
pub struct ResendLog {
    /// `(extended sequence number, resends, last resend)`, a ring made at the first resend.
    entries: Vec<(u64, u8, Instant)>,
    next: usize,
}

impl ResendLog {
    /// Whether packet `seq` may be resent now ([`MAX_RESENDS_PER_PACKET`], [`RESEND_SPACING`]);
    /// if so the resend is recorded.
    pub fn allow(&mut self, seq: u64, now: Instant) -> bool {
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == seq) {
            if e.1 >= MAX_RESENDS_PER_PACKET || now.saturating_duration_since(e.2) < RESEND_SPACING
            {
                return false;
            }
            e.1 += 1;
            e.2 = now;
            return true;
        }
        if self.entries.len() < RESEND_LOG_LEN {
            self.entries.push((seq, 1, now));
        } else {
            self.entries[self.next] = (seq, 1, now);
            self.next = (self.next + 1) % RESEND_LOG_LEN;
        }
        true
    }
}

/// Largest header we write: 12 bytes + extension block (4 + 4 elements of at most 1 + 16).
const MAX_HEADER: usize = 12 + 4 + 4 * 17 + 3;

/// One-byte header extension ids (RFC 8285 section 4.2) a player negotiated for the extensions
/// the engine forwards. Ids outside 1..=14 need the two-byte form; those extensions are left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtIds {
    pub mid: Option<u8>,
    pub audio_level: Option<u8>,
    pub video_orientation: Option<u8>,
    pub abs_capture_time: Option<u8>,
}

impl ExtIds {
    pub fn of(map: &ExtensionMap) -> Self {
        let id = |e: Extension| map.id_of(e).filter(|id| (1..=14).contains(id));
        ExtIds {
            mid: id(Extension::RtpMid),
            audio_level: id(Extension::AudioLevel),
            video_orientation: id(Extension::VideoOrientation),
            abs_capture_time: id(Extension::AbsoluteCaptureTime),
        }
    }
}

/// The fixed RTP header fields of one outgoing packet.
#[derive(Debug, Clone, Copy)]
pub struct RtpOut {
    pub pt: u8,
    pub marker: bool,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
}

/// NTP 64-bit timestamp (RFC 5905 section 6) of a wall-clock time, as abs-capture-time carries it.
fn ntp_64(t: SystemTime) -> u64 {
    const SECS_1900_TO_1970: f64 = 2_208_988_800.0;
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
        + SECS_1900_TO_1970;
    (secs * 4_294_967_296.0) as u64
}

/// Writes the RTP header of `h` into `out` (cleared first) with the forwarded extensions in the
/// one-byte form (RFC 8285): mid, audio level (RFC 6464), video orientation (3GPP CVO) and
/// abs-capture-time, each when the player negotiated it and the packet has a value. Returns
/// the header length.
pub fn write_header(
    out: &mut Vec<u8>,
    h: &RtpOut,
    ext: &MediaExt,
    ids: &ExtIds,
    mid: &[u8],
) -> usize {
    out.clear();
    out.extend_from_slice(&[0x80, h.pt & 0x7f | if h.marker { 0x80 } else { 0 }]);
    out.extend_from_slice(&h.seq.to_be_bytes());
    out.extend_from_slice(&h.ts.to_be_bytes());
    out.extend_from_slice(&h.ssrc.to_be_bytes());
    let block = out.len();
    out.extend_from_slice(&[0xbe, 0xde, 0, 0]);
    let element = |out: &mut Vec<u8>, id: Option<u8>, data: &[u8]| {
        if let Some(id) = id {
            if (1..=16).contains(&data.len()) {
                out.push(id << 4 | (data.len() as u8 - 1));
                out.extend_from_slice(data);
            }
        }
    };
    element(out, ids.mid, mid);
    if let (Some(level), Some(vad)) = (ext.audio_level, ext.voice_activity) {
        element(
            out,
            ids.audio_level,
            &[if vad { 0x80 } else { 0 } | (level.unsigned_abs() & 0x7f)],
        );
    }
    if let Some(o) = ext.video_orientation {
        element(out, ids.video_orientation, &[o]);
    }
    if let Some(act) = &ext.capture_time {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&ntp_64(act.at).to_be_bytes());
        let n = match act.clock_offset {
            Some(offset) => {
                b[8..].copy_from_slice(&offset.to_be_bytes());
                16
            }
            None => 8,
        };
        element(out, ids.abs_capture_time, &b[..n]);
    }
    if out.len() == block + 4 {
        out.truncate(block); // no extension: no block
        return out.len();
    }
    while !(out.len() - block).is_multiple_of(4) {
        out.push(0); // padding bytes (RFC 8285 section 4.2)
    }
    let words = ((out.len() - block - 4) / 4) as u16;
    out[block + 2..block + 4].copy_from_slice(&words.to_be_bytes());
    out[0] |= 0x10; // X bit
    out.len()
}

/// How a direct player's datagrams are protected, and those of this turn. They go on the
/// session's `media_path` (str0m's selected path).
pub struct DirectEgress {
    srtp: SrtpSender,
    /// Protected datagrams of this loop turn, sent together at its end so one player's packets
    /// leave as one GSO run (`udp_batch.rs`).
    pub queue: Vec<Vec<u8>>,
}

impl DirectEgress {
    pub fn new(srtp: SrtpSender) -> Self {
        DirectEgress {
            srtp,
            queue: Vec::new(),
        }
    }

    /// Builds, protects and queues one packet. `ext_seq` is the extended sequence number (its
    /// upper bits are the SRTP rollover counter, RFC 3711 section 3.3.1). False when the packet
    /// could not be protected (nothing queued).
    pub fn queue_rtp(
        &mut self,
        h: &RtpOut,
        ext_seq: u64,
        ext: &MediaExt,
        ids: &ExtIds,
        mid: &[u8],
        payload: &[&[u8]],
    ) -> bool {
        let len: usize = payload.iter().map(|p| p.len()).sum();
        let mut buf = crate::udp_batch::datagram_buffer(MAX_HEADER + len + self.srtp.overhead());
        let hlen = write_header(&mut buf, h, ext, ids, mid);
        for p in payload {
            buf.extend_from_slice(p);
        }
        if !self
            .srtp
            .protect_rtp(&mut buf, hlen, (ext_seq >> 16) as u32)
        {
            return false;
        }
        self.queue.push(buf);
        true
    }
}

/// A down-track's direct sending state.
#[derive(Debug, Clone)]
pub struct DirectTrack {
    pub ssrc: u32,
    /// RTX SSRC and `(media pt, rtx pt)` pairs (video; empty for audio).
    pub rtx_ssrc: Option<u32>,
    pub rtx_pts: Vec<(u8, u8)>,
    /// Next RTX sequence number (extended); ours alone, str0m sends no RTX on these streams.
    pub rtx_seq: u64,
    pub ext_ids: ExtIds,
    /// When str0m was last told what this track sent (see [`SR_REFRESH`]).
    pub sr_noted_at: Option<Instant>,
    /// Packets and payload bytes sent since then.
    pub unreported: (u64, u64),
    /// Last sequence number of the fast-start GOP replay, which went out without header
    /// extensions (a resend without RTX must be written the same way).
    pub fast_start_last: Option<u64>,
    /// Retransmissions sent.
    pub rtx_sent: u64,
    /// Packets resent lately (at most [`MAX_RESENDS_PER_PACKET`] each).
    pub resent: ResendLog,
    /// Token bucket of retransmissions ([`RTX_PER_SECOND`]).
    pub rtx_tokens: f64,
    pub rtx_tokens_at: Option<Instant>,
}

impl DirectTrack {
    /// Counts a packet sent; true when str0m should now be told (`take_unreported`).
    pub fn note_sent(&mut self, payload_len: usize, now: Instant) -> bool {
        self.unreported.0 += 1;
        self.unreported.1 += payload_len as u64;
        if self
            .sr_noted_at
            .is_some_and(|t| now.saturating_duration_since(t) < SR_REFRESH)
        {
            return false;
        }
        self.sr_noted_at = Some(now);
        true
    }

    /// What was sent since str0m was last told, and resets it.
    pub fn take_unreported(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.unreported)
    }

    /// Takes one retransmission from the budget; false when it is spent.
    pub fn take_rtx_token(&mut self, now: Instant) -> bool {
        let elapsed = self
            .rtx_tokens_at
            .map_or(1.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.rtx_tokens = (self.rtx_tokens + elapsed * RTX_PER_SECOND).min(RTX_PER_SECOND);
        self.rtx_tokens_at = Some(now);
        if self.rtx_tokens < 1.0 {
            return false;
        }
        self.rtx_tokens -= 1.0;
        true
    }

    /// The RTX payload type for a media payload type.
    pub fn rtx_pt(&self, pt: u8) -> Option<u8> {
        self.rtx_pts.iter().find(|(m, _)| *m == pt).map(|(_, r)| *r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::rtp::VideoOrientation;
    use weir_stream::CaptureTime;

    fn ids() -> ExtIds {
        ExtIds {
            mid: Some(4),
            audio_level: Some(1),
            video_orientation: Some(13),
            abs_capture_time: Some(7),
        }
    }

    #[test]
    fn header_without_extensions_is_twelve_bytes() {
        let mut out = Vec::new();
        let h = RtpOut {
            pt: 96,
            marker: true,
            seq: 0xabcd,
            ts: 0x01020304,
            ssrc: 0xdeadbeef,
        };
        let n = write_header(&mut out, &h, &MediaExt::default(), &ExtIds::default(), b"0");
        assert_eq!(n, 12);
        assert_eq!(
            out,
            [0x80, 0xe0, 0xab, 0xcd, 1, 2, 3, 4, 0xde, 0xad, 0xbe, 0xef]
        );
    }

    #[test]
    fn header_extensions_in_one_byte_form() {
        let mut out = Vec::new();
        let h = RtpOut {
            pt: 111,
            marker: false,
            seq: 1,
            ts: 2,
            ssrc: 3,
        };
        let ext = MediaExt {
            audio_level: Some(-37),
            voice_activity: Some(true),
            ..Default::default()
        };
        let n = write_header(&mut out, &h, &ext, &ids(), b"1");
        // mid (id 4, 1 byte) + audio level (id 1, 1 byte) = 4 bytes, one word.
        assert_eq!(n, 12 + 4 + 4);
        assert_eq!(out[0], 0x90, "X bit");
        assert_eq!(&out[12..16], &[0xbe, 0xde, 0, 1]);
        assert_eq!(&out[16..20], &[0x40, b'1', 0x10, 0x80 | 37]);
        assert_eq!(weir_srtp::header_len(&out), Some(n));
    }

    #[test]
    fn abs_capture_time_and_orientation_round_trip_through_str0m() {
        let mut out = Vec::new();
        let h = RtpOut {
            pt: 96,
            marker: true,
            seq: 7,
            ts: 9,
            ssrc: 11,
        };
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_790_000_000_123);
        let ext = MediaExt {
            video_orientation: Some(VideoOrientation::Deg90 as u8),
            capture_time: Some(CaptureTime {
                at: t,
                clock_offset: None,
            }),
            ..Default::default()
        };
        let n = write_header(&mut out, &h, &ext, &ids(), b"video");
        out.extend_from_slice(&[1, 2, 3]);
        assert_eq!(weir_srtp::header_len(&out), Some(n));
        assert_eq!((n - 12) % 4, 0);
        // mid (id 4): "video"; orientation (id 13): 1 byte; abs-capture-time (id 7): 8 bytes.
        assert_eq!(&out[16..22], &[0x44, b'v', b'i', b'd', b'e', b'o']);
        assert_eq!(&out[22..24], &[0xd0, VideoOrientation::Deg90 as u8]);
        assert_eq!(out[24], 0x77);
        let ntp = u64::from_be_bytes(out[25..33].try_into().unwrap());
        assert_eq!(ntp >> 32, 1_790_000_000 + 2_208_988_800);
        let frac = (ntp & 0xffff_ffff) as f64 / 4_294_967_296.0;
        assert!((frac - 0.123).abs() < 1e-6, "{frac}");
        assert!(out[33..n].iter().all(|&b| b == 0), "padding");
    }

    #[test]
    fn retransmissions_are_budgeted_per_second() {
        let mut t = DirectTrack {
            ssrc: 1,
            rtx_ssrc: Some(2),
            rtx_pts: vec![(96, 97)],
            rtx_seq: 0,
            ext_ids: ExtIds::default(),
            sr_noted_at: None,
            unreported: (0, 0),
            fast_start_last: None,
            rtx_sent: 0,
            resent: ResendLog::default(),
            rtx_tokens: 0.0,
            rtx_tokens_at: None,
        };
        let now = Instant::now();
        let granted = (0..1000).filter(|_| t.take_rtx_token(now)).count();
        assert_eq!(
            granted, RTX_PER_SECOND as usize,
            "a full bucket at first, then nothing"
        );
        let later = now + Duration::from_millis(100);
        let granted = (0..1000).filter(|_| t.take_rtx_token(later)).count();
        assert_eq!(granted, (RTX_PER_SECOND / 10.0) as usize);
        assert_eq!(t.rtx_pt(96), Some(97));
        assert_eq!(t.rtx_pt(98), None);
    }

    #[test]
    fn one_packet_is_resent_a_few_times_and_not_back_to_back() {
        let mut log = ResendLog::default();
        let t0 = Instant::now();
        assert!(log.allow(100, t0));
        assert!(
            !log.allow(100, t0 + Duration::from_millis(1)),
            "sooner than one RTT"
        );
        let mut t = t0;
        for _ in 1..MAX_RESENDS_PER_PACKET {
            t += RESEND_SPACING;
            assert!(log.allow(100, t));
        }
        assert!(
            !log.allow(100, t + Duration::from_secs(1)),
            "at most MAX_RESENDS_PER_PACKET"
        );
        // Other packets are not held back; the ring forgets the oldest.
        for seq in 0..RESEND_LOG_LEN as u64 {
            assert!(log.allow(1000 + seq, t));
        }
        assert!(
            log.allow(100, t + Duration::from_secs(1)),
            "forgotten after RESEND_LOG_LEN others"
        );
    }
}
