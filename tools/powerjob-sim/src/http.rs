//! A tiny HTTP/1.1 framing layer: just enough for the simulator's clients and servers.
//!
//! Messages carry `Content-Length` bodies (chunked bodies are accepted on input, so a proxy
//! put in front of a simulated server later does not break the client). Header names keep the
//! letter case they had on the wire: the PowerJob v5 client looks its verdict header up
//! case-sensitively, and the simulator must be able to reproduce that. Everything read from
//! the network is bounded, and malformed input is an `io::Error`, never a panic.

use std::io::{self, BufRead, Read, Write};

/// Largest request/response head (start line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest number of header fields accepted.
const MAX_HEADERS: usize = 100;
/// Largest body accepted.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Header fields in wire order, with their original letter case.
#[derive(Debug, Clone, Default)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// Appends a field.
    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_string(), value.to_string()));
    }

    /// The first value whose name matches ignoring ASCII case (what HTTP says).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The first value whose name matches byte for byte, like a Java `HashMap.get`
    /// over the names as received (the PowerJob 5.x client's lookup).
    pub fn get_exact(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// One HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method, e.g. `POST`.
    pub method: String,
    /// Request target as sent (`/openApi/saveJob`).
    pub target: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Header fields.
    pub headers: Headers,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Request {
    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// Whether the connection stays open after the response.
    pub fn keep_alive(&self) -> bool {
        let conn = self.headers.get("Connection").unwrap_or("");
        if self.version == "HTTP/1.0" {
            conn.eq_ignore_ascii_case("keep-alive")
        } else {
            !conn.eq_ignore_ascii_case("close")
        }
    }

    /// Serialises the request; `Content-Length` must already be among the headers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} {}\r\n", self.method, self.target, self.version).into_bytes();
        write_headers(&mut out, &self.headers);
        out.extend_from_slice(&self.body);
        out
    }
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase (may be empty, as Tomcat sends it).
    pub reason: String,
    /// Header fields.
    pub headers: Headers,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// Serialises the response; `Content-Length` must already be among the headers.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason).into_bytes();
        write_headers(&mut out, &self.headers);
        out.extend_from_slice(&self.body);
        out
    }

    /// Whether the server keeps the connection open.
    pub fn keep_alive(&self) -> bool {
        !self.headers.get("Connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

fn write_headers(out: &mut Vec<u8>, headers: &Headers) {
    for (n, v) in &headers.0 {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one line ending in LF (CR stripped), bounded by `budget` bytes.
fn read_line<R: BufRead>(r: &mut R, budget: &mut usize) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let mut limited = r.by_ref().take((*budget as u64) + 1);
    let n = limited.read_until(b'\n', &mut buf)?;
    if n == 0 {
        return Ok(None);
    }
    if n > *budget {
        return Err(bad("HTTP head too large"));
    }
    *budget -= n;
    if buf.last() != Some(&b'\n') {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside the HTTP head"));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map(Some).map_err(|_| bad("non-UTF-8 HTTP head"))
}

/// Reads the start line (skipping leading empty lines) and header fields.
fn read_head<R: BufRead>(r: &mut R) -> io::Result<Option<(String, Headers)>> {
    let mut budget = MAX_HEAD;
    let start = loop {
        match read_line(r, &mut budget)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut headers = Headers::default();
    loop {
        let line = read_line(r, &mut budget)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in headers"))?;
        if line.is_empty() {
            break;
        }
        if headers.0.len() >= MAX_HEADERS {
            return Err(bad("too many header fields"));
        }
        let (name, value) =
            line.split_once(':').ok_or_else(|| bad(format!("malformed header line {line:?}")))?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(bad(format!("malformed header name {name:?}")));
        }
        headers.push(name, value.trim());
    }
    Ok(Some((start, headers)))
}

fn read_exact_body<R: BufRead>(r: &mut R, len: usize) -> io::Result<Vec<u8>> {
    if len > MAX_BODY {
        return Err(bad("body too large"));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

fn read_chunked<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut budget = MAX_HEAD;
    loop {
        let line = read_line(r, &mut budget)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in chunked body"))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                match read_line(r, &mut budget)? {
                    None => return Ok(body),
                    Some(l) if l.is_empty() => return Ok(body),
                    Some(_) => {}
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(bad("body too large"));
        }
        let chunk = read_exact_body(r, size)?;
        body.extend_from_slice(&chunk);
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
}

fn content_length(headers: &Headers) -> io::Result<Option<usize>> {
    match headers.get("Content-Length") {
        None => Ok(None),
        Some(v) => v.trim().parse::<usize>().map(Some).map_err(|_| bad(format!("bad Content-Length {v:?}"))),
    }
}

fn is_chunked(headers: &Headers) -> bool {
    headers.get("Transfer-Encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
}

/// Reads one request; `Ok(None)` on a clean EOF before its first byte.
pub fn read_request<R: BufRead>(r: &mut R) -> io::Result<Option<Request>> {
    let Some((start, headers)) = read_head(r)? else {
        return Ok(None);
    };
    let mut parts = start.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("malformed request line {start:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("unsupported version {version:?}")));
    }
    let body = if is_chunked(&headers) {
        read_chunked(r)?
    } else {
        read_exact_body(r, content_length(&headers)?.unwrap_or(0))?
    };
    Ok(Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
        body,
    }))
}

/// Reads one response to a request (never a HEAD request in this simulator).
pub fn read_response<R: BufRead>(r: &mut R) -> io::Result<Response> {
    let (start, headers) = read_head(r)?.ok_or_else(|| {
        io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the response")
    })?;
    let mut parts = start.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("malformed status line {start:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("malformed status line {start:?}")))?;
    let reason = parts.next().unwrap_or("").to_string();
    let body = if status / 100 == 1 || status == 204 || status == 304 {
        Vec::new()
    } else if is_chunked(&headers) {
        read_chunked(r)?
    } else if let Some(len) = content_length(&headers)? {
        read_exact_body(r, len)?
    } else {
        // Close-delimited.
        let mut body = Vec::new();
        r.take(MAX_BODY as u64 + 1).read_to_end(&mut body)?;
        if body.len() > MAX_BODY {
            return Err(bad("body too large"));
        }
        body
    };
    Ok(Response { status, reason, headers, body })
}

/// Writes a whole message in one call.
pub fn write_all<W: Write>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    w.write_all(bytes)?;
    w.flush()
}

/// `application/x-www-form-urlencoded` encoding of one component (OkHttp `FormBody` style).
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Builds a form body from pairs, in the given order.
pub fn form_body(pairs: &[(&str, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v))).collect::<Vec<_>>().join("&")
}

/// Decodes one form component (`+` and `%XX`); invalid escapes are kept literally.
pub fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a form body into decoded pairs.
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (form_decode(k), form_decode(v)),
            None => (form_decode(p), String::new()),
        })
        .collect()
}

