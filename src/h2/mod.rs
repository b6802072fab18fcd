//! HTTP/2 (RFC 9113) and gRPC: a connection's reassembled byte streams in,
//! [`Exchange`](crate::exchange::Exchange)s out, one per stream, like HTTP/1.x.
//!
//! [`frame`] reads frames per direction; [`hpack`] (with [`huffman`]) decodes header blocks
//! with one dynamic table per direction; [`stream`] turns a stream into an exchange;
//! [`conn`] holds a connection's state; [`grpc`] reads gRPC facts off an exchange.
//!
//! The stage plugs in where HTTP/1.x does: [`H2Handler`] is a
//! [`StreamHandler`](crate::capture::reassembly::StreamHandler) of its own (every
//! connection is HTTP/2), and [`H2Conn`] with a [`Ctx`] can be driven per connection by
//! a layer that decides the protocol itself: [`is_preface`] tells a client preface
//! (cleartext h2c with prior knowledge, or TLS with ALPN `h2`). See docs/http2.md.

pub mod conn;
pub mod frame;
pub mod grpc;
pub mod hpack;
pub mod huffman;
pub mod stream;

pub use conn::{Ctx, H2Conn};

use crate::capture::reassembly::{At, Chunk, CloseReason, ConnInfo, Dir, StreamHandler};
use crate::diag::Diagnostics;
use crate::exchange::{Exchange, InputId};
use crate::http::order::Orderer;

/// Limits of the HTTP/2 layer.
#[derive(Clone, Copy, Debug)]
pub struct H2Config {
    /// DATA bytes kept per message (as `HttpConfig::body_cap`); the rest is only counted.
    pub body_cap: usize,
    /// A header block (HEADERS + CONTINUATION, and its decoded fields) at most; also the
    /// largest non-DATA frame buffered.
    pub max_header_block: usize,
    /// Streams open at once per connection at most.
    pub max_streams: usize,
}

impl Default for H2Config {
    fn default() -> Self {
        H2Config { body_cap: 64 << 10, max_header_block: 256 << 10, max_streams: 1024 }
    }
}

/// Counters of the HTTP/2 layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct H2Stats {
    /// Frames read.
    pub frames: u64,
    /// Request header blocks (streams opened by the client).
    pub requests: u64,
    /// Final response header blocks.
    pub responses: u64,
    /// Exchanges finished.
    pub exchanges: u64,
    /// Header fields that could not be decoded (unseen HPACK entries, broken blocks).
    pub undecoded_fields: u64,
    /// Times a direction found its framing again after losing it.
    pub resyncs: u64,
    /// Streams the server refused (REFUSED_STREAM, GOAWAY).
    pub refused: u64,
    /// PUSH_PROMISE blocks decoded and dropped.
    pub pushes: u64,
}

/// Does `bytes` start with the HTTP/2 client connection preface
/// (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`)? A chunk shorter than the preface counts when it
/// is a prefix of it at least as long as `PRI * HTTP/2.0` (no HTTP/1.x request is).
pub fn is_preface(bytes: &[u8]) -> bool {
    let n = bytes.len().min(frame::PREFACE.len());
    n >= 14 && bytes[..n] == frame::PREFACE[..n]
}

/// Does `bytes` start with a run of plausible HTTP/2 frames (a connection picked up
/// after its preface)? A heuristic: known types, right stream kinds and fixed lengths.
pub fn looks_like_frames(bytes: &[u8]) -> bool {
    frame::plausible(bytes)
}

/// The protocol an exchange was carried by, as the `exchanges` CSV's `protocol` column
/// names it: `http/1.0`, `http/1.1`, `h2` (HTTP/2 decrypted from TLS), `h2c` (cleartext
/// HTTP/2), or `grpc` (HTTP/2 with `content-type: application/grpc*`, either side).
/// Access logs and HARs give HTTP/1.x heads (docs/report-format.md).
pub fn protocol(ex: &Exchange) -> &'static str {
    let req = ex.request.as_ref().map(|m| &m.head);
    let resp = ex.response.as_ref().map(|m| &m.head);
    let Some(first) = req.or(resp) else { return "" };
    match first.version {
        0 => "http/1.0",
        2 if req.into_iter().chain(resp).any(grpc::is_grpc) => "grpc",
        2 if ex.wire.tls.is_some() => "h2",
        2 => "h2c",
        _ => "http/1.1",
    }
}

/// The HTTP/2 layer for one input when every connection is HTTP/2.
pub struct H2Handler {
    /// Limits.
    pub cfg: H2Config,
    input: InputId,
    /// Finished exchanges, released in request order.
    pub orderer: Orderer,
    stats: H2Stats,
}

impl H2Handler {
    /// A handler for input `input`.
    pub fn new(cfg: H2Config, input: InputId) -> Self {
        H2Handler { cfg, input, orderer: Orderer::new(crate::http::ORDER_CAP), stats: H2Stats::default() }
    }

    /// Counters so far.
    pub fn stats(&self) -> H2Stats {
        self.stats
    }

    fn ctx<'a>(&'a mut self, diag: &'a mut Diagnostics) -> Ctx<'a> {
        Ctx { cfg: &self.cfg, input: self.input, orderer: &mut self.orderer, stats: &mut self.stats, diag }
    }
}

impl StreamHandler for H2Handler {
    type Conn = Box<H2Conn>;

    fn open(&mut self, info: &ConnInfo) -> Box<H2Conn> {
        Box::new(H2Conn::new(info, &self.cfg))
    }

    fn sniff_client(&self, payload: &[u8]) -> Option<bool> {
        is_preface(payload).then_some(true)
    }

    fn data(
        &mut self,
        conn: &mut Box<H2Conn>,
        _: &ConnInfo,
        dir: Dir,
        chunk: Chunk<'_>,
        diag: &mut Diagnostics,
    ) {
        conn.data(&mut self.ctx(diag), dir, chunk);
    }

    fn gap(
        &mut self,
        conn: &mut Box<H2Conn>,
        _: &ConnInfo,
        dir: Dir,
        hole: std::ops::Range<u64>,
        at: At,
        diag: &mut Diagnostics,
    ) {
        conn.gap(&mut self.ctx(diag), dir, hole.end.saturating_sub(hole.start), at);
    }

    fn end(&mut self, conn: &mut Box<H2Conn>, _: &ConnInfo, dir: Dir, at: At, diag: &mut Diagnostics) {
        conn.end(&mut self.ctx(diag), dir, at);
    }

    fn close(
        &mut self,
        mut conn: Box<H2Conn>,
        _: &ConnInfo,
        reason: CloseReason,
        at: At,
        diag: &mut Diagnostics,
    ) {
        conn.close(&mut self.ctx(diag), reason, at);
    }
}

#[cfg(test)]
mod tests;
