//! A bounded memory of ids seen, for venues that resend recent trades on
//! every (re)subscription.

use std::collections::{HashSet, VecDeque};

/// Remembers the last `capacity` ids.
///
/// Hashed with foldhash (seeded per process), not SipHash: the ids are the
/// venue's, and the set is looked up once per trade.
#[derive(Debug)]
pub(crate) struct Seen {
    set: HashSet<u64, foldhash::fast::RandomState>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            set: HashSet::default(),
            order: VecDeque::new(),
            capacity: 100_000,
        }
    }
}

impl Seen {
    /// True the first time `id` is offered (ids unique across the
    /// venue's instruments, as Hyperliquid's `tid` and Lighter's `trade_id` are).
    pub(crate) fn first(&mut self, id: u64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}
