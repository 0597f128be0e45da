//! A plugin's bounded batch queue, with its depth visible as a gauge.

use prism_model::Event;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvError, SyncSender, TryRecvError, sync_channel};

/// Events for one plugin, in stream order; instrument declarations precede
/// the first event that uses them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub events: Vec<Event>,
}

impl Batch {
    /// Events that count as delivered (declarations excluded).
    #[must_use]
    pub fn market_events(&self) -> usize {
        self.events
            .iter()
            .filter(|e| !matches!(e, Event::Instrument(_)))
            .count()
    }
}

/// The sending half: `send` blocks while the queue is full.
#[derive(Debug, Clone)]
pub struct BatchSender {
    tx: SyncSender<Batch>,
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
    let (tx, rx) = sync_channel(capacity.max(1));
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

impl BatchReceiver {
    /// Waits for the next batch; `Err` once every sender is gone and the queue is empty.
    ///
    /// # Errors
    /// [`RecvError`] at the end of the stream.
    pub fn recv(&self) -> Result<Batch, RecvError> {
        let batch = self.rx.recv()?;
        self.depth.fetch_sub(1, Ordering::Relaxed);
        Ok(batch)
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
}
