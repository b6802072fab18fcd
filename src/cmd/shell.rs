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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every visible command as its path of names (`["dupcall", "profiles", "show"]`).
    fn commands(cmd: &clap::Command, path: &[String], out: &mut Vec<(Vec<String>, clap::Command)>) {
        let mut path = path.to_vec();
        path.push(cmd.get_name().to_string());
        out.push((path.clone(), cmd.clone()));
        // clap's own `help` subcommands have no page of their own.
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            commands(sub, &path, out);
        }
    }

    fn all_commands() -> Vec<(Vec<String>, clap::Command)> {
        let mut cmd = Cli::command();
        cmd.build();
        let mut out = Vec::new();
        commands(&cmd, &[], &mut out);
        assert!(out.len() >= 8, "{} commands", out.len());
        out
    }

    fn script(shell: Shell) -> String {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "dupcall", &mut buf);
        String::from_utf8(buf).expect("UTF-8 script")
    }

    /// How `shell` writes the long flag `long` and the short flag `short`.
    fn flag_forms(shell: Shell, arg: &clap::Arg) -> Vec<String> {
        let (long, short) = (arg.get_long(), arg.get_short());
        let takes_value = arg.get_action().takes_values();
        let mut forms = Vec::new();
        if let Some(l) = long {
            forms.push(match shell {
                Shell::Fish => format!("-l {l}"),
                Shell::PowerShell => format!("'--{l}'"),
                _ => format!("--{l}"),
            });
        }
        if let Some(s) = short {
            forms.push(match shell {
                Shell::Fish => format!("-s {s}"),
                Shell::PowerShell => format!("'-{s}'"),
                // `'-o+[…]'`, `'-v[…]'`, `'(-v --verbose)-q[…]'`
                Shell::Zsh => format!("-{s}{}", if takes_value { "+[" } else { "[" }),
                _ => format!("-{s}"),
            });
        }
        forms
    }

    #[test]
    fn every_subcommand_and_flag_is_in_every_completion_script() {
        let commands = all_commands();
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell, Shell::Elvish] {
            let text = script(shell);
            for (path, cmd) in &commands {
                let name = path.last().expect("a name");
                assert!(text.contains(name.as_str()), "{shell}: no `{}`", path.join(" "));
                for arg in cmd.get_arguments().filter(|a| !a.is_hide_set() && !a.is_positional()) {
                    for form in flag_forms(shell, arg) {
                        assert!(text.contains(&form), "{shell}: `{}` lacks {form}", path.join(" "));
                    }
                }
            }
        }
    }

    #[test]
    fn every_subcommand_and_flag_is_in_the_man_pages() {
        let dir = std::env::temp_dir().join(format!("dupcall-man-{}", std::process::id()));
        man(ManArgs { dir: Some(dir.clone()) }).expect("pages written");
        let roff = |s: &str| s.replace('-', "\\-");
        let main_page = std::fs::read_to_string(dir.join("dupcall.1")).expect("dupcall.1");
        for (path, cmd) in all_commands() {
            let page_name = path.join("-");
            let page = std::fs::read_to_string(dir.join(format!("{page_name}.1")))
                .unwrap_or_else(|e| panic!("{page_name}.1: {e}"));
            if path.len() == 2 {
                assert!(
                    main_page.contains(&format!("{}(1)", roff(&page_name))),
                    "dupcall.1 lacks {page_name}"
                );
            }
            for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                let forms: Vec<String> = match (arg.get_long(), arg.get_short()) {
                    _ if arg.is_positional() => match arg.get_value_names() {
                        Some(names) => names.iter().map(|v| v.to_string()).collect(),
                        None => vec![arg.get_id().as_str().to_string()],
                    },
                    (l, s) => l
                        .map(|l| roff(&format!("--{l}")))
                        .into_iter()
                        .chain(s.map(|s| format!("\\-{s}")))
                        .collect(),
                };
                for form in forms {
                    assert!(page.contains(&form), "{page_name}.1 lacks {form}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
