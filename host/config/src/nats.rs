//! NATS JetStream: the collector (the source's events published to
//! `market.{exchange}.{symbol}.{type}`), the output publisher
//! (`prism.out.{plugin}.{kind}`) and the `nats` source.

use serde::Deserialize;

/// How normalized events are encoded on the bus (the replay record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusFormat {
    #[default]
    Json,
    Msgpack,
}

/// `[nats]`: off unless `url` or `PRISM_NATS_URL` is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// `nats://host:port`.
    pub url: Option<String>,
    /// Wait at most this long (ms) for the server at start and per request.
    pub connect_timeout_ms: u64,
    /// The JetStream stream of market events (created when missing, its
    /// subjects checked when present).
    pub stream: String,
    /// First subject token of market events: `{prefix}.{exchange}.{symbol}.{type}`.
    pub subject_prefix: String,
    /// Event kinds the source's events are published as (the collector);
    /// empty: not collecting.
    pub collect: Vec<prism_model::EventKind>,
    /// Names this collector in message ids (`{collector}:{position}`), so a
    /// restarted collector's republished events are dropped by the stream.
    pub collector: String,
    /// Payload encoding of published events.
    pub format: BusFormat,
    /// The stream keeps events this long (e.g. `7d`).
    pub max_age: String,
    /// Replicas of the streams (1 on a single server).
    pub replicas: usize,
    /// The window in which the stream drops a message id seen before.
    pub duplicate_window: String,
    /// Publish every plugin output to `{output_prefix}.{plugin}.{kind}`.
    pub outputs: bool,
    /// The JetStream stream of outputs.
    pub output_stream: String,
    pub output_prefix: String,
    /// Publishes awaiting the server's acknowledgement at once.
    pub in_flight: usize,
    /// Outputs wait for the stream in a disk spool of at most this many
    /// MiB (`{data_dir}/nats/outputs`), so an outage does not hold the
    /// pipeline until it is full; 0: they wait in the sink's queue.
    pub spool_mb: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: None,
            connect_timeout_ms: 5_000,
            stream: "MARKET".into(),
            subject_prefix: "market".into(),
            collect: Vec::new(),
            collector: "prism".into(),
            format: BusFormat::Json,
            max_age: "7d".into(),
            replicas: 1,
            duplicate_window: "2m".into(),
            outputs: false,
            output_stream: "PRISM_OUT".into(),
            output_prefix: "prism.out".into(),
            in_flight: 1024,
            spool_mb: 1024,
        }
    }
}

impl NatsConfig {
    /// The URL in force: `PRISM_NATS_URL` if set and not empty, else `url`.
    /// `None`: NATS is off.
    #[must_use]
    pub fn effective_url(&self) -> Option<String> {
        std::env::var("PRISM_NATS_URL")
            .ok()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .or_else(|| self.url.clone().filter(|u| !u.trim().is_empty()))
    }
}

/// Where a new consumer starts when no plugin checkpoint says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliverFrom {
    /// The oldest event the stream holds.
    #[default]
    All,
    /// Events published after the consumer is made.
    New,
}

/// `[source] kind = "nats"`: a durable pull consumer of `[nats] stream`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsSourceConfig {
    /// Subjects consumed, e.g. `market.binance.>`; default every subject
    /// of the stream (`{subject_prefix}.>`).
    pub filter: Option<String>,
    /// The durable consumer's name.
    pub durable: String,
    pub deliver: DeliverFrom,
    /// Messages asked for per pull.
    pub fetch: usize,
    /// The server redelivers a message not acknowledged in this long.
    pub ack_wait: String,
}

impl Default for NatsSourceConfig {
    fn default() -> Self {
        Self {
            filter: None,
            durable: "prism".into(),
            deliver: DeliverFrom::All,
            fetch: 1024,
            ack_wait: "60s".into(),
        }
    }
}

impl NatsSourceConfig {
    /// The subjects consumed: `filter`, or all of `[nats] subject_prefix`.
    #[must_use]
    pub fn subjects(&self, nats: &NatsConfig) -> String {
        self.filter
            .clone()
            .unwrap_or_else(|| format!("{}.>", nats.subject_prefix))
    }
}

/// A NATS stream or consumer name: letters, digits, `-` and `_`.
#[must_use]
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A subject (or filter): dot-separated tokens, none empty, no spaces;
/// `wildcards` allows `*` tokens and a final `>`.
#[must_use]
pub fn valid_subject(subject: &str, wildcards: bool) -> bool {
    let tokens: Vec<&str> = subject.split('.').collect();
    tokens.iter().enumerate().all(|(i, t)| {
        !t.is_empty()
            && !t.chars().any(char::is_whitespace)
            && match *t {
                "*" => wildcards,
                ">" => wildcards && i == tokens.len() - 1,
                _ => !t.contains(['*', '>']),
            }
    })
}

