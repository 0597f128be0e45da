//! The host's and each plugin's status.

use prism_control::{PluginView, VersionRecord};
use prism_model::{OutputKind, wall_ms};
use prism_worker::DeadLetter;
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::Ordering;
use utoipa::ToSchema;

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `degraded` while a plugin is quarantined or failed, a live
    /// feed is disconnected, the source failed, a snapshot write failed,
    /// PostgreSQL is unreachable or its spool full, or NATS is unreachable.
    #[schema(example = "ok")]
    pub(crate) status: &'static str,
    pub(crate) source: SourceHealth,
    /// How persisting snapshots goes; null when they are not persisted.
    pub(crate) snapshots: Option<SnapshotsHealth>,
    /// How writing to PostgreSQL goes; null when it is not configured.
    pub(crate) postgres: Option<PostgresHealthView>,
    /// How publishing to and consuming from NATS goes; null when it is not
    /// configured.
    pub(crate) nats: Option<NatsHealthView>,
    /// Venues whose live feed is disconnected.
    pub(crate) disconnected_feeds: Vec<String>,
    pub(crate) uptime_s: u64,
    /// Plugins loaded.
    pub(crate) plugins: usize,
    /// Ids of the plugins quarantined or failed.
    pub(crate) failed_plugins: Vec<String>,
    /// Events the source emitted.
    pub(crate) events: u64,
    /// Whether notification channels are configured (`/api/v1/alerts`
    /// answers).
    pub(crate) alerts: bool,
    /// Whether this host is one of a cluster (`/api/v1/cluster` answers).
    pub(crate) cluster: bool,
}

/// The source's state and counters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SourceHealth {
    /// `running`, `finished` (a finite source reached its end) or `failed`.
    #[schema(value_type = String, example = "running")]
    pub(crate) state: prism_sources::SourceState,
    /// Why it failed.
    pub(crate) error: Option<String>,
    pub(crate) events: u64,
    /// Malformed records skipped.
    pub(crate) skipped: u64,
}

/// Snapshot persistence.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SnapshotsHealth {
    pub(crate) written: u64,
    pub(crate) failed: u64,
    /// The last write's error, until a write succeeds.
    pub(crate) error: Option<String>,
}

/// The PostgreSQL sink.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PostgresHealthView {
    /// `ok` or `degraded`.
    #[schema(example = "ok")]
    pub(crate) status: &'static str,
    /// What is wrong, while something is.
    pub(crate) reason: Option<String>,
    pub(crate) connected: bool,
    /// Rows written since start.
    pub(crate) rows: u64,
    /// Bytes waiting in the local spool.
    pub(crate) spool_bytes: u64,
    /// Failed attempts since start (each is retried).
    pub(crate) errors: u64,
    /// The last failure, if any.
    pub(crate) last_error: Option<String>,
}

impl PostgresHealthView {
    pub(crate) fn of(h: &prism_postgres::PostgresHealth) -> Self {
        let reason = h.problem();
        Self {
            status: if reason.is_some() { "degraded" } else { "ok" },
            reason,
            connected: h.connected.load(Ordering::Relaxed),
            rows: h.rows.load(Ordering::Relaxed),
            spool_bytes: h.spool_bytes.load(Ordering::Relaxed),
            errors: h.errors.load(Ordering::Relaxed),
            last_error: h.last_error(),
        }
    }
}

/// NATS JetStream: the collector, the output publisher, the source.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NatsHealthView {
    /// `ok` or `degraded`.
    #[schema(example = "ok")]
    pub(crate) status: &'static str,
    /// What is wrong, while something is.
    pub(crate) reason: Option<String>,
    pub(crate) connected: bool,
    /// Messages the streams acknowledged.
    pub(crate) published: u64,
    /// Of those, messages the stream already had (same message id): sent
    /// again after a lost acknowledgement, or made again by a restart.
    pub(crate) duplicates: u64,
    /// Messages sent again after a failed or missing acknowledgement.
    pub(crate) republished: u64,
    /// Bytes of outputs waiting in the disk spool for the stream.
    pub(crate) spooled_bytes: u64,
    /// Publishes awaiting acknowledgement.
    pub(crate) in_flight: u64,
    /// Outputs not published again: the stream had them from an earlier run.
    pub(crate) suppressed: u64,
    /// Messages the source took; of those, redelivered (skipped).
    pub(crate) consumed: u64,
    pub(crate) redelivered: u64,
    /// Messages the consumer still holds for the source.
    pub(crate) pending: u64,
    /// Times the consumer delivered nothing while it held messages for the
    /// source, and was made again.
    pub(crate) stalls: u64,
    pub(crate) errors: u64,
    pub(crate) last_error: Option<String>,
}

