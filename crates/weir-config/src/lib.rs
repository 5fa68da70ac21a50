//! Weir's configuration: a ZLMediaKit-style INI file (`[api]`, `[http]`, `[general]`,
//! `[protocol]`, `[rtc]`, `[hook]`), embedded defaults, and `WEIR_<SECTION>_<KEY>` environment overrides.
//!
//! Key names follow ZLMediaKit's `config.ini` wherever the feature is the same, so an operator's
//! existing file keeps its meaning. Keys Weir does not know are reported, never silently ignored.
//!
//! ```
//! let loaded = weir_config::load_from(Some("[rtc]\nport=9000\n"), &[]).unwrap();
//! assert_eq!(loaded.config.rtc.port, 9000);
//! assert!(loaded.warnings.is_empty());
//! ```

use std::net::IpAddr;
use std::sync::OnceLock;

mod exposure;
mod keys;
mod live;
mod load;
#[cfg(test)]
mod tests;

pub use exposure::{WELL_KNOWN_SECRET, WELL_KNOWN_TURN_USER};
pub use keys::env_var_name;
pub use live::{is_key, is_live, set_in_ini, ChangeError, Changed, LIVE_KEYS};
pub use load::{load, load_from, ConfigError, Loaded};

/// The built-in configuration: every key with its default and a one-line comment.
/// [`Config::default`] is this text parsed; [`Config::to_ini`] prints a configuration in it.
pub const DEFAULT_INI: &str = include_str!("default.ini");

/// `[api]`
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// `secret`: required by management APIs (not by the WebRTC signaling APIs, as in ZLMediaKit).
    pub secret: String,
    /// `apiDebug`: log every API request and response.
    pub api_debug: bool,
    /// `bearerTokens`: comma list of `app/stream=token` (`*` as stream matches any stream of the
    /// app, `*/*` any stream). A WHIP/WHEP request for a matching stream must carry
    /// `Authorization: Bearer <token>`. Empty: no bearer tokens required.
    pub bearer_tokens: String,
}

/// `[http]`
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// `ip`: address the HTTP API and pages listen on.
    pub ip: String,
    /// `port`
    pub port: u16,
    /// `sslport`: HTTPS port serving the same routes (0 disables HTTPS).
    pub ssl_port: u16,
    /// `sslCert`: PEM certificate file of `sslport`; empty: a self-signed one made at start.
    pub ssl_cert: String,
    /// `sslKey`: PEM private key file of `sslCert`.
    pub ssl_key: String,
    /// `allow_cross_domains`
    pub allow_cross_domains: bool,
    /// `maxReqSize`: largest accepted request body in bytes (the SDP limit).
    pub max_req_size: usize,
    /// `charSet`
    pub char_set: String,
    /// `allow_ip_range`: IP allow-list for secret-protected APIs; empty allows every address.
    pub allow_ip_range: String,
    /// `forwarded_ip_header`: header that carries the client IP behind a proxy.
    pub forwarded_ip_header: String,
    /// `keepAliveSecond`
    pub keep_alive_second: u64,
}

/// `[general]`
#[derive(Debug, Clone, PartialEq)]
pub struct GeneralConfig {
    /// `enableVhost`
    pub enable_vhost: bool,
    /// `maxStreamWaitMS`: how long a player waits for a stream that is not published yet.
    pub max_stream_wait_ms: u64,
    /// `mediaServerId`: also sent in every hook as `mediaServerId`.
    pub media_server_id: String,
    /// `streamNoneReaderDelayMS`: how long a stream has no player before `on_stream_none_reader`.
    pub stream_none_reader_delay_ms: u64,
    /// `flowThreshold` (KB): a session that moved less sends no `on_flow_report`.
    pub flow_threshold: u64,
}

