//! The table of every key Weir reads: canonical section and key names, how a value is parsed
//! and validated, and how it is printed back. Also the ZLMediaKit keys Weir does not implement.

use std::net::IpAddr;
use std::str::FromStr;

use crate::Config;

/// One configuration key.
pub(crate) struct Key {
    /// Canonical section name, e.g. `rtc`.
    pub section: &'static str,
    /// Canonical key name, e.g. `timeoutSec`.
    pub name: &'static str,
    /// Parses and stores a (trimmed) value; `Err` says what was expected.
    pub set: fn(&mut Config, &str) -> Result<(), String>,
    /// Prints the current value the way `set` reads it back.
    pub get: fn(&Config) -> String,
}

/// The sections Weir reads, in file order.
pub(crate) const SECTIONS: &[&str] = &["api", "http", "general", "protocol", "rtc", "hook", "metrics"];

macro_rules! key {
    ($section:ident . $name:literal => $field:ident, $parse:expr, $show:expr) => {
        Key {
            section: stringify!($section),
            name: $name,
            set: |c, v| {
                c.$section.$field = ($parse)(v)?;
                Ok(())
            },
            get: |c| ($show)(&c.$section.$field),
        }
    };
}

// Durations are bounded so that `Instant + Duration` elsewhere can never overflow.
const MAX_MS: u64 = 86_400_000;
const MAX_SEC: u64 = 86_400;

