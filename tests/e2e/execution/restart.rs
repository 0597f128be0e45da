//! Restarts with file snapshots and with PostgreSQL.

use super::*;
use crate::common::*;
use rust_decimal::Decimal;
use serde_json::Value;
use std::time::Duration;

fn run_config(dir: &std::path::Path, events: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let config = dir.join("run.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[runtime]
data_dir = "{data}"
watch = false
[recovery]
persist_snapshots = true
restore_on_start = true
{extra}
[source]
kind = "replay"
path = "{events}"
pace = 0.0
{plugin}"#,
            data = dir.join("data").display(),
            events = events.display(),
            plugin = funding_arb_section(),
        ),
    )
    .unwrap();
    config
}

fn wait_total(server: &Server, total: &str) -> Value {
    server.wait_for("/api/v1/pnl", Duration::from_secs(60), |v| {
        v["total"]["total"]
            .as_str()
            .is_some_and(|t| t.parse::<Decimal>().ok() == Some(dec(total)))
    })
}

/// A host stopped with both legs open and started again on the whole file
/// resumes the account from its checkpoint: the funding and the exit that
/// follow give the PnL of one uninterrupted run (−91.148, by hand above).
#[test]
fn a_restart_keeps_the_positions_and_ends_where_one_run_ends() {
    let dir = temp_dir("execution-restart");
    let full = fixture("funding-arb-paper.jsonl");
    let first_part = dir.join("first.jsonl");
    let text = std::fs::read_to_string(&full).unwrap();
    // Instruments, funding of both venues, and the three trades that open
    // (and fill) both legs.
    let head: Vec<&str> = text.lines().take(7).collect();
    std::fs::write(&first_part, head.join("\n") + "\n").unwrap();

    let server = Server::start(&run_config(&dir, &first_part, ""));
    let open = server.wait_for("/api/v1/positions", Duration::from_secs(60), |v| {
        v["items"]
            .as_array()
            .is_some_and(|i| i.len() == 2 && i.iter().all(|p| !d(&p["size"]).is_zero()))
    });
    let sizes: Vec<Decimal> = open["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| d(&p["size"]))
        .collect();
    assert_eq!(sizes.iter().copied().sum::<Decimal>(), dec("0"), "{open}");
    let status = server.terminate();
    assert!(status.success(), "{status:?}");

    let server = Server::start(&run_config(&dir, &full, ""));
    let pnl = wait_total(&server, "-91.148");
    assert_eq!(d(&pnl["pairs"][0]["total"]), dec("-91.148"));
    assert_eq!(pnl["pairs"][0]["base"], "BTC");
    let funding = server.json("/api/v1/funding-payments");
    let amounts: Vec<Decimal> = funding["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| d(&f["amount"]))
        .collect();
    // Newest first.
    assert_eq!(amounts, vec![dec("3"), dec("0.6008"), dec("0.3002")]);
    // Only the closing fills are new in this run.
    let fills = server.json("/api/v1/fills");
    assert_eq!(fills["items"].as_array().unwrap().len(), 2, "{fills}");
    server.terminate();
}

/// With PostgreSQL, the records land in their tables once each, with the
/// values worked out by hand; a restart that makes nothing new adds no row,
/// and its API shows the earlier run's records, read back.
#[test]
fn paper_records_land_in_postgresql_once() {
    let Some(pg) = crate::services::Postgres::connect("paper") else {
        return;
    };
    let dir = temp_dir("execution-postgres");
    let section = format!(
        "[postgres]\nurl = \"{}\"\nschema = \"{}\"\nconnect_timeout_ms = 2000",
        pg.url, pg.schema
    );
    let config = run_config(&dir, &fixture("funding-arb-paper.jsonl"), &section);
    let count =
        |table: &str| -> i64 { pg.rows(&format!("SELECT count(*) FROM {table}"))[0].get(0) };
    for round in 0..2 {
        let server = Server::start(&config);
        // The restart shows the earlier run's records, read back.
        wait_total(&server, "-91.148");
        let fills = server.json("/api/v1/fills");
        assert_eq!(
            fills["items"].as_array().unwrap().len(),
            4,
            "round {round}: {fills}"
        );
        if round == 1 {
            let order = server.json("/api/v1/orders/funding-arb:4");
            assert_eq!(
                (order["status"].as_str(), order["fees"].as_str()),
                (Some("filled"), Some("12.032"))
            );
            std::thread::sleep(Duration::from_secs(1));
        }
        assert!(server.terminate().success());
        assert_eq!(count("paper_fills"), 4, "round {round}");
        assert_eq!(count("paper_orders"), 4);
        assert_eq!(count("paper_funding"), 3);
        assert_eq!(count("paper_positions"), 2);
        assert_eq!(count("paper_risk"), 1);
    }
    let fees: Vec<String> = pg
        .rows("SELECT fee::text FROM paper_fills ORDER BY ts")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let fees: Vec<Decimal> = fees.iter().map(|f| dec(f)).collect();
    assert_eq!(
        fees,
        [dec("10.5035"), dec("11.996"), dec("10.5175"), dec("12.032")]
    );
    let amounts: Vec<String> = pg
        .rows("SELECT amount::text FROM paper_funding ORDER BY ts")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let amounts: Vec<Decimal> = amounts.iter().map(|f| dec(f)).collect();
    assert_eq!(amounts, [dec("0.3002"), dec("0.6008"), dec("3")]);
    let states: Vec<String> = pg
        .rows("SELECT status FROM paper_orders")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(states.iter().all(|s| s == "filled"), "{states:?}");
    let total: String = pg.rows("SELECT sum(total)::text FROM paper_positions")[0].get(0);
    assert_eq!(dec(&total), dec("-91.148"));
    let last: String =
        pg.rows("SELECT total::text FROM paper_pnl ORDER BY ts DESC LIMIT 1")[0].get(0);
    assert_eq!(dec(&last), dec("-91.148"));
    let account: Option<Vec<u8>> =
        pg.rows("SELECT account FROM checkpoints WHERE plugin = 'funding-arb'")[0].get(0);
    assert!(account.is_some_and(|a| !a.is_empty()));
}
