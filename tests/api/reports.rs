//! Reports: `GET /api/v1/reports` and `burnrate report` on the seeded data,
//! against exact counts from the seeded samples, and against each other.

use std::process::Command;
use std::time::Duration;

use burnrate::report::render::percent;
use chrono::{Datelike, TimeZone, Utc};
use serde_json::{Value, json};
use testkit::synthetic::exact_increase;

use crate::app::{Fixture, MINUTE, Options, READ_TOKEN, WRITE_TOKEN, series_over};

fn report_cli(f: &Fixture, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .arg("report")
        .arg(f.catalog_dir.path())
        .args(args)
        .env("DATABASE_URL", f.db.url())
        .output()
        .expect("run burnrate report");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn api_report(f: &Fixture, query: &str) -> Value {
    let response = f
        .client
        .get(f.url(&format!("/api/v1/reports?{query}")))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .expect("report");
    assert_eq!(response.status(), 200, "{query}");
    let mut report: Value = response.json().await.expect("JSON");
    report["generated_at"] = Value::Null;
    report
}

fn instance<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_match_exact_counts_and_the_command_matches_the_api() {
    let f = Fixture::start(Options {
        history: false,
        ..Options::default()
    })
    .await;
    // A denial to report: search overspends in its last two hours.
    let gate = f
        .client
        .get(f.url("/api/v1/gate?service=search&actor=ci"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .expect("gate");
    assert_eq!(gate.status(), 200);
    // A correction to report, over 20 minutes of checkout.
    let start = Utc.timestamp_millis_opt(f.end - 60 * MINUTE).unwrap();
    let added = f
        .client
        .post(f.url("/api/v1/corrections"))
        .bearer_auth(WRITE_TOKEN)
        .json(
            &json!({"reason": "failover drill", "author": "alice", "service": "checkout",
            "start": start.to_rfc3339(), "duration": "20m"}),
        )
        .send()
        .await
        .expect("correction");
    assert_eq!(added.status(), 201);

    // A fixed span inside what is stored: exact against the seeded samples.
    let (from, to) = (f.end - 150 * MINUTE, f.end - 10 * MINUTE);
    let span = format!("from={}&to={}", from / 1000, to / 1000);
    let report = api_report(&f, &span).await;
    let series = series_over(f.end, 180);
    let search = |get: &dyn Fn(&str) -> String| get("service") == "search";
    let bad = exact_increase(&series, |g| search(g) && g("code") == "500", from, to);
    let total = exact_increase(&series, search, from, to);
    let s = instance(&report, "search/availability");
    assert_eq!(s["total"], json!(total), "{s:#}");
    assert_eq!(s["good"], json!(total - bad), "{s:#}");
    assert_eq!(s["objective_met"], json!(false));
    let spent = bad / (0.001 * total);
    assert!(
        (s["budget_spent"].as_f64().unwrap() - spent).abs() < 1e-9,
        "{s:#}"
    );
    // Its worst hours, worst first, each with its exact counts inside the span.
    let hours = s["worst_hours"].as_array().unwrap();
    assert!(!hours.is_empty(), "{s:#}");
    let mut previous = f64::INFINITY;
    for h in hours {
        let at = chrono::DateTime::parse_from_rfc3339(h["hour"].as_str().unwrap())
            .unwrap()
            .timestamp_millis();
        let (a, b) = (at.max(from), (at + 60 * MINUTE).min(to));
        let exact = exact_increase(&series, |g| search(g) && g("code") == "500", a, b);
        assert_eq!(h["bad"], json!(exact), "{h}");
        assert!(exact <= previous, "{hours:#?}");
        previous = exact;
    }
    // Checkout's 20 corrected minutes are out of its counts and listed.
    let checkout = instance(&report, "checkout/availability");
    let corrected = &checkout["corrections"][0];
    assert_eq!(corrected["reason"], "failover drill");
    assert_eq!(
        (corrected["source"].as_str(), corrected["minutes"].as_f64()),
        (Some("api"), Some(20.0))
    );
    let all = exact_increase(&series, |g| g("service") == "checkout", from, to);
    let cut = exact_increase(
        &series,
        |g| g("service") == "checkout",
        f.end - 60 * MINUTE,
        f.end - 40 * MINUTE,
    );
    assert_eq!(checkout["total"], json!(all - cut), "{checkout:#}");
    assert_eq!(corrected["excluded_total"], json!(cut));
    assert_eq!(
        report["gate_denials"],
        json!([]),
        "the denial came after `to`"
    );

    // The command prints the same document for the same span.
    let (code, out, err) = tokio::task::block_in_place(|| {
        report_cli(
            &f,
            &[
                "--from",
                &(from / 1000).to_string(),
                "--to",
                &(to / 1000).to_string(),
                "--format",
                "json",
            ],
        )
    });
    assert_eq!(code, 0, "{err}");
    let mut printed: Value = serde_json::from_str(&out).expect("JSON");
    printed["generated_at"] = Value::Null;
    assert_eq!(printed, report);

    // `--period` (this month) in Markdown: every row's figures are the API's.
    // Cycles keep ingesting minutes, so compare when two API answers agree.
    let end = Utc.timestamp_millis_opt(f.end).unwrap();
    let period = format!("{:04}-{:02}", end.year(), end.month());
    for attempt in 0.. {
        let before = api_report(&f, &format!("period={period}")).await;
        let (code, markdown, err) =
            tokio::task::block_in_place(|| report_cli(&f, &["--period", &period]));
        assert_eq!(code, 0, "{err}");
        let after = api_report(&f, &format!("period={period}")).await;
        if before != after {
            assert!(attempt < 5, "the data never held still");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        assert!(markdown.starts_with("# SLO report"), "{markdown}");
        // `docs/report-example.md` is this report, written by
        // BURNRATE_EXAMPLE_REPORT=docs/report-example.md bash scripts/test.sh reports
        if let Ok(path) = std::env::var("BURNRATE_EXAMPLE_REPORT") {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            std::fs::write(root.join(path), &markdown).expect("write the example report");
        }
        let rows = before["instances"].as_array().unwrap();
        assert!(rows.len() >= 4, "{before:#}");
        for i in rows {
            let dash = || "–".to_string();
            let row = format!(
                "| `{}` | {} | {} |",
                i["id"].as_str().unwrap(),
                percent(i["objective"].as_f64().unwrap()),
                i["sli"].as_f64().map_or_else(dash, percent),
            );
            assert!(markdown.contains(&row), "{row} not in\n{markdown}");
            let spent = i["budget_spent"].as_f64().map_or_else(dash, percent);
            let line = markdown.lines().find(|l| l.starts_with(&row)).unwrap();
            assert!(line.contains(&format!("| {spent} |")), "{line} vs {spent}");
        }
        let denials = before["gate_denials"].as_array().unwrap();
        assert!(
            denials
                .iter()
                .any(|d| d["services"] == json!(["search"]) && d["actor"] == "ci"),
            "{denials:#?}"
        );
        assert!(markdown.contains("## Release gate denials"), "{markdown}");
        assert!(markdown.contains("| search | ci |"), "{markdown}");
        assert!(markdown.contains("failover drill"), "{markdown}");
        break;
    }

    // A bad period is refused at the parameter; the command says why.
    let bad = f
        .client
        .get(f.url("/api/v1/reports?period=2026-13"))
        .bearer_auth(READ_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let (code, _, err) = tokio::task::block_in_place(|| report_cli(&f, &["--period", "november"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`november` is not a period"), "{err}");
}
