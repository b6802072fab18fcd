//! What ships: `--version` names the commit, `man` and `completions` write what the .deb
//! installs, and the .deb (scripts/deb.sh, cargo-deb) holds exactly the binary, one manual
//! page per command, the bash/zsh/fish completions, README, CHANGELOG and the licenses.
//!
//! The package is the one `.ci/run` built (target/debian/), or built here from the tested
//! binary when that one is missing or older. Needs cargo-deb (`.ci/run` installs it into
//! .ci/cargo/); `DUPCALL_SKIP_DEB=1` skips the package test with a printed reason.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

const BIN: &str = env!("CARGO_BIN_EXE_dupcall");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn version_names_the_version_and_the_commit() {
    let out = common::dupcall(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let git = Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(ROOT).output();
    let commit = match git {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        // No git (a source tarball): build.rs took $DUPCALL_COMMIT or wrote `unknown`.
        _ => std::env::var("DUPCALL_COMMIT").unwrap_or_else(|_| "unknown".to_string()),
    };
    assert_eq!(text, format!("dupcall {} (commit {commit})", env!("CARGO_PKG_VERSION")));
}

#[test]
fn man_prints_the_main_page_and_completions_every_shell() {
    let page = common::dupcall(&["man"]);
    assert!(page.status.success());
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(page.contains(".TH dupcall 1"), "{page}");
    assert!(page.contains("dupcall\\-analyze(1)"), "{page}");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = common::dupcall(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("analyze"), "{shell}");
    }
    let bad = common::dupcall(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "an unknown shell is a usage error");
}

/// The .deb to check: target/debian's when newer than the tested binary, else built now.
fn package() -> PathBuf {
    let deb =
        Path::new(ROOT).join(format!("target/debian/dupcall_{}-1_amd64.deb", env!("CARGO_PKG_VERSION")));
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if mtime(&deb).is_some_and(|d| mtime(Path::new(BIN)).is_some_and(|b| d >= b)) {
        return deb;
    }
    let out = Command::new("bash")
        .arg("scripts/deb.sh")
        .env("DUPCALL_BIN", BIN)
        .current_dir(ROOT)
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "scripts/deb.sh failed (set DUPCALL_SKIP_DEB=1 to skip on purpose):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim().to_string();
    Path::new(ROOT).join(printed)
}

fn dpkg_deb(args: &[&str]) -> String {
    let out = Command::new("dpkg-deb").args(args).output().expect("dpkg-deb runs");
    assert!(out.status.success(), "dpkg-deb {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_deb_holds_the_binary_man_pages_completions_and_docs() {
    if std::env::var("DUPCALL_SKIP_DEB").is_ok_and(|v| v == "1") {
        println!("skipped: DUPCALL_SKIP_DEB=1 (the .deb is not built or checked)");
        return;
    }
    let deb = package();
    let deb = deb.to_str().expect("a UTF-8 path");
    // Regular files only (`-rw…`/`-rwx…`), as paths without the leading `./`.
    let listing = dpkg_deb(&["-c", deb]);
    let files: BTreeSet<String> = listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches("./").to_string())
        .collect();
    let pages = tempfile::tempdir().expect("a temp dir");
    let made = common::dupcall(&["man", "--dir", pages.path().to_str().expect("UTF-8")]);
    assert!(made.status.success());
    let mut expected: BTreeSet<String> = std::fs::read_dir(pages.path())
        .expect("pages")
        .map(|e| format!("usr/share/man/man1/{}.gz", e.expect("entry").file_name().to_string_lossy()))
        .collect();
    assert!(expected.len() >= 8, "{expected:?}");
    expected.extend(
        [
            "usr/bin/dupcall",
            "usr/share/bash-completion/completions/dupcall",
            "usr/share/zsh/vendor-completions/_dupcall",
            "usr/share/fish/vendor_completions.d/dupcall.fish",
            "usr/share/doc/dupcall/README.md",
            "usr/share/doc/dupcall/CHANGELOG.md",
            "usr/share/doc/dupcall/LICENSE-MIT",
            "usr/share/doc/dupcall/LICENSE-APACHE",
            "usr/share/doc/dupcall/copyright",
        ]
        .map(String::from),
    );
    assert_eq!(files, expected, "dpkg-deb -c {deb}:\n{listing}");
    assert!(
        listing.lines().any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with("./usr/bin/dupcall")),
        "{listing}"
    );
    let control = dpkg_deb(&["-f", deb, "Package", "Version", "Depends"]);
    assert!(control.contains("Package: dupcall"), "{control}");
    assert!(control.contains(&format!("Version: {}-1", env!("CARGO_PKG_VERSION"))), "{control}");
    // What is inside is what the binary writes: its completions, its version.
    let root = tempfile::tempdir().expect("a temp dir");
    dpkg_deb(&["-x", deb, root.path().to_str().expect("UTF-8")]);
    let bash =
        std::fs::read(root.path().join("usr/share/bash-completion/completions/dupcall")).expect("bash");
    assert_eq!(bash, common::dupcall(&["completions", "bash"]).stdout);
    let version = Command::new(root.path().join("usr/bin/dupcall")).arg("--version").output().expect("runs");
    assert_eq!(version.stdout, common::dupcall(&["--version"]).stdout);
}
