//! Simulated servers: a PowerJob-OpenAPI-shaped server (modes `v5.1.0`, `fixed`, `v4`) and a
//! generic OAuth2 bearer API (mode `oauth2`), one thread per connection, HTTP/1.1 keep-alive.
//!
//! PowerJob behaviour follows `OpenApiInterceptor` (see research/powerjob-protocol.md):
//! - `v5.1.0` with auth off returns no `X-POWERJOB-AUTH-PASSED` header at all (the bug);
//! - `fixed` (5.1.0-bugfix / 5.1.1) with auth off sets `true` first;
//! - with auth on, `/assert` and `/authApp` skip the check without a header, a valid token gets
//!   `true`, a bad one gets HTTP 200 + `false` + a JSON error body and the controller never runs;
//! - `v4` has no interceptor and no `/authApp`.
//!
//! Every time a mutation's controller actually runs, an [`ExecRecord`] goes to the shared
//! execution log (and to a JSONL file when one is given). Servers of one scenario share a
//! [`Db`], like a cluster sharing one database: ids are unique across them and a token issued
//! by one is valid on the others.

use crate::http::{self, Headers, Request, Response};
use crate::jwt::{self, JwtError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// PowerJob OpenAPI calls with a side effect (docs/powerjob.md).
pub const MUTATIONS: &[&str] = &[
    "saveJob",
    "copyJob",
    "disableJob",
    "enableJob",
    "deleteJob",
    "runJob",
    "stopInstance",
    "cancelInstance",
    "retryInstance",
    "saveWorkflow",
    "addWorkflowNode",
    "copyWorkflow",
    "disableWorkflow",
    "enableWorkflow",
    "deleteWorkflow",
    "runWorkflow",
    "stopWfInstance",
    "retryWfInstance",
    "markWorkflowNodeAsSuccess",
];

/// PowerJob OpenAPI calls without one (all of them are `POST` too).
pub const READS: &[&str] = &[
    "fetchJob",
    "fetchAllJob",
    "queryJob",
    "exportJob",
    "fetchInstanceStatus",
    "fetchInstanceInfo",
    "queryInstance",
    "fetchWorkflow",
    "fetchWfInstanceInfo",
];

/// The verdict header the v5 client looks for.
pub const AUTH_PASSED: &str = "X-POWERJOB-AUTH-PASSED";

/// Which server is simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// PowerJob 5.1.0: no verdict header when auth is off.
    V510,
    /// PowerJob 5.1.0-bugfix / 5.1.1: header `true` when auth is off.
    Fixed,
    /// PowerJob 4.3.x: `/assert` only, no tokens, no header.
    V4,
    /// A generic OAuth2 bearer API (`/oauth/token`, `/api/...`).
    OAuth2,
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "v5.1.0" | "5.1.0" | "v510" => Ok(Mode::V510),
            "fixed" | "v5.1.1" | "5.1.1" | "v5.1.0-bugfix" | "5.1.0-bugfix" => Ok(Mode::Fixed),
            "v4" | "v4.3" | "4.3" => Ok(Mode::V4),
            "oauth2" | "oauth2-bearer" => Ok(Mode::OAuth2),
            other => Err(format!("unknown server mode {other:?} (expected v5.1.0, fixed, v4 or oauth2)")),
        }
    }
}

/// Make the Nth controller call of a path fail with an HTTP error.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Request path, e.g. `/openApi/runJob`.
    pub path: String,
    /// 1-based count of controller calls on that path.
    pub nth: u32,
    /// Status to answer (500, 503, ...).
    pub status: u16,
    /// Whether the controller ran (and its side effect happened) before the failure.
    pub after_exec: bool,
}

/// How one simulated server behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Name in the execution log.
    pub name: String,
    /// Which server.
    pub mode: Mode,
    /// `oms.auth.openapi.enable` (ignored by `v4`; always on for `oauth2`).
    pub auth: bool,
    /// Token lifetime in milliseconds (default 7 days, as `oms.auth.security.jwt.expire-seconds`).
    pub token_ttl_ms: u64,
    /// Lowercase every response header name (a proxy or HTTP/2 hop, PowerJob issue #1062).
    pub lowercase_header: bool,
    /// Per-path response delays in ms: the controller runs, then the response is held back.
    pub slow: Vec<(String, u64)>,
    /// Injected HTTP errors.
    pub faults: Vec<Fault>,
}

