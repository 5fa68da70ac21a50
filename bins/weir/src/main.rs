//! The `weir` binary: reads the configuration, starts the media engine and the HTTP server, and
//! wires them together. All behaviour lives in the library crates.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tracing::{info, warn};
use weir_config::Config;
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
Log filter: WEIR_LOG (e.g. WEIR_LOG=debug or WEIR_LOG=info,weir_rtc=debug).
Log format: WEIR_LOG_FORMAT=json for one JSON object per line (default: text).";

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
        consent_from_authenticated_media: c.rtc.consent_mode == weir_config::ConsentMode::Authenticated,
        continue_push: Duration::from_millis(c.protocol.continue_push_ms),
        audio_pref: c.rtc.preferred_audio(),
        video_pref: c.rtc.preferred_video(),
        rtx_cache_packets: c.rtc.max_rtp_cache_size,
        egress_threads: c.rtc.egress_threads,
        egress_min_players: c.rtc.egress_min_players,
        ingress_min_datagrams: c.rtc.ingress_min_datagrams,
        direct_egress: c.rtc.direct_egress,
        prefer_tcp: c.rtc.preferred_tcp,
        rtx_cache_age: Duration::from_millis(c.rtc.max_rtp_cache_ms),
        gop_cache_max_packets: c.rtc.gop_cache_max_packets,
        keyframe_request_interval: Duration::from_millis(c.rtc.keyframe_request_interval_ms),
        max_sessions: c.rtc.max_sessions,
        enable_echo: c.rtc.enable_echo,
        datachannel_echo: c.rtc.datachannel_echo,
        datachannel_relay_players: c.rtc.datachannel_relay_players,
        datachannel_max_message_size: c.rtc.datachannel_max_message_size,
        datachannel_buffer_bytes: c.rtc.datachannel_buffer_bytes,
        datachannel_negotiated_ids: c.rtc.datachannel_negotiated_ids(),
    })
}

/// `[rtc] externIP` as addresses: literal entries and `$ENV_NAME` entries (`*` is skipped).
fn extern_ips(c: &Config) -> Vec<IpAddr> {
    let mut out = Vec::new();
    for entry in c.rtc.extern_ip.split(',').map(str::trim) {
        let values = match entry.strip_prefix('$') {
            Some(name) => std::env::var(name).unwrap_or_default(),
            None => entry.to_owned(),
        };
        out.extend(values.split(',').filter_map(|v| v.trim().parse::<IpAddr>().ok()));
    }
    out
}

/// The embedded STUN/TURN server's settings (`[rtc] icePort`, `iceTcpPort`, `enableTurn`,
/// `iceUfrag`/`icePwd`, `port_range`, `turn*`).
fn turn_config(c: &Config) -> Result<weir_turn::TurnConfig> {
    let listen_ip: IpAddr = c.rtc.ip.parse().with_context(|| format!("[rtc] ip {:?}", c.rtc.ip))?;
    let r = &c.rtc;
    Ok(weir_turn::TurnConfig {
        listen_ip,
        udp_port: r.ice_port,
        tcp_port: r.ice_tcp_port,
        relay_ports: r.port_range().unwrap_or((49152, 65535)),
        external_ips: extern_ips(c),
        server: weir_turn::ServerConfig {
            // TURN allocations only with credentials (safe default, weir_config's exposure.rs).
            enable_turn: r.turn_active(),
            realm: r.turn_realm.clone(),
            static_user: (!r.ice_ufrag.is_empty()).then(|| (r.ice_ufrag.clone(), r.ice_pwd.clone())),
            rest_secret: (!r.turn_secret.is_empty()).then(|| r.turn_secret.clone()),
            allow_peers: r.turn_allow_peer_ranges(),
            deny_peers: r.turn_deny_peer_ranges(),
            max_allocations_per_user: r.turn_max_allocations_per_user,
            max_allocations_per_ip: r.turn_max_allocations_per_ip,
            max_bytes_per_sec: r.turn_max_bitrate,
            ..Default::default()
        },
        ..Default::default()
    })
}

/// How long TURN credentials minted for a WHIP/WHEP answer stay valid (TURN REST API).
const TURN_REST_TTL_SECS: u64 = 24 * 3600;

