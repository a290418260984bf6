//! `burnrate serve`: the scheduler, the catalog it runs, and the HTTP API,
//! built from one settings value so tests start exactly what users run.

pub mod health;
pub mod http;
pub mod reload;
pub mod runtime;
pub mod scheduler;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use chrono::Utc;
use tokio::net::TcpListener;
use tracing::info;

use crate::duration::Duration;
use crate::evaluation::{InstanceStatus, Snapshot};
use crate::prom::{Prometheus, PrometheusConfig, PrometheusError};
use crate::store::{Store, StoreError};
use reload::Reloader;
use runtime::{IngestSettings, Services};

/// Everything `serve` needs to run.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub catalog: Vec<PathBuf>,
    pub prometheus: PrometheusConfig,
    pub database_url: String,
    pub listen: SocketAddr,
    pub interval: Duration,
    pub concurrency: usize,
    pub ingest: IngestSettings,
    /// How often catalog files are checked for changes.
    pub watch_interval: std::time::Duration,
    /// Tokens, timeouts and limits of the HTTP API.
    pub api: crate::api::ApiSettings,
    /// Alertmanager URLs and alert delivery settings.
    pub alerting: crate::alerting::AlertingConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the catalog cannot be loaded: {0}")]
    Catalog(String),
    #[error(transparent)]
    Prometheus(#[from] PrometheusError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot set up alert delivery: {0}")]
    Alerting(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// State shared by the scheduler and the HTTP handlers.
pub struct AppState {
    snapshot: RwLock<Arc<Snapshot>>,
    pub reloader: Reloader,
    pub store: Store,
    evaluated: AtomicBool,
    /// How old an evaluation may be before the gate stops trusting it.
    pub max_status_age: Duration,
}

impl AppState {
    /// The current snapshot; readers never wait for a cycle.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .map(|s| Arc::clone(&s))
            .unwrap_or_default()
    }

    pub fn publish(
        &self,
        statuses: impl Iterator<Item = InstanceStatus>,
        cycle_duration: std::time::Duration,
    ) {
        let snapshot = Snapshot {
            instances: statuses.map(|s| (s.id.clone(), s)).collect(),
            published_at: Some(Utc::now()),
            cycle_duration,
        };
        if let Ok(mut slot) = self.snapshot.write() {
            *slot = Arc::new(snapshot);
        }
        self.evaluated.store(true, Ordering::Release);
    }

    /// True once the first cycle has finished.
    pub fn evaluated(&self) -> bool {
        self.evaluated.load(Ordering::Acquire)
    }
}

/// A built application: listening, not yet running.
pub struct App {
    listener: TcpListener,
    state: Arc<AppState>,
    services: Arc<Services>,
    settings: ServeSettings,
    catalog_rx: tokio::sync::watch::Receiver<Arc<crate::catalog::Catalog>>,
}

impl App {
    /// Loads the catalog, connects to PostgreSQL (applying migrations) and binds the listener.
    pub async fn build(settings: ServeSettings) -> Result<Self, ServeError> {
        let catalog = reload::load_catalog(&settings.catalog).map_err(ServeError::Catalog)?;
        info!(slos = catalog.slos.len(), "catalog loaded");
        let prometheus = Prometheus::new(&settings.prometheus)?;
        let store = Store::connect(&settings.database_url).await?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| ServeError::Listen {
                    addr: settings.listen,
                    source,
                })?;
        let (reloader, catalog_rx) = Reloader::new(settings.catalog.clone(), catalog);
        let state = Arc::new(AppState {
            snapshot: RwLock::default(),
            reloader,
            store: store.clone(),
            evaluated: AtomicBool::new(false),
            max_status_age: max_status_age(settings.interval),
        });
        let alerting = settings
            .alerting
            .start()
            .map_err(|e| ServeError::Alerting(e.to_string()))?;
        if !settings.alerting.alertmanager_urls.is_empty() {
            info!(alertmanagers = ?settings.alerting.alertmanager_urls, "delivering alerts");
        }
        let services = Arc::new(Services {
            prometheus,
            store,
            settings: settings.ingest.clone(),
            alerting,
        });
        Ok(App {
            listener,
            state,
            services,
            settings,
            catalog_rx,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.settings.listen)
    }

    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// Runs the scheduler, the catalog watcher and the HTTP server until `shutdown` resolves.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let scheduler = scheduler::Scheduler {
            services: self.services,
            state: Arc::clone(&self.state),
            interval: self.settings.interval,
            concurrency: self.settings.concurrency,
        };
        let scheduler = tokio::spawn(scheduler.run(self.catalog_rx));
        let watcher = tokio::spawn(
            self.state
                .reloader
                .clone()
                .watch(self.settings.watch_interval),
        );
        info!(listen = %self.listener.local_addr()?, "serving");
        let router = crate::api::router(Arc::clone(&self.state), &self.settings.api);
        http::serve(
            self.listener,
            router,
            self.settings.api.header_read_timeout,
            shutdown,
        )
        .await;
        scheduler.abort();
        watcher.abort();
        Ok(())
    }
}

/// Five intervals, at least five minutes: slow cycles pass, a stuck scheduler does not.
pub fn max_status_age(interval: Duration) -> Duration {
    Duration::from_millis(interval.as_millis().saturating_mul(5)).max(Duration::from_mins(5))
}
