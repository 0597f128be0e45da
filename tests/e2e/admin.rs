//! The admin API, file watching and config reload, through a running
//! `prism run` with the simulator streaming.

use crate::common::*;
use serde_json::Value;
use std::time::Duration;

const TOKEN: &str = "e2e-admin-token";
const COUNT_CONFIG: &str = "%7B%22mode%22%3A%22count%22%7D"; // {"mode":"count"}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn config_text(dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"
[admin]
max_upload_mb = 1
[runtime]
data_dir = "{data}"
watch_debounce_ms = 20
[source]
kind = "simulator"
pace = 600.0
[[plugins]]
id = "watched"
path = "watched.wasm"
config = {{ mode = "count" }}
{extra}
"#,
        data = dir.join("data").display()
    )
}

#[test]
fn operators_swap_pause_roll_back_and_remove_plugins_while_the_stream_runs() {
    let dir = temp_dir("admin");
    std::fs::copy(wasm("prism_probe"), dir.join("watched.wasm")).unwrap();
    let config = dir.join("prism.toml");
    std::fs::write(&config, config_text(&dir, "")).unwrap();
    let server = Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", TOKEN)]);
    let probe = std::fs::read(wasm("prism_probe")).unwrap();
    let add = format!("/api/v1/plugins/up?config={COUNT_CONFIG}");

    // Without the token, or with another, nothing changes.
    let (status, body) = server.request("POST", &add, None, &probe);
    assert_eq!(status, 401, "{body}");
    assert_eq!(json(&body)["error"]["code"], "unauthorized");
    let (status, _) = server.request("POST", &add, Some("guess"), &probe);
    assert_eq!(status, 401);

    // Add.
    let (status, body) = server.request("POST", &add, Some(TOKEN), &probe);
    assert_eq!(status, 201, "{body}");
    let added = json(&body);
    assert_eq!(added["source"], "upload");
    assert_eq!(added["config"], serde_json::json!({"mode": "count"}));
    let first_sha = added["sha256"].as_str().unwrap().to_owned();
    let (status, body) = server.request("POST", &add, Some(TOKEN), &probe);
    assert_eq!(
        (status, json(&body)["error"]["code"].clone()),
        (409, "conflict".into())
    );

    // Ids and components that do not fit are refused, saying why.
    for (path, bytes, code, status) in [
        ("/api/v1/plugins/Bad.Id", probe.clone(), "invalid_id", 400),
        ("/api/v1/plugins/x", b"not wasm".to_vec(), "not_wasm", 422),
        (
            "/api/v1/plugins/x",
            std::fs::read(wasm("other-world")).unwrap(),
            "wrong_world",
            422,
        ),
        (
            "/api/v1/plugins/x",
            std::fs::read(wasm("future_contract")).unwrap(),
            "incompatible_contract",
            422,
        ),
        (
            "/api/v1/plugins/x",
            vec![0; 2 << 20],
            "payload_too_large",
            413,
        ),
    ] {
        let (got, body) = server.request("POST", path, Some(TOKEN), &bytes);
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(json(&body)["error"]["code"], code, "{body}");
    }

    // Swap the code: the state (the count) carries over.
    let before = server.wait_for(
        "/api/v1/plugins/up/documents/count",
        Duration::from_secs(10),
        |v| v["body"]["events"].as_u64().unwrap_or(0) > 0,
    )["body"]["events"]
        .as_u64()
        .unwrap();
    let (status, body) = server.request(
        "PUT",
        "/api/v1/plugins/up/wasm",
        Some(TOKEN),
        &probe_variant(1),
    );
    assert_eq!(status, 200, "{body}");
    let swapped = json(&body);
    assert_ne!(swapped["sha256"], first_sha.as_str());
    assert_eq!(swapped["swaps"], 1);
    // New code goes in on quick code; its optimized code follows, the same
    // version (no second swap counted, no history entry).
    assert_eq!(swapped["code"], "quick", "{swapped}");
    let optimized = server.wait_for("/api/v1/plugins/up", Duration::from_secs(30), |v| {
        v["code"] == "optimized"
    });
    assert_eq!(optimized["sha256"], swapped["sha256"]);
    assert_eq!(optimized["swaps"], 1);
    assert_eq!(optimized["state"], "running");
    let after = server.json("/api/v1/plugins/up/documents/count")["body"]["events"]
        .as_u64()
        .unwrap();
    assert!(after >= before, "count went from {before} to {after}");

    // A config whose restore fails is refused; the old version keeps running.
    let (status, body) = server.request(
        "PUT",
        "/api/v1/plugins/up/config",
        Some(TOKEN),
        br#"{"mode":"restore_error"}"#,
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(json(&body)["error"]["code"], "restore_failed");
    let status_now = server.json("/api/v1/plugins/up");
    assert_eq!(status_now["state"], "running");
    assert_eq!(status_now["swap_failures"], 1);
    assert_eq!(status_now["config"], serde_json::json!({"mode": "count"}));
    assert!(
        status_now["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("refusing state")
    );

    // Pause and resume.
    let (status, body) = server.request("POST", "/api/v1/plugins/up/pause", Some(TOKEN), b"");
    assert_eq!(
        (status, json(&body)["state"].clone()),
        (200, "paused".into()),
        "{body}"
    );
    server.wait_for("/api/v1/plugins/up", Duration::from_secs(10), |v| {
        v["events_dropped"].as_u64().unwrap_or(0) > 0
    });
    let (status, body) = server.request("POST", "/api/v1/plugins/up/resume", Some(TOKEN), b"");
    assert_eq!(
        (status, json(&body)["state"].clone()),
        (200, "running".into()),
        "{body}"
    );

    // Roll back to the first version.
    let (status, body) = server.request("POST", "/api/v1/plugins/up/rollback", Some(TOKEN), b"");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["sha256"], first_sha.as_str());
    let versions = server.json("/api/v1/plugins/up/versions")["items"].clone();
    let summary: Vec<(String, String)> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["change"].as_str().unwrap().into(),
                v["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect = [
        ("start", "previous"),
        ("wasm", "previous"),
        ("config", "failed"),
        ("rollback", "active"),
    ];
    assert_eq!(
        summary,
        expect.map(|(a, b)| (a.to_owned(), b.to_owned())),
        "{versions}"
    );
    assert_eq!(versions[3]["sha256"], first_sha.as_str());

    // The watcher: a new file in place of a plugin's is swapped in.
    let watched = server.json("/api/v1/plugins/watched");
    std::fs::write(dir.join("watched.tmp"), probe_variant(2)).unwrap();
    std::fs::rename(dir.join("watched.tmp"), dir.join("watched.wasm")).unwrap();
    let now = server.wait_for("/api/v1/plugins/watched", Duration::from_secs(20), |v| {
        v["swaps"] == 1
    });
    assert_ne!(now["sha256"], watched["sha256"]);

    // A config change: a plugin added, another's config changed.
    let extra = format!(
        "[[plugins]]\nid = \"late\"\npath = \"{}\"\n",
        wasm("hello").display()
    );
    let text = config_text(&dir, &extra).replace(
        "config = { mode = \"count\" }",
        "config = { mode = \"count\", at = 0 }",
    );
    std::fs::write(&config, text).unwrap();
    server.wait_for("/api/v1/plugins/late", Duration::from_secs(20), |v| {
        v["state"] == "running"
    });
    server.wait_for("/api/v1/plugins/watched", Duration::from_secs(20), |v| {
        v["config"] == serde_json::json!({"mode": "count", "at": 0})
    });

    // Remove.
    let (status, _) = server.request("DELETE", "/api/v1/plugins/up", Some(TOKEN), b"");
    assert_eq!(status, 204);
    let (status, _) = server.get("/api/v1/plugins/up");
    assert_eq!(status, 404);
    let (status, _) = server.request("DELETE", "/api/v1/plugins/up", Some(TOKEN), b"");
    assert_eq!(status, 404);
    assert_eq!(server.json("/health")["status"], "ok");
}

#[test]
fn an_uploaded_swap_becomes_the_source_and_another_plugin_needs_a_rename() {
    let dir = temp_dir("admin-upload-source");
    std::fs::copy(wasm("prism_probe"), dir.join("watched.wasm")).unwrap();
    let config = dir.join("prism.toml");
    std::fs::write(&config, config_text(&dir, "")).unwrap();
    let server = Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", TOKEN)]);
    let from_file = server.wait_for("/api/v1/plugins/watched", Duration::from_secs(20), |v| {
        v["state"] == "running"
    });
    assert!(
        from_file["source"]
            .as_str()
            .unwrap()
            .ends_with("watched.wasm")
    );

    // New code uploaded over a file plugin: the upload is its source now.
    let (status, body) = server.request(
        "PUT",
        "/api/v1/plugins/watched/wasm",
        Some(TOKEN),
        &probe_variant(3),
    );
    assert_eq!(status, 200, "{body}");
    let uploaded = json(&body);
    assert_eq!(uploaded["source"], "upload");
    assert_ne!(uploaded["sha256"], from_file["sha256"]);
    // A reload re-initializes the uploaded code, not the file's older one.
    let (status, body) = server.request("POST", "/api/v1/plugins/watched/reload", Some(TOKEN), b"");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["sha256"], uploaded["sha256"]);
    // The file is no longer followed.
    std::fs::write(dir.join("watched.tmp"), probe_variant(4)).unwrap();
    std::fs::rename(dir.join("watched.tmp"), dir.join("watched.wasm")).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        server.json("/api/v1/plugins/watched")["sha256"],
        uploaded["sha256"]
    );

    // Another plugin's code (it calls itself `tiny-counter`; its state is a
    // count, as the probe's) does not take this plugin's place and state
    // unless the rename is asked for.
    let other = std::fs::read(wasm("tiny_counter")).unwrap();
    let (status, body) = server.request("PUT", "/api/v1/plugins/watched/wasm", Some(TOKEN), &other);
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["error"]["code"], "name_changed");
    assert!(
        json(&body)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tiny-counter")
    );
    let still = server.json("/api/v1/plugins/watched");
    assert_eq!(still["sha256"], uploaded["sha256"]);
    assert_eq!(still["state"], "running");
    let (status, body) = server.request(
        "PUT",
        "/api/v1/plugins/watched/wasm?rename=true",
        Some(TOKEN),
        &other,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["name"], "tiny-counter");
}

