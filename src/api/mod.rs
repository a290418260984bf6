//! The HTTP API: answers come from the evaluated snapshot, never from
//! Prometheus or PostgreSQL on the request path (except `/api/v1/slos/{id}/history`,
//! which reads stored evaluations, `/api/v1/reports`, the gate, which records its decisions,
//! and `/readyz`, which pings the database).
//!
//! | route | |
//! |---|---|
//! | `GET /api/v1/slos` | instances; filters, cursor pagination ([`slos`]) |
//! | `GET /api/v1/slos/{id}` | one instance; id percent-encoded as one segment |
//! | `GET /api/v1/slos/{id}/history` | from PostgreSQL, `from`/`to`/`step` |
//! | `GET /api/v1/slos/{id}/corrections` | the catalog's and the stored corrections ([`corrections`]) |
//! | `POST /api/v1/corrections`, `DELETE /api/v1/corrections/{id}` | stored in PostgreSQL with an audit row (write token) |
//! | `GET /api/v1/services` | a roll-up per service |
//! | `GET /api/v1/gate` | the release decision ([`crate::gate`]), recorded in PostgreSQL |
//! | `POST /api/v1/gate` | the same, with an override (write token) |
//! | `GET /api/v1/gate/decisions` | recorded decisions, from PostgreSQL |
//! | `GET /api/v1/alerts` | pending and firing alerts |
//! | `GET /api/v1/alerts/history` | alert transitions, from PostgreSQL |
//! | `GET /api/v1/reports` | a period's figures per instance, from PostgreSQL ([`crate::report`]) |
//! | `GET /api/v1/status` | the replicas sharing the database |
//! | `GET /api/v1/openapi.json` | OpenAPI 3.1 |
//! | `GET /metrics` | Prometheus exposition |
//! | `GET /healthz`, `GET /readyz` | probes |
//! | `POST /-/reload` | re-read the catalog (write token) |
//!
//! Every route is one row of [`endpoints`], which builds the router and
//! which a test holds against the OpenAPI document. Answers made from the
//! snapshot alone carry an `ETag` ([`etag`]).

pub mod alerts;
pub mod auth;
pub mod corrections;
pub mod definition;
pub mod etag;
pub mod gate;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod params;
pub mod problem;
pub mod replicas;
pub mod reports;
pub mod slos;
pub mod state;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use tower::util::option_layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::classify::{
    MakeClassifier, NeverClassifyEos, StatusInRangeAsFailures, StatusInRangeFailureClass,
};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

pub use auth::{Secret, Tokens};
use problem::Problem;
use view::{View, ViewCache};

pub use state::AppState;

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
    /// Browser origins allowed to call the API (CORS); empty: same origin only.
    pub cors: CorsOrigins,
    /// Prometheus as people's browsers reach it, for the web UI's links to
    /// its graph page; none: no links.
    pub prometheus_link: Option<String>,
    /// How often the web UI's pages ask the API whether the snapshot changed
    /// (a 304 when it has not).
    pub ui_poll: Duration,
}

/// Which web origins may read the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers: browsers allow only pages served by burnrate itself.
    #[default]
    None,
    Any,
    /// Exact origins, `scheme://host[:port]`.
    List(Vec<String>),
}

impl CorsOrigins {
    /// From `--cors-origin` values: `*`, or origins like `https://dash.example.com`.
    pub fn parse(values: &[String]) -> Result<CorsOrigins, String> {
        if values.is_empty() {
            return Ok(CorsOrigins::None);
        }
        if values.iter().any(|v| v.trim() == "*") {
            return Ok(CorsOrigins::Any);
        }
        let mut origins = Vec::new();
        for value in values {
            let url = reqwest::Url::parse(value.trim())
                .map_err(|e| format!("--cors-origin `{value}` is not a URL: {e}"))?;
            let origin = url.origin().ascii_serialization();
            let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
            if !matches!(url.scheme(), "http" | "https") || !bare || origin == "null" {
                return Err(format!(
                    "--cors-origin `{value}` is not an origin: expected `*` or \
                     scheme://host[:port] with no path, like https://dash.example.com"
                ));
            }
            origins.push(origin);
        }
        Ok(CorsOrigins::List(origins))
    }

