//! The text-format engine: a format is a list of literal and field tokens.
//!
//! Takes a line; gives a [`LogRecord`] or a [`LineError`]. The dialect compilers (nginx,
//! Apache, Tomcat, Envoy, Traefik) only translate their directives into [`Kind`]s; all
//! matching happens here, in one left-to-right pass without backtracking:
//!
//! - a literal must appear exactly where the previous field ended;
//! - a field ends at the next occurrence of the literal that follows it. A *quoted*
//!   field (literal before ends in `"`, literal after starts with `"`) skips quotes that
//!   are backslash-escaped (Apache, Tomcat, nginx `escape=json`); for the format's final
//!   quote it prefers a quote followed by a blank or the line end, so a stray unescaped
//!   quote inside a user agent does not cut it short;
//! - fields whose value contains blanks by construction (CLF time, strftime patterns with
//!   spaces) skip that many blanks before looking for the delimiter;
//! - an address field followed by `:` ends at the *last* colon before the next blank
//!   (IPv6);
//! - a field followed by another field, or last in the format, ends at the next blank
//!   (a path also at `?`), so text the server appended after the format's end is
//!   ignored.
//!
//! Values are unescaped (`\xHH`, `\"`, `\\`, `\uXXXX`, `\n` …; nginx, Apache and Tomcat
//! escapes are one superset) only when they contain a backslash, so the common case
//! allocates nothing beyond the record's own strings.

use std::borrow::Cow;

use memchr::memchr;

use super::record::{FormatError, LineError, LogRecord, canonical_header_name};
use super::time::{TimeIs, Unit};
pub(crate) use super::value::{Pending, apply_value};

/// How a logged time is spelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TimeForm {
    /// `10/Oct/2000:13:55:36 -0700`, brackets optional.
    Clf,
    /// RFC 3339 / ISO 8601.
    Iso,
    /// An epoch number in the unit (a fraction allowed).
    Epoch(Unit),
    /// A strftime pattern (fields of several such directives combine).
    Strftime(Box<str>),
    /// Millisecond fraction of the second (Apache/Tomcat `msec_frac`).
    FracMillis,
    /// Microsecond fraction of the second (Apache `usec_frac`).
    FracMicros,
    /// Whatever a JSON log holds: RFC 3339, CLF or an epoch number (unit by magnitude).
    Any,
}

/// What a field means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Client/peer address (a host name gives `None`).
    RemoteAddr,
    /// Client address with an optional port (`1.2.3.4:5678`, `[::1]:5678`).
    RemoteSocket,
    RemotePort,
    ServerAddr,
    /// Server address with an optional port.
    ServerSocket,
    ServerPort,
    Host,
    Time(TimeForm, TimeIs),
    /// `METHOD TARGET PROTOCOL`.
    RequestLine,
    Method,
    /// Request target with query.
    Uri,
    /// Path without query.
    Path,
    /// Query string; `qmark`: logged with its leading `?` when present (Apache `%q`).
    Query {
        qmark: bool,
    },
    /// nginx `$is_args`: `?` or nothing.
    IsArgs,
    Protocol,
    Status,
    /// Body bytes; `dash_is_zero`: `-` means 0 (Apache/Tomcat `%b`).
    BodyBytes {
        dash_is_zero: bool,
    },
    Duration(Unit),
    UpstreamStatus,
    ReqHeader(Box<str>),
    RespHeader(Box<str>),
    /// The request body (`$request_body`).
    RequestBody,
    /// Request bytes, head and body (`$request_length`, `%I`).
    RequestLength,
    /// Connection serial number (`$connection`).
    Connection,
    /// 1-based request number on the connection (`$connection_requests`).
    ConnectionRequests,
    /// 0-based keep-alive request number on the connection (Apache `%k`).
    KeepaliveRequests,
    /// Upstream address(es) (`$upstream_addr`).
    UpstreamAddr,
    /// Apache `%X`: `X` = the client aborted before the response completed.
    ConnStatus,
    /// A part of the request duration, added to the others (ALB's three processing
    /// times); `-1` means the phase did not happen.
    DurationPart(Unit),
    /// CloudFront `x-edge-result-type`: `ClientCommError` = the client went away.
    EdgeResult,
    /// Matched and ignored.
    Skip,
}

