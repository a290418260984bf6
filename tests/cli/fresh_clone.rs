//! What a new user's clone does with the upstream fixtures (issue 17):
//! `scripts/test.sh --fixtures-only`, the part of the test command that finds
//! and checks them, run in a temporary copy of `scripts/` and `tests/` with
//! no `../shared` beside it and no `BURNRATE_UPSTREAM_FIXTURES`. Downloads go
//! to `BURNRATE_UPSTREAM_BASE_URL`: a closed port stands for a machine
//! without network, a small local server for GitHub. Nothing is built here.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testkit::upstream;

/// Nothing listens on the discard port: every download fails at once.
const UNREACHABLE: &str = "http://127.0.0.1:9";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A fresh clone at `<tmp>/work/clone`: its scripts and tests, nothing beside it.
fn clone(tmp: &Path) -> PathBuf {
    let root = upstream::repo_root();
    let clone = tmp.join("work/clone");
    for dir in ["scripts", "tests"] {
        copy_dir(&root.join(dir), &clone.join(dir));
    }
    clone
}

fn fixtures_only(clone: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(clone.join("scripts/test.sh"))
        .arg("--fixtures-only")
        .env_remove("BURNRATE_UPSTREAM_FIXTURES")
        .env_remove("CI")
        .env("BURNRATE_UPSTREAM_BASE_URL", UNREACHABLE);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("bash runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `--fixtures-only`, checks its exit code and returns what it said.
fn run(clone: &Path, env: &[(&str, &str)], code: i32) -> String {
    let out = fixtures_only(clone, env);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    err
}

/// The upstream tests of this very binary, as the test harness lists them.
fn upstream_tests_of_this_binary() -> BTreeSet<String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--list", "--format", "terse"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .filter(|name| name.rsplit("::").next().unwrap().starts_with("upstream_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn offline_the_fixture_tests_are_skipped_loudly_and_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = clone(tmp.path());
    let err = run(&clone, &[], 0);

    let expected = upstream_tests_of_this_binary();
    assert!(!expected.is_empty());
    let n = expected.len();
    assert!(
        err.contains(&format!(
            "{n} upstream-fixture tests skipped: fixtures unavailable"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("{UNREACHABLE}/slok/sloth/")), "{err}");
    let listed: BTreeSet<String> = err
        .lines()
        .filter_map(|l| l.strip_prefix("!!   cli: "))
        .map(str::to_string)
        .collect();
    assert_eq!(
        listed, expected,
        "the script's list is what the runner's filter leaves out"
    );
    // A failed download leaves nothing behind that could pass for a fixture.
    let cache = clone.join("target/upstream-fixtures");
    let left = walk(&cache);
    assert!(left.is_empty(), "{left:?}");
    assert!(!cache.exists(), "an empty cache directory is left behind");

    let lib = upstream::resolve(&clone, None, &upstream::manifest()).unwrap_err();
    assert!(lib.contains("upstream fixtures unavailable"), "{lib}");
}

#[test]
fn ci_without_fixtures_fails_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let clone = clone(tmp.path());
    let err = run(&clone, &[("CI", "true")], 1);
    assert!(err.contains("upstream fixtures unavailable"), "{err}");
    assert!(
        err.contains("With CI=true the upstream-fixture tests may not be skipped"),
        "{err}"
    );
    assert!(!err.contains("skipped: fixtures unavailable"), "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                out.extend(walk(&entry.path()));
            } else {
                out.push(entry.path());
            }
        }
    }
    out
}

/// Two made-up upstream files and a manifest pinning them, in place of the
/// real ones (which only the upstream tests may need).
const FILES: [(&str, &str, &str); 2] = [
    ("a/one.yaml", "examples/one.yaml", "version: one\n"),
    ("a/two.yaml", "examples/nested/two.yaml", "version: two\n"),
];

fn fake_manifest() -> String {
    let mut text = String::from("# made up\n");
    for (local, path, body) in FILES {
        text.push_str(&format!(
            "\n[[file]]\nlocal = \"{local}\"\nrepository = \"github.com/acme/specs\"\ncommit = \"0123456789abcdef0123456789abcdef01234567\"\npath = \"{path}\"\nsha256 = \"{}\"\n",
            upstream::sha256_hex(body.as_bytes())
        ));
    }
    text
}

/// A fresh clone whose manifest pins the made-up files instead.
fn fake_clone() -> (tempfile::TempDir, PathBuf, Vec<upstream::Entry>) {
    let tmp = tempfile::tempdir().unwrap();
    let clone = clone(tmp.path());
    let manifest = fake_manifest();
    std::fs::write(clone.join("tests/upstream.toml"), &manifest).unwrap();
    let entries = upstream::parse_manifest(&manifest).unwrap();
    (tmp, clone, entries)
}

fn write_fixtures(dir: &Path) {
    for (local, _, body) in FILES {
        std::fs::create_dir_all(dir.join(local).parent().unwrap()).unwrap();
        std::fs::write(dir.join(local), body).unwrap();
    }
}

