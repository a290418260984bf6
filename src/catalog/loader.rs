//! Reading a catalog from files and directories: every document, every problem.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::decode::Ctx;
use super::diagnostic::{Diagnostic, Diagnostics, Pos};
use super::external::{openslo, pyrra, sloth};
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

/// What decoding one run of files produced, merged in file order afterwards.
#[derive(Default)]
struct Decoded<'a> {
    defaults: Vec<(PathBuf, Layer)>,
    services: Vec<(&'a Path, Layer, Vec<SloDraft>)>,
    /// OpenSLO `v1` objects refer to each other across files: read after all files.
    openslo: Vec<(&'a Path, &'a Node)>,
    diagnostics: Diagnostics,
}

/// Splits `items` into one contiguous run per core and maps each run on its own
/// thread; results come back in input order, so loading stays deterministic.
fn map_runs<'s, T: Sync, R: Send>(items: &'s [T], work: impl Fn(&'s [T]) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().div_ceil(8))
        .max(1);
    if threads == 1 {
        return vec![work(items)];
    }
    let run = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(run)
            .map(|chunk| scope.spawn(|| work(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

fn parse_run<'a>(sources: &[(&'a Path, &'a [u8])]) -> (Vec<ParsedFile<'a>>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut parsed = Vec::with_capacity(sources.len());
    for &(path, bytes) in sources {
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                diags.push(Diagnostic::error(
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
            Err(e) => diags.push(Diagnostic::error(
                path,
                e.pos,
                format!("YAML syntax error: {}", e.message),
            )),
        }
    }
    (parsed, diags)
}

fn decode_run<'a>(files: &'a [ParsedFile<'a>]) -> Decoded<'a> {
    let diags = RefCell::new(Diagnostics::default());
    let mut out = Decoded::default();
    // Never read: OpenSLO v1 documents are set aside before decode_any sees them.
    let mut unused = openslo::Registry::default();
    for file in files {
        let ctx = Ctx::new(file.path, &diags);
        for doc in &file.docs {
            if doc.get("apiVersion").and_then(Node::scalar_text) == Some(openslo::API_VERSION)
                && doc.get("version").is_none()
            {
                out.openslo.push((file.path, doc));
                continue;
            }
            match decode_any(ctx, file.path, doc, &mut unused) {
                Some(NativeDoc::Defaults(layer)) => out.defaults.push((
                    file.path.parent().unwrap_or(Path::new("")).to_path_buf(),
                    layer,
                )),
                Some(NativeDoc::Service { layer, slos }) => {
                    out.services.push((file.path, layer, slos))
                }
                None => {}
            }
        }
    }
    out.diagnostics = diags.into_inner();
    out
}

fn load_sources<'a>(sources: impl Iterator<Item = (&'a Path, &'a [u8])>) -> Loaded {
    let sources: Vec<(&Path, &[u8])> = sources.collect();
    let file_count = sources.len();
    let mut diagnostics = Diagnostics::default();
    let mut parsed = Vec::with_capacity(file_count);
    for (files, diags) in map_runs(&sources, parse_run) {
        parsed.extend(files);
        diagnostics.extend(diags);
    }

    // Phase 1: every document on its own, in parallel. Directory defaults
    // apply to every file in their directory and below.
    let mut dir_defaults: BTreeMap<PathBuf, Layer> = BTreeMap::new();
    let mut services: Vec<(&Path, Layer, Vec<SloDraft>)> = Vec::new();
    let diags = RefCell::new(Diagnostics::default());
    let mut openslo_objects = openslo::Registry::default();
    for decoded in map_runs(&parsed, decode_run) {
        for (dir, layer) in decoded.defaults {
            dir_defaults.entry(dir).or_default().merge(&layer);
        }
        services.extend(decoded.services);
        for (path, doc) in decoded.openslo {
            openslo_objects.add(Ctx::new(path, &diags), path, doc);
        }
        diagnostics.extend(decoded.diagnostics);
    }
    // Phase 2: OpenSLO references, which may point into any file.
    for (path, draft) in openslo_objects.resolve(&diags) {
        services.push((path, Layer::default(), vec![draft]));
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
    diagnostics.extend(diags.into_inner());
    Loaded {
        catalog: Catalog { slos },
        diagnostics,
        files: file_count,
    }
}

/// The headers `decode_any` recognises, for messages.
const SUPPORTED: &str = "`version: burnrate/v1`, Sloth's `version: prometheus/v1`, Pyrra's `apiVersion: pyrra.dev/v1alpha1` (`kind: ServiceLevelObjective`) or OpenSLO's `apiVersion: openslo/v1`";
const OTHERS: &str = "Sloth's `version: prometheus/v1`, Pyrra's `apiVersion: pyrra.dev/v1alpha1` (`kind: ServiceLevelObjective`) or OpenSLO's `apiVersion: openslo/v1`";

/// Recognises a document by its own header and decodes it. External formats
/// come back as native documents (their SLOs as drafts); OpenSLO `v1`
/// objects go to `openslo_objects`, to be resolved once every file is read.
fn decode_any<'a>(
    ctx: Ctx,
    path: &'a Path,
    doc: &'a Node,
    openslo_objects: &mut openslo::Registry<'a>,
) -> Option<NativeDoc> {
    let version = doc.get("version").and_then(Node::scalar_text);
    let api_version = doc.get("apiVersion").and_then(Node::scalar_text);
    let kind = doc.get("kind").and_then(Node::scalar_text);
    let service = |(layer, slos)| NativeDoc::Service { layer, slos };
    match (version, api_version) {
        (Some(native::VERSION), _) => native::decode_document(ctx, doc),
        (Some(sloth::VERSION), _) => sloth::decode_document(ctx, doc).map(service),
        (Some(other), _) => {
            let pos = doc.get("version").map_or(doc.pos, |n| n.pos);
            ctx.error(
                pos,
                "version",
                format!("unsupported version `{other}`: expected {SUPPORTED}"),
            );
            None
        }
        (None, Some(pyrra::API_VERSION)) => match kind {
            Some(pyrra::KIND) => pyrra::decode_document(ctx, doc)
                .map(|draft| service((Layer::default(), vec![draft]))),
            other => {
                unsupported_kind(ctx, doc, other, pyrra::API_VERSION, &[pyrra::KIND]);
                None
            }
        },
        (None, Some(openslo::API_VERSION)) => {
            openslo_objects.add(ctx, path, doc);
            None
        }
        (None, Some(openslo::V1ALPHA)) => Some(service((
            Layer::default(),
            openslo::decode_v1alpha(ctx, doc),
        ))),
        (None, Some(sloth::K8S_API_VERSION)) => {
            match kind {
                Some("AlertWindows") => sloth::reject_alert_windows(ctx, doc),
                Some("PrometheusServiceLevel") => {
                    let pos = doc.get("kind").map_or(doc.pos, |n| n.pos);
                    ctx.error(pos, "kind", "Sloth's Kubernetes `PrometheusServiceLevel` objects are not read; the same SLOs written as Sloth's `version: prometheus/v1` documents (`service`, `labels` and `slos` at the top level) are");
                }
                other => unsupported_kind(
                    ctx,
                    doc,
                    other,
                    sloth::K8S_API_VERSION,
                    &["PrometheusServiceLevel", "AlertWindows"],
                ),
            }
            None
        }
        (None, Some(other)) => {
            let pos = doc.get("apiVersion").map_or(doc.pos, |n| n.pos);
            ctx.error(
                pos,
                "apiVersion",
                format!("unsupported apiVersion `{other}`: expected {SUPPORTED}"),
            );
            None
        }
        (None, None) if doc.get("groups").is_some() => {
            ctx.error(
                doc.pos,
                "groups",
                "this is a Prometheus rule file (`groups:`), not an SLO specification; burnrate reads the SLOs such rules are generated from",
            );
            None
        }
        (None, None) => {
            ctx.error(
                doc.pos,
                "version",
                format!("not a recognised SLO document: expected a `version: burnrate/v1` header, or another tool's: {OTHERS}"),
            );
            None
        }
    }
}

fn unsupported_kind(ctx: Ctx, doc: &Node, kind: Option<&str>, api_version: &str, kinds: &[&str]) {
    let pos = doc.get("kind").map_or(doc.pos, |n| n.pos);
    let found = kind.map_or("no `kind`".to_string(), |k| format!("`kind: {k}`"));
    ctx.error(
        pos,
        "kind",
        format!(
            "unsupported {found} for `apiVersion: {api_version}`: expected {}",
            super::decode::quote_list(kinds)
        ),
    );
}
