//! The latest group of pictures of a video track, replayed to a sink that joins so its first
//! picture needs no round trip to the source ("fast start", as ZLMediaKit and SRS do).

use crate::MediaUnit;

#[derive(Debug)]
pub struct GopCache {
    max_units: usize,
    units: Vec<MediaUnit>,
    /// RTP timestamp of the keyframe the cache starts with; None while it waits for one.
    keyframe_ts: Option<u32>,
}

impl GopCache {
    /// A cache that gives up on a GOP longer than `max_units` (0: caches nothing).
    pub fn new(max_units: usize) -> Self {
        Self { max_units, units: Vec::new(), keyframe_ts: None }
    }

    /// Offers a unit of the track.
    pub fn push(&mut self, unit: &MediaUnit) {
        if self.max_units == 0 {
            return;
        }
        if unit.keyframe && self.keyframe_ts != Some(unit.ts) {
            // A new keyframe: the previous GOP is no longer needed.
            self.units.clear();
            self.keyframe_ts = Some(unit.ts);
            self.units.push(unit.clone());
            return;
        }
        if self.keyframe_ts.is_none() {
            return;
        }
        if self.units.len() >= self.max_units {
            // A GOP longer than we are willing to hold: give up until the next keyframe rather
            // than serve a picture with missing references.
            self.clear();
            return;
        }
        // Units mostly arrive in order; retransmissions and reordering are inserted in place.
        match self.units.last() {
            Some(last) if last.seq < unit.seq => self.units.push(unit.clone()),
            _ => {
                if let Err(pos) = self.units.binary_search_by_key(&unit.seq, |u| u.seq) {
                    // Something older than the keyframe with the keyframe's timestamp (e.g. its
                    // SPS reordered behind the IDR) belongs at the front; anything else older is
                    // from the previous GOP and is dropped.
                    if pos > 0 || Some(unit.ts) == self.keyframe_ts {
                        self.units.insert(pos, unit.clone());
                    }
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.units.clear();
        self.keyframe_ts = None;
    }

    /// The cached units from the keyframe on, in sequence order; empty without a keyframe.
    pub fn units(&self) -> &[MediaUnit] {
        if self.keyframe_ts.is_some() { &self.units } else { &[] }
    }

    pub fn has_keyframe(&self) -> bool {
        self.keyframe_ts.is_some() && !self.units.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_unit;

    fn seqs(g: &GopCache) -> Vec<u64> {
        g.units().iter().map(|u| u.seq).collect()
    }

    #[test]
    fn starts_at_keyframe_and_resets_on_next() {
        let mut g = GopCache::new(100);
        g.push(&test_unit(1, 0, false));
        assert!(!g.has_keyframe());
        g.push(&test_unit(2, 3000, true));
        g.push(&test_unit(3, 3000, false));
        g.push(&test_unit(4, 6000, false));
        assert_eq!(seqs(&g), vec![2, 3, 4]);
        g.push(&test_unit(5, 9000, true));
        assert_eq!(seqs(&g), vec![5]);
    }

    #[test]
    fn retransmission_inserted_in_order() {
        let mut g = GopCache::new(100);
        g.push(&test_unit(10, 0, true));
        g.push(&test_unit(12, 0, false));
        g.push(&test_unit(11, 0, false));
        g.push(&test_unit(11, 0, false)); // duplicate ignored
        g.push(&test_unit(9, 0, false)); // SPS reordered behind IDR, same timestamp
        g.push(&test_unit(8, 90, false)); // previous GOP: dropped
        assert_eq!(seqs(&g), vec![9, 10, 11, 12]);
    }

    #[test]
    fn overflow_drops_until_next_keyframe() {
        let mut g = GopCache::new(3);
        g.push(&test_unit(1, 0, true));
        g.push(&test_unit(2, 0, false));
        g.push(&test_unit(3, 0, false));
        g.push(&test_unit(4, 0, false));
        assert!(!g.has_keyframe());
        g.push(&test_unit(5, 10, false));
        assert!(g.units().is_empty());
        g.push(&test_unit(6, 20, true));
        assert!(g.has_keyframe());
    }
}
