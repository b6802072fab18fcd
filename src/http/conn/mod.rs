//! Per-connection HTTP/1.x state: reassembled streams in, [`Exchange`]s out.
//!
//! Takes the two byte streams of a connection (with gaps and ends) from reassembly; parses
//! messages in both directions and pairs each response with its request; gives finished
//! exchanges to the [`Orderer`], which releases them in request order.
//!
//! - Keep-alive and pipelining: requests queue up; responses pair FIFO with the oldest
//!   request that has none (Suricata's `find_request`), 1xx interim responses are recorded
//!   and do not consume the request, HEAD/204/304 responses carry no body.
//! - Upgrade (101) and CONNECT (2xx) stop parsing the connection.
//! - Gaps: a gap inside a known-length body or chunk costs only body bytes; anywhere else
//!   the direction resynchronises at the next request or status line, marking the damaged
//!   exchange incomplete; the exchanges after it survive.
//! - Pairing uses TCP acknowledgments as evidence: a response cannot answer a request whose
//!   head the server had not received (that response's request was lost: it becomes a
//!   response without request), and after a gap in the responses a request sent right after
//!   the previous response ended (its ACK equals the new response's start) is the one
//!   answered, the requests before it lost their responses in the gap.
//! - Client and server roles are taken from the first message seen, whatever the handshake
//!   suggested.
//!
//! The code is split by concern: this file holds the shared types and the connection's
//! entry points; [`read`] advances a direction one state at a time (idle, head, body,
//! resync); [`pairing`] turns heads into exchanges and pairs responses with requests;
//! [`close`] handles gaps, FINs, RSTs and the end of a connection (and fills in the
//! [`Wire`](crate::exchange::Wire) facts); [`resync`] finds the next message start
//! after damage.

mod close;
mod pairing;
mod read;
mod resync;

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::Role;
use super::body::BodyReader;
use super::head::{self, Parsed};
use super::sniff;
use crate::capture::reassembly::{At, Chunk, CloseReason, ConnInfo, Dir, StreamHandler};
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{Close, Exchange, Flags, InputId, Message, Origin};
use crate::http::order::{OrderKey, Orderer};

/// Limits of the HTTP layer.
#[derive(Clone, Copy, Debug)]
pub struct HttpConfig {
    /// Body bytes kept per message (for classification); the rest is only counted.
    pub body_cap: usize,
    /// The longest message head accepted.
    pub max_head: usize,
    /// Requests waiting for responses per connection at most.
    pub max_pipeline: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { body_cap: 64 << 10, max_head: 64 << 10, max_pipeline: 256 }
    }
}

/// Counters of the HTTP layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Request heads parsed.
    pub requests: u64,
    /// Final response heads parsed.
    pub responses: u64,
    /// Exchanges finished.
    pub exchanges: u64,
    /// Times a direction resynchronised after a gap or parse error.
    pub resyncs: u64,
}

/// Finished exchanges held back at most, waiting for an older unfinished one.
pub const ORDER_CAP: usize = 20_000;

/// Shared state of the HTTP layer for one input: configuration and the output orderer.
pub struct HttpHandler {
    cfg: HttpConfig,
    input: InputId,
    /// Finished exchanges, waiting to be released in request order.
    pub orderer: Orderer,
    stats: HttpStats,
    /// Body bytes kept by exchanges not yet finished, over all connections.
    kept: usize,
    /// Requests queued (waiting for a response or their own end), over all connections.
    pending: usize,
    budget_warned: bool,
    /// Limits and counters of the connections that turned out to be HTTP/2 (docs/http2.md).
    h2_cfg: crate::h2::H2Config,
    h2_stats: crate::h2::H2Stats,
}

/// Body bytes kept, over all unfinished exchanges, before further body bytes are only
/// counted: requests piling up on many connections cannot hold unbounded memory.
pub const KEPT_BODY_BUDGET: usize = 64 << 20;
/// Requests waiting for responses over all connections before the oldest of a connection
/// that adds one are given up (reported without response).
pub const MAX_PENDING_TOTAL: usize = 32_768;

fn kept_of(ex: &Exchange) -> usize {
    ex.request.as_ref().map_or(0, |m| m.body.data.len())
        + ex.response.as_ref().map_or(0, |m| m.body.data.len())
}

