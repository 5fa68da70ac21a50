use super::*;
use crate::keys::KEYS;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ok(ini: &str) -> Loaded {
    load_from(Some(ini), &[]).unwrap_or_else(|e| panic!("{ini:?} failed: {e}"))
}

fn err(ini: &str) -> String {
    match load_from(Some(ini), &[]) {
        Ok(l) => panic!("{ini:?} loaded: {l:?}"),
        Err(e) => e.to_string(),
    }
}

fn expected_defaults() -> Config {
    Config {
        api: ApiConfig {
            secret: "035c73f7-bb6b-4889-a715-d9eb2d1925cc".into(),
            api_debug: true,
            bearer_tokens: "".into(),
        },
        http: HttpConfig {
            ip: "::".into(),
            port: 8080,
            ssl_port: 8443,
            ssl_cert: "".into(),
            ssl_key: "".into(),
            allow_cross_domains: true,
            max_req_size: 40960,
            char_set: "utf-8".into(),
            allow_ip_range: "::1,127.0.0.1,172.16.0.0-172.31.255.255,192.168.0.0-192.168.255.255,10.0.0.0-10.255.255.255".into(),
            forwarded_ip_header: "".into(),
            keep_alive_second: 30,
        },
        general: GeneralConfig {
            enable_vhost: false,
            max_stream_wait_ms: 15000,
            media_server_id: "weir".into(),
            stream_none_reader_delay_ms: 20000,
            flow_threshold: 1024,
        },
        protocol: ProtocolConfig { continue_push_ms: 15000 },
        rtc: RtcConfig {
            ip: "0.0.0.0".into(),
            port: 8000,
            tcp_port: 8000,
            timeout_sec: 15,
            consent_mode: ConsentMode::Authenticated,
            extern_ip: "".into(),
            preferred_codec_a: "opus,PCMU,PCMA".into(),
            preferred_codec_v: "H264,H265,AV1,VP9,VP8".into(),
            preferred_tcp: false,
            protocol: CandidateProtocol::All,
            max_rtp_cache_ms: 5000,
            max_rtp_cache_size: 2048,
            egress_threads: 0,
            egress_min_players: 32,
            ingress_min_datagrams: 32,
            direct_egress: true,
            gop_cache_max_packets: 4096,
            keyframe_request_interval_ms: 500,
            max_sessions: 20000,
            enable_echo: true,
            datachannel_echo: false,
            datachannel_relay_players: false,
            datachannel_max_message_size: 262144,
            datachannel_buffer_bytes: 4194304,
            datachannel_negotiated_ids: "1,3,5,7,9,11,13,15".into(),
            signaling_port: 3000,
            signaling_ssl_port: 3001,
            signaling_ssl_cert: "".into(),
            signaling_ssl_key: "".into(),
            signaling_ping_sec: 10,
            signaling_timeout_sec: 30,
            signaling_max_message_size: 65536,
            signaling_max_guests: 64,
            signaling_max_connections: 10000,
            ice_port: 3478,
            ice_tcp_port: 3478,
            enable_turn: true,
            ice_transport_policy: 0,
            ice_ufrag: "".into(),
            ice_pwd: "".into(),
            port_range: "49152-65535".into(),
            turn_realm: "weir".into(),
            turn_secret: "".into(),
            turn_allow_peers: "".into(),
            turn_deny_peers: "".into(),
            turn_max_allocations_per_user: 10,
            turn_max_allocations_per_ip: 20,
            turn_max_bitrate: 500000,
        },
        hook: HookConfig {
            enable: false,
            on_publish: "".into(),
            on_play: "".into(),
            on_stream_not_found: "".into(),
            on_stream_none_reader: "".into(),
            on_stream_changed: "".into(),
            on_flow_report: "".into(),
            timeout_sec: 10,
            retry: 1,
            retry_delay: 3.0,
        },
        metrics: MetricsConfig {
            enable: true,
            secret: "".into(),
        },
    }
}

// ---- defaults ----

#[test]
fn defaults_parse() {
    // The `expect` in `Default for Config` relies on this.
    let mut config = Config::blank();
    let mut warnings = Vec::new();
    load::apply_ini(&mut config, DEFAULT_INI, None, &mut warnings).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config, expected_defaults());
    assert_eq!(Config::default(), expected_defaults());
}

