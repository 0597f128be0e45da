//! A plugin's bounded batch queue, with its depth visible as a gauge.

use crossbeam_channel::{Receiver, RecvTimeoutError, Select, Sender, TryRecvError, bounded};
use prism_model::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Events for one plugin, in stream order; instrument declarations precede
/// the first event that uses them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub events: Vec<Event>,
    /// The stream position of the last source event in the batch; a
    /// plugin's batches have increasing positions, so this identifies the
    /// batch (and, with an index, each of its outputs).
    pub position: u64,
    /// The position of the plugin's batch before this one, if any: this
    /// batch holds the plugin's events after it, up to `position`. A
    /// restart that must make the same batch again ends a batch there
    /// first.
    pub previous: Option<u64>,
}

impl Batch {
    /// Events that count as delivered (see [`Event::is_market`]).
    #[must_use]
    pub fn market_events(&self) -> usize {
        self.events.iter().filter(|e| e.is_market()).count()
    }
}

/// The sending half: `send` blocks while the queue is full.
#[derive(Debug, Clone)]
pub struct BatchSender {
    tx: Sender<Batch>,
    depth: Arc<AtomicUsize>,
}

/// The receiving half, owned by the plugin's worker.
#[derive(Debug)]
pub struct BatchReceiver {
    rx: Receiver<Batch>,
    depth: Arc<AtomicUsize>,
}

/// Makes a queue holding at most `capacity` batches (at least 1).
#[must_use]
pub fn plugin_queue(capacity: usize) -> (BatchSender, BatchReceiver) {
    let (tx, rx) = bounded(capacity.max(1));
    let depth = Arc::new(AtomicUsize::new(0));
    (
        BatchSender {
            tx,
            depth: depth.clone(),
        },
        BatchReceiver { rx, depth },
    )
}

/// The worker behind the queue has gone; the batch comes back.
#[derive(Debug, thiserror::Error)]
#[error("the plugin's worker has stopped")]
pub struct Disconnected(pub Batch);

impl BatchSender {
    /// Queues a batch, waiting while the queue is full (backpressure).
    ///
    /// # Errors
    /// [`Disconnected`] when the worker is gone.
    pub fn send(&self, batch: Batch) -> Result<(), Disconnected> {
        self.depth.fetch_add(1, Ordering::Relaxed);
        self.tx.send(batch).map_err(|e| {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            Disconnected(e.0)
        })
    }

    /// Batches waiting in the queue now.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// A handle that reads the depth.
    #[must_use]
    pub fn depth_gauge(&self) -> Arc<AtomicUsize> {
        self.depth.clone()
    }
}

/// What [`BatchReceiver::recv_or`] woke up for.
#[derive(Debug)]
pub enum Wake<C> {
    /// The next batch.
    Batch(Batch),
    /// A message on the other channel (control messages come first when
    /// both are ready, so a swap is never starved by a busy stream).
    Other(C),
    /// Nothing arrived within the timeout.
    Idle,
    /// The batch queue is closed and drained.
    Closed,
}

impl BatchReceiver {
    /// Waits for the next batch; `None` once every sender is gone and the queue is empty.
    #[must_use]
    pub fn recv(&self) -> Option<Batch> {
        let batch = self.rx.recv().ok()?;
        self.depth.fetch_sub(1, Ordering::Relaxed);
        Some(batch)
    }

    /// Takes a batch if one is waiting.
    ///
    /// # Errors
    /// [`TryRecvError`] when none is waiting or the stream ended.
    pub fn try_recv(&self) -> Result<Batch, TryRecvError> {
        let batch = self.rx.try_recv()?;
        self.depth.fetch_sub(1, Ordering::Relaxed);
        Ok(batch)
    }

    /// Waits up to `timeout` for a batch or a message on `other`, whichever
    /// comes first; `other` wins a tie. A closed `other` is ignored (the
    /// worker then lives on its batch queue alone).
    pub fn recv_or<C>(&self, other: &Receiver<C>, timeout: Duration) -> Wake<C> {
        if let Ok(c) = other.try_recv() {
            return Wake::Other(c);
        }
        let mut select = Select::new();
        let batches = select.recv(&self.rx);
        let others = select.recv(other);
        let Ok(ready) = select.select_timeout(timeout) else {
            return Wake::Idle;
        };
        if ready.index() == others {
            return match ready.recv(other) {
                Ok(c) => Wake::Other(c),
                // Closed: fall back to the queue alone.
                Err(_) => match self.rx.recv_timeout(timeout) {
                    Ok(b) => self.took(b),
                    Err(RecvTimeoutError::Timeout) => Wake::Idle,
                    Err(RecvTimeoutError::Disconnected) => Wake::Closed,
                },
            };
        }
        debug_assert_eq!(ready.index(), batches);
        match ready.recv(&self.rx) {
            Ok(b) => self.took(b),
            Err(_) => Wake::Closed,
        }
    }

    fn took<C>(&self, batch: Batch) -> Wake<C> {
        self.depth.fetch_sub(1, Ordering::Relaxed);
        Wake::Batch(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_win_and_depth_is_kept() {
        let (tx, rx) = plugin_queue(4);
        let (ctl_tx, ctl_rx) = crossbeam_channel::unbounded::<&str>();
        tx.send(Batch::default()).unwrap();
        ctl_tx.send("swap").unwrap();
        assert_eq!(tx.depth(), 1);
        assert!(matches!(
            rx.recv_or(&ctl_rx, Duration::ZERO),
            Wake::Other("swap")
        ));
        assert!(matches!(
            rx.recv_or(&ctl_rx, Duration::ZERO),
            Wake::Batch(_)
        ));
        assert_eq!(tx.depth(), 0);
        assert!(matches!(
            rx.recv_or(&ctl_rx, Duration::from_millis(1)),
            Wake::Idle
        ));
        drop(tx);
        drop(ctl_tx);
        assert!(matches!(
            rx.recv_or(&ctl_rx, Duration::from_millis(1)),
            Wake::Closed
        ));
    }
}
