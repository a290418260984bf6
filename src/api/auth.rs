//! Bearer tokens: one for reads, one for writes (the reload). Without a read
//! token reads are open; without a write token writes are refused (403),
//! never open. Tokens are compared in constant time and never logged.
//!
//! Reads also accept the token from the web UI's cookie ([`COOKIE`]), which
//! the UI sets HttpOnly and SameSite=Strict once someone typed the token in.
//! Writes never do: a cookie rides along on requests people did not mean
//! to make, a bearer header does not.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use super::problem::Problem;
pub use crate::secret::Secret;

/// A token given directly (flag or environment) or in a file; an empty one is an error.
pub fn token_from(
    value: Option<&Secret>,
    file: Option<&std::path::Path>,
    flag: &str,
) -> Result<Option<Secret>, String> {
    let secret = match (value, file) {
        (Some(v), _) => v.clone(),
        (None, Some(path)) => Secret::from_file(path)
            .map_err(|e| format!("{flag}-file: cannot read {}: {e}", path.display()))?,
        (None, None) => return Ok(None),
    };
    if secret.is_empty() {
        return Err(format!("{flag}: the token is empty"));
    }
    Ok(Some(secret))
}

/// Which tokens the API accepts.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    /// Required for reads when set (the write token is accepted for reads too).
    pub read: Option<Secret>,
    /// Required for writes; without it writes are refused.
    pub write: Option<Secret>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The cookie holding the read token for the web UI (percent-encoded).
pub const COOKIE: &str = "burnrate_token";

impl Tokens {
    /// Whether reads need a token at all.
    pub fn reads_need_token(&self) -> bool {
        self.read.is_some()
    }

    /// None when a request with these headers may go on, else the refusal:
    /// the bearer header for any access, or the UI's cookie for reads.
    pub fn check_headers(&self, access: Access, headers: &HeaderMap) -> Option<Response> {
        let authorization = headers.get(header::AUTHORIZATION);
        if authorization.is_none() && access == Access::Read {
            let cookie = cookie_token(headers);
            return self.check_presented(access, cookie.as_deref().map(str::as_bytes));
        }
        self.check(access, authorization)
    }

    /// None when the request may go on, else the refusal.
    pub fn check(&self, access: Access, authorization: Option<&HeaderValue>) -> Option<Response> {
        self.check_presented(access, authorization.and_then(|v| bearer(v.as_bytes())))
    }

    fn check_presented(&self, access: Access, presented: Option<&[u8]>) -> Option<Response> {
        let is_write = |t: &[u8]| self.write.as_ref().is_some_and(|w| w.matches(t));
        let is_read = |t: &[u8]| self.read.as_ref().is_some_and(|r| r.matches(t));
        match access {
            Access::Read => {
                // Without a read token, reads are open.
                self.read.as_ref()?;
                match presented {
                    Some(t) if is_read(t) || is_write(t) => None,
                    Some(_) => Some(unauthorized("the bearer token is not valid")),
                    None => Some(unauthorized(
                        "this endpoint needs a bearer token (Authorization: Bearer <token>)",
                    )),
                }
            }
            Access::Write => {
                if self.write.is_none() {
                    return Some(
                        Problem::new(
                            StatusCode::FORBIDDEN,
                            "writes are disabled: start burnrate with --api-write-token-file (or BURNRATE_API_WRITE_TOKEN) to allow them",
                        )
                        .into_response(),
                    );
                }
                match presented {
                    Some(t) if is_write(t) => None,
                    Some(t) if is_read(t) => Some(
                        Problem::new(
                            StatusCode::FORBIDDEN,
                            "the read token cannot be used for writes; use the write token",
                        )
                        .into_response(),
                    ),
                    Some(_) => Some(unauthorized("the bearer token is not valid")),
                    None => Some(unauthorized(
                        "this endpoint needs the write token (Authorization: Bearer <token>)",
                    )),
                }
            }
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// The token in the UI's cookie, if the request carries one.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| percent_decode_str(value).decode_utf8_lossy().into_owned())
        })
        .filter(|t| !t.is_empty())
}

fn unauthorized(detail: &str) -> Response {
    let mut response = Problem::new(StatusCode::UNAUTHORIZED, detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"burnrate\""),
    );
    response
}

