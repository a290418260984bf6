//! `/api/v1/slos`, `/api/v1/slos/{id}`, `/api/v1/slos/{id}/history` and
//! `/api/v1/services`.
//!
//! Instance ids contain `/` and may contain `{route="/x"}`. The canonical URL
//! of an instance is its id percent-encoded as ONE path segment
//! (`/api/v1/slos/shop%2Fby-route%7Broute%3D%22%2Fpay%22%7D`, the `href` of
//! each item). For people typing URLs, the unencoded form
//! (`/api/v1/slos/shop/availability`) works too. History is the literal
//! suffix `/history`: an id never ends in `/history` (service and SLO names
//! contain no `/`, and a grouped id ends in `}`), so the two never collide.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use utoipa::ToSchema;

use super::Api;
use super::definition::SloDefinition;
use super::etag::{EntityTags, conditional};
use super::params::{
    AlertStates, Cursor, DataStates, DurationText, LabelMatch, NO_PARAMETERS, Params, Texts, Time,
    decode_cursor, encode_cursor,
};
use super::problem::Problem;
use super::view::{AlertState, ApiSeverity, DataState, Entry, Events, SloStatus, View};
use crate::duration::Duration;
use crate::store::history::{HistoryQuery, HistoryRow};

/// Items per page when `limit` is not given, and the most a page holds.
pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;
/// History answers at most this many points (like Prometheus's range queries).
pub const MAX_POINTS: i64 = 11_000;
/// The default history step gives about this many points.
const DEFAULT_POINTS: i64 = 1_000;
const PREFIX: &str = "/api/v1/slos/";

/// A page of SLO instances.
#[derive(Debug, Serialize, ToSchema)]
pub struct SloList {
    /// Instances ordered by id (byte-wise), after the cursor.
    pub items: Vec<SloStatus>,
    /// How many instances match the filters, across all pages.
    pub total: usize,
    /// The page size used.
    pub limit: usize,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

pub fn json_response(body: Bytes) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

struct Filters<'a> {
    services: Vec<&'a str>,
    slos: Vec<&'a str>,
    labels: Vec<(&'a str, &'a str)>,
    data_states: Vec<DataState>,
    alert_states: Vec<AlertState>,
}

impl Filters<'_> {
    fn parse(params: &Params) -> Result<Filters<'_>, Problem> {
        let services = params.texts("service")?;
        let slos = params.texts("slo")?;
        let mut labels = Vec::new();
        for text in params.all("label", false) {
            match text.split_once(':') {
                Some((k, v)) if !k.is_empty() => labels.push((k, v)),
                _ => {
                    return Err(Problem::bad_param(
                        "label",
                        format!("`{text}`: expected `name:value`, e.g. `team:payments`"),
                    ));
                }
            }
        }
        let states = |all: &[&str]| format!("one of {}", all.join(", "));
        let data_states = params.words(
            "data_state",
            DataState::parse,
            &states(&DataState::ALL.map(DataState::as_str)),
        )?;
        let alert_states = params.words(
            "alert_state",
            AlertState::parse,
            &states(&AlertState::ALL.map(AlertState::as_str)),
        )?;
        Ok(Filters {
            services,
            slos,
            labels,
            data_states,
            alert_states,
        })
    }

    fn matches(&self, s: &SloStatus) -> bool {
        (self.services.is_empty() || self.services.contains(&s.service.as_str()))
            && (self.slos.is_empty() || self.slos.contains(&s.name.as_str()))
            && self
                .labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
            && (self.data_states.is_empty() || self.data_states.contains(&s.data_state))
            && (self.alert_states.is_empty() || self.alert_states.contains(&s.alert_state))
    }
}

/// Every SLO instance with its current status.
#[utoipa::path(
    get,
    path = "/api/v1/slos",
    operation_id = "list_slos",
    tag = "slos",
    params(
        ("service" = inline(Option<Texts>), Query, explode = true, example = json!(["checkout"]), description = "Only these services (repeat, or separate with commas; names are trimmed, empty ones ignored)."),
        ("slo" = inline(Option<Texts>), Query, explode = true, description = "Only SLOs with these names (repeat, or separate with commas)."),
        ("label" = inline(Option<LabelMatch>), Query, explode = true, description = "`name:value`; repeat to require several labels (group labels included)."),
        ("data_state" = inline(Option<DataStates>), Query, explode = true, description = "Only instances in these data states (repeat, or separate with commas)."),
        ("alert_state" = inline(Option<AlertStates>), Query, explode = true, description = "Only instances whose worst alert is in these states (repeat, or separate with commas)."),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, example = 2, description = "Page size, 1 to 1000 (default 100)."),
        ("cursor" = inline(Option<Cursor>), Query, description = "`next_cursor` of the previous page: the page starts after the id it encodes."),
        ("If-None-Match" = inline(Option<EntityTags>), Header, description = "The `ETag` of an earlier answer: 304 while the snapshot is unchanged."),
    ),
    responses(
        (status = 200, description = "A page of instances ordered by id", body = SloList, headers(("ETag" = String, description = "Changes with each published snapshot"))),
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
    // Checked before the ETag: a malformed request is a 400 even when
    // nothing changed.
    let query = match ListQuery::parse(&params) {
        Ok(q) => q,
        Err(p) => return p.into_response(),
    };
    conditional(&api.app, &headers, || {
        json_response(list_page(&api.view(), &query))
    })
}