#[test]
fn default_ini_lists_every_key_once_with_a_comment() {
    let lines: Vec<&str> = DEFAULT_INI.lines().collect();
    for key in KEYS {
        let mut section = "";
        let mut hits = 0;
        for (i, line) in lines.iter().enumerate() {
            match load::classify(line) {
                load::Line::Section(s) => section = s,
                load::Line::KeyValue(k, _) if section == key.section && k == key.name => {
                    hits += 1;
                    assert!(
                        i > 0 && lines[i - 1].starts_with("# "),
                        "[{}] {} has no comment line",
                        key.section,
                        key.name
                    );
                }
                _ => {}
            }
        }
        assert_eq!(
            hits, 1,
            "[{}] {} appears {hits} times in DEFAULT_INI",
            key.section, key.name
        );
    }
    let key_lines = lines
        .iter()
        .filter(|l| matches!(load::classify(l), load::Line::KeyValue(..)))
        .count();
    assert_eq!(key_lines, KEYS.len());
    assert!(DEFAULT_INI.ends_with('\n'));
}

#[test]
fn defaults_print_as_default_ini() {
    assert_eq!(Config::default().to_ini(), DEFAULT_INI);
}

#[test]
fn no_input_gives_defaults() {
    let loaded = load_from(None, &[]).unwrap();
    assert_eq!(loaded.config, expected_defaults());
    assert!(loaded.warnings.is_empty());
}

// ---- file overrides ----

#[test]
fn file_overrides_defaults() {
    let loaded = ok("# comment\n; other comment\n\n[rtc]\nport=9000\ntimeoutSec = 30 \nexternIP=1.2.3.4, $PUBLIC_IP\n\
         [http]\nallow_cross_domains=off\nmaxReqSize=1024\n[api]\nsecret=\n");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.rtc.port, 9000);
    assert_eq!(c.rtc.timeout_sec, 30);
    assert_eq!(c.rtc.extern_ip, "1.2.3.4, $PUBLIC_IP");
    assert!(!c.http.allow_cross_domains);
    assert_eq!(c.http.max_req_size, 1024);
    assert_eq!(c.api.secret, "");
    // Untouched keys keep their defaults.
    assert_eq!(c.rtc.tcp_port, 8000);
    assert_eq!(c.general, expected_defaults().general);
}

#[test]
fn consent_mode_reads_and_prints() {
    let loaded = ok("[rtc]\nconsentMode=STUN\n");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.rtc.consent_mode, ConsentMode::Stun);
    assert!(loaded.config.to_ini().contains("\nconsentMode=stun\n"));
    assert!(expected_defaults().to_ini().contains("\nconsentMode=authenticated\n"));
}

#[test]
fn names_match_case_insensitively() {
    let loaded = ok("[RTC]\nTIMEOUTSEC=20\nPort_Range=1000-2000\n[Http]\nmaxreqsize=2048\n");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.rtc.timeout_sec, 20);
    assert_eq!(loaded.config.rtc.port_range, "1000-2000");
    assert_eq!(loaded.config.http.max_req_size, 2048);
    // Printed canonically.
    let ini = loaded.config.to_ini();
    assert!(ini.contains("\ntimeoutSec=20\n"));
    assert!(ini.contains("\nport_range=1000-2000\n"));
    assert!(ini.contains("\nmaxReqSize=2048\n"));
}

#[test]
fn crlf_bom_and_values_with_equals_signs() {
    let loaded = ok("\u{feff}[api]\r\nbearerTokens=live/cam=abc==\r\nsecret=a=b\r\n");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.api.bearer_tokens, "live/cam=abc==");
    assert_eq!(loaded.config.api.secret, "a=b");
}

