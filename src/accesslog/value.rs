//! One field value into a record: the per-line state of the text and JSON engines.
//!
//! Takes field values (already cut out of the line and unescaped) with their [`Kind`];
//! gives the [`LogRecord`] fields, and at the end of the line ([`Pending::finish`]) the
//! request parts and the request start derived from the logged times.

use std::borrow::Cow;

use chrono::format::Parsed;

use super::record::{LineError, LogRecord, TimeBasis, parse_ip_lenient, parse_socket_lenient};
use super::text::{Kind, TimeForm, is_method, minor_version, split_request_line};
use super::time::{
    TimeIs, Unit, parse_any_time, parse_clf, parse_decimal, parse_epoch_auto, parse_iso, parsed_to_nanos,
    strftime_into,
};

fn is_absent(v: &str) -> bool {
    v.is_empty() || v == "-"
}

/// Per-line working state: the request parts and times, assembled at the end.
#[derive(Default)]
pub(crate) struct Pending<'a> {
    pub request_line: Option<Cow<'a, str>>,
    pub method: Option<Cow<'a, str>>,
    pub uri: Option<Cow<'a, str>>,
    pub path: Option<Cow<'a, str>>,
    pub query: Option<Cow<'a, str>>,
    pub protocol: Option<Cow<'a, str>>,
    pub first_time: Option<(i64, TimeIs)>,
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Whether `start` / `end` were logged to the second only (CLF, ISO without fraction).
    pub start_whole: bool,
    pub end_whole: bool,
    /// Whether `first_time` was logged to the second only.
    pub first_whole: bool,
    pub parsed: Option<(Parsed, TimeIs)>,
    pub frac_nanos: Option<u32>,
    pub duration: Option<i64>,
}

const SEC: i64 = 1_000_000_000;

impl<'a> Pending<'a> {
    /// Notes one time field whose resolution is judged from its value (a whole second is
    /// taken as second resolution).
    pub fn note_time(&mut self, ns: i64, is: TimeIs) {
        self.note_time_res(ns, is, ns.rem_euclid(SEC) == 0);
    }

    /// Notes one time field as written (`raw`): second resolution when the text has no
    /// fraction and the value is a whole second.
    pub fn note_time_text(&mut self, ns: i64, is: TimeIs, raw: &str) {
        let whole = ns.rem_euclid(SEC) == 0 && !raw.contains(['.', ',']);
        self.note_time_res(ns, is, whole);
    }

    /// Notes one time field; `whole`: it was logged to the second only. The first field of
    /// each meaning wins, except that a later, finer value of the same second refines a
    /// whole-second one: nginx's `[$time_local] … $msec` (the `combined` fields with `$msec`
    /// appended, a common way to extend it) must give the millisecond time, not the second,
    /// or `time − $request_time` loses the order of requests within that second.
    pub fn note_time_res(&mut self, ns: i64, is: TimeIs, whole: bool) {
        if self.first_time.is_none() {
            self.first_time = Some((ns, is));
            self.first_whole = whole;
        }
        let (slot, slot_whole) = match is {
            TimeIs::Start => (&mut self.start, &mut self.start_whole),
            TimeIs::End => (&mut self.end, &mut self.end_whole),
            TimeIs::Unknown => return,
        };
        match slot {
            None => {
                *slot = Some(ns);
                *slot_whole = whole;
            }
            Some(old) => {
                if *slot_whole && !whole && ns.div_euclid(SEC) == old.div_euclid(SEC) {
                    *old = ns;
                    *slot_whole = false;
                }
            }
        }
    }

