//! `burnrate serve`: flags to settings, then run until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::alerting::{AlertSettings, AlertingConfig};
use crate::api::{ApiSettings, CorsOrigins, Tokens, auth};
use crate::duration::Duration;
use crate::prom::PrometheusConfig;
use crate::secret::Secret;
use crate::serve::runtime::IngestSettings;
use crate::serve::{App, ServeSettings};
use crate::telemetry::{self, LogFormat};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Catalog files or directories (comma-separated or repeated).
    #[arg(
        long,
        env = "BURNRATE_CATALOG",
        default_value = "slo-definitions",
        value_delimiter = ','
    )]
    pub catalog: Vec<PathBuf>,
    #[command(flatten)]
    pub dialect: super::DialectArg,
    /// Base URL of Prometheus or any server speaking its HTTP API (Thanos, Mimir, VictoriaMetrics).
    #[arg(long, env = "PROMETHEUS_URL")]
    pub prometheus_url: String,
    /// File holding a bearer token for Prometheus.
    #[arg(long, env = "PROMETHEUS_BEARER_TOKEN_FILE")]
    pub prometheus_bearer_token_file: Option<PathBuf>,
    /// Basic-auth user name for Prometheus (with --prometheus-password-file).
    #[arg(
        long,
        env = "PROMETHEUS_USERNAME",
        requires = "prometheus_password_file"
    )]
    pub prometheus_username: Option<String>,
    /// File holding the basic-auth password for Prometheus.
    #[arg(
        long,
        env = "PROMETHEUS_PASSWORD_FILE",
        requires = "prometheus_username"
    )]
    pub prometheus_password_file: Option<PathBuf>,
    /// Extra header on every Prometheus request, e.g. `X-Scope-OrgID: tenant-1` (repeatable).
    #[arg(long = "prometheus-header", value_name = "NAME: VALUE")]
    pub prometheus_headers: Vec<String>,
    /// Timeout of one Prometheus request.
    #[arg(long, env = "PROMETHEUS_TIMEOUT", default_value = "30s")]
    pub prometheus_timeout: Duration,
    /// Largest Prometheus answer read, in MiB; a larger one is refused as it
    /// streams in and its span fetched again in halves.
    #[arg(long, env = "PROMETHEUS_MAX_ANSWER_MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub prometheus_max_answer_mib: u64,
    /// Read raw samples over Prometheus' remote read API (`/api/v1/read`)
    /// where the server serves it and has no external labels, which is
    /// several times cheaper for both sides than the JSON API; `false` reads
    /// everything over the JSON API.
    #[arg(long, env = "PROMETHEUS_REMOTE_READ", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub prometheus_remote_read: bool,
    /// Spans shorter than this (a steady cycle's few minutes) are read over
    /// remote read as samples, not chunks: whole chunks reach far past a
    /// short span, which costs Prometheus more.
    #[arg(long, env = "PROMETHEUS_REMOTE_READ_MIN_SPAN", default_value = "30m")]
    pub prometheus_remote_read_min_span: Duration,
    /// PEM file with CA certificates to trust for Prometheus over HTTPS.
    #[arg(long, env = "PROMETHEUS_CA_FILE")]
    pub prometheus_ca_file: Option<PathBuf>,
    /// Skip TLS certificate verification for Prometheus (testing only).
    #[arg(long)]
    pub prometheus_insecure_skip_verify: bool,
    /// Prometheus as people's browsers reach it, for the web UI's links to its
    /// graph page [default: --prometheus-url without credentials].
    #[arg(long, env = "PROMETHEUS_UI_URL", value_name = "URL")]
    pub prometheus_ui_url: Option<String>,
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Secret,
    /// Address of the HTTP API.
    #[arg(long, env = "BURNRATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// How often every SLO is brought up to date and evaluated.
    #[arg(long, env = "BURNRATE_INTERVAL", default_value = "1m")]
    pub interval: Duration,
    /// SLOs evaluated at the same time.
    #[arg(long, env = "BURNRATE_CONCURRENCY", default_value_t = 8)]
    pub concurrency: usize,
    /// SLOs loading their history at once, outside the evaluation cycle (new
    /// or reset SLOs, and gaps longer than --backfill-chunk).
    #[arg(long, env = "BURNRATE_BACKFILL_CONCURRENCY", default_value_t = 2)]
    pub backfill_concurrency: usize,
    /// Recent span re-read every cycle, so late samples are counted.
    #[arg(long, default_value = "2m")]
    pub reread: Duration,
    /// Largest span fetched per query during backfill and gap healing.
    #[arg(long, default_value = "6h")]
    pub backfill_chunk: Duration,
    /// How long data stays after its SLI changed, or beyond a shrunk window,
    /// before it is deleted: a revert within this time brings it back.
    #[arg(long, env = "BURNRATE_RETIRED_GRACE", default_value = "7d")]
    pub retired_grace: Duration,
    /// Instances one grouped SLO may have; label sets beyond are reported, not counted.
    #[arg(long, env = "BURNRATE_MAX_INSTANCES_PER_SLO", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_instances_per_slo: u64,
    /// An SLO instance whose series send no samples for longer than this is `absent`.
    #[arg(long, env = "BURNRATE_ABSENT_AFTER", default_value = "30m")]
    pub absent_after: Duration,
    /// Replicas sharing the database take over a replica's SLOs this long
    /// after its last heartbeat [default: three quarters of --interval]. Any
    /// number of `burnrate serve` processes may run against one database;
    /// each SLO is run by one of them at a time.
    #[arg(long, env = "BURNRATE_LEASE_TTL")]
    pub lease_ttl: Option<Duration>,
    /// File holding the bearer token for reads (API and /metrics); without a read token, reads are open.
    #[arg(long, env = "BURNRATE_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// The read token itself (prefer the file or the environment variable; never logged).
    #[arg(
        long,
        env = "BURNRATE_API_TOKEN",
        hide_env_values = true,
        conflicts_with = "api_token_file"
    )]
    pub api_token: Option<Secret>,
    /// File holding the bearer token for writes (POST /-/reload); without a write token, writes are refused.
    #[arg(long, env = "BURNRATE_API_WRITE_TOKEN_FILE")]
    pub api_write_token_file: Option<PathBuf>,
    /// The write token itself (prefer the file or the environment variable; never logged).
    #[arg(
        long,
        env = "BURNRATE_API_WRITE_TOKEN",
        hide_env_values = true,
        conflicts_with = "api_write_token_file"
    )]
    pub api_write_token: Option<Secret>,
    /// Alertmanager base URL to send alerts to, e.g. `http://alertmanager:9093`
    /// (repeatable, or comma-separated in the environment variable). Without
    /// one, alerts are evaluated, recorded and shown in the API only.
    #[arg(
        long = "alertmanager-url",
        env = "BURNRATE_ALERTMANAGER_URLS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub alertmanager_urls: Vec<String>,
    /// A web origin whose pages may call the API from a browser, e.g.
    /// `https://dash.example.com`, or `*` for any (repeatable, or
    /// comma-separated in the environment variable). Without one, no CORS
    /// headers are sent. Tokens are still required.
    #[arg(
        long = "cors-origin",
        env = "BURNRATE_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_origins: Vec<String>,
    /// The URL people reach this burnrate at, for the `dashboard_url`
    /// annotation and `generatorURL` of alerts.
    #[arg(long, env = "BURNRATE_EXTERNAL_URL", value_name = "URL")]
    pub external_url: Option<String>,
    /// Firing alerts are sent to Alertmanager again this often; each stays
    /// valid for four times the larger of this and --interval.
    #[arg(long, env = "BURNRATE_ALERT_RESEND_INTERVAL", default_value = "1m")]
    pub alert_resend_interval: Duration,
    /// Log format.
    #[arg(long, env = "BURNRATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