/// The query parameters `GET /api/v1/slos` accepts.
pub const LIST_PARAMETERS: &[&str] = &[
    "service",
    "slo",
    "label",
    "data_state",
    "alert_state",
    "limit",
    "cursor",
];

/// The query parameters `GET /api/v1/slos/{id}` accepts.
pub const GET_PARAMETERS: &[&str] = &["include"];

/// The query parameters `GET /api/v1/slos/{id}/history` accepts.
pub const HISTORY_PARAMETERS: &[&str] = &["from", "to", "step"];

/// A list request's parameters.
struct ListQuery<'a> {
    filters: Filters<'a>,
    limit: usize,
    /// The id the cursor encodes: the page starts after it.
    after: Option<String>,
}

impl ListQuery<'_> {
    fn parse(params: &Params) -> Result<ListQuery<'_>, Problem> {
        params.only(LIST_PARAMETERS)?;
        Ok(ListQuery {
            filters: Filters::parse(params)?,
            limit: params
                .integer("limit", 1, MAX_LIMIT)?
                .unwrap_or(DEFAULT_LIMIT) as usize,
            after: params.non_empty("cursor")?.map(decode_cursor).transpose()?,
        })
    }
}

fn list_page(view: &View, query: &ListQuery) -> Bytes {
    let (filters, limit) = (&query.filters, query.limit);
    let start = query.after.as_deref().map_or(0, |id| view.after(id));
    let mut total = 0;
    let mut page: Vec<&Entry> = Vec::new();
    let mut more = false;
    for (i, entry) in view.entries.iter().enumerate() {
        if !filters.matches(&entry.status) {
            continue;
        }
        total += 1;
        if i < start {
            continue;
        }
        if page.len() < limit {
            page.push(entry);
        } else {
            more = true;
        }
    }
    let next_cursor = if more {
        page.last().map(|e| encode_cursor(&e.status.id))
    } else {
        None
    };
    let mut body = Vec::with_capacity(page.iter().map(|e| e.json.len() + 1).sum::<usize>() + 96);
    body.extend_from_slice(b"{\"items\":[");
    for (i, entry) in page.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&entry.json);
    }
    body.extend_from_slice(
        format!(
            "],\"total\":{total},\"limit\":{limit},\"next_cursor\":{}}}",
            serde_json::to_string(&next_cursor).unwrap_or_else(|_| "null".into())
        )
        .as_bytes(),
    );
    Bytes::from(body)
}

/// What a path under `/api/v1/slos/` names.
#[derive(Debug, PartialEq)]
pub enum Target {
    Instance(String),
    History(String),
}

fn decode(raw: &str) -> Result<String, Problem> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Problem::bad_param("id", "is not UTF-8 once percent-decoded"))
}

/// Resolves the raw (still percent-encoded) rest of the path against the known ids.
pub fn resolve(raw: &str, known: impl Fn(&str) -> bool) -> Result<Target, Problem> {
    let id = decode(raw)?;
    if known(&id) {
        return Ok(Target::Instance(id));
    }
    if let Some(prefix) = raw.strip_suffix("/history") {
        let id = decode(prefix)?;
        if known(&id) {
            return Ok(Target::History(id));
        }
        return Err(unknown_id(&id));
    }
    Err(unknown_id(&id))
}

fn unknown_id(id: &str) -> Problem {
    Problem::not_found(format!(
        "no SLO instance with id `{id}` (ids look like `service/name` or `service/name{{label=\"value\"}}`; percent-encode the id as one path segment, e.g. /api/v1/slos/shop%2Favailability)"
    ))
}

