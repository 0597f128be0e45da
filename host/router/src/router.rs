//! Fan-out of the event stream to plugin queues.

use crate::filter::Filter;
use crate::route::Route;
use crossbeam_channel::{Receiver, Select, Sender};
use prism_model::{Archived, Chunk, Delivery, Event, EventKind, InstrumentTable, TimestampMs};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Most timers inserted for one gap in event time (see `Route::timers_until`).
pub const MAX_TIMERS_PER_GAP: u64 = 10_000;

/// Batching settings shared by all routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterSettings {
    /// A batch is sent when it holds this many events.
    pub batch_size: usize,
    /// …or when its first event has waited this long,
    pub batch_linger: Duration,
    /// …or, when the source has nothing more queued, this long (at most
    /// `batch_linger`). A quiet feed's events then wait about this long
    /// instead of the whole linger, while the rate of partial batches per
    /// plugin stays bounded by its inverse; under load chunks queue up and
    /// batches fill.
    pub batch_idle: Duration,
}

impl RouterSettings {
    /// Settings for a run whose batch boundaries must depend on the data
    /// only, never on timing (a replay: its outputs are compared byte for
    /// byte): batches are sent when full, and at the end — however long
    /// the run and however rare a route's events.
    #[must_use]
    pub fn by_size_only(self) -> Self {
        // A wait past what `Instant` can hold is never due (`flush_due`).
        let never = Duration::MAX;
        Self {
            batch_linger: never,
            batch_idle: never,
            ..self
        }
    }

    /// How long a partial batch may wait: its idle time when the source has
    /// nothing more queued, its linger otherwise.
    fn wait(&self, source_idle: bool) -> Duration {
        if source_idle {
            self.batch_idle.min(self.batch_linger)
        } else {
            self.batch_linger
        }
    }
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            batch_size: 256,
            batch_linger: Duration::from_millis(20),
            batch_idle: Duration::from_millis(20),
        }
    }
}

/// A change of the routing table, sent by the control plane. Applied
/// between two source chunks, never in the middle of one.
#[derive(Debug)]
pub enum RouterCommand {
    /// Starts routing to a new plugin. Its first batch declares the
    /// instruments it needs, as for any route.
    Add(Box<Route>),
    /// Stops routing to a plugin: its pending batch is sent, then its queue
    /// is closed, so its worker drains and ends.
    Remove(Arc<str>),
    /// Replaces a plugin's subscription (after a swap or a config change).
    SetFilter(Arc<str>, Filter),
}

/// Routes a stream of events to plugin queues.
#[derive(Debug)]
pub struct Router {
    settings: RouterSettings,
    routes: Vec<Route>,
    instruments: InstrumentTable,
    /// Event time of the newest event routed (ms); `i64::MIN` before any.
    head_ts: Arc<AtomicI64>,
    /// The position of the next event routed.
    position: u64,
    /// Input events kept for history: of which kinds, and where they go.
    archive: Option<(u16, Sender<Delivery>)>,
    /// Routes waiting for the stream to be read again from where they start.
    waiting: Vec<Route>,
    /// Positions before this were routed before (the stream is being read
    /// again after a jump back): not archived twice.
    seen_until: u64,
}

impl Router {
    /// A router over `routes`.
    #[must_use]
    pub fn new(settings: RouterSettings, routes: Vec<Route>) -> Self {
        let mut router = Self {
            settings,
            routes: Vec::new(),
            instruments: InstrumentTable::default(),
            head_ts: Arc::new(AtomicI64::new(i64::MIN)),
            position: 0,
            archive: None,
            waiting: Vec::new(),
            seen_until: 0,
        };
        for route in routes {
            router.insert(route);
        }
        router
    }

    /// Also hands the events of `kinds` (each with its position and
    /// instrument) to `sink`, chunk by chunk, for keeping: it may block,
    /// holding the source back, as a plugin's full queue does.
    #[must_use]
    pub fn archiving(mut self, kinds: &[EventKind], sink: Sender<Delivery>) -> Self {
        let mask = kinds.iter().fold(0u16, |m, k| m | 1 << (*k as u8));
        if mask != 0 {
            self.archive = Some((mask, sink));
        }
        self
    }

    /// A gauge of the newest event time routed, for lag metrics.
    #[must_use]
    pub fn head_ts(&self) -> Arc<AtomicI64> {
        self.head_ts.clone()
    }

