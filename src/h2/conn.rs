//! One HTTP/2 connection: its two reassembled byte streams in, one [`Exchange`] per stream
//! out (through the [`Orderer`], in request order).
//!
//! Takes the events reassembly gives a [`StreamHandler`](crate::capture::reassembly::StreamHandler)
//! (`data`, `gap`, `end`, `close`); runs a [`FrameReader`] and an HPACK [`Decoder`] per
//! direction, joins HEADERS + CONTINUATION, and keeps a [`Stream`] per stream id until both
//! its halves end or it is reset or refused.
//!
//! - The client is the side that sent the preface; without one (picked up mid-connection)
//!   the roles reassembly chose stand, and both decoders start [`Decoder::mid_stream`].
//! - `RST_STREAM(REFUSED_STREAM)` from the server, and a server `GOAWAY` whose
//!   last-stream-id is below a client stream, set [`Wire::refused`](crate::exchange::Wire).
//!   Other resets set `client_closed` / `server_closed` like a closed HTTP/1 connection.
//! - A gap inside a DATA payload costs body bytes only; elsewhere the direction loses its
//!   framing and its HPACK table's sync (later fields that use lost entries are counted
//!   as undecoded, [`Flags::HEADERS_UNDECODED`]).
//! - PUSH_PROMISE blocks are decoded (to keep the table in sync) and dropped: pushed
//!   responses are not requests of the client.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::frame::{self, Event, FrameHeader, FrameReader};
use super::hpack::{Block, Decoder};
use super::stream::{Msg, Stream};
use super::{H2Config, H2Stats};
use crate::capture::reassembly::{At, Chunk, CloseReason, ConnInfo, Dir};
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{Close, Flags, InputId, Origin, Refused};
use crate::http::order::Orderer;

/// What a connection's events need from the layer around it.
pub struct Ctx<'a> {
    /// Limits.
    pub cfg: &'a H2Config,
    /// The input's id.
    pub input: InputId,
    /// Where finished exchanges go.
    pub orderer: &'a mut Orderer,
    /// Counters.
    pub stats: &'a mut H2Stats,
    /// Warnings.
    pub diag: &'a mut Diagnostics,
}

impl Ctx<'_> {
    fn warn(&mut self, kind: WarningKind, conn: u64, at: Option<At>, what: String) {
        self.diag.warn(kind, self.input, at.map(|a| Origin::Frame(a.frame)), Some(conn), what);
    }
}

/// A header block being collected (HEADERS or PUSH_PROMISE, then CONTINUATIONs).
struct Pending {
    stream: u32,
    buf: Vec<u8>,
    end_stream: bool,
    start: At,
    promise: bool,
}

/// Per sending side (0 = client, 1 = server).
#[derive(Default)]
struct Side {
    decoder: Option<Decoder>,
    pending: Option<Pending>,
    /// SETTINGS_HEADER_TABLE_SIZE the *other* side announced (bounds this side's encoder).
    allowed: Option<usize>,
    /// Bytes seen.
    seen: bool,
}

/// One connection's HTTP/2 state.
pub struct H2Conn {
    id: u64,
    client: SocketAddr,
    server: SocketAddr,
    /// The client sends on [`Dir::ToClient`] (the preface came that way).
    swapped: bool,
    decided: bool,
    preface: bool,
    /// Frame readers per sending side (0 = client).
    readers: [FrameReader; 2],
    sides: [Side; 2],
    streams: BTreeMap<u32, Stream>,
    requests: u32,
    warned_mid: bool,
    warned_limit: bool,
    /// The roles were settled from a decoded block (no preface seen).
    roles_checked: bool,
    /// The side of the header block being dispatched was taken for the client.
    sending_client: bool,
}

fn side_name(client: bool) -> &'static str {
    if client { "client" } else { "server" }
}

impl H2Conn {
    /// State for a new connection.
    pub fn new(info: &ConnInfo, cfg: &H2Config) -> Self {
        H2Conn {
            id: info.id,
            client: info.client,
            server: info.server,
            swapped: false,
            decided: false,
            preface: false,
            readers: [
                FrameReader::new(true, cfg.max_header_block),
                FrameReader::new(false, cfg.max_header_block),
            ],
            sides: [Side::default(), Side::default()],
            streams: BTreeMap::new(),
            requests: 0,
            warned_mid: false,
            warned_limit: false,
            roles_checked: false,
            sending_client: true,
        }
    }

