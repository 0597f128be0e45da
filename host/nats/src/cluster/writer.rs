//! Writing the instances' states off the sinks' thread: the newest state of
//! each instance waits (older ones are superseded, so the wait is bounded by
//! the number of instances), and one task stores them, retrying.

use super::{StateStore, StoredState};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Shared {
    /// The newest state of each instance not yet stored.
    pending: Mutex<HashMap<String, StoredState>>,
    /// Instances whose states this host may write (it holds their lease).
    allowed: Mutex<HashSet<String>>,
    /// Instances whose last state (their worker ended) is stored.
    last_stored: Mutex<HashSet<String>>,
    /// Instances not written here whose last state came (their worker
    /// ended, and every output before it is in the stream).
    ended: Mutex<HashSet<String>>,
    /// States being written now.
    writing: std::sync::atomic::AtomicUsize,
    wake: tokio::sync::Notify,
    last_error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hands states to the task that stores them.
#[derive(Clone)]
pub struct StateWriter {
    shared: Arc<Shared>,
}

impl StateWriter {
    /// Starts the writing task on `handle`.
    #[must_use]
    pub fn spawn(store: StateStore, handle: &tokio::runtime::Handle) -> Self {
        let shared = Arc::new(Shared::default());
        let task = shared.clone();
        handle.spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                let next = {
                    let mut pending = lock(&task.pending);
                    let key = pending.keys().next().cloned();
                    key.and_then(|k| pending.remove(&k).map(|s| (k, s)))
                };
                let Some((instance, state)) = next else {
                    task.wake.notified().await;
                    continue;
                };
                task.writing
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let result = store.put(&instance, &state).await;
                match result {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        if state.last {
                            lock(&task.last_stored).insert(instance);
                        }
                    }
                    Err(e) => {
                        *lock(&task.last_error) = Some(e.to_string());
                        tracing::warn!(%instance, "storing a state failed ({e}); trying again");
                        // Unless a newer one came meanwhile.
                        if lock(&task.allowed).contains(&instance) {
                            lock(&task.pending).entry(instance).or_insert(state);
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
                task.writing
                    .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        Self { shared }
    }

    /// Takes `state` as `instance`'s newest, if this host may write it.
    pub fn offer(&self, instance: &str, state: StoredState) {
        if !lock(&self.shared.allowed).contains(instance) {
            if state.last {
                lock(&self.shared.ended).insert(instance.to_owned());
            }
            return;
        }
        lock(&self.shared.pending).insert(instance.to_owned(), state);
        self.shared.wake.notify_one();
    }

    /// This host holds `instance`'s partition: its states are written.
    pub fn allow(&self, instance: &str) {
        lock(&self.shared.allowed).insert(instance.to_owned());
        lock(&self.shared.last_stored).remove(instance);
        lock(&self.shared.ended).remove(instance);
    }

    /// This host lost `instance`'s partition: nothing more of it is
    /// written (another host writes it now).
    pub fn forbid(&self, instance: &str) {
        lock(&self.shared.allowed).remove(instance);
        lock(&self.shared.pending).remove(instance);
    }

    /// Whether `instance`, no longer written here, has ended: its last
    /// checkpoint came after its last outputs were in the stream.
    #[must_use]
    pub fn ended(&self, instance: &str) -> bool {
        lock(&self.shared.ended).contains(instance)
    }

    /// Whether `instance`'s last state (taken as its worker ended, after
    /// its last outputs were in the stream) is stored.
    #[must_use]
    pub fn last_stored(&self, instance: &str) -> bool {
        lock(&self.shared.last_stored).contains(instance)
    }

    /// The last failure to store a state, if any.
    #[must_use]
    pub fn last_error(&self) -> Option<String> {
        lock(&self.shared.last_error).clone()
    }

    /// Waits until every state handed over is stored, or `until`; true
    /// when none is left.
    pub fn flush(&self, until: Instant) -> bool {
        loop {
            let idle = lock(&self.shared.pending).is_empty()
                && self
                    .shared
                    .writing
                    .load(std::sync::atomic::Ordering::SeqCst)
                    == 0;
            if idle {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
