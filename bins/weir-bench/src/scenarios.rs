//! The scenarios: `fanout`, `many`, `churn`, `idle`, `setup`. Each drives str0m publishers from
//! the main thread and lite players from worker threads, reads the server's CPU time, RSS and
//! file descriptors from /proc, prints a table and one JSON line.

use crate::args::Args;
use crate::clip::Clip;
use crate::http;
use crate::lite::{Histogram, Identity, Options, PlayerStats};
use crate::players::{self, Cmd, Shared, Worker};
use crate::publisher::{MediaShape, Publisher};
use crate::rtp::ntp_of;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Options every scenario shares.
struct Common {
    whip: String,
    whep: String,
    app: String,
    stream: String,
    shape: MediaShape,
    /// `--clip DIR`: an encoded clip (`make-clip`) instead of the synthetic stream.
    clip: Option<Arc<Clip>>,
    setup_timeout: Duration,
    pid: Option<u32>,
    core: Option<usize>,
    threads: usize,
    opts: Options,
    batch: Duration,
    probe: bool,
    probe_core: usize,
}

impl Common {
    fn parse(a: &Args) -> Result<Common, String> {
        let whip = a.str("whip").ok_or("--whip URL_TEMPLATE is required")?.to_owned();
        let whep = a.str("whep").ok_or("--whep URL_TEMPLATE is required")?.to_owned();
        let bitrate_kbps: f64 = a.num("bitrate", 600.0)?;
        let fps: f64 = a.num("fps", 30.0)?;
        let gop_secs: f64 = a.num("gop-secs", 2.0)?;
        let threads: usize = a.num("threads", 1)?;
        let pacing: f64 = a.num("pacing", 0.0)?;
        if pacing != 0.0 && !(1.0..=20.0).contains(&pacing) {
            return Err("out of range: --pacing 0 (bursts) or 1..20 (multiple of the bitrate)".into());
        }
        if !(1.0..=120.0).contains(&fps) || !(10.0..=100_000.0).contains(&bitrate_kbps) || !(0.1..=60.0).contains(&gop_secs) || !(1..=64).contains(&threads) {
            return Err("out of range: --fps 1..120, --bitrate 10..100000, --gop-secs 0.1..60, --threads 1..64".into());
        }
        Ok(Common {
            whip,
            whep,
            app: a.str("app").unwrap_or("live").to_owned(),
            stream: a.str("stream").unwrap_or("bench").to_owned(),
            shape: MediaShape { bitrate_kbps, fps, gop_secs, pacing },
            clip: a.str("clip").map(|dir| Clip::load(std::path::Path::new(dir)).map(Arc::new)).transpose()?,
            setup_timeout: Duration::from_secs_f64(a.num("setup-timeout", 30.0)?),
            pid: a.str("server-pid").map(|s| s.parse().map_err(|_| "--server-pid: not a number")).transpose()?,
            core: a.str("core").map(|s| s.parse().map_err(|_| "--core: not a number")).transpose()?,
            threads,
            opts: Options {
                verify_every: a.num("verify-every", 100)?,
                drop_every: a.num("drop-every", 0)?,
                rtx: a.num::<u32>("rtx", 1)? != 0,
                count_by_stamp: match a.str("count").unwrap_or("auto") {
                    "stamp" => true,
                    "auto" | "abs" => false,
                    _ => return Err("--count: auto or stamp".into()),
                },
            },
            batch: Duration::from_micros((a.num::<f64>("batch-ms", 2.0)? * 1000.0) as u64),
            probe: a.num::<u32>("probe", 1)? != 0,
            probe_core: a.num("probe-core", 0)?,
        })
    }

    fn stream_name(&self, i: usize, publishers: usize) -> String {
        if publishers == 1 {
            self.stream.clone()
        } else {
            format!("{}-{i}", self.stream)
        }
    }
}

/// Server readings from /proc.
#[derive(Clone, Copy, Default)]
struct Snapshot {
    server_cpu_us: u64,
    server_rss_kib: u64,
    server_anon_kib: u64,
    server_fds: u64,
    bench_cpu_us: u64,
}

