//! One HTTP/2 stream as it is seen: decoded header blocks and DATA in, an [`Exchange`] out.
//!
//! Takes a stream's request and response header blocks (the first of each is the head,
//! a later one the trailers), DATA bytes (capped like HTTP/1 bodies), resets and refusals;
//! gives the exchange when the stream is over: pseudo-headers mapped (`:method`, `:path`,
//! `:authority` as `host` when the request has no `host`, `:status`), header names kept as
//! received, trailers appended after the head's fields (so `grpc-status` is found in
//! trailers and in Trailers-Only responses alike).

use std::net::SocketAddr;

use crate::capture::reassembly::At;
use crate::exchange::{Body, Close, Exchange, Flags, Head, InputId, Message, Origin, Refused, Wire};
use crate::http::order::OrderKey;

/// One message (request or response) of a stream.
#[derive(Debug)]
pub struct Msg {
    /// Regular fields of the head, then of the trailers.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// `:method`, `:path`, `:authority` or `:status` as sent.
    pub pseudo: Pseudo,
    /// Time and frame of the first HEADERS frame.
    pub start: At,
    /// Time and frame of the last byte seen.
    pub end: At,
    /// DATA bytes.
    pub body: Body,
    /// Trailers were received.
    pub trailers: bool,
}

/// The pseudo-header fields that become the start line.
#[derive(Debug, Default)]
pub struct Pseudo {
    /// `:method`.
    pub method: Option<String>,
    /// `:path`.
    pub path: Option<String>,
    /// `:authority`.
    pub authority: Option<String>,
    /// `:status`.
    pub status: Option<u16>,
}

impl Msg {
    /// A message whose head is the decoded `fields`.
    pub fn new(fields: Vec<(Vec<u8>, Vec<u8>)>, start: At) -> Self {
        let mut pseudo = Pseudo::default();
        let mut regular = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            let text = || String::from_utf8_lossy(&value).into_owned();
            match name.as_slice() {
                b":method" => pseudo.method = Some(text()),
                b":path" => pseudo.path = Some(text()),
                b":authority" => pseudo.authority = Some(text()),
                b":status" => pseudo.status = std::str::from_utf8(&value).ok().and_then(|s| s.parse().ok()),
                // `:scheme`, `:protocol`: nothing in an exchange depends on them.
                n if n.starts_with(b":") => {}
                _ => regular.push((name, value)),
            }
        }
        Msg { fields: regular, pseudo, start, end: start, body: Body::default(), trailers: false }
    }

    /// Appends a trailer block's fields (pseudo-headers are not allowed there: dropped).
    pub fn add_trailers(&mut self, fields: Vec<(Vec<u8>, Vec<u8>)>, at: At) {
        self.trailers = true;
        self.end = at;
        self.fields.extend(fields.into_iter().filter(|(n, _)| !n.starts_with(b":")));
    }

    fn into_message(self, request: bool) -> Message {
        let text: Vec<(String, String)> = self
            .fields
            .iter()
            .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        let mut refs: Vec<(&str, &str)> = Vec::with_capacity(text.len() + 1);
        let has_host = text.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"));
        let head = if request {
            if let (Some(a), false) = (&self.pseudo.authority, has_host) {
                refs.push(("host", a));
            }
            refs.extend(text.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let method = self.pseudo.method.as_deref().unwrap_or("");
            // CONNECT has no `:path`: its target is the authority.
            let uri = self.pseudo.path.as_deref().or(self.pseudo.authority.as_deref()).unwrap_or("");
            Head::request(method, uri, 2, &refs)
        } else {
            refs.extend(text.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            Head::response(self.pseudo.status.unwrap_or(0), 2, &refs)
        };
        Message {
            head,
            ts: self.start.ts,
            end_ts: self.end.ts,
            origin: Origin::Frame(self.start.frame),
            end_origin: Origin::Frame(self.end.frame),
            body: self.body,
        }
    }
}

/// Where a stream is.
#[derive(Debug)]
pub struct Stream {
    /// Stream identifier.
    pub id: u32,
    /// Its place in the output order.
    pub key: OrderKey,
    /// The request, once its HEADERS were seen.
    pub req: Option<Msg>,
    /// The final response, once its HEADERS were seen.
    pub resp: Option<Msg>,
    /// 1xx statuses seen.
    pub interim: Vec<u16>,
    /// The request ended (END_STREAM) or will not go on.
    pub req_done: bool,
    /// The response ended (END_STREAM) or will not go on.
    pub resp_done: bool,
    /// What is missing.
    pub flags: Flags,
    /// Connection facts.
    pub wire: Wire,
}

impl Stream {
    /// A stream opened by a request (`req`) or by a response whose request was not seen.
    pub fn new(id: u32, key: OrderKey, nth: u32) -> Self {
        Stream {
            id,
            key,
            req: None,
            resp: None,
            interim: Vec::new(),
            req_done: false,
            resp_done: false,
            flags: Flags::default(),
            wire: Wire { nth, h2_stream: id, ..Wire::default() },
        }
    }

    /// The message of the side that sent (`client`), if started.
    pub fn msg(&mut self, client: bool) -> Option<&mut Msg> {
        if client { self.req.as_mut() } else { self.resp.as_mut() }
    }

    /// Is everything that will come for this stream in?
    pub fn is_done(&self) -> bool {
        self.req_done && self.resp_done
    }

    /// The stream was reset by the client (`by_client`) or the server, with `code`.
    pub fn reset(&mut self, by_client: bool, code: u32, at: At) {
        let close = Some(Close { at: at.ts, rst: true });
        if !by_client && code == REFUSED_STREAM {
            self.refuse(Refused::RstStream { at: at.ts });
        } else if by_client && !self.resp_done {
            self.wire.client_closed = self.wire.client_closed.or(close);
        } else if !by_client && self.resp.is_none() {
            self.wire.server_closed = self.wire.server_closed.or(close);
        }
        self.flags.set(Flags::RESET);
        self.cut();
    }

    /// The server said it did not process this stream.
    pub fn refuse(&mut self, how: Refused) {
        self.wire.refused = Some(how);
        self.cut();
    }

    /// Nothing more will come: whatever is unfinished is marked so.
    pub fn cut(&mut self) {
        if self.req.is_some() && !self.req_done {
            self.flags.set(Flags::REQUEST_TRUNCATED);
        }
        match &self.resp {
            None => self.flags.set(Flags::NO_RESPONSE),
            Some(_) if !self.resp_done => self.flags.set(Flags::RESPONSE_TRUNCATED),
            Some(_) => {}
        }
        self.req_done = true;
        self.resp_done = true;
    }

    /// The exchange this stream became.
    pub fn into_exchange(
        self,
        input: InputId,
        conn: u64,
        client: SocketAddr,
        server: SocketAddr,
    ) -> Exchange {
        let mut flags = self.flags;
        if self.req.is_none() {
            flags.set(Flags::NO_REQUEST);
        }
        Exchange {
            input,
            conn,
            client,
            server,
            request: self.req.map(|m| m.into_message(true)),
            response: self.resp.map(|m| m.into_message(false)),
            interim: self.interim,
            flags,
            wire: self.wire,
            logged: None,
        }
    }
}

/// RST_STREAM / GOAWAY error code REFUSED_STREAM (RFC 9113 §7).
pub const REFUSED_STREAM: u32 = 0x7;
