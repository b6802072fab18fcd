//! Endings: a direction's FIN reached in order, a connection closed (both FINs, RST,
//! idle timeout, table limit, end of input) with whatever it still held flushed first.

use super::{At, Chunk, CloseReason, Conn, Dir, Key, Reassembler, StreamHandler, TOMBSTONE_NS, dir_name};
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{InputId, Origin, Timestamp};

impl<C> Reassembler<C> {
    /// Ends halves whose FIN was reached; closes the connection when both ended.
    pub(super) fn check_ends<H: StreamHandler<Conn = C>>(
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
    pub(super) fn finish_conn<H: StreamHandler<Conn = C>>(
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
    pub(super) fn sweep<H: StreamHandler<Conn = C>>(
        &mut self,
        at: At,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
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
    pub(super) fn evict<H: StreamHandler<Conn = C>>(
        &mut self,
        at: At,
        handler: &mut H,
        diag: &mut Diagnostics,
    ) {
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
