//! HTTPS decrypted with key logs, checked against tshark. A real nginx (started by the test
//! on 127.0.0.1 with a self-signed ECDSA and RSA certificate made by `openssl req -x509`)
//! serves TLS 1.2 and 1.3; curl (`--http1.1`, each TLS 1.3 suite via `--tls13-ciphers`,
//! each TLS 1.2 AEAD suite via `--tls-max 1.2 --ciphers`) and Python's `ssl` (with
//! `keylog_filename`) make requests, writing key logs, while tcpdump records `lo`.
//! tshark with `-o tls.keylog_file:` is the answer key: every request and response it
//! decrypts must be found by `dupcall exchanges --keylog`, and nothing more. Then the same
//! capture with the keys injected as a pcapng Decryption Secrets Block (`editcap
//! --inject-secrets`) decrypts with no flag; and no key log, a wrong key log, a key log of
//! another capture and a truncated handshake each give their warning (the `h2` connection is read as HTTP/2),
//! never a `tcp-gap` one. No secret of the key log appears in any output.
//!
//! Needs nginx, openssl, curl, python3, tcpdump, tshark and editcap (CI installs them); the
//! test fails without them unless DUPCALL_SKIP_TLS=1 is set. nginx and tcpdump are stopped
//! by PID when the test ends, also when an assertion fails.

use crate::common;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

type Bag = BTreeMap<String, i64>;

