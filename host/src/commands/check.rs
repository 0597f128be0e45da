//! `prism check X.wasm`.

use prism_config::Config;
use std::path::Path;
use std::process::ExitCode;

/// Loads the component, calls `init`, and prints what it declares.
pub(crate) fn check(wasm: &Path, plugin_config: &str) -> anyhow::Result<ExitCode> {
    let mut config = Config::default();
    config.runtime.cache = false;
    let engine = super::engine(&config)?;
    let spec = crate::plugins::PluginSpec {
        id: None,
        path: wasm,
        config_json: plugin_config,
        limits: config.plugin_defaults,
        seed: None,
        subscription: None,
    };
    match crate::plugins::load_plugin(&engine, &spec) {
        Ok(p) => {
            let s = &p.subscription;
            let list = |v: &[String]| {
                if v.is_empty() {
                    "all".to_owned()
                } else {
                    v.join(", ")
                }
            };
            let kinds: Vec<String> = s.kinds.iter().map(|k| k.as_str().to_owned()).collect();
            println!("ok: {} fits prism:plugin@0.1.0", wasm.display());
            println!("name:      {}", p.info.name);
            println!("version:   {}", p.info.version);
            println!("sha256:    {}", p.digest);
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
            eprintln!(
                "error: {} does not fit the contract: {}",
                wasm.display(),
                e.source
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