impl ServerConfig {
    /// Defaults: auth off, 7-day tokens, no faults.
    pub fn new(name: &str, mode: Mode) -> Self {
        ServerConfig {
            name: name.to_string(),
            mode,
            auth: mode == Mode::OAuth2,
            token_ttl_ms: 604_800_000,
            lowercase_header: false,
            slow: Vec::new(),
            faults: Vec::new(),
        }
    }

    /// Sets `oms.auth.openapi.enable`.
    pub fn auth(mut self, on: bool) -> Self {
        self.auth = on;
        self
    }

    /// Sets the token lifetime.
    pub fn ttl_ms(mut self, ms: u64) -> Self {
        self.token_ttl_ms = ms;
        self
    }

    /// Lowercases response header names.
    pub fn lowercase(mut self) -> Self {
        self.lowercase_header = true;
        self
    }

    /// Delays responses on `path` by `ms`.
    pub fn slow(mut self, path: &str, ms: u64) -> Self {
        self.slow.push((path.to_string(), ms));
        self
    }

    /// Fails the `nth` controller call on `path` with `status`.
    pub fn fault(mut self, path: &str, nth: u32, status: u16, after_exec: bool) -> Self {
        self.faults.push(Fault { path: path.to_string(), nth, status, after_exec });
        self
    }
}

/// One line of `NAME.exec.jsonl`: a mutation's controller ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecRecord {
    /// When, Unix microseconds.
    pub time_us: i64,
    /// Server name.
    pub server: String,
    /// Server address `ip:port`.
    pub addr: String,
    /// Request path.
    pub path: String,
    /// Canonical body (form sorted, JSON with sorted keys).
    pub body: String,
    /// The id the call produced (job id, instance id, ...), or null.
    pub result: Value,
    /// The client's address as the server saw it.
    pub peer: String,
    /// 1-based index of the request on its connection.
    pub conn_req: u64,
}

/// A registered PowerJob application.
#[derive(Debug, Clone, Copy)]
pub struct App {
    /// appId.
    pub id: i64,
    /// appName.
    pub name: &'static str,
    /// Password (test data of the simulator).
    pub password: &'static str,
}

/// The applications every simulated PowerJob server knows.
pub const APPS: &[App] = &[
    App { id: 1, name: "order-service", password: "pw-order-2024" },
    App { id: 2, name: "billing-service", password: "pw-billing-2024" },
];

/// OAuth2 clients (`client_id`, `client_secret`) the simulated API knows.
pub const OAUTH_CLIENTS: &[(&str, &str)] =
    &[("order-service", "cs-order-2024"), ("billing-service", "cs-billing-2024")];

#[derive(Debug)]
struct Ids {
    job: i64,
    instance: i64,
    workflow: i64,
    wf_instance: i64,
    node: i64,
    order: i64,
}

