//! Batched UDP sends: the datagrams of one engine loop turn (or of one egress worker's share of
//! it) leave in `sendmmsg(2)` calls, and a run of same-size datagrams to one peer (the packets of
//! a video frame, a keyframe burst, a fast-start GOP) leaves as one UDP GSO message
//! (`UDP_SEGMENT`, Linux 4.18+): the kernel walks its send path once for the whole run and cuts
//! the segments at the end, which is most of the cost of a send on this path.
//!
//! Written by hand because the crates that do batched/GSO UDP (quinn-udp) are built around
//! one destination per `Transmit` with pre-segmented buffers, while here the runs are found
//! after the fact among datagrams str0m produced one by one.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::SockAddr;
use tracing::{debug, warn};

/// Messages (single datagrams or GSO runs) per `sendmmsg` call.
const MESSAGES_PER_CALL: usize = 64;
/// Datagrams queued before a flush is forced; also the most datagrams one call carries.
pub const MAX_PENDING: usize = 128;
/// At most this many segments in one GSO message (the kernel allows 64, `UDP_MAX_SEGMENTS`).
const GSO_MAX_SEGMENTS: usize = 32;
/// A GSO message is one UDP datagram before segmentation: below 64 KiB with headers.
const GSO_MAX_BYTES: usize = 60_000;

/// Cleared for the whole process the first time the kernel refuses a GSO message (an old
/// kernel, or a route through a device without checksum offload: `EIO`/`EINVAL`); from then on
/// every datagram is a message of its own.
static GSO_USABLE: AtomicBool = AtomicBool::new(true);

/// False once the kernel has refused a GSO message.
pub fn gso_usable() -> bool {
    GSO_USABLE.load(Ordering::Relaxed)
}

/// One message of a `sendmmsg` call: `count` queued datagrams from `first` on, cut by the
/// kernel into `segment`-byte datagrams when `count > 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Message {
    first: usize,
    count: usize,
    segment: usize,
}

/// What a [`UdpBatch`] has sent so far (the engine adds its workers' counts to its own and
/// publishes them in `/api/v1/server`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendCounts {
    /// Datagrams the kernel took (a GSO message counts its segments).
    pub datagrams: u64,
    /// Messages the kernel took: one per datagram, one per GSO run.
    pub messages: u64,
    /// Messages that were GSO runs of two datagrams or more.
    pub gso_messages: u64,
    /// `sendmmsg(2)` calls.
    pub calls: u64,
    /// Datagrams (and TCP frames) dropped because a socket buffer or queue was full.
    pub drops: u64,
    /// Datagrams built by the direct egress path (`direct.rs`), not by str0m.
    pub direct: u64,
    /// Datagrams sent by the egress pool's threads (the rest by the engine thread).
    pub pooled: u64,
}

impl std::ops::AddAssign for SendCounts {
    fn add_assign(&mut self, o: SendCounts) {
        self.datagrams += o.datagrams;
        self.messages += o.messages;
        self.gso_messages += o.gso_messages;
        self.calls += o.calls;
        self.drops += o.drops;
        self.direct += o.direct;
        self.pooled += o.pooled;
    }
}

/// UDP datagrams queued for `sendmmsg(2)` instead of one `sendto` each.
#[derive(Default)]
pub struct UdpBatch {
    pending: Vec<(SockAddr, Vec<u8>)>,
    pub counts: SendCounts,
}

impl UdpBatch {
    pub fn with_capacity() -> Self {
        UdpBatch { pending: Vec::with_capacity(MAX_PENDING), counts: SendCounts::default() }
    }

    /// Queues one datagram; true when the queue is full and should be flushed.
    pub fn push(&mut self, dest: SockAddr, datagram: Vec<u8>) -> bool {
        self.pending.push((dest, datagram));
        self.pending.len() >= MAX_PENDING
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }

    /// Sends every queued datagram on `fd`. A full socket buffer drops the rest of the batch
    /// (UDP semantics; the peers' NACK/PLI recover), other errors skip one message.
    pub fn flush(&mut self, fd: RawFd) {
        let mut done = 0;
        while done < self.pending.len() {
            let gso = GSO_USABLE.load(Ordering::Relaxed);
            let mut messages = [Message { first: 0, count: 0, segment: 0 }; MESSAGES_PER_CALL];
            let planned = plan(&self.pending[done..], gso, &mut messages);
            self.counts.calls += 1;
            match send_messages(fd, &self.pending[done..], &messages[..planned]) {
                Ok(sent) => {
                    let datagrams = messages[..sent].iter().map(|m| m.count).sum::<usize>();
                    self.counts.datagrams += datagrams as u64;
                    self.counts.messages += sent as u64;
                    self.counts.gso_messages += messages[..sent].iter().filter(|m| m.count > 1).count() as u64;
                    done += datagrams;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.counts.drops += (self.pending.len() - done) as u64;
                    break;
                }
                Err(err) if messages[0].count > 1 && matches!(err.raw_os_error(), Some(libc::EIO | libc::EINVAL)) => {
                    // The kernel or the route cannot segment: send as single datagrams from now on.
                    if GSO_USABLE.swap(false, Ordering::Relaxed) {
                        warn!(error = %err, "UDP GSO refused by the kernel; sending one datagram per message");
                    }
                }
                Err(err) => {
                    // The first message failed (e.g. unreachable destination): skip it.
                    debug!(error = %err, "UDP send failed");
                    done += messages[0].count;
                }
            }
        }
        for (_, datagram) in self.pending.drain(..) {
            recycle(datagram);
        }
    }
}

