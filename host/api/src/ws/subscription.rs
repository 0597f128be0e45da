//! A WebSocket client's subscriptions and the requests that change them,
//! bounded per message and per client.
//!
//! A symbol list is kept once per request and shared by the channels it
//! names, the answer names what was accepted and what was refused (with the
//! reason), and both are bounded whatever the request holds.

use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::live::Channel;

/// Bounds on what one client may ask for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Channels subscribed at once.
    pub(crate) channels: usize,
    /// Distinct symbols over all of a client's subscriptions.
    pub(crate) symbols: usize,
}

/// The longest symbol accepted, bytes.
const SYMBOL_BYTES: usize = 64;
/// Refusals named one by one in an answer; past this only counted.
const NAMED_REFUSALS: usize = 16;

type Symbols = Arc<BTreeSet<Arc<str>>>;

/// A client's subscriptions: channel → symbols (upper case; `None` = all).
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    channels: BTreeMap<Channel, Option<Symbols>>,
}

#[derive(Debug, Default, Deserialize)]
struct Request {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default)]
    payload: Option<Payload>,
}

#[derive(Debug, Default, Deserialize)]
struct Payload {
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    symbols: Vec<String>,
}

/// The answer to one client message: its `type` and `payload`.
pub(crate) type Answer = (&'static str, Value);

fn error(message: String) -> Answer {
    ("error", json!({ "message": message }))
}

/// Refusals of one request, the first few by name.
#[derive(Default)]
struct Refusals {
    named: Vec<Value>,
    more: usize,
}

impl Refusals {
    fn add(&mut self, what: Value, reason: String) {
        if self.named.len() < NAMED_REFUSALS {
            self.named.push(json!({"item": what, "reason": reason}));
        } else {
            self.more += 1;
        }
    }
}

fn symbol_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= SYMBOL_BYTES
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_/.:@".contains(&b))
}

impl Subscriptions {
    /// Whether outputs of `channel` about `symbol` go to this client.
    pub(crate) fn wants(&self, channel: &Channel, symbol: Option<&str>) -> bool {
        match self.channels.get(channel) {
            None => false,
            Some(None) => true,
            // Opportunities are about several instruments: never filtered.
            Some(Some(_)) if *channel == Channel::Opportunities => true,
            Some(Some(symbols)) => symbol.is_some_and(|s| symbols.contains(s)),
        }
    }

    fn distinct_symbols(&self) -> BTreeSet<&Arc<str>> {
        self.channels
            .values()
            .flatten()
            .flat_map(|s| s.iter())
            .collect()
    }

    /// A bounded summary: each channel with its number of symbols (`null`
    /// for all).
    fn summary(&self) -> Value {
        let list: Vec<Value> = self
            .channels
            .iter()
            .map(|(c, s)| json!({"channel": c.name(), "symbols": s.as_ref().map(|s| s.len())}))
            .collect();
        json!(list)
    }

