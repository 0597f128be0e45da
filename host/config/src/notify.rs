//! `[notify]`: where alerts are delivered (webhook, Telegram, Slack,
//! Discord, e-mail), which signals become alerts, and the host's own alarms.

use prism_model::{Direction, Priority, Strength};
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[notify]`: off while no channel is configured.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    pub channels: Vec<ChannelConfig>,
    /// Signals that become notifications; none by default.
    pub rules: Vec<SignalRule>,
    /// Notifications waiting per channel at most; past it the least urgent
    /// is dropped (and counted).
    pub queue: usize,
    /// Repeats of one key within this window are held back and summed up
    /// in one message when it ends (e.g. `5m`).
    pub dedup_window: String,
    /// The first retry waits this long; each next one twice as long…
    pub retry_initial: String,
    /// …up to this.
    pub retry_max: String,
    /// A notification still undelivered this long after it was raised is
    /// given up (and counted as failed).
    pub give_up_after: String,
    /// Notifications kept for `GET /api/v1/alerts`.
    pub history: usize,
    /// Raise the host's own alarms (quarantine, dead letters, feed loss,
    /// sink backlog, start and stop).
    pub alarms: bool,
    /// A live feed disconnected this long raises `feed_down` (P0).
    pub feed_down_after: String,
    /// A sink whose queue stays full (or that spools) this long raises
    /// `sink_backlog` (P1).
    pub sink_backlog_after: String,
    /// Message templates by notification kind (`{title}`, `{body}`,
    /// `{priority}`, `{kind}`, `{plugin}`, `{instrument}`, `{ts}`); a kind
    /// without one uses `[{priority}] {title}\n{body}`.
    pub templates: BTreeMap<String, String>,
    /// The dead man's switch.
    pub heartbeat: Option<HeartbeatConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            channels: Vec::new(),
            rules: Vec::new(),
            queue: 10_000,
            dedup_window: "5m".into(),
            retry_initial: "1s".into(),
            retry_max: "5m".into(),
            give_up_after: "24h".into(),
            history: 10_000,
            alarms: true,
            feed_down_after: "30s".into(),
            sink_backlog_after: "30s".into(),
            templates: BTreeMap::new(),
            heartbeat: None,
        }
    }
}

/// A secret read at start from the environment or a file, never written in
/// the config itself: `{ env = "NAME" }` or `{ file = "path" }`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub env: Option<String>,
    pub file: Option<String>,
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.env, &self.file) {
            (Some(e), _) => write!(f, "env:{e}"),
            (None, Some(p)) => write!(f, "file:{p}"),
            (None, None) => write!(f, "unset"),
        }
    }
}

/// An endpoint URL given inline or, when it embeds a secret (Slack and
/// Discord webhook URLs do), from the environment or a file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum UrlRef {
    Inline(String),
    Secret(SecretRef),
}

/// One delivery channel. Which endpoint fields apply depends on `kind`;
/// validation names a missing one and refuses one that does not apply.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    /// Names the channel in the API, metrics and logs.
    pub name: String,
    pub kind: ChannelKind,
    /// Only notifications at least this urgent (P0 is the most urgent).
    #[serde(default = "least_urgent")]
    pub min_priority: Priority,
    /// Only notifications of these plugins (host alarms name theirs, if
    /// any); empty: all.
    #[serde(default)]
    pub plugins: Vec<String>,
    /// Only notifications of these kinds (`alert`, `signal`,
    /// `plugin_quarantined`, …); empty: all.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Messages per minute at most (a burst of this many, then evenly).
    #[serde(default = "default_rate")]
    pub rate_per_minute: u32,
    /// One attempt waits this long at most (e.g. `10s`).
    #[serde(default = "default_timeout")]
    pub timeout: String,
    /// webhook, slack, discord: where to `POST`.
    pub url: Option<UrlRef>,
    /// webhook: signs each body with HMAC-SHA256 (header
    /// `X-Prism-Signature: sha256=<hex>`).
    pub secret: Option<SecretRef>,
    /// telegram: the Bot API's base URL.
    pub api_base: Option<String>,
    /// telegram: the bot token.
    pub token: Option<SecretRef>,
    /// telegram: the chat to write to.
    pub chat_id: Option<String>,
    /// email: the SMTP server.
    pub host: Option<String>,
    /// email: default 587 (465 with `security = "tls"`, 25 with `none`).
    pub port: Option<u16>,
    pub security: Option<SmtpSecurity>,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    /// email: a PEM file of CA certificates trusted besides the public
    /// roots (an internal mail relay).
    pub ca_file: Option<String>,
    pub from: Option<String>,
    pub to: Option<Vec<String>>,
}

fn least_urgent() -> Priority {
    Priority::P2
}
fn default_rate() -> u32 {
    30
}
fn default_timeout() -> String {
    "10s".into()
}

/// The channel's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// `POST` of the notification as JSON.
    Webhook,
    /// The Bot API's `sendMessage`.
    Telegram,
    /// A Slack incoming webhook.
    Slack,
    /// A Discord webhook.
    Discord,
    /// E-mail over SMTP.
    Email,
}

impl ChannelKind {
    /// The name the config and the API use.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Email => "email",
        }
    }
}

/// The Telegram Bot API's address.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (refused if the server does
    /// not offer it).
    #[default]
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
    /// No TLS: only for a relay on the same machine.
    None,
}

/// Signals that become notifications: a signal matches when every given
/// field matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalRule {
    /// Only this plugin's signals.
    pub plugin: Option<String>,
    /// At least this strong (`strong` > `medium` > `weak`).
    #[serde(default = "weakest")]
    pub min_strength: Strength,
    /// Only these directions; empty: any.
    #[serde(default)]
    pub directions: Vec<Direction>,
    /// The priority the notification gets.
    pub priority: Priority,
}

fn weakest() -> Strength {
    Strength::Weak
}

/// The dead man's switch: a URL called every `every`, so an outside monitor
/// notices when Prism is gone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    pub url: UrlRef,
    #[serde(default = "heartbeat_every")]
    pub every: String,
    /// `GET` (default) or `POST`.
    #[serde(default = "heartbeat_method")]
    pub method: String,
}

fn heartbeat_every() -> String {
    "60s".into()
}
fn heartbeat_method() -> String {
    "GET".into()
}

impl NotifyConfig {
    /// Every problem, by key.
    pub(crate) fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut bad = |k: String, m: &str| out.push((k, m.to_owned()));
        for (key, value) in [
            ("notify.dedup_window", &self.dedup_window),
            ("notify.retry_initial", &self.retry_initial),
            ("notify.retry_max", &self.retry_max),
            ("notify.give_up_after", &self.give_up_after),
            ("notify.feed_down_after", &self.feed_down_after),
            ("notify.sink_backlog_after", &self.sink_backlog_after),
        ] {
            if let Err(e) = crate::parse_duration(value) {
                bad(key.into(), &e.to_string());
            }
        }
        for (key, n) in [
            ("notify.queue", self.queue),
            ("notify.history", self.history),
        ] {
            if n == 0 {
                bad(key.into(), "must be at least 1");
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.channels.iter().enumerate() {
            let at = |field: &str| format!("notify.channels[{i}].{field}");
            if c.name.is_empty()
                || c.name.len() > 64
                || !c
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
            {
                bad(at("name"), "must be 1 to 64 letters, digits, `-` or `_`");
            } else if !names.insert(c.name.as_str()) {
                bad(at("name"), "another channel has this name");
            }
            if c.rate_per_minute == 0 {
                bad(at("rate_per_minute"), "must be at least 1");
            }
            if let Err(e) = crate::parse_duration(&c.timeout) {
                bad(at("timeout"), &e.to_string());
            }
            channel_problems(c, &at, &mut bad);
        }
        for (kind, template) in &self.templates {
            if template.len() > 4096 {
                bad(
                    format!("notify.templates.{kind}"),
                    "must be at most 4096 bytes",
                );
            }
        }
        if let Some(h) = &self.heartbeat {
            url_problems(&h.url, "notify.heartbeat.url", &mut bad);
            match crate::parse_duration(&h.every) {
                Err(e) => bad("notify.heartbeat.every".into(), &e.to_string()),
                Ok(d) if d.is_zero() => bad("notify.heartbeat.every".into(), "must be above 0"),
                Ok(_) => {}
            }
            if !["GET", "POST"].contains(&h.method.as_str()) {
                bad("notify.heartbeat.method".into(), "use GET or POST");
            }
        }
        out
    }
}

fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

fn url_problems(url: &UrlRef, key: &str, bad: &mut impl FnMut(String, &str)) {
    match url {
        UrlRef::Inline(u) if !is_http(u) => {
            bad(key.into(), "must start with http:// or https://");
        }
        UrlRef::Inline(_) => {}
        UrlRef::Secret(s) => secret_problems(s, key, bad),
    }
}

fn secret_problems(secret: &SecretRef, key: &str, bad: &mut impl FnMut(String, &str)) {
    match (&secret.env, &secret.file) {
        (Some(_), Some(_)) => bad(key.into(), "give `env` or `file`, not both"),
        (None, None) => bad(
            key.into(),
            "give `{ env = \"NAME\" }` or `{ file = \"path\" }`",
        ),
        (Some(e), None) if e.is_empty() => bad(key.into(), "`env` must name a variable"),
        _ => {}
    }
}

