//! Reading a catalog from files and directories: every document, every problem.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::decode::Ctx;
use super::diagnostic::{Diagnostic, Diagnostics, Pos};
use super::dialect::Dialect;
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

/// The largest catalog file burnrate reads; a larger one is refused unread.
pub const MAX_FILE_BYTES: u64 = 10 << 20;

/// The files [`load_paths`] reads, sorted, and the problems met finding them:
/// every `*.yaml`/`*.yml` file under the given files and directories, each
/// directory read once, symbolic link loops reported and skipped.
pub fn catalog_files(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Diagnostics), LoadError> {
    let mut walk = Walk::default();
    for path in paths {
        walk.collect(path, true)?;
    }
    let mut files = walk.files;
    files.sort();
    files.dedup();
    Ok((files, walk.diagnostics))
}

/// Loads every `*.yaml`/`*.yml` file under the given files and directories.
pub fn load_paths(paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    load_paths_in(paths, Dialect::default())
}

/// [`load_paths`], with free-form queries checked in `dialect`.
pub fn load_paths_in(paths: &[PathBuf], dialect: Dialect) -> Result<Loaded, LoadError> {
    let (files, mut refused) = catalog_files(paths)?;
    let mut sources = Vec::with_capacity(files.len());
    for file in &files {
        match read_source(file)? {
            Ok(bytes) => sources.push((file.as_path(), bytes)),
            Err(diagnostic) => refused.push(diagnostic),
        }
    }
    let mut loaded = load_sources(sources.iter().map(|(p, b)| (*p, b.as_slice())), dialect);
    loaded.diagnostics.extend(refused);
    loaded.files = files.len();
    Ok(loaded)
}

/// Loads one in-memory file (for tests and tools).
pub fn load_str(file: &Path, source: &str) -> Loaded {
    load_str_in(file, source, Dialect::default())
}

/// [`load_str`], with free-form queries checked in `dialect`.
pub fn load_str_in(file: &Path, source: &str, dialect: Dialect) -> Loaded {
    load_sources(std::iter::once((file, source.as_bytes())), dialect)
}

/// Where a problem about a whole file is reported.
const FILE_START: Pos = Pos { line: 1, column: 1 };

/// A file's bytes, or why they were not read. A file over [`MAX_FILE_BYTES`]
/// is refused from its length, and one that has no length or grows while
/// read is cut off at the limit, so neither is read whole.
fn read_source(path: &Path) -> Result<Result<Vec<u8>, Diagnostic>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let too_big = |size: Option<u64>| {
        let size = size.map_or(String::new(), |s| format!(" ({} MiB)", s.div_ceil(1 << 20)));
        Diagnostic::error(
            path,
            FILE_START,
            format!(
                "the file is larger than {} MiB{size}, the limit for a catalog file",
                MAX_FILE_BYTES >> 20
            ),
        )
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Ok(Err(too_big(Some(len))));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Ok(Err(too_big(None)));
    }
    Ok(Ok(bytes))
}

/// The files found under the paths given, and the problems met on the way.
#[derive(Default)]
struct Walk {
    files: Vec<PathBuf>,
    diagnostics: Diagnostics,
    /// The directories being read, resolved, from the outermost in: a
    /// symbolic link back to one of them would make the walk endless.
    open_dirs: Vec<PathBuf>,
    /// Every directory read so far, resolved: links that reach one twice
    /// would read its files twice, and links that fan out could multiply
    /// the walk without end.
    seen_dirs: HashSet<PathBuf>,
}

