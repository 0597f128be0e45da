//! Parsing and validation, with errors that name the key.

use crate::model::{Config, SourceConfig};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

/// One problem, at one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key, e.g. `plugins[1].id`.
    pub key: String,
    pub message: String,
}

/// The longest wait a config may set, ms (a year).
const MAX_WAIT_MS: u64 = 365 * 24 * 3600 * 1000;

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Why a config was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type; the text
    /// names the line, column and key.
    #[error("invalid config {origin}: {message}")]
    Parse { origin: String, message: String },
    /// Every semantic problem found.
    #[error("invalid config {origin}:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        origin: String,
        problems: Vec<Problem>,
    },
}

impl Config {
    /// Reads, parses and validates a config file. Relative paths in it are
    /// taken relative to the file's directory.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the key.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Self::parse(&text, &base, &path.display().to_string())
    }

    /// Parses and validates TOML text; relative paths are taken against `base_dir`.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] or [`ConfigError::Invalid`].
    pub fn from_toml_str(text: &str, base_dir: &Path) -> Result<Self, ConfigError> {
        Self::parse(text, base_dir, "(text)")
    }

    fn parse(text: &str, base_dir: &Path, origin: &str) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        // Absolute, so a path resolved at start and one resolved by a reload
        // (from wherever the watcher found the file) name the same file alike.
        config.base_dir = std::path::absolute(base_dir).unwrap_or_else(|_| base_dir.to_path_buf());
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                origin: origin.to_owned(),
                problems,
            })
        }
    }

    /// Resolves a path from the config against the config file's directory.
    #[must_use]
    pub fn resolve(&self, path: &Path) -> std::path::PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// Every semantic problem, each naming its key.
    #[must_use]
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut bad = |key: String, message: &str| {
            out.push(Problem {
                key,
                message: message.to_owned(),
            });
        };
        if let Err(e) = crate::listen_address(&self.api.listen) {
            bad("api.listen".into(), &e);
        }
        if self.pipeline.batch_size == 0 {
            bad("pipeline.batch_size".into(), "must be at least 1");
        }
        if self.pipeline.queue_batches == 0 {
            bad("pipeline.queue_batches".into(), "must be at least 1");
        }
        if self.pipeline.worker_threads > 1024 {
            bad(
                "pipeline.worker_threads".into(),
                "must be at most 1024 (0: one per core)",
            );
        }
        if self.pipeline.output_queue == 0 {
            bad("pipeline.output_queue".into(), "must be at least 1");
        }
        if self.runtime.max_instances == 0 {
            bad("runtime.max_instances".into(), "must be at least 1");
        }
        if self.runtime.quick_swaps > 1024 {
            bad(
                "runtime.quick_swaps".into(),
                "must be at most 1024 (0: swaps wait for optimized code)",
            );
        }
        if self.runtime.max_memory_mb == 0 || self.runtime.max_memory_mb > 4096 {
            bad("runtime.max_memory_mb".into(), "must be between 1 and 4096");
        }
        for (key, n) in [
            ("stores.series_points", self.stores.series_points),
            (
                "stores.plugin_series_points",
                self.stores.plugin_series_points,
            ),
            ("stores.log_entries", self.stores.log_entries),
            ("stores.plugin_log_bytes", self.stores.plugin_log_bytes),
            ("stores.signals", self.stores.signals),
            ("stores.records", self.stores.records),
            ("market.candles_kept", self.market.candles_kept),
            ("market.tickers_kept", self.market.tickers_kept),
        ] {
            if n == 0 {
                bad(key.into(), "must be at least 1");
            }
        }
        if self.market.candles_from_trades.len() > 16 {
            bad(
                "market.candles_from_trades".into(),
                "name at most 16 intervals",
            );
        }
        match &self.source {
            SourceConfig::Simulator(sim) => {
                if !(sim.pace >= 0.0 && sim.pace.is_finite()) {
                    bad(
                        "source.pace".into(),
                        "must be a finite number >= 0 (0 = as fast as possible)",
                    );
                }
                if let Some(d) = &sim.duration
                    && let Err(e) = crate::parse_duration(d)
                {
                    bad("source.duration".into(), &e.to_string());
                }
                if sim.accounts == 0 {
                    bad("source.accounts".into(), "must be at least 1");
                }
            }
            SourceConfig::Live(live) => {
                if live.venues.is_empty() {
                    bad("source.venues".into(), "name at least one venue");
                }
                for (i, v) in live.venues.iter().enumerate() {
                    let key = |k: &str| format!("source.venues[{i}].{k}");
                    if !crate::model::VENUES.contains(&v.venue.as_str()) {
                        bad(
                            key("venue"),
                            &format!(
                                "unknown venue `{}`; use one of {}",
                                v.venue,
                                crate::model::VENUES.join(", ")
                            ),
                        );
                    }
                    if v.symbols.is_empty() || v.symbols.iter().any(|s| s.trim().is_empty()) {
                        bad(key("symbols"), "name at least one symbol, none empty");
                    }
                    for (k, url, schemes) in [
                        ("url", &v.url, ["ws://", "wss://"]),
                        ("rest_url", &v.rest_url, ["http://", "https://"]),
                    ] {
                        if let Some(u) = url
                            && !schemes.iter().any(|s| u.starts_with(s))
                        {
                            bad(
                                key(k),
                                &format!("must start with {} or {}", schemes[0], schemes[1]),
                            );
                        }
                    }
                    if v.backoff_ms == 0 || v.max_backoff_ms < v.backoff_ms {
                        bad(
                            key("backoff_ms"),
                            "must be at least 1 and at most max_backoff_ms",
                        );
                    }
                    for (k, n) in [
                        ("idle_timeout_s", v.idle_timeout_s),
                        ("open_interest_poll_s", v.open_interest_poll_s),
                        ("heartbeat_s", v.heartbeat_s.unwrap_or(1)),
                    ] {
                        if n == 0 {
                            bad(key(k), "must be at least 1");
                        }
                    }
                    for (symbol, value) in &v.contracts {
                        let number = value.strip_suffix("/inverse").unwrap_or(value);
                        if prism_model::decimal::parse(number)
                            .map_or(true, |d| d <= prism_model::Decimal::ZERO)
                        {
                            bad(
                                format!("source.venues[{i}].contracts.{symbol}"),
                                "must be a positive decimal (append /inverse for USD per contract)",
                            );
                        }
                    }
                }
            }
            SourceConfig::Replay(replay) => {
                if replay.path.as_os_str().is_empty() {
                    bad("source.path".into(), "is required for a replay source");
                }
                if let Some(v) = &replay.venue
                    && !crate::model::VENUES.contains(&v.as_str())
                {
                    bad(
                        "source.venue".into(),
                        &format!(
                            "unknown venue `{v}`; use one of {}",
                            crate::model::VENUES.join(", ")
                        ),
                    );
                }
                if let Some(f) = &replay.format {
                    if replay.venue.is_none() {
                        bad(
                            "source.format".into(),
                            "only applies to a recording: set source.venue too",
                        );
                    }
                    if !["raw", "prism", "cryptofeed", "tardis"].contains(&f.as_str()) {
                        bad(
                            "source.format".into(),
                            "use raw, prism, cryptofeed or tardis",
                        );
                    }
                }
                if !(replay.pace >= 0.0 && replay.pace.is_finite()) {
                    bad(
                        "source.pace".into(),
                        "must be a finite number >= 0 (0 = as fast as possible)",
                    );
                }
            }
            // Checked with `[nats]` below.
            SourceConfig::Nats(_) => {}
        }
        let nats_source = match &self.source {
            SourceConfig::Nats(s) => Some(s),
            _ => None,
        };
        for (key, message) in self.nats.problems(nats_source) {
            bad(key, &message);
        }
        for (key, message) in self.cluster.problems(
            nats_source.is_some(),
            self.nats.effective_url().is_some(),
            self.nats.outputs,
            self.postgres.effective_url().is_some(),
        ) {
            bad(key, &message);
        }
        for (key, message) in self.notify.problems() {
            bad(key, &message);
        }
        for (key, message) in self.execution.problems() {
            bad(key, &message);
        }
        let pg = &self.postgres;
        if !pg
            .schema
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            || pg.schema.len() > 63
            || !pg
                .schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            bad(
                "postgres.schema".into(),
                "must be lower-case letters, digits and `_`, not starting with a digit, at most 63",
            );
        }
        if let Some(url) = &pg.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bad(
                "postgres.url".into(),
                "must start with postgres:// or postgresql://",
            );
        }
        for (key, n) in [
            ("postgres.spool_mb", pg.spool_mb),
            ("postgres.pool_size", pg.pool_size as u64),
            ("postgres.connect_timeout_ms", pg.connect_timeout_ms),
        ] {
            if n == 0 {
                bad(key.into(), "must be at least 1");
            }
        }
        for kind in &pg.archive {
            if matches!(
                kind,
                prism_model::EventKind::Book
                    | prism_model::EventKind::Fill
                    | prism_model::EventKind::Candle
                    | prism_model::EventKind::Ticker
            ) {
                bad(
                    "postgres.archive".into(),
                    "books, fills, candles and tickers are not archived; use trade, liquidation, funding, open_interest, position",
                );
            }
        }
        for (kind, keep) in &pg.retention {
            let key = format!("postgres.retention.{kind}");
            if !crate::model::RETAINED.contains(&kind.as_str()) {
                bad(
                    key,
                    &format!(
                        "unknown kind; use one of {}",
                        crate::model::RETAINED.join(", ")
                    ),
                );
            } else if let Err(e) = crate::parse_duration(keep) {
                bad(key, &e.to_string());
            }
        }
        if let Err(e) = crate::parse_duration(&pg.retention_every) {
            bad("postgres.retention_every".into(), &e.to_string());
        }
        let r = &self.recovery;
        for (key, n) in [
            (
                "recovery.snapshot_every_batches",
                u64::from(r.snapshot_every_batches),
            ),
            ("recovery.snapshot_every_ms", r.snapshot_every_ms),
            ("recovery.failure_window_ms", r.failure_window_ms),
            ("recovery.backoff_ms", r.backoff_ms),
            ("recovery.dead_letters", r.dead_letters as u64),
            ("admin.max_upload_mb", u64::from(self.admin.max_upload_mb)),
            ("api.ws_buffer", self.api.ws_buffer as u64),
            ("api.ws_heartbeat_s", self.api.ws_heartbeat_s),
            ("api.ws_idle_timeout_s", self.api.ws_idle_timeout_s),
            ("api.ws_send_timeout_s", self.api.ws_send_timeout_s),
            (
                "api.ws_send_buffer_bytes",
                self.api.ws_send_buffer_bytes as u64,
            ),
            ("api.ws_max_clients", self.api.ws_max_clients as u64),
            (
                "api.ws_max_message_bytes",
                self.api.ws_max_message_bytes as u64,
            ),
            ("api.ws_max_channels", self.api.ws_max_channels as u64),
            ("api.ws_max_symbols", self.api.ws_max_symbols as u64),
            ("api.max_connections", self.api.max_connections as u64),
            ("api.header_read_timeout_s", self.api.header_read_timeout_s),
            (
                "api.max_concurrent_reads",
                self.api.max_concurrent_reads as u64,
            ),
            (
                "admin.max_concurrent_uploads",
                self.admin.max_concurrent_uploads as u64,
            ),
            ("admin.upload_timeout_s", self.admin.upload_timeout_s),
        ] {
            if n == 0 {
                bad(key.into(), "must be at least 1");
            }
        }
        // Times are added to clock readings: past what a clock can hold, a
        // wait would overflow instead of lasting "forever".
        let p = &self.pipeline;
        for (key, ms) in [
            ("pipeline.batch_linger_ms", Some(p.batch_linger_ms)),
            ("pipeline.batch_idle_ms", p.batch_idle_ms),
            ("recovery.snapshot_every_ms", Some(r.snapshot_every_ms)),
            ("recovery.failure_window_ms", Some(r.failure_window_ms)),
            ("recovery.backoff_ms", Some(r.backoff_ms)),
            (
                "api.ws_heartbeat_s",
                Some(self.api.ws_heartbeat_s.saturating_mul(1000)),
            ),
            (
                "api.ws_idle_timeout_s",
                Some(self.api.ws_idle_timeout_s.saturating_mul(1000)),
            ),
            (
                "api.ws_send_timeout_s",
                Some(self.api.ws_send_timeout_s.saturating_mul(1000)),
            ),
            (
                "api.header_read_timeout_s",
                Some(self.api.header_read_timeout_s.saturating_mul(1000)),
            ),
            (
                "admin.upload_timeout_s",
                Some(self.admin.upload_timeout_s.saturating_mul(1000)),
            ),
        ] {
            if ms.is_some_and(|ms| ms > MAX_WAIT_MS) {
                bad(key.into(), "must be at most a year");
            }
        }
        if self
            .admin
            .token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            bad(
                "admin.token".into(),
                "is empty: remove the key to turn the admin API off, or set a token",
            );
        }
        let mut ids = HashSet::new();
        let defaults = &self.plugin_defaults;
        for (key, value) in defaults.named() {
            if value == 0 {
                bad(format!("plugin_defaults.{key}"), "must be at least 1");
            }
        }
        if defaults.recycle_memory_mb >= defaults.memory_mb {
            bad(
                "plugin_defaults.recycle_memory_mb".into(),
                &format!(
                    "must be below plugin_defaults.memory_mb ({}); 0 never recycles",
                    defaults.memory_mb
                ),
            );
        }
        if defaults.memory_mb > self.runtime.max_memory_mb {
            bad(
                "plugin_defaults.memory_mb".into(),
                &format!(
                    "must be at most runtime.max_memory_mb ({})",
                    self.runtime.max_memory_mb
                ),
            );
        }
        for (i, plugin) in self.plugins.iter().enumerate() {
            if !ids.insert(plugin.id.as_str()) {
                bad(
                    format!("plugins[{i}].id"),
                    &format!("`{}` is used by an earlier plugin", plugin.id),
                );
            }
            if plugin.path.as_os_str().is_empty() {
                bad(format!("plugins[{i}].path"), "is required");
            }
            let limits = plugin.limits(defaults);
            if limits.memory_mb == 0 || limits.memory_mb > self.runtime.max_memory_mb {
                bad(
                    format!("plugins[{i}].memory_mb"),
                    &format!(
                        "must be between 1 and runtime.max_memory_mb ({})",
                        self.runtime.max_memory_mb
                    ),
                );
            }
            for (key, value) in limits.named() {
                if value == 0 {
                    bad(format!("plugins[{i}].{key}"), "must be at least 1");
                }
            }
            if limits.recycle_memory_mb >= limits.memory_mb {
                bad(
                    format!("plugins[{i}].recycle_memory_mb"),
                    &format!(
                        "must be below the plugin's memory_mb ({}); 0 never recycles",
                        limits.memory_mb
                    ),
                );
            }
            if let Some(risk) = &plugin.risk {
                for (key, message) in risk.problems(&format!("plugins[{i}].risk")) {
                    bad(key, &message);
                }
                if risk.max_total_gross_notional.is_some() {
                    bad(
                        format!("plugins[{i}].risk.max_total_gross_notional"),
                        "is a limit across plugins: set it in [execution.risk]",
                    );
                }
                if !plugin.paper {
                    bad(
                        format!("plugins[{i}].risk"),
                        "applies only to a plugin that trades: add `paper = true`",
                    );
                }
            }
            if let Some(s) = &plugin.subscription
                && s.timer_interval_ms == Some(0)
            {
                bad(
                    format!("plugins[{i}].subscription.timer_interval_ms"),
                    "must be at least 1",
                );
            }
        }
        if defaults.memory_mb == 0 || defaults.memory_mb > self.runtime.max_memory_mb {
            bad(
                "plugin_defaults.memory_mb".into(),
                &format!(
                    "must be between 1 and runtime.max_memory_mb ({})",
                    self.runtime.max_memory_mb
                ),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("/etc/prism"))
    }

    /// The keys of the problems `text` has (it must have some).
    fn problem_keys(text: &str) -> Vec<String> {
        match parse(text) {
            Err(ConfigError::Invalid { problems, .. }) => {
                problems.into_iter().map(|p| p.key).collect()
            }
            other => panic!("expected problems, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn the_shipped_default_is_valid() {
        let config = parse(crate::DEFAULT_TOML).unwrap();
        assert!(matches!(config.source, SourceConfig::Simulator(_)));
        assert!(!config.plugins.is_empty());
    }

    #[test]
    fn a_wait_past_a_year_is_refused_by_key() {
        let keys = problem_keys(
            "[pipeline]\nbatch_linger_ms = 18446744073709551615\nbatch_idle_ms = 31536000001\n[recovery]\nsnapshot_every_ms = 31536000000\n[api]\nws_heartbeat_s = 99999999999\n",
        );
        assert_eq!(
            keys,
            [
                "pipeline.batch_linger_ms",
                "pipeline.batch_idle_ms",
                "api.ws_heartbeat_s"
            ],
            "a year exactly is allowed"
        );
    }

    #[test]
    fn empty_means_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.api.listen, "127.0.0.1:8080");
        assert_eq!(c.plugin_defaults.memory_mb, 64);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("[pipeline]\nbatch_sise = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("batch_sise"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn every_problem_is_collected_with_its_key() {
        let keys = problem_keys(
            r#"
            [pipeline]
            batch_size = 0
            [source]
            kind = "simulator"
            duration = "forever"
            [[plugins]]
            id = "a"
            path = "a.wasm"
            [[plugins]]
            id = "a"
            path = "b.wasm"
            memory_mb = 100000
            "#,
        );
        assert_eq!(
            keys,
            [
                "pipeline.batch_size",
                "source.duration",
                "plugins[1].id",
                "plugins[1].memory_mb"
            ]
        );
    }

    #[test]
    fn recycling_and_worker_threads_are_checked_by_key() {
        let c = parse(
            "[plugin_defaults]\nrecycle_memory_mb = 32\n[[plugins]]\nid = \"a\"\npath = \"a.wasm\"\n",
        )
        .unwrap();
        assert_eq!(
            c.plugins[0].limits(&c.plugin_defaults).recycle_memory_mb,
            32
        );
        assert_eq!(c.pipeline.worker_threads, 0);
        let err = parse(
            r#"
            [pipeline]
            worker_threads = 5000
            [plugin_defaults]
            recycle_memory_mb = 64
            [[plugins]]
            id = "a"
            path = "a.wasm"
            memory_mb = 8
            recycle_memory_mb = 8
            "#,
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("{err}")
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "pipeline.worker_threads",
                "plugin_defaults.recycle_memory_mb",
                "plugins[0].recycle_memory_mb"
            ]
        );
    }

    #[test]
    fn postgres_is_off_by_default_and_checked_key_by_key() {
        let c = parse("").unwrap();
        assert_eq!(c.postgres.url, None);
        assert_eq!(c.postgres.schema, "prism");
        let err = parse(
            r#"
            [postgres]
            url = "mysql://x"
            schema = "Bad-Name"
            spool_mb = 0
            archive = ["trade", "book"]
            retention = { series = "90d", logs = "soon", candles = "1d" }
            "#,
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("{err}")
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "postgres.schema",
                "postgres.url",
                "postgres.spool_mb",
                "postgres.archive",
                "postgres.retention.candles",
                "postgres.retention.logs",
            ]
        );
    }

    #[test]
    fn a_cluster_needs_nats_a_nats_source_and_outputs_and_names_each_key() {
        let c = parse("").unwrap();
        assert_eq!(c.cluster.name, None);
        let problems = |text: &str| -> Vec<(String, String)> {
            match parse(text) {
                Ok(_) => Vec::new(),
                Err(ConfigError::Invalid { problems, .. }) => {
                    problems.into_iter().map(|p| (p.key, p.message)).collect()
                }
                Err(e) => panic!("{e}"),
            }
        };
        let got = problems(
            "[cluster]\nname = \"a.b\"\nhost = \"h 1\"\npartitions = 0\nlease_ttl = \"500ms\"\n",
        );
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "cluster.name",
                "cluster.host",
                "cluster.partitions",
                "cluster.lease_ttl",
                "cluster.name",
                "cluster.name",
                "cluster.name"
            ],
            "{got:?}"
        );
        assert!(got[4].1.contains("nats.url"), "{got:?}");
        assert!(got[5].1.contains("kind = \"nats\""), "{got:?}");
        assert!(got[6].1.contains("nats.outputs"), "{got:?}");
        let fine = "[nats]\nurl = \"nats://127.0.0.1:4222\"\noutputs = true\n[source]\nkind = \"nats\"\n[cluster]\nname = \"prod\"\n[[plugins]]\nid = \"arb\"\npath = \"a.wasm\"\npartition = \"base\"\n";
        assert_eq!(problems(fine), Vec::new());
        let c = parse(fine).unwrap();
        assert_eq!(c.cluster.partitions, 16);
        assert_eq!(c.plugins[0].partition, prism_model::PartitionKey::Base);
        let err = parse(&fine.replace("\"base\"", "\"symbol\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("symbol") && err.contains("instrument"),
            "{err}"
        );
    }

    #[test]
    fn invalid_ids_and_kinds_are_refused_at_parse() {
        let err = parse("[[plugins]]\nid = \"../x\"\npath = \"x.wasm\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a valid plugin id"), "{err}");
        let err = parse("[[plugins]]\nid = \"x\"\npath = \"x.wasm\"\n[plugins.subscription]\nkinds = [\"trades\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("trades"), "{err}");
    }

    #[test]
    fn live_feeds_are_checked_key_by_key() {
        let err = parse(
            r#"
            [source]
            kind = "live"
            [[source.venues]]
            venue = "binance"
            symbols = ["BTCUSDT"]
            channels = ["trades", "book"]
            [[source.venues]]
            venue = "kraken"
            symbols = []
            url = "http://x"
            contracts = { "BTC-USDT-SWAP" = "zero" }
            "#,
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = err else {
            panic!("{err}")
        };
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "source.venues[1].venue",
                "source.venues[1].symbols",
                "source.venues[1].url",
                "source.venues[1].contracts.BTC-USDT-SWAP"
            ]
        );
        let err = parse("[source]\nkind = \"live\"\n[[source.venues]]\nvenue = \"okx\"\nsymbols = [\"X\"]\nchannels = [\"candles\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("candles"), "{err}");
    }

    #[test]
    fn plugin_config_becomes_json_and_paths_resolve() {
        let c = parse("[[plugins]]\nid = \"x\"\npath = \"p/x.wasm\"\nconfig = { window_ms = 1000, name = \"n\" }\n").unwrap();
        let json: serde_json::Value = serde_json::from_str(&c.plugins[0].config_json()).unwrap();
        assert_eq!(json, serde_json::json!({"window_ms": 1000, "name": "n"}));
        assert_eq!(
            c.resolve(&c.plugins[0].path),
            Path::new("/etc/prism/p/x.wasm")
        );
    }
}
