//! Catalog changes without restart: SIGHUP, a file watch (polling), or the
//! API's reload. A catalog with errors is refused and the last good one kept.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tracing::{error, info};

use crate::catalog::{self, Catalog, Diagnostic, Dialect};

/// Why a catalog was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The files could not be read at all.
    #[error(transparent)]
    Load(#[from] catalog::LoadError),
    /// The files were read and have errors.
    #[error("{} error(s):\n{}", .0.len(), lines(.0).join("\n"))]
    Invalid(Vec<Diagnostic>),
}

impl CatalogError {
    /// One line per problem.
    pub fn lines(&self) -> Vec<String> {
        match self {
            CatalogError::Load(e) => vec![e.to_string()],
            CatalogError::Invalid(diagnostics) => lines(diagnostics),
        }
    }
}

fn lines(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics.iter().map(ToString::to_string).collect()
}

/// Loads and validates a catalog.
pub fn load_catalog(paths: &[PathBuf]) -> Result<Catalog, CatalogError> {
    load_catalog_in(paths, Dialect::default())
}

/// [`load_catalog`], with free-form queries checked in `dialect`.
pub fn load_catalog_in(paths: &[PathBuf], dialect: Dialect) -> Result<Catalog, CatalogError> {
    catalog::load_paths_in(paths, dialect)?
        .into_result()
        .map_err(CatalogError::Invalid)
}

/// A reload that was refused: when, why, and the errors it listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub at: DateTime<Utc>,
    pub reason: String,
    pub errors: Vec<String>,
}

/// Publishes catalogs to the scheduler.
#[derive(Clone)]
pub struct Reloader {
    paths: Arc<Vec<PathBuf>>,
    dialect: Dialect,
    tx: Arc<watch::Sender<Arc<Catalog>>>,
    /// Counts catalogs published, so readers can tell one from the next
    /// without comparing them.
    generation: Arc<AtomicU64>,
    /// The last refused reload, until a later one succeeds: the running
    /// catalog is then older than the files, and people should know why.
    refused: Arc<Mutex<Option<Refusal>>>,
    loaded_at: Arc<Mutex<DateTime<Utc>>>,
}

impl Reloader {
    pub fn new(paths: Vec<PathBuf>, initial: Catalog) -> (Self, watch::Receiver<Arc<Catalog>>) {
        Self::new_in(paths, Dialect::default(), initial)
    }

    /// A reloader whose catalogs' queries are checked in `dialect`.
    pub fn new_in(
        paths: Vec<PathBuf>,
        dialect: Dialect,
        initial: Catalog,
    ) -> (Self, watch::Receiver<Arc<Catalog>>) {
        let (tx, rx) = watch::channel(Arc::new(initial));
        (
            Reloader {
                paths: Arc::new(paths),
                dialect,
                tx: Arc::new(tx),
                generation: Arc::new(AtomicU64::new(1)),
                refused: Arc::default(),
                loaded_at: Arc::new(Mutex::new(Utc::now())),
            },
            rx,
        )
    }

    pub fn current(&self) -> Arc<Catalog> {
        self.tx.borrow().clone()
    }

    /// The catalog files and directories this reloader reads.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// 1 for the first catalog, one more for each reload that replaced it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// When the running catalog was loaded.
    pub fn loaded_at(&self) -> DateTime<Utc> {
        self.loaded_at
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|p| *p.into_inner())
    }

    /// The last refused reload, unless a later reload succeeded.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refused.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn set_refusal(&self, refusal: Option<Refusal>) {
        if let Ok(mut slot) = self.refused.lock() {
            *slot = refusal;
        }
    }

    /// Re-reads the catalog; keeps the running one if the new one has errors.
    pub fn reload(&self, reason: &str) -> Result<usize, CatalogError> {
        match load_catalog_in(&self.paths, self.dialect) {
            Ok(catalog) => {
                let count = catalog.slos.len();
                info!(reason, slos = count, "catalog reloaded");
                self.tx.send_replace(Arc::new(catalog));
                self.generation.fetch_add(1, Ordering::AcqRel);
                if let Ok(mut at) = self.loaded_at.lock() {
                    *at = Utc::now();
                }
                self.set_refusal(None);
                Ok(count)
            }
            Err(e) => {
                crate::health::count(&crate::health::CATALOG_RELOAD_FAILURES);
                error!(reason, "catalog refused, keeping the last good one: {e}");
                self.set_refusal(Some(Refusal {
                    at: Utc::now(),
                    reason: reason.to_string(),
                    errors: e.lines(),
                }));
                Err(e)
            }
        }
    }

    /// Reloads on SIGHUP and whenever a catalog file changes (checked every `poll`).
    pub async fn watch(self, poll: std::time::Duration) {
        let mut last = fingerprint(&self.paths);
        let mut ticker = tokio::time::interval(poll);
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        loop {
            #[cfg(unix)]
            let sighup = async {
                match hangup.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let sighup = std::future::pending::<Option<()>>();
            tokio::select! {
                _ = ticker.tick() => {
                    let now = fingerprint(&self.paths);
                    if now != last {
                        last = now;
                        let _ = self.reload("catalog files changed");
                    }
                }
                _ = sighup => {
                    let _ = self.reload("SIGHUP");
                }
            }
        }
    }
}

