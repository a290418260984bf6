//! `/healthz`, `/readyz`, `POST /-/reload` and the OpenAPI document.

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::Api;
use super::params::{NO_PARAMETERS, Params};
use super::problem::Problem;

/// The process is alive.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Always `ok`", body = String, content_type = "text/plain")),
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub catalog_loaded: bool,
    pub database_reachable: bool,
    pub first_evaluation_done: bool,
    /// The last cycle completed within three intervals (false: the scheduler is stuck or far behind).
    pub cycles_on_time: bool,
    /// The statuses other replicas write were read within three intervals,
    /// so what this replica serves of their SLOs is fresh.
    pub shared_statuses_fresh: bool,
}

/// Ready to serve fresh data: catalog loaded, database reachable, first
/// evaluation done, the last cycle and the last read of the other replicas'
/// statuses no older than three intervals.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready yet (or the database is unreachable)", body = Readiness),
    ),
)]
pub async fn readyz(State(api): State<Arc<Api>>) -> Response {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), api.app.store.ping());
    let database_reachable = matches!(ping.await, Ok(Ok(())));
    let first_evaluation_done = api.app.evaluated();
    // `App::build` refuses to start without a valid catalog, and a reload keeps the last good one.
    let catalog_loaded = true;
    let now = chrono::Utc::now();
    let cycles_on_time = api.app.cycling(now);
    let shared_statuses_fresh = api.app.following(now);
    let ready = catalog_loaded
        && database_reachable
        && first_evaluation_done
        && cycles_on_time
        && shared_statuses_fresh;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        ready,
        catalog_loaded,
        database_reachable,
        first_evaluation_done,
        cycles_on_time,
        shared_statuses_fresh,
    };
    (code, Json(body)).into_response()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Reloaded {
    /// SLOs in the new catalog.
    pub slos: usize,
}

/// Re-reads the catalog files; a catalog with errors is refused and the last good one kept.
#[utoipa::path(
    post,
    path = "/-/reload",
    tag = "operations",
    responses(
        (status = 200, description = "The new catalog is running", body = Reloaded),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The write token is required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Writes are disabled (no write token configured) or the read token was used", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The catalog has errors; the last good one keeps running. `errors` lists every diagnostic", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn reload(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    if let Err(p) = Params::from_uri(&uri).only(NO_PARAMETERS) {
        return p.into_response();
    }
    let reloader = api.app.reloader.clone();
    let result = tokio::task::spawn_blocking(move || reloader.reload("API request")).await;
    match result {
        Ok(Ok(slos)) => Json(Reloaded { slos }).into_response(),
        Ok(Err(refused)) => {
            let errors = refused.lines();
            let mut p = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "the catalog was refused ({} error(s)); the last good catalog keeps running",
                    errors.len()
                ),
            );
            p.errors = errors;
            p.into_response()
        }
        Err(e) => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the reload failed: {e}"),
        )
        .into_response(),
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)),
)]
pub async fn openapi_json() -> Response {
    super::openapi::response()
}
