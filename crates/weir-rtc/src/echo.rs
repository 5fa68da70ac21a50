//! Echo sessions (`rtc.echo`): the peer's media is looped straight back to it on the same
//! m-lines — a connectivity check that needs no second client. No stream is involved.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::json;
use str0m::media::{KeyframeRequest, MediaKind, Mid};
use str0m::rtp::{RtpPacket, RtpWrite};
use str0m::Rtc;

use crate::convert::{extension_values, media_ext};
use crate::peer::{note_media_written, Role, Session};
use crate::rewrite::Rewriter;
use crate::table::SessionId;

pub struct EchoTrack {
    pub kind: MediaKind,
    pub rewriter: Rewriter,
}

/// The sendrecv m-lines media comes back on, by mid.
pub struct Echo {
    pub tracks: HashMap<Mid, EchoTrack>,
}

impl Echo {
    /// The echo role for an accepted offer: every sendrecv audio/video m-line with a codec.
    pub(crate) fn negotiated(rtc: &Rtc, medias: &[(Mid, MediaKind, bool, bool)]) -> Option<Echo> {
        let mut tracks = HashMap::new();
        for &(mid, kind, receiving, sending) in medias {
            let Some(clock_rate) = crate::negotiate::negotiated(rtc, mid).first().map(|p| p.spec().clock_rate.get()) else { continue };
            if receiving && sending {
                tracks.insert(mid, EchoTrack { kind, rewriter: Rewriter::new(clock_rate) });
            }
        }
        (!tracks.is_empty()).then_some(Echo { tracks })
    }

    pub fn stats_json(&self) -> serde_json::Value {
        json!(self.tracks.keys().map(|m| m.to_string()).collect::<Vec<_>>())
    }
}

/// Writes a packet the peer sent back to it on the same m-line.
pub(crate) fn echo_rtp(sess: &mut Session, pkt: RtpPacket, now: Instant, written: &mut Vec<SessionId>) {
    let Session { rtc, role: Role::Echo(echo), counters, rtc_written, .. } = &mut *sess else { return };
    let Some(mid) = rtc.direct_api().stream_rx(&pkt.header.ssrc).map(|s| s.mid()) else { return };
    let Some(t) = echo.tracks.get_mut(&mid) else { return };
    let Some((seq, ts)) = t.rewriter.map(0, *pkt.seq_no, pkt.header.timestamp, now) else { return };
    let video = t.kind == MediaKind::Video;
    let mut api = rtc.direct_api();
    let Some(tx) = api.stream_tx_by_mid(mid, None) else { return };
    let len = pkt.payload.len() as u64;
    tx.write_rtp(
        RtpWrite::new(pkt.header.payload_type, seq.into(), ts, pkt.timestamp, pkt.payload)
            .marker(pkt.header.marker)
            .nackable(video)
            .ext_vals(extension_values(&media_ext(&pkt.header.ext_vals))),
    );
    counters.tx_packets += 1;
    counters.tx_bytes += len;
    *rtc_written = true;
    note_media_written(sess, written);
}

/// The peer asked for a keyframe of what it sent us: pass the request back to it.
pub(crate) fn echo_keyframe_request(sess: &mut Session, req: &KeyframeRequest) {
    if let Some(rx) = sess.rtc.direct_api().stream_rx_by_mid(req.mid, None) {
        rx.request_keyframe(req.kind);
    }
}
