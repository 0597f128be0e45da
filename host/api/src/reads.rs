//! Work off the async reactor: reads of the stores, bounded in number, and
//! control operations (which compile and start components).
//!
//! A list or a statistic copies and serializes up to thousands of entries:
//! done on the reactor, a flood of such requests would starve `/health`.
//! Each runs on the blocking pool instead, at most `concurrent` at once;
//! at most `queued` more wait for a turn, and past that the answer is
//! `503 busy` at once. Statistics over windows are cached for a moment, as
//! long as nothing new was stored or for at most [`FRESH`].

use crate::error::ApiError;
use crate::state::AppState;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// How long a cached view is served after new outputs arrived.
const FRESH: Duration = Duration::from_millis(500);
/// Views cached at most (they are keyed by query).
const CACHED: usize = 256;

/// Items a page may hold and still be read on the reactor (see
/// [`read_small`]).
pub(crate) const INLINE_ITEMS: usize = 256;

/// Runs `read` at once on the reactor when it is `small` and only memory
/// answers it (no database configured), else as [`read`].
///
/// The hand-off to the blocking pool costs more than such a read (two
/// thread wake-ups against a few microseconds of copying), and at tens of
/// thousands of requests a second it was most of the server's work. The
/// caller says what small means: a page of at most [`INLINE_ITEMS`] items
/// taken from one bounded collection, so the reactor is never held long.
/// The read takes the store's read lock, which the memory sink holds for
/// writing only while it inserts one batch (a longer read ahead of that
/// writer can delay it as long).
///
/// # Errors
/// As [`read`].
pub(crate) async fn read_small<T: Send + 'static>(
    state: &AppState,
    small: bool,
    read: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if small && state.postgres.is_none() {
        return read(state);
    }
    self::read(state, read).await
}

/// A view as computed: the store generation it saw, when, and the view.
type CachedView = (u64, Instant, Arc<Value>);

/// The read pool and the view cache.
#[derive(Debug)]
pub(crate) struct Reads {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queued: usize,
    cache: Mutex<HashMap<String, CachedView>>,
}

impl Reads {
    pub(crate) fn new(concurrent: usize, queued: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
            waiting: AtomicUsize::new(0),
            queued,
            cache: Mutex::default(),
        }
    }
}

/// Runs `read` on the blocking pool when a turn is free.
///
/// # Errors
/// `503 busy` when too many reads wait; whatever `read` returns.
pub(crate) async fn read<T: Send + 'static>(
    state: &AppState,
    read: impl FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let pool = &state.reads;
    if pool.waiting.fetch_add(1, Ordering::AcqRel) >= pool.queued {
        pool.waiting.fetch_sub(1, Ordering::AcqRel);
        return Err(ApiError::busy(
            "too many reads are waiting (api.max_queued_reads); retry in a moment",
        ));
    }
    let permit = pool.permits.clone().acquire_owned().await;
    pool.waiting.fetch_sub(1, Ordering::AcqRel);
    let permit = permit.map_err(|e| ApiError::internal(&e))?;
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let _turn = permit;
        read(&state)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
}

/// A view computed by `compute`, from the cache when it is still good.
///
/// # Errors
/// As [`read`].
pub(crate) async fn cached_view(
    state: &AppState,
    key: String,
    compute: impl FnOnce(&AppState) -> Result<Value, ApiError> + Send + 'static,
) -> Result<Arc<Value>, ApiError> {
    let generation = state.store.generation();
    if let Some((g, at, view)) = state
        .reads
        .cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
        && (*g == generation || at.elapsed() < FRESH)
    {
        return Ok(view.clone());
    }
    read(state, move |s| {
        let view = Arc::new(compute(s)?);
        let mut cache = s
            .reads
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert(key, (generation, Instant::now(), view.clone()));
        Ok(view)
    })
    .await
}

/// Runs a control operation on the blocking pool.
///
/// # Errors
/// The operation's error, in the API's shape.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    op: impl FnOnce(&dyn prism_control::PluginControl) -> Result<T, prism_control::ControlError>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let control = state.control.clone();
    tokio::task::spawn_blocking(move || op(control.as_ref()))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(ApiError::from)
}
