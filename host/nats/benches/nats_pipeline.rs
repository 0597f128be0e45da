//! NATS JetStream: events/s a collector publishes, and events/s through a
//! worker (the `nats` source into the four reference plugins) beside the
//! same events fed directly from memory, in one run.
//!
//! Needs the server (`PRISM_TEST_NATS_URL`, default `nats://127.0.0.1:4222`)
//! and the reference plugins built (`scripts/test.sh`, or
//! `cargo build --release --target wasm32-wasip2 -p long-short-ratio
//! -p liquidation-map -p whale-detector -p funding-arb`). Run:
//! `cargo bench -p prism-nats --bench nats_pipeline`; `-- --smoke` runs it
//! small (CI does, so it never rots).

use prism_control::{Pipeline, PipelineSettings, PluginSettings, SupervisorSettings};
use prism_model::{Archived, Chunk, Event, PluginId};
use prism_nats::{Encoding, Nats, NatsSettings, NatsSource, SourceSettings};
use prism_router::RouterSettings;
use prism_runtime::{EngineSettings, PluginEngine};
use prism_sinks::Sink;
use prism_sources::{Normalizer, Simulator, SimulatorSettings};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PLUGINS: [(&str, &str); 4] = [
    ("long-short-ratio", "long_short_ratio"),
    ("liquidation-map", "liquidation_map"),
    ("whale-detector", "whale_detector"),
    ("funding-arb", "funding_arb"),
];