    fn layer(&self) -> Option<CorsLayer> {
        let allow = match self {
            CorsOrigins::None => return None,
            CorsOrigins::Any => AllowOrigin::any(),
            CorsOrigins::List(list) => AllowOrigin::list(
                list.iter()
                    .filter_map(|o| HeaderValue::from_str(o).ok())
                    .collect::<Vec<_>>(),
            ),
        };
        Some(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(Duration::from_secs(600)),
        )
    }
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            tokens: Tokens::default(),
            request_timeout: Duration::from_secs(10),
            body_limit: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            cors: CorsOrigins::None,
            prometheus_link: None,
            ui_poll: Duration::from_secs(10),
        }
    }
}

/// What the handlers share.
pub struct Api {
    pub app: Arc<AppState>,
    pub settings: ApiSettings,
    views: ViewCache,
}

impl Api {
    /// The API's view of the current snapshot.
    pub fn view(&self) -> Arc<View> {
        self.views.get(&self.app)
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    Open,
    Read,
    Write,
}

/// One route: who may call it, its method and router path, and the paths
/// of the OpenAPI document it serves (one router path may serve several).
pub struct Endpoint {
    pub guard: Guard,
    pub method: Method,
    pub path: &'static str,
    pub documented: &'static [&'static str],
    handler: MethodRouter<Arc<Api>>,
}

fn endpoint(
    guard: Guard,
    method: Method,
    path: &'static str,
    documented: &'static [&'static str],
    handler: MethodRouter<Arc<Api>>,
) -> Endpoint {
    Endpoint {
        guard,
        method,
        path,
        documented,
        handler,
    }
}

/// Every route of the API.
pub fn endpoints() -> Vec<Endpoint> {
    use Guard::{Open, Read, Write};
    let (g, p) = (Method::GET, Method::POST);
    vec![
        endpoint(
            Open,
            g.clone(),
            "/healthz",
            &["/healthz"],
            get(ops::healthz),
        ),
        endpoint(Open, g.clone(), "/readyz", &["/readyz"], get(ops::readyz)),
        endpoint(
            Open,
            g.clone(),
            "/api/v1/openapi.json",
            &["/api/v1/openapi.json"],
            get(ops::openapi_json),
        ),
        endpoint(
            Read,
            g.clone(),
            "/api/v1/slos",
            &["/api/v1/slos"],
            get(slos::list),
        ),
        endpoint(
            Read,
            g.clone(),
            "/api/v1/slos/{*rest}",
            &[
                "/api/v1/slos/{id}",
                "/api/v1/slos/{id}/history",
                "/api/v1/slos/{id}/corrections",
            ],
            get(corrections::slos_rest),
        ),
        endpoint(
            Read,
            g.clone(),
            "/api/v1/services",
            &["/api/v1/services"],
            get(slos::services),
        ),
        endpoint(
            Read,
            g.clone(),
            "/api/v1/gate",
            &["/api/v1/gate"],
            get(gate::gate),
        ),
        endpoint(
            Read,
            g.clone(),
            "/api/v1/gate/decisions",
            &["/api/v1/gate/decisions"],
            get(gate::decisions),
        ),
        endpoint(
            Read,
            g.clone(),
            "/api/v1/alerts",
            &["/api/v1/alerts"],
            get(alerts::list),
        ),
        endpoint(
            Read,
            g.clone(),
            "/api/v1/alerts/history",
            &["/api/v1/alerts/history"],
            get(alerts::history),
        ),
        endpoint(
            Read,
            g.clone(),
            "/api/v1/reports",
            &["/api/v1/reports"],
            get(reports::report),
        ),
        endpoint(
            Read,
            g.clone(),
            "/api/v1/status",
            &["/api/v1/status"],
            get(replicas::status),
        ),
        endpoint(Read, g, "/metrics", &["/metrics"], get(metrics::metrics)),
        endpoint(
            Write,
            p.clone(),
            "/-/reload",
            &["/-/reload"],
            post(ops::reload),
        ),
        endpoint(
            Write,
            p.clone(),
            "/api/v1/gate",
            &["/api/v1/gate"],
            post(gate::gate_post),
        ),
        endpoint(
            Write,
            p,
            "/api/v1/corrections",
            &["/api/v1/corrections"],
            post(corrections::create),
        ),
        endpoint(
            Write,
            Method::DELETE,
            "/api/v1/corrections/{id}",
            &["/api/v1/corrections/{id}"],
            delete(corrections::delete),
        ),
    ]
}

/// The API alone.
pub fn router(state: Arc<AppState>, settings: &ApiSettings) -> Router {
    router_with(state, settings, Router::new())
}

