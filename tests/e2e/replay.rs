//! `prism replay`.

use crate::common::*;

#[test]
fn replay_writes_hand_computed_ratios_and_reports_bad_lines() {
    let dir = temp_dir("replay");
    let out = dir.join("out.jsonl");
    let result = prism()
        .args(["replay", "--events"])
        .arg(fixture("ratios.jsonl"))
        .arg("--plugin")
        .arg(wasm("long_short_ratio"))
        .arg("--plugin")
        .arg(wasm("hello"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("replayed 9 events"), "{stdout}");
    assert!(stdout.contains("2 malformed records skipped"), "{stdout}");
    assert!(
        stderr.contains("ratios.jsonl:3:"),
        "line 3 is reported: {stderr}"
    );
    assert!(
        stderr.contains("ratios.jsonl:10:") && stderr.contains("price"),
        "line 10 names its field: {stderr}"
    );

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ratios: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["plugin"] == "long-short-ratio")
        .collect();
    let expected = expected_ratios();
    assert_eq!(ratios.len(), expected.len(), "{ratios:#?}");
    for (got, (name, exchange, symbol, ts, value)) in ratios.iter().zip(&expected) {
        assert_eq!(got["kind"], "series");
        assert_eq!(got["name"], *name);
        assert_eq!(got["exchange"], *exchange);
        assert_eq!(got["symbol"], *symbol);
        assert_eq!(got["ts"], *ts);
        assert!(
            close(got["value"].as_f64().unwrap(), *value),
            "{got} vs {value}"
        );
    }
    // The first line is in the documented shape, keys in the documented order.
    let first = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert!(first.starts_with(r#"{"plugin":"long-short-ratio","kind":"series","name":"taker_long_short_ratio","exchange":"binance","symbol":"BTCUSDT","ts":1700000040000,"value":1.33"#), "{first}");

    // hello saw the whole file in one batch: one document with the counts.
    let hello: Vec<&serde_json::Value> = lines.iter().filter(|l| l["plugin"] == "hello").collect();
    assert_eq!(hello.len(), 1);
    assert_eq!(hello[0]["kind"], "document");
    assert_eq!(hello[0]["key"], "counts");
    assert_eq!(hello[0]["ts"], 1_700_000_160_000i64);
    assert_eq!(
        hello[0]["body"],
        serde_json::json!({"funding": 1, "position": 3, "trade": 5})
    );
}

#[test]
fn replay_is_deterministic_and_reads_messagepack_the_same() {
    let dir = temp_dir("determinism");
    let jsonl = dir.join("sim.jsonl");
    let packed = dir.join("sim.msgpack");
    for file in [&jsonl, &packed] {
        let status = prism()
            .args(["sim", "--seed", "9", "--duration", "20m", "--out"])
            .arg(file)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let run = |events: &std::path::Path, out: &std::path::Path| {
        let result = prism()
            .args(["replay", "--events"])
            .arg(events)
            .arg("--plugin")
            .arg(wasm("long_short_ratio"))
            .arg("--out")
            .arg(out)
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
        std::fs::read(out).unwrap()
    };
    let a = run(&jsonl, &dir.join("a.jsonl"));
    let b = run(&jsonl, &dir.join("b.jsonl"));
    let c = run(&packed, &dir.join("c.jsonl"));
    assert!(!a.is_empty());
    assert_eq!(a, b, "two replays of one file give byte-identical outputs");
    assert_eq!(a, c, "MessagePack and JSON Lines replays agree");
}

#[test]
fn a_faulty_plugin_fails_alone() {
    let dir = temp_dir("faulty");
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
cache = false
[[plugins]]
id = "panicky"
path = "{probe}"
config = {{ mode = "panic", at = 3 }}
[[plugins]]
id = "counter"
path = "{probe}"
config = {{ mode = "count" }}
"#,
            probe = wasm("prism_probe").display()
        ),
    )
    .unwrap();
    let out = dir.join("out.jsonl");
    let result = prism()
        .args(["replay", "--events"])
        .arg(fixture("ratios.jsonl"))
        .args(["--plugin"])
        .arg(wasm("prism_probe"))
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    // Every entry with that path runs: the panicking one fails alone.
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(!result.status.success());
    assert!(
        stdout.contains("panicky: FAILED") && stdout.contains("poison event number 3"),
        "{stdout}"
    );
}

/// The last `counts` document of each plugin in an `--out` file.
fn last_counts(out: &std::path::Path) -> std::collections::BTreeMap<String, serde_json::Value> {
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|o| o["kind"] == "document" && o["key"] == "counts")
        .map(|o| (o["plugin"].as_str().unwrap().to_owned(), o["body"].clone()))
        .collect()
}

#[test]
fn replay_with_a_config_alone_runs_its_plugins_each_with_its_settings() {
    let dir = temp_dir("replay-config");
    let config = dir.join("prism.toml");
    // One `.wasm` twice, under two ids with two subscriptions; the path is
    // relative to the config and spelled differently from `--plugin`'s.
    let hello = wasm("hello");
    std::fs::copy(&hello, dir.join("hello.wasm")).unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        &config,
        r#"
[runtime]
cache = false
[[plugins]]
id = "everything"
path = "sub/../hello.wasm"
[[plugins]]
id = "funding-only"
path = "hello.wasm"
subscription = { kinds = ["funding"] }
"#,
    )
    .unwrap();
    // The fixture's 9 valid events: 5 trades, 3 positions, 1 funding.
    let expected = |plugin: &str| match plugin {
        "everything" => serde_json::json!({"trade": 5, "position": 3, "funding": 1}),
        _ => serde_json::json!({"funding": 1}),
    };
    for with_plugin in [false, true] {
        let out = dir.join(format!("out-{with_plugin}.jsonl"));
        let mut cmd = prism();
        cmd.args(["replay", "--events"])
            .arg(fixture("ratios.jsonl"))
            .arg("--config")
            .arg(&config)
            .arg("--out")
            .arg(&out);
        if with_plugin {
            cmd.arg("--plugin").arg(dir.join("hello.wasm"));
        }
        let result = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&result.stdout);
        assert!(result.status.success(), "{stdout}");
        let counts = last_counts(&out);
        assert_eq!(counts.len(), 2, "both entries ran: {counts:?}");
        for (plugin, body) in &counts {
            assert_eq!(body, &expected(plugin), "{plugin}");
        }
    }
}

