//! The fault suite: each faulty plugin runs beside a healthy counting
//! plugin that must see every event. The host stays up, the healthy count
//! is exact, and the faulty plugin's status and dead letters say what
//! happened.

mod support;

use prism_config::PluginLimitsConfig;
use prism_control::{ControlError, Origin, PluginControl, PluginSettings, Rename};
use prism_model::PluginId;
use prism_runtime::{FaultKind, LoadError};
use prism_worker::PluginState;
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::{Harness, quick_recovery, wasm_bytes};

const EVENTS: u64 = 1000;

/// Runs `mode` poisoned on one event (the 501st) beside a healthy counter.
fn poison_case(mode: &str, limits: PluginLimitsConfig) -> prism_worker::DeadLetter {
    let mut h = Harness::start(quick_recovery(), 64);
    h.probe(
        "healthy",
        r#"{"mode":"count"}"#,
        PluginLimitsConfig::default(),
    );
    let poison_ts = h.next_ts() + 500;
    h.probe(
        "faulty",
        &format!(r#"{{"mode":"{mode}","at_ts":{poison_ts}}}"#),
        limits,
    );
    h.send(EVENTS);
    let faulty = h.pipeline.supervisor.view("faulty").unwrap();
    h.wait("both plugins to finish", Duration::from_secs(60), || {
        h.count("healthy") == EVENTS
            && faulty.metrics.events_in.load(Ordering::Relaxed)
                + faulty.metrics.dead_letters_total.load(Ordering::Relaxed)
                == EVENTS
    });
    // Outputs reach the store after the counters move.
    h.wait("the last outputs", Duration::from_secs(10), || {
        h.count("faulty") >= EVENTS - 1
    });
    assert_eq!(
        h.count("healthy"),
        EVENTS,
        "the healthy plugin saw every event"
    );
    let m = &faulty.metrics;
    assert_eq!(m.state(), PluginState::Running, "{:?}", m.last_error());
    assert_eq!(m.events_in.load(Ordering::Relaxed), EVENTS - 1);
    assert_eq!(m.events_dropped.load(Ordering::Relaxed), 0);
    assert_eq!(
        h.count("faulty"),
        EVENTS - 1,
        "the faulty plugin's own state: every event but the poison one, none twice"
    );
    assert!(m.restarts.load(Ordering::Relaxed) >= 1);
    let letters = m.dead_letters();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].event.ts(), Some(poison_ts));
    assert!(m.last_error().is_some());
    let healthy = h.pipeline.supervisor.view("healthy").unwrap();
    assert_eq!(healthy.metrics.errors.load(Ordering::Relaxed), 0);
    h.pipeline.finish().unwrap();
    letters.into_iter().next().unwrap()
}

#[test]
fn a_panic_on_one_event_costs_only_that_event() {
    let letter = poison_case("panic", PluginLimitsConfig::default());
    assert_eq!(letter.fault.kind, FaultKind::Panic);
    assert!(
        letter.fault.message.contains("poison event number 501"),
        "{}",
        letter.fault.message
    );
}

#[test]
fn an_endless_loop_is_cut_by_the_deadline_and_isolated() {
    let limits = PluginLimitsConfig {
        call_deadline_ms: 50,
        ..PluginLimitsConfig::default()
    };
    assert_eq!(poison_case("loop", limits).fault.kind, FaultKind::Deadline);
}

#[test]
fn memory_growth_past_the_limit_is_isolated() {
    let limits = PluginLimitsConfig {
        memory_mb: 16,
        ..PluginLimitsConfig::default()
    };
    assert_eq!(poison_case("grow", limits).fault.kind, FaultKind::Memory);
}

#[test]
fn an_output_flood_is_isolated() {
    let limits = PluginLimitsConfig {
        max_outputs: 1000,
        ..PluginLimitsConfig::default()
    };
    assert_eq!(
        poison_case("flood", limits).fault.kind,
        FaultKind::OutputCap
    );
}

