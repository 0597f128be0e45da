//! Delivery channels, built from `[[notify.channels]]` with their secrets
//! read once at start.

mod email;
pub(crate) mod http;

use crate::NotifyError;
use crate::notification::Notification;
use email::{MailSettings, Mailer};
use prism_config::{ChannelConfig, ChannelKind, SecretRef, SmtpSecurity, UrlRef};
use prism_model::Priority;
use std::path::Path;
use std::time::Duration;

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Worth trying again (no answer, 429, 5xx, a transient SMTP reply).
    pub(crate) retry: bool,
    /// The service said when to come back.
    pub(crate) retry_after_ms: Option<u64>,
    /// For the API and the log; never holds a secret.
    pub(crate) message: String,
}

/// Where and how a channel delivers. Holds secrets: never logged or
/// served (its `Debug` names the kind only).
#[derive(Clone)]
enum Endpoint {
    Webhook {
        url: String,
        secret: Option<Vec<u8>>,
    },
    Telegram {
        base: String,
        token: String,
        chat_id: String,
    },
    Slack {
        url: String,
    },
    Discord {
        url: String,
    },
    Email(Box<Mailer>),
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Endpoint::Webhook { .. } => "webhook",
            Endpoint::Telegram { .. } => "telegram",
            Endpoint::Slack { .. } => "slack",
            Endpoint::Discord { .. } => "discord",
            Endpoint::Email(_) => "email",
        })
    }
}

/// One channel, ready to deliver.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub(crate) name: String,
    pub(crate) kind: ChannelKind,
    pub(crate) min_priority: Priority,
    pub(crate) plugins: Vec<String>,
    pub(crate) kinds: Vec<String>,
    pub(crate) rate_per_minute: u32,
    pub(crate) timeout: Duration,
    endpoint: Endpoint,
}

impl Channel {
    /// Builds a channel, reading its secrets (env vars resolved now, files
    /// relative to `base_dir`).
    ///
    /// # Errors
    /// [`NotifyError::Channel`] naming the channel and the field.
    pub(crate) fn build(c: &ChannelConfig, base_dir: &Path) -> Result<Self, NotifyError> {
        let fail = |message: String| NotifyError::Channel {
            channel: c.name.clone(),
            message,
        };
        let missing = |field: &str| fail(format!("`{field}` is required"));
        let timeout = prism_config::parse_duration(&c.timeout).map_err(|e| fail(e.to_string()))?;
        let url = || -> Result<String, NotifyError> {
            let u = c.url.as_ref().ok_or_else(|| missing("url"))?;
            resolve_url(u, base_dir).map_err(|m| fail(format!("url: {m}")))
        };
        let endpoint = match c.kind {
            ChannelKind::Webhook => Endpoint::Webhook {
                url: url()?,
                secret: c
                    .secret
                    .as_ref()
                    .map(|s| resolve(s, base_dir).map(String::into_bytes))
                    .transpose()
                    .map_err(|m| fail(format!("secret: {m}")))?,
            },
            ChannelKind::Slack => Endpoint::Slack { url: url()? },
            ChannelKind::Discord => Endpoint::Discord { url: url()? },
            ChannelKind::Telegram => Endpoint::Telegram {
                base: c
                    .api_base
                    .clone()
                    .unwrap_or_else(|| prism_config::TELEGRAM_API.into()),
                token: resolve(c.token.as_ref().ok_or_else(|| missing("token"))?, base_dir)
                    .map_err(|m| fail(format!("token: {m}")))?,
                chat_id: c.chat_id.clone().ok_or_else(|| missing("chat_id"))?,
            },
            ChannelKind::Email => {
                let security = c.security.unwrap_or_default();
                let password = c
                    .password
                    .as_ref()
                    .map(|p| resolve(p, base_dir))
                    .transpose()
                    .map_err(|m| fail(format!("password: {m}")))?;
                let ca_pem = c
                    .ca_file
                    .as_ref()
                    .map(|f| {
                        std::fs::read(base_dir.join(f))
                            .map_err(|e| fail(format!("ca_file: cannot read {f}: {e}")))
                    })
                    .transpose()?;
                let to = c.to.clone().ok_or_else(|| missing("to"))?;
                let mailer = Mailer::new(MailSettings {
                    host: c.host.as_deref().ok_or_else(|| missing("host"))?,
                    port: c.port.unwrap_or(match security {
                        SmtpSecurity::Starttls => 587,
                        SmtpSecurity::Tls => 465,
                        SmtpSecurity::None => 25,
                    }),
                    security,
                    credentials: c.username.clone().zip(password),
                    ca_pem,
                    from: c.from.as_deref().ok_or_else(|| missing("from"))?,
                    to: &to,
                    timeout,
                })
                .map_err(fail)?;
                Endpoint::Email(Box::new(mailer))
            }
        };
        Ok(Self {
            name: c.name.clone(),
            kind: c.kind,
            min_priority: c.min_priority,
            plugins: c.plugins.clone(),
            kinds: c.kinds.clone(),
            rate_per_minute: c.rate_per_minute,
            timeout,
            endpoint,
        })
    }

    /// Whether this channel takes `n` (priority, plugin and kind filters).
    pub(crate) fn wants(&self, n: &Notification) -> bool {
        n.priority <= self.min_priority
            && (self.plugins.is_empty()
                || n.plugin.as_ref().is_some_and(|p| self.plugins.contains(p)))
            && (self.kinds.is_empty() || self.kinds.contains(&n.kind))
    }

    /// One attempt to deliver `n` with its rendered `text`.
    pub(crate) async fn deliver(
        &self,
        client: &reqwest::Client,
        n: &Notification,
        text: &str,
    ) -> Result<(), Failure> {
        let request = match &self.endpoint {
            Endpoint::Webhook { url, secret } => http::webhook(url, secret.as_deref(), n, text),
            Endpoint::Telegram {
                base,
                token,
                chat_id,
            } => http::telegram(base, token, chat_id, text),
            Endpoint::Slack { url } => http::slack(url, text),
            Endpoint::Discord { url } => http::discord(url, text),
            Endpoint::Email(mailer) => {
                return match tokio::time::timeout(
                    self.timeout + Duration::from_secs(1),
                    mailer.send(n, text),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(Failure {
                        retry: true,
                        retry_after_ms: None,
                        message: "SMTP: timed out".into(),
                    }),
                };
            }
        };
        http::send(client, request, self.timeout).await
    }
}

/// Reads a secret: the variable's value or the file's content (trailing
/// newline removed).
fn resolve(secret: &SecretRef, base_dir: &Path) -> Result<String, String> {
    let value = match (&secret.env, &secret.file) {
        (Some(var), _) => {
            std::env::var(var).map_err(|_| format!("the environment variable {var} is not set"))?
        }
        (None, Some(file)) => std::fs::read_to_string(base_dir.join(file))
            .map_err(|e| format!("cannot read {file}: {e}"))?,
        (None, None) => return Err("give `env` or `file`".into()),
    };
    let value = value.trim_end_matches(['\r', '\n']).to_owned();
    if value.is_empty() {
        return Err("is empty".into());
    }
    Ok(value)
}

/// An endpoint URL, inline or from a secret; it must be HTTP(S).
pub(crate) fn resolve_url(url: &UrlRef, base_dir: &Path) -> Result<String, String> {
    let u = match url {
        UrlRef::Inline(u) => u.clone(),
        UrlRef::Secret(s) => resolve(s, base_dir)?,
    };
    if !(u.starts_with("http://") || u.starts_with("https://")) {
        return Err("must start with http:// or https://".into());
    }
    Ok(u)
}
