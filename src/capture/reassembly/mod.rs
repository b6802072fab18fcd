//! TCP reassembly: [`TcpSegment`]s in, ordered byte streams with explicit gaps out.
//!
//! Takes segments in capture order; gives each connection's two byte streams to a
//! [`StreamHandler`] as in-order [`Chunk`]s (borrowed straight from the packet when the
//! segment is the next expected one, so the common case copies nothing), [`StreamHandler::gap`]
//! calls for bytes that were never captured, half-close and close events.
//!
//! - Connections are keyed by their address pair; a SYN with a new initial sequence number on
//!   a known pair starts a new connection (port reuse), so the key is really pair + SYN epoch.
//! - Client and server come from the handshake (SYN, SYN-ACK), else from the first payload
//!   (a request line or a status line), else from the ports.
//! - Sequence numbers are unwrapped to 64-bit stream offsets relative to the next expected
//!   byte, so wrap-around at 2^32 is invisible downstream.
//! - Out-of-order segments are buffered (copied) until the hole fills; retransmissions and
//!   overlaps are trimmed, the first copy wins and a different second copy is a
//!   `conflicting-overlap` warning.
//! - A hole becomes a gap when the peer acknowledges bytes beyond it (it received what the
//!   capture missed), when buffers hit their caps, or when the connection ends.
//! - A capture that starts mid-connection is picked up at the first segment seen.
//! - Memory is bounded: per-direction and total buffered bytes, open-connection count, an
//!   idle timeout; hitting a cap is a warning, never unbounded growth.
//!
//! This file holds the types, the handler trait and the per-segment entry point;
//! [`deliver`] puts bytes in order (or holds them) and declares gaps; [`lifecycle`] ends
//! directions and connections (FIN, RST, idle, table limit, end of input).

mod deliver;
mod lifecycle;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rustc_hash::FxHashMap;

use crate::capture::decode::TcpSegment;
use crate::diag::Diagnostics;
use crate::exchange::{InputId, Timestamp};

/// Limits that keep memory bounded whatever the input.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at most; beyond, the least recently active are closed early.
    pub max_conns: usize,
    /// Out-of-order bytes buffered per direction at most; beyond, the hole becomes a gap.
    pub max_buffer_per_dir: usize,
    /// Out-of-order bytes buffered over all connections at most.
    pub max_buffer_total: usize,
    /// A connection silent this long (capture time) is closed.
    pub idle_timeout_ns: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_conns: 100_000,
            max_buffer_per_dir: 1 << 20,
            max_buffer_total: 64 << 20,
            idle_timeout_ns: 300 * 1_000_000_000,
        }
    }
}

/// Direction of a byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Client to server (requests).
    ToServer = 0,
    /// Server to client (responses).
    ToClient = 1,
}

impl Dir {
    /// The other direction.
    pub fn other(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }
}

/// A connection's identity as the handler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// 1-based connection number in order of creation.
    pub id: u64,
    /// The client end (best knowledge at creation).
    pub client: SocketAddr,
    /// The server end.
    pub server: SocketAddr,
    /// The connection's first captured segment was a SYN or SYN-ACK: stream offset 0 is
    /// the first byte the connection carried (else the capture picked it up mid-stream).
    pub handshake: bool,
}

/// Capture position of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    /// Capture time.
    pub ts: Timestamp,
    /// Frame number.
    pub frame: u64,
}

/// In-order stream bytes.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// The bytes.
    pub data: &'a [u8],
    /// Stream offset of `data[0]` (0 = first byte after the SYN, or first byte seen).
    pub offset: u64,
    /// The acknowledgment this segment carried, as an offset in the *other* direction's
    /// stream: how much of it the sender had received when sending these bytes.
    pub ack: Option<u64>,
    /// Where the bytes were captured.
    pub at: At,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Both directions sent FIN.
    Fin,
    /// A RST.
    Reset,
    /// Silent for longer than the idle timeout.
    Idle,
    /// Closed early because the connection table was full.
    Limit,
    /// A new SYN reused the address pair.
    Reused,
    /// The capture ended.
    EndOfInput,
}

