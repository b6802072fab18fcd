//! The outcome of a call: a response (or none) and the profile in, [`Outcome`], the
//! [`Marker`] state, the app's code and message, and whether the verdict was visible out.

use serde_json::Value;

use super::{Classifier, Json, Marker, Outcome, scalar, shorten};
use crate::exchange::{Exchange, Flags, Head};
use crate::profile::{Profile, RetryRule};

impl Classifier<'_> {
    /// Outcome, marker state, app code and message, and whether the verdict was visible.
    pub(super) fn outcome(
        &self,
        ex: &Exchange,
        req: &Head,
        json: Option<&Json<'_>>,
        from_log: bool,
    ) -> (Outcome, Marker, Option<String>, Option<String>, bool) {
        let p = &self.profile;
        let Some(resp) = ex.response.as_ref() else {
            // A response lost in a gap, a guessed pairing, or a request given up by a limit
            // (its response may come later): the outcome is unknown, not "no response".
            let o = if ex.flags.has(Flags::RESPONSE_GAP)
                || ex.flags.has(Flags::PAIRING_UNCERTAIN)
                || ex.flags.has(Flags::LIMIT)
            {
                Outcome::Unknown
            } else {
                Outcome::NoResponse
            };
            return (o, Marker::Unseen, None, None, false);
        };
        let h = &resp.head;
        let status = h.status();
        let code = p.rejection.code_field.as_deref().and_then(|f| json?.pointer(f)).as_ref().and_then(scalar);
        let message = p
            .rejection
            .message_field
            .as_deref()
            .and_then(|f| json?.pointer(f))
            .as_ref()
            .and_then(Value::as_str)
            .map(|m| shorten(&self.redactor.text(&shorten(m, 400)), 120));
        let marker = if from_log { self.logged_marker(req, h) } else { self.marker(req, h) };
        let header_rejects = match (&p.rejection.header, &p.rejection.header_value) {
            (Some(name), Some(value)) => h.header_str(name).is_some_and(|v| v.eq_ignore_ascii_case(value)),
            _ => false,
        };
        let www_invalid = p.rejection.www_authenticate_invalid_token
            && h.headers().any(|(n, v)| {
                n.eq_ignore_ascii_case("www-authenticate")
                    && memchr::memmem::find(v, b"invalid_token").is_some()
            });
        let code_rejects = code.as_ref().is_some_and(|c| p.rejection.codes.contains(c));
        // Only a real hole hides the verdict: a body cut short because the connection ended
        // (a client that gave up and reset it) leaves the head to decide, as the client's
        // library would have.
        let body_broken = ex.flags.has(Flags::RESPONSE_GAP);

        let outcome = if p.rejection.statuses.contains(&status)
            || www_invalid
            || header_rejects
            || code_rejects
        {
            Outcome::Rejected
        } else if let Some(grpc) = failed_grpc_status(ex, h, status) {
            // gRPC answers HTTP 200 and puts the verdict in `grpc-status`: a status the
            // client's retry policy re-sends on (UNAVAILABLE by default) is a retryable
            // error, like a 503; any other non-OK status is the server's final answer.
            if p.client.retryable_grpc_statuses.contains(&grpc) {
                Outcome::ServerError
            } else {
                Outcome::AppError
            }
        } else if (400..500).contains(&status) {
            Outcome::ClientError
        } else if status >= 500 {
            Outcome::ServerError
        } else {
            let success =
                p.success.field.as_deref().and_then(|f| json?.pointer(f)).as_ref().and_then(Value::as_bool);
            match (p.success.field.is_some(), success) {
                (true, Some(false)) => Outcome::AppError,
                (true, None)
                    if body_broken
                        || (resp.body.len > 0 && json.is_none_or(|j| !j.complete) && resp.body.capped) =>
                {
                    Outcome::Unknown
                }
                _ if matches!(marker, Marker::Absent | Marker::OtherCase(..)) && status == 200 => {
                    Outcome::OkUnconfirmed
                }
                (_, _)
                    if matches!(&marker, Marker::Present(v) if !marker_value_ok(v, p)) && status == 200 =>
                {
                    Outcome::OkUnconfirmed
                }
                _ => Outcome::Ok,
            }
        };
        // A log shows no body: the verdict is visible only when the profile decides by status
        // alone, or through a logged marker header.
        let by_status = p.success.field.is_none()
            && p.rejection.header.is_none()
            && p.rejection.codes.is_empty()
            && p.client.rule != RetryRule::Marker;
        let seen = !from_log
            || by_status
            || matches!(marker, Marker::Present(_) | Marker::Absent)
            || outcome != Outcome::Ok;
        (outcome, marker, code, message, seen)
    }

    /// The marker as an access log shows it: logs lose header case, and a logged `-` means
    /// the header was absent; a format that does not log the header shows nothing.
    pub(super) fn logged_marker(&self, req: &Head, resp: &Head) -> Marker {
        let c = &self.profile.client;
        let Some(name) = c.marker.as_deref().filter(|_| c.rule == RetryRule::Marker) else {
            return Marker::NotApplicable;
        };
        // Logs rarely show the request's token header: assume the client rule applies.
        let _ = req;
        match resp.header_str(name) {
            Some("") => Marker::Absent,
            Some(v) => Marker::Present(v.to_string()),
            None => Marker::Unseen,
        }
    }

    pub(super) fn marker(&self, req: &Head, resp: &Head) -> Marker {
        let c = &self.profile.client;
        let Some(name) = c.marker.as_deref() else { return Marker::NotApplicable };
        if c.rule != RetryRule::Marker {
            return Marker::NotApplicable;
        }
        let applies =
            c.when_request_has.is_empty() || c.when_request_has.iter().any(|h| req.header(h).is_some());
        if !applies {
            return Marker::NotApplicable;
        }
        let text = |v: &[u8]| String::from_utf8_lossy(v).trim().to_string();
        if c.marker_case_sensitive {
            if let Some(v) = resp.header_exact(name) {
                return Marker::Present(text(v));
            }
            match resp.headers().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some((n, v)) => Marker::OtherCase(n.to_string(), text(v)),
                None => Marker::Absent,
            }
        } else {
            match resp.header(name) {
                Some(v) => Marker::Present(text(v)),
                None => Marker::Absent,
            }
        }
    }
}

pub(super) fn marker_value_ok(v: &str, p: &Profile) -> bool {
    p.client.marker_value.as_deref().is_none_or(|want| v.eq_ignore_ascii_case(want))
}

pub(super) fn marker_ok(m: &Marker, p: &Profile) -> bool {
    match m {
        Marker::Present(v) => marker_value_ok(v, p),
        Marker::NotApplicable => true,
        _ => false,
    }
}

/// A gRPC response's non-OK `grpc-status` ([`crate::h2::grpc::status`]: the trailers or a
/// Trailers-Only head), on an HTTP 200 response; `None` for OK, for non-gRPC responses and
/// for HTTP errors.
fn failed_grpc_status(ex: &Exchange, resp: &Head, status: u16) -> Option<u32> {
    if status != 200 || !crate::h2::grpc::is_grpc(resp) {
        return None;
    }
    crate::h2::grpc::status(ex).filter(|&s| s != 0)
}
