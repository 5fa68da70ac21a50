//! Stream -> WebRTC: a player's down-tracks and what is written to them — live units from the
//! turn's fan-out, the cached GOP when the player connects (fast start), retransmissions for
//! its NACKs (RFC 4588 RTX from the stream's recent units), and direct egress (`direct.rs`).

use std::time::{Duration, Instant};

use serde_json::json;
use str0m::format::PayloadParams;
use str0m::media::{Mid, Pt};
use str0m::rtp::rtcp::Nack;
use str0m::rtp::RtpWrite;
use str0m::Rtc;
use tracing::debug;
use weir_stream::{FanoutItem, MediaExt, MediaKind, MediaUnit, StreamTrack, TrackDesc, MAX_TRACKS};

use crate::convert::{extension_values, payload_params};
use crate::direct::{DirectEgress, DirectTrack, ExtIds, RtpOut, MAX_RTX_PER_NACK};
use crate::fast_start::GopReplay;
use crate::peer::{note_media_written, Role, Session};
use crate::rewrite::Rewriter;
use crate::shard::Shard;
use crate::table::SessionId;

/// The sending side towards one player for one media kind ("down-track").
#[derive(Debug)]
pub struct DownTrack {
    pub mid: Mid,
    pub kind: MediaKind,
    pub rewriter: Rewriter,
    /// The payload type the player receives the stream's track as, and the source epoch it was
    /// found for: a new source may send another variant of the codec.
    pub local_pt: Option<(u32, Pt)>,
    /// What this player was negotiated for (stats).
    pub negotiated: PayloadParams,
    /// Video only: drop packets until a keyframe starts, so the decoder starts clean.
    pub waiting_keyframe: bool,
    /// Set when the session uses direct egress (`direct.rs`).
    pub direct: Option<DirectTrack>,
}

impl DownTrack {
    pub fn new(
        mid: Mid,
        kind: MediaKind,
        negotiated: PayloadParams,
        local_pt: Option<(u32, Pt)>,
    ) -> Self {
        DownTrack {
            mid,
            kind,
            rewriter: Rewriter::new(negotiated.spec().clock_rate.get()),
            local_pt,
            negotiated,
            waiting_keyframe: kind == MediaKind::Video,
            direct: None,
        }
    }
}

/// A player's role: at most one audio and one video down-track, following its stream's first
/// track of each kind.
pub struct Player {
    pub audio: Option<DownTrack>,
    pub video: Option<DownTrack>,
    /// The cached-GOP replay under way (`fast_start.rs`); live video waits for it.
    pub replay: Option<GopReplay>,
    /// Source epoch and sequence number from which live video follows the finished replay
    /// (units before it were replayed).
    pub video_live_after: Option<(u32, u64)>,
}

impl Player {
    pub fn new(audio: Option<DownTrack>, video: Option<DownTrack>) -> Self {
        Player {
            audio,
            video,
            replay: None,
            video_live_after: None,
        }
    }

    /// Whether a live video unit is to be written: not while the GOP replay runs, nor one the
    /// replay already sent.
    fn wants_live_video(&self, epoch: u32, seq: u64) -> bool {
        if self.replay.is_some() {
            return false;
        }
        !matches!(self.video_live_after, Some((e, after)) if e == epoch && seq < after)
    }

    fn down_track(&mut self, kind: MediaKind) -> Option<&mut DownTrack> {
        match kind {
            MediaKind::Audio => self.audio.as_mut(),
            MediaKind::Video => self.video.as_mut(),
        }
    }

    pub fn stats_json(&self) -> serde_json::Value {
        let down = |d: &Option<DownTrack>| {
            d.as_ref().and_then(|d| {
                let t = crate::convert::track_desc(&d.negotiated)?;
                Some(
                    json!({"mid": d.mid.to_string(), "codec": t.codec, "fmtp": t.fmtp,
                    "waiting_keyframe": d.waiting_keyframe, "direct": d.direct.is_some()}),
                )
            })
        };
        json!({"audio": down(&self.audio), "video": down(&self.video)})
    }
}

/// The local payload type a player negotiated for `track`, if its m-line accepts it.
pub(crate) fn local_pt_for(rtc: &Rtc, mid: Mid, track: &TrackDesc) -> Option<Pt> {
    let wanted = payload_params(track, Pt::from(96), None)?;
    let local = rtc.codec_config().match_params(wanted)?.pt();
    rtc.media(mid)
        .is_some_and(|m| m.remote_pts().contains(&local))
        .then_some(local)
}

