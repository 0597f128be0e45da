//! PostgreSQL sink: rows per second sustained into the server, and what the
//! sink costs a replay.
//!
//! 1. *write rate*: output batches handed straight to the sink (as the sink
//!    stage would), each followed by its plugin's checkpoint, timed until
//!    the database has committed every row.
//! 2. *replay*: the same trades through a plugin (the test probe in
//!    `number` mode: three outputs per trade), once with only the memory
//!    sink and once with PostgreSQL as well, side by side; the pipeline's
//!    time (until every batch is through the sinks), and with PostgreSQL the
//!    time until the database has caught up.
//!
//! Needs the server (`PRISM_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`). Run:
//! `cargo build --release --target wasm32-wasip2 -p prism-probe` then
//! `cargo bench -p prism-postgres --bench postgres_sink`; `-- --smoke`
//! runs each part small (CI does, so it never rots).

use prism_config::PluginLimitsConfig;
use prism_control::{Pipeline, PipelineSettings, PluginSettings, SupervisorSettings};
use prism_model::{
    Checkpoint, Event, InstrumentRegistry, LogEntry, Output, OutputBatch, PluginId, SeriesPoint,
    Side, Trade, decimal,
};
use prism_outputs::{OutputStore, StoreLimits};
use prism_postgres::{Postgres, PostgresSettings, ViewPlugins};
use prism_router::RouterSettings;
use prism_runtime::{EngineSettings, PluginEngine};
use prism_sinks::{MemorySink, Overflow, Sink, SinkSpec};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn url() -> String {
    std::env::var("PRISM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn settings(schema: &str, dir: &std::path::Path) -> PostgresSettings {
    PostgresSettings {
        url: url(),
        schema: schema.into(),
        spool_dir: dir.join(schema),
        spool_max_bytes: 4 << 30,
        pool_size: 1,
        connect_timeout: Duration::from_secs(5),
        drain: Duration::from_secs(600),
        views: ViewPlugins::default(),
        archive: Vec::new(),
        stream: "bench".into(),
    }
}

fn drop_schema(runtime: &tokio::runtime::Runtime, schema: &str) {
    runtime.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .await
            .unwrap();
    });
}

fn wait_rows(pg: &Postgres, rows: u64) -> Duration {
    let started = Instant::now();
    let health = pg.health();
    while health.rows.load(Ordering::Relaxed) < rows {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "only {} of {rows} rows written: {:?}",
            health.rows.load(Ordering::Relaxed),
            health.last_error()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    started.elapsed()
}

/// Rows/s of `batches` batches of `per_batch` outputs made by `output`.
fn write_rate(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    name: &str,
    batches: u64,
    per_batch: usize,
    output: impl Fn(u64, usize) -> Output,
) {
    let schema = format!("bench_write_{}", std::process::id());
    drop_schema(runtime, &schema);
    let mut pg = runtime
        .block_on(Postgres::open(settings(&schema, dir)))
        .unwrap();
    let mut sink = pg.sink().unwrap();
    let plugin: Arc<str> = Arc::from("p");
    // Made before the clock starts: only the sink and the database count.
    let made: Vec<OutputBatch> = (0..batches)
        .map(|b| OutputBatch {
            plugin: plugin.clone(),
            position: b,
            previous: None,
            outputs: (0..per_batch).map(|i| output(b, i)).collect(),
        })
        .collect();
    let started = Instant::now();
    for batch in &made {
        sink.write(batch).unwrap();
        sink.checkpoint(&Checkpoint {
            plugin: plugin.clone(),
            position: Some(batch.position),
            version: Arc::from("bench"),
            state: Arc::from(&b"state"[..]),
            instruments: Vec::new(),
            account: None,
            last: false,
        })
        .unwrap();
    }
    sink.idle().unwrap();
    let handed = started.elapsed();
    // Every output, plus one checkpoint per batch.
    let rows = batches * per_batch as u64 + batches;
    wait_rows(&pg, rows);
    let total = started.elapsed();
    sink.finish().unwrap();
    drop(pg);
    drop_schema(runtime, &schema);
    println!(
        "| {name} | {rows} | {:.2} | {:.2} | {:.0} |",
        handed.as_secs_f64(),
        total.as_secs_f64(),
        rows as f64 / total.as_secs_f64()
    );
}

fn probe() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-wasip2/release/prism_probe.wasm")
}

fn trades(n: usize) -> Vec<Event> {
    let mut reg = InstrumentRegistry::default();
    let (btc, _) = reg.intern("binance", "BTCUSDT");
    let mut events = vec![Event::Instrument(reg.get(btc).unwrap().clone())];
    let price = decimal::parse("100.5").unwrap();
    let size = decimal::parse("0.25").unwrap();
    events.extend((0..n as i64).map(|i| {
        Event::Trade(Trade {
            instrument: btc,
            ts: 1_700_000_000_000 + i,
            received_ts: 1_700_000_000_000 + i,
            price,
            size,
            side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
            buyer: None,
            seller: None,
        })
    }));
    events
}

