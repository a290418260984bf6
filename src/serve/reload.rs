//! Catalog changes without restart: SIGHUP, a file watch (polling), or the
//! API's reload. A catalog with errors is refused and the last good one kept.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;
use tracing::{error, info};

use crate::catalog::{self, Catalog};

/// Loads and validates a catalog; on any error, every diagnostic as one message.
pub fn load_catalog(paths: &[PathBuf]) -> Result<Catalog, String> {
    let loaded = catalog::load_paths(paths).map_err(|e| e.to_string())?;
    loaded.into_result().map_err(|diagnostics| {
        let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        format!("{} error(s):\n{}", lines.len(), lines.join("\n"))
    })
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
    pub fn reload(&self, reason: &str) -> Result<usize, String> {
        match load_catalog(&self.paths) {
            Ok(catalog) => {
                let count = catalog.slos.len();
                info!(reason, slos = count, "catalog reloaded");
                self.tx.send_replace(Arc::new(catalog));
                Ok(count)
            }
            Err(message) => {
                error!(
                    reason,
                    "catalog refused, keeping the last good one: {message}"
                );
                Err(message)
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

/// Names, sizes and modification times of every file under the paths.
fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out);
    }
    out.sort();
    out
}

fn walk(path: &Path, out: &mut Vec<(PathBuf, u64, Option<SystemTime>)>) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                walk(&entry.path(), out);
            }
        }
    } else {
        out.push((path.to_path_buf(), meta.len(), meta.modified().ok()));
    }
}
