//! Access logs as exchanges: log text in, [`Exchange`]s in request-start order out.
//!
//! Takes an access log (any format [`accesslog`](crate::accesslog) reads, detected from
//! the first lines unless `--log-format` names it); gives one exchange per line with what
//! the log shows: method, target, status, response size, logged headers, the client (first
//! `X-Forwarded-For` hop or the peer), times. Logs are written when requests *end*, so lines
//! are re-ordered by request start in a bounded buffer; equal times keep file order.
//! A malformed line is a warning with its line number, never the end of the input.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::BufRead;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use thiserror::Error;

use crate::accesslog::{LogFormat, LogReader, LogRecord};
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{Body, Exchange, Flags, Head, InputId, Logged, Message, Origin, Timestamp};

/// Access-log options.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// `--log-format`: a format name or format string; `None` detects.
    pub format: Option<String>,
    /// How far a line may be out of request-start order (longest request duration).
    pub reorder: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions { format: None, reorder: Duration::from_secs(120) }
    }
}

/// What one log held.
#[derive(Clone, Debug, Default)]
pub struct LogSummary {
    /// Lines read.
    pub lines: u64,
    /// Lines that did not match the format.
    pub malformed: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Earliest request start.
    pub first: Option<Timestamp>,
    /// Latest request start.
    pub last: Option<Timestamp>,
    /// The format used.
    pub format: String,
}

/// An access log that cannot be read at all.
#[derive(Debug, Error)]
pub enum LogError {
    /// `--log-format` did not parse.
    #[error("--log-format: {0}")]
    Format(String),
    /// Nothing matched a known format.
    #[error(
        "not a capture, and no access-log format matches its first lines; pass --log-format (a name such as combined, common, json, or your nginx log_format / Apache LogFormat string)"
    )]
    Undetected,
    /// JSON lines, but no key says method, path or time.
    #[error(
        "JSON lines whose fields are not an access log's (found: {0}); pass --log-format json:method=KEY,uri=KEY,time=KEY,status=KEY,…"
    )]
    JsonUnmapped(String),
    /// Not one line could be read with the format.
    #[error(
        "none of the {lines} lines matches the log format {format} (line {first}: {reason}); pass --log-format"
    )]
    NothingRead {
        /// Lines read.
        lines: u64,
        /// The format used.
        format: String,
        /// The first line's number.
        first: u64,
        /// Why it did not match.
        reason: String,
    },
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// Lines sampled for format detection.
const SNIFF_LINES: usize = 20;
/// Lines held for re-ordering at most (a few hundred bytes each): past it the oldest is
/// passed on early, so a log of many thousand lines a second cannot fill memory.
pub const MAX_REORDER_LINES: usize = 100_000;