fn url() -> String {
    std::env::var("PRISM_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn settings(tag: &str) -> NatsSettings {
    let id = std::process::id();
    NatsSettings {
        url: url(),
        connect_timeout: Duration::from_secs(5),
        stream: format!("BENCH_{tag}_{id}"),
        subject_prefix: format!("bench{tag}{id}.market"),
        max_age: Duration::from_secs(3600),
        replicas: 1,
        duplicate_window: Duration::from_secs(120),
        output_stream: format!("BENCH_{tag}_OUT_{id}"),
        output_prefix: format!("bench{tag}{id}.out"),
        collector: "bench".into(),
        collect: prism_model::EventKind::ALL
            .into_iter()
            .filter(|k| *k != prism_model::EventKind::Fill)
            .collect(),
        encoding: Encoding::Json,
        in_flight: 1024,
        spool: None,
    }
}

fn delete_streams(runtime: &tokio::runtime::Runtime, s: &NatsSettings) {
    runtime.block_on(async {
        let Ok(client) = async_nats::connect(s.url.as_str()).await else {
            return;
        };
        let js = async_nats::jetstream::new(client);
        for name in [
            s.stream.clone(),
            s.output_stream.clone(),
            format!("{}_IDS", s.stream),
        ] {
            let _ = js.delete_stream(name).await;
        }
    });
}

/// The simulator's events for `minutes`, with declarations, and the
/// instruments they name.
fn simulated(minutes: i64) -> (Vec<Event>, Vec<Arc<prism_model::Instrument>>) {
    let mut sim = Simulator::new(&SimulatorSettings {
        seed: 5,
        start_ms: 1_700_000_000_000,
        duration_ms: Some(minutes * 60_000),
        accounts: 20,
        tickers: false,
        candles: Vec::new(),
    });
    let mut normalizer = Normalizer::default();
    let mut records = Vec::new();
    let mut events = Vec::new();
    while sim.step(&mut records) {
        for r in records.drain(..) {
            normalizer.push(&r, &mut events).unwrap();
        }
    }
    let registry = normalizer.registry();
    let table = (0..registry.len() as u32)
        .filter_map(|i| registry.get(prism_model::InstrumentId(i)).cloned())
        .collect();
    (events, table)
}

fn wasm(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-wasip2/release")
        .join(format!("{file}.wasm"))
}

fn pipeline() -> Pipeline {
    let engine = PluginEngine::new(EngineSettings::default()).unwrap();
    let settings = PipelineSettings {
        router: RouterSettings {
            batch_size: 256,
            batch_linger: Duration::from_millis(5),
            ..RouterSettings::default()
        },
        output_queue: 1024,
        source_queue: 16,
        archive: Vec::new(),
        supervisor: SupervisorSettings::default(),
    };
    let pipeline = Pipeline::start(engine, settings, Vec::new()).unwrap();
    for (id, file) in PLUGINS {
        pipeline
            .supervisor
            .add_file(
                &PluginId::new(id).unwrap(),
                &wasm(file),
                PluginSettings::default(),
                false,
            )
            .unwrap();
    }
    pipeline
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let reached = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), async_nats::connect(url().as_str())).await
    });
    if !matches!(reached, Ok(Ok(_))) {
        assert!(
            !std::env::var("PRISM_REQUIRE_SERVICES").is_ok_and(|v| v == "1"),
            "NATS at {} is required but unreachable",
            url()
        );
        eprintln!(
            "skipped: NATS at {} is unreachable; set PRISM_TEST_NATS_URL",
            url()
        );
        return;
    }
    let (events, registry) = simulated(if smoke { 1 } else { 20 });
    let market: Vec<(u64, Event)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.is_market())
        .map(|(i, e)| (i as u64, e.clone()))
        .collect();
    let n = market.len();
    let instruments = registry.len();
    println!("{n} market events over {instruments} instruments (simulator, seed 5)");
    println!();
    println!("| stage | events | seconds | events/s |");
    println!("|---|--:|--:|--:|");

    // The collector: archived events published, until the stream has each.
    let s = settings("P");
    delete_streams(&runtime, &s);
    let nats = runtime
        .block_on(Nats::connect(s.clone(), true, false))
        .unwrap();
    let mut collector = nats.collector();
    let archived: Vec<(u64, Arc<prism_model::Instrument>, Event)> = market
        .iter()
        .map(|(p, e)| {
            let i = registry[e.instrument().unwrap().0 as usize].clone();
            (*p, i, e.clone())
        })
        .collect();
    let started = Instant::now();
    for chunk in archived.chunks(1024) {
        collector
            .archive(&Archived {
                events: chunk.to_vec(),
            })
            .unwrap();
    }
    collector.idle().unwrap();
    let published = started.elapsed();
    row("collector: publish (JSON), acknowledged", n, published);

    // Direct: the same events from memory into the plugins.
    let direct = {
        let mut p = pipeline();
        let source = p.take_source();
        let started = Instant::now();
        let mut first = 0;
        for chunk in events.chunks(1024) {
            let c = Chunk {
                first,
                events: chunk.to_vec(),
            };
            first = c.end();
            source.send(c).unwrap();
        }
        drop(source);
        p.finish().unwrap();
        started.elapsed()
    };
    row("direct: memory → 4 reference plugins", n, direct);

    // A worker: the stream into the plugins, until it consumed every message.
    let over_bus = {
        let mut p = pipeline();
        let source = p.take_source();
        let consumer = runtime
            .block_on(NatsSource::open(
                &nats,
                &SourceSettings {
                    filter: format!("{}.>", s.subject_prefix),
                    durable: "bench".into(),
                    from_oldest: true,
                    fetch: 1024,
                    ack_wait: Duration::from_secs(60),
                    start: None,
                },
            ))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(prism_sources::SourceStats::default());
        let health = nats.health();
        let want = (n + instruments) as u64;
        let started = Instant::now();
        let thread = {
            let (stop, stats) = (stop.clone(), stats.clone());
            std::thread::spawn(move || consumer.run(&source, &stats, &stop))
        };
        while health.consumed.load(Ordering::Relaxed) < want {
            assert!(started.elapsed() < Duration::from_secs(600));
            std::thread::sleep(Duration::from_micros(500));
        }
        // Every message taken; the plugins are at most their queues behind.
        let taken = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap().unwrap();
        p.finish().unwrap();
        (taken, started.elapsed())
    };
    row(
        "worker: NATS → 4 reference plugins, all taken",
        n,
        over_bus.0,
    );
    row(
        "worker: … and drained (includes the last pull's 0.5 s wait)",
        n,
        over_bus.1,
    );
    let over_bus = over_bus.0;
    println!(
        "\nworker over NATS / direct: {:.2}",
        over_bus.as_secs_f64() / direct.as_secs_f64()
    );
    drop(nats);
    delete_streams(&runtime, &s);
}

fn row(name: &str, n: usize, d: Duration) {
    println!(
        "| {name} | {n} | {:.3} | {:.0} |",
        d.as_secs_f64(),
        n as f64 / d.as_secs_f64()
    );
}
