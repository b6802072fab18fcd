//! JSON-lines access logs: one object per line, fields found by key.
//!
//! Takes a line; gives a [`LogRecord`]. A [`JsonMapping`] lists which keys feed which
//! record field, in priority order (the first key present wins). The defaults cover:
//!
//! - nginx `log_format … escape=json` with variable names as keys (`remote_addr`,
//!   `time_iso8601`/`time_local`/`msec` — END times, `request`, `request_method`,
//!   `request_uri`, `status`, `body_bytes_sent`, `request_time` seconds, `http_*` request
//!   and `sent_http_*` response headers);
//! - Envoy / Istio JSON (`start_time` — START, `method`, `path`, `protocol`,
//!   `response_code`, `bytes_sent`, `duration` milliseconds, `downstream_remote_address`,
//!   `x_forwarded_for`, `user_agent`, `authority`, `request_id`);
//! - Traefik JSON (`StartUTC`/`StartLocal` — START, `Duration` nanoseconds,
//!   `RequestMethod`, `RequestPath`, `RequestProtocol`, `DownstreamStatus`,
//!   `OriginStatus`, `ClientHost`/`ClientAddr`, `request_<Header>` and
//!   `downstream_<Header>` headers);
//! - generic keys (`@timestamp`, `timestamp`, `time`, `ts` — start or end unknown).
//!
//! Besides the listed keys, header-like keys become headers: `http_x`, `request_X`,
//! `req_x`, `x_…` → request header; `sent_http_x`, `downstream_X`, `resp_x` → response
//! header. Time semantics follow the key (see above): a start time is the request start;
//! an end time minus the logged duration is; otherwise the logged time is used.
//!
//! nginx writes `\xHH` escapes into JSON-looking formats that lack `escape=json`; such a
//! line is not JSON, so it is re-read with those escapes translated.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::record::{FormatError, LineError, LogRecord};
use super::text::{Kind, Pending, TimeForm, apply_value, header_kind_name};
use super::time::{TimeIs, Unit, epoch_float_auto, float_to_nanos, parse_decimal, parse_epoch_auto};

/// A record field a JSON key can feed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JsonTarget {
    /// The time, and whether it is the request start or the log-write time.
    Time(TimeIs),
    /// The request duration, in the unit.
    Duration(Unit),
    /// Client address (`ip` or `ip:port`).
    RemoteAddr,
    /// Client port.
    RemotePort,
    /// Request method.
    Method,
    /// Request target with query.
    Uri,
    /// Path without query.
    Path,
    /// Query string without `?`.
    Query,
    /// `HTTP/1.1`.
    Protocol,
    /// `METHOD TARGET PROTOCOL`.
    RequestLine,
    /// Response status.
    Status,
    /// Response body bytes.
    BodyBytes,
    /// Upstream status.
    UpstreamStatus,
    /// Server name / authority.
    Host,
    /// Server address (`ip` or `ip:port`).
    ServerAddr,
    /// Server port.
    ServerPort,
    /// A request header (name canonicalised).
    RequestHeader(String),
    /// A response header (name canonicalised).
    ResponseHeader(String),
}

impl JsonTarget {
    fn kind(&self) -> Kind {
        match self {
            JsonTarget::Time(is) => Kind::Time(TimeForm::Any, *is),
            JsonTarget::Duration(u) => Kind::Duration(*u),
            JsonTarget::RemoteAddr => Kind::RemoteSocket,
            JsonTarget::RemotePort => Kind::RemotePort,
            JsonTarget::Method => Kind::Method,
            JsonTarget::Uri => Kind::Uri,
            JsonTarget::Path => Kind::Path,
            JsonTarget::Query => Kind::Query { qmark: false },
            JsonTarget::Protocol => Kind::Protocol,
            JsonTarget::RequestLine => Kind::RequestLine,
            JsonTarget::Status => Kind::Status,
            JsonTarget::BodyBytes => Kind::BodyBytes { dash_is_zero: false },
            JsonTarget::UpstreamStatus => Kind::UpstreamStatus,
            JsonTarget::Host => Kind::Host,
            JsonTarget::ServerAddr => Kind::ServerSocket,
            JsonTarget::ServerPort => Kind::ServerPort,
            JsonTarget::RequestHeader(h) => Kind::ReqHeader(header_kind_name(h)),
            JsonTarget::ResponseHeader(h) => Kind::RespHeader(header_kind_name(h)),
        }
    }
}