/// Reads an access log, emitting exchanges in request-start order.
///
/// The reorder buffer here is not `http::order::Orderer`: that one releases finished
/// exchanges once no *open* message (a request still being read on another connection) is
/// older, keyed by frame position; a log line is finished when read, and its start is only
/// known from its times, so lines are held for a time window (the longest request) and
/// released by start time instead.
pub fn log_exchanges<R: BufRead>(
    reader: R,
    input: InputId,
    _name: &str,
    opts: &LogOptions,
    diag: &mut Diagnostics,
    emit: &mut dyn FnMut(Exchange),
) -> Result<LogSummary, LogError> {
    let sniffed = LogReader::sniff(reader, SNIFF_LINES)?;
    let (format, format_name) = match &opts.format {
        Some(spec) => {
            (LogFormat::parse_spec(spec).map_err(|e| LogError::Format(e.to_string()))?, spec.clone())
        }
        None => match sniffed.detect_spec() {
            Some(d) => (d.format, d.spec),
            None => {
                return Err(match sniffed.json_keys() {
                    Some(keys) => LogError::JsonUnmapped(keys.join(", ")),
                    None => LogError::Undetected,
                });
            }
        },
    };
    let mut summary = LogSummary { format: format_name, ..LogSummary::default() };
    let reorder = opts.reorder.as_nanos().min(i64::MAX as u128) as i64;
    let mut held = Reorder::default();
    let mut newest = i64::MIN;
    // The start of the latest line passed on, and the lines that came after it but
    // started before it.
    let mut released = i64::MIN;
    let mut late: Option<(u64, u64)> = None; // (count, first line)
    let mut first_error: Option<(u64, String)> = None;
    let mut reader = sniffed.into_reader(format);
    while let Some(item) = reader.next() {
        summary.lines += 1;
        summary.bytes = reader.bytes_read();
        let rec = match item {
            Ok(r) => r,
            Err(e) => {
                summary.malformed += 1;
                first_error.get_or_insert_with(|| (e.line, e.reason.clone()));
                diag.warn(
                    WarningKind::MalformedLogLine,
                    input,
                    Some(Origin::Line(e.line)),
                    None,
                    e.reason.to_string(),
                );
                continue;
            }
        };
        summary.first = Some(summary.first.map_or(rec.time, |f| f.min(rec.time)));
        summary.last = Some(summary.last.map_or(rec.time, |l| l.max(rec.time)));
        newest = newest.max(rec.time.0);
        if rec.time.0 < released {
            let (n, _) = late.get_or_insert((0, rec.line));
            *n += 1;
        }
        let ex = to_exchange(&rec, input);
        held.push((rec.time.0, rec.line), ex);
        // Anything older than the newest start minus the reorder window is final; so is
        // the oldest line when the buffer is full.
        while held.oldest().is_some_and(|t| t < newest.saturating_sub(reorder))
            || held.len() > MAX_REORDER_LINES
        {
            if let Some((t, ex)) = held.pop() {
                released = released.max(t);
                emit(ex);
            }
        }
    }
    if let Some((n, first)) = late {
        diag.warn(
            WarningKind::BufferLimit,
            input,
            Some(Origin::Line(first)),
            None,
            format!(
                "{n} line{} (the first at line {first}) started before lines already passed on: they ended more than {} s after they started, or more than {MAX_REORDER_LINES} lines were waiting to be re-ordered (a fixed limit); they are analysed out of request order",
                if n == 1 { "" } else { "s" },
                reorder / 1_000_000_000
            ),
        );
    }
    while let Some((_, ex)) = held.pop() {
        emit(ex);
    }
    summary.bytes = reader.bytes_read();
    if let Some((first, reason)) = first_error.filter(|_| summary.malformed == summary.lines) {
        return Err(LogError::NothingRead { lines: summary.lines, format: summary.format, first, reason });
    }
    Ok(summary)
}

/// Lines waiting to be passed on, by (start, line). Logs are nearly in start order (out of
/// it by the durations of requests that overlap), so a line not older than the last one
/// held goes to the back of a queue in O(1), and only the lines that came late go into a
/// heap (O(log n)); the oldest of the two fronts is passed on first. Equal starts keep the
/// file order (the line number is part of the key).
#[derive(Default)]
struct Reorder {
    run: VecDeque<(Key, Exchange)>,
    late: BinaryHeap<Reverse<Late>>,
}

type Key = (i64, u64);

struct Late(Key, Box<Exchange>);

impl PartialEq for Late {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Late {}
impl PartialOrd for Late {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Late {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

impl Reorder {
    fn push(&mut self, key: Key, ex: Exchange) {
        if self.run.back().is_none_or(|(k, _)| *k <= key) {
            self.run.push_back((key, ex));
        } else {
            self.late.push(Reverse(Late(key, Box::new(ex))));
        }
    }

