//! The one redaction layer every output passes through (docs/report-format.md, "Secrets").
//!
//! Reports are attached to public bug reports, so no token, password, cookie or key may
//! appear in clear, and there is no switch to turn this off. What stays visible is what a
//! diagnosis needs: the `Authorization` scheme, cookie names and `Set-Cookie` attributes,
//! parameter and field names, the `exp`/`iat` times of a JWT, and for every token a keyed
//! fingerprint `tok:` + 8 hex digits of HMAC-SHA-256, so "the retry used a new token" can be
//! seen without the token. The key is random per run ([`Redactor::random`]) unless
//! `--fingerprint-key` gives one ([`Redactor::with_key`]); with a known key anyone can check
//! a candidate token: `printf %s TOKEN | openssl dgst -sha256 -hmac KEY` (first 8 hex).
//! Passwords (and password-derived credentials such as `Basic` or `Digest`) become
//! `[redacted]`, never fingerprinted: passwords are guessable, and under a known key a
//! fingerprint confirms a guess. Tokens are high-entropy, so their fingerprint is safe.
//!
//! The same secret gives the same fingerprint wherever it travels (header, query, form, JSON,
//! cookie, free text): the fingerprint is over the exact value bytes after the carrier's own
//! decoding (percent-decoding for queries and forms, quotes removed for cookies). Fingerprints
//! are 32 bits: among the tokens of one run an accidental collision is negligible (about
//! n²/2³³ for n tokens).
//!
//! Entry points: [`Redactor`] (`header_value`, `query`, `form`, `uri`, `json`, `json_text`,
//! `text`, `token`, `fingerprint`, `secret_kind`), [`jwt_times`], [`csv_cell`] (formula
//! injection) and [`printable`] (control characters). Which names are secret is decided by
//! the rule below.
//!
//! # Secret names
//!
//! A name is split into lower-case words at non-alphanumerics and camel-case humps
//! (`X-Access-Token`, `access_token`, `accessToken` → `access token`). Trailing qualifiers
//! (`hash`, `md5`, `value`, `confirm`, …) are skipped. The last word then decides:
//! `password passwd pwd pass passphrase passcode pin otp` → password; `token secret key apikey
//! signature sig session sessionid jsessionid sid auth jwt bearer credential(s) csrf xsrf` →
//! token; the last two words glued (`session`+`id`) and single words ending in `token`,
//! `secret`, `password`, `apikey`, `sessionid`, `signature` count too. Exceptions: `code` is
//! secret only after `auth`/`verification`/`otp`/… (PowerJob's `code` is an error code);
//! `key` is not secret after `idempotency`, `primary`, `sort`, `cache`, `job`, `call`, … ;
//! names whose secret word is not last (`token_type`, `tokenExpireTime`,
//! `X-POWERJOB-AUTH-PASSED`) and words merely containing `key` (`monkey`) are not secret.

mod headers;
mod jwt;
mod names;
#[cfg(test)]
mod tests;
mod text;

use std::borrow::Cow;

use crate::http::form::form_decode;
use std::fmt;
use std::io::Read;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub use jwt::{JwtTimes, jwt_times};
use names::Class;

type HmacSha256 = Hmac<Sha256>;

/// What a password (or any value that must not even be fingerprinted) is replaced by.
pub const REDACTED: &str = "[redacted]";

/// How a secret-named value is hidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// Replaced by a keyed fingerprint `tok:1a2b3c4d` (equal values stay recognisably equal).
    Token,
    /// Replaced by `[redacted]`; never fingerprinted.
    Password,
}

/// The redaction layer: a fingerprint key and the profile's extra secret names.
///
/// Every public method returns text that is safe to print: secrets are replaced, everything
/// else is kept as far as possible. No method panics, whatever the input.
#[derive(Clone)]
pub struct Redactor {
    mac: HmacSha256,
    extra: Vec<Vec<String>>,
    /// The last words of `extra`, for [`Redactor::may_change`].
    extra_needles: Option<aho_corasick::AhoCorasick>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("key", &"<hidden>")
            .field("extra_secret_names", &self.extra.len())
            .finish()
    }
}

/// How a header's value is treated, decided from its name.
enum HeaderKind {
    Named(Class),
    Uri,
    Plain,
}

/// Header-name fragments that make any header secret, whatever the word rule says.
const SECRET_HEADER_PARTS: &[&str] =
    &["token", "secret", "api-key", "apikey", "api_key", "session", "credential"];

