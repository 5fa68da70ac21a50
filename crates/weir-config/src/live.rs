//! Changing keys while the server runs (ZLMediaKit's `setServerConfig`): which keys take
//! effect at once, a checked copy of the configuration with the changes, and the edit of the
//! configuration file that keeps them across a restart.
//!
//! A key is *live* when every part that reads it reads it again for each request or hook call
//! (the HTTP front and the web hooks swap in the new configuration atomically). Everything the
//! media engine, the TURN server, the signaling server or a listener took at start needs a
//! restart (`restartServer`); those keys are still stored and saved, and reported as such.

use crate::keys::{self, Key};
use crate::Config;

/// `section.key` of every key that takes effect without a restart. A test checks that each
/// name is a real key; weir-http and weir-hook read each of them per request or per call.
pub const LIVE_KEYS: &[&str] = &[
    "api.secret",
    "api.bearerTokens",
    "http.allow_cross_domains",
    "http.maxReqSize",
    "http.charSet",
    "http.allow_ip_range",
    "http.forwarded_ip_header",
    "general.enableVhost",
    "general.maxStreamWaitMS",
    "general.mediaServerId",
    "general.streamNoneReaderDelayMS",
    "general.flowThreshold",
    "hook.enable",
    "hook.on_publish",
    "hook.on_play",
    "hook.on_stream_not_found",
    "hook.on_stream_none_reader",
    "hook.on_stream_changed",
    "hook.on_flow_report",
    "hook.timeoutSec",
    "hook.retry",
    "hook.retry_delay",
    "metrics.secret",
];

/// Whether `name` (`section.key`, canonical spelling) takes effect without a restart.
pub fn is_live(name: &str) -> bool {
    LIVE_KEYS.contains(&name)
}

/// Whether `name` (`section.key`, any case) is a key Weir reads.
pub fn is_key(name: &str) -> bool {
    find_dotted(name).is_some()
}

/// Why a change was refused; nothing is changed then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("unknown configuration key `{0}` (expected section.key, e.g. hook.on_publish)")]
    UnknownKey(String),
    #[error("invalid value `{value}` for {key}: expected {expected}")]
    InvalidValue { key: String, value: String, expected: String },
}

/// The result of [`Config::with_changes`].
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    /// The configuration with every change applied.
    pub config: Config,
    /// `(section.key, new value)` of the keys whose value differs from before, canonical
    /// spelling, in request order (a key given twice counts once, with its last value).
    pub changed: Vec<(String, String)>,
}

impl Changed {
    /// The changed keys that need a restart to take effect.
    pub fn restart_required(&self) -> Vec<String> {
        self.changed.iter().filter(|(k, _)| !is_live(k)).map(|(k, _)| k.clone()).collect()
    }
}

impl Config {
    /// A copy with `changes` (`("section.key", "value")`, names case-insensitive as in the file)
    /// applied, checked by the same parsers as the file and the environment. All or nothing:
    /// one unknown key or bad value refuses the whole set.
    pub fn with_changes(&self, changes: &[(String, String)]) -> Result<Changed, ChangeError> {
        let mut config = self.clone();
        let mut changed: Vec<(String, String)> = Vec::new();
        for (name, value) in changes {
            let key = find_dotted(name).ok_or_else(|| ChangeError::UnknownKey(name.clone()))?;
            let canonical = format!("{}.{}", key.section, key.name);
            // A line break would end the key's line in the saved file (and start another).
            if value.chars().any(char::is_control) {
                return Err(ChangeError::InvalidValue {
                    key: canonical,
                    value: value.escape_debug().to_string(),
                    expected: "a value without control characters".into(),
                });
            }
            (key.set)(&mut config, value.trim()).map_err(|expected| ChangeError::InvalidValue {
                key: canonical.clone(),
                value: value.clone(),
                expected,
            })?;
            changed.retain(|(k, _)| *k != canonical);
            let now = (key.get)(&config);
            if now != (key.get)(self) {
                changed.push((canonical, now));
            }
        }
        Ok(Changed { config, changed })
    }
}

fn find_dotted(name: &str) -> Option<&'static Key> {
    let (section, key) = name.trim().split_once('.')?;
    keys::find(section, key)
}

