//! The bodies of the routes web front-ends already call (`frontend`): the
//! shapes the analytics backends Prism replaces answered with (camelCase,
//! display strings, numbers as floats), built from the reference plugins'
//! outputs. The exact values stay in Prism's own endpoints.

use super::display::{compact_usd, number, percent};
use prism_model::{Decimal, TimestampMs, utc_text};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The price range a heatmap covers unless asked: ±4.5 % of the price.
pub(crate) const DEFAULT_RANGE_PERCENT: Decimal = Decimal::from_parts(45, 0, 0, false, 1);

/// `GET /api/v1/market/liquidation`, and the `price_updates` payload: where
/// liquidations happened and would happen, by price bucket, around the
/// current price.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LiquidationHeatmap {
    /// The base asset.
    pub(crate) token: String,
    /// The last trade price of the newest map; null before any trade.
    pub(crate) current_price: Option<f64>,
    /// Buckets within the range, lowest price first.
    pub(crate) points: Vec<HeatmapPoint>,
    pub(crate) min_price: Option<f64>,
    pub(crate) max_price: Option<f64>,
    /// The bucket width (exact decimal text): the widest of the merged maps.
    pub(crate) bucket_size: Option<String>,
    /// The venues whose maps are merged.
    pub(crate) exchanges: Vec<String>,
    /// The newest map's time (RFC 3339, UTC).
    pub(crate) updated_at: Option<String>,
}

/// One price bucket: notional in the quote currency.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeatmapPoint {
    /// The bucket's lower edge.
    pub(crate) price: f64,
    /// Long positions: liquidated (realized) plus at risk (estimated).
    pub(crate) long_vol: f64,
    pub(crate) short_vol: f64,
    /// The bucket holds the current price.
    pub(crate) current: bool,
    pub(crate) long_realized: f64,
    pub(crate) long_estimated: f64,
    pub(crate) short_realized: f64,
    pub(crate) short_estimated: f64,
}

/// Notional of one bucket, exact: realized and estimated, long and short.
#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    long_realized: Decimal,
    short_realized: Decimal,
    long_estimated: Decimal,
    short_estimated: Decimal,
}

fn decimal_at(v: &Value, key: &str) -> Option<Decimal> {
    v.get(key)?.as_str()?.parse().ok()
}

impl LiquidationHeatmap {
    /// The maps of one token (`liquidation-map` documents: time and body)
    /// merged: every bucket re-bucketed to the widest bucket size (the
    /// automatic sizes are powers of ten, so smaller buckets nest), the
    /// price taken from the newest map, and the buckets overlapping
    /// `price × (1 ± range_percent / 100)` kept, with the bucket of the
    /// price always present.
    pub(crate) fn merge(
        token: &str,
        maps: &[(TimestampMs, &Value)],
        range_percent: Decimal,
    ) -> Self {
        let size = maps
            .iter()
            .filter_map(|(_, m)| decimal_at(m, "bucket_size"))
            .filter(|s| *s > Decimal::ZERO)
            .max();
        let newest = maps
            .iter()
            .filter(|(_, m)| decimal_at(m, "last_price").is_some())
            .max_by_key(|(ts, m)| (*ts, m["exchange"].as_str().map(str::to_owned)));
        let price = newest.and_then(|(_, m)| decimal_at(m, "last_price"));
        let mut exchanges: Vec<String> = maps
            .iter()
            .filter_map(|(_, m)| m["exchange"].as_str().map(str::to_owned))
            .collect();
        exchanges.sort();
        exchanges.dedup();
        let mut heatmap = Self {
            token: token.to_owned(),
            current_price: price.map(number),
            points: Vec::new(),
            min_price: None,
            max_price: None,
            bucket_size: size.map(|s| s.normalize().to_string()),
            exchanges,
            updated_at: maps.iter().map(|(ts, _)| *ts).max().map(utc_text),
        };
        let (Some(size), Some(price)) = (size, price) else {
            return heatmap;
        };
        let mut buckets: BTreeMap<Decimal, Bucket> = BTreeMap::new();
        for (_, m) in maps {
            for (part, realized) in [("realized", true), ("estimated", false)] {
                for b in m[part].as_array().into_iter().flatten() {
                    let Some(at) = decimal_at(b, "price") else {
                        continue;
                    };
                    let long = decimal_at(b, "long_notional").unwrap_or_default();
                    let short = decimal_at(b, "short_notional").unwrap_or_default();
                    let bucket = buckets.entry((at / size).floor() * size).or_default();
                    if realized {
                        bucket.long_realized += long;
                        bucket.short_realized += short;
                    } else {
                        bucket.long_estimated += long;
                        bucket.short_estimated += short;
                    }
                }
            }
        }
        let current = (price / size).floor() * size;
        buckets.entry(current).or_default();
        let reach = price * range_percent / Decimal::from(100);
        let (low, high) = (price - reach, price + reach);
        heatmap.points = buckets
            .range(..=high)
            .filter(|(at, _)| **at + size > low)
            .map(|(at, b)| HeatmapPoint {
                price: number(at.normalize()),
                long_vol: number(b.long_realized + b.long_estimated),
                short_vol: number(b.short_realized + b.short_estimated),
                current: *at == current,
                long_realized: number(b.long_realized),
                long_estimated: number(b.long_estimated),
                short_realized: number(b.short_realized),
                short_estimated: number(b.short_estimated),
            })
            .collect();
        heatmap.min_price = heatmap.points.first().map(|p| p.price);
        heatmap.max_price = heatmap.points.last().map(|p| p.price);
        heatmap
    }
}

