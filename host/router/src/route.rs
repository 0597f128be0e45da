//! One plugin's route: its filter, the instruments declared to it, its
//! timers, and the batch being filled for it. Plugins whose routes would
//! make the same batches share one route (a lane): the batch is built once
//! and each of them gets the same `Arc` of events.

use crate::filter::Filter;
use crate::queue::{Batch, BatchSender};
use crate::router::MAX_TIMERS_PER_GAP;
use prism_model::{Event, Timer, TimestampMs};
use std::sync::Arc;
use std::time::Instant;

/// The batch being filled for one plugin, and since when.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) events: Vec<Event>,
    /// When its first event came (for the linger time).
    pub(crate) since: Option<Instant>,
    /// The position of the last source event pushed.
    pub(crate) position: u64,
    /// Events the last batch held: a new batch is given that room at its
    /// first event, so it is not copied at every doubling as it fills,
    /// and a route with nothing pending holds no room.
    pub(crate) room: usize,
}

impl Pending {
    fn push(&mut self, event: Event) {
        if self.events.is_empty() {
            self.since = Some(Instant::now());
            self.events.reserve(self.room);
        }
        self.events.push(event);
    }
}

/// A plugin that shares another's route: it gets every batch the route
/// makes, the same `Arc` of events.
#[derive(Debug)]
struct Follower {
    id: Arc<str>,
    queue: BatchSender,
    last_sent: Option<u64>,
    open: bool,
}

/// One plugin's route: its filter, its queue and its batch being filled;
/// and the plugins that share it (`followers`). Plugins share a route when
/// they subscribe alike and join before the route was given anything, or
/// join a route without timers after a batch of their own declaring the
/// instruments it declared: every batch it makes from then on is theirs
/// too, the events copied and stored once, not once a plugin.
#[derive(Debug)]
pub struct Route {
    pub(crate) id: Arc<str>,
    pub(crate) filter: Filter,
    pub(crate) kind_mask: u16,
    queue: BatchSender,
    pub(crate) pending: Pending,
    /// Per instrument id: `None` not yet evaluated, `Some(wanted)` afterwards.
    pub(crate) wants: Vec<Option<bool>>,
    pub(crate) declared: Vec<bool>,
    pub(crate) next_timer: Option<TimestampMs>,
    /// Events at or before this position were processed before (the
    /// plugin resumes from a checkpoint that covers them): not delivered.
    pub(crate) resume_after: Option<u64>,
    /// Outputs of batches up to these positions were delivered before, by
    /// a sink that cannot take them back (it identifies them by batch
    /// position): a batch ends at each, so none straddles one. Ascending.
    pub(crate) fences: Vec<u64>,
    /// The position of the last batch sent.
    last_sent: Option<u64>,
    open: bool,
    /// Starts only when the stream is read again from (at or before) the
    /// position it needs: see [`Route::after_rewind`].
    pub(crate) waits_for_rewind: bool,
    followers: Vec<Follower>,
}

impl Route {
    /// A route for plugin `id`.
    #[must_use]
    pub fn new(id: &str, filter: Filter, queue: BatchSender) -> Self {
        Self {
            id: Arc::from(id),
            kind_mask: filter.kind_mask(),
            filter,
            queue,
            pending: Pending::default(),
            wants: Vec::new(),
            declared: Vec::new(),
            next_timer: None,
            resume_after: None,
            fences: Vec::new(),
            last_sent: None,
            open: true,
            waits_for_rewind: false,
            followers: Vec::new(),
        }
    }

    /// This route, added while the stream is past the position it needs
    /// (an instance taken over from another host, resuming from its
    /// checkpoint): it receives nothing until the source reads the stream
    /// again from at or before that position (a jump back in positions),
    /// and then goes on with every route. Routes that were running at the
    /// jump skip what they had up to it.
    #[must_use]
    pub fn after_rewind(mut self) -> Self {
        self.waits_for_rewind = true;
        self
    }

    /// The first position this route still needs.
    pub(crate) fn needs(&self) -> u64 {
        self.resume_after.map_or(0, |r| r + 1)
    }

