//! Access logs: text lines in, records out.
//!
//! Takes access-log lines (nginx, Apache httpd, Tomcat / Spring Boot, Envoy, Traefik,
//! HAProxy `httplog`, AWS ALB and CloudFront, or JSON lines such as Caddy's) and a
//! [`LogFormat`] (named, given as the server's own format string, or detected from the
//! first lines — a custom nginx / Apache format is inferred, see [`LogFormat::detect_spec`]);
//! gives one [`LogRecord`] per line — the request as the
//! log shows it, with a best estimate of when it *started* — or a [`LineError`] naming the
//! line and what did not match (never its content: lines may carry tokens).
//!
//! Streaming: [`LogReader`] wraps any `BufRead`, reuses one line buffer and yields records
//! in file order (lines with equal times keep their order). Nothing here reorders, merges
//! or classifies; later stages do.
//!
//! Time semantics, per format (the deciding fact for pairing a retry with its trigger):
//!
//! | format | logged time is | `time` (request start) |
//! |---|---|---|
//! | nginx `$time_local` `$time_iso8601` `$msec` | log write = END | end − `$request_time` if logged, else end |
//! | Apache `%t`, `%{fmt}t` | request received = START | the logged time |
//! | Apache `%{end:fmt}t` | END | end − `%D`/`%T` if logged |
//! | Tomcat `%t`, `%{fmt}t` | response finished = END | end − `%D`/`%T`/`%{unit}T` if logged |
//! | Tomcat `%{begin:fmt}t` | START | the logged time |
//! | Envoy `%START_TIME%`, JSON `start_time` | START | the logged time |
//! | Traefik CLF / JSON `StartUTC` `StartLocal` | START | the logged time |
//! | generic `combined` / `common` (detected) | unknown (nginx: end, Apache: start) | the logged time |
//! | JSON `@timestamp` `timestamp` `time` `ts` | unknown | the logged time |
//! | HAProxy `[%tr]`, ALB `request_creation_time` | START | the logged time |
//! | Caddy `ts`, CloudFront `date time` | END | end − `duration` / `time-taken` |
//!
//! "end − duration" subtracts only the whole seconds of the duration when the end is
//! logged to the second (`$time_local`, `%t`): the start then still lies in the possible
//! range, and requests shorter than a second keep their log order instead of being sorted
//! by duration. When a format logs the end twice (`[$time_local] … $msec`), the finer
//! value of the same second is used.
//!
//! [`LogRecord::time_basis`] says which rule applied. Tomcat's `%D` is milliseconds up to
//! Tomcat 9 and microseconds from Tomcat 10: `tomcat:` assumes 10+, `tomcat9:` ≤ 9, and
//! detection guesses from the values (see [`LogFormat::detect`]).

mod apache;
mod aws;
mod detect;
mod envoy;
mod haproxy;
mod infer;
mod json;
mod nginx;
pub mod pipeline;
mod reader;
mod record;
mod text;
mod time;
mod value;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_formats;

pub use detect::Detected;
pub use haproxy::HaproxyFormat;
pub use json::{JsonMapping, JsonTarget};
pub use reader::{DEFAULT_MAX_LINE, LogReader, Sniffed};
pub use record::{
    FormatError, LineError, LineErrorKind, LogRecord, TimeBasis, canonical_header_name, parse_ip_lenient,
};
pub use text::{Dialect, TextFormat};
pub use time::{TimeIs, Unit};

/// nginx's predefined `combined` format.
pub const NGINX_COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
/// The `main` format of nginx's stock `nginx.conf`: `combined` plus `X-Forwarded-For`.
pub const NGINX_MAIN: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_x_forwarded_for""#;
/// The Common Log Format in nginx variables.
pub const NGINX_COMMON: &str =
    r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#;
/// Apache's `common` (httpd.conf).
pub const APACHE_COMMON: &str = r#"%h %l %u %t "%r" %>s %b"#;
/// Apache's `combined` (httpd.conf).
pub const APACHE_COMBINED: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i""#;
/// Apache's `vhost_combined` (Debian's apache2.conf).
pub const APACHE_VHOST_COMBINED: &str = r#"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#;
/// Tomcat's `common` alias (also Spring Boot's default pattern).
pub const TOMCAT_COMMON: &str = r#"%h %l %u %t "%r" %s %b"#;
/// Tomcat's `combined` alias.
pub const TOMCAT_COMBINED: &str = r#"%h %l %u %t "%r" %s %b "%{Referer}i" "%{User-Agent}i""#;
/// Envoy's default format string.
pub const ENVOY_DEFAULT: &str = r#"[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%""#;

