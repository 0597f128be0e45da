//! A plugin's bounded batch queue, with its depth visible as a gauge.

use crossbeam_channel::{Receiver, Sender, TryRecvError, bounded};
use prism_model::Event;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Events for one plugin, in stream order; instrument declarations precede
/// the first event that uses them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Shared by every plugin whose route makes the same batch (see
    /// [`Router`](crate::Router)): a batch's events are stored once however
    /// many plugins hold it in their queues and recovery lists.
    pub events: Arc<Vec<Event>>,
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

/// Called when a queue has something new for its receiver: a batch, or
/// the end of the stream (its last sender dropped). It must be cheap and
/// must not block: it runs on the router's thread, after every batch.
pub type QueueWaker = Arc<dyn Fn() + Send + Sync>;

/// What the senders of one queue share: the gauge and the waker. Dropped
/// with the last sender, it wakes the receiver to see the end.
struct SenderSide {
    depth: Arc<AtomicUsize>,
    waker: Arc<OnceLock<QueueWaker>>,
}

impl SenderSide {
    fn wake(&self) {
        if let Some(wake) = self.waker.get() {
            wake();
        }
    }
}

impl Drop for SenderSide {
    fn drop(&mut self) {
        // The last `BatchSender` drops its channel sender (its first field)
        // before this: the receiver that wakes finds the queue closed.
        self.wake();
    }
}

impl std::fmt::Debug for SenderSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderSide")
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

/// The sending half: `send` blocks while the queue is full.
#[derive(Debug, Clone)]
pub struct BatchSender {
    // Declared first, so dropped first: see `SenderSide`'s `Drop`.
    tx: Sender<Batch>,
    side: Arc<SenderSide>,
}

/// The receiving half, owned by the plugin's worker.
pub struct BatchReceiver {
    rx: Receiver<Batch>,
    depth: Arc<AtomicUsize>,
    waker: Arc<OnceLock<QueueWaker>>,
}

impl std::fmt::Debug for BatchReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchReceiver")
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

/// Makes a queue holding at most `capacity` batches (at least 1).
#[must_use]
pub fn plugin_queue(capacity: usize) -> (BatchSender, BatchReceiver) {
    let (tx, rx) = bounded(capacity.max(1));
    let depth = Arc::new(AtomicUsize::new(0));
    let waker = Arc::new(OnceLock::new());
    (
        BatchSender {
            tx,
            side: Arc::new(SenderSide {
                depth: depth.clone(),
                waker: waker.clone(),
            }),
        },
        BatchReceiver { rx, depth, waker },
    )
}

/// The worker behind the queue has gone; the batch comes back.
#[derive(Debug, thiserror::Error)]
#[error("the plugin's worker has stopped")]
pub struct Disconnected(pub Batch);

impl BatchSender {
    /// Queues a batch, waiting while the queue is full (backpressure), and
    /// wakes the receiver.
    ///
    /// # Errors
    /// [`Disconnected`] when the worker is gone.
    pub fn send(&self, batch: Batch) -> Result<(), Disconnected> {
        self.side.depth.fetch_add(1, Ordering::Relaxed);
        match self.tx.send(batch) {
            Ok(()) => {
                self.side.wake();
                Ok(())
            }
            Err(e) => {
                self.side.depth.fetch_sub(1, Ordering::Relaxed);
                Err(Disconnected(e.0))
            }
        }
    }

    /// Batches waiting in the queue now.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.side.depth.load(Ordering::Relaxed)
    }

    /// A handle that reads the depth.
    #[must_use]
    pub fn depth_gauge(&self) -> Arc<AtomicUsize> {
        self.side.depth.clone()
    }
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
    /// [`TryRecvError::Empty`] when none is waiting,
    /// [`TryRecvError::Disconnected`] once the stream has ended and the
    /// queue is drained.
    pub fn try_recv(&self) -> Result<Batch, TryRecvError> {
        let batch = self.rx.try_recv()?;
        self.depth.fetch_sub(1, Ordering::Relaxed);
        Ok(batch)
    }

    /// Has `waker` called after every batch sent from now on and when the
    /// last sender goes. A queue has one waker: a second is refused (the
    /// waker comes back).
    ///
    /// # Errors
    /// The waker, when one is set already.
    pub fn set_waker(&self, waker: QueueWaker) -> Result<(), QueueWaker> {
        self.waker.set(waker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waker_hears_every_batch_and_the_end_and_depth_is_kept() {
        let (tx, rx) = plugin_queue(4);
        let woken = Arc::new(AtomicUsize::new(0));
        let count = woken.clone();
        assert!(
            rx.set_waker(Arc::new(move || {
                count.fetch_add(1, Ordering::SeqCst);
            }))
            .is_ok()
        );
        assert!(rx.set_waker(Arc::new(|| {})).is_err(), "one waker a queue");
        let second = tx.clone();
        tx.send(Batch::default()).unwrap();
        second.send(Batch::default()).unwrap();
        assert_eq!(woken.load(Ordering::SeqCst), 2);
        assert_eq!(tx.depth(), 2);
        drop(tx);
        assert_eq!(woken.load(Ordering::SeqCst), 2, "a sender is left");
        assert!(rx.try_recv().is_ok());
        assert_eq!(second.depth(), 1);
        drop(second);
        assert_eq!(woken.load(Ordering::SeqCst), 3, "the end wakes");
        // The end is seen only once the queue is drained.
        assert!(rx.try_recv().is_ok());
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Disconnected)));
    }
}
