//! Shared pieces of the control plane's tests: a pipeline over the test
//! guests in `tests/guests/` (build them first: `scripts/test.sh` does) and
//! a stream of trades.

#![allow(dead_code, unreachable_pub)]

use prism_config::PluginLimitsConfig;
use prism_control::{Origin, Pipeline, PipelineSettings, PluginSettings, SupervisorSettings};
use prism_model::{Event, InstrumentRegistry, PluginId, Side, Trade, decimal};
use prism_outputs::{OutputStore, StoreLimits};
use prism_router::RouterSettings;
use prism_runtime::{EngineSettings, PluginEngine};
use prism_sinks::{MemorySink, Overflow, SinkSpec};
use prism_worker::RecoverySettings;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A built test guest.
pub fn wasm(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target
        .join("wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the guests first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The bytes of a built test guest.
pub fn wasm_bytes(name: &str) -> Vec<u8> {
    std::fs::read(wasm(name)).unwrap()
}

/// The same component with a custom section appended: new bytes (a new
/// sha256), the same behaviour.
pub fn variant(wasm: &[u8], n: u32) -> Vec<u8> {
    let name = b"prism-test-variant";
    let payload = n.to_le_bytes();
    let mut content = vec![name.len() as u8];
    content.extend_from_slice(name);
    content.extend_from_slice(&payload);
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push(content.len() as u8); // LEB128 of a length < 128
    out.extend(content);
    out
}

pub struct Harness {
    pub pipeline: Pipeline,
    pub store: Arc<OutputStore>,
    registry: InstrumentRegistry,
    declared: bool,
    pub sent: u64,
    next_ts: i64,
    /// The stream position of the next event sent.
    position: u64,
}

/// Recovery settings that make tests quick: short backoff and window.
pub fn quick_recovery() -> RecoverySettings {
    RecoverySettings {
        // Four full batches of the tests' usual 64 events.
        snapshot_every_events: 4 * 64,
        snapshot_every: Duration::from_secs(60),
        max_failures: 5,
        failure_window: Duration::from_secs(60),
        backoff: Duration::from_millis(100),
        max_quarantines: 1,
    }
}

/// The sizes a harness differs in.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub queue_batches: usize,
    /// 0: one per core.
    pub worker_threads: usize,
    pub max_instances: u32,
    /// Instances on quick code at once (0: swaps wait for optimized code).
    pub quick_instances: u32,
}

impl Default for Sizes {
    fn default() -> Self {
        Self {
            queue_batches: 8,
            worker_threads: 0,
            max_instances: 32,
            quick_instances: 0,
        }
    }
}

impl Harness {
    pub fn start(recovery: RecoverySettings, batch_size: usize) -> Harness {
        Self::start_sized(recovery, batch_size, Sizes::default())
    }

    pub fn start_sized(recovery: RecoverySettings, batch_size: usize, sizes: Sizes) -> Harness {
        let engine = PluginEngine::new(EngineSettings {
            max_memory_bytes: 64 << 20,
            max_instances: sizes.max_instances,
            quick_instances: sizes.quick_instances,
            ..EngineSettings::default()
        })
        .unwrap();
        let store = Arc::new(OutputStore::new(StoreLimits::default()));
        let settings = PipelineSettings {
            router: RouterSettings {
                batch_size,
                batch_linger: Duration::from_millis(5),
                ..RouterSettings::default()
            },
            output_queue: 64,
            source_queue: 4,
            archive: Vec::new(),
            supervisor: SupervisorSettings {
                queue_batches: sizes.queue_batches,
                worker_threads: sizes.worker_threads,
                recovery,
                answer_timeout: Duration::from_secs(60),
                ..SupervisorSettings::default()
            },
        };
        let pipeline = Pipeline::start(
            engine,
            settings,
            vec![SinkSpec::new(
                "memory",
                MemorySink::new(store.clone()),
                64,
                Overflow::Wait,
            )],
        )
        .unwrap();
        Harness {
            pipeline,
            store,
            registry: InstrumentRegistry::default(),
            declared: false,
            sent: 0,
            next_ts: 1_700_000_000_000,
            position: 0,
        }
    }

    /// Adds the probe guest under `id` with `config` (JSON) and limits.
    pub fn probe(&self, id: &str, config: &str, limits: PluginLimitsConfig) {
        let settings = PluginSettings {
            config_json: config.to_owned(),
            limits,
            ..PluginSettings::default()
        };
        self.pipeline
            .supervisor
            .add_bytes(
                &PluginId::new(id).unwrap(),
                &wasm_bytes("prism_probe"),
                settings,
                Origin::Upload {
                    component: std::sync::Arc::from(wasm_bytes("prism_probe")),
                },
            )
            .unwrap();
    }

    /// The event time the next trade gets.
    pub fn next_ts(&self) -> i64 {
        self.next_ts
    }

    /// Sends `n` trades, one ms apart, in chunks of 1024.
    pub fn send(&mut self, n: u64) {
        let (id, _) = self.registry.intern("binance", "BTCUSDT");
        let mut left = n;
        while left > 0 {
            let take = left.min(1024);
            let mut chunk = Vec::with_capacity(take as usize + 1);
            if !self.declared {
                chunk.push(Event::Instrument(self.registry.get(id).unwrap().clone()));
                self.declared = true;
            }
            for _ in 0..take {
                chunk.push(Event::Trade(Trade {
                    instrument: id,
                    ts: self.next_ts,
                    received_ts: self.next_ts,
                    price: decimal::parse("37000.5").unwrap(),
                    size: decimal::parse("0.1").unwrap(),
                    side: Side::Buy,
                    buyer: None,
                    seller: None,
                }));
                self.next_ts += 1;
            }
            let first = self.position;
            self.position += chunk.len() as u64;
            self.pipeline
                .source
                .send(prism_model::Chunk {
                    first,
                    events: chunk,
                })
                .unwrap();
            left -= take;
            self.sent += take;
        }
    }

    /// The probe's own count of events (its `count` document).
    pub fn count(&self, id: &str) -> u64 {
        self.store
            .document(id, "count")
            .and_then(|d| d.body["events"].as_u64())
            .unwrap_or(0)
    }

    /// Waits until `done` holds, or panics after `limit`.
    pub fn wait(&self, what: &str, limit: Duration, done: impl Fn() -> bool) {
        let started = Instant::now();
        while !done() {
            assert!(started.elapsed() < limit, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
