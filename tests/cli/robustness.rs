//! Hostile catalog text never panics the loader: YAML-ish documents built
//! from a small grammar (anchors, aliases, merge keys, deep nesting, the
//! catalog's own keys), and every input the fuzzer (`fuzz/`) once crashed on,
//! kept under `tests/fuzz-regressions/`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use burnrate::catalog::load_str;
use proptest::prelude::*;

#[path = "../../fuzz/checks.rs"]
mod checks;

/// Generous for a debug build on a busy machine; a blow-up (an alias bomb,
/// quadratic nesting) takes far longer.
const LOAD_BUDGET: Duration = Duration::from_secs(5);

const KEYS: &[&str] = &[
    "version",
    "kind",
    "service",
    "slos",
    "name",
    "objective",
    "window",
    "labels",
    "indicator",
    "ratio",
    "errors",
    "total",
    "latency",
    "events",
    "alerting",
    "gate",
    "defaults",
    "group_by",
    "apiVersion",
    "metadata",
    "spec",
    "target",
    "query",
    "<<",
];

const SCALARS: &[&str] = &[
    "burnrate/v1",
    "sloth.slok.dev/v1",
    "pyrra.dev/v1alpha1",
    "openslo/v1",
    "Service",
    "Defaults",
    "SLO",
    "ServiceLevelObjective",
    "99.9",
    "0.999",
    "100",
    "-1",
    "1e309",
    ".nan",
    "30d",
    "0s",
    "99999999999y",
    "~",
    "\"\"",
    "'x'",
    "http_requests_total{code=~\"5..\"}",
    "sum(rate(x[{{.window}}]))",
    "{{",
    "\"\\u0000\"",
    "!!binary aGk=",
    "!!str 1",
];

#[derive(Debug, Clone)]
enum Tree {
    Scalar(&'static str),
    Alias(u8),
    Map(Vec<(&'static str, Option<u8>, Tree)>),
    List(Vec<(Option<u8>, Tree)>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        4 => proptest::sample::select(SCALARS).prop_map(Tree::Scalar),
        1 => (0u8..3).prop_map(Tree::Alias),
    ];
    let anchor = proptest::option::weighted(0.2, 0u8..3);
    leaf.prop_recursive(12, 96, 5, move |inner| {
        prop_oneof![
            proptest::collection::vec(
                (
                    proptest::sample::select(KEYS),
                    anchor.clone(),
                    inner.clone()
                ),
                0..5
            )
            .prop_map(Tree::Map),
            proptest::collection::vec((anchor.clone(), inner), 0..5).prop_map(Tree::List),
        ]
    })
}

/// Block-style YAML; an anchor goes before the value it names.
fn render(tree: &Tree, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    let value = |anchor: &Option<u8>, t: &Tree, out: &mut String| {
        if let Some(a) = anchor {
            out.push_str(&format!(" &a{a}"));
        }
        match t {
            Tree::Scalar(s) => out.push_str(&format!(" {s}\n")),
            Tree::Alias(a) => out.push_str(&format!(" *a{a}\n")),
            Tree::Map(m) if m.is_empty() => out.push_str(" {}\n"),
            Tree::List(l) if l.is_empty() => out.push_str(" []\n"),
            _ => {
                out.push('\n');
                render(t, indent + 2, out);
            }
        }
    };
    match tree {
        Tree::Scalar(_) | Tree::Alias(_) => {
            out.push_str(&pad);
            value(&None, tree, out);
        }
        Tree::Map(entries) => {
            for (key, anchor, t) in entries {
                out.push_str(&format!("{pad}{key}:"));
                value(anchor, t, out);
            }
        }
        Tree::List(items) => {
            for (anchor, t) in items {
                out.push_str(&format!("{pad}-"));
                value(anchor, t, out);
            }
        }
    }
}

fn documents() -> impl Strategy<Value = String> {
    proptest::collection::vec(tree(), 1..4).prop_map(|docs| {
        let mut out = String::new();
        for doc in &docs {
            out.push_str("---\n");
            render(doc, 0, &mut out);
        }
        out
    })
}

fn load_within_budget(name: &str, text: &str) {
    let started = Instant::now();
    let _ = load_str(Path::new(name), text);
    let took = started.elapsed();
    assert!(took < LOAD_BUDGET, "{name} took {took:?} to load:\n{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn yaml_ish_catalogs_never_panic_the_loader(text in documents()) {
        load_within_budget("generated.yaml", &text);
    }

    #[test]
    fn arbitrary_text_never_panics_the_loader(text in "\\PC{0,200}") {
        load_within_budget("generated.yaml", &text);
    }
}

fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("read tests/fuzz-regressions").path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("read a fuzz regression");
            (p, bytes)
        })
        .collect()
}

/// Every input `catalog_load` crashed on, checked as the fuzz target checks it.
#[test]
fn catalog_load_regressions_stay_fixed() {
    for (path, bytes) in regressions("catalog_load") {
        let started = Instant::now();
        checks::catalog_load(&bytes);
        let took = started.elapsed();
        assert!(took < LOAD_BUDGET, "{} took {took:?}", path.display());
    }
}

/// Every input `promql_selector` crashed on, checked as the fuzz target checks it.
#[test]
fn promql_selector_regressions_stay_fixed() {
    for (_, bytes) in regressions("promql_selector") {
        if let Ok(text) = std::str::from_utf8(&bytes) {
            checks::promql_selector(text);
        }
    }
}
