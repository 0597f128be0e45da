//! A test plugin for the host's own tests. Its config picks a behaviour:
//!
//! - `{"mode":"count"}` — healthy: counts market events and publishes
//!   `{"events": n}` as document `count` after each batch.
//! - `{"mode":"sandbox"}` — tries the file system, environment, network,
//!   clock and randomness in `init`, and reports what happened as document
//!   `sandbox` on the first batch.
//! - `{"mode":"panic"|"loop"|"grow"|"flood"|"recurse"|"error", "at": N}` —
//!   counts like `count`, then misbehaves on the N-th market event (1-based).
//!   After a recovery the count resumes from the last good state, so the
//!   next event is the N-th again: a plugin that keeps failing.
//! - the same modes with `"at_ts": T` instead — misbehaves on every market
//!   event whose time is T: a single poison event.
//! - `{"mode":"echo"}` — logs every event it receives, as its debug text
//!   (log `echo`), to check what crossed the boundary.
//! - `{"mode":"keys"}` — on every market event writes a new document key,
//!   a new series name and a new log name: outputs without bound.
//! - `{"mode":"big", "bytes": B, "at": N}` — on the N-th market event
//!   writes document `big` with a body of B bytes of text.
//! - `{"mode":"chatty", "lines": L}` — writes L host log lines of 1 KiB
//!   per market event, each with CR/LF that would forge log lines.
//! - `{"mode":"number"}` — numbers market events like `count`, and on each
//!   trade writes series `n` and log `n` (body `{"n": n}`) and a signal
//!   (reason `n=<n>`), all for the trade's instrument: each output says
//!   which event made it, so a store can be checked for gaps and repeats.
//! - `{"mode":"alert", "every": E}` — counts like `count`, and on every
//!   E-th trade raises alert `probe alert <k>` (k = 1, 2, …) with priority
//!   P1, P2, P0 in turn (k mod 3 = 1, 2, 0).
//! - `{"mode":"trader", "every": E, "size": S}` — on every E-th trade a
//!   market order of size S on its instrument, buy and sell in turn (client
//!   ids `t1`, `t2`, …); every `fill` it is given is logged as `fill` (body:
//!   client id, price, size, side, fee as strings).
//! - any mode with `"fail": M` and `"at"`/`"at_ts"` — misbehaves as mode M
//!   there (e.g. a `trader` that panics once).
//! - `{"mode":"slow", "work": W}` — counts like `count`, and spends W
//!   rounds of arithmetic on each market event (about 1 ns a round): a
//!   plugin that is slow but correct.
//! - `{"mode":"hoard", "bytes": B}` — counts like `count`, and keeps B
//!   bytes more of memory for each market event (not in its state: a
//!   cache that a fresh instance starts without).
//! - `{"mode":"init_error"}` — refuses to start.
//! - `{"mode":"restore_error"}` — refuses any state.

use prism_sdk::{Context, Event, Plugin, PluginInfo, Subscription};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
struct Config {
    mode: String,
    #[serde(default)]
    at: u64,
    #[serde(default)]
    at_ts: Option<i64>,
    #[serde(default)]
    bytes: usize,
    #[serde(default)]
    lines: usize,
    /// `alert` mode: one alert every this many trades.
    #[serde(default)]
    every: u64,
    /// `slow` mode: rounds of arithmetic per market event.
    #[serde(default)]
    work: u64,
    /// `trader` mode: each order's size.
    #[serde(default)]
    size: Option<String>,
    /// How to misbehave at `at` / `at_ts` (default: the mode's own way),
    /// e.g. a `trader` that panics once.
    #[serde(default)]
    fail: Option<String>,
}

/// See the crate docs.
pub struct Probe {
    config: Config,
    events: u64,
    last_ts: i64,
    sandbox: Option<BTreeMap<String, String>>,
    hoard: Vec<Vec<u8>>,
}

fn outcome<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(v) => format!("allowed: {v:?}"),
        Err(e) => format!("denied: {e}"),
    }
}

