//! The config tree. Every section has defaults, so an empty file is valid.

use prism_model::{PluginId, SubscriptionOverride};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub api: ApiConfig,
    /// Which plugins back the analytics endpoints.
    pub analytics: AnalyticsConfig,
    pub admin: AdminConfig,
    pub runtime: RuntimeConfig,
    pub recovery: RecoveryConfig,
    /// Limits every plugin gets unless its own entry overrides them.
    pub plugin_defaults: PluginLimitsConfig,
    pub pipeline: PipelineConfig,
    pub stores: StoresConfig,
    /// PostgreSQL: off unless a URL is given.
    pub postgres: PostgresConfig,
    /// NATS JetStream: off unless a URL is given.
    pub nats: crate::nats::NatsConfig,
    /// Several hosts sharing the work: off unless a name is given.
    pub cluster: crate::cluster::ClusterConfig,
    /// Alert delivery: off while no channel is configured.
    pub notify: crate::notify::NotifyConfig,
    /// The paper executor, for plugins with `paper = true`.
    pub execution: crate::execution::ExecutionConfig,
    /// Candles and tickers: built from trades, kept for the API.
    pub market: MarketConfig,
    pub source: SourceConfig,
    pub plugins: Vec<PluginConfig>,
    /// Directory of the config file; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// Market data the host derives and keeps itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketConfig {
    /// Build candles of these intervals from trades, for every instrument
    /// whose venue does not stream them (`["1m", "1h"]`; none by default).
    pub candles_from_trades: Vec<prism_model::CandleInterval>,
    /// Closed candles kept per instrument and interval for the API.
    pub candles_kept: usize,
    /// Instruments whose latest ticker the API keeps.
    pub tickers_kept: usize,
}

impl Default for MarketConfig {
    fn default() -> Self {
        Self {
            candles_from_trades: Vec::new(),
            candles_kept: 1_440,
            tickers_kept: 10_000,
        }
    }
}

/// The HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address to listen on, `host:port`: an IP address (`0.0.0.0:8080`,
    /// `[::1]:8080`) or a host name (`localhost:8080`), resolved at start.
    pub listen: String,
    /// Serve the API at all (`prism run --listen` serves it regardless).
    pub enabled: bool,
    /// Chunks of live frames (each up to about 64 KiB) a WebSocket client
    /// may fall behind by before it starts missing them (it is told how
    /// many it missed).
    pub ws_buffer: usize,
    /// Seconds between server heartbeats on a WebSocket.
    pub ws_heartbeat_s: u64,
    /// A WebSocket client silent (no message, no pong) this long is dropped.
    pub ws_idle_timeout_s: u64,
    /// A WebSocket client that takes longer than this to accept what is
    /// sent to it is dropped.
    pub ws_send_timeout_s: u64,
    /// Bytes waiting to be sent to one WebSocket client at most.
    pub ws_send_buffer_bytes: usize,
    /// WebSocket clients at once.
    pub ws_max_clients: usize,
    /// Largest message a WebSocket client may send, bytes.
    pub ws_max_message_bytes: usize,
    /// Channels one WebSocket client may subscribe to.
    pub ws_max_channels: usize,
    /// Distinct symbols one WebSocket client may follow.
    pub ws_max_symbols: usize,
    /// Open HTTP connections at most; past it, new ones get `503`.
    pub max_connections: usize,
    /// Longest wait for a request's head (and for the next request on an
    /// idle keep-alive connection), seconds.
    pub header_read_timeout_s: u64,
    /// Store reads (lists, stats, documents) computed at once; the rest
    /// wait their turn off the reactor.
    pub max_concurrent_reads: usize,
    /// Reads that may wait for a turn; past it, `503 busy`.
    pub max_queued_reads: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            enabled: true,
            ws_buffer: 256,
            ws_heartbeat_s: 30,
            ws_idle_timeout_s: 90,
            ws_send_timeout_s: 10,
            ws_send_buffer_bytes: 1 << 20,
            ws_max_clients: 256,
            ws_max_message_bytes: 64 << 10,
            ws_max_channels: 32,
            ws_max_symbols: 1000,
            max_connections: 1024,
            header_read_timeout_s: 10,
            max_concurrent_reads: 2,
            max_queued_reads: 256,
        }
    }
}