/// `GET /api/v1/market/long-short-ratio`: open positions' notional, long
/// against short, where the venues publish positions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MarketLongShortRatio {
    pub(crate) long_percent: f64,
    pub(crate) short_percent: f64,
    /// Notional of long positions, in the quote currency.
    pub(crate) long_volume: f64,
    pub(crate) short_volume: f64,
    /// Change of `longVolume` against 24 h before, percent; null without
    /// a value that old for every instrument counted.
    pub(crate) long_change_24h: Option<f64>,
    pub(crate) short_change_24h: Option<f64>,
    /// The instruments counted, `exchange:symbol`.
    pub(crate) instruments: Vec<String>,
    pub(crate) updated_at: Option<String>,
}

impl MarketLongShortRatio {
    /// From the summed notionals now and, if known, 24 h before.
    pub(crate) fn of(
        now: (Decimal, Decimal),
        before: Option<(Decimal, Decimal)>,
        instruments: Vec<String>,
        updated: Option<TimestampMs>,
    ) -> Self {
        let (long, short) = now;
        let change =
            |now: Decimal, then: Decimal| (!then.is_zero()).then(|| percent(now - then, then));
        Self {
            long_percent: percent(long, long + short),
            short_percent: percent(short, long + short),
            long_volume: number(long),
            short_volume: number(short),
            long_change_24h: before.and_then(|(l, _)| change(long, l)),
            short_change_24h: before.and_then(|(_, s)| change(short, s)),
            instruments,
            updated_at: updated.map(utc_text),
        }
    }
}

/// `GET /api/v1/whale/activities`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WhaleTransactions {
    /// Newest first.
    pub(crate) transactions: Vec<WhaleTransaction>,
    /// All that match the filters (of those kept).
    pub(crate) total_count: usize,
    pub(crate) updated_at: Option<String>,
}

/// A large position change: opening or adding to (`Open`), reducing or
/// closing (`Close`); a flip from long to short is a `Close` and an `Open`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WhaleTransaction {
    /// Relative to the stream's newest event: `2 min ago`.
    pub(crate) time: String,
    /// Shortened: `0x49f3…8d2b`.
    pub(crate) address: String,
    /// The whole account.
    pub(crate) account: String,
    /// The base asset.
    pub(crate) token: String,
    /// Notional of the change, in the quote currency.
    pub(crate) value: f64,
    /// `Long` or `Short`.
    pub(crate) side: &'static str,
    /// `Open` or `Close`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// The size changed, with its asset: `28.40572 BTC`.
    pub(crate) amount: String,
    /// RFC 3339, UTC.
    pub(crate) timestamp: String,
    /// Always null: a position change is not one transaction.
    pub(crate) tx_hash: Option<String>,
    pub(crate) exchange: String,
    pub(crate) symbol: String,
    #[serde(skip)]
    pub(crate) ts: TimestampMs,
    #[serde(skip)]
    pub(crate) notional: Decimal,
}

