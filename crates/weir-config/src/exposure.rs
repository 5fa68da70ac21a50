//! Safe defaults: what a server started with no configuration on a public address exposes, and
//! the start-up warnings for every setting that widens it.
//!
//! Two defaults of ZLMediaKit are public knowledge and so protect nothing:
//! - the admin API secret `035c73f7-...` (in every copy of its `config.ini`): Weir keeps it as the
//!   default so local tools written for ZLMediaKit keep working, but accepts it **from loopback
//!   only** (the HTTP layer checks [`ApiConfig::secret_is_well_known`]). An operator who wants
//!   remote administration sets a secret of their own; `allow_ip_range` then applies as before.
//! - the TURN user `ZLMediaKit`/`ZLMediaKit`: a TURN server with a well-known user relays anyone's
//!   traffic to any public address. Weir's defaults have no TURN user; TURN allocations are served
//!   only once credentials (`iceUfrag`/`icePwd`) or a REST secret (`turnSecret`) are configured
//!   ([`RtcConfig::turn_active`]). STUN Binding is answered either way.

use crate::{ApiConfig, Config, RtcConfig};

/// ZLMediaKit's published default `[api] secret` (also Weir's default, accepted from loopback only).
pub const WELL_KNOWN_SECRET: &str = "035c73f7-bb6b-4889-a715-d9eb2d1925cc";

/// ZLMediaKit's published default TURN user and password (`[rtc] iceUfrag`/`icePwd`).
pub const WELL_KNOWN_TURN_USER: (&str, &str) = ("ZLMediaKit", "ZLMediaKit");

impl ApiConfig {
    /// Whether `[api] secret` is ZLMediaKit's published default, which the HTTP layer accepts only
    /// from loopback clients.
    pub fn secret_is_well_known(&self) -> bool {
        self.secret == WELL_KNOWN_SECRET
    }
}

impl RtcConfig {
    /// Whether TURN credentials exist: a static user (`iceUfrag` and `icePwd` both set) or a
    /// TURN REST secret (`turnSecret`).
    pub fn turn_credentials_configured(&self) -> bool {
        !self.turn_secret.is_empty() || (!self.ice_ufrag.is_empty() && !self.ice_pwd.is_empty())
    }

    /// Whether the embedded server relays (TURN allocations): `enableTurn=1` and credentials
    /// configured. Without credentials it answers STUN Binding only.
    pub fn turn_active(&self) -> bool {
        self.enable_turn && self.turn_credentials_configured()
    }

    /// Whether the static TURN user is ZLMediaKit's published one.
    pub fn turn_user_is_well_known(&self) -> bool {
        (self.ice_ufrag.as_str(), self.ice_pwd.as_str()) == WELL_KNOWN_TURN_USER
    }
}

/// Whether an `[http] ip`/`[rtc] ip` listen address reaches beyond this host.
fn listens_publicly(ip: &str) -> bool {
    match ip.trim().parse::<std::net::IpAddr>() {
        Ok(ip) => !ip.is_loopback(),
        Err(_) => true,
    }
}

impl Config {
    /// One line per setting that exposes the server to the network beyond what the defaults do,
    /// or that the operator should know about on a public address. `weir` logs them at start.
    pub fn exposure_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let public_http = listens_publicly(&self.http.ip);
        if self.api.secret_is_well_known() && public_http {
            out.push(
                "[api] secret is ZLMediaKit's published default: the admin API accepts it from loopback only; \
                 set a secret of your own for remote administration"
                    .to_owned(),
            );
        } else if !self.api.secret.is_empty() && self.api.secret.len() < 16 {
            out.push(format!("[api] secret is short ({} characters): use 16 or more random characters", self.api.secret.len()));
        }
        if public_http && self.http.allow_ip_range.trim().is_empty() && !self.api.secret_is_well_known() {
            out.push("[http] allow_ip_range is empty: the admin API accepts its secret from every address".to_owned());
        }
        let r = &self.rtc;
        if r.ice_port != 0 && r.enable_turn && !r.turn_credentials_configured() {
            out.push(
                "TURN is off: no [rtc] iceUfrag/icePwd or turnSecret configured (STUN Binding is still answered)".to_owned(),
            );
        }
        if r.ice_port != 0 && r.turn_active() {
            if r.turn_user_is_well_known() {
                out.push(
                    "[rtc] iceUfrag/icePwd is ZLMediaKit's published TURN user: anyone can relay through this server; \
                     prefer turnSecret (per-session credentials)"
                        .to_owned(),
                );
            }
            if !r.turn_allow_peers.trim().is_empty() {
                out.push(format!(
                    "[rtc] turnAllowPeers={}: TURN relays to these private/loopback addresses",
                    r.turn_allow_peers.trim()
                ));
            }
            if r.turn_max_bitrate == 0 {
                out.push("[rtc] turnMaxBitrate=0: TURN relays without a bandwidth cap".to_owned());
            }
        }
        if public_http && self.api.bearer_tokens.trim().is_empty() {
            out.push(
                "[api] bearerTokens is empty: anyone who reaches the HTTP port can publish and play (as in ZLMediaKit \
                 without hooks); set tokens or hooks to restrict"
                    .to_owned(),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe() {
        let c = Config::default();
        assert!(c.api.secret_is_well_known(), "the default secret stays ZLMediaKit's (loopback only)");
        assert!(c.rtc.enable_turn);
        assert!(!c.rtc.turn_credentials_configured(), "no TURN user by default");
        assert!(!c.rtc.turn_active(), "no relay without credentials");
        let w = c.exposure_warnings();
        assert!(w.iter().any(|l| l.contains("loopback only")), "{w:?}");
        assert!(w.iter().any(|l| l.starts_with("TURN is off")), "{w:?}");
    }

    #[test]
    fn turn_needs_credentials() {
        let mut c = Config::default();
        c.rtc.ice_ufrag = "user".into();
        assert!(!c.rtc.turn_active(), "a user without a password is no credential");
        c.rtc.ice_pwd = "pw".into();
        assert!(c.rtc.turn_active());
        c.rtc.enable_turn = false;
        assert!(!c.rtc.turn_active());
        let mut c = Config::default();
        c.rtc.turn_secret = "s".into();
        assert!(c.rtc.turn_active(), "a REST secret alone is enough");
    }

    #[test]
    fn warnings_for_exposing_settings() {
        let mut c = Config::default();
        c.rtc.ice_ufrag = WELL_KNOWN_TURN_USER.0.into();
        c.rtc.ice_pwd = WELL_KNOWN_TURN_USER.1.into();
        c.rtc.turn_allow_peers = "10.0.0.0/8".into();
        c.api.secret = "short".into();
        c.http.allow_ip_range = String::new();
        let w = c.exposure_warnings();
        for want in ["published TURN user", "turnAllowPeers=10.0.0.0/8", "secret is short", "allow_ip_range is empty", "bearerTokens"] {
            assert!(w.iter().any(|l| l.contains(want)), "no warning with {want:?} in {w:?}");
        }
        // Loopback only: nothing reaches the HTTP API from outside.
        let mut c = Config::default();
        c.http.ip = "127.0.0.1".into();
        c.rtc.turn_secret = "0123456789abcdef".into();
        assert!(c.exposure_warnings().is_empty(), "{:?}", c.exposure_warnings());
    }
}