/// The plugin behind each analytics endpoint (by id).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalyticsConfig {
    /// `/api/v1/liquidations*`: its `liquidation` log entries.
    pub liquidations: PluginId,
    /// `/api/v1/liquidation-map`: its `liquidation-map:{exchange}:{symbol}` documents.
    pub liquidation_map: PluginId,
    /// `/api/v1/long-short-ratios/*`: its `taker_long_short_ratio` and
    /// `account_long_short_ratio` series.
    pub long_short_ratio: PluginId,
    /// `/api/v1/whales*`: its `watched` config and `whale_activity` logs.
    pub whales: PluginId,
    /// `/api/v1/opportunities`: its `opportunities` document.
    pub opportunities: PluginId,
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        let id = |s: &str| PluginId::new(s).unwrap_or_else(|_| unreachable!("a valid literal id"));
        Self {
            liquidations: id("liquidation-map"),
            liquidation_map: id("liquidation-map"),
            long_short_ratio: id("long-short-ratio"),
            whales: id("whale-detector"),
            opportunities: id("funding-arb"),
        }
    }
}

/// The admin API (mutating plugin endpoints).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Bearer token the admin endpoints require. `PRISM_ADMIN_TOKEN` in the
    /// environment takes precedence. Without either, the admin API is off.
    pub token: Option<String>,
    /// Largest plugin upload, MiB.
    pub max_upload_mb: u32,
    /// Uploads read and compiled at once; others wait (up to
    /// `upload_timeout_s`) for their turn.
    pub max_concurrent_uploads: usize,
    /// Longest an upload may take to arrive (and to wait for its turn), s.
    pub upload_timeout_s: u64,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            token: None,
            max_upload_mb: 64,
            max_concurrent_uploads: 2,
            upload_timeout_s: 60,
        }
    }
}

/// Where the admin token in force comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminToken {
    /// `PRISM_ADMIN_TOKEN`, trimmed.
    Environment(String),
    /// `admin.token`, trimmed.
    Config(String),
    /// Neither: the admin API is off.
    None,
}

impl AdminConfig {
    /// The token in force: the environment's `PRISM_ADMIN_TOKEN`, else the
    /// config's, each without surrounding white space (a bearer token in a
    /// header is read the same way, so a token with a stray space or newline
    /// still matches). A variable that is set but empty does not switch a
    /// configured token off: the second value says so, for a warning.
    #[must_use]
    pub fn effective_token(&self) -> (AdminToken, Option<&'static str>) {
        let configured = || match self.token.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => AdminToken::Config(t.to_owned()),
            _ => AdminToken::None,
        };
        match std::env::var("PRISM_ADMIN_TOKEN") {
            Ok(v) if !v.trim().is_empty() => (AdminToken::Environment(v.trim().to_owned()), None),
            Ok(_) => (
                configured(),
                Some(
                    "PRISM_ADMIN_TOKEN is set but empty: ignored (admin.token, if set, is in force)",
                ),
            ),
            Err(_) => (configured(), None),
        }
    }
}

impl AdminToken {
    /// The token, if there is one.
    #[must_use]
    pub fn value(&self) -> Option<&str> {
        match self {
            AdminToken::Environment(t) | AdminToken::Config(t) => Some(t),
            AdminToken::None => None,
        }
    }
}

/// Crash recovery: state snapshots and how a failing plugin is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoveryConfig {
    /// Snapshot each plugin's state once it has taken this many full
    /// batches' worth of events (`× pipeline.batch_size`) since its last
    /// snapshot (a partial batch counts by its share)…
    pub snapshot_every_batches: u32,
    /// …or when its last snapshot is this old (ms), whichever comes first.
    pub snapshot_every_ms: u64,
    /// More failures than this within `failure_window_ms` quarantine a plugin.
    pub max_failures: u32,
    pub failure_window_ms: u64,
    /// The first quarantine lasts this long (ms); each next one doubles.
    pub backoff_ms: u64,
    /// After this many quarantines in a row a plugin stays failed until an
    /// operator resumes it.
    pub max_quarantines: u32,
    /// Dead letters kept per plugin.
    pub dead_letters: usize,
    /// Write each plugin's snapshots to `runtime.data_dir/snapshots/`.
    pub persist_snapshots: bool,
    /// At start, restore each configured plugin from its persisted
    /// checkpoint and resume the stream after the position it covers (a
    /// replay or the simulator skips what it covered).
    pub restore_on_start: bool,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            snapshot_every_batches: 100,
            snapshot_every_ms: 5000,
            max_failures: 5,
            failure_window_ms: 60_000,
            backoff_ms: 1000,
            max_quarantines: 3,
            dead_letters: 1000,
            persist_snapshots: true,
            restore_on_start: false,
        }
    }
}

