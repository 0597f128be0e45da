//! Retention: rows older than their kind's keep time are deleted in the
//! background, in small batches (so neither the writer nor readers wait
//! on a long delete). Age is measured in event time, back from the newest
//! event the pipeline routed — a replay of last year keeps last year.

use crate::health::PostgresHealth;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Rows deleted per statement.
const BATCH: i64 = 5_000;

/// A kind of row with a retention rule (`postgres.retention` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Series,
    /// Document history; each key's newest version is always kept.
    Documents,
    Logs,
    Signals,
    Orders,
    Alerts,
    DeadLetters,
    Trades,
    Liquidations,
    Funding,
    OpenInterest,
    Positions,
}

impl Table {
    /// Every kind, with its config key.
    pub const ALL: [(&'static str, Table); 12] = [
        ("series", Table::Series),
        ("documents", Table::Documents),
        ("logs", Table::Logs),
        ("signals", Table::Signals),
        ("orders", Table::Orders),
        ("alerts", Table::Alerts),
        ("dead_letters", Table::DeadLetters),
        ("trades", Table::Trades),
        ("liquidations", Table::Liquidations),
        ("funding", Table::Funding),
        ("open_interest", Table::OpenInterest),
        ("positions", Table::Positions),
    ];

    /// The kind a config key names.
    #[must_use]
    pub fn named(key: &str) -> Option<Table> {
        Self::ALL.iter().find(|(k, _)| *k == key).map(|(_, t)| *t)
    }

    fn delete_sql(self) -> String {
        let (table, ts) = match self {
            Table::Series => ("series", "ts"),
            Table::Documents => ("documents", "ts"),
            Table::Logs => ("logs", "ts"),
            Table::Signals => ("signals", "ts"),
            Table::Orders => ("orders", "ts"),
            Table::Alerts => ("alerts", "ts"),
            Table::DeadLetters => ("dead_letters", "at_ms"),
            Table::Trades => ("trades", "ts"),
            Table::Liquidations => ("liquidation_events", "ts"),
            Table::Funding => ("funding_events", "ts"),
            Table::OpenInterest => ("open_interest_events", "ts"),
            Table::Positions => ("position_events", "ts"),
        };
        let keep_latest = if self == Table::Documents {
            " AND EXISTS (SELECT 1 FROM documents n WHERE n.plugin = t.plugin AND n.key = t.key
                          AND (n.position, n.idx) > (t.position, t.idx))"
        } else {
            ""
        };
        format!(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY(
                 SELECT ctid FROM {table} t WHERE {ts} < $1{keep_latest} LIMIT $2))"
        )
    }
}

/// The retention task.
pub struct Retention {
    pool: deadpool_postgres::Pool,
    rules: Vec<(Table, Duration)>,
    health: Arc<PostgresHealth>,
}

impl Retention {
    pub(crate) fn new(
        pool: deadpool_postgres::Pool,
        rules: Vec<(Table, Duration)>,
        health: Arc<PostgresHealth>,
    ) -> Self {
        Self {
            pool,
            rules,
            health,
        }
    }

    /// Deletes, for each rule, the rows older than `now_ms` minus its keep
    /// time; returns how many.
    ///
    /// # Errors
    /// What the database said.
    pub async fn sweep(&self, now_ms: i64) -> Result<u64, crate::PostgresError> {
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| crate::PostgresError::Connect {
                target: "the read pool".into(),
                reason: e.to_string(),
            })?;
        let mut total = 0;
        for (table, keep) in &self.rules {
            let cutoff = now_ms.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
            let sql = table.delete_sql();
            loop {
                let n = client.execute(&sql, &[&cutoff, &BATCH]).await?;
                total += n;
                if n < BATCH.unsigned_abs() {
                    break;
                }
                // Let the writer's transactions through between batches.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        self.health
            .retained_away
            .fetch_add(total, Ordering::Relaxed);
        Ok(total)
    }

    /// Sweeps every `every`, measuring age back from `head_ms` (the newest
    /// routed event time; nothing is deleted before there is one). Runs
    /// until the task is dropped.
    pub async fn run(self, every: Duration, head_ms: Arc<AtomicI64>) {
        if self.rules.is_empty() {
            return;
        }
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let now = head_ms.load(Ordering::Relaxed);
            if now <= 0 {
                continue;
            }
            match self.sweep(now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "retention deleted old rows"),
                Err(e) => tracing::warn!("retention could not run; it tries again later: {e}"),
            }
        }
    }
}
