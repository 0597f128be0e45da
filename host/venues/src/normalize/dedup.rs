//! A bounded memory of ids seen, for venues that resend recent trades on
//! every (re)subscription.

use std::collections::{HashSet, VecDeque};

/// Remembers the last `capacity` ids.
#[derive(Debug)]
pub(crate) struct Seen {
    set: HashSet<(String, u64)>,
    order: VecDeque<(String, u64)>,
    capacity: usize,
}

impl Default for Seen {
    fn default() -> Self {
        Self {
            set: HashSet::new(),
            order: VecDeque::new(),
            capacity: 100_000,
        }
    }
}

impl Seen {
    /// True the first time `(scope, id)` is offered.
    pub(crate) fn first(&mut self, scope: &str, id: u64) -> bool {
        let key = (scope.to_owned(), id);
        if self.set.contains(&key) {
            return false;
        }
        self.set.insert(key.clone());
        self.order.push_back(key);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}
