//! Structured header values: `Authorization`, `Cookie`, `Set-Cookie`.

use super::jwt::B64STD;
use super::names::Class;
use super::{REDACTED, Redactor, is_redacted};
use base64::Engine;

/// Schemes whose credentials are bearer tokens: fingerprinted.
const TOKEN_SCHEMES: &[&str] = &[
    "Bearer",
    "Token",
    "DPoP",
    "GNAP",
    "JWT",
    "OAuth",
    "ApiKey",
    "Api-Key",
    "Key",
    "SSO-Key",
    "PrivateToken",
    "Hawk",
    "MAC",
    "vapid",
];

/// Schemes that carry a password or a proof derived from one: never fingerprinted.
const PASSWORD_SCHEMES: &[&str] = &[
    "Basic",
    "Digest",
    "NTLM",
    "Negotiate",
    "Kerberos",
    "HOBA",
    "Mutual",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "AWS4-HMAC-SHA256",
    "Concealed",
];

/// Set-Cookie attributes whose values are kept as they are.
const COOKIE_ATTRIBUTES: &[&str] = &[
    "Path",
    "Domain",
    "Expires",
    "Max-Age",
    "SameSite",
    "Secure",
    "HttpOnly",
    "Partitioned",
    "Priority",
    "Version",
];

/// The kind of an authentication scheme name, in its canonical spelling.
pub(crate) fn scheme(word: &str) -> Option<(&'static str, Class)> {
    let find = |list: &[&'static str]| list.iter().find(|s| s.eq_ignore_ascii_case(word)).copied();
    if let Some(s) = find(TOKEN_SCHEMES) {
        return Some((s, Class::Token));
    }
    find(PASSWORD_SCHEMES).map(|s| (s, Class::Password))
}

/// Whether `cred` (the word after `Basic`) is certainly a Basic credential.
pub(crate) fn looks_basic(cred: &str) -> bool {
    cred.contains(':') || cred.ends_with('=') || B64STD.decode(cred).is_ok_and(|raw| raw.contains(&b':'))
}

impl Redactor {
    /// `Bearer tok:…`, `Basic [redacted]`; an unknown scheme hides the whole value.
    pub(crate) fn authorization(&self, value: &str) -> String {
        let value = value.trim();
        if value.is_empty() || is_redacted(value) {
            return value.to_owned();
        }
        let (word, rest) = match value.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((w, r)) => (w, r.trim()),
            None => (value, ""),
        };
        // A known scheme is printed as sent (`bearer` stays lower-case).
        match scheme(word) {
            None => self.token(value),
            Some(_) if rest.is_empty() => word.to_owned(),
            Some(_) if is_redacted(rest) => format!("{word} {rest}"),
            Some((_, Class::Token)) => format!("{word} {}", self.token(rest)),
            Some(_) => format!("{word} {REDACTED}"),
        }
    }

    /// `a=tok:…; b=tok:…`: names kept, values fingerprinted (password-named: `[redacted]`).
    pub(crate) fn cookie(&self, value: &str) -> String {
        let parts: Vec<String> =
            value.split(';').map(str::trim).filter(|p| !p.is_empty()).map(|p| self.cookie_pair(p)).collect();
        parts.join("; ")
    }

    /// One `name=value` cookie pair; a pair without `=` is all value.
    fn cookie_pair(&self, pair: &str) -> String {
        match pair.split_once('=') {
            Some((name, value)) => {
                let name = name.trim();
                format!("{name}={}", self.cookie_value(name, value.trim()))
            }
            None => self.cookie_value("", pair),
        }
    }

    fn cookie_value(&self, name: &str, value: &str) -> String {
        if value.is_empty() || is_redacted(value) {
            return value.to_owned();
        }
        if self.classify(name) == Some(Class::Password) {
            return REDACTED.to_owned();
        }
        let unquoted = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        self.token(unquoted)
    }

    /// `sid=tok:…; Path=/; HttpOnly`: the cookie value fingerprinted, attributes kept.
    /// Several cookies folded into one line with commas are handled one by one.
    pub(crate) fn set_cookie(&self, value: &str) -> String {
        let cookies: Vec<String> = split_folded(value).into_iter().map(|c| self.one_set_cookie(c)).collect();
        cookies.join(", ")
    }

    fn one_set_cookie(&self, value: &str) -> String {
        let mut parts = value.split(';').map(str::trim);
        let mut out = vec![self.cookie_pair(parts.next().unwrap_or_default())];
        out.extend(parts.filter(|p| !p.is_empty()).map(|p| self.attribute(p)));
        out.join("; ")
    }

    fn attribute(&self, attr: &str) -> String {
        let (name, value) = match attr.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (attr, None),
        };
        let known = COOKIE_ATTRIBUTES.iter().any(|a| a.eq_ignore_ascii_case(name));
        match value {
            _ if known => attr.to_owned(),
            Some(v) => format!("{name}={}", self.cookie_value(name, v)),
            None if name.len() <= 24 && name.bytes().all(is_tchar) => attr.to_owned(),
            None => self.cookie_value("", name),
        }
    }
}

/// Splits `a=1; Path=/, b=2` at commas that start a new `name=` (not the comma of a date).
fn split_folded(value: &str) -> Vec<&str> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b',' && starts_pair(&bytes[i + 1..]) {
            out.push(&value[start..i]);
            start = i + 1;
        }
    }
    out.push(&value[start..]);
    out.into_iter().map(str::trim).collect()
}

/// Whether `rest` begins (after spaces) with a cookie name followed by `=`.
fn starts_pair(rest: &[u8]) -> bool {
    let rest = rest.trim_ascii_start();
    let name_len = rest.iter().take_while(|&&b| is_tchar(b)).count();
    name_len > 0 && rest.get(name_len) == Some(&b'=')
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