#[test]
fn zlmediakit_style_file_loads_with_warnings_only() {
    let ini = "[api]\napiDebug=1\nsecret=s3cret\nsnapRoot=./www/snap/\n\
        [ffmpeg]\nbin=/usr/bin/ffmpeg\ncmd=%s -re -i %s\n\
        [protocol]\nmodify_stamp=2\ncontinue_push_ms=3000\n\
        [general]\nenableVhost=0\nmediaServerId=your_server_id\nlisten_ip=::\n\
        [hook]\nenable=0\non_play=\non_rtsp_auth=\n\
        [http]\nport=80\nsslport=443\nnotFound=<html><body bgcolor=\"white\"></body></html>\n\
        [rtc]\nport=8000\nrembBitRate=0\npreferredCodecA=PCMA,PCMU,opus,mpeg4-generic\n\
        [rtsp]\nport=554\n[rtmp]\nport=1935\n[hls]\nsegNum=3\n";
    let loaded = ok(ini);
    let c = &loaded.config;
    assert_eq!(c.api.secret, "s3cret");
    assert_eq!(c.protocol.continue_push_ms, 3000);
    assert_eq!(c.general.media_server_id, "your_server_id");
    assert_eq!(c.http.port, 80);
    assert_eq!(
        c.rtc.preferred_audio(),
        ["PCMA", "PCMU", "opus", "mpeg4-generic"]
    );
    let w = loaded.warnings.join("\n");
    for expected in [
        "[api] snapRoot is not supported yet, ignored (line 4)",
        "[protocol] modify_stamp is not supported yet",
        "[general] listen_ip is not supported yet, ignored (line 14); Weir uses [http] ip and [rtc] ip",
        "[http] notFound is not supported yet",
        "[rtc] rembBitRate is not supported yet",
        "section [ffmpeg] is not supported yet, ignored with its keys bin, cmd (line 5)",
        "[hook] on_rtsp_auth is not supported yet",
        "section [rtsp] is not supported yet",
        "section [rtmp] is not supported yet",
        "section [hls] is not supported yet",
    ] {
        assert!(w.contains(expected), "missing {expected:?} in:\n{w}");
    }
    assert_eq!(loaded.warnings.len(), 10, "{w}");
}

// ---- warnings ----

#[test]
fn unknown_keys_and_sections_warn() {
    let loaded = ok(
        "orphan=1\n[rtc]\nfooBar=1\ntimeout_sec=5\n[Weird]\na=1\nb=2\n[empty]\n[RTMP]\nport=x\n",
    );
    let w = &loaded.warnings;
    assert_eq!(w.len(), 6, "{w:?}");
    assert_eq!(w[0], "key orphan outside any section ignored (line 1)");
    assert_eq!(w[1], "unknown key [rtc] fooBar ignored (line 3)");
    assert_eq!(
        w[2],
        "unknown key [rtc] timeout_sec ignored (line 4); did you mean timeoutSec?"
    );
    assert_eq!(
        w[3],
        "unknown section [Weird] ignored with its keys a, b (line 5)"
    );
    assert_eq!(w[4], "unknown section [empty] ignored (line 8)");
    assert_eq!(
        w[5],
        "section [rtmp] is not supported yet, ignored with its keys port (line 9)"
    );
    assert_eq!(loaded.config, expected_defaults());
}

#[test]
fn repeated_key_warns_and_last_wins() {
    let loaded = ok("[rtc]\nport=1\n[RTC]\nPORT=2\n");
    assert_eq!(loaded.config.rtc.port, 2);
    assert_eq!(
        loaded.warnings,
        ["[rtc] port set again at line 4, overriding line 2"]
    );
}

#[test]
fn warnings_name_the_file() {
    let path = temp_file("warn.ini", "[rtc]\nfooBar=1\n");
    let loaded = load(Some(&path)).unwrap();
    let expected = format!(
        "unknown key [rtc] fooBar ignored (line 2 of {})",
        path.display()
    );
    assert!(loaded.warnings.contains(&expected), "{:?}", loaded.warnings);
    std::fs::remove_file(&path).unwrap();
}

// ---- environment ----