/// Which down-track a stream's tracks go to: the first track of each kind, by track index.
/// Worked out once per stream and turn, read for every player.
#[derive(Clone, Copy, Default)]
pub(crate) struct Routes([Option<MediaKind>; MAX_TRACKS]);

impl Routes {
    pub(crate) fn of(tracks: &[StreamTrack]) -> Self {
        let mut routes = Routes::default();
        for kind in [MediaKind::Audio, MediaKind::Video] {
            if let Some(i) = tracks.iter().position(|t| t.desc.kind == kind) {
                if let Some(r) = routes.0.get_mut(i) {
                    *r = Some(kind);
                }
            }
        }
        routes
    }

    fn kind(&self, track: usize) -> Option<MediaKind> {
        self.0.get(track).copied().flatten()
    }
}

/// One unit on its way to one player.
pub(crate) struct Delivery<'a> {
    pub unit: &'a MediaUnit,
    pub epoch: u32,
    pub kind: MediaKind,
    pub desc: &'a TrackDesc,
    /// The unit starts a decodable picture (the GOP replay's first unit counts).
    pub keyframe: bool,
    pub ext: &'a MediaExt,
}

/// What [`write_to_player`] did with a unit.
pub(crate) enum PlayerWrite {
    /// Queued on the player; it goes out at the end of the loop turn.
    Written,
    /// Dropped: the player waits for a keyframe (a new player or a new source).
    NeedsKeyframe,
    /// Dropped: not connected yet, no such down-track or no matching codec.
    Skipped,
}

/// Writes one unit to a player's down-track.
pub(crate) fn write_to_player(player: &mut Session, d: &Delivery, now: Instant) -> PlayerWrite {
    use PlayerWrite::{NeedsKeyframe, Skipped, Written};
    if player.connected_at.is_none() {
        return Skipped;
    }
    let Session {
        rtc,
        role,
        counters,
        direct,
        rtc_written,
        ..
    } = player;
    let Role::Player(p) = role else {
        return Skipped;
    };
    let Some(dt) = p.down_track(d.kind) else {
        return Skipped;
    };
    // A new source epoch (publisher reconnected): video restarts at a keyframe so the player's
    // decoder never sees the new stream mid-GOP.
    if dt.rewriter.epoch().is_some_and(|e| e != d.epoch) && d.kind == MediaKind::Video {
        dt.waiting_keyframe = true;
    }
    let local_pt = match dt.local_pt {
        Some((epoch, pt)) if epoch == d.epoch => pt,
        _ => {
            // A new source with a codec this player did not negotiate is not forwarded.
            let Some(pt) = local_pt_for(rtc, dt.mid, d.desc) else {
                return Skipped;
            };
            dt.local_pt = Some((d.epoch, pt));
            pt
        }
    };
    if dt.waiting_keyframe {
        if !d.keyframe {
            return NeedsKeyframe;
        }
        dt.waiting_keyframe = false;
    }
    let u = d.unit;
    let Some((seq, ts)) = dt.rewriter.map(d.epoch, u.seq, u.ts, now) else {
        return Skipped;
    };
    match (direct.as_mut(), dt.direct.as_mut()) {
        (Some(out), Some(track)) => {
            let h = RtpOut {
                pt: *local_pt,
                marker: u.marker,
                seq: seq as u16,
                ts,
                ssrc: track.ssrc,
            };
            if !out.queue_rtp(
                &h,
                seq,
                d.ext,
                &track.ext_ids,
                dt.mid.as_bytes(),
                &[&u.payload],
            ) {
                return Skipped;
            }
            if track.note_sent(u.payload.len(), now) {
                // str0m's sender reports map RTP to wall-clock time from what it is told here.
                if let Some(tx) = rtc.direct_api().stream_tx_by_mid(dt.mid, None) {
                    let (packets, bytes) = track.take_unreported();
                    tx.note_sent_outside(
                        seq.into(),
                        ts,
                        u.arrival,
                        dt.negotiated.spec().clock_rate,
                        packets,
                        bytes,
                    );
                }
            }
        }
        _ => {
            let mut api = rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(dt.mid, None) else {
                return Skipped;
            };
            tx.write_rtp(
                RtpWrite::new(local_pt, seq.into(), ts, u.arrival, u.payload.clone())
                    .marker(u.marker)
                    .nackable(d.kind == MediaKind::Video)
                    .ext_vals(extension_values(d.ext)),
            );
            *rtc_written = true;
        }
    }
    counters.tx_packets += 1;
    counters.tx_bytes += u.payload.len() as u64;
    counters.first_packet_at.get_or_insert(now);
    if d.keyframe {
        counters.first_keyframe_at.get_or_insert(now);
    }
    Written
}

