//! The Markdown report (`--format md`): labelled rows and the run's results in, a report to
//! paste into a GitHub issue out.
//!
//! Sections: what was analysed (inputs), counts per label with how many were executed twice,
//! counts per endpoint, the diagnosis in plain words (which story the repeats tell, from the
//! rows' [`Cause`], and its known fix), one Mermaid sequence diagram per repeated call (at
//! most [`MAX_DIAGRAMS`]; the report says how many were left out), and the warnings that
//! limit the evidence.
//!
//! Memory is bounded whatever the input: rows are not kept. The writer keeps a small
//! [`Brief`] of the last [`RECENT`] mutation and auth rows (so a repeat can find the
//! attempt and the auth call it refers to), the briefs of the drawn repeats, and a few
//! counters per cause and endpoint.
//!
//! Every value from the traffic is already redacted where it came from; evidence, warning
//! details and input errors pass `Redactor::text` again. Values go into code spans
//! ([`code`]), free text through [`prose`] (no HTML, no `@mention`, no `#123` issue links),
//! table cells through [`table_row`] (`|` escaped, one line), diagram text through
//! [`mermaid::text`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, Write};

mod markup;
mod story;

pub use markup::{Align, cell, code, one_line, prose, table_divider, table_row};
pub use story::Wording;

use super::mermaid::{self, Brief, Repeat};
use super::rows::source;
use super::{ReportWriter, RunContext};
use story::{Story, StoryKey, story_text, warning_limits};

use crate::classify::{Marker, Outcome};
use crate::correlate::{Cause, Confidence, DoubleExecution, Label, Row};
use crate::exchange::{Origin, Timestamp};
use crate::input::InputKind;
use crate::profile::Profile;
use crate::redact::Redactor;
use crate::text::{Precision, human_ms, shorten};

/// Repeated calls drawn as sequence diagrams; the rest are counted.
pub const MAX_DIAGRAMS: usize = 20;
/// Mutation and auth rows remembered, so a repeat can find its attempt and auth call.
pub const RECENT: usize = 8192;
/// Endpoints listed in the endpoint table.
const MAX_ENDPOINTS: usize = 30;
/// Callers listed (the table is shown when there is more than one).
const MAX_CALLERS: usize = 20;
/// Warnings listed one by one.
const MAX_WARNINGS_LISTED: usize = 20;
/// Row ids and endpoints named per story.
const NAMED: usize = 8;
/// Endpoints whose executed-twice count is tracked (the rest are summed as "other").
const MAX_TRACKED_ENDPOINTS: usize = 10_000;

// ---------------------------------------------------------------------------------------
// The writer.

/// One repeated call kept for its diagram.
#[derive(Clone, Debug)]
struct Drawn {
    m: Brief,
    p: Option<Brief>,
    auth: Option<Brief>,
    repeat_of: Option<u64>,
    double: Option<DoubleExecution>,
    confidence: Confidence,
    gap_ms: Option<f64>,
    evidence: String,
    source: String,
}

/// Streams rows into a Markdown report written at [`ReportWriter::finish`].
pub struct MarkdownReport<W: Write> {
    out: W,
    inputs: Vec<String>,
    recent: VecDeque<Brief>,
    drawn: Vec<Drawn>,
    repeats: u64,
    stories: BTreeMap<StoryKey, Story>,
    twice_by_label: BTreeMap<Label, u64>,
    endpoint_twice: BTreeMap<String, u64>,
    endpoint_twice_other: u64,
    caller_twice: BTreeMap<String, u64>,
}

impl<W: Write> MarkdownReport<W> {
    /// A report writing to `out`. `inputs` are the input names, by input id.
    pub fn new(out: W, inputs: Vec<String>) -> Self {
        MarkdownReport {
            out,
            inputs,
            recent: VecDeque::new(),
            drawn: Vec::new(),
            repeats: 0,
            stories: BTreeMap::new(),
            twice_by_label: BTreeMap::new(),
            endpoint_twice: BTreeMap::new(),
            endpoint_twice_other: 0,
            caller_twice: BTreeMap::new(),
        }
    }

    fn find(&self, id: Option<u64>) -> Option<&Brief> {
        let id = id?;
        self.recent.binary_search_by_key(&id, |b| b.id).ok().and_then(|i| self.recent.get(i))
    }

