//! What plugins produce, as the host stores and serves it.

use crate::{Decimal, Instrument, Side, TimestampMs};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use crate::body::{Body, BodyError};

/// A point of a named series (a derived statistic, hence `f64`).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub name: Arc<str>,
    pub instrument: Option<Arc<Instrument>>,
    pub ts: TimestampMs,
    pub value: f64,
}

/// The latest value under a key; `body` is JSON (from the plugin's
/// MessagePack, read when first needed).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub key: Arc<str>,
    pub ts: TimestampMs,
    pub body: Body,
}

/// An append-only record; `body` is JSON (as a document's).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub name: Arc<str>,
    pub instrument: Option<Arc<Instrument>>,
    pub ts: TimestampMs,
    pub body: Body,
}

/// Which way a signal points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Long,
    Short,
    Flat,
}

/// How strongly a signal is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    Strong,
    Medium,
    Weak,
    Ignore,
}

/// A graded trading signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub instrument: Arc<Instrument>,
    pub ts: TimestampMs,
    pub direction: Direction,
    pub strength: Strength,
    pub reason: Arc<str>,
}

/// An order for the paper executor.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderIntent {
    pub client_id: Arc<str>,
    pub instrument: Arc<Instrument>,
    pub ts: TimestampMs,
    pub side: Side,
    pub size: Decimal,
    pub limit_price: Option<Decimal>,
    pub reduce_only: bool,
}

/// Alert urgency; P0 is the most urgent (and orders first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    P0,
    P1,
    P2,
}

/// A message for a human.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub priority: Priority,
    pub ts: TimestampMs,
    pub title: Arc<str>,
    pub body: Arc<str>,
}

/// One plugin output.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Series(SeriesPoint),
    Document(Document),
    Log(LogEntry),
    Signal(Signal),
    Order(OrderIntent),
    Alert(Alert),
}

/// The outputs of one call of one plugin, in the order it returned them.
/// Output `i` is identified for good by `(plugin, position, i)`: retries,
/// recoveries and restarts never make another output with that identity.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputBatch {
    /// The plugin's id.
    pub plugin: Arc<str>,
    /// The stream position of the batch the outputs came from.
    pub position: u64,
    /// The position of the plugin's batch before it, if any: the outputs
    /// came from the plugin's input after it, up to `position`.
    pub previous: Option<u64>,
    pub outputs: Vec<Output>,
}

/// An output's identity within its plugin: the stream position of the
/// batch that made it and its index among that batch's outputs. Ordered as
/// the outputs were made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutputId {
    pub position: u64,
    pub index: u32,
}

impl OutputId {
    /// The id of output `index` of the batch at `position`.
    #[must_use]
    pub fn new(position: u64, index: usize) -> Self {
        Self {
            position,
            index: u32::try_from(index).unwrap_or(u32::MAX),
        }
    }
}

impl std::fmt::Display for OutputId {
    /// `position.index`, the form API cursors use.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.position, self.index)
    }
}

impl std::str::FromStr for OutputId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let (p, i) = s.split_once('.').ok_or(())?;
        Ok(Self {
            position: p.parse().map_err(|_| ())?,
            index: i.parse().map_err(|_| ())?,
        })
    }
}

/// A plugin's state after every batch up to `position`: what a restart
/// restores, resuming the stream after `position`.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub plugin: Arc<str>,
    /// The stream position the state covers (`None` before any batch).
    pub position: Option<u64>,
    /// SHA-256 of the code that wrote the state.
    pub version: Arc<str>,
    pub state: Arc<[u8]>,
    /// The instruments declared to the plugin: the state names them by id,
    /// so a restart must give them the same ids.
    pub instruments: Vec<Arc<Instrument>>,
    /// The plugin's paper account at the same position (positions, working
    /// orders), when it trades: restored with the state.
    pub account: Option<Arc<[u8]>>,
    /// The plugin's last checkpoint in this run: its worker has ended, and
    /// nothing of it follows in the sinks.
    pub last: bool,
}

