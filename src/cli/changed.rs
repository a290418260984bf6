//! `check --changed-from REF`: which files differ from a git revision.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::catalog::Diagnostic;

/// The files changed since `rev` in the repository holding the working
/// directory: committed, staged, unstaged and untracked (not ignored),
/// deletions left out. Paths are canonical, to compare with diagnostics'.
pub fn changed_files(rev: &str) -> Result<HashSet<PathBuf>, String> {
    if rev.starts_with('-') {
        return Err(format!("--changed-from `{rev}` is not a git revision"));
    }
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let top = PathBuf::from(top.trim_end_matches(['\n', '\r']));
    // `git diff REV` compares the revision with the working tree; `-z` keeps odd names whole.
    let diffed = git(&[
        "diff",
        "--name-only",
        "-z",
        "--no-renames",
        "--diff-filter=d",
        rev,
        "--",
    ])?;
    let untracked = git(&[
        "ls-files",
        "-z",
        "--others",
        "--exclude-standard",
        "--full-name",
    ])?;
    let mut files = HashSet::new();
    for name in diffed.split('\0').chain(untracked.split('\0')) {
        if name.is_empty() {
            continue;
        }
        files.insert(canonical(&top.join(name)));
    }
    Ok(files)
}

fn git(args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .map_err(|e| format!("--changed-from needs git: cannot run it: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "--changed-from: `git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| "--changed-from: git printed a non-UTF-8 path".into())
}

/// The path with links and `..` resolved, to compare paths however they were
/// given; as it is when it does not exist.
pub fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

pub fn contains(files: &HashSet<PathBuf>, path: &Path) -> bool {
    files.contains(&canonical(path))
}

/// Whether a diagnostic concerns one of `files`: it is in one, or it names
/// one (a duplicate id whose first definition is there).
pub fn concerns(d: &Diagnostic, files: &HashSet<PathBuf>) -> bool {
    contains(files, &d.file) || d.related.as_deref().is_some_and(|p| contains(files, p))
}
