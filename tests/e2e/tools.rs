//! `prism check` and `prism sim`.

use crate::common::*;

#[test]
fn check_prints_what_a_plugin_declares() {
    let result = prism()
        .arg("check")
        .arg(wasm("long_short_ratio"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(result.status.success(), "{stdout}");
    assert!(stdout.contains("name:      long-short-ratio"), "{stdout}");
    assert!(stdout.contains("version:   0.1.0"), "{stdout}");
    assert!(stdout.contains("kinds:     all"), "{stdout}");
}

#[test]
fn check_explains_what_is_wrong() {
    let dir = temp_dir("check");
    let cases: [(&str, &[u8], &str); 3] = [
        ("text.wasm", b"hello", "not a WebAssembly file"),
        (
            "core.wasm",
            &[0, b'a', b's', b'm', 1, 0, 0, 0],
            "core wasm module, not a component",
        ),
        (
            "empty.wasm",
            &[0, b'a', b's', b'm', 0x0d, 0, 1, 0],
            "exports do not fit",
        ),
    ];
    for (name, bytes, says) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let result = prism().arg("check").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(!result.status.success());
        assert!(stderr.contains(says), "{name}: {stderr}");
    }
    let result = prism()
        .args(["check", "--plugin-config", r#"{"step_ms": -1}"#])
        .arg(wasm("long_short_ratio"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(
        stderr.contains("refused its config") && stderr.contains("step_ms"),
        "{stderr}"
    );
}

#[test]
fn sim_is_deterministic_per_seed() {
    let dir = temp_dir("sim");
    let write = |seed: &str, name: &str| {
        let path = dir.join(name);
        let status = prism()
            .args(["sim", "--seed", seed, "--duration", "5m", "--out"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(path).unwrap()
    };
    let a = write("3", "a.jsonl");
    assert_eq!(a, write("3", "b.jsonl"));
    assert_ne!(a, write("4", "c.jsonl"));
    let text = String::from_utf8(a).unwrap();
    for kind in ["trade", "funding", "open_interest", "book", "position"] {
        assert!(text.contains(&format!(r#""type":"{kind}""#)), "{kind}");
    }
    // Hyperliquid trades name buyer and seller.
    assert!(
        text.lines()
            .any(|l| l.contains(r#""exchange":"hyperliquid""#) && l.contains(r#""buyer":"0x"#))
    );
}

#[test]
fn bad_config_names_the_key() {
    let dir = temp_dir("badconfig");
    let config = dir.join("prism.toml");
    std::fs::write(
        &config,
        "[pipeline]\nbatch_size = 0\n[[plugins]]\nid = \"Bad Id\"\npath = \"x.wasm\"\n",
    )
    .unwrap();
    let result = prism()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(
        stderr.contains("prism.toml") && stderr.contains("not a valid plugin id"),
        "{stderr}"
    );
    std::fs::write(&config, "[pipeline]\nbatch_size = 0\n").unwrap();
    let result = prism()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("pipeline.batch_size: must be at least 1"),
        "{stderr}"
    );
}