/// `[hook]`: ZLMediaKit's web hooks (HTTP POST with JSON to the operator's backend).
#[derive(Debug, Clone, PartialEq)]
pub struct HookConfig {
    /// `enable`: master switch; off, every hook is off (publish and play are allowed).
    pub enable: bool,
    /// `on_publish`: URL asked before a publish is accepted; empty = allowed without asking.
    pub on_publish: String,
    /// `on_play`: URL asked before a play is accepted; empty = allowed without asking.
    pub on_play: String,
    /// `on_stream_not_found`: URL told when a player asks for a stream without a source.
    pub on_stream_not_found: String,
    /// `on_stream_none_reader`: URL told when a stream has had no player for
    /// `general.streamNoneReaderDelayMS`; `{"code":0,"close":true}` ends the stream.
    pub on_stream_none_reader: String,
    /// `on_stream_changed`: URL told when a stream's source appears (`regist:true`) or leaves.
    pub on_stream_changed: String,
    /// `on_flow_report`: URL told when a session ends (bytes, duration).
    pub on_flow_report: String,
    /// `timeoutSec`: timeout of one hook request.
    pub timeout_sec: u64,
    /// `retry`: further attempts after a transport failure (not after a `code != 0` answer).
    pub retry: u32,
    /// `retry_delay`: seconds between attempts.
    pub retry_delay: f64,
}

/// `[metrics]`: Prometheus text exposition at `GET /metrics` on the HTTP/HTTPS ports.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsConfig {
    /// `enable`: serve `/metrics` (404 when off).
    pub enable: bool,
    /// `secret`: when set, scrapers send `Authorization: Bearer <secret>` (or `?secret=`);
    /// `http.allow_ip_range` applies either way.
    pub secret: String,
}

/// `[protocol]`
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolConfig {
    /// `continue_push_ms`: grace period in which a reconnecting publisher resumes its stream.
    pub continue_push_ms: u64,
}

/// `[rtc] consentMode`: which traffic proves that a peer still wants the session (RFC 7675).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentMode {
    /// Only STUN Binding requests whose MESSAGE-INTEGRITY checks out (what browsers send every
    /// few seconds).
    Stun,
    /// Those, and any packet that only a holder of the session's keys can make: SRTP with a new
    /// sequence number, SRTCP, DTLS records after the handshake. Clients that send no checks
    /// while media flows (pion, many embedded stacks) stay connected.
    Authenticated,
}

/// `[rtc] protocol` (SRS's `rtc_server.protocol`): which media candidates an answer offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateProtocol {
    /// UDP candidates only.
    Udp,
    /// ICE-TCP candidates only.
    Tcp,
    /// Both (each only if its port is enabled).
    All,
}

impl CandidateProtocol {
    pub fn udp(self) -> bool {
        matches!(self, Self::Udp | Self::All)
    }
    pub fn tcp(self) -> bool {
        matches!(self, Self::Tcp | Self::All)
    }
}

