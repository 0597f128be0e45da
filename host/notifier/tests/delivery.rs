//! The notifier against real protocol peers on loopback: an HTTP server
//! that records requests (webhook, Telegram, Slack, Discord) and an SMTP
//! server with STARTTLS and AUTH. Request shapes are checked field by field
//! against each service's documented format.

mod support;

use hmac::{Hmac, Mac};
use prism_loopback::{Answer, Recorder};
use prism_model::{Alert, Output, OutputBatch, Priority};
use prism_notifier::{Alarm, AlarmKind, AlertQuery, DeliveryStatus, Notifier};
use prism_sinks::Sink;
use serde_json::Value;
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::smtp::SmtpServer;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prism-notify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A notifier from a `[notify]` TOML section, parsed and validated as the
/// binary does.
fn notifier(rt: &tokio::runtime::Runtime, notify_toml: &str, dir: Option<&Path>) -> Notifier {
    let base = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let config = prism_config::Config::from_toml_str(notify_toml, &base).unwrap();
    Notifier::start(&config.notify, &base, dir, rt.handle()).unwrap()
}

/// A `[notify]` section with `settings`, and one channel posting to `url`
/// with `more` keys (each a TOML line; `\n` between them).
fn one_channel(settings: &str, name: &str, kind: &str, url: &str, more: &str) -> String {
    format!(
        "[notify]\n{settings}\n[[notify.channels]]\nname = \"{name}\"\nkind = \"{kind}\"\nurl = \"{url}\"\n{more}\n"
    )
}

fn alarm(kind: AlarmKind, subject: &str, title: &str) -> Alarm {
    Alarm {
        kind,
        subject: subject.into(),
        plugin: None,
        title: title.into(),
        body: "details".into(),
    }
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

fn alert_batch(plugin: &str, position: u64, alerts: &[(Priority, &str)]) -> OutputBatch {
    OutputBatch {
        plugin: plugin.into(),
        position,
        previous: None,
        outputs: alerts
            .iter()
            .map(|(p, t)| {
                Output::Alert(Alert {
                    priority: *p,
                    ts: 1_700_000_000_000,
                    title: (*t).into(),
                    body: "body".into(),
                })
            })
            .collect(),
    }
}

#[test]
fn every_http_channel_sends_the_documented_request() {
    let rt = runtime();
    let peer = Recorder::start();
    let dir = temp_dir("shapes");
    std::fs::write(dir.join("tg-token"), "123456:ABC-def\n").unwrap();
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("PRISM_TEST_HOOK_SECRET", "s3cret") };
    let url = &peer.url;
    let n = notifier(
        &rt,
        &format!(
            r#"
[[notify.channels]]
name = "hook"
kind = "webhook"
url = "{url}/hook"
secret = {{ env = "PRISM_TEST_HOOK_SECRET" }}

[[notify.channels]]
name = "tg"
kind = "telegram"
api_base = "{url}/tg"
token = {{ file = "tg-token" }}
chat_id = "-1001234"

[[notify.channels]]
name = "slack"
kind = "slack"
url = "{url}/slack/services/T0/B0/XYZ"

[[notify.channels]]
name = "discord"
kind = "discord"
url = "{url}/discord/api/webhooks/1/tok"
"#
        ),
        Some(&dir),
    );
    n.raise(&alarm(
        AlarmKind::FeedDown,
        "binance",
        "the binance feed is disconnected @everyone",
    ));
    let got = peer.wait_for(4, Duration::from_secs(10));
    assert_eq!(got.len(), 4, "{got:?}");
    let by = |prefix: &str| got.iter().find(|r| r.path.starts_with(prefix)).unwrap();
    let text = "[P0] the binance feed is disconnected @everyone\ndetails";

    let hook = by("/hook");
    assert_eq!(hook.method, "POST");
    assert_eq!(hook.header("content-type"), Some("application/json"));
    let body = json(&hook.body);
    assert_eq!(body["kind"], "feed_down");
    assert_eq!(body["priority"], "P0");
    assert_eq!(body["text"], text);
    assert_eq!(hook.header("x-prism-id"), body["id"].as_str());
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(&hook.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hook.header("x-prism-signature"),
        Some(format!("sha256={want}").as_str())
    );

    // https://core.telegram.org/bots/api#sendmessage
    let tg = by("/tg");
    assert_eq!(tg.path, "/tg/bot123456:ABC-def/sendMessage");
    assert_eq!(tg.method, "POST");
    let body = json(&tg.body);
    assert_eq!(body["chat_id"], "-1001234");
    assert_eq!(body["text"], text);

    // https://api.slack.com/messaging/webhooks: {"text": …}
    let slack = by("/slack");
    assert_eq!(slack.path, "/slack/services/T0/B0/XYZ");
    assert_eq!(json(&slack.body), serde_json::json!({ "text": text }));

    // https://discord.com/developers/docs/resources/webhook#execute-webhook
    let discord = by("/discord");
    let body = json(&discord.body);
    assert_eq!(body["content"], text);
    assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));

    // The history says sent on all four, and never shows a secret.
    let list = n.list(&AlertQuery {
        limit: 10,
        ..AlertQuery::default()
    });
    assert_eq!(list.len(), 1);
    assert!(
        list[0]
            .deliveries
            .iter()
            .all(|d| d.status == DeliveryStatus::Sent)
    );
    let shown = serde_json::to_string(&list).unwrap() + &format!("{:?}", n.channels());
    assert!(!shown.contains("s3cret") && !shown.contains("ABC-def"));
    n.finish(Duration::ZERO);
}

