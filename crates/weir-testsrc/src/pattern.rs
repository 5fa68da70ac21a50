//! A tiny H.264 encoder that needs no codec library.
//!
//! It only ever emits two macroblock kinds:
//!
//! * **I_PCM** (ITU-T H.264 7.3.5, Table 7-11 `mb_type` 25 in I slices,
//!   Table 7-13 offset 5 in P slices, i.e. `ue(v)` 30): raw 8-bit samples,
//!   256 luma + 2 x 64 chroma, reconstructed bit-exactly by any decoder.
//! * **P_Skip** (7.4.4 `mb_skip_run`, 8.4.1.1): no data at all. Its motion
//!   vector prediction is always (0, 0) here, because every neighbour is
//!   either intra (I_PCM) or itself a zero-motion P_Skip macroblock, so a
//!   skipped macroblock is an exact copy of the reference picture.
//!
//! The stream is Constrained Baseline (`profile_idc` 66, constraint_set0/1/2
//! = 1, bytes `42 e0`), level 3.1 (`profile-level-id=42e01f`), CAVLC, POC
//! type 2 (output order = decoding order), one reference frame, and
//! deblocking disabled in every slice (`disable_deblocking_filter_idc` 1) so
//! the I_PCM pixels stay exact.
//!
//! Picture content: an IDR picture of 75 % colour bars over a grey ramp,
//! with the bars rotated by one position per GOP, and a 32x32 white box with
//! a black border that bounces diagonally by one macroblock per frame. P
//! pictures re-send only the box (I_PCM) and the background under its
//! previous position (I_PCM); everything else is P_Skip. The content itself
//! is drawn in `pattern/picture.rs`; `pattern/tests.rs` holds a small
//! parser/decoder that checks every syntax element and sample.
//!
//! Size and rate: an IDR picture costs about 386 bytes per macroblock
//! (320x240: 116 KB; 1280x720: 1.4 MB), a P picture about 3 KB. Decoders
//! do not mind, but strictly the level 3.1 limits (Annex A.3.1: at most
//! 3600 macroblocks per picture, and an access unit of at most
//! 384 * 108000 / (4 * fps) bytes) are only met for roughly
//! `macroblocks * fps <= 26000`, e.g. 320x240 or 640x480 at 15 fps.

use crate::bits::{nal_unit, BitWriter};
use std::fmt;

/// `log2_max_frame_num_minus4 + 4` (7.4.2.1.1): `frame_num` wraps at 16.
const LOG2_MAX_FRAME_NUM: u32 = 4;
/// Width/height of the moving box in macroblocks (clamped to the picture).
const OBJECT_MBS: u32 = 2;
/// Bytes of one I_PCM macroblock with 4:2:0 8-bit samples: 256 + 2 x 64.
const PCM_BYTES: usize = 384;
const NAL_SLICE: u8 = 1; // coded slice of a non-IDR picture (Table 7-1)
const NAL_IDR: u8 = 5; // coded slice of an IDR picture
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const SLICE_TYPE_P: u32 = 5; // 5..=9: all slices of the picture share the type
const SLICE_TYPE_I: u32 = 7;
const MB_TYPE_I_PCM_IN_I: u32 = 25; // Table 7-11
const MB_TYPE_I_PCM_IN_P: u32 = 5 + 25; // Table 7-13: intra types offset by 5

/// Why [`PatternEncoder::new`] refused its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternError {
    /// Width and height must be multiples of 16, at least 16, and at most
    /// 1920 x 1088.
    InvalidDimensions {
        /// The rejected width.
        width: u16,
        /// The rejected height.
        height: u16,
    },
    /// The frame rate must be in `1..=90000` (the RTP clock is 90 kHz).
    InvalidFps(u32),
    /// A GOP holds at least one frame.
    InvalidGop(u32),
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidDimensions { width, height } => write!(
                f,
                "invalid picture size {width}x{height}: width and height must be \
                 multiples of 16, at least 16 and at most 1920x1088"
            ),
            Self::InvalidFps(fps) => write!(f, "invalid frame rate {fps}: must be 1..=90000"),
            Self::InvalidGop(g) => write!(f, "invalid GOP length {g}: must be at least 1 frame"),
        }
    }
}