    fn count_repeat(&mut self, row: &Row, brief: &Brief) {
        self.repeats += 1;
        let cause = row.cause.unwrap_or(Cause::Unknown);
        let key = (cause, if cause == Cause::Unknown { row.label } else { Label::Original });
        let p = self.find(row.repeat_of).cloned();
        let story = self.stories.entry(key).or_default();
        story.rows += 1;
        match row.double_execution {
            Some(DoubleExecution::Yes) => story.twice += 1,
            Some(DoubleExecution::No) => story.once += 1,
            _ => story.unknown += 1,
        }
        if row.confidence == Confidence::Inferred {
            story.inferred += 1;
        }
        if story.ids.len() < NAMED {
            story.ids.push(row.id);
        }
        let endpoint = format!("{} {}", brief.method, brief.path);
        if story.endpoints.len() < NAMED && !story.endpoints.contains(&endpoint) {
            story.endpoints.push(endpoint.clone());
        }
        if let Some(p) = &p {
            if p.server != brief.server {
                story.elsewhere += 1;
            }
            if let Some(c) = &p.code {
                if story.codes.len() < 4 && !story.codes.contains(c) {
                    story.codes.push(c.clone());
                }
            }
            if let Marker::OtherCase(name, _) = &p.marker {
                story.seen_as.get_or_insert_with(|| name.clone());
            }
            match p.resp_time {
                Some(t) if t > brief.time => story.late += 1,
                None if p.outcome == Outcome::NoResponse => story.never += 1,
                _ => {}
            }
        }
        if row.double_execution == Some(DoubleExecution::Yes) {
            *self.twice_by_label.entry(row.label).or_default() += 1;
            let full = format!("{} {}", row.call.method, row.call.path);
            if self.endpoint_twice.len() < MAX_TRACKED_ENDPOINTS || self.endpoint_twice.contains_key(&full) {
                *self.endpoint_twice.entry(full).or_default() += 1;
            } else {
                self.endpoint_twice_other += 1;
            }
            if self.caller_twice.len() < MAX_TRACKED_ENDPOINTS
                || self.caller_twice.contains_key(&row.call.caller)
            {
                *self.caller_twice.entry(row.call.caller.clone()).or_default() += 1;
            }
        }
    }
}

