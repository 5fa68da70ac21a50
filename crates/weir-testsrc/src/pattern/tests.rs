//! Tests of [`super::PatternEncoder`]: a small parser/decoder for exactly the
//! syntax the encoder emits (7.3.2.1.1, 7.3.2.2, 7.3.3, 7.3.4, 7.3.5) that
//! reconstructs every picture and compares it with the intended one.

use super::*;
use crate::bits::{unescape, BitReader};

fn rbsp(nal: &[u8]) -> Vec<u8> {
    unescape(&nal[1..])
}

/// Parses the SPS and returns (width in MBs, height in MBs, time_scale).
fn parse_sps(nal: &[u8]) -> (u32, u32, u32) {
    assert_eq!(nal[0], 0x67, "nal_ref_idc 3, type 7");
    let data = rbsp(nal);
    let mut r = BitReader::new(&data);
    assert_eq!(r.u(8), 66, "profile_idc");
    assert_eq!(r.u(8), 0xe0, "constraint flags");
    assert_eq!(r.u(8), 31, "level_idc");
    assert_eq!(r.ue(), 0, "sps id");
    assert_eq!(r.ue() + 4, LOG2_MAX_FRAME_NUM);
    assert_eq!(r.ue(), 2, "pic_order_cnt_type");
    assert_eq!(r.ue(), 1, "max_num_ref_frames");
    assert!(!r.bit(), "gaps_in_frame_num_value_allowed_flag");
    let mbs_w = r.ue() + 1;
    let mbs_h = r.ue() + 1;
    assert!(r.bit(), "frame_mbs_only_flag");
    assert!(r.bit(), "direct_8x8_inference_flag");
    assert!(!r.bit(), "frame_cropping_flag");
    assert!(r.bit(), "vui_parameters_present_flag");
    assert!(!r.bit() && !r.bit(), "aspect ratio, overscan");
    assert!(r.bit(), "video_signal_type_present_flag");
    assert_eq!((r.u(3), r.bit(), r.bit()), (5, false, true));
    assert_eq!((r.u(8), r.u(8), r.u(8)), (6, 6, 6));
    assert!(!r.bit(), "chroma_loc_info_present_flag");
    assert!(r.bit(), "timing_info_present_flag");
    assert_eq!(r.u(32), 1, "num_units_in_tick");
    let time_scale = r.u(32) as u32;
    assert!(r.bit(), "fixed_frame_rate_flag");
    assert!(!r.bit() && !r.bit() && !r.bit(), "no HRD, no pic_struct");
    assert!(r.bit(), "bitstream_restriction_flag");
    assert!(r.bit());
    assert_eq!([r.ue(), r.ue(), r.ue(), r.ue(), r.ue(), r.ue()], [0, 0, 16, 16, 0, 1]);
    check_trailing_bits(&mut r);
    (mbs_w, mbs_h, time_scale)
}

fn check_pps(nal: &[u8]) {
    assert_eq!(nal[0], 0x68, "nal_ref_idc 3, type 8");
    let data = rbsp(nal);
    let mut r = BitReader::new(&data);
    assert_eq!((r.ue(), r.ue()), (0, 0), "pps id, sps id");
    assert!(!r.bit() && !r.bit(), "CAVLC, no bottom_field_pic_order");
    assert_eq!((r.ue(), r.ue(), r.ue()), (0, 0, 0));
    assert!(!r.bit() && r.u(2) == 0, "no weighted prediction");
    assert_eq!((r.se(), r.se(), r.se()), (0, 0, 0), "qp 26, qs 26, chroma offset 0");
    assert!(r.bit(), "deblocking_filter_control_present_flag");
    assert!(!r.bit() && !r.bit());
    check_trailing_bits(&mut r);
}

