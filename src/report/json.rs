//! The JSON report (`--format json`): labelled rows and the run's results in, one JSON
//! document out, schema `dupcall-report/1` (documented in `docs/report-format.md`).
//!
//! ```text
//! {
//!   "schema": "dupcall-report/1",
//!   "rows": [ {row}, ... ],          one per line, written as the rows come
//!   "tool": "dupcall 0.1.0", "profile": "powerjob", "window": "10m",
//!   "inputs": [ {file, kind, packets|lines, bytes, first, last, span_ms, error, ...} ],
//!   "summary": { labels, executed_twice, executed_twice_by_label, endpoints, callers, ... },
//!   "warnings": { total, counts: {kind: n}, first: [{kind, input, frame, line, conn, detail}] }
//! }
//! ```
//!
//! A row has the CSV columns (`rows::COLUMNS`) with types: numbers as numbers, `null` where
//! the CSV cell is empty, plus `cause`. Rows stream: the header and each row are written as
//! they come, everything known only at the end by [`ReportWriter::finish`], so the document
//! is valid JSON with zero rows too, and memory does not grow with the rows (the per-endpoint
//! and per-caller executed-twice counts grow with the distinct endpoints and callers that
//! executed something twice). Strings are redacted where they came from; evidence, warning
//! details and input errors pass `Redactor::text` again. No formula guard: that is for CSV.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;
use serde::ser::SerializeMap;

use super::rows::{addr, source};
use super::{ReportWriter, RunContext};

use super::{InputInfo, group_key};
use crate::correlate::{Cause, DoubleExecution, Label, Row};
use crate::exchange::Origin;
use crate::input::InputKind;
use crate::redact::Redactor;

/// The schema name and major version. A change that removes, renames or retypes a field
/// bumps the number; new fields may be added within a version.
pub const SCHEMA: &str = "dupcall-report/1";

/// One row as JSON.
#[derive(Serialize)]
struct JsonRow<'a> {
    id: u64,
    time: String,
    caller: Option<&'a str>,
    client: Option<String>,
    server: Option<String>,
    method: Option<&'a str>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    call_key: Option<&'a str>,
    status: Option<u16>,
    outcome: &'static str,
    label: &'static str,
    repeat_of: Option<u64>,
    refresh_id: Option<u64>,
    gap_ms: Option<f64>,
    double_execution: Option<&'static str>,
    confidence: &'static str,
    evidence: Option<String>,
    source: String,
    cause: Option<Cause>,
}

fn non_empty(s: &str) -> Option<&str> {
    if s.is_empty() { None } else { Some(s) }
}

