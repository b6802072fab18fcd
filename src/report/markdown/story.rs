//! The diagnosis in plain words: what the repeats of one cause have in common ([`Story`]),
//! and the story they tell with its known fix ([`story_text`]), in PowerJob's own words or
//! generic ones ([`Wording`]); and how each kind of warning limits the evidence.

use super::markup::code;
use crate::correlate::{Cause, Label};
use crate::diag::WarningKind;

const ISSUE_1062: &str = "https://github.com/PowerJob/PowerJob/issues/1062";
const ISSUE_1018: &str = "https://github.com/PowerJob/PowerJob/issues/1018";
const ISSUE_984: &str = "https://github.com/PowerJob/PowerJob/issues/984";
const COMMIT_FIX: &str = "https://github.com/PowerJob/PowerJob/commit/8f3981dd";

/// What the repeats of one cause have in common, for the diagnosis.
#[derive(Clone, Debug, Default)]
pub(super) struct Story {
    pub rows: u64,
    pub twice: u64,
    pub once: u64,
    pub unknown: u64,
    pub inferred: u64,
    /// Repeats sent to another server than their attempt.
    pub elsewhere: u64,
    pub ids: Vec<u64>,
    pub endpoints: Vec<String>,
    /// Error codes of the attempts (rejections), a few.
    pub codes: Vec<String>,
    /// The header name seen in another letter case.
    pub seen_as: Option<String>,
    /// Attempts answered late (after the repeat was sent) vs never.
    pub late: u64,
    pub never: u64,
}

/// Stories are told per cause; "unknown" is split by label (ambiguous vs log patterns).
pub(super) type StoryKey = (Cause, Label);

/// Whose words a story is told in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wording {
    /// PowerJob's own: its headers, client versions, configuration keys, issues and fixes.
    PowerJob,
    /// Any token-refresh client's: the marker header by its profile name, RFC 6750.
    Generic,
}

impl Wording {
    /// The wording for the profile named `profile` (`powerjob` has its own).
    pub fn of_profile(profile: &str) -> Self {
        if profile == "powerjob" { Wording::PowerJob } else { Wording::Generic }
    }
}

/// How a kind of warning limits the evidence, in words.
pub(super) fn warning_limits(kind: WarningKind) -> &'static str {
    match kind {
        WarningKind::TruncatedFile => {
            "The capture ends mid-record: the last exchanges may lack their response."
        }
        WarningKind::SnaplenCut => {
            "Packets were cut by the snapshot length: bodies (success flags, error codes) may be missing. Capture with `tcpdump -s 0`."
        }
        WarningKind::TcpGap => {
            "Bytes were never captured: exchanges across a gap are incomplete, and repeats of them may be ambiguous."
        }
        WarningKind::ConflictingOverlap => {
            "Retransmissions carried different bytes: what was kept may differ from what the peer processed."
        }
        WarningKind::HttpParseError => "Bytes that should have been HTTP were not: calls there are missing.",
        WarningKind::ResponseWithoutRequest => {
            "Responses whose request was not captured: those calls are missing from the rows."
        }
        WarningKind::RequestWithoutResponse => {
            "Requests without a response: their outcome is `no-response`, so whether they took effect is unknown."
        }
        WarningKind::ConnectionLimit => {
            "Connections were closed early (`--max-conns`): exchanges may be cut."
        }
        WarningKind::BodyCap => {
            "Bodies longer than `--body-cap` were cut: a verdict beyond the cap is not seen."
        }
        WarningKind::BufferLimit => {
            "A per-connection limit was reached (`--max-buffer`, `--max-head`, `--max-pipeline`): exchanges may be cut."
        }
        WarningKind::DecodeError => "Packets that could not be decoded are missing.",
        WarningKind::UnsupportedLinkType => {
            "An interface's link type is not decoded: its traffic is missing."
        }
        WarningKind::IpFragment => "IP fragments are not reassembled: their bytes are gaps.",
        WarningKind::MalformedLogLine => {
            "Log lines that did not match the format are missing (`--log-format` names the format)."
        }
        WarningKind::DecompressionLimit => {
            "A compressed body reached the decompression cap: its verdict may be unseen."
        }
        WarningKind::InputAnomaly => "Something unexpected in the input container; see the detail.",
        WarningKind::KeyLog => "Key log lines that could not be read: their connections may stay encrypted.",
        WarningKind::LenientHead => {
            "Some heads had irregular line endings and were read leniently: a strict server may have read them differently."
        }
        WarningKind::ProtocolSwitch => {
            "Connections switched protocol (101 `Upgrade`, CONNECT): calls made after the switch are missing."
        }
        WarningKind::TlsNotDecrypted | WarningKind::TlsSummary => {
            "TLS connections not decrypted: their calls are missing (see docs/tls.md for key logs)."
        }
        WarningKind::TlsUnparsed => {
            "Decrypted connections in a protocol not parsed yet (HTTP/2): their calls are missing."
        }
        WarningKind::TlsRecord => {
            "TLS records that could not be decrypted are gaps: calls there may be incomplete."
        }
    }
}

