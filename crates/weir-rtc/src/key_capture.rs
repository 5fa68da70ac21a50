//! The SRTP keys of a session, for the direct egress path (`direct.rs`).
//!
//! str0m keeps its SRTP contexts private, and protecting every forwarded packet through a
//! player's whole `Rtc` (packet build, send queue, resend cache, a timeout per turn) is most of
//! the server's CPU in a fan-out. str0m's crypto is pluggable, though: the DTLS provider below
//! wraps the default one and, for sessions that ask for it, keeps a copy of the DTLS-SRTP keying
//! material the handshake exports (RFC 5764 section 4.2) when it hands it to str0m. Nothing
//! else changes: str0m still derives and uses its own contexts for everything it sends.
//!
//! A session opts in by calling [`capture_next_dtls`] right before building its `Rtc` on the
//! same thread (str0m creates the DTLS instance inside `RtcConfig::build`).

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::config::{CryptoProvider, DtlsCert};
use str0m::crypto::dtls::{DtlsImplError, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion, ProtocolVersion, SrtpProfile};
use str0m::crypto::CryptoError;

/// The keying material of one DTLS association and what is needed to read it.
#[derive(Debug, Clone)]
pub struct DtlsSrtpKeys {
    /// Client write key, server write key, client salt, server salt.
    pub material: Vec<u8>,
    pub profile: SrtpProfile,
    /// We were the DTLS client (`a=setup:active`).
    pub we_are_client: bool,
}

impl DtlsSrtpKeys {
    /// Our sending SRTP context (RFC 3711 key derivation); `None` for a profile weir-srtp does
    /// not implement.
    pub fn local_sender(&self) -> Option<weir_srtp::SrtpSender> {
        use weir_srtp::{derive_context, Side, SrtpCmSha1, SrtpSender, LABEL_RTP_KEY, LABEL_RTP_SALT};
        let gcm = |key_len| derive_context(&self.material, key_len, self.we_are_client, Side::Local, LABEL_RTP_KEY, LABEL_RTP_SALT);
        match self.profile {
            SrtpProfile::AEAD_AES_128_GCM => gcm(16).map(SrtpSender::Gcm),
            SrtpProfile::AEAD_AES_256_GCM => gcm(32).map(SrtpSender::Gcm),
            SrtpProfile::AES128_CM_SHA1_80 => SrtpCmSha1::from_keying_material(&self.material, self.we_are_client, Side::Local).map(|s| SrtpSender::CmSha1(Box::new(s))),
            _ => None,
        }
    }
}

/// Where a session's keys land; set once, when the handshake completes.
pub type KeySlot = Arc<OnceLock<DtlsSrtpKeys>>;

thread_local! {
    static NEXT: RefCell<Option<KeySlot>> = const { RefCell::new(None) };
}

/// The next DTLS instance created on this thread stores its keys in the returned slot.
pub fn capture_next_dtls() -> KeySlot {
    let slot = KeySlot::default();
    NEXT.with(|n| *n.borrow_mut() = Some(slot.clone()));
    slot
}

/// Forgets a capture request that no DTLS instance took (the `Rtc` was not built).
pub fn cancel_capture() {
    NEXT.with(|n| n.borrow_mut().take());
}

/// The process's crypto provider: str0m's default with the capturing DTLS provider.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let base = str0m::crypto::from_feature_flags();
            let dtls: &'static CapturingDtlsProvider = Box::leak(Box::new(CapturingDtlsProvider { inner: base.dtls_provider }));
            Arc::new(CryptoProvider { dtls_provider: dtls, ..base })
        })
        .clone()
}

#[derive(Debug)]
struct CapturingDtlsProvider {
    inner: &'static dyn DtlsProvider,
}

impl DtlsProvider for CapturingDtlsProvider {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        self.inner.generate_certificate()
    }

    fn new_dtls(&self, cert: &DtlsCert, now: Instant, version: DtlsVersion, mtu: Option<usize>) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        let inner = self.inner.new_dtls(cert, now, version, mtu)?;
        Ok(match NEXT.with(|n| n.borrow_mut().take()) {
            Some(slot) => Box::new(CapturingDtls { inner, slot }),
            None => inner,
        })
    }

    fn is_test(&self) -> bool {
        self.inner.is_test()
    }
}

#[derive(Debug)]
struct CapturingDtls {
    inner: Box<dyn DtlsInstance>,
    slot: KeySlot,
}

impl DtlsInstance for CapturingDtls {
    fn set_active(&mut self, active: bool) {
        self.inner.set_active(active)
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        self.inner.handle_packet(packet)
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        let out = self.inner.poll_output(buf);
        if let DtlsOutput::KeyingMaterial(km, profile) = &out {
            let _ = self.slot.set(DtlsSrtpKeys { material: km.as_ref().to_vec(), profile: *profile, we_are_client: self.inner.is_active() });
        }
        out
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.inner.handle_timeout(now)
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        self.inner.send_application_data(data)
    }

    fn is_active(&self) -> bool {
        self.inner.is_active()
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.inner.protocol_version()
    }

    fn is_closing(&self) -> bool {
        self.inner.is_closing()
    }

    fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        self.inner.close()
    }
}
