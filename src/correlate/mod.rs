//! Correlation and labels: [`Call`]s in request-time order in, labelled [`Row`]s out.
//!
//! For each mutation M, find the latest earlier mutation P by the same caller with the same
//! call key within the window; no such P makes M the `original`, otherwise the decision
//! table in [`rules`] labels M against P (docs/labels.md lists the same rows in the same
//! order, with examples). The evidence wording is kept apart from the conditions, in
//! [`evidence`]; the row types are in [`row`]; what is remembered, and its caps, in
//! [`memory`].
//!
//! State only spans the window: the mutations of all callers in one ring in time order
//! (at most [`MAX_REMEMBERED`]) with a small index by (caller, call key), the latest auth
//! calls of the callers that made some (at most [`MAX_AUTH_KEYS`]), and each recent
//! caller's last call (at most [`MAX_LAST_CALLS`]). Memory is bounded by those caps,
//! whatever the input size.

mod evidence;
mod memory;
mod row;
mod rules;

pub use row::{Cause, Confidence, DoubleExecution, Label, Row};

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use rustc_hash::FxHashMap as HashMap;

use crate::classify::{Call, CallKind};
use crate::exchange::{Flags, Timestamp};
use memory::{Addr, AuthCall, Auths, Prior, Route, Slot, credential_hash, hash_str, remember_auth, slot_key};

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
    /// The profile's known causes of a missing marker, for evidence.
    pub missing_marker_hint: Option<String>,
    /// The profile's known cause of a marker in another letter case, for evidence.
    pub marker_case_hint: Option<String>,
    /// The profile's client refreshes after a response without its marker, successful or
    /// not (PowerJob v5): in a log, the shape call → auth call → same call is its retry
    /// whatever the first answer was.
    pub refresh_on_success: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window: Duration::from_secs(600),
            retry_latency: Duration::from_secs(2),
            all: false,
            marker: None,
            marker_value: None,
            missing_marker_hint: None,
            marker_case_hint: None,
            refresh_on_success: false,
        }
    }
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
/// Callers whose last call is remembered at most (for "nothing in between"): past it the
/// table starts afresh, and a pattern that needs it is not claimed until it has refilled.
pub const MAX_LAST_CALLS: usize = 200_000;
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
    /// Auth calls *with* an app identity, by host: a caller known only by its host (no app
    /// identity visible: a sanitized HAR, a log) may be any of that host's apps.
    app_auths_by_host: HashMap<Box<str>, Auths>,
    /// Callers and hosts whose auth calls were dropped early because [`MAX_AUTH_KEYS`]
    /// was reached.
    auth_keys_dropped: u64,
    /// The latest remembered mutation per (client host, call key), as a position in
    /// `slots`: a call whose app identity was lost (its token's auth call not captured) is
    /// still the same caller as that host's app. Positions are never reused, so an entry
    /// below `front` is simply gone; the table starts afresh past twice the ring's cap.
    host_index: HashMap<u64, u64>,
    /// Sequence number of each recent caller's last call (by a hash of the caller).
    last_call: HashMap<u64, u64>,
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
            app_auths_by_host: HashMap::default(),
            auth_keys_dropped: 0,
            last_call: HashMap::default(),
            host_index: HashMap::default(),
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
            for map in [&mut self.callers, &mut self.host_auths, &mut self.app_auths_by_host] {
                map.retain(|_, a| {
                    a.retain(|x| x.time.0 >= horizon);
                    !a.is_empty()
                });
            }
        }
        let seq = self.pushed;
        if self.last_call.len() >= MAX_LAST_CALLS {
            self.last_call.clear();
        }
        let prev_by_caller = self.last_call.insert(hash_str(&call.caller), seq);
        // The host's last call too: a log's auth call has no app identity, so its caller is
        // the host, and "nothing in between" is judged on the host's calls.
        let prev_by_host = self.last_call.insert(hash_str(&call.host).rotate_left(1), seq);
        if call.kind == CallKind::Read && !self.settings.all {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        let at = At { id, seq, horizon, prev_by_caller, prev_by_host };
        // Auth calls of the host without an app identity, for an app caller's refresh.
        // For a caller known by its host only: the auth calls of the host's apps.
        let by_host = if call.app.is_some() { &self.host_auths } else { &self.app_auths_by_host };
        let host_auths: Vec<AuthCall> = match by_host.get(call.host.as_str()) {
            Some(a) if call.kind == CallKind::Mutation => {
                a.iter().filter(|x| x.time.0 >= horizon).copied().collect()
            }
            _ => Vec::new(),
        };
        if call.kind == CallKind::Auth {
            self.remember_auth_call(&call, &at);
        }
        self.forget(horizon);
        Some(match call.kind {
            CallKind::Auth => auth_row(id, call),
            CallKind::Read => simple_row(id, call, Label::Read, "A read: no side effect.".to_string()),
            CallKind::Mutation => self.mutation(call, &at, &host_auths),
        })
    }

    /// Remembers an auth call under its host or its app, and under its caller.
    fn remember_auth_call(&mut self, call: &Call, at: &At) {
        let auth = AuthCall {
            id: at.id,
            seq: at.seq,
            prev_seq: if call.app.is_none() { at.prev_by_host } else { at.prev_by_caller },
            by_host: call.app.is_none(),
            time: call.time,
            resp_time: call.resp_time.unwrap_or(call.time),
            issued: call.issued_token.as_deref().map(credential_hash),
        };
        let by_host = if call.app.is_none() { &mut self.host_auths } else { &mut self.app_auths_by_host };
        self.auth_keys_dropped += remember_auth(by_host, &call.host, auth, at.horizon);
        self.auth_keys_dropped += remember_auth(&mut self.callers, &call.caller, auth, at.horizon);
    }

    /// Forgets what left the window, and the oldest beyond the memory cap.
    fn forget(&mut self, horizon: i64) {
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
    }

    /// Labels a mutation against the latest identical one, then remembers it in its place.
    fn mutation(&mut self, call: Call, at: &At, host_auths: &[AuthCall]) -> Row {
        let route = self.route(&call);
        let keys = Keys {
            prior: slot_key(&call.caller, call.key),
            host: slot_key(&call.host, call.key).rotate_left(7),
        };
        let incomplete = key_incomplete(&call);
        let row = self.label_mutation(call, at, &keys, incomplete, host_auths);
        self.remember_mutation(&row, at.seq, route, &keys, incomplete);
        row
    }

    /// The row of a mutation: `original`, a repeat of a call whose request lost bytes, or the
    /// decision table's label against the earlier identical call P.
    fn label_mutation(
        &self,
        call: Call,
        at: &At,
        keys: &Keys,
        incomplete: bool,
        host_auths: &[AuthCall],
    ) -> Row {
        let horizon = at.horizon;
        let slot = |pos: &u64| self.slots.get(usize::try_from(pos.checked_sub(self.front)?).ok()?);
        let prior = self
            .index
            .get(&keys.prior)
            .and_then(slot)
            .map(|s| &s.prior)
            .or_else(|| {
                // No P by this caller: the same host's P, when one side's app
                // identity is unknown (a token whose auth call was lost).
                let p = &self.host_index.get(&keys.host).and_then(slot)?.prior;
                (!p.app_known() || call.app.is_none()).then_some(p)
            })
            .filter(|p| p.time.0 >= horizon);
        // An earlier call with the same method and path whose request lost bytes may
        // be this very call: its key could not be compared.
        let maybe = self
            .uncertain
            .iter()
            .rev()
            .find(|u| u.host == call.host && u.method == call.method && u.path == call.path)
            // ... unless an identical call came after it.
            .filter(|u| prior.as_ref().is_none_or(|p| p.id < u.id));
        let id = at.id;
        match (prior, maybe) {
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
                rule: Some("request-lost-bytes"),
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
                        .chain(host_auths)
                        .collect();
                auths.sort_by_key(|a| a.seq);
                let between = rules::Between {
                    auths: &auths,
                    m_prev_by_caller: at.prev_by_caller,
                    m_prev_by_host: at.prev_by_host,
                };
                let d = rules::decide(&self.settings, p, &call, &between);
                Row {
                    id,
                    gap_ms: Some(call.time.millis_since(p.time)),
                    call,
                    label: d.label,
                    repeat_of: Some(p.id),
                    refresh_id: d.refresh,
                    double_execution: Some(d.double),
                    confidence: d.confidence,
                    evidence: d.evidence,
                    cause: Some(d.cause),
                    rule: Some(d.rule),
                }
            }
        }
    }

    /// Makes a labelled mutation the one remembered under its keys.
    fn remember_mutation(&mut self, row: &Row, seq: u64, route: Rc<Route>, keys: &Keys, incomplete: bool) {
        let c = &row.call;
        if incomplete {
            self.uncertain.push_back(Uncertain {
                id: row.id,
                time: c.time,
                host: c.host.clone(),
                method: c.method.clone(),
                path: c.path.clone(),
            });
            if self.uncertain.len() > MAX_UNCERTAIN {
                self.uncertain.pop_front();
            }
        }
        let remembered = Prior::from_call(c, row.id, seq, route, self.settings.marker_value.as_deref());
        if !self.index_sized && self.index.len() > MAX_REMEMBERED / 2 {
            // Keys come and go: hashbrown grows a table more than half full when its
            // deleted slots run out, so at the cap it ends twice the cap's size
            // anyway. Going there now makes the plateau the same on every long input.
            self.index.reserve(2 * MAX_REMEMBERED - self.index.len());
            self.index_sized = true;
        }
        self.index.insert(keys.prior, self.front + self.slots.len() as u64);
        if self.host_index.len() >= 2 * MAX_REMEMBERED {
            self.host_index.clear();
        }
        self.host_index.insert(keys.host, self.front + self.slots.len() as u64);
        if self.slots.len() == self.slots.capacity() && self.slots.len() > MAX_REMEMBERED / 2 {
            // The last growth: to the cap, not to twice the size.
            self.slots.reserve_exact(MAX_REMEMBERED + 1 - self.slots.len());
        }
        self.slots.push_back(Slot { key: keys.prior, prior: remembered });
    }
}

/// Where a call stands in the input: its row id, its position, the window's start, and the
/// positions of its caller's and its host's previous calls.
struct At {
    id: u64,
    seq: u64,
    horizon: i64,
    prev_by_caller: Option<u64>,
    prev_by_host: Option<u64>,
}

/// A mutation's index keys: by (caller, call key) and by (host, call key).
struct Keys {
    prior: u64,
    host: u64,
}

fn auth_row(id: u64, call: Call) -> Row {
    let evidence = match (&call.issued_token, call.outcome) {
        (Some(t), _) => format!("Auth call by {}; it issued token {t}.", call.caller),
        (None, o) if o.executed() => format!("Auth call by {}.", call.caller),
        (None, o) => format!("Auth call by {}; outcome {}.", call.caller, o.name()),
    };
    simple_row(id, call, Label::Auth, evidence)
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
        rule: None,
    }
}

#[cfg(test)]
mod tests;
