//! Free-text scrubbing: one left-to-right pass over "words" (runs of `[A-Za-z0-9_.-]`).
//!
//! A word is replaced when it is a JWT (`eyJ…` with two dots), when it is a secret name
//! followed by a separator (`=`, `=>`, `: `, or `:` after a quoted name) and a value, or when
//! it is `Bearer`/`Basic` followed by a credential. Everything else is copied unchanged.

use super::headers::{looks_basic, scheme};
use super::names::Class;
use super::{REDACTED, Redactor, is_redacted};

/// Words after `Bearer` that are prose, not credentials.
const PROSE: &[&str] = &[
    "token",
    "tokens",
    "auth",
    "authentication",
    "authorization",
    "scheme",
    "header",
    "headers",
    "realm",
    "error",
    "credential",
    "credentials",
    "is",
    "was",
    "the",
    "a",
    "an",
    "and",
    "or",
    "with",
    "without",
    "missing",
    "required",
    "invalid",
    "expired",
    "none",
    "null",
    "undefined",
    "type",
    "prefix",
    "format",
    "value",
    "for",
    "in",
    "of",
    "to",
    "not",
];

/// Unquoted values that are literals, not secrets.
const LITERALS: &[&str] = &["null", "true", "false", "undefined", "none", "nil"];

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Bytes that end an unquoted value.
fn is_value_delim(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(b, b'&' | b',' | b';' | b')' | b']' | b'}' | b'<' | b'>' | b'"' | b'\'' | b'\\')
}

