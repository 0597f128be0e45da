//! The statements that write rows: one multi-row `INSERT … SELECT FROM
//! UNNEST(arrays)` per table and transaction (a round trip per table, not
//! per row), each `ON CONFLICT DO NOTHING` on the row's identity so a
//! transaction retried after a lost answer, or a batch made again after a
//! restart, writes nothing twice. Outputs and archived events are first
//! tried as plain inserts ([`Mode::Fast`]): a conflict is rare (a retry
//! after a lost answer, events archived again after a restart) and sends
//! the transaction back to be written `Careful`.

use crate::rows::{ArchiveRows, CheckpointRow, DeadLetterRow, OutputRows, Record};
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;

type Result<T> = std::result::Result<T, tokio_postgres::Error>;

pub(crate) async fn run(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64> {
    tx.execute(sql, params).await
}

/// How rows meet rows with the same identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Plain inserts: a row already there fails the transaction (with
    /// `unique_violation`), which is then written again `Careful`. The
    /// common case, where nothing is there, skips the speculative
    /// insertion `ON CONFLICT` costs (about a third of the server's time
    /// per row, measured).
    Fast,
    /// `ON CONFLICT DO NOTHING`: rows already there are left alone.
    Careful,
}

/// Runs a bulk insert written with `ON CONFLICT DO NOTHING`, without that
/// clause in `Fast` mode.
async fn bulk(
    tx: &Transaction<'_>,
    mode: Mode,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64> {
    match mode {
        Mode::Careful => run(tx, sql, params).await,
        Mode::Fast => {
            let plain = sql
                .trim_end()
                .strip_suffix("ON CONFLICT DO NOTHING")
                .unwrap_or(sql);
            run(tx, plain, params).await
        }
    }
}

/// Columns every output table starts with: the identity.
#[derive(Default)]
struct Identity<'a> {
    plugin: Vec<&'a str>,
    position: Vec<i64>,
    idx: Vec<i32>,
}

impl<'a> Identity<'a> {
    fn push(&mut self, o: &'a OutputRows, idx: i32) {
        self.plugin.push(&o.plugin);
        self.position.push(o.position);
        self.idx.push(idx);
    }
}

/// Every output row of `batches`; returns the rows inserted.
pub(crate) async fn outputs(
    tx: &Transaction<'_>,
    batches: &[&OutputRows],
    mode: Mode,
) -> Result<u64> {
    let mut n = 0;
    n += series(tx, batches, mode).await?;
    n += documents(tx, batches, mode).await?;
    n += logs(tx, batches, mode).await?;
    n += signals(tx, batches, mode).await?;
    n += orders(tx, batches, mode).await?;
    n += alerts(tx, batches, mode).await?;
    Ok(n)
}

async fn series(tx: &Transaction<'_>, batches: &[&OutputRows], mode: Mode) -> Result<u64> {
    let mut id = Identity::default();
    let (mut name, mut exchange, mut symbol, mut ts, mut value) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for o in batches {
        for r in &o.series {
            id.push(o, r.idx);
            name.push(r.name.as_str());
            exchange.push(r.exchange.as_deref());
            symbol.push(r.symbol.as_deref());
            ts.push(r.ts);
            value.push(r.value);
        }
    }
    if name.is_empty() {
        return Ok(0);
    }
    bulk(
        tx,
        mode,
        "INSERT INTO series (plugin, position, idx, name, exchange, symbol, ts, value)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int4[], $4::text[], $5::text[],
                              $6::text[], $7::int8[], $8::float8[])
         ON CONFLICT DO NOTHING",
        &[
            &id.plugin,
            &id.position,
            &id.idx,
            &name,
            &exchange,
            &symbol,
            &ts,
            &value,
        ],
    )
    .await
}

