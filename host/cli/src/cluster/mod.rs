//! `[cluster]`: this host's share of the work, kept in step with the others.
//!
//! Every partition is leased to one host at a time (rendezvous hashing over
//! the live hosts picks which, so each host computes the same answer and a
//! host joining or leaving moves only its share). For each partition it
//! holds, a host runs one instance of every partitioned plugin (plus the
//! unpartitioned plugins whose partition it is), each resumed from the
//! state the cluster keeps for it, behind a fence at what its outputs
//! reached in the output stream, and the source reads the stream again
//! from where that state stands. A partition another host should have is
//! handed over cleanly: its instances stop, their last states are stored
//! once the output stream has everything before them, then the lease is
//! given up.

use prism_config::{Config, PluginConfig};
use prism_control::{Origin, SavedState, Supervisor, plugin_settings};
use prism_model::partition::{partition_of, stable_hash};
use prism_model::{PartitionKey, PartitionSlice, PluginId, wall_ms};
use prism_nats::cluster::{
    Cluster, ClusterSettings, ClusterView, HostEntry, StateWriter, delivered_since,
};
use prism_nats::{Handovers, Nats, NatsError, Rewind, first_sequence};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

mod code;

/// How long a host handing a partition over waits for its instances' last
/// states before giving the lease up anyway (the next owner then resumes
/// from an older state, behind the same fence).
const HANDOVER_WAIT: Duration = Duration::from_secs(30);

/// What `GET /api/v1/cluster` shows, refreshed every round.
pub(crate) type Status = Arc<RwLock<prism_api::ClusterStatus>>;

/// The settings of `[cluster]`, validated at load.
pub(crate) fn settings(config: &Config) -> anyhow::Result<Option<ClusterSettings>> {
    let c = &config.cluster;
    let Some(name) = &c.name else {
        return Ok(None);
    };
    Ok(Some(ClusterSettings {
        name: name.clone(),
        host: c.host_name(),
        partitions: c.partitions,
        lease_ttl: prism_config::parse_duration(&c.lease_ttl)
            .map_err(|e| anyhow::anyhow!("cluster.lease_ttl: {e}"))?,
        advertise: c
            .advertise
            .clone()
            .unwrap_or_else(|| config.api.listen.clone()),
        durable: match &config.source {
            prism_config::SourceConfig::Nats(s) => s.durable.clone(),
            _ => String::new(),
        },
        run: format!("{}-{}", std::process::id(), wall_ms()),
    }))
}

/// A configured plugin, as the cluster runs it.
struct Member {
    id: PluginId,
    path: PathBuf,
    entry: PluginConfig,
    /// The code it runs in the cluster, its SHA-256, and since when (unix
    /// ms): the cluster's, else this host's file.
    code: Arc<[u8]>,
    sha256: String,
    since_ms: i64,
    /// Rounds in a row the store's head named other code, older than this.
    behind_rounds: u32,
}

/// A held lease, renewed by its own task (never behind a slow round).
struct LeaseState {
    /// The lease's last message, and since when it is held.
    sequence: u64,
    since_ms: i64,
    renewed: Instant,
    /// Found taken by another host, or not renewed in time.
    lost: bool,
}

type Leases = Arc<std::sync::Mutex<BTreeMap<u32, LeaseState>>>;

fn leases(l: &Leases) -> std::sync::MutexGuard<'_, BTreeMap<u32, LeaseState>> {
    l.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Renews this host's entry and every held lease each quarter of the
