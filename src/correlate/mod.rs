//! Correlation and labels: [`Call`]s in request-time order in, labelled [`Row`]s out.
//!
//! Implements DESIGN section 4. For each mutation M, find the latest earlier mutation P by
//! the same caller with the same call key within the window, then decide:
//!
//! | label | when |
//! |---|---|
//! | `original` | no such P |
//! | `auto-refresh-retry` | P's response triggers the client's refresh rule, an auth call by the caller lies between P and M, and M's credential differs from P's where both are visible; for logs (verdict invisible) the pattern P → auth → M within the client's retry latency, `inferred` |
//! | `error-retry` | P failed (server error, no response, client or app error, or rejected without a refresh), or M was sent while P was unanswered |
//! | `genuine-duplicate` | P completed normally before M was sent, with no refresh rule firing: the application sent it again |
//! | `ambiguous` | P's outcome is unknown (lost in a gap) |
//!
//! Client retry markers outrank timing: the same `Idempotency-Key` on both means a retry,
//! different keys mean two calls; `X-Envoy-Attempt-Count` > 1 names a proxy retry.
//! State only spans the window: the mutations of all callers in one ring in time order
//! (at most [`MAX_REMEMBERED`], 72 bytes each) with a small index by (caller, call key),
//! and the latest auth calls of the callers that made some (at most [`MAX_AUTH_KEYS`]).
//! Memory is bounded by those caps, whatever the input size.

use std::collections::VecDeque;
use std::num::NonZeroU64;

use rustc_hash::FxHashMap as HashMap;
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;

use crate::classify::{Call, CallKind, Marker, Outcome};
use crate::exchange::{Flags, Timestamp};

/// A row's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Label {
    /// First call with its key by its caller in the window.
    Original,
    /// The client's automatic refresh-and-retry.
    AutoRefreshRetry,
    /// A retry after an error or timeout.
    ErrorRetry,
    /// The application sent the same call again.
    GenuineDuplicate,
    /// The evidence cannot decide.
    Ambiguous,
    /// An auth call.
    Auth,
    /// A read (with `--all`).
    Read,
}

impl Label {
    /// All labels in report order.
    pub const ALL: [Label; 7] = [
        Label::Original,
        Label::AutoRefreshRetry,
        Label::ErrorRetry,
        Label::GenuineDuplicate,
        Label::Ambiguous,
        Label::Auth,
        Label::Read,
    ];

    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Label::Original => "original",
            Label::AutoRefreshRetry => "auto-refresh-retry",
            Label::ErrorRetry => "error-retry",
            Label::GenuineDuplicate => "genuine-duplicate",
            Label::Ambiguous => "ambiguous",
            Label::Auth => "auth",
            Label::Read => "read",
        }
    }

    /// Parses a report name.
    pub fn parse(s: &str) -> Option<Label> {
        Label::ALL.into_iter().find(|l| l.name() == s.trim())
    }

    /// A repeat of an earlier call?
    pub fn is_repeat(self) -> bool {
        matches!(
            self,
            Label::AutoRefreshRetry | Label::ErrorRetry | Label::GenuineDuplicate | Label::Ambiguous
        )
    }
}

/// Was the work done twice?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DoubleExecution {
    /// P's work was done, so M's makes it twice.
    Yes,
    /// P had no effect.
    No,
    /// Cannot tell.
    Unknown,
}

impl DoubleExecution {
    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            DoubleExecution::Yes => "yes",
            DoubleExecution::No => "no",
            DoubleExecution::Unknown => "unknown",
        }
    }

    fn from_outcome(o: Outcome) -> Self {
        match o {
            Outcome::Ok | Outcome::OkUnconfirmed => DoubleExecution::Yes,
            Outcome::Rejected | Outcome::ClientError | Outcome::AppError => DoubleExecution::No,
            _ => DoubleExecution::Unknown,
        }
    }
}

/// Was the deciding response observed?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// The deciding response was observed.
    Confirmed,
    /// Inferred from the pattern (the verdict was not visible).
    Inferred,
}

impl Confidence {
    /// The report name.
    pub fn name(self) -> &'static str {
        match self {
            Confidence::Confirmed => "confirmed",
            Confidence::Inferred => "inferred",
        }
    }
}

/// The known story behind a repeat, for the plain-words diagnosis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The first attempt succeeded without the client's marker header (PowerJob 5.1.0 with
    /// auth off, or a proxy dropping the header): executed twice.
    MarkerMissing,
    /// The marker was present in another letter case (a proxy rewrote it; PowerJob #1062).
    MarkerCase,
    /// A genuinely rejected token (expired or invalid): harmless.
    TokenRejected,
    /// A timeout or connection failure made the client re-send, possibly elsewhere.
    Timeout,
    /// An error response made the client or application re-send.
    ErrorResponse,
    /// The application sent the call again.
    Application,
    /// A client retry marker (Idempotency-Key, attempt count) names a retry.
    RetryMarker,
    /// Evidence missing.
    Unknown,
}

