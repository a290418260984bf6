//! The web UI: HTML pages served by `burnrate serve` beside the API, from
//! the same snapshot, catalog and store.
//!
//! | route | |
//! |---|---|
//! | `GET /` | overview: every SLO by service, filters, the gate per service |
//! | `GET /slos/{id}` | one instance: budget burn-down, burn rates, alerts, definition |
//! | `GET /alerts` | firing and pending alerts, recent transitions |
//! | `GET /status` | catalog, Prometheus, PostgreSQL, backfill, replicas |
//! | `POST /ui/login`, `POST /ui/logout` | the read token in a cookie, and out again |
//! | `GET /ui/assets/{name}` | the stylesheet and script, embedded |
//!
//! Pages are rendered on the server (maud templates, checked when burnrate
//! compiles) and readable without JavaScript; the script filters in place
//! and refreshes a page when the API's `ETag` says its snapshot changed.
//! Each handler gathers what its page shows (the I/O), then a pure module
//! renders it.

pub mod alerts;
pub mod assets;
pub mod chart;
pub mod detail;
pub mod format;
pub mod layout;
pub mod overview;
pub mod status;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use maud::Markup;
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::api::auth::{self, Access, COOKIE};
use crate::api::definition::SloDefinition;
use crate::api::etag::snapshot_tag;
use crate::api::params::Params;
use crate::api::view::{AlertState, View};
use crate::api::{Api, ApiSettings, Tokens};
use crate::catalog::SloWindow;
use crate::gate::Freshness;
use crate::store::alerts::TransitionQuery;
use crate::store::history::HistoryQuery;
use layout::{Nav, Shell};

/// How long the browser keeps the token cookie.
const COOKIE_MAX_AGE_SECS: u64 = 30 * 24 * 3600;

