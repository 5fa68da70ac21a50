//! The latest units of a track by sequence number, shared by all its sinks to answer
//! retransmission requests (a WebRTC player's NACK): one reference per unit, not a copy per
//! sink as a per-connection resend cache would hold.

use crate::MediaUnit;

#[derive(Debug)]
pub struct RecentUnits {
    slots: Vec<Option<MediaUnit>>,
}

impl RecentUnits {
    pub fn new(capacity: usize) -> Self {
        RecentUnits { slots: vec![None; capacity.max(1)] }
    }

    pub fn push(&mut self, unit: &MediaUnit) {
        let i = (unit.seq % self.slots.len() as u64) as usize;
        match &self.slots[i] {
            Some(old) if old.seq > unit.seq => {} // a late duplicate of something long gone
            _ => self.slots[i] = Some(unit.clone()),
        }
    }

    /// The unit with extended sequence number `seq`, while it is held.
    pub fn get(&self, seq: u64) -> Option<&MediaUnit> {
        self.slots[(seq % self.slots.len() as u64) as usize].as_ref().filter(|u| u.seq == seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_unit;

    #[test]
    fn answers_only_what_it_holds() {
        let mut r = RecentUnits::new(4);
        for s in 10..16 {
            r.push(&test_unit(s, 0, false));
        }
        assert!(r.get(11).is_none(), "overwritten by 15");
        assert_eq!(r.get(15).map(|u| u.seq), Some(15));
        r.push(&test_unit(11, 0, false)); // late duplicate older than what its slot holds
        assert_eq!(r.get(15).map(|u| u.seq), Some(15));
        assert!(r.get(19).is_none());
    }
}
