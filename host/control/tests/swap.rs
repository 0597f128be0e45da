//! Hot swap under load: a million events through a counting plugin whose
//! file is replaced 20 times while the stream runs. Not one event may be
//! lost or counted twice, and the count lives in the plugin's own state, so
//! it proves the state crossed every swap.

mod support;

use prism_config::PluginLimitsConfig;
use prism_control::PluginSettings;
use prism_model::PluginId;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::{Harness, variant, wasm_bytes};

const EVENTS: u64 = 1_000_000;
const SWAPS: u64 = 20;

fn write_atomically(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A harness running the probe as plugin `counter` from a file in a
/// fresh directory `name`: the harness, the file, and the probe's bytes.
fn counter_from_file(
    name: &str,
    batch: usize,
    sizes: support::Sizes,
) -> (Harness, std::path::PathBuf, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("prism-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("counter.wasm");
    let probe = wasm_bytes("prism_probe");
    write_atomically(&file, &probe);
    let h = Harness::start_sized(support::quick_recovery(), batch, sizes);
    h.pipeline
        .supervisor
        .add_file(
            &PluginId::new("counter").unwrap(),
            &file,
            PluginSettings {
                config_json: r#"{"mode":"count"}"#.into(),
                limits: PluginLimitsConfig::default(),
                ..PluginSettings::default()
            },
            false,
        )
        .unwrap();
    (h, file, probe)
}

#[test]
fn a_million_events_through_twenty_file_swaps_count_exactly() {
    million_events_through_swaps("swap", 0);
}

/// The same with quick swaps: each swap goes through on quick code and the
/// optimized code is swapped in underneath, so forty handovers in all.
#[test]
fn a_million_events_through_twenty_quick_swaps_and_their_optimized_code_count_exactly() {
    million_events_through_swaps("quick-swap", 4);
}

fn million_events_through_swaps(name: &str, quick_instances: u32) {
    let sizes = support::Sizes {
        quick_instances,
        ..support::Sizes::default()
    };
    let (mut h, file, probe) = counter_from_file(name, 256, sizes);
    let supervisor = h.pipeline.supervisor.clone();
    let watcher =
        prism_control::watch(supervisor.clone(), None, Duration::from_millis(20)).unwrap();
    let view = supervisor.view("counter").unwrap();
    let swaps = || view.metrics.swaps.load(Ordering::Relaxed);

    let per_round = EVENTS / (SWAPS + 1);
    let mut seen_quick = 0;
    for round in 1..=SWAPS {
        let round_start = h.sent;
        h.send(per_round / 4);
        let bytes = variant(&probe, u32::try_from(round).unwrap());
        write_atomically(&file, &bytes);
        // Keep the stream flowing while the swap happens.
        let started = Instant::now();
        let digest = prism_runtime::content_digest(&bytes);
        let active = || {
            supervisor
                .view("counter")
                .is_some_and(|v| v.sha256 == digest)
        };
        while swaps() < round || !active() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "swap {round} did not happen: {:?}",
                view.metrics.last_error()
            );
            if h.sent - round_start < per_round / 2 {
                h.send(256);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(swaps(), round, "one swap per write");
        if supervisor
            .view("counter")
            .is_some_and(|v| v.code == "quick")
        {
            seen_quick += 1;
        }
        h.send(per_round - (h.sent - round_start).min(per_round));
    }
    h.send(EVENTS - h.sent);
    assert_eq!(h.sent, EVENTS);
    if quick_instances > 0 {
        // Each swap ran quick code until its optimized code was in.
        assert!(seen_quick > 0, "no swap went through on quick code");
        let started = Instant::now();
        while supervisor
            .view("counter")
            .is_none_or(|v| v.code != "optimized")
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never optimized"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    } else {
        assert_eq!(seen_quick, 0);
    }
    drop(watcher);
    let metrics = view.metrics.clone();
    let store = h.store.clone();
    h.pipeline.finish().unwrap();

    assert_eq!(metrics.swaps.load(Ordering::Relaxed), SWAPS);
    assert_eq!(metrics.swap_failures.load(Ordering::Relaxed), 0);
    assert_eq!(metrics.events_in.load(Ordering::Relaxed), EVENTS);
    assert_eq!(metrics.events_dropped.load(Ordering::Relaxed), 0);
    let count = store.document("counter", "count").unwrap();
    assert_eq!(
        count.body["events"], EVENTS,
        "the plugin's own count, carried across every swap"
    );
    if let Some(dir) = file.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A file renamed into place is whole: it is applied at once. A file
/// written in place waits for the debounce (the writer may not be done).
#[test]
fn a_rename_into_place_skips_the_debounce_and_a_write_in_place_waits_for_it() {
    const DEBOUNCE: Duration = Duration::from_secs(3);
    let (mut h, file, probe) = counter_from_file("swap-rename", 64, support::Sizes::default());
    let supervisor = h.pipeline.supervisor.clone();
    let _watcher = prism_control::watch(supervisor.clone(), None, DEBOUNCE).unwrap();
    let running = || supervisor.view("counter").unwrap().sha256;
    h.send(100);

    let renamed = variant(&probe, 1);
    let written = Instant::now();
    write_atomically(&file, &renamed);
    h.wait("the renamed file to run", Duration::from_secs(30), || {
        running() == prism_runtime::content_digest(&renamed)
    });
    let took = written.elapsed();
    assert!(took < DEBOUNCE, "a rename waited {took:?}");

    let in_place = variant(&probe, 2);
    let written = Instant::now();
    std::fs::write(&file, &in_place).unwrap();
    h.wait(
        "the file written in place to run",
        Duration::from_secs(30),
        || running() == prism_runtime::content_digest(&in_place),
    );
    let took = written.elapsed();
    assert!(
        took >= DEBOUNCE,
        "a write in place was applied after {took:?}"
    );
    h.send(100);
    h.wait("every event counted", Duration::from_secs(30), || {
        h.count("counter") == 200
    });
    if let Some(dir) = file.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}
