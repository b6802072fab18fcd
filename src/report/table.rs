//! The terminal view (`--format table`, the default when stdout is a terminal): labelled rows
//! in, a table a person reads at a glance out — row id, label, endpoint, caller, time and
//! executed twice on one line, the evidence cut to the width on the line below — then a
//! closing count.
//!
//! Rows stream: each is written as it comes, in fixed columns sized from the terminal's
//! width, so memory stays bounded. A line with the date starts the table and marks each
//! new day (times are UTC). Colour (ANSI, only when asked for) marks what did harm:
//! repeats executed twice in bold red, other repeats in yellow, auth calls dimmed.
//!
//! Every cell is folded onto one line without control characters ([`one_line`]), so bytes
//! from the traffic cannot move the cursor or recolour the terminal; evidence passes
//! `Redactor::text` again, like the CSV's.

use std::io::{self, Write};

use anstyle::{AnsiColor, Color, Style};

use super::{ReportWriter, RunContext};

use crate::correlate::{DoubleExecution, Label, Row};
use crate::redact::Redactor;
use crate::text::{one_line, shorten};

/// The narrowest table drawn; a narrower terminal wraps it.
pub const MIN_WIDTH: usize = 80;

const ID: usize = 5;
const LABEL: usize = 18;
const WHEN: usize = 12;
const TWICE: usize = 5;
const ENDPOINT_MAX: usize = 32;
const CALLER_MAX: usize = 26;
/// The evidence line's indent (under the label).
const INDENT: usize = ID + 1;

/// What did harm: a repeat executed twice.
const HARM: Style = Style::new().bold().fg_color(Some(Color::Ansi(AnsiColor::Red)));
/// A repeat that did no harm, or whose harm is unknown.
const WARN: Style = Style::new().fg_color(Some(Color::Ansi(AnsiColor::Yellow)));
/// Rows that are context (auth calls, reads).
const QUIET: Style = Style::new().dimmed();

/// How the table looks.
#[derive(Clone, Copy, Debug)]
pub struct TableStyle {
    /// Characters per line (at least [`MIN_WIDTH`] is used).
    pub width: usize,
    /// ANSI colour on?
    pub color: bool,
}

/// Column widths for one line width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Columns {
    endpoint: usize,
    caller: usize,
    evidence: usize,
}

impl Columns {
    fn for_width(width: usize) -> Self {
        let width = width.max(MIN_WIDTH);
        // Six columns, one space between each; the endpoint gets three fifths of the rest.
        let free = width - (ID + LABEL + WHEN + TWICE + 5);
        let endpoint = ENDPOINT_MAX.min(free * 3 / 5);
        let caller = CALLER_MAX.min(free - endpoint);
        Columns { endpoint, caller, evidence: width - INDENT }
    }

    /// The characters of a row's first line.
    #[cfg(test)]
    fn used(self) -> usize {
        ID + LABEL + WHEN + TWICE + 5 + self.endpoint + self.caller
    }
}

/// Streams rows as a terminal table.
pub struct TableReport<W: Write> {
    out: W,
    style: TableStyle,
    columns: Columns,
    day: Option<String>,
    rows: u64,
    repeats: u64,
    twice: u64,
}

impl<W: Write> TableReport<W> {
    /// A table writing to `out`.
    pub fn new(out: W, style: TableStyle) -> Self {
        TableReport {
            out,
            style,
            columns: Columns::for_width(style.width),
            day: None,
            rows: 0,
            repeats: 0,
            twice: 0,
        }
    }