/// One report row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// 1-based row id.
    pub id: u64,
    /// The call.
    pub call: Call,
    /// The label.
    pub label: Label,
    /// Row id of P.
    pub repeat_of: Option<u64>,
    /// Row id of the auth call that refreshed the token.
    pub refresh_id: Option<u64>,
    /// Milliseconds from P's request to this one.
    pub gap_ms: Option<f64>,
    /// Was the work done twice (repeats only)?
    pub double_execution: Option<DoubleExecution>,
    /// Confirmed or inferred.
    pub confidence: Confidence,
    /// One sentence naming the deciding facts by row id.
    pub evidence: String,
    /// The known story, for repeats.
    pub cause: Option<Cause>,
}

/// Correlation settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How far back an earlier identical call counts.
    pub window: Duration,
    /// The client's retry latency (profile), for patterns in logs.
    pub retry_latency: Duration,
    /// Also report reads.
    pub all: bool,
    /// The marker header name, for evidence (`X-POWERJOB-AUTH-PASSED`).
    pub marker: Option<String>,
    /// The marker's expected value.
    pub marker_value: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: Duration::from_secs(600),
            retry_latency: Duration::from_secs(2),
            all: false,
            marker: None,
            marker_value: None,
        }
    }
}

#[derive(Clone, Debug)]
struct Prior {
    id: u64,
    time: Timestamp,
    /// When the response ended; meaningful only when `answered`.
    resp_time: Timestamp,
    /// Hash of the credential fingerprint (only compared).
    credential: Option<NonZeroU64>,
    /// What few calls have (app error code and message, idempotency key, an unusual marker).
    rare: Option<Box<Rare>>,
    /// Client host and server address, shared by the calls that have them.
    route: Rc<Route>,
    /// Response body length, saturated below 4 GiB; [`NO_SIZE`] when not known (only
    /// compared).
    resp_bytes: u32,
    status: Option<u16>,
    outcome: Outcome,
    marker: PriorMarker,
    answered: bool,
    refresh_trigger: bool,
    verdict_seen: bool,
    from_log: bool,
}

/// [`Prior::resp_bytes`] of a call whose response size is not known.
const NO_SIZE: u32 = u32::MAX;

/// Where a call went from: few (host, server) pairs, interned.
#[derive(Debug, PartialEq, Eq)]
struct Route {
    host: Box<str>,
    server: Addr,
}

/// A server address in 20 bytes instead of `SocketAddr`'s 32 (no IPv6 flow info or scope).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Addr {
    ip: std::net::IpAddr,
    port: u16,
}

impl From<std::net::SocketAddr> for Addr {
    fn from(a: std::net::SocketAddr) -> Self {
        Addr { ip: a.ip(), port: a.port() }
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::net::SocketAddr::new(self.ip, self.port).fmt(f)
    }
}

/// The parts of a remembered call that few calls have.
#[derive(Clone, Debug, Default)]
struct Rare {
    code: Option<String>,
    message: Option<String>,
    idempotency_key: Option<Box<str>>,
    /// The marker, when it is [`PriorMarker::Other`].
    marker: Option<Marker>,
}

/// A remembered call's marker, compact: the common states inline, the rest in [`Rare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PriorMarker {
    NotApplicable,
    Unseen,
    Absent,
    /// Present with the expected value (`true`).
    Expected,
    Other,
}

impl PriorMarker {
    fn new(m: &Marker, expected: Option<&str>) -> Self {
        match m {
            Marker::NotApplicable => PriorMarker::NotApplicable,
            Marker::Unseen => PriorMarker::Unseen,
            Marker::Absent => PriorMarker::Absent,
            Marker::Present(v) if expected.is_some_and(|e| v.eq_ignore_ascii_case(e)) => {
                PriorMarker::Expected
            }
            _ => PriorMarker::Other,
        }
    }
}

impl Prior {
    fn from_call(c: &Call, id: u64, route: Rc<Route>, expected_marker: Option<&str>) -> Prior {
        let marker = PriorMarker::new(&c.marker, expected_marker);
        // The app's code and message only ever explain a failure (`outcome_words`): a
        // successful call's `code: 0, message: "success"` is not kept.
        let failed = matches!(c.outcome, Outcome::Rejected | Outcome::AppError);
        let (code, message) = if failed { (c.code.clone(), c.message.clone()) } else { (None, None) };
        let rare = (code.is_some()
            || message.is_some()
            || c.idempotency_key.is_some()
            || marker == PriorMarker::Other)
            .then(|| {
                Box::new(Rare {
                    code,
                    message,
                    idempotency_key: c.idempotency_key.as_deref().map(Box::from),
                    marker: (marker == PriorMarker::Other).then(|| c.marker.clone()),
                })
            });
        Prior {
            id,
            time: c.time,
            resp_time: c.resp_time.unwrap_or_default(),
            credential: c.credential.as_deref().map(credential_hash),
            rare,
            route,
            resp_bytes: c
                .resp_bytes
                .map_or(NO_SIZE, |n| u32::try_from(n).unwrap_or(NO_SIZE - 1).min(NO_SIZE - 1)),
            status: c.status,
            outcome: c.outcome,
            marker,
            answered: c.resp_time.is_some(),
            refresh_trigger: c.refresh_trigger,
            verdict_seen: c.verdict_seen,
            from_log: matches!(c.origin, crate::exchange::Origin::Line(_)),
        }
    }

