//! HAProxy `option httplog` / `option httpslog` lines → records.
//!
//! Takes a line as HAProxy writes it — raw (`log stdout format raw`) or behind a syslog
//! prefix (`<134>`, `Dec  2 02:50:12 host haproxy[123]: `, an RFC 3339 stamp) — and the
//! names of the `capture request header` / `capture response header` fields if known; gives
//! a [`LogRecord`]. The layout (HAProxy 2.x, configuration manual 8.2.3 and 8.2.4):
//!
//! ```text
//! %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq {%hr} {%hs} "%r" [httpslog: TLS fields]
//! ```
//!
//! Times: `[%tr]` is when the request started (1.x: `[%t]`, the accept date), to the
//! millisecond, in the proxy's local time without an offset — read as UTC. HAProxy writes
//! the line when the request ENDS, so lines are out of start order; the pipeline re-orders
//! them. The duration is `Ta` (1.x: `Tt`). Status `-1`: no response was sent. A
//! termination state starting with `C` means the client aborted. `%B` counts the
//! response's head and body. HAProxy writes NO line for a request whose server connection
//! closed without answering only when `option dontlog-normal`/`dontlognull` say so; with
//! the defaults every request is logged (status `-1` or 502, state `SH--`).
//!
//! Captured header values come without names: with `haproxy:req=Host,User-Agent;resp=X`
//! they get the names of the `capture` lines in order; without, a value that looks like a
//! user agent, an address list or a host name is named `User-Agent`, `X-Forwarded-For` or
//! `Host`, any other `X-Haproxy-Capture-N`.

use super::record::{
    FormatError, LineError, LogRecord, TimeBasis, canonical_header_name, parse_socket_lenient,
};
use super::time::parse_clf;
use super::value::count;
use crate::exchange::Timestamp;

/// HAProxy's HTTP log, with the names of its captured headers if known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HaproxyFormat {
    /// `capture request header` names, in configuration order.
    pub request_captures: Vec<String>,
    /// `capture response header` names, in configuration order.
    pub response_captures: Vec<String>,
}

impl HaproxyFormat {
    /// From `req=Host,User-Agent;resp=Content-Type` (either part optional).
    pub fn parse(spec: &str) -> Result<Self, FormatError> {
        let mut f = HaproxyFormat::default();
        for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| FormatError::Mapping(format!("haproxy: {part:?} is not req=… or resp=…")))?;
            let names = v.split(',').map(str::trim).filter(|n| !n.is_empty()).map(canonical_header_name);
            match k.trim() {
                "req" | "request" => f.request_captures = names.collect(),
                "resp" | "response" => f.response_captures = names.collect(),
                other => return Err(FormatError::Mapping(format!("haproxy: unknown part {other:?}"))),
            }
        }
        Ok(f)
    }

    /// The `--log-format` spec that gives this format back.
    pub fn spec(&self) -> String {
        if self.request_captures.is_empty() && self.response_captures.is_empty() {
            return "haproxy".to_owned();
        }
        format!("haproxy:req={};resp={}", self.request_captures.join(","), self.response_captures.join(","))
    }

    /// Parses one line.
    pub fn parse_line(&self, line: &str, line_no: u64) -> Result<LogRecord, LineError> {
        let bad = |why: &str| LineError::malformed(line_no, format!("HAProxy httplog: {why}"));
        let payload = payload(line).ok_or_else(|| bad("no client address and [date] where expected"))?;
        let mut rec = LogRecord::empty(line_no);
        let mut it = Words { s: payload };
        let client = it.word().ok_or_else(|| bad("no client address"))?;
        let (ip, port) = socket(client);
        rec.remote_addr = ip;
        rec.remote_port = port;
        let date =
            it.word().and_then(|d| d.strip_prefix('[')?.strip_suffix(']')).ok_or_else(|| bad("no [date]"))?;
        let start = parse_clf(&format!("{date} +0000"))
            .ok_or_else(|| bad("[date] is not dd/Mon/yyyy:HH:MM:SS.mmm"))?;
        rec.time = Timestamp(start);
        rec.logged_time = rec.time;
        rec.time_basis = TimeBasis::Start;
        rec.whole_second = !date.contains('.');
        let _frontend = it.word().ok_or_else(|| bad("no frontend"))?;
        let server = it.word().filter(|s| s.contains('/')).ok_or_else(|| bad("no backend/server"))?;
        if !server.ends_with("/<NOSRV>") {
            rec.upstream_addr = Some(server.to_owned());
        }
        let timers: Vec<&str> = it.word().ok_or_else(|| bad("no timers"))?.split('/').collect();
        if timers.len() != 5 || !timers.iter().all(|t| timer(t).is_some()) {
            return Err(bad("timers are not TR/Tw/Tc/Tr/Ta"));
        }
        rec.request_time =
            timers.last().and_then(|t| timer(t)).filter(|t| *t >= 0).map(|ms| ms as f64 / 1000.0);
        let status = it.word().ok_or_else(|| bad("no status"))?;
        rec.status = match status {
            "-1" => None,
            s => Some(s.parse().map_err(|_| bad("not a status code"))?),
        };
        rec.body_bytes = Some(count(it.word().unwrap_or("")).ok_or_else(|| bad("not a byte count"))?);
        let (_cookie_req, _cookie_resp) = (it.word(), it.word());
        let state = it.word().filter(|s| s.len() == 4).ok_or_else(|| bad("no termination state"))?;
        rec.client_aborted = state.starts_with('C');
        rec.termination = Some(state.to_owned());
        let conns =
            it.word().filter(|w| w.split('/').count() == 5).ok_or_else(|| bad("no ac/fc/bc/sc/rc"))?;
        let _ = conns;
        let _queues = it.word().filter(|w| w.split('/').count() == 2).ok_or_else(|| bad("no sq/bq"))?;
        let mut groups = Vec::new();
        while it.s.starts_with('{') {
            groups.push(it.braces().ok_or_else(|| bad("unclosed {captured headers}"))?);
        }
        let request = it.quoted().ok_or_else(|| bad("no quoted request line"))?;
        self.captures(&groups, &mut rec);
        let request = unhash(request);
        if let Some((m, u, p)) = super::text::split_request_line(&request) {
            rec.method.push_str(m);
            rec.uri.push_str(u);
            if let Some(p) = p {
                rec.version = super::text::minor_version(p);
            }
        }
        rec.host = rec.request_header("Host").map(str::to_owned);
        Ok(rec)
    }

    /// Names and stores the `{…}` capture groups: request headers first, then response
    /// (only response headers when only those are named).
    fn captures(&self, groups: &[&str], rec: &mut LogRecord) {
        let named = !self.request_captures.is_empty() || !self.response_captures.is_empty();
        for (g, group) in groups.iter().enumerate() {
            let response = g >= 1 || (named && self.request_captures.is_empty());
            let names = if response { &self.response_captures } else { &self.request_captures };
            for (i, v) in group.split('|').enumerate() {
                let v = unhash(v).into_owned();
                if v.is_empty() {
                    continue;
                }
                let name = match names.get(i) {
                    Some(n) => n.clone(),
                    None if response => format!("X-Haproxy-Response-Capture-{}", i + 1),
                    None => guess_name(&v, i),
                };
                if response {
                    rec.response_headers.push((name, v));
                } else {
                    rec.request_headers.push((name, v));
                }
            }
        }
    }
}

