//! Corrections through the API: `POST /api/v1/corrections` and `DELETE
//! /api/v1/corrections/{id}` (write token) store them in PostgreSQL, with an
//! audit row each; `GET /api/v1/slos/{id}/corrections` lists an SLO's,
//! the catalog's and the stored ones together. The scheduler reads the
//! stored ones once per cycle, so a change applies from the next cycle.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Api;
use super::params::Params;
use super::problem::Problem;
use crate::catalog::Slo;
use crate::duration::Duration;
use crate::store::corrections::NewCorrection;

/// The longest reason or author kept.
const MAX_TEXT: usize = 1000;

/// A correction to add: for one SLO (`slo`, its id `service/name`) or for
/// every SLO of a `service`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    /// Why these minutes do not count.
    pub reason: String,
    /// Who adds it; recorded in the audit table.
    pub author: String,
    pub slo: Option<String>,
    pub service: Option<String>,
    /// RFC 3339, any offset.
    pub start: String,
    /// A duration such as `2h`, at least `1m`.
    pub duration: String,
}

/// A correction, from the catalog or added through the API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CorrectionView {
    /// `catalog` or `api`.
    pub source: &'static str,
    /// The stored id (API corrections only), for `DELETE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub start: String,
    pub duration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat: Option<String>,
    /// The service, when the correction applies to all of its SLOs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// An SLO's corrections.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CorrectionList {
    pub slo: String,
    pub corrections: Vec<CorrectionView>,
}

/// The stored correction's id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CorrectionCreated {
    pub id: i64,
}

/// Adds a correction: its minutes count neither as good nor as bad events
/// from the next cycle on, for every window.
#[utoipa::path(
    post,
    path = "/api/v1/corrections",
    tag = "corrections",
    request_body = CorrectionRequest,
    responses(
        (status = 201, description = "Stored; applies from the next cycle", body = CorrectionCreated),
        (status = 400, description = "A bad request body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The write token is required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Writes are disabled, or the read token was used", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown SLO or service", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn create(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let request = match serde_json::from_slice::<CorrectionRequest>(&body) {
        Ok(r) => r,
        Err(e) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                format!("the request body is not a correction: {e}"),
            )
            .into_response();
        }
    };
    let new = match validate(&api, &request) {
        Ok(new) => new,
        Err(p) => return p.into_response(),
    };
    match api.app.store.add_correction(&new).await {
        Ok(id) => (StatusCode::CREATED, axum::Json(CorrectionCreated { id })).into_response(),
        Err(e) => Problem::database_unavailable(&e).into_response(),
    }
}

fn validate<'a>(api: &Api, r: &'a CorrectionRequest) -> Result<NewCorrection<'a>, Problem> {
    for (name, value) in [("reason", &r.reason), ("author", &r.author)] {
        if value.trim().is_empty() {
            return Err(Problem::bad_param(name, "required, not empty"));
        }
        if value.len() > MAX_TEXT {
            return Err(Problem::bad_param(
                name,
                format!("at most {MAX_TEXT} bytes"),
            ));
        }
    }
    let catalog = api.app.reloader.current();
    match (&r.slo, &r.service) {
        (Some(slo), None) => {
            if catalog.get(slo).is_none() {
                return Err(Problem::not_found(format!(
                    "no SLO `{slo}` in the catalog (ids are `service/name`)"
                )));
            }
        }
        (None, Some(service)) => {
            if !catalog.slos.iter().any(|s| &s.service == service) {
                return Err(Problem::not_found(format!(
                    "no SLO of service `{service}` in the catalog"
                )));
            }
        }
        _ => {
            return Err(Problem::bad_param(
                "slo",
                "give exactly one of `slo` (an SLO id) and `service`",
            ));
        }
    }
    let start = DateTime::parse_from_rfc3339(r.start.trim()).map_err(|e| {
        Problem::bad_param(
            "start",
            format!(
                "`{}` is not an RFC 3339 instant such as `2026-11-01T02:00:00Z` ({e})",
                r.start
            ),
        )
    })?;
    let duration = Duration::parse(r.duration.trim())
        .ok()
        .filter(|d| d.as_millis() >= 60_000 && d.as_millis() <= i64::MAX as u64)
        .ok_or_else(|| {
            Problem::bad_param(
                "duration",
                format!(
                    "`{}` is not a duration of at least 1m such as `2h`",
                    r.duration
                ),
            )
        })?;
    Ok(NewCorrection {
        slo_id: r.slo.as_deref(),
        service: r.service.as_deref(),
        reason: r.reason.trim(),
        author: r.author.trim(),
        start: start.with_timezone(&Utc),
        duration_ms: duration.as_millis() as i64,
    })
}

