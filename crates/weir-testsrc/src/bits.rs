//! Bit-level RBSP writer and NAL unit emulation prevention (ITU-T H.264).
//!
//! * [`BitWriter`] implements the descriptors of ITU-T H.264 7.2: `u(n)`,
//!   `ue(v)` / `se(v)` (Exp-Golomb, 9.1 and 9.1.1), `byte_aligned()` and
//!   `rbsp_trailing_bits()` (7.3.2.11).
//! * [`nal_unit`] builds a complete NAL unit (7.3.1): the one-byte header
//!   followed by the RBSP with `emulation_prevention_three_byte`s inserted
//!   (7.4.1), so no start code prefix can appear inside it.

/// MSB-first bit writer producing an RBSP (raw byte sequence payload).
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits accumulated for the byte under construction (MSB first).
    cur: u8,
    /// Number of valid bits in `cur` (0..=7).
    nbits: u8,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        Self { bytes: Vec::with_capacity(bytes), cur: 0, nbits: 0 }
    }

    /// Writes one bit (`u(1)` / `f(1)`).
    pub fn bit(&mut self, bit: bool) {
        self.cur = (self.cur << 1) | u8::from(bit);
        self.nbits += 1;
        if self.nbits == 8 {
            self.bytes.push(self.cur);
            self.cur = 0;
            self.nbits = 0;
        }
    }

    /// `u(n)`: the `n` low bits of `value`, most significant first.
    /// `n` is clamped to 64.
    pub fn u(&mut self, n: u32, value: u64) {
        let n = n.min(64);
        // Fast path: whole bytes while aligned.
        let mut remaining = n;
        while remaining > 0 {
            if self.nbits == 0 && remaining >= 8 {
                remaining -= 8;
                self.bytes.push((value >> remaining) as u8);
            } else {
                remaining -= 1;
                self.bit((value >> remaining) & 1 == 1);
            }
        }
    }

    /// `ue(v)`: unsigned Exp-Golomb code (9.1). `codeNum = v` is written as
    /// `leadingZeroBits` zeros, a one, and `leadingZeroBits` info bits, where
    /// `leadingZeroBits = floor(log2(v + 1))`.
    pub fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros(); // bits in (v + 1)
        self.u(len - 1, 0); // leading zeros
        self.u(len, x); // the one and the info bits
    }

    /// `se(v)`: signed Exp-Golomb code (9.1.1): `k > 0` maps to `2k - 1`,
    /// `k <= 0` to `-2k`. Values outside the range of `ue(v)` saturate.
    pub fn se(&mut self, k: i32) {
        let k = i64::from(k);
        let code = if k > 0 { 2 * k - 1 } else { -2 * k };
        self.ue(u32::try_from(code).unwrap_or(u32::MAX));
    }

    /// `byte_aligned()` (7.2).
    pub fn byte_aligned(&self) -> bool {
        self.nbits == 0
    }

    /// Writes zero bits up to the next byte boundary
    /// (e.g. `pcm_alignment_zero_bit`, 7.3.5).
    pub fn align_zero(&mut self) {
        while !self.byte_aligned() {
            self.bit(false);
        }
    }

    /// Appends whole bytes. If the writer is not byte aligned the bytes are
    /// written bit by bit, so the result is always correct.
    pub fn bytes(&mut self, data: &[u8]) {
        if self.byte_aligned() {
            self.bytes.extend_from_slice(data);
        } else {
            for &b in data {
                self.u(8, u64::from(b));
            }
        }
    }

    /// `rbsp_trailing_bits()` (7.3.2.11): `rbsp_stop_one_bit` then
    /// `rbsp_alignment_zero_bit`s. Also used as `rbsp_slice_trailing_bits()`
    /// (7.3.2.10; no `cabac_zero_word`s with CAVLC).
    pub fn rbsp_trailing_bits(&mut self) {
        self.bit(true);
        self.align_zero();
    }

    /// Number of bits written so far.
    pub fn bit_len(&self) -> usize {
        self.bytes.len() * 8 + usize::from(self.nbits)
    }

    /// Finishes the RBSP. A partial last byte is padded with zero bits; call
    /// [`BitWriter::rbsp_trailing_bits`] first for a conforming RBSP.
    pub fn into_bytes(mut self) -> Vec<u8> {
        if self.nbits > 0 {
            let pad = 8 - self.nbits;
            self.bytes.push(self.cur << pad);
        }
        self.bytes
    }
}

