//! A real encoded clip for the publishers: an H264 Annex B elementary stream (baseline, no
//! B-frames) and optionally an Ogg Opus file, looped. `weir-bench make-clip` makes both with
//! FFmpeg (libx264, libopus) at the run's bitrate, frame rate and GOP; `--clip DIR` sends them
//! instead of the synthetic stream, so a decoding player (a browser) shows a picture and the
//! server sees an encoder's real frame sizes.
//!
//! Written by hand because all it takes is splitting on start codes, grouping NAL units into
//! access units (H.264 7.4.1.2.3) and RFC 6184 packetization; the Ogg side is RFC 3533 page
//! framing and RFC 7845's two header packets.

use crate::h264::MAX_PAYLOAD;
use std::path::Path;

/// One access unit (a video frame): its NAL units without start codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub nals: Vec<Vec<u8>>,
    /// Holds an IDR slice (and, after loading, SPS and PPS in front of it).
    pub key: bool,
}

pub struct Clip {
    pub frames: Vec<Frame>,
    /// Opus packets of 20 ms each; empty: the publisher sends synthetic audio.
    pub audio: Vec<Vec<u8>>,
}

fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// NAL units of an Annex B byte stream (start codes and trailing zero bytes removed).
pub fn split_annexb(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(data.len(), |&next| next - 3);
        let mut nal = &data[s..end];
        // The zero byte of a following 4-byte start code, or trailing_zero_8bits.
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        if !nal.is_empty() {
            nals.push(nal);
        }
    }
    nals
}

/// Groups NAL units into access units (H.264 7.4.1.2.3): a new one starts at an access unit
/// delimiter, SPS, PPS, SEI or prefix NAL, or at a slice with `first_mb_in_slice` = 0 (its
/// ue(v) code is the single bit 1), once the current one has a slice. Access unit delimiters
/// are dropped (WebRTC senders do not send them); SPS and PPS are put in front of every IDR
/// that lacks them, as a WebRTC sender does, so a player can start at any keyframe.
pub fn access_units(nals: &[&[u8]]) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut cur: Vec<Vec<u8>> = Vec::new();
    let mut cur_has_slice = false;
    let (mut sps, mut pps): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    let finish = |cur: &mut Vec<Vec<u8>>, frames: &mut Vec<Frame>, sps: &Option<Vec<u8>>, pps: &Option<Vec<u8>>| {
        if cur.is_empty() {
            return;
        }
        let mut nals = std::mem::take(cur);
        let key = nals.iter().any(|n| nal_type(n) == 5);
        if key {
            if !nals.iter().any(|n| nal_type(n) == 8) {
                if let Some(p) = pps {
                    nals.insert(0, p.clone());
                }
            }
            if !nals.iter().any(|n| nal_type(n) == 7) {
                if let Some(s) = sps {
                    nals.insert(0, s.clone());
                }
            }
        }
        frames.push(Frame { nals, key });
    };
    for &nal in nals {
        let t = nal_type(nal);
        let slice = matches!(t, 1 | 5);
        let starts_au = match t {
            6..=9 | 14..=18 => true,
            1 | 5 => nal.get(1).is_some_and(|b| b & 0x80 != 0),
            _ => false,
        };
        if starts_au && cur_has_slice {
            finish(&mut cur, &mut frames, &sps, &pps);
            cur_has_slice = false;
        }
        match t {
            7 => sps = Some(nal.to_vec()),
            8 => pps = Some(nal.to_vec()),
            _ => {}
        }
        if t != 9 {
            cur.push(nal.to_vec());
        }
        cur_has_slice |= slice;
    }
    if cur_has_slice {
        finish(&mut cur, &mut frames, &sps, &pps);
    }
    frames
}