/// `GET /api/v1/slos/{id}` and `GET /api/v1/slos/{id}/history`: one router
/// entry, since the id itself may hold `/`.
pub async fn instance_or_history(
    State(api): State<Arc<Api>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let raw = uri.path().strip_prefix(PREFIX).unwrap_or("");
    let view = api.view();
    let params = Params::from_uri(&uri);
    match resolve(raw, |id| view.get(id).is_some()) {
        Ok(Target::Instance(id)) => {
            // Checked before the ETag, like the list's.
            let definition = match include_definition(&params) {
                Ok(d) => d,
                Err(p) => return p.into_response(),
            };
            conditional(&api.app, &headers, || {
                match instance(&api, &view, &id, definition) {
                    Ok(body) => json_response(body),
                    Err(p) => p.into_response(),
                }
            })
        }
        Ok(Target::History(id)) => {
            let Some(entry) = view.get(&id) else {
                return unknown_id(&id).into_response();
            };
            let status = entry.status.clone();
            drop(view);
            match history(&api, &status, &params).await {
                Ok(h) => axum::Json(h).into_response(),
                Err(p) => p.into_response(),
            }
        }
        Err(p) => p.into_response(),
    }
}

/// What `include` may add to an instance.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    Definition,
}

/// Whether `include=definition` was asked for.
fn include_definition(params: &Params) -> Result<bool, Problem> {
    params.only(GET_PARAMETERS)?;
    match params.one("include")? {
        None => Ok(false),
        Some("definition") => Ok(true),
        Some(other) => Err(Problem::bad_param(
            "include",
            format!("`{other}`: the only value is `definition`"),
        )),
    }
}

/// One instance's JSON: the snapshot's bytes, or with its definition.
fn instance(api: &Api, view: &View, id: &str, definition: bool) -> Result<Bytes, Problem> {
    let entry = view.get(id).ok_or_else(|| unknown_id(id))?;
    if !definition {
        return Ok(entry.json.clone());
    }
    let mut status = entry.status.clone();
    let catalog = api.app.reloader.current();
    status.definition = catalog
        .get(&status.slo)
        .map(|slo| SloDefinition::of(slo, &status.group));
    Ok(Bytes::from(serde_json::to_vec(&status).unwrap_or_default()))
}

/// One SLO instance.
#[utoipa::path(
    get,
    path = "/api/v1/slos/{id}",
    operation_id = "get_slo",
    tag = "slos",
    params(
        ("id" = String, Path, min_length = 1, example = "checkout/availability", description = "The instance id, percent-encoded as one path segment (`/` as `%2F`), e.g. `checkout%2Favailability`."),
        ("include" = inline(Option<Include>), Query, example = "definition", description = "`definition`: add the SLO's definition (description, queries, gate policy, source file and line)."),
        ("If-None-Match" = inline(Option<EntityTags>), Header, description = "The `ETag` of an earlier answer: 304 while the snapshot is unchanged."),
    ),
    responses(
        (status = 200, description = "The instance's current status", body = SloStatus, headers(("ETag" = String, description = "Changes with each published snapshot"))),
        (status = 304, description = "Unchanged since the `ETag` given in `If-None-Match`"),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A read token is required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No instance with this id", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[allow(dead_code)]
fn doc_get_slo() {}

/// One point of an instance's history: the last evaluation in its step.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPoint {
    pub at: DateTime<Utc>,
    pub data_state: DataState,
    pub sli: Option<f64>,
    pub budget_remaining: Option<f64>,
    /// Events over the SLO window at that time.
    pub events: Events,
    pub burn_rates: BTreeMap<String, Option<f64>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pub id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The step, e.g. `5m`.
    pub step: String,
    /// Oldest first; steps without a stored evaluation are left out.
    pub points: Vec<HistoryPoint>,
}

