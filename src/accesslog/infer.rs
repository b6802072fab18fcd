//! A custom nginx `log_format` or Apache `LogFormat` inferred from sample lines.
//!
//! Takes the first lines of a log that no named format reads whole; gives the format
//! string that most likely wrote them, as a `--log-format` spec (`nginx:…` or `apache:…`),
//! which the caller compiles like any spec the user passes — one code path, so
//! `-v` can print it and passing it back gives identical records.
//!
//! A line is cut into words: `[…]`, `"…"` (backslash escapes), `key=value` /
//! `key="…"`, bare words. Each position is classified over all sample lines of the most
//! common shape: the quoted request line; the status and body size after it; the time
//! (CLF with or without a fraction, ISO 8601, epoch seconds with a fraction `msec`, epoch
//! milliseconds); the client address (`ip` or `ip:port`); quoted fields after the sizes
//! (referer, user agent, `X-Forwarded-For` by their values); `key=value` fields by
//! well-known keys (`rt`/`request_time`, `urt`, `us`/`upstream_status`, `conn`, `creq`,
//! `ua`, `msec`, `app`, `auth`, `idem`, `rl`, `body` …, and `http_x`/`sent_http_x`
//! names); a bare number after the sizes (a decimal = seconds, nginx `$request_time`; an
//! integer = Apache `%D` µs or `%{ms}T` ms by magnitude). Unknown fields are matched and
//! ignored.
//!
//! The dialect decides what the time means. nginx writes at the END; Apache's `%t` is the
//! START. Apache is chosen when the format needs what only Apache writes (an integer
//! duration, epoch milliseconds, a CLF time with a fraction) or when the sample's times go
//! backwards in file order (a log written at the end whose times are starts); nginx
//! otherwise.

use super::record::parse_ip_lenient;
use super::text::split_request_line;
use super::time::{parse_clf, parse_iso};

/// One word of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wrap {
    Bare,
    Quoted,
    Bracket,
}

#[derive(Clone, Copy, Debug)]
struct Word<'a> {
    key: Option<&'a str>,
    wrap: Wrap,
    text: &'a str,
}

/// Cuts a line into words; `None` when a quote or bracket does not close.
fn words(line: &str) -> Option<Vec<Word<'_>>> {
    let mut out = Vec::new();
    let mut s = line.trim_end();
    while !s.is_empty() {
        s = s.trim_start_matches(' ');
        if s.is_empty() {
            break;
        }
        let mut key = None;
        let bare_end = s.find(' ').unwrap_or(s.len());
        if let Some(eq) = s.get(..bare_end).and_then(|w| w.find('=')) {
            let k = s.get(..eq).unwrap_or("");
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
                key = Some(k);
                s = s.get(eq + 1..).unwrap_or("");
            }
        }
        let (wrap, text, rest) = if let Some(r) = s.strip_prefix('"') {
            let end = closing_quote(r)?;
            (Wrap::Quoted, r.get(..end)?, r.get(end + 1..)?)
        } else if let Some(r) = s.strip_prefix('[').filter(|_| key.is_none()) {
            let end = r.find(']')?;
            (Wrap::Bracket, r.get(..end)?, r.get(end + 1..)?)
        } else {
            let end = s.find(' ').unwrap_or(s.len());
            (Wrap::Bare, s.get(..end)?, s.get(end..)?)
        };
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        out.push(Word { key, wrap, text });
        s = rest;
    }
    Some(out)
}

