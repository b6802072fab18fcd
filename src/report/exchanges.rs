//! The `dupcall exchanges` CSV: one row per HTTP exchange, in request order.
//!
//! Columns (docs/report-format.md), exactly:
//! `id,conn,client,server,req_time,resp_time,method,uri,host,status,req_body_bytes,`
//! `resp_body_bytes,complete,req_frame,resp_frame,source,tls,protocol,stream` (`tls`: the TLS
//! version the exchange was decrypted from, `1.2` or `1.3`, empty for plaintext; docs/tls.md;
//! `protocol`: [`crate::h2::protocol`]; `stream`: the HTTP/2 stream id, empty for HTTP/1.x).

use std::io::Write;

use crate::exchange::{Exchange, Origin, write_socket_addr};
use crate::redact::{Redactor, csv_cell, printable};

/// The header row.
pub const COLUMNS: [&str; 19] = [
    "id",
    "conn",
    "client",
    "server",
    "req_time",
    "resp_time",
    "method",
    "uri",
    "host",
    "status",
    "req_body_bytes",
    "resp_body_bytes",
    "complete",
    "req_frame",
    "resp_frame",
    "source",
    "tls",
    "protocol",
    "stream",
];

/// Streams exchange rows to a writer.
///
/// Fields are written one by one from reused buffers: this runs once per exchange and is
/// the last stage of `dupcall exchanges`, so it must not allocate per row.
pub struct ExchangeCsv<'r, W: Write> {
    out: csv::Writer<W>,
    redactor: &'r Redactor,
    inputs: Vec<String>,
    next_id: u64,
    buf: String,
}

impl<'r, W: Write> ExchangeCsv<'r, W> {
    /// Writes the header row. `inputs` are the input names, by input id.
    pub fn new(out: W, redactor: &'r Redactor, inputs: Vec<String>) -> csv::Result<Self> {
        let mut out = csv::WriterBuilder::new().buffer_capacity(1 << 16).from_writer(out);
        out.write_record(COLUMNS)?;
        Ok(ExchangeCsv { out, redactor, inputs, next_id: 1, buf: String::with_capacity(256) })
    }

    /// Writes one exchange.
    pub fn write(&mut self, ex: &Exchange) -> csv::Result<()> {
        use std::fmt::Write as _;
        let id = self.next_id;
        self.next_id += 1;
        let req = ex.request.as_ref();
        let resp = ex.response.as_ref();
        macro_rules! field {
            ($($fmt:tt)*) => {{
                self.buf.clear();
                let _ = write!(self.buf, $($fmt)*);
                self.out.write_field(csv_cell(&self.buf).as_bytes())?;
            }};
        }
        let mut digits = itoa::Buffer::new();
        self.out.write_field(digits.format(id))?;
        self.out.write_field(digits.format(ex.conn))?;
        for a in [&ex.client, &ex.server] {
            self.buf.clear();
            write_socket_addr(&mut self.buf, a);
            self.out.write_field(csv_cell(&self.buf).as_bytes())?;
        }
        for m in [req, resp] {
            self.buf.clear();
            if let Some(m) = m {
                m.ts.write_rfc3339(&mut self.buf);
            }
            self.out.write_field(self.buf.as_bytes())?;
        }
        let method = req.map_or("", |r| r.head.method());
        self.out.write_field(csv_cell(method).as_bytes())?;
        let uri = req.map(|r| self.redactor.uri(r.head.uri())).unwrap_or_default();
        self.out.write_field(csv_cell(&uri).as_bytes())?;
        let host = req.and_then(|r| r.head.header_str("host")).unwrap_or("");
        // A Host value is a name and a port: made printable, nothing secret to scrub.
        self.out.write_field(csv_cell(&printable(host)).as_bytes())?;
        match resp {
            Some(r) => self.out.write_field(digits.format(r.head.status()))?,
            None => self.out.write_field(b"")?,
        }
        for m in [req, resp] {
            match m {
                Some(m) => self.out.write_field(digits.format(m.body.len))?,
                None => self.out.write_field(b"")?,
            }
        }
        self.out.write_field(if ex.flags.complete() { b"yes".as_slice() } else { b"no" })?;
        for m in [req, resp] {
            match m.map(|m| m.origin) {
                Some(Origin::Frame(n) | Origin::Line(n) | Origin::Entry(n)) => {
                    self.out.write_field(digits.format(n))?
                }
                None => self.out.write_field(b"")?,
            }
        }
        let input = super::rows::source_name(&self.inputs, ex.input as usize);
        match ex.origin() {
            Origin::Frame(n) => field!("{input}#frame={n}"),
            Origin::Line(n) => field!("{input}:line={n}"),
            Origin::Entry(n) => field!("{input}#entry={n}"),
        }
        self.out.write_field(match ex.wire.tls {
            Some(0x0304) => b"1.3".as_slice(),
            Some(0x0303) => b"1.2",
            Some(_) => b"?",
            None => b"",
        })?;
        self.out.write_field(crate::h2::protocol(ex))?;
        match ex.wire.h2_stream {
            0 => self.out.write_field(b"")?,
            n => self.out.write_field(digits.format(n))?,
        }
        self.out.write_record(std::iter::empty::<&[u8]>())
    }
    /// Rows written.
    pub fn rows(&self) -> u64 {
        self.next_id - 1
    }

    /// Flushes the output.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
