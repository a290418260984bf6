//! `burnrate gate` against a real `burnrate serve` process that is killed
//! and started again while the gate is asking: the gate retries with
//! back-off, waits for an evaluation newer than its call (`--wait-fresh`),
//! and decides within `--timeout`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::DurationRound;
use serde_json::Value;
use testkit::{TestDatabase, TestPrometheus, free_port, now_ms};

use crate::app::{CHECKOUT, MINUTE, series};

fn spawn_serve(
    catalog: &std::path::Path,
    prom: &str,
    db: &str,
    port: u16,
    log: &std::path::Path,
) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .args(["serve", "--catalog"])
        .arg(catalog)
        .args([
            "--prometheus-url",
            prom,
            "--database-url",
            db,
            "--interval",
            "10s",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env_remove("BURNRATE_API_TOKEN")
        .env_remove("BURNRATE_API_READ_TOKEN")
        .env_remove("BURNRATE_API_WRITE_TOKEN")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start burnrate serve")
}

async fn wait_evaluated(client: &reqwest::Client, base: &str, log: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client
            .get(format!("{base}/api/v1/slos/checkout%2Favailability"))
            .send()
            .await
            && let Ok(v) = r.json::<Value>().await
            && v["data_state"] == "ok"
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "burnrate did not evaluate checkout/availability in 60 s:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_decides_within_its_timeout_across_a_restart() {
    let prom = TestPrometheus::start().await;
    let db = TestDatabase::create().await;
    let end = now_ms() / MINUTE * MINUTE - MINUTE;
    prom.remote_write(&series(end)).await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog");
    std::fs::create_dir(&catalog).unwrap();
    std::fs::write(catalog.join("checkout.yaml"), CHECKOUT).unwrap();
    let log = dir.path().join("serve.log");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let mut first = spawn_serve(&catalog, &prom.url(), db.url(), port, &log);
    wait_evaluated(&client, &base, &log).await;
    first.kill().expect("SIGKILL");
    first.wait().expect("reap");

    // The gate starts while nothing listens; burnrate comes back 2 s later.
    let started = Instant::now();
    let gate = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            Command::new(env!("CARGO_BIN_EXE_burnrate"))
                .args(["gate", "--server", &base, "--service", "checkout"])
                .args([
                    "--timeout",
                    "45s",
                    "--wait-fresh",
                    "45s",
                    "--format",
                    "json",
                ])
                .args(["--actor", "restart-test"])
                .env_remove("BURNRATE_API_TOKEN")
                .env_remove("BURNRATE_API_TOKEN_FILE")
                .output()
                .expect("run burnrate gate")
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut second = spawn_serve(&catalog, &prom.url(), db.url(), port, &log);
    let out = gate.await.unwrap();
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = second.kill();
    let _ = second.wait();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}\nserve log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(elapsed < Duration::from_secs(45), "took {elapsed:?}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["decision"], "allow");
    assert!(doc["attempts"].as_u64().unwrap() > 1, "it retried: {doc:#}");
    // Every instance judged was evaluated after the call (evaluations are
    // stamped with their minute, so no earlier than the call's minute).
    let call = chrono::Utc::now() - chrono::Duration::from_std(elapsed).unwrap();
    let minute = call.duration_trunc(chrono::TimeDelta::minutes(1)).unwrap();
    for i in doc["instances"].as_array().unwrap() {
        let at: chrono::DateTime<chrono::Utc> =
            i["evaluated_at"].as_str().unwrap().parse().unwrap();
        assert!(at >= minute, "{i:#}");
    }
}