/// rbsp_trailing_bits(), 7.3.2.11, and nothing after them.
fn check_trailing_bits(r: &mut BitReader<'_>) {
    assert!(!r.more_rbsp_data(), "only trailing bits remain");
    assert!(r.bit(), "rbsp_stop_one_bit");
    while !r.byte_aligned() {
        assert!(!r.bit(), "rbsp_alignment_zero_bit");
    }
    assert_eq!(r.bits_left(), 0, "nothing after the trailing bits");
}

/// Reads one I_PCM macroblock_layer() after its mb_type.
fn read_pcm(r: &mut BitReader<'_>) -> [u8; PCM_BYTES] {
    while !r.byte_aligned() {
        assert!(!r.bit(), "pcm_alignment_zero_bit");
    }
    let mut mb = [0u8; PCM_BYTES];
    for s in mb.iter_mut() {
        *s = r.u(8) as u8;
        assert!((16..=240).contains(s), "sample {s} out of range");
    }
    mb
}

/// Decoder state: the reference picture as per-macroblock sample arrays.
struct Decoder {
    mbs: usize,
    picture: Vec<[u8; PCM_BYTES]>,
    last_idr_pic_id: Option<u32>,
    expected_frame_num: u64,
}

impl Decoder {
    /// Decodes one slice NAL unit; returns the number of I_PCM macroblocks.
    fn decode_slice(&mut self, nal: &[u8]) -> usize {
        let idr = nal[0] & 0x1f == 5;
        assert_eq!(nal[0], if idr { 0x65 } else { 0x41 }, "slice header byte");
        let data = rbsp(nal);
        let mut r = BitReader::new(&data);
        assert_eq!(r.ue(), 0, "first_mb_in_slice");
        assert_eq!(r.ue(), if idr { 7 } else { 5 }, "slice_type");
        assert_eq!(r.ue(), 0, "pic_parameter_set_id");
        let frame_num = r.u(LOG2_MAX_FRAME_NUM);
        if idr {
            self.expected_frame_num = 0;
            let id = r.ue();
            assert!(id <= 1);
            assert_ne!(Some(id), self.last_idr_pic_id, "consecutive IDRs differ");
            self.last_idr_pic_id = Some(id);
        } else {
            assert!(!r.bit(), "num_ref_idx_active_override_flag");
            assert!(!r.bit(), "ref_pic_list_modification_flag_l0");
        }
        assert_eq!(frame_num, self.expected_frame_num % (1 << LOG2_MAX_FRAME_NUM));
        self.expected_frame_num += 1;
        if idr {
            assert!(!r.bit() && !r.bit(), "no_output_of_prior_pics, long_term_reference");
        } else {
            assert!(!r.bit(), "adaptive_ref_pic_marking_mode_flag");
        }
        assert_eq!(r.se(), 0, "slice_qp_delta");
        assert_eq!(r.ue(), 1, "disable_deblocking_filter_idc");

        // slice_data(), 7.3.4
        let mut addr = 0usize;
        let mut pcm = 0usize;
        if idr {
            self.picture = Vec::with_capacity(self.mbs);
            loop {
                assert_eq!(r.ue(), MB_TYPE_I_PCM_IN_I);
                self.picture.push(read_pcm(&mut r));
                addr += 1;
                pcm += 1;
                if !r.more_rbsp_data() {
                    break;
                }
            }
        } else {
            assert_eq!(self.picture.len(), self.mbs, "P picture without reference");
            loop {
                let run = r.ue() as usize;
                addr += run; // P_Skip: copy of the reference, nothing to do
                if run > 0 && !r.more_rbsp_data() {
                    break;
                }
                assert_eq!(r.ue(), MB_TYPE_I_PCM_IN_P);
                self.picture[addr] = read_pcm(&mut r);
                addr += 1;
                pcm += 1;
                if !r.more_rbsp_data() {
                    break;
                }
            }
        }
        assert_eq!(addr, self.mbs, "slice covers the whole picture");
        check_trailing_bits(&mut r);
        pcm
    }
}

