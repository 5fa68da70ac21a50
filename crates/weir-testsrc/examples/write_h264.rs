//! Writes the test pattern as an Annex B H.264 elementary stream
//! (start code `00 00 00 01` before each NAL unit), for checking with
//! FFmpeg:
//!
//! ```text
//! cargo run --example write_h264 -- out.h264 [WIDTH HEIGHT FPS GOP FRAMES]
//! ffmpeg -v error -i out.h264 -f null -
//! ```
//!
//! Defaults: 320x240, 15 fps, a GOP of 15 frames, 45 frames (3 GOPs).

use std::error::Error;
use weir_testsrc::pattern::PatternEncoder;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().map_or("out.h264", String::as_str);
    let num = |i: usize, default: u32| -> Result<u32, Box<dyn Error>> {
        Ok(match args.get(i) {
            Some(s) => s.parse()?,
            None => default,
        })
    };
    let (width, height) = (u16::try_from(num(1, 320)?)?, u16::try_from(num(2, 240)?)?);
    let (fps, gop, frames) = (num(3, 15)?, num(4, 15)?, num(5, 45)?);

    let mut enc = PatternEncoder::new(width, height, fps, gop)?;
    let mut out = Vec::new();
    let mut keyframes = 0;
    for _ in 0..frames {
        let frame = enc.next_frame();
        keyframes += usize::from(frame.keyframe);
        for nal in &frame.nals {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
    }
    std::fs::write(path, &out)?;
    println!(
        "wrote {path}: {width}x{height} @ {fps} fps, {frames} frames ({keyframes} IDR), {} bytes",
        out.len()
    );
    Ok(())
}
