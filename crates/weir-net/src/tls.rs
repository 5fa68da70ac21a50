//! The certificate of a TLS listener (HTTPS, wss): PEM files from the configuration, or a
//! self-signed one made at start; and its reload on SIGHUP or when the files change.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;

/// Why the TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what}: the certificate and key files must be set together")]
    Incomplete { what: &'static str },
    #[error("{what}: reading the certificate/key ({cert} / {key}): {source}")]
    Load {
        what: &'static str,
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: making a self-signed certificate: {msg}")]
    Generate { what: &'static str, msg: String },
    #[error("{what}: TLS configuration: {source}")]
    Config {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// TLS for a listener named `what` (for logs and errors, e.g. `"[http] sslport"`): `cert`/`key`
/// PEM files when set, else a self-signed ECDSA certificate for `localhost`, `127.0.0.1`, `::1`
/// and `extra_names`. Only HTTP/1.1 is offered by ALPN (WebSocket upgrades need it).
pub async fn load_or_generate_tls(what: &'static str, cert: &str, key: &str, extra_names: &[String]) -> Result<RustlsConfig, TlsError> {
    let (cert, key) = (cert.trim(), key.trim());
    let config = match (cert.is_empty(), key.is_empty()) {
        (false, false) => RustlsConfig::from_pem_file(cert, key)
            .await
            .map_err(|source| TlsError::Load { what, cert: cert.into(), key: key.into(), source })?,
        (true, true) => {
            let (cert_pem, key_pem) = self_signed(what, extra_names)?;
            tracing::info!(listener = what, "TLS: self-signed certificate (configure a certificate and key file for a real one)");
            RustlsConfig::from_pem(cert_pem.into_bytes(), key_pem.into_bytes())
                .await
                .map_err(|source| TlsError::Config { what, source })?
        }
        _ => return Err(TlsError::Incomplete { what }),
    };
    http11_only(&config);
    Ok(config)
}

fn http11_only(config: &RustlsConfig) {
    let mut inner = (*config.get_inner()).clone();
    inner.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.reload_from_config(Arc::new(inner));
}

/// Re-reads `cert`/`key` into `config`; on failure the old certificate stays in use.
pub async fn reload(what: &'static str, config: &RustlsConfig, cert: &str, key: &str) -> Result<(), TlsError> {
    let (cert, key) = (cert.trim(), key.trim());
    config
        .reload_from_pem_file(cert, key)
        .await
        .map_err(|source| TlsError::Load { what, cert: cert.into(), key: key.into(), source })?;
    http11_only(config);
    Ok(())
}

/// Makes SIGHUP harmless to the whole process (`systemctl reload`, `kill -HUP`): its default
/// action ends a process, and [`watch_reload`] only listens for it while a certificate file pair
/// is configured. Call once inside the runtime, before anything else can receive the signal;
/// the [`watch_reload`] tasks still get every SIGHUP.
pub fn hold_sighup() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: configured TLS certificate files are re-read; the configuration file is not");
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "no SIGHUP handler: SIGHUP would end the server"),
    }
}

/// How often the certificate files' modification times are compared.
const POLL: Duration = Duration::from_secs(5);

/// Spawns a task that reloads `config` from `cert`/`key` on SIGHUP and when either file's
/// modification time changes. Nothing to do for a self-signed certificate (empty paths).
pub fn watch_reload(what: &'static str, config: RustlsConfig, cert: String, key: String) {
    if cert.trim().is_empty() || key.trim().is_empty() {
        return;
    }
    tokio::spawn(async move {
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(listener = what, error = %e, "no SIGHUP handler: certificate reload on file change only");
                None
            }
        };
        let mut seen = mtimes(&cert, &key);
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let why = tokio::select! {
                _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending().await } } => "SIGHUP",
                _ = tick.tick() => {
                    let now = mtimes(&cert, &key);
                    if now == seen { continue; }
                    seen = now;
                    "file change"
                }
            };
            match reload(what, &config, &cert, &key).await {
                Ok(()) => tracing::info!(listener = what, cert = %cert, why, "TLS certificate reloaded"),
                Err(e) => tracing::warn!(listener = what, error = %e, why, "TLS certificate reload failed; keeping the previous one"),
            }
        }
    });
}

fn mtimes(cert: &str, key: &str) -> (Option<SystemTime>, Option<SystemTime>) {
    let m = |p: &str| std::fs::metadata(Path::new(p.trim())).and_then(|m| m.modified()).ok();
    (m(cert), m(key))
}

/// A self-signed certificate and its key, both PEM.
pub fn self_signed(what: &'static str, extra_names: &[String]) -> Result<(String, String), TlsError> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for n in extra_names {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate { what, msg: e.to_string() })?;
    Ok((ck.cert.pem(), ck.signing_key.serialize_pem()))
}
