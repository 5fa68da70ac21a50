//! The `weir` binary: reads the configuration, starts the media engine and the HTTP server, and
//! wires them together. All behaviour lives in the library crates.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tracing::{info, warn};
use weir_config::Config;
use weir_core::Registry;
use weir_rtc::{Engine, EngineConfig};

const USAGE: &str = "\
weir — WebRTC media server (WHIP/WHEP, ZLMediaKit and SRS signaling)

USAGE:
    weir [-c <config.ini>] [--dump-config]

OPTIONS:
    -c, --config <FILE>  ZLMediaKit-style INI file read over the embedded defaults
                         (also: environment variable WEIR_CONFIG)
        --dump-config    print the effective configuration and exit
    -h, --help           print this help
    -V, --version        print the version

Every key can be overridden by WEIR_<SECTION>_<KEY>, e.g. WEIR_RTC_PORT=9000.
Log filter: WEIR_LOG (e.g. WEIR_LOG=debug or WEIR_LOG=info,weir_rtc=debug).";

struct Args {
    config: Option<PathBuf>,
    dump: bool,
}

fn parse_args() -> Result<Option<Args>> {
    let mut args = Args { config: std::env::var_os("WEIR_CONFIG").map(PathBuf::from), dump: false };
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("-c") | Some("--config") => {
                args.config = Some(PathBuf::from(it.next().context("-c needs a file name")?));
            }
            Some("--dump-config") => args.dump = true,
            Some("-h") | Some("--help") => {
                println!("{USAGE}");
                return Ok(None);
            }
            Some("-V") | Some("--version") => {
                println!("weir {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            _ => bail!("unknown argument {:?}\n\n{USAGE}", a),
        }
    }
    Ok(Some(args))
}

fn engine_config(c: &Config) -> Result<EngineConfig> {
    let rtc_ip: IpAddr = c.rtc.ip.parse().with_context(|| format!("[rtc] ip {:?}", c.rtc.ip))?;
    Ok(EngineConfig {
        udp_bind: (c.rtc.port != 0).then(|| SocketAddr::new(rtc_ip, c.rtc.port)),
        tcp_bind: (c.rtc.tcp_port != 0).then(|| SocketAddr::new(rtc_ip, c.rtc.tcp_port)),
        timeout: Duration::from_secs(c.rtc.timeout_sec),
        continue_push: Duration::from_millis(c.protocol.continue_push_ms),
        audio_pref: c.rtc.preferred_audio(),
        video_pref: c.rtc.preferred_video(),
        rtx_cache_packets: c.rtc.max_rtp_cache_size,
        rtx_cache_age: Duration::from_millis(c.rtc.max_rtp_cache_ms),
        gop_cache_max_packets: c.rtc.gop_cache_max_packets,
        keyframe_request_interval: Duration::from_millis(c.rtc.keyframe_request_interval_ms),
        max_sessions: c.rtc.max_sessions,
        enable_echo: c.rtc.enable_echo,
    })
}

fn main() -> Result<()> {
    let Some(args) = parse_args()? else { return Ok(()) };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,str0m=warn,dimpl=warn,is=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();

    let loaded = weir_config::load(args.config.as_deref()).context("loading the configuration")?;
    if args.dump {
        print!("{}", loaded.config.to_ini());
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        return Ok(());
    }
    loaded.log_warnings();
    let config = Arc::new(loaded.config);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Arc<Config>) -> Result<()> {
    let registry = Registry::new();
    let engine = Engine::start(engine_config(&config)?, registry.clone()).context("starting the media engine")?;
    let http_addr = SocketAddr::new(
        config.http.ip.parse().with_context(|| format!("[http] ip {:?}", config.http.ip))?,
        config.http.port,
    );
    let state = weir_http::HttpState {
        sessions: Arc::new(engine.clone()),
        registry,
        config: config.clone(),
        // The embedded STUN/TURN server is not part of this build yet: advertise none rather
        // than an address nothing answers on.
        ice_servers: Vec::new(),
        started: Instant::now(),
    };
    let listener = tokio::net::TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("binding the HTTP port {http_addr}"))?;
    info!(
        http = %http_addr,
        udp = ?engine.udp_addr(),
        tcp = ?engine.tcp_addr(),
        "weir {} ready: demo at http://127.0.0.1:{}/",
        env!("CARGO_PKG_VERSION"),
        config.http.port
    );
    if config.rtc.extern_ip.is_empty() {
        warn!("[rtc] externIP is empty: candidates come from the request's Host or the interface addresses");
    }
    let app = weir_http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            info!("shutting down");
        })
        .await
        .context("HTTP server")?;
    Ok(())
}
