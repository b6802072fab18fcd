//! Classification: an [`Exchange`] and a [`Profile`] in, a [`Call`] out.
//!
//! Decides what the call is (auth call, mutation, read), who made it (the caller: the app
//! identity the profile finds, bound to tokens by the auth responses that issued them,
//! qualified by the client host), which credential it used (fingerprint only), its call key
//! (method, path, canonical query and body without credentials and volatile fields), and
//! its outcome (`ok`, `ok-unconfirmed`, `rejected`, `app-error`, `client-error`,
//! `server-error`, `no-response`, `unknown`). Everything kept on a [`Call`] is already safe
//! to print: secrets are fingerprints or gone.

use rustc_hash::FxHashMap as HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use serde::Serialize;
use serde_json::Value;

use crate::exchange::{Exchange, Flags, Head, InputId, Origin, Timestamp, Wire, write_ip};
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

/// How a call ended (docs/labels.md, Definitions).
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
    /// What the connection showed (captures): who closed it, how and when.
    #[serde(skip)]
    pub wire: Wire,
    /// The input cannot show the whole call key: an access log that does not log request
    /// bodies, for a method that carries one. Two such calls to one target may differ.
    #[serde(skip)]
    pub key_incomplete: bool,
    /// The log says the client went away before the response (nginx 499).
    #[serde(skip)]
    pub client_aborted: bool,
    /// The response carried `Retry-After`.
    #[serde(skip)]
    pub retry_after: bool,
}

/// Turns exchanges into calls; remembers which app each issued token belongs to.
pub struct Classifier<'r> {
    profile: Profile,
    redactor: &'r Redactor,
    mode: CallerMode,
    /// Hash of a token fingerprint → app, learned from auth responses (bounded; a hash
    /// key because a long run remembers up to [`MAX_BINDINGS`] of them).
    token_apps: HashMap<u64, Box<str>>,
    /// Token → fingerprint: one HMAC per distinct token, not per call (bounded).
    fingerprints: HashMap<Box<[u8]>, String>,
    /// Field name → kept in the call key? (names repeat on every call).
    kept_names: HashMap<String, bool>,
    /// Path → what its patterns say (paths repeat on every call).
    path_kinds: HashMap<Box<str>, Option<CallKind>>,
    /// Path → its redacted form.
    shown_paths: HashMap<Box<str>, String>,
    /// The top-level response fields a verdict needs (first segments of the profile's pointers).
    wanted: Vec<String>,
    /// The same for auth calls (plus the issued token and app).
    wanted_auth: Vec<String>,
    /// A top-level boolean success field: `true` there ends the scan of a response body.
    success_field: Option<String>,
    /// Which bodies of the last classified exchange were decoded only up to the inspection
    /// cap, where the deciding fields may lie beyond (request, response).
    limited: (bool, bool),
}

/// The most token bindings remembered.
const MAX_BINDINGS: usize = 100_000;

/// The key of a token fingerprint in [`Classifier::token_apps`].
fn binding_key(fingerprint: &str) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    fingerprint.hash(&mut h);
    h.finish()
}
/// The longest call key shown.
const KEY_SHOWN: usize = 160;
/// Decoded response bytes tried before decoding a whole body.
const PREFIX: usize = 512;

impl<'r> Classifier<'r> {
    /// A classifier for `profile`.
    pub fn new(profile: Profile, redactor: &'r Redactor, mode: CallerMode) -> Self {
        let first_segments = |ps: Vec<&String>| {
            let mut v: Vec<String> = ps
                .into_iter()
                .filter_map(|p| {
                    p.strip_prefix('/')?.split('/').next().map(|t| json::unescape_pointer(t).into_owned())
                })
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let verdict: Vec<&String> =
            [&profile.success.field, &profile.rejection.code_field, &profile.rejection.message_field]
                .into_iter()
                .flatten()
                .collect();
        let wanted = first_segments(verdict.clone());
        let wanted_auth = first_segments(
            verdict.into_iter().chain(&profile.auth.token).chain(profile.auth.app.iter()).collect(),
        );
        let success_field = profile
            .success
            .field
            .as_deref()
            .and_then(|p| p.strip_prefix('/'))
            .filter(|p| !p.contains('/'))
            .map(str::to_string);
        Classifier {
            profile,
            redactor,
            mode,
            token_apps: HashMap::default(),
            fingerprints: HashMap::default(),
            kept_names: HashMap::default(),
            path_kinds: HashMap::default(),
            shown_paths: HashMap::default(),
            wanted,
            wanted_auth,
            success_field,
            limited: (false, false),
        }
    }

    /// The profile in use.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Which bodies of the exchange last classified were decoded only up to the inspection
    /// cap (`request`, `response`), so fields past it were not seen.
    pub fn decode_limited(&self) -> impl Iterator<Item = &'static str> {
        [("request", self.limited.0), ("response", self.limited.1)].into_iter().filter(|w| w.1).map(|w| w.0)
    }