impl std::error::Error for PatternError {}

/// One coded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// NAL units without start codes: `[SPS, PPS, IDR slice]` on a keyframe,
    /// `[P slice]` otherwise.
    pub nals: Vec<Vec<u8>>,
    /// True for an IDR picture (preceded by SPS and PPS).
    pub keyframe: bool,
    /// RTP timestamp, 90 kHz clock, starting at 0 and wrapping.
    pub rtp_timestamp: u32,
}

/// A macroblock-aligned rectangle, in macroblock units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MbRect {
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) w: u32,
    pub(crate) h: u32,
}

impl MbRect {
    pub(crate) fn contains(&self, mbx: u32, mby: u32) -> bool {
        mbx >= self.x && mbx < self.x + self.w && mby >= self.y && mby < self.y + self.h
    }
}

/// Generator of a decodable H.264 test pattern (see the module docs).
#[derive(Debug, Clone)]
pub struct PatternEncoder {
    width: u32,
    height: u32,
    mbs_w: u32,
    mbs_h: u32,
    fps: u32,
    gop_frames: u32,
    sps: Vec<u8>,
    pps: Vec<u8>,
    /// Frames produced so far (drives the box position).
    frame_index: u64,
    /// Position in the current GOP; 0 means the next frame is an IDR.
    frame_in_gop: u32,
    /// Index of the current GOP (drives the colour bar rotation).
    gop_index: u64,
    /// `idr_pic_id` of the next IDR picture (alternates 0/1, 7.4.3).
    next_idr_pic_id: u32,
    rtp_timestamp: u32,
    /// Fractional part of 90000 / fps accumulated so far (numerator).
    ts_remainder: u32,
    /// Where the box was drawn in the previous picture.
    prev_object: Option<MbRect>,
    /// GOP index of the previous picture.
    prev_gop_index: u64,
}

impl PatternEncoder {
    /// A new encoder. `width` and `height` must be multiples of 16 in
    /// `16..=1920` and `16..=1088`, `fps` in `1..=90000`, `gop_frames >= 1`
    /// (an IDR picture every `gop_frames` frames, the first frame included).
    pub fn new(width: u16, height: u16, fps: u32, gop_frames: u32) -> Result<Self, PatternError> {
        let dims_ok = |v: u16, max: u16| v >= 16 && v <= max && v.is_multiple_of(16);
        if !dims_ok(width, 1920) || !dims_ok(height, 1088) {
            return Err(PatternError::InvalidDimensions { width, height });
        }
        if fps == 0 || fps > 90_000 {
            return Err(PatternError::InvalidFps(fps));
        }
        if gop_frames == 0 {
            return Err(PatternError::InvalidGop(gop_frames));
        }
        let (width, height) = (u32::from(width), u32::from(height));
        let mut enc = Self {
            width,
            height,
            mbs_w: width / 16,
            mbs_h: height / 16,
            fps,
            gop_frames,
            sps: Vec::new(),
            pps: Vec::new(),
            frame_index: 0,
            frame_in_gop: 0,
            gop_index: 0,
            next_idr_pic_id: 0,
            rtp_timestamp: 0,
            ts_remainder: 0,
            prev_object: None,
            prev_gop_index: 0,
        };
        enc.sps = enc.build_sps();
        enc.pps = build_pps();
        Ok(enc)
    }

    /// The sequence parameter set NAL unit (no start code, escaped).
    pub fn sps(&self) -> &[u8] {
        &self.sps
    }

    /// The picture parameter set NAL unit (no start code, escaped).
    pub fn pps(&self) -> &[u8] {
        &self.pps
    }

    /// Picture width in luma samples.
    pub fn width(&self) -> u16 {
        self.width as u16
    }

    /// Picture height in luma samples.
    pub fn height(&self) -> u16 {
        self.height as u16
    }

    /// Frames per second given to [`PatternEncoder::new`].
    pub fn fps(&self) -> u32 {
        self.fps
    }

