//! Prism's plugin workers: the executor between the router's batch queues
//! and the sinks.
//!
//! A worker owns one plugin's instance (from [`prism_runtime`]), runs on a
//! fixed pool of threads shared by every plugin ([`WorkerPool`]: plugins
//! are not threads), takes the plugin's batches strictly in order, calls it under its limits, counts
//! and hands on its outputs, and carries out the control plane's commands
//! (swap, pause, resume) between two batches. It keeps a checkpoint (the
//! last snapshot of the plugin's state and the batches since) so a crashed
//! instance is rebuilt without losing or repeating an output, bisects a
//! failing batch down to the poison event (a dead letter), and quarantines
//! a plugin that keeps failing.
//!
//! A plugin that trades on paper has its account ([`prism_execution`]) in
//! its worker: the worker calls such a plugin one event at a time, each
//! event preceded in the account (fills of working orders, funding) and
//! followed by the fills it caused, and places the orders the plugin
//! returns before the next event, so fills depend on the events alone.
//!
//! A plugin may have a candidate version beside its running one: it is
//! given the same batches, its outputs are compared with the running
//! version's and never sent on, and it is promoted (with its own state) or
//! discarded on the operator's word.
//!
//! Every event a worker is sent ends in exactly one of delivered
//! (`events_in`), dead-lettered or dropped (paused, quarantined, failed).

mod budget;
mod canary;
mod command;
pub mod metrics;
mod pool;
mod recovery;
mod since;
mod trading;
mod worker;

pub use canary::{Comparison, ComparisonFigures, Difference, KindFigures};
pub use command::{
    AccountAnswer, AccountCommand, AccountReply, ManualOrder, Refusal, Reply, WorkerCommand,
};
pub use metrics::{DeadLetter, ErrorRecord, LATENCY_BUCKETS_US, PluginMetrics, PluginState};
pub use pool::{Ended, TURN_BATCHES, TURN_TIME, WorkerHandle, WorkerPool};
pub use worker::{FaultReporter, OutputSender, RecoverySettings, WorkerParts};
