//! Candidate versions through the admin API of a running `prism run`: a
//! candidate beside the running version, compared output by output,
//! promoted with its own state or discarded.
//!
//! The probe makes outputs that can be counted from the events alone: in
//! `number` mode one series point, one log entry and one signal per trade
//! and one `count` document per batch; in `count` mode only the document.

use crate::common::*;
use serde_json::{Value, json};
use std::time::Duration;

const TOKEN: &str = "e2e-canary-token";

fn parse(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// `config` as a query parameter value.
fn query(config: &Value) -> String {
    config
        .to_string()
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A host streaming the simulator into the probe `live` in `number` mode.
fn host(tag: &str) -> Server {
    host_with(tag, "")
}

/// As [`host`], with `extra` lines in the plugin's entry.
fn host_with(tag: &str, extra: &str) -> Server {
    let dir = temp_dir(tag);
    std::fs::copy(wasm("prism_probe"), dir.join("probe.wasm")).unwrap();
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
[source]
kind = "simulator"
pace = 600.0
[[plugins]]
id = "live"
path = "probe.wasm"
config = {{ mode = "number" }}
{extra}
"#,
            data = dir.join("data").display()
        ),
    )
    .unwrap();
    Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", TOKEN)])
}

fn start_candidate(server: &Server, config: &Value, wasm: &[u8]) -> (u16, Value) {
    let path = format!("/api/v1/plugins/live/candidate?config={}", query(config));
    let (status, body) = server.request("POST", &path, Some(TOKEN), wasm);
    (status, parse(&body))
}

fn act(server: &Server, method: &str, path: &str) -> (u16, Value) {
    let (status, body) = server.request(method, path, Some(TOKEN), b"");
    (status, parse(&body))
}

/// Pauses `live` and answers the probe's own count of market events, once
/// the last batch's document has reached the store (two reads apart agree).
fn paused_count(server: &Server) -> u64 {
    let (status, body) = act(server, "POST", "/api/v1/plugins/live/pause");
    assert_eq!(status, 200, "{body}");
    let read = || {
        server.json("/api/v1/plugins/live/documents/count")["body"]["events"]
            .as_u64()
            .unwrap()
    };
    let mut last = read();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = read();
        if now == last {
            return now;
        }
        last = now;
    }
}

/// The same code as the running version: every output equal, and each
/// kind's count what the probe makes of the compared events.
#[test]
fn an_identical_candidate_matches_every_output() {
    let server = host("canary-same");
    server.wait_for("/api/v1/plugins/live", Duration::from_secs(20), |v| {
        v["events_in"].as_u64().unwrap_or(0) > 0
    });
    let (status, body) = start_candidate(&server, &json!({"mode": "number"}), &probe_variant(7));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["candidate"]["state"], "running", "{body}");
    assert_eq!(body["candidate"]["config"], json!({"mode": "number"}));
    assert_ne!(body["candidate"]["sha256"], body["sha256"]);
    let c = server.wait_for(
        "/api/v1/plugins/live/candidate",
        Duration::from_secs(30),
        |v| v["batches"].as_u64().unwrap_or(0) >= 20 && v["outputs"]["series"]["live"] != 0,
    );
    assert_eq!(c["identical"], true, "{c}");
    assert_eq!(c["differing_batches"], 0, "{c}");
    assert!(c["first_difference"].is_null(), "{c}");
    for kind in ["series", "document", "log", "signal", "order", "alert"] {
        let k = &c["outputs"][kind];
        assert_eq!(k["live"], k["candidate"], "{kind}: {c}");
        assert_eq!(k["live"], k["matching"], "{kind}: {c}");
    }
    // One `count` document a batch; one series point, log entry and signal
    // a trade, and trades are among the compared events.
    let outputs = &c["outputs"];
    assert_eq!(outputs["document"]["live"], c["batches"], "{c}");
    let trades = outputs["series"]["live"].as_u64().unwrap();
    assert_eq!(outputs["log"]["live"], trades, "{c}");
    assert_eq!(outputs["signal"]["live"], trades, "{c}");
    assert!(trades <= c["events"].as_u64().unwrap(), "{c}");
    assert_eq!(outputs["order"]["live"], 0);
    let (_, metrics) = server.get("/metrics");
    for line in [
        "prism_plugin_candidate_up{plugin=\"live\"} 1",
        "prism_plugin_candidate_differing_batches_total{plugin=\"live\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in {metrics}"
        );
    }
    // The plugin's status carries it too; the running version is unchanged.
    let status = server.json("/api/v1/plugins/live");
    assert_eq!(status["config"], json!({"mode": "number"}));
    assert_eq!(status["swaps"], 0);
    assert_eq!(status["candidate"]["state"], "running");
}