fn snapshot(pid: Option<u32>) -> Result<Snapshot, String> {
    let mut s = Snapshot { bench_cpu_us: crate::sys::proc_cpu_us(std::process::id())?, ..Default::default() };
    if let Some(p) = pid {
        s.server_cpu_us = crate::sys::proc_cpu_us(p)?;
        s.server_rss_kib = crate::sys::proc_rss_kib(p)?;
        s.server_anon_kib = crate::sys::proc_anon_kib(p)?;
        s.server_fds = crate::sys::proc_fd_count(p)?;
    }
    Ok(s)
}

/// The running parts of a scenario: publishers on this thread, players on workers.
struct Rig {
    c: Common,
    pubs: Vec<Publisher>,
    shared: Arc<Shared>,
    workers: Vec<Worker>,
    window: (u64, u64),
    /// The publishers' sockets (token = index in `pubs`): a wake-up steps only the publishers
    /// with something to read or due, not all of them (with publishers out of step something
    /// is due every few hundred microseconds).
    epoll: crate::sys::Epoll,
    events: Vec<libc::epoll_event>,
    ready: Vec<u64>,
    /// Per publisher: its socket was reported readable since it last stepped.
    readable: Vec<bool>,
}

impl Rig {
    fn new(c: Common) -> Result<Rig, String> {
        crate::sys::raise_fd_limit();
        if let Some(core) = c.core {
            crate::sys::pin_to_core(core)?;
        }
        let id = Arc::new(Identity::new()?);
        let shared = Arc::new(Shared::default());
        let workers = (0..c.threads)
            .map(|_| players::spawn(c.core, id.clone(), c.opts, shared.clone(), c.batch))
            .collect();
        Ok(Rig {
            c,
            pubs: Vec::new(),
            shared,
            workers,
            window: (0, u64::MAX),
            epoll: crate::sys::Epoll::new()?,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 256],
            ready: Vec::new(),
            readable: Vec::new(),
        })
    }

    /// Connects `n` publishers (streams named by `stream_name`) and waits until all are connected.
    fn start_publishers(&mut self, n: usize, media: bool) -> Result<(), String> {
        for i in 0..n {
            let url = http::fill(&self.c.whip, &self.c.app, &self.c.stream_name(i, n));
            let publisher = Publisher::connect(&url, self.c.shape, self.c.clip.clone()).map_err(|e| format!("publisher {i}: {e}"))?;
            self.epoll.add(publisher.fd(), self.pubs.len() as u64)?;
            self.pubs.push(publisher);
            self.readable.push(true);
        }
        let deadline = Instant::now() + self.c.setup_timeout;
        while !self.pubs.iter().all(|p| p.connected) {
            if let Some(p) = self.pubs.iter().find(|p| p.dead.is_some()) {
                return Err(format!("publisher failed: {}", p.dead.clone().unwrap_or_default()));
            }
            if Instant::now() > deadline {
                return Err("publishers did not connect in time".into());
            }
            self.pump(Duration::from_millis(5));
        }
        if media {
            let now = Instant::now();
            let n = self.pubs.len();
            for (i, p) in self.pubs.iter_mut().enumerate() {
                p.start_media(now, crate::publisher::phase_of(i, n));
            }
        }
        Ok(())
    }

    /// Runs the publishers for `d` (sending media, answering RTCP).
    fn pump(&mut self, d: Duration) {
        let until = Instant::now() + d;
        loop {
            let now = Instant::now();
            for (p, readable) in self.pubs.iter_mut().zip(self.readable.iter_mut()) {
                if std::mem::take(readable) || p.next_deadline() <= now {
                    p.step(now, self.window);
                }
            }
            if now >= until {
                return;
            }
            let wake = self.pubs.iter().map(|p| p.next_deadline()).min().unwrap_or(until).min(until);
            let ms = wake.saturating_duration_since(Instant::now()).as_micros().div_ceil(1000).min(5) as i32;
            self.epoll.wait(&mut self.events, ms, &mut self.ready);
            for &token in &self.ready {
                if let Some(r) = self.readable.get_mut(token as usize) {
                    *r = true;
                }
            }
        }
    }

    /// Pumps until `done()` or `timeout`; true when done.
    fn pump_until(&mut self, timeout: Duration, done: impl Fn(&Shared) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if done(&self.shared) {
                return true;
            }
            self.pump(Duration::from_millis(10));
        }
        done(&self.shared)
    }

    fn connect_player(&mut self, stream: usize, publishers: usize, tag: u64) {
        let url = http::fill(&self.c.whep, &self.c.app, &self.c.stream_name(stream, publishers));
        let _ = self.worker_for(tag).tx.send(Cmd::Connect { url, tag });
    }

    fn worker_for(&self, tag: u64) -> &Worker {
        // A player lives on the worker its tag picks: deletes find it there.
        &self.workers[(tag as usize) % self.workers.len()]
    }

    fn open_window(&mut self) {
        let now = ntp_of(SystemTime::now());
        self.window = (now, u64::MAX);
        self.shared.window_start_ntp.store(now, Ordering::Relaxed);
    }

    fn close_window(&mut self) {
        let now = ntp_of(SystemTime::now());
        self.window.1 = now;
        self.shared.window_end_ntp.store(now, Ordering::Relaxed);
    }

    /// Stops the workers, collects their reports (players not deleted unless asked before) and
    /// ends the publishers' sessions.
    fn finish(self) -> (players::Report, Common) {
        for p in &self.pubs {
            p.delete();
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        let mut all = players::Report::default();
        for w in self.workers {
            drop(w.tx);
            if let Ok(r) = w.handle.join() {
                all.players.extend(r.players);
                all.connect_errors.extend(r.connect_errors);
                all.hist.merge(&r.hist);
            }
        }
        (all, self.c)
    }
}

