//! dupcall's own exchange records (`dupcall-exchange/1`, JSON lines): exchanges out and in.
//!
//! Takes [`Exchange`]s (any input) and a [`Redactor`]; gives one JSON object per line that
//! holds what the classifier needs — times (ns), addresses, connection number, flags, wire
//! and log facts, and both heads and bodies *with every secret replaced by what the
//! redaction layer prints for it* (keyed fingerprints `tok:1a2b3c4d`, `[redacted]` for
//! passwords). Reading such lines back ([`read_records`]) gives exchanges the same
//! classifier labels exactly as the originals: the call key leaves secret fields out, so
//! replacing them changes no key, and [`Redactor::fingerprint`] of an already fingerprinted
//! value is that fingerprint, so credentials and issued tokens keep the fingerprints the
//! export computed. Export and analysis must therefore use one `--fingerprint-key` for the
//! fingerprints of several exports to match. docs/har.md, "Exchange records", says more.

use std::io::{BufRead, Write};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{
    Body, Close, Exchange, Flags, Head, InputId, Logged, Message, Origin, Refused, Timestamp, Wire,
};
use crate::http::decode::{DEFAULT_DECODED_CAP, decode_body};
use crate::redact::Redactor;

/// The record version, first member of every line.
pub const VERSION: &str = "dupcall-exchange/1";
/// The longest line read (a record holds at most two capped bodies).
pub const MAX_LINE: usize = 16 << 20;

#[derive(Serialize, Deserialize)]
pub(crate) struct Rec {
    pub(crate) record: String,
    /// Input index in the exporting run (exchanges of several inputs in one file).
    pub(crate) input: u32,
    pub(crate) conn: u64,
    pub(crate) client: SocketAddr,
    pub(crate) server: SocketAddr,
    pub(crate) flags: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) interim: Vec<u16>,
    #[serde(default)]
    pub(crate) wire: RecWire,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logged: Option<RecLogged>,
    pub(crate) request: Option<RecMsg>,
    pub(crate) response: Option<RecMsg>,
}

#[derive(Serialize, Deserialize, Default)]
pub(crate) struct RecWire {
    pub(crate) nth: u32,
    pub(crate) client_closed: Option<(i64, bool)>,
    pub(crate) server_closed: Option<(i64, bool)>,
    pub(crate) capture_ended: bool,
    /// TLS version of a decrypted connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tls: Option<u16>,
    /// HTTP/2 stream id (0: not HTTP/2).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) h2_stream: u32,
    /// HTTP/2 refusal: (time, the GOAWAY's last stream id; `None` for RST_STREAM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refused: Option<(i64, Option<u32>)>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn refused_out(r: Option<Refused>) -> Option<(i64, Option<u32>)> {
    r.map(|r| match r {
        Refused::RstStream { at } => (at.0, None),
        Refused::GoAway { at, last_stream_id } => (at.0, Some(last_stream_id)),
    })
}

fn refused_in(r: Option<(i64, Option<u32>)>) -> Option<Refused> {
    r.map(|(at, last)| match last {
        None => Refused::RstStream { at: Timestamp(at) },
        Some(last_stream_id) => Refused::GoAway { at: Timestamp(at), last_stream_id },
    })
}

