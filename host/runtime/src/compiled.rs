//! Components compiled in this process, by content digest: adding the same
//! code again — a thousand copies of one strategy, a swap back, a restart
//! of a crashed instance — compiles and loads nothing. Bounded by the size
//! of the compiled images; the least recently used go first.

use std::collections::HashMap;
use std::sync::Mutex;
use wasmtime::component::Component;

/// Compiled images kept at most, bytes (a small Rust plugin's is a few
/// hundred KiB; an 18 MB Python component's tens of MiB).
pub(crate) const KEPT_BYTES: usize = 256 << 20;

#[derive(Default)]
pub(crate) struct CompiledComponents {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_digest: HashMap<String, Entry>,
    bytes: usize,
    clock: u64,
}

struct Entry {
    component: Component,
    bytes: usize,
    used: u64,
}

impl CompiledComponents {
    /// The component compiled from the bytes with `digest`, if kept.
    pub(crate) fn get(&self, digest: &str) -> Option<Component> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let entry = inner.by_digest.get_mut(digest)?;
        entry.used = now;
        Some(entry.component.clone())
    }

    /// Keeps `component` (compiled from the bytes with `digest`), making
    /// room by dropping the least recently used. One larger than the whole
    /// budget is not kept.
    pub(crate) fn insert(&self, digest: &str, component: &Component) {
        let range = component.image_range();
        let bytes = (range.end as usize).saturating_sub(range.start as usize);
        if bytes > KEPT_BYTES {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let used = inner.clock;
        if let Some(old) = inner.by_digest.insert(
            digest.to_owned(),
            Entry {
                component: component.clone(),
                bytes,
                used,
            },
        ) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        while inner.bytes > KEPT_BYTES {
            let Some(oldest) = inner
                .by_digest
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(d, _)| d.clone())
            else {
                break;
            };
            if let Some(gone) = inner.by_digest.remove(&oldest) {
                inner.bytes -= gone.bytes;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