    /// Makes the next frame an IDR picture and restarts the GOP there
    /// (e.g. on an RTCP PLI or FIR).
    pub fn request_keyframe(&mut self) {
        if self.frame_in_gop != 0 {
            self.frame_in_gop = 0;
            self.gop_index = self.gop_index.wrapping_add(1);
        }
    }

    /// Encodes the next picture.
    pub fn next_frame(&mut self) -> Frame {
        let keyframe = self.frame_in_gop == 0;
        let object = self.object_rect(self.frame_index);
        let gop = self.gop_index;
        let nals = if keyframe {
            vec![self.sps.clone(), self.pps.clone(), self.idr_slice(object, gop)]
        } else {
            vec![self.p_slice(object, gop)]
        };
        let rtp_timestamp = self.rtp_timestamp;

        // Advance the 90 kHz clock by exactly 90000 / fps on average.
        self.rtp_timestamp = self.rtp_timestamp.wrapping_add(90_000 / self.fps);
        self.ts_remainder += 90_000 % self.fps;
        if self.ts_remainder >= self.fps {
            self.ts_remainder -= self.fps;
            self.rtp_timestamp = self.rtp_timestamp.wrapping_add(1);
        }
        self.frame_index = self.frame_index.wrapping_add(1);
        self.frame_in_gop += 1;
        if self.frame_in_gop >= self.gop_frames {
            self.frame_in_gop = 0;
            self.gop_index = self.gop_index.wrapping_add(1);
        }
        self.prev_object = Some(object);
        self.prev_gop_index = gop;
        Frame { nals, keyframe, rtp_timestamp }
    }

    /// Sequence parameter set, 7.3.2.1.1 (and VUI, E.1.1).
    fn build_sps(&self) -> Vec<u8> {
        let mut w = BitWriter::with_capacity(32);
        w.u(8, 66); // profile_idc: Baseline
                    // constraint_set0..2_flag = 1 (set1 makes it Constrained Baseline),
                    // constraint_set3..5_flag = 0, reserved_zero_2bits: 0b1110_0000.
        w.u(8, 0xe0);
        w.u(8, 31); // level_idc: 3.1
        w.ue(0); // seq_parameter_set_id
                 // (no chroma_format_idc etc. for profile_idc 66: 4:2:0, 8 bit)
        w.ue(LOG2_MAX_FRAME_NUM - 4); // log2_max_frame_num_minus4
        w.ue(2); // pic_order_cnt_type: POC derived from frame_num (8.2.1.3)
        w.ue(1); // max_num_ref_frames
        w.bit(false); // gaps_in_frame_num_value_allowed_flag
        w.ue(self.mbs_w - 1); // pic_width_in_mbs_minus1
        w.ue(self.mbs_h - 1); // pic_height_in_map_units_minus1
        w.bit(true); // frame_mbs_only_flag
        w.bit(true); // direct_8x8_inference_flag
        w.bit(false); // frame_cropping_flag: sizes are multiples of 16
        w.bit(true); // vui_parameters_present_flag
                     // vui_parameters(), E.1.1
        w.bit(false); // aspect_ratio_info_present_flag
        w.bit(false); // overscan_info_present_flag
        w.bit(true); // video_signal_type_present_flag
        w.u(3, 5); //   video_format: unspecified
        w.bit(false); //   video_full_range_flag: limited range (16..235)
        w.bit(true); //   colour_description_present_flag
        w.u(8, 6); //   colour_primaries: SMPTE 170M (BT.601 525)
        w.u(8, 6); //   transfer_characteristics: SMPTE 170M
        w.u(8, 6); //   matrix_coefficients: SMPTE 170M (BT.601)
        w.bit(false); // chroma_loc_info_present_flag
        w.bit(true); // timing_info_present_flag
        w.u(32, 1); //   num_units_in_tick
        w.u(32, 2 * u64::from(self.fps)); //   time_scale (two ticks per frame, E.2.1)
        w.bit(true); //   fixed_frame_rate_flag
        w.bit(false); // nal_hrd_parameters_present_flag
        w.bit(false); // vcl_hrd_parameters_present_flag
        w.bit(false); // pic_struct_present_flag
        w.bit(true); // bitstream_restriction_flag
        w.bit(true); //   motion_vectors_over_pic_boundaries_flag
        w.ue(0); //   max_bytes_per_pic_denom: no limit
        w.ue(0); //   max_bits_per_mb_denom: no limit
        w.ue(16); //   log2_max_mv_length_horizontal (the inferred default)
        w.ue(16); //   log2_max_mv_length_vertical
        w.ue(0); //   max_num_reorder_frames: output immediately
        w.ue(1); //   max_dec_frame_buffering
        w.rbsp_trailing_bits();
        nal_unit(3, NAL_SPS, &w.into_bytes())
    }