#[test]
fn pausing_a_quarantined_plugin_is_a_conflict() {
    let dir = temp_dir("admin-conflict");
    std::fs::copy(wasm("prism_probe"), dir.join("watched.wasm")).unwrap();
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        config_text(&dir, "").replace(
            "config = { mode = \"count\" }",
            "config = { mode = \"panic\", at = 1 }\n[recovery]\nmax_failures = 0\nbackoff_ms = 600000",
        ),
    )
    .unwrap();
    let server = Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", TOKEN)]);
    server.wait_for("/api/v1/plugins/watched", Duration::from_secs(20), |v| {
        v["state"] == "quarantined"
    });
    let (status, body) = server.request("POST", "/api/v1/plugins/watched/pause", Some(TOKEN), b"");
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["error"]["code"], "conflict");
}

/// Admission: a plugin past `runtime.max_instances` is refused with 503,
/// the code `at_capacity` and the key to raise; the running plugins go on,
/// and once one is removed the same upload is taken.
#[test]
fn a_plugin_past_the_instance_limit_is_refused_and_taken_once_there_is_room() {
    let dir = temp_dir("admin-capacity");
    std::fs::copy(wasm("prism_probe"), dir.join("watched.wasm")).unwrap();
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        config_text(&dir, "").replace(
            "watch_debounce_ms = 20",
            "watch_debounce_ms = 20\nmax_instances = 3",
        ),
    )
    .unwrap();
    let server = Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", TOKEN)]);
    let probe = std::fs::read(wasm("prism_probe")).unwrap();
    let add = |id: &str| format!("/api/v1/plugins/{id}?config={COUNT_CONFIG}");
    // `watched` holds one instance; two more fit.
    for id in ["a", "b"] {
        let (status, body) = server.request("POST", &add(id), Some(TOKEN), &probe);
        assert_eq!(status, 201, "{id}: {body}");
    }
    let (status, body) = server.request("POST", &add("c"), Some(TOKEN), &probe);
    assert_eq!(status, 503, "{body}");
    let error = &json(&body)["error"];
    assert_eq!(error["code"], "at_capacity", "{body}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("runtime.max_instances = 3"),
        "{body}"
    );
    // A plugin just added is `starting` until its worker has begun.
    let plugins = server.wait_for("/api/v1/plugins", Duration::from_secs(10), |p| {
        p["items"]
            .as_array()
            .is_some_and(|items| items.iter().all(|p| p["state"] == "running"))
    });
    let items = plugins["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{plugins}");
    // Room made: the worker of `a` ends once its queue drains, and its
    // instance goes back to the pool.
    let (status, body) = server.request("DELETE", "/api/v1/plugins/a", Some(TOKEN), b"");
    assert_eq!(status, 204, "{body}");
    let started = std::time::Instant::now();
    loop {
        let (status, body) = server.request("POST", &add("c"), Some(TOKEN), &probe);
        if status == 201 {
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still refused: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The capacity view: plugins, instances against `runtime.max_instances`,
/// worker threads, queues and memory as configured and as the plugins'
/// own views say, and the busiest plugin first.
#[test]
fn the_capacity_view_shows_the_host_against_its_limits() {
    let dir = temp_dir("admin-capacity-view");
    std::fs::copy(wasm("prism_probe"), dir.join("watched.wasm")).unwrap();
    let config = dir.join("prism.toml");
    let extra = r#"
[[plugins]]
id = "slow"
path = "watched.wasm"
config = { mode = "slow", work = 200000 }
[pipeline]
worker_threads = 2
queue_batches = 16
"#;
    std::fs::write(
        &config,
        config_text(&dir, extra).replace(
            "watch_debounce_ms = 20",
            "watch_debounce_ms = 20\nmax_instances = 5",
        ),
    )
    .unwrap();
    let server = Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", TOKEN)]);
    // Both have worked a while.
    server.wait_for("/api/v1/plugins/slow", Duration::from_secs(30), |v| {
        v["events_in"].as_u64().unwrap_or(0) > 2_000
    });
    let c = server.json("/api/v1/system/capacity");
    assert_eq!(c["plugins"], 2, "{c:#}");
    assert_eq!(c["instances"]["limit"], 5, "{c:#}");
    assert_eq!(c["instances"]["quick_limit"], 16, "{c:#}");
    assert_eq!(c["instances"]["quick_in_use"], 0, "{c:#}");
    let in_use = c["instances"]["in_use"].as_u64().unwrap();
    assert_eq!(in_use, 2, "one instance a plugin, no swap running: {c:#}");
    assert_eq!(c["instances"]["headroom"], 5 - in_use, "{c:#}");
    assert_eq!(c["worker_threads"], 2, "{c:#}");
    assert_eq!(c["queues"]["capacity_batches"], 16, "{c:#}");
    let items = c["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{c:#}");
    assert_eq!(items[0]["id"], "slow", "the busiest first: {c:#}");
    let share = |i: &Value| i["cpu_share"].as_f64().unwrap();
    assert!(share(&items[0]) > share(&items[1]), "{c:#}");
    let window_ms = c["cpu"]["window_s"].as_f64().unwrap() * 1000.0;
    for i in items {
        let busy = i["busy_ms"].as_f64().unwrap();
        assert!(busy <= window_ms + 1.0, "{c:#}");
        assert!(
            (share(i) - busy / window_ms).abs() < 0.01,
            "the share is the busy time over the window: {c:#}"
        );
        // Each plugin's memory, as its own view says.
        let id = i["id"].as_str().unwrap();
        let view = server.json(&format!("/api/v1/plugins/{id}"));
        assert!(i["memory_bytes"].as_u64().unwrap() > 0, "{c:#}");
        assert_eq!(i["state"], view["state"], "{c:#}");
    }
    let memory: u64 = items
        .iter()
        .map(|i| i["memory_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(c["memory"]["plugins_bytes"], memory, "{c:#}");
    assert!(c["memory"]["process_resident_bytes"].as_u64().unwrap() > memory);
    let busy = c["cpu"]["busy_share"].as_f64().unwrap();
    assert!(busy > 0.0 && busy <= 1.05, "{c:#}");
    // The busiest one alone; a limit out of range is refused by name.
    let top = server.json("/api/v1/system/capacity?limit=1");
    assert_eq!(top["items"].as_array().unwrap().len(), 1);
    assert_eq!(top["items"][0]["id"], "slow");
    let (status, body) = server.get("/api/v1/system/capacity?limit=0");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("limit"), "{body}");
    // The same in the metrics.
    let (_, metrics) = server.get("/metrics");
    assert!(
        metrics.contains("prism_plugin_instances_limit 5"),
        "{metrics}"
    );
    assert!(metrics.contains("prism_worker_threads 2"), "{metrics}");
    assert!(metrics.contains("prism_plugin_instances 2"), "{metrics}");
}