/// Converts per-macroblock I_PCM samples to planar I420.
fn to_i420(mbs: &[[u8; PCM_BYTES]], mbs_w: usize) -> Vec<u8> {
    let mbs_h = mbs.len() / mbs_w;
    let (w, h) = (mbs_w * 16, mbs_h * 16);
    let mut out = vec![0u8; w * h * 3 / 2];
    for (i, mb) in mbs.iter().enumerate() {
        let (mbx, mby) = (i % mbs_w, i / mbs_w);
        for k in 0..256 {
            out[(mby * 16 + k / 16) * w + mbx * 16 + k % 16] = mb[k];
        }
        for k in 0..64 {
            let at = (mby * 8 + k / 8) * (w / 2) + mbx * 8 + k % 8;
            out[w * h + at] = mb[256 + k];
            out[w * h * 5 / 4 + at] = mb[320 + k];
        }
    }
    out
}

/// Encodes `frames` frames and checks every bit of syntax and every sample.
fn check_stream(width: u16, height: u16, fps: u32, gop: u32, frames: u64) {
    let mut enc = PatternEncoder::new(width, height, fps, gop).unwrap();
    assert!(enc.last_picture_i420().is_none());
    let (mbs_w, mbs_h, time_scale) = parse_sps(enc.sps());
    assert_eq!((mbs_w * 16, mbs_h * 16), (u32::from(width), u32::from(height)));
    assert_eq!(time_scale, 2 * fps);
    check_pps(enc.pps());
    let mbs = (mbs_w * mbs_h) as usize;
    let mut dec = Decoder { mbs, picture: Vec::new(), last_idr_pic_id: None, expected_frame_num: 0 };
    for t in 0..frames {
        // The intended picture, rendered before the encoder state advances.
        let object = enc.object_rect(t);
        let mut expected = vec![[0u8; PCM_BYTES]; mbs];
        for (i, mb) in expected.iter_mut().enumerate() {
            enc.fill_mb(i as u32 % mbs_w, i as u32 / mbs_w, object, enc.gop_index(), mb);
        }
        let frame = enc.next_frame();
        assert_eq!(frame.keyframe, t % u64::from(gop) == 0, "frame {t}");
        for nal in &frame.nals {
            assert!(
                !nal.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2),
                "start code emulation in frame {t}"
            );
        }
        let slice = if frame.keyframe {
            assert_eq!(frame.nals.len(), 3);
            assert_eq!(frame.nals[0], enc.sps());
            assert_eq!(frame.nals[1], enc.pps());
            &frame.nals[2]
        } else {
            assert_eq!(frame.nals.len(), 1);
            &frame.nals[0]
        };
        let pcm = dec.decode_slice(slice);
        if !frame.keyframe {
            assert!(pcm <= 2 * (object.w * object.h) as usize, "P frame {t}: {pcm} I_PCM MBs");
        }
        assert!(dec.picture == expected, "frame {t} reconstructs the intended picture");
        assert_eq!(enc.last_picture_i420().unwrap(), to_i420(&dec.picture, mbs_w as usize), "frame {t}");
    }
}

#[test]
fn stream_reconstructs_exactly() {
    check_stream(320, 240, 15, 15, 45);
    check_stream(160, 96, 30, 10, 25);
    check_stream(640, 368, 30, 40, 41); // frame_num wraps at 16 inside the GOP
    check_stream(16, 16, 5, 1, 4); // every frame IDR, 1-MB box that cannot move
    check_stream(48, 16, 5, 7, 15);
}

#[test]
fn sps_matches_profile_level_id_42e01f() {
    let enc = PatternEncoder::new(1920, 1088, 60, 60).unwrap();
    assert_eq!(&enc.sps()[..4], &[0x67, 0x42, 0xe0, 0x1f]);
    assert_eq!(parse_sps(enc.sps()), (120, 68, 120));
    check_pps(enc.pps());
}

