//! Reading a catalog from files and directories: every document, every problem.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::decode::Ctx;
use super::diagnostic::{Diagnostic, Diagnostics, Pos};
use super::layers::{self, Layer, SloDraft};
use super::model::{Catalog, Slo};
use super::native::{self, NativeDoc};
use super::yaml::{self, Node};

/// A problem that stops loading altogether (as opposed to a problem in the catalog).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no such file or directory")]
    NotFound(PathBuf),
}

/// The result of loading: the valid SLOs and every problem found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub catalog: Catalog,
    pub diagnostics: Diagnostics,
    pub files: usize,
}

impl Loaded {
    /// The catalog, if no error was found.
    pub fn into_result(self) -> Result<Catalog, Vec<Diagnostic>> {
        if self.diagnostics.has_errors() {
            Err(self
                .diagnostics
                .sorted()
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect())
        } else {
            Ok(self.catalog)
        }
    }
}

/// Loads every `*.yaml`/`*.yml` file under the given files and directories.
pub fn load_paths(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        collect_files(path, &mut files, true)?;
    }
    files.sort();
    files.dedup();
    let mut sources = Vec::with_capacity(files.len());
    for file in files {
        let bytes = std::fs::read(&file).map_err(|source| LoadError::Io {
            path: file.clone(),
            source,
        })?;
        sources.push((file, bytes));
    }
    Ok(load_sources(
        sources.iter().map(|(p, b)| (p.as_path(), b.as_slice())),
    ))
}

/// Loads one in-memory file (for tests and tools).
pub fn load_str(file: &Path, source: &str) -> Loaded {
    load_sources(std::iter::once((file, source.as_bytes())))
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>, explicit: bool) -> Result<(), LoadError> {
    let meta = std::fs::metadata(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            LoadError::NotFound(path.to_path_buf())
        } else {
            LoadError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    if meta.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| LoadError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let child = entry.path();
            let hidden = child
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if !hidden {
                collect_files(&child, out, false)?;
            }
        }
    } else if explicit || is_yaml(path) {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

struct ParsedFile<'a> {
    path: &'a Path,
    docs: Vec<Node>,
}

fn load_sources<'a>(sources: impl Iterator<Item = (&'a Path, &'a [u8])>) -> Loaded {
    let diags = RefCell::new(Diagnostics::default());
    let mut parsed = Vec::new();
    let mut file_count = 0;
    for (path, bytes) in sources {
        file_count += 1;
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                diags.borrow_mut().push(Diagnostic::error(
                    path,
                    Pos { line: 1, column: 1 },
                    format!(
                        "not UTF-8 text (invalid byte at offset {})",
                        e.valid_up_to()
                    ),
                ));
                continue;
            }
        };
        match yaml::parse_documents(text) {
            Ok(docs) => parsed.push(ParsedFile { path, docs }),
            Err(e) => diags.borrow_mut().push(Diagnostic::error(
                path,
                e.pos,
                format!("YAML syntax error: {}", e.message),
            )),
        }
    }

    // Directory defaults first: they apply to every file in their directory and below.
    let mut dir_defaults: BTreeMap<PathBuf, Layer> = BTreeMap::new();
    let mut services: Vec<(&Path, Layer, Vec<SloDraft>)> = Vec::new();
    for file in &parsed {
        let ctx = Ctx::new(file.path, &diags);
        for doc in &file.docs {
            match decode_any(ctx, doc) {
                Some(NativeDoc::Defaults(layer)) => {
                    let dir = file.path.parent().unwrap_or(Path::new("")).to_path_buf();
                    dir_defaults.entry(dir).or_default().merge(&layer);
                }
                Some(NativeDoc::Service { layer, slos }) => services.push((file.path, layer, slos)),
                None => {}
            }
        }
    }

    let mut slos: Vec<Slo> = Vec::new();
    let mut seen: HashMap<String, (PathBuf, usize)> = HashMap::new();
    for (path, doc_layer, drafts) in services {
        let ctx = Ctx::new(path, &diags);
        let mut layers: Vec<&Layer> = path
            .ancestors()
            .skip(1)
            .filter_map(|dir| dir_defaults.get(dir))
            .collect();
        layers.reverse();
        layers.push(&doc_layer);
        for draft in drafts {
            let id = format!("{}/{}", draft.service, draft.name);
            let pos = draft.pos;
            if let Some((first_file, first_line)) = seen.get(&id) {
                let ctx = ctx.for_slo(&id);
                ctx.error(
                    pos,
                    "name",
                    format!(
                        "duplicate SLO id `{id}`: already defined at {}:{first_line}",
                        first_file.display()
                    ),
                );
                continue;
            }
            seen.insert(id.clone(), (path.to_path_buf(), pos.line));
            let slo_ctx = ctx.for_slo(&id);
            if let Some(slo) = layers::finish(slo_ctx, draft, &layers) {
                slos.push(slo);
            }
        }
    }
    slos.sort_by(|a, b| a.id.cmp(&b.id));
    Loaded {
        catalog: Catalog { slos },
        diagnostics: diags.into_inner(),
        files: file_count,
    }
}

/// Recognises a document by its header and decodes it.
fn decode_any(ctx: Ctx, doc: &Node) -> Option<NativeDoc> {
    let version = doc.get("version").and_then(Node::scalar_text);
    let api_version = doc.get("apiVersion").and_then(Node::scalar_text);
    match (version, api_version) {
        (Some(native::VERSION), _) => native::decode_document(ctx, doc),
        (Some(other), _) => {
            let pos = doc.get("version").map_or(doc.pos, |n| n.pos);
            ctx.error(
                pos,
                "version",
                format!(
                    "unsupported version `{other}`: expected `{}`",
                    native::VERSION
                ),
            );
            None
        }
        (None, Some(other)) => {
            let pos = doc.get("apiVersion").map_or(doc.pos, |n| n.pos);
            ctx.error(
                pos,
                "apiVersion",
                format!("unsupported apiVersion `{other}`"),
            );
            None
        }
        (None, None) => {
            ctx.error(
                doc.pos,
                "version",
                format!(
                    "not a recognised SLO document: expected a `version: {}` header",
                    native::VERSION
                ),
            );
            None
        }
    }
}
