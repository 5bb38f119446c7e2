//! The `policycortex` binary: `serve` runs the service; `eval` evaluates resources offline;
//! `keys` manages API keys against the database directly.
//!
//! Exit codes: 0 success (and, for `eval`, every resource compliant); 1 `eval` found a
//! non-compliant resource; 2 bad input or usage; 3 the service or store failed.

// Library code never unwraps, expects or panics: a server must not fall over on input.
// Tests may, and integration tests are separate crates that this does not reach.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod eval;
mod keys;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// PolicyCortex: policy-as-code for cloud governance.
#[derive(Debug, Parser)]
#[command(name = "policycortex", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve(serve::ServeArgs),
    /// Evaluate resources against policies offline, without a server.
    #[command(after_help = EXIT_CODES)]
    Eval(eval::EvalArgs),
    /// Create, list and revoke API keys directly in the database.
    Keys(keys::KeysArgs),
}

/// The exit codes, as `--help` lists them.
const EXIT_CODES: &str = "Exit codes:
  0  success (for `eval`: every resource compliant)
  1  `eval` found a non-compliant resource
  2  bad input or usage
  3  the service or the store failed";

/// Exit code: every resource compliant, or the command succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: `eval` found a resource that a policy denies.
pub const EXIT_DENIED: u8 = 1;
/// Exit code: bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code: the service or the store failed.
pub const EXIT_FAILURE: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Keys(args) => keys::run(args),
    };
    ExitCode::from(code)
}