#[test]
fn env_overrides_file_and_defaults() {
    let e = env(&[
        ("WEIR_RTC_PORT", "7000"),
        ("WEIR_RTC_TIMEOUTSEC", " 45 "),
        ("WEIR_RTC_PORT_RANGE", "40000-40100"),
        ("WEIR_RTC_PREFERREDCODECV", "VP8,H264"),
        ("WEIR_RTC_MAXRTPCACHEMS", "1000"),
        ("WEIR_PROTOCOL_CONTINUE_PUSH_MS", "0"),
        ("WEIR_HTTP_ALLOW_CROSS_DOMAINS", "No"),
        ("WEIR_API_APIDEBUG", "off"),
        ("WEIR_GENERAL_MEDIASERVERID", "edge-1"),
        ("WEIR_LOG", "debug"),
        ("WEIR_CONFIG", "/etc/weir.ini"),
        ("PATH", "/usr/bin"),
        ("weir_rtc_port", "1"),
    ]);
    let loaded = load_from(Some("[rtc]\nport=9000\ntimeoutSec=30\n"), &e).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.rtc.port, 7000);
    assert_eq!(c.rtc.timeout_sec, 45);
    assert_eq!(c.rtc.port_range(), Some((40000, 40100)));
    assert_eq!(c.rtc.preferred_video(), ["VP8", "H264"]);
    assert_eq!(c.rtc.max_rtp_cache_ms, 1000);
    assert_eq!(c.protocol.continue_push_ms, 0);
    assert!(!c.http.allow_cross_domains);
    assert!(!c.api.api_debug);
    assert_eq!(c.general.media_server_id, "edge-1");
}

#[test]
fn env_var_names() {
    assert_eq!(env_var_name("rtc", "port"), "WEIR_RTC_PORT");
    assert_eq!(env_var_name("rtc", "timeoutSec"), "WEIR_RTC_TIMEOUTSEC");
    assert_eq!(env_var_name("rtc", "port_range"), "WEIR_RTC_PORT_RANGE");
    assert_eq!(
        env_var_name("protocol", "continue_push_ms"),
        "WEIR_PROTOCOL_CONTINUE_PUSH_MS"
    );
    assert_eq!(env_var_name("a.b", "c-d"), "WEIR_A_B_C_D");
    // No two keys share a variable.
    let mut names: Vec<String> = KEYS
        .iter()
        .map(|k| env_var_name(k.section, k.name))
        .collect();
    names.sort();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before);
}

#[test]
fn every_key_can_be_set_from_env() {
    let mut changed = Config::default();
    // Flip booleans and pick a different valid value for every other key through the env.
    let mut e = Vec::new();
    for key in KEYS {
        let current = (key.get)(&changed);
        let value = match current.as_str() {
            "0" => "1".to_owned(),
            "1" => "0".to_owned(),
            _ if current.parse::<u64>().is_ok() => "2".to_owned(),
            _ => String::new(),
        };
        if (key.set)(&mut changed, &value).is_ok() {
            e.push((env_var_name(key.section, key.name), value));
        }
    }
    assert!(e.len() > KEYS.len() / 2);
    let loaded = load_from(None, &e).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config, changed);
}

#[test]
fn unknown_env_vars_warn() {
    let e = env(&[
        ("WEIR_RTC_FOO", "1"),
        ("WEIR_RTC_TIMEOUT_SEC", "5"),
        ("WEIR_RTC_REMBBITRATE", "0"),
        ("WEIR_HLS_SEGNUM", "1"),
        ("WEIR_RTP_PROXY_PORT", "1"),
    ]);
    let loaded = load_from(None, &e).unwrap();
    assert_eq!(
        loaded.warnings,
        [
            "unknown environment variable WEIR_RTC_FOO ignored: it names no config key",
            "unknown environment variable WEIR_RTC_TIMEOUT_SEC ignored: it names no config key; \
             did you mean WEIR_RTC_TIMEOUTSEC?",
            "environment variable WEIR_RTC_REMBBITRATE ([rtc] rembBitRate) is not supported yet, ignored",
            "environment variable WEIR_HLS_SEGNUM: section [hls] is not supported yet, ignored",
            "environment variable WEIR_RTP_PROXY_PORT: section [rtp_proxy] is not supported yet, ignored",
        ]
    );
    assert_eq!(loaded.config.rtc.timeout_sec, 15);
}

