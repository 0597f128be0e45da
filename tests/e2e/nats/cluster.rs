//! Several hosts sharing a stream's partitions: hosts that start together
//! share them, a host that joins takes a share, a host killed with SIGKILL
//! is taken over, and the union of the outputs equals one host's.

use super::{
    KINDS, assert_unique, config_every, expected_messages, plugins, replay_source, simulated,
};
use crate::common::{Server, probe_variant, temp_dir, wasm};
use crate::services::{Nats, Proxy};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Partitions of the tests' clusters.
const PARTITIONS: u32 = 6;

/// The reference plugins and the probe numbering the trades and funding
/// events each instance gets: a lost or repeated event shifts its numbers.
fn members() -> String {
    let mut all = plugins();
    all.push_str(&format!(
        "[[plugins]]\nid = \"numbers\"\npath = \"{}\"\nconfig = {{ mode = \"number\" }}\n[plugins.subscription]\nkinds = [\"trade\", \"funding\"]\n",
        wasm("prism_probe").display()
    ));
    // Funding arbitrage compares venues: its markets stay together by base.
    all.replace(
        "id = \"funding-arb\"\n",
        "id = \"funding-arb\"\npartition = \"base\"\n",
    )
}

/// A host's config: the market stream of `market`, outputs and cluster of
/// `own`.
fn host_config(dir: &Path, market: &Nats, own: &Nats, host: &str) -> std::path::PathBuf {
    config_every(
        dir,
        &format!("{host}.toml"),
        &format!("data-{host}"),
        300,
        &format!(
            "[nats]\nurl = \"{}\"\nstream = \"{}\"\nsubject_prefix = \"{}\"\noutput_stream = \"{}\"\noutput_prefix = \"{}\"\noutputs = true\n\
             [cluster]\nname = \"{}\"\nhost = \"{host}\"\npartitions = {PARTITIONS}\nlease_ttl = \"2s\"\n\
             [source]\nkind = \"nats\"\ndurable = \"{host}\"\nfetch = 64\n{}",
            market.url,
            market.stream,
            market.prefix,
            own.output_stream,
            own.output_prefix,
            own.cluster,
            members()
        ),
    )
}

/// Outputs per (plugin, partition), in stream order, without their ids.
type ByInstance = BTreeMap<(String, u64), Vec<Value>>;

/// Outputs per (plugin, partition), in stream order, without ids; and ids.
fn by_instance(own: &Nats) -> (ByInstance, Vec<String>) {
    let mut out = ByInstance::new();
    let mut ids = Vec::new();
    for m in own.messages(&own.output_stream) {
        let mut v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["id"].as_str(), Some(m.id.as_str()));
        ids.push(m.id.clone());
        let fields = v.as_object_mut().unwrap();
        fields.remove("id");
        let plugin = fields["plugin"].as_str().unwrap().to_owned();
        let kind = fields["kind"].as_str().unwrap().to_owned();
        assert_eq!(
            m.subject,
            format!("{}.{plugin}.{kind}", own.output_prefix),
            "a partition's outputs are its plugin's"
        );
        // The probe's count document follows each batch (batches differ).
        if plugin == "numbers" && kind == "document" {
            continue;
        }
        let partition = fields["partition"]
            .as_u64()
            .unwrap_or_else(|| panic!("an output without its partition: {v}"));
        assert!(partition < u64::from(PARTITIONS));
        out.entry((plugin, partition)).or_default().push(v);
    }
    (out, ids)
}

