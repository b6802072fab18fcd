//! Classification: an [`Exchange`] and a [`Profile`] in, a [`Call`] out.
//!
//! Decides what the call is (auth call, mutation, read), who made it (the caller: the app
//! identity the profile finds, bound to tokens by the auth responses that issued them,
//! qualified by the client host), which credential it used (fingerprint only), its call key
//! (method, path, canonical query and body without credentials and volatile fields), and
//! its outcome (`ok`, `ok-unconfirmed`, `rejected`, `app-error`, `client-error`,
//! `server-error`, `no-response`, `unknown`). Everything kept on a [`Call`] is already safe
//! to print: secrets are fingerprints or gone.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use serde::Serialize;
use serde_json::Value;

use crate::exchange::{Exchange, Flags, Head, InputId, Origin, Timestamp};
use crate::http::decode::{DEFAULT_DECODED_CAP, decode_body};
use crate::profile::{CallKindName, Profile, RetryRule, path_matches};
use crate::redact::Redactor;

/// What a call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallKind {
    /// Obtains a token or proves identity.
    Auth,
    /// Has a side effect.
    Mutation,
    /// Has none.
    Read,
}

/// How a call ended (DESIGN section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// 2xx and the app says success.
    Ok,
    /// 2xx and success, but the marker the client requires is missing.
    OkUnconfirmed,
    /// Auth rejected.
    Rejected,
    /// 2xx with success=false for another reason.
    AppError,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// No response before the connection or capture ended.
    NoResponse,
    /// Cannot tell (response lost in a gap).
    Unknown,
}

impl Outcome {
    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OkUnconfirmed => "ok-unconfirmed",
            Outcome::Rejected => "rejected",
            Outcome::AppError => "app-error",
            Outcome::ClientError => "client-error",
            Outcome::ServerError => "server-error",
            Outcome::NoResponse => "no-response",
            Outcome::Unknown => "unknown",
        }
    }

    /// Did the server do the work?
    pub fn executed(self) -> bool {
        matches!(self, Outcome::Ok | Outcome::OkUnconfirmed)
    }
}

/// What the response said about the client's marker header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Marker {
    /// The profile has no marker, or the rule does not apply to this request.
    NotApplicable,
    /// Present with the exact name: its value.
    Present(String),
    /// Absent.
    Absent,
    /// Present only in another letter case (a proxy rewrote it): (name, value).
    OtherCase(String, String),
    /// The response was not seen (or the log does not show headers).
    Unseen,
}

/// How the caller is identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CallerMode {
    /// App identity qualified by the client host (the default): two replicas are two callers.
    #[default]
    AppAndHost,
    /// App identity only: replicas merge, to find duplicates sent by two replicas.
    App,
}

/// A classified exchange: everything correlation and the reports need, already redacted.
#[derive(Clone, Debug, Serialize)]
pub struct Call {
    /// Request time (capture or log time).
    pub time: Timestamp,
    /// Time the response started, if seen.
    pub resp_time: Option<Timestamp>,
    /// Input it came from.
    pub input: InputId,
    /// Frame or line of the request's first byte.
    #[serde(skip)]
    pub origin: Origin,
    /// Connection number (captures).
    pub conn: u64,
    /// Client end.
    pub client: SocketAddr,
    /// Server end.
    pub server: SocketAddr,
    /// What the call does.
    pub kind: CallKind,
    /// Method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The query, redacted.
    pub query: String,
    /// Hash of the canonical call (method, path, query, body; no credentials or volatile
    /// fields): equal keys from one caller are the same call.
    #[serde(skip)]
    pub key: u64,
    /// The canonical call, redacted and shortened, for people.
    pub call_key: String,
    /// The caller.
    pub caller: String,
    /// The app identity, if found.
    pub app: Option<String>,
    /// The client host (IP; for logs plus user agent).
    pub host: String,
    /// Fingerprint of the credential the request carried.
    pub credential: Option<String>,
    /// Response status.
    pub status: Option<u16>,
    /// Outcome.
    pub outcome: Outcome,
    /// The app's error code, if any (e.g. PowerJob `-403`).
    pub code: Option<String>,
    /// The app's message, redacted and shortened.
    pub message: Option<String>,
    /// The client marker header as seen.
    pub marker: Marker,
    /// Would the profile's client refresh and re-send after this response?
    pub refresh_trigger: bool,
    /// For auth calls: fingerprint of the token issued.
    pub issued_token: Option<String>,
    /// `Idempotency-Key` sent, if any.
    pub idempotency_key: Option<String>,
    /// Proxy/library attempt marker: (header, attempt number).
    pub attempt: Option<(String, u32)>,
    /// Response body bytes (for logs: the logged size).
    pub resp_bytes: Option<u64>,
    /// Was the deciding part of the response (body verdict, marker) observable?
    pub verdict_seen: bool,
    /// Completeness of the exchange.
    #[serde(skip)]
    pub flags: Flags,
}

