//! Shared harness for the real-proxy access-log tests (`apache_logs`, `haproxy_logs`,
//! `caddy_logs`): simulated PowerJob / OAuth2 servers (`powerjob-sim serve`) behind a real
//! proxy the test starts on 127.0.0.1 with its own configuration in a temporary directory,
//! the scenario's clients (`powerjob-sim client`) sending through it, and then, per access
//! log the proxy wrote:
//!
//! - every line is read: one exchange per request the clients sent (the intent log),
//!   abandoned ones included, and no malformed line;
//! - the format is detected without `--log-format` (and an inferred one is printed by
//!   `-v` and gives the same report when passed back);
//! - exchanges come out ordered by request start;
//! - claim precision and recall against the clients' intent ([`Claims`]).
//!
//! Every process is stopped by PID (SIGTERM, then SIGKILL after 10 s) when its [`Proc`]
//! drops, also when an assertion fails.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Lenience, Row};
use dupcall::accesslog::pipeline::{LogOptions, log_exchanges};
use dupcall::diag::Diagnostics;
use dupcall::exchange::Exchange;

/// Every simulator scenario with the number of servers it needs.
pub const SCENARIOS: &[(&str, usize)] = &[
    ("v5-expired-token", 1),
    ("v5-510-auth-off", 1),
    ("v5-proxy-lowercase", 1),
    ("v5-fixed-double-submit", 1),
    ("v5-duplicate-straddles-refresh", 1),
    ("v5-concurrent-shared-refresh", 1),
    ("v5-two-apps", 1),
    ("v5-timeout-failover", 2),
    ("v5-server-error-app-retry", 1),
    ("v4-assert-double-submit", 1),
    ("oauth2-refresh-retry", 1),
    ("oauth2-idempotency-key", 1),
];

/// The scenario the committed fixtures (tests/fixtures/logs/) were recorded from: two
/// servers, a request the client abandons, a retry to the other server.
pub const FIXTURE_SCENARIO: &str = "v5-timeout-failover";

/// Copies a recorded log and its intent into tests/fixtures/logs/NAME.{log,intent.jsonl}.
pub fn save_fixture(name: &str, log: &Path, intent: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/logs");
    fs::create_dir_all(&dir).unwrap();
    fs::copy(log, dir.join(format!("{name}.log"))).unwrap();
    fs::write(dir.join(format!("{name}.intent.jsonl")), intent).unwrap();
}

/// A process the test started, stopped by PID when dropped.
pub struct Proc {
    pub child: Child,
}