pub(crate) const KEYS: &[Key] = &[
    key!(api."secret" => secret, text, show_text),
    key!(api."apiDebug" => api_debug, boolean, show_bool),
    key!(api."bearerTokens" => bearer_tokens, bearer_tokens, show_text),
    key!(http."ip" => ip, ip_addr, show_text),
    key!(http."port" => port, port, show_num),
    key!(http."sslport" => ssl_port, port, show_num),
    key!(http."sslCert" => ssl_cert, text, show_text),
    key!(http."sslKey" => ssl_key, text, show_text),
    key!(http."allow_cross_domains" => allow_cross_domains, boolean, show_bool),
    key!(http."maxReqSize" => max_req_size, |v| int::<usize>(v, 1024, 16 * 1024 * 1024), show_num),
    key!(http."charSet" => char_set, text, show_text),
    key!(http."allow_ip_range" => allow_ip_range, ip_ranges, show_text),
    key!(http."forwarded_ip_header" => forwarded_ip_header, header_name, show_text),
    key!(http."keepAliveSecond" => keep_alive_second, |v| int::<u64>(v, 1, MAX_SEC), show_num),
    key!(general."enableVhost" => enable_vhost, boolean, show_bool),
    key!(general."maxStreamWaitMS" => max_stream_wait_ms, |v| int::<u64>(v, 0, MAX_MS), show_num),
    key!(general."mediaServerId" => media_server_id, text, show_text),
    key!(general."streamNoneReaderDelayMS" => stream_none_reader_delay_ms, |v| int::<u64>(v, 0, MAX_MS), show_num),
    key!(general."flowThreshold" => flow_threshold, |v| int::<u64>(v, 0, 1 << 40), show_num),
    key!(protocol."continue_push_ms" => continue_push_ms, |v| int::<u64>(v, 0, MAX_MS), show_num),
    key!(rtc."ip" => ip, ip_addr, show_text),
    key!(rtc."port" => port, port, show_num),
    key!(rtc."tcpPort" => tcp_port, port, show_num),
    key!(rtc."timeoutSec" => timeout_sec, |v| int::<u64>(v, 1, MAX_SEC), show_num),
    key!(rtc."consentMode" => consent_mode, consent_mode, show_consent_mode),
    key!(rtc."externIP" => extern_ip, extern_ips, show_text),
    key!(rtc."preferredCodecA" => preferred_codec_a, text, show_text),
    key!(rtc."preferredCodecV" => preferred_codec_v, text, show_text),
    key!(rtc."preferred_tcp" => preferred_tcp, boolean, show_bool),
    key!(rtc."protocol" => protocol, candidate_protocol, show_candidate_protocol),
    key!(rtc."maxRtpCacheMS" => max_rtp_cache_ms, |v| int::<u64>(v, 0, MAX_MS), show_num),
    key!(rtc."maxRtpCacheSize" => max_rtp_cache_size, |v| int::<usize>(v, 1, 32768), show_num),
    key!(rtc."egressThreads" => egress_threads, |v| int::<usize>(v, 0, 256), show_num),
    key!(rtc."egressMinPlayers" => egress_min_players, |v| int::<usize>(v, 1, 1_000_000), show_num),
    key!(rtc."ingressMinDatagrams" => ingress_min_datagrams, |v| int::<usize>(v, 1, 1_000_000), show_num),
    key!(rtc."directEgress" => direct_egress, boolean, show_bool),
    key!(rtc."gopCacheMaxPackets" => gop_cache_max_packets, |v| int::<usize>(v, 0, 1_000_000), show_num),
    key!(rtc."keyframeRequestIntervalMS" => keyframe_request_interval_ms, |v| int::<u64>(v, 0, MAX_MS), show_num),
    key!(rtc."maxSessions" => max_sessions, |v| int::<usize>(v, 1, 1_000_000), show_num),
    key!(rtc."echo" => enable_echo, boolean, show_bool),
    key!(rtc."datachannel_echo" => datachannel_echo, boolean, show_bool),
    key!(rtc."datachannel_relay_players" => datachannel_relay_players, boolean, show_bool),
    key!(rtc."datachannelMaxMessageSize" => datachannel_max_message_size, |v| int::<usize>(v, 1024, 16 << 20), show_num),
    key!(rtc."datachannelBufferBytes" => datachannel_buffer_bytes, |v| int::<usize>(v, 64 << 10, 1 << 30), show_num),
    key!(rtc."datachannelNegotiatedIds" => datachannel_negotiated_ids, stream_id_list, show_text),
    key!(rtc."signalingPort" => signaling_port, port, show_num),
    key!(rtc."signalingSslPort" => signaling_ssl_port, port, show_num),
    key!(rtc."signalingSslCert" => signaling_ssl_cert, text, show_text),
    key!(rtc."signalingSslKey" => signaling_ssl_key, text, show_text),
    key!(rtc."signalingPingSec" => signaling_ping_sec, |v| int::<u64>(v, 1, MAX_SEC), show_num),
    key!(rtc."signalingTimeoutSec" => signaling_timeout_sec, |v| int::<u64>(v, 1, MAX_SEC), show_num),
    key!(rtc."signalingMaxMessageSize" => signaling_max_message_size, |v| int::<usize>(v, 1024, 16 << 20), show_num),
    key!(rtc."signalingMaxGuests" => signaling_max_guests, |v| int::<usize>(v, 1, 65536), show_num),
    key!(rtc."signalingMaxConnections" => signaling_max_connections, |v| int::<usize>(v, 1, 1_000_000), show_num),
    key!(rtc."icePort" => ice_port, port, show_num),
    key!(rtc."iceTcpPort" => ice_tcp_port, port, show_num),
    key!(rtc."enableTurn" => enable_turn, boolean, show_bool),
    key!(rtc."iceTransportPolicy" => ice_transport_policy, |v| int::<u8>(v, 0, 2), show_num),
    key!(rtc."iceUfrag" => ice_ufrag, text, show_text),
    key!(rtc."icePwd" => ice_pwd, text, show_text),
    key!(rtc."port_range" => port_range, port_range, show_text),
    key!(rtc."turnRealm" => turn_realm, realm, show_text),
    key!(rtc."turnSecret" => turn_secret, text, show_text),
    key!(rtc."turnAllowPeers" => turn_allow_peers, ip_ranges, show_text),
    key!(rtc."turnDenyPeers" => turn_deny_peers, ip_ranges, show_text),
    key!(rtc."turnMaxAllocationsPerUser" => turn_max_allocations_per_user, |v| int::<usize>(v, 0, 1_000_000), show_num),
    key!(rtc."turnMaxAllocationsPerIp" => turn_max_allocations_per_ip, |v| int::<usize>(v, 0, 1_000_000), show_num),
    key!(rtc."turnMaxBitrate" => turn_max_bitrate, |v| int::<u64>(v, 0, 100_000_000_000), show_num),
    key!(hook."enable" => enable, boolean, show_bool),
    key!(hook."on_publish" => on_publish, url, show_text),
    key!(hook."on_play" => on_play, url, show_text),
    key!(hook."on_stream_not_found" => on_stream_not_found, url, show_text),
    key!(hook."on_stream_none_reader" => on_stream_none_reader, url, show_text),
    key!(hook."on_stream_changed" => on_stream_changed, url, show_text),
    key!(hook."on_flow_report" => on_flow_report, url, show_text),
    key!(hook."timeoutSec" => timeout_sec, |v| int::<u64>(v, 1, MAX_SEC), show_num),
    key!(hook."retry" => retry, |v| int::<u32>(v, 0, 100), show_num),
    key!(hook."retry_delay" => retry_delay, seconds_f64, show_f64),
    key!(metrics."enable" => enable, boolean, show_bool),
    key!(metrics."secret" => secret, text, show_text),
];