/// lease time. A lease found
/// taken (it expired) or not renewed in two thirds of its time is marked
/// lost; the rounds stop its instances.
async fn renew_leases(
    cluster: Arc<Cluster>,
    held: Leases,
    entry: Arc<std::sync::Mutex<HostEntry>>,
    stop: Arc<AtomicBool>,
) {
    let ttl = cluster.settings().lease_ttl;
    while !stop.load(Ordering::Relaxed) {
        // This host's entry too: a host busy starting partitions is still
        // alive to the others.
        let mut announced = entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        announced.at_ms = wall_ms();
        if let Err(e) = cluster.announce(&announced).await {
            tracing::warn!("cannot renew this host's entry: {e}");
        }
        let due: Vec<(u32, u64, i64)> = leases(&held)
            .iter()
            .filter(|(_, l)| !l.lost)
            .map(|(p, l)| (*p, l.sequence, l.since_ms))
            .collect();
        for (partition, sequence, since_ms) in due {
            let mut renewed = cluster.renew(partition, sequence, since_ms).await;
            if matches!(renewed, Ok(None)) {
                // Expired before this renewal (a stall longer than the lease
                // time): when nobody took it meanwhile, it is this host's
                // again and nothing ran twice.
                renewed = cluster.acquire(partition, since_ms).await;
                if matches!(renewed, Ok(Some(_))) {
                    tracing::warn!(
                        partition,
                        "the lease expired before it was renewed; nobody took it, so it is held again"
                    );
                }
            }
            let mut all = leases(&held);
            let Some(lease) = all.get_mut(&partition).filter(|l| l.sequence == sequence) else {
                continue;
            };
            match renewed {
                Ok(Some(next)) => {
                    lease.sequence = next;
                    lease.renewed = Instant::now();
                }
                Ok(None) => lease.lost = true,
                Err(e) if lease.renewed.elapsed() > ttl * 2 / 3 => {
                    tracing::warn!(partition, "cannot renew the lease ({e}); giving it up");
                    lease.lost = true;
                }
                Err(e) => tracing::warn!(partition, "cannot renew the lease ({e}); trying again"),
            }
        }
        tokio::time::sleep(ttl / 4).await;
    }
}

/// A partition whose lease was lost, its instances still ending.
struct Draining {
    since: Instant,
    instances: Vec<String>,
}

/// One held partition.
struct Held {
    since_ms: i64,
    instances: Vec<String>,
    /// Handing over since then (instances stopped, waiting for their last
    /// states).
    releasing: Option<Instant>,
}

/// Everything the rounds need.
pub(crate) struct Parts {
    pub(crate) config: Config,
    pub(crate) nats: Arc<Nats>,
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) supervisor: Arc<Supervisor>,
    pub(crate) rewind: Rewind,
    pub(crate) handovers: Handovers,
    pub(crate) writer: StateWriter,
    pub(crate) consumed: Arc<dyn Fn() -> u64 + Send + Sync>,
}

/// The running share-keeper.
pub(crate) struct ClusterHost {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Manager>>,
    pub(crate) status: Status,
}

