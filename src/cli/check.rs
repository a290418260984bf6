//! `burnrate check`: lint a catalog the way promtool lints rules.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use super::{CheckArgs, CheckFormat, annotations, changed};
use crate::catalog::{self, Diagnostic};

/// Exit status for "the catalog has errors".
pub const EXIT_INVALID: u8 = 1;
/// Exit status for "could not check at all".
pub const EXIT_CANNOT_RUN: u8 = 2;

#[derive(Serialize)]
struct Report<'a> {
    ok: bool,
    files: usize,
    slos: usize,
    errors: usize,
    warnings: usize,
    diagnostics: &'a [Diagnostic],
    slo_ids: Vec<&'a str>,
    /// With `--changed-from`: the revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    changed_from: Option<&'a str>,
    /// With `--changed-from` or `--catalog`: how many catalog files are reported on.
    #[serde(skip_serializing_if = "Option::is_none")]
    reported_files: Option<usize>,
}

#[derive(Serialize)]
struct Failure {
    ok: bool,
    error: String,
}

pub fn run(args: &CheckArgs, out: &mut dyn Write) -> std::io::Result<ExitCode> {
    let loading = if args.catalog.is_empty() {
        &args.paths
    } else {
        &args.catalog
    };
    let loaded = match catalog::load_paths_in(loading, args.dialect.promql_dialect) {
        Ok(loaded) => loaded,
        Err(e) => return cannot_run(&e.to_string(), args.format, out),
    };
    let (reported, scope) = match report_scope(args) {
        Ok(scope) => scope,
        Err(e) => return cannot_run(&e, args.format, out),
    };
    let mut diagnostics = loaded.diagnostics.sorted();
    if let Some(reported) = &reported {
        diagnostics.retain(|d| changed::concerns(d, reported));
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let failed = errors > 0 || (args.strict && warnings > 0);
    let summary_line = || {
        let mut line = summary(loaded.catalog.slos.len(), loaded.files, errors, warnings);
        if let Some(scope) = &scope {
            line.push_str(&format!(" ({scope})"));
        }
        line
    };
    match args.format {
        CheckFormat::Text => {
            for d in &diagnostics {
                writeln!(out, "{d}")?;
            }
            writeln!(out, "{}", summary_line())?;
        }
        CheckFormat::Json => {
            let report = Report {
                ok: !failed,
                files: loaded.files,
                slos: loaded.catalog.slos.len(),
                errors,
                warnings,
                diagnostics: &diagnostics,
                slo_ids: loaded.catalog.slos.iter().map(|s| s.id.as_str()).collect(),
                changed_from: args.changed_from.as_deref(),
                reported_files: reported.as_ref().map(|r| {
                    catalog::catalog_files(loading)
                        .map(|(files, _)| files.iter().filter(|f| changed::contains(r, f)).count())
                        .unwrap_or(0)
                }),
            };
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
        CheckFormat::Github => {
            out.write_all(annotations::github(&diagnostics).as_bytes())?;
            writeln!(out, "{}", summary_line())?;
        }
        CheckFormat::Gitlab => {
            serde_json::to_writer_pretty(&mut *out, &annotations::gitlab(&diagnostics))?;
            writeln!(out)?;
        }
        CheckFormat::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &annotations::sarif(&diagnostics, None))?;
            writeln!(out)?;
        }
    }
    Ok(if failed {
        ExitCode::from(EXIT_INVALID)
    } else {
        ExitCode::SUCCESS
    })
}

/// The files to report on (canonical paths), when not every file, and the
/// words for the summary: those changed since `--changed-from`, and with
/// `--catalog`, only those among PATHS.
type Scope = (Option<HashSet<PathBuf>>, Option<String>);

fn report_scope(args: &CheckArgs) -> Result<Scope, String> {
    let mut reported: Option<HashSet<PathBuf>> = None;
    let mut words = Vec::new();
    if !args.catalog.is_empty() {
        // Paths that do not exist (a deleted file) have nothing to report.
        let existing: Vec<PathBuf> = args.paths.iter().filter(|p| p.exists()).cloned().collect();
        let (files, _) = catalog::catalog_files(&existing).map_err(|e| e.to_string())?;
        words.push(format!(
            "reporting on the {} given",
            plural(files.len(), "file")
        ));
        reported = Some(files.iter().map(|f| changed::canonical(f)).collect());
    }
    if let Some(rev) = &args.changed_from {
        let changed = changed::changed_files(rev)?;
        words.push(format!("changed since {rev}"));
        reported = Some(match reported {
            Some(given) => given.intersection(&changed).cloned().collect(),
            None => changed,
        });
    }
    let words = (!words.is_empty()).then(|| {
        if args.catalog.is_empty() {
            format!("reporting on files {}", words.join(", "))
        } else {
            words.join(", ")
        }
    });
    Ok((reported, words))
}

/// Exit status 2, with the reason in the requested format: a workflow
/// command, a one-issue Code Quality report, or a SARIF run whose
/// invocation failed, so the CI system shows why nothing was checked.
fn cannot_run(error: &str, format: CheckFormat, out: &mut dyn Write) -> std::io::Result<ExitCode> {
    match format {
        CheckFormat::Text => writeln!(out, "error: {error}")?,
        CheckFormat::Json => {
            serde_json::to_writer_pretty(
                &mut *out,
                &Failure {
                    ok: false,
                    error: error.to_string(),
                },
            )?;
            writeln!(out)?;
        }
        CheckFormat::Github => writeln!(
            out,
            "::error title=burnrate check cannot run::{}",
            annotations::github_escape_data(error)
        )?,
        CheckFormat::Gitlab => {
            serde_json::to_writer_pretty(&mut *out, &annotations::gitlab_failure(error))?;
            writeln!(out)?;
        }
        CheckFormat::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &annotations::sarif(&[], Some(error)))?;
            writeln!(out)?;
        }
    }
    Ok(ExitCode::from(EXIT_CANNOT_RUN))
}

/// `12 SLOs in 5 files: ok`, or the error and warning counts.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

pub fn summary(slos: usize, files: usize, errors: usize, warnings: usize) -> String {
    let status = match (errors, warnings) {
        (0, 0) => "ok".to_string(),
        (0, w) => format!("ok, {}", plural(w, "warning")),
        (e, 0) => plural(e, "error"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    };
    let slo_word = if slos == 1 { "SLO" } else { "SLOs" };
    format!(
        "{slos} valid {slo_word} in {}: {status}",
        plural(files, "file")
    )
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn summary_line() {
        assert_eq!(summary(12, 5, 0, 0), "12 valid SLOs in 5 files: ok");
        assert_eq!(
            summary(1, 1, 2, 1),
            "1 valid SLO in 1 file: 2 errors, 1 warning"
        );
        assert_eq!(
            summary(3, 2, 0, 2),
            "3 valid SLOs in 2 files: ok, 2 warnings"
        );
    }
}