/// One side of a position change: (side, Open/Close, size changed).
pub(crate) fn position_changes(
    old: Decimal,
    new: Decimal,
) -> Vec<(&'static str, &'static str, Decimal)> {
    let side = |d: Decimal| if d > Decimal::ZERO { "Long" } else { "Short" };
    let flipped =
        !old.is_zero() && !new.is_zero() && old.is_sign_negative() != new.is_sign_negative();
    if flipped {
        return vec![
            (side(old), "Close", old.abs()),
            (side(new), "Open", new.abs()),
        ];
    }
    let change = (new - old).abs();
    if change.is_zero() {
        Vec::new()
    } else if new.abs() > old.abs() {
        vec![(side(new), "Open", change)]
    } else {
        vec![(side(old), "Close", change)]
    }
}

/// `GET /api/v1/wallet/distribution`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WalletDistributionView {
    /// One per tier, smallest positions first.
    pub(crate) buckets: Vec<WalletBucket>,
    /// Wallets counted: an account holding two tokens counts once in each.
    pub(crate) total_wallets: u64,
    pub(crate) updated_at: Option<String>,
}

/// One tier of position size.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WalletBucket {
    /// `$0 - $250`, …, `$5M+`.
    pub(crate) position_size: String,
    /// The tier's name: `shrimp`.
    pub(crate) category: String,
    /// For display: `Shrimp`.
    pub(crate) category_en: String,
    pub(crate) wallet_count: u64,
    /// This tier's share of all positions' notional, percent.
    pub(crate) open_interest_percent: f64,
    /// `$717M`.
    pub(crate) long_value: String,
    pub(crate) short_value: String,
    /// Long notional's share of the tier's, percent.
    pub(crate) long_percent: f64,
    pub(crate) profit_users: u64,
    pub(crate) loss_users: u64,
    /// `bullish` (longs ≥ 55 %), `bearish` (≤ 45 %) or `neutral`.
    pub(crate) sentiment: &'static str,
    /// Exact decimal text.
    pub(crate) long_notional: String,
    pub(crate) short_notional: String,
}

/// A tier summed over instruments.
#[derive(Debug, Default, Clone)]
pub(crate) struct TierSum {
    pub(crate) name: String,
    pub(crate) min_usd: Decimal,
    pub(crate) max_usd: Option<Decimal>,
    pub(crate) wallets: u64,
    pub(crate) long: Decimal,
    pub(crate) short: Decimal,
    pub(crate) profit: u64,
    pub(crate) loss: u64,
}

