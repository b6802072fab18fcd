//! The `dupcall analyze` CSV: one row per mutation and auth call (reads with `--all`).
//!
//! Columns (DESIGN section 6), exactly:
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
    if a.ip().is_unspecified() && a.port() == 0 {
        String::new()
    } else if a.port() == 0 {
        a.ip().to_string()
    } else {
        a.to_string()
    }
}

/// `FILE#frame=N` or `FILE:line=N`.
pub fn source(inputs: &[String], row: &Row) -> String {
    let input = inputs.get(row.call.input as usize).map(String::as_str).unwrap_or("?");
    match row.call.origin {
        Origin::Frame(n) => format!("{input}#frame={n}"),
        Origin::Line(n) => format!("{input}:line={n}"),
    }
}

/// The cells of a row, redacted, in column order (before the formula guard).
pub fn cells(row: &Row, inputs: &[String], redactor: &Redactor) -> [String; 19] {
    let c = &row.call;
    let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
    [
        row.id.to_string(),
        c.time.rfc3339(),
        c.caller.clone(),
        addr(&c.client),
        addr(&c.server),
        c.method.clone(),
        c.path.clone(),
        c.query.clone(),
        c.call_key.clone(),
        c.status.map(|s| s.to_string()).unwrap_or_default(),
        c.outcome.name().to_string(),
        row.label.name().to_string(),
        opt(row.repeat_of),
        opt(row.refresh_id),
        row.gap_ms.map(|g| format!("{g:.3}")).unwrap_or_default(),
        row.double_execution.map(|d| d.name().to_string()).unwrap_or_default(),
        row.confidence.name().to_string(),
        // Evidence is built from redacted parts; the scrub is a second belt.
        redactor.text(&row.evidence),
        source(inputs, row),
    ]
}

/// Streams rows as CSV.
pub struct RowCsv<W: Write> {
    out: csv::Writer<W>,
    inputs: Vec<String>,
}

impl<W: Write> RowCsv<W> {
    /// Writes the header row. `inputs` are the input names, by input id.
    pub fn new(out: W, inputs: Vec<String>) -> io::Result<Self> {
        let mut out = csv::WriterBuilder::new().buffer_capacity(1 << 16).from_writer(out);
        out.write_record(COLUMNS).map_err(io::Error::other)?;
        Ok(RowCsv { out, inputs })
    }
}

impl<W: Write> ReportWriter for RowCsv<W> {
    fn row(&mut self, row: &Row, redactor: &Redactor) -> io::Result<()> {
        let cells = cells(row, &self.inputs, redactor);
        self.out.write_record(cells.iter().map(|c| csv_cell(c).into_owned())).map_err(io::Error::other)
    }

    fn finish(mut self: Box<Self>, _: &RunContext<'_>, _: &Redactor) -> io::Result<()> {
        self.out.flush()
    }
}