/// `text` (an INI file) with `section.key` set to `value`: the key's line is replaced where it
/// is (the last one if repeated, as loading takes the last), otherwise the key is added at the
/// end of its section, or a new section is appended. Comments and every other line stay.
/// `None` for an unknown key or a value with a control character (it could not be one line).
pub fn set_in_ini(text: &str, name: &str, value: &str) -> Option<String> {
    let key = find_dotted(name)?;
    if value.chars().any(char::is_control) {
        return None;
    }
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut section = "";
    let mut last_line_of_section: Option<usize> = None;
    let mut found: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        match crate::load::classify(raw) {
            crate::load::Line::Section(s) => section = s,
            crate::load::Line::KeyValue(k, _)
                if section.eq_ignore_ascii_case(key.section) && k.eq_ignore_ascii_case(key.name) =>
            {
                found = Some(i)
            }
            _ => {}
        }
        if section.eq_ignore_ascii_case(key.section) && !raw.trim().is_empty() {
            last_line_of_section = Some(i);
        }
    }
    let line = format!("{}={}", key.name, value);
    match (found, last_line_of_section) {
        (Some(i), _) => lines[i] = line,
        (None, Some(i)) => lines.insert(i + 1, line),
        (None, None) => {
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push(format!("[{}]", key.section));
            lines.push(line);
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load_from;

    fn ch(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn every_live_key_is_a_key() {
        for name in LIVE_KEYS {
            let key = find_dotted(name).unwrap_or_else(|| panic!("{name} is not a key"));
            assert_eq!(format!("{}.{}", key.section, key.name), *name, "canonical spelling");
        }
    }

    #[test]
    fn changes_are_checked_and_classified() {
        let base = Config::default();
        let c = base
            .with_changes(&[ch("HOOK.on_publish", "http://127.0.0.1:9/p"), ch("rtc.timeoutSec", "30"), ch("api.secret", &base.api.secret)])
            .expect("valid");
        assert_eq!(c.config.hook.on_publish, "http://127.0.0.1:9/p");
        assert_eq!(c.config.rtc.timeout_sec, 30);
        // api.secret was given its current value: not a change.
        assert_eq!(c.changed, vec![ch("hook.on_publish", "http://127.0.0.1:9/p"), ch("rtc.timeoutSec", "30")]);
        assert_eq!(c.restart_required(), vec!["rtc.timeoutSec".to_owned()]);

        assert_eq!(base.with_changes(&[ch("rtc.nope", "1")]), Err(ChangeError::UnknownKey("rtc.nope".into())));
        assert_eq!(base.with_changes(&[ch("nodot", "1")]), Err(ChangeError::UnknownKey("nodot".into())));
        match base.with_changes(&[ch("hook.on_play", "http://x/"), ch("rtc.timeoutSec", "0")]) {
            Err(ChangeError::InvalidValue { key, .. }) => assert_eq!(key, "rtc.timeoutSec"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ini_edits_keep_the_rest_of_the_file() {
        let text = "# mine\n[hook]\nenable=0\n\n[rtc]\nport=9000\n";
        let t = set_in_ini(text, "hook.enable", "1").expect("key");
        assert_eq!(t, "# mine\n[hook]\nenable=1\n\n[rtc]\nport=9000\n");
        let t = set_in_ini(&t, "hook.on_play", "http://h/p").expect("key");
        assert_eq!(t, "# mine\n[hook]\nenable=1\non_play=http://h/p\n\n[rtc]\nport=9000\n");
        let t = set_in_ini(&t, "api.secret", "s3").expect("key");
        assert!(t.ends_with("port=9000\n\n[api]\nsecret=s3\n"), "{t}");
        let loaded = load_from(Some(&t), &[]).expect("loads");
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.config.hook.on_play, "http://h/p");
        assert_eq!(loaded.config.api.secret, "s3");
        assert!(loaded.config.hook.enable);
        assert_eq!(set_in_ini(text, "bad.key", "1"), None);
        assert_eq!(set_in_ini(text, "api.secret", "a\n[rtc]\nport=1"), None);
        assert!(matches!(
            Config::default().with_changes(&[ch("api.secret", "a\nb")]),
            Err(ChangeError::InvalidValue { .. })
        ));
    }
}
