//! Message heads: bytes in, a [`Head`] plus its body framing out. Pure functions.
//!
//! Parsing is httparse's (lenient settings, as a passive observer must accept what real
//! servers accept); this file finds where a head ends, retries with a larger header array
//! when a message has many headers, and decides how the body is delimited (RFC 9112 §6).

use super::Role;
use super::lenient::{Irregular, normalize};
use crate::exchange::Head;

/// Header slots tried first (on the stack); larger heads retry with a heap array.
const FAST_HEADERS: usize = 48;
/// The most header fields accepted in one head.
pub const MAX_HEADERS: usize = 4096;

/// Outcome of parsing a head.
#[derive(Debug)]
pub enum Parsed {
    /// A head, and how many bytes it took (including the blank line).
    Complete(Head, usize),
    /// Not enough bytes yet.
    Partial,
    /// Not an HTTP/1.x head.
    Invalid(&'static str),
    /// A head read only once its irregular line endings were made regular (see
    /// [`super::lenient`]), and how many bytes it took in the original.
    Tolerated(Head, usize, Irregular),
}

/// How a body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    Close,
}

fn config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .ignore_invalid_headers_in_requests(true)
        .ignore_invalid_headers_in_responses(true);
    c
}

/// Where the head in `buf` ends (index just past the blank line), if it does.
/// `from` lets a caller that appends resume the search without rescanning.
pub fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let from = from.min(buf.len());
    let mut i = from;
    while let Some(p) = memchr::memchr(b'\n', &buf[i..]) {
        let nl = i + p;
        // "\n\n" or "\n\r\n"
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            // A blank line written CR CR LF (see super::lenient).
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\r') && buf.get(nl + 3) == Some(&b'\n') => {
                return Some(nl + 4);
            }
            _ => {}
        }
        i = nl + 1;
    }
    None
}

/// Parses a request head at the start of `buf`.
///
/// A request line httparse rejects (`OPTIONS HTTP/1.1`, `GET /x HTTP/1.`, `GET /x`) is read
/// leniently, as Wireshark does: method, then the second word as the target, then headers.
pub fn parse_request(buf: &[u8]) -> Parsed {
    match parse_request_strict(buf) {
        Parsed::Invalid(why) => tolerant(buf, why, parse_request_strict),
        p => p,
    }
}

fn parse_request_strict(buf: &[u8]) -> Parsed {
    let mut fast = [httparse::EMPTY_HEADER; FAST_HEADERS];
    match request_with(buf, &mut fast) {
        Err(httparse::Error::TooManyHeaders) => {
            let mut slow = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            request_with(buf, &mut slow)
                .unwrap_or(Parsed::Invalid("more than 4096 header fields, a fixed limit"))
        }
        Err(e @ (httparse::Error::Token | httparse::Error::Version | httparse::Error::NewLine)) => {
            lenient_request(buf).unwrap_or(Parsed::Invalid(error_name(e)))
        }
        Err(e) => Parsed::Invalid(error_name(e)),
        Ok(p) => p,
    }
}

/// `METHOD [TARGET [VERSION]]` then header lines; `None` if even that does not fit.
fn lenient_request(buf: &[u8]) -> Option<Parsed> {
    let is_token = |b: &u8| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-';
    let Some(nl) = memchr::memchr(b'\n', buf) else {
        // No full line yet: keep waiting while it still starts like `METHOD`.
        let word = buf.split(|&b| b == b' ').next().unwrap_or(b"");
        let plausible = !word.is_empty()
            && word.iter().all(is_token)
            && !buf.iter().any(|b| b.is_ascii_control() && *b != b'\r');
        return plausible.then_some(Parsed::Partial);
    };
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let method = words.next()?;
    if !method.iter().all(is_token) {
        return None;
    }
    let target = words.next();
    let version = match words.next() {
        Some(v) if v.starts_with(b"HTTP/1.0") => 0,
        _ => 1,
    };
    if words.next().is_some() || target.is_some_and(|t| t.iter().any(|b| b.is_ascii_control())) {
        return None;
    }
    let target = target.unwrap_or(&line[line.len()..]);
    let mut headers = [httparse::EMPTY_HEADER; FAST_HEADERS];
    let rest = &buf[nl + 1..];
    let (used, parsed) = match httparse::parse_headers(rest, &mut headers) {
        Ok(httparse::Status::Complete((used, parsed))) => (used, parsed),
        Ok(httparse::Status::Partial) => return Some(Parsed::Partial),
        Err(_) => return None,
    };
    let n = nl + 1 + used;
    let method = std::str::from_utf8(method).ok()?;
    let target = std::str::from_utf8(target).ok()?;
    Some(Parsed::Complete(Head::from_parsed_request(&buf[..n], method, target, version, parsed), n))
}

