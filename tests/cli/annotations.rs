//! `burnrate check --format github|gitlab|sarif|json`: the outputs CI systems
//! read, checked the way those systems read them (the workflow command
//! syntax the GitHub runner parses, the vendored SARIF 2.1.0 schema, the Code
//! Quality format GitLab documents, the published check schema), and
//! `--changed-from` on a real git repository.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const FIXTURES: [&str; 2] = ["tests/check-fixtures/broken", "tests/check-fixtures/dup"];

fn burnrate_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run burnrate")
}

fn burnrate(args: &[&str]) -> Output {
    burnrate_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn check(format: &str) -> Output {
    let mut args = vec!["check", "--format", format];
    args.extend(FIXTURES);
    burnrate(&args)
}

pub fn validator(path: &str) -> jsonschema::Validator {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let schema: Value = serde_json::from_slice(&std::fs::read(&file).expect("schema file"))
        .expect("schema is JSON");
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn assert_valid(validator: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{doc:#}");
}

/// A workflow command as the GitHub runner parses one (`::name k=v,k=v::data`),
/// with its escapes undone; None when the line is not a command.
fn parse_workflow_command(line: &str) -> Option<(String, BTreeMap<String, String>, String)> {
    fn unescape(s: &str, property: bool) -> String {
        let mut s = s.replace("%0D", "\r").replace("%0A", "\n");
        if property {
            s = s.replace("%3A", ":").replace("%2C", ",");
        }
        s.replace("%25", "%")
    }
    let rest = line.strip_prefix("::")?;
    let end = rest.find("::")?;
    let (head, data) = (&rest[..end], &rest[end + 2..]);
    let (name, props) = head.split_once(' ').unwrap_or((head, ""));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let mut properties = BTreeMap::new();
    for pair in props.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=')?;
        // A raw `:` or `,` in a value would have ended the command or split the pair.
        assert!(!v.contains(':'), "unescaped `:` in {line}");
        properties.insert(k.to_string(), unescape(v, true));
    }
    Some((name.to_string(), properties, unescape(data, false)))
}

#[test]
fn github_lines_are_workflow_commands_on_the_right_lines() {
    let out = check("github");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (summary, commands) = lines.split_last().unwrap();
    assert!(summary.contains("errors"), "{summary}");
    let json: Value = serde_json::from_slice(&check("json").stdout).unwrap();
    let diagnostics = json["diagnostics"].as_array().unwrap();
    assert_eq!(commands.len(), diagnostics.len());
    for (line, d) in commands.iter().zip(diagnostics) {
        let (name, props, message) =
            parse_workflow_command(line).unwrap_or_else(|| panic!("not a command: {line}"));
        assert_eq!(name, d["severity"].as_str().unwrap(), "{line}");
        assert_eq!(props["file"], d["file"].as_str().unwrap(), "{line}");
        assert_eq!(props["line"], d["line"].to_string(), "{line}");
        assert_eq!(props["col"], d["column"].to_string(), "{line}");
        assert!(props["title"].starts_with("burnrate check"), "{line}");
        assert!(message.ends_with(d["message"].as_str().unwrap()), "{line}");
    }
    // The duplicate id's message holds `a.yaml:4`: the colon survives the round trip.
    assert!(
        commands
            .iter()
            .any(|l| l.contains("duplicate SLO id") && l.contains("a.yaml:4"))
    );
}

#[test]
fn github_escapes_survive_the_runner_parse() {
    let dir = tempfile::tempdir().unwrap();
    let name = "odd,name:100%.yaml";
    std::fs::write(
        dir.path().join(name),
        "version: burnrate/v1\nservice: a\nslos:\n  - name: x\n    objective: 150\n",
    )
    .unwrap();
    let out = burnrate_in(dir.path(), &["check", "--format", "github", "."]);
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    let (_, props, _) = parse_workflow_command(first).expect(first);
    assert_eq!(props["file"], name, "{first}");
}

#[test]
fn gitlab_report_follows_the_code_quality_format() {
    let out = check("gitlab");
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let schema = validator("tests/schemas/gitlab/codequality.schema.json");
    assert_valid(&schema, &report, "gitlab report");
    let issues = report.as_array().unwrap();
    assert!(issues.len() >= 5);
    let fingerprints: std::collections::HashSet<&str> = issues
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(fingerprints.len(), issues.len(), "fingerprints are unique");
    let dup = issues
        .iter()
        .find(|i| i["description"].as_str().unwrap().contains("duplicate"))
        .unwrap();
    assert_eq!(dup["location"]["path"], "tests/check-fixtures/dup/b.yaml");
    assert_eq!(dup["location"]["lines"]["begin"], 8);
    // The schema has teeth: an issue without a fingerprint is refused.
    let mut broken = report.clone();
    broken[0].as_object_mut().unwrap().remove("fingerprint");
    assert!(!schema.is_valid(&broken));

    let clean = burnrate(&["check", "--format", "gitlab", "slo-definitions"]);
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(
        serde_json::from_slice::<Value>(&clean.stdout).unwrap(),
        Value::Array(vec![])
    );
    let missing = burnrate(&["check", "--format", "gitlab", "does/not/exist"]);
    assert_eq!(missing.status.code(), Some(2));
    assert_valid(
        &schema,
        &serde_json::from_slice(&missing.stdout).unwrap(),
        "cannot-run report",
    );
}

#[test]
fn sarif_log_validates_against_the_oasis_schema() {
    let schema = validator("tests/schemas/sarif/sarif-schema-2.1.0.json");
    let out = check("sarif");
    assert_eq!(out.status.code(), Some(1));
    let log: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_valid(&schema, &log, "sarif log");
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    let dup = results
        .iter()
        .find(|r| r["message"]["text"].as_str().unwrap().contains("duplicate"))
        .unwrap();
    let location = &dup["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "tests/check-fixtures/dup/b.yaml"
    );
    assert_eq!(location["region"]["startLine"], 8);
    assert_eq!(location["region"]["startColumn"], 5);
    assert_eq!(dup["level"], "error");
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!schema.is_valid(&broken), "the schema has teeth");

    let missing = burnrate(&["check", "--format", "sarif", "does/not/exist"]);
    assert_eq!(missing.status.code(), Some(2));
    let log: Value = serde_json::from_slice(&missing.stdout).unwrap();
    assert_valid(&schema, &log, "cannot-run log");
    assert_eq!(
        log["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
}

#[test]
fn json_report_follows_the_published_schema() {
    let schema = validator("schemas/check.schema.json");
    for args in [
        &["check", "--format", "json", FIXTURES[0], FIXTURES[1]][..],
        &["check", "--format", "json", "slo-definitions"],
        &["check", "--format", "json", "does/not/exist"],
    ] {
        let out = burnrate(args);
        let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_valid(&schema, &doc, &args.join(" "));
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

const SLO: &str = "version: burnrate/v1\nservice: cart\nslos:\n  - name: {name}\n    objective: {objective}\n    indicator:\n      bool_gauge: {metric: up}\n";

fn slo(name: &str, objective: &str) -> String {
    SLO.replace("{name}", name)
        .replace("{objective}", objective)
}

/// Only changed files are reported, but a new file that repeats an id of an
/// unchanged one is still caught, wherever the loader places the report.
#[test]
fn changed_from_reports_only_changed_files_with_the_whole_catalog_in_view() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::create_dir(dir.join("slos")).unwrap();
    std::fs::write(dir.join("slos/a-old.yaml"), slo("availability", "150")).unwrap();
    std::fs::write(dir.join("slos/m-kept.yaml"), slo("latency", "99")).unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "base"]);

    let base = burnrate_in(dir, &["check", "--changed-from", "HEAD", "slos"]);
    assert_eq!(base.status.code(), Some(0), "{base:?}");

    // A new file: broken itself, and repeating the id `cart/latency` of an unchanged file.
    std::fs::write(dir.join("slos/b-new.yaml"), slo("latency", "101")).unwrap();
    std::fs::write(dir.join("slos/z-new.yaml"), slo("errors", "200")).unwrap();
    let out = burnrate_in(
        dir,
        &[
            "check",
            "--format",
            "json",
            "--changed-from",
            "HEAD",
            "slos",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap())
        .collect();
    assert!(
        files.iter().all(|f| !f.ends_with("a-old.yaml")),
        "unchanged a-old.yaml is not reported: {files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with("z-new.yaml")), "{files:?}");
    let messages = report["diagnostics"].to_string();
    assert!(
        messages.contains("duplicate SLO id `cart/latency`"),
        "{report:#}"
    );
    assert_eq!(report["reported_files"], 2);
    assert_valid(&validator("schemas/check.schema.json"), &report, "changed");

    let bad = burnrate_in(dir, &["check", "--changed-from", "no-such-ref", "slos"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("no-such-ref"));
}
