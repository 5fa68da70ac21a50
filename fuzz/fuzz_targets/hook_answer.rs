//! The hook backend's answer is network input: `parse_answer` must never panic, and whatever it
//! accepts must be a `code == 0` JSON object.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the HTTP status (200 most of the time), the rest is the body.
    let (status, body) = match data.split_first() {
        Some((&b, rest)) if b < 200 => (200, rest),
        Some((&b, rest)) => (u16::from(b) * 2, rest),
        None => (200, data),
    };
    if let Ok(answer) = weir_hook::parse_answer(status, body) {
        assert_eq!(status, 200);
        assert!(body.len() <= weir_hook::MAX_ANSWER_BYTES);
        let _ = answer.close;
    }
});