fn change_one_byte(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    bytes[0] ^= 1;
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn the_fixtures_are_found_in_order_and_a_changed_byte_is_named() {
    let (tmp, clone, entries) = fake_clone();

    // 1. BURNRATE_UPSTREAM_FIXTURES.
    let own = tmp.path().join("own");
    write_fixtures(&own);
    let err = run(
        &clone,
        &[("BURNRATE_UPSTREAM_FIXTURES", own.to_str().unwrap())],
        0,
    );
    assert!(
        err.contains(&format!(
            "upstream fixtures: {} (BURNRATE_UPSTREAM_FIXTURES)",
            own.display()
        )),
        "{err}"
    );
    let own_str = own.to_str().unwrap();
    assert_eq!(
        upstream::resolve(&clone, Some(own_str), &entries),
        Ok(own.clone())
    );

    // 2. ../shared/fixtures/external, unless the variable says otherwise.
    let shared = tmp.path().join("work/shared/fixtures/external");
    write_fixtures(&shared);
    let err = run(&clone, &[], 0);
    assert!(
        err.contains("(../shared/fixtures/external beside the checkout)"),
        "{err}"
    );
    assert_eq!(
        upstream::resolve(&clone, None, &entries),
        Ok(shared.clone())
    );
    assert_eq!(
        upstream::resolve(&clone, Some(own_str), &entries),
        Ok(own.clone())
    );

    // One byte changed: both the script and the testkit refuse, naming the file.
    change_one_byte(&shared.join("a/two.yaml"));
    let err = run(&clone, &[], 1);
    assert!(err.contains("upstream fixture a/two.yaml in "), "{err}");
    assert!(err.contains("fails its checksum"), "{err}");
    let lib = upstream::resolve(&clone, None, &entries).unwrap_err();
    assert!(
        lib.contains("upstream fixture a/two.yaml in ") && lib.contains("fails its checksum"),
        "{lib}"
    );

    // A file missing where the files were said to be is no skip either.
    std::fs::remove_file(own.join("a/one.yaml")).unwrap();
    let err = run(&clone, &[("BURNRATE_UPSTREAM_FIXTURES", own_str)], 1);
    assert!(
        err.contains("upstream fixture a/one.yaml is missing"),
        "{err}"
    );
    let lib = upstream::resolve(&clone, Some(own_str), &entries).unwrap_err();
    assert!(
        lib.contains("upstream fixture a/one.yaml is missing"),
        "{lib}"
    );
}

/// Serves `body` for `/acme/specs/<commit>/<path>` of each file, as
/// raw.githubusercontent.com would, for `requests` requests.
fn serve(files: Vec<(String, Vec<u8>)>, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let found = files.iter().find(|(p, _)| p == path);
            let (status, body) = match found {
                Some((_, body)) => ("200 OK", body.clone()),
                None => ("404 Not Found", b"404".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

fn served(change: Option<&str>) -> Vec<(String, Vec<u8>)> {
    FILES
        .iter()
        .map(|(local, path, body)| {
            let mut body = body.as_bytes().to_vec();
            if change == Some(*local) {
                body[0] ^= 1;
            }
            (
                format!("/acme/specs/0123456789abcdef0123456789abcdef01234567/{path}"),
                body,
            )
        })
        .collect()
}

#[test]
fn downloads_fill_the_cache_at_the_pinned_commit_and_are_checked() {
    let (_tmp, clone, entries) = fake_clone();
    let cache = clone.join("target/upstream-fixtures");

    // Changed upstream: refused, naming the file, and nothing is cached for it.
    let url = serve(served(Some("a/two.yaml")), 2);
    let err = run(&clone, &[("BURNRATE_UPSTREAM_BASE_URL", &url)], 1);
    assert!(
        err.contains("upstream fixture a/two.yaml downloaded from"),
        "{err}"
    );
    assert!(err.contains("fails its checksum"), "{err}");
    assert!(!cache.join("a/two.yaml").exists());
    assert!(!cache.join(".download.part").exists());

    // The real thing: only the missing file is fetched, then all is checked.
    let url = serve(served(None), 1);
    let err = run(&clone, &[("BURNRATE_UPSTREAM_BASE_URL", &url)], 0);
    assert!(
        err.contains("(downloaded at the pinned commits into target/upstream-fixtures)"),
        "{err}"
    );
    assert_eq!(upstream::resolve(&clone, None, &entries), Ok(cache.clone()));

    // The cache is used as it is afterwards, without any network.
    run(&clone, &[], 0);
    change_one_byte(&cache.join("a/one.yaml"));
    let err = run(&clone, &[], 1);
    assert!(err.contains("upstream fixture a/one.yaml in "), "{err}");
}

#[test]
fn the_manifest_pins_well_formed_entries() {
    let entries = upstream::manifest();
    assert!(!entries.is_empty());
    for e in &entries {
        assert!(e.repository.starts_with("github.com/"), "{e:?}");
        assert_eq!(e.commit.len(), 40, "{e:?}");
        assert!(!e.path.starts_with('/'), "{e:?}");
    }
    for (text, fragment) in [
        ("[[file]]\nlocal = \"x\"\n", "without `repository`"),
        ("local = \"x\"\n", "a key outside [[file]]"),
        ("[[file]]\nlocal = '../x'\n", "not a [[file]] header"),
        ("# nothing\n", "no [[file]] entries"),
    ] {
        let e = upstream::parse_manifest(text).unwrap_err();
        assert!(e.contains(fragment), "{text:?}: {e}");
    }
}