impl ServeArgs {
    pub fn settings(&self) -> anyhow::Result<ServeSettings> {
        let mut prometheus = PrometheusConfig::new(self.prometheus_url.clone());
        prometheus.timeout = self.prometheus_timeout.to_std();
        prometheus.max_answer_bytes = (self.prometheus_max_answer_mib as usize) << 20;
        prometheus.ca_file = self.prometheus_ca_file.clone();
        prometheus.insecure_skip_verify = self.prometheus_insecure_skip_verify;
        prometheus.remote_read = self.prometheus_remote_read;
        prometheus.remote_read_min_span = self.prometheus_remote_read_min_span.to_std();
        if let Some(path) = &self.prometheus_bearer_token_file {
            prometheus.bearer_token = Some(read_secret(path)?);
        }
        if let (Some(user), Some(path)) =
            (&self.prometheus_username, &self.prometheus_password_file)
        {
            prometheus.basic_auth = Some((user.clone(), read_secret(path)?));
        }
        for header in &self.prometheus_headers {
            let (name, value) = header.split_once(':').with_context(|| {
                format!("--prometheus-header `{header}`: expected `Name: value`")
            })?;
            prometheus
                .headers
                .push((name.trim().to_string(), value.trim().to_string()));
        }
        if self.interval < Duration::from_secs(10) {
            anyhow::bail!("--interval must be at least 10s");
        }
        if let Some(ttl) = self.lease_ttl
            && !(Duration::from_secs(1)..=Duration::from_mins(10)).contains(&ttl)
        {
            anyhow::bail!("--lease-ttl must be between 1s and 10m");
        }
        for url in self
            .alertmanager_urls
            .iter()
            .chain(&self.external_url)
            .chain(&self.prometheus_ui_url)
        {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                anyhow::bail!("`{url}` is not an http:// or https:// URL");
            }
        }
        Ok(ServeSettings {
            catalog: self.catalog.clone(),
            promql_dialect: self.dialect.promql_dialect,
            prometheus,
            database_url: self.database_url.clone(),
            listen: self.listen,
            interval: self.interval,
            concurrency: self.concurrency,
            backfill_concurrency: self.backfill_concurrency,
            ingest: IngestSettings {
                reread: self.reread,
                chunk: self.backfill_chunk,
                retired_grace: self.retired_grace,
                max_instances: self.max_instances_per_slo as usize,
                absent_after: self.absent_after,
                ..IngestSettings::default()
            },
            watch_interval: std::time::Duration::from_secs(5),
            lease_ttl: self.lease_ttl,
            alerting: AlertingConfig {
                alertmanager_urls: self.alertmanager_urls.clone(),
                settings: AlertSettings {
                    external_url: self.external_url.clone(),
                    resend_interval: self.alert_resend_interval,
                    eval_interval: self.interval,
                    ..AlertSettings::default()
                },
                ..AlertingConfig::default()
            },
            api: ApiSettings {
                tokens: Tokens {
                    read: auth::token_from(
                        self.api_token.as_ref(),
                        self.api_token_file.as_deref(),
                        "--api-token",
                    )
                    .map_err(anyhow::Error::msg)?,
                    write: auth::token_from(
                        self.api_write_token.as_ref(),
                        self.api_write_token_file.as_deref(),
                        "--api-write-token",
                    )
                    .map_err(anyhow::Error::msg)?,
                },
                cors: CorsOrigins::parse(&self.cors_origins).map_err(anyhow::Error::msg)?,
                prometheus_link: self
                    .prometheus_ui_url
                    .as_ref()
                    .map(|u| u.trim_end_matches('/').to_string()),
                // Twice a cycle: a new snapshot shows within half an interval.
                ui_poll: (self.interval.to_std() / 2).min(std::time::Duration::from_secs(10)),
                ..ApiSettings::default()
            },
        })
    }
}

fn read_secret(path: &std::path::Path) -> anyhow::Result<Secret> {
    Secret::from_file(path).with_context(|| format!("cannot read {}", path.display()))
}

pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    telemetry::init(args.log_format);
    let settings = args.settings()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let app = App::build(settings).await?;
        app.run_until(shutdown_signal())
            .await
            .context("HTTP server failed")?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
