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
    // The first entry with that path is used: the panicking one.
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(!result.status.success());
    assert!(
        stdout.contains("panicky: FAILED") && stdout.contains("poison event number 3"),
        "{stdout}"
    );
}