/// Kinds of rows `postgres.retention` takes a keep time for.
pub const RETAINED: [&str; 12] = [
    "series",
    "documents",
    "logs",
    "signals",
    "orders",
    "alerts",
    "dead_letters",
    "trades",
    "liquidations",
    "funding",
    "open_interest",
    "positions",
];

/// PostgreSQL persistence: every output, the plugin registry, checkpoints
/// and (optionally) input events. Off unless `url` or `PRISM_POSTGRES_URL`
/// is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// `postgres://user[:password]@host[:port]/database`.
    pub url: Option<String>,
    /// The schema Prism's tables live in (created if missing). One schema
    /// holds one stream's outputs.
    pub schema: String,
    /// The local spool (in `runtime.data_dir/postgres-spool/<schema>`)
    /// holds at most this many MiB while the database is away; past it the
    /// pipeline waits.
    pub spool_mb: u64,
    /// Connections for history reads and retention.
    pub pool_size: usize,
    /// Wait at most this long (ms) for the database, at start and per attempt.
    pub connect_timeout_ms: u64,
    /// At shutdown, keep writing what is spooled for at most this long (ms);
    /// the rest waits in the spool for the next start.
    pub drain_ms: u64,
    /// Input event kinds kept beside the outputs: `trade`, `liquidation`,
    /// `funding`, `open_interest`, `position`.
    pub archive: Vec<prism_model::EventKind>,
    /// Keep times by kind (e.g. `series = "90d"`), measured back from the
    /// newest event time; kinds not named are kept for good.
    pub retention: std::collections::BTreeMap<String, String>,
    /// How often retention runs.
    pub retention_every: String,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: None,
            schema: "prism".into(),
            spool_mb: 1024,
            pool_size: 4,
            connect_timeout_ms: 10_000,
            drain_ms: 10_000,
            archive: Vec::new(),
            retention: std::collections::BTreeMap::new(),
            retention_every: "1m".into(),
        }
    }
}

impl PostgresConfig {
    /// The URL in force: `PRISM_POSTGRES_URL` if set and not empty, else
    /// `url`. `None`: PostgreSQL is off.
    #[must_use]
    pub fn effective_url(&self) -> Option<String> {
        std::env::var("PRISM_POSTGRES_URL")
            .ok()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .or_else(|| self.url.clone().filter(|u| !u.trim().is_empty()))
    }
}

/// The wasm runtime.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Holds the compiled-artifact cache (and, later, snapshots).
    pub data_dir: PathBuf,
    /// Cache compiled plugins on disk by content hash.
    pub cache: bool,
    /// Plugin instances alive at once (pooling allocator size).
    pub max_instances: u32,
    /// Largest memory any plugin may be given, MiB (pool slot size).
    pub max_memory_mb: u32,
    /// Watch plugin files and the config file, and apply changes live.
    pub watch: bool,
    /// Quiet time after the last write of a burst before a change is applied, ms.
    pub watch_debounce_ms: u64,
    /// Instances that may run on quick (baseline-compiled) code at once: a
    /// swap whose optimized code is not compiled yet goes through on quick
    /// code, and the optimized code is swapped in underneath once ready.
    /// 0: every swap waits for optimized code.
    pub quick_swaps: u32,
    /// What the engine tells a system profiler about the plugins' compiled
    /// code (`"none"`, or `"perf_map"` to name each plugin function in
    /// `perf report`).
    pub profiler: Profiler,
}

/// What the engine tells a system profiler about compiled plugin code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profiler {
    /// Nothing: plugin code shows in a profile as unnamed addresses.
    #[default]
    None,
    /// `/tmp/perf-{pid}.map`, Linux `perf`'s map of JIT code, names each
    /// plugin function (`<long_short_ratio::LongShortRatio as
    /// prism_sdk::Plugin>::on_event::h…`) as it is compiled or loaded from
    /// the cache. For profiling only, so off by default: the file grows
    /// with every version loaded, and any local user can read where the
    /// plugins' code lies in memory.
    PerfMap,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            cache: true,
            max_instances: 64,
            max_memory_mb: 256,
            watch: true,
            watch_debounce_ms: 20,
            quick_swaps: 16,
            profiler: Profiler::None,
        }
    }
}

