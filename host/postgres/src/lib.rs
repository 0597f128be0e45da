//! PostgreSQL for Prism: a sink of the sink stage that keeps every output
//! exactly once, the plugin registry, plugin checkpoints, dead letters and
//! (optionally) archived input events; and the history the API reads.
//!
//! The path of a record: the sink ([`PostgresSink`], on its own thread
//! behind its own bounded queue) turns each delivery into rows and appends
//! them to a local spool (bounded, on disk); the writer thread reads the
//! spool in order and commits it. A plugin's outputs are committed in one
//! transaction with the checkpoint that covers them, so the database always
//! holds a consistent cut: a restart restores each plugin from its
//! checkpoint and the stream resumes after it. Every output row is keyed by
//! its identity `(plugin, position, idx)` — the position of the input
//! batch that made it and its index among that batch's outputs — and
//! inserted with `ON CONFLICT DO NOTHING`, so retries and replays write it
//! once. When the database is away the spool grows; when the spool is full
//! the sink waits, and so does the pipeline: nothing is dropped.

mod health;
mod history;
mod insert;
mod paper;
mod restore;
mod retention;
mod rows;
mod schema;
mod sink;
mod spool;
mod writer;

pub use health::PostgresHealth;
pub use history::{
    Filter, History, LogRecord, PaperHistory, SeriesRecord, SignalRecord, TradeRecord,
};
pub use restore::{Restored, SavedCheckpoint, SavedOrigin, SavedPlugin};
pub use retention::Retention;
pub use schema::{ViewPlugins, version as schema_version};
pub use sink::PostgresSink;
pub use spool::SpoolError;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Why the database cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    /// The server answered with an error, or the connection broke.
    #[error("PostgreSQL: {0}")]
    Database(#[from] tokio_postgres::Error),
    /// The schema was written by a newer Prism.
    #[error(
        "the database's Prism schema is at version {found}, newer than this build knows ({known}): run a newer Prism, or point postgres.schema at another schema"
    )]
    NewerSchema { found: i32, known: i32 },
    /// A migration could not be applied.
    #[error("PostgreSQL schema migration failed: {0}")]
    Migration(String),
    /// No connection within the time allowed.
    #[error("cannot connect to PostgreSQL at {target}: {reason}")]
    Connect { target: String, reason: String },
    /// The schema holds another stream's outputs.
    #[error(
        "schema `{schema}` holds the outputs of another stream ({stored}); this run reads {current}: outputs are identified by their position in the stream, so each stream needs its own schema (postgres.schema)"
    )]
    OtherStream {
        schema: String,
        stored: String,
        current: String,
    },
    /// The local spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A setting is wrong.
    #[error("postgres.{key}: {reason}")]
    Setting { key: &'static str, reason: String },
}

/// What the database sink needs, from the config.
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// `postgres://user@host:port/database` (libpq URL or key=value text).
    pub url: String,
    /// The schema Prism's tables live in (an identifier: `[a-z_][a-z0-9_]*`).
    pub schema: String,
    /// Where the spool lives.
    pub spool_dir: PathBuf,
    /// The spool's bound; when full, the pipeline waits.
    pub spool_max_bytes: u64,
    /// Connections for reads (API history, retention).
    pub pool_size: usize,
    /// How long to wait for the database at start and per attempt.
    pub connect_timeout: Duration,
    /// At shutdown, how long the writer may still try to empty the spool.
    pub drain: Duration,
    /// The plugins the SQL views read.
    pub views: ViewPlugins,
    /// The input event kinds kept (`archive_*` tables).
    pub archive: Vec<prism_model::EventKind>,
    /// What the stream is (`replay:<path>`, `simulator:<seed>…`, `live`):
    /// a schema holds one stream's outputs.
    pub stream: String,
}

impl PostgresSettings {
    /// The connection config: the URL, with the schema as search path.
    ///
    /// # Errors
    /// [`PostgresError::Setting`] naming what is wrong.
    pub fn connection(&self) -> Result<tokio_postgres::Config, PostgresError> {
        if !valid_identifier(&self.schema) {
            return Err(PostgresError::Setting {
                key: "schema",
                reason: format!(
                    "`{}` is not a plain identifier (lower-case letters, digits and `_`, not starting with a digit, at most 63)",
                    self.schema
                ),
            });
        }
        let mut config: tokio_postgres::Config =
            self.url.parse().map_err(|e| PostgresError::Setting {
                key: "url",
                reason: format!("not a PostgreSQL URL: {e}"),
            })?;
        config.options(format!("-c search_path={}", self.schema));
        config.connect_timeout(self.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("prism");
        }
        Ok(config)
    }
}

/// The schema name rule: safe to place in SQL text unquoted.
#[must_use]
pub fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Where a config points, without its password (for messages).
#[must_use]
pub fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config.get_dbname().unwrap_or("(default)");
    format!("{host}:{port}/{db}")
}

/// An opened database: migrated, its checkpoints and registry read, its
/// spool open. Make the sink with [`Self::sink`] and the history reader
/// with [`Self::history`].
pub struct Postgres {
    settings: PostgresSettings,
    connection: tokio_postgres::Config,
    spool: Arc<spool::Spool>,
    health: Arc<PostgresHealth>,
    pool: deadpool_postgres::Pool,
    restored: Option<Restored>,
    /// Set at shutdown: a full spool then takes the last records rather
    /// than hold the shutdown.
    overflow: Arc<AtomicBool>,
    earlier: Option<(
        spool::Cursor,
        std::collections::HashMap<String, Option<i64>>,
    )>,
}

