//! PostgreSQL persistence, end to end against the machine's server: rows
//! checked against values worked out by hand, restarts, outages through a
//! proxy the test cuts, `kill -9` mid-write, history beyond memory.

use crate::common::{Server, fixture, temp_dir, wasm};
use crate::services::{Postgres, Proxy};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A config: replay `events` (at `pace`, 0 = flat out) into `plugins`,
/// with PostgreSQL at `url` in the test's schema; `more` adds keys to that
/// section, then whole sections.
fn config(
    dir: &Path,
    pg: &Postgres,
    url: &str,
    events: &Path,
    pace: f64,
    more: &str,
    plugins: &str,
) -> PathBuf {
    let path = dir.join("prism.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[runtime]
data_dir = "{data}"
watch = false
[recovery]
snapshot_every_ms = 100
[postgres]
url = "{url}"
schema = "{schema}"
connect_timeout_ms = 2000
{more}
[source]
kind = "replay"
path = "{events}"
pace = {pace}
{plugins}
"#,
            data = dir.join("data").display(),
            schema = pg.schema,
            events = events.display(),
        ),
    )
    .unwrap();
    path
}

fn plugin(id: &str, file: &str, config: &str) -> String {
    format!(
        "[[plugins]]\nid = \"{id}\"\npath = \"{}\"\nconfig = {config}\n",
        wasm(file).display()
    )
}

