//! Weir's configuration: a ZLMediaKit-style INI file (`[api]`, `[http]`, `[general]`,
//! `[protocol]`, `[rtc]`), embedded defaults, and `WEIR_<SECTION>_<KEY>` environment overrides.
//!
//! Key names follow ZLMediaKit's `config.ini` wherever the feature is the same, so an operator's
//! existing file keeps its meaning. Keys Weir does not know are reported, never silently ignored.

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
    /// `mediaServerId`
    pub media_server_id: String,
}

/// `[protocol]`
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolConfig {
    /// `continue_push_ms`: grace period in which a reconnecting publisher resumes its stream.
    pub continue_push_ms: u64,
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
    /// `timeoutSec`: a session without STUN consent or media for this long is closed.
    pub timeout_sec: u64,
    /// `externIP`: comma list of IPv4/IPv6 addresses (or `$ENV_NAME`) to advertise; `*` means
    /// every interface address. Empty: the request's Host if it is an IP, else interface addresses.
    pub extern_ip: String,
    /// `preferredCodecA`
    pub preferred_codec_a: String,
    /// `preferredCodecV`
    pub preferred_codec_v: String,
    /// `preferred_tcp`: prefer TCP candidates.
    pub preferred_tcp: bool,
    /// `maxRtpCacheMS`: how long sent packets stay in a player's retransmission buffer.
    pub max_rtp_cache_ms: u64,
    /// `maxRtpCacheSize`: packets in a player's retransmission buffer.
    pub max_rtp_cache_size: usize,
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
    /// `signalingPort`
    pub signaling_port: u16,
    /// `signalingSslPort`
    pub signaling_ssl_port: u16,
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub api: ApiConfig,
    pub http: HttpConfig,
    pub general: GeneralConfig,
    pub protocol: ProtocolConfig,
    pub rtc: RtcConfig,
}
