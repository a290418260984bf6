//! `.pre-commit-hooks.yaml` under the real pre-commit (pinned, installed by
//! scripts/test.sh into target/tools and named by `PRE_COMMIT_BIN`): a
//! broken SLO file fails the commit with its file and line; fixed, it passes.

use std::path::Path;
use std::process::{Command, Output};

use super::{git, path_with_burnrate, repo, text};

const GOOD: &str = "version: burnrate/v1\nservice: cart\nslos:\n  - name: availability\n    objective: 99.9\n    indicator:\n      bool_gauge: {metric: up}\n";

fn pre_commit(dir: &Path, home: &Path, args: &[&str]) -> Output {
    let bin = testkit::process::find_binary("PRE_COMMIT_BIN", "pre-commit");
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("PATH", path_with_burnrate())
        .env("PRE_COMMIT_HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .expect("run pre-commit")
}

#[test]
fn hook_fails_on_a_broken_slo_file_and_passes_once_fixed() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("pre-commit-home");

    // The hooks repository: this repository's manifest, committed, so
    // pre-commit clones it by path and revision as it would from a host.
    let hooks = tmp.path().join("hooks");
    std::fs::create_dir(&hooks).unwrap();
    git(&hooks, &["init", "-q"]);
    std::fs::copy(
        repo().join(".pre-commit-hooks.yaml"),
        hooks.join(".pre-commit-hooks.yaml"),
    )
    .unwrap();
    git(&hooks, &["add", "."]);
    git(&hooks, &["commit", "-q", "-m", "hooks"]);
    let rev = String::from_utf8(git(&hooks, &["rev-parse", "HEAD"]).stdout).unwrap();

    // A project with a catalog in the hook's default place and an unrelated YAML file.
    let project = tmp.path().join("project");
    std::fs::create_dir_all(project.join("slo-definitions/cart")).unwrap();
    std::fs::create_dir_all(project.join(".github")).unwrap();
    git(&project, &["init", "-q"]);
    std::fs::write(
        project.join(".pre-commit-config.yaml"),
        format!(
            "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: burnrate-check\n",
            hooks.display(),
            rev.trim()
        ),
    )
    .unwrap();
    std::fs::write(project.join("slo-definitions/cart/slos.yaml"), GOOD).unwrap();
    std::fs::write(project.join(".github/ci.yml"), "on: push\n").unwrap();
    git(&project, &["add", "."]);
    let first = pre_commit(&project, &home, &["run"]);
    assert!(first.status.success(), "{}", text(&first));
    git(&project, &["commit", "-q", "--no-verify", "-m", "catalog"]);

    // Line 5: an objective over 100.
    let broken = GOOD.replace("99.9", "100.5");
    std::fs::write(project.join("slo-definitions/cart/slos.yaml"), &broken).unwrap();
    std::fs::write(project.join(".github/ci.yml"), "on: [push]\n").unwrap();
    git(&project, &["add", "."]);
    let failed = pre_commit(&project, &home, &["run"]);
    let out = text(&failed);
    assert_eq!(failed.status.code(), Some(1), "{out}");
    assert!(out.contains("burnrate check (SLO catalog)"), "{out}");
    assert!(
        out.contains("slo-definitions/cart/slos.yaml:5:"),
        "the file and line are named: {out}"
    );
    assert!(
        !out.contains("ci.yml"),
        "YAML outside the catalog is skipped: {out}"
    );

    std::fs::write(project.join("slo-definitions/cart/slos.yaml"), GOOD).unwrap();
    git(&project, &["add", "."]);
    let fixed = pre_commit(&project, &home, &["run"]);
    assert!(fixed.status.success(), "{}", text(&fixed));
}