    /// `text` in `style` when colour is on.
    fn paint(&self, text: &str, style: Style) -> String {
        if self.style.color && style != Style::new() {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    fn header(&self) -> String {
        let c = self.columns;
        let line = format!(
            "{:>ID$} {:<LABEL$} {:<ew$} {:<cw$} {:<WHEN$} twice\n{:INDENT$}evidence",
            "id",
            "label",
            "endpoint",
            "caller",
            "when (UTC)",
            "",
            ew = c.endpoint,
            cw = c.caller,
        );
        self.paint(&line, Style::new().bold())
    }
}

/// `s` on one line, cut to `width` characters and padded to them.
fn fit(s: &str, width: usize) -> String {
    let s = shorten(&one_line(s), width);
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

fn label_style(row: &Row) -> Style {
    let twice = row.double_execution == Some(DoubleExecution::Yes);
    match row.label {
        l if l.is_repeat() && twice => HARM,
        Label::Ambiguous => Style::new().fg_color(Some(Color::Ansi(AnsiColor::Magenta))),
        l if l.is_repeat() => WARN,
        Label::Auth | Label::Read => QUIET,
        _ => Style::new(),
    }
}

/// The executed-twice cell: `yes`, `no`, `?` (unknown), empty for rows that repeat nothing.
fn twice_cell(d: Option<DoubleExecution>) -> (&'static str, Style) {
    match d {
        Some(DoubleExecution::Yes) => ("yes", HARM),
        Some(DoubleExecution::No) => ("no", Style::new().fg_color(Some(Color::Ansi(AnsiColor::Green)))),
        Some(DoubleExecution::Unknown) => ("?", WARN),
        None => ("", Style::new()),
    }
}

impl<W: Write> ReportWriter for TableReport<W> {
    fn row(&mut self, row: &Row, redactor: &Redactor) -> io::Result<()> {
        let c = &row.call;
        let time = c.time.rfc3339();
        let day = time.get(..10).unwrap_or("").to_string();
        if self.day.as_deref() != Some(day.as_str()) {
            if self.day.is_none() {
                writeln!(self.out, "{}", self.header())?;
            }
            writeln!(self.out, "{}", self.paint(&day, QUIET))?;
            self.day = Some(day);
        }
        self.rows += 1;
        if row.label.is_repeat() {
            self.repeats += 1;
        }
        if row.double_execution == Some(DoubleExecution::Yes) {
            self.twice += 1;
        }
        let cols = self.columns;
        let style = label_style(row);
        let (twice, twice_style) = twice_cell(row.double_execution);
        let evidence_style =
            if matches!(row.label, Label::Auth | Label::Read) { QUIET } else { Style::new() };
        let evidence = shorten(&one_line(&redactor.text(&row.evidence)), cols.evidence);
        let line = format!(
            "{:>ID$} {} {} {} {} {}",
            row.id,
            self.paint(&fit(row.label.name(), LABEL), style),
            fit(&format!("{} {}", c.method, c.path), cols.endpoint),
            fit(&c.caller, cols.caller),
            fit(time.get(11..23).unwrap_or(""), WHEN),
            self.paint(twice, twice_style),
        );
        writeln!(self.out, "{}", line.trim_end())?;
        writeln!(self.out, "{:INDENT$}{}", "", self.paint(&evidence, evidence_style))
    }

    fn finish(mut self: Box<Self>, _: &RunContext<'_>, _: &Redactor) -> io::Result<()> {
        if self.rows == 0 {
            writeln!(self.out, "No mutations or auth calls found.")?;
        } else {
            let twice = format!("{} executed twice", self.twice);
            let twice = if self.twice > 0 { self.paint(&twice, HARM) } else { twice };
            writeln!(
                self.out,
                "\n{} rows, {} repeated {}, {twice}.",
                self.rows,
                self.repeats,
                if self.repeats == 1 { "call" } else { "calls" }
            )?;
        }
        writeln!(
            self.out,
            "Every column in full: --format csv (the default in pipes and files), json, or md for a report with diagrams."
        )?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_the_width() {
        for width in [80, 100, 120, 160, 300] {
            let c = Columns::for_width(width);
            assert!(c.used() <= width, "{width}: {c:?}");
            assert_eq!(INDENT + c.evidence, width);
            assert!(c.endpoint >= 20 && c.caller >= 12, "{width}: {c:?}");
        }
        assert_eq!(Columns::for_width(10), Columns::for_width(MIN_WIDTH));
        assert_eq!(Columns::for_width(300).endpoint, ENDPOINT_MAX);
    }

    #[test]
    fn cells_are_one_line_and_fixed_width() {
        assert_eq!(fit("a\u{1b}[31mb\nc", 8), "a [31mb…");
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}
