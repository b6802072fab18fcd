//! Apache httpd `LogFormat` and Tomcat `AccessLogValve` patterns → text formats.
//!
//! Takes a format string (bare; or a pasted `LogFormat "…" nick` / `CustomLog file "…"`
//! line; for Tomcat a `server.xml` attribute with `&quot;` or a Spring Boot
//! `server.tomcat.accesslog.pattern=` line); gives a [`TextFormat`]. The two share the
//! `%x` / `%{arg}x` syntax but not the meanings.
//!
//! Time semantics:
//! - **Apache** (mod_log_config): `%t` is "the time the request was received" — the
//!   request START ([`TimeBasis::Start`], `time == logged_time`). `%{format}t` is the start
//!   too unless prefixed `end:`. `%D` is microseconds, `%T` whole seconds, `%{ms|us|s}T`
//!   as named. A duration is kept in `request_time` but not subtracted from a start time;
//!   with only `end:` times it is subtracted.
//! - **Tomcat** (`AbstractAccessLogValve`): `%t` ("Date and time, in Common Log Format")
//!   is the time the response *finished* — the valve formats request start + processing
//!   time unless the `%{begin:…}t` prefix is used — so it is the END: the start is
//!   `%t − %D` (or `%T`) when one is logged ([`TimeBasis::EndMinusDuration`]).
//!   `%D` is MILLISECONDS up to Tomcat 9 and MICROSECONDS from Tomcat 10 (Spring Boot 2.x
//!   ships Tomcat 9, Spring Boot 3.x Tomcat 10.1; PowerJob servers up to 5.x run Spring
//!   Boot 2.7, so their `%D` is milliseconds). [`compile_tomcat`] takes the unit;
//!   `%{ms|us|ns|s|fracsec}T` say theirs explicitly and are always right.
//!
//! [`TimeBasis::Start`]: super::TimeBasis::Start
//! [`TimeBasis::EndMinusDuration`]: super::TimeBasis::EndMinusDuration

use super::record::FormatError;
use super::text::{Builder, Dialect, Kind, TextFormat, TimeForm, header_kind_name};
use super::time::{TimeIs, Unit, sdf_to_strftime, strftime_ok};

/// One `%…` directive: its optional `{argument}` and its letter(s).
struct Directive<'a> {
    /// Byte offset of the `%` in the format.
    at: usize,
    arg: Option<&'a str>,
    letter: char,
    label: &'a str,
}

/// A piece of a format: literal text or a directive.
enum Piece<'a> {
    Lit(&'a str),
    Dir(Directive<'a>),
}

/// Splits a format into literal text and directives; `apache` enables Apache's
/// condition/redirect modifiers (`%400,501{X}i`, `%>s`) and `%^ti`.
fn scan(fmt: &str, apache: bool) -> Result<Vec<Piece<'_>>, FormatError> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut lit_start = 0;
    let b = fmt.as_bytes();
    while let Some(&c) = b.get(i) {
        if c != b'%' {
            i += 1;
            continue;
        }
        out.push(Piece::Lit(fmt.get(lit_start..i).unwrap_or("")));
        let start = i;
        i += 1;
        if b.get(i) == Some(&b'%') {
            out.push(Piece::Lit("%"));
            i += 1;
            lit_start = i;
            continue;
        }
        if apache {
            // Status conditions and original/final modifiers.
            while matches!(b.get(i), Some(b'!' | b',' | b'<' | b'>' | b'0'..=b'9')) {
                i += 1;
            }
        }
        let mut arg = None;
        if b.get(i) == Some(&b'{') {
            let Some(close) = fmt.get(i + 1..).and_then(|r| r.find('}')) else {
                return Err(FormatError::Syntax { at: start, reason: "unclosed %{".into() });
            };
            arg = fmt.get(i + 1..i + 1 + close);
            i += close + 2;
        }
        let Some(letter) = fmt.get(i..).and_then(|r| r.chars().next()) else {
            return Err(FormatError::Syntax { at: start, reason: "format ends after %".into() });
        };
        i += letter.len_utf8();
        if apache && letter == '^' {
            // %{VAR}^ti / %{VAR}^to: two more letters.
            i += fmt.get(i..).map_or(0, |r| r.chars().take(2).map(char::len_utf8).sum());
        }
        out.push(Piece::Dir(Directive { at: start, arg, letter, label: fmt.get(start..i).unwrap_or("%") }));
        lit_start = i;
    }
    out.push(Piece::Lit(fmt.get(lit_start..).unwrap_or("")));
    Ok(out)
}

/// `begin:`/`end:` prefix of a `%{…}t` argument.
fn time_prefix(arg: &str, default: TimeIs) -> (&str, TimeIs) {
    if arg == "begin" {
        ("", TimeIs::Start)
    } else if arg == "end" {
        ("", TimeIs::End)
    } else if let Some(r) = arg.strip_prefix("begin:") {
        (r, TimeIs::Start)
    } else if let Some(r) = arg.strip_prefix("end:") {
        (r, TimeIs::End)
    } else {
        (arg, default)
    }
}

