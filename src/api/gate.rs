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
use crate::gate::{self, Decision, Facts, Freshness, Verdict};

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
    let in_service: Vec<_> = catalog
        .slos
        .iter()
        .filter(|s| s.service == service)
        .collect();
    if in_service.is_empty() {
        let mut known: Vec<&str> = catalog.slos.iter().map(|s| s.service.as_str()).collect();
        known.dedup();
        let shown: Vec<&str> = known.iter().take(20).copied().collect();
        return Err(Problem::not_found(format!(
            "no service `{service}` in the catalog (services: {}{})",
            shown.join(", "),
            if known.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        )));
    }
    let chosen: Vec<_> = match slo_name {
        Some(name) => {
            let found: Vec<_> = in_service.into_iter().filter(|s| s.name == name).collect();
            if found.is_empty() {
                return Err(Problem::not_found(format!(
                    "service `{service}` has no SLO named `{name}`"
                )));
            }
            found
        }
        None => in_service,
    };
    let view = api.view();
    // Ids start with `service/`, and `0` follows `/`: the service's instances are one range.
    let mut by_slo: BTreeMap<&str, Vec<&InstanceStatus>> = BTreeMap::new();
    let (low, high) = (format!("{service}/"), format!("{service}0"));
    for s in view.snapshot.instances.range(low..high).map(|(_, s)| s) {
        if s.service == service {
            by_slo.entry(s.slo.as_str()).or_default().push(s);
        }
    }
    let freshness = Freshness {
        now: Utc::now(),
        max_age: api.app.max_status_age,
    };
    let mut instances = Vec::new();
    for slo in chosen {
        let statuses = by_slo.remove(slo.id.as_str()).unwrap_or_default();
        if statuses.is_empty() {
            let facts = Facts {
                data_state: DataState::Pending,
                budget_remaining: None,
                firing: Vec::new(),
                outdated: None,
            };
            instances.push(instance(
                slo.id.as_str(),
                slo.id.as_str(),
                &slo.gate,
                &facts,
            ));
        }
        for s in statuses {
            instances.push(instance(
                &s.id,
                slo.id.as_str(),
                &slo.gate,
                &Facts::of(s, &freshness),
            ));
        }
    }
    let decision = Decision::combine(instances.iter().map(|i| match i.decision {
        GateDecision::Allow => Decision::Allow,
        GateDecision::Deny => Decision::Deny,
        GateDecision::Undecided => Decision::Undecided,
    }));
    let decisive: Vec<&GateInstance> = instances
        .iter()
        .filter(|i| GateDecision::from(decision) == i.decision)
        .collect();
    let reasons: Vec<String> = decisive
        .iter()
        .flat_map(|i| i.reasons.iter().map(move |r| format!("{}: {r}", i.id)))
        .collect();
    let what = match slo_name {
        Some(name) => format!("{service}/{name}"),
        None => format!("service {service}"),
    };
    let summary = match decision {
        Decision::Allow => format!(
            "allow: all {} SLO instance(s) of {what} are within their gate policy",
            instances.len()
        ),
        Decision::Deny => format!(
            "deny: {} of {} SLO instance(s) of {what} are outside their gate policy",
            decisive.len(),
            instances.len()
        ),
        Decision::Undecided => format!(
            "undecided: {} of {} SLO instance(s) of {what} cannot be judged",
            decisive.len(),
            instances.len()
        ),
    };
    Ok(GateResult {
        service: service.to_string(),
        slo: slo_name.map(str::to_string),
        decision: decision.into(),
        summary,
        reasons,
        evaluated_at: view.snapshot.published_at,
        instances,
    })
}

fn instance(
    id: &str,
    slo: &str,
    policy: &crate::catalog::GatePolicy,
    facts: &Facts,
) -> GateInstance {
    let Verdict { decision, reasons } = gate::judge(policy, facts);
    GateInstance {
        id: id.to_string(),
        slo: slo.to_string(),
        decision: decision.into(),
        reasons,
        data_state: facts.data_state,
        budget_remaining: facts.budget_remaining,
        min_budget_remaining: if policy.min_budget_remaining.is_finite() {
            policy.min_budget_remaining
        } else {
            0.0
        },
        firing: facts
            .firing
            .iter()
            .filter(|(_, s)| policy.deny_when_firing.contains(s))
            .map(|(t, _)| t.clone())
            .collect(),
    }
}
