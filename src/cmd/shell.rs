//! `dupcall completions SHELL` and `dupcall man [--dir DIR]`: shell completion scripts and
//! manual pages, generated from the same clap definitions the parser uses, so they never
//! drift from the real flags (tests/integration/shell.rs checks every subcommand and flag).

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// Arguments of `completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `man`.
#[derive(clap::Args, Debug)]
pub struct ManArgs {
    /// Write every page (dupcall.1, dupcall-analyze.1, ...) into this folder instead of
    /// printing dupcall.1 on stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell` on stdout.
pub fn completions(args: CompletionArgs) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    let mut out = io::stdout().lock();
    clap_complete::generate(args.shell, &mut cmd, "dupcall", &mut out);
    out.flush().context("writing the completion script")?;
    Ok(0)
}

/// Prints dupcall(1), or writes one page per visible command into `args.dir`.
pub fn man(args: ManArgs) -> anyhow::Result<u8> {
    let cmd = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
        }
        None => {
            let mut out = io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out).context("writing the manual page")?;
            out.flush().context("writing the manual page")?;
        }
    }
    Ok(0)
}