impl WalletDistributionView {
    /// Sums `wallet-distribution` documents (their bodies) tier by tier,
    /// matching tiers by name, in the first document's order.
    pub(crate) fn of(docs: &[&Value], updated: Option<TimestampMs>) -> Self {
        let mut tiers: Vec<TierSum> = Vec::new();
        for doc in docs {
            for t in doc["tiers"].as_array().into_iter().flatten() {
                let Some(name) = t["name"].as_str() else {
                    continue;
                };
                let at = match tiers.iter().position(|s| s.name == name) {
                    Some(at) => at,
                    None => {
                        tiers.push(TierSum {
                            name: name.to_owned(),
                            min_usd: decimal_at(t, "min_usd").unwrap_or_default(),
                            max_usd: decimal_at(t, "max_usd"),
                            ..TierSum::default()
                        });
                        tiers.len() - 1
                    }
                };
                let sum = &mut tiers[at];
                let count = |k: &str| t[k].as_u64().unwrap_or(0);
                sum.wallets += count("wallets");
                sum.profit += count("profit_wallets");
                sum.loss += count("loss_wallets");
                sum.long += decimal_at(t, "long_notional").unwrap_or_default();
                sum.short += decimal_at(t, "short_notional").unwrap_or_default();
            }
        }
        let total: Decimal = tiers.iter().map(|t| t.long + t.short).sum();
        let buckets = tiers
            .iter()
            .map(|t| {
                let long_percent = percent(t.long, t.long + t.short);
                WalletBucket {
                    position_size: match t.max_usd {
                        Some(max) => format!("{} - {}", compact_usd(t.min_usd), compact_usd(max)),
                        None => format!("{}+", compact_usd(t.min_usd)),
                    },
                    category: t.name.clone(),
                    category_en: title(&t.name),
                    wallet_count: t.wallets,
                    open_interest_percent: percent(t.long + t.short, total),
                    long_value: compact_usd(t.long),
                    short_value: compact_usd(t.short),
                    long_percent,
                    profit_users: t.profit,
                    loss_users: t.loss,
                    sentiment: if t.long + t.short == Decimal::ZERO {
                        "neutral"
                    } else if long_percent >= 55.0 {
                        "bullish"
                    } else if long_percent <= 45.0 {
                        "bearish"
                    } else {
                        "neutral"
                    },
                    long_notional: t.long.normalize().to_string(),
                    short_notional: t.short.normalize().to_string(),
                }
            })
            .collect();
        Self {
            total_wallets: tiers.iter().map(|t| t.wallets).sum(),
            buckets,
            updated_at: updated.map(utc_text),
        }
    }
}