    /// Answers one client message. `known` says whether a plugin id exists.
    pub(crate) fn handle(
        &mut self,
        text: &str,
        limits: Limits,
        known: &dyn Fn(&str) -> bool,
    ) -> Answer {
        let request: Request = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => return error(format!("not a request: {e}")),
        };
        let Request {
            kind,
            mut channels,
            mut symbols,
            payload,
        } = request;
        if let Some(p) = payload {
            channels.extend(p.channels);
            symbols.extend(p.symbols);
        }
        match kind.as_str() {
            "ping" => ("pong", json!({})),
            "subscribe" => self.subscribe(&channels, &symbols, limits, known),
            "unsubscribe" => self.unsubscribe(&channels),
            other => error(format!(
                "unknown message type `{}`; use subscribe, unsubscribe or ping",
                other.chars().take(64).collect::<String>()
            )),
        }
    }

    fn parse_channels(
        channels: &[String],
        refused: &mut Refusals,
        known: &dyn Fn(&str) -> bool,
    ) -> Vec<Channel> {
        let mut out: Vec<Channel> = Vec::new();
        for name in channels {
            let shown = || json!(name.chars().take(80).collect::<String>());
            match Channel::parse(name) {
                Some(Channel::Plugin(id)) if !known(&id) => {
                    refused.add(shown(), format!("no plugin `{id}` runs"));
                }
                Some(c) => {
                    if !out.contains(&c) {
                        out.push(c);
                    }
                }
                None => refused.add(
                    shown(),
                    "unknown channel; use liquidations, long_short_ratio, liquidation_map, whale_activities, opportunities, signals, alerts, orders, fills, positions, pnl, candles, tickers or plugin:{id}".into(),
                ),
            }
        }
        out
    }

    fn subscribe(
        &mut self,
        channels: &[String],
        symbols: &[String],
        limits: Limits,
        known: &dyn Fn(&str) -> bool,
    ) -> Answer {
        let mut refused = Refusals::default();
        let wanted = Self::parse_channels(channels, &mut refused, known);
        if wanted.is_empty() {
            return (
                "error",
                json!({"message": "name at least one known channel", "refused": refused.named, "more_refused": refused.more}),
            );
        }
        // Channels beyond the client's limit are refused, in order.
        let mut accepted = Vec::new();
        for c in wanted {
            let fits = self.channels.contains_key(&c)
                || self.channels.len()
                    + accepted
                        .iter()
                        .filter(|a| !self.channels.contains_key(*a))
                        .count()
                    < limits.channels;
            if fits {
                accepted.push(c);
            } else {
                refused.add(
                    json!(c.name()),
                    format!(
                        "a client may subscribe to {} channels at most",
                        limits.channels
                    ),
                );
            }
        }
        // The symbols: valid ones, upper case, within the client's limit
        // counted over everything it keeps after this request.
        let set: Option<Symbols> = if symbols.is_empty() {
            None
        } else {
            let mut kept: BTreeSet<Arc<str>> = BTreeSet::new();
            let others: BTreeSet<Arc<str>> = self
                .channels
                .iter()
                .filter(|(c, _)| !accepted.contains(c))
                .flat_map(|(_, s)| s.iter().flat_map(|s| s.iter().cloned()))
                .collect();
            let mut overlap = 0;
            for s in symbols {
                if !symbol_ok(s) {
                    refused.add(
                        json!(s.chars().take(80).collect::<String>()),
                        format!("not a symbol (1 to {SYMBOL_BYTES} letters, digits or -_/.:@)"),
                    );
                    continue;
                }
                let upper: Arc<str> = Arc::from(s.to_ascii_uppercase());
                if kept.contains(&upper) {
                    continue;
                }
                let shared = others.contains(&upper);
                if !shared && kept.len() + others.len() - overlap >= limits.symbols {
                    refused.add(
                        json!(s.chars().take(80).collect::<String>()),
                        format!(
                            "a client may follow {} distinct symbols at most",
                            limits.symbols
                        ),
                    );
                    continue;
                }
                overlap += usize::from(shared);
                kept.insert(upper);
            }
            if kept.is_empty() {
                return (
                    "error",
                    json!({"message": "none of the symbols can be accepted", "refused": refused.named, "more_refused": refused.more}),
                );
            }
            Some(Arc::new(kept))
        };
        for c in &accepted {
            self.channels.insert(c.clone(), set.clone());
        }
        let names: Vec<String> = accepted.iter().map(Channel::name).collect();
        (
            "subscribed",
            json!({
                "accepted": {"channels": names, "symbols": set.as_ref().map(|s| s.len())},
                "refused": refused.named,
                "more_refused": refused.more,
                "subscriptions": self.summary(),
                "symbols": self.distinct_symbols().len(),
            }),
        )
    }

    fn unsubscribe(&mut self, channels: &[String]) -> Answer {
        let mut refused = Refusals::default();
        let names = Self::parse_channels(channels, &mut refused, &|_| true);
        if names.is_empty() {
            return error("name at least one channel".into());
        }
        for c in &names {
            self.channels.remove(c);
        }
        (
            "unsubscribed",
            json!({
                "refused": refused.named,
                "more_refused": refused.more,
                "subscriptions": self.summary(),
                "symbols": self.distinct_symbols().len(),
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        channels: 4,
        symbols: 3,
    };

    fn known(id: &str) -> bool {
        id == "hello"
    }

    #[test]
    fn requests_change_subscriptions_and_bad_ones_are_answered() {
        let mut subs = Subscriptions::default();
        let (kind, reply) = subs.handle(
            r#"{"type":"subscribe","channels":["liquidations","plugin:hello"],"symbols":["btcusdt"]}"#,
            LIMITS,
            &known,
        );
        assert_eq!(kind, "subscribed", "{reply}");
        assert!(subs.wants(&Channel::Liquidations, Some("BTCUSDT")));
        assert!(!subs.wants(&Channel::Liquidations, Some("ETHUSDT")));
        assert!(subs.wants(&Channel::Plugin("hello".into()), Some("BTCUSDT")));
        let (kind, _) = subs.handle(
            r#"{"type":"unsubscribe","payload":{"channels":["liquidations"]}}"#,
            LIMITS,
            &known,
        );
        assert_eq!(kind, "unsubscribed");
        assert!(!subs.wants(&Channel::Liquidations, Some("BTCUSDT")));
        assert_eq!(subs.handle(r#"{"type":"ping"}"#, LIMITS, &known).0, "pong");
        for bad in [
            r#"{"type":"subscribe","channels":["nope"]}"#,
            r#"{"type":"subscribe","channels":["plugin:ghost"]}"#,
            r#"{"type":"dance"}"#,
            "not json",
            r#"{"type":"subscribe"}"#,
        ] {
            assert_eq!(subs.handle(bad, LIMITS, &known).0, "error", "{bad}");
        }
    }

    #[test]
    fn limits_accept_what_fits_and_refuse_the_rest_with_reasons() {
        let mut subs = Subscriptions::default();
        let (kind, reply) = subs.handle(
            r#"{"type":"subscribe","channels":["liquidations","signals","opportunities","long_short_ratio","liquidation_map","plugin:ghost"],"symbols":["a","b","c","d","e","bad symbol"]}"#,
            LIMITS,
            &known,
        );
        assert_eq!(kind, "subscribed");
        assert_eq!(reply["accepted"]["channels"].as_array().unwrap().len(), 4);
        assert_eq!(reply["accepted"]["symbols"], 3);
        let reasons: Vec<&str> = reply["refused"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["item"].as_str().unwrap())
            .collect();
        assert_eq!(
            reasons,
            ["plugin:ghost", "liquidation_map", "d", "e", "bad symbol"]
        );
        // The same symbols for other channels cost nothing more; new ones are refused.
        let (_, reply) = subs.handle(
            r#"{"type":"subscribe","channels":["signals"],"symbols":["A","z"]}"#,
            LIMITS,
            &known,
        );
        assert_eq!(reply["accepted"]["symbols"], 1, "{reply}");
        assert_eq!(reply["refused"][0]["item"], "z");
        assert_eq!(reply["symbols"], 3);
    }

    #[test]
    fn a_huge_request_gets_a_bounded_answer() {
        let mut subs = Subscriptions::default();
        let channels: Vec<String> = (0..2000).map(|i| format!("plugin:p{i}")).collect();
        let symbols: Vec<String> = (0..5000).map(|i| format!("SYM{i}")).collect();
        let request =
            json!({"type": "subscribe", "channels": channels, "symbols": symbols}).to_string();
        let known_all = |_: &str| true;
        let (kind, reply) = subs.handle(&request, LIMITS, &known_all);
        assert_eq!(kind, "subscribed");
        assert!(
            reply.to_string().len() < 4096,
            "{} bytes",
            reply.to_string().len()
        );
        assert_eq!(reply["more_refused"], 2000 - 4 + 5000 - 3 - 16);
        assert_eq!(subs.channels.len(), 4);
        assert_eq!(subs.distinct_symbols().len(), 3);
    }
}
