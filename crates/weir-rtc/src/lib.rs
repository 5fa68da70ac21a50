//! Weir's WebRTC media engine: ICE-lite, DTLS-SRTP, RTP forwarding from one publisher to many
//! players, on one UDP port (and one ICE-TCP port) shared by every peer.
//!
//! Protocol work (ICE, DTLS, SRTP, RTCP, NACK/RTX buffers, TWCC) is done by `str0m`, a sans-IO
//! WebRTC library. This crate owns what str0m leaves to its user: the sockets, demultiplexing
//! packets to sessions, timers, and the SFU forwarding path (receive side per published track,
//! GOP cache, per-player rewrite of SSRC/sequence/timestamp). Signaling adapters reach it only
//! through [`weir_core::SessionService`].

pub mod codec;
mod commands;
mod convert;
mod counters;
mod datachannel;
mod dc_route;
pub mod demux;
mod direct;
mod echo;
mod fanout;
mod fast_start;
mod key_capture;
pub mod keyframe;
mod negotiate;
mod net;
mod peer;
mod play;
mod pool;
mod publish;
pub mod rewrite;
mod shard;
mod table;
mod tcp;
/// Public for `weir-bench`'s raw-limit probe, which sends the stream's packets with the
/// engine's own batching to measure the machine's limit for exactly this traffic.
pub mod udp_batch;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Notify};
use weir_core::{
    BoxFuture, BroadcastRequest, SessionAnswer, SessionError, SessionKind, SessionRequest,
    SessionService, SessionSummary, TrickleOutcome,
};
use weir_stream::{
    Directory, HubError, PublishRequest, PublishedStream, SinkPort, SourcePort, StreamError,
    StreamService, SubscribeRequest,
};

/// Everything the engine needs from the configuration, already parsed.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// UDP media socket; None disables UDP.
    pub udp_bind: Option<SocketAddr>,
    /// ICE-TCP media listener; None disables TCP.
    pub tcp_bind: Option<SocketAddr>,
    /// Consent / inactivity timeout (`rtc.timeoutSec`).
    pub timeout: Duration,
    /// `rtc.consentMode=authenticated`: SRTP, SRTCP and DTLS input that passes the session's
    /// keys renews consent too, not only authenticated STUN checks (see `shard.rs`, housekeeping).
    pub consent_from_authenticated_media: bool,
    /// Grace period for a reconnecting publisher (`protocol.continue_push_ms`).
    pub continue_push: Duration,
    pub audio_pref: Vec<String>,
    pub video_pref: Vec<String>,
    /// Per-player retransmission buffer (`rtc.maxRtpCacheSize`, `rtc.maxRtpCacheMS`).
    pub rtx_cache_packets: usize,
    pub rtx_cache_age: Duration,
    pub gop_cache_max_packets: usize,
    pub keyframe_request_interval: Duration,
    pub max_sessions: usize,
    pub enable_echo: bool,
    /// DataChannel: echo every message back to its sender (`rtc.datachannel_echo`).
    pub datachannel_echo: bool,
    /// DataChannel: a player's messages also reach the other players.
    pub datachannel_relay_players: bool,
    pub datachannel_max_message_size: usize,
    /// Per-channel send queue bound for slow peers.
    pub datachannel_buffer_bytes: usize,
    /// SCTP stream ids of pre-negotiated channels accepted on every session.
    pub datachannel_negotiated_ids: Vec<u16>,
    /// Threads that encrypt and send the packets written to players (`rtc.egressThreads`);
    /// 0: one per available core, 1: the engine thread alone.
    pub egress_threads: usize,
    /// Players to write to in one engine turn (all streams together) from which the egress
    /// threads are used (`rtc.egressMinPlayers`).
    pub egress_min_players: usize,
    /// Datagrams read in one engine turn from which their sessions' input handling (SRTP
    /// decryption, RTCP, DTLS, ICE) is spread over the egress threads (`rtc.ingressMinDatagrams`).
    pub ingress_min_datagrams: usize,
    /// Build and SRTP-protect player packets in the engine (`rtc.directEgress`, `direct.rs`).
    pub direct_egress: bool,
    /// `rtc.preferred_tcp`: our TCP host candidates get the UDP host type preference and the
    /// UDP ones TCP's, so a client that can reach both picks TCP (see `negotiate.rs`).
    pub prefer_tcp: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            udp_bind: Some(SocketAddr::from(([0, 0, 0, 0], 8000))),
            tcp_bind: Some(SocketAddr::from(([0, 0, 0, 0], 8000))),
            timeout: Duration::from_secs(15),
            consent_from_authenticated_media: true,
            continue_push: Duration::from_secs(15),
            audio_pref: vec!["opus".into(), "PCMU".into(), "PCMA".into()],
            video_pref: ["H264", "H265", "AV1", "VP9", "VP8"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            rtx_cache_packets: 2048,
            rtx_cache_age: Duration::from_secs(5),
            gop_cache_max_packets: 4096,
            keyframe_request_interval: Duration::from_millis(500),
            max_sessions: 20_000,
            enable_echo: true,
            datachannel_echo: false,
            datachannel_relay_players: false,
            datachannel_max_message_size: 256 * 1024,
            datachannel_buffer_bytes: 4 << 20,
            datachannel_negotiated_ids: datachannel::NEGOTIATED_IDS.to_vec(),
            egress_threads: 0,
            egress_min_players: 32,
            ingress_min_datagrams: 32,
            direct_egress: true,
            prefer_tcp: false,
        }
    }
}