async fn documents(tx: &Transaction<'_>, batches: &[&OutputRows], mode: Mode) -> Result<u64> {
    let mut id = Identity::default();
    let (mut key, mut ts, mut body) = (Vec::new(), Vec::new(), Vec::new());
    for o in batches {
        for r in &o.documents {
            id.push(o, r.idx);
            key.push(r.key.as_str());
            ts.push(r.ts);
            body.push(&r.body);
        }
    }
    if key.is_empty() {
        return Ok(0);
    }
    bulk(
        tx,
        mode,
        "INSERT INTO documents (plugin, position, idx, key, ts, body)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int4[], $4::text[], $5::int8[],
                              $6::jsonb[])
         ON CONFLICT DO NOTHING",
        &[&id.plugin, &id.position, &id.idx, &key, &ts, &body],
    )
    .await
}

async fn logs(tx: &Transaction<'_>, batches: &[&OutputRows], mode: Mode) -> Result<u64> {
    let mut id = Identity::default();
    let (mut name, mut exchange, mut symbol, mut ts, mut body) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for o in batches {
        for r in &o.logs {
            id.push(o, r.idx);
            name.push(r.name.as_str());
            exchange.push(r.exchange.as_deref());
            symbol.push(r.symbol.as_deref());
            ts.push(r.ts);
            body.push(&r.body);
        }
    }
    if name.is_empty() {
        return Ok(0);
    }
    bulk(
        tx,
        mode,
        "INSERT INTO logs (plugin, position, idx, name, exchange, symbol, ts, body)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int4[], $4::text[], $5::text[],
                              $6::text[], $7::int8[], $8::jsonb[])
         ON CONFLICT DO NOTHING",
        &[
            &id.plugin,
            &id.position,
            &id.idx,
            &name,
            &exchange,
            &symbol,
            &ts,
            &body,
        ],
    )
    .await
}

async fn signals(tx: &Transaction<'_>, batches: &[&OutputRows], mode: Mode) -> Result<u64> {
    let mut id = Identity::default();
    let mut cols: [Vec<&str>; 5] = Default::default();
    let mut ts = Vec::new();
    for o in batches {
        for r in &o.signals {
            id.push(o, r.idx);
            cols[0].push(&r.exchange);
            cols[1].push(&r.symbol);
            cols[2].push(&r.direction);
            cols[3].push(&r.strength);
            cols[4].push(&r.reason);
            ts.push(r.ts);
        }
    }
    if ts.is_empty() {
        return Ok(0);
    }
    let [exchange, symbol, direction, strength, reason] = &cols;
    bulk(
        tx,
        mode,
        "INSERT INTO signals (plugin, position, idx, exchange, symbol, ts, direction, strength, reason)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int4[], $4::text[], $5::text[],
                              $6::int8[], $7::text[], $8::text[], $9::text[])
         ON CONFLICT DO NOTHING",
        &[
            &id.plugin,
            &id.position,
            &id.idx,
            exchange,
            symbol,
            &ts,
            direction,
            strength,
            reason,
        ],
    )
    .await
}

async fn orders(tx: &Transaction<'_>, batches: &[&OutputRows], mode: Mode) -> Result<u64> {
    let mut id = Identity::default();
    let mut cols: [Vec<&str>; 5] = Default::default();
    let (mut ts, mut limit, mut reduce) = (Vec::new(), Vec::new(), Vec::new());
    for o in batches {
        for r in &o.orders {
            id.push(o, r.idx);
            cols[0].push(&r.client_id);
            cols[1].push(&r.exchange);
            cols[2].push(&r.symbol);
            cols[3].push(&r.side);
            cols[4].push(&r.size);
            ts.push(r.ts);
            limit.push(r.limit_price.as_deref());
            reduce.push(r.reduce_only);
        }
    }
    if ts.is_empty() {
        return Ok(0);
    }
    let [client_id, exchange, symbol, side, size] = &cols;
    bulk(
        tx,
        mode,
        "INSERT INTO orders (plugin, position, idx, client_id, exchange, symbol, ts, side, size,
                             limit_price, reduce_only)
         SELECT p, n, i, c, e, s, t, sd, sz::numeric, lp::numeric, ro
         FROM UNNEST($1::text[], $2::int8[], $3::int4[], $4::text[], $5::text[], $6::text[],
                     $7::int8[], $8::text[], $9::text[], $10::text[], $11::bool[])
              AS u(p, n, i, c, e, s, t, sd, sz, lp, ro)
         ON CONFLICT DO NOTHING",
        &[
            &id.plugin,
            &id.position,
            &id.idx,
            client_id,
            exchange,
            symbol,
            &ts,
            side,
            size,
            &limit,
            &reduce,
        ],
    )
    .await
}

