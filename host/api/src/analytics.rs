//! The analytics endpoints: views over the outputs of the plugins that
//! `[analytics]` names. Lists are newest first and paged the same way
//! everywhere: `limit`, and `cursor` = the `next_cursor` of the page before.

use crate::error::ApiError;
use crate::reads::{cached_view, read};
use crate::routes::ApiQuery;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prism_model::{Decimal, LogEntry, SeriesPoint, TimestampMs, decimal};
use prism_outputs::{LogQuery, SeriesQuery};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

const HOUR_MS: i64 = 3_600_000;
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The plugin ids behind the analytics endpoints.
#[derive(Debug, Clone)]
pub struct AnalyticsPlugins {
    pub liquidations: String,
    pub liquidation_map: String,
    pub long_short_ratio: String,
    pub whales: String,
    pub opportunities: String,
}

impl Default for AnalyticsPlugins {
    fn default() -> Self {
        Self {
            liquidations: "liquidation-map".into(),
            liquidation_map: "liquidation-map".into(),
            long_short_ratio: "long-short-ratio".into(),
            whales: "whale-detector".into(),
            opportunities: "funding-arb".into(),
        }
    }
}

/// The id of the plugin backing `what`, or 404 naming the config key.
fn backing<'a>(state: &AppState, id: &'a str, key: &str) -> Result<&'a str, ApiError> {
    if state.control.view(id).is_some() {
        Ok(id)
    } else {
        Err(ApiError::not_found(format!(
            "no plugin `{id}` is running to back this endpoint (config key `analytics.{key}`)"
        )))
    }
}

/// "Now" for windows: the newest event time routed, else the wall clock.
fn now_ms(state: &AppState) -> TimestampMs {
    let head = state.head_ts.load(Ordering::Relaxed);
    if head == i64::MIN {
        prism_model::wall_ms()
    } else {
        head
    }
}

fn limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err(ApiError::bad_request("limit must be at least 1")),
        Some(n) => Ok(n.min(MAX_LIMIT)),
    }
}

fn place(l: &LogEntry) -> (Value, Value) {
    match &l.instrument {
        Some(i) => (json!(i.exchange.as_ref()), json!(i.symbol.as_ref())),
        None => (Value::Null, Value::Null),
    }
}

/// A `liquidation` log entry as the API shows it.
pub(crate) fn liquidation_item(l: &LogEntry) -> Value {
    let (exchange, symbol) = place(l);
    json!({
        "exchange": exchange, "symbol": symbol, "ts": l.ts,
        "side": l.body["side"], "price": l.body["price"], "size": l.body["size"],
        "notional": l.body["notional"], "account": l.body.get("account").cloned().unwrap_or(Value::Null),
    })
}

/// Which side of positions was liquidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SideFilter {
    Long,
    Short,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LiquidationsQuery {
    exchange: Option<String>,
    symbol: Option<String>,
    side: Option<SideFilter>,
    from: Option<TimestampMs>,
    to: Option<TimestampMs>,
    limit: Option<usize>,
    cursor: Option<u64>,
}

fn liquidations_page(state: &AppState, q: LiquidationsQuery) -> Result<Value, ApiError> {
    let plugin = backing(state, &state.analytics.liquidations, "liquidations")?;
    let side = q.side.map(|s| match s {
        SideFilter::Long => "long",
        SideFilter::Short => "short",
    });
    let query = LogQuery {
        name: Some("liquidation".into()),
        exchange: q.exchange,
        symbol: q.symbol,
        from: q.from,
        to: q.to,
        limit: Some(limit(q.limit)?),
        cursor: q.cursor,
    };
    let page = state.store.logs_matching(plugin, &query, |l| {
        side.is_none_or(|s| l.body["side"].as_str() == Some(s))
    });
    let items: Vec<Value> = page.items.iter().map(liquidation_item).collect();
    Ok(json!({"items": items, "next_cursor": page.next_cursor}))
}