/// A candidate that makes other outputs: the comparison names the first
/// difference (the live output is the one served), only the running
/// version's outputs are served, and promoting the candidate makes it the
/// running version with its state: no event lost or counted twice.
#[test]
fn a_differing_candidate_is_compared_then_promoted_with_its_state() {
    let server = host("canary-promote");
    server.wait_for("/api/v1/plugins/live", Duration::from_secs(20), |v| {
        v["events_in"].as_u64().unwrap_or(0) > 0
    });
    let code = probe_variant(8);

    // Refusals, each saying why; nothing changes.
    let (status, body) = act(&server, "POST", "/api/v1/plugins/live/candidate/promote");
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("no_candidate"))
    );
    let (status, body) = act(&server, "DELETE", "/api/v1/plugins/live/candidate");
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("no_candidate"))
    );
    let (status, _) = server.get("/api/v1/plugins/live/candidate");
    assert_eq!(status, 404);
    let (status, _) = server.request("POST", "/api/v1/plugins/live/candidate", None, &code);
    assert_eq!(status, 401);
    let other = std::fs::read(wasm("tiny_counter")).unwrap();
    let (status, body) = start_candidate(&server, &json!({}), &other);
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("name_changed")),
        "{body}"
    );
    let (status, body) = start_candidate(&server, &json!({"mode": "restore_error"}), &code);
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("restore_failed")),
        "{body}"
    );

    let (status, body) = start_candidate(&server, &json!({"mode": "count"}), &code);
    assert_eq!(status, 201, "{body}");
    let candidate_sha = body["candidate"]["sha256"].clone();
    let (status, body) = start_candidate(&server, &json!({"mode": "count"}), &code);
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("candidate_exists")),
        "{body}"
    );

    let c = server.wait_for(
        "/api/v1/plugins/live/candidate",
        Duration::from_secs(30),
        |v| v["differing_batches"].as_u64().unwrap_or(0) >= 3,
    );
    assert_eq!(c["identical"], false);
    let outputs = &c["outputs"];
    // `count` makes no series, logs or signals; the documents agree.
    assert_eq!(outputs["series"]["candidate"], 0, "{c}");
    assert_eq!(outputs["series"]["matching"], 0, "{c}");
    assert_eq!(outputs["signal"]["candidate"], 0, "{c}");
    assert_eq!(outputs["document"]["live"], c["batches"], "{c}");
    assert_eq!(outputs["document"]["candidate"], c["batches"], "{c}");
    assert_eq!(outputs["document"]["matching"], c["batches"], "{c}");
    // Every batch with a trade differs, and no other.
    assert!(
        c["differing_batches"].as_u64() <= c["batches"].as_u64(),
        "{c}"
    );
    // The first difference: a trade's series point, which the candidate
    // does not make; it is the point the live version served.
    let first = &c["first_difference"];
    assert_eq!(first["kind"], "series", "{c}");
    assert_eq!(first["index"], 0, "{c}");
    assert!(first["candidate"].is_null(), "{c}");
    let point = &first["live"];
    assert_eq!(point["plugin"], "live");
    assert_eq!(point["name"], "n");
    // The comparison happens when the batch is processed, the storing
    // after it, in the output sink's own time: the point is served soon
    // after, not necessarily yet.
    server.wait_for(
        &format!(
            "/api/v1/plugins/live/series/n?exchange={}&symbol={}&limit=10000",
            point["exchange"].as_str().unwrap(),
            point["symbol"].as_str().unwrap()
        ),
        Duration::from_secs(10),
        |served| {
            served["points"].as_array().is_some_and(|points| {
                points
                    .iter()
                    .any(|p| p["ts"] == point["ts"] && p["value"] == point["value"])
            })
        },
    );

    // Promote: the candidate runs on with its own state.
    let (status, body) = act(&server, "POST", "/api/v1/plugins/live/candidate/promote");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sha256"], candidate_sha);
    assert_eq!(body["config"], json!({"mode": "count"}));
    assert_eq!(body["source"], "upload");
    assert_eq!(body["swaps"], 1);
    assert!(body["candidate"].is_null(), "{body}");
    let versions = server.json("/api/v1/plugins/live/versions");
    let items = versions["items"].as_array().unwrap();
    let last = items.last().unwrap();
    assert_eq!(
        (&last["change"], &last["status"], &last["sha256"]),
        (&json!("promote"), &json!("active"), &candidate_sha),
        "{versions}"
    );
    // No series after the promotion: `count` makes none.
    let series_before = server.json("/api/v1/plugins/live")["outputs"]["series"].clone();
    std::thread::sleep(Duration::from_millis(500));
    let count = paused_count(&server);
    let status = server.json("/api/v1/plugins/live");
    assert_eq!(status["outputs"]["series"], series_before, "{status}");
    // The count the promoted version keeps is every market event the
    // plugin was given, before and after the promotion.
    assert_eq!(status["events_in"], count, "{status}");
    assert_eq!(status["state"], "paused");
}

