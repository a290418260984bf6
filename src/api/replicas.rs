//! `GET /api/v1/status`: the replicas sharing this database, the catalog
//! each runs, and how many SLOs each owns.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Json, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Api;
use super::params::{NO_PARAMETERS, Params};
use super::problem::Problem;

#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    /// Random at each start.
    pub id: String,
    pub host: String,
    pub pid: i32,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Its heartbeat is younger than its lease TTL.
    pub live: bool,
    /// Its cycle and its read of the others' statuses were on time.
    pub ready: bool,
    /// Content hash of the catalog it runs.
    pub catalog_hash: String,
    /// When any replica first ran that catalog: the newest wins.
    pub catalog_first_seen: DateTime<Utc>,
    pub catalog_slos: i32,
    /// SLO leases it holds.
    pub owned_slos: i64,
    /// This is the replica answering.
    pub this: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterStatus {
    /// The replica answering.
    pub replica: String,
    /// The catalog whose replicas own the SLOs (the newest any live replica runs).
    pub winning_catalog: Option<String>,
    /// Every registered replica, oldest first; dead ones are forgotten after an hour.
    pub members: Vec<Member>,
}

/// The replicas sharing this database and what each runs.
#[utoipa::path(
    get,
    path = "/api/v1/status",
    tag = "operations",
    responses(
        (status = 200, description = "The replicas", body = ClusterStatus),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The read token is required", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn status(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    if let Err(p) = Params::from_uri(&uri).only(NO_PARAMETERS) {
        return p.into_response();
    }
    let store = &api.app.store;
    let (members, counts) = match tokio::try_join!(store.members(), store.lease_counts()) {
        Ok(both) => both,
        Err(e) => return Problem::database_unavailable(&e).into_response(),
    };
    let live = crate::store::leases::live_members(&members);
    let me = api.app.replica_id;
    Json(ClusterStatus {
        replica: me.to_string(),
        winning_catalog: crate::ownership::winning_catalog(&live).map(str::to_string),
        members: members
            .into_iter()
            .map(|m| Member {
                id: m.id.to_string(),
                owned_slos: counts.get(&m.id).copied().unwrap_or(0),
                this: m.id == me,
                host: m.host,
                pid: m.pid,
                started_at: m.started_at,
                heartbeat_at: m.heartbeat_at,
                live: m.live,
                ready: m.ready,
                catalog_hash: m.catalog_hash,
                catalog_first_seen: m.catalog_first_seen,
                catalog_slos: m.catalog_slos,
            })
            .collect(),
    })
    .into_response()
}
