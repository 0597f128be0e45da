//! The standard `process_*` metrics (as Prometheus' client libraries name
//! them), read from `/proc/self` on Linux; elsewhere none are written.

use super::Exposition;

pub(super) fn write(e: &mut Exposition) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the command name (which may hold spaces), from `state`.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    // Linux reports CPU and start times in USER_HZ: 100 a second on every
    // architecture (what it exports to user space, whatever its own tick).
    let ticks = 100.0;
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        e.single(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, seconds.",
            (utime + stime) / ticks,
        );
    }
    // In kB from `status`: the page size differs between machines.
    if let Some(rss) = resident_kb() {
        e.single(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory, bytes.",
            rss * 1024.0,
        );
    }
    if let Some(vsize) = field(23) {
        e.single(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory, bytes.",
            vsize,
        );
    }
    if let Some(threads) = field(20) {
        e.single("process_threads", "gauge", "OS threads.", threads);
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time()) {
        e.single(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the unix epoch, seconds.",
            boot + start / ticks,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        e.single(
            "process_open_fds",
            "gauge",
            "Open file descriptors.",
            fds.count(),
        );
    }
    if let Some(max) = max_fds() {
        e.single(
            "process_max_fds",
            "gauge",
            "The most file descriptors the process may open.",
            max,
        );
    }
}

/// `VmRSS` of `/proc/self/status`, kB.
fn resident_kb() -> Option<f64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// When the machine booted, unix seconds (`btime` of `/proc/stat`).
fn boot_time() -> Option<f64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit on open files (`/proc/self/limits`).
fn max_fds() -> Option<f64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}