#[test]
fn bad_env_value_names_the_variable() {
    let e = env(&[("WEIR_RTC_TIMEOUTSEC", "0")]);
    let msg = load_from(None, &e).unwrap_err().to_string();
    assert_eq!(
        msg,
        "invalid value `0` for [rtc] timeoutSec (environment variable WEIR_RTC_TIMEOUTSEC): \
         expected an integer in 1..=86400"
    );
    let e = env(&[("WEIR_API_SECRET", "a\nb")]);
    let msg = load_from(None, &e).unwrap_err().to_string();
    assert!(msg.contains("expected a value on a single line"), "{msg}");
}

// ---- bad values ----

#[test]
fn bad_values_are_errors_with_good_messages() {
    let cases = [
        ("[rtc]\nport=65536\n", "invalid value `65536` for [rtc] port (line 2): expected a port number in 0..=65535"),
        ("[http]\nport=-1\n", "invalid value `-1` for [http] port (line 2): expected a port number in 0..=65535"),
        ("[rtc]\nicePort=abc\n", "invalid value `abc` for [rtc] icePort (line 2): expected a port number in 0..=65535"),
        ("[rtc]\niceTransportPolicy=3\n", "invalid value `3` for [rtc] iceTransportPolicy (line 2): expected an integer in 0..=2"),
        ("[rtc]\ntimeoutSec=0\n", "invalid value `0` for [rtc] timeoutSec (line 2): expected an integer in 1..=86400"),
        ("[rtc]\nconsentMode=media\n", "invalid value `media` for [rtc] consentMode (line 2): expected `stun` or `authenticated`"),
        ("[http]\nmaxReqSize=1023\n", "invalid value `1023` for [http] maxReqSize (line 2): expected an integer in 1024..=16777216"),
        ("[http]\nmaxReqSize=16777217\n", "invalid value `16777217` for [http] maxReqSize (line 2): expected an integer in 1024..=16777216"),
        ("[http]\nmaxReqSize=\n", "invalid value `` for [http] maxReqSize (line 2): expected an integer in 1024..=16777216"),
        ("[rtc]\nechO=maybe\n", "invalid value `maybe` for [rtc] echo (line 2): expected a boolean (1/0, true/false, yes/no, on/off)"),
        ("[rtc]\nport_range=2-1\n", "invalid value `2-1` for [rtc] port_range (line 2): expected a port range lo-hi with 0 <= lo <= hi <= 65535, e.g. 49152-65535"),
        ("[rtc]\nport_range=1000\n", "invalid value `1000` for [rtc] port_range (line 2): expected a port range lo-hi"),
        ("[rtc]\nport_range=1-70000\n", "expected a port range lo-hi"),
        ("[rtc]\nturnRealm=\n", "invalid value `` for [rtc] turnRealm (line 2): expected a realm"),
        ("[rtc]\nturnRealm=a\"b\n", "expected a realm of 1 to 127 printable characters"),
        ("[rtc]\nturnAllowPeers=127.0.0.1,lo\n", "(entry `lo` is not)"),
        ("[rtc]\nturnDenyPeers=10.0.0.0/40\n", "(entry `10.0.0.0/40` is not)"),
        ("[rtc]\nturnMaxBitrate=-1\n", "expected an integer in 0..=100000000000"),
        ("[rtc]\nport=8000 ; udp\n", "invalid value `8000 ; udp` for [rtc] port"),
        ("[rtc]\nip=localhost\n", "invalid value `localhost` for [rtc] ip (line 2): expected an IPv4 or IPv6 address"),
        ("[http]\nip=\n", "for [http] ip (line 2): expected an IPv4 or IPv6 address"),
        ("[rtc]\nexternIP=1.2.3.4,example.com\n", "(entry `example.com` is none of these)"),
        ("[http]\nallow_ip_range=127.0.0.1,10.0.0.9-10.0.0.1\n", "(entry `10.0.0.9-10.0.0.1` is not)"),
        ("[http]\nallow_ip_range=10.0.0.1-::1\n", "(entry `10.0.0.1-::1` is not)"),
        ("[http]\nallow_ip_range=10.0.0.0/33\n", "(entry `10.0.0.0/33` is not)"),
        ("[http]\nallow_ip_range=localhost\n", "expected a comma list of IP addresses, lo-hi ranges (one address family, lo <= hi) and CIDR blocks (entry `localhost` is not)"),
        ("[http]\nforwarded_ip_header=X Real IP\n", "expected an HTTP header name"),
        ("[api]\nbearerTokens=live=abc\n", "(entry `live=abc` is not)"),
        ("[api]\nbearerTokens=live/cam\n", "(entry `live/cam` is not)"),
        ("[api]\nbearerTokens=live/cam=\n", "(entry `live/cam=` is not)"),
        ("[api]\nbearerTokens=*/cam=abc\n", "(entry `*/cam=abc` is not)"),
        ("[api]\nbearerTokens=live/*=a,live/*=b\n", "each app/stream at most once (`live/*` repeats)"),
        ("[rtc]\nmaxSessions=0\n", "expected an integer in 1..=1000000"),
        ("[general]\nmaxStreamWaitMS=86400001\n", "expected an integer in 0..=86400000"),
    ];
    for (ini, expected) in cases {
        let msg = err(ini);
        assert!(
            msg.starts_with(expected) || msg.contains(expected),
            "{ini:?}: got {msg:?}, want {expected:?}"
        );
    }
}