/// `[rtc]`
#[derive(Debug, Clone, PartialEq)]
pub struct RtcConfig {
    /// `ip`: address the media sockets bind to.
    pub ip: String,
    /// `port`: UDP media port, all peers on one socket (0 disables UDP).
    pub port: u16,
    /// `tcpPort`: ICE-TCP media port, RFC 4571 framing (0 disables TCP).
    pub tcp_port: u16,
    /// `timeoutSec`: a session without consent (see `consentMode`) for this long is closed.
    pub timeout_sec: u64,
    /// `consentMode` (Weir): what keeps a session alive.
    pub consent_mode: ConsentMode,
    /// `externIP`: comma list of IPv4/IPv6 addresses (or `$ENV_NAME`) to advertise; `*` means
    /// every interface address. Empty: the request's Host if it is an IP, else interface addresses.
    pub extern_ip: String,
    /// `preferredCodecA`
    pub preferred_codec_a: String,
    /// `preferredCodecV`
    pub preferred_codec_v: String,
    /// `preferred_tcp`: prefer TCP candidates.
    pub preferred_tcp: bool,
    /// `protocol` (SRS): which candidates answers offer.
    pub protocol: CandidateProtocol,
    /// `maxRtpCacheMS`: how long sent packets stay in a player's retransmission buffer.
    pub max_rtp_cache_ms: u64,
    /// `maxRtpCacheSize`: packets in a player's retransmission buffer.
    pub max_rtp_cache_size: usize,
    /// `egressThreads` (Weir): threads that encrypt and send to players; 0 = one per core.
    pub egress_threads: usize,
    /// `egressMinPlayers` (Weir): players from which sending uses the egress threads.
    pub egress_min_players: usize,
    /// `ingressMinDatagrams` (Weir): datagrams of one engine turn from which their handling
    /// uses the egress threads.
    pub ingress_min_datagrams: usize,
    /// `directEgress` (Weir): packets to players are built and protected by the engine.
    pub direct_egress: bool,
    /// `gopCacheMaxPackets`: packets of the latest GOP kept for fast start (Weir).
    pub gop_cache_max_packets: usize,
    /// `keyframeRequestIntervalMS`: minimum gap between keyframe requests sent to a publisher (Weir).
    pub keyframe_request_interval_ms: u64,
    /// `maxSessions`: sessions the media engine accepts before answering 503 (Weir).
    pub max_sessions: usize,
    /// `echo`: allow `type=echo` sessions.
    pub enable_echo: bool,
    /// `datachannel_echo`
    pub datachannel_echo: bool,
    /// `datachannel_relay_players`: a player's messages also reach the other players.
    pub datachannel_relay_players: bool,
    /// `datachannelMaxMessageSize`
    pub datachannel_max_message_size: usize,
    /// `datachannelBufferBytes`: per-channel send queue bound for slow peers.
    pub datachannel_buffer_bytes: usize,
    /// `datachannelNegotiatedIds`: SCTP stream ids of pre-negotiated channels.
    pub datachannel_negotiated_ids: String,
    /// `signalingPort`
    pub signaling_port: u16,
    /// `signalingSslPort`
    pub signaling_ssl_port: u16,
    /// `signalingSslCert`: PEM certificate of the TLS signaling port; empty: self-signed (Weir).
    pub signaling_ssl_cert: String,
    /// `signalingSslKey`: PEM private key of `signalingSslCert` (Weir).
    pub signaling_ssl_key: String,
    /// `signalingPingSec`: idle seconds before a signaling WebSocket is pinged (Weir; ZLM: 10).
    pub signaling_ping_sec: u64,
    /// `signalingTimeoutSec`: idle seconds before a signaling WebSocket is closed (Weir; ZLM: 30).
    pub signaling_timeout_sec: u64,
    /// `signalingMaxMessageSize`: largest signaling message in bytes (Weir).
    pub signaling_max_message_size: usize,
    /// `signalingMaxGuests`: calls per room and per connection at once (Weir).
    pub signaling_max_guests: usize,
    /// `signalingMaxConnections`: signaling WebSocket connections at once (Weir).
    pub signaling_max_connections: usize,
    /// `icePort`
    pub ice_port: u16,
    /// `iceTcpPort`
    pub ice_tcp_port: u16,
    /// `enableTurn`
    pub enable_turn: bool,
    /// `iceTransportPolicy`: 0 all, 1 relay only, 2 direct only.
    pub ice_transport_policy: u8,
    /// `iceUfrag`
    pub ice_ufrag: String,
    /// `icePwd`
    pub ice_pwd: String,
    /// `port_range`
    pub port_range: String,
    /// `turnRealm`: REALM of the TURN long-term credentials (Weir).
    pub turn_realm: String,
    /// `turnSecret`: shared secret of time-limited TURN credentials; empty disables them (Weir).
    pub turn_secret: String,
    /// `turnAllowPeers`: peers TURN relays to even if special-purpose or own (Weir).
    pub turn_allow_peers: String,
    /// `turnDenyPeers`: peers TURN never relays to (Weir).
    pub turn_deny_peers: String,
    /// `turnMaxAllocationsPerUser`: 0 unlimited (Weir).
    pub turn_max_allocations_per_user: usize,
    /// `turnMaxAllocationsPerIp`: 0 unlimited (Weir).
    pub turn_max_allocations_per_ip: usize,
    /// `turnMaxBitrate`: bytes per second per allocation and direction, 0 unlimited (Weir).
    pub turn_max_bitrate: u64,
}

/// The whole configuration. [`Default`] gives the values of [`DEFAULT_INI`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub api: ApiConfig,
    pub http: HttpConfig,
    pub general: GeneralConfig,
    pub protocol: ProtocolConfig,
    pub rtc: RtcConfig,
    pub hook: HookConfig,
    pub metrics: MetricsConfig,
}