#[test]
fn deep_recursion_is_isolated() {
    let kind = poison_case("recurse", PluginLimitsConfig::default())
        .fault
        .kind;
    assert!(
        matches!(kind, FaultKind::StackOverflow | FaultKind::Trap),
        "{kind:?}"
    );
}

#[test]
fn an_error_result_is_isolated() {
    assert_eq!(
        poison_case("error", PluginLimitsConfig::default())
            .fault
            .kind,
        FaultKind::Error
    );
}

#[test]
fn a_plugin_that_keeps_failing_is_quarantined_then_stopped_until_resumed() {
    let mut h = Harness::start(quick_recovery(), 64);
    h.probe(
        "healthy",
        r#"{"mode":"count"}"#,
        PluginLimitsConfig::default(),
    );
    // Fails on its 10th event, and after each recovery again on the next one.
    h.probe(
        "faulty",
        r#"{"mode":"panic","at":10}"#,
        PluginLimitsConfig::default(),
    );
    let faulty = h.pipeline.supervisor.view("faulty").unwrap();
    h.send(EVENTS);
    h.wait("quarantine", Duration::from_secs(30), || {
        faulty.metrics.state() == PluginState::Quarantined
    });
    assert!(faulty.metrics.quarantined_until_ms.load(Ordering::Relaxed) > 0);
    // More than `max_failures` (5) poison events within the window.
    assert_eq!(faulty.metrics.dead_letters_total.load(Ordering::Relaxed), 6);
    // After the backoff it restarts, fails again, and with max_quarantines
    // = 1 it stays stopped until an operator resumes it.
    std::thread::sleep(Duration::from_millis(150));
    h.send(10);
    h.wait("failed", Duration::from_secs(30), || {
        faulty.metrics.state() == PluginState::Failed
    });
    let error = faulty.metrics.last_error().unwrap();
    assert!(error.contains("resume it"), "{error}");
    h.send(100);
    h.wait("healthy to catch up", Duration::from_secs(30), || {
        h.count("healthy") == EVENTS + 110
    });
    let m = &faulty.metrics;
    h.wait("every event accounted for", Duration::from_secs(30), || {
        m.events_in.load(Ordering::Relaxed)
            + m.dead_letters_total.load(Ordering::Relaxed)
            + m.events_dropped.load(Ordering::Relaxed)
            == EVENTS + 110
    });
    assert!(m.events_dropped.load(Ordering::Relaxed) > 0);
    let view = h.pipeline.supervisor.resume("faulty").unwrap();
    assert_eq!(view.metrics.state(), PluginState::Running);
    assert_eq!(h.count("healthy"), EVENTS + 110);
    h.pipeline.finish().unwrap();
}

#[test]
fn pause_skips_events_and_resume_continues_from_the_same_state() {
    let mut h = Harness::start(quick_recovery(), 64);
    h.probe(
        "healthy",
        r#"{"mode":"count"}"#,
        PluginLimitsConfig::default(),
    );
    h.probe(
        "paused",
        r#"{"mode":"count"}"#,
        PluginLimitsConfig::default(),
    );
    h.send(100);
    h.wait("first events", Duration::from_secs(10), || {
        h.count("paused") == 100
    });
    let view = h.pipeline.supervisor.pause("paused").unwrap();
    assert_eq!(view.metrics.state(), PluginState::Paused);
    h.send(50);
    h.wait("healthy", Duration::from_secs(10), || {
        h.count("healthy") == 150
    });
    h.wait("skipped", Duration::from_secs(10), || {
        view.metrics.events_dropped.load(Ordering::Relaxed) == 50
    });
    h.pipeline.supervisor.resume("paused").unwrap();
    h.send(25);
    h.wait("resumed", Duration::from_secs(10), || {
        h.count("paused") == 125
    });
    assert_eq!(view.metrics.events_in.load(Ordering::Relaxed), 125);
    h.pipeline.finish().unwrap();
}

