//! The domain records that flow between pipeline stages.
//!
//! Takes nothing; gives the types every stage speaks: [`Timestamp`] (capture time),
//! [`Origin`] (the frame or log line a record came from), [`Head`] (an HTTP message head
//! kept as its raw bytes plus an index of spans, so building one costs one allocation),
//! [`Body`] (capped body bytes plus what was seen and missed), [`Message`], and
//! [`Exchange`]: a request with its response if one was seen, modelled on mitmproxy's
//! `HTTPFlow` — an unanswered or damaged exchange is still a first-class record, its
//! [`Flags`] say what is missing.

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;

/// Capture (or log) time, nanoseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From whole seconds and nanoseconds.
    pub fn from_parts(secs: i64, nanos: u32) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos as i64))
    }

    /// RFC 3339, UTC, microseconds: `2024-08-20T02:00:00.123456Z`.
    pub fn rfc3339(self) -> String {
        let mut s = String::with_capacity(27);
        self.write_rfc3339(&mut s);
        s
    }

    /// Appends the RFC 3339 form to `out` (no format-string parsing: this runs per row).
    pub fn write_rfc3339(self, out: &mut String) {
        use chrono::{Datelike, Timelike};
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u32;
        let Some(t) = chrono::DateTime::from_timestamp(secs, nanos) else {
            out.push_str(&format!("@{}ns", self.0));
            return;
        };
        let year = t.year();
        if !(0..=9999).contains(&year) {
            out.push_str(&t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
            return;
        }
        push_digits(out, year as u32, 4);
        out.push('-');
        let (mo, d, h, mi, se) = (t.month(), t.day(), t.hour(), t.minute(), t.second());
        push_digits(out, mo, 2);
        out.push('-');
        push_digits(out, d, 2);
        out.push('T');
        push_digits(out, h, 2);
        out.push(':');
        push_digits(out, mi, 2);
        out.push(':');
        push_digits(out, se, 2);
        out.push('.');
        push_digits(out, nanos / 1000, 6);
        out.push('Z');
    }

    /// Milliseconds from `earlier` to `self` (may be negative).
    pub fn millis_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1e6
    }
}

/// Appends `a` as its `Display` does (`ip:port`, `[v6]:port`); IPv4 without the
/// formatting machinery, which costs more than the rest of a CSV row.
pub fn write_socket_addr(out: &mut String, a: &SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            write_ip(out, std::net::IpAddr::V4(*v4.ip()));
            out.push(':');
            out.push_str(itoa::Buffer::new().format(v4.port()));
        }
        SocketAddr::V6(_) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{a}");
        }
    }
}

/// Appends `ip` as its `Display` does; IPv4 without the formatting machinery.
pub fn write_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(digits.format(octet));
            }
        }
        std::net::IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

fn push_digits(out: &mut String, n: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut n = n;
    for i in (0..width).rev() {
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.push_str(std::str::from_utf8(&buf[..width]).unwrap_or(""));
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Where in an input a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// 1-based frame (packet) number in a capture.
    Frame(u64),
    /// 1-based line number in an access log.
    Line(u64),
    /// 0-based index of an entry in a HAR's `log.entries` (as `jq '.log.entries[N]'`).
    Entry(u64),
}

impl Origin {
    /// The frame or line number.
    pub fn number(self) -> u64 {
        match self {
            Origin::Frame(n) | Origin::Line(n) | Origin::Entry(n) => n,
        }
    }
}

/// Index of an input (file) in the run's input list.
pub type InputId = u32;

/// A compact byte range into [`Head::raw`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn new(r: Range<usize>) -> Self {
        Span { start: r.start as u32, len: (r.end - r.start) as u32 }
    }
    fn get(self, raw: &[u8]) -> &[u8] {
        &raw[self.start as usize..(self.start + self.len) as usize]
    }
}

/// The start line of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD URI HTTP/1.x`
    Request {
        /// Where the method is in the raw head.
        method: Span,
        /// Where the request target is in the raw head.
        uri: Span,
    },
    /// `HTTP/1.x CODE REASON`
    Response {
        /// The status code.
        status: u16,
    },
}

/// An HTTP/1.x message head: the raw bytes and an index into them.
///
/// Header names keep the letter case they had on the wire (the PowerJob client looks its
/// marker header up case-sensitively, so case is evidence).
#[derive(Clone, PartialEq, Eq)]
pub struct Head {
    raw: Box<[u8]>,
    start: StartLine,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    headers: Vec<(Span, Span)>,
}

