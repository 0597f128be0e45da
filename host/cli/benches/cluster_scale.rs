//! Scale-out over NATS JetStream, whole processes: events/s of one stream
//! through the reference plugins (and the numbering probe's sibling, none)
//! with one `prism run` worker and with three in one cluster, and the
//! failover time (a worker killed with SIGKILL → every partition held and
//! running again on the others).
//!
//! Needs the server (`PRISM_TEST_NATS_URL`, default
//! `nats://127.0.0.1:4222`) and the reference plugins built
//! (`scripts/test.sh`). Run: `cargo bench -p prism-host --bench
//! cluster_scale`; `-- --smoke` runs it small (CI does).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const PLUGINS: [(&str, &str, &str); 4] = [
    ("long-short-ratio", "long_short_ratio", "instrument"),
    ("liquidation-map", "liquidation_map", "instrument"),
    ("whale-detector", "whale_detector", "instrument"),
    ("funding-arb", "funding_arb", "base"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn wasm(name: &str) -> PathBuf {
    let target =
        std::env::var("CARGO_TARGET_DIR").map_or_else(|_| repo().join("target"), PathBuf::from);
    target.join(format!("wasm32-wasip2/release/{name}.wasm"))
}

#[path = "support/host.rs"]
mod host;
use host::{Host, prism};

/// Names of one run on the server, deleted at the end.
struct Names {
    url: String,
    tag: String,
}

impl Names {
    /// `[nats]` of `run`: its own market stream and outputs.
    fn nats(&self, run: &str) -> String {
        let t = &self.tag;
        format!(
            "[nats]\nurl = \"{}\"\nstream = \"BENCH_{t}_{run}\"\nsubject_prefix = \"bench{t}{run}.market\"\noutput_stream = \"BENCH_{t}_{run}_OUT\"\noutput_prefix = \"bench{t}{run}.out\"\n",
            self.url
        )
    }

    fn delete(&self, clusters: &[&str]) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let t = &self.tag;
        runtime.block_on(async {
            let Ok(client) = async_nats::connect(self.url.as_str()).await else {
                return;
            };
            let js = async_nats::jetstream::new(client);
            let mut names = Vec::new();
            for c in clusters {
                names.push(format!("BENCH_{t}_{c}"));
                names.push(format!("BENCH_{t}_{c}_IDS"));
                names.push(format!("BENCH_{t}_{c}_OUT"));
                for kind in ["PRISM_CLUSTER", "PRISM_STATE", "OBJ_PRISM_CODE"] {
                    names.push(format!("{kind}_{t}{c}"));
                }
            }
            for name in names {
                let _ = js.delete_stream(name).await;
            }
        });
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("the temp dir takes files");
    path
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A worker's config in cluster `cluster`.
fn worker(
    dir: &Path,
    names: &Names,
    cluster: &str,
    host: &str,
    partitions: u32,
    ttl: &str,
) -> PathBuf {
    let plugins: String = PLUGINS
        .iter()
        .map(|(id, file, key)| {
            format!(
                "[[plugins]]\nid = \"{id}\"\npath = \"{}\"\npartition = \"{key}\"\n",
                wasm(file).display()
            )
        })
        .collect();
    write(
        dir,
        &format!("{cluster}-{host}.toml"),
        &format!(
            "[runtime]\ndata_dir = \"{}\"\nwatch = false\n{}outputs = true\n[cluster]\nname = \"{}{cluster}\"\nhost = \"{host}\"\npartitions = {partitions}\nlease_ttl = \"{ttl}\"\n[source]\nkind = \"nats\"\ndurable = \"{cluster}{host}\"\n{plugins}",
            dir.join(format!("data-{cluster}-{host}")).display(),
            names.nats(cluster),
            names.tag
        ),
    )
}

/// Every host holds its share, and none is handing over.
fn settled_ownership(hosts: &[&Host], partitions: u32) -> bool {
    hosts.iter().all(|h| {
        let c = h.json("/api/v1/cluster");
        let owners = c["owners"].as_array().map_or(0, Vec::len);
        let mine = c["mine"].as_array().cloned().unwrap_or_default();
        owners == partitions as usize
            && c["hosts"].as_array().map_or(0, Vec::len) == hosts.len()
            && !mine.is_empty()
            && mine.iter().all(|p| p["state"] == "running")
    })
}

/// Publishes `file` to `run`'s market stream as collector `name`.
fn collect(dir: &Path, names: &Names, run: &str, name: &str, file: &Path) {
    let config = write(
        dir,
        &format!("collector-{run}-{name}.toml"),
        &format!(
            "[runtime]\ndata_dir = \"{}\"\nwatch = false\n{}collector = \"{name}\"\ncollect = [\"trade\", \"liquidation\", \"funding\", \"open_interest\", \"book\", \"position\"]\n[source]\nkind = \"replay\"\npath = \"{}\"\npace = 0\n",
            dir.join(format!("data-collector-{run}-{name}")).display(),
            names.nats(run),
            file.display()
        ),
    );
    let c = Host::start(&config);
    wait("published", Duration::from_secs(600), || {
        let h = c.json("/health");
        h["source"]["state"] == "finished" && h["nats"]["in_flight"] == 0
    });
    c.stop();
}

/// Waits until `hosts` hold every partition, have taken the whole stream,
/// and published nothing for 2 s; returns when the last output came.
fn caught_up(hosts: &[Host], partitions: u32) -> Instant {
    let refs: Vec<&Host> = hosts.iter().collect();
    wait("ownership", Duration::from_secs(120), || {
        settled_ownership(&refs, partitions)
    });
    let mut last = (0u64, Instant::now());
    wait("consumed", Duration::from_secs(900), || {
        let mut published = 0;
        let mut done = true;
        for h in hosts {
            let health = h.json("/health");
            published += health["nats"]["published"].as_u64().unwrap_or(0);
            done &= health["nats"]["pending"] == 0 && health["nats"]["in_flight"] == 0;
        }
        if published != last.0 {
            last = (published, Instant::now());
        }
        done && last.1.elapsed() > Duration::from_secs(2) && settled_ownership(&refs, partitions)
    });
    last.1
}

/// Seconds `workers` hosts of one cluster take for the events of `rest`
/// (published while they were stopped) from their start, after a first
/// run over `prefix` made their states and warmed their code caches.
fn run(
    dir: &Path,
    names: &Names,
    cluster: &str,
    workers: usize,
    prefix: &Path,
    rest: &Path,
    partitions: u32,
) -> f64 {
    let start = || -> Vec<Host> {
        (0..workers)
            .map(|i| {
                Host::start(&worker(
                    dir,
                    names,
                    cluster,
                    &format!("w{i}"),
                    partitions,
                    "4s",
                ))
            })
            .collect()
    };
    collect(dir, names, cluster, "prefix", prefix);
    let hosts = start();
    caught_up(&hosts, partitions);
    for h in hosts {
        h.stop();
    }
    collect(dir, names, cluster, "rest", rest);
    let started = Instant::now();
    let hosts = start();
    let last = caught_up(&hosts, partitions);
    for h in hosts {
        h.stop();
    }
    last.duration_since(started).as_secs_f64()
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let url =
        std::env::var("PRISM_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    if std::net::TcpStream::connect(url.trim_start_matches("nats://")).is_err() {
        assert!(
            std::env::var("PRISM_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "NATS at {url} is required but unreachable"
        );
        eprintln!("skipped: NATS at {url} is unreachable");
        return;
    }
    let dir = std::env::temp_dir().join(format!("prism-bench-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let names = Names {
        url,
        tag: format!("clu{}", std::process::id()),
    };
    let duration = if smoke { "1m" } else { "30m" };
    let file = dir.join("events.jsonl");
    let status = prism()
        .args(["sim", "--seed", "5", "--duration", duration, "--out"])
        .arg(&file)
        .stdout(Stdio::null())
        .status()
        .expect("prism sim runs");
    assert!(status.success());
    // The first 5 % of the stream warms the hosts; the rest is measured.
    let text = std::fs::read_to_string(&file).expect("the events");
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines.len() / 20;
    let prefix = write(&dir, "prefix.jsonl", &(lines[..cut].join("\n") + "\n"));
    // Instrument lines go with both parts (a replay declares before use).
    let declared: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("\"type\":\"instrument\""))
        .collect();
    let body: Vec<&str> = lines[cut..]
        .iter()
        .copied()
        .filter(|l| !l.contains("\"type\":\"instrument\""))
        .collect();
    let events = body.len() as u64;
    let rest = write(
        &dir,
        "rest.jsonl",
        &(declared
            .iter()
            .chain(body.iter())
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"),
    );
    let partitions = 6;
    let one = run(&dir, &names, "one", 1, &prefix, &rest, partitions);
    let three = run(&dir, &names, "three", 3, &prefix, &rest, partitions);
    println!(
        "events measured: {events} of {duration} simulated (the first 5 % warmed the hosts), {partitions} partitions, 4 reference plugins; from the hosts' start to their last output"
    );
    println!("1 worker : {one:.3} s, {:.0} events/s", events as f64 / one);
    println!(
        "3 workers: {three:.3} s, {:.0} events/s",
        events as f64 / three
    );
    println!("3 workers / 1 worker (events/s): {:.2}", one / three);

    // Failover: three workers on the consumed stream; one is killed.
    let ttl = if smoke { "2s" } else { "10s" };
    let hosts: Vec<Host> = (0..3)
        .map(|i| {
            Host::start(&worker(
                &dir,
                &names,
                "fail",
                &format!("w{i}"),
                partitions,
                ttl,
            ))
        })
        .collect();
    let refs: Vec<&Host> = hosts.iter().collect();
    wait("ownership", Duration::from_secs(120), || {
        settled_ownership(&refs, partitions)
    });
    let mut hosts = hosts.into_iter();
    let victim = hosts.next().expect("three hosts");
    let survivors: Vec<Host> = hosts.collect();
    let killed = Instant::now();
    victim.kill();
    let refs: Vec<&Host> = survivors.iter().collect();
    wait("failover", Duration::from_secs(120), || {
        refs.iter().all(|h| {
            let c = h.json("/api/v1/cluster");
            c["owners"].as_array().is_some_and(|o| {
                o.len() == partitions as usize && o.iter().all(|p| p["host"] != "w0")
            }) && c["mine"]
                .as_array()
                .is_some_and(|m| m.iter().all(|p| p["state"] == "running"))
        })
    });
    let failover = killed.elapsed();
    println!(
        "failover (lease_ttl {ttl}): {:.2} s from SIGKILL to every partition running on the others",
        failover.as_secs_f64()
    );
    for h in survivors {
        h.stop();
    }
    names.delete(&["one", "three", "fail"]);
    let _ = std::fs::remove_dir_all(&dir);
}