/// An event a plugin could not process, set aside (a dead letter). The
/// position of its batch and its rank among the batch's dead letters
/// identify it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub plugin: Arc<str>,
    pub position: u64,
    pub index: u32,
    /// Wall time it was set aside, unix ms.
    pub at_ms: i64,
    pub event: crate::Event,
    pub instrument: Option<Arc<Instrument>>,
    /// The fault's kind (`panic`, `deadline`, …) and message.
    pub kind: Arc<str>,
    pub message: Arc<str>,
    /// SHA-256 of the code that failed on it.
    pub version: Arc<str>,
}

/// Where a plugin's code comes from, as a registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginOrigin {
    /// A file (listed in the config file, or not).
    File { path: String, from_config: bool },
    /// Uploaded through the admin API: the component itself.
    Upload { component: Arc<[u8]> },
}

/// One plugin as the registry keeps it: enough to start it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRecord {
    pub id: Arc<str>,
    pub origin: PluginOrigin,
    /// SHA-256 of the code running now.
    pub sha256: Arc<str>,
    /// The config `init` got, JSON.
    pub config_json: String,
    /// Its limits, seed and subscription override, JSON.
    pub settings_json: String,
    pub paused: bool,
}

/// One entry of a plugin's version history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionEntry {
    pub plugin: Arc<str>,
    pub loaded_at_ms: i64,
    pub sha256: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub config_json: String,
    /// `start`, `wasm`, `config`, `reload` or `rollback`.
    pub change: &'static str,
    /// `active`, `previous` or `failed`.
    pub status: &'static str,
    pub error: Option<String>,
}

/// A change of the plugin registry, for the sinks that keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryChange {
    /// A plugin added, or its code, config or state of pause changed.
    Upsert(PluginRecord),
    /// A plugin removed.
    Removed { id: Arc<str> },
    /// A version recorded.
    Version(VersionEntry),
}

/// Input events kept beside the outputs, each at its stream position with
/// its instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct Archived {
    pub events: Vec<(u64, Arc<Instrument>, crate::Event)>,
}

/// What the sink stage carries, in the order it was made: each plugin's
/// output batches and its checkpoints between them, its dead letters, the
/// registry's changes, and archived input events.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Outputs(OutputBatch),
    Checkpoint(Checkpoint),
    Rejected(Rejected),
    Registry(RegistryChange),
    Archive(Archived),
    /// What a plugin's paper account did over one batch.
    Execution(crate::ExecutionReport),
}

/// The kinds of output, for counting and routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    Series,
    Document,
    Log,
    Signal,
    Order,
    Alert,
}

impl OutputKind {
    /// Every kind, in contract order.
    pub const ALL: [OutputKind; 6] = [
        OutputKind::Series,
        OutputKind::Document,
        OutputKind::Log,
        OutputKind::Signal,
        OutputKind::Order,
        OutputKind::Alert,
    ];

    /// The name used in files and the API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Series => "series",
            OutputKind::Document => "document",
            OutputKind::Log => "log",
            OutputKind::Signal => "signal",
            OutputKind::Order => "order",
            OutputKind::Alert => "alert",
        }
    }
}

impl Output {
    /// This output's kind.
    #[must_use]
    pub fn kind(&self) -> OutputKind {
        match self {
            Output::Series(_) => OutputKind::Series,
            Output::Document(_) => OutputKind::Document,
            Output::Log(_) => OutputKind::Log,
            Output::Signal(_) => OutputKind::Signal,
            Output::Order(_) => OutputKind::Order,
            Output::Alert(_) => OutputKind::Alert,
        }
    }

    /// The output's event time.
    #[must_use]
    pub fn ts(&self) -> TimestampMs {
        match self {
            Output::Series(o) => o.ts,
            Output::Document(o) => o.ts,
            Output::Log(o) => o.ts,
            Output::Signal(o) => o.ts,
            Output::Order(o) => o.ts,
            Output::Alert(o) => o.ts,
        }
    }

    /// The output as one line of the `--out` file format (also what
    /// WebSocket clients of `plugin:{id}` get), tagged with the plugin id:
    /// `{"plugin":…,"kind":"series","name":…,"exchange":…,…}`.
    #[must_use]
    pub fn to_line(&self, plugin: &str) -> serde_json::Value {
        serde_json::to_value(self.line(plugin)).unwrap_or_default()
    }

