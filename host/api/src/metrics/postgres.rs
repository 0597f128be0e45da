//! The PostgreSQL sink, when configured.

use super::Exposition;
use crate::state::AppState;
use std::sync::atomic::Ordering;

pub(super) fn write(e: &mut Exposition, state: &AppState) {
    let Some(pg) = &state.postgres else {
        return;
    };
    let h = &pg.health;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    e.single(
        "prism_postgres_connected",
        "gauge",
        "1 while the writer holds a working connection.",
        u8::from(h.connected.load(Ordering::Relaxed)),
    );
    e.single(
        "prism_postgres_rows_total",
        "counter",
        "Rows written (outputs, dead letters, checkpoints, registry, archived events).",
        load(&h.rows),
    );
    e.single(
        "prism_postgres_commits_total",
        "counter",
        "Transactions committed.",
        load(&h.commits),
    );
    e.single(
        "prism_postgres_errors_total",
        "counter",
        "Failed attempts to connect or write (each is retried).",
        load(&h.errors),
    );
    e.single(
        "prism_postgres_spool_bytes",
        "gauge",
        "Bytes waiting in the local spool for the database.",
        load(&h.spool_bytes),
    );
    e.single(
        "prism_postgres_spool_full",
        "gauge",
        "1 while the spool is full and the pipeline is held back.",
        u8::from(h.spool_full.load(Ordering::Relaxed)),
    );
    e.single(
        "prism_postgres_pending_rows",
        "gauge",
        "Output rows read from the spool, waiting for their plugin's checkpoint.",
        load(&h.pending_rows),
    );
    e.single(
        "prism_postgres_last_commit_seconds",
        "gauge",
        "Duration of the last commit.",
        load(&h.last_commit_us) as f64 / 1e6,
    );
    e.single(
        "prism_postgres_commit_seconds_total",
        "counter",
        "Time spent committing (with the commit count, the mean).",
        load(&h.commit_us_total) as f64 / 1e6,
    );
    e.single(
        "prism_postgres_retention_deleted_rows_total",
        "counter",
        "Rows retention deleted.",
        load(&h.retained_away),
    );
}