/// Reads what can be read of a head cut short (by a gap or the end of the stream): the
/// start line and the complete header lines. `None` if not even the start line is there;
/// except that a request line cut inside its target (a short snapshot length) still gives
/// the method and the start of the target (see [`salvage_request_line`]).
pub fn salvage(buf: &[u8], role: Role) -> Option<Head> {
    let Some(last_nl) = memchr::memrchr(b'\n', buf) else {
        return if role == Role::Request { salvage_request_line(buf) } else { None };
    };
    let mut lines = buf[..=last_nl].to_vec();
    // A header line cut mid-way was dropped above; terminate the head.
    lines.extend_from_slice(b"\r\n");
    let parsed = match role {
        Role::Request => parse_request(&lines),
        Role::Response => parse_response(&lines),
    };
    match parsed {
        Parsed::Complete(head, _) | Parsed::Tolerated(head, ..) => Some(head),
        _ => None,
    }
}

/// A request line cut before its end: `METHOD SP target-start`, as a head whose target is
/// what was seen (version assumed 1.1, no headers). `None` unless the method is a plausible
/// token and some of the target is there.
pub fn salvage_request_line(buf: &[u8]) -> Option<Head> {
    let sp = memchr::memchr(b' ', buf)?;
    let method = std::str::from_utf8(&buf[..sp]).ok()?;
    if method.is_empty() || method.len() > 20 || !method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
    {
        return None;
    }
    let rest = &buf[sp + 1..];
    let end = rest.iter().position(|&b| b == b' ' || b == b'\r' || b == b'\n').unwrap_or(rest.len());
    let target = std::str::from_utf8(&rest[..end]).ok()?;
    let plausible = target.bytes().next().is_some_and(|b| b == b'/' || b == b'*' || b.is_ascii_alphabetic());
    if !plausible || target.bytes().any(|b| b.is_ascii_control()) {
        return None;
    }
    Some(Head::request(method, target, 1, &[]))
}

fn request_with<'h, 'b: 'h>(
    buf: &'b [u8],
    headers: &'h mut [httparse::Header<'b>],
) -> Result<Parsed, httparse::Error> {
    let mut req = httparse::Request::new(headers);
    match config().parse_request(&mut req, buf)? {
        httparse::Status::Partial => Ok(Parsed::Partial),
        httparse::Status::Complete(n) => {
            let (Some(method), Some(uri), Some(version)) = (req.method, req.path, req.version) else {
                return Ok(Parsed::Invalid("incomplete request line"));
            };
            let head = Head::from_parsed_request(&buf[..n], method, uri, version, req.headers);
            Ok(Parsed::Complete(head, n))
        }
    }
}

/// Parses a response head at the start of `buf`.
pub fn parse_response(buf: &[u8]) -> Parsed {
    match parse_response_strict(buf) {
        Parsed::Invalid(why) => tolerant(buf, why, parse_response_strict),
        p => p,
    }
}

/// A head refused strictly, parsed again with regular line endings: tolerated when that
/// reads it, else the strict refusal stands.
fn tolerant(buf: &[u8], why: &'static str, strict: fn(&[u8]) -> Parsed) -> Parsed {
    let Some((fixed, what)) = normalize(buf) else { return Parsed::Invalid(why) };
    match strict(&fixed) {
        Parsed::Complete(head, _) => match head_end(buf, 0) {
            Some(end) => Parsed::Tolerated(head, end, what),
            None => Parsed::Partial,
        },
        Parsed::Partial => Parsed::Partial,
        _ => Parsed::Invalid(why),
    }
}