/// A candidate that fails stops alone: the running version goes on
/// unharmed, the candidate cannot be promoted, and discarding it leaves
/// the plugin as it was.
#[test]
fn a_failing_candidate_stops_alone_and_is_discarded() {
    let server = host("canary-fail");
    server.wait_for("/api/v1/plugins/live", Duration::from_secs(20), |v| {
        v["events_in"].as_u64().unwrap_or(0) > 0
    });
    // Paused, the probe's count is still: the candidate restores it and
    // panics on the fifth event it is given.
    let at = paused_count(&server) + 5;
    let (status, body) = start_candidate(
        &server,
        &json!({"mode": "number", "fail": "panic", "at": at}),
        &probe_variant(9),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = act(&server, "POST", "/api/v1/plugins/live/resume");
    assert_eq!(status, 200, "{body}");
    let c = server.wait_for(
        "/api/v1/plugins/live/candidate",
        Duration::from_secs(30),
        |v| v["state"] == "stopped",
    );
    let why = c["stopped_because"].as_str().unwrap();
    assert!(why.contains(&format!("poison event number {at}")), "{c}");
    // The batches before the failing one were compared and equal.
    assert_eq!(c["differing_batches"], 0, "{c}");
    assert!(c["events"].as_u64().unwrap() < 5, "{c}");

    let (status, body) = act(&server, "POST", "/api/v1/plugins/live/candidate/promote");
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("candidate_ended")),
        "{body}"
    );
    let (status, body) = act(&server, "DELETE", "/api/v1/plugins/live/candidate");
    assert_eq!(status, 200, "{body}");
    assert!(body["candidate"].is_null(), "{body}");
    let live = server.wait_for("/api/v1/plugins/live", Duration::from_secs(20), |v| {
        v["events_in"].as_u64().unwrap_or(0) > at + 20
    });
    assert_eq!(live["state"], "running", "{live}");
    assert_eq!(live["errors"], 0, "{live}");
    assert_eq!(live["restarts"], 0, "{live}");
    assert_eq!(live["config"], json!({"mode": "number"}));
    assert_eq!(live["swaps"], 0);
}

/// A plugin that trades on paper has no candidate: its fills follow its
/// own orders, so two versions would not see the same events.
#[test]
fn a_trading_plugin_refuses_a_candidate() {
    let server = host_with("canary-trades", "paper = true");
    server.wait_for("/api/v1/plugins/live", Duration::from_secs(20), |v| {
        v["events_in"].as_u64().unwrap_or(0) > 0
    });
    let (status, body) = start_candidate(&server, &json!({"mode": "number"}), &probe_variant(10));
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("candidate_trades")),
        "{body}"
    );
    let live = server.json("/api/v1/plugins/live");
    assert!(live["candidate"].is_null(), "{live}");
    let (status, _) = server.get("/api/v1/plugins/live/candidate");
    assert_eq!(status, 404);
}
