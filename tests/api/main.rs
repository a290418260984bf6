//! The HTTP API over HTTP, against a running `burnrate serve` with a real
//! Prometheus (seeded by remote write) and a real PostgreSQL: every
//! endpoint and its error cases, `/metrics` through `promtool check metrics`,
//! the OpenAPI document validated and a property-based run against it, and
//! the `burnrate gate` command's exit codes.

mod app;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::{Fixture, IDS, MINUTE, Options, READ_TOKEN, WRITE_TOKEN};
use burnrate::api::ApiSettings;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

struct Reply {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): HTTP {} {}", self.status, self.text))
    }

    /// Asserts a problem document with this status, and returns it.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.text
        );
        let p = self.json();
        assert_eq!(p["status"], status, "{p}");
        assert!(p["title"].is_string() && p["detail"].is_string(), "{p}");
        p
    }
}

async fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Reply {
    let mut req = client.request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.unwrap_or_default();
    Reply {
        status,
        content_type,
        headers,
        text,
    }
}

impl Fixture {
    async fn get(&self, path: &str) -> Reply {
        request(
            &self.client,
            reqwest::Method::GET,
            &self.url(path),
            Some(READ_TOKEN),
            None,
        )
        .await
    }

    async fn get_ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text);
        assert_eq!(r.content_type, "application/json", "GET {path}");
        r.json()
    }

    async fn post(&self, path: &str, token: Option<&str>) -> Reply {
        request(
            &self.client,
            reqwest::Method::POST,
            &self.url(path),
            token,
            None,
        )
        .await
    }
}

