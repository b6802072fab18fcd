//! The correlator's memory: remembered mutations ([`Prior`], compact, in one ring with a
//! small index) and auth calls per caller ([`AuthCall`]), with the caps that bound them.

use std::collections::VecDeque;
use std::num::NonZeroU64;
use std::rc::Rc;

use rustc_hash::FxHashMap as HashMap;

use super::{MAX_AUTH_KEYS, MAX_AUTHS};
use crate::classify::{Call, Marker, Outcome};
use crate::exchange::{Flags, InputId, Timestamp, Wire};

/// A remembered mutation: what the rules need of P, compact (most calls are kept until
/// the window passes them).
#[derive(Clone, Debug)]
pub(super) struct Prior {
    pub id: u64,
    /// Sequence number among all calls pushed (reads included): "between" is by it.
    pub seq: u64,
    pub time: Timestamp,
    /// When the response started, in microseconds after the request (saturated);
    /// meaningful only when answered.
    pub resp_us: u32,
    /// Hash of the credential fingerprint (only compared).
    pub credential: Option<NonZeroU64>,
    /// What few calls have (app error code and message, idempotency key, an unusual marker).
    pub rare: Option<Box<Rare>>,
    /// Client host and server address, shared by the calls that have them.
    pub route: Rc<Route>,
    /// Response body length, saturated below 4 GiB; [`NO_SIZE`] when not known (only
    /// compared).
    pub resp_bytes: u32,
    pub status: Option<u16>,
    pub outcome: Outcome,
    pub marker: PriorMarker,
    /// The yes/no facts, one bit each ([`Prior::bit`]).
    pub bits: u16,
}

/// [`Prior::resp_bytes`] of a call whose response size is not known.
pub(super) const NO_SIZE: u32 = u32::MAX;

/// Where a call went from: few (host, server) pairs, interned.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Route {
    pub host: Box<str>,
    pub server: Addr,
}

/// A server address in 20 bytes instead of `SocketAddr`'s 32 (no IPv6 flow info or scope).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Addr {
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
pub(super) struct Rare {
    code: Option<String>,
    message: Option<String>,
    idempotency_key: Option<Box<str>>,
    /// The marker, when it is [`PriorMarker::Other`].
    marker: Option<Marker>,
    /// What the wire showed when P's connection closed early (captures).
    wire: Wire,
    /// P's connection and input (kept with the wire facts, which are about it).
    conn: u64,
    input: InputId,
}