/// Turns exchanges into calls; remembers which app each issued token belongs to.
pub struct Classifier<'r> {
    profile: Profile,
    redactor: &'r Redactor,
    mode: CallerMode,
    /// Token fingerprint → app, learned from auth responses (bounded).
    token_apps: HashMap<String, String>,
}

/// The most token bindings remembered.
const MAX_BINDINGS: usize = 100_000;
/// The longest call key shown.
const KEY_SHOWN: usize = 160;

impl<'r> Classifier<'r> {
    /// A classifier for `profile`.
    pub fn new(profile: Profile, redactor: &'r Redactor, mode: CallerMode) -> Self {
        Classifier { profile, redactor, mode, token_apps: HashMap::new() }
    }

    /// The profile in use.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Classifies one exchange; `None` for a response without its request.
    pub fn classify(&mut self, ex: &Exchange) -> Option<Call> {
        let req = ex.request.as_ref()?;
        let head = &req.head;
        let (path, raw_query) = split_uri(head.uri());
        let kind = self.kind(head.method(), path);
        let resp = ex.response.as_ref();

        let req_body = decode_body(head, &req.body, DEFAULT_DECODED_CAP);
        let req_fields = Fields::parse(head, &req_body.bytes, raw_query);
        let resp_json = resp.and_then(|r| {
            let d = decode_body(&r.head, &r.body, DEFAULT_DECODED_CAP);
            serde_json::from_slice::<Value>(&d.bytes).ok()
        });

        let credential = self.credential(head);
        let mut app = self.app_of_request(head, &req_fields, credential.as_deref());
        let mut issued_token = None;
        if kind == CallKind::Auth {
            if let Some(json) = &resp_json {
                let issued =
                    self.profile.auth.token.as_deref().and_then(|p| json.pointer(p)).and_then(Value::as_str);
                let bound_app = self.profile.auth.app.iter().find_map(|p| json.pointer(p).and_then(scalar));
                if let Some(t) = issued {
                    let fp = self.redactor.fingerprint(t.as_bytes());
                    if let Some(a) = bound_app.clone().or_else(|| app.clone()) {
                        if self.token_apps.len() >= MAX_BINDINGS {
                            self.token_apps.clear();
                        }
                        self.token_apps.insert(fp.clone(), a);
                    }
                    issued_token = Some(fp);
                }
                if app.is_none() {
                    app = bound_app;
                }
            }
            if app.is_none() {
                app = self.profile.auth.request_app.iter().find_map(|f| req_fields.get(f));
            }
        }

        let from_log = matches!(req.origin, Origin::Line(_));
        let host = match head.header_str("user-agent").filter(|ua| from_log && !ua.is_empty()) {
            // Logs have no connections: the user agent tells processes on one host apart.
            Some(ua) => format!("{} ({})", ex.client.ip(), shorten(&self.redactor.text(ua), 60)),
            None => ex.client.ip().to_string(),
        };
        let caller = match (&app, self.mode) {
            (Some(a), CallerMode::AppAndHost) => format!("app:{a}@{host}"),
            (Some(a), CallerMode::App) => format!("app:{a}"),
            (None, _) => host.clone(),
        };

        let (outcome, marker, code, message, verdict_seen) =
            self.outcome(ex, head, resp_json.as_ref(), from_log);
        let refresh_trigger = match self.profile.client.rule {
            RetryRule::Marker => {
                ex.status() == Some(200)
                    && !matches!(marker, Marker::NotApplicable | Marker::Unseen)
                    && !marker_ok(&marker, &self.profile)
            }
            RetryRule::Rejection => outcome == Outcome::Rejected,
            RetryRule::None => false,
        };

        let (key, call_key) = self.call_key(head.method(), path, &req_fields);
        Some(Call {
            time: req.ts,
            resp_time: resp.map(|r| r.ts),
            input: ex.input,
            origin: req.origin,
            conn: ex.conn,
            client: ex.client,
            server: ex.server,
            kind,
            method: head.method().to_string(),
            path: self.redactor.uri(path),
            query: raw_query.map(|q| self.redactor.query(q)).unwrap_or_default(),
            key,
            call_key,
            caller,
            app,
            host,
            credential,
            status: ex.status(),
            outcome,
            code,
            message,
            marker,
            refresh_trigger,
            issued_token,
            idempotency_key: head.header_str("idempotency-key").map(|v| self.redactor.text(v)),
            attempt: attempt_marker(head),
            resp_bytes: resp.map(|r| r.body.len),
            verdict_seen,
            flags: ex.flags,
        })
    }

