//! The evidence sentences: one function per row of the decision table ([`super::rules`]),
//! each saying only what the exchanges show — row ids, statuses, times, who closed which
//! connection — and, where the input cannot decide, what would. Profile-specific words
//! (the marker header's name, the known causes of a missing marker) come from [`Settings`].

use super::Settings;
use super::memory::Prior;
use super::row::DoubleExecution;
use super::rules::{Facts, retryable_status};
use crate::classify::{Marker, Outcome};
use crate::exchange::Close;

use super::row::Cause;

/// "Repeats #P {how}: {meaning}; #P {outcome}{double}." — the sentence of the marker rows.
fn marker_sentence(f: &Facts, how: &str, meaning: &str) -> String {
    let pid = f.p.id;
    format!(
        "Repeats #{pid} {how}: {meaning}; #{pid} {}{}.",
        outcome_words(f.s, f.p),
        double_words(f.p_double())
    )
}

pub(super) fn idempotency_differs(f: &Facts) -> String {
    let (k1, k2) = (f.p.idempotency_key().unwrap_or(""), f.m.idempotency_key.as_deref().unwrap_or(""));
    marker_sentence(
        f,
        &format!("with a different Idempotency-Key ({k2} vs {k1})"),
        "the application sent two calls",
    )
}

pub(super) fn log_marker_case(f: &Facts) -> String {
    let pid = f.p.id;
    let marker = marker_name(f.s);
    format!(
        "Repeats #{pid} after auth call #{}: the log shows #{pid} succeeded with {marker}, yet the client refreshed and re-sent at once; a log cannot show the header's letter case, so it most likely reached the client rewritten by a hop in between{}{}.",
        refresh_id(f),
        hint(&f.s.marker_case_hint),
        double_words(f.p_double())
    )
}

pub(super) fn refresh_retry(f: &Facts) -> String {
    let pid = f.p.id;
    let (_, story) = refresh_story(f);
    if f.p.verdict_seen() {
        return format!(
            "Repeats #{pid} after auth call #{}{}: {story}; the client refreshed and re-sent{}.",
            refresh_id(f),
            new_token(f),
            double_words(f.p_double())
        );
    }
    let (_, sizes) = size_verdict(f);
    let why = if f.p.is_from_log() {
        format!("The log does not show #{pid}'s verdict")
    } else {
        format!("#{pid}'s response was not captured")
    };
    format!(
        "Repeats #{pid} after auth call #{}{}: {story}; the client refreshed and re-sent. {why}: inferred from the pattern call → auth call → same call within the client's retry latency, with no other call of this caller in between{sizes}.",
        refresh_id(f),
        new_token(f)
    )
}

pub(super) fn refreshed_elsewhere(f: &Facts) -> String {
    let pid = f.p.id;
    format!(
        "Repeats #{pid} after auth call #{}{}: #{pid} was rejected ({}), the caller fetched a new token and re-sent; the profile's client does not refresh on this answer, so the refresh came from the application or another layer (a wrapper, an interceptor); the first attempt had no effect.",
        refresh_id(f),
        new_token(f),
        rejection_words(f.s, f.p)
    )
}

pub(super) fn log_refresh_pattern(f: &Facts) -> String {
    let pid = f.p.id;
    let shape = format!(
        "Repeats #{pid} after auth call #{}: the caller's next call after #{pid} was the auth call, and its next this same call, within the client's retry latency",
        refresh_id(f)
    );
    match f.p.status {
        Some(s @ (401 | 403 | 407)) => format!(
            "{shape}; #{pid} was answered HTTP {s}: a refresh-and-retry, inferred (the log does not show the verdict); the first attempt most likely had no effect."
        ),
        _ if f.rejection_like() => format!(
            "{shape}; #{pid}'s response ({} bytes) differs in size from the successful retry's ({} bytes), as a rejection's does: a refresh-and-retry, inferred (the log does not show the verdict); the first attempt most likely had no effect.",
            f.p.resp_bytes().unwrap_or(0),
            f.m.resp_bytes.unwrap_or(0)
        ),
        _ => format!(
            "{shape}, and this client re-sends after any answer without {}. The log does not show #{pid}'s verdict: inferred{}.",
            marker_name(f.s),
            size_verdict(f).1
        ),
    }
}