fn parse_response_strict(buf: &[u8]) -> Parsed {
    let mut fast = [httparse::EMPTY_HEADER; FAST_HEADERS];
    match response_with(buf, &mut fast) {
        Err(httparse::Error::TooManyHeaders) => {
            let mut slow = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            response_with(buf, &mut slow)
                .unwrap_or(Parsed::Invalid("more than 4096 header fields, a fixed limit"))
        }
        Err(e) => Parsed::Invalid(error_name(e)),
        Ok(p) => p,
    }
}

fn response_with<'h, 'b: 'h>(
    buf: &'b [u8],
    headers: &'h mut [httparse::Header<'b>],
) -> Result<Parsed, httparse::Error> {
    let mut res = httparse::Response::new(headers);
    match config().parse_response(&mut res, buf)? {
        httparse::Status::Partial => Ok(Parsed::Partial),
        httparse::Status::Complete(n) => {
            let (Some(code), Some(version)) = (res.code, res.version) else {
                return Ok(Parsed::Invalid("incomplete status line"));
            };
            let head = Head::from_parsed_response(&buf[..n], code, version, res.headers);
            Ok(Parsed::Complete(head, n))
        }
    }
}

fn error_name(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid method token",
        httparse::Error::TooManyHeaders => "more than 4096 header fields, a fixed limit",
        httparse::Error::Version => "invalid HTTP version",
    }
}

