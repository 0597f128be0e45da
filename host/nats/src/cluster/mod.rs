//! Several hosts sharing one stream's work: membership, partition leases
//! and the plugins' states, all kept in JetStream.
//!
//! One stream per cluster, `PRISM_CLUSTER_{name}` (subjects
//! `prism.cluster.{name}.host.{host}` and `….lease.{partition}`), holds the
//! last message of each subject for at most the lease time: a host that
//! stops renewing its entry and its leases disappears from it, and its
//! partitions are free. A lease is taken by a publish the server accepts
//! only while the subject is empty (`Nats-Expected-Last-Subject-Sequence:
//! 0`) and renewed by one it accepts only on top of the holder's own last
//! message, so two hosts never hold one partition: a host that finds its
//! renewal refused has lost the lease and stops the partition at once.
//!
//! The instances' states live in a stream of their own
//! (`PRISM_STATE_{name}`), the plugins' code in an object store
//! (`PRISM_CODE_{name}`), each kept until replaced.
//!
//! NATS 2.9's key-value API is not used (the client's bucket creation
//! fails against it: "data did not match any variant of untagged enum
//! Response"); these streams are what a bucket is made of.

mod code;
mod progress;
mod scan;
mod states;
mod writer;

pub use code::{CodeHead, CodeStore};
pub use scan::delivered_since;
pub use states::{StateStore, StoredState};
pub use writer::StateWriter;

use crate::{Nats, NatsError, js_error};
use async_nats::jetstream::consumer::{self, AckPolicy, DeliverPolicy};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;
use progress::{ReadProgress, Short};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// What `[cluster]` says, validated.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub name: String,
    pub host: String,
    pub partitions: u32,
    pub lease_ttl: Duration,
    /// This host's API address, shown to the others.
    pub advertise: String,
    /// The name of this host's durable consumer (`source.durable`): one
    /// per host, or two hosts would split each other's messages.
    pub durable: String,
    /// This process among all runs of the host name, to tell a second
    /// process with the same `cluster.host` from this one.
    pub run: String,
}

/// A host's entry, renewed with its leases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEntry {
    pub host: String,
    /// Where its API listens.
    pub api: String,
    /// Wall time it joined, unix ms.
    pub joined_ms: i64,
    /// Wall time of this entry, unix ms.
    pub at_ms: i64,
    /// The partitions it holds.
    pub partitions: Vec<u32>,
    /// Plugin instances it runs.
    pub instances: usize,
    /// Events its source has taken so far.
    pub consumed: u64,
    /// The partition count it runs with (every host must say the same).
    #[serde(default)]
    pub partition_count: u32,
    /// Its durable consumer's name.
    #[serde(default)]
    pub durable: String,
    /// Which process runs it ([`ClusterSettings::run`]).
    #[serde(default)]
    pub run: String,
}

/// A partition's lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub host: String,
    /// Wall time the holder took it, unix ms.
    pub since_ms: i64,
}

/// The cluster as its stream shows it now.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Live hosts, by name.
    pub hosts: BTreeMap<String, HostEntry>,
    /// Held partitions: the lease and the sequence of its last renewal.
    pub leases: BTreeMap<u32, (Lease, u64)>,
}

/// Membership and leases of one cluster.
pub struct Cluster {
    js: jetstream::Context,
    stream: stream::Stream,
    prefix: String,
    settings: ClusterSettings,
    states: StateStore,
    code: CodeStore,
}

impl Cluster {
    /// Opens (creating) the cluster's streams. Call inside the runtime of
    /// `nats`.
    ///
    /// # Errors
    /// When a stream cannot be made or used.
    pub async fn open(nats: &Nats, settings: ClusterSettings) -> Result<Self, NatsError> {
        let name = format!("PRISM_CLUSTER_{}", settings.name);
        let prefix = format!("prism.cluster.{}", settings.name);
        let stream = crate::keyed_stream(
            &nats.js,
            &name,
            "Prism: hosts and partition leases of a cluster",
            vec![format!("{prefix}.host.>"), format!("{prefix}.lease.>")],
            nats.settings.replicas,
            Some(settings.lease_ttl),
        )
        .await?;
        if stream.cached_info().config.max_age != settings.lease_ttl {
            return Err(NatsError::Stream {
                stream: name,
                message: format!(
                    "exists with a lease time of {:?}, not cluster.lease_ttl = {:?}: every host of a cluster must say the same",
                    stream.cached_info().config.max_age,
                    settings.lease_ttl
                ),
            });
        }
        let cluster_name = name.clone();
        let states = StateStore::open(&nats.js, &settings.name, nats.settings.replicas).await?;
        let code = CodeStore::open(&nats.js, &settings.name, nats.settings.replicas).await?;
        let cluster = Self {
            js: nats.js.clone(),
            stream,
            prefix,
            settings,
            states,
            code,
        };
        cluster.refuse_clashes(&cluster_name).await?;
        Ok(cluster)
    }

