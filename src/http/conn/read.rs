//! Reading one direction: in-order bytes in, one state step at a time (idle, head, body,
//! resync); a finished head goes to [`super::pairing`].
//!
//! Each step consumes some of the bytes it is given and says how many; a step that changes
//! state may consume none (the caller then runs the next state on the same bytes).

use super::resync::{Found, find_start, starts_like};
use super::{Cx, HttpConn, KEPT_BODY_BUDGET, Lost, Role, Start, State, message_of, parse, target_exchange};
use crate::diag::WarningKind;
use crate::exchange::{Body, Flags, Origin};
use crate::http::head::{self, Parsed};

impl HttpConn {
    /// Advances `role`'s direction by one state with `data`; returns the bytes consumed.
    pub(super) fn step(
        &mut self,
        cx: &mut Cx<'_>,
        role: Role,
        data: &[u8],
        offset: u64,
        ack: Option<u64>,
    ) -> usize {
        match &self.sides[role as usize].state {
            State::Stopped => data.len(),
            State::Idle => self.step_idle(cx, role, data, offset, ack),
            State::Head { .. } => self.step_head(cx, role, data, offset),
            State::Body { .. } => self.step_body(cx, role, data),
            State::Resync { .. } => self.step_resync(cx, role, data, offset, ack),
        }
    }