/// Per-plugin limits (each can be set in a plugin entry too). Going past
/// one is that plugin's fault: its batch fails, the poison event is set
/// aside, and a plugin that keeps failing is quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginLimitsConfig {
    /// Linear memory, MiB.
    pub memory_mb: u32,
    /// Deadline of one call, ms.
    pub call_deadline_ms: u64,
    /// Outputs one batch may produce.
    pub max_outputs: usize,
    /// Distinct series (name and instrument) a plugin may write.
    pub max_series: usize,
    /// Distinct document keys.
    pub max_document_keys: usize,
    /// Distinct log names.
    pub max_log_names: usize,
    /// Bytes one document body may hold in memory.
    pub max_document_bytes: usize,
    /// Bytes the latest bodies of all of a plugin's documents may hold.
    pub max_documents_bytes: usize,
    /// Bytes one log entry (or alert) body may hold.
    pub max_log_bytes: usize,
    /// Bytes all outputs of one batch may hold.
    pub max_batch_bytes: usize,
    /// Lines a second the plugin may write to the host's log (bursts of twice).
    pub log_lines_per_s: u32,
    /// Bytes a second the plugin may write to the host's log (bursts of twice).
    pub log_bytes_per_s: u32,
    /// Past this linear memory, MiB, the instance is recycled between two
    /// batches: its state is snapshotted into a fresh instance, invisibly
    /// (0: never). Memory a wasm instance has grown never shrinks; this
    /// gives back what a burst took.
    pub recycle_memory_mb: u32,
}

impl Default for PluginLimitsConfig {
    fn default() -> Self {
        Self {
            memory_mb: 64,
            call_deadline_ms: 1000,
            max_outputs: 10_000,
            max_series: 1_000,
            max_document_keys: 1_000,
            max_log_names: 100,
            max_document_bytes: 1 << 20,
            max_documents_bytes: 64 << 20,
            max_log_bytes: 64 << 10,
            max_batch_bytes: 16 << 20,
            log_lines_per_s: 100,
            log_bytes_per_s: 64 << 10,
            recycle_memory_mb: 0,
        }
    }
}

impl PluginLimitsConfig {
    /// Each limit with its key, for validation: `(key, value)`.
    #[must_use]
    pub fn named(&self) -> [(&'static str, u64); 12] {
        [
            ("memory_mb", u64::from(self.memory_mb)),
            ("call_deadline_ms", self.call_deadline_ms),
            ("max_outputs", self.max_outputs as u64),
            ("max_series", self.max_series as u64),
            ("max_document_keys", self.max_document_keys as u64),
            ("max_log_names", self.max_log_names as u64),
            ("max_document_bytes", self.max_document_bytes as u64),
            ("max_documents_bytes", self.max_documents_bytes as u64),
            ("max_log_bytes", self.max_log_bytes as u64),
            ("max_batch_bytes", self.max_batch_bytes as u64),
            ("log_lines_per_s", u64::from(self.log_lines_per_s)),
            ("log_bytes_per_s", u64::from(self.log_bytes_per_s)),
        ]
    }
}

/// Batching and queues.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Events per batch at most.
    pub batch_size: usize,
    /// Longest a partial batch waits, ms.
    pub batch_linger_ms: u64,
    /// Longest a partial batch waits while the source has nothing more
    /// queued, ms (unset: `batch_linger_ms`; a larger value acts as it).
    pub batch_idle_ms: Option<u64>,
    /// Batches a plugin's queue holds before the source is held back.
    pub queue_batches: usize,
    /// Output batches waiting for the store before workers are held back.
    pub output_queue: usize,
    /// Threads that run every plugin's batches (0: one per core).
    pub worker_threads: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            batch_size: 256,
            batch_linger_ms: 20,
            batch_idle_ms: None,
            queue_batches: 64,
            output_queue: 1024,
            worker_threads: 0,
        }
    }
}

