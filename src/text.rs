//! Small text helpers every output stage shares: durations in words ([`human_ms`]), cutting
//! a value to a width ([`shorten`]) and folding free text onto one line ([`one_line`]).
//!
//! They take plain values (milliseconds, `&str`) and give display strings; nothing here
//! redacts: callers pass text that has been through the `Redactor` already.

/// How finely [`human_ms`] writes a duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Whole milliseconds below a second, then tenths of seconds: `415 ms`, `2.0 s`,
    /// `300.0 s` (row evidence: short, and the same for every row).
    Coarse,
    /// Three significant places, up to hours: `0.355 ms`, `12.4 ms`, `2.0 s`, `3.5 min`,
    /// `2.1 h` (report prose and time spans, where sub-millisecond gaps matter).
    Fine,
}

/// A duration in milliseconds as words; negative and not-a-number durations read as 0.
pub fn human_ms(ms: f64, precision: Precision) -> String {
    match precision {
        Precision::Coarse => {
            let ms = ms.max(0.0);
            if ms < 1000.0 { format!("{ms:.0} ms") } else { format!("{:.1} s", ms / 1000.0) }
        }
        Precision::Fine => {
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
    }
}

/// `s` cut to at most `max` characters (not bytes), the `…` that marks a cut included:
/// `shorten("abcd", 3)` is `ab…`. To keep `max` characters of the value and add the `…`
/// after them, ask for `max + 1`.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Control characters and line breaks as single spaces, trimmed: what goes into one table
/// cell or one terminal line (an escape sequence from the traffic never reaches a terminal).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_ms(0.4153, Precision::Coarse), "0 ms");
        assert_eq!(human_ms(415.0, Precision::Coarse), "415 ms");
        assert_eq!(human_ms(2019.4, Precision::Coarse), "2.0 s");
        assert_eq!(human_ms(-3.0, Precision::Coarse), "0 ms");
        assert_eq!(human_ms(0.355, Precision::Fine), "0.355 ms");
        assert_eq!(human_ms(12.43, Precision::Fine), "12.4 ms");
        assert_eq!(human_ms(2019.4, Precision::Fine), "2.0 s");
        assert_eq!(human_ms(210_000.0, Precision::Fine), "3.5 min");
        assert_eq!(human_ms(7_560_000.0, Precision::Fine), "2.1 h");
        assert_eq!(human_ms(f64::NAN, Precision::Fine), "0.000 ms");
    }

    #[test]
    fn shorten_counts_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("abcd", 4), "abcd");
        assert_eq!(shorten("ééééé", 2), "é…");
        assert_eq!(shorten("abc", 0), "…");
    }

    #[test]
    fn one_line_collapses_breaks() {
        assert_eq!(one_line(" a\r\n\tb  c "), "a b c");
        assert_eq!(one_line("\u{1b}[31m"), "[31m");
    }
}
