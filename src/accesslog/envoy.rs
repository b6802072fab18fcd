//! Envoy format strings and Traefik's common log format → text formats.
//!
//! Takes an Envoy format string (`%START_TIME%`, `%REQ(X)%`, `%RESP(X)%`, …; the default
//! format when none is configured is [`super::ENVOY_DEFAULT`]); gives a [`TextFormat`].
//! Also builds Traefik's fixed common log format.
//!
//! Time semantics: Envoy `%START_TIME%` is the "request start time including
//! milliseconds" and `%DURATION%` the milliseconds "from the start time to the last byte
//! out"; Traefik's CLF timestamp is `StartUTC` and its last field `<duration>ms`. Both
//! log the START ([`TimeBasis::Start`]); the duration is kept in `request_time`.
//! Neither escapes quotes or backslashes, so values are taken as written.
//!
//! [`TimeBasis::Start`]: super::TimeBasis::Start

use super::record::FormatError;
use super::text::{Builder, Dialect, Kind, TextFormat, TimeForm, header_kind_name};
use super::time::{TimeIs, Unit, strftime_ok};

fn operator_kind(name: &str, arg: Option<&str>) -> Result<Kind, FormatError> {
    Ok(match (name, arg) {
        ("START_TIME", None) => Kind::Time(TimeForm::Iso, TimeIs::Start),
        ("START_TIME", Some(f)) => {
            if !strftime_ok(f) {
                return Err(FormatError::Syntax {
                    at: 0,
                    reason: format!("START_TIME format {f:?} is not understood"),
                });
            }
            Kind::Time(TimeForm::Strftime(f.into()), TimeIs::Start)
        }
        ("REQ", Some(h)) => {
            // `X?Y`: X, else Y. The main header decides the meaning.
            let main = h.split('?').find(|p| !p.is_empty()).unwrap_or(h);
            let other = h.split('?').nth(1).unwrap_or("");
            let is = |n: &str| main.eq_ignore_ascii_case(n) || other.eq_ignore_ascii_case(n);
            if is(":METHOD") {
                Kind::Method
            } else if is(":PATH") {
                Kind::Uri
            } else if is(":AUTHORITY") || main.eq_ignore_ascii_case("HOST") {
                Kind::Host
            } else {
                Kind::ReqHeader(header_kind_name(main.trim_start_matches(':')))
            }
        }
        ("RESP", Some(h)) => Kind::RespHeader(header_kind_name(h.split('?').next().unwrap_or(h))),
        ("PROTOCOL", _) => Kind::Protocol,
        ("RESPONSE_CODE", _) => Kind::Status,
        ("BYTES_SENT", _) => Kind::BodyBytes { dash_is_zero: false },
        ("DURATION", _) => Kind::Duration(Unit::Millis),
        ("DOWNSTREAM_REMOTE_ADDRESS", _) => Kind::RemoteSocket,
        ("DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", _) => Kind::RemoteAddr,
        ("DOWNSTREAM_REMOTE_PORT", _) => Kind::RemotePort,
        ("DOWNSTREAM_LOCAL_ADDRESS", _) => Kind::ServerSocket,
        ("DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", _) => Kind::ServerAddr,
        ("DOWNSTREAM_LOCAL_PORT", _) => Kind::ServerPort,
        _ => Kind::Skip,
    })
}

/// Compiles an Envoy format string.
pub(crate) fn compile(fmt: &str) -> Result<TextFormat, FormatError> {
    let fmt = fmt.trim_end_matches(['\n', '\r']);
    let b = fmt.as_bytes();
    let mut out = Builder::new();
    let mut i = 0;
    let mut lit_start = 0;
    while let Some(&c) = b.get(i) {
        if c != b'%' {
            i += 1;
            continue;
        }
        // %NAME%, %NAME(ARG)%, %NAME(ARG):LEN%
        let name_len = b
            .get(i + 1..)
            .unwrap_or(&[])
            .iter()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b'_')
            .count();
        let mut j = i + 1 + name_len;
        let mut arg = None;
        if name_len > 0 && b.get(j) == Some(&b'(') {
            match fmt.get(j + 1..).and_then(|r| r.find(')')) {
                Some(close) => {
                    arg = fmt.get(j + 1..j + 1 + close);
                    j += close + 2;
                }
                None => j = usize::MAX,
            }
        }
        if j != usize::MAX && b.get(j) == Some(&b':') {
            let n = b.get(j + 1..).unwrap_or(&[]).iter().take_while(|c| c.is_ascii_digit()).count();
            j += 1 + n;
        }
        if name_len == 0 || j == usize::MAX || b.get(j) != Some(&b'%') {
            // Not an operator: a literal percent sign.
            i += 1;
            continue;
        }
        let name = fmt.get(i + 1..i + 1 + name_len).unwrap_or("");
        out.lit(fmt.get(lit_start..i).unwrap_or(""));
        out.field(operator_kind(name, arg)?, fmt.get(i..=j).unwrap_or(name));
        i = j + 1;
        lit_start = i;
    }
    out.lit(fmt.get(lit_start..).unwrap_or(""));
    out.finish(Dialect::Envoy, false)
}

/// Traefik's common log format (its default):
/// `<ip> - <user> [<StartUTC>] "<method> <path> <proto>" <status> <size> "<referer>"
/// "<user-agent>" <count> "<router>" "<server URL>" <duration>ms`.
pub(crate) fn traefik() -> Result<TextFormat, FormatError> {
    let mut b = Builder::new();
    b.field(Kind::RemoteAddr, "<remote_IP_address>");
    b.lit(" - ");
    b.field(Kind::Skip, "<client_user_name>");
    b.lit(" [");
    b.field(Kind::Time(TimeForm::Clf, TimeIs::Start), "<timestamp>");
    b.lit("] \"");
    b.field(Kind::RequestLine, "<request>");
    b.lit("\" ");
    b.field(Kind::Status, "<HTTP_status>");
    b.lit(" ");
    b.field(Kind::BodyBytes { dash_is_zero: false }, "<content-length>");
    b.lit(" \"");
    b.field(Kind::ReqHeader("Referer".into()), "<request_referrer>");
    b.lit("\" \"");
    b.field(Kind::ReqHeader("User-Agent".into()), "<request_user_agent>");
    b.lit("\" ");
    b.field(Kind::Skip, "<number_of_requests>");
    b.lit(" \"");
    b.field(Kind::Skip, "<router_name>");
    b.lit("\" \"");
    b.field(Kind::Skip, "<server_URL>");
    b.lit("\" ");
    b.field(Kind::Duration(Unit::Millis), "<request_duration_in_ms>");
    b.lit("ms");
    b.finish(Dialect::Traefik, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators() {
        let f = compile(super::super::ENVOY_DEFAULT).unwrap();
        assert_eq!(f.field_labels().first(), Some(&"%START_TIME%"));
        assert!(f.field_labels().contains(&"%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"));
        let f = compile("[%START_TIME(%s)%] 100% %REQ(:PATH):10% %%").unwrap();
        assert_eq!(f.field_labels(), vec!["%START_TIME(%s)%", "%REQ(:PATH):10%"]);
        assert!(compile("%RESPONSE_CODE%").is_err());
    }
}