/// Which JSON keys feed which record fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonMapping {
    /// Explicit rules, highest priority first.
    rules: Vec<(String, Kind)>,
    /// Whether header-like keys (`http_x`, `request_X`, …) become headers.
    header_prefixes: bool,
    /// Caddy: status 0 means the client went away before the response was written.
    status_zero_is_abort: bool,
}

const DEFAULT_RULES: &[(&str, DefaultTarget)] = {
    use DefaultTarget as D;
    &[
        // The finest first: nginx JSON formats often carry `$msec` next to the whole-second
        // `$time_iso8601`/`$time_local`, and the first key present wins.
        ("msec", D::Time(TimeIs::End)),
        ("time_iso8601", D::Time(TimeIs::End)),
        ("time_local", D::Time(TimeIs::End)),
        ("start_time", D::Time(TimeIs::Start)),
        ("StartUTC", D::Time(TimeIs::Start)),
        ("StartLocal", D::Time(TimeIs::Start)),
        ("@timestamp", D::Time(TimeIs::Unknown)),
        ("timestamp", D::Time(TimeIs::Unknown)),
        ("time", D::Time(TimeIs::Unknown)),
        ("ts", D::Time(TimeIs::Unknown)),
        ("request_time", D::Duration(Unit::Seconds)),
        ("duration", D::Duration(Unit::Millis)),
        ("Duration", D::Duration(Unit::Nanos)),
        ("duration_ms", D::Duration(Unit::Millis)),
        ("remote_addr", D::T(JsonTarget::RemoteAddr)),
        ("downstream_remote_address", D::T(JsonTarget::RemoteAddr)),
        ("ClientHost", D::T(JsonTarget::RemoteAddr)),
        ("ClientAddr", D::T(JsonTarget::RemoteAddr)),
        ("client_ip", D::T(JsonTarget::RemoteAddr)),
        ("remote_ip", D::T(JsonTarget::RemoteAddr)),
        ("remote_port", D::T(JsonTarget::RemotePort)),
        ("ClientPort", D::T(JsonTarget::RemotePort)),
        ("request_method", D::T(JsonTarget::Method)),
        ("method", D::T(JsonTarget::Method)),
        (":method", D::T(JsonTarget::Method)),
        ("RequestMethod", D::T(JsonTarget::Method)),
        ("request_uri", D::T(JsonTarget::Uri)),
        ("path", D::T(JsonTarget::Uri)),
        (":path", D::T(JsonTarget::Uri)),
        ("RequestPath", D::T(JsonTarget::Uri)),
        ("uri", D::T(JsonTarget::Path)),
        ("args", D::T(JsonTarget::Query)),
        ("query_string", D::T(JsonTarget::Query)),
        ("server_protocol", D::T(JsonTarget::Protocol)),
        ("protocol", D::T(JsonTarget::Protocol)),
        ("RequestProtocol", D::T(JsonTarget::Protocol)),
        ("request", D::T(JsonTarget::RequestLine)),
        ("status", D::T(JsonTarget::Status)),
        ("response_code", D::T(JsonTarget::Status)),
        ("status_code", D::T(JsonTarget::Status)),
        ("DownstreamStatus", D::T(JsonTarget::Status)),
        ("body_bytes_sent", D::T(JsonTarget::BodyBytes)),
        ("bytes_sent", D::T(JsonTarget::BodyBytes)),
        ("DownstreamContentSize", D::T(JsonTarget::BodyBytes)),
        ("upstream_status", D::T(JsonTarget::UpstreamStatus)),
        ("OriginStatus", D::T(JsonTarget::UpstreamStatus)),
        ("host", D::T(JsonTarget::Host)),
        ("authority", D::T(JsonTarget::Host)),
        (":authority", D::T(JsonTarget::Host)),
        ("RequestHost", D::T(JsonTarget::Host)),
        ("server_addr", D::T(JsonTarget::ServerAddr)),
        ("downstream_local_address", D::T(JsonTarget::ServerAddr)),
        ("server_port", D::T(JsonTarget::ServerPort)),
        ("user_agent", D::Req("User-Agent")),
        ("referer", D::Req("Referer")),
        ("referrer", D::Req("Referer")),
        ("request_id", D::Req("X-Request-Id")),
    ]
};

