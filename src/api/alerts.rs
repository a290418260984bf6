//! Alerts: `GET /api/v1/alerts` lists what is pending or firing now (from
//! the snapshot), `GET /api/v1/alerts/history` the transitions of one SLO,
//! or of every SLO (from PostgreSQL). The work is done in
//! [`crate::alerting::queries`] and the store.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Api;
use super::etag::{EntityTags, conditional};
use super::params::{ActiveStates, Params, Text, Texts, Time};
use super::problem::Problem;
use crate::alerting::queries::{ActiveAlert, AlertFilter, active_alerts};
use crate::engine::Transition;
use crate::store::alerts::{HistoryEntry, TransitionQuery};

/// Pending and firing alerts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    /// Firing first, then by severity, instance and alert.
    pub items: Vec<ActiveAlert>,
    pub total: usize,
    /// When the snapshot they come from was published.
    pub evaluated_at: Option<DateTime<Utc>>,
}

/// One recorded change of an alert's phase, with the numbers behind it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertTransition {
    /// The instance id.
    pub instance: String,
    /// A tier name, `budget_exhausted` or `absent`.
    pub alert: String,
    pub transition: Transition,
    pub at: DateTime<Utc>,
    /// When the pending or firing episode began.
    pub started_at: Option<DateTime<Utc>>,
    pub severity: String,
    pub long_window: Option<String>,
    pub short_window: Option<String>,
    pub long_burn_rate: Option<f64>,
    pub short_burn_rate: Option<f64>,
    /// The tier's burn-rate factor, or the exhaustion alert's budget threshold.
    pub threshold: Option<f64>,
    pub budget_remaining: Option<f64>,
    /// The labels sent to Alertmanager.
    pub labels: BTreeMap<String, String>,
    /// Why, when the transition has a reason beyond its numbers.
    pub reason: Option<String>,
}

impl From<HistoryEntry> for AlertTransition {
    fn from(e: HistoryEntry) -> Self {
        let r = e.record;
        AlertTransition {
            instance: e.instance,
            alert: r.alert.display_name().to_string(),
            transition: r.transition,
            at: r.at,
            started_at: r.started_at,
            severity: r.severity,
            long_window: r.long_window,
            short_window: r.short_window,
            long_burn_rate: r.long_burn_rate,
            short_burn_rate: r.short_burn_rate,
            threshold: r.threshold,
            budget_remaining: r.budget_remaining,
            labels: r.labels,
            reason: r.reason,
        }
    }
}

/// Transitions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertHistory {
    /// The SLO or instance asked about; null for every SLO.
    pub slo: Option<String>,
    pub items: Vec<AlertTransition>,
}

/// Pending and firing alerts, firing first. Each filter takes several
/// values (repeated or comma-separated).
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    operation_id = "list_alerts",
    tag = "alerts",
    params(
        ("service" = inline(Option<Texts>), Query, explode = true, description = "Only these services (repeat, or separate with commas)."),
        ("slo" = inline(Option<Texts>), Query, explode = true, description = "Only these SLOs: ids (`service/name`) or names."),
        ("severity" = inline(Option<Texts>), Query, explode = true, description = "`page`, `ticket`, or the `severity` label sent to Alertmanager."),
        ("state" = inline(Option<ActiveStates>), Query, explode = true, example = json!(["firing"]), description = "`pending` and/or `firing` (default both)."),
        ("If-None-Match" = inline(Option<EntityTags>), Header, description = "The `ETag` of an earlier answer: 304 while the snapshot is unchanged."),
    ),
    responses(
        (status = 200, description = "The alerts", body = AlertList, headers(("ETag" = String, description = "Changes with each published snapshot"))),
        (status = 304, description = "Unchanged since the `ETag` given in `If-None-Match`"),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A read token is required", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list(
    State(api): State<Arc<Api>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let params = Params::from_uri(&uri);
    let filter = match alert_filter(&params) {
        Ok(f) => f,
        Err(problem) => return problem.into_response(),
    };
    conditional(&api.app, &headers, || {
        let snapshot = api.app.snapshot();
        let catalog = api.app.reloader.current();
        let items = active_alerts(&snapshot, &catalog, &filter);
        Json(AlertList {
            total: items.len(),
            items,
            evaluated_at: snapshot.published_at,
        })
        .into_response()
    })
}

