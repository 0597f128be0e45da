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
use prism_sdk::{
    Boundaries, Context, Event, InstrumentId, Plugin, PluginInfo, Side, Subscription, state,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

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

/// Exact taker notional of one bucket of time: `buy` and `sell` are
/// integers in units of `10^-scale`.
///
/// Integers rather than `rust_decimal` because this runs once per trade and
/// 96-bit decimal arithmetic is several times slower in wasm; the values are
/// the same, exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Flow {
    bucket: i64,
    buy: i128,
    sell: i128,
    scale: u32,
}

const POW10: [i128; 39] = {
    let mut table = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

impl Flow {
    /// Adds `mantissa × 10^-scale` to one side, exactly.
    fn add(&mut self, side: Side, mantissa: i128, scale: u32) -> Result<(), String> {
        let overflow = || "taker notional overflows 128 bits".to_owned();
        let mut value = mantissa;
        if scale > self.scale {
            let k = POW10
                .get((scale - self.scale) as usize)
                .ok_or_else(overflow)?;
            self.buy = self.buy.checked_mul(*k).ok_or_else(overflow)?;
            self.sell = self.sell.checked_mul(*k).ok_or_else(overflow)?;
            self.scale = scale;
        } else if scale < self.scale {
            let k = POW10
                .get((self.scale - scale) as usize)
                .ok_or_else(overflow)?;
            value = value.checked_mul(*k).ok_or_else(overflow)?;
        }
        let total = match side {
            Side::Buy => &mut self.buy,
            Side::Sell => &mut self.sell,
        };
        *total = total.checked_add(value).ok_or_else(overflow)?;
        Ok(())
    }
}

/// Per-instrument state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Book {
    /// Whether any trade or position was seen (only those instruments emit).
    seen: bool,
    /// Taker flow by bucket, oldest first.
    flow: VecDeque<Flow>,
    /// Latest position size sign by account: +1 or -1 (flat accounts are dropped).
    accounts: HashMap<String, i8>,
    longs: u64,
    shorts: u64,
}

/// The plugin's whole state (what `snapshot` saves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LongShortRatio {
    config: Config,
    /// gcd(window, step): buckets of this width tile every window exactly.
    bucket_ms: i64,
    /// When to emit next.
    boundaries: Boundaries,
    /// By instrument id.
    books: Vec<Book>,
}

