//! Alerts: `GET /api/v1/alerts` lists what is pending or firing now (from
//! the snapshot), `GET /api/v1/alerts/history` an SLO's transitions (from
//! PostgreSQL). The work is done in [`crate::alerting::api`].

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Api;
use super::params::Params;
use super::problem::Problem;
use crate::alerting::queries::{AlertFilter, active_alerts};
use crate::store::alerts::TransitionQuery;

/// `GET /api/v1/alerts?service=&slo=&severity=&state=`: pending and firing
/// alerts, firing first. Each filter takes several values (repeated or
/// comma-separated); `slo` matches an SLO id or name, `severity` burnrate's
/// (`page`, `ticket`) or the `severity` label sent to Alertmanager, `state`
/// `pending` or `firing`.
pub async fn list(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    let params = Params::from_uri(&uri);
    let filter = match alert_filter(&params) {
        Ok(f) => f,
        Err(problem) => return problem.into_response(),
    };
    let snapshot = api.app.snapshot();
    let catalog = api.app.reloader.current();
    let items = active_alerts(&snapshot, &catalog, &filter);
    Json(json!({
        "items": items,
        "total": items.len(),
        "evaluated_at": snapshot.published_at,
    }))
    .into_response()
}

fn alert_filter(params: &Params) -> Result<AlertFilter, Problem> {
    params.only(&["service", "slo", "severity", "state"])?;
    let joined = |name: &str| {
        let values: Vec<&str> = params
            .all(name, true)
            .into_iter()
            .filter(|v| !v.is_empty())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let filter = AlertFilter {
        service: joined("service"),
        slo: joined("slo"),
        severity: joined("severity"),
        state: joined("state"),
    };
    filter
        .validate()
        .map_err(|reason| Problem::bad_param("state", reason))?;
    Ok(filter)
}

/// `GET /api/v1/alerts/history?slo=ID[&alert=][&since=][&before=][&limit=]`:
/// the transitions of an SLO's alerts (every instance), or of one instance
/// (`service/name{label="value"}`), newest first, with the burn rates and
/// budget that caused each. Page back with `before` = the oldest `at` seen.
pub async fn history(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    match history_inner(&api, &Params::from_uri(&uri)).await {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    }
}

async fn history_inner(api: &Api, params: &Params) -> Result<Response, Problem> {
    params.only(&["slo", "alert", "since", "before", "limit"])?;
    let slo = params.required("slo")?;
    let query = TransitionQuery {
        before: params.time("before")?,
        since: params.time("since")?,
        limit: params
            .integer("limit", 1, 1000)?
            .map(|n| u32::try_from(n).unwrap_or(1000)),
        alert: params.non_empty("alert")?.map(str::to_string),
    };
    let unavailable = |e: crate::store::StoreError| Problem::database_unavailable(&e);
    let in_catalog = api.app.reloader.current().get(slo).is_some()
        || api.app.snapshot().instances.contains_key(slo);
    if !in_catalog && !api.app.store.knows_slo(slo).await.map_err(unavailable)? {
        return Err(Problem::not_found(format!(
            "no SLO or SLO instance with id `{slo}`"
        )));
    }
    let items = api
        .app
        .store
        .alert_history(slo, &query)
        .await
        .map_err(unavailable)?;
    Ok(Json(json!({ "slo": slo, "items": items })).into_response())
}