    /// The box position for frame `t`: a diagonal bounce, one macroblock per
    /// frame in each direction.
    pub(crate) fn object_rect(&self, t: u64) -> MbRect {
        let w = OBJECT_MBS.min(self.mbs_w);
        let h = OBJECT_MBS.min(self.mbs_h);
        let bounce = |range: u32| -> u32 {
            if range == 0 {
                return 0;
            }
            let p = (t % (2 * u64::from(range))) as u32;
            if p <= range {
                p
            } else {
                2 * range - p
            }
        };
        MbRect { x: bounce(self.mbs_w - w), y: bounce(self.mbs_h - h), w, h }
    }

    /// Common slice header fields, 7.3.3, up to and including `frame_num`.
    fn slice_header_start(w: &mut BitWriter, slice_type: u32, frame_num: u32) {
        w.ue(0); // first_mb_in_slice
        w.ue(slice_type); // slice_type
        w.ue(0); // pic_parameter_set_id
        w.u(LOG2_MAX_FRAME_NUM, u64::from(frame_num)); // frame_num
                                                       // frame_mbs_only_flag = 1: no field_pic_flag.
    }

    /// Common slice header tail, 7.3.3, from `slice_qp_delta` on.
    fn slice_header_end(w: &mut BitWriter) {
        // entropy_coding_mode_flag = 0: no cabac_init_idc.
        w.se(0); // slice_qp_delta: QP 26 (irrelevant for I_PCM / P_Skip)
                 // deblocking_filter_control_present_flag = 1:
        w.ue(1); // disable_deblocking_filter_idc: off, I_PCM samples stay exact
                 // num_slice_groups_minus1 = 0: no slice_group_change_cycle.
    }

    /// An IDR picture: one I slice, every macroblock I_PCM.
    fn idr_slice(&mut self, object: MbRect, gop: u64) -> Vec<u8> {
        let total = (self.mbs_w * self.mbs_h) as usize;
        let mut w = BitWriter::with_capacity(total * (PCM_BYTES + 2) + 16);
        Self::slice_header_start(&mut w, SLICE_TYPE_I, 0); // frame_num 0 (7.4.3)
        w.ue(self.next_idr_pic_id); // idr_pic_id
        self.next_idr_pic_id ^= 1; // consecutive IDR pictures differ
                                   // pic_order_cnt_type = 2: no POC syntax. I slice: no
                                   // num_ref_idx_active_override_flag, no ref_pic_list_modification().
                                   // dec_ref_pic_marking(), 7.3.3.3, IdrPicFlag = 1:
        w.bit(false); // no_output_of_prior_pics_flag
        w.bit(false); // long_term_reference_flag
        Self::slice_header_end(&mut w);

        // slice_data(), 7.3.4: in I slices no mb_skip_run.
        let mut samples = [0u8; PCM_BYTES];
        for mby in 0..self.mbs_h {
            for mbx in 0..self.mbs_w {
                self.fill_mb(mbx, mby, object, gop, &mut samples);
                write_pcm_mb(&mut w, MB_TYPE_I_PCM_IN_I, &samples);
            }
        }
        w.rbsp_trailing_bits(); // rbsp_slice_trailing_bits(), 7.3.2.10
        nal_unit(3, NAL_IDR, &w.into_bytes())
    }

