//! The stylesheet, script and icon, compiled into the binary. Their URLs carry a
//! hash of their content, so browsers may keep them for a year and still
//! fetch a new build's at once.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub body: &'static str,
    pub content_type: &'static str,
    hash: u64,
}

/// 64-bit FNV-1a, at compile time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

impl Asset {
    const fn new(name: &'static str, body: &'static str, content_type: &'static str) -> Asset {
        Asset {
            name,
            body,
            content_type,
            hash: fnv1a(body.as_bytes()),
        }
    }

    /// Where pages link it, with the content hash.
    pub fn url(&self) -> String {
        format!("/ui/assets/{}?v={:016x}", self.name, self.hash)
    }
}

pub const CSS: Asset = Asset::new(
    "app.css",
    include_str!("assets/app.css"),
    "text/css; charset=utf-8",
);
pub const JS: Asset = Asset::new(
    "app.js",
    include_str!("assets/app.js"),
    "text/javascript; charset=utf-8",
);

pub const ICON: Asset = Asset::new("icon.svg", include_str!("assets/icon.svg"), "image/svg+xml");

/// `GET /ui/assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(asset) = [CSS, JS, ICON].into_iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_change_with_the_content() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert!(CSS.url().starts_with("/ui/assets/app.css?v="));
        assert_ne!(CSS.url(), JS.url());
    }
}