    /// Is `dir` the client's direction?
    fn is_client(&self, dir: Dir) -> bool {
        (dir == Dir::ToServer) != self.swapped
    }

    /// In-order bytes of one direction.
    pub fn data(&mut self, ctx: &mut Ctx<'_>, dir: Dir, chunk: Chunk<'_>) {
        if !self.decided && !chunk.data.is_empty() {
            self.decided = true;
            if dir == Dir::ToClient && super::is_preface(chunk.data) {
                self.swapped = true;
                std::mem::swap(&mut self.client, &mut self.server);
            }
        }
        let s = usize::from(!self.is_client(dir));
        self.sides[s].seen = true;
        let mut reader = std::mem::replace(&mut self.readers[s], FrameReader::new(false, 0));
        reader.feed(chunk.data, chunk.at, &mut |ev| self.event(ctx, dir, ev, chunk.at));
        // The roles may have flipped meanwhile (see `check_roles`).
        self.readers[usize::from(!self.is_client(dir))] = reader;
    }

    /// `len` bytes of one direction were never captured.
    pub fn gap(&mut self, ctx: &mut Ctx<'_>, dir: Dir, len: u64, at: At) {
        let s = usize::from(!self.is_client(dir));
        let mut reader = std::mem::replace(&mut self.readers[s], FrameReader::new(false, 0));
        reader.gap(len, &mut |ev| self.event(ctx, dir, ev, at));
        self.readers[usize::from(!self.is_client(dir))] = reader;
    }

    /// One direction ended (FIN).
    pub fn end(&mut self, ctx: &mut Ctx<'_>, dir: Dir, at: At) {
        let client = self.is_client(dir);
        let close = Some(Close { at: at.ts, rst: false });
        for st in self.streams.values_mut() {
            if client && !st.resp_done {
                st.wire.client_closed = st.wire.client_closed.or(close);
            } else if !client && st.resp.is_none() {
                st.wire.server_closed = st.wire.server_closed.or(close);
            }
            if client && !st.req_done {
                st.flags.set(Flags::REQUEST_TRUNCATED);
                st.req_done = true;
            } else if !client && !st.resp_done {
                st.cut();
            }
        }
        self.release(ctx);
    }

    /// The connection is over: every open stream is finished as it is.
    pub fn close(&mut self, ctx: &mut Ctx<'_>, reason: CloseReason, at: At) {
        let unanswered = self.streams.values().filter(|s| s.resp.is_none() && s.req.is_some()).count();
        if unanswered > 0 {
            ctx.warn(
                WarningKind::RequestWithoutResponse,
                self.id,
                Some(at),
                format!("{unanswered} HTTP/2 streams got no response before {}", close_words(reason)),
            );
        }
        for st in self.streams.values_mut() {
            if st.resp.is_none() {
                match reason {
                    CloseReason::EndOfInput | CloseReason::Idle => st.wire.capture_ended = true,
                    CloseReason::Reset => st.flags.set(Flags::RESET),
                    _ => {}
                }
            }
            st.cut();
        }
        self.release(ctx);
    }

    /// Hands finished streams to the orderer.
    fn release(&mut self, ctx: &mut Ctx<'_>) {
        let done: Vec<u32> = self.streams.iter().filter(|(_, s)| s.is_done()).map(|(id, _)| *id).collect();
        for id in done {
            if let Some(st) = self.streams.remove(&id) {
                ctx.stats.exchanges += 1;
                let key = st.key;
                ctx.orderer.complete(key, st.into_exchange(ctx.input, self.id, self.client, self.server));
            }
        }
    }

