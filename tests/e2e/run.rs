//! `prism run` and its HTTP API.

use crate::common::*;
use std::time::{Duration, Instant};

fn replay_config(dir: &std::path::Path) -> std::path::PathBuf {
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
id = "long-short-ratio"
path = "{lsr}"
[[plugins]]
id = "hello"
path = "{hello}"
[[plugins]]
id = "binance-trades"
path = "{hello}"
[plugins.subscription]
kinds = ["trade", "liquidation"]
exchanges = ["binance"]
symbols = ["BTC*"]
timer_interval_ms = 60000
[[plugins]]
id = "counter"
path = "{probe}"
config = {{ mode = "count" }}
[[plugins]]
id = "panicky"
path = "{probe}"
config = {{ mode = "panic", at_ts = 1700000030000 }}
"#,
            data = dir.join("data").display(),
            events = fixture("ratios.jsonl").display(),
            lsr = wasm("long_short_ratio").display(),
            hello = wasm("hello").display(),
            probe = wasm("prism_probe").display(),
        ),
    )
    .unwrap();
    config
}

#[test]
fn the_api_serves_hand_computed_outputs_and_isolates_a_failed_plugin() {
    let dir = temp_dir("run");
    let server = Server::start(&replay_config(&dir));
    let lsr = server.wait_for(
        "/api/v1/plugins/long-short-ratio",
        Duration::from_secs(30),
        |v| v["events_in"] == 9,
    );
    assert!(
        lsr["state"] == "running" || lsr["state"] == "stopped",
        "{lsr}"
    );
    assert_eq!(lsr["name"], "long-short-ratio");
    assert_eq!(lsr["outputs"]["series"], 6);
    assert_eq!(lsr["sha256"].as_str().unwrap().len(), 64);

    let expected = expected_ratios();
    // Counters move when the worker is done; the store a moment later, when
    // the dispatcher has the outputs.
    let taker = server.wait_for(
        "/api/v1/plugins/long-short-ratio/series/taker_long_short_ratio?exchange=binance&symbol=BTCUSDT",
        Duration::from_secs(10),
        |v| v["points"].as_array().is_some_and(|p| p.len() >= 3),
    );
    let points = taker["points"].as_array().unwrap();
    let want: Vec<_> = expected
        .iter()
        .filter(|e| e.0 == "taker_long_short_ratio")
        .collect();
    assert_eq!(points.len(), want.len(), "{taker}");
    for (p, e) in points.iter().zip(&want) {
        assert_eq!(p["ts"], e.3);
        assert_eq!(p["exchange"], "binance");
        assert!(close(p["value"].as_f64().unwrap(), e.4), "{p} vs {}", e.4);
    }
    let window = server.json(&format!(
        "/api/v1/plugins/long-short-ratio/series/taker_long_short_ratio?from={}&to={}",
        1_700_000_100_000i64, 1_700_000_160_000i64
    ));
    assert_eq!(window["points"].as_array().unwrap().len(), 2);
    let newest =
        server.json("/api/v1/plugins/long-short-ratio/series/account_long_short_ratio?limit=1");
    assert_eq!(newest["points"][0]["ts"], 1_700_000_160_000i64);
    assert_eq!(newest["points"][0]["symbol"], "BTC");
    assert_eq!(newest["points"][0]["value"], 2.0);

    let doc = server.wait_for(
        "/api/v1/plugins/hello/documents/counts",
        Duration::from_secs(10),
        |v| v["body"]["position"] == 3,
    );
    assert_eq!(
        doc["body"],
        serde_json::json!({"funding": 1, "position": 3, "trade": 5})
    );

    // The healthy counter saw every event even though its neighbour failed.
    let count = server.wait_for(
        "/api/v1/plugins/counter/documents/count",
        Duration::from_secs(10),
        |v| v["body"]["events"] == 9,
    );
    assert_eq!(count["body"]["events"], 9);
    // The panicking plugin lost only the poison event, set aside as a dead
    // letter with the error, and went on.
    let panicky = server.wait_for("/api/v1/plugins/panicky", Duration::from_secs(10), |v| {
        v["events_in"] == 8
    });
    assert!(
        panicky["state"] == "running" || panicky["state"] == "stopped",
        "{panicky}"
    );
    assert_eq!(panicky["dead_letters"], 1);
    assert!(panicky["restarts"].as_u64().unwrap() >= 1, "{panicky}");
    assert!(
        panicky["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("poison event number 4"),
        "{panicky}"
    );
    let letters = server.json("/api/v1/plugins/panicky/dead-letters");
    assert_eq!(letters["total"], 1);
    assert_eq!(
        letters["items"][0]["event"],
        serde_json::json!({"type": "position", "exchange": "hyperliquid", "symbol": "BTC",
            "ts": 1700000030000i64, "account": "0xa", "size": "1", "entry_price": "37000"})
    );
    assert_eq!(letters["items"][0]["error"]["kind"], "panic");
    let counted = server.json("/api/v1/plugins/panicky/documents/count");
    assert_eq!(
        counted["body"]["events"], 8,
        "every event but the poison one"
    );
    // The replay ends: every plugin drains and stops, and nothing is degraded.
    let health = server.wait_for("/health", Duration::from_secs(10), |h| {
        h["source"]["state"] == "finished"
    });
    assert_eq!(health["status"], "ok", "{health}");
    server.wait_for("/api/v1/plugins", Duration::from_secs(10), |v| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["state"] == "stopped")
    });

    let list = server.json("/api/v1/plugins");
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "binance-trades",
            "counter",
            "hello",
            "long-short-ratio",
            "panicky"
        ]
    );
    assert_eq!(
        server.json("/api/v1/signals")["items"],
        serde_json::json!([])
    );

    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    for line in [
        "prism_plugin_events_total{plugin=\"long-short-ratio\"} 9",
        "prism_plugin_outputs_total{plugin=\"long-short-ratio\",kind=\"series\"} 6",
        "prism_plugin_dead_letters_total{plugin=\"panicky\"} 1",
        "prism_plugin_state{plugin=\"panicky\",state=\"stopped\"} 1",
        "prism_source_skipped_total 2",
        "prism_plugin_call_duration_seconds_count{plugin=\"hello\"}",
        "prism_plugin_queue_depth{plugin=\"counter\"} 0",
        // One at the start and the last at the stream's end.
        "prism_plugin_snapshots_total{plugin=\"counter\"} 2",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in\n{metrics}");
    }

    let (status, body) = server.get("/api/v1/plugins/nope");
    assert_eq!(status, 404);
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"]["code"], "not_found");
    let (status, body) = server.get("/api/v1/plugins/long-short-ratio/series/x?limit=lots");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("bad_request") && body.contains("limit"),
        "{body}"
    );
    let (status, _) = server.get("/api/v1/plugins/hello/documents/missing");
    assert_eq!(status, 404);
}