/// Receives the reassembled streams.
pub trait StreamHandler {
    /// Per-connection state.
    type Conn;
    /// A new connection.
    fn open(&mut self, info: &ConnInfo) -> Self::Conn;
    /// In-order bytes of one direction.
    fn data(
        &mut self,
        conn: &mut Self::Conn,
        info: &ConnInfo,
        dir: Dir,
        chunk: Chunk<'_>,
        diag: &mut Diagnostics,
    );
    /// The bytes `hole` (stream offsets) of one direction were never captured.
    fn gap(
        &mut self,
        conn: &mut Self::Conn,
        info: &ConnInfo,
        dir: Dir,
        hole: std::ops::Range<u64>,
        at: At,
        diag: &mut Diagnostics,
    );
    /// One direction ended (FIN reached in order).
    fn end(&mut self, conn: &mut Self::Conn, info: &ConnInfo, dir: Dir, at: At, diag: &mut Diagnostics);
    /// The application protocol's guess from a connection's first payload, when the SYN
    /// was not captured: `Some(true)` when its sender is the client, `Some(false)` when it
    /// is the server, `None` when the bytes do not tell (then the lower port is the server).
    fn sniff_client(&self, payload: &[u8]) -> Option<bool> {
        let _ = payload;
        None
    }
    /// A RST from `dir`'s sender; [`StreamHandler::close`] with [`CloseReason::Reset`]
    /// follows (after any held bytes are flushed). The default ignores it.
    fn reset(&mut self, conn: &mut Self::Conn, info: &ConnInfo, dir: Dir, at: At, diag: &mut Diagnostics) {
        let _ = (conn, info, dir, at, diag);
    }
    /// The connection is over; nothing more will come for it.
    fn close(
        &mut self,
        conn: Self::Conn,
        info: &ConnInfo,
        reason: CloseReason,
        at: At,
        diag: &mut Diagnostics,
    );
}

/// Counters of what reassembly saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// TCP segments processed.
    pub segments: u64,
    /// Connections created.
    pub connections: u64,
    /// Segments that carried only bytes already delivered.
    pub retransmissions: u64,
    /// Segments buffered out of order.
    pub out_of_order: u64,
    /// Gap events.
    pub gaps: u64,
    /// Bytes lost in gaps.
    pub gap_bytes: u64,
    /// Largest number of connections open at once.
    pub peak_conns: usize,
}

/// One segment's bytes as reassembly places them: its direction, the stream offset of its
/// first byte, the acknowledgment it carried (as an offset of the other direction), and
/// where it was captured.
#[derive(Clone, Copy)]
struct Incoming<'a, 'p> {
    seg: &'a TcpSegment<'p>,
    dir: Dir,
    off: u64,
    ack: Option<u64>,
    at: At,
}

/// Canonical address pair: the smaller address first.
type Key = (SocketAddr, SocketAddr);

fn key_of(a: SocketAddr, b: SocketAddr) -> Key {
    if a <= b { (a, b) } else { (b, a) }
}

/// Out-of-order bytes waiting for their hole to fill.
#[derive(Debug)]
struct Held {
    data: Vec<u8>,
    /// Bytes known lost right after `data` (snaplen cut).
    lost_after: u32,
    ack: Option<u64>,
    at: At,
}

impl Held {
    fn end(&self, start: u64) -> u64 {
        start + self.data.len() as u64 + self.lost_after as u64
    }
}

/// One direction of a connection.
#[derive(Debug, Default)]
struct Half {
    /// Sequence number of stream offset 0.
    base: Option<u32>,
    /// Base came from a SYN (so earlier bytes cannot exist).
    from_syn: bool,
    /// Next expected stream offset.
    next: u64,
    /// Bytes delivered (or gapped) so far: `next` > 0.
    held: BTreeMap<u64, Held>,
    held_bytes: usize,
    /// Stream offset of the FIN, once seen.
    fin_at: Option<u64>,
    /// FIN reached in order.
    ended: bool,
}