/// ZLMediaKit sections Weir does not implement at all.
pub(crate) const UNSUPPORTED_SECTIONS: &[&str] = &[
    "ffmpeg",
    "hls",
    "cluster",
    "multicast",
    "record",
    "rtmp",
    "rtp",
    "rtp_proxy",
    "rtsp",
    "shell",
    "srt",
    "onvif",
];

/// ZLMediaKit keys of the sections Weir reads that Weir does not implement yet.
pub(crate) const UNSUPPORTED_KEYS: &[(&str, &[&str])] = &[
    ("api", &["snapRoot", "defaultSnap", "downloadRoot"]),
    (
        "http",
        &[
            "maxUploadSize",
            "notFound",
            "rootPath",
            "sendBufSize",
            "dirMenu",
            "virtualPath",
            "forbidCacheSuffix",
        ],
    ),
    (
        "general",
        &[
            "resetWhenRePlay",
            "mergeWriteMS",
            "wait_track_ready_ms",
            "wait_audio_track_data_ms",
            "wait_add_track_ms",
            "unready_frame_cache",
            "broadcast_player_count_changed",
            "listen_ip",
            "check_nvidia_dev",
            "enable_ffmpeg_log",
            "addMuteAudio",
            "publishToRtxp",
            "publishToHls",
            "publishToMP4",
            "modifyStamp",
        ],
    ),
    (
        "protocol",
        &[
            "modify_stamp",
            "enable_audio",
            "add_mute_audio",
            "auto_close",
            "paced_sender_ms",
            "enable_hls",
            "enable_hls_fmp4",
            "enable_mp4",
            "enable_rtsp",
            "enable_rtmp",
            "enable_ts",
            "enable_fmp4",
            "mp4_as_player",
            "mp4_max_second",
            "mp4_save_path",
            "hls_save_path",
            "hls_demand",
            "rtsp_demand",
            "rtmp_demand",
            "ts_demand",
            "fmp4_demand",
        ],
    ),
    (
        "rtc",
        &[
            "max_stun_retry",
            "interfaces",
            "rembBitRate",
            "start_bitrate",
            "max_bitrate",
            "min_bitrate",
            "nackMaxSize",
            "nackMaxMS",
            "nackMaxCount",
            "nackIntervalRatio",
            "nackRtpSize",
            "nackAudioRtpSize",
            "bfilter",
        ],
    ),
    (
        "hook",
        &[
            "admin_params",
            "alive_interval",
            "on_http_access",
            "on_record_mp4",
            "on_record_ts",
            "on_rtp_server_timeout",
            "on_rtsp_auth",
            "on_rtsp_realm",
            "on_send_rtp_stopped",
            "on_server_exited",
            "on_server_keepalive",
            "on_server_started",
            "on_shell_login",
            "stream_changed_schemas",
        ],
    ),
];

/// Extra advice for some unsupported ZLMediaKit keys.
pub(crate) fn unsupported_hint(section: &str, key: &str) -> Option<&'static str> {
    match (section, key) {
        ("general", "listen_ip") => Some("; Weir uses [http] ip and [rtc] ip"),
        _ => None,
    }
}

/// The known key `[section] name`, matched case-insensitively.
pub(crate) fn find(section: &str, name: &str) -> Option<&'static Key> {
    KEYS.iter()
        .find(|k| k.section.eq_ignore_ascii_case(section) && k.name.eq_ignore_ascii_case(name))
}

/// The canonical name of a section Weir reads.
pub(crate) fn find_section(section: &str) -> Option<&'static str> {
    SECTIONS
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(section))
}

/// The canonical name of a ZLMediaKit section Weir does not implement.
pub(crate) fn find_unsupported_section(section: &str) -> Option<&'static str> {
    UNSUPPORTED_SECTIONS
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(section))
}

/// The canonical name of a ZLMediaKit key Weir does not implement yet, in a section Weir reads.
pub(crate) fn find_unsupported_key(section: &str, name: &str) -> Option<&'static str> {
    UNSUPPORTED_KEYS
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case(section))
        .and_then(|(_, keys)| keys.iter().copied().find(|k| k.eq_ignore_ascii_case(name)))
}