/// Datagram buffers of this thread that were sent, kept for the next packets (a fan-out
/// builds one buffer per player and packet; reusing them spares malloc and free on that path).
/// Two flushes' worth (`MAX_PENDING`): a batch's buffers come back before the next is built.
const RECYCLED_MAX: usize = 2 * MAX_PENDING;
/// Buffers smaller than this are not kept (RTCP, STUN): they would not fit a media packet.
const RECYCLED_MIN_CAPACITY: usize = 1536;

thread_local! {
    static RECYCLED: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn recycle(mut datagram: Vec<u8>) {
    if datagram.capacity() < RECYCLED_MIN_CAPACITY || datagram.capacity() > 4 * RECYCLED_MIN_CAPACITY {
        return;
    }
    RECYCLED.with(|r| {
        let mut r = r.borrow_mut();
        if r.len() < RECYCLED_MAX {
            datagram.clear();
            r.push(datagram);
        }
    });
}

/// An empty buffer with room for `capacity` bytes, recycled when this thread has one.
pub fn datagram_buffer(capacity: usize) -> Vec<u8> {
    let reused = RECYCLED.with(|r| {
        let mut r = r.borrow_mut();
        match r.last() {
            Some(b) if b.capacity() >= capacity => r.pop(),
            _ => None,
        }
    });
    reused.unwrap_or_else(|| Vec::with_capacity(capacity.max(RECYCLED_MIN_CAPACITY)))
}

/// Splits the head of `queue` into at most `out.len()` messages: with `gso`, consecutive
/// datagrams to the same destination join one message while they have the size of its first
/// datagram; one shorter datagram may end it (`UDP_SEGMENT` semantics: every segment but the
/// last has the segment size). Returns how many messages were planned.
fn plan(queue: &[(SockAddr, Vec<u8>)], gso: bool, out: &mut [Message]) -> usize {
    let mut planned = 0;
    let mut next = 0;
    while next < queue.len() && planned < out.len() {
        let (dest, first) = &queue[next];
        let segment = first.len();
        let mut count = 1;
        let mut bytes = segment;
        if gso {
            while let Some((d, datagram)) = queue.get(next + count) {
                let len = datagram.len();
                if count == GSO_MAX_SEGMENTS || bytes + len > GSO_MAX_BYTES || len > segment || d != dest {
                    break;
                }
                count += 1;
                bytes += len;
                if len < segment {
                    break;
                }
            }
        }
        out[planned] = Message { first: next, count, segment };
        planned += 1;
        next += count;
    }
    planned
}

/// Space for one `UDP_SEGMENT` control message (a u16), in u64s for alignment.
const CMSG_WORDS: usize = 4;

/// One `sendmmsg(2)` call for `messages` (indices into `queue`); returns how many messages
/// the kernel took.
fn send_messages(fd: RawFd, queue: &[(SockAddr, Vec<u8>)], messages: &[Message]) -> io::Result<usize> {
    debug_assert!(messages.len() <= MESSAGES_PER_CALL);
    // SAFETY: all-zero is a valid value for these plain C structs.
    let mut iovs: [libc::iovec; MAX_PENDING] = unsafe { std::mem::zeroed() };
    let mut hdrs: [libc::mmsghdr; MESSAGES_PER_CALL] = unsafe { std::mem::zeroed() };
    let mut cmsgs = [[0u64; CMSG_WORDS]; MESSAGES_PER_CALL];
    // SAFETY: CMSG_SPACE/CMSG_LEN are arithmetic on a constant size.
    let (cmsg_space, cmsg_len) = unsafe {
        (libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) as usize, libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as usize)
    };
    debug_assert!(cmsg_space <= CMSG_WORDS * 8);
    let mut iov_used = 0;
    let mut used = 0;
    for (i, m) in messages.iter().enumerate() {
        if iov_used + m.count > iovs.len() {
            break;
        }
        let (dest, _) = &queue[m.first];
        for (j, (_, data)) in queue[m.first..m.first + m.count].iter().enumerate() {
            iovs[iov_used + j] = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
        }
        let hdr = &mut hdrs[i].msg_hdr;
        hdr.msg_name = dest.as_ptr() as *mut libc::c_void;
        hdr.msg_namelen = dest.len();
        hdr.msg_iov = &mut iovs[iov_used];
        hdr.msg_iovlen = m.count as _;
        if m.count > 1 {
            hdr.msg_control = cmsgs[i].as_mut_ptr() as *mut libc::c_void;
            hdr.msg_controllen = cmsg_space as _;
            // SAFETY: msg_control points at `cmsg_space` zeroed, aligned bytes that outlive the
            // call; CMSG_FIRSTHDR is non-null for a control buffer of at least one header.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(hdr);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = libc::UDP_SEGMENT;
                (*c).cmsg_len = cmsg_len as _;
                std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, m.segment as u16);
            }
        }
        iov_used += m.count;
        used = i + 1;
    }
    // SAFETY: `hdrs[..used]` point at `iovs`, the control buffers, the addresses and the
    // payloads, all of which outlive the call; the kernel only reads them.
    let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), used as libc::c_uint, 0) };
    match n {
        n if n > 0 => Ok(n as usize),
        0 => Err(io::ErrorKind::WouldBlock.into()),
        _ => Err(io::Error::last_os_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{SocketAddr, UdpSocket};

    fn addr(port: u16) -> SockAddr {
        SockAddr::from(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    fn queue(items: &[(u16, usize)]) -> Vec<(SockAddr, Vec<u8>)> {
        items.iter().map(|&(port, len)| (addr(port), vec![0u8; len])).collect()
    }

    fn plan_all(q: &[(SockAddr, Vec<u8>)], gso: bool) -> Vec<(usize, usize)> {
        let mut out = [Message { first: 0, count: 0, segment: 0 }; MESSAGES_PER_CALL];
        let n = plan(q, gso, &mut out);
        out[..n].iter().map(|m| (m.first, m.count)).collect()
    }

    #[test]
    fn a_frame_to_one_peer_is_one_message_and_peers_are_never_mixed() {
        // Player A: audio, then a 3-packet video frame (two full fragments and a short last);
        // player B: the same frame. Audio cannot lead a run of bigger segments.
        let q = queue(&[(1, 120), (1, 1200), (1, 1200), (1, 400), (2, 1200), (2, 1200), (2, 400)]);
        assert_eq!(plan_all(&q, true), vec![(0, 1), (1, 3), (4, 3)]);
        // Without GSO every datagram is a message.
        assert_eq!(plan_all(&q, false), (0..7).map(|i| (i, 1)).collect::<Vec<_>>());
    }

    #[test]
    fn a_shorter_datagram_ends_the_run_and_limits_hold() {
        let q = queue(&[(1, 1000), (1, 900), (1, 1000), (1, 1000)]);
        assert_eq!(plan_all(&q, true), vec![(0, 2), (2, 2)]);
        // 2000-byte datagrams: the byte limit (30 of them) comes before the segment limit.
        let big = queue(&vec![(1, 2000); GSO_MAX_SEGMENTS + 5]);
        let by_bytes = GSO_MAX_BYTES / 2000;
        assert!(by_bytes < GSO_MAX_SEGMENTS);
        assert_eq!(plan_all(&big, true), vec![(0, by_bytes), (by_bytes, GSO_MAX_SEGMENTS + 5 - by_bytes)]);
        let small = queue(&vec![(1, 100); GSO_MAX_SEGMENTS + 5]);
        assert_eq!(plan_all(&small, true), vec![(0, GSO_MAX_SEGMENTS), (GSO_MAX_SEGMENTS, 5)]);
    }

    #[test]
    fn flush_delivers_every_datagram_in_order_with_its_own_bytes() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&a, &b] {
            s.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        }
        let (pa, pb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut batch = UdpBatch::with_capacity();
        // Two players each get a 4-packet frame and an audio packet; payloads are numbered.
        let mut expected_a = Vec::new();
        let mut expected_b = Vec::new();
        let mut n = 0u8;
        for (dest, expected) in [(pa, &mut expected_a), (pb, &mut expected_b)] {
            for len in [1100usize, 1100, 1100, 300, 90] {
                let datagram = vec![n; len];
                n += 1;
                expected.push(datagram.clone());
                batch.push(SockAddr::from(dest), datagram);
            }
        }
        use std::os::fd::AsRawFd;
        batch.flush(sender.as_raw_fd());
        // Per player: the frame as one GSO message (unless the kernel refused GSO), the audio alone.
        let gso = GSO_USABLE.load(Ordering::Relaxed);
        let want = SendCounts {
            datagrams: 10,
            messages: if gso { 4 } else { 10 },
            gso_messages: if gso { 2 } else { 0 },
            calls: if gso { 1 } else { 2 },
            drops: 0,
            direct: 0,
            pooled: 0,
        };
        assert_eq!(batch.counts, want);
        for (sock, expected) in [(&a, expected_a), (&b, expected_b)] {
            for want in expected {
                let mut buf = [0u8; 2048];
                let len = sock.recv(&mut buf).unwrap();
                assert_eq!(&buf[..len], &want[..], "datagram {} arrived whole and in order", want[0]);
            }
        }
    }
}
