//! ns/event through the long-short-ratio plugin as wasm (host conversion,
//! lowering, the guest's logic, lifting outputs) at several batch sizes, and
//! the same logic compiled natively, in one run.
//!
//! Run: `cargo bench -p prism-runtime --bench plugin_boundary` after building the
//! plugins (`scripts/test.sh` or `cargo build --release --target wasm32-wasip2 -p long-short-ratio`).
//! `-- --smoke` runs it small (CI does, so it never rots).

use long_short_ratio::LongShortRatio;
use prism_model::{Event, InstrumentRegistry, Side, Trade, decimal};
use prism_runtime::{EngineSettings, PluginEngine, PluginLimits, PluginModule};
use prism_sdk::testing::Harness;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Trades per run: 2^20, or 2^14 for a smoke run.
fn events() -> usize {
    if std::env::args().any(|a| a == "--smoke") {
        1 << 14
    } else {
        1 << 20
    }
}
const BATCHES: [usize; 4] = [1, 16, 256, 1024];
const SYMBOLS: [(&str, &str); 9] = [
    ("binance", "BTCUSDT"),
    ("binance", "ETHUSDT"),
    ("binance", "SOLUSDT"),
    ("okx", "BTC-USDT-SWAP"),
    ("okx", "ETH-USDT-SWAP"),
    ("okx", "SOL-USDT-SWAP"),
    ("hyperliquid", "BTC"),
    ("hyperliquid", "ETH"),
    ("hyperliquid", "SOL"),
];

/// A deterministic trade stream: 100 trades a second over 9 instruments, so
/// a boundary (and 9 outputs) every 6 000 events.
fn stream() -> (Vec<Event>, Vec<prism_sdk::Event>) {
    let mut registry = InstrumentRegistry::default();
    let mut host = Vec::with_capacity(events() + SYMBOLS.len());
    for (exchange, symbol) in SYMBOLS {
        let (id, _) = registry.intern(exchange, symbol);
        host.push(Event::Instrument(registry.get(id).unwrap().clone()));
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..events() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let instrument = prism_model::InstrumentId((i % SYMBOLS.len()) as u32);
        host.push(Event::Trade(Trade {
            instrument,
            ts: 1_700_000_000_000 + (i as i64) * 10,
            received_ts: 1_700_000_000_000 + (i as i64) * 10,
            price: decimal::from_parts(3_700_000 + (x % 1000) as i64, 1).unwrap(),
            size: decimal::from_parts(1 + (x >> 20) as i64 % 5000, 3).unwrap(),
            side: if x & 1 == 0 { Side::Buy } else { Side::Sell },
            buyer: None,
            seller: None,
        }));
    }
    let guest = host.iter().skip(SYMBOLS.len()).map(to_sdk).collect();
    (host, guest)
}

fn to_sdk(e: &Event) -> prism_sdk::Event {
    let Event::Trade(t) = e else { unreachable!() };
    let d = |v| {
        let (mantissa, scale) = decimal::to_parts(v);
        prism_sdk::Decimal { mantissa, scale }
    };
    prism_sdk::Event::Trade(prism_sdk::Trade {
        instrument: t.instrument.0,
        ts: t.ts,
        received_ts: t.received_ts,
        price: d(t.price),
        size: d(t.size),
        side: if t.side == Side::Buy {
            prism_sdk::Side::Buy
        } else {
            prism_sdk::Side::Sell
        },
        buyer: None,
        seller: None,
    })
}

fn wasm_path(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../target/wasm32-wasip2/release/{name}.wasm"));
    assert!(
        path.exists(),
        "build the plugins first: cargo build --release --target wasm32-wasip2 -p long-short-ratio -p prism-probe"
    );
    path
}

fn wasm_run(
    module: &PluginModule,
    config: &str,
    events: &[Event],
    batch: usize,
    fast: bool,
) -> (Duration, usize) {
    let mut instance = module
        .instantiate("bench", PluginLimits::default(), 1)
        .unwrap();
    instance.set_fast_lowering(fast);
    instance.init(config).unwrap();
    let (declarations, trades) = events.split_at(SYMBOLS.len());
    instance.on_events(declarations).unwrap();
    let started = Instant::now();
    let mut outputs = 0;
    for chunk in trades.chunks(batch) {
        outputs += instance.on_events(chunk).unwrap().len();
    }
    (started.elapsed(), outputs)
}

