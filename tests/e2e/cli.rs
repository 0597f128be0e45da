//! The CLI's manners: its version, completions, `check --config`, log
//! settings, a closed pipe, and failures that say so.

use crate::common::*;
use std::process::Stdio;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_names_the_contract_it_hosts() {
    let result = prism().arg("--version").output().unwrap();
    assert!(result.status.success());
    assert_eq!(
        text(&result.stdout).trim(),
        "prism 0.1.0 (hosts plugins of prism:plugin@0.2.0; still runs @0.1.0)"
    );
}

/// `prism check` says which contract version a component was built for.
#[test]
fn check_names_the_contract_a_component_was_built_for() {
    for (name, contract) in [("hello", "0.2.0"), ("contract_0_1", "0.1.0")] {
        let result = prism().arg("check").arg(wasm(name)).output().unwrap();
        assert!(result.status.success(), "{}", text(&result.stderr));
        let out = text(&result.stdout);
        assert!(
            out.contains(&format!("fits prism:plugin@{contract}")),
            "{out}"
        );
        assert!(out.contains(&format!("contract:  {contract}\n")), "{out}");
    }
    // A component of a version this host does not run is refused by name.
    let result = prism()
        .arg("check")
        .arg(wasm("future_contract"))
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(1));
    let err = text(&result.stderr);
    assert!(err.contains("prism:plugin/types@0.3.0"), "{err}");
}

#[test]
fn completions_are_printed_for_each_shell_and_an_unknown_one_is_refused() {
    for (shell, marker) in [
        ("bash", "_prism()"),
        ("zsh", "#compdef prism"),
        ("fish", "complete -c prism"),
    ] {
        let result = prism().args(["completions", shell]).output().unwrap();
        assert!(result.status.success(), "{shell}");
        let script = text(&result.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("replay"), "{shell} completes the commands");
    }
    let result = prism().args(["completions", "cmd.exe"]).output().unwrap();
    assert_eq!(result.status.code(), Some(2));
    assert!(text(&result.stderr).contains("invalid value 'cmd.exe'"));
}