/// State shared by the servers of one scenario: the "database".
#[derive(Debug)]
pub struct Db {
    secret: Vec<u8>,
    ids: Mutex<Ids>,
    exec: Mutex<Vec<ExecRecord>>,
    exec_file: Mutex<Option<File>>,
    idempotency: Mutex<HashMap<String, (u16, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Db {
    /// A fresh database; executions are also appended to `exec_file` when given.
    pub fn new(exec_file: Option<File>) -> Self {
        Db {
            // DefaultSecretProvider: md5 of the JDBC URL.
            secret: crate::md5::hex(b"jdbc:mysql://127.0.0.1:3306/powerjob-daily").into_bytes(),
            ids: Mutex::new(Ids {
                job: 100,
                instance: 710_000_000_000,
                workflow: 300,
                wf_instance: 720_000_000_000,
                node: 400,
                order: 5000,
            }),
            exec: Mutex::new(Vec::new()),
            exec_file: Mutex::new(exec_file),
            idempotency: Mutex::new(HashMap::new()),
        }
    }

    /// The execution log so far, in time order.
    pub fn exec_records(&self) -> Vec<ExecRecord> {
        let mut v = lock(&self.exec).clone();
        v.sort_by_key(|r| r.time_us);
        v
    }

    fn record(&self, rec: ExecRecord) {
        if let Some(f) = lock(&self.exec_file).as_mut() {
            if let Ok(line) = serde_json::to_string(&rec) {
                // The log file is best effort; the in-memory log is authoritative.
                let _ = writeln!(f, "{line}").and_then(|_| f.flush());
            }
        }
        lock(&self.exec).push(rec);
    }
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct ServerHandle {
    /// Bound address.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    inflight: Arc<AtomicUsize>,
    accept: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// Waits until no request is being processed (e.g. a slow response is still pending),
    /// at most `timeout`. Returns whether it became idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if self.inflight.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops accepting, closes idle connections and joins every thread of this server.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Server {
    cfg: ServerConfig,
    db: Arc<Db>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    inflight: Arc<AtomicUsize>,
    calls: Mutex<HashMap<String, u32>>,
}

/// Binds `listen` and serves until the handle is stopped or dropped.
pub fn start(cfg: ServerConfig, listen: SocketAddr, db: Arc<Db>) -> io::Result<ServerHandle> {
    let listener = TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let inflight = Arc::new(AtomicUsize::new(0));
    let server = Arc::new(Server {
        cfg,
        db,
        addr,
        stop: stop.clone(),
        inflight: inflight.clone(),
        calls: Mutex::new(HashMap::new()),
    });
    let accept = thread::Builder::new()
        .name(format!("accept-{addr}"))
        .spawn(move || accept_loop(&listener, &server))?;
    Ok(ServerHandle { addr, stop, inflight, accept: Some(accept) })
}

fn accept_loop(listener: &TcpListener, server: &Arc<Server>) {
    let mut conns: Vec<JoinHandle<()>> = Vec::new();
    while !server.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let s = server.clone();
                match thread::Builder::new()
                    .name(format!("conn-{peer}"))
                    .spawn(move || s.serve_connection(stream, peer))
                {
                    Ok(h) => conns.push(h),
                    Err(e) => eprintln!("powerjob-sim: cannot start a connection thread: {e}"),
                }
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
        let (done, running): (Vec<_>, Vec<_>) = conns.drain(..).partition(|h| h.is_finished());
        for h in done {
            let _ = h.join();
        }
        conns = running;
    }
    for h in conns {
        let _ = h.join();
    }
}

/// Idle keep-alive connections are closed after this long (Tomcat's default is 60 s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Server {
    fn serve_connection(&self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_nodelay(true);
        let Ok(read_half) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(read_half);
        let mut writer = stream;
        let mut conn_req = 0u64;
        loop {
            // Wait for the next request's first byte, watching the stop flag.
            let _ = writer.set_read_timeout(Some(Duration::from_millis(100)));
            let idle_since = Instant::now();
            loop {
                match reader.fill_buf() {
                    Ok([]) => return,
                    Ok(_) => break,
                    Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                        if self.stop.load(Ordering::SeqCst) || idle_since.elapsed() > IDLE_TIMEOUT {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
            let _ = writer.set_read_timeout(Some(Duration::from_secs(10)));
            let req = match http::read_request(&mut reader) {
                Ok(Some(r)) => r,
                Ok(None) => return,
                Err(e) => {
                    let body = format!("{{\"error\":{}}}", js(&e.to_string()));
                    let resp = self.respond(400, Vec::new(), "application/json", body, false);
                    let _ = http::write_all(&mut writer, &resp.to_bytes());
                    return;
                }
            };
            conn_req += 1;
            self.inflight.fetch_add(1, Ordering::SeqCst);
            let keep_alive = req.keep_alive();
            let (resp, delay) = self.handle(&req, peer, conn_req, keep_alive);
            if delay > 0 {
                self.sleep_unless_stopped(Duration::from_millis(delay));
            }
            let written = http::write_all(&mut writer, &resp.to_bytes());
            self.inflight.fetch_sub(1, Ordering::SeqCst);
            if written.is_err() || !keep_alive {
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    }

    fn sleep_unless_stopped(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && !self.stop.load(Ordering::SeqCst) {
            thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
        }
    }

    /// Builds a response the way Tomcat (PowerJob) or a generic API server frames it.
    fn respond(
        &self,
        status: u16,
        extra: Vec<(&str, String)>,
        content_type: &str,
        body: String,
        keep_alive: bool,
    ) -> Response {
        let tomcat = self.cfg.mode != Mode::OAuth2;
        let mut headers = Headers::default();
        for (n, v) in extra {
            headers.push(n, &v);
        }
        headers.push("Content-Type", content_type);
        headers.push("Content-Length", &body.len().to_string());
        headers.push("Date", &http::http_date());
        if !keep_alive {
            headers.push("Connection", "close");
        } else if tomcat {
            headers.push("Keep-Alive", "timeout=60");
            headers.push("Connection", "keep-alive");
        }
        if self.cfg.lowercase_header {
            for (n, _) in &mut headers.0 {
                *n = n.to_ascii_lowercase();
            }
        }
        Response {
            status,
            // Tomcat 8.5+ sends no reason phrase.
            reason: if tomcat { String::new() } else { reason_phrase(status).to_string() },
            headers,
            body: body.into_bytes(),
        }
    }

    fn spring_error(&self, status: u16, path: &str, keep_alive: bool) -> Response {
        let body = format!(
            "{{\"timestamp\":\"{}\",\"status\":{status},\"error\":\"{}\",\"path\":{}}}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f+00:00"),
            reason_phrase(status),
            js(path)
        );
        self.respond(status, Vec::new(), "application/json", body, keep_alive)
    }

    fn delay_for(&self, path: &str) -> u64 {
        self.cfg.slow.iter().filter(|(p, _)| p == path).map(|(_, ms)| *ms).sum()
    }

    fn handle(&self, req: &Request, peer: SocketAddr, conn_req: u64, keep_alive: bool) -> (Response, u64) {
        let resp = match self.cfg.mode {
            Mode::OAuth2 => self.handle_oauth2(req, peer, conn_req, keep_alive),
            _ => self.handle_powerjob(req, peer, conn_req, keep_alive),
        };
        let delay = self.delay_for(req.path());
        (resp, delay)
    }

    /// Counts a controller call on `path` and returns the fault planned for it, if any.
    fn next_fault(&self, path: &str) -> Option<Fault> {
        let mut calls = lock(&self.calls);
        let n = calls.entry(path.to_string()).or_insert(0);
        *n += 1;
        let n = *n;
        self.cfg.faults.iter().find(|f| f.path == path && f.nth == n).cloned()
    }

    fn record_exec(&self, req: &Request, peer: SocketAddr, conn_req: u64, result: Value) {
        self.db.record(ExecRecord {
            time_us: chrono::Utc::now().timestamp_micros(),
            server: self.cfg.name.clone(),
            addr: self.addr.to_string(),
            path: req.path().to_string(),
            body: http::canonical_body(req.headers.get("Content-Type"), &req.body),
            result,
            peer: peer.to_string(),
            conn_req,
        });
    }

    // ---- PowerJob ----------------------------------------------------------------------

    fn handle_powerjob(&self, req: &Request, peer: SocketAddr, conn_req: u64, keep_alive: bool) -> Response {
        let path = req.path();
        let Some(name) = path.strip_prefix("/openApi/") else {
            return self.spring_error(404, path, keep_alive);
        };
        let known = MUTATIONS.contains(&name)
            || READS.contains(&name)
            || name == "assert"
            || (name == "authApp" && self.cfg.mode != Mode::V4);
        if !known {
            return self.spring_error(404, path, keep_alive);
        }
        if req.method != "POST" {
            return self.spring_error(405, path, keep_alive);
        }
        // OpenApiInterceptor.preHandle
        let mut verdict: Vec<(&str, String)> = Vec::new();
        if self.cfg.mode != Mode::V4 {
            if !self.cfg.auth {
                if self.cfg.mode == Mode::Fixed {
                    verdict.push((AUTH_PASSED, "true".into()));
                }
            } else if !(name.ends_with("assert") || name.ends_with("authApp")) {
                match self.check_token(req) {
                    Ok(_) => verdict.push((AUTH_PASSED, "true".into())),
                    Err((code, message)) => {
                        let body =
                            format!("{{\"success\":false,\"message\":{},\"code\":\"{code}\"}}", js(&message));
                        return self.respond(
                            200,
                            vec![(AUTH_PASSED, "false".into())],
                            "application/json; charset=utf-8",
                            body,
                            keep_alive,
                        );
                    }
                }
            }
        }
        let body_text = String::from_utf8_lossy(&req.body).into_owned();
        let ok = |data: Value| format!("{{\"success\":true,\"data\":{data},\"message\":null}}");
        match name {
            "assert" => {
                let form = http::parse_form(&body_text);
                let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
                let body = match APPS.iter().find(|a| Some(a.name) == get("appName")) {
                    None => format!(
                        "{{\"success\":false,\"data\":null,\"message\":{}}}",
                        js(&format!("can't find appInfo by appName: {}", get("appName").unwrap_or("")))
                    ),
                    Some(a) if get("password").is_some_and(|p| p != a.password) => {
                        "{\"success\":false,\"data\":null,\"message\":\"password error!\"}".into()
                    }
                    Some(a) => ok(a.id.into()),
                };
                self.respond(200, verdict, "application/json", body, keep_alive)
            }
            "authApp" => {
                let body = self.auth_app(&body_text);
                self.respond(200, verdict, "application/json", body, keep_alive)
            }
            _ if MUTATIONS.contains(&name) => {
                let fault = self.next_fault(path);
                if let Some(f) = fault.as_ref().filter(|f| !f.after_exec) {
                    return self.spring_error(f.status, path, keep_alive);
                }
                let result = match self.mutate(name, req, &body_text) {
                    Ok(v) => v,
                    Err(()) => return self.spring_error(400, path, keep_alive),
                };
                self.record_exec(req, peer, conn_req, result.clone());
                if let Some(f) = fault {
                    return self.spring_error(f.status, path, keep_alive);
                }
                self.respond(200, verdict, "application/json", ok(result), keep_alive)
            }
            _ => {
                let data = read_result(name, req, &body_text);
                self.respond(200, verdict, "application/json", ok(data), keep_alive)
            }
        }
    }

    /// `OpenApiSecurityServiceImpl.authAppByToken`: the appId on success, else (code, message).
    fn check_token(&self, req: &Request) -> Result<i64, (&'static str, String)> {
        let app_id = req
            .headers
            .get("X-POWERJOB-APP-ID")
            .filter(|v| !v.is_empty())
            .ok_or(("-300", "INVALID_REQUEST:lack_of_appId_in_header".to_string()))?;
        let token = req
            .headers
            .get("X-POWERJOB-ACCESS-TOKEN")
            .filter(|v| !v.is_empty())
            .ok_or(("-1002", "OPEN_API_AUTH_FAILED:token_is_empty".to_string()))?;
        let claims = jwt::verify(&self.db.secret, token, jwt::now_ms()).map_err(|e| match e {
            JwtError::Expired(m) => ("-403", format!("TOKEN_EXPIRED:{m}")),
            JwtError::Invalid(m) => ("-401", format!("INVALID_TOKEN:{m}")),
        })?;
        let token_app = claims.get("appId").and_then(Value::as_i64);
        let header_app = app_id.trim().parse::<i64>().ok();
        if token_app.is_none() || token_app != header_app {
            return Err(("-300", "INVALID_REQUEST:Inconsistent_appId_from_token_and_header".into()));
        }
        let id = token_app.unwrap_or_default();
        if !APPS.iter().any(|a| a.id == id) {
            return Err(("-402", "INVALID_APP:can_not_find_app".into()));
        }
        Ok(id)
    }

    /// `OpenAPIController.authApp`.
    fn auth_app(&self, body: &str) -> String {
        let fail = |code: &str, msg: &str| {
            format!("{{\"success\":false,\"data\":null,\"message\":{},\"code\":\"{code}\"}}", js(msg))
        };
        let Ok(Value::Object(req)) = serde_json::from_str::<Value>(body) else {
            return fail("-300", "INVALID_REQUEST:bad_auth_request");
        };
        let field = |k: &str| req.get(k).and_then(Value::as_str).unwrap_or("");
        let Some(app) = APPS.iter().find(|a| a.name == field("appName")) else {
            return fail("-402", "INVALID_APP:can_not_find_app");
        };
        let expected = match field("encryptType") {
            "none" | "" => app.password.to_string(),
            _ => crate::md5::hex(app.password.as_bytes()),
        };
        if field("encryptedPassword") != expected {
            return fail("-400", "INCORRECT_PASSWORD");
        }
        let mut claims = Map::new();
        claims.insert("appId".into(), app.id.into());
        claims.insert("sub".into(), "PowerJob".into());
        let (token, _) = jwt::issue(&self.db.secret, claims, self.cfg.token_ttl_ms);
        format!(
            "{{\"success\":true,\"data\":{{\"appId\":{},\"token\":{},\"extra\":null}},\
             \"message\":null,\"code\":null}}",
            app.id,
            js(&token)
        )
    }

    /// Runs a mutation's "controller": allocates ids like the real service would.
    fn mutate(&self, name: &str, req: &Request, body: &str) -> Result<Value, ()> {
        let json = req.headers.get("Content-Type").is_some_and(|c| c.to_ascii_lowercase().contains("json"));
        if json && serde_json::from_str::<Value>(body).is_err() {
            return Err(());
        }
        let mut ids = lock(&self.db.ids);
        let next = |n: &mut i64| {
            *n += 1;
            Value::from(*n)
        };
        Ok(match name {
            "saveJob" => match serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_i64))
            {
                Some(existing) => existing.into(),
                None => next(&mut ids.job),
            },
            "copyJob" => next(&mut ids.job),
            "runJob" => next(&mut ids.instance),
            "saveWorkflow" => match serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_i64))
            {
                Some(existing) => existing.into(),
                None => next(&mut ids.workflow),
            },
            "copyWorkflow" => next(&mut ids.workflow),
            "runWorkflow" => next(&mut ids.wf_instance),
            "addWorkflowNode" => {
                let n = serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|v| v.as_array().map(Vec::len))
                    .unwrap_or(1);
                Value::Array((0..n).map(|_| next(&mut ids.node)).collect())
            }
            _ => Value::Null,
        })
    }

