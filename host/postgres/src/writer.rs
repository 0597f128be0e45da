//! The writer: reads the spool in order and commits it to the database.
//!
//! A plugin's outputs and dead letters wait (in memory, in order) for the
//! plugin's next checkpoint; then they are committed in one transaction
//! together with that checkpoint. What the database holds is therefore
//! always what some run produced up to a checkpoint it also holds: a
//! restart restores that checkpoint and resumes after its position, and
//! no output is written twice (rows are also keyed by their identity, so
//! a transaction retried after a lost answer changes nothing). Registry
//! changes and archived events are committed as they come.

use crate::health::PostgresHealth;
use crate::insert::Mode;
use crate::rows::{ArchiveRows, CheckpointRow, DeadLetterRow, ExecutionRows, OutputRows, Record};
use crate::spool::{Cursor, Spool};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

/// Records read from the spool at once.
const READ: usize = 4096;
/// Rows that make a transaction worth committing without waiting for more.
const COMMIT_ROWS: usize = 20_000;

/// Where the records an earlier run spooled end, and per plugin the
/// position of the checkpoint it resumes from: its records after it are
/// dropped (the plugin makes them again).
pub(crate) type Earlier = (Cursor, HashMap<String, Option<i64>>);

/// What the writer needs.
pub(crate) struct WriterParts {
    pub(crate) spool: Arc<Spool>,
    /// Migrated already (at open).
    pub(crate) config: tokio_postgres::Config,
    pub(crate) health: Arc<PostgresHealth>,
    /// Set when the sink has taken its last record: the writer drains
    /// the spool (for at most `drain`) and ends.
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) drain: Duration,
    /// For records spooled by an earlier run: each plugin's outputs after
    /// the checkpoint it resumes from are made again, so they are dropped.
    pub(crate) earlier: Option<Earlier>,
}

/// One transaction's worth of work, in spool order.
enum Ready {
    /// A plugin's outputs and dead letters up to its checkpoint, and the
    /// checkpoint (`None`: it waited too long for one, see [`STRANDED`]).
    Checkpoint(Vec<Record>, Option<CheckpointRow>),
    /// Committed as it comes.
    Now(Record),
}

/// A plugin's records waiting for its checkpoint: where the first starts
/// (the spool is kept from there) and the records.
struct Waiting {
    since: Cursor,
    records: Vec<Record>,
    rows: usize,
    first_at: Instant,
}

/// A plugin's outputs that wait this long for a checkpoint (one that failed
/// and was removed, or stays failed) are written without one, rather than
/// hold the spool (and, once it is full, the pipeline) for good.
const STRANDED: Duration = Duration::from_secs(120);

pub(crate) fn run(parts: WriterParts) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("the PostgreSQL writer cannot start its runtime: {e}");
            return;
        }
    };
    runtime.block_on(Writer::new(parts).run());
}

struct Writer {
    parts: WriterParts,
    client: Option<Client>,
    cursor: Cursor,
    waiting: HashMap<String, Waiting>,
    ready: Vec<Ready>,
    ready_rows: usize,
    /// Where the records in `ready` end (released once they are committed).
    ready_end: Cursor,
    /// Per plugin, how many instruments its stored checkpoint lists
    /// (they only grow: an unchanged list is not written again).
    instruments: HashMap<String, usize>,
    backoff: Duration,
    stopping_since: Option<Instant>,
}

impl Writer {
    fn new(parts: WriterParts) -> Self {
        let cursor = parts.spool.committed();
        Self {
            parts,
            client: None,
            cursor,
            waiting: HashMap::new(),
            ready: Vec::new(),
            ready_rows: 0,
            ready_end: cursor,
            instruments: HashMap::new(),
            backoff: Duration::from_millis(100),
            stopping_since: None,
        }
    }

