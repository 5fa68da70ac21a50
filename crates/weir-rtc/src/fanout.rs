//! The end of a loop turn: the one fan-out path. Units a stream took in this turn (`Hub::push`)
//! are written to its players **player by player** (all of a player's units, then its send, then
//! the next player), so the first datagrams leave while later players' are still being
//! encrypted, a player's state is touched once per turn, and a burst to one player leaves as one
//! GSO message. Sessions written to outside the fan-out (fast start, RTX, echo) are sent here
//! too. With `egressMinPlayers` players to write in the turn (one big stream or many small ones)
//! the egress pool does it on disjoint sessions; below that the engine thread does.

use std::time::Instant;

use weir_stream::{FanoutItem, StreamId, StreamTrack};

use crate::peer::{Role, Session, ThreadOut};
use crate::play::{write_fanout, Routes};
use crate::pool::on_pool;
use crate::shard::Shard;
use crate::udp_batch::SendCounts;

impl Shard {
    /// Sends what this turn wrote: one `Input::Timeout` per session whose `Rtc` was written to
    /// (str0m releases written packets only then; a `poll_output` right after `write_rtp` only
    /// reports an already-due timeout, so the engine does not poll between writes), then its
    /// direct-egress datagrams. Runs at the end of every loop turn, before the `sendmmsg` flush.
    pub(crate) fn send_written_media(&mut self) {
        let now = Instant::now();
        loop {
            self.hub.fanout_pending(&mut self.fanout_streams);
            if self.fanout_streams.is_empty() && self.media_written.is_empty() {
                return;
            }
            // The pool is worth its hand-over only for a turn with enough players to write.
            let parallel = self.pool.is_some() && {
                let players: usize = self.fanout_streams.iter().filter_map(|&s| self.hub.get(s)).map(|s| s.local_sinks().len()).sum();
                players + self.media_written.len() >= self.cfg.egress_min_players
            };
            if parallel {
                self.send_written_parallel(now);
            } else {
                self.send_written_serial(now);
            }
            // Events of the drained sessions (a publisher's reordered packets, keyframe
            // requests) may queue more units; those are sent in the next pass.
            self.process_work(now);
        }
    }

    fn send_written_serial(&mut self, now: Instant) {
        let mut want_keyframe: Vec<StreamId> = Vec::new();
        let streams = std::mem::take(&mut self.fanout_streams);
        for &sid in &streams {
            let items = self.hub.take_fanout(sid);
            let Shard { hub, sessions, net, timers, work, .. } = self;
            let mut out = ThreadOut { net, timers, work };
            if let Some(stream) = hub.get(sid) {
                let routes = Routes::of(stream.tracks());
                let mut wants = false;
                for &p in stream.local_sinks() {
                    let Some(sess) = sessions.get_mut(p) else { continue };
                    let (written, w) = write_fanout(sess, &items, stream.tracks(), &routes, now);
                    wants |= w;
                    if std::mem::take(&mut sess.media_written) || written {
                        sess.send_written(now, &mut out);
                    }
                }
                if wants {
                    want_keyframe.push(sid);
                }
            }
            self.hub.return_fanout(sid, items);
        }
        self.fanout_streams = streams;
        for id in std::mem::take(&mut self.media_written) {
            let Shard { sessions, net, timers, work, .. } = self;
            if let Some(sess) = sessions.get_mut(id) {
                if std::mem::take(&mut sess.media_written) {
                    sess.send_written(now, &mut ThreadOut { net, timers, work });
                }
            }
        }
        for sid in want_keyframe {
            self.request_keyframe(sid, now);
        }
    }

    fn send_written_parallel(&mut self, now: Instant) {
        // Datagrams this turn queued on the engine's own batch (an earlier serial pass, RTCP)
        // leave first: the workers send at once, and a player must not see its packets reordered.
        self.net.flush();
        self.media_written.clear();
        let mut queued: Vec<(StreamId, Vec<FanoutItem>)> = Vec::with_capacity(self.fanout_streams.len());
        for &sid in &self.fanout_streams {
            queued.push((sid, self.hub.take_fanout(sid)));
        }
        let chunks = {
            let Some(pool) = &self.pool else { return };
            // What a worker needs of each stream: its items, its tracks and their routes.
            let streams: Vec<(StreamId, &[FanoutItem], &[StreamTrack], Routes)> = queued
                .iter()
                .filter_map(|(sid, items)| {
                    let tracks = self.hub.get(*sid)?.tracks();
                    Some((*sid, items.as_slice(), tracks, Routes::of(tracks)))
                })
                .collect();
            // By stream slot, the position in `streams` (`u32::MAX`: none).
            let slots = streams.iter().map(|s| s.0.index() + 1).max().unwrap_or(0);
            let mut of_slot = vec![u32::MAX; slots];
            for (i, s) in streams.iter().enumerate() {
                of_slot[s.0.index()] = i as u32;
            }
            // One pass over the table hands out disjoint `&mut Session`s: the players of the
            // streams with items, and every session flagged as written to.
            let mut targets: Vec<(&mut Session, Option<usize>)> = Vec::new();
            for sess in self.sessions.iter_mut() {
                let mine = sess
                    .stream
                    .and_then(|sid| of_slot.get(sid.index()).copied().filter(|&i| i != u32::MAX).map(|i| (sid, i as usize)))
                    .filter(|&(sid, i)| streams[i].0 == sid && matches!(sess.role, Role::Player(_)))
                    .map(|(_, i)| i);
                if mine.is_some() || sess.media_written {
                    targets.push((sess, mine));
                }
            }
            let streams = &streams;
            on_pool(pool, self.net.view(), &mut targets, |sessions, out| {
                let mut want_keyframe: Vec<StreamId> = Vec::new();
                for (sess, mine) in sessions.iter_mut() {
                    let mut written = std::mem::take(&mut sess.media_written);
                    if let Some(i) = *mine {
                        let (sid, items, tracks, routes) = &streams[i];
                        let (w, wants) = write_fanout(sess, items, tracks, routes, now);
                        written |= w;
                        if wants && !want_keyframe.contains(sid) {
                            want_keyframe.push(*sid);
                        }
                    }
                    if written {
                        sess.send_written(now, out);
                    }
                }
                want_keyframe
            })
        };
        for chunk in chunks {
            self.timers.extend(chunk.timers);
            self.work.extend(chunk.work);
            self.net.batch.counts += SendCounts { pooled: chunk.sent.datagrams, ..chunk.sent };
            for sid in chunk.result {
                // At most once per keyframeRequestIntervalMS per stream.
                self.request_keyframe(sid, now);
            }
        }
        for (sid, items) in queued {
            self.hub.return_fanout(sid, items);
        }
    }
}
