//! The plugin author's loop through the binary: `prism new` for every
//! template in a folder outside the repository, then the project's own
//! unit tests, its build, `prism test` and loading it into a running host,
//! all without editing a file; and `prism test` against expected outputs.

use crate::common::{Server, prism, repo, temp_dir, wasm};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// Three trades on two instruments and a funding between them.
const EVENTS: &str = r#"{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":1700000000000,"price":"37000.1","size":"0.25","side":"buy"}
{"type":"funding","exchange":"binance","symbol":"BTCUSDT","ts":1700000000500,"rate":"0.0001","interval_h":8,"mark_price":"37000"}
{"type":"trade","exchange":"binance","symbol":"ETHUSDT","ts":1700000001000,"price":"2000.5","size":"3","side":"sell"}
{"type":"trade","exchange":"binance","symbol":"BTCUSDT","ts":1700000002000,"price":"37001","size":"0.5","side":"sell"}
"#;

/// What the probe in `number` mode makes of [`EVENTS`], worked out from its
/// documented rule: market events are numbered 1, 2, … (the funding is 2),
/// and each trade n makes series `n` = n, log `n` `{"n": n}` and a weak long
/// signal `n=<n>`, on the trade's instrument at its time; after the batch
/// (the file is one), the document `count` `{"events": 4}` at the last
/// event's time.
fn expected_outputs() -> Vec<Value> {
    let trades = [
        (1, "BTCUSDT", 1_700_000_000_000_i64),
        (3, "ETHUSDT", 1_700_000_001_000),
        (4, "BTCUSDT", 1_700_000_002_000),
    ];
    trades
        .iter()
        .flat_map(|(n, symbol, ts)| {
            [
                json!({"plugin": "probe", "kind": "series", "name": "n", "exchange": "binance",
                       "symbol": symbol, "ts": ts, "value": f64::from(*n)}),
                json!({"plugin": "probe", "kind": "log", "name": "n", "exchange": "binance",
                       "symbol": symbol, "ts": ts, "body": {"n": n}}),
                json!({"plugin": "probe", "kind": "signal", "exchange": "binance",
                       "symbol": symbol, "ts": ts, "direction": "long", "strength": "weak",
                       "reason": format!("n={n}")}),
            ]
        })
        .chain([
            json!({"plugin": "probe", "kind": "document", "key": "count",
                      "ts": 1_700_000_002_000_i64, "body": {"events": 4}}),
        ])
        .collect()
}