/// Children stopped by PID on drop: SIGTERM/SIGINT first, then kill.
struct Proc(Child, &'static str);

impl Proc {
    fn stop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill").args([&format!("-{}", self.1), &self.0.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

const TOOLS: [&str; 7] = ["nginx", "openssl", "curl", "python3", "tcpdump", "tshark", "editcap"];

fn tools_or_skip() -> bool {
    if std::env::var_os("DUPCALL_SKIP_TLS").is_some_and(|v| v == "1") {
        eprintln!("skipped: DUPCALL_SKIP_TLS=1");
        return false;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for t in TOOLS {
        let found =
            std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin")]).any(|d| d.join(t).is_file());
        assert!(
            found,
            "{t} is needed for this test (CI installs it: .ci/run), or set DUPCALL_SKIP_TLS=1 to skip it"
        );
    }
    true
}

fn sh(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command runs");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Self-signed ECDSA and RSA certificates for `localhost` in `dir`.
fn certificates(dir: &Path) {
    for (name, alg) in [("ec", "ec:prime256v1"), ("rsa", "rsa:2048")] {
        let mut c = Command::new("openssl");
        c.args(["req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-newkey"]);
        if let Some(curve) = alg.strip_prefix("ec:") {
            c.args(["ec", "-pkeyopt", &format!("ec_paramgen_curve:{curve}")]);
        } else {
            c.arg(alg);
        }
        c.arg("-keyout")
            .arg(dir.join(format!("{name}.key")))
            .arg("-out")
            .arg(dir.join(format!("{name}.crt")));
        sh(&mut c);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An OAuth 2.0 API (RFC 6750): `Bearer expired` is rejected with 401 invalid_token, the
/// token endpoint hands out `fresh`. Served on a unix socket behind the TCP servers'
/// `proxy_pass` ([`PROXIED`]), so nginx reads each request body before it answers: a
/// `return` straight from the HTTP/2 server answers while the client is still sending and
/// resets the stream, which curl may report as an error.
const API: &str = r#"location /api/ { default_type application/json;
  if ($http_authorization = "Bearer expired") {
    add_header WWW-Authenticate 'Bearer error="invalid_token"' always; return 401 '{"error":"invalid_token"}'; }
  return 200 '{"ok":true}'; }
location /oauth/token { default_type application/json; return 200 '{"access_token":"fresh","token_type":"Bearer"}'; }
"#;

/// The TCP servers' API locations: to [`API`] on `api.sock` in the test's directory.
const PROXIED: &str = "location /api/ { proxy_pass http://unix:DIR/api.sock; }\n\
                       location /oauth/token { proxy_pass http://unix:DIR/api.sock; }\n";

/// nginx with an HTTP/1.1 TLS server on `ports[0]`, an `http2` one on `ports[1]`, a
/// plaintext one on `ports[2]` and a cleartext HTTP/2 (h2c, prior knowledge) one on
/// `ports[3]`, all serving the same locations.
fn start_nginx(dir: &Path) -> (Proc, [u16; 4]) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(dir.join("body.txt"), "x".repeat(40_000)).unwrap();
    for _ in 0..5 {
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let d = dir.display();
        let server = |port: u16, extra: &str| {
            format!(
                "server {{ listen 127.0.0.1:{port}{extra}; server_name localhost; {}\n\
                 ssl_certificate {d}/ec.crt; ssl_certificate_key {d}/ec.key;\n\
                 ssl_certificate {d}/rsa.crt; ssl_certificate_key {d}/rsa.key;\n\
                 ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets off;\n\
                 ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384;\n\
                 ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256;\n\
                 location / {{ return 200 \"hello $request_uri\\n\"; }}\n\
                 location /body {{ alias {d}/body.txt; }} }}\n",
                PROXIED.replace("DIR", &d.to_string())
            )
        };
        let conf = format!(
            "daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log notice;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n{}{}{}{}\n\
             server {{ listen unix:{d}/api.sock; {API} }} }}\n",
            server(ports[0], " ssl"),
            server(ports[1], " ssl http2"),
            server(ports[2], ""),
            server(ports[3], " http2"),
        );
        fs::write(dir.join("nginx.conf"), conf).unwrap();
        let _ = fs::remove_file(dir.join("nginx.pid"));
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("nginx.stderr")).unwrap())
            .spawn()
            .expect("nginx starts");
        let mut p = Proc(child, "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(p.0.try_wait(), Ok(Some(_))) {
                break;
            }
            let up = ports.iter().all(|port| TcpStream::connect(("127.0.0.1", *port)).is_ok());
            if up && dir.join("nginx.pid").exists() {
                return (p, ports);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        p.stop();
    }
    panic!("nginx did not start: {}", fs::read_to_string(dir.join("error.log")).unwrap_or_default());
}

/// tcpdump on `lo` for `ports`, returned once it is listening.
fn start_tcpdump(pcap: &Path, ports: &[u16]) -> Proc {
    let filter: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    let mut child = Command::new("tcpdump")
        .args(["-i", "lo", "-U", "-s", "0", "-n", "--immediate-mode", "-Z", "root", "-w"])
        .arg(pcap)
        .arg(format!("tcp and ({})", filter.join(" or ")))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump starts");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 && !line.contains("listening on") {
        line.clear();
    }
    assert!(line.contains("listening on"), "tcpdump did not start: {line}");
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    Proc(child, "INT")
}

/// The client runs: curl per suite (two requests on one connection, one a POST), Python's
/// ssl for TLS 1.3 and 1.2, and one curl --http2.
fn traffic(dir: &Path, keys: &Path, port: u16, h2_port: u16) {
    let url = |p: &str| format!("https://localhost:{port}/{p}");
    let curl = |args: &[&str], paths: &[&str]| {
        let mut c = Command::new("curl");
        c.env("SSLKEYLOGFILE", keys).args(["-sSk", "--http1.1", "-o", "/dev/null"]).args(args);
        for p in paths {
            c.arg(url(p));
        }
        sh(&mut c);
    };
    for s in ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"] {
        curl(&["--tlsv1.3", "--tls13-ciphers", s], &[&format!("t13/{s}"), "body"]);
    }
    for s in ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"] {
        curl(&["--tlsv1.2", "--tls-max", "1.2", "--ciphers", s], &[&format!("t12/{s}"), "body"]);
    }
    curl(&["-d", "name=value&n=2"], &["post"]);
    let py = format!(
        "import socket, ssl\n\
         for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):\n\
         \x20   c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE\n\
         \x20   c.keylog_filename = {keys:?}; c.minimum_version = v; c.maximum_version = v\n\
         \x20   s = c.wrap_socket(socket.create_connection(('127.0.0.1', {port})), server_hostname='localhost')\n\
         \x20   s.sendall(b'GET /python/%d HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' % v.value)\n\
         \x20   while s.recv(65536): pass\n\
         \x20   s.close()\n",
        keys = keys.to_str().unwrap()
    );
    sh(Command::new("python3").arg("-c").arg(py).current_dir(dir));
    sh(Command::new("curl")
        .env("SSLKEYLOGFILE", keys)
        .args(["-sSk", "--http2", "-o", "/dev/null"])
        .arg(format!("https://localhost:{h2_port}/h2")));
}