fn enc(id: &str) -> String {
    utf8_percent_encode(id, NON_ALPHANUMERIC).to_string()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_over_http() {
    app::catalog_is_valid();
    let f = Fixture::start(Options::default()).await;
    // Without --cors-origin, no CORS headers at all.
    let cross = f
        .client
        .get(f.url("/api/v1/slos"))
        .header("Origin", "https://dash.example")
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 200);
    assert!(cross.headers().get("access-control-allow-origin").is_none());

    // ---- probes: open without a token.
    let r = request(
        &f.client,
        reqwest::Method::GET,
        &f.url("/healthz"),
        None,
        None,
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (200, "ok\n"));
    let r = request(
        &f.client,
        reqwest::Method::GET,
        &f.url("/readyz"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json(),
        serde_json::json!({"ready": true, "catalog_loaded": true, "database_reachable": true, "first_evaluation_done": true})
    );

    // ---- read token.
    let r = request(
        &f.client,
        reqwest::Method::GET,
        &f.url("/api/v1/slos"),
        None,
        None,
    )
    .await;
    r.problem(401);
    assert_eq!(r.headers["www-authenticate"], "Bearer realm=\"burnrate\"");
    let r = request(
        &f.client,
        reqwest::Method::GET,
        &f.url("/api/v1/slos"),
        Some("nope"),
        None,
    )
    .await;
    r.problem(401);
    for path in [
        "/metrics",
        "/api/v1/services",
        "/api/v1/gate?service=checkout",
        "/api/v1/slos/checkout%2Favailability",
    ] {
        let r = request(&f.client, reqwest::Method::GET, &f.url(path), None, None).await;
        r.problem(401);
    }
    // The write token reads too.
    let r = request(
        &f.client,
        reqwest::Method::GET,
        &f.url("/api/v1/slos"),
        Some(WRITE_TOKEN),
        None,
    )
    .await;
    assert_eq!(r.status, 200);

    // ---- the list: every instance, ordered by id.
    let all = f.get_ok("/api/v1/slos").await;
    assert_eq!(ids(&all), IDS, "{all}");
    assert_eq!(all["total"], 6);
    assert_eq!(all["limit"], 100);
    assert_eq!(all["next_cursor"], Value::Null);
    for item in all["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        assert_eq!(
            item["href"],
            format!(
                "/api/v1/slos/{}",
                utf8_percent_encode(id, burnrate::api::view::SEGMENT)
            )
        );
    }

    // ---- filters.
    let cases: &[(&str, &[&str])] = &[
        ("service=checkout", &IDS[0..3]),
        ("service=checkout,search", &[IDS[0], IDS[1], IDS[2], IDS[5]]),
        ("service=checkout&service=ghost", &IDS[0..5]),
        ("slo=by-route", &IDS[1..3]),
        ("label=team:payments", &IDS[0..3]),
        ("label=team:payments&label=route:/pay", &[IDS[2]]),
        ("label=route:%2Fcart", &[IDS[1]]),
        ("label=team:nobody", &[]),
        ("data_state=no_data", &IDS[3..5]),
        ("data_state=ok,no_data", &IDS),
        ("alert_state=firing", &[IDS[5]]),
        ("alert_state=inactive&service=checkout", &IDS[0..3]),
        ("service=nope", &[]),
    ];
    for (query, want) in cases {
        let got = f.get_ok(&format!("/api/v1/slos?{query}")).await;
        assert_eq!(ids(&got), *want, "?{query}");
        assert_eq!(got["total"], want.len(), "?{query}");
    }

    // ---- pagination: pages of 2 walk the whole list, in order, once.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/slos?limit=2&cursor={c}"),
            None => "/api/v1/slos?limit=2".to_string(),
        };
        let page = f.get_ok(&path).await;
        assert_eq!(page["total"], 6);
        assert_eq!(page["limit"], 2);
        walked.extend(ids(&page));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        (walked.as_slice(), pages),
        (IDS.map(String::from).as_slice(), 3)
    );
    let filtered = f.get_ok("/api/v1/slos?service=checkout&limit=2").await;
    assert_eq!(ids(&filtered), &IDS[0..2]);
    let next = filtered["next_cursor"].as_str().unwrap();
    let rest = f
        .get_ok(&format!(
            "/api/v1/slos?service=checkout&limit=2&cursor={next}"
        ))
        .await;
    assert_eq!(ids(&rest), &IDS[2..3]);
    assert_eq!(rest["next_cursor"], Value::Null);

    // ---- bad list parameters: 400 naming the parameter.
    for (query, param) in [
        ("data_state=sleepy", "data_state"),
        ("alert_state=loud", "alert_state"),
        ("label=team", "label"),
        ("label=:x", "label"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=1&limit=2", "limit"),
        ("cursor=!!!", "cursor"),
        ("cursor=", "cursor"),
        ("servce=checkout", "servce"),
        ("service=", "service"),
    ] {
        let p = f.get(&format!("/api/v1/slos?{query}")).await.problem(400);
        assert_eq!(p["invalid_params"][0]["name"], param, "?{query}: {p}");
    }

    // ---- one instance, in the canonical and the unencoded form.
    let one = f.get_ok("/api/v1/slos/checkout%2Favailability").await;
    assert_eq!(one, all["items"][0]);
    assert_eq!(f.get_ok("/api/v1/slos/checkout/availability").await, one);
    assert_eq!(one["service"], "checkout");
    assert_eq!(one["name"], "availability");
    assert_eq!(one["slo"], "checkout/availability");
    assert_eq!(one["objective"], 0.99);
    assert_eq!(one["window"], "3d");
    assert_eq!(one["data_state"], "ok");
    assert_eq!(one["labels"]["team"], "payments");
    let evaluated_at = one["evaluated_at"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(evaluated_at).expect("RFC 3339 evaluated_at");
    let sli = one["sli"].as_f64().unwrap();
    assert!((0.998..1.0).contains(&sli), "sli {sli}");
    assert!(one["events"]["good"].as_f64().unwrap() > 0.0);
    assert!(one["events"]["total"].as_f64().unwrap() > one["events"]["good"].as_f64().unwrap());
    let remaining = one["error_budget"]["remaining"].as_f64().unwrap();
    assert!((0.8..1.0).contains(&remaining), "remaining {remaining}");
    for key in [
        "remaining_events",
        "remaining_minutes",
        "total_events",
        "total_minutes",
    ] {
        assert!(one["error_budget"][key].is_number(), "{key}: {one}");
    }
    for window in ["5m", "30m", "1h", "2h", "6h", "1d", "3d"] {
        assert!(
            one["burn_rates"][window].is_number(),
            "burn rate {window}: {one}"
        );
    }
    let tiers: Vec<&str> = one["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tier"].as_str().unwrap())
        .collect();
    assert!(tiers.contains(&"page-1h"), "{tiers:?}");
    assert_eq!(one["alert_state"], "inactive");

    let grouped = IDS[2];
    let g = f.get_ok(&format!("/api/v1/slos/{}", enc(grouped))).await;
    assert_eq!(g["id"], grouped);
    assert_eq!(g["group"], serde_json::json!({"route": "/pay"}));
    // reqwest percent-encodes `{`, `"` and `}` but leaves `/`: the unencoded form.
    assert_eq!(
        f.get_ok(&format!("/api/v1/slos/{grouped}")).await["id"],
        grouped
    );

    let search = f.get_ok("/api/v1/slos/search%2Favailability").await;
    assert!(
        search["error_budget"]["remaining"].as_f64().unwrap() < 0.0,
        "{search}"
    );
    assert_eq!(search["alert_state"], "firing");
    let page = search["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["tier"] == "page-1h")
        .unwrap()
        .clone();
    assert_eq!(page["state"], "firing", "{page}");
    assert_eq!(page["severity"], "page");
    assert!(page["since"].is_string());

    let ghost = f.get_ok("/api/v1/slos/ghost%2Favailability").await;
    assert_eq!(ghost["data_state"], "no_data");
    assert_eq!(ghost["sli"], Value::Null);

    // ---- unknown ids and bad ids.
    let p = f.get("/api/v1/slos/checkout%2Fnope").await.problem(404);
    assert!(
        p["detail"].as_str().unwrap().contains("checkout/nope"),
        "{p}"
    );
    f.get("/api/v1/slos/checkout").await.problem(404);
    f.get("/api/v1/slos/checkout%2Favailability%2Fhistory")
        .await
        .problem(404);
    f.get("/api/v1/slos/%FF%FE").await.problem(400);
    f.get("/api/v1/slos/checkout%2Favailability?x=1")
        .await
        .problem(400);

    // ---- history from PostgreSQL.
    let first = f.history_times[0];
    let last = *f.history_times.last().unwrap();
    let secs = |ms: i64| (ms / 1000).to_string();
    let h = f
        .get_ok(&format!(
            "/api/v1/slos/checkout%2Favailability/history?from={}&to={}&step=5m",
            secs(first),
            secs(last)
        ))
        .await;
    assert_eq!(h["id"], "checkout/availability");
    assert_eq!(h["step"], "5m");
    let points = h["points"].as_array().unwrap();
    assert_eq!(points.len(), f.history_times.len(), "{h}");
    for (p, at) in points.iter().zip(&f.history_times) {
        let t = chrono::DateTime::parse_from_rfc3339(p["at"].as_str().unwrap()).unwrap();
        assert_eq!(t.timestamp_millis(), *at);
        assert_eq!(p["data_state"], "ok");
        assert!(
            p["sli"].is_number() && p["budget_remaining"].is_number(),
            "{p}"
        );
        assert!(p["burn_rates"]["1h"].is_number(), "{p}");
        assert!(p["events"]["total"].as_f64().unwrap() > 0.0);
    }
    // search's budget burns down while half its requests fail.
    let burn = f
        .get_ok(&format!(
            "/api/v1/slos/search%2Favailability/history?from={}&to={}",
            secs(first),
            secs(last)
        ))
        .await;
    let budgets: Vec<f64> = burn["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["budget_remaining"].as_f64().unwrap())
        .collect();
    assert_eq!(budgets.len(), f.history_times.len());
    assert!(budgets.windows(2).all(|w| w[0] > w[1]), "{budgets:?}");
    // A coarser step keeps the last evaluation of each step.
    let rfc = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339()
    };
    let coarse = f
        .get_ok(&format!(
            "/api/v1/slos/checkout/availability/history?from={}&to={}&step=15m",
            enc(&rfc(first)),
            enc(&rfc(last))
        ))
        .await;
    let coarse_at: Vec<i64> = coarse["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            chrono::DateTime::parse_from_rfc3339(p["at"].as_str().unwrap())
                .unwrap()
                .timestamp_millis()
        })
        .collect();
    let want: Vec<i64> = f
        .history_times
        .iter()
        .copied()
        .filter(|t| (t - first) % (15 * MINUTE) == 10 * MINUTE || *t == last)
        .collect();
    assert_eq!(coarse_at, want);
    // Defaults: the SLO window up to now.
    let default = f
        .get_ok(&format!("/api/v1/slos/{}/history", enc(grouped)))
        .await;
    // The running app may have stored its own evaluation since.
    assert!(
        default["points"].as_array().unwrap().len() >= f.history_times.len(),
        "{default}"
    );
    assert_eq!(default["step"], "5m");
    let ghost_history = f.get_ok("/api/v1/slos/ghost%2Flenient/history").await;
    assert!(
        ghost_history["points"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["data_state"] == "no_data")
    );
    for (query, param) in [
        ("step=0s", "step"),
        ("step=30s", "step"),
        ("step=5x", "step"),
        ("step=", "step"),
        ("from=yesterday", "from"),
        ("to=-5", "to"),
        ("from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z", "from"),
        ("from=1000&to=1000", "from"),
        ("from=0&to=4000000000&step=1m", "step"),
        ("frm=0", "frm"),
        ("step=5m&step=10m", "step"),
    ] {
        let p = f
            .get(&format!(
                "/api/v1/slos/checkout%2Favailability/history?{query}"
            ))
            .await
            .problem(400);
        assert_eq!(p["invalid_params"][0]["name"], param, "?{query}: {p}");
    }
    f.get("/api/v1/slos/checkout%2Fnope/history")
        .await
        .problem(404);

    // ---- services roll-up.
    let services = f.get_ok("/api/v1/services").await;
    let items = services["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["checkout", "ghost", "search"]);
    assert_eq!(items[0]["slos"], 2);
    assert_eq!(items[0]["instances"], 3);
    assert_eq!(items[0]["data_states"], serde_json::json!({"ok": 3}));
    assert_eq!(items[0]["firing"], serde_json::json!([]));
    assert_eq!(items[1]["worst_budget_remaining"], Value::Null);
    assert_eq!(items[1]["data_states"], serde_json::json!({"no_data": 2}));
    assert_eq!(items[2]["alert_state"], "firing");
    assert_eq!(items[2]["worst_instance"], "search/availability");
    assert!(items[2]["worst_budget_remaining"].as_f64().unwrap() < 0.0);
    assert!(
        items[2]["firing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["tier"] == "page-1h" && a["id"] == "search/availability")
    );
    f.get("/api/v1/services?service=x").await.problem(400);

    // ---- the gate.
    let gate = f.get_ok("/api/v1/gate?service=checkout").await;
    assert_eq!(gate["decision"], "allow", "{gate}");
    assert_eq!(gate["instances"].as_array().unwrap().len(), 3);
    let gate = f.get_ok("/api/v1/gate?service=search").await;
    assert_eq!(gate["decision"], "deny", "{gate}");
    let reasons = gate["reasons"].to_string();
    assert!(
        reasons.contains("below the minimum of 0%")
            && reasons.contains("`page-1h` (page) is firing"),
        "{reasons}"
    );
    assert!(
        gate["instances"][0]["firing"]
            .as_array()
            .unwrap()
            .contains(&Value::from("page-1h")),
        "{gate}"
    );
    let gate = f.get_ok("/api/v1/gate?service=ghost").await;
    assert_eq!(gate["decision"], "undecided", "{gate}");
    assert_eq!(gate["instances"][0]["decision"], "undecided");
    assert_eq!(gate["instances"][1]["decision"], "allow");
    assert_eq!(
        f.get_ok("/api/v1/gate?service=ghost&slo=lenient").await["decision"],
        "allow"
    );
    assert_eq!(
        f.get_ok("/api/v1/gate?service=checkout&slo=by-route").await["instances"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(
        f.get("/api/v1/gate?service=nope").await.problem(404)["detail"]
            .as_str()
            .unwrap()
            .contains("checkout, ghost, search")
    );
    f.get("/api/v1/gate?service=checkout&slo=nope")
        .await
        .problem(404);
    assert_eq!(
        f.get("/api/v1/gate").await.problem(400)["invalid_params"][0]["name"],
        "service"
    );
    f.get("/api/v1/gate?service=").await.problem(400);
    f.get("/api/v1/gate?service=a&service=b").await.problem(400);

    // ---- /metrics, and promtool agrees.
    let r = f.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        r.content_type
    );
    let m = &r.text;
    for needle in [
        "burnrate_slo_error_budget_remaining_ratio{id=\"checkout/availability\",service=\"checkout\",slo=\"availability\"} 0.",
        "burnrate_slo_sli_ratio{id=\"checkout/by-route{route=\\\"/pay\\\"}\",service=\"checkout\",slo=\"by-route\"} 0.99",
        "burnrate_slo_burn_rate{id=\"search/availability\",service=\"search\",slo=\"availability\",window=\"1h\"} ",
        "burnrate_slo_alert_state{id=\"search/availability\",service=\"search\",slo=\"availability\",tier=\"page-1h\",severity=\"page\",state=\"firing\"} 1",
        "burnrate_slo_alert_state{id=\"search/availability\",service=\"search\",slo=\"availability\",tier=\"page-1h\",severity=\"page\",state=\"inactive\"} 0",
        "burnrate_slo_data_state{id=\"ghost/lenient\",service=\"ghost\",slo=\"lenient\",state=\"no_data\"} 1",
        "burnrate_slo_firing_alerts{id=\"search/availability\",service=\"search\",slo=\"availability\"} ",
        "burnrate_slo_objective_ratio{id=\"search/availability\",service=\"search\",slo=\"availability\"} 0.999",
        "burnrate_cycle_duration_seconds ",
        "burnrate_last_cycle_timestamp_seconds ",
        "burnrate_catalog_slos 5",
        "burnrate_slo_instances 6",
        "burnrate_slo_instances_failing{kind=\"prometheus\"} 0",
        "burnrate_build_info{version=",
        "burnrate_prometheus_query_errors_total ",
        "burnrate_database_errors_total ",
        "burnrate_ingestion_lag_seconds{service=\"search\",slo=\"availability\"} ",
    ] {
        assert!(m.contains(needle), "/metrics lacks `{needle}`:\n{m}");
    }
    assert!(
        !m.contains("burnrate_slo_sli_ratio{id=\"ghost"),
        "no SLI without data"
    );
    promtool_check_metrics(m);
    f.get("/metrics?x=1").await.problem(400);

    // ---- OpenAPI.
    let doc = f.get_ok("/api/v1/openapi.json").await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["paths"]["/api/v1/slos/{id}/history"]["get"].is_object());

    // ---- routing errors are problems too.
    f.get("/api/v1/nothing").await.problem(404);
    f.get("/api/v1/slos/").await.problem(404);
    request(
        &f.client,
        reqwest::Method::DELETE,
        &f.url("/api/v1/slos"),
        Some(READ_TOKEN),
        None,
    )
    .await
    .problem(405);
    request(
        &f.client,
        reqwest::Method::GET,
        &f.url("/-/reload"),
        Some(WRITE_TOKEN),
        None,
    )
    .await
    .problem(405);

    // ---- reload: write token only; a broken catalog is refused with every error.
    f.post("/-/reload", None).await.problem(401);
    f.post("/-/reload", Some("wrong")).await.problem(401);
    f.post("/-/reload", Some(READ_TOKEN)).await.problem(403);
    let r = f.post("/-/reload", Some(WRITE_TOKEN)).await;
    assert_eq!((r.status, r.json()), (200, serde_json::json!({"slos": 5})));
    let broken = f.catalog_dir.path().join("broken.yaml");
    std::fs::write(&broken, "version: burnrate/v1\nservice: broken\nslos:\n  - name: x\n    objective: 250\n    indicator: {}\n").unwrap();
    let p = f.post("/-/reload", Some(WRITE_TOKEN)).await.problem(422);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("last good catalog keeps running"),
        "{p}"
    );
    let errors = p["errors"].as_array().unwrap();
    assert!(
        !errors.is_empty()
            && errors
                .iter()
                .all(|e| e.as_str().unwrap().contains("broken.yaml")),
        "{p}"
    );
    assert_eq!(
        f.get_ok("/api/v1/slos").await["total"],
        6,
        "the last good catalog keeps running"
    );
    assert_eq!(
        f.get_ok("/api/v1/gate?service=checkout").await["decision"],
        "allow"
    );
    std::fs::remove_file(&broken).unwrap();
    assert_eq!(f.post("/-/reload", Some(WRITE_TOKEN)).await.status, 200);
    // Body limit.
    let big = request(
        &f.client,
        reqwest::Method::POST,
        &f.url("/-/reload"),
        Some(WRITE_TOKEN),
        Some(vec![b'x'; 200 * 1024]),
    )
    .await;
    big.problem(413);

    // ---- the same state without tokens: reads open, writes refused (403), never open.
    let open = serve_router(&f, ApiSettings::default()).await;
    let r = request(
        &f.client,
        reqwest::Method::GET,
        &format!("{open}/api/v1/slos"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = request(
        &f.client,
        reqwest::Method::POST,
        &format!("{open}/-/reload"),
        None,
        None,
    )
    .await;
    let p = r.problem(403);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("writes are disabled"),
        "{p}"
    );
    request(
        &f.client,
        reqwest::Method::POST,
        &format!("{open}/-/reload"),
        Some(WRITE_TOKEN),
        None,
    )
    .await
    .problem(403);
}

/// Serves the API over the fixture's state with other settings, on another port.
async fn serve_router(f: &Fixture, settings: ApiSettings) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = burnrate::api::router(Arc::clone(&f.state), &settings);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn promtool_check_metrics(text: &str) {
    let promtool = testkit::process::find_binary("PROMTOOL_BIN", "promtool");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ------------------------------------------------------------------ gate --

fn gate_cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .arg("gate")
        .args(args)
        .env_remove("BURNRATE_API_TOKEN")
        .env_remove("BURNRATE_API_TOKEN_FILE")
        .env_remove("BURNRATE_SERVER")
        .output()
        .expect("run burnrate gate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

async fn gate_async(args: Vec<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        gate_cli(&refs)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_command_exit_codes() {
    let f = Fixture::start(Options {
        history: false,
        ..Options::default()
    })
    .await;
    let server = f.url("");
    let token_dir = tempfile::tempdir().unwrap();
    let token_file = token_dir.path().join("token");
    std::fs::write(&token_file, format!("{READ_TOKEN}\n")).unwrap();
    let token = token_file.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args: Vec<String> = ["--server", server.as_str(), "--token-file", token]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        gate_async(args)
    };

    let (code, text) = run(&["--service", "checkout"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.starts_with("burnrate gate: ALLOW for service checkout"),
        "{text}"
    );
    assert!(
        text.contains("checkout/availability: error budget remaining"),
        "{text}"
    );

    let (code, text) = run(&["--service", "search"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("DENY")
            && text.contains("below the minimum of 0%")
            && text.contains("page-1h"),
        "{text}"
    );
    // --fail-open never turns a deny into an allow.
    assert_eq!(run(&["--service", "search", "--fail-open"]).await.0, 1);

    let (code, text) = run(&["--service", "ghost", "--slo", "availability"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("UNDECIDED") && text.contains("no events"),
        "{text}"
    );
    let (code, text) = run(&["--service", "ghost", "--slo", "availability", "--fail-open"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("--fail-open"), "{text}");
    assert_eq!(run(&["--service", "ghost", "--slo", "lenient"]).await.0, 0);

    let (code, text) = run(&["--service", "search", "--format", "json"]).await;
    assert_eq!(code, 1, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        (doc["decision"].as_str(), doc["exit_code"].as_u64()),
        (Some("deny"), Some(1))
    );
    assert!(doc["instances"][0]["reasons"].is_array());

    // Cannot decide: unknown service, missing token, unreachable server.
    let (code, text) = run(&["--service", "nope"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("404") && text.contains("no service `nope`"),
        "{text}"
    );
    let no_token = tokio::task::spawn_blocking({
        let server = server.clone();
        move || gate_cli(&["--server", &server, "--service", "checkout"])
    })
    .await
    .unwrap();
    assert_eq!(no_token.0, 2, "{}", no_token.1);
    assert!(no_token.1.contains("401"), "{}", no_token.1);

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dead = format!("http://{closed}");
    let (code, text) = tokio::task::spawn_blocking({
        let dead = dead.clone();
        move || {
            gate_cli(&[
                "--server",
                &dead,
                "--service",
                "checkout",
                "--timeout",
                "3s",
            ])
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("cannot reach burnrate"), "{text}");
    let (code, text) = tokio::task::spawn_blocking({
        let dead = dead.clone();
        move || {
            gate_cli(&[
                "--server",
                &dead,
                "--service",
                "checkout",
                "--fail-open",
                "--format",
                "json",
            ])
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["decision"], "undecided");
    assert_eq!(doc["fail_open"], true);
}

// --------------------------------------------------------------- OpenAPI --

/// A validator for the schema at a JSON pointer of the OpenAPI document, with
/// `#/components/...` references resolved inside the document.
fn validator(doc: &Value, pointer: &str) -> jsonschema::Validator {
    let mut root = doc.clone();
    root.as_object_mut()
        .unwrap()
        .insert("$ref".into(), Value::String(format!("#{pointer}")));
    root.as_object_mut().unwrap().insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("schema at {pointer}: {e}"))
}

/// A JSON pointer token, as it may stand in a URI fragment.
fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// Validates the document with openapi-spec-validator (from PyPI, installed
/// into target/ on first use).
fn openapi_spec_validator(doc_text: &str) {
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pytools");
    let marker = target.join("openapi_spec_validator");
    if !marker.exists() {
        let out = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&target)
            .arg("openapi-spec-validator==0.9.0")
            .output()
            .expect("python3 -m pip");
        assert!(
            out.status.success(),
            "pip install openapi-spec-validator failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc_text).unwrap();
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .env("PYTHONPATH", &target)
        .output()
        .expect("python3 -m openapi_spec_validator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("OK"),
        "openapi-spec-validator:\n{text}"
    );
}

#[test]
fn openapi_document_validates_and_a_property_run_finds_no_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(Fixture::start(Options::default()));
    let doc_text = rt.block_on(f.get("/api/v1/openapi.json")).text;
    let doc: Value = serde_json::from_str(&doc_text).unwrap();
    openapi_spec_validator(&doc_text);

    // Every documented response: status → (content type, validator).
    let mut responses: BTreeMap<(String, u16), (String, Option<jsonschema::Validator>)> =
        BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let (ct, media) = response["content"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .next()
                    .unwrap();
                let pointer = format!(
                    "/paths/{}/{method}/responses/{status}/content/{}/schema",
                    pointer_escape(path),
                    pointer_escape(ct)
                );
                let v = media.get("schema").map(|_| validator(&doc, &pointer));
                responses.insert(
                    (
                        format!("{} {path}", method.to_uppercase()),
                        status.parse().unwrap(),
                    ),
                    (ct.clone(), v),
                );
            }
        }
    }

    let services = ["checkout", "search", "ghost", "nope", ""];
    let good_values: Vec<&str> = vec![
        "checkout",
        "search",
        "ghost",
        "availability",
        "by-route",
        "lenient",
        "team:payments",
        "route:/pay",
        "ok",
        "no_data",
        "stale",
        "firing",
        "pending",
        "inactive",
        "1",
        "2",
        "100",
        "1000",
        "1001",
        "0",
        "-1",
        "5m",
        "1m",
        "0s",
        "1h",
        "30s",
        "2026-01-01T00:00:00Z",
        "0",
        "4000000000",
        "1e400",
        "NaN",
        "Y2hlY2tvdXQvYXZhaWxhYmlsaXR5",
        "%",
        "a,b",
        ",",
        ":",
    ];
    let names = [
        "service",
        "slo",
        "label",
        "data_state",
        "alert_state",
        "limit",
        "cursor",
        "from",
        "to",
        "step",
        "x",
    ];
    let value = prop_oneof![
        3 => proptest::sample::select(good_values.clone()).prop_map(str::to_string),
        1 => any::<String>(),
        1 => "[0-9]{1,12}(\\.[0-9]{1,4})?",
    ];
    let params = proptest::collection::vec(
        (
            proptest::sample::select(names.to_vec()).prop_map(str::to_string),
            value.clone(),
        ),
        0..4,
    );
    let id = prop_oneof![
        3 => proptest::sample::select(IDS.to_vec()).prop_map(enc),
        1 => proptest::sample::select(IDS.to_vec()).prop_map(str::to_string),
        1 => any::<String>().prop_map(|s| enc(&s)),
        1 => "[a-z%/{}\"=0-9A-F.]{0,24}",
    ];
    #[derive(Debug, Clone)]
    enum Op {
        List(Vec<(String, String)>),
        Get(String, Vec<(String, String)>),
        History(String, Vec<(String, String)>),
        Services(Vec<(String, String)>),
        Gate(Vec<(String, String)>),
        Metrics,
        Health,
        Ready,
        Doc,
    }
    let op = prop_oneof![
        4 => params.clone().prop_map(Op::List),
        3 => (id.clone(), params.clone()).prop_map(|(i, p)| Op::Get(i, p)),
        4 => (id, params.clone()).prop_map(|(i, p)| Op::History(i, p)),
        1 => params.clone().prop_map(Op::Services),
        3 => (proptest::sample::select(services.to_vec()), params).prop_map(|(s, mut p)| {
            p.insert(0, ("service".to_string(), s.to_string()));
            Op::Gate(p)
        }),
        1 => Just(Op::Metrics),
        1 => Just(Op::Health),
        1 => Just(Op::Ready),
        1 => Just(Op::Doc),
    ];

    let started = Instant::now();
    let deadline = Duration::from_secs(45);
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        max_shrink_iters: 100,
        ..Config::default()
    });
    let counts = std::cell::RefCell::new(BTreeMap::<u16, usize>::new());
    let result = runner.run(&op, |op| {
        if started.elapsed() > deadline {
            return Ok(()); // Bounded in time: the remaining cases pass without a request.
        }
        let query = |p: &[(String, String)]| {
            let mut s = form_urlencoded::Serializer::new(String::new());
            for (k, v) in p {
                s.append_pair(k, v);
            }
            let q = s.finish();
            if q.is_empty() { q } else { format!("?{q}") }
        };
        let (documented, path) = match &op {
            Op::List(p) => ("GET /api/v1/slos", format!("/api/v1/slos{}", query(p))),
            Op::Get(id, p) => (
                "GET /api/v1/slos/{id}",
                format!("/api/v1/slos/{id}{}", query(p)),
            ),
            Op::History(id, p) => (
                "GET /api/v1/slos/{id}/history",
                format!("/api/v1/slos/{id}/history{}", query(p)),
            ),
            Op::Services(p) => (
                "GET /api/v1/services",
                format!("/api/v1/services{}", query(p)),
            ),
            Op::Gate(p) => ("GET /api/v1/gate", format!("/api/v1/gate{}", query(p))),
            Op::Metrics => ("GET /metrics", "/metrics".to_string()),
            Op::Health => ("GET /healthz", "/healthz".to_string()),
            Op::Ready => ("GET /readyz", "/readyz".to_string()),
            Op::Doc => (
                "GET /api/v1/openapi.json",
                "/api/v1/openapi.json".to_string(),
            ),
        };
        let url = f.url(&path);
        let Ok(parsed) = reqwest::Url::parse(&url) else {
            return Ok(()); // Not a URL a client could send.
        };
        let parsed_path = parsed.path().to_string();
        let reply = rt.block_on(async {
            let resp = f
                .client
                .get(parsed)
                .bearer_auth(READ_TOKEN)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let text = resp.text().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((status, ct, text))
        });
        let (status, ct, text) = reply.map_err(|e| TestCaseError::fail(format!("{path}: {e}")))?;
        // `..` segments are resolved by the client: such a request is no longer about an id.
        let about_id = !matches!(op, Op::Get(..) | Op::History(..))
            || parsed_path.starts_with("/api/v1/slos/");
        *counts.borrow_mut().entry(status).or_default() += 1;
        if status >= 500 {
            return Err(TestCaseError::fail(format!(
                "{path}: HTTP {status}: {text}"
            )));
        }
        // A path that resolves to no documented operation (e.g. `..` segments) must still be a clean 404.
        let key = match (&op, status) {
            (Op::Get(..) | Op::History(..), 404) if ct == "application/problem+json" => {
                (documented.to_string(), 404)
            }
            _ => (documented.to_string(), status),
        };
        if !about_id {
            return Ok(());
        }
        let Some((want_ct, validator)) = responses.get(&key) else {
            return Err(TestCaseError::fail(format!(
                "{path}: HTTP {status} is not documented for {documented}: {text}"
            )));
        };
        if !ct.starts_with(want_ct.as_str()) {
            return Err(TestCaseError::fail(format!(
                "{path}: content type `{ct}`, documented `{want_ct}`"
            )));
        }
        if let Some(v) = validator
            && want_ct.contains("json")
        {
            let body: Value = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{path}: {e}: {text}")))?;
            if let Err(e) = v.validate(&body) {
                return Err(TestCaseError::fail(format!(
                    "{path}: the response breaks the schema: {e}\n{text}"
                )));
            }
        }
        Ok(())
    });
    let counts = counts.into_inner();
    println!(
        "property run: {} requests in {:.1} s, by status: {counts:?}",
        counts.values().sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        counts.get(&200).copied().unwrap_or(0) > 50,
        "too few successful requests: {counts:?}"
    );
    assert!(
        counts.get(&400).copied().unwrap_or(0) > 20,
        "too few refused requests: {counts:?}"
    );
    drop(f);
}

// --------------------------------------------------------------- Grafana --

/// Prometheus scrapes `/metrics` (with the read token), and every query of
/// dashboards/burnrate.json returns data with the variables set to "All".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafana_dashboard_queries_return_data() {
    let mut f = Fixture::start(Options {
        history: false,
        ..Options::default()
    })
    .await;
    let scrape = format!(
        "scrape_configs:\n  - job_name: burnrate\n    scrape_interval: 1s\n    authorization:\n      credentials: {READ_TOKEN}\n    static_configs:\n      - targets: ['{}']\n",
        f.addr
    );
    f.prom.set_config_extra(&scrape).await;
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/dashboards/burnrate.json"
        ))
        .expect("dashboards/burnrate.json"),
    )
    .expect("dashboard JSON");
    let now = || testkit::now_ms() as f64 / 1000.0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = f
            .prom
            .query(
                "up{job=\"burnrate\"} == 1 and on() count(burnrate_slo_objective_ratio) == 6",
                now(),
            )
            .await;
        if !up["result"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape burnrate: {up}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut queries: Vec<String> = Vec::new();
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"]["query"].as_str() {
            // label_values(metric, label) is Grafana's; the metric part is PromQL.
            let inner = q
                .trim_start_matches("label_values(")
                .rsplit_once(',')
                .unwrap()
                .0;
            queries.push(inner.to_string());
        }
    }
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queries.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    assert!(queries.len() > 15, "{queries:?}");
    for q in queries {
        let promql = q.replace("$service", ".+").replace("$slo", ".+");
        let data = f.prom.query(&promql, now()).await;
        assert!(
            !data["result"].as_array().unwrap().is_empty(),
            "no data for `{promql}`"
        );
    }
    // The service variable lists the three services.
    let services = f
        .prom
        .query("count by (service) (burnrate_slo_objective_ratio)", now())
        .await;
    assert_eq!(services["result"].as_array().unwrap().len(), 3);
}

/// A client that opens a connection and never finishes its request headers
/// (slowloris) is disconnected after the header read timeout, while other
/// clients are served; shutdown still completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_finish_their_headers_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/ok", axum::routing::get(|| async { "ok" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(burnrate::serve::http::serve(
        listener,
        router,
        Duration::from_millis(500),
        async {
            let _ = stopped.await;
        },
    ));

    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /ok HTTP/1.1\r\nHost: burnrate\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let body = reqwest::get(format!("http://{addr}/ok"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "ok", "other clients are served");

    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf))
        .await
        .expect("the half-sent request is cut off within 5 s");
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&buf);
    assert!(
        read.is_err() || buf.is_empty() || text.starts_with("HTTP/1.1 408"),
        "closed without serving the request: {read:?} {text:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(400),
        "not before the timeout: {elapsed:?}"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("shutdown completes")
        .unwrap();
}

