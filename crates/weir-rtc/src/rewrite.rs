//! Per-player rewrite of RTP sequence numbers and timestamps.
//!
//! A player sees one continuous RTP stream for the life of its session, even when the publisher
//! behind it reconnects (new SSRC, new random sequence and timestamp bases) or when it joins in
//! the middle of a stream. Each new *source epoch* is spliced onto the output: sequence numbers
//! continue at +1, and the timestamp advances by the wall-clock time since the last packet so
//! the player's jitter buffer sees a gap, not a jump backwards.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Rewriter {
    clock_rate: u32,
    state: Option<Splice>,
    /// Last output: extended sequence number, RTP timestamp and when it was sent.
    last_out: Option<(u64, u32, Instant)>,
}

#[derive(Debug, Clone, Copy)]
struct Splice {
    epoch: u32,
    in_seq_base: u64,
    out_seq_base: u64,
    in_ts_base: u32,
    out_ts_base: u32,
}

/// Start of output sequence numbers. Kept well below 2^16 so the SRTP rollover counter starts
/// at 0 without out-of-band signaling (RFC 3711 section 3.3.1).
const FIRST_OUT_SEQ: u64 = 1000;

impl Rewriter {
    pub fn new(clock_rate: u32) -> Self {
        Self { clock_rate: clock_rate.max(1), state: None, last_out: None }
    }

    /// Forgets the current splice: the next packet starts a new one (after a new source, or when
    /// a video player must restart at a keyframe).
    pub fn reset(&mut self) {
        self.state = None;
    }

    pub fn is_started(&self) -> bool {
        self.state.is_some()
    }

    /// Source epoch of the current splice.
    pub fn epoch(&self) -> Option<u32> {
        self.state.map(|s| s.epoch)
    }

    /// Maps an input packet (`in_seq` extended, `in_ts` RTP timestamp) of source `epoch` to the
    /// output sequence number and timestamp. `None` means drop: the packet is older than the
    /// start of the current splice (a late retransmission from before the player joined).
    pub fn map(&mut self, epoch: u32, in_seq: u64, in_ts: u32, now: Instant) -> Option<(u64, u32)> {
        let splice = match self.state {
            Some(s) if s.epoch == epoch => s,
            _ => {
                let (out_seq_base, out_ts_base) = match self.last_out {
                    None => (FIRST_OUT_SEQ, rand::random::<u32>() >> 1),
                    Some((seq, ts, at)) => {
                        let elapsed = now.saturating_duration_since(at).as_secs_f64();
                        let ticks = ((elapsed * self.clock_rate as f64) as u64).clamp(1, u32::MAX as u64 / 2) as u32;
                        (seq + 1, ts.wrapping_add(ticks))
                    }
                };
                let s = Splice { epoch, in_seq_base: in_seq, out_seq_base, in_ts_base: in_ts, out_ts_base };
                self.state = Some(s);
                s
            }
        };
        if in_seq < splice.in_seq_base {
            return None;
        }
        let out_seq = splice.out_seq_base + (in_seq - splice.in_seq_base);
        let out_ts = splice.out_ts_base.wrapping_add(in_ts.wrapping_sub(splice.in_ts_base));
        match self.last_out {
            Some((seq, _, _)) if seq >= out_seq => {} // retransmission or reordering: keep the newest
            _ => self.last_out = Some((out_seq, out_ts, now)),
        }
        Some((out_seq, out_ts))
    }
}

impl Rewriter {
    /// The newest output sequence number (extended), if any packet was mapped.
    pub fn last_out_seq(&self) -> Option<u64> {
        self.last_out.map(|(seq, _, _)| seq)
    }

    /// The inverse of [`Rewriter::map`] within the current splice: the input sequence number an
    /// output sequence number was made from (to answer a player's NACK from the source's
    /// packets). `None` before the splice (another source epoch: not ours to resend).
    pub fn source_seq(&self, out_seq: u64) -> Option<u64> {
        let s = self.state?;
        let offset = out_seq.checked_sub(s.out_seq_base)?;
        Some(s.in_seq_base + offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn continuous_within_epoch() {
        let mut r = Rewriter::new(90_000);
        let t = Instant::now();
        let (s0, t0) = r.map(1, 50_000, 1_000, t).unwrap();
        assert_eq!(s0, FIRST_OUT_SEQ);
        assert_eq!(r.map(1, 50_001, 4_000, t), Some((s0 + 1, t0.wrapping_add(3_000))));
        // Reordered packet inside the splice keeps its relative position.
        assert_eq!(r.map(1, 50_003, 7_000, t), Some((s0 + 3, t0.wrapping_add(6_000))));
        assert_eq!(r.map(1, 50_002, 7_000, t), Some((s0 + 2, t0.wrapping_add(6_000))));
        // Older than the splice start: dropped.
        assert_eq!(r.map(1, 49_999, 0, t), None);
    }

    #[test]
    fn new_epoch_continues_sequence_and_advances_time() {
        let mut r = Rewriter::new(90_000);
        let t = Instant::now();
        let (s0, t0) = r.map(1, 10, 100, t).unwrap();
        let (s1, t1) = r.map(1, 11, 3_100, t).unwrap();
        assert_eq!((s1, t1), (s0 + 1, t0.wrapping_add(3_000)));
        // Publisher reconnects 2 s later with completely different bases.
        let later = t + Duration::from_secs(2);
        let (s2, t2) = r.map(2, 40_000, 9_999_999, later).unwrap();
        assert_eq!(s2, s1 + 1);
        assert_eq!(t2, t1.wrapping_add(180_000));
        assert_eq!(r.map(2, 40_001, 10_002_999, later), Some((s2 + 1, t2.wrapping_add(3_000))));
    }

    #[test]
    fn source_seq_inverts_the_current_splice() {
        let mut r = Rewriter::new(90_000);
        let t = Instant::now();
        let (s0, _) = r.map(1, 70_000, 0, t).unwrap();
        let (s1, _) = r.map(1, 70_009, 0, t).unwrap();
        assert_eq!(r.source_seq(s1), Some(70_009));
        assert_eq!(r.source_seq(s0 + 4), Some(70_004));
        assert_eq!(r.last_out_seq(), Some(s1));
        // After a new epoch the old output numbers map to nothing of the new source.
        let (s2, _) = r.map(2, 5, 0, t).unwrap();
        assert_eq!(r.source_seq(s2), Some(5));
        assert_eq!(r.source_seq(s1), None);
    }

    #[test]
    fn timestamp_wraps() {
        let mut r = Rewriter::new(48_000);
        let t = Instant::now();
        let (_, t0) = r.map(1, 1, u32::MAX - 10, t).unwrap();
        let (_, t1) = r.map(1, 2, 950, t).unwrap();
        assert_eq!(t1.wrapping_sub(t0), 961);
    }

    #[test]
    fn reset_restarts_after_last_output() {
        let mut r = Rewriter::new(90_000);
        let t = Instant::now();
        let (s0, _) = r.map(1, 5, 0, t).unwrap();
        r.reset();
        let (s1, _) = r.map(1, 900, 0, t).unwrap();
        assert_eq!(s1, s0 + 1);
    }
}