/// RFC 6184 packetization (non-interleaved mode) of one access unit: NAL units that fit
/// together go into a STAP-A (5.7.1), a NAL unit alone that fits is sent as it is (5.6), a
/// bigger one is cut into FU-A fragments (5.8). The caller sets the marker on the last packet.
pub fn packetize(frame: &Frame) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut group: Vec<&[u8]> = Vec::new();
    let mut group_len = 1; // the STAP-A header byte
    let flush = |group: &mut Vec<&[u8]>, group_len: &mut usize, out: &mut Vec<Vec<u8>>| {
        match group.as_slice() {
            [] => {}
            [one] => out.push(one.to_vec()),
            many => {
                // F: OR of the units' F bits; NRI: the highest of theirs (RFC 6184 5.7.1).
                let f = many.iter().fold(0, |a, n| a | (n[0] & 0x80));
                let nri = many.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
                let mut p = Vec::with_capacity(*group_len);
                p.push(f | nri | 24);
                for n in many {
                    p.extend_from_slice(&(n.len() as u16).to_be_bytes());
                    p.extend_from_slice(n);
                }
                out.push(p);
            }
        }
        group.clear();
        *group_len = 1;
    };
    for nal in frame.nals.iter().filter(|n| !n.is_empty()) {
        if nal.len() > MAX_PAYLOAD {
            flush(&mut group, &mut group_len, &mut out);
            let (indicator, t) = ((nal[0] & 0xe0) | 28, nal[0] & 0x1f);
            let body = &nal[1..];
            let chunks: Vec<&[u8]> = body.chunks(MAX_PAYLOAD - 2).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                let mut header = t;
                if i == 0 {
                    header |= 0x80;
                }
                if i + 1 == chunks.len() {
                    header |= 0x40;
                }
                let mut p = Vec::with_capacity(2 + chunk.len());
                p.extend_from_slice(&[indicator, header]);
                p.extend_from_slice(chunk);
                out.push(p);
            }
            continue;
        }
        if group_len + 2 + nal.len() > MAX_PAYLOAD {
            flush(&mut group, &mut group_len, &mut out);
        }
        group.push(nal);
        group_len += 2 + nal.len();
    }
    flush(&mut group, &mut group_len, &mut out);
    out
}

/// The packets of an Ogg stream (RFC 3533): lacing values of 255 continue a packet, also
/// across pages. Errors on a page that is not one.
pub fn ogg_packets(data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut packets = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let header = data.get(at..at + 27).ok_or("truncated Ogg page header")?;
        if &header[..4] != b"OggS" {
            return Err(format!("no Ogg page at byte {at}"));
        }
        let nsegs = header[26] as usize;
        let table = data.get(at + 27..at + 27 + nsegs).ok_or("truncated Ogg segment table")?;
        let mut body = at + 27 + nsegs;
        for &lacing in table {
            let seg = data.get(body..body + lacing as usize).ok_or("truncated Ogg page")?;
            partial.extend_from_slice(seg);
            body += lacing as usize;
            if lacing < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        at = body;
    }
    Ok(packets)
}

impl Clip {
    /// Reads `dir/video.h264` (required) and `dir/audio.ogg` (if present).
    pub fn load(dir: &Path) -> Result<Clip, String> {
        let video = dir.join("video.h264");
        let data = std::fs::read(&video).map_err(|e| format!("{}: {e}", video.display()))?;
        let frames = access_units(&split_annexb(&data));
        match frames.first() {
            None => return Err(format!("{}: no H264 access units", video.display())),
            Some(f) if !f.key => return Err(format!("{}: does not start with an IDR frame", video.display())),
            Some(_) => {}
        }
        if frames.iter().any(|f| f.nals.iter().any(|n| nal_type(n) == 5) && !f.nals.iter().any(|n| nal_type(n) == 7)) {
            return Err(format!("{}: an IDR frame without a preceding SPS", video.display()));
        }
        let audio_path = dir.join("audio.ogg");
        let audio = if audio_path.exists() {
            let data = std::fs::read(&audio_path).map_err(|e| format!("{}: {e}", audio_path.display()))?;
            let mut packets = ogg_packets(&data).map_err(|e| format!("{}: {e}", audio_path.display()))?;
            // RFC 7845 section 5: identification and comment headers first.
            if !packets.first().is_some_and(|p| p.starts_with(b"OpusHead")) {
                return Err(format!("{}: not an Ogg Opus file", audio_path.display()));
            }
            packets.drain(..packets.len().min(2));
            packets.retain(|p| !p.is_empty());
            packets
        } else {
            Vec::new()
        };
        Ok(Clip { frames, audio })
    }

    /// The index of the next keyframe after `i` (wrapping to the clip's start).
    pub fn next_key(&self, i: usize) -> usize {
        (i + 1..self.frames.len()).find(|&k| self.frames[k].key).unwrap_or(0)
    }

