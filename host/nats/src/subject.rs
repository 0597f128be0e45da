//! Subject names and message ids.

use prism_model::{EventKind, OutputKind};

/// A name as one subject token: `.`, `*`, `>` and white space (which would
/// split or widen the subject) become `_`; an empty name becomes `_`.
/// The payload always carries the exact name.
#[must_use]
pub fn token(name: &str) -> String {
    if name.is_empty() {
        return "_".into();
    }
    name.chars()
        .map(|c| {
            if c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// `{prefix}.{exchange}.{symbol}.{type}` of a market event.
#[must_use]
pub fn market_subject(prefix: &str, exchange: &str, symbol: &str, kind: EventKind) -> String {
    format!(
        "{prefix}.{}.{}.{}",
        token(exchange),
        token(symbol),
        kind.as_str()
    )
}

/// `{prefix}.{plugin}.{kind}` of an output.
#[must_use]
pub fn output_subject(prefix: &str, plugin: &str, kind: OutputKind) -> String {
    format!("{prefix}.{}.{}", token(plugin), kind.as_str())
}

/// The message id of an input event a collector publishes.
pub(crate) fn event_id(collector: &str, position: u64) -> String {
    format!("{collector}:{position}")
}

/// The message id of an output: its identity.
pub(crate) fn output_id(plugin: &str, position: u64, index: usize) -> String {
    format!("{plugin}:{position}:{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_split_a_subject_are_one_token() {
        assert_eq!(
            market_subject("market", "binance", "BTCUSDT", EventKind::OpenInterest),
            "market.binance.BTCUSDT.open_interest"
        );
        assert_eq!(
            market_subject("market", "hyperliquid", "PURR/USDC", EventKind::Trade),
            "market.hyperliquid.PURR/USDC.trade"
        );
        assert_eq!(token("a.b*c>d e"), "a_b_c_d_e");
        assert_eq!(token(""), "_");
        assert_eq!(
            output_subject("prism.out", "long-short-ratio", OutputKind::Series),
            "prism.out.long-short-ratio.series"
        );
        assert_eq!(output_id("p", 12, 3), "p:12:3");
        assert_eq!(event_id("c", 7), "c:7");
    }
}
