//! `prism check X.wasm`.

use prism_config::Config;
use prism_control::PluginSettings;
use std::path::Path;
use std::process::ExitCode;

/// Loads the component, calls `init`, and prints what it declares.
pub(crate) fn check(wasm: &Path, plugin_config: &str) -> anyhow::Result<ExitCode> {
    let mut config = Config::default();
    config.runtime.cache = false;
    let engine = crate::settings::engine(&config)?;
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
            println!(
                "ok: {} fits prism:plugin@{}",
                wasm.display(),
                prism_runtime::CONTRACT_VERSION
            );
            println!("name:      {}", version.info.name);
            println!("version:   {}", version.info.version);
            println!("sha256:    {}", version.digest());
            println!("kinds:     {}", list(&kinds));
            println!("exchanges: {}", list(&s.exchanges));
            println!("symbols:   {}", list(&s.symbols));
            println!(
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
