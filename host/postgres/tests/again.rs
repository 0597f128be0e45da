//! Rows written again (a transaction retried after a lost answer, events
//! archived again after a restart) are left alone: the fast plain insert
//! meets them, and the transaction is written again leaving them be.
//! Needs the server (`PRISM_TEST_POSTGRES_URL`); skipped without it
//! unless `PRISM_REQUIRE_SERVICES=1`.

use prism_model::{Checkpoint, InstrumentRegistry, Output, OutputBatch, SeriesPoint};
use prism_postgres::{Postgres, PostgresSettings, ViewPlugins};
use prism_sinks::Sink;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn url() -> String {
    std::env::var("PRISM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn settings(schema: &str, spool: &std::path::Path) -> PostgresSettings {
    PostgresSettings {
        url: url(),
        schema: schema.into(),
        spool_dir: spool.to_path_buf(),
        spool_max_bytes: 64 << 20,
        pool_size: 1,
        connect_timeout: Duration::from_secs(5),
        drain: Duration::from_secs(30),
        views: ViewPlugins::default(),
        archive: Vec::new(),
        stream: "again".into(),
    }
}

async fn client() -> Option<tokio_postgres::Client> {
    match tokio::time::timeout(
        Duration::from_secs(5),
        tokio_postgres::connect(&url(), tokio_postgres::NoTls),
    )
    .await
    {
        Ok(Ok((client, conn))) => {
            tokio::spawn(conn);
            Some(client)
        }
        _ => {
            assert!(
                !std::env::var("PRISM_REQUIRE_SERVICES").is_ok_and(|v| v == "1"),
                "PostgreSQL at {} is required but unreachable",
                url()
            );
            eprintln!("skipped: PostgreSQL at {} is unreachable", url());
            None
        }
    }
}

/// Hands `batches` (positions 0..n, 3 points each, a checkpoint after each)
/// to a fresh sink with its own spool, and waits for the rows.
fn write_all(runtime: &tokio::runtime::Runtime, schema: &str, spool: &std::path::Path, n: u64) {
    let _ = std::fs::remove_dir_all(spool);
    let mut pg = runtime
        .block_on(Postgres::open(settings(schema, spool)))
        .unwrap();
    let mut sink = pg.sink().unwrap();
    let mut reg = InstrumentRegistry::default();
    let (btc, _) = reg.intern("binance", "BTCUSDT");
    let btc = reg.get(btc).unwrap().clone();
    let plugin: Arc<str> = Arc::from("p");
    for position in 0..n {
        sink.write(&OutputBatch {
            plugin: plugin.clone(),
            position,
            previous: None,
            outputs: (0..3)
                .map(|i| {
                    Output::Series(SeriesPoint {
                        name: Arc::from("x"),
                        instrument: Some(btc.clone()),
                        ts: position as i64,
                        value: (position * 10 + i) as f64,
                    })
                })
                .collect(),
        })
        .unwrap();
        sink.checkpoint(&Checkpoint {
            plugin: plugin.clone(),
            position: Some(position),
            version: Arc::from("v"),
            state: Arc::from(&b"s"[..]),
            instruments: Vec::new(),
            account: None,
            last: false,
        })
        .unwrap();
    }
    sink.idle().unwrap();
    let health = pg.health();
    let started = Instant::now();
    // Every batch's checkpoint committed: the writer is through.
    while health.commits.load(Ordering::Relaxed) == 0
        || health.pending_rows.load(Ordering::Relaxed) > 0
        || health.spool_bytes.load(Ordering::Relaxed) > 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            health.last_error()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    sink.finish().unwrap();
    assert_eq!(
        health.errors.load(Ordering::Relaxed),
        0,
        "{:?}",
        health.last_error()
    );
}

#[test]
fn outputs_written_again_are_left_alone() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let Some(client) = runtime.block_on(client()) else {
        return;
    };
    let schema = format!("again_{}", std::process::id());
    let drop_schema = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    runtime
        .block_on(client.batch_execute(&drop_schema))
        .unwrap();
    let spool = std::env::temp_dir().join(format!("prism-again-{}", std::process::id()));
    write_all(&runtime, &schema, &spool, 50);
    // The same 50 batches, and 10 more: a run that lost its spool's cursor.
    write_all(&runtime, &schema, &spool, 60);
    let rows = runtime
        .block_on(client.query(
            &format!(
                "SELECT count(*), count(DISTINCT (position, idx)), sum(value) FROM {schema}.series"
            ),
            &[],
        ))
        .unwrap();
    let (count, distinct, sum): (i64, i64, f64) = (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    assert_eq!((count, distinct), (180, 180));
    // Σ over positions 0..60 of (30·p + 0 + 1 + 2).
    assert_eq!(sum, (0..60).map(|p| 30.0 * p as f64 + 3.0).sum::<f64>());
    runtime
        .block_on(client.batch_execute(&drop_schema))
        .unwrap();
    let _ = std::fs::remove_dir_all(&spool);
}