fn non_empty_owned(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

/// `gap_ms` as the CSV writes it (3 decimals); `None` when not finite.
fn round_ms(g: f64) -> Option<f64> {
    g.is_finite().then(|| (g * 1000.0).round() / 1000.0)
}

/// Counts in a fixed key order (serde_json's map would sort them).
struct Ordered<'a>(&'a [(&'a str, u64)]);

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct JsonInput {
    file: String,
    kind: Option<&'static str>,
    gzip: bool,
    packets: Option<u64>,
    lines: Option<u64>,
    bytes: u64,
    connections: Option<u64>,
    exchanges: u64,
    first: Option<String>,
    last: Option<String>,
    span_ms: Option<f64>,
    log_format: Option<String>,
    error: Option<String>,
    /// TLS connections seen and decrypted with a key log (absent without TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_connections: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_decrypted: Option<u64>,
}

impl JsonInput {
    fn of(i: &InputInfo, redactor: &Redactor) -> Self {
        let log = i.kind == Some(InputKind::Text);
        let read = i.kind.is_some();
        JsonInput {
            file: redactor.text(&i.name),
            kind: i.kind.map(InputKind::name),
            gzip: i.gzip,
            packets: (read && !log).then_some(i.records),
            lines: (read && log).then_some(i.records),
            bytes: i.bytes,
            connections: (read && !log).then_some(i.connections),
            exchanges: i.exchanges,
            first: i.first.map(|t| t.rfc3339()),
            last: i.last.map(|t| t.rfc3339()),
            span_ms: match (i.first, i.last) {
                (Some(a), Some(b)) => round_ms(super::mermaid::ms_between(a, b)),
                _ => None,
            },
            log_format: i.format.as_deref().map(|f| redactor.text(f)),
            error: i.error.as_deref().map(|e| redactor.text(e)),
            tls_connections: (i.tls_connections > 0).then_some(i.tls_connections),
            tls_decrypted: (i.tls_connections > 0).then_some(i.tls_decrypted),
        }
    }
}

/// Per endpoint or caller: rows, rows per label, executed twice.
#[derive(Serialize)]
struct Group {
    rows: u64,
    labels: BTreeMap<String, u64>,
    executed_twice: u64,
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    rows: u64,
    labels: Ordered<'a>,
    executed_twice: u64,
    executed_twice_by_label: Ordered<'a>,
    exchanges: u64,
    mutations: u64,
    auth_calls: u64,
    reads: u64,
    orphan_responses: u64,
    endpoints: BTreeMap<String, Group>,
    callers: BTreeMap<String, Group>,
}

#[derive(Serialize)]
struct JsonWarning {
    kind: &'static str,
    input: Option<String>,
    frame: Option<u64>,
    line: Option<u64>,
    conn: Option<u64>,
    detail: String,
}

#[derive(Serialize)]
struct JsonWarnings<'a> {
    total: u64,
    counts: Ordered<'a>,
    first: Vec<JsonWarning>,
}

/// Streams rows into a JSON report.
pub struct JsonReport<W: Write> {
    out: W,
    inputs: Vec<String>,
    rows: u64,
    twice_by_label: BTreeMap<Label, u64>,
    twice_by_endpoint: BTreeMap<String, u64>,
    twice_by_caller: BTreeMap<String, u64>,
}

impl<W: Write> JsonReport<W> {
    /// Writes the document's head. `inputs` are the input names, by input id.
    pub fn new(mut out: W, inputs: Vec<String>) -> io::Result<Self> {
        write!(out, "{{\n  \"schema\": \"{SCHEMA}\",\n  \"rows\": [")?;
        Ok(JsonReport {
            out,
            inputs,
            rows: 0,
            twice_by_label: BTreeMap::new(),
            twice_by_endpoint: BTreeMap::new(),
            twice_by_caller: BTreeMap::new(),
        })
    }

    /// Writes `"key": value` (pretty, indented by two) after a comma and newline.
    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
        // Strings in JSON have their newlines escaped, so every newline here is layout.
        let text = text.replace('\n', "\n  ");
        write!(self.out, ",\n  {}: {text}", serde_json::Value::from(key))
    }
}

impl<W: Write> ReportWriter for JsonReport<W> {
    fn row(&mut self, row: &Row, redactor: &Redactor) -> io::Result<()> {
        let c = &row.call;
        if row.double_execution == Some(DoubleExecution::Yes) {
            *self.twice_by_label.entry(row.label).or_default() += 1;
            let endpoint = format!("{} {}", c.method, c.path);
            let endpoint = group_key(&self.twice_by_endpoint, &endpoint).to_string();
            *self.twice_by_endpoint.entry(endpoint).or_default() += 1;
            let caller = group_key(&self.twice_by_caller, &c.caller).to_string();
            *self.twice_by_caller.entry(caller).or_default() += 1;
        }
        let j = JsonRow {
            id: row.id,
            time: c.time.rfc3339(),
            caller: non_empty(&c.caller),
            client: non_empty_owned(addr(&c.client)),
            server: non_empty_owned(super::rows::server_name(c)),
            method: non_empty(&c.method),
            path: non_empty(&c.path),
            query: non_empty(&c.query),
            call_key: non_empty(&c.call_key),
            status: c.status,
            outcome: c.outcome.name(),
            label: row.label.name(),
            repeat_of: row.repeat_of,
            refresh_id: row.refresh_id,
            gap_ms: row.gap_ms.and_then(round_ms),
            double_execution: row.double_execution.map(DoubleExecution::name),
            confidence: row.confidence.name(),
            // Evidence is built from redacted parts; the scrub is a second belt.
            evidence: non_empty_owned(redactor.text(&row.evidence)),
            source: source(&self.inputs, row),
            cause: row.cause,
        };
        let sep = if self.rows == 0 { "\n    " } else { ",\n    " };
        self.rows += 1;
        self.out.write_all(sep.as_bytes())?;
        serde_json::to_writer(&mut self.out, &j).map_err(io::Error::other)
    }

    fn finish(mut self: Box<Self>, ctx: &RunContext<'_>, redactor: &Redactor) -> io::Result<()> {
        self.out.write_all(if self.rows == 0 { b"]" } else { b"\n  ]" })?;
        self.field("tool", &ctx.tool)?;
        let s = ctx.summary;
        self.field("profile", &non_empty(&s.profile))?;
        self.field("window", &ctx.window)?;
        let inputs: Vec<JsonInput> = ctx.inputs.iter().map(|i| JsonInput::of(i, redactor)).collect();
        self.field("inputs", &inputs)?;

        let labels: Vec<(&str, u64)> = Label::ALL.iter().map(|l| (l.name(), s.count_of(*l))).collect();
        let twice_labels: Vec<(&str, u64)> = Label::ALL
            .iter()
            .filter(|l| l.is_repeat())
            .map(|l| (l.name(), self.twice_by_label.get(l).copied().unwrap_or(0)))
            .collect();
        let group = |m: &'_ BTreeMap<String, BTreeMap<String, u64>>, twice: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| {
                    let g = Group {
                        rows: v.values().sum(),
                        labels: v.clone(),
                        executed_twice: twice.get(k).copied().unwrap_or(0),
                    };
                    (k.clone(), g)
                })
                .collect::<BTreeMap<String, Group>>()
        };
        let summary = JsonSummary {
            rows: labels.iter().map(|(_, n)| n).sum(),
            labels: Ordered(&labels),
            executed_twice: s.executed_twice,
            executed_twice_by_label: Ordered(&twice_labels),
            exchanges: s.exchanges,
            mutations: s.mutations,
            auth_calls: s.auth_calls,
            reads: s.reads,
            orphan_responses: s.orphans,
            endpoints: group(&s.endpoints, &self.twice_by_endpoint),
            callers: group(&s.callers, &self.twice_by_caller),
        };
        self.field("summary", &summary)?;

        let d = ctx.diagnostics;
        let counts: Vec<(&str, u64)> = d.counts().map(|(k, n)| (k.name(), n)).collect();
        let first: Vec<JsonWarning> = d
            .kept()
            .iter()
            .map(|w| JsonWarning {
                kind: w.kind.name(),
                input: ctx.inputs.get(w.input as usize).map(|i| redactor.text(&i.name)),
                frame: match w.origin {
                    Some(Origin::Frame(n)) => Some(n),
                    _ => None,
                },
                line: match w.origin {
                    Some(Origin::Line(n)) => Some(n),
                    _ => None,
                },
                conn: w.conn,
                detail: redactor.text(&w.detail),
            })
            .collect();
        let warnings = JsonWarnings { total: d.total(), counts: Ordered(&counts), first };
        self.field("warnings", &warnings)?;
        self.out.write_all(b"\n}\n")?;
        self.out.flush()
    }
}