    /// Assembles method, target, version, host and times into `rec`.
    pub fn finish(mut self, rec: &mut LogRecord) -> Result<(), LineError> {
        // Request parts: explicit fields win; the request line fills in the rest.
        let (mut method, mut target, mut proto) = (None, None, None);
        if let Some(rl) = self.request_line.as_deref() {
            if let Some((m, u, p)) = split_request_line(rl) {
                method = Some(m);
                target = Some(u);
                proto = p;
            }
        }
        match self.method.as_deref() {
            Some(m) if is_method(m) => rec.method.push_str(m),
            _ => rec.method.push_str(method.unwrap_or("")),
        }
        if let Some(u) = self.uri.as_deref() {
            rec.uri.push_str(u);
        } else if let Some(p) = self.path.as_deref() {
            rec.uri.push_str(p);
            if let Some(q) = self.query.as_deref() {
                let q = q.strip_prefix('?').unwrap_or(q);
                if !q.is_empty() {
                    rec.uri.push('?');
                    rec.uri.push_str(q);
                }
            }
        } else if let Some(t) = target {
            rec.uri.push_str(t);
        }
        if let Some(p) = self.protocol.as_deref().or(proto) {
            rec.version = minor_version(p);
        }
        if rec.host.is_none() {
            if let Some(h) = rec.request_header("Host") {
                rec.host = Some(h.to_owned());
            }
        }
        // Times.
        if let Some((mut p, is)) = self.parsed.take() {
            if let Some(f) = self.frac_nanos {
                let _ = p.set_nanosecond(i64::from(f));
            }
            let ns = parsed_to_nanos(&p)
                .ok_or_else(|| LineError::malformed(rec.line, "time fields do not form a date and time"))?;
            let whole = self.frac_nanos.is_none() && ns.rem_euclid(SEC) == 0;
            self.note_time_res(ns, is, whole);
        } else if let Some(f) = self.frac_nanos {
            let f = i64::from(f);
            self.start_whole = false;
            self.end_whole = false;
            self.first_whole = false;
            if let Some((t, _)) = self.first_time.as_mut() {
                *t = t.saturating_add(f);
            }
            if let Some(t) = self.start.as_mut() {
                *t = t.saturating_add(f);
            }
            if let Some(t) = self.end.as_mut() {
                *t = t.saturating_add(f);
            }
        }
        let Some((logged, _)) = self.first_time else {
            return Err(LineError::malformed(rec.line, "no time value"));
        };
        rec.logged_time = crate::exchange::Timestamp(logged);
        rec.request_time = self.duration.map(|d| d as f64 / 1e9);
        let (time, basis, whole) = if let Some(s) = self.start {
            (s, TimeBasis::Start, self.start_whole)
        } else if let (Some(e), Some(d)) = (self.end, self.duration) {
            // An end logged to the second lies in [e, e + 1 s), so the start lies in
            // [e − d, e + 1 s − d). Subtracting only the whole seconds of d stays in that
            // range and keeps requests shorter than a second in log order: subtracting all of
            // d would sort them by duration instead (a 1 ms retry before the 9 ms auth call
            // that preceded it).
            let d = if self.end_whole { d - d.rem_euclid(SEC) } else { d };
            (e.saturating_sub(d), TimeBasis::EndMinusDuration, self.end_whole)
        } else if let Some(e) = self.end {
            (e, TimeBasis::End, self.end_whole)
        } else {
            (logged, TimeBasis::Unknown, self.first_whole)
        };
        rec.whole_second = whole;
        rec.time = crate::exchange::Timestamp(time);
        rec.time_basis = basis;
        Ok(())
    }
}

/// A non-negative count, `+` prefix tolerated (HAProxy marks values of aborted sessions).
pub(crate) fn count(v: &str) -> Option<u64> {
    let s = v.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Stores one field value (already unescaped) into the record or the pending state.
pub(crate) fn apply_value<'a>(
    kind: &Kind,
    label: &str,
    v: Cow<'a, str>,
    rec: &mut LogRecord,
    st: &mut Pending<'a>,
) -> Result<(), LineError> {
    let line = rec.line;
    let bad = |what: &str| LineError::malformed(line, format!("{label}: {what}"));
    if *kind == Kind::RequestBody {
        rec.body_logged = true;
    }
    if is_absent(&v) {
        match kind {
            Kind::BodyBytes { dash_is_zero: true } if &*v == "-" => rec.body_bytes = Some(0),
            // A logged response header shown as `-` was absent: keep it, empty, so a reader
            // can tell "absent" (the format logs it) from "not logged" (it does not). That
            // difference is evidence: a missing verdict header is the PowerJob 5.1.0 bug.
            Kind::RespHeader(name) => rec.response_headers.push((name.to_string(), String::new())),
            _ => {}
        }
        return Ok(());
    }
    match kind {
        Kind::RemoteAddr
        | Kind::RemoteSocket
        | Kind::RemotePort
        | Kind::ServerAddr
        | Kind::ServerSocket
        | Kind::ServerPort
        | Kind::Host => apply_endpoint(kind, v, rec),
        Kind::Time(form, is) => apply_time(form, *is, &v, st).map_err(bad)?,
        Kind::RequestLine => st.request_line = Some(v),
        Kind::Method => st.method = Some(v),
        Kind::Uri => st.uri = Some(v),
        Kind::Path => st.path = Some(v),
        Kind::Query { .. } => st.query = Some(v),
        Kind::IsArgs => {}
        Kind::Protocol => st.protocol = Some(v),
        Kind::Status => {
            let s = v.trim();
            if s.is_empty() || s.len() > 5 || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad("not a status code"));
            }
            rec.status = Some(s.parse().map_err(|_| bad("not a status code"))?);
        }
        Kind::BodyBytes { .. } => {
            let s = v.trim();
            if !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad("not a byte count"));
            }
            rec.body_bytes = Some(s.parse().map_err(|_| bad("not a byte count"))?);
        }
        Kind::Duration(u) => {
            // Sub-second units are whole numbers in every text format (`%D`, `%DURATION%`,
            // Traefik's `…ms`); a fraction means this is not the field we think it is.
            if *u != Unit::Seconds && v.contains('.') {
                return Err(bad("not a whole number"));
            }
            st.duration = Some(parse_decimal(&v, *u).ok_or_else(|| bad("not a duration"))?);
        }
        Kind::UpstreamStatus => rec.upstream_status = Some(v.into_owned()),
        Kind::ReqHeader(name) => rec.request_headers.push((name.to_string(), v.into_owned())),
        Kind::RespHeader(name) => rec.response_headers.push((name.to_string(), v.into_owned())),
        Kind::RequestBody => rec.request_body = Some(v.into_owned()),
        Kind::RequestLength => rec.request_length = Some(count(&v).ok_or_else(|| bad("not a byte count"))?),
        Kind::Connection => rec.connection = Some(count(&v).ok_or_else(|| bad("not a connection number"))?),
        Kind::ConnectionRequests | Kind::KeepaliveRequests => {
            let n = count(&v).ok_or_else(|| bad("not a request count"))?;
            let n = if *kind == Kind::KeepaliveRequests { n.saturating_add(1) } else { n };
            rec.connection_requests = Some(u32::try_from(n).unwrap_or(u32::MAX));
        }
        Kind::UpstreamAddr => rec.upstream_addr = Some(v.into_owned()),
        Kind::ConnStatus => rec.client_aborted |= v.trim() == "X",
        Kind::DurationPart(u) => {
            // `-1`: the phase did not happen (ALB: the connection closed before it).
            if !v.trim().starts_with('-') {
                let d = parse_decimal(&v, *u).ok_or_else(|| bad("not a duration"))?;
                st.duration = Some(st.duration.unwrap_or(0).saturating_add(d));
            }
        }
        Kind::EdgeResult => rec.client_aborted |= v.trim() == "ClientCommError",
        Kind::Skip => {}
    }
    Ok(())
}

