//! The wss certificate: PEM files from the configuration, or a self-signed one made at start.

use std::path::PathBuf;

use axum_server::tls_rustls::RustlsConfig;

/// Why the TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("[rtc] signalingSslCert and signalingSslKey must be set together")]
    Incomplete,
    #[error("reading the signaling TLS certificate/key ({cert} / {key}): {source}")]
    Load {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("making a self-signed signaling certificate: {0}")]
    Generate(String),
    #[error("signaling TLS configuration: {0}")]
    Config(#[source] std::io::Error),
}

/// TLS for the wss listener: `cert`/`key` PEM files when set, else a self-signed certificate for
/// `localhost`, `127.0.0.1`, `::1` and `extra_names`. Only HTTP/1.1 is offered (WebSocket).
pub async fn load_or_generate_tls(cert: &str, key: &str, extra_names: &[String]) -> Result<RustlsConfig, TlsError> {
    let (cert, key) = (cert.trim(), key.trim());
    let config = match (cert.is_empty(), key.is_empty()) {
        (false, false) => RustlsConfig::from_pem_file(cert, key)
            .await
            .map_err(|source| TlsError::Load { cert: cert.into(), key: key.into(), source })?,
        (true, true) => {
            let (cert_pem, key_pem) = self_signed(extra_names)?;
            tracing::info!("signaling TLS: self-signed certificate (set [rtc] signalingSslCert/signalingSslKey for a real one)");
            RustlsConfig::from_pem(cert_pem.into_bytes(), key_pem.into_bytes()).await.map_err(TlsError::Config)?
        }
        _ => return Err(TlsError::Incomplete),
    };
    let mut inner = (*config.get_inner()).clone();
    inner.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.reload_from_config(std::sync::Arc::new(inner));
    Ok(config)
}

/// A self-signed certificate and its key, both PEM.
pub(crate) fn self_signed(extra_names: &[String]) -> Result<(String, String), TlsError> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for n in extra_names {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let ck = rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((ck.cert.pem(), ck.signing_key.serialize_pem()))
}
