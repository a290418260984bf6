//! `ci/burnrate-ci.sh`, the script behind `action.yml` and the GitLab
//! template, run the way those run it: settings in `BURNRATE_*` variables,
//! the built `burnrate` on PATH.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use super::{path_with_burnrate, repo, text};

fn ci(mode: &str, dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(repo().join("ci/burnrate-ci.sh"))
        .arg(mode)
        .current_dir(dir)
        .env("PATH", path_with_burnrate());
    for (k, _) in std::env::vars() {
        if k.starts_with("BURNRATE_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run ci/burnrate-ci.sh")
}

#[test]
fn check_mode_annotates_for_github() {
    let out = ci(
        "check",
        repo(),
        &[
            ("BURNRATE_PATHS", "tests/check-fixtures/dup"),
            ("BURNRATE_FORMAT", "github"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l
                .starts_with("::error file=tests/check-fixtures/dup/b.yaml,line=8,col=5,title=")),
        "{stdout}"
    );
    let clean = ci("check", repo(), &[("BURNRATE_FORMAT", "github")]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
}

#[test]
fn check_mode_writes_the_gitlab_report_and_logs_text() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("gl-code-quality-report.json");
    let out = ci(
        "check",
        repo(),
        &[
            ("BURNRATE_PATHS", "tests/check-fixtures/dup slo-definitions"),
            ("BURNRATE_FORMAT", "gitlab"),
            ("BURNRATE_REPORT", report.to_str().unwrap()),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(doc.as_array().unwrap().len(), 1, "{doc:#}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("tests/check-fixtures/dup/b.yaml:8:5: error:"),
        "the log has the text form: {}",
        text(&out)
    );
}

#[test]
fn check_mode_reports_only_changed_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    super::git(d, &["init", "-q"]);
    std::fs::create_dir(d.join("slos")).unwrap();
    let slo = |objective: &str| {
        format!(
            "version: burnrate/v1\nservice: s\nslos:\n  - name: a\n    objective: {objective}\n    indicator:\n      bool_gauge: {{metric: up}}\n"
        )
    };
    std::fs::write(d.join("slos/old.yaml"), slo("200")).unwrap();
    super::git(d, &["add", "."]);
    super::git(d, &["commit", "-q", "-m", "base"]);
    let env = [
        ("BURNRATE_PATHS", "slos"),
        ("BURNRATE_FORMAT", "github"),
        ("BURNRATE_CHANGED_FROM", "HEAD"),
    ];
    let out = ci("check", d, &env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the broken file is unchanged: {}",
        text(&out)
    );
    std::fs::write(d.join("slos/old.yaml"), slo("300")).unwrap();
    let out = ci("check", d, &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("::error file=slos/old.yaml,line=5"));
}

#[test]
fn usage_errors_exit_64() {
    for (mode, env) in [
        ("bogus", vec![]),
        ("check", vec![("BURNRATE_FORMAT", "xml")]),
        ("gate", vec![("BURNRATE_SERVICES", "checkout")]),
        ("gate", vec![("BURNRATE_SERVER", "http://127.0.0.1:1")]),
        (
            "gate",
            vec![
                ("BURNRATE_SERVER", "http://127.0.0.1:1"),
                ("BURNRATE_SERVICES", "a"),
                ("BURNRATE_FAIL_OPEN", "maybe"),
            ],
        ),
    ] {
        let out = ci(mode, repo(), &env);
        assert_eq!(
            out.status.code(),
            Some(64),
            "{mode} {env:?}: {}",
            text(&out)
        );
    }
}

/// Gate mode turns its variables into flags: against a closed port it
/// retries within BURNRATE_TIMEOUT and cannot decide (2), or passes with
/// BURNRATE_FAIL_OPEN; the JSON names every service.
#[test]
fn gate_mode_passes_every_setting() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let server = format!("http://{closed}");
    let base = [
        ("BURNRATE_SERVER", server.as_str()),
        ("BURNRATE_SERVICES", "checkout  payments"),
        ("BURNRATE_TIMEOUT", "1s"),
        ("BURNRATE_WAIT_FRESH", "1s"),
        ("BURNRATE_ACTOR", "ci-user"),
        ("BURNRATE_GATE_FORMAT", "json"),
    ];
    let out = ci("gate", repo(), &base);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["services"], serde_json::json!(["checkout", "payments"]));
    assert!(doc["attempts"].as_u64().unwrap() >= 2, "{doc:#}");
    let mut open = base.to_vec();
    open.push(("BURNRATE_FAIL_OPEN", "true"));
    let out = ci("gate", repo(), &open);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
