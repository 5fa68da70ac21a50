//! Decodes the pattern with FFmpeg and compares every decoded sample with
//! [`PatternEncoder::last_picture_i420`]. Needs `ffmpeg` on PATH, which
//! `scripts/install-test-deps.sh` installs (the README's test command runs it first).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::path::PathBuf;
use std::process::Command;
use weir_testsrc::pattern::PatternEncoder;

fn check(width: u16, height: u16, fps: u32, gop: u32, frames: usize) {
    let mut enc = PatternEncoder::new(width, height, fps, gop).unwrap();
    let (mut annex_b, mut expected) = (Vec::new(), Vec::new());
    for _ in 0..frames {
        for nal in enc.next_frame().nals {
            annex_b.extend_from_slice(&[0, 0, 0, 1]);
            annex_b.extend_from_slice(&nal);
        }
        expected.extend(enc.last_picture_i420().unwrap());
    }
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pattern_{width}x{height}.h264"));
    std::fs::write(&path, &annex_b).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "warning", "-i"])
        .arg(&path)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .output()
        .expect("ffmpeg not found on PATH: run scripts/install-test-deps.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{width}x{height}: {stderr}");
    assert_eq!(out.stdout.len(), expected.len(), "{width}x{height}: frame count");
    assert!(out.stdout == expected, "{width}x{height}: decoded samples differ");
}

#[test]
fn ffmpeg_decodes_bit_exactly() {
    check(320, 240, 15, 15, 45);
    check(160, 96, 30, 30, 60);
    check(640, 368, 30, 40, 80); // frame_num wraps inside the GOP
    check(16, 16, 10, 1, 5);
    check(1280, 720, 30, 30, 35);
}