/// `GET /api/v1/liquidations`.
pub(crate) async fn liquidations(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LiquidationsQuery>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| liquidations_page(state, q).map(Json)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecentQuery {
    exchange: Option<String>,
    symbol: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/liquidations/recent`: the newest liquidations (default 50).
pub(crate) async fn recent_liquidations(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RecentQuery>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| recent_liquidations_view(state, q)).await
}

fn recent_liquidations_view(state: &AppState, q: RecentQuery) -> Result<Json<Value>, ApiError> {
    let q = LiquidationsQuery {
        exchange: q.exchange,
        symbol: q.symbol,
        side: None,
        from: None,
        to: None,
        limit: Some(q.limit.unwrap_or(50)),
        cursor: None,
    };
    let mut page = liquidations_page(state, q)?;
    page["next_cursor"] = Value::Null;
    Ok(Json(page))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlaceQuery {
    exchange: Option<String>,
    symbol: Option<String>,
}

fn matches(filter: Option<&String>, value: &str) -> bool {
    filter.is_none_or(|f| f.eq_ignore_ascii_case(value))
}

#[derive(Default)]
struct SideTotals {
    count: u64,
    notional: Decimal,
}

/// `GET /api/v1/liquidations/stats`: counts and notional by side over the
/// last 1 h, 4 h and 24 h of event time (up to the newest event routed).
pub(crate) async fn liquidation_stats(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PlaceQuery>,
) -> Result<Json<std::sync::Arc<Value>>, ApiError> {
    let key = format!("liquidation_stats:{q:?}");
    cached_view(&state, key, move |state| {
        liquidation_stats_view(state, q).map(|j| j.0)
    })
    .await
    .map(Json)
}

fn liquidation_stats_view(state: &AppState, q: PlaceQuery) -> Result<Json<Value>, ApiError> {
    let plugin = backing(state, &state.analytics.liquidations, "liquidations")?;
    let now = now_ms(state);
    let windows = [("1h", 1), ("4h", 4), ("24h", 24)];
    let mut totals: Vec<[SideTotals; 2]> = windows.iter().map(|_| Default::default()).collect();
    state.store.for_each_log(plugin, "liquidation", |l| {
        let (exchange, symbol) = l
            .instrument
            .as_ref()
            .map_or(("", ""), |i| (&*i.exchange, &*i.symbol));
        if !matches(q.exchange.as_ref(), exchange) || !matches(q.symbol.as_ref(), symbol) {
            return;
        }
        let side = usize::from(l.body["side"].as_str() == Some("short"));
        let notional = l.body["notional"]
            .as_str()
            .and_then(|n| decimal::parse(n).ok())
            .unwrap_or_default();
        for (i, (_, hours)) in windows.iter().enumerate() {
            if l.ts > now - hours * HOUR_MS && l.ts <= now {
                let t = &mut totals[i][side];
                t.count += 1;
                t.notional += notional;
            }
        }
    });
    let side =
        |t: &SideTotals| json!({"count": t.count, "notional": t.notional.normalize().to_string()});
    let items: Vec<Value> = windows
        .iter()
        .zip(&totals)
        .map(|((name, hours), [long, short])| {
            let total = SideTotals {
                count: long.count + short.count,
                notional: long.notional + short.notional,
            };
            json!({"window": name, "from": now - hours * HOUR_MS, "to": now,
                   "long": side(long), "short": side(short), "total": side(&total)})
        })
        .collect();
    Ok(Json(json!({"now": now, "windows": items})))
}

const TAKER: &str = "taker_long_short_ratio";
const ACCOUNT: &str = "account_long_short_ratio";

fn ratio_point(p: &SeriesPoint) -> Value {
    json!({"ts": p.ts, "value": p.value})
}

/// `GET /api/v1/long-short-ratios/current`: per instrument, the newest
/// taker and account ratios.
pub(crate) async fn ratios_current(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PlaceQuery>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| ratios_current_view(state, q)).await
}

fn ratios_current_view(state: &AppState, q: PlaceQuery) -> Result<Json<Value>, ApiError> {
    let plugin = backing(state, &state.analytics.long_short_ratio, "long_short_ratio")?;
    let mut by_instrument: BTreeMap<(String, String), (Option<Value>, Option<Value>)> =
        BTreeMap::new();
    for (name, taker) in [(TAKER, true), (ACCOUNT, false)] {
        let query = SeriesQuery {
            exchange: q.exchange.clone(),
            symbol: q.symbol.clone(),
            limit: Some(prism_outputs::MAX_LIMIT),
            ..SeriesQuery::default()
        };
        for p in state.store.series(plugin, name, &query) {
            let Some(i) = &p.instrument else { continue };
            let entry = by_instrument
                .entry((i.exchange.to_string(), i.symbol.to_string()))
                .or_default();
            // Oldest first: the last one wins.
            if taker {
                entry.0 = Some(ratio_point(&p));
            } else {
                entry.1 = Some(ratio_point(&p));
            }
        }
    }
    let items: Vec<Value> = by_instrument
        .into_iter()
        .map(|((exchange, symbol), (taker, account))| {
            json!({"exchange": exchange, "symbol": symbol, "taker": taker, "account": account})
        })
        .collect();
    Ok(Json(json!({"items": items})))
}

/// Which ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RatioKind {
    Taker,
    Account,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    exchange: Option<String>,
    symbol: Option<String>,
    kind: Option<RatioKind>,
    from: Option<TimestampMs>,
    to: Option<TimestampMs>,
    limit: Option<usize>,
    /// The `next_cursor` of the page before (opaque: `time:skip`).
    cursor: Option<String>,
}

/// Where a page of ratio points starts: at `ts` (inclusive), after the
/// first `skip` points of that time.
fn parse_cursor(cursor: &str) -> Result<(TimestampMs, usize), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "invalid query: cursor `{cursor}` is not a cursor this endpoint gave"
        ))
    };
    let (ts, skip) = cursor.split_once(':').ok_or_else(bad)?;
    Ok((
        ts.parse().map_err(|_| bad())?,
        skip.parse().map_err(|_| bad())?,
    ))
}

/// `GET /api/v1/long-short-ratios/history`: ratio points, newest first
/// (within one time by kind, exchange, symbol).
pub(crate) async fn ratios_history(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| ratios_history_view(state, q)).await
}

fn ratios_history_view(state: &AppState, q: HistoryQuery) -> Result<Json<Value>, ApiError> {
    let plugin = backing(state, &state.analytics.long_short_ratio, "long_short_ratio")?;
    let limit = limit(q.limit)?;
    let start = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let to = match (q.to, start) {
        (Some(t), Some((c, _))) => Some(t.min(c)),
        (t, c) => t.or(c.map(|c| c.0)),
    };
    let kinds: &[(&str, &str)] = match q.kind {
        Some(RatioKind::Taker) => &[(TAKER, "taker")],
        Some(RatioKind::Account) => &[(ACCOUNT, "account")],
        None => &[(TAKER, "taker"), (ACCOUNT, "account")],
    };
    let mut points: Vec<(SeriesPoint, &str)> = Vec::new();
    for (name, kind) in kinds {
        let query = SeriesQuery {
            exchange: q.exchange.clone(),
            symbol: q.symbol.clone(),
            from: q.from,
            to,
            limit: Some(prism_outputs::MAX_LIMIT),
        };
        points.extend(
            state
                .store
                .series(plugin, name, &query)
                .into_iter()
                .map(|p| (p, *kind)),
        );
    }
    let place = |p: &SeriesPoint| {
        p.instrument
            .as_ref()
            .map(|i| (i.exchange.to_string(), i.symbol.to_string()))
    };
    // Newest first; a stable order within one time, so a cursor can skip into it.
    points.sort_by(|a, b| {
        b.0.ts
            .cmp(&a.0.ts)
            .then_with(|| a.1.cmp(b.1))
            .then_with(|| place(&a.0).cmp(&place(&b.0)))
    });
    if let Some((ts, skip)) = start {
        let at_ts = points.iter().take_while(|p| p.0.ts == ts).count();
        points.drain(..skip.min(at_ts));
    }
    let mut next_cursor = None;
    if points.len() > limit {
        let last = points[limit - 1].0.ts;
        let before = points[..limit].iter().filter(|p| p.0.ts == last).count();
        let skipped = match start {
            Some((ts, skip)) if ts == last => skip,
            _ => 0,
        };
        next_cursor = Some(format!("{last}:{}", before + skipped));
        points.truncate(limit);
    }
    let items: Vec<Value> = points
        .iter()
        .map(|(p, kind)| {
            let (exchange, symbol) = p
                .instrument
                .as_ref()
                .map_or((Value::Null, Value::Null), |i| (json!(i.exchange.as_ref()), json!(i.symbol.as_ref())));
            json!({"exchange": exchange, "symbol": symbol, "kind": kind, "ts": p.ts, "value": p.value})
        })
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": next_cursor})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MapQuery {
    exchange: String,
    symbol: String,
}

/// `GET /api/v1/liquidation-map?exchange=&symbol=`.
pub(crate) async fn liquidation_map(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<MapQuery>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| liquidation_map_view(state, q)).await
}

fn liquidation_map_view(state: &AppState, q: MapQuery) -> Result<Json<Value>, ApiError> {
    let plugin = backing(state, &state.analytics.liquidation_map, "liquidation_map")?;
    let wanted = format!("liquidation-map:{}:{}", q.exchange, q.symbol);
    let key = state
        .store
        .document_keys(plugin)
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(&wanted))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no liquidation map for {} {} yet",
                q.exchange, q.symbol
            ))
        })?;
    let d = state
        .store
        .document(plugin, &key)
        .ok_or_else(|| ApiError::not_found("the map was just replaced; try again"))?;
    Ok(Json(json!({"key": key, "ts": d.ts, "map": d.body})))
}

fn watched(state: &AppState, plugin: &str) -> Vec<String> {
    state
        .control
        .view(plugin)
        .and_then(|v| v.config.get("watched").cloned())
        .and_then(|w| serde_json::from_value(w).ok())
        .unwrap_or_default()
}

/// The body every whale-list endpoint answers with.
fn whale_list(plugin: &str, accounts: &[String]) -> Json<Value> {
    let items: Vec<Value> = accounts.iter().map(|a| json!({"account": a})).collect();
    Json(json!({"plugin": plugin, "items": items}))
}

/// `GET /api/v1/whales`: the watched accounts.
pub(crate) async fn whales(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let plugin = backing(&state, &state.analytics.whales, "whales")?;
    Ok(whale_list(plugin, &watched(&state, plugin)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWhale {
    account: String,
}

/// An account the whale plugin can follow, in its canonical form: an EVM
/// address (`0x` and 40 hex digits, Hyperliquid; lower case) or a numeric
/// account index (Lighter). Anything else could never match an event.
fn whale_account(text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if let Some(hex) = hex {
        return Ok(format!("0x{}", hex.to_ascii_lowercase()));
    }
    if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(text.to_owned());
    }
    Err(ApiError::bad_request(
        "account must be an address (0x and 40 hex digits, as on Hyperliquid) or a numeric account index (as on Lighter)",
    ))
}

/// Gives the whale plugin a new watch list; it is re-initialized with it,
/// its state and other settings carried over.
async fn set_watched(state: &AppState, plugin: &str, list: &[String]) -> Result<(), ApiError> {
    let mut config = state
        .control
        .view(plugin)
        .map(|v| v.config)
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    config["watched"] = json!(list);
    let text = config.to_string();
    let id = plugin.to_owned();
    crate::admin::blocking(state, move |control| control.replace_config(&id, &text)).await?;
    Ok(())
}

/// `POST /api/v1/whales` (admin): watch one more account.
pub(crate) async fn add_whale(
    _: crate::admin::Admin,
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let plugin = backing(&state, &state.analytics.whales, "whales")?.to_owned();
    let new: NewWhale = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("expected {{\"account\": \"…\"}}: {e}")))?;
    let account = whale_account(&new.account)?;
    let mut list = watched(&state, &plugin);
    if list.iter().any(|a| a.eq_ignore_ascii_case(&account)) {
        return Ok((StatusCode::OK, whale_list(&plugin, &list)).into_response());
    }
    list.push(account);
    set_watched(&state, &plugin, &list).await?;
    Ok((StatusCode::CREATED, whale_list(&plugin, &list)).into_response())
}

/// `DELETE /api/v1/whales/{account}` (admin): stop watching an account.
pub(crate) async fn remove_whale(
    _: crate::admin::Admin,
    State(state): State<AppState>,
    Path(account): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let plugin = backing(&state, &state.analytics.whales, "whales")?.to_owned();
    let account = whale_account(&account)?;
    let mut list = watched(&state, &plugin);
    let before = list.len();
    list.retain(|a| !a.eq_ignore_ascii_case(&account));
    if list.len() == before {
        return Err(ApiError::not_found(format!("{account} is not watched")));
    }
    set_watched(&state, &plugin, &list).await?;
    Ok(whale_list(&plugin, &list))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActivityQuery {
    exchange: Option<String>,
    symbol: Option<String>,
    from: Option<TimestampMs>,
    to: Option<TimestampMs>,
    limit: Option<usize>,
    cursor: Option<u64>,
}

/// `GET /api/v1/whales/{account}/activities`: a watched account's trades,
/// position changes and liquidations, newest first.
pub(crate) async fn whale_activities(
    State(state): State<AppState>,
    Path(account): Path<String>,
    ApiQuery(q): ApiQuery<ActivityQuery>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| {
        whale_activities_view(state, q, account)
    })
    .await
}

fn whale_activities_view(
    state: &AppState,
    q: ActivityQuery,
    account: String,
) -> Result<Json<Value>, ApiError> {
    let plugin = backing(state, &state.analytics.whales, "whales")?;
    let query = LogQuery {
        name: Some("whale_activity".into()),
        exchange: q.exchange,
        symbol: q.symbol,
        from: q.from,
        to: q.to,
        limit: Some(limit(q.limit)?),
        cursor: q.cursor,
    };
    let page = state.store.logs_matching(plugin, &query, |l| {
        l.body["account"]
            .as_str()
            .is_some_and(|a| a.eq_ignore_ascii_case(&account))
    });
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|l| {
            let mut body = l.body.clone();
            body["ts"] = json!(l.ts);
            body
        })
        .collect();
    Ok(Json(
        json!({"account": account, "items": items, "next_cursor": page.next_cursor}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpportunityQuery {
    base: Option<String>,
    exchange: Option<String>,
    min_net_apr: Option<f64>,
}

/// `GET /api/v1/opportunities`: every venue pair, best net APR first.
pub(crate) async fn opportunities(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<OpportunityQuery>,
) -> Result<Json<Value>, ApiError> {
    read(&state, move |state| opportunities_view(state, q)).await
}

fn opportunities_view(state: &AppState, q: OpportunityQuery) -> Result<Json<Value>, ApiError> {
    let plugin = backing(state, &state.analytics.opportunities, "opportunities")?;
    let Some(d) = state.store.document(plugin, "opportunities") else {
        return Ok(Json(json!({"ts": null, "items": []})));
    };
    let items: Vec<Value> = d.body["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|o| {
            let text = |k: &str| o[k].as_str().unwrap_or_default().to_owned();
            matches(q.base.as_ref(), &text("base"))
                && (matches(q.exchange.as_ref(), &text("long_exchange"))
                    || matches(q.exchange.as_ref(), &text("short_exchange")))
                && q.min_net_apr
                    .is_none_or(|m| o["net_apr"].as_f64().is_some_and(|n| n >= m))
        })
        .cloned()
        .collect();
    Ok(Json(json!({"ts": d.ts, "items": items})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignalStatsQuery {
    plugin: Option<String>,
    exchange: Option<String>,
    symbol: Option<String>,
}

/// Signal counts of one window.
#[derive(Default)]
struct SignalCounts {
    total: u64,
    by_plugin: BTreeMap<String, u64>,
    by_strength: BTreeMap<String, u64>,
    by_direction: BTreeMap<String, u64>,
}

/// `GET /api/v1/signals/stats`: counts of the kept signals by plugin,
/// strength and direction, over the last 1 h, 4 h and 24 h of event time
/// and in all.
pub(crate) async fn signal_stats(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<SignalStatsQuery>,
) -> Result<Json<std::sync::Arc<Value>>, ApiError> {
    let key = format!("signal_stats:{q:?}");
    cached_view(&state, key, move |state| {
        signal_stats_view(state, q).map(|j| j.0)
    })
    .await
    .map(Json)
}

fn signal_stats_view(state: &AppState, q: SignalStatsQuery) -> Result<Json<Value>, ApiError> {
    let now = now_ms(state);
    let names = ["1h", "4h", "24h", "all"];
    let spans = [Some(HOUR_MS), Some(4 * HOUR_MS), Some(24 * HOUR_MS), None];
    let mut counts: Vec<SignalCounts> = names.iter().map(|_| SignalCounts::default()).collect();
    state.store.for_each_signal(|plugin, s| {
        if !matches(q.plugin.as_ref(), plugin)
            || !matches(q.exchange.as_ref(), &s.instrument.exchange)
            || !matches(q.symbol.as_ref(), &s.instrument.symbol)
        {
            return;
        }
        let text = |v: Value| v.as_str().unwrap_or_default().to_owned();
        for (i, span) in spans.iter().enumerate() {
            if span.is_none_or(|w| s.ts > now - w && s.ts <= now) {
                let c = &mut counts[i];
                c.total += 1;
                *c.by_plugin.entry(plugin.to_owned()).or_default() += 1;
                *c.by_strength.entry(text(json!(s.strength))).or_default() += 1;
                *c.by_direction.entry(text(json!(s.direction))).or_default() += 1;
            }
        }
    });
    let windows: Vec<Value> = names
        .iter()
        .zip(spans)
        .zip(counts)
        .map(|((name, span), c)| {
            json!({"window": name, "from": span.map(|w| now - w), "to": now, "total": c.total,
                   "by_plugin": c.by_plugin, "by_strength": c.by_strength, "by_direction": c.by_direction})
        })
        .collect();
    Ok(Json(json!({"now": now, "windows": windows})))
}

#[cfg(test)]
mod tests {
    use crate::routes::app;
    use crate::state::AppState;
    use crate::testing::{Fixed, view};
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use prism_model::{InstrumentRegistry, LogEntry, Output, SeriesPoint};
    use prism_outputs::{OutputStore, StoreLimits};
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use tower::ServiceExt;

    const NOW: i64 = 1_700_100_000_000;
    const HOUR: i64 = 3_600_000;

    fn state() -> AppState {
        let store = Arc::new(OutputStore::new(StoreLimits::default()));
        let mut reg = InstrumentRegistry::default();
        let (btc, _) = reg.intern("binance", "BTCUSDT");
        let (eth, _) = reg.intern("okx", "ETH-USDT-SWAP");
        let (hl, _) = reg.intern("hyperliquid", "BTC");
        let i = |id| Some(reg.get(id).unwrap().clone());
        let liq = |id, ts, side: &str, notional: &str| {
            Output::Log(LogEntry {
                name: Arc::from("liquidation"),
                instrument: i(id),
                ts,
                body: json!({"side": side, "price": "1", "size": notional, "notional": notional, "account": null}),
            })
        };
        store.insert(
            &Arc::from("liquidation-map"),
            vec![
                liq(eth, NOW - 5 * HOUR, "long", "50.25"),
                liq(btc, NOW - 2 * HOUR, "short", "200"),
                liq(btc, NOW - HOUR / 2, "long", "100.5"),
                // In the future of the newest event: outside every window.
                liq(btc, NOW + 1, "long", "7"),
            ],
        );
        let ratio = |id, name: &str, ts, value| {
            Output::Series(SeriesPoint {
                name: Arc::from(name),
                instrument: i(id),
                ts,
                value,
            })
        };
        let mut points = Vec::new();
        for (ts, v) in [(60_000, 1.0), (120_000, 2.0)] {
            points.push(ratio(btc, "taker_long_short_ratio", ts, v));
            points.push(ratio(eth, "taker_long_short_ratio", ts, v + 0.5));
            points.push(ratio(hl, "account_long_short_ratio", ts, v * 3.0));
        }
        store.insert(&Arc::from("long-short-ratio"), points);
        store.insert(
            &Arc::from("whale-detector"),
            vec![Output::Log(LogEntry {
                name: Arc::from("whale_activity"),
                instrument: i(hl),
                ts: NOW - 10,
                body: json!({"account": "0xAbC", "kind": "trade"}),
            })],
        );
        let control = Fixed::new(vec![
            view("liquidation-map", json!({})),
            view("long-short-ratio", json!({})),
            view(
                "whale-detector",
                json!({"min_trade_usd": 1000, "watched": ["0xabc"]}),
            ),
        ]);
        let mut state = AppState::new(store, Arc::new(control));
        state.head_ts.store(NOW, Ordering::Relaxed);
        state.admin.token = Some(Arc::from("t"));
        state
    }

    async fn call(state: &AppState, request: Request<Body>) -> (StatusCode, Value) {
        let response = app(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(state: &AppState, path: &str) -> Value {
        let (status, body) = call(state, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    #[tokio::test]
    async fn liquidation_stats_sum_exactly_per_window_and_side() {
        let s = state();
        let stats = get(&s, "/api/v1/liquidations/stats").await;
        assert_eq!(stats["now"], NOW);
        let w = |i: usize, side: &str| {
            (
                stats["windows"][i][side]["count"].as_u64().unwrap(),
                stats["windows"][i][side]["notional"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        };
        // 1 h: the long 100.5 (30 min ago). 4 h: + the short 200 (2 h ago).
        // 24 h: + the long 50.25 (5 h ago). The future one is in none.
        assert_eq!(w(0, "long"), (1, "100.5".into()));
        assert_eq!(w(0, "short"), (0, "0".into()));
        assert_eq!(w(1, "short"), (1, "200".into()));
        assert_eq!(w(2, "long"), (2, "150.75".into()));
        assert_eq!(w(2, "total"), (3, "350.75".into()));
        let btc = get(&s, "/api/v1/liquidations/stats?symbol=btcusdt").await;
        assert_eq!(btc["windows"][2]["total"]["count"], 2);
    }

    #[tokio::test]
    async fn liquidations_page_newest_first_with_filters() {
        let s = state();
        let first = get(&s, "/api/v1/liquidations?limit=2").await;
        let notionals = |v: &Value| -> Vec<String> {
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["notional"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(notionals(&first), ["7", "100.5"]);
        let cursor = first["next_cursor"].as_u64().unwrap();
        let second = get(&s, &format!("/api/v1/liquidations?limit=2&cursor={cursor}")).await;
        assert_eq!(notionals(&second), ["200", "50.25"]);
        assert_eq!(second["next_cursor"], Value::Null);
        let short = get(&s, "/api/v1/liquidations?side=short").await;
        assert_eq!(notionals(&short), ["200"]);
        assert_eq!(short["items"][0]["exchange"], "binance");
        let okx = get(&s, "/api/v1/liquidations?exchange=OKX").await;
        assert_eq!(notionals(&okx), ["50.25"]);
        let recent = get(&s, "/api/v1/liquidations/recent?limit=1").await;
        assert_eq!(notionals(&recent), ["7"]);
        let (status, body) = call(
            &s,
            Request::get("/api/v1/liquidations?side=sideways")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]["message"].as_str().unwrap().contains("side"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn ratio_history_pages_through_points_of_one_time_without_loss() {
        let s = state();
        let mut cursor: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/long-short-ratios/history?limit=2&cursor={c}"),
                None => "/api/v1/long-short-ratios/history?limit=2".to_owned(),
            };
            let page = get(&s, &path).await;
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            for i in items {
                seen.push(format!(
                    "{} {} {} {}",
                    i["ts"], i["kind"], i["symbol"], i["value"]
                ));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(
            seen,
            [
                "120000 \"account\" \"BTC\" 6.0",
                "120000 \"taker\" \"BTCUSDT\" 2.0",
                "120000 \"taker\" \"ETH-USDT-SWAP\" 2.5",
                "60000 \"account\" \"BTC\" 3.0",
                "60000 \"taker\" \"BTCUSDT\" 1.0",
                "60000 \"taker\" \"ETH-USDT-SWAP\" 1.5",
            ]
        );
        let current = get(&s, "/api/v1/long-short-ratios/current").await;
        assert_eq!(
            current["items"],
            json!([
                {"exchange": "binance", "symbol": "BTCUSDT", "taker": {"ts": 120000, "value": 2.0}, "account": null},
                {"exchange": "hyperliquid", "symbol": "BTC", "taker": null, "account": {"ts": 120000, "value": 6.0}},
                {"exchange": "okx", "symbol": "ETH-USDT-SWAP", "taker": {"ts": 120000, "value": 2.5}, "account": null},
            ])
        );
    }

    #[tokio::test]
    async fn whales_are_listed_added_and_their_activities_read() {
        let s = state();
        assert_eq!(
            get(&s, "/api/v1/whales").await["items"],
            json!([{"account": "0xabc"}])
        );
        let activities = get(&s, "/api/v1/whales/0xABC/activities").await;
        assert_eq!(activities["items"][0]["kind"], "trade");
        assert_eq!(activities["items"][0]["ts"], NOW - 10);
        let send = |method: &str, path: &str, token: Option<&str>, body: String| {
            let mut r = Request::builder().method(method).uri(path);
            if let Some(t) = token {
                r = r.header("authorization", format!("Bearer {t}"));
            }
            r.body(Body::from(body)).unwrap()
        };
        let post = |token: Option<&str>, account: &str| {
            send(
                "POST",
                "/api/v1/whales",
                token,
                format!(r#"{{"account":"{account}"}}"#),
            )
        };
        let def = "0x00000000000000000000000000000000000000DE";
        let (status, _) = call(&s, post(None, def)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Only accounts a venue can have: an address or a numeric index.
        for bad in [
            "0xdef",
            "whale",
            "0x00000000000000000000000000000000000000zz",
            "",
            "-1",
        ] {
            let (status, answer) = call(&s, post(Some("t"), bad)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        }
        let (status, body) = call(&s, post(Some("t"), def)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = call(&s, post(Some("t"), " 281474976710655 ")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // The whale plugin got the longer list (addresses in lower case),
        // its other settings kept.
        let config = s.control.view("whale-detector").unwrap().config;
        let lower = def.to_ascii_lowercase();
        assert_eq!(
            config,
            json!({"min_trade_usd": 1000, "watched": ["0xabc", lower, "281474976710655"]})
        );
        let (status, _) = call(&s, post(Some("t"), &lower)).await;
        assert_eq!(status, StatusCode::OK, "already watched");
        let (status, _) = call(
            &s,
            send(
                "POST",
                "/api/v1/whales",
                Some("t"),
                r#"{"acount":"x"}"#.into(),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Stop watching: admin only, then gone from the list; twice is 404.
        let path = format!("/api/v1/whales/{def}");
        let (status, _) = call(&s, send("DELETE", &path, None, String::new())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, body) = call(&s, send("DELETE", &path, Some("t"), String::new())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["items"],
            json!([{"account": "0xabc"}, {"account": "281474976710655"}])
        );
        let (status, _) = call(&s, send("DELETE", &path, Some("t"), String::new())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = call(
            &s,
            Request::get("/api/v1/opportunities")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "no funding-arb plugin runs: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("analytics.opportunities")
        );
    }
}
