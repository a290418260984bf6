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
    // The gate describes its own output, not check's file:line:column lines.
    let gate = stdout(&burnrate(&["gate", "--help"]));
    assert!(gate.contains("each SLO instance's"), "{gate}");
    assert!(!gate.contains("file:line"), "{gate}");
    let check = stdout(&burnrate(&["check", "--help"]));
    for format in ["github", "gitlab", "sarif", "--changed-from"] {
        assert!(check.contains(format), "{check}");
    }
}

#[test]
fn upstream_convert_prints_a_catalog_that_checks_clean() {
    let pyrra = testkit::upstream::fixture("pyrra");
    let out = burnrate(&["convert", pyrra.to_str().expect("utf-8 path")]);
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
fn upstream_convert_refuses_what_it_cannot_honour() {
    let file = testkit::upstream::fixture("sloth/windows-7d.yaml");
    let out = burnrate(&["convert", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing may be printed to stdout");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("windows-7d.yaml:2:"), "{err}");
}

/// What `burnrate check` may take on the worst input a user can send it:
/// CPU seconds (user and system), which a loaded machine does not inflate
/// as it does wall time; a generous wall limit still catches a hang. The
/// bound is for unbounded work (a billion laughs expands to 10^10 nodes),
/// not for speed, which `benches/catalog_load.rs` measures: the test build
/// is unoptimised, and machines of the same kind differ up to four times in
/// CPU time for the same work (`long.yaml` took 6.4 to 6.6 s on a quiet
/// one, over the 5 s this bound was before).
const MAX_SECONDS: f64 = 20.0;
const MAX_WALL_SECONDS: f64 = 60.0;
const MAX_RSS_MB: i64 = 300;

fn children_usage() -> libc::rusage {
    // SAFETY: getrusage only writes the struct it is given.
    unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    }
}

/// CPU seconds used by the child processes that have ended so far.
fn children_cpu_seconds() -> f64 {
    let u = children_usage();
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// The largest resident set of any child process that has ended so far, in MB.
fn peak_child_rss_mb() -> i64 {
    // Linux reports kilobytes.
    children_usage().ru_maxrss / 1024
}

/// Checks `path` (a file or directory in a temporary directory), requiring
/// exit code 1, every `expected` message on a line naming `file`, and the
/// time and memory bounds.
fn check_refuses(path: &Path, file: &Path, expected: &[&str]) {
    let (start, cpu_before) = (std::time::Instant::now(), children_cpu_seconds());
    let out = burnrate(&["check", path.to_str().expect("UTF-8 temp path")]);
    let wall = start.elapsed().as_secs_f64();
    let seconds = children_cpu_seconds() - cpu_before;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for message in expected {
        let prefix = format!("{}:", file.display());
        assert!(
            text.lines()
                .any(|l| l.starts_with(&prefix) && l.contains(message)),
            "missing `{prefix}… {message}` in:\n{text}"
        );
    }
    assert!(
        wall < MAX_WALL_SECONDS,
        "{} took {wall:.1} s of wall time",
        file.display()
    );
    assert!(
        seconds < MAX_SECONDS,
        "{} took {seconds:.1} s of CPU",
        file.display()
    );
    let rss = peak_child_rss_mb();
    assert!(rss < MAX_RSS_MB, "{} peaked at {rss} MB", file.display());
}

/// One file, written into a fresh temporary directory and checked.
fn check_file_refuses(name: &str, content: &[u8], expected: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(name);
    std::fs::write(&file, content).expect("write fixture");
    check_refuses(&file, &file, expected);
}

#[test]
fn hostile_yaml_is_refused_quickly_and_in_bounded_memory() {
    // 400 KB of `- - - …`: overflowed the stack (exit 134) before nesting was bounded.
    check_file_refuses(
        "deep.yaml",
        "- ".repeat(200_000).as_bytes(),
        &["1:129: error: YAML nested more than 64 levels deep"],
    );
    check_file_refuses(
        "deep-flow.yaml",
        format!("{}{}", "{a: ".repeat(10_000), "}".repeat(10_000)).as_bytes(),
        &["nested more than 64 levels deep"],
    );
    // Billion laughs: ten aliases of ten aliases of … of one scalar.
    let laughs = testkit::hostile::alias_levels("a", "lol", 10, |refs| format!("[{refs}]"));
    check_file_refuses(
        "laughs.yaml",
        laughs.as_bytes(),
        &["more than 1000000 YAML nodes"],
    );
    // ~500 bytes of aliases used as mapping keys: past 1.5 GB before keys were counted.
    let keys = testkit::hostile::alias_levels("l", "x", 9, |refs| format!("{{? [{refs}] : 0}}"));
    check_file_refuses(
        "keys.yaml",
        keys.as_bytes(),
        &["2:12: error: YAML syntax error: mapping keys must be plain strings"],
    );
    // One long scalar copied by aliases: few nodes, much text.
    let text = format!(
        "a: &a {}\nb: [{}]\n",
        "x".repeat(400 << 10),
        vec!["*a"; 100].join(", ")
    );
    check_file_refuses("text.yaml", text.as_bytes(), &["more than 32 MiB of text"]);
    // 9 MB list in one flow collection that could be a key: the parser holds all of it.
    let flow = format!("- [{}x]\n", "x, ".repeat(3_000_000));
    check_file_refuses(
        "flow.yaml",
        flow.as_bytes(),
        &["more than 512 KiB of YAML after this point"],
    );
    // A block list of 2.5 million items: within the size limit, past the node limit.
    check_file_refuses(
        "long.yaml",
        "- a\n".repeat(2_500_000).as_bytes(),
        &["1000000:3: error: the file expands to more than 1000000 YAML nodes"],
    );
}

#[test]
fn many_broken_slos_take_linear_time() {
    // 20,000 SLOs with three errors each: counting the errors anew after
    // every SLO made this quadratic (minutes at 100,000).
    let mut source = String::from("version: burnrate/v1\nservice: shop\nslos:\n");
    for i in 0..20_000 {
        source += &format!("  - name: slo-{i}\n    objetive: 99.9\n");
    }
    check_file_refuses(
        "many.yaml",
        source.as_bytes(),
        &[
            "5:5: error: SLO `shop/slo-0`: `slos[0].objetive`: unknown field `objetive`; did you mean `objective`?",
        ],
    );
}

#[test]
fn files_that_are_not_catalog_text_are_named() {
    // 200 MB, sparse: refused from its length without being read.
    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big.yaml");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(200 << 20))
        .expect("sparse file");
    check_refuses(
        &big,
        &big,
        &["1:1: error: the file is larger than 10 MiB (200 MiB)"],
    );
    check_file_refuses(
        "binary.yaml",
        b"version: burnrate/v1\nservice: a\0b\n",
        &["2:11: error: a NUL byte (a binary file, or text in UTF-16?) at byte offset 31"],
    );
    check_file_refuses(
        "latin1.yaml",
        b"version: burnrate/v1\nservice: caf\xe9\n",
        &["2:13: error: not UTF-8 text at byte offset 33"],
    );
}

#[cfg(unix)]
#[test]
fn symbolic_link_loops_are_reported() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = dir.path().join("catalog");
    std::fs::create_dir_all(catalog.join("team")).expect("mkdir");
    symlink(&catalog, catalog.join("team/up")).expect("symlink");
    symlink("self.yaml", catalog.join("self.yaml")).expect("symlink");
    check_refuses(&catalog, &catalog.join("team/up"), &["symbolic link loop"]);
    check_refuses(
        &catalog,
        &catalog.join("self.yaml"),
        &["cannot follow the symbolic link"],
    );
}

#[test]
fn windows_durations_and_objectives_are_bounded_in_every_format() {
    let native = r#"version: burnrate/v1
service: shop
slos:
  - name: availability
    objective: 99.123456789
    window: 100000000y
    indicator:
      ratio:
        errors: http_requests_total{code=~"5.."}
        total: http_requests_total
    alerting:
      for: 99999999999999999999y
"#;
    check_file_refuses(
        "native.yaml",
        native.as_bytes(),
        &[
            "5:16: error: SLO `shop/availability`: `slos[0].objective`: `99.123456789` has more precision than supported (at most 7 decimal places of percent)",
            "6:13: error: SLO `shop/availability`: `slos[0].window`: `100000000y` is longer than 1825d (5y)",
            "12:12: error: SLO `shop/availability`: `slos[0].alerting.for`: `99999999999999999999y` is longer than 1825d",
        ],
    );
    let pyrra = r#"apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {name: api, namespace: shop}
spec:
  target: "99.5"
  window: 6y
  indicator:
    ratio:
      errors: {metric: 'http_requests_total{code=~"5.."}'}
      total: {metric: http_requests_total}
"#;
    check_file_refuses(
        "pyrra.yaml",
        pyrra.as_bytes(),
        &["6:11: error: SLO `shop/api`: `spec.window`: `6y` is longer than 1825d"],
    );
    // The days once overflowed a multiplication (a panic in debug builds).
    let openslo = r#"apiVersion: openslo/v1
kind: SLO
metadata: {name: api}
spec:
  service: shop
  budgetingMethod: Occurrences
  indicator:
    metadata: {name: api-errors}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{code=~"5.."}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: http_requests_total}}}
  timeWindow:
    - duration: 99999999999999999d
      isRolling: true
  objectives:
    - target: 0.99999999999
"#;
    check_file_refuses(
        "openslo.yaml",
        openslo.as_bytes(),
        &[
            "15:17: error: SLO `shop/api`: `spec.timeWindow[0].duration`: `99999999999999999d` is longer than 1825d",
            "18:15: error: SLO `shop/api`: `spec.objectives[0].target`: `0.99999999999` has more precision than supported (at most 9 decimal places of a ratio)",
        ],
    );
}