/// `apex_predator` → `Apex Predator`.
fn title(name: &str) -> String {
    name.split(['_', '-', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn maps_of_two_venues_merge_into_the_wider_buckets_around_the_price() {
        let binance = json!({"exchange": "binance", "bucket_size": "10", "last_price": "60005",
            "realized": [{"price": "59990", "long_notional": "1000", "short_notional": "0"},
                         {"price": "57000", "long_notional": "5", "short_notional": "0"}],
            "estimated": [{"price": "60100", "long_notional": "0", "short_notional": "300"}]});
        let okx = json!({"exchange": "okx", "bucket_size": "100", "last_price": "60010",
            "realized": [{"price": "59900", "long_notional": "20", "short_notional": "4"}],
            "estimated": []});
        // okx's map is newer: its price, 60010, is the current one. ±1 %:
        // 59409.9 … 60610.1, buckets of 100 from 59400 to 60600.
        let h = LiquidationHeatmap::merge("BTC", &[(2_000, &binance), (3_000, &okx)], d("1"));
        assert_eq!(h.current_price, Some(60010.0));
        assert_eq!(h.bucket_size.as_deref(), Some("100"));
        assert_eq!(h.exchanges, ["binance", "okx"]);
        let points: Vec<(f64, f64, f64, bool)> = h
            .points
            .iter()
            .map(|p| (p.price, p.long_vol, p.short_vol, p.current))
            .collect();
        // 59990 (binance) and 59900 (okx) fall in 59900: 1020 long, 4 short;
        // 60100 holds 300 short estimated; 60000 is the price's, empty;
        // 57000 is out of range.
        assert_eq!(
            points,
            [
                (59900.0, 1020.0, 4.0, false),
                (60000.0, 0.0, 0.0, true),
                (60100.0, 0.0, 300.0, false)
            ]
        );
        assert_eq!(h.points[0].long_realized, 1020.0);
        assert_eq!(h.points[2].short_estimated, 300.0);
        assert_eq!((h.min_price, h.max_price), (Some(59900.0), Some(60100.0)));
        assert_eq!(h.updated_at.as_deref(), Some("1970-01-01T00:00:03Z"));
    }

    #[test]
    fn a_map_before_any_trade_has_no_points() {
        let map = json!({"exchange": "okx", "bucket_size": "1", "last_price": null,
            "realized": [{"price": "5", "long_notional": "1", "short_notional": "0"}], "estimated": []});
        let h = LiquidationHeatmap::merge("ETH", &[(1, &map)], d("4.5"));
        assert!(h.points.is_empty());
        assert_eq!(h.current_price, None);
    }

    #[test]
    fn position_changes_open_close_and_flip() {
        assert_eq!(position_changes(d("0"), d("2")), [("Long", "Open", d("2"))]);
        assert_eq!(position_changes(d("2"), d("5")), [("Long", "Open", d("3"))]);
        assert_eq!(
            position_changes(d("5"), d("1")),
            [("Long", "Close", d("4"))]
        );
        assert_eq!(
            position_changes(d("-3"), d("0")),
            [("Short", "Close", d("3"))]
        );
        assert_eq!(
            position_changes(d("-3"), d("-4.5")),
            [("Short", "Open", d("1.5"))]
        );
        assert_eq!(
            position_changes(d("2"), d("-1")),
            [("Long", "Close", d("2")), ("Short", "Open", d("1"))]
        );
        assert!(position_changes(d("1"), d("1")).is_empty());
    }

    #[test]
    fn wallets_of_two_instruments_sum_by_tier() {
        let tier = |name: &str,
                    min: &str,
                    max: Option<&str>,
                    w: u64,
                    long: &str,
                    short: &str,
                    p: u64,
                    l: u64| {
            json!({"name": name, "min_usd": min, "max_usd": max, "wallets": w, "long_notional": long,
                   "short_notional": short, "profit_wallets": p, "loss_wallets": l})
        };
        let btc = json!({"tiers": [tier("shrimp", "0", Some("250"), 3, "300", "100", 1, 2),
                                   tier("apex_predator", "250", None, 1, "0", "1000", 0, 1)]});
        let eth = json!({"tiers": [tier("shrimp", "0", Some("250"), 2, "200", "0", 2, 0),
                                   tier("apex_predator", "250", None, 1, "2500", "0", 1, 0)]});
        let v = WalletDistributionView::of(&[&btc, &eth], Some(1_700_000_000_000));
        assert_eq!(v.total_wallets, 7);
        assert_eq!(v.updated_at.as_deref(), Some("2023-11-14T22:13:20Z"));
        let s = &v.buckets[0];
        // shrimp: long 500, short 100 of a total 4100.
        assert_eq!(s.position_size, "$0 - $250");
        assert_eq!(
            (s.category.as_str(), s.category_en.as_str()),
            ("shrimp", "Shrimp")
        );
        assert_eq!((s.wallet_count, s.profit_users, s.loss_users), (5, 3, 2));
        assert_eq!(s.open_interest_percent, 14.63); // 600 / 4100
        assert_eq!(s.long_percent, 83.33); // 500 / 600
        assert_eq!(s.sentiment, "bullish");
        assert_eq!(
            (s.long_value.as_str(), s.short_value.as_str()),
            ("$500", "$100")
        );
        let a = &v.buckets[1];
        assert_eq!(a.position_size, "$250+");
        assert_eq!(a.category_en, "Apex Predator");
        assert_eq!(a.long_percent, 71.43); // 2500 / 3500
        assert_eq!(a.open_interest_percent, 85.37);
        assert_eq!(a.long_value, "$2.5K");
        assert_eq!(a.long_notional, "2500");
    }

    #[test]
    fn the_ratio_and_its_change_over_a_day() {
        let r = MarketLongShortRatio::of(
            (d("2840000000"), d("2620000000")),
            Some((d("2700000000"), d("2700000000"))),
            vec!["hyperliquid:BTC".into()],
            Some(1_700_000_000_000),
        );
        // 2840 / 5460 = 52.01 %; (2840 − 2700) / 2700 = 5.19 %;
        // (2620 − 2700) / 2700 = −2.96 %.
        assert_eq!((r.long_percent, r.short_percent), (52.01, 47.99));
        assert_eq!(
            (r.long_change_24h, r.short_change_24h),
            (Some(5.19), Some(-2.96))
        );
        let none = MarketLongShortRatio::of((d("1"), d("0")), None, Vec::new(), None);
        assert_eq!((none.long_percent, none.long_change_24h), (100.0, None));
    }
}