/// Names, sizes and modification times of the catalog files: the same walk
/// the loader makes (each directory once, symbolic link loops skipped).
fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let files = catalog::catalog_files(paths)
        .map(|(files, _)| files)
        .unwrap_or_default();
    files
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (path, len, modified)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reloads_read_queries_in_the_dialect_the_reloader_was_given() {
        let dir = tempfile::tempdir().expect("tempdir");
        let metricsql = "version: burnrate/v1\nservice: shop\nslos:\n  - name: fast\n    objective: 99\n    indicator:\n      events:\n        bad: sum(rate(d_count[{{.window}}])) * (1 - histogram_share(0.2, sum by (vmrange) (rate(d_bucket[{{.window}}]))))\n        total: sum(rate(d_count[{{.window}}]))\n";
        std::fs::write(dir.path().join("slos.yaml"), metricsql).expect("write");
        let paths = vec![dir.path().to_path_buf()];
        assert!(
            load_catalog(&paths).is_err(),
            "PromQL does not know the function"
        );
        let catalog = load_catalog_in(&paths, Dialect::Metricsql).expect("MetricsQL");
        let (reloader, _rx) = Reloader::new_in(paths, Dialect::Metricsql, catalog);
        assert_eq!(reloader.reload("test").expect("still MetricsQL"), 1);
    }

    #[test]
    fn a_refused_reload_is_remembered_until_one_succeeds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("slos.yaml");
        let good = "version: burnrate/v1\nservice: shop\nslos:\n  - name: up\n    objective: 99\n    indicator:\n      bool_gauge:\n        metric: up\n";
        std::fs::write(&file, good).expect("write");
        let paths = vec![dir.path().to_path_buf()];
        let (reloader, _rx) = Reloader::new(paths.clone(), load_catalog(&paths).expect("valid"));
        assert_eq!((reloader.generation(), reloader.refusal()), (1, None));
        std::fs::write(&file, good.replace("99", "200")).expect("write");
        assert!(reloader.reload("test").is_err());
        let refusal = reloader.refusal().expect("remembered");
        assert_eq!(refusal.reason, "test");
        assert!(
            refusal.errors.iter().any(|e| e.contains("slos.yaml")),
            "{refusal:?}"
        );
        assert_eq!(
            reloader.generation(),
            1,
            "a refused catalog is not published"
        );
        std::fs::write(&file, good).expect("write");
        assert_eq!(reloader.reload("test").expect("valid"), 1);
        assert_eq!((reloader.generation(), reloader.refusal()), (2, None));
    }

    #[test]
    fn the_watcher_survives_symlink_loops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("team");
        std::fs::create_dir(&sub).expect("mkdir");
        std::fs::write(sub.join("slos.yaml"), "version: burnrate/v1\n").expect("write");
        std::os::unix::fs::symlink(dir.path(), sub.join("loop")).expect("symlink");
        std::os::unix::fs::symlink("self", dir.path().join("self")).expect("symlink");
        let files = fingerprint(&[dir.path().to_path_buf()]);
        let names: Vec<_> = files
            .iter()
            .filter_map(|(p, _, _)| p.file_name()?.to_str())
            .collect();
        assert_eq!(names, ["slos.yaml"]);
    }
}