    fn event(&mut self, ctx: &mut Ctx<'_>, dir: Dir, ev: Event<'_>, at: At) {
        let client = self.is_client(dir);
        let s = usize::from(!client);
        match ev {
            Event::Preface => self.preface = true,
            Event::NoPreface => self.mid_connection(ctx, at),
            Event::Resync => ctx.stats.resyncs += 1,
            Event::Lost => {
                self.lose_sync(s);
                ctx.warn(
                    WarningKind::TcpGap,
                    self.id,
                    Some(at),
                    format!(
                        "bytes of the HTTP/2 {} stream were lost outside a DATA payload: its framing is lost until a segment starts with frames, and header fields that use HPACK entries sent meanwhile are marked undecoded",
                        side_name(client)
                    ),
                );
                let gap = if client { Flags::REQUEST_GAP } else { Flags::RESPONSE_GAP };
                for st in self.streams.values_mut() {
                    if !(if client { st.req_done } else { st.resp_done }) {
                        st.flags.set(gap);
                    }
                }
            }
            Event::Frame { h, payload, start } => {
                ctx.stats.frames += 1;
                self.frame(ctx, dir, h, payload, start, at);
            }
            Event::DataStart { .. } => ctx.stats.frames += 1,
            Event::Data { stream, bytes } => {
                let cap = ctx.cfg.body_cap;
                if let Some(m) = self.streams.get_mut(&stream).and_then(|st| st.msg(client)) {
                    m.body.push(bytes, cap);
                    m.end = at;
                }
            }
            Event::DataMissing { stream, len } => {
                if let Some(st) = self.streams.get_mut(&stream) {
                    st.flags.set(if client { Flags::REQUEST_GAP } else { Flags::RESPONSE_GAP });
                    if let Some(m) = st.msg(client) {
                        m.body.missing += len;
                    }
                }
            }
            Event::DataEnd { h } => {
                if h.has(frame::END_STREAM) {
                    self.end_stream(ctx, client, h.stream);
                }
            }
            Event::Skipped { h } => {
                if matches!(h.kind, frame::HEADERS | frame::CONTINUATION | frame::PUSH_PROMISE) {
                    self.lose_sync(s);
                }
                ctx.warn(
                    WarningKind::BufferLimit,
                    self.id,
                    Some(at),
                    format!(
                        "an HTTP/2 frame of type {} and {} bytes is longer than the {}-byte limit; skipped",
                        h.kind, h.len, ctx.cfg.max_header_block
                    ),
                );
            }
            Event::Malformed { h, why } => ctx.warn(
                WarningKind::HttpParseError,
                self.id,
                Some(at),
                format!("HTTP/2 frame on stream {}: {why}", h.stream),
            ),
        }
    }

    /// The client's bytes do not begin with the preface: the capture began mid-connection.
    fn mid_connection(&mut self, ctx: &mut Ctx<'_>, at: At) {
        if !std::mem::replace(&mut self.warned_mid, true) {
            ctx.warn(
                WarningKind::TcpGap,
                self.id,
                Some(at),
                "an HTTP/2 connection was picked up mid-connection (no preface): header fields that use HPACK dynamic-table entries sent before the capture are marked undecoded".into(),
            );
        }
    }

    fn lose_sync(&mut self, s: usize) {
        self.sides[s].pending = None;
        if let Some(d) = &mut self.sides[s].decoder {
            d.lose_sync();
        }
    }

