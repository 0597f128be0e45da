//! One channel's waiting notifications: most urgent first, bounded.

use prism_model::Priority;
use std::collections::BTreeSet;

/// A notification waiting for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiting {
    /// Its sequence number in the notifier's history.
    pub(crate) seq: u64,
    pub(crate) priority: Priority,
    /// Attempts made so far.
    pub(crate) attempts: u32,
    /// Wall ms before which it is not tried (a retry's backoff).
    pub(crate) not_before_ms: i64,
}

/// The order of the queue: most urgent first, then oldest first. `P0 <
/// P1 < P2` in the model's order, so the derived order is already
/// most-urgent-first.
type Key = (Priority, u64);

/// A bounded priority queue. When full, a newcomer more urgent than the
/// least urgent waiting one takes its place (that one is dropped); else the
/// newcomer is dropped. What was dropped is returned for counting.
#[derive(Debug)]
pub(crate) struct Outbox {
    capacity: usize,
    order: BTreeSet<Key>,
    waiting: std::collections::HashMap<u64, Waiting>,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: BTreeSet::new(),
            waiting: std::collections::HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Queues `w`; returns the one dropped to make room, if any (possibly
    /// `w` itself).
    pub(crate) fn push(&mut self, w: Waiting) -> Option<Waiting> {
        if self.order.len() >= self.capacity {
            let least = *self.order.last()?;
            if (w.priority, w.seq) >= least {
                return Some(w);
            }
            self.order.remove(&least);
            let dropped = self.waiting.remove(&least.1);
            self.insert(w);
            return dropped;
        }
        self.insert(w);
        None
    }

    fn insert(&mut self, w: Waiting) {
        self.order.insert((w.priority, w.seq));
        self.waiting.insert(w.seq, w);
    }

    /// Takes the most urgent notification that may be tried at `now_ms`;
    /// one waiting out a retry's backoff does not hold back the others.
    pub(crate) fn pop_due(&mut self, now_ms: i64) -> Option<Waiting> {
        let key = *self
            .order
            .iter()
            .find(|(_, seq)| self.waiting[seq].not_before_ms <= now_ms)?;
        self.order.remove(&key);
        self.waiting.remove(&key.1)
    }

    /// When the next one becomes due, if none is due now.
    pub(crate) fn next_due_ms(&self) -> Option<i64> {
        self.waiting.values().map(|w| w.not_before_ms).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(seq: u64, priority: Priority) -> Waiting {
        Waiting {
            seq,
            priority,
            attempts: 0,
            not_before_ms: 0,
        }
    }

    #[test]
    fn most_urgent_first_then_oldest() {
        let mut o = Outbox::new(10);
        for (seq, p) in [
            (1, Priority::P2),
            (2, Priority::P1),
            (3, Priority::P0),
            (4, Priority::P2),
            (5, Priority::P0),
        ] {
            assert!(o.push(w(seq, p)).is_none());
        }
        let order: Vec<u64> = std::iter::from_fn(|| o.pop_due(0).map(|w| w.seq)).collect();
        assert_eq!(order, [3, 5, 2, 1, 4]);
    }

    #[test]
    fn full_drops_the_least_urgent_newest() {
        let mut o = Outbox::new(2);
        assert!(o.push(w(1, Priority::P2)).is_none());
        assert!(o.push(w(2, Priority::P2)).is_none());
        // As urgent as the least urgent: the newcomer goes.
        assert_eq!(o.push(w(3, Priority::P2)).map(|w| w.seq), Some(3));
        // More urgent: the newest of the least urgent goes.
        assert_eq!(o.push(w(4, Priority::P0)).map(|w| w.seq), Some(2));
        let order: Vec<u64> = std::iter::from_fn(|| o.pop_due(0).map(|w| w.seq)).collect();
        assert_eq!(order, [4, 1]);
    }

    #[test]
    fn a_backing_off_one_does_not_block_others() {
        let mut o = Outbox::new(10);
        let mut retry = w(1, Priority::P0);
        retry.not_before_ms = 1_000;
        o.push(retry);
        o.push(w(2, Priority::P2));
        assert_eq!(o.pop_due(500).map(|w| w.seq), Some(2));
        assert_eq!(o.pop_due(500), None);
        assert_eq!(o.next_due_ms(), Some(1_000));
        assert_eq!(o.pop_due(1_000).map(|w| w.seq), Some(1));
    }
}