fn probe_sandbox() -> BTreeMap<String, String> {
    let mut seen = BTreeMap::new();
    seen.insert(
        "read_file".into(),
        outcome(std::fs::read_to_string("/etc/passwd").map(|s| s.len())),
    );
    seen.insert(
        "write_file".into(),
        outcome(std::fs::write("/tmp/prism-probe", b"x")),
    );
    seen.insert(
        "list_dir".into(),
        outcome(std::fs::read_dir(".").map(|d| d.count())),
    );
    seen.insert("env_var".into(), outcome(std::env::var("HOME")));
    seen.insert("env_count".into(), format!("{}", std::env::vars().count()));
    seen.insert(
        "tcp_connect".into(),
        outcome(std::net::TcpStream::connect("127.0.0.1:8080").map(|_| ())),
    );
    seen.insert(
        "udp_bind".into(),
        outcome(std::net::UdpSocket::bind("127.0.0.1:0").map(|_| ())),
    );
    seen.insert(
        "dns".into(),
        outcome(std::net::ToSocketAddrs::to_socket_addrs("localhost:80").map(|a| a.count())),
    );
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(u128::MAX);
    seen.insert("wall_clock_ms".into(), since_epoch.to_string());
    seen.insert("random_map_order".into(), {
        // HashMap seeds itself from the host's randomness: seeded, so stable.
        let m: std::collections::HashMap<u32, ()> = (0..8).map(|i| (i, ())).collect();
        format!("{:?}", m.keys().collect::<Vec<_>>())
    });
    seen
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // The frame must stay alive across the call, so this cannot become a loop.
    let pad = std::hint::black_box([depth; 16]);
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    let below = recurse(depth + 1);
    std::hint::black_box(&pad);
    below.wrapping_add(pad[(depth % 16) as usize])
}

impl Probe {
    fn misbehave(&mut self, ctx: &mut Context) -> Result<(), String> {
        let how = self
            .config
            .fail
            .clone()
            .unwrap_or_else(|| self.config.mode.clone());
        match how.as_str() {
            "panic" => panic!("poison event number {}", self.events),
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "grow" => loop {
                self.hoard.push(vec![1u8; 1 << 20]);
            },
            "flood" => {
                for i in 0..20_000 {
                    ctx.series("flood", None, self.last_ts, f64::from(i));
                }
                Ok(())
            }
            "recurse" => {
                let depth = recurse(0);
                Err(format!("recursion returned {depth}"))
            }
            "error" => Err(format!("refusing event number {}", self.events)),
            "big" => ctx.document("big", self.last_ts, &"x".repeat(self.config.bytes)),
            _ => Ok(()),
        }
    }
}

impl Plugin for Probe {
    fn init(config: &str) -> Result<(Self, PluginInfo), String> {
        let config: Config =
            serde_json::from_str(config).map_err(|e| format!("probe config: {e}"))?;
        if config.mode == "init_error" {
            return Err("init_error mode: refusing to start".into());
        }
        let sandbox = (config.mode == "sandbox").then(probe_sandbox);
        let info = PluginInfo::new("probe", "0.1.0", Subscription::all());
        Ok((
            Self {
                config,
                events: 0,
                last_ts: 0,
                sandbox,
                hoard: Vec::new(),
            },
            info,
        ))
    }

    fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String> {
        if self.config.mode == "echo" {
            ctx.log("echo", None, event.ts().unwrap_or(0), &format!("{event:?}"))?;
        }
        if matches!(event, Event::Instrument(_)) {
            return Ok(());
        }
        if let Event::Fill(f) = event {
            let text =
                |d: prism_sdk::Decimal| d.to_rust().map(|d| d.to_string()).unwrap_or_default();
            let body = serde_json::json!({
                "client_id": f.client_id,
                "price": text(f.price),
                "size": text(f.size),
                "side": format!("{:?}", f.side).to_lowercase(),
                "fee": text(f.fee),
            });
            return ctx.log("fill", Some(f.instrument), f.ts, &body);
        }
        self.events += 1;
        self.last_ts = event.ts().unwrap_or(self.last_ts);
        match self.config.mode.as_str() {
            "hoard" => self.hoard.push(vec![1u8; self.config.bytes]),
            "slow" => {
                let mut x = std::hint::black_box(self.events);
                for _ in 0..self.config.work {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                }
                std::hint::black_box(x);
            }
            "keys" => {
                let n = self.events;
                ctx.document(&format!("key-{n}"), self.last_ts, &n)?;
                ctx.series(&format!("series-{n}"), None, self.last_ts, n as f64);
                ctx.log(&format!("log-{n}"), None, self.last_ts, &n)?;
            }
            "number" => {
                if let Event::Trade(t) = event {
                    let n = self.events;
                    let i = Some(t.instrument);
                    ctx.series("n", i, t.ts, n as f64);
                    ctx.log("n", i, t.ts, &serde_json::json!({ "n": n }))?;
                    ctx.signal(
                        t.instrument,
                        t.ts,
                        prism_sdk::Direction::Long,
                        prism_sdk::Strength::Weak,
                        &format!("n={n}"),
                    );
                }
            }
            "alert" => {
                if let Event::Trade(t) = event
                    && self.config.every > 0
                    && self.events.is_multiple_of(self.config.every)
                {
                    let n = self.events / self.config.every;
                    let priority = match n % 3 {
                        0 => prism_sdk::Priority::P0,
                        1 => prism_sdk::Priority::P1,
                        _ => prism_sdk::Priority::P2,
                    };
                    ctx.alert(
                        priority,
                        t.ts,
                        &format!("probe alert {n}"),
                        &format!("event {}", self.events),
                    );
                }
            }
            "trader" => {
                if let Event::Trade(t) = event
                    && self.config.every > 0
                    && self.events.is_multiple_of(self.config.every)
                {
                    let n = self.events / self.config.every;
                    let size = self.config.size.as_deref().unwrap_or("1");
                    let size = prism_sdk::Decimal::from_rust(
                        size.parse().map_err(|e| format!("size: {e}"))?,
                    )
                    .map_err(|e| e.to_string())?;
                    let side = if n % 2 == 1 {
                        prism_sdk::Side::Buy
                    } else {
                        prism_sdk::Side::Sell
                    };
                    ctx.order(
                        &format!("t{n}"),
                        t.instrument,
                        t.ts,
                        side,
                        size,
                        None,
                        false,
                    );
                }
            }
            "chatty" => {
                let line = format!(
                    "chatty\r\n2026-01-01T00:00:00Z ERROR forged line {}",
                    "z".repeat(960)
                );
                for _ in 0..self.config.lines {
                    prism_sdk::log::info(&line);
                }
            }
            _ => {}
        }
        let poisoned = (self.config.at != 0 && self.events == self.config.at)
            || self.config.at_ts.is_some_and(|t| event.ts() == Some(t));
        if poisoned {
            self.misbehave(ctx)?;
        }
        Ok(())
    }

    fn on_batch_end(&mut self, ctx: &mut Context) -> Result<(), String> {
        if let Some(seen) = self.sandbox.take() {
            ctx.document("sandbox", self.last_ts, &seen)?;
        }
        ctx.document(
            "count",
            self.last_ts,
            &serde_json::json!({"events": self.events}),
        )
    }

    fn snapshot(&self) -> Vec<u8> {
        self.events.to_le_bytes().to_vec()
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        if self.config.mode == "restore_error" {
            return Err("restore_error mode: refusing state".into());
        }
        let bytes: [u8; 8] = state
            .try_into()
            .map_err(|_| "state must be 8 bytes".to_owned())?;
        self.events = u64::from_le_bytes(bytes);
        Ok(())
    }
}

prism_sdk::export_plugin!(Probe);
