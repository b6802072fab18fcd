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

use super::mermaid::{self, Brief, Repeat, shorten};
use super::rows::source;
use super::{ReportWriter, RunContext};

use crate::classify::{Marker, Outcome};
use crate::correlate::{Cause, Confidence, DoubleExecution, Label, Row};
use crate::diag::WarningKind;
use crate::exchange::{Origin, Timestamp};
use crate::profile::Profile;
use crate::redact::Redactor;

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

const ISSUE_1062: &str = "https://github.com/PowerJob/PowerJob/issues/1062";
const ISSUE_1018: &str = "https://github.com/PowerJob/PowerJob/issues/1018";
const ISSUE_984: &str = "https://github.com/PowerJob/PowerJob/issues/984";
const COMMIT_FIX: &str = "https://github.com/PowerJob/PowerJob/commit/8f3981dd";

// ---------------------------------------------------------------------------------------
// Markdown helpers (hyperfine's markup.rs style: small, tested on their own).

/// Column alignment for [`table_divider`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// `:---`
    Left,
    /// `---:`
    Right,
}

/// One table cell's text: one line, `|` escaped (GFM honours `\|` inside code spans too).
pub fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

/// A table row: `| a | b |` plus a newline, every cell through [`cell`].
pub fn table_row<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = String::from("|");
    for c in cells {
        let c = cell(c.as_ref());
        out.push(' ');
        out.push_str(&c);
        out.push_str(" |");
    }
    out.push('\n');
    out
}

/// The divider under a table's header: `|:---|---:|` plus a newline.
pub fn table_divider(aligns: &[Align]) -> String {
    let mut out = String::from("|");
    for a in aligns {
        out.push_str(match a {
            Align::Left => ":---|",
            Align::Right => "---:|",
        });
    }
    out.push('\n');
    out
}

/// Control characters and line breaks as single spaces, trimmed.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out
}