fn is_chunked(head: &Head) -> bool {
    // The final transfer coding decides (RFC 9112 §6.3).
    head.header_values("transfer-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
        .last()
        .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"))
}

fn has_transfer_encoding(head: &Head) -> bool {
    head.header("transfer-encoding").is_some()
}

/// The Content-Length, if present and valid (repeated equal values are accepted).
pub fn content_length(head: &Head) -> Option<u64> {
    let mut found: Option<u64> = None;
    for v in head.header_values("content-length") {
        for part in v.split(|&b| b == b',') {
            let s = std::str::from_utf8(part.trim_ascii()).ok()?;
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: u64 = s.parse().ok()?;
            if found.is_some_and(|f| f != n) {
                return None;
            }
            found = Some(n);
        }
    }
    found
}

/// Body framing of a request.
pub fn request_framing(head: &Head) -> Framing {
    if is_chunked(head) {
        Framing::Chunked
    } else if has_transfer_encoding(head) {
        // A request with a non-chunked final coding cannot be delimited: treat as no body.
        Framing::None
    } else {
        match content_length(head) {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    }
}

/// Body framing of a response to a request with `method` (None when the request is unknown).
pub fn response_framing(head: &Head, method: Option<&str>) -> Framing {
    let status = head.status();
    if method.is_some_and(|m| m.eq_ignore_ascii_case("HEAD"))
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Framing::None;
    }
    if method.is_some_and(|m| m.eq_ignore_ascii_case("CONNECT")) && (200..300).contains(&status) {
        return Framing::None;
    }
    if is_chunked(head) {
        Framing::Chunked
    } else if has_transfer_encoding(head) {
        Framing::Close
    } else {
        match content_length(head) {
            Some(0) => Framing::None,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(raw: &[u8]) -> Head {
        match parse_request(raw) {
            Parsed::Complete(h, n) => {
                assert_eq!(n, raw.len());
                h
            }
            other => panic!("{other:?}"),
        }
    }

    fn res(raw: &[u8]) -> Head {
        match parse_response(raw) {
            Parsed::Complete(h, _) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn finds_head_end() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody", 0), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\nx", 0), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\n", 20), Some(24));
    }

    #[test]
    fn framing_table() {
        let cases: &[(&[u8], Option<&str>, Framing)] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Some("GET"), Framing::Length(5)),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Some("HEAD"), Framing::None),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Some("GET"), Framing::Chunked),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Some("GET"), Framing::Close),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                None,
                Framing::Chunked,
            ),
            (b"HTTP/1.0 200 OK\r\n\r\n", Some("GET"), Framing::Close),
            (b"HTTP/1.1 204 No Content\r\n\r\n", Some("DELETE"), Framing::None),
            (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", Some("GET"), Framing::None),
            (b"HTTP/1.1 100 Continue\r\n\r\n", Some("POST"), Framing::None),
            (b"HTTP/1.1 200 Connection established\r\n\r\n", Some("CONNECT"), Framing::None),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", None, Framing::Length(3)),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\n", None, Framing::Close),
            (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", None, Framing::Close),
        ];
        for (raw, method, want) in cases {
            assert_eq!(response_framing(&res(raw), *method), *want, "{}", String::from_utf8_lossy(raw));
        }
        assert_eq!(
            request_framing(&req(b"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n")),
            Framing::Length(12)
        );
        assert_eq!(
            request_framing(&req(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")),
            Framing::Chunked
        );
        assert_eq!(request_framing(&req(b"GET / HTTP/1.1\r\n\r\n")), Framing::None);
    }

    #[test]
    fn many_headers_fall_back_to_heap() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..300 {
            raw.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(req(&raw).header_count(), 300);
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for _ in 0..(MAX_HEADERS + 1) {
            raw.extend_from_slice(b"A: b\r\n");
        }
        raw.extend_from_slice(b"\r\n");
        assert!(matches!(parse_request(&raw), Parsed::Invalid(_)));
    }

    #[test]
    fn lenient_but_not_blind() {
        assert!(matches!(parse_request(b"\x16\x03\x01\x02\x00\x01\x00"), Parsed::Invalid(_)));
        assert!(matches!(parse_request(b"GET / HTTP/1.1\r\nHost"), Parsed::Partial));
        assert!(matches!(parse_response(b"HTTP/1.1 200 OK\r\nBad Header : x\r\n\r\n"), Parsed::Complete(..)));
        assert_eq!(req(b"GET  /x  HTTP/1.1\r\n\r\n").uri(), "/x");
    }

    #[test]
    fn odd_request_lines_like_wireshark() {
        let cases: &[(&[u8], &str, &str)] = &[
            (b"OPTIONS HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", "HTTP/1.1"),
            (b"OPTIONS\r\nHost: a\r\n\r\n", "OPTIONS", ""),
            (b"GET / HTTP/1.\r\nHost: a\r\n\r\n", "GET", "/"),
            (b"GET /HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/HTTP/1.1"),
            (b"CCM_POST / HTTP/1.1\r\n\r\n", "CCM_POST", "/"),
        ];
        for (raw, method, uri) in cases {
            let h = req(raw);
            assert_eq!((h.method(), h.uri()), (*method, *uri));
            assert_eq!(h.header_str("host").unwrap_or("a"), "a");
        }
        assert!(matches!(parse_request(b"hello world\r\n\r\n"), Parsed::Invalid(_)));
    }

    #[test]
    fn salvage_cut_heads() {
        let h = salvage(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nDa", Role::Response).unwrap();
        assert_eq!(h.status(), 200);
        assert_eq!(h.header_str("content-type"), Some("text/html"));
        assert!(h.header("date").is_none());
        assert!(salvage(b"HTTP/1.1 20", Role::Response).is_none());
        assert_eq!(
            salvage(b"POST /openApi/runJob HTTP/1.1\r\nHo", Role::Request).unwrap().uri(),
            "/openApi/runJob"
        );
        // Cut inside the request line: the method and the start of the target.
        let h = salvage(b"POST /openApi/runJob?instanceId=12", Role::Request).unwrap();
        assert_eq!((h.method(), h.uri()), ("POST", "/openApi/runJob?instanceId=12"));
        assert!(salvage(b"POST ", Role::Request).is_none());
        assert!(salvage(b"\x16\x03\x01 /x", Role::Request).is_none(), "not a method");
        assert!(salvage(b"HTTP/1.1 200", Role::Response).is_none());
    }
}
