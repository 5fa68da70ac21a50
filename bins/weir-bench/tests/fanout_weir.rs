//! Starts target/release/weir on free ports and runs `weir-bench fanout --players 3 --duration 3`
//! against it: every player must receive >= 90% of the packets the publisher sent in the window.
//! Skipped (with a printed reason) when the release server binary is not built.

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

#[test]
fn fanout_three_players_receive_what_the_publisher_sent() {
    let weir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/weir");
    if !weir.exists() {
        println!(
            "SKIP: {} not built (cargo build --release -j2 -p weir)",
            weir.display()
        );
        return;
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
        .env("WEIR_RTC_ICEPORT", "0")
        .env("WEIR_RTC_ICETCPPORT", "0")
        .env("WEIR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start weir");
    let pid = child.id();
    let _server = Server(child);
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "weir did not listen on {http}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_weir-bench"))
        .args([
            "fanout",
            "--players",
            "3",
            "--duration",
            "3",
            "--setup-timeout",
            "8",
        ])
        .args([
            "--whip",
            &format!("http://127.0.0.1:{http}/whip/{{app}}/{{stream}}"),
        ])
        .args([
            "--whep",
            &format!("http://127.0.0.1:{http}/whep/{{app}}/{{stream}}"),
        ])
        .args(["--server-pid", &pid.to_string()])
        .output()
        .expect("run weir-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "weir-bench failed");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("{\"bench\":\"fanout\""))
        .expect("JSON line");
    let sent = json_num(line, "publisher_sent");
    assert!(sent > 300.0, "publisher sent only {sent} packets in 3 s");
    assert_eq!(json_num(line, "players_receiving"), 3.0);
    let ratio = json_num(line, "min_player_ratio");
    assert!(
        ratio >= 0.9,
        "a player received only {:.1}% of the publisher's packets",
        ratio * 100.0
    );
    assert!(json_num(line, "server_us_per_packet") > 0.0);
    // No timing assertion (targets live in docs/BENCHMARKS.md); the tool bounds itself.
    println!("fanout test took {:?}", t.elapsed());
}