/// `tok:` + 8 lower-case hex digits, alone or followed by `(`: a fingerprint [`Redactor`]
/// printed. The one value shape that is not fingerprinted again.
fn already_fingerprint(s: &[u8]) -> Option<&str> {
    let fp = s.get(..12)?;
    let hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    let shaped = fp.starts_with(b"tok:") && fp[4..].iter().all(hex);
    let end_ok = s.len() == 12 || s[12] == b'(';
    (shaped && end_ok).then(|| std::str::from_utf8(fp).ok()).flatten()
}

impl Redactor {
    /// A redactor with a fresh random key: fingerprints differ from run to run.
    ///
    /// The key comes from `/dev/urandom`; where that cannot be read, from SHA-256 over the
    /// clock, the process id and std's randomly seeded hasher.
    pub fn random() -> Self {
        Self::from_key_bytes(&random_key())
    }

    /// A redactor whose fingerprints are reproducible: HMAC-SHA-256 keyed with `key`'s bytes.
    pub fn with_key(key: &str) -> Self {
        Self::from_key_bytes(key.as_bytes())
    }

    fn from_key_bytes(key: &[u8]) -> Self {
        // HMAC accepts keys of every length, so the fallback is unreachable.
        let mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| HmacSha256::new(&Default::default()));
        Redactor { mac, extra: Vec::new(), extra_needles: None }
    }

    /// Adds secret names from a profile. They match like the built-in names, by words:
    /// `jobSecret` also matches `job_secret` and `X-Job-Secret`. They are tokens
    /// (fingerprinted) unless the built-in rule already makes the name a password.
    pub fn with_extra_secret_names(mut self, names: &[String]) -> Self {
        self.extra.extend(names.iter().map(|n| names::words(n)).filter(|w| !w.is_empty()));
        self.extra_needles = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .build(self.extra.iter().filter_map(|e| e.last()))
            .ok();
        self
    }

    /// `tok:` + the first 8 hex digits of HMAC-SHA-256(key, `secret`). Nothing of the secret
    /// itself is kept.
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        // Already a fingerprint (`tok:1a2b3c4d`, optionally with its `(jwt …)` times), as in
        // dupcall's own exchange records: it stays itself, so records re-analysed give the
        // fingerprints of the run that wrote them (src/har/records.rs).
        if let Some(fp) = already_fingerprint(secret) {
            return fp.to_string();
        }
        let mut mac = self.mac.clone();
        Mac::update(&mut mac, secret);
        let digest = mac.finalize().into_bytes();
        let mut out = String::from("tok:");
        for &byte in digest.iter().take(4) {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        out
    }

    /// The fingerprint of a token (exact bytes, no trimming). For a JWT, its `exp`/`iat`
    /// claims are appended as RFC 3339 UTC: `tok:1a2b3c4d(jwt exp=2024-08-20T02:00:00Z
    /// iat=2024-08-13T02:00:00Z)`. The JWT's header, other claims and signature are dropped.
    pub fn token(&self, token: &str) -> String {
        let fp = self.fingerprint(token.as_bytes());
        let Some(times) = jwt_times(token) else {
            return fp;
        };
        let mut out = format!("{fp}(jwt");
        for (name, secs) in [("exp", times.exp), ("iat", times.iat)] {
            if let Some(secs) = secs {
                out.push_str(&format!(" {name}={}", jwt::rfc3339(secs)));
            }
        }
        out.push(')');
        out
    }

    /// Whether a field, parameter, cookie or header name holds a secret, and which kind
    /// (see the [module docs](self#secret-names) for the rule). `Authorization` and `Cookie`
    /// count as tokens. Plain `code` (PowerJob's error code) is not secret.
    pub fn secret_kind(&self, field_name: &str) -> Option<SecretKind> {
        self.classify(field_name).map(|c| match c {
            Class::Password => SecretKind::Password,
            _ => SecretKind::Token,
        })
    }

    pub(crate) fn classify(&self, name: &str) -> Option<Class> {
        // Every built-in rule needs one of the pre-check's fragments in the name (a
        // non-ASCII name could lower-case into one: it takes the long way).
        if !self.may_change(name) {
            return None;
        }
        self.classify_full(name)
    }

    /// [`Redactor::classify`] without the pre-check.
    fn classify_full(&self, name: &str) -> Option<Class> {
        let words = names::words(name);
        names::classify_words(&words)
            .or_else(|| self.extra.iter().any(|e| names::ends_with_words(&words, e)).then_some(Class::Token))
    }

    /// Printable, redacted text for one header value.
    ///
    /// - `Authorization`, `Proxy-Authorization`: the scheme is kept; `Bearer`-like credentials
    ///   are fingerprinted, `Basic`/`Digest`/`NTLM`/… become `[redacted]`; a value without a
    ///   known scheme is fingerprinted whole.
    /// - `Cookie`: names kept, each value fingerprinted (`a=tok:…; b=tok:…`).
    /// - `Set-Cookie`: name and attributes (`Path`, `Domain`, `Expires`, `Max-Age`,
    ///   `SameSite`, `Secure`, `HttpOnly`, …) kept, the value fingerprinted.
    /// - Secret-named headers (the word rule, or a name containing `token`, `secret`,
    ///   `api-key`, `apikey`, `session`, `credential`): fingerprinted; password-named
    ///   (`passw…`): `[redacted]`. Examples: `X-POWERJOB-ACCESS-TOKEN`, `X-API-Key`.
    /// - `Location`, `Content-Location`, `Referer`: as [`Redactor::uri`].
    /// - Any other header: kept, except secrets found by [`Redactor::text`]'s scrub.
    ///
    /// Control characters and invalid UTF-8 are escaped (`\n`, `\x1b`, `\xff`); an empty value
    /// stays empty.
    pub fn header_value(&self, name: &str, value: &[u8]) -> String {
        let value = escape_invalid_utf8(value);
        let value = value.trim();
        let redacted = match self.header_kind(name) {
            HeaderKind::Named(Class::Authorization) => self.authorization(value),
            HeaderKind::Named(Class::Cookie) => self.cookie(value),
            HeaderKind::Named(Class::SetCookie) => self.set_cookie(value),
            HeaderKind::Named(class) => self.text_value(value, class, true),
            HeaderKind::Uri => self.uri(value),
            HeaderKind::Plain => self.scrub(value),
        };
        printable(&redacted).into_owned()
    }

    fn header_kind(&self, name: &str) -> HeaderKind {
        let lower = name.trim().to_ascii_lowercase();
        if matches!(lower.as_str(), "location" | "content-location" | "referer" | "referrer") {
            return HeaderKind::Uri;
        }
        if let Some(class) = self.classify(name) {
            return HeaderKind::Named(class);
        }
        if lower.contains("passw") {
            HeaderKind::Named(Class::Password)
        } else if SECRET_HEADER_PARTS.iter().any(|p| lower.contains(p)) {
            HeaderKind::Named(Class::Token)
        } else {
            HeaderKind::Plain
        }
    }

    /// A query string (without `?`) with secret-named values replaced: token values by their
    /// fingerprint (of the percent-decoded value), password values by `[redacted]`.
    ///
    /// Kept as is: order, separators (`&` and `;`), names (even percent-encoded ones such as
    /// `access%5Ftoken`, which are decoded only to classify them), parameters without `=`,
    /// empty values, and every non-secret value with its original encoding. A non-secret value
    /// that is a JWT is fingerprinted; one that contains a secret (a nested URL with
    /// `access_token=`) is scrubbed and re-encoded.
    pub fn query(&self, query: &str) -> String {
        printable(&self.pairs(query)).into_owned()
    }

    /// An `application/x-www-form-urlencoded` body, with the same rules as [`Redactor::query`].
    pub fn form(&self, body: &str) -> String {
        self.query(body)
    }

    fn pairs(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 16);
        let mut rest = s;
        loop {
            let cut = rest.find(['&', ';']);
            let piece = cut.map_or(rest, |k| &rest[..k]);
            out.push_str(&self.query_pair(piece));
            let Some(k) = cut else { break };
            out.push_str(&rest[k..=k]);
            rest = &rest[k + 1..];
        }
        out
    }

    fn query_pair(&self, piece: &str) -> String {
        let Some((raw_name, raw_value)) = piece.split_once('=') else {
            return self.plain_query_value(piece);
        };
        let name = String::from_utf8_lossy(&form_decode(raw_name)).into_owned();
        let value = match self.classify(&name) {
            Some(Class::Password) if !raw_value.is_empty() => REDACTED.to_owned(),
            Some(_) if raw_value.is_empty() || is_redacted(raw_value) => raw_value.to_owned(),
            Some(_) => self.token_bytes(&form_decode(raw_value)),
            None => self.plain_query_value(raw_value),
        };
        format!("{raw_name}={value}")
    }

    fn plain_query_value(&self, raw: &str) -> String {
        let decoded = String::from_utf8_lossy(&form_decode(raw)).into_owned();
        // Neither a JWT (`eyJ…`) nor anything the scrub would change.
        if !self.may_change(&decoded) {
            return raw.to_owned();
        }
        if jwt::is_jwt(&decoded) {
            return self.token(&decoded);
        }
        let scrubbed = self.scrub(&decoded);
        if scrubbed == decoded { raw.to_owned() } else { encode_component(&scrubbed) }
    }

    /// The fingerprint of decoded bytes: as [`Redactor::token`] when they are UTF-8.
    fn token_bytes(&self, bytes: &[u8]) -> String {
        match std::str::from_utf8(bytes) {
            Ok(s) => self.token(s),
            Err(_) => self.fingerprint(bytes),
        }
    }

    /// Redacts a JSON document in place.
    ///
    /// Values under secret-named keys (at any depth) are replaced: strings and numbers under
    /// token names by their fingerprint, under password names by `"[redacted]"`; arrays and
    /// objects under a secret key have every leaf replaced the same way (a password-named key
    /// inside stays a password). `null`, booleans and empty strings are kept. Under
    /// `authorization`/`cookie` keys the header rules apply (`"Bearer tok:…"`). A
    /// `{"name": "password", "value": …}` pair (HAR, Postman) redacts `value`. Every other
    /// string is scrubbed like [`Redactor::text`] (JWTs, `Bearer …`, `token=…`), without
    /// escaping. Keys are kept unless they themselves contain a secret.
    pub fn json(&self, value: &mut Value) {
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(s) => *s = self.scrub(s),
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => self.json_object(map, &mut stack),
                Value::Null | Value::Bool(_) | Value::Number(_) => {}
            }
        }
    }

    fn json_object<'a>(&self, map: &'a mut Map<String, Value>, stack: &mut Vec<&'a mut Value>) {
        self.scrub_keys(map);
        let pair = self.name_value_class(map);
        for (key, child) in map.iter_mut() {
            let class = match (key.as_str(), pair) {
                ("value", Some(c)) => Some(c),
                ("name" | "key", Some(_)) => None,
                _ => self.classify(key),
            };
            match class {
                Some(c) => self.redact_leaves(child, c),
                None => stack.push(child),
            }
        }
    }

    fn scrub_keys(&self, map: &mut Map<String, Value>) {
        if map.keys().all(|k| self.scrub(k) == *k) {
            return;
        }
        for (k, v) in std::mem::take(map) {
            map.insert(self.scrub(&k), v);
        }
    }

    /// The class of `{"name": <secret name>, "value": …}` objects.
    fn name_value_class(&self, map: &Map<String, Value>) -> Option<Class> {
        if !map.contains_key("value") {
            return None;
        }
        let name = map.get("name").or_else(|| map.get("key"))?.as_str()?;
        self.classify(name)
    }

    fn redact_leaves(&self, value: &mut Value, class: Class) {
        let mut stack = vec![(value, class)];
        while let Some((v, class)) = stack.pop() {
            let replacement = match &*v {
                Value::String(s) => self.text_value(s, class, true),
                Value::Number(n) => self.text_value(&n.to_string(), class, true),
                Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => String::new(),
            };
            match v {
                Value::String(_) | Value::Number(_) => *v = Value::String(replacement),
                Value::Array(items) => stack.extend(items.iter_mut().map(|x| (x, class))),
                Value::Object(map) => {
                    for (k, x) in map.iter_mut() {
                        let inner = match self.classify(k) {
                            Some(Class::Password) => Class::Password,
                            _ => class,
                        };
                        stack.push((x, inner));
                    }
                }
                Value::Null | Value::Bool(_) => {}
            }
        }
    }

    /// A JSON text, redacted by [`Redactor::json`] and re-serialised compactly (keys in
    /// sorted order, as `serde_json` keeps them). Text that is not valid JSON (a body cut by
    /// the body cap, several documents) falls back to [`Redactor::text`].
    pub fn json_text(&self, text: &str) -> String {
        let body = text.strip_prefix('\u{feff}').unwrap_or(text);
        match serde_json::from_str::<Value>(body) {
            Ok(mut value) => {
                self.json(&mut value);
                serde_json::to_string(&value).unwrap_or_else(|_| self.text(text))
            }
            Err(_) => self.text(text),
        }
    }

    /// A request target or URL, printable, with secrets removed.
    ///
    /// Kept: scheme, host, port, path, parameter names. Removed: userinfo of absolute URIs
    /// (`http://user:pass@host/` → `http://[redacted]@host/`), secret query and fragment
    /// values (as [`Redactor::query`]; the fragment carries tokens in the OAuth implicit
    /// flow), secret path parameters (`;jsessionid=…`), and path segments that are JWTs.
    pub fn uri(&self, uri: &str) -> String {
        // Fast path: a plain printable path with no query, fragment, parameters, userinfo or
        // JWT-looking segment (every JWT starts with `eyJ`, base64 of `{"`) has nothing to hide.
        if uri.bytes().all(|b| (0x21..0x7f).contains(&b) && !matches!(b, b'?' | b'#' | b';' | b'@'))
            && !uri.contains("eyJ")
        {
            return uri.to_string();
        }
        // Every rule needs one of the pre-check's fragments, unless percent-encoding hides
        // it; `@` may end userinfo (`//user:pw@host`); secret names given by the profile
        // are not among the fragments.
        if !uri.contains(['%', '@']) && !self.may_change(uri) {
            return printable(uri).into_owned();
        }
        self.uri_full(uri)
    }

    /// [`Redactor::uri`] without the pre-checks.
    fn uri_full(&self, uri: &str) -> String {
        let (rest, fragment) = match uri.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (uri, None),
        };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut out = self.uri_path(path);
        for (mark, part) in [('?', query), ('#', fragment)] {
            if let Some(part) = part {
                out.push(mark);
                out.push_str(&self.pairs(part));
            }
        }
        printable(&out).into_owned()
    }

    fn uri_path(&self, path: &str) -> String {
        let (mut out, rest) = split_authority(path);
        let segments: Vec<String> = rest.split('/').map(|s| self.path_segment(s)).collect();
        out.push_str(&segments.join("/"));
        out
    }

    fn path_segment(&self, segment: &str) -> String {
        let mut parts = segment.split(';');
        let first = parts.next().unwrap_or_default();
        let mut out = if jwt::is_jwt(first) { self.token(first) } else { first.to_owned() };
        for param in parts {
            out.push(';');
            out.push_str(&self.query_pair(param));
        }
        out
    }

    /// Last-resort scrub for free text (evidence, error messages, warning details).
    ///
    /// Replaced: JWT-looking runs (`eyJ…` with two dots) by their fingerprint; the credential
    /// after `Bearer` (fingerprint) or `Basic` (`[redacted]`); the value in `name=value`,
    /// `name: value`, `"name":"value"` and `name => value` when the name is secret (header
    /// rules for `Authorization:`/`Cookie:`/`Set-Cookie:`). Error codes written `CODE:detail`
    /// (`INVALID_TOKEN:JWT expired…`) are not pairs. Everything else is kept; control
    /// characters (including newlines) are escaped so the result is one printable line.
    /// Already-redacted text passes through unchanged.
    pub fn text(&self, s: &str) -> String {
        if !self.may_change(s) {
            return printable(s).into_owned();
        }
        self.text_full(s)
    }

    /// [`Redactor::text`] without the pre-check.
    fn text_full(&self, s: &str) -> String {
        printable(&self.scrub(s)).into_owned()
    }
}