/// A saved state, as this version writes it or as 0.1.0 did (which kept
/// the schedule as `next_boundary`): a swap from 0.1.0 keeps its place.
#[derive(Deserialize)]
struct Saved {
    config: Config,
    bucket_ms: i64,
    #[serde(default)]
    boundaries: Option<Boundaries>,
    #[serde(default)]
    next_boundary: Option<i64>,
    books: Vec<Book>,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// price × size as an exact integer and its scale. The 64-bit product is
/// tried first because 128-bit multiplication is a library call in wasm.
fn notional(price: prism_sdk::Decimal, size: prism_sdk::Decimal) -> (i128, u32) {
    let scale = u32::from(price.scale) + u32::from(size.scale);
    match price.mantissa.checked_mul(size.mantissa) {
        Some(m) => (i128::from(m), scale),
        None => (
            i128::from(price.mantissa) * i128::from(size.mantissa),
            scale,
        ),
    }
}

/// The ratio of two exact amounts at one scale, as the nearest f64 that
/// decimal division gives.
fn ratio(buy: i128, sell: i128, scale: u32) -> f64 {
    let exact = |m: i128| Decimal::try_from_i128_with_scale(m, scale.min(28)).ok();
    match (exact(buy), exact(sell)) {
        (Some(b), Some(s)) if scale <= 28 => {
            b.checked_div(s).map_or(buy as f64 / sell as f64, to_f64)
        }
        _ => buy as f64 / sell as f64,
    }
}

impl LongShortRatio {
    /// Builds the plugin from its config.
    ///
    /// # Errors
    /// When a field is not positive.
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
            boundaries: Boundaries::new(config.step_ms),
            books: Vec::new(),
        })
    }

    fn book(&mut self, id: InstrumentId) -> &mut Book {
        let at = id as usize;
        if self.books.len() <= at {
            self.books.resize_with(at + 1, Book::default);
        }
        let book = &mut self.books[at];
        book.seen = true;
        book
    }

    #[inline]
    fn emit_until(&mut self, ts: i64, ctx: &mut Context) {
        let mut boundaries = self.boundaries;
        boundaries.advance(ts, |boundary| self.emit(boundary, ctx));
        self.boundaries = boundaries;
    }

    fn emit(&mut self, boundary: i64, ctx: &mut Context) {
        let from = (boundary - self.config.window_ms).div_euclid(self.bucket_ms);
        let to = boundary.div_euclid(self.bucket_ms);
        for (id, book) in self.books.iter().enumerate() {
            let mut total = Flow::default();
            for f in book
                .flow
                .iter()
                .filter(|f| f.bucket >= from && f.bucket < to)
            {
                // Cannot fail: each bucket fitted, and the window is a sum of few.
                let _ = total.add(Side::Buy, f.buy, f.scale);
                let _ = total.add(Side::Sell, f.sell, f.scale);
            }
            if total.sell > 0 {
                ctx.series(
                    "taker_long_short_ratio",
                    Some(id as u32),
                    boundary,
                    ratio(total.buy, total.sell, total.scale),
                );
            }
        }
        for (id, book) in self.books.iter().enumerate() {
            if book.seen && book.shorts > 0 {
                ctx.series(
                    "account_long_short_ratio",
                    Some(id as u32),
                    boundary,
                    book.longs as f64 / book.shorts as f64,
                );
            }
        }
        // Buckets before the next window's start are never read again.
        let keep_from =
            (boundary + self.config.step_ms - self.config.window_ms).div_euclid(self.bucket_ms);
        for book in &mut self.books {
            while book.flow.front().is_some_and(|f| f.bucket < keep_from) {
                book.flow.pop_front();
            }
        }
    }

    fn trade(&mut self, t: &prism_sdk::Trade) -> Result<(), String> {
        let bucket = t.ts.div_euclid(self.bucket_ms);
        let (value, scale) = notional(t.price, t.size);
        let book = self.book(t.instrument);
        // Trades arrive in time order almost always: the newest bucket is last.
        let at = match book.flow.iter().rposition(|f| f.bucket <= bucket) {
            Some(i) if book.flow[i].bucket == bucket => i,
            Some(i) => {
                book.flow.insert(
                    i + 1,
                    Flow {
                        bucket,
                        ..Flow::default()
                    },
                );
                i + 1
            }
            None => {
                book.flow.push_front(Flow {
                    bucket,
                    ..Flow::default()
                });
                0
            }
        };
        book.flow[at].add(t.side, value, scale)
    }
}

fn to_f64(d: Decimal) -> f64 {
    // The shortest exact text of the decimal, parsed: the nearest f64.
    d.to_string().parse().unwrap_or(f64::NAN)
}

impl Plugin for LongShortRatio {
    fn init(config: &str) -> Result<(Self, PluginInfo), String> {
        let config: Config =
            serde_json::from_str(config).map_err(|e| format!("long-short-ratio config: {e}"))?;
        let plugin = Self::from_config(config)?;
        // Every kind: any event's time may pass a boundary.
        let info = PluginInfo::new(
            "long-short-ratio",
            env!("CARGO_PKG_VERSION"),
            Subscription::all(),
        );
        Ok((plugin, info))
    }

    fn on_event(&mut self, ctx: &mut Context, event: &Event) -> Result<(), String> {
        let Some(ts) = event.ts() else { return Ok(()) };
        self.emit_until(ts, ctx);
        match event {
            Event::Trade(t) => self.trade(t)?,
            Event::Position(p) => {
                let size = p.size.mantissa.signum() as i8;
                let book = self.book(p.instrument);
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
        state::encode(self)
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let saved: Saved = state::decode(bytes, "long-short-ratio")?;
        let boundaries = saved
            .boundaries
            .unwrap_or_else(|| Boundaries::resume(saved.config.step_ms, saved.next_boundary));
        // The operator's current config wins over the saved one: under
        // another window or step the flows restart.
        if saved.config == self.config {
            self.bucket_ms = saved.bucket_ms;
            self.boundaries = boundaries;
            self.books = saved.books;
        } else {
            self.books = saved.books;
            for book in &mut self.books {
                book.flow.clear();
            }
        }
        Ok(())
    }
}

prism_sdk::export_plugin!(LongShortRatio);

#[cfg(test)]
mod tests;
