//! Attacks on the binary through its public surface (damaged files, hostile
//! clients, hostile plugins), each with the bound it must hold.

use crate::common::*;
use std::time::Duration;

/// A replay file of `good` trades, with invalid UTF-8 on line `bad_at`, and
/// `after` more trades.
fn damaged_replay(dir: &std::path::Path, good: usize, after: usize) -> std::path::PathBuf {
    let path = dir.join("damaged.jsonl");
    let mut bytes = Vec::new();
    let trade = |i: usize| {
        format!(
            r#"{{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":{},"price":"37000","size":"1","side":"buy"}}"#,
            1_700_000_000_000i64 + i as i64
        )
    };
    for i in 0..good {
        bytes.extend_from_slice(trade(i).as_bytes());
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(b"{\"type\":\"trade\",\"symbol\":\"BTC\xff\xfeUSDT\"}\n");
    for i in 0..after {
        bytes.extend_from_slice(trade(good + 1 + i).as_bytes());
        bytes.push(b'\n');
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn invalid_utf8_in_a_replay_file_costs_one_line_under_run() {
    let dir = temp_dir("utf8-run");
    let events = damaged_replay(&dir, 1000, 5);
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
    let server = Server::start(&config);
    let count = server.wait_for(
        "/api/v1/plugins/counter/documents/count",
        Duration::from_secs(30),
        |v| v["body"]["events"] == 1005,
    );
    assert_eq!(count["body"]["events"], 1005);
    // The finite source ended: visible at once, and the plugin stopped.
    let health = server.wait_for("/health", Duration::from_secs(10), |h| {
        h["source"]["state"] == "finished"
    });
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["source"]["skipped"], 1, "{health}");
    assert_eq!(health["source"]["events"], 1005, "{health}");
    server.wait_for("/api/v1/plugins/counter", Duration::from_secs(10), |p| {
        p["state"] == "stopped"
    });
}

#[test]
fn a_replay_source_that_cannot_be_read_is_reported_on_health_at_once() {
    let dir = temp_dir("source-fails");
    // A directory where the file should be: opening works, reading fails.
    let events = dir.join("events.jsonl");
    std::fs::create_dir_all(&events).unwrap();
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
"#,
            data = dir.join("data").display(),
            events = events.display(),
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    let health = server.wait_for("/health", Duration::from_secs(10), |h| {
        h["source"]["state"] == "failed"
    });
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["source"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("events.jsonl")),
        "{health}"
    );
}

#[test]
fn invalid_utf8_is_skipped_by_replay_and_normalize() {
    let dir = temp_dir("utf8-cli");
    let events = damaged_replay(&dir, 1000, 5);
    let result = prism()
        .args(["replay", "--events"])
        .arg(&events)
        .arg("--plugin")
        .arg(wasm("hello"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("replayed 1005 events"), "{stdout}");
    assert!(
        stderr.contains("damaged.jsonl:1001:") && stderr.contains("UTF-8"),
        "{stderr}"
    );

    // A raw Binance recording with the same damage on its second line.
    let raw = dir.join("binance.raw");
    let message = r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1700000000001,"s":"BTCUSDT","a":1,"p":"37000.10","q":"0.250","f":1,"l":1,"T":1700000000000,"m":false}}"#;
    let mut bytes = message.as_bytes().to_vec();
    bytes.extend_from_slice(b"\n\xc3\x28 not text\n");
    bytes.extend_from_slice(
        message
            .replace("\"a\":1", "\"a\":2")
            .replace("\"f\":1,\"l\":1", "\"f\":2,\"l\":2")
            .as_bytes(),
    );
    bytes.push(b'\n');
    std::fs::write(&raw, bytes).unwrap();
    let out = dir.join("normalized.jsonl");
    let result = prism()
        .args(["normalize", "--venue", "binance"])
        .arg(&raw)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("binance.raw:2:") && stderr.contains("UTF-8"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        written.lines().filter(|l| l.contains("\"trade\"")).count(),
        2,
        "{written}"
    );
}

fn counter_config(dir: &std::path::Path) -> std::path::PathBuf {
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
id = "counter"
path = "{probe}"
config = {{ mode = "count" }}
"#,
            data = dir.join("data").display(),
            events = fixture("ratios.jsonl").display(),
            probe = wasm("prism_probe").display(),
        ),
    )
    .unwrap();
    config
}

fn counts_nine(config: &std::path::Path) {
    let server = Server::start(config);
    server.wait_for(
        "/api/v1/plugins/counter/documents/count",
        Duration::from_secs(30),
        |v| v["body"]["events"] == 9,
    );
}

fn artifacts(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("data/cache"))
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_tampered_compiled_artifact_is_recompiled_never_run() {
    let dir = temp_dir("tampered-cache");
    let config = counter_config(&dir);
    counts_nine(&config);
    let cached = artifacts(&dir);
    assert_eq!(cached.len(), 1, "{cached:?}");
    let genuine = std::fs::read(&cached[0]).unwrap();
    // Keep the first 4 KiB (the ELF header) intact and scramble code after it.
    let mut tampered = genuine.clone();
    for b in &mut tampered[4096..genuine.len() / 2] {
        *b = 0x0f;
    }
    std::fs::write(&cached[0], &tampered).unwrap();
    // The next start notices, recompiles and runs the plugin in its sandbox.
    counts_nine(&config);
    assert_eq!(
        std::fs::read(&cached[0]).unwrap(),
        genuine,
        "the artifact was replaced by a genuine one"
    );

    // A cache directory that others can write is not used at all.
    use std::os::unix::fs::PermissionsExt;
    std::fs::remove_file(&cached[0]).unwrap();
    std::fs::set_permissions(
        dir.join("data/cache"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    counts_nine(&config);
    assert!(
        artifacts(&dir).is_empty(),
        "nothing cached in a shared directory"
    );
}