/// Bounded in-memory output stores.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoresConfig {
    /// Points kept per (plugin, series, instrument).
    pub series_points: usize,
    /// Points kept per plugin over all its series (the longest series lose
    /// their oldest points first).
    pub plugin_series_points: usize,
    /// Log entries kept per plugin.
    pub log_entries: usize,
    /// Bytes of log bodies kept per plugin, as held in memory.
    pub plugin_log_bytes: usize,
    /// Signals kept in all.
    pub signals: usize,
    /// Orders and alerts kept per plugin.
    pub records: usize,
}

impl Default for StoresConfig {
    fn default() -> Self {
        Self {
            series_points: 10_000,
            plugin_series_points: 1_000_000,
            log_entries: 10_000,
            plugin_log_bytes: 64 << 20,
            signals: 10_000,
            records: 1_000,
        }
    }
}

/// Where events come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// The built-in deterministic market simulator.
    Simulator(SimulatorConfig),
    /// A normalized event file (JSON Lines or MessagePack).
    Replay(ReplayConfig),
    /// Live exchange feeds.
    Live(LiveConfig),
    /// A durable consumer of `[nats] stream`.
    Nats(crate::nats::NatsSourceConfig),
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig::Simulator(SimulatorConfig::default())
    }
}

/// The simulator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    pub seed: u64,
    /// Simulated seconds per wall second (1.0 = real time; 0 = as fast as possible).
    pub pace: f64,
    /// Event time of the first event, unix ms.
    pub start_ms: i64,
    /// Stop after this much simulated time (e.g. `24h`); none = run forever.
    pub duration: Option<String>,
    /// Accounts per venue and asset whose positions are simulated.
    pub accounts: usize,
    /// Also a ticker with every book snapshot (each second).
    pub tickers: bool,
    /// Candle intervals the simulated venues stream (`["1m"]`).
    pub candles: Vec<prism_model::CandleInterval>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            pace: 60.0,
            start_ms: 1_700_000_000_000,
            duration: None,
            accounts: 50,
            tickers: false,
            candles: Vec::new(),
        }
    }
}

/// Replay of a file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplayConfig {
    pub path: PathBuf,
    /// Event-time seconds per wall second; 0 = as fast as possible.
    pub pace: f64,
    /// When set, the file is a recording of this venue's raw messages,
    /// normalized as it is read (see `format`).
    pub venue: Option<String>,
    /// The recording's format: `raw`, `prism`, `cryptofeed` or `tardis`
    /// (default `prism`); only with `venue`.
    pub format: Option<String>,
}

/// Live exchange feeds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    pub venues: Vec<VenueConfig>,
    /// Also write every raw frame here (the `prism record` format), to
    /// replay or normalize later.
    pub record: Option<PathBuf>,
}

/// The kinds of data a feed subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedChannel {
    Trades,
    Liquidations,
    Funding,
    OpenInterest,
    Book,
    /// Best bid/offer and the 24-hour summary.
    Tickers,
}

impl FeedChannel {
    /// Every channel.
    pub const ALL: [FeedChannel; 6] = [
        FeedChannel::Trades,
        FeedChannel::Liquidations,
        FeedChannel::Funding,
        FeedChannel::OpenInterest,
        FeedChannel::Book,
        FeedChannel::Tickers,
    ];
}

/// The venues a live feed can connect to.
pub const VENUES: [&str; 6] = [
    "binance",
    "okx",
    "hyperliquid",
    "deribit",
    "bybit",
    "lighter",
];

/// One venue's live feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// One of [`VENUES`].
    pub venue: String,
    /// The venue's own symbols (`BTCUSDT`, `BTC-USDT-SWAP`, `BTC`, …).
    pub symbols: Vec<String>,
    /// What to subscribe to (default: everything the venue publishes).
    #[serde(default)]
    pub channels: Option<Vec<FeedChannel>>,
    /// The WebSocket address (default: the venue's public one).
    #[serde(default)]
    pub url: Option<String>,
    /// The REST address, for book snapshots and open interest (default: the venue's).
    #[serde(default)]
    pub rest_url: Option<String>,
    /// Seconds between the client's heartbeats (default: the venue's advice).
    #[serde(default)]
    pub heartbeat_s: Option<u64>,
    /// Reconnect when nothing arrives for this long.
    #[serde(default = "default_idle_timeout_s")]
    pub idle_timeout_s: u64,
    /// First wait before reconnecting, ms; doubles (with jitter) up to `max_backoff_ms`.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Seconds between open-interest polls where the venue has no stream (Binance).
    #[serde(default = "default_open_interest_poll_s")]
    pub open_interest_poll_s: u64,
    /// Contract values by symbol, as decimal text; append `/inverse` when
    /// the value is in USD.
    #[serde(default)]
    pub contracts: std::collections::BTreeMap<String, String>,
    /// Accounts whose fills are followed (Hyperliquid: its liquidations).
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Candle intervals to subscribe to (`1m`, `1h`, …), each one the venue
    /// streams; others can be built from trades (`[candles] from_trades`).
    #[serde(default)]
    pub candles: Vec<prism_model::CandleInterval>,
}