/// A default rule's target (const-constructible).
enum DefaultTarget {
    Time(TimeIs),
    Duration(Unit),
    T(JsonTarget),
    Req(&'static str),
}

/// Keys that say a line holds a request, even when their value is `-`.
fn is_request_kind(k: &Kind) -> bool {
    matches!(k, Kind::RequestLine | Kind::Method | Kind::Uri | Kind::Path)
}

impl Default for JsonMapping {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonMapping {
    /// The default mapping (nginx, Envoy, Traefik and generic keys; header prefixes on).
    pub fn new() -> Self {
        let rules = DEFAULT_RULES
            .iter()
            .map(|(k, t)| {
                let kind = match t {
                    DefaultTarget::Time(is) => Kind::Time(TimeForm::Any, *is),
                    DefaultTarget::Duration(u) => Kind::Duration(*u),
                    DefaultTarget::T(t) => t.kind(),
                    DefaultTarget::Req(h) => Kind::ReqHeader((*h).into()),
                };
                ((*k).to_owned(), kind)
            })
            .collect();
        JsonMapping { rules, header_prefixes: true, status_zero_is_abort: false }
    }

    /// Caddy's access log (`http.log.access`): `ts` is the log write (END) in epoch
    /// seconds (or RFC 3339 with `time_format`), `duration` seconds, status `0` = the
    /// client went away before the response (its request context was cancelled), `request.{remote_ip,client_ip,remote_port,method,uri,
    /// proto,host,headers.*}`, `status`, `size`, `resp_headers.*`; on top of the defaults.
    pub fn caddy() -> Self {
        let mut m = JsonMapping::new();
        // `map` puts each rule first: the last added has the highest priority.
        let rules: [(&str, Kind); 11] = [
            ("size", Kind::BodyBytes { dash_is_zero: false }),
            ("status", Kind::Status),
            ("request.host", Kind::Host),
            ("request.proto", Kind::Protocol),
            ("request.uri", Kind::Uri),
            ("request.method", Kind::Method),
            ("request.remote_port", Kind::RemotePort),
            ("request.remote_ip", Kind::RemoteSocket),
            ("request.client_ip", Kind::RemoteSocket),
            ("duration", Kind::Duration(Unit::Seconds)),
            ("ts", Kind::Time(TimeForm::Any, TimeIs::End)),
        ];
        for (k, kind) in rules {
            m.rules.insert(0, (k.to_owned(), kind));
        }
        m.status_zero_is_abort = true;
        m
    }

    /// A mapping with no rules and no header prefixes: only what [`JsonMapping::map`] adds.
    pub fn empty() -> Self {
        JsonMapping { rules: Vec::new(), header_prefixes: false, status_zero_is_abort: false }
    }

    /// Makes `key` feed `target`, ahead of every rule added before (so user rules beat
    /// the defaults).
    pub fn map(&mut self, key: impl Into<String>, target: JsonTarget) -> &mut Self {
        self.rules.insert(0, (key.into(), target.kind()));
        self
    }

