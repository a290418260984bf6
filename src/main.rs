use std::process::ExitCode;

use burnrate::cli::{Cli, Command, check};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut stdout = std::io::stdout().lock();
    let result = match &cli.command {
        Command::Check(args) => check::run(args, &mut stdout),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(check::EXIT_CANNOT_RUN)
        }
    }
}