/// SLI, budget remaining and burn rates over time, from PostgreSQL.
#[utoipa::path(
    get,
    path = "/api/v1/slos/{id}/history",
    operation_id = "get_slo_history",
    tag = "slos",
    params(
        ("id" = String, Path, min_length = 1, example = "checkout/availability", description = "The instance id, percent-encoded as one path segment."),
        ("from" = inline(Option<Time>), Query, description = "Start: RFC 3339 or Unix seconds. Default: `to` minus the SLO window. At or after `to`: no points."),
        ("to" = inline(Option<Time>), Query, description = "End: RFC 3339 or Unix seconds. Default: now."),
        ("step" = inline(Option<DurationText>), Query, example = "1h", description = "Spacing of points (e.g. `5m`, `1h`), in whole minutes: raised to at least `1m`, and to what keeps the answer within 11,000 points; the answer's `step` says which. Default: a multiple of 5m giving about 1,000 points. Evaluations are stored every 5 minutes."),
    ),
    responses(
        (status = 200, description = "Points, oldest first", body = History),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A read token is required", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No instance with this id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "PostgreSQL is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn history(api: &Api, status: &SloStatus, params: &Params) -> Result<History, Problem> {
    params.only(HISTORY_PARAMETERS)?;
    let to = params.time("to")?.unwrap_or_else(Utc::now);
    let from = match params.time("from")? {
        Some(t) => t,
        None => {
            let window = api
                .app
                .reloader
                .current()
                .get(&status.slo)
                .map(|s| s.window.nominal_length())
                .unwrap_or(Duration::from_days(30));
            to - chrono::Duration::milliseconds(window.as_millis() as i64)
        }
    };
    let step = params.duration("step")?;
    if from >= to {
        // An empty range has no points; it is not malformed.
        return Ok(History {
            id: status.id.clone(),
            from,
            to,
            step: Duration::from_millis(default_step_ms(0) as u64).to_string(),
            points: Vec::new(),
        });
    }
    let span_ms = (to - from).num_milliseconds();
    let step_ms = match step {
        // Raised to 1m, the finest stored spacing, and to what keeps the
        // answer within MAX_POINTS; `step` in the answer says which.
        Some(step) => {
            let ms = i64::try_from(step.as_millis())
                .unwrap_or(i64::MAX)
                .max(span_ms / (MAX_POINTS - 1) + 1);
            // Whole minutes, at least one.
            (ms.saturating_add(59_999) / 60_000)
                .max(1)
                .saturating_mul(60_000)
        }
        None => default_step_ms(span_ms),
    };
    let rows = api
        .app
        .store
        .history(&HistoryQuery {
            slo_id: &status.slo,
            group: &status.group,
            from,
            to,
            step_ms,
        })
        .await
        .map_err(|e| Problem::database_unavailable(&e))?;
    Ok(History {
        id: status.id.clone(),
        from,
        to,
        step: Duration::from_millis(step_ms as u64).to_string(),
        points: rows.into_iter().map(point).collect(),
    })
}

/// The step giving about [`DEFAULT_POINTS`] points over `span_ms`: a
/// multiple of 5 minutes, the spacing of stored evaluations.
pub fn default_step_ms(span_ms: i64) -> i64 {
    let five = 300_000;
    let per_point = span_ms / DEFAULT_POINTS + 1;
    (per_point + five - 1) / five * five
}

fn point(row: HistoryRow) -> HistoryPoint {
    let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
    HistoryPoint {
        at: row.at,
        data_state: DataState::parse(&row.data_state).unwrap_or(DataState::Stale),
        sli: finite(row.sli),
        budget_remaining: finite(row.budget_remaining),
        events: Events {
            good: finite(Some(row.good)).unwrap_or(0.0),
            total: finite(Some(row.total)).unwrap_or(0.0),
        },
        burn_rates: row
            .burn_rates
            .into_iter()
            .map(|(k, v)| (k, finite(v)))
            .collect(),
    }
}

/// An alert firing now.
#[derive(Debug, Serialize, ToSchema)]
pub struct FiringAlert {
    /// The instance id.
    pub id: String,
    /// The tier, `budget_exhausted` or `absent`.
    pub tier: String,
    pub severity: ApiSeverity,
    pub since: Option<DateTime<Utc>>,
}

/// One service's SLOs at a glance.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceSummary {
    pub service: String,
    /// SLOs in the service.
    pub slos: usize,
    /// SLO instances (an SLO grouped by labels has several).
    pub instances: usize,
    /// The lowest budget remaining among its instances (ratio of the budget).
    pub worst_budget_remaining: Option<f64>,
    /// The instance with that budget.
    pub worst_instance: Option<String>,
    /// The worst alert state among its instances.
    pub alert_state: AlertState,
    pub firing: Vec<FiringAlert>,
    /// Instances per data state.
    pub data_states: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    /// Ordered by service name.
    pub items: Vec<ServiceSummary>,
}

/// A roll-up per service: worst budget, firing alerts, data states.
#[utoipa::path(
    get,
    path = "/api/v1/services",
    operation_id = "list_services",
    tag = "slos",
    params(
        ("If-None-Match" = inline(Option<EntityTags>), Header, description = "The `ETag` of an earlier answer: 304 while the snapshot is unchanged."),
    ),
    responses(
        (status = 200, description = "Every service", body = ServiceList, headers(("ETag" = String, description = "Changes with each published snapshot"))),
        (status = 304, description = "Unchanged since the `ETag` given in `If-None-Match`"),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A read token is required", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn services(
    State(api): State<Arc<Api>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if let Err(p) = Params::from_uri(&uri).only(NO_PARAMETERS) {
        return p.into_response();
    }
    conditional(&api.app, &headers, || {
        json_response(api.view().services(build_services))
    })
}