#[test]
fn the_default_config_shows_outputs_within_ten_seconds() {
    let started = Instant::now();
    let server = Server::start(&repo().join("config/prism.toml"));
    let series = server.wait_for(
        "/api/v1/plugins/long-short-ratio/series/taker_long_short_ratio",
        Duration::from_secs(10)
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1)),
        |v| v["points"].as_array().is_some_and(|p| !p.is_empty()),
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let point = &series["points"][0];
    assert!(point["value"].as_f64().unwrap() > 0.0);
    let health = server.json("/health");
    assert_eq!(health["status"], "ok");
}

#[test]
fn state_persisted_by_one_run_is_restored_by_the_next() {
    let dir = temp_dir("persist");
    let config = dir.join("prism.toml");
    let events = dir.join("events.jsonl");
    std::fs::copy(fixture("ratios.jsonl"), &events).unwrap();
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
[recovery]
snapshot_every_ms = 100
restore_on_start = true
[source]
kind = "replay"
path = "{events}"
[[plugins]]
id = "counter"
path = "{probe}"
config = {{ mode = "count" }}
"#,
            data = dir.join("data").display(),
            events = events.display(),
            probe = wasm("prism_probe").display(),
        ),
    )
    .unwrap();
    {
        let first = Server::start(&config);
        first.wait_for(
            "/api/v1/plugins/counter/documents/count",
            Duration::from_secs(20),
            |v| v["body"]["events"] == 9,
        );
        // The idle worker snapshots within `snapshot_every_ms`; the file follows.
        let state = dir.join("data/snapshots/counter.state");
        let started = Instant::now();
        // The file: a header, the checksum, the position, the instruments,
        // the state (8 bytes).
        while std::fs::read(&state)
            .map(|b| !(b.starts_with(b"PRSMSNP4") && b.ends_with(&9u64.to_le_bytes())))
            .unwrap_or(true)
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no snapshot of 9 events on disk"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The file grows by two events. A new process: the count goes on from
    // 9, over the two new events only (the checkpoint covers the 9 first).
    let mut text = std::fs::read_to_string(&events).unwrap();
    text.push_str(
        "{\"type\":\"trade\",\"exchange\":\"binance\",\"symbol\":\"BTCUSDT\",\"ts\":1700000200000,\"price\":\"36000\",\"size\":\"1\",\"side\":\"buy\"}\n\
         {\"type\":\"trade\",\"exchange\":\"binance\",\"symbol\":\"BTCUSDT\",\"ts\":1700000201000,\"price\":\"36000\",\"size\":\"1\",\"side\":\"sell\"}\n",
    );
    std::fs::write(&events, text).unwrap();
    {
        let second = Server::start(&config);
        second.wait_for(
            "/api/v1/plugins/counter/documents/count",
            Duration::from_secs(20),
            |v| v["body"]["events"] == 11,
        );
        let counter = second.json("/api/v1/plugins/counter");
        assert_eq!(counter["events_in"], 2, "{counter}");
    }
    // One changed byte: the state is refused, the plugin starts fresh and says why.
    let state = dir.join("data/snapshots/counter.state");
    let mut bytes = std::fs::read(&state).unwrap();
    *bytes.last_mut().unwrap() ^= 0x01;
    std::fs::write(&state, bytes).unwrap();
    let third = Server::start(&config);
    third.wait_for(
        "/api/v1/plugins/counter/documents/count",
        Duration::from_secs(20),
        |v| v["body"]["events"] == 11,
    );
    let counter = third.json("/api/v1/plugins/counter");
    assert!(
        counter["last_error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("checksum")),
        "{counter}"
    );
}

#[test]
fn a_data_directory_that_cannot_be_written_shows_on_health() {
    let dir = temp_dir("snapshot-fails");
    // A directory where the counter's snapshot file must go: every write fails.
    std::fs::create_dir_all(dir.join("data/snapshots/counter.state/x")).unwrap();
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
[recovery]
snapshot_every_ms = 100
[source]
kind = "simulator"
pace = 60.0
[[plugins]]
id = "counter"
path = "{probe}"
config = {{ mode = "count" }}
"#,
            data = dir.join("data").display(),
            probe = wasm("prism_probe").display(),
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    let health = server.wait_for("/health", Duration::from_secs(20), |h| {
        h["snapshots"]["failed"].as_u64().unwrap_or(0) > 0
    });
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["snapshots"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("counter")),
        "{health}"
    );
    assert!(!dir.join("data/snapshots/counter.state.tmp").exists());
}

