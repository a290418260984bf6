//! The API's contract, as a client we did not write sees it: schemathesis
//! (pinned; `scripts/test.sh` installs it and sets `SCHEMATHESIS_BIN`) runs
//! every phase (examples, coverage, fuzzing, stateful) with every check
//! against a live burnrate on seeded data, with both tokens configured.
//!
//! `BURNRATE_SCHEMATHESIS_EXAMPLES` (default 50 per operation) and
//! `BURNRATE_SCHEMATHESIS_SEED` (default fixed, so a failure reproduces) make
//! a longer or different run: see the README's "API contract".

use std::process::Command;

use serde_json::Value;

use crate::app::{Options, WRITE_TOKEN, fixture_on_runtime};

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

#[test]
fn schemathesis_finds_no_failure_in_any_phase() {
    let bin = testkit::process::find_binary("SCHEMATHESIS_BIN", "st");
    let (rt, f) = fixture_on_runtime(Options::default());
    let doc: Value = serde_json::from_str(&rt.block_on(f.get("/api/v1/openapi.json")).text)
        .expect("the OpenAPI document is JSON");
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();

    let reports = tempfile::tempdir().unwrap();
    let junit = reports.path().join("junit.xml");
    let examples = env_or("BURNRATE_SCHEMATHESIS_EXAMPLES", "50");
    let seed = env_or("BURNRATE_SCHEMATHESIS_SEED", "20261130");
    let out = Command::new(&bin)
        .arg("run")
        .arg(f.url("/api/v1/openapi.json"))
        .args(["--url", &f.url("")])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--checks", "all"])
        .args(["--max-examples", &examples, "--seed", &seed])
        // One worker: hypothesis parses lambdas with `ast`, which is not
        // thread-safe on Python 3.11 ("AST constructor recursion depth
        // mismatch" under two workers).
        .args(["--workers", "1", "--request-timeout", "30"])
        .args(["--header", &format!("Authorization: Bearer {WRITE_TOKEN}")])
        .args(["--generation-database", "none", "--no-color"])
        .args(["--report", "junit", "--report-junit-path"])
        .arg(&junit)
        .env("SCHEMATHESIS_HOOKS", "")
        // Its caches go to the temporary directory, not the checkout.
        .current_dir(reports.path())
        .output()
        .expect("run schemathesis");
    let text = output_text(&out);
    assert!(
        out.status.success(),
        "schemathesis (seed {seed}) reported failures or errors:\n{text}"
    );

    // Every operation was exercised, and none failed: the report, not only
    // the exit code, so a run that tested nothing cannot pass.
    let report = std::fs::read_to_string(&junit).expect("the JUnit report");
    let tested = report.matches("<testcase").count();
    assert!(
        tested >= operations,
        "schemathesis tested {tested} operations of the document's {operations}:\n{text}"
    );
    assert!(
        !report.contains("<failure") && !report.contains("<error"),
        "the report lists failures:\n{report}"
    );
    drop(f);
}

/// A client generated from the document by openapi-python-client (pinned;
/// `OPENAPI_PYTHON_CLIENT_BIN`) lists the SLOs page by page, reads one with
/// its history and asks the gate, decoding every answer into its generated
/// types; what it saw equals what the API answers directly.
#[test]
fn a_generated_python_client_pages_reads_and_asks_the_gate() {
    let generator =
        testkit::process::find_binary("OPENAPI_PYTHON_CLIENT_BIN", "openapi-python-client");
    let python = generator.with_file_name("python");
    let (rt, f) = fixture_on_runtime(Options::default());
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("openapi.json");
    std::fs::write(&doc, rt.block_on(f.get("/api/v1/openapi.json")).text).unwrap();
    let out = Command::new(&generator)
        .args(["generate", "--meta", "none", "--path"])
        .arg(&doc)
        .arg("--output-path")
        .arg(dir.path().join("client"))
        .output()
        .expect("run openapi-python-client");
    assert!(
        out.status.success() && dir.path().join("client/api/slos").is_dir(),
        "openapi-python-client failed:\n{}",
        output_text(&out)
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/generated_client.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(dir.path())
        .arg(f.url(""))
        .arg(crate::app::READ_TOKEN)
        .arg("checkout")
        .output()
        .expect("run the generated client");
    assert!(
        out.status.success(),
        "the generated client failed:\n{}",
        output_text(&out)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).expect("the client's JSON summary");

    // The same questions, asked directly.
    let all = rt.block_on(f.get_ok("/api/v1/slos?limit=1000"));
    let ids: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(ids.len() >= 3, "the fixture has several instances: {all}");
    let seen_ids: Vec<&str> = seen["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(seen_ids, ids, "{seen}");
    assert_eq!(seen["total"], all["total"]);
    assert_eq!(
        seen["pages"].as_u64().unwrap() as usize,
        ids.len().div_ceil(2)
    );
    let first = rt.block_on(f.get_ok(all["items"][0]["href"].as_str().unwrap()));
    assert_eq!(seen["first"]["id"], first["id"]);
    assert_eq!(seen["first"]["objective"], first["objective"]);
    assert_eq!(seen["first"]["data_state"], first["data_state"]);
    let history = rt.block_on(f.get_ok(&format!(
        "{}/history",
        all["items"][0]["href"].as_str().unwrap()
    )));
    assert_eq!(seen["history"]["id"], history["id"]);
    assert_eq!(
        seen["history"]["points"].as_u64().unwrap() as usize,
        history["points"].as_array().unwrap().len()
    );
    assert!(seen["history"]["points"].as_u64().unwrap() > 0, "{seen}");
    let gate = rt.block_on(f.get_ok("/api/v1/gate?service=checkout"));
    assert_eq!(
        seen["gate"]["decision"], gate["decision"],
        "{seen} vs {gate}"
    );
    assert_eq!(seen["gate"]["services"], serde_json::json!(["checkout"]));
    drop(f);
}
