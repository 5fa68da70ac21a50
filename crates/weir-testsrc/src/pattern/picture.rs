//! Picture content of [`super::PatternEncoder`]: 75 % colour bars rotated
//! by the GOP index over a grey ramp, and the moving box. Sample values stay
//! in 16..=235 (luma) and 16..=240 (chroma), BT.601 limited range.

use super::{MbRect, PatternEncoder, PCM_BYTES};

/// 75 % colour bars, BT.601 limited range (Y, Cb, Cr):
/// white, yellow, cyan, green, magenta, red, blue, black.
const BARS: [(u8, u8, u8); 8] = [
    (180, 128, 128),
    (162, 44, 142),
    (131, 156, 44),
    (112, 72, 58),
    (84, 184, 198),
    (65, 100, 212),
    (35, 212, 114),
    (16, 128, 128),
];

impl PatternEncoder {
    /// The picture of the last [`PatternEncoder::next_frame`] as planar
    /// I420 (Y, then Cb, then Cr; limited range BT.601), exactly as every
    /// conforming decoder reconstructs it. `None` before the first frame.
    pub fn last_picture_i420(&self) -> Option<Vec<u8>> {
        let object = self.prev_object?;
        let gop = self.prev_gop_index;
        let (w, h) = (self.width, self.height);
        let mut out = Vec::with_capacity((w * h * 3 / 2) as usize);
        for y in 0..h {
            for x in 0..w {
                out.push(if object.contains(x / 16, y / 16) {
                    self.object_luma(object, x, y)
                } else {
                    self.background_luma(x, y, gop)
                });
            }
        }
        for plane in 0..2 {
            for cy in 0..h / 2 {
                for cx in 0..w / 2 {
                    let (cb, cr) = if object.contains(cx / 8, cy / 8) {
                        (128, 128)
                    } else {
                        self.background_chroma(cx, cy, gop)
                    };
                    out.push(if plane == 0 { cb } else { cr });
                }
            }
        }
        Some(out)
    }

    /// The 384 I_PCM samples of macroblock (`mbx`, `mby`) in the order of
    /// 7.3.5: 16x16 luma in raster order, then 8x8 Cb, then 8x8 Cr.
    pub(crate) fn fill_mb(&self, mbx: u32, mby: u32, object: MbRect, gop: u64, out: &mut [u8; PCM_BYTES]) {
        let in_object = object.contains(mbx, mby);
        for i in 0..256u32 {
            let (x, y) = (mbx * 16 + i % 16, mby * 16 + i / 16);
            out[i as usize] =
                if in_object { self.object_luma(object, x, y) } else { self.background_luma(x, y, gop) };
        }
        for i in 0..64u32 {
            let (cx, cy) = (mbx * 8 + i % 8, mby * 8 + i / 8);
            let (cb, cr) = if in_object { (128, 128) } else { self.background_chroma(cx, cy, gop) };
            out[256 + i as usize] = cb;
            out[320 + i as usize] = cr;
        }
    }

    /// Colour bar at luma column `x`, rotated by the GOP index.
    fn bar(&self, x: u32, gop: u64) -> (u8, u8, u8) {
        let rot = (gop % 8) as u32;
        BARS[((x * 8 / self.width + rot) % 8) as usize]
    }

    /// Luma rows above this are colour bars, the rest a grey ramp.
    fn bars_height(&self) -> u32 {
        self.height * 3 / 4
    }

    /// Background luma at (`x`, `y`): bars, or a 16..=235 ramp at the bottom.
    pub(crate) fn background_luma(&self, x: u32, y: u32, gop: u64) -> u8 {
        if y < self.bars_height() {
            self.bar(x, gop).0
        } else {
            (16 + x * 219 / (self.width - 1).max(1)) as u8
        }
    }

    /// Background (Cb, Cr) at chroma position (`cx`, `cy`).
    fn background_chroma(&self, cx: u32, cy: u32, gop: u64) -> (u8, u8) {
        if cy * 2 < self.bars_height() {
            let (_, cb, cr) = self.bar(cx * 2, gop);
            (cb, cr)
        } else {
            (128, 128)
        }
    }

    /// The box: white (235) with a 2-pixel black (16) border.
    pub(crate) fn object_luma(&self, object: MbRect, x: u32, y: u32) -> u8 {
        let (lx, ly) = (x - object.x * 16, y - object.y * 16);
        let (w, h) = (object.w * 16, object.h * 16);
        if lx < 2 || ly < 2 || lx >= w - 2 || ly >= h - 2 {
            16
        } else {
            235
        }
    }
}
