//! Paper execution through the binary: the funding-arb loop on a fixture
//! with its PnL worked out by hand and replays that give the same fills
//! whatever the batching or a plugin's failure (`replay`); a running
//! host's orders, fills, positions, PnL and risk over the API and
//! WebSocket, with the operator's hand on them (`host`); restarts and
//! PostgreSQL (`restart`).

mod host;
mod replay;
mod restart;

use crate::common::*;
use rust_decimal::Decimal;
use serde_json::Value;

pub(super) fn d(v: &Value) -> Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a decimal string"))
        .parse()
        .unwrap()
}

pub(super) fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub(super) fn funding_arb_config(dir: &std::path::Path, batch_size: usize) -> std::path::PathBuf {
    let config = dir.join(format!("prism-{batch_size}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
cache = false
[pipeline]
batch_size = {batch_size}
{plugin}"#,
            data = dir.join("data").display(),
            plugin = funding_arb_section(),
        ),
    )
    .unwrap();
    config
}

pub(super) fn replay(config: &std::path::Path, out: &std::path::Path) -> Vec<Value> {
    let result = prism()
        .args(["replay", "--config"])
        .arg(config)
        .arg("--events")
        .arg(fixture("funding-arb-paper.jsonl"))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub(super) fn of_kind<'a>(lines: &'a [Value], kind: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["kind"] == kind).collect()
}

/// funding-arb trading on paper with the fixture's fees: the plugin entry
/// and its `[execution]` fees, as a config's last sections.
pub(super) fn funding_arb_section() -> String {
    format!(
        r#"
[execution.fees.binance]
maker = "0.0002"
taker = "0.0004"
[execution.fees.hyperliquid]
maker = "0.0001"
taker = "0.00035"
[[plugins]]
id = "funding-arb"
path = "{wasm}"
paper = true
[plugins.config]
trade = true
notional_usd = "30000"
holding_hours = "8760"
fees = {{ binance = "0.0004", hyperliquid = "0.00035" }}
"#,
        wasm = wasm("funding_arb").display(),
    )
}

/// The probe trading on paper (`probe` is its config, a TOML inline
/// table), with `[execution]` taker fees of 0.0005: a config's last
/// sections.
pub(super) fn trader_section(probe: &str) -> String {
    format!(
        r#"
[execution]
stale_after = "10m"
[execution.default_fees]
maker = "0.0001"
taker = "0.0005"
[[plugins]]
id = "trader"
path = "{wasm}"
paper = true
config = {probe}
"#,
        wasm = wasm("prism_probe").display(),
    )
}
