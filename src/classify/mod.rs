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
    use std::hash::{Hash, Hasher};
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
                    p.strip_prefix('/')?.split('/').next().map(|t| unescape_pointer(t).into_owned())
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
        let mut issued_token = None;
        if kind == CallKind::Auth {
            if let Some(json) = &resp_json {
                let issued = self.profile.auth.token.as_deref().and_then(|p| json.pointer(p));
                let issued = issued.as_ref().and_then(Value::as_str);
                let bound_app =
                    self.profile.auth.app.iter().find_map(|p| json.pointer(p).as_ref().and_then(scalar));
                if let Some(t) = issued {
                    let fp = self.fingerprint(t.as_bytes());
                    if let Some(a) = bound_app.clone().or_else(|| app.clone()) {
                        if self.token_apps.len() >= MAX_BINDINGS {
                            self.token_apps.clear();
                        }
                        self.token_apps.insert(binding_key(&fp), a.into());
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
            None => {
                let mut h = String::with_capacity(16);
                write_ip(&mut h, ex.client.ip());
                h
            }
        };
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

    /// Outcome, marker state, app code and message, and whether the verdict was visible.
    fn outcome(
        &self,
        ex: &Exchange,
        req: &Head,
        json: Option<&Json<'_>>,
        from_log: bool,
    ) -> (Outcome, Marker, Option<String>, Option<String>, bool) {
        let p = &self.profile;
        let Some(resp) = ex.response.as_ref() else {
            // A response lost in a gap, a guessed pairing, or a request given up by a limit
            // (its response may come later): the outcome is unknown, not "no response".
            let o = if ex.flags.has(Flags::RESPONSE_GAP)
                || ex.flags.has(Flags::PAIRING_UNCERTAIN)
                || ex.flags.has(Flags::LIMIT)
            {
                Outcome::Unknown
            } else {
                Outcome::NoResponse
            };
            return (o, Marker::Unseen, None, None, false);
        };
        let h = &resp.head;
        let status = h.status();
        let code = p.rejection.code_field.as_deref().and_then(|f| json?.pointer(f)).as_ref().and_then(scalar);
        let message = p
            .rejection
            .message_field
            .as_deref()
            .and_then(|f| json?.pointer(f))
            .as_ref()
            .and_then(Value::as_str)
            .map(|m| shorten(&self.redactor.text(&shorten(m, 400)), 120));
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
        // Only a real hole hides the verdict: a body cut short because the connection ended
        // (a client that gave up and reset it) leaves the head to decide, as the client's
        // library would have.
        let body_broken = ex.flags.has(Flags::RESPONSE_GAP);

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
            let success =
                p.success.field.as_deref().and_then(|f| json?.pointer(f)).as_ref().and_then(Value::as_bool);
            match (p.success.field.is_some(), success) {
                (true, Some(false)) => Outcome::AppError,
                (true, None)
                    if body_broken
                        || (resp.body.len > 0 && json.is_none_or(|j| !j.complete) && resp.body.capped) =>
                {
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
    ///
    /// The canonical call is `METHOD /path?k=v&… body`: the path with repeated slashes
    /// squashed, query and form fields sorted, JSON with its keys sorted (serde_json's map
    /// keeps them so), secret and volatile fields left out, any other body as its length
    /// and hash. It is built in one buffer: this runs once per call.
    fn call_key(&mut self, method: &str, path: &str, fields: &Fields) -> (u64, String) {
        use std::fmt::Write as _;
        let names = fields.names();
        // Decide once per distinct field name.
        for name in &names {
            if !self.kept_names.contains_key(*name) {
                let keep = self.redactor.secret_kind(name).is_none()
                    && !self.profile.fields.volatile.iter().any(|v| v.eq_ignore_ascii_case(name))
                    && !self.profile.credentials.app_headers.iter().any(|h| h.eq_ignore_ascii_case(name));
                if self.kept_names.len() >= 65_536 {
                    self.kept_names.clear();
                }
                self.kept_names.insert(name.to_string(), keep);
            }
        }
        let kept = &self.kept_names;
        let keep = |name: &str| kept.get(name).copied().unwrap_or(false);
        let mut canonical = String::with_capacity(64 + path.len());
        canonical.push_str(method);
        canonical.push(' ');
        squash_slashes_into(path, &mut canonical);
        let pairs = |canonical: &mut String, pairs: &[(String, String)]| {
            let mut p: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| keep(k)).collect();
            p.sort_unstable();
            for (i, (k, v)) in p.iter().enumerate() {
                if i > 0 {
                    canonical.push('&');
                }
                canonical.push_str(k);
                canonical.push('=');
                canonical.push_str(v);
            }
            !p.is_empty()
        };
        let mark = canonical.len();
        canonical.push('?');
        if !pairs(&mut canonical, &fields.query) {
            canonical.truncate(mark);
        }
        let mark = canonical.len();
        canonical.push(' ');
        let body = match &fields.body {
            Body::Form(p) => pairs(&mut canonical, p),
            // Copy (to strip fields) only when a field must go.
            Body::Json(v) => {
                let mut out = std::mem::take(&mut canonical).into_bytes();
                let _ = if names.iter().all(|n| keep(n)) {
                    serde_json::to_writer(&mut out, v)
                } else {
                    let mut v = v.clone();
                    strip_json(&mut v, &keep);
                    serde_json::to_writer(&mut out, &v)
                };
                // serde_json writes valid UTF-8.
                canonical = String::from_utf8(out).unwrap_or_default();
                true
            }
            Body::Raw(bytes) if bytes.is_empty() => false,
            Body::Raw(bytes) => {
                let mut h = std::hash::DefaultHasher::new();
                bytes.hash(&mut h);
                let _ = write!(canonical, "<{} bytes #{:016x}>", bytes.len(), h.finish());
                true
            }
        };
        if !body {
            canonical.truncate(mark);
        }
        let mut h = std::hash::DefaultHasher::new();
        canonical.hash(&mut h);
        (h.finish(), shorten(&self.redactor.text(shown_prefix(&canonical, KEY_SHOWN)), KEY_SHOWN))
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
    // RFC 9112 section 3.2: a target is in absolute-form only when it starts with a scheme
    // (`http://host/path`, proxies); `://` later in the target (a query carrying a URL) is
    // just data.
    let uri = match absolute_form_rest(uri) {
        Some(rest) => rest.find(['/', '?']).map_or("/", |j| &rest[j..]),
        None => uri,
    };
    match uri.split_once('?') {
        Some((p, q)) => (if p.is_empty() { "/" } else { p }, Some(q)),
        None => (uri, None),
    }
}

/// The part after `scheme://` when `uri` starts with a scheme (RFC 3986: ALPHA then ALPHA,
/// DIGIT, `+`, `-`, `.`).
fn absolute_form_rest(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once("://")?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))).then_some(rest)
}

/// Appends `path` with runs of `/` squashed to one.
fn squash_slashes_into(path: &str, out: &mut String) {
    let mut last_slash = false;
    for c in path.chars() {
        if c == '/' && last_slash {
            continue;
        }
        last_slash = c == '/';
        out.push(c);
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}…")
}

/// The first `max` characters of `s`, extended to the end of a token-like run so that a
/// token is never cut in half before scrubbing (a half token would not be recognised).
fn shown_prefix(s: &str, max: usize) -> &str {
    let Some((cut, _)) = s.char_indices().nth(max) else { return s };
    let token_char = |c: char| c.is_ascii_alphanumeric() || "-_.+/=%~".contains(c);
    let end = s[cut..].char_indices().find(|(_, c)| !token_char(*c)).map_or(s.len(), |(i, _)| cut + i);
    &s[..end]
}

/// The top-level fields of a JSON object body that a profile reads, found in one scan that
/// stops as soon as all of them were seen (a large body costs a prefix scan, not a tree).
pub struct Json<'a> {
    /// The wanted top-level fields found, as raw JSON.
    found: Vec<(std::borrow::Cow<'a, str>, &'a serde_json::value::RawValue)>,
    /// Did the scan reach the end of a valid document (or stop early by choice)?
    complete: bool,
    /// Did it stop early because it had what it needed?
    stopped: bool,
}

const STOP: &str = "dupcall: all wanted fields found";

struct TopFields<'a, 'w> {
    wanted: &'w [&'w str],
    /// A success field whose value `true` settles the verdict.
    success: Option<&'w str>,
    found: &'w mut Vec<(std::borrow::Cow<'a, str>, &'a serde_json::value::RawValue)>,
}

