//! The hook backend's answer: network input, parsed without panics (fuzzed: `fuzz/`).
//!
//! ZLMediaKit's `parse_http_response`: valid only with HTTP status 200, a JSON object body and an
//! integer `code`; `code == 0` allows, any other code refuses. The error texts are ZLMediaKit's.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The largest answer body read; a longer one is an error (the backend is misbehaving).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    #[error("[network err]:{0}")]
    Network(String),
    #[error("[bad http status code]:{0}")]
    Status(u16),
    #[error("[parse json failed]:{0}")]
    Json(String),
    #[error("[json code]:code not int:{0}")]
    CodeNotInt(String),
    #[error("[answer too large]:more than {0} bytes")]
    TooLarge(usize),
    /// The backend answered and said no: not retried.
    #[error("[auth failed]: code:{code} msg:{msg}")]
    Refused { code: i64, msg: String },
}

impl HookError {
    /// Transport-type failures are retried `hook.retry` times; a refusal is final.
    pub fn retryable(&self) -> bool {
        !matches!(self, HookError::Refused { .. })
    }
}

/// An accepted answer (`code == 0`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookAnswer {
    pub msg: String,
    /// `on_stream_not_found` / `on_stream_none_reader`: `close: true`.
    pub close: bool,
    /// Every other top-level key whose value converts to a string (JSON null skipped): what
    /// ZLMediaKit loads into the publish's `ProtocolOption`. Weir logs them; it applies none.
    pub options: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct RawAnswer {
    code: Option<Value>,
    #[serde(default)]
    msg: Option<Value>,
    #[serde(default)]
    close: Option<Value>,
    #[serde(flatten)]
    rest: BTreeMap<String, Value>,
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        Value::Number(n) => Some(n.to_string()),
        // Arrays and objects do not convert to a string in JsonCpp's `asString`.
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// JsonCpp's `asBool` as ZLMediaKit reads `close`: true, a non-zero number, "true"/"1".
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "true"),
        _ => false,
    }
}

/// Keeps error texts (which end up in logs and HTTP answers) short.
fn clip(s: &str) -> String {
    const MAX: usize = 200;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Judges one answer. Never panics, whatever `body` holds.
pub fn parse_answer(status: u16, body: &[u8]) -> Result<HookAnswer, HookError> {
    if status != 200 {
        return Err(HookError::Status(status));
    }
    if body.len() > MAX_ANSWER_BYTES {
        return Err(HookError::TooLarge(MAX_ANSWER_BYTES));
    }
    let raw: RawAnswer = serde_json::from_slice(body).map_err(|e| HookError::Json(clip(&e.to_string())))?;
    let code = match &raw.code {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.as_i64().unwrap_or(i64::MAX),
        Some(other) => return Err(HookError::CodeNotInt(clip(&other.to_string()))),
        None => return Err(HookError::CodeNotInt("null".into())),
    };
    let msg = raw.msg.as_ref().and_then(text_of).unwrap_or_default();
    if code != 0 {
        return Err(HookError::Refused { code, msg: clip(&msg) });
    }
    let options = raw.rest.iter().filter_map(|(k, v)| text_of(v).map(|t| (k.clone(), t))).collect();
    Ok(HookAnswer { msg, close: raw.close.as_ref().is_some_and(truthy), options })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_and_options() {
        let a = parse_answer(200, br#"{"code":0,"msg":"ok","enable_hls":1,"mp4_save_path":"/x","n":null,"o":{}}"#).unwrap();
        assert_eq!(a.msg, "ok");
        assert!(!a.close);
        assert_eq!(a.options.len(), 2);
        assert_eq!(a.options["enable_hls"], "1");
    }

    #[test]
    fn close_forms() {
        for (body, close) in [
            (r#"{"code":0,"close":true}"#, true),
            (r#"{"code":0,"close":1}"#, true),
            (r#"{"code":0,"close":"true"}"#, true),
            (r#"{"code":0,"close":false}"#, false),
            (r#"{"code":0,"close":0}"#, false),
            (r#"{"code":0}"#, false),
        ] {
            assert_eq!(parse_answer(200, body.as_bytes()).unwrap().close, close, "{body}");
        }
    }

    #[test]
    fn refusal_is_final_and_carries_code_and_msg() {
        let e = parse_answer(200, br#"{"code":-1,"msg":"bad token"}"#).unwrap_err();
        assert_eq!(e, HookError::Refused { code: -1, msg: "bad token".into() });
        assert_eq!(e.to_string(), "[auth failed]: code:-1 msg:bad token");
        assert!(!e.retryable());
        let e = parse_answer(200, br#"{"code":403}"#).unwrap_err();
        assert_eq!(e.to_string(), "[auth failed]: code:403 msg:");
    }

    #[test]
    fn transport_failures_are_retryable() {
        let cases: [(u16, &[u8], &str); 8] = [
            (500, b"{\"code\":0}", "[bad http status code]:500"),
            (201, b"{\"code\":0}", "[bad http status code]:201"),
            (200, b"", "[parse json failed]"),
            (200, b"0", "[parse json failed]"),
            (200, b"[1,2]", "[parse json failed]"),
            (200, b"{\"code\":\"0\"}", "[json code]:code not int:\"0\""),
            (200, b"{\"code\":0.5}", "[json code]:code not int:0.5"),
            (200, b"{\"msg\":\"no code\"}", "[json code]:code not int:null"),
        ];
        for (status, body, text) in cases {
            let e = parse_answer(status, body).unwrap_err();
            assert!(e.to_string().starts_with(text), "{e} vs {text}");
            assert!(e.retryable());
        }
        let big = vec![b' '; MAX_ANSWER_BYTES + 1];
        assert_eq!(parse_answer(200, &big).unwrap_err(), HookError::TooLarge(MAX_ANSWER_BYTES));
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let deep = "[".repeat(10_000);
        assert!(parse_answer(200, deep.as_bytes()).is_err());
        assert!(parse_answer(200, &[0xff, 0xfe, b'{']).is_err());
        let huge_code = parse_answer(200, br#"{"code":18446744073709551615}"#).unwrap_err();
        assert!(matches!(huge_code, HookError::Refused { .. }));
        let long_msg = format!(r#"{{"code":1,"msg":"{}"}}"#, "é".repeat(500));
        let e = parse_answer(200, long_msg.as_bytes()).unwrap_err();
        assert!(e.to_string().len() < 300);
    }
}