    /// The same line as [`Output::to_line`], serialized straight from the
    /// output: a writer gets it without a copy of the body.
    #[must_use]
    pub fn line<'a>(&'a self, plugin: &'a str) -> OutputLine<'a> {
        OutputLine {
            output: self,
            plugin,
        }
    }
}

/// An output as one line of the `--out` format ([`Output::line`]).
#[derive(Debug, Clone, Copy)]
pub struct OutputLine<'a> {
    output: &'a Output,
    plugin: &'a str,
}

impl Serialize for OutputLine<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        fn place<M: SerializeMap>(m: &mut M, i: Option<&Instrument>) -> Result<(), M::Error> {
            m.serialize_entry("exchange", &i.map(|i| &*i.exchange))?;
            m.serialize_entry("symbol", &i.map(|i| &*i.symbol))
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("plugin", self.plugin)?;
        match self.output {
            Output::Series(o) => {
                m.serialize_entry("kind", "series")?;
                m.serialize_entry("name", &*o.name)?;
                place(&mut m, o.instrument.as_deref())?;
                m.serialize_entry("ts", &o.ts)?;
                m.serialize_entry("value", &o.value)?;
            }
            Output::Document(o) => {
                m.serialize_entry("kind", "document")?;
                m.serialize_entry("key", &*o.key)?;
                m.serialize_entry("ts", &o.ts)?;
                m.serialize_entry("body", &o.body)?;
            }
            Output::Log(o) => {
                m.serialize_entry("kind", "log")?;
                m.serialize_entry("name", &*o.name)?;
                place(&mut m, o.instrument.as_deref())?;
                m.serialize_entry("ts", &o.ts)?;
                m.serialize_entry("body", &o.body)?;
            }
            Output::Signal(o) => {
                m.serialize_entry("kind", "signal")?;
                place(&mut m, Some(&o.instrument))?;
                m.serialize_entry("ts", &o.ts)?;
                m.serialize_entry("direction", &o.direction)?;
                m.serialize_entry("strength", &o.strength)?;
                m.serialize_entry("reason", &*o.reason)?;
            }
            Output::Order(o) => {
                m.serialize_entry("kind", "order")?;
                m.serialize_entry("client_id", &*o.client_id)?;
                place(&mut m, Some(&o.instrument))?;
                m.serialize_entry("ts", &o.ts)?;
                m.serialize_entry("side", &o.side)?;
                m.serialize_entry("size", &o.size.to_string())?;
                m.serialize_entry("limit_price", &o.limit_price.map(|p| p.to_string()))?;
                m.serialize_entry("reduce_only", &o.reduce_only)?;
            }
            Output::Alert(o) => {
                m.serialize_entry("kind", "alert")?;
                m.serialize_entry("ts", &o.ts)?;
                m.serialize_entry("priority", &o.priority)?;
                m.serialize_entry("title", &*o.title)?;
                m.serialize_entry("body", &*o.body)?;
            }
        }
        m.end()
    }
}

/// Bytes a decoded body (`Document::body`, `LogEntry::body`) holds in
/// memory, approximately: [`VALUE_BYTES`] per value plus its text. Limits on
/// plugin outputs are counted in this unit, so they bound the host's memory
/// rather than the size on the wire.
#[must_use]
pub fn body_bytes(body: &serde_json::Value) -> usize {
    use serde_json::Value;
    VALUE_BYTES
        + match body {
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
            Value::String(s) => s.len(),
            Value::Array(items) => items.iter().map(body_bytes).sum(),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| VALUE_BYTES + k.len() + body_bytes(v))
                .sum(),
        }
}

/// What one JSON value costs in memory before its text (see [`body_bytes`]).
pub const VALUE_BYTES: usize = 32;

#[cfg(test)]
mod body_tests {
    use super::*;

    #[test]
    fn body_bytes_count_values_and_text() {
        assert_eq!(body_bytes(&serde_json::json!(null)), 32);
        assert_eq!(body_bytes(&serde_json::json!("abcd")), 36);
        // Array: 32 + two numbers (32 each).
        assert_eq!(body_bytes(&serde_json::json!([1, 2])), 96);
        // Object: 32 + key entry (32 + 1) + value 32.
        assert_eq!(body_bytes(&serde_json::json!({"a": 1})), 97);
    }
}