impl Redactor {
    /// Can a redaction rule change `s`? `false` only when it certainly cannot: ASCII text
    /// (non-ASCII could lower-case into a secret word) without any [`might_hold_secret`]
    /// fragment or the last word of a secret name the profile added.
    fn may_change(&self, s: &str) -> bool {
        !s.is_ascii()
            || might_hold_secret(s)
            || self
                .extra
                .iter()
                .filter_map(|e| e.last())
                .any(|w| s.as_bytes().windows(w.len()).any(|part| part.eq_ignore_ascii_case(w.as_bytes())))
    }
}

/// A cheap pre-check for [`Redactor::text`]: can `s` contain anything the scrub would
/// change? Every scrub rule needs one of these fragments (a JWT starts with `eyJ`; a secret
/// name contains one of the secret words; userinfo needs `://`), so text without any of
/// them is returned as is. False positives only cost the full scrub.
fn might_hold_secret(s: &str) -> bool {
    use std::sync::OnceLock;
    static NEEDLES: OnceLock<Option<aho_corasick::AhoCorasick>> = OnceLock::new();
    let finder = NEEDLES.get_or_init(|| {
        // A DFA: a few more KiB once, the fastest scan per byte.
        aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .build([
                "eyj", "bearer", "basic", "token", "secret", "key", "sig", "session", "sid", "auth", "jwt",
                "cred", "csrf", "xsrf", "pass", "pwd", "pin", "otp", "code", "://", "cookie", "dpop",
            ])
            .ok()
    });
    // Without a finder (it cannot fail to build), scrub everything.
    finder.as_ref().is_none_or(|f| f.is_match(s))
}