/// `rows 7, 10` (and `…` when more), `row 7` for one.
fn row_list(s: &Story) -> String {
    let ids: Vec<String> = s.ids.iter().map(u64::to_string).collect();
    let more = if s.rows > s.ids.len() as u64 { ", …" } else { "" };
    let word = if s.rows == 1 { "row" } else { "rows" };
    format!("{word} {}{more}", ids.join(", "))
}

fn endpoint_list(s: &Story) -> String {
    let eps: Vec<String> = s.endpoints.iter().take(3).map(|e| code(e)).collect();
    let more = if s.endpoints.len() > 3 { ", …" } else { "" };
    format!("{}{more}", eps.join(", "))
}

/// `all executed twice`, `none executed twice`, `executed twice: 1, once: 1, unknown: 1`.
fn double_counts(s: &Story) -> String {
    let one = s.rows == 1;
    if s.twice == s.rows {
        return if one { "executed twice" } else { "all executed twice" }.to_string();
    }
    if s.once == s.rows {
        return if one { "not executed twice" } else { "none executed twice" }.to_string();
    }
    if s.unknown == s.rows {
        return "whether the first attempt took effect is unknown".to_string();
    }
    let mut parts = vec![format!("executed twice: {}", s.twice)];
    if s.once > 0 {
        parts.push(format!("once: {}", s.once));
    }
    if s.unknown > 0 {
        parts.push(format!("unknown: {}", s.unknown));
    }
    parts.join(", ")
}

fn cases(n: u64) -> String {
    if n == 1 { "1 case".to_string() } else { format!("{n} cases") }
}

fn calls(n: u64) -> String {
    if n == 1 { "1 call".to_string() } else { format!("{n} calls") }
}

