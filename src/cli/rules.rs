//! `burnrate rules`: the catalog as a Prometheus rule file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::check::EXIT_CANNOT_RUN;
use crate::duration::Duration;
use crate::rules::{RuleOptions, generate};

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Catalog files or directories (searched recursively for *.yaml and *.yml).
    #[arg(default_value = "slo-definitions")]
    pub paths: Vec<PathBuf>,
    /// Write the rule file here (replaced whole, never half-written) instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    // For vmalert, whose rule files are written in MetricsQL.
    #[command(flatten)]
    pub dialect: super::DialectArg,
    /// burnrate's external URL, for a `dashboard_url` annotation on every alert.
    #[arg(long, env = "BURNRATE_EXTERNAL_URL", value_name = "URL")]
    pub external_url: Option<String>,
    /// Evaluation interval of the budget rule groups, which read the whole SLO window.
    #[arg(long, default_value = "5m")]
    pub budget_interval: Duration,
    /// Silence after which an SLO instance is absent, for the absent alert's
    /// rule: the same as `burnrate serve --absent-after`.
    #[arg(long, env = "BURNRATE_ABSENT_AFTER", default_value = "30m")]
    pub absent_after: Duration,
}

/// Exit status: 0 written, 1 catalog errors (nothing written), 2 unreadable
/// paths or an unwritable output.
pub fn run(
    args: &RulesArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<ExitCode> {
    let catalog = match super::load_catalog_or_exit(
        &args.paths,
        args.dialect.promql_dialect,
        "no rules written",
        err,
    )? {
        Ok(catalog) => catalog,
        Err(code) => return Ok(code),
    };
    let options = RuleOptions {
        external_url: args.external_url.clone(),
        budget_interval: args.budget_interval,
        sources: args.paths.iter().map(|p| p.display().to_string()).collect(),
        absent_after: args.absent_after,
    };
    let text = generate(&catalog, &options);
    match &args.output {
        None => out.write_all(text.as_bytes())?,
        Some(path) => {
            if let Err(e) = write_atomically(path, &text) {
                writeln!(err, "error: cannot write {}: {e}", path.display())?;
                return Ok(ExitCode::from(EXIT_CANNOT_RUN));
            }
            writeln!(
                err,
                "wrote {} rule groups for {} SLOs to {}",
                text.matches("\n  - name: ").count(),
                catalog.slos.len(),
                path.display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a sibling temp file, then renames it over `path`: a Prometheus
/// reloading meanwhile sees the old file or the new one, never half of one.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rules.yml".into());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
