//! ZLMediaKit's `setServerConfig` and `restartServer`.
//!
//! `setServerConfig?secret=..&hook.on_publish=http://..&rtc.timeoutSec=30`: every argument
//! named `section.key` of a key Weir reads is checked by the same parsers as the file; one bad
//! value refuses the whole call (-300) and changes nothing. The new configuration is swapped in
//! whole (weir_config `live.rs` lists the keys that take effect at once: the HTTP front and the
//! hooks read them per request); the other changed keys are stored, saved and reported in
//! `restart_required`. Arguments that are not Weir keys (ZLMediaKit sections Weir does not
//! have, e.g. `hls.segDur`, which tools such as WVP send in bulk) are listed in `ignored`, as
//! ZLMediaKit skips keys it does not know. Changes are saved into the configuration file the
//! server was started with (only the changed lines), so they survive a restart; `saved` says
//! whether that happened.
//!
//! `restartServer`: a graceful stop (as on SIGTERM) and the same binary started again in the
//! same process (`exec`, same arguments and environment, same PID for systemd), after the
//! answer went out. Answered 501 when the embedding program does not handle restarts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Notify;

use crate::zlm::{err, json, management_args};
use crate::Shared;

/// A restart asked through the API, waited for by the binary ([`crate::HttpHandle`]).
#[derive(Default)]
pub(crate) struct RestartSignal {
    notify: Notify,
    /// Set once the binary waits for restarts; until then `restartServer` answers 501.
    pub(crate) armed: AtomicBool,
}

impl RestartSignal {
    pub(crate) async fn requested(&self) {
        self.armed.store(true, Ordering::Release);
        self.notify.notified().await;
    }
}

/// How long after its answer the restart starts, so the answer reaches the caller.
const RESTART_AFTER: Duration = Duration::from_millis(300);

pub(crate) async fn set_server_config(inner: Shared, req: Request) -> Response {
    let args = match management_args(&inner, req).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let mut changes: Vec<(String, String)> = Vec::new();
    let mut ignored: Vec<String> = Vec::new();
    for (name, value) in args.pairs() {
        if name.eq_ignore_ascii_case("secret") {
            continue;
        }
        if weir_config::is_key(name) {
            changes.push((name.to_owned(), value.to_owned()));
        } else {
            ignored.push(name.to_owned());
        }
    }
    // Read, change, swap and save as one step: two calls at once must not lose a change.
    let _writer = inner.config_writer.lock().await;
    let current = inner.cfg();
    let changed = match current.with_changes(&changes) {
        Ok(c) => c,
        Err(e) => return err(&inner, -300, &e.to_string()),
    };
    let restart_required = changed.restart_required();
    let env_overrides: Vec<&str> = changed
        .changed
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| k.split_once('.').is_some_and(|(s, key)| std::env::var_os(weir_config::env_var_name(s, key)).is_some()))
        .collect();
    let (saved, save_error) = match (&inner.st.config_file, changed.changed.is_empty()) {
        (_, true) => (false, None),
        (None, false) => (false, Some("the server was started without a configuration file (-c)".to_owned())),
        (Some(path), false) => match save(path, &changed.changed).await {
            Ok(()) => (true, None),
            Err(e) => (false, Some(e)),
        },
    };
    let keys: Vec<&str> = changed.changed.iter().map(|(k, _)| k.as_str()).collect();
    tracing::info!(changed = ?keys, ?restart_required, ?ignored, saved, error = ?save_error, "setServerConfig");
    if !env_overrides.is_empty() {
        tracing::warn!(keys = ?env_overrides, "setServerConfig changed keys that WEIR_* environment variables set: the environment wins again at the next start");
    }
    let n = changed.changed.len();
    if n > 0 {
        inner.set_config(changed.config);
    }
    let mut reply = json!({
        "code": 0,
        "changed": n,
        "restart_required": restart_required,
        "ignored": ignored,
        "saved": saved,
        "env_overrides": env_overrides,
    });
    if let Some(e) = save_error {
        reply["save_error"] = e.into();
    }
    json(&inner, &reply)
}

/// Writes the changed keys into the file: only their lines change, through a temporary file
/// and a rename so that a crash never leaves half a file.
async fn save(path: &std::path::Path, changed: &[(String, String)]) -> Result<(), String> {
    let shown = path.display().to_string();
    let mut text = tokio::fs::read_to_string(path).await.map_err(|e| format!("reading {shown}: {e}"))?;
    for (key, value) in changed {
        text = weir_config::set_in_ini(&text, key, value).ok_or_else(|| format!("{key} cannot be written to {shown}"))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".weir-tmp");
    let tmp = std::path::PathBuf::from(tmp);
    tokio::fs::write(&tmp, text).await.map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    if let Err(e) = tokio::fs::rename(&tmp, path).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(format!("replacing {shown}: {e}"));
    }
    Ok(())
}

pub(crate) async fn restart_server(inner: Shared, req: Request) -> Response {
    if let Err(r) = management_args(&inner, req).await {
        return r;
    }
    if !inner.restart.armed.load(Ordering::Acquire) {
        let mut r = err(&inner, -1, "restartServer is not available in this embedding of Weir (the weir binary handles it)");
        *r.status_mut() = StatusCode::NOT_IMPLEMENTED;
        return r.into_response();
    }
    tracing::warn!("restartServer: restarting in {} ms", RESTART_AFTER.as_millis());
    let restart = inner.restart.clone();
    tokio::spawn(async move {
        tokio::time::sleep(RESTART_AFTER).await;
        restart.notify.notify_one();
    });
    json(&inner, &json!({"code": 0, "msg": "the server stops gracefully and starts again with the same arguments"}))
}
