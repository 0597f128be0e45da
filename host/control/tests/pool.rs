//! Plugins on the shared worker pool: slow plugins beside fast ones on
//! fewer threads than plugins, admission past the instance limit, and
//! recycling; every count exact and in order.

mod support;

use prism_config::PluginLimitsConfig;
use std::time::{Duration, Instant};
use support::{Harness, Sizes, quick_recovery};

#[test]
fn slow_plugins_on_every_thread_do_not_starve_the_fast_ones() {
    const EVENTS: u64 = 20_000;
    const BATCH: usize = 64;
    // Queues that hold the whole stream: the router never waits, so what
    // the fast plugins see is the pool's scheduling alone.
    let mut h = Harness::start_sized(
        quick_recovery(),
        BATCH,
        Sizes {
            queue_batches: EVENTS as usize / BATCH + 64,
            worker_threads: 2,
            max_instances: 32,
            ..Sizes::default()
        },
    );
    let slow = ["slow-1", "slow-2", "slow-3"];
    let fast = ["fast-1", "fast-2", "fast-3", "fast-4"];
    // Tens of µs an event (about 1.7 s for the three of them on two
    // threads here); each batch of 64 is a few ms, far inside the call
    // deadline.
    for id in slow {
        h.probe(
            id,
            r#"{"mode":"slow","work":400000}"#,
            PluginLimitsConfig::default(),
        );
    }
    for id in fast {
        h.probe(id, r#"{"mode":"count"}"#, PluginLimitsConfig::default());
    }
    let started = Instant::now();
    h.send(EVENTS);
    h.wait("the fast plugins", Duration::from_secs(120), || {
        fast.iter().all(|id| h.count(id) == EVENTS)
    });
    let fast_done = started.elapsed();
    h.wait("the slow plugins", Duration::from_secs(300), || {
        slow.iter().all(|id| h.count(id) == EVENTS)
    });
    let slow_done = started.elapsed();
    eprintln!("fast plugins done after {fast_done:?}, slow ones after {slow_done:?}");
    // Run to completion, a slow plugin would keep its thread until its
    // queue is empty: the fast ones would wait for two of them to finish.
    // Taking turns, they finish while the slow ones have most of their
    // work ahead.
    assert!(
        fast_done * 4 < slow_done,
        "the fast plugins took {fast_done:?}, the slow ones {slow_done:?}"
    );
    for id in slow.iter().chain(&fast) {
        let view = h.pipeline.supervisor.view(id).unwrap();
        assert_eq!(
            view.metrics
                .events_in
                .load(std::sync::atomic::Ordering::Relaxed),
            EVENTS,
            "{id}: every event once"
        );
    }
    h.pipeline.finish().unwrap();
}

#[test]
fn a_plugin_past_the_instance_limit_is_refused_with_the_reason() {
    let h = Harness::start_sized(
        quick_recovery(),
        64,
        Sizes {
            queue_batches: 8,
            worker_threads: 2,
            max_instances: 3,
            ..Sizes::default()
        },
    );
    let settings = || prism_control::PluginSettings {
        config_json: r#"{"mode":"count"}"#.into(),
        ..prism_control::PluginSettings::default()
    };
    let bytes = support::wasm_bytes("prism_probe");
    let mut refused = None;
    for n in 0..5 {
        let id = prism_model::PluginId::new(&format!("p-{n}")).unwrap();
        let added = h.pipeline.supervisor.add_bytes(
            &id,
            &bytes,
            settings(),
            prism_control::Origin::Upload {
                component: std::sync::Arc::from(bytes.as_slice()),
            },
        );
        if let Err(e) = added {
            refused = Some((n, e.to_string()));
            break;
        }
    }
    let (n, reason) = refused.expect("the fourth plugin is refused");
    eprintln!("refused plugin {n}: {reason}");
    assert_eq!(n, 3, "{reason}");
    assert!(reason.contains("runtime.max_instances = 3"), "{reason}");
    // The plugins in place keep running.
    assert_eq!(h.pipeline.supervisor.view("p-2").unwrap().id, "p-2");
}

#[test]
fn an_instance_grown_past_its_threshold_is_recycled_keeping_its_state() {
    const EVENTS: u64 = 5_000;
    let mut h = Harness::start(quick_recovery(), 64);
    // 8 KiB kept per event, outside the state: 40 MB over the stream,
    // past the 16 MiB memory limit unless the instance is recycled.
    let hoard = r#"{"mode":"hoard","bytes":8192}"#;
    h.probe(
        "recycled",
        hoard,
        PluginLimitsConfig {
            memory_mb: 16,
            recycle_memory_mb: 4,
            ..PluginLimitsConfig::default()
        },
    );
    h.probe(
        "kept",
        hoard,
        PluginLimitsConfig {
            memory_mb: 16,
            ..PluginLimitsConfig::default()
        },
    );
    h.send(EVENTS);
    let recycled = h.pipeline.supervisor.view("recycled").unwrap();
    let kept = h.pipeline.supervisor.view("kept").unwrap();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    h.wait("the recycled plugin", Duration::from_secs(60), || {
        h.count("recycled") == EVENTS
    });
    // Its own count, kept in its state across every recycle: each event
    // once, none lost.
    let m = &recycled.metrics;
    assert_eq!(load(&m.events_in), EVENTS);
    assert_eq!(load(&m.errors), 0, "{:?}", m.last_error());
    assert_eq!(load(&m.restarts), 0);
    assert_eq!(load(&m.dead_letters_total), 0);
    // 8 KiB × 5,000 events over a 4 MiB threshold: at least 9 recycles.
    assert!(load(&m.recycles) >= 9, "{}", load(&m.recycles));
    assert!(load(&m.memory_bytes) <= 16 << 20);
    assert_eq!(m.state(), prism_worker::PluginState::Running);
    // The same plugin without recycling runs into its memory limit.
    h.wait(
        "the plugin that keeps its memory",
        Duration::from_secs(60),
        || load(&kept.metrics.errors) > 0,
    );
    assert_eq!(load(&kept.metrics.recycles), 0);
    h.pipeline.finish().unwrap();
}
