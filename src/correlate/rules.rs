//! The decision procedure for a mutation M that repeats an earlier identical call P: the
//! facts are gathered once ([`Facts`]), then the rows of [`RULES`] are checked in order and
//! the first whose condition holds decides the label, `double_execution`, confidence and
//! cause. The wording of the evidence lives in [`super::evidence`]; docs/labels.md lists the
//! same rows in the same order. To change a rule, change its row here and there.

use super::Settings;
use super::evidence as words;
use super::memory::{AuthCall, Prior, PriorMarker, credential_hash};
use super::row::{Cause, Confidence, DoubleExecution, Label};
use crate::classify::{Call, Marker, Outcome};
use crate::exchange::Close;

/// A close on P's connection this close to M's request still counts as "before M": the
/// client's FIN and its new connection's SYN can be captured in either order.
const CLOSE_SLACK_NS: i64 = 50_000_000;
/// A re-send on a new connection this soon after the server dropped P's connection is the
/// HTTP library's own (OkHttp, urllib3 and Node agents re-send within milliseconds).
const TRANSPORT_RESEND_NS: i64 = 1_000_000_000;
/// In a log, M counts as a timeout re-send of a still-running P only when P had been
/// running at least this long: shorter overlaps are as likely two concurrent calls.
const LOG_TIMEOUT_MIN_NS: i64 = 1_000_000_000;
/// In a capture, M sent while P was unanswered, with no close seen, counts as a timeout
/// only after this long; sooner it may be two concurrent calls.
const CAPTURE_TIMEOUT_MIN_NS: i64 = 500_000_000;
/// Error retries (5xx, 429) come within this many client retry latencies of P's answer.
const ERROR_RETRY_LATENCIES: i64 = 5;

/// Everything the rules read about P, M and what lies between them.
pub(super) struct Facts<'a> {
    pub s: &'a Settings,
    pub p: &'a Prior,
    pub m: &'a Call,
    /// The caller's auth call between P and M that refreshed the token: the one that issued
    /// M's credential, else the latest.
    pub refresh: Option<AuthCall>,
    /// M carries another credential than P (`None` where either is invisible).
    pub cred_changed: Option<bool>,
    /// M followed P within the client's retry latency plus P's wait for its answer.
    pub within_latency: bool,
    /// P → refresh → M with no other call of the caller in between, and M within the
    /// client's retry latency of the refresh's answer: the shape of an automatic retry.
    pub prompt: bool,
    /// M is the caller's next call after P (nothing in between).
    pub adjacent: bool,
    /// The client closed P's connection before M, with P's response incomplete.
    pub gave_up: Option<Close>,
    /// The server closed P's connection before answering it, before M.
    pub dropped: Option<Close>,
    /// M went out on another connection than P.
    pub new_conn: bool,
    /// P's response had not started when M was sent.
    pub unanswered: bool,
}

impl Facts<'_> {
    /// `confirmed` when P's deciding response was observed.
    pub fn p_confidence(&self) -> Confidence {
        if self.p.verdict_seen() { Confidence::Confirmed } else { Confidence::Inferred }
    }
    /// What P's outcome says about its work.
    pub fn p_double(&self) -> DoubleExecution {
        DoubleExecution::from_outcome(self.p.outcome)
    }
    /// Nanoseconds from P's request to M's.
    pub fn gap_ns(&self) -> i64 {
        self.m.time.0.saturating_sub(self.p.time.0)
    }
    fn idempotency(&self) -> Option<(&str, &str)> {
        Some((self.p.idempotency_key()?, self.m.idempotency_key.as_deref()?))
    }
    /// P's final status is a client error that no client library re-sends.
    fn final_client_error(&self) -> bool {
        matches!(self.p.outcome, Outcome::ClientError | Outcome::AppError | Outcome::Rejected)
            && !self.p.status.is_some_and(retryable_status)
    }
    /// P was answered like a rejection, as far as a log can tell: 401/403/407, or a
    /// response size unlike the successful retry's.
    pub fn rejection_like(&self) -> bool {
        if self.p.status.is_some_and(|s| matches!(s, 401 | 403 | 407)) {
            return true;
        }
        let sizes = (self.p.resp_bytes(), self.m.resp_bytes);
        matches!(sizes, (Some(a), Some(b)) if a > 0 && b > 0 && a != b)
            && self.p.status == Some(200)
            && self.m.status == Some(200)
    }
}

/// 408, 425 and 429 ask the client to try again; every retrying library does.
pub(super) fn retryable_status(s: u16) -> bool {
    matches!(s, 408 | 425 | 429)
}

