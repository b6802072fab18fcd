//! No CSV cell can start a spreadsheet formula (OWASP "CSV Injection", docs/report-format.md).
//!
//! Hostile values reach the reports through every column that carries traffic: request
//! targets (`=1+1`, `+SUM(1)`, `-2+3`, `@SUM(1)`, `/=cmd|'/C calc'!A0`), queries starting
//! with `=`, `+`, `-`, `@` or a tab, methods (`-X`, from a log), `Host` headers, the PowerJob app
//! id header (the caller), `Idempotency-Key` values (the evidence) and, from access logs,
//! user agents (the caller) and JSON-log fields. They come through a capture built with
//! `dupcall_testkit::synth` and through an nginx `combined` log and a JSON-lines log. Every cell of
//! `dupcall analyze` and `dupcall exchanges` output, parsed with the csv crate, must not
//! start with `=`, `+`, `-`, `@`, tab or CR: such cells are neutralised with a leading `'`.
//!
//! Honest limit: a cell starting with `/` is left alone (the redaction layer's choice):
//! spreadsheets do not evaluate `/=cmd|…`, they show it as text. The test checks that such
//! paths arrive unchanged rather than pretending they were guarded.

use crate::common;
use std::path::Path;

use dupcall::capture::linktype;
use dupcall::exchange::Timestamp;
use dupcall_testkit::synth::{Conversation, PcapWriter, frame};

