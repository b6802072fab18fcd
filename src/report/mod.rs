//! Reports: labelled rows and a run's results in, CSV / JSON / Markdown / terminal-table
//! bytes out.
//!
//! Every writer takes a [`Redactor`]: values that can carry secrets (URIs, headers, bodies,
//! evidence text) pass through it before they are written, and CSV cells pass the
//! formula-injection guard. No writer has a switch to skip it. Writers stream: rows are
//! written (or summarised) as they come, and [`ReportWriter::finish`] adds what is only
//! known at the end (summary, warnings, inputs).

pub mod exchanges;
pub mod json;
pub mod markdown;
pub mod mermaid;
pub mod rows;
pub mod summary;
pub mod table;

pub use summary::{InputFailure, InputInfo, MAX_GROUPS, OTHER_GROUP, Summary, group_key};

use std::io;

use crate::correlate::Row;
use crate::diag::Diagnostics;
use crate::redact::Redactor;

/// What a report knows once the run is over.
pub struct RunContext<'a> {
    /// Inputs in the order given, with what was read from each.
    pub inputs: &'a [InputInfo],
    /// Counts.
    pub summary: &'a Summary,
    /// Warnings (counts and the first ones in full).
    pub diagnostics: &'a Diagnostics,
    /// The correlation window, as text (`10m`).
    pub window: String,
    /// `dupcall <version>`.
    pub tool: String,
}

/// A report format.
pub trait ReportWriter {
    /// One row, in request-time order, as soon as it is labelled.
    fn row(&mut self, row: &Row, redactor: &Redactor) -> io::Result<()>;
    /// The end of the run: write what is only known now and flush.
    fn finish(self: Box<Self>, ctx: &RunContext<'_>, redactor: &Redactor) -> io::Result<()>;
}
