//! Contract values: how many base-asset units (linear) or quote-currency
//! units (inverse) one contract is. Sizes in contracts are multiplied by it
//! so that every size Prism emits is in base units.

use prism_model::Decimal;
use std::collections::BTreeMap;

/// One instrument's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contract {
    /// Units per contract: base asset when linear, quote currency when inverse.
    pub value: Decimal,
    /// Inverse: the value is in quote currency (USD), so base = contracts ×
    /// value / price.
    pub inverse: bool,
}

/// Contract values by venue and symbol: operator entries first, then the
/// venue's published standard values built in here.
#[derive(Debug, Clone, Default)]
pub struct Contracts {
    /// By venue, then symbol: looked up by `&str` without building a key
    /// (this runs for every trade of a venue that counts in contracts).
    entries: BTreeMap<String, BTreeMap<String, Contract>>,
}

/// OKX's linear swaps and futures: base units per contract, by base asset
/// (OKX instrument list, `ctVal`).
const OKX_LINEAR: [(&str, i64, u32); 3] = [("BTC", 1, 2), ("ETH", 1, 1), ("SOL", 1, 0)];

impl Contracts {
    /// Sets an instrument's contract value (e.g. from config).
    pub fn set(&mut self, venue: &str, symbol: &str, contract: Contract) {
        self.entries
            .entry(venue.to_owned())
            .or_default()
            .insert(symbol.to_owned(), contract);
    }

    /// The contract of an instrument that trades in contracts, if known.
    #[must_use]
    pub fn get(&self, venue: &str, symbol: &str) -> Option<Contract> {
        if let Some(c) = self.entries.get(venue).and_then(|v| v.get(symbol)) {
            return Some(*c);
        }
        match venue {
            "okx" => okx_standard(symbol),
            "bybit" => bybit_standard(symbol),
            _ => None,
        }
    }
}

/// Bybit's inverse contracts are 1 USD each: perpetuals `BASEUSD`
/// (`BTCUSD`), futures `BASEUSD` + month code + year (`BTCUSDH25`). Linear
/// contracts (`BTCUSDT`, `BTCPERP`, `BTC-28MAR25`) and spot trade in base
/// units and have no entry.
fn bybit_standard(symbol: &str) -> Option<Contract> {
    let inverse_perpetual = symbol.strip_suffix("USD").is_some_and(|b| !b.is_empty());
    let inverse_future = symbol.len() > 6 && {
        let (head, tail) = symbol.split_at(symbol.len() - 3);
        let tail = tail.as_bytes();
        head.strip_suffix("USD").is_some_and(|b| !b.is_empty())
            && b"FGHJKMNQUVXZ".contains(&tail[0])
            && tail[1..].iter().all(u8::is_ascii_digit)
    };
    (symbol.bytes().all(|b| b.is_ascii_alphanumeric()) && (inverse_perpetual || inverse_future))
        .then_some(Contract {
            value: Decimal::ONE,
            inverse: true,
        })
}

/// OKX: `BASE-QUOTE-SWAP` or `BASE-QUOTE-YYMMDD`. Inverse (quote USD)
/// contracts are 100 USD for BTC and 10 USD for everything else.
fn okx_standard(symbol: &str) -> Option<Contract> {
    let mut parts = symbol.split('-');
    let (base, quote) = (parts.next()?, parts.next()?);
    parts.next()?;
    if quote == "USD" {
        let usd = if base == "BTC" { 100 } else { 10 };
        return Some(Contract {
            value: Decimal::from(usd),
            inverse: true,
        });
    }
    OKX_LINEAR
        .iter()
        .find(|(b, _, _)| *b == base)
        .map(|(_, m, s)| Contract {
            value: Decimal::new(*m, *s),
            inverse: false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bybit_inverse_symbols_are_one_usd_contracts() {
        let c = Contracts::default();
        for inverse in ["BTCUSD", "ETHUSD", "BTCUSDH25", "ETHUSDZ24"] {
            let got = c.get("bybit", inverse);
            assert_eq!(
                got,
                Some(Contract {
                    value: Decimal::ONE,
                    inverse: true
                }),
                "{inverse}"
            );
        }
        for linear in [
            "BTCUSDT",
            "BTCPERP",
            "BTC-28MAR25",
            "BTCUSDC",
            "USD",
            "BTCUSDT-27DEC24",
        ] {
            assert_eq!(c.get("bybit", linear), None, "{linear}");
        }
    }

    #[test]
    fn okx_standard_values_and_overrides() {
        let c = Contracts::default();
        assert_eq!(
            c.get("okx", "BTC-USDT-SWAP").unwrap().value,
            Decimal::new(1, 2)
        );
        assert_eq!(
            c.get("okx", "ETH-USDT-240628").unwrap().value,
            Decimal::new(1, 1)
        );
        let inv = c.get("okx", "XRP-USD-230929").unwrap();
        assert!(inv.inverse);
        assert_eq!(inv.value, Decimal::from(10));
        assert_eq!(
            c.get("okx", "BTC-USD-SWAP").unwrap().value,
            Decimal::from(100)
        );
        assert!(c.get("okx", "WNCG-USDT-SWAP").is_none());
        assert!(
            c.get("okx", "BTC-USDT").is_none(),
            "spot trades in base units"
        );
        let mut c = c;
        c.set(
            "okx",
            "WNCG-USDT-SWAP",
            Contract {
                value: Decimal::from(10),
                inverse: false,
            },
        );
        assert_eq!(
            c.get("okx", "WNCG-USDT-SWAP").unwrap().value,
            Decimal::from(10)
        );
    }
}
