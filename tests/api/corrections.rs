//! Corrections through the API: added with the write token, applied by the
//! next cycle, listed with the catalog's, deleted, and audited.

use std::time::{Duration, Instant};

use burnrate::store::Store;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::app::{Fixture, MINUTE, Options, READ_TOKEN, WRITE_TOKEN};

const SEARCH: &str = "search/availability";

fn remaining(f: &Fixture) -> Option<f64> {
    f.state.snapshot().instances[SEARCH].error_budget.remaining
}

/// Waits for the running service's cycles (every 10 s) until `done`.
async fn until(f: &Fixture, what: &str, done: impl Fn(Option<f64>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(remaining(f)) {
        assert!(
            Instant::now() < deadline,
            "{what}: budget remaining still {:?}",
            remaining(f)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_added_through_the_api_applies_at_the_next_cycle() {
    let f = Fixture::start(Options {
        history: false,
        ..Options::default()
    })
    .await;
    // search/availability: 50% errors for the last 2h before `end`.
    let before = remaining(&f).expect("evaluated");
    assert!(before < 0.0, "the seeded incident overspends: {before}");

    let start = Utc
        .timestamp_millis_opt(f.end - 120 * MINUTE)
        .unwrap()
        .to_rfc3339();
    let body = json!({
        "reason": "load test against production",
        "author": "alice",
        "slo": SEARCH,
        "start": start,
        "duration": "3h",
    });
    let post = |token: &'static str, body: Value| {
        f.client
            .post(f.url("/api/v1/corrections"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    // Reads cannot write; a bad body is refused at its field.
    assert_eq!(post(READ_TOKEN, body.clone()).await.unwrap().status(), 403);
    let bad = post(WRITE_TOKEN, json!({"reason": "r", "author": "a", "slo": SEARCH, "start": "yesterday", "duration": "1h"}))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("RFC 3339"));
    let unknown = post(WRITE_TOKEN, json!({"reason": "r", "author": "a", "slo": "search/nope", "start": start, "duration": "1h"}))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let created = post(WRITE_TOKEN, body).await.unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .expect("an id");

    // Every error of the incident is inside the correction: none is left.
    until(&f, "after the correction", |r| r == Some(1.0)).await;
    let status: Value = f
        .client
        .get(f.url("/api/v1/slos/search%2Favailability"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let applied = &status["corrections"];
    assert!(
        applied["budget_remaining_without_corrections"]
            .as_f64()
            .unwrap()
            < 0.0,
        "{status}"
    );
    let excluded = &applied["excluded_events"];
    assert!(excluded["total"].as_f64().unwrap() > 0.0, "{status}");
    assert!(
        excluded["good"].as_f64().unwrap() < excluded["total"].as_f64().unwrap(),
        "the excluded minutes held the errors: {status}"
    );
    let listed: Value = f
        .client
        .get(f.url("/api/v1/slos/search%2Favailability/corrections"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["slo"], SEARCH);
    let items = listed["corrections"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["source"], "api");
    assert_eq!(items[0]["id"], id);
    assert_eq!(items[0]["author"], "alice");
    assert_eq!(items[0]["duration"], "3h");

    let delete = |author: &str| {
        f.client
            .delete(f.url(&format!("/api/v1/corrections/{id}?author={author}")))
            .bearer_auth(WRITE_TOKEN)
            .send()
    };
    assert_eq!(delete("bob").await.unwrap().status(), 204);
    assert_eq!(delete("bob").await.unwrap().status(), 404);
    until(&f, "after the deletion", |r| r.is_some_and(|r| r < 0.0)).await;
    assert!(f.state.snapshot().instances[SEARCH].corrections.is_none());

    let store = Store::connect(f.db.url()).await.expect("store");
    let audit: Vec<(String, String)> = store
        .correction_audit(id)
        .await
        .expect("audit")
        .into_iter()
        .map(|(action, actor, _)| (action, actor))
        .collect();
    assert_eq!(
        audit,
        [
            ("create".to_string(), "alice".to_string()),
            ("delete".to_string(), "bob".to_string())
        ]
    );
    assert!(store.corrections().await.expect("list").is_empty());
}