    /// Between messages: skips blank lines, then opens a head (or, on a connection picked
    /// up mid-stream, waits for the next message start).
    fn step_idle(
        &mut self,
        cx: &mut Cx<'_>,
        role: Role,
        data: &[u8],
        offset: u64,
        ack: Option<u64>,
    ) -> usize {
        let side = &mut self.sides[role as usize];
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
                // After a captured handshake these bytes are no continuation: a response
                // was there and could not be parsed.
                Role::Response if self.handshake => self.resp_lost = Lost::Unparsed,
                Role::Response => {}
            }
            cx.warn(
                WarningKind::TcpGap,
                cx.at.frame,
                format!(
                    "the connection was picked up mid-stream: {} bytes before the first {} start are skipped (their message began before the capture)",
                    role.name(),
                    role.name()
                ),
            );
            return 0;
        }
        let key = cx.h.orderer.open(cx.at.frame);
        side.state =
            State::Head { buf: Vec::new(), start: Start { offset, ack, at: cx.at, key }, scanned: 0 };
        0
    }

    /// Reading a head: parses it straight from the packet when it is whole there, else
    /// buffers (up to `max_head`) until the blank line.
    fn step_head(&mut self, cx: &mut Cx<'_>, role: Role, data: &[u8], offset: u64) -> usize {
        let max_head = cx.h.cfg.max_head;
        let State::Head { buf, start, scanned } = &mut self.sides[role as usize].state else { return 0 };
        let start = *start;
        if buf.is_empty() {
            if let Some(end) = head::head_end(data, 0) {
                let parsed = parse(role, &data[..end]);
                if let Parsed::Invalid(why) = parsed {
                    return self.bad_head(cx, role, start, why, data);
                }
                self.after_head(cx, role, parsed, start, offset + end as u64);
                return end;
            }
            if data.len() <= max_head {
                if let Parsed::Invalid(why) = parse(role, data) {
                    return self.bad_head(cx, role, start, why, data);
                }
                buf.extend_from_slice(data);
                *scanned = data.len().saturating_sub(3);
                return data.len();
            }
            return self.head_too_long(cx, role, start);
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
                let skip = self.bad_head(cx, role, start, why, &raw);
                let rest = raw.get(skip..old).unwrap_or_default().to_vec();
                self.sides[role as usize].state = State::Resync { tail: rest };
                return 0;
            }
            self.after_head(cx, role, parsed, start, offset + used as u64);
            return used;
        }
        if buf.len() > max_head {
            return self.head_too_long(cx, role, start);
        }
        if let Parsed::Invalid(why) = parse(role, buf) {
            let raw = std::mem::take(buf);
            self.bad_head(cx, role, start, why, &raw);
            return take;
        }
        *scanned = buf.len().saturating_sub(3);
        take
    }

    /// Reading a body: feeds the body reader, keeping bytes up to the caps.
    fn step_body(&mut self, cx: &mut Cx<'_>, role: Role, data: &[u8]) -> usize {
        let at = cx.at;
        let State::Body { reader, target } = &mut self.sides[role as usize].state else { return 0 };
        let over_budget = cx.h.kept >= KEPT_BODY_BUDGET;
        let mut scratch = Body::default();
        let body = match target_exchange(&mut self.queue, target).and_then(|ex| message_of(ex, role)) {
            Some(m) => {
                m.end_ts = at.ts;
                m.end_origin = Origin::Frame(at.frame);
                &mut m.body
            }
            None => &mut scratch,
        };
        // Past the budget a body keeps what it has and only counts the rest.
        let before = body.data.len();
        let cap = if over_budget { before } else { cx.h.cfg.body_cap };
        let fed = reader.feed(data, body, cap);
        cx.h.kept += body.data.len() - before;
        if over_budget && body.capped && !cx.h.budget_warned {
            cx.h.budget_warned = true;
            cx.warn(
                WarningKind::BufferLimit,
                at.frame,
                format!(
                    "unfinished exchanges keep more than {} MiB of bodies over all connections; further body bytes are counted, not kept (a fixed limit; lower --body-cap to keep less per message)",
                    KEPT_BODY_BUDGET >> 20
                ),
            );
        }
        match fed {
            Ok(used) => {
                if reader.is_done() {
                    self.finish_message(cx.h, role, Flags::default());
                }
                used
            }
            Err(e) => {
                cx.warn(
                    WarningKind::HttpParseError,
                    at.frame,
                    format!("{} body framing broken: {}", role.name(), e.0),
                );
                self.finish_message(cx.h, role, Flags(role.truncated()));
                self.resync(role, Lost::Unparsed);
                0
            }
        }
    }

    /// Looking for the next message start after damage.
    fn step_resync(
        &mut self,
        cx: &mut Cx<'_>,
        role: Role,
        data: &[u8],
        offset: u64,
        ack: Option<u64>,
    ) -> usize {
        let side = &mut self.sides[role as usize];
        let State::Resync { tail } = &mut side.state else { return 0 };
        let (found, consumed) = find_start(role, tail, data);
        match found {
            Some(Found::InTail(p)) => {
                // The message began in bytes already consumed: re-read them as a head.
                let buf = tail.split_off(p);
                let back = buf.len() as u64;
                let key = cx.h.orderer.open(cx.at.frame);
                let start = Start { offset: offset.saturating_sub(back), ack, at: cx.at, key };
                side.state = State::Head { buf, start, scanned: 0 };
                cx.h.stats.resyncs += 1;
                0
            }
            Some(Found::InData(p)) => {
                side.state = State::Idle;
                side.fresh = false;
                cx.h.stats.resyncs += 1;
                p
            }
            None => consumed,
        }
    }

    /// Looks for the next message start in `role`'s direction after bytes were `lost`.
    pub(super) fn resync(&mut self, role: Role, lost: Lost) {
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

    /// Bytes where a head was expected do not parse: warn, resynchronise; returns the bytes
    /// to skip (at least the first line).
    fn bad_head(&mut self, cx: &mut Cx<'_>, role: Role, start: Start, why: &str, bytes: &[u8]) -> usize {
        cx.h.orderer.cancel(start.key);
        cx.warn(
            WarningKind::HttpParseError,
            start.at.frame,
            format!("bytes where a {} head was expected do not parse ({why}); resynchronising", role.name()),
        );
        self.resync(role, Lost::Unparsed);
        // Skip at least the first line so resynchronisation moves on.
        memchr::memchr(b'\n', bytes).map_or(bytes.len(), |p| p + 1).max(1)
    }

    fn head_too_long(&mut self, cx: &mut Cx<'_>, role: Role, start: Start) -> usize {
        cx.h.orderer.cancel(start.key);
        let max_head = cx.h.cfg.max_head;
        cx.warn(
            WarningKind::BufferLimit,
            cx.at.frame,
            format!("a {} head is longer than {max_head} bytes; skipped (raise --max-head)", role.name()),
        );
        self.resync(role, Lost::Unparsed);
        0
    }

    /// Handles a parsed head ending at stream offset `end_offset`.
    fn after_head(&mut self, cx: &mut Cx<'_>, role: Role, parsed: Parsed, start: Start, end_offset: u64) {
        let head = match parsed {
            Parsed::Complete(head, _) => head,
            Parsed::Tolerated(head, _, what) => {
                cx.warn(
                    WarningKind::LenientHead,
                    start.at.frame,
                    format!(
                        "a {} head with {} was read leniently, as tshark and libhtp read it",
                        role.name(),
                        what.words()
                    ),
                );
                head
            }
            Parsed::Invalid(why) => {
                self.bad_head(cx, role, start, why, b"");
                return;
            }
            Parsed::Partial => {
                self.bad_head(cx, role, start, "head not terminated", b"");
                return;
            }
        };
        self.decided = true;
        self.on_head(cx, role, head, start, end_offset, Flags::default());
    }
}
