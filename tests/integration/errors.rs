//! Error messages for inputs that cannot be analysed (docs/report-format.md, exit codes): one clear sentence naming
//! the file and what to do, exit code 1 for an unreadable input (the other inputs of the
//! run are still analysed) and 2 for a usage error (a broken profile).

use crate::common;
use std::path::Path;
use std::process::Output;

const SAMPLE: &str = "samples/v5-expired-token.pcap";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error line about `path`: exactly one, naming it.
fn error_line(o: &Output, path: &str) -> String {
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with(&format!("dupcall: {path}: "))).collect();
    assert_eq!(lines.len(), 1, "want one error line naming {path}:\n{err}");
    lines[0].to_string()
}

/// The sample is still analysed next to the bad input: its rows are in the report.
fn sample_still_analysed(o: &Output) {
    let rows = common::rows(&o.stdout);
    assert!(rows.iter().any(|r| r["path"] == "/openApi/disableJob"), "the good input was not analysed");
}

fn check_bad_input(path: &str, want: &str) {
    for cmd in ["analyze", "exchanges"] {
        let o = common::dupcall(&[cmd, path, SAMPLE, "-q"][..if cmd == "analyze" { 4 } else { 3 }]);
        assert_eq!(o.status.code(), Some(1), "{cmd} {path}: {}", stderr(&o));
        let line = error_line(&o, path);
        assert!(line.contains(want), "{cmd} {path}: {line}");
        if cmd == "analyze" {
            sample_still_analysed(&o);
        } else {
            assert!(String::from_utf8_lossy(&o.stdout).contains("/openApi/disableJob"), "{cmd} {path}");
        }
        assert!(!stderr(&o).contains("panicked"));
    }
}

#[test]
fn a_directory() {
    let dir = tempfile::tempdir().unwrap();
    check_bad_input(dir.path().to_str().unwrap(), "is a directory; pass the capture or log files inside it");
}

#[test]
fn an_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.pcap");
    std::fs::write(&p, b"").unwrap();
    check_bad_input(p.to_str().unwrap(), "the file is empty; nothing to analyse (pass the capture");
}

#[test]
fn a_binary_file_that_is_no_capture() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("program.bin");
    let mut bytes = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
    bytes.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    std::fs::write(&p, &bytes).unwrap();
    check_bad_input(p.to_str().unwrap(), "not a pcap/pcapng capture, a gzip of one, or a text access log");
    let o = common::dupcall(&["analyze", p.to_str().unwrap(), "-q"]);
    assert!(error_line(&o, p.to_str().unwrap()).contains("export it as pcap or pcapng"));
}

#[test]
fn a_missing_file() {
    check_bad_input("samples/no-such-capture.pcap", "no such file; check the path");
}

/// `chmod 000` blocks reading only for a non-root user; as root (CI, containers) the file is
/// still readable, so then the test checks that it is simply analysed, and says so.
#[test]
fn an_unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("locked.pcap");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/v5-two-apps.pcap"), &p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    let readable = std::fs::File::open(&p).is_ok();
    let path = p.to_str().unwrap();
    if readable {
        eprintln!("running as root: chmod 000 does not block reading, so the file is analysed");
        let o = common::dupcall(&["analyze", path, SAMPLE, "-q"]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        sample_still_analysed(&o);
    } else {
        check_bad_input(path, "permission denied; run with access to the file or copy it somewhere readable");
    }
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_text_file_that_is_no_known_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.txt");
    std::fs::write(&p, "shopping list\nmilk\neggs\n").unwrap();
    let path = p.to_str().unwrap();
    let o = common::dupcall(&["analyze", path, SAMPLE, "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(error_line(&o, path).contains("pass --log-format"), "{}", stderr(&o));
    sample_still_analysed(&o);
}

#[test]
fn a_profile_with_a_typo_is_a_usage_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mine.toml");
    std::fs::write(&p, "name = \"mine\"\n[calls]\nmutatoins = [\"POST /api/*\"]\n").unwrap();
    let path = p.to_str().unwrap();
    let o = common::dupcall(&["analyze", "--profile", path, SAMPLE, "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let line = error_line(&o, path);
    assert!(line.contains("line 3") && line.contains("unknown field `mutatoins`"), "{line}");
    assert!(line.contains("dupcall profiles show"), "the message should say what to do: {line}");
    // A profile path that does not exist.
    let o = common::dupcall(&["analyze", "--profile", "no/such/profile.toml", SAMPLE, "-q"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no/such/profile.toml"), "{}", stderr(&o));
}