/// The canonical form of a body, as docs/labels.md defines it for the call key:
/// form parameters sorted, JSON with sorted keys and no whitespace; anything else as is.
pub fn canonical_body(content_type: Option<&str>, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("json") || text.trim_start().starts_with(['{', '[']) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            return sort_json(v).to_string();
        }
    }
    if ct.contains("x-www-form-urlencoded") {
        let mut parts: Vec<&str> = text.split('&').filter(|p| !p.is_empty()).collect();
        parts.sort_unstable();
        return parts.join("&");
    }
    text.into_owned()
}

fn sort_json(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sort_json(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_json).collect()),
        other => other,
    }
}

/// An RFC 7231 `Date` header value for now.
pub fn http_date() -> String {
    chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    #[test]
    fn request_round_trip_keeps_header_case() {
        let mut headers = Headers::default();
        headers.push("X-POWERJOB-APP-ID", "1");
        headers.push("Content-Length", "5");
        let req = Request {
            method: "POST".into(),
            target: "/openApi/runJob".into(),
            version: "HTTP/1.1".into(),
            headers,
            body: b"a=1&b".to_vec(),
        };
        let bytes = req.to_bytes();
        let back = read_request(&mut BufReader::new(&bytes[..])).unwrap().unwrap();
        assert_eq!(back.headers.get_exact("X-POWERJOB-APP-ID"), Some("1"));
        assert_eq!(back.headers.get_exact("x-powerjob-app-id"), None);
        assert_eq!(back.headers.get("x-powerjob-app-id"), Some("1"));
        assert_eq!(back.body, b"a=1&b");
    }

    #[test]
    fn response_with_empty_reason_and_chunked_body() {
        let raw = b"HTTP/1.1 200 \r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let resp = read_response(&mut BufReader::new(&raw[..])).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.reason, "");
        assert_eq!(resp.body, b"abc");
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nno colon\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert!(read_request(&mut BufReader::new(raw)).is_err());
        }
        assert!(read_response(&mut BufReader::new(&b"HTTP/1.1 abc\r\n\r\n"[..])).is_err());
        assert!(read_request(&mut BufReader::new(&b""[..])).unwrap().is_none());
    }

    #[test]
    fn form_and_canonical() {
        let body = form_body(&[("jobId", "42".into()), ("instanceParams", "a b&c".into())]);
        assert_eq!(body, "jobId=42&instanceParams=a+b%26c");
        assert_eq!(
            parse_form(&body),
            vec![
                ("jobId".to_string(), "42".to_string()),
                ("instanceParams".to_string(), "a b&c".to_string())
            ]
        );
        assert_eq!(form_decode("%zz%4"), "%zz%4");
        assert_eq!(canonical_body(Some("application/x-www-form-urlencoded"), b"b=2&a=1"), "a=1&b=2");
        assert_eq!(
            canonical_body(Some("application/json"), br#"{ "b": 1, "a": {"d":1,"c":2} }"#),
            r#"{"a":{"c":2,"d":1},"b":1}"#
        );
    }
}
