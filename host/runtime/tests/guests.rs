//! The runtime against real guest components built from `tests/guests/` and
//! `examples/` (build them first: `scripts/test.sh` does).

use prism_model::{Event, InstrumentRegistry, Output, Side, Trade, decimal};
use prism_runtime::{
    EngineSettings, FaultKind, LoadError, PluginEngine, PluginLimits, PluginModule,
};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn wasm(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target
        .join("wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: build the guests with `cargo build --release --target wasm32-wasip2 --workspace --exclude prism-host` (scripts/test.sh does)",
        path.display()
    );
    path
}

fn engine() -> PluginEngine {
    PluginEngine::new(EngineSettings {
        max_memory_bytes: 64 << 20,
        max_instances: 16,
        ..EngineSettings::default()
    })
    .unwrap()
}

fn trades(n: usize) -> Vec<Event> {
    let mut reg = InstrumentRegistry::default();
    let (id, _) = reg.intern("binance", "BTCUSDT");
    let mut events = vec![Event::Instrument(reg.get(id).unwrap().clone())];
    for i in 0..n {
        events.push(Event::Trade(Trade {
            instrument: id,
            ts: 1_700_000_000_000 + i as i64,
            received_ts: 1_700_000_000_000 + i as i64,
            price: decimal::parse("37000.1").unwrap(),
            size: decimal::parse("0.25").unwrap(),
            side: Side::Buy,
            buyer: None,
            seller: None,
        }));
    }
    events
}

