//! Prometheus metrics at `GET /metrics` (text exposition format 0.0.4).
//!
//! One process-wide `metrics` recorder (metrics-exporter-prometheus, without its own listener):
//! crates record what happens as it happens where that is cheap and off the media path (hook
//! latency histogram in weir-hook), and everything the engine already counts is copied into the
//! recorder at scrape time from the same snapshots `/api/v1/server` reads, so the media thread
//! never touches the recorder. The binary adds what this crate may not import (the TURN
//! server) through [`MetricsRefresh`].
//!
//! Access: `[metrics] enable` (404 when off); the client must be inside `http.allow_ip_range`
//! (private networks and loopback by default, as the admin API), and when `[metrics] secret` is
//! set, present it as `Authorization: Bearer <secret>` (what Prometheus' `authorization`
//! scrape option sends) or `?secret=`.

use std::sync::{Arc, OnceLock};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::Value;
use weir_core::SessionKind;

use crate::util::{self, Args};
use crate::Shared;

/// Called at every scrape before rendering, to copy counters of parts the HTTP crate does not
/// know (the binary passes the TURN server's) into the recorder.
pub type MetricsRefresh = Arc<dyn Fn() + Send + Sync>;

/// Latency buckets (seconds) for every `*_duration_seconds` histogram: hook round trips span
/// sub-millisecond local backends to the 10 s default timeout.
const DURATION_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
/// `None` when another recorder was installed first: `/metrics` then answers 503.
pub fn install_recorder() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), DURATION_BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Prometheus recorder not installed: /metrics is unavailable");
                    None
                }
            }
        })
        .as_ref()
}

/// `# HELP` lines (the recorder keeps them; rendered once a metric has a value).
fn describe() {
    let counters: &[(&str, &str)] = &[
        ("weir_packets_received_total", "Packets received from peers (RTP, RTCP, DTLS, STUN), every session since start"),
        ("weir_bytes_received_total", "Bytes received from peers, every session since start"),
        ("weir_packets_sent_total", "Packets sent to peers"),
        ("weir_bytes_sent_total", "Bytes sent to peers"),
        ("weir_rtp_dropped_total", "Publisher RTP packets dropped (unknown payload type)"),
        ("weir_bad_packets_total", "Packets from peers that did not parse or authenticate"),
        ("weir_nacks_received_total", "RTCP NACK packets received from direct-egress players"),
        ("weir_nacks_sent_total", "NACKs sent to publishers"),
        ("weir_rtx_sent_total", "Retransmissions sent for NACKs"),
        ("weir_keyframe_requests_received_total", "PLI/FIR received from players"),
        ("weir_keyframe_requests_sent_total", "PLI/FIR sent to publishers"),
        ("weir_datachannel_messages_received_total", "DataChannel messages received"),
        ("weir_datachannel_messages_sent_total", "DataChannel messages sent"),
        ("weir_sessions_closed_total", "WebRTC sessions ended"),
        ("weir_engine_turns_total", "Media engine loop turns"),
        ("weir_engine_busy_microseconds_total", "Time the media engine thread spent working (not waiting); rate()/1e6 is its share of a core"),
        ("weir_udp_datagrams_sent_total", "UDP datagrams sent by the media engine"),
        ("weir_udp_send_calls_total", "sendmmsg calls of the media engine"),
        ("weir_udp_send_drops_total", "Datagrams the kernel refused (buffer full)"),
        ("weir_direct_egress_packets_total", "Player packets built and SRTP-protected by the engine (direct egress)"),
        ("weir_egress_pool_datagrams_total", "Datagrams sent by the egress pool threads"),
        ("weir_ingress_pool_datagrams_total", "Datagrams handled by the ingress pool threads"),
        ("weir_unknown_packets_total", "Datagrams from addresses of no session"),
        ("weir_stream_events_total", "Stream lifecycle events handed to hooks"),
        ("weir_stream_events_dropped_total", "Stream lifecycle events dropped (hook queue full)"),
        ("weir_hook_requests_total", "Web hook requests by hook and outcome"),
        ("weir_turn_allocations_total", "TURN allocations created"),
        ("weir_turn_relayed_bytes_total", "Bytes relayed by the TURN server"),
        ("weir_turn_relayed_packets_total", "Packets relayed by the TURN server"),
        ("weir_turn_refusals_total", "TURN/STUN error responses sent"),
        ("weir_turn_dropped_packets_total", "Packets the TURN server dropped, by reason"),
    ];
    for &(name, help) in counters {
        describe_counter!(name, help);
    }
    let gauges: &[(&str, &str)] = &[
        ("weir_info", "Build information"),
        ("weir_uptime_seconds", "Seconds since start"),
        ("weir_sessions", "Live WebRTC sessions by kind and state"),
        ("weir_streams", "Streams in the directory"),
        ("weir_engine_turn_max_seconds", "Longest media engine loop turn in the last 500 ms"),
        ("weir_ingress_loss_ratio_max", "Highest fraction lost on a publisher's incoming stream"),
        ("weir_egress_loss_ratio_max", "Highest fraction lost a player reported"),
        ("weir_rtt_seconds_max", "Highest round-trip time of a live stream"),
        ("weir_rtt_seconds_mean", "Mean round-trip time over live streams"),
        ("weir_egress_pool_threads", "Threads of the egress/ingress pool"),
        ("weir_turn_allocations_active", "Live TURN allocations"),
        ("weir_turn_tcp_connections", "TURN client TCP connections"),
    ];
    for &(name, help) in gauges {
        describe_gauge!(name, help);
    }
    describe_histogram!("weir_hook_duration_seconds", Unit::Seconds, "Web hook round trip by hook");
}

