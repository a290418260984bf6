//! The `burnrate` command line.

pub mod annotations;
pub mod changed;
pub mod check;
pub mod convert;
pub mod gate;
pub mod report;
pub mod rules;
pub mod serve;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::catalog::{self, Catalog, Dialect};
use check::{EXIT_CANNOT_RUN, EXIT_INVALID};

/// SLOs and error budgets from exact event counts: catalog checks, a
/// Prometheus-fed budget service, burn-rate alerts and release gating.
#[derive(Debug, Parser)]
#[command(name = "burnrate", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate SLO catalog files and report every problem with file, line and column.
    ///
    /// Exit status: 0 when the catalog is valid, 1 when it has errors, 2 when it
    /// cannot be read at all (missing path, unreadable file).
    Check(CheckArgs),
    /// Run the service: ingest SLI events from Prometheus into PostgreSQL,
    /// evaluate budgets and alerts every interval, and serve the HTTP API.
    ///
    /// The catalog is reloaded on SIGHUP and when its files change; a catalog
    /// with errors is refused and the last good one keeps running.
    Serve(Box<serve::ServeArgs>),
    /// Print Sloth, Pyrra or OpenSLO files (or native ones) as an equivalent
    /// native burnrate catalog, for migrating for good.
    ///
    /// Exit status: 0 when everything converted, 1 when some input could not
    /// be honoured (problems are printed to stderr and nothing is printed to
    /// stdout), 2 when a path cannot be read.
    Convert(ConvertArgs),
    /// Ask a running burnrate whether services may be released now.
    ///
    /// Prints the decision, each service's own decision when there are
    /// several, and each SLO instance's reasons. Retries within --timeout;
    /// every decision is recorded by the server. Exit status: 0 allow
    /// (or overridden), 1 deny, 2 cannot decide (server unreachable within
    /// --timeout, no data, no fresh evaluation within --wait-fresh, unknown
    /// service); --fail-open turns 2 into 0.
    Gate(gate::GateArgs),
    /// Write a Prometheus rule file with the catalog's SLIs and alert tiers
    /// (recording and alerting rules), for teams that alert from Prometheus.
    ///
    /// The alerts carry the labels `burnrate serve` sends to Alertmanager.
    /// Exit status: 0 written, 1 when the catalog has errors (nothing is
    /// written), 2 when a path cannot be read or the output written.
    Rules(rules::RulesArgs),
    /// Print a period's figures per SLO instance from the stored data, for
    /// the monthly SLO review: the SLI achieved, the objective met or missed,
    /// the budget spent (in all and per week), the worst hours, alert
    /// firings, corrections, and release-gate denials.
    ///
    /// Exit status: 0 printed, 1 when the catalog has errors, 2 for a bad
    /// period or an unreachable database.
    Report(Box<report::ReportArgs>),
}

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Files or directories to convert.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub dialect: DialectArg,
}

/// The query language of the catalog's free-form queries.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct DialectArg {
    /// `promql`, or `metricsql` for VictoriaMetrics: functions PromQL does not
    /// know are then warnings naming the function, and the server checks
    /// such queries when it runs them.
    #[arg(
        long = "promql-dialect",
        env = "BURNRATE_PROMQL_DIALECT",
        value_name = "DIALECT",
        default_value_t = Dialect::Promql
    )]
    pub promql_dialect: Dialect,
}

/// Output format for commands read by people or by tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Lines for people and CI logs.
    #[default]
    Text,
    /// One JSON document, for tools.
    Json,
}

/// Output format of `burnrate check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum CheckFormat {
    /// `file:line:column: error: ...` lines, which editors and CI logs link, and a summary.
    #[default]
    Text,
    /// One JSON document (schemas/check.schema.json).
    Json,
    /// GitHub Actions workflow commands (`::error file=...,line=...::...`), shown on the diff.
    Github,
    /// A GitLab Code Quality report (`artifacts:reports:codequality`).
    Gitlab,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Catalog files or directories (searched recursively for *.yaml and *.yml).
    #[arg(default_value = "slo-definitions")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// Report only problems in files changed since this git revision (committed,
    /// staged, unstaged or untracked). The whole catalog is still loaded, so
    /// cross-file rules such as duplicate ids see every file.
    #[arg(long, value_name = "REF")]
    pub changed_from: Option<String>,
    /// Load the whole catalog from this directory (repeatable) and report only
    /// on the files among PATHS that are in it, as a pre-commit hook passing
    /// the changed files does: directory defaults and cross-file rules still
    /// see every file, and PATHS outside the catalog are skipped.
    #[arg(long, value_name = "DIR")]
    pub catalog: Vec<PathBuf>,
    #[command(flatten)]
    pub dialect: DialectArg,
}

/// Loads the catalog in `paths` for a command that writes it out in another
/// form (`convert`, `rules`), printing its diagnostics to `err`. `Err` holds
/// the exit status when there is nothing to write: 2 after `error: ...` when
/// a path cannot be read, 1 after `{nothing_done}: fix the errors above
/// first` when the catalog has errors.
fn load_catalog_or_exit(
    paths: &[PathBuf],
    dialect: Dialect,
    nothing_done: &str,
    err: &mut dyn Write,
) -> std::io::Result<Result<Catalog, ExitCode>> {
    let (catalog, diagnostics) = match catalog::load_paths_in(paths, dialect) {
        Ok(loaded) => (loaded.catalog, loaded.diagnostics),
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(Err(ExitCode::from(EXIT_CANNOT_RUN)));
        }
    };
    let failed = diagnostics.has_errors();
    for d in diagnostics.sorted() {
        writeln!(err, "{d}")?;
    }
    if failed {
        writeln!(err, "{nothing_done}: fix the errors above first")?;
        return Ok(Err(ExitCode::from(EXIT_INVALID)));
    }
    Ok(Ok(catalog))
}