#[test]
fn a_config_edit_with_relative_paths_swaps_only_what_changed() {
    let dir = temp_dir("relative-paths");
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::copy(wasm("hello"), dir.join("plugins/hello.wasm")).unwrap();
    std::fs::copy(wasm("prism_probe"), dir.join("plugins/probe.wasm")).unwrap();
    let text = |probe_config: &str| {
        format!(
            r#"
[runtime]
data_dir = "../data"
watch_debounce_ms = 20
[source]
kind = "simulator"
pace = 600.0
[[plugins]]
id = "hello"
path = "../plugins/hello.wasm"
[[plugins]]
id = "probe"
path = "../plugins/./probe.wasm"
config = {probe_config}
"#
        )
    };
    std::fs::write(dir.join("conf/prism.toml"), text(r#"{ mode = "count" }"#)).unwrap();
    // A relative config path, from the directory above it.
    let server = Server::start_in(&dir, std::path::Path::new("conf/prism.toml"));
    server.wait_for("/api/v1/plugins/hello", Duration::from_secs(20), |v| {
        v["events_in"].as_u64().unwrap_or(0) > 0
    });
    // Only the probe's config changes.
    std::fs::write(
        dir.join("conf/prism.toml"),
        text(r#"{ mode = "count", at = 0 }"#),
    )
    .unwrap();
    server.wait_for("/api/v1/plugins/probe", Duration::from_secs(20), |v| {
        v["config"] == serde_json::json!({"mode": "count", "at": 0})
    });
    // Give a spurious swap of hello time to show, then check there was none.
    std::thread::sleep(Duration::from_millis(500));
    let hello = server.json("/api/v1/plugins/hello");
    assert_eq!(hello["swaps"], 0, "{hello}");
    let versions = server.json("/api/v1/plugins/hello/versions");
    assert_eq!(versions["items"].as_array().unwrap().len(), 1, "{versions}");
    let probe = server.json("/api/v1/plugins/probe/versions");
    let changes: Vec<&str> = probe["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["start", "config"], "{probe}");
}

#[test]
fn metrics_follow_prometheus_conventions_and_serve_every_metric_the_grafana_dashboard_queries() {
    let server = Server::start(&repo().join("config/prism.toml"));
    server.wait_for("/api/v1/plugins/hello", Duration::from_secs(20), |v| {
        v["events_in"].as_u64() > Some(0)
    });
    for _ in 0..3 {
        assert_eq!(server.get("/health").0, 200);
    }
    assert_eq!(server.get("/api/v1/plugins/nope").0, 404);
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);

    // Requests by route template and status; their durations as a histogram.
    for line in [
        r#"prism_http_requests_total{method="GET",route="/health",status="200"} 3"#,
        r#"prism_http_requests_total{method="GET",route="/api/v1/plugins/{id}",status="404"} 1"#,
        r#"prism_http_request_duration_seconds_bucket{method="GET",route="/health",le="+Inf"} 3"#,
        r#"prism_http_request_duration_seconds_count{method="GET",route="/health"} 3"#,
    ] {
        assert!(metrics.contains(line), "missing `{line}` in\n{metrics}");
    }
    // The process, read from /proc.
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    let rss = value("process_resident_memory_bytes");
    let measured = server.rss() as f64;
    assert!(
        rss > measured / 2.0 && rss < measured * 2.0,
        "{rss} against {measured}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(
        (now - 300.0..=now + 1.0).contains(&started),
        "{started} against {now}"
    );
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_cpu_seconds_total") > 0.0);

    // Every family: durations in seconds, never milliseconds.
    let families: std::collections::HashSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for name in &families {
        assert!(
            !name.ends_with("_ms") && !name.contains("_ms_"),
            "{name} is not in seconds"
        );
    }

    // The dashboard queries nothing that is not served.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/grafana/prism.json")).unwrap(),
    )
    .unwrap();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if !(word.starts_with("prism_") || word.starts_with("process_")) {
                    continue;
                }
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| word.strip_suffix(s).filter(|f| families.contains(f)))
                    .unwrap_or(word);
                assert!(
                    families.contains(family),
                    "the dashboard's panel `{}` queries {word}, which /metrics does not serve",
                    panel["title"]
                );
                queried += 1;
            }
        }
    }
    assert!(queried >= 20, "{queried}");
}