/// `Link: rel="ice-server"` values for WHIP/WHEP answers (RFC 9725 section 4.6): the embedded
/// STUN server, and TURN (UDP, and TCP when `iceTcpPort` is set) when `enableTurn=1`. With
/// `turnSecret` set the TURN credentials are minted per answer and expire (coturn's TURN REST
/// API convention), so the static `iceUfrag`/`icePwd` user is never handed to WHIP/WHEP clients;
/// without it the static user is advertised, as ZLMediaKit does in its signaling.
/// The host is the first `[rtc] externIP` address, else 127.0.0.1.
fn ice_server_links(c: &Config) -> weir_http::IceServers {
    let r = c.rtc.clone();
    if r.ice_port == 0 {
        return weir_http::static_ice_servers(Vec::new());
    }
    let host = extern_ips(c).first().copied().unwrap_or(IpAddr::from([127, 0, 0, 1]));
    Arc::new(move || {
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut links = vec![format!("<stun:{}>; rel=\"ice-server\"", SocketAddr::new(host, r.ice_port))];
        if r.turn_active() {
            let (user, pass) = if r.turn_secret.is_empty() {
                (r.ice_ufrag.clone(), r.ice_pwd.clone())
            } else {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let user = weir_turn::rest_username(now + TURN_REST_TTL_SECS, Some("weir"));
                let pass = weir_turn::rest_password(&r.turn_secret, &user);
                (user, pass)
            };
            let cred = format!(
                "; rel=\"ice-server\"; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                quote(&user),
                quote(&pass)
            );
            links.push(format!("<turn:{}?transport=udp>{cred}", SocketAddr::new(host, r.ice_port)));
            if r.ice_tcp_port != 0 {
                links.push(format!("<turn:{}?transport=tcp>{cred}", SocketAddr::new(host, r.ice_tcp_port)));
            }
        }
        links
    })
}

/// The TURN server's counters for `/metrics` (weir-http may not import weir-turn).
fn turn_metrics(turn: weir_turn::TurnStatsSource) -> weir_http::prometheus::MetricsRefresh {
    Arc::new(move || {
        let s = turn.stats();
        let c = &s.core;
        metrics::gauge!("weir_turn_allocations_active").set(c.allocations as f64);
        metrics::counter!("weir_turn_allocations_total").absolute(c.allocations_total);
        metrics::counter!("weir_turn_relayed_bytes_total", "direction" => "to_peer").absolute(c.to_peer_bytes);
        metrics::counter!("weir_turn_relayed_bytes_total", "direction" => "to_client").absolute(c.to_client_bytes);
        metrics::counter!("weir_turn_relayed_packets_total", "direction" => "to_peer").absolute(c.to_peer_packets);
        metrics::counter!("weir_turn_relayed_packets_total", "direction" => "to_client").absolute(c.to_client_packets);
        metrics::counter!("weir_turn_refusals_total").absolute(c.refusals);
        for (reason, n) in [
            ("bandwidth", c.dropped_bandwidth),
            ("no_permission", c.dropped_no_permission),
            ("invalid", c.dropped_invalid),
            ("udp_send", s.udp_send_dropped),
            ("tcp_queue", s.tcp_queue_dropped),
        ] {
            metrics::counter!("weir_turn_dropped_packets_total", "reason" => reason).absolute(n);
        }
        metrics::gauge!("weir_turn_tcp_connections").set(s.tcp_connections as f64);
    })
}

fn main() -> Result<()> {
    let Some(args) = parse_args()? else { return Ok(()) };
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,str0m=warn,dimpl=warn,is=warn"));
    match std::env::var("WEIR_LOG_FORMAT").as_deref() {
        // One JSON object per event (timestamp, level, fields incl. session and stream, spans)
        // for log shippers.
        Ok("json") => tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(true).init(),
        Ok("text") | Err(_) => tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init(),
        Ok(other) => anyhow::bail!("WEIR_LOG_FORMAT={other:?}: expected json or text"),
    }

    let loaded = weir_config::load(args.config.as_deref()).context("loading the configuration")?;
    if args.dump {
        print!("{}", loaded.config.to_ini());
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        return Ok(());
    }
    loaded.log_warnings();
    for w in loaded.config.exposure_warnings() {
        warn!(target: "weir_config", "exposure: {w}");
    }
    let config = Arc::new(loaded.config);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let exit = runtime.block_on(async {
        // Before any listener: SIGHUP (ExecReload in dist/weir.service) must never end the server.
        weir_net::hold_sighup();
        serve(config, args.config).await
    })?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    match exit {
        Exit::Stopped => Ok(()),
        Exit::Restart => Err(restart_in_place()),
    }
}

