//! Heads become exchanges: a request head opens a queue entry (with its [`Wire`] position),
//! a response head is paired with the request it answers (see the module doc of
//! [`super`] for the evidence used), finished exchanges leave in queue order.

use super::{
    Cx, Entry, HttpConn, HttpHandler, Lost, MAX_PENDING_TOTAL, Pairing, Resp, Role, Start, State, Target,
    kept_of,
};
use crate::diag::WarningKind;
use crate::exchange::{Body, Exchange, Flags, Head, Message, Origin, Wire};
use crate::http::body::BodyReader;
use crate::http::head::{self, Framing};

impl HttpConn {
    /// A head was read (in full, or salvaged with `flags` saying what is missing); it ends
    /// at stream offset `end_offset`, at the context's capture position.
    pub(super) fn on_head(
        &mut self,
        cx: &mut Cx<'_>,
        role: Role,
        head: Head,
        start: Start,
        end_offset: u64,
        flags: Flags,
    ) {
        let msg = Message {
            head,
            ts: start.at.ts,
            end_ts: cx.at.ts,
            origin: Origin::Frame(start.at.frame),
            end_origin: Origin::Frame(cx.at.frame),
            body: Body::default(),
        };
        match role {
            Role::Request => self.on_request(cx, msg, start, end_offset, flags),
            Role::Response => self.on_response(cx, msg, start, flags),
        }
    }

    /// The head being read was cut (gap or end of stream): keep what it says, if anything.
    pub(super) fn salvage(&mut self, cx: &mut Cx<'_>, role: Role, flags: Flags) {
        let state = std::mem::replace(&mut self.sides[role as usize].state, State::Idle);
        let State::Head { buf, start, .. } = state else {
            self.sides[role as usize].state = state;
            return;
        };
        let Some(head) = head::salvage(&buf, role) else {
            cx.h.orderer.cancel(start.key);
            return;
        };
        let end = start.offset + buf.len() as u64;
        self.on_head(cx, role, head, start, end, flags);
        if matches!(self.sides[role as usize].state, State::Body { .. }) {
            self.finish_message(cx.h, role, flags);
        }
    }

    fn on_request(&mut self, cx: &mut Cx<'_>, msg: Message, start: Start, head_end: u64, flags: Flags) {
        cx.h.stats.requests += 1;
        let framing = head::request_framing(&msg.head);
        if self.queue.len() >= cx.h.cfg.max_pipeline {
            self.drop_oldest(cx, start.at.frame, false);
        } else if cx.h.pending >= MAX_PENDING_TOTAL {
            self.drop_oldest(cx, start.at.frame, true);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.requests = self.requests.saturating_add(1);
        let wire = Wire {
            nth: if self.nth_known { self.requests } else { 0 },
            server_closed: self.server_close,
            ..Wire::default()
        };
        cx.h.pending += 1;
        self.queue.push_back(Entry {
            id,
            key: start.key,
            ex: Exchange {
                input: cx.h.input,
                conn: cx.info.id,
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
    fn drop_oldest(&mut self, cx: &mut Cx<'_>, frame: u64, global: bool) {
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
                    cx.h.cfg.max_pipeline
                )
            };
            cx.warn(WarningKind::BufferLimit, frame, detail);
        }
        let e = &mut self.queue[i];
        e.ex.flags.set(Flags::NO_RESPONSE | Flags::LIMIT);
        e.resp = Resp::Done;
        self.owed += 1;
        self.release_ready(cx.h);
    }

    fn on_response(&mut self, cx: &mut Cx<'_>, msg: Message, start: Start, extra: Flags) {
        let status = msg.head.status();
        if (100..200).contains(&status) && status != 101 {
            if let Some(e) = self.queue.iter_mut().find(|e| e.resp == Resp::None) {
                e.ex.interim.push(status);
            }
            cx.h.orderer.cancel(start.key);
            self.sides[Role::Response as usize].state = State::Idle;
            return;
        }
        cx.h.stats.responses += 1;
        match self.pair(&start) {
            Pairing::Owed => {
                cx.h.orderer.cancel(start.key);
                let framing = head::response_framing(&msg.head, None);
                self.start_body(cx.h, Role::Response, framing, Target::Discard);
            }
            Pairing::Orphan => self.on_orphan(cx, msg, start, extra),
            Pairing::Entry(i) => self.on_paired(cx, i, msg, start, extra),
        }
    }

    /// A response whose request was not captured: an exchange of its own.
    fn on_orphan(&mut self, cx: &mut Cx<'_>, msg: Message, start: Start, extra: Flags) {
        let status = msg.head.status();
        cx.warn(
            WarningKind::ResponseWithoutRequest,
            msg.origin.number(),
            format!("a {status} response whose request was not captured"),
        );
        let framing = head::response_framing(&msg.head, None);
        let mut flags = extra;
        flags.set(Flags::NO_REQUEST);
        let ex = Exchange {
            input: cx.h.input,
            conn: cx.info.id,
            client: self.client,
            server: self.server,
            request: None,
            response: Some(msg),
            interim: Vec::new(),
            flags,
            wire: Wire::default(),
            logged: None,
        };
        self.start_body(cx.h, Role::Response, framing, Target::Orphan(Box::new((start.key, ex))));
    }

    /// A response paired with queue entry `i`.
    fn on_paired(&mut self, cx: &mut Cx<'_>, i: usize, msg: Message, start: Start, extra: Flags) {
        let h = &mut *cx.h;
        let status = msg.head.status();
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
            let to = match e.ex.response.as_ref().and_then(|r| r.head.header_str("upgrade")) {
                _ if connect => "a CONNECT tunnel".to_string(),
                Some(u) => crate::text::shorten(&crate::text::one_line(u), 40),
                None => "an unnamed protocol".to_string(),
            };
            self.switched = Some((to.into(), 0));
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

    pub(super) fn start_body(&mut self, h: &mut HttpHandler, role: Role, framing: Framing, target: Target) {
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
    pub(super) fn finish_message(&mut self, h: &mut HttpHandler, role: Role, extra: Flags) {
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
    pub(super) fn release_ready(&mut self, h: &mut HttpHandler) {
        while self.queue.front().is_some_and(|e| e.req_done && e.resp == Resp::Done) {
            if let Some(e) = self.queue.pop_front() {
                h.stats.exchanges += 1;
                h.pending = h.pending.saturating_sub(1);
                h.kept = h.kept.saturating_sub(kept_of(&e.ex));
                h.orderer.complete(e.key, e.ex);
            }
        }
    }
}
