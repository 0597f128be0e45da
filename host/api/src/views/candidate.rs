//! A candidate version beside a plugin's running one, and how its outputs
//! compare with the running version's.

use prism_control::CandidateView;
use prism_model::OutputKind;
use prism_worker::{Difference, KindFigures};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// `GET /api/v1/plugins/{id}/candidate`, and `candidate` in a plugin's
/// status.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CandidateStatus {
    /// Its own name and version (from `init`).
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) sha256: String,
    /// The config it was started with.
    #[schema(value_type = Object)]
    pub(crate) config: Value,
    /// When it started, wall ms.
    pub(crate) started_at: i64,
    /// `running`, or `stopped` (it failed); a stopped candidate cannot be
    /// promoted.
    #[schema(example = "running")]
    pub(crate) state: &'static str,
    /// Why it stopped.
    pub(crate) stopped_because: Option<String>,
    /// Every compared batch gave equal outputs.
    pub(crate) identical: bool,
    /// Batches both versions processed and that were compared, and the
    /// market events in them.
    pub(crate) batches: u64,
    pub(crate) events: u64,
    /// Compared batches whose outputs were not all equal.
    pub(crate) differing_batches: u64,
    /// Batches the running version failed (recovered apart): given to the
    /// candidate, not compared.
    pub(crate) uncompared_batches: u64,
    /// Per output kind, over the compared batches.
    pub(crate) outputs: ComparedOutputs,
    /// Time spent in calls over the compared batches, µs.
    pub(crate) live_call_us: u64,
    pub(crate) candidate_call_us: u64,
    /// The first output where the two differ; null while none does.
    pub(crate) first_difference: Option<DifferenceView>,
}

/// Per output kind: counts of each version and how many were equal.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ComparedOutputs {
    pub(crate) series: KindComparison,
    pub(crate) document: KindComparison,
    pub(crate) log: KindComparison,
    pub(crate) signal: KindComparison,
    pub(crate) order: KindComparison,
    pub(crate) alert: KindComparison,
}

/// One output kind's counts.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) struct KindComparison {
    pub(crate) live: u64,
    pub(crate) candidate: u64,
    /// Outputs equal to the running version's at the same place (the
    /// `i`-th of this kind in a batch against its `i`-th).
    pub(crate) matching: u64,
}

/// Where the candidate's outputs first left the running version's.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DifferenceView {
    /// The stream position of the batch.
    pub(crate) position: u64,
    /// The output kind.
    #[schema(example = "series")]
    pub(crate) kind: &'static str,
    /// Which output of that kind in the batch, from 0.
    pub(crate) index: usize,
    /// The running version's output there, as WebSocket clients get it;
    /// null when it made fewer.
    #[schema(value_type = Option<Object>)]
    pub(crate) live: Option<Value>,
    /// The candidate's output there; null when it made fewer.
    #[schema(value_type = Option<Object>)]
    pub(crate) candidate: Option<Value>,
}

impl CandidateStatus {
    pub(crate) fn of(plugin: &str, c: &CandidateView) -> Self {
        let f = c.comparison.figures();
        let kind = |k: OutputKind| {
            let KindFigures {
                live,
                candidate,
                matching,
            } = f
                .kinds
                .iter()
                .find(|(kind, _)| *kind == k)
                .map(|(_, figures)| *figures)
                .unwrap_or_default();
            KindComparison {
                live,
                candidate,
                matching,
            }
        };
        let us = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let stopped = f.ended.filter(|why| why != "promoted");
        Self {
            name: c.name.clone(),
            version: c.version.clone(),
            sha256: c.sha256.clone(),
            config: c.config.clone(),
            started_at: f.started_at_ms,
            state: if stopped.is_some() {
                "stopped"
            } else {
                "running"
            },
            stopped_because: stopped,
            identical: f.differing_batches == 0,
            batches: f.batches,
            events: f.events,
            differing_batches: f.differing_batches,
            uncompared_batches: f.uncompared_batches,
            outputs: ComparedOutputs {
                series: kind(OutputKind::Series),
                document: kind(OutputKind::Document),
                log: kind(OutputKind::Log),
                signal: kind(OutputKind::Signal),
                order: kind(OutputKind::Order),
                alert: kind(OutputKind::Alert),
            },
            live_call_us: us(f.live_call_time),
            candidate_call_us: us(f.candidate_call_time),
            first_difference: f.first_difference.map(|d| DifferenceView::of(plugin, &d)),
        }
    }
}

impl DifferenceView {
    fn of(plugin: &str, d: &Difference) -> Self {
        Self {
            position: d.position,
            kind: d.kind.as_str(),
            index: d.index,
            live: d.live.as_ref().map(|o| o.to_line(plugin)),
            candidate: d.candidate.as_ref().map(|o| o.to_line(plugin)),
        }
    }
}