    /// What an exchange is (auth call, mutation, read), without classifying it further.
    pub fn kind_of(&mut self, ex: &Exchange) -> Option<CallKind> {
        let head = &ex.request.as_ref()?.head;
        Some(self.kind(head.method(), split_uri(head.uri()).0))
    }

    fn shown_path(&mut self, path: &str) -> String {
        if let Some(p) = self.shown_paths.get(path) {
            return p.clone();
        }
        let mut shown = self.redactor.uri(path);
        if shown.contains('=') {
            // A path should hold no `name=value` pairs; if a hostile target put some there,
            // they are redacted as in a query: the column does not decide what is secret.
            shown = self.redactor.text(&shown);
        }
        if self.shown_paths.len() >= 65_536 {
            self.shown_paths.clear();
        }
        self.shown_paths.insert(path.into(), shown.clone());
        shown
    }

    fn fingerprint(&mut self, secret: &[u8]) -> String {
        if let Some(fp) = self.fingerprints.get(secret) {
            return fp.clone();
        }
        let fp = self.redactor.fingerprint(secret);
        if self.fingerprints.len() >= 4096 {
            self.fingerprints.clear();
        }
        self.fingerprints.insert(secret.into(), fp.clone());
        fp
    }

    /// Classifies one exchange; `None` for a response without its request.
    pub fn classify(&mut self, ex: &Exchange) -> Option<Call> {
        let req = ex.request.as_ref()?;
        let head = &req.head;
        let (path, raw_query) = split_uri(head.uri());
        let kind = self.kind(head.method(), path);
        let resp = ex.response.as_ref();

        let req_body = decode_body(head, &req.body, DEFAULT_DECODED_CAP);
        self.limited = (req_body.limited, false);
        let req_fields = Fields::parse(head, &req_body.bytes, raw_query);
        // Only the fields the profile names are read out of the response body: the JSON is
        // validated once and walked without building a tree.
        let wanted: Vec<&str> = if kind == CallKind::Auth { &self.wanted_auth } else { &self.wanted }
            .iter()
            .map(String::as_str)
            .collect();
        // An auth response is read for its token and app too: no early stop there.
        let success = self.success_field.as_deref().filter(|_| kind != CallKind::Auth);
        // Decode only a prefix first: the fields a verdict needs usually come first.
        let mut resp_body = resp.map(|r| decode_body(&r.head, &r.body, PREFIX));
        let prefix_enough = resp_body
            .as_ref()
            .is_none_or(|d| !d.limited || Json::parse(&d.bytes, &wanted, success).is_some_and(|j| j.stopped));
        if !prefix_enough {
            resp_body = resp.map(|r| decode_body(&r.head, &r.body, DEFAULT_DECODED_CAP));
        }
        let resp_json = resp_body.as_ref().and_then(|d| Json::parse(&d.bytes, &wanted, success));
        self.limited.1 = !prefix_enough && resp_body.as_ref().is_some_and(|d| d.limited);

        let credential = self.credential(head);
        let mut app = self.app_of_request(head, &req_fields, credential.as_deref());
        let issued_token = if kind == CallKind::Auth {
            self.bind_issued_token(&req_fields, resp_json.as_ref(), &mut app)
        } else {
            None
        };

        let from_log = matches!(req.origin, Origin::Line(_));
        let host = self.host_of(ex, head, from_log);
        let caller = match (&app, self.mode) {
            (Some(a), CallerMode::AppAndHost) => ["app:", a, "@", &host].concat(),
            (Some(a), CallerMode::App) => ["app:", a].concat(),
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
            path: self.shown_path(path),
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
            wire: ex.wire,
            key_incomplete: from_log
                && matches!(head.method(), "POST" | "PUT" | "PATCH")
                && !ex.logged.as_ref().is_some_and(|l| l.body),
            client_aborted: ex.logged.as_ref().is_some_and(|l| l.client_aborted),
            retry_after: resp.is_some_and(|r| r.head.header("retry-after").is_some()),
        })
    }

    /// An auth call: the token its response issues (fingerprinted) bound to its app, and
    /// `app` filled in from the response or the request when the credential named none.
    fn bind_issued_token(
        &mut self,
        req_fields: &Fields,
        resp_json: Option<&Json>,
        app: &mut Option<String>,
    ) -> Option<String> {
        let mut token = None;
        // The app the auth request names (OAuth2 `client_id`): the token it issues is
        // bound to it when the response names none, so the calls that carry the token
        // get the same caller as the auth call (docs/labels.md, caller).
        let named: Option<String> = self.profile.auth.request_app.iter().find_map(|f| req_fields.get(f));
        if let Some(json) = resp_json {
            let issued = self.profile.auth.token.as_deref().and_then(|p| json.pointer(p));
            let issued = issued.as_ref().and_then(Value::as_str);
            let bound_app =
                self.profile.auth.app.iter().find_map(|p| json.pointer(p).as_ref().and_then(scalar));
            if let Some(t) = issued {
                let fp = self.fingerprint(t.as_bytes());
                if let Some(a) = bound_app.clone().or_else(|| app.clone()).or_else(|| named.clone()) {
                    if self.token_apps.len() >= MAX_BINDINGS {
                        self.token_apps.clear();
                    }
                    self.token_apps.insert(binding_key(&fp), a.into());
                }
                token = Some(fp);
            }
            if app.is_none() {
                *app = bound_app;
            }
        }
        if app.is_none() {
            *app = named;
        }
        token
    }

    /// The host part of a caller: the client address, with the user agent for a log line
    /// (no connections there), or a HAR's producer.
    fn host_of(&self, ex: &Exchange, head: &Head, from_log: bool) -> String {
        // A HAR has no client address: its producer (browser, mitmproxy) stands in for it.
        let producer = ex
            .logged
            .as_ref()
            .and_then(|l| l.producer.as_deref())
            .filter(|_| ex.client.ip().is_unspecified());
        match head.header_str("user-agent").filter(|ua| from_log && !ua.is_empty()) {
            // Logs have no connections: the user agent tells processes on one host apart.
            Some(ua) => format!("{} ({})", ex.client.ip(), shorten(&self.redactor.text(ua), 60)),
            None if producer.is_some() => {
                format!("har:{}", shorten(&self.redactor.text(producer.unwrap_or("")), 40))
            }
            None => {
                let mut h = String::with_capacity(16);
                write_ip(&mut h, ex.client.ip());
                h
            }
        }
    }

    fn kind(&mut self, method: &str, path: &str) -> CallKind {
        // Paths repeat: match the patterns once per distinct path.
        let by_path = match self.path_kinds.get(path) {
            Some(k) => *k,
            None => {
                let c = &self.profile.calls;
                let any = |pats: &[String]| pats.iter().any(|p| path_matches(p, path));
                let k = if any(&c.auth) {
                    Some(CallKind::Auth)
                } else if any(&c.mutations) {
                    Some(CallKind::Mutation)
                } else if any(&c.reads) {
                    Some(CallKind::Read)
                } else {
                    None
                };
                if self.path_kinds.len() >= 65_536 {
                    self.path_kinds.clear();
                }
                self.path_kinds.insert(path.into(), k);
                k
            }
        };
        let c = &self.profile.calls;
        match by_path {
            Some(k) => k,
            None if c.mutation_methods.iter().any(|m| m.eq_ignore_ascii_case(method))
                || c.other == CallKindName::Mutation =>
            {
                CallKind::Mutation
            }
            None => CallKind::Read,
        }
    }

    /// Fingerprint of the first credential header present (never for Basic: it holds a
    /// password).
    fn credential(&mut self, head: &Head) -> Option<String> {
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
            let token = token.as_bytes().to_vec();
            return Some(self.fingerprint(&token));
        }
        None
    }

    fn app_of_request(&self, head: &Head, fields: &Fields, credential: Option<&str>) -> Option<String> {
        let c = &self.profile.credentials;
        c.app_headers
            .iter()
            .find_map(|h| head.header_str(h).filter(|v| !v.is_empty()).map(str::to_string))
            .or_else(|| c.app_fields.iter().find_map(|f| fields.get(f)))
            .or_else(|| {
                credential.and_then(|fp| self.token_apps.get(&binding_key(fp)).map(|a| a.to_string()))
            })
            .map(|a| self.redactor.text(&a))
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

/// `s` cut to `max` characters plus a `…` (the one shortening, `crate::text`).
fn shorten(s: &str, max: usize) -> String {
    crate::text::shorten(s, max + 1)
}

/// The first `max` characters of `s`, extended to the end of a token-like run so that a
/// token is never cut in half before scrubbing (a half token would not be recognised).
fn shown_prefix(s: &str, max: usize) -> &str {
    let Some((cut, _)) = s.char_indices().nth(max) else { return s };
    let token_char = |c: char| c.is_ascii_alphanumeric() || "-_.+/=%~".contains(c);
    let end = s[cut..].char_indices().find(|(_, c)| !token_char(*c)).map_or(s.len(), |(i, _)| cut + i);
    &s[..end]
}

mod callkey;
mod json;
mod outcome;

use callkey::{Fields, split_uri};
pub use json::Json;
use outcome::marker_ok;

#[cfg(test)]
mod tests;