impl<'de> serde::de::DeserializeSeed<'de> for TopFields<'de, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TopFields<'de, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if self.wanted.contains(&k.as_ref()) && !self.found.iter().any(|(f, _)| *f == k) {
                let v: &'de serde_json::value::RawValue = map.next_value()?;
                let settled = self.success == Some(k.as_ref()) && v.get() == "true";
                self.found.push((k, v));
                if self.found.len() == self.wanted.len() || settled {
                    return Err(A::Error::custom(STOP));
                }
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'a> Json<'a> {
    /// Scans a JSON object for the `wanted` top-level fields; `None` if it is not an object.
    /// A cut body (a gap, a cap) still yields the fields before the cut.
    pub fn parse(bytes: &'a [u8], wanted: &[&str], success: Option<&str>) -> Option<Json<'a>> {
        use serde::de::DeserializeSeed;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        let mut found = Vec::new();
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let (complete, stopped) =
            match (TopFields { wanted, success, found: &mut found }).deserialize(&mut de) {
                Ok(()) => (de.end().is_ok(), false),
                Err(e) => {
                    let stop = e.to_string().starts_with(STOP);
                    (stop, stop)
                }
            };
        Some(Json { found, complete, stopped })
    }

    /// The value at a JSON pointer (`/data/token`) whose first segment was wanted.
    pub fn pointer(&self, pointer: &str) -> Option<Value> {
        use serde_json::value::RawValue;
        let mut tokens = pointer.strip_prefix('/')?.split('/');
        let first = unescape_pointer(tokens.next()?);
        let mut cur: &RawValue = self.found.iter().find(|(k, _)| *k == first).map(|(_, v)| *v)?;
        for token in tokens {
            let token = unescape_pointer(token);
            let text = cur.get().trim_start();
            cur = if text.starts_with('{') {
                let map: std::collections::BTreeMap<std::borrow::Cow<'_, str>, &RawValue> =
                    serde_json::from_str(cur.get()).ok()?;
                map.get(token.as_ref()).copied()?
            } else if text.starts_with('[') {
                let items: Vec<&RawValue> = serde_json::from_str(cur.get()).ok()?;
                items.get(token.parse::<usize>().ok()?).copied()?
            } else {
                return None;
            };
        }
        serde_json::from_str(cur.get()).ok()
    }
}

/// A JSON-pointer segment with `~1` and `~0` undone.
fn unescape_pointer(t: &str) -> std::borrow::Cow<'_, str> {
    if t.contains('~') { t.replace("~1", "/").replace("~0", "~").into() } else { t.into() }
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

    /// Every field name (query, form, JSON keys at any depth).
    fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.query.iter().map(|(k, _)| k.as_str()).collect();
        match &self.body {
            Body::Form(p) => v.extend(p.iter().map(|(k, _)| k.as_str())),
            Body::Json(j) => json_keys(j, &mut v),
            Body::Raw(_) => {}
        }
        v
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

fn json_keys<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k);
                json_keys(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| json_keys(x, out)),
        _ => {}
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
    if !s.contains(['%', '+']) {
        return s.to_string();
    }
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
