//! The notifier: a sink of the sink stage that tells humans.
//!
//! What becomes a notification: every plugin `alert` output, signals that
//! match an operator's rule, and the host's own alarms ([`Alarm`]: a
//! plugin quarantined or failed, a dead letter, a swap refused, a feed
//! down, a sink backlog, start and stop). Each is de-duplicated by key
//! within a window (repeats are counted and summed up in one message when
//! the window closes), recorded in a bounded history with its delivery
//! status per channel, and queued on every channel that wants it.
//!
//! Each channel has its own bounded priority queue (P0 first; a full queue
//! drops the least urgent and counts it), its own rate limit and its own
//! task: a channel that is down never slows another, nor the pipeline —
//! the sink only takes a lock on the notifier's state for a batch that
//! holds alerts or signals. Failed attempts are retried with exponential
//! backoff and jitter (honouring the service's `Retry-After`) until
//! `give_up_after`. Deliveries still owed are saved in the data directory
//! and sent after a restart; an output's identity (plugin, position, index)
//! keeps a restarted pipeline's repeated outputs from being notified twice.
//!
//! A dead man's switch ([`Notifier`] with `[notify.heartbeat]`) calls a URL
//! every few seconds, so an outside monitor notices when Prism is gone.

mod alarms;
mod channels;
mod core;
mod dispatch;
mod heartbeat;
mod limits;
mod notification;
mod outbox;
mod pending;
mod sink;
mod view;

pub use alarms::{
    FeedObservation, Observation, PluginObservation, RiskObservation, SinkObservation, Thresholds,
};
pub use notification::{Alarm, AlarmKind, Notification, priority_name};
pub use sink::NotifySink;
pub use view::{
    AlertQuery, ChannelMetrics, ChannelView, DeliveryStatus, DeliveryView, HeartbeatMetrics,
    RecordView,
};

use crate::core::{Lane, State};
use crate::limits::RateLimit;
use prism_config::{NotifyConfig, SignalRule};
use prism_model::wall_ms;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;

/// Why the notifier could not start, or a request to it failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A channel's endpoint or secret is unusable.
    #[error("notify.channels `{channel}`: {message}")]
    Channel { channel: String, message: String },
    /// The saved deliveries cannot be read.
    #[error("the notifier's saved deliveries: {0}")]
    Saved(String),
    /// A duration in `[notify]` does not parse (validation checks them
    /// first; this is for settings built in code).
    #[error("notify.{key}: {message}")]
    Setting { key: &'static str, message: String },
    /// No channel has this name.
    #[error("no channel is named `{0}`")]
    UnknownChannel(String),
}

/// Pacing of retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) retry_initial_ms: u64,
    pub(crate) retry_max_ms: u64,
    pub(crate) give_up_ms: i64,
}

/// What the tasks share.
pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) timing: Timing,
    pub(crate) templates: BTreeMap<String, String>,
    pub(crate) rules: Vec<SignalRule>,
    pub(crate) client: reqwest::Client,
    pub(crate) live: broadcast::Sender<RecordView>,
    pub(crate) stopping: AtomicBool,
    pub(crate) stop: tokio::sync::Notify,
    pub(crate) saved_at: Option<PathBuf>,
    /// One save at a time (the housekeeping task and `finish`).
    pub(crate) saving: Mutex<()>,
    /// The last save failed (said once until one succeeds).
    pub(crate) save_failing: AtomicBool,
    pub(crate) alarms: AtomicU64,
    pub(crate) heartbeat: Arc<HeartbeatMetrics>,
}

impl Inner {
    /// The state; a panic elsewhere while holding it does not stop the
    /// notifier (the state stays consistent between statements).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn announce(&self, views: impl IntoIterator<Item = RecordView>) {
        for v in views {
            let _ = self.live.send(v);
        }
    }
}

/// The running notifier. Cheap to clone; every clone is the same notifier.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

fn duration_ms(key: &'static str, text: &str) -> Result<u64, NotifyError> {
    prism_config::parse_duration(text)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .map_err(|e| NotifyError::Setting {
            key,
            message: e.to_string(),
        })
}

