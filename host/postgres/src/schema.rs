//! The schema: versioned migrations (refinery), a refusal to run against a
//! database of a newer schema than this build knows, and the SQL views
//! users query (rebuilt at each start, for the configured plugins).

use crate::PostgresError;
use tokio_postgres::Client;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The newest schema version this build knows.
#[must_use]
pub fn version() -> i32 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(refinery::Migration::version)
        .max()
        .unwrap_or(0)
}

/// The plugins the SQL views read (their ids are config: `[analytics]`).
#[derive(Debug, Clone)]
pub struct ViewPlugins {
    pub liquidations: String,
    pub liquidation_map: String,
    pub long_short_ratio: String,
    pub whales: String,
}

impl Default for ViewPlugins {
    /// The ids of the default config's analytics plugins.
    fn default() -> Self {
        Self {
            liquidations: "liquidation-map".into(),
            liquidation_map: "liquidation-map".into(),
            long_short_ratio: "long-short-ratio".into(),
            whales: "whale-detector".into(),
        }
    }
}

/// Records the stream this schema holds, or checks it is this one.
///
/// # Errors
/// [`PostgresError::OtherStream`].
pub(crate) async fn claim_stream(
    client: &Client,
    schema: &str,
    stream: &str,
) -> Result<(), PostgresError> {
    client
        .execute(
            "INSERT INTO meta (key, value) VALUES ('stream', $1) ON CONFLICT (key) DO NOTHING",
            &[&stream],
        )
        .await?;
    let stored: String = client
        .query_one("SELECT value FROM meta WHERE key = 'stream'", &[])
        .await?
        .get(0);
    if stored != stream {
        return Err(PostgresError::OtherStream {
            schema: schema.to_owned(),
            stored,
            current: stream.to_owned(),
        });
    }
    Ok(())
}

/// Brings the schema (created if needed) to this build's version, refusing
/// a newer one, and rebuilds the views.
///
/// # Errors
/// [`PostgresError::NewerSchema`], or what the database said.
pub(crate) async fn migrate(
    client: &mut Client,
    schema: &str,
    views: &ViewPlugins,
) -> Result<(), PostgresError> {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
        ))
        .await?;
    let applied: Option<i32> = client
        .query_opt("SELECT max(version) FROM refinery_schema_history", &[])
        .await
        .ok()
        .flatten()
        .and_then(|r| r.get(0));
    let known = version();
    if let Some(found) = applied
        && found > known
    {
        return Err(PostgresError::NewerSchema { found, known });
    }
    embedded::migrations::runner()
        .set_abort_divergent(true)
        .run_async(client)
        .await
        .map_err(|e| PostgresError::Migration(e.to_string()))?;
    client.batch_execute(&views_sql(views)).await?;
    Ok(())
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The views users know from analytics backends, over the tables.
fn views_sql(p: &ViewPlugins) -> String {
    let (liq, map, lsr, whales) = (
        quote(&p.liquidations),
        quote(&p.liquidation_map),
        quote(&p.long_short_ratio),
        quote(&p.whales),
    );
    format!(
        "CREATE OR REPLACE VIEW liquidations AS
            SELECT ts, exchange, symbol, body->>'side' AS side,
                   (body->>'price')::numeric AS price, (body->>'size')::numeric AS size,
                   (body->>'notional')::numeric AS notional, body->>'account' AS account,
                   position, idx
            FROM logs WHERE plugin = {liq} AND name = 'liquidation';
         CREATE OR REPLACE VIEW long_short_ratios AS
            SELECT ts, exchange, symbol,
                   CASE name WHEN 'taker_long_short_ratio' THEN 'taker' ELSE 'account' END AS kind,
                   value, position, idx
            FROM series WHERE plugin = {lsr}
              AND name IN ('taker_long_short_ratio', 'account_long_short_ratio');
         CREATE OR REPLACE VIEW liquidation_map AS
            SELECT split_part(key, ':', 2) AS exchange, split_part(key, ':', 3) AS symbol,
                   ts, body AS map
            FROM documents_latest WHERE plugin = {map} AND key LIKE 'liquidation-map:%';
         CREATE OR REPLACE VIEW positions AS
            SELECT DISTINCT ON (exchange, symbol, account)
                   exchange, symbol, account, ts, size, entry_price, liquidation_price, leverage
            FROM position_events ORDER BY exchange, symbol, account, position DESC;
         CREATE OR REPLACE VIEW whale_watches AS
            SELECT jsonb_array_elements_text(config->'watched') AS account
            FROM plugins WHERE id = {whales};
         CREATE OR REPLACE VIEW whale_activities AS
            SELECT ts, exchange, symbol, body->>'account' AS account, body->>'kind' AS kind,
                   body, position, idx
            FROM logs WHERE plugin = {whales} AND name = 'whale_activity';
         CREATE OR REPLACE VIEW transactions AS
            SELECT position AS id, exchange, symbol, ts, price, size, side, buyer, seller,
                   price * size AS notional
            FROM trades;"
    )
}