/// The UI's routes, for [`crate::api::router_with`].
pub fn routes(settings: &ApiSettings) -> Router<Arc<Api>> {
    let tokens = Arc::new(settings.tokens.clone());
    let pages = Router::new()
        .route("/", get(overview_page))
        .route("/slos/{*id}", get(detail_page))
        .route("/alerts", get(alerts_page))
        .route("/status", get(status_page))
        .route_layer(middleware::from_fn_with_state(tokens, guard));
    Router::new()
        .merge(pages)
        .route("/ui/login", post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/assets/{name}", get(assets::serve))
        .layer(middleware::map_response(security_headers))
}

/// Pages need the read token when the API does: without a good one, the
/// sign-in form answers instead (401), and comes back here after.
async fn guard(State(tokens): State<Arc<Tokens>>, request: Request, next: Next) -> Response {
    if tokens
        .check_headers(Access::Read, request.headers())
        .is_none()
    {
        return next.run(request).await;
    }
    let tried = auth::cookie_token(request.headers()).is_some()
        || request.headers().contains_key(header::AUTHORIZATION);
    let back = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut response = html(layout::sign_in(&back, tried));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response
}

/// Only paths of this site, so a crafted link cannot send people elsewhere.
fn local_path(next: &str) -> &str {
    let local = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\");
    if local { next } else { "/" }
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, location);
    }
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /ui/login`, a form with `token` and `next`: keeps a good token in
/// an HttpOnly, SameSite=Strict cookie.
async fn login(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let form = Params::parse(&String::from_utf8_lossy(&body));
    let token = form.all("token", false).first().copied().unwrap_or("");
    let next = local_path(form.all("next", false).first().copied().unwrap_or("/")).to_string();
    let tokens = &api.settings.tokens;
    if !tokens.reads_need_token() {
        return redirect(&next, None);
    }
    let presented = HeaderValue::from_str(&format!("Bearer {token}")).ok();
    if token.is_empty() || tokens.check(Access::Read, presented.as_ref()).is_some() {
        let mut response = html(layout::sign_in(&next, true));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return response;
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Strict",
        utf8_percent_encode(token, NON_ALPHANUMERIC)
    );
    redirect(&next, Some(cookie))
}

/// `POST /ui/logout`: forgets the cookie.
async fn logout() -> Response {
    let cookie = format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    redirect("/", Some(cookie))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn html(markup: Markup) -> Response {
    let mut response = markup.into_string().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The shell of a page about the snapshot in `view`.
fn shell<'a>(
    api: &Api,
    headers: &HeaderMap,
    view: &View,
    title: &'a str,
    nav: Nav,
    poll: Option<&'a str>,
    etag: Option<&'a str>,
) -> Shell<'a> {
    Shell {
        title,
        nav,
        poll,
        etag,
        poll_ms: api.settings.ui_poll.as_millis(),
        signed_in: api.settings.tokens.reads_need_token() && auth::cookie_token(headers).is_some(),
        firing: view
            .entries
            .iter()
            .filter(|e| e.status.alert_state == AlertState::Firing)
            .count(),
    }
}

async fn overview_page(
    State(api): State<Arc<Api>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    // Read before the snapshot, so the tag is never newer than the page.
    let tag = snapshot_tag(&api.app);
    let view = api.view();
    let catalog = api.app.reloader.current();
    let freshness = Freshness {
        now: Utc::now(),
        max_age: api.app.max_status_age,
    };
    let gates = overview::service_gates(&catalog, &view.snapshot, &freshness);
    let query = overview::Query::parse(&Params::from_uri(&uri));
    let statuses = || view.entries.iter().map(|e| &e.status);
    let groups = overview::build(statuses(), &gates, &query);
    let mut services: Vec<&str> = catalog.slos.iter().map(|s| s.service.as_str()).collect();
    services.dedup();
    let counts = overview::Counts::of(statuses(), view.snapshot.published_at);
    let content = overview::render(&groups, &query, &services, &counts);
    let shell = shell(
        &api,
        &headers,
        &view,
        "SLOs",
        Nav::Overview,
        // Every instance, pages of the most the API gives at once.
        Some("/api/v1/slos?limit=1000"),
        Some(&tag),
    );
    html(layout::page(&shell, content))
}

fn not_found(api: &Api, headers: &HeaderMap, view: &View, id: &str) -> Response {
    let shell = shell(api, headers, view, "Not found", Nav::None, None, None);
    let content = layout::message(
        "No such SLO instance",
        &format!("burnrate knows no SLO instance `{id}`. The overview lists every one."),
    );
    let mut response = html(layout::page(&shell, content));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

async fn detail_page(
    State(api): State<Arc<Api>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let tag = snapshot_tag(&api.app);
    let view = api.view();
    let raw = uri.path().strip_prefix("/slos/").unwrap_or("");
    let id = percent_decode_str(raw).decode_utf8_lossy().into_owned();
    let Some(entry) = view.get(&id) else {
        return not_found(&api, &headers, &view, &id);
    };
    let status = &entry.status;
    let catalog = api.app.reloader.current();
    let slo = catalog.get(&status.slo);
    let definition = slo.map(|s| SloDefinition::of(s, &status.group));
    let now = Utc::now();
    let window = slo.map_or(
        SloWindow::Rolling(crate::duration::Duration::from_days(30)),
        |s| s.window,
    );
    let window_start = window.start(now);
    let window_end = match window {
        SloWindow::Rolling(_) => now,
        SloWindow::Calendar { .. } => window.end(now),
    };
    let params = Params::from_uri(&uri);
    let asked = params.all("range", false).first().copied().unwrap_or("");
    let range = detail::RANGES
        .iter()
        .find(|(key, _)| *key == asked)
        .and_then(|(key, _)| {
            let span = key.parse::<crate::duration::Duration>().ok()?.to_chrono();
            (now - span > window_start).then_some((*key, now - span))
        });
    let from = range.map_or(window_start, |r| r.1);
    let to = if range.is_some() { now } else { window_end };
    let step_ms = crate::api::slos::default_step_ms((to - from).num_milliseconds());
    let history = api
        .app
        .store
        .history(&HistoryQuery {
            slo_id: &status.slo,
            group: &status.group,
            from,
            to: now,
            step_ms,
        })
        .await;
    let history_unavailable = history.is_err();
    let history = history.unwrap_or_default();
    let transitions = crate::api::alerts::transitions(
        &api,
        Some(&status.id),
        &TransitionQuery {
            limit: Some(50),
            ..TransitionQuery::default()
        },
    )
    .await
    .ok();
    let detail = detail::Detail {
        status,
        definition: definition.as_ref(),
        window_start,
        window_end,
        range,
        now,
        history: &history,
        history_unavailable,
        step_ms,
        transitions: transitions.as_deref(),
        prometheus: api.settings.prometheus_link.as_deref(),
    };
    let poll = crate::api::view::href(&status.id);
    let shell = shell(
        &api,
        &headers,
        &view,
        &status.id,
        Nav::None,
        Some(&poll),
        Some(&tag),
    );
    html(layout::page(&shell, detail::render(&detail)))
}

async fn alerts_page(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    let tag = snapshot_tag(&api.app);
    let view = api.view();
    let catalog = api.app.reloader.current();
    let active = crate::alerting::queries::active_alerts(
        &view.snapshot,
        &catalog,
        &crate::alerting::queries::AlertFilter::default(),
    );
    let transitions = crate::api::alerts::transitions(
        &api,
        None,
        &TransitionQuery {
            limit: Some(100),
            ..TransitionQuery::default()
        },
    )
    .await
    .ok();
    let shell = shell(
        &api,
        &headers,
        &view,
        "Alerts",
        Nav::Alerts,
        Some("/api/v1/alerts"),
        Some(&tag),
    );
    html(layout::page(
        &shell,
        alerts::render(&active, transitions.as_deref()),
    ))
}

async fn status_page(State(api): State<Arc<Api>>, headers: HeaderMap) -> Response {
    let tag = snapshot_tag(&api.app);
    let view = api.view();
    let app = &api.app;
    let catalog = app.reloader.current();
    let started = std::time::Instant::now();
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), app.store.ping()).await;
    let database = match ping {
        Ok(Ok(())) => Ok(started.elapsed()),
        Ok(Err(_)) => Err("the database refused or failed the check".to_string()),
        Err(_) => Err("no answer within 2 s".to_string()),
    };
    let members = match database {
        Ok(_) => app.store.members().await.ok(),
        Err(_) => None,
    };
    let status = status::Status {
        catalog_version: crate::ownership::catalog_hash(&catalog),
        catalog_slos: catalog.slos.len(),
        catalog_paths: app
            .reloader
            .paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        catalog_loaded_at: app.reloader.loaded_at(),
        refusal: app.reloader.refusal(),
        prometheus: api.settings.prometheus_link.as_deref(),
        prometheus_failed_cycles: crate::health::prometheus_errors(),
        database,
        database_failed_cycles: crate::health::database_errors(),
        published_at: view.snapshot.published_at,
        cycle_duration: view.snapshot.cycle_duration,
        cycles_on_time: app.cycling(Utc::now()),
        statuses: view.entries.iter().map(|e| &e.status).collect(),
        members,
        replica: app.replica_id.simple().to_string(),
    };
    let shell = shell(
        &api,
        &headers,
        &view,
        "Status",
        Nav::Status,
        Some("/api/v1/services"),
        Some(&tag),
    );
    html(layout::page(&shell, status::render(&status)))
}
