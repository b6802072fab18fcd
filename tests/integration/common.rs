//! Helpers shared by the integration tests: running the binary, comparing a report with
//! the simulator's intent log.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Runs `dupcall` with `args` from the repository root.
pub fn dupcall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dupcall"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("dupcall runs")
}

/// The traffic simulator's binary (`tools/powerjob-sim`, a workspace member of its own).
///
/// `cargo test` at the root builds it beside this test binary; it is built again here once
/// per run (a no-op when it is up to date) so `cargo test --test integration` never runs a
/// stale simulator.
pub fn sim() -> &'static Path {
    static SIM: OnceLock<PathBuf> = OnceLock::new();
    SIM.get_or_init(|| {
        // target/PROFILE/deps/integration-HASH → target/PROFILE/powerjob-sim
        let exe = std::env::current_exe().expect("the test binary's path");
        let dir = exe.parent().and_then(Path::parent).expect("the target directory");
        let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        build.args(["build", "--quiet", "-p", "powerjob-sim"]).current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "`cargo build -p powerjob-sim` failed");
        dir.join("powerjob-sim")
    })
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

/// Rows without the `source` column, which names the file and frame or line (it differs
/// between equal reports of different files).
pub fn without_source(rows: &[Row]) -> Vec<Row> {
    rows.iter()
        .map(|r| {
            let mut r = r.clone();
            r.remove("source");
            r
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

/// What a report may leave open that the intent log knows, for inputs that cannot show
/// everything (access logs). `Lenience::default()` is what [`score`] applies.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lenience {
    /// Accept `double_execution=unknown` on a repeat row whose `confidence` is `inferred`
    /// while the intent log knows yes or no: the input does not show the earlier attempt's
    /// verdict (an access log has no response body, and without a logged marker header a
    /// PowerJob HTTP 200 may still be `success:false`), so "unknown" is the honest answer.
    /// Label and `repeat_of` must still be right. Counted in [`RowCheck::lenient`] as
    /// `"inferred-unknown"`.
    pub unknown_when_inferred: bool,
}

/// One intended mutation/auth call next to the report row at the same position.
#[derive(Clone, Debug)]
pub struct RowCheck {
    /// Intent sequence number.
    pub seq: i64,
    /// The report row (empty when the report has fewer rows).
    pub row: Row,
    /// Expected label, `repeat_of` (as an intent seq) and `double_execution`.
    pub want: (String, Option<i64>, String),
    /// The row's label, `repeat_of` mapped back to the intent seq at that row's position,
    /// and `double_execution`.
    pub got: (String, Option<i64>, String),
    /// Path, label, repeat_of and double_execution all right (under the lenience).
    pub ok: bool,
    /// Which lenience made it right: `"undecidable"` ([`score`]'s rule: P failed with a
    /// server error or got no response, so the traffic cannot tell) or `"inferred-unknown"`.
    pub lenient: Option<&'static str>,
}

impl RowCheck {
    /// One line for a failure message.
    pub fn describe(&self) -> String {
        let r = &self.row;
        let get = |k: &str| r.get(k).map(String::as_str).unwrap_or("");
        format!(
            "seq {} {}: got {}/repeat_of=#{}/double={} ({}) want {}/repeat_of=#{}/double={} ({})",
            self.seq,
            get("path"),
            self.got.0,
            self.got.1.map_or("-".into(), |s| s.to_string()),
            self.got.2,
            get("confidence"),
            self.want.0,
            self.want.1.map_or("-".into(), |s| s.to_string()),
            self.want.2,
            get("evidence")
        )
    }
}

/// The intent log's mutation and auth records, in send order.
pub fn intended_calls(intent_jsonl: &str) -> Vec<serde_json::Value> {
    intent_jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("intent line is JSON"))
        .filter(|v: &serde_json::Value| matches!(v["role"].as_str(), Some("mutation" | "auth")))
        .collect()
}

/// Compares report rows (mutations and auth calls, in order) with the intent log row by
/// row, by position like [`score`]; `repeat_of` is compared as the intent sequence number
/// found at the referenced row's position.
pub fn check_rows(report: &[Row], intent_jsonl: &str, lenience: Lenience) -> Vec<RowCheck> {
    let intents = intended_calls(intent_jsonl);
    let id_to_seq: std::collections::HashMap<&str, i64> = intents
        .iter()
        .zip(report)
        .filter_map(|(i, r)| Some((r.get("id")?.as_str(), i["seq"].as_i64()?)))
        .collect();
    let outcome_of: std::collections::HashMap<&str, &str> =
        report.iter().map(|r| (r["id"].as_str(), r["outcome"].as_str())).collect();
    intents
        .iter()
        .enumerate()
        .map(|(n, i)| {
            let row = report.get(n).cloned().unwrap_or_default();
            let get = |k: &str| row.get(k).cloned().unwrap_or_default();
            let want = (
                i["expect_label"].as_str().unwrap_or("").to_string(),
                i["expect_repeat_of"].as_i64(),
                i["expect_double_execution"].as_str().unwrap_or("").to_string(),
            );
            let repeat_id = get("repeat_of");
            let got = (
                get("label"),
                if repeat_id.is_empty() {
                    None
                } else {
                    Some(id_to_seq.get(repeat_id.as_str()).copied().unwrap_or(-1))
                },
                get("double_execution"),
            );
            let is_repeat = !matches!(want.0.as_str(), "original" | "auth");
            let p_outcome = outcome_of.get(repeat_id.as_str()).copied().unwrap_or("");
            let mut lenient = None;
            let double_ok = if !is_repeat || got.2 == want.2 {
                true
            } else if got.2 == "unknown"
                && want.2 != "unknown"
                && matches!(p_outcome, "server-error" | "no-response" | "unknown")
            {
                lenient = Some("undecidable");
                true
            } else if lenience.unknown_when_inferred
                && got.2 == "unknown"
                && want.2 != "unknown"
                && get("confidence") == "inferred"
            {
                lenient = Some("inferred-unknown");
                true
            } else {
                false
            };
            let ok = row.get("path").map(String::as_str) == i["path"].as_str()
                && got.0 == want.0
                && got.1 == want.1
                && double_ok;
            RowCheck {
                seq: i["seq"].as_i64().unwrap_or(0),
                row,
                want,
                got,
                ok,
                lenient: lenient.filter(|_| ok),
            }
        })
        .collect()
}

/// Every capture under `samples/` (subfolders such as `samples/faults/` included), as
/// paths relative to the repository root, sorted.
pub fn sample_captures() -> Vec<String> {
    fn walk(dir: &std::path::Path, rel: &str, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if path.is_dir() {
                walk(&path, &format!("{rel}/{name}"), out);
            } else if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                out.push(format!("{rel}/{name}"));
            }
        }
    }
    let mut out = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples"), "samples", &mut out);
    out.sort();
    out
}

/// The samples that have a committed expected report: `NAME` for each
/// `samples/NAME.pcap` with a `samples/NAME.expected.csv`, sorted.
pub fn sample_names() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("samples/ exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let name = name.strip_suffix(".pcap")?.to_string();
            dir.join(format!("{name}.expected.csv")).exists().then_some(name)
        })
        .collect();
    names.sort();
    names
}
