//! The paper accounts' records into the `paper_*` tables: each keyed by
//! its identity in the stream, so a report made again after a restart
//! never adds a row twice.

use crate::insert::run;
use crate::rows::ExecutionRows;
use tokio_postgres::Transaction;

type Result<T> = std::result::Result<T, tokio_postgres::Error>;

/// The name serde gives a unit variant (`buy`, `stop_loss`, `maker`).
fn snake<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A record as its `body` column holds it.
fn json<T: serde::Serialize>(record: &T) -> serde_json::Value {
    serde_json::to_value(record).unwrap_or(serde_json::Value::Null)
}

/// A paper account's reports: orders take their latest state (a state made
/// again after a restart never goes back: one with more filled, or later,
/// wins), fills and funding payments are written once, positions, PnL points
/// and risk states are the last said.
pub(crate) async fn execution(tx: &Transaction<'_>, reports: &[&ExecutionRows]) -> Result<u64> {
    let mut n = 0;
    let text = |d: &prism_model::Decimal| d.to_string();
    for r in reports {
        let report = &r.report;
        for o in &report.orders {
            n += run(
                tx,
                "INSERT INTO paper_orders (id, plugin, client_id, origin, exchange, symbol, side, size,
                     limit_price, reduce_only, status, filled, average_price, fees, reason, ts,
                     updated_ts, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::numeric, $9::text::numeric, $10,
                     $11, $12::text::numeric, $13::text::numeric, $14::text::numeric, $15, $16, $17,
                     $18)
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body,
                     filled = excluded.filled, average_price = excluded.average_price,
                     fees = excluded.fees, reason = excluded.reason,
                     updated_ts = excluded.updated_ts
                 WHERE (excluded.filled, excluded.updated_ts) >= (paper_orders.filled, paper_orders.updated_ts)",
                &[
                    &o.id.as_ref(),
                    &o.plugin.as_ref(),
                    &o.client_id.as_ref(),
                    &snake(&o.origin),
                    &o.exchange.as_ref(),
                    &o.symbol.as_ref(),
                    &snake(&o.side),
                    &text(&o.size),
                    &o.limit_price.as_ref().map(text),
                    &o.reduce_only,
                    &o.status.as_str(),
                    &text(&o.filled),
                    &o.average_price.as_ref().map(text),
                    &text(&o.fees),
                    &o.reason,
                    &o.ts,
                    &o.updated_ts,
                    &json(o),
                ],
            )
            .await?;
        }
        for f in &report.fills {
            n += run(
                tx,
                "INSERT INTO paper_fills (id, order_id, plugin, client_id, exchange, symbol, side, price,
                     size, fee, liquidity, realized, ts, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::numeric, $9::text::numeric,
                     $10::text::numeric, $11, $12::text::numeric, $13, $14)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &f.id.as_ref(),
                    &f.order_id.as_ref(),
                    &f.plugin.as_ref(),
                    &f.client_id.as_ref(),
                    &f.exchange.as_ref(),
                    &f.symbol.as_ref(),
                    &snake(&f.side),
                    &text(&f.price),
                    &text(&f.size),
                    &text(&f.fee),
                    &snake(&f.liquidity),
                    &text(&f.realized),
                    &f.ts,
                    &json(f),
                ],
            )
            .await?;
        }
        for f in &report.funding {
            n += run(
                tx,
                "INSERT INTO paper_funding (plugin, exchange, symbol, ts, size, mark_price,
                     rate, amount, body)
                 VALUES ($1, $2, $3, $4, $5::text::numeric, $6::text::numeric,
                     $7::text::numeric, $8::text::numeric, $9)
                 ON CONFLICT DO NOTHING",
                &[
                    &f.plugin.as_ref(),
                    &f.exchange.as_ref(),
                    &f.symbol.as_ref(),
                    &f.ts,
                    &text(&f.size),
                    &text(&f.mark_price),
                    &text(&f.rate),
                    &text(&f.amount),
                    &json(f),
                ],
            )
            .await?;
        }
        for p in &report.positions {
            n += run(
                tx,
                "INSERT INTO paper_positions (plugin, exchange, symbol, base, size, entry_price,
                     mark_price, realized, unrealized, funding, fees, total, ts, body)
                 VALUES ($1, $2, $3, $4, $5::text::numeric, $6::text::numeric, $7::text::numeric,
                     $8::text::numeric, $9::text::numeric, $10::text::numeric,
                     $11::text::numeric, $12::text::numeric, $13, $14)
                 ON CONFLICT (plugin, exchange, symbol) DO UPDATE SET size = excluded.size,
                     entry_price = excluded.entry_price, mark_price = excluded.mark_price,
                     realized = excluded.realized, unrealized = excluded.unrealized,
                     funding = excluded.funding, fees = excluded.fees, total = excluded.total,
                     ts = excluded.ts, body = excluded.body",
                &[
                    &p.plugin.as_ref(),
                    &p.exchange.as_ref(),
                    &p.symbol.as_ref(),
                    &p.base.as_ref(),
                    &text(&p.size),
                    &p.entry_price.as_ref().map(text),
                    &p.mark_price.as_ref().map(text),
                    &text(&p.realized),
                    &text(&p.unrealized),
                    &text(&p.funding),
                    &text(&p.fees),
                    &text(&p.total),
                    &p.ts,
                    &json(p),
                ],
            )
            .await?;
        }
        if let Some(p) = &report.pnl {
            n += run(
                tx,
                "INSERT INTO paper_pnl (plugin, ts, realized, unrealized, funding, fees, total, body)
                 VALUES ($1, $2, $3::text::numeric, $4::text::numeric, $5::text::numeric,
                     $6::text::numeric, $7::text::numeric, $8)
                 ON CONFLICT (plugin, ts) DO UPDATE SET realized = excluded.realized,
                     unrealized = excluded.unrealized, funding = excluded.funding,
                     fees = excluded.fees, total = excluded.total, body = excluded.body",
                &[
                    &p.plugin.as_ref(),
                    &p.ts,
                    &text(&p.realized),
                    &text(&p.unrealized),
                    &text(&p.funding),
                    &text(&p.fees),
                    &text(&p.total),
                    &json(p),
                ],
            )
            .await?;
        }
        if let Some(k) = &report.risk {
            n += run(
                tx,
                "INSERT INTO paper_risk (plugin, state, reason, gross_notional, day_pnl, ts, body)
                 VALUES ($1, $2, $3, $4::text::numeric, $5::text::numeric, $6, $7)
                 ON CONFLICT (plugin) DO UPDATE SET state = excluded.state,
                     reason = excluded.reason, gross_notional = excluded.gross_notional,
                     day_pnl = excluded.day_pnl, ts = excluded.ts, body = excluded.body",
                &[
                    &k.plugin.as_ref(),
                    &k.state.as_str(),
                    &k.reason,
                    &text(&k.gross_notional),
                    &text(&k.day_pnl),
                    &k.ts,
                    &json(k),
                ],
            )
            .await?;
        }
    }
    Ok(n)
}
