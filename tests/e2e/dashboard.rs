//! The dashboard in a real browser: headless Chromium, driven over the W3C
//! WebDriver protocol (chromedriver), against `prism run` on the simulator.
//! What each panel shows is compared with what the API answers; the pause
//! button pauses the plugin; the live feed moves; the console stays free of
//! errors. Screenshots of every panel are written to
//! `target/dashboard-screenshots/` for review.

use crate::common::{Client, Server, repo, target_dir, temp_dir};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "dashboard-test-token";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium and chromedriver, or `None` (and why) when this machine has
/// none; with `PRISM_REQUIRE_SERVICES=1` their absence fails the test.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("PRISM_TEST_CHROMIUM").map_or(CHROMIUM.into(), PathBuf::from);
    let driver =
        std::env::var_os("PRISM_TEST_CHROMEDRIVER").map_or(CHROMEDRIVER.into(), PathBuf::from);
    if chromium.exists() && driver.exists() {
        return Some((chromium, driver));
    }
    let why = format!(
        "{} or {} is missing (apt-get install -y chromium chromium-driver; scripts/test.sh does)",
        chromium.display(),
        driver.display()
    );
    assert!(
        std::env::var("PRISM_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "PRISM_REQUIRE_SERVICES=1 but {why}"
    );
    eprintln!("skipped: {why}");
    None
}

/// chromedriver on a free port and one browser session in it; both end on
/// drop.
struct Browser {
    driver: Child,
    http: Client,
    session: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .http
            .json_request("DELETE", &format!("/session/{}", self.session), &json!({}));
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    fn start(chromium: &Path, driver: &Path, profile: &Path) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let http = Server::client(&format!("http://127.0.0.1:{port}"));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    // The machine has no internet: no background connections.
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1400,1800",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let (status, body) = http.json_request("POST", "/session", &capabilities);
        assert_eq!(status, 200, "a Chromium session: {body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let session = answer["value"]["sessionId"].as_str().unwrap().to_owned();
        Browser {
            driver: child,
            http,
            session,
        }
    }

    /// One WebDriver command: its `value`, or a panic with the driver's error.
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (status, text) = self.http.json_request(method, &path, &body);
        let answer: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
        assert_eq!(status, 200, "{method} {path}: {answer}");
        answer["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({"url": url}));
    }

