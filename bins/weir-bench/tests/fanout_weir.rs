//! Starts target/release/weir on free ports and runs every `weir-bench` scenario against it at a
//! small scale (seconds, no performance thresholds: those live in docs/BENCHMARKS.md), checking
//! that the tool counts right: players receive what the publisher sent, sampled decryptions pass,
//! sessions end. Skipped (with a printed reason) when the release server binary is not built.

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_tcp() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port free for UDP and TCP at the same time (media port is both).
fn free_udp_tcp() -> u16 {
    for _ in 0..100 {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free UDP+TCP port");
}

fn json_num(line: &str, key: &str) -> f64 {
    let k = format!("\"{key}\":");
    let i = line
        .find(&k)
        .unwrap_or_else(|| panic!("{key} missing in {line}"))
        + k.len();
    line[i..]
        .split([',', '}'])
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{key} not a number in {line}"))
}

struct Running {
    _server: Server,
    pid: u32,
    http: u16,
}

fn start_weir() -> Option<Running> {
    start_weir_with(&[])
}

fn start_weir_with(env: &[(&str, &str)]) -> Option<Running> {
    let weir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/weir");
    if !weir.exists() {
        println!("SKIP: {} not built (cargo build --release -j2 -p weir)", weir.display());
        return None;
    }
    let http = free_tcp();
    let rtc = free_udp_tcp();
    let child = Command::new(&weir)
        .env("WEIR_HTTP_PORT", http.to_string())
        .env("WEIR_RTC_PORT", rtc.to_string())
        .env("WEIR_RTC_TCPPORT", rtc.to_string())
        .env("WEIR_RTC_EXTERNIP", "127.0.0.1")
        .env("WEIR_RTC_SIGNALINGPORT", "0")
        .env("WEIR_RTC_SIGNALINGSSLPORT", "0")
        .env("WEIR_HTTP_SSLPORT", "0")
        .env("WEIR_RTC_ICEPORT", "0")
        .env("WEIR_RTC_ICETCPPORT", "0")
        .env("WEIR_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start weir");
    let pid = child.id();
    let server = Server(child);
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10), "weir did not listen on {http}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Running { _server: server, pid, http })
}

