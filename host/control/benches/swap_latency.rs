//! Swap latency: from a plugin file written (atomic rename) to the new
//! version processing its first batch, while events stream. Also the parts:
//! compiling the component alone, and the worker's switch (snapshot, restore).
//! Each plugin twice: swaps that wait for optimized code, and quick swaps
//! (baseline code first, then the optimized code swapped in underneath,
//! whose arrival is timed too).
//!
//! Run: `cargo build --release --target wasm32-wasip2 -p tiny-counter -p prism-probe`
//! then `cargo bench -p prism-control --bench swap_latency`; `-- --smoke` does
//! a few swaps (CI does, so it never rots).

use prism_config::PluginLimitsConfig;
mod support;

use prism_control::{Pipeline, PluginSettings};
use prism_model::{Event, InstrumentRegistry, PluginId};
use prism_runtime::{EngineSettings, PluginEngine, PluginModule};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::{pipeline_settings, trades, wasm};

const DEBOUNCE: Duration = Duration::from_millis(20);

/// The component with a custom section appended: new bytes, same code.
fn variant(wasm: &[u8], n: u32) -> Vec<u8> {
    let name = b"prism-bench-variant";
    let mut content = vec![name.len() as u8];
    content.extend_from_slice(name);
    content.extend_from_slice(&n.to_le_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    out.push(content.len() as u8);
    out.extend(content);
    out
}

fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn measure(name: &str, config: &str, swaps: u32, quick_instances: u32) {
    let bytes = wasm(name);
    let engine = PluginEngine::new(EngineSettings {
        max_memory_bytes: 64 << 20,
        max_instances: 16,
        quick_instances,
        ..EngineSettings::default()
    })
    .unwrap();
    let mut compile = Vec::new();
    for i in 0..swaps.min(10) {
        let v = variant(&bytes, 1_000_000 + i);
        let t = Instant::now();
        PluginModule::from_bytes(&engine, &v).unwrap();
        compile.push(t.elapsed());
    }
    let pipeline = Pipeline::start(engine, pipeline_settings(), Vec::new()).unwrap();
    let dir = std::env::temp_dir().join(format!("prism-swap-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.wasm"));
    write_atomically(&file, &bytes);
    let s = pipeline.supervisor.clone();
    s.add_file(
        &PluginId::new("p").unwrap(),
        &file,
        PluginSettings {
            config_json: config.into(),
            limits: PluginLimitsConfig::default(),
            ..PluginSettings::default()
        },
        false,
    )
    .unwrap();
    let watcher = prism_control::watch(s.clone(), None, DEBOUNCE).unwrap();

    // A steady stream: 256 trades every millisecond.
    let stop = Arc::new(AtomicBool::new(false));
    let source = pipeline.source.clone();
    let stopped = stop.clone();
    let feeder = std::thread::spawn(move || {
        let mut reg = InstrumentRegistry::default();
        let (id, _) = reg.intern("binance", "BTCUSDT");
        let mut positions = prism_sources::Positions::default();
        let _ = source.send(positions.chunk(vec![Event::Instrument(reg.get(id).unwrap().clone())]));
        let mut ts = 1_700_000_000_000i64;
        while !stopped.load(Ordering::Relaxed) {
            if source
                .send(positions.chunk(trades(id, &mut ts, 256)))
                .is_err()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });

    let view = s.view("p").unwrap();
    let mut latencies = Vec::new();
    let mut optimized = Vec::new();
    for i in 1..=swaps {
        let next = variant(&bytes, i);
        let digest = prism_runtime::content_digest(&next);
        let written = Instant::now();
        write_atomically(&file, &next);
        // Switched, then one more batch done by the new version.
        loop {
            if s.view("p").is_some_and(|v| v.sha256 == digest) {
                break;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        let batches = view.metrics.batches.load(Ordering::Relaxed);
        while view.metrics.batches.load(Ordering::Relaxed) == batches {
            std::thread::sleep(Duration::from_micros(100));
        }
        latencies.push(written.elapsed());
        // The next swap starts once this one runs optimized code.
        while s.view("p").is_some_and(|v| v.code != "optimized") {
            std::thread::sleep(Duration::from_micros(100));
        }
        optimized.push(written.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    drop(watcher);
    feeder.join().unwrap();
    assert_eq!(view.metrics.swaps.load(Ordering::Relaxed), u64::from(swaps));
    pipeline.finish().unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    latencies.sort();
    optimized.sort();
    compile.sort();
    println!(
        "| {name} | {} KB | {} | {swaps} | {} | {} | {} | {} | {} | {} |",
        bytes.len() / 1024,
        if quick_instances > 0 { "quick" } else { "wait" },
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap()),
        ms(percentile(&optimized, 0.5)),
        ms(percentile(&compile, 0.5)),
        ms(DEBOUNCE),
    );
}

fn main() {
    println!(
        "| plugin | size | swap | swaps | median ms | p99 ms | max ms | on optimized code, median ms | compile alone, median ms | debounce ms (writes in place only) |"
    );
    println!("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|");
    let smoke = std::env::args().any(|a| a == "--smoke");
    for quick in [0, 4] {
        measure("tiny_counter", "{}", if smoke { 3 } else { 100 }, quick);
        measure(
            "prism_probe",
            r#"{"mode":"count"}"#,
            if smoke { 3 } else { 50 },
            quick,
        );
    }
}