/// A client or server endpoint field, or the host: the first value logged wins.
#[inline]
fn apply_endpoint(kind: &Kind, v: Cow<'_, str>, rec: &mut LogRecord) {
    match kind {
        Kind::RemoteAddr if rec.remote_addr.is_none() => rec.remote_addr = parse_ip_lenient(&v),
        Kind::RemoteSocket => {
            let (ip, port) = parse_socket_lenient(&v);
            if rec.remote_addr.is_none() {
                rec.remote_addr = ip;
            }
            if rec.remote_port.is_none() {
                rec.remote_port = port;
            }
        }
        Kind::RemotePort if rec.remote_port.is_none() => rec.remote_port = v.trim().parse().ok(),
        Kind::ServerAddr if rec.server_addr.is_none() => rec.server_addr = Some(v.into_owned()),
        Kind::ServerSocket => {
            let (ip, port) = parse_socket_lenient(&v);
            if rec.server_addr.is_none() {
                rec.server_addr = Some(match ip {
                    Some(ip) if port.is_some() => ip.to_string(),
                    _ => v.into_owned(),
                });
            }
            if rec.server_port.is_none() {
                rec.server_port = port;
            }
        }
        Kind::ServerPort if rec.server_port.is_none() => rec.server_port = v.trim().parse().ok(),
        Kind::Host if rec.host.is_none() => rec.host = Some(v.into_owned()),
        _ => {}
    }
}

/// A time field into the pending state; the error says what the value is not.
#[inline]
fn apply_time(form: &TimeForm, is: TimeIs, v: &str, st: &mut Pending<'_>) -> Result<(), &'static str> {
    match form {
        TimeForm::Clf => st.note_time_res(parse_clf(v).ok_or("not a CLF time")?, is, true),
        TimeForm::Iso => st.note_time_text(parse_iso(v).ok_or("not an ISO 8601 time")?, is, v),
        TimeForm::Any => st.note_time_text(parse_any_time(v).ok_or("not a time")?, is, v),
        TimeForm::Epoch(u) => {
            let ns = parse_decimal(v, *u).or_else(|| parse_epoch_auto(v)).ok_or("not an epoch time")?;
            let whole = *u == Unit::Seconds && !v.contains('.') && ns.rem_euclid(SEC) == 0;
            st.note_time_res(ns, is, whole)
        }
        TimeForm::Strftime(fmt) => {
            let (p, _) = st.parsed.get_or_insert_with(|| (Parsed::new(), is));
            if !strftime_into(p, v, fmt) {
                return Err("does not match its time pattern");
            }
        }
        TimeForm::FracMillis | TimeForm::FracMicros => {
            let unit = if *form == TimeForm::FracMillis { Unit::Millis } else { Unit::Micros };
            if v.len() > 6 {
                return Err("not a fraction of a second");
            }
            let ns = parse_decimal(v, unit).ok_or("not a fraction of a second")?;
            st.frac_nanos = u32::try_from(ns).ok().filter(|&n| n < 1_000_000_000);
        }
    }
    Ok(())
}