/// One field of a text format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    pub kind: Kind,
    /// The directive as written (`$status`, `%>s`): names the field in errors.
    pub label: Box<str>,
    pub quoted: bool,
    pub inner_spaces: u8,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(Box<str>),
    Field(Field),
}

/// Which server family wrote the format (decides error hints and descriptions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// nginx `log_format`.
    Nginx,
    /// Apache httpd `LogFormat`.
    Apache,
    /// Tomcat `AccessLogValve` / Spring Boot.
    Tomcat,
    /// Envoy format string.
    Envoy,
    /// Traefik common log format.
    Traefik,
    /// AWS ALB / CloudFront access logs.
    Aws,
}

impl Dialect {
    fn time_hint(self) -> &'static str {
        match self {
            Dialect::Nginx => "$time_local, $time_iso8601 or $msec",
            Dialect::Apache => "%t or %{format}t",
            Dialect::Tomcat => "%t or %{format}t",
            Dialect::Envoy => "%START_TIME%",
            Dialect::Traefik => "timestamp",
            Dialect::Aws => "time",
        }
    }
    fn request_hint(self) -> &'static str {
        match self {
            Dialect::Nginx => "$request, or $request_method with $request_uri or $uri",
            Dialect::Apache | Dialect::Tomcat => "%r, or %m with %U",
            Dialect::Envoy => "%REQ(:METHOD)% and %REQ(:PATH)%",
            Dialect::Traefik => "request line",
            Dialect::Aws => "request",
        }
    }
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Nginx => "nginx",
            Dialect::Apache => "apache",
            Dialect::Tomcat => "tomcat",
            Dialect::Envoy => "envoy",
            Dialect::Traefik => "traefik",
            Dialect::Aws => "aws",
        }
    }
}

/// A compiled text log format: literal and field tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextFormat {
    toks: Vec<Tok>,
    dialect: Dialect,
    unescape: bool,
    post: Post,
}

/// What a format does to a record after its fields (layouts with their own conventions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Post {
    None,
    /// ALB: absolute targets to path + host; status 460 = the client closed first.
    Alb,
    /// CloudFront: nothing beyond the fields.
    CloudFront,
}

/// Collects tokens for a [`TextFormat`].
pub(crate) struct Builder {
    toks: Vec<Tok>,
}

impl Builder {
    pub fn new() -> Self {
        Builder { toks: Vec::new() }
    }

    pub fn lit(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if let Some(Tok::Lit(prev)) = self.toks.last_mut() {
            let mut joined = String::with_capacity(prev.len() + s.len());
            joined.push_str(prev);
            joined.push_str(s);
            *prev = joined.into_boxed_str();
        } else {
            self.toks.push(Tok::Lit(s.into()));
        }
    }

    pub fn field(&mut self, kind: Kind, label: &str) {
        let inner_spaces = match &kind {
            Kind::Time(TimeForm::Clf, _) => 1,
            Kind::Time(TimeForm::Strftime(f), _) => {
                u8::try_from(f.bytes().filter(|&b| b == b' ').count()).unwrap_or(u8::MAX)
            }
            _ => 0,
        };
        self.toks.push(Tok::Field(Field { kind, label: label.into(), quoted: false, inner_spaces }));
    }

    pub fn finish(mut self, dialect: Dialect, unescape: bool) -> Result<TextFormat, FormatError> {
        let n = self.toks.len();
        for i in 0..n {
            let before = i.checked_sub(1).and_then(|j| self.toks.get(j));
            let quoted = matches!(before, Some(Tok::Lit(l)) if l.ends_with('"'))
                && matches!(self.toks.get(i + 1), Some(Tok::Lit(l)) if l.starts_with('"'));
            if let Some(Tok::Field(f)) = self.toks.get_mut(i) {
                f.quoted = quoted;
            }
        }
        let kinds = || {
            self.toks.iter().filter_map(|t| match t {
                Tok::Field(f) => Some(&f.kind),
                Tok::Lit(_) => None,
            })
        };
        if !kinds().any(|k| matches!(k, Kind::Time(..))) {
            return Err(FormatError::NoTime { hint: dialect.time_hint() });
        }
        if !kinds().any(|k| matches!(k, Kind::RequestLine | Kind::Uri | Kind::Path)) {
            return Err(FormatError::NoRequest { hint: dialect.request_hint() });
        }
        Ok(TextFormat { toks: self.toks, dialect, unescape, post: Post::None })
    }
}