impl Postgres {
    /// Connects (waiting up to `connect_timeout`), brings the schema to this
    /// build's version, checks the schema holds this stream, and reads what
    /// a restart resumes from: the database's checkpoints and registry with
    /// what the spool still holds from the last run on top.
    ///
    /// # Errors
    /// The database is unreachable, newer, or holds another stream; the
    /// spool cannot be opened.
    pub async fn open(settings: PostgresSettings) -> Result<Self, PostgresError> {
        let connection = settings.connection()?;
        let target = describe(&connection);
        let (mut client, conn) = tokio::time::timeout(
            settings.connect_timeout,
            connection.connect(tokio_postgres::NoTls),
        )
        .await
        .map_err(|_| PostgresError::Connect {
            target: target.clone(),
            reason: format!("no answer within {:?}", settings.connect_timeout),
        })?
        .map_err(|e| PostgresError::Connect {
            target: target.clone(),
            reason: e.to_string(),
        })?;
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        schema::migrate(&mut client, &settings.schema, &settings.views).await?;
        schema::claim_stream(&client, &settings.schema, &settings.stream).await?;
        let spool = Arc::new(spool::Spool::open(
            &settings.spool_dir,
            settings.spool_max_bytes,
            "PostgreSQL",
        )?);
        let (restored, earlier) = restore::read(&client, &spool).await?;
        drop(client);
        task.abort();
        let pool = deadpool_postgres::Pool::builder(deadpool_postgres::Manager::from_config(
            connection.clone(),
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        ))
        .max_size(settings.pool_size.max(1))
        .wait_timeout(Some(settings.connect_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| PostgresError::Setting {
            key: "pool_size",
            reason: e.to_string(),
        })?;
        tracing::info!(database = %target, schema = %settings.schema, "PostgreSQL ready");
        Ok(Self {
            settings,
            connection,
            spool,
            health: Arc::new(PostgresHealth::default()),
            pool,
            restored: Some(restored),
            overflow: Arc::new(AtomicBool::new(false)),
            earlier: Some(earlier),
        })
    }

    /// What the last run left: checkpoints, registry, instruments, and the
    /// furthest position any stored row has. Taken once.
    pub fn take_restored(&mut self) -> Restored {
        self.restored.take().unwrap_or_default()
    }

    /// The sink (spawns the writer). Call once.
    ///
    /// # Errors
    /// The writer thread cannot start.
    pub fn sink(&mut self) -> std::io::Result<PostgresSink> {
        let stop = Arc::new(AtomicBool::new(false));
        let parts = writer::WriterParts {
            spool: self.spool.clone(),
            config: self.connection.clone(),
            health: self.health.clone(),
            stop: stop.clone(),
            drain: self.settings.drain,
            earlier: self.earlier.take(),
        };
        PostgresSink::start(
            self.spool.clone(),
            parts,
            stop,
            self.overflow.clone(),
            self.settings.archive.clone(),
        )
    }

    /// The pipeline is stopping: a full spool no longer holds the last
    /// records back (they are kept beyond its bound).
    pub fn shutting_down(&self) {
        self.overflow
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// How the sink is doing.
    #[must_use]
    pub fn health(&self) -> Arc<PostgresHealth> {
        self.health.clone()
    }

    /// The history reader the API uses.
    #[must_use]
    pub fn history(&self) -> History {
        History::new(self.pool.clone())
    }

    /// The retention task's handle (run it with [`Retention::run`]).
    #[must_use]
    pub fn retention(&self, rules: Vec<(retention::Table, Duration)>) -> Retention {
        Retention::new(self.pool.clone(), rules, self.health.clone())
    }
}

pub use retention::Table as RetainedTable;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["prism", "_x", "t_1", &"a".repeat(63)] {
            assert!(valid_identifier(ok), "{ok}");
        }
        for bad in ["", "1a", "Prism", "a-b", "a;drop", "a b", &"a".repeat(64)] {
            assert!(!valid_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn the_url_is_checked_and_the_schema_becomes_the_search_path() {
        let mut s = PostgresSettings {
            url: "postgres://postgres@127.0.0.1:5432/test".into(),
            schema: "p1".into(),
            spool_dir: PathBuf::from("/tmp"),
            spool_max_bytes: 1,
            pool_size: 1,
            connect_timeout: Duration::from_secs(1),
            drain: Duration::from_secs(1),
            views: ViewPlugins::default(),
            archive: Vec::new(),
            stream: "live".into(),
        };
        let c = s.connection().unwrap();
        assert_eq!(c.get_options(), Some("-c search_path=p1"));
        assert_eq!(describe(&c), "127.0.0.1:5432/test");
        s.schema = "P;".into();
        assert!(matches!(
            s.connection(),
            Err(PostgresError::Setting { key: "schema", .. })
        ));
        s.schema = "p".into();
        s.url = "postgres://[".into();
        assert!(matches!(
            s.connection(),
            Err(PostgresError::Setting { key: "url", .. })
        ));
    }
}