/// One row of the decision table.
pub(super) struct Rule {
    /// The row's name, as docs/labels.md lists it.
    pub name: &'static str,
    /// When the row applies.
    pub when: fn(&Facts) -> bool,
    pub label: Label,
    pub double: fn(&Facts) -> DoubleExecution,
    pub confidence: fn(&Facts) -> Confidence,
    pub cause: fn(&Facts) -> Cause,
    /// The evidence sentence (naming rows by id).
    pub evidence: fn(&Facts) -> String,
}

/// What a decision gives.
pub(super) struct Decision {
    pub rule: &'static str,
    pub label: Label,
    pub refresh: Option<u64>,
    pub double: DoubleExecution,
    pub confidence: Confidence,
    pub evidence: String,
    pub cause: Cause,
}

use DoubleExecution::{No, Unknown};

fn confirmed(_: &Facts) -> Confidence {
    Confidence::Confirmed
}
fn inferred(_: &Facts) -> Confidence {
    Confidence::Inferred
}
fn p_confidence(f: &Facts) -> Confidence {
    f.p_confidence()
}
fn p_double(f: &Facts) -> DoubleExecution {
    f.p_double()
}
fn no(_: &Facts) -> DoubleExecution {
    No
}
fn unknown(_: &Facts) -> DoubleExecution {
    Unknown
}