    fn current_url(&self) -> String {
        self.command("GET", "/url", Value::Null)
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn execute(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// A script that calls its last argument with its result.
    fn execute_async(&self, script: &str) -> Value {
        self.command(
            "POST",
            "/execute/async",
            json!({"script": script, "args": []}),
        )
    }

    /// The element `css` selects (the first one).
    fn find(&self, css: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element for `{css}`: {found}"))
            .to_owned()
    }

    fn click(&self, css: &str) {
        let id = self.find(css);
        self.command("POST", &format!("/element/{id}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.command(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        );
    }

    /// A PNG of the element `css` selects, or of the window.
    fn screenshot(&self, css: Option<&str>) -> Vec<u8> {
        let path = match css {
            Some(css) => format!("/element/{}/screenshot", self.find(css)),
            None => "/screenshot".to_owned(),
        };
        let png = self.command("GET", &path, Value::Null);
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .expect("a base64 PNG")
    }

    /// The console's errors since the last call (chromedriver's log).
    fn console_errors(&self) -> Vec<String> {
        self.command("POST", "/se/log", json!({"type": "browser"}))
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// What the page shows, read from the data attributes each panel keeps.
const READ_PAGE: &str = r#"
const all = (s) => [...document.querySelectorAll(s)];
const data = (e) => Object.assign({}, e.dataset);
return {
  loaded: all('main > section').map((s) => [s.id, s.dataset.loaded === 'true']),
  plugins: all('#plugins tr').map((r) => ({ id: r.dataset.plugin, state: r.dataset.state,
      version: r.children[1].textContent, dead_letters: r.querySelector('[data-dead-letters]').dataset.deadLetters })),
  map: Object.assign(data(document.getElementById('heatmap')),
      { cells: all('#heatmap .cell').map(data), instrument: document.getElementById('map-instrument').value }),
  ratios: all('#ratios .chart').map(data),
  opportunities: all('#opportunities tr').map(data),
  wallets: all('#wallets tr').map(data),
  orders: all('#orders tr').map(data),
  pnl: all('#pnl tr').map(data),
  alerts: all('#alerts li').map(data),
  alerts_shown: !document.getElementById('panel-alerts').hidden,
  cluster_shown: !document.getElementById('panel-cluster').hidden,
  liquidations_received: Number(document.getElementById('liquidations-count').dataset.received || 0),
  liquidations: all('#liquidations li').map((li) => ({ ts: li.dataset.ts, text: li.textContent,
      amount: li.querySelector('[data-amount]').textContent, size: li.querySelector('[data-amount]').dataset.amount })),
  whales: all('#whales li .address').map((a) => ({ address: a.dataset.address, shown: a.textContent })),
  status: document.getElementById('status').dataset.status,
};
"#;

fn page(browser: &Browser) -> Value {
    browser.execute(READ_PAGE)
}

/// Polls the page until `ready` holds, or panics with the last reading.
fn page_until(
    browser: &Browser,
    what: &str,
    limit: Duration,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let v = page(browser);
        if ready(&v) {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "the page never showed {what}: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn config(dir: &Path) -> PathBuf {
    let target = target_dir();
    let text = std::fs::read_to_string(repo().join("config/prism.toml"))
        .unwrap()
        .replace("\"../target/", &format!("\"{}/", target.display()))
        .replace(
            "data_dir = \"../data\"",
            &format!("data_dir = \"{}\"", dir.join("data").display()),
        )
        .replace("pace = 60.0", "pace = 600.0")
        // funding-arb trades on paper, so the paper trading panel has orders.
        .replace(
            "funding_arb.wasm\"\n",
            "funding_arb.wasm\"\npaper = true\n",
        )
        .replace("trade = false", "trade = true")
        // A channel, so the alerts panel shows; nothing listens there.
        + "\n[[notify.channels]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n";
    let path = dir.join("prism.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn screenshots_dir() -> PathBuf {
    let target = target_dir();
    let dir = target.join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Calls `check` until it returns `Ok`, or panics with its last `Err`.
fn eventually(what: &str, check: impl Fn() -> Result<(), String>) {
    let started = Instant::now();
    loop {
        match check() {
            Ok(()) => return,
            Err(e) if started.elapsed() > Duration::from_secs(20) => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

fn same(what: &str, page: &Value, api: &Value) -> Result<(), String> {
    if page == api {
        Ok(())
    } else {
        Err(format!(
            "{what}: the page shows {page:#}, the API says {api:#}"
        ))
    }
}

#[test]
fn the_dashboard_shows_what_the_api_says_and_its_buttons_work() {
    let Some((chromium, driver)) = browser_binaries() else {
        return;
    };
    let dir = temp_dir("dashboard");
    let server = Server::start_with(&config(&dir), &[("PRISM_ADMIN_TOKEN", TOKEN)]);
    let started = Instant::now();
    let browser = Browser::start(&chromium, &driver, &dir.join("profile"));
    eprintln!("browser session in {:?}", started.elapsed());

    // `/` leads to the page; a short refresh keeps the test quick.
    browser.goto(&format!("{}/", server.base));
    eprintln!("page loaded at {:?}", started.elapsed());
    assert!(
        browser.current_url().ends_with("/dashboard/"),
        "{}",
        browser.current_url()
    );
    browser.goto(&format!("{}/dashboard/?refresh=500", server.base));

    // Every panel loads, with data in each.
    let shown = page_until(
        &browser,
        "every panel with data",
        Duration::from_secs(60),
        |v| {
            v["loaded"].as_array().unwrap().iter().all(|p| p[1] == true)
                && v["plugins"].as_array().unwrap().len() >= 4
                && !v["map"]["cells"].as_array().unwrap().is_empty()
                && !v["ratios"].as_array().unwrap().is_empty()
                && !v["opportunities"].as_array().unwrap().is_empty()
                && !v["wallets"].as_array().unwrap().is_empty()
                && !v["orders"].as_array().unwrap().is_empty()
                && v["liquidations_received"].as_u64().unwrap() > 0
        },
    );
    assert_eq!(shown["status"], "ok");

    // The live feed moves on its own (over the WebSocket).
    let before = shown["liquidations_received"].as_u64().unwrap();
    page_until(
        &browser,
        "a live liquidation",
        Duration::from_secs(20),
        |v| v["liquidations_received"].as_u64().unwrap() > before,
    );

    // Each panel, for review.
    let shots = screenshots_dir();
    for panel in [
        "panel-plugins",
        "panel-health",
        "panel-liquidation-stats",
        "panel-liquidation-map",
        "panel-ratios",
        "panel-opportunities",
        "panel-wallets",
        "panel-paper",
        "panel-signals",
        "panel-whales",
        "panel-liquidations",
    ] {
        let png = browser.screenshot(Some(&format!("#{panel}")));
        assert!(png.starts_with(b"\x89PNG"), "{panel}");
        std::fs::write(shots.join(format!("{panel}.png")), png).unwrap();
    }
    std::fs::write(shots.join("dashboard.png"), browser.screenshot(None)).unwrap();

    // The pause button, with the token entered once in the page.
    browser.type_into("#token", TOKEN);
    browser.click("#token-form button");
    browser.click(r#"#plugins tr[data-plugin="liquidation-map"] button[data-action="pause"]"#);
    eventually("the plugin paused", || {
        let status = server.json("/api/v1/plugins/liquidation-map");
        same("state", &status["state"], &json!("paused"))
    });
    page_until(
        &browser,
        "the plugin paused",
        Duration::from_secs(10),
        |v| {
            v["plugins"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["id"] == "liquidation-map" && p["state"] == "paused")
        },
    );
    // The token is kept for the browser session, not in the page.
    assert_eq!(
        browser.execute("return sessionStorage.getItem('prism.admin-token')"),
        json!(TOKEN)
    );
    assert_eq!(
        browser.execute("return document.getElementById('token').value"),
        json!("")
    );

    // Hold the other analytics still, so page and API can be compared.
    for id in ["long-short-ratio", "funding-arb"] {
        let (status, body) = server.request(
            "POST",
            &format!("/api/v1/plugins/{id}/pause"),
            Some(TOKEN),
            b"",
        );
        assert_eq!(status, 200, "{body}");
    }

    eventually("the plugins table", || {
        let api = server.json("/api/v1/plugins");
        let api: Vec<Value> = api["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                json!({"id": p["id"], "state": p["state"], "version": p["version"],
                           "dead_letters": p["dead_letters"].to_string()})
            })
            .collect();
        same("plugins", &page(&browser)["plugins"], &json!(api))
    });

    eventually("the liquidation map", || {
        let shown = page(&browser)["map"].clone();
        let (exchange, symbol) = shown["instrument"]
            .as_str()
            .unwrap()
            .split_once(':')
            .unwrap();
        let api = server.json(&format!(
            "/api/v1/liquidation-map?exchange={exchange}&symbol={symbol}"
        ));
        same("key", &shown["key"], &api["key"])?;
        same("ts", &shown["ts"], &json!(api["ts"].to_string()))?;
        // Every cell holds the notional the API has for its bucket and kind.
        let mut expected = std::collections::BTreeMap::new();
        for part in ["realized", "estimated"] {
            for side in ["long", "short"] {
                for b in api["map"][part].as_array().unwrap() {
                    expected.insert(
                        (
                            format!("{part}-{side}"),
                            b["price"].as_str().unwrap().to_owned(),
                        ),
                        b[format!("{side}_notional")].as_str().unwrap().to_owned(),
                    );
                }
            }
        }
        let cells = shown["cells"].as_array().unwrap();
        for c in cells {
            let key = (
                c["kind"].as_str().unwrap().to_owned(),
                c["price"].as_str().unwrap().to_owned(),
            );
            let want = expected.get(&key).map_or("0", String::as_str);
            same(&format!("{key:?}"), &c["notional"], &json!(want))?;
        }
        let buckets: std::collections::BTreeSet<_> = expected.keys().map(|(_, p)| p).collect();
        same(
            "rows",
            &json!(cells.len() / 4),
            &json!(buckets.len().min(40)),
        )
    });

    eventually("the ratio charts", || {
        for chart in page(&browser)["ratios"].as_array().unwrap() {
            let (e, s) = (
                chart["exchange"].as_str().unwrap(),
                chart["symbol"].as_str().unwrap(),
            );
            let api = server.json(&format!(
                "/api/v1/long-short-ratios/history?exchange={e}&symbol={s}&kind=taker&limit=1"
            ));
            let newest = &api["items"][0];
            same(
                &format!("{e} {s} ts"),
                &chart["ts"],
                &json!(newest["ts"].to_string()),
            )?;
            same(
                &format!("{e} {s} value"),
                &chart["value"],
                &json!(newest["value"].to_string()),
            )?;
        }
        Ok(())
    });

    eventually("the funding opportunities", || {
        let api = server.json("/api/v1/opportunities");
        let api: Vec<Value> = api["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| json!({
                "base": i["base"],
                "long": format!("{}:{}", i["long_exchange"].as_str().unwrap(), i["long_symbol"].as_str().unwrap()),
                "short": format!("{}:{}", i["short_exchange"].as_str().unwrap(), i["short_symbol"].as_str().unwrap()),
                "netApr": i["net_apr"].to_string(),
            }))
            .collect();
        same(
            "opportunities",
            &page(&browser)["opportunities"],
            &json!(api),
        )
    });

    eventually("the wallets", || {
        let api = server.json("/api/v1/wallet/distribution");
        let api: Vec<Value> = api["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                json!({"category": b["category"], "wallets": b["walletCount"].to_string(),
                           "long": b["longNotional"], "short": b["shortNotional"]})
            })
            .collect();
        same("wallets", &page(&browser)["wallets"], &json!(api))
    });

    // Paper trading: funding-arb's orders (it is paused: no new ones).
    eventually("the paper orders", || {
        let api = server.json("/api/v1/orders?limit=10");
        let api: Vec<Value> = api["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| json!({"id": o["id"], "status": o["status"]}))
            .collect();
        same("orders", &page(&browser)["orders"], &json!(api))
    });
    let plugins: Vec<Value> = page(&browser)["pnl"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["plugin"].clone())
        .collect();
    assert_eq!(plugins, [json!("funding-arb")]);

    // Alerts: a test message through the API shows in the page; there is
    // no cluster, so no cluster panel.
    let (status, body) = server.request(
        "POST",
        "/api/v1/alerts/test",
        Some(TOKEN),
        br#"{"channel": "ops", "title": "from the browser test"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let sent: Value = serde_json::from_str(&body).unwrap();
    let shown = page_until(&browser, "the test alert", Duration::from_secs(10), |v| {
        v["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == sent["id"])
    });
    assert_eq!(shown["alerts_shown"], true);
    assert_eq!(shown["cluster_shown"], false);

    // The page's formats, the way market front-ends show values (the same
    // cases as the API's `views::display`).
    let formats = browser.execute_async(
        r#"const done = arguments[arguments.length - 1];
        import('/dashboard/format.js').then((f) => done({
          usd: ['717000000', '2567735.06', '45300', '999960', '999', '12.345', '0', '-1200000000'].map(f.compactUsd),
          times: [0, 4999, 42000, 150000, 3 * 3600000, 5 * 86400000].map((ago) => f.relativeTime(1700000000000 - ago, 1700000000000)),
          address: f.shortAddress('0x49f3aa9d1b3c3b8f6a1e2d8c3a6f0e1d2c3b8d2b'),
          amount: f.amount('-28.405720', 'BTC'),
        }));"#,
    );
    assert_eq!(
        formats,
        json!({
            "usd": ["$717M", "$2.57M", "$45.3K", "$1M", "$999", "$12.35", "$0", "-$1.2B"],
            "times": ["just now", "just now", "42 s ago", "2 min ago", "3 h ago", "5 d ago"],
            "address": "0x49f3…8d2b",
            "amount": "28.40572 BTC",
        })
    );

    // Amounts carry their asset; addresses are shortened.
    let shown = page(&browser);
    let liquidations = shown["liquidations"].as_array().unwrap();
    assert!(!liquidations.is_empty());
    for l in liquidations.iter().take(5) {
        let size = l["size"].as_str().unwrap();
        let trimmed = if size.contains('.') {
            size.trim_end_matches('0').trim_end_matches('.')
        } else {
            size
        };
        let (number, asset) = l["amount"].as_str().unwrap().split_once(' ').unwrap();
        assert_eq!(number, trimmed.trim_start_matches('-'), "{l}");
        assert!(["BTC", "ETH", "SOL"].contains(&asset), "{l}");
    }
    for w in shown["whales"].as_array().unwrap() {
        let address = w["address"].as_str().unwrap();
        if address.len() > 12 {
            let want = format!("{}…{}", &address[..6], &address[address.len() - 4..]);
            assert_eq!(w["shown"].as_str().unwrap(), want);
        }
    }

    // Resume from the page, without entering the token again.
    browser.click(r#"#plugins tr[data-plugin="liquidation-map"] button[data-action="resume"]"#);
    eventually("the plugin resumed", || {
        let status = server.json("/api/v1/plugins/liquidation-map");
        same("state", &status["state"], &json!("running"))
    });

    let errors = browser.console_errors();
    assert!(
        errors.is_empty(),
        "the browser console has errors: {errors:#?}"
    );
    drop(browser);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
