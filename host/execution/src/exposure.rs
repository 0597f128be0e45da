//! The one limit across plugins: their gross notional together. Each
//! account publishes its own after every change; an order is checked
//! against the others' as last published.
//!
//! This is the only state accounts share, so it is the only thing that
//! makes one plugin's fills depend on another's timing: an order near the
//! limit may pass or not depending on which plugin's batch ran first. Each
//! account stays deterministic while the limit does not bind.

use prism_model::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Every trading plugin's gross notional, as each last published it.
#[derive(Debug, Default)]
pub struct Exposure {
    by_plugin: Mutex<HashMap<Arc<str>, Decimal>>,
}

impl Exposure {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Decimal>> {
        self.by_plugin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records `plugin`'s gross notional.
    pub fn publish(&self, plugin: &Arc<str>, gross: Decimal) {
        let mut map = self.lock();
        if gross.is_zero() {
            map.remove(plugin);
        } else {
            map.insert(plugin.clone(), gross);
        }
    }

    /// The gross notional of every plugin but `plugin`.
    #[must_use]
    pub fn others(&self, plugin: &str) -> Decimal {
        self.lock()
            .iter()
            .filter(|(p, _)| &***p != plugin)
            .map(|(_, g)| *g)
            .sum()
    }

    /// Every plugin's, summed.
    #[must_use]
    pub fn total(&self) -> Decimal {
        self.lock().values().copied().sum()
    }
}
