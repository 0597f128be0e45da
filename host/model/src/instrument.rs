//! Instruments and the registry that interns `(exchange, symbol)` into ids.

use crate::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// A host-assigned instrument id, dense from 0, stable for the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstrumentId(pub u32);

/// What kind of market an instrument trades in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketKind {
    Spot,
    Perpetual,
    Future,
    Option,
}

/// One row of the instrument table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    pub id: InstrumentId,
    /// Venue name in lower case.
    pub exchange: Arc<str>,
    pub symbol: Arc<str>,
    pub base: Arc<str>,
    pub quote: Arc<str>,
    pub kind: MarketKind,
    /// Base units per contract; event sizes already include it.
    pub contract_size: Decimal,
}

/// Details a source may declare for an instrument (e.g. an `instrument` line of
/// a replay file). Missing fields are inferred from the symbol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstrumentSpec {
    pub base: Option<String>,
    pub quote: Option<String>,
    pub kind: Option<MarketKind>,
    pub contract_size: Option<Decimal>,
}

/// Interns `(exchange, symbol)` pairs into dense [`InstrumentId`]s.
///
/// Owned by one source; the ids it hands out are declared downstream with
/// `Event::Instrument` before their first use.
#[derive(Debug, Default)]
pub struct InstrumentRegistry {
    /// Ids by exchange (lower case), then symbol: looked up with borrowed
    /// names, so interning a known instrument allocates nothing. Two
    /// lookups for every event a source reads: hashed with foldhash, whose
    /// seeds are random per process as std's are, at a fraction of
    /// SipHash's cost (SipHash was 1-2 % of a replay's samples).
    by_key: Names<Names<InstrumentId>>,
    table: Vec<Arc<Instrument>>,
    /// Ids known from an earlier run ([`Self::preload`]) and not yet handed
    /// out by [`Self::intern`] in this one.
    unannounced: std::collections::HashSet<InstrumentId>,
}

/// A map by name.
type Names<V> = HashMap<Arc<str>, V, foldhash::fast::RandomState>;

const QUOTES: [&str; 6] = ["USDT", "USDC", "FDUSD", "BUSD", "USD", "BTC"];

/// Guesses `(base, quote)` from a venue symbol: `BTCUSDT`, `BTC-USDT-SWAP`,
/// `BTC-PERPETUAL`, `BTC` (Hyperliquid quotes in USD).
fn split_symbol(symbol: &str) -> (String, String) {
    let upper = symbol.to_ascii_uppercase();
    let mut parts = upper.split(['-', '_', '/']);
    let first = parts.next().unwrap_or_default().to_owned();
    if let Some(second) = parts.next()
        && second.chars().all(|c| c.is_ascii_alphabetic())
        && !matches!(second, "PERPETUAL" | "PERP" | "SWAP")
    {
        return (first, second.to_owned());
    }
    for quote in QUOTES {
        if let Some(base) = first.strip_suffix(quote)
            && !base.is_empty()
        {
            return (base.to_owned(), quote.to_owned());
        }
    }
    (first, "USD".to_owned())
}

impl InstrumentRegistry {
    /// A registry that gives the instruments of an earlier run their ids
    /// again (a plugin state restored from that run names them by id). Ids
    /// must be dense from 0; a gap or a repeat is refused.
    ///
    /// # Errors
    /// The first id out of place.
    pub fn preload(instruments: Vec<Instrument>) -> Result<Self, InstrumentId> {
        let mut r = Self::default();
        let mut sorted = instruments;
        sorted.sort_by_key(|i| i.id);
        for i in sorted {
            if i.id.0 as usize != r.table.len() {
                return Err(i.id);
            }
            r.by_key
                .entry(i.exchange.clone())
                .or_default()
                .insert(i.symbol.clone(), i.id);
            r.unannounced.insert(i.id);
            r.table.push(Arc::new(i));
        }
        Ok(r)
    }

