//! A plugin's outputs as the API shows them.

use super::place;
use prism_model::{Document, LogEntry, SeriesPoint, Signal};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use utoipa::ToSchema;

/// `GET /api/v1/plugins/{id}/series/{name}`: oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SeriesPage {
    pub(crate) plugin: String,
    pub(crate) name: String,
    pub(crate) points: Vec<PointView>,
}

/// One point of a series.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PointView {
    // Shared with the instrument, not copied: a page holds up to
    // thousands of points, all of a few instruments.
    #[schema(value_type = Option<String>)]
    pub(crate) exchange: Option<Arc<str>>,
    #[schema(value_type = Option<String>)]
    pub(crate) symbol: Option<Arc<str>>,
    pub(crate) ts: i64,
    pub(crate) value: f64,
}

impl From<&SeriesPoint> for PointView {
    fn from(p: &SeriesPoint) -> Self {
        let instrument = p.instrument.as_deref();
        Self {
            exchange: instrument.map(|i| i.exchange.clone()),
            symbol: instrument.map(|i| i.symbol.clone()),
            ts: p.ts,
            value: p.value,
        }
    }
}

/// `GET /api/v1/plugins/{id}/documents/{key}`: the latest value.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DocumentView {
    pub(crate) plugin: String,
    pub(crate) key: String,
    pub(crate) ts: i64,
    /// The plugin's MessagePack body, as JSON.
    #[schema(value_type = Object)]
    pub(crate) body: Value,
}

impl DocumentView {
    pub(crate) fn of(plugin: &str, d: &Document) -> Self {
        Self {
            plugin: plugin.to_owned(),
            key: d.key.to_string(),
            ts: d.ts,
            body: d.body.value().clone(),
        }
    }
}

/// `GET /api/v1/plugins/{id}/logs`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogPage {
    pub(crate) plugin: String,
    pub(crate) items: Vec<LogView>,
    /// The `cursor` of the next (older) page; null when there is none.
    pub(crate) next_cursor: Option<String>,
}

/// One log entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LogView {
    pub(crate) name: String,
    pub(crate) exchange: Option<String>,
    pub(crate) symbol: Option<String>,
    pub(crate) ts: i64,
    #[schema(value_type = Object)]
    pub(crate) body: Value,
}

impl From<&LogEntry> for LogView {
    fn from(l: &LogEntry) -> Self {
        let (exchange, symbol) = place(l.instrument.as_ref());
        Self {
            name: l.name.to_string(),
            exchange,
            symbol,
            ts: l.ts,
            body: l.body.value().clone(),
        }
    }
}

/// `GET /api/v1/signals`: newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignalPage {
    pub(crate) items: Vec<SignalView>,
    pub(crate) next_cursor: Option<String>,
}

/// One graded signal.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignalView {
    pub(crate) plugin: String,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    pub(crate) ts: i64,
    /// `long`, `short` or `flat`.
    #[schema(value_type = String, example = "long")]
    pub(crate) direction: prism_model::Direction,
    /// `strong`, `medium`, `weak` or `ignore`.
    #[schema(value_type = String, example = "strong")]
    pub(crate) strength: prism_model::Strength,
    pub(crate) reason: String,
}

impl SignalView {
    pub(crate) fn of(plugin: &str, s: &Signal) -> Self {
        Self {
            plugin: plugin.to_owned(),
            exchange: s.instrument.exchange.to_string(),
            symbol: s.instrument.symbol.to_string(),
            ts: s.ts,
            direction: s.direction,
            strength: s.strength,
            reason: s.reason.to_string(),
        }
    }
}
