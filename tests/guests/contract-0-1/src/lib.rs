//! A plugin built against contract 0.1 (`wit/0.1/`, the contract as it was
//! before candles and tickers), with wit-bindgen alone, as plugins of that
//! time were. It subscribes to every kind and publishes, per event, the
//! series `seen.<kind>` with how many events of that kind it has seen, so a
//! test can check a 0.2 host still runs it and never hands it a kind 0.1
//! lacks. It also logs through 0.1's `host` import.

#[allow(missing_docs, unreachable_pub, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/0.1",
        world: "plugin",
    });
}

use bindings::prism::plugin::events::Event;
use bindings::prism::plugin::host::{LogLevel, log};
use bindings::prism::plugin::outputs::{Output, SeriesPoint};
use bindings::{PluginInfo, Subscription};
use std::cell::RefCell;
use std::collections::BTreeMap;

thread_local! {
    static SEEN: RefCell<BTreeMap<&'static str, u64>> = const { RefCell::new(BTreeMap::new()) };
}

struct Legacy;

fn kind(event: &Event) -> Option<(&'static str, i64, Option<u32>)> {
    Some(match event {
        Event::Instrument(_) => return None,
        Event::Trade(t) => ("trade", t.ts, Some(t.instrument)),
        Event::Liquidation(l) => ("liquidation", l.ts, Some(l.instrument)),
        Event::Funding(f) => ("funding", f.ts, Some(f.instrument)),
        Event::OpenInterest(o) => ("open_interest", o.ts, Some(o.instrument)),
        Event::Book(b) => ("book", b.ts, Some(b.instrument)),
        Event::Position(p) => ("position", p.ts, Some(p.instrument)),
        Event::Timer(t) => ("timer", t.ts, None),
        Event::Fill(f) => ("fill", f.ts, Some(f.instrument)),
    })
}

impl bindings::Guest for Legacy {
    fn init(_config: String) -> Result<PluginInfo, String> {
        log(LogLevel::Info, "a 0.1 plugin starts");
        Ok(PluginInfo {
            name: "legacy".into(),
            version: "0.1.0".into(),
            subscription: Subscription {
                kinds: Vec::new(),
                exchanges: Vec::new(),
                symbols: Vec::new(),
                timer_interval_ms: None,
            },
        })
    }

    fn on_events(events: Vec<Event>) -> Result<Vec<Output>, String> {
        SEEN.with_borrow_mut(|seen| {
            let mut out = Vec::new();
            for event in &events {
                let Some((name, ts, instrument)) = kind(event) else {
                    continue;
                };
                let n = seen.entry(name).or_default();
                *n += 1;
                out.push(Output::Series(SeriesPoint {
                    name: format!("seen.{name}"),
                    instrument,
                    ts,
                    value: *n as f64,
                }));
            }
            Ok(out)
        })
    }

    fn snapshot() -> Vec<u8> {
        Vec::new()
    }

    fn restore(_state: Vec<u8>) -> Result<(), String> {
        Ok(())
    }
}

bindings::export!(Legacy with_types_in bindings);
