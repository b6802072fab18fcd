//! What one access-log line says about one request, and why a line could not be read.
//!
//! Takes nothing; gives [`LogRecord`] (the request as the log shows it, with its best
//! request-start estimate and how that estimate was made, [`TimeBasis`]), [`LineError`]
//! (a line that could not be read: its number and a reason that never quotes the line,
//! which may hold secrets) and the header-name canonicalisation every format shares.

use std::net::{IpAddr, SocketAddr};

use crate::exchange::Timestamp;

/// How [`LogRecord::time`] (the request start) was derived from what the log wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeBasis {
    /// The log wrote the request start (Apache `%t`, Envoy `START_TIME`, Traefik `StartUTC`,
    /// Tomcat `%{begin:…}t`): `time == logged_time`, exact to the log's resolution.
    Start,
    /// The log wrote the end (log-write time) and the request duration: `time = end − duration`
    /// (only the duration's whole seconds when the end is logged to the second, so requests
    /// shorter than a second keep their log order).
    EndMinusDuration,
    /// The log wrote the end and no duration: `time == logged_time`, late by the (unknown)
    /// request duration.
    End,
    /// The format does not say whether its time is the start or the end (a bare `combined`
    /// line is written alike by nginx, end, and Apache, start): `time == logged_time`.
    Unknown,
}

impl TimeBasis {
    /// Short name for reports: `start`, `end-minus-duration`, `end`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeBasis::Start => "start",
            TimeBasis::EndMinusDuration => "end-minus-duration",
            TimeBasis::End => "end",
            TimeBasis::Unknown => "unknown",
        }
    }
}

/// One request as an access-log line shows it.
///
/// Absent fields (not in the format, or logged as `-` / empty) are `None` or empty. Header
/// names are canonicalised (`X-Forwarded-For`): logs look headers up case-insensitively
/// and never show the case the header had on the wire, so case is *not* evidence here.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    /// 1-based line number in its file.
    pub line: u64,
    /// Best estimate of the request start; see [`LogRecord::time_basis`].
    pub time: Timestamp,
    /// The time field as written (for formats with several, the first one in the format).
    pub logged_time: Timestamp,
    /// How [`LogRecord::time`] was derived.
    pub time_basis: TimeBasis,
    /// [`LogRecord::time`] is known to the second only (CLF `[$time_local]`, `%t`, ISO
    /// without a fraction): lines of one second are in file order, not time order, and a
    /// duration shorter than a second says nothing about the order of two such lines.
    pub whole_second: bool,
    /// The peer (or, behind a proxy that rewrites it, the client) address; `None` when the
    /// log shows a host name or nothing.
    pub remote_addr: Option<IpAddr>,
    /// The peer port, when logged.
    pub remote_port: Option<u16>,
    /// Request method as logged; empty when the request line was absent (`"-"`) or junk
    /// (binary bytes sent to a plain-HTTP port are logged with status 400).
    pub method: String,
    /// Request target as logged (path and query, percent-encoding kept); log escapes such
    /// as nginx's `\xE4` are decoded. Empty when the request line was absent or junk.
    pub uri: String,
    /// HTTP minor version: 0 for HTTP/1.0 (and 0.9), 1 otherwise or when unknown.
    pub version: u8,
    /// Response status; Envoy logs 0 when no response was sent.
    pub status: Option<u16>,
    /// Response body bytes.
    pub body_bytes: Option<u64>,
    /// Request duration in seconds, whatever unit the log used.
    pub request_time: Option<f64>,
    /// Upstream status(es) as logged by a proxy, e.g. `502, 200`.
    pub upstream_status: Option<String>,
    /// Server name: nginx `$host`, Apache/Tomcat `%v`, Envoy `:authority`, else the `Host`
    /// request header.
    pub host: Option<String>,
    /// Server (local) address as logged.
    pub server_addr: Option<String>,
    /// Server (local) port as logged.
    pub server_port: Option<u16>,
    /// Logged request headers, canonical names (`User-Agent`, `X-Forwarded-For`,
    /// `X-Powerjob-App-Id`, `Authorization`), values as logged (unescaped).
    pub request_headers: Vec<(String, String)>,
    /// Logged response headers (`$sent_http_*`, `%{X}o`), canonical names, exact values; a
    /// header the format logs but the response did not carry (`-`) is present and empty.
    pub response_headers: Vec<(String, String)>,
    /// The format logs request bodies (`$request_body`), whatever this line's value.
    pub body_logged: bool,
    /// The request body as logged (unescaped); `None` when empty (`-`) or not logged.
    pub request_body: Option<String>,
    /// Request bytes, head and body (`$request_length`, Apache `%I`, ALB `received_bytes`,
    /// CloudFront `cs-bytes`).
    pub request_length: Option<u64>,
    /// Connection serial number (`$connection`).
    pub connection: Option<u64>,
    /// 1-based position of the request on its connection (`$connection_requests`; Apache
    /// `%k` + 1).
    pub connection_requests: Option<u32>,
    /// Upstream address(es) (`$upstream_addr`, HAProxy `backend/server`, ALB `target:port`).
    pub upstream_addr: Option<String>,
    /// The log says the client went away before the response: nginx 499, Apache `%X` = `X`,
    /// a HAProxy termination state starting with `C`, ALB 460, CloudFront `ClientCommError`.
    pub client_aborted: bool,
    /// HAProxy's termination state (`----`, `CD--`, `sH--` …) as logged.
    pub termination: Option<String>,
}

