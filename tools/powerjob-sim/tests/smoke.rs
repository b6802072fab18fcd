//! Smoke tests of the `powerjob-sim` traffic simulator: a few scenarios run end to end over
//! loopback, and their intent and execution logs must tell the scenario's story. One scenario
//! also runs with `--capture` when tcpdump is available and we are root.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const SIM: &str = env!("CARGO_BIN_EXE_powerjob-sim");

fn run_scenario(name: &str, out: &Path, capture: bool) {
    let mut cmd = Command::new(SIM);
    cmd.args(["run", name, "--out"]).arg(out);
    if capture {
        cmd.arg("--capture");
    }
    let output = cmd.output().expect("run powerjob-sim");
    assert!(
        output.status.success(),
        "powerjob-sim run {name} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn logs(out: &Path, name: &str) -> (Vec<Value>, Vec<Value>) {
    (
        read_jsonl(&out.join(format!("{name}.intent.jsonl"))),
        read_jsonl(&out.join(format!("{name}.exec.jsonl"))),
    )
}

fn on_path<'a>(records: &'a [Value], path: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["path"] == path).collect()
}

#[test]
fn v510_auth_off_executes_twice() {
    let dir = tempfile::tempdir().unwrap();
    run_scenario("v5-510-auth-off", dir.path(), false);
    let (intent, exec) = logs(dir.path(), "v5-510-auth-off");

    // The 5.1.0 constructor sends authApp 4 times before anything else.
    let first_four: Vec<&str> = intent[..4].iter().map(|r| r["path"].as_str().unwrap()).collect();
    assert_eq!(first_four, ["/openApi/authApp"; 4]);
    assert!(intent[..4].iter().all(|r| r["expect_label"] == "auth"));

    let saves = on_path(&intent, "/openApi/saveJob");
    assert_eq!(saves.len(), 2, "{saves:#?}");
    assert_eq!(saves[0]["expect_label"], "original");
    assert_eq!(saves[0]["expect_double_execution"], "no");
    assert_eq!(saves[1]["expect_label"], "auto-refresh-retry");
    assert_eq!(saves[1]["expect_repeat_of"], saves[0]["seq"]);
    assert_eq!(saves[1]["expect_double_execution"], "yes");
    assert_eq!(saves[0]["body"], saves[1]["body"], "the retry re-sends the same body");

    // Sequence numbers are 1.. in send order, with increasing send times.
    for (i, r) in intent.iter().enumerate() {
        assert_eq!(r["seq"].as_u64(), Some(i as u64 + 1));
    }
    assert!(intent.windows(2).all(|w| w[0]["sent_us"].as_i64() <= w[1]["sent_us"].as_i64()));

    // Ground truth: both saveJob attempts ran the controller, with two different job ids.
    let exec_saves = on_path(&exec, "/openApi/saveJob");
    assert_eq!(exec_saves.len(), 2, "{exec:#?}");
    assert_ne!(exec_saves[0]["result"], exec_saves[1]["result"]);
    assert_eq!(on_path(&exec, "/openApi/runJob").len(), 2);
}

#[test]
fn v5_expired_token_retry_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    run_scenario("v5-expired-token", dir.path(), false);
    let (intent, exec) = logs(dir.path(), "v5-expired-token");

    let disables = on_path(&intent, "/openApi/disableJob");
    assert_eq!(disables.len(), 2, "{disables:#?}");
    assert_eq!(disables[0]["expect_label"], "original");
    assert_eq!(disables[0]["outcome"], "rejected");
    assert_eq!(disables[1]["expect_label"], "auto-refresh-retry");
    assert_eq!(disables[1]["expect_repeat_of"], disables[0]["seq"]);
    assert_eq!(disables[1]["expect_double_execution"], "no");

    // An authApp refresh lies between the rejected attempt and its retry.
    let (p, m) = (disables[0]["seq"].as_u64().unwrap(), disables[1]["seq"].as_u64().unwrap());
    assert!(intent.iter().any(|r| {
        let s = r["seq"].as_u64().unwrap();
        s > p && s < m && r["path"] == "/openApi/authApp"
    }));

    // The rejected attempt never reached the controller: one execution.
    assert_eq!(on_path(&exec, "/openApi/disableJob").len(), 1, "{exec:#?}");
}

#[test]
fn oauth2_idempotency_key_retry_and_new_key() {
    let dir = tempfile::tempdir().unwrap();
    run_scenario("oauth2-idempotency-key", dir.path(), false);
    let (intent, exec) = logs(dir.path(), "oauth2-idempotency-key");

    let labels: Vec<(&str, &str)> = on_path(&intent, "/api/orders")
        .iter()
        .map(|r| (r["expect_label"].as_str().unwrap(), r["expect_double_execution"].as_str().unwrap()))
        .collect();
    assert_eq!(labels, [("original", "no"), ("error-retry", "no"), ("genuine-duplicate", "yes")]);
    assert_eq!(on_path(&exec, "/api/orders").len(), 2);
}

fn effective_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

#[test]
fn capture_writes_a_pcap() {
    let has_tcpdump = Command::new("tcpdump").arg("--version").output().is_ok_and(|o| o.status.success());
    if !has_tcpdump || !effective_root() {
        println!(
            "note: skipping the --capture smoke test (tcpdump on PATH: {has_tcpdump}, root: {})",
            effective_root()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run_scenario("v5-fixed-double-submit", dir.path(), true);
    let pcap = std::fs::read(dir.path().join("v5-fixed-double-submit.pcap")).unwrap();
    assert!(pcap.len() > 24, "pcap has no packets ({} bytes)", pcap.len());
    let magic = u32::from_le_bytes([pcap[0], pcap[1], pcap[2], pcap[3]]);
    assert!(
        matches!(magic, 0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1),
        "not a pcap magic: {magic:#x}"
    );
    // Both saveJob requests are on the wire.
    let needle = b"POST /openApi/saveJob HTTP/1.1";
    let hits = pcap.windows(needle.len()).filter(|w| w == needle).count();
    assert_eq!(hits, 2);
}
