//! `burnrate convert`: other tools' SLO files as a native catalog.

use std::io::Write;
use std::process::ExitCode;

use super::ConvertArgs;
use crate::catalog::export;

pub fn run(
    args: &ConvertArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<ExitCode> {
    let catalog = match super::load_catalog_or_exit(
        &args.paths,
        args.dialect.promql_dialect,
        "nothing converted",
        err,
    )? {
        Ok(catalog) => catalog,
        Err(code) => return Ok(code),
    };
    out.write_all(export::to_native_yaml(&catalog).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