#[test]
fn components_that_do_not_fit_are_refused_with_the_reason() {
    let mut h = Harness::start(quick_recovery(), 64);
    h.probe(
        "healthy",
        r#"{"mode":"count"}"#,
        PluginLimitsConfig::default(),
    );
    let s = h.pipeline.supervisor.clone();
    let add =
        |id: &str, wasm: &[u8], config: &str| s.add(id, wasm, Some(config)).expect_err("refused");
    let probe = wasm_bytes("prism_probe");
    let cases: [(&str, Vec<u8>, &str, &str); 5] = [
        ("text", b"just some text".to_vec(), "{}", "not_wasm"),
        (
            "core",
            vec![0, b'a', b's', b'm', 1, 0, 0, 0],
            "{}",
            "not_a_component",
        ),
        ("command", wasm_bytes("other-world"), "{}", "wrong_world"),
        (
            "future",
            wasm_bytes("future_contract"),
            "{}",
            "incompatible_contract",
        ),
        (
            "refuses",
            probe.clone(),
            r#"{"mode":"init_error"}"#,
            "init_failed",
        ),
    ];
    for (id, wasm, config, code) in cases {
        let err = add(id, &wasm, config);
        assert_eq!(err.code(), code, "{id}: {err}");
    }
    // The future plugin imports only the contract's types (no host
    // function), which link by shape: it is still refused by its version.
    let future = add("future", &wasm_bytes("future_contract"), "{}").to_string();
    assert!(
        future.contains("prism:plugin/types@0.3.0") && future.contains("0.2.0"),
        "{future}"
    );
    let command = add("command", &wasm_bytes("other-world"), "{}").to_string();
    assert!(
        command.contains("exports") || command.contains("imports"),
        "{command}"
    );
    assert!(matches!(
        s.add("../etc", &probe, None),
        Err(ControlError::InvalidId(_))
    ));
    assert!(matches!(
        s.add("healthy", &probe, None),
        Err(ControlError::Exists(_))
    ));
    assert!(matches!(
        s.add("x", &probe, Some("[1,2]")),
        Err(ControlError::Invalid(_))
    ));
    // None of it disturbed the healthy plugin.
    h.send(300);
    h.wait("healthy", Duration::from_secs(10), || {
        h.count("healthy") == 300
    });
    assert_eq!(s.views().len(), 1);
    h.pipeline.finish().unwrap();
}

