//! Partitions of the event stream, for sharing one plugin's work between
//! the hosts of a cluster.
//!
//! A partitioned plugin runs as one instance per partition; an instance
//! sees the events of the instruments whose key falls in its partition, so
//! the key must hold together what the plugin's state combines: the
//! instrument for a per-market computation, the base asset for one that
//! compares venues (funding arbitrage), the exchange, or the whole stream.
//!
//! Partitions are fixed by the key's text alone (FNV-1a, 64 bits), never by
//! ids or arrival order, so every host and every run agrees on them.

use crate::Instrument;
use serde::{Deserialize, Serialize};

/// What keeps a plugin's events together in one instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionKey {
    /// Each (exchange, symbol) on its own: the default.
    #[default]
    Instrument,
    /// Every market of one base asset, on every venue (`BTC`).
    Base,
    /// Every market of one venue.
    Exchange,
    /// One instance for the whole stream (not partitioned).
    Whole,
}

impl PartitionKey {
    /// The names accepted in config, for error messages.
    pub const NAMES: &'static str = "instrument, base, exchange, whole";

    /// The key's text for `instrument` (case-folded where venues differ).
    fn text(self, instrument: &Instrument) -> String {
        match self {
            Self::Instrument => format!(
                "{}:{}",
                instrument.exchange.to_ascii_lowercase(),
                instrument.symbol
            ),
            Self::Base => instrument.base.to_ascii_uppercase(),
            Self::Exchange => instrument.exchange.to_ascii_lowercase(),
            Self::Whole => String::new(),
        }
    }
}

/// FNV-1a over `bytes`: stable across builds, platforms and runs.
#[must_use]
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The partition (of `count`) that `text` falls in.
#[must_use]
pub fn partition_of(text: &str, count: u32) -> u32 {
    (stable_hash(text.as_bytes()) % u64::from(count.max(1))) as u32
}

/// One instance's share of a partitioned plugin's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartitionSlice {
    pub key: PartitionKey,
    /// How many partitions the stream is cut into (at least 1).
    pub count: u32,
    /// Which of them this instance takes.
    pub index: u32,
}

impl PartitionSlice {
    /// Whether events about `instrument` belong to this slice.
    #[must_use]
    pub fn owns(&self, instrument: &Instrument) -> bool {
        self.key == PartitionKey::Whole
            || partition_of(&self.key.text(instrument), self.count) == self.index
    }
}

/// Separates a plugin's id from its partition in an instance's id. Plugin
/// ids cannot hold `~`, so an instance id is never a configured plugin's.
pub const INSTANCE_SEPARATOR: char = '~';

/// The id of `plugin`'s instance for partition `index`.
#[must_use]
pub fn instance_id(plugin: &str, index: u32) -> String {
    format!("{plugin}{INSTANCE_SEPARATOR}{index}")
}

/// The plugin and partition of an instance id; `(id, None)` for the id of
/// a plugin that is not partitioned.
#[must_use]
pub fn split_instance(id: &str) -> (&str, Option<u32>) {
    match id.rsplit_once(INSTANCE_SEPARATOR) {
        Some((plugin, index)) => match index.parse() {
            Ok(index) => (plugin, Some(index)),
            Err(_) => (id, None),
        },
        None => (id, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InstrumentRegistry;

    #[test]
    fn the_hash_is_fnv_1a() {
        // FNV-1a 64 of "" is the offset basis; of "a" the published vector.
        assert_eq!(stable_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn slices_cut_the_instruments_once_and_keep_a_base_together() {
        let mut registry = InstrumentRegistry::default();
        let markets = [
            ("binance", "BTCUSDT"),
            ("hyperliquid", "BTC"),
            ("okx", "BTC-USDT-SWAP"),
            ("binance", "ETHUSDT"),
            ("hyperliquid", "ETH"),
            ("binance", "SOLUSDT"),
        ];
        let instruments: Vec<_> = markets
            .iter()
            .map(|(e, s)| {
                let (id, _) = registry.intern(e, s);
                registry.get(id).unwrap().clone()
            })
            .collect();
        for key in [
            PartitionKey::Instrument,
            PartitionKey::Base,
            PartitionKey::Exchange,
        ] {
            for i in &instruments {
                let owners = (0..4)
                    .filter(|p| {
                        PartitionSlice {
                            key,
                            count: 4,
                            index: *p,
                        }
                        .owns(i)
                    })
                    .count();
                assert_eq!(owners, 1, "{key:?} {}", i.symbol);
            }
        }
        let base = |i: &Instrument| partition_of(&i.base.to_ascii_uppercase(), 8);
        assert_eq!(base(&instruments[0]), base(&instruments[1]));
        assert_eq!(base(&instruments[0]), base(&instruments[2]));
        assert_eq!(base(&instruments[3]), base(&instruments[4]));
        let whole = PartitionSlice {
            key: PartitionKey::Whole,
            count: 4,
            index: 3,
        };
        assert!(instruments.iter().all(|i| whole.owns(i)));
    }

    #[test]
    fn instance_ids_name_their_plugin_and_partition() {
        assert_eq!(instance_id("liquidation-map", 3), "liquidation-map~3");
        assert_eq!(
            split_instance("liquidation-map~3"),
            ("liquidation-map", Some(3))
        );
        assert_eq!(split_instance("funding-arb"), ("funding-arb", None));
        assert!(crate::PluginId::new("a~1").is_err());
    }
}
