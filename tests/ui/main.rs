//! The web UI in a real browser: Debian's Chromium, driven through
//! chromedriver (WebDriver), against a running `burnrate serve` with a real
//! Prometheus seeded by remote write and a real PostgreSQL holding two days
//! of evaluations.
//!
//! The server fixture is the API tests' own (`tests/api/app.rs`), with more
//! history for the charts. Screenshots of the overview (`ui-overview.png`,
//! and `ui-overview-phone.png` at a phone's width) and a detail page
//! (`ui-detail.png`) go to `target/ui-screenshots/`, or to
//! `BURNRATE_SCREENSHOTS_DIR`: the README's are `docs/`, written by
//! `BURNRATE_SCREENSHOTS_DIR=$PWD/docs scripts/test.sh ui`.

#[allow(dead_code)]
#[path = "../api/app.rs"]
mod app;
mod pages;
mod site;
