//! What a plugin receives: the subscription it declares in `init`, and the
//! operator's overrides of it.

use crate::EventKind;
use serde::{Deserialize, Serialize};

/// Which events a plugin wants; an empty list means "all".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub kinds: Vec<EventKind>,
    /// Exchange names, compared without case.
    pub exchanges: Vec<String>,
    /// Symbol patterns: `*` matches any run of characters, `?` one.
    pub symbols: Vec<String>,
    /// A `timer` event at each multiple of this many ms of event time.
    pub timer_interval_ms: Option<u64>,
}

/// The operator's replacements for parts of a plugin's subscription
/// (`[[plugins]] subscription = { … }`); a field left out keeps the
/// plugin's own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionOverride {
    pub kinds: Option<Vec<EventKind>>,
    pub exchanges: Option<Vec<String>>,
    pub symbols: Option<Vec<String>>,
    pub timer_interval_ms: Option<u64>,
}

impl Subscription {
    /// The subscription in force: this one, with what `overrides` names
    /// replaced.
    #[must_use]
    pub fn with_override(&self, overrides: Option<&SubscriptionOverride>) -> Subscription {
        let mut s = self.clone();
        if let Some(o) = overrides {
            if let Some(k) = &o.kinds {
                s.kinds.clone_from(k);
            }
            if let Some(e) = &o.exchanges {
                s.exchanges.clone_from(e);
            }
            if let Some(x) = &o.symbols {
                s.symbols.clone_from(x);
            }
            if o.timer_interval_ms.is_some() {
                s.timer_interval_ms = o.timer_interval_ms;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name() {
        let declared = Subscription {
            kinds: vec![EventKind::Trade],
            exchanges: vec!["binance".into()],
            symbols: vec![],
            timer_interval_ms: Some(1000),
        };
        let o = SubscriptionOverride {
            symbols: Some(vec!["BTC*".into()]),
            ..SubscriptionOverride::default()
        };
        let s = declared.with_override(Some(&o));
        assert_eq!(s.kinds, declared.kinds);
        assert_eq!(s.exchanges, declared.exchanges);
        assert_eq!(s.symbols, ["BTC*"]);
        assert_eq!(s.timer_interval_ms, Some(1000));
        assert_eq!(declared.with_override(None), declared);
    }
}
