//! `fanout`: one WHIP publisher and N WHEP players, all str0m clients driven by one event loop.

use crate::args::Args;
use crate::h264;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

const AUDIO_BYTES: usize = 100;

struct Client {
    rtc: Rtc,
    sock: UdpSocket,
    local: SocketAddr,
    publisher: bool,
    location: Option<String>,
    timeout: Instant,
    dead: Option<String>,
    t_post: Instant,
    to_201: Option<Duration>,
    to_connected: Option<Duration>,
    to_first_key: Option<Duration>,
    // player counters
    packets: u64,
    bytes: u64,
    window: HashSet<u32>,
    dup: u64,
    reordered: u64,
    max_number: [Option<u32>; 2], // video, audio
    // publisher tracks
    video: Option<(Mid, Pt)>,
    audio: Option<(Mid, Pt)>,
}

struct Window {
    start: u32,
    end: Option<u32>,
}

pub fn run(a: &Args) -> Result<(), String> {
    let whip = a
        .str("whip")
        .ok_or("--whip URL_TEMPLATE is required")?
        .to_owned();
    let whep = a
        .str("whep")
        .ok_or("--whep URL_TEMPLATE is required")?
        .to_owned();
    let app = a.str("app").unwrap_or("live").to_owned();
    let stream = a.str("stream").unwrap_or("bench").to_owned();
    let players: usize = a.num("players", 10)?;
    let duration: f64 = a.num("duration", 10.0)?;
    let bitrate_kbps: f64 = a.num("bitrate", 600.0)?;
    let fps: f64 = a.num("fps", 30.0)?;
    let gop_secs: f64 = a.num("gop-secs", 2.0)?;
    let setup_timeout: f64 = a.num("setup-timeout", 30.0)?;
    let pid: Option<u32> = a
        .str("server-pid")
        .map(|s| s.parse().map_err(|_| "--server-pid: not a number"))
        .transpose()?;
    if players > 5000
        || !(0.1..=3600.0).contains(&duration)
        || !(1.0..=120.0).contains(&fps)
        || !(10.0..=100_000.0).contains(&bitrate_kbps)
    {
        return Err("out of range: --players <= 5000, --duration 0.1..3600, --fps 1..120, --bitrate 10..100000".into());
    }
    if let Some(c) = a.str("core") {
        crate::sys::pin_to_core(c.parse().map_err(|_| "--core: not a number")?)?;
    }
    let fill = |t: &str| t.replace("{app}", &app).replace("{stream}", &stream);
    let (whip, whep) = (fill(&whip), fill(&whep));

    let epoch = Instant::now();
    let hard_deadline = epoch + Duration::from_secs_f64(setup_timeout + duration + 5.0);
    let frame_every = Duration::from_secs_f64(1.0 / fps);
    let frames_per_gop = ((fps * gop_secs).round() as u64).max(1);
    // keyframe = 4 delta frames: (F - 1) d + 4 d = bytes per GOP
    let gop_bytes = bitrate_kbps * 1000.0 / 8.0 * (frames_per_gop as f64 / fps);
    let delta_bytes = (gop_bytes / (frames_per_gop as f64 + 3.0)) as usize;
    let mut rng = h264::Rng(0x9e37_79b9_7f4a_7c15);

    let mut clients: Vec<Client> = Vec::new();
    clients.push(new_client(true, &whip, epoch)?);
    let mut number: u32 = 0; // publisher packet numbers (stamps), audio and video together
    let (mut vseq, mut aseq): (u64, u64) = (1000, 5000);
    let mut frame_no: u64 = 0;
    let mut next_frame = Instant::now();
    let mut next_audio = Instant::now();
    let mut publishing = false;
    let mut players_started = 0usize;
    let mut setup_deadline: Option<Instant> = None;
    let mut window: Option<Window> = None;
    let mut window_t: Option<(Instant, Option<Instant>)> = None;
    let mut cpu0 = (0u64, 0u64, 0u64); // server cpu us, server rss KiB, bench cpu us
    let mut cpu1 = (0u64, 0u64, 0u64);
    let mut latencies: Vec<u32> = Vec::new();
    let mut pfds: Vec<libc::pollfd> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut published_total = 0u64;
    let mut kinds: Vec<u8> = Vec::new(); // per publisher packet number: k(STAP-A) v(FU-A) m(last FU-A of a frame) a(audio)

    loop {
        let now = Instant::now();
        if now > hard_deadline {
            return Err("hard time limit reached".into());
        }
        // Publisher media.
        if clients[0].dead.is_some() {
            return Err(format!(
                "publisher failed: {}",
                clients[0].dead.clone().unwrap()
            ));
        }
        if publishing {
            let p = &mut clients[0];
            let mut frames = 0;
            while next_frame <= now && frames < 10 {
                let key = frame_no % frames_per_gop == 0;
                let size = if key { delta_bytes * 4 } else { delta_bytes };
                let send_us = now.duration_since(epoch).as_micros() as u64;
                let pkts = h264::frame(key, size, number, send_us, &mut rng);
                for (i, _) in pkts.iter().enumerate() {
                    kinds.push(if key && i == 0 {
                        b'k'
                    } else if i + 1 == pkts.len() {
                        b'm'
                    } else {
                        b'v'
                    });
                }
                number += pkts.len() as u32;
                published_total += pkts.len() as u64;
                let ts = (frame_no as f64 * 90_000.0 / fps) as u32;
                let (mid, pt) = p.video.unwrap();
                let n = pkts.len();
                if let Some(tx) = p.rtc.direct_api().stream_tx_by_mid(mid, None) {
                    for (i, pl) in pkts.into_iter().enumerate() {
                        tx.write_rtp(
                            RtpWrite::new(pt, vseq.into(), ts, now, pl)
                                .marker(i + 1 == n)
                                .nackable(true),
                        );
                        vseq += 1;
                    }
                }
                frame_no += 1;
                next_frame += frame_every;
                frames += 1;
            }
            let mut n = 0;
            while next_audio <= now && n < 10 {
                let send_us = now.duration_since(epoch).as_micros() as u64;
                let pl = h264::audio(AUDIO_BYTES, number, send_us, &mut rng);
                number += 1;
                kinds.push(b'a');
                published_total += 1;
                let (mid, pt) = p.audio.unwrap();
                let ts = ((aseq - 5000) * 960) as u32;
                if let Some(tx) = p.rtc.direct_api().stream_tx_by_mid(mid, None) {
                    tx.write_rtp(RtpWrite::new(pt, aseq.into(), ts, now, pl).marker(false));
                }
                aseq += 1;
                next_audio += Duration::from_millis(20);
                n += 1;
            }
            drive(&mut clients[0], now, epoch, &window, &mut latencies);
        }

        // Phases: publisher connected -> 1 s of media -> players, one POST per loop turn.
        if !publishing && clients[0].to_connected.is_some() {
            publishing = true;
            next_frame = now;
            next_audio = now;
            setup_deadline =
                Some(now + Duration::from_secs_f64(setup_timeout) + Duration::from_secs(1));
        }
        if publishing
            && players_started < players
            && now.duration_since(epoch + clients[0].to_connected.unwrap()) > Duration::from_secs(1)
        {
            match new_client(false, &whep, epoch) {
                Ok(c) => clients.push(c),
                Err(e) => eprintln!("player {players_started}: {e}"),
            }
            players_started += 1;
        }
        if window.is_none() && publishing {
            let all_started = players_started == players;
            let ready = clients[1..]
                .iter()
                .all(|c| c.dead.is_some() || c.to_first_key.is_some());
            let timed_out = setup_deadline.is_some_and(|d| now > d);
            if (all_started && ready) || timed_out {
                if timed_out {
                    eprintln!("setup timeout: starting the window with the players that are ready");
                }
                window = Some(Window {
                    start: number,
                    end: None,
                });
                window_t = Some((now, None));
                cpu0 = snapshot(pid)?;
            }
        }
        if let (Some(w), Some((t0, t1))) = (window.as_mut(), window_t.as_mut()) {
            if t1.is_none() && now.duration_since(*t0).as_secs_f64() >= duration {
                w.end = Some(number);
                *t1 = Some(now);
                cpu1 = snapshot(pid)?;
            }
            if let Some(t1) = t1 {
                if now.duration_since(*t1) > Duration::from_millis(500) {
                    break;
                }
            }
        }
        if !publishing && now.duration_since(epoch) > Duration::from_secs_f64(setup_timeout) {
            return Err("publisher did not connect".into());
        }

        // Wait for the sockets or the next deadline.
        let mut wake = now + Duration::from_millis(10);
        for c in clients.iter().filter(|c| c.dead.is_none()) {
            wake = wake.min(c.timeout);
        }
        if publishing {
            wake = wake.min(next_frame).min(next_audio);
        }
        pfds.clear();
        pfds.extend(clients.iter().map(|c| libc::pollfd {
            fd: c.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        let ms = wake
            .saturating_duration_since(Instant::now())
            .as_micros()
            .div_ceil(1000) as i32;
        unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        let now = Instant::now();
        for (i, c) in clients.iter_mut().enumerate() {
            let readable = pfds[i].revents & libc::POLLIN != 0;
            if readable {
                for _ in 0..256 {
                    let Ok((n, src)) = c.sock.recv_from(&mut buf) else {
                        break;
                    };
                    let Ok(contents) = buf[..n].try_into() else {
                        continue;
                    };
                    let r = Receive {
                        proto: Protocol::Udp,
                        source: src,
                        destination: c.local,
                        contents,
                    };
                    if let Err(e) = c.rtc.handle_input(Input::Receive(now, r)) {
                        c.dead = Some(format!("input: {e}"));
                        break;
                    }
                    // str0m wants poll_output after every input (it does not queue all events).
                    drive(c, now, epoch, &window, &mut latencies);
                }
            }
            if c.dead.is_none() && c.timeout <= now {
                if let Err(e) = c.rtc.handle_input(Input::Timeout(now)) {
                    c.dead = Some(format!("timeout: {e}"));
                }
                if c.dead.is_none() {
                    drive(c, now, epoch, &window, &mut latencies);
                }
            }
        }
    }

    // Results.
    let w = window.unwrap();
    let (t0, t1) = window_t.unwrap();
    let secs = t1.unwrap().duration_since(t0).as_secs_f64();
    let sent = (w.end.unwrap() - w.start) as u64;
    let ps: Vec<&Client> = clients[1..].iter().collect();
    let alive = ps
        .iter()
        .filter(|c| c.dead.is_none() && c.to_first_key.is_some())
        .count();
    let failed: Vec<String> = ps.iter().filter_map(|c| c.dead.clone()).take(3).collect();
    let received: u64 = ps.iter().map(|c| c.window.len() as u64).sum();
    let min_ratio = ps
        .iter()
        .map(|c| c.window.len() as f64 / sent.max(1) as f64)
        .fold(f64::INFINITY, f64::min);
    let min_ratio = if ps.is_empty() { 0.0 } else { min_ratio };
    let expected = sent * ps.len() as u64;
    let loss_pct = if expected > 0 {
        100.0 * (expected - received.min(expected)) as f64 / expected as f64
    } else {
        0.0
    };
    let reordered: u64 = ps.iter().map(|c| c.reordered).sum();
    let dups: u64 = ps.iter().map(|c| c.dup).sum();
    let pkts_total: u64 = ps.iter().map(|c| c.packets).sum();
    let bytes_total: u64 = ps.iter().map(|c| c.bytes).sum();
    let pps = received as f64 / secs;
    let srv_cpu = cpu1.0.saturating_sub(cpu0.0);
    let us_per_pkt = if pid.is_some() && received > 0 {
        srv_cpu as f64 / received as f64
    } else {
        f64::NAN
    };
    let bench_cpu = cpu1.2.saturating_sub(cpu0.2);
    latencies.sort_unstable();
    let lat = |q: f64| pct(&latencies, q) as f64 / 1000.0;
    let setup = |f: &dyn Fn(&Client) -> Option<Duration>| {
        let mut v: Vec<u32> = ps
            .iter()
            .filter_map(|c| f(c))
            .map(|d| d.as_micros() as u32)
            .collect();
        v.sort_unstable();
        (
            pct(&v, 0.5) as f64 / 1000.0,
            pct(&v, 0.99) as f64 / 1000.0,
            v.len(),
        )
    };
    let s201 = setup(&|c| c.to_201);
    let sconn = setup(&|c| c.to_connected);
    let skey = setup(&|c| c.to_first_key);
    let srv_cpu_pct = 100.0 * srv_cpu as f64 / 1e6 / secs;
    let bench_cpu_pct = 100.0 * bench_cpu as f64 / 1e6 / secs;

    println!("weir-bench fanout: {} players ({alive} receiving), window {secs:.2} s, {bitrate_kbps} kbps H264 {fps} fps + Opus-sized audio 50/s", ps.len());
    println!("{:<44} {}", "publisher packets sent in window", sent);
    println!(
        "{:<44} {} (min player {:.2}% of sent)",
        "forwarded packets received (unique)",
        received,
        min_ratio * 100.0
    );
    println!("{:<44} {:.0}", "forwarded packets/s", pps);
    println!(
        "{:<44} {:.3}% (reordered {reordered}, duplicates {dups})",
        "loss", loss_pct
    );
    println!(
        "{:<44} {:.2} / {:.2} ms",
        "latency p50 / p99 (stamp in payload)",
        lat(0.5),
        lat(0.99)
    );
    println!(
        "{:<44} {:.1} / {:.1} ms (n={})",
        "setup POST->201 p50 / p99", s201.0, s201.1, s201.2
    );
    println!(
        "{:<44} {:.1} / {:.1} ms (n={})",
        "setup POST->connected p50 / p99", sconn.0, sconn.1, sconn.2
    );
    println!(
        "{:<44} {:.1} / {:.1} ms (n={})",
        "setup POST->first keyframe p50 / p99", skey.0, skey.1, skey.2
    );
    if pid.is_some() {
        println!(
            "{:<44} {:.2} us ({:.1}% of a core)",
            "server CPU per forwarded packet", us_per_pkt, srv_cpu_pct
        );
        println!("{:<44} {} -> {} KiB", "server RSS", cpu0.1, cpu1.1);
    }
    println!(
        "{:<44} {:.1}% of a core",
        "weir-bench's own CPU", bench_cpu_pct
    );
    if !failed.is_empty() {
        println!("failed players (first 3): {failed:?}");
    }
    let num = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}")
        } else {
            "null".into()
        }
    };
    println!(
        "{{\"bench\":\"fanout\",\"players\":{},\"players_receiving\":{alive},\"window_s\":{secs:.3},\"bitrate_kbps\":{bitrate_kbps},\"fps\":{fps},\
\"publisher_sent\":{sent},\"publisher_sent_total\":{published_total},\"received\":{received},\"received_all\":{pkts_total},\"received_bytes_all\":{bytes_total},\"min_player_ratio\":{},\"pps\":{:.1},\"loss_pct\":{:.4},\"reordered\":{reordered},\"duplicates\":{dups},\
\"latency_ms_p50\":{},\"latency_ms_p99\":{},\"setup_201_ms_p50\":{},\"setup_201_ms_p99\":{},\"setup_connected_ms_p50\":{},\"setup_connected_ms_p99\":{},\
\"setup_keyframe_ms_p50\":{},\"setup_keyframe_ms_p99\":{},\"server_cpu_us\":{},\"server_us_per_packet\":{},\"server_cpu_pct\":{},\"server_rss_kib_before\":{},\"server_rss_kib_after\":{},\"bench_cpu_pct\":{:.1}}}",
        ps.len(),
        num(min_ratio),
        pps,
        loss_pct,
        num(lat(0.5)),
        num(lat(0.99)),
        num(s201.0),
        num(s201.1),
        num(sconn.0),
        num(sconn.1),
        num(skey.0),
        num(skey.1),
        if pid.is_some() { srv_cpu.to_string() } else { "null".into() },
        num(us_per_pkt),
        if pid.is_some() { num(srv_cpu_pct) } else { "null".into() },
        if pid.is_some() { cpu0.1.to_string() } else { "null".into() },
        if pid.is_some() { cpu1.1.to_string() } else { "null".into() },
        bench_cpu_pct
    );
    if std::env::var_os("WEIR_BENCH_DEBUG").is_some() {
        for c in ps.iter().take(2) {
            let missing: Vec<u32> = (w.start..w.end.unwrap())
                .filter(|n| !c.window.contains(n))
                .collect();
            let k: String = missing.iter().map(|&n| kinds[n as usize] as char).collect();
            eprintln!(
                "debug: player missing {} numbers: {:?} kinds {k}",
                missing.len(),
                &missing[..missing.len().min(60)]
            );
        }
    }
    // End the sessions (bounded: one short request each).
    for c in &clients {
        if let Some(loc) = &c.location {
            let url = if loc.starts_with("http") {
                loc.clone()
            } else {
                format!("{}{}", origin(&whip), loc)
            };
            let _ = http("DELETE", &url, "");
        }
    }
    Ok(())
}