impl Proc {
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if !self.alive() {
            return;
        }
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && self.alive() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tool's path, or `None` when `skip_var`=1 (printed); a failure when it is missing.
pub fn tool_or_skip(tool: &str, skip_var: &str, package: &str) -> Option<PathBuf> {
    if std::env::var_os(skip_var).is_some_and(|v| v == "1") {
        eprintln!("skipped: {skip_var}=1");
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs =
        std::env::split_paths(&path).chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(tool);
        if p.is_file() {
            return Some(p);
        }
    }
    panic!(
        "{tool} is needed for this test (Debian: apt-get install -y {package}), or set {skip_var}=1 to skip it on purpose"
    );
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `cmd` (stdout and stderr to files in `dir`) and waits until every address in
/// `addrs` accepts connections.
pub fn start(name: &str, mut cmd: Command, dir: &Path, addrs: &[String]) -> Proc {
    let out = fs::File::create(dir.join(format!("{name}.stdout"))).unwrap();
    let err = fs::File::create(dir.join(format!("{name}.stderr"))).unwrap();
    let child = cmd.stdout(out).stderr(err).spawn().unwrap_or_else(|e| panic!("{name} starts: {e}"));
    let mut p = Proc { child };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !addrs.iter().all(|a| TcpStream::connect(a).is_ok()) {
        let why = || fs::read_to_string(dir.join(format!("{name}.stderr"))).unwrap_or_default();
        assert!(p.alive(), "{name} exited: {}", why());
        assert!(Instant::now() < deadline, "{name} did not listen on {addrs:?}: {}", why());
        std::thread::sleep(Duration::from_millis(20));
    }
    p
}

/// Starts a simulated server; gives it and its address.
pub fn start_sim(dir: &Path, scenario: &str, index: usize) -> (Proc, String) {
    let name = format!("sim{index}");
    let stderr = fs::File::create(dir.join(format!("{name}.stderr"))).unwrap();
    let mut child = Command::new(common::sim())
        .args(["serve", "--scenario", scenario, "--index", &index.to_string(), "--listen", "127.0.0.1:0"])
        .arg("--exec-log")
        .arg(dir.join(format!("{name}.exec.jsonl")))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("powerjob-sim serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let p = Proc { child };
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line.trim().to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{name} did not start: {addr:?}");
    (p, addr)
}

/// Runs the scenario's clients against `servers`; gives the intent log with
/// `expect_double_execution` filled from the servers' execution logs.
pub fn run_clients(dir: &Path, scenario: &str, servers: &[String], sims: usize) -> String {
    let mut cmd = Command::new(common::sim());
    cmd.args(["client", scenario, "--server", &servers.join(","), "--out"]).arg(dir);
    for i in 0..sims {
        cmd.arg("--exec-log").arg(dir.join(format!("sim{i}.exec.jsonl")));
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{scenario} clients failed: {}", String::from_utf8_lossy(&out.stderr));
    fs::read_to_string(dir.join(format!("{scenario}.intent.jsonl"))).unwrap()
}

/// Requests the clients sent (every intent record).
pub fn sent(intent: &str) -> usize {
    intent.lines().filter(|l| !l.trim().is_empty()).count()
}

/// Waits until `log` has `n` non-empty lines (a proxy writes a line when the request
/// ends, which for an abandoned request is when the slow upstream answers).
pub fn wait_lines(log: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let have =
            fs::read_to_string(log).map(|t| t.lines().filter(|l| !l.trim().is_empty()).count()).unwrap_or(0);
        if have >= n || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The exchanges of a log read by the library (format detected), and the detected spec.
pub fn exchanges(log: &Path) -> (Vec<Exchange>, String, Diagnostics) {
    let mut diag = Diagnostics::default();
    let mut out = Vec::new();
    let file = BufReader::new(fs::File::open(log).unwrap());
    let s = log_exchanges(file, 0, "t", &LogOptions::default(), &mut diag, &mut |e| out.push(e))
        .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert_eq!(s.malformed, 0, "{}: malformed lines: {:?}", log.display(), diag.kept());
    (out, s.format, diag)
}

/// `dupcall analyze LOG ARGS… --fingerprint-key proxy`; the rows and stderr.
pub fn analyze(log: &Path, args: &[&str]) -> (Vec<Row>, String) {
    let mut all = vec!["analyze", log.to_str().unwrap(), "--fingerprint-key", "proxy"];
    all.extend_from_slice(args);
    let out = common::dupcall(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "dupcall {all:?}: {stderr}");
    (common::rows(&out.stdout), stderr)
}

/// Repeat claims against the intent: of the rows labelled `genuine-duplicate`,
/// `auto-refresh-retry` or `error-retry`, how many have the intended label and either the
/// intended `repeat_of` or the intended `double_execution` (precision: which of two calls to
/// one target a repeat pairs with is beyond a log without bodies, while what it claims —
/// the kind of repeat and whether the work ran twice — is not); of the intended such rows,
/// how many got them (recall).
#[derive(Clone, Copy, Debug, Default)]
pub struct Claims {
    pub claimed: usize,
    pub claimed_right: usize,
    pub intended: usize,
    pub found: usize,
}

const CLAIMS: [&str; 3] = ["genuine-duplicate", "auto-refresh-retry", "error-retry"];

impl Claims {
    pub fn of(rows: &[Row], intent: &str) -> Claims {
        let mut c = Claims::default();
        for r in common::check_rows(rows, intent, Lenience { unknown_when_inferred: true }) {
            let right = r.got.0 == r.want.0 && (r.got.1 == r.want.1 || r.got.2 == r.want.2);
            if CLAIMS.contains(&r.got.0.as_str()) {
                c.claimed += 1;
                c.claimed_right += usize::from(right);
            }
            if CLAIMS.contains(&r.want.0.as_str()) {
                c.intended += 1;
                c.found += usize::from(right);
            }
        }
        c
    }

    pub fn add(&mut self, o: Claims) {
        self.claimed += o.claimed;
        self.claimed_right += o.claimed_right;
        self.intended += o.intended;
        self.found += o.found;
    }

    /// `precision recall (right/claimed, found/intended)`.
    pub fn describe(&self) -> String {
        let ratio =
            |a: usize, b: usize| if b == 0 { "-".to_string() } else { format!("{:.2}", a as f64 / b as f64) };
        format!(
            "precision {} ({}/{}), recall {} ({}/{})",
            ratio(self.claimed_right, self.claimed),
            self.claimed_right,
            self.claimed,
            ratio(self.found, self.intended),
            self.found,
            self.intended
        )
    }
}

/// One log of one scenario: what to check beyond the common checks.
pub struct LogCheck<'a> {
    pub label: &'a str,
    pub path: PathBuf,
    /// The detected spec must start with this.
    pub detected: &'a str,
    /// Checks on the exchanges (the `logged` facts); failures as text.
    pub facts: &'a dyn Fn(&[Exchange], &str) -> Vec<String>,
}

/// The common checks of one log: every request read, the format detected, start order,
/// the inferred spec passed back gives the same report; gives the claims and failures.
pub fn check_log(scenario: &str, intent: &str, c: &LogCheck<'_>) -> (Claims, Vec<String>) {
    let mut failures = Vec::new();
    let (ex, spec, _) = exchanges(&c.path);
    if ex.len() != sent(intent) {
        failures.push(format!(
            "{scenario} {}: {} exchanges for {} requests sent",
            c.label,
            ex.len(),
            sent(intent)
        ));
    }
    if !spec.starts_with(c.detected) {
        failures.push(format!("{scenario} {}: detected as {spec:?}, want {:?}", c.label, c.detected));
    }
    if let Some(w) = ex.windows(2).position(|w| w[1].time() < w[0].time()) {
        failures.push(format!("{scenario} {}: exchange {} starts before exchange {}", c.label, w + 2, w + 1));
    }
    failures.extend((c.facts)(&ex, intent).into_iter().map(|f| format!("{scenario} {}: {f}", c.label)));
    let (rows, stderr) = analyze(&c.path, &["-v"]);
    if !stderr.contains(&format!("--log-format '{}'", spec.replace('\'', "'\\''"))) {
        failures.push(format!("{scenario} {}: -v does not print the format: {stderr}", c.label));
    }
    let (again, _) = analyze(&c.path, &["--log-format", &spec]);
    if again != rows {
        failures.push(format!("{scenario} {}: --log-format {spec:?} gives another report", c.label));
    }
    let claims = Claims::of(&rows, intent);
    if std::env::var_os("DUPCALL_CLAIMS_DETAIL").is_some() {
        println!("    {scenario:<32} {:<9} {}", c.label, claims.describe());
    }
    (claims, failures)
}

/// The request seqs of the intent whose outcome is `no-response` (the client gave up).
pub fn abandoned(intent: &str) -> usize {
    intent
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["outcome"] == "no-response")
        .count()
}

/// Prints the per-format claims table and fails with every failure.
pub fn report(server: &str, table: &[(String, Claims)], failures: &[String]) {
    println!("{server}: repeat claims against the clients' intent, all scenarios");
    for (fmt, c) in table {
        println!("  {server:<8} {fmt:<10} {}", c.describe());
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