/// The quote that closes a quoted word: not backslash-escaped, followed by a blank or the
/// end.
fn closing_quote(r: &str) -> Option<usize> {
    let b = r.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' if matches!(b.get(i + 1), None | Some(b' ')) => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A shape: the number of words and their keys and wrappings.
type Shape = Vec<(Option<String>, Wrap)>;

fn shape(ws: &[Word<'_>]) -> Shape {
    ws.iter().map(|w| (w.key.map(str::to_owned), w.wrap)).collect()
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_decimal(s: &str) -> bool {
    s.split_once('.').is_some_and(|(a, b)| is_digits(a) && is_digits(b))
}

fn is_socket(s: &str) -> bool {
    s.rsplit_once(':').is_some_and(|(ip, p)| is_digits(p) && parse_ip_lenient(ip).is_some())
}

/// What a field position is, in both dialects' spellings.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Field {
    /// nginx variable, Apache directive (`None`: nginx only, `Some("")`: Apache only).
    Both(String, Option<String>),
}

fn both(n: &str, a: &str) -> Field {
    Field::Both(n.to_owned(), Some(a.to_owned()))
}

fn nginx_only(n: &str) -> Field {
    Field::Both(n.to_owned(), None)
}

fn apache_only(a: &str) -> Field {
    Field::Both(String::new(), Some(a.to_owned()))
}

/// A field for a well-known `key=`, from its key and sample values.
fn keyed(key: &str, vals: &[&str]) -> Field {
    let k = key.to_ascii_lowercase().replace('-', "_");
    let all = |f: fn(&str) -> bool| vals.iter().all(|v| *v == "-" || f(v));
    match k.as_str() {
        "rt" | "request_time" | "rtime" | "d" | "dur" | "duration" => {
            if all(is_digits) {
                integer_duration(vals)
            } else {
                nginx_only("$request_time")
            }
        }
        "us" | "ups" | "upstream_status" | "ustatus" => nginx_only("$upstream_status"),
        "ua" | "user_agent" | "agent" => both("$http_user_agent", "%{User-Agent}i"),
        "ref" | "referer" | "referrer" => both("$http_referer", "%{Referer}i"),
        "xff" | "x_forwarded_for" | "forwarded_for" => both("$http_x_forwarded_for", "%{X-Forwarded-For}i"),
        "conn" | "connection" => nginx_only("$connection"),
        "creq" | "connection_requests" | "reqs" => nginx_only("$connection_requests"),
        "ka" | "keepalive" => apache_only("%k"),
        "cs" | "conn_status" | "x" => apache_only("%X"),
        "uaddr" | "upstream_addr" | "upstream" => nginx_only("$upstream_addr"),
        "rl" | "request_length" | "req_len" | "in" => both("$request_length", "%I"),
        "body" | "request_body" | "rb" | "req_body" => nginx_only("$request_body"),
        "host" | "vhost" => both("$host", "%v"),
        "status" => both("$status", "%>s"),
        "bytes" | "size" | "body_bytes_sent" => both("$body_bytes_sent", "%B"),
        "app" | "app_id" | "appid" => both("$http_x_powerjob_app_id", "%{X-POWERJOB-APP-ID}i"),
        "auth" | "auth_passed" => both("$sent_http_x_powerjob_auth_passed", "%{X-POWERJOB-AUTH-PASSED}o"),
        "idem" | "idempotency_key" | "idempotency" => both("$http_idempotency_key", "%{Idempotency-Key}i"),
        "attempt" | "attempts" | "envoy_attempt" | "attempt_count" => {
            both("$http_x_envoy_attempt_count", "%{X-Envoy-Attempt-Count}i")
        }
        "rid" | "request_id" | "req_id" | "reqid" => both("$http_x_request_id", "%{X-Request-Id}i"),
        "srv" | "server" | "server_addr" => {
            if all(is_socket) {
                both("$server_addr:$server_port", "%A:%p")
            } else {
                both("$server_addr", "%A")
            }
        }
        "msec" => {
            if all(is_digits) {
                apache_only("%{msec}t")
            } else {
                nginx_only("$msec")
            }
        }
        "time" | "ts" | "t" => time_field(vals).unwrap_or_else(|| skip(&k)),
        _ => {
            if let Some(h) = k.strip_prefix("sent_http_") {
                both(&format!("$sent_http_{h}"), &format!("%{{{}}}o", h.replace('_', "-")))
            } else if let Some(h) = k.strip_prefix("http_") {
                both(&format!("$http_{h}"), &format!("%{{{}}}i", h.replace('_', "-")))
            } else {
                skip(&k)
            }
        }
    }
}

/// A matched-and-ignored field.
fn skip(name: &str) -> Field {
    let n: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    both(&format!("$unknown_{n}"), &format!("%{{{n}}}e"))
}

/// A time field from its values, if they are all one time spelling.
fn time_field(vals: &[&str]) -> Option<Field> {
    let all = |f: &dyn Fn(&str) -> bool| !vals.is_empty() && vals.iter().all(|v| f(v));
    if all(&|v| parse_clf(v).is_some()) {
        let frac = vals.iter().any(|v| v.contains('.'));
        return Some(if frac {
            apache_only("%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{%z}t")
        } else {
            both("$time_local", "%t")
        });
    }
    if all(&|v| v.contains('T') && parse_iso(v).is_some()) {
        return Some(both("$time_iso8601", "%{%Y-%m-%dT%H:%M:%S%z}t"));
    }
    if all(&|v| is_decimal(v) && v.len() >= 12) {
        return Some(nginx_only("$msec"));
    }
    if all(&|v| is_digits(v) && v.len() == 13) {
        return Some(apache_only("%{msec}t"));
    }
    None
}

/// Infers a `--log-format` spec from sample lines (`None` when they have no request line,
/// status and time).
pub(crate) fn infer(lines: &[&str]) -> Option<String> {
    let parsed: Vec<Vec<Word<'_>>> = lines.iter().filter_map(|l| words(l)).collect();
    // The most common shape.
    let mut shapes: Vec<(Shape, usize)> = Vec::new();
    for ws in &parsed {
        let s = shape(ws);
        match shapes.iter_mut().find(|(x, _)| *x == s) {
            Some((_, n)) => *n += 1,
            None => shapes.push((s, 1)),
        }
    }
    let (best, _) = shapes.iter().max_by_key(|(_, n)| *n)?;
    let rows: Vec<&Vec<Word<'_>>> = parsed.iter().filter(|ws| shape(ws) == *best).collect();
    let n = best.len();
    let col = |i: usize| -> Vec<&str> { rows.iter().filter_map(|r| r.get(i)).map(|w| w.text).collect() };
    let request = (0..n).find(|&i| {
        best.get(i).is_some_and(|(k, w)| k.is_none() && *w == Wrap::Quoted)
            && col(i).iter().all(|v| split_request_line(v).is_some())
    })?;
    let mut fields: Vec<Field> = Vec::with_capacity(n);
    let mut have_time = false;
    let mut have_addr = false;
    let mut have_status = false;
    let mut have_bytes = false;
    let mut quoted_after = 0;
    let mut time_col = None;
    for (i, (key, wrap)) in best.iter().enumerate() {
        let vals = col(i);
        let f = if let Some(k) = key {
            keyed(k, &vals)
        } else if i == request {
            both("$request", "%r")
        } else if let Some(t) = (!have_time).then(|| time_field(&vals)).flatten() {
            have_time = true;
            time_col = Some(i);
            t
        } else if *wrap == Wrap::Quoted {
            if i > request {
                quoted_after += 1;
            }
            quoted_field(&vals, i > request, quoted_after)
        } else if *wrap == Wrap::Bare && i < request && !have_addr && vals.iter().all(|v| is_socket(v)) {
            have_addr = true;
            both("$remote_addr:$remote_port", "%a:%{remote}p")
        } else if *wrap == Wrap::Bare
            && i < request
            && !have_addr
            && vals.iter().all(|v| parse_ip_lenient(v).is_some())
        {
            have_addr = true;
            both("$remote_addr", "%h")
        } else if *wrap == Wrap::Bare
            && i > request
            && !have_status
            && vals.iter().all(|v| v.len() == 3 && is_digits(v))
        {
            have_status = true;
            both("$status", "%>s")
        } else if *wrap == Wrap::Bare
            && have_status
            && !have_bytes
            && vals.iter().all(|v| *v == "-" || is_digits(v))
        {
            have_bytes = true;
            if vals.contains(&"-") { both("$body_bytes_sent", "%b") } else { both("$body_bytes_sent", "%B") }
        } else if *wrap == Wrap::Bare && i > request && vals.iter().all(|v| is_decimal(v)) {
            nginx_only("$request_time")
        } else if *wrap == Wrap::Bare && i > request && vals.iter().all(|v| is_digits(v)) {
            integer_duration(&vals)
        } else {
            skip(&format!("f{i}"))
        };
        fields.push(f);
    }
    if !have_status || !fields.iter().any(Field::is_time) {
        return None;
    }
    let backwards = time_col.is_some_and(|c| times_go_backwards(&col(c)));
    let apache = backwards || fields.iter().any(|Field::Both(n, _)| n.is_empty());
    let mut spec = String::from(if apache { "apache:" } else { "nginx:" });
    for (i, (f, (key, wrap))) in fields.iter().zip(best).enumerate() {
        if i > 0 {
            spec.push(' ');
        }
        let Field::Both(ngx, apa) = f;
        let text = if apache {
            match apa {
                Some(a) => a.clone(),
                None => match key {
                    Some(k) => skip(k).apache(),
                    None => skip(&format!("f{i}")).apache(),
                },
            }
        } else {
            ngx.clone()
        };
        if let Some(k) = key {
            spec.push_str(k);
            spec.push('=');
        }
        match wrap {
            Wrap::Quoted => {
                spec.push('"');
                spec.push_str(&text);
                spec.push('"');
            }
            Wrap::Bracket => {
                spec.push('[');
                spec.push_str(&text);
                spec.push(']');
            }
            Wrap::Bare => spec.push_str(&text),
        }
    }
    Some(spec)
}

impl Field {
    fn is_time(&self) -> bool {
        let Field::Both(n, a) = self;
        ["$time_local", "$time_iso8601", "$msec"].contains(&n.as_str())
            || a.as_deref().is_some_and(|a| a == "%t" || a.ends_with("}t"))
    }

    fn apache(&self) -> String {
        let Field::Both(_, a) = self;
        a.clone().unwrap_or_default()
    }
}

/// A quoted field that is not the request line: after the sizes the first is the
/// referer and the second the user agent, as in `combined`, unless the values say
/// otherwise (an address list is `X-Forwarded-For`, a product/version a user agent).
fn quoted_field(vals: &[&str], after_request: bool, nth: usize) -> Field {
    let real: Vec<&str> = vals.iter().copied().filter(|v| *v != "-" && !v.is_empty()).collect();
    let addr_list =
        !real.is_empty() && real.iter().all(|v| v.split(',').all(|p| parse_ip_lenient(p.trim()).is_some()));
    let agent =
        !real.is_empty() && real.iter().all(|v| v.contains('/') && !v.starts_with('/') && !v.contains("://"));
    if !after_request {
        return skip(&format!("q{nth}"));
    }
    match nth {
        _ if addr_list => both("$http_x_forwarded_for", "%{X-Forwarded-For}i"),
        1 if !agent => both("$http_referer", "%{Referer}i"),
        1 | 2 if agent => both("$http_user_agent", "%{User-Agent}i"),
        _ => skip(&format!("q{nth}")),
    }
}

/// An integer duration: Apache `%D` (µs) when the values are large, `%{ms}T` otherwise
/// (the same lean towards µs as Tomcat detection: a µs log of fast calls looks like a
/// slow ms log only below 200).
fn integer_duration(vals: &[&str]) -> Field {
    let mut v: Vec<u64> = vals.iter().filter_map(|s| s.parse().ok()).collect();
    v.sort_unstable();
    let median = v.get(v.len() / 2).copied().unwrap_or(0);
    let max = v.last().copied().unwrap_or(0);
    if median >= 200 || max >= 10_000 { apache_only("%D") } else { apache_only("%{ms}T") }
}

/// Whether the logged times decrease somewhere in file order: a log written when
/// requests end whose times are their starts (Apache `%t`).
fn times_go_backwards(vals: &[&str]) -> bool {
    let t: Vec<i64> = vals.iter().filter_map(|v| parse_clf(v).or_else(|| parse_iso(v))).collect();
    t.windows(2).any(|w| matches!(w, [a, b] if b < a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_cut_quotes_brackets_and_keys() {
        let w = words(
            r#"1.2.3.4 - [10/Oct/2000:13:55:36 -0700] "GET /a?b HTTP/1.1" 200 5 rt=0.005 ua="x \"y\" z""#,
        )
        .unwrap();
        assert_eq!(w.len(), 8);
        assert_eq!(w[7].key, Some("ua"));
        assert_eq!(w[7].text, r#"x \"y\" z"#);
        assert_eq!(w[2].wrap, Wrap::Bracket);
        assert!(words(r#"a "b"#).is_none());
    }
}
