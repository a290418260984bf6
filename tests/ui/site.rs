//! Helpers over a fixture and a browser: what the page shows, what the API
//! says, where screenshots go.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::TestBrowser;
use testkit::browser::fantoccini::Locator;
use testkit::browser::fantoccini::actions::{InputSource, KeyAction, KeyActions};
use testkit::browser::fantoccini::elements::Element;
use testkit::browser::fantoccini::key::Key;

use crate::app::{Fixture, READ_TOKEN};

/// Where the tests write their screenshots.
pub fn screenshots_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BURNRATE_SCREENSHOTS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("ui-screenshots")
}

/// The percentage the pages print for a ratio (one decimal, no trailing zeros).
pub fn percent(ratio: f64) -> String {
    let text = format!("{:.1}", ratio * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    let text = if text == "-0" { "0" } else { text };
    format!("{text}%")
}

/// The API's list of every instance, with the `ETag` it came with.
pub async fn api_instances(f: &Fixture) -> (Vec<Value>, String) {
    let resp = f
        .client
        .get(f.url("/api/v1/slos?limit=1000"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .expect("GET /api/v1/slos");
    assert_eq!(resp.status(), 200);
    let tag = resp.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.expect("JSON");
    (body["items"].as_array().unwrap().clone(), tag)
}

/// The API's instances and tag when they are of the snapshot the open page
/// shows (its `data-etag`); none when a publish fell in between, which may
/// happen only while `retry`.
pub async fn api_instances_as_shown(
    b: &TestBrowser,
    f: &Fixture,
    retry: bool,
) -> Option<(Vec<Value>, String)> {
    let page_tag = attr(b, "main", "data-etag").await.unwrap();
    let (items, api_tag) = api_instances(f).await;
    if page_tag == api_tag {
        return Some((items, api_tag));
    }
    assert!(retry, "the snapshot kept changing between page and API");
    None
}

/// The ids of the overview rows a person can see now, top to bottom.
pub async fn visible_rows(b: &TestBrowser) -> Vec<String> {
    let v = b
        .eval(
            "return Array.from(document.querySelectorAll('tr.row'))\
             .filter(r => r.offsetParent !== null).map(r => r.dataset.id);",
        )
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// Waits until `check` holds (it is asked every 100 ms), failing after `secs`.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Until the visible overview rows are `want` (the page filters as people type).
pub async fn shows(b: &TestBrowser, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = visible_rows(b).await;
        if rows == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "visible rows {rows:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first element matching `css`.
pub async fn element(b: &TestBrowser, css: &str) -> Element {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

/// The text of the first element matching `css`.
pub async fn text(b: &TestBrowser, css: &str) -> String {
    element(b, css)
        .await
        .text()
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
}

/// An attribute of the first element matching `css`.
pub async fn attr(b: &TestBrowser, css: &str, name: &str) -> Option<String> {
    element(b, css)
        .await
        .attr(name)
        .await
        .unwrap_or_else(|e| panic!("{css} @{name}: {e}"))
}

/// Fails on any error or warning the browser's console logged since the last call.
pub async fn no_console_errors(b: &TestBrowser, page: &str) {
    let bad: Vec<_> = b
        .console()
        .await
        .into_iter()
        .filter(|e| matches!(e.level.as_str(), "SEVERE" | "WARNING"))
        .collect();
    assert!(bad.is_empty(), "console errors on {page}: {bad:#?}");
}

/// Presses and releases `key` wherever the focus is.
pub async fn press(b: &TestBrowser, key: Key) {
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key.into() })
        .then(KeyAction::Up { value: key.into() });
    b.client
        .perform_actions(actions)
        .await
        .unwrap_or_else(|e| panic!("press {key:?}: {e}"));
}

/// The page's background as relative luminance, 0 (black) to 1 (white).
pub async fn background_luminance(b: &TestBrowser) -> f64 {
    let css = b
        .eval("return getComputedStyle(document.body).backgroundColor;")
        .await;
    let css = css.as_str().unwrap_or_default();
    let channels: Vec<f64> = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .map(|c| {
            c.trim()
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("body background `{css}`"))
        })
        .collect();
    assert_eq!(channels.len(), 3, "body background `{css}`");
    let linear = |c: f64| {
        let c = c / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(channels[0]) + 0.7152 * linear(channels[1]) + 0.0722 * linear(channels[2])
}
