//! `GET /api/v1/reports`: a period's figures per SLO instance, the same
//! document `burnrate report --format json` prints, from PostgreSQL.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use super::Api;
use super::params::{Params, Period, Texts, Time};
use super::problem::Problem;
use crate::report::{Report, ReportQuery, build, clamp_span, current_month, parse_period};

/// The query parameters `GET /api/v1/reports` accepts.
pub const REPORT_PARAMETERS: &[&str] = &["period", "from", "to", "service"];

/// The report for a period: per SLO instance the SLI achieved, the
/// objective met or missed, the budget spent (in all and per ISO week), the
/// worst hours, alert firings, corrections, and the release gate's denials.
/// `from` and `to` replace the period's bounds; a span longer than 366 days
/// is cut to its last 366, and one that is empty holds no figures.
#[utoipa::path(
    get,
    path = "/api/v1/reports",
    operation_id = "get_report",
    tag = "reports",
    params(
        ("period" = inline(Option<Period>), Query, example = "2026-11", description = "A month (`2026-11`) or a quarter (`2026-Q4`), in UTC; default: the current month."),
        ("from" = inline(Option<Time>), Query, description = "Start of the period instead (RFC 3339 or Unix seconds)."),
        ("to" = inline(Option<Time>), Query, description = "End of the period instead, exclusive."),
        ("service" = inline(Option<Texts>), Query, description = "Only these services (repeat, or separate with commas)."),
    ),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn report(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    match report_inner(&api, &Params::from_uri(&uri)).await {
        Ok(report) => Json(report).into_response(),
        Err(p) => p.into_response(),
    }
}

async fn report_inner(api: &Api, params: &Params) -> Result<Report, Problem> {
    params.only(REPORT_PARAMETERS)?;
    let now = Utc::now();
    let (mut from, mut to) = match params.one("period")? {
        Some(p) => parse_period(p).map_err(|e| Problem::bad_param("period", e))?,
        None => current_month(now),
    };
    if let Some(t) = params.time("from")? {
        from = t;
    }
    if let Some(t) = params.time("to")? {
        to = t;
    }
    let (from, to) = clamp_span(from, to.max(from));
    let query = ReportQuery {
        from,
        to,
        services: params
            .texts("service")?
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    let catalog = api.app.reloader.current();
    build(&api.app.store, &catalog, &query, now)
        .await
        .map_err(|crate::report::ReportError::Store(e)| Problem::database_unavailable(&e))
}
