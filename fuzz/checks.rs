//! The properties the fuzz targets check, shared with the regression tests
//! in `tests/cli/robustness.rs` so a kept crash is checked exactly as found.

use std::path::Path;

use burnrate::catalog::promql::{Selector, WindowedQuery};
use burnrate::catalog::{Catalog, export, load_str};

/// The file names `catalog_load` picks from with its input's first byte.
const NAMES: &[&str] = &[
    "x.yaml",
    "x.yml",
    "sloth.yaml",
    "pyrra.yaml",
    "openslo.yaml",
];

/// `catalog_load`: the first byte picks a file name, the rest is the file.
/// Loading never panics, and a catalog that loads exports to native YAML
/// that loads back with no errors and the same SLOs.
pub fn catalog_load(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let name = Path::new(NAMES[pick as usize % NAMES.len()]);
    let loaded = load_str(name, text);
    if loaded.diagnostics.has_errors() || loaded.catalog.slos.is_empty() {
        return;
    }
    let native = export::to_native_yaml(&loaded.catalog);
    let again = load_str(Path::new("exported.yaml"), &native);
    assert!(
        !again.diagnostics.has_errors(),
        "the exported catalog does not load:\n{native}\n{:?}",
        again.diagnostics
    );
    let ids = |c: &Catalog| c.slos.iter().map(|s| s.id.to_string()).collect::<Vec<_>>();
    assert_eq!(ids(&loaded.catalog), ids(&again.catalog), "{native}");
}

/// `promql_selector`: parsing never panics, and a selector that parses
/// prints as text that parses back to the same selector.
pub fn promql_selector(text: &str) {
    if let Ok(query) = WindowedQuery::parse(text) {
        let _ = query.with_window("1m");
    }
    let Ok(selector) = Selector::parse(text) else {
        return;
    };
    let printed = selector.to_string();
    let again = Selector::parse(&printed)
        .unwrap_or_else(|e| panic!("`{text}` printed as `{printed}`, which does not parse: {e}"));
    assert_eq!(selector, again, "`{text}` printed as `{printed}`");
}