    /// Parses `field=key,…` as `--log-format json:…` takes it, on top of the defaults.
    ///
    /// Fields: `time`, `time_is` (`start`|`end`|`unknown`, for `time`), `duration`,
    /// `duration_unit` (`s`|`ms`|`us`|`ns`, default `s`), `remote_addr`, `remote_port`,
    /// `method`, `uri`, `path`, `query`, `protocol`, `request`, `status`, `body_bytes`,
    /// `upstream_status`, `host`, `server_addr`, `server_port`, `req.<Header>`,
    /// `resp.<Header>`; the bare word `nodefaults` drops the default rules.
    pub fn parse(spec: &str) -> Result<Self, FormatError> {
        let mut user: Vec<(String, JsonTarget)> = Vec::new();
        let mut time_is = TimeIs::Unknown;
        let mut unit = Unit::Seconds;
        let mut defaults = true;
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "nodefaults" {
                defaults = false;
                continue;
            }
            let Some((field, key)) = item.split_once('=') else {
                return Err(FormatError::Mapping(format!("{item:?} is not field=key")));
            };
            let (field, key) = (field.trim(), key.trim());
            if key.is_empty() {
                return Err(FormatError::Mapping(format!("{field}: empty key")));
            }
            let target = match field {
                "time_is" => {
                    time_is = match key {
                        "start" => TimeIs::Start,
                        "end" => TimeIs::End,
                        "unknown" => TimeIs::Unknown,
                        _ => {
                            return Err(FormatError::Mapping("time_is must be start, end or unknown".into()));
                        }
                    };
                    continue;
                }
                "duration_unit" => {
                    unit = Unit::from_name(key).ok_or_else(|| {
                        FormatError::Mapping("duration_unit must be s, ms, us or ns".into())
                    })?;
                    continue;
                }
                "time" => JsonTarget::Time(TimeIs::Unknown),
                "duration" => JsonTarget::Duration(Unit::Seconds),
                "remote_addr" => JsonTarget::RemoteAddr,
                "remote_port" => JsonTarget::RemotePort,
                "method" => JsonTarget::Method,
                "uri" => JsonTarget::Uri,
                "path" => JsonTarget::Path,
                "query" => JsonTarget::Query,
                "protocol" => JsonTarget::Protocol,
                "request" => JsonTarget::RequestLine,
                "status" => JsonTarget::Status,
                "body_bytes" => JsonTarget::BodyBytes,
                "upstream_status" => JsonTarget::UpstreamStatus,
                "host" => JsonTarget::Host,
                "server_addr" => JsonTarget::ServerAddr,
                "server_port" => JsonTarget::ServerPort,
                f => {
                    if let Some(h) = f.strip_prefix("req.").filter(|h| !h.is_empty()) {
                        JsonTarget::RequestHeader(h.to_owned())
                    } else if let Some(h) = f.strip_prefix("resp.").filter(|h| !h.is_empty()) {
                        JsonTarget::ResponseHeader(h.to_owned())
                    } else {
                        return Err(FormatError::Mapping(format!("unknown field {f:?}")));
                    }
                }
            };
            user.push((key.to_owned(), target));
        }
        let mut m = if defaults { JsonMapping::new() } else { JsonMapping::empty() };
        for (key, target) in user.into_iter().rev() {
            let target = match target {
                JsonTarget::Time(_) => JsonTarget::Time(time_is),
                JsonTarget::Duration(_) => JsonTarget::Duration(unit),
                t => t,
            };
            m.map(key, target);
        }
        Ok(m)
    }

    /// Parses one JSON line.
    pub fn parse_line(&self, line: &str, line_no: u64) -> Result<LogRecord, LineError> {
        let text = line.trim();
        let (obj, from_nginx_escapes) = match serde_json::from_str::<Map<String, Value>>(text) {
            Ok(o) => (o, false),
            Err(e) => {
                // nginx default escaping (`\x22`) inside a JSON-shaped format.
                let retry = text.contains("\\x").then(|| text.replace("\\x", "\\u00"));
                match retry.and_then(|t| serde_json::from_str::<Map<String, Value>>(&t).ok()) {
                    Some(o) => (o, true),
                    None => {
                        return Err(LineError::malformed(
                            line_no,
                            format!("not a JSON object (column {})", e.column()),
                        ));
                    }
                }
            }
        };
        let obj = flatten(obj);
        let mut rec = LogRecord::empty(line_no);
        let mut st = Pending::default();
        let mut has_request = false;
        for (key, kind) in &self.rules {
            let Some(v) = obj.get(key) else { continue };
            has_request |= is_request_kind(kind);
            if filled(kind, &rec, &st) {
                continue;
            }
            self.apply(kind, key, v, from_nginx_escapes, &mut rec, &mut st)?;
        }
        if self.header_prefixes {
            for (key, v) in &obj {
                let Some(kind) = header_for_key(key) else { continue };
                if filled(&kind, &rec, &st) || self.rules.iter().any(|(k, _)| k == key) {
                    continue;
                }
                self.apply(&kind, key, v, from_nginx_escapes, &mut rec, &mut st)?;
            }
        }
        if !has_request {
            return Err(LineError::malformed(line_no, "no request fields (method, path or request)"));
        }
        st.finish(&mut rec)?;
        if self.status_zero_is_abort && rec.status == Some(0) {
            rec.client_aborted = true;
        }
        Ok(rec)
    }