#[derive(Serialize, Deserialize, Default)]
pub(crate) struct RecLogged {
    pub(crate) body: bool,
    pub(crate) request_length: Option<u64>,
    pub(crate) connection: Option<u64>,
    pub(crate) connection_requests: Option<u32>,
    pub(crate) upstream_addr: Option<String>,
    pub(crate) upstream_status: Option<String>,
    pub(crate) client_aborted: bool,
    pub(crate) producer: Option<String>,
    pub(crate) initiator: Option<u64>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RecMsg {
    /// RFC 3339, for people; `ts` decides.
    pub(crate) time: String,
    pub(crate) ts: i64,
    pub(crate) end_ts: i64,
    pub(crate) origin: (char, u64),
    pub(crate) end_origin: (char, u64),
    /// `METHOD` (requests) or the status (responses).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) method: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) uri: String,
    #[serde(default)]
    pub(crate) status: u16,
    pub(crate) version: u8,
    pub(crate) headers: Vec<(String, String)>,
    /// The body decoded and redacted, as text.
    pub(crate) body: String,
    /// Body bytes seen (before redaction).
    pub(crate) len: u64,
    pub(crate) missing: u64,
    pub(crate) capped: bool,
}

pub(crate) fn origin_code(o: Origin) -> (char, u64) {
    match o {
        Origin::Frame(n) => ('f', n),
        Origin::Line(n) => ('l', n),
        Origin::Entry(n) => ('e', n),
    }
}

pub(crate) fn origin_of((c, n): (char, u64)) -> Origin {
    match c {
        'l' => Origin::Line(n),
        'e' => Origin::Entry(n),
        _ => Origin::Frame(n),
    }
}

/// The body as the classifier would read it (decoded), redacted by its shape.
fn redacted_body(head: &Head, body: &Body, r: &Redactor) -> (String, bool) {
    let d = decode_body(head, body, DEFAULT_DECODED_CAP);
    if d.undecodable {
        return (String::new(), false);
    }
    let text = String::from_utf8_lossy(&d.bytes);
    let ctype = head.header_str("content-type").unwrap_or("").to_ascii_lowercase();
    let out = if serde_json::from_slice::<serde::de::IgnoredAny>(&d.bytes).is_ok() {
        r.json_text(&text)
    } else if ctype.contains("x-www-form-urlencoded") {
        r.form(&text)
    } else {
        r.text(&text)
    };
    (out, true)
}

fn rec_msg(m: &Message, request: bool, r: &Redactor) -> RecMsg {
    let (body, decoded) = redacted_body(&m.head, &m.body, r);
    let headers = m
        .head
        .headers()
        .filter(|(n, _)| !(decoded && n.eq_ignore_ascii_case("content-encoding")))
        .map(|(n, v)| (n.to_string(), r.header_value(n, v)))
        .collect();
    RecMsg {
        time: m.ts.rfc3339(),
        ts: m.ts.0,
        end_ts: m.end_ts.0,
        origin: origin_code(m.origin),
        end_origin: origin_code(m.end_origin),
        method: if request { m.head.method().to_string() } else { String::new() },
        uri: if request { r.uri(m.head.uri()) } else { String::new() },
        status: m.head.status(),
        version: m.head.version,
        headers,
        body,
        len: m.body.len,
        missing: m.body.missing,
        capped: m.body.capped || !decoded,
    }
}

/// Writes `ex` as one record line.
pub fn write_record<W: Write>(out: &mut W, ex: &Exchange, r: &Redactor) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &to_rec(ex, r))?;
    out.write_all(b"\n")
}

/// `ex` as a record, every secret redacted: what both the JSON lines and the Parquet
/// columns (`super::parquet_records`) hold.
pub(crate) fn to_rec(ex: &Exchange, r: &Redactor) -> Rec {
    let close = |c: Option<Close>| c.map(|c| (c.at.0, c.rst));
    Rec {
        record: VERSION.to_string(),
        input: ex.input,
        conn: ex.conn,
        client: ex.client,
        server: ex.server,
        flags: ex.flags.0,
        interim: ex.interim.clone(),
        wire: RecWire {
            nth: ex.wire.nth,
            client_closed: close(ex.wire.client_closed),
            server_closed: close(ex.wire.server_closed),
            capture_ended: ex.wire.capture_ended,
            tls: ex.wire.tls,
            h2_stream: ex.wire.h2_stream,
            refused: refused_out(ex.wire.refused),
        },
        logged: ex.logged.as_deref().map(|l| RecLogged {
            body: l.body,
            request_length: l.request_length,
            connection: l.connection,
            connection_requests: l.connection_requests,
            upstream_addr: l.upstream_addr.as_deref().map(|s| r.text(s)),
            upstream_status: l.upstream_status.as_deref().map(|s| r.text(s)),
            client_aborted: l.client_aborted,
            producer: l.producer.as_deref().map(|s| r.text(s)),
            initiator: l.initiator,
        }),
        request: ex.request.as_ref().map(|m| rec_msg(m, true, r)),
        response: ex.response.as_ref().map(|m| rec_msg(m, false, r)),
    }
}

fn message(m: RecMsg, request: bool) -> Message {
    let headers: Vec<(&str, &str)> = m.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let head = if request {
        Head::request(&m.method, &m.uri, m.version, &headers)
    } else {
        Head::response(m.status, m.version, &headers)
    };
    let data = m.body.into_bytes();
    Message {
        head,
        ts: Timestamp(m.ts),
        end_ts: Timestamp(m.end_ts),
        origin: origin_of(m.origin),
        end_origin: origin_of(m.end_origin),
        body: Body { len: m.len, data, missing: m.missing, capped: m.capped },
    }
}

