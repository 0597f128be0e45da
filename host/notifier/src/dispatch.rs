//! The tasks: one per channel delivering its outbox, and one keeping house
//! (closing de-duplication windows, saving what is owed).

use crate::Inner;
use crate::limits::{backoff_ms, unit_random};
use crate::outbox::Waiting;
use crate::pending::{self, Saved};
use crate::view::DeliveryStatus;
use prism_model::wall_ms;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the house is kept: windows closed, owed deliveries saved.
const HOUSEKEEPING: Duration = Duration::from_millis(250);

/// What a channel's task does next.
enum Next {
    /// Nothing queued: wait for a wake-up.
    Idle,
    /// Something is queued but not yet due (backoff or rate limit).
    Until(i64),
    Attempt(Waiting),
}

/// Delivers lane `l`'s outbox, most urgent first, at the channel's pace.
pub(crate) async fn run_lane(inner: Arc<Inner>, l: usize) {
    let wake = inner.lock().lanes[l].wake.clone();
    loop {
        if inner.stopping.load(Ordering::SeqCst) {
            return;
        }
        let next = {
            let mut state = inner.lock();
            let now = wall_ms();
            let lane = &mut state.lanes[l];
            match lane.outbox.next_due_ms() {
                None => Next::Idle,
                Some(t) if t > now => Next::Until(t),
                Some(_) => match lane.rate.take(now) {
                    Err(t) => Next::Until(t),
                    Ok(()) => match lane.outbox.pop_due(now) {
                        Some(w) => Next::Attempt(w),
                        None => Next::Idle,
                    },
                },
            }
        };
        match next {
            Next::Idle => {
                tokio::select! {
                    () = wake.notified() => {}
                    () = inner.stop.notified() => return,
                }
            }
            Next::Until(t) => {
                let wait = Duration::from_millis(u64::try_from(t - wall_ms()).unwrap_or(0).max(1));
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = wake.notified() => {}
                    () = inner.stop.notified() => return,
                }
            }
            Next::Attempt(w) => attempt(&inner, l, w).await,
        }
    }
}

/// One attempt, and what follows from it.
async fn attempt(inner: &Arc<Inner>, l: usize, mut w: Waiting) {
    let (channel, owed) = {
        let state = inner.lock();
        let owed = state
            .owed
            .get(&w.seq)
            .filter(|o| o.lanes.contains(&l))
            .map(|o| (o.notification.clone(), o.raised_at_ms));
        (state.lanes[l].channel.clone(), owed)
    };
    // Settled meanwhile (dropped to make room): nothing to do.
    let Some((n, raised_at_ms)) = owed else {
        return;
    };
    let text = n.render(&inner.templates);
    let outcome = channel.deliver(&inner.client, &n, &text).await;
    let now = wall_ms();
    let mut state = inner.lock();
    let metrics = state.lanes[l].metrics.clone();
    let view = match outcome {
        Ok(()) => {
            metrics.note_sent(u64::try_from(now - raised_at_ms).unwrap_or(0), now);
            state.settle(l, w.seq, DeliveryStatus::Sent, None)
        }
        Err(f) => {
            metrics.note_error(&f.message);
            let expired = now.saturating_sub(raised_at_ms) >= inner.timing.give_up_ms;
            if f.retry && !expired {
                metrics.retried.fetch_add(1, Ordering::Relaxed);
                w.attempts += 1;
                let wait = backoff_ms(
                    inner.timing.retry_initial_ms,
                    inner.timing.retry_max_ms,
                    w.attempts,
                    unit_random(),
                )
                .max(f.retry_after_ms.unwrap_or(0));
                w.not_before_ms = now + i64::try_from(wait).unwrap_or(i64::MAX / 2);
                tracing::debug!(channel = %channel.name, id = %n.id, error = %f.message, wait_ms = wait, "delivery failed; will retry");
                let seq = w.seq;
                let view = state.settle(l, seq, DeliveryStatus::Pending, Some(f.message));
                if state.enqueue(l, w) {
                    view
                } else {
                    state.settle(l, seq, DeliveryStatus::Dropped, None)
                }
            } else {
                metrics.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel = %channel.name, id = %n.id, error = %f.message, "delivery failed for good");
                state.settle(l, w.seq, DeliveryStatus::Failed, Some(f.message))
            }
        }
    };
    drop(state);
    inner.announce(view);
}

/// Closes de-duplication windows (sending their summaries) and saves what
/// is owed when it changed.
pub(crate) async fn housekeeping(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(HOUSEKEEPING) => {}
            () = inner.stop.notified() => return,
        }
        let views = {
            let mut state = inner.lock();
            let closed = state.dedup.expire(wall_ms());
            let mut views = Vec::new();
            for s in closed {
                views.extend(state.summarize(&s));
            }
            views
        };
        inner.announce(views);
        let inner = inner.clone();
        let _ = tokio::task::spawn_blocking(move || save_now(&inner)).await;
    }
}

/// Saves what is owed and the watermarks, if they changed.
pub(crate) fn save_now(inner: &Inner) {
    let Some(path) = &inner.saved_at else {
        return;
    };
    let _one = inner
        .saving
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let saved = {
        let mut state = inner.lock();
        if !state.dirty {
            return;
        }
        state.dirty = false;
        Saved::of(&state)
    };
    match pending::store(path, &saved) {
        Ok(()) => inner.save_failing.store(false, Ordering::Relaxed),
        Err(e) => {
            // Said once per run of failures, not every 250 ms.
            if !inner.save_failing.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    "cannot save the notifier's owed deliveries to {} (retrying): {e}",
                    path.display()
                );
            }
            inner.lock().dirty = true;
        }
    }
}