impl fmt::Debug for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Head")
            .field("start", &self.start)
            .field("version", &self.version)
            .field("raw", &String::from_utf8_lossy(&self.raw))
            .finish()
    }
}

/// Builds a [`Head`] from parts given as slices of one buffer.
impl Head {
    /// From a parsed request whose `method`, `uri` and headers point into `raw`.
    pub fn from_parsed_request(
        raw: &[u8],
        method: &str,
        uri: &str,
        version: u8,
        headers: &[httparse::Header<'_>],
    ) -> Head {
        let base = raw.as_ptr() as usize;
        let span_of = |s: &[u8]| {
            let start = s.as_ptr() as usize - base;
            Span::new(start..start + s.len())
        };
        let start = StartLine::Request { method: span_of(method.as_bytes()), uri: span_of(uri.as_bytes()) };
        Head {
            raw: raw.into(),
            start,
            version,
            headers: headers.iter().map(|h| (span_of(h.name.as_bytes()), span_of(h.value))).collect(),
        }
    }

    /// From a parsed response whose headers point into `raw`.
    pub fn from_parsed_response(
        raw: &[u8],
        status: u16,
        version: u8,
        headers: &[httparse::Header<'_>],
    ) -> Head {
        let base = raw.as_ptr() as usize;
        let span_of = |s: &[u8]| {
            let start = s.as_ptr() as usize - base;
            Span::new(start..start + s.len())
        };
        Head {
            raw: raw.into(),
            start: StartLine::Response { status },
            version,
            headers: headers.iter().map(|h| (span_of(h.name.as_bytes()), span_of(h.value))).collect(),
        }
    }

    /// Synthesises a request head (used for access-log lines, which carry parsed fields).
    pub fn request(method: &str, uri: &str, version: u8, headers: &[(&str, &str)]) -> Head {
        let mut raw = Vec::with_capacity(method.len() + uri.len() + 16 + headers.len() * 32);
        raw.extend_from_slice(method.as_bytes());
        raw.push(b' ');
        let uri_start = raw.len();
        raw.extend_from_slice(uri.as_bytes());
        let uri_span = Span::new(uri_start..raw.len());
        raw.extend_from_slice(if version == 0 { b" HTTP/1.0\r\n" } else { b" HTTP/1.1\r\n" });
        let hdrs = push_headers(&mut raw, headers);
        Head {
            raw: raw.into(),
            start: StartLine::Request { method: Span::new(0..method.len()), uri: uri_span },
            version,
            headers: hdrs,
        }
    }

    /// Synthesises a response head (used for access-log lines).
    pub fn response(status: u16, version: u8, headers: &[(&str, &str)]) -> Head {
        let mut raw = format!("HTTP/1.{version} {status} \r\n").into_bytes();
        let hdrs = push_headers(&mut raw, headers);
        Head { raw: raw.into(), start: StartLine::Response { status }, version, headers: hdrs }
    }

    /// The start line.
    pub fn start_line(&self) -> StartLine {
        self.start
    }

    /// Request method (empty for a response head).
    pub fn method(&self) -> &str {
        match self.start {
            StartLine::Request { method, .. } => as_str(method.get(&self.raw)),
            StartLine::Response { .. } => "",
        }
    }

    /// Request target as sent (empty for a response head).
    pub fn uri(&self) -> &str {
        match self.start {
            StartLine::Request { uri, .. } => as_str(uri.get(&self.raw)),
            StartLine::Response { .. } => "",
        }
    }

    /// Response status (0 for a request head).
    pub fn status(&self) -> u16 {
        match self.start {
            StartLine::Response { status } => status,
            StartLine::Request { .. } => 0,
        }
    }

    /// All headers in wire order, names in wire case.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.headers.iter().map(|(n, v)| (as_str(n.get(&self.raw)), v.get(&self.raw)))
    }

    /// Number of header fields.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// First header value whose name matches case-insensitively (as HTTP says).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        // Compared as bytes: no UTF-8 check per lookup (this is on every call's hot path).
        let name = name.as_bytes();
        self.headers
            .iter()
            .find(|(n, _)| n.get(&self.raw).eq_ignore_ascii_case(name))
            .map(|(_, v)| v.get(&self.raw))
    }

