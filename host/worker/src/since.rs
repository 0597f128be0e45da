//! The batches a plugin processed after its last snapshot.

use prism_router::Batch;

/// The batches a plugin processed after its last snapshot, in order: what
/// recovery replays onto that snapshot. It counts their events, because
/// events — not batches, whose size follows the feed's pace — are what a
/// replay costs and what the list holds in memory: the next snapshot falls
/// due by them.
#[derive(Debug, Default)]
pub(crate) struct Since {
    batches: Vec<Batch>,
    events: u64,
}

impl Since {
    pub(crate) fn push(&mut self, batch: Batch) {
        self.events += batch.events.len() as u64;
        self.batches.push(batch);
    }

    /// Puts back the batches `taken` out earlier, ahead of any pushed since.
    pub(crate) fn put_back(&mut self, mut taken: Since) {
        taken.batches.append(&mut self.batches);
        taken.events += self.events;
        *self = taken;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Events in all the batches (declarations and timers included).
    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Batch> {
        self.batches.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::Event;
    use std::sync::Arc;

    fn batch(position: u64, events: usize) -> Batch {
        Batch {
            events: Arc::new(vec![
                Event::Timer(prism_model::Timer {
                    ts: position as i64
                });
                events
            ]),
            position,
            previous: position.checked_sub(1),
        }
    }

    #[test]
    fn counts_events_and_puts_taken_batches_back_first() {
        let mut since = Since::default();
        since.push(batch(1, 3));
        since.push(batch(2, 1));
        assert_eq!(since.events(), 4);
        let taken = std::mem::take(&mut since);
        assert!(since.is_empty());
        assert_eq!(since.events(), 0);
        since.push(batch(3, 5));
        since.put_back(taken);
        assert_eq!(since.events(), 9);
        let positions: Vec<u64> = since.iter().map(|b| b.position).collect();
        assert_eq!(positions, [1, 2, 3]);
    }
}