    fn apply<'a>(
        &self,
        kind: &Kind,
        key: &str,
        v: &'a Value,
        latin1_bytes: bool,
        rec: &mut LogRecord,
        st: &mut Pending<'a>,
    ) -> Result<(), LineError> {
        // Numbers go straight to nanoseconds where a unit applies.
        if let Value::Number(n) = v {
            match kind {
                Kind::Time(_, is) => {
                    // From the number's text, exactly: an f64 holds an epoch in seconds only
                    // to ~0.2 µs (`1718000000.55` would become …544999).
                    let exact = parse_epoch_auto(&n.to_string());
                    if let Some(ns) = exact.or_else(|| n.as_f64().and_then(epoch_float_auto)) {
                        st.note_time(ns, *is);
                        return Ok(());
                    }
                    return Err(LineError::malformed(rec.line, format!("{key}: not a time")));
                }
                Kind::Duration(u) => {
                    st.duration = n.as_f64().and_then(|f| float_to_nanos(f, *u));
                    return Ok(());
                }
                _ => {}
            }
        }
        if let (Kind::Duration(u), Value::String(t)) = (kind, v) {
            // JSON producers may write fractional milliseconds as text.
            if let Some(ns) = parse_decimal(t, *u) {
                st.duration = Some(ns);
                return Ok(());
            }
        }
        let text: Cow<'a, str> = match v {
            Value::String(s) if latin1_bytes => recover_utf8(s),
            Value::String(s) => Cow::Borrowed(s.as_str()),
            Value::Number(n) => Cow::Owned(n.to_string()),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Array(items) => {
                let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                Cow::Owned(parts.join(", "))
            }
            Value::Null | Value::Object(_) => return Ok(()),
        };
        apply_value(kind, key, text, rec, st)
    }
}

/// A string decoded from `\u00HH` escapes that were really nginx `\xHH` bytes: if every
/// char is below U+0100, reinterpret the chars as bytes of UTF-8.
fn recover_utf8(s: &str) -> Cow<'_, str> {
    if s.is_ascii() || s.chars().any(|c| u32::from(c) > 0xFF) {
        return Cow::Borrowed(s);
    }
    let bytes: Vec<u8> = s.chars().map(|c| u32::from(c) as u8).collect();
    match String::from_utf8(bytes) {
        Ok(t) => Cow::Owned(t),
        Err(_) => Cow::Borrowed(s),
    }
}

/// Whether the record already has a value for `kind` (the first key present wins).
fn filled(kind: &Kind, rec: &LogRecord, st: &Pending<'_>) -> bool {
    match kind {
        Kind::Time(..) => st.first_time.is_some() || st.parsed.is_some(),
        Kind::Duration(_) => st.duration.is_some(),
        Kind::RemoteAddr | Kind::RemoteSocket => rec.remote_addr.is_some(),
        Kind::RemotePort => rec.remote_port.is_some(),
        Kind::Method => st.method.is_some(),
        Kind::Uri => st.uri.is_some(),
        Kind::Path => st.path.is_some(),
        Kind::Query { .. } => st.query.is_some(),
        Kind::Protocol => st.protocol.is_some(),
        Kind::RequestLine => st.request_line.is_some(),
        Kind::Status => rec.status.is_some(),
        Kind::BodyBytes { .. } => rec.body_bytes.is_some(),
        Kind::UpstreamStatus => rec.upstream_status.is_some(),
        Kind::Host => rec.host.is_some(),
        Kind::ServerAddr | Kind::ServerSocket => rec.server_addr.is_some(),
        Kind::ServerPort => rec.server_port.is_some(),
        Kind::ReqHeader(n) => rec.request_header(n).is_some(),
        Kind::RespHeader(n) => rec.response_header(n).is_some(),
        Kind::RequestBody => rec.request_body.is_some(),
        Kind::RequestLength => rec.request_length.is_some(),
        Kind::Connection => rec.connection.is_some(),
        Kind::ConnectionRequests | Kind::KeepaliveRequests => rec.connection_requests.is_some(),
        Kind::UpstreamAddr => rec.upstream_addr.is_some(),
        Kind::DurationPart(_) => false,
        Kind::ConnStatus | Kind::EdgeResult | Kind::IsArgs | Kind::Skip => true,
    }
}