impl Walk {
    fn collect(&mut self, path: &Path, explicit: bool) -> Result<(), LoadError> {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            // A link that leads to itself, or from inside a directory to
            // nowhere, is a problem in the catalog, not a reason to stop.
            Err(source)
                if (!explicit || source.kind() != std::io::ErrorKind::NotFound)
                    && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink()) =>
            {
                self.error(path, format!("cannot follow the symbolic link: {source}"));
                return Ok(());
            }
            Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(LoadError::NotFound(path.to_path_buf()));
            }
            Err(source) => {
                return Err(LoadError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let io = |source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        };
        if meta.is_dir() {
            let resolved = std::fs::canonicalize(path).map_err(io)?;
            if let Some(open) = self.open_dirs.iter().find(|d| **d == resolved) {
                let message = format!(
                    "a symbolic link loop: this directory is `{}`, which is already being read; skipped",
                    open.display()
                );
                self.error(path, message);
                return Ok(());
            }
            if !self.seen_dirs.insert(resolved.clone()) {
                return Ok(());
            }
            self.open_dirs.push(resolved);
            let mut children = Vec::new();
            for entry in std::fs::read_dir(path).map_err(io)? {
                children.push(entry.map_err(io)?.path());
            }
            // In name order, so which of two links to a directory is read does not vary.
            children.sort();
            for child in children {
                let hidden = child
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'));
                if !hidden {
                    self.collect(&child, false)?;
                }
            }
            self.open_dirs.pop();
        } else if explicit || is_yaml(path) {
            if meta.is_file() {
                self.files.push(path.to_path_buf());
            } else {
                // Reading a FIFO or a device could wait or run forever.
                self.error(path, "not a regular file".to_string());
            }
        }
        Ok(())
    }

    fn error(&mut self, path: &Path, message: String) {
        self.diagnostics
            .push(Diagnostic::error(path, FILE_START, message));
    }
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
        match text_of(bytes) {
            Ok(text) => match yaml::parse_documents(text) {
                Ok(docs) => parsed.push(ParsedFile { path, docs }),
                Err(e) => diags.push(Diagnostic::error(path, e.pos, e.to_string())),
            },
            Err((pos, message)) => diags.push(Diagnostic::error(path, pos, message)),
        }
    }
    (parsed, diags)
}

/// The file as text, or where and why it is not: YAML is UTF-8 text without NUL bytes.
fn text_of(bytes: &[u8]) -> Result<&str, (Pos, String)> {
    let nul = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let (offset, what) = match std::str::from_utf8(&bytes[..nul]) {
        Ok(text) if nul == bytes.len() => return Ok(text),
        Ok(_) => (nul, "a NUL byte (a binary file, or text in UTF-16?)"),
        Err(e) => (e.valid_up_to(), "not UTF-8 text"),
    };
    // Everything before the offset is text, so its lines and characters can be counted.
    let before = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let pos = Pos {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    };
    Err((pos, format!("{what} at byte offset {offset}")))
}

