//! Access logs from a real nginx. Every simulator scenario's clients talk to `powerjob-sim
//! serve` through nginx (a reverse proxy on 127.0.0.1, started by the test with a generated
//! `nginx.conf` in a temporary directory), which writes four access logs of the same
//! requests: the stock `combined` format, a richer `log_format` (`dupcall_rich`, in
//! samples/logs/nginx-rich.conf: `$request_time`, `$msec`, `$upstream_status`,
//! `$server_addr:$server_port`, the `X-POWERJOB-APP-ID` request header and the
//! `X-POWERJOB-AUTH-PASSED` response header), the same fields as JSON lines
//! (samples/logs/nginx-json.conf), and `combined` + `$request_time`. `dupcall analyze`
//! reads each log (with and without `--log-format`), and its labels are checked against
//! what the clients meant (their intent log), row by row.
//!
//! What a log can prove differs by format, so the expectation is stated per format and
//! scenario ([`KNOWN`]): a row either matches the intent or shows exactly the listed answer,
//! with the reason (a limit of what the log shows, or a discrepancy in the label logic that
//! is reported, not hidden). Anything else fails, including a listed deviation that no
//! longer happens (update the table then). `confidence` is checked too: `inferred` exactly
//! where the log does not show the deciding fact ([`want_confidence`]).
//!
//! `expect_double_execution` cannot come from the simulator here: through a proxy the
//! servers see nginx's connections, not the clients', so `powerjob-sim client` cannot link
//! its attempts to the servers' execution logs. [`relink`] does it instead, by path,
//! canonical body and time (a server executes an attempt after it was sent and before the
//! next identical attempt was sent).
//!
//! Needs nginx (Debian: `apt-get install -y nginx-light`; CI installs it); the test fails
//! without it unless `DUPCALL_SKIP_NGINX=1` is set. nginx and the simulated servers listen
//! on 127.0.0.1 only and are stopped by PID (SIGTERM, then wait) when each scenario ends,
//! also when an assertion fails.
//!
//! `cargo test --test nginx_logs -- --ignored record_log_samples` re-records the access-log
//! samples in samples/logs/ (see samples/logs/README.md).

use crate::common;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Lenience, Row, RowCheck};
use crate::proxy_logs::Claims;
use dupcall::accesslog::{LogFormat, TimeBasis};
use serde_json::Value;

/// The rich format, as pasted into nginx.conf and passed to `--log-format`.
const RICH: &str = include_str!("../../samples/logs/nginx-rich.conf");
/// The same fields as JSON lines (`escape=json`).
const JSON: &str = include_str!("../../samples/logs/nginx-json.conf");
/// `combined` plus `$request_time`, a common extension: whole-second end times and
/// millisecond durations.
const TIMED: &str = "log_format dupcall_timed '$remote_addr - $remote_user [$time_local] \"$request\" \
                     $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time';\n";

/// The access logs nginx writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fmt {
    Combined,
    Rich,
    Json,
}

impl Fmt {
    const ALL: [Fmt; 3] = [Fmt::Combined, Fmt::Rich, Fmt::Json];

    fn file(self) -> &'static str {
        match self {
            Fmt::Combined => "combined.log",
            Fmt::Rich => "rich.log",
            Fmt::Json => "json.log",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Fmt::Combined => "combined",
            Fmt::Rich => "rich",
            Fmt::Json => "json",
        }
    }
}

/// Every scenario of `powerjob-sim list`, with the number of servers it needs (one nginx
/// `server` block each).
use crate::proxy_logs::SCENARIOS;

// ------------------------------------------------------------------ expected deviations

/// Logs show no request body.
const NO_BODY: &str = "limit of access logs: no request body, so two different calls on one \
                       path (disableJob jobId=11 and 12; order A-1 and B-2) have one call key";
/// `combined` shows no app identity.
const NO_APP: &str = "limit of `combined`: no app identity, so two apps on one host with one \
                      user agent are one caller";
/// A row whose answer differs from the intent because of what the log shows.
struct Known {
    scenario: &'static str,
    formats: &'static [Fmt],
    /// Intent sequence number of the row.
    seq: i64,
    /// The answers that may appear instead: label, `repeat_of` as an intent seq,
    /// `double_execution` (several when the outcome depends on request timing).
    got: &'static [(&'static str, Option<i64>, &'static str)],
    /// The row may also match the intent (which attempt a concurrent retry repeats depends
    /// on thread timing, in the intent as in the log).
    may_match: bool,
    why: &'static str,
}