/// Nested objects as dotted keys (`{"request":{"method":…}}` → `request.method`), two
/// levels deep (Caddy's `request.headers.User-Agent`); deeper objects are dropped.
fn flatten(obj: Map<String, Value>) -> Map<String, Value> {
    if !obj.values().any(Value::is_object) {
        return obj;
    }
    fn walk(prefix: &str, obj: Map<String, Value>, depth: u8, out: &mut Map<String, Value>) {
        for (k, v) in obj {
            let key = if prefix.is_empty() { k } else { format!("{prefix}.{k}") };
            match v {
                Value::Object(inner) if depth < 2 => walk(&key, inner, depth + 1, out),
                Value::Object(_) => {}
                v => {
                    out.insert(key, v);
                }
            }
        }
    }
    let mut out = Map::new();
    walk("", obj, 0, &mut out);
    out
}

/// The keys of a JSON line (nested ones dotted), or `None` when it is not a JSON object.
pub(crate) fn keys(line: &str) -> Option<Vec<String>> {
    let obj = serde_json::from_str::<Map<String, Value>>(line.trim()).ok()?;
    Some(flatten(obj).keys().cloned().collect())
}

/// A header kind for a header-like key, if it is one.
fn header_for_key(key: &str) -> Option<Kind> {
    let upper_start = |s: &str| s.bytes().next().is_some_and(|b| b.is_ascii_uppercase());
    if let Some(h) = key.strip_prefix("request.headers.").filter(|h| !h.is_empty()) {
        return Some(Kind::ReqHeader(header_kind_name(h)));
    }
    if let Some(h) = key.strip_prefix("resp_headers.").filter(|h| !h.is_empty()) {
        return Some(Kind::RespHeader(header_kind_name(h)));
    }
    if let Some(h) = key.strip_prefix("sent_http_") {
        return Some(Kind::RespHeader(header_kind_name(h)));
    }
    if let Some(h) = key.strip_prefix("http_") {
        return Some(Kind::ReqHeader(header_kind_name(h)));
    }
    if let Some(h) = key.strip_prefix("request_").filter(|h| upper_start(h)) {
        return Some(Kind::ReqHeader(header_kind_name(h)));
    }
    if let Some(h) = key.strip_prefix("downstream_").filter(|h| upper_start(h)) {
        return Some(Kind::RespHeader(header_kind_name(h)));
    }
    if let Some(h) = key.strip_prefix("resp_").filter(|h| !h.is_empty()) {
        return Some(Kind::RespHeader(header_kind_name(h)));
    }
    if let Some(h) = key.strip_prefix("req_").filter(|h| !h.is_empty()) {
        return Some(Kind::ReqHeader(header_kind_name(h)));
    }
    let lower = key.get(..2).map(str::to_ascii_lowercase);
    if matches!(lower.as_deref(), Some("x_") | Some("x-")) && key.len() > 2 {
        return Some(Kind::ReqHeader(header_kind_name(key)));
    }
    None
}

/// Which producer a JSON line most likely comes from, by its keys.
pub(crate) fn flavor(line: &str) -> &'static str {
    let Ok(obj) = serde_json::from_str::<Map<String, Value>>(line.trim()) else {
        return "json";
    };
    let caddy_logger =
        obj.get("logger").and_then(Value::as_str).is_some_and(|l| l.starts_with("http.log.access"));
    let nested_request =
        obj.get("request").and_then(Value::as_object).is_some_and(|r| r.contains_key("method"));
    if caddy_logger || nested_request {
        "caddy"
    } else if obj.contains_key("StartUTC") || obj.contains_key("StartLocal") {
        "traefik-json"
    } else if obj.contains_key("start_time") && obj.contains_key("response_code") {
        "envoy-json"
    } else if ["time_iso8601", "time_local", "msec"].iter().any(|k| obj.contains_key(*k)) {
        "nginx-json"
    } else {
        "json"
    }
}
