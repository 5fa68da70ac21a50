//! The lite player's WHEP offer and the parts of the server's answer it needs (ICE credentials,
//! DTLS fingerprint and role, payload types and extension ids).

use super::*;

/// The WHEP offer: recv-only H264 (several profiles, each with RTX unless `rtx` is false: many
/// non-browser players offer NACK without RTX) and Opus, abs-capture-time, our DTLS
/// fingerprint, `a=setup:active` (we are the DTLS client).
pub fn offer(ufrag: &str, pwd: &str, fingerprint: &str, rtx: bool) -> String {
    let session = format!(
        "v=0\r\no=- {} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=msid-semantic: WMS\r\n",
        rand_u32()
    );
    let common = format!(
        "c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\na=ice-options:trickle\r\n\
a=fingerprint:sha-256 {fingerprint}\r\na=setup:active\r\na=extmap:{ABS_CAPTURE_TIME_ID} {ABS_CAPTURE_TIME_URI}\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\n"
    );
    let video_pts: &[u8] = if rtx { &[102, 103, 104, 105, 106, 107, 108, 109] } else { &[102, 104, 106, 108] };
    let pts: Vec<String> = video_pts.iter().map(u8::to_string).collect();
    let mut v = format!("m=video 9 UDP/TLS/RTP/SAVPF {}\r\n{common}a=mid:0\r\n", pts.join(" "));
    for (pt, plid) in [(102, "42001f"), (104, "42e01f"), (106, "4d001f"), (108, "64001f")] {
        v.push_str(&format!(
            "a=rtpmap:{pt} H264/90000\r\na=rtcp-fb:{pt} nack\r\na=rtcp-fb:{pt} nack pli\r\na=rtcp-fb:{pt} ccm fir\r\n\
a=fmtp:{pt} level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={plid}\r\n"
        ));
        if rtx {
            v.push_str(&format!("a=rtpmap:{} rtx/90000\r\na=fmtp:{} apt={pt}\r\n", pt + 1, pt + 1));
        }
    }
    let a = format!(
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n{common}a=mid:1\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
    );
    format!("{session}{v}{a}")
}

/// What the player needs from the answer.
#[derive(Debug, Default, PartialEq)]
pub struct Answer {
    pub ufrag: String,
    pub pwd: String,
    pub fingerprint: String,
    pub setup: String,
    pub candidates: Vec<SocketAddr>,
    pub video_pts: Vec<u8>,
    pub audio_pts: Vec<u8>,
    pub rtx_pts: Vec<u8>,
    pub abs_id: Option<u8>,
}

pub fn parse_answer(sdp: &str) -> Result<Answer, String> {
    let mut a = Answer::default();
    let mut media = "";
    let mut rtx_candidates: Vec<u8> = Vec::new();
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            media = if m.starts_with("video") {
                "video"
            } else if m.starts_with("audio") {
                "audio"
            } else {
                "other"
            };
        } else if let Some(v) = line.strip_prefix("a=ice-ufrag:") {
            a.ufrag = v.to_owned();
        } else if let Some(v) = line.strip_prefix("a=ice-pwd:") {
            a.pwd = v.to_owned();
        } else if let Some(v) = line.strip_prefix("a=fingerprint:sha-256 ") {
            a.fingerprint = v.trim().to_ascii_uppercase();
        } else if let Some(v) = line.strip_prefix("a=setup:") {
            a.setup = v.to_owned();
        } else if let Some(v) = line.strip_prefix("a=candidate:") {
            // foundation component transport priority address port typ ...
            let f: Vec<&str> = v.split_whitespace().collect();
            if f.len() >= 6 && f[2].eq_ignore_ascii_case("udp") {
                if let (Ok(ip), Ok(port)) = (f[4].parse::<std::net::IpAddr>(), f[5].parse::<u16>()) {
                    a.candidates.push(SocketAddr::new(ip, port));
                }
            }
        } else if let Some(v) = line.strip_prefix("a=extmap:") {
            let mut it = v.split_whitespace();
            let id = it.next().and_then(|i| i.split('/').next()).and_then(|i| i.parse().ok());
            if it.next() == Some(ABS_CAPTURE_TIME_URI) {
                a.abs_id = id;
            }
        } else if let Some(v) = line.strip_prefix("a=rtpmap:") {
            let mut it = v.split_whitespace();
            let Some(pt) = it.next().and_then(|p| p.parse::<u8>().ok()) else { continue };
            let codec = it.next().unwrap_or("").to_ascii_lowercase();
            if codec.starts_with("rtx/") {
                rtx_candidates.push(pt);
            } else if media == "video" {
                a.video_pts.push(pt);
            } else if media == "audio" {
                a.audio_pts.push(pt);
            }
        }
    }
    a.rtx_pts = rtx_candidates;
    if a.ufrag.is_empty() || a.pwd.is_empty() {
        return Err("answer without ICE credentials".into());
    }
    if a.fingerprint.is_empty() {
        return Err("answer without a sha-256 fingerprint".into());
    }
    if a.candidates.is_empty() {
        return Err("answer without a UDP candidate".into());
    }
    if a.setup != "passive" {
        return Err(format!("answer a=setup:{} (we offered active)", a.setup));
    }
    Ok(a)
}
