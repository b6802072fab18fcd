//! The `dupcall exchanges` CSV: one row per HTTP exchange, in request order.
//!
//! Columns (DESIGN section 6), exactly:
//! `id,conn,client,server,req_time,resp_time,method,uri,host,status,req_body_bytes,`
//! `resp_body_bytes,complete,req_frame,resp_frame,source`.

use std::io::Write;

use crate::exchange::{Exchange, Origin};
use crate::redact::{Redactor, csv_cell};

/// The header row.
pub const COLUMNS: [&str; 16] = [
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
];

/// Streams exchange rows to a writer.
pub struct ExchangeCsv<'r, W: Write> {
    out: csv::Writer<W>,
    redactor: &'r Redactor,
    inputs: Vec<String>,
    next_id: u64,
}

impl<'r, W: Write> ExchangeCsv<'r, W> {
    /// Writes the header row. `inputs` are the input names, by input id.
    pub fn new(out: W, redactor: &'r Redactor, inputs: Vec<String>) -> csv::Result<Self> {
        let mut out = csv::WriterBuilder::new().buffer_capacity(1 << 16).from_writer(out);
        out.write_record(COLUMNS)?;
        Ok(ExchangeCsv { out, redactor, inputs, next_id: 1 })
    }

    /// Writes one exchange.
    pub fn write(&mut self, ex: &Exchange) -> csv::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let req = ex.request.as_ref();
        let resp = ex.response.as_ref();
        let time = |m: Option<&crate::exchange::Message>| m.map(|m| m.ts.rfc3339()).unwrap_or_default();
        let frame = |m: Option<&crate::exchange::Message>| match m.map(|m| m.origin) {
            Some(Origin::Frame(n)) | Some(Origin::Line(n)) => n.to_string(),
            None => String::new(),
        };
        let input = self.inputs.get(ex.input as usize).map(String::as_str).unwrap_or("?");
        let source = match ex.origin() {
            Origin::Frame(n) => format!("{input}#frame={n}"),
            Origin::Line(n) => format!("{input}:line={n}"),
        };
        let uri = req.map(|r| self.redactor.uri(r.head.uri())).unwrap_or_default();
        let host = req.and_then(|r| r.head.header_str("host")).unwrap_or("");
        let record: [String; 16] = [
            id.to_string(),
            ex.conn.to_string(),
            ex.client.to_string(),
            ex.server.to_string(),
            time(req),
            time(resp),
            req.map(|r| r.head.method().to_string()).unwrap_or_default(),
            uri,
            self.redactor.header_value("host", host.as_bytes()),
            resp.map(|r| r.head.status().to_string()).unwrap_or_default(),
            req.map(|r| r.body.len.to_string()).unwrap_or_default(),
            resp.map(|r| r.body.len.to_string()).unwrap_or_default(),
            if ex.flags.complete() { "yes" } else { "no" }.to_string(),
            frame(req),
            frame(resp),
            source,
        ];
        self.out.write_record(record.iter().map(|c| csv_cell(c).into_owned()))
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
