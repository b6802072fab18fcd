//! PowerJob OpenAPI clients that behave like the real ones (research/powerjob-protocol.md).
//!
//! [`V5Client`] models `PowerJobClient` 5.1.x: `AppAuthClusterRequestService.request` reads
//! `X-POWERJOB-AUTH-PASSED` case-sensitively after every call and, unless it is `true`,
//! refreshes the token with `/openApi/authApp` and re-sends the identical body once; a non-200
//! status throws without retry; `ClusterRequestService.clusterHaRequest` re-sends to the other
//! server addresses on an I/O error or the 2 s timeout. Its constructor sends `authApp` the
//! way the real one does (4 calls when `authApp` gets no verdict header, else 2).
//!
//! [`V4Client`] models `PowerJobClient` 4.3.x: `/openApi/assert` with the plain password, the
//! appId in every body, no token and no auth retry; other addresses only on an I/O error.

use crate::client::{CallError, Rendezvous, Reply, Transport};
use crate::http::{self, Response};
use crate::intent::{Attempt, Cause, IntentLog, Outcome, Role};
use crate::server::AUTH_PASSED;
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// OkHttp's `User-Agent` (the version shaded into powerjob-client).
pub const OKHTTP_UA: &str = "okhttp/3.14.9";
/// `DEFAULT_TIMEOUT_SECONDS` of the v5 client.
pub const V5_TIMEOUT: Duration = Duration::from_secs(2);
/// The v4 client's read timeout (`HttpUtils`).
pub const V4_TIMEOUT: Duration = Duration::from_secs(5);
/// `OmsConstant.JSON_MEDIA_TYPE`.
pub const JSON_TYPE: &str = "application/json; charset=utf-8";
/// OkHttp `FormBody`.
pub const FORM_TYPE: &str = "application/x-www-form-urlencoded";

/// A request body as `PowerRequestBody` builds it.
#[derive(Debug, Clone)]
pub enum Body {
    /// Form fields in the client's order.
    Form(Vec<(&'static str, String)>),
    /// A JSON document (already serialised).
    Json(String),
}

impl Body {
    fn content_type(&self) -> &'static str {
        match self {
            Body::Form(_) => FORM_TYPE,
            Body::Json(_) => JSON_TYPE,
        }
    }

    fn text(&self) -> String {
        match self {
            Body::Form(pairs) => http::form_body(pairs),
            Body::Json(s) => s.clone(),
        }
    }
}

/// `SaveJobInfoRequest` as Jackson serialises it (field order of the Java class).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct SaveJobRequest {
    pub id: Option<i64>,
    pub job_name: String,
    pub job_description: String,
    pub app_id: i64,
    pub job_params: String,
    pub time_expression_type: &'static str,
    pub time_expression: Option<String>,
    pub execute_type: &'static str,
    pub processor_type: &'static str,
    pub processor_info: String,
    pub max_instance_num: i32,
    pub concurrency: i32,
    pub instance_time_limit: i64,
    pub instance_retry_num: i32,
    pub task_retry_num: i32,
    pub min_cpu_cores: f64,
    pub min_memory_space: f64,
    pub min_disk_space: f64,
    pub enable: bool,
    pub designated_workers: String,
    pub max_worker_count: i32,
    pub notify_user_ids: Option<Vec<i64>>,
    pub extra: Option<String>,
    pub dispatch_strategy: &'static str,
    pub life_cycle: Option<Value>,
    pub alarm_config: Option<Value>,
    pub tag: Option<String>,
    pub log_config: Option<Value>,
}