/// Deletes a correction added through the API.
#[utoipa::path(
    delete,
    path = "/api/v1/corrections/{id}",
    tag = "corrections",
    params(
        ("id" = i64, Path, description = "The correction's id"),
        ("author" = String, Query, description = "Who deletes it; recorded in the audit table."),
    ),
    responses(
        (status = 204, description = "Deleted; the minutes count again from the next cycle"),
        (status = 400, description = "A bad id or no author", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The write token is required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Writes are disabled, or the read token was used", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such correction (catalog corrections are removed from the catalog)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])),
)]
pub async fn delete(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    let raw = uri
        .path()
        .strip_prefix("/api/v1/corrections/")
        .unwrap_or("");
    let Ok(id) = raw.parse::<i64>() else {
        return Problem::bad_param("id", format!("`{raw}` is not a correction id")).into_response();
    };
    let params = Params::from_uri(&uri);
    let author = match params
        .only(&["author"])
        .and_then(|_| params.required("author"))
    {
        Ok(a) if !a.trim().is_empty() && a.len() <= MAX_TEXT => a.trim().to_string(),
        Ok(_) => {
            return Problem::bad_param("author", format!("not empty, at most {MAX_TEXT} bytes"))
                .into_response();
        }
        Err(p) => return p.into_response(),
    };
    match api.app.store.delete_correction(id, &author).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => Problem::not_found(format!("no correction {id}")).into_response(),
        Err(e) => Problem::database_unavailable(&e).into_response(),
    }
}

/// An SLO's corrections: the catalog's, then those added through the API.
#[utoipa::path(
    get,
    path = "/api/v1/slos/{id}/corrections",
    tag = "corrections",
    params(("id" = String, Path, description = "The SLO id (or one of its instance ids), percent-encoded as one segment.")),
    responses(
        (status = 200, description = "The corrections in force", body = CorrectionList),
        (status = 401, description = "A read token is required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown SLO", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = [])),
)]
pub async fn doc_list() {}

/// `GET /api/v1/slos/{id}/corrections`, or any other `/api/v1/slos/...` path.
pub async fn slos_rest(state: State<Arc<Api>>, uri: OriginalUri, headers: HeaderMap) -> Response {
    let Some(encoded) = uri
        .path()
        .strip_prefix("/api/v1/slos/")
        .and_then(|rest| rest.strip_suffix("/corrections"))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .map(str::to_string)
    else {
        return super::slos::instance_or_history(state, uri, headers).await;
    };
    let api = state.0;
    let id = percent_decode_str(&encoded).decode_utf8_lossy().to_string();
    let catalog = api.app.reloader.current();
    let slo_id = match catalog.get(&id) {
        Some(slo) => slo.id.to_string(),
        None => match api.app.snapshot().instances.get(&id) {
            Some(status) => status.slo.clone(),
            None => return Problem::not_found(format!("no SLO `{id}`")).into_response(),
        },
    };
    let Some(slo) = catalog.get(&slo_id) else {
        return Problem::not_found(format!("no SLO `{slo_id}`")).into_response();
    };
    match list(&api, slo).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(p) => p.into_response(),
    }
}

async fn list(api: &Api, slo: &Slo) -> Result<CorrectionList, Problem> {
    let mut corrections: Vec<CorrectionView> = slo
        .corrections
        .iter()
        .map(|c| CorrectionView {
            source: "catalog",
            id: None,
            reason: c.reason.clone(),
            author: None,
            start: c.start.to_rfc3339(),
            duration: c.duration.to_string(),
            repeat: c.repeat.as_ref().map(|r| r.to_string()),
            service: None,
        })
        .collect();
    let stored = api
        .app
        .store
        .corrections()
        .await
        .map_err(|e| Problem::database_unavailable(&e))?;
    corrections.extend(
        stored
            .into_iter()
            .filter(|c| c.applies_to(slo.id.as_str(), &slo.service))
            .map(|c| CorrectionView {
                source: "api",
                id: Some(c.id),
                reason: c.reason,
                author: Some(c.author),
                start: c.start_at.to_rfc3339(),
                duration: Duration::from_millis(c.duration_ms.max(0) as u64).to_string(),
                repeat: None,
                service: c.service,
            }),
    );
    Ok(CorrectionList {
        slo: slo.id.to_string(),
        corrections,
    })
}
