//! `burnrate check` as CI runs it: the real binary, real files, exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn burnrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run burnrate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn example_catalog_is_valid() {
    let out = burnrate(&["check", "slo-definitions"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out).trim(), "6 valid SLOs in 4 files: ok");
}

#[test]
fn default_path_is_slo_definitions() {
    let out = burnrate(&["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// Every deliberate problem in tests/check-fixtures, each at its own line, all in one run:
/// an SLO with a broken field is still checked as a whole (its window against its alert tiers).
#[test]
fn broken_catalog_reports_every_problem_at_its_line() {
    let out = burnrate(&[
        "check",
        "tests/check-fixtures/broken",
        "tests/check-fixtures/dup",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let expected: &[(&str, &str, &str)] = &[
        (
            "broken/header.yml",
            "1:1",
            "expected a `version: burnrate/v1` header",
        ),
        (
            "broken/header.yml",
            "4:10",
            "unsupported version `burnrate/v2`",
        ),
        ("broken/header.yml", "8:7", "unknown kind `Dashboard`"),
        (
            "broken/semantic.yaml",
            "4:3",
            "`1team` is not a valid label name",
        ),
        (
            "broken/semantic.yaml",
            "7:5",
            "unknown field `objetive`; did you mean `objective`?",
        ),
        (
            "broken/semantic.yaml",
            "8:16",
            "strictly between 0 and 100 percent, found `100.5`",
        ),
        ("broken/semantic.yaml", "9:13", "found `30days`"),
        (
            "broken/semantic.yaml",
            "12:17",
            "`slos[0].indicator.ratio.errors`: invalid PromQL",
        ),
        (
            "broken/semantic.yaml",
            "13:16",
            "expected a series selector",
        ),
        (
            "broken/semantic.yaml",
            "16:13",
            "SLO window (2d) is shorter than its longest alert window (3d)",
        ),
        (
            "broken/semantic.yaml",
            "20:20",
            "`-300ms` is not a duration",
        ),
        (
            "broken/semantic.yaml",
            "21:11",
            "`Bad Name` is not a valid name",
        ),
        ("broken/semantic.yaml", "22:16", "found `ninety-nine`"),
        (
            "broken/semantic.yaml",
            "24:19",
            "missing required field `metric`",
        ),
        (
            "broken/semantic.yaml",
            "28:23",
            "`9lives` is not a valid label name",
        ),
        (
            "broken/semantic.yaml",
            "31:14",
            "must use the `{{.window}}` placeholder",
        ),
        (
            "broken/semantic.yaml",
            "32:16",
            "invalid PromQL: unclosed left parenthesis",
        ),
        (
            "broken/semantic.yaml",
            "35:9",
            "short window (2h) must be shorter than the long window (1h)",
        ),
        ("broken/semantic.yaml", "37:9", "a new tier needs"),
        (
            "broken/semantic.yaml",
            "38:21",
            "expected `page` or `ticket`, found `sev1`",
        ),
        (
            "broken/semantic.yaml",
            "39:22",
            "burn rate must be greater than zero",
        ),
        ("broken/semantic.yaml", "41:29", "found `lots`"),
        ("broken/semantic.yaml", "42:19", "found `maybe`"),
        (
            "broken/semantic.yaml",
            "45:13",
            "SLO window (2d) is shorter than its longest alert window (3d)",
        ),
        (
            "broken/semantic.yaml",
            "50:9",
            "short window (2h) must be shorter than the long window (1h)",
        ),
        ("broken/syntax.yaml", "6:34", "YAML syntax error"),
        (
            "dup/b.yaml",
            "8:5",
            "duplicate SLO id `cart/availability`: already defined at tests/check-fixtures/dup/a.yaml:4",
        ),
    ];
    let lines: Vec<&str> = text.lines().collect();
    for (file, at, message) in expected {
        let prefix = format!("tests/check-fixtures/{file}:{at}: error: ");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(message)),
            "missing `{prefix}... {message}` in:\n{text}"
        );
    }
    assert_eq!(
        lines.len(),
        expected.len() + 1,
        "unexpected extra diagnostics:\n{text}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("2 valid SLOs in 5 files: 27 errors")
    );
}

#[test]
fn slo_context_is_named() {
    let out = burnrate(&["check", "tests/check-fixtures/broken/semantic.yaml"]);
    let text = stdout(&out);
    assert!(
        text.contains("8:16: error: SLO `shop/availability`: `slos[0].objective`: "),
        "{text}"
    );
}

#[test]
fn json_format_for_tools() {
    let out = burnrate(&["check", "--format", "json", "tests/check-fixtures/dup"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(report["ok"], false);
    assert_eq!(report["errors"], 1);
    assert_eq!(report["files"], 2);
    let d = &report["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(8), Some(5))
    );
    assert_eq!(d["slo"], "cart/availability");
    assert_eq!(d["severity"], "error");
    assert!(Path::new(d["file"].as_str().unwrap()).ends_with("dup/b.yaml"));

    let ok = burnrate(&["check", "--format", "json", "slo-definitions"]);
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("valid JSON");
    assert_eq!(report["ok"], true);
    assert_eq!(report["slo_ids"].as_array().map(Vec::len), Some(6));
}

#[test]
fn unreadable_path_cannot_run() {
    let out = burnrate(&["check", "does/not/exist"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("does/not/exist: no such file or directory"));
    let json = burnrate(&["check", "--format", "json", "does/not/exist"]);
    assert_eq!(json.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert_eq!(report["ok"], false);
}

#[test]
fn help_describes_every_subcommand() {
    let out = burnrate(&["check", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("Exit status: 0 when the catalog is valid"),
        "{text}"
    );
    assert!(text.contains("--format"));
}

#[test]
fn convert_prints_a_catalog_that_checks_clean() {
    let out = burnrate(&["convert", "../shared/fixtures/external/pyrra"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("converted.yaml");
    std::fs::write(&file, &out.stdout).expect("write");
    let check = burnrate(&["check", file.to_str().expect("utf-8 path")]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert_eq!(stdout(&check).trim(), "7 valid SLOs in 1 file: ok");
}

#[test]
fn convert_refuses_what_it_cannot_honour() {
    let out = burnrate(&[
        "convert",
        "../shared/fixtures/external/sloth/raw-home-wifi.yml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing may be printed to stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("raw-home-wifi.yml:28:"), "{err}");
}