/// A timer: a number of milliseconds, `-1` (the phase did not happen), `+` allowed.
fn timer(t: &str) -> Option<i64> {
    if t == "-1" {
        return Some(-1);
    }
    count(t).and_then(|n| i64::try_from(n).ok())
}

/// A name for an unnamed captured request header value.
fn guess_name(v: &str, i: usize) -> String {
    let addr_list =
        !v.is_empty() && v.split(',').all(|p| super::record::parse_ip_lenient(p.trim()).is_some());
    let product = v.split_once('/').is_some_and(|(p, ver)| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && ver.bytes().next().is_some_and(|b| b.is_ascii_digit())
    });
    let host = !v.is_empty()
        && !v.contains('/')
        && v.contains('.')
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if addr_list {
        "X-Forwarded-For".to_owned()
    } else if product {
        "User-Agent".to_owned()
    } else if host {
        "Host".to_owned()
    } else {
        format!("X-Haproxy-Capture-{}", i + 1)
    }
}

/// Decodes HAProxy's `#XX` escapes (quotes, control characters) when they are hex.
fn unhash(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('#') {
        return std::borrow::Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let hex = |k: usize| b.get(k).and_then(|&h| (h as char).to_digit(16));
        if c == b'#' {
            if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The HAProxy part of a line: the whole line, or what follows a syslog prefix.
fn payload(line: &str) -> Option<&str> {
    let line = line.trim_end();
    if looks_like_start(line) {
        return Some(line);
    }
    // `… haproxy[123]: ` (BSD syslog) or `… haproxy: `; the prefix is short.
    let head = line.get(..line.len().min(256)).unwrap_or(line);
    let mut from = 0;
    while let Some(k) = head.get(from..).and_then(|h| h.find(": ")) {
        let rest = line.get(from + k + 2..)?;
        if looks_like_start(rest) {
            return Some(rest);
        }
        from += k + 2;
    }
    None
}

/// Whether `s` starts with `address:port [dd/`.
fn looks_like_start(s: &str) -> bool {
    let Some((addr, rest)) = s.split_once(' ') else { return false };
    rest.starts_with('[')
        && rest.as_bytes().get(1).is_some_and(u8::is_ascii_digit)
        && matches!(socket(addr), (Some(_), Some(_)))
}

/// `ip:port` as HAProxy writes it (IPv6 without brackets: `::1:5000`).
fn socket(s: &str) -> (Option<std::net::IpAddr>, Option<u16>) {
    match parse_socket_lenient(s) {
        (Some(ip), Some(port)) => (Some(ip), Some(port)),
        _ => match s.rsplit_once(':') {
            Some((ip, port)) => (super::record::parse_ip_lenient(ip), port.parse().ok()),
            None => (None, None),
        },
    }
}

/// Space-separated words of a line, with HAProxy's `{…}` and `"…"` groups.
struct Words<'a> {
    s: &'a str,
}

impl<'a> Words<'a> {
    fn word(&mut self) -> Option<&'a str> {
        let s = self.s.trim_start_matches(' ');
        if s.is_empty() {
            return None;
        }
        let end = s.find(' ').unwrap_or(s.len());
        let (w, rest) = s.split_at(end);
        self.s = rest.trim_start_matches(' ');
        Some(w)
    }

    /// `{…}` up to the `}` that ends the word (values may hold spaces).
    fn braces(&mut self) -> Option<&'a str> {
        let s = self.s.strip_prefix('{')?;
        let mut at = 0;
        loop {
            let k = at + s.get(at..)?.find('}')?;
            let after = s.as_bytes().get(k + 1);
            if matches!(after, None | Some(b' ')) {
                self.s = s.get(k + 1..)?.trim_start_matches(' ');
                return s.get(..k);
            }
            at = k + 1;
        }
    }

    /// `"…"`: HAProxy escapes quotes inside as `#22`, so the next quote ends it.
    fn quoted(&mut self) -> Option<&'a str> {
        let s = self.s.strip_prefix('"')?;
        let k = s.find('"')?;
        self.s = s.get(k + 1..)?.trim_start_matches(' ');
        s.get(..k)
    }
}
