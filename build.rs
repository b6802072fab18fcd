//! Build script: records the git commit the binary is built from, for `dupcall --version`.
//!
//! Sets `DUPCALL_COMMIT` for the crate: the commit's short hash as `git rev-parse` gives it,
//! else the `DUPCALL_COMMIT` environment variable of the build (for builds from a source
//! tarball, where there is no repository), else `unknown`. It reruns when the checked-out
//! commit changes (HEAD, the branch's ref, packed refs), not on every edit.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=DUPCALL_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let from_git = git(&["rev-parse", "--short=12", "HEAD"]);
    if from_git.is_some() {
        // The files that change when another commit is checked out or made.
        let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
        if let Some(head_ref) = git(&["rev-parse", "--symbolic-full-name", "HEAD"]) {
            if head_ref.starts_with("refs/") {
                watched.push(head_ref);
            }
        }
        for w in watched {
            if let Some(p) = git(&["rev-parse", "--git-path", &w]) {
                if Path::new(&p).exists() {
                    println!("cargo:rerun-if-changed={p}");
                }
            }
        }
    }
    let commit = from_git
        .or_else(|| std::env::var("DUPCALL_COMMIT").ok().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=DUPCALL_COMMIT={commit}");
}
