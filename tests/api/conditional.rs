//! What the web UI asks of the API: `ETag`s that turn a poll of an unchanged
//! snapshot into a 304, an instance with its definition, the alert lists,
//! and the UI's cookie accepted for reads only.

use std::time::Duration;

use crate::app::{Fixture, Options, READ_TOKEN, WRITE_TOKEN};
use crate::client::*;

async fn get_with(f: &Fixture, path: &str, header: (&str, &str)) -> Reply {
    let resp = f
        .client
        .get(f.url(path))
        .bearer_auth(READ_TOKEN)
        .header(header.0, header.1)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    reply(resp).await
}

fn etag(r: &Reply) -> String {
    r.headers
        .get("etag")
        .unwrap_or_else(|| panic!("no ETag: HTTP {} {}", r.status, r.text))
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_an_unchanged_snapshot_costs_a_304() {
    let f = Fixture::start(Options::default()).await;
    let paths = [
        "/api/v1/slos",
        "/api/v1/slos?service=checkout",
        "/api/v1/slos/checkout%2Favailability",
        "/api/v1/services",
        "/api/v1/alerts",
    ];
    // The scheduler publishes every 10 s: hold its snapshot still by
    // retrying until no publish fell between the requests.
    let mut tags = Vec::new();
    for _ in 0..5 {
        let generation = f.state.generation();
        tags.clear();
        for path in paths {
            let first = f.get(path).await;
            assert_eq!(first.status, 200, "{path}: {}", first.text);
            assert_eq!(first.headers["cache-control"], "no-cache", "{path}");
            let tag = etag(&first);
            let again = get_with(&f, path, ("If-None-Match", &tag)).await;
            tags.push((path, tag, again));
        }
        if f.state.generation() == generation {
            break;
        }
    }
    for (path, tag, again) in &tags {
        assert_eq!(again.status, 304, "{path}: {}", again.text);
        assert!(again.text.is_empty(), "{path}: a 304 has no body");
        assert_eq!(&etag(again), tag, "{path}");
    }
    // A list of tags, a weak tag and `*` match as well; another tag does not.
    let (_, tag, _) = &tags[0];
    for header in [format!("\"x\", {tag}"), format!("W/{tag}"), "*".into()] {
        let r = get_with(&f, "/api/v1/slos", ("If-None-Match", &header)).await;
        assert!(matches!(r.status, 200 | 304), "{header}");
    }
    let other = get_with(&f, "/api/v1/slos", ("If-None-Match", "\"other\"")).await;
    assert_eq!(other.status, 200);
    // History reads PostgreSQL and moves with the clock: no tag.
    let history = f.get("/api/v1/slos/checkout%2Favailability/history").await;
    assert_eq!(history.status, 200);
    assert!(history.headers.get("etag").is_none());
    // The next publish changes the tag, and the old one gets the new body.
    let before = f.state.generation();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while f.state.generation() == before {
        assert!(std::time::Instant::now() < deadline, "no publish in 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let changed = get_with(&f, "/api/v1/slos", ("If-None-Match", tag)).await;
    assert_eq!(changed.status, 200);
    assert_ne!(&etag(&changed), tag);
    assert!(changed.json()["items"].is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_its_definition() {
    let f = Fixture::start(Options::default()).await;
    let plain = f.get_ok("/api/v1/slos/checkout%2Favailability").await;
    assert!(plain.get("definition").is_none(), "{plain}");
    let full = f
        .get_ok("/api/v1/slos/checkout%2Favailability?include=definition")
        .await;
    let d = &full["definition"];
    assert_eq!(d["indicator"], "ratio", "{d}");
    assert_eq!(d["queries"][0]["role"], "errors");
    assert_eq!(
        d["queries"][0]["query"],
        "api_requests_total{service=\"checkout\",code=\"500\"}"
    );
    assert_eq!(
        d["queries"][1]["graph"],
        "sum(rate(api_requests_total{service=\"checkout\"}[5m]))"
    );
    assert_eq!(d["gate"]["on_no_data"], "undecided");
    assert_eq!(d["gate"]["deny_when_firing"], serde_json::json!(["page"]));
    assert!(
        d["source"]["file"]
            .as_str()
            .unwrap()
            .ends_with("checkout.yaml"),
        "{d}"
    );
    assert_eq!(d["source"]["line"], 6);
    // A grouped instance's selectors are narrowed to its labels.
    let pay = f
        .get_ok(&format!(
            "/api/v1/slos/{}?include=definition",
            enc("checkout/by-route{route=\"/pay\"}")
        ))
        .await;
    assert_eq!(
        pay["definition"]["queries"][1]["query"],
        "api_requests_total{service=\"checkout\",route=\"/pay\"}"
    );
    assert_eq!(pay["definition"]["group_by"], serde_json::json!(["route"]));
    let p = f
        .get("/api/v1/slos/checkout%2Favailability?include=everything")
        .await
        .problem(400);
    assert_eq!(p["invalid_params"][0]["name"], "include");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_now_and_their_history() {
    let f = Fixture::start(Options::default()).await;
    let alerts = f.get_ok("/api/v1/alerts").await;
    let firing: Vec<(&str, &str)> = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["instance"].as_str().unwrap(),
                a["alert"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        firing.contains(&("search/availability", "page-1h")),
        "{alerts}"
    );
    assert_eq!(alerts["total"], firing.len());
    let only_tickets = f
        .get_ok("/api/v1/alerts?severity=ticket&state=firing")
        .await;
    assert!(
        only_tickets["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["severity"] == "ticket"),
        "{only_tickets}"
    );
    f.get("/api/v1/alerts?state=inactive").await.problem(400);
    // Without `slo`: the transitions of every SLO, newest first.
    let all = f.get_ok("/api/v1/alerts/history").await;
    assert_eq!(all["slo"], serde_json::Value::Null);
    let items = all["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|t| t["instance"] == "search/availability" && t["transition"] == "firing"),
        "{all}"
    );
    let times: Vec<&str> = items.iter().map(|t| t["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let one = f
        .get_ok("/api/v1/alerts/history?slo=search/availability&limit=1")
        .await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["items"][0]["instance"], "search/availability");
    f.get("/api/v1/alerts/history?slo=search/nope")
        .await
        .problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_cookie_opens_reads_but_never_writes() {
    let f = Fixture::start(Options::default()).await;
    let with_cookie = |method: reqwest::Method, path: &str, token: &str| {
        f.client
            .request(method, f.url(path))
            .header("Cookie", format!("burnrate_token={token}"))
            .send()
    };
    let read = with_cookie(reqwest::Method::GET, "/api/v1/slos", READ_TOKEN)
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let wrong = with_cookie(reqwest::Method::GET, "/api/v1/slos", "wrong")
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let write = with_cookie(reqwest::Method::POST, "/-/reload", WRITE_TOKEN)
        .await
        .unwrap();
    assert_eq!(write.status(), 401, "a cookie never authorises a write");
}
