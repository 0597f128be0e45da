//! Notifications through a running `prism run`: a host alarm raised by a
//! quarantined plugin reaching a webhook, the alerts API and WebSocket
//! channel, an admin's test message, and plugin alerts owed across a
//! restart delivered once each.

use crate::common::*;
use prism_loopback::{Answer, Recorder};
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "e2e-notify-token";

fn body(r: &prism_loopback::Recorded) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

/// Waits until the recorder holds a request whose JSON body satisfies `f`.
fn wait_request(peer: &Recorder, within: Duration, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(v) = peer.requests().iter().map(body).find(|v| f(v)) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no such request; got {:?}",
            peer.requests().iter().map(body).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_quarantined_plugin_reaches_the_webhook_the_api_and_the_websocket() {
    let dir = temp_dir("notify-quarantine");
    let peer = Recorder::start();
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
[recovery]
max_failures = 0
backoff_ms = 600000
[source]
kind = "simulator"
pace = 600.0
[[plugins]]
id = "poisoned"
path = "{probe}"
config = {{ mode = "panic", at = 1 }}
[[notify.channels]]
name = "ops-hook"
kind = "webhook"
url = "{url}/hook"
min_priority = "P1"
"#,
            data = dir.join("data").display(),
            probe = wasm("prism_probe").display(),
            url = peer.url,
        ),
    )
    .unwrap();
    let server = Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", TOKEN)]);
    let alarm = wait_request(&peer, Duration::from_secs(30), |v| {
        v["kind"] == "plugin_quarantined"
    });
    assert_eq!(alarm["priority"], "P0");
    assert_eq!(alarm["plugin"], "poisoned");
    assert!(
        alarm["title"]
            .as_str()
            .unwrap()
            .contains("`poisoned` quarantined")
    );
    assert!(
        alarm["body"].as_str().unwrap().contains("poison event"),
        "{alarm}"
    );
    // `host_started` is P2: below the channel's minimum, so not sent.
    assert!(
        peer.requests()
            .iter()
            .all(|r| body(r)["kind"] != "host_started")
    );

    // The API shows both, with their delivery on the channel.
    let page = server.wait_for("/api/v1/alerts", Duration::from_secs(10), |v| {
        v["items"].as_array().is_some_and(|i| {
            i.iter().any(|a| {
                a["kind"] == "plugin_quarantined" && a["deliveries"][0]["status"] == "sent"
            })
        })
    });
    let started = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "host_started")
        .expect("host_started is recorded");
    assert_eq!(started["deliveries"], json!([]));
    assert_eq!(page["channels"][0]["name"], "ops-hook");
    assert_eq!(page["channels"][0]["kind"], "webhook");
    let only = server.json("/api/v1/alerts?priority=P0&channel=ops-hook&status=sent");
    assert!(
        only["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["priority"] == "P0")
    );
    let (status, _) = server.get("/api/v1/alerts?status=lost");
    assert_eq!(status, 400);

    // An admin's test message goes out, and WebSocket clients see it.
    let ws_url = format!("{}/api/v1/ws", server.base.replace("http://", "ws://"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let frames = rt.block_on(async {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
        ws.send(Message::Text(
            json!({"type": "subscribe", "channels": ["alerts"]})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, _) = server.request(
            "POST",
            "/api/v1/alerts/test",
            None,
            br#"{"channel":"ops-hook"}"#,
        );
        assert_eq!(status, 401);
        let (status, answer) = server.request(
            "POST",
            "/api/v1/alerts/test",
            Some(TOKEN),
            br#"{"channel":"ops-hook","title":"hello from e2e"}"#,
        );
        assert_eq!(status, 200, "{answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["deliveries"][0]["status"], "sent");
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, ws.next()).await {
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                let done = v["type"] == "alerts"
                    && v["payload"]["kind"] == "test"
                    && v["payload"]["deliveries"][0]["status"] == "sent";
                frames.push(v);
                if done {
                    break;
                }
            }
        }
        frames
    });
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "alerts" && f["payload"]["title"] == "hello from e2e"),
        "{frames:?}"
    );
    let test = wait_request(&peer, Duration::from_secs(5), |v| v["kind"] == "test");
    assert_eq!(test["title"], "hello from e2e");
    let (status, _) = server.request(
        "POST",
        "/api/v1/alerts/test",
        Some(TOKEN),
        br#"{"channel":"nope"}"#,
    );
    assert_eq!(status, 404);

    // Metrics per channel.
    let (_, metrics) = server.get("/metrics");
    let sent: f64 = metrics
        .lines()
        .find(|l| l.starts_with("prism_notify_sent_total{channel=\"ops-hook\",kind=\"webhook\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(sent >= 2.0, "{metrics}");
}

#[test]
fn plugin_alerts_owed_at_a_stop_are_sent_once_after_the_restart() {
    let dir = temp_dir("notify-restart");
    let peer = Recorder::start();
    peer.fallback(Answer::status(503, "maintenance"));
    // 60 trades; the probe raises an alert every 10th: 6 alerts.
    let events = dir.join("events.jsonl");
    let lines: Vec<String> = (0..60)
        .map(|i| {
            format!(
                r#"{{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":{},"price":"37000.{i}","size":"0.5","side":"buy"}}"#,
                1_700_000_000_000_i64 + i * 1000
            )
        })
        .collect();
    std::fs::write(&events, lines.join("\n") + "\n").unwrap();
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
[source]
kind = "replay"
path = "{events}"
[[plugins]]
id = "alerts"
path = "{probe}"
config = {{ mode = "alert", every = 10 }}
[notify]
retry_initial = "100ms"
[[notify.channels]]
name = "desk"
kind = "webhook"
url = "{url}/desk"
kinds = ["alert"]
"#,
            data = dir.join("data").display(),
            events = events.display(),
            probe = wasm("prism_probe").display(),
            url = peer.url,
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    server.wait_for(
        "/api/v1/alerts?status=pending",
        Duration::from_secs(30),
        |v| v["items"].as_array().is_some_and(|i| i.len() == 6),
    );
    assert!(server.terminate().success());
    let refused = peer.requests().len();
    assert!(refused >= 6);

    // The channel is back; the same replay runs again from the same data.
    peer.fallback(Answer::status(200, "ok"));
    let server = Server::start(&config);
    let _ = peer.wait_for(refused + 6, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(1));
    let after: Vec<Value> = peer.requests()[refused..].iter().map(body).collect();
    let mut titles: Vec<String> = after
        .iter()
        .map(|v| v["title"].as_str().unwrap().to_owned())
        .collect();
    // Most urgent first: the P0 ones (3 and 6) lead.
    assert_eq!(titles[..2], ["probe alert 3", "probe alert 6"]);
    titles.sort();
    assert_eq!(
        titles,
        (1..=6)
            .map(|n| format!("probe alert {n}"))
            .collect::<Vec<_>>(),
        "each owed alert once, and the replayed ones not again"
    );
    assert!(after.iter().all(|v| v["plugin"] == "alerts"));
    drop(server);
}
