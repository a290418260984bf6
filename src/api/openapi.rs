//! The OpenAPI 3.1 document, generated from the handlers' annotations and the
//! response types, served at `/api/v1/openapi.json`.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{alerts, corrections, definition, gate, metrics, ops, problem, replicas, slos, view};

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
    modifiers(&Bearer),
    tags(
        (name = "slos", description = "SLO instances, their status and history"),
        (name = "gate", description = "The release gate"),
        (name = "alerts", description = "Pending and firing alerts, and their history"),
        (name = "corrections", description = "Spans excluded from the budget: the catalog's, and those added at run time"),
        (name = "operations", description = "Health, readiness, metrics, reload"),
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The read token for reads, the write token for writes.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, generated once.
pub fn document() -> Bytes {
    static DOC: OnceLock<Bytes> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        Bytes::from(doc.to_pretty_json().unwrap_or_default())
    })
    .clone()
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
}
