//! The OpenAPI 3.1 document, generated from the handlers' annotations and the
//! response types, served at `/api/v1/openapi.json`.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::Method;
use axum::response::Response;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{
    Guard, alerts, corrections, definition, gate, metrics, ops, problem, replicas, reports, slos,
    view,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "burnrate",
        description = "SLO status, error budgets, history and the release gate, answered from burnrate's own evaluated state.\n\n\
Instance ids (`service/name`, plus `{label=\"value\"}` for an instance of a grouped SLO) go in paths percent-encoded as one segment: \
`/api/v1/slos/checkout%2Favailability`. Each item's `href` is its canonical path.\n\n\
Lists are ordered by id and paginated with `limit` and an opaque `cursor` (the previous page's `next_cursor`).\n\n\
Errors are `application/problem+json` (RFC 9457). When burnrate runs with a read token, reads need `Authorization: Bearer <token>`; \
writes always need the write token and are refused (403) when none is configured."
    ),
    paths(
        slos::list,
        slos::doc_get_slo,
        slos::history,
        corrections::doc_list,
        corrections::create,
        corrections::delete,
        slos::services,
        gate::gate,
        gate::gate_post,
        gate::decisions,
        alerts::list,
        alerts::history,
        reports::report,
        metrics::metrics,
        ops::healthz,
        ops::readyz,
        replicas::status,
        ops::reload,
        ops::openapi_json,
    ),
    components(schemas(
        problem::Problem,
        problem::InvalidParam,
        view::SloStatus,
        view::DataState,
        view::AlertState,
        definition::SloDefinition,
        slos::SloList,
        slos::History,
        slos::ServiceList,
        gate::GateResult,
        gate::GateRequest,
        gate::GateDecisionList,
        ops::Readiness,
        ops::Reloaded,
        replicas::ClusterStatus,
        replicas::Member,
        alerts::AlertList,
        alerts::AlertHistory,
        corrections::CorrectionRequest,
        corrections::CorrectionView,
        corrections::CorrectionList,
        corrections::CorrectionCreated,
    )),
    modifiers(&Bearer, &Guards, &Links),
    tags(
        (name = "slos", description = "SLO instances, their status and history"),
        (name = "gate", description = "The release gate"),
        (name = "alerts", description = "Pending and firing alerts, and their history"),
        (name = "reports", description = "Figures per SLO instance for a period, for SLO reviews"),
        (name = "corrections", description = "Spans excluded from the budget: the catalog's, and those added at run time"),
        (name = "operations", description = "Health, readiness, metrics, reload"),
    )
)]
pub struct ApiDoc;

/// The two tokens, as security schemes.
struct Bearer;

const READ_TOKEN: &str = "read_token";
const WRITE_TOKEN: &str = "write_token";

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (
                READ_TOKEN,
                "The read token (`--api-token-file`), or the write token. \
                 Needed only when burnrate runs with a read token; without one, reads are open.",
            ),
            (
                WRITE_TOKEN,
                "The write token (`--api-write-token-file`). Without one, burnrate refuses every write (403).",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(description))
                        .build(),
                ),
            );
        }
    }
}

/// Where one answer leads to the next (OpenAPI links): the list to an
/// instance, an instance to its history, its corrections and its alerts.
struct Links;

/// (from operation, link name, to operation, to parameter, value in the answer)
const LINKS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "list_slos",
        "GetFirstSlo",
        "get_slo",
        "id",
        "$response.body#/items/0/id",
    ),
    (
        "get_slo",
        "GetSloHistory",
        "get_slo_history",
        "id",
        "$response.body#/id",
    ),
    (
        "get_slo",
        "ListSloCorrections",
        "list_slo_corrections",
        "id",
        "$response.body#/slo",
    ),
    (
        "get_slo",
        "GetSloAlertHistory",
        "alert_history",
        "slo",
        "$response.body#/id",
    ),
];

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let Some(get) = item.get.as_mut() else {
                continue;
            };
            let Some(from) = get.operation_id.clone() else {
                continue;
            };
            let Some(RefOr::T(ok)) = get.responses.responses.get_mut("200") else {
                continue;
            };
            for (_, name, to, parameter, value) in LINKS.iter().filter(|l| l.0 == from) {
                let link = LinkBuilder::new()
                    .operation_id(*to)
                    .parameter(*parameter, *value)
                    .build();
                ok.links.insert(name.to_string(), RefOr::T(link));
            }
        }
    }
}

