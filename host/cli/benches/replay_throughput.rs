//! `prism replay` throughput, whole processes: a simulator file in JSON
//! Lines and in MessagePack, through the four reference plugins and
//! through `hello` alone (where reading the file is most of the work).
//! Per case: wall time, events/s, CPU per event (user + system, from the
//! kernel's accounting of the child) and peak memory, median of the runs.
//!
//! With `--baseline BIN` (another build of `prism`, e.g. from an older
//! commit; `--baseline-wasm DIR` for that commit's plugins) every run is
//! made by both builds in turn, the ratios are printed, and their outputs
//! are required to be byte-identical.
//!
//! Needs the reference plugins and `hello` built (`scripts/test.sh`).
//! Run: `cargo bench -p prism-host --bench replay_throughput -- [--baseline
//! BIN] [--runs N] [--duration 2h]`; `-- --smoke` runs a 5-minute file once
//! (CI does).

#[path = "support/args.rs"]
mod args;
#[path = "support/builds.rs"]
mod builds;

use args::{Args, wasm_dir};
use builds::{Build, Builds, median};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REFERENCE: [&str; 4] = [
    "long_short_ratio",
    "liquidation_map",
    "funding_arb",
    "whale_detector",
];

/// What one run of a binary came to.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
    peak_kib: u64,
    events: u64,
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec.unsigned_abs()) + Duration::from_micros(t.tv_usec.unsigned_abs())
}

/// Runs `bin replay …` to its end; its CPU time and peak memory as the
/// kernel accounted them (wait4).
// The child is reaped by `wait4`, which std does not see.
#[allow(clippy::zombie_processes)]
fn run(bin: &Path, wasm: &Path, events: &Path, plugins: &[&str], out: &Path) -> Run {
    let mut cmd = Command::new(bin);
    cmd.arg("replay").arg("--events").arg(events);
    for p in plugins {
        cmd.arg("--plugin").arg(wasm.join(format!("{p}.wasm")));
    }
    cmd.arg("--out")
        .arg(out)
        .env("PRISM_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the prism binary runs");
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    let mut status = 0;
    // SAFETY: zeroed `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for (std's `Child` is
    // never waited on here, so the pid cannot have been reused).
    let waited = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    let wall = started.elapsed();
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} replay failed ({status})",
        bin.display()
    );
    let text = reader.join().unwrap_or_default();
    let events = text
        .lines()
        .find_map(|l| l.strip_prefix("replayed "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `replayed N events` in:\n{text}"));
    Run {
        wall,
        cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime),
        peak_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
        events,
    }
}

/// The medians of a binary's runs of one case.
struct Figures {
    wall: Duration,
    cpu: Duration,
    peak_mib: f64,
    events: u64,
}

impl Figures {
    fn of(runs: &[Run]) -> Self {
        Figures {
            wall: median(runs.iter().map(|r| r.wall).collect()),
            cpu: median(runs.iter().map(|r| r.cpu).collect()),
            peak_mib: runs.iter().map(|r| r.peak_kib).max().unwrap_or(0) as f64 / 1024.0,
            events: runs[0].events,
        }
    }

    fn rate(&self) -> f64 {
        self.events as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn row(&self, case: &str, build: &str, ratio: &str) {
        println!(
            "| {case} | {build} | {:.3} | {:.0} | {:.0} | {:.1} | {ratio} |",
            self.wall.as_secs_f64(),
            self.rate(),
            self.cpu.as_nanos() as f64 / self.events.max(1) as f64,
            self.peak_mib,
        );
    }
}

/// Whether two files hold the same bytes, compared a block at a time: the
/// bench stays small, since a child's peak memory as the kernel reports it
/// starts from the parent's own.
fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(mut a), Ok(mut b)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let Ok(n) = a.read(&mut x) else {
            return false;
        };
        if n == 0 {
            return b.read(&mut y).is_ok_and(|m| m == 0);
        }
        if b.read_exact(&mut y[..n]).is_err() || x[..n] != y[..n] {
            return false;
        }
    }
}

fn main() {
    let args = Args::get();
    let smoke = args.smoke();
    let runs = args
        .number("--runs")
        .map_or(if smoke { 1 } else { 3 }, |n| {
            usize::try_from(n).unwrap_or(1)
        });
    let duration = args
        .text("--duration")
        .unwrap_or_else(|| (if smoke { "5m" } else { "2h" }).into());
    let builds = Builds::from_args(&args);
    // The baseline's plugins: this checkout's unless given (an older
    // checkout's build, to count changes to the plugins too).
    let base_wasm = args
        .text("--baseline-wasm")
        .map_or_else(wasm_dir, PathBuf::from);
    let wasm = wasm_dir();
    let prism = builds.this().to_path_buf();

    let dir = std::env::temp_dir().join(format!("prism-replay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let mut files = Vec::new();
    for ext in ["jsonl", "msgpack"] {
        let file = dir.join(format!("sim.{ext}"));
        let made = Command::new(&prism)
            .args(["sim", "--seed", "7", "--duration", &duration, "--out"])
            .arg(&file)
            .stdout(Stdio::null())
            .status()
            .expect("prism sim runs");
        assert!(made.success(), "prism sim failed");
        files.push((ext, file));
    }

    let cases: [(&str, &[&str]); 2] = [("4 reference plugins", &REFERENCE), ("hello", &["hello"])];
    println!(
        "replay of a {duration} simulator file (seed 7), {runs} run(s) per binary, medians{}",
        if builds.compared() {
            ", builds in turn"
        } else {
            ""
        }
    );
    println!();
    println!("| case | build | wall s | events/s | CPU ns/event | peak MiB | events/s ratio |");
    println!("|---|---|--:|--:|--:|--:|--:|");
    for (label, plugins) in cases {
        let mut reference_out: Option<PathBuf> = None;
        for (ext, file) in &files {
            let case = format!("{label}, {ext}");
            let out_new = dir.join(format!("out-new-{ext}-{}.jsonl", plugins.len()));
            let out_base = dir.join(format!("out-base-{ext}-{}.jsonl", plugins.len()));
            let one = |build: Build, binary: &Path| match build {
                Build::This => run(binary, &wasm, file, plugins, &out_new),
                Build::Baseline => run(binary, &base_wasm, file, plugins, &out_base),
            };
            // A warm-up of each binary fills the compiled-plugin cache.
            builds.in_turn(1, one);
            let measured = builds.in_turn(runs, one);
            let new = Figures::of(&measured.this);
            if builds.compared() {
                let base = Figures::of(&measured.baseline);
                assert!(
                    same_bytes(&out_new, &out_base),
                    "{case}: outputs differ from the baseline's ({} vs {})",
                    out_new.display(),
                    out_base.display()
                );
                base.row(&case, Build::Baseline.name(), "1.00");
                new.row(
                    &case,
                    Build::This.name(),
                    &format!("{:.2}", new.rate() / base.rate()),
                );
            } else {
                new.row(&case, Build::This.name(), "");
            }
            // Both formats of one file give the same outputs.
            match &reference_out {
                Some(first) => assert!(
                    same_bytes(first, &out_new),
                    "{case}: outputs differ between the formats"
                ),
                None => reference_out = Some(out_new.clone()),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