fn pct(mut v: Vec<f64>, q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1000.0)
}

fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "null".into()
    }
}

/// Setup percentiles over players: (name, p50, p99, n) for each step.
fn setup_rows(ps: &[&PlayerStats]) -> Vec<(&'static str, f64, f64, usize)> {
    let steps: [(&'static str, fn(&PlayerStats) -> Option<Duration>); 5] = [
        ("201", |s| s.to_201),
        ("ice", |s| s.to_ice),
        ("dtls", |s| s.to_dtls),
        ("first_rtp", |s| s.to_first_rtp),
        ("keyframe", |s| s.to_first_key),
    ];
    steps
        .iter()
        .map(|(name, f)| {
            let v: Vec<f64> = ps.iter().filter_map(|s| ms(f(s))).collect();
            (*name, pct(v.clone(), 0.5), pct(v.clone(), 0.99), v.len())
        })
        .collect()
}

fn print_setup(rows: &[(&str, f64, f64, usize)], json: &mut String) {
    for (name, p50, p99, n) in rows {
        println!("{:<44} {:.2} / {:.2} ms (n={n})", format!("setup POST->{name} p50 / p99"), p50, p99);
        json.push_str(&format!(",\"setup_{name}_ms_p50\":{},\"setup_{name}_ms_p99\":{}", num(*p50), num(*p99)));
    }
}

/// The raw-limit probe with the SRTP cipher the players negotiated (`key_len` 16 or 32).
fn probe_in_thread(c: &Common, sockets: usize, key_len: usize) -> Option<crate::probe::ProbeResult> {
    if !c.probe {
        return None;
    }
    let core = c.probe_core;
    let sockets = sockets.clamp(1, 2000);
    let stream = match &c.clip {
        Some(clip) => {
            let (frames, audio) = clip.gop_sizes(c.shape.fps);
            c.shape.events_of(frames, audio)
        }
        None => c.shape.gop_events(),
    };
    std::thread::spawn(move || crate::probe::measure(sockets, 100_000, core, key_len, &stream))
        .join()
        .ok()
        .and_then(|r| r.map_err(|e| eprintln!("probe: {e}")).ok())
}

/// `fanout` (one publisher) and `many` (several publishers, players spread over them).
pub fn fanout(a: &Args, publishers: usize, players_each: usize) -> Result<(), String> {
    let c = Common::parse(a)?;
    let duration = Duration::from_secs_f64(a.num("duration", 10.0)?);
    if publishers == 0 || publishers > 1000 || players_each > 10_000 || publishers * players_each > 20_000 {
        return Err("out of range: --publishers 1..1000, players <= 20000 in total".into());
    }
    let total = publishers * players_each;
    let mut rig = Rig::new(c)?;
    rig.start_publishers(publishers, true)?;
    // One second of media so the server holds a GOP (fast start) before players join.
    rig.pump(Duration::from_secs(1));
    let t_setup = Instant::now();
    for i in 0..total {
        rig.connect_player(i % publishers, publishers, i as u64);
    }
    let setup_timeout = rig.c.setup_timeout;
    let all_ready = rig.pump_until(setup_timeout, |s| {
        s.keyed.load(Ordering::Relaxed) + s.died.load(Ordering::Relaxed) + s.connect_failed.load(Ordering::Relaxed) >= total
    });
    let setup_wall = t_setup.elapsed();
    if !all_ready {
        eprintln!("setup timeout: measuring with the players that are ready");
    }
    let before = snapshot(rig.c.pid)?;
    rig.open_window();
    let t0 = Instant::now();
    rig.pump(duration);
    rig.close_window();
    let secs = t0.elapsed().as_secs_f64();
    let after = snapshot(rig.c.pid)?;
    // Let the last packets of the window arrive (and RTX recover the last losses).
    rig.pump(Duration::from_millis(500));
    let sent: Vec<u64> = rig.pubs.iter().map(|p| p.sent_in_window).collect();
    let sent_total: u64 = rig.pubs.iter().map(|p| p.sent_total).sum();
    for w in &rig.workers {
        let _ = w.tx.send(Cmd::DeleteAll);
    }
    rig.pump_until(Duration::from_secs(20), |s| s.deleted.load(Ordering::Relaxed) >= s.created.load(Ordering::Relaxed));
    let (report, c) = rig.finish();
    // The server's choice, seen by the players (all of one server choose alike); 16 if none got keys.
    let key_len = report.players.iter().map(|(_, s)| s.srtp_key_len).find(|&k| k != 0).unwrap_or(16);
    let probe = probe_in_thread(&c, total, key_len);

    // Per-player accounting against its own publisher's count.
    let ps: Vec<(u64, &PlayerStats)> = report.players.iter().map(|(t, s)| (*t, s)).collect();
    let receiving = ps.iter().filter(|(_, s)| s.to_first_key.is_some() && s.dead.is_none()).count();
    let expected: u64 = ps.iter().map(|(t, _)| sent[(*t as usize) % publishers]).sum();
    let received: u64 = ps.iter().map(|(_, s)| s.window_received).sum();
    let min_ratio = ps
        .iter()
        .map(|(t, s)| s.window_received as f64 / sent[(*t as usize) % publishers].max(1) as f64)
        .fold(f64::INFINITY, f64::min);
    let loss_pct = if expected > 0 { 100.0 * expected.saturating_sub(received) as f64 / expected as f64 } else { f64::NAN };
    let sum = |f: fn(&PlayerStats) -> u64| -> u64 { ps.iter().map(|(_, s)| f(s)).sum() };
    let (packets, rtx, recovered, dups, reordered) = (sum(|s| s.packets), sum(|s| s.rtx_packets), sum(|s| s.recovered), sum(|s| s.duplicates), sum(|s| s.reordered));
    let (verified, vfail, dropped, nacks, plis, rrs) = (sum(|s| s.verified), sum(|s| s.verify_failed), sum(|s| s.dropped_on_purpose), sum(|s| s.nacks_sent), sum(|s| s.plis_sent), sum(|s| s.rrs_sent));
    let srv_cpu = after.server_cpu_us.saturating_sub(before.server_cpu_us);
    let us_per_pkt = if c.pid.is_some() && received > 0 { srv_cpu as f64 / received as f64 } else { f64::NAN };
    let srv_pct = 100.0 * srv_cpu as f64 / 1e6 / secs;
    let bench_pct = 100.0 * after.bench_cpu_us.saturating_sub(before.bench_cpu_us) as f64 / 1e6 / secs;
    let pstats: Vec<&PlayerStats> = ps.iter().map(|(_, s)| *s).collect();
    let rows = setup_rows(&pstats);
    let hist: &Histogram = &report.hist;
    let name = if publishers == 1 { "fanout" } else { "many" };

    println!(
        "weir-bench {name}: {publishers} publisher(s) x {players_each} players ({receiving} receiving), window {secs:.2} s, {} {} fps ({}) + {} 50/s",
        match &c.clip {
            Some(clip) => format!("encoded clip ({} frames, {} keyframes), H264", clip.frames.len(), clip.frames.iter().filter(|f| f.key).count()),
            None => format!("{} kbps synthetic H264", c.shape.bitrate_kbps),
        },
        c.shape.fps,
        if c.shape.pacing > 0.0 { format!("paced at {}x", c.shape.pacing) } else { "frames in bursts".to_owned() },
        if c.clip.as_ref().is_some_and(|clip| !clip.audio.is_empty()) { "Opus" } else { "Opus-sized audio" },
    );
    println!("{:<44} {}", "publisher packets in window", sent.iter().sum::<u64>());
    println!("{:<44} {} (min player {:.2}% of its stream)", "forwarded packets received in window", received, min_ratio * 100.0);
    println!("{:<44} {:.0}", "forwarded packets/s", received as f64 / secs);
    println!("{:<44} {:.4}% (reordered {reordered}, duplicates {dups})", "loss", loss_pct);
    println!("{:<44} rtx {rtx}, recovered {recovered}, dropped on purpose {dropped}, NACKs {nacks}, PLIs {plis}, RRs {rrs}", "repair / RTCP");
    println!("{:<44} {verified} ok, {vfail} failed", "sampled SRTP decryptions checked");
    println!("{:<44} {:.2} / {:.2} / {:.2} ms (n={})", "latency p50 / p99 / max-bucket (abs-capture-time)", hist.quantile_ms(0.5), hist.quantile_ms(0.99), hist.quantile_ms(1.0), hist.count());
    let mut json = format!(
        "{{\"bench\":\"{name}\",\"publishers\":{publishers},\"players\":{total},\"players_receiving\":{receiving},\"window_s\":{secs:.3},\"bitrate_kbps\":{},\"fps\":{},\"pacing\":{},\"clip\":{},\
\"publisher_sent_window\":{},\"publisher_sent_total\":{sent_total},\"received\":{received},\"received_all\":{packets},\"min_player_ratio\":{},\"pps\":{:.1},\"loss_pct\":{},\
\"reordered\":{reordered},\"duplicates\":{dups},\"rtx\":{rtx},\"recovered\":{recovered},\"dropped_on_purpose\":{dropped},\"nacks\":{nacks},\"plis\":{plis},\"rrs\":{rrs},\
\"verified\":{verified},\"verify_failed\":{vfail},\"latency_ms_p50\":{},\"latency_ms_p99\":{},\"setup_wall_s\":{:.3}",
        c.shape.bitrate_kbps,
        c.shape.fps,
        c.shape.pacing,
        c.clip.is_some(),
        sent.iter().sum::<u64>(),
        num(if ps.is_empty() { f64::NAN } else { min_ratio }),
        received as f64 / secs,
        num(loss_pct),
        num(hist.quantile_ms(0.5)),
        num(hist.quantile_ms(0.99)),
        setup_wall.as_secs_f64()
    );
    print_setup(&rows, &mut json);
    if c.pid.is_some() {
        println!("{:<44} {:.2} us ({:.1}% of a core)", "server CPU per forwarded packet", us_per_pkt, srv_pct);
        println!("{:<44} {} -> {} KiB, fds {} -> {}", "server RSS (window start -> end)", before.server_rss_kib, after.server_rss_kib, before.server_fds, after.server_fds);
        json.push_str(&format!(
            ",\"server_cpu_us\":{srv_cpu},\"server_us_per_packet\":{},\"server_cpu_pct\":{},\"server_rss_kib\":{},\"server_fds\":{}",
            num(us_per_pkt),
            num(srv_pct),
            after.server_rss_kib,
            after.server_fds
        ));
    }
    println!("{:<44} {:.1}% of a core", "weir-bench's own CPU", bench_pct);
    json.push_str(&format!(",\"bench_cpu_pct\":{bench_pct:.1}"));
    if let Some(p) = &probe {
        json.push_str(&format!(",\"probe_cipher\":\"{}\"", crate::probe::cipher_name(key_len)));
        for r in &p.rows {
            let ratio = us_per_pkt / r.both_us;
            println!("{:<44} {:.2} us/packet -> server at {:.2}x", format!("raw limit, same run ({}): encrypt+{}", crate::probe::cipher_name(key_len), r.method), r.both_us, ratio);
            json.push_str(&format!(",\"raw_{}_us\":{:.4},\"ratio_to_{}\":{}", r.method, r.both_us, r.method, num(ratio)));
        }
    }
    let failed: Vec<&String> = ps.iter().filter_map(|(_, s)| s.dead.as_ref()).take(3).collect();
    if !failed.is_empty() || !report.connect_errors.is_empty() {
        println!("failed players: {} (first: {:?} {:?})", ps.iter().filter(|(_, s)| s.dead.is_some()).count() + report.connect_errors.len(), failed, report.connect_errors.iter().take(3).collect::<Vec<_>>());
    }
    json.push_str(&format!(",\"connect_errors\":{}}}", report.connect_errors.len()));
    println!("{json}");
    Ok(())
}

/// `setup`: sequential player setups against a live stream, each to its first keyframe, then
/// DELETE. Percentiles of every setup step without load from other players.
pub fn setup(a: &Args) -> Result<(), String> {
    let c = Common::parse(a)?;
    let runs: usize = a.num("runs", 200)?;
    if runs == 0 || runs > 100_000 {
        return Err("--runs 1..100000".into());
    }
    let mut rig = Rig::new(Common { threads: 1, ..c })?;
    rig.start_publishers(1, true)?;
    rig.pump(Duration::from_secs(1));
    let t0 = Instant::now();
    for i in 0..runs {
        rig.connect_player(0, 1, i as u64);
        let target = i + 1;
        rig.pump_until(Duration::from_secs(10), |s| {
            s.keyed.load(Ordering::Relaxed) + s.died.load(Ordering::Relaxed) + s.connect_failed.load(Ordering::Relaxed) >= target
        });
        let _ = rig.worker_for(i as u64).tx.send(Cmd::Delete { tag: i as u64 });
    }
    rig.pump_until(Duration::from_secs(10), |s| s.deleted.load(Ordering::Relaxed) + s.connect_failed.load(Ordering::Relaxed) >= runs);
    let wall = t0.elapsed().as_secs_f64();
    let (report, _c) = rig.finish();
    let ps: Vec<&PlayerStats> = report.players.iter().map(|(_, s)| s).collect();
    let ok = ps.iter().filter(|s| s.to_first_key.is_some()).count();
    println!("weir-bench setup: {runs} sequential WHEP setups to the first keyframe, {ok} succeeded, {wall:.1} s");
    let mut json = format!("{{\"bench\":\"setup\",\"runs\":{runs},\"succeeded\":{ok},\"wall_s\":{wall:.3}");
    print_setup(&setup_rows(&ps), &mut json);
    if !report.connect_errors.is_empty() {
        println!("connect errors: {:?}", report.connect_errors.iter().take(3).collect::<Vec<_>>());
    }
    json.push_str(&format!(",\"connect_errors\":{}}}", report.connect_errors.len()));
    println!("{json}");
    Ok(())
}

/// `churn`: players join at `--rate` per second and leave after `--lifetime` seconds, for
/// `--duration` seconds, against a live stream; memory and file descriptors are compared with
/// the baseline after everything has left.
pub fn churn(a: &Args) -> Result<(), String> {
    let c = Common::parse(a)?;
    let rate: f64 = a.str("rate").map(|r| r.trim_end_matches("/s").parse().map_err(|_| "--rate: N or N/s")).transpose()?.unwrap_or(50.0);
    let lifetime = Duration::from_secs_f64(a.num("lifetime", 2.0)?);
    let duration = Duration::from_secs_f64(a.num("duration", 60.0)?);
    let settle = Duration::from_secs_f64(a.num("settle", 5.0)?);
    if !(0.1..=2000.0).contains(&rate) {
        return Err("--rate 0.1..2000".into());
    }
    let pid = c.pid;
    let mut rig = Rig::new(c)?;
    rig.start_publishers(1, true)?;
    rig.pump(Duration::from_secs(1));
    let base = snapshot(pid)?;
    let t0 = Instant::now();
    let every = Duration::from_secs_f64(1.0 / rate);
    let mut next = t0;
    let mut tag = 0u64;
    let mut live: std::collections::VecDeque<(Instant, u64)> = std::collections::VecDeque::new();
    let mut peak = base;
    while t0.elapsed() < duration {
        let now = Instant::now();
        while next <= now {
            rig.connect_player(0, 1, tag);
            live.push_back((now + lifetime, tag));
            tag += 1;
            next += every;
        }
        while live.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, t)) = live.pop_front() {
                let _ = rig.worker_for(t).tx.send(Cmd::Delete { tag: t });
            }
        }
        rig.pump(Duration::from_millis(5));
        if let Ok(s) = snapshot(pid) {
            if s.server_rss_kib > peak.server_rss_kib {
                peak = s;
            }
        }
    }
    for w in &rig.workers {
        let _ = w.tx.send(Cmd::DeleteAll);
    }
    let created_total = tag as usize;
    rig.pump_until(Duration::from_secs(30), |s| s.deleted.load(Ordering::Relaxed) + s.connect_failed.load(Ordering::Relaxed) >= created_total);
    rig.pump(settle);
    let end = snapshot(pid)?;
    let (report, _c) = rig.finish();
    let ps: Vec<&PlayerStats> = report.players.iter().map(|(_, s)| s).collect();
    let ok = ps.iter().filter(|s| s.to_first_key.is_some()).count();
    let died = ps.iter().filter(|s| s.dead.is_some()).count();
    println!(
        "weir-bench churn: {created_total} sessions at {rate}/s living {:.1} s for {:.0} s; {ok} reached a keyframe, {died} died, {} failed to connect",
        lifetime.as_secs_f64(),
        duration.as_secs_f64(),
        report.connect_errors.len()
    );
    let mut json = format!(
        "{{\"bench\":\"churn\",\"rate\":{rate},\"lifetime_s\":{},\"duration_s\":{},\"sessions\":{created_total},\"keyed\":{ok},\"died\":{died},\"connect_errors\":{}",
        lifetime.as_secs_f64(),
        duration.as_secs_f64(),
        report.connect_errors.len()
    );
    print_setup(&setup_rows(&ps), &mut json);
    if pid.is_some() {
        println!(
            "{:<44} {} / {} / {} KiB (end - baseline {:+} KiB)",
            "server RSS baseline / peak / after",
            base.server_rss_kib,
            peak.server_rss_kib,
            end.server_rss_kib,
            end.server_rss_kib as i64 - base.server_rss_kib as i64
        );
        // Code pages of the server's binary join RSS as the sessions run new code paths
        // (file-backed, not growing with sessions): anonymous memory is what a leak grows.
        println!(
            "{:<44} {} / {} KiB (end - baseline {:+} KiB)",
            "server anonymous RSS baseline / after",
            base.server_anon_kib,
            end.server_anon_kib,
            end.server_anon_kib as i64 - base.server_anon_kib as i64
        );
        println!("{:<44} {} / {}", "server fds baseline / after", base.server_fds, end.server_fds);
        json.push_str(&format!(
            ",\"rss_kib_baseline\":{},\"rss_kib_peak\":{},\"rss_kib_after\":{},\"anon_kib_baseline\":{},\"anon_kib_after\":{},\"fds_baseline\":{},\"fds_after\":{}",
            base.server_rss_kib, peak.server_rss_kib, end.server_rss_kib, base.server_anon_kib, end.server_anon_kib, base.server_fds, end.server_fds
        ));
    }
    json.push('}');
    println!("{json}");
    Ok(())
}