/// A key of `section` whose name equals `name` once case and `_` are ignored (a likely typo).
pub(crate) fn similar(section: &str, name: &str) -> Option<&'static Key> {
    let wanted = squash(name);
    KEYS.iter()
        .find(|k| k.section.eq_ignore_ascii_case(section) && squash(k.name) == wanted)
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// `WEIR_<SECTION>_<KEY>`: section and key uppercased, any non-alphanumeric character as `_`.
pub fn env_var_name(section: &str, key: &str) -> String {
    let mut out = String::from("WEIR_");
    push_env_part(&mut out, section);
    out.push('_');
    push_env_part(&mut out, key);
    out
}

/// `WEIR_<SECTION>_`, the prefix of every variable of a section.
pub(crate) fn env_section_prefix(section: &str) -> String {
    let mut out = String::from("WEIR_");
    push_env_part(&mut out, section);
    out.push('_');
    out
}

fn push_env_part(out: &mut String, part: &str) {
    out.extend(part.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
}

// ---- value parsers: `Err` is the "expected ..." part of the error message ----

fn text(v: &str) -> Result<String, String> {
    Ok(v.to_owned())
}

/// ZLMediaKit-style boolean.
/// Comma list of SCTP stream ids (0..=65534), e.g. `1,3,5`.
/// A hook URL: empty (that hook is off) or `http://` / `https://`.
fn url(v: &str) -> Result<String, String> {
    let lower = v.to_ascii_lowercase();
    if v.is_empty() || lower.starts_with("http://") || lower.starts_with("https://") {
        Ok(v.to_owned())
    } else {
        Err("an http:// or https:// URL, or nothing".into())
    }
}

/// Seconds with a fraction, 0 to a day (`retry_delay=3.0`).
fn seconds_f64(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=MAX_SEC as f64).contains(&x) => Ok(x),
        _ => Err(format!("seconds from 0 to {MAX_SEC}, e.g. 3.0")),
    }
}

fn stream_id_list(v: &str) -> Result<String, String> {
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u16>() {
            Ok(n) if n < 65535 => {}
            _ => return Err("a comma list of SCTP stream ids 0..=65534".into()),
        }
    }
    Ok(v.trim().to_owned())
}

pub(crate) fn boolean(v: &str) -> Result<bool, String> {
    const TRUE: &[&str] = &["1", "true", "yes", "on"];
    const FALSE: &[&str] = &["0", "false", "no", "off"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(v)) {
        Ok(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(v)) {
        Ok(false)
    } else {
        Err("a boolean (1/0, true/false, yes/no, on/off)".to_owned())
    }
}

fn int<T>(v: &str, min: T, max: T) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match v.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("an integer in {min}..={max}")),
    }
}

fn consent_mode(v: &str) -> Result<crate::ConsentMode, String> {
    match v.to_ascii_lowercase().as_str() {
        "stun" => Ok(crate::ConsentMode::Stun),
        "authenticated" => Ok(crate::ConsentMode::Authenticated),
        _ => Err("`stun` or `authenticated`".to_owned()),
    }
}

fn candidate_protocol(v: &str) -> Result<crate::CandidateProtocol, String> {
    match v.to_ascii_lowercase().as_str() {
        "udp" => Ok(crate::CandidateProtocol::Udp),
        "tcp" => Ok(crate::CandidateProtocol::Tcp),
        "all" => Ok(crate::CandidateProtocol::All),
        _ => Err("`udp`, `tcp` or `all`".to_owned()),
    }
}

fn show_candidate_protocol(v: &crate::CandidateProtocol) -> String {
    match v {
        crate::CandidateProtocol::Udp => "udp",
        crate::CandidateProtocol::Tcp => "tcp",
        crate::CandidateProtocol::All => "all",
    }
    .to_owned()
}

fn port(v: &str) -> Result<u16, String> {
    v.parse::<u16>()
        .map_err(|_| "a port number in 0..=65535".to_owned())
}

fn ip_addr(v: &str) -> Result<String, String> {
    v.parse::<IpAddr>()
        .map(|_| v.to_owned())
        .map_err(|_| "an IPv4 or IPv6 address such as 0.0.0.0 or ::".to_owned())
}