    /// Returns the id of `(exchange, symbol)`, and whether it was just created
    /// (or, for one [preloaded](Self::preload), first asked for in this run:
    /// either way it must now be declared downstream).
    /// A new instrument is a perpetual with contract size 1 and base/quote
    /// guessed from the symbol, unless [`Self::declare`] said otherwise first.
    pub fn intern(&mut self, exchange: &str, symbol: &str) -> (InstrumentId, bool) {
        if let Some(id) = self.lookup(exchange, symbol) {
            let first = !self.unannounced.is_empty() && self.unannounced.remove(&id);
            return (id, first);
        }
        let id = self.insert(exchange, symbol, &InstrumentSpec::default());
        (id, true)
    }

    /// Gives `(exchange, symbol)` the next id (or returns the one it has)
    /// without declaring it: as with a [preloaded](Self::preload) one, its
    /// first [`Self::intern`] says it is new, so it is declared downstream
    /// then. For ids handed out elsewhere (a registry shared by hosts),
    /// reserved in the order they were handed out.
    pub fn reserve(&mut self, exchange: &str, symbol: &str) -> InstrumentId {
        if let Some(id) = self.lookup(exchange, symbol) {
            return id;
        }
        let id = self.insert(exchange, symbol, &InstrumentSpec::default());
        self.unannounced.insert(id);
        id
    }

    /// Finds an id without creating it. The exchange is compared in lower
    /// case, as it is stored.
    #[must_use]
    pub fn lookup(&self, exchange: &str, symbol: &str) -> Option<InstrumentId> {
        let symbols = if exchange.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_key.get(exchange.to_ascii_lowercase().as_str())
        } else {
            self.by_key.get(exchange)
        }?;
        symbols.get(symbol).copied()
    }

    /// Declares or redefines an instrument's details; returns its id.
    pub fn declare(&mut self, exchange: &str, symbol: &str, spec: &InstrumentSpec) -> InstrumentId {
        match self.lookup(exchange, symbol) {
            Some(id) => {
                let fresh = build(id, exchange, symbol, spec);
                self.table[id.0 as usize] = Arc::new(fresh);
                id
            }
            None => self.insert(exchange, symbol, spec),
        }
    }

    fn insert(&mut self, exchange: &str, symbol: &str, spec: &InstrumentSpec) -> InstrumentId {
        let id = InstrumentId(u32::try_from(self.table.len()).unwrap_or(u32::MAX));
        let instrument = Arc::new(build(id, exchange, symbol, spec));
        self.by_key
            .entry(instrument.exchange.clone())
            .or_default()
            .insert(instrument.symbol.clone(), id);
        self.table.push(instrument);
        id
    }

    /// The instrument behind an id.
    #[must_use]
    pub fn get(&self, id: InstrumentId) -> Option<&Arc<Instrument>> {
        self.table.get(id.0 as usize)
    }

    /// Number of instruments interned so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether nothing was interned yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// Instruments by id, as a stage has learned them from the stream's
/// declarations (`Event::Instrument`): the router, a plugin's worker and
/// its instance each keep one, to resolve the ids they see.
#[derive(Debug, Clone, Default)]
pub struct InstrumentTable {
    rows: Vec<Option<Arc<Instrument>>>,
}

impl InstrumentTable {
    /// Adds or replaces (a redeclaration) an instrument.
    pub fn insert(&mut self, instrument: Arc<Instrument>) {
        let at = instrument.id.0 as usize;
        if self.rows.len() <= at {
            self.rows.resize(at + 1, None);
        }
        self.rows[at] = Some(instrument);
    }

    /// Learns every declaration among `events`.
    pub fn learn(&mut self, events: &[crate::Event]) {
        for event in events {
            if let crate::Event::Instrument(i) = event {
                self.insert(i.clone());
            }
        }
    }

    /// The instrument behind an id, if it was declared.
    #[must_use]
    pub fn get(&self, id: InstrumentId) -> Option<&Arc<Instrument>> {
        self.rows.get(id.0 as usize).and_then(Option::as_ref)
    }

