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

/// A replay file of `n` trades, one millisecond apart.
fn trades_file(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let path = dir.join("trades.jsonl");
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "{{\"type\":\"trade\",\"exchange\":\"binance\",\"symbol\":\"BTCUSDT\",\"ts\":{},\"price\":\"37000\",\"size\":\"1\",\"side\":\"buy\"}}\n",
            1_700_000_000_000i64 + i as i64
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn config_with(dir: &std::path::Path, source: &str, extra: &str) -> std::path::PathBuf {
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\ndata_dir = \"{}\"\n{source}\n{extra}",
            dir.join("data").display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn a_plugin_writing_ever_new_keys_fails_itself_within_its_limits() {
    let dir = temp_dir("keys");
    let events = trades_file(&dir, 5000);
    let config = config_with(
        &dir,
        &format!(
            "[pipeline]\nbatch_size = 16\n[source]\nkind = \"replay\"\npath = \"{}\"",
            events.display()
        ),
        &format!(
            r#"
[plugin_defaults]
max_series = 200
max_document_keys = 150
max_log_names = 250
[[plugins]]
id = "keys"
path = "{probe}"
config = {{ mode = "keys" }}
[[plugins]]
id = "counter"
path = "{probe}"
config = {{ mode = "count" }}
"#,
            probe = wasm("prism_probe").display()
        ),
    );
    let server = Server::start(&config);
    // The neighbour sees every event.
    server.wait_for(
        "/api/v1/plugins/counter/documents/count",
        Duration::from_secs(60),
        |v| v["body"]["events"] == 5000,
    );
    let keys = server.wait_for("/api/v1/plugins/keys", Duration::from_secs(60), |p| {
        p["state"] != "running" && p["state"] != "recovering"
    });
    assert!(keys["dead_letters"].as_u64().unwrap() >= 1, "{keys}");
    // The documents limit (150) is the first one reached, and nothing past it is kept.
    let documents = keys["documents"].as_array().unwrap().len();
    let series = keys["series"].as_array().unwrap().len();
    assert!(documents <= 150, "{documents} documents kept");
    assert!(series <= 200, "{series} series kept");
    assert!(
        documents >= 140,
        "the plugin ran up to its limit: {documents}"
    );
    let letters = server.json("/api/v1/plugins/keys/dead-letters");
    let first = &letters["items"][0];
    assert_eq!(first["error"]["kind"], "output_limit", "{letters}");
    assert!(
        first["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_document_keys"),
        "{letters}"
    );
    // The poison event is the 150th: its `key-150` would be the 151st key
    // beside the probe's own `count`.
    assert_eq!(first["event"]["ts"], 1_700_000_000_149i64, "{letters}");
    assert!(server.rss() < 512 << 20, "RSS {} bytes", server.rss());
}

#[test]
fn an_oversized_document_is_refused_before_it_is_stored() {
    let dir = temp_dir("big-doc");
    let events = trades_file(&dir, 10);
    let config = config_with(
        &dir,
        &format!(
            "[source]\nkind = \"replay\"\npath = \"{}\"",
            events.display()
        ),
        &format!(
            r#"
[[plugins]]
id = "big"
path = "{probe}"
config = {{ mode = "big", bytes = 5000000, at_ts = 1700000000002 }}
"#,
            probe = wasm("prism_probe").display()
        ),
    );
    let server = Server::start(&config);
    let big = server.wait_for("/api/v1/plugins/big", Duration::from_secs(30), |p| {
        p["events_in"] == 9 && p["dead_letters"] == 1
    });
    assert_eq!(big["dead_letters"], 1, "{big}");
    let letters = server.json("/api/v1/plugins/big/dead-letters");
    assert_eq!(letters["items"][0]["error"]["kind"], "output_limit");
    assert!(
        letters["items"][0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_document_bytes"),
        "{letters}"
    );
    let (status, _) = server.get("/api/v1/plugins/big/documents/big");
    assert_eq!(status, 404);
}

#[test]
fn a_chatty_plugin_is_rate_limited_and_cannot_forge_log_lines() {
    let dir = temp_dir("chatty");
    let events = trades_file(&dir, 2000);
    let config = config_with(
        &dir,
        &format!(
            "[pipeline]\nbatch_size = 10\n[source]\nkind = \"replay\"\npath = \"{}\"",
            events.display()
        ),
        &format!(
            r#"
[plugin_defaults]
log_lines_per_s = 20
[[plugins]]
id = "chatty"
path = "{probe}"
config = {{ mode = "chatty", lines = 50 }}
[[plugins]]
id = "counter"
path = "{probe}"
config = {{ mode = "count" }}
"#,
            probe = wasm("prism_probe").display()
        ),
    );
    let log = dir.join("server.log");
    let started = std::time::Instant::now();
    let server = Server::start_logged(&config, &[("PRISM_LOG", "info")], &log);
    server.wait_for(
        "/api/v1/plugins/counter/documents/count",
        Duration::from_secs(60),
        |v| v["body"]["events"] == 2000,
    );
    let chatty = server.wait_for("/api/v1/plugins/chatty", Duration::from_secs(60), |p| {
        p["events_in"] == 2000
    });
    let elapsed = started.elapsed().as_secs_f64();
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let written = text.lines().filter(|l| l.contains("chatty\\r\\n")).count();
    // 100 000 lines asked for; at most a burst of 40 plus 20 a second pass.
    assert!(
        (written as f64) <= 40.0 + 20.0 * (elapsed + 1.0),
        "{written} lines in {elapsed:.1} s"
    );
    assert!(written >= 20, "{written}");
    assert!(
        text.contains("log lines") && text.contains("suppressed"),
        "a summary says what was dropped"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("2026-01-01T00:00:00Z ERROR forged")),
        "no forged line"
    );
    assert!(
        chatty["logs_suppressed"].as_u64().unwrap() >= 100_000 - written as u64,
        "{chatty}"
    );
}

#[test]
fn uploaded_plugins_get_the_configured_plugin_defaults() {
    let dir = temp_dir("upload-defaults");
    let config = config_with(
        &dir,
        "[source]\nkind = \"simulator\"\npace = 600.0",
        "[plugin_defaults]\nmax_outputs = 2\n",
    );
    let server = Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", "t0ken")]);
    let probe = std::fs::read(wasm("prism_probe")).unwrap();
    // {"mode":"keys"}: three outputs for every event, past the cap of 2
    // even for one event alone: each becomes a dead letter.
    let (status, body) = server.request(
        "POST",
        "/api/v1/plugins/up?config=%7B%22mode%22%3A%22keys%22%7D",
        Some("t0ken"),
        &probe,
    );
    assert_eq!(status, 201, "{body}");
    server.wait_for("/api/v1/plugins/up", Duration::from_secs(30), |p| {
        p["dead_letters"].as_u64().unwrap_or(0) > 0
    });
    let letters = server.json("/api/v1/plugins/up/dead-letters");
    let error = &letters["items"][0]["error"];
    assert_eq!(error["kind"], "output_cap", "{letters}");
    assert!(
        error["message"].as_str().unwrap().contains("the cap is 2"),
        "{letters}"
    );
}

#[test]
fn an_empty_token_variable_keeps_the_configured_token_and_spaces_do_not_matter() {
    let dir = temp_dir("tokens");
    let config = config_with(
        &dir,
        "[source]\nkind = \"simulator\"\npace = 60.0",
        "[admin]\ntoken = \"  s3cret \\n\"\n",
    );
    let server = Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", "")]);
    let probe = std::fs::read(wasm("prism_probe")).unwrap();
    let add = "/api/v1/plugins/up?config=%7B%22mode%22%3A%22count%22%7D";
    let (status, body) = server.request("POST", add, Some("s3cret"), &probe);
    assert_eq!(status, 201, "the configured token is in force: {body}");
    let (status, _) = server.request("POST", "/api/v1/plugins/up/pause", Some("  s3cret"), b"");
    assert_eq!(status, 200);
    let (status, _) = server.request("POST", "/api/v1/plugins/up/pause", Some("s3cre"), b"");
    assert_eq!(status, 401);

    let blank = config_with(
        &dir,
        "[source]\nkind = \"simulator\"",
        "[admin]\ntoken = \"   \"\n",
    );
    let out = prism()
        .args(["run", "--config"])
        .arg(&blank)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("admin.token"), "{stderr}");
}
