//! The `dupcall analyze` CSV: one row per mutation and auth call (reads with `--all`).
//!
//! Columns (docs/report-format.md), exactly:
//! `id,time,caller,client,server,method,path,query,call_key,status,outcome,label,repeat_of,`
//! `refresh_id,gap_ms,double_execution,confidence,evidence,source`.

use std::io::{self, Write};
use std::net::SocketAddr;

use super::{ReportWriter, RunContext};

use crate::correlate::Row;
use crate::exchange::Origin;
use crate::redact::{Redactor, csv_cell};

/// The header row.
pub const COLUMNS: [&str; 19] = [
    "id",
    "time",
    "caller",
    "client",
    "server",
    "method",
    "path",
    "query",
    "call_key",
    "status",
    "outcome",
    "label",
    "repeat_of",
    "refresh_id",
    "gap_ms",
    "double_execution",
    "confidence",
    "evidence",
    "source",
];

/// An address as reports print it: `ip:port`, `[v6]:port`, empty when unknown (logs).
pub fn addr(a: &SocketAddr) -> String {
    let mut out = String::new();
    write_addr(&mut out, a);
    out
}

/// Appends [`addr`]`(a)` to `out`.
pub fn write_addr(out: &mut String, a: &SocketAddr) {
    if a.port() != 0 {
        crate::exchange::write_socket_addr(out, a);
    } else if !a.ip().is_unspecified() {
        use std::fmt::Write as _;
        let _ = write!(out, "{}", a.ip());
    }
}

/// The `server` cell of a call: [`addr`], prefixed `https://` when the exchange was
/// decrypted from TLS (docs/tls.md), so an HTTPS call is told from a plaintext one.
pub fn server_name(c: &crate::classify::Call) -> String {
    let mut out = String::new();
    write_server(&mut out, &c.server, c.wire.tls.is_some());
    out
}

/// Appends the `server` cell for `a` (`https://` first when `tls`) to `out`.
pub fn write_server(out: &mut String, a: &SocketAddr, tls: bool) {
    if tls {
        out.push_str("https://");
    }
    write_addr(out, a);
}

/// The name a `source` cell gives input `id`: its path, `stdin` for `-` (which the formula
/// guard would otherwise print as `'-`), `?` for an unknown id.
pub fn source_name(inputs: &[String], id: usize) -> &str {
    match inputs.get(id).map(String::as_str) {
        Some("-") => "stdin",
        Some(name) => name,
        None => "?",
    }
}

/// `FILE#frame=N`, `FILE:line=N` or `FILE#entry=N` (HAR); `stdin#…` for `-`.
pub fn source(inputs: &[String], row: &Row) -> String {
    let input = source_name(inputs, row.call.input as usize);
    match row.call.origin {
        Origin::Frame(n) => format!("{input}#frame={n}"),
        Origin::Line(n) => format!("{input}:line={n}"),
        Origin::Entry(n) => format!("{input}#entry={n}"),
    }
}

/// Streams rows as CSV.
pub struct RowCsv<W: Write> {
    out: csv::Writer<W>,
    inputs: Vec<String>,
    buf: String,
}

impl<W: Write> RowCsv<W> {
    /// Writes the header row. `inputs` are the input names, by input id.
    pub fn new(out: W, inputs: Vec<String>) -> io::Result<Self> {
        let mut out = csv::WriterBuilder::new().buffer_capacity(1 << 16).from_writer(out);
        out.write_record(COLUMNS).map_err(io::Error::other)?;
        Ok(RowCsv { out, inputs, buf: String::with_capacity(64) })
    }
}

impl<W: Write> ReportWriter for RowCsv<W> {
    fn row(&mut self, row: &Row, redactor: &Redactor) -> io::Result<()> {
        // Written field by field from a reused buffer: this runs once per row.
        use std::fmt::Write as _;
        let c = &row.call;
        let e = io::Error::other;
        macro_rules! text {
            ($v:expr) => {
                self.out.write_field(csv_cell($v).as_bytes()).map_err(e)?
            };
        }
        macro_rules! num {
            ($($fmt:tt)*) => {{
                self.buf.clear();
                let _ = write!(self.buf, $($fmt)*);
                self.out.write_field(self.buf.as_bytes()).map_err(e)?;
            }};
        }
        macro_rules! opt {
            ($v:expr) => {
                match $v {
                    Some(v) => self.out.write_field(itoa::Buffer::new().format(v).as_bytes()).map_err(e)?,
                    None => self.out.write_field(b"").map_err(e)?,
                }
            };
        }
        macro_rules! address {
            ($a:expr) => {{
                self.buf.clear();
                write_addr(&mut self.buf, $a);
                self.out.write_field(csv_cell(&self.buf).as_bytes()).map_err(e)?;
            }};
        }
        opt!(Some(row.id));
        self.buf.clear();
        c.time.write_rfc3339(&mut self.buf);
        self.out.write_field(self.buf.as_bytes()).map_err(e)?;
        text!(&c.caller);
        address!(&c.client);
        self.buf.clear();
        write_server(&mut self.buf, &c.server, c.wire.tls.is_some());
        self.out.write_field(csv_cell(&self.buf).as_bytes()).map_err(e)?;
        text!(&c.method);
        text!(&c.path);
        text!(&c.query);
        text!(&c.call_key);
        opt!(c.status);
        text!(c.outcome.name());
        text!(row.label.name());
        opt!(row.repeat_of);
        opt!(row.refresh_id);
        match row.gap_ms {
            Some(g) => num!("{g:.3}"),
            None => self.out.write_field(b"").map_err(e)?,
        }
        text!(row.double_execution.map_or("", |d| d.name()));
        text!(row.confidence.name());
        // Evidence is built from redacted parts; the scrub is a second belt.
        text!(&redactor.text(&row.evidence));
        text!(&source(&self.inputs, row));
        self.out.write_record(std::iter::empty::<&[u8]>()).map_err(e)
    }

    fn finish(mut self: Box<Self>, _: &RunContext<'_>, _: &Redactor) -> io::Result<()> {
        self.out.flush()
    }
}