impl Config {
    /// Every field empty, zero or false: the base [`DEFAULT_INI`] is applied over.
    fn blank() -> Config {
        Config {
            api: ApiConfig {
                secret: String::new(),
                api_debug: false,
                bearer_tokens: String::new(),
            },
            http: HttpConfig {
                ip: String::new(),
                port: 0,
                ssl_port: 0,
                ssl_cert: String::new(),
                ssl_key: String::new(),
                allow_cross_domains: false,
                max_req_size: 0,
                char_set: String::new(),
                allow_ip_range: String::new(),
                forwarded_ip_header: String::new(),
                keep_alive_second: 0,
            },
            general: GeneralConfig {
                enable_vhost: false,
                max_stream_wait_ms: 0,
                media_server_id: String::new(),
                stream_none_reader_delay_ms: 0,
                flow_threshold: 0,
            },
            protocol: ProtocolConfig {
                continue_push_ms: 0,
            },
            rtc: RtcConfig {
                ip: String::new(),
                port: 0,
                tcp_port: 0,
                timeout_sec: 0,
                consent_mode: ConsentMode::Authenticated,
                extern_ip: String::new(),
                preferred_codec_a: String::new(),
                preferred_codec_v: String::new(),
                preferred_tcp: false,
                protocol: CandidateProtocol::All,
                max_rtp_cache_ms: 0,
                max_rtp_cache_size: 0,
                egress_threads: 0,
                egress_min_players: 0,
                ingress_min_datagrams: 0,
                direct_egress: false,
                gop_cache_max_packets: 0,
                keyframe_request_interval_ms: 0,
                max_sessions: 0,
                enable_echo: false,
                datachannel_echo: false,
                datachannel_relay_players: false,
                datachannel_max_message_size: 0,
                datachannel_buffer_bytes: 0,
                datachannel_negotiated_ids: String::new(),
                signaling_port: 0,
                signaling_ssl_port: 0,
                signaling_ssl_cert: String::new(),
                signaling_ssl_key: String::new(),
                signaling_ping_sec: 0,
                signaling_timeout_sec: 0,
                signaling_max_message_size: 0,
                signaling_max_guests: 0,
                signaling_max_connections: 0,
                ice_port: 0,
                ice_tcp_port: 0,
                enable_turn: false,
                ice_transport_policy: 0,
                ice_ufrag: String::new(),
                ice_pwd: String::new(),
                port_range: String::new(),
                turn_realm: String::new(),
                turn_secret: String::new(),
                turn_allow_peers: String::new(),
                turn_deny_peers: String::new(),
                turn_max_allocations_per_user: 0,
                turn_max_allocations_per_ip: 0,
                turn_max_bitrate: 0,
            },
            hook: HookConfig {
                enable: false,
                on_publish: String::new(),
                on_play: String::new(),
                on_stream_not_found: String::new(),
                on_stream_none_reader: String::new(),
                on_stream_changed: String::new(),
                on_flow_report: String::new(),
                timeout_sec: 0,
                retry: 0,
                retry_delay: 0.0,
            },
            metrics: MetricsConfig {
                enable: false,
                secret: String::new(),
            },
        }
    }

    /// The effective configuration as INI, laid out and commented like [`DEFAULT_INI`]
    /// (`weir --dump-config`). Loading the result gives back `self` without warnings, provided
    /// no string field holds a line break or leading/trailing whitespace (loading never
    /// produces such values).
    pub fn to_ini(&self) -> String {
        let mut out = String::with_capacity(DEFAULT_INI.len() + 256);
        walk_default_ini(|_, key, line| {
            match key {
                Some(key) => {
                    out.push_str(key.name);
                    out.push('=');
                    out.push_str(&(key.get)(self));
                }
                None => out.push_str(line),
            }
            out.push('\n');
        });
        out
    }
}

/// Calls `f(section, key, line)` for every line of [`DEFAULT_INI`]; `key` is the key a
/// `key=value` line sets (`None` for comments, section headers and blank lines).
fn walk_default_ini(mut f: impl FnMut(&str, Option<&'static keys::Key>, &str)) {
    let mut section = "";
    for line in DEFAULT_INI.lines() {
        let key = match load::classify(line) {
            load::Line::Section(name) => {
                section = name;
                None
            }
            load::Line::KeyValue(name, _) => keys::find(section, name),
            _ => None,
        };
        f(section, key, line);
    }
}

impl Config {
    /// Every key with its effective value as `("section.key", "value")`, in [`DEFAULT_INI`]'s
    /// order (ZLMediaKit's `getServerConfig` layout).
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        walk_default_ini(|section, key, _| {
            if let Some(key) = key {
                out.push((format!("{section}.{}", key.name), (key.get)(self)));
            }
        });
        out
    }
}

