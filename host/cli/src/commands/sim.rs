//! `prism sim`: the simulator's stream into a file.

use prism_config::parse_duration;
use prism_sources::{Format, RecordWriter, Simulator, SimulatorSettings};
use std::collections::BTreeMap;
use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;

/// Writes `duration` of simulated market to `out`.
pub(crate) fn sim(
    duration: &str,
    out: &Path,
    settings: SimulatorSettings,
) -> anyhow::Result<ExitCode> {
    let duration_ms = i64::try_from(parse_duration(duration)?.as_millis())?;
    anyhow::ensure!(settings.accounts > 0, "--accounts must be at least 1");
    let seed = settings.seed;
    let mut sim = Simulator::new(&SimulatorSettings {
        duration_ms: Some(duration_ms),
        ..settings
    });
    let file = std::fs::File::create(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let mut writer = RecordWriter::new(BufWriter::new(file), Format::from_path(out));
    let mut records = Vec::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    while sim.step(&mut records) {
        for r in records.drain(..) {
            let kind = serde_json::to_value(&r)
                .ok()
                .and_then(|v| v["type"].as_str().map(str::to_owned))
                .unwrap_or_default();
            *counts.entry(kind).or_default() += 1;
            writer
                .write(&r)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))?;
        }
    }
    writer.finish()?;
    let total: u64 = counts.values().sum();
    crate::out!(
        "wrote {total} records to {} (seed {seed}, {duration})",
        out.display()
    );
    for (kind, n) in counts {
        crate::out!("  {kind:<14} {n}");
    }
    Ok(ExitCode::SUCCESS)
}