/// Every name [`LogFormat::named`] knows.
pub const NAMES: &[&str] = &[
    "combined",
    "common",
    "nginx-combined",
    "nginx-main",
    "apache-combined",
    "apache-common",
    "apache-vhost-combined",
    "tomcat-common",
    "tomcat-combined",
    "tomcat-common-ms",
    "tomcat-common-us",
    "tomcat-common-T",
    "spring-boot",
    "envoy",
    "traefik",
    "json",
    "nginx-json",
    "envoy-json",
    "traefik-json",
    "haproxy",
    "caddy",
    "aws-alb",
    "cloudfront",
];

/// A parsed log format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Text lines: literal and field tokens.
    Text(TextFormat),
    /// JSON objects, one per line, fields found by key.
    Json(JsonMapping),
    /// HAProxy `option httplog` / `httpslog`, raw or syslog-framed.
    Haproxy(HaproxyFormat),
}

impl LogFormat {
    /// An nginx `log_format` (bare, or the whole pasted directive).
    pub fn nginx(log_format: &str) -> Result<Self, FormatError> {
        nginx::compile(log_format).map(LogFormat::Text)
    }

    /// An Apache `LogFormat` string (bare, with `\"` escapes, or the pasted directive).
    pub fn apache(log_format: &str) -> Result<Self, FormatError> {
        apache::compile_apache(log_format).map(LogFormat::Text)
    }

    /// A Tomcat `AccessLogValve` / Spring Boot `server.tomcat.accesslog.pattern`,
    /// including the `common`/`combined` aliases, as Tomcat 10+ writes it (`%D` in
    /// microseconds); see [`LogFormat::tomcat_with_d_unit`] for Tomcat ≤ 9.
    pub fn tomcat(pattern: &str) -> Result<Self, FormatError> {
        Self::tomcat_with_d_unit(pattern, Unit::Micros)
    }

    /// A Tomcat pattern with an explicit `%D` unit ([`Unit::Millis`] for Tomcat ≤ 9,
    /// e.g. Spring Boot 2.x; [`Unit::Micros`] for Tomcat 10+).
    pub fn tomcat_with_d_unit(pattern: &str, d_unit: Unit) -> Result<Self, FormatError> {
        apache::compile_tomcat(pattern, d_unit).map(LogFormat::Text)
    }

    /// An Envoy format string (`%START_TIME%`, `%REQ(X)%`, …).
    pub fn envoy(format: &str) -> Result<Self, FormatError> {
        envoy::compile(format).map(LogFormat::Text)
    }

    /// JSON lines with the given mapping, or the default one (nginx `escape=json`,
    /// Envoy/Istio and Traefik key names).
    pub fn json(mapping: Option<JsonMapping>) -> Self {
        LogFormat::Json(mapping.unwrap_or_default())
    }

    /// A built-in format by name (see [`NAMES`]); case-insensitive.
    pub fn named(name: &str) -> Option<Self> {
        let unknown = |f: Result<Self, FormatError>| {
            f.ok().map(|mut f| {
                if let LogFormat::Text(t) = &mut f {
                    t.set_time_is(TimeIs::Unknown);
                }
                f
            })
        };
        let tomcat_d = |unit: Unit| {
            let p = format!("{TOMCAT_COMMON} %D");
            Self::tomcat_with_d_unit(&p, unit).ok()
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "combined" => unknown(Self::nginx(NGINX_COMBINED)),
            "common" | "clf" => unknown(Self::nginx(NGINX_COMMON)),
            "nginx" | "nginx-combined" => Self::nginx(NGINX_COMBINED).ok(),
            "nginx-main" => Self::nginx(NGINX_MAIN).ok(),
            "apache" | "apache-combined" => Self::apache(APACHE_COMBINED).ok(),
            "apache-common" => Self::apache(APACHE_COMMON).ok(),
            "apache-vhost-combined" => Self::apache(APACHE_VHOST_COMBINED).ok(),
            "tomcat" | "tomcat-common" | "spring-boot" => Self::tomcat(TOMCAT_COMMON).ok(),
            "tomcat-combined" => Self::tomcat(TOMCAT_COMBINED).ok(),
            "tomcat-common-ms" => tomcat_d(Unit::Millis),
            "tomcat-common-us" => tomcat_d(Unit::Micros),
            "tomcat-common-t" => Self::tomcat(&format!("{TOMCAT_COMMON} %T")).ok(),
            "envoy" => Self::envoy(ENVOY_DEFAULT).ok(),
            "traefik" => envoy::traefik().ok().map(LogFormat::Text),
            "json" | "nginx-json" | "envoy-json" | "traefik-json" => Some(Self::json(None)),
            "aws-alb" | "alb" => aws::alb().ok().map(LogFormat::Text),
            "cloudfront" | "aws-cloudfront" => aws::cloudfront().ok().map(LogFormat::Text),
            "caddy" | "caddy-json" => Some(LogFormat::Json(JsonMapping::caddy())),
            "haproxy" | "haproxy-httplog" | "haproxy-httpslog" => {
                Some(LogFormat::Haproxy(HaproxyFormat::default()))
            }
            _ => None,
        }
    }

