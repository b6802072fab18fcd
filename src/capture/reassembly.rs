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

use std::collections::BTreeMap;
use std::net::SocketAddr;

use rustc_hash::FxHashMap;

use crate::capture::decode::TcpSegment;
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{InputId, Origin, Timestamp};

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
            Some(c) if c.app.is_none() => fresh_syn && c.client_isn != Some(seg.seq),
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
        if let Some(a) = ack {
            self.ack_gap(key, dir.other(), a, !seg.payload.is_empty(), at, handler, diag);
        }
        if !seg.payload.is_empty() || seg.missing > 0 {
            self.payload(key, dir, off, seg, ack, at, handler, diag);
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
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn payload<H: StreamHandler<Conn = C>>(
        &mut self,
        key: Key,
        dir: Dir,
        off: u64,
        seg: &TcpSegment<'_>,
        ack: Option<u64>,
        at: At,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
        let limits = self.limits;
        let Some(conn) = self.conns.get_mut(&key) else { return };
        let info = conn.info;
        let d = dir as usize;
        let data = seg.payload;
        let end = off + data.len() as u64 + seg.missing as u64;
        let half = &mut conn.halves[d];
        if end <= half.next {
            self.stats.retransmissions += 1;
            return;
        }
        if off <= half.next {
            // In order (possibly overlapping what was delivered): deliver straight from the packet.
            let skip = (half.next - off) as usize;
            let Some(app) = conn.app.as_mut() else { return };
            if skip < data.len() {
                let chunk = Chunk { data: &data[skip..], offset: half.next, ack, at };
                half.next += chunk.data.len() as u64;
                handler.data(app, &info, dir, chunk, diag);
            }
            if seg.missing > 0 && end > half.next {
                let len = end - half.next;
                self.stats.gaps += 1;
                self.stats.gap_bytes += len;
                diag.warn(
                    WarningKind::SnaplenCut,
                    self.input,
                    Some(Origin::Frame(at.frame)),
                    Some(info.id),
                    format!("{len} payload bytes cut by the snapshot length"),
                );
                handler.gap(app, &info, dir, half.next..half.next + len, at, diag);
                half.next = end;
            }
            self.drain(key, dir, handler, diag);
            return;
        }
        // Out of order: hold a copy of the parts not already held.
        self.stats.out_of_order += 1;
        let added = hold(half, off, data, seg.missing, ack, at, self.input, info.id, diag);
        self.held_total += added;
        if half.held_bytes > limits.max_buffer_per_dir || self.held_total > limits.max_buffer_total {
            diag.warn(
                WarningKind::BufferLimit,
                self.input,
                Some(Origin::Frame(at.frame)),
                Some(info.id),
                if half.held_bytes > limits.max_buffer_per_dir {
                    format!(
                        "out-of-order buffer of one connection direction full ({} bytes held); the hole before it is treated as lost (raise --max-buffer)",
                        half.held_bytes
                    )
                } else {
                    format!(
                        "out-of-order buffers of all connections full ({} bytes held); the hole before it is treated as lost (raise --max-buffer-total)",
                        self.held_total
                    )
                },
            );
            if let Some(first) = half.first_held() {
                self.gap_to(key, dir, first, at, handler, diag);
            }
            self.drain(key, dir, handler, diag);
        }
    }

    /// Declares `[next, to)` of one direction lost.
    fn gap_to<H: StreamHandler<Conn = C>>(
        &mut self,
        key: Key,
        dir: Dir,
        to: u64,
        at: At,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
        let Some(conn) = self.conns.get_mut(&key) else { return };
        let info = conn.info;
        let half = &mut conn.halves[dir as usize];
        if to <= half.next {
            return;
        }
        let len = to - half.next;
        self.stats.gaps += 1;
        self.stats.gap_bytes += len;
        if let Some(app) = conn.app.as_mut() {
            handler.gap(app, &info, dir, half.next..half.next + len, at, diag);
        }
        half.next = to;
    }

    /// Delivers held bytes that have become in order.
    fn drain<H: StreamHandler<Conn = C>>(
        &mut self,
        key: Key,
        dir: Dir,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
        let Some(conn) = self.conns.get_mut(&key) else { return };
        let info = conn.info;
        let half = &mut conn.halves[dir as usize];
        let Some(app) = conn.app.as_mut() else { return };
        while let Some(entry) = half.held.first_entry() {
            let start = *entry.key();
            if start > half.next {
                break;
            }
            let held = entry.remove();
            half.held_bytes -= held.data.len();
            self.held_total -= held.data.len();
            let end = held.end(start);
            if end <= half.next {
                continue;
            }
            let skip = (half.next - start) as usize;
            if skip < held.data.len() {
                let chunk = Chunk { data: &held.data[skip..], offset: half.next, ack: held.ack, at: held.at };
                half.next += chunk.data.len() as u64;
                handler.data(app, &info, dir, chunk, diag);
            }
            if end > half.next {
                let len = end - half.next;
                self.stats.gaps += 1;
                self.stats.gap_bytes += len;
                diag.warn(
                    WarningKind::SnaplenCut,
                    self.input,
                    Some(Origin::Frame(held.at.frame)),
                    Some(info.id),
                    format!("{len} payload bytes cut by the snapshot length"),
                );
                handler.gap(app, &info, dir, half.next..half.next + len, held.at, diag);
                half.next = end;
            }
        }
    }

    /// The other side acknowledged up to `acked` of `dir`'s stream.
    #[allow(clippy::too_many_arguments)]
    fn ack_gap<H: StreamHandler<Conn = C>>(
        &mut self,
        key: Key,
        dir: Dir,
        acked: u64,
        with_data: bool,
        at: At,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
        let Some(conn) = self.conns.get_mut(&key) else { return };
        let half = &conn.halves[dir as usize];
        // A FIN takes one sequence number; never gap past it.
        let limit = half.fin_at.map_or(acked, |f| acked.min(f));
        if half.ended || limit <= half.next {
            return;
        }
        // Only act on strong evidence: later bytes are held (so the hole is real), or the
        // peer answered with data after receiving bytes we never saw.
        let to = match half.first_held() {
            Some(first) => first,
            None if with_data => limit,
            None => return,
        };
        let info = conn.info;
        let from = half.next;
        diag.warn(
            WarningKind::TcpGap,
            self.input,
            Some(Origin::Frame(at.frame)),
            Some(info.id),
            format!("{} bytes {} at stream offset {from} were not captured", to - from, dir_name(dir)),
        );
        self.gap_to(key, dir, to, at, handler, diag);
        self.drain(key, dir, handler, diag);
        self.check_ends(key, at, handler, diag);
    }

    /// Ends halves whose FIN was reached; closes the connection when both ended.
    fn check_ends<H: StreamHandler<Conn = C>>(
        &mut self,
        key: Key,
        at: At,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
        let Some(conn) = self.conns.get_mut(&key) else { return };
        let info = conn.info;
        for dir in [Dir::ToServer, Dir::ToClient] {
            let half = &mut conn.halves[dir as usize];
            if !half.ended && half.fin_at.is_some_and(|f| half.next >= f) {
                half.ended = true;
                if let Some(app) = conn.app.as_mut() {
                    handler.end(app, &info, dir, at, diag);
                }
            }
        }
        if conn.halves.iter().all(|h| h.ended) {
            let conn = Conn { app: conn.app.take(), halves: std::mem::take(&mut conn.halves), ..**conn };
            self.finish_conn(conn, CloseReason::Fin, at, handler, diag);
        }
    }

    /// Flushes what is held (holes become gaps), ends both directions and closes.
    /// The table entry (if still there) stays as a tombstone.
    fn finish_conn<H: StreamHandler<Conn = C>>(
        &mut self,
        mut conn: Conn<C>,
        reason: CloseReason,
        at: At,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
        let info = conn.info;
        let Some(mut app) = conn.app.take() else { return };
        for dir in [Dir::ToServer, Dir::ToClient] {
            let half = &mut conn.halves[dir as usize];
            let held = std::mem::take(&mut half.held);
            self.held_total -= half.held_bytes;
            half.held_bytes = 0;
            for (start, h) in held {
                if start > half.next {
                    self.stats.gaps += 1;
                    self.stats.gap_bytes += start - half.next;
                    warn_lost(diag, self.input, info.id, dir, half.next, start - half.next, at);
                    handler.gap(&mut app, &info, dir, half.next..start, h.at, diag);
                    half.next = start;
                }
                let end = h.end(start);
                if end <= half.next {
                    continue;
                }
                let skip = (half.next - start) as usize;
                if skip < h.data.len() {
                    let chunk = Chunk { data: &h.data[skip..], offset: half.next, ack: h.ack, at: h.at };
                    half.next += chunk.data.len() as u64;
                    handler.data(&mut app, &info, dir, chunk, diag);
                }
                if end > half.next {
                    handler.gap(&mut app, &info, dir, half.next..end, h.at, diag);
                    half.next = end;
                }
            }
            if let Some(f) = half.fin_at.filter(|&f| f > half.next) {
                self.stats.gaps += 1;
                self.stats.gap_bytes += f - half.next;
                warn_lost(diag, self.input, info.id, dir, half.next, f - half.next, at);
                handler.gap(&mut app, &info, dir, half.next..f, at, diag);
                half.next = f;
            }
            if !half.ended && half.fin_at.is_some() {
                half.ended = true;
                handler.end(&mut app, &info, dir, at, diag);
            }
        }
        handler.close(app, &info, reason, at, diag);
    }

    /// Closes idle connections and forgets old tombstones.
    fn sweep<H: StreamHandler<Conn = C>>(&mut self, at: At, handler: &mut H, diag: &mut Diagnostics) {
        let idle = self.limits.idle_timeout_ns;
        let mut expired: Vec<(u64, Key)> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                let silent = at.ts.0.saturating_sub(c.last_seen.0);
                if c.app.is_some() { silent > idle } else { silent > TOMBSTONE_NS }
            })
            .map(|(k, c)| (c.info.id, *k))
            .collect();
        expired.sort_unstable();
        for (_, key) in expired {
            if let Some(conn) = self.conns.remove(&key) {
                self.finish_conn(*conn, CloseReason::Idle, at, handler, diag);
            }
        }
    }

    /// The table is full: close the least recently active eighth.
    fn evict<H: StreamHandler<Conn = C>>(&mut self, at: At, handler: &mut H, diag: &mut Diagnostics) {
        let mut by_age: Vec<(Timestamp, u64, Key)> =
            self.conns.iter().map(|(k, c)| (c.last_seen, c.info.id, *k)).collect();
        let n = (by_age.len() / 8).max(1);
        if n < by_age.len() {
            by_age.select_nth_unstable(n);
        }
        by_age.truncate(n);
        by_age.sort_unstable();
        diag.warn(
            WarningKind::ConnectionLimit,
            self.input,
            Some(Origin::Frame(at.frame)),
            None,
            format!(
                "{} connections open (the limit): closing the {n} least recently active early (raise --max-conns)",
                self.conns.len()
            ),
        );
        for (_, _, key) in by_age {
            if let Some(conn) = self.conns.remove(&key) {
                self.finish_conn(*conn, CloseReason::Limit, at, handler, diag);
            }
        }
    }

    /// The input ended: flush and close every connection, oldest first.
    pub fn finish<H: StreamHandler<Conn = C>>(&mut self, at: At, handler: &mut H, diag: &mut Diagnostics) {
        let mut all: Vec<(u64, Key)> = self.conns.iter().map(|(k, c)| (c.info.id, *k)).collect();
        all.sort_unstable();
        for (_, key) in all {
            if let Some(conn) = self.conns.remove(&key) {
                self.finish_conn(*conn, CloseReason::EndOfInput, at, handler, diag);
            }
        }
    }
}

