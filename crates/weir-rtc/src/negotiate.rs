//! Negotiation: an offer becomes a configured str0m `Rtc` and an answer. Which codecs each kind
//! of session is offered (publishers: the configured preferences, narrowed to one per m-line;
//! players: exactly their stream's codecs), the SDP details the engine adjusts, and trickled
//! fragments (RFC 8840) with ICE restarts (RFC 8839 section 4.4.1.1.1).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::format::{CodecConfig, CodecSpec, PayloadParams};
use str0m::media::{MediaKind as RtcKind, Mid, Pt};
use str0m::net::{Protocol, TcpType};
use str0m::rtp::Extension;
use str0m::{Candidate, CandidateKind, IceCreds, Rtc, RtcConfig};
use weir_core::{SessionError, SessionKind, SessionRequest};
use weir_stream::{MediaKind, Stream};

use crate::convert::{codec_spec, media_kind};
use crate::key_capture::{self, KeySlot};
use crate::play::{local_pt_for, DownTrack, Player};
use crate::shard::Shard;
use crate::table::SessionId;

/// An m-line of an accepted offer: (mid, kind, we receive, we send), in the offer's order.
pub(crate) type Media = (Mid, RtcKind, bool, bool);

/// The codecs str0m negotiated for an m-line, in the remote's order.
pub(crate) fn negotiated(rtc: &Rtc, mid: Mid) -> Vec<PayloadParams> {
    let Some(media) = rtc.media(mid) else {
        return Vec::new();
    };
    media
        .remote_pts()
        .iter()
        .filter_map(|pt| {
            rtc.codec_config()
                .params()
                .iter()
                .find(|p| p.pt() == *pt)
                .copied()
        })
        .collect()
}

/// The negotiated m-lines, by the offer's mids (str0m's MediaAdded events only come once the
/// connection is up).
pub(crate) fn medias(rtc: &Rtc, offer: &str) -> Vec<Media> {
    let mut medias: Vec<Media> = Vec::new();
    for mid in offer_mids(offer) {
        if let Some(m) = rtc.media(mid) {
            if !medias.iter().any(|x| x.0 == mid) {
                medias.push((
                    mid,
                    m.kind(),
                    m.direction().is_receiving(),
                    m.direction().is_sending(),
                ));
            }
        }
    }
    medias
}

/// What a player of `stream` is offered: its first audio and first video track's codecs under
/// payload types the player's offer does not use.
pub(crate) fn player_codecs(
    stream: &Stream<SessionId>,
    offer: &str,
) -> Result<CodecConfig, SessionError> {
    let mut free = unused_payload_types(offer);
    let primaries: Vec<PayloadParams> = [MediaKind::Audio, MediaKind::Video]
        .into_iter()
        .filter_map(|kind| stream.track_of_kind(kind))
        .filter_map(|(_, t)| codec_spec(&t.desc))
        .filter_map(|spec| for_player(spec, &mut free))
        .collect();
    if primaries.is_empty() {
        let codecs: Vec<&str> = stream
            .tracks()
            .iter()
            .map(|t| t.desc.codec.sdp_name())
            .collect();
        return Err(SessionError::NoCommonCodec(format!(
            "the stream carries {} and no WebRTC codec",
            codecs.join(", ")
        )));
    }
    Ok(CodecConfig::new_from_payload_params(primaries))
}

/// A player's down-tracks for its accepted offer: each of its m-lines gets the stream's track of
/// its kind, if the player accepted that codec. `epoch` is the stream's current source epoch.
pub(crate) fn player(
    rtc: &mut Rtc,
    medias: &[Media],
    stream: &Stream<SessionId>,
    rtx: (usize, Duration),
) -> Result<Player, SessionError> {
    let mut player = Player::new(None, None);
    for &(mid, kind, _, sending) in medias {
        let kind = media_kind(kind);
        let Some((_, track)) = stream.track_of_kind(kind) else {
            continue;
        };
        let slot = if kind == MediaKind::Audio {
            &mut player.audio
        } else {
            &mut player.video
        };
        if slot.is_some() {
            continue;
        }
        let local = local_pt_for(rtc, mid, &track.desc).filter(|_| sending);
        let negotiated = local.and_then(|pt| {
            rtc.codec_config()
                .params()
                .iter()
                .find(|p| p.pt() == pt)
                .copied()
        });
        let Some(negotiated) = negotiated else {
            return Err(SessionError::NoCommonCodec(format!(
                "the stream's {} is {} ({}) and the player does not accept it",
                if kind == MediaKind::Audio {
                    "audio"
                } else {
                    "video"
                },
                track.desc.codec,
                track.desc.fmtp
            )));
        };
        *slot = Some(DownTrack::new(
            mid,
            kind,
            negotiated,
            Some((stream.epoch(), negotiated.pt())),
        ));
    }
    if player.audio.is_none() && player.video.is_none() {
        return Err(SessionError::NoCommonCodec(
            "the play offer has no audio or video m-line".into(),
        ));
    }
    for dt in [&player.audio, &player.video].into_iter().flatten() {
        if let Some(tx) = rtc.direct_api().stream_tx_by_mid(dt.mid, None) {
            tx.set_rtx_cache(rtx.0, rtx.1, Some(0.15));
        }
    }
    Ok(player)
}