    /// What `--log-format` takes: a name ([`NAMES`]); `nginx:<log_format>`,
    /// `apache:<LogFormat>`, `tomcat:<pattern>` (Tomcat 10+), `tomcat9:<pattern>`
    /// (`%D` in ms), `envoy:<format>`, `json` or `json:<field>=<key>,…`
    /// ([`JsonMapping::parse`]); or a bare format string: with `$` it is nginx, with
    /// Envoy operators Envoy, with `%` Apache.
    pub fn parse_spec(spec: &str) -> Result<Self, FormatError> {
        let s = spec.trim();
        if let Some(f) = Self::named(s) {
            return Ok(f);
        }
        if let Some((prefix, rest)) = s.split_once(':') {
            match prefix.trim().to_ascii_lowercase().as_str() {
                "nginx" => return Self::nginx(rest),
                "apache" | "httpd" => return Self::apache(rest),
                "tomcat" | "tomcat10" | "tomcat11" | "spring-boot" => return Self::tomcat(rest),
                "tomcat9" | "tomcat8" | "tomcat7" | "spring-boot2" => {
                    return Self::tomcat_with_d_unit(rest, Unit::Millis);
                }
                "envoy" => return Self::envoy(rest),
                "json" => return Ok(Self::json(Some(JsonMapping::parse(rest)?))),
                "haproxy" => return HaproxyFormat::parse(rest).map(LogFormat::Haproxy),
                _ => {}
            }
        }
        if s.contains('$') {
            return Self::nginx(s);
        }
        if s.contains("%START_TIME") || s.contains("%REQ(") {
            return Self::envoy(s);
        }
        if s.contains('%') {
            return Self::apache(s);
        }
        Err(FormatError::UnknownName(s.to_owned()))
    }

    /// Parses one line (without its line terminator).
    pub fn parse_line(&self, line: &str, line_no: u64) -> Result<LogRecord, LineError> {
        match self {
            LogFormat::Text(t) => t.parse_line(line, line_no),
            LogFormat::Json(j) => j.parse_line(line, line_no),
            LogFormat::Haproxy(h) => h.parse_line(line, line_no),
        }
    }

    /// One line for humans: the dialect, the fields, and how the request start is found.
    pub fn describe(&self) -> String {
        match self {
            LogFormat::Json(_) => "JSON lines; time from start_time/StartUTC (start), \
                                   time_iso8601/time_local/msec (end, minus request_time), \
                                   or @timestamp/timestamp/time/ts (as logged)"
                .to_owned(),
            LogFormat::Haproxy(h) => format!(
                "HAProxy httplog ({}); time: [%tr] = request start (local time, read as UTC); duration: Ta in ms",
                h.spec()
            ),
            LogFormat::Text(t) => {
                let (times, durs) = (t.time_fields(), t.duration_fields());
                let times: Vec<String> = times
                    .iter()
                    .map(|(l, is)| {
                        let is = match is {
                            TimeIs::Start => "request start",
                            TimeIs::End => "log write (end)",
                            TimeIs::Unknown => "start or end",
                        };
                        format!("{l} = {is}")
                    })
                    .collect();
                let durs: Vec<String> = durs.iter().map(|(l, u)| format!("{l} in {u:?}")).collect();
                format!(
                    "{} format, {} fields; time: {}; duration: {}",
                    t.dialect().as_str(),
                    t.field_labels().len(),
                    times.join(", "),
                    if durs.is_empty() { "none".to_owned() } else { durs.join(", ") }
                )
            }
        }
    }
}