    /// This route, for a plugin whose state covers the stream up to
    /// `position`: events up to it are skipped (declarations still reach
    /// it, and its timers keep their place).
    #[must_use]
    pub fn resuming_after(mut self, position: Option<u64>) -> Self {
        self.resume_after = position;
        self.last_sent = position;
        // A batch of declarations alone is at the checkpoint's position,
        // never before it.
        self.pending.position = self.pending.position.max(position.unwrap_or(0));
        self
    }

    /// This route, ending a batch at each of `positions` that lies ahead:
    /// a resumed plugin whose outputs were delivered up to a batch at such
    /// a position makes its batches end there again, so the outputs it
    /// makes anew fall in batches at or before it (and the sink drops them)
    /// or after it (new). Two positions — the batch before and the batch —
    /// make a batch that was delivered in part again whole, the same.
    #[must_use]
    pub fn fenced_at(mut self, positions: &[u64]) -> Self {
        let mut fences: Vec<u64> = positions
            .iter()
            .copied()
            .filter(|f| self.resume_after.is_none_or(|r| *f > r))
            .collect();
        fences.sort_unstable();
        fences.dedup();
        self.fences = fences;
        self
    }

    pub(crate) fn push(&mut self, event: Event) {
        self.pending.push(event);
    }

    /// Sends the batch being filled to the plugin and to every follower.
    pub(crate) fn flush(&mut self) {
        if self.pending.events.is_empty() || !self.live() {
            return;
        }
        self.pending.room = self.pending.events.len();
        let events = Arc::new(std::mem::take(&mut self.pending.events));
        self.pending.since = None;
        let position = self.pending.position;
        if self.open {
            let previous = self.last_sent.replace(position);
            let batch = Batch {
                events: events.clone(),
                position,
                previous,
            };
            if self.queue.send(batch).is_err() {
                tracing::warn!(plugin = %self.id, "plugin worker is gone; its route is closed");
                self.open = false;
            }
        }
        for f in &mut self.followers {
            let previous = f.last_sent.replace(position);
            let batch = Batch {
                events: events.clone(),
                position,
                previous,
            };
            if f.queue.send(batch).is_err() {
                tracing::warn!(plugin = %f.id, "plugin worker is gone; its route is closed");
                f.open = false;
            }
        }
        self.followers.retain(|f| f.open);
    }

    /// Whether anyone still takes this route's batches.
    pub(crate) fn live(&self) -> bool {
        self.open || !self.followers.is_empty()
    }

    /// Whether plugin `id` takes this route's batches.
    pub(crate) fn serves(&self, id: &str) -> bool {
        *self.id == *id || self.followers.iter().any(|f| *f.id == *id)
    }

    /// Neither given anything yet nor resuming: a route that makes, from
    /// now on, exactly the batches any other such route with its filter
    /// makes.
    fn fresh(&self) -> bool {
        self.open
            && self.last_sent.is_none()
            && self.pending.events.is_empty()
            && self.resume_after.is_none()
            && self.fences.is_empty()
            && !self.waits_for_rewind
            && self.next_timer.is_none()
            && !self.declared.contains(&true)
    }

    /// Whether `other`'s plugin can share this route: both are fresh and
    /// filter alike.
    pub(crate) fn accepts(&self, other: &Route) -> bool {
        self.fresh() && other.fresh() && self.filter == other.filter
    }

    /// Takes `other`'s plugin (and its followers) as followers; see
    /// [`Self::accepts`].
    pub(crate) fn adopt(&mut self, other: Route) {
        self.followers.push(Follower {
            id: other.id,
            queue: other.queue,
            last_sent: None,
            open: true,
        });
        self.followers.extend(other.followers);
    }

    /// Whether `other`'s plugin can join this route although the route has
    /// carried events: `other` is fresh, both filter alike, and nothing of
    /// the route's state but its declarations would differ for a newcomer
    /// (no timers, not resuming, no fences).
    pub(crate) fn accepts_late(&self, other: &Route) -> bool {
        other.fresh()
            && self.live()
            && self.filter == other.filter
            && self.filter.timer_interval_ms.is_none()
            && self.resume_after.is_none()
            && self.fences.is_empty()
            && !self.waits_for_rewind
    }