/// `lo-hi` with `lo <= hi`, or empty.
pub(crate) fn parse_port_range(v: &str) -> Result<Option<(u16, u16)>, String> {
    let expected = || "a port range lo-hi with 0 <= lo <= hi <= 65535, e.g. 49152-65535".to_owned();
    if v.trim().is_empty() {
        return Ok(None);
    }
    let (lo, hi) = v.split_once('-').ok_or_else(expected)?;
    let lo = lo.trim().parse::<u16>().map_err(|_| expected())?;
    let hi = hi.trim().parse::<u16>().map_err(|_| expected())?;
    if lo > hi {
        return Err(expected());
    }
    Ok(Some((lo, hi)))
}

fn port_range(v: &str) -> Result<String, String> {
    parse_port_range(v).map(|_| v.to_owned())
}

/// Non-empty, trimmed entries of a comma list.
pub(crate) fn comma_list(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|e| !e.is_empty())
}


pub(crate) use weir_core::net::parse_ip_range;

/// A STUN REALM: 1..=127 printable characters without a double quote or a backslash.
fn realm(v: &str) -> Result<String, String> {
    let ok = !v.is_empty()
        && v.chars().count() <= 127
        && v.chars().all(|c| !c.is_control() && c != '"' && c != '\\');
    if ok {
        Ok(v.to_owned())
    } else {
        Err("a realm of 1 to 127 printable characters without \" or \\".to_owned())
    }
}

fn ip_ranges(v: &str) -> Result<String, String> {
    for entry in comma_list(v) {
        if parse_ip_range(entry).is_none() {
            return Err(format!(
                "a comma list of IP addresses, lo-hi ranges (one address family, lo <= hi) \
                 and CIDR blocks (entry `{entry}` is not)"
            ));
        }
    }
    Ok(v.to_owned())
}

/// An HTTP header name (RFC 9110 token) or empty.
fn header_name(v: &str) -> Result<String, String> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if v.chars().all(tchar) {
        Ok(v.to_owned())
    } else {
        Err("an HTTP header name such as X-Forwarded-For, or nothing".to_owned())
    }
}

fn extern_ips(v: &str) -> Result<String, String> {
    for entry in comma_list(v) {
        let ok = entry == "*"
            || entry.parse::<IpAddr>().is_ok()
            || entry.strip_prefix('$').is_some_and(|name| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !ok {
            return Err(format!(
                "a comma list of IP addresses, $ENV_NAME or * (entry `{entry}` is none of these)"
            ));
        }
    }
    Ok(v.to_owned())
}

/// One `bearerTokens` entry: `(app, stream, token)`.
pub(crate) type BearerEntry<'a> = (&'a str, &'a str, &'a str);

/// Parses one `app/stream=token` entry. `app` is `*` only as `*/*`; stream may contain `/`.
pub(crate) fn parse_bearer_entry(entry: &str) -> Option<BearerEntry<'_>> {
    let (pattern, token) = entry.split_once('=')?;
    let (app, stream) = pattern.trim().split_once('/')?;
    let (app, stream, token) = (app.trim(), stream.trim(), token.trim());
    let valid = !app.is_empty()
        && !stream.is_empty()
        && !token.is_empty()
        && !token.chars().any(char::is_whitespace)
        && (app != "*" || stream == "*");
    valid.then_some((app, stream, token))
}

fn bearer_tokens(v: &str) -> Result<String, String> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for entry in comma_list(v) {
        let Some((app, stream, _)) = parse_bearer_entry(entry) else {
            return Err(format!(
                "a comma list of app/stream=token, where stream may be * and */* matches \
                 every stream (entry `{entry}` is not)"
            ));
        };
        if seen.contains(&(app, stream)) {
            return Err(format!(
                "each app/stream at most once (`{app}/{stream}` repeats)"
            ));
        }
        seen.push((app, stream));
    }
    Ok(v.to_owned())
}

// ---- printers ----

fn show_text(v: &str) -> String {
    v.to_owned()
}

fn show_consent_mode(v: &crate::ConsentMode) -> String {
    match v {
        crate::ConsentMode::Stun => "stun",
        crate::ConsentMode::Authenticated => "authenticated",
    }
    .to_owned()
}

fn show_f64(v: &f64) -> String {
    format!("{v:?}")
}

fn show_bool(v: &bool) -> String {
    if *v { "1" } else { "0" }.to_owned()
}

fn show_num<T: ToString>(v: &T) -> String {
    v.to_string()
}
