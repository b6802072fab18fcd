//! Argument parsing (clap derive) and dispatch to one module per subcommand.

mod analyze;
mod common;
mod exchanges;
mod profiles;
mod progress;
mod shell;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `dupcall --version`: the version and the git commit built from (build.rs), e.g.
/// `dupcall 0.1.0 (commit e5c31547402e)`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("DUPCALL_COMMIT"), ")");

/// Exit code: an input could not be read at all.
pub const EXIT_INPUT: u8 = 1;
/// Exit code: usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: `--fail-on` matched.
pub const EXIT_FAIL_ON: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "dupcall",
    version = VERSION,
    about = "Tells why an HTTP call happened twice: token-refresh retry, error retry or genuine duplicate."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Label every repeated mutating call: token-refresh retry, error retry, genuine duplicate.
    Analyze(analyze::Args),
    /// Write every HTTP exchange found in captures as CSV (for checking reassembly).
    Exchanges(exchanges::Args),
    /// List, print or check profiles (what a service's calls mean).
    Profiles(profiles::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(shell::CompletionArgs),
    /// Print the manual page (roff), or write one page per command into a folder.
    Man(shell::ManArgs),
}

/// Runs the command line; never panics on user input.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(args),
        Command::Exchanges(args) => exchanges::run(args),
        Command::Profiles(args) => profiles::run(args),
        Command::Completions(args) => shell::completions(args),
        Command::Man(args) => shell::man(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("dupcall: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