pub(super) fn refresh_not_captured(f: &Facts) -> String {
    let (_, story) = refresh_story(f);
    format!(
        "Repeats #{}{}: {story}; the auth call that issued the new token was not captured{}.",
        f.p.id,
        new_token(f),
        double_words(f.p_double())
    )
}

pub(super) fn same_idempotency_key(f: &Facts) -> String {
    marker_sentence(f, "with the same Idempotency-Key", "the client retried")
}

pub(super) fn attempt_marker(f: &Facts) -> String {
    let (header, n) = f.m.attempt.clone().unwrap_or_default();
    marker_sentence(f, &format!("as attempt {n} ({header})"), "a proxy or library retried")
}

pub(super) fn refused_stream(f: &Facts) -> String {
    let pid = f.p.id;
    format!(
        "Repeats #{pid}{}, which the server refused unprocessed ({}): the client re-sent it; the first attempt had no effect.",
        elsewhere(f),
        match f.p.wire().refused {
            Some(crate::exchange::Refused::GoAway { last_stream_id, .. }) => {
                format!(
                    "HTTP/2 GOAWAY with last stream {last_stream_id}, below its stream {}",
                    f.p.wire().h2_stream
                )
            }
            _ => "HTTP/2 RST_STREAM REFUSED_STREAM".to_string(),
        }
    )
}

pub(super) fn response_unreadable(f: &Facts) -> String {
    let pid = f.p.id;
    if f.p.resp_gap() {
        format!(
            "Repeats #{pid}, whose response was lost in a capture gap (a hole in the server's byte stream): cannot tell whether it was rejected, failed or succeeded; a capture without loss would decide."
        )
    } else {
        format!(
            "Repeats #{pid}, whose response could not be read (its pairing is uncertain or a limit cut it; see the warnings): cannot tell whether it was rejected, failed or succeeded."
        )
    }
}

pub(super) fn client_gave_up(f: &Facts) -> String {
    let pid = f.p.id;
    let close = f.gave_up.unwrap_or(Close { at: f.m.time, rst: false });
    let waited = human_ms(close.at.millis_since(f.p.time));
    let how = if close.rst { "reset" } else { "closed" };
    let resent = human_ms(f.m.time.millis_since(close.at).max(0.0));
    let late = match (f.p.resp_time(), f.p.outcome) {
        (Some(r), o) if o.executed() => format!(
            "; #{pid}'s response came {} after the client gave up{}: HTTP {} — the first attempt succeeded too: executed twice",
            human_ms(r.millis_since(close.at).max(0.0)),
            if f.p.head_only() { " (only its head arrived)" } else { "" },
            f.p.status.unwrap_or(0)
        ),
        (Some(r), _) => format!(
            "; #{pid}'s response came {} after the client gave up: {}{}",
            human_ms(r.millis_since(close.at).max(0.0)),
            outcome_words(f.s, f.p),
            double_words(f.p_double())
        ),
        (None, _) => format!(
            "; no response to #{pid} was captured, so whether it took effect is unknown: the server's log would settle it"
        ),
    };
    format!(
        "The client gave up on #{pid} after {waited} (it {how} the connection with no complete response) and re-sent it {resent} later{}{late}.",
        elsewhere(f)
    )
}

pub(super) fn server_dropped(f: &Facts) -> String {
    let pid = f.p.id;
    let close = f.dropped.unwrap_or(Close { at: f.m.time, rst: false });
    let how = if close.rst { "reset (RST)" } else { "closed (FIN)" };
    let after = human_ms(close.at.millis_since(f.p.time).max(0.0));
    let resent = human_ms(f.m.time.millis_since(close.at).max(0.0));
    let reused = if f.p.nth() > 1 { " a reused keep-alive connection" } else { " the connection" };
    let who = if f.new_conn && f.m.time.0.saturating_sub(close.at.0) <= 1_000_000_000 {
        "the client's HTTP library re-sent it on a new connection without the application knowing (OkHttp retryOnConnectionFailure, urllib3, a Node agent or a proxy do)"
    } else {
        "the call was sent again"
    };
    format!(
        "The server {how}{reused} {after} after #{pid} without answering it; {who}, {resent} later{}; whether #{pid} was applied before the server dropped it is unknown: the server's log would settle it.",
        elsewhere(f)
    )
}