const C: &[Fmt] = &[Fmt::Combined];
const RJ: &[Fmt] = &[Fmt::Rich, Fmt::Json];
const ALL: &[Fmt] = &Fmt::ALL;

/// Every row where a log leads to another answer than the intent, and why.
const KNOWN: &[Known] = &[
    // Two threads, two jobs, one refresh: the log cannot tell the two disableJob calls apart.
    Known {
        scenario: "v5-concurrent-shared-refresh",
        formats: C,
        seq: 6,
        got: &[("genuine-duplicate", Some(5), "unknown")],
        may_match: false,
        why: NO_BODY,
    },
    Known {
        scenario: "v5-concurrent-shared-refresh",
        formats: C,
        seq: 8,
        got: &[("auto-refresh-retry", Some(6), "no")],
        may_match: true,
        why: NO_BODY,
    },
    Known {
        scenario: "v5-concurrent-shared-refresh",
        formats: C,
        seq: 9,
        got: &[("genuine-duplicate", Some(8), "unknown")],
        may_match: false,
        why: NO_BODY,
    },
    Known {
        scenario: "v5-concurrent-shared-refresh",
        formats: RJ,
        seq: 6,
        got: &[("error-retry", Some(5), "no")],
        may_match: false,
        why: NO_BODY,
    },
    Known {
        scenario: "v5-concurrent-shared-refresh",
        formats: RJ,
        seq: 8,
        got: &[("auto-refresh-retry", Some(6), "no")],
        may_match: true,
        why: NO_BODY,
    },
    // The two retries are sent at once after the shared refresh: #9 may start before #8 ends.
    Known {
        scenario: "v5-concurrent-shared-refresh",
        formats: RJ,
        seq: 9,
        got: &[("error-retry", Some(8), "yes"), ("genuine-duplicate", Some(8), "yes")],
        may_match: false,
        why: NO_BODY,
    },
    Known {
        scenario: "v5-two-apps",
        formats: C,
        seq: 10,
        got: &[("genuine-duplicate", Some(9), "unknown")],
        may_match: false,
        why: NO_APP,
    },
    Known {
        scenario: "v5-two-apps",
        formats: C,
        seq: 12,
        got: &[("genuine-duplicate", Some(11), "unknown")],
        may_match: false,
        why: NO_APP,
    },
    Known {
        scenario: "oauth2-refresh-retry",
        formats: ALL,
        seq: 3,
        got: &[("genuine-duplicate", Some(2), "yes")],
        may_match: false,
        why: NO_BODY,
    },
];

/// `confidence` a repeat row must have: `confirmed` where the log shows the deciding fact
/// (the status of a failure; the logged marker header; OAuth2 decides by status alone),
/// `inferred` where it does not: a PowerJob HTTP 200 in `combined` (success or rejection is
/// in the body or the marker, neither logged), P got no response at all, a genuine
/// duplicate or error retry of a call with a body (a log shows no bodies, so the two calls
/// may differ), or a refresh after a logged `true` marker (a log cannot show its case).
fn want_confidence(fmt: Fmt, powerjob: bool, p_status: &str, row: &Row) -> &'static str {
    let label = row.get("label").map(String::as_str).unwrap_or("");
    let body_call = row.get("method").is_some_and(|m| matches!(m.as_str(), "POST" | "PUT" | "PATCH"));
    let case_invisible = row.get("evidence").is_some_and(|e| e.contains("letter case"));
    if p_status.is_empty()
        || (fmt == Fmt::Combined && powerjob && p_status == "200")
        || (body_call && matches!(label, "genuine-duplicate" | "error-retry" | "auto-refresh-retry"))
        || label == "ambiguous"
        || case_invisible
    {
        "inferred"
    } else {
        "confirmed"
    }
}

// ------------------------------------------------------------------ processes

/// Processes a test started; stopped by PID (in reverse start order) when dropped, so also
/// when an assertion fails.
#[derive(Default)]
struct Procs(Vec<(String, Child, bool)>);

impl Procs {
    /// `graceful`: SIGTERM first (nginx's master then stops its workers and exits).
    fn add(&mut self, name: &str, child: Child, graceful: bool) {
        self.0.push((name.to_string(), child, graceful));
    }

