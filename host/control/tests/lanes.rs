//! Plugins that subscribe alike share their batches, whether they start
//! together or join a stream already running: each still sees every event
//! from its start on, once, in order.

mod support;

use prism_config::PluginLimitsConfig;
use std::time::Duration;
use support::{Harness, quick_recovery};

/// The probe in `number` mode logs `n` (its own count) at each trade's
/// time: a plugin saw a contiguous run of the stream, once each, when its
/// `n`s are 1, 2, 3… at times one ms apart, up to the last event sent.
fn contiguous_to_the_end(h: &Harness, id: &str) -> (i64, u64) {
    let mut seen: Vec<(i64, u64)> = Vec::new();
    h.store.for_each_log(id, "n", |l| {
        seen.push((l.ts, l.body["n"].as_u64().unwrap()));
    });
    seen.sort_unstable();
    let (first_ts, _) = *seen.first().unwrap_or_else(|| panic!("{id}: no events"));
    for (i, (ts, n)) in seen.iter().enumerate() {
        assert_eq!(*n, i as u64 + 1, "{id}: event {i} counted as {n}");
        assert_eq!(*ts, first_ts + i as i64, "{id}: a gap or a repeat at {ts}");
    }
    assert_eq!(
        seen.last().unwrap().0,
        h.next_ts() - 1,
        "{id}: not to the end"
    );
    assert_eq!(h.count(id), seen.len() as u64, "{id}: its own count");
    (first_ts, seen.len() as u64)
}

#[test]
fn plugins_joining_a_running_stream_see_every_event_from_their_start_once() {
    let mut h = Harness::start(quick_recovery(), 64);
    let number = r#"{"mode":"number"}"#;
    let start_ts = h.next_ts();
    for id in ["a", "b"] {
        h.probe(id, number, PluginLimitsConfig::default());
    }
    h.send(700);
    h.probe("late-1", number, PluginLimitsConfig::default());
    h.send(900);
    for id in ["late-2", "late-3"] {
        h.probe(id, number, PluginLimitsConfig::default());
    }
    h.send(1100);
    let total = h.sent;
    let last = h.next_ts() - 1;
    h.wait("every plugin done", Duration::from_secs(30), || {
        ["a", "b", "late-1", "late-2", "late-3"]
            .iter()
            .all(|id| h.store.document(id, "count").is_some_and(|d| d.ts == last))
    });
    // Those started together saw it all; a late one a run to the end from
    // where the router took it in (its add goes in between two chunks, so
    // it may be before events sent earlier were routed), at least what was
    // sent after it was added.
    assert_eq!(contiguous_to_the_end(&h, "a"), (start_ts, total));
    assert_eq!(contiguous_to_the_end(&h, "b"), (start_ts, total));
    let (_, n) = contiguous_to_the_end(&h, "late-1");
    assert!(n >= 900 + 1100, "late-1 saw {n}");
    for id in ["late-2", "late-3"] {
        let (_, n) = contiguous_to_the_end(&h, id);
        assert!(n >= 1100, "{id} saw {n}");
    }
}