impl SaveJobRequest {
    /// A typical API-triggered standalone job.
    pub fn new(job_name: &str, app_id: i64) -> Self {
        SaveJobRequest {
            id: None,
            job_name: job_name.to_string(),
            job_description: format!("{job_name} (created through the OpenAPI)"),
            app_id,
            job_params: "{\"region\":\"eu-west-1\"}".into(),
            time_expression_type: "API",
            time_expression: None,
            execute_type: "STANDALONE",
            processor_type: "BUILT_IN",
            processor_info: "tech.powerjob.samples.processors.StandaloneProcessorDemo".into(),
            max_instance_num: 0,
            concurrency: 5,
            instance_time_limit: 0,
            instance_retry_num: 0,
            task_retry_num: 0,
            min_cpu_cores: 0.0,
            min_memory_space: 0.0,
            min_disk_space: 0.0,
            enable: true,
            designated_workers: String::new(),
            max_worker_count: 0,
            notify_user_ids: None,
            extra: None,
            dispatch_strategy: "HEALTH_FIRST",
            life_cycle: None,
            alarm_config: None,
            tag: None,
            log_config: None,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Body {
        Body::Json(serde_json::to_string(self).unwrap_or_else(|_| "{}".into()))
    }
}

/// The codes `OpenApiInterceptor` answers with when it refuses a token.
const REJECTION_CODES: &[&str] = &["-300", "-400", "-401", "-402", "-403", "-1002"];

/// How a PowerJob response looks to the intent log.
fn classify(resp: &Response, role: Role, v5: bool) -> Outcome {
    match resp.status {
        500..=599 => return Outcome::ServerError,
        200..=299 => {}
        _ => return Outcome::ClientError,
    }
    let json: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let success = json.get("success").and_then(Value::as_bool).unwrap_or(false);
    let verdict = resp.headers.get_exact(AUTH_PASSED);
    if success {
        if !v5 || role == Role::Auth || verdict.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            Outcome::Ok
        } else {
            Outcome::OkUnconfirmed
        }
    } else {
        let code = json.get("code").and_then(Value::as_str).unwrap_or("");
        let refused = resp.headers.get(AUTH_PASSED).is_some_and(|v| v.eq_ignore_ascii_case("false"));
        if v5 && (refused || REJECTION_CODES.contains(&code)) { Outcome::Rejected } else { Outcome::AppError }
    }
}

/// Says why the v5 client is unhappy with a response's verdict header.
fn describe_verdict(resp: &Response) -> String {
    let json: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let success = json.get("success").and_then(Value::as_bool).unwrap_or(false);
    let header = match resp.headers.get_exact(AUTH_PASSED) {
        Some(v) => format!("carried {AUTH_PASSED}: {v}"),
        None => match resp.headers.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(AUTH_PASSED)) {
            Some((n, v)) => format!(
                "carried the verdict only as `{n}: {v}`, which the client's case-sensitive \
                 lookup misses (a proxy changed the header's case, PowerJob #1062)"
            ),
            None => format!("had no {AUTH_PASSED} header at all"),
        },
    };
    if success {
        format!("{header}, although the call succeeded (success=true)")
    } else {
        let code = json.get("code").and_then(Value::as_str).unwrap_or("?");
        let msg = json.get("message").and_then(Value::as_str).unwrap_or("");
        let short = msg.split(':').next().unwrap_or("");
        format!("{header} (the server refused the token: code {code} {short})")
    }
}

#[derive(Debug, Default)]
struct AuthState {
    app_id: Option<i64>,
    token: Option<String>,
    generation: u64,
}

/// Options that go beyond the real client, for scripted scenarios.
#[derive(Debug, Clone, Copy, Default)]
pub struct V5Options {
    /// Threads that need a refresh at the same time share one `authApp` call (single-flight).
    /// The real 5.1 client refreshes per call; this models a client that shares its refresh.
    pub share_refresh: bool,
}

/// A PowerJob 5.1.x `PowerJobClient`.
#[derive(Debug)]
pub struct V5Client {
    app_name: String,
    password_md5: String,
    addrs: Vec<SocketAddr>,
    current: Mutex<usize>,
    state: Mutex<AuthState>,
    refresh_lock: Mutex<()>,
    opts: V5Options,
    rendezvous: Mutex<Option<Arc<Rendezvous>>>,
    transport: Transport,
    intent: Arc<IntentLog>,
}

/// Path prefix of every OpenAPI call.
pub const OPEN_API: &str = "/openApi";

