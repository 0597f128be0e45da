//! REST series queries under load: requests/s and latency percentiles of
//! `GET /api/v1/plugins/long-short-ratio/series/taker_long_short_ratio`
//! (one instrument, the last 100 points) from 64 connections kept alive,
//! against `prism run` on the default config and its reference plugins.
//! The stores are filled first by replaying a 2-hour simulator file, which
//! then ends, so the figure is the API's own; with `--streaming` the
//! simulator streams at 600× real time throughout instead (the pipeline
//! then competes for the cores). The client runs on the same machine and
//! takes its share of them.
//!
//! Needs the reference plugins built (`scripts/test.sh`). Run: `cargo
//! bench -p prism-host --bench rest_series -- [--connections N] [--seconds
//! S] [--streaming] [--baseline BIN] [--runs N]`; with `--baseline`, that
//! `prism` binary (another build) and this one are measured in turn, `N`
//! times each, and the ratio of their median rates is printed. `-- --smoke`
//! runs a second with 8 connections (CI does).

#[path = "support/args.rs"]
mod args;
#[path = "support/builds.rs"]
mod builds;
#[path = "support/host.rs"]
mod host;

use args::{Args, percentile, repo};
use host::Host;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const QUERY: &str = "/api/v1/plugins/long-short-ratio/series/taker_long_short_ratio?exchange=binance&symbol=BTCUSDT&limit=100";

/// The default config, its plugins and data directory made absolute, and
/// its source `source` (a `[source]` table).
fn config(dir: &Path, source: &str) -> PathBuf {
    let wasm = args::wasm_dir();
    let text = std::fs::read_to_string(repo().join("config/prism.toml"))
        .expect("config/prism.toml")
        .replace(
            "\"../target/wasm32-wasip2/release/",
            &format!("\"{}/", wasm.display()),
        )
        .replace(
            "data_dir = \"../data\"",
            &format!("data_dir = \"{}\"", dir.join("data").display()),
        );
    let start = text.find("[source]").expect("a [source] table");
    let end = text[start + 1..]
        .find("\n[")
        .map_or(text.len(), |i| start + 2 + i);
    let text = format!("{}{source}\n{}", &text[..start], &text[end..]);
    let path = dir.join("prism.toml");
    std::fs::write(&path, text).expect("a config");
    path
}

fn main() {
    let args = Args::get();
    let smoke = args.smoke();
    let streaming = args.flag("--streaming");
    let connections = args
        .number("--connections")
        .unwrap_or(if smoke { 8 } else { 64 });
    let seconds = args
        .number("--seconds")
        .unwrap_or(if smoke { 1 } else { 10 });

    let dir = std::env::temp_dir().join(format!("prism-rest-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let source = if streaming {
        "[source]\nkind = \"simulator\"\nseed = 42\npace = 600.0\nstart_ms = 1700000000000\n"
            .to_owned()
    } else {
        let file = dir.join("sim.msgpack");
        let made = host::prism()
            .args(["sim", "--seed", "7", "--duration", "2h", "--out"])
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("prism sim runs");
        assert!(made.success(), "prism sim failed");
        format!(
            "[source]\nkind = \"replay\"\npath = \"{}\"\npace = 0.0\n",
            file.display()
        )
    };
    let config = config(&dir, &source);
    let builds = builds::Builds::from_args(&args);
    let runs = args
        .number("--runs")
        .map_or(1, |n| usize::try_from(n).unwrap_or(1));
    println!(
        "REST series query (100 points), {connections} connections, {seconds} s, {}",
        if streaming {
            "while the simulator streams at 600x"
        } else {
            "after a replay filled the stores"
        }
    );
    println!();
    println!("| build | requests | requests/s | p50 ms | p99 ms | max ms |");
    println!("|---|--:|--:|--:|--:|--:|");
    let measured = builds.in_turn(runs, |build, binary| {
        let row = measure(binary, &config, connections, seconds);
        println!("| {} | {row} |", build.name());
        row.rate
    });
    let _ = std::fs::remove_dir_all(&dir);
    if builds.compared() {
        let old = builds::median(measured.baseline);
        let new = builds::median(measured.this);
        println!();
        println!(
            "requests/s, this build / baseline (medians): x{:.2}",
            new / old
        );
    }
}

/// One build's figures.
struct Row {
    requests: usize,
    rate: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "{} | {:.0} | {:.2} | {:.2} | {:.2}",
            self.requests,
            self.rate,
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )
    }
}

/// Starts `binary` on `config`, waits for a full page, then queries it
/// from `connections` connections for `seconds`.
fn measure(binary: &Path, config: &Path, connections: u64, seconds: u64) -> Row {
    let host = Host::start_binary(binary, config);
    let url = format!("http://{}{QUERY}", host.base);

    // Wait for a full page, so every request serializes the same 100 points.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let page = host.json(QUERY);
        let points = page["points"].as_array().map_or(0, Vec::len);
        if points == 100 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the series did not reach 100 points: {page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // The client speaks plain HTTP; it still wants a TLS provider named.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (latencies, failures) = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(usize::try_from(connections).unwrap_or(64))
            .build()
            .expect("a client");
        let until = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (client, url) = (client.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0u64;
                while Instant::now() < until {
                    let started = Instant::now();
                    let ok = match client.get(&url).send().await {
                        Ok(r) if r.status().is_success() => {
                            r.bytes().await.is_ok_and(|b| b.len() > 1000)
                        }
                        _ => false,
                    };
                    latencies.push(started.elapsed());
                    failures += u64::from(!ok);
                }
                (latencies, failures)
            }));
        }
        let mut all = Vec::new();
        let mut failures = 0;
        for t in tasks {
            let (l, f) = t.await.expect("a client task");
            all.extend(l);
            failures += f;
        }
        (all, failures)
    });
    host.stop();

    let mut sorted = latencies;
    sorted.sort();
    assert!(!sorted.is_empty(), "no request was made");
    assert_eq!(failures, 0, "requests failed");
    Row {
        requests: sorted.len(),
        rate: sorted.len() as f64 / seconds as f64,
        p50: percentile(&sorted, 0.5),
        p99: percentile(&sorted, 0.99),
        max: *sorted.last().unwrap_or(&Duration::ZERO),
    }
}
