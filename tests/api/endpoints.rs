//! Every endpoint and its error cases, each area on a fixture of its own.

use burnrate::api::ApiSettings;
use percent_encoding::utf8_percent_encode;
use serde_json::Value;

use crate::app::{self, Fixture, IDS, MINUTE, Options, READ_TOKEN, WRITE_TOKEN};
use crate::client::*;

/// Probes are open; everything else needs the read token (or the write token), and no CORS headers without `--cors-origin`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_tokens() {
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
        serde_json::json!({"ready": true, "catalog_loaded": true, "database_reachable": true, "first_evaluation_done": true, "cycles_on_time": true, "shared_statuses_fresh": true})
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
}

/// The list, its filters, cursor pagination, and 400s naming a bad parameter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_filtering_and_paging() {
    let f = Fixture::start(Options::default()).await;
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
}

/// One instance by its id, canonical or unencoded; unknown and bad ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_by_id() {
    let f = Fixture::start(Options::default()).await;
    // ---- one instance, in the canonical and the unencoded form.
    let one = f.get_ok("/api/v1/slos/checkout%2Favailability").await;
    let all = f.get_ok("/api/v1/slos").await;
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
}

/// Evaluation history from PostgreSQL: the burn-down, steps and defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_from_postgresql() {
    let f = Fixture::start(Options::default()).await;
    let grouped = IDS[2];
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
    // What the document allows is answered: a step under 1m is raised to
    // 1m, one giving over 11,000 points is raised to fit, an empty range
    // has no points.
    for (query, step, points) in [
        ("step=0s", "1m", None),
        ("step=30s", "1m", None),
        ("from=0&to=4000000000&step=1m", "4d5h2m", None),
        (
            "from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z",
            "5m",
            Some(0),
        ),
        ("from=1000&to=1000", "5m", Some(0)),
    ] {
        let h = f
            .get_ok(&format!(
                "/api/v1/slos/checkout%2Favailability/history?{query}"
            ))
            .await;
        assert_eq!(h["step"], step, "?{query}: {h}");
        if let Some(n) = points {
            assert_eq!(h["points"].as_array().unwrap().len(), n, "?{query}: {h}");
        }
    }
    for (query, param) in [
        ("step=5x", "step"),
        ("step=", "step"),
        ("step=%205m", "step"),
        ("from=yesterday", "from"),
        ("to=-5", "to"),
        ("to=1e9", "to"),
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
}

/// The per-service roll-up and the release gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_roll_up_and_gate() {
    let f = Fixture::start(Options::default()).await;
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
    // Several services: the conjunction, each service's own decision kept.
    let gate = f
        .get_ok("/api/v1/gate?service=checkout&service=search")
        .await;
    assert_eq!(gate["decision"], "deny", "{gate}");
    assert_eq!(gate["per_service"][0]["decision"], "allow", "{gate}");
    assert_eq!(gate["per_service"][1]["decision"], "deny", "{gate}");
    f.get("/api/v1/gate?service=checkout&service=nope")
        .await
        .problem(404);
    f.get("/api/v1/gate?service=checkout&fresh_after=yesterday")
        .await
        .problem(400);
    // Every one of those decisions is on record.
    let recorded = f.get_ok("/api/v1/gate/decisions?limit=2").await;
    assert_eq!(recorded["items"].as_array().unwrap().len(), 2, "{recorded}");
    assert_eq!(
        recorded["items"][0]["services"],
        serde_json::json!(["checkout", "search"])
    );
    assert!(recorded["next_before"].is_i64(), "{recorded}");
    f.get("/api/v1/gate/decisions?overridden=maybe")
        .await
        .problem(400);
}

/// `/metrics`, checked by `promtool check metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool() {
    let f = Fixture::start(Options::default()).await;
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
        "burnrate_nonfinite_samples_total ",
        "burnrate_catalog_reload_failures_total ",
        "burnrate_untracked_label_sets_total ",
        "burnrate_fenced_writes_total ",
        "burnrate_leases_acquired_total ",
        "burnrate_leases_released_total ",
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
}

/// The OpenAPI document is served, and routing errors are problem documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_and_routing_problems() {
    let f = Fixture::start(Options::default()).await;
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
}

/// Reload: write token only; a broken catalog is refused with every error and a large body with 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_needs_the_write_token() {
    let f = Fixture::start(Options::default()).await;
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
}

/// The same state without tokens: reads open, writes refused (403), never open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tokens_reads_are_open_and_writes_refused() {
    let f = Fixture::start(Options::default()).await;
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
