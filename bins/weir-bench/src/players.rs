//! Threads that hold many lite players: one epoll set per thread, `recvmmsg` per ready socket,
//! kernel receive timestamps, timers scanned every few milliseconds. Commands (connect, delete)
//! arrive over a channel so scenarios can create and end sessions while media flows.

use crate::lite::{Histogram, Identity, LitePlayer, Options, Phase, PlayerStats, Window};
use crate::sys::{Epoll, RecvBatch, BATCH};
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// State every worker and the scenario driver share.
#[derive(Default)]
pub struct Shared {
    pub window_start_ntp: AtomicU64,
    pub window_end_ntp: AtomicU64,
    pub stop: AtomicBool,
    /// Counters of transitions, for the driver to wait on.
    pub created: AtomicUsize,
    pub connect_failed: AtomicUsize,
    pub media: AtomicUsize,
    pub keyed: AtomicUsize,
    pub died: AtomicUsize,
    pub deleted: AtomicUsize,
}

impl Shared {
    pub fn window(&self) -> Window {
        Window {
            start_ntp: self.window_start_ntp.load(Ordering::Relaxed),
            end_ntp: match self.window_end_ntp.load(Ordering::Relaxed) {
                0 => u64::MAX,
                e => e,
            },
        }
    }
}

pub enum Cmd {
    /// POST an offer to `url`; `tag` names the player (e.g. its stream index in the high bits).
    Connect { url: String, tag: u64 },
    /// DELETE the session of `tag` and keep its results.
    Delete { tag: u64 },
    /// DELETE every live session.
    DeleteAll,
}

#[derive(Default)]
pub struct Report {
    /// (tag, stats) of every player this worker held, live or ended.
    pub players: Vec<(u64, PlayerStats)>,
    pub connect_errors: Vec<String>,
    pub hist: Histogram,
}

struct Entry {
    tag: u64,
    player: LitePlayer,
    seen_media: bool,
    seen_key: bool,
    seen_dead: bool,
}

pub struct Worker {
    pub tx: Sender<Cmd>,
    pub handle: JoinHandle<Report>,
}

/// Starts a worker thread (pinned to `core` when given).
pub fn spawn(core: Option<usize>, id: Arc<Identity>, opts: Options, shared: Arc<Shared>, batch: Duration) -> Worker {
    let (tx, rx) = channel();
    let handle = std::thread::spawn(move || {
        if let Some(c) = core {
            let _ = crate::sys::pin_to_core(c);
        }
        run(rx, id, opts, shared, batch)
    });
    Worker { tx, handle }
}

fn run(rx: Receiver<Cmd>, id: Arc<Identity>, opts: Options, shared: Arc<Shared>, batch: Duration) -> Report {
    let mut report = Report::default();
    let epoll = match Epoll::new() {
        Ok(e) => e,
        Err(e) => {
            report.connect_errors.push(e);
            return report;
        }
    };
    let mut slots: Vec<Option<Entry>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut by_tag: HashMap<u64, usize> = HashMap::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
    let mut ready: Vec<u64> = Vec::new();
    let mut rbatch = RecvBatch::default();
    let mut next_scan = Instant::now();
    let mut channel_open = true;

    let end = |e: Entry, report: &mut Report, epoll: &Epoll| {
        epoll.remove(e.player.sock.as_raw_fd());
        report.players.push((e.tag, e.player.stats));
    };

    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        // Commands: a few per turn so receiving keeps going while sessions are created.
        for _ in 0..4 {
            if !channel_open {
                break;
            }
            match rx.try_recv() {
                Ok(Cmd::Connect { url, tag }) => match LitePlayer::connect(&url, &id, opts) {
                    Ok(player) => {
                        let idx = free.pop().unwrap_or_else(|| {
                            slots.push(None);
                            slots.len() - 1
                        });
                        if let Err(e) = epoll.add(player.sock.as_raw_fd(), idx as u64) {
                            report.connect_errors.push(e);
                            shared.connect_failed.fetch_add(1, Ordering::Relaxed);
                            free.push(idx);
                            continue;
                        }
                        slots[idx] = Some(Entry { tag, player, seen_media: false, seen_key: false, seen_dead: false });
                        by_tag.insert(tag, idx);
                        shared.created.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        if report.connect_errors.len() < 20 {
                            report.connect_errors.push(e);
                        }
                        shared.connect_failed.fetch_add(1, Ordering::Relaxed);
                    }
                },
                Ok(Cmd::Delete { tag }) => {
                    if let Some(idx) = by_tag.remove(&tag) {
                        if let Some(e) = slots[idx].take() {
                            e.player.delete();
                            end(e, &mut report, &epoll);
                            free.push(idx);
                            shared.deleted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok(Cmd::DeleteAll) => {
                    for (idx, slot) in slots.iter_mut().enumerate() {
                        if let Some(e) = slot.take() {
                            e.player.delete();
                            by_tag.remove(&e.tag);
                            end(e, &mut report, &epoll);
                            free.push(idx);
                            shared.deleted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => channel_open = false,
            }
        }

        let now = Instant::now();
        let wait_ms = next_scan.saturating_duration_since(now).as_millis().min(10) as i32;
        epoll.wait(&mut events, wait_ms, &mut ready);
        let window = shared.window();
        let now = Instant::now();
        for &tok in &ready {
            let Some(Some(e)) = slots.get_mut(tok as usize) else { continue };
            let fd = e.player.sock.as_raw_fd();
            // Drain the socket: one recvmmsg normally takes all of it.
            for _ in 0..8 {
                let n = rbatch.recv(fd);
                for i in 0..n {
                    let (data, ntp) = rbatch.get(i);
                    e.player.on_datagram(data, ntp, now, &window, &mut report.hist);
                }
                if n < BATCH {
                    break;
                }
            }
        }
        if now >= next_scan {
            for e in slots.iter_mut().flatten() {
                if now >= e.player.next_deadline() {
                    e.player.on_timer(now);
                }
                if !e.seen_media && e.player.phase == Phase::Media {
                    e.seen_media = true;
                    shared.media.fetch_add(1, Ordering::Relaxed);
                }
                if !e.seen_key && e.player.stats.to_first_key.is_some() {
                    e.seen_key = true;
                    shared.keyed.fetch_add(1, Ordering::Relaxed);
                }
                if !e.seen_dead && e.player.is_dead() {
                    e.seen_dead = true;
                    shared.died.fetch_add(1, Ordering::Relaxed);
                }
            }
            next_scan = now + Duration::from_millis(5);
        }
        // Let packets pile up a little: one recvmmsg then returns several (latency is taken from
        // the kernel's receive timestamps, so this does not change what is measured).
        if !batch.is_zero() && !ready.is_empty() {
            std::thread::sleep(batch);
        }
    }
    for e in slots.into_iter().flatten() {
        report.players.push((e.tag, e.player.stats));
    }
    report
}