    fn frame(&mut self, ctx: &mut Ctx<'_>, dir: Dir, h: FrameHeader, payload: &[u8], start: At, at: At) {
        let client = self.is_client(dir);
        let s = usize::from(!client);
        match h.kind {
            frame::HEADERS | frame::PUSH_PROMISE => {
                if self.sides[s].pending.take().is_some() {
                    self.protocol_error(ctx, s, at, "a header block was not finished by CONTINUATION");
                }
                let Some(fragment) = fragment(&h, payload) else {
                    return self.protocol_error(ctx, s, at, "HEADERS padding longer than the payload");
                };
                let promise = h.kind == frame::PUSH_PROMISE;
                let (stream, end_stream) = (h.stream, h.has(frame::END_STREAM) && !promise);
                let buf = fragment.to_vec();
                self.sides[s].pending = Some(Pending { stream, buf, end_stream, start, promise });
                if h.has(frame::END_HEADERS) {
                    self.block_done(ctx, dir, at);
                }
            }
            frame::CONTINUATION => {
                let limit = ctx.cfg.max_header_block;
                match &mut self.sides[s].pending {
                    Some(p) if p.stream == h.stream && p.buf.len() + payload.len() <= limit => {
                        p.buf.extend_from_slice(payload);
                        if h.has(frame::END_HEADERS) {
                            self.block_done(ctx, dir, at);
                        }
                    }
                    Some(_) => self.protocol_error(
                        ctx,
                        s,
                        at,
                        "CONTINUATION on another stream, or a header block over the limit",
                    ),
                    None => self.protocol_error(ctx, s, at, "CONTINUATION without a header block"),
                }
            }
            frame::SETTINGS if !h.has(frame::ACK) => {
                for entry in payload.chunks_exact(6) {
                    let id = u16::from_be_bytes([entry[0], entry[1]]);
                    let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]) as usize;
                    if id == 1 {
                        // This side decodes with that table size: it bounds the other's encoder.
                        let other = &mut self.sides[1 - s];
                        other.allowed = Some(other.allowed.map_or(value, |a| a.max(value)));
                    }
                }
            }
            frame::RST_STREAM if payload.len() == 4 => {
                let code = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                if let Some(st) = self.streams.get_mut(&h.stream) {
                    st.reset(client, code, at);
                    if !client && code == super::stream::REFUSED_STREAM {
                        ctx.stats.refused += 1;
                    }
                }
                self.release(ctx);
            }
            frame::GOAWAY if payload.len() >= 8 && !client => {
                let last = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff;
                for (id, st) in self.streams.range_mut(last.saturating_add(1)..) {
                    if id % 2 == 1 && st.resp.is_none() {
                        st.refuse(Refused::GoAway { at: at.ts, last_stream_id: last });
                        ctx.stats.refused += 1;
                    }
                }
                self.release(ctx);
            }
            // PING, WINDOW_UPDATE, PRIORITY, SETTINGS acks, client GOAWAY, unknown types
            // (which RFC 9113 §4.1 says to ignore): nothing an exchange shows.
            _ => {}
        }
    }

    fn protocol_error(&mut self, ctx: &mut Ctx<'_>, s: usize, at: At, why: &str) {
        self.lose_sync(s);
        ctx.warn(
            WarningKind::HttpParseError,
            self.id,
            Some(at),
            format!("HTTP/2 {} header block: {why}; later header fields may be undecoded", side_name(s == 0)),
        );
    }

    /// A header block is complete: decode it and give it to its stream.
    fn block_done(&mut self, ctx: &mut Ctx<'_>, dir: Dir, at: At) {
        let s = usize::from(!self.is_client(dir));
        self.sending_client = s == 0;
        let Some(p) = self.sides[s].pending.take() else { return };
        let preface = self.preface;
        let side = &mut self.sides[s];
        let limit = ctx.cfg.max_header_block;
        let decoder = side
            .decoder
            .get_or_insert_with(|| if preface { Decoder::new(limit) } else { Decoder::mid_stream(limit) });
        if let Some(a) = side.allowed {
            decoder.set_allowed(a);
        }
        let block = match decoder.decode(&p.buf) {
            Ok(b) => b,
            Err(e) => {
                decoder.lose_sync();
                ctx.warn(
                    WarningKind::HttpParseError,
                    self.id,
                    Some(p.start),
                    format!("an HTTP/2 {} header block on stream {} does not decode ({e}); its fields are marked undecoded", side_name(s == 0), p.stream),
                );
                Block { fields: Vec::new(), undecoded: 1 }
            }
        };
        ctx.stats.undecoded_fields += u64::from(block.undecoded);
        self.check_roles(&block);
        let client = self.is_client(dir);
        if p.promise {
            ctx.stats.pushes += 1;
            return;
        }
        if client {
            self.request_block(ctx, &p, block, at);
        } else {
            self.response_block(ctx, &p, block, at);
        }
        if p.end_stream {
            self.end_stream(ctx, client, p.stream);
        }
    }

    /// Without a preface the roles are reassembly's guess (often the port numbers): the
    /// first decoded block settles them, `:method` is sent by the client, `:status` by
    /// the server. A wrong guess swaps everything kept per side.
    fn check_roles(&mut self, block: &Block) {
        if self.preface || self.roles_checked {
            return;
        }
        let has = |name: &[u8]| block.fields.iter().any(|(n, _)| n == name);
        let sender_is_client = match (has(b":method"), has(b":status")) {
            (true, false) => true,
            (false, true) => false,
            _ => return,
        };
        self.roles_checked = true;
        // The sender is the side whose state was just used: `sides[0]` when it was taken
        // for the client.
        if self.streams.is_empty() && sender_is_client != self.sending_client {
            self.swapped = !self.swapped;
            std::mem::swap(&mut self.client, &mut self.server);
            self.sides.swap(0, 1);
            self.readers.swap(0, 1);
        }
    }

    fn request_block(&mut self, ctx: &mut Ctx<'_>, p: &Pending, block: Block, at: At) {
        if let Some(st) = self.streams.get_mut(&p.stream) {
            mark(st, &block);
            match &mut st.req {
                Some(m) => m.add_trailers(block.fields, at),
                None => st.req = Some(Msg::new(block.fields, p.start)),
            }
            return;
        }
        self.make_room(ctx, at);
        ctx.stats.requests += 1;
        self.requests += 1;
        let key = ctx.orderer.open(p.start.frame);
        let mut st = Stream::new(p.stream, key, self.requests);
        mark(&mut st, &block);
        let mut m = Msg::new(block.fields, p.start);
        m.end = at;
        st.req = Some(m);
        self.streams.insert(p.stream, st);
    }

    fn response_block(&mut self, ctx: &mut Ctx<'_>, p: &Pending, block: Block, at: At) {
        if !self.streams.contains_key(&p.stream) {
            ctx.warn(
                WarningKind::ResponseWithoutRequest,
                self.id,
                Some(p.start),
                format!("an HTTP/2 response on stream {} whose request was not captured", p.stream),
            );
            self.make_room(ctx, at);
            let key = ctx.orderer.open(p.start.frame);
            let mut st = Stream::new(p.stream, key, 0);
            st.req_done = true;
            self.streams.insert(p.stream, st);
        }
        let Some(st) = self.streams.get_mut(&p.stream) else { return };
        mark(st, &block);
        if let Some(m) = &mut st.resp {
            m.add_trailers(block.fields, at);
            return;
        }
        let mut m = Msg::new(block.fields, p.start);
        m.end = at;
        match m.pseudo.status {
            Some(code @ 100..=199) if !p.end_stream => st.interim.push(code),
            _ => {
                ctx.stats.responses += 1;
                st.resp = Some(m);
            }
        }
    }

    fn end_stream(&mut self, ctx: &mut Ctx<'_>, client: bool, id: u32) {
        if let Some(st) = self.streams.get_mut(&id) {
            if client {
                st.req_done = true;
            } else {
                st.resp_done = true;
            }
        }
        self.release(ctx);
    }

    /// The stream limit: the oldest open stream is given up (reported as it is).
    fn make_room(&mut self, ctx: &mut Ctx<'_>, at: At) {
        if self.streams.len() < ctx.cfg.max_streams {
            return;
        }
        if !std::mem::replace(&mut self.warned_limit, true) {
            ctx.warn(
                WarningKind::BufferLimit,
                self.id,
                Some(at),
                format!(
                    "more than {} HTTP/2 streams open at once on one connection; the oldest are reported as they are (a fixed limit)",
                    ctx.cfg.max_streams
                ),
            );
        }
        if let Some(mut st) = self.streams.pop_first().map(|(_, s)| s) {
            st.flags.set(Flags::LIMIT);
            st.cut();
            ctx.stats.exchanges += 1;
            let key = st.key;
            ctx.orderer.complete(key, st.into_exchange(ctx.input, self.id, self.client, self.server));
        }
    }
}