fn need_arg<'a>(d: &Directive<'a>) -> Result<&'a str, FormatError> {
    d.arg
        .filter(|a| !a.is_empty())
        .ok_or_else(|| FormatError::Syntax { at: d.at, reason: format!("{} needs a {{name}}", d.label) })
}

fn apache_kind(d: &Directive<'_>) -> Result<Kind, FormatError> {
    Ok(match (d.letter, d.arg) {
        ('a', _) | ('h', _) => Kind::RemoteAddr,
        ('A', _) => Kind::ServerAddr,
        ('B', _) => Kind::BodyBytes { dash_is_zero: false },
        ('b', _) => Kind::BodyBytes { dash_is_zero: true },
        ('D', _) => Kind::Duration(Unit::Micros),
        ('H', _) => Kind::Protocol,
        ('I', _) => Kind::RequestLength,
        ('i', _) => Kind::ReqHeader(header_kind_name(need_arg(d)?)),
        ('k', _) => Kind::KeepaliveRequests,
        ('o', _) => Kind::RespHeader(header_kind_name(need_arg(d)?)),
        ('m', _) => Kind::Method,
        ('p', Some("remote")) => Kind::RemotePort,
        ('p', _) => Kind::ServerPort,
        ('q', _) => Kind::Query { qmark: true },
        ('r', _) => Kind::RequestLine,
        ('X', _) => Kind::ConnStatus,
        ('s', _) => Kind::Status,
        ('T', None) => Kind::Duration(Unit::Seconds),
        ('T', Some(u)) => Kind::Duration(
            Unit::from_name(u)
                .ok_or_else(|| FormatError::Syntax { at: d.at, reason: format!("unknown %T unit {u:?}") })?,
        ),
        ('t', None) => Kind::Time(TimeForm::Clf, TimeIs::Start),
        ('t', Some(arg)) => {
            let (f, is) = time_prefix(arg, TimeIs::Start);
            let form = match f {
                "" => TimeForm::Clf,
                "sec" => TimeForm::Epoch(Unit::Seconds),
                "msec" => TimeForm::Epoch(Unit::Millis),
                "usec" => TimeForm::Epoch(Unit::Micros),
                "msec_frac" => TimeForm::FracMillis,
                "usec_frac" => TimeForm::FracMicros,
                f if strftime_ok(f) => TimeForm::Strftime(f.into()),
                f => {
                    return Err(FormatError::Syntax {
                        at: d.at,
                        reason: format!("time format {f:?} is not understood"),
                    });
                }
            };
            Kind::Time(form, is)
        }
        ('U', _) => Kind::Path,
        ('v', _) | ('V', _) => Kind::Host,
        _ => Kind::Skip,
    })
}

fn tomcat_kind(d: &Directive<'_>, d_unit: Unit) -> Result<Kind, FormatError> {
    Ok(match (d.letter, d.arg) {
        ('a', _) | ('h', _) => Kind::RemoteAddr,
        ('A', _) => Kind::ServerAddr,
        ('b', _) => Kind::BodyBytes { dash_is_zero: true },
        ('B', _) => Kind::BodyBytes { dash_is_zero: false },
        ('D', _) => Kind::Duration(d_unit),
        ('H', _) => Kind::Protocol,
        ('i', _) => Kind::ReqHeader(header_kind_name(need_arg(d)?)),
        ('o', _) => Kind::RespHeader(header_kind_name(need_arg(d)?)),
        ('m', _) => Kind::Method,
        ('p', Some("remote")) => Kind::RemotePort,
        ('p', _) => Kind::ServerPort,
        ('q', _) => Kind::Query { qmark: true },
        ('r', None) => Kind::RequestLine,
        ('s', None) => Kind::Status,
        ('T', None) => Kind::Duration(Unit::Seconds),
        ('T', Some("fracsec")) => Kind::Duration(Unit::Seconds),
        ('T', Some(u)) => Kind::Duration(
            Unit::from_name(u)
                .ok_or_else(|| FormatError::Syntax { at: d.at, reason: format!("unknown %T unit {u:?}") })?,
        ),
        ('t', None) => Kind::Time(TimeForm::Clf, TimeIs::End),
        ('t', Some(arg)) => {
            let (f, is) = time_prefix(arg, TimeIs::End);
            let form = match f {
                "" => TimeForm::Clf,
                "sec" => TimeForm::Epoch(Unit::Seconds),
                "msec" => TimeForm::Epoch(Unit::Millis),
                "msec_frac" => TimeForm::FracMillis,
                sdf => {
                    let st =
                        sdf_to_strftime(sdf).map_err(|reason| FormatError::Syntax { at: d.at, reason })?;
                    if !strftime_ok(&st) {
                        return Err(FormatError::Syntax {
                            at: d.at,
                            reason: format!("time format {sdf:?} is not understood"),
                        });
                    }
                    TimeForm::Strftime(st.into())
                }
            };
            Kind::Time(form, is)
        }
        ('U', _) => Kind::Path,
        ('v', _) => Kind::Host,
        _ => Kind::Skip,
    })
}