const RISKY: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> String {
    let body = "appId=1&jobId=7";
    let mut s = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str(&format!(
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    s
}

const OK: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"success\":true}";

/// Request targets that are hostile at the start of the path or of the query.
const TARGETS: [&str; 10] = [
    "/=cmd|'/C%20calc'!A0",
    "=1+1",
    "+SUM(1)",
    "-2+3",
    "@SUM(1)",
    "/api?=cmd|'/C%20calc'!A0",
    "/api?+1",
    "/api?-1",
    "/api?@x",
    "/api?%09tab",
];

/// Every hostile request twice (so repeats and evidence exist), on one connection each.
fn hostile_capture(path: &Path) {
    let mut w = PcapWriter::new(Vec::new(), linktype::ETHERNET, false).unwrap();
    let mut t = 1_795_662_967_000_000_000i64;
    let push = |w: &mut PcapWriter<Vec<u8>>, p: Vec<u8>, t: &mut i64| {
        let f = frame(linktype::ETHERNET, &p, &[]);
        w.packet(Timestamp(*t), &f, f.len() as u32).unwrap();
        *t += 1_000_000;
    };
    let mut port = 40000;
    let mut conversation = |w: &mut PcapWriter<Vec<u8>>, t: &mut i64, reqs: &[String]| {
        port += 1;
        let mut c = Conversation::new(&format!("10.0.0.1:{port}"), "10.0.0.2:8080", 10, 20);
        for p in c.handshake() {
            push(w, p, t);
        }
        for r in reqs {
            let p = c.send(true, r.as_bytes());
            push(w, p, t);
            let p = c.send(false, OK.as_bytes());
            push(w, p, t);
        }
        let p = c.fin(true);
        push(w, p, t);
        let p = c.fin(false);
        push(w, p, t);
    };
    for target in TARGETS {
        let r = request("POST", target, &[("Host", "=HYPERLINK(\"http://evil.example\",\"x\")")]);
        conversation(&mut w, &mut t, &[r.clone(), r]);
    }
    // PowerJob-shaped: a hostile app id (the caller) and Idempotency-Keys (the evidence).
    let pj = |key: &str| {
        request(
            "POST",
            "/openApi/runJob",
            &[("Host", "@host"), ("X-POWERJOB-APP-ID", "=1+1"), ("Idempotency-Key", key)],
        )
    };
    conversation(&mut w, &mut t, &[pj("=cmd|' /C calc'!A0"), pj("-1+2")]);
    std::fs::write(path, w.into_inner()).unwrap();
}

/// An nginx `combined` log: hostile request lines and user agents.
fn combined_log(path: &Path) {
    let mut lines = String::new();
    let mut sec = 7;
    for (target, ua) in [
        ("/=cmd|' /C calc'!A0", "=cmd|' /C calc'!A0"),
        ("=1+1", "+ua"),
        ("@SUM(1)", "-ua"),
        ("/api?=cmd", "@ua"),
        ("/api?+1", "\tua"),
        ("/api?-1", "ua"),
        ("/api?@x", "ua"),
    ] {
        for _ in 0..2 {
            lines.push_str(&format!(
                "10.0.0.5 - - [26/Nov/2026:03:16:{sec:02} +0000] \"POST {target} HTTP/1.1\" 200 16 \"-\" \"{ua}\"\n"
            ));
            sec += 1;
        }
    }
    std::fs::write(path, lines).unwrap();
}

/// A JSON-lines log: fields that start with a tab, `=`, `-`, `@`.
fn json_log(path: &Path) {
    let mut lines = String::new();
    for (i, (method, uri, args, host, ua)) in [
        ("POST", "/api/a", "\t=cmd", "=host", "=ua"),
        ("-X", "/api/b", "+1", "-host", "@ua"),
        ("POST", "=c", "@x", "@host", "\tua"),
        ("POST", "/api/d", "\r=cr", "+host", "\r=ua"),
    ]
    .iter()
    .enumerate()
    {
        for k in 0..2 {
            let v = serde_json::json!({
                "time_iso8601": format!("2026-11-26T03:16:{:02}+00:00", 10 + i * 2 + k),
                "remote_addr": "10.0.0.6",
                "request_method": method,
                "uri": uri,
                "args": args,
                "host": host,
                "status": 200,
                "body_bytes_sent": 16,
                "user_agent": ua,
                "http_x_powerjob_app_id": "=1+1",
            });
            lines.push_str(&v.to_string());
            lines.push('\n');
        }
    }
    std::fs::write(path, lines).unwrap();
}

/// Every cell of a CSV output; fails on a risky first character.
fn check_csv(what: &str, bytes: &[u8]) -> Vec<String> {
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(false).from_reader(bytes);
    let mut cells = Vec::new();
    let mut bad = Vec::new();
    for (n, rec) in r.records().enumerate() {
        let rec = rec.unwrap_or_else(|e| panic!("{what}: record {n}: {e}"));
        for (i, cell) in rec.iter().enumerate() {
            if cell.starts_with(RISKY) {
                bad.push(format!("record {n} column {i}: {cell:?}"));
            }
            cells.push(cell.to_string());
        }
    }
    assert!(bad.is_empty(), "{what}: formula cells:\n{}", bad.join("\n"));
    cells
}

fn run_csv(args: &[&str]) -> Vec<String> {
    let out = common::dupcall(args);
    let what = args.join(" ");
    assert!(out.status.success(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    check_csv(&what, &out.stdout)
}

/// The cells the guard changed: `'` followed by a risky character.
fn guarded(cells: &[String]) -> Vec<&String> {
    cells.iter().filter(|c| c.starts_with('\'') && c[1..].starts_with(RISKY)).collect()
}

#[test]
fn capture_values_cannot_start_a_formula() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("hostile.pcap");
    hostile_capture(&pcap);
    if let Some(keep) = std::env::var_os("DUPCALL_KEEP_FIXTURE") {
        std::fs::copy(&pcap, keep).unwrap();
    }
    let p = pcap.to_string_lossy().into_owned();
    let mut all = Vec::new();
    for profile in ["auto", "generic", "powerjob"] {
        all.extend(run_csv(&["analyze", &p, "--all", "--profile", profile, "-q"]));
    }
    let exchanges = run_csv(&["exchanges", &p]);
    // Not vacuous: the hostile values reached the reports, guarded.
    let g = guarded(&all);
    for want in ["'=cmd|'/C%20calc'!A0", "'+1", "'-1", "'@x", "'=1+1", "'+SUM(1)", "'-2+3", "'@SUM(1)"] {
        assert!(all.iter().any(|c| c == want), "analyze: no cell {want:?}; guarded: {g:?}");
    }
    let ge = guarded(&exchanges);
    for want in ["'=HYPERLINK(\"http://evil.example\",\"x\")", "'@host", "'=1+1", "'-2+3", "'@SUM(1)"] {
        assert!(exchanges.iter().any(|c| c == want), "exchanges: no cell {want:?}; guarded: {ge:?}");
    }
    // Honest about `/`: the path arrives as sent, and a spreadsheet shows it as text.
    assert!(all.iter().any(|c| c == "/=cmd|'/C%20calc'!A0"), "{all:?}");
    assert!(exchanges.iter().any(|c| c == "/=cmd|'/C%20calc'!A0"), "{exchanges:?}");
}

#[test]
fn access_log_values_cannot_start_a_formula() {
    let dir = tempfile::tempdir().unwrap();
    let combined = dir.path().join("access.log");
    combined_log(&combined);
    let json = dir.path().join("access.jsonl");
    json_log(&json);
    if let Some(keep) = std::env::var_os("DUPCALL_KEEP_FIXTURE_DIR") {
        std::fs::copy(&combined, Path::new(&keep).join("access.log")).unwrap();
        std::fs::copy(&json, Path::new(&keep).join("access.jsonl")).unwrap();
    }
    let mut all = Vec::new();
    for log in [&combined, &json] {
        let l = log.to_string_lossy().into_owned();
        for profile in ["auto", "generic", "powerjob"] {
            all.extend(run_csv(&["analyze", &l, "--all", "--profile", profile, "-q"]));
        }
    }
    let g = guarded(&all);
    assert!(g.len() >= 5, "too few hostile cells reached the report: {g:?}\n{all:?}");
    assert!(all.iter().any(|c| c == "/=cmd|' /C calc'!A0"), "{all:?}");
    // Control characters arrive escaped (`\t` as two characters), never raw.
    assert!(all.iter().any(|c| c == "\\t=cmd"), "{all:?}");
}

#[test]
fn the_check_itself_catches_a_formula() {
    let bad = "a,b\n=1+1,x\n";
    let r = std::panic::catch_unwind(|| check_csv("self-test", bad.as_bytes()));
    assert!(r.is_err());
    let quoted = "a,b\n\"\t=1\",x\n";
    assert!(std::panic::catch_unwind(|| check_csv("self-test", quoted.as_bytes())).is_err());
    assert_eq!(check_csv("self-test", b"a,b\n'=1,/=x\n").len(), 4);
}