/// Writes a turn's fan-out items of one stream to one of its players (those its fast-start GOP
/// replay already covered are skipped). Returns (anything written, the player waits for a
/// keyframe).
pub(crate) fn write_fanout(
    sess: &mut Session,
    items: &[FanoutItem],
    tracks: &[StreamTrack],
    routes: &Routes,
    now: Instant,
) -> (bool, bool) {
    let (mut written, mut wants_keyframe) = (false, false);
    for item in items {
        if item.n <= sess.fanout_after {
            continue;
        }
        let i = item.unit.track.index();
        let (Some(kind), Some(track)) = (routes.kind(i), tracks.get(i)) else {
            continue;
        };
        if kind == MediaKind::Video
            && matches!(&sess.role, Role::Player(p) if !p.wants_live_video(item.epoch, item.unit.seq))
        {
            continue;
        }
        let d = Delivery {
            unit: &item.unit,
            epoch: item.epoch,
            kind,
            desc: &track.desc,
            keyframe: item.unit.keyframe,
            ext: &item.unit.ext,
        };
        match write_to_player(sess, &d, now) {
            PlayerWrite::Written => written = true,
            PlayerWrite::NeedsKeyframe => wants_keyframe = true,
            PlayerWrite::Skipped => {}
        }
    }
    (written, wants_keyframe)
}

impl Shard {
    /// A direct-egress player lost packets: resend them from the stream's recent units, as RTX
    /// (RFC 4588) when the player negotiated it, else as the original packets (same SSRC and
    /// sequence number, RFC 4585). Units of an earlier source epoch or gone from the buffer
    /// are not resent (the player's PLI after its NACKs fail gets it a keyframe).
    pub(crate) fn on_nack(&mut self, id: SessionId, nack: &Nack, now: Instant) {
        let Some(sess) = self.sessions.get_mut(id) else {
            return;
        };
        let Some(stream) = sess.stream.and_then(|s| self.hub.get(s)) else {
            return;
        };
        let Some(recent) = stream
            .track_of_kind(MediaKind::Video)
            .and_then(|(_, t)| t.recent())
        else {
            return;
        };
        let Session {
            role,
            direct,
            counters,
            ..
        } = &mut *sess;
        let (
            Role::Player(Player {
                video: Some(dt), ..
            }),
            Some(out),
        ) = (role, direct.as_mut())
        else {
            return;
        };
        let Some(track) = dt.direct.as_mut() else {
            return;
        };
        if *nack.ssrc != track.ssrc {
            return;
        }
        counters.nacks_received += 1;
        let (Some(last), Some(epoch), Some((_, local_pt))) =
            (dt.rewriter.last_out_seq(), dt.rewriter.epoch(), dt.local_pt)
        else {
            return;
        };
        let rtx = track.rtx_pt(*local_pt).zip(track.rtx_ssrc);
        // str0m expands each entry's bitmask and extends the numbers around our latest.
        let lost = nack.reports.iter().flat_map(|e| e.into_iter(last.into()));
        let mut sent = 0;
        for out_seq in lost.take(MAX_RTX_PER_NACK) {
            let out_seq = *out_seq;
            if out_seq > last {
                continue; // not sent yet
            }
            let Some(unit) = dt.rewriter.source_seq(out_seq).and_then(|s| recent.get(s)) else {
                continue;
            };
            // Same mapping as when it was first sent: the splice is unchanged (source_seq).
            let Some((_, ts)) = dt.rewriter.map(epoch, unit.seq, unit.ts, unit.arrival) else {
                continue;
            };
            if !track.resent.allow(out_seq, now) {
                continue;
            }
            if !track.take_rtx_token(now) {
                break;
            }
            let queued = match rtx {
                Some((rtx_pt, rtx_ssrc)) => {
                    let h = RtpOut {
                        pt: rtx_pt,
                        marker: unit.marker,
                        seq: track.rtx_seq as u16,
                        ts,
                        ssrc: rtx_ssrc,
                    };
                    // RFC 4588 section 4: the payload starts with the original sequence number.
                    let osn = (out_seq as u16).to_be_bytes();
                    let ok = out.queue_rtp(
                        &h,
                        track.rtx_seq,
                        &unit.ext,
                        &track.ext_ids,
                        dt.mid.as_bytes(),
                        &[&osn, &unit.payload],
                    );
                    track.rtx_seq += u64::from(ok);
                    ok
                }
                None => {
                    // The packet as first sent, header from the same fields as in
                    // `write_to_player`; the fast-start replay went out without extensions.
                    let h = RtpOut {
                        pt: *local_pt,
                        marker: unit.marker,
                        seq: out_seq as u16,
                        ts,
                        ssrc: track.ssrc,
                    };
                    let plain = track.fast_start_last.is_some_and(|l| out_seq <= l);
                    let ext = if plain {
                        &MediaExt::default()
                    } else {
                        &unit.ext
                    };
                    out.queue_rtp(
                        &h,
                        out_seq,
                        ext,
                        &track.ext_ids,
                        dt.mid.as_bytes(),
                        &[&unit.payload],
                    )
                }
            };
            if queued {
                track.rtx_sent += 1;
                counters.rtx_sent += 1;
                sent += 1;
            }
        }
        if sent > 0 {
            note_media_written(sess, &mut self.media_written);
        }
    }

