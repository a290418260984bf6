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
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Api;
use super::params::{DurationText, MAX_TEXT, Params, Reason, Text, Time, no_nul, parse_time};
use super::problem::Problem;
use crate::catalog::Slo;
use crate::duration::Duration;
use crate::store::corrections::NewCorrection;

/// A correction to add: for one SLO (`slo`, its id `service/name`) or for
/// every SLO of a `service`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    /// Why these minutes do not count.
    pub reason: String,
    /// Who adds it; recorded in the audit table.
    pub author: String,
    pub slo: Option<String>,
    pub service: Option<String>,
    /// RFC 3339 (any offset) or Unix seconds.
    pub start: String,
    /// A duration such as `2h`.
    pub duration: String,
}

impl ToSchema for CorrectionRequest {}

/// Written by hand: exactly one of `slo` and `service` names the target,
/// which the derived schema cannot say.
impl utoipa::PartialSchema for CorrectionRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let variant = |target: &str, other: &str, description: &str| {
            ObjectBuilder::new()
                .property("reason", Reason::schema())
                .property("author", Reason::schema())
                .property(target, Text::schema())
                .property(other, ObjectBuilder::new().schema_type(Type::Null))
                .property("start", Time::schema())
                .property("duration", DurationText::schema())
                .required("reason")
                .required("author")
                .required(target)
                .required("start")
                .required("duration")
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                .description(Some(description))
        };
        OneOfBuilder::new()
            .description(Some(
                "A correction to add. `reason` says why these minutes do not count; \
                 `author` is recorded in the audit table; `duration` such as `2h` (only \
                 whole minutes inside it are excluded).",
            ))
            .item(variant(
                "slo",
                "service",
                "For one SLO: `slo` is its id, `service/name`.",
            ))
            .item(variant("service", "slo", "For every SLO of `service`."))
            .into()
    }
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
)]
pub async fn create(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    let request: CorrectionRequest = match Problem::json_body(&body, "a correction") {
        Ok(r) => r,
        Err(p) => return p.into_response(),
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
    for (name, value) in [("slo", &r.slo), ("service", &r.service)] {
        if let Some(v) = value {
            no_nul(name, v)?;
        }
    }
    for (name, value) in [("reason", &r.reason), ("author", &r.author)] {
        no_nul(name, value)?;
        if value.is_empty() {
            return Err(Problem::bad_param(name, "required, not empty"));
        }
        if value.chars().count() > MAX_TEXT {
            return Err(Problem::bad_param(
                name,
                format!("at most {MAX_TEXT} characters"),
            ));
        }
    }
    let catalog = api.app.reloader.current();
    match (&r.slo, &r.service) {
        (Some(slo), None) if !slo.is_empty() => {
            if catalog.get(slo).is_none() {
                return Err(Problem::not_found(format!(
                    "no SLO `{slo}` in the catalog (ids are `service/name`)"
                )));
            }
        }
        (None, Some(service)) if !service.is_empty() => {
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
    let start = parse_time(&r.start).ok_or_else(|| {
        Problem::bad_param(
            "start",
            format!(
                "`{}` is not an RFC 3339 instant such as `2026-11-01T02:00:00Z`, or Unix seconds",
                r.start
            ),
        )
    })?;
    // Only whole minutes inside a correction are excluded, so one shorter
    // than a minute (or not covering a whole minute) excludes nothing.
    let duration = Some(r.duration.as_str())
        .filter(|d| d.trim() == *d)
        .and_then(|d| Duration::parse(d).ok())
        .filter(|d| d.as_millis() <= i64::MAX as u64)
        .ok_or_else(|| {
            Problem::bad_param(
                "duration",
                format!("`{}` is not a duration such as `2h`", r.duration),
            )
        })?;
    Ok(NewCorrection {
        slo_id: r.slo.as_deref(),
        service: r.service.as_deref(),
        reason: &r.reason,
        author: &r.author,
        start,
        duration_ms: duration.as_millis() as i64,
    })
}

/// The query parameters `DELETE /api/v1/corrections/{id}` accepts.
pub const DELETE_PARAMETERS: &[&str] = &["author"];

/// Deletes a correction added through the API.
#[utoipa::path(
    delete,
    path = "/api/v1/corrections/{id}",
    tag = "corrections",
    params(
        ("id" = i64, Path, minimum = 1, description = "The correction's id"),
        ("author" = inline(Reason), Query, description = "Who deletes it; recorded in the audit table."),
    ),
    responses(
        (status = 204, description = "Deleted; the minutes count again from the next cycle"),
        (status = 400, description = "A bad id or no author", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The write token is required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Writes are disabled, or the read token was used", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such correction (catalog corrections are removed from the catalog)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
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
        .only(DELETE_PARAMETERS)
        .and_then(|_| params.required("author"))
    {
        Ok(a) if a.chars().count() <= MAX_TEXT => a.to_string(),
        Ok(_) => {
            return Problem::bad_param(
                "author",
                format!("not empty, at most {MAX_TEXT} characters"),
            )
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
    operation_id = "list_slo_corrections",
    tag = "corrections",
    params(("id" = String, Path, min_length = 1, example = "checkout/availability", description = "The SLO id (or one of its instance ids), percent-encoded as one segment.")),
    responses(
        (status = 200, description = "The corrections in force", body = CorrectionList),
        (status = 401, description = "A read token is required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown SLO", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
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