#[test]
fn replay_never_takes_another_entry_s_settings_by_name() {
    let dir = temp_dir("replay-no-fallback");
    let config = dir.join("prism.toml");
    // An entry named like hello's own name, for another file.
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
cache = false
[[plugins]]
id = "hello"
path = "{probe}"
subscription = {{ kinds = ["funding"] }}
"#,
            probe = wasm("prism_probe").display()
        ),
    )
    .unwrap();
    let out = dir.join("out.jsonl");
    let result = prism()
        .args(["replay", "--events"])
        .arg(fixture("ratios.jsonl"))
        .arg("--plugin")
        .arg(wasm("hello"))
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(
        stderr.contains("is not in the config") && stderr.contains("default settings"),
        "{stderr}"
    );
    // The default settings: hello's own subscription, every kind.
    assert_eq!(
        last_counts(&out)["hello"],
        serde_json::json!({"trade": 5, "position": 3, "funding": 1})
    );
    // Without --plugin and with no plugin in the config, it says what to do.
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "[runtime]\ncache = false\n").unwrap();
    let result = prism()
        .args(["replay", "--events"])
        .arg(fixture("ratios.jsonl"))
        .arg("--config")
        .arg(&empty)
        .output()
        .unwrap();
    assert!(!result.status.success());
    assert!(
        String::from_utf8_lossy(&result.stderr).contains("--plugin"),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The names in `perf`'s map of JIT code that process `pid` wrote, and the
/// map removed (the test leaves nothing in `/tmp`); `None` without one.
fn perf_map_of(pid: u32) -> Option<Vec<String>> {
    let path = std::path::PathBuf::from(format!("/tmp/perf-{pid}.map"));
    let text = std::fs::read_to_string(&path).ok()?;
    std::fs::remove_file(&path).unwrap();
    // `perf`'s format: start address and size in hex, then the name.
    Some(
        text.lines()
            .map(|line| {
                let mut fields = line.splitn(3, ' ');
                let (start, size) = (fields.next().unwrap(), fields.next().unwrap());
                assert!(
                    start.starts_with("0x") && u64::from_str_radix(&start[2..], 16).is_ok(),
                    "{line}"
                );
                assert!(u64::from_str_radix(size, 16).is_ok(), "{line}");
                fields.next().unwrap().to_owned()
            })
            .collect(),
    )
}

#[test]
fn replay_can_name_the_plugins_functions_for_perf() {
    let dir = temp_dir("replay-perf-map");
    let replay = |extra: &[&str], config: Option<&std::path::Path>| {
        let mut cmd = prism();
        cmd.env("PRISM_CACHE_DIR", dir.join("cache"))
            .args(["replay", "--events"])
            .arg(fixture("ratios.jsonl"))
            .arg("--plugin")
            .arg(wasm("long_short_ratio"))
            .args(extra);
        if let Some(config) = config {
            cmd.arg("--config").arg(config);
        }
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let result = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
        (result.status.success(), stderr, perf_map_of(pid))
    };
    // The plugin's own trait methods, by the names its source gives them.
    let names_the_plugin = |names: &[String]| {
        ["init", "on_event", "restore"].iter().all(|method| {
            names.iter().any(|n| {
                n.starts_with(&format!(
                    "<long_short_ratio::LongShortRatio as prism_sdk::Plugin>::{method}::"
                ))
            })
        })
    };
    // Compiled now, then loaded from the cache: named both times.
    for run in ["compiled", "cached"] {
        let (ok, stderr, map) = replay(&["--perf-map"], None);
        assert!(ok, "{run}: {stderr}");
        let names = map.unwrap_or_else(|| panic!("{run}: no perf map was written"));
        assert!(
            names_the_plugin(&names),
            "{run}: {:?}",
            names
                .iter()
                .filter(|n| n.contains("long_short"))
                .collect::<Vec<_>>()
        );
    }
    assert!(
        std::fs::read_dir(dir.join("cache")).unwrap().count() == 1,
        "one artifact, whether the map is written or not"
    );
    // The config key does the same; without either, no map.
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        "[runtime]\ncache = false\nprofiler = \"perf_map\"\n",
    )
    .unwrap();
    let (ok, stderr, map) = replay(&[], Some(&config));
    assert!(ok, "{stderr}");
    assert!(names_the_plugin(
        &map.expect("the config's profiler writes a map")
    ));
    let (ok, stderr, map) = replay(&[], None);
    assert!(ok, "{stderr}");
    assert_eq!(map, None, "no map unless asked for");
    // A profiler Prism does not know is refused, naming the key.
    std::fs::write(&config, "[runtime]\nprofiler = \"vtune\"\n").unwrap();
    let (ok, stderr, map) = replay(&[], Some(&config));
    assert!(!ok && map.is_none());
    assert!(
        stderr.contains("profiler") && stderr.contains("perf_map"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