#[test]
fn rejects_bad_parameters() {
    let bad = [(0, 16, 30, 1), (15, 16, 30, 1), (16, 24, 30, 1), (1936, 16, 30, 1), (16, 1104, 30, 1)];
    for (w, h, fps, gop) in bad {
        let err = PatternEncoder::new(w, h, fps, gop).unwrap_err();
        assert_eq!(err, PatternError::InvalidDimensions { width: w, height: h });
        assert!(err.to_string().contains("multiples of 16"));
    }
    assert_eq!(PatternEncoder::new(16, 16, 0, 1).unwrap_err(), PatternError::InvalidFps(0));
    assert_eq!(PatternEncoder::new(16, 16, 90_001, 1).unwrap_err(), PatternError::InvalidFps(90_001));
    assert_eq!(PatternEncoder::new(16, 16, 30, 0).unwrap_err(), PatternError::InvalidGop(0));
    let e: Box<dyn std::error::Error> = Box::new(PatternError::InvalidGop(0));
    assert!(!e.to_string().is_empty());
    assert!(PatternEncoder::new(1920, 1088, 90_000, u32::MAX).is_ok());
}

#[test]
fn rtp_timestamps_advance_exactly_and_wrap() {
    let mut enc = PatternEncoder::new(32, 32, 15, 100).unwrap();
    let ts: Vec<u32> = (0..4).map(|_| enc.next_frame().rtp_timestamp).collect();
    assert_eq!(ts, [0, 6000, 12000, 18000]);

    // 7 fps: 90000 / 7 is not an integer; no drift over many frames.
    let mut enc = PatternEncoder::new(32, 32, 7, 100).unwrap();
    for n in 0..200u64 {
        assert_eq!(u64::from(enc.next_frame().rtp_timestamp), n * 90_000 / 7);
    }

    let mut enc = PatternEncoder::new(32, 32, 30, 100).unwrap();
    enc.rtp_timestamp = u32::MAX - 1000;
    assert_eq!(enc.next_frame().rtp_timestamp, u32::MAX - 1000);
    assert_eq!(enc.next_frame().rtp_timestamp, 1999);
}

#[test]
fn pattern_changes_between_gops_and_box_moves() {
    let mut enc = PatternEncoder::new(128, 64, 30, 3).unwrap();
    let idr0 = enc.next_frame().nals[2].clone();
    let p1 = enc.next_frame().nals[0].clone();
    let p2 = enc.next_frame().nals[0].clone();
    assert_eq!(enc.gop_index(), 1);
    let idr1 = enc.next_frame().nals[2].clone();
    assert_ne!(idr0, idr1, "bars rotate per GOP");
    assert_ne!(p1, p2, "box position changes");
    assert_ne!(enc.object_rect(0), enc.object_rect(1));
    // The box is white inside a black border.
    let obj = enc.object_rect(5);
    assert_eq!(enc.object_luma(obj, obj.x * 16 + 8, obj.y * 16 + 8), 235);
    assert_eq!(enc.object_luma(obj, obj.x * 16, obj.y * 16), 16);
    assert_eq!(enc.background_luma(0, 63, 0), 16);
    assert_eq!(enc.background_luma(127, 63, 0), 235);
}

#[test]
fn request_keyframe_restarts_the_gop() {
    let mut enc = PatternEncoder::new(64, 64, 30, 10).unwrap();
    enc.request_keyframe(); // already at a GOP start: no extra GOP
    assert!(enc.next_frame().keyframe);
    assert_eq!(enc.gop_index(), 0);
    assert!(!enc.next_frame().keyframe);
    assert!(!enc.next_frame().keyframe);
    enc.request_keyframe();
    let f = enc.next_frame();
    assert!(f.keyframe && f.nals.len() == 3);
    assert!(!enc.next_frame().keyframe);
    for _ in 0..8 {
        assert!(!enc.next_frame().keyframe);
    }
    assert!(enc.next_frame().keyframe, "next GOP counted from the forced IDR");
}
