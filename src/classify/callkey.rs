//! The call key: a request's method, path, query and body in, one canonical form and its
//! hash out — query and form fields sorted, JSON keys sorted, whitespace gone, credentials,
//! secret and volatile fields left out — so that two attempts of one call compare equal.
//! Also how a request target splits into path and query (RFC 9112 section 3.2).

use std::hash::{Hash, Hasher};

use serde_json::Value;

use super::{Classifier, KEY_SHOWN, scalar, shorten, shown_prefix};
use crate::exchange::Head;
use crate::http::form::form_pairs;

impl Classifier<'_> {
    /// The call key: a hash of the canonical call, and its redacted text.
    ///
    /// The canonical call is `METHOD /path?k=v&… body`: the path with repeated slashes
    /// squashed, query and form fields sorted, JSON with its keys sorted (serde_json's map
    /// keeps them so), secret and volatile fields left out, any other body as its length
    /// and hash. It is built in one buffer: this runs once per call.
    pub(super) fn call_key(&mut self, method: &str, path: &str, fields: &Fields) -> (u64, String) {
        use std::fmt::Write as _;
        let names = fields.names();
        // Decide once per distinct field name.
        for name in &names {
            if !self.kept_names.contains_key(*name) {
                let keep = self.redactor.secret_kind(name).is_none()
                    && !self.profile.fields.volatile.iter().any(|v| v.eq_ignore_ascii_case(name))
                    && !self.profile.credentials.app_headers.iter().any(|h| h.eq_ignore_ascii_case(name));
                if self.kept_names.len() >= 65_536 {
                    self.kept_names.clear();
                }
                self.kept_names.insert(name.to_string(), keep);
            }
        }
        let kept = &self.kept_names;
        let keep = |name: &str| kept.get(name).copied().unwrap_or(false);
        let mut canonical = String::with_capacity(64 + path.len());
        canonical.push_str(method);
        canonical.push(' ');
        squash_slashes_into(path, &mut canonical);
        let pairs = |canonical: &mut String, pairs: &[(String, String)]| {
            let mut p: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| keep(k)).collect();
            p.sort_unstable();
            for (i, (k, v)) in p.iter().enumerate() {
                if i > 0 {
                    canonical.push('&');
                }
                canonical.push_str(k);
                canonical.push('=');
                canonical.push_str(v);
            }
            !p.is_empty()
        };
        let mark = canonical.len();
        canonical.push('?');
        if !pairs(&mut canonical, &fields.query) {
            canonical.truncate(mark);
        }
        let mark = canonical.len();
        canonical.push(' ');
        let body = match &fields.body {
            Body::Form(p) => pairs(&mut canonical, p),
            // Copy (to strip fields) only when a field must go.
            Body::Json(v) => {
                let mut out = std::mem::take(&mut canonical).into_bytes();
                let _ = if names.iter().all(|n| keep(n)) {
                    serde_json::to_writer(&mut out, v)
                } else {
                    let mut v = v.clone();
                    strip_json(&mut v, &keep);
                    serde_json::to_writer(&mut out, &v)
                };
                // serde_json writes valid UTF-8.
                canonical = String::from_utf8(out).unwrap_or_default();
                true
            }
            Body::Raw(bytes) if bytes.is_empty() => false,
            Body::Raw(bytes) => {
                let mut h = std::hash::DefaultHasher::new();
                bytes.hash(&mut h);
                let _ = write!(canonical, "<{} bytes #{:016x}>", bytes.len(), h.finish());
                true
            }
        };
        if !body {
            canonical.truncate(mark);
        }
        let mut h = std::hash::DefaultHasher::new();
        canonical.hash(&mut h);
        (h.finish(), shorten(&self.redactor.text(shown_prefix(&canonical, KEY_SHOWN)), KEY_SHOWN))
    }
}