/// tshark's decrypted HTTP/1.x messages, as in tests/integration/corpus.rs.
fn tshark_messages(pcap: &Path, keys: &Path) -> (Bag, Bag) {
    let out = sh(Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(format!("tls.keylog_file:{}", keys.display()))
        .args(["-Y", "http", "-T", "fields", "-E", "separator=/t"])
        .args(["-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "http.request.method"])
        .args(["-e", "http.request.uri", "-e", "http.response.code"]));
    let (mut reqs, mut resps) = (Bag::new(), Bag::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            continue;
        }
        if !f[2].is_empty() {
            *reqs.entry(format!("req {}>{} {} {}", f[0], f[1], f[2], f[3])).or_default() += 1;
        }
        for code in f[4].split(',').filter(|s| !s.is_empty()) {
            *resps.entry(format!("resp {}>{} {code}", f[0], f[1])).or_default() += 1;
        }
    }
    // HTTP/2 (the ALPN h2 connection): one packet may carry several streams' headers.
    let out = sh(Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .arg("-o")
        .arg(format!("tls.keylog_file:{}", keys.display()))
        .args(["-Y", "http2.header", "-T", "fields", "-E", "separator=/t", "-E", "aggregator=|"])
        .args(["-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "http2.headers.method"])
        .args(["-e", "http2.headers.path", "-e", "http2.headers.status"]));
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 {
            continue;
        }
        let paths: Vec<&str> = f[3].split('|').collect();
        for (i, m) in f[2].split('|').filter(|s| !s.is_empty()).enumerate() {
            *reqs.entry(format!("req {}>{} {m} {}", f[0], f[1], paths.get(i).unwrap_or(&""))).or_default() +=
                1;
        }
        for code in f[4].split('|').filter(|s| !s.is_empty()) {
            *resps.entry(format!("resp {}>{} {code}", f[0], f[1])).or_default() += 1;
        }
    }
    (reqs, resps)
}

/// `dupcall ARGS` with no SSLKEYLOGFILE from the environment.
fn dupcall(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_dupcall"))
        .args(args)
        .env_remove("SSLKEYLOGFILE")
        .output()
        .expect("dupcall runs");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn dupcall_messages(csv: &[u8]) -> (Bag, Bag) {
    let mut rdr = csv::Reader::from_reader(csv);
    let h = rdr.headers().unwrap().clone();
    let idx = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (ci, si, mi, ui, st) = (idx("client"), idx("server"), idx("method"), idx("uri"), idx("status"));
    let port = |a: &str| a.rsplit(':').next().unwrap().to_string();
    let (mut reqs, mut resps) = (Bag::new(), Bag::new());
    for r in rdr.records() {
        let r = r.unwrap();
        let (cp, sp) = (port(&r[ci]), port(&r[si]));
        if !r[mi].is_empty() {
            *reqs.entry(format!("req {cp}>{sp} {} {}", &r[mi], &r[ui])).or_default() += 1;
        }
        if !r[st].is_empty() {
            *resps.entry(format!("resp {sp}>{cp} {}", &r[st])).or_default() += 1;
        }
    }
    (reqs, resps)
}

/// Warning lines of a `-v` run, by kind.
fn warnings(stderr: &[u8]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in String::from_utf8_lossy(stderr).lines() {
        if let Some(rest) = l.strip_prefix("dupcall: warning [") {
            let (kind, detail) = rest.split_once(']').unwrap();
            m.entry(kind.to_string()).or_default().push(detail.to_string());
        }
    }
    m
}

/// Every secret (third field) of a key log, in hex.
fn secrets(keys: &Path) -> Vec<String> {
    let text = fs::read_to_string(keys).unwrap();
    text.lines().filter_map(|l| l.split_whitespace().nth(2).map(str::to_lowercase)).collect()
}

fn assert_no_secret(outputs: &[&[u8]], secrets: &[String]) {
    for o in outputs {
        let text = String::from_utf8_lossy(o).to_lowercase();
        for s in secrets {
            // Any 16 hex digits of a secret would be a leak.
            assert!(!text.contains(&s[..16]), "a key-log secret appears in an output");
        }
    }
}

struct Captured {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    pcap: PathBuf,
    keys: PathBuf,
    port: u16,
    h2_port: u16,
}

fn capture() -> Captured {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    certificates(&dir);
    let (mut nginx, [port, h2_port, _, _]) = start_nginx(&dir);
    let (pcap, keys) = (dir.join("https.pcap"), dir.join("keys.txt"));
    let mut dump = start_tcpdump(&pcap, &[port, h2_port]);
    traffic(&dir, &keys, port, h2_port);
    std::thread::sleep(Duration::from_millis(300));
    dump.stop();
    // Traffic the capture did not see: its key log is "a key log of another capture".
    let other = dir.join("other-keys.txt");
    sh(Command::new("curl")
        .env("SSLKEYLOGFILE", &other)
        .args(["-sSk", "--http1.1", "-o", "/dev/null"])
        .arg(format!("https://localhost:{port}/elsewhere")));
    nginx.stop();
    Captured { _dir: tmp, dir, pcap, keys, port, h2_port }
}

#[test]
fn https_decrypts_like_tshark_with_every_key_source_and_warns_otherwise() {
    if !tools_or_skip() {
        return;
    }
    let c = capture();
    let (pcap, keys) = (c.pcap.to_str().unwrap(), c.keys.to_str().unwrap());
    let (treq, tresp) = tshark_messages(&c.pcap, &c.keys);
    // 6 suites × 2 requests, 1 POST, 2 from Python, and the h2 connection's requests.
    let h2_requests: i64 =
        treq.iter().filter(|(k, _)| k.contains(&format!(">{} ", c.h2_port))).map(|(_, n)| n).sum();
    assert!(h2_requests >= 1, "tshark's reading of the h2 connection: {treq:#?}");
    assert_eq!(treq.values().sum::<i64>(), 15 + h2_requests, "tshark's reading: {treq:#?}");
    let out = dupcall(&["exchanges", pcap, "--keylog", keys, "-v"]);
    let (req, resp) = dupcall_messages(&out.stdout);
    let versions = common::rows(&out.stdout).iter().map(|r| r["tls"].clone()).collect::<Vec<_>>();
    let h2_rows: Vec<String> = common::rows(&out.stdout)
        .iter()
        .filter(|r| r["server"].ends_with(&format!(":{}", c.h2_port)))
        .map(|r| format!("{} {} {} {}", r["method"], r["uri"], r["status"], r["complete"]))
        .collect();
    assert_eq!(
        versions.iter().filter(|v| *v == "1.3").count() as i64,
        8 + h2_requests,
        "{versions:?} {h2_rows:?}"
    );
    assert_eq!(versions.iter().filter(|v| *v == "1.2").count(), 7, "{versions:?}");
    // The protocol and stream columns: h2 (HTTP/2 over TLS) with odd client stream ids on
    // the http2 port, HTTP/1.1 without a stream elsewhere.
    for r in common::rows(&out.stdout) {
        let h2 = r["server"].ends_with(&format!(":{}", c.h2_port));
        assert_eq!(r["protocol"], if h2 { "h2" } else { "http/1.1" }, "{r:?}");
        assert_eq!(r["stream"].is_empty(), !h2, "{r:?}");
        assert!(!h2 || r["stream"].parse::<u32>().is_ok_and(|n| n % 2 == 1), "{r:?}");
    }
    assert_eq!(req, treq, "requests: dupcall vs tshark");
    assert_eq!(resp, tresp, "responses: dupcall vs tshark");
    let w = warnings(&out.stderr);
    assert!(!w.contains_key("tcp-gap"), "{w:#?}");
    assert!(!w.contains_key("tls-not-decrypted"), "{w:#?}");
    // HTTP/2 over TLS is parsed (src/h2): nothing is left unread.
    assert!(!w.contains_key("tls-unparsed"), "{w:#?}");
    let secrets = secrets(&c.keys);
    assert!(secrets.len() >= 10);
    assert_no_secret(&[&out.stdout, &out.stderr], &secrets);

    // The keys inside the capture (a Decryption Secrets Block): no flag needed.
    let ng = c.dir.join("https-dsb.pcapng");
    sh(Command::new("editcap").arg("--inject-secrets").arg(format!("tls,{keys}")).arg(&c.pcap).arg(&ng));
    let out = dupcall(&["exchanges", ng.to_str().unwrap(), "-v"]);
    assert_eq!(dupcall_messages(&out.stdout), (treq.clone(), tresp.clone()), "with the DSB");
    assert_no_secret(&[&out.stdout, &out.stderr], &secrets);
    // SSLKEYLOGFILE works like --keylog.
    let env = Command::new(env!("CARGO_BIN_EXE_dupcall"))
        .args(["exchanges", pcap])
        .env("SSLKEYLOGFILE", keys)
        .output()
        .unwrap();
    assert_eq!(dupcall_messages(&env.stdout).0, treq, "with SSLKEYLOGFILE");

    // The analyze report says how many connections were decrypted.
    let md = c.dir.join("report.md");
    let out = dupcall(&["analyze", pcap, "--keylog", keys, "--all", "-q", "-o", md.to_str().unwrap()]);
    let report = fs::read_to_string(&md).unwrap();
    assert!(report.contains("10 of 10 TLS connections decrypted with a key log"), "{report}");
    assert_no_secret(&[report.as_bytes(), &out.stderr], &secrets);

    undecryptable(&c, &secrets);
}

/// No key log, a wrong one, one of another capture, a truncated handshake.
fn undecryptable(c: &Captured, secrets: &[String]) {
    let pcap = c.pcap.to_str().unwrap();
    let server = format!("localhost:{}", c.port);
    let out = dupcall(&["exchanges", pcap, "-v"]);
    assert_eq!(dupcall_messages(&out.stdout).0.len(), 0);
    let w = warnings(&out.stderr);
    assert!(!w.contains_key("tcp-gap"), "{w:#?}");
    assert_eq!(w["tls-not-decrypted"].len(), 10, "{w:#?}");
    assert!(w["tls-not-decrypted"].iter().all(|d| d.contains(&server) || d.contains(&c.h2_port.to_string())));
    let summary = &w["tls-summary"];
    assert!(
        summary.iter().any(|s| s.contains(&format!(
            "9 TLS connections to {server} (127.0.0.1) could not be decrypted: pass --keylog"
        ))),
        "{summary:?}"
    );

    // A wrong key log: the right client randoms, other secrets.
    let wrong = c.dir.join("wrong-keys.txt");
    let text: String = fs::read_to_string(&c.keys)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let flipped: String = f[2].chars().map(|ch| if ch == '0' { '1' } else { '0' }).collect();
            format!("{} {} {flipped}\n", f[0], f[1])
        })
        .collect();
    fs::write(&wrong, text + "this is not a key log line\n").unwrap();
    let out = dupcall(&["exchanges", pcap, "--keylog", wrong.to_str().unwrap(), "-v"]);
    let w = warnings(&out.stderr);
    assert_eq!(dupcall_messages(&out.stdout).0.len(), 0);
    assert!(w["tls-not-decrypted"].iter().filter(|d| d.contains("do not decrypt")).count() >= 9, "{w:#?}");
    let lines = fs::read_to_string(&wrong).unwrap().lines().count();
    assert!(w["key-log"][0].contains(&format!("1 malformed line(s) skipped (line {lines})")), "{w:#?}");
    assert!(!w.contains_key("tcp-gap"), "{w:#?}");
    assert_no_secret(&[&out.stdout, &out.stderr], secrets);

    // A key log of another capture.
    let other = c.dir.join("other-keys.txt");
    let out = dupcall(&["exchanges", pcap, "--keylog", other.to_str().unwrap(), "-v"]);
    let w = warnings(&out.stderr);
    assert!(
        w["tls-not-decrypted"]
            .iter()
            .all(|d| d.contains("no key for its client random") && d.contains("another capture")),
        "{w:#?}"
    );

    // A truncated handshake: the first connection's SYN, SYN-ACK, ACK and ClientHello only.
    let cut = c.dir.join("cut.pcap");
    sh(Command::new("editcap").args(["-r"]).arg(&c.pcap).arg(&cut).arg("1-4"));
    let out = dupcall(&["exchanges", cut.to_str().unwrap(), "--keylog", c.keys.to_str().unwrap(), "-v"]);
    let w = warnings(&out.stderr);
    assert!(w["tls-not-decrypted"][0].contains("handshake is incomplete"), "{w:#?}");
}

/// How the API calls go out: `flags` for curl (`--http1.1`, `--http2`,
/// `--http2-prior-knowledge`), one curl per call (a connection each) or one curl for all
/// (`--next`: curl keeps its connection, so the 401, the token fetch and the replay share one
/// HTTP/2 connection).
#[derive(Clone, Copy)]
struct Client {
    flags: &'static [&'static str],
    one_connection: bool,
}