/// The server's `/api/v1/server` body (default API secret), read after its counters were
/// published (every 500 ms housekeeping tick).
fn server_info(w: &Running) -> String {
    use std::io::{Read, Write};
    std::thread::sleep(Duration::from_millis(700));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", w.http)).expect("connect to the HTTP port");
    write!(
        s,
        "GET /api/v1/server?secret=035c73f7-bb6b-4889-a715-d9eb2d1925cc HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read the response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    response
}

/// Runs `weir-bench <args>` against the server and returns its JSON line.
fn bench(w: &Running, scenario: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_weir-bench"))
        .arg(scenario)
        .args(args)
        .args(["--whip", &format!("http://127.0.0.1:{}/whip/{{app}}/{{stream}}", w.http)])
        .args(["--whep", &format!("http://127.0.0.1:{}/whep/{{app}}/{{stream}}", w.http)])
        .args(["--server-pid", &w.pid.to_string(), "--probe", "0", "--setup-timeout", "15"])
        .output()
        .expect("run weir-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "weir-bench {scenario} failed");
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{{\"bench\":\"{scenario}\"")))
        .expect("JSON line")
        .to_owned()
}

#[test]
fn fanout_three_players_receive_what_the_publisher_sent() {
    let Some(w) = start_weir() else { return };
    let t = Instant::now();
    // One video packet in 25 is "lost" on purpose: NACK -> RTX must bring every one back.
    let line = bench(&w, "fanout", &["--players", "3", "--duration", "3", "--drop-every", "25"]);
    let sent = json_num(&line, "publisher_sent_window");
    assert!(sent > 300.0, "publisher sent only {sent} packets in 3 s");
    assert_eq!(json_num(&line, "players_receiving"), 3.0);
    let ratio = json_num(&line, "min_player_ratio");
    assert!(ratio >= 0.99, "a player received only {:.1}% of the publisher's packets", ratio * 100.0);
    assert!(json_num(&line, "dropped_on_purpose") > 0.0);
    assert!(json_num(&line, "recovered") > 0.0, "no RTX recovered a NACKed packet");
    assert!(json_num(&line, "server_us_per_packet") > 0.0);
    // The sampled decryptions prove the SRTP keys and the forwarded bytes; none may fail.
    assert!(json_num(&line, "verified") > 0.0, "no packet was decrypted and checked");
    assert_eq!(json_num(&line, "verify_failed"), 0.0);
    // Latency is read from abs-capture-time, which the server must forward.
    assert!(json_num(&line, "latency_ms_p50") > 0.0);
    // A video frame's packets to one player leave as one UDP GSO message: the engine's
    // counters must show runs (more datagrams than messages) and no refusal by the kernel.
    let info = server_info(&w);
    println!("{info}");
    assert!(json_num(&info, "gso_messages") > 0.0, "no GSO message was sent: {info}");
    assert!(json_num(&info, "datagrams_sent") > json_num(&info, "messages_sent"), "{info}");
    assert!(info.contains("\"gso\":true"), "{info}");
    // The players' packets (and the RTX above) were built and protected by the engine's
    // direct egress, not by each player's WebRTC stack: the players decrypted them.
    assert!(json_num(&info, "direct_packets") > sent, "direct egress not used: {info}");
    println!("fanout test took {:?}", t.elapsed());
}

/// Every player received (almost) every packet of its stream, each packet dropped on purpose
/// came back as RTX, nothing twice, and the sampled decryptions all passed.
fn assert_every_player_got_everything(line: &str, players: u32) {
    assert_eq!(json_num(line, "players_receiving"), f64::from(players), "{line}");
    let ratio = json_num(line, "min_player_ratio");
    assert!(ratio >= 0.99, "a player received only {:.1}% of the publisher's packets: {line}", ratio * 100.0);
    assert!(json_num(line, "recovered") > 0.0, "no RTX recovered a NACKed packet: {line}");
    assert_eq!(json_num(line, "duplicates"), 0.0, "{line}");
    assert!(json_num(line, "verified") > 0.0, "no packet was decrypted and checked: {line}");
    assert_eq!(json_num(line, "verify_failed"), 0.0, "{line}");
}

#[test]
fn fanout_through_the_egress_pool_loses_nothing() {
    // 40 players of one stream on a server whose two egress threads write, encrypt and send
    // for every loop turn with 8 players or more to write, and handle every batch of 2
    // received datagrams or more (the players' RTCP and NACKs, STUN, the publisher's SRTP):
    // the parallel paths must deliver exactly what the serial ones do, NACK/RTX included.
    let Some(w) = start_weir_with(&[
        ("WEIR_RTC_EGRESSTHREADS", "2"),
        ("WEIR_RTC_EGRESSMINPLAYERS", "8"),
        ("WEIR_RTC_INGRESSMINDATAGRAMS", "2"),
    ]) else {
        return;
    };
    let line = bench(&w, "fanout", &["--players", "40", "--duration", "3", "--drop-every", "25"]);
    assert_every_player_got_everything(&line, 40);
    let info = server_info(&w);
    assert!(json_num(&info, "egress_pool_datagrams") > 0.0, "the pool sent nothing: {info}");
    assert!(json_num(&info, "ingress_pool_datagrams") > 0.0, "the pool received nothing: {info}");
}

#[test]
fn fanout_player_by_player_without_a_pool_loses_nothing() {
    // No egress pool: a stream of 2 players or more has its packets queued during the loop
    // turn and written at the end of it, player by player, on the engine thread (the path of
    // one-core servers); NACK/RTX included, nothing lost, duplicated or reordered.
    let Some(w) = start_weir_with(&[("WEIR_RTC_EGRESSTHREADS", "1")]) else { return };
    let line = bench(&w, "fanout", &["--players", "12", "--duration", "3", "--drop-every", "25"]);
    assert_every_player_got_everything(&line, 12);
    assert_eq!(json_num(&line, "reordered"), 0.0);
    let info = server_info(&w);
    assert!(json_num(&info, "gso_messages") > 0.0, "a frame's packets to a player did not leave as one GSO message: {info}");
    assert_eq!(json_num(&info, "egress_pool_datagrams"), 0.0, "{info}");
}

#[test]
fn many_publishers_each_reach_their_own_players() {
    let Some(w) = start_weir() else { return };
    // The publishers pace their video like a browser (2.5x the bitrate): every paced packet
    // must still be counted once, stamped when it leaves and received by the players.
    let line = bench(&w, "many", &["--publishers", "3", "--players-each", "2", "--duration", "2", "--pacing", "2.5"]);
    assert_eq!(json_num(&line, "pacing"), 2.5);
    assert!(json_num(&line, "publisher_sent_window") > 2.0 * 3.0 * 100.0, "the paced publishers sent too little: {line}");
    assert_eq!(json_num(&line, "players_receiving"), 6.0);
    // Counted per stream: a player of stream 1 receiving stream 2 would not add up to >= 99%.
    assert!(json_num(&line, "min_player_ratio") >= 0.99);
    assert_eq!(json_num(&line, "verify_failed"), 0.0);
}

#[test]
fn many_small_streams_through_the_egress_pool() {
    // Streams of 3 players, each below egressMinPlayers, but a loop turn with several of them
    // has enough players to write for the pool: every stream reaches its own players intact.
    let Some(w) = start_weir_with(&[("WEIR_RTC_EGRESSTHREADS", "2"), ("WEIR_RTC_EGRESSMINPLAYERS", "6")]) else { return };
    let line = bench(&w, "many", &["--publishers", "4", "--players-each", "3", "--duration", "2", "--drop-every", "25"]);
    assert_every_player_got_everything(&line, 12);
    let info = server_info(&w);
    assert!(json_num(&info, "egress_pool_datagrams") > 0.0, "the pool sent nothing: {info}");
}

#[test]
fn churn_setup_and_idle_end_every_session() {
    let Some(w) = start_weir() else { return };
    let line = bench(&w, "churn", &["--rate", "10/s", "--lifetime", "0.5", "--duration", "2", "--settle", "1"]);
    let sessions = json_num(&line, "sessions");
    assert!(sessions >= 15.0, "{sessions} sessions in 2 s at 10/s");
    assert_eq!(json_num(&line, "connect_errors"), 0.0);
    assert!(json_num(&line, "keyed") >= sessions - 2.0, "players that lived 0.5 s must see a keyframe");
    // Every session ended: the server holds only the publisher's sockets-free state again.
    assert_eq!(json_num(&line, "fds_after"), json_num(&line, "fds_baseline"));
    assert!(json_num(&line, "anon_kib_after") > 0.0, "anonymous RSS read from /proc: {line}");

    let line = bench(&w, "setup", &["--runs", "5"]);
    assert_eq!(json_num(&line, "succeeded"), 5.0);
    assert!(json_num(&line, "setup_keyframe_ms_p50") > 0.0);

    let line = bench(&w, "idle", &["--sessions", "20", "--duration", "1"]);
    assert_eq!(json_num(&line, "connected"), 20.0);
    assert_eq!(json_num(&line, "died"), 0.0);
    assert!(json_num(&line, "kib_per_session").is_finite());
}

#[test]
fn probe_measures_each_send_method_with_the_chosen_cipher() {
    // No server: the probe encrypts and sends to loopback sockets of its own.
    for (bits, name) in [("256", "AEAD_AES_256_GCM"), ("128", "AEAD_AES_128_GCM")] {
        let out = Command::new(env!("CARGO_BIN_EXE_weir-bench"))
            .args(["probe", "--sockets", "4", "--packets", "3000", "--core", "0", "--cipher", bits])
            .output()
            .expect("run weir-bench probe");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "probe failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let line = stdout.lines().find(|l| l.starts_with("{\"bench\":\"probe\"")).expect("JSON line");
        assert!(line.contains(&format!("\"cipher\":\"{name}\"")), "{line}");
        assert!(json_num(line, "received") > 0.0, "the probe's datagrams never arrived: {line}");
        for method in ["sendto", "sendmmsg32", "gso8", "stream"] {
            let i = line.find(&format!("\"{method}\":")).unwrap_or_else(|| panic!("{method} missing: {line}"));
            assert!(json_num(&line[i..], "both_us") > 0.0, "{line}");
        }
        // The "stream" row sent the stream's packets through the engine's batching: every
        // datagram left, frames of several packets as GSO messages.
        assert!(json_num(line, "stream_datagrams") >= 3000.0, "{line}");
        assert!(json_num(line, "stream_messages") < json_num(line, "stream_datagrams"), "{line}");
        assert!(json_num(line, "stream_gso_messages") > 0.0, "{line}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_weir-bench")).args(["probe", "--cipher", "192"]).output().expect("run");
    assert!(!out.status.success(), "an unknown cipher must be refused");
}
