//! Errors as RFC 9457 problem documents (`application/problem+json`), and a
//! layer that turns every other error response (unknown route, wrong method,
//! body too large, timeout, panic) into one too.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// The problem type of a request that failed on the database.
pub const DATABASE_UNAVAILABLE: &str = "urn:burnrate:problem:database-unavailable";

/// A problem document: what went wrong, for people and for tools.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `about:blank` (the status code says the kind of problem), or
    /// `urn:burnrate:problem:database-unavailable` when the database failed.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    pub kind: &'static str,
    /// The status code's reason phrase, e.g. `Bad Request`.
    pub title: String,
    pub status: u16,
    /// What was wrong with this request, in a sentence.
    pub detail: String,
    /// The parameters that were refused, one entry per problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invalid_params: Vec<InvalidParam>,
    /// Every diagnostic, for a refused catalog reload.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvalidParam {
    pub name: String,
    pub reason: String,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            invalid_params: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// A 503 for a failed database query. The error goes to the log; the
    /// client gets a fixed problem type and wording, never the database's
    /// own text (which can name tables, hosts or users).
    pub fn database_unavailable(error: &dyn std::error::Error) -> Self {
        tracing::warn!(error = %error, "database query for an API request failed");
        Problem {
            kind: DATABASE_UNAVAILABLE,
            ..Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable; try again",
            )
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, detail)
    }

    /// A 400 naming the parameter at fault.
    pub fn bad_param(name: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let mut p = Problem::new(
            StatusCode::BAD_REQUEST,
            format!("parameter `{name}`: {reason}"),
        );
        p.invalid_params.push(InvalidParam {
            name: name.to_string(),
            reason,
        });
        p
    }

    /// A JSON request body read as `T`, or a 400 saying it is not `what`.
    pub fn json_body<T: serde::de::DeserializeOwned>(
        body: &[u8],
        what: &str,
    ) -> Result<T, Problem> {
        serde_json::from_slice(body).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                format!("the request body is not {what}: {e}"),
            )
        })
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response
    }
}

/// Replaces any 4xx/5xx response that is not already a problem document
/// (axum's own 404/405, the body limit's 413, a timeout's 503) with one.
pub async fn problems_everywhere(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // Deliberate bodies (a problem, `/readyz`'s JSON) stay; axum's and
    // tower-http's bare or plain-text error bodies are replaced.
    let deliberate = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| !v.as_bytes().starts_with(b"text/plain"));
    if deliberate {
        return response;
    }
    let detail = match status {
        StatusCode::NOT_FOUND => format!("no such endpoint: {path}"),
        StatusCode::METHOD_NOT_ALLOWED => format!("{method} is not allowed on {path}"),
        StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_string(),
        StatusCode::SERVICE_UNAVAILABLE => {
            "the request took too long and was cancelled".to_string()
        }
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string(),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let fresh = Problem::new(status, detail).into_response();
    let (fresh_parts, body) = fresh.into_parts();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    drop(fresh_parts);
    Response::from_parts(parts, Body::new(body))
}

/// A panic in a handler is a bug: answer 500 with a problem document instead
/// of dropping the connection.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("an HTTP handler panicked");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error (a bug in burnrate; see its log)",
    )
    .into_response()
}
