//! Time and duration fields: the spellings access logs use, to nanoseconds since the epoch.
//!
//! Takes field text; gives nanoseconds (UTC) or `None`. Covers the Common Log Format time
//! (`10/Oct/2000:13:55:36 -0700`, with or without brackets, hand-parsed because it is on
//! every line of the common formats), RFC 3339 / ISO 8601, epoch numbers (`$msec`
//! `1718000000.123`), strftime patterns through chrono's `Parsed` (so split fields such as
//! Apache's `%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{%z}t` combine), Tomcat's
//! SimpleDateFormat patterns (translated to strftime), and decimal durations in any unit
//! without going through floating point.

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Whether a logged time is the request start or the log-write (end) time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeIs {
    /// Written when the request was received.
    Start,
    /// Written when the entry was logged, after the response was sent.
    End,
    /// The format does not say.
    Unknown,
}

/// The unit of a logged duration (or epoch number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Seconds, possibly with a fraction (`0.005`).
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

impl Unit {
    fn nanos(self) -> i128 {
        match self {
            Unit::Seconds => 1_000_000_000,
            Unit::Millis => 1_000_000,
            Unit::Micros => 1_000,
            Unit::Nanos => 1,
        }
    }

    /// Parses `s`, `ms`, `us`/`µs`, `ns` (also `sec`, `msec`, `usec`, `nsec`).
    pub fn from_name(name: &str) -> Option<Unit> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "seconds" => Unit::Seconds,
            "ms" | "msec" | "millis" => Unit::Millis,
            "us" | "µs" | "usec" | "micros" => Unit::Micros,
            "ns" | "nsec" | "nanos" => Unit::Nanos,
            _ => return None,
        })
    }
}

/// A non-negative decimal (`12`, `0.005`, `.5`) in `unit`, as nanoseconds.
pub(crate) fn parse_decimal(s: &str, unit: Unit) -> Option<i64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let per = unit.nanos();
    let mut whole: i128 = 0;
    for b in int.bytes() {
        whole = whole * 10 + i128::from(b - b'0');
        if whole > i128::from(i64::MAX) {
            return None;
        }
    }
    let mut total = whole.checked_mul(per)?;
    let mut scale = per;
    for b in frac.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        total += i128::from(b - b'0') * scale;
    }
    i64::try_from(total).ok()
}

/// A duration number from JSON (`0.005`, `12`), in `unit`, as nanoseconds.
pub(crate) fn float_to_nanos(v: f64, unit: Unit) -> Option<i64> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let ns = v * unit.nanos() as f64;
    if ns >= i64::MAX as f64 {
        return None;
    }
    Some(ns.round() as i64)
}

/// The unit an epoch number most likely has, from its integer magnitude (seconds until
/// year 5138, then milliseconds, microseconds, nanoseconds).
fn epoch_unit(int_part: f64) -> Unit {
    if int_part < 1e11 {
        Unit::Seconds
    } else if int_part < 1e14 {
        Unit::Millis
    } else if int_part < 1e17 {
        Unit::Micros
    } else {
        Unit::Nanos
    }
}

/// An epoch number given as text, unit guessed from its magnitude.
pub(crate) fn parse_epoch_auto(s: &str) -> Option<i64> {
    let s = s.trim();
    let int = s.split_once('.').map_or(s, |(i, _)| i);
    let magnitude: f64 = int.parse().ok()?;
    parse_decimal(s, epoch_unit(magnitude))
}

/// An epoch number from JSON, unit guessed from its magnitude.
pub(crate) fn epoch_float_auto(v: f64) -> Option<i64> {
    float_to_nanos(v, epoch_unit(v.trunc()))
}

/// Reads `n` ASCII digits at `*i` (advancing it).
fn digits(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let mut v: u32 = 0;
    let mut n = 0;
    while n < max {
        match b.get(*i) {
            Some(&c) if c.is_ascii_digit() => {
                v = v * 10 + u32::from(c - b'0');
                *i += 1;
                n += 1;
            }
            _ => break,
        }
    }
    (n >= min).then_some(v)
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    if b.get(*i) == Some(&c) {
        *i += 1;
        Some(())
    } else {
        None
    }
}

