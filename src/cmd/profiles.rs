//! `dupcall profiles list|show NAME|check FILE`: the built-in profiles, as TOML to start from.

use anyhow::Context;
use dupcall::profile::{BUILTIN, Profile};

/// Arguments of `profiles`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// List the built-in profiles.
    List,
    /// Print a profile as TOML (a built-in name, or a file to check and print).
    Show {
        /// powerjob, oauth2-bearer, generic, or a path to a TOML file.
        name: String,
    },
    /// Check a profile file; the error names the line and the field.
    Check {
        /// A TOML file.
        file: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    match args.action {
        Action::List => {
            for p in Profile::builtins() {
                println!("{:<15} {}", p.name, p.description);
            }
            println!(
                "\n`dupcall profiles show NAME > my.toml` gives a starting point; use it with --profile my.toml."
            );
        }
        Action::Show { name } => match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => print!("{text}"),
            None => {
                let p = Profile::load(&name)?;
                print!("{}", toml::to_string(&p).context("printing the profile")?);
            }
        },
        Action::Check { file } => {
            let p = Profile::load(&file)?;
            println!("{file}: profile `{}` is valid", p.name);
        }
    }
    Ok(0)
}
