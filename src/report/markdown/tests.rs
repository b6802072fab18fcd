//! Unit tests of the Markdown helpers.

use super::markup::*;
use super::span_text;
use crate::exchange::Timestamp;
use crate::text::{Precision, human_ms};

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
    assert_eq!(span_text(Some(a), Some(c)), "2023-11-14 22:13:20.617 → 2023-11-16 02:00:00.000 UTC (27.8 h)");
    assert_eq!(span_text(None, Some(b)), "-");
    assert_eq!(human_ms(2019.4, Precision::Fine), "2.0 s");
    assert_eq!(human_ms(f64::NAN, Precision::Fine), "0.000 ms");
}
