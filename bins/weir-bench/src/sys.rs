//! Small libc helpers: CPU pinning and /proc readings.

/// Pins the calling thread to one CPU.
pub fn pin_to_core(core: usize) -> Result<(), String> {
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!(
                "sched_setaffinity(core {core}): {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// utime + stime of a process in microseconds.
pub fn proc_cpu_us(pid: u32) -> Result<u64, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    let rest = &s[s.rfind(')').ok_or("bad stat")? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: u64 = f.get(11).and_then(|x| x.parse().ok()).ok_or("bad utime")?;
    let st: u64 = f.get(12).and_then(|x| x.parse().ok()).ok_or("bad stime")?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok((ut + st) * 1_000_000 / hz)
}

/// VmRSS of a process in KiB.
pub fn proc_rss_kib(pid: u32) -> Result<u64, String> {
    proc_status_kib(pid, "VmRSS")
}

/// RssAnon of a process in KiB: its resident anonymous memory (heap, stacks), without the
/// pages of its executable and libraries (`RssFile`), which grow as more code paths run.
pub fn proc_anon_kib(pid: u32) -> Result<u64, String> {
    proc_status_kib(pid, "RssAnon")
}

/// One "Name:   N kB" field of /proc/PID/status.
fn proc_status_kib(pid: u32, field: &str) -> Result<u64, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    for l in s.lines() {
        if let Some(v) = l.strip_prefix(field).and_then(|v| v.strip_prefix(':')) {
            return v
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .map_err(|_| format!("bad {field}"));
        }
    }
    Err(format!("no {field}"))
}

/// Asks the kernel to stamp every received datagram (SO_TIMESTAMPNS, wall clock), so latency is
/// measured at arrival however late the load generator gets to read it.
pub fn enable_rx_timestamps(sock: &std::net::UdpSocket) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            &on as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(format!("SO_TIMESTAMPNS: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Number of open file descriptors of a process.
pub fn proc_fd_count(pid: u32) -> Result<u64, String> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("/proc/{pid}/fd: {e}"))?
        .count() as u64)
}

/// Raises RLIMIT_NOFILE to its hard limit (thousands of player sockets).
pub fn raise_fd_limit() -> u64 {
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            return r.rlim_cur as u64;
        }
    }
    0
}

pub const BATCH: usize = 32;
const PKT: usize = 1600;
const CTRL: usize = 64;

/// Buffers for one `recvmmsg` call of up to BATCH datagrams with their kernel timestamps.
pub struct RecvBatch {
    bufs: Vec<u8>,
    ctrl: Vec<u8>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: vec![0; BATCH * PKT],
            ctrl: vec![0; BATCH * CTRL],
            iov: Vec::with_capacity(BATCH),
            hdrs: Vec::with_capacity(BATCH),
        }
    }
}

impl RecvBatch {
    /// Reads what is queued on `fd` (non-blocking), up to BATCH datagrams. Returns how many.
    pub fn recv(&mut self, fd: std::os::fd::RawFd) -> usize {
        self.iov.clear();
        self.hdrs.clear();
        for i in 0..BATCH {
            self.iov.push(libc::iovec {
                iov_base: self.bufs[i * PKT..].as_mut_ptr() as *mut libc::c_void,
                iov_len: PKT,
            });
        }
        for i in 0..BATCH {
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = &mut self.iov[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = self.ctrl[i * CTRL..].as_mut_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_controllen = CTRL as _;
            self.hdrs.push(h);
        }
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        n.max(0) as usize
    }

    /// Datagram `i` of the last `recv` and its kernel receive time as NTP 64 (0 if none).
    pub fn get(&self, i: usize) -> (&[u8], u64) {
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(PKT);
        let data = &self.bufs[i * PKT..i * PKT + len];
        let mut ntp = 0;
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                    const SECS_1900: u64 = 2_208_988_800;
                    ntp = ((ts.tv_sec as u64 + SECS_1900) << 32) | (((ts.tv_nsec as u64) << 32) / 1_000_000_000);
                }
                c = libc::CMSG_NXTHDR(&h.msg_hdr, c);
            }
        }
        (data, ntp)
    }
}

/// A small epoll wrapper (level-triggered, `u64` tokens).
pub struct Epoll(std::os::fd::RawFd);

impl Epoll {
    pub fn new() -> Result<Epoll, String> {
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(format!("epoll_create1: {}", std::io::Error::last_os_error()));
        }
        Ok(Epoll(fd))
    }
    pub fn add(&self, fd: std::os::fd::RawFd, token: u64) -> Result<(), String> {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(format!("epoll_ctl: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }
    pub fn remove(&self, fd: std::os::fd::RawFd) {
        unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
    }
    /// Waits up to `timeout_ms`; fills `out` with ready tokens.
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32, out: &mut Vec<u64>) {
        out.clear();
        let n = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, timeout_ms) };
        for e in events.iter().take(n.max(0) as usize) {
            out.push(e.u64);
        }
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        unsafe { libc::close(self.0) };
    }
}

/// SO_RCVBUF (the kernel caps it at net.core.rmem_max).
pub fn set_rcvbuf(sock: &std::net::UdpSocket, bytes: i32) {
    use std::os::fd::AsRawFd;
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &bytes as *const _ as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        );
    }
}
