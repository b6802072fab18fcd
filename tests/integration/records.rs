//! Exchange records (`dupcall exchanges --format jsonl|parquet`, `dupcall-exchange/1`) read
//! back by `dupcall analyze`: for every bundled sample, `analyze CAPTURE`, `analyze` of its
//! JSON-lines records and of its Parquet records give identical rows (all columns but
//! `source`, which names the file), also when the records are split over two files (one of
//! each kind) that `analyze` merges by time. And DuckDB (the `duckdb` package from PyPI in
//! .ci/py) counts a sample's repeats from the Parquet records with docs/scale.md's query,
//! as many as dupcall labels.

use crate::common;
use std::path::Path;

const KEY: &str = "records-round-trip-key";

fn analyze(input: &[&str]) -> Vec<common::Row> {
    let mut args = vec!["analyze", "--fingerprint-key", KEY, "--all"];
    args.extend(input);
    let out = common::dupcall(&args);
    assert!(out.status.code().is_some_and(|c| c < 2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    common::without_source(&common::rows(&out.stdout))
}

fn export(input: &str, to: &Path) -> String {
    export_as("jsonl", input, to);
    std::fs::read_to_string(to).unwrap()
}

fn export_as(format: &str, input: &str, to: &Path) {
    let to_s = to.to_string_lossy().into_owned();
    let out =
        common::dupcall(&["exchanges", "--format", format, "--fingerprint-key", KEY, input, "-o", &to_s]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn every_sample_labels_the_same_from_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let samples = common::sample_captures();
    assert!(samples.len() >= 10);
    for s in &samples {
        let jsonl = dir.path().join("x.jsonl");
        let text = export(s, &jsonl);
        assert!(text.lines().all(|l| l.starts_with(r#"{"record":"dupcall-exchange/1""#)), "{s}");
        let direct = analyze(&[s]);
        assert!(!direct.is_empty(), "{s}");
        assert_eq!(analyze(&[&jsonl.to_string_lossy()]), direct, "{s}: rows from the records differ");
        let parquet = dir.path().join("x.parquet");
        export_as("parquet", s, &parquet);
        assert!(std::fs::read(&parquet).unwrap().starts_with(b"PAR1"), "{s}");
        assert_eq!(
            analyze(&[&parquet.to_string_lossy()]),
            direct,
            "{s}: rows from the Parquet records differ"
        );
        // The records split over two files (alternate lines): merged by time, the same rows.
        let (mut a, mut b) = (String::new(), String::new());
        for (i, l) in text.lines().enumerate() {
            let half = if i % 2 == 0 { &mut a } else { &mut b };
            half.push_str(l);
            half.push('\n');
        }
        let (pa, pb) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        std::fs::write(&pa, a).unwrap();
        std::fs::write(&pb, b).unwrap();
        if text.lines().count() >= 2 {
            let merged = analyze(&[&pa.to_string_lossy(), &pb.to_string_lossy()]);
            assert_eq!(merged, direct, "{s}: rows from two record files differ");
            // One half as JSON lines, the other re-exported from its JSON lines as Parquet.
            let pq = dir.path().join("b.parquet");
            export_as("parquet", &pb.to_string_lossy(), &pq);
            let merged = analyze(&[&pa.to_string_lossy(), &pq.to_string_lossy()]);
            assert_eq!(merged, direct, "{s}: rows from a JSON-lines and a Parquet half differ");
        }
    }
}

#[test]
fn a_broken_record_is_a_warning_not_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let s = "samples/v5-expired-token.pcap";
    let jsonl = dir.path().join("x.jsonl");
    let text = export(s, &jsonl);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(1, r#"{"record":"dupcall-exchange/1","input":"#);
    std::fs::write(&jsonl, lines.join("\n")).unwrap();
    let out = common::dupcall(&["analyze", "-v", &jsonl.to_string_lossy()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2") && stderr.contains("not a dupcall-exchange/1 record"), "{stderr}");
    assert_eq!(common::rows(&out.stdout).len(), analyze(&[s]).len() - count_reads(s));
}

/// Rows `--all` adds (reads).
fn count_reads(s: &str) -> usize {
    analyze(&[s]).iter().filter(|r| r["label"] == "read").count()
}
