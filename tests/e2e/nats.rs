//! NATS JetStream end to end against the machine's server: a collector
//! publishing a replay, a worker consuming it whose outputs equal a direct
//! replay's, a collector run again publishing nothing twice, a worker
//! killed with SIGKILL mid-stream and restarted, an outage through a proxy,
//! a consumer deleted under a worker.

mod cluster;

use crate::common::{Server, prism, temp_dir, wasm};
use crate::services::{Nats, Proxy, Stored};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const KINDS: &str =
    r#"collect = ["trade", "liquidation", "funding", "open_interest", "book", "position"]"#;

/// The reference plugins the outputs are compared on.
fn plugins() -> String {
    plugins_of(&[
        ("long-short-ratio", "long_short_ratio"),
        ("liquidation-map", "liquidation_map"),
        ("whale-detector", "whale_detector"),
        ("funding-arb", "funding_arb"),
    ])
}

fn plugins_of(list: &[(&str, &str)]) -> String {
    list.iter()
        .map(|(id, file)| {
            format!(
                "[[plugins]]\nid = \"{id}\"\npath = \"{}\"\n",
                wasm(file).display()
            )
        })
        .collect()
}

/// The simulator's stream: every event kind, several venues.
fn simulated(dir: &Path, duration: &str) -> PathBuf {
    let path = dir.join("events.jsonl");
    let status = prism()
        .args(["sim", "--seed", "11", "--duration", duration, "--out"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

/// Market events and distinct instruments of a replay file, counted from
/// its lines: what a collector must publish (one message per event, one
/// instrument record per instrument).
fn expected_messages(events: &Path) -> (u64, u64) {
    let mut count = 0;
    let mut instruments = HashSet::new();
    for line in std::fs::read_to_string(events).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let kind = v["type"].as_str().unwrap();
        if kind == "instrument" {
            continue;
        }
        count += 1;
        instruments.insert((
            v["exchange"].as_str().unwrap().to_owned(),
            v["symbol"].as_str().unwrap().to_owned(),
        ));
    }
    (count, instruments.len() as u64)
}

fn write_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// A config: `[runtime]` in `data`, `recovery` keys, then the rest.
fn config(dir: &Path, name: &str, data: &str, rest: &str) -> PathBuf {
    config_every(dir, name, data, 100, rest)
}

/// As [`config`], with checkpoints `every_ms` apart.
fn config_every(dir: &Path, name: &str, data: &str, every_ms: u64, rest: &str) -> PathBuf {
    write_config(
        dir,
        name,
        &format!(
            "[runtime]\ndata_dir = \"{}\"\nwatch = false\n[recovery]\nsnapshot_every_ms = {every_ms}\nsnapshot_every_batches = 100000\nrestore_on_start = true\n{rest}",
            dir.join(data).display()
        ),
    )
}

fn replay_source(events: &Path) -> String {
    format!(
        "[source]\nkind = \"replay\"\npath = \"{}\"\npace = 0\n",
        events.display()
    )
}

fn nats_source(fetch: usize) -> String {
    format!("[source]\nkind = \"nats\"\ndurable = \"worker\"\nfetch = {fetch}\n")
}

/// A worker of the reference plugins over the test's streams, pulling
/// `fetch` messages at a time.
fn worker_config(nats: &Nats, dir: &Path, fetch: usize) -> PathBuf {
    config(
        dir,
        "worker.toml",
        "data-worker",
        &format!(
            "{}{}{}",
            nats.section(&nats.url, "outputs = true"),
            nats_source(fetch),
            plugins()
        ),
    )
}

/// Publishes `events` to the test's market stream with a collector run to
/// the end.
fn collect(nats: &Nats, dir: &Path, events: &Path) {
    let collector = config(
        dir,
        "collector.toml",
        "data-collector",
        &format!(
            "{}{}",
            nats.section(&nats.url, KINDS),
            replay_source(events)
        ),
    );
    let server = Server::start(&collector);
    wait_published(&server);
    server.terminate();
}

/// Waits until the server's source has finished and NATS has nothing in
/// flight.
fn wait_published(server: &Server) {
    let started = Instant::now();
    loop {
        let h = server.json("/health");
        if h["source"]["state"] == "finished" && h["nats"]["in_flight"] == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not published: {h}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the worker has taken `events` events and its outputs have
/// stopped growing in `stream`.
fn wait_consumed(server: &Server, nats: &Nats, stream: &str, events: u64) -> u64 {
    let started = Instant::now();
    let mut last = (u64::MAX, Instant::now());
    loop {
        let h = server.json("/health");
        let count = nats.count(stream);
        if count != last.0 {
            last = (count, Instant::now());
        }
        if h["events"].as_u64() >= Some(events)
            && h["nats"]["in_flight"] == 0
            && last.1.elapsed() > Duration::from_millis(1500)
        {
            return count;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "not consumed: {h}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Outputs per plugin, in order, without their ids; and the ids.
fn outputs(messages: &[Stored]) -> (BTreeMap<String, Vec<Value>>, Vec<String>) {
    let mut by_plugin: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut ids = Vec::new();
    for m in messages {
        let mut v: Value = serde_json::from_slice(&m.payload).unwrap();
        let id = v["id"].as_str().unwrap().to_owned();
        assert_eq!(id, m.id, "the message id is the output's id");
        ids.push(id);
        let fields = v.as_object_mut().unwrap();
        fields.remove("id");
        let plugin = fields["plugin"].as_str().unwrap().to_owned();
        let kind = fields["kind"].as_str().unwrap().to_owned();
        assert_eq!(
            m.subject.rsplit('.').next().unwrap(),
            kind,
            "subject of {v}"
        );
        // The probe's count document follows each batch, and a bus and a
        // file cut batches differently: only its numbered outputs compare.
        if plugin == "numbers" && kind == "document" {
            continue;
        }
        by_plugin.entry(plugin).or_default().push(v);
    }
    (by_plugin, ids)
}

/// Asserts two runs' outputs are equal, naming the first difference.
fn assert_same(got: &BTreeMap<String, Vec<Value>>, want: &BTreeMap<String, Vec<Value>>) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (plugin, w) in want {
        let g = &got[plugin];
        if let Some(at) = (0..g.len().max(w.len())).find(|i| g.get(*i) != w.get(*i)) {
            panic!(
                "{plugin}: {} outputs, {} wanted; first difference at {at}:\n got {:?}\nwant {:?}",
                g.len(),
                w.len(),
                g.get(at),
                w.get(at)
            );
        }
    }
}

fn assert_unique(ids: &[String]) {
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an output id appears twice");
}

/// A direct replay of `events` through the plugins, its outputs published
/// to an output stream of its own (`tag` keeps it apart from other tests').
fn direct_outputs(dir: &Path, events: &Path, tag: &str) -> BTreeMap<String, Vec<Value>> {
    direct_outputs_of(dir, events, tag, &plugins())
}

fn direct_outputs_of(
    dir: &Path,
    events: &Path,
    tag: &str,
    plugins: &str,
) -> BTreeMap<String, Vec<Value>> {
    let Some(direct) = Nats::connect(&format!("direct{tag}")) else {
        unreachable!("the caller's connection worked");
    };
    let cfg = config(
        dir,
        "direct.toml",
        "data-direct",
        &format!(
            "{}{}{}",
            direct.section(&direct.url, "outputs = true"),
            replay_source(events),
            plugins
        ),
    );
    let server = Server::start(&cfg);
    wait_published(&server);
    server.terminate();
    let messages = direct.messages(&direct.output_stream);
    let (by_plugin, ids) = outputs(&messages);
    assert_unique(&ids);
    assert!(
        by_plugin.len() >= 3 && by_plugin.values().all(|o| !o.is_empty()),
        "the reference plugins made outputs: {:?}",
        by_plugin.keys().collect::<Vec<_>>()
    );
    by_plugin
}

#[test]
fn a_worker_over_the_bus_makes_what_a_direct_replay_makes() {
    let Some(nats) = Nats::connect("bus") else {
        return;
    };
    let dir = temp_dir("nats-bus");
    let events = simulated(&dir, "3m");
    let (n_events, n_instruments) = expected_messages(&events);

    // The collector: the replay published, nothing else.
    let collector = config(
        &dir,
        "collector.toml",
        "data-collector",
        &format!(
            "{}{}",
            nats.section(&nats.url, KINDS),
            replay_source(&events)
        ),
    );
    let server = Server::start(&collector);
    wait_published(&server);
    let published = nats.messages(&nats.stream);
    assert_eq!(published.len() as u64, n_events + n_instruments);
    // Subjects name the record they carry; ids are unique.
    let mut ids = HashSet::new();
    for m in &published {
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        let kind = v["type"].as_str().unwrap();
        assert_eq!(
            m.subject,
            format!(
                "{}.{}.{}.{kind}",
                nats.prefix,
                v["exchange"].as_str().unwrap(),
                v["symbol"].as_str().unwrap().replace('.', "_")
            )
        );
        assert!(ids.insert(m.id.clone()), "id {} twice", m.id);
    }
    server.terminate();
    // Run again: the stream drops every message as one it has.
    let server = Server::start(&collector);
    wait_published(&server);
    let h = server.json("/health");
    assert_eq!(h["nats"]["published"], published.len() as u64);
    server.terminate();
    assert_eq!(nats.count(&nats.stream), published.len() as u64);

    // The worker: consumes the stream into the plugins.
    let worker = worker_config(&nats, &dir, 256);
    let server = Server::start(&worker);
    wait_consumed(&server, &nats, &nats.output_stream, n_events);
    let h = server.json("/health");
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["nats"]["consumed"], published.len() as u64);
    let metrics = server.get("/metrics").1;
    assert!(
        metrics.contains("prism_nats_consumer_pending 0"),
        "{metrics}"
    );
    server.terminate();
    let (over_bus, ids) = outputs(&nats.messages(&nats.output_stream));
    assert_unique(&ids);
    assert_same(&over_bus, &direct_outputs(&dir, &events, "bus"));
}

#[test]
fn a_worker_killed_mid_stream_resumes_from_its_checkpoints_without_a_duplicate() {
    let Some(nats) = Nats::connect("kill") else {
        return;
    };
    let dir = temp_dir("nats-kill");
    let events = simulated(&dir, "6m");
    let (n_events, _) = expected_messages(&events);
    collect(&nats, &dir, &events);

    // The reference plugins, and the probe numbering the trades and funding
    // events it gets: a lost or repeated event shows in its numbers.
    let mut restarted = plugins();
    restarted.push_str(&format!(
        "[[plugins]]\nid = \"numbers\"\npath = \"{}\"\nconfig = {{ mode = \"number\" }}\n[plugins.subscription]\nkinds = [\"trade\", \"funding\"]\n",
        wasm("prism_probe").display()
    ));
    // Checkpoints a second apart: the worker is killed before some plugins
    // made their first, and after others made theirs.
    let worker = config_every(
        &dir,
        "worker.toml",
        "data-worker",
        1000,
        &format!(
            "{}{}{}",
            nats.section(&nats.url, "outputs = true"),
            nats_source(20),
            restarted
        ),
    );
    let server = Server::start(&worker);
    let started = Instant::now();
    loop {
        let taken = server.json("/health")["events"].as_u64().unwrap_or(0);
        if taken >= n_events / 3 {
            assert!(taken < n_events, "the worker finished before it was killed");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let server = Server::start(&worker);
    // Restored plugins read again from their checkpoints: at least what
    // was left, at most everything.
    let started = Instant::now();
    loop {
        let h = server.json("/health");
        if h["source"]["events"].as_u64() > Some(0) && h["nats"]["pending"] == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{h}");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_consumed(&server, &nats, &nats.output_stream, 1);
    let h = server.json("/health");
    // Restored from the checkpoints (the stream read again from its start,
    // what they cover skipped): what was published before the kill and
    // made again is not published twice.
    assert!(h["nats"]["suppressed"].as_u64().unwrap() > 0, "{h}");
    assert!(server.terminate().success());
    // A clean stop left every plugin a checkpoint with its instruments: the
    // next start reads nothing again, and makes nothing again.
    let published = nats.messages(&nats.output_stream).len();
    let server = Server::start(&worker);
    std::thread::sleep(Duration::from_secs(2));
    let h = server.json("/health");
    assert_eq!(h["nats"]["consumed"], 0, "{h}");
    assert_eq!(h["failed_plugins"], serde_json::json!([]), "{h}");
    assert!(server.terminate().success());
    assert_eq!(nats.messages(&nats.output_stream).len(), published);
    let (over_bus, ids) = outputs(&nats.messages(&nats.output_stream));
    assert_unique(&ids);
    assert_same(
        &over_bus,
        &direct_outputs_of(&dir, &events, "kill", &restarted),
    );
}

#[test]
fn a_nats_outage_loses_nothing() {
    let Some(nats) = Nats::connect("outage") else {
        return;
    };
    let dir = temp_dir("nats-outage");
    let events = simulated(&dir, "3m");
    let (n_events, n_instruments) = expected_messages(&events);
    let proxy = Proxy::start(nats.address());
    let via = format!("nats://{}", proxy.address);
    // Paced, so the cut falls mid-stream: 3 simulated minutes in ~3 s.
    let collector = config(
        &dir,
        "collector.toml",
        "data-collector",
        &format!(
            "{}[source]\nkind = \"replay\"\npath = \"{}\"\npace = 60\n",
            nats.section(&via, &format!("{KINDS}\nconnect_timeout_ms = 1000")),
            events.display()
        ),
    );
    let server = Server::start(&collector);
    std::thread::sleep(Duration::from_millis(800));
    proxy.cut();
    let started = Instant::now();
    loop {
        let h = server.json("/health");
        if h["status"] == "degraded" {
            assert!(
                h["nats"]["reason"]
                    .as_str()
                    .unwrap()
                    .contains("unreachable"),
                "{h}"
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{h}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    proxy.restore();
    wait_published(&server);
    server.terminate();
    let published = nats.messages(&nats.stream);
    assert_eq!(published.len() as u64, n_events + n_instruments);
    let ids: HashSet<&String> = published.iter().map(|m| &m.id).collect();
    assert_eq!(ids.len(), published.len());
    // In order: positions rise with the stream's sequence.
    let positions: Vec<u64> = published
        .iter()
        .map(|m| m.id.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "out of order");

    // A worker through the proxy, cut mid-stream: its pulls and its
    // output publishes fail, then go on; every output once.
    let worker = config(
        &dir,
        "worker.toml",
        "data-worker",
        &format!(
            "{}{}{}",
            nats.section(&via, "outputs = true\nconnect_timeout_ms = 1000"),
            nats_source(50),
            plugins()
        ),
    );
    let server = Server::start(&worker);
    let started = Instant::now();
    while server.json("/health")["events"].as_u64().unwrap_or(0) < n_events / 4 {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(10));
    }
    proxy.cut();
    // Seen when a pull or an acknowledgement times out.
    let started = Instant::now();
    let h = loop {
        let h = server.json("/health");
        if h["status"] == "degraded" {
            break h;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{h}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        h["events"].as_u64().unwrap() < n_events,
        "cut too late: {h}"
    );
    proxy.restore();
    wait_consumed(&server, &nats, &nats.output_stream, n_events);
    let h = server.json("/health");
    assert_eq!(h["status"], "ok", "{h}");
    server.terminate();
    let (over_bus, ids) = outputs(&nats.messages(&nats.output_stream));
    assert_unique(&ids);
    assert_same(&over_bus, &direct_outputs(&dir, &events, "outage"));
}

#[test]
fn a_consumer_deleted_under_a_worker_is_made_again_where_the_worker_was() {
    let Some(nats) = Nats::connect("deleted") else {
        return;
    };
    let dir = temp_dir("nats-deleted");
    let events = simulated(&dir, "3m");
    let (n_events, _) = expected_messages(&events);
    collect(&nats, &dir, &events);

    let worker = worker_config(&nats, &dir, 20);
    let server = Server::start(&worker);
    let started = Instant::now();
    while server.json("/health")["events"].as_u64().unwrap_or(0) < n_events / 4 {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    // Twice: once mid-stream, once more right after it was made again.
    assert!(nats.delete_consumer(&nats.stream, "worker"));
    let taken = server.json("/health")["events"].as_u64().unwrap();
    assert!(taken < n_events, "deleted too late: {taken} of {n_events}");
    std::thread::sleep(Duration::from_millis(300));
    nats.delete_consumer(&nats.stream, "worker");
    wait_consumed(&server, &nats, &nats.output_stream, n_events);
    let h = server.json("/health");
    assert_eq!(h["status"], "ok", "{h}");
    assert!(h["nats"]["errors"].as_u64().unwrap() >= 1, "{h}");
    server.terminate();
    let (over_bus, ids) = outputs(&nats.messages(&nats.output_stream));
    assert_unique(&ids);
    assert_same(&over_bus, &direct_outputs(&dir, &events, "deleted"));
}

#[test]
fn outputs_wait_in_the_spool_through_an_outage_and_a_restart_without_holding_the_pipeline() {
    let Some(nats) = Nats::connect("spool") else {
        return;
    };
    let dir = temp_dir("nats-spool");
    let events = simulated(&dir, "3m");
    let (n_events, _) = expected_messages(&events);
    let proxy = Proxy::start(nats.address());
    let via = format!("nats://{}", proxy.address);
    // The reference plugins and the numbering probe (three outputs a trade:
    // tens of thousands).
    let mut members = plugins();
    members.push_str(&format!(
        "[[plugins]]\nid = \"numbers\"\npath = \"{}\"\nconfig = {{ mode = \"number\" }}\n[plugins.subscription]\nkinds = [\"trade\", \"funding\"]\n",
        wasm("prism_probe").display()
    ));
    // A replay publishing its outputs, with a sink queue of 2 batches: far
    // less than the run makes, so only the spool can hold them.
    let replay = config(
        &dir,
        "replay.toml",
        "data-replay",
        &format!(
            "{}[pipeline]\noutput_queue = 2\n[source]\nkind = \"replay\"\npath = \"{}\"\npace = 30\n{}",
            nats.section(&via, "outputs = true\nconnect_timeout_ms = 1000"),
            events.display(),
            members
        ),
    );
    let server = Server::start(&replay);
    proxy.cut();
    // NATS is away for the whole run: the pipeline still takes every event.
    let started = Instant::now();
    loop {
        let h = server.json("/health");
        if h["source"]["state"] == "finished" {
            assert!(h["events"].as_u64() >= Some(n_events), "{h}");
            assert!(h["nats"]["spooled_bytes"].as_u64() > Some(0), "{h}");
            assert_eq!(h["status"], "degraded", "{h}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the pipeline was held back: {h}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Stopped while NATS is still away: the outputs stay in the spool.
    assert!(server.terminate().success());
    assert_eq!(nats.count(&nats.output_stream), 0);
    let spooled: u64 = std::fs::read_dir(dir.join("data-replay/nats/outputs"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(spooled > 0, "the spool holds the outputs");
    // Back, and started again: the spool goes first, then the replay
    // (from the start: no checkpoint was kept, since the stream had none of
    // its outputs) makes them again, and the stream drops none and keeps
    // none twice.
    proxy.restore();
    let server = Server::start(&replay);
    wait_published(&server);
    let h = server.json("/health");
    assert_eq!(h["nats"]["spooled_bytes"], 0, "{h}");
    assert!(h["nats"]["suppressed"].as_u64() > Some(0), "{h}");
    server.terminate();
    let (published, ids) = outputs(&nats.messages(&nats.output_stream));
    assert_unique(&ids);
    assert!(ids.len() > 10_000, "{} outputs", ids.len());
    assert_same(
        &published,
        &direct_outputs_of(&dir, &events, "spool", &members),
    );
}