impl V5Client {
    /// Builds a client; like the real constructor this already talks to the server.
    pub fn new(
        app_name: &str,
        password: &str,
        addrs: Vec<SocketAddr>,
        intent: Arc<IntentLog>,
        opts: V5Options,
    ) -> Result<Self, CallError> {
        if addrs.is_empty() {
            return Err(CallError::NoServer("no server address configured".into()));
        }
        let c = V5Client {
            app_name: app_name.to_string(),
            password_md5: crate::md5::hex(password.as_bytes()),
            addrs,
            current: Mutex::new(0),
            state: Mutex::new(AuthState::default()),
            refresh_lock: Mutex::new(()),
            opts,
            rendezvous: Mutex::new(None),
            transport: Transport::new(V5_TIMEOUT, OKHTTP_UA),
            intent,
        };
        // PowerJobClient(ClientConfig) calls requestService.request(AUTH_APP, ...).
        let reply = c.request(
            "authApp",
            c.auth_body(),
            Role::Auth,
            "PowerJobClient constructor: request(AUTH_APP) with the cached token's headers.",
        )?;
        if !reply.success() {
            return Err(CallError::Auth(format!(
                "AUTH_FAILED_{}",
                reply.json.get("message").and_then(Value::as_str).unwrap_or("")
            )));
        }
        Ok(c)
    }

    fn auth_body(&self) -> Body {
        // AppAuthRequest, in Jackson's field order.
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct AppAuthRequest<'a> {
            app_name: &'a str,
            encrypted_password: &'a str,
            encrypt_type: &'a str,
        }
        let req = AppAuthRequest {
            app_name: &self.app_name,
            encrypted_password: &self.password_md5,
            encrypt_type: "md5",
        };
        Body::Json(serde_json::to_string(&req).unwrap_or_default())
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The appId learnt from `authApp` (0 before the first one).
    pub fn app_id(&self) -> i64 {
        self.lock_state().app_id.unwrap_or(0)
    }

    /// The current token.
    pub fn token(&self) -> Option<String> {
        self.lock_state().token.clone()
    }

    /// The application name.
    pub fn app_name(&self) -> &str {
        &self.app_name
    }

    /// Makes every refresh first wait for the other threads of a scripted scenario.
    pub fn set_rendezvous(&self, r: Option<Arc<Rendezvous>>) {
        *self.rendezvous.lock().unwrap_or_else(|e| e.into_inner()) = r;
    }

    /// `clusterHaRequest` plus the status check of `doRequest`: the current address first,
    /// then the others on an I/O error or timeout.
    fn cluster_request(
        &self,
        name: &str,
        body: &Body,
        role: Role,
        cause: Cause,
        why: &str,
        with_token: bool,
    ) -> Result<(u64, Response), CallError> {
        let headers: Vec<(&str, String)> = if with_token {
            let st = self.lock_state();
            vec![
                ("X-POWERJOB-APP-ID", st.app_id.map(|i| i.to_string()).unwrap_or_default()),
                ("X-POWERJOB-ACCESS-TOKEN", st.token.clone().unwrap_or_default()),
            ]
        } else {
            Vec::new()
        };
        let start = *self.current.lock().unwrap_or_else(|e| e.into_inner());
        let start = start.min(self.addrs.len() - 1);
        let order = std::iter::once(start).chain((0..self.addrs.len()).filter(|&i| i != start));
        let mut prev: Option<u64> = None;
        let mut errors = Vec::new();
        for idx in order {
            let addr = self.addrs[idx];
            let (cause, why) = match prev {
                None => (cause, why.to_string()),
                Some(of) => (
                    Cause::ErrorRetry { of },
                    format!(
                        "The v5 client re-sent #{of} to the next server address {addr} because \
                         #{of} failed with an I/O error or the 2 s timeout \
                         (ClusterRequestService.clusterHaRequest)."
                    ),
                ),
            };
            let attempt = Attempt {
                client: self.app_name.clone(),
                app_id: self.lock_state().app_id.map_or(Value::Null, Value::from),
                server: addr,
                method: "POST".into(),
                path: format!("{OPEN_API}/{name}"),
                content_type: body.content_type().into(),
                body: body.text(),
                role,
                cause,
                why,
            };
            let sent = self.transport.send(&self.intent, attempt, &headers, &|r| classify(r, role, true));
            match sent.result {
                Ok(resp) => {
                    *self.current.lock().unwrap_or_else(|e| e.into_inner()) = idx;
                    let seq = sent.seq.unwrap_or(0);
                    if resp.status != 200 {
                        return Err(CallError::Status { status: resp.status, seq });
                    }
                    return Ok((seq, resp));
                }
                Err(e) => {
                    prev = sent.seq.or(prev);
                    errors.push(format!("{addr}: {e}"));
                }
            }
        }
        Err(CallError::NoServer(errors.join("; ")))
    }