fn build_services(view: &View) -> Bytes {
    let mut by_service: BTreeMap<&str, Vec<&SloStatus>> = BTreeMap::new();
    for entry in &view.entries {
        by_service
            .entry(entry.status.service.as_str())
            .or_default()
            .push(&entry.status);
    }
    let items = by_service
        .into_iter()
        .map(|(service, statuses)| {
            let mut slos: Vec<&str> = statuses.iter().map(|s| s.slo.as_str()).collect();
            slos.dedup();
            let worst = statuses
                .iter()
                .filter_map(|s| s.error_budget.remaining.map(|r| (r, s.id.as_str())))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let mut firing = Vec::new();
            let mut data_states = BTreeMap::new();
            for s in &statuses {
                *data_states
                    .entry(s.data_state.as_str().to_string())
                    .or_insert(0) += 1;
                for a in &s.alerts {
                    if a.state == AlertState::Firing {
                        firing.push(FiringAlert {
                            id: s.id.clone(),
                            tier: a.tier.clone(),
                            severity: a.severity,
                            since: a.since,
                        });
                    }
                }
                if let Some(e) = &s.budget_exhausted
                    && e.state == AlertState::Firing
                {
                    firing.push(FiringAlert {
                        id: s.id.clone(),
                        tier: "budget_exhausted".to_string(),
                        severity: e.severity,
                        since: None,
                    });
                }
                if let Some(a) = &s.absent
                    && a.state == AlertState::Firing
                {
                    firing.push(FiringAlert {
                        id: s.id.clone(),
                        tier: "absent".to_string(),
                        severity: a.severity,
                        since: a.since,
                    });
                }
            }
            ServiceSummary {
                service: service.to_string(),
                slos: slos.len(),
                instances: statuses.len(),
                worst_budget_remaining: worst.map(|w| w.0),
                worst_instance: worst.map(|w| w.1.to_string()),
                alert_state: statuses
                    .iter()
                    .map(|s| s.alert_state)
                    .max()
                    .unwrap_or(AlertState::Inactive),
                firing,
                data_states,
            }
        })
        .collect();
    Bytes::from(serde_json::to_vec(&ServiceList { items }).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(id: &str) -> bool {
        [
            "shop/availability",
            "shop/history",
            "shop/by-route{route=\"/pay\"}",
            "shop/by-route{route=\"/history\"}",
        ]
        .contains(&id)
    }

    #[test]
    fn ids_resolve_in_both_forms() {
        let inst = |s: &str| Ok(Target::Instance(s.to_string()));
        let hist = |s: &str| Ok(Target::History(s.to_string()));
        let r = |raw| resolve(raw, known).map_err(|p| p.status);
        assert_eq!(r("shop%2Favailability"), inst("shop/availability"));
        assert_eq!(r("shop/availability"), inst("shop/availability"));
        assert_eq!(r("shop%2Favailability/history"), hist("shop/availability"));
        assert_eq!(r("shop/availability/history"), hist("shop/availability"));
        // An SLO named `history` is not mistaken for a history request.
        assert_eq!(r("shop/history"), inst("shop/history"));
        assert_eq!(r("shop%2Fhistory/history"), hist("shop/history"));
        assert_eq!(r("shop/history/history"), hist("shop/history"));
        assert_eq!(
            r("shop%2Fby-route%7Broute%3D%22%2Fpay%22%7D"),
            inst("shop/by-route{route=\"/pay\"}")
        );
        assert_eq!(
            r("shop/by-route%7Broute=%22/pay%22%7D"),
            inst("shop/by-route{route=\"/pay\"}")
        );
        assert_eq!(
            r("shop%2Fby-route%7Broute%3D%22%2Fhistory%22%7D"),
            inst("shop/by-route{route=\"/history\"}")
        );
        assert_eq!(
            r("shop%2Fby-route%7Broute%3D%22%2Fhistory%22%7D/history"),
            hist("shop/by-route{route=\"/history\"}")
        );
        assert_eq!(r("shop%2Fnope"), Err(404));
        assert_eq!(r("shop%2Fnope/history"), Err(404));
        assert_eq!(r("shop%2Favailability%2Fhistory"), Err(404));
        assert_eq!(r("%FF%FE"), Err(400));
        assert_eq!(r("%zz"), Err(404));
    }
}
