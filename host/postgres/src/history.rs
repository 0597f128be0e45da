//! Reading history back: the rows older than what the API's memory holds.
//!
//! Each read takes, besides its filters, where memory's copy starts (per
//! plugin, or per series instrument): rows from there on are memory's to
//! serve, so the two never overlap. Lists are newest first by identity and
//! paged by it (`before`); series are by event time, newest `limit`.

use crate::PostgresError;
use prism_model::{Decimal, OutputId, TimestampMs};
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

/// The read side of the database.
#[derive(Clone)]
pub struct History {
    pool: deadpool_postgres::Pool,
}

/// A log entry read back.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub id: OutputId,
    pub name: String,
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub ts: TimestampMs,
    pub body: Value,
}

/// A series point read back.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRecord {
    pub id: OutputId,
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    pub ts: TimestampMs,
    pub value: f64,
}

/// A signal read back.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalRecord {
    pub id: OutputId,
    pub plugin: String,
    pub exchange: String,
    pub symbol: String,
    pub ts: TimestampMs,
    pub direction: String,
    pub strength: String,
    pub reason: String,
}

/// An archived trade; its id is its stream position.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeRecord {
    pub id: u64,
    pub exchange: String,
    pub symbol: String,
    pub ts: TimestampMs,
    pub received_ts: TimestampMs,
    pub price: Decimal,
    pub size: Decimal,
    pub side: String,
    pub buyer: Option<String>,
    pub seller: Option<String>,
}

/// Filters common to the lists. Text filters match in any case.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub exchange: Option<String>,
    pub symbol: Option<String>,
    /// Event time, inclusive.
    pub from: Option<TimestampMs>,
    pub to: Option<TimestampMs>,
}

fn id(position: i64, idx: i32) -> OutputId {
    OutputId {
        position: u64::try_from(position).unwrap_or(0),
        index: u32::try_from(idx).unwrap_or(0),
    }
}

fn signed(id: OutputId) -> (i64, i32) {
    (
        i64::try_from(id.position).unwrap_or(i64::MAX),
        i32::try_from(id.index).unwrap_or(i32::MAX),
    )
}

fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A WHERE clause built with its parameters.
struct Query {
    clauses: Vec<String>,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Query {
    fn new() -> Self {
        Self {
            clauses: Vec::new(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter; returns its placeholder.
    fn param(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    fn clause(&mut self, text: String) {
        self.clauses.push(text);
    }

    fn common(&mut self, f: &Filter) {
        if let Some(e) = &f.exchange {
            let p = self.param(e.clone());
            self.clause(format!("lower(exchange) = lower({p})"));
        }
        if let Some(s) = &f.symbol {
            let p = self.param(s.clone());
            self.clause(format!("lower(symbol) = lower({p})"));
        }
        if let Some(from) = f.from {
            let p = self.param(from);
            self.clause(format!("ts >= {p}"));
        }
        if let Some(to) = f.to {
            let p = self.param(to);
            self.clause(format!("ts <= {p}"));
        }
    }

    fn text(&self) -> String {
        if self.clauses.is_empty() {
            "true".into()
        } else {
            self.clauses.join(" AND ")
        }
    }

    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

impl History {
    pub(crate) fn new(pool: deadpool_postgres::Pool) -> Self {
        Self { pool }
    }

    async fn query(&self, sql: &str, q: &Query) -> Result<Vec<Row>, PostgresError> {
        let client = self.pool.get().await.map_err(|e| PostgresError::Connect {
            target: "the read pool".into(),
            reason: e.to_string(),
        })?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, &q.refs()).await?)
    }

    /// A plugin's log entries with identity below `before`, newest first;
    /// `body` fields must equal the given text (any case).
    ///
    /// # Errors
    /// What the database said.
    pub async fn logs(
        &self,
        plugin: &str,
        name: Option<&str>,
        filter: &Filter,
        body: &[(&str, &str)],
        before: Option<OutputId>,
        count: usize,
    ) -> Result<Vec<LogRecord>, PostgresError> {
        let mut q = Query::new();
        let p = q.param(plugin.to_owned());
        q.clause(format!("plugin = {p}"));
        if let Some(name) = name {
            let p = q.param(name.to_owned());
            q.clause(format!("name = {p}"));
        }
        q.common(filter);
        for (field, value) in body {
            let (f, v) = (q.param((*field).to_owned()), q.param((*value).to_owned()));
            q.clause(format!("lower(body->>{f}) = lower({v})"));
        }
        if let Some(before) = before {
            let (pos, idx) = signed(before);
            let (a, b) = (q.param(pos), q.param(idx));
            q.clause(format!("(position, idx) < ({a}, {b})"));
        }
        let n = q.param(limit(count));
        let sql = format!(
            "SELECT position, idx, name, exchange, symbol, ts, body FROM logs
             WHERE {} ORDER BY position DESC, idx DESC LIMIT {n}",
            q.text()
        );
        Ok(self
            .query(&sql, &q)
            .await?
            .iter()
            .map(|r| LogRecord {
                id: id(r.get(0), r.get(1)),
                name: r.get(2),
                exchange: r.get(3),
                symbol: r.get(4),
                ts: r.get(5),
                body: r.get(6),
            })
            .collect())
    }

    /// The newest `count` points of a plugin's series in the filter, as
    /// (time, exchange, symbol) ascending; for each `(exchange, symbol,
    /// from)` of `memory`, points of that instrument from that identity on
    /// are left out (memory has them).
    ///
    /// # Errors
    /// What the database said.
    pub async fn series(
        &self,
        plugin: &str,
        name: &str,
        filter: &Filter,
        memory: &[(Option<String>, Option<String>, OutputId)],
        count: usize,
    ) -> Result<Vec<SeriesRecord>, PostgresError> {
        let mut q = Query::new();
        let (p, n) = (q.param(plugin.to_owned()), q.param(name.to_owned()));
        q.clause(format!("plugin = {p} AND name = {n}"));
        q.common(filter);
        if !memory.is_empty() {
            let e: Vec<Option<String>> = memory.iter().map(|m| m.0.clone()).collect();
            let s: Vec<Option<String>> = memory.iter().map(|m| m.1.clone()).collect();
            let pos: Vec<i64> = memory.iter().map(|m| signed(m.2).0).collect();
            let idx: Vec<i32> = memory.iter().map(|m| signed(m.2).1).collect();
            let (e, s, pos, idx) = (q.param(e), q.param(s), q.param(pos), q.param(idx));
            q.clause(format!(
                "NOT EXISTS (SELECT 1 FROM UNNEST({e}::text[], {s}::text[], {pos}::int8[], {idx}::int4[])
                             AS m(e, s, p, i)
                             WHERE m.e IS NOT DISTINCT FROM series.exchange
                               AND m.s IS NOT DISTINCT FROM series.symbol
                               AND (series.position, series.idx) >= (m.p, m.i))"
            ));
        }
        let n = q.param(limit(count));
        let sql = format!(
            "SELECT position, idx, exchange, symbol, ts, value FROM series
             WHERE {} ORDER BY ts DESC, exchange DESC, symbol DESC LIMIT {n}",
            q.text()
        );
        let mut points: Vec<SeriesRecord> = self
            .query(&sql, &q)
            .await?
            .iter()
            .map(|r| SeriesRecord {
                id: id(r.get(0), r.get(1)),
                exchange: r.get(2),
                symbol: r.get(3),
                ts: r.get(4),
                value: r.get(5),
            })
            .collect();
        points.reverse();
        Ok(points)
    }

    /// Signals, newest first by (identity, plugin), below `before`; for
    /// each `(plugin, from)` of `memory`, that plugin's signals from that
    /// identity on are left out.
    ///
    /// # Errors
    /// What the database said.
    #[allow(clippy::too_many_arguments)]
    pub async fn signals(
        &self,
        plugin: Option<&str>,
        filter: &Filter,
        direction: Option<&str>,
        strength: Option<&str>,
        before: Option<(OutputId, &str)>,
        memory: &[(String, OutputId)],
        count: usize,
    ) -> Result<Vec<SignalRecord>, PostgresError> {
        let mut q = Query::new();
        if let Some(plugin) = plugin {
            let p = q.param(plugin.to_owned());
            q.clause(format!("lower(plugin) = lower({p})"));
        }
        q.common(filter);
        if let Some(d) = direction {
            let p = q.param(d.to_owned());
            q.clause(format!("direction = {p}"));
        }
        if let Some(s) = strength {
            let p = q.param(s.to_owned());
            q.clause(format!("strength = {p}"));
        }
        if let Some((before, plugin)) = before {
            let (pos, idx) = signed(before);
            let (a, b, c) = (q.param(pos), q.param(idx), q.param(plugin.to_owned()));
            q.clause(format!("(position, idx, plugin) < ({a}, {b}, {c})"));
        }
        if !memory.is_empty() {
            let names: Vec<String> = memory.iter().map(|m| m.0.clone()).collect();
            let pos: Vec<i64> = memory.iter().map(|m| signed(m.1).0).collect();
            let idx: Vec<i32> = memory.iter().map(|m| signed(m.1).1).collect();
            let (n, p, i) = (q.param(names), q.param(pos), q.param(idx));
            q.clause(format!(
                "NOT EXISTS (SELECT 1 FROM UNNEST({n}::text[], {p}::int8[], {i}::int4[]) AS m(n, p, i)
                             WHERE m.n = signals.plugin
                               AND (signals.position, signals.idx) >= (m.p, m.i))"
            ));
        }
        let n = q.param(limit(count));
        let sql = format!(
            "SELECT position, idx, plugin, exchange, symbol, ts, direction, strength, reason
             FROM signals WHERE {} ORDER BY position DESC, idx DESC, plugin DESC LIMIT {n}",
            q.text()
        );
        Ok(self
            .query(&sql, &q)
            .await?
            .iter()
            .map(|r| SignalRecord {
                id: id(r.get(0), r.get(1)),
                plugin: r.get(2),
                exchange: r.get(3),
                symbol: r.get(4),
                ts: r.get(5),
                direction: r.get(6),
                strength: r.get(7),
                reason: r.get(8),
            })
            .collect())
    }

    /// Archived trades, newest first, below position `before`. `account`
    /// matches the buyer or the seller.
    ///
    /// # Errors
    /// What the database said.
    pub async fn trades(
        &self,
        filter: &Filter,
        account: Option<&str>,
        side: Option<&str>,
        before: Option<u64>,
        count: usize,
    ) -> Result<Vec<TradeRecord>, PostgresError> {
        let mut q = Query::new();
        q.common(filter);
        if let Some(a) = account {
            let p = q.param(a.to_owned());
            q.clause(format!(
                "(lower(buyer) = lower({p}) OR lower(seller) = lower({p}))"
            ));
        }
        if let Some(s) = side {
            let p = q.param(s.to_owned());
            q.clause(format!("side = {p}"));
        }
        if let Some(b) = before {
            let p = q.param(i64::try_from(b).unwrap_or(i64::MAX));
            q.clause(format!("position < {p}"));
        }
        let n = q.param(limit(count));
        let sql = format!(
            "SELECT position, exchange, symbol, ts, received_ts, price, size, side, buyer, seller
             FROM trades WHERE {} ORDER BY position DESC LIMIT {n}",
            q.text()
        );
        self.query(&sql, &q).await?.iter().map(trade).collect()
    }

    /// One archived trade.
    ///
    /// # Errors
    /// What the database said.
    pub async fn trade(&self, id: u64) -> Result<Option<TradeRecord>, PostgresError> {
        let mut q = Query::new();
        let p = q.param(i64::try_from(id).unwrap_or(i64::MAX));
        let sql = format!(
            "SELECT position, exchange, symbol, ts, received_ts, price, size, side, buyer, seller
             FROM trades WHERE position = {p}"
        );
        self.query(&sql, &q).await?.first().map(trade).transpose()
    }
}

/// A trade row; a value out of the decimal type's range (written by hand)
/// is an error, not a panic.
fn trade(r: &Row) -> Result<TradeRecord, PostgresError> {
    Ok(TradeRecord {
        id: u64::try_from(r.try_get::<_, i64>(0)?).unwrap_or(0),
        exchange: r.try_get(1)?,
        symbol: r.try_get(2)?,
        ts: r.try_get(3)?,
        received_ts: r.try_get(4)?,
        price: r.try_get::<_, Decimal>(5)?.normalize(),
        size: r.try_get::<_, Decimal>(6)?.normalize(),
        side: r.try_get(7)?,
        buyer: r.try_get(8)?,
        seller: r.try_get(9)?,
    })
}

/// The paper accounts' newest records, as the `paper_*` tables keep them:
/// each list oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaperHistory {
    pub orders: Vec<prism_model::OrderRecord>,
    pub fills: Vec<prism_model::FillRecord>,
    pub funding: Vec<prism_model::FundingPayment>,
    pub positions: Vec<prism_model::PositionRecord>,
    pub pnl: Vec<prism_model::PnlPoint>,
    pub risk: Vec<prism_model::RiskRecord>,
}

impl History {
    /// The newest `limit` orders, fills, funding payments and PnL points,
    /// and every position and risk state: what the API's memory held
    /// before a restart. A row whose body does not read is skipped (and
    /// said).
    ///
    /// # Errors
    /// The database cannot answer.
    pub async fn paper(&self, limit: i64) -> Result<PaperHistory, PostgresError> {
        async fn bodies<T: serde::de::DeserializeOwned>(
            history: &History,
            sql: &str,
            limit: Option<i64>,
        ) -> Result<Vec<T>, PostgresError> {
            let mut q = Query::new();
            if let Some(limit) = limit {
                q.param(limit);
            }
            let rows = history.query(sql, &q).await?;
            let mut out: Vec<T> = rows
                .iter()
                .filter_map(|r| {
                    let body: Value = r.get(0);
                    serde_json::from_value(body)
                        .map_err(|e| {
                            tracing::warn!("a paper record cannot be read back ({e}); skipped")
                        })
                        .ok()
                })
                .collect();
            out.reverse();
            Ok(out)
        }
        Ok(PaperHistory {
            orders: bodies(
                self,
                "SELECT body FROM paper_orders ORDER BY ts DESC, id DESC LIMIT $1",
                Some(limit),
            )
            .await?,
            fills: bodies(
                self,
                "SELECT body FROM paper_fills ORDER BY ts DESC, id DESC LIMIT $1",
                Some(limit),
            )
            .await?,
            funding: bodies(
                self,
                "SELECT body FROM paper_funding ORDER BY ts DESC LIMIT $1",
                Some(limit),
            )
            .await?,
            positions: bodies(
                self,
                "SELECT body FROM paper_positions ORDER BY ts DESC",
                None,
            )
            .await?,
            pnl: bodies(
                self,
                "SELECT body FROM paper_pnl ORDER BY ts DESC LIMIT $1",
                Some(limit),
            )
            .await?,
            risk: bodies(
                self,
                "SELECT body FROM paper_risk ORDER BY plugin DESC",
                None,
            )
            .await?,
        })
    }
}
