//! The HTTP API: answers come from the evaluated snapshot, never from
//! Prometheus or PostgreSQL on the request path (except `/api/v1/slos/{id}/history`,
//! which reads stored evaluations, and `/readyz`, which pings the database).
//!
//! | route | |
//! |---|---|
//! | `GET /api/v1/slos` | instances; filters, cursor pagination ([`slos`]) |
//! | `GET /api/v1/slos/{id}` | one instance; id percent-encoded as one segment |
//! | `GET /api/v1/slos/{id}/history` | from PostgreSQL, `from`/`to`/`step` |
//! | `GET /api/v1/services` | a roll-up per service |
//! | `GET /api/v1/gate` | the release decision ([`crate::gate`]) |
//! | `GET /api/v1/openapi.json` | OpenAPI 3.1 |
//! | `GET /metrics` | Prometheus exposition |
//! | `GET /healthz`, `GET /readyz` | probes |
//! | `POST /-/reload` | re-read the catalog (write token) |

pub mod alerts;
pub mod auth;
pub mod gate;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod params;
pub mod problem;
pub mod slos;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

pub use auth::{Secret, Tokens};
use problem::Problem;
use view::{View, ViewCache};

use crate::serve::AppState;

/// How the API is exposed.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub tokens: Tokens,
    /// Requests taking longer are answered 503.
    pub request_timeout: Duration,
    /// Larger request bodies are refused with 413.
    pub body_limit: usize,
    /// Connections that have not sent complete request headers by then are closed.
    pub header_read_timeout: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            tokens: Tokens::default(),
            request_timeout: Duration::from_secs(10),
            body_limit: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// What the handlers share.
pub struct Api {
    pub app: Arc<AppState>,
    views: ViewCache,
}

impl Api {
    /// The API's view of the current snapshot.
    pub fn view(&self) -> Arc<View> {
        self.views.get(&self.app)
    }
}

pub fn router(state: Arc<AppState>, settings: &ApiSettings) -> Router {
    let api = Arc::new(Api {
        app: state,
        views: ViewCache::default(),
    });
    let tokens = Arc::new(settings.tokens.clone());
    let open = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/api/v1/openapi.json", get(ops::openapi_json));
    let reads = Router::new()
        .route("/api/v1/slos", get(slos::list))
        .route("/api/v1/slos/{*rest}", get(slos::instance_or_history))
        .route("/api/v1/services", get(slos::services))
        .route("/api/v1/gate", get(gate::gate))
        .route("/api/v1/alerts", get(alerts::list))
        .route("/api/v1/alerts/history", get(alerts::history))
        .route("/metrics", get(metrics::metrics))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&tokens),
            auth::require_read,
        ));
    let writes = Router::new()
        .route("/-/reload", post(ops::reload))
        .route_layer(middleware::from_fn_with_state(tokens, auth::require_write));
    open.merge(reads)
        .merge(writes)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(api)
        .layer(RequestBodyLimitLayer::new(settings.body_limit))
        .layer(middleware::from_fn_with_state(
            settings.request_timeout,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(middleware::from_fn(problem::problems_everywhere))
        .layer(TraceLayer::new_for_http())
}

async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request took longer than {} s and was cancelled",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler slower than the limit is answered 503 with a problem
    /// document; the connection is not dropped.
    #[tokio::test]
    async fn slow_requests_time_out_as_problems() {
        let router = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/fast", get(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(
                Duration::from_millis(100),
                timeout,
            ))
            .layer(middleware::from_fn(problem::problems_everywhere));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let started = std::time::Instant::now();
        let slow = client
            .get(format!("http://{addr}/slow"))
            .send()
            .await
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(slow.status(), 503);
        assert_eq!(slow.headers()["content-type"], problem::CONTENT_TYPE);
        let body: serde_json::Value = slow.json().await.unwrap();
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("took longer than 0.1 s")
        );
        let fast = client
            .get(format!("http://{addr}/fast"))
            .send()
            .await
            .unwrap();
        assert_eq!(fast.status(), 200);
    }
}
