//! The HTTP API: answers come from the evaluated snapshot, never from
//! Prometheus or PostgreSQL on the request path.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use crate::serve::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/slos", get(list_slos))
        .route("/api/v1/slos/{*id}", get(get_slo))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let database = state.store.ping().await.is_ok();
    let evaluated = state.evaluated();
    let body = json!({ "catalog_loaded": true, "database_reachable": database, "first_evaluation_done": evaluated });
    let code = if database && evaluated {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn list_slos(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = state.snapshot();
    let items: Vec<_> = snapshot.instances.values().collect();
    Json(json!({ "items": items, "total": items.len() })).into_response()
}

async fn get_slo(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    let snapshot = state.snapshot();
    match snapshot.instances.get(&id) {
        Some(status) => Json(status).into_response(),
        None => problem(
            StatusCode::NOT_FOUND,
            "unknown SLO",
            &format!("no SLO instance with id `{id}`"),
        ),
    }
}

/// An RFC 9457 problem document.
pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({ "type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail });
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}
