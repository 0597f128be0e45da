//! Density: many copies of one small plugin in one host. For each count of
//! plugins, in a fresh process (so each figure's memory is its own): the
//! resident memory before and after adding them, the time to add them, the
//! threads of the process, and the aggregate rate of events delivered
//! (events × plugins / time) while a stream of trades reaches all of them.
//!
//! Run: `cargo build --release --target wasm32-wasip2 -p hello` then
//! `cargo bench -p prism-control --bench density`; `-- --smoke` runs 20
//! plugins (CI does, so it never rots); `-- 100 1000` picks the counts;
//! `--batch N` the router's batch size (256 by default); `--late` adds all
//! plugins but the first after the stream has begun (they join a route
//! that has carried events).

use prism_config::PluginLimitsConfig;
mod support;

use prism_control::{Origin, Pipeline, PluginSettings};
use prism_model::{Event, InstrumentRegistry, PluginId};
use prism_runtime::{EngineSettings, PluginEngine};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::{pipeline_settings, trades, wasm};

/// A figure of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// Process CPU time (user + system), from `/proc/self/stat`.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Instantiating one plugin from its compiled module (the pool's slot,
/// the component's instances, the memory image), and with `init` too:
/// median and p99 of `rounds`, each instance dropped before the next.
fn instantiate(rounds: usize) {
    let engine = PluginEngine::new(EngineSettings {
        max_memory_bytes: 64 << 20,
        max_instances: 16,
        ..EngineSettings::default()
    })
    .unwrap();
    let module = prism_runtime::PluginModule::from_bytes(&engine, &wasm("hello")).unwrap();
    let limits = prism_runtime::PluginLimits::default();
    let mut bare = Vec::with_capacity(rounds);
    let mut with_init = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let instance = module.instantiate("hello", limits, 0).unwrap();
        bare.push(t.elapsed());
        drop(instance);
        let t = Instant::now();
        let mut instance = module.instantiate("hello", limits, 0).unwrap();
        instance.init("{}").unwrap();
        with_init.push(t.elapsed());
    }
    bare.sort();
    with_init.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |v: &[Duration], p: f64| v[((v.len() - 1) as f64 * p) as usize];
    println!(
        "instantiate hello: median {:.1} µs, p99 {:.1} µs; with init: median {:.1} µs, p99 {:.1} µs ({rounds} rounds)",
        us(at(&bare, 0.5)),
        us(at(&bare, 0.99)),
        us(at(&with_init, 0.5)),
        us(at(&with_init, 0.99)),
    );
}

