//! The `tandem` binary: parse, run, turn the outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tandem::cli::Cli::parse();
    tandem::cli::init_logging();
    let json = cli.json;
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(json),
    }
}