pub(super) fn log_client_aborted(f: &Facts) -> String {
    let pid = f.p.id;
    format!(
        "Sent {} after #{pid}, which the log marks as abandoned by the client (HTTP {} logged, no response delivered): a client timeout and re-send; whether the upstream finished #{pid} is unknown: the upstream's log would settle it.",
        human_ms(f.m.time.millis_since(f.p.time)),
        f.p.status.map_or_else(|| "499".to_string(), |s| s.to_string())
    )
}

pub(super) fn log_still_running(f: &Facts) -> String {
    let pid = f.p.id;
    let end = f.p.resp_time().map(|r| human_ms(r.millis_since(f.m.time).max(0.0)));
    format!(
        "Sent {} after #{pid}{} while #{pid} was still running by the log (it ended {} later): a client timeout and re-send, inferred; #{pid} {}{}.",
        human_ms(f.m.time.millis_since(f.p.time)),
        elsewhere(f),
        end.unwrap_or_else(|| "an unknown time".into()),
        outcome_words(f.s, f.p),
        double_words(f.p_double())
    )
}

pub(super) fn unanswered_no_close(f: &Facts) -> String {
    let pid = f.p.id;
    let late = match f.p.resp_time() {
        Some(r) => format!(
            "; #{pid}'s response came {} later: {}{}",
            human_ms(r.millis_since(f.m.time).max(0.0)),
            outcome_words(f.s, f.p),
            double_words(if f.p.answered() { f.p_double() } else { DoubleExecution::Unknown })
        ),
        None => format!(
            "; #{pid} never got a response in this capture: the server's log would settle whether it ran"
        ),
    };
    format!(
        "Sent {} after #{pid}{} while #{pid} was still unanswered; the capture shows no close of #{pid}'s connection before the re-send, so a client timeout is inferred{late}.",
        human_ms(f.m.time.millis_since(f.p.time)),
        elsewhere(f)
    )
}

pub(super) fn concurrent(f: &Facts) -> String {
    let pid = f.p.id;
    format!(
        "Sent {} after #{pid}, while #{pid} was still unanswered and nothing on the wire shows the client abandoning it: two concurrent identical calls, or a retry whose timeout the input does not show; cannot tell which (the client's log, or a capture of the client side, would decide).",
        human_ms(f.m.time.millis_since(f.p.time))
    )
}

pub(super) fn retryable_error(f: &Facts) -> String {
    let pid = f.p.id;
    let status = f.p.status.filter(|s| retryable_status(*s));
    let retry = match status {
        Some(s) => format!(
            "HTTP {s} asks the client to try again, and it did{}; the first attempt was not processed",
            if f.p.retry_after() { " (after its Retry-After)" } else { "" }
        ),
        None => format!(
            "re-sent without a token refresh; {}",
            double_words(f.p_double()).trim_start_matches("; ")
        ),
    };
    format!("Repeats #{pid}{}, which {}: {retry}.", elsewhere(f), outcome_words(f.s, f.p))
}

pub(super) fn key_incomplete(f: &Facts) -> String {
    let pid = f.p.id;
    let refresh = match f.refresh {
        Some(a) if f.prompt => format!(
            " The shape #{pid} → auth call #{} → this call within the client's retry latency fits an automatic refresh-retry, but the log shows neither the verdict nor the bodies.",
            a.id
        ),
        _ => String::new(),
    };
    let marker = f.s.marker.as_deref().map(|m| format!(" or the {m} response header")).unwrap_or_default();
    format!(
        "Same {} {} as #{pid}, {} later; the log does not show request bodies, so #{pid} and this call may be different calls.{refresh} To decide: log the request body ($request_body){marker}, or capture the traffic.",
        f.m.method,
        f.m.path,
        human_ms(f.m.time.millis_since(f.p.time))
    )
}

