//! What the generator reads about processes from `/proc`: CPU time, resident memory, bytes
//! written to storage, the load average, and the open-file limit.

/// Clock ticks per second (`getconf CLK_TCK`), the unit of `/proc/<pid>/stat` times.
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User plus system CPU seconds of a process (`self` for this one).
pub fn cpu_seconds(pid: &str, hz: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / hz
}

/// A `/proc/<pid>/status` field in KiB (`VmHWM` is the peak resident set, `VmRSS` the
/// current one).
pub fn status_kib(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Bytes a process caused to be written to storage so far (`write_bytes` of `/proc/<pid>/io`).
pub fn write_bytes(pid: &str) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Raises this process's open-file limit to its hard limit (children inherit it) and returns
/// the limit now in force. Both ends of every socket live on this machine, so the limit bounds
/// how many sockets one server process, and one generator process, can hold.
pub fn raise_open_files() -> u64 {
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap_or((1024, 1024));
    if soft < hard && rlimit::Resource::NOFILE.set(hard, hard).is_ok() {
        return hard;
    }
    soft
}