impl NatsHealthView {
    pub(crate) fn of(h: &prism_nats::NatsHealth) -> Self {
        let reason = h.problem();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        Self {
            status: if reason.is_some() { "degraded" } else { "ok" },
            reason,
            connected: h.connected.load(Ordering::Relaxed),
            published: load(&h.published),
            duplicates: load(&h.duplicates),
            republished: load(&h.republished),
            spooled_bytes: load(&h.spooled_bytes),
            in_flight: load(&h.in_flight),
            suppressed: load(&h.suppressed),
            consumed: load(&h.consumed),
            redelivered: load(&h.redelivered),
            pending: load(&h.pending),
            stalls: load(&h.stalls),
            errors: load(&h.errors),
            last_error: h.last_error(),
        }
    }
}

/// `GET /api/v1/feeds`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FeedList {
    pub(crate) items: Vec<FeedStatus>,
}

/// One live feed's counters.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FeedStatus {
    pub(crate) venue: String,
    pub(crate) connected: bool,
    pub(crate) connects: u64,
    pub(crate) reconnects: u64,
    pub(crate) messages: u64,
    pub(crate) records: u64,
    pub(crate) rejected: u64,
    pub(crate) unknown: u64,
    pub(crate) book_gaps: u64,
    pub(crate) checksum_mismatches: u64,
    pub(crate) resyncs: u64,
    /// Exchange time to receive time, ms.
    pub(crate) latency_ms: FeedLatency,
    /// Wall time of the last message, unix ms.
    pub(crate) last_message_at: Option<i64>,
}

/// Exchange-to-receive latency.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FeedLatency {
    pub(crate) mean: f64,
    pub(crate) max: i64,
}

impl FeedStatus {
    pub(crate) fn of(venue: &str, m: &prism_venues::live::FeedMetrics) -> Self {
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let last = m.last_message_ms.load(Ordering::Relaxed);
        Self {
            venue: venue.to_owned(),
            connected: m.connected.load(Ordering::Relaxed),
            connects: n(&m.connects),
            reconnects: n(&m.reconnects),
            messages: n(&m.messages),
            records: n(&m.records),
            rejected: n(&m.rejected),
            unknown: n(&m.unknown),
            book_gaps: n(&m.book_gaps),
            checksum_mismatches: n(&m.checksum_mismatches),
            resyncs: n(&m.resyncs),
            latency_ms: FeedLatency {
                mean: m.latency_mean_ms(),
                max: m.latency_max_ms.load(Ordering::Relaxed),
            },
            last_message_at: (last > 0).then_some(last),
        }
    }
}

/// Outputs of a plugin, by kind.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OutputCounts {
    pub(crate) series: u64,
    pub(crate) document: u64,
    pub(crate) log: u64,
    pub(crate) signal: u64,
    pub(crate) order: u64,
    pub(crate) alert: u64,
}

/// A plugin's last failure.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LastError {
    pub(crate) message: String,
    /// Wall time, unix ms.
    pub(crate) at_ms: i64,
}

/// The plugin's last state snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SnapshotStatus {
    pub(crate) bytes: u64,
    /// Wall time, unix ms.
    pub(crate) taken_at: Option<i64>,
    pub(crate) age_ms: Option<i64>,
}

/// What a plugin receives.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SubscriptionView {
    /// Event kinds; empty means all.
    pub(crate) kinds: Vec<String>,
    pub(crate) exchanges: Vec<String>,
    /// Symbol patterns (`*`, `?`).
    pub(crate) symbols: Vec<String>,
    pub(crate) timer_interval_ms: Option<u64>,
}