pub(super) fn final_error(f: &Facts) -> String {
    let pid = f.p.id;
    let why = match f.p.outcome {
        Outcome::Rejected => {
            format!("was rejected ({}) and no token refresh followed", rejection_words(f.s, f.p))
        }
        _ => outcome_words(f.s, f.p),
    };
    format!(
        "Repeats #{pid}{}, which {why} {} earlier; no client library re-sends after that answer: the application sent the call again; the first attempt had no effect.",
        hosts(f),
        human_ms(f.m.time.millis_since(f.p.time))
    )
}

pub(super) fn completed(f: &Facts) -> String {
    let pid = f.p.id;
    let double = if f.p.verdict_seen() { f.p_double() } else { DoubleExecution::Unknown };
    let proactive = f
        .refresh
        .map(|a| {
            format!(" (auth call #{} in between was not a retry: #{pid} gave no reason to refresh)", a.id)
        })
        .unwrap_or_default();
    format!(
        "Repeats #{pid}{}, which {} {} earlier{proactive}: the application sent the call again{}.",
        hosts(f),
        outcome_words(f.s, f.p),
        human_ms(f.m.time.millis_since(f.p.time)),
        double_words(double)
    )
}

/// From logged response sizes: the retry M succeeded, so P answered with the same size most
/// likely succeeded too (executed twice); a different size most likely was the rejection.
pub(super) fn size_verdict(f: &Facts) -> (DoubleExecution, String) {
    let pid = f.p.id;
    match (f.p.resp_bytes(), f.m.resp_bytes, f.m.status) {
        (Some(a), Some(b), Some(200)) if a > 0 && a == b => (
            DoubleExecution::Yes,
            format!(
                "; #{pid}'s response was the same size as the retry's ({a} bytes), so it most likely succeeded: probably executed twice"
            ),
        ),
        (Some(a), Some(b), Some(200)) if a > 0 && b > 0 => (
            DoubleExecution::No,
            format!(
                "; #{pid}'s response size ({a} bytes) differs from the successful retry's ({b} bytes), so it most likely was the rejection"
            ),
        ),
        _ => (DoubleExecution::Unknown, String::new()),
    }
}

/// Why the client refreshed, in words, with the cause.
pub(super) fn refresh_story(f: &Facts) -> (Cause, String) {
    let (s, p) = (f.s, f.p);
    let pid = p.id;
    let marker = marker_name(s);
    let want = s.marker_value.as_deref().unwrap_or("true");
    match (&p.marker(s.marker_value.as_deref()), p.outcome) {
        (Marker::OtherCase(name, value), o) if o.executed() => (
            Cause::MarkerCase,
            format!(
                "#{pid} succeeded but carried `{name}: {value}`, which the client looks up case-sensitively as {marker}: {}{}",
                if p.wire().h2_stream != 0 { HTTP2_HOP } else { hop_kind(name) },
                hint(&s.marker_case_hint)
            ),
        ),
        (Marker::Absent, o) if o.executed() => (
            Cause::MarkerMissing,
            format!(
                "#{pid} succeeded (HTTP {}{}) but lacked {marker}: {want}{}",
                p.status.unwrap_or(0),
                if p.verdict_seen() { ", success" } else { "" },
                hint(&s.missing_marker_hint)
            ),
        ),
        (Marker::Present(v), o) if o.executed() => {
            (Cause::MarkerMissing, format!("#{pid} succeeded but its {marker} was `{v}`, not `{want}`"))
        }
        _ if p.outcome == Outcome::Rejected => {
            (Cause::TokenRejected, format!("#{pid} was rejected ({})", rejection_words(s, p)))
        }
        _ if !p.verdict_seen() => match p.status {
            Some(st) => (Cause::Unknown, format!("#{pid} answered HTTP {st}")),
            None => (Cause::Unknown, format!("#{pid} got no visible answer")),
        },
        _ => (Cause::Unknown, format!("#{pid} {}", outcome_words(s, p))),
    }
}