/// `idle`: `--sessions` players of a connected publisher that sends nothing; measures the server
/// memory per session, checks they stay connected for `--duration` (ICE consent), then ends them.
pub fn idle(a: &Args) -> Result<(), String> {
    let c = Common::parse(a)?;
    let sessions: usize = a.num("sessions", 10_000)?;
    let hold = Duration::from_secs_f64(a.num("duration", 10.0)?);
    if sessions == 0 || sessions > 50_000 {
        return Err("--sessions 1..50000".into());
    }
    let pid = c.pid;
    let setup_timeout = c.setup_timeout;
    let mut rig = Rig::new(c)?;
    rig.start_publishers(1, false)?;
    rig.pump(Duration::from_millis(500));
    let base = snapshot(pid)?;
    let t0 = Instant::now();
    for i in 0..sessions {
        rig.connect_player(0, 1, i as u64);
    }
    let all = rig.pump_until(setup_timeout.max(Duration::from_secs(sessions as u64 / 100)), |s| {
        s.media.load(Ordering::Relaxed) + s.died.load(Ordering::Relaxed) + s.connect_failed.load(Ordering::Relaxed) >= sessions
    });
    let setup_s = t0.elapsed().as_secs_f64();
    let connected = rig.shared.media.load(Ordering::Relaxed);
    let full = snapshot(pid)?;
    rig.pump(hold);
    let held = snapshot(pid)?;
    let died = rig.shared.died.load(Ordering::Relaxed);
    for w in &rig.workers {
        let _ = w.tx.send(Cmd::DeleteAll);
    }
    let created = rig.shared.created.load(Ordering::Relaxed);
    rig.pump_until(Duration::from_secs(60), |s| s.deleted.load(Ordering::Relaxed) >= created);
    rig.pump(Duration::from_secs(2));
    let end = snapshot(pid)?;
    let (report, _c) = rig.finish();
    let per_session_kib = (held.server_rss_kib as f64 - base.server_rss_kib as f64) / connected.max(1) as f64;
    println!(
        "weir-bench idle: {sessions} sessions requested, {connected} connected in {setup_s:.1} s{}, {died} died while held {:.0} s",
        if all { "" } else { " (setup timeout)" },
        hold.as_secs_f64()
    );
    let mut json = format!(
        "{{\"bench\":\"idle\",\"sessions\":{sessions},\"connected\":{connected},\"setup_s\":{setup_s:.3},\"died\":{died},\"hold_s\":{},\"connect_errors\":{}",
        hold.as_secs_f64(),
        report.connect_errors.len()
    );
    if pid.is_some() {
        println!(
            "{:<44} {} -> {} -> {} -> {} KiB",
            "server RSS baseline -> connected -> held -> ended", base.server_rss_kib, full.server_rss_kib, held.server_rss_kib, end.server_rss_kib
        );
        println!("{:<44} {:.1} KiB", "server memory per idle session", per_session_kib);
        println!("{:<44} {} -> {} -> {}", "server fds baseline -> held -> ended", base.server_fds, held.server_fds, end.server_fds);
        json.push_str(&format!(
            ",\"rss_kib_baseline\":{},\"rss_kib_connected\":{},\"rss_kib_held\":{},\"rss_kib_after\":{},\"kib_per_session\":{:.2},\"fds_baseline\":{},\"fds_held\":{},\"fds_after\":{}",
            base.server_rss_kib, full.server_rss_kib, held.server_rss_kib, end.server_rss_kib, per_session_kib, base.server_fds, held.server_fds, end.server_fds
        ));
    }
    json.push('}');
    println!("{json}");
    Ok(())
}