async fn alerts(tx: &Transaction<'_>, batches: &[&OutputRows], mode: Mode) -> Result<u64> {
    let mut id = Identity::default();
    let mut cols: [Vec<&str>; 3] = Default::default();
    let mut ts = Vec::new();
    for o in batches {
        for r in &o.alerts {
            id.push(o, r.idx);
            cols[0].push(&r.priority);
            cols[1].push(&r.title);
            cols[2].push(&r.body);
            ts.push(r.ts);
        }
    }
    if ts.is_empty() {
        return Ok(0);
    }
    let [priority, title, body] = &cols;
    bulk(
        tx,
        mode,
        "INSERT INTO alerts (plugin, position, idx, ts, priority, title, body)
         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int4[], $4::int8[], $5::text[],
                              $6::text[], $7::text[])
         ON CONFLICT DO NOTHING",
        &[
            &id.plugin,
            &id.position,
            &id.idx,
            &ts,
            priority,
            title,
            body,
        ],
    )
    .await
}

/// Archived input events; returns the rows inserted.
pub(crate) async fn archive(
    tx: &Transaction<'_>,
    batches: &[&ArchiveRows],
    mode: Mode,
) -> Result<u64> {
    let mut n = 0;
    n += trades(tx, batches, mode).await?;
    n += liquidations(tx, batches, mode).await?;
    n += funding(tx, batches, mode).await?;
    n += open_interest(tx, batches, mode).await?;
    n += positions(tx, batches, mode).await?;
    Ok(n)
}

async fn trades(tx: &Transaction<'_>, batches: &[&ArchiveRows], mode: Mode) -> Result<u64> {
    let (mut position, mut ts, mut received) = (Vec::new(), Vec::new(), Vec::new());
    let mut cols: [Vec<&str>; 5] = Default::default();
    let (mut buyer, mut seller) = (Vec::new(), Vec::new());
    for a in batches {
        for r in &a.trades {
            position.push(r.position);
            ts.push(r.ts);
            received.push(r.received_ts);
            cols[0].push(&r.exchange);
            cols[1].push(&r.symbol);
            cols[2].push(&r.price);
            cols[3].push(&r.size);
            cols[4].push(&r.side);
            buyer.push(r.buyer.as_deref());
            seller.push(r.seller.as_deref());
        }
    }
    if position.is_empty() {
        return Ok(0);
    }
    let [exchange, symbol, price, size, side] = &cols;
    bulk(
        tx,
        mode,
        "INSERT INTO trades (position, exchange, symbol, ts, received_ts, price, size, side,
                             buyer, seller)
         SELECT n, e, s, t, r, p::numeric, z::numeric, sd, b, sl
         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[],
                     $7::text[], $8::text[], $9::text[], $10::text[])
              AS u(n, e, s, t, r, p, z, sd, b, sl)
         ON CONFLICT DO NOTHING",
        &[
            &position, exchange, symbol, &ts, &received, price, size, side, &buyer, &seller,
        ],
    )
    .await
}

async fn liquidations(tx: &Transaction<'_>, batches: &[&ArchiveRows], mode: Mode) -> Result<u64> {
    let (mut position, mut ts, mut account) = (Vec::new(), Vec::new(), Vec::new());
    let mut cols: [Vec<&str>; 5] = Default::default();
    for a in batches {
        for r in &a.liquidations {
            position.push(r.position);
            ts.push(r.ts);
            account.push(r.account.as_deref());
            cols[0].push(&r.exchange);
            cols[1].push(&r.symbol);
            cols[2].push(&r.price);
            cols[3].push(&r.size);
            cols[4].push(&r.position_side);
        }
    }
    if position.is_empty() {
        return Ok(0);
    }
    let [exchange, symbol, price, size, side] = &cols;
    bulk(
        tx,
        mode,
        "INSERT INTO liquidation_events (position, exchange, symbol, ts, price, size,
                                         position_side, account)
         SELECT n, e, s, t, p::numeric, z::numeric, sd, a
         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[],
                     $7::text[], $8::text[])
              AS u(n, e, s, t, p, z, sd, a)
         ON CONFLICT DO NOTHING",
        &[
            &position, exchange, symbol, &ts, price, size, side, &account,
        ],
    )
    .await
}