/// `n` trades, alternating BTCUSDT and ETHUSDT on binance, 1 ms apart.
fn trades(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("trades.jsonl");
    let mut text = String::with_capacity(n * 120);
    for i in 0..n {
        let symbol = if i % 2 == 0 { "BTCUSDT" } else { "ETHUSDT" };
        let side = if i % 3 == 0 { "sell" } else { "buy" };
        text.push_str(&format!(
            "{{\"type\":\"trade\",\"exchange\":\"binance\",\"symbol\":\"{symbol}\",\"ts\":{},\"price\":\"100.5\",\"size\":\"0.25\",\"side\":\"{side}\"}}\n",
            1_700_000_000_000u64 + i as u64
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Asserts the `number` probe's outputs are each event number 1..=n
/// exactly once, in every table it writes.
fn assert_numbered_once(pg: &Postgres, plugin: &str, n: i64) {
    for (table, value) in [
        ("series", "value::bigint"),
        ("logs", "(body->>'n')::bigint"),
        ("signals", "substr(reason, 3)::bigint"),
    ] {
        let rows = pg.rows(&format!(
            "SELECT count(*), count(DISTINCT {value}), min({value}), max({value})
             FROM {table} WHERE plugin = '{plugin}'"
        ));
        let (count, distinct, min, max): (i64, i64, i64, i64) = (
            rows[0].get(0),
            rows[0].get(1),
            rows[0].get(2),
            rows[0].get(3),
        );
        assert_eq!(
            (count, distinct, min, max),
            (n, n, 1, n),
            "{table}: (rows, distinct numbers, min, max)"
        );
    }
}

#[test]
fn a_replay_is_stored_row_by_row_as_worked_out_by_hand() {
    let Some(pg) = Postgres::connect("rows") else {
        return;
    };
    let dir = temp_dir("pg-rows");
    let plugins = plugin("liquidation-map", "liquidation_map", "{}")
        + &plugin(
            "whale-detector",
            "whale_detector",
            "{ watched = [\"0xwhale\"] }",
        );
    let config = config(
        &dir,
        &pg,
        &pg.url,
        &fixture("analytics.jsonl"),
        0.0,
        "archive = [\"trade\", \"liquidation\", \"funding\", \"position\"]",
        &plugins,
    );
    let server = Server::start(&config);
    // Positions number the stream from 0, each new instrument declared
    // just before its first event: 0 decl binance BTCUSDT, 1 funding,
    // 2 trade, 3 decl hyperliquid BTC, 4 trade, 5 funding, 6-8
    // liquidations, 9 trade, 10 position, 11 trade. Both plugins' last
    // checkpoint covers position 11.
    pg.wait_for(
        "SELECT count(*) FROM checkpoints WHERE position = 11",
        2,
        Duration::from_secs(30),
    );
    let got: Vec<String> = pg
        .rows(
            "SELECT concat_ws(' ', id, exchange, symbol, ts, price, size, side,
                              coalesce(buyer, '-'), coalesce(seller, '-'), notional)
             FROM transactions ORDER BY id",
        )
        .iter()
        .map(|r| r.get(0))
        .collect();
    // The fixture's trades, notional = price × size by hand.
    assert_eq!(
        got,
        [
            "2 binance BTCUSDT 1699999981000 60012.5 1 buy - - 60012.5",
            "4 hyperliquid BTC 1699999981500 60000 2 buy 0xaaa 0xwhale 120000",
            "9 hyperliquid BTC 1699999984500 60100 3 buy - - 180300",
            "11 binance BTCUSDT 1700000040000 60100 1 sell - - 60100",
        ]
    );
    let s = |x: &str| x.to_owned();
    // The liquidation map's log entries: notional = price × size.
    let liquidations: Vec<(i64, String, String, String, String)> = pg
        .rows("SELECT ts, side, price::text, size::text, notional::text FROM liquidations ORDER BY ts")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        liquidations,
        vec![
            (
                1_699_999_982_000,
                s("long"),
                s("59995.5"),
                s("2"),
                s("119991")
            ),
            (
                1_699_999_983_000,
                s("long"),
                s("59999"),
                s("0.5"),
                s("29999.5")
            ),
            (
                1_699_999_984_000,
                s("short"),
                s("60120"),
                s("1"),
                s("60120")
            ),
        ]
    );
    // Archived liquidations and funding are the input events themselves.
    assert_eq!(pg.number("SELECT count(*) FROM liquidation_events"), 3);
    assert_eq!(
        pg.number("SELECT sum(position)::bigint FROM liquidation_events"),
        6 + 7 + 8
    );
    let funding: Vec<(i64, String, i32)> = pg
        .rows("SELECT position, rate::text, interval_hours FROM funding_events ORDER BY position")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(funding, vec![(1, s("0.0001"), 8), (5, s("0.00005"), 1)]);
    // The position view: 0xbbb's last position, exactly as sent.
    let positions: Vec<(String, String, String, String, String)> = pg
        .rows("SELECT account, size::text, entry_price::text, liquidation_price::text, leverage::text FROM positions")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        positions,
        vec![(s("0xbbb"), s("5"), s("59000"), s("54321"), s("10"))]
    );
    // The whale detector watched 0xwhale, who sold 2 BTC at 60000.
    assert_eq!(
        pg.number("SELECT count(*) FROM whale_watches WHERE account = '0xwhale'"),
        1
    );
    let activity: Vec<(String, String, String)> = pg
        .rows("SELECT account, kind, body->>'notional' FROM whale_activities")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(activity, vec![(s("0xwhale"), s("trade"), s("120000"))]);
    // The registry and the version history know both plugins.
    assert_eq!(
        pg.number(
            "SELECT count(*) FROM plugins WHERE origin = 'file' AND from_config AND NOT paused"
        ),
        2
    );
    assert_eq!(
        pg.number(
            "SELECT count(*) FROM plugin_versions WHERE change = 'start' AND status = 'active'"
        ),
        2
    );
    // The API serves the archived trades.
    let page = server.json("/api/v1/transactions?exchange=HYPERLIQUID&limit=1");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], 9);
    assert_eq!(page["items"][0]["notional"], "180300");
    let next = page["next_cursor"].as_str().unwrap().to_owned();
    let page = server.json(&format!(
        "/api/v1/transactions?exchange=hyperliquid&limit=1&cursor={next}"
    ));
    assert_eq!(page["items"][0]["id"], 4);
    assert_eq!(page["items"][0]["seller"], "0xwhale");
    assert_eq!(page["next_cursor"], serde_json::Value::Null);
    let by_account = server.json("/api/v1/transactions?account=0xWHALE");
    assert_eq!(by_account["items"].as_array().unwrap().len(), 1);
    let sells = server.json("/api/v1/transactions?side=sell");
    assert_eq!(sells["items"][0]["id"], 11);
    let one = server.json("/api/v1/transactions/2");
    assert_eq!(one["price"], "60012.5");
    assert_eq!(server.get("/api/v1/transactions/3").0, 404);
    let health = server.json("/health");
    assert_eq!(health["postgres"]["status"], "ok", "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_outage_mid_run_loses_and_duplicates_nothing() {
    let Some(pg) = Postgres::connect("outage") else {
        return;
    };
    let dir = temp_dir("pg-outage");
    let proxy = Proxy::start(pg.address());
    let n = 20_000;
    // 20 s of event time at pace 4: about 5 s of wall time.
    let events = trades(&dir, n);
    let config = config(
        &dir,
        &pg,
        &pg.url_via(proxy.address),
        &events,
        4.0,
        "archive = [\"trade\"]",
        &plugin("numbers", "prism_probe", "{ mode = \"number\" }"),
    );
    let server = Server::start(&config);
    pg.wait_for(
        "SELECT least(count(*), 1) FROM series",
        1,
        Duration::from_secs(30),
    );
    // A long cut: the sink spools, /health says why.
    proxy.cut();
    let health = server.wait_for("/health", Duration::from_secs(20), |h| {
        h["postgres"]["status"] == "degraded"
    });
    let reason = health["postgres"]["reason"].as_str().unwrap();
    assert!(reason.contains("unreachable"), "{reason}");
    assert_eq!(health["status"], "degraded");
    server.wait_for("/health", Duration::from_secs(20), |h| {
        h["postgres"]["spool_bytes"].as_u64().unwrap_or(0) > 0
    });
    std::thread::sleep(Duration::from_secs(1));
    proxy.restore();
    // Short cuts while it catches up, some landing mid-transaction.
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(250));
        proxy.cut();
        std::thread::sleep(Duration::from_millis(100));
        proxy.restore();
    }
    pg.wait_for(
        "SELECT count(*) FROM series WHERE plugin = 'numbers'",
        n as i64,
        Duration::from_secs(60),
    );
    assert_numbered_once(&pg, "numbers", n as i64);
    // Archived events: one row per trade, ids its stream position.
    assert_eq!(
        pg.number("SELECT count(DISTINCT position) FROM trades"),
        n as i64
    );
    server.wait_for("/health", Duration::from_secs(20), |h| {
        h["postgres"]["status"] == "ok" && h["postgres"]["spool_bytes"] == 0
    });
    let (_, metrics) = server.get("/metrics");
    let errors: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("prism_postgres_errors_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(errors >= 1.0, "the outage was counted: {errors}");
    assert!(metrics.contains("prism_postgres_spool_bytes 0"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_mid_write_then_restart_gives_every_output_exactly_once() {
    let Some(pg) = Postgres::connect("kill") else {
        return;
    };
    let dir = temp_dir("pg-kill");
    let n = 100_000;
    // 100 s of event time at pace 25: about 4 s of commits to cut into.
    let events = trades(&dir, n);
    let config = config(
        &dir,
        &pg,
        &pg.url,
        &events,
        25.0,
        "",
        &plugin("numbers", "prism_probe", "{ mode = \"number\" }"),
    );
    let first = Server::start(&config);
    let started = Instant::now();
    while pg.number("SELECT count(*) FROM series") == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing written"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill();
    let at_kill = pg.number("SELECT count(*) FROM series");
    assert!(
        at_kill < n as i64,
        "the kill came after everything was written ({at_kill} rows): it tested nothing"
    );
    let second = Server::start(&config);
    pg.wait_for(
        "SELECT count(*) FROM series WHERE plugin = 'numbers'",
        n as i64,
        Duration::from_secs(120),
    );
    // And nothing more comes.
    std::thread::sleep(Duration::from_millis(500));
    assert_numbered_once(&pg, "numbers", n as i64);
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

const TOKEN: &str = "pg-test-token-0123456789";

#[test]
fn a_restart_keeps_outputs_and_what_the_admin_api_did() {
    let Some(pg) = Postgres::connect("restart") else {
        return;
    };
    let dir = temp_dir("pg-restart");
    let plugins = plugin("liquidation-map", "liquidation_map", "{}")
        + &plugin(
            "whale-detector",
            "whale_detector",
            "{ watched = [\"0xwhale\"] }",
        );
    // The fixture, then ETH trades a second apart in real time: the
    // stream still runs when the admin API acts (the replay paces chunks
    // of 1024 events; the second waits about 17 minutes).
    let events = dir.join("events.jsonl");
    let mut text = std::fs::read_to_string(fixture("analytics.jsonl")).unwrap();
    for i in 0..2000u64 {
        text.push_str(&format!(
            "{{\"type\":\"trade\",\"exchange\":\"binance\",\"symbol\":\"ETHUSDT\",\"ts\":{},\"price\":\"2000\",\"size\":\"0.1\",\"side\":\"buy\"}}\n",
            1_700_000_100_000 + i * 1000
        ));
    }
    std::fs::write(&events, text).unwrap();
    let config = config(
        &dir,
        &pg,
        &pg.url,
        &events,
        1.0,
        &format!("[admin]\ntoken = \"{TOKEN}\""),
        &plugins,
    );
    let first = Server::start(&config);
    // Outputs are committed with a checkpoint: all five are in when
    // the events before the minute's gap are done.
    pg.wait_for("SELECT count(*) FROM logs", 5, Duration::from_secs(30));
    // Through the admin API: a plugin uploaded, one paused, one removed.
    let wasm = std::fs::read(wasm("prism_probe")).unwrap();
    let (status, body) = first.request(
        "POST",
        "/api/v1/plugins/uploaded?config=%7B%22mode%22%3A%22count%22%7D",
        Some(TOKEN),
        &wasm,
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = first.request(
        "POST",
        "/api/v1/plugins/liquidation-map/pause",
        Some(TOKEN),
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        first.request("DELETE", "/api/v1/plugins/whale-detector", Some(TOKEN), b"");
    assert_eq!(status, 204, "{body}");
    pg.wait_for(
        "SELECT count(*) FROM plugins WHERE (id = 'uploaded' AND origin = 'upload')
            OR (id = 'liquidation-map' AND paused) OR (id = 'whale-detector' AND removed)",
        3,
        Duration::from_secs(20),
    );
    let logs = pg.number("SELECT count(*) FROM logs");
    assert_eq!(logs, 5, "3 liquidations, 1 large one, 1 whale activity");
    first.kill();

    let second = Server::start(&config);
    let list = second.json("/api/v1/plugins");
    let state: Vec<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        state,
        [
            ("liquidation-map".to_owned(), "paused".to_owned()),
            ("uploaded".to_owned(), "running".to_owned()),
        ]
    );
    // The uploaded plugin runs the uploaded code with its config.
    let detail = second.json("/api/v1/plugins/uploaded");
    assert_eq!(detail["name"], "probe", "{detail}");
    // Memory is empty after the restart: the liquidations come from the
    // database, newest first, paged.
    let page = second.json("/api/v1/liquidations?limit=2");
    let ts: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ts"].as_i64().unwrap())
        .collect();
    assert_eq!(ts, [1_699_999_984_000, 1_699_999_983_000]);
    assert_eq!(page["items"][0]["notional"], "60120");
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let page = second.json(&format!("/api/v1/liquidations?limit=2&cursor={cursor}"));
    assert_eq!(page["items"][0]["notional"], "119991");
    assert_eq!(page["next_cursor"], serde_json::Value::Null);
    let shorts = second.json("/api/v1/liquidations?side=short");
    assert_eq!(shorts["items"].as_array().unwrap().len(), 1);
    // Nothing was made twice.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pg.number("SELECT count(*) FROM logs"), logs);
    // A graceful stop, then a third start: the same again.
    assert!(second.terminate().success());
    let third = Server::start(&config);
    let list = third.json("/api/v1/plugins");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(pg.number("SELECT count(*) FROM logs"), logs);
    drop(third);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every page of a list (`cursor` = `next_cursor`), its items.
fn all_pages(server: &Server, path: &str) -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_owned(),
        };
        let page = server.json(&url);
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

#[test]
fn history_beyond_memory_pages_as_memory_does() {
    let Some(pg) = Postgres::connect("history") else {
        return;
    };
    let dir = temp_dir("pg-history");
    let n = 500i64;
    let events = trades(&dir, n as usize);
    // Memory keeps 40 of each: the rest is only in the database.
    let config = config(
        &dir,
        &pg,
        &pg.url,
        &events,
        0.0,
        "[stores]\nlog_entries = 40\nseries_points = 40\nsignals = 40",
        &plugin("numbers", "prism_probe", "{ mode = \"number\" }"),
    );
    let server = Server::start(&config);
    pg.wait_for("SELECT count(*) FROM series", n, Duration::from_secs(30));
    let base = 1_700_000_000_000i64;
    // Trade i (from 0) is event number n = i + 1 at base + i; BTCUSDT for
    // even i (odd n), ETHUSDT for odd i (even n).
    let numbers = |items: &[serde_json::Value]| -> Vec<i64> {
        items
            .iter()
            .map(|l| l["body"]["n"].as_i64().unwrap())
            .collect()
    };
    let logs = all_pages(&server, "/api/v1/plugins/numbers/logs?name=n&limit=64");
    assert_eq!(numbers(&logs), (1..=n).rev().collect::<Vec<_>>());
    let eth = all_pages(
        &server,
        &format!(
            "/api/v1/plugins/numbers/logs?symbol=ethusdt&from={}&to={}&limit=7",
            base + 100,
            base + 299
        ),
    );
    let want: Vec<i64> = (101..=300).rev().filter(|n| n % 2 == 0).collect();
    assert_eq!(numbers(&eth), want);
    // Series: the newest 100 of a range before memory, oldest first.
    let series = server.json(&format!(
        "/api/v1/plugins/numbers/series/n?from={base}&to={}&limit=100",
        base + 199
    ));
    let values: Vec<i64> = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap() as i64)
        .collect();
    assert_eq!(values, (101..=200).collect::<Vec<_>>());
    let all = server.json("/api/v1/plugins/numbers/series/n?limit=10000");
    assert_eq!(all["points"].as_array().unwrap().len(), n as usize);
    // Signals of every plugin, newest first, across memory and database.
    let signals = all_pages(&server, "/api/v1/signals?limit=33");
    let reasons: Vec<String> = signals
        .iter()
        .map(|s| s["reason"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = (1..=n).rev().map(|n| format!("n={n}")).collect();
    assert_eq!(reasons, want);
    let btc = all_pages(&server, "/api/v1/signals?symbol=BTCUSDT&limit=1000");
    assert_eq!(btc.len(), 250);
    assert_eq!(btc[0]["reason"], "n=499");
    // A cursor this API did not give is refused, with its name.
    let (status, body) = server.get("/api/v1/plugins/numbers/logs?cursor=abc");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("cursor"), "{body}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