pub(crate) enum Command {
    Create {
        req: SessionRequest,
        reply: oneshot::Sender<Result<SessionAnswer, SessionError>>,
    },
    Delete {
        id: String,
        token: Option<String>,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    Trickle {
        id: String,
        token: String,
        frag: String,
        reply: oneshot::Sender<Result<TrickleOutcome, SessionError>>,
    },
    Stats {
        id: String,
        reply: oneshot::Sender<Result<serde_json::Value, SessionError>>,
    },
    List {
        reply: oneshot::Sender<Vec<SessionSummary>>,
    },
    Broadcast {
        req: BroadcastRequest,
        reply: oneshot::Sender<Result<usize, SessionError>>,
    },
    /// An adapter becomes a stream's source through a port.
    Publish {
        req: PublishRequest,
        reply: oneshot::Sender<Result<(SourcePort, PublishedStream), StreamError>>,
    },
    /// An adapter becomes a stream's sink through a port.
    Subscribe {
        req: SubscribeRequest,
        reply: oneshot::Sender<Result<SinkPort, StreamError>>,
    },
}

/// Handle to the running engine. Cheap to clone; all state lives on the engine's own thread.
#[derive(Clone)]
pub struct Engine {
    commands: mpsc::Sender<Command>,
    /// The streams as the management APIs read them, written by the engine thread's hub.
    directory: Arc<Directory>,
    counters: Arc<counters::EngineCounters>,
    udp_addr: Option<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
}

/// Commands waiting for the engine thread. Bounded so a flood of signaling requests queues
/// in HTTP (and gets 503) instead of growing memory.
const COMMAND_QUEUE: usize = 1024;

impl Engine {
    /// Binds the media sockets (so a busy port fails at start-up, not at the first call) and
    /// starts the engine thread.
    pub fn start(cfg: EngineConfig) -> io::Result<Engine> {
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let sockets = net::Sockets::bind(&cfg)?;
        let udp_addr = sockets.udp_local_addr();
        let tcp_addr = sockets.tcp_local_addr();
        let counters = Arc::new(counters::EngineCounters::default());
        let directory = Directory::new();
        let parts = shard::ShardParts {
            cfg,
            directory: directory.clone(),
            counters: counters.clone(),
            sockets,
            ports: Arc::new(Notify::new()),
        };
        shard::spawn(parts, rx)?;
        Ok(Engine {
            commands: tx,
            directory,
            counters,
            udp_addr,
            tcp_addr,
        })
    }