impl ClusterHost {
    /// Starts the rounds on a thread of their own (plugins are compiled and
    /// started there, never on the async reactor).
    pub(crate) fn start(parts: Parts, handle: tokio::runtime::Handle) -> anyhow::Result<Self> {
        let status: Status = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let members = parts
            .config
            .plugins
            .iter()
            .map(|p| {
                let path = parts.config.resolve(&p.path);
                let code: Arc<[u8]> = std::fs::read(&path)
                    .map_err(|e| anyhow::anyhow!("plugin `{}` ({}): {e}", p.id, path.display()))?
                    .into();
                Ok(Member {
                    id: p.id.clone(),
                    path,
                    entry: p.clone(),
                    sha256: prism_runtime::content_digest(&code),
                    code,
                    since_ms: 0,
                    behind_rounds: 0,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let leases = Leases::default();
        let entry = Arc::new(std::sync::Mutex::new(HostEntry {
            host: parts.cluster.settings().host.clone(),
            api: parts.cluster.settings().advertise.clone(),
            joined_ms: wall_ms(),
            at_ms: wall_ms(),
            partitions: Vec::new(),
            instances: 0,
            consumed: 0,
            partition_count: parts.cluster.settings().partitions,
            durable: parts.cluster.settings().durable.clone(),
            run: parts.cluster.settings().run.clone(),
        }));
        // Renewing outlives the rounds: a stopping host holds its leases
        // until its last outputs and states are out (`Manager::leave`).
        let renewing = Arc::new(AtomicBool::new(false));
        let renewer = handle.spawn(renew_leases(
            parts.cluster.clone(),
            leases.clone(),
            entry.clone(),
            renewing.clone(),
        ));
        let manager = Manager {
            members,
            held: BTreeMap::new(),
            draining: BTreeMap::new(),
            leases,
            entry,
            renewing,
            renewer: Some(renewer),
            rounds: 0,
            parts,
            handle: handle.clone(),
            status: status.clone(),
            takeovers: 0,
            handed_over: 0,
            tracked: HashMap::new(),
            last_error: None,
            calls: NatsCalls {
                handle: handle.clone(),
                stop: stop.clone(),
            },
        };
        let thread = std::thread::Builder::new()
            .name("cluster".into())
            .spawn(move || manager.run())?;
        Ok(Self {
            stop,
            thread: Some(thread),
            status,
        })
    }

    /// Stops the rounds (the leases stay held until [`Manager::leave`]).
    pub(crate) fn stop(mut self) -> Option<Manager> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok())
    }
}

/// The rounds' state.
pub(crate) struct Manager {
    members: Vec<Member>,
    held: BTreeMap<u32, Held>,
    /// Lost partitions whose instances may still publish: not taken again
    /// here before they end (their last checkpoint reached the output
    /// stream's publisher, after their last outputs).
    draining: BTreeMap<u32, Draining>,
    leases: Leases,
    /// This host's entry, as the renewing task announces it.
    entry: Arc<std::sync::Mutex<HostEntry>>,
    /// Set to stop the renewing task.
    renewing: Arc<AtomicBool>,
    renewer: Option<tokio::task::JoinHandle<()>>,
    rounds: u64,
    parts: Parts,
    handle: tokio::runtime::Handle,
    status: Status,
    takeovers: u64,
    handed_over: u64,
    last_error: Option<String>,
    /// How the rounds call NATS.
    calls: NatsCalls,
    /// By held instance: the version these rounds last placed on it and
    /// the replacement it last refused (see `code.rs`).
    tracked: HashMap<String, code::Tracked>,
}

impl Manager {
    fn settings(&self) -> &ClusterSettings {
        self.parts.cluster.settings()
    }

    fn run(mut self) -> Self {
        let stop = self.calls.stop.clone();
        let every = self.settings().lease_ttl / 4;
        tracing::info!(
            cluster = %self.settings().name,
            host = %self.settings().host,
            partitions = self.settings().partitions,
            "joining the cluster"
        );
        if let Err(e) = self.adopt_cluster_code() {
            tracing::warn!("the cluster's plugin code: {e}");
            self.last_error = Some(e);
        }
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            if let Err(e) = self.round() {
                tracing::warn!("cluster round: {e}");
                self.last_error = Some(e);
            }
            while started.elapsed() < every && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self
    }

    /// One round: renew, announce, look, hand over, take.
    fn round(&mut self) -> Result<(), String> {
        self.rounds += 1;
        self.renew();
        self.sync_code()?;
        self.update_entry();
        let cluster = &self.parts.cluster;
        let view = self
            .calls
            .round("reading the cluster", cluster.view())
            .map_err(|e| e.to_string())?;
        self.publish_status(&view);
        // The first round only announces: hosts started together see each
        // other before any takes a share.
        if self.rounds == 1 {
            return Ok(());
        }
        let wanted = self.wanted(&view);
        self.hand_over(&wanted);
        self.take(&wanted, &view);
        self.publish_status(&view);
        Ok(())
    }

    /// What this host announces: its partitions and instances now.
    fn update_entry(&self) {
        let mut entry = self
            .entry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entry.partitions = self.held.keys().copied().collect();
        entry.instances = self.held.values().map(|h| h.instances.len()).sum();
        entry.consumed = (self.parts.consumed)();
    }

    /// Stops the partitions whose lease was lost.
    fn renew(&mut self) {
        let lost: Vec<u32> = {
            let mut all = leases(&self.leases);
            let lost = all
                .iter()
                .filter(|(_, l)| l.lost)
                .map(|(p, _)| *p)
                .collect();
            all.retain(|_, l| !l.lost);
            lost
        };
        for partition in lost {
            if let Some(held) = self.held.remove(&partition) {
                tracing::warn!(
                    partition,
                    "partition lost to another host; its instances stop"
                );
                for instance in &held.instances {
                    self.parts.writer.forbid(instance);
                    let _ = self.parts.supervisor.remove(instance);
                }
                self.draining.insert(
                    partition,
                    Draining {
                        since: Instant::now(),
                        instances: held.instances,
                    },
                );
            }
        }
        let writer = &self.parts.writer;
        self.draining.retain(|_, d| {
            d.since.elapsed() < HANDOVER_WAIT && !d.instances.iter().all(|i| writer.ended(i))
        });
    }

    /// The partitions this host should hold: those whose highest-scoring
    /// live host it is.
    fn wanted(&self, view: &ClusterView) -> BTreeSet<u32> {
        let me = &self.settings().host;
        let mut hosts: Vec<&String> = view.hosts.keys().collect();
        if !hosts.contains(&me) {
            hosts.push(me);
        }
        let name = &self.settings().name;
        (0..self.settings().partitions)
            .filter(|p| {
                hosts
                    .iter()
                    .max_by_key(|h| (stable_hash(format!("{name}/{p}/{h}").as_bytes()), **h))
                    .is_some_and(|h| *h == me)
            })
            .collect()
    }

    /// Hands over the partitions another live host should hold. A hand-over
    /// begun goes to its end even if the partition is wanted here again (its
    /// instances are stopped): it is taken again afterwards, from its state.
    fn hand_over(&mut self, wanted: &BTreeSet<u32>) {
        let mut done = Vec::new();
        for (partition, held) in &mut self.held {
            if wanted.contains(partition) && held.releasing.is_none() {
                continue;
            }
            match held.releasing {
                None => {
                    tracing::info!(partition, "handing the partition over");
                    held.releasing = Some(Instant::now());
                    for instance in &held.instances {
                        let _ = self.parts.supervisor.remove(instance);
                    }
                }
                Some(at) => {
                    let stored = held
                        .instances
                        .iter()
                        .all(|i| self.parts.writer.last_stored(i));
                    if stored || at.elapsed() > HANDOVER_WAIT {
                        if !stored {
                            tracing::warn!(
                                partition,
                                "the last states were not stored in time; the next host resumes from older ones"
                            );
                        }
                        done.push(*partition);
                    }
                }
            }
        }
        for partition in done {
            leases(&self.leases).remove(&partition);
            if let Some(held) = self.held.remove(&partition) {
                for instance in &held.instances {
                    self.parts.writer.forbid(instance);
                }
                match self
                    .calls
                    .round("giving a lease up", self.parts.cluster.release(partition))
                {
                    Ok(()) => self.handed_over += 1,
                    Err(e) => tracing::warn!(partition, "giving the lease up: {e}; it expires"),
                }
            }
        }
    }

    /// Takes the wanted partitions nobody holds.
    fn take(&mut self, wanted: &BTreeSet<u32>, view: &ClusterView) {
        for partition in wanted {
            if self.held.contains_key(partition)
                || view.leases.contains_key(partition)
                || self.draining.contains_key(partition)
            {
                continue;
            }
            let now = wall_ms();
            let acquired = self.calls.round(
                "taking a lease",
                self.parts.cluster.acquire(*partition, now),
            );
            let sequence = match acquired {
                Ok(Some(s)) => s,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(partition, "taking the lease: {e}");
                    continue;
                }
            };
            // Renewed from now on, while its instances start.
            leases(&self.leases).insert(
                *partition,
                LeaseState {
                    sequence,
                    since_ms: now,
                    renewed: Instant::now(),
                    lost: false,
                },
            );
            let mut held = Held {
                since_ms: now,
                instances: Vec::new(),
                releasing: None,
            };
            match self.start_partition(*partition, &mut held) {
                Ok(()) => {
                    self.takeovers += 1;
                    tracing::info!(
                        partition,
                        instances = held.instances.len(),
                        "partition taken"
                    );
                    self.held.insert(*partition, held);
                }
                Err(e) => {
                    tracing::error!(partition, "cannot start the partition: {e}; giving it up");
                    self.last_error = Some(format!("partition {partition}: {e}"));
                    for instance in &held.instances {
                        self.parts.writer.forbid(instance);
                        let _ = self.parts.supervisor.remove(instance);
                    }
                    leases(&self.leases).remove(partition);
                    let _ = self
                        .calls
                        .round("giving a lease up", self.parts.cluster.release(*partition));
                }
            }
        }
    }

    /// Starts every instance of `partition`, each from its stored state,
    /// and asks the source to read the stream again from the earliest.
    fn start_partition(&mut self, partition: u32, held: &mut Held) -> Result<(), String> {
        let count = self.settings().partitions;
        let mut earliest: Option<u64> = None;
        for member in &self.members {
            let (instance, slice) = match member.entry.partition {
                PartitionKey::Whole => {
                    if partition_of(member.id.as_str(), count) != partition {
                        continue;
                    }
                    (member.id.clone(), None)
                }
                key => (
                    PluginId::instance(&member.id, partition),
                    Some(PartitionSlice {
                        key,
                        count,
                        index: partition,
                    }),
                ),
            };
            let name = instance.as_str().to_owned();
            let stored = self
                .calls
                .round("reading a state", self.parts.cluster.states().get(&name))
                .map_err(|e| e.to_string())?;
            // How far its outputs got: from where its state says they lie.
            let delivered = match slice {
                Some(_) => self.calls.round(
                    "reading the outputs delivered",
                    delivered_since(
                        &self.parts.nats,
                        member.id.as_str(),
                        partition,
                        stored.as_ref().map_or(1, |s| s.output_from),
                    ),
                ),
                None => self.calls.round(
                    "reading the outputs delivered",
                    self.parts.nats.delivered_until(&name),
                ),
            }
            .map_err(|e| e.to_string())?;
            crate::bus::fence(
                &self.parts.supervisor,
                Some(&self.parts.handovers),
                &name,
                delivered,
            );
            let mut settings = plugin_settings(&self.parts.config, &member.entry);
            settings.partition = slice;
            self.parts.writer.allow(&name);
            held.instances.push(name.clone());
            let origin = Origin::File {
                path: member.path.clone(),
                from_config: false,
            };
            let wasm = member.code.clone();
            let position = stored.as_ref().and_then(|s| s.position);
            let view = match stored {
                Some(s) => {
                    let saved = SavedState {
                        position: s.position,
                        state: s.state,
                        instruments: s.instruments.into_iter().map(Arc::new).collect(),
                        account: s.account,
                    };
                    self.parts
                        .supervisor
                        .add_restored(&instance, &wasm, settings, origin, &saved)
                }
                None => self
                    .parts
                    .supervisor
                    .add_bytes(&instance, &wasm, settings, origin),
            }
            .map_err(|e| format!("`{name}`: {e}"))?;
            self.tracked
                .entry(name.clone())
                .or_default()
                .placed(&view.sha256);
            tracing::info!(instance = %view.id, position = ?position, delivered = ?delivered.map(|d| d.position), "instance started");
            let from = position.map_or(1, first_sequence);
            earliest = Some(earliest.map_or(from, |e: u64| e.min(from)));
        }
        if let Some(from) = earliest {
            self.parts.rewind.request(from);
        }
        Ok(())
    }

    fn publish_status(&self, view: &ClusterView) {
        let s = self.settings();
        let status = prism_api::ClusterStatus {
            name: s.name.clone(),
            host: s.host.clone(),
            partitions: s.partitions,
            lease_ttl_ms: u64::try_from(s.lease_ttl.as_millis()).unwrap_or(u64::MAX),
            hosts: view
                .hosts
                .values()
                .map(|h| prism_api::ClusterHostStatus {
                    host: h.host.clone(),
                    api: h.api.clone(),
                    joined_ms: h.joined_ms,
                    seen_ms: h.at_ms,
                    partitions: h.partitions.clone(),
                    instances: h.instances,
                    consumed: h.consumed,
                })
                .collect(),
            owners: view
                .leases
                .iter()
                .map(|(p, (lease, _))| prism_api::PartitionOwner {
                    partition: *p,
                    host: lease.host.clone(),
                    since_ms: lease.since_ms,
                })
                .collect(),
            mine: self
                .held
                .iter()
                .map(|(p, h)| prism_api::HeldPartition {
                    partition: *p,
                    state: if h.releasing.is_some() {
                        "handing_over".into()
                    } else {
                        "running".into()
                    },
                    since_ms: h.since_ms,
                    instances: h.instances.clone(),
                })
                .collect(),
            taken: self.takeovers,
            handed_over: self.handed_over,
            last_error: self
                .last_error
                .clone()
                .or_else(|| self.parts.writer.last_error()),
        };
        *self
            .status
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
    }

    /// After the pipeline has finished (every instance's last state handed
    /// to the writer): waits for the states to be stored, then gives every
    /// lease up and leaves, so the others take over at once.
    pub(crate) fn leave(mut self) {
        let stored = self
            .parts
            .writer
            .flush(Instant::now() + Duration::from_secs(10));
        self.renewing.store(true, Ordering::Relaxed);
        // Its last announcement done before the entry is removed.
        if let Some(renewer) = self.renewer.take() {
            let ttl = self.settings().lease_ttl;
            let _ = self
                .handle
                .block_on(async move { tokio::time::timeout(ttl, renewer).await });
        }
        if !stored {
            tracing::warn!("the last states were not all stored; the leases are left to expire");
            return;
        }
        // Past a lease time the leases have expired anyway: leaving waits
        // no longer than that for a server that does not answer.
        let until = tokio::time::Instant::now() + self.settings().lease_ttl;
        for partition in self.held.keys() {
            if let Err(e) = self.calls.leaving(
                "giving a lease up",
                self.parts.cluster.release(*partition),
                until,
            ) {
                tracing::warn!(partition, "giving the lease up: {e}");
            }
        }
        let _ = self
            .calls
            .leaving("leaving", self.parts.cluster.leave(), until);
        tracing::info!(partitions = self.held.len(), "left the cluster");
    }
}

/// How the cluster's thread calls NATS: every call ends, so a server that
/// stops answering fails a round instead of holding the thread (and,
/// through it, the host's shutdown).
struct NatsCalls {
    handle: tokio::runtime::Handle,
    /// Set when the host stops.
    stop: Arc<AtomicBool>,
}

impl NatsCalls {
    /// A call of a round: to its answer, [`CALL_DEADLINE`], or the host's
    /// stop, whichever comes first.
    fn round<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, NatsError>>,
    ) -> Result<T, NatsError> {
        self.handle.block_on(async {
            tokio::select! {
                answer = answered(what, call, tokio::time::Instant::now() + CALL_DEADLINE) => answer,
                () = stopped(&self.stop) => Err(NatsError::JetStream(format!(
                    "{what}: the host is stopping"
                ))),
            }
        })
    }

    /// A call of leaving the cluster (the host is stopping): to its answer
    /// or `until`.
    fn leaving<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, NatsError>>,
        until: tokio::time::Instant,
    ) -> Result<T, NatsError> {
        self.handle.block_on(answered(what, call, until))
    }
}

/// Longest one NATS call of the cluster's may take.
const CALL_DEADLINE: Duration = Duration::from_secs(30);

/// `call`'s answer, or an error naming `what` once `until` has passed.
async fn answered<T>(
    what: &str,
    call: impl Future<Output = Result<T, NatsError>>,
    until: tokio::time::Instant,
) -> Result<T, NatsError> {
    tokio::time::timeout_at(until, call)
        .await
        .unwrap_or_else(|_| Err(NatsError::JetStream(format!("{what}: no answer in time"))))
}

/// Ends once `stop` is set.
async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