impl NatsConfig {
    /// Every problem with `[nats]` (and a `nats` source), by key.
    pub(crate) fn problems(&self, source: Option<&NatsSourceConfig>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |k: &str, m: &str| out.push((k.to_owned(), m.to_owned()));
        if let Some(url) = &self.url
            && !(url.starts_with("nats://") || url.starts_with("tls://"))
        {
            bad("nats.url", "must start with nats:// or tls://");
        }
        for (key, name) in [
            ("nats.stream", &self.stream),
            ("nats.output_stream", &self.output_stream),
        ] {
            if !valid_name(name) {
                bad(key, "must be 1 to 64 letters, digits, `-` or `_`");
            }
        }
        if self.stream == self.output_stream {
            bad("nats.output_stream", "must differ from nats.stream");
        }
        for (key, prefix) in [
            ("nats.subject_prefix", &self.subject_prefix),
            ("nats.output_prefix", &self.output_prefix),
        ] {
            if !valid_subject(prefix, false) {
                bad(
                    key,
                    "must be dot-separated tokens without spaces or wildcards",
                );
            }
        }
        if self.subject_prefix == self.output_prefix
            || self
                .output_prefix
                .starts_with(&format!("{}.", self.subject_prefix))
            || self
                .subject_prefix
                .starts_with(&format!("{}.", self.output_prefix))
        {
            bad(
                "nats.output_prefix",
                "must not overlap nats.subject_prefix (one stream per subject space)",
            );
        }
        if self.collector.is_empty()
            || !self
                .collector
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            bad("nats.collector", "must be letters, digits, `-` or `_`");
        }
        if self.collect.contains(&prism_model::EventKind::Fill) {
            bad(
                "nats.collect",
                "fills are the executor's, not the source's; use trade, liquidation, funding, open_interest, book, position, candle, ticker",
            );
        }
        for (key, text) in [
            ("nats.max_age", &self.max_age),
            ("nats.duplicate_window", &self.duplicate_window),
        ] {
            if let Err(e) = crate::parse_duration(text) {
                bad(key, &e.to_string());
            }
        }
        for (key, n) in [
            ("nats.connect_timeout_ms", self.connect_timeout_ms),
            ("nats.replicas", self.replicas as u64),
            ("nats.in_flight", self.in_flight as u64),
        ] {
            if n == 0 {
                bad(key, "must be at least 1");
            }
        }
        if self.spool_mb > 1 << 20 {
            bad(
                "nats.spool_mb",
                "must be at most 1048576 (1 TiB); 0 turns the spool off",
            );
        }
        if self.replicas > 5 {
            bad("nats.replicas", "JetStream allows at most 5");
        }
        if let Some(s) = source {
            let filter = s.subjects(self);
            if !valid_subject(&filter, true) {
                bad(
                    "source.filter",
                    "must be a subject: dot-separated tokens, `*` for one token, a final `>`",
                );
            } else if !(filter == ">" || filter.starts_with(&format!("{}.", self.subject_prefix))) {
                bad(
                    "source.filter",
                    &format!(
                        "must be within nats.subject_prefix `{}`",
                        self.subject_prefix
                    ),
                );
            }
            if !valid_name(&s.durable) {
                bad(
                    "source.durable",
                    "must be 1 to 64 letters, digits, `-` or `_`",
                );
            }
            if s.fetch == 0 || s.fetch > 10_000 {
                bad("source.fetch", "must be 1 to 10000");
            }
            if let Err(e) = crate::parse_duration(&s.ack_wait) {
                bad("source.ack_wait", &e.to_string());
            }
            if self.effective_url().is_none() {
                bad(
                    "source.kind",
                    "a `nats` source needs [nats] url (or PRISM_NATS_URL)",
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nats_is_off_by_default_and_checked_key_by_key() {
        let c = crate::Config::from_toml_str("", std::path::Path::new(".")).unwrap();
        assert_eq!(c.nats.url, None);
        let bad = crate::Config::from_toml_str(
            r#"
            [nats]
            url = "http://x"
            stream = "A.B"
            output_stream = "A.B"
            subject_prefix = "m"
            output_prefix = "m.out"
            collect = ["fill"]
            max_age = "soon"
            replicas = 0
            [source]
            kind = "nats"
            filter = "other.>"
            durable = "a b"
            fetch = 0
            "#,
            std::path::Path::new("."),
        )
        .unwrap_err()
        .to_string();
        for key in [
            "nats.url",
            "nats.stream",
            "nats.output_stream",
            "nats.output_prefix",
            "nats.collect",
            "nats.max_age",
            "nats.replicas",
            "source.filter",
            "source.durable",
            "source.fetch",
        ] {
            assert!(bad.contains(&format!("{key}:")), "{key} in {bad}");
        }
        let good = crate::Config::from_toml_str(
            r#"
            [nats]
            url = "nats://127.0.0.1:4222"
            [source]
            kind = "nats"
            "#,
            std::path::Path::new("."),
        )
        .unwrap();
        let crate::SourceConfig::Nats(source) = &good.source else {
            panic!("a nats source");
        };
        assert_eq!(source.subjects(&good.nats), "market.>");
    }

    #[test]
    fn subjects_and_names() {
        assert!(valid_subject("market.>", true));
        assert!(valid_subject("market.*.BTCUSDT.trade", true));
        assert!(!valid_subject("market.>.x", true));
        assert!(!valid_subject("market..x", true));
        assert!(!valid_subject("market.>", false));
        assert!(!valid_subject("mar ket", false));
        assert!(valid_name("MARKET_1-a"));
        assert!(!valid_name("MARKET.1"));
        assert!(!valid_name(""));
    }
}