fn native_run(events: &[prism_sdk::Event], batch: usize) -> (Duration, usize) {
    let mut harness = Harness::<LongShortRatio>::new("{}").unwrap();
    for (exchange, symbol) in SYMBOLS {
        harness.instrument(exchange, symbol);
    }
    harness.push(Vec::new()).unwrap();
    let chunks: Vec<Vec<prism_sdk::Event>> = events.chunks(batch).map(<[_]>::to_vec).collect();
    let started = Instant::now();
    let mut outputs = 0;
    for chunk in chunks {
        outputs += harness.push(chunk).unwrap().len();
    }
    (started.elapsed(), outputs)
}

fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn main() {
    let (host_events, sdk_events) = stream();
    let engine = PluginEngine::new(EngineSettings::default()).unwrap();
    let module = PluginModule::load(&engine, &wasm_path("long_short_ratio")).unwrap();
    let probe = PluginModule::load(&engine, &wasm_path("prism_probe")).unwrap();
    const COUNT: &str = r#"{"mode":"count"}"#;
    // Warm up both paths once.
    wasm_run(
        &module,
        "{}",
        &host_events[..SYMBOLS.len() + events().min(100_000)],
        256,
        true,
    );
    native_run(&sdk_events[..events().min(100_000)], 256);
    println!(
        "long-short-ratio, {} trades over 9 instruments; {} ; {} threads",
        events(),
        cpu(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "| batch | wasm ns/event | native ns/event | wasm / native | wasm, generic lowering | boundary only (counting plugin) | boundary only, generic lowering | outputs |"
    );
    println!(
        "|------:|--------------:|----------------:|--------------:|-----------------------:|--------------------------------:|--------------------------------:|--------:|"
    );
    for batch in BATCHES {
        // Best of three, to keep scheduler noise out of the ratio.
        let best =
            |f: &dyn Fn() -> (Duration, usize)| (0..3).map(|_| f()).min_by_key(|r| r.0).unwrap();
        let (w, w_out) = best(&|| wasm_run(&module, "{}", &host_events, batch, true));
        let (g, g_out) = best(&|| wasm_run(&module, "{}", &host_events, batch, false));
        let (n, n_out) = best(&|| native_run(&sdk_events, batch));
        let (b, _) = best(&|| wasm_run(&probe, COUNT, &host_events, batch, true));
        let (bg, _) = best(&|| wasm_run(&probe, COUNT, &host_events, batch, false));
        assert_eq!(w_out, g_out);
        assert_eq!(
            w_out, n_out,
            "wasm and native must produce the same outputs"
        );
        let per = |d: Duration| d.as_nanos() as f64 / events() as f64;
        println!(
            "| {batch:>5} | {:>13.1} | {:>15.1} | {:>13.2} | {:>22.1} | {:>31.1} | {:>31.1} | {w_out:>7} |",
            per(w),
            per(n),
            per(w) / per(n),
            per(g),
            per(b),
            per(bg)
        );
    }
    // Trades that name their buyer and seller (Hyperliquid's), through the
    // counting plugin: each string is an allocation in the guest.
    let with_accounts = accounts(&host_events);
    println!();
    println!(
        "| batch | trades with buyer and seller, boundary only | the same, generic lowering |"
    );
    println!(
        "|------:|--------------------------------------------:|---------------------------:|"
    );
    for batch in [256, 1024] {
        let best =
            |f: &dyn Fn() -> (Duration, usize)| (0..3).map(|_| f()).min_by_key(|r| r.0).unwrap();
        let (b, _) = best(&|| wasm_run(&probe, COUNT, &with_accounts, batch, true));
        let (bg, _) = best(&|| wasm_run(&probe, COUNT, &with_accounts, batch, false));
        let per = |d: Duration| d.as_nanos() as f64 / events() as f64;
        println!("| {batch:>5} | {:>44.1} | {:>26.1} |", per(b), per(bg));
    }
}

/// The same stream, every trade naming a buyer and a seller (42-character
/// addresses, as Hyperliquid's).
fn accounts(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| match e {
            Event::Trade(t) => Event::Trade(Trade {
                buyer: Some(format!("0x{:040x}", i).into()),
                seller: Some(format!("0x{:040x}", i * 7 + 1).into()),
                ..t.clone()
            }),
            other => other.clone(),
        })
        .collect()
}