    /// Frames from the first keyframe up to the next one.
    pub fn gop_len(&self) -> usize {
        match self.next_key(0) {
            0 => self.frames.len(),
            k => k,
        }
    }

    /// RTP payload sizes of the clip's first GOP per frame (for the probe's `stream` row), and
    /// of its audio packets in the same time.
    pub fn gop_sizes(&self, fps: f64) -> (Vec<Vec<usize>>, Vec<usize>) {
        let frames: Vec<Vec<usize>> =
            self.frames[..self.gop_len()].iter().map(|f| packetize(f).iter().map(Vec::len).collect()).collect();
        let audio_n = (frames.len() as f64 / fps * 1000.0 / crate::publisher::AUDIO_MS as f64).round() as usize;
        let audio = match self.audio.is_empty() {
            // Without an audio file the publisher sends its synthetic audio.
            true => vec![crate::publisher::AUDIO_BYTES; audio_n],
            false => self.audio.iter().cycle().take(audio_n).map(Vec::len).collect(),
        };
        (frames, audio)
    }
}

/// `weir-bench make-clip --out DIR [--bitrate 600] [--fps 30] [--gop-secs 2] [--seconds 4]`:
/// a test pattern with a moving element and a tone, encoded by FFmpeg the way a WebRTC sender
/// would (H264 constrained baseline, no B-frames, fixed GOP, CBR-like rate control; Opus in
/// 20 ms frames).
pub fn make(a: &crate::args::Args) -> Result<(), String> {
    let out = a.str("out").ok_or("--out DIR is required")?;
    let kbps: u32 = a.num("bitrate", 600)?;
    let fps: u32 = a.num("fps", 30)?;
    let gop_secs: f64 = a.num("gop-secs", 2.0)?;
    let seconds: u32 = a.num("seconds", 4)?;
    if !(10..=100_000).contains(&kbps) || !(1..=120).contains(&fps) || !(0.1..=60.0).contains(&gop_secs) || !(1..=600).contains(&seconds) {
        return Err("--bitrate 10..100000, --fps 1..120, --gop-secs 0.1..60, --seconds 1..600".into());
    }
    let gop = ((fps as f64 * gop_secs).round() as u64).max(1);
    std::fs::create_dir_all(out).map_err(|e| format!("{out}: {e}"))?;
    let dir = Path::new(out);
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", &format!("testsrc2=size=640x360:rate={fps}")])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-map", "0:v", "-t", &seconds.to_string(), "-c:v", "libx264", "-profile:v", "baseline"])
        .args(["-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-bf", "0"])
        .args(["-b:v", &format!("{kbps}k"), "-maxrate", &format!("{kbps}k"), "-bufsize", &format!("{}k", kbps * 2)])
        .args(["-g", &gop.to_string(), "-keyint_min", &gop.to_string(), "-sc_threshold", "0"])
        .args(["-f", "h264"])
        .arg(dir.join("video.h264"))
        .args(["-map", "1:a", "-t", &seconds.to_string(), "-c:a", "libopus", "-b:a", "32k", "-frame_duration", "20"])
        .args(["-application", "lowdelay", "-f", "ogg"])
        .arg(dir.join("audio.ogg"))
        .status()
        .map_err(|e| format!("running ffmpeg: {e}"))?;
    if !status.success() {
        return Err(format!("ffmpeg failed: {status}"));
    }
    let clip = Clip::load(dir)?;
    let bytes: usize = clip.frames.iter().flat_map(|f| f.nals.iter()).map(Vec::len).sum();
    println!(
        "{}: {} frames ({} keyframes, {:.0} kbps at {fps} fps), {} Opus packets",
        dir.display(),
        clip.frames.len(),
        clip.frames.iter().filter(|f| f.key).count(),
        bytes as f64 * 8.0 * fps as f64 / clip.frames.len() as f64 / 1000.0,
        clip.audio.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPS: &[u8] = &[0x67, 0x42, 0xc0, 0x1f, 0xda];
    const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

    fn slice(idr: bool, first_mb_zero: bool, len: usize) -> Vec<u8> {
        let mut n = vec![if idr { 0x65 } else { 0x41 }, if first_mb_zero { 0x88 } else { 0x40 }];
        n.extend((0..len.saturating_sub(2)).map(|i| (i % 251) as u8 | 1));
        n
    }

    fn annexb(nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, n) in nals.iter().enumerate() {
            // Both start code lengths, as encoders mix them.
            out.extend_from_slice(if i % 2 == 0 { &[0, 0, 0, 1][..] } else { &[0, 0, 1][..] });
            out.extend_from_slice(n);
        }
        out
    }

    #[test]
    fn annexb_access_units_and_parameter_sets() {
        let aud: &[u8] = &[0x09, 0xf0];
        let idr = slice(true, true, 3000);
        let p1 = slice(false, true, 400);
        let p1b = slice(false, false, 300); // a second slice of the same picture
        let idr2 = slice(true, true, 2000);
        let data = annexb(&[aud, SPS, PPS, &idr, aud, &p1, &p1b, aud, &idr2]);
        let nals = split_annexb(&data);
        assert_eq!(nals.len(), 9);
        assert_eq!(nals[3], &idr[..]);
        let frames = access_units(&nals);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0], Frame { nals: vec![SPS.to_vec(), PPS.to_vec(), idr.clone()], key: true });
        assert_eq!(frames[1], Frame { nals: vec![p1.clone(), p1b.clone()], key: false });
        // The second IDR had no SPS/PPS in the stream: they are put in front of it.
        assert_eq!(frames[2], Frame { nals: vec![SPS.to_vec(), PPS.to_vec(), idr2.clone()], key: true });
    }

    /// Undoes the packetization as a receiver does (RFC 6184 5.6-5.8).
    fn depacketize(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut nals = Vec::new();
        let mut fu: Vec<u8> = Vec::new();
        for p in packets {
            assert!(p.len() <= MAX_PAYLOAD, "{}", p.len());
            match p[0] & 0x1f {
                24 => {
                    let mut at = 1;
                    while at < p.len() {
                        let n = u16::from_be_bytes([p[at], p[at + 1]]) as usize;
                        nals.push(p[at + 2..at + 2 + n].to_vec());
                        at += 2 + n;
                    }
                }
                28 => {
                    if p[1] & 0x80 != 0 {
                        fu = vec![(p[0] & 0xe0) | (p[1] & 0x1f)];
                    }
                    fu.extend_from_slice(&p[2..]);
                    if p[1] & 0x40 != 0 {
                        nals.push(std::mem::take(&mut fu));
                    }
                }
                _ => nals.push(p.clone()),
            }
        }
        nals
    }

    #[test]
    fn packetization_round_trips() {
        let idr = slice(true, true, 3000);
        let frame = Frame { nals: vec![SPS.to_vec(), PPS.to_vec(), idr.clone()], key: true };
        let packets = packetize(&frame);
        // SPS + PPS in one STAP-A, then the IDR in three FU-A fragments.
        assert_eq!(packets.len(), 4);
        assert_eq!(packets[0][0] & 0x1f, 24);
        assert!(crate::h264::is_keyframe_start(&packets[0]));
        assert_eq!((packets[1][1] & 0xc0, packets[3][1] & 0xc0), (0x80, 0x40));
        assert_eq!(depacketize(&packets), frame.nals);
        // A small slice alone is a single NAL unit packet.
        let p = Frame { nals: vec![slice(false, true, 500)], key: false };
        assert_eq!(packetize(&p), p.nals);
    }

    #[test]
    fn ogg_packets_span_segments_and_pages() {
        fn page(segments: &[u8], body: &[u8]) -> Vec<u8> {
            let mut p = b"OggS".to_vec();
            p.extend_from_slice(&[0; 22]);
            p.push(segments.len() as u8);
            p.extend_from_slice(segments);
            p.extend_from_slice(body);
            p
        }
        let big = vec![7u8; 300];
        let mut data = page(&[8, 255], &[b"OpusHead".as_slice(), &big[..255]].concat());
        data.extend(page(&[45, 3], &[&big[255..], &[1, 2, 3][..]].concat()));
        let packets = ogg_packets(&data).unwrap();
        assert_eq!(packets, vec![b"OpusHead".to_vec(), big, vec![1, 2, 3]]);
        assert!(ogg_packets(b"nope").is_err());
        assert!(ogg_packets(&data[..data.len() - 1]).is_err());
    }
}