impl Half {
    /// The stream offset of `seq`, unwrapped around `next`.
    fn offset(&self, seq: u32) -> Option<u64> {
        let base = self.base?;
        let expected = base.wrapping_add(self.next as u32);
        let d = seq.wrapping_sub(expected) as i32 as i64;
        Some((self.next as i64 + d).max(0) as u64)
    }

    fn first_held(&self) -> Option<u64> {
        self.held.keys().next().copied()
    }
}

struct Conn<C> {
    info: ConnInfo,
    halves: [Half; 2],
    /// `None` once closed: the entry stays a while to swallow late packets.
    app: Option<C>,
    last_seen: Timestamp,
    /// Initial sequence number of the client's SYN, if seen (to spot port reuse).
    client_isn: Option<u32>,
    /// Closed by a RST: any later SYN on the pair is a new connection, even one that
    /// repeats the old initial sequence number (a client re-sending its SYN after a reset).
    reset: bool,
}

/// The reassembler: a connection table plus limits.
pub struct Reassembler<C> {
    /// Boxed: the table then holds 72-byte entries, not whole connections, which matters
    /// when it is full (`--max-conns`): evicting leaves tombstones, and the next insert past
    /// them doubles the table (measured: 100 000 half-open connections took 265 MB unboxed).
    conns: FxHashMap<Key, Box<Conn<C>>>,
    limits: Limits,
    input: InputId,
    next_id: u64,
    held_total: usize,
    last_sweep: Timestamp,
    stats: ReassemblyStats,
}

/// How often (capture time) idle connections are looked for.
const SWEEP_EVERY_NS: i64 = 10 * 1_000_000_000;
/// How long a closed connection's entry swallows late packets.
const TOMBSTONE_NS: i64 = 30 * 1_000_000_000;