async fn funding(tx: &Transaction<'_>, batches: &[&ArchiveRows], mode: Mode) -> Result<u64> {
    let (mut position, mut ts, mut interval, mut next) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut cols: [Vec<&str>; 3] = Default::default();
    let (mut mark, mut index) = (Vec::new(), Vec::new());
    for a in batches {
        for r in &a.funding {
            position.push(r.position);
            ts.push(r.ts);
            interval.push(r.interval_hours);
            next.push(r.next_funding_ts);
            cols[0].push(&r.exchange);
            cols[1].push(&r.symbol);
            cols[2].push(&r.rate);
            mark.push(r.mark_price.as_deref());
            index.push(r.index_price.as_deref());
        }
    }
    if position.is_empty() {
        return Ok(0);
    }
    let [exchange, symbol, rate] = &cols;
    bulk(
        tx,
        mode,
        "INSERT INTO funding_events (position, exchange, symbol, ts, rate, interval_hours,
                                     mark_price, index_price, next_funding_ts)
         SELECT n, e, s, t, r::numeric, h, m::numeric, x::numeric, nf
         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::int4[],
                     $7::text[], $8::text[], $9::int8[])
              AS u(n, e, s, t, r, h, m, x, nf)
         ON CONFLICT DO NOTHING",
        &[
            &position, exchange, symbol, &ts, rate, &interval, &mark, &index, &next,
        ],
    )
    .await
}

async fn open_interest(tx: &Transaction<'_>, batches: &[&ArchiveRows], mode: Mode) -> Result<u64> {
    let (mut position, mut ts) = (Vec::new(), Vec::new());
    let mut cols: [Vec<&str>; 3] = Default::default();
    for a in batches {
        for r in &a.open_interest {
            position.push(r.position);
            ts.push(r.ts);
            cols[0].push(&r.exchange);
            cols[1].push(&r.symbol);
            cols[2].push(&r.open_interest);
        }
    }
    if position.is_empty() {
        return Ok(0);
    }
    let [exchange, symbol, oi] = &cols;
    bulk(
        tx,
        mode,
        "INSERT INTO open_interest_events (position, exchange, symbol, ts, open_interest)
         SELECT n, e, s, t, o::numeric
         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::text[])
              AS u(n, e, s, t, o)
         ON CONFLICT DO NOTHING",
        &[&position, exchange, symbol, &ts, oi],
    )
    .await
}

async fn positions(tx: &Transaction<'_>, batches: &[&ArchiveRows], mode: Mode) -> Result<u64> {
    let (mut position, mut ts) = (Vec::new(), Vec::new());
    let mut cols: [Vec<&str>; 5] = Default::default();
    let (mut liq, mut lev) = (Vec::new(), Vec::new());
    for a in batches {
        for r in &a.positions {
            position.push(r.position);
            ts.push(r.ts);
            cols[0].push(&r.exchange);
            cols[1].push(&r.symbol);
            cols[2].push(&r.account);
            cols[3].push(&r.size);
            cols[4].push(&r.entry_price);
            liq.push(r.liquidation_price.as_deref());
            lev.push(r.leverage.as_deref());
        }
    }
    if position.is_empty() {
        return Ok(0);
    }
    let [exchange, symbol, account, size, entry] = &cols;
    bulk(
        tx,
        mode,
        "INSERT INTO position_events (position, exchange, symbol, ts, account, size, entry_price,
                                      liquidation_price, leverage)
         SELECT n, e, s, t, a, z::numeric, p::numeric, l::numeric, v::numeric
         FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::text[])
              AS u(n, e, s, t, a, z, p, l, v)
         ON CONFLICT DO NOTHING",
        &[
            &position, exchange, symbol, &ts, account, size, entry, &liq, &lev,
        ],
    )
    .await
}