/// A plugin's status.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PluginStatus {
    pub(crate) id: String,
    /// The plugin's own name and version (from `init`).
    pub(crate) name: String,
    pub(crate) version: String,
    /// The `prism:plugin` contract version it was built against.
    #[schema(example = "0.2.0")]
    pub(crate) contract: &'static str,
    /// `starting`, `running`, `swapping`, `recovering`, `quarantined`,
    /// `paused`, `failed` or `stopped`.
    #[schema(example = "running")]
    pub(crate) state: &'static str,
    pub(crate) sha256: String,
    /// The code it runs on: `optimized`, or `quick` for a moment after a
    /// swap whose optimized code was not compiled yet (it follows, swapped
    /// in underneath with the state).
    #[schema(example = "optimized")]
    pub(crate) code: &'static str,
    /// The file path, or `upload`.
    pub(crate) source: String,
    /// When the running version was switched to, wall ms.
    pub(crate) loaded_at: i64,
    /// The config the running version was started with.
    #[schema(value_type = Object)]
    pub(crate) config: Value,
    pub(crate) subscription: SubscriptionView,
    pub(crate) events_in: u64,
    pub(crate) events_dropped: u64,
    pub(crate) batches: u64,
    pub(crate) outputs: OutputCounts,
    pub(crate) errors: u64,
    pub(crate) restarts: u64,
    /// Instances recycled past `recycle_memory_mb` (state kept).
    pub(crate) recycles: u64,
    pub(crate) swaps: u64,
    pub(crate) swap_failures: u64,
    pub(crate) dead_letters: u64,
    pub(crate) last_error: Option<LastError>,
    /// When a quarantine ends, wall ms.
    pub(crate) quarantined_until: Option<i64>,
    pub(crate) snapshot: SnapshotStatus,
    /// Batches waiting in the plugin's queue.
    pub(crate) queue_depth: usize,
    /// Event time of the last event processed.
    pub(crate) last_event_ts: Option<i64>,
    /// Event time between the newest routed event and the last processed one.
    pub(crate) lag_ms: i64,
    pub(crate) memory_bytes: u64,
    pub(crate) logs_suppressed: u64,
    /// A candidate version running beside this one, and how its outputs
    /// compare; null when there is none.
    pub(crate) candidate: Option<super::CandidateStatus>,
}

/// Event-time lag of a plugin behind the newest routed event, ms.
pub(crate) fn lag_ms(p: &PluginView, head: i64) -> i64 {
    let last = p.metrics.last_event_ts.load(Ordering::Relaxed);
    if last == i64::MIN || head == i64::MIN {
        0
    } else {
        (head - last).max(0)
    }
}

impl PluginStatus {
    /// `p`'s status, its lag measured against `head` (the newest event time routed).
    pub(crate) fn of(p: &PluginView, head: i64) -> Self {
        let m = &p.metrics;
        let last = m.last_event_ts.load(Ordering::Relaxed);
        let snapshot_at = m.snapshot_at_ms.load(Ordering::Relaxed);
        let quarantined_until = m.quarantined_until_ms.load(Ordering::Relaxed);
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let s = &p.subscription;
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            version: p.version.clone(),
            contract: p.contract,
            state: m.state().as_str(),
            sha256: p.sha256.clone(),
            code: p.code,
            source: p.source.clone(),
            loaded_at: p.loaded_at_ms,
            config: p.config.clone(),
            subscription: SubscriptionView {
                kinds: s.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
                exchanges: s.exchanges.clone(),
                symbols: s.symbols.clone(),
                timer_interval_ms: s.timer_interval_ms,
            },
            events_in: n(&m.events_in),
            events_dropped: n(&m.events_dropped),
            batches: n(&m.batches),
            outputs: OutputCounts {
                series: m.outputs(OutputKind::Series),
                document: m.outputs(OutputKind::Document),
                log: m.outputs(OutputKind::Log),
                signal: m.outputs(OutputKind::Signal),
                order: m.outputs(OutputKind::Order),
                alert: m.outputs(OutputKind::Alert),
            },
            errors: n(&m.errors),
            restarts: n(&m.restarts),
            recycles: n(&m.recycles),
            swaps: n(&m.swaps),
            swap_failures: n(&m.swap_failures),
            dead_letters: n(&m.dead_letters_total),
            last_error: m.last_error_record().map(|e| LastError {
                message: e.message,
                at_ms: e.at_ms,
            }),
            quarantined_until: (quarantined_until > 0).then_some(quarantined_until),
            snapshot: SnapshotStatus {
                bytes: n(&m.snapshot_bytes),
                taken_at: (snapshot_at > 0).then_some(snapshot_at),
                age_ms: (snapshot_at > 0).then(|| (wall_ms() - snapshot_at).max(0)),
            },
            queue_depth: p.queue_depth.load(Ordering::Relaxed),
            last_event_ts: (last != i64::MIN).then_some(last),
            lag_ms: lag_ms(p, head),
            memory_bytes: n(&m.memory_bytes),
            logs_suppressed: n(&m.logs_suppressed),
            candidate: p
                .candidate
                .as_ref()
                .map(|c| super::CandidateStatus::of(&p.id, c)),
        }
    }
}