    fn kind(&self, method: &str, path: &str) -> CallKind {
        let c = &self.profile.calls;
        let any = |pats: &[String]| pats.iter().any(|p| path_matches(p, path));
        if any(&c.auth) {
            CallKind::Auth
        } else if any(&c.mutations) {
            CallKind::Mutation
        } else if any(&c.reads) {
            CallKind::Read
        } else if c.mutation_methods.iter().any(|m| m.eq_ignore_ascii_case(method))
            || c.other == CallKindName::Mutation
        {
            CallKind::Mutation
        } else {
            CallKind::Read
        }
    }

    /// Fingerprint of the first credential header present (never for Basic: it holds a
    /// password).
    fn credential(&self, head: &Head) -> Option<String> {
        for name in &self.profile.credentials.token_headers {
            let Some(v) = head.header_str(name) else { continue };
            if v.is_empty() {
                continue;
            }
            let token = match v.split_once(' ') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                Some((scheme, _)) if scheme.eq_ignore_ascii_case("basic") => return None,
                _ => v,
            };
            return Some(self.redactor.fingerprint(token.as_bytes()));
        }
        None
    }

    fn app_of_request(&self, head: &Head, fields: &Fields, credential: Option<&str>) -> Option<String> {
        let c = &self.profile.credentials;
        c.app_headers
            .iter()
            .find_map(|h| head.header_str(h).filter(|v| !v.is_empty()).map(str::to_string))
            .or_else(|| c.app_fields.iter().find_map(|f| fields.get(f)))
            .or_else(|| credential.and_then(|fp| self.token_apps.get(fp).cloned()))
            .map(|a| self.redactor.text(&a))
    }

    /// Outcome, marker state, app code and message, and whether the verdict was visible.
    fn outcome(
        &self,
        ex: &Exchange,
        req: &Head,
        json: Option<&Value>,
        from_log: bool,
    ) -> (Outcome, Marker, Option<String>, Option<String>, bool) {
        let p = &self.profile;
        let Some(resp) = ex.response.as_ref() else {
            let o = if ex.flags.has(Flags::RESPONSE_GAP) || ex.flags.has(Flags::PAIRING_UNCERTAIN) {
                Outcome::Unknown
            } else {
                Outcome::NoResponse
            };
            return (o, Marker::Unseen, None, None, false);
        };
        let h = &resp.head;
        let status = h.status();
        let code = p.rejection.code_field.as_deref().and_then(|f| json?.pointer(f)).and_then(scalar);
        let message = p
            .rejection
            .message_field
            .as_deref()
            .and_then(|f| json?.pointer(f))
            .and_then(Value::as_str)
            .map(|m| shorten(&self.redactor.text(m), 120));
        let marker = if from_log { self.logged_marker(req, h) } else { self.marker(req, h) };
        let header_rejects = match (&p.rejection.header, &p.rejection.header_value) {
            (Some(name), Some(value)) => h.header_str(name).is_some_and(|v| v.eq_ignore_ascii_case(value)),
            _ => false,
        };
        let www_invalid = p.rejection.www_authenticate_invalid_token
            && h.headers().any(|(n, v)| {
                n.eq_ignore_ascii_case("www-authenticate")
                    && memchr::memmem::find(v, b"invalid_token").is_some()
            });
        let code_rejects = code.as_ref().is_some_and(|c| p.rejection.codes.contains(c));
        let body_broken = ex.flags.has(Flags::RESPONSE_GAP) || ex.flags.has(Flags::RESPONSE_TRUNCATED);

        let outcome = if p.rejection.statuses.contains(&status)
            || www_invalid
            || header_rejects
            || code_rejects
        {
            Outcome::Rejected
        } else if (400..500).contains(&status) {
            Outcome::ClientError
        } else if status >= 500 {
            Outcome::ServerError
        } else {
            let success = p.success.field.as_deref().and_then(|f| json?.pointer(f)).and_then(Value::as_bool);
            match (p.success.field.is_some(), success) {
                (true, Some(false)) => Outcome::AppError,
                (true, None) if body_broken || (json.is_none() && resp.body.len > 0 && resp.body.capped) => {
                    Outcome::Unknown
                }
                _ if matches!(marker, Marker::Absent | Marker::OtherCase(..)) && status == 200 => {
                    Outcome::OkUnconfirmed
                }
                (_, _)
                    if matches!(&marker, Marker::Present(v) if !marker_value_ok(v, p)) && status == 200 =>
                {
                    Outcome::OkUnconfirmed
                }
                _ => Outcome::Ok,
            }
        };
        // A log shows no body: the verdict is visible only when the profile decides by status
        // alone, or through a logged marker header.
        let by_status = p.success.field.is_none()
            && p.rejection.header.is_none()
            && p.rejection.codes.is_empty()
            && p.client.rule != RetryRule::Marker;
        let seen = !from_log
            || by_status
            || matches!(marker, Marker::Present(_) | Marker::Absent)
            || outcome != Outcome::Ok;
        (outcome, marker, code, message, seen)
    }

    /// The marker as an access log shows it: logs lose header case, and a logged `-` means
    /// the header was absent; a format that does not log the header shows nothing.
    fn logged_marker(&self, req: &Head, resp: &Head) -> Marker {
        let c = &self.profile.client;
        let Some(name) = c.marker.as_deref().filter(|_| c.rule == RetryRule::Marker) else {
            return Marker::NotApplicable;
        };
        // Logs rarely show the request's token header: assume the client rule applies.
        let _ = req;
        match resp.header_str(name) {
            Some("") => Marker::Absent,
            Some(v) => Marker::Present(v.to_string()),
            None => Marker::Unseen,
        }
    }

    fn marker(&self, req: &Head, resp: &Head) -> Marker {
        let c = &self.profile.client;
        let Some(name) = c.marker.as_deref() else { return Marker::NotApplicable };
        if c.rule != RetryRule::Marker {
            return Marker::NotApplicable;
        }
        let applies =
            c.when_request_has.is_empty() || c.when_request_has.iter().any(|h| req.header(h).is_some());
        if !applies {
            return Marker::NotApplicable;
        }
        let text = |v: &[u8]| String::from_utf8_lossy(v).trim().to_string();
        if c.marker_case_sensitive {
            if let Some(v) = resp.header_exact(name) {
                return Marker::Present(text(v));
            }
            match resp.headers().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((n, v)) => Marker::OtherCase(n.to_string(), text(v)),
                None => Marker::Absent,
            }
        } else {
            match resp.header(name) {
                Some(v) => Marker::Present(text(v)),
                None => Marker::Absent,
            }
        }
    }

    /// The call key: a hash of the canonical call, and its redacted text.
    fn call_key(&self, method: &str, path: &str, fields: &Fields) -> (u64, String) {
        let volatile = &self.profile.fields.volatile;
        let keep = |name: &str| {
            self.redactor.secret_kind(name).is_none()
                && !volatile.iter().any(|v| v.eq_ignore_ascii_case(name))
                && !self.profile.credentials.app_headers.iter().any(|h| h.eq_ignore_ascii_case(name))
        };
        let mut query: Vec<(&str, &str)> =
            fields.query.iter().map(|(k, v)| (k.as_str(), v.as_str())).filter(|(k, _)| keep(k)).collect();
        query.sort_unstable();
        let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let body = match &fields.body {
            Body::Form(pairs) => {
                let mut p: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| keep(k)).collect();
                p.sort_unstable();
                p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
            }
            Body::Json(v) => {
                let mut v = v.clone();
                strip_json(&mut v, &keep);
                // serde_json's map keeps keys sorted: this is the canonical form.
                serde_json::to_string(&v).unwrap_or_default()
            }
            Body::Raw(bytes) => {
                let mut h = std::hash::DefaultHasher::new();
                bytes.hash(&mut h);
                if bytes.is_empty() {
                    String::new()
                } else {
                    format!("<{} bytes #{:016x}>", bytes.len(), h.finish())
                }
            }
        };
        let canonical = format!(
            "{method} {}{}{}{}",
            squash_slashes(path),
            if query.is_empty() { "" } else { "?" },
            query.join("&"),
            if body.is_empty() { String::new() } else { format!(" {body}") }
        );
        let mut h = std::hash::DefaultHasher::new();
        canonical.hash(&mut h);
        (h.finish(), shorten(&self.redactor.text(&canonical), KEY_SHOWN))
    }
}

