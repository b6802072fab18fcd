//! HAR files from real producers, run here: mitmproxy (`mitmdump --mode reverse:… --set
//! hardump=…`, from PyPI into .ci/py) in front of a small OAuth 2.0 bearer API
//! (tests/har/api.py) with a Python client (tests/har/client.py), and headless Debian
//! `chromium` driven by Playwright for Python (tests/har/browser.py, `record_har_path`, no
//! browser download) running tests/har/page.html. Both clients refresh their token on a 401
//! and replay once, and submit one order twice. The truth is the API's execution log: which
//! attempts were rejected, which executed. `dupcall analyze FILE.har` must read every entry
//! and label the replay `auto-refresh-retry` (not executed twice) and the double submit
//! `genuine-duplicate` (executed twice), exactly as the log says; and the HAR's exchange
//! records (`dupcall exchanges --format jsonl`) must give the same rows.
//!
//! Needs python3, .ci/py (`pip install --target .ci/py mitmproxy playwright`; `.ci/run` does
//! it) and /usr/bin/chromium; fails without them unless `DUPCALL_SKIP_HAR_PRODUCERS=1`.
//! Every server listens on 127.0.0.1 and is stopped by PID when the test ends.

use crate::common;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A started process, stopped by PID (SIGTERM, a grace period, then SIGKILL) when dropped.
struct Proc {
    child: Child,
}

impl Proc {
    /// SIGTERM and wait up to `grace` for the exit (mitmproxy writes its HAR on exit).
    fn stop(&mut self, grace: Duration) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tools, or why not: `false` when DUPCALL_SKIP_HAR_PRODUCERS=1; a failure when missing.
fn producers_or_skip() -> bool {
    if std::env::var_os("DUPCALL_SKIP_HAR_PRODUCERS").is_some_and(|v| v == "1") {
        eprintln!("skipped: DUPCALL_SKIP_HAR_PRODUCERS=1");
        return false;
    }
    for (p, how) in [
        (".ci/py/mitmproxy", "pip install --target .ci/py mitmproxy playwright (.ci/run does it)"),
        (".ci/py/playwright", "pip install --target .ci/py mitmproxy playwright (.ci/run does it)"),
    ] {
        assert!(root().join(p).exists(), "{p} is needed: {how}; or set DUPCALL_SKIP_HAR_PRODUCERS=1");
    }
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is needed (apt-get install chromium); or set DUPCALL_SKIP_HAR_PRODUCERS=1"
    );
    true
}

fn python() -> Command {
    let mut c = Command::new("python3");
    c.env("PYTHONPATH", root().join(".ci/py")).env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
    c.current_dir(root());
    c
}

/// Starts tests/har/api.py; gives the process and its `127.0.0.1:PORT`.
fn start_api(dir: &Path) -> (Proc, String) {
    let mut child = python()
        .arg("tests/har/api.py")
        .arg(dir.join("exec.jsonl"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("api.stderr")).unwrap())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "api.py did not start: {addr:?}");
    (Proc { child }, addr)
}

fn wait_listening(port: u16, what: &str, proc: &mut Proc) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(st)) = proc.child.try_wait() {
            panic!("{what} exited before listening: {st}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 120 s");
}

fn run_ok(mut c: Command, what: &str) {
    let out = c.output().expect("runs");
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the API's execution log says each `/api/orders` attempt is, in order: (order,
/// label, double_execution) — the first of an order `original`; after a rejection and a
/// token issued in between, `auto-refresh-retry` (the rejected one did not execute: `no`);
/// after an executed one, `genuine-duplicate` (`yes`).
fn truth(exec: &str) -> Vec<(String, &'static str, &'static str)> {
    let mut out = Vec::new();
    let mut last: std::collections::HashMap<String, (bool, usize)> = Default::default();
    let mut issued = 0usize;
    for line in exec.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if v["path"] == "/oauth/token" {
            issued += 1;
            continue;
        }
        let order = v["order"].as_str().unwrap().to_string();
        let executed = v["executed"].as_bool().unwrap();
        let want = match last.get(&order) {
            None => ("original", ""),
            Some((false, at)) if issued > *at => ("auto-refresh-retry", "no"),
            Some((true, _)) => ("genuine-duplicate", "yes"),
            Some(_) => panic!("the API log has a repeat this test does not expect: {line}"),
        };
        last.insert(order.clone(), (executed, issued));
        out.push((order, want.0, want.1));
    }
    out
}