/// Copies the parts of `[off, off+len)` not already held into the buffer; checks that the
/// parts already held agree. Returns the bytes added.
#[allow(clippy::too_many_arguments)]
fn hold(
    half: &mut Half,
    off: u64,
    data: &[u8],
    lost_after: u32,
    ack: Option<u64>,
    at: At,
    input: InputId,
    conn: u64,
    diag: &mut Diagnostics,
) -> usize {
    let end = off + data.len() as u64;
    let mut pieces: Vec<(u64, u64)> = Vec::new(); // uncovered [s, e)
    let mut cursor = off;
    // Held ranges that may overlap: start before `end`, in order.
    let prev = half.held.range(..off).next_back().map(|(&s, h)| (s, s + h.data.len() as u64));
    let overlapping: Vec<(u64, u64)> = prev
        .into_iter()
        .chain(half.held.range(off..end).map(|(&s, h)| (s, s + h.data.len() as u64)))
        .filter(|&(_, e)| e > off)
        .collect();
    let mut conflict = false;
    for (s, e) in overlapping {
        if s > cursor {
            pieces.push((cursor, s.min(end)));
        }
        // Compare the overlap [max(s,off), min(e,end)).
        let (a, b) = (s.max(off), e.min(end));
        if a < b {
            if let Some(h) = half.held.get(&s) {
                let old = &h.data[(a - s) as usize..(b - s) as usize];
                let new = &data[(a - off) as usize..(b - off) as usize];
                conflict |= old != new;
            }
        }
        cursor = cursor.max(e);
        if cursor >= end {
            break;
        }
    }
    if cursor < end {
        pieces.push((cursor, end));
    }
    if conflict {
        diag.warn(
            WarningKind::ConflictingOverlap,
            input,
            Some(Origin::Frame(at.frame)),
            Some(conn),
            "a retransmitted segment carried different bytes than the first copy; the first copy was kept",
        );
    }
    let mut added = 0;
    let last = pieces.len().saturating_sub(1);
    for (i, (s, e)) in pieces.into_iter().enumerate() {
        let bytes = data[(s - off) as usize..(e - off) as usize].to_vec();
        added += bytes.len();
        half.held.insert(
            s,
            Held { data: bytes, lost_after: if i == last && e == end { lost_after } else { 0 }, ack, at },
        );
    }
    if data.is_empty() && lost_after > 0 {
        half.held.entry(off).or_insert(Held { data: Vec::new(), lost_after, ack, at });
    }
    half.held_bytes += added;
    added
}

/// The `tcp-gap` warning for bytes found lost when a connection ends.
fn warn_lost(diag: &mut Diagnostics, input: InputId, conn: u64, dir: Dir, from: u64, len: u64, at: At) {
    diag.warn(
        WarningKind::TcpGap,
        input,
        Some(Origin::Frame(at.frame)),
        Some(conn),
        format!("{len} bytes {} at stream offset {from} were not captured", dir_name(dir)),
    );
}

fn dir_name(dir: Dir) -> &'static str {
    match dir {
        Dir::ToServer => "client→server",
        Dir::ToClient => "server→client",
    }
}

#[cfg(test)]
mod tests;
