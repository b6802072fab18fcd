//! Putting bytes in order: deliver a segment straight from the packet when it is the next
//! expected one, hold a copy when it is early, and declare a hole a gap once it is proven
//! (acknowledged by the peer, a buffer cap hit, a snaplen cut).

use super::{At, Chunk, Dir, Half, Held, Incoming, Key, Reassembler, StreamHandler, dir_name};
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{InputId, Origin};

impl<C> Reassembler<C> {
    /// Delivers (in order) or holds (out of order) the bytes of `inc`.
    pub(super) fn payload<H: StreamHandler<Conn = C>>(
        &mut self,
        key: Key,
        inc: &Incoming<'_, '_>,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
        let Incoming { seg, dir, off, ack, at } = *inc;
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
        let added = hold(half, inc, self.input, info.id, diag);
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
    pub(super) fn gap_to<H: StreamHandler<Conn = C>>(
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
    pub(super) fn drain<H: StreamHandler<Conn = C>>(
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

    /// The sender of `inc` acknowledged up to `acked` of the other direction's stream.
    pub(super) fn ack_gap<H: StreamHandler<Conn = C>>(
        &mut self,
        key: Key,
        inc: &Incoming<'_, '_>,
        acked: u64,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
        let (dir, at) = (inc.dir.other(), inc.at);
        // The peer answered with data after receiving bytes we never saw.
        let with_data = !inc.seg.payload.is_empty();
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
}

/// Copies the parts of `inc`'s bytes not already held into the buffer; checks that the
/// parts already held agree. Returns the bytes added.
fn hold(half: &mut Half, inc: &Incoming<'_, '_>, input: InputId, conn: u64, diag: &mut Diagnostics) -> usize {
    let Incoming { seg, off, ack, at, .. } = *inc;
    let (data, lost_after) = (seg.payload, seg.missing);
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