    // ---- OAuth2 bearer API -------------------------------------------------------------

    /// The OAuth2 token endpoint: client credentials grant (RFC 6749 section 4.4).
    fn oauth2_token(&self, req: &Request, keep_alive: bool) -> Response {
        let json = "application/json";
        if req.method != "POST" {
            return self.respond(
                405,
                vec![("Allow", "POST".into())],
                json,
                "{\"error\":\"method_not_allowed\"}".into(),
                keep_alive,
            );
        }
        let form = http::parse_form(&String::from_utf8_lossy(&req.body));
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if get("grant_type") != Some("client_credentials") {
            return self.respond(
                400,
                vec![("Cache-Control", "no-store".into())],
                json,
                "{\"error\":\"unsupported_grant_type\"}".into(),
                keep_alive,
            );
        }
        let Some((client_id, _)) = OAUTH_CLIENTS
            .iter()
            .find(|(id, secret)| Some(*id) == get("client_id") && Some(*secret) == get("client_secret"))
        else {
            return self.respond(
                401,
                vec![("WWW-Authenticate", "Basic realm=\"oauth\"".into())],
                json,
                "{\"error\":\"invalid_client\"}".into(),
                keep_alive,
            );
        };
        let mut claims = Map::new();
        claims.insert("sub".into(), (*client_id).into());
        claims.insert("scope".into(), "orders".into());
        let (token, _) = jwt::issue(&self.db.secret, claims, self.cfg.token_ttl_ms);
        let body = format!(
            "{{\"access_token\":{},\"token_type\":\"Bearer\",\"expires_in\":{}}}",
            js(&token),
            self.cfg.token_ttl_ms.div_ceil(1000)
        );
        self.respond(
            200,
            vec![("Cache-Control", "no-store".into()), ("Pragma", "no-cache".into())],
            json,
            body,
            keep_alive,
        )
    }