/// Who holds each partition, by the documented rule worked out here: the
/// host with the highest FNV-1a 64 of `{cluster}/{partition}/{host}` (ties
/// to the greater name).
fn rendezvous(cluster: &str, hosts: &[&str]) -> Vec<(u64, String)> {
    let fnv = |text: String| {
        text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    (0..u64::from(PARTITIONS))
        .map(|p| {
            let host = hosts
                .iter()
                .max_by_key(|h| (fnv(format!("{cluster}/{p}/{h}")), **h))
                .unwrap();
            (p, (*host).to_owned())
        })
        .collect()
}

fn cluster(server: &Server) -> Value {
    server.json("/api/v1/cluster")
}

/// Waits until `check` holds for the cluster `server` sees.
fn wait_cluster(server: &Server, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let c = cluster(server);
        if check(&c) {
            return c;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{what}: {c:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn held(c: &Value) -> usize {
    c["mine"].as_array().map_or(0, Vec::len)
}

fn owners(c: &Value) -> Vec<(u64, String)> {
    c["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["partition"].as_u64().unwrap(),
                o["host"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits until the output stream has stopped growing for 2 s.
fn settled(own: &Nats) -> u64 {
    let mut last = (u64::MAX, Instant::now());
    let started = Instant::now();
    loop {
        let count = own.count(&own.output_stream);
        if count != last.0 {
            last = (count, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(2) {
            return count;
        }
        assert!(started.elapsed() < Duration::from_secs(240));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until the hosts have consumed the stream and the output stream
/// stays as it is (checked twice: a takeover may read again in between).
fn finished(servers: &[&Server], own: &Nats, events: u64) {
    loop {
        consumed(servers, events);
        let count = settled(own);
        consumed(servers, events);
        if own.count(&own.output_stream) == count {
            return;
        }
    }
}

/// Waits until every host in `servers` has taken `events` events and its
/// consumer holds nothing more (a host reading the stream again after a
/// takeover counts events twice, so the count alone says little).
fn consumed(servers: &[&Server], events: u64) {
    let started = Instant::now();
    for s in servers {
        loop {
            let h = s.json("/health");
            let c = cluster(s);
            let handing_over = c["mine"]
                .as_array()
                .is_some_and(|m| m.iter().any(|p| p["state"] != "running"));
            if h["events"].as_u64() >= Some(events)
                && h["nats"]["pending"] == 0
                && h["nats"]["in_flight"] == 0
                && owners(&c).len() == PARTITIONS as usize
                && !handing_over
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let plugins = s.json("/api/v1/plugins");
                let brief: Vec<String> = plugins["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {} q={} in={}",
                            p["id"], p["state"], p["queue_depth"], p["events_in"]
                        )
                    })
                    .collect();
                panic!("not consumed: {h}\n{}\n{:#}", brief.join("\n"), cluster(s));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn hosts_share_partitions_take_over_a_killed_one_and_make_one_hosts_outputs() {
    let Some(market) = Nats::connect("clu") else {
        return;
    };
    let Some(reference) = Nats::connect("cluref") else {
        return;
    };
    let dir = temp_dir("nats-cluster");
    let events = simulated(&dir, "6m");
    let (n_events, _) = expected_messages(&events);
    // Paced: the stream arrives over ~30 s, so hosts join and die mid-stream.
    let collector = config_every(
        &dir,
        "collector.toml",
        "data-collector",
        100,
        &format!(
            "{}{}",
            market.section(&market.url, KINDS),
            replay_source(&events).replace("pace = 0", "pace = 12")
        ),
    );
    let collecting = Server::start(&collector);

    // Two hosts start together and share the partitions: each exactly as
    // the documented rule says.
    // The names are picked so that each host has a share at each step (the
    // rule is a hash: some names would take nothing).
    let has = |o: &[(u64, String)], h: &str| o.iter().any(|(_, o)| o == h);
    let (a_name, b_name, name) = (0..20)
        .flat_map(|a| (0..20).map(move |b| (a, b)))
        .flat_map(|(a, b)| {
            (0..20).map(move |c| (format!("a{a}"), format!("b{b}"), format!("c{c}")))
        })
        .find(|(a, b, c)| {
            let two = rendezvous(&market.cluster, &[a, b]);
            let three = rendezvous(&market.cluster, &[a, b, c]);
            let after = rendezvous(&market.cluster, &[a, c]);
            has(&two, a) && has(&two, b) && has(&three, b) && has(&three, c) && has(&after, a)
        })
        .unwrap();
    let logged = [(
        "PRISM_LOG",
        "warn,prism::cluster=info,prism_nats::source=info",
    )];
    let a = Server::start_with(&host_config(&dir, &market, &market, &a_name), &logged);
    let b = Server::start_with(&host_config(&dir, &market, &market, &b_name), &logged);
    let expected_ab = rendezvous(&market.cluster, &[&a_name, &b_name]);
    let c = wait_cluster(&a, "two hosts hold their partitions", |c| {
        owners(c) == expected_ab && c["hosts"].as_array().map_or(0, Vec::len) == 2
    });
    assert_eq!(c["name"], market.cluster.as_str());
    assert_eq!(c["partitions"], PARTITIONS);
    // b's own view is a round behind a's at most.
    wait_cluster(&b, "b sees the same owners", |c| owners(c) == expected_ab);

    // A third joins mid-stream and takes its share from the others.
    let running = |s: &Server| s.json("/health")["source"]["state"] != "finished";
    let expected_abc = rendezvous(&market.cluster, &[&a_name, &b_name, &name]);
    assert!(running(&collecting), "the stream was over before the join");
    let joined = Server::start_with(&host_config(&dir, &market, &market, &name), &logged);
    wait_cluster(&joined, "the joining host takes its share", |c| {
        owners(c) == expected_abc && c["hosts"].as_array().map_or(0, Vec::len) == 3
    });
    assert!(
        a.json("/api/v1/cluster")["handed_over"].as_u64().unwrap()
            + b.json("/api/v1/cluster")["handed_over"].as_u64().unwrap()
            > 0,
        "partitions were handed over to the new host"
    );

    // b dies mid-stream, without a word; a and the new host take its
    // partitions, as the rule says for the two of them.
    assert!(running(&collecting), "the stream was over before the kill");
    b.kill();
    let killed = Instant::now();
    let expected_after = rendezvous(&market.cluster, &[&a_name, &name]);
    // Waited for together: a live host's entry can be late for a moment
    // under load (its leases still hold its partitions), which is not
    // what this checks — that b is gone and its partitions taken.
    let c = wait_cluster(&a, "b's partitions taken over, b gone", |c| {
        owners(c) == expected_after && c["hosts"].as_array().map_or(0, Vec::len) == 2
    });
    eprintln!("b's partitions taken over in {:?}", killed.elapsed());
    let hosts: Vec<&str> = c["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert!(!hosts.contains(&b_name.as_str()), "{c:#}");

    // The stream ends; the survivors finish it.
    let started = Instant::now();
    while collecting.json("/health")["source"]["state"] != "finished" {
        assert!(started.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(200));
    }
    collecting.terminate();
    finished(&[&a, &joined], &market, n_events);
    assert!(a.terminate().success());
    assert!(joined.terminate().success());

    // One host over the same stream, alone in a cluster of its own.
    let alone = Server::start(&host_config(&dir, &market, &reference, "alone"));
    wait_cluster(&alone, "one host holds every partition", |c| {
        held(c) == PARTITIONS as usize
    });
    finished(&[&alone], &reference, n_events);
    // Alone and never stopped, it published nothing twice, but for a
    // message sent again after its acknowledgement was late.
    let h = alone.json("/health");
    assert!(
        h["nats"]["duplicates"].as_u64() <= h["nats"]["republished"].as_u64(),
        "{h}"
    );
    assert!(alone.terminate().success());

    // Each trade an instance of the probe gets makes three outputs: counted
    // from the file, partition by partition (FNV-1a of `exchange:symbol`).
    let mut trades: BTreeMap<u64, usize> = BTreeMap::new();
    for line in std::fs::read_to_string(&events).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["type"] == "trade" {
            let key = format!(
                "{}:{}",
                v["exchange"].as_str().unwrap(),
                v["symbol"].as_str().unwrap()
            );
            let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            *trades.entry(hash % u64::from(PARTITIONS)).or_default() += 1;
        }
    }
    let (union, ids) = by_instance(&market);
    assert_unique(&ids);
    let (single, single_ids) = by_instance(&reference);
    assert_unique(&single_ids);
    assert!(
        single
            .keys()
            .map(|(p, _)| p)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            >= 4,
        "the plugins made outputs: {:?}",
        single.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        union.keys().collect::<Vec<_>>(),
        single.keys().collect::<Vec<_>>(),
        "the same instances made outputs"
    );
    for (partition, n) in &trades {
        let made = |outputs: &ByInstance| {
            outputs
                .get(&("numbers".to_owned(), *partition))
                .map_or(0, Vec::len)
        };
        assert_eq!(made(&single), 3 * n, "one host, partition {partition}");
        assert_eq!(made(&union), 3 * n, "the cluster, partition {partition}");
    }
    let mut differences = Vec::new();
    for (instance, want) in &single {
        let got = &union[instance];
        if let Some(at) = (0..got.len().max(want.len())).find(|i| got.get(*i) != want.get(*i)) {
            differences.push(format!(
                "{instance:?}: {} outputs, {} wanted; first difference at {at}:\n got {:?}\nwant {:?}",
                got.len(),
                want.len(),
                got.get(at),
                want.get(at)
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Every instance `server` runs: (id, sha256).
fn instances(server: &Server) -> Vec<(String, String)> {
    server.json("/api/v1/plugins")["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A host whose NATS server goes away mid-run still stops on SIGTERM
/// within the harness's 30 s: the cluster's rounds end at the stop, and
/// leaving waits a lease time at most for a server that does not answer.
#[test]
fn a_host_cut_off_from_nats_still_stops() {
    let Some(nats) = Nats::connect("clucut") else {
        return;
    };
    let dir = temp_dir("nats-cluster-cut");
    let proxy = Proxy::start(nats.address());
    let config = host_config(&dir, &nats, &nats, "cut");
    let via_proxy = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&nats.url, &format!("nats://{}", proxy.address));
    std::fs::write(&config, via_proxy).unwrap();
    let host = Server::start(&config);
    wait_cluster(&host, "the host holds every partition", |c| {
        owners(c).len() == PARTITIONS as usize
    });
    proxy.cut();
    std::thread::sleep(Duration::from_secs(1));
    let started = Instant::now();
    host.terminate();
    eprintln!("stopped {:?} after SIGTERM", started.elapsed());
}

#[test]
fn a_swap_on_one_host_reaches_every_host_and_every_host_that_joins() {
    const TOKEN: &str = "e2e-cluster-token";
    let Some(nats) = Nats::connect("clucode") else {
        return;
    };
    // The lease is longer than in the other tests: the last check below
    // refuses a second process as host `c` only if `c` renews its entry
    // within one lease time, which a machine starved by the rest of the
    // suite (three hosts, a collector) has missed at 2 s.
    let dir = temp_dir("nats-cluster-code");
    let events = simulated(&dir, "1m");
    let collector = config_every(
        &dir,
        "collector.toml",
        "data-collector",
        100,
        &format!(
            "{}{}",
            nats.section(&nats.url, KINDS),
            replay_source(&events)
        ),
    );
    let collecting = Server::start(&collector);
    // Each host has its own copy of the plugin's file.
    let host = |name: &str| {
        let file = dir.join(format!("{name}-probe.wasm"));
        std::fs::copy(wasm("prism_probe"), &file).unwrap();
        let config = config_every(
            &dir,
            &format!("{name}.toml"),
            &format!("data-{name}"),
            300,
            &format!(
                "[nats]\nurl = \"{}\"\nstream = \"{}\"\nsubject_prefix = \"{}\"\noutput_stream = \"{}\"\noutput_prefix = \"{}\"\noutputs = true\n\
                 [cluster]\nname = \"{}\"\nhost = \"{name}\"\npartitions = 4\nlease_ttl = \"4s\"\n\
                 [source]\nkind = \"nats\"\ndurable = \"{name}\"\n\
                 [[plugins]]\nid = \"probe\"\npath = \"{}\"\nconfig = {{ mode = \"count\" }}\n",
                nats.url,
                nats.stream,
                nats.prefix,
                nats.output_stream,
                nats.output_prefix,
                nats.cluster,
                file.display()
            ),
        );
        Server::start_with(&config, &[("PRISM_ADMIN_TOKEN", TOKEN)])
    };
    let a = host("a");
    let b = host("b");
    wait_cluster(&a, "two hosts share four partitions", |c| {
        c["hosts"].as_array().map_or(0, Vec::len) == 2 && owners(c).len() == 4 && held(c) > 0
    });
    wait_cluster(&b, "b holds some", |c| held(c) > 0);
    let old = instances(&a)[0].1.clone();
    let before_on_b = instances(&b);
    assert!(before_on_b.iter().all(|(_, sha)| *sha == old));

    // An upload to one instance on a: every instance on both hosts runs it.
    let new = probe_variant(1);
    let (one, _) = instances(&a)[0].clone();
    let (status, body) = a.request(
        "PUT",
        &format!("/api/v1/plugins/{one}/wasm"),
        Some(TOKEN),
        &new,
    );
    assert_eq!(status, 200, "{body}");
    let swapped: Value = serde_json::from_str(&body).unwrap();
    let new_sha = swapped["sha256"].as_str().unwrap().to_owned();
    assert_ne!(new_sha, old);
    let started = Instant::now();
    loop {
        let all: Vec<(String, String)> = [&a, &b].iter().flat_map(|s| instances(s)).collect();
        if all.len() == 4 && all.iter().all(|(_, sha)| *sha == new_sha) {
            break;
        }
        // Each host's cluster status with it: its last error names an
        // instance that refused the code, or a round that failed.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not every instance runs the new code {new_sha}: {all:?}\na: {:#}\nb: {:#}",
            cluster(&a),
            cluster(&b)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The state carried over the swap on the other host. Only an instance
    // that ran through the swap counts: b may still be taking a partition
    // from a when the swap happens, and an instance started after it runs
    // the new code from its start (no swap).
    let after_on_b: Vec<String> = instances(&b).into_iter().map(|(id, _)| id).collect();
    let through: Vec<&String> = before_on_b
        .iter()
        .map(|(id, _)| id)
        .filter(|id| after_on_b.contains(id))
        .collect();
    assert!(
        !through.is_empty(),
        "before {before_on_b:?}, after {after_on_b:?}"
    );
    for id in through {
        assert_eq!(b.json(&format!("/api/v1/plugins/{id}"))["swaps"], 1, "{id}");
    }

    // A host that joins with the old file runs the cluster's code.
    let c = host("c");
    wait_cluster(&c, "c takes a share", |c| held(c) > 0);
    let on_c = instances(&c);
    assert!(!on_c.is_empty());
    assert!(on_c.iter().all(|(_, sha)| *sha == new_sha), "{on_c:?}");
    let cluster_code = c.json("/api/v1/cluster");
    assert_eq!(cluster_code["last_error"], Value::Null, "{cluster_code:#}");

    // A host cutting the stream in another number of partitions is refused.
    let odd = std::fs::read_to_string(dir.join("c.toml"))
        .unwrap()
        .replace("partitions = 4", "partitions = 5")
        .replace("host = \"c\"", "host = \"d\"")
        .replace("durable = \"c\"", "durable = \"d\"");
    let refusal = |name: &str, config: String| {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let run = crate::common::output_within(
            crate::common::prism()
                .args(["run", "--config"])
                .arg(&path)
                .args(["--listen", "127.0.0.1:0"]),
            Duration::from_secs(60),
        );
        assert!(!run.status.success(), "{name} was not refused");
        String::from_utf8_lossy(&run.stderr).into_owned()
    };
    let said = refusal("d", odd);
    assert!(
        said.contains("runs with 4 partitions") && said.contains("cluster.partitions = 5"),
        "{said}"
    );
    // So is a host reading through another's durable consumer (each would
    // take part of the other's messages), and a second process running as
    // a live host (both would hold its leases).
    let c_config = std::fs::read_to_string(dir.join("c.toml")).unwrap();
    let said = refusal("e", c_config.replace("host = \"c\"", "host = \"e\""));
    assert!(
        said.contains("host `c` reads through the durable consumer `c`"),
        "{said}"
    );
    let said = refusal(
        "c-again",
        c_config.replace("durable = \"c\"", "durable = \"f\""),
    );
    assert!(said.contains("another process runs as host `c`"), "{said}");
    assert!(
        held(&c.json("/api/v1/cluster")) > 0,
        "c still holds its share"
    );
    for s in [a, b, c, collecting] {
        s.terminate();
    }
}