/// Analyses `har` and checks every entry was read and every order row is labelled as the
/// execution log says.
fn check(har: &Path, exec: &Path, producer: &str) {
    let doc: Value = serde_json::from_slice(&std::fs::read(har).unwrap()).unwrap();
    assert_eq!(doc["log"]["creator"]["name"], producer);
    let entries = doc["log"]["entries"].as_array().unwrap().len();
    let har_s = har.to_string_lossy();
    let out = common::dupcall(&["analyze", &har_s, "--profile", "oauth2-bearer", "--all"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "analyze: {stderr}");
    assert!(stderr.contains(&format!("; {entries} exchanges")), "all {entries} entries read: {stderr}");
    let rows = common::rows(&out.stdout);
    assert_eq!(rows.len(), entries, "one row per entry with --all");
    let orders: Vec<&common::Row> = rows.iter().filter(|r| r["path"] == "/api/orders").collect();
    let want = truth(&std::fs::read_to_string(exec).unwrap());
    assert_eq!(orders.len(), want.len(), "{producer}: one row per attempt the API saw");
    for (row, (order, label, twice)) in orders.iter().zip(&want) {
        assert!(row["call_key"].contains(order.as_str()), "{producer}: {row:?}");
        assert_eq!(
            (row["label"].as_str(), row["double_execution"].as_str()),
            (*label, *twice),
            "{producer}: {row:?}"
        );
        assert!(row["source"].contains("#entry="), "{row:?}");
    }
    assert!(
        want.iter().any(|w| w.1 == "auto-refresh-retry") && want.iter().any(|w| w.1 == "genuine-duplicate")
    );
    // The HAR's exchange records label the same (docs/har.md, "Exchange records").
    let rec = har.with_extension("jsonl");
    let rec_s = rec.to_string_lossy();
    let k = ["--fingerprint-key", "har-records", "--profile", "oauth2-bearer", "--all"];
    let out = common::dupcall(&[
        "exchanges",
        "--format",
        "jsonl",
        "--fingerprint-key",
        "har-records",
        &har_s,
        "-o",
        &rec_s,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows_of = |input: &str| {
        let mut args = vec!["analyze", input];
        args.extend(k);
        common::without_source(&common::rows(&common::dupcall(&args).stdout))
    };
    let direct = rows_of(&har_s);
    assert_eq!(direct.len(), entries);
    assert_eq!(rows_of(&rec_s), direct, "{producer}: rows from the HAR's records differ");
}

#[test]
fn mitmproxy_hardump_in_front_of_an_api() {
    if !producers_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_api, api) = start_api(dir.path());
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let har = dir.path().join("mitmproxy.har");
    let mut mitm = python();
    mitm.args(["-c", "from mitmproxy.tools.main import mitmdump; mitmdump()"])
        .arg("--mode")
        .arg(format!("reverse:http://{api}"))
        .args(["--listen-host", "127.0.0.1", "--listen-port", &port.to_string(), "-q", "--set"])
        .arg(format!("hardump={}", har.display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("mitmdump.stderr")).unwrap());
    let mut mitm = Proc { child: mitm.spawn().expect("mitmdump starts") };
    wait_listening(port, "mitmdump", &mut mitm);
    let mut client = python();
    client.arg("tests/har/client.py").arg(format!("http://127.0.0.1:{port}"));
    run_ok(client, "client.py");
    // mitmproxy writes the HAR when it shuts down.
    mitm.stop(Duration::from_secs(60));
    assert!(
        har.exists(),
        "mitmdump wrote no HAR: {}",
        std::fs::read_to_string(dir.path().join("mitmdump.stderr")).unwrap_or_default()
    );
    check(&har, &dir.path().join("exec.jsonl"), "mitmproxy");
}

#[test]
fn chromium_through_playwright() {
    if !producers_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_api, api) = start_api(dir.path());
    let har = dir.path().join("chromium.har");
    let mut browser = python();
    browser.arg("tests/har/browser.py").arg(format!("http://{api}/")).arg(&har);
    run_ok(browser, "browser.py (Playwright, /usr/bin/chromium)");
    check(&har, &dir.path().join("exec.jsonl"), "Playwright");
}
