//! Catalog changes without restart: SIGHUP, a file watch (polling), or the
//! API's reload. A catalog with errors is refused and the last good one kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;
use tracing::{error, info};

use crate::catalog::{self, Catalog, Diagnostic};

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
    catalog::load_paths(paths)?
        .into_result()
        .map_err(CatalogError::Invalid)
}

/// Publishes catalogs to the scheduler.
#[derive(Clone)]
pub struct Reloader {
    paths: Arc<Vec<PathBuf>>,
    tx: Arc<watch::Sender<Arc<Catalog>>>,
}

impl Reloader {
    pub fn new(paths: Vec<PathBuf>, initial: Catalog) -> (Self, watch::Receiver<Arc<Catalog>>) {
        let (tx, rx) = watch::channel(Arc::new(initial));
        (
            Reloader {
                paths: Arc::new(paths),
                tx: Arc::new(tx),
            },
            rx,
        )
    }

    pub fn current(&self) -> Arc<Catalog> {
        self.tx.borrow().clone()
    }

    /// Re-reads the catalog; keeps the running one if the new one has errors.
    pub fn reload(&self, reason: &str) -> Result<usize, CatalogError> {
        match load_catalog(&self.paths) {
            Ok(catalog) => {
                let count = catalog.slos.len();
                info!(reason, slos = count, "catalog reloaded");
                self.tx.send_replace(Arc::new(catalog));
                Ok(count)
            }
            Err(e) => {
                crate::health::count(&crate::health::CATALOG_RELOAD_FAILURES);
                error!(reason, "catalog refused, keeping the last good one: {e}");
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