    fn handle_oauth2(&self, req: &Request, peer: SocketAddr, conn_req: u64, keep_alive: bool) -> Response {
        let path = req.path().to_string();
        let json = "application/json";
        if path == "/oauth/token" || path == "/token" {
            return self.oauth2_token(req, keep_alive);
        }
        if !path.starts_with("/api/") {
            return self.respond(404, Vec::new(), json, "{\"error\":\"not_found\"}".into(), keep_alive);
        }
        // RFC 6750 section 3.
        let bearer = req
            .headers
            .get("Authorization")
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let challenge = match bearer {
            None => Some("Bearer realm=\"api\"".to_string()),
            Some(tok) => match jwt::verify(&self.db.secret, tok.trim(), jwt::now_ms()) {
                Ok(_) => None,
                Err(JwtError::Expired(_)) => Some(
                    "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The \
                     access token expired\""
                        .into(),
                ),
                Err(JwtError::Invalid(_)) => Some(
                    "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The \
                     access token is invalid\""
                        .into(),
                ),
            },
        };
        if let Some(c) = challenge {
            return self.respond(
                401,
                vec![("WWW-Authenticate", c)],
                json,
                "{\"error\":\"invalid_token\"}".into(),
                keep_alive,
            );
        }
        let mutation = matches!(req.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
        if !mutation {
            let id = path.rsplit('/').next().unwrap_or("");
            let body = format!("{{\"id\":{},\"status\":\"created\"}}", js(id));
            return self.respond(200, Vec::new(), json, body, keep_alive);
        }
        let idem_key = req.headers.get("Idempotency-Key").map(|k| format!("{path}\n{k}"));
        if let Some(k) = &idem_key {
            if let Some((status, body)) = lock(&self.db.idempotency).get(k).cloned() {
                return self.respond(
                    status,
                    vec![("Idempotent-Replayed", "true".into())],
                    json,
                    body,
                    keep_alive,
                );
            }
        }
        let fault = self.next_fault(&path);
        let unavailable = |status: u16| {
            self.respond(
                status,
                vec![("Retry-After", "1".into())],
                json,
                "{\"error\":\"temporarily_unavailable\"}".into(),
                keep_alive,
            )
        };
        if let Some(f) = fault.as_ref().filter(|f| !f.after_exec) {
            return unavailable(f.status);
        }
        let id = {
            let mut ids = lock(&self.db.ids);
            ids.order += 1;
            ids.order
        };
        self.record_exec(req, peer, conn_req, id.into());
        if let Some(f) = fault {
            return unavailable(f.status);
        }
        let body = format!("{{\"id\":{id},\"status\":\"created\"}}");
        if let Some(k) = idem_key {
            lock(&self.db.idempotency).insert(k, (201, body.clone()));
        }
        self.respond(201, vec![("Location", format!("{path}/{id}"))], json, body, keep_alive)
    }
}

/// What a read returns (only shaped enough to look plausible).
fn read_result(name: &str, req: &Request, body: &str) -> Value {
    let form = http::parse_form(body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).and_then(|(_, v)| v.parse::<i64>().ok());
    match name {
        "fetchJob" => serde_json::json!({
            "id": get("jobId"),
            "jobName": "sim-job",
            "appId": get("appId").or_else(|| req.headers.get("X-POWERJOB-APP-ID").and_then(|v| v.parse().ok())),
            "status": 1
        }),
        "fetchInstanceStatus" => 5.into(),
        "fetchAllJob" | "queryJob" | "queryInstance" => Value::Array(Vec::new()),
        _ => Value::Null,
    }
}

/// A JSON string literal.
fn js(s: &str) -> String {
    Value::from(s).to_string()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
