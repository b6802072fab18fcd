//! The bundled samples (real traffic recorded from the simulator, see samples/README.md):
//! every label must match what the clients meant (their intent log, never the capture),
//! and the report must equal the committed expected report.

use crate::common;
use std::path::Path;

fn sample_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".pcap").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

#[test]
fn every_label_in_every_sample_matches_the_intent() {
    let names = sample_names();
    assert!(names.len() >= 10, "samples missing");
    let mut failures = Vec::new();
    for name in &names {
        let out = common::dupcall(&[
            "analyze",
            &format!("samples/{name}.pcap"),
            "--fingerprint-key",
            "sample",
            "-q",
        ]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let rows = common::rows(&out.stdout);
        let s = common::score(&rows, &common::read(&format!("samples/{name}.intent.jsonl")));
        println!(
            "{name}: {}/{} rows right ({} undecidable from traffic)",
            s.right, s.expected, s.undecidable
        );
        if !s.problems.is_empty() {
            failures.push(format!("{name}:\n  {}", s.problems.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reports_equal_the_expected_reports() {
    for name in sample_names() {
        let out = common::dupcall(&[
            "analyze",
            &format!("samples/{name}.pcap"),
            "--fingerprint-key",
            "sample",
            "-q",
        ]);
        let expected = common::read(&format!("samples/{name}.expected.csv"));
        let got = String::from_utf8_lossy(&out.stdout);
        assert!(
            got == expected,
            "{name}: report differs from samples/{name}.expected.csv\n--- expected\n{expected}\n--- got\n{got}"
        );
    }
}

#[test]
fn the_510_sample_says_executed_twice() {
    let out = common::dupcall(&["analyze", "samples/v5-510-auth-off.pcap", "-q"]);
    let rows = common::rows(&out.stdout);
    let retries: Vec<_> = rows.iter().filter(|r| r["label"] == "auto-refresh-retry").collect();
    assert_eq!(retries.len(), 2);
    for r in retries {
        assert_eq!(r["double_execution"], "yes");
        assert!(r["evidence"].contains("lacked X-POWERJOB-AUTH-PASSED: true"), "{}", r["evidence"]);
        assert!(r["evidence"].contains("executed twice"), "{}", r["evidence"]);
    }
}
