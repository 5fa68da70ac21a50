//! # weir-testsrc
//!
//! Two adapters of Weir's stream core that speak no protocol of their own, so they prove the
//! core is protocol-neutral and help operators check a deployment without a camera:
//!
//! * [`source`]: a test pattern **source** (H.264 + Opus) pushed through a stream source port;
//!   a WebRTC player (or any later sink: RTMP, HLS) plays it like any other stream.
//! * [`probe`]: a **sink** that reads a stream through a sink port and reports per track what
//!   arrived: counts, order, loss, keyframes and whether their flags match the payloads.
//! * [`service`]: both by stream key, as the management API offers them.
//!
//! The media itself is sans-IO and needs no codec library:
//!
//! * [`pattern`]: a real, decodable H.264 Constrained Baseline stream
//!   (`profile-level-id=42e01f`). It uses only two macroblock kinds, which
//!   need neither transforms nor entropy-coded residuals:
//!   **I_PCM** macroblocks carry raw 8-bit samples (ITU-T H.264 7.3.5), and
//!   **P_Skip** macroblocks (7.4.4, 8.4.1.1) copy the co-located macroblock
//!   of the previous picture. IDR pictures are all I_PCM (colour bars), P
//!   pictures re-send only a small moving box as I_PCM and skip the rest.
//!   Every decoder reconstructs exactly the samples that were written.
//! * [`rfc6184`]: the RTP payloader for H.264, `packetization-mode=1`
//!   (single NAL unit packets, STAP-A, FU-A).
//! * [`opus`]: a canned 20 ms Opus packet of a 1 kHz sine tone that can be
//!   repeated forever (produced once with libopus; see the module docs).
//! * [`bits`]: the RBSP bit writer and NAL unit emulation prevention.
//!
//! Nothing here performs I/O or keeps time: the caller asks for the next
//! frame or packet and sends it.
//!
//! ```
//! use weir_testsrc::{pattern::PatternEncoder, rfc6184};
//!
//! let mut enc = PatternEncoder::new(320, 240, 15, 15)?;
//! let frame = enc.next_frame();
//! assert!(frame.keyframe);
//! let mut payloads = Vec::new();
//! rfc6184::packetize(&frame.nals, 1200, &mut payloads);
//! // Send each payload with RTP timestamp `frame.rtp_timestamp`, the marker
//! // bit set on the last one.
//! assert!(payloads.iter().all(|p| p.len() <= 1200));
//! let tone: &[u8] = weir_testsrc::opus::tone_packet(); // every 20 ms, +960 ticks
//! assert!(!tone.is_empty());
//! # Ok::<(), weir_testsrc::pattern::PatternError>(())
//! ```
#![forbid(unsafe_code)]

pub mod bits;
pub mod opus;
pub mod pattern;
pub mod probe;
pub mod rfc6184;
pub mod service;
pub mod source;

pub use probe::{ProbeReport, TrackReport};
pub use service::{TestSourceError, TestSourceInfo, TestSources};
pub use source::{PatternConfig, PatternStats, PatternStream};