/// Whether a value is already a fingerprint or `[redacted]` (so redaction is idempotent).
fn is_redacted(value: &str) -> bool {
    if value.starts_with(REDACTED) {
        return true;
    }
    let Some(rest) = value.strip_prefix("tok:") else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() >= 8
        && b[..8].iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        && matches!(b.get(8), None | Some(b'('))
}

/// Splits `scheme://userinfo@host:port` off a URI, with the userinfo redacted.
fn split_authority(path: &str) -> (String, &str) {
    let scheme_end = path.find("://").filter(|&k| {
        k > 0 && path[..k].bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    });
    let start = match scheme_end {
        Some(k) => k + 3,
        None if path.starts_with("//") => 2,
        None => return (String::new(), path),
    };
    let end = path[start..].find('/').map_or(path.len(), |e| start + e);
    let authority = &path[start..end];
    let host = match authority.rfind('@') {
        Some(at) => format!("{REDACTED}@{}", &authority[at + 1..]),
        None => authority.to_owned(),
    };
    (format!("{}{host}", &path[..start]), &path[end..])
}

/// Percent-encodes the characters that would change a query's structure.
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' | '&' | ';' | '#' | '+' | '=' | ' ' => out.push_str(&format!("%{:02X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

/// UTF-8 text, with invalid bytes written as `\xNN`.
fn escape_invalid_utf8(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    Cow::Owned(out)
}

