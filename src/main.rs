use std::process::ExitCode;

use burnrate::cli::{Cli, Command, check, convert, gate, report, rules, serve};
use clap::Parser;

/// mimalloc rather than glibc's malloc: a backfill allocates and frees
/// millions of small label sets and buckets, which glibc both spends much
/// of the CPU on and leaves fragmented, holding its peak resident long
/// after the memory is freed (BENCHMARKS.md, "Allocator"). The
/// `system-allocator` feature keeps the system's, for heap profilers that
/// hook `malloc` (heaptrack).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check(args) => {
            check::run(args, &mut std::io::stdout().lock()).map_err(anyhow::Error::from)
        }
        Command::Serve(args) => serve::run(args),
        Command::Convert(args) => convert::run(
            args,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )
        .map_err(anyhow::Error::from),
        Command::Rules(args) => rules::run(
            args,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        )
        .map_err(anyhow::Error::from),
        Command::Report(args) => report::run(
            args,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ),
        Command::Gate(args) => {
            gate::run(args, &mut std::io::stdout().lock()).map_err(anyhow::Error::from)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(check::EXIT_CANNOT_RUN)
        }
    }
}