#[test]
fn a_swap_whose_restore_fails_keeps_the_old_version() {
    let mut h = Harness::start(quick_recovery(), 64);
    h.probe(
        "healthy",
        r#"{"mode":"count"}"#,
        PluginLimitsConfig::default(),
    );
    h.probe(
        "swapped",
        r#"{"mode":"count"}"#,
        PluginLimitsConfig::default(),
    );
    h.send(200);
    let s = h.pipeline.supervisor.clone();
    let before = s.view("swapped").unwrap();
    // Same code, a config whose `restore` refuses any state.
    let err = s
        .replace_config("swapped", r#"{"mode":"restore_error"}"#)
        .unwrap_err();
    assert_eq!(err.code(), "restore_failed", "{err}");
    assert!(err.to_string().contains("refusing state"), "{err}");
    // A config `init` refuses.
    let err = s
        .replace_config("swapped", r#"{"mode":"init_error"}"#)
        .unwrap_err();
    assert_eq!(err.code(), "init_failed", "{err}");
    // Not wasm at all.
    let err = s
        .replace_wasm("swapped", b"garbage", Rename::Refuse)
        .unwrap_err();
    assert_eq!(err.code(), "not_wasm");
    let after = s.view("swapped").unwrap();
    assert_eq!(after.sha256, before.sha256);
    assert_eq!(after.config, serde_json::json!({"mode": "count"}));
    assert_eq!(after.metrics.swap_failures.load(Ordering::Relaxed), 3);
    assert_eq!(after.metrics.state(), PluginState::Running);
    h.send(200);
    h.wait("both count everything", Duration::from_secs(10), || {
        h.count("healthy") == 400 && h.count("swapped") == 400
    });
    let versions = s.versions("swapped").unwrap();
    let statuses: Vec<_> = versions.iter().map(|v| format!("{:?}", v.status)).collect();
    assert_eq!(statuses, ["Active", "Failed", "Failed", "Failed"]);
    h.pipeline.finish().unwrap();
}

#[test]
fn config_swaps_keep_state_and_rollback_returns_to_the_previous_version() {
    let mut h = Harness::start(quick_recovery(), 64);
    h.probe("p", r#"{"mode":"count"}"#, PluginLimitsConfig::default());
    h.send(100);
    let s = h.pipeline.supervisor.clone();
    // New code (same behaviour, other bytes): the count carries over.
    let v2 = support::variant(&wasm_bytes("prism_probe"), 2);
    let view = s.replace_wasm("p", &v2, Rename::Refuse).unwrap();
    assert_eq!(view.sha256, prism_runtime::content_digest(&v2));
    h.send(100);
    h.wait("count after swap", Duration::from_secs(10), || {
        h.count("p") == 200
    });
    let view = s.rollback("p").unwrap();
    assert_eq!(
        view.sha256,
        prism_runtime::content_digest(&wasm_bytes("prism_probe"))
    );
    h.send(100);
    h.wait("count after rollback", Duration::from_secs(10), || {
        h.count("p") == 300
    });
    assert_eq!(view.metrics.swaps.load(Ordering::Relaxed), 2);
    let reloaded = s.reload("p").unwrap();
    assert_eq!(reloaded.metrics.swaps.load(Ordering::Relaxed), 3);
    h.send(1);
    h.wait("count after reload", Duration::from_secs(10), || {
        h.count("p") == 301
    });
    s.remove("p").unwrap();
    assert!(s.view("p").is_none());
    assert!(matches!(s.remove("p"), Err(ControlError::NotFound(_))));
    let err = s
        .add_bytes(
            &PluginId::new("q").unwrap(),
            b"\0asm\x0d\0\x01\0",
            PluginSettings::default(),
            Origin::Upload {
                component: std::sync::Arc::from(&b"\0asm\x0d\0\x01\0"[..]),
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, ControlError::Load(LoadError::Exports(_))),
        "{err}"
    );
    h.pipeline.finish().unwrap();
}

/// Snapshots fall due by the events since the last one, not by batches: a
/// quiet feed's one-event batches do not make them more frequent, and four
/// full batches' worth of events (`quick_recovery`: 4 × 64) make one.
#[test]
fn snapshots_fall_due_by_events_not_by_batches() {
    let mut h = Harness::start(quick_recovery(), 64);
    h.probe(
        "counter",
        r#"{"mode":"count"}"#,
        PluginLimitsConfig::default(),
    );
    let counter = h.pipeline.supervisor.view("counter").unwrap();
    let snapshots = || counter.metrics.snapshots.load(Ordering::Relaxed);
    h.send(1);
    h.wait("the first event", Duration::from_secs(10), || {
        h.count("counter") == 1
    });
    let first = snapshots();
    assert!(first >= 1, "the one at start");
    // Each event alone in its batch: the router's linger (5 ms) passes
    // before the next is sent.
    for n in 2..=12 {
        h.send(1);
        h.wait("the event", Duration::from_secs(10), || {
            h.count("counter") == n
        });
    }
    assert_eq!(
        snapshots(),
        first,
        "12 one-event batches (13 events with the declaration) are not 256 events"
    );
    // 256 more events, four full batches: 13 + 4 × 64 = 269 ≥ 256 after
    // the fourth (205 after the third).
    h.send(256);
    h.wait("the full batches", Duration::from_secs(10), || {
        h.count("counter") == 12 + 256
    });
    assert_eq!(snapshots(), first + 1);
    h.pipeline.finish().unwrap();
}