/// How `serve` ended without an error.
enum Exit {
    Stopped,
    /// `restartServer`: start again after the graceful stop.
    Restart,
}

/// Replaces this process with a fresh start of the same binary, same arguments and
/// environment (`execve`: same PID, so systemd and container runtimes see no exit). Every
/// socket is close-on-exec, so the new image binds the same ports. Returns only on failure.
fn restart_in_place() -> anyhow::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let exe = match std::env::current_exe() {
        // An upgrade replaced the file: start the new binary at the same path.
        Ok(p) => p
            .to_str()
            .and_then(|s| s.strip_suffix(" (deleted)"))
            .map(PathBuf::from)
            .unwrap_or(p),
        Err(e) => return anyhow::Error::new(e).context("restartServer: finding this binary"),
    };
    info!(exe = %exe.display(), "restarting");
    let e = std::process::Command::new(&exe).arg0(argv0).args(args).exec();
    anyhow::Error::new(e).context(format!("restartServer: exec {}", exe.display()))
}

/// HTTPS on `[http] sslport`: the same router as HTTP, with `sslCert`/`sslKey` (reloaded on
/// SIGHUP and when the files change) or a self-signed certificate.
async fn start_https(config: &Config, addr: SocketAddr, router: axum::Router, handle: axum_server::Handle<SocketAddr>) -> Result<SocketAddr> {
    const WHAT: &str = "[http] sslport";
    let h = &config.http;
    let names: Vec<String> = extern_ips(config).iter().map(|ip| ip.to_string()).collect();
    let tls = weir_net::load_or_generate_tls(WHAT, &h.ssl_cert, &h.ssl_key, &names)
        .await
        .context("HTTPS certificate (WEIR_HTTP_SSLPORT=0 disables HTTPS)")?;
    weir_net::watch_reload(WHAT, tls.clone(), h.ssl_cert.clone(), h.ssl_key.clone());
    let listener = weir_net::bind_tcp(addr).with_context(|| format!("binding the HTTPS port {addr} (WEIR_HTTP_SSLPORT=0 disables HTTPS)"))?;
    let local = listener.local_addr().unwrap_or(addr);
    let std_listener = listener.into_std().context("HTTPS listener")?;
    let server = axum_server::from_tcp_rustls(std_listener, tls).context("HTTPS listener")?.handle(handle);
    tokio::spawn(async move {
        if let Err(e) = server.serve(router.into_make_service_with_connect_info::<SocketAddr>()).await {
            tracing::error!(addr = %local, error = %e, "HTTPS listener stopped");
        }
    });
    Ok(local)
}