/// A marker seen on an HTTP/2 exchange: lower case by protocol (RFC 9113 section 8.2.1).
const HTTP2_HOP: &str = "this hop is HTTP/2, whose header names are lower case by protocol (RFC 9113 section 8.2.1): the name reached the client lower-cased unless a hop after the capture point restored it";

/// Which kind of hop writes a header name this way.
pub(super) fn hop_kind(name: &str) -> &'static str {
    let lower = name.bytes().all(|b| !b.is_ascii_uppercase());
    let canonical = name.split('-').all(|w| {
        let mut c = w.chars();
        c.next().is_none_or(|f| !f.is_ascii_lowercase()) && c.all(|x| !x.is_ascii_uppercase())
    });
    if lower {
        "the name arrived all lower case, as HTTP/2 hops (lower case by protocol), Envoy and HAProxy without h1-case-adjust write it"
    } else if canonical {
        "the name arrived in Go's canonical form, as Go-based proxies (Caddy, Traefik) write it"
    } else {
        "the name arrived in another letter case: a hop in between rewrote it"
    }
}

fn hint(h: &Option<String>) -> String {
    h.as_deref().map(|h| format!(" ({h})")).unwrap_or_default()
}

fn marker_name(s: &Settings) -> &str {
    s.marker.as_deref().unwrap_or("the marker header")
}

fn refresh_id(f: &Facts) -> u64 {
    f.refresh.map_or(0, |a| a.id)
}

fn new_token(f: &Facts) -> String {
    match (&f.m.credential, f.cred_changed) {
        (Some(t), Some(true)) => format!(" with new token {t}"),
        _ => String::new(),
    }
}

fn elsewhere(f: &Facts) -> String {
    let server = super::memory::Addr::from(f.m.server);
    if f.p.route.server != server {
        format!(" to another server ({}; #{} went to {})", f.m.server, f.p.id, f.p.route.server)
    } else {
        String::new()
    }
}

fn hosts(f: &Facts) -> String {
    if *f.p.route.host != *f.m.host {
        format!(" (#{} from {}, this one from {})", f.p.id, f.p.route.host, f.m.host)
    } else {
        String::new()
    }
}

pub(super) fn rejection_words(s: &Settings, p: &Prior) -> String {
    let mut parts = Vec::new();
    if let Marker::Present(v) = &p.marker(s.marker_value.as_deref()) {
        parts.push(format!("{}: {v}", s.marker.as_deref().unwrap_or("marker")));
    }
    if let Some(st) = p.status.filter(|s| *s != 200) {
        parts.push(format!("HTTP {st}"));
    }
    if let Some(c) = p.code() {
        parts.push(format!("code {c}"));
    }
    if let Some(m) = p.message() {
        parts.push(m.clone());
    }
    if parts.is_empty() { "auth rejected".into() } else { parts.join(", ") }
}

pub(super) fn outcome_words(s: &Settings, p: &Prior) -> String {
    let status = p.status.map_or(String::new(), |st| format!("HTTP {st}"));
    if !p.verdict_seen() && p.outcome == Outcome::Ok {
        return format!("answered {status} (the log does not show whether it succeeded)");
    }
    match p.outcome {
        Outcome::Ok => format!("succeeded ({status})"),
        Outcome::OkUnconfirmed => format!("succeeded ({status}) without {}", marker_name(s)),
        Outcome::Rejected => format!("was rejected ({})", rejection_words(s, p)),
        Outcome::AppError => match p.code() {
            Some(c) => format!("failed with an application error (code {c})"),
            None => "failed with an application error (success=false)".into(),
        },
        Outcome::ClientError => format!("failed with {status}"),
        Outcome::ServerError => format!("failed with {status}"),
        Outcome::NoResponse => "got no response".into(),
        Outcome::Unknown => "has an unknown outcome".into(),
    }
}

pub(super) fn double_words(d: DoubleExecution) -> &'static str {
    match d {
        DoubleExecution::Yes => "; executed twice",
        DoubleExecution::No => "; the first attempt had no effect",
        DoubleExecution::Unknown => "; whether the first attempt took effect is unknown",
    }
}

pub(super) fn human_ms(ms: f64) -> String {
    crate::text::human_ms(ms, crate::text::Precision::Coarse)
}