/// A remembered call's marker, compact: the common states inline, the rest in [`Rare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PriorMarker {
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
    pub fn from_call(c: &Call, id: u64, seq: u64, route: Rc<Route>, expected_marker: Option<&str>) -> Prior {
        let marker = PriorMarker::new(&c.marker, expected_marker);
        // The app's code and message only ever explain a failure (`outcome_words`): a
        // successful call's `code: 0, message: "success"` is not kept.
        let failed = matches!(c.outcome, Outcome::Rejected | Outcome::AppError);
        let (code, message) = if failed { (c.code.clone(), c.message.clone()) } else { (None, None) };
        let closed = c.wire.client_closed.is_some()
            || c.wire.server_closed.is_some()
            || c.wire.capture_ended
            || c.wire.refused.is_some();
        let rare = (code.is_some()
            || message.is_some()
            || c.idempotency_key.is_some()
            || marker == PriorMarker::Other
            || closed)
            .then(|| {
                Box::new(Rare {
                    code,
                    message,
                    idempotency_key: c.idempotency_key.as_deref().map(Box::from),
                    marker: (marker == PriorMarker::Other).then(|| c.marker.clone()),
                    wire: c.wire,
                    conn: c.conn,
                    input: c.input,
                })
            });
        Prior {
            id,
            seq,
            time: c.time,
            resp_us: c
                .resp_time
                .map_or(0, |r| u32::try_from(r.0.saturating_sub(c.time.0).max(0) / 1000).unwrap_or(u32::MAX)),
            credential: c.credential.as_deref().map(credential_hash),
            rare,
            route,
            resp_bytes: c
                .resp_bytes
                .map_or(NO_SIZE, |n| u32::try_from(n).unwrap_or(NO_SIZE - 1).min(NO_SIZE - 1)),
            status: c.status,
            outcome: c.outcome,
            marker,
            bits: [
                c.resp_time.is_some(),
                c.refresh_trigger,
                c.verdict_seen,
                matches!(c.origin, crate::exchange::Origin::Line(_)),
                c.key_incomplete,
                c.flags.has(Flags::RESPONSE_TRUNCATED) && !c.flags.has(Flags::RESPONSE_GAP),
                c.client_aborted,
                c.flags.has(Flags::RESPONSE_GAP),
                c.retry_after,
                c.app.is_some(),
            ]
            .iter()
            .enumerate()
            .fold(0, |bits, (i, b)| bits | (u16::from(*b) << i)),
        }
    }

    pub fn resp_bytes(&self) -> Option<u64> {
        (self.resp_bytes != NO_SIZE).then_some(u64::from(self.resp_bytes))
    }
    pub fn resp_time(&self) -> Option<Timestamp> {
        self.answered().then_some(Timestamp(self.time.0.saturating_add(i64::from(self.resp_us) * 1000)))
    }
    fn bit(&self, i: u16) -> bool {
        self.bits & (1 << i) != 0
    }
    /// Its response was seen.
    pub fn answered(&self) -> bool {
        self.bit(0)
    }
    /// The profile's client would refresh and re-send after its response.
    pub fn refresh_trigger(&self) -> bool {
        self.bit(1)
    }
    /// Its deciding response (verdict, marker) was observable.
    pub fn verdict_seen(&self) -> bool {
        self.bit(2)
    }
    /// It came from an access log.
    pub fn is_from_log(&self) -> bool {
        self.bit(3)
    }
    /// Its call key may not be the whole call (a log without request bodies).
    pub fn key_incomplete(&self) -> bool {
        self.bit(4)
    }
    /// Only its response's head arrived (the body was cut when the connection ended).
    pub fn head_only(&self) -> bool {
        self.bit(5)
    }
    /// The log says the client went away before the response.
    pub fn client_aborted(&self) -> bool {
        self.bit(6)
    }
    /// Its response was cut by a real hole in the byte stream.
    pub fn resp_gap(&self) -> bool {
        self.bit(7)
    }
    /// Its response carried `Retry-After`.
    pub fn retry_after(&self) -> bool {
        self.bit(8)
    }
    /// Its caller had a visible app identity.
    pub fn app_known(&self) -> bool {
        self.bit(9)
    }
    /// The server refused it unprocessed (HTTP/2).
    pub fn refused(&self) -> bool {
        self.wire().refused.is_some()
    }
    /// Position of the request on its connection (captures; 0 when not known).
    pub fn nth(&self) -> u32 {
        self.wire().nth
    }
    /// It went out on another connection than `call`.
    pub fn other_conn(&self, call: &Call) -> bool {
        self.rare.as_ref().is_some_and(|r| r.conn != call.conn || r.input != call.input)
    }

    pub fn code(&self) -> Option<&String> {
        self.rare.as_ref().and_then(|e| e.code.as_ref())
    }
    pub fn message(&self) -> Option<&String> {
        self.rare.as_ref().and_then(|e| e.message.as_ref())
    }
    pub fn idempotency_key(&self) -> Option<&str> {
        self.rare.as_ref().and_then(|e| e.idempotency_key.as_deref())
    }
    /// What the wire showed about P's connection (default when nothing closed it early).
    pub fn wire(&self) -> Wire {
        self.rare.as_ref().map(|r| r.wire).unwrap_or_default()
    }
    pub fn marker(&self, expected: Option<&str>) -> Marker {
        match self.marker {
            PriorMarker::NotApplicable => Marker::NotApplicable,
            PriorMarker::Unseen => Marker::Unseen,
            PriorMarker::Absent => Marker::Absent,
            PriorMarker::Expected => Marker::Present(expected.unwrap_or("true").to_string()),
            PriorMarker::Other => self.rare.as_ref().and_then(|e| e.marker.clone()).unwrap_or(Marker::Unseen),
        }
    }
}

/// One remembered mutation and its key in the correlator's index.
#[derive(Debug)]
pub(super) struct Slot {
    pub key: u64,
    pub prior: Prior,
}

/// The key of a remembered mutation: its caller and its call key, hashed together.
pub(super) fn slot_key(caller: &str, call: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    (caller, call).hash(&mut h);
    h.finish()
}

/// A credential's hash, never zero (so that `Option` costs nothing).
pub(super) fn credential_hash(t: &str) -> NonZeroU64 {
    NonZeroU64::new(hash_str(t)).unwrap_or(NonZeroU64::MIN)
}

pub(super) fn hash_str(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// A remembered auth call.
#[derive(Clone, Copy, Debug)]
pub(super) struct AuthCall {
    pub id: u64,
    /// Sequence number among all calls pushed.
    pub seq: u64,
    /// Sequence number of the caller's call before it, if remembered.
    pub prev_seq: Option<u64>,
    /// It had no app identity (a log): `prev_seq` is the host's previous call.
    pub by_host: bool,
    pub time: Timestamp,
    /// When its response started (the request time when it was not seen).
    pub resp_time: Timestamp,
    /// Hash of the fingerprint of the token it issued (only compared).
    pub issued: Option<NonZeroU64>,
}

/// Auth calls of one caller (or host), oldest first.
pub(super) type Auths = VecDeque<AuthCall>;

/// Remembers `auth` under `key`; makes room for a new key first (see [`make_room`]).
/// Gives the number of keys dropped while they still had auth calls in the window.
pub(super) fn remember_auth(
    map: &mut HashMap<Box<str>, Auths>,
    key: &str,
    auth: AuthCall,
    horizon: i64,
) -> u64 {
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

/// Keeps `map` under [`MAX_AUTH_KEYS`](super::MAX_AUTH_KEYS): drops the keys whose auth calls all left the
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