/// Undoes the C-style escapes of an `httpd.conf` format string, or extracts the quoted
/// format from a pasted `LogFormat`/`CustomLog` line.
fn apache_source(input: &str) -> String {
    let s = input.trim();
    let directive = ["LogFormat", "CustomLog"].iter().any(|d| {
        s.get(..d.len()).is_some_and(|p| p.eq_ignore_ascii_case(d))
            && s.get(d.len()..).is_some_and(|r| r.starts_with(char::is_whitespace))
    });
    let body = if directive {
        match s.find('"') {
            Some(q) => {
                let inner = s.get(q + 1..).unwrap_or("");
                // Up to the first unescaped quote.
                let mut end = inner.len();
                let mut esc = false;
                for (k, c) in inner.char_indices() {
                    if esc {
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '"' {
                        end = k;
                        break;
                    }
                }
                inner.get(..end).unwrap_or("")
            }
            None => s,
        }
    } else {
        s
    };
    let mut out = String::with_capacity(body.len());
    let mut it = body.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Compiles an Apache `LogFormat` string.
pub(crate) fn compile_apache(input: &str) -> Result<TextFormat, FormatError> {
    let fmt = apache_source(input);
    let mut b = Builder::new();
    for piece in scan(&fmt, true)? {
        match piece {
            Piece::Lit(l) => b.lit(l),
            Piece::Dir(d) => b.field(apache_kind(&d)?, d.label),
        }
    }
    b.finish(Dialect::Apache, true)
}

/// The Tomcat pattern inside pasted configuration, with XML entities decoded; the
/// `common`/`combined` aliases expanded.
fn tomcat_source(input: &str) -> String {
    let mut s = input.trim();
    for prefix in ["server.tomcat.accesslog.pattern=", "server.tomcat.accesslog.pattern:"] {
        if let Some(r) = s.strip_prefix(prefix) {
            s = r.trim();
        }
    }
    if let Some(r) = s.strip_prefix("pattern=") {
        s = r.trim();
    }
    if s.len() >= 2
        && ((s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')))
    {
        s = s.get(1..s.len() - 1).unwrap_or(s);
    }
    let s = s
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    match s.as_str() {
        "common" => super::TOMCAT_COMMON.to_owned(),
        "combined" => super::TOMCAT_COMBINED.to_owned(),
        _ => s,
    }
}

/// Compiles a Tomcat `AccessLogValve` pattern; `d_unit` is the unit of `%D`
/// ([`Unit::Micros`] from Tomcat 10, [`Unit::Millis`] up to Tomcat 9).
pub(crate) fn compile_tomcat(input: &str, d_unit: Unit) -> Result<TextFormat, FormatError> {
    let fmt = tomcat_source(input);
    let mut b = Builder::new();
    for piece in scan(&fmt, false)? {
        match piece {
            Piece::Lit(l) => b.lit(l),
            Piece::Dir(d) => b.field(tomcat_kind(&d, d_unit)?, d.label),
        }
    }
    b.finish(Dialect::Tomcat, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert_eq!(apache_source(r#"LogFormat "%h \"%r\" %>s" combined"#), r#"%h "%r" %>s"#);
        assert_eq!(apache_source(r#"%h \"%r\""#), r#"%h "%r""#);
        assert_eq!(tomcat_source(r#"pattern="%h &quot;%r&quot; %s""#), r#"%h "%r" %s"#);
        assert_eq!(tomcat_source("server.tomcat.accesslog.pattern=common"), super::super::TOMCAT_COMMON);
    }

    #[test]
    fn directives() {
        let f = compile_apache(r#"%h %400,501{User-agent}i %>s %{c}a %{%Y-%m-%d %H:%M:%S}t "%r" %^ti %%"#)
            .unwrap();
        assert_eq!(
            f.field_labels(),
            vec!["%h", "%400,501{User-agent}i", "%>s", "%{c}a", "%{%Y-%m-%d %H:%M:%S}t", "%r", "%^ti"]
        );
        assert!(compile_apache("%t %r %{x").is_err());
        assert!(compile_apache("%t %r %").is_err());
        assert!(compile_apache("%t %r %i").is_err());
        assert!(compile_tomcat("%t %r %{yyyy G}t", Unit::Micros).is_err());
        assert!(compile_tomcat("%{begin:yyyy-MM-dd HH:mm:ss.SSS Z}t %r", Unit::Micros).is_ok());
    }
}