impl<C> Reassembler<C> {
    /// An empty table.
    pub fn new(limits: Limits, input: InputId) -> Self {
        Reassembler {
            conns: FxHashMap::default(),
            limits,
            input,
            next_id: 1,
            held_total: 0,
            last_sweep: Timestamp(i64::MIN),
            stats: ReassemblyStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Connections currently in the table (open or recently closed).
    pub fn table_len(&self) -> usize {
        self.conns.len()
    }

    /// Feeds one segment.
    pub fn segment<H: StreamHandler<Conn = C>>(
        &mut self,
        seg: &TcpSegment<'_>,
        at: At,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
        self.stats.segments += 1;
        if at.ts.0.saturating_sub(self.last_sweep.0) >= SWEEP_EVERY_NS {
            if self.last_sweep.0 != i64::MIN {
                self.sweep(at, handler, diag);
            }
            self.last_sweep = at.ts;
        }
        let key = key_of(seg.src, seg.dst);
        let fresh_syn = seg.flags.syn && !seg.flags.ack;
        let replace = match self.conns.get(&key) {
            None => {
                if seg.flags.rst {
                    return;
                }
                true
            }
            Some(c) if c.app.is_none() => fresh_syn && (c.reset || c.client_isn != Some(seg.seq)),
            Some(c) => {
                fresh_syn
                    && match c.client_isn {
                        Some(isn) => isn != seg.seq,
                        None => c.halves.iter().any(|h| h.next > 0),
                    }
            }
        };
        if replace {
            if let Some(old) = self.conns.remove(&key) {
                self.finish_conn(*old, CloseReason::Reused, at, handler, diag);
            }
            if self.conns.len() >= self.limits.max_conns {
                self.evict(at, handler, diag);
            }
            let conn = self.new_conn(seg, handler);
            self.conns.insert(key, Box::new(conn));
            self.stats.peak_conns = self.stats.peak_conns.max(self.conns.len());
        }
        let Some(conn) = self.conns.get_mut(&key) else { return };
        if conn.app.is_none() {
            return; // a late packet of a closed connection
        }
        conn.last_seen = at.ts;
        let dir = if seg.src == conn.info.client { Dir::ToServer } else { Dir::ToClient };
        let d = dir as usize;

        if seg.flags.syn {
            if dir == Dir::ToServer && !seg.flags.ack {
                conn.client_isn = Some(seg.seq);
            }
            let half = &mut conn.halves[d];
            if !half.from_syn && half.next == 0 && half.held.is_empty() {
                half.base = Some(seg.seq.wrapping_add(1));
                half.from_syn = true;
            }
            if seg.flags.ack {
                let peer = &mut conn.halves[1 - d];
                if peer.base.is_none() {
                    peer.base = Some(seg.ack);
                }
            }
        }
        if conn.halves[d].base.is_none() {
            conn.halves[d].base = Some(seg.seq);
        }
        if seg.flags.ack && conn.halves[1 - d].base.is_none() && !seg.flags.rst {
            conn.halves[1 - d].base = Some(seg.ack);
        }

        let seq = if seg.flags.syn { seg.seq.wrapping_add(1) } else { seg.seq };
        let ack = if seg.flags.ack { conn.halves[1 - d].offset(seg.ack) } else { None };
        let Some(off) = conn.halves[d].offset(seq) else { return };

        // The sender acknowledged bytes of the other direction we never saw: those are gaps,
        // and they came before this segment's bytes (the sender had received them when it
        // sent these), so they are declared first: a request lost in a gap must be known
        // before the response sent after it is paired.
        let inc = Incoming { seg, dir, off, ack, at };
        if let Some(a) = ack {
            self.ack_gap(key, &inc, a, handler, diag);
        }
        if !seg.payload.is_empty() || seg.missing > 0 {
            self.payload(key, &inc, handler, diag);
        }
        let Some(conn) = self.conns.get_mut(&key) else { return };
        if seg.flags.fin {
            let fin = off + seg.payload.len() as u64 + seg.missing as u64;
            let half = &mut conn.halves[d];
            if half.fin_at.is_none() && fin >= half.next {
                half.fin_at = Some(fin);
            }
        }
        if seg.flags.rst {
            if let Some(conn) = self.conns.get_mut(&key) {
                conn.reset = true;
                let info = conn.info;
                if let Some(app) = conn.app.as_mut() {
                    handler.reset(app, &info, dir, at, diag);
                }
                let conn = Conn { app: conn.app.take(), halves: std::mem::take(&mut conn.halves), ..**conn };
                self.finish_conn(conn, CloseReason::Reset, at, handler, diag);
            }
            return;
        }
        self.check_ends(key, at, handler, diag);
    }

    fn new_conn<H: StreamHandler<Conn = C>>(&mut self, seg: &TcpSegment<'_>, handler: &mut H) -> Conn<C> {
        let src_is_client = if seg.flags.syn {
            !seg.flags.ack
        } else if let Some(client) = handler.sniff_client(seg.payload) {
            client
        } else {
            // Servers usually listen on the lower port.
            seg.dst.port() < seg.src.port()
        };
        let (client, server) = if src_is_client { (seg.src, seg.dst) } else { (seg.dst, seg.src) };
        let info = ConnInfo { id: self.next_id, client, server, handshake: seg.flags.syn };
        self.next_id += 1;
        self.stats.connections += 1;
        Conn {
            info,
            halves: [Half::default(), Half::default()],
            app: Some(handler.open(&info)),
            last_seen: Timestamp::default(),
            client_isn: None,
            reset: false,
        }
    }
}

fn dir_name(dir: Dir) -> &'static str {
    match dir {
        Dir::ToServer => "client→server",
        Dir::ToClient => "server→client",
    }
}

#[cfg(test)]
mod tests;