/// The decision table, checked in order; the first row whose condition holds decides.
pub(super) const RULES: &[Rule] = &[
    // Client-supplied retry markers outrank timing.
    Rule {
        name: "idempotency-key-differs",
        when: |f| f.idempotency().is_some_and(|(a, b)| a != b),
        label: Label::GenuineDuplicate,
        double: p_double,
        confidence: p_confidence,
        cause: |_| Cause::Application,
        evidence: words::idempotency_differs,
    },
    // A log shows the marker but not its letter case on the way to the client.
    Rule {
        name: "log-marker-present-yet-refreshed",
        when: |f| {
            f.p.is_from_log()
                && f.p.outcome.executed()
                && matches!(f.p.marker, PriorMarker::Expected | PriorMarker::Other)
                && matches!(f.p.marker(f.s.marker_value.as_deref()), Marker::Present(_))
                && f.refresh.is_some()
                && f.prompt
        },
        label: Label::AutoRefreshRetry,
        double: p_double,
        confidence: inferred,
        cause: |_| Cause::MarkerCase,
        evidence: words::log_marker_case,
    },
    // The client's own refresh rule fired, and the refresh is on the wire.
    Rule {
        name: "refresh-rule",
        when: |f| {
            f.p.refresh_trigger()
                && f.refresh.is_some()
                && f.cred_changed != Some(false)
                && (f.p.verdict_seen() || f.prompt)
        },
        label: Label::AutoRefreshRetry,
        double: |f| if f.p.verdict_seen() { f.p_double() } else { words::size_verdict(f).0 },
        confidence: p_confidence,
        cause: |f| words::refresh_story(f).0,
        evidence: words::refresh_retry,
    },
    // A rejection the profile's client would not refresh on, refreshed all the same.
    Rule {
        name: "rejected-refreshed-elsewhere",
        when: |f| {
            f.p.outcome == Outcome::Rejected
                && !f.p.refresh_trigger()
                && f.refresh.is_some()
                && f.cred_changed != Some(false)
                && (!f.p.is_from_log() || f.prompt)
        },
        label: Label::AutoRefreshRetry,
        double: no,
        confidence: p_confidence,
        cause: |_| Cause::TokenRejected,
        evidence: words::refreshed_elsewhere,
    },
    // The verdict is invisible (a log): P answered like a rejection → auth → M, promptly.
    Rule {
        name: "log-refresh-pattern",
        when: |f| {
            !f.p.verdict_seen()
                && f.refresh.is_some()
                && f.prompt
                && (f.rejection_like() || f.s.refresh_on_success)
        },
        label: Label::AutoRefreshRetry,
        double: |f| if f.rejection_like() { No } else { words::size_verdict(f).0 },
        confidence: inferred,
        cause: |_| Cause::TokenRejected,
        evidence: words::log_refresh_pattern,
    },
    // The refresh rule fired and M carries a new token whose auth call was not captured.
    Rule {
        name: "refresh-auth-not-captured",
        when: |f| f.p.refresh_trigger() && f.refresh.is_none() && f.cred_changed == Some(true),
        label: Label::AutoRefreshRetry,
        double: p_double,
        confidence: inferred,
        cause: |f| words::refresh_story(f).0,
        evidence: words::refresh_not_captured,
    },
    Rule {
        name: "same-idempotency-key",
        when: |f| f.idempotency().is_some_and(|(a, b)| a == b),
        label: Label::ErrorRetry,
        double: p_double,
        confidence: p_confidence,
        cause: |_| Cause::RetryMarker,
        evidence: words::same_idempotency_key,
    },
    Rule {
        name: "attempt-marker",
        when: |f| f.m.attempt.as_ref().is_some_and(|(_, n)| *n > 1),
        label: Label::ErrorRetry,
        double: p_double,
        confidence: p_confidence,
        cause: |_| Cause::RetryMarker,
        evidence: words::attempt_marker,
    },
    // HTTP/2: the server said it did not process P (REFUSED_STREAM, GOAWAY below P's stream).
    Rule {
        name: "refused-stream",
        when: |f| f.p.refused(),
        label: Label::ErrorRetry,
        double: no,
        confidence: confirmed,
        cause: |_| Cause::Refused,
        evidence: words::refused_stream,
    },
    // P's response could not be read: a real hole in the capture, or a limit.
    Rule {
        name: "response-unreadable",
        when: |f| f.p.outcome == Outcome::Unknown,
        label: Label::Ambiguous,
        double: unknown,
        confidence: inferred,
        cause: |_| Cause::Unknown,
        evidence: words::response_unreadable,
    },
    // The client closed P's connection unanswered and re-sent: a client timeout.
    Rule {
        name: "client-gave-up",
        when: |f| f.gave_up.is_some(),
        label: Label::ErrorRetry,
        double: |f| if f.p.answered() { f.p_double() } else { Unknown },
        confidence: |f| if f.p.answered() { Confidence::Confirmed } else { Confidence::Inferred },
        cause: |_| Cause::Timeout,
        evidence: words::client_gave_up,
    },
    // The server closed P's connection without answering; M followed.
    Rule {
        name: "server-dropped",
        when: |f| f.dropped.is_some(),
        label: Label::ErrorRetry,
        double: unknown,
        confidence: confirmed,
        cause: |f| {
            let quick = f.dropped.is_some_and(|c| f.m.time.0.saturating_sub(c.at.0) <= TRANSPORT_RESEND_NS);
            if quick && f.new_conn { Cause::TransportResend } else { Cause::ErrorResponse }
        },
        evidence: words::server_dropped,
    },
    // A log says the client went away (nginx 499) and the same call followed promptly.
    Rule {
        name: "log-client-aborted",
        when: |f| f.p.is_from_log() && f.p.client_aborted() && f.within_latency,
        label: Label::ErrorRetry,
        double: unknown,
        confidence: inferred,
        cause: |_| Cause::Timeout,
        evidence: words::log_client_aborted,
    },
    // M was sent while P was still running (a log's duration) long enough to time out.
    Rule {
        name: "log-still-running",
        when: |f| f.p.is_from_log() && f.unanswered && f.gap_ns() >= LOG_TIMEOUT_MIN_NS && f.adjacent,
        label: Label::ErrorRetry,
        double: p_double,
        confidence: inferred,
        cause: |_| Cause::Timeout,
        evidence: words::log_still_running,
    },
    // A capture: M sent while P was unanswered, long after, with nothing closed yet.
    Rule {
        name: "unanswered-no-close",
        when: |f| !f.p.is_from_log() && f.unanswered && f.gap_ns() >= CAPTURE_TIMEOUT_MIN_NS,
        label: Label::ErrorRetry,
        double: |f| if f.p.answered() { f.p_double() } else { Unknown },
        confidence: inferred,
        cause: |_| Cause::Timeout,
        evidence: words::unanswered_no_close,
    },
    // M sent while P was unanswered, soon after: two concurrent calls, or a timeout unseen.
    Rule {
        name: "concurrent",
        when: |f| f.unanswered,
        label: Label::Ambiguous,
        double: unknown,
        confidence: inferred,
        cause: |_| Cause::Concurrent,
        evidence: words::concurrent,
    },
    // A retryable failure (5xx, 408/425/429, no response) and M within the retry delay.
    Rule {
        name: "retryable-error",
        when: |f| {
            let retryable = matches!(f.p.outcome, Outcome::ServerError | Outcome::NoResponse)
                || f.p.status.is_some_and(retryable_status);
            let delay = f.s.retry_latency.as_nanos().min(i64::MAX as u128) as i64 * ERROR_RETRY_LATENCIES;
            let prompt = f.m.time.0.saturating_sub(f.p.resp_time().unwrap_or(f.p.time).0) <= delay;
            retryable && (!f.p.key_incomplete() || (prompt && f.adjacent))
        },
        label: Label::ErrorRetry,
        double: |f| if f.p.status.is_some_and(retryable_status) { No } else { Unknown },
        confidence: p_confidence,
        cause: |_| Cause::ErrorResponse,
        evidence: words::retryable_error,
    },
    // The input cannot show whether the two were the same call, and nothing proves a retry.
    Rule {
        name: "call-key-incomplete",
        when: |f| f.p.key_incomplete() || f.m.key_incomplete,
        label: Label::Ambiguous,
        double: unknown,
        confidence: inferred,
        cause: |_| Cause::KeyIncomplete,
        evidence: words::key_incomplete,
    },
    // A final error no client library retries: the application sent the call again.
    Rule {
        name: "final-error",
        when: |f| f.final_client_error(),
        label: Label::GenuineDuplicate,
        double: no,
        confidence: p_confidence,
        cause: |_| Cause::FinalError,
        evidence: words::final_error,
    },
    // Otherwise P had completed normally: the application sent the call again.
    Rule {
        name: "completed",
        when: |_| true,
        label: Label::GenuineDuplicate,
        double: |f| if f.p.verdict_seen() { f.p_double() } else { Unknown },
        confidence: p_confidence,
        cause: |_| Cause::Application,
        evidence: words::completed,
    },
];