pub(crate) async fn metrics(State(inner): State<Shared>, req: Request) -> Response {
    let cfg = inner.cfg();
    if !cfg.metrics.enable {
        return (StatusCode::NOT_FOUND, "metrics are off ([metrics] enable=0)\n").into_response();
    }
    if crate::client_allowed(&inner, &req).is_err() {
        return (StatusCode::FORBIDDEN, "address not allowed (http.allow_ip_range)\n").into_response();
    }
    if !cfg.metrics.secret.is_empty() {
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        let given = bearer.or_else(|| Args::from_parts(req.uri().query(), &axum::http::HeaderMap::new()).query("secret").map(str::to_owned));
        if !given.is_some_and(|g| util::ct_eq(&g, &cfg.metrics.secret)) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"weir metrics\"")],
                "metrics secret missing or wrong ([metrics] secret)\n",
            )
                .into_response();
        }
    }
    let Some(handle) = install_recorder() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "another metrics recorder is installed in this process\n").into_response();
    };
    refresh(&inner).await;
    if let Some(extra) = &inner.st.metrics_refresh {
        extra();
    }
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}

/// Copies the engine's, the directory's and the hooks' current values into the recorder.
async fn refresh(inner: &Shared) {
    gauge!("weir_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    gauge!("weir_uptime_seconds").set(inner.st.started.elapsed().as_secs_f64());
    let list = inner.st.sessions.list().await;
    for kind in [SessionKind::Publish, SessionKind::Play, SessionKind::Echo] {
        for state in ["new", "connected"] {
            let n = list.iter().filter(|s| s.kind == kind && s.state == state).count();
            gauge!("weir_sessions", "kind" => kind_label(kind), "state" => state).set(n as f64);
        }
    }
    gauge!("weir_streams").set(inner.st.directory.len() as f64);
    let (events_sent, events_dropped) = inner.st.directory.event_counts();
    counter!("weir_stream_events_total").absolute(events_sent);
    counter!("weir_stream_events_dropped_total").absolute(events_dropped);
    engine(&inner.st.sessions.engine_stats());
    if let Some(h) = &inner.hooks {
        hooks(&h.stats_json());
    }
}

fn kind_label(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Publish => "publish",
        SessionKind::Play => "play",
        SessionKind::Echo => "echo",
    }
}

