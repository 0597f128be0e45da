//! The notifier's one state: the history of notifications with their
//! delivery status per channel, each channel's outbox, de-duplication, and
//! how far each plugin's outputs were taken. Only the notifier's own
//! threads and tasks (the sink thread, the channel tasks, the API's reads)
//! touch it; the pipeline never waits on it.

use crate::channels::Channel;
use crate::limits::{Dedup, RateLimit, Seen, Summary};
use crate::notification::Notification;
use crate::outbox::{Outbox, Waiting};
use crate::view::{ChannelMetrics, DeliveryStatus, DeliveryView, RecordView};
use prism_model::{OutputId, wall_ms};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Keys de-duplicated at once at most.
const MAX_DEDUP_KEYS: usize = 10_000;

/// One notification in the history.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) seq: u64,
    pub(crate) notification: Arc<Notification>,
    pub(crate) raised_at_ms: i64,
    /// The first of its key, when this one was a repeat held back.
    pub(crate) repeat_of: Option<u64>,
    /// Per channel that wanted it.
    pub(crate) deliveries: Vec<DeliveryView>,
}

impl Record {
    pub(crate) fn view(&self) -> RecordView {
        RecordView {
            seq: self.seq,
            notification: (*self.notification).clone(),
            raised_at_ms: self.raised_at_ms,
            repeat_of: self.repeat_of,
            deliveries: self.deliveries.clone(),
        }
    }
}

/// Per channel: its outbox, its pace, its counters.
pub(crate) struct Lane {
    pub(crate) channel: Channel,
    pub(crate) outbox: Outbox,
    pub(crate) rate: RateLimit,
    pub(crate) metrics: Arc<ChannelMetrics>,
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

/// A notification still owed to some channel: kept apart from the
/// history, which may forget it first.
pub(crate) struct Owed {
    pub(crate) notification: Arc<Notification>,
    pub(crate) raised_at_ms: i64,
    /// Channels (lane indices) it is still owed to.
    pub(crate) lanes: Vec<usize>,
}

pub(crate) struct State {
    pub(crate) next_seq: u64,
    pub(crate) history: VecDeque<Record>,
    pub(crate) history_cap: usize,
    pub(crate) lanes: Vec<Lane>,
    pub(crate) owed: HashMap<u64, Owed>,
    pub(crate) dedup: Dedup,
    /// Per plugin, the last output taken: a replayed output at or before
    /// it was taken already (before a restart, or before a recovery).
    pub(crate) watermarks: HashMap<String, OutputId>,
    /// Something to save changed.
    pub(crate) dirty: bool,
}

/// What a change means for the outside: records to announce.
pub(crate) type Announce = Vec<RecordView>;

impl State {
    pub(crate) fn new(lanes: Vec<Lane>, history_cap: usize, dedup_window_ms: i64) -> Self {
        Self {
            next_seq: 1,
            history: VecDeque::new(),
            history_cap: history_cap.max(1),
            lanes,
            owed: HashMap::new(),
            dedup: Dedup::new(dedup_window_ms, MAX_DEDUP_KEYS),
            watermarks: HashMap::new(),
            dirty: false,
        }
    }

    /// Whether a plugin output with this identity was taken already.
    pub(crate) fn taken(&self, plugin: &str, id: OutputId) -> bool {
        self.watermarks.get(plugin).is_some_and(|w| id <= *w)
    }

    /// Notes that a plugin's outputs up to `id` were taken.
    pub(crate) fn take_up_to(&mut self, plugin: &str, id: OutputId) {
        let w = self.watermarks.entry(plugin.to_owned()).or_default();
        if id > *w {
            *w = id;
            self.dirty = true;
        }
    }

    /// Adds a notification: de-duplicated, recorded, and queued for every
    /// channel that wants it. `bypass_dedup` for a test message.
    pub(crate) fn submit(
        &mut self,
        n: Notification,
        bypass_dedup: bool,
        only_lane: Option<usize>,
    ) -> (u64, Announce) {
        let now = wall_ms();
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut announce = Vec::new();
        let (seen, closed) = if bypass_dedup {
            (Seen::First, Vec::new())
        } else {
            self.dedup.see(&n.key, seq, now)
        };
        let repeat_of = match seen {
            Seen::First => None,
            Seen::Repeat(first) => Some(first),
        };
        let lanes: Vec<usize> = match (seen, only_lane) {
            (Seen::Repeat(_), _) => Vec::new(),
            (Seen::First, Some(l)) => vec![l],
            (Seen::First, None) => (0..self.lanes.len())
                .filter(|&i| self.lanes[i].channel.wants(&n))
                .collect(),
        };
        let record = self.record(seq, n, now, repeat_of, &lanes, 0);
        announce.push(record);
        for s in closed {
            announce.extend(self.summarize(&s));
        }
        (seq, announce)
    }

