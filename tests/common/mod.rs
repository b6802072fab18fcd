//! Helpers shared by the integration tests: running the binary, comparing a report with
//! the simulator's intent log.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs `dupcall` with `args` from the repository root.
pub fn dupcall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dupcall"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("dupcall runs")
}

/// One CSV row as a map.
pub type Row = std::collections::BTreeMap<String, String>;

/// Parses a CSV report.
pub fn rows(csv_text: &[u8]) -> Vec<Row> {
    let mut r = csv::Reader::from_reader(csv_text);
    let headers = r.headers().expect("header row").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("valid CSV");
            headers.iter().zip(rec.iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect()
        })
        .collect()
}

/// How a report compares with an intent log.
#[derive(Debug, Default)]
pub struct Score {
    /// Mutation/auth rows expected.
    pub expected: usize,
    /// Rows whose label, repeat_of and double_execution are right.
    pub right: usize,
    /// Rows where dupcall said double_execution=unknown because the traffic cannot tell
    /// (the earlier attempt failed with a server error or got no response) while the server
    /// log knows: counted right, reported separately.
    pub undecidable: usize,
    /// What was wrong.
    pub problems: Vec<String>,
}

/// Compares report rows (mutations and auth calls, in order) with the intent log.
pub fn score(report: &[Row], intent_jsonl: &str) -> Score {
    let intents: Vec<serde_json::Value> = intent_jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("intent line is JSON"))
        .filter(|v: &serde_json::Value| matches!(v["role"].as_str(), Some("mutation" | "auth")))
        .collect();
    let mut s = Score { expected: intents.len(), ..Score::default() };
    if report.len() != intents.len() {
        s.problems.push(format!("{} rows for {} intended mutation/auth calls", report.len(), intents.len()));
    }
    // intent seq → row id, by position.
    let seq_to_id: std::collections::HashMap<i64, String> =
        intents.iter().zip(report).filter_map(|(i, r)| Some((i["seq"].as_i64()?, r["id"].clone()))).collect();
    let outcome_of: std::collections::HashMap<&str, &str> =
        report.iter().map(|r| (r["id"].as_str(), r["outcome"].as_str())).collect();
    for (i, r) in intents.iter().zip(report) {
        let want_label = i["expect_label"].as_str().unwrap_or("");
        let want_repeat =
            i["expect_repeat_of"].as_i64().and_then(|seq| seq_to_id.get(&seq)).cloned().unwrap_or_default();
        let want_double = i["expect_double_execution"].as_str().unwrap_or("");
        let path_ok = r["path"] == i["path"].as_str().unwrap_or("");
        let label_ok = r["label"] == want_label;
        let repeat_ok = r["repeat_of"] == want_repeat;
        let got_double = r["double_execution"].as_str();
        let is_repeat = !matches!(want_label, "original" | "auth");
        let p_outcome = outcome_of.get(r["repeat_of"].as_str()).copied().unwrap_or("");
        let undecidable = is_repeat
            && got_double == "unknown"
            && matches!(p_outcome, "server-error" | "no-response" | "unknown")
            && want_double != "unknown";
        let double_ok = !is_repeat || got_double == want_double || undecidable;
        if path_ok && label_ok && repeat_ok && double_ok {
            s.right += 1;
            if undecidable && got_double != want_double {
                s.undecidable += 1;
            }
        } else {
            s.problems.push(format!(
                "row {} {}: got {}/repeat_of={}/double={} want {want_label}/repeat_of={want_repeat}/double={want_double} ({})",
                r["id"], r["path"], r["label"], r["repeat_of"], got_double, r["evidence"]
            ));
        }
    }
    s
}

/// Reads a file next to the repository root.
pub fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}
