//! Fast start: a player that connects to a running stream is sent the stream's cached GOP (from
//! its last keyframe on) so it can show a picture without a round trip to the source, as
//! ZLMediaKit and SRS do. The replay is paced: [`FAST_START_BURST`] packets at once (a keyframe
//! of a few hundred kbit/s fits, so the first picture is not delayed), the rest at
//! [`REPLAY_PACKETS_PER_MS`].
//!
//! Why paced: a GOP is often 150-300 packets. Sent at once (one `sendmmsg`), it arrives faster
//! than a player reads; a non-browser stack on the kernel's default receive buffer (212,992
//! bytes, about 90 full-size datagrams with their overhead) drops the rest. pion lost 60-80
//! packets so at every join, and their NACKed resends then fell outside its SRTP replay window
//! (64 packets), so they were lost for good.
//!
//! While a replay runs, the player's live video is not written to it: the live units go into the
//! same cache and the replay reaches them in order. When it has caught up, live video resumes
//! after the last unit it sent (`Player::video_live_after`). A new keyframe during the replay
//! restarts the cache and the replay goes on with it; a new source epoch ends the replay
//! (the player then waits for the new source's keyframe, `play::write_to_player`).

use std::time::{Duration, Instant};

use tracing::debug;
use weir_stream::{MediaExt, MediaKind, Stream};

use crate::peer::{note_media_written, Role, Session};
use crate::play::{write_to_player, Delivery, Player, PlayerWrite};
use crate::shard::Shard;
use crate::table::SessionId;

/// Packets of the cached GOP sent when the player connects.
pub const FAST_START_BURST: usize = 64;

/// Pace of the rest of the replay: 16 packets per millisecond is ~150 Mbit/s of 1,200-byte
/// packets, so a 300-packet GOP is replayed in ~15 ms.
pub const REPLAY_PACKETS_PER_MS: f64 = 16.0;

/// How often a running replay is continued.
pub const REPLAY_TICK: Duration = Duration::from_millis(1);

/// A cached-GOP replay under way to one player.
#[derive(Debug, Clone, Copy)]
pub struct GopReplay {
    /// Source epoch the replay belongs to.
    epoch: u32,
    /// Source sequence number of the next unit to send.
    next_seq: u64,
    /// Packets the pace allows now, and when that was worked out.
    tokens: f64,
    at: Instant,
}

/// What one replay step did.
struct Step {
    sent: u64,
    /// Something was queued on the player (it is to be sent at the end of the turn).
    written: bool,
    done: bool,
}

/// Sends up to `budget` units of the cached GOP from `next_seq` on.
fn replay_step(
    sess: &mut Session,
    stream: &Stream<SessionId>,
    replay: &mut GopReplay,
    budget: usize,
    now: Instant,
) -> Step {
    let Some((_, track)) = stream.track_of_kind(MediaKind::Video) else {
        return Step {
            sent: 0,
            written: false,
            done: true,
        };
    };
    if stream.epoch() != replay.epoch {
        return Step {
            sent: 0,
            written: false,
            done: true,
        };
    }
    let gop = track.gop();
    let start = gop.partition_point(|u| u.seq < replay.next_seq);
    let no_ext = MediaExt::default();
    let (mut sent, mut written) = (0, false);
    for (i, unit) in gop.iter().enumerate().skip(start).take(budget) {
        // The GOP's first unit starts the picture (its keyframe flag may sit on the IDR behind
        // a parameter-set packet).
        let d = Delivery {
            unit,
            epoch: replay.epoch,
            kind: MediaKind::Video,
            desc: &track.desc,
            keyframe: i == 0,
            ext: &no_ext,
        };
        written |= matches!(write_to_player(sess, &d, now), PlayerWrite::Written);
        replay.next_seq = unit.seq + 1;
        sent += 1;
    }
    sess.counters.fast_start_packets += sent;
    // Every video packet sent so far is a replay packet (live video waits), so a resend of
    // any of them is rebuilt without extensions (`play.rs`, `on_nack`).
    if let Role::Player(Player {
        video: Some(dt), ..
    }) = &mut sess.role
    {
        let last = dt.rewriter.last_out_seq();
        if let Some(track) = dt.direct.as_mut() {
            track.fast_start_last = last;
        }
    }
    Step {
        sent,
        written,
        done: start + sent as usize >= gop.len(),
    }
}