    fn resp_bytes(&self) -> Option<u64> {
        (self.resp_bytes != NO_SIZE).then_some(u64::from(self.resp_bytes))
    }
    fn resp_time(&self) -> Option<Timestamp> {
        self.answered.then_some(self.resp_time)
    }
    fn code(&self) -> Option<&String> {
        self.rare.as_ref().and_then(|e| e.code.as_ref())
    }
    fn message(&self) -> Option<&String> {
        self.rare.as_ref().and_then(|e| e.message.as_ref())
    }
    fn idempotency_key(&self) -> Option<&str> {
        self.rare.as_ref().and_then(|e| e.idempotency_key.as_deref())
    }
    fn marker(&self, expected: Option<&str>) -> Marker {
        match self.marker {
            PriorMarker::NotApplicable => Marker::NotApplicable,
            PriorMarker::Unseen => Marker::Unseen,
            PriorMarker::Absent => Marker::Absent,
            PriorMarker::Expected => Marker::Present(expected.unwrap_or("true").to_string()),
            PriorMarker::Other => self.rare.as_ref().and_then(|e| e.marker.clone()).unwrap_or(Marker::Unseen),
        }
    }
}

/// A credential's hash, never zero (so that `Option` costs nothing).
/// One remembered mutation and its key in [`Correlator::index`].
#[derive(Debug)]
struct Slot {
    key: u64,
    prior: Prior,
}

/// The key of a remembered mutation: its caller and its call key, hashed together.
fn slot_key(caller: &str, call: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (caller, call).hash(&mut h);
    h.finish()
}

fn credential_hash(t: &str) -> NonZeroU64 {
    NonZeroU64::new(hash_str(t)).unwrap_or(NonZeroU64::MIN)
}

