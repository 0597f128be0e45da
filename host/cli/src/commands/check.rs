//! `prism check X.wasm` and `prism check --config FILE`.

use prism_config::Config;
use prism_control::PluginSettings;
use std::path::Path;
use std::process::ExitCode;

/// Loads the component, calls `init`, and prints what it declares.
pub(crate) fn check(wasm: &Path, plugin_config: &str) -> anyhow::Result<ExitCode> {
    let config = Config::default();
    let engine = crate::settings::engine_outside_config(&config, false)?;
    let bytes = match std::fs::read(wasm) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", wasm.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let settings = PluginSettings {
        config_json: plugin_config.to_owned(),
        limits: config.plugin_defaults,
        ..PluginSettings::default()
    };
    match prism_control::prepare(&engine, &bytes, "check", &settings) {
        Ok((version, _)) => {
            let s = &version.info.subscription;
            let list = |v: &[String]| {
                if v.is_empty() {
                    "all".to_owned()
                } else {
                    v.join(", ")
                }
            };
            let kinds: Vec<String> = s.kinds.iter().map(|k| k.as_str().to_owned()).collect();
            crate::out!(
                "ok: {} fits {} (built for it; this host runs {})",
                wasm.display(),
                version.info.contract,
                prism_runtime::HOSTED_CONTRACTS
                    .map(|v| format!("prism:plugin@{v}"))
                    .join(" and ")
            );
            crate::out!("contract:  {}", version.info.contract.version());
            crate::out!("name:      {}", version.info.name);
            crate::out!("version:   {}", version.info.version);
            crate::out!("sha256:    {}", version.digest());
            crate::out!("kinds:     {}", list(&kinds));
            crate::out!("exchanges: {}", list(&s.exchanges));
            crate::out!("symbols:   {}", list(&s.symbols));
            crate::out!(
                "timer:     {}",
                s.timer_interval_ms
                    .map_or_else(|| "none".to_owned(), |t| format!("every {t} ms"))
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {} does not fit the contract: {e}", wasm.display());
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `prism check --config FILE`: the config validated (every problem named
/// by its key), then every plugin it lists loaded under its own settings —
/// compiled, instantiated, `init` with its config — and dropped. Nothing
/// starts, nothing connects, nothing is written (no compiled cache).
pub(crate) fn check_config(path: &Path) -> anyhow::Result<ExitCode> {
    let mut config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    config.runtime.cache = false;
    let engine = crate::settings::engine(&config)?;
    let mut failed = 0usize;
    for entry in &config.plugins {
        let file = config.resolve(&entry.path);
        let settings = prism_control::plugin_settings(&config, entry);
        let loaded = std::fs::read(&file)
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|bytes| {
                prism_control::prepare(&engine, &bytes, entry.id.as_str(), &settings)
                    .map_err(|e| e.to_string())
            });
        match loaded {
            Ok((version, _)) => crate::out!(
                "ok: plugin `{}`: {} {}{} ({})",
                entry.id,
                version.info.name,
                version.info.version,
                if entry.paper { ", paper trading" } else { "" },
                file.display()
            ),
            Err(e) => {
                failed += 1;
                eprintln!("error: plugin `{}` ({}): {e}", entry.id, file.display());
            }
        }
    }
    let n = config.plugins.len();
    crate::out!(
        "{}: the config is valid; {} of {n} plugin{} load",
        path.display(),
        n - failed,
        if n == 1 { "" } else { "s" }
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