pub(super) fn split_uri(uri: &str) -> (&str, Option<&str>) {
    let uri = uri.split('#').next().unwrap_or(uri);
    // RFC 9112 section 3.2: a target is in absolute-form only when it starts with a scheme
    // (`http://host/path`, proxies); `://` later in the target (a query carrying a URL) is
    // just data.
    let uri = match absolute_form_rest(uri) {
        Some(rest) => rest.find(['/', '?']).map_or("/", |j| &rest[j..]),
        None => uri,
    };
    match uri.split_once('?') {
        Some((p, q)) => (if p.is_empty() { "/" } else { p }, Some(q)),
        None => (uri, None),
    }
}

/// The part after `scheme://` when `uri` starts with a scheme (RFC 3986: ALPHA then ALPHA,
/// DIGIT, `+`, `-`, `.`).
fn absolute_form_rest(uri: &str) -> Option<&str> {
    let (scheme, rest) = uri.split_once("://")?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))).then_some(rest)
}

/// Appends `path` with runs of `/` squashed to one.
pub(super) fn squash_slashes_into(path: &str, out: &mut String) {
    let mut last_slash = false;
    for c in path.chars() {
        if c == '/' && last_slash {
            continue;
        }
        last_slash = c == '/';
        out.push(c);
    }
}

fn strip_json(v: &mut Value, keep: &impl Fn(&str) -> bool) {
    match v {
        Value::Object(map) => {
            map.retain(|k, _| keep(k));
            for x in map.values_mut() {
                strip_json(x, keep);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| strip_json(x, keep)),
        _ => {}
    }
}

/// A request body as fields.
enum Body {
    Form(Vec<(String, String)>),
    Json(Value),
    Raw(Vec<u8>),
}

/// Query and body fields of a request.
pub(super) struct Fields {
    query: Vec<(String, String)>,
    body: Body,
}

impl Fields {
    pub(super) fn parse(head: &Head, body: &[u8], query: Option<&str>) -> Fields {
        let query = query.map(form_pairs).unwrap_or_default();
        let ctype = head.header_str("content-type").unwrap_or("").to_ascii_lowercase();
        // A body sent without a Content-Type (Python requests posting a `str`) that reads as
        // a form is read as one: an OAuth2 client's `client_id` must not hide there.
        let untyped_form = ctype.is_empty() && looks_like_form(body);
        let body = if ctype.contains("x-www-form-urlencoded") || untyped_form {
            Body::Form(form_pairs(&String::from_utf8_lossy(body)))
        } else if ctype.contains("json") || body.first().is_some_and(|b| *b == b'{' || *b == b'[') {
            match serde_json::from_slice(body) {
                Ok(v) => Body::Json(v),
                Err(_) => Body::Raw(body.to_vec()),
            }
        } else {
            Body::Raw(body.to_vec())
        };
        Fields { query, body }
    }

    /// Every field name (query, form, JSON keys at any depth).
    fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.query.iter().map(|(k, _)| k.as_str()).collect();
        match &self.body {
            Body::Form(p) => v.extend(p.iter().map(|(k, _)| k.as_str())),
            Body::Json(j) => json_keys(j, &mut v),
            Body::Raw(_) => {}
        }
        v
    }

    /// A field from the query, the form body, or a top-level JSON key / JSON pointer.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        if name.starts_with('/') {
            return match &self.body {
                Body::Json(v) => v.pointer(name).and_then(scalar),
                _ => None,
            };
        }
        let from = |pairs: &[(String, String)]| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        from(&self.query).or_else(|| match &self.body {
            Body::Form(p) => from(p),
            Body::Json(Value::Object(m)) => m.get(name).and_then(scalar),
            _ => None,
        })
    }
}

fn json_keys<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k);
                json_keys(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| json_keys(x, out)),
        _ => {}
    }
}

/// `k=v&k2=v2` with only the bytes a form encoder writes.
fn looks_like_form(body: &[u8]) -> bool {
    let form_byte = |b: &u8| b.is_ascii_alphanumeric() || b"-._~%+=&*!'()".contains(b);
    body.contains(&b'=')
        && body.first().is_some_and(|b| *b != b'=' && *b != b'&')
        && body.iter().all(form_byte)
}