    /// Routes a chunk of the source's stream, at its positions. A chunk
    /// before the last position routed is the stream read again: the routes
    /// running skip what they had, and the routes waiting for it start.
    pub fn route_chunk(&mut self, chunk: Chunk) {
        if chunk.first < self.position {
            self.rewound(chunk.first);
        }
        self.position = chunk.first;
        let mut kept = Vec::new();
        for event in chunk.events {
            if self.position < self.seen_until {
                self.route(event);
                continue;
            }
            if let Some((mask, _)) = &self.archive
                && let (Some(kind), Some(id)) = (event.kind(), event.instrument())
                && mask & (1 << (kind as u8)) != 0
                && let Some(info) = self.instruments.get(id)
            {
                kept.push((self.position, info.clone(), event.clone()));
            }
            self.route(event);
        }
        if let Some((_, sink)) = &self.archive
            && !kept.is_empty()
            && sink
                .send(Delivery::Archive(Archived { events: kept }))
                .is_err()
        {
            tracing::warn!("the archive's sink is gone; input events are no longer kept");
            self.archive = None;
        }
    }

    /// The stream goes back to `first`: every running route has had the
    /// events up to the last position routed; waiting routes that need the
    /// stream from `first` or later start.
    fn rewound(&mut self, first: u64) {
        let had = self.position - 1;
        self.seen_until = self.seen_until.max(self.position);
        for route in &mut self.routes {
            route.resume_after = Some(route.resume_after.map_or(had, |r| r.max(had)));
        }
        let (ready, waiting): (Vec<Route>, Vec<Route>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|r| first <= r.needs().max(1));
        self.waiting = waiting;
        for mut route in ready {
            tracing::debug!(plugin = %route.id, first, "route starts with the stream read again");
            route.waits_for_rewind = false;
            self.routes.push(route);
        }
    }

    /// Routes one event, at the position after the last one routed. May
    /// block while a plugin's queue is full.
    pub fn route(&mut self, event: Event) {
        let position = self.position;
        self.position += 1;
        if let Event::Instrument(i) = &event {
            let at = i.id.0 as usize;
            self.instruments.insert(i.clone());
            for route in &mut self.routes {
                // A redeclaration must reach plugins that already know the
                // id, unless they had it before (the stream read again):
                // and a batch's position never goes back.
                let done = route.resume_after.is_some_and(|done| position <= done);
                if !done && route.declared.get(at).copied().unwrap_or(false) {
                    route.push(event.clone());
                    route.pending.position = route.pending.position.max(position);
                }
                if let Some(w) = route.wants.get_mut(at) {
                    *w = None;
                }
            }
            return;
        }
        let ts = event.ts().unwrap_or(TimestampMs::MIN);
        self.head_ts.fetch_max(ts, Ordering::Relaxed);
        let kind_bit = event.kind().map_or(0, |k| 1u16 << (k as u8));
        let instrument = event.instrument();
        let last = self.routes.len().saturating_sub(1);
        for (index, route) in self.routes.iter_mut().enumerate() {
            if !route.live() || route.kind_mask & kind_bit == 0 {
                continue;
            }
            let mut undeclared = None;
            if let Some(id) = instrument {
                let at = id.0 as usize;
                let Some(info) = self.instruments.get(id) else {
                    tracing::debug!(
                        instrument = id.0,
                        "event for an undeclared instrument dropped"
                    );
                    continue;
                };
                if route.wants.len() <= at {
                    route.wants.resize(at + 1, None);
                }
                let wanted =
                    *route.wants[at].get_or_insert_with(|| route.filter.wants_instrument(info));
                if !wanted {
                    continue;
                }
                if route.declared.len() <= at {
                    route.declared.resize(at + 1, false);
                }
                if !route.declared[at] {
                    route.declared[at] = true;
                    undeclared = Some(info);
                }
            }
            if route.fences.first().is_some_and(|f| position > *f) {
                route.fences.retain(|f| position <= *f);
                route.flush();
            }
            // Processed in an earlier run: only its timers keep their place,
            // and its instrument is declared (a restored plugin may name it
            // in its next outputs).
            let done = route.resume_after.is_some_and(|done| position <= done);
            if done {
                route.skip_timers(ts);
            } else {
                route.timers_until(ts);
            }
            if let Some(info) = undeclared {
                route.push(Event::Instrument(info.clone()));
                // Positions of a route's batches never go back (a resumed
                // route declares instruments of events it skips).
                route.pending.position = route.pending.position.max(position);
            }
            if done {
                continue;
            }
            route.pending.position = position;
            // The last route takes the event itself; the others a copy.
            if index == last {
                route.push(event);
                break;
            }
            route.push(event.clone());
            if route.pending.events.len() >= self.settings.batch_size {
                route.flush();
            }
        }
        if let Some(route) = self.routes.last_mut()
            && route.pending.events.len() >= self.settings.batch_size
        {
            route.flush();
        }
    }