/// Each operation's security and the error answers every route shares,
/// from the route table ([`super::endpoints`]): the guard that routes a
/// request is the one the document states.
struct Guards;

impl Modify for Guards {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for endpoint in super::endpoints() {
            for path in endpoint.documented {
                let Some(item) = openapi.paths.paths.get_mut(*path) else {
                    continue;
                };
                let operation = match endpoint.method {
                    Method::GET => item.get.as_mut(),
                    Method::POST => item.post.as_mut(),
                    _ => None,
                };
                if let Some(operation) = operation {
                    guard(operation, endpoint.guard, endpoint.method == Method::POST);
                }
            }
        }
    }
}

/// A parameter is present with a value or absent, never `null`: `Option`
/// types make header schemas nullable, which would tell clients they may
/// send the text `null`.
fn not_null(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        let Some(RefOr::T(schema)) = parameter.schema.as_mut() else {
            continue;
        };
        let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
        match schema {
            Schema::OneOf(one_of) if one_of.items.iter().any(is_null) => {
                one_of.items.retain(|s| !is_null(s));
                if let [RefOr::T(only)] = one_of.items.as_slice() {
                    *schema = only.clone();
                }
            }
            Schema::Object(object) => {
                if let SchemaType::Array(types) = &object.schema_type {
                    let kept: Vec<Type> = types
                        .iter()
                        .filter(|t| **t != Type::Null)
                        .cloned()
                        .collect();
                    if let [only] = kept.as_slice() {
                        object.schema_type = SchemaType::Type(only.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

fn guard(operation: &mut Operation, guard: Guard, has_body: bool) {
    not_null(operation);
    let scheme = match guard {
        Guard::Open => None,
        Guard::Read => Some(READ_TOKEN),
        Guard::Write => Some(WRITE_TOKEN),
    };
    operation.security = scheme.map(|s| vec![SecurityRequirement::new(s, Vec::<String>::new())]);
    let mut errors = vec![(
        "503",
        "Unavailable: the request took too long and was cancelled, or a dependency it needs is down",
    )];
    if scheme.is_some() {
        errors.push((
            "401",
            "The token is missing or wrong (`WWW-Authenticate: Bearer`)",
        ));
    }
    if guard == Guard::Write {
        errors.push((
            "403",
            "Writes are disabled (no write token configured), or the read token was given",
        ));
    }
    if has_body {
        errors.push(("413", "The request body is too large"));
    }
    for (status, description) in errors {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(problem_response(description)));
    }
}

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            problem::CONTENT_TYPE,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// The document as JSON, generated once.
pub fn document() -> Bytes {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        let mut json = serde_json::to_value(&doc).unwrap_or_default();
        link_field_names(&mut json);
        Bytes::from(serde_json::to_vec_pretty(&json).unwrap_or_default())
    })
    .clone()
}

/// utoipa 5.5 writes a link's `operationId` as `operation_id`, which
/// OpenAPI tools do not read: renamed in every response's links.
fn link_field_names(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(|i| i.as_object_mut())
        .flat_map(|i| i.values_mut())
    {
        let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut()) else {
            continue;
        };
        for links in responses
            .values_mut()
            .filter_map(|r| r.get_mut("links").and_then(|l| l.as_object_mut()))
        {
            for link in links.values_mut().filter_map(|l| l.as_object_mut()) {
                if let Some(id) = link.remove("operation_id") {
                    link.insert("operationId".into(), id);
                }
            }
        }
    }
}

pub fn response() -> Response {
    slos::json_response(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_route_of_the_router_and_no_other() {
        let doc: serde_json::Value = serde_json::from_slice(&document()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let mut documented = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
        let routed: std::collections::BTreeSet<String> = super::super::endpoints()
            .iter()
            .flat_map(|e| e.documented.iter().map(|p| format!("{} {p}", e.method)))
            .collect();
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unrouted: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from the document: {undocumented:?}"
        );
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
        for route in [
            "GET /api/v1/alerts",
            "GET /api/v1/alerts/history",
            "POST /api/v1/gate",
            "POST /api/v1/corrections",
            "DELETE /api/v1/corrections/{id}",
            "GET /api/v1/slos/{id}/corrections",
        ] {
            assert!(routed.contains(route), "{route}");
        }
        if std::env::var_os("BURNRATE_PRINT_OPENAPI").is_some() {
            println!("{}", String::from_utf8_lossy(&document()));
        }
    }

    /// The document as published (`schemas/openapi.json`): a change to the
    /// contract is a change to that file in the same commit. Removing or
    /// narrowing anything breaks clients, so it must be seen in review.
    #[test]
    fn the_document_equals_the_committed_contract() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/openapi.json");
        let generated: serde_json::Value = serde_json::from_slice(&document()).unwrap();
        if std::env::var_os("BURNRATE_UPDATE_OPENAPI").is_some() {
            let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
            std::fs::write(&path, text).unwrap();
        }
        let committed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("schemas/openapi.json"))
                .expect("schemas/openapi.json is JSON");
        let operations = |doc: &serde_json::Value| -> std::collections::BTreeSet<String> {
            let mut ops = std::collections::BTreeSet::new();
            for (path, item) in doc["paths"].as_object().unwrap() {
                for (method, op) in item.as_object().unwrap() {
                    ops.insert(format!("{} {path}", method.to_uppercase()));
                    for p in op["parameters"].as_array().into_iter().flatten() {
                        ops.insert(format!(
                            "{} {path} ?{}",
                            method.to_uppercase(),
                            p["name"].as_str().unwrap_or_default()
                        ));
                    }
                }
            }
            ops
        };
        let removed: Vec<String> = operations(&committed)
            .difference(&operations(&generated))
            .cloned()
            .collect();
        assert!(
            removed.is_empty(),
            "operations or parameters of the published contract are gone: {removed:?}. \
             /api/v1 only grows (README, \"API contract\"); if this is meant, update \
             schemas/openapi.json (BURNRATE_UPDATE_OPENAPI=1 cargo test --lib openapi)"
        );
        assert!(
            generated == committed,
            "the OpenAPI document differs from schemas/openapi.json; review the change and \
             update the file in the same commit: BURNRATE_UPDATE_OPENAPI=1 cargo test --lib openapi"
        );
    }

    #[test]
    fn links_lead_to_operations_that_exist() {
        let doc: serde_json::Value = serde_json::from_slice(&document()).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        let mut links = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.insert(op["operationId"].as_str().unwrap_or_default().to_string());
                if let Some(l) = op["responses"]["200"]["links"].as_object() {
                    links.extend(
                        l.values()
                            .map(|v| v["operationId"].as_str().unwrap().to_string()),
                    );
                }
            }
        }
        assert_eq!(links.len(), LINKS.len(), "every link is in the document");
        for to in links {
            assert!(
                ids.contains(&to),
                "a link leads to `{to}`, which no operation is"
            );
        }
    }

    /// The query parameters each handler accepts (its `Params::only` list),
    /// by operation. Operations that read no query string have none.
    const ACCEPTED: &[(&str, &[&str])] = &[
        ("list_slos", slos::LIST_PARAMETERS),
        ("get_slo", slos::GET_PARAMETERS),
        ("get_slo_history", slos::HISTORY_PARAMETERS),
        ("list_services", super::super::params::NO_PARAMETERS),
        ("gate", gate::GATE_PARAMETERS),
        ("decisions", gate::DECISIONS_PARAMETERS),
        ("list_alerts", alerts::LIST_PARAMETERS),
        ("alert_history", alerts::HISTORY_PARAMETERS),
        ("get_report", reports::REPORT_PARAMETERS),
        ("delete", corrections::DELETE_PARAMETERS),
        ("metrics", super::super::params::NO_PARAMETERS),
        ("status", super::super::params::NO_PARAMETERS),
        ("reload", super::super::params::NO_PARAMETERS),
    ];

    /// A parameter cannot be accepted and undocumented, or documented and
    /// refused: each operation's documented query parameters are exactly
    /// the ones its handler accepts.
    #[test]
    fn documented_query_parameters_are_the_accepted_ones() {
        let doc: serde_json::Value = serde_json::from_slice(&document()).unwrap();
        let accepted: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> = ACCEPTED
            .iter()
            .map(|(op, names)| (*op, names.iter().copied().collect()))
            .collect();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap();
                let documented: std::collections::BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                match accepted.get(id) {
                    Some(names) => assert_eq!(&documented, names, "{id}"),
                    None => assert!(
                        documented.is_empty(),
                        "{id} documents query parameters but is not in ACCEPTED: {documented:?}"
                    ),
                }
            }
        }
    }
}