/// Marks a stream whose block had undecodable fields.
fn mark(st: &mut Stream, block: &Block) {
    if block.undecoded > 0 {
        st.flags.set(Flags::HEADERS_UNDECODED);
    }
}

/// The header block fragment of a HEADERS or PUSH_PROMISE payload (padding, priority
/// and promised stream id removed); `None` when the padding does not fit.
fn fragment<'a>(h: &FrameHeader, payload: &'a [u8]) -> Option<&'a [u8]> {
    let (pad, mut rest) = if h.has(frame::PADDED) {
        let (&pad, rest) = payload.split_first()?;
        (usize::from(pad), rest)
    } else {
        (0, payload)
    };
    let skip = match h.kind {
        frame::HEADERS if h.has(frame::PRIORITY_FLAG) => 5,
        frame::PUSH_PROMISE => 4,
        _ => 0,
    };
    rest = rest.get(skip..)?;
    rest.get(..rest.len().checked_sub(pad)?)
}

fn close_words(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::Fin => "the connection closed",
        CloseReason::Reset => "the connection was reset",
        CloseReason::Idle => "the connection was silent longer than the idle timeout",
        CloseReason::Limit => "the connection was closed early (connection limit)",
        CloseReason::Reused => "the address pair was reused by a new connection",
        CloseReason::EndOfInput => "the capture ended",
    }
}
