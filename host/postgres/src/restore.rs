//! What a restart resumes from: each plugin's newest checkpoint, the
//! plugin registry, the instruments the checkpoints refer to, and the
//! furthest stream position any stored row has. The database's copy is
//! read first; what the spool still holds from the last run (not yet
//! committed) is newer and goes on top.

use crate::PostgresError;
use crate::rows::{InstrumentRow, Record};
use crate::spool::Spool;
use crate::writer::Earlier;
use prism_model::{Instrument, InstrumentId, MarketKind};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Client;

/// A plugin's newest checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedCheckpoint {
    /// The position its state covers (`None`: before any batch).
    pub position: Option<u64>,
    /// The code that wrote it.
    pub sha256: String,
    pub state: Vec<u8>,
    /// The instruments its state names by id.
    pub instruments: Vec<Arc<Instrument>>,
    /// The plugin's paper account at the same position, when it trades.
    pub account: Option<Vec<u8>>,
}

/// Where a registered plugin's code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedOrigin {
    File { path: PathBuf, from_config: bool },
    Upload { component: Vec<u8> },
}

/// A plugin of the registry, as the last run left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedPlugin {
    pub id: String,
    pub origin: SavedOrigin,
    pub sha256: String,
    pub config_json: String,
    /// Limits, seed, subscription override (`PluginSettings::durable_json`).
    pub settings_json: String,
    pub paused: bool,
    /// Removed through the admin API.
    pub removed: bool,
}

/// What the last run left.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    pub checkpoints: HashMap<String, SavedCheckpoint>,
    /// By id.
    pub plugins: Vec<SavedPlugin>,
    /// The instruments the checkpoints refer to, by id, with no gaps when
    /// every checkpoint came from one lineage of runs.
    pub instruments: Vec<Instrument>,
    /// The furthest position of any stored row (a live stream, which
    /// cannot replay, numbers its events after it).
    pub high_water: Option<u64>,
}

fn unsigned(p: Option<i64>) -> Option<u64> {
    p.and_then(|p| u64::try_from(p).ok())
}

fn instrument(row: &InstrumentRow) -> Option<Instrument> {
    Some(Instrument {
        id: InstrumentId(u32::try_from(row.id).ok()?),
        exchange: Arc::from(row.exchange.as_str()),
        symbol: Arc::from(row.symbol.as_str()),
        base: Arc::from(row.base.as_str()),
        quote: Arc::from(row.quote.as_str()),
        kind: match row.kind.as_str() {
            "spot" => MarketKind::Spot,
            "perpetual" => MarketKind::Perpetual,
            "future" => MarketKind::Future,
            "option" => MarketKind::Option,
            _ => return None,
        },
        contract_size: row.contract_size.parse().ok()?,
    })
}

/// A checkpoint as found, in the database or the spool.
struct Found {
    position: Option<i64>,
    sha256: String,
    state: Vec<u8>,
    instruments: Vec<InstrumentRow>,
    account: Option<Vec<u8>>,
}