pub async fn require_read(
    State(tokens): State<Arc<Tokens>>,
    request: Request,
    next: Next,
) -> Response {
    match tokens.check_headers(Access::Read, request.headers()) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

pub async fn require_write(
    State(tokens): State<Arc<Tokens>>,
    request: Request,
    next: Next,
) -> Response {
    match tokens.check_headers(Access::Write, request.headers()) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    fn status(r: Option<Response>) -> u16 {
        r.map_or(200, |r| r.status().as_u16())
    }

    #[test]
    fn access_rules() {
        let open = Tokens::default();
        let both = Tokens {
            read: Some(Secret::new("r3ad")),
            write: Some(Secret::new("wr1te")),
        };
        let h = |v| Some(header(v));
        assert_eq!(status(open.check(Access::Read, None)), 200);
        assert_eq!(status(open.check(Access::Write, None)), 403);
        assert_eq!(
            status(open.check(Access::Write, h("Bearer anything").as_ref())),
            403
        );
        assert_eq!(status(both.check(Access::Read, None)), 401);
        assert_eq!(
            status(both.check(Access::Read, h("Bearer r3ad").as_ref())),
            200
        );
        assert_eq!(
            status(both.check(Access::Read, h("bearer  r3ad ").as_ref())),
            200
        );
        assert_eq!(
            status(both.check(Access::Read, h("Bearer wr1te").as_ref())),
            200
        );
        assert_eq!(
            status(both.check(Access::Read, h("Bearer r3a").as_ref())),
            401
        );
        assert_eq!(
            status(both.check(Access::Read, h("Basic r3ad").as_ref())),
            401
        );
        assert_eq!(
            status(both.check(Access::Write, h("Bearer r3ad").as_ref())),
            403
        );
        assert_eq!(
            status(both.check(Access::Write, h("Bearer wr1te").as_ref())),
            200
        );
        assert_eq!(
            status(both.check(Access::Write, h("Bearer ").as_ref())),
            401
        );
        let write_only = Tokens {
            read: None,
            write: Some(Secret::new("w")),
        };
        assert_eq!(status(write_only.check(Access::Read, None)), 200);
        assert_eq!(status(write_only.check(Access::Write, None)), 401);
    }

    #[test]
    fn the_ui_cookie_opens_reads_only() {
        let both = Tokens {
            read: Some(Secret::new("r3ad ;x")),
            write: Some(Secret::new("wr1te")),
        };
        let headers = |pairs: &[(header::HeaderName, &str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(name, header(value));
            }
            map
        };
        let cookie = |v: &str| headers(&[(header::COOKIE, v)]);
        let read = |h: &HeaderMap| status(both.check_headers(Access::Read, h));
        assert_eq!(read(&cookie("a=b; burnrate_token=r3ad%20%3Bx")), 200);
        assert_eq!(read(&cookie("burnrate_token=wr1te")), 200);
        assert_eq!(read(&cookie("burnrate_token=nope")), 401);
        assert_eq!(read(&cookie("burnrate_token=")), 401);
        assert_eq!(read(&cookie("other_token=wr1te")), 401);
        assert_eq!(read(&HeaderMap::new()), 401);
        // A bearer header is judged on its own, cookie or not.
        let both_ways = headers(&[
            (header::COOKIE, "burnrate_token=wr1te"),
            (header::AUTHORIZATION, "Bearer wrong"),
        ]);
        assert_eq!(read(&both_ways), 401);
        assert_eq!(
            status(both.check_headers(Access::Write, &cookie("burnrate_token=wr1te"))),
            401,
            "writes never take the cookie"
        );
    }

    #[test]
    fn tokens_from_flags_environment_or_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "s3cret\n").unwrap();
        let t = token_from(None, Some(&file), "--api-token")
            .unwrap()
            .unwrap();
        assert_eq!(t.expose(), "s3cret");
        let direct = Secret::new("direct");
        assert_eq!(
            token_from(Some(&direct), None, "--api-token").unwrap(),
            Some(direct)
        );
        assert_eq!(token_from(None, None, "--api-token").unwrap(), None);
        std::fs::write(&file, "  \n").unwrap();
        let e = token_from(None, Some(&file), "--api-token").unwrap_err();
        assert!(e.contains("empty"), "{e}");
        let e = token_from(None, Some(&dir.path().join("missing")), "--api-token").unwrap_err();
        assert!(
            e.contains("--api-token-file") && !e.contains("s3cret"),
            "{e}"
        );
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        let t = Tokens {
            read: Some(s.clone()),
            write: None,
        };
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