fn snapshot(pid: Option<u32>) -> Result<(u64, u64, u64), String> {
    let me = crate::sys::proc_cpu_us(std::process::id())?;
    match pid {
        Some(p) => Ok((
            crate::sys::proc_cpu_us(p)?,
            crate::sys::proc_rss_kib(p)?,
            me,
        )),
        None => Ok((0, 0, me)),
    }
}

fn pct(v: &[u32], q: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn new_client(publisher: bool, url: &str, epoch: Instant) -> Result<Client, String> {
    let now = Instant::now();
    let mut rtc = Rtc::builder()
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_h264(true)
        .enable_opus(true, false)
        .build(now);
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
    let dir = if publisher {
        Direction::SendOnly
    } else {
        Direction::RecvOnly
    };
    let mut ch = rtc.sdp_api();
    let vmid = ch.add_media(
        MediaKind::Video,
        dir,
        Some("weir-bench".into()),
        Some("v".into()),
        None,
    );
    let amid = ch.add_media(
        MediaKind::Audio,
        dir,
        Some("weir-bench".into()),
        Some("a".into()),
        None,
    );
    let (offer, pending): (_, SdpPendingOffer) = ch.apply().ok_or("no offer")?;
    let t_post = Instant::now();
    let (status, headers, body) = http("POST", url, &offer.to_sdp_string())?;
    let to_201 = t_post.elapsed();
    if status != 201 && status != 200 {
        return Err(format!(
            "POST {url}: HTTP {status}: {}",
            body.chars().take(200).collect::<String>()
        ));
    }
    let answer = SdpAnswer::from_sdp_string(&body).map_err(|e| format!("answer: {e}"))?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| format!("accept_answer: {e}"))?;
    let pt_of = |rtc: &Rtc, mid: Mid| rtc.media(mid).and_then(|m| m.remote_pts().first().copied());
    let (video, audio) = if publisher {
        let v = pt_of(&rtc, vmid).ok_or("the answer has no video payload type")?;
        let a = pt_of(&rtc, amid).ok_or("the answer has no audio payload type")?;
        (Some((vmid, v)), Some((amid, a)))
    } else {
        (None, None)
    };
    let location = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.clone());
    let _ = epoch;
    Ok(Client {
        rtc,
        sock,
        local,
        publisher,
        location,
        timeout: now,
        dead: None,
        t_post,
        to_201: Some(to_201),
        to_connected: None,
        to_first_key: None,
        packets: 0,
        bytes: 0,
        window: HashSet::new(),
        dup: 0,
        reordered: 0,
        max_number: [None, None],
        video,
        audio,
    })
}

