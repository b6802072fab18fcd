//! nginx `log_format` strings → text formats.
//!
//! Takes a format string (bare, or pasted from `nginx.conf` with its `log_format name
//! [escape=…]` prefix, its quoted pieces and the final `;`); gives a [`TextFormat`].
//!
//! Time semantics (nginx docs, `ngx_http_log_module` / core variables): `$time_local`,
//! `$time_iso8601` and `$msec` are taken *at the time of the log write*, i.e. after the
//! response was sent: the END of the request. `$request_time` is the time "elapsed
//! between the first bytes were read from the client and the log write", so the request
//! start is `time − $request_time` ([`TimeBasis::EndMinusDuration`]); without
//! `$request_time` the start is unknown and `time` is the log-write time
//! ([`TimeBasis::End`]).
//!
//! Unknown variables are matched and ignored. Values are unescaped whichever `escape=`
//! mode wrote them (`default`: `\xHH`; `json`: `\"`, `\uXXXX`), except with `escape=none`.
//!
//! [`TimeBasis::EndMinusDuration`]: super::TimeBasis::EndMinusDuration
//! [`TimeBasis::End`]: super::TimeBasis::End

use super::record::FormatError;
use super::text::{Builder, Dialect, Kind, TextFormat, TimeForm, header_kind_name};
use super::time::{TimeIs, Unit};

/// What an nginx variable means.
fn var_kind(name: &str) -> Kind {
    let end = TimeIs::End;
    match name {
        "remote_addr" => Kind::RemoteAddr,
        "remote_port" => Kind::RemotePort,
        "time_local" => Kind::Time(TimeForm::Clf, end),
        "time_iso8601" => Kind::Time(TimeForm::Iso, end),
        "msec" => Kind::Time(TimeForm::Epoch(Unit::Seconds), end),
        "request" => Kind::RequestLine,
        "request_method" => Kind::Method,
        "request_uri" => Kind::Uri,
        "uri" | "document_uri" => Kind::Path,
        "args" | "query_string" => Kind::Query { qmark: false },
        "is_args" => Kind::IsArgs,
        "server_protocol" => Kind::Protocol,
        "status" => Kind::Status,
        "body_bytes_sent" => Kind::BodyBytes { dash_is_zero: false },
        "request_time" => Kind::Duration(Unit::Seconds),
        "upstream_status" => Kind::UpstreamStatus,
        "upstream_addr" => Kind::UpstreamAddr,
        "request_body" => Kind::RequestBody,
        "request_length" => Kind::RequestLength,
        "connection" => Kind::Connection,
        "connection_requests" => Kind::ConnectionRequests,
        "host" => Kind::Host,
        "server_addr" => Kind::ServerAddr,
        "server_port" => Kind::ServerPort,
        _ => {
            if let Some(h) = name.strip_prefix("sent_http_") {
                Kind::RespHeader(header_kind_name(h))
            } else if let Some(h) = name.strip_prefix("http_") {
                Kind::ReqHeader(header_kind_name(h))
            } else {
                Kind::Skip
            }
        }
    }
}

/// The format string inside a pasted `log_format` directive, and whether to unescape.
fn strip_directive(input: &str) -> Result<(String, bool), FormatError> {
    let mut s = input.trim();
    let mut unescape = true;
    if let Some(rest) = s.strip_prefix("log_format") {
        if rest.starts_with(char::is_whitespace) {
            let rest = rest.trim_start();
            // The format's name.
            let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            s = rest.get(name_end..).unwrap_or("").trim_start();
        }
    }
    if let Some(rest) = s.strip_prefix("escape=") {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let mode = rest.get(..end).unwrap_or("");
        unescape = mode != "none";
        s = rest.get(end..).unwrap_or("").trim_start();
    }
    if !(s.starts_with('\'') || s.starts_with('"')) {
        return Ok((s.to_owned(), unescape));
    }
    // One or more quoted pieces, as nginx.conf splits long formats.
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((at, q)) = chars.next() {
        match q {
            '\'' | '"' => {
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    if c == q {
                        closed = true;
                        break;
                    }
                    if c == '\\' {
                        match chars.next() {
                            Some((_, e @ ('\'' | '"' | '\\'))) => out.push(e),
                            Some((_, 't')) => out.push('\t'),
                            Some((_, 'n')) => out.push('\n'),
                            Some((_, e)) => {
                                out.push('\\');
                                out.push(e);
                            }
                            None => out.push('\\'),
                        }
                    } else {
                        out.push(c);
                    }
                }
                if !closed {
                    return Err(FormatError::Syntax { at, reason: "unterminated quoted string".into() });
                }
            }
            ';' => break,
            c if c.is_whitespace() => {}
            _ => {
                return Err(FormatError::Syntax {
                    at,
                    reason: "text between the quoted pieces of log_format".into(),
                });
            }
        }
    }
    Ok((out, unescape))
}

/// Compiles an nginx `log_format`.
pub(crate) fn compile(input: &str) -> Result<TextFormat, FormatError> {
    let (fmt, unescape) = strip_directive(input)?;
    let mut b = Builder::new();
    let bytes = fmt.as_bytes();
    let mut i = 0;
    let mut lit_start = 0;
    while i < bytes.len() {
        if bytes.get(i) != Some(&b'$') {
            i += 1;
            continue;
        }
        let (name, end) = if bytes.get(i + 1) == Some(&b'{') {
            let Some(close) = fmt.get(i + 2..).and_then(|r| r.find('}')) else {
                return Err(FormatError::Syntax { at: i, reason: "unclosed ${".into() });
            };
            (fmt.get(i + 2..i + 2 + close).unwrap_or(""), i + 3 + close)
        } else {
            let n = bytes
                .get(i + 1..)
                .unwrap_or(&[])
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count();
            (fmt.get(i + 1..i + 1 + n).unwrap_or(""), i + 1 + n)
        };
        if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
            // A lone `$` is literal text.
            i += 1;
            continue;
        }
        b.lit(fmt.get(lit_start..i).unwrap_or(""));
        b.field(var_kind(name), fmt.get(i..end).unwrap_or(name));
        i = end;
        lit_start = end;
    }
    b.lit(fmt.get(lit_start..).unwrap_or(""));
    b.finish(Dialect::Nginx, unescape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_is_stripped() {
        let (f, u) = strip_directive(
            "log_format main escape=json '$remote_addr - [$time_local] '\n    '\"$request\" $status';",
        )
        .unwrap();
        assert_eq!(f, "$remote_addr - [$time_local] \"$request\" $status");
        assert!(u);
        let (f, u) = strip_directive("escape=none '$msec $request'").unwrap();
        assert_eq!(f, "$msec $request");
        assert!(!u);
        assert!(strip_directive("'abc").is_err());
    }

    #[test]
    fn variables() {
        let f =
            compile("${msec}x$request $$ $http_x_forwarded_for $sent_http_x_powerjob_auth_passed").unwrap();
        assert_eq!(
            f.field_labels(),
            vec!["${msec}", "$request", "$http_x_forwarded_for", "$sent_http_x_powerjob_auth_passed"]
        );
        assert!(matches!(compile("$status"), Err(FormatError::NoTime { .. })));
        assert!(matches!(compile("$msec $status"), Err(FormatError::NoRequest { .. })));
        assert!(compile("${msec $request").is_err());
    }
}