    /// Every declared instrument, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Instrument>> {
        self.rows.iter().flatten()
    }
}

fn build(id: InstrumentId, exchange: &str, symbol: &str, spec: &InstrumentSpec) -> Instrument {
    let (base, quote) = split_symbol(symbol);
    Instrument {
        id,
        exchange: Arc::from(exchange.to_ascii_lowercase()),
        symbol: Arc::from(symbol),
        base: Arc::from(spec.base.clone().unwrap_or(base)),
        quote: Arc::from(spec.quote.clone().unwrap_or(quote)),
        kind: spec.kind.unwrap_or(MarketKind::Perpetual),
        contract_size: spec.contract_size.unwrap_or(Decimal::ONE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_venue_symbols() {
        assert_eq!(split_symbol("BTCUSDT"), ("BTC".into(), "USDT".into()));
        assert_eq!(split_symbol("BTC-USDT-SWAP"), ("BTC".into(), "USDT".into()));
        assert_eq!(split_symbol("BTC-PERPETUAL"), ("BTC".into(), "USD".into()));
        assert_eq!(split_symbol("SOL"), ("SOL".into(), "USD".into()));
        assert_eq!(split_symbol("ETHBTC"), ("ETH".into(), "BTC".into()));
    }

    #[test]
    fn preloaded_instruments_keep_their_ids_and_are_announced_once() {
        let mut old = InstrumentRegistry::default();
        old.intern("okx", "BTC-USDT-SWAP");
        old.intern("binance", "BTCUSDT");
        let rows: Vec<Instrument> = (0..2)
            .map(|i| (**old.get(InstrumentId(i)).unwrap()).clone())
            .collect();
        let mut r = InstrumentRegistry::preload(rows).unwrap();
        // In another order than the first run: the ids stay.
        assert_eq!(r.intern("binance", "BTCUSDT"), (InstrumentId(1), true));
        assert_eq!(r.intern("binance", "BTCUSDT"), (InstrumentId(1), false));
        assert_eq!(r.intern("okx", "BTC-USDT-SWAP"), (InstrumentId(0), true));
        assert_eq!(r.intern("bybit", "BTCUSDT"), (InstrumentId(2), true));
        let gap = vec![Instrument {
            id: InstrumentId(3),
            ..(**old.get(InstrumentId(0)).unwrap()).clone()
        }];
        assert_eq!(
            InstrumentRegistry::preload(gap).unwrap_err(),
            InstrumentId(3)
        );
    }

    #[test]
    fn interns_densely_and_declares() {
        let mut r = InstrumentRegistry::default();
        assert_eq!(r.intern("binance", "BTCUSDT"), (InstrumentId(0), true));
        assert_eq!(r.intern("okx", "BTC-USDT-SWAP"), (InstrumentId(1), true));
        assert_eq!(r.intern("binance", "BTCUSDT"), (InstrumentId(0), false));
        let spec = InstrumentSpec {
            contract_size: Some(Decimal::new(1, 2)),
            ..InstrumentSpec::default()
        };
        assert_eq!(r.declare("okx", "BTC-USDT-SWAP", &spec), InstrumentId(1));
        assert_eq!(
            r.get(InstrumentId(1)).unwrap().contract_size.to_string(),
            "0.01"
        );
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn an_exchange_in_capitals_is_the_same_exchange() {
        let mut r = InstrumentRegistry::default();
        assert_eq!(r.intern("binance", "BTCUSDT"), (InstrumentId(0), true));
        assert_eq!(r.intern("Binance", "BTCUSDT"), (InstrumentId(0), false));
        assert_eq!(r.intern("BINANCE", "BTCUSDT"), (InstrumentId(0), false));
        // Symbols are the venue's own and keep their case.
        assert_eq!(r.intern("binance", "btcusdt"), (InstrumentId(1), true));
        assert_eq!(r.len(), 2);
        assert_eq!(&*r.get(InstrumentId(0)).unwrap().exchange, "binance");
    }
}