/// The endpoint fields a channel of this kind needs, and refuses the rest.
fn channel_problems(
    c: &ChannelConfig,
    at: &dyn Fn(&str) -> String,
    bad: &mut impl FnMut(String, &str),
) {
    let kind = c.kind.as_str();
    let given: [(&str, bool); 13] = [
        ("url", c.url.is_some()),
        ("secret", c.secret.is_some()),
        ("api_base", c.api_base.is_some()),
        ("token", c.token.is_some()),
        ("chat_id", c.chat_id.is_some()),
        ("host", c.host.is_some()),
        ("port", c.port.is_some()),
        ("security", c.security.is_some()),
        ("username", c.username.is_some()),
        ("password", c.password.is_some()),
        ("ca_file", c.ca_file.is_some()),
        ("from", c.from.is_some()),
        ("to", c.to.is_some()),
    ];
    let (required, optional): (&[&str], &[&str]) = match c.kind {
        ChannelKind::Webhook => (&["url"], &["secret"]),
        ChannelKind::Slack | ChannelKind::Discord => (&["url"], &[]),
        ChannelKind::Telegram => (&["token", "chat_id"], &["api_base"]),
        ChannelKind::Email => (
            &["host", "from", "to"],
            &["port", "security", "username", "password", "ca_file"],
        ),
    };
    for (field, present) in given {
        if !present && required.contains(&field) {
            bad(at(field), &format!("is required for kind = \"{kind}\""));
        }
        if present && !required.contains(&field) && !optional.contains(&field) {
            bad(at(field), &format!("does not apply to kind = \"{kind}\""));
        }
    }
    if let Some(url) = &c.url {
        url_problems(url, &at("url"), bad);
    }
    for (field, secret) in [
        ("secret", &c.secret),
        ("token", &c.token),
        ("password", &c.password),
    ] {
        if let Some(s) = secret {
            secret_problems(s, &at(field), bad);
        }
    }
    if let Some(base) = &c.api_base
        && !is_http(base)
    {
        bad(at("api_base"), "must start with http:// or https://");
    }
    if c.chat_id.as_ref().is_some_and(|id| id.trim().is_empty()) {
        bad(at("chat_id"), "must not be empty");
    }
    if c.host.as_ref().is_some_and(|h| h.trim().is_empty()) {
        bad(at("host"), "must not be empty");
    }
    if let Some(from) = &c.from
        && !from.contains('@')
    {
        bad(at("from"), "must be an e-mail address");
    }
    if let Some(to) = &c.to {
        if to.is_empty() {
            bad(at("to"), "must list at least one address");
        }
        for (j, addr) in to.iter().enumerate() {
            if !addr.contains('@') {
                bad(at(&format!("to[{j}]")), "must be an e-mail address");
            }
        }
    }
    if c.password.is_some() && c.username.is_none() {
        bad(at("username"), "must be set with a password");
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;
    use std::path::Path;

    fn problems(toml: &str) -> Vec<String> {
        match Config::from_toml_str(toml, Path::new(".")) {
            Ok(_) => Vec::new(),
            Err(crate::ConfigError::Invalid { problems, .. }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn each_channel_problem_names_its_key() {
        let p = problems(
            r#"
[notify]
dedup_window = "soon"
[[notify.channels]]
name = "tg"
kind = "telegram"
chat_id = "1"
url = "http://x"
[[notify.channels]]
name = "tg"
kind = "email"
host = "smtp"
from = "nobody"
to = []
password = { env = "P", file = "f" }
[[notify.channels]]
name = "hook"
kind = "webhook"
url = "ftp://x"
rate_per_minute = 0
"#,
        );
        let want = [
            "notify.dedup_window: `soon` is not a duration",
            "notify.channels[0].url: does not apply to kind = \"telegram\"",
            "notify.channels[0].token: is required for kind = \"telegram\"",
            "notify.channels[1].name: another channel has this name",
            "notify.channels[1].password: give `env` or `file`, not both",
            "notify.channels[1].from: must be an e-mail address",
            "notify.channels[1].to: must list at least one address",
            "notify.channels[1].username: must be set with a password",
            "notify.channels[2].rate_per_minute: must be at least 1",
            "notify.channels[2].url: must start with http:// or https://",
        ];
        for w in want {
            assert!(
                p.iter().any(|x| x.starts_with(w)),
                "missing `{w}` in {p:#?}"
            );
        }
        assert_eq!(p.len(), want.len(), "{p:#?}");
    }

    #[test]
    fn a_typo_in_a_channel_is_refused() {
        let p = problems(
            "[[notify.channels]]\nname = \"h\"\nkind = \"webhook\"\nurl = \"http://x\"\nmin_priorty = \"P0\"\n",
        );
        assert!(p[0].contains("min_priorty"), "{p:?}");
    }

    #[test]
    fn a_complete_config_is_accepted() {
        let p = problems(
            r#"
[[notify.rules]]
min_strength = "strong"
directions = ["long"]
priority = "P1"
[notify.heartbeat]
url = { env = "HB" }
[[notify.channels]]
name = "mail"
kind = "email"
host = "smtp.example.com"
security = "tls"
username = "u"
password = { file = "pw" }
from = "prism@example.com"
to = ["a@example.com"]
min_priority = "P0"
"#,
        );
        assert!(p.is_empty(), "{p:?}");
    }
}