/// A parsed offer.
pub(crate) struct Offer {
    /// The offer as negotiated (a publisher's narrowed to one codec per m-line).
    pub text: String,
    pub sdp: SdpOffer,
    /// The client's ICE ufrag (session-level or first media-level attribute).
    pub remote_ufrag: String,
}

impl Offer {
    pub(crate) fn parse(text: String) -> Result<Offer, SessionError> {
        let sdp =
            SdpOffer::from_sdp_string(&text).map_err(|e| SessionError::BadOffer(e.to_string()))?;
        let remote_ufrag = text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("a=ice-ufrag:")
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_default();
        Ok(Offer {
            text,
            sdp,
            remote_ufrag,
        })
    }
}

impl Shard {
    /// A configured `Rtc` for a new session, and for a player with direct egress on, the slot
    /// its DTLS-SRTP keys will land in.
    pub(crate) fn new_rtc(
        &self,
        creds: IceCreds,
        codecs: CodecConfig,
        req: &SessionRequest,
        now: Instant,
    ) -> Result<(Rtc, Option<KeySlot>), SessionError> {
        let mut config = RtcConfig::new()
            .set_crypto_provider(key_capture::provider())
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .set_dtls_cert(self.cert.clone())
            .set_local_ice_credentials(creds)
            .set_stats_interval(Some(Duration::from_secs(2)))
            // Answered when a peer offers it, forwarded from publisher to players (id 7 is free
            // in str0m's standard map; an offer's own id wins).
            .set_extension(7, Extension::AbsoluteCaptureTime)
            .set_send_buffer_video(self.cfg.rtx_cache_packets)
            .set_send_buffer_audio(self.cfg.rtx_cache_packets.min(512))
            // str0m uses one value for the advertised a=max-message-size and for its SCTP
            // receive limit, and a message over the receive limit aborts the whole association.
            // So the receive limit is set well above the policy (the answer is rewritten to
            // advertise the policy), and a message between the two closes only its channel.
            .set_sctp_max_message_size(
                u32::try_from(sctp_receive_limit(self.cfg.datachannel_max_message_size))
                    .unwrap_or(u32::MAX),
            )
            // SCTP's own buffer; our per-channel queues (datachannelBufferBytes) sit in front.
            .set_sctp_max_buffered_amount(1 << 20);
        *config.codec_config() = codecs;
        let direct = req.kind == SessionKind::Play && self.cfg.direct_egress;
        if req.kind == SessionKind::Play {
            config = without_transport_cc(config);
        }
        if direct {
            // A player's NACKs reach the engine only as raw RTCP (str0m answers NACKs itself
            // from its own cache, which direct egress does not fill).
            config = config.enable_raw_packets(true);
        }
        let keys = direct.then(key_capture::capture_next_dtls);
        let mut rtc = config.build(now);
        key_capture::cancel_capture();
        let mut added = 0;
        for &addr in &req.candidates.udp {
            let c = if self.cfg.prefer_tcp {
                host_candidate_with_type_preference(addr, Protocol::Udp, DEMOTED_UDP_HOST_TYPE_PREFERENCE)
            } else {
                Candidate::host(addr, "udp")
            };
            if let Ok(c) = c {
                if rtc.add_local_candidate(c).is_some() {
                    added += 1;
                }
            }
        }
        for &addr in &req.candidates.tcp {
            let c = if self.cfg.prefer_tcp {
                host_candidate_with_type_preference(addr, Protocol::Tcp, PREFERRED_TCP_HOST_TYPE_PREFERENCE)
            } else {
                Candidate::builder().tcp().host(addr).tcptype(TcpType::Passive).build()
            };
            if let Ok(c) = c {
                if rtc.add_local_candidate(c).is_some() {
                    added += 1;
                }
            }
        }
        if added == 0 {
            return Err(SessionError::Internal(
                "no usable ICE candidate address (check rtc.externIP)".into(),
            ));
        }
        Ok((rtc, keys))
    }
}

