//! The fan-out to sinks, each behind its own bounded queue and thread.

use crate::{Sink, SinkError};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use prism_model::Delivery;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What the stage does when a sink's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Wait for room: nothing is lost, and the pipeline slows down to the
    /// sink's pace (for sinks that keep data; a sink that must not slow the
    /// pipeline during an outage spools in its own thread instead).
    Wait,
    /// Drop the batch (or checkpoint) and count it: for live viewers,
    /// which must never slow the pipeline and keep nothing a checkpoint
    /// would commit.
    Drop,
}

/// A sink with its queue's size and overflow rule.
pub struct SinkSpec {
    name: String,
    sink: Box<dyn Sink>,
    capacity: usize,
    overflow: Overflow,
}

impl SinkSpec {
    /// `sink`, called `name` in logs and metrics, behind a queue of
    /// `capacity` batches (at least 1).
    pub fn new(
        name: impl Into<String>,
        sink: impl Sink + 'static,
        capacity: usize,
        overflow: Overflow,
    ) -> Self {
        Self {
            name: name.into(),
            sink: Box::new(sink),
            capacity: capacity.max(1),
            overflow,
        }
    }
}

/// A sink's counters, readable while it runs.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    pub name: String,
    /// Batches waiting in the sink's queue.
    pub queued: AtomicUsize,
    /// Outputs the sink took.
    pub written: AtomicU64,
    /// Batches dropped because the queue was full ([`Overflow::Drop`]) or
    /// the sink had failed.
    pub dropped: AtomicU64,
    error: Mutex<Option<String>>,
}