fn marker_value_ok(v: &str, p: &Profile) -> bool {
    p.client.marker_value.as_deref().is_none_or(|want| v.eq_ignore_ascii_case(want))
}

fn marker_ok(m: &Marker, p: &Profile) -> bool {
    match m {
        Marker::Present(v) => marker_value_ok(v, p),
        Marker::NotApplicable => true,
        _ => false,
    }
}

/// Proxy/library retry markers on the request.
fn attempt_marker(head: &Head) -> Option<(String, u32)> {
    for name in ["X-Envoy-Attempt-Count", "grpc-previous-rpc-attempts", "X-Retry-Attempt", "Retry-Attempt"] {
        if let Some(n) = head.header_str(name).and_then(|v| v.parse::<u32>().ok()) {
            let attempt = if name == "grpc-previous-rpc-attempts" { n + 1 } else { n };
            return Some((name.to_string(), attempt));
        }
    }
    None
}

/// A JSON scalar as text (numbers and strings).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn split_uri(uri: &str) -> (&str, Option<&str>) {
    let uri = uri.split('#').next().unwrap_or(uri);
    // An absolute-form target (proxies): keep only the path.
    let uri = match uri.find("://") {
        Some(i) => uri[i + 3..].find('/').map_or("/", |j| &uri[i + 3 + j..]),
        None => uri,
    };
    match uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (uri, None),
    }
}

