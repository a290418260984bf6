//! `ETag` and `If-None-Match` for answers made from the snapshot alone, so
//! a client polling for changes (the web UI every few seconds) gets a 304
//! with no body until the scheduler publishes again.
//!
//! The tag names what such an answer is made of: the replica (random at each
//! start, so two replicas behind one load balancer never share a tag), the
//! snapshot's generation (which a publish between cycles that changes no
//! instance keeps) and the catalog's. It is read before the answer is
//! built, so a tag is never newer than the body it comes with: at worst a
//! client fetches a body it already had, never misses one.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::PartialSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use super::AppState;

/// The schema of an `If-None-Match` header: text. Values are compared as
/// RFC 9110 says (`*`, or entity tags separated by commas, weakly); a value
/// that is not such a list matches nothing, so the answer is a 200.
pub struct EntityTags;

impl utoipa::ToSchema for EntityTags {}

impl PartialSchema for EntityTags {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::String).into()
    }
}

/// The entity tag of everything the snapshot and the catalog determine.
pub fn snapshot_tag(app: &AppState) -> String {
    format!(
        "\"{}-{}-{}\"",
        app.replica_id.simple(),
        app.generation(),
        app.reloader.generation()
    )
}

/// Whether an `If-None-Match` header value lists `tag` (weak comparison,
/// as RFC 9110 asks for `If-None-Match`).
pub fn matches(if_none_match: &str, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let tag = bare(tag);
    if_none_match
        .split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == tag)
}

/// A 304 when the client already has the current snapshot's answer, else
/// `respond()` with the tag attached (successful answers only).
pub fn conditional(
    app: &AppState,
    request: &HeaderMap,
    respond: impl FnOnce() -> Response,
) -> Response {
    let tag = snapshot_tag(app);
    let unchanged = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| matches(v, &tag));
    let mut response = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        respond()
    };
    if matches!(response.status(), StatusCode::OK | StatusCode::NOT_MODIFIED)
        && let Ok(value) = HeaderValue::from_str(&tag)
    {
        let headers = response.headers_mut();
        headers.insert(header::ETAG, value);
        // Stored, but asked about again each time.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_are_compared_weakly() {
        let tag = "\"abc-3-1\"";
        for (header, want) in [
            ("\"abc-3-1\"", true),
            ("W/\"abc-3-1\"", true),
            ("\"x\", \"abc-3-1\"", true),
            ("*", true),
            ("\"abc-3-2\"", false),
            ("abc-3-1", false),
            ("", false),
        ] {
            assert_eq!(matches(header, tag), want, "{header}");
        }
    }
}