#[test]
fn check_config_validates_everything_and_loads_every_plugin_without_starting() {
    let dir = temp_dir("check-config");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        format!(
            r#"
[runtime]
data_dir = "{data}"
[execution.fees.binance]
maker = "0.0002"
taker = "0.0004"
[[plugins]]
id = "arb"
path = "{arb}"
paper = true
config = {{ trade = true }}
[[plugins]]
id = "ratios"
path = "{ratios}"
"#,
            data = dir.join("data").display(),
            arb = wasm("funding_arb").display(),
            ratios = wasm("long_short_ratio").display(),
        ),
    )
    .unwrap();
    let result = prism()
        .args(["check", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    let stdout = text(&result.stdout);
    assert!(result.status.success(), "{stdout}{}", text(&result.stderr));
    assert!(
        stdout.contains("ok: plugin `arb`: funding-arb 0.1.0, paper trading"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok: plugin `ratios`: long-short-ratio 0.1.0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the config is valid; 2 of 2 plugins load"),
        "{stdout}"
    );
    assert!(!dir.join("data").exists(), "nothing is written");

    // Bad values: every one named by its key, exit 2.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            r#"
[execution]
slippage_bps = "lots"
[execution.risk]
stop_loss = "150%"
[[plugins]]
id = "arb"
path = "{arb}"
paper = true
[plugins.risk]
max_total_gross_notional = "5"
"#,
            arb = wasm("funding_arb").display(),
        ),
    )
    .unwrap();
    let result = prism()
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    let stderr = text(&result.stderr);
    for key in [
        "execution.slippage_bps",
        "execution.risk.stop_loss",
        "plugins[0].risk.max_total_gross_notional",
    ] {
        assert!(stderr.contains(key), "{key}: {stderr}");
    }

    // A valid config whose plugin does not load: named, exit 1.
    let missing = dir.join("missing.toml");
    std::fs::write(
        &missing,
        "[[plugins]]\nid = \"gone\"\npath = \"nowhere.wasm\"\n",
    )
    .unwrap();
    let result = prism()
        .args(["check", "--config"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(1));
    assert!(
        text(&result.stderr).contains("plugin `gone`"),
        "{}",
        text(&result.stderr)
    );
    assert!(text(&result.stdout).contains("0 of 1 plugin load"));
}

#[test]
fn an_invalid_log_filter_is_an_error_and_piped_logs_have_no_colour() {
    let result = prism()
        .args(["check"])
        .arg(wasm("hello"))
        .env("PRISM_LOG", "info,=[")
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    let stderr = text(&result.stderr);
    assert!(
        stderr.contains("PRISM_LOG=`info,=[` is not a log filter"),
        "{stderr}"
    );

    let dir = temp_dir("no-colour");
    let events = dir.join("sim.jsonl");
    let result = prism()
        .args(["sim", "--duration", "1m", "--out"])
        .arg(&events)
        .output()
        .unwrap();
    assert!(result.status.success());
    let result = prism()
        .args(["replay", "--events"])
        .arg(&events)
        .arg("--plugin")
        .arg(wasm("hello"))
        .env("PRISM_LOG", "debug")
        .output()
        .unwrap();
    assert!(result.status.success());
    let stderr = text(&result.stderr);
    assert!(
        stderr.contains("DEBUG") || stderr.contains("INFO"),
        "logs were written: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes in a pipe: {stderr:?}"
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // The reader is gone before `check` prints (it compiles first).
    let mut child = prism()
        .arg("check")
        .arg(wasm("funding_arb"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let result = child.wait_with_output().unwrap();
    let stderr = text(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn normalize_that_makes_nothing_fails() {
    let dir = temp_dir("normalize-nothing");
    let input = dir.join("okx.raw");
    // Real OKX messages, given as Binance's: nothing comes out.
    std::fs::write(
        &input,
        r#"{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"1","px":"100","sz":"1","side":"buy","ts":"1700000000000"}]}"#,
    )
    .unwrap();
    let result = prism()
        .args(["normalize", "--venue", "binance"])
        .arg(&input)
        .arg("--out")
        .arg(dir.join("out.jsonl"))
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(1));
    assert!(
        text(&result.stderr).contains("no record came out of"),
        "{}",
        text(&result.stderr)
    );
}

/// `--listen` and `api.listen` take host names; a bad one is named.
#[test]
fn the_api_listens_on_a_host_name() {
    let dir = temp_dir("listen-name");
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\ndata_dir = \"{}\"\n[source]\nkind = \"simulator\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut child = prism()
        .args(["run", "--config"])
        .arg(&config)
        .args(["--listen", "localhost:0"])
        .env("PRISM_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = line
        .trim()
        .strip_prefix("prism: API listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    let (status, body) = Server::client(&base).get("/health");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 200, "{body}");

    std::fs::write(&config, "[api]\nlisten = \"localhost\"\n").unwrap();
    let result = prism()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(2));
    assert!(
        text(&result.stderr).contains("api.listen"),
        "{}",
        text(&result.stderr)
    );
}

/// On a terminal, a replay shows how far through the file it is and the
/// time left (a pseudo-terminal made by `script`, from util-linux).
#[test]
fn replay_shows_the_percentage_and_time_left_on_a_terminal() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `script` (util-linux) is not installed");
        return;
    }
    let dir = temp_dir("replay-progress");
    let events = dir.join("sim.jsonl");
    let result = prism()
        .args(["sim", "--duration", "2h", "--out"])
        .arg(&events)
        .output()
        .unwrap();
    assert!(result.status.success());
    let command = format!(
        "{} replay --events {} --plugin {}",
        env!("CARGO_BIN_EXE_prism"),
        events.display(),
        wasm("hello").display()
    );
    let result = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("PRISM_LOG", "warn")
        .output()
        .unwrap();
    let seen = text(&result.stdout);
    assert!(result.status.success(), "{seen}");
    assert!(
        seen.contains("% · ETA"),
        "a bar with a percentage: {seen:?}"
    );
    assert!(seen.contains("replayed "), "{seen:?}");
}

/// An OS error is said once, not once per wrapper.
#[test]
fn each_os_error_is_printed_once() {
    let result = prism()
        .args(["run", "--config", "/nonexistent/prism.toml"])
        .output()
        .unwrap();
    assert!(!result.status.success());
    let stderr = text(&result.stderr);
    assert_eq!(stderr.matches("(os error 2)").count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/prism.toml"), "{stderr}");
    let result = prism()
        .args(["replay", "--events", "/nonexistent.jsonl", "--plugin"])
        .arg(wasm("hello"))
        .output()
        .unwrap();
    assert!(!result.status.success());
    let stderr = text(&result.stderr);
    assert_eq!(stderr.matches("(os error 2)").count(), 1, "{stderr}");
}

#[test]
fn prism_run_from_any_directory_runs_the_default_config_and_writes_nothing_there() {
    let cwd = crate::common::temp_dir("anywhere-cwd");
    let data = crate::common::temp_dir("anywhere-data");
    let server = crate::common::Server::start_without_config(
        &cwd,
        &[("PRISM_DATA_DIR", data.to_str().unwrap())],
    );
    // The reference plugins of the checkout it was built from, running.
    for plugin in [
        "long-short-ratio",
        "liquidation-map",
        "funding-arb",
        "whale-detector",
        "hello",
    ] {
        server.wait_for(
            &format!("/api/v1/plugins/{plugin}"),
            std::time::Duration::from_secs(30),
            |v| v["state"] == "running" && v["events_in"].as_u64() > Some(0),
        );
    }
    assert_eq!(server.json("/health")["status"], "ok");
    server.terminate();
    let written: Vec<_> = std::fs::read_dir(&cwd).unwrap().collect();
    assert!(
        written.is_empty(),
        "written into the current directory: {written:?}"
    );
    // Its data (the compiled cache) went to the data directory.
    assert!(data.join("cache").is_dir());
}