fn squash_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}…")
}

fn strip_json(v: &mut Value, keep: &impl Fn(&str) -> bool) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| keep(k));
            for x in map.values_mut() {
                strip_json(x, keep);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| strip_json(x, keep)),
        _ => {}
    }
}

/// A request body as fields.
enum Body {
    Form(Vec<(String, String)>),
    Json(Value),
    Raw(Vec<u8>),
}

/// Query and body fields of a request.
struct Fields {
    query: Vec<(String, String)>,
    body: Body,
}

impl Fields {
    fn parse(head: &Head, body: &[u8], query: Option<&str>) -> Fields {
        let query = query.map(form_pairs).unwrap_or_default();
        let ctype = head.header_str("content-type").unwrap_or("").to_ascii_lowercase();
        let body = if ctype.contains("x-www-form-urlencoded") {
            Body::Form(form_pairs(&String::from_utf8_lossy(body)))
        } else if ctype.contains("json") || body.first().is_some_and(|b| *b == b'{' || *b == b'[') {
            match serde_json::from_slice(body) {
                Ok(v) => Body::Json(v),
                Err(_) => Body::Raw(body.to_vec()),
            }
        } else {
            Body::Raw(body.to_vec())
        };
        Fields { query, body }
    }

    /// A field from the query, the form body, or a top-level JSON key / JSON pointer.
    fn get(&self, name: &str) -> Option<String> {
        if name.starts_with('/') {
            return match &self.body {
                Body::Json(v) => v.pointer(name).and_then(scalar),
                _ => None,
            };
        }
        let from = |pairs: &[(String, String)]| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        from(&self.query).or_else(|| match &self.body {
            Body::Form(p) => from(p),
            Body::Json(Value::Object(m)) => m.get(name).and_then(scalar),
            _ => None,
        })
    }
}

/// `a=1&b=x%20y` → decoded pairs.
fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