/// Decodes the escapes nginx (`\xHH`, `escape=json`), Apache (`\xhh`, `\"`, `\\`) and
/// Tomcat (`\"`, `\\`, `\uXXXX`, `\n`) write; an unknown escape stays as written.
pub(crate) fn unescape(s: &str) -> Cow<'_, str> {
    if memchr(b'\\', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    fn hex(b: Option<&u8>) -> Option<u32> {
        (*b? as char).to_digit(16)
    }
    fn hex4(b: &[u8], i: usize) -> Option<u32> {
        let mut v = 0;
        for k in 0..4 {
            v = v * 16 + hex(b.get(i + k))?;
        }
        Some(v)
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let simple = match b.get(i + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'/') => Some(b'/'),
            Some(b'n') => Some(b'\n'),
            Some(b't') => Some(b'\t'),
            Some(b'r') => Some(b'\r'),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            _ => None,
        };
        if let Some(x) = simple {
            out.push(x);
            i += 2;
            continue;
        }
        match b.get(i + 1) {
            Some(b'x') | Some(b'X') => {
                if let (Some(h), Some(l)) = (hex(b.get(i + 2)), hex(b.get(i + 3))) {
                    out.push((h * 16 + l) as u8);
                    i += 4;
                    continue;
                }
            }
            Some(b'u') => {
                if let Some(u) = hex4(b, i + 2) {
                    let mut consumed = 6;
                    let mut cp = u;
                    if (0xD800..0xDC00).contains(&u)
                        && b.get(i + 6) == Some(&b'\\')
                        && b.get(i + 7) == Some(&b'u')
                    {
                        if let Some(lo) = hex4(b, i + 8).filter(|lo| (0xDC00..0xE000).contains(lo)) {
                            cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                            consumed = 12;
                        }
                    }
                    let ch = char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER);
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    i += consumed;
                    continue;
                }
            }
            _ => {}
        }
        out.push(b'\\');
        i += 1;
    }
    Cow::Owned(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Whether `m` is an HTTP method token (RFC 9110 tchars, at most 32).
pub(crate) fn is_method(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 32
        && m.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Splits `METHOD TARGET [PROTOCOL]`; `None` when it is not a request line.
pub(crate) fn split_request_line(s: &str) -> Option<(&str, &str, Option<&str>)> {
    let s = s.trim_matches(' ');
    let (m, rest) = s.split_once(' ')?;
    if !is_method(m) {
        return None;
    }
    let rest = rest.trim_start_matches(' ');
    if let Some((u, p)) = rest.rsplit_once(' ') {
        if p.starts_with("HTTP/") {
            return Some((m, u.trim_end_matches(' '), Some(p)));
        }
    }
    if rest.is_empty() {
        return None;
    }
    Some((m, rest, None))
}

/// HTTP minor version from `HTTP/1.0` and the like: 0 for 1.0 and 0.9, else 1.
pub(crate) fn minor_version(proto: &str) -> u8 {
    match proto.trim() {
        "HTTP/1.0" | "HTTP/0.9" => 0,
        _ => 1,
    }
}

impl TextFormat {
    pub(crate) fn with_post(mut self, post: Post) -> Self {
        self.post = post;
        self
    }

    /// The server family the format came from.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The format's directives in order (`$remote_addr`, `%t` …).
    pub fn field_labels(&self) -> Vec<&str> {
        self.fields().map(|f| &*f.label).collect()
    }

    /// Replaces every time field's start/end meaning (for the generic `combined`, which
    /// nginx writes at the end and Apache at the start).
    pub(crate) fn set_time_is(&mut self, is: TimeIs) {
        for t in &mut self.toks {
            if let Tok::Field(Field { kind: Kind::Time(_, i), .. }) = t {
                *i = is;
            }
        }
    }

    /// The time fields (label, start/end meaning), for descriptions.
    pub(crate) fn time_fields(&self) -> Vec<(&str, TimeIs)> {
        self.fields()
            .filter_map(|f| match &f.kind {
                Kind::Time(_, is) => Some((&*f.label, *is)),
                _ => None,
            })
            .collect()
    }

    /// The duration fields (label, unit), for descriptions.
    pub(crate) fn duration_fields(&self) -> Vec<(&str, Unit)> {
        self.fields()
            .filter_map(|f| match &f.kind {
                Kind::Duration(u) => Some((&*f.label, *u)),
                _ => None,
            })
            .collect()
    }

    fn fields(&self) -> impl Iterator<Item = &Field> {
        self.toks.iter().filter_map(|t| match t {
            Tok::Field(f) => Some(f),
            Tok::Lit(_) => None,
        })
    }

    /// Parses one line.
    pub fn parse_line(&self, line: &str, line_no: u64) -> Result<LogRecord, LineError> {
        self.parse_full(line, line_no).map(|(r, _)| r)
    }

    /// Parses one line; also says whether the format read it to its end (no text the
    /// format does not describe after its last field).
    pub(crate) fn parse_full(&self, line: &str, line_no: u64) -> Result<(LogRecord, bool), LineError> {
        let mut rec = LogRecord::empty(line_no);
        let mut st = Pending::default();
        let b = line.as_bytes();
        let mut pos = 0usize;
        let mut prev_label: &str = "line start";
        for (i, tok) in self.toks.iter().enumerate() {
            match tok {
                Tok::Lit(l) => {
                    if !b.get(pos..).is_some_and(|rest| rest.starts_with(l.as_bytes())) {
                        return Err(LineError::malformed(
                            line_no,
                            format!("expected {l:?} after {prev_label}"),
                        ));
                    }
                    pos += l.len();
                }
                Tok::Field(f) => {
                    let next = self.toks.get(i + 1);
                    let last_lit = i + 2 == self.toks.len();
                    let end = field_end(f, next, last_lit, b, pos).ok_or_else(|| {
                        LineError::malformed(
                            line_no,
                            match next {
                                Some(Tok::Lit(l)) => format!("expected {l:?} after {}", f.label),
                                _ => format!("line ends inside {}", f.label),
                            },
                        )
                    })?;
                    let raw = line.get(pos..end).ok_or_else(|| {
                        LineError::malformed(line_no, format!("{} is not valid text", f.label))
                    })?;
                    self.apply(f, raw, &mut rec, &mut st)?;
                    pos = end;
                    prev_label = &f.label;
                }
            }
        }
        st.finish(&mut rec)?;
        match self.post {
            Post::None | Post::CloudFront => {}
            Post::Alb => alb_post(&mut rec),
        }
        Ok((rec, line.get(pos..).is_some_and(|r| r.trim().is_empty())))
    }

    fn apply<'a>(
        &self,
        f: &Field,
        raw: &'a str,
        rec: &mut LogRecord,
        st: &mut Pending<'a>,
    ) -> Result<(), LineError> {
        if f.kind == Kind::Skip {
            return Ok(());
        }
        let v: Cow<'a, str> = if self.unescape { unescape(raw) } else { Cow::Borrowed(raw) };
        apply_value(&f.kind, &f.label, v, rec, st)
    }
}

/// ALB: the absolute target's authority becomes the host, the rest the target; status 460
/// means the client closed the connection before the load balancer answered.
fn alb_post(rec: &mut LogRecord) {
    if rec.status == Some(460) {
        rec.status = None;
        rec.client_aborted = true;
    }
    let rest = rec.uri.strip_prefix("http://").or_else(|| rec.uri.strip_prefix("https://"));
    if let Some(rest) = rest {
        let (authority, path) = match rest.find('/') {
            Some(k) => rest.split_at(k),
            None => (rest, "/"),
        };
        if rec.host.is_none() && !authority.is_empty() {
            rec.host = Some(authority.to_owned());
        }
        rec.uri = path.to_owned();
    }
}

/// Where field `f`, starting at `pos`, ends; `None` when the line ends first.
fn field_end(f: &Field, next: Option<&Tok>, last_lit: bool, b: &[u8], pos: usize) -> Option<usize> {
    // Blanks that belong to the value (CLF time: one).
    let mut from = pos;
    for _ in 0..f.inner_spaces {
        match memchr(b' ', b.get(from..)?) {
            Some(k) => from += k + 1,
            None => break,
        }
    }
    match next {
        Some(Tok::Lit(l)) => {
            let lb = l.as_bytes();
            let first = *lb.first()?;
            if f.quoted {
                let mut fallback = None;
                let mut at = from;
                while let Some(k) = memchr(first, b.get(at..)?) {
                    let k = at + k;
                    if b.get(k..).is_some_and(|r| r.starts_with(lb)) && !escaped(b, pos, k) {
                        let after = b.get(k + lb.len()).copied();
                        if !last_lit || matches!(after, None | Some(b' ') | Some(b'\t')) {
                            return Some(k);
                        }
                        fallback.get_or_insert(k);
                    }
                    at = k + 1;
                }
                fallback
            } else if first == b':' && matches!(f.kind, Kind::RemoteAddr | Kind::ServerAddr | Kind::Host) {
                let rest = b.get(from..)?;
                let region = memchr(b' ', rest).unwrap_or(rest.len());
                let hay = rest.get(..region)?;
                memchr::memmem::rfind(hay, lb).map(|k| from + k)
            } else {
                memchr::memmem::find(b.get(from..)?, lb).map(|k| from + k)
            }
        }
        _ => {
            let rest = b.get(from..)?;
            let end = match f.kind {
                Kind::IsArgs => usize::from(rest.first() == Some(&b'?')),
                Kind::Path => {
                    rest.iter().position(|&c| matches!(c, b'?' | b' ' | b'\t' | b'"')).unwrap_or(rest.len())
                }
                _ => rest.iter().position(|&c| c == b' ' || c == b'\t').unwrap_or(rest.len()),
            };
            Some(from + end)
        }
    }
}

/// Whether the byte at `k` is preceded by an odd number of backslashes (after `start`).
fn escaped(b: &[u8], start: usize, k: usize) -> bool {
    let mut n = 0;
    let mut j = k;
    while j > start {
        j -= 1;
        if b.get(j) == Some(&b'\\') {
            n += 1;
        } else {
            break;
        }
    }
    n % 2 == 1
}

/// `canonical_header_name` as a boxed str, for kinds.
pub(crate) fn header_kind_name(name: &str) -> Box<str> {
    canonical_header_name(name).into_boxed_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes() {
        assert_eq!(unescape(r"a\x22b"), "a\"b");
        assert_eq!(unescape(r#"a\"b\\c"#), "a\"b\\c");
        assert_eq!(unescape(r"\xE4\xBD\xA0"), "你");
        assert_eq!(unescape(r"\u00e9\ud83d\ude00"), "é😀");
        assert_eq!(unescape(r"\q\x4"), r"\q\x4");
        assert_eq!(unescape(r"\xff"), "\u{fffd}");
        assert_eq!(unescape("\\"), "\\");
    }

    #[test]
    fn request_lines() {
        assert_eq!(split_request_line("GET / HTTP/1.1"), Some(("GET", "/", Some("HTTP/1.1"))));
        assert_eq!(split_request_line("GET /a b HTTP/1.0"), Some(("GET", "/a b", Some("HTTP/1.0"))));
        assert_eq!(split_request_line("GET /"), Some(("GET", "/", None)));
        assert_eq!(split_request_line("-"), None);
        assert_eq!(split_request_line("\u{16}\u{3} x"), None);
        assert_eq!(split_request_line("GET "), None);
    }
}
