//! `burnrate check` diagnostics in the formats CI systems show on a diff:
//! GitHub workflow commands, a GitLab Code Quality report and SARIF 2.1.0.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Component, Path};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use crate::catalog::Diagnostic;
use crate::catalog::diagnostic::Severity;

/// The SARIF rule of each severity: check diagnostics carry no rule code of
/// their own, so a result is told apart by its message and location.
const RULE_ERROR: &str = "catalog-error";
const RULE_WARNING: &str = "catalog-warning";

fn rule(d: &Diagnostic) -> &'static str {
    match d.severity {
        Severity::Error => RULE_ERROR,
        Severity::Warning => RULE_WARNING,
    }
}

/// The message without the location: `SLO `id`: `field`: message`.
fn message(d: &Diagnostic) -> String {
    let mut text = String::new();
    if let Some(slo) = &d.slo {
        let _ = write!(text, "SLO `{slo}`: ");
    }
    if let Some(field) = &d.field {
        let _ = write!(text, "`{field}`: ");
    }
    text.push_str(&d.message);
    text
}

/// A path as CI systems want it: relative to the working directory when it
/// is under it, with `/` separators and no leading `./`.
pub fn report_path(file: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| file.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| file.to_path_buf());
    let parts: Vec<String> = relative
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| match c {
            Component::RootDir => String::new(),
            other => other.as_os_str().to_string_lossy().into_owned(),
        })
        .collect();
    parts.join("/")
}

/// Escapes a workflow command's message as the GitHub runner unescapes it.
pub fn github_escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command property value: the message escapes plus `:` and `,`.
pub fn github_escape_property(text: &str) -> String {
    github_escape_data(text)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

/// One `::error` or `::warning` workflow command per diagnostic.
pub fn github(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let title = match &d.slo {
            Some(slo) => format!("burnrate check: SLO {slo}"),
            None => "burnrate check".to_string(),
        };
        let _ = writeln!(
            out,
            "::{command} file={},line={},col={},title={}::{}",
            github_escape_property(&report_path(&d.file)),
            d.line,
            d.column,
            github_escape_property(&title),
            github_escape_data(&message(d)),
        );
    }
    out
}

/// FNV-1a, 64 bits: a fingerprint that is the same on every machine and release.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The GitLab Code Quality report: a JSON array of Code Climate issues.
/// Fingerprints leave the line out, so an issue that only moved is the same
/// issue to GitLab's comparison; repeats in one file are numbered.
pub fn gitlab(diagnostics: &[Diagnostic]) -> Value {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let issues: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let path = report_path(&d.file);
            let text = message(d);
            let key = format!("{path}\0{}\0{text}", rule(d));
            let n = seen.entry(key.clone()).or_default();
            *n += 1;
            let fingerprint = format!(
                "{:016x}{:016x}",
                fnv1a(key.as_bytes()),
                fnv1a(format!("{key}\0{n}").as_bytes())
            );
            json!({
                "type": "issue",
                "check_name": format!("burnrate/{}", rule(d)),
                "description": text,
                "categories": ["Bug Risk"],
                "severity": match d.severity {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                },
                "fingerprint": fingerprint,
                "location": {
                    "path": path,
                    "lines": { "begin": d.line, "end": d.line },
                },
            })
        })
        .collect();
    Value::Array(issues)
}

/// A Code Quality report whose one issue says that nothing could be checked
/// (located at the repository root, the only path known then).
pub fn gitlab_failure(error: &str) -> Value {
    json!([{
        "type": "issue",
        "check_name": "burnrate/cannot-run",
        "description": format!("burnrate check could not run: {error}"),
        "categories": ["Bug Risk"],
        "severity": "blocker",
        "fingerprint": format!("{:016x}", fnv1a(error.as_bytes())),
        "location": { "path": ".", "lines": { "begin": 1 } },
    }])
}

/// What a relative SARIF `uri` may hold unescaped (RFC 3986 path characters).
const URI_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A SARIF 2.1.0 log with one run of `burnrate check`; `failure` is why
/// the run could not check anything (its invocation then failed).
pub fn sarif(diagnostics: &[Diagnostic], failure: Option<&str>) -> Value {
    let results: Vec<Value> = diagnostics
        .iter()
        .map(|d| {
            let uri = utf8_percent_encode(&report_path(&d.file), URI_PATH).to_string();
            let mut result = json!({
                "ruleId": rule(d),
                "ruleIndex": if d.is_error() { 0 } else { 1 },
                "level": match d.severity {
                    Severity::Error => "error",
                    Severity::Warning => "warning",
                },
                "message": { "text": message(d) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri },
                        "region": { "startLine": d.line, "startColumn": d.column },
                    }
                }],
            });
            if d.slo.is_some() || d.field.is_some() {
                result["properties"] = json!({ "slo": d.slo, "field": d.field });
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "burnrate",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": [
                        {
                            "id": RULE_ERROR,
                            "shortDescription": { "text": "An SLO catalog error: the catalog is refused" },
                            "defaultConfiguration": { "level": "error" },
                        },
                        {
                            "id": RULE_WARNING,
                            "shortDescription": { "text": "An SLO catalog warning" },
                            "defaultConfiguration": { "level": "warning" },
                        },
                    ],
                }
            },
            "invocations": [invocation(failure)],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

fn invocation(failure: Option<&str>) -> Value {
    match failure {
        None => json!({ "executionSuccessful": true }),
        Some(error) => json!({
            "executionSuccessful": false,
            "toolExecutionNotifications": [{
                "level": "error",
                "message": { "text": error },
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_escapes_as_the_runner_unescapes() {
        assert_eq!(github_escape_data("50%\r\nnext"), "50%25%0D%0Anext");
        assert_eq!(github_escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn paths_are_relative_with_slashes() {
        assert_eq!(report_path(Path::new("./a/b.yaml")), "a/b.yaml");
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(report_path(&cwd.join("x").join("y.yml")), "x/y.yml");
    }

    #[test]
    fn fingerprints_differ_for_repeats() {
        let d = Diagnostic::error(Path::new("a.yaml"), Default::default(), "m");
        let report = gitlab(&[d.clone(), d]);
        assert_ne!(report[0]["fingerprint"], report[1]["fingerprint"]);
    }
}