fn prism_test(dir: &Path, expect: &Path, config: &str, more: &[&str]) -> Output {
    prism()
        .arg("test")
        .arg(wasm("prism_probe"))
        .arg("--events")
        .arg(dir.join("events.jsonl"))
        .args(["--config", config])
        .arg("--expect")
        .arg(expect)
        .args(more)
        // Its own compiled cache: the author's second run loads from it.
        .env("PRISM_CACHE_DIR", dir.join("cache"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn setup(tag: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    std::fs::write(dir.join("events.jsonl"), EVENTS).unwrap();
    let expect = dir.join("expected.jsonl");
    (dir, expect)
}

const NUMBER: &str = r#"{"mode":"number"}"#;

#[test]
fn prism_test_writes_the_expected_outputs_then_holds_the_plugin_to_them() {
    let (dir, expect) = setup("author-test");
    // No expected file yet: said, with the way to make one.
    let o = prism_test(&dir, &expect, NUMBER, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("does not exist: run once with --update"),
        "{}",
        text(&o)
    );

    let o = prism_test(&dir, &expect, NUMBER, &["--update"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("wrote 10 outputs over 4 events"),
        "{}",
        text(&o)
    );
    assert_eq!(lines(&expect), expected_outputs());
    // The compiled plugin was cached for the next run.
    assert!(std::fs::read_dir(dir.join("cache")).unwrap().count() > 0);

    let o = prism_test(&dir, &expect, NUMBER, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("ok: 10 outputs over 4 events equal"),
        "{}",
        text(&o)
    );
    // Spacing and key order are not differences.
    let reordered: String = expected_outputs()
        .iter()
        .map(|v| {
            let fields: Vec<String> = v
                .as_object()
                .unwrap()
                .iter()
                .rev()
                .map(|(k, v)| format!("{k:?} : {v}"))
                .collect();
            format!("{{ {} }}\n", fields.join(" , "))
        })
        .collect();
    std::fs::write(&expect, reordered).unwrap();
    let o = prism_test(&dir, &expect, NUMBER, &[]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn prism_test_names_each_difference_by_output_and_field() {
    let (dir, expect) = setup("author-diff");
    let mut wanted = expected_outputs();
    // The second trade's series said 5, and the count is missing.
    wanted[3]["value"] = json!(5.0);
    wanted.pop();
    let text_of = |v: &[Value]| -> String { v.iter().map(|l| format!("{l}\n")).collect() };
    std::fs::write(&expect, text_of(&wanted)).unwrap();
    let o = prism_test(&dir, &expect, NUMBER, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains("FAIL: 2 of the outputs differ") && said.contains("(9 expected, 10 made)"),
        "{said}"
    );
    assert!(
        said.contains("output 4 (line 4 of the expected file)"),
        "{said}"
    );
    assert!(said.contains("value: expected 5.0, made 3.0"), "{said}");
    assert!(said.contains("output 10: made, not expected"), "{said}");
    assert!(said.contains(r#""key":"count""#), "{said}");
    assert!(said.contains("--update"), "{said}");
    // The expected file is left as it was.
    assert_eq!(lines(&expect), wanted);
}

#[test]
fn prism_test_fails_a_plugin_that_fails_and_refuses_a_bad_config() {
    let (dir, expect) = setup("author-fail");
    std::fs::write(&expect, "").unwrap();
    let o = prism_test(&dir, &expect, r#"{"mode":"panic","at":2}"#, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("FAIL: the plugin failed"), "{}", text(&o));
    assert!(text(&o).contains("poison event number 2"), "{}", text(&o));

    let o = prism_test(&dir, &expect, "{nope", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--config: not JSON"), "{}", text(&o));
    let o = prism_test(&dir, &expect, "[1]", &[]);
    assert!(
        text(&o).contains("--config [1]: cannot read it"),
        "{}",
        text(&o)
    );
    // Nothing was written beside the expected file.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".made-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A host over the simulator with its admin API on, its data (and compiled
/// cache, `{root}/cache`) in `root`.
fn admin_host(root: &Path, token: &str) -> Server {
    let config = root.join("host.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\ndata_dir = \"{}\"\n[source]\nkind = \"simulator\"\npace = 600.0\n",
            root.display()
        ),
    )
    .unwrap();
    Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", token)])
}

/// Adds the component at `wasm` as plugin `name` through the admin API and
/// waits until it runs, takes events and has not failed.
fn add_and_see_it_run(server: &Server, token: &str, name: &str, wasm: &Path) {
    let bytes = std::fs::read(wasm).unwrap();
    let path = format!("/api/v1/plugins/{name}");
    let (status, body) = server.request("POST", &path, Some(token), &bytes);
    assert_eq!(status, 201, "{name}: {body}");
    server.wait_for(&path, Duration::from_secs(60), |v| {
        v["state"] == "running" && v["events_in"].as_u64() > Some(0) && v["errors"] == 0
    });
}

/// `cargo` in `dir`: offline (the registry's cache has every crate the SDK
/// needs), with one target folder for every scaffold so their dependencies
/// build once.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .arg("--offline")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", repo().join("target/scaffolds"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap()
}

#[test]
fn prism_new_makes_projects_that_test_build_and_run_as_they_are() {
    const TOKEN: &str = "e2e-author-token";
    let root = temp_dir("author-new");
    // Refusals first: a bad name, a template that does not exist, a
    // folder in the way.
    let new = |args: &[&str]| {
        prism()
            .arg("new")
            .args(args)
            .arg("--dir")
            .arg(&root)
            .output()
            .unwrap()
    };
    let o = new(&["Bad Name"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("cannot name a plugin"), "{}", text(&o));
    let o = new(&["x", "--template", "nope"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("signal, series, document, orders"),
        "{}",
        text(&o)
    );
    std::fs::create_dir_all(root.join("taken")).unwrap();
    std::fs::write(root.join("taken/keep.txt"), "mine").unwrap();
    let o = new(&["taken"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("exists and is not empty"), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(root.join("taken/keep.txt")).unwrap(),
        "mine"
    );

    let server = admin_host(&root, TOKEN);
    for template in ["signal", "series", "document", "orders"] {
        let name = format!("my-{template}");
        let o = new(&[&name, "--template", template]);
        assert!(o.status.success(), "{template}: {}", text(&o));
        let project = root.join(&name);
        assert!(text(&o).contains("prism test"), "{}", text(&o));
        for file in [
            "Cargo.toml",
            "Cargo.lock",
            "src/lib.rs",
            "README.md",
            "prism.toml",
            "tests/events.jsonl",
            "tests/expected.jsonl",
            "tests/config.json",
        ] {
            assert!(project.join(file).is_file(), "{template}: no {file}");
        }

        // The three commands of its README, as they are written there.
        let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
        let o = cargo(&project, &["test"]);
        assert!(o.status.success(), "{template}: cargo test\n{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("test result: ok"));
        let o = cargo(
            &project,
            &["build", "--release", "--target", "wasm32-wasip2"],
        );
        assert!(o.status.success(), "{template}: build\n{}", text(&o));
        let file = format!("{}.wasm", name.replace('-', "_"));
        let built = repo()
            .join("target/scaffolds/wasm32-wasip2/release")
            .join(&file);
        // Where the README's commands expect it (no shared target there).
        let local = project.join("target/wasm32-wasip2/release");
        std::fs::create_dir_all(&local).unwrap();
        std::fs::copy(&built, local.join(&file)).unwrap();
        let test_line = readme
            .lines()
            .find(|l| l.starts_with("prism test "))
            .unwrap_or_else(|| panic!("{template}: no prism test line in\n{readme}"));
        let args: Vec<&str> = test_line.split_whitespace().skip(1).collect();
        let o = prism()
            .args(&args)
            .current_dir(&project)
            .env("PRISM_CACHE_DIR", root.join("cache"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{template}: {test_line}\n{}", text(&o));
        assert!(text(&o).contains("ok: "), "{}", text(&o));
        // Its run config is valid and loads the plugin.
        let o = prism()
            .args(["check", "--config", "prism.toml"])
            .current_dir(&project)
            .output()
            .unwrap();
        assert!(o.status.success(), "{template}: prism check\n{}", text(&o));

        // Into a running host through the admin API: it runs and takes events.
        add_and_see_it_run(&server, TOKEN, &name, &built);
    }
    server.terminate();
}

/// The shell lines of the plugin guide's quick start.
fn quick_start() -> Vec<String> {
    let guide = std::fs::read_to_string(repo().join("docs/plugin-guide.md")).unwrap();
    let section = guide
        .split("## Quick start")
        .nth(1)
        .expect("the guide has a quick start");
    let block = section
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the quick start has a sh block");
    block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_plugin_guides_quick_start_works_as_written() {
    let root = temp_dir("author-guide");
    let lines = quick_start();
    assert!(lines.len() >= 4, "{lines:?}");
    let mut cwd = root.clone();
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        let o = match words[0] {
            "cd" => {
                cwd = cwd.join(words[1]);
                continue;
            }
            "prism" => prism()
                .args(&words[1..])
                .current_dir(&cwd)
                .env("PRISM_CACHE_DIR", root.join("cache"))
                .output()
                .unwrap(),
            "cargo" => {
                let o = cargo(&cwd, &words[1..]);
                // The shared target folder: the component where the guide's
                // next line looks for it.
                if words[1] == "build" {
                    let built = repo().join("target/scaffolds/wasm32-wasip2/release");
                    let local = cwd.join("target/wasm32-wasip2/release");
                    std::fs::create_dir_all(&local).unwrap();
                    for entry in std::fs::read_dir(&built).unwrap() {
                        let path = entry.unwrap().path();
                        if path.extension().is_some_and(|e| e == "wasm") {
                            std::fs::copy(&path, local.join(path.file_name().unwrap())).unwrap();
                        }
                    }
                }
                o
            }
            other => panic!("the quick start runs `{other}`, which this test does not know"),
        };
        assert!(o.status.success(), "`{line}` failed\n{}", text(&o));
    }
    assert!(lines.last().unwrap().starts_with("prism test"));
}

/// Runs `line` with `sh` in `dir`, with `prism` on the `PATH`.
fn shell(dir: &Path, line: &str, cache: &Path) -> Output {
    let prism = prism();
    let bin = Path::new(prism.get_program())
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .env("PRISM_CACHE_DIR", cache)
        .output()
        .unwrap()
}

#[test]
fn prism_new_python_projects_test_build_and_run_as_they_are_and_match_rust() {
    const TOKEN: &str = "e2e-author-py-token";
    let found = Command::new("componentize-py").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "componentize-py is needed for Python plugins: pip install componentize-py (scripts/test.sh does)"
    );
    let root = temp_dir("author-python");
    // The host's compiled cache ({data_dir}/cache) is the one `prism test`
    // fills: each component is compiled once.
    let cache = root.join("cache");
    let server = admin_host(&root, TOKEN);
    for template in ["signal", "series", "document", "orders"] {
        let name = format!("py-{template}");
        let o = prism()
            .args([
                "new",
                &name,
                "--lang",
                "python",
                "--template",
                template,
                "--dir",
            ])
            .arg(&root)
            .output()
            .unwrap();
        assert!(o.status.success(), "{template}: {}", text(&o));
        let project = root.join(&name);
        // The README's commands, as written, but the last (a long run).
        let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
        let block = readme
            .split("```sh")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let lines: Vec<&str> = block
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        for line in &lines[..3] {
            let o = shell(&project, line, &cache);
            assert!(o.status.success(), "{template}: `{line}`\n{}", text(&o));
            if line.starts_with("prism test") {
                // The expected outputs are the Rust template's: the same
                // logic in Python made exactly them.
                assert!(text(&o).contains("ok: "), "{}", text(&o));
            }
        }
        let wasm = project.join(format!("{}.wasm", name.replace('-', "_")));
        add_and_see_it_run(&server, TOKEN, &name, &wasm);
    }
    server.terminate();
}

#[test]
fn the_python_example_passes_its_tests_and_makes_what_the_rust_hello_makes() {
    let root = temp_dir("author-hello-python");
    let example = repo().join("examples/hello-python");
    let sdk = repo().join("sdk");
    let o = Command::new("python3")
        .args(["-m", "unittest", "-v"])
        .current_dir(&example)
        .env("PYTHONPATH", sdk.join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Ran 2 tests"), "{}", text(&o));
    let component = root.join("hello_python.wasm");
    let o = Command::new("componentize-py")
        .arg("-d")
        .arg(sdk.join("wit"))
        .args(["-w", "plugin", "componentize", "app", "-p", "."])
        .arg("-p")
        .arg(sdk.join("python"))
        .arg("-o")
        .arg(&component)
        .current_dir(&example)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // Every event kind, several venues, many batches.
    let events = root.join("events.jsonl");
    let o = prism()
        .args([
            "sim",
            "--seed",
            "5",
            "--duration",
            "10m",
            "--tickers",
            "--candles",
            "1m",
            "--out",
        ])
        .arg(&events)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let run = |plugin: &Path, out: &Path| {
        let o = prism()
            .args(["replay", "--events"])
            .arg(&events)
            .arg("--plugin")
            .arg(plugin)
            .arg("--out")
            .arg(out)
            .env("PRISM_CACHE_DIR", root.join("cache"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        lines(out)
            .into_iter()
            .map(|mut v| {
                v.as_object_mut().unwrap().remove("plugin");
                v
            })
            .collect::<Vec<Value>>()
    };
    let rust = run(&wasm("hello"), &root.join("rust.jsonl"));
    let python = run(&component, &root.join("python.jsonl"));
    assert!(rust.len() > 10, "{}", rust.len());
    assert_eq!(python.len(), rust.len());
    for (at, (p, r)) in python.iter().zip(&rust).enumerate() {
        assert_eq!(p, r, "output {}", at + 1);
    }
}