impl SinkMetrics {
    /// The error that failed the sink, if any.
    #[must_use]
    pub fn error(&self) -> Option<String> {
        self.error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

struct Lane {
    tx: Sender<Arc<Delivery>>,
    overflow: Overflow,
    metrics: Arc<SinkMetrics>,
}

/// The running sink stage. Dropping every sender of its input ends it.
pub struct SinkStage {
    fan_out: JoinHandle<u64>,
    sinks: Vec<JoinHandle<Result<(), SinkError>>>,
    metrics: Vec<Arc<SinkMetrics>>,
}

impl SinkStage {
    /// Starts one thread per sink and the fan-out thread reading `input`.
    ///
    /// # Errors
    /// When the OS refuses a thread.
    pub fn start(input: Receiver<Delivery>, specs: Vec<SinkSpec>) -> std::io::Result<Self> {
        let mut lanes = Vec::with_capacity(specs.len());
        let mut sinks = Vec::with_capacity(specs.len());
        let mut metrics = Vec::with_capacity(specs.len());
        for spec in specs {
            let (tx, rx) = bounded(spec.capacity);
            let m = Arc::new(SinkMetrics {
                name: spec.name.clone(),
                ..SinkMetrics::default()
            });
            let thread_metrics = m.clone();
            let mut sink = spec.sink;
            sinks.push(
                std::thread::Builder::new()
                    .name(format!("prism-sink-{}", spec.name))
                    .spawn(move || drain(&mut *sink, &rx, &thread_metrics))?,
            );
            lanes.push(Lane {
                tx,
                overflow: spec.overflow,
                metrics: m.clone(),
            });
            metrics.push(m);
        }
        let fan_out = std::thread::Builder::new()
            .name("prism-sinks".into())
            .spawn(move || fan_out(&input, &lanes))?;
        Ok(Self {
            fan_out,
            sinks,
            metrics,
        })
    }

    /// Each sink's counters, in the order the sinks were given.
    #[must_use]
    pub fn metrics(&self) -> Vec<Arc<SinkMetrics>> {
        self.metrics.clone()
    }

    /// Waits until the input has closed and every sink has taken (and
    /// finished) what it was given; returns the number of outputs that
    /// went through the stage.
    ///
    /// # Errors
    /// The first error of a sink, or a thread that panicked.
    pub fn finish(self) -> Result<u64, SinkError> {
        let panicked = |what: &str| SinkError::Other {
            sink: what.to_owned(),
            message: "its thread panicked".into(),
        };
        let count = self.fan_out.join().map_err(|_| panicked("fan-out"))?;
        let mut first = None;
        for (handle, m) in self.sinks.into_iter().zip(&self.metrics) {
            let result = handle.join().map_err(|_| panicked(&m.name)).and_then(|r| r);
            if let Err(e) = result {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(count), Err)
    }
}

fn fan_out(input: &Receiver<Delivery>, lanes: &[Lane]) -> u64 {
    let mut count = 0u64;
    while let Ok(delivery) = input.recv() {
        if let Delivery::Outputs(batch) = &delivery {
            count += batch.outputs.len() as u64;
        }
        let delivery = Arc::new(delivery);
        for lane in lanes {
            lane.metrics.queued.fetch_add(1, Ordering::Relaxed);
            let sent = match lane.overflow {
                Overflow::Wait => lane.tx.send(delivery.clone()).is_ok(),
                Overflow::Drop => match lane.tx.try_send(delivery.clone()) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
                },
            };
            if !sent {
                lane.metrics.queued.fetch_sub(1, Ordering::Relaxed);
                lane.metrics.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    count
}

fn drain(
    sink: &mut dyn Sink,
    rx: &Receiver<Arc<Delivery>>,
    metrics: &SinkMetrics,
) -> Result<(), SinkError> {
    let mut failed: Option<SinkError> = None;
    while let Ok(delivery) = rx.recv() {
        metrics.queued.fetch_sub(1, Ordering::Relaxed);
        if failed.is_some() {
            metrics.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let result = match &*delivery {
            Delivery::Outputs(batch) => sink.write(batch).map(|()| {
                metrics
                    .written
                    .fetch_add(batch.outputs.len() as u64, Ordering::Relaxed);
            }),
            Delivery::Checkpoint(c) => sink.checkpoint(c),
            Delivery::Rejected(r) => sink.rejected(r),
            Delivery::Registry(c) => sink.registry(c),
            Delivery::Archive(a) => sink.archive(a),
            Delivery::Execution(r) => sink.execution(r),
        }
        .and_then(|()| if rx.is_empty() { sink.idle() } else { Ok(()) });
        if let Err(e) = result {
            failed = Some(fail(metrics, e));
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    sink.finish().map_err(|e| fail(metrics, e))
}

fn fail(metrics: &SinkMetrics, e: SinkError) -> SinkError {
    tracing::error!(sink = %metrics.name, "the sink failed; it takes no more outputs: {e}");
    *metrics
        .error
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e.to_string());
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::{Output, OutputBatch, SeriesPoint};
    use std::time::Duration;

    fn batch(plugin: &str, n: usize) -> Delivery {
        let point = |i: usize| {
            Output::Series(SeriesPoint {
                name: "x".into(),
                instrument: None,
                ts: i as i64,
                value: 0.0,
            })
        };
        Delivery::Outputs(OutputBatch {
            plugin: plugin.into(),
            position: n as u64,
            previous: None,
            outputs: (0..n).map(point).collect(),
        })
    }

    /// Takes batches only when told to.
    struct Gate(Receiver<()>, Arc<Mutex<Vec<i64>>>);
    impl Sink for Gate {
        fn write(&mut self, b: &OutputBatch) -> Result<(), SinkError> {
            let _ = self.0.recv();
            self.1.lock().unwrap().push(b.outputs.len() as i64);
            Ok(())
        }
    }

    struct Collect(Arc<Mutex<Vec<i64>>>);
    impl Sink for Collect {
        fn write(&mut self, b: &OutputBatch) -> Result<(), SinkError> {
            self.0.lock().unwrap().push(b.outputs.len() as i64);
            Ok(())
        }
    }

    #[test]
    fn a_stuck_dropping_sink_slows_neither_the_input_nor_the_others() {
        let (open, gate) = crossbeam_channel::unbounded();
        let stuck = Arc::new(Mutex::new(Vec::new()));
        let fast = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = bounded(1);
        let stage = SinkStage::start(
            rx,
            vec![
                SinkSpec::new("live", Gate(gate, stuck.clone()), 2, Overflow::Drop),
                SinkSpec::new("store", Collect(fast.clone()), 2, Overflow::Wait),
            ],
        )
        .unwrap();
        // The stuck sink holds one batch and queues two; the rest is dropped
        // for it, while the other sink gets all 100 in order.
        for n in 1..=100 {
            tx.send_timeout(batch("p", n), Duration::from_secs(5))
                .expect("the input never waits for a dropping sink");
        }
        let metrics = stage.metrics();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while fast.lock().unwrap().len() < 100 {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(*fast.lock().unwrap(), (1..=100).collect::<Vec<i64>>());
        assert!(metrics[0].dropped.load(Ordering::Relaxed) >= 97);
        for _ in 0..100 {
            let _ = open.send(());
        }
        drop(tx);
        assert_eq!(stage.finish().unwrap(), (1..=100).sum::<u64>());
        let kept = stuck.lock().unwrap().len() as u64;
        assert_eq!(kept + metrics[0].dropped.load(Ordering::Relaxed), 100);
        assert_eq!(metrics[1].written.load(Ordering::Relaxed), 5050);
    }

    struct Broken;
    impl Sink for Broken {
        fn write(&mut self, _: &OutputBatch) -> Result<(), SinkError> {
            Err(SinkError::Other {
                sink: "broken".into(),
                message: "disk full".into(),
            })
        }
    }

    #[test]
    fn a_failed_sink_is_reported_and_takes_no_more() {
        let (tx, rx) = bounded(4);
        let stage =
            SinkStage::start(rx, vec![SinkSpec::new("broken", Broken, 4, Overflow::Wait)]).unwrap();
        let metrics = stage.metrics();
        for n in 1..=3 {
            tx.send(batch("p", n)).unwrap();
        }
        drop(tx);
        let err = stage.finish().unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(metrics[0].dropped.load(Ordering::Relaxed), 2);
        assert!(metrics[0].error().unwrap().contains("disk full"));
    }
}
