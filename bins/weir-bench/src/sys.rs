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
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    for l in s.lines() {
        if let Some(v) = l.strip_prefix("VmRSS:") {
            return v
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .map_err(|_| "bad VmRSS".to_string());
        }
    }
    Err("no VmRSS".into())
}
