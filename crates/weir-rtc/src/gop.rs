//! Cache of the latest group of pictures of a video track, replayed to a new player so its
//! first picture needs no round trip to the publisher ("fast start", as ZLMediaKit and SRS do).

use std::sync::Arc;
use std::time::Instant;

use str0m::media::Pt;

#[derive(Debug, Clone)]
pub struct CachedPacket {
    pub seq: u64,
    pub ts: u32,
    pub pt: Pt,
    pub marker: bool,
    pub payload: Arc<[u8]>,
    pub arrival: Instant,
}

#[derive(Debug)]
pub struct GopCache {
    max_packets: usize,
    packets: Vec<CachedPacket>,
    /// RTP timestamp of the keyframe the cache starts with; None while we wait for one.
    keyframe_ts: Option<u32>,
}

impl GopCache {
    pub fn new(max_packets: usize) -> Self {
        Self { max_packets, packets: Vec::new(), keyframe_ts: None }
    }

    /// Offers a packet of the track. `keyframe_start` says whether it begins a keyframe.
    pub fn push(&mut self, pkt: CachedPacket, keyframe_start: bool) {
        if self.max_packets == 0 {
            return;
        }
        if keyframe_start && self.keyframe_ts != Some(pkt.ts) {
            // A new keyframe: the previous GOP is no longer needed.
            self.packets.clear();
            self.keyframe_ts = Some(pkt.ts);
            self.packets.push(pkt);
            return;
        }
        if self.keyframe_ts.is_none() {
            return;
        }
        if self.packets.len() >= self.max_packets {
            // GOP longer than we are willing to hold: give up until the next keyframe rather
            // than serve a picture with missing references.
            self.clear();
            return;
        }
        // Packets mostly arrive in order; retransmissions and reordering are inserted in place.
        match self.packets.last() {
            Some(last) if last.seq < pkt.seq => self.packets.push(pkt),
            _ => {
                if let Err(pos) = self.packets.binary_search_by_key(&pkt.seq, |p| p.seq) {
                    // Something older than the keyframe with the keyframe's timestamp (e.g. its
                    // SPS reordered behind the IDR) belongs at the front; anything else older is
                    // from the previous GOP and is dropped.
                    if pos > 0 || Some(pkt.ts) == self.keyframe_ts {
                        self.packets.insert(pos, pkt);
                    }
                }
            }
        }
    }

    pub fn clear(&mut self) {
        self.packets.clear();
        self.keyframe_ts = None;
    }

    pub fn packets(&self) -> &[CachedPacket] {
        if self.keyframe_ts.is_some() { &self.packets } else { &[] }
    }

    pub fn has_keyframe(&self) -> bool {
        self.keyframe_ts.is_some() && !self.packets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u64, ts: u32) -> CachedPacket {
        CachedPacket { seq, ts, pt: 96.into(), marker: false, payload: Arc::from(&[0u8][..]), arrival: Instant::now() }
    }

    #[test]
    fn starts_at_keyframe_and_resets_on_next() {
        let mut g = GopCache::new(100);
        g.push(pkt(1, 0), false);
        assert!(!g.has_keyframe());
        g.push(pkt(2, 3000), true);
        g.push(pkt(3, 3000), false);
        g.push(pkt(4, 6000), false);
        assert_eq!(g.packets().iter().map(|p| p.seq).collect::<Vec<_>>(), vec![2, 3, 4]);
        g.push(pkt(5, 9000), true);
        assert_eq!(g.packets().iter().map(|p| p.seq).collect::<Vec<_>>(), vec![5]);
    }

    #[test]
    fn retransmission_inserted_in_order() {
        let mut g = GopCache::new(100);
        g.push(pkt(10, 0), true);
        g.push(pkt(12, 0), false);
        g.push(pkt(11, 0), false);
        g.push(pkt(11, 0), false); // duplicate ignored
        g.push(pkt(9, 0), false); // SPS reordered behind IDR, same timestamp
        g.push(pkt(8, 90), false); // previous GOP: dropped
        assert_eq!(g.packets().iter().map(|p| p.seq).collect::<Vec<_>>(), vec![9, 10, 11, 12]);
    }

    #[test]
    fn overflow_drops_until_next_keyframe() {
        let mut g = GopCache::new(3);
        g.push(pkt(1, 0), true);
        g.push(pkt(2, 0), false);
        g.push(pkt(3, 0), false);
        g.push(pkt(4, 0), false);
        assert!(!g.has_keyframe());
        g.push(pkt(5, 10), false);
        assert!(g.packets().is_empty());
        g.push(pkt(6, 20), true);
        assert!(g.has_keyframe());
    }
}