/// Escapes control characters (`\n`, `\r`, `\t`, `\xNN`) and bidirectional-override
/// characters (`\u{202e}`), so text shows on one line as what it is.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x100 && needs_escape(c) => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Guards a CSV cell against spreadsheet formula injection (OWASP "CSV Injection").
///
/// A cell starting with `=`, `+`, `-`, `@`, TAB or CR gets a leading apostrophe, which
/// spreadsheets show as text. Negative numbers such as PowerJob's `-403` are prefixed too
/// (`'-403`): telling a number from `-1+cmd|…` safely is not worth the risk. Embedded NUL
/// bytes become `\x00`. Everything else, including quoting (done by the CSV writer), is
/// left alone.
pub fn csv_cell(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if !risky && !cell.contains('\0') {
        return Cow::Borrowed(cell);
    }
    let mut out = String::with_capacity(cell.len() + 4);
    if risky {
        out.push('\'');
    }
    out.push_str(&cell.replace('\0', "\\x00"));
    Cow::Owned(out)
}

/// A random 32-byte key (see [`Redactor::random`]).
fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut key));
    if read.is_ok() {
        return key;
    }
    fallback_key()
}

fn fallback_key() -> [u8; 32] {
    use std::hash::BuildHasher;
    let mut hasher = Sha256::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    Digest::update(&mut hasher, now.to_le_bytes());
    Digest::update(&mut hasher, std::process::id().to_le_bytes());
    for salt in 0u8..4 {
        let seeded = std::collections::hash_map::RandomState::new().hash_one(salt);
        Digest::update(&mut hasher, seeded.to_le_bytes());
    }
    Digest::update(&mut hasher, format!("{:?}", std::time::Instant::now()).as_bytes());
    let local = 0u8;
    Digest::update(&mut hasher, (std::ptr::addr_of!(local) as usize).to_le_bytes());
    let digest = hasher.finalize();
    let mut key = [0u8; 32];
    for (k, d) in key.iter_mut().zip(digest.iter()) {
        *k = *d;
    }
    key
}