fn default_idle_timeout_s() -> u64 {
    60
}
fn default_backoff_ms() -> u64 {
    500
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_open_interest_poll_s() -> u64 {
    30
}

/// One plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    pub id: PluginId,
    /// The component file, relative to the config file.
    pub path: PathBuf,
    /// Handed to the plugin's `init` as JSON.
    #[serde(default = "empty_table")]
    pub config: toml::Table,
    /// Overrides of the plugin's own subscription.
    #[serde(default)]
    pub subscription: Option<SubscriptionOverride>,
    #[serde(default)]
    pub memory_mb: Option<u32>,
    #[serde(default)]
    pub call_deadline_ms: Option<u64>,
    #[serde(default)]
    pub max_outputs: Option<usize>,
    #[serde(default)]
    pub max_series: Option<usize>,
    #[serde(default)]
    pub max_document_keys: Option<usize>,
    #[serde(default)]
    pub max_log_names: Option<usize>,
    #[serde(default)]
    pub max_document_bytes: Option<usize>,
    #[serde(default)]
    pub max_documents_bytes: Option<usize>,
    #[serde(default)]
    pub max_log_bytes: Option<usize>,
    #[serde(default)]
    pub max_batch_bytes: Option<usize>,
    #[serde(default)]
    pub log_lines_per_s: Option<u32>,
    #[serde(default)]
    pub log_bytes_per_s: Option<u32>,
    #[serde(default)]
    pub recycle_memory_mb: Option<u32>,
    /// Seed of the plugin's randomness (default: derived from the id).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Its order intents are executed by the paper executor (`[execution]`).
    #[serde(default)]
    pub paper: bool,
    /// Its own risk limits, over `[execution.risk]` (the tighter wins).
    #[serde(default)]
    pub risk: Option<crate::execution::RiskConfig>,
    /// In a cluster, what keeps its events together in one instance (one
    /// instance per partition): `instrument` (default), `base`,
    /// `exchange`, or `whole` (one instance for the stream).
    #[serde(default)]
    pub partition: prism_model::PartitionKey,
}

fn empty_table() -> toml::Table {
    toml::Table::new()
}

impl PluginConfig {
    /// The plugin's config as the JSON text `init` receives.
    #[must_use]
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".to_owned())
    }

    /// This plugin's limits: its own values over the defaults.
    #[must_use]
    pub fn limits(&self, defaults: &PluginLimitsConfig) -> PluginLimitsConfig {
        PluginLimitsConfig {
            memory_mb: self.memory_mb.unwrap_or(defaults.memory_mb),
            call_deadline_ms: self.call_deadline_ms.unwrap_or(defaults.call_deadline_ms),
            max_outputs: self.max_outputs.unwrap_or(defaults.max_outputs),
            max_series: self.max_series.unwrap_or(defaults.max_series),
            max_document_keys: self.max_document_keys.unwrap_or(defaults.max_document_keys),
            max_log_names: self.max_log_names.unwrap_or(defaults.max_log_names),
            max_document_bytes: self
                .max_document_bytes
                .unwrap_or(defaults.max_document_bytes),
            max_documents_bytes: self
                .max_documents_bytes
                .unwrap_or(defaults.max_documents_bytes),
            max_log_bytes: self.max_log_bytes.unwrap_or(defaults.max_log_bytes),
            max_batch_bytes: self.max_batch_bytes.unwrap_or(defaults.max_batch_bytes),
            log_lines_per_s: self.log_lines_per_s.unwrap_or(defaults.log_lines_per_s),
            log_bytes_per_s: self.log_bytes_per_s.unwrap_or(defaults.log_bytes_per_s),
            recycle_memory_mb: self.recycle_memory_mb.unwrap_or(defaults.recycle_memory_mb),
        }
    }
}