    /// Applies a change of the routing table.
    pub fn apply(&mut self, command: RouterCommand) {
        match command {
            RouterCommand::Add(route) => {
                let route = *route;
                self.take_out(&route.id);
                self.waiting.retain(|r| r.id != route.id);
                // Not behind the stream: nothing to wait for.
                if route.waits_for_rewind && self.position > route.needs().max(1) {
                    self.waiting.push(route);
                } else {
                    self.insert(route);
                }
            }
            RouterCommand::Remove(id) => {
                self.waiting.retain(|r| r.id != id);
                if let Some(at) = self.routes.iter().position(|r| r.serves(&id)) {
                    // What was routed to it so far still reaches it.
                    self.routes[at].flush();
                    if self.routes[at].split(&id).is_none() {
                        self.routes.remove(at);
                    }
                }
            }
            RouterCommand::SetFilter(id, filter) => {
                if let Some(at) = self.routes.iter().position(|r| r.serves(&id)) {
                    // Batches already queued keep the old subscription; every
                    // event routed from now on is judged by the new one.
                    self.routes[at].flush();
                    let at = match self.routes[at].split(&id) {
                        Some(own) => {
                            self.routes.push(own);
                            self.routes.len() - 1
                        }
                        None => at,
                    };
                    let route = &mut self.routes[at];
                    route.kind_mask = filter.kind_mask();
                    if route.filter.timer_interval_ms != filter.timer_interval_ms {
                        route.next_timer = None;
                    }
                    route.filter = filter;
                    route.wants.clear();
                }
            }
        }
    }

    /// Adds a route: it shares a route already there that filters alike —
    /// from the start when both are fresh, or, joining a route that has
    /// carried events, after a batch of its own declaring the instruments
    /// the route has declared (see [`Route`]) — or runs on its own.
    fn insert(&mut self, route: Route) {
        if let Some(lane) = self.routes.iter_mut().find(|lane| lane.accepts(&route)) {
            lane.adopt(route);
            return;
        }
        let instruments = &self.instruments;
        match self
            .routes
            .iter_mut()
            .find(|lane| lane.accepts_late(&route))
        {
            Some(lane) => {
                let declarations = lane
                    .declared_ids()
                    .filter_map(|id| instruments.get(prism_model::InstrumentId(id)))
                    .map(|i| Event::Instrument(i.clone()))
                    .collect();
                lane.adopt_late(route, declarations);
            }
            None => self.routes.push(route),
        }
    }

    /// Drops plugin `id`'s route (what was pending for it is not sent).
    fn take_out(&mut self, id: &str) {
        if let Some(at) = self.routes.iter().position(|r| r.serves(id))
            && self.routes[at].split(id).is_none()
        {
            self.routes.remove(at);
        }
    }

    /// Sends every partial batch that has waited its time (its idle time
    /// when the source has nothing more queued, its linger otherwise);
    /// returns when the oldest batch still pending will have (`None`: none
    /// is, or none ever will be).
    fn flush_due(&mut self, source_idle: bool) -> Option<Instant> {
        let wait = self.settings.wait(source_idle);
        let now = Instant::now();
        let mut due: Option<Instant> = None;
        for route in &mut self.routes {
            let Some(since) = route.pending.since else {
                continue;
            };
            if now.saturating_duration_since(since) >= wait {
                route.flush();
            } else if let Some(at) = since.checked_add(wait) {
                // (A wait past what `Instant` can hold is never due.)
                due = Some(due.map_or(at, |d| d.min(at)));
            }
        }
        due
    }

    /// Sends every partial batch.
    pub fn flush_all(&mut self) {
        for route in &mut self.routes {
            route.flush();
        }
    }
}

/// Runs a router over a channel of event chunks until the source closes it,
/// then flushes and returns (dropping the queues ends the workers).
///
/// Batching adapts to the load (see [`RouterSettings`]): a partial batch
/// waits `batch_idle` while the source has nothing more queued, and up to
/// `batch_linger` while it keeps sending.
///
/// Routing-table changes arrive on `commands` and are applied between
/// chunks; a closed `commands` channel only means no more changes.
pub fn run_router(mut router: Router, source: Receiver<Chunk>, commands: Receiver<RouterCommand>) {
    // When the oldest partial batch is due (`None`: nothing is pending).
    let mut due: Option<Instant> = None;
    let mut commands_open = true;
    loop {
        if apply_waiting(&mut router, &commands, &mut commands_open) {
            // A change of the table may have sent or begun batches.
            due = router.flush_due(source.is_empty());
        }
        let mut select = Select::new();
        let from_source = select.recv(&source);
        if commands_open {
            select.recv(&commands);
        }
        let ready = match due {
            None => select.select(),
            Some(at) => match select.select_deadline(at) {
                Ok(ready) => ready,
                Err(_) => {
                    // The source stayed idle until a batch was due.
                    due = router.flush_due(true);
                    continue;
                }
            },
        };
        if ready.index() != from_source {
            // A command is waiting (or the channel closed); the loop's head takes it.
            match ready.recv(&commands) {
                Ok(c) => {
                    router.apply(c);
                    due = router.flush_due(source.is_empty());
                }
                Err(_) => commands_open = false,
            }
            continue;
        }
        match ready.recv(&source) {
            Ok(chunk) => {
                // A command sent before this chunk was made (a route that
                // waits for the rewind this chunk starts) applies first.
                apply_waiting(&mut router, &commands, &mut commands_open);
                router.route_chunk(chunk);
                // With more queued, the next chunk is taken at once and
                // batches keep filling up to their linger; with nothing
                // queued, the select above waits at most until one is due.
                due = router.flush_due(source.is_empty());
            }
            Err(_) => break,
        }
    }
    router.flush_all();
}