/// Emulation prevention (7.4.1, "nal_unit semantics"): appends `rbsp` to
/// `out`, inserting `emulation_prevention_three_byte` (0x03) wherever two
/// zero bytes would be followed by a byte in `0x00..=0x03`, and after a final
/// `0x00` byte (which can only be a `cabac_zero_word`).
pub fn escape_rbsp_into(rbsp: &[u8], out: &mut Vec<u8>) {
    out.reserve(rbsp.len() + rbsp.len() / 64 + 1);
    let mut zeros = 0usize;
    for &b in rbsp {
        if zeros >= 2 && b <= 0x03 {
            out.push(0x03);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    if rbsp.last() == Some(&0) {
        out.push(0x03);
    }
}

/// Builds a NAL unit (7.3.1) without start code: header byte
/// `forbidden_zero_bit(0) | nal_ref_idc(2) | nal_unit_type(5)` followed by
/// the escaped RBSP.
pub fn nal_unit(nal_ref_idc: u8, nal_unit_type: u8, rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 2);
    out.push(((nal_ref_idc & 0x03) << 5) | (nal_unit_type & 0x1f));
    escape_rbsp_into(rbsp, &mut out);
    out
}

/// The inverse of [`escape_rbsp_into`] (drops every 0x03 that follows two
/// zero bytes). Used by the tests of this crate to parse what it wrote.
pub fn unescape(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0usize;
    for &b in ebsp {
        if zeros >= 2 && b == 0x03 {
            zeros = 0;
            continue;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    out
}

/// A minimal MSB-first bit reader with Exp-Golomb decoding, for tests.
#[cfg(test)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

#[cfg(test)]
impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }
    pub(crate) fn bit(&mut self) -> bool {
        let byte = self.data[self.pos / 8];
        let b = (byte >> (7 - self.pos % 8)) & 1 == 1;
        self.pos += 1;
        b
    }
    pub(crate) fn u(&mut self, n: u32) -> u64 {
        (0..n).fold(0u64, |acc, _| (acc << 1) | u64::from(self.bit()))
    }
    pub(crate) fn ue(&mut self) -> u32 {
        let mut lz = 0;
        while !self.bit() {
            lz += 1;
        }
        ((1u64 << lz) - 1 + self.u(lz)) as u32
    }
    pub(crate) fn se(&mut self) -> i32 {
        let k = i64::from(self.ue());
        (if k % 2 == 1 { (k + 1) / 2 } else { -k / 2 }) as i32
    }
    pub(crate) fn byte_aligned(&self) -> bool {
        self.pos.is_multiple_of(8)
    }
    pub(crate) fn bits_left(&self) -> usize {
        self.data.len() * 8 - self.pos
    }
    /// `more_rbsp_data()` (7.2): true while something other than the
    /// rbsp_trailing_bits remains.
    pub(crate) fn more_rbsp_data(&self) -> bool {
        let Some(last_nonzero) = self.data.iter().rposition(|&b| b != 0) else {
            return false;
        };
        let stop_bit = last_nonzero * 8 + 7 - self.data[last_nonzero].trailing_zeros() as usize;
        self.pos < stop_bit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits_of(w: BitWriter) -> String {
        let n = w.bit_len();
        let bytes = w.into_bytes();
        (0..n).map(|i| if (bytes[i / 8] >> (7 - i % 8)) & 1 == 1 { '1' } else { '0' }).collect()
    }

    #[test]
    fn ue_codes_match_table_9_2() {
        let table = [
            (0, "1"),
            (1, "010"),
            (2, "011"),
            (3, "00100"),
            (6, "00111"),
            (7, "0001000"),
            (25, "000011010"),
            (30, "000011111"),
        ];
        for (v, want) in table {
            let mut w = BitWriter::new();
            w.ue(v);
            assert_eq!(bits_of(w), want, "ue({v})");
        }
        let mut w = BitWriter::new();
        w.ue(u32::MAX);
        assert_eq!(w.bit_len(), 65);
    }

    #[test]
    fn se_codes_match_table_9_3() {
        for (k, want) in [(0, "1"), (1, "010"), (-1, "011"), (2, "00100"), (-2, "00101")] {
            let mut w = BitWriter::new();
            w.se(k);
            assert_eq!(bits_of(w), want, "se({k})");
        }
    }

    #[test]
    fn u_alignment_and_trailing_bits() {
        let mut w = BitWriter::new();
        w.u(3, 0b101);
        assert!(!w.byte_aligned());
        w.align_zero();
        assert!(w.byte_aligned());
        w.u(16, 0xabcd);
        w.bit(true);
        w.bytes(&[0xff]);
        w.rbsp_trailing_bits();
        assert_eq!(w.into_bytes(), vec![0b1010_0000, 0xab, 0xcd, 0xff, 0xc0]);
    }

    #[test]
    fn reader_roundtrip() {
        let mut w = BitWriter::new();
        for v in [0u32, 1, 2, 77, 65535, 1 << 20] {
            w.ue(v);
        }
        for k in [-5, 0, 3, i32::MIN + 1, i32::MAX] {
            w.se(k);
        }
        w.rbsp_trailing_bits();
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for v in [0u32, 1, 2, 77, 65535, 1 << 20] {
            assert_eq!(r.ue(), v);
        }
        for k in [-5, 0, 3, i32::MIN + 1, i32::MAX] {
            assert_eq!(r.se(), k);
        }
        assert!(!r.more_rbsp_data());
    }

    #[test]
    fn emulation_prevention() {
        let cases: [(&[u8], &[u8]); 7] = [
            (&[0, 0, 0], &[0, 0, 3, 0, 3]),
            (&[0, 0, 1], &[0, 0, 3, 1]),
            (&[0, 0, 2, 0, 0, 3], &[0, 0, 3, 2, 0, 0, 3, 3]),
            (&[0, 0, 4], &[0, 0, 4]),
            (&[0, 0, 0, 0, 0x80], &[0, 0, 3, 0, 0, 0x80]),
            (&[0x10, 0, 0x10, 0, 0], &[0x10, 0, 0x10, 0, 0, 3]),
            (&[], &[]),
        ];
        for (rbsp, want) in cases {
            let mut out = Vec::new();
            escape_rbsp_into(rbsp, &mut out);
            assert_eq!(out, want, "escape {rbsp:02x?}");
            if rbsp.last() != Some(&0) {
                assert_eq!(unescape(&out), rbsp);
            }
        }
        // No start-code emulation survives, for a worst-case payload.
        let rbsp = vec![0u8; 1000];
        let mut out = Vec::new();
        escape_rbsp_into(&rbsp, &mut out);
        assert!(!out.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
    }

    #[test]
    fn nal_header() {
        let nal = nal_unit(3, 7, &[0x42]);
        assert_eq!(nal, vec![0x67, 0x42]);
        assert_eq!(nal_unit(2, 1, &[1])[0], 0x41);
    }
}
