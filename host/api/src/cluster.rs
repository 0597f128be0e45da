//! The cluster this host belongs to: `GET /api/v1/cluster`.

use crate::error::{ApiError, ErrorBody};
use crate::state::Shared;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This area's routes.
pub(crate) fn router() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(cluster))
}

/// The cluster as this host last saw it (refreshed every quarter of the
/// lease time).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ClusterStatus {
    /// The cluster's name.
    pub name: String,
    /// This host's name.
    pub host: String,
    /// Partitions each partitioned plugin's stream is cut into.
    pub partitions: u32,
    pub lease_ttl_ms: u64,
    /// The live hosts (those that renewed their entry within the lease time).
    pub hosts: Vec<ClusterHostStatus>,
    /// Each held partition's owner.
    pub owners: Vec<PartitionOwner>,
    /// The partitions this host holds, and their instances.
    pub mine: Vec<HeldPartition>,
    /// Partitions this host took and handed over since it started.
    pub taken: u64,
    pub handed_over: u64,
    pub last_error: Option<String>,
}

/// A live host.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClusterHostStatus {
    pub host: String,
    /// Where its API listens.
    pub api: String,
    pub joined_ms: i64,
    /// Its last renewal, unix ms.
    pub seen_ms: i64,
    pub partitions: Vec<u32>,
    pub instances: usize,
    /// Events its source has taken so far.
    pub consumed: u64,
}

/// Who holds a partition.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartitionOwner {
    pub partition: u32,
    pub host: String,
    pub since_ms: i64,
}

/// A partition this host holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldPartition {
    pub partition: u32,
    /// `running`, or `handing_over` (its instances stopped; the lease is
    /// given up once their last states are stored).
    pub state: String,
    pub since_ms: i64,
    /// Its plugin instances (`{plugin}~{partition}`, or an unpartitioned
    /// plugin's id).
    pub instances: Vec<String>,
}

/// Hosts, partitions and owners of the cluster this host is in.
#[utoipa::path(get, path = "/api/v1/cluster", tag = "status",
    responses((status = 200, body = ClusterStatus),
              (status = 404, body = ErrorBody, description = "not in a cluster")))]
async fn cluster(State(state): State<Shared>) -> Result<Json<ClusterStatus>, ApiError> {
    let Some(status) = &state.cluster else {
        return Err(ApiError::not_found(
            "this host is not in a cluster (set [cluster] name)",
        ));
    };
    Ok(Json(
        status
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
    ))
}
