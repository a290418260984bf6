//! `GET /api/v1/gate`: may these services ship now? `POST /api/v1/gate`
//! with the write token may override a deny; `GET /api/v1/gate/decisions`
//! lists every decision made, from PostgreSQL.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use tracing::warn;
use utoipa::ToSchema;

use super::Api;
use super::params::{MAX_TEXT, Params, ShortText, Text, Texts, Time, no_nul};
use super::problem::Problem;
use super::view::DataState;
use crate::evaluation::InstanceStatus;
use crate::gate::{self, Decision, Freshness, InstanceVerdict};
use crate::store::gate::{GateDecisionQuery, NewGateDecision};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateDecision {
    Allow,
    Deny,
    /// Cannot decide: no data, not evaluated yet, or a stale status, under an `undecided` policy.
    Undecided,
}

impl From<Decision> for GateDecision {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Allow => GateDecision::Allow,
            Decision::Deny => GateDecision::Deny,
            Decision::Undecided => GateDecision::Undecided,
        }
    }
}

/// One SLO instance's part in the decision.
#[derive(Debug, Serialize, ToSchema, Deserialize)]
pub struct GateInstance {
    /// The instance id (the SLO id when no instance exists yet).
    pub id: String,
    /// The SLO id.
    pub slo: String,
    pub decision: GateDecision,
    pub reasons: Vec<String>,
    pub data_state: DataState,
    pub budget_remaining: Option<f64>,
    /// The policy's minimum (ratio of the budget).
    pub min_budget_remaining: f64,
    /// Firing alerts (tier names) whose severity denies releases.
    pub firing: Vec<String>,
    /// When this instance was last evaluated (null: never).
    pub evaluated_at: Option<DateTime<Utc>>,
}

/// One service's own decision, when several are asked about at once.
#[derive(Debug, Serialize, ToSchema, Deserialize)]
pub struct ServiceGate {
    pub service: String,
    pub decision: GateDecision,
    pub summary: String,
    pub reasons: Vec<String>,
}

/// A release allowed despite the gate.
#[derive(Debug, Clone, Serialize, ToSchema, Deserialize)]
pub struct GateOverride {
    /// Why, as the caller gave it.
    pub reason: String,
    /// The gate's own decision, which the override replaced.
    pub overridden: GateDecision,
}

/// The release decision for one or more services (or one SLO of each).
// `burnrate gate` reads the answer into this same type.
#[derive(Debug, Serialize, ToSchema, Deserialize)]
pub struct GateResult {
    /// The first service asked about (all of them are in `services`).
    pub service: String,
    /// Every service asked about; the decision is their conjunction.
    pub services: Vec<String>,
    /// The SLO name asked about, if any.
    pub slo: Option<String>,
    /// Deny if any instance denies, else undecided if any cannot be decided,
    /// else allow; `allow` after an override.
    pub decision: GateDecision,
    /// One line for people.
    pub summary: String,
    /// The reasons of every instance that did not allow (or of all, when all allow).
    pub reasons: Vec<String>,
    /// Each service's own decision.
    pub per_service: Vec<ServiceGate>,
    /// Set when the caller overrode a deny (or undecided).
    #[serde(rename = "override")]
    pub override_: Option<GateOverride>,
    /// Who asked, as the caller said (`actor`).
    pub actor: Option<String>,
    /// The id of the stored record at `/api/v1/gate/decisions`; null when
    /// the database could not be written (never for an override).
    pub decision_id: Option<i64>,
    /// When the statuses were evaluated (the snapshot's time).
    pub evaluated_at: Option<DateTime<Utc>>,
    pub instances: Vec<GateInstance>,
}

/// What a gate call asks: from the query string (GET) or the body (POST).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct GateRequest {
    /// The services to release, 1 to 100; all must be allowed.
    #[schema(schema_with = services_schema)]
    pub services: Vec<String>,
    /// Only this SLO (its name within each service).
    #[serde(default)]
    #[schema(min_length = 1, pattern = "^[^\\x00]*$")]
    pub slo: Option<String>,
    /// Who asks (for example the CI user); recorded with the decision.
    #[serde(default)]
    #[schema(max_length = 1000, pattern = "^[^\\x00]*$")]
    pub actor: Option<String>,
    /// The caller's id for this call: a retried call is recorded once.
    #[serde(default)]
    #[schema(max_length = 1000, pattern = "^[^\\x00]*$")]
    pub request_id: Option<String>,
    /// Answer only once every judged instance was evaluated after this
    /// instant (RFC 3339 or Unix seconds, as text); until then the answer is
    /// 409 with `Retry-After`.
    #[serde(default, deserialize_with = "time_text")]
    #[schema(value_type = Option<Time>)]
    pub fresh_after: Option<DateTime<Utc>>,
    /// Allow despite a deny (or undecided), for this reason. POST only, with the write token.
    #[serde(default, rename = "override")]
    #[schema(min_length = 1, max_length = 1000, pattern = "^[^\\x00]*$")]
    pub override_reason: Option<String>,
}