/// Ends a replay: live video resumes after its last unit.
fn finish(sess: &mut Session, replay: &GopReplay) {
    if let Role::Player(p) = &mut sess.role {
        p.replay = None;
        p.video_live_after = Some((replay.epoch, replay.next_seq));
    }
}

impl Shard {
    /// A player's DTLS is up: switch it to direct egress if it can, and start the GOP replay.
    pub(crate) fn on_player_connected(&mut self, id: SessionId, now: Instant) {
        let Some(sess) = self.sessions.get_mut(id) else {
            return;
        };
        let Some(sid) = sess.stream else { return };
        if !matches!(sess.role, Role::Player(_)) {
            return;
        }
        crate::play::setup_direct_egress(sess);
        let Some(stream) = self.hub.get(sid) else {
            return;
        };
        // Units queued for this turn's fan-out are in the GOP replayed below (video) or
        // predate the player (audio).
        sess.fanout_after = stream.fanout_count();
        let Some((_, track)) = stream.track_of_kind(MediaKind::Video) else {
            return;
        };
        let Some(first) = track.gop().first() else {
            self.request_keyframe(sid, now);
            return;
        };
        let mut replay = GopReplay {
            epoch: stream.epoch(),
            next_seq: first.seq,
            tokens: 0.0,
            at: now,
        };
        let step = replay_step(sess, stream, &mut replay, FAST_START_BURST, now);
        if step.written {
            note_media_written(sess, &mut self.media_written);
        }
        debug!(session = %sess.id, stream = %sess.key, packets = step.sent, of = track.gop().len(), "fast start: cached GOP");
        if step.done {
            finish(sess, &replay);
        } else if let Role::Player(p) = &mut sess.role {
            p.replay = Some(replay);
            self.replays.push(id);
        }
        let waits = matches!(&sess.role, Role::Player(Player { video: Some(dt), .. }) if dt.waiting_keyframe);
        if waits {
            self.request_keyframe(sid, now);
        }
    }

    /// When the running replays are next continued.
    pub(crate) fn replay_deadline(&self) -> Option<Instant> {
        (!self.replays.is_empty()).then(|| self.replays_at + REPLAY_TICK)
    }

    /// Continues the running replays at their pace.
    pub(crate) fn continue_replays(&mut self, now: Instant) {
        if self.replays.is_empty() || now < self.replays_at + REPLAY_TICK {
            return;
        }
        self.replays_at = now;
        let mut replays = std::mem::take(&mut self.replays);
        replays.retain(|&id| {
            let Some(sess) = self.sessions.get_mut(id) else {
                return false;
            };
            let Some(stream) = sess.stream.and_then(|s| self.hub.get(s)) else {
                return false;
            };
            let Role::Player(Player {
                replay: Some(mut replay),
                ..
            }) = sess.role
            else {
                return false;
            };
            let elapsed = now.saturating_duration_since(replay.at).as_secs_f64() * 1000.0;
            replay.tokens =
                (replay.tokens + elapsed * REPLAY_PACKETS_PER_MS).min(FAST_START_BURST as f64);
            replay.at = now;
            let budget = replay.tokens as usize;
            let step = replay_step(sess, stream, &mut replay, budget, now);
            replay.tokens -= step.sent as f64;
            if step.written {
                note_media_written(sess, &mut self.media_written);
            }
            if step.done {
                debug!(session = %sess.id, stream = %sess.key, "fast start: replay caught up");
                finish(sess, &replay);
                return false;
            }
            if let Role::Player(p) = &mut sess.role {
                p.replay = Some(replay);
            }
            true
        });
        self.replays = replays;
    }
}
