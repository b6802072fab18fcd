//! The connection facts (`Exchange::wire`) on REAL loopback traffic: a small Python
//! `http.server` on 127.0.0.1 that answers late or closes without answering, real clients
//! with their own timeout and retry logic (curl `--max-time`, urllib3 with its default
//! retries), recorded by tcpdump on `lo`, read back by dupcall's capture pipeline.
//! Needs tcpdump, python3 with urllib3 and curl; DUPCALL_SKIP_LIVE=1 skips on purpose.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dupcall::capture::pipeline::{self, Options};
use dupcall::diag::{Diagnostics, WarningKind};
use dupcall::exchange::{Exchange, Flags};

/// Answers `POST /slow` after 1.5 s; `GET /ok` at once (keep-alive); the first `GET /drop`
/// by closing the connection without a response, later ones with 200.
const SERVER: &str = r#"
import http.server, socketserver, sys, time, threading
drops = [0]
lock = threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def answer(self):
        body = b'{"success":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(1.5)
        try:
            self.answer()
        except OSError:
            pass
    def do_GET(self):
        if self.path == "/drop":
            with lock:
                drops[0] += 1
                first = drops[0] == 1
            if first:
                self.close_connection = True
                return
        self.answer()
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// urllib3 with its default `Retry(3)`: the dropped GET is re-sent on a new connection.
const URLLIB3: &str = r#"
import sys, urllib3
base = sys.argv[1]
http = urllib3.PoolManager()
assert http.request("GET", base + "/ok").status == 200
assert http.request("GET", base + "/drop").status == 200
"#;

fn tools() -> Result<(), String> {
    if std::env::var_os("DUPCALL_SKIP_LIVE").is_some() {
        return Err("DUPCALL_SKIP_LIVE is set".into());
    }
    for (tool, arg) in [("tcpdump", "--version"), ("curl", "--version"), ("python3", "--version")] {
        let ok = Command::new(tool).arg(arg).output().is_ok_and(|o| o.status.success());
        assert!(ok, "{tool} is needed for this test (CI installs it), or set DUPCALL_SKIP_LIVE=1");
    }
    let urllib3 = Command::new("python3").args(["-c", "import urllib3"]).output();
    assert!(
        urllib3.is_ok_and(|o| o.status.success()),
        "python3 with urllib3 is needed (apt-get install python3-urllib3), or set DUPCALL_SKIP_LIVE=1"
    );
    Ok(())
}

/// A child process stopped (by its PID) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Proc, u16) {
    let mut child = Command::new("python3")
        .args(["-c", SERVER])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| panic!("server printed {line:?}"));
    (Proc(child), port)
}