fn doc(outputs: &[Output], key: &str) -> serde_json::Value {
    outputs
        .iter()
        .rev()
        .find_map(|o| match o {
            Output::Document(d) if &*d.key == key => Some(d.body.value().clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no document {key} in {outputs:?}"))
}

fn start(
    engine: &PluginEngine,
    config: &str,
    limits: PluginLimits,
) -> prism_runtime::PluginInstance {
    let module = PluginModule::load(engine, &wasm("prism_probe")).unwrap();
    let mut instance = module.instantiate("probe", limits, 7).unwrap();
    instance.init(config).unwrap();
    instance
}

#[test]
fn the_sandbox_denies_files_env_network_and_wall_clock() {
    let engine = engine();
    let mut probe = start(&engine, r#"{"mode":"sandbox"}"#, PluginLimits::default());
    let out = probe.on_events(&trades(1)).unwrap();
    let seen = doc(&out, "sandbox");
    for key in [
        "read_file",
        "write_file",
        "list_dir",
        "env_var",
        "tcp_connect",
        "udp_bind",
        "dns",
    ] {
        let v = seen[key].as_str().unwrap();
        assert!(v.starts_with("denied"), "{key} should be denied, got {v}");
    }
    assert_eq!(seen["env_count"], "0");
    assert_eq!(
        seen["wall_clock_ms"], "0",
        "the wall clock is frozen at the epoch"
    );
    // Seeded randomness: a second instance with the same seed behaves the same.
    let mut again = start(&engine, r#"{"mode":"sandbox"}"#, PluginLimits::default());
    let out2 = again.on_events(&trades(1)).unwrap();
    assert_eq!(
        doc(&out2, "sandbox")["random_map_order"],
        seen["random_map_order"]
    );
}

/// One event of every kind, trades with and without accounts, in a batch.
fn every_kind() -> Vec<Event> {
    use prism_model::{
        Book, Funding, Level, Liquidation, OpenInterest, Position, PositionSide, Timer,
    };
    let d = |t: &str| decimal::parse(t).unwrap();
    let mut events = trades(3);
    let id = events[1].instrument().unwrap();
    events.push(Event::Trade(Trade {
        instrument: id,
        ts: 5,
        received_ts: 6,
        price: d("-0.000000001"),
        size: d("9223372036854775807"),
        side: Side::Sell,
        buyer: Some("0xbuyer".into()),
        seller: None,
    }));
    events.push(Event::Liquidation(Liquidation {
        instrument: id,
        ts: 7,
        received_ts: 8,
        price: d("36950"),
        size: d("1.2"),
        position: PositionSide::Long,
        account: Some("0xl".into()),
    }));
    events.push(Event::Funding(Funding {
        instrument: id,
        ts: 9,
        received_ts: 9,
        rate: d("-0.0000125"),
        interval_hours: 8,
        mark_price: Some(d("37010")),
        index_price: None,
        next_funding_ts: Some(28_800_000),
    }));
    events.push(Event::OpenInterest(OpenInterest {
        instrument: id,
        ts: 10,
        received_ts: 11,
        open_interest: d("1234.5"),
    }));
    events.push(Event::Book(Book {
        instrument: id,
        ts: 12,
        received_ts: 13,
        snapshot: true,
        bids: vec![Level {
            price: d("36999.9"),
            size: d("2.1"),
        }],
        asks: vec![],
    }));
    events.push(Event::Position(Position {
        instrument: id,
        ts: 14,
        received_ts: 15,
        account: "0xabc".into(),
        size: d("-12.5"),
        entry_price: d("37100"),
        liquidation_price: Some(d("39800")),
        leverage: None,
    }));
    events.push(Event::Timer(Timer { ts: 60_000 }));
    events.extend(new_kinds(id));
    events.extend(trades(2).into_iter().skip(1));
    events
}

/// A candle and a ticker (the kinds contract 0.2 added).
fn new_kinds(id: prism_model::InstrumentId) -> Vec<Event> {
    use prism_model::{Candle, Level, Ticker};
    let d = |t: &str| decimal::parse(t).unwrap();
    vec![
        Event::Candle(Box::new(Candle {
            instrument: id,
            ts: 1_700_000_060_000,
            received_ts: 1_700_000_060_001,
            interval: "15m".parse().unwrap(),
            open_ts: 1_699_999_200_000,
            open: d("37000"),
            high: d("37010.5"),
            low: d("36990"),
            close: d("37005"),
            volume: d("12.5"),
            quote_volume: Some(d("462550.25")),
            trades: Some(42),
            closed: true,
        })),
        Event::Ticker(Box::new(Ticker {
            instrument: id,
            ts: 1_700_000_061_000,
            received_ts: 1_700_000_061_000,
            best_bid: Some(Level {
                price: d("36999.9"),
                size: d("2.1"),
            }),
            best_ask: None,
            last_price: Some(d("37000")),
            volume_24h: None,
            quote_volume_24h: None,
            change_24h: Some(d("-150.5")),
            change_24h_percent: None,
            mark_price: None,
            index_price: Some(d("36998")),
        })),
    ]
}

#[test]
fn a_plugin_built_against_0_1_runs_and_never_sees_the_new_kinds() {
    let engine = engine();
    let module = PluginModule::load(&engine, &wasm("contract_0_1")).unwrap();
    assert_eq!(module.contract(), prism_runtime::Contract::V0_1);
    let mut legacy = module
        .instantiate("legacy", PluginLimits::default(), 7)
        .unwrap();
    let info = legacy.init("{}").unwrap();
    assert_eq!(info.contract.version(), "0.1.0");
    // "Every kind" of a 0.1 plugin is every kind 0.1 has.
    let kinds: Vec<&str> = info.subscription.kinds.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "trade",
            "liquidation",
            "funding",
            "open_interest",
            "book",
            "position",
            "fill"
        ]
    );
    let out = legacy.on_events(&every_kind()).unwrap();
    let names: Vec<(&str, f64)> = out
        .iter()
        .map(|o| match o {
            Output::Series(s) => (&*s.name, s.value),
            other => panic!("{other:?}"),
        })
        .collect();
    // every_kind(): 3 trades, one with an account, a liquidation, funding,
    // open interest, a book, a position, a timer, a candle, a ticker, then
    // 2 more trades. The candle and ticker are not delivered.
    assert_eq!(
        names,
        [
            ("seen.trade", 1.0),
            ("seen.trade", 2.0),
            ("seen.trade", 3.0),
            ("seen.trade", 4.0),
            ("seen.liquidation", 1.0),
            ("seen.funding", 1.0),
            ("seen.open_interest", 1.0),
            ("seen.book", 1.0),
            ("seen.position", 1.0),
            ("seen.timer", 1.0),
            ("seen.trade", 5.0),
            ("seen.trade", 6.0),
        ]
    );
    // State and the snapshot calls work as in 0.1.
    assert_eq!(legacy.snapshot().unwrap(), Vec::<u8>::new());
    legacy.restore(&[]).unwrap();
    // A plugin built against the current contract is told so.
    let current = PluginModule::load(&engine, &wasm("hello")).unwrap();
    assert_eq!(current.contract(), prism_runtime::Contract::V0_2);
}

#[test]
fn the_fast_lowering_delivers_exactly_what_the_generic_one_does() {
    let engine = engine();
    let mut batch = every_kind();
    // Both strings, one of them empty, one not ASCII; then plain trades
    // right after, so a run of plain trades starts after strings.
    let id = batch[1].instrument().unwrap();
    batch.push(Event::Trade(Trade {
        instrument: id,
        ts: 6,
        received_ts: 6,
        price: decimal::parse("1.5").unwrap(),
        size: decimal::parse("2").unwrap(),
        side: Side::Buy,
        buyer: Some("".into()),
        seller: Some("0xséller→ünïcode".into()),
    }));
    batch.extend(trades(2));
    // Every kind written directly, with each option both ways, in a run
    // of events without strings and between events with them.
    {
        use prism_model::{
            Book, Funding, Level, Liquidation, OpenInterest, Position, PositionSide,
        };
        let d = |t: &str| decimal::parse(t).unwrap();
        batch.push(Event::Liquidation(Liquidation {
            instrument: id,
            ts: 20,
            received_ts: 21,
            price: d("0.5"),
            size: d("123456789.123456789"),
            position: PositionSide::Short,
            account: None,
        }));
        batch.push(Event::Funding(Funding {
            instrument: id,
            ts: 22,
            received_ts: 22,
            rate: d("0.0001"),
            interval_hours: 1,
            mark_price: None,
            index_price: Some(d("36998.25")),
            next_funding_ts: None,
        }));
        batch.push(Event::OpenInterest(OpenInterest {
            instrument: id,
            ts: -1,
            received_ts: i64::MAX,
            open_interest: d("0"),
        }));
        batch.push(Event::Position(Position {
            instrument: id,
            ts: 23,
            received_ts: 24,
            account: "0xpösitïon→".into(),
            size: d("0"),
            entry_price: d("1"),
            liquidation_price: None,
            leverage: Some(d("12.5")),
        }));
        let level = |p: &str, s: &str| Level {
            price: d(p),
            size: d(s),
        };
        batch.push(Event::Book(Book {
            instrument: id,
            ts: 24,
            received_ts: 24,
            snapshot: false,
            bids: vec![
                level("36999.9", "2.1"),
                level("36999.8", "0"),
                level("1", "0.001"),
            ],
            asks: vec![level("37000", "5"), level("37000.5", "123456.789")],
        }));
        batch.push(Event::Book(Book {
            instrument: id,
            ts: 24,
            received_ts: 25,
            snapshot: true,
            bids: vec![],
            asks: vec![],
        }));
        batch.push(Event::Funding(Funding {
            instrument: id,
            ts: 25,
            received_ts: 26,
            rate: d("-0.0003"),
            interval_hours: 4,
            mark_price: Some(d("1")),
            index_price: None,
            next_funding_ts: Some(-5),
        }));
        batch.extend(trades(2));
    }
    let mut echoes = Vec::new();
    for fast in [true, false] {
        let mut probe = start(&engine, r#"{"mode":"echo"}"#, PluginLimits::default());
        probe.set_fast_lowering(fast);
        let out = probe.on_events(&batch).unwrap();
        let seen: Vec<String> = out
            .iter()
            .filter_map(|o| match o {
                Output::Log(l) => Some(l.body.as_str().unwrap().to_owned()),
                _ => None,
            })
            .collect();
        echoes.push(seen);
    }
    assert_eq!(echoes[0].len(), batch.len());
    assert_eq!(echoes[0], echoes[1]);
    let strings = echoes[0].iter().find(|e| e.contains("0xs")).unwrap();
    assert!(
        strings.contains(r#"buyer: Some(""), seller: Some("0xséller→ünïcode")"#),
        "{strings}"
    );
    let book = echoes[0]
        .iter()
        .find(|e| e.contains("mantissa: 123456789, scale: 3"))
        .unwrap();
    assert!(
        book.contains("snapshot: false, bids: [Level { price: Decimal { mantissa: 369999, scale: 1 }, size: Decimal { mantissa: 21, scale: 1 } }, Level { price: Decimal { mantissa: 369998, scale: 1 }, size: Decimal { mantissa: 0, scale: 0 } }"),
        "{book}"
    );
    let first_trade = &echoes[0][1];
    let position = echoes[0].iter().find(|e| e.contains("0xpö")).unwrap();
    assert!(
        position.contains(r#"account: "0xpösitïon→", size: Decimal { mantissa: 0, scale: 0 }, entry-price: Decimal { mantissa: 1, scale: 0 }, liquidation-price: None, leverage: Some(Decimal { mantissa: 125, scale: 1 })"#),
        "{position}"
    );
    assert!(first_trade.starts_with("Event::Trade(Trade { instrument: 0, ts: 1700000000000, received-ts: 1700000000000, price: Decimal { mantissa: 370001, scale: 1 }, size: Decimal { mantissa: 25, scale: 2 }, side: Side::Buy, buyer: None, seller: None"), "{first_trade}");
}

#[test]
fn counts_every_event_across_batches() {
    let engine = engine();
    let mut probe = start(&engine, r#"{"mode":"count"}"#, PluginLimits::default());
    let events = trades(1000);
    let mut last = serde_json::Value::Null;
    for chunk in events.chunks(77) {
        last = doc(&probe.on_events(chunk).unwrap(), "count");
    }
    assert_eq!(last["events"], 1000);
    assert_eq!(probe.snapshot().unwrap(), 1000u64.to_le_bytes());
}

fn fault_of(mode: &str, limits: PluginLimits) -> prism_runtime::Fault {
    fault_on(&engine(), mode, limits)
}

fn fault_on(engine: &PluginEngine, mode: &str, limits: PluginLimits) -> prism_runtime::Fault {
    let mut probe = start(engine, &format!(r#"{{"mode":"{mode}","at":3}}"#), limits);
    probe
        .on_events(&trades(2))
        .expect("healthy before the chosen event");
    probe
        .on_events(&trades(5))
        .expect_err("faults on the chosen event")
}

#[test]
fn a_panic_is_reported_with_its_message() {
    let fault = fault_of("panic", PluginLimits::default());
    assert_eq!(fault.kind, FaultKind::Panic);
    assert!(
        fault.message.contains("poison event number 3"),
        "{}",
        fault.message
    );
}

#[test]
fn an_endless_loop_hits_the_deadline() {
    let limits = PluginLimits {
        call_deadline: Duration::from_millis(50),
        ..PluginLimits::default()
    };
    let started = Instant::now();
    let fault = fault_of("loop", limits);
    assert_eq!(fault.kind, FaultKind::Deadline);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Quick (baseline-compiled) code, which a swap may run on for a moment,
/// is held to every limit optimized code is: deadline, memory, output cap,
/// stack; and counts alike.
#[test]
fn quick_code_is_held_to_the_same_limits() {
    let optimized = PluginEngine::new(EngineSettings {
        max_memory_bytes: 64 << 20,
        max_instances: 16,
        quick_instances: 4,
        ..EngineSettings::default()
    })
    .unwrap();
    let probe = std::fs::read(wasm("prism_probe")).unwrap();
    let quick = optimized
        .quick_for(&probe)
        .expect("not compiled yet: quick");
    assert_eq!(quick.tier(), prism_runtime::Tier::Quick);
    let limits = PluginLimits {
        call_deadline: Duration::from_millis(50),
        memory_bytes: 16 << 20,
        max_outputs: 1000,
        ..PluginLimits::default()
    };
    let started = Instant::now();
    assert_eq!(fault_on(quick, "loop", limits).kind, FaultKind::Deadline);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(fault_on(quick, "grow", limits).kind, FaultKind::Memory);
    assert_eq!(fault_on(quick, "flood", limits).kind, FaultKind::OutputCap);
    assert_eq!(fault_on(quick, "panic", limits).kind, FaultKind::Panic);
    let mut counter = start(quick, r#"{"mode":"count"}"#, PluginLimits::default());
    let events = trades(500);
    let mut last = serde_json::Value::Null;
    for chunk in events.chunks(64) {
        last = doc(&counter.on_events(chunk).unwrap(), "count");
    }
    assert_eq!(last["events"], 500);
    // Once the optimized code is compiled, a swap takes it: no detour.
    prism_runtime::PluginModule::from_bytes(&optimized, &probe).unwrap();
    assert!(optimized.quick_for(&probe).is_none());
}

#[test]
fn memory_growth_hits_the_limit() {
    let limits = PluginLimits {
        memory_bytes: 16 << 20,
        ..PluginLimits::default()
    };
    let fault = fault_of("grow", limits);
    assert_eq!(fault.kind, FaultKind::Memory, "{}", fault.message);
}

#[test]
fn an_output_flood_hits_the_cap() {
    let limits = PluginLimits {
        max_outputs: 1000,
        memory_bytes: 64 << 20,
        ..PluginLimits::default()
    };
    let fault = fault_of("flood", limits);
    assert_eq!(fault.kind, FaultKind::OutputCap, "{fault}");
    assert!(fault.message.contains("returned 20001 outputs"), "{fault}");
}

#[test]
fn deep_recursion_overflows_the_stack() {
    // Rust guests keep big frames on a shadow stack in linear memory, so
    // overflowing it is an out-of-bounds access; small frames exhaust the
    // wasm stack itself. Either way it is this plugin's trap.
    let fault = fault_of("recurse", PluginLimits::default());
    assert!(
        fault.kind == FaultKind::StackOverflow
            || fault.kind == FaultKind::Trap && fault.message.contains("out of bounds"),
        "{fault}"
    );
}

#[test]
fn an_error_result_is_a_fault_of_kind_error() {
    let fault = fault_of("error", PluginLimits::default());
    assert_eq!(fault.kind, FaultKind::Error);
    assert_eq!(fault.message, "refusing event number 3");
}

#[test]
fn load_errors_say_what_is_wrong() {
    let engine = engine();
    let dir = std::env::temp_dir().join(format!("prism-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("plain.wasm");
    std::fs::write(&text, b"not wasm at all").unwrap();
    assert!(matches!(
        PluginModule::load(&engine, &text),
        Err(LoadError::NotWasm)
    ));
    let core = dir.join("core.wasm");
    std::fs::write(&core, [0, b'a', b's', b'm', 1, 0, 0, 0]).unwrap();
    assert!(matches!(
        PluginModule::load(&engine, &core),
        Err(LoadError::NotComponent)
    ));
    assert!(matches!(
        PluginModule::load(&engine, &dir.join("missing.wasm")),
        Err(LoadError::Read { .. })
    ));
    // An empty component exports nothing of the contract.
    let empty = dir.join("empty.wasm");
    std::fs::write(&empty, [0, b'a', b's', b'm', 0x0d, 0, 1, 0]).unwrap();
    let err = PluginModule::load(&engine, &empty).err().expect("refused");
    assert!(matches!(err, LoadError::Exports(_)), "{err}");

    let module = PluginModule::load(&engine, &wasm("prism_probe")).unwrap();
    let mut refusing = module.instantiate("p", PluginLimits::default(), 1).unwrap();
    let err = refusing.init(r#"{"mode":"init_error"}"#).unwrap_err();
    assert_eq!(
        err,
        LoadError::Init("init_error mode: refusing to start".into())
    );
    let mut refusing = module.instantiate("p", PluginLimits::default(), 1).unwrap();
    refusing.init(r#"{"mode":"restore_error"}"#).unwrap();
    assert!(matches!(
        refusing.restore(&[0; 8]),
        Err(LoadError::Restore(_))
    ));
    let err = module
        .instantiate("p", PluginLimits::default(), 1)
        .unwrap()
        .init("not json")
        .unwrap_err();
    assert!(
        matches!(err, LoadError::Init(ref m) if m.contains("probe config")),
        "{err}"
    );
}

#[test]
fn compiled_artifacts_are_cached_by_content() {
    let dir = std::env::temp_dir().join(format!("prism-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = PluginEngine::new(EngineSettings {
        cache_dir: Some(dir.clone()),
        max_instances: 4,
        max_memory_bytes: 64 << 20,
        ..EngineSettings::default()
    })
    .unwrap();
    let module = PluginModule::load(&engine, &wasm("hello")).unwrap();
    let cached: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1);
    let name = cached[0].file_name().into_string().unwrap();
    assert!(name.starts_with(module.digest()), "{name}");
    // A restart (a new engine) loads it from the disk cache, and it works
    // the same.
    let restarted = PluginEngine::new(EngineSettings {
        cache_dir: Some(dir.clone()),
        max_instances: 4,
        max_memory_bytes: 64 << 20,
        ..EngineSettings::default()
    })
    .unwrap();
    let again = PluginModule::load(&restarted, &wasm("hello")).unwrap();
    let mut instance = again
        .instantiate("hello", PluginLimits::default(), 0)
        .unwrap();
    let info = instance.init("{}").unwrap();
    assert_eq!(info.name, "hello");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_code_is_compiled_once_per_process() {
    let engine = engine();
    let bytes = std::fs::read(wasm("hello")).unwrap();
    let started = Instant::now();
    let (first, digest) = engine.compile(&bytes).unwrap();
    let compile = started.elapsed();
    let started = Instant::now();
    let (again, same) = engine.compile(&bytes).unwrap();
    let reuse = started.elapsed();
    assert_eq!(digest, same);
    // One compiled image, shared: not a second copy of the same code.
    assert_eq!(first.image_range(), again.image_range());
    eprintln!("compiled in {compile:?}, found again in {reuse:?}");
    // Other bytes (here the same code with a custom section) are other code.
    let mut other = bytes.clone();
    other.extend_from_slice(&[0, 6, 5, b'p', b'r', b'i', b's', b'm']);
    let (third, other_digest) = engine.compile(&other).unwrap();
    assert_ne!(other_digest, digest);
    assert_ne!(third.image_range(), first.image_range());
}