    /// Every value of the headers named `name` (case-insensitive), in wire order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let name = name.as_bytes();
        self.headers
            .iter()
            .filter(move |(n, _)| n.get(&self.raw).eq_ignore_ascii_case(name))
            .map(|(_, v)| v.get(&self.raw))
    }

    /// First header value whose name matches exactly, letter case included.
    pub fn header_exact(&self, name: &str) -> Option<&[u8]> {
        let name = name.as_bytes();
        self.headers.iter().find(|(n, _)| n.get(&self.raw) == name).map(|(_, v)| v.get(&self.raw))
    }

    /// Header value as text (lossy: invalid UTF-8 becomes empty).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).map(|v| std::str::from_utf8(v).unwrap_or("").trim())
    }

    /// Does a comma-separated header (e.g. `Connection`) contain `token`?
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header_values(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    }

    /// The raw head bytes (start line and header lines).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
}

fn push_headers(raw: &mut Vec<u8>, headers: &[(&str, &str)]) -> Vec<(Span, Span)> {
    let mut spans = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let n0 = raw.len();
        raw.extend_from_slice(name.as_bytes());
        let n = Span::new(n0..raw.len());
        raw.extend_from_slice(b": ");
        let v0 = raw.len();
        raw.extend_from_slice(value.as_bytes());
        spans.push((n, Span::new(v0..raw.len())));
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    spans
}

fn as_str(b: &[u8]) -> &str {
    // httparse validated tokens and URIs; synthesised heads are built from &str.
    std::str::from_utf8(b).unwrap_or("")
}

/// A message body as far as it was seen: the first `cap` bytes, and counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Body {
    /// The first bytes of the body (after de-chunking), at most the configured cap.
    pub data: Vec<u8>,
    /// Body bytes seen (after de-chunking), including those beyond the cap.
    pub len: u64,
    /// Body bytes known to be missing (TCP gaps inside the body).
    pub missing: u64,
    /// More bytes were seen than kept.
    pub capped: bool,
}

impl Body {
    /// Appends seen bytes, keeping at most `cap` of them.
    pub fn push(&mut self, bytes: &[u8], cap: usize) {
        self.len += bytes.len() as u64;
        let room = cap.saturating_sub(self.data.len());
        if bytes.len() > room {
            self.capped = true;
        }
        let take = room.min(bytes.len());
        if take > 0 && self.missing == 0 {
            self.data.extend_from_slice(&bytes[..take]);
        } else if take > 0 {
            // After a gap the kept prefix would splice unrelated bytes: keep counting only.
            self.capped = true;
        }
    }
}

/// One HTTP message with where and when it was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The head.
    pub head: Head,
    /// Time of the packet (or log line) carrying the first byte.
    pub ts: Timestamp,
    /// Time of the packet carrying the last byte (same as `ts` for logs).
    pub end_ts: Timestamp,
    /// Frame (or line) of the first byte.
    pub origin: Origin,
    /// Frame (or line) of the last byte.
    pub end_origin: Origin,
    /// The body.
    pub body: Body,
}

/// What is missing or odd about an exchange. A bit set; [`Flags::complete`] is the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u16);

impl Flags {
    /// Bytes of the request were lost (TCP gap).
    pub const REQUEST_GAP: u16 = 1;
    /// Bytes of the response were lost (TCP gap).
    pub const RESPONSE_GAP: u16 = 1 << 1;
    /// The request ended before its declared end (connection or capture ended).
    pub const REQUEST_TRUNCATED: u16 = 1 << 2;
    /// The response ended before its declared end.
    pub const RESPONSE_TRUNCATED: u16 = 1 << 3;
    /// No response was seen.
    pub const NO_RESPONSE: u16 = 1 << 4;
    /// A response without a request (the request was lost or never captured).
    pub const NO_REQUEST: u16 = 1 << 5;
    /// The request/response pairing is a guess (responses were lost in a gap or could
    /// not be parsed; `RESPONSE_GAP` on the skipped exchanges says which).
    pub const PAIRING_UNCERTAIN: u16 = 1 << 6;
    /// The connection ended with RST.
    pub const RESET: u16 = 1 << 7;
    /// The connection switched protocols (Upgrade / CONNECT); later bytes not parsed.
    pub const UPGRADED: u16 = 1 << 8;
    /// A limit (pipeline depth, connection table) cut this exchange short.
    pub const LIMIT: u16 = 1 << 9;
    /// The response could not be parsed (garbage where a status line was expected).
    pub const RESPONSE_UNPARSED: u16 = 1 << 10;
    /// Some HTTP/2 header fields could not be decoded (their HPACK dynamic-table entries
    /// were sent before the capture began, or lost in a gap): the heads lack them.
    pub const HEADERS_UNDECODED: u16 = 1 << 11;

