//! The `burnrate gate` command's exit codes against a running server.

use std::process::Command;

use serde_json::Value;

use std::time::{Duration, Instant};

use crate::app::{Fixture, Options, READ_TOKEN, WRITE_TOKEN};

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
                "--timeout",
                "2s",
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
    assert!(doc["attempts"].as_u64().unwrap() > 1, "retried: {doc:#}");
    assert_valid(&schema("schemas/gate.schema.json"), &doc);
}

fn schema(path: &str) -> jsonschema::Validator {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let doc: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    jsonschema::validator_for(&doc).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

/// Several services at once (the conjunction, with per-service reasons); an
/// override with the write token, recorded with its reason and actor and
/// listed at /api/v1/gate/decisions; the read token cannot override; every
/// JSON answer follows schemas/gate.schema.json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_services_overrides_and_recorded_decisions() {
    let f = Fixture::start(Options {
        history: false,
        ..Options::default()
    })
    .await;
    let server = f.url("");
    let dir = tempfile::tempdir().unwrap();
    let (read, write) = (dir.path().join("read"), dir.path().join("write"));
    std::fs::write(&read, READ_TOKEN).unwrap();
    std::fs::write(&write, WRITE_TOKEN).unwrap();
    let gate_schema = schema("schemas/gate.schema.json");
    let run = |token: &std::path::Path, extra: &[&str]| {
        let mut args: Vec<String> = ["--server", server.as_str(), "--token-file"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(token.to_str().unwrap().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        gate_async(args)
    };

    let (code, text) = run(
        &read,
        &[
            "--service",
            "checkout",
            "--service",
            "search",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(code, 1, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_valid(&gate_schema, &doc);
    assert_eq!(doc["services"], serde_json::json!(["checkout", "search"]));
    let per: Vec<(&str, &str)> = doc["per_service"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap(),
                s["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(per, [("checkout", "allow"), ("search", "deny")]);
    assert!(
        doc["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_str().unwrap().starts_with("search/")),
        "only the denying service's reasons: {doc:#}"
    );
    let (code, text) = run(&read, &["--service", "checkout", "--service", "search"]).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("service checkout: allow") && text.contains("service search: deny"),
        "{text}"
    );

    // The read token cannot override: refused at once, not retried for --timeout.
    let started = Instant::now();
    let (code, text) = run(&read, &["--service", "search", "--override", "hotfix"]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("403"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let (code, text) = run(
        &write,
        &[
            "--service",
            "search",
            "--override",
            "INC-42 hotfix, budget spent",
            "--actor",
            "ci-bot",
            "--format",
            "json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_valid(&gate_schema, &doc);
    assert_eq!(doc["decision"], "allow");
    assert_eq!(doc["override"]["overridden"], "deny");
    let id = doc["decision_id"].as_i64().expect("recorded");

    let listed = f
        .client
        .get(f.url("/api/v1/gate/decisions?overridden=true"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed:#}");
    let item = &items[0];
    assert_eq!(item["id"], id);
    assert_eq!(item["override_reason"], "INC-42 hotfix, budget spent");
    assert_eq!(item["actor"], "ci-bot");
    assert_eq!(
        (item["decision"].as_str(), item["gate_decision"].as_str()),
        (Some("allow"), Some("deny"))
    );
    assert_eq!(item["services"], serde_json::json!(["search"]));

    // Every call above that reached a decision is recorded, newest first.
    let all: Value = f
        .client
        .get(f.url("/api/v1/gate/decisions?service=search"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let decisions: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["allow", "deny", "deny"], "{all:#}");
}