fn month(m: &[u8]) -> Option<u32> {
    let m = [m.first()?.to_ascii_lowercase(), m.get(1)?.to_ascii_lowercase(), m.get(2)?.to_ascii_lowercase()];
    Some(match &m {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

/// Nanoseconds (UTC) for a civil date-time at a UTC offset in seconds.
fn civil_to_nanos(date: (i32, u32, u32), time: (u32, u32, u32), nanos: u32, offset: i64) -> Option<i64> {
    let (y, mo, d) = date;
    let (h, mi, s) = time;
    let secs = NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, s)?.and_utc().timestamp();
    (secs - offset).checked_mul(1_000_000_000)?.checked_add(i64::from(nanos))
}

/// Common Log Format time `10/Oct/2000:13:55:36 -0700`, optionally in brackets, optionally
/// with a fraction after the seconds (`13:55:36.123`).
pub(crate) fn parse_clf(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let b = b.strip_prefix(b"[").unwrap_or(b);
    let b = b.strip_suffix(b"]").unwrap_or(b);
    let mut i = 0;
    let day = digits(b, &mut i, 1, 2)?;
    expect(b, &mut i, b'/')?;
    let mon = month(b.get(i..i + 3)?)?;
    i += 3;
    expect(b, &mut i, b'/')?;
    let year = digits(b, &mut i, 4, 4)?;
    expect(b, &mut i, b':')?;
    let h = digits(b, &mut i, 2, 2)?;
    expect(b, &mut i, b':')?;
    let mi = digits(b, &mut i, 2, 2)?;
    expect(b, &mut i, b':')?;
    let sec = digits(b, &mut i, 2, 2)?;
    let mut nanos = 0u32;
    if matches!(b.get(i), Some(b'.') | Some(b',')) {
        i += 1;
        let mut scale = 100_000_000u32;
        let start = i;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            nanos += u32::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    expect(b, &mut i, b' ')?;
    let sign: i64 = match b.get(i) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    i += 1;
    let oh = digits(b, &mut i, 2, 2)?;
    if b.get(i) == Some(&b':') {
        i += 1;
    }
    let om = digits(b, &mut i, 2, 2)?;
    if i != b.len() || oh > 23 || om > 59 {
        return None;
    }
    let offset = sign * (i64::from(oh) * 3600 + i64::from(om) * 60);
    civil_to_nanos((year as i32, mon, day), (h, mi, sec), nanos, offset)
}

/// RFC 3339 / ISO 8601 (`2024-06-10T12:00:00+08:00`, `2016-04-15T20:17:00.310Z`,
/// `+0800` offsets, a space for `T`); a time without an offset is taken as UTC.
pub(crate) fn parse_iso(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return dt.timestamp_nanos_opt();
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, f) {
            return dt.timestamp_nanos_opt();
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, f) {
            return dt.and_utc().timestamp_nanos_opt();
        }
    }
    None
}

/// Any time spelling a JSON log may use: RFC 3339, CLF, or an epoch number as text.
pub(crate) fn parse_any_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let first = s.bytes().next()?;
    if s.len() >= 10 && s.as_bytes().get(4) == Some(&b'-') {
        return parse_iso(s);
    }
    if first == b'[' || s.as_bytes().get(2) == Some(&b'/') || s.as_bytes().get(1) == Some(&b'/') {
        return parse_clf(s);
    }
    parse_epoch_auto(s)
}

/// Whether chrono understands every directive of a strftime pattern.
pub(crate) fn strftime_ok(fmt: &str) -> bool {
    StrftimeItems::new(fmt).all(|i| !matches!(i, Item::Error))
}

/// Adds the fields `s` shows under strftime pattern `fmt` to `parsed`.
pub(crate) fn strftime_into(parsed: &mut Parsed, s: &str, fmt: &str) -> bool {
    chrono::format::parse(parsed, s, StrftimeItems::new(fmt)).is_ok()
}

/// The instant the collected strftime fields describe (UTC when no offset was logged).
pub(crate) fn parsed_to_nanos(p: &Parsed) -> Option<i64> {
    if p.offset().is_some() {
        return p.to_datetime().ok()?.timestamp_nanos_opt();
    }
    p.to_naive_datetime_with_offset(0).ok()?.and_utc().timestamp_nanos_opt()
}