impl HttpHandler {
    /// A handler for input `input`.
    pub fn new(cfg: HttpConfig, input: InputId) -> Self {
        HttpHandler {
            cfg,
            input,
            orderer: Orderer::new(ORDER_CAP),
            stats: HttpStats::default(),
            kept: 0,
            pending: 0,
            budget_warned: false,
            h2_cfg: crate::h2::H2Config::default(),
            h2_stats: crate::h2::H2Stats::default(),
        }
    }

    /// Counters of the HTTP/2 connections so far.
    pub fn h2_stats(&self) -> crate::h2::H2Stats {
        self.h2_stats
    }

    fn h2_ctx<'a>(&'a mut self, diag: &'a mut Diagnostics) -> crate::h2::Ctx<'a> {
        crate::h2::Ctx {
            cfg: &self.h2_cfg,
            input: self.input,
            orderer: &mut self.orderer,
            stats: &mut self.h2_stats,
            diag,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> HttpStats {
        self.stats
    }
}

/// A connection's HTTP state, created with its first byte: connections that never carry
/// data (half-open handshakes, SYN floods) cost a pointer, not a parser. A connection whose
/// first bytes are the HTTP/2 client preface (h2c with prior knowledge, or h2 decrypted from
/// TLS) is HTTP/2.
pub type LazyConn = Option<Conn>;

/// The parser a connection turned out to need.
pub enum Conn {
    /// HTTP/1.x.
    Http1(Box<HttpConn>),
    /// HTTP/2 (src/h2).
    H2(Box<crate::h2::H2Conn>),
}

impl StreamHandler for HttpHandler {
    type Conn = LazyConn;

    fn sniff_client(&self, payload: &[u8]) -> Option<bool> {
        if sniff::looks_like_response(payload) {
            Some(false)
        } else if crate::h2::is_preface(payload) || sniff::looks_like_request(payload) {
            Some(true)
        } else {
            None
        }
    }

    fn open(&mut self, _: &ConnInfo) -> LazyConn {
        None
    }

    fn data(
        &mut self,
        conn: &mut LazyConn,
        info: &ConnInfo,
        dir: Dir,
        chunk: Chunk<'_>,
        diag: &mut Diagnostics,
    ) {
        let conn = conn.get_or_insert_with(|| {
            // An HTTP/2 server may speak first (its SETTINGS, right after a TLS 1.3
            // handshake): frames from the server side before any request mean HTTP/2 too.
            let server_frames = dir == Dir::ToClient && crate::h2::looks_like_frames(chunk.data);
            if crate::h2::is_preface(chunk.data) || server_frames {
                Conn::H2(Box::new(crate::h2::H2Conn::new(info, &self.h2_cfg)))
            } else {
                Conn::Http1(Box::new(HttpConn::new(info)))
            }
        });
        match conn {
            Conn::Http1(c) => c.on_data(&mut Cx { h: self, info, diag, at: chunk.at }, dir, chunk),
            Conn::H2(c) => c.data(&mut self.h2_ctx(diag), dir, chunk),
        }
    }

    fn gap(
        &mut self,
        conn: &mut LazyConn,
        info: &ConnInfo,
        dir: Dir,
        hole: std::ops::Range<u64>,
        at: At,
        diag: &mut Diagnostics,
    ) {
        let len = hole.end - hole.start;
        match conn.get_or_insert_with(|| Conn::Http1(Box::new(HttpConn::new(info)))) {
            Conn::Http1(c) => c.on_gap(&mut Cx { h: self, info, diag, at }, dir, len),
            Conn::H2(c) => c.gap(&mut self.h2_ctx(diag), dir, len, at),
        }
    }

    fn end(&mut self, conn: &mut LazyConn, info: &ConnInfo, dir: Dir, at: At, diag: &mut Diagnostics) {
        match conn {
            Some(Conn::Http1(c)) => {
                let role = c.role_of(dir);
                c.end_side(&mut Cx { h: self, info, diag, at }, role);
            }
            Some(Conn::H2(c)) => c.end(&mut self.h2_ctx(diag), dir, at),
            None => {}
        }
    }

    fn reset(&mut self, conn: &mut LazyConn, _: &ConnInfo, dir: Dir, at: At, _: &mut Diagnostics) {
        // HTTP/2 streams carry their own resets (RST_STREAM); a TCP RST ends them at close.
        if let Some(Conn::Http1(c)) = conn {
            c.reset = Some((c.role_of(dir), Close { at: at.ts, rst: true }));
        }
    }

    fn close(
        &mut self,
        conn: LazyConn,
        info: &ConnInfo,
        reason: CloseReason,
        at: At,
        diag: &mut Diagnostics,
    ) {
        match conn {
            Some(Conn::Http1(mut c)) => c.close(&mut Cx { h: self, info, diag, at }, reason),
            Some(Conn::H2(mut c)) => c.close(&mut self.h2_ctx(diag), reason, at),
            None => {}
        }
    }
}

/// What every step of a connection needs besides its own state: the input's shared
/// handler, the connection's identity, the warnings, and the capture position of the event
/// being handled.
struct Cx<'a> {
    h: &'a mut HttpHandler,
    info: &'a ConnInfo,
    diag: &'a mut Diagnostics,
    at: At,
}

impl Cx<'_> {
    /// A warning about this connection at `frame`.
    fn warn(&mut self, kind: WarningKind, frame: u64, detail: impl Into<String>) {
        self.diag.warn(kind, self.h.input, Some(Origin::Frame(frame)), Some(self.info.id), detail);
    }
}

