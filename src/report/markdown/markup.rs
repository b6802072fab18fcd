//! Markdown building blocks for the report (hyperfine's markup.rs style: small, tested on
//! their own): table rows and dividers, code spans, and free text made safe to paste into
//! a GitHub issue (no HTML, links, emphasis, `@mention` or `#123`).

pub use crate::text::one_line;

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
