//! `--promql-dialect metricsql`: catalogs written for VictoriaMetrics, whose
//! MetricsQL functions the offline PromQL parser does not know, load with a
//! warning naming each function; without it they are refused, with the
//! option named.

use std::process::{Command, Output};

const FILE: &str = "tests/cli/metricsql/grpc-latency.yml";

fn burnrate(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_burnrate"))
        .args(args)
        .env_remove("BURNRATE_PROMQL_DIALECT")
        .envs(env.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run burnrate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn promql_is_the_default_and_names_the_function_and_the_option() {
    let out = burnrate(&["check", FILE], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("error:"))
        .unwrap_or_else(|| panic!("no error in {stdout}"));
    assert!(line.starts_with(&format!("{FILE}:14:22: error:")), "{line}");
    for fragment in [
        "slos[0].sli.events.error_query",
        "histogram_share",
        "--promql-dialect metricsql",
    ] {
        assert!(line.contains(fragment), "{line}");
    }
    let explicit = burnrate(&["check", "--promql-dialect", "promql", FILE], &[]);
    assert_eq!(explicit.status.code(), Some(1));
}

#[test]
fn metricsql_functions_become_warnings_naming_them() {
    let out = burnrate(&["check", "--promql-dialect", "metricsql", FILE], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let warnings: Vec<&str> = stdout.lines().filter(|l| l.contains("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{stdout}");
    assert!(
        warnings[0].starts_with(&format!("{FILE}:14:22: warning:")),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("`histogram_share` is not a PromQL function"),
        "{}",
        warnings[0]
    );
    // A warning is still a warning: `--strict` refuses the catalog.
    let strict = burnrate(
        &["check", "--strict", "--promql-dialect", "metricsql", FILE],
        &[],
    );
    assert_eq!(strict.status.code(), Some(1), "{}", text(&strict.stdout));
    // The environment sets it as well, as for `serve` in a container.
    let env = burnrate(
        &["check", FILE],
        &[("BURNRATE_PROMQL_DIALECT", "metricsql")],
    );
    assert_eq!(env.status.code(), Some(0), "{}", text(&env.stdout));
}

#[test]
fn convert_keeps_the_metricsql_query_as_written() {
    let refused = burnrate(&["convert", FILE], &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    let out = burnrate(&["convert", "--promql-dialect", "metricsql", FILE], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    assert!(
        yaml.contains("(1 - histogram_share(0.2, sum by (vmrange) (rate(grpc_requests_duration_seconds_bucket{job=\"grpc-api\"}[{{.window}}]))))"),
        "{yaml}"
    );
    assert!(text(&out.stderr).contains("histogram_share"));
}

#[test]
fn an_unknown_dialect_is_refused_with_the_choices() {
    let out = burnrate(&["check", "--promql-dialect", "victoria", FILE], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("`promql` or `metricsql`"), "{stderr}");
}