/// Dead letters; returns the rows inserted.
pub(crate) async fn dead_letters(tx: &Transaction<'_>, rows: &[&DeadLetterRow]) -> Result<u64> {
    let mut n = 0;
    for d in rows {
        n += run(
            tx,
            "INSERT INTO dead_letters (plugin, position, idx, at_ms, event, kind, message, sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            &[
                &d.plugin,
                &d.position,
                &d.idx,
                &d.at_ms,
                &d.event,
                &d.kind,
                &d.message,
                &d.sha256,
            ],
        )
        .await?;
    }
    Ok(n)
}

/// A plugin's checkpoint replaces its previous one. Its instrument list is
/// written only when `with_instruments` (it changed).
pub(crate) async fn checkpoint(
    tx: &Transaction<'_>,
    c: &CheckpointRow,
    with_instruments: bool,
) -> Result<()> {
    let instruments = with_instruments
        .then(|| serde_json::to_value(&c.instruments).unwrap_or(serde_json::Value::Null));
    run(
        tx,
        "INSERT INTO checkpoints (plugin, position, sha256, state, instruments, taken_at_ms, account)
         VALUES ($1, $2, $3, $4, COALESCE($5, '[]'::jsonb), $6, $7)
         ON CONFLICT (plugin) DO UPDATE SET position = excluded.position,
             sha256 = excluded.sha256, state = excluded.state,
             instruments = COALESCE($5, checkpoints.instruments),
             taken_at_ms = excluded.taken_at_ms, account = excluded.account",
        &[
            &c.plugin,
            &c.position,
            &c.sha256,
            &c.state.as_ref(),
            &instruments,
            &c.taken_at_ms,
            &c.account.as_ref().map(|a| a.as_ref()),
        ],
    )
    .await?;
    Ok(())
}

/// A registry change; returns the rows written.
pub(crate) async fn registry(tx: &Transaction<'_>, record: &Record) -> Result<u64> {
    match record {
        Record::Plugin(p) => {
            if let Some(component) = &p.component {
                run(
                    tx,
                    "INSERT INTO components (sha256, bytes) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&p.sha256, &component.as_ref()],
                )
                .await?;
            }
            let origin = if p.component.is_some() {
                "upload"
            } else {
                "file"
            };
            run(
                tx,
                "INSERT INTO plugins (id, origin, path, from_config, sha256, config, settings,
                                      paused, removed, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, false, $9)
                 ON CONFLICT (id) DO UPDATE SET origin = excluded.origin, path = excluded.path,
                     from_config = excluded.from_config, sha256 = excluded.sha256,
                     config = excluded.config, settings = excluded.settings,
                     paused = excluded.paused, removed = false,
                     updated_at_ms = excluded.updated_at_ms",
                &[
                    &p.id,
                    &origin,
                    &p.path,
                    &p.from_config,
                    &p.sha256,
                    &p.config,
                    &p.settings,
                    &p.paused,
                    &p.updated_at_ms,
                ],
            )
            .await
        }
        Record::Removed { id } => {
            // A plugin the config file lists is kept as removed, so that it
            // stays removed; any other is forgotten.
            let kept = run(
                tx,
                "UPDATE plugins SET removed = true, paused = false,
                     updated_at_ms = (extract(epoch from now()) * 1000)::bigint
                 WHERE id = $1 AND from_config",
                &[id],
            )
            .await?;
            let gone = run(
                tx,
                "DELETE FROM plugins WHERE id = $1 AND NOT from_config",
                &[id],
            )
            .await?;
            Ok(kept + gone)
        }
        Record::Version(v) => {
            run(
                tx,
                "INSERT INTO plugin_versions (plugin, loaded_at_ms, sha256, name, version, config,
                                              change, status, error)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                &[
                    &v.plugin,
                    &v.loaded_at_ms,
                    &v.sha256,
                    &v.name,
                    &v.version,
                    &v.config,
                    &v.change,
                    &v.status,
                    &v.error,
                ],
            )
            .await
        }
        _ => Ok(0),
    }
}
