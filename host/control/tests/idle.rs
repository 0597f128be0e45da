//! Plugins are not threads: 200 plugins on a pool of two, each with its
//! own exact state, and, idle, no CPU. Alone in its test binary, so the
//! process's threads are this pipeline's.

mod support;

use prism_config::PluginLimitsConfig;
use std::time::Duration;
use support::{Harness, Sizes, quick_recovery};

/// Threads of this process now.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// The ids of this process's threads now.
fn thread_ids() -> std::collections::BTreeSet<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A thread's name and CPU time so far (user + system, in clock ticks).
fn thread_cpu(tid: &str) -> (String, u64) {
    let dir = format!("/proc/self/task/{tid}");
    let name = std::fs::read_to_string(format!("{dir}/comm")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("{dir}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields
        .get(11..13)
        .map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    (name.trim().to_owned(), ticks)
}

#[test]
fn plugins_are_not_threads() {
    const PLUGINS: usize = 200;
    const EVENTS: u64 = 2_000;
    let before = threads();
    let tids_before = thread_ids();
    let mut h = Harness::start_sized(
        quick_recovery(),
        64,
        Sizes {
            queue_batches: 8,
            worker_threads: 2,
            max_instances: PLUGINS as u32 + 8,
            ..Sizes::default()
        },
    );
    // The pool's threads (a thread names itself once it runs).
    let pool = || -> Vec<String> {
        thread_ids()
            .difference(&tids_before)
            .filter(|t| thread_cpu(t).0.starts_with("prism-plugins"))
            .cloned()
            .collect()
    };
    h.wait("the pool's threads", Duration::from_secs(10), || {
        pool().len() == 2
    });
    let pool = pool();
    let ids: Vec<String> = (0..PLUGINS).map(|n| format!("p-{n}")).collect();
    for id in &ids {
        h.probe(id, r#"{"mode":"count"}"#, PluginLimitsConfig::default());
    }
    // The pipeline's own threads (router, sink stage, sinks, pool, timer)
    // and nothing per plugin.
    let with_plugins = threads();
    assert!(
        with_plugins < before + 20,
        "{PLUGINS} plugins made {} threads",
        with_plugins - before
    );
    h.send(EVENTS);
    h.wait("every plugin", Duration::from_secs(120), || {
        ids.iter().all(|id| h.count(id) == EVENTS)
    });
    // Each plugin's state is its own and exact.
    for id in &ids {
        assert_eq!(h.count(id), EVENTS, "{id}");
    }
    // Idle, no plugin is on a thread and nothing wakes them (no snapshot
    // falls due within the minute): the pool's threads use no CPU.
    let cpu = || pool.iter().map(|t| thread_cpu(t).1).sum::<u64>();
    std::thread::sleep(Duration::from_millis(200));
    let idle_from = cpu();
    std::thread::sleep(Duration::from_secs(1));
    let idle_ticks = cpu() - idle_from;
    assert!(
        idle_ticks <= 2,
        "200 idle plugins took {idle_ticks} ticks of CPU in a second"
    );
    h.pipeline.finish().unwrap();
}