/// The plain-words story of one cause, with its known fix.
pub(super) fn story_text(key: StoryKey, s: &Story, wording: Wording, marker_name: Option<&str>) -> String {
    let (cause, label) = key;
    let marker = code(marker_name.unwrap_or("marker header"));
    let facts = format!("{} ({}; {}), {}.", calls(s.rows), row_list(s), endpoint_list(s), double_counts(s));
    match (cause, wording) {
        (Cause::MarkerMissing, Wording::PowerJob) => powerjob_marker_missing(&facts),
        (Cause::MarkerMissing, Wording::Generic) => format!(
            "**Success without the client's marker header: refreshed and re-sent.** {facts} \
             The first attempt succeeded but its response lacked {marker} with the value the client requires, so the client fetched a new token and re-sent the call. \
             **Fix:** make the server (and every proxy in between) send {marker} on every successful response."
        ),
        (Cause::MarkerCase, Wording::PowerJob) => powerjob_marker_case(s, &facts),
        (Cause::MarkerCase, Wording::Generic) => format!(
            "**The client's marker header arrived in another letter case: refreshed and re-sent.** {facts} \
             The server set {marker}, but a hop in between rewrote its name and the client looks it up case-sensitively, so it fetched a new token and re-sent the call. \
             **Fix:** make every hop pass {marker} unchanged."
        ),
        (Cause::TokenRejected, _) => token_rejected(s, &facts, wording),
        (Cause::Timeout, _) => timeout(s, &facts, wording),
        (Cause::ErrorResponse, _) => {
            let pj_words = match wording {
                Wording::PowerJob => {
                    " The PowerJob v5 client does not re-send after a non-200 status (it throws), so these re-sends came from the application or a retry wrapper around the client."
                }
                Wording::Generic => "",
            };
            format!(
                "**Re-sent after an error response.** {facts} The first attempt failed (a server error, client error, application error, or a rejection without a token refresh) and the same call was sent again without a refresh. A failed attempt may still have done part of the work.{pj_words} \
                 **Fix:** see why the first attempt failed (the evidence names the status and code) and make the retry safe to repeat."
            )
        }
        (Cause::Application, _) => format!(
            "**Genuine duplicates: the application sent the same call again.** {facts} \
             Every such call repeats an identical call by the same caller that had already completed; no client retry rule explains it (an auth call in between, if any, was a proactive refresh, not a retry). \
             **Fix:** look at the application: a double submit, a duplicated schedule or message, a retry loop around the client. `--caller app` merges an app's replicas to find duplicates sent by two of them."
        ),
        (Cause::RetryMarker, _) => format!(
            "**Retried by the client library or a proxy (named by a retry marker).** {facts} \
             The repeat carried the same `Idempotency-Key` as the first attempt, or a proxy attempt count above 1 (`X-Envoy-Attempt-Count`). \
             **Fix:** a server that honours `Idempotency-Key` does the work once; otherwise make the endpoint idempotent or stop retrying non-idempotent calls."
        ),
        (Cause::TransportResend, _) => format!(
            "**The HTTP library silently re-sent after the server dropped the connection.** {facts} \
             The server closed or reset a connection after the request was written, without answering it; the client's HTTP library (OkHttp `retryOnConnectionFailure`, urllib3, a Node agent) or a proxy (`proxy_next_upstream`) re-sent the call on a new connection within milliseconds, without the application knowing. The server may have applied the first attempt before it dropped the connection. \
             **To decide and fix:** the server's log shows whether it ran the first attempt; find why it drops keep-alive connections (an idle timeout shorter than the client's, a restart, a proxy), or make the call idempotent."
        ),
        (Cause::Refused, _) => format!(
            "**Re-sent after the server refused the stream (HTTP/2): harmless.** {facts} \
             The server answered the first attempt with `RST_STREAM(REFUSED_STREAM)` or a `GOAWAY` whose last stream lies below it: it said the request was not processed, so the client re-sent it, as RFC 9113 section 8.7 allows. Nothing ran twice. \
             **Fix:** nothing to fix, unless it is frequent (a server at its stream limit, or restarting)."
        ),
        (Cause::FinalError, _) => format!(
            "**The application re-sent after a final error.** {facts} \
             The first attempt failed with an answer no client library retries (400, 401/403 without a token refresh, 404, 409, 422, an application error), so it had no effect, and the same call was sent again: by the application, not by a retry rule. \
             **Fix:** look at why the application repeats a call the server refused (a retry loop that retries every failure, a user retrying)."
        ),
        (Cause::Concurrent, _) => format!(
            "**Undecidable: identical calls in flight at once.** {facts} The second was sent while the first was still unanswered, with nothing on the wire showing the client abandoning the first: two concurrent identical calls, or a retry whose timeout the input does not show. \
             **To decide:** the client's log, or a capture taken on the client side."
        ),
        (Cause::KeyIncomplete, _) => format!(
            "**Undecidable: the log does not show request bodies.** {facts} Two calls to the same target with a body may be different calls (different jobs, different parameters); no retry pattern links them. \
             **To decide:** log the request body (nginx `$request_body`) and the verdict header, or capture the traffic."
        ),
        (Cause::Unknown, _) => unknown(label, s, &facts, &marker),
    }
}

fn powerjob_marker_missing(facts: &str) -> String {
    format!(
        "**PowerJob 5.1.0 server without `X-POWERJOB-AUTH-PASSED`: every call succeeds and the v5 client re-sends it — executed twice.** {facts} \
         The first attempt succeeded (HTTP 200, `success: true`) but the response lacked `X-POWERJOB-AUTH-PASSED: true`. The PowerJob v5 client treats anything but `true` as an auth failure: it fetched a new token (`/openApi/authApp`) and re-sent the identical call once, so the server did the work twice. \
         A PowerJob 5.1.0 server with `oms.auth.openapi.enable=false` (the default) never sets the header. \
         **Fix:** upgrade the *server* to 5.1.0-bugfix or 5.1.1 ([commit 8f3981dd]({COMMIT_FIX}), [PowerJob #1018]({ISSUE_1018})); upgrading only the client does not help. \
         A workaround on 5.1.0 suggested in [PowerJob #984]({ISSUE_984}) is turning OpenAPI auth on (`oms.auth.openapi.enable=true`); 4.x clients, which send no token, then fail. \
         If the server is already fixed, something between it and the client drops the header: behind a proxy see [PowerJob #1062]({ISSUE_1062}) (the proxy must pass the header unchanged)."
    )
}

