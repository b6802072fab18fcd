//! The terminal view of `analyze`: the table (forced with `--format table`) in a snapshot,
//! with and without colour; the real terminal path through a pseudo-terminal (`script`
//! from util-linux, essential on Debian); and pipes still getting the CSV, byte for byte.

use std::process::Command;

use crate::common;

const SAMPLE: &str = "samples/v5-510-auth-off.pcap";

fn table(extra: &[&str]) -> String {
    let mut args = vec!["analyze", SAMPLE, "--format", "table", "--fingerprint-key", "sample", "-q"];
    args.extend_from_slice(extra);
    let out = common::dupcall(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("the table is UTF-8")
}

#[test]
fn table_snapshot_in_colour() {
    let text = table(&["--color", "always"]);
    // Bold red marks what was executed twice.
    assert!(text.contains("\x1b[1m\x1b[31mauto-refresh-retry"), "{text}");
    // ESC shown as `\e`, so the snapshot is readable text.
    insta::assert_snapshot!("table_color_always", text.replace('\x1b', "\\e"));
}

#[test]
fn table_without_colour_is_plain_and_readable() {
    let text = table(&["--color", "never"]);
    assert!(!text.contains('\x1b'), "{text}");
    insta::assert_snapshot!("table_color_never", text);
    // `auto` into a pipe is no colour: the same bytes.
    assert_eq!(table(&[]), text);
    // Colour and the table are only the view: the rows are the CSV's rows.
    let csv = common::dupcall(&["analyze", SAMPLE, "--fingerprint-key", "sample", "-q"]);
    let rows = common::rows(&csv.stdout);
    assert_eq!(rows.len(), 10);
    for r in &rows {
        let line = format!("{:>5} {:<18} {} {}", r["id"], r["label"], r["method"], r["path"]);
        assert!(text.contains(&line), "row {} missing: {line}\n{text}", r["id"]);
    }
    assert!(text.contains("2 repeated calls, 2 executed twice."), "{text}");
}

#[test]
fn piped_stdout_is_still_the_csv_byte_for_byte() {
    // `--color always` is about the table: it must not touch the CSV either.
    for name in common::sample_names() {
        for extra in [&[][..], &["--color", "always"][..]] {
            let mut args = vec!["analyze".to_string(), format!("samples/{name}.pcap")];
            args.extend(["--fingerprint-key", "sample", "-q"].map(String::from));
            args.extend(extra.iter().map(|s| s.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = common::dupcall(&args);
            let expected = common::read(&format!("samples/{name}.expected.csv"));
            assert!(
                out.stdout == expected.as_bytes(),
                "{name} {extra:?}: piped stdout differs from samples/{name}.expected.csv"
            );
        }
    }
}

/// Runs `dupcall ARGS` with stdout on a pseudo-terminal; what the terminal showed.
fn on_a_terminal(args: &str, no_color: bool) -> String {
    let bin = env!("CARGO_BIN_EXE_dupcall");
    let mut cmd = Command::new("script");
    cmd.args(["-qefc", &format!("{bin} {args}"), "/dev/null"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .env("TERM", "xterm");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd.output().expect("script (util-linux) runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

#[test]
fn a_terminal_gets_the_table_in_colour_unless_no_color() {
    let args = format!("analyze {SAMPLE} --fingerprint-key sample -q");
    let shown = on_a_terminal(&args, false);
    assert!(!shown.contains("id,time,caller"), "a terminal got the CSV:\n{shown}");
    assert!(shown.contains("auto-refresh-retry") && shown.contains("executed twice"), "{shown}");
    assert!(shown.contains("\x1b[1m"), "no colour on a terminal:\n{shown}");
    let plain = on_a_terminal(&args, true);
    assert!(plain.contains("auto-refresh-retry"), "{plain}");
    assert!(!plain.contains('\x1b'), "NO_COLOR=1 still coloured:\n{plain}");
    // An explicit format wins over the terminal: the CSV, uncoloured.
    let csv = on_a_terminal(&format!("{args} --format csv"), false);
    assert!(csv.starts_with("id,time,caller,"), "{csv}");
    assert!(!csv.contains('\x1b'), "{csv}");
}

#[test]
fn rows_read_from_stdin_name_their_source_stdin() {
    let capture = std::fs::File::open(format!("{}/{SAMPLE}", env!("CARGO_MANIFEST_DIR"))).expect("sample");
    let out = Command::new(env!("CARGO_BIN_EXE_dupcall"))
        .args(["analyze", "-", "--fingerprint-key", "sample", "-q"])
        .stdin(capture)
        .output()
        .expect("dupcall runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = common::rows(&out.stdout);
    assert_eq!(rows.len(), 10);
    for r in &rows {
        // Not `'-#frame=…`: the formula guard quotes a leading `-`.
        assert!(r["source"].starts_with("stdin#frame="), "{}", r["source"]);
    }
    // The rest of each row is the file's.
    let from_file =
        common::rows(&common::dupcall(&["analyze", SAMPLE, "--fingerprint-key", "sample", "-q"]).stdout);
    assert_eq!(common::without_source(&rows), common::without_source(&from_file));
}