/// Reads the database's checkpoints and registry, then the spool's
/// uncommitted records. Returns what to restore, and for the writer: where
/// the last run's records end and, per plugin, the checkpoint position
/// after which they are dropped (the restored plugin makes them again).
pub(crate) async fn read(
    client: &Client,
    spool: &Spool,
) -> Result<(Restored, Earlier), PostgresError> {
    let mut checkpoints: HashMap<String, Found> = HashMap::new();
    for row in client
        .query(
            "SELECT plugin, position, sha256, state, instruments, account FROM checkpoints",
            &[],
        )
        .await?
    {
        let instruments: serde_json::Value = row.get(4);
        let instruments = serde_json::from_value(instruments).unwrap_or_else(|e| {
            tracing::warn!("a checkpoint's instruments cannot be read ({e}); ignored");
            Vec::new()
        });
        checkpoints.insert(
            row.get(0),
            Found {
                position: row.get(1),
                sha256: row.get(2),
                state: row.get(3),
                instruments,
                account: row.get(5),
            },
        );
    }
    let mut plugins: BTreeMap<String, SavedPlugin> = BTreeMap::new();
    for row in client
        .query(
            "SELECT p.id, p.origin, p.path, p.from_config, p.sha256, c.bytes,
                    p.config::text, p.settings::text, p.paused, p.removed
             FROM plugins p LEFT JOIN components c ON c.sha256 = p.sha256",
            &[],
        )
        .await?
    {
        let id: String = row.get(0);
        let origin: String = row.get(1);
        let origin = match origin.as_str() {
            "upload" => match row.get::<_, Option<Vec<u8>>>(5) {
                Some(component) => SavedOrigin::Upload { component },
                None => {
                    tracing::warn!(plugin = %id, "the registry has no uploaded component for this plugin; it is not restored");
                    continue;
                }
            },
            _ => SavedOrigin::File {
                path: PathBuf::from(row.get::<_, Option<String>>(2).unwrap_or_default()),
                from_config: row.get(3),
            },
        };
        plugins.insert(
            id.clone(),
            SavedPlugin {
                id,
                origin,
                sha256: row.get(4),
                config_json: row.get(6),
                settings_json: row.get(7),
                paused: row.get(8),
                removed: row.get(9),
            },
        );
    }
    let high: Option<i64> = client
        .query_one(
            "SELECT GREATEST((SELECT max(position) FROM checkpoints),
                             (SELECT max(position) FROM trades),
                             (SELECT max(position) FROM liquidation_events),
                             (SELECT max(position) FROM funding_events),
                             (SELECT max(position) FROM open_interest_events),
                             (SELECT max(position) FROM position_events))",
            &[],
        )
        .await?
        .get(0);
    let mut high_water = unsigned(high);

    // The spool's records from the last run, in order.
    let mut cursor = spool.committed();
    loop {
        let read = spool.read(cursor, 4096, Duration::ZERO)?;
        let Some(last) = read.last() else { break };
        cursor = last.1;
        for (_, _, record) in read {
            let position = match &record {
                Record::Outputs(o) => Some(o.position),
                Record::DeadLetter(d) => Some(d.position),
                Record::Checkpoint(c) => c.position,
                Record::Archive(a) => a.max_position(),
                _ => None,
            };
            high_water = high_water.max(unsigned(position));
            match record {
                Record::Checkpoint(c) => {
                    checkpoints.insert(
                        c.plugin,
                        Found {
                            position: c.position,
                            sha256: c.sha256,
                            state: c.state.into_vec(),
                            instruments: c.instruments,
                            account: c.account.map(serde_bytes::ByteBuf::into_vec),
                        },
                    );
                }
                Record::Plugin(p) => {
                    let origin = match p.component {
                        Some(component) => SavedOrigin::Upload {
                            component: component.into_vec(),
                        },
                        None => SavedOrigin::File {
                            path: PathBuf::from(p.path.unwrap_or_default()),
                            from_config: p.from_config,
                        },
                    };
                    plugins.insert(
                        p.id.clone(),
                        SavedPlugin {
                            id: p.id,
                            origin,
                            sha256: p.sha256,
                            config_json: p.config.to_string(),
                            settings_json: p.settings.to_string(),
                            paused: p.paused,
                            removed: false,
                        },
                    );
                }
                Record::Removed { id } => {
                    if let Some(p) = plugins.get_mut(&id) {
                        p.removed = true;
                        p.paused = false;
                    }
                }
                _ => {}
            }
        }
    }

    let cutoff = checkpoints
        .iter()
        .map(|(plugin, found)| (plugin.clone(), found.position))
        .collect();
    let mut instruments: BTreeMap<u32, Instrument> = BTreeMap::new();
    for (plugin, found) in &checkpoints {
        for row in &found.instruments {
            let Some(i) = instrument(row) else {
                tracing::warn!(plugin = %plugin, instrument = ?row, "a checkpoint's instrument cannot be read; ignored");
                continue;
            };
            match instruments.get(&i.id.0) {
                Some(known) if known.exchange != i.exchange || known.symbol != i.symbol => {
                    tracing::warn!(
                        plugin = %plugin,
                        id = i.id.0,
                        "checkpoints disagree on what an instrument id means ({}:{} vs {}:{}); the first is kept",
                        known.exchange, known.symbol, i.exchange, i.symbol
                    );
                }
                Some(_) => {}
                None => {
                    instruments.insert(i.id.0, i);
                }
            }
        }
    }
    let restored = Restored {
        checkpoints: checkpoints
            .into_iter()
            .map(|(plugin, found)| {
                (
                    plugin,
                    SavedCheckpoint {
                        position: unsigned(found.position),
                        sha256: found.sha256,
                        instruments: found
                            .instruments
                            .iter()
                            .filter_map(instrument)
                            .map(Arc::new)
                            .collect(),
                        state: found.state,
                        account: found.account,
                    },
                )
            })
            .collect(),
        plugins: plugins.into_values().collect(),
        instruments: instruments.into_values().collect(),
        high_water,
    };
    Ok((restored, (cursor, cutoff)))
}