    /// Every stream, its source and sinks (`getMediaList`, `/api/v1/streams`).
    pub fn directory(&self) -> Arc<Directory> {
        self.directory.clone()
    }

    /// Bound UDP media address (useful with port 0 in tests).
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp_addr
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, SessionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .try_send(make(tx))
            .map_err(|_| SessionError::Overloaded("media engine queue is full".into()))?;
        rx.await
            .map_err(|_| SessionError::Internal("media engine stopped".into()))
    }

    /// Waits, outside the engine thread, for `key` to have a source (ZLMediaKit's
    /// maxStreamWaitMS). The engine re-checks when the request arrives.
    async fn wait_for_source(&self, key: &weir_core::StreamKey, max_wait: Duration) -> bool {
        self.directory
            .wait_for_source(key, max_wait)
            .await
            .is_some()
    }
}

impl SessionService for Engine {
    fn create(&self, req: SessionRequest) -> BoxFuture<'_, Result<SessionAnswer, SessionError>> {
        Box::pin(async move {
            if req.kind == SessionKind::Play && !self.wait_for_source(&req.key, req.max_wait).await
            {
                return Err(SessionError::StreamNotFound);
            }
            self.call(|reply| Command::Create { req, reply }).await?
        })
    }

    fn delete<'a>(
        &'a self,
        id: &'a str,
        token: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), SessionError>> {
        Box::pin(async move {
            self.call(|reply| Command::Delete {
                id: id.to_owned(),
                token: token.map(str::to_owned),
                reply,
            })
            .await?
        })
    }

    fn trickle<'a>(
        &'a self,
        id: &'a str,
        token: &'a str,
        sdpfrag: &'a str,
    ) -> BoxFuture<'a, Result<TrickleOutcome, SessionError>> {
        Box::pin(async move {
            self.call(|reply| Command::Trickle {
                id: id.to_owned(),
                token: token.to_owned(),
                frag: sdpfrag.to_owned(),
                reply,
            })
            .await?
        })
    }

    fn stats<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<serde_json::Value, SessionError>> {
        Box::pin(async move {
            self.call(|reply| Command::Stats {
                id: id.to_owned(),
                reply,
            })
            .await?
        })
    }

    fn list(&self) -> BoxFuture<'_, Vec<SessionSummary>> {
        Box::pin(async move {
            self.call(|reply| Command::List { reply })
                .await
                .unwrap_or_default()
        })
    }

    fn broadcast(&self, req: BroadcastRequest) -> BoxFuture<'_, Result<usize, SessionError>> {
        Box::pin(async move { self.call(|reply| Command::Broadcast { req, reply }).await? })
    }

    fn engine_stats(&self) -> serde_json::Value {
        self.counters.to_json()
    }
}

impl StreamService for Engine {
    fn publish(
        &self,
        req: PublishRequest,
    ) -> BoxFuture<'_, Result<(SourcePort, PublishedStream), StreamError>> {
        Box::pin(async move {
            self.call(|reply| Command::Publish { req, reply })
                .await
                .map_err(stream_error)?
        })
    }

    fn subscribe(&self, req: SubscribeRequest) -> BoxFuture<'_, Result<SinkPort, StreamError>> {
        Box::pin(async move {
            if !self.wait_for_source(&req.key, req.max_wait).await {
                return Err(StreamError::Hub(HubError::NotFound));
            }
            self.call(|reply| Command::Subscribe { req, reply })
                .await
                .map_err(stream_error)?
        })
    }
}

fn stream_error(e: SessionError) -> StreamError {
    match e {
        SessionError::Overloaded(m) => StreamError::Overloaded(m),
        other => StreamError::Internal(other.to_string()),
    }
}