/// `GET /api/v1/plugins`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PluginList {
    pub(crate) items: Vec<PluginStatus>,
}

/// `GET /api/v1/plugins/{id}`: the status, the call latencies, and what
/// the plugin wrote.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PluginDetail {
    #[serde(flatten)]
    pub(crate) status: PluginStatus,
    pub(crate) call_latency: CallLatency,
    /// Series names written.
    pub(crate) series: Vec<String>,
    /// Document keys written.
    pub(crate) documents: Vec<String>,
}

/// The `on-events` call-latency histogram, cumulative.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CallLatency {
    pub(crate) count: u64,
    pub(crate) sum_us: u64,
    pub(crate) buckets: Vec<LatencyBucket>,
}

/// Calls that took at most `le_us` µs (null: all).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LatencyBucket {
    pub(crate) le_us: Option<u64>,
    pub(crate) count: u64,
}

impl CallLatency {
    pub(crate) fn of(p: &PluginView) -> Self {
        let (buckets, sum_us) = p.metrics.latency();
        Self {
            count: buckets.last().map_or(0, |b| b.1),
            sum_us,
            buckets: buckets
                .into_iter()
                .map(|(le_us, count)| LatencyBucket { le_us, count })
                .collect(),
        }
    }
}

/// `GET /api/v1/plugins/{id}/versions`, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionList {
    pub(crate) plugin: String,
    pub(crate) items: Vec<VersionView>,
}

/// One version of a plugin.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionView {
    /// Position in the history, from 1.
    pub(crate) seq: u64,
    pub(crate) sha256: String,
    /// The plugin's own name and version, when it got as far as `init`.
    pub(crate) name: Option<String>,
    pub(crate) version: Option<String>,
    #[schema(value_type = Object)]
    pub(crate) config: Value,
    /// `start`, `wasm`, `config`, `reload` or `rollback`.
    pub(crate) change: String,
    /// `active`, `previous` or `failed`.
    pub(crate) status: String,
    pub(crate) loaded_at_ms: i64,
    /// Why it failed, for `failed` entries.
    pub(crate) error: Option<String>,
}

fn name_of(v: impl Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl From<VersionRecord> for VersionView {
    fn from(r: VersionRecord) -> Self {
        Self {
            seq: r.seq,
            sha256: r.sha256,
            name: r.name,
            version: r.version,
            config: r.config,
            change: name_of(r.change),
            status: name_of(r.status),
            loaded_at_ms: r.loaded_at_ms,
            error: r.error,
        }
    }
}

/// `GET /api/v1/plugins/{id}/dead-letters`, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeadLetterList {
    pub(crate) plugin: String,
    /// Dead letters in all (the oldest beyond `recovery.dead_letters` are not kept).
    pub(crate) total: u64,
    pub(crate) items: Vec<DeadLetterView>,
}

/// An event a plugin could not process.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeadLetterView {
    /// The event, in the replay format.
    #[schema(value_type = Object)]
    pub(crate) event: Value,
    pub(crate) error: FaultView,
    /// Wall time it was set aside, unix ms.
    pub(crate) at: i64,
    /// The plugin version that failed on it.
    pub(crate) sha256: String,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FaultView {
    /// `panic`, `deadline`, `memory`, `output_cap`, `stack_overflow`,
    /// `error`, `bad_output`, `output_limit` or `trap`.
    pub(crate) kind: String,
    pub(crate) message: String,
}

impl From<&DeadLetter> for DeadLetterView {
    fn from(d: &DeadLetter) -> Self {
        Self {
            event: prism_sources::event_json(&d.event, d.instrument.as_deref()),
            error: FaultView {
                kind: name_of(d.fault.kind),
                message: d.fault.message.clone(),
            },
            at: d.at_ms,
            sha256: d.version.clone(),
        }
    }
}