/// One replay of `events` through the probe; returns the pipeline's time
/// and, with PostgreSQL, the time until the database had every row.
fn replay(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    events: &[Event],
    with_postgres: bool,
) -> (Duration, Option<Duration>) {
    let engine = PluginEngine::new(EngineSettings::default()).unwrap();
    let store = Arc::new(OutputStore::new(StoreLimits::default()));
    let mut sinks = vec![SinkSpec::new(
        "memory",
        MemorySink::new(store),
        1024,
        Overflow::Wait,
    )];
    let schema = format!("bench_replay_{}", std::process::id());
    let mut pg = None;
    if with_postgres {
        drop_schema(runtime, &schema);
        let mut opened = runtime
            .block_on(Postgres::open(settings(&schema, dir)))
            .unwrap();
        sinks.push(SinkSpec::new(
            "postgres",
            opened.sink().unwrap(),
            1024,
            Overflow::Wait,
        ));
        pg = Some(opened);
    }
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
    let mut pipeline = Pipeline::start(engine, settings, sinks).unwrap();
    pipeline
        .supervisor
        .add_file(
            &PluginId::new("numbers").unwrap(),
            &probe(),
            PluginSettings {
                config_json: r#"{"mode":"number"}"#.into(),
                limits: PluginLimitsConfig::default(),
                ..PluginSettings::default()
            },
            false,
        )
        .unwrap();
    let started = Instant::now();
    let source = pipeline.take_source();
    let mut positions = prism_sources::Positions::default();
    for chunk in events.chunks(1024) {
        source.send(positions.chunk(chunk.to_vec())).unwrap();
    }
    drop(source);
    // Every batch through every sink's queue (PostgreSQL's into its spool).
    let sinks = pipeline.sinks.clone();
    let view = pipeline.supervisor.view("numbers").unwrap();
    while view.metrics.events_in.load(Ordering::Relaxed) < (events.len() - 1) as u64
        || sinks.iter().any(|s| s.queued.load(Ordering::Relaxed) > 0)
    {
        std::thread::sleep(Duration::from_micros(200));
    }
    let pipeline_time = started.elapsed();
    let caught_up = pg.as_ref().map(|pg| {
        // Three outputs per trade, committed with the checkpoints.
        let outputs = 3 * (events.len() - 1) as u64;
        let rows_seen = || pg.health().rows.load(Ordering::Relaxed);
        while rows_seen() < outputs {
            std::thread::sleep(Duration::from_millis(2));
        }
        started.elapsed()
    });
    pipeline.finish().unwrap();
    drop(pg);
    if with_postgres {
        drop_schema(runtime, &schema);
    }
    (pipeline_time, caught_up)
}

/// Whether the server answers; without it the bench is skipped with a
/// message, unless `PRISM_REQUIRE_SERVICES=1` makes its absence a failure.
fn server_present(runtime: &tokio::runtime::Runtime) -> bool {
    let reached = runtime.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            tokio_postgres::connect(&url(), tokio_postgres::NoTls),
        )
        .await
    });
    match reached {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => absent(&e.to_string()),
        Err(_) => absent("no answer in 5 s"),
    }
}

fn absent(why: &str) -> bool {
    if std::env::var("PRISM_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("PostgreSQL at {} is required but unreachable: {why}", url());
    }
    eprintln!(
        "skipped: PostgreSQL at {} is unreachable ({why}); set PRISM_TEST_POSTGRES_URL",
        url()
    );
    false
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    if !server_present(&runtime) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("prism-pg-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let scale: u64 = if smoke { 1 } else { 50 };

    println!("| outputs | rows | handed to the sink, s | committed, s | rows/s |");
    println!("|---|--:|--:|--:|--:|");
    let mut reg = InstrumentRegistry::default();
    let (btc, _) = reg.intern("binance", "BTCUSDT");
    let btc = reg.get(btc).unwrap().clone();
    let point = {
        let btc = btc.clone();
        move |b: u64, i: usize| {
            Output::Series(SeriesPoint {
                name: Arc::from("ratio"),
                instrument: Some(btc.clone()),
                ts: 1_700_000_000_000 + b as i64,
                value: i as f64,
            })
        }
    };
    write_rate(&runtime, &dir, "series points", 20 * scale, 1000, point);
    let log = move |b: u64, i: usize| {
        Output::Log(LogEntry {
            name: Arc::from("liquidation"),
            instrument: Some(btc.clone()),
            ts: 1_700_000_000_000 + b as i64,
            body: serde_json::json!({"side": "long", "price": "59995.5", "size": "2", "notional": "119991", "n": i}).into(),
        })
    };
    write_rate(
        &runtime,
        &dir,
        "log entries (JSON bodies)",
        10 * scale,
        1000,
        log,
    );

    let n = if smoke { 10_000 } else { 300_000 };
    let events = trades(n);
    println!();
    println!(
        "| replay of {n} trades, probe `number` (3 outputs a trade) | pipeline s | ns/event | database caught up, s |"
    );
    println!("|---|--:|--:|--:|");
    let runs = if smoke { 1 } else { 3 };
    let mut best = [Duration::MAX; 2];
    let mut caught = Duration::MAX;
    for _ in 0..runs {
        for (i, with) in [false, true].into_iter().enumerate() {
            let (t, c) = replay(&runtime, &dir, &events, with);
            best[i] = best[i].min(t);
            if let Some(c) = c {
                caught = caught.min(c);
            }
        }
    }
    for (i, name) in ["memory sink only", "memory + PostgreSQL"]
        .iter()
        .enumerate()
    {
        println!(
            "| {name} | {:.3} | {:.0} | {} |",
            best[i].as_secs_f64(),
            best[i].as_nanos() as f64 / n as f64,
            if i == 1 {
                format!("{:.3}", caught.as_secs_f64())
            } else {
                "–".into()
            }
        );
    }
    println!(
        "\nreplay with PostgreSQL / without: {:.3}",
        best[1].as_secs_f64() / best[0].as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