/// A time as text, read like the query's ([`super::params::parse_time`]).
fn time_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => super::params::parse_time(&text).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time or Unix seconds"))
        }),
    }
}

fn services_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(<Text as utoipa::PartialSchema>::schema())
        .min_items(Some(1))
        .max_items(Some(100))
        .build()
}

/// The release decision, from each SLO's gate policy and current status.
/// Every decision is recorded and listed at `/api/v1/gate/decisions`.
#[utoipa::path(
    get,
    path = "/api/v1/gate",
    tag = "gate",
    params(
        ("service" = inline(Texts), Query, explode = true, example = json!(["checkout"]), min_items = 1, max_items = 100, description = "The service to release; repeat for several, up to 100 (all must be allowed)."),
        ("slo" = inline(Option<Text>), Query, description = "Only this SLO (its name within the service)."),
        ("actor" = inline(Option<ShortText>), Query, description = "Who asks (for example the CI user); recorded."),
        ("request_id" = inline(Option<ShortText>), Query, description = "The caller's id for this call; a retried call is recorded once."),
        ("fresh_after" = inline(Option<Time>), Query, description = "RFC 3339 or Unix seconds: answer only once every judged instance was evaluated after this instant (409 with `Retry-After` until then)."),
    ),
    responses(
        (status = 200, description = "The decision with reasons (allow, deny or undecided)", body = GateResult),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A read token is required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown service or SLO", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not every instance evaluated after `fresh_after` yet (retry after `Retry-After` seconds)", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn gate(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    match request_from_query(&Params::from_uri(&uri)) {
        Ok(request) => answer(&api, &request).await,
        Err(p) => p.into_response(),
    }
}

/// The release decision, asked with the write token: the only way to
/// override a deny. The override and its reason are recorded.
#[utoipa::path(
    post,
    path = "/api/v1/gate",
    tag = "gate",
    request_body(content = GateRequest, example = json!({"services": ["checkout"], "actor": "ci-deploy", "request_id": "build-1234"})),
    responses(
        (status = 200, description = "The decision, `allow` when overridden", body = GateResult),
        (status = 400, description = "A bad request body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "The write token is required", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Writes are disabled, or the read token was used", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown service or SLO", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not every instance evaluated after `fresh_after` yet (retry after `Retry-After` seconds)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The override could not be recorded", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn gate_post(State(api): State<Arc<Api>>, body: Bytes) -> Response {
    match Problem::json_body::<GateRequest>(&body, "a gate request") {
        Ok(request) => answer(&api, &request).await,
        Err(p) => p.into_response(),
    }
}

/// The query parameters `GET /api/v1/gate` accepts.
pub const GATE_PARAMETERS: &[&str] = &["service", "slo", "actor", "request_id", "fresh_after"];

/// The query parameters `GET /api/v1/gate/decisions` accepts.
pub const DECISIONS_PARAMETERS: &[&str] = &["service", "overridden", "before", "limit"];

fn request_from_query(params: &Params) -> Result<GateRequest, Problem> {
    params.only(GATE_PARAMETERS)?;
    if params.all("service", false).is_empty() {
        params.required("service")?;
    }
    Ok(GateRequest {
        services: params
            .all("service", false)
            .into_iter()
            .map(str::to_string)
            .collect(),
        slo: params.non_empty("slo")?.map(str::to_string),
        actor: params.non_empty("actor")?.map(str::to_string),
        request_id: params.non_empty("request_id")?.map(str::to_string),
        fresh_after: params.time("fresh_after")?,
        override_reason: None,
    })
}

fn validate(request: &GateRequest) -> Result<(), Problem> {
    if request.services.is_empty() || request.services.iter().any(String::is_empty) {
        return Err(Problem::bad_param(
            "service",
            "name at least one service, none empty",
        ));
    }
    if request.services.len() > 100 {
        return Err(Problem::bad_param(
            "service",
            "at most 100 services at once",
        ));
    }
    for service in &request.services {
        no_nul("service", service)?;
    }
    if let Some(slo) = &request.slo {
        no_nul("slo", slo)?;
    }
    for (name, value) in [
        ("actor", &request.actor),
        ("request_id", &request.request_id),
        ("override", &request.override_reason),
    ] {
        if let Some(v) = value {
            no_nul(name, v)?;
        }
        if value.as_ref().is_some_and(|v| v.chars().count() > MAX_TEXT) {
            return Err(Problem::bad_param(
                name,
                format!("at most {MAX_TEXT} characters"),
            ));
        }
    }
    if request
        .override_reason
        .as_deref()
        .is_some_and(str::is_empty)
    {
        return Err(Problem::bad_param("override", "an override needs a reason"));
    }
    Ok(())
}

async fn answer(api: &Api, request: &GateRequest) -> Response {
    if !api.app.evaluated() {
        // Just started: every instance would be "not evaluated yet". A
        // retrying caller gets the real answer a cycle later.
        let mut response = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "burnrate is starting: its first evaluation is not done yet",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    let result = match validate(request).and_then(|()| decide(api, request)) {
        Ok(result) => result,
        Err(p) => return p.into_response(),
    };
    if let Some(after) = request.fresh_after {
        let view = api.view();
        let cycle_started = view.snapshot.published_at.map(|p| {
            p - chrono::Duration::from_std(view.snapshot.cycle_duration).unwrap_or_default()
        });
        let waiting = gate::not_fresh(&result.1, after, cycle_started);
        if !waiting.is_empty() {
            return not_fresh_yet(api, after, &waiting);
        }
    }
    let mut result = result.0;
    let doc = serde_json::to_value(&result).unwrap_or_default();
    let record = NewGateDecision {
        request_id: request.request_id.as_deref(),
        actor: request.actor.as_deref(),
        services: &result.services,
        slo: result.slo.as_deref(),
        decision: decision_str(result.decision),
        gate_decision: decision_str(
            result
                .override_
                .as_ref()
                .map_or(result.decision, |o| o.overridden),
        ),
        reasons: &result.reasons,
        override_reason: result.override_.as_ref().map(|o| o.reason.as_str()),
        result: &doc,
    };
    match api.app.store.record_gate_decision(&record).await {
        Ok(id) => result.decision_id = Some(id),
        Err(e) if result.override_.is_some() => {
            return Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the override was not applied: it cannot be recorded ({})",
                    e.step()
                ),
            )
            .into_response();
        }
        Err(e) => warn!(error = %e, "cannot record a gate decision; answering anyway"),
    }
    axum::Json(result).into_response()
}

fn decision_str(d: GateDecision) -> &'static str {
    match d {
        GateDecision::Allow => "allow",
        GateDecision::Deny => "deny",
        GateDecision::Undecided => "undecided",
    }
}

/// 409 with `Retry-After`: some instance has no evaluation after `after` yet.
fn not_fresh_yet(api: &Api, after: DateTime<Utc>, waiting: &[&str]) -> Response {
    let shown: Vec<&str> = waiting.iter().take(5).copied().collect();
    let more = if waiting.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    // 409: the request is fine, the state is not there yet (a 5xx would
    // say burnrate failed).
    let mut response = Problem::new(
        StatusCode::CONFLICT,
        format!(
            "not decided yet: {} instance(s) have no evaluation after {} ({}{more})",
            waiting.len(),
            after.to_rfc3339_opts(SecondsFormat::Millis, true),
            shown.join(", ")
        ),
    )
    .into_response();
    let interval = (api.app.max_status_age.as_millis() / 5000).clamp(1, 60);
    if let Ok(v) = HeaderValue::from_str(&interval.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The decision, and the instance verdicts behind it (for `fresh_after`).
fn decide(api: &Api, request: &GateRequest) -> Result<(GateResult, Vec<InstanceVerdict>), Problem> {
    let catalog = api.app.reloader.current();
    let view = api.view();
    let freshness = Freshness {
        now: Utc::now(),
        max_age: api.app.max_status_age,
    };
    let slo_name = request.slo.as_deref();
    let mut services: Vec<String> = Vec::new();
    for s in &request.services {
        if !services.contains(s) {
            services.push(s.clone());
        }
    }
    let mut parts = Vec::new();
    for service in &services {
        let chosen = gate::select(&catalog, service, slo_name)
            .map_err(|e| Problem::not_found(e.to_string()))?;
        // Ids start with `service/`, and `0` follows `/`: the service's instances are one range.
        let mut by_slo: BTreeMap<&str, Vec<&InstanceStatus>> = BTreeMap::new();
        let (low, high) = (format!("{service}/"), format!("{service}0"));
        for s in view.snapshot.instances.range(low..high).map(|(_, s)| s) {
            if &s.service == service {
                by_slo.entry(s.slo.as_str()).or_default().push(s);
            }
        }
        let slos: Vec<_> = chosen
            .into_iter()
            .map(|slo| (slo, by_slo.remove(slo.id.as_str()).unwrap_or_default()))
            .collect();
        let what = match slo_name {
            Some(name) => format!("{service}/{name}"),
            None => format!("service {service}"),
        };
        parts.push((service.clone(), gate::decide(&what, &slos, &freshness)));
    }
    let (decision, mut summary, reasons) = gate::combine_services(&parts);
    let mut decision = GateDecision::from(decision);
    let override_ = request.override_reason.as_ref().and_then(|reason| {
        (decision != GateDecision::Allow).then(|| GateOverride {
            reason: reason.trim().to_string(),
            overridden: decision,
        })
    });
    if let Some(o) = &override_ {
        decision = GateDecision::Allow;
        summary = format!("allow (override: {}): the gate said {summary}", o.reason);
    }
    let per_service = parts
        .iter()
        .map(|(service, r)| ServiceGate {
            service: service.clone(),
            decision: r.decision.into(),
            summary: r.summary.clone(),
            reasons: r.reasons.clone(),
        })
        .collect();
    let verdicts: Vec<InstanceVerdict> = parts.into_iter().flat_map(|(_, r)| r.instances).collect();
    let result = GateResult {
        service: services[0].clone(),
        services,
        slo: slo_name.map(str::to_string),
        decision,
        summary,
        reasons,
        per_service,
        override_,
        actor: request.actor.clone(),
        decision_id: None,
        evaluated_at: view.snapshot.published_at,
        instances: verdicts.iter().cloned().map(GateInstance::from).collect(),
    };
    Ok((result, verdicts))
}

/// Recorded gate decisions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct GateDecisionList {
    pub items: Vec<GateDecisionItem>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next_before: Option<i64>,
}

/// One recorded decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct GateDecisionItem {
    pub id: i64,
    pub decided_at: DateTime<Utc>,
    pub actor: Option<String>,
    pub services: Vec<String>,
    pub slo: Option<String>,
    /// The answer given (`allow` after an override).
    pub decision: GateDecision,
    /// The gate's own decision.
    pub gate_decision: GateDecision,
    pub reasons: Vec<String>,
    /// The override's reason, when the caller overrode the gate.
    pub override_reason: Option<String>,
}

/// The decisions made through `/api/v1/gate`, newest first, from PostgreSQL.
#[utoipa::path(
    get,
    path = "/api/v1/gate/decisions",
    tag = "gate",
    params(
        ("service" = inline(Option<Text>), Query, description = "Only decisions about this service."),
        ("overridden" = Option<bool>, Query, description = "`true`: only overridden decisions."),
        ("before" = Option<i64>, Query, minimum = 1, description = "Only decisions older than this id (the previous page's `next_before`)."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many (1-1000, default 100)."),
    ),
    responses(
        (status = 200, description = "Decisions, newest first", body = GateDecisionList),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A read token is required", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn decisions(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    match list_decisions(&api, &Params::from_uri(&uri)).await {
        Ok(list) => axum::Json(list).into_response(),
        Err(p) => p.into_response(),
    }
}

async fn list_decisions(api: &Api, params: &Params) -> Result<GateDecisionList, Problem> {
    params.only(DECISIONS_PARAMETERS)?;
    let overridden_only = match params.one("overridden")? {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Problem::bad_param("overridden", "expected true or false")),
    };
    let limit = params.integer("limit", 1, 1000)?.unwrap_or(100) as u32;
    let query = GateDecisionQuery {
        service: params.non_empty("service")?.map(str::to_string),
        before_id: params
            .integer("before", 1, i64::MAX as u64)?
            .map(|n| n as i64),
        overridden_only,
        limit,
    };
    let rows = api
        .app
        .store
        .gate_decisions(&query)
        .await
        .map_err(|e| Problem::database_unavailable(&e))?;
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let parse = |d: &str| match d {
        "allow" => GateDecision::Allow,
        "deny" => GateDecision::Deny,
        _ => GateDecision::Undecided,
    };
    Ok(GateDecisionList {
        items: rows
            .into_iter()
            .map(|r| GateDecisionItem {
                id: r.id,
                decided_at: r.decided_at,
                actor: r.actor,
                services: r.services,
                slo: r.slo,
                decision: parse(&r.decision),
                gate_decision: parse(&r.gate_decision),
                reasons: r.reasons,
                override_reason: r.override_reason,
            })
            .collect(),
        next_before,
    })
}

impl From<InstanceVerdict> for GateInstance {
    fn from(i: InstanceVerdict) -> Self {
        GateInstance {
            id: i.id,
            slo: i.slo,
            decision: i.verdict.decision.into(),
            reasons: i.verdict.reasons,
            data_state: i.facts.data_state,
            budget_remaining: i.facts.budget_remaining,
            min_budget_remaining: i.min_budget_remaining,
            firing: i.denying_alerts,
            evaluated_at: i.evaluated_at,
        }
    }
}
