//! What the control plane's benchmarks share: the built guests, a stream
//! of trades, and the pipeline's settings.

#![allow(dead_code, unreachable_pub)]

use prism_control::{PipelineSettings, SupervisorSettings};
use prism_model::{Event, InstrumentId, Side, Trade, decimal};
use prism_router::RouterSettings;
use std::path::PathBuf;
use std::time::Duration;

/// The bytes of a built guest (`cargo build --release --target wasm32-wasip2 -p …`).
pub fn wasm(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; build the guests first", path.display()))
}

/// `n` buy trades of 1 at 100 on `instrument`, one ms apart after `*ts`
/// (which moves on to the last).
pub fn trades(instrument: InstrumentId, ts: &mut i64, n: u64) -> Vec<Event> {
    (0..n)
        .map(|_| {
            *ts += 1;
            Event::Trade(Trade {
                instrument,
                ts: *ts,
                received_ts: *ts,
                price: decimal::parse("100").unwrap(),
                size: decimal::parse("1").unwrap(),
                side: Side::Buy,
                buyer: None,
                seller: None,
            })
        })
        .collect()
}

/// Batches of 256 (or 5 ms), room for 1,024 output batches.
pub fn pipeline_settings() -> PipelineSettings {
    PipelineSettings {
        router: RouterSettings {
            batch_size: 256,
            batch_linger: Duration::from_millis(5),
            ..RouterSettings::default()
        },
        output_queue: 1024,
        source_queue: 16,
        archive: Vec::new(),
        supervisor: SupervisorSettings::default(),
    }
}
