//! Reads that reach past memory. With PostgreSQL configured, what the
//! memory stores no longer hold (older than their bounds, or made before
//! this process started) comes from the database; memory answers the rest
//! and stays the cache of what is recent. The two never overlap: memory
//! says where its copy starts, and the database is asked only for what
//! lies before. Without a database these are the memory reads.
//!
//! Called inside [`crate::reads::read`] (a blocking thread), so the
//! database's futures are driven with the runtime's handle.

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use prism_model::{
    Decimal, Direction, Instrument, InstrumentId, LogEntry, MarketKind, OutputId, SeriesPoint,
    Signal, Strength,
};
use prism_outputs::{
    DEFAULT_LIMIT, LogQuery, MAX_LIMIT, Page, SeriesQuery, SignalCursor, SignalList, SignalQuery,
};
use prism_postgres::{Filter, PostgresError};
use std::sync::Arc;

fn wait<T>(f: impl std::future::Future<Output = Result<T, PostgresError>>) -> Result<T, ApiError> {
    tokio::runtime::Handle::current().block_on(f).map_err(|e| {
        tracing::warn!("a history read failed: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "history_unavailable",
            format!("the database could not answer ({e}); what memory holds is served without a range beyond it"),
        )
    })
}

fn limit(asked: Option<usize>) -> usize {
    asked.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// An instrument named by a stored row (only its exchange and symbol are
/// known; the views show nothing else).
fn named(exchange: Option<String>, symbol: Option<String>) -> Option<Arc<Instrument>> {
    Some(Arc::new(Instrument {
        id: InstrumentId(u32::MAX),
        exchange: Arc::from(exchange?),
        symbol: Arc::from(symbol?),
        base: Arc::from(""),
        quote: Arc::from(""),
        kind: MarketKind::Perpetual,
        contract_size: Decimal::ONE,
    }))
}

fn filter(
    exchange: &Option<String>,
    symbol: &Option<String>,
    from: Option<i64>,
    to: Option<i64>,
) -> Filter {
    Filter {
        exchange: exchange.clone(),
        symbol: symbol.clone(),
        from,
        to,
    }
}

/// A plugin's log entries, newest first, paged by identity.
///
/// # Errors
/// `503` when the database is needed and cannot answer.
pub(crate) fn logs(
    state: &AppState,
    plugin: &str,
    q: &LogQuery,
) -> Result<Page<(OutputId, LogEntry)>, ApiError> {
    let memory = state.store.logs(plugin, q);
    let Some(pg) = &state.postgres else {
        return Ok(memory);
    };
    // Memory holds every entry from its oldest on: a full page from it
    // has nothing of the database's in between.
    if memory.next_cursor.is_some() {
        return Ok(memory);
    }
    let want = limit(q.limit);
    let need = want - memory.items.len();
    let before = match (q.cursor, state.store.log_start(plugin)) {
        (Some(c), Some(s)) => Some(c.min(s)),
        (c, s) => c.or(s),
    };
    let body: Vec<(&str, &str)> = q
        .body
        .iter()
        .map(|(f, v)| (f.as_str(), v.as_str()))
        .collect();
    let stored = wait(pg.history.logs(
        plugin,
        q.name.as_deref(),
        &filter(&q.exchange, &q.symbol, q.from, q.to),
        &body,
        before,
        need + 1,
    ))?;
    let more = stored.len() > need;
    let mut items = memory.items;
    items.extend(stored.into_iter().take(need).map(|r| {
        (
            r.id,
            LogEntry {
                name: Arc::from(r.name),
                instrument: named(r.exchange, r.symbol),
                ts: r.ts,
                body: r.body.into(),
            },
        )
    }));
    let next_cursor = if more {
        items.last().map(|(id, _)| *id)
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// Points of a series in the range, the newest `limit`, oldest first.
///
/// # Errors
/// `503` when the database cannot answer.
pub(crate) fn series(
    state: &AppState,
    plugin: &str,
    name: &str,
    q: &SeriesQuery,
) -> Result<Vec<SeriesPoint>, ApiError> {
    let memory = state.store.series(plugin, name, q);
    let Some(pg) = &state.postgres else {
        return Ok(memory.into_iter().map(|(_, p)| p).collect());
    };
    let want = limit(q.limit);
    let starts: Vec<(Option<String>, Option<String>, OutputId)> = state
        .store
        .series_starts(plugin, name)
        .into_iter()
        .map(|(e, s, id)| {
            let text = |t: Arc<str>| (!t.is_empty()).then(|| t.to_string());
            (text(e), text(s), id)
        })
        .collect();
    let stored = wait(pg.history.series(
        plugin,
        name,
        &filter(&q.exchange, &q.symbol, q.from, q.to),
        &starts,
        want,
    ))?;
    let mut all: Vec<(OutputId, SeriesPoint)> = memory;
    all.extend(stored.into_iter().map(|r| {
        (
            r.id,
            SeriesPoint {
                name: Arc::from(name),
                instrument: named(r.exchange, r.symbol),
                ts: r.ts,
                value: r.value,
            },
        )
    }));
    let place = |p: &SeriesPoint| {
        p.instrument
            .as_ref()
            .map(|i| (i.exchange.clone(), i.symbol.clone()))
    };
    all.sort_by(|(a_id, a), (b_id, b)| {
        a.ts.cmp(&b.ts)
            .then_with(|| place(a).cmp(&place(b)))
            .then(a_id.cmp(b_id))
    });
    let skip = all.len().saturating_sub(want);
    Ok(all.split_off(skip).into_iter().map(|(_, p)| p).collect())
}

fn direction(text: &str) -> Option<Direction> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

fn strength(text: &str) -> Option<Strength> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

fn text(v: impl serde::Serialize) -> Option<String> {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// Every plugin's signals, newest first (by identity, then plugin).
///
/// # Errors
/// `503` when the database cannot answer.
pub(crate) fn signals(state: &AppState, q: &SignalQuery) -> Result<SignalList, ApiError> {
    let want = limit(q.limit);
    let memory = state.store.signals(q);
    let Some(pg) = &state.postgres else {
        return Ok(memory);
    };
    // Plugins' signals interleave: both sides give a full page, merged.
    let starts: Vec<(String, OutputId)> = state
        .store
        .signal_starts()
        .into_iter()
        .map(|(p, id)| (p.to_string(), id))
        .collect();
    let stored = wait(pg.history.signals(
        q.plugin.as_deref(),
        &filter(&q.exchange, &q.symbol, q.from, q.to),
        q.direction.and_then(text).as_deref(),
        q.strength.and_then(text).as_deref(),
        q.cursor.as_ref().map(|c| (c.id, &*c.plugin)),
        &starts,
        want + 1,
    ))?;
    let more_in_memory = memory.next_cursor.is_some();
    let mut all = memory.items;
    for r in stored {
        let (Some(direction), Some(strength)) = (direction(&r.direction), strength(&r.strength))
        else {
            continue;
        };
        let Some(instrument) = named(Some(r.exchange), Some(r.symbol)) else {
            continue;
        };
        all.push((
            r.id,
            Arc::from(r.plugin),
            Signal {
                instrument,
                ts: r.ts,
                direction,
                strength,
                reason: Arc::from(r.reason),
            },
        ));
    }
    all.sort_unstable_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    let more = more_in_memory || all.len() > want;
    all.truncate(want);
    let next_cursor = if more {
        all.last().map(|(id, plugin, _)| SignalCursor {
            id: *id,
            plugin: plugin.clone(),
        })
    } else {
        None
    };
    Ok(Page {
        items: all,
        next_cursor,
    })
}