/// The same client calls over HTTPS and over plaintext: a call rejected with 401
/// invalid_token, a token fetch and the replay, then a call sent twice.
fn api_calls(keys: &Path, base: &str, client: Client) {
    let calls = [
        ("expired", "/api/orders", r#"{"item":1}"#),
        ("none", "/oauth/token", "grant_type=client_credentials&client_id=app1"),
        ("fresh", "/api/orders", r#"{"item":1}"#),
        ("fresh", "/api/orders", r#"{"item":2}"#),
        ("fresh", "/api/orders", r#"{"item":2}"#),
    ];
    let args = |c: &mut Command, (auth, path, body): (&str, &str, &str)| {
        c.args(["-sSk", "-o", "/dev/null"]).args(client.flags).args([
            "-H",
            &format!("Authorization: Bearer {auth}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
            &format!("{base}{path}"),
        ]);
    };
    if client.one_connection {
        let mut c = Command::new("curl");
        c.env("SSLKEYLOGFILE", keys);
        for (i, call) in calls.into_iter().enumerate() {
            if i > 0 {
                c.arg("--next");
            }
            args(&mut c, call);
        }
        sh(&mut c);
        return;
    }
    for call in calls {
        let mut c = Command::new("curl");
        c.env("SSLKEYLOGFILE", keys);
        args(&mut c, call);
        sh(&mut c);
    }
}

/// (method, path, status, label) of every row of `analyze --all`, and the rows' `server`
/// cells.
fn labels(pcap: &Path, keys: Option<&Path>) -> (Vec<String>, Vec<String>) {
    let mut args = vec!["analyze", pcap.to_str().unwrap(), "--profile", "oauth2-bearer", "--all", "-q"];
    if let Some(k) = keys {
        args.extend(["--keylog", k.to_str().unwrap()]);
    }
    let out = dupcall(&args);
    let rows = common::rows(&out.stdout);
    let labels = rows
        .iter()
        .map(|r| format!("{} {} {} {}", r["method"], r["path"], r["status"], r["label"]))
        .collect();
    (labels, rows.iter().map(|r| r["server"].clone()).collect())
}

/// `(protocol, conn)` of every exchange in `pcap`.
fn protocols(pcap: &Path, keys: &Path) -> Vec<(String, String)> {
    let out = dupcall(&["exchanges", pcap.to_str().unwrap(), "--keylog", keys.to_str().unwrap()]);
    common::rows(&out.stdout).iter().map(|r| (r["protocol"].clone(), r["conn"].clone())).collect()
}

#[test]
fn https_calls_get_the_labels_of_the_same_calls_in_plaintext() {
    if !tools_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    certificates(dir);
    let (mut nginx, [tls_port, h2_port, plain_port, h2c_port]) = start_nginx(dir);
    let keys = dir.join("keys.txt");
    let (h1, h2, h2c) = (&["--http1.1"][..], &["--http2"][..], &["--http2-prior-knowledge"][..]);
    let each = |flags| Client { flags, one_connection: false };
    let runs: Vec<(&str, String, Client)> = vec![
        ("https", format!("https://localhost:{tls_port}"), each(h1)),
        ("http", format!("http://127.0.0.1:{plain_port}"), each(h1)),
        ("h2", format!("https://localhost:{h2_port}"), each(h2)),
        ("h2c", format!("http://127.0.0.1:{h2c_port}"), each(h2c)),
        ("h2-one-conn", format!("https://localhost:{h2_port}"), Client { flags: h2, one_connection: true }),
    ];
    let mut pcaps = Vec::new();
    for (name, base, client) in &runs {
        let pcap = dir.join(format!("{name}.pcap"));
        let mut dump = start_tcpdump(&pcap, &[tls_port, h2_port, plain_port, h2c_port]);
        api_calls(&keys, base, *client);
        std::thread::sleep(Duration::from_millis(300));
        dump.stop();
        pcaps.push(pcap);
    }
    nginx.stop();
    let want = [
        "POST /api/orders 401 original",
        "POST /oauth/token 200 auth",
        "POST /api/orders 200 auto-refresh-retry",
        "POST /api/orders 200 original",
        "POST /api/orders 200 genuine-duplicate",
    ];
    let (http, http_servers) = labels(&pcaps[1], None);
    assert_eq!(http, want);
    assert!(http_servers.iter().all(|s| s == &format!("127.0.0.1:{plain_port}")), "{http_servers:?}");
    for (i, (name, _, _)) in runs.iter().enumerate().filter(|(i, _)| *i != 1) {
        let (got, servers) = labels(&pcaps[i], Some(&keys));
        assert_eq!(got, http, "{name} rows vs the same calls in plaintext HTTP/1.1");
        // A decrypted exchange's server is named https://.
        let tls = !name.starts_with("h2c");
        assert!(servers.iter().all(|s| s.starts_with("https://") == tls), "{name}: {servers:?}");
    }
    // The exchanges say how each went: protocol per run, and one connection for all five
    // calls (the 401, the token fetch and the replay) in the last run.
    let expect = ["http/1.1", "http/1.1", "h2", "h2c", "h2"];
    for (i, want) in expect.iter().enumerate() {
        let p = protocols(&pcaps[i], &keys);
        assert_eq!(p.len(), 5, "{}: {p:?}", runs[i].0);
        assert!(p.iter().all(|(proto, _)| proto == want), "{}: {p:?}", runs[i].0);
        let conns: std::collections::BTreeSet<&String> = p.iter().map(|(_, c)| c).collect();
        assert_eq!(conns.len(), if i == 4 { 1 } else { 5 }, "{}: {p:?}", runs[i].0);
    }
    // Without the key log: no rows, and the warning says why.
    assert!(labels(&pcaps[0], None).0.is_empty());
}