    /// Refuses to join beside a live host that cuts the stream otherwise
    /// (overlapping instances), reads through the same durable consumer
    /// (each would get part of the other's messages), or runs under the
    /// same host name in another process (both would hold its leases).
    async fn refuse_clashes(&self, stream: &str) -> Result<(), NatsError> {
        let me = &self.settings;
        let refused = |message: String| NatsError::Stream {
            stream: stream.to_owned(),
            message,
        };
        let view = self.view().await?;
        for other in view.hosts.values() {
            if other.host != me.host
                && other.partition_count != 0
                && other.partition_count != me.partitions
            {
                return Err(refused(format!(
                    "host `{}` runs with {} partitions, this one with cluster.partitions = {}: every host of a cluster must say the same",
                    other.host, other.partition_count, me.partitions
                )));
            }
            if other.host != me.host && !me.durable.is_empty() && other.durable == me.durable {
                return Err(refused(format!(
                    "host `{}` reads through the durable consumer `{}` too: give each host its own source.durable",
                    other.host, me.durable
                )));
            }
        }
        // An entry of this name from another process: the last run, killed
        // before its entry expired, or another process running now, which
        // renews it every quarter of the lease time. Watched until it is
        // renewed (refused) or for a whole lease time (by then a dead run's
        // entry has expired, by the cluster's own rule).
        let Some(seen) = view
            .hosts
            .get(&me.host)
            .filter(|h| !h.run.is_empty() && h.run != me.run)
            .cloned()
        else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        while started.elapsed() < me.lease_ttl {
            tokio::time::sleep(me.lease_ttl / 8).await;
            let now = self.view().await?;
            match now.hosts.get(&me.host) {
                Some(again) if again.run == seen.run && again.at_ms > seen.at_ms => {
                    return Err(refused(format!(
                        "another process runs as host `{}` (it renews its entry): give each host its own cluster.host",
                        me.host
                    )));
                }
                Some(again) if again.run == seen.run => {}
                // Gone, or another run's: not the one watched.
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// The settings it was opened with.
    #[must_use]
    pub fn settings(&self) -> &ClusterSettings {
        &self.settings
    }

    /// The plugins' states.
    #[must_use]
    pub fn states(&self) -> &StateStore {
        &self.states
    }

    /// The plugins' code.
    #[must_use]
    pub fn code(&self) -> &CodeStore {
        &self.code
    }

    fn lease_subject(&self, partition: u32) -> String {
        format!("{}.lease.{partition}", self.prefix)
    }

    /// Publishes this host's entry (renewing its membership).
    ///
    /// # Errors
    /// When the server does not take it.
    pub async fn announce(&self, entry: &HostEntry) -> Result<(), NatsError> {
        let payload = serde_json::to_vec(entry).map_err(js_error)?;
        self.js
            .publish(
                format!("{}.host.{}", self.prefix, crate::token(&entry.host)),
                payload.into(),
            )
            .await
            .map_err(js_error)?
            .await
            .map_err(js_error)?;
        Ok(())
    }

    /// Removes this host's entry (a clean leave).
    ///
    /// # Errors
    /// When the server does not answer.
    pub async fn leave(&self) -> Result<(), NatsError> {
        self.stream
            .purge()
            .filter(format!(
                "{}.host.{}",
                self.prefix,
                crate::token(&self.settings.host)
            ))
            .await
            .map_err(js_error)?;
        Ok(())
    }

    /// Every live host and held lease.
    ///
    /// # Errors
    /// When the stream cannot be read.
    pub async fn view(&self) -> Result<ClusterView, NatsError> {
        let messages = read_last_per_subject(&self.stream, &format!("{}.>", self.prefix)).await?;
        let mut view = ClusterView::default();
        let host_prefix = format!("{}.host.", self.prefix);
        let lease_prefix = format!("{}.lease.", self.prefix);
        for m in messages {
            let subject = m.subject.as_str();
            let sequence = m.info().map(|i| i.stream_sequence).unwrap_or(0);
            let payload = &m.payload;
            if subject.starts_with(&host_prefix) {
                if let Ok(entry) = serde_json::from_slice::<HostEntry>(payload) {
                    view.hosts.insert(entry.host.clone(), entry);
                }
            } else if let Some(p) = subject.strip_prefix(&lease_prefix)
                && let Ok(partition) = p.parse::<u32>()
                && let Ok(lease) = serde_json::from_slice::<Lease>(payload)
            {
                view.leases.insert(partition, (lease, sequence));
            }
        }
        Ok(view)
    }

    /// Takes `partition`'s lease if nobody holds it: the sequence of the
    /// lease message, or `None` when another host has it.
    ///
    /// # Errors
    /// When the server does not answer.
    pub async fn acquire(&self, partition: u32, now_ms: i64) -> Result<Option<u64>, NatsError> {
        self.put_lease(partition, 0, now_ms).await
    }

    /// Renews a lease held since `since_ms` whose last message is `sequence`:
    /// the new sequence, or `None` when the lease was lost (it expired and
    /// another host took it).
    ///
    /// # Errors
    /// When the server does not answer.
    pub async fn renew(
        &self,
        partition: u32,
        sequence: u64,
        since_ms: i64,
    ) -> Result<Option<u64>, NatsError> {
        self.put_lease(partition, sequence, since_ms).await
    }

    async fn put_lease(
        &self,
        partition: u32,
        expected: u64,
        since_ms: i64,
    ) -> Result<Option<u64>, NatsError> {
        let lease = Lease {
            host: self.settings.host.clone(),
            since_ms,
        };
        let payload = serde_json::to_vec(&lease).map_err(js_error)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            "Nats-Expected-Last-Subject-Sequence",
            expected.to_string().as_str(),
        );
        let published = async {
            self.js
                .publish_with_headers(self.lease_subject(partition), headers, payload.into())
                .await?
                .await
        }
        .await;
        match published {
            Ok(ack) => Ok(Some(ack.sequence)),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Ok(None),
            Err(e) => Err(js_error(e)),
        }
    }

    /// Gives `partition` up (its instances stopped, their last states
    /// stored), so another host takes it without waiting for the lease to
    /// expire.
    ///
    /// # Errors
    /// When the server does not answer.
    pub async fn release(&self, partition: u32) -> Result<(), NatsError> {
        self.stream
            .purge()
            .filter(self.lease_subject(partition))
            .await
            .map_err(js_error)?;
        Ok(())
    }
}

/// The last message of each subject matching `filter`, read through a
/// short-lived consumer (a subject that expires meanwhile is left out).
pub(crate) async fn read_last_per_subject(
    stream: &stream::Stream,
    filter: &str,
) -> Result<Vec<jetstream::Message>, NatsError> {
    let mut out = Vec::new();
    each(stream, filter, DeliverPolicy::LastPerSubject, false, |m| {
        out.push(m);
    })
    .await?;
    Ok(out)
}

/// Hands `f` every message of `filter` from `policy` on, as the stream
/// holds them now (one pass; nothing is kept). With `whole`, a read that
/// ends before the count the consumer gave at its start is an error (a
/// caller deciding from the last message must not decide from a part).
pub(crate) async fn each(
    stream: &stream::Stream,
    filter: &str,
    policy: DeliverPolicy,
    whole: bool,
    mut f: impl FnMut(jetstream::Message),
) -> Result<(), NatsError> {
    let mut consumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: filter.to_owned(),
            deliver_policy: policy,
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(js_error)?;
    let info = consumer.info().await.map_err(js_error)?;
    let name = info.name.clone();
    let state = stream.get_info().await.map_err(js_error)?.state;
    let mut read = ReadProgress::new(info.num_pending, state.messages, state.last_sequence, whole);
    if read.implausible() {
        tracing::debug!(
            filter,
            pending = info.num_pending,
            held = state.messages,
            "an implausible pending count; reading up to the stream's last message"
        );
    }
    let mut result = Ok(());
    'pulls: while let Some(want) = read.next_pull() {
        let batch = consumer
            .batch()
            .max_messages(want)
            .expires(Duration::from_secs(2))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(b) => b,
            Err(e) => {
                result = Err(js_error(e));
                break;
            }
        };
        let before = read.seen();
        while let Some(m) = batch.next().await {
            match m {
                Ok(m) => {
                    if !read.take(m.info().map_or(0, |i| i.stream_sequence)) {
                        break;
                    }
                    f(m);
                }
                Err(e) => {
                    result = Err(js_error(e));
                    break 'pulls;
                }
            }
        }
        match read.pull_ended(before) {
            Ok(true) => {}
            Ok(false) => break,
            Err(Short { seen, total }) => {
                result = Err(NatsError::JetStream(format!(
                    "reading {filter}: {seen} of {total} messages came"
                )));
                break;
            }
        }
    }
    let _ = stream.delete_consumer(&name).await;
    result
}
