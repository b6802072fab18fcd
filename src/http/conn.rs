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

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::body::BodyReader;
use super::head::{self, Framing, Parsed};
use super::sniff;
use crate::capture::reassembly::{At, Chunk, CloseReason, ConnInfo, Dir, StreamHandler};
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{Body, Close, Exchange, Flags, Head, InputId, Message, Origin, Wire};
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
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> HttpStats {
        self.stats
    }
}

/// A connection's HTTP state, created with its first byte: connections that never carry
/// data (half-open handshakes, SYN floods) cost a pointer, not a parser.
pub type LazyConn = Option<Box<HttpConn>>;

impl StreamHandler for HttpHandler {
    type Conn = LazyConn;

    fn sniff_client(&self, payload: &[u8]) -> Option<bool> {
        if sniff::looks_like_response(payload) {
            Some(false)
        } else if sniff::looks_like_request(payload) {
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
        conn.get_or_insert_with(|| Box::new(HttpConn::new(info))).on_data(self, info, dir, chunk, diag);
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
        conn.get_or_insert_with(|| Box::new(HttpConn::new(info))).on_gap(self, info, dir, len, at, diag);
    }

    fn end(&mut self, conn: &mut LazyConn, info: &ConnInfo, dir: Dir, at: At, diag: &mut Diagnostics) {
        if let Some(conn) = conn {
            let role = conn.role_of(dir);
            conn.end_side(self, info, role, at, diag);
        }
    }

    fn reset(&mut self, conn: &mut LazyConn, _: &ConnInfo, dir: Dir, at: At, _: &mut Diagnostics) {
        if let Some(conn) = conn {
            conn.reset = Some((conn.role_of(dir), Close { at: at.ts, rst: true }));
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
        if let Some(mut conn) = conn {
            conn.close(self, info, reason, at, diag);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Request = 0,
    Response = 1,
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

/// The longest tail kept while resynchronising (a request line split across segments).
const RESYNC_TAIL: usize = 8 << 10;

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
    stopped: bool,
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
            stopped: false,
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

    fn on_data(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        dir: Dir,
        chunk: Chunk<'_>,
        diag: &mut Diagnostics,
    ) {
        if self.stopped {
            return;
        }
        self.decide_roles(dir, chunk.data);
        let role = self.role_of(dir);
        let mut data = chunk.data;
        let mut offset = chunk.offset;
        let mut spins = 0;
        while !data.is_empty() && !self.stopped {
            let used = self.step(h, info, role, data, offset, chunk.ack, chunk.at, diag);
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
    }

    /// Advances one state with `data`; returns the bytes consumed.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        role: Role,
        data: &[u8],
        offset: u64,
        ack: Option<u64>,
        at: At,
        diag: &mut Diagnostics,
    ) -> usize {
        let max_head = h.cfg.max_head;
        let side = &mut self.sides[role as usize];
        match &mut side.state {
            State::Stopped => data.len(),
            State::Idle => {
                let fresh = std::mem::replace(&mut side.fresh, false);
                let blank = data.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
                if blank > 0 {
                    return blank;
                }
                if fresh && !starts_like(role, data) {
                    // Picked up mid-stream: wait for the next message start.
                    side.state = State::Resync { tail: Vec::new() };
                    match role {
                        Role::Request => self.nth_known = false,
                        // After a captured handshake these bytes are no continuation: a
                        // response was there and could not be parsed.
                        Role::Response if self.handshake => self.resp_lost = Lost::Unparsed,
                        Role::Response => {}
                    }
                    diag.warn(
                        WarningKind::TcpGap,
                        h.input,
                        Some(Origin::Frame(at.frame)),
                        Some(info.id),
                        format!(
                            "the connection was picked up mid-stream: {} bytes before the first {} start are skipped (their message began before the capture)",
                            role_name(role),
                            role_name(role)
                        ),
                    );
                    return 0;
                }
                let key = h.orderer.open(at.frame);
                side.state =
                    State::Head { buf: Vec::new(), start: Start { offset, ack, at, key }, scanned: 0 };
                0
            }
            State::Head { buf, start, scanned } => {
                let start = *start;
                if buf.is_empty() {
                    if let Some(end) = head::head_end(data, 0) {
                        let parsed = parse(role, &data[..end]);
                        if let Parsed::Invalid(why) = parsed {
                            return self.bad_head(h, info, role, start, why, data, diag);
                        }
                        return self
                            .after_head(h, info, role, parsed, start, offset + end as u64, at, diag)
                            .unwrap_or(end);
                    }
                    if data.len() <= max_head {
                        if let Parsed::Invalid(why) = parse(role, data) {
                            return self.bad_head(h, info, role, start, why, data, diag);
                        }
                        buf.extend_from_slice(data);
                        *scanned = data.len().saturating_sub(3);
                        return data.len();
                    }
                    return self.head_too_long(h, info, role, start, at, diag);
                }
                let old = buf.len();
                let take = data.len().min(max_head + 4 - old.min(max_head));
                buf.extend_from_slice(&data[..take]);
                if let Some(end) = head::head_end(buf, *scanned) {
                    let raw = std::mem::take(buf);
                    let parsed = parse(role, &raw[..end]);
                    let used = end - old;
                    if let Parsed::Invalid(why) = parsed {
                        // Skip the bad first line; rescan the rest of what was buffered.
                        let skip = self.bad_head(h, info, role, start, why, &raw, diag);
                        let rest = raw.get(skip..old).unwrap_or_default().to_vec();
                        self.sides[role as usize].state = State::Resync { tail: rest };
                        return 0;
                    }
                    return self
                        .after_head(h, info, role, parsed, start, offset + used as u64, at, diag)
                        .unwrap_or(used);
                }
                if buf.len() > max_head {
                    return self.head_too_long(h, info, role, start, at, diag);
                }
                if let Parsed::Invalid(why) = parse(role, buf) {
                    let raw = std::mem::take(buf);
                    self.bad_head(h, info, role, start, why, &raw, diag);
                    return take;
                }
                *scanned = buf.len().saturating_sub(3);
                take
            }
            State::Body { reader, target } => {
                let over_budget = h.kept >= KEPT_BODY_BUDGET;
                let mut scratch = Body::default();
                let body = match target_exchange(&mut self.queue, target).and_then(|ex| message_of(ex, role))
                {
                    Some(m) => {
                        m.end_ts = at.ts;
                        m.end_origin = Origin::Frame(at.frame);
                        &mut m.body
                    }
                    None => &mut scratch,
                };
                // Past the budget a body keeps what it has and only counts the rest.
                let before = body.data.len();
                let cap = if over_budget { before } else { h.cfg.body_cap };
                let fed = reader.feed(data, body, cap);
                h.kept += body.data.len() - before;
                if over_budget && body.capped && !h.budget_warned {
                    h.budget_warned = true;
                    diag.warn(
                        WarningKind::BufferLimit,
                        h.input,
                        Some(Origin::Frame(at.frame)),
                        Some(info.id),
                        format!(
                            "unfinished exchanges keep more than {} MiB of bodies over all connections; further body bytes are counted, not kept (a fixed limit; lower --body-cap to keep less per message)",
                            KEPT_BODY_BUDGET >> 20
                        ),
                    );
                }
                match fed {
                    Ok(used) => {
                        if reader.is_done() {
                            self.finish_message(h, role, Flags::default());
                        }
                        used
                    }
                    Err(e) => {
                        diag.warn(
                            WarningKind::HttpParseError,
                            h.input,
                            Some(Origin::Frame(at.frame)),
                            Some(info.id),
                            format!("{} body framing broken: {}", role_name(role), e.0),
                        );
                        let bit = if role == Role::Request {
                            Flags::REQUEST_TRUNCATED
                        } else {
                            Flags::RESPONSE_TRUNCATED
                        };
                        self.finish_message(h, role, Flags(bit));
                        self.resync(role, Lost::Unparsed);
                        0
                    }
                }
            }
            State::Resync { tail } => {
                let (found, consumed) = find_start(role, tail, data);
                match found {
                    Some(Found::InTail(p)) => {
                        // The message began in bytes already consumed: re-read them as a head.
                        let buf = tail.split_off(p);
                        let back = buf.len() as u64;
                        let key = h.orderer.open(at.frame);
                        let start = Start { offset: offset.saturating_sub(back), ack, at, key };
                        side.state = State::Head { buf, start, scanned: 0 };
                        h.stats.resyncs += 1;
                        0
                    }
                    Some(Found::InData(p)) => {
                        side.state = State::Idle;
                        side.fresh = false;
                        h.stats.resyncs += 1;
                        p
                    }
                    None => consumed,
                }
            }
        }
    }

    /// Looks for the next message start in `role`'s direction after bytes were `lost`.
    fn resync(&mut self, role: Role, lost: Lost) {
        self.sides[role as usize].state = State::Resync { tail: Vec::new() };
        self.note_skipped(role, lost);
    }

    /// Bytes of `role`'s direction were skipped (lost in a hole or unparsable): requests may
    /// have been missed, responses may be missing.
    fn note_skipped(&mut self, role: Role, lost: Lost) {
        match role {
            Role::Request => self.nth_known = false,
            Role::Response => self.resp_lost = self.resp_lost.max(lost),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn bad_head(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        role: Role,
        start: Start,
        why: &str,
        bytes: &[u8],
        diag: &mut Diagnostics,
    ) -> usize {
        h.orderer.cancel(start.key);
        diag.warn(
            WarningKind::HttpParseError,
            h.input,
            Some(Origin::Frame(start.at.frame)),
            Some(info.id),
            format!(
                "bytes where a {} head was expected do not parse ({why}); resynchronising",
                role_name(role)
            ),
        );
        self.resync(role, Lost::Unparsed);
        // Skip at least the first line so resynchronisation moves on.
        memchr::memchr(b'\n', bytes).map_or(bytes.len(), |p| p + 1).max(1)
    }

    fn head_too_long(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        role: Role,
        start: Start,
        at: At,
        diag: &mut Diagnostics,
    ) -> usize {
        h.orderer.cancel(start.key);
        diag.warn(
            WarningKind::BufferLimit,
            h.input,
            Some(Origin::Frame(at.frame)),
            Some(info.id),
            format!(
                "a {} head is longer than {} bytes; skipped (raise --max-head)",
                role_name(role),
                h.cfg.max_head
            ),
        );
        self.resync(role, Lost::Unparsed);
        0
    }

    /// Handles a parsed head. `None` means "consumed what the caller computed".
    #[allow(clippy::too_many_arguments)]
    fn after_head(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        role: Role,
        parsed: Parsed,
        start: Start,
        end_offset: u64,
        at: At,
        diag: &mut Diagnostics,
    ) -> Option<usize> {
        let head = match parsed {
            Parsed::Complete(head, _) => head,
            Parsed::Invalid(why) => {
                self.bad_head(h, info, role, start, why, b"", diag);
                return None;
            }
            Parsed::Partial => {
                self.bad_head(h, info, role, start, "head not terminated", b"", diag);
                return None;
            }
        };
        self.decided = true;
        self.on_head(h, info, role, head, start, end_offset, at, Flags::default(), diag);
        None
    }

    /// A head was read (in full, or salvaged with `flags` saying what is missing).
    #[allow(clippy::too_many_arguments)]
    fn on_head(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        role: Role,
        head: Head,
        start: Start,
        end_offset: u64,
        at: At,
        flags: Flags,
        diag: &mut Diagnostics,
    ) {
        let msg = Message {
            head,
            ts: start.at.ts,
            end_ts: at.ts,
            origin: Origin::Frame(start.at.frame),
            end_origin: Origin::Frame(at.frame),
            body: Body::default(),
        };
        match role {
            Role::Request => self.on_request(h, info, msg, start, end_offset, flags, diag),
            Role::Response => self.on_response(h, info, msg, start, flags, diag),
        }
    }

    /// The head being read was cut (gap or end of stream): keep what it says, if anything.
    fn salvage(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        role: Role,
        at: At,
        flags: Flags,
        diag: &mut Diagnostics,
    ) {
        let state = std::mem::replace(&mut self.sides[role as usize].state, State::Idle);
        let State::Head { buf, start, .. } = state else {
            self.sides[role as usize].state = state;
            return;
        };
        let Some(head) = head::salvage(&buf, role == Role::Request) else {
            h.orderer.cancel(start.key);
            return;
        };
        let end = start.offset + buf.len() as u64;
        self.on_head(h, info, role, head, start, end, at, flags, diag);
        if matches!(self.sides[role as usize].state, State::Body { .. }) {
            self.finish_message(h, role, flags);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_request(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        msg: Message,
        start: Start,
        head_end: u64,
        flags: Flags,
        diag: &mut Diagnostics,
    ) {
        h.stats.requests += 1;
        let framing = head::request_framing(&msg.head);
        if self.queue.len() >= h.cfg.max_pipeline {
            self.drop_oldest(h, info, start.at, diag, false);
        } else if h.pending >= MAX_PENDING_TOTAL {
            self.drop_oldest(h, info, start.at, diag, true);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.requests = self.requests.saturating_add(1);
        let wire = Wire {
            nth: if self.nth_known { self.requests } else { 0 },
            server_closed: self.server_close,
            ..Wire::default()
        };
        h.pending += 1;
        self.queue.push_back(Entry {
            id,
            key: start.key,
            ex: Exchange {
                input: h.input,
                conn: info.id,
                client: self.client,
                server: self.server,
                request: Some(msg),
                response: None,
                interim: Vec::new(),
                flags,
                wire,
                logged: None,
            },
            head_end,
            ack_at_send: start.ack,
            req_done: framing == Framing::None,
            resp: Resp::None,
        });
        self.sides[Role::Request as usize].state = if framing == Framing::None {
            State::Idle
        } else {
            State::Body { reader: BodyReader::new(framing), target: Target::Entry(id) }
        };
    }

    /// The pipeline limit: give up on the oldest request still waiting for its response.
    fn drop_oldest(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        at: At,
        diag: &mut Diagnostics,
        global: bool,
    ) {
        let Some(i) = self.queue.iter().position(|e| e.resp == Resp::None) else { return };
        if !self.limit_warned {
            self.limit_warned = true;
            let detail = if global {
                format!(
                    "more than {MAX_PENDING_TOTAL} requests waiting for responses over all connections; the oldest of this connection are reported without response (a fixed limit)"
                )
            } else {
                format!(
                    "more than {} requests waiting for responses on one connection; the oldest are reported without response (raise --max-pipeline)",
                    h.cfg.max_pipeline
                )
            };
            diag.warn(
                WarningKind::BufferLimit,
                h.input,
                Some(Origin::Frame(at.frame)),
                Some(info.id),
                detail,
            );
        }
        let e = &mut self.queue[i];
        e.ex.flags.set(Flags::NO_RESPONSE | Flags::LIMIT);
        e.resp = Resp::Done;
        self.owed += 1;
        self.release_ready(h);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_response(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        msg: Message,
        start: Start,
        extra: Flags,
        diag: &mut Diagnostics,
    ) {
        let status = msg.head.status();
        if (100..200).contains(&status) && status != 101 {
            if let Some(e) = self.queue.iter_mut().find(|e| e.resp == Resp::None) {
                e.ex.interim.push(status);
            }
            h.orderer.cancel(start.key);
            self.sides[Role::Response as usize].state = State::Idle;
            return;
        }
        h.stats.responses += 1;
        match self.pair(&start) {
            Pairing::Owed => {
                h.orderer.cancel(start.key);
                let framing = head::response_framing(&msg.head, None);
                self.start_body(h, Role::Response, framing, Target::Discard);
            }
            Pairing::Orphan => {
                diag.warn(
                    WarningKind::ResponseWithoutRequest,
                    h.input,
                    Some(msg.origin),
                    Some(info.id),
                    format!("a {status} response whose request was not captured"),
                );
                let framing = head::response_framing(&msg.head, None);
                let mut flags = extra;
                flags.set(Flags::NO_REQUEST);
                let ex = Exchange {
                    input: h.input,
                    conn: info.id,
                    client: self.client,
                    server: self.server,
                    request: None,
                    response: Some(msg),
                    interim: Vec::new(),
                    flags,
                    wire: crate::exchange::Wire::default(),
                    logged: None,
                };
                self.start_body(h, Role::Response, framing, Target::Orphan(Box::new((start.key, ex))));
            }
            Pairing::Entry(i) => {
                h.orderer.cancel(start.key);
                let e = &mut self.queue[i];
                let method = e.ex.request.as_ref().map_or("", |r| r.head.method());
                let connect = method.eq_ignore_ascii_case("CONNECT") && (200..300).contains(&status);
                let framing = head::response_framing(&msg.head, Some(method));
                e.ex.flags.set(extra.0);
                e.ex.response = Some(msg);
                e.resp = Resp::Reading;
                let id = e.id;
                if status == 101 || connect {
                    // The connection now speaks another protocol: stop here.
                    e.ex.flags.set(Flags::UPGRADED);
                    e.resp = Resp::Done;
                    e.req_done = true;
                    self.stopped = true;
                    for side in &mut self.sides {
                        if let State::Head { start, .. } = &side.state {
                            h.orderer.cancel(start.key);
                        }
                        side.state = State::Stopped;
                    }
                    self.release_ready(h);
                    return;
                }
                self.start_body(h, Role::Response, framing, Target::Entry(id));
            }
        }
    }

    fn start_body(&mut self, h: &mut HttpHandler, role: Role, framing: Framing, target: Target) {
        self.sides[role as usize].state = State::Body { reader: BodyReader::new(framing), target };
        if framing == Framing::None {
            self.finish_message(h, role, Flags::default());
        }
    }

    /// Chooses the request a response answers (see the module doc for the evidence used).
    fn pair(&mut self, start: &Start) -> Pairing {
        if self.owed > 0 {
            self.owed -= 1;
            return Pairing::Owed;
        }
        let lost = std::mem::replace(&mut self.resp_lost, Lost::Nothing);
        let waiting: Vec<usize> =
            (0..self.queue.len()).filter(|&i| self.queue[i].resp == Resp::None).collect();
        let Some(&first) = waiting.first() else { return Pairing::Orphan };
        let received = |e: &Entry| start.ack.is_none_or(|a| e.head_end <= a);
        if !received(&self.queue[first]) {
            // The server had not received the oldest waiting request: this response answers
            // one that was never captured.
            return Pairing::Orphan;
        }
        if lost != Lost::Nothing && waiting.len() >= 2 {
            let pick = waiting
                .iter()
                .rev()
                .copied()
                .find(|&i| self.queue[i].ack_at_send == Some(start.offset) && received(&self.queue[i]));
            if let Some(pick) = pick {
                for &i in waiting.iter().take_while(|&&i| i != pick) {
                    let e = &mut self.queue[i];
                    // Their responses were in the skipped bytes: lost in the hole (a gap) or
                    // unparsable; never called a gap when the stream had no hole.
                    e.ex.flags.set(Flags::NO_RESPONSE | lost.flag());
                    e.resp = Resp::Done;
                }
                return Pairing::Entry(pick);
            }
            self.queue[first].ex.flags.set(Flags::PAIRING_UNCERTAIN);
        }
        Pairing::Entry(first)
    }

    /// The message being read in `role`'s direction ended; `extra` flags describe how.
    fn finish_message(&mut self, h: &mut HttpHandler, role: Role, extra: Flags) {
        let state = std::mem::replace(&mut self.sides[role as usize].state, State::Idle);
        let State::Body { target, .. } = state else { return };
        match target {
            Target::Entry(id) => {
                if let Some(e) = self.queue.iter_mut().find(|e| e.id == id) {
                    e.ex.flags.set(extra.0);
                    match role {
                        Role::Request => e.req_done = true,
                        Role::Response => e.resp = Resp::Done,
                    }
                }
                self.release_ready(h);
            }
            Target::Orphan(o) => {
                let (key, mut ex) = *o;
                ex.flags.set(extra.0);
                h.stats.exchanges += 1;
                h.kept = h.kept.saturating_sub(kept_of(&ex));
                h.orderer.complete(key, ex);
            }
            Target::Discard => {}
        }
    }

    /// Hands finished exchanges at the head of the queue to the orderer.
    fn release_ready(&mut self, h: &mut HttpHandler) {
        while self.queue.front().is_some_and(|e| e.req_done && e.resp == Resp::Done) {
            if let Some(e) = self.queue.pop_front() {
                h.stats.exchanges += 1;
                h.pending = h.pending.saturating_sub(1);
                h.kept = h.kept.saturating_sub(kept_of(&e.ex));
                h.orderer.complete(e.key, e.ex);
            }
        }
    }

    fn on_gap(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        dir: Dir,
        len: u64,
        at: At,
        diag: &mut Diagnostics,
    ) {
        if self.stopped {
            return;
        }
        let role = self.role_of(dir);
        let gap_bit = if role == Role::Request { Flags::REQUEST_GAP } else { Flags::RESPONSE_GAP };
        let side = &mut self.sides[role as usize];
        side.fresh = false;
        match &mut side.state {
            State::Stopped => {}
            State::Idle => self.resync(role, Lost::Gap),
            State::Head { .. } => {
                let cut =
                    if role == Role::Request { Flags::REQUEST_TRUNCATED } else { Flags::RESPONSE_TRUNCATED };
                self.salvage(h, info, role, at, Flags(gap_bit | cut), diag);
                self.resync(role, Lost::Gap);
            }
            State::Resync { tail } => {
                tail.clear();
                if role == Role::Response {
                    self.resp_lost = Lost::Gap;
                }
            }
            State::Body { reader, target } => {
                let mut scratch = Body::default();
                let ex = target_exchange(&mut self.queue, target);
                let body = match ex.and_then(|ex| message_of(ex, role)) {
                    Some(m) => &mut m.body,
                    None => &mut scratch,
                };
                let kept = reader.gap(len, body).is_some();
                let done = reader.is_done();
                if let Some(ex) = target_exchange(&mut self.queue, target) {
                    ex.flags.set(gap_bit);
                }
                if !kept {
                    let cut = if role == Role::Request {
                        Flags::REQUEST_TRUNCATED
                    } else {
                        Flags::RESPONSE_TRUNCATED
                    };
                    self.finish_message(h, role, Flags(cut));
                    self.resync(role, Lost::Gap);
                } else if done {
                    self.finish_message(h, role, Flags::default());
                }
            }
        }
    }

    /// One direction ended (FIN): a close-delimited body is complete, anything else cut.
    fn end_side(&mut self, h: &mut HttpHandler, info: &ConnInfo, role: Role, at: At, diag: &mut Diagnostics) {
        match &self.sides[role as usize].state {
            State::Body { reader, .. } => {
                let cut = match (reader.framing(), role) {
                    (Framing::Close, _) => 0,
                    (_, Role::Request) => Flags::REQUEST_TRUNCATED,
                    (_, Role::Response) => Flags::RESPONSE_TRUNCATED,
                };
                if cut != 0 {
                    warn_cut(h, info, role, at, diag);
                }
                self.finish_message(h, role, Flags(cut));
            }
            State::Head { .. } => {
                let cut =
                    if role == Role::Request { Flags::REQUEST_TRUNCATED } else { Flags::RESPONSE_TRUNCATED };
                self.salvage(h, info, role, at, Flags(cut), diag);
            }
            _ => {}
        }
        self.sides[role as usize].state = State::Stopped;
        self.mark_closed(role, Close { at: at.ts, rst: false });
    }

    /// `role`'s sender closed the connection (FIN or RST): the client gave up on every
    /// exchange whose response had not fully arrived; the server dropped every request whose
    /// response had not started (and every later one). The first close of each kind is kept.
    fn mark_closed(&mut self, role: Role, close: Close) {
        match role {
            Role::Request => {
                for e in self.queue.iter_mut().filter(|e| e.resp != Resp::Done) {
                    e.ex.wire.client_closed.get_or_insert(close);
                }
            }
            Role::Response => {
                self.server_close.get_or_insert(close);
                for e in self.queue.iter_mut().filter(|e| e.resp == Resp::None) {
                    e.ex.wire.server_closed.get_or_insert(close);
                }
            }
        }
    }

    fn close(
        &mut self,
        h: &mut HttpHandler,
        info: &ConnInfo,
        reason: CloseReason,
        at: At,
        diag: &mut Diagnostics,
    ) {
        let rst = if reason == CloseReason::Reset { self.reset.take() } else { None };
        if let Some((Role::Request, c)) = rst {
            // Before the bodies below are finished: a response still arriving was given up.
            self.mark_closed(Role::Request, c);
        }
        for role in [Role::Request, Role::Response] {
            match &self.sides[role as usize].state {
                State::Body { .. } => {
                    let cut = if role == Role::Request {
                        Flags::REQUEST_TRUNCATED
                    } else {
                        Flags::RESPONSE_TRUNCATED
                    };
                    warn_cut(h, info, role, at, diag);
                    self.finish_message(h, role, Flags(cut));
                }
                State::Head { .. } => {
                    let cut = if role == Role::Request {
                        Flags::REQUEST_TRUNCATED
                    } else {
                        Flags::RESPONSE_TRUNCATED
                    };
                    self.salvage(h, info, role, at, Flags(cut), diag);
                    if matches!(self.sides[role as usize].state, State::Body { .. }) {
                        self.finish_message(h, role, Flags(cut));
                    }
                }
                _ => {}
            }
            self.sides[role as usize].state = State::Stopped;
        }
        if let Some((role, c)) = rst {
            self.mark_closed(role, c);
        }
        let unwatched = matches!(reason, CloseReason::EndOfInput | CloseReason::Idle);
        for e in self.queue.iter_mut() {
            if e.resp == Resp::None {
                let w = &mut e.ex.wire;
                w.capture_ended = unwatched && w.client_closed.is_none() && w.server_closed.is_none();
                e.ex.flags.set(Flags::NO_RESPONSE);
                if reason == CloseReason::Reset {
                    e.ex.flags.set(Flags::RESET);
                }
                diag.warn(
                    WarningKind::RequestWithoutResponse,
                    h.input,
                    e.ex.request.as_ref().map(|r| r.origin),
                    Some(info.id),
                    format!("no response before {}", close_words(reason)),
                );
            } else if e.resp == Resp::Reading {
                e.ex.flags.set(Flags::RESPONSE_TRUNCATED);
            }
            if !e.req_done {
                e.ex.flags.set(Flags::REQUEST_TRUNCATED);
            }
            e.req_done = true;
            e.resp = Resp::Done;
        }
        self.release_ready(h);
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

/// A body was cut short by the end of its connection or of the capture.
fn warn_cut(h: &HttpHandler, info: &ConnInfo, role: Role, at: At, diag: &mut Diagnostics) {
    diag.warn(
        WarningKind::TcpGap,
        h.input,
        Some(Origin::Frame(at.frame)),
        Some(info.id),
        format!("a {} body ends before its declared length: the rest was not captured", role_name(role)),
    );
}

fn close_words(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::Fin => "the connection closed",
        CloseReason::Reset => "the connection was reset",
        CloseReason::Idle => "the connection was silent longer than the idle timeout (raise --idle-timeout)",
        CloseReason::Limit => "the connection was closed early (connection limit)",
        CloseReason::Reused => "the address pair was reused by a new connection",
        CloseReason::EndOfInput => "the capture ended",
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Request => "request",
        Role::Response => "response",
    }
}

fn parse(role: Role, bytes: &[u8]) -> Parsed {
    match role {
        Role::Request => head::parse_request(bytes),
        Role::Response => head::parse_response(bytes),
    }
}

/// Could `data` be the start of a message of this role (allowing a short prefix)?
fn starts_like(role: Role, data: &[u8]) -> bool {
    match role {
        Role::Request => {
            sniff::looks_like_request(data) || (data.len() < 8 && data.iter().all(|b| b.is_ascii_uppercase()))
        }
        Role::Response => {
            sniff::looks_like_response(data) || (data.len() < 7 && b"HTTP/1.".starts_with(data))
        }
    }
}

enum Found {
    /// The message starts at this index of the tail.
    InTail(usize),
    /// The message starts at this index of the new data.
    InData(usize),
}

/// Request methods accepted when resynchronising in the middle of a stream.
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"HEAD",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"MERGE",
    b"PURGE",
    b"LINK",
    b"UNLINK",
    b"NOTIFY",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
];

enum Scan {
    /// A message starts here.
    At(usize),
    /// Something that may be a message start begins here; more bytes needed.
    Partial(usize),
    /// Nothing.
    None,
}

/// Looks for a message start in `tail` (bytes kept from before) followed by `data`.
/// Returns where, and how many bytes of `data` were consumed when nothing was found.
fn find_start(role: Role, tail: &mut Vec<u8>, data: &[u8]) -> (Option<Found>, usize) {
    let tl = tail.len();
    let combined;
    let hay: &[u8] = if tl == 0 {
        data
    } else {
        let mut c = std::mem::take(tail);
        c.extend_from_slice(data);
        combined = c;
        &combined
    };
    let keep_from = match scan(role, hay) {
        Scan::At(p) if p < tl => {
            *tail = hay[..tl].to_vec();
            return (Some(Found::InTail(p)), 0);
        }
        Scan::At(p) => {
            tail.clear();
            return (Some(Found::InData(p - tl)), 0);
        }
        Scan::Partial(p) => p,
        Scan::None => match role {
            // A request line may be split: keep the current line.
            Role::Request => memchr::memrchr(b'\n', hay).map_or(0, |p| p + 1),
            // A status line marker may be split: keep a few bytes.
            Role::Response => hay.len().saturating_sub(11),
        },
    };
    let keep_from = keep_from.max(hay.len().saturating_sub(RESYNC_TAIL));
    *tail = hay[keep_from..].to_vec();
    (None, data.len())
}

fn scan(role: Role, hay: &[u8]) -> Scan {
    match role {
        Role::Response => {
            for p in memchr::memmem::find_iter(hay, b"HTTP/1.") {
                let Some(line) = hay.get(p..p + 12) else { return Scan::Partial(p) };
                if matches!(line[7], b'0' | b'1')
                    && line[8] == b' '
                    && line[9..12].iter().all(u8::is_ascii_digit)
                {
                    return Scan::At(p);
                }
            }
            Scan::None
        }
        Role::Request => {
            for q in memchr::memmem::find_iter(hay, b" HTTP/1.") {
                // Walk back over the target, then the method.
                let line_start = memchr::memrchr(b'\n', &hay[..q]).map_or(0, |p| p + 1);
                let Some(sp) = memchr::memrchr(b' ', &hay[line_start..q]).map(|p| line_start + p) else {
                    continue;
                };
                if sp + 1 >= q {
                    continue;
                }
                let m = hay[..sp].iter().rev().take_while(|b| b.is_ascii_uppercase() || **b == b'-').count();
                let method = &hay[sp - m..sp];
                if !METHODS.contains(&method) {
                    continue;
                }
                match hay.get(q + 8..q + 10) {
                    None => return Scan::Partial(sp - m),
                    Some([v, e]) if matches!(v, b'0' | b'1') && matches!(e, b'\r' | b'\n') => {
                        return Scan::At(sp - m);
                    }
                    _ => continue,
                }
            }
            Scan::None
        }
    }
}