impl Default for Config {
    fn default() -> Self {
        static DEFAULT: OnceLock<Config> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                let mut config = Config::blank();
                let mut warnings = Vec::new();
                // DEFAULT_INI is a constant embedded at compile time; the `defaults_parse` test
                // proves it parses without error or warning and sets every key.
                load::apply_ini(&mut config, DEFAULT_INI, None, &mut warnings)
                    .expect("embedded DEFAULT_INI must parse (covered by the defaults_parse test)");
                debug_assert!(warnings.is_empty(), "DEFAULT_INI warnings: {warnings:?}");
                config
            })
            .clone()
    }
}

impl ApiConfig {
    /// The bearer token a WHIP/WHEP request for `app`/`stream` must carry, if any.
    ///
    /// `bearerTokens` entries are `app/stream=token`; the most specific matching entry wins:
    /// `app/stream`, then `app/*`, then `*/*`. Names match exactly (case-sensitive).
    pub fn bearer_token_for(&self, app: &str, stream: &str) -> Option<String> {
        let entries: Vec<keys::BearerEntry<'_>> = keys::comma_list(&self.bearer_tokens)
            .filter_map(keys::parse_bearer_entry)
            .collect();
        let find = |a: &str, s: &str| {
            entries
                .iter()
                .find(|(ea, es, _)| *ea == a && *es == s)
                .map(|(_, _, token)| (*token).to_owned())
        };
        find(app, stream)
            .or_else(|| find(app, "*"))
            .or_else(|| find("*", "*"))
    }
}

impl HttpConfig {
    /// `allow_ip_range` as inclusive `(lo, hi)` address ranges (a single address is `(a, a)`).
    /// Empty when every address is allowed.
    pub fn allow_ip_ranges(&self) -> Vec<(IpAddr, IpAddr)> {
        keys::comma_list(&self.allow_ip_range)
            .filter_map(keys::parse_ip_range)
            .collect()
    }

    /// Whether `ip` may call secret-protected APIs under `allow_ip_range` (an empty list allows
    /// everyone). IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are checked as IPv4.
    pub fn is_ip_allowed(&self, ip: IpAddr) -> bool {
        let ranges = self.allow_ip_ranges();
        ranges.is_empty() || weir_core::net::in_ranges(&ranges, ip)
    }
}

impl RtcConfig {
    /// `datachannelNegotiatedIds` as numbers (validated when loaded).
    pub fn datachannel_negotiated_ids(&self) -> Vec<u16> {
        self.datachannel_negotiated_ids.split(',').filter_map(|p| p.trim().parse().ok()).collect()
    }

    /// `turnAllowPeers` as inclusive `(lo, hi)` address ranges.
    pub fn turn_allow_peer_ranges(&self) -> Vec<(IpAddr, IpAddr)> {
        keys::comma_list(&self.turn_allow_peers)
            .filter_map(keys::parse_ip_range)
            .collect()
    }

    /// `turnDenyPeers` as inclusive `(lo, hi)` address ranges.
    pub fn turn_deny_peer_ranges(&self) -> Vec<(IpAddr, IpAddr)> {
        keys::comma_list(&self.turn_deny_peers)
            .filter_map(keys::parse_ip_range)
            .collect()
    }

    /// `port_range` as `(lo, hi)`; `None` if empty (or not a valid range).
    pub fn port_range(&self) -> Option<(u16, u16)> {
        keys::parse_port_range(&self.port_range).ok().flatten()
    }

    /// `preferredCodecA` entries, trimmed, empty ones dropped.
    pub fn preferred_audio(&self) -> Vec<String> {
        keys::comma_list(&self.preferred_codec_a)
            .map(str::to_owned)
            .collect()
    }

    /// `preferredCodecV` entries, trimmed, empty ones dropped.
    pub fn preferred_video(&self) -> Vec<String> {
        keys::comma_list(&self.preferred_codec_v)
            .map(str::to_owned)
            .collect()
    }
}