    fn oldest_key(&self) -> Option<Key> {
        match (self.run.front().map(|(k, _)| *k), self.late.peek().map(|l| l.0.0)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn oldest(&self) -> Option<i64> {
        self.oldest_key().map(|(t, _)| t)
    }

    fn len(&self) -> usize {
        self.run.len() + self.late.len()
    }

    fn pop(&mut self) -> Option<(i64, Exchange)> {
        let from_late = match (self.run.front(), self.late.peek()) {
            (Some((a, _)), Some(l)) => l.0.0 < *a,
            (None, Some(_)) => true,
            _ => false,
        };
        if from_late {
            self.late.pop().map(|Reverse(Late((t, _), ex))| (t, *ex))
        } else {
            self.run.pop_front().map(|((t, _), ex)| (t, ex))
        }
    }
}

/// Statuses that proxies log when no response reached the client: nginx's 499 (the client
/// closed the connection before the response, e.g. its timeout fired) and 444 (nginx closed
/// the connection without answering). Read as a request without a response (`no-response`),
/// not as a 4xx the client was sent: the upstream may well have done the work.
pub fn means_no_response(status: u16) -> bool {
    matches!(status, 444 | 499)
}

/// One log line as an exchange: the request head from the logged fields, the response head
/// from the status and logged response headers, body sizes only.
pub fn to_exchange(rec: &LogRecord, input: InputId) -> Exchange {
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let client = SocketAddr::new(
        rec.client_ip().or(rec.remote_addr).unwrap_or(unspecified),
        rec.remote_port.unwrap_or(0),
    );
    let server_ip =
        rec.server_addr.as_deref().and_then(|s| s.trim_matches(['[', ']']).parse::<IpAddr>().ok());
    let server = SocketAddr::new(server_ip.unwrap_or(unspecified), rec.server_port.unwrap_or(0));
    let mut headers: Vec<(&str, &str)> =
        rec.request_headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    if let Some(h) = rec.host.as_deref().filter(|_| rec.request_header("Host").is_none()) {
        headers.push(("Host", h));
    }
    let method = if rec.method.is_empty() { "-" } else { rec.method.as_str() };
    let uri = if rec.uri.is_empty() { "-" } else { rec.uri.as_str() };
    let origin = Origin::Line(rec.line);
    // The response time: the start plus the duration, in whole seconds when the time is
    // logged to the second (the same rounding that derived the start from a logged end, so
    // this is the logged end again): a 5 ms call logged as `[12:00:01]` must not look still
    // unanswered when the next call starts in that second.
    let end = match rec.request_time {
        Some(d) if d.is_finite() && d >= 0.0 => {
            let d = if rec.whole_second { d.trunc() } else { d };
            Timestamp(rec.time.0.saturating_add((d * 1e9) as i64))
        }
        _ => rec.time,
    };
    let request = Message {
        head: Head::request(method, uri, rec.version, &headers),
        ts: rec.time,
        end_ts: rec.time,
        origin,
        end_origin: origin,
        body: request_body(rec),
    };
    let response = rec.status.filter(|s| *s >= 100 && !means_no_response(*s)).map(|status| {
        let rh: Vec<(&str, &str)> =
            rec.response_headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        Message {
            head: Head::response(status, rec.version, &rh),
            ts: end,
            end_ts: end,
            origin,
            end_origin: origin,
            body: Body { len: rec.body_bytes.unwrap_or(0), ..Body::default() },
        }
    });
    let mut flags = Flags::default();
    if response.is_none() {
        flags.set(Flags::NO_RESPONSE);
    }
    Exchange {
        input,
        conn: 0,
        client,
        server,
        request: Some(request),
        response,
        interim: Vec::new(),
        flags,
        wire: crate::exchange::Wire::default(),
        logged: Some(Box::new(logged(rec))),
    }
}

/// The logged request body (`$request_body`) as the request's body, so the call key of a
/// format that logs bodies is complete; empty when the format logs none.
fn request_body(rec: &LogRecord) -> Body {
    match rec.request_body.as_deref() {
        Some(b) => Body { data: b.as_bytes().to_vec(), len: b.len() as u64, ..Body::default() },
        None => Body::default(),
    }
}

/// What the line showed beyond the two heads.
pub fn logged(rec: &LogRecord) -> Logged {
    Logged {
        body: rec.body_logged,
        request_length: rec.request_length,
        connection: rec.connection,
        connection_requests: rec.connection_requests,
        upstream_addr: rec.upstream_addr.as_deref().map(Box::from),
        upstream_status: rec.upstream_status.as_deref().map(Box::from),
        client_aborted: rec.client_aborted || rec.status == Some(499),
        ..Logged::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchanges(log: &str) -> Vec<Exchange> {
        let mut out = Vec::new();
        let mut diag = Diagnostics::default();
        let opts = LogOptions::default();
        log_exchanges(log.as_bytes(), 0, "t", &opts, &mut diag, &mut |e| out.push(e)).unwrap();
        out
    }

    #[test]
    fn nginx_499_and_444_are_requests_without_a_response() {
        let log = concat!(
            "127.0.0.1 - - [26/Nov/2026:03:28:21 +0000] \"POST /openApi/runJob HTTP/1.1\" 499 0 \"-\" \"okhttp/3.14.9\"\n",
            "127.0.0.1 - - [26/Nov/2026:03:28:21 +0000] \"POST /openApi/runJob HTTP/1.1\" 444 0 \"-\" \"okhttp/3.14.9\"\n",
            "127.0.0.1 - - [26/Nov/2026:03:28:21 +0000] \"POST /openApi/runJob HTTP/1.1\" 400 0 \"-\" \"okhttp/3.14.9\"\n",
        );
        let ex = exchanges(log);
        assert_eq!(ex.len(), 3);
        for e in &ex[..2] {
            assert!(e.response.is_none());
            assert!(e.flags.has(Flags::NO_RESPONSE));
        }
        assert_eq!(ex[2].status(), Some(400));
    }

    #[test]
    fn reorder_passes_lines_on_by_start_then_line() {
        let mut r = Reorder::default();
        let mut keys = Vec::new();
        let mut x: i64 = 7;
        for line in 0..2000u64 {
            // Mostly increasing with some late lines, and equal starts.
            x = (x * 1103515245 + 12345) % 2147483648;
            let t = line as i64 / 3 - if x % 5 == 0 { x % 40 } else { 0 };
            keys.push((t, line));
            r.push((t, line), to_exchange(&crate::accesslog::LogRecord::empty(line), 0));
        }
        keys.sort();
        let mut got = Vec::new();
        while let Some(k) = r.oldest_key() {
            let (t, ex) = r.pop().unwrap();
            assert_eq!(t, k.0);
            got.push((
                t,
                match ex.origin() {
                    Origin::Line(n) => n,
                    _ => 0,
                },
            ));
        }
        assert_eq!(got, keys);
    }

    #[test]
    fn logged_facts_and_bytes_read() {
        let fmt = r#"nginx:$msec "$request" $status $request_time $request_length $connection $connection_requests "$upstream_addr" "$upstream_status" "$request_body""#;
        let log = concat!(
            "1700000002.100 \"POST /a HTTP/1.1\" 200 0.050 420 17 3 \"10.0.0.1:80, 10.0.0.2:80\" \"502, 200\" \"{\\x22jobId\\x22:11}\"\n",
            "\n",
            "1700000003.100 \"POST /a HTTP/1.1\" 499 0.050 420 18 1 \"-\" \"-\" \"-\"\n",
        );
        let mut out = Vec::new();
        let mut diag = Diagnostics::default();
        let opts = LogOptions { format: Some(fmt.to_string()), ..LogOptions::default() };
        let s = log_exchanges(log.as_bytes(), 0, "t", &opts, &mut diag, &mut |e| out.push(e)).unwrap();
        assert_eq!(s.bytes, log.len() as u64, "every byte read, blank lines and terminators too");
        let l = out[0].logged.as_deref().unwrap();
        assert!(l.body && !l.client_aborted);
        assert_eq!((l.request_length, l.connection, l.connection_requests), (Some(420), Some(17), Some(3)));
        assert_eq!(l.upstream_addr.as_deref(), Some("10.0.0.1:80, 10.0.0.2:80"));
        assert_eq!(l.upstream_status.as_deref(), Some("502, 200"));
        assert_eq!(out[0].request.as_ref().unwrap().body.data, br#"{"jobId":11}"#);
        let l = out[1].logged.as_deref().unwrap();
        assert!(l.body && l.client_aborted && l.upstream_addr.is_none());
        assert!(out[1].request.as_ref().unwrap().body.data.is_empty());
    }

    #[test]
    fn a_log_read_as_nothing_is_an_error() {
        let mut diag = Diagnostics::default();
        let opts = LogOptions { format: Some("combined".into()), ..LogOptions::default() };
        let e = log_exchanges(&b"a\nb\n"[..], 0, "t", &opts, &mut diag, &mut |_| {}).unwrap_err();
        assert!(e.to_string().starts_with("none of the 2 lines matches"), "{e}");
        let opts = LogOptions::default();
        let e =
            log_exchanges(&b"{\"a\":1}\n{\"a\":2}\n"[..], 0, "t", &opts, &mut diag, &mut |_| {}).unwrap_err();
        assert!(e.to_string().contains("(found: a)"), "{e}");
    }

    #[test]
    fn whole_second_times_count_whole_seconds_of_the_duration() {
        // Apache `%t` (start, to the second) with `%D`: the 5 ms call is answered within its
        // second as far as the log can tell, so the next call of that second does not look
        // sent while it was unanswered; the 3 s call still is.
        let fmt = r#"apache:%h %t "%r" %>s %D"#;
        let log = concat!(
            "10.0.0.5 [10/Jun/2024:12:00:01 +0800] \"POST /a HTTP/1.1\" 200 5000\n",
            "10.0.0.5 [10/Jun/2024:12:00:01 +0800] \"POST /b HTTP/1.1\" 200 3000000\n",
        );
        let mut out = Vec::new();
        let mut diag = Diagnostics::default();
        let opts = LogOptions { format: Some(fmt.to_string()), ..LogOptions::default() };
        log_exchanges(log.as_bytes(), 0, "t", &opts, &mut diag, &mut |e| out.push(e)).unwrap();
        let gap = |e: &Exchange| e.response.as_ref().unwrap().ts.0 - e.request.as_ref().unwrap().ts.0;
        assert_eq!(gap(&out[0]), 0);
        assert_eq!(gap(&out[1]), 3_000_000_000);
        // With milliseconds the whole duration counts.
        let fmt = r#"nginx:$msec "$request" $status $request_time"#;
        let log = "1700000002.100 \"POST /b HTTP/1.1\" 200 0.050\n";
        let mut out = Vec::new();
        let opts = LogOptions { format: Some(fmt.to_string()), ..LogOptions::default() };
        log_exchanges(log.as_bytes(), 0, "t", &opts, &mut diag, &mut |e| out.push(e)).unwrap();
        assert_eq!(gap(&out[0]), 50_000_000);
    }

    #[test]
    fn lines_are_reordered_by_request_start() {
        // nginx writes at the end: the 2 s request started first although logged last.
        let fmt = r#"nginx:$msec "$request" $status $request_time"#;
        let log =
            "1700000002.100 \"POST /b HTTP/1.1\" 200 0.050\n1700000002.200 \"POST /a HTTP/1.1\" 200 2.000\n";
        let mut out = Vec::new();
        let mut diag = Diagnostics::default();
        let opts = LogOptions { format: Some(fmt.to_string()), ..LogOptions::default() };
        log_exchanges(log.as_bytes(), 0, "t", &opts, &mut diag, &mut |e| out.push(e)).unwrap();
        let uris: Vec<&str> = out.iter().map(|e| e.request.as_ref().unwrap().head.uri()).collect();
        assert_eq!(uris, ["/a", "/b"]);
        assert_eq!(diag.total(), 0);
    }

    #[test]
    fn a_full_reorder_buffer_passes_lines_on_and_says_what_came_late() {
        // MAX_REORDER_LINES + 1 lines within one second, then a line that ended 3 s after
        // it started: it started before the first lines, which had to go already.
        let fmt = r#"nginx:$msec "$request" $status $request_time"#;
        let mut log = String::new();
        for i in 0..=MAX_REORDER_LINES {
            log.push_str(&format!("1700000002.{:03} \"POST /x{i} HTTP/1.1\" 200 0.001\n", i % 1000));
        }
        log.push_str("1700000002.999 \"POST /late HTTP/1.1\" 200 3.000\n");
        let mut diag = Diagnostics::default();
        let mut out = Vec::new();
        let opts = LogOptions { format: Some(fmt.to_string()), ..LogOptions::default() };
        log_exchanges(log.as_bytes(), 0, "t", &opts, &mut diag, &mut |e| out.push(e)).unwrap();
        assert_eq!(out.len(), MAX_REORDER_LINES + 2, "nothing is lost");
        assert_eq!(diag.count_of(WarningKind::BufferLimit), 1);
        let w = &diag.kept()[0].detail;
        assert!(w.starts_with("1 line (the first at line 100002) started before"), "{w}");
    }
}