/// One count of plugins, in this process; prints one line of results.
fn measure(plugins: usize, batch: usize, late: bool) {
    let rss_start = status_kib("VmRSS:");
    let cache = std::env::temp_dir().join(format!("prism-density-{}", std::process::id()));
    let engine = PluginEngine::new(EngineSettings {
        max_memory_bytes: 64 << 20,
        max_instances: plugins as u32 + 8,
        cache_dir: Some(cache.clone()),
        ..EngineSettings::default()
    })
    .unwrap();
    let mut settings = pipeline_settings();
    settings.router.batch_size = batch;
    let mut pipeline = Pipeline::start(engine, settings, Vec::new()).unwrap();
    let bytes = wasm("hello");
    let component: Arc<[u8]> = Arc::from(bytes.as_slice());
    let s = pipeline.supervisor.clone();
    let source = pipeline.take_source();
    let mut reg = InstrumentRegistry::default();
    let (id, _) = reg.intern("binance", "BTCUSDT");
    let mut positions = prism_sources::Positions::default();
    let mut ts = 1_700_000_000_000i64;
    let rss_empty = status_kib("VmRSS:");
    let started = Instant::now();
    let mut first = Duration::ZERO;
    for n in 0..plugins {
        if late && n == 1 {
            // The first plugin has had an event: every other joins a route
            // that has carried events (as plugins added to a running host do).
            let mut opening = vec![Event::Instrument(reg.get(id).unwrap().clone())];
            opening.extend(trades(id, &mut ts, 1));
            source.send(positions.chunk(opening)).unwrap();
            let view = s.view("hello-0").unwrap();
            while view.metrics.events_in.load(Ordering::Relaxed) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let t = Instant::now();
        s.add_bytes(
            &PluginId::new(&format!("hello-{n}")).unwrap(),
            &bytes,
            PluginSettings {
                config_json: "{}".into(),
                limits: PluginLimitsConfig::default(),
                ..PluginSettings::default()
            },
            Origin::Upload {
                component: component.clone(),
            },
        )
        .unwrap();
        if n == 0 {
            first = t.elapsed();
        }
    }
    let added = started.elapsed();
    let rss_added = status_kib("VmRSS:");
    let threads_added = threads();

    // A stream every plugin takes: the same number of deliveries at every
    // count (at least 10 batches each).
    let events = (20_000_000 / plugins as u64).clamp(2_560, 1_000_000);
    let views: Vec<_> = (0..plugins)
        .map(|n| s.view(&format!("hello-{n}")).unwrap())
        .collect();
    let cpu_before = cpu();
    let streamed = Instant::now();
    if !(late && plugins > 1) {
        source
            .send(positions.chunk(vec![Event::Instrument(reg.get(id).unwrap().clone())]))
            .unwrap();
    }
    let mut left = events;
    while left > 0 {
        let take = left.min(1024);
        source
            .send(positions.chunk(trades(id, &mut ts, take)))
            .unwrap();
        left -= take;
    }
    while views
        .iter()
        .any(|v| v.metrics.events_in.load(Ordering::Relaxed) < events)
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let elapsed = streamed.elapsed();
    let cpu_used = cpu().saturating_sub(cpu_before);
    let rss_streamed = status_kib("VmRSS:");
    let threads_streamed = threads();
    drop(source);
    drop(views);
    pipeline.finish().unwrap();
    let _ = std::fs::remove_dir_all(&cache);
    let per_plugin = (rss_added.saturating_sub(rss_empty)) * 1024 / plugins as u64;
    println!(
        "| {plugins} | {:.1} | {:.1} | {:.1} | {per_plugin} | {:.3} | {:.0} | {threads_added} / {threads_streamed} | {events} | {:.2} | {:.0} | {:.2} |",
        rss_start as f64 / 1024.0,
        rss_added as f64 / 1024.0,
        rss_streamed as f64 / 1024.0,
        added.as_secs_f64(),
        first.as_secs_f64() * 1e3,
        elapsed.as_secs_f64(),
        events as f64 * plugins as f64 / elapsed.as_secs_f64(),
        cpu_used.as_secs_f64(),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<usize>().unwrap_or_else(|_| panic!("{flag}: {v}")))
    };
    let batch = value("--batch").unwrap_or(256);
    let late = args.iter().any(|a| a == "--late");
    if let Some(n) = value("--child") {
        measure(n, batch, late);
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    instantiate(if smoke { 50 } else { 2_000 });
    let counts: Vec<usize> = if smoke {
        vec![20]
    } else {
        let given: Vec<usize> = args
            .iter()
            .enumerate()
            .filter(|(i, _)| *i == 0 || args[i - 1] != "--batch")
            .filter_map(|(_, a)| a.parse().ok())
            .collect();
        if given.is_empty() {
            vec![100, 1000, 10_000]
        } else {
            given
        }
    };
    println!(
        "| plugins | RSS at start MiB | RSS with plugins MiB | RSS after the stream MiB | bytes per idle plugin | add all s | add first ms | threads (added / streamed) | events each | stream s | events delivered/s | CPU s |"
    );
    println!("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let me = std::env::current_exe().unwrap();
    for n in counts {
        let status = std::process::Command::new(&me)
            .args(["--child", &n.to_string(), "--batch", &batch.to_string()])
            .args(late.then_some("--late"))
            .status()
            .unwrap();
        assert!(status.success(), "{n} plugins: {status}");
    }
}