#[test]
fn a_backlog_is_sent_most_urgent_first() {
    let rt = runtime();
    let peer = Recorder::start();
    // The first request is held for a while: the rest queue up behind it.
    peer.script(vec![
        Answer::status(200, "ok").after(Duration::from_millis(700)),
    ]);
    let n = notifier(
        &rt,
        &one_channel("", "hook", "webhook", &format!("{}/h", peer.url), ""),
        None,
    );
    n.raise(&alarm(AlarmKind::HostStarted, "first", "first"));
    let _ = peer.wait_for(1, Duration::from_secs(5));
    for (kind, subject) in [
        (AlarmKind::HostStarted, "p2-a"),
        (AlarmKind::DeadLetter, "p1-a"),
        (AlarmKind::FeedDown, "p0-a"),
        (AlarmKind::HostStopped, "p2-b"),
        (AlarmKind::SwapRefused, "p1-b"),
        (AlarmKind::PluginFailed, "p0-b"),
    ] {
        n.raise(&alarm(kind, subject, subject));
    }
    let got = peer.wait_for(7, Duration::from_secs(10));
    let titles: Vec<String> = got
        .iter()
        .map(|r| json(&r.body)["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        titles,
        ["first", "p0-a", "p0-b", "p1-a", "p1-b", "p2-a", "p2-b"]
    );
    n.finish(Duration::ZERO);
}

#[test]
fn the_rate_limit_paces_a_channel() {
    let rt = runtime();
    let peer = Recorder::start();
    // 60 a minute: a burst of 60, then one a second.
    let n = notifier(
        &rt,
        &one_channel(
            "",
            "hook",
            "webhook",
            &format!("{}/h", peer.url),
            "rate_per_minute = 60",
        ),
        None,
    );
    let start = Instant::now();
    for i in 0..62 {
        n.raise(&alarm(
            AlarmKind::DeadLetter,
            &format!("p{i}"),
            &format!("t{i}"),
        ));
    }
    let all = peer.wait_for(62, Duration::from_secs(10));
    assert_eq!(all.len(), 62);
    let at = |i: usize| all[i].at.duration_since(start);
    // No more than the burst before the first token comes back…
    assert!(
        all.iter()
            .filter(|r| r.at.duration_since(start) < Duration::from_millis(950))
            .count()
            <= 60
    );
    // …and the two after it a second apart.
    assert!(at(60) >= Duration::from_millis(950), "{:?}", at(60));
    assert!(at(61) >= Duration::from_millis(1_900), "{:?}", at(61));
    assert_eq!(n.channels()[0].queued, 0);
    n.finish(Duration::ZERO);
}

#[test]
fn repeats_within_the_window_become_one_summary() {
    let rt = runtime();
    let peer = Recorder::start();
    let n = notifier(
        &rt,
        &one_channel(
            "dedup_window = \"1s\"",
            "hook",
            "webhook",
            &format!("{}/h", peer.url),
            "",
        ),
        None,
    );
    for _ in 0..5 {
        n.raise(&alarm(
            AlarmKind::FeedDown,
            "okx",
            "the okx feed is disconnected",
        ));
    }
    n.raise(&alarm(
        AlarmKind::FeedDown,
        "bybit",
        "the bybit feed is disconnected",
    ));
    let got = peer.wait_for(3, Duration::from_secs(5));
    let titles: Vec<String> = got
        .iter()
        .map(|r| json(&r.body)["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        titles,
        [
            "the okx feed is disconnected",
            "the bybit feed is disconnected",
            "the okx feed is disconnected (repeated 4 more times in 1s)"
        ]
    );
    // The repeats are in the history, not sent.
    let repeats = n
        .list(&AlertQuery {
            limit: 100,
            ..AlertQuery::default()
        })
        .into_iter()
        .filter(|r| r.repeat_of.is_some())
        .count();
    assert_eq!(repeats, 4);
    n.finish(Duration::ZERO);
}

#[test]
fn a_channel_that_comes_back_gets_the_retry() {
    let rt = runtime();
    let peer = Recorder::start();
    peer.script(vec![
        Answer::status(503, "down"),
        Answer::status(
            429,
            r#"{"ok":false,"error_code":429,"parameters":{"retry_after":0.3}}"#,
        ),
    ]);
    let n = notifier(
        &rt,
        &format!(
            "[notify]\nretry_initial = \"100ms\"\n[[notify.channels]]\nname = \"tg\"\nkind = \"telegram\"\napi_base = \"{}\"\ntoken = {{ env = \"PATH\" }}\nchat_id = \"1\"\n",
            peer.url
        ),
        None,
    );
    n.raise(&alarm(AlarmKind::PluginFailed, "arb", "down"));
    let got = peer.wait_for(3, Duration::from_secs(10));
    assert_eq!(got.len(), 3);
    // The 429's retry_after (0.3 s) was honoured over the 200 ms backoff.
    assert!(got[2].at.duration_since(got[1].at) >= Duration::from_millis(300));
    let deadline = Instant::now() + Duration::from_secs(5);
    let record = loop {
        let r = n.list(&AlertQuery {
            limit: 1,
            ..AlertQuery::default()
        });
        if r[0].deliveries[0].status == DeliveryStatus::Sent || Instant::now() > deadline {
            break r[0].clone();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(record.deliveries[0].status, DeliveryStatus::Sent);
    assert_eq!(record.deliveries[0].attempts, 3);
    assert!(
        record.deliveries[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("429")
    );
    let c = &n.channels()[0];
    assert_eq!((c.sent, c.retried, c.failed), (1, 2, 0));
    n.finish(Duration::ZERO);
}

#[test]
fn a_permanent_refusal_is_not_retried() {
    let rt = runtime();
    let peer = Recorder::start();
    peer.fallback(Answer::status(404, "no_service"));
    let n = notifier(
        &rt,
        &one_channel(
            "retry_initial = \"50ms\"",
            "slack",
            "slack",
            &format!("{}/s", peer.url),
            "",
        ),
        None,
    );
    n.raise(&alarm(AlarmKind::SinkBacklog, "pg", "behind"));
    let _ = peer.wait_for(1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(peer.requests().len(), 1);
    let c = &n.channels()[0];
    assert_eq!((c.sent, c.failed, c.retried), (0, 1, 0));
    assert!(c.last_error.as_deref().unwrap().contains("404"));
    n.finish(Duration::ZERO);
}

#[test]
fn owed_deliveries_survive_a_restart_and_outputs_are_not_notified_twice() {
    let rt = runtime();
    let peer = Recorder::start();
    peer.fallback(Answer::status(503, "maintenance"));
    let dir = temp_dir("restart");
    let toml = one_channel(
        "retry_initial = \"50ms\"",
        "hook",
        "webhook",
        &format!("{}/h", peer.url),
        "",
    );
    let batch = alert_batch(
        "whales",
        40,
        &[(Priority::P1, "whale one"), (Priority::P0, "whale two")],
    );
    {
        let n = notifier(&rt, &toml, Some(&dir));
        let mut sink = n.sink();
        sink.write(&batch).unwrap();
        let _ = peer.wait_for(2, Duration::from_secs(5));
        n.finish(Duration::ZERO);
    }
    let tried = peer.requests().len();
    assert!(tried >= 2);
    // The channel is back; a new process starts from the same directory.
    peer.fallback(Answer::status(200, "ok"));
    let n = notifier(&rt, &toml, Some(&dir));
    let got = peer.wait_for(tried + 2, Duration::from_secs(10));
    let delivered: Vec<Value> = got[tried..].iter().map(|r| json(&r.body)).collect();
    assert_eq!(delivered.len(), 2);
    // Most urgent first, with the outputs' identities.
    assert_eq!(delivered[0]["id"], "whales:40.1");
    assert_eq!(delivered[1]["id"], "whales:40.0");
    // A restarted pipeline makes the same outputs again: not notified twice…
    let mut sink = n.sink();
    sink.write(&batch).unwrap();
    // …while a new one is.
    sink.write(&alert_batch("whales", 41, &[(Priority::P2, "whale three")]))
        .unwrap();
    let got = peer.wait_for(tried + 3, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(peer.requests().len(), tried + 3);
    assert_eq!(json(&got[tried + 2].body)["id"], "whales:41.0");
    n.finish(Duration::ZERO);
}

#[test]
fn email_goes_through_starttls_and_auth() {
    let rt = runtime();
    let smtp = SmtpServer::start();
    let dir = temp_dir("email");
    std::fs::write(dir.join("ca.pem"), &smtp.ca_pem).unwrap();
    std::fs::write(dir.join("smtp-password"), "hunter2").unwrap();
    let n = notifier(
        &rt,
        &format!(
            r#"
[[notify.channels]]
name = "ops-mail"
kind = "email"
host = "127.0.0.1"
port = {}
security = "starttls"
username = "prism"
password = {{ file = "smtp-password" }}
ca_file = "ca.pem"
from = "prism@example.test"
to = ["oncall@example.test", "desk@example.test"]
"#,
            smtp.port
        ),
        Some(&dir),
    );
    n.raise(&alarm(
        AlarmKind::PluginQuarantined,
        "arb",
        "plugin `arb` quarantined\r\nBcc: victim@example.test",
    ));
    let mails = smtp.wait_for(1, Duration::from_secs(10));
    assert_eq!(mails.len(), 1, "{:?}", n.channels());
    let m = &mails[0];
    assert!(m.tls, "the message came after STARTTLS");
    assert_eq!(m.auth, Some(("prism".into(), "hunter2".into())));
    assert_eq!(m.from, "prism@example.test");
    assert_eq!(m.to, ["oncall@example.test", "desk@example.test"]);
    // CR LF in a title cannot add a header.
    assert!(
        m.data
            .contains("Subject: [P0] plugin `arb` quarantined  Bcc: victim@example.test"),
        "{}",
        m.data
    );
    let headers = m.data.split("\r\n\r\n").next().unwrap();
    assert!(!headers.contains("\nBcc:"), "{}", m.data);
    assert!(m.data.contains("details"));
    assert!(
        m.data.contains("Message-ID: <host-plugin-quarantined-"),
        "{}",
        m.data
    );
    n.finish(Duration::ZERO);
}

#[test]
fn the_heartbeat_calls_its_url() {
    let rt = runtime();
    let peer = Recorder::start();
    let n = notifier(
        &rt,
        &format!(
            "[notify.heartbeat]\nurl = \"{}/ping/abc\"\nevery = \"100ms\"\n",
            peer.url
        ),
        None,
    );
    let got = peer.wait_for(3, Duration::from_secs(5));
    assert!(got.len() >= 3);
    assert!(
        got.iter()
            .all(|r| r.method == "GET" && r.path == "/ping/abc")
    );
    // A beat is counted once its answer is back, a moment after the peer
    // has recorded the request.
    let deadline = Instant::now() + Duration::from_secs(5);
    let beats = || {
        n.heartbeat()
            .beats
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    while beats() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(beats() >= 3, "{} beats counted", beats());
    n.finish(Duration::ZERO);
}

#[test]
fn a_test_message_reports_its_outcome() {
    let rt = runtime();
    let peer = Recorder::start();
    peer.fallback(Answer::status(401, "bad token"));
    let n = notifier(
        &rt,
        &one_channel("", "d", "discord", &format!("{}/d", peer.url), ""),
        None,
    );
    let r = rt.block_on(n.test("d", "hello", "from the test")).unwrap();
    assert_eq!(r.deliveries[0].status, DeliveryStatus::Failed);
    assert!(
        r.deliveries[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("401")
    );
    assert!(rt.block_on(n.test("nope", "t", "b")).is_err());
    n.finish(Duration::ZERO);
}

#[test]
fn a_channel_that_hangs_never_holds_the_sink_and_its_queue_stays_bounded() {
    let rt = runtime();
    let peer = Recorder::start();
    // The service accepts the connection and never answers in time.
    peer.fallback(Answer::status(200, "ok").after(Duration::from_secs(30)));
    let n = notifier(
        &rt,
        &one_channel(
            "queue = 100\nhistory = 500",
            "slow",
            "webhook",
            &format!("{}/h", peer.url),
            "timeout = \"30s\"\nrate_per_minute = 1000",
        ),
        None,
    );
    let mut sink = n.sink();
    let started = Instant::now();
    for position in 0..1000u64 {
        let title = format!("flood {position}");
        sink.write(&alert_batch("flood", position, &[(Priority::P2, &title)]))
            .unwrap();
    }
    // A P0 still gets in: it pushes out the newest P2.
    sink.write(&alert_batch("flood", 1000, &[(Priority::P0, "urgent")]))
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the sink waited for the channel: {:?}",
        started.elapsed()
    );
    let _ = peer.wait_for(1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    let c = &n.channels()[0];
    // One in flight, the queue full, the rest dropped and counted. The
    // channel's task may first run only after the flood, when the most
    // urgent waiting one is the P0: then that one is in flight and the
    // queue holds the 99 P2s left beside it.
    let requests = peer.requests();
    assert_eq!(requests.len(), 1);
    let in_flight = String::from_utf8_lossy(&requests[0].body).into_owned();
    let expected_queue = if in_flight.contains(r#""title":"urgent""#) {
        99
    } else {
        assert!(in_flight.contains(r#""title":"flood 0""#), "{in_flight}");
        100
    };
    assert_eq!(c.queued, expected_queue, "{c:?}");
    assert_eq!(c.queued as u64 + c.dropped + 1, 1001, "{c:?}");
    let history = n.list(&AlertQuery {
        limit: 1000,
        ..AlertQuery::default()
    });
    assert_eq!(history.len(), 500, "the history is bounded");
    assert_eq!(history[0].notification.title, "urgent");
    assert_eq!(history[0].deliveries[0].status, DeliveryStatus::Pending);
    n.finish(Duration::ZERO);
}