    /// Records `n` and queues it on `lanes` (with `attempts` made before).
    pub(crate) fn record(
        &mut self,
        seq: u64,
        n: Notification,
        raised_at_ms: i64,
        repeat_of: Option<u64>,
        lanes: &[usize],
        attempts: u32,
    ) -> RecordView {
        let n = Arc::new(n);
        let mut deliveries = Vec::with_capacity(lanes.len());
        let mut owed = Vec::with_capacity(lanes.len());
        for &l in lanes {
            let waiting = Waiting {
                seq,
                priority: n.priority,
                attempts,
                not_before_ms: 0,
            };
            let status = if self.enqueue(l, waiting) {
                owed.push(l);
                DeliveryStatus::Pending
            } else {
                DeliveryStatus::Dropped
            };
            let lane = &self.lanes[l];
            deliveries.push(DeliveryView {
                channel: lane.channel.name.clone(),
                status,
                attempts,
                last_error: None,
                delivered_at_ms: None,
            });
            lane.wake.notify_one();
        }
        if !owed.is_empty() {
            self.owed.insert(
                seq,
                Owed {
                    notification: n.clone(),
                    raised_at_ms,
                    lanes: owed,
                },
            );
            self.dirty = true;
        }
        let record = Record {
            seq,
            notification: n,
            raised_at_ms,
            repeat_of,
            deliveries,
        };
        let view = record.view();
        self.history.push_back(record);
        while self.history.len() > self.history_cap {
            self.history.pop_front();
        }
        view
    }

    /// Queues `w` on `lane`; false when the full queue dropped it. A
    /// waiting one it pushed out is settled as dropped; either drop is
    /// counted.
    pub(crate) fn enqueue(&mut self, lane: usize, w: Waiting) -> bool {
        let seq = w.seq;
        let Some(dropped) = self.lanes[lane].outbox.push(w) else {
            return true;
        };
        self.lanes[lane].metrics.count_dropped();
        if dropped.seq == seq {
            return false;
        }
        self.settle(lane, dropped.seq, DeliveryStatus::Dropped, None);
        true
    }

    /// A window that closed with repeats: one message saying how many.
    pub(crate) fn summarize(&mut self, s: &Summary) -> Announce {
        let Some(first) = self.record_of(s.first_seq).map(|r| r.notification.clone()) else {
            return Vec::new();
        };
        let mut n = (*first).clone();
        n.id = format!("{}:repeats", n.id);
        n.title = format!(
            "{} (repeated {} more time{} in {})",
            n.title,
            s.repeats,
            if s.repeats == 1 { "" } else { "s" },
            human_ms(s.window_ms)
        );
        let seq = self.next_seq;
        self.next_seq += 1;
        let lanes: Vec<usize> = (0..self.lanes.len())
            .filter(|&i| self.lanes[i].channel.wants(&n))
            .collect();
        vec![self.record(seq, n, wall_ms(), None, &lanes, 0)]
    }

    pub(crate) fn record_of(&self, seq: u64) -> Option<&Record> {
        let first = self.history.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.history.get(i).filter(|r| r.seq == seq)
    }

    fn record_mut(&mut self, seq: u64) -> Option<&mut Record> {
        let first = self.history.front()?.seq;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.history.get_mut(i).filter(|r| r.seq == seq)
    }

    /// Ends (or updates) the delivery of `seq` on `lane`; returns the
    /// record's view when it changed.
    pub(crate) fn settle(
        &mut self,
        lane: usize,
        seq: u64,
        status: DeliveryStatus,
        error: Option<String>,
    ) -> Option<RecordView> {
        let finished = status != DeliveryStatus::Pending;
        if finished && let Some(o) = self.owed.get_mut(&seq) {
            o.lanes.retain(|&l| l != lane);
            if o.lanes.is_empty() {
                self.owed.remove(&seq);
            }
            self.dirty = true;
        }
        let name = self.lanes[lane].channel.name.clone();
        let record = self.record_mut(seq)?;
        let d = record.deliveries.iter_mut().find(|d| d.channel == name)?;
        d.status = status;
        d.attempts += u32::from(status != DeliveryStatus::Dropped);
        if let Some(e) = error {
            d.last_error = Some(e);
        }
        if status == DeliveryStatus::Sent {
            d.delivered_at_ms = Some(wall_ms());
        }
        Some(record.view())
    }
}

/// `90s`, `5m`, `2h` for a summary's text.
fn human_ms(ms: i64) -> String {
    let s = ms / 1000;
    if s % 3600 == 0 && s >= 3600 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 && s >= 60 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