/// The API, and `pages` (the web UI) beside it under the same layers:
/// timeouts, body limit, problem documents, CORS, tracing.
pub fn router_with(
    state: Arc<AppState>,
    settings: &ApiSettings,
    pages: Router<Arc<Api>>,
) -> Router {
    let api = Arc::new(Api {
        app: state,
        settings: settings.clone(),
        views: ViewCache::default(),
    });
    let tokens = Arc::new(settings.tokens.clone());
    let (mut open, mut reads, mut writes) = (Router::new(), Router::new(), Router::new());
    for e in endpoints() {
        match e.guard {
            Guard::Open => open = open.route(e.path, e.handler),
            Guard::Read => reads = reads.route(e.path, e.handler),
            Guard::Write => writes = writes.route(e.path, e.handler),
        }
    }
    let reads = reads.route_layer(middleware::from_fn_with_state(
        Arc::clone(&tokens),
        auth::require_read,
    ));
    let writes = writes.route_layer(middleware::from_fn_with_state(tokens, auth::require_write));
    open.merge(reads)
        .merge(writes)
        .merge(pages)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(api)
        .layer(RequestBodyLimitLayer::new(settings.body_limit))
        .layer(middleware::from_fn_with_state(
            settings.request_timeout,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(middleware::from_fn(problem::problems_everywhere))
        // Outside the token checks: a preflight carries no token.
        .layer(option_layer(settings.cors.layer()))
        .layer(TraceLayer::new(QuietProbes))
}

/// How the trace layer classifies responses: a 5xx is a failure, logged at
/// ERROR, except from the probes, whose 503 "not ready yet" is an answer
/// that load balancers ask for every few seconds.
#[derive(Debug, Clone, Copy)]
struct QuietProbes;

impl MakeClassifier for QuietProbes {
    type Classifier = StatusInRangeAsFailures;
    type FailureClass = StatusInRangeFailureClass;
    type ClassifyEos = NeverClassifyEos<StatusInRangeFailureClass>;

    fn make_classifier<B>(&self, request: &Request<B>) -> StatusInRangeAsFailures {
        if matches!(request.uri().path(), "/healthz" | "/readyz") {
            // 999 is a valid code no response carries: nothing is a failure.
            StatusInRangeAsFailures::new(999..=999)
        } else {
            StatusInRangeAsFailures::new(500..=599)
        }
    }
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

    #[test]
    fn cors_origins_parse() {
        let parse =
            |v: &[&str]| CorsOrigins::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let list = |v: &[&str]| Ok(CorsOrigins::List(v.iter().map(|s| s.to_string()).collect()));
        assert_eq!(parse(&[]), Ok(CorsOrigins::None));
        assert_eq!(parse(&["https://a.example", "*"]), Ok(CorsOrigins::Any));
        assert_eq!(parse(&["https://a.example"]), list(&["https://a.example"]));
        assert_eq!(
            parse(&["https://a.example/"]),
            list(&["https://a.example"]),
            "a trailing slash is no path"
        );
        assert_eq!(
            parse(&["http://a.example:3000"]),
            list(&["http://a.example:3000"])
        );
        assert_eq!(
            parse(&["https://a.example:443"]),
            list(&["https://a.example"]),
            "the default port is dropped, as browsers send it"
        );
        for bad in [
            "a.example",
            "https://a.example/dash",
            "ftp://a.example",
            "https://a.example?x=1",
        ] {
            let err = parse(&[bad]).expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
    }
}

#[cfg(test)]
mod trace_tests {
    use tower_http::classify::{ClassifiedResponse, ClassifyResponse};

    use super::*;

    fn failure(path: &str, status: u16) -> bool {
        let request = Request::builder().uri(path).body(()).expect("request");
        let response = Response::builder()
            .status(status)
            .body(())
            .expect("response");
        let classifier = QuietProbes.make_classifier(&request);
        matches!(
            classifier.classify_response(&response),
            ClassifiedResponse::Ready(Err(_))
        )
    }

    #[test]
    fn only_server_errors_outside_the_probes_are_failures() {
        #[rustfmt::skip]
        let cases = [
            ("/readyz", 503, false), ("/healthz", 500, false), ("/readyz", 200, false),
            ("/api/v1/slos", 503, true), ("/metrics", 500, true), ("/api/v1/slos", 404, false),
        ];
        for (path, status, want) in cases {
            assert_eq!(failure(path, status), want, "{path} {status}");
        }
    }
}