fn skip_blank(b: &[u8], mut j: usize) -> usize {
    while matches!(b.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    j
}

/// End of an unquoted value or credential starting at `j`.
fn run_end(b: &[u8], j: usize) -> usize {
    j + b.get(j..).map_or(0, |r| r.iter().take_while(|&&c| !is_value_delim(c)).count())
}

/// End of an unquoted password: only whitespace, `&`, quotes and backslash end it, so a
/// password with `,` or `;` in it is hidden whole.
fn password_end(b: &[u8], j: usize) -> usize {
    let ends = |c: u8| c.is_ascii_whitespace() || matches!(c, b'&' | b'"' | b'\'' | b'\\');
    j + b.get(j..).map_or(0, |r| r.iter().take_while(|&&c| !ends(c)).count())
}

/// Length of the authority after `://` when it holds userinfo (`user:pass@`), up to the `@`.
fn userinfo_len(rest: &[u8]) -> Option<usize> {
    let stop = |c: u8| c.is_ascii_whitespace() || b"/?#\"'<>\\".contains(&c);
    let authority = rest.iter().take_while(|&&c| !stop(c)).count();
    rest.get(..authority)?.iter().rposition(|&c| c == b'@')
}

fn line_end(b: &[u8], j: usize) -> usize {
    j + b.get(j..).map_or(0, |r| r.iter().take_while(|&&c| c != b'\n' && c != b'\r').count())
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> usize {
    b.get(from..)
        .and_then(|r| r.windows(needle.len()).position(|w| w == needle))
        .map_or(b.len(), |p| from + p)
}

/// Position of the closing `"` of a JSON-style string starting at `from`, honouring `\` escapes.
fn closing_quote(b: &[u8], from: usize) -> usize {
    let mut k = from;
    while k < b.len() {
        match b[k] {
            b'\\' => k += 2,
            b'"' => return k,
            _ => k += 1,
        }
    }
    b.len()
}

/// `TOKEN_EXPIRED`, `INVALID_TOKEN`: error-code names, not fields, when written `NAME:detail`.
fn is_screaming(word: &str) -> bool {
    word.contains('_')
        && word.bytes().any(|c| c.is_ascii_uppercase())
        && word.bytes().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

/// Length of the JWT-looking prefix of a word (`eyJ…` with at least two dots).
fn jwt_len(word: &str) -> Option<usize> {
    if !word.starts_with("eyJ") {
        return None;
    }
    let mut w = word;
    let mut dots = w.bytes().filter(|&c| c == b'.').count();
    while dots > 2 && w.ends_with('.') {
        w = &w[..w.len() - 1];
        dots -= 1;
    }
    (dots >= 2 && w.len() >= 10).then_some(w.len())
}

/// `realm="x"` or `error=invalid_token` after `Bearer`: an auth-param, not a credential.
fn is_auth_param(cred: &str, next: Option<&u8>) -> bool {
    let Some((name, rest)) = cred.split_once('=') else {
        return false;
    };
    let plain_name =
        !name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
    plain_name && (if rest.is_empty() { next == Some(&b'"') } else { !rest.starts_with('=') })
}

impl Redactor {
    /// Secrets in free text replaced; everything else copied byte for byte (no escaping).
    pub(crate) fn scrub(&self, s: &str) -> String {
        let b = s.as_bytes();
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while let Some(rest) = s.get(i..).filter(|r| !r.is_empty()) {
            if is_word(b[i]) {
                let end = i + rest.bytes().take_while(|&c| is_word(c)).count();
                i = self.scrub_word(s, i, end, &mut out).max(i + 1);
            } else if let Some(len) = rest.strip_prefix("://").and_then(|r| userinfo_len(r.as_bytes())) {
                out.push_str("://");
                out.push_str(REDACTED);
                i += 3 + len;
            } else {
                let len = rest.chars().next().map_or(1, char::len_utf8);
                out.push_str(rest.get(..len).unwrap_or_default());
                i += len;
            }
        }
        out
    }

    /// Handles the word `s[start..end]`; returns where scanning continues.
    fn scrub_word(&self, s: &str, start: usize, end: usize, out: &mut String) -> usize {
        let word = &s[start..end];
        if let Some(len) = jwt_len(word) {
            out.push_str(&self.token(&word[..len]));
            return start + len;
        }
        if let Some(next) = self.pair(s, start, end, out) {
            return next;
        }
        if let Some(next) = self.scheme_credential(s, start, end, out) {
            return next;
        }
        out.push_str(word);
        end
    }

    /// `name=value`, `name: value`, `"name":"value"`, `name => value` with a secret name.
    fn pair(&self, s: &str, start: usize, end: usize, out: &mut String) -> Option<usize> {
        let b = s.as_bytes();
        let word = &s[start..end];
        let mut j = end;
        let mut quoted = start > 0 && matches!(b[start - 1], b'"' | b'\'');
        if b.get(j..).is_some_and(|r| r.starts_with(b"\\\"")) {
            j += 2;
            quoted = true;
        } else if matches!(b.get(j), Some(b'"' | b'\'')) {
            j += 1;
            quoted = true;
        }
        j = skip_blank(b, j);
        match b.get(j)? {
            b'=' => {
                j += 1;
                match b.get(j) {
                    Some(b'=') => return None,
                    Some(b'>') => j += 1,
                    _ => {}
                }
            }
            b':' => {
                j += 1;
                let spaced = matches!(b.get(j), Some(b' ' | b'\t'));
                if b.get(j) == Some(&b':') || (!quoted && !spaced && is_screaming(word)) {
                    return None;
                }
            }
            _ => return None,
        }
        let class = self.classify(word)?;
        j = skip_blank(b, j);
        let (vs, ve) = self.value_span(b, j, class);
        out.push_str(&s[start..vs]);
        out.push_str(&self.text_value(&s[vs..ve], class, vs > j));
        Some(ve)
    }

    /// Start and end of the value at `j`: quoted (`"…"`, `'…'`, `\"…\"`) or unquoted.
    fn value_span(&self, b: &[u8], j: usize, class: Class) -> (usize, usize) {
        if b.get(j..).is_some_and(|r| r.starts_with(b"\\\"")) {
            return (j + 2, find(b, j + 2, b"\\\""));
        }
        if b.get(j..).is_some_and(|r| r.starts_with(REDACTED.as_bytes())) {
            return (j, j + REDACTED.len());
        }
        match b.get(j) {
            Some(b'"') => (j + 1, closing_quote(b, j + 1)),
            Some(b'\'') => (j + 1, find(b, j + 1, b"'")),
            _ => (j, self.unquoted_end(b, j, class)),
        }
    }

    fn unquoted_end(&self, b: &[u8], j: usize, class: Class) -> usize {
        match class {
            Class::Cookie | Class::SetCookie => line_end(b, j),
            Class::Authorization => auth_end(b, j),
            Class::Token => run_end(b, j),
            Class::Password => password_end(b, j),
        }
    }

    /// The redacted form of a value found in text (or JSON) under a secret name.
    pub(crate) fn text_value(&self, value: &str, class: Class, quoted: bool) -> String {
        let literal = !quoted && LITERALS.iter().any(|l| l.eq_ignore_ascii_case(value));
        if value.is_empty() || is_redacted(value) || literal {
            return value.to_owned();
        }
        match class {
            Class::Password => REDACTED.to_owned(),
            Class::Token if has_scheme(value) => self.authorization(value),
            Class::Token => self.token(value),
            Class::Authorization => self.authorization(value),
            Class::Cookie => self.cookie(value),
            Class::SetCookie => self.set_cookie(value),
        }
    }

    /// `Bearer <credential>` and `Basic <credential>` anywhere in text.
    fn scheme_credential(&self, s: &str, start: usize, end: usize, out: &mut String) -> Option<usize> {
        let word = &s[start..end];
        let bearer = word.eq_ignore_ascii_case("bearer");
        if !bearer && !word.eq_ignore_ascii_case("basic") {
            return None;
        }
        let b = s.as_bytes();
        let cs = skip_blank(b, end);
        let ce = run_end(b, cs);
        let cred = s.get(cs..ce).filter(|c| cs > end && !c.is_empty())?;
        if is_redacted(cred) || cred.starts_with('[') {
            return None;
        }
        let (replacement, stop) = if bearer {
            let c = cred.trim_end_matches('.');
            let prose = PROSE.iter().any(|p| p.eq_ignore_ascii_case(c));
            if c.is_empty() || prose || is_auth_param(cred, b.get(ce)) {
                return None;
            }
            (self.token(c), cs + c.len())
        } else if looks_basic(cred) {
            (REDACTED.to_owned(), ce)
        } else {
            return None;
        };
        out.push_str(&s[start..cs]);
        out.push_str(&replacement);
        Some(stop)
    }
}

/// Whether a value is `<known scheme> <credentials>` (`Bearer abc` in an `X-Auth-Token`).
fn has_scheme(value: &str) -> bool {
    value
        .split_once(|c: char| c.is_ascii_whitespace())
        .is_some_and(|(word, rest)| scheme(word).is_some() && !rest.trim().is_empty())
}

/// End of an unquoted `Authorization` value: scheme + credential, the rest of the line for
/// password-derived schemes (Digest parameters), or one word when there is no known scheme.
fn auth_end(b: &[u8], j: usize) -> usize {
    let word_end = run_end(b, j);
    let word = std::str::from_utf8(b.get(j..word_end).unwrap_or_default()).unwrap_or_default();
    match scheme(word) {
        None => word_end,
        Some((name, class)) if class == Class::Token || name == "Basic" => {
            let k = skip_blank(b, word_end);
            let cred_end = run_end(b, k);
            if k == word_end || cred_end == k { word_end } else { cred_end }
        }
        Some(_) => line_end(b, j),
    }
}
