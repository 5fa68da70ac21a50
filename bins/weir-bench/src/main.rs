//! weir-bench: a WebRTC load generator and raw-limit probe (issue 5, first version).
//!
//! `weir-bench probe`  — SRTP (AES-128-GCM) protect + send to loopback with sendto / sendmmsg / GSO.
//! `weir-bench fanout` — one WHIP publisher and N WHEP players (str0m clients) against a server.
//!
//! `WEIR_BENCH_DEBUG=1` prints the first packets of each player and, at the end, the packet
//! numbers the first two players missed.

mod args;
mod fanout;
mod h264;
mod probe;
mod srtp;
mod sys;

fn usage() -> ! {
    eprintln!(
        "usage:\n  weir-bench probe [--sockets N=100] [--packets M=200000] [--core C=0]\n  \
         weir-bench fanout --whip URL --whep URL [--app live] [--stream bench] [--players N=10] [--duration S=10]\n        \
         [--server-pid PID] [--bitrate KBPS=600] [--fps 30] [--gop-secs 2] [--setup-timeout S=30] [--core C]\n\
         URL templates may contain {{app}} and {{stream}}."
    );
    std::process::exit(2)
}

fn main() {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.is_empty() {
        usage();
    }
    let cmd = argv.remove(0);
    let a = match args::Args::parse(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("weir-bench: {e}");
            usage();
        }
    };
    let r = match cmd.as_str() {
        "probe" => probe::run(&a),
        "fanout" => fanout::run(&a),
        _ => usage(),
    };
    if let Err(e) = r {
        eprintln!("weir-bench {cmd}: {e}");
        std::process::exit(1);
    }
}