impl Role {
    /// The flag for this role's message ending before its declared end.
    fn truncated(self) -> u16 {
        match self {
            Role::Request => Flags::REQUEST_TRUNCATED,
            Role::Response => Flags::RESPONSE_TRUNCATED,
        }
    }

    /// The flag for bytes of this role's message lost in a hole of the stream.
    fn gap(self) -> u16 {
        match self {
            Role::Request => Flags::REQUEST_GAP,
            Role::Response => Flags::RESPONSE_GAP,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Start {
    offset: u64,
    ack: Option<u64>,
    at: At,
    key: OrderKey,
}

enum Target {
    /// The message belongs to the queued exchange with this id.
    Entry(u64),
    /// A response without request, finished on its own.
    Orphan(Box<(OrderKey, Exchange)>),
    /// A response owed to a request dropped by the pipeline limit.
    Discard,
}

enum State {
    /// Between messages.
    Idle,
    /// Reading a head.
    Head { buf: Vec<u8>, start: Start, scanned: usize },
    /// Reading a body.
    Body { reader: BodyReader, target: Target },
    /// Looking for the next message start; `tail` holds the last bytes seen (bounded).
    Resync { tail: Vec<u8> },
    /// No more parsing in this direction.
    Stopped,
}

struct Side {
    state: State,
    /// Nothing seen yet on this side (the first bytes may be mid-stream).
    fresh: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Resp {
    None,
    Reading,
    Done,
}

struct Entry {
    id: u64,
    key: OrderKey,
    ex: Exchange,
    /// Client-stream offset just past the request head.
    head_end: u64,
    /// How much of the server stream the client had received when it sent the request.
    ack_at_send: Option<u64>,
    req_done: bool,
    resp: Resp,
}

/// One connection's HTTP state.
pub struct HttpConn {
    client: SocketAddr,
    server: SocketAddr,
    decided: bool,
    swapped: bool,
    /// Data seen per direction (indexed by [`Dir`]).
    seen: [bool; 2],
    sides: [Side; 2],
    queue: VecDeque<Entry>,
    next_id: u64,
    /// Responses still owed to requests dropped by the pipeline limit.
    owed: u64,
    /// Why the response stream skipped bytes since the last paired response, if it did.
    resp_lost: Lost,
    /// Requests seen so far.
    requests: u32,
    /// Request positions are known: the connection was captured from its first byte and
    /// the request stream never had to resynchronise (no request can have been missed).
    nth_known: bool,
    /// The server's first FIN or RST, once seen: a request sent after it was never answered.
    server_close: Option<Close>,
    /// A RST seen (by its sender's role), applied when the connection closes.
    reset: Option<(Role, Close)>,
    /// The connection was captured from its handshake.
    handshake: bool,
    /// The direction (indexed by [`Role`]) ended with a FIN reached in order.
    fin: [bool; 2],
    stopped: bool,
    /// The protocol the connection switched to (101 `Upgrade`, or a CONNECT tunnel), with
    /// the bytes after the switch, which are not HTTP/1 and are not decoded.
    switched: Option<(Box<str>, u64)>,
    limit_warned: bool,
}

impl HttpConn {
    fn new(info: &ConnInfo) -> Self {
        HttpConn {
            client: info.client,
            server: info.server,
            decided: false,
            swapped: false,
            seen: [false; 2],
            sides: [Side { state: State::Idle, fresh: true }, Side { state: State::Idle, fresh: true }],
            queue: VecDeque::new(),
            next_id: 0,
            owed: 0,
            resp_lost: Lost::Nothing,
            requests: 0,
            nth_known: info.handshake,
            server_close: None,
            reset: None,
            handshake: info.handshake,
            fin: [false; 2],
            stopped: false,
            switched: None,
            limit_warned: false,
        }
    }

    fn role_of(&self, dir: Dir) -> Role {
        match (dir, self.swapped) {
            (Dir::ToServer, false) | (Dir::ToClient, true) => Role::Request,
            _ => Role::Response,
        }
    }

    /// Settles client/server from the first bytes of either direction, if they are a clear
    /// message start (later bytes prove nothing: a body may contain anything).
    fn decide_roles(&mut self, dir: Dir, data: &[u8]) {
        let first = !std::mem::replace(&mut self.seen[dir as usize], true);
        if self.decided || data.is_empty() || !first {
            return;
        }
        let req = sniff::looks_like_request(data);
        let resp = sniff::looks_like_response(data);
        if !req && !resp {
            return;
        }
        self.decided = true;
        let swap = (dir == Dir::ToServer && resp) || (dir == Dir::ToClient && req);
        if swap != self.swapped {
            self.swapped = swap;
            std::mem::swap(&mut self.client, &mut self.server);
            self.sides.swap(0, 1);
        }
    }

    fn on_data(&mut self, cx: &mut Cx<'_>, dir: Dir, chunk: Chunk<'_>) {
        if self.stopped {
            self.count_switched(chunk.data.len());
            return;
        }
        self.decide_roles(dir, chunk.data);
        let role = self.role_of(dir);
        let mut data = chunk.data;
        let mut offset = chunk.offset;
        let mut spins = 0;
        while !data.is_empty() && !self.stopped {
            let used = self.step(cx, role, data, offset, chunk.ack);
            // A state change may consume nothing, but never twice in a row forever.
            spins = if used == 0 { spins + 1 } else { 0 };
            if spins > 4 {
                self.resync(role, Lost::Unparsed);
                data = &data[1..];
                offset += 1;
                continue;
            }
            data = &data[used..];
            offset += used as u64;
        }
        self.count_switched(data.len());
    }

    /// Counts bytes that arrived after a protocol switch.
    fn count_switched(&mut self, n: usize) {
        if let Some((_, bytes)) = self.switched.as_mut() {
            *bytes += n as u64;
        }
    }
}

/// Why a direction skipped bytes: the worst since the last paired response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Lost {
    /// Nothing skipped.
    Nothing,
    /// Bytes that were there could not be parsed.
    Unparsed,
    /// A hole in the byte stream (bytes never captured).
    Gap,
}

impl Lost {
    /// The flag for a response that was in the skipped bytes.
    fn flag(self) -> u16 {
        match self {
            Lost::Gap => Flags::RESPONSE_GAP,
            Lost::Unparsed | Lost::Nothing => Flags::RESPONSE_UNPARSED,
        }
    }
}

enum Pairing {
    Entry(usize),
    Orphan,
    Owed,
}

fn target_exchange<'a>(queue: &'a mut VecDeque<Entry>, target: &'a mut Target) -> Option<&'a mut Exchange> {
    match target {
        Target::Entry(id) => queue.iter_mut().find(|e| e.id == *id).map(|e| &mut e.ex),
        Target::Orphan(o) => Some(&mut o.1),
        Target::Discard => None,
    }
}

fn message_of(ex: &mut Exchange, role: Role) -> Option<&mut Message> {
    match role {
        Role::Request => ex.request.as_mut(),
        Role::Response => ex.response.as_mut(),
    }
}

fn parse(role: Role, bytes: &[u8]) -> Parsed {
    match role {
        Role::Request => head::parse_request(bytes),
        Role::Response => head::parse_response(bytes),
    }
}