impl<W: Write> ReportWriter for MarkdownReport<W> {
    fn row(&mut self, row: &Row, redactor: &Redactor) -> io::Result<()> {
        if row.label == Label::Read {
            return Ok(());
        }
        let brief = Brief::of(row, redactor);
        if row.label.is_repeat() {
            self.count_repeat(row, &brief);
            if self.drawn.len() < MAX_DIAGRAMS {
                let d = Drawn {
                    m: brief.clone(),
                    p: self.find(row.repeat_of).cloned(),
                    auth: self.find(row.refresh_id).cloned(),
                    repeat_of: row.repeat_of,
                    double: row.double_execution,
                    confidence: row.confidence,
                    gap_ms: row.gap_ms,
                    evidence: shorten(&redactor.text(&row.evidence), 1000),
                    source: redactor.text(&source(&self.inputs, row)),
                };
                self.drawn.push(d);
            }
        }
        // Row ids increase, so the deque stays sorted for the binary search.
        if self.recent.back().is_none_or(|b| b.id < brief.id) {
            self.recent.push_back(brief);
            if self.recent.len() > RECENT {
                self.recent.pop_front();
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, ctx: &RunContext<'_>, redactor: &Redactor) -> io::Result<()> {
        let text = self.render(ctx, redactor);
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }
}

impl<W: Write> MarkdownReport<W> {
    /// The whole document.
    fn render(&self, ctx: &RunContext<'_>, redactor: &Redactor) -> String {
        let marker_name = Profile::builtin(&ctx.summary.profile).and_then(|p| p.client.marker);
        let mut md = String::new();
        let profile = if ctx.summary.profile.is_empty() { "-" } else { ctx.summary.profile.as_str() };
        let _ = writeln!(md, "## dupcall report\n");
        let _ = writeln!(
            md,
            "{} · profile {} · window {}. Secrets are redacted: tokens appear only as keyed fingerprints (`tok:…`), passwords never.\n",
            prose(&ctx.tool),
            code(profile),
            prose(&ctx.window),
        );
        self.inputs_section(&mut md, ctx, redactor);
        self.summary_section(&mut md, ctx);
        self.endpoint_section(&mut md, ctx);
        self.caller_section(&mut md, ctx);
        self.diagnosis_section(&mut md, ctx, marker_name.as_deref());
        self.diagram_section(&mut md, marker_name.as_deref());
        warnings_section(&mut md, ctx, redactor);
        md
    }

    fn inputs_section(&self, md: &mut String, ctx: &RunContext<'_>, redactor: &Redactor) {
        md.push_str("### What was analysed\n\n");
        md.push_str(&table_row(&["Input", "Kind", "Packets / lines", "Exchanges", "Time span"]));
        md.push_str(&table_divider(&[Align::Left, Align::Left, Align::Right, Align::Right, Align::Left]));
        for i in ctx.inputs {
            let unit = if i.kind == Some(InputKind::Text) { "lines" } else { "packets" };
            let kind = match (i.kind, &i.format, i.gzip) {
                (None, _, _) => "unreadable".to_string(),
                (Some(InputKind::Text), Some(f), _) => format!("access log ({})", one_line(f)),
                (Some(k), _, true) => format!("{} (gzip)", k.name()),
                (Some(k), _, _) => k.name().to_string(),
            };
            md.push_str(&table_row(&[
                code(&redactor.text(&i.name)),
                kind,
                format!("{} {unit}", i.records),
                i.exchanges.to_string(),
                span_text(i.first, i.last),
            ]));
        }
        md.push('\n');
        for i in ctx.inputs {
            if let Some(e) = &i.error {
                let _ = writeln!(md, "**Could not read** {}: {}\n", code(&i.name), prose(&redactor.text(e)));
            }
            if i.tls_connections > 0 {
                let _ = writeln!(
                    md,
                    "**TLS** {}: {} of {} TLS connections decrypted with a key log{}.\n",
                    code(&redactor.text(&i.name)),
                    i.tls_decrypted,
                    i.tls_connections,
                    if i.tls_decrypted < i.tls_connections {
                        "; the others could not be decrypted (see the warnings)"
                    } else {
                        ""
                    }
                );
            }
        }
        let s = ctx.summary;
        let _ = write!(
            md,
            "{} HTTP exchanges: {} mutations, {} auth calls, {} reads",
            s.exchanges, s.mutations, s.auth_calls, s.reads
        );
        if s.orphans > 0 {
            let _ = write!(md, ", {} responses without their request", s.orphans);
        }
        md.push_str(".\n\n");
    }

    fn summary_section(&self, md: &mut String, ctx: &RunContext<'_>) {
        md.push_str("### Summary\n\n");
        md.push_str(&table_row(&["Label", "Rows", "Executed twice"]));
        md.push_str(&table_divider(&[Align::Left, Align::Right, Align::Right]));
        for label in Label::ALL {
            let n = ctx.summary.count_of(label);
            if n == 0 && matches!(label, Label::Read | Label::Ambiguous) {
                continue;
            }
            let twice = match self.twice_by_label.get(&label) {
                Some(t) => t.to_string(),
                None if label.is_repeat() => "0".to_string(),
                None => String::new(),
            };
            md.push_str(&table_row(&[code(label.name()), n.to_string(), twice]));
        }
        let twice: u64 = self.twice_by_label.values().sum();
        md.push_str(&table_row(&[
            "**all repeats**".to_string(),
            format!("**{}**", self.repeats),
            format!("**{twice}**"),
        ]));
        md.push('\n');
    }

    /// Label columns worth showing: every label with rows, `original` always.
    fn label_columns(ctx: &RunContext<'_>) -> Vec<Label> {
        Label::ALL.into_iter().filter(|l| *l == Label::Original || ctx.summary.count_of(*l) > 0).collect()
    }

    /// A table of endpoints or callers: a row each (`rows` in the order shown, at most
    /// `max`), a column per label worth showing, and the executed-twice count.
    fn group_table(
        md: &mut String,
        ctx: &RunContext<'_>,
        first_column: &str,
        rows: &[(&String, &BTreeMap<String, u64>)],
        twice: &BTreeMap<String, u64>,
        max: usize,
    ) {
        let labels = Self::label_columns(ctx);
        let mut head = vec![first_column.to_string()];
        head.extend(labels.iter().map(|l| l.name().to_string()));
        head.push("Executed twice".to_string());
        md.push_str(&table_row(&head));
        let mut aligns = vec![Align::Left];
        aligns.extend(std::iter::repeat_n(Align::Right, labels.len() + 1));
        md.push_str(&table_divider(&aligns));
        for (name, counts) in rows.iter().take(max) {
            let mut cells = vec![code(name)];
            cells.extend(labels.iter().map(|l| counts.get(l.name()).copied().unwrap_or(0).to_string()));
            cells.push(twice.get(*name).copied().unwrap_or(0).to_string());
            md.push_str(&table_row(&cells));
        }
        md.push('\n');
    }

    fn endpoint_section(&self, md: &mut String, ctx: &RunContext<'_>) {
        let endpoints = &ctx.summary.endpoints;
        if endpoints.is_empty() {
            return;
        }
        md.push_str("### Endpoints\n\n");
        let repeats = |m: &BTreeMap<String, u64>| -> u64 {
            m.iter().filter(|(l, _)| Label::parse(l).is_some_and(Label::is_repeat)).map(|(_, n)| n).sum()
        };
        let twice = &self.endpoint_twice;
        let mut rows: Vec<(&String, &BTreeMap<String, u64>)> = endpoints.iter().collect();
        rows.sort_by(|a, b| {
            let ta = twice.get(a.0).copied().unwrap_or(0);
            let tb = twice.get(b.0).copied().unwrap_or(0);
            (tb, repeats(b.1)).cmp(&(ta, repeats(a.1))).then(a.0.cmp(b.0))
        });
        Self::group_table(md, ctx, "Endpoint", &rows, twice, MAX_ENDPOINTS);
        if rows.len() > MAX_ENDPOINTS {
            let _ = writeln!(
                md,
                "{} more endpoints are not listed (the JSON report lists them).\n",
                rows.len() - MAX_ENDPOINTS
            );
        }
        if self.endpoint_twice_other > 0 {
            let _ = writeln!(
                md,
                "{} executed-twice repeats on endpoints beyond the first {MAX_TRACKED_ENDPOINTS} are not attributed to an endpoint.\n",
                self.endpoint_twice_other
            );
        }
    }

    fn caller_section(&self, md: &mut String, ctx: &RunContext<'_>) {
        let callers = &ctx.summary.callers;
        if callers.len() < 2 {
            return;
        }
        md.push_str("### Callers\n\n");
        let twice = &self.caller_twice;
        let mut rows: Vec<(&String, &BTreeMap<String, u64>)> = callers.iter().collect();
        rows.sort_by(|a, b| {
            let ta = twice.get(a.0).copied().unwrap_or(0);
            let tb = twice.get(b.0).copied().unwrap_or(0);
            tb.cmp(&ta).then(a.0.cmp(b.0))
        });
        Self::group_table(md, ctx, "Caller", &rows, twice, MAX_CALLERS);
        if rows.len() > MAX_CALLERS {
            let _ = writeln!(md, "{} more callers are not listed.\n", rows.len() - MAX_CALLERS);
        }
    }

    fn diagnosis_section(&self, md: &mut String, ctx: &RunContext<'_>, marker_name: Option<&str>) {
        md.push_str("### Diagnosis\n\n");
        if self.repeats == 0 {
            let s = ctx.summary;
            if s.mutations == 0 {
                let _ = writeln!(
                    md,
                    "**No repeated calls found**, and no mutating calls at all among {} exchanges (profile {}). If the service does have mutations, choose its profile with `--profile` or write one (`dupcall profiles show generic` is a starting point).\n",
                    s.exchanges,
                    code(if s.profile.is_empty() { "-" } else { &s.profile }),
                );
            } else {
                let _ = writeln!(
                    md,
                    "**No repeated calls found.** Each of the {} mutating calls was the first identical call by its caller within the window ({}): nothing was sent twice.\n",
                    s.mutations,
                    prose(&ctx.window),
                );
            }
            return;
        }
        let twice: u64 = self.stories.values().map(|s| s.twice).sum();
        let unknown: u64 = self.stories.values().map(|s| s.unknown).sum();
        let _ = write!(
            md,
            "**{twice} of {} repeated {} executed twice.**",
            self.repeats,
            if self.repeats == 1 { "call was" } else { "calls were" }
        );
        if unknown > 0 {
            let _ =
                write!(md, " For {unknown} the traffic cannot tell whether the first attempt took effect.");
        }
        md.push_str("\n\n");
        let wording = Wording::of_profile(&ctx.summary.profile);
        let mut stories: Vec<(&StoryKey, &Story)> = self.stories.iter().collect();
        // The stories that did harm first.
        stories.sort_by(|a, b| (b.1.twice > 0).cmp(&(a.1.twice > 0)).then(a.0.cmp(b.0)));
        for (key, story) in stories {
            let _ = writeln!(md, "- {}\n", story_text(*key, story, wording, marker_name));
        }
    }

    fn diagram_section(&self, md: &mut String, marker_name: Option<&str>) {
        if self.drawn.is_empty() {
            return;
        }
        md.push_str("### Repeated calls\n\n");
        for d in &self.drawn {
            let p = d.repeat_of.map(|p| format!(" of row {p}")).unwrap_or_default();
            let _ = writeln!(
                md,
                "#### Row {}: {}{p}, {}\n",
                d.m.id,
                d.m.label.name(),
                code(&format!("{} {}", d.m.method, d.m.target()))
            );
            let twice = match d.double {
                Some(DoubleExecution::Yes) => "**yes**",
                Some(DoubleExecution::No) => "no",
                _ => "unknown",
            };
            let gap = d
                .gap_ms
                .map(|g| format!(" · {} after the first attempt", human_ms(g, Precision::Fine)))
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "Executed twice: {twice} ({}){gap} · {}\n",
                d.confidence.name(),
                code(&d.source)
            );
            let _ = writeln!(md, "> {}\n", prose(&d.evidence));
            let diagram = mermaid::sequence_diagram(&Repeat {
                m: &d.m,
                p: d.p.as_ref(),
                auth: d.auth.as_ref(),
                repeat_of: d.repeat_of,
                double: d.double,
                marker_name,
            });
            let _ = writeln!(md, "```mermaid\n{diagram}```\n");
        }
        let left = self.repeats.saturating_sub(self.drawn.len() as u64);
        if left > 0 {
            let _ = writeln!(
                md,
                "{left} more repeated {} not drawn (only the first {MAX_DIAGRAMS} are); every row is in the CSV and JSON reports.\n",
                if left == 1 { "call is" } else { "calls are" }
            );
        }
    }
}

fn warnings_section(md: &mut String, ctx: &RunContext<'_>, redactor: &Redactor) {
    md.push_str("### Warnings\n\n");
    let d = ctx.diagnostics;
    if d.total() == 0 {
        md.push_str("None: nothing in the inputs limits the evidence.\n");
        return;
    }
    md.push_str(&table_row(&["Warning", "Count", "What it limits"]));
    md.push_str(&table_divider(&[Align::Left, Align::Right, Align::Left]));
    for (kind, n) in d.counts() {
        md.push_str(&table_row(&[code(kind.name()), n.to_string(), warning_limits(kind).to_string()]));
    }
    md.push('\n');
    let kept = d.kept();
    let _ = writeln!(md, "The first {} of {} warnings:\n", kept.len().min(MAX_WARNINGS_LISTED), d.total());
    for w in kept.iter().take(MAX_WARNINGS_LISTED) {
        let input = ctx.inputs.get(w.input as usize).map(|i| i.name.as_str()).unwrap_or("?");
        let at = match w.origin {
            Some(Origin::Frame(n)) => format!(" frame {n}"),
            Some(Origin::Line(n)) => format!(" line {n}"),
            Some(Origin::Entry(n)) => format!(" entry {n}"),
            None => String::new(),
        };
        let conn = w.conn.map(|c| format!(", connection {c}")).unwrap_or_default();
        let _ = writeln!(
            md,
            "- {} in {}{at}{conn}: {}",
            code(w.kind.name()),
            code(&redactor.text(input)),
            prose(&redactor.text(&w.detail))
        );
    }
    md.push('\n');
}

/// `2026-11-26 03:16:07.617 → 03:16:07.619 UTC (1.9 ms)`.
fn span_text(first: Option<Timestamp>, last: Option<Timestamp>) -> String {
    let (Some(a), Some(b)) = (first, last) else {
        return "-".to_string();
    };
    let fa = a.rfc3339();
    let fb = b.rfc3339();
    let date = |s: &str| s.get(..10).unwrap_or("").to_string();
    let time = |s: &str| s.get(11..23).unwrap_or(s).to_string();
    let end = if date(&fa) == date(&fb) { time(&fb) } else { format!("{} {}", date(&fb), time(&fb)) };
    format!(
        "{} {} → {end} UTC ({})",
        date(&fa),
        time(&fa),
        human_ms(mermaid::ms_between(a, b), Precision::Fine)
    )
}

#[cfg(test)]
mod tests;