    /// Sets `bit`.
    pub fn set(&mut self, bit: u16) {
        self.0 |= bit;
    }
    /// Is `bit` set?
    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }
    /// Was everything of both messages seen?
    pub fn complete(self) -> bool {
        self.0 & !(Self::UPGRADED) == 0
    }
    /// Short names of the set bits, `;`-joined (for reports).
    pub fn describe(self) -> String {
        const NAMES: [(u16, &str); 12] = [
            (Flags::REQUEST_GAP, "request-gap"),
            (Flags::RESPONSE_GAP, "response-gap"),
            (Flags::REQUEST_TRUNCATED, "request-truncated"),
            (Flags::RESPONSE_TRUNCATED, "response-truncated"),
            (Flags::NO_RESPONSE, "no-response"),
            (Flags::NO_REQUEST, "no-request"),
            (Flags::PAIRING_UNCERTAIN, "pairing-uncertain"),
            (Flags::RESET, "reset"),
            (Flags::UPGRADED, "upgraded"),
            (Flags::LIMIT, "limit"),
            (Flags::RESPONSE_UNPARSED, "response-unparsed"),
            (Flags::HEADERS_UNDECODED, "headers-undecoded"),
        ];
        let names: Vec<&str> = NAMES.iter().filter(|(b, _)| self.has(*b)).map(|(_, n)| *n).collect();
        names.join(";")
    }
}

/// How a connection was closed: with FIN or RST, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Close {
    /// Time of the packet carrying the FIN or RST.
    pub at: Timestamp,
    /// RST (`true`) or FIN (`false`).
    pub rst: bool,
}

/// What the TCP connection showed about one exchange: facts of the wire, never guesses.
/// Captures fill it in; inputs without connections (access logs) leave it default.
/// Serializes as `{"nth":2,"client_closed":{"at":"…Z","rst":false},"server_closed":null,
/// "capture_ended":false}`; docs/reassembly.md says how each fact is taken from the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Wire {
    /// 1-based position of the request on its connection: 2 or more means the request
    /// went out on a reused keep-alive connection. 0 when not known.
    pub nth: u32,
    /// The client closed (FIN) or reset (RST) the connection while this exchange's
    /// response had not fully arrived: it gave up waiting. The first such close.
    pub client_closed: Option<Close>,
    /// The server closed (FIN) or reset (RST) the connection before this exchange's
    /// response started: the request was dropped unanswered. The first such close.
    pub server_closed: Option<Close>,
    /// The capture ended, or the connection went idle past the idle timeout, while this
    /// exchange was still unanswered (nothing closed it on the wire).
    pub capture_ended: bool,
    /// The connection was TLS, decrypted with a key log: its version (0x0303 = TLS 1.2,
    /// 0x0304 = TLS 1.3). `None` for plaintext (docs/tls.md).
    pub tls: Option<u16>,
    /// HTTP/2 stream identifier of this exchange; 0 when it was not HTTP/2.
    pub h2_stream: u32,
    /// The server said (HTTP/2) that it did not process this request: a re-send of it
    /// cannot have executed it twice.
    pub refused: Option<Refused>,
}

/// How an HTTP/2 server said a request was not processed (RFC 9113 §8.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Refused {
    /// `RST_STREAM` with `REFUSED_STREAM` on the request's stream.
    RstStream {
        /// Time of the packet carrying the frame.
        at: Timestamp,
    },
    /// `GOAWAY` whose last-stream-id is below the request's stream.
    GoAway {
        /// Time of the packet carrying the frame.
        at: Timestamp,
        /// The highest stream the server may have processed.
        last_stream_id: u32,
    },
}

