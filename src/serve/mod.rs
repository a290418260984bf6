//! `burnrate serve`: the scheduler, the catalog it runs, and the HTTP API,
//! built from one settings value so tests start exactly what users run.

pub mod backfill;
pub mod cycle;
pub mod http;
pub mod membership;
pub mod progress;
pub mod runtime;
pub mod scheduler;
pub mod services;
pub mod shared;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::info;

use crate::api::AppState;
use crate::duration::Duration;
use crate::prom::{Prometheus, PrometheusConfig, PrometheusError};
use crate::reload::{self, Reloader};
use crate::store::{PoolSettings, Store, StoreError};
use runtime::{IngestSettings, Services};

/// Everything `serve` needs to run.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub catalog: Vec<PathBuf>,
    /// The language of the catalog's free-form queries.
    pub promql_dialect: crate::catalog::Dialect,
    pub prometheus: PrometheusConfig,
    /// PostgreSQL URL; it may hold a password.
    pub database_url: crate::secret::Secret,
    pub listen: SocketAddr,
    pub interval: Duration,
    pub concurrency: usize,
    /// Backfills running at once, outside the evaluation cycle.
    pub backfill_concurrency: usize,
    pub ingest: IngestSettings,
    /// How often catalog files are checked for changes.
    pub watch_interval: std::time::Duration,
    /// Tokens, timeouts and limits of the HTTP API.
    pub api: crate::api::ApiSettings,
    /// Alertmanager URLs and alert delivery settings.
    pub alerting: crate::alerting::AlertingConfig,
    /// How long after its last heartbeat a replica's SLOs are taken over;
    /// none: three quarters of the interval, at least 3 s.
    pub lease_ttl: Option<Duration>,
}

impl ServeSettings {
    /// The lease TTL in force: a dead replica's SLOs are taken over within
    /// two intervals of its last heartbeat.
    pub fn lease_ttl(&self) -> std::time::Duration {
        let ms = match self.lease_ttl {
            Some(ttl) => ttl.as_millis(),
            None => (self.interval.as_millis() * 3 / 4).max(3_000),
        };
        std::time::Duration::from_millis(ms.max(1_000))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the catalog cannot be loaded: {0}")]
    Catalog(#[from] reload::CatalogError),
    #[error(transparent)]
    Prometheus(#[from] PrometheusError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot set up alert delivery: {0}")]
    Alerting(#[source] reqwest::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The Prometheus URL for people's browsers: without credentials, query or
/// fragment; none when it is not an http(s) URL.
fn browsable(url: &str) -> Option<String> {
    let mut url = reqwest::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    Some(url.as_str().trim_end_matches('/').to_string())
}

/// A built application: listening, not yet running.
pub struct App {
    listener: TcpListener,
    state: Arc<AppState>,
    services: Arc<Services>,
    membership: Arc<membership::Membership>,
    settings: ServeSettings,
    catalog_rx: tokio::sync::watch::Receiver<Arc<crate::catalog::Catalog>>,
}

impl App {
    /// Loads the catalog, connects to PostgreSQL (applying migrations) and binds the listener.
    pub async fn build(mut settings: ServeSettings) -> Result<Self, ServeError> {
        if settings.api.prometheus_link.is_none() {
            settings.api.prometheus_link = browsable(&settings.prometheus.url);
        }
        let catalog = reload::load_catalog_in(&settings.catalog, settings.promql_dialect)?;
        info!(slos = catalog.slos.len(), "catalog loaded");
        let prometheus = Prometheus::new(&settings.prometheus)?;
        let store = Store::connect(settings.database_url.expose()).await?;
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| ServeError::Listen {
                    addr: settings.listen,
                    source,
                })?;
        let api_store =
            Store::connect_with(settings.database_url.expose(), PoolSettings::API).await?;
        let membership = Arc::new(membership::Membership::new(
            store.clone(),
            settings.lease_ttl(),
            &catalog,
        ));
        let (reloader, catalog_rx) =
            Reloader::new_in(settings.catalog.clone(), settings.promql_dialect, catalog);
        let alerting = settings.alerting.start().map_err(ServeError::Alerting)?;
        let state = Arc::new(AppState::new(
            reloader,
            api_store,
            settings.interval,
            alerting.sender.clone(),
            membership.id,
        ));
        info!(replica = %membership.id, lease_ttl_ms = settings.lease_ttl().as_millis() as u64, "joining the replicas on this database");
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
            membership,
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
            backfill_concurrency: self.settings.backfill_concurrency,
            membership: Arc::clone(&self.membership),
        };
        let heartbeats = self.membership.spawn_heartbeats();
        let scheduler = tokio::spawn(scheduler.run(self.catalog_rx));
        let watcher = tokio::spawn(
            self.state
                .reloader
                .clone()
                .watch(self.settings.watch_interval),
        );
        info!(listen = %self.listener.local_addr()?, "serving");
        let router = crate::api::router_with(
            Arc::clone(&self.state),
            &self.settings.api,
            crate::ui::routes(&self.settings.api),
        );
        http::serve(
            self.listener,
            router,
            self.settings.api.header_read_timeout,
            shutdown,
        )
        .await;
        scheduler.abort();
        watcher.abort();
        heartbeats.abort();
        // Writes in flight end with the scheduler's task; then the leases go.
        let _ = scheduler.await;
        self.membership.leave().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prometheus_links_carry_no_credentials() {
        let cases = [
            ("http://127.0.0.1:9090", Some("http://127.0.0.1:9090")),
            (
                "https://u:p@prom.example/prefix/?x=1",
                Some("https://prom.example/prefix"),
            ),
            ("unix:/run/prom.sock", None),
            ("not a url", None),
        ];
        for (url, want) in cases {
            assert_eq!(super::browsable(url).as_deref(), want, "{url}");
        }
    }
}