    /// Takes `other`'s plugin as a follower from the next batch on (see
    /// [`Self::accepts_late`]): what is pending goes out first, then the
    /// newcomer gets a batch of its own declaring every instrument the
    /// route has declared (`declarations`), at the position the route has
    /// reached; from then on it gets the route's batches.
    pub(crate) fn adopt_late(&mut self, other: Route, declarations: Vec<Event>) {
        self.flush();
        let position = self.pending.position;
        let mut last_sent = None;
        let mut open = true;
        if !declarations.is_empty() {
            let batch = Batch {
                events: Arc::new(declarations),
                position,
                previous: None,
            };
            open = other.queue.send(batch).is_ok();
            last_sent = Some(position);
        }
        if open {
            self.followers.push(Follower {
                id: other.id,
                queue: other.queue,
                last_sent,
                open,
            });
        }
    }

    /// The instruments this route has declared, by id.
    pub(crate) fn declared_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.declared
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .filter_map(|(at, _)| u32::try_from(at).ok())
    }

    /// Takes plugin `id` out of this shared route, as a route of its own
    /// in the same state (timers, declarations) with nothing pending: the
    /// caller flushes first when the plugin must have the pending events.
    /// `None` when `id` is not a follower and no follower is left to carry
    /// the route on (the route is `id`'s alone).
    pub(crate) fn split(&mut self, id: &str) -> Option<Route> {
        if let Some(at) = self.followers.iter().position(|f| *f.id == *id) {
            let f = self.followers.remove(at);
            return Some(self.sibling(f));
        }
        if *self.id != *id || self.followers.is_empty() {
            return None;
        }
        // The first follower carries the route on (with what is pending);
        // the plugin leaving gets the copy.
        let f = self.followers.remove(0);
        let mut leaving = self.sibling(f);
        std::mem::swap(&mut self.id, &mut leaving.id);
        std::mem::swap(&mut self.queue, &mut leaving.queue);
        std::mem::swap(&mut self.last_sent, &mut leaving.last_sent);
        std::mem::swap(&mut self.open, &mut leaving.open);
        Some(leaving)
    }

    /// A route of `f`'s own in this route's state, with nothing pending.
    fn sibling(&self, f: Follower) -> Route {
        Route {
            id: f.id,
            filter: self.filter.clone(),
            kind_mask: self.kind_mask,
            queue: f.queue,
            pending: Pending {
                events: Vec::new(),
                since: None,
                position: self.pending.position,
                room: self.pending.room,
            },
            wants: self.wants.clone(),
            declared: self.declared.clone(),
            next_timer: self.next_timer,
            resume_after: self.resume_after,
            fences: self.fences.clone(),
            last_sent: f.last_sent,
            open: f.open,
            waits_for_rewind: self.waits_for_rewind,
            followers: Vec::new(),
        }
    }

    /// Moves the timers past an event at `ts` without inserting them (the
    /// event was processed in an earlier run, with its timers).
    pub(crate) fn skip_timers(&mut self, ts: TimestampMs) {
        if let Some(interval) = self
            .filter
            .timer_interval_ms
            .and_then(|i| i64::try_from(i).ok())
            .filter(|i| *i > 0)
        {
            prism_model::schedule::advance(&mut self.next_timer, interval, ts, 0, |_| {});
        }
    }

    /// Inserts the `timer` events due before an event at `ts` (the boundary
    /// rule of [`prism_model::schedule`]); a jump in event time (a gap in
    /// the data) inserts at most [`MAX_TIMERS_PER_GAP`], the latest, so a
    /// gap cannot stall the stream.
    pub(crate) fn timers_until(&mut self, ts: TimestampMs) {
        let Some(interval) = self
            .filter
            .timer_interval_ms
            .and_then(|i| i64::try_from(i).ok())
            .filter(|i| *i > 0)
        else {
            return;
        };
        let pending = &mut self.pending;
        let skipped = prism_model::schedule::advance(
            &mut self.next_timer,
            interval,
            ts,
            MAX_TIMERS_PER_GAP,
            |at| pending.push(Event::Timer(Timer { ts: at })),
        );
        if skipped > 0 {
            tracing::debug!(plugin = %self.id, skipped, "timers skipped over a gap in event time");
        }
    }
}
