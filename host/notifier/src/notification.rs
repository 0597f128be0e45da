//! What is delivered: a notification, where it came from, and its text.

use prism_model::{Alert, Direction, OutputId, Priority, Signal, Strength, TimestampMs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest title kept, in characters.
pub(crate) const MAX_TITLE_CHARS: usize = 256;
/// Longest body kept, in characters.
pub(crate) const MAX_BODY_CHARS: usize = 8192;

/// One thing to tell a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable identity: `{plugin}:{position}.{index}` for a plugin output
    /// (the output's identity, so a replayed output is the same
    /// notification), `host:{kind}:{n}` for a host alarm.
    pub id: String,
    /// What it is: `alert`, `signal`, or a host alarm's kind
    /// (`plugin_quarantined`, `feed_down`, …).
    pub kind: String,
    pub priority: Priority,
    pub title: String,
    pub body: String,
    /// The plugin it is about, if any.
    pub plugin: Option<String>,
    /// `exchange:symbol`, if about one instrument.
    pub instrument: Option<String>,
    /// Event time for plugin outputs, wall time for host alarms; unix ms.
    pub ts: TimestampMs,
    /// Repeats within the de-duplication window share this key.
    pub key: String,
}

/// A host alarm's kind, as channels filter on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlarmKind {
    PluginQuarantined,
    PluginFailed,
    DeadLetter,
    SwapRefused,
    FeedDown,
    FeedRestored,
    SinkBacklog,
    HostStarted,
    HostStopped,
    /// A trading plugin was halted (every order rejected).
    RiskHalted,
    /// A trading plugin may only reduce its positions (a limit, or an operator).
    RiskReducing,
    /// A trading plugin may trade again.
    RiskActive,
    /// Sent on request (`POST /api/v1/alerts/test`).
    Test,
}

impl AlarmKind {
    /// The stable name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::PluginQuarantined => "plugin_quarantined",
            AlarmKind::PluginFailed => "plugin_failed",
            AlarmKind::DeadLetter => "dead_letter",
            AlarmKind::SwapRefused => "swap_refused",
            AlarmKind::FeedDown => "feed_down",
            AlarmKind::FeedRestored => "feed_restored",
            AlarmKind::SinkBacklog => "sink_backlog",
            AlarmKind::HostStarted => "host_started",
            AlarmKind::HostStopped => "host_stopped",
            AlarmKind::RiskHalted => "risk_halted",
            AlarmKind::RiskReducing => "risk_reducing",
            AlarmKind::RiskActive => "risk_active",
            AlarmKind::Test => "test",
        }
    }

    /// The priority it is raised with.
    #[must_use]
    pub fn priority(self) -> Priority {
        match self {
            AlarmKind::PluginQuarantined
            | AlarmKind::PluginFailed
            | AlarmKind::FeedDown
            | AlarmKind::RiskHalted => Priority::P0,
            AlarmKind::DeadLetter
            | AlarmKind::SwapRefused
            | AlarmKind::SinkBacklog
            | AlarmKind::RiskReducing => Priority::P1,
            AlarmKind::RiskActive
            | AlarmKind::FeedRestored
            | AlarmKind::HostStarted
            | AlarmKind::HostStopped
            | AlarmKind::Test => Priority::P2,
        }
    }
}

/// A host alarm before it is numbered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub kind: AlarmKind,
    /// What it is about (a plugin id, a venue, a sink): repeats about the
    /// same subject are de-duplicated together.
    pub subject: String,
    pub plugin: Option<String>,
    pub title: String,
    pub body: String,
}

impl Notification {
    /// A plugin's `alert` output.
    #[must_use]
    pub fn from_alert(plugin: &str, id: OutputId, alert: &Alert) -> Self {
        Self {
            id: format!("{plugin}:{id}"),
            kind: "alert".into(),
            priority: alert.priority,
            title: clip(&alert.title, MAX_TITLE_CHARS),
            body: clip(&alert.body, MAX_BODY_CHARS),
            plugin: Some(plugin.into()),
            instrument: None,
            ts: alert.ts,
            key: format!("alert:{plugin}:{}", clip(&alert.title, MAX_TITLE_CHARS)),
        }
    }

    /// A signal that matched a rule giving it `priority`.
    #[must_use]
    pub fn from_signal(plugin: &str, id: OutputId, signal: &Signal, priority: Priority) -> Self {
        let i = &signal.instrument;
        let direction = direction_name(signal.direction);
        Self {
            id: format!("{plugin}:{id}"),
            kind: "signal".into(),
            priority,
            title: format!(
                "{plugin}: {direction} {} on {} ({})",
                i.symbol,
                i.exchange,
                strength_name(signal.strength)
            ),
            body: clip(&signal.reason, MAX_BODY_CHARS),
            plugin: Some(plugin.into()),
            instrument: Some(format!("{}:{}", i.exchange, i.symbol)),
            ts: signal.ts,
            key: format!("signal:{plugin}:{}:{}:{direction}", i.exchange, i.symbol),
        }
    }

