//! Weir's embedded STUN/TURN server (the "P2P mode" ICE server of ZLMediaKit, `[rtc] icePort`).
//!
//! * **STUN** (RFC 8489): Binding requests are answered on the UDP and TCP ports with
//!   XOR-MAPPED-ADDRESS and FINGERPRINT, without authentication, as coturn does.
//! * **TURN** (RFC 8656) when `[rtc] enableTurn=1`: Allocate (UDP relays from `port_range`,
//!   EVEN-PORT and RESERVATION-TOKEN, REQUESTED-ADDRESS-FAMILY), Refresh, CreatePermission,
//!   ChannelBind, Send/Data indications and ChannelData, with the client on UDP or on TCP
//!   (RFC 8656 section 12.5 framing: STUN messages and ChannelData padded to 4 bytes; the relayed
//!   transport is always UDP, no RFC 6062 TCP relays).
//! * **Credentials**: long-term (REALM `[rtc] turnRealm`, stateless nonces that go stale after
//!   600 s → 438) for the static user `[rtc] iceUfrag`/`icePwd`, and time-limited credentials from
//!   the shared secret `[rtc] turnSecret` (the "TURN REST API" convention of coturn: username
//!   `<expiry unix time>[:<user>]`, password `base64(HMAC-SHA1(secret, username))`).
//! * **Security**: peers are filtered ([`filter`]: no loopback, private, link-local, multicast,
//!   unspecified or own addresses unless `turnAllowPeers` says so; `turnDenyPeers` always wins)
//!   with 403 on CreatePermission/ChannelBind and a drop for Send; quotas per user and per client
//!   IP (486); a bandwidth cap per allocation and direction (`turnMaxBitrate`, bytes/s, excess
//!   dropped); lifetimes default 600 s, at most 3600 s. Every refusal is logged with its reason,
//!   the client address and the username (rate limited to 20 lines a second).
//!
//! # Layout
//!
//! * [`stun`]: the message codec (MESSAGE-INTEGRITY with HMAC-SHA1, FINGERPRINT with CRC-32, XOR
//!   addresses), usable on its own; [`stun::binding_response`] answers a plain Binding request
//!   on any socket (the media port uses it).
//! * [`server`]: the sans-IO state machine. It takes `(now, transport, source, bytes)` and
//!   returns [`Output`]s: datagrams for clients and peers, and relay socket commands. Unit tests
//!   drive it without sockets.
//! * [`net`]: the tokio shell ([`start`] → [`TurnHandle`]): listeners, relay sockets, timers.
//!
//! # Why not the `turn` crate
//!
//! webrtc-rs `turn` 0.17 was evaluated and is not used: its server has no hook to refuse a peer
//! address (CreatePermission/ChannelBind to loopback or private addresses cannot be answered with
//! 403), no allocation quotas per user or per client IP (486) and no bandwidth cap, listens on UDP
//! only (TURN over TCP would need a stream-to-packet adapter around its `Conn` trait, and the
//! ChannelData padding rules of stream transports), owns its sockets and timers (no sans-IO core
//! to unit-test), and would pull a second crypto stack (ring) beside aws-lc. Time-limited
//! credentials could be done through its `AuthHandler`, but the rest could not without forking
//! it. TURN's wire protocol is small; writing it by hand costs less than those adapters.

pub mod auth;
pub mod filter;
pub mod framing;
pub mod net;
pub mod server;
pub mod stun;

#[cfg(test)]
mod tests;

pub use auth::{rest_password, rest_username};
pub use filter::{parse_ip_ranges, IpRange};
pub use net::{start, TurnConfig, TurnHandle, TurnStats, TurnStatsSource};
pub use server::{FiveTuple, Output, Server, ServerConfig, Stats, Transport};
pub use stun::binding_response;