fn powerjob_marker_case(s: &Story, facts: &str) -> String {
    let seen = s.seen_as.as_deref().map(code).unwrap_or_else(|| "another letter case".to_string());
    format!(
        "**`X-POWERJOB-AUTH-PASSED` arrived as {seen}: the v5 client missed it and re-sent the call — executed twice ([PowerJob #1062]({ISSUE_1062})).** {facts} \
         The server set the header, but the client looks it up case-sensitively as `X-POWERJOB-AUTH-PASSED`; it did not find it, fetched a new token and re-sent the identical call, which the server executed again. \
         A hop between server and client rewrote the header name: a reverse proxy, a sidecar, or an HTTP/2 hop (HTTP/2 carries header names in lower case). \
         **Fix:** make that hop pass `X-POWERJOB-AUTH-PASSED` to the client unchanged, in exactly this letter case, or let the client reach the server directly. \
         The client's lookup is the same in 5.1.0, 5.1.1 and branch 5.1.2, so upgrading does not help; see [PowerJob #1062]({ISSUE_1062}) (open)."
    )
}

fn token_rejected(s: &Story, facts: &str, wording: Wording) -> String {
    let codes = if s.codes.is_empty() {
        String::new()
    } else {
        let c: Vec<String> = s.codes.iter().map(|c| code(c)).collect();
        format!(" (code {})", c.join(", "))
    };
    let why = match wording {
        Wording::PowerJob => format!(
            "The server rejected the first attempt{codes} before the controller ran (a PowerJob rejection answers HTTP 200 with `X-POWERJOB-AUTH-PASSED: false`), so it had no side effect; the client fetched a new token and re-sent the call once. \
             Nothing to fix, unless tokens are rejected often: PowerJob tokens last 7 days by default (`oms.auth.security.jwt.expire-seconds`)."
        ),
        Wording::Generic => format!(
            "The server rejected the first attempt{codes} (an expired or invalid token), so it had no effect; the client refreshed its token and re-sent the call once, as RFC 6750 clients do. Nothing to fix."
        ),
    };
    format!("**Harmless token refresh: the first attempt was rejected, the retry ran once.** {facts} {why}")
}

fn timeout(s: &Story, facts: &str, wording: Wording) -> String {
    let elsewhere = match s.elsewhere {
        0 => String::new(),
        n if n == s.rows => " to another server address".to_string(),
        n => format!(" ({n} of them to another server address)"),
    };
    let late = if s.late > 0 {
        format!(
            " In {} the first attempt's response came after the re-send: the first server did the work too.",
            cases(s.late)
        )
    } else {
        String::new()
    };
    let never = if s.never > 0 {
        format!(
            " In {} the first attempt never got a response, so whether it took effect is unknown.",
            cases(s.never)
        )
    } else {
        String::new()
    };
    let pj_words = match wording {
        Wording::PowerJob => {
            " The PowerJob client gives up on a server after its timeout (2 s by default) and re-sends the call to each other configured server address, although the first server may still do the work; with a single server address it does not re-send."
        }
        Wording::Generic => "",
    };
    format!(
        "**Client timeout: re-sent while the first attempt was still unanswered.** {facts} The client re-sent the call{elsewhere} before the first attempt had answered.{late}{never}{pj_words} \
         **Fix:** find out why the server answered later than the client's timeout (the capture shows when the answer came), raise the client's timeout, or make these calls idempotent."
    )
}

/// Repeats without a known cause: split by label (a capture gap, a log pattern, the rest).
fn unknown(label: Label, s: &Story, facts: &str, marker: &str) -> String {
    match label {
        Label::Ambiguous => format!(
            "**Undecidable: the first attempt's response was lost in a capture gap.** {facts} Nobody can tell from this capture whether it was rejected, failed or succeeded. \
             **To decide:** capture again without loss (see the warnings: snapshot length, buffer limits)."
        ),
        Label::AutoRefreshRetry => format!(
            "**Refresh pattern without a visible verdict (inferred).** {facts} The input shows the call, an auth call and the same call again within the client's retry latency, but not the first attempt's verdict{}. \
             **To decide:** capture the traffic, or log the {marker} response header.",
            if s.twice + s.once > 0 {
                "; executed twice or not is judged from the logged response sizes"
            } else {
                ""
            }
        ),
        _ => format!(
            "**Repeats with incomplete evidence ({}).** {facts} The evidence of each row says what is missing.",
            label.name()
        ),
    }
}
