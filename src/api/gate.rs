//! `GET /api/v1/gate`: may this service ship now?

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Api;
use super::params::Params;
use super::problem::Problem;
use super::view::DataState;
use crate::evaluation::InstanceStatus;
use crate::gate::{self, Decision, Freshness, InstanceVerdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
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
}

/// The release decision for a service or one of its SLOs.
#[derive(Debug, Serialize, ToSchema)]
pub struct GateResult {
    pub service: String,
    /// The SLO name asked about, if any.
    pub slo: Option<String>,
    /// Deny if any instance denies, else undecided if any cannot be decided, else allow.
    pub decision: GateDecision,
    /// One line for people.
    pub summary: String,
    /// The reasons of every instance that did not allow (or of all, when all allow).
    pub reasons: Vec<String>,
    /// When the statuses were evaluated (the snapshot's time).
    pub evaluated_at: Option<DateTime<Utc>>,
    pub instances: Vec<GateInstance>,
}

/// The release decision, from each SLO's gate policy and current status.
#[utoipa::path(
    get,
    path = "/api/v1/gate",
    tag = "gate",
    params(
        ("service" = String, Query, description = "The service to release."),
        ("slo" = Option<String>, Query, description = "Only this SLO (its name within the service)."),
    ),
    responses(
        (status = 200, description = "The decision with reasons (allow, deny or undecided)", body = GateResult),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A read token is required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown service or SLO", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = [])),
)]
pub async fn gate(State(api): State<Arc<Api>>, OriginalUri(uri): OriginalUri) -> Response {
    match decide(&api, &Params::from_uri(&uri)) {
        Ok(result) => axum::Json(result).into_response(),
        Err(p) => p.into_response(),
    }
}

fn decide(api: &Api, params: &Params) -> Result<GateResult, Problem> {
    params.only(&["service", "slo"])?;
    let service = params.required("service")?;
    let slo_name = params.non_empty("slo")?;
    let catalog = api.app.reloader.current();
    let chosen =
        gate::select(&catalog, service, slo_name).map_err(|e| Problem::not_found(e.to_string()))?;
    let view = api.view();
    // Ids start with `service/`, and `0` follows `/`: the service's instances are one range.
    let mut by_slo: BTreeMap<&str, Vec<&InstanceStatus>> = BTreeMap::new();
    let (low, high) = (format!("{service}/"), format!("{service}0"));
    for s in view.snapshot.instances.range(low..high).map(|(_, s)| s) {
        if s.service == service {
            by_slo.entry(s.slo.as_str()).or_default().push(s);
        }
    }
    let slos: Vec<_> = chosen
        .into_iter()
        .map(|slo| (slo, by_slo.remove(slo.id.as_str()).unwrap_or_default()))
        .collect();
    let freshness = Freshness {
        now: Utc::now(),
        max_age: api.app.max_status_age,
    };
    let what = match slo_name {
        Some(name) => format!("{service}/{name}"),
        None => format!("service {service}"),
    };
    let release = gate::decide(&what, &slos, &freshness);
    Ok(GateResult {
        service: service.to_string(),
        slo: slo_name.map(str::to_string),
        decision: release.decision.into(),
        summary: release.summary,
        reasons: release.reasons,
        evaluated_at: view.snapshot.published_at,
        instances: release
            .instances
            .into_iter()
            .map(GateInstance::from)
            .collect(),
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
        }
    }
}
