//! The ready-made CI integrations in the repository, run for real: the
//! pre-commit hook under the real `pre-commit` from PyPI, and the shell
//! script behind the GitHub action and the GitLab template.

mod ci_script;
mod pre_commit;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A PATH with the built `burnrate` first, as the hook and the action expect it.
fn path_with_burnrate() -> std::ffi::OsString {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_burnrate"));
    let mut dirs = vec![bin.parent().expect("binary dir").to_path_buf()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