/// Applies every command already waiting; whether there was one.
fn apply_waiting(router: &mut Router, commands: &Receiver<RouterCommand>, open: &mut bool) -> bool {
    let mut applied = false;
    while *open {
        match commands.try_recv() {
            Ok(c) => {
                router.apply(c);
                applied = true;
            }
            Err(crossbeam_channel::TryRecvError::Empty) => break,
            Err(crossbeam_channel::TryRecvError::Disconnected) => *open = false,
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::SymbolPattern;
    use crate::queue::{Batch, plugin_queue};
    use prism_model::{EventKind, InstrumentRegistry, Side, Trade, decimal};

    /// Batches of `batch_size` events, sent only when full (or flushed).
    fn by_size(batch_size: usize) -> RouterSettings {
        RouterSettings {
            batch_size,
            ..RouterSettings::default()
        }
        .by_size_only()
    }

    fn trade(id: prism_model::InstrumentId, ts: i64) -> Event {
        Event::Trade(Trade {
            instrument: id,
            ts,
            received_ts: ts,
            price: decimal::parse("100").unwrap(),
            size: decimal::parse("1").unwrap(),
            side: Side::Buy,
            buyer: None,
            seller: None,
        })
    }

    #[test]
    fn a_gap_in_event_time_makes_a_bounded_number_of_timers() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let (tx, rx) = plugin_queue(1 << 20);
        let filter = Filter {
            timer_interval_ms: Some(1),
            ..Filter::default()
        };
        let mut router = Router::new(
            RouterSettings {
                batch_size: 1 << 20,
                ..RouterSettings::default()
            },
            vec![Route::new("t", filter, tx)],
        );
        router.route(Event::Instrument(reg.get(btc).unwrap().clone()));
        router.route(trade(btc, 1_000));
        // A day later, with a timer every millisecond.
        router.route(trade(btc, 1_000 + 86_400_000));
        router.flush_all();
        let events = rx.recv().unwrap().events;
        let timers: Vec<i64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Timer(t) => Some(t.ts),
                _ => None,
            })
            .collect();
        assert_eq!(timers.len() as u64, MAX_TIMERS_PER_GAP);
        assert_eq!(*timers.last().unwrap(), 1_000 + 86_400_000);
        assert!(timers.windows(2).all(|w| w[1] == w[0] + 1));
    }

    /// Runs a router with one route ("p", every event) on its own thread,
    /// `queued` already waiting at its source when it starts: the source's
    /// sender, the route's queue, and the thread.
    fn running(
        settings: RouterSettings,
        queued: Vec<Chunk>,
    ) -> (
        Sender<Chunk>,
        crate::queue::BatchReceiver,
        std::thread::JoinHandle<()>,
    ) {
        let (tx, rx) = plugin_queue(16);
        let router = Router::new(settings, vec![Route::new("p", Filter::default(), tx)]);
        let (source_tx, source) = crossbeam_channel::bounded(4);
        for chunk in queued {
            source_tx.send(chunk).unwrap();
        }
        let (commands_tx, commands) = crossbeam_channel::bounded(1);
        let thread = std::thread::spawn(move || {
            let _commands_tx = commands_tx;
            run_router(router, source, commands);
        });
        (source_tx, rx, thread)
    }

    /// BTCUSDT's id and its declaration, the first event of a stream.
    fn btc() -> (prism_model::InstrumentId, Event) {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        (btc, Event::Instrument(reg.get(btc).unwrap().clone()))
    }

    /// Batching adapts to the load: chunks queued back to back fill one
    /// batch; once nothing more is queued a partial batch goes after the
    /// idle time, long before its linger; chunks that come within the idle
    /// time of the batch's first event join it (partial batches per plugin
    /// stay bounded however the source trickles).
    #[test]
    fn a_partial_batch_goes_after_the_idle_time_not_the_linger() {
        let (btc, declaration) = btc();
        let idle = Duration::from_millis(300);
        let settings = RouterSettings {
            batch_size: 256,
            batch_linger: Duration::from_secs(600),
            batch_idle: idle,
        };
        let chunk = |first, events| Chunk { first, events };
        let (source_tx, rx, running) = running(
            settings,
            vec![
                chunk(0, vec![declaration, trade(btc, 100)]),
                chunk(2, vec![trade(btc, 200)]),
            ],
        );
        let next = || {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Ok(batch) = rx.try_recv() {
                    return batch
                        .events
                        .iter()
                        .filter_map(Event::ts)
                        .collect::<Vec<_>>();
                }
                assert!(Instant::now() < deadline, "no batch long before the linger");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        assert_eq!(next(), [100, 200], "both queued chunks in one batch");
        let sent = Instant::now();
        source_tx.send(chunk(3, vec![trade(btc, 300)])).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        source_tx.send(chunk(4, vec![trade(btc, 400)])).unwrap();
        assert_eq!(
            next(),
            [300, 400],
            "a chunk within the idle time joins the batch"
        );
        assert!(
            sent.elapsed() >= idle,
            "the batch waited its idle time: {:?}",
            sent.elapsed()
        );
        drop(source_tx);
        running.join().unwrap();
    }

    /// A linger as long as a config can say (u64::MAX ms) is never due, nor
    /// is a replay's (by size only), and no panic: the batch goes when full
    /// or at the end.
    #[test]
    fn a_linger_past_what_instant_holds_never_comes_due() {
        let forever = Duration::from_millis(u64::MAX);
        let from_config = RouterSettings {
            batch_size: 256,
            batch_linger: forever,
            batch_idle: forever,
        };
        for settings in [from_config, by_size(256)] {
            let (btc, declaration) = btc();
            let chunk = Chunk {
                first: 0,
                events: vec![declaration, trade(btc, 100)],
            };
            let (source_tx, rx, running) = running(settings, vec![chunk]);
            std::thread::sleep(Duration::from_millis(50));
            assert!(
                rx.try_recv().is_err(),
                "a partial batch waits: {settings:?}"
            );
            drop(source_tx);
            running.join().expect("the router ends without a panic");
            let batch = rx.try_recv().expect("the end flushes it");
            assert_eq!(batch.events.len(), 2);
        }
    }

    /// A resumed route whose whole chunk was covered still declares the
    /// instrument, in a batch at the checkpoint's position (a batch's
    /// position never goes back: it identifies the batch's outputs).
    #[test]
    fn a_batch_of_declarations_alone_is_at_the_checkpoint() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let (tx, rx) = plugin_queue(16);
        let route = Route::new("p", Filter::default(), tx).resuming_after(Some(9));
        let mut router = Router::new(RouterSettings::default(), vec![route]);
        router.route_chunk(Chunk {
            first: 0,
            events: vec![
                Event::Instrument(reg.get(btc).unwrap().clone()),
                trade(btc, 500),
                trade(btc, 600),
            ],
        });
        router.flush_all();
        let batch = rx.recv().unwrap();
        assert!(matches!(batch.events[..], [Event::Instrument(_)]));
        assert_eq!(batch.position, 9);
    }

    /// A resumed route whose outputs were delivered up to the batch at
    /// position 4 ends a batch there, whatever the batch size: the batch
    /// after it starts at 5.
    #[test]
    fn a_fenced_route_ends_a_batch_at_the_fence() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let (tx, rx) = plugin_queue(16);
        let route = Route::new("p", Filter::default(), tx)
            .resuming_after(Some(1))
            .fenced_at(&[4]);
        let mut router = Router::new(RouterSettings::default(), vec![route]);
        router.route_chunk(Chunk {
            first: 0,
            events: (0..8)
                .map(|i| {
                    if i == 0 {
                        Event::Instrument(reg.get(btc).unwrap().clone())
                    } else {
                        trade(btc, i * 100)
                    }
                })
                .collect(),
        });
        router.flush_all();
        let first = rx.recv().unwrap();
        let second = rx.recv().unwrap();
        let times = |b: &crate::Batch| b.events.iter().filter_map(|e| e.ts()).collect::<Vec<_>>();
        assert_eq!((first.position, times(&first)), (4, vec![200, 300, 400]));
        assert_eq!((second.position, times(&second)), (7, vec![500, 600, 700]));
        // Each batch names the one before it (the first, the checkpoint).
        assert_eq!((first.previous, second.previous), (Some(1), Some(4)));
        // Two fences make one batch again exactly: (2, 5].
        let (tx, rx) = plugin_queue(16);
        let route = Route::new("p", Filter::default(), tx).fenced_at(&[5, 2]);
        let mut router = Router::new(RouterSettings::default(), vec![route]);
        router.route_chunk(Chunk {
            first: 0,
            events: std::iter::once(Event::Instrument(reg.get(btc).unwrap().clone()))
                .chain((1..8).map(|i| trade(btc, i * 100)))
                .collect(),
        });
        router.flush_all();
        let spans: Vec<(Option<u64>, u64, Vec<i64>)> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|b| (b.previous, b.position, times(&b)))
            .collect();
        assert_eq!(
            spans,
            [
                (None, 2, vec![100, 200]),
                (Some(2), 5, vec![300, 400, 500]),
                (Some(5), 7, vec![600, 700])
            ]
        );
        // A fence at or before the checkpoint means nothing.
        let (tx, _rx) = plugin_queue(16);
        let route = Route::new("p", Filter::default(), tx)
            .resuming_after(Some(5))
            .fenced_at(&[5]);
        assert!(route.fences.is_empty());
    }

    /// A plugin restored from a checkpoint covering position 3 gets what
    /// comes after it: the declarations still, its timers in place, and
    /// batches named by the position of their last event.
    #[test]
    fn a_resumed_route_skips_what_its_checkpoint_covers() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let (tx, rx) = plugin_queue(16);
        let filter = Filter {
            timer_interval_ms: Some(1000),
            ..Filter::default()
        };
        let route = Route::new("p", filter, tx).resuming_after(Some(3));
        let mut router = Router::new(RouterSettings::default(), vec![route]);
        // Positions: 0 the declaration, 1..=5 trades.
        router.route_chunk(Chunk {
            first: 0,
            events: vec![
                Event::Instrument(reg.get(btc).unwrap().clone()),
                trade(btc, 500),
                trade(btc, 1500),
                trade(btc, 2500),
                trade(btc, 2600),
                trade(btc, 3100),
            ],
        });
        router.flush_all();
        let batch = rx.recv().unwrap();
        let shape: Vec<String> = batch
            .events
            .iter()
            .map(|e| match e {
                Event::Instrument(i) => format!("decl {}", i.symbol),
                Event::Trade(t) => format!("trade {}", t.ts),
                Event::Timer(t) => format!("timer {}", t.ts),
                other => format!("{other:?}"),
            })
            .collect();
        // Timers 1000 and 2000 went with the skipped trades; 3000 is new.
        assert_eq!(
            shape,
            ["decl BTCUSDT", "trade 2600", "timer 3000", "trade 3100"]
        );
        assert_eq!(batch.position, 5);
    }

    #[test]
    fn routes_by_subscription_declares_first_and_inserts_timers() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let (eth, _) = reg.intern("binance", "ETHUSDT");
        let (all_tx, all_rx) = plugin_queue(16);
        let (btc_tx, btc_rx) = plugin_queue(16);
        let routes = vec![
            Route::new("all", Filter::default(), all_tx),
            Route::new(
                "btc",
                Filter {
                    kinds: vec![EventKind::Trade],
                    symbols: vec![SymbolPattern::new("BTC*")],
                    timer_interval_ms: Some(1000),
                    ..Filter::default()
                },
                btc_tx,
            ),
        ];
        let settings = by_size(1000);
        let mut router = Router::new(settings, routes);
        for id in [btc, eth] {
            router.route(Event::Instrument(reg.get(id).unwrap().clone()));
        }
        router.route(trade(btc, 500));
        router.route(trade(eth, 900));
        router.route(trade(btc, 3100));
        router.flush_all();
        let all = all_rx.recv().unwrap();
        assert_eq!(all.market_events(), 3);
        assert_eq!(all.events.len(), 5, "two declarations, three trades");
        let got = btc_rx.recv().unwrap().events;
        let shape: Vec<String> = got
            .iter()
            .map(|e| match e {
                Event::Instrument(i) => format!("decl {}", i.symbol),
                Event::Trade(t) => format!("trade {}", t.ts),
                Event::Timer(t) => format!("timer {}", t.ts),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            shape,
            [
                "decl BTCUSDT",
                "trade 500",
                "timer 1000",
                "timer 2000",
                "timer 3000",
                "trade 3100"
            ]
        );
    }

    #[test]
    fn full_queue_blocks_instead_of_dropping() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let (tx, rx) = plugin_queue(1);
        let settings = by_size(10);
        let mut router = Router::new(settings, vec![Route::new("p", Filter::default(), tx)]);
        let decl = Event::Instrument(reg.get(btc).unwrap().clone());
        let producer = std::thread::spawn(move || {
            router.route(decl);
            for ts in 0..1000 {
                router.route(trade(btc, ts));
            }
            router.flush_all();
        });
        let mut seen = 0;
        while let Some(batch) = rx.recv() {
            seen += batch.market_events();
            std::thread::sleep(Duration::from_micros(50));
        }
        producer.join().unwrap();
        assert_eq!(seen, 1000);
    }

    #[test]
    fn a_route_taken_over_starts_when_the_stream_is_read_again() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let settings = by_size(1000);
        let (a_tx, a_rx) = plugin_queue(16);
        let mut router = Router::new(settings, vec![Route::new("a", Filter::default(), a_tx)]);
        let declaration = Event::Instrument(reg.get(btc).unwrap().clone());
        // Position 0 declares; 1..=6 are trades at ts 1..=6.
        let chunk = |first: u64, from: i64, to: i64| Chunk {
            first,
            events: (from..=to).map(|t| trade(btc, t)).collect(),
        };
        router.route_chunk(Chunk {
            first: 0,
            events: vec![declaration],
        });
        router.route_chunk(chunk(1, 1, 4));
        // Another host's instance, checkpointed at position 2, taken over.
        let (b_tx, b_rx) = plugin_queue(16);
        router.apply(RouterCommand::Add(Box::new(
            Route::new("b", Filter::default(), b_tx)
                .resuming_after(Some(2))
                .after_rewind(),
        )));
        router.route_chunk(chunk(5, 5, 5));
        // The source reads again from position 3 (a marker, then events).
        router.route_chunk(Chunk {
            first: 3,
            events: Vec::new(),
        });
        router.route_chunk(chunk(3, 3, 6));
        router.flush_all();
        let ts = |rx: &crate::queue::BatchReceiver| -> Vec<i64> {
            let mut all = Vec::new();
            while let Ok(b) = rx.try_recv() {
                all.extend(
                    b.events
                        .iter()
                        .filter(|e| !matches!(e, Event::Instrument(_)))
                        .filter_map(Event::ts),
                );
            }
            all
        };
        assert_eq!(ts(&a_rx), [1, 2, 3, 4, 5, 6], "a: each event once");
        assert_eq!(
            ts(&b_rx),
            [3, 4, 5, 6],
            "b: from after its checkpoint, in order"
        );
    }

    #[test]
    fn an_instrument_declared_again_while_the_stream_is_read_again_keeps_batch_positions() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let settings = by_size(1000);
        let (tx, rx) = plugin_queue(16);
        let mut router = Router::new(settings, vec![Route::new("a", Filter::default(), tx)]);
        let declaration = || Event::Instrument(reg.get(btc).unwrap().clone());
        router.route_chunk(Chunk {
            first: 1,
            events: vec![declaration(), trade(btc, 1)],
        });
        router.route_chunk(Chunk {
            first: 3,
            events: vec![trade(btc, 2), trade(btc, 3)],
        });
        // Read again from position 1: the declaration comes again.
        router.route_chunk(Chunk {
            first: 1,
            events: vec![declaration(), trade(btc, 1)],
        });
        router.flush_all();
        let batch = rx.try_recv().unwrap();
        assert_eq!(batch.position, 4, "the batch ends at its last event");
        let kinds: Vec<bool> = batch
            .events
            .iter()
            .map(|e| matches!(e, Event::Instrument(_)))
            .collect();
        assert_eq!(kinds, [true, false, false, false], "declared once");
        router.route_chunk(Chunk {
            first: 5,
            events: vec![trade(btc, 4)],
        });
        router.flush_all();
        let batch = rx.try_recv().unwrap();
        assert_eq!((batch.position, batch.events.len()), (5, 1));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn commands_add_remove_and_refilter_routes_between_chunks() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let (eth, _) = reg.intern("binance", "ETHUSDT");
        let settings = by_size(1000);
        let (a_tx, a_rx) = plugin_queue(16);
        let mut router = Router::new(settings, vec![Route::new("a", Filter::default(), a_tx)]);
        for id in [btc, eth] {
            router.route(Event::Instrument(reg.get(id).unwrap().clone()));
        }
        router.route(trade(btc, 1));
        let (b_tx, b_rx) = plugin_queue(16);
        router.apply(RouterCommand::Add(Box::new(Route::new(
            "b",
            Filter::default(),
            b_tx,
        ))));
        router.route(trade(eth, 2));
        router.apply(RouterCommand::SetFilter(
            Arc::from("b"),
            Filter {
                symbols: vec![SymbolPattern::new("BTC*")],
                ..Filter::default()
            },
        ));
        router.route(trade(eth, 3));
        router.route(trade(btc, 4));
        router.apply(RouterCommand::Remove(Arc::from("a")));
        router.route(trade(btc, 5));
        router.flush_all();
        let ts = |b: Batch| -> Vec<i64> {
            b.events
                .iter()
                .filter(|e| !matches!(e, Event::Instrument(_)))
                .filter_map(Event::ts)
                .collect()
        };
        // b joined a's route (a batch ended there), so a's events come in
        // two batches.
        let mut a = Vec::new();
        while let Ok(batch) = a_rx.try_recv() {
            a.extend(ts(batch));
        }
        assert_eq!(a, [1, 2, 3, 4], "a saw all until removed");
        assert!(a_rx.recv().is_none(), "a's queue is closed once removed");
        let mut b = Vec::new();
        while let Ok(batch) = b_rx.try_recv() {
            b.extend(ts(batch));
        }
        assert_eq!(b, [2, 4, 5], "b: all from its start, then BTC only");
    }

    /// Drains a queue: per batch, its position, the timestamps of its
    /// market events, and its events' allocation (to see sharing).
    fn drain(rx: &crate::queue::BatchReceiver) -> Vec<(u64, Vec<i64>, Arc<Vec<Event>>)> {
        let mut all = Vec::new();
        while let Ok(b) = rx.try_recv() {
            let ts = b
                .events
                .iter()
                .filter(|e| !matches!(e, Event::Instrument(_)))
                .filter_map(Event::ts)
                .collect();
            all.push((b.position, ts, b.events));
        }
        all
    }

    #[test]
    fn routes_that_subscribe_alike_share_each_batch_from_the_start_or_once_declared() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let settings = by_size(2);
        let queues: Vec<_> = (0..3).map(|_| plugin_queue(16)).collect();
        let mut rxs = Vec::new();
        let mut routes = Vec::new();
        for (n, (tx, rx)) in queues.into_iter().enumerate() {
            routes.push(Route::new(&format!("p{n}"), Filter::default(), tx));
            rxs.push(rx);
        }
        let mut router = Router::new(settings, routes);
        // Another subscription: on its own.
        let (other_tx, other_rx) = plugin_queue(16);
        router.apply(RouterCommand::Add(Box::new(Route::new(
            "eth-only",
            Filter {
                symbols: vec![SymbolPattern::new("ETH*")],
                ..Filter::default()
            },
            other_tx,
        ))));
        router.route(Event::Instrument(reg.get(btc).unwrap().clone()));
        router.route(trade(btc, 1));
        let (late_tx, late_rx) = plugin_queue(16);
        router.apply(RouterCommand::Add(Box::new(Route::new(
            "late",
            Filter::default(),
            late_tx,
        ))));
        router.route(trade(btc, 2));
        router.route(trade(btc, 3));
        router.flush_all();
        let got: Vec<_> = rxs.iter().map(drain).collect();
        for g in &got {
            let shape: Vec<_> = g.iter().map(|(p, ts, _)| (*p, ts.clone())).collect();
            // Batches of two: the declaration and the first trade, then
            // two trades; positions are those of their last events.
            assert_eq!(shape, [(1, vec![1]), (3, vec![2, 3])]);
        }
        for (first, (second, third)) in got[0].iter().zip(got[1].iter().zip(&got[2])) {
            assert!(Arc::ptr_eq(&first.2, &second.2));
            assert!(Arc::ptr_eq(&first.2, &third.2));
        }
        assert!(drain(&other_rx).is_empty());
        let late = drain(&late_rx);
        let shape: Vec<_> = late.iter().map(|(p, ts, _)| (*p, ts.clone())).collect();
        // Joining a route that has carried events: first a batch of its own
        // declaring what the route declared (at the position the route had
        // reached), then the route's batches.
        assert_eq!(shape, [(1, vec![]), (3, vec![2, 3])]);
        assert!(matches!(late[0].2[..], [Event::Instrument(_)]));
        assert!(Arc::ptr_eq(&late[1].2, &got[0][1].2));
    }

    #[test]
    fn a_plugin_leaving_a_shared_route_takes_what_was_routed_and_the_rest_go_on() {
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let (eth, _) = reg.intern("binance", "ETHUSDT");
        let settings = by_size(1000);
        let names = ["a", "b", "c", "d"];
        let mut rxs = Vec::new();
        let mut routes = Vec::new();
        for name in names {
            let (tx, rx) = plugin_queue(16);
            routes.push(Route::new(name, Filter::default(), tx));
            rxs.push(rx);
        }
        let mut router = Router::new(settings, routes);
        for id in [btc, eth] {
            router.route(Event::Instrument(reg.get(id).unwrap().clone()));
        }
        router.route(trade(btc, 1));
        router.route(trade(eth, 2));
        // The route's first plugin leaves: the others carry on with it.
        router.apply(RouterCommand::Remove(Arc::from("a")));
        router.route(trade(btc, 3));
        // Another changes its subscription: on its own from here, with the
        // instruments it was told already.
        router.apply(RouterCommand::SetFilter(
            Arc::from("c"),
            Filter {
                symbols: vec![SymbolPattern::new("BTC*")],
                ..Filter::default()
            },
        ));
        router.route(trade(eth, 4));
        router.route(trade(btc, 5));
        // One's worker is gone: the others are not held back by it.
        drop(rxs.remove(3));
        router.route(trade(eth, 6));
        router.flush_all();
        let ts = |rx: &crate::queue::BatchReceiver| -> Vec<i64> {
            drain(rx).into_iter().flat_map(|(_, ts, _)| ts).collect()
        };
        assert_eq!(ts(&rxs[0]), [1, 2], "a: until it left");
        assert!(rxs[0].recv().is_none(), "a's queue is closed");
        assert_eq!(ts(&rxs[1]), [1, 2, 3, 4, 5, 6], "b: everything, once");
        let c = drain(&rxs[2]);
        let c_ts: Vec<i64> = c.iter().flat_map(|(_, ts, _)| ts.clone()).collect();
        assert_eq!(c_ts, [1, 2, 3, 5], "c: then BTC only");
        // No declaration again: c's route kept what c was told.
        let declarations = c
            .iter()
            .flat_map(|(_, _, e)| e.iter())
            .filter(|e| matches!(e, Event::Instrument(_)))
            .count();
        assert_eq!(declarations, 2);
    }
}