/// Translates a Java `SimpleDateFormat` pattern (Tomcat `%{…}t`) to strftime.
pub(crate) fn sdf_to_strftime(sdf: &str) -> Result<String, String> {
    let chars: Vec<char> = sdf.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c == '\'' {
            // Quoted literal; '' is a quote.
            if chars.get(i + 1) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            while let Some(&q) = chars.get(i) {
                if q == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        out.push('\'');
                        i += 2;
                        continue;
                    }
                    break;
                }
                if q == '%' {
                    out.push_str("%%");
                } else {
                    out.push(q);
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            if c == '%' {
                out.push_str("%%");
            } else {
                out.push(c);
            }
            i += 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        let piece = match (c, n) {
            ('y', 2) => "%y",
            ('y', _) => "%Y",
            ('M', 1..=2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', _) => "%d",
            ('H', _) | ('k', _) => "%H",
            ('h', _) | ('K', _) => "%I",
            ('m', _) => "%M",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', _) => "%z",
            ('X', _) | ('x', _) => "%#z",
            _ => return Err(format!("SimpleDateFormat letter {c:?} is not supported")),
        };
        out.push_str(piece);
        i += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_times() {
        let t = parse_clf("10/Oct/2000:13:55:36 -0700").unwrap();
        assert_eq!(t, 971_211_336 * 1_000_000_000);
        assert_eq!(parse_clf("[10/Oct/2000:13:55:36 -0700]"), Some(t));
        assert_eq!(parse_clf("10/Oct/2000:20:55:36 +0000"), Some(t));
        assert_eq!(parse_clf("10/Oct/2000:20:55:36.250 +0000"), Some(t + 250_000_000));
        assert_eq!(parse_clf("10/Oct/2000:13:55:36 -0700 x"), None);
        assert_eq!(parse_clf("32/Oct/2000:13:55:36 -0700"), None);
        assert_eq!(parse_clf("10/Foo/2000:13:55:36 -0700"), None);
        assert_eq!(parse_clf(""), None);
        assert_eq!(parse_clf("1"), None);
    }

    #[test]
    fn iso_and_epoch() {
        let t = 971_211_336 * 1_000_000_000;
        assert_eq!(parse_iso("2000-10-10T13:55:36-07:00"), Some(t));
        assert_eq!(parse_iso("2000-10-10T20:55:36Z"), Some(t));
        assert_eq!(parse_iso("2000-10-10T20:55:36.5Z"), Some(t + 500_000_000));
        assert_eq!(parse_iso("2000-10-10T13:55:36-0700"), Some(t));
        assert_eq!(parse_iso("2000-10-10 20:55:36"), Some(t));
        assert_eq!(parse_any_time("971211336.123"), Some(t + 123_000_000));
        assert_eq!(parse_any_time("971211336123"), Some(t + 123_000_000));
        assert_eq!(epoch_float_auto(971_211_336.5), Some(t + 500_000_000));
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("0.005", Unit::Seconds), Some(5_000_000));
        assert_eq!(parse_decimal("15", Unit::Millis), Some(15_000_000));
        assert_eq!(parse_decimal("1500", Unit::Micros), Some(1_500_000));
        assert_eq!(parse_decimal(".5", Unit::Seconds), Some(500_000_000));
        assert_eq!(parse_decimal("1.0000000001", Unit::Seconds), Some(1_000_000_000));
        assert_eq!(parse_decimal("-1", Unit::Seconds), None);
        assert_eq!(parse_decimal(".", Unit::Seconds), None);
        assert_eq!(parse_decimal("99999999999999999999999", Unit::Seconds), None);
    }

    #[test]
    fn sdf() {
        assert_eq!(sdf_to_strftime("yyyy-MM-dd HH:mm:ss.SSS Z").unwrap(), "%Y-%m-%d %H:%M:%S.%3f %z");
        assert_eq!(sdf_to_strftime("dd/MMM/yyyy'T'HH").unwrap(), "%d/%b/%YT%H");
        assert!(sdf_to_strftime("G").is_err());
    }
}
