//! Long-term credentials (RFC 8489 section 9.2): the static user, time-limited "TURN REST API"
//! credentials derived from a shared secret (the convention coturn's `use-auth-secret` follows),
//! and stateless nonces with an expiry (438 Stale Nonce).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::stun::long_term_key;

/// Where the key of a user comes from.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// REALM sent in challenges; part of every long-term key.
    pub realm: String,
    /// `(username, password)` of the static user (`[rtc] iceUfrag` / `icePwd`).
    pub static_user: Option<(String, String)>,
    /// Shared secret of time-limited credentials (`[rtc] turnSecret`); `None` disables them.
    pub rest_secret: Option<String>,
}

/// The key of an authenticated user and the name its allocations are counted under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserKey {
    pub key: [u8; 16],
    /// For time-limited credentials `<expiry>:<user>`, the `<user>` part (the whole username
    /// when there is none), so that fresh credentials of one user share one quota.
    pub quota_user: String,
}

/// Why a username has no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Neither the static user nor a time-limited username.
    UnknownUser,
    /// A time-limited username whose expiry (unix seconds) has passed.
    Expired(u64),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::UnknownUser => f.write_str("unknown user"),
            AuthError::Expired(t) => write!(f, "time-limited credentials expired at unix time {t}"),
        }
    }
}

impl Credentials {
    /// The long-term key of `username` at `unix_now` (seconds since 1970).
    pub fn key_for(&self, username: &str, unix_now: u64) -> Result<UserKey, AuthError> {
        if let Some((user, pwd)) = &self.static_user {
            if !user.is_empty() && user == username {
                return Ok(UserKey {
                    key: long_term_key(username, &self.realm, pwd),
                    quota_user: username.to_owned(),
                });
            }
        }
        let Some(secret) = self.rest_secret.as_deref().filter(|s| !s.is_empty()) else {
            return Err(AuthError::UnknownUser);
        };
        let (expiry, user) = match username.split_once(':') {
            Some((t, u)) => (t, u),
            None => (username, ""),
        };
        if expiry.is_empty() || expiry.len() > 20 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::UnknownUser);
        }
        let expiry: u64 = expiry.parse().map_err(|_| AuthError::UnknownUser)?;
        if expiry < unix_now {
            return Err(AuthError::Expired(expiry));
        }
        let password = rest_password(secret, username);
        Ok(UserKey {
            key: long_term_key(username, &self.realm, &password),
            quota_user: if user.is_empty() { username.to_owned() } else { user.to_owned() },
        })
    }
}

/// The password of a time-limited username: `base64(HMAC-SHA1(secret, username))`.
pub fn rest_password(secret: &str, username: &str) -> String {
    let tag = match <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(username.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(), // HMAC accepts keys of any length; never happens.
    };
    base64::engine::general_purpose::STANDARD.encode(tag)
}

/// A time-limited username valid until `expiry_unix`: `<expiry>` or `<expiry>:<user>`.
pub fn rest_username(expiry_unix: u64, user: Option<&str>) -> String {
    match user {
        Some(u) if !u.is_empty() => format!("{expiry_unix}:{u}"),
        _ => expiry_unix.to_string(),
    }
}

/// What a received NONCE is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceCheck {
    Valid,
    /// Issued by us, but older than the nonce lifetime.
    Stale,
    /// Not one of ours (or for another client address).
    Invalid,
}

/// Stateless nonces: `<issue time, 8 hex digits><HMAC-SHA1(key, time || client ip), 16 hex>`.
/// The issue time counts seconds from the server's start, so no table is kept.
#[derive(Clone)]
pub struct Nonces {
    key: [u8; 20],
    lifetime: Duration,
    epoch: Instant,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces").field("lifetime", &self.lifetime).finish_non_exhaustive()
    }
}

impl Nonces {
    pub fn new(key: [u8; 20], lifetime: Duration, epoch: Instant) -> Nonces {
        Nonces { key, lifetime, epoch }
    }

    fn tag(&self, issued: u32, client: IpAddr) -> String {
        let mut out = String::with_capacity(16);
        if let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(&self.key) {
            mac.update(&issued.to_be_bytes());
            match client.to_canonical() {
                IpAddr::V4(ip) => mac.update(&ip.octets()),
                IpAddr::V6(ip) => mac.update(&ip.octets()),
            }
            for b in &mac.finalize().into_bytes()[..8] {
                out.push_str(&format!("{b:02x}"));
            }
        }
        out
    }