impl Notifier {
    /// Builds every channel (reading its secrets), restores the deliveries
    /// saved in `data_dir` (if given) and starts a task per channel on
    /// `runtime`, plus the heartbeat when configured.
    ///
    /// # Errors
    /// [`NotifyError`] naming the channel and field, or the saved file.
    pub fn start(
        config: &NotifyConfig,
        base_dir: &Path,
        data_dir: Option<&Path>,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Self, NotifyError> {
        let timing = Timing {
            retry_initial_ms: duration_ms("retry_initial", &config.retry_initial)?.max(1),
            retry_max_ms: duration_ms("retry_max", &config.retry_max)?.max(1),
            give_up_ms: i64::try_from(duration_ms("give_up_after", &config.give_up_after)?)
                .unwrap_or(i64::MAX),
        };
        let dedup_ms =
            i64::try_from(duration_ms("dedup_window", &config.dedup_window)?).unwrap_or(i64::MAX);
        let now = wall_ms();
        let mut lanes = Vec::with_capacity(config.channels.len());
        for c in &config.channels {
            let channel = channels::Channel::build(c, base_dir)?;
            lanes.push(Lane {
                rate: RateLimit::new(channel.rate_per_minute, now),
                channel,
                outbox: outbox::Outbox::new(config.queue),
                metrics: Arc::new(ChannelMetrics::default()),
                wake: Arc::new(tokio::sync::Notify::new()),
            });
        }
        let mut state = State::new(lanes, config.history, dedup_ms);
        let saved_at = data_dir.map(pending::path_in);
        if let Some(path) = &saved_at {
            let saved = pending::load(path).map_err(NotifyError::Saved)?;
            restore(&mut state, &saved);
        }
        // TLS for https endpoints uses ring, as the rest of the host.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            timing,
            templates: config.templates.clone(),
            rules: config.rules.clone(),
            client,
            live: broadcast::channel(1024).0,
            stopping: AtomicBool::new(false),
            stop: tokio::sync::Notify::new(),
            saved_at,
            saving: Mutex::new(()),
            save_failing: AtomicBool::new(false),
            alarms: AtomicU64::new(0),
            heartbeat: Arc::new(HeartbeatMetrics::default()),
        });
        let mut tasks = Vec::new();
        for l in 0..config.channels.len() {
            tasks.push(runtime.spawn(dispatch::run_lane(inner.clone(), l)));
        }
        tasks.push(runtime.spawn(dispatch::housekeeping(inner.clone())));
        if let Some(h) = &config.heartbeat {
            let url = channels::resolve_url(&h.url, base_dir).map_err(|message| {
                NotifyError::Channel {
                    channel: "heartbeat".into(),
                    message: format!("url: {message}"),
                }
            })?;
            let every = Duration::from_millis(duration_ms("heartbeat.every", &h.every)?.max(1));
            tasks.push(runtime.spawn(heartbeat::run(
                inner.clone(),
                url,
                every,
                h.method == "POST",
            )));
        }
        Ok(Self {
            inner,
            tasks: Arc::new(Mutex::new(tasks)),
            runtime: runtime.clone(),
        })
    }

    /// The sink that turns plugin alerts and matching signals into
    /// notifications (give it [`prism_sinks::Overflow::Wait`]: it never
    /// blocks for long, and no alert is lost).
    #[must_use]
    pub fn sink(&self) -> NotifySink {
        NotifySink::new(self.inner.clone())
    }

    /// Raises a host alarm.
    pub fn raise(&self, alarm: &Alarm) {
        let n = self.inner.alarms.fetch_add(1, Ordering::Relaxed);
        let notification = Notification::from_alarm(alarm, n, wall_ms());
        let (_, views) = self.inner.lock().submit(notification, false, None);
        self.inner.announce(views);
    }

    /// Watches the host (every `every`) and raises alarms for what changed:
    /// see [`Observation`].
    pub fn watch(
        &self,
        observe: Box<dyn FnMut() -> Observation + Send>,
        thresholds: alarms::Thresholds,
        every: Duration,
    ) {
        let task = self
            .runtime
            .spawn(alarms::watch(self.clone(), observe, thresholds, every));
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(task);
    }

    /// Notifications, newest first, filtered.
    #[must_use]
    pub fn list(&self, q: &AlertQuery) -> Vec<RecordView> {
        let state = self.inner.lock();
        state
            .history
            .iter()
            .rev()
            .filter(|r| q.before.is_none_or(|b| r.seq < b))
            .filter(|r| {
                let n = &r.notification;
                q.plugin
                    .as_ref()
                    .is_none_or(|p| n.plugin.as_ref() == Some(p))
                    && q.kind.as_ref().is_none_or(|k| &n.kind == k)
                    && q.min_priority.is_none_or(|p| n.priority <= p)
                    && (q.channel.is_none() && q.status.is_none()
                        || r.deliveries.iter().any(|d| {
                            q.channel.as_ref().is_none_or(|c| &d.channel == c)
                                && q.status.is_none_or(|s| d.status == s)
                        }))
            })
            .take(q.limit)
            .map(core::Record::view)
            .collect()
    }

    /// Every channel with its counters.
    #[must_use]
    pub fn channels(&self) -> Vec<ChannelView> {
        let state = self.inner.lock();
        state
            .lanes
            .iter()
            .map(|l| {
                let m = &l.metrics;
                let sent = m.sent.load(Ordering::Relaxed);
                ChannelView {
                    name: l.channel.name.clone(),
                    kind: l.channel.kind.as_str(),
                    min_priority: priority_name(l.channel.min_priority).to_owned(),
                    sent,
                    failed: m.failed.load(Ordering::Relaxed),
                    retried: m.retried.load(Ordering::Relaxed),
                    dropped: m.dropped.load(Ordering::Relaxed),
                    queued: l.outbox.len(),
                    latency_ms_mean: if sent == 0 {
                        0.0
                    } else {
                        m.latency_ms_sum.load(Ordering::Relaxed) as f64 / sent as f64
                    },
                    latency_ms_max: m.latency_ms_max.load(Ordering::Relaxed),
                    last_error: m.last_error(),
                }
            })
            .collect()
    }

    /// The dead man's switch's counters.
    #[must_use]
    pub fn heartbeat(&self) -> Arc<HeartbeatMetrics> {
        self.inner.heartbeat.clone()
    }

    /// Every change of a notification's status, as it happens.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<RecordView> {
        self.inner.live.subscribe()
    }

    /// Queues a test message on one channel, most urgent and never
    /// de-duplicated, and waits (up to the channel's timeout and a little)
    /// for its first attempt's outcome.
    ///
    /// # Errors
    /// [`NotifyError::UnknownChannel`].
    pub async fn test(
        &self,
        channel: &str,
        title: &str,
        body: &str,
    ) -> Result<RecordView, NotifyError> {
        let (lane, timeout) = {
            let state = self.inner.lock();
            let l = state
                .lanes
                .iter()
                .position(|l| l.channel.name == channel)
                .ok_or_else(|| NotifyError::UnknownChannel(channel.to_owned()))?;
            (l, state.lanes[l].channel.timeout)
        };
        let n = self.inner.alarms.fetch_add(1, Ordering::Relaxed);
        let mut notification = Notification::from_alarm(
            &Alarm {
                kind: AlarmKind::Test,
                subject: channel.to_owned(),
                plugin: None,
                title: title.to_owned(),
                body: body.to_owned(),
            },
            n,
            wall_ms(),
        );
        notification.priority = prism_model::Priority::P0;
        let mut updates = self.subscribe();
        let (seq, views) = self.inner.lock().submit(notification, true, Some(lane));
        self.inner.announce(views);
        let wait = async {
            loop {
                match updates.recv().await {
                    Ok(v) if v.seq == seq && v.deliveries.iter().any(|d| d.attempts > 0) => {
                        return Some(v);
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        };
        let outcome = tokio::time::timeout(timeout + Duration::from_secs(2), wait)
            .await
            .ok()
            .flatten();
        Ok(outcome.unwrap_or_else(|| {
            self.inner
                .lock()
                .record_of(seq)
                .map(core::Record::view)
                .expect("the test message was just recorded")
        }))
    }

    /// Stops: gives the channels up to `grace` to send what is queued, then
    /// saves what is still owed.
    pub fn finish(&self, grace: Duration) {
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline && !self.inner.lock().owed.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.stop.notify_waiters();
        let tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for t in tasks {
            t.abort();
        }
        dispatch::save_now(&self.inner);
    }
}

/// Puts the saved deliveries back in the outboxes, and the watermarks back.
fn restore(state: &mut State, saved: &pending::Saved) {
    for (plugin, id) in saved.watermarks() {
        state.watermarks.insert(plugin.to_owned(), id);
    }
    for s in &saved.pending {
        let lanes: Vec<(usize, u32)> = s
            .channels
            .iter()
            .filter_map(|(name, attempts)| {
                let l = state.lanes.iter().position(|l| &l.channel.name == name);
                if l.is_none() {
                    tracing::warn!(
                        channel = %name,
                        id = %s.notification.id,
                        "a saved delivery names a channel no longer configured; dropped"
                    );
                }
                Some((l?, *attempts))
            })
            .collect();
        if lanes.is_empty() {
            continue;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        let indices: Vec<usize> = lanes.iter().map(|(l, _)| *l).collect();
        let attempts = lanes.iter().map(|(_, a)| *a).max().unwrap_or(0);
        // With its original raise time: `give_up_after` counts from it.
        state.record(
            seq,
            s.notification.clone(),
            s.raised_at_ms,
            None,
            &indices,
            attempts,
        );
    }
}
