//! The HTTP channels: a generic webhook, Telegram's `sendMessage`, Slack
//! and Discord incoming webhooks. Each request is built by a pure function
//! (tested against the service's documented format) and sent by one.

use super::Failure;
use crate::notification::{Notification, clip, priority_name};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::Duration;

/// Telegram refuses a message text over 4096 characters.
pub(crate) const TELEGRAM_MAX_CHARS: usize = 4096;
/// Discord refuses `content` over 2000 characters.
pub(crate) const DISCORD_MAX_CHARS: usize = 2000;
/// Slack truncates `text` past 40,000 characters; stay well below.
pub(crate) const SLACK_MAX_CHARS: usize = 39_000;

/// One request: where, the JSON body, and extra headers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub(crate) url: String,
    pub(crate) body: Vec<u8>,
    pub(crate) headers: Vec<(&'static str, String)>,
}

/// The generic webhook: the notification itself as JSON, with its text;
/// `X-Prism-Id` lets the receiver drop a redelivery; with a secret,
/// `X-Prism-Signature: sha256=<hex HMAC-SHA256 of the exact body>`.
pub(crate) fn webhook(url: &str, secret: Option<&[u8]>, n: &Notification, text: &str) -> Request {
    let body = json!({
        "id": n.id,
        "kind": n.kind,
        "priority": priority_name(n.priority),
        "title": n.title,
        "body": n.body,
        "plugin": n.plugin,
        "instrument": n.instrument,
        "ts": n.ts,
        "text": text,
    })
    .to_string()
    .into_bytes();
    let mut headers = vec![("x-prism-id", n.id.clone())];
    if let Some(secret) = secret {
        headers.push((
            "x-prism-signature",
            format!("sha256={}", sign(secret, &body)),
        ));
    }
    Request {
        url: url.to_owned(),
        body,
        headers,
    }
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub(crate) fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        // HMAC takes a key of any length; this cannot happen.
        return String::new();
    };
    mac.update(body);
    prism_model::hex(&mac.finalize().into_bytes())
}

/// Telegram Bot API `sendMessage` (`POST {base}/bot{token}/sendMessage`,
/// JSON `chat_id` and `text`; plain text, so nothing in a plugin's text is
/// read as markup).
pub(crate) fn telegram(base: &str, token: &str, chat_id: &str, text: &str) -> Request {
    let body = json!({
        "chat_id": chat_id,
        "text": clip(text, TELEGRAM_MAX_CHARS),
        "disable_web_page_preview": true,
    });
    Request {
        url: format!("{}/bot{token}/sendMessage", base.trim_end_matches('/')),
        body: body.to_string().into_bytes(),
        headers: Vec::new(),
    }
}

/// A Slack incoming webhook: JSON `text`.
pub(crate) fn slack(url: &str, text: &str) -> Request {
    Request {
        url: url.to_owned(),
        body: json!({ "text": clip(text, SLACK_MAX_CHARS) })
            .to_string()
            .into_bytes(),
        headers: Vec::new(),
    }
}

/// A Discord webhook: JSON `content`, with mentions turned off so a
/// plugin's text cannot ping `@everyone`.
pub(crate) fn discord(url: &str, text: &str) -> Request {
    Request {
        url: url.to_owned(),
        body: json!({
            "content": clip(text, DISCORD_MAX_CHARS),
            "allowed_mentions": { "parse": [] },
        })
        .to_string()
        .into_bytes(),
        headers: Vec::new(),
    }
}

/// Sends `request`; a 2xx is delivered. 429, 408 and 5xx (and no answer)
/// are worth a retry, honouring `Retry-After` (or Telegram's and Discord's
/// `retry_after` in the body); any other status is a permanent failure.
/// Telegram also answers `{"ok": false}` on errors.
pub(crate) async fn send(
    client: &reqwest::Client,
    request: Request,
    timeout: Duration,
) -> Result<(), Failure> {
    let mut builder = client
        .post(&request.url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .body(request.body);
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(|e| Failure {
        retry: true,
        retry_after_ms: None,
        // Without the URL: it may hold a token.
        message: format!("no answer: {}", error_kind(&e)),
    })?;
    let status = response.status();
    let header_wait = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| (s * 1000.0) as u64);
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() && body.get("ok") != Some(&Value::Bool(false)) {
        return Ok(());
    }
    let body_wait = body
        .get("parameters")
        .and_then(|p| p.get("retry_after"))
        .or_else(|| body.get("retry_after"))
        .and_then(Value::as_f64)
        .map(|s| (s * 1000.0) as u64);
    let code = status.as_u16();
    Err(Failure {
        retry: code == 429 || code == 408 || status.is_server_error(),
        retry_after_ms: header_wait.or(body_wait),
        message: format!("HTTP {code}: {}", clip(text.trim(), 300)),
    })
}

fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prism_model::Priority;

    fn n() -> Notification {
        Notification {
            id: "whales:17.0".into(),
            kind: "alert".into(),
            priority: Priority::P0,
            title: "Whale".into(),
            body: "50 BTC".into(),
            plugin: Some("whales".into()),
            instrument: None,
            ts: 1_700_000_000_000,
            key: "k".into(),
        }
    }

    #[test]
    fn webhook_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let r = webhook("http://h/x", Some(b"s3cret"), &n(), "[P0] Whale\n50 BTC");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["id"], "whales:17.0");
        assert_eq!(body["priority"], "P0");
        assert_eq!(body["text"], "[P0] Whale\n50 BTC");
        let sig = r
            .headers
            .iter()
            .find(|(k, _)| *k == "x-prism-signature")
            .unwrap();
        assert_eq!(sig.1, format!("sha256={}", sign(b"s3cret", &r.body)));
    }

    #[test]
    fn telegram_request_follows_the_bot_api() {
        let r = telegram("http://127.0.0.1:9/", "123:ABC", "-100200", "hi");
        assert_eq!(r.url, "http://127.0.0.1:9/bot123:ABC/sendMessage");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["chat_id"], "-100200");
        assert_eq!(body["text"], "hi");
    }

    #[test]
    fn discord_turns_mentions_off_and_clips() {
        let long = "x".repeat(3000);
        let r = discord("http://d/api/webhooks/1/t", &long);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["content"].as_str().unwrap().chars().count(), 2000);
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
    }
}