fn hash_str(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

#[derive(Clone, Copy, Debug)]
struct AuthCall {
    id: u64,
    time: Timestamp,
    /// Hash of the fingerprint of the token it issued (only compared).
    issued: Option<NonZeroU64>,
}

/// Auth calls of one caller (or host), oldest first.
type Auths = VecDeque<AuthCall>;

/// Remembers `auth` under `key`; makes room for a new key first (see [`make_room`]).
/// Gives the number of keys dropped while they still had auth calls in the window.
fn remember_auth(map: &mut HashMap<Box<str>, Auths>, key: &str, auth: AuthCall, horizon: i64) -> u64 {
    if let Some(a) = map.get_mut(key) {
        while a.front().is_some_and(|x| x.time.0 < horizon) || a.len() >= MAX_AUTHS {
            a.pop_front();
        }
        a.push_back(auth);
        return 0;
    }
    let dropped = make_room(map, horizon);
    map.insert(key.into(), VecDeque::from([auth]));
    dropped
}

/// Keeps `map` under [`MAX_AUTH_KEYS`]: drops the keys whose auth calls all left the
/// window, then, if it is still full, the half whose latest auth call is oldest (by row
/// id: unique, so exactly half goes however many share a timestamp).
fn make_room(map: &mut HashMap<Box<str>, Auths>, horizon: i64) -> u64 {
    if map.len() < MAX_AUTH_KEYS {
        return 0;
    }
    map.retain(|_, a| a.back().is_some_and(|x| x.time.0 >= horizon));
    if map.len() < MAX_AUTH_KEYS {
        return 0;
    }
    let mut latest: Vec<u64> = map.values().filter_map(|a| a.back()).map(|x| x.id).collect();
    let mid = latest.len() / 2;
    let (_, cut, _) = latest.select_nth_unstable(mid);
    let cut = *cut;
    let before = map.len();
    map.retain(|_, a| a.back().is_some_and(|x| x.id >= cut));
    (before - map.len()) as u64
}

/// A mutation whose call key is incomplete.
#[derive(Clone, Debug)]
struct Uncertain {
    id: u64,
    time: Timestamp,
    host: String,
    method: String,
    path: String,
}

/// Did the request lose bytes, so that its call key may not be the call's?
fn key_incomplete(c: &Call) -> bool {
    c.flags.has(Flags::REQUEST_GAP) || c.flags.has(Flags::REQUEST_TRUNCATED)
}

/// Earlier mutations remembered at most, over all callers: past it the oldest are
/// forgotten (a repeat of one of them is then reported `original`) and the run says so.
pub const MAX_REMEMBERED: usize = 200_000;
/// Auth calls remembered per caller (and per host, for logs): the latest ones, which are
/// the ones between a repeat and what it repeats.
const MAX_AUTHS: usize = 128;
/// Callers (and hosts) whose auth calls are remembered at most.
pub const MAX_AUTH_KEYS: usize = 100_000;
/// Mutations whose request lost bytes remembered at most.
const MAX_UNCERTAIN: usize = 1_000;

/// Labels calls as they come, in request-time order.
pub struct Correlator {
    settings: Settings,
    /// Recent mutations whose request lost bytes (gap, cut): their call key, and maybe
    /// their caller, are not the call's, so a later identical call cannot find them by
    /// key. Matched by client host, method and path instead.
    uncertain: VecDeque<Uncertain>,
    /// Per caller with any in the window: recent auth calls.
    callers: HashMap<Box<str>, Auths>,
    /// Every remembered mutation, oldest first: one ring for all callers, so that a caller
    /// with one call costs one slot, not a table of its own. A slot whose key a later call
    /// took over stays until it is the oldest, then goes.
    slots: VecDeque<Slot>,
    /// Position of `slots[0]`; positions count remembered mutations from the start.
    front: u64,
    /// The latest remembered mutation per (caller, call key), as a position in `slots`: a
    /// small entry, so the table's growth (hashbrown doubles well before it is full when
    /// keys come and go) costs little next to the slots.
    index: HashMap<u64, u64>,
    /// `index` has been given its final size (see [`Correlator::push`]).
    index_sized: bool,
    /// Routes, interned by a hash of host and server (every remembered call names one).
    routes: HashMap<u64, Rc<Route>>,
    /// Mutations forgotten early because [`MAX_REMEMBERED`] was reached.
    forgotten: u64,
    /// Auth calls with no app identity (a log shows no body: a refresh call's app is
    /// invisible), by host: they count for every app caller on that host.
    host_auths: HashMap<Box<str>, Auths>,
    /// Callers and hosts whose auth calls were dropped early because [`MAX_AUTH_KEYS`]
    /// was reached.
    auth_keys_dropped: u64,
    next_id: u64,
    pushed: u64,
}

impl Correlator {
    /// A correlator.
    pub fn new(settings: Settings) -> Self {
        Correlator {
            settings,
            uncertain: VecDeque::new(),
            callers: HashMap::default(),
            slots: VecDeque::new(),
            front: 0,
            index: HashMap::default(),
            index_sized: false,
            routes: HashMap::default(),
            forgotten: 0,
            host_auths: HashMap::default(),
            auth_keys_dropped: 0,
            next_id: 1,
            pushed: 0,
        }
    }

    /// Mutations forgotten before their window ended because [`MAX_REMEMBERED`] was reached.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Callers and hosts whose auth calls were forgotten before their window ended because
    /// [`MAX_AUTH_KEYS`] was reached.
    pub fn auth_keys_dropped(&self) -> u64 {
        self.auth_keys_dropped
    }

    /// The interned (host, server) of a call.
    fn route(&mut self, call: &Call) -> Rc<Route> {
        let server = Addr::from(call.server);
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut h = rustc_hash::FxHasher::default();
            (call.host.as_str(), server).hash(&mut h);
            h.finish()
        };
        match self.routes.get(&hash) {
            Some(r) if *r.host == *call.host && r.server == server => r.clone(),
            _ => {
                if self.routes.len() >= 100_000 {
                    self.routes.clear();
                }
                let r = Rc::new(Route { host: call.host.as_str().into(), server });
                self.routes.insert(hash, r.clone());
                r
            }
        }
    }

    /// Labels one call; `None` for a read when reads are not reported.
    pub fn push(&mut self, call: Call) -> Option<Row> {
        self.pushed += 1;
        let window = self.settings.window.as_nanos().min(i64::MAX as u128) as i64;
        let horizon = call.time.0.saturating_sub(window);
        if self.pushed % 4096 == 0 {
            for map in [&mut self.callers, &mut self.host_auths] {
                map.retain(|_, a| {
                    a.retain(|x| x.time.0 >= horizon);
                    !a.is_empty()
                });
            }
        }
        if call.kind == CallKind::Read && !self.settings.all {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        // Auth calls of the host without an app identity, for an app caller's refresh.
        let host_auths: Vec<AuthCall> = match (&call.app, call.kind) {
            (Some(_), CallKind::Mutation) if !self.host_auths.is_empty() => self
                .host_auths
                .get(call.host.as_str())
                .map(|a| a.iter().filter(|x| x.time.0 >= horizon).cloned().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if call.kind == CallKind::Auth {
            let auth =
                AuthCall { id, time: call.time, issued: call.issued_token.as_deref().map(credential_hash) };
            if call.app.is_none() {
                self.auth_keys_dropped += remember_auth(&mut self.host_auths, &call.host, auth, horizon);
            }
            self.auth_keys_dropped += remember_auth(&mut self.callers, &call.caller, auth, horizon);
        }
        // Forget what left the window, and the oldest beyond the memory cap.
        while let Some(oldest) = self.slots.front() {
            let over = self.slots.len() > MAX_REMEMBERED;
            if oldest.prior.time.0 >= horizon && !over {
                break;
            }
            let key = oldest.key;
            self.forgotten += u64::from(over);
            if self.index.get(&key) == Some(&self.front) {
                self.index.remove(&key);
            }
            self.slots.pop_front();
            self.front += 1;
        }
        while self.uncertain.front().is_some_and(|u| u.time.0 < horizon) {
            self.uncertain.pop_front();
        }

        let row = match call.kind {
            CallKind::Auth => {
                let evidence = match (&call.issued_token, call.outcome) {
                    (Some(t), _) => format!("Auth call by {}; it issued token {t}.", call.caller),
                    (None, o) if o.executed() => format!("Auth call by {}.", call.caller),
                    (None, o) => format!("Auth call by {}; outcome {}.", call.caller, o.name()),
                };
                simple_row(id, call, Label::Auth, evidence)
            }
            CallKind::Read => simple_row(id, call, Label::Read, "A read: no side effect.".to_string()),
            CallKind::Mutation => {
                let route = self.route(&call);
                let prior_key = slot_key(&call.caller, call.key);
                let prior = self
                    .index
                    .get(&prior_key)
                    .and_then(|pos| self.slots.get(usize::try_from(pos.checked_sub(self.front)?).ok()?))
                    .map(|s| &s.prior)
                    .filter(|p| p.time.0 >= horizon);
                let incomplete = key_incomplete(&call);
                // An earlier call with the same method and path whose request lost bytes may
                // be this very call: its key could not be compared.
                let maybe = self
                    .uncertain
                    .iter()
                    .rev()
                    .find(|u| u.host == call.host && u.method == call.method && u.path == call.path)
                    .cloned();
                // ... unless an identical call came after it.
                let maybe = maybe.filter(|u| prior.as_ref().is_none_or(|p| p.id < u.id));
                let row = match (prior, maybe) {
                    (_, Some(u)) => Row {
                        id,
                        gap_ms: Some(call.time.millis_since(u.time)),
                        label: Label::Ambiguous,
                        repeat_of: Some(u.id),
                        refresh_id: None,
                        double_execution: Some(DoubleExecution::Unknown),
                        confidence: Confidence::Inferred,
                        evidence: format!(
                            "May repeat #{}, the same {} {} whose request lost bytes in a capture gap: its call key could not be compared.",
                            u.id, call.method, call.path
                        ),
                        cause: Some(Cause::Unknown),
                        call,
                    },
                    (None, None) => {
                        let w = crate::profile::duration_text::format(self.settings.window);
                        let mut row = simple_row(
                            id,
                            call,
                            Label::Original,
                            format!("No earlier identical call by this caller within {w}."),
                        );
                        if incomplete {
                            row.confidence = Confidence::Inferred;
                            row.evidence = format!(
                                "No earlier identical call by this caller within {w}, as far as can be told: this request lost bytes in a capture gap, so its call key is incomplete."
                            );
                        }
                        row
                    }
                    (Some(p), None) => {
                        let mut auths: Vec<&AuthCall> =
                            (self.callers.get(call.caller.as_str()).into_iter().flatten())
                                .filter(|a| a.time.0 >= horizon)
                                .chain(&host_auths)
                                .collect();
                        auths.sort_by_key(|a| a.id);
                        let mut decision = decide(&self.settings, p, &call, &auths);
                        // A log has no request bodies: its call key is method + target only.
                        let body_method = matches!(call.method.as_str(), "POST" | "PUT" | "PATCH");
                        if p.from_log
                            && body_method
                            && matches!(decision.label, Label::GenuineDuplicate | Label::ErrorRetry)
                        {
                            decision.confidence = Confidence::Inferred;
                            decision.evidence.push_str(
                                " The log shows no request bodies: the two calls may have differed.",
                            );
                        }
                        Row {
                            id,
                            gap_ms: Some(call.time.millis_since(p.time)),
                            call,
                            label: decision.label,
                            repeat_of: Some(p.id),
                            refresh_id: decision.refresh,
                            double_execution: Some(decision.double),
                            confidence: decision.confidence,
                            evidence: decision.evidence,
                            cause: Some(decision.cause),
                        }
                    }
                };
                let c = &row.call;
                if incomplete {
                    self.uncertain.push_back(Uncertain {
                        id,
                        time: c.time,
                        host: c.host.clone(),
                        method: c.method.clone(),
                        path: c.path.clone(),
                    });
                    if self.uncertain.len() > MAX_UNCERTAIN {
                        self.uncertain.pop_front();
                    }
                }
                // This call is now the one remembered under its key.
                let remembered = Prior::from_call(c, id, route, self.settings.marker_value.as_deref());
                if !self.index_sized && self.index.len() > MAX_REMEMBERED / 2 {
                    // Keys come and go: hashbrown grows a table more than half full when its
                    // deleted slots run out, so at the cap it ends twice the cap's size
                    // anyway. Going there now makes the plateau the same on every long input.
                    self.index.reserve(2 * MAX_REMEMBERED - self.index.len());
                    self.index_sized = true;
                }
                self.index.insert(prior_key, self.front + self.slots.len() as u64);
                if self.slots.len() == self.slots.capacity() && self.slots.len() > MAX_REMEMBERED / 2 {
                    // The last growth: to the cap, not to twice the size.
                    self.slots.reserve_exact(MAX_REMEMBERED + 1 - self.slots.len());
                }
                self.slots.push_back(Slot { key: prior_key, prior: remembered });
                row
            }
        };
        Some(row)
    }
}

fn simple_row(id: u64, call: Call, label: Label, evidence: String) -> Row {
    let confidence = if call.verdict_seen { Confidence::Confirmed } else { Confidence::Inferred };
    Row {
        id,
        call,
        label,
        repeat_of: None,
        refresh_id: None,
        gap_ms: None,
        double_execution: None,
        confidence,
        evidence,
        cause: None,
    }
}

struct Decision {
    label: Label,
    refresh: Option<u64>,
    double: DoubleExecution,
    confidence: Confidence,
    evidence: String,
    cause: Cause,
}

/// The decision procedure for a mutation `m` repeating `p`.
fn decide(s: &Settings, p: &Prior, m: &Call, auths: &[&AuthCall]) -> Decision {
    let pid = p.id;
    let confidence = if p.verdict_seen { Confidence::Confirmed } else { Confidence::Inferred };
    let double = DoubleExecution::from_outcome(p.outcome);
    let elsewhere = if p.route.server != Addr::from(m.server) {
        format!(" to another server ({}, #{pid} went to {})", m.server, p.route.server)
    } else {
        String::new()
    };
    let hosts = if *p.route.host != *m.host {
        format!(" (#{pid} from {}, this one from {})", p.route.host, m.host)
    } else {
        String::new()
    };
    let unanswered = p.resp_time().is_none_or(|r| r > m.time) && p.outcome != Outcome::Unknown;
    // The auth call that refreshed the token: sent after P, before M; prefer the one that
    // issued the token M carries.
    // "Between" is by request order (row ids), not by clock: log lines share seconds.
    let between: Vec<&AuthCall> = auths.iter().copied().filter(|a| a.id > p.id).collect();
    let m_credential = m.credential.as_deref().map(credential_hash);
    let refresh = between
        .iter()
        .rev()
        .find(|a| a.issued.is_some() && a.issued == m_credential)
        .or_else(|| between.last())
        .copied();
    let cred_changed = match (p.credential, m_credential) {
        (Some(a), Some(b)) => Some(a != b),
        _ => None,
    };
    let new_token = match (&m.credential, cred_changed) {
        (Some(t), Some(true)) => format!(" with new token {t}"),
        _ => String::new(),
    };

    // 1. Client-supplied retry markers outrank timing.
    if let (Some(k1), Some(k2)) = (p.idempotency_key(), &m.idempotency_key) {
        if *k1 != **k2 {
            return Decision {
                label: Label::GenuineDuplicate,
                refresh: None,
                double,
                confidence,
                evidence: format!(
                    "Repeats #{pid} with a different Idempotency-Key ({k2} vs {k1}): the application sent two calls; #{pid} {}{}.",
                    outcome_words(s, p),
                    double_words(double)
                ),
                cause: Cause::Application,
            };
        }
    }
    let same_key = p.idempotency_key().is_some() && p.idempotency_key() == m.idempotency_key.as_deref();

    // 2. The client's refresh rule.
    let within_latency =
        m.time.0.saturating_sub(p.time.0) <= s.retry_latency.as_nanos() as i64 + response_wait(p);
    let log_pattern = !p.verdict_seen && refresh.is_some() && within_latency;
    // A log shows the marker, but never its letter case on the way to the client: when the
    // client still refreshed and re-sent at once, the header most likely reached it in another
    // case (a proxy rewriting it, PowerJob #1062).
    if p.from_log
        && p.outcome.executed()
        && matches!(p.marker, PriorMarker::Expected | PriorMarker::Other)
        && matches!(p.marker(s.marker_value.as_deref()), Marker::Present(_))
        && refresh.is_some()
        && within_latency
    {
        let marker = s.marker.as_deref().unwrap_or("the marker header");
        return Decision {
            label: Label::AutoRefreshRetry,
            refresh: refresh.map(|a| a.id),
            double,
            confidence: Confidence::Inferred,
            evidence: format!(
                "Repeats #{pid} after auth call #{}: the log shows #{pid} succeeded with {marker}, yet the client refreshed and re-sent at once; a log cannot show the header's letter case, so it most likely reached the client rewritten (a proxy, PowerJob #1062){}.",
                refresh.map_or(0, |a| a.id),
                double_words(double)
            ),
            cause: Cause::MarkerCase,
        };
    }
    if (p.refresh_trigger && refresh.is_some() && cred_changed != Some(false)) || log_pattern {
        let a = refresh.map(|a| a.id);
        let (cause, story) = refresh_story(s, p);
        let confidence = if p.verdict_seen { Confidence::Confirmed } else { Confidence::Inferred };
        let (double, seen) = if p.verdict_seen {
            (double, String::new())
        } else {
            let (double, sizes) = size_verdict(p, m);
            let why = if p.from_log {
                format!("The log does not show #{pid}'s verdict")
            } else {
                format!("#{pid}'s response was not captured")
            };
            let seen = format!(
                " {why}: inferred from the pattern call → auth call → same call within the client's retry latency{sizes}."
            );
            (double, seen)
        };
        return Decision {
            label: Label::AutoRefreshRetry,
            refresh: a,
            double,
            confidence,
            evidence: format!(
                "Repeats #{pid} after auth call #{}{new_token}: {story}; the client refreshed and re-sent{}.{seen}",
                a.unwrap_or(0),
                if p.verdict_seen { double_words(double) } else { "" }
            ),
            cause,
        };
    }
    if p.refresh_trigger && refresh.is_none() && cred_changed == Some(true) {
        let (cause, story) = refresh_story(s, p);
        return Decision {
            label: Label::AutoRefreshRetry,
            refresh: None,
            double,
            confidence: Confidence::Inferred,
            evidence: format!(
                "Repeats #{pid}{new_token}: {story}; the auth call that issued the new token was not captured{}.",
                double_words(double)
            ),
            cause,
        };
    }

    // 3. Retry markers without a refresh.
    if same_key {
        return Decision {
            label: Label::ErrorRetry,
            refresh: None,
            double,
            confidence,
            evidence: format!(
                "Repeats #{pid} with the same Idempotency-Key: the client retried; #{pid} {}{}.",
                outcome_words(s, p),
                double_words(double)
            ),
            cause: Cause::RetryMarker,
        };
    }
    if let Some((header, n)) = m.attempt.as_ref().filter(|(_, n)| *n > 1) {
        return Decision {
            label: Label::ErrorRetry,
            refresh: None,
            double,
            confidence,
            evidence: format!(
                "Repeats #{pid} as attempt {n} ({header}): a proxy or library retried; #{pid} {}{}.",
                outcome_words(s, p),
                double_words(double)
            ),
            cause: Cause::RetryMarker,
        };
    }

    // 4. Errors and timeouts.
    if p.outcome == Outcome::Unknown {
        return Decision {
            label: Label::Ambiguous,
            refresh: None,
            double: DoubleExecution::Unknown,
            confidence: Confidence::Inferred,
            evidence: format!(
                "Repeats #{pid}, whose response was lost in a capture gap: cannot tell whether it was rejected, failed or succeeded."
            ),
            cause: Cause::Unknown,
        };
    }
    if unanswered {
        let late = match (p.resp_time(), p.outcome) {
            (Some(r), o) => {
                format!("; #{pid}'s response came {} later: {}", human_ms(r.millis_since(m.time)), o.name())
            }
            (None, _) => format!("; #{pid} never got a response"),
        };
        return Decision {
            label: Label::ErrorRetry,
            refresh: None,
            double,
            confidence: if p.answered { Confidence::Confirmed } else { Confidence::Inferred },
            evidence: format!(
                "Sent {} after #{pid}{elsewhere} while #{pid} was still unanswered (client timeout){late}{}.",
                human_ms(m.time.millis_since(p.time)),
                double_words(double)
            ),
            cause: Cause::Timeout,
        };
    }
    if matches!(
        p.outcome,
        Outcome::ServerError | Outcome::ClientError | Outcome::AppError | Outcome::Rejected
    ) {
        return Decision {
            label: Label::ErrorRetry,
            refresh: None,
            double,
            confidence,
            evidence: format!(
                "Repeats #{pid}{elsewhere}, which {}; re-sent without a token refresh{}.",
                outcome_words(s, p),
                double_words(double)
            ),
            cause: Cause::ErrorResponse,
        };
    }

    // 5. P completed normally before M was sent: the application sent it again.
    let double = if p.verdict_seen { double } else { DoubleExecution::Unknown };
    let proactive = refresh
        .map(|a| {
            format!(" (auth call #{} in between was not a retry: #{pid} gave no reason to refresh)", a.id)
        })
        .unwrap_or_default();
    Decision {
        label: Label::GenuineDuplicate,
        refresh: None,
        double,
        confidence,
        evidence: format!(
            "Repeats #{pid}{hosts}, which {} {} earlier{proactive}: the application sent the call again{}.",
            outcome_words(s, p),
            human_ms(m.time.millis_since(p.time)),
            double_words(double)
        ),
        cause: Cause::Application,
    }
}

/// From logged response sizes: the retry M succeeded, so P answered with the same size most
/// likely succeeded too (executed twice); a different size most likely was the rejection.
fn size_verdict(p: &Prior, m: &Call) -> (DoubleExecution, String) {
    let pid = p.id;
    match (p.resp_bytes(), m.resp_bytes.map(|n| n.min(u64::from(NO_SIZE - 1))), m.status) {
        (Some(a), Some(b), Some(200)) if a > 0 && a == b => (
            DoubleExecution::Yes,
            format!(
                "; #{pid}'s response was the same size as the retry's ({a} bytes), so it most likely succeeded: probably executed twice"
            ),
        ),
        (Some(a), Some(b), Some(200)) if a > 0 && b > 0 => (
            DoubleExecution::No,
            format!(
                "; #{pid}'s response size ({a} bytes) differs from the successful retry's ({b} bytes), so it most likely was the rejection"
            ),
        ),
        _ => (DoubleExecution::Unknown, String::new()),
    }
}

/// How long P waited for its response (logs give the duration, captures the response time).
fn response_wait(p: &Prior) -> i64 {
    p.resp_time().map_or(0, |r| r.0.saturating_sub(p.time.0).max(0))
}

/// Why the client refreshed, in words, with the cause.
fn refresh_story(s: &Settings, p: &Prior) -> (Cause, String) {
    let pid = p.id;
    let marker = s.marker.as_deref().unwrap_or("the marker header");
    let want = s.marker_value.as_deref().unwrap_or("true");
    match (&p.marker(s.marker_value.as_deref()), p.outcome) {
        (Marker::OtherCase(name, value), o) if o.executed() => (
            Cause::MarkerCase,
            format!(
                "#{pid} succeeded but carried `{name}: {value}` in another letter case, which the client looks up case-sensitively as {marker} (a proxy rewrote the header, PowerJob #1062)"
            ),
        ),
        (Marker::Absent, o) if o.executed() => (
            Cause::MarkerMissing,
            format!(
                "#{pid} succeeded (HTTP {}{}) but lacked {marker}: {want} (a PowerJob 5.1.0 server with auth off, or a proxy dropping the header)",
                p.status.unwrap_or(0),
                success_words(p)
            ),
        ),
        (Marker::Present(v), o) if o.executed() => {
            (Cause::MarkerMissing, format!("#{pid} succeeded but its {marker} was `{v}`, not `{want}`"))
        }
        _ if p.outcome == Outcome::Rejected => {
            (Cause::TokenRejected, format!("#{pid} was rejected ({})", rejection_words(s, p)))
        }
        _ if !p.verdict_seen => match p.status {
            Some(st) => (Cause::Unknown, format!("#{pid} answered HTTP {st}")),
            None => (Cause::Unknown, format!("#{pid} got no visible answer")),
        },
        _ => (Cause::Unknown, format!("#{pid} {}", outcome_words(s, p))),
    }
}

fn success_words(p: &Prior) -> &'static str {
    if p.outcome.executed() && p.verdict_seen { ", success" } else { "" }
}

fn rejection_words(s: &Settings, p: &Prior) -> String {
    let mut parts = Vec::new();
    if let Marker::Present(v) = &p.marker(s.marker_value.as_deref()) {
        parts.push(format!("{}: {v}", s.marker.as_deref().unwrap_or("marker")));
    }
    if let Some(st) = p.status.filter(|s| *s != 200) {
        parts.push(format!("HTTP {st}"));
    }
    if let Some(c) = p.code() {
        parts.push(format!("code {c}"));
    }
    if let Some(m) = p.message() {
        parts.push(m.clone());
    }
    if parts.is_empty() { "auth rejected".into() } else { parts.join(", ") }
}

fn outcome_words(s: &Settings, p: &Prior) -> String {
    let status = p.status.map_or(String::new(), |st| format!("HTTP {st}"));
    if !p.verdict_seen && p.outcome == Outcome::Ok {
        return format!("answered {status} (the log does not show whether it succeeded)");
    }
    match p.outcome {
        Outcome::Ok => format!("succeeded ({status})"),
        Outcome::OkUnconfirmed => {
            let marker = s.marker.as_deref().unwrap_or("the marker header");
            format!("succeeded ({status}) without {marker}")
        }
        Outcome::Rejected => format!("was rejected ({})", rejection_words(s, p)),
        Outcome::AppError => match p.code() {
            Some(c) => format!("failed with an application error (code {c})"),
            None => "failed with an application error (success=false)".into(),
        },
        Outcome::ClientError => format!("failed ({status})"),
        Outcome::ServerError => format!("failed ({status})"),
        Outcome::NoResponse => "got no response".into(),
        Outcome::Unknown => "has an unknown outcome".into(),
    }
}

fn double_words(d: DoubleExecution) -> &'static str {
    match d {
        DoubleExecution::Yes => "; executed twice",
        DoubleExecution::No => "; the first attempt had no effect",
        DoubleExecution::Unknown => "; whether the first attempt took effect is unknown",
    }
}

fn human_ms(ms: f64) -> String {
    let ms = ms.max(0.0);
    if ms < 1000.0 { format!("{ms:.0} ms") } else { format!("{:.1} s", ms / 1000.0) }
}

#[cfg(test)]
mod tests;
