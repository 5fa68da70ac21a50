//! WebRTC -> stream: a publisher's negotiated m-lines become its stream's tracks, and every RTP
//! packet it sends becomes one [`MediaUnit`] pushed into the hub (keyframe flag from the payload,
//! forwarded header extensions, the payload shared as it came out of str0m).

use std::time::Instant;

use serde_json::json;
use str0m::format::PayloadParams;
use str0m::media::{KeyframeRequestKind, MediaKind as RtcKind, Mid, Pt};
use str0m::rtp::{RtpPacket, Ssrc};
use str0m::Rtc;
use weir_core::SessionError;
use weir_stream::{MediaKind, MediaUnit, TrackDesc, TrackId};

use crate::convert::{media_ext, media_kind, track_desc, video_codec};
use crate::keyframe::{starts_keyframe, VideoCodec};
use crate::peer::{Role, Session};
use crate::shard::Shard;
use crate::table::SessionId;

/// One of the publisher's m-lines and the stream track it feeds.
#[derive(Debug, Clone)]
pub struct PublishedTrack {
    pub mid: Mid,
    pub track: TrackId,
    pub kind: MediaKind,
    /// The payload type the publisher negotiated (it sends no other on this m-line: its offer
    /// was narrowed to one codec, `codec.rs`).
    pub pt: Pt,
    /// Video: the payload format the keyframe detector reads.
    pub video: Option<VideoCodec>,
}

/// Most SSRCs a publisher's packets are mapped from (its media SSRCs; RTX is unwrapped by
/// str0m). Bounds what a hostile publisher can make the engine remember.
const MAX_SSRCS: usize = 16;

pub struct Publisher {
    pub tracks: Vec<PublishedTrack>,
    /// SSRC -> index in `tracks`, learnt from the first packets.
    ssrcs: Vec<(Ssrc, usize)>,
}

impl Publisher {
    /// The stream tracks a publisher's accepted offer gives: its first receiving audio m-line,
    /// then its first receiving video m-line, each with the codec it negotiated.
    /// `medias` are (mid, kind, we receive, we send) by the offer's order.
    pub(crate) fn negotiated(rtc: &Rtc, medias: &[(Mid, RtcKind, bool, bool)]) -> Result<(Publisher, Vec<TrackDesc>), SessionError> {
        let mut chosen: Vec<(Mid, PayloadParams, TrackDesc)> = Vec::new();
        for want in [MediaKind::Audio, MediaKind::Video] {
            let found = medias.iter().filter(|m| m.2 && media_kind(m.1) == want).find_map(|&(mid, ..)| {
                let params = crate::negotiate::negotiated(rtc, mid).into_iter().next()?;
                Some((mid, params, track_desc(&params)?))
            });
            chosen.extend(found);
        }
        if chosen.is_empty() {
            return Err(SessionError::NoCommonCodec(
                "the publish offer has no audio or video the server accepts (see rtc.preferredCodecA/V)".into(),
            ));
        }
        let tracks = chosen
            .iter()
            .enumerate()
            .map(|(i, (mid, params, desc))| PublishedTrack {
                mid: *mid,
                track: TrackId(i as u8),
                kind: desc.kind,
                pt: params.pt(),
                video: video_codec(desc.codec),
            })
            .collect();
        let descs = chosen.into_iter().map(|(_, _, d)| d).collect();
        Ok((Publisher { tracks, ssrcs: Vec::new() }, descs))
    }

    /// The track of a packet's SSRC (asked of str0m the first time).
    fn track_of(&mut self, ssrc: Ssrc, rtc: &mut Rtc) -> Option<&PublishedTrack> {
        let i = match self.ssrcs.iter().find(|(s, _)| *s == ssrc) {
            Some(&(_, i)) => i,
            None => {
                let mid = rtc.direct_api().stream_rx(&ssrc).map(|s| s.mid())?;
                let i = self.tracks.iter().position(|t| t.mid == mid)?;
                if self.ssrcs.len() < MAX_SSRCS {
                    self.ssrcs.push((ssrc, i));
                }
                i
            }
        };
        self.tracks.get(i)
    }

    pub fn stats_json(&self) -> serde_json::Value {
        json!(self
            .ssrcs
            .iter()
            .filter_map(|(ssrc, i)| {
                let t = self.tracks.get(*i)?;
                Some(json!({"ssrc": **ssrc, "mid": t.mid.to_string(), "kind": t.kind}))
            })
            .collect::<Vec<_>>())
    }
}

impl Shard {
    /// A publisher's RTP packet, decrypted by str0m: into its stream as a media unit.
    pub(crate) fn on_publisher_rtp(&mut self, id: SessionId, pkt: RtpPacket, now: Instant) {
        let Some(sess) = self.sessions.get_mut(id) else { return };
        let Some(stream) = sess.stream else { return };
        let Role::Publisher(publisher) = &mut sess.role else { return };
        let Some(track) = publisher.track_of(pkt.header.ssrc, &mut sess.rtc) else { return };
        if track.pt != pkt.header.payload_type {
            sess.counters.rx_rtp_dropped += 1;
            return;
        }
        let unit = MediaUnit {
            keyframe: track.video.is_some_and(|c| starts_keyframe(c, &pkt.payload)),
            track: track.track,
            arrival: pkt.timestamp,
            seq: *pkt.seq_no,
            ts: pkt.header.timestamp,
            marker: pkt.header.marker,
            ext: media_ext(&pkt.header.ext_vals),
            payload: pkt.payload,
        };
        self.hub.push(stream, unit, now);
    }

    /// Asks a publisher for a keyframe (a PLI on its video m-lines). The caller throttles.
    pub(crate) fn ask_publisher_for_keyframe(&mut self, id: SessionId, now: Instant) {
        let Some((sess, mut out)) = self.session_out(id) else { return };
        let Session { role: Role::Publisher(publisher), rtc, counters, .. } = &mut *sess else { return };
        for t in publisher.tracks.iter().filter(|t| t.kind == MediaKind::Video) {
            if let Some(rx) = rtc.direct_api().stream_rx_by_mid(t.mid, None) {
                rx.request_keyframe(KeyframeRequestKind::Pli);
                counters.keyframe_requests_sent += 1;
            }
        }
        sess.drain(now, &mut out);
    }
}