/// What an access-log line (or a HAR entry) showed beyond the two heads: the facts the
/// correlator needs to tell whether two lines are the same call and whether a repeat was a
/// retry. Logs and HARs only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logged {
    /// The format logs request bodies (`$request_body`): the request's body is in the
    /// exchange, so its call key is complete. Otherwise a request with a body cannot be
    /// told from another call to the same target.
    pub body: bool,
    /// Request bytes as logged, head and body (`$request_length`, Apache `%I`).
    pub request_length: Option<u64>,
    /// Connection serial number (`$connection`, Apache `%{c}L`-like ids).
    pub connection: Option<u64>,
    /// The request's position on its connection (`$connection_requests`).
    pub connection_requests: Option<u32>,
    /// Upstream address(es) as logged (`$upstream_addr`: several when the proxy retried).
    pub upstream_addr: Option<Box<str>>,
    /// Upstream status(es) as logged (`$upstream_status`: `502, 200` when it retried).
    pub upstream_status: Option<Box<str>>,
    /// The log says the client went away before the response (nginx 499, HAProxy `C?`
    /// termination states).
    pub client_aborted: bool,
    /// HAR: the program that recorded it (`log.creator.name`), the caller's stand-in for
    /// the client host a HAR does not have.
    pub producer: Option<Box<str>>,
    /// HAR (Chromium): a short hash of `_initiator`, the call stack that sent the request:
    /// two attempts from one stack are one piece of code re-sending.
    pub initiator: Option<u64>,
}

/// A request and, if seen, its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    /// Which input it came from.
    pub input: InputId,
    /// Connection number within the input (1-based, in order of first packet); 0 for logs.
    pub conn: u64,
    /// The client end.
    pub client: SocketAddr,
    /// The server end.
    pub server: SocketAddr,
    /// The request (`None` for a response whose request was not captured).
    pub request: Option<Message>,
    /// The final (non-1xx) response, if seen.
    pub response: Option<Message>,
    /// Interim 1xx responses seen before the final one.
    pub interim: Vec<u16>,
    /// What is missing. `REQUEST_GAP` / `RESPONSE_GAP` mean a real hole in the byte
    /// stream (a sequence hole, a snaplen cut), never merely a missing response.
    pub flags: Flags,
    /// What the connection showed (captures).
    pub wire: Wire,
    /// What the log line showed (access logs).
    pub logged: Option<Box<Logged>>,
}

impl Exchange {
    /// Request time, else response time.
    pub fn time(&self) -> Timestamp {
        self.request.as_ref().or(self.response.as_ref()).map(|m| m.ts).unwrap_or_default()
    }

    /// Where the exchange starts: the request's first byte, else the response's.
    pub fn origin(&self) -> Origin {
        self.request.as_ref().or(self.response.as_ref()).map(|m| m.origin).unwrap_or(Origin::Frame(0))
    }

    /// Status of the final response, if any.
    pub fn status(&self) -> Option<u16> {
        self.response.as_ref().map(|r| r.head.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_formats_rfc3339_micros() {
        let t = Timestamp::from_parts(1_258_577_884, 844_956_789);
        assert_eq!(t.rfc3339(), "2009-11-18T20:58:04.844956Z");
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn synthesised_head_round_trips() {
        let h = Head::request("POST", "/openApi/saveJob?x=1", 1, &[("X-Powerjob-App-Id", "7")]);
        assert_eq!(h.method(), "POST");
        assert_eq!(h.uri(), "/openApi/saveJob?x=1");
        assert_eq!(h.header("x-powerjob-app-id"), Some(&b"7"[..]));
        assert_eq!(h.header_exact("X-POWERJOB-APP-ID"), None);
        assert_eq!(h.header_exact("X-Powerjob-App-Id"), Some(&b"7"[..]));
        let r = Head::response(200, 1, &[("Connection", "keep-alive, Upgrade")]);
        assert_eq!(r.status(), 200);
        assert!(r.header_has_token("connection", "upgrade"));
    }

    #[test]
    fn parsed_head_spans_point_into_raw() {
        let raw = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut hs = [httparse::EMPTY_HEADER; 4];
        let mut req = httparse::Request::new(&mut hs);
        req.parse(raw).unwrap();
        let h = Head::from_parsed_request(raw, req.method.unwrap(), req.path.unwrap(), 1, req.headers);
        assert_eq!(h.method(), "GET");
        assert_eq!(h.uri(), "/a");
        assert_eq!(h.header_str("HOST"), Some("x"));
    }

    #[test]
    fn body_push_caps_and_counts() {
        let mut b = Body::default();
        b.push(b"hello", 3);
        b.push(b"world", 3);
        assert_eq!(b.data, b"hel");
        assert_eq!(b.len, 10);
        assert!(b.capped);
    }

    #[test]
    fn flags_describe() {
        let mut f = Flags::default();
        assert!(f.complete());
        f.set(Flags::RESPONSE_GAP);
        f.set(Flags::NO_REQUEST);
        assert!(!f.complete());
        assert_eq!(f.describe(), "response-gap;no-request");
    }
}