/// tcpdump on `lo` for `port`, returned once it says it is listening.
fn start_tcpdump(path: &Path, port: u16) -> Proc {
    let mut child = Command::new("tcpdump")
        .args(["-i", "lo", "-U", "-s", "0", "-n", "--immediate-mode", "-Z", "root", "-w"])
        .arg(path)
        .arg(format!("tcp port {port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut line = String::new();
    while !line.contains("listening on") {
        line.clear();
        let n = err.read_line(&mut line).unwrap();
        assert!(n > 0 && Instant::now() < deadline, "tcpdump did not start: {line}");
    }
    std::thread::sleep(Duration::from_millis(100));
    Proc(child)
}

/// Stops tcpdump with SIGINT (so it flushes) and waits for it.
fn stop_tcpdump(mut p: Proc) {
    std::thread::sleep(Duration::from_millis(300));
    let pid = p.0.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let _ = p.0.wait();
}

fn exchanges(path: &Path) -> (Vec<Exchange>, Diagnostics) {
    let opened = dupcall::input::open(path.to_str().unwrap()).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let mut diag = Diagnostics::default();
    pipeline::capture_exchanges(opened.reader, 0, &Options::default(), &mut diag, &mut |e| out.push(e))
        .unwrap_or_else(|e| panic!("{e}"));
    (out, diag)
}

fn uri(e: &Exchange) -> &str {
    e.request.as_ref().map_or("", |r| r.head.uri())
}

const GAP_BITS: u16 = Flags::REQUEST_GAP | Flags::RESPONSE_GAP | Flags::PAIRING_UNCERTAIN;

#[test]
fn real_client_timeout_and_real_silent_resend() {
    if let Err(why) = tools() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("wire.pcap");
    let (_server, port) = start_server();
    let base = format!("http://127.0.0.1:{port}");
    let dump = start_tcpdump(&pcap, port);

    // curl gives up after 0.5 s; the server answers at 1.5 s.
    let curl = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "0.5", "-d", "jobId=7", &format!("{base}/slow")])
        .status()
        .unwrap();
    assert_eq!(curl.code(), Some(28), "curl timed out");
    std::thread::sleep(Duration::from_millis(1500));
    // urllib3 re-sends the dropped GET on a new connection by itself.
    let py = Command::new("python3").args(["-c", URLLIB3, &base]).output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    stop_tcpdump(dump);

    let (exs, diag) = exchanges(&pcap);
    assert_eq!(diag.count_of(WarningKind::TcpGap), 0, "no gap on loopback: {:?}", diag.kept());
    let summary: Vec<String> = exs
        .iter()
        .map(|e| format!("{} {} {:?} {:?}", uri(e), e.flags.describe(), e.status(), e.wire))
        .collect();
    let summary = summary.join("\n");
    println!("{summary}");
    assert_eq!(exs.len(), 4, "{summary}");
    for e in &exs {
        assert_eq!(e.flags.0 & GAP_BITS, 0, "no hole on loopback, so no gap: {summary}");
    }

    // The timeout: the late 200 is paired with the POST, the client's close came first.
    let slow = &exs[0];
    assert_eq!(uri(slow), "/slow", "{summary}");
    assert_eq!(slow.status(), Some(200), "the late response is kept: {summary}");
    let sent = slow.request.as_ref().unwrap().ts;
    let gave_up = slow.wire.client_closed.expect("the client closed").at;
    let answered = slow.response.as_ref().unwrap().ts;
    let waited = gave_up.millis_since(sent);
    assert!((400.0..900.0).contains(&waited), "curl --max-time 0.5 gave up after {waited} ms");
    let late = answered.millis_since(gave_up);
    assert!((500.0..1300.0).contains(&late), "the response came {late} ms after the client gave up");
    assert_eq!(slow.wire.server_closed, None, "{summary}");
    assert_eq!(slow.wire.nth, 1);
    assert!(!slow.wire.capture_ended);

    // urllib3: answered on a keep-alive connection, the second call dropped by the server,
    // re-sent on a new connection within milliseconds.
    let (ok, dropped, resent) = (&exs[1], &exs[2], &exs[3]);
    assert_eq!((uri(ok), uri(dropped), uri(resent)), ("/ok", "/drop", "/drop"), "{summary}");
    assert_eq!(ok.wire.nth, 1);
    assert_eq!(ok.wire.server_closed, None, "answered, then the connection was closed: {summary}");
    assert_eq!(dropped.conn, ok.conn, "the dropped call went out on the reused connection");
    assert_eq!(dropped.wire.nth, 2, "{summary}");
    assert!(dropped.flags.has(Flags::NO_RESPONSE));
    let close = dropped.wire.server_closed.expect("the server closed without answering");
    assert!(!close.rst, "Python's server closes with FIN: {summary}");
    assert!(!dropped.wire.capture_ended);
    assert_ne!(resent.conn, dropped.conn);
    assert_eq!(resent.wire.nth, 1);
    assert_eq!(resent.status(), Some(200));
    let resend = resent.request.as_ref().unwrap().ts.millis_since(close.at);
    assert!((0.0..200.0).contains(&resend), "urllib3 re-sent {resend} ms after the server's FIN");
}