/// Host candidate type preferences under `rtc.preferred_tcp` (RFC 8445 §5.1.2.1; by default
/// str0m, like libwebrtc, gives UDP host 126 and TCP host 90). A pair's priority is driven by
/// the lower of its two candidates (§6.1.2.3), and clients rank their own UDP host candidates
/// at 126 and TCP ones at ~90, so only swapping ours would tie the pairs (Chromium then picked
/// UDP in the e2e test): our UDP candidates go below any client's TCP host preference instead.
const PREFERRED_TCP_HOST_TYPE_PREFERENCE: u32 = 126;
const DEMOTED_UDP_HOST_TYPE_PREFERENCE: u32 = 50;

/// A host candidate with an explicit type preference. str0m's builder computes the priority
/// itself and has no setter, so this builds the candidate from its parts with the RFC 8445
/// §5.1.2.1 formula: (2^24)*type + (2^8)*local + (256 - component), local preference as str0m
/// (IPv6 65535, IPv4 65534), component 1 (RTP; rtcp-mux). TCP candidates are passive (RFC 6544).
fn host_candidate_with_type_preference(addr: SocketAddr, proto: Protocol, type_preference: u32) -> Result<Candidate, str0m::error::IceError> {
    let local_preference: u32 = if addr.is_ipv6() { 65_535 } else { 65_534 };
    let prio = type_preference << 24 | local_preference << 8 | 255;
    let (foundation, tcptype) = match proto {
        Protocol::Udp => ("1", None),
        _ => ("2", Some(TcpType::Passive)),
    };
    // from_parts keeps whatever it is given: reject what Candidate::host would reject.
    Candidate::host(addr, "udp")?;
    Ok(Candidate::from_parts(foundation.to_string(), 1, proto, prio, addr, CandidateKind::Host, None, tcptype, None))
}

/// A trickled `application/trickle-ice-sdpfrag` body (RFC 8840).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SdpFrag {
    pub ufrag: Option<String>,
    pub pwd: Option<String>,
    /// `candidate:...` attribute values.
    pub candidates: Vec<String>,
}