    /// `refreshAppAuthResult()`: `authApp` without token headers.
    fn refresh(&self, why: &str) -> Result<(), CallError> {
        let (_, resp) = self
            .cluster_request("authApp", &self.auth_body(), Role::Auth, Cause::App, why, false)
            .map_err(|e| match e {
                CallError::Status { .. } => CallError::Auth("AUTH_APP_EXCEPTION!".into()),
                other => other,
            })?;
        let reply = Reply::new(0, &resp);
        let data = reply.data();
        let (Some(app_id), Some(token)) =
            (data.get("appId").and_then(Value::as_i64), data.get("token").and_then(Value::as_str))
        else {
            return Err(CallError::Auth(format!(
                "AUTH_FAILED_{}",
                reply.json.get("message").and_then(Value::as_str).unwrap_or("")
            )));
        };
        let mut st = self.lock_state();
        st.app_id = Some(app_id);
        st.token = Some(token.to_string());
        st.generation += 1;
        Ok(())
    }

    /// The refresh after a failed verdict; returns a note when another thread's refresh was
    /// shared instead.
    fn refresh_after(&self, seq: u64, seen: u64, reason: &str) -> Result<String, CallError> {
        let rendezvous = self.rendezvous.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(r) = rendezvous {
            r.wait();
        }
        let why = format!("refreshAppAuthResult() because the response to #{seq} {reason}.");
        if !self.opts.share_refresh {
            return self.refresh(&why).map(|_| String::new());
        }
        let _single_flight = self.refresh_lock.lock().unwrap_or_else(|e| e.into_inner());
        if self.lock_state().generation != seen {
            return Ok(" It reused the token another thread had just refreshed.".into());
        }
        self.refresh(&why).map(|_| String::new())
    }

    /// `AppAuthClusterRequestService.request(path, body)`.
    pub fn request(&self, name: &str, body: Body, role: Role, why: &str) -> Result<Reply, CallError> {
        if self.lock_state().token.is_none() {
            self.refresh(
                "No token cached yet, so refreshAppAuthResult() posts authApp without token \
                 headers.",
            )?;
        }
        let seen = self.lock_state().generation;
        let (seq, resp) = self.cluster_request(name, &body, role, Cause::App, why, true)?;
        if resp.headers.get_exact(AUTH_PASSED).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(Reply::new(seq, &resp));
        }
        // log.warn("[PowerJobClient] auth failed[authStatus: {}], try to refresh the auth info")
        let reason = describe_verdict(&resp);
        let shared = self.refresh_after(seq, seen, &reason)?;
        let why = format!(
            "The v5 client re-sent #{seq} once, same body, new token, because its response \
             {reason}.{shared}"
        );
        let (seq2, resp2) =
            self.cluster_request(name, &body, role, Cause::RefreshRetry { of: seq }, &why, true)?;
        Ok(Reply::new(seq2, &resp2))
    }

    /// A form call with `appId` added, as the client's helper methods build them.
    pub fn form(
        &self,
        name: &str,
        mut fields: Vec<(&'static str, String)>,
        why: &str,
    ) -> Result<Reply, CallError> {
        // The helpers put appId second: jobId, appId, delay, ... (PowerJobClient L192-251).
        fields.insert(fields.len().min(1), ("appId", self.app_id().to_string()));
        let role = role_of(name);
        self.request(name, Body::Form(fields), role, why)
    }

    /// `saveJob`.
    pub fn save_job(&self, job: &SaveJobRequest, why: &str) -> Result<Reply, CallError> {
        self.request("saveJob", job.body(), Role::Mutation, why)
    }
}

/// Mutation or read, by OpenAPI name.
pub fn role_of(name: &str) -> Role {
    if crate::server::MUTATIONS.contains(&name) {
        Role::Mutation
    } else if name == "authApp" || name == "assert" {
        Role::Auth
    } else {
        Role::Read
    }
}

/// A PowerJob 4.3.x `PowerJobClient`.
#[derive(Debug)]
pub struct V4Client {
    app_name: String,
    app_id: i64,
    addrs: Vec<SocketAddr>,
    current: Mutex<usize>,
    transport: Transport,
    intent: Arc<IntentLog>,
}