async fn serve(config: Arc<Config>, config_file: Option<PathBuf>) -> Result<Exit> {
    if config.rtc.protocol == weir_config::CandidateProtocol::Tcp && config.rtc.tcp_port == 0 {
        bail!("[rtc] protocol=tcp needs the ICE-TCP port: set [rtc] tcpPort");
    }
    if config.rtc.protocol == weir_config::CandidateProtocol::Udp && config.rtc.port == 0 {
        bail!("[rtc] protocol=udp needs the UDP media port: set [rtc] port");
    }
    if config.metrics.enable {
        // Before anything records (hook latencies): the `metrics` macros are no-ops until then.
        weir_http::prometheus::install_recorder();
    }
    let engine = Engine::start(engine_config(&config)?).context("starting the media engine")?;
    let http_addr = SocketAddr::new(
        config.http.ip.parse().with_context(|| format!("[http] ip {:?}", config.http.ip))?,
        config.http.port,
    );
    // P2P signaling (ZLMediaKit WebSocket protocol) on [rtc] signalingPort / signalingSslPort.
    let signaling = weir_signal::SignalState::new(weir_signal::SignalConfig::from_config(&config));
    let sig = weir_signal::start(&config, signaling.clone()).await.context("starting the P2P signaling server (WEIR_RTC_SIGNALINGPORT=0 / WEIR_RTC_SIGNALINGSSLPORT=0 disable it)")?;
    info!(ws = ?sig.ws, wss = ?sig.wss, ice_servers = ?signaling.config().rooms.ice_servers, "P2P signaling ready");
    // Embedded STUN/TURN server on [rtc] icePort / iceTcpPort; it stops when `_turn` is dropped.
    let _turn = match config.rtc.ice_port {
        0 => None,
        _ => Some(
            weir_turn::start(turn_config(&config)?)
                .await
                .context("starting the STUN/TURN server (WEIR_RTC_ICEPORT=0 disables it)")?,
        ),
    };
    let state = weir_http::HttpState {
        sessions: Arc::new(engine.clone()),
        directory: engine.directory(),
        streams: Some(Arc::new(engine.clone())),
        config: config.clone(),
        ice_servers: ice_server_links(&config),
        started: Instant::now(),
        rooms: Some(signaling.clone()),
        metrics_refresh: _turn.as_ref().map(|t| turn_metrics(t.stats_source())),
        config_file,
    };
    let listener = weir_net::bind_tcp(http_addr).with_context(|| format!("binding the HTTP port {http_addr}"))?;
    let http_local = listener.local_addr().unwrap_or(http_addr);
    let (router, http_handle) = weir_http::router_and_handle(state);
    let https_handle = axum_server::Handle::new();
    let https = match config.http.ssl_port {
        0 => None,
        port => Some(start_https(&config, SocketAddr::new(http_addr.ip(), port), router.clone(), https_handle.clone()).await?),
    };
    info!(
        http = %http_local,
        https = ?https,
        udp = ?engine.udp_addr(),
        tcp = ?engine.tcp_addr(),
        "weir {} ready: demo at http://127.0.0.1:{}/",
        env!("CARGO_PKG_VERSION"),
        config.http.port
    );
    if config.rtc.extern_ip.is_empty() {
        warn!("[rtc] externIP is empty: candidates come from the request's Host or the interface addresses");
    }
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let mut http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    let signal = tokio::select! {
        s = shutdown_signal() => s,
        _ = http_handle.restart_requested() => "restartServer",
        // The HTTP server ended by itself: an error (the port is gone).
        r = &mut http => {
            return match r {
                Ok(Ok(())) => Ok(Exit::Stopped),
                Ok(Err(e)) => Err(e).context("HTTP server"),
                Err(e) => Err(e).context("HTTP server task"),
            };
        }
    };
    shutdown(signal, &engine, &http_handle, stop_tx, http, &https_handle).await;
    Ok(if signal == "restartServer" { Exit::Restart } else { Exit::Stopped })
}

/// Waits for SIGTERM (systemd, docker stop, kill) or SIGINT (Ctrl-C); returns its name.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        },
        Err(e) => {
            warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server gracefully");
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// The graceful stop, bounded by `SHUTDOWN_*` (well inside systemd's TimeoutStopSec): the HTTP
/// listener stops accepting and finishes its requests, every WebRTC session is ended with an
/// RTCP BYE and a DTLS close_notify (players and publishers see `closed` at once), the hooks
/// those ends trigger (`on_stream_changed` regist=false, `on_flow_report`) are waited for.
async fn shutdown(
    signal: &'static str,
    engine: &Engine,
    http_handle: &weir_http::HttpHandle,
    stop_http: tokio::sync::watch::Sender<bool>,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
    https: &axum_server::Handle<SocketAddr>,
) {
    use weir_core::SessionService;
    const SHUTDOWN_HOOKS: Duration = Duration::from_secs(2);
    const SHUTDOWN_HTTP: Duration = Duration::from_secs(2);
    let t0 = Instant::now();
    info!(signal, "shutting down: ending sessions, draining HTTP, telling hooks");
    let _ = stop_http.send(true);
    https.graceful_shutdown(Some(SHUTDOWN_HTTP));
    let sessions = engine.list().await;
    for s in &sessions {
        if let Err(e) = engine.delete(&s.id, None).await {
            tracing::debug!(session = %s.id, error = %e, "already gone at shutdown");
        }
    }
    // One more round trip: the engine sends a turn's datagrams (the close_notify alerts of the
    // last deletes) at the end of that turn, after it answered the command.
    let _ = engine.list().await;
    let hooks_quiet = http_handle.hooks_quiet(SHUTDOWN_HOOKS).await;
    let http_drained = matches!(tokio::time::timeout(SHUTDOWN_HTTP, http).await, Ok(Ok(Ok(()))));
    info!(
        sessions_closed = sessions.len(),
        hooks_quiet,
        http_drained,
        took_ms = t0.elapsed().as_millis() as u64,
        "stopped"
    );
}