    /// A host alarm, numbered `n` among this host's alarms.
    #[must_use]
    pub fn from_alarm(alarm: &Alarm, n: u64, now_ms: TimestampMs) -> Self {
        let kind = alarm.kind.as_str();
        Self {
            id: format!("host:{kind}:{now_ms}-{n}"),
            kind: kind.into(),
            priority: alarm.kind.priority(),
            title: clip(&alarm.title, MAX_TITLE_CHARS),
            body: clip(&alarm.body, MAX_BODY_CHARS),
            plugin: alarm.plugin.clone(),
            instrument: None,
            ts: now_ms,
            key: format!("{kind}:{}", alarm.subject),
        }
    }

    /// The message text, from the kind's template or the default
    /// `[{priority}] {title}` and the body on the next line.
    #[must_use]
    pub fn render(&self, templates: &BTreeMap<String, String>) -> String {
        let Some(template) = templates.get(&self.kind) else {
            return if self.body.is_empty() {
                format!("[{}] {}", priority_name(self.priority), self.title)
            } else {
                format!(
                    "[{}] {}\n{}",
                    priority_name(self.priority),
                    self.title,
                    self.body
                )
            };
        };
        // One pass, so a value that contains `{body}` is not expanded again.
        let mut out = String::with_capacity(template.len() + self.body.len());
        let mut rest = template.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                out.push_str(&rest[open..]);
                rest = "";
                break;
            };
            let name = &after[..close];
            let value = match name {
                "title" => Some(self.title.clone()),
                "body" => Some(self.body.clone()),
                "priority" => Some(priority_name(self.priority).to_owned()),
                "kind" => Some(self.kind.clone()),
                "plugin" => Some(self.plugin.clone().unwrap_or_default()),
                "instrument" => Some(self.instrument.clone().unwrap_or_default()),
                "ts" => Some(self.ts.to_string()),
                "id" => Some(self.id.clone()),
                _ => None,
            };
            match value {
                Some(v) => out.push_str(&v),
                None => out.push_str(&rest[open..=open + 1 + close]),
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// `P0`, `P1`, `P2`.
#[must_use]
pub fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::P0 => "P0",
        Priority::P1 => "P1",
        Priority::P2 => "P2",
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Long => "long",
        Direction::Short => "short",
        Direction::Flat => "flat",
    }
}

fn strength_name(s: Strength) -> &'static str {
    match s {
        Strength::Strong => "strong",
        Strength::Medium => "medium",
        Strength::Weak => "weak",
        Strength::Ignore => "ignore",
    }
}

/// Rank of a strength: higher is stronger.
#[must_use]
pub(crate) fn strength_rank(s: Strength) -> u8 {
    match s {
        Strength::Strong => 3,
        Strength::Medium => 2,
        Strength::Weak => 1,
        Strength::Ignore => 0,
    }
}

/// At most `max` characters of `text`, ending in `…` when cut.
#[must_use]
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let cut = text
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(0, |(i, _)| i);
            format!("{}…", &text[..cut])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Notification {
        Notification {
            id: "p:1.0".into(),
            kind: "alert".into(),
            priority: Priority::P1,
            title: "BTC {body} dump".into(),
            body: "-5% in 1m".into(),
            plugin: Some("p".into()),
            instrument: None,
            ts: 42,
            key: "k".into(),
        }
    }

    #[test]
    fn default_text_is_priority_title_and_body() {
        let n = sample();
        assert_eq!(
            n.render(&BTreeMap::new()),
            "[P1] BTC {body} dump\n-5% in 1m"
        );
    }

    #[test]
    fn a_template_expands_once_and_keeps_unknown_names() {
        let n = sample();
        let t = BTreeMap::from([(
            "alert".to_owned(),
            "{priority}|{title}|{body}|{nope}|{ts}|{".to_owned(),
        )]);
        // `{body}` inside the title is a value, not a placeholder.
        assert_eq!(n.render(&t), "P1|BTC {body} dump|-5% in 1m|{nope}|42|{");
    }

    #[test]
    fn clip_counts_characters_not_bytes() {
        assert_eq!(clip("ééé", 3), "ééé");
        assert_eq!(clip("éééé", 3), "éé…");
        assert_eq!(clip("abc", 0), "…");
    }

    #[test]
    fn alarm_kinds_have_the_issue_priorities() {
        assert_eq!(AlarmKind::PluginQuarantined.priority(), Priority::P0);
        assert_eq!(AlarmKind::FeedDown.priority(), Priority::P0);
        assert_eq!(AlarmKind::DeadLetter.priority(), Priority::P1);
        assert_eq!(AlarmKind::SwapRefused.priority(), Priority::P1);
        assert_eq!(AlarmKind::SinkBacklog.priority(), Priority::P1);
        assert_eq!(AlarmKind::HostStarted.priority(), Priority::P2);
    }
}
