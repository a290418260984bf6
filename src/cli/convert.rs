//! `burnrate convert`: other tools' SLO files as a native catalog.

use std::io::Write;
use std::process::ExitCode;

use super::ConvertArgs;
use super::check::{EXIT_CANNOT_RUN, EXIT_INVALID};
use crate::catalog::{self, export};

pub fn run(
    args: &ConvertArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<ExitCode> {
    let loaded = match catalog::load_paths(&args.paths) {
        Ok(loaded) => loaded,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(ExitCode::from(EXIT_CANNOT_RUN));
        }
    };
    let failed = loaded.diagnostics.has_errors();
    for d in loaded.diagnostics.sorted() {
        writeln!(err, "{d}")?;
    }
    if failed {
        writeln!(err, "nothing converted: fix the errors above first")?;
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    out.write_all(export::to_native_yaml(&loaded.catalog).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