    async fn run(mut self) {
        loop {
            let stopping = self.parts.stop.load(Ordering::Relaxed);
            if stopping && self.stopping_since.is_none() {
                self.stopping_since = Some(Instant::now());
            }
            if self
                .stopping_since
                .is_some_and(|t| t.elapsed() > self.parts.drain)
            {
                tracing::warn!(
                    "PostgreSQL did not take everything before shutdown; the rest stays spooled for the next start"
                );
                return;
            }
            let wait = if stopping {
                Duration::ZERO
            } else {
                Duration::from_millis(100)
            };
            let read = match self.parts.spool.read(self.cursor, READ, wait) {
                Ok(r) => r,
                Err(e) => {
                    self.parts.health.failed(format!("{e}"));
                    tracing::error!("the PostgreSQL writer cannot read its spool: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let drained = read.is_empty();
            for (start, next, record) in read {
                self.take(start, record);
                self.cursor = next;
                self.ready_end = next;
            }
            self.strand();
            self.parts.health.pending_rows.store(
                self.waiting.values().map(|w| w.rows as u64).sum(),
                Ordering::Relaxed,
            );
            if !self.ready.is_empty() && (self.ready_rows >= COMMIT_ROWS || drained || stopping) {
                self.commit().await;
            } else if self.ready.is_empty() {
                self.release();
            }
            self.parts.health.spool_bytes.store(
                self.parts.spool.bytes.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
            self.parts.health.spool_full.store(
                self.parts.spool.full.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
            if stopping && drained && self.ready.is_empty() {
                return;
            }
        }
    }

    /// Sorts one record into what waits for a checkpoint and what is ready.
    fn take(&mut self, start: Cursor, record: Record) {
        if let Some((end, cutoff)) = &self.parts.earlier
            && start < *end
        {
            let (plugin, position) = match &record {
                Record::Outputs(o) => (o.plugin.as_str(), Some(o.position)),
                Record::DeadLetter(d) => (d.plugin.as_str(), Some(d.position)),
                Record::Checkpoint(c) => (c.plugin.as_str(), c.position),
                Record::Execution(e) => (e.plugin.as_str(), e.position),
                _ => ("", None),
            };
            let covered = cutoff.get(plugin).copied().flatten();
            let dropped = match (&record, position) {
                // A checkpoint no later than the one restored.
                (Record::Checkpoint(_), p) => cutoff.contains_key(plugin) && p > covered,
                (Record::Outputs(_) | Record::DeadLetter(_), Some(p)) => {
                    covered.is_none_or(|c| p > c)
                }
                // Made after the restored checkpoint: made again.
                (Record::Execution(_), p) => cutoff.contains_key(plugin) && p > covered,
                _ => false,
            };
            if dropped {
                // Made again by the plugin resuming from its checkpoint.
                return;
            }
        }
        match record {
            Record::Outputs(_) | Record::DeadLetter(_) | Record::Execution(_) => {
                let plugin = record.plugin().unwrap_or_default().to_owned();
                let rows = match &record {
                    Record::Outputs(o) => o.len(),
                    Record::Execution(e) => e.report.len(),
                    _ => 1,
                };
                let w = self.waiting.entry(plugin).or_insert_with(|| Waiting {
                    since: start,
                    records: Vec::new(),
                    rows: 0,
                    first_at: Instant::now(),
                });
                w.records.push(record);
                w.rows += rows;
            }
            Record::Checkpoint(c) => {
                let (records, rows) = self
                    .waiting
                    .remove(&c.plugin)
                    .map_or((Vec::new(), 0), |w| (w.records, w.rows));
                self.ready_rows += rows + 1;
                self.ready.push(Ready::Checkpoint(records, Some(c)));
            }
            other => {
                self.ready_rows += match &other {
                    Record::Archive(a) => a.len(),
                    _ => 1,
                };
                self.ready.push(Ready::Now(other));
            }
        }
    }

    /// Moves outputs that waited [`STRANDED`] for their checkpoint to what
    /// is written now.
    fn strand(&mut self) {
        let stranded: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.first_at.elapsed() >= STRANDED)
            .map(|(p, _)| p.clone())
            .collect();
        for plugin in stranded {
            if let Some(w) = self.waiting.remove(&plugin) {
                tracing::warn!(
                    plugin = %plugin,
                    rows = w.rows,
                    "outputs waited {}s for their checkpoint (the plugin failed or was removed); written without one",
                    STRANDED.as_secs()
                );
                self.ready_rows += w.rows;
                self.ready.push(Ready::Checkpoint(w.records, None));
            }
        }
    }

    /// Gives back the spool up to what no plugin still waits on.
    fn release(&mut self) {
        let upto = self
            .waiting
            .values()
            .map(|w| w.since)
            .min()
            .map_or(self.ready_end, |w| w.min(self.ready_end));
        if let Err(e) = self.parts.spool.release(upto) {
            tracing::error!("the PostgreSQL spool cannot record its progress: {e}");
        }
    }

    async fn connect(&mut self) -> bool {
        if self.client.is_some() {
            return true;
        }
        let connected =
            tokio::time::timeout(Duration::from_secs(10), self.parts.config.connect(NoTls)).await;
        match connected {
            Ok(Ok((client, connection))) => {
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("PostgreSQL connection ended: {e}");
                    }
                });
                self.client = Some(client);
                self.parts.health.connected.store(true, Ordering::Relaxed);
                self.backoff = Duration::from_millis(100);
                tracing::info!("connected to PostgreSQL");
                true
            }
            Ok(Err(e)) => {
                self.parts.health.failed(e.to_string());
                false
            }
            Err(_) => {
                self.parts
                    .health
                    .failed("connecting took longer than 10 s".into());
                false
            }
        }
    }

    /// Commits everything ready in one transaction, retrying (with backoff,
    /// reconnecting) until the database takes it or the drain time ends.
    async fn commit(&mut self) {
        loop {
            if self.connect().await {
                let started = Instant::now();
                let client = self.client.as_mut().expect("connected above");
                let mut written =
                    write(client, &self.ready, &mut self.instruments, Mode::Fast).await;
                if written
                    .as_ref()
                    .err()
                    .and_then(tokio_postgres::Error::code)
                    .is_some_and(|c| *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
                {
                    // Some rows are there already: the same, leaving them be.
                    written =
                        write(client, &self.ready, &mut self.instruments, Mode::Careful).await;
                }
                match written {
                    Ok(rows) => {
                        let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                        let h = &self.parts.health;
                        h.rows.fetch_add(rows, Ordering::Relaxed);
                        h.commits.fetch_add(1, Ordering::Relaxed);
                        h.last_commit_us.store(took, Ordering::Relaxed);
                        h.commit_us_total.fetch_add(took, Ordering::Relaxed);
                        self.ready.clear();
                        self.ready_rows = 0;
                        self.release();
                        return;
                    }
                    Err(e) => {
                        tracing::warn!("writing to PostgreSQL failed; retrying: {e}");
                        self.parts.health.failed(e.to_string());
                        self.client = None;
                    }
                }
            }
            if self
                .stopping_since
                .is_some_and(|t| t.elapsed() > self.parts.drain)
            {
                return;
            }
            tokio::time::sleep(self.backoff).await;
            self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// Writes `ready` in one transaction; returns the rows written.
async fn write(
    client: &mut Client,
    ready: &[Ready],
    instruments: &mut HashMap<String, usize>,
    mode: Mode,
) -> Result<u64, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let mut outputs: Vec<&OutputRows> = Vec::new();
    let mut archive: Vec<&ArchiveRows> = Vec::new();
    let mut dead: Vec<&DeadLetterRow> = Vec::new();
    let mut execution: Vec<&ExecutionRows> = Vec::new();
    for r in ready {
        match r {
            Ready::Checkpoint(records, _) => {
                for record in records {
                    match record {
                        Record::Outputs(o) => outputs.push(o),
                        Record::DeadLetter(d) => dead.push(d),
                        Record::Execution(e) => execution.push(e),
                        _ => {}
                    }
                }
            }
            Ready::Now(Record::Archive(a)) => archive.push(a),
            Ready::Now(_) => {}
        }
    }
    let mut rows = crate::insert::outputs(&tx, &outputs, mode).await?;
    rows += crate::insert::archive(&tx, &archive, mode).await?;
    rows += crate::insert::dead_letters(&tx, &dead).await?;
    rows += crate::paper::execution(&tx, &execution).await?;
    // Registry changes and checkpoints in spool order.
    let mut listed = HashMap::new();
    for r in ready {
        match r {
            Ready::Checkpoint(_, None) => {}
            Ready::Checkpoint(_, Some(c)) => {
                let known = instruments.get(&c.plugin).copied();
                let fresh = known != Some(c.instruments.len());
                crate::insert::checkpoint(&tx, c, fresh).await?;
                listed.insert(c.plugin.clone(), c.instruments.len());
                rows += 1;
            }
            Ready::Now(record) => rows += crate::insert::registry(&tx, record).await?,
        }
    }
    tx.commit().await?;
    instruments.extend(listed);
    Ok(rows)
}
