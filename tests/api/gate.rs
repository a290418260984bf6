//! The `burnrate gate` command's exit codes against a running server.

use std::process::Command;

use serde_json::Value;

use crate::app::{Fixture, Options, READ_TOKEN};

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