#[test]
fn error_fields_are_structured() {
    match load_from(Some("[rtc]\n\nport = 70000\n"), &[]) {
        Err(ConfigError::InvalidValue {
            section,
            key,
            value,
            expected,
            location,
        }) => {
            assert_eq!((section, key, value.as_str()), ("rtc", "port", "70000"));
            assert_eq!(expected, "a port number in 0..=65535");
            assert_eq!(location, "line 3");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn syntax_errors() {
    assert_eq!(
        err("[rtc]\nport 8000\n"),
        "config syntax error at line 2: expected `key=value`, `[section]`, a `#` comment or a blank line: `port 8000`"
    );
    assert_eq!(
        err("[rtc\nport=1\n"),
        "config syntax error at line 1: a section header must end with `]`: `[rtc`"
    );
    assert_eq!(
        err("[rtc]\n =1\n"),
        "config syntax error at line 2: missing key name before `=`: `=1`"
    );
}

#[test]
fn missing_file_error_names_the_path() {
    let path = std::env::temp_dir().join("weir-config-test-does-not-exist/weir.ini");
    let e = load(Some(&path)).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("cannot read config file {}: ", path.display())),
        "{msg}"
    );
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let path =
        std::env::temp_dir().join(format!("weir-config-{}-{nanos}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn load_reads_a_file() {
    let path = temp_file("load.ini", "[rtc]\nmaxSessions=77\n");
    let loaded = load(Some(&path)).unwrap();
    assert_eq!(loaded.config.rtc.max_sessions, 77);
    let bad = temp_file("bad.ini", "[rtc]\nmaxSessions=none\n");
    let msg = load(Some(&bad)).unwrap_err().to_string();
    assert!(
        msg.contains(&format!("(line 2 of {})", bad.display())),
        "{msg}"
    );
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&bad).unwrap();
}

// ---- booleans ----

#[test]
fn booleans_zlmediakit_style() {
    for (text, value) in [
        ("1", true),
        ("0", false),
        ("true", true),
        ("TRUE", true),
        ("False", false),
        ("yes", true),
        ("No", false),
        ("on", true),
        ("OFF", false),
    ] {
        assert_eq!(keys::boolean(text), Ok(value), "{text}");
        let loaded = ok(&format!("[rtc]\npreferred_tcp={text}\n"));
        assert_eq!(loaded.config.rtc.preferred_tcp, value, "{text}");
    }
    for text in ["", "2", "-1", "y", "n", "enabled", "truee", "0x1"] {
        assert!(keys::boolean(text).is_err(), "{text:?}");
    }
}

// ---- round trip ----

#[test]
fn round_trip_default() {
    let c = Config::default();
    let loaded = load_from(Some(&c.to_ini()), &[]).unwrap();
    assert_eq!(loaded.config, c);
    assert!(loaded.warnings.is_empty());
}

#[test]
fn round_trip_changed() {
    let ini = "[api]\nsecret=x y z\napiDebug=no\nbearerTokens=live/cam=t1, live/*=t2,*/*=t3\n\
        [http]\nip=0.0.0.0\nport=0\nsslport=1\nsslCert=/s.pem\nsslKey=/sk.pem\nallow_cross_domains=0\nmaxReqSize=16777216\ncharSet=gb2312\nallow_ip_range=\n\
        forwarded_ip_header=X-Real-IP\nkeepAliveSecond=86400\n\
        [general]\nenableVhost=yes\nmaxStreamWaitMS=0\nmediaServerId=id with spaces\nstreamNoneReaderDelayMS=0\nflowThreshold=0\n\
        [protocol]\ncontinue_push_ms=86400000\n\
        [rtc]\nip=192.168.1.2\nport=65535\ntcpPort=0\ntimeoutSec=1\nconsentMode=stun\nexternIP=*,$IP, 2001:db8::1\n\
        preferredCodecA=\npreferredCodecV=VP8\npreferred_tcp=on\nprotocol=udp\nmaxRtpCacheMS=0\nmaxRtpCacheSize=1\negressThreads=3\negressMinPlayers=1\ningressMinDatagrams=2\ndirectEgress=0\n\
        gopCacheMaxPackets=0\nkeyframeRequestIntervalMS=86400000\nmaxSessions=1000000\necho=0\n\
        datachannel_echo=1\ndatachannel_relay_players=1\ndatachannelMaxMessageSize=1024\ndatachannelBufferBytes=65536\ndatachannelNegotiatedIds=4,40\nsignalingPort=1\nsignalingSslPort=2\nsignalingSslCert=/c.pem\nsignalingSslKey=/k.pem\n\
        signalingPingSec=1\nsignalingTimeoutSec=2\nsignalingMaxMessageSize=1024\nsignalingMaxGuests=1\n\
        signalingMaxConnections=1\nicePort=3\niceTcpPort=4\nenableTurn=0\n\
        iceTransportPolicy=2\niceUfrag=u\nicePwd=p=w\nport_range=\n\
        turnRealm=example.org\nturnSecret=s3cret\nturnAllowPeers=127.0.0.1, 10.0.0.0/8\nturnDenyPeers=::1\n\
        turnMaxAllocationsPerUser=0\nturnMaxAllocationsPerIp=1\nturnMaxBitrate=0\n\
        [hook]\nenable=1\non_publish=http://127.0.0.1/p\non_play=https://h/play\non_stream_not_found=http://h/nf\n\
        on_stream_none_reader=http://h/nr\non_stream_changed=http://h/c\non_flow_report=http://h/f\ntimeoutSec=1\nretry=0\nretry_delay=0.5\n\
        [metrics]\nenable=0\nsecret=m\n";
    let first = ok(ini);
    assert!(first.warnings.is_empty(), "{:?}", first.warnings);
    let c = first.config;
    assert_ne!(c.http, expected_defaults().http);
    let printed = c.to_ini();
    let again = load_from(Some(&printed), &[]).unwrap();
    assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    assert_eq!(again.config, c);
    // Comments are kept.
    let comments = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with('#'))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(comments(&printed), comments(DEFAULT_INI));
    // Every field differs from the default, so every key took part.
    let d = expected_defaults();
    for key in KEYS {
        assert_ne!(
            (key.get)(&c),
            (key.get)(&d),
            "[{}] {} unchanged",
            key.section,
            key.name
        );
    }
}

// ---- helpers ----

#[test]
fn bearer_token_matching() {
    let api = ApiConfig {
        bearer_tokens: " */*=any , live/*=live-any, live/cam=cam,live/a/b=ab, vod/x=tok=en, ,"
            .into(),
        ..expected_defaults().api
    };
    assert_eq!(api.bearer_token_for("live", "cam").as_deref(), Some("cam"));
    assert_eq!(
        api.bearer_token_for("live", "other").as_deref(),
        Some("live-any")
    );
    assert_eq!(api.bearer_token_for("live", "a/b").as_deref(), Some("ab"));
    assert_eq!(api.bearer_token_for("vod", "x").as_deref(), Some("tok=en"));
    assert_eq!(api.bearer_token_for("vod", "y").as_deref(), Some("any"));
    assert_eq!(api.bearer_token_for("Live", "cam").as_deref(), Some("any"));

    let api = ApiConfig {
        bearer_tokens: "live/*=a,live/cam=b".into(),
        ..expected_defaults().api
    };
    assert_eq!(api.bearer_token_for("live", "cam").as_deref(), Some("b"));
    assert_eq!(api.bearer_token_for("live", "x").as_deref(), Some("a"));
    assert_eq!(api.bearer_token_for("other", "cam"), None);

    assert_eq!(Config::default().api.bearer_token_for("live", "cam"), None);
    // Loaded from INI as well.
    let loaded = ok("[api]\nbearerTokens=live/cam=abc\n");
    assert_eq!(
        loaded.config.api.bearer_token_for("live", "cam").as_deref(),
        Some("abc")
    );
    assert_eq!(loaded.config.api.bearer_token_for("live", "cam2"), None);
}

#[test]
fn rtc_helpers() {
    let mut rtc = expected_defaults().rtc;
    assert_eq!(rtc.port_range(), Some((49152, 65535)));
    assert_eq!(rtc.preferred_audio(), ["opus", "PCMU", "PCMA"]);
    assert_eq!(rtc.preferred_video(), ["H264", "H265", "AV1", "VP9", "VP8"]);
    rtc.port_range = " 10 - 20 ".into();
    assert_eq!(rtc.port_range(), Some((10, 20)));
    rtc.port_range = "".into();
    assert_eq!(rtc.port_range(), None);
    rtc.port_range = "9-1".into();
    assert_eq!(rtc.port_range(), None);
    rtc.preferred_codec_a = " opus ,, PCMU , ".into();
    assert_eq!(rtc.preferred_audio(), ["opus", "PCMU"]);
    rtc.preferred_codec_v = "".into();
    assert!(rtc.preferred_video().is_empty());
    assert!(rtc.turn_allow_peer_ranges().is_empty());
    rtc.turn_allow_peers = "127.0.0.1, 10.0.0.0/8,,".into();
    rtc.turn_deny_peers = "::1".into();
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert_eq!(
        rtc.turn_allow_peer_ranges(),
        [(ip("127.0.0.1"), ip("127.0.0.1")), (ip("10.0.0.0"), ip("10.255.255.255"))]
    );
    assert_eq!(rtc.turn_deny_peer_ranges(), [(ip("::1"), ip("::1"))]);
}

#[test]
fn http_ip_allow_list() {
    let http = expected_defaults().http;
    let allowed = |s: &str| http.is_ip_allowed(s.parse().unwrap());
    assert!(allowed("127.0.0.1"));
    assert!(allowed("::1"));
    assert!(allowed("::ffff:192.168.3.4"));
    assert!(allowed("172.31.255.255"));
    assert!(!allowed("172.32.0.0"));
    assert!(!allowed("8.8.8.8"));
    assert!(!allowed("2001:db8::1"));
    assert_eq!(http.allow_ip_ranges().len(), 5);
    let cidr = HttpConfig {
        allow_ip_range: "10.1.2.3/8, [fd00::]/8, 0.0.0.0/0 ,[::2]".into(),
        ..http.clone()
    };
    let loaded = ok(&format!("[http]\nallow_ip_range={}\n", cidr.allow_ip_range));
    assert_eq!(loaded.config.http, cidr);
    let r = |a: &str, b: &str| (a.parse::<IpAddr>().unwrap(), b.parse::<IpAddr>().unwrap());
    assert_eq!(
        cidr.allow_ip_ranges(),
        [
            r("10.0.0.0", "10.255.255.255"),
            r("fd00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            r("0.0.0.0", "255.255.255.255"),
            r("::2", "::2"),
        ]
    );
    assert!(cidr.is_ip_allowed("8.8.8.8".parse().unwrap()));
    assert!(cidr.is_ip_allowed("fd12::1".parse().unwrap()));
    assert!(!cidr.is_ip_allowed("::1".parse().unwrap()));
    let open = HttpConfig {
        allow_ip_range: "".into(),
        ..http
    };
    assert!(open.is_ip_allowed("8.8.8.8".parse().unwrap()));
}
