//! Subscriptions as the router evaluates them.

use prism_model::{EventKind, Instrument, PartitionSlice, Subscription};

/// A symbol pattern: `*` matches any run of characters, `?` one character;
/// matching ignores ASCII case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolPattern(String);

impl SymbolPattern {
    /// Makes a pattern.
    #[must_use]
    pub fn new(pattern: &str) -> Self {
        Self(pattern.to_ascii_uppercase())
    }

    /// Whether `symbol` matches.
    #[must_use]
    pub fn matches(&self, symbol: &str) -> bool {
        glob(self.0.as_bytes(), symbol.to_ascii_uppercase().as_bytes())
    }
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative matcher with one backtrack point: linear in practice and
    // never recursive, whatever the pattern.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// What one plugin receives. Empty lists mean "everything".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub kinds: Vec<EventKind>,
    pub exchanges: Vec<String>,
    pub symbols: Vec<SymbolPattern>,
    /// Deliver a `timer` event at each multiple of this many ms of event time.
    pub timer_interval_ms: Option<u64>,
    /// Only the instruments of this partition (a cluster's instance of a
    /// partitioned plugin).
    pub partition: Option<PartitionSlice>,
}

impl From<&Subscription> for Filter {
    /// The filter that delivers what `subscription` asks for (a timer
    /// interval of 0 means none).
    fn from(s: &Subscription) -> Self {
        Filter {
            kinds: s.kinds.clone(),
            exchanges: s.exchanges.clone(),
            symbols: s.symbols.iter().map(|p| SymbolPattern::new(p)).collect(),
            timer_interval_ms: s.timer_interval_ms.filter(|i| *i > 0),
            partition: None,
        }
    }
}

impl Filter {
    /// This filter, narrowed to one partition of the stream.
    #[must_use]
    pub fn partitioned(mut self, partition: Option<PartitionSlice>) -> Self {
        self.partition = partition;
        self
    }

    /// Whether events about `instrument` pass the exchange, symbol and
    /// partition parts.
    #[must_use]
    pub fn wants_instrument(&self, instrument: &Instrument) -> bool {
        self.partition.is_none_or(|p| p.owns(instrument))
            && (self.exchanges.is_empty()
                || self
                    .exchanges
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(&instrument.exchange)))
            && (self.symbols.is_empty()
                || self.symbols.iter().any(|p| p.matches(&instrument.symbol)))
    }

    /// Whether events of `kind` pass.
    #[must_use]
    pub fn wants_kind(&self, kind: EventKind) -> bool {
        self.kinds.is_empty() || self.kinds.contains(&kind)
    }

    /// The kinds as a bit set (bit = `EventKind as u8`), for the hot path.
    #[must_use]
    pub fn kind_mask(&self) -> u16 {
        EventKind::ALL
            .iter()
            .filter(|k| self.wants_kind(**k))
            .fold(0, |m, k| m | 1 << (*k as u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::InstrumentRegistry;

    #[test]
    fn globs() {
        let p = SymbolPattern::new("BTC*");
        assert!(p.matches("BTCUSDT"));
        assert!(p.matches("btc-usdt-swap"));
        assert!(p.matches("BTC"));
        assert!(!p.matches("ETHBTC"));
        assert!(SymbolPattern::new("*USDT").matches("ETHUSDT"));
        assert!(SymbolPattern::new("?TC").matches("BTC"));
        assert!(!SymbolPattern::new("?TC").matches("BTCX"));
        assert!(SymbolPattern::new("*-*-SWAP").matches("SOL-USDT-SWAP"));
        assert!(!SymbolPattern::new("*-*-SWAP").matches("SOLUSDT"));
        assert!(SymbolPattern::new("*").matches(""));
    }

    #[test]
    fn filters_by_exchange_symbol_and_kind() {
        let mut r = InstrumentRegistry::default();
        let (btc, _) = r.intern("binance", "BTCUSDT");
        let (eth, _) = r.intern("okx", "ETH-USDT-SWAP");
        let f = Filter {
            kinds: vec![EventKind::Trade, EventKind::Liquidation],
            exchanges: vec!["Binance".into()],
            symbols: vec![SymbolPattern::new("BTC*")],
            timer_interval_ms: None,
            partition: None,
        };
        assert!(f.wants_instrument(r.get(btc).unwrap()));
        assert!(!f.wants_instrument(r.get(eth).unwrap()));
        assert!(f.wants_kind(EventKind::Trade));
        assert!(!f.wants_kind(EventKind::Funding));
        assert_eq!(f.kind_mask(), 0b11);
        assert_eq!(Filter::default().kind_mask(), 0b1_1111_1111);
    }
}
