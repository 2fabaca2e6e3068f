//! CPU time and memory of one thread or process, read from /proc (Linux; `None` elsewhere).
//!
//! The load benchmark reports each side's cost apart: the engine's thread CPU, the simulator
//! process's CPU, and the engine process's resident memory without the simulator in it.

/// A field of /proc/self/status in kB (`VmHWM:`, `VmRSS:`).
pub fn status_kb(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// This thread's kernel id, from /proc/thread-self.
pub fn thread_id() -> Option<u32> {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
}

/// CPU seconds one thread of this process has run, from its schedstat (nanoseconds; the
/// stat file's 10 ms ticks are too coarse for a few seconds per rate), else from its stat.
pub fn thread_cpu_s(tid: u32) -> Option<f64> {
    let schedstat = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok();
    if let Some(ns) = schedstat.and_then(|t| t.split_whitespace().next()?.parse::<u64>().ok()) {
        return Some(ns as f64 / 1e9);
    }
    stat_cpu_s(&format!("/proc/self/task/{tid}/stat"))
}

/// CPU seconds of this whole process: the sum of its live threads' schedstat (precise),
/// else user plus system time from its stat (10 ms ticks, which miss much of a load made of
/// short bursts on a tickless kernel).
pub fn process_cpu_s() -> Option<f64> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut ns = 0u64;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).ok();
        match text.and_then(|t| t.split_whitespace().next()?.parse::<u64>().ok()) {
            Some(n) => ns += n,
            None => return stat_cpu_s("/proc/self/stat"),
        }
    }
    Some(ns as f64 / 1e9)
}

/// Fields 14 and 15 of a stat file, in clock ticks.
fn stat_cpu_s(path: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may contain spaces: count fields after it.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
    Some((utime + stime) / ticks)
}

/// CPUs this machine has online.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