    fn stop_all(&mut self) {
        while let Some((_, mut child, graceful)) = self.0.pop() {
            if matches!(child.try_wait(), Ok(Some(_))) {
                continue;
            }
            if graceful {
                let _ = Command::new("sh").arg("-c").arg(format!("kill -TERM {}", child.id())).status();
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// nginx, or why not: `None` when DUPCALL_SKIP_NGINX is set; a failure when it is missing.
fn nginx_or_skip() -> Option<PathBuf> {
    if std::env::var_os("DUPCALL_SKIP_NGINX").is_some_and(|v| v == "1") {
        eprintln!("skipped: DUPCALL_SKIP_NGINX=1");
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join("nginx");
        if p.is_file() {
            return Some(p);
        }
    }
    panic!(
        "nginx is needed for this test (Debian/Ubuntu: apt-get install -y nginx-light), or set \
         DUPCALL_SKIP_NGINX=1 to skip it on purpose"
    );
}

/// Starts a simulated server; gives its address.
fn start_sim(procs: &mut Procs, args: &[&str], dir: &Path, name: &str) -> String {
    let stderr = fs::File::create(dir.join(format!("{name}.stderr"))).unwrap();
    let mut child = Command::new(common::sim())
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--exec-log"])
        .arg(dir.join(format!("{name}.exec.jsonl")))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("powerjob-sim serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    procs.add(name, child, false);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line.trim().to_string();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "{name} did not start: {:?}\n{}",
        addr,
        fs::read_to_string(dir.join(format!("{name}.stderr"))).unwrap_or_default()
    );
    addr
}

/// Ports free on 127.0.0.1 right now.
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// The nginx.conf: one `server` per (listen port, upstream), the three access logs, every
/// path inside `dir`.
fn nginx_conf(dir: &Path, routes: &[(u16, String)]) -> String {
    let d = dir.display();
    let servers: String = routes
        .iter()
        .map(|(port, up)| {
            format!(
                "    server {{\n        listen 127.0.0.1:{port};\n        location / {{\n            proxy_pass http://{up};\n        }}\n    }}\n"
            )
        })
        .collect();
    format!(
        "# Generated by tests/nginx_logs.rs: nginx as a reverse proxy in front of powerjob-sim.\n\
         worker_processes 1;\n\
         daemon off;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log notice;\n\
         events {{\n    worker_connections 64;\n}}\n\
         http {{\n\
         \x20   client_body_temp_path {d}/tmp/body;\n\
         \x20   proxy_temp_path {d}/tmp/proxy;\n\
         \x20   fastcgi_temp_path {d}/tmp/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/tmp/uwsgi;\n\
         \x20   scgi_temp_path {d}/tmp/scgi;\n\
         {RICH}{JSON}{TIMED}\
         \x20   access_log {d}/combined.log combined;\n\
         \x20   access_log {d}/rich.log dupcall_rich;\n\
         \x20   access_log {d}/json.log dupcall_json;\n\
         \x20   access_log {d}/timed.log dupcall_timed;\n\
         {servers}}}\n"
    )
}

/// Starts nginx in front of `upstreams`; gives the addresses it listens on.
fn start_nginx(procs: &mut Procs, nginx: &Path, dir: &Path, upstreams: &[String]) -> Vec<String> {
    // Workers drop root to `nobody`; let them reach their temp paths inside `dir`.
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The ports are free when picked but another test may take one before nginx binds it:
    // then nginx exits (and a connect would reach the other test's server), so nginx is up
    // only once it is alive with its pid file written (after it bound every port).
    for attempt in 1..=5 {
        let ports = free_ports(upstreams.len());
        let routes: Vec<(u16, String)> = ports.iter().copied().zip(upstreams.iter().cloned()).collect();
        let conf = dir.join("nginx.conf");
        fs::write(&conf, nginx_conf(dir, &routes)).unwrap();
        let _ = fs::remove_file(dir.join("nginx.pid"));
        let log = |n: &str| fs::File::create(dir.join(n)).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(log("nginx.stdout"))
            .stderr(log("nginx.stderr"))
            .spawn()
            .expect("nginx starts");
        procs.add("nginx", child, true);
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let exited = procs.0.last_mut().and_then(|(_, c, _)| c.try_wait().ok().flatten());
            if exited.is_none()
                && dir.join("nginx.pid").exists()
                && addrs.iter().all(|a| TcpStream::connect(a).is_ok())
            {
                return addrs;
            }
            let why = || {
                format!(
                    "{}\n{}",
                    fs::read_to_string(dir.join("nginx.stderr")).unwrap_or_default(),
                    fs::read_to_string(dir.join("error.log")).unwrap_or_default()
                )
            };
            if exited.is_some() && attempt < 5 && why().contains("Address already in use") {
                procs.0.pop();
                break;
            }
            if exited.is_some() || Instant::now() > deadline {
                panic!("nginx did not come up ({exited:?}):\n{}", why());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    unreachable!("the last attempt returns or panics")
}

// ------------------------------------------------------------------ ground truth

/// The simulator's canonical body: JSON with sorted keys, form fields sorted.
fn canonical_body(body: &str) -> String {
    fn sorted(v: Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut e: Vec<(String, Value)> = m.into_iter().collect();
                e.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(e.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
            o => o,
        }
    }
    if body.trim_start().starts_with(['{', '[']) {
        if let Ok(v) = serde_json::from_str::<Value>(body) {
            return sorted(v).to_string();
        }
    }
    let mut parts: Vec<&str> = body.split('&').filter(|p| !p.is_empty()).collect();
    parts.sort_unstable();
    parts.join("&")
}

/// Fills `expect_double_execution` of every repeat from the servers' execution logs: an
/// attempt executed when an execution with its path and canonical body happened after it
/// was sent and before the next identical attempt was sent (a server executes before it
/// answers, and the client re-sends only after the answer or its timeout).
fn relink(intent_jsonl: &str, exec: &[Value]) -> String {
    let mut recs: Vec<Value> = intent_jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let key = |r: &Value| {
        (r["path"].as_str().unwrap_or("").to_string(), canonical_body(r["body"].as_str().unwrap_or("")))
    };
    let mut used = vec![false; exec.len()];
    let mut executed: BTreeMap<i64, bool> = BTreeMap::new();
    for (n, r) in recs.iter().enumerate() {
        if r["role"] != "mutation" {
            continue;
        }
        let k = key(r);
        let sent = r["sent_us"].as_i64().unwrap();
        let next = recs[n + 1..]
            .iter()
            .find(|o| o["role"] == "mutation" && key(o) == k)
            .and_then(|o| o["sent_us"].as_i64());
        let hit = exec.iter().enumerate().find(|(i, e)| {
            let t = e["time_us"].as_i64().unwrap_or(0);
            !used[*i]
                && e["path"].as_str() == Some(k.0.as_str())
                && e["body"].as_str() == Some(k.1.as_str())
                && t >= sent
                && next.is_none_or(|nx| t < nx)
        });
        if let Some((i, _)) = hit {
            used[i] = true;
        }
        executed.insert(r["seq"].as_i64().unwrap(), hit.is_some());
    }
    assert!(used.iter().all(|u| *u), "executions not linked to any attempt: {exec:?}");
    for r in &mut recs {
        if let Some(p) = r["expect_repeat_of"].as_i64() {
            let v = if executed.get(&p).copied().unwrap_or(false) { "yes" } else { "no" };
            r["expect_double_execution"] = Value::from(v);
        }
    }
    recs.iter().map(|r| format!("{r}\n")).collect()
}

// ------------------------------------------------------------------ one scenario

/// One scenario recorded through nginx.
struct Recorded {
    dir: tempfile::TempDir,
    /// The intent log with `expect_double_execution` from the execution logs.
    intent: String,
    /// The servers' executions, in time order.
    exec: Vec<Value>,
}

impl Recorded {
    fn log(&self, fmt: Fmt) -> PathBuf {
        self.dir.path().join(fmt.file())
    }
}

fn record(nginx: &Path, scenario: &str, servers: usize) -> Recorded {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir_all(d.join("tmp")).unwrap();
    let mut procs = Procs::default();
    let upstreams: Vec<String> = (0..servers)
        .map(|i| {
            start_sim(&mut procs, &["--scenario", scenario, "--index", &i.to_string()], d, &format!("sim{i}"))
        })
        .collect();
    let addrs = start_nginx(&mut procs, nginx, d, &upstreams);
    let out = Command::new(common::sim())
        .args(["client", scenario, "--server", &addrs.join(","), "--out"])
        .arg(d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{scenario} clients failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // nginx writes a line when a request ends; stopping it (SIGTERM, wait) puts every line
    // on disk. The servers go too: each execution was logged before its response.
    procs.stop_all();
    let mut exec: Vec<Value> = (0..servers)
        .flat_map(|i| {
            let text = fs::read_to_string(d.join(format!("sim{i}.exec.jsonl"))).unwrap_or_default();
            text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect::<Vec<_>>()
        })
        .collect();
    exec.sort_by_key(|e| e["time_us"].as_i64());
    let raw = fs::read_to_string(d.join(format!("{scenario}.intent.jsonl"))).unwrap();
    let intent = relink(&raw, &exec);
    Recorded { dir, intent, exec }
}

/// Runs `dupcall analyze LOG ARGS… --fingerprint-key nginx`; gives the rows and stderr.
fn analyze(log: &Path, args: &[&str]) -> (Vec<Row>, String) {
    let mut all = vec!["analyze", log.to_str().unwrap(), "--fingerprint-key", "nginx"];
    all.extend_from_slice(args);
    let out = common::dupcall(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "dupcall {all:?}: {stderr}");
    (common::rows(&out.stdout), stderr)
}

/// The result for one (scenario, format).
struct Outcome {
    scenario: &'static str,
    fmt: Fmt,
    rows: usize,
    /// Rows matching the intent (with the log lenience).
    right: usize,
    /// Of those, double_execution=unknown accepted (undecidable / verdict not logged).
    lenient: usize,
    /// Rows showing a listed deviation.
    known: usize,
    /// Rows honestly `ambiguous` because the log cannot show what decides (bodies,
    /// concurrency): neither right nor a false claim.
    ambiguous: usize,
    /// Everything not as stated.
    failures: Vec<String>,
    /// Repeat claims against the intent.
    claims: Claims,
}

/// Checks a report against the intent and the stated deviations.
fn judge(scenario: &'static str, fmt: Fmt, rows: &[Row], intent: &str, powerjob: bool) -> Outcome {
    let checks: Vec<RowCheck> = common::check_rows(rows, intent, Lenience { unknown_when_inferred: true });
    let mut o = Outcome {
        scenario,
        fmt,
        rows: checks.len(),
        right: 0,
        lenient: 0,
        known: 0,
        ambiguous: 0,
        failures: Vec::new(),
        claims: Claims::of(rows, intent),
    };
    if rows.len() != checks.len() {
        o.failures.push(format!(
            "{} report rows for {} intended mutation/auth calls",
            rows.len(),
            checks.len()
        ));
    }
    let status_of: BTreeMap<&str, &str> =
        rows.iter().map(|r| (r["id"].as_str(), r["status"].as_str())).collect();
    for c in &checks {
        // An honest "cannot tell" where the log cannot show the deciding fact.
        let honest = c.got.0 == "ambiguous"
            && c.row.get("evidence").is_some_and(|e| {
                e.contains("may be different calls") || e.contains("two concurrent identical calls")
            });
        if honest && !c.ok {
            o.ambiguous += 1;
            continue;
        }
        let known =
            KNOWN.iter().find(|k| k.scenario == scenario && k.formats.contains(&fmt) && k.seq == c.seq);
        match known {
            Some(k) => {
                let shown = k.got.iter().any(|(l, r, d)| c.got == (l.to_string(), *r, d.to_string()));
                if c.ok && k.may_match {
                    o.right += 1;
                } else if shown && !c.ok {
                    o.known += 1;
                } else {
                    o.failures.push(format!(
                        "listed deviation not shown (fix KNOWN if the logic changed): {} — listed {:?} because {}",
                        c.describe(),
                        k.got,
                        k.why
                    ));
                }
            }
            None if c.ok => {
                o.right += 1;
                o.lenient += usize::from(c.lenient.is_some());
            }
            None => o.failures.push(c.describe()),
        }
        if c.got.1.is_some() {
            let p_status =
                c.row.get("repeat_of").and_then(|id| status_of.get(id.as_str())).copied().unwrap_or("");
            let want = want_confidence(fmt, powerjob, p_status, &c.row);
            if c.row.get("confidence").map(String::as_str) != Some(want) {
                o.failures.push(format!("confidence should be {want}: {}", c.describe()));
            }
        }
    }
    o
}

/// Analyses every log of one recorded scenario and judges the reports.
fn check_scenario(rec: &Recorded, scenario: &'static str) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    let powerjob = !scenario.starts_with("oauth2-");

    // combined: detected; the same with the format named.
    let combined = rec.log(Fmt::Combined);
    let sample = first_lines(&combined, 20);
    let refs: Vec<&str> = sample.iter().map(String::as_str).collect();
    let detected = LogFormat::detect(&refs).map(|(_, name)| name);
    let (rows, _) = analyze(&combined, &["-q"]);
    let mut o = judge(scenario, Fmt::Combined, &rows, &rec.intent, powerjob);
    if detected != Some("combined") {
        o.failures.push(format!("combined log detected as {detected:?}"));
    }
    for named in ["combined", "nginx-combined"] {
        let (again, _) = analyze(&combined, &["-q", "--log-format", named]);
        if again != rows {
            o.failures.push(format!("--log-format {named} gives another report than detection"));
        }
    }
    // combined + $request_time: the end is whole seconds, so only whole seconds of the
    // duration move a request back; the duration can only add evidence (a request still
    // running when its repeat came): judged like combined, and at least as right.
    let (timed, _) = analyze(&rec.dir.path().join("timed.log"), &["-q", "--log-format", TIMED]);
    let t = judge(scenario, Fmt::Combined, &timed, &rec.intent, powerjob);
    if !t.failures.is_empty() || t.right < o.right {
        o.failures.push(format!(
            "combined + $request_time: {} right against combined's {}; {}",
            t.right,
            o.right,
            t.failures.join("; ")
        ));
    }
    outcomes.push(o);

    // rich: without --log-format its layout is inferred from the lines, and the report
    // equals the one its log_format gives.
    let rich = rec.log(Fmt::Rich);
    let (plain, _) = analyze(&rich, &["-q"]);
    let mut rich_failures = Vec::new();
    let parsed = LogFormat::parse_spec(RICH).expect("the rich log_format parses");
    for (n, line) in first_lines(&rich, usize::MAX).iter().enumerate() {
        match parsed.parse_line(line, n as u64 + 1) {
            Ok(r) if r.time_basis == TimeBasis::EndMinusDuration => {}
            other => rich_failures.push(format!("rich line {}: {other:?}", n + 1)),
        }
    }
    let (rich_rows, stderr) = analyze(&rich, &["--log-format", RICH]);
    if !powerjob && !stderr.contains("profile oauth2-bearer") {
        rich_failures.push(format!("OAuth2 traffic should get the oauth2-bearer profile: {stderr}"));
    }
    if plain != rich_rows {
        rich_failures.push("without --log-format the rich log should read as its log_format".to_string());
    }
    let mut o = judge(scenario, Fmt::Rich, &rich_rows, &rec.intent, powerjob);
    o.failures.extend(rich_failures);
    outcomes.push(o);

    // JSON lines: detected, and the same report as the rich log (the same fields).
    let json = rec.log(Fmt::Json);
    let (json_rows, stderr) = analyze(&json, &[]);
    let mut json_failures = Vec::new();
    if !powerjob && !stderr.contains("profile oauth2-bearer") {
        json_failures.push(format!("OAuth2 traffic should get the oauth2-bearer profile: {stderr}"));
    }
    let sample = first_lines(&json, 20);
    let refs: Vec<&str> = sample.iter().map(String::as_str).collect();
    let detected = LogFormat::detect(&refs).map(|(_, name)| name);
    if detected != Some("nginx-json") {
        json_failures.push(format!("JSON log detected as {detected:?}"));
    }
    if common::without_source(&json_rows) != common::without_source(&rich_rows) {
        json_failures.push("the JSON log should give the rich log's report".to_string());
    }
    let mut o = judge(scenario, Fmt::Json, &json_rows, &rec.intent, powerjob);
    o.failures.extend(json_failures);
    outcomes.push(o);
    outcomes
}

fn first_lines(path: &Path, n: usize) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).take(n).map(str::to_string).collect()
}

#[test]
fn nginx_access_logs_get_the_labels_the_log_can_prove() {
    let Some(nginx) = nginx_or_skip() else { return };
    let list = Command::new(common::sim()).arg("list").output().unwrap();
    let listed: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    let mine: Vec<&str> = SCENARIOS.iter().map(|(s, _)| *s).collect();
    assert_eq!(listed, mine, "a scenario was added or renamed: add it to SCENARIOS (and KNOWN if needed)");

    let mut outcomes = Vec::new();
    for &(scenario, servers) in SCENARIOS {
        let rec = record(&nginx, scenario, servers);
        outcomes.extend(check_scenario(&rec, scenario));
    }

    println!(
        "{:<32} {:<9} {:>5} {:>6} {:>8} {:>6} {:>6} {:>7}",
        "scenario", "format", "rows", "right", "lenient", "known", "ambig", "claims"
    );
    let mut totals: BTreeMap<Fmt, (usize, usize, usize)> = BTreeMap::new();
    let mut claims: BTreeMap<Fmt, Claims> = BTreeMap::new();
    let mut failures = Vec::new();
    for o in &outcomes {
        claims.entry(o.fmt).or_default().add(o.claims);
        println!(
            "{:<32} {:<9} {:>5} {:>6} {:>8} {:>6} {:>6} {:>3}/{:<3}{}",
            o.scenario,
            o.fmt.name(),
            o.rows,
            o.right,
            o.lenient,
            o.known,
            o.ambiguous,
            o.claims.claimed_right,
            o.claims.claimed,
            if o.failures.is_empty() { "" } else { "  FAILED" }
        );
        let t = totals.entry(o.fmt).or_default();
        t.0 += o.rows;
        t.1 += o.right;
        t.2 += o.ambiguous;
        if !o.failures.is_empty() {
            failures.push(format!("{} / {}:\n  {}", o.scenario, o.fmt.name(), o.failures.join("\n  ")));
        }
    }
    for (fmt, (rows, right, ambiguous)) in &totals {
        println!(
            "{:<8}: label accuracy {right}/{rows} ({:.0}%); {ambiguous} honestly ambiguous",
            fmt.name(),
            100.0 * *right as f64 / (*rows).max(1) as f64,
        );
    }
    let mut all = Claims::default();
    for (fmt, c) in &claims {
        println!("  nginx    {:<10} {}", fmt.name(), c.describe());
        all.add(*c);
    }
    // Precision first: a false repeat claim sends a user hunting a bug they do not have.
    let precision = all.claimed_right as f64 / all.claimed.max(1) as f64;
    assert!(precision >= 0.95, "claim precision {precision:.3} < 0.95: {}", all.describe());
    println!("rows that differ, by reason:");
    for k in KNOWN {
        println!("  {} seq {} ({:?}): {}", k.scenario, k.seq, k.formats, k.why);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// nginx passes upstream response header names through as the upstream wrote them: the
/// verdict header keeps its case (and a lowercased one stays lowercase), so the PowerJob
/// client behind nginx sees what the server sent.
#[test]
fn nginx_keeps_the_verdict_header_case() {
    let Some(nginx) = nginx_or_skip() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir_all(d.join("tmp")).unwrap();
    let mut procs = Procs::default();
    let upstreams = vec![
        start_sim(&mut procs, &["--mode", "fixed"], d, "fixed"),
        start_sim(&mut procs, &["--mode", "fixed", "--lowercase-header"], d, "lowercase"),
        start_sim(&mut procs, &["--mode", "v5.1.0"], d, "v510"),
    ];
    let proxies = start_nginx(&mut procs, &nginx, d, &upstreams);
    let head = |addr: &str| -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let body = "jobId=1&appId=1";
        write!(
            s,
            "POST /openApi/fetchJob HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split("\r\n\r\n").next().unwrap_or("").to_string()
    };
    let verdict_lines = |h: &str| -> Vec<String> {
        h.lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-powerjob-auth-passed:"))
            .map(str::to_string)
            .collect()
    };
    for (up, proxy) in upstreams.iter().zip(&proxies) {
        let (direct, proxied) = (head(up), head(proxy));
        assert!(proxied.starts_with("HTTP/1.1 200"), "{proxied}");
        assert_eq!(
            verdict_lines(&proxied),
            verdict_lines(&direct),
            "through nginx:\n{proxied}\ndirect:\n{direct}"
        );
    }
    assert_eq!(verdict_lines(&head(&proxies[0])), ["X-POWERJOB-AUTH-PASSED: true"]);
    assert_eq!(verdict_lines(&head(&proxies[1])), ["x-powerjob-auth-passed: true"]);
    assert!(verdict_lines(&head(&proxies[2])).is_empty());
    procs.stop_all();
}

// ------------------------------------------------------------------ samples/logs

/// The access-log samples: (sample name, scenario, format of the recorded log).
const LOG_SAMPLES: &[(&str, &str, Fmt)] = &[
    ("nginx-combined-v5-510-auth-off", "v5-510-auth-off", Fmt::Combined),
    ("nginx-rich-v5-510-auth-off", "v5-510-auth-off", Fmt::Rich),
    ("nginx-combined-v5-expired-token", "v5-expired-token", Fmt::Combined),
    ("nginx-rich-v5-timeout-failover", "v5-timeout-failover", Fmt::Rich),
    ("nginx-json-v5-two-apps", "v5-two-apps", Fmt::Json),
];

/// The rich nginx log converted to Tomcat's `%h %l %u %t "%r" %s %b %D` (Tomcat ≤ 9, `%D`
/// in milliseconds): `%t` is when the response finished, to the second (nginx's `$msec`,
/// truncated), `%D` nginx's `$request_time` in ms, `%b` `-` for an empty body. A real Tomcat
/// behind nginx would log its own (slightly shorter) durations and nginx's address.
fn to_tomcat(rich_log: &str) -> String {
    let f = LogFormat::parse_spec(RICH).unwrap();
    let mut out = String::new();
    for (n, line) in rich_log.lines().enumerate() {
        let r = f.parse_line(line, n as u64 + 1).unwrap();
        let rt = r.request_time.unwrap_or(0.0);
        let end_ns = r.time.0 + (rt * 1e9).round() as i64;
        let end = chrono::DateTime::from_timestamp(end_ns.div_euclid(1_000_000_000), 0).unwrap();
        let bytes = match r.body_bytes {
            Some(0) | None => "-".to_string(),
            Some(b) => b.to_string(),
        };
        out.push_str(&format!(
            "{} - - [{}] \"{} {} HTTP/1.{}\" {} {bytes} {}\n",
            r.remote_addr.map_or("-".to_string(), |a| a.to_string()),
            end.format("%d/%b/%Y:%H:%M:%S +0000"),
            r.method,
            r.uri,
            r.version,
            r.status.unwrap_or(0),
            (rt * 1000.0).round() as i64,
        ));
    }
    out
}

/// Re-records samples/logs/*.log with their intent and execution logs (run on purpose:
/// `cargo test --test nginx_logs -- --ignored record_log_samples`, then
/// `scripts/log-samples-expected.sh` for the expected reports).
#[test]
#[ignore = "writes samples/logs/; run on purpose to re-record the access-log samples"]
fn record_log_samples() {
    let Some(nginx) = nginx_or_skip() else { return };
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/logs");
    fs::create_dir_all(&out).unwrap();
    let mut done: BTreeMap<&str, Recorded> = BTreeMap::new();
    for &(name, scenario, fmt) in LOG_SAMPLES {
        let servers = SCENARIOS.iter().find(|(s, _)| *s == scenario).map_or(1, |(_, n)| *n);
        let rec = done.entry(scenario).or_insert_with(|| record(&nginx, scenario, servers));
        fs::copy(rec.log(fmt), out.join(format!("{name}.log"))).unwrap();
        fs::write(out.join(format!("{name}.intent.jsonl")), &rec.intent).unwrap();
        fs::write(out.join(format!("{name}.exec.jsonl")), exec_text(&rec.exec)).unwrap();
        if name == "nginx-rich-v5-510-auth-off" {
            let tomcat = to_tomcat(&fs::read_to_string(rec.log(fmt)).unwrap());
            fs::write(out.join("tomcat-v5-510-auth-off.log"), tomcat).unwrap();
            fs::write(out.join("tomcat-v5-510-auth-off.intent.jsonl"), &rec.intent).unwrap();
            fs::write(out.join("tomcat-v5-510-auth-off.exec.jsonl"), exec_text(&rec.exec)).unwrap();
        }
        println!("wrote samples/logs/{name}.log");
    }
}

fn exec_text(exec: &[Value]) -> String {
    exec.iter().map(|e| format!("{e}\n")).collect()
}
