//! Stream identity: `(vhost, app, stream)` as in ZLMediaKit's `MediaInfo`.

use std::fmt;

/// The vhost every stream lands in unless vhosts are enabled (`general.enableVhost=1`).
pub const DEFAULT_VHOST: &str = "__defaultVhost__";

/// Longest app or stream name we accept; keeps keys, logs and URLs bounded.
const MAX_PART_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct StreamKey {
    pub vhost: String,
    pub app: String,
    pub stream: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamKeyError {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} is longer than {MAX_PART_LEN} bytes")]
    TooLong(&'static str),
    #[error("{0} contains a forbidden character (control characters, '..', '?', '#', '\\')")]
    BadChar(&'static str),
}

impl StreamKey {
    /// Builds a key after validating every part. `stream` may contain `/` (ZLMediaKit allows it);
    /// `app` may not, because it would shift the app/stream split.
    pub fn new(vhost: &str, app: &str, stream: &str) -> Result<Self, StreamKeyError> {
        let vhost = if vhost.is_empty() { DEFAULT_VHOST } else { vhost };
        check_part("vhost", vhost, false)?;
        check_part("app", app, false)?;
        check_part("stream", stream, true)?;
        Ok(Self { vhost: vhost.to_owned(), app: app.to_owned(), stream: stream.to_owned() })
    }

    /// Key in the default vhost.
    pub fn default_vhost(app: &str, stream: &str) -> Result<Self, StreamKeyError> {
        Self::new(DEFAULT_VHOST, app, stream)
    }
}

fn check_part(name: &'static str, value: &str, allow_slash: bool) -> Result<(), StreamKeyError> {
    if value.is_empty() {
        return Err(StreamKeyError::Empty(name));
    }
    if value.len() > MAX_PART_LEN {
        return Err(StreamKeyError::TooLong(name));
    }
    let bad = value.chars().any(|c| c.is_control() || c == '?' || c == '#' || c == '\\')
        || (!allow_slash && value.contains('/'))
        || value.split('/').any(|seg| seg == ".." || seg.is_empty());
    if bad {
        return Err(StreamKeyError::BadChar(name));
    }
    Ok(())
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.vhost, self.app, self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_vhost_means_default() {
        let k = StreamKey::new("", "live", "cam").unwrap();
        assert_eq!(k.vhost, DEFAULT_VHOST);
        assert_eq!(k.to_string(), "__defaultVhost__/live/cam");
    }

    #[test]
    fn stream_may_contain_slash_app_may_not() {
        assert!(StreamKey::default_vhost("live", "a/b").is_ok());
        assert_eq!(StreamKey::default_vhost("li/ve", "a"), Err(StreamKeyError::BadChar("app")));
    }

    #[test]
    fn rejects_traversal_control_and_empty() {
        assert!(StreamKey::default_vhost("live", "../x").is_err());
        assert!(StreamKey::default_vhost("live", "a//b").is_err());
        assert!(StreamKey::default_vhost("live", "a\nb").is_err());
        assert_eq!(StreamKey::default_vhost("", "x"), Err(StreamKeyError::Empty("app")));
        assert!(StreamKey::default_vhost("live", &"x".repeat(300)).is_err());
    }
}