impl V4Client {
    /// The 4.3.9 constructor: `/openApi/assert` with `appName` and the plain `password` on each
    /// address in turn until one answers.
    pub fn new(
        app_name: &str,
        password: &str,
        addrs: Vec<SocketAddr>,
        intent: Arc<IntentLog>,
    ) -> Result<Self, CallError> {
        let transport = Transport::new(V4_TIMEOUT, OKHTTP_UA);
        let body = Body::Form(vec![("appName", app_name.to_string()), ("password", password.to_string())]);
        let mut errors = Vec::new();
        for (idx, &addr) in addrs.iter().enumerate() {
            let attempt = Attempt {
                client: app_name.to_string(),
                app_id: Value::Null,
                server: addr,
                method: "POST".into(),
                path: format!("{OPEN_API}/assert"),
                content_type: body.content_type().into(),
                body: body.text(),
                role: Role::Auth,
                cause: Cause::App,
                why: "PowerJobClient 4.3 constructor: assertApp with appName and the plain-text \
                      password in the form."
                    .into(),
            };
            let sent = transport.send(&intent, attempt, &[], &|r| classify(r, Role::Auth, false));
            match sent.result {
                Err(e) => errors.push(format!("{addr}: {e}")),
                Ok(resp) => {
                    let reply = Reply::new(sent.seq.unwrap_or(0), &resp);
                    if resp.status != 200 {
                        return Err(CallError::Status { status: resp.status, seq: reply.seq });
                    }
                    let Some(app_id) = reply.data().as_i64().filter(|_| reply.success()) else {
                        return Err(CallError::Auth(format!(
                            "assert app failed: {}",
                            reply.json.get("message").and_then(Value::as_str).unwrap_or("")
                        )));
                    };
                    return Ok(V4Client {
                        app_name: app_name.to_string(),
                        app_id,
                        addrs,
                        current: Mutex::new(idx),
                        transport,
                        intent,
                    });
                }
            }
        }
        Err(CallError::NoServer(errors.join("; ")))
    }

    /// The appId returned by `assert`.
    pub fn app_id(&self) -> i64 {
        self.app_id
    }

    /// `postHA`: the current address, then the others on an I/O error or an empty body.
    pub fn request(&self, name: &str, body: Body, why: &str) -> Result<Reply, CallError> {
        let role = role_of(name);
        let start =
            (*self.current.lock().unwrap_or_else(|e| e.into_inner())).min(self.addrs.len().saturating_sub(1));
        let order = std::iter::once(start).chain((0..self.addrs.len()).filter(|&i| i != start));
        let mut prev: Option<u64> = None;
        let mut errors = Vec::new();
        for idx in order {
            let Some(&addr) = self.addrs.get(idx) else {
                break;
            };
            let (cause, why) = match prev {
                None => (Cause::App, why.to_string()),
                Some(of) => (
                    Cause::ErrorRetry { of },
                    format!(
                        "The v4 client re-sent #{of} to the next address {addr} after an I/O \
                         error (postHA)."
                    ),
                ),
            };
            let attempt = Attempt {
                client: self.app_name.clone(),
                app_id: self.app_id.into(),
                server: addr,
                method: "POST".into(),
                path: format!("{OPEN_API}/{name}"),
                content_type: body.content_type().into(),
                body: body.text(),
                role,
                cause,
                why,
            };
            let sent = self.transport.send(&self.intent, attempt, &[], &|r| classify(r, role, false));
            match sent.result {
                Ok(resp) if !resp.body.is_empty() || resp.status != 200 => {
                    *self.current.lock().unwrap_or_else(|e| e.into_inner()) = idx;
                    let seq = sent.seq.unwrap_or(0);
                    if resp.status != 200 {
                        return Err(CallError::Status { status: resp.status, seq });
                    }
                    return Ok(Reply::new(seq, &resp));
                }
                Ok(_) => {
                    prev = sent.seq.or(prev);
                    errors.push(format!("{addr}: empty body"));
                }
                Err(e) => {
                    prev = sent.seq.or(prev);
                    errors.push(format!("{addr}: {e}"));
                }
            }
        }
        Err(CallError::NoServer(errors.join("; ")))
    }

    /// A form call with `appId` added.
    pub fn form(
        &self,
        name: &str,
        mut fields: Vec<(&'static str, String)>,
        why: &str,
    ) -> Result<Reply, CallError> {
        fields.insert(fields.len().min(1), ("appId", self.app_id.to_string()));
        self.request(name, Body::Form(fields), why)
    }
}