impl SdpFrag {
    pub(crate) fn parse(frag: &str) -> SdpFrag {
        let mut f = SdpFrag::default();
        for line in frag.lines().map(|l| l.trim()) {
            if let Some(v) = line.strip_prefix("a=ice-ufrag:") {
                f.ufrag = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("a=ice-pwd:") {
                f.pwd = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("a=") {
                if v.starts_with("candidate:") {
                    f.candidates.push(v.to_owned());
                }
            }
        }
        f
    }
}

/// The answer fragment of an ICE restart: our new credentials and our candidates (ICE-lite).
pub(crate) fn restart_answer(
    creds: &IceCreds,
    udp: &[std::net::SocketAddr],
    tcp: &[std::net::SocketAddr],
) -> String {
    let mut body = format!(
        "a=ice-lite\r\na=ice-ufrag:{}\r\na=ice-pwd:{}\r\n",
        creds.ufrag, creds.pass
    );
    for a in udp {
        body.push_str(&format!(
            "a=candidate:1 1 udp 2130706431 {} {} typ host\r\n",
            a.ip(),
            a.port()
        ));
    }
    for a in tcp {
        body.push_str(&format!(
            "a=candidate:2 1 tcp 1671430143 {} {} typ host tcptype passive\r\n",
            a.ip(),
            a.port()
        ));
    }
    body
}

/// Payload type numbers the offer does not use, in the dynamic range (RFC 3551 section 6).
fn unused_payload_types(offer: &str) -> Vec<Pt> {
    let used: Vec<u8> = offer
        .lines()
        .filter(|l| l.starts_with("m="))
        .flat_map(|l| {
            l.split(' ')
                .skip(3)
                .filter_map(|p| p.trim().parse::<u8>().ok())
        })
        .collect();
    (96u8..=127)
        .chain(35..=63)
        .filter(|p| !used.contains(p))
        .map(Pt::from)
        .collect()
}

/// A stream's codec as configured for a player: fresh payload type numbers the player's offer
/// does not use (str0m renumbers them to the player's own during negotiation, which fails if our
/// number collides with another of the player's codecs), and for video a retransmission payload
/// type (RFC 4588) so the player's NACKs are answered as RTX from our buffer.
fn for_player(spec: CodecSpec, free: &mut Vec<Pt>) -> Option<PayloadParams> {
    if free.is_empty() {
        return None;
    }
    let pt = free.remove(0);
    let rtx = if spec.codec.is_video() && !free.is_empty() {
        Some(free.remove(0))
    } else {
        None
    };
    Some(PayloadParams::new(pt, rtx, spec))
}

/// Players are not offered transport-wide sequence numbers (transport-cc): their feedback only
/// serves a sender-side bandwidth estimator, which the engine does not run (str0m's BWE is off),
/// yet each player would send ~20 feedback packets a second to be decrypted and parsed (nine in
/// ten of the datagrams the engine received in a 150-player fan-out), and every forwarded packet
/// would be registered for it. Publishers keep it: their own bandwidth estimation needs our
/// feedback. A congestion controller towards players (simulcast layer choice) would need it back.
fn without_transport_cc(mut config: RtcConfig) -> RtcConfig {
    // str0m's map has no single-entry removal: rebuild it without the one extension.
    let kept: Vec<(u8, Extension)> = config
        .extension_map()
        .iter()
        .filter(|(_, ext)| **ext != Extension::TransportSequenceNumber)
        .map(|(id, ext)| (id, ext.clone()))
        .collect();
    kept.into_iter()
        .fold(config.clear_extension_map(), |config, (id, ext)| {
            config.set_extension(id, ext)
        })
}

/// SCTP receive limit for a policy limit of `policy` bytes: room for a hostile or mistaken
/// sender to overshoot without aborting the association.
fn sctp_receive_limit(policy: usize) -> usize {
    policy.saturating_mul(4).max(1 << 20)
}

/// Rewrites `a=max-message-size` (RFC 8841) in an answer to the policy limit.
pub(crate) fn advertise_max_message_size(sdp: &str, policy: usize) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("a=max-message-size:") {
            out.push_str(&format!("a=max-message-size:{policy}\r\n"));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The `a=mid:` values of an offer, in order.
fn offer_mids(sdp: &str) -> Vec<Mid> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=mid:"))
        .map(|m| Mid::from(m.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdpfrag_with_candidates_and_restart_credentials() {
        let f = SdpFrag::parse("a=ice-ufrag:abc\r\na=ice-pwd:secret\r\na=mid:0\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n");
        assert_eq!(f.ufrag.as_deref(), Some("abc"));
        assert_eq!(f.pwd.as_deref(), Some("secret"));
        assert_eq!(
            f.candidates,
            vec!["candidate:1 1 udp 1 127.0.0.1 5000 typ host".to_string()]
        );
    }

    #[test]
    fn player_payload_types_avoid_the_offers() {
        let free = unused_payload_types(
            "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
        );
        assert_eq!(free[0], Pt::from(99));
        assert!(!free.contains(&Pt::from(111)));
    }

    #[test]
    fn preferred_tcp_candidates_outrank_udp_and_any_client_tcp_host() {
        let addr: SocketAddr = "192.0.2.7:8000".parse().expect("literal");
        let tcp = host_candidate_with_type_preference(addr, Protocol::Tcp, PREFERRED_TCP_HOST_TYPE_PREFERENCE).expect("tcp");
        let udp = host_candidate_with_type_preference(addr, Protocol::Udp, DEMOTED_UDP_HOST_TYPE_PREFERENCE).expect("udp");
        let default_udp = Candidate::host(addr, "udp").expect("udp");
        assert_eq!(tcp.prio(), default_udp.prio(), "TCP takes the UDP host priority");
        assert!(udp.prio() < 80 << 24, "UDP below a client's TCP host type preference");
        assert_eq!(tcp.tcptype(), Some(TcpType::Passive));
        let sdp = tcp.to_sdp_string();
        assert!(sdp.contains(" tcp ") && sdp.contains("tcptype passive"), "{sdp}");
        assert!(host_candidate_with_type_preference("0.0.0.0:1".parse().expect("literal"), Protocol::Udp, 1).is_err());
    }
}