    /// A player asked for a keyframe (PLI/FIR): its stream's source is asked, throttled.
    pub(crate) fn on_player_keyframe_request(&mut self, id: SessionId, now: Instant) {
        if let Some(sid) = self.sessions.get(id).and_then(|s| s.stream) {
            self.request_keyframe(sid, now);
        }
    }
}

/// Switches a player that just connected to direct egress (`direct.rs`) when its video (if
/// any) has RTX; otherwise it stays on str0m.
pub(crate) fn setup_direct_egress(sess: &mut Session) {
    let Some(keys) = sess.keys.take().and_then(|slot| slot.get().cloned()) else {
        return;
    };
    let Some(srtp) = keys.local_sender() else {
        debug!(session = %sess.id, profile = ?keys.profile, "SRTP profile not handled by direct egress");
        return;
    };
    let Session { rtc, role, id, .. } = &mut *sess;
    let Role::Player(Player { audio, video, .. }) = role else {
        return;
    };
    let mut tracks = Vec::new();
    for dt in [audio.as_ref(), video.as_ref()].into_iter().flatten() {
        let Some(media) = rtc.media(dt.mid) else {
            return;
        };
        let ext_ids = ExtIds::of(media.remote_extmap());
        let mut api = rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(dt.mid, None) else {
            return;
        };
        let (ssrc, rtx_ssrc) = (*tx.ssrc(), tx.rtx().map(|s| *s));
        let rtx_pts: Vec<(u8, u8)> = rtc
            .codec_config()
            .params()
            .iter()
            .filter_map(|p| Some((*p.pt(), *p.resend()?)))
            .collect();
        if dt.kind == MediaKind::Video && (rtx_ssrc.is_none() || rtx_pts.is_empty()) {
            debug!(session = %id, "player has no RTX for video: NACKed packets are resent as they were");
        }
        tracks.push(DirectTrack {
            ssrc,
            rtx_ssrc,
            rtx_pts,
            rtx_seq: u64::from(rand::random::<u16>() >> 1),
            ext_ids,
            sr_noted_at: None,
            unreported: (0, 0),
            fast_start_last: None,
            rtx_sent: 0,
            resent: Default::default(),
            rtx_tokens: 0.0,
            rtx_tokens_at: None,
        });
    }
    for (dt, track) in [audio.as_mut(), video.as_mut()]
        .into_iter()
        .flatten()
        .zip(tracks)
    {
        // str0m must never send RTX on these SSRCs itself: its RTX sequence numbers would
        // collide with ours under the same SRTP key. An inert cache (age 0) resends nothing.
        if let Some(tx) = rtc.direct_api().stream_tx_by_mid(dt.mid, None) {
            tx.set_rtx_cache(0, Duration::ZERO, None);
        }
        dt.direct = Some(track);
    }
    sess.direct = Some(DirectEgress::new(srtp));
    debug!(session = %sess.id, stream = %sess.key, "direct egress");
}