    /// A P picture: the box and the background under its previous position
    /// as I_PCM, every other macroblock P_Skip.
    fn p_slice(&self, object: MbRect, gop: u64) -> Vec<u8> {
        let prev = self.prev_object.unwrap_or(object);
        let coded = |mbx, mby| object.contains(mbx, mby) || prev.contains(mbx, mby);
        let n_coded = (2 * object.w * object.h) as usize;
        let mut w = BitWriter::with_capacity(n_coded * (PCM_BYTES + 4) + 16);
        let frame_num = self.frame_in_gop % (1 << LOG2_MAX_FRAME_NUM);
        Self::slice_header_start(&mut w, SLICE_TYPE_P, frame_num);
        // pic_order_cnt_type = 2: no POC syntax.
        w.bit(false); // num_ref_idx_active_override_flag: 1 reference (PPS)
                      // ref_pic_list_modification(), 7.3.3.1:
        w.bit(false); // ref_pic_list_modification_flag_l0
                      // weighted_pred_flag = 0: no pred_weight_table().
                      // dec_ref_pic_marking(), 7.3.3.3, nal_ref_idc != 0, not IDR:
        w.bit(false); // adaptive_ref_pic_marking_mode_flag: sliding window
        Self::slice_header_end(&mut w);

        // slice_data(), 7.3.4, CAVLC: each coded macroblock is preceded by
        // mb_skip_run (possibly 0); skipped macroblocks at the end of the
        // slice are signalled by a final mb_skip_run with nothing after it.
        let mut samples = [0u8; PCM_BYTES];
        let mut skip_run = 0u32;
        for mby in 0..self.mbs_h {
            for mbx in 0..self.mbs_w {
                if coded(mbx, mby) {
                    w.ue(skip_run); // mb_skip_run
                    skip_run = 0;
                    self.fill_mb(mbx, mby, object, gop, &mut samples);
                    write_pcm_mb(&mut w, MB_TYPE_I_PCM_IN_P, &samples);
                } else {
                    skip_run += 1;
                }
            }
        }
        if skip_run > 0 {
            w.ue(skip_run); // trailing mb_skip_run; then more_rbsp_data() is false
        }
        w.rbsp_trailing_bits(); // rbsp_slice_trailing_bits(), 7.3.2.10
        nal_unit(2, NAL_SLICE, &w.into_bytes())
    }

    /// GOP index of the frame produced next (for the tests).
    #[cfg(test)]
    pub(crate) fn gop_index(&self) -> u64 {
        self.gop_index
    }
}

/// Picture parameter set, 7.3.2.2.
fn build_pps() -> Vec<u8> {
    let mut w = BitWriter::with_capacity(8);
    w.ue(0); // pic_parameter_set_id
    w.ue(0); // seq_parameter_set_id
    w.bit(false); // entropy_coding_mode_flag: CAVLC
    w.bit(false); // bottom_field_pic_order_in_frame_present_flag
    w.ue(0); // num_slice_groups_minus1
    w.ue(0); // num_ref_idx_l0_default_active_minus1
    w.ue(0); // num_ref_idx_l1_default_active_minus1
    w.bit(false); // weighted_pred_flag
    w.u(2, 0); // weighted_bipred_idc
    w.se(0); // pic_init_qp_minus26
    w.se(0); // pic_init_qs_minus26
    w.se(0); // chroma_qp_index_offset
    w.bit(true); // deblocking_filter_control_present_flag
    w.bit(false); // constrained_intra_pred_flag
    w.bit(false); // redundant_pic_cnt_present_flag
    w.rbsp_trailing_bits();
    nal_unit(3, NAL_PPS, &w.into_bytes())
}

/// macroblock_layer() for I_PCM, 7.3.5: `mb_type`, `pcm_alignment_zero_bit`s,
/// then the samples (8 bits each, `BitDepth` 8).
fn write_pcm_mb(w: &mut BitWriter, mb_type: u32, samples: &[u8; PCM_BYTES]) {
    w.ue(mb_type);
    w.align_zero();
    w.bytes(samples);
}

// The picture content (colour bars, ramp, box) lives in pattern/picture.rs.
mod picture;

#[cfg(test)]
mod tests;