fn decode_run<'a>(files: &'a [ParsedFile<'a>], dialect: Dialect) -> Decoded<'a> {
    let diags = RefCell::new(Diagnostics::default());
    let mut out = Decoded::default();
    // Never read: OpenSLO v1 documents are set aside before decode_any sees them.
    let mut unused = openslo::Registry::default();
    for file in files {
        let ctx = Ctx::new(file.path, &diags).with_dialect(dialect);
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

fn load_sources<'a>(
    sources: impl Iterator<Item = (&'a Path, &'a [u8])>,
    dialect: Dialect,
) -> Loaded {
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
    for decoded in map_runs(&parsed, |run| decode_run(run, dialect)) {
        for (dir, layer) in decoded.defaults {
            dir_defaults.entry(dir).or_default().merge(&layer);
        }
        services.extend(decoded.services);
        for (path, doc) in decoded.openslo {
            openslo_objects.add(Ctx::new(path, &diags).with_dialect(dialect), path, doc);
        }
        diagnostics.extend(decoded.diagnostics);
    }
    // Phase 2: OpenSLO references, which may point into any file.
    for (path, draft) in openslo_objects.resolve(&diags, dialect) {
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
                diags.borrow_mut().push(
                    Diagnostic::error(
                        path,
                        pos,
                        format!(
                            "duplicate SLO id `{id}`: already defined at {}:{first_line}",
                            first_file.display()
                        ),
                    )
                    .with_slo(Some(&id))
                    .with_field("name")
                    .with_related(first_file),
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
        catalog: Catalog {
            slos: slos.into_iter().map(Arc::new).collect(),
        },
        diagnostics,
        files: file_count,
    }
}

/// The headers `decode_any` recognises, for messages.
const SUPPORTED: &str = "`version: burnrate/v1`, Sloth's `version: prometheus/v1` (or `apiVersion: sloth.slok.dev/v1`, `kind: PrometheusServiceLevel`), Pyrra's `apiVersion: pyrra.dev/v1alpha1` (`kind: ServiceLevelObjective`) or OpenSLO's `apiVersion: openslo/v1`";
const OTHERS: &str = "Sloth's `version: prometheus/v1` (or `apiVersion: sloth.slok.dev/v1`, `kind: PrometheusServiceLevel`), Pyrra's `apiVersion: pyrra.dev/v1alpha1` (`kind: ServiceLevelObjective`) or OpenSLO's `apiVersion: openslo/v1`";

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
        (None, Some(sloth::K8S_API_VERSION)) => match kind {
            Some(sloth::K8S_KIND) => sloth::decode_crd(ctx, doc).map(service),
            Some("AlertWindows") => {
                sloth::reject_alert_windows(ctx, doc);
                None
            }
            other => {
                unsupported_kind(
                    ctx,
                    doc,
                    other,
                    sloth::K8S_API_VERSION,
                    &[sloth::K8S_KIND, "AlertWindows"],
                );
                None
            }
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bytes_and_bad_utf8_are_placed_at_their_line() {
        assert_eq!(text_of(b"a: 1\n"), Ok("a: 1\n"));
        let (pos, message) = text_of(b"a: 1\nb: x\0y\n").unwrap_err();
        assert_eq!(pos, Pos { line: 2, column: 5 });
        assert!(message.starts_with("a NUL byte"), "{message}");
        assert!(message.ends_with("at byte offset 9"), "{message}");
        let (pos, message) = text_of(b"a: 1\nb: \xc3\xa9\xff").unwrap_err();
        assert_eq!(pos, Pos { line: 2, column: 5 });
        assert_eq!(message, "not UTF-8 text at byte offset 10");
        // Whichever comes first is reported.
        let (_, message) = text_of(b"\xff\0").unwrap_err();
        assert!(message.starts_with("not UTF-8"), "{message}");
    }

    #[test]
    fn files_over_the_limit_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        let file = std::fs::File::create(&big).unwrap();
        // Sparse: the length is all that is looked at.
        file.set_len(MAX_FILE_BYTES + 1).unwrap();
        let refused = read_source(&big).unwrap().unwrap_err();
        assert!(
            refused.message.contains("larger than 10 MiB"),
            "{}",
            refused.message
        );
        file.set_len(3).unwrap();
        assert_eq!(read_source(&big).unwrap().unwrap(), vec![0, 0, 0]);
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_link_loops_are_reported_and_skipped() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/slo.yaml"), "x: 1\n").unwrap();
        symlink(root.join("a"), root.join("a/b/up")).unwrap();
        symlink("self.yaml", root.join("a/self.yaml")).unwrap();
        symlink("missing.yaml", root.join("a/gone.yaml")).unwrap();
        // Two links to one directory: its files are read once.
        symlink(root.join("a/b"), root.join("a/b2")).unwrap();
        let mut walk = Walk::default();
        walk.collect(&root.join("a"), true).unwrap();
        assert_eq!(walk.files, [root.join("a/b/slo.yaml")]);
        let mut messages: Vec<_> = walk
            .diagnostics
            .iter()
            .map(|d| {
                (
                    d.file.strip_prefix(root).unwrap().to_path_buf(),
                    d.message.clone(),
                )
            })
            .collect();
        messages.sort();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert_eq!(messages[0].0, Path::new("a/b/up"));
        assert!(
            messages[0].1.contains("symbolic link loop"),
            "{}",
            messages[0].1
        );
        assert_eq!(messages[1].0, Path::new("a/gone.yaml"));
        assert_eq!(messages[2].0, Path::new("a/self.yaml"));
        assert!(
            messages[2].1.starts_with("cannot follow the symbolic link"),
            "{}",
            messages[2].1
        );
    }
}