impl LogRecord {
    /// An empty record for line `line` (all fields absent, times zero).
    pub fn empty(line: u64) -> Self {
        LogRecord {
            line,
            time: Timestamp(0),
            logged_time: Timestamp(0),
            time_basis: TimeBasis::Unknown,
            whole_second: false,
            remote_addr: None,
            remote_port: None,
            method: String::new(),
            uri: String::new(),
            version: 1,
            status: None,
            body_bytes: None,
            request_time: None,
            upstream_status: None,
            host: None,
            server_addr: None,
            server_port: None,
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            body_logged: false,
            request_body: None,
            request_length: None,
            connection: None,
            connection_requests: None,
            upstream_addr: None,
            client_aborted: false,
            termination: None,
        }
    }

    /// The first logged request header called `name` (ASCII case-insensitive).
    pub fn request_header(&self, name: &str) -> Option<&str> {
        find_header(&self.request_headers, name)
    }

    /// The first logged response header called `name` (ASCII case-insensitive).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find_header(&self.response_headers, name)
    }

    /// The client: the first `X-Forwarded-For` hop if present and an IP address (a port or
    /// IPv6 brackets are tolerated), else the first `for=` of a `Forwarded` header, else
    /// [`LogRecord::remote_addr`].
    pub fn client_ip(&self) -> Option<IpAddr> {
        if let Some(xff) = self.request_header("X-Forwarded-For") {
            let first = xff.split(',').next().unwrap_or("");
            if let Some(ip) = parse_ip_lenient(first) {
                return Some(ip);
            }
        }
        if let Some(fwd) = self.request_header("Forwarded") {
            let first = fwd.split(',').next().unwrap_or("");
            for pair in first.split(';') {
                let pair = pair.trim();
                let Some((k, v)) = pair.split_once('=') else {
                    continue;
                };
                if k.trim().eq_ignore_ascii_case("for") {
                    if let Some(ip) = parse_ip_lenient(v.trim().trim_matches('"')) {
                        return Some(ip);
                    }
                }
            }
        }
        self.remote_addr
    }

    /// The path part of [`LogRecord::uri`] (before `?`; an absolute-form target keeps its
    /// scheme and authority).
    pub fn path(&self) -> &str {
        match self.uri.split_once('?') {
            Some((p, _)) => p,
            None => &self.uri,
        }
    }

    /// The query part of [`LogRecord::uri`] (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// An IP address from `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]:80`, `fe80::1%eth0`, with
/// surrounding blanks; `None` for anything else (host names, `unknown`, `unix:`).
pub fn parse_ip_lenient(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return parse_ip_lenient(inner);
    }
    // IPv6 zone index (`fe80::1%eth0`), possibly bracketed with a port.
    if let Some((addr, _zone)) = s.split_once('%') {
        let addr = addr.trim_start_matches('[');
        return addr.parse::<IpAddr>().ok();
    }
    None
}

/// An address with an optional port: `1.2.3.4:80`, `[::1]:80`, `::1`, `1.2.3.4`.
pub(crate) fn parse_socket_lenient(s: &str) -> (Option<IpAddr>, Option<u16>) {
    let s = s.trim();
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return (Some(sa.ip()), Some(sa.port()));
    }
    (parse_ip_lenient(s), None)
}

/// Canonical header name: parts split at `_` or `-`, each capitalised (`x_forwarded_for`
/// → `X-Forwarded-For`, `USER-AGENT` → `User-Agent`).
pub fn canonical_header_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut start = true;
    for c in name.chars() {
        if c == '_' || c == '-' {
            out.push('-');
            start = true;
        } else if start {
            out.push(c.to_ascii_uppercase());
            start = false;
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// What went wrong with a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineErrorKind {
    /// The line does not match the format (or a field has an impossible value).
    Malformed,
    /// The line is longer than the reader's cap; it was skipped.
    TooLong,
    /// Reading failed; the reader stops after reporting this.
    Io,
}

/// A line that could not be turned into a [`LogRecord`].
///
/// The reason names the format element and the problem, never the line's content: log
/// lines can carry tokens and passwords (query strings, headers).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct LineError {
    /// 1-based line number.
    pub line: u64,
    /// What did not match, e.g. `expected "\" " after "$status"`.
    pub reason: String,
    /// The class of problem.
    pub kind: LineErrorKind,
}

impl LineError {
    pub(crate) fn malformed(line: u64, reason: impl Into<String>) -> Self {
        LineError { line, reason: reason.into(), kind: LineErrorKind::Malformed }
    }
}

/// A log format that could not be understood (given on the command line or by name).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Not a known format name.
    #[error("unknown log format name {0:?} (known: {known})", known = super::NAMES.join(", "))]
    UnknownName(String),
    /// The format string is malformed at the given byte offset.
    #[error("log format: {reason} at offset {at}")]
    Syntax {
        /// Byte offset in the format string.
        at: usize,
        /// What is wrong.
        reason: String,
    },
    /// The format logs no time, so its records cannot be ordered or correlated.
    #[error("log format has no time field ({hint})")]
    NoTime {
        /// Which directives would do.
        hint: &'static str,
    },
    /// The format logs neither the request line nor the method and path.
    #[error("log format has no request field ({hint})")]
    NoRequest {
        /// Which directives would do.
        hint: &'static str,
    },
    /// A JSON field mapping entry is malformed.
    #[error("JSON field mapping: {0}")]
    Mapping(String),
}
