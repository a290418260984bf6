//! The layering that ARCHITECTURE.md describes, checked against the code:
//! every top-level module of `src/` uses only modules in layers below its
//! own (unit-test modules excepted), so the imports cannot form a cycle.
//! The layers are read from ARCHITECTURE.md itself, so the document and the
//! code cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The layers, bottom first: the lines of the `text` block after the
/// `<!-- layers -->` marker in ARCHITECTURE.md, which lists them top first.
fn documented_layers() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let after = doc
        .split_once("<!-- layers -->")
        .expect("ARCHITECTURE.md marks its layer list with <!-- layers -->")
        .1;
    let block = after
        .split_once("```text\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a ```text block after the marker")
        .0;
    let mut layers: Vec<Vec<String>> = block
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect();
    layers.reverse();
    layers
}

/// Source text without comments and without `#[cfg(test)]` items (their
/// braces matched), which may use anything.
fn production_code(source: &str) -> String {
    let mut out = String::new();
    let mut rest = source;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        // Skip to the end of the item: its block, or its `;`.
        let open = after.find('{');
        let semi = after.find(';');
        let end = match (open, semi) {
            (Some(o), Some(s)) if s < o => s + 1,
            (Some(o), _) => {
                let mut depth = 0;
                let mut end = after.len();
                for (i, c) in after[o..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            (None, Some(s)) => s + 1,
            (None, None) => after.len(),
        };
        rest = &after[end..];
    }
    out.push_str(rest);
    out.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules a piece of code names through `crate::`.
fn crate_uses(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{e, f}}`: the first name of each top-level item.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_ascii_alphabetic() || c == '_') => {
                        out.insert(identifier(&group[i..]).to_string());
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = identifier(rest);
            if !name.is_empty() {
                out.insert(name.to_string());
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each top-level module of `src/` (not `lib.rs`, `main.rs` or `bin/`),
/// with the other top-level modules its production code uses.
fn module_uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        let top = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if matches!(top.as_str(), "lib" | "main" | "bin") {
            continue;
        }
        let code = production_code(&std::fs::read_to_string(&file).expect("read source"));
        let entry = uses.entry(top.clone()).or_default();
        entry.extend(crate_uses(&code).into_iter().filter(|m| *m != top));
    }
    uses
}

#[test]
fn modules_only_use_modules_in_lower_layers() {
    let layers = documented_layers();
    let layer_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, names)| names.iter().map(move |n| (n.as_str(), i)))
        .collect();
    let uses = module_uses();
    let mut problems = Vec::new();
    for module in uses.keys() {
        if !layer_of.contains_key(module.as_str()) {
            problems.push(format!(
                "`{module}` is in src/ but not in ARCHITECTURE.md's layers"
            ));
        }
    }
    for module in layer_of.keys() {
        if !uses.contains_key(*module) {
            problems.push(format!(
                "`{module}` is in ARCHITECTURE.md's layers but not in src/"
            ));
        }
    }
    for (module, used) in &uses {
        let Some(&own) = layer_of.get(module.as_str()) else {
            continue;
        };
        for other in used {
            match layer_of.get(other.as_str()) {
                Some(&layer) if layer < own => {}
                Some(_) => problems.push(format!(
                    "`{module}` uses `{other}`, which is not in a layer below it"
                )),
                None => problems.push(format!("`{module}` uses `{other}`, which has no layer")),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_must() {
    let code = production_code(
        "use crate::engine::X;\nuse crate::{catalog, store::Store, alerting::{a, b}};\n\
         // crate::commented\nfn f() { crate::time::now() }\n\
         #[cfg(test)]\nmod tests { use crate::serve; }\n#[cfg(test)]\nuse crate::api;\n",
    );
    let found: Vec<String> = crate_uses(&code).into_iter().collect();
    assert_eq!(found, ["alerting", "catalog", "engine", "store", "time"]);
    let layers = documented_layers();
    assert_eq!(
        layers.first().map(|l| l.contains(&"duration".to_string())),
        Some(true)
    );
    assert_eq!(layers.last(), Some(&vec!["cli".to_string()]));
}

#[test]
fn no_source_file_is_longer_than_700_lines() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f)
                .expect("read source")
                .lines()
                .count();
            (lines > 700).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these along a seam: {long:?}");
}