fn drive(
    c: &mut Client,
    now: Instant,
    epoch: Instant,
    window: &Option<Window>,
    lat: &mut Vec<u32>,
) {
    for _ in 0..100_000 {
        match c.rtc.poll_output() {
            Ok(Output::Timeout(t)) => {
                c.timeout = t;
                return;
            }
            Ok(Output::Transmit(t)) => {
                let _ = c.sock.send_to(&t.contents, t.destination);
            }
            Ok(Output::Event(e)) => match e {
                Event::Connected => c.to_connected = Some(c.t_post.elapsed()),
                Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                    c.dead = Some("ICE disconnected".into())
                }
                Event::RtpPacket(p) if !c.publisher => {
                    c.packets += 1;
                    c.bytes += p.payload.len() as u64;
                    if c.packets <= 5 && std::env::var_os("WEIR_BENCH_DEBUG").is_some() {
                        eprintln!(
                            "debug: player pkt {} at {:?} after POST: pt {} seq {} len {} first bytes {:02x?} key {} stamp {:?}",
                            c.packets, c.t_post.elapsed(), *p.header.payload_type, *p.seq_no, p.payload.len(), &p.payload[..p.payload.len().min(4)],
                            h264::is_keyframe_start(&p.payload), h264::read_stamp(&p.payload)
                        );
                    }
                    if c.to_first_key.is_none() && h264::is_keyframe_start(&p.payload) {
                        c.to_first_key = Some(c.t_post.elapsed());
                    }
                    let Some(s) = h264::read_stamp(&p.payload) else {
                        continue;
                    };
                    if let Some(w) = window {
                        if s.number >= w.start && w.end.is_none_or(|e| s.number < e) {
                            if !c.window.insert(s.number) {
                                c.dup += 1;
                                continue;
                            }
                            // Reordering within one stream (audio and video are paced separately).
                            let k = usize::from(p.payload[0] == h264::AUDIO_TOC);
                            if c.max_number[k].is_some_and(|m| s.number < m) {
                                c.reordered += 1;
                            }
                            let now_us = now.duration_since(epoch).as_micros() as u64;
                            lat.push(now_us.saturating_sub(s.send_us).min(u32::MAX as u64) as u32);
                        }
                    }
                    let k = usize::from(p.payload[0] == h264::AUDIO_TOC);
                    c.max_number[k] = Some(c.max_number[k].map_or(s.number, |m| m.max(s.number)));
                }
                _ => {}
            },
            Err(e) => {
                c.dead = Some(format!("{e}"));
                return;
            }
        }
    }
}

fn origin(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let host = rest.split('/').next().unwrap_or(rest);
    format!("http://{host}")
}

/// A minimal HTTP/1.1 client (plain http, Connection: close), bounded by 10 s timeouts.
fn http(
    method: &str,
    url: &str,
    body: &str,
) -> Result<(u16, Vec<(String, String)>, String), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = host
        .parse()
        .map_err(|_| format!("host must be ip:port, got {host}"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.set_write_timeout(Some(Duration::from_secs(10))).ok();
    s.set_nodelay(true).ok();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.take(1 << 20)
        .read_to_end(&mut resp)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("bad HTTP response")?;
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or("bad status line")?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok((status, headers, body.to_owned()))
}