    fn secs(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.epoch).as_secs()).unwrap_or(u32::MAX)
    }

    /// A fresh nonce for `client`.
    pub fn issue(&self, now: Instant, client: IpAddr) -> String {
        let issued = self.secs(now);
        format!("{issued:08x}{}", self.tag(issued, client))
    }

    pub fn check(&self, nonce: &str, now: Instant, client: IpAddr) -> NonceCheck {
        if nonce.len() != 24 || !nonce.is_ascii() {
            return NonceCheck::Invalid;
        }
        let Ok(issued) = u32::from_str_radix(&nonce[..8], 16) else { return NonceCheck::Invalid };
        let want = self.tag(issued, client);
        // Constant-time enough: both are 16 hex digits derived from a keyed MAC.
        let diff = want.bytes().zip(nonce[8..].bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return NonceCheck::Invalid;
        }
        let age = u64::from(self.secs(now).saturating_sub(issued));
        if issued > self.secs(now) || Duration::from_secs(age) >= self.lifetime {
            NonceCheck::Stale
        } else {
            NonceCheck::Valid
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_user() {
        let c = Credentials {
            realm: "weir".into(),
            static_user: Some(("ZLMediaKit".into(), "pw".into())),
            rest_secret: None,
        };
        let k = c.key_for("ZLMediaKit", 0).unwrap();
        assert_eq!(k.key, long_term_key("ZLMediaKit", "weir", "pw"));
        assert_eq!(k.quota_user, "ZLMediaKit");
        assert_eq!(c.key_for("other", 0), Err(AuthError::UnknownUser));
        assert_eq!(c.key_for("1999999999:bob", 0), Err(AuthError::UnknownUser));
    }

    #[test]
    fn rest_credentials() {
        // The password coturn's turnutils_uclient -W computes: base64(HMAC-SHA1(secret, user)).
        assert_eq!(rest_password("secret", "1700000000:alice"), {
            let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(b"secret").unwrap();
            mac.update(b"1700000000:alice");
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        });
        // A known value (computed independently with Python's hmac/base64 modules).
        assert_eq!(rest_password("north", "1433895918506:test"), "ypb3Pj7EEaUH09hsx5DVPRp87G4=");
        let c = Credentials { realm: "weir".into(), static_user: None, rest_secret: Some("s3".into()) };
        let user = rest_username(2000, Some("alice"));
        assert_eq!(user, "2000:alice");
        let pwd = rest_password("s3", &user);
        let k = c.key_for(&user, 1999).unwrap();
        assert_eq!(k.key, long_term_key(&user, "weir", &pwd));
        assert_eq!(k.quota_user, "alice");
        assert_eq!(c.key_for(&user, 2000).map(|k| k.quota_user), Ok("alice".into()));
        assert_eq!(c.key_for(&user, 2001), Err(AuthError::Expired(2000)));
        // Bare expiry: the whole username is the quota user.
        assert_eq!(c.key_for("5000", 1).unwrap().quota_user, "5000");
        for bad in ["", "alice", "12a:bob", ":bob", "99999999999999999999999:x"] {
            assert_eq!(c.key_for(bad, 1), Err(AuthError::UnknownUser), "{bad}");
        }
        // Disabled when the secret is empty.
        let off = Credentials { rest_secret: Some(String::new()), ..c };
        assert_eq!(off.key_for(&user, 1), Err(AuthError::UnknownUser));
    }

    #[test]
    fn nonce_expiry() {
        let t0 = Instant::now();
        let n = Nonces::new([7; 20], Duration::from_secs(600), t0);
        let ip: IpAddr = "192.0.2.5".parse().unwrap();
        let nonce = n.issue(t0 + Duration::from_secs(10), ip);
        assert_eq!(nonce.len(), 24);
        assert_eq!(n.check(&nonce, t0 + Duration::from_secs(10), ip), NonceCheck::Valid);
        assert_eq!(n.check(&nonce, t0 + Duration::from_secs(609), ip), NonceCheck::Valid);
        assert_eq!(n.check(&nonce, t0 + Duration::from_secs(610), ip), NonceCheck::Stale);
        // Bound to the client address and to the server key.
        assert_eq!(n.check(&nonce, t0, "192.0.2.6".parse().unwrap()), NonceCheck::Invalid);
        let other = Nonces::new([8; 20], Duration::from_secs(600), t0);
        assert_eq!(other.check(&nonce, t0 + Duration::from_secs(10), ip), NonceCheck::Invalid);
        for junk in ["", "zzzzzzzz0000000000000000", "ééééééééééééééééééééééé", "0000000a"] {
            assert_eq!(n.check(junk, t0, ip), NonceCheck::Invalid);
        }
        // IPv4-mapped IPv6 is the same client.
        let mapped: IpAddr = "::ffff:192.0.2.5".parse().unwrap();
        assert_eq!(n.check(&nonce, t0 + Duration::from_secs(10), mapped), NonceCheck::Valid);
    }
}