/// Engine counters (`weir-rtc` counters.rs `to_json`) by JSON path.
fn engine(v: &Value) {
    let n = |path: &str| v.pointer(path).and_then(Value::as_u64);
    let f = |path: &str| v.pointer(path).and_then(Value::as_f64);
    let counters: &[(&str, &str)] = &[
        ("/udp/datagrams_sent", "weir_udp_datagrams_sent_total"),
        ("/udp/sendmmsg_calls", "weir_udp_send_calls_total"),
        ("/udp/gso_messages", "weir_udp_gso_messages_total"),
        ("/send_drops", "weir_udp_send_drops_total"),
        ("/direct_packets", "weir_direct_egress_packets_total"),
        ("/egress_pool_datagrams", "weir_egress_pool_datagrams_total"),
        ("/ingress_pool_datagrams", "weir_ingress_pool_datagrams_total"),
        ("/unknown_packets", "weir_unknown_packets_total"),
        ("/media/rx_packets", "weir_packets_received_total"),
        ("/media/rx_bytes", "weir_bytes_received_total"),
        ("/media/tx_packets", "weir_packets_sent_total"),
        ("/media/tx_bytes", "weir_bytes_sent_total"),
        ("/media/rx_rtp_dropped", "weir_rtp_dropped_total"),
        ("/media/bad_packets", "weir_bad_packets_total"),
        ("/media/nacks_received", "weir_nacks_received_total"),
        ("/media/nacks_sent", "weir_nacks_sent_total"),
        ("/media/rtx_sent", "weir_rtx_sent_total"),
        ("/media/keyframe_requests_received", "weir_keyframe_requests_received_total"),
        ("/media/keyframe_requests_sent", "weir_keyframe_requests_sent_total"),
        ("/media/datachannel_messages_in", "weir_datachannel_messages_received_total"),
        ("/media/datachannel_messages_out", "weir_datachannel_messages_sent_total"),
        ("/media/sessions_closed", "weir_sessions_closed_total"),
        ("/loop/turns", "weir_engine_turns_total"),
    ];
    for &(path, name) in counters {
        if let Some(x) = n(path) {
            counter!(name).absolute(x);
        }
    }
    if let Some(ns) = n("/loop/busy_ns") {
        // rate() of it / 1e6 is the engine thread's busy share of one core.
        counter!("weir_engine_busy_microseconds_total").absolute(ns / 1000);
    }
    // (JSON path, metric, factor to the metric's unit)
    let gauges: &[(&str, &str, f64)] = &[
        ("/loop/max_turn_us", "weir_engine_turn_max_seconds", 1e-6),
        ("/media/ingress_loss_max", "weir_ingress_loss_ratio_max", 1.0),
        ("/media/egress_loss_max", "weir_egress_loss_ratio_max", 1.0),
        ("/media/rtt_ms_max", "weir_rtt_seconds_max", 1e-3),
        ("/media/rtt_ms_mean", "weir_rtt_seconds_mean", 1e-3),
        ("/egress_threads", "weir_egress_pool_threads", 1.0),
    ];
    for &(path, name, factor) in gauges {
        if let Some(x) = f(path) {
            gauge!(name).set(x * factor);
        }
    }
}

/// Hook outcomes by hook (`weir-hook` stats.rs `json`); latency is the histogram weir-hook
/// records itself (`weir_hook_duration_seconds`).
fn hooks(v: &Value) {
    let Some(m) = v.as_object() else { return };
    for (hook, s) in m {
        let (Some(calls), Some(refused), Some(failed)) = (
            s.get("calls").and_then(Value::as_u64),
            s.get("refused").and_then(Value::as_u64),
            s.get("failed").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let hook = hook.clone();
        let allowed = calls.saturating_sub(refused + failed);
        counter!("weir_hook_requests_total", "hook" => hook.clone(), "outcome" => "allowed").absolute(allowed);
        counter!("weir_hook_requests_total", "hook" => hook.clone(), "outcome" => "refused").absolute(refused);
        counter!("weir_hook_requests_total", "hook" => hook, "outcome" => "failed").absolute(failed);
    }
}