/// An inline code span holding `s` literally (one line): the fence is one backtick longer
/// than the longest run inside, padded with a space when `s` starts or ends with one.
/// Empty input gives an empty string.
pub fn code(s: &str) -> String {
    let s = one_line(s);
    if s.is_empty() {
        return String::new();
    }
    let (mut longest, mut run) = (0, 0);
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// Free text (evidence, warning details) as safe Markdown on one line.
///
/// Balanced backtick spans are kept as code. Outside them: `\ * _ [ ] < > | ~ &` are
/// escaped (no emphasis, links or HTML), and `#123` and `@name` go into code spans, so
/// pasting the report into an issue neither links unrelated issues nor mentions anyone.
/// Unbalanced backticks become `'`.
pub fn prose(s: &str) -> String {
    let s = one_line(s);
    let balanced = s.matches('`').count() % 2 == 0;
    let mut out = String::with_capacity(s.len() + 16);
    for (i, part) in s.split('`').enumerate() {
        if !balanced {
            if i > 0 {
                out.push('\'');
            }
            out.push_str(&prose_plain(part));
        } else if i % 2 == 1 {
            out.push_str(&code(part));
            // A span of nothing but spaces has no code form: keep one space.
            if part.trim().is_empty() && !part.is_empty() {
                out.push(' ');
            }
        } else {
            out.push_str(&prose_plain(part));
        }
    }
    out
}

fn prose_plain(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev_word = i > 0 && chars[i - 1].is_alphanumeric();
        let next = chars.get(i + 1).copied();
        if (c == '#' && next.is_some_and(|n| n.is_ascii_digit()))
            || (c == '@' && !prev_word && next.is_some())
        {
            let end = (i + 1..chars.len())
                .find(|&k| {
                    if c == '#' {
                        !chars[k].is_ascii_digit()
                    } else {
                        chars[k].is_whitespace() || matches!(chars[k], ',' | ';' | ')' | '(')
                    }
                })
                .unwrap_or(chars.len());
            let token: String = chars[i..end].iter().collect();
            out.push_str(&code(&token));
            i = end;
            continue;
        }
        match c {
            '\\' | '*' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '_' if !(prev_word && next.is_some_and(char::is_alphanumeric)) => out.push_str("\\_"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

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

/// What the repeats of one cause have in common, for the diagnosis.
#[derive(Clone, Debug, Default)]
struct Story {
    rows: u64,
    twice: u64,
    once: u64,
    unknown: u64,
    inferred: u64,
    /// Repeats sent to another server than their attempt.
    elsewhere: u64,
    ids: Vec<u64>,
    endpoints: Vec<String>,
    /// Error codes of the attempts (rejections), a few.
    codes: Vec<String>,
    /// The header name seen in another letter case.
    seen_as: Option<String>,
    /// Attempts answered late (after the repeat was sent) vs never.
    late: u64,
    never: u64,
}

/// Stories are told per cause; "unknown" is split by label (ambiguous vs log patterns).
type StoryKey = (Cause, Label);

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
            let unit = if i.kind == "access-log" { "lines" } else { "packets" };
            let kind = match (&i.format, i.gzip) {
                (_, _) if i.kind.is_empty() => "unreadable".to_string(),
                (Some(f), _) if i.kind == "access-log" => format!("access log ({})", one_line(f)),
                (_, true) => format!("{} (gzip)", i.kind),
                _ => i.kind.clone(),
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
        let pj = ctx.summary.profile == "powerjob";
        let mut stories: Vec<(&StoryKey, &Story)> = self.stories.iter().collect();
        // The stories that did harm first.
        stories.sort_by(|a, b| (b.1.twice > 0).cmp(&(a.1.twice > 0)).then(a.0.cmp(b.0)));
        for (key, story) in stories {
            let _ = writeln!(md, "- {}\n", story_text(*key, story, pj, marker_name));
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
            let gap =
                d.gap_ms.map(|g| format!(" · {} after the first attempt", human_ms(g))).unwrap_or_default();
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

/// How a kind of warning limits the evidence, in words.
fn warning_limits(kind: WarningKind) -> &'static str {
    match kind {
        WarningKind::TruncatedFile => {
            "The capture ends mid-record: the last exchanges may lack their response."
        }
        WarningKind::SnaplenCut => {
            "Packets were cut by the snapshot length: bodies (success flags, error codes) may be missing. Capture with `tcpdump -s 0`."
        }
        WarningKind::TcpGap => {
            "Bytes were never captured: exchanges across a gap are incomplete, and repeats of them may be ambiguous."
        }
        WarningKind::ConflictingOverlap => {
            "Retransmissions carried different bytes: what was kept may differ from what the peer processed."
        }
        WarningKind::HttpParseError => "Bytes that should have been HTTP were not: calls there are missing.",
        WarningKind::ResponseWithoutRequest => {
            "Responses whose request was not captured: those calls are missing from the rows."
        }
        WarningKind::RequestWithoutResponse => {
            "Requests without a response: their outcome is `no-response`, so whether they took effect is unknown."
        }
        WarningKind::ConnectionLimit => {
            "Connections were closed early (`--max-conns`): exchanges may be cut."
        }
        WarningKind::BodyCap => {
            "Bodies longer than `--body-cap` were cut: a verdict beyond the cap is not seen."
        }
        WarningKind::BufferLimit => {
            "A per-connection limit was reached (`--max-buffer`, `--max-head`, `--max-pipeline`): exchanges may be cut."
        }
        WarningKind::DecodeError => "Packets that could not be decoded are missing.",
        WarningKind::UnsupportedLinkType => {
            "An interface's link type is not decoded: its traffic is missing."
        }
        WarningKind::IpFragment => "IP fragments are not reassembled: their bytes are gaps.",
        WarningKind::MalformedLogLine => {
            "Log lines that did not match the format are missing (`--log-format` names the format)."
        }
        WarningKind::DecompressionLimit => {
            "A compressed body reached the decompression cap: its verdict may be unseen."
        }
        WarningKind::InputAnomaly => "Something unexpected in the input container; see the detail.",
    }
}

/// `rows 7, 10` (and `…` when more), `row 7` for one.
fn row_list(s: &Story) -> String {
    let ids: Vec<String> = s.ids.iter().map(u64::to_string).collect();
    let more = if s.rows > s.ids.len() as u64 { ", …" } else { "" };
    let word = if s.rows == 1 { "row" } else { "rows" };
    format!("{word} {}{more}", ids.join(", "))
}

fn endpoint_list(s: &Story) -> String {
    let eps: Vec<String> = s.endpoints.iter().take(3).map(|e| code(e)).collect();
    let more = if s.endpoints.len() > 3 { ", …" } else { "" };
    format!("{}{more}", eps.join(", "))
}

/// `all executed twice`, `none executed twice`, `executed twice: 1, once: 1, unknown: 1`.
fn double_counts(s: &Story) -> String {
    let one = s.rows == 1;
    if s.twice == s.rows {
        return if one { "executed twice" } else { "all executed twice" }.to_string();
    }
    if s.once == s.rows {
        return if one { "not executed twice" } else { "none executed twice" }.to_string();
    }
    if s.unknown == s.rows {
        return "whether the first attempt took effect is unknown".to_string();
    }
    let mut parts = vec![format!("executed twice: {}", s.twice)];
    if s.once > 0 {
        parts.push(format!("once: {}", s.once));
    }
    if s.unknown > 0 {
        parts.push(format!("unknown: {}", s.unknown));
    }
    parts.join(", ")
}

fn cases(n: u64) -> String {
    if n == 1 { "1 case".to_string() } else { format!("{n} cases") }
}

fn calls(n: u64) -> String {
    if n == 1 { "1 call".to_string() } else { format!("{n} calls") }
}

/// The plain-words story of one cause, with its known fix.
fn story_text(key: StoryKey, s: &Story, pj: bool, marker_name: Option<&str>) -> String {
    let (cause, label) = key;
    let marker = code(marker_name.unwrap_or("marker header"));
    let facts = format!("{} ({}; {}), {}.", calls(s.rows), row_list(s), endpoint_list(s), double_counts(s));
    match cause {
        Cause::MarkerMissing if pj => format!(
            "**PowerJob 5.1.0 server without `X-POWERJOB-AUTH-PASSED`: every call succeeds and the v5 client re-sends it — executed twice.** {facts} \
             The first attempt succeeded (HTTP 200, `success: true`) but the response lacked `X-POWERJOB-AUTH-PASSED: true`. The PowerJob v5 client treats anything but `true` as an auth failure: it fetched a new token (`/openApi/authApp`) and re-sent the identical call once, so the server did the work twice. \
             A PowerJob 5.1.0 server with `oms.auth.openapi.enable=false` (the default) never sets the header. \
             **Fix:** upgrade the *server* to 5.1.0-bugfix or 5.1.1 ([commit 8f3981dd]({COMMIT_FIX}), [PowerJob #1018]({ISSUE_1018})); upgrading only the client does not help. \
             A workaround on 5.1.0 suggested in [PowerJob #984]({ISSUE_984}) is turning OpenAPI auth on (`oms.auth.openapi.enable=true`); 4.x clients, which send no token, then fail. \
             If the server is already fixed, something between it and the client drops the header: behind a proxy see [PowerJob #1062]({ISSUE_1062}) (the proxy must pass the header unchanged)."
        ),
        Cause::MarkerMissing => format!(
            "**Success without the client's marker header: refreshed and re-sent.** {facts} \
             The first attempt succeeded but its response lacked {marker} with the value the client requires, so the client fetched a new token and re-sent the call. \
             **Fix:** make the server (and every proxy in between) send {marker} on every successful response."
        ),
        Cause::MarkerCase if pj => {
            let seen = s.seen_as.as_deref().map(code).unwrap_or_else(|| "another letter case".to_string());
            format!(
                "**`X-POWERJOB-AUTH-PASSED` arrived as {seen}: the v5 client missed it and re-sent the call — executed twice ([PowerJob #1062]({ISSUE_1062})).** {facts} \
                 The server set the header, but the client looks it up case-sensitively as `X-POWERJOB-AUTH-PASSED`; it did not find it, fetched a new token and re-sent the identical call, which the server executed again. \
                 A hop between server and client rewrote the header name: a reverse proxy, a sidecar, or an HTTP/2 hop (HTTP/2 carries header names in lower case). \
                 **Fix:** make that hop pass `X-POWERJOB-AUTH-PASSED` to the client unchanged, in exactly this letter case, or let the client reach the server directly. \
                 The client's lookup is the same in 5.1.0, 5.1.1 and branch 5.1.2, so upgrading does not help; see [PowerJob #1062]({ISSUE_1062}) (open)."
            )
        }
        Cause::MarkerCase => format!(
            "**The client's marker header arrived in another letter case: refreshed and re-sent.** {facts} \
             The server set {marker}, but a hop in between rewrote its name and the client looks it up case-sensitively, so it fetched a new token and re-sent the call. \
             **Fix:** make every hop pass {marker} unchanged."
        ),
        Cause::TokenRejected => {
            let codes = if s.codes.is_empty() {
                String::new()
            } else {
                let c: Vec<String> = s.codes.iter().map(|c| code(c)).collect();
                format!(" (code {})", c.join(", "))
            };
            let why = if pj {
                format!(
                    "The server rejected the first attempt{codes} before the controller ran (a PowerJob rejection answers HTTP 200 with `X-POWERJOB-AUTH-PASSED: false`), so it had no side effect; the client fetched a new token and re-sent the call once. \
                     Nothing to fix, unless tokens are rejected often: PowerJob tokens last 7 days by default (`oms.auth.security.jwt.expire-seconds`)."
                )
            } else {
                format!(
                    "The server rejected the first attempt{codes} (an expired or invalid token), so it had no effect; the client refreshed its token and re-sent the call once, as RFC 6750 clients do. Nothing to fix."
                )
            };
            format!(
                "**Harmless token refresh: the first attempt was rejected, the retry ran once.** {facts} {why}"
            )
        }
        Cause::Timeout => {
            let elsewhere = match s.elsewhere {
                0 => String::new(),
                n if n == s.rows => " to another server address".to_string(),
                n => format!(" ({n} of them to another server address)"),
            };
            let late = if s.late > 0 {
                format!(
                    " In {} the first attempt's response came after the re-send: the first server did the work too.",
                    cases(s.late)
                )
            } else {
                String::new()
            };
            let never = if s.never > 0 {
                format!(
                    " In {} the first attempt never got a response, so whether it took effect is unknown.",
                    cases(s.never)
                )
            } else {
                String::new()
            };
            let pj_words = if pj {
                " The PowerJob client gives up on a server after its timeout (2 s by default) and re-sends the call to each other configured server address, although the first server may still do the work; with a single server address it does not re-send."
            } else {
                ""
            };
            format!(
                "**Client timeout: re-sent while the first attempt was still unanswered.** {facts} The client re-sent the call{elsewhere} before the first attempt had answered.{late}{never}{pj_words} \
                 **Fix:** find out why the server answered later than the client's timeout (the capture shows when the answer came), raise the client's timeout, or make these calls idempotent."
            )
        }
        Cause::ErrorResponse => {
            let pj_words = if pj {
                " The PowerJob v5 client does not re-send after a non-200 status (it throws), so these re-sends came from the application or a retry wrapper around the client."
            } else {
                ""
            };
            format!(
                "**Re-sent after an error response.** {facts} The first attempt failed (a server error, client error, application error, or a rejection without a token refresh) and the same call was sent again without a refresh. A failed attempt may still have done part of the work.{pj_words} \
                 **Fix:** see why the first attempt failed (the evidence names the status and code) and make the retry safe to repeat."
            )
        }
        Cause::Application => format!(
            "**Genuine duplicates: the application sent the same call again.** {facts} \
             Every such call repeats an identical call by the same caller that had already completed; no client retry rule explains it (an auth call in between, if any, was a proactive refresh, not a retry). \
             **Fix:** look at the application: a double submit, a duplicated schedule or message, a retry loop around the client. `--caller app` merges an app's replicas to find duplicates sent by two of them."
        ),
        Cause::RetryMarker => format!(
            "**Retried by the client library or a proxy (named by a retry marker).** {facts} \
             The repeat carried the same `Idempotency-Key` as the first attempt, or a proxy attempt count above 1 (`X-Envoy-Attempt-Count`). \
             **Fix:** a server that honours `Idempotency-Key` does the work once; otherwise make the endpoint idempotent or stop retrying non-idempotent calls."
        ),
        Cause::TransportResend => format!(
            "**The HTTP library silently re-sent after the server dropped the connection.** {facts} \
             The server closed or reset a connection after the request was written, without answering it; the client's HTTP library (OkHttp `retryOnConnectionFailure`, urllib3, a Node agent) or a proxy (`proxy_next_upstream`) re-sent the call on a new connection within milliseconds, without the application knowing. The server may have applied the first attempt before it dropped the connection. \
             **To decide and fix:** the server's log shows whether it ran the first attempt; find why it drops keep-alive connections (an idle timeout shorter than the client's, a restart, a proxy), or make the call idempotent."
        ),
        Cause::FinalError => format!(
            "**The application re-sent after a final error.** {facts} \
             The first attempt failed with an answer no client library retries (400, 401/403 without a token refresh, 404, 409, 422, an application error), so it had no effect, and the same call was sent again: by the application, not by a retry rule. \
             **Fix:** look at why the application repeats a call the server refused (a retry loop that retries every failure, a user retrying)."
        ),
        Cause::Concurrent => format!(
            "**Undecidable: identical calls in flight at once.** {facts} The second was sent while the first was still unanswered and before the client gave up on it: two concurrent identical calls, or a retry whose timeout the input does not show. \
             **To decide:** the client's log, or a capture taken on the client side."
        ),
        Cause::KeyIncomplete => format!(
            "**Undecidable: the log does not show request bodies.** {facts} Two calls to the same target with a body may be different calls (different jobs, different parameters); no retry pattern links them. \
             **To decide:** log the request body (nginx `$request_body`) and the verdict header, or capture the traffic."
        ),
        Cause::Unknown if label == Label::Ambiguous => format!(
            "**Undecidable: the first attempt's response was lost in a capture gap.** {facts} Nobody can tell from this capture whether it was rejected, failed or succeeded. \
             **To decide:** capture again without loss (see the warnings: snapshot length, buffer limits)."
        ),
        Cause::Unknown if label == Label::AutoRefreshRetry => format!(
            "**Refresh pattern without a visible verdict (inferred).** {facts} The input shows the call, an auth call and the same call again within the client's retry latency, but not the first attempt's verdict{}. \
             **To decide:** capture the traffic, or log the {marker} response header.",
            if s.twice + s.once > 0 {
                "; executed twice or not is judged from the logged response sizes"
            } else {
                ""
            }
        ),
        Cause::Unknown => format!(
            "**Repeats with incomplete evidence ({}).** {facts} The evidence of each row says what is missing.",
            label.name()
        ),
    }
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
    format!("{} {} → {end} UTC ({})", date(&fa), time(&fa), human_ms(mermaid::ms_between(a, b)))
}

/// `0.355 ms`, `12.4 ms`, `2.0 s`, `3.5 min`, `2.1 h`.
fn human_ms(ms: f64) -> String {
    let ms = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
    if ms < 10.0 {
        format!("{ms:.3} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else if ms < 120_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms < 7_200_000.0 {
        format!("{:.1} min", ms / 60_000.0)
    } else {
        format!("{:.1} h", ms / 3_600_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_helpers() {
        assert_eq!(table_divider(&[Align::Left, Align::Right, Align::Left]), "|:---|---:|:---|\n");
        assert_eq!(table_row(&["a", "b|c", "d\ne"]), "| a | b\\|c | d e |\n");
        assert_eq!(table_row(&[String::from("`x|y`")]), "| `x\\|y` |\n");
        assert_eq!(table_row::<&str>(&[]), "|\n");
    }

    #[test]
    fn one_line_collapses_breaks() {
        assert_eq!(one_line(" a\r\n\tb  c "), "a b c");
        assert_eq!(one_line("\u{1b}[31m"), "[31m");
    }

    #[test]
    fn code_spans_hold_backticks() {
        assert_eq!(code("POST /x"), "`POST /x`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(code(""), "");
        assert_eq!(code("a\nb"), "`a b`");
    }

    #[test]
    fn prose_keeps_code_and_defuses_links() {
        assert_eq!(
            prose("Repeats #5 after auth call #6: `x-a: true` lost"),
            "Repeats `#5` after auth call `#6`: `x-a: true` lost"
        );
        assert_eq!(prose("ping @octocat and a@b.c"), "ping `@octocat` and a@b.c");
        assert_eq!(prose("<img src=x> [l](u) *b* a|b"), "&lt;img src=x&gt; \\[l\\](u) \\*b\\* a\\|b");
        assert_eq!(prose("TOKEN_EXPIRED _x_"), "TOKEN_EXPIRED \\_x\\_");
        assert_eq!(prose("odd ` tick"), "odd ' tick");
        assert_eq!(prose("line\nbreak"), "line break");
        assert_eq!(prose("issue #"), "issue #");
    }

    #[test]
    fn spans_and_durations() {
        let a = Timestamp::from_parts(1_700_000_000, 617_452_000);
        let b = Timestamp::from_parts(1_700_000_000, 619_171_000);
        assert_eq!(span_text(Some(a), Some(b)), "2023-11-14 22:13:20.617 → 22:13:20.619 UTC (1.719 ms)");
        let c = Timestamp::from_parts(1_700_100_000, 0);
        assert_eq!(
            span_text(Some(a), Some(c)),
            "2023-11-14 22:13:20.617 → 2023-11-16 02:00:00.000 UTC (27.8 h)"
        );
        assert_eq!(span_text(None, Some(b)), "-");
        assert_eq!(human_ms(2019.4), "2.0 s");
        assert_eq!(human_ms(f64::NAN), "0.000 ms");
    }
}
