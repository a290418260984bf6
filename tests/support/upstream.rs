//! The upstream Sloth, Pyrra and OpenSLO files that the `upstream_*` tests
//! read, as `tests/upstream.toml` pins them (repository, commit, path and
//! sha256 of each). They are not in the repository; [`fixtures_dir`] finds
//! them, in the order `scripts/test.sh` uses:
//!
//! 1. `BURNRATE_UPSTREAM_FIXTURES`, when set;
//! 2. `../shared/fixtures/external` beside the checkout, when present;
//! 3. `target/upstream-fixtures/`, which `scripts/test.sh` fills by
//!    downloading each file at its pinned commit (this module never
//!    downloads anything).
//!
//! Every file is checked against its sha256 before the directory is handed
//! out. When the files are missing or differ, every caller panics with the
//! same message, naming the file; `scripts/test.sh` leaves these tests out
//! (and says so) when it cannot get the files.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The manifest as compiled into the tests.
pub const MANIFEST: &str = include_str!("../upstream.toml");
/// Where the manifest lives, for messages.
pub const MANIFEST_PATH: &str = "tests/upstream.toml";

/// One `[[file]]` of the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name under the fixture directory, such as `sloth/getting-started.yml`.
    pub local: String,
    /// Such as `github.com/slok/sloth`.
    pub repository: String,
    pub commit: String,
    /// Path in the repository at `commit`.
    pub path: String,
    /// Lowercase hex.
    pub sha256: String,
}

const KEYS: [&str; 5] = ["local", "repository", "commit", "path", "sha256"];

/// Parses the flat form the manifest is written in (the same one
/// `scripts/lib/upstream.sh` reads): `[[file]]` headers, `key = "value"`
/// lines, comments and blank lines.
pub fn parse_manifest(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut current: Option<(usize, Vec<(String, String)>)> = None;
    let finish = |entry: Option<(usize, Vec<(String, String)>)>,
                  entries: &mut Vec<Entry>|
     -> Result<(), String> {
        let Some((line, fields)) = entry else {
            return Ok(());
        };
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("line {line}: [[file]] without `{key}`"))
        };
        let entry = Entry {
            local: get("local")?,
            repository: get("repository")?,
            commit: get("commit")?,
            path: get("path")?,
            sha256: get("sha256")?,
        };
        let local = Path::new(&entry.local);
        if local.is_absolute() || local.components().any(|c| c.as_os_str() == "..") {
            return Err(format!(
                "line {line}: `local` must be a relative path without .."
            ));
        }
        if entry.sha256.len() != 64
            || !entry
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(format!(
                "line {line}: `sha256` must be 64 lowercase hex digits"
            ));
        }
        if entries.iter().any(|e: &Entry| e.local == entry.local) {
            return Err(format!("line {line}: `{}` is listed twice", entry.local));
        }
        entries.push(entry);
        Ok(())
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        if line.trim_start().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line == "[[file]]" {
            finish(current.take(), &mut entries)?;
            current = Some((n, Vec::new()));
            continue;
        }
        let (key, value) = line
            .split_once(" = \"")
            .and_then(|(k, v)| Some((k, v.strip_suffix('"')?)))
            .filter(|(k, v)| {
                !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    && !v.contains(['"', '\\'])
            })
            .ok_or_else(|| {
                format!("line {n}: not a [[file]] header, a `key = \"value\"` line or a comment")
            })?;
        let Some((_, fields)) = current.as_mut() else {
            return Err(format!("line {n}: a key outside [[file]]"));
        };
        if !KEYS.contains(&key) {
            return Err(format!("line {n}: unknown key `{key}`"));
        }
        if fields.iter().any(|(k, _)| k == key) {
            return Err(format!("line {n}: `{key}` given twice"));
        }
        fields.push((key.to_string(), value.to_string()));
    }
    finish(current.take(), &mut entries)?;
    if entries.is_empty() {
        return Err("no [[file]] entries".to_string());
    }
    Ok(entries)
}

/// The entries of [`MANIFEST`].
pub fn manifest() -> Vec<Entry> {
    parse_manifest(MANIFEST).unwrap_or_else(|e| panic!("{MANIFEST_PATH}: {e}"))
}

/// Lowercase hex sha256 of a file's contents.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks that every entry is in `dir` with its sha256; the error names the
/// first file that is missing or differs.
pub fn verify(dir: &Path, entries: &[Entry]) -> Result<(), String> {
    for e in entries {
        let file = dir.join(&e.local);
        let bytes = std::fs::read(&file).map_err(|err| {
            format!(
                "upstream fixture {} is missing from {} ({err}); it is {} at {}, {}",
                e.local,
                dir.display(),
                e.repository,
                e.commit,
                e.path
            )
        })?;
        let actual = sha256_hex(&bytes);
        if actual != e.sha256 {
            return Err(format!(
                "upstream fixture {} in {} fails its checksum: sha256 {actual}, {MANIFEST_PATH} pins {} ({} at {}, {}); upstream files must not be edited",
                e.local,
                dir.display(),
                e.sha256,
                e.repository,
                e.commit,
                e.path
            ));
        }
    }
    Ok(())
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// Finds the fixture directory (see the module documentation) and verifies
/// it against `entries`; `env` is the value of `BURNRATE_UPSTREAM_FIXTURES`.
pub fn resolve(root: &Path, env: Option<&str>, entries: &[Entry]) -> Result<PathBuf, String> {
    let sibling = root.parent().map(|p| p.join("shared/fixtures/external"));
    let cache = root.join("target/upstream-fixtures");
    let (dir, how) = match (env.filter(|v| !v.is_empty()), sibling) {
        (Some(dir), _) => (PathBuf::from(dir), "BURNRATE_UPSTREAM_FIXTURES"),
        (None, Some(sibling)) if sibling.is_dir() => {
            (sibling, "../shared/fixtures/external beside the checkout")
        }
        // Downloads that failed leave the cache incomplete: that is "unavailable".
        _ if entries.iter().all(|e| cache.join(&e.local).is_file()) => {
            (cache, "target/upstream-fixtures")
        }
        _ => {
            return Err(format!(
                "upstream fixtures unavailable: BURNRATE_UPSTREAM_FIXTURES is not set, there is no ../shared/fixtures/external beside {} and target/upstream-fixtures does not hold every file {MANIFEST_PATH} pins. Run `bash scripts/test.sh`, which downloads them (or skips these tests, and says so, when it cannot), or set BURNRATE_UPSTREAM_FIXTURES",
                root.display()
            ));
        }
    };
    verify(&dir, entries).map_err(|e| format!("{e} (found through {how})"))?;
    Ok(dir)
}

/// The verified fixture directory; panics with a message naming the cause
/// (and the file, on a checksum mismatch) when there is none.
pub fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = DIR.get_or_init(|| {
        let env = std::env::var("BURNRATE_UPSTREAM_FIXTURES").ok();
        resolve(&repo_root(), env.as_deref(), &manifest())
    });
    match found {
        Ok(dir) => dir,
        Err(e) => panic!("{e}"),
    }
}

/// One upstream file, by its manifest name; panics on a name the manifest
/// does not list, so that every file a test reads is pinned and checked.
pub fn fixture(local: &str) -> PathBuf {
    let dir = fixtures_dir();
    let listed = manifest()
        .iter()
        .any(|e| e.local == local || e.local.starts_with(&format!("{local}/")));
    assert!(
        listed,
        "{local} is not in {MANIFEST_PATH}: pin it there (repository, commit, path, sha256) first"
    );
    dir.join(local)
}
