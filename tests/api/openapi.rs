//! The OpenAPI document: valid, and a property-based run against it finds no 5xx.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::app::{IDS, Options, READ_TOKEN, fixture_on_runtime};
use crate::client::*;

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

    let (rt, f) = fixture_on_runtime(Options::default());
    let doc_text = rt.block_on(f.get("/api/v1/openapi.json")).text;
    let doc: Value = serde_json::from_str(&doc_text).unwrap();
    openapi_spec_validator(&doc_text);

    // Every documented response: status → (content type, validator).
    let mut responses: BTreeMap<(String, u16), (String, Option<jsonschema::Validator>)> =
        BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                // A 304 has no body, so no content.
                let Some((ct, media)) = response
                    .get("content")
                    .and_then(Value::as_object)
                    .and_then(|c| c.iter().next())
                else {
                    continue;
                };
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
        "true",
        "false",
        "0",
        "4000000000",
        "1e400",
        "NaN",
        "Y2hlY2tvdXQvYXZhaWxhYmlsaXR5",
        "%",
        "a,b",
        ",",
        ":",
        "definition",
        "page",
        "search/availability",
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
        "actor",
        "fresh_after",
        "overridden",
        "before",
        "include",
        "severity",
        "state",
        "alert",
        "since",
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
        Decisions(Vec<(String, String)>),
        Alerts(Vec<(String, String)>),
        AlertHistory(Vec<(String, String)>),
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
        1 => params.clone().prop_map(Op::Decisions),
        1 => params.clone().prop_map(Op::Alerts),
        2 => params.clone().prop_map(Op::AlertHistory),
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
            Op::Decisions(p) => (
                "GET /api/v1/gate/decisions",
                format!("/api/v1/gate/decisions{}", query(p)),
            ),
            Op::Alerts(p) => ("GET /api/v1/alerts", format!("/api/v1/alerts{}", query(p))),
            Op::AlertHistory(p) => (
                "GET /api/v1/alerts/history",
                format!("/api/v1/alerts/history{}", query(p)),
            ),
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