/// With `--cors-origin`, a browser page from that origin may call the API:
/// the preflight is answered without a token, and answers carry
/// `Access-Control-Allow-Origin`; other origins get no CORS headers, and
/// tokens are still required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_lets_the_configured_origins_in() {
    let f = Fixture::start(Options {
        history: false,
        cors: burnrate::api::CorsOrigins::parse(&["https://dash.example".to_string()]).unwrap(),
        ..Options::default()
    })
    .await;
    let allow_origin = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let preflight = f
        .client
        .request(reqwest::Method::OPTIONS, f.url("/api/v1/slos"))
        .header("Origin", "https://dash.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        allow_origin(&preflight).as_deref(),
        Some("https://dash.example")
    );
    let allowed_headers = preflight
        .headers()
        .get("access-control-allow-headers")
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .unwrap_or_default();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );

    let get = |origin: &'static str, token: Option<&'static str>| {
        let mut req = f.client.get(f.url("/api/v1/slos")).header("Origin", origin);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let ok = get("https://dash.example", Some(READ_TOKEN)).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(allow_origin(&ok).as_deref(), Some("https://dash.example"));
    let no_token = get("https://dash.example", None).await.unwrap();
    assert_eq!(no_token.status(), 401, "CORS does not replace the token");
    let other = get("https://evil.example", Some(READ_TOKEN)).await.unwrap();
    assert_eq!(
        allow_origin(&other),
        None,
        "other origins get no CORS header"
    );
}
