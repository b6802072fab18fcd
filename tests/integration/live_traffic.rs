//! Fresh traffic, so the samples cannot drift from reality: every simulator scenario is run
//! again over real TCP on 127.0.0.1 while tcpdump records, then analysed, and the labels
//! are checked against the clients' intent log. Needs tcpdump and the right to capture on
//! `lo` (CI installs tcpdump and runs as root); set DUPCALL_SKIP_LIVE=1 to skip on purpose.

use crate::common;
use std::process::Command;

fn can_capture() -> Result<(), String> {
    if std::env::var_os("DUPCALL_SKIP_LIVE").is_some() {
        return Err("DUPCALL_SKIP_LIVE is set".into());
    }
    match Command::new("tcpdump").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => {
            panic!("tcpdump is needed for this test (apt-get install -y tcpdump), or set DUPCALL_SKIP_LIVE=1")
        }
    }
}

#[test]
fn fresh_captures_get_the_intended_labels() {
    if let Err(why) = can_capture() {
        eprintln!("skipped: {why}");
        return;
    }
    let sim = common::sim();
    let list = Command::new(sim).arg("list").output().unwrap();
    let scenarios: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(scenarios.len() >= 10, "{scenarios:?}");
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let (mut total, mut right) = (0, 0);
    let mut failures = Vec::new();
    for s in &scenarios {
        let run = Command::new(sim).args(["run", s, "--out", out_dir, "--capture"]).output().unwrap();
        assert!(run.status.success(), "{s}: {}", String::from_utf8_lossy(&run.stderr));
        let pcap = format!("{out_dir}/{s}.pcap");
        let report = common::dupcall(&["analyze", &pcap, "-q"]);
        assert!(report.status.success(), "{s}: {}", String::from_utf8_lossy(&report.stderr));
        let intent = std::fs::read_to_string(format!("{out_dir}/{s}.intent.jsonl")).unwrap();
        let score = common::score(&common::rows(&report.stdout), &intent);
        println!(
            "{s:32} {}/{} rows right ({:.0}%), {} undecidable from traffic",
            score.right,
            score.expected,
            100.0 * score.right as f64 / score.expected.max(1) as f64,
            score.undecidable
        );
        total += score.expected;
        right += score.right;
        if !score.problems.is_empty() {
            failures.push(format!("{s}:\n  {}", score.problems.join("\n  ")));
        }
    }
    println!("label accuracy on fresh traffic: {right}/{total}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
