//! weir-bench: a WebRTC load generator and raw-limit probe for any WHIP/WHEP server.
//!
//! `weir-bench probe`  — SRTP (AES-128-GCM) protect + send to loopback with sendto / sendmmsg / GSO.
//! `weir-bench fanout` — one WHIP publisher (str0m) and N cheap WHEP players (see `lite.rs`).
//! `weir-bench many`   — several publishers, players spread over their streams.
//! `weir-bench churn`  — players joining and leaving at a steady rate; memory/fds afterwards.
//! `weir-bench idle`   — many connected sessions without media; memory per session.
//! `weir-bench setup`  — sequential setups; percentiles of every step.
//! `weir-bench make-clip` — an encoded H264 + Opus clip (FFmpeg) for the publishers' `--clip`.

mod args;
mod clip;
mod h264;
mod http;
mod lite;
mod players;
mod probe;
mod publisher;
mod rtp;
mod scenarios;

mod sys;

fn usage() -> ! {
    eprintln!(
        "usage:\n  weir-bench probe [--sockets N=100] [--packets M=200000] [--core C=0] [--cipher 256|128 (AES-GCM key bits)] [--bitrate 600 --fps 30 --gop-secs 2 --pacing 0 (the stream of the \"stream\" row)]\n  \
         weir-bench fanout --whip URL --whep URL [--players N=10] [--duration S=10]\n  \
         weir-bench many   --whip URL --whep URL [--publishers P=50] [--players-each N=10] [--duration S=10]\n  \
         weir-bench churn  --whip URL --whep URL [--rate R/s=50] [--lifetime S=2] [--duration S=60] [--settle S=5]\n  \
         weir-bench idle   --whip URL --whep URL [--sessions N=10000] [--duration S=10]\n  \
         weir-bench setup  --whip URL --whep URL [--runs N=200]\n  \
         weir-bench make-clip --out DIR [--bitrate 600] [--fps 30] [--gop-secs 2] [--seconds 4]   (FFmpeg: DIR/video.h264, DIR/audio.ogg)\n\
         common: [--app live] [--stream bench] [--server-pid PID] [--core C (load generator)] [--threads T=1]\n        \
         [--bitrate KBPS=600] [--fps 30] [--gop-secs 2] [--pacing X=0 (video at X times the bitrate, 2.5 like a browser; 0 = bursts)] [--setup-timeout S=30] [--verify-every N=100]\n        \
         [--drop-every N=0 (simulated loss, exercises NACK/RTX)] [--rtx 1 (0: players offer NACK without RTX)] [--count auto|stamp (count and time packets by the payload stamp, decrypting all; auto: so when the server drops abs-capture-time)] [--batch-ms 2] [--probe 1] [--probe-core 0]\n        \
         [--clip DIR (loop the encoded clip of make-clip instead of synthetic H264; use its --fps)]\n\
         URL templates may contain {{app}} and {{stream}}, e.g. 'http://127.0.0.1:8080/index/api/whep?app={{app}}&stream={{stream}}'."
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
        "fanout" => a.num("players", 10).and_then(|n| scenarios::fanout(&a, 1, n)),
        "many" => a
            .num("publishers", 50)
            .and_then(|p| a.num("players-each", 10).map(|n| (p, n)))
            .and_then(|(p, n)| scenarios::fanout(&a, p, n)),
        "churn" => scenarios::churn(&a),
        "idle" => scenarios::idle(&a),
        "setup" => scenarios::setup(&a),
        "make-clip" => clip::make(&a),
        _ => usage(),
    };
    if let Err(e) = r {
        eprintln!("weir-bench {cmd}: {e}");
        std::process::exit(1);
    }
}
