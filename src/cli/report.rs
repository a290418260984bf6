//! `burnrate report`: a period's figures per SLO instance from PostgreSQL,
//! as Markdown, CSV or JSON.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::ValueEnum;

use super::check::EXIT_CANNOT_RUN;
use crate::api::params::parse_time;
use crate::report::{ReportQuery, build, clamp_span, current_month, parse_period, render};
use crate::secret::Secret;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    /// A review document: a summary table, then a section per SLO instance.
    #[default]
    Markdown,
    /// One row per SLO instance.
    Csv,
    /// The same document as `GET /api/v1/reports`.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Catalog files or directories: the SLOs to report on.
    #[arg(default_value = "slo-definitions")]
    pub paths: Vec<PathBuf>,
    /// PostgreSQL connection URL (the database `burnrate serve` writes).
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Secret,
    /// A month (`2026-11`) or a quarter (`2026-Q4`), in UTC; default: this month.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub period: Option<String>,
    /// Start of the period: RFC 3339 or Unix seconds (with --to).
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// End of the period, exclusive (with --from).
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Only this service (repeatable).
    #[arg(long)]
    pub service: Vec<String>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    pub format: ReportFormat,
    // The catalog is read as `burnrate serve` reads it.
    #[command(flatten)]
    pub dialect: super::DialectArg,
}

fn span(args: &ReportArgs, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let time = |flag: &str, text: &str| {
        parse_time(text).ok_or_else(|| {
            format!("--{flag} `{text}` is not a time: expected RFC 3339 (2026-11-01T00:00:00Z) or Unix seconds")
        })
    };
    let (from, to) = match (&args.period, &args.from, &args.to) {
        (Some(p), _, _) => parse_period(p)?,
        (None, Some(from), Some(to)) => (time("from", from)?, time("to", to)?),
        _ => current_month(now),
    };
    if from >= to {
        return Err(format!("the period is empty: {from} is not before {to}"));
    }
    Ok(clamp_span(from, to))
}

/// Exit status: 0 printed, 1 catalog errors, 2 bad arguments or an
/// unreachable database.
pub fn run(
    args: &ReportArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let catalog = match super::load_catalog_or_exit(
        &args.paths,
        args.dialect.promql_dialect,
        "no report",
        err,
    )? {
        Ok(catalog) => catalog,
        Err(code) => return Ok(code),
    };
    let now = Utc::now();
    let (from, to) = match span(args, now) {
        Ok(span) => span,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(ExitCode::from(EXIT_CANNOT_RUN));
        }
    };
    let query = ReportQuery {
        from,
        to,
        services: args.service.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let store = Store::connect(args.database_url.expose())
            .await
            .context("cannot connect to PostgreSQL")?;
        build(&store, &catalog, &query, now)
            .await
            .context("cannot read the stored data")
    })?;
    let text = match args.format {
        ReportFormat::Markdown => render::markdown(&report),
        ReportFormat::Csv => render::csv(&report),
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    out.write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