/// The exchange a record holds, as input `input`.
pub(crate) fn exchange(rec: Rec, input: InputId) -> Exchange {
    let close = |c: Option<(i64, bool)>| c.map(|(at, rst)| Close { at: Timestamp(at), rst });
    Exchange {
        input,
        // Connection numbers of several exported inputs stay apart.
        conn: rec.conn | (u64::from(rec.input) << 48),
        client: rec.client,
        server: rec.server,
        request: rec.request.map(|m| message(m, true)),
        response: rec.response.map(|m| message(m, false)),
        interim: rec.interim,
        flags: Flags(rec.flags),
        wire: Wire {
            nth: rec.wire.nth,
            client_closed: close(rec.wire.client_closed),
            server_closed: close(rec.wire.server_closed),
            capture_ended: rec.wire.capture_ended,
            tls: rec.wire.tls,
            h2_stream: rec.wire.h2_stream,
            refused: refused_in(rec.wire.refused),
        },
        logged: rec.logged.map(|l| {
            Box::new(Logged {
                body: l.body,
                request_length: l.request_length,
                connection: l.connection,
                connection_requests: l.connection_requests,
                upstream_addr: l.upstream_addr.map(Into::into),
                upstream_status: l.upstream_status.map(Into::into),
                client_aborted: l.client_aborted,
                producer: l.producer.map(Into::into),
                initiator: l.initiator,
            })
        }),
    }
}

/// Records that cannot be read at all.
#[derive(Debug, Error)]
pub enum RecordError {
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// A Parquet file that cannot be read or written (not Parquet, cut short, corrupt).
    #[error("{0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Parquet columns of the wrong shape.
    #[error("Parquet columns: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// Parquet that is not `dupcall-exchange/1` records.
    #[error("not {VERSION} records: {0}")]
    NotRecords(String),
}

/// What a records file held.
#[derive(Clone, Debug, Default)]
pub struct RecordSummary {
    /// Lines read.
    pub lines: u64,
    /// Lines skipped (not a record of this version, too long, malformed).
    pub skipped: u64,
    /// Earliest request time.
    pub first: Option<Timestamp>,
    /// Latest request time.
    pub last: Option<Timestamp>,
}

impl RecordSummary {
    /// Counts `t`, a request time read, into first and last.
    pub(crate) fn saw(&mut self, t: Timestamp) {
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }
}

/// Reads record lines, emitting exchanges in file order (records are written in time order).
pub fn read_records<R: BufRead>(
    mut reader: R,
    input: InputId,
    diag: &mut Diagnostics,
    emit: &mut dyn FnMut(Exchange),
) -> Result<RecordSummary, RecordError> {
    let mut s = RecordSummary::default();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = std::io::Read::take(&mut reader, MAX_LINE as u64 + 1).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        s.lines += 1;
        let line = s.lines;
        if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
            // Skip the rest of the over-long line.
            loop {
                buf.clear();
                let k = std::io::Read::take(&mut reader, MAX_LINE as u64).read_until(b'\n', &mut buf)?;
                if k == 0 || buf.last() == Some(&b'\n') {
                    break;
                }
            }
            s.skipped += 1;
            let detail = format!("a record longer than {} MiB: skipped", MAX_LINE >> 20);
            diag.warn(WarningKind::MalformedLogLine, input, Some(Origin::Line(line)), None, detail);
            continue;
        }
        if buf.trim_ascii().is_empty() {
            continue;
        }
        match serde_json::from_slice::<Rec>(&buf) {
            Ok(rec) if rec.record == VERSION => {
                let ex = exchange(rec, input);
                s.saw(ex.time());
                emit(ex);
            }
            Ok(rec) => {
                s.skipped += 1;
                let detail = format!("a record of version {:?}, not {VERSION}: skipped", rec.record);
                diag.warn(WarningKind::MalformedLogLine, input, Some(Origin::Line(line)), None, detail);
            }
            Err(e) => {
                s.skipped += 1;
                let detail = format!("not a {VERSION} record ({e}): skipped");
                diag.warn(WarningKind::MalformedLogLine, input, Some(Origin::Line(line)), None, detail);
            }
        }
    }
    Ok(s)
}

/// Does `p` start like a records file (`{"record":"dupcall-exchange/`)?
pub fn is_records(p: &[u8]) -> bool {
    p.starts_with(b"{\"record\":\"dupcall-exchange/")
}
