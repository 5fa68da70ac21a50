//! The egress pool (`rtc.egressThreads`): rayon threads that do per-session work of a loop turn
//! on disjoint `&mut Session`s while the engine thread waits — the turn's fan-out
//! (`fanout.rs`) and, for a big batch of received datagrams, their input handling
//! (`rtc.ingressMinDatagrams`, here). Every session still has one owner at any time; the
//! engine's tables, timers and work items stay on the engine thread and are merged back.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use crate::net::{canonical, NetView, ReceivedBatch, WorkerNet};
use crate::peer::{Session, Taken, TimerEntry, Work, WorkerOut};
use crate::shard::Shard;
use crate::table::SessionId;
use crate::udp_batch::SendCounts;

/// The egress pool for `threads` (0: one per available core); `None` for a single thread.
pub(crate) fn egress_pool(threads: usize) -> io::Result<Option<rayon::ThreadPool>> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    if threads <= 1 {
        return Ok(None);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("weir-egress-{i}"))
        .build()
        .map(Some)
        .map_err(io::Error::other)
}

/// What one chunk of a pool pass hands back: the worker's timers and work, plus its own result.
pub(crate) struct PoolChunk<R> {
    pub timers: Vec<TimerEntry>,
    pub work: Vec<Work>,
    pub sent: SendCounts,
    pub result: R,
}

/// Runs `each` on the pool: `targets` cut into one chunk per thread, each chunk with its own
/// [`WorkerOut`] (its socket batch flushed after it).
pub(crate) fn on_pool<T: Send, R: Send>(
    pool: &rayon::ThreadPool,
    view: NetView<'_>,
    targets: &mut [T],
    each: impl Fn(&mut [T], &mut WorkerOut<'_>) -> R + Sync,
) -> Vec<PoolChunk<R>> {
    use rayon::prelude::*;
    let chunk = targets.len().div_ceil(pool.current_num_threads()).max(1);
    pool.install(|| {
        targets
            .par_chunks_mut(chunk)
            .map(|chunk| {
                let mut out = WorkerOut { net: WorkerNet::new(view), timers: Vec::new(), work: Vec::new() };
                let result = each(chunk, &mut out);
                out.net.flush();
                PoolChunk { timers: out.timers, work: out.work, sent: out.net.batch.counts, result }
            })
            .collect()
    })
}

/// What a worker's share of `handle_datagrams_parallel` found besides timers and work.
#[derive(Default)]
struct IngressShare {
    /// (session, source) of every authenticated STUN request, for the consent bookkeeping.
    stun_from: Vec<(SessionId, SocketAddr)>,
    datagrams: u64,
}

impl Shard {
    /// Reads what the UDP socket has (up to `RECV_BATCH` datagrams) and hands it to the
    /// sessions: on the engine thread, or for a batch of `ingressMinDatagrams` or more spread
    /// over the pool (`handle_datagrams_parallel`).
    pub(crate) fn read_udp(&mut self, received: &mut ReceivedBatch) {
        received.clear();
        let Some(udp) = &self.net.udp else { return };
        while let Some(buf) = received.next_buffer() {
            match udp.try_recv_from(buf) {
                Ok((n, src)) => received.push(canonical(src), n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP errors (port unreachable from a departed peer) surface here; harmless.
                    tracing::debug!(error = %e, "UDP receive error");
                    break;
                }
            }
        }
        if self.pool.is_some() && received.len() >= self.cfg.ingress_min_datagrams {
            self.handle_datagrams_parallel(received, Instant::now());
        } else {
            for i in 0..received.len() {
                let (src, data) = received.get(i);
                self.handle_datagram(false, src, data, Instant::now());
            }
        }
    }

    /// A big batch of datagrams, sessions spread over the pool: what the engine thread would do
    /// datagram by datagram (str0m's `handle_input` — SRTP decryption, RTCP, DTLS, ICE — and the
    /// drain of each), done for disjoint sessions at once. The tables (which session, consent,
    /// addresses) and the work the sessions produce stay on the engine thread: demultiplexing
    /// before, bookkeeping and `process_work` after, so the result is the serial path's with each
    /// session's datagrams in arrival order.
    fn handle_datagrams_parallel(&mut self, received: &ReceivedBatch, now: Instant) {
        // (session, datagram) in session order, arrival order within a session.
        let mut routed: Vec<(SessionId, usize)> = Vec::with_capacity(received.len());
        // Addresses first seen in this batch in an authenticated STUN request: on the serial
        // path that request would already have bound the address when the next datagram from
        // it is looked up.
        let mut new_addrs: Vec<(SocketAddr, SessionId)> = Vec::new();
        for i in 0..received.len() {
            let (src, data) = received.get(i);
            let id = self.sessions.route(false, src, data).or_else(|| new_addrs.iter().find(|a| a.0 == src).map(|a| a.1));
            let Some(id) = id else {
                self.answer_unrouted(false, src, data);
                continue;
            };
            routed.push((id, i));
            if crate::demux::is_stun(data) && !self.sessions.is_bound(false, src) && !new_addrs.iter().any(|a| a.0 == src) {
                let authenticated = self.sessions.get_mut(id).is_some_and(|s| s.stun_request_authenticated(data));
                if authenticated {
                    new_addrs.push((src, id));
                }
            }
        }
        routed.sort_unstable_by_key(|&(id, i)| (id.index(), i));
        let Some(pool) = &self.pool else {
            for (_, i) in routed {
                let (src, data) = received.get(i);
                self.handle_datagram(false, src, data, now);
            }
            return;
        };
        // What this turn queued on the engine's own batch leaves first (a session's earlier
        // transmits must not be overtaken by what a worker sends at once).
        self.net.flush();
        // Disjoint `&mut Session`s of the sessions with datagrams, in one pass over the table.
        let mut groups = routed.chunk_by(|a, b| a.0 == b.0).peekable();
        let mut targets: Vec<(&mut Session, &[(SessionId, usize)])> = Vec::new();
        for sess in self.sessions.iter_mut() {
            while groups.peek().is_some_and(|g| g[0].0.index() < sess.handle.index()) {
                groups.next(); // a closed session's datagrams
            }
            let Some(&group) = groups.peek() else { break };
            if group[0].0 == sess.handle {
                groups.next();
                targets.push((sess, group));
            }
        }
        let chunks = on_pool(pool, self.net.view(), &mut targets, |sessions, out| {
            let mut share = IngressShare::default();
            for (sess, datagrams) in sessions.iter_mut() {
                for &(_, i) in datagrams.iter() {
                    let (src, data) = received.get(i);
                    share.datagrams += 1;
                    match sess.receive(false, src, data, now, out) {
                        Taken::Stun => share.stun_from.push((sess.handle, src)),
                        Taken::Other => {}
                        // The session is closing; its later datagrams are dropped.
                        Taken::Dead => break,
                    }
                }
            }
            share
        });
        for chunk in chunks {
            self.timers.extend(chunk.timers);
            self.work.extend(chunk.work);
            self.net.batch.counts += chunk.sent;
            self.ingress_pooled += chunk.result.datagrams;
            for (id, src) in chunk.result.stun_from {
                self.note_stun_from(id, false, src, now);
            }
        }
        self.process_work(now);
    }
}
