//! `burnrate check`: lint a catalog the way promtool lints rules.

use std::io::Write;
use std::process::ExitCode;

use serde::Serialize;

use super::{CheckArgs, Format};
use crate::catalog::{self, Diagnostic, LoadError};

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
}

#[derive(Serialize)]
struct Failure {
    ok: bool,
    error: String,
}

pub fn run(args: &CheckArgs, out: &mut dyn Write) -> std::io::Result<ExitCode> {
    let loaded = match catalog::load_paths(&args.paths) {
        Ok(loaded) => loaded,
        Err(e) => return cannot_run(&e, args.format, out),
    };
    let errors = loaded.diagnostics.error_count();
    let warnings = loaded.diagnostics.warning_count();
    let failed = errors > 0 || (args.strict && warnings > 0);
    let diagnostics = loaded.diagnostics.sorted();
    match args.format {
        Format::Text => {
            for d in &diagnostics {
                writeln!(out, "{d}")?;
            }
            writeln!(
                out,
                "{}",
                summary(loaded.catalog.slos.len(), loaded.files, errors, warnings)
            )?;
        }
        Format::Json => {
            let report = Report {
                ok: !failed,
                files: loaded.files,
                slos: loaded.catalog.slos.len(),
                errors,
                warnings,
                diagnostics: &diagnostics,
                slo_ids: loaded.catalog.slos.iter().map(|s| s.id.as_str()).collect(),
            };
            serde_json::to_writer_pretty(&mut *out, &report)?;
            writeln!(out)?;
        }
    }
    Ok(if failed {
        ExitCode::from(EXIT_INVALID)
    } else {
        ExitCode::SUCCESS
    })
}

fn cannot_run(error: &LoadError, format: Format, out: &mut dyn Write) -> std::io::Result<ExitCode> {
    match format {
        Format::Text => writeln!(out, "error: {error}")?,
        Format::Json => {
            serde_json::to_writer_pretty(
                &mut *out,
                &Failure {
                    ok: false,
                    error: error.to_string(),
                },
            )?;
            writeln!(out)?;
        }
    }
    Ok(ExitCode::from(EXIT_CANNOT_RUN))
}

/// `12 SLOs in 5 files: ok`, or the error and warning counts.
pub fn summary(slos: usize, files: usize, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("{n} {word}")
        } else {
            format!("{n} {word}s")
        }
    };
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