/// Facts about what lies between P and M, gathered once for the rules.
pub(super) struct Between<'a> {
    /// The caller's auth calls in the window, in request order.
    pub auths: &'a [&'a AuthCall],
    /// The caller's previous call (any kind) before M, as a sequence number.
    pub m_prev_by_caller: Option<u64>,
    /// The previous call from M's host (any caller), as a sequence number.
    pub m_prev_by_host: Option<u64>,
}

/// Labels M against P.
pub(super) fn decide(s: &Settings, p: &Prior, m: &Call, between: &Between) -> Decision {
    let m_credential = m.credential.as_deref().map(credential_hash);
    // "Between" is by request order (sequence numbers), not by clock: log lines share seconds.
    let after_p = || between.auths.iter().copied().rev().filter(|a| a.seq > p.seq);
    let refresh = after_p()
        .find(|a| a.issued.is_some() && a.issued == m_credential)
        .or_else(|| after_p().next())
        .copied();
    let cred_changed = match (p.credential, m_credential) {
        (Some(a), Some(b)) => Some(a != b),
        _ => None,
    };
    let latency = s.retry_latency.as_nanos().min(i64::MAX as u128) as i64;
    let wait = p.resp_time().map_or(0, |r| r.0.saturating_sub(p.time.0).max(0));
    let within_latency = m.time.0.saturating_sub(p.time.0) <= latency + wait;
    let prompt = refresh.is_some_and(|a| {
        let p_then_auth = a.prev_seq == Some(p.seq);
        let m_prev = if a.by_host { between.m_prev_by_host } else { between.m_prev_by_caller };
        let auth_then_m = m_prev == Some(a.seq);
        p_then_auth && auth_then_m && m.time.0.saturating_sub(a.resp_time.0) <= latency
    });
    let wire = p.wire();
    let m_at = m.time.0.saturating_add(CLOSE_SLACK_NS);
    let complete_before = |c: &Close| p.resp_time().is_some_and(|r| !p.head_only() && r <= c.at);
    // Who closed first tells the story: a client that answers the server's FIN with its own
    // did not give up, the server dropped the request (and the other way round).
    let first = |a: Option<Close>, b: Option<Close>| a.filter(|x| b.is_none_or(|y| x.at <= y.at));
    let gave_up =
        first(wire.client_closed, wire.server_closed).filter(|c| c.at.0 <= m_at && !complete_before(c));
    let answered_before = |c: &Close| p.resp_time().is_some_and(|r| r <= c.at);
    let dropped =
        first(wire.server_closed, wire.client_closed).filter(|c| c.at.0 <= m_at && !answered_before(c));
    let unanswered = p.resp_time().is_none_or(|r| r > m.time) && p.outcome != Outcome::Unknown;
    let facts = Facts {
        s,
        p,
        m,
        refresh,
        cred_changed,
        within_latency,
        prompt,
        adjacent: between.m_prev_by_caller == Some(p.seq),
        gave_up,
        dropped,
        new_conn: p.other_conn(m),
        unanswered,
    };
    let rule = RULES.iter().find(|r| (r.when)(&facts)).unwrap_or(&RULES[RULES.len() - 1]);
    let refreshes = matches!(rule.label, Label::AutoRefreshRetry);
    // Where the input cannot show the whole call key, that the two are one call is itself
    // inferred, whatever the rule's verdict.
    let confidence =
        if p.key_incomplete() || m.key_incomplete { Confidence::Inferred } else { (rule.confidence)(&facts) };
    Decision {
        rule: rule.name,
        label: rule.label,
        refresh: refresh.filter(|_| refreshes).map(|a| a.id),
        double: (rule.double)(&facts),
        confidence,
        evidence: (rule.evidence)(&facts),
        cause: (rule.cause)(&facts),
    }
}

#[cfg(test)]
pub(super) fn rule_names() -> Vec<&'static str> {
    RULES.iter().map(|r| r.name).collect()
}
