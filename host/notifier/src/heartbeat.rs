//! The dead man's switch: a URL called every `every`, so an outside
//! monitor (e.g. a healthchecks service) notices when Prism is gone — the
//! one alarm a dead process cannot send.

use crate::Inner;
use prism_model::wall_ms;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub(crate) async fn run(inner: Arc<Inner>, url: String, every: Duration, post: bool) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timeout = every.min(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = inner.stop.notified() => return,
        }
        let request = if post {
            inner.client.post(&url)
        } else {
            inner.client.get(&url)
        };
        let m = &inner.heartbeat;
        match request.timeout(timeout).send().await {
            Ok(r) if r.status().is_success() => {
                m.beats.fetch_add(1, Ordering::Relaxed);
                m.last_ok_ms.store(wall_ms(), Ordering::Relaxed);
            }
            Ok(r) => {
                m.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    status = r.status().as_u16(),
                    "the heartbeat URL refused the beat"
                );
            }
            Err(e) => {
                m.failures.fetch_add(1, Ordering::Relaxed);
                // Not the URL: it usually embeds the monitor's secret id.
                tracing::warn!(timeout = e.is_timeout(), "the heartbeat URL did not answer");
            }
        }
    }
}