/// The query parameters `GET /api/v1/alerts` accepts.
pub const LIST_PARAMETERS: &[&str] = &["service", "slo", "severity", "state"];

/// The query parameters `GET /api/v1/alerts/history` accepts.
pub const HISTORY_PARAMETERS: &[&str] = &["slo", "alert", "since", "before", "limit"];

fn alert_filter(params: &Params) -> Result<AlertFilter, Problem> {
    params.only(LIST_PARAMETERS)?;
    let joined = |values: Vec<&str>| (!values.is_empty()).then(|| values.join(","));
    let states = params.words(
        "state",
        |w| matches!(w, "pending" | "firing").then_some(w),
        "`pending` or `firing` (inactive alerts are not listed)",
    )?;
    let filter = AlertFilter {
        service: joined(params.texts("service")?),
        slo: joined(params.texts("slo")?),
        severity: joined(params.texts("severity")?),
        state: joined(states),
    };
    filter
        .validate()
        .map_err(|reason| Problem::bad_param("state", reason))?;
    Ok(filter)
}

/// The transitions of an SLO's alerts (every instance), of one instance
/// (`service/name{label="value"}`), or without `slo` of every SLO, newest
/// first, with the burn rates and budget that caused each. Page back with
/// `before` = the oldest `at` seen.
#[utoipa::path(
    get,
    path = "/api/v1/alerts/history",
    operation_id = "alert_history",
    tag = "alerts",
    params(
        ("slo" = inline(Option<Text>), Query, example = "search/availability", description = "An SLO id (`service/name`) or an instance id; without it, every SLO."),
        ("alert" = inline(Option<Text>), Query, description = "Only this alert: a tier name, `budget_exhausted` or `absent`."),
        ("since" = inline(Option<Time>), Query, description = "Only transitions at or after this time (RFC 3339 or Unix seconds)."),
        ("before" = inline(Option<Time>), Query, description = "Only transitions before this time (RFC 3339 or Unix seconds)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many (default 100)."),
    ),
    responses(
        (status = 200, description = "Transitions, newest first", body = AlertHistory),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A read token is required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No SLO or instance with this id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn history(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    match history_inner(&api, &Params::from_uri(&uri)).await {
        Ok(history) => Json(history).into_response(),
        Err(problem) => problem.into_response(),
    }
}

async fn history_inner(api: &Api, params: &Params) -> Result<AlertHistory, Problem> {
    params.only(HISTORY_PARAMETERS)?;
    let slo = params.non_empty("slo")?;
    let query = TransitionQuery {
        before: params.time("before")?,
        since: params.time("since")?,
        limit: params
            .integer("limit", 1, 1000)?
            .map(|n| u32::try_from(n).unwrap_or(1000)),
        alert: params.non_empty("alert")?.map(str::to_string),
    };
    let items = transitions(api, slo, &query).await?;
    Ok(AlertHistory {
        slo: slo.map(str::to_string),
        items,
    })
}

/// Transitions of `slo` (an SLO or instance id; every SLO when none), for
/// the API and the web UI alike.
pub async fn transitions(
    api: &Api,
    slo: Option<&str>,
    query: &TransitionQuery,
) -> Result<Vec<AlertTransition>, Problem> {
    let unavailable = |e: crate::store::StoreError| Problem::database_unavailable(&e);
    let entries = match slo {
        Some(slo) => {
            let in_catalog = api.app.reloader.current().get(slo).is_some()
                || api.app.snapshot().instances.contains_key(slo);
            if !in_catalog && !api.app.store.knows_slo(slo).await.map_err(unavailable)? {
                return Err(Problem::not_found(format!(
                    "no SLO or SLO instance with id `{slo}`"
                )));
            }
            api.app.store.alert_history(slo, query).await
        }
        None => api.app.store.recent_alert_history(query).await,
    }
    .map_err(unavailable)?;
    Ok(entries.into_iter().map(AlertTransition::from).collect())
}
