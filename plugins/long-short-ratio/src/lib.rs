//! Taker and account long/short ratios per instrument.
//!
//! Exact meaning (also in `docs/plugins/long-short-ratio.md`): boundaries are
//! multiples of `step_ms` in event time. When the first event with
//! `ts >= B` arrives for a boundary `B` not yet emitted (every boundary
//! skipped by a gap included), then, before that event is processed:
//!
//! - for every instrument whose taker-sell notional in `[B - window_ms, B)`
//!   is > 0: series `taker_long_short_ratio` at `ts = B`, value
//!   Σ(price × size of buy trades) / Σ(price × size of sell trades) over
//!   that interval;
//! - for every instrument with at least one account whose latest position
//!   size is < 0: series `account_long_short_ratio` at `ts = B`, value
//!   (accounts with size > 0) / (accounts with size < 0).
//!
//! Nothing is flushed at the end of a stream. Notionals are summed exactly
//! (decimals); only the final ratio is a float.

use prism_sdk::rust_decimal::Decimal;
use prism_sdk::{Context, Event, InstrumentId, Plugin, PluginInfo, Side, Subscription};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Operator config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Width of the window each ratio covers, ms.
    pub window_ms: i64,
    /// Spacing of the boundaries, ms.
    pub step_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            window_ms: 300_000,
            step_ms: 60_000,
        }
    }
}

/// Taker notional of one bucket of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Flow {
    buy: Decimal,
    sell: Decimal,
}

/// Per-instrument state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Book {
    /// Taker flow by bucket index (`ts div bucket_ms`).
    flow: BTreeMap<i64, Flow>,
    /// Latest position size sign by account: +1, -1 or 0.
    accounts: HashMap<String, i8>,
    longs: u64,
    shorts: u64,
}

/// The plugin's whole state (what `snapshot` saves).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LongShortRatio {
    config: Config,
    /// gcd(window, step): buckets of this width tile every window exactly.
    bucket_ms: i64,
    /// The next boundary to emit, once the first event was seen.
    next_boundary: Option<i64>,
    books: BTreeMap<InstrumentId, Book>,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn notional(price: prism_sdk::Decimal, size: prism_sdk::Decimal) -> Result<Decimal, String> {
    let p = price.to_rust().map_err(|e| format!("price: {e}"))?;
    let s = size.to_rust().map_err(|e| format!("size: {e}"))?;
    p.checked_mul(s).ok_or_else(|| format!("notional {p} × {s} overflows"))
}

impl LongShortRatio {
    /// Builds the plugin from its config.
    ///
    /// # Errors
    /// When a field is unknown or not positive.
    pub fn from_config(config: Config) -> Result<Self, String> {
        if config.window_ms <= 0 {
            return Err(format!("window_ms must be > 0, got {}", config.window_ms));
        }
        if config.step_ms <= 0 {
            return Err(format!("step_ms must be > 0, got {}", config.step_ms));
        }
        Ok(Self {
            config,
            bucket_ms: gcd(config.window_ms, config.step_ms),
            next_boundary: None,
            books: BTreeMap::new(),
        })
    }

    fn emit_until(&mut self, ts: i64, ctx: &mut Context) -> Result<(), String> {
        let step = self.config.step_ms;
        let next = *self
            .next_boundary
            .get_or_insert_with(|| ts.div_euclid(step) * step + step);
        let mut boundary = next;
        while boundary <= ts {
            self.emit(boundary, ctx)?;
            boundary += step;
        }
        self.next_boundary = Some(boundary);
        Ok(())
    }

    fn emit(&mut self, boundary: i64, ctx: &mut Context) -> Result<(), String> {
        let from = (boundary - self.config.window_ms).div_euclid(self.bucket_ms);
        let to = boundary.div_euclid(self.bucket_ms);
        for (id, book) in &self.books {
            let (mut buy, mut sell) = (Decimal::ZERO, Decimal::ZERO);
            for flow in book.flow.range(from..to).map(|(_, f)| f) {
                buy += flow.buy;
                sell += flow.sell;
            }
            if sell > Decimal::ZERO {
                let ratio = buy.checked_div(sell).ok_or("ratio overflows")?;
                ctx.series("taker_long_short_ratio", Some(*id), boundary, to_f64(ratio));
            }
        }
        for (id, book) in &self.books {
            if book.shorts > 0 {
                ctx.series(
                    "account_long_short_ratio",
                    Some(*id),
                    boundary,
                    book.longs as f64 / book.shorts as f64,
                );
            }
        }
        // Buckets before the next window's start are never read again.
        let keep_from = (boundary + self.config.step_ms - self.config.window_ms).div_euclid(self.bucket_ms);
        for book in self.books.values_mut() {
            book.flow = book.flow.split_off(&keep_from);
        }
        Ok(())
    }
}

fn to_f64(d: Decimal) -> f64 {
    // Decimal's own conversion is exact to the last f64 bit for these magnitudes.
    d.to_string().parse().unwrap_or(f64::NAN)
}

impl Plugin for LongShortRatio {
    fn init(config: &str) -> Result<(Self, PluginInfo), String> {
        let config: Config = serde_json::from_str(config).map_err(|e| format!("long-short-ratio config: {e}"))?;
        let plugin = Self::from_config(config)?;
        // Every kind: any event's time may pass a boundary.
        let info = PluginInfo::new("long-short-ratio", env!("CARGO_PKG_VERSION"), Subscription::all());
        Ok((plugin, info))
    }

    fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String> {
        let Some(ts) = event.ts() else { return Ok(()) };
        self.emit_until(ts, ctx)?;
        match event {
            Event::Trade(t) => {
                let value = notional(t.price, t.size)?;
                let bucket = ts.div_euclid(self.bucket_ms);
                let flow = self.books.entry(t.instrument).or_default().flow.entry(bucket).or_default();
                match t.side {
                    Side::Buy => flow.buy += value,
                    Side::Sell => flow.sell += value,
                }
            }
            Event::Position(p) => {
                let size = p.size.mantissa.signum() as i8;
                let book = self.books.entry(p.instrument).or_default();
                let before = book.accounts.insert(p.account.clone(), size).unwrap_or(0);
                match before {
                    1 => book.longs -= 1,
                    -1 => book.shorts -= 1,
                    _ => {}
                }
                match size {
                    1 => book.longs += 1,
                    -1 => book.shorts += 1,
                    _ => {}
                }
                if size == 0 {
                    book.accounts.remove(&p.account);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn snapshot(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).unwrap_or_default()
    }

    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let restored: Self = rmp_serde::from_slice(state).map_err(|e| format!("long-short-ratio state: {e}"))?;
        // The operator's current config wins over the saved one.
        let config = self.config;
        *self = restored;
        if self.config != config {
            self.config = config;
            self.bucket_ms = gcd(config.window_ms, config.step_ms);
            self.next_boundary = None;
            for book in self.books.values_mut() {
                book.flow.clear();
            }
        }
        Ok(())
    }
}

prism_sdk::export_plugin!(LongShortRatio);

#[cfg(test)]
mod tests;
