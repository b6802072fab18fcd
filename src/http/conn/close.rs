//! Damage and endings: a gap in one direction, its FIN, a RST, the connection's close.
//! Each is a fact about the exchanges still open, recorded as flags and as [`Wire`] facts
//! (who closed, when, with FIN or RST; whether the capture simply ended).
//!
//! [`Wire`]: crate::exchange::Wire

use super::{Cx, HttpConn, Lost, Resp, Role, State, message_of, target_exchange};
use crate::capture::reassembly::{CloseReason, Dir};
use crate::diag::WarningKind;
use crate::exchange::{Body, Close, Flags};
use crate::http::head::Framing;

impl HttpConn {
    /// `len` bytes of `dir` were never captured.
    pub(super) fn on_gap(&mut self, cx: &mut Cx<'_>, dir: Dir, len: u64) {
        if self.stopped {
            return;
        }
        let role = self.role_of(dir);
        let side = &mut self.sides[role as usize];
        side.fresh = false;
        match &mut side.state {
            State::Stopped => {}
            State::Idle => self.resync(role, Lost::Gap),
            State::Head { .. } => {
                self.salvage(cx, role, Flags(role.gap() | role.truncated()));
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
                    ex.flags.set(role.gap());
                }
                if !kept {
                    self.finish_message(cx.h, role, Flags(role.truncated()));
                    self.resync(role, Lost::Gap);
                } else if done {
                    self.finish_message(cx.h, role, Flags::default());
                }
            }
        }
    }

    /// One direction ended (FIN): a close-delimited body is complete, anything else cut.
    pub(super) fn end_side(&mut self, cx: &mut Cx<'_>, role: Role) {
        match &self.sides[role as usize].state {
            State::Body { reader, .. } => {
                let cut = if reader.framing() == Framing::Close { 0 } else { role.truncated() };
                if cut != 0 {
                    // The sender's own FIN: the message was cut on the wire, not by the capture.
                    warn_cut(cx, role, Some((role, Close { at: cx.at.ts, rst: false })));
                }
                self.finish_message(cx.h, role, Flags(cut));
            }
            State::Head { .. } => self.salvage(cx, role, Flags(role.truncated())),
            _ => {}
        }
        self.sides[role as usize].state = State::Stopped;
        self.fin[role as usize] = true;
        self.mark_closed(role, Close { at: cx.at.ts, rst: false });
    }

    /// `role`'s sender closed the connection (FIN or RST): the client gave up on every
    /// exchange whose response had not fully arrived; the server dropped every request whose
    /// response had not started (and every later one). The first close of each kind is kept.
    pub(super) fn mark_closed(&mut self, role: Role, close: Close) {
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

    /// The connection is over: messages still being read are cut, requests still waiting
    /// are given up, everything is released.
    pub(super) fn close(&mut self, cx: &mut Cx<'_>, reason: CloseReason) {
        let rst = if reason == CloseReason::Reset { self.reset.take() } else { None };
        if let Some((Role::Request, c)) = rst {
            // Before the bodies below are finished: a response still arriving was given up.
            self.mark_closed(Role::Request, c);
        }
        for role in [Role::Request, Role::Response] {
            let cut = Flags(role.truncated());
            // A RST cut the body on the wire when its own sender reset, or when the reader
            // had already closed (FIN: it gave up and reset on the late bytes). A reader's
            // RST out of the blue may have followed bytes the capture lost.
            let on_wire = rst.filter(|&(by, _)| by == role || self.fin[by as usize]);
            match &self.sides[role as usize].state {
                State::Body { .. } => {
                    warn_cut(cx, role, on_wire);
                    self.finish_message(cx.h, role, cut);
                }
                State::Head { .. } => {
                    self.salvage(cx, role, cut);
                    if matches!(self.sides[role as usize].state, State::Body { .. }) {
                        self.finish_message(cx.h, role, cut);
                    }
                }
                _ => {}
            }
            self.sides[role as usize].state = State::Stopped;
        }
        if let Some((role, c)) = rst {
            self.mark_closed(role, c);
        }
        self.give_up_waiting(cx, reason);
        self.release_ready(cx.h);
        if let Some((to, bytes)) = self.switched.take().filter(|s| s.1 > 0) {
            warn_switched(cx, &to, bytes);
        }
    }

    /// Every exchange still queued ends here, with what it lacks.
    fn give_up_waiting(&mut self, cx: &mut Cx<'_>, reason: CloseReason) {
        let unwatched = matches!(reason, CloseReason::EndOfInput | CloseReason::Idle);
        for e in self.queue.iter_mut() {
            if e.resp == Resp::None {
                let w = &mut e.ex.wire;
                w.capture_ended = unwatched && w.client_closed.is_none() && w.server_closed.is_none();
                e.ex.flags.set(Flags::NO_RESPONSE);
                if reason == CloseReason::Reset {
                    e.ex.flags.set(Flags::RESET);
                }
                cx.diag.warn(
                    WarningKind::RequestWithoutResponse,
                    cx.h.input,
                    e.ex.request.as_ref().map(|r| r.origin),
                    Some(cx.info.id),
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
    }
}

/// A body was cut short: by a peer's FIN or RST (`closed`, a fact of the wire, not a
/// capture gap), or by the end of the capture or of the connection's tracking.
fn warn_cut(cx: &mut Cx<'_>, role: Role, closed: Option<(Role, Close)>) {
    let Some((by, close)) = closed else {
        cx.warn(
            WarningKind::TcpGap,
            cx.at.frame,
            format!("a {} body ends before its declared length: the rest was not captured", role.name()),
        );
        return;
    };
    let who = match by {
        Role::Request => "client",
        Role::Response => "server",
    };
    let how = if close.rst { "reset" } else { "closed" };
    cx.warn(
        WarningKind::RequestWithoutResponse,
        cx.at.frame,
        format!(
            "a {} body ends before its declared length: the {who} {how} the connection first",
            role.name()
        ),
    );
}

/// Bytes after a protocol switch: named, counted, never silently dropped.
fn warn_switched(cx: &mut Cx<'_>, to: &str, bytes: u64) {
    let why = if to.eq_ignore_ascii_case("h2c") {
        "HTTP/2 by Upgrade (deprecated by RFC 9113) is not parsed; h2c with prior knowledge and h2 over TLS are"
    } else if to == "a CONNECT tunnel" {
        "a tunnel's contents are not parsed"
    } else {
        "they are not HTTP/1"
    };
    cx.warn(
        WarningKind::ProtocolSwitch,
        cx.at.frame,
        format!("{bytes} bytes after the connection switched to {to} are not decoded: {why}"),
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
