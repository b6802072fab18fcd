//! The intent log: the expected answer, written by the simulated clients as they send.
//!
//! One record per HTTP request a client actually wrote to a connection, in send order (the
//! sequence number is taken and the bytes are written under one lock). The label follows
//! docs/labels.md from what the client or the application knows when it sends:
//!
//! - the client library re-sent after a refresh → `auto-refresh-retry`;
//! - the client library re-sent after an error or timeout → `error-retry`;
//! - the application sent a call again → judged from the earlier attempt's outcome as the
//!   client saw it (`genuine-duplicate` after a normal completion, `error-retry` after a
//!   failure or while it was still unanswered), `original` when there is no earlier attempt.
//!
//! `expect_double_execution` is filled in afterwards from the servers' execution log (did the
//! earlier attempt actually run a controller?), never from anything on the wire.

use crate::server::ExecRecord;
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Mutex;

/// What kind of call a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A credential exchange (`authApp`, `assert`, `/oauth/token`).
    Auth,
    /// A call with a side effect.
    Mutation,
    /// A call without one.
    Read,
}

/// The outcome of one attempt as the client saw it (docs/labels.md vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx and success, with whatever marker the client requires.
    Ok,
    /// 2xx and success, but the client's marker (`X-POWERJOB-AUTH-PASSED: true`) was missing.
    OkUnconfirmed,
    /// The server refused the credential.
    Rejected,
    /// 2xx with `success:false` for another reason.
    AppError,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// No response: timeout, reset or closed connection.
    NoResponse,
}

impl Outcome {
    /// The spelling of docs/labels.md.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::OkUnconfirmed => "ok-unconfirmed",
            Outcome::Rejected => "rejected",
            Outcome::AppError => "app-error",
            Outcome::ClientError => "client-error",
            Outcome::ServerError => "server-error",
            Outcome::NoResponse => "no-response",
        }
    }
}

/// Why a request is being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The application asked for this call.
    App,
    /// The client library re-sends attempt `of` after refreshing its credential.
    RefreshRetry {
        /// Sequence number of the attempt being repeated.
        of: u64,
    },
    /// The client library re-sends attempt `of` after an I/O error, timeout or error status.
    ErrorRetry {
        /// Sequence number of the attempt being repeated.
        of: u64,
    },
}

/// What a client tells the log about a request it is about to write.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The caller: `<app name>@<client ip>`.
    pub client: String,
    /// The app identity known to the client at this point (number, string or null).
    pub app_id: Value,
    /// Where the request goes.
    pub server: SocketAddr,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// `Content-Type` of the body.
    pub content_type: String,
    /// The exact body.
    pub body: String,
    /// Auth, mutation or read.
    pub role: Role,
    /// Why it is sent.
    pub cause: Cause,
    /// One sentence for the record.
    pub why: String,
}

/// One line of `NAME.intent.jsonl`.
#[derive(Debug, Clone, Serialize)]
pub struct IntentRecord {
    /// 1-based, in send order.
    pub seq: u64,
    /// When the request was written, Unix microseconds.
    pub sent_us: i64,
    /// `<app name>@<client ip>`.
    pub client: String,
    /// App identity as the client knew it.
    pub app_id: Value,
    /// `ip:port` the request went to.
    pub server: String,
    /// Request path.
    pub path: String,
    /// Exact body sent.
    pub body: String,
    /// `auth`, `mutation` or `read`.
    pub role: Role,
    /// The expected label (docs/labels.md) (`auth` for auth calls, null for reads).
    pub expect_label: Option<&'static str>,
    /// Sequence number of the earlier attempt this one repeats.
    pub expect_repeat_of: Option<u64>,
    /// Whether the earlier attempt actually executed (`original` → `no`; null for non-mutations).
    pub expect_double_execution: Option<&'static str>,
    /// One sentence on why this request was sent.
    pub why: String,
    /// HTTP method (extra field).
    pub method: String,
    /// The client's side of the connection, `ip:port` (extra; links to the execution log).
    pub local: String,
    /// 1-based index of this request on its connection (extra; links to the execution log).
    pub conn_req: u64,
    /// Response status, if a response came (extra).
    pub status: Option<u16>,
    /// Outcome as the client saw it (extra).
    pub outcome: Option<&'static str>,
    /// Whether this attempt itself ran a controller, from the execution log (extra; null for
    /// non-mutations or when no usable execution log exists).
    pub executed: Option<bool>,
    #[serde(skip)]
    call_key: String,
    #[serde(skip)]
    outcome_kind: Option<Outcome>,
}

/// The shared, append-only intent log of one scenario run.
#[derive(Debug, Default)]
pub struct IntentLog {
    records: Mutex<Vec<IntentRecord>>,
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl IntentLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<IntentRecord>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `attempt` and calls `write` (which puts the bytes on the wire) under the log's
    /// lock, so sequence order is send order. A failed write leaves the outcome `no-response`.
    pub fn send<E>(
        &self,
        attempt: Attempt,
        local: SocketAddr,
        conn_req: u64,
        write: impl FnOnce() -> Result<(), E>,
    ) -> (u64, Result<(), E>) {
        let mut records = self.lock();
        let seq = records.len() as u64 + 1;
        let call_key = format!(
            "{} {} {}",
            attempt.method,
            attempt.path,
            crate::http::canonical_body(Some(&attempt.content_type), attempt.body.as_bytes())
        );
        let (label, repeat_of, why) = match attempt.role {
            Role::Auth => (Some("auth"), None, attempt.why),
            Role::Read => (None, None, attempt.why),
            Role::Mutation => {
                let (label, repeat_of, note) = decide(&records, &attempt.client, &call_key, attempt.cause);
                (Some(label), repeat_of, join_sentences(&attempt.why, &note))
            }
        };
        records.push(IntentRecord {
            seq,
            sent_us: now_us(),
            client: attempt.client,
            app_id: attempt.app_id,
            server: attempt.server.to_string(),
            path: attempt.path,
            body: attempt.body,
            role: attempt.role,
            expect_label: label,
            expect_repeat_of: repeat_of,
            expect_double_execution: None,
            why,
            method: attempt.method,
            local: local.to_string(),
            conn_req,
            status: None,
            outcome: None,
            executed: None,
            call_key,
            outcome_kind: None,
        });
        let result = write();
        if result.is_err() {
            if let Some(r) = records.last_mut() {
                r.outcome = Some(Outcome::NoResponse.as_str());
                r.outcome_kind = Some(Outcome::NoResponse);
            }
        }
        (seq, result)
    }

    /// Stores what came back for attempt `seq`.
    pub fn set_result(&self, seq: u64, status: Option<u16>, outcome: Outcome) {
        let mut records = self.lock();
        if let Some(r) = seq.checked_sub(1).and_then(|i| records.get_mut(usize::try_from(i).ok()?)) {
            r.status = status;
            r.outcome = Some(outcome.as_str());
            r.outcome_kind = Some(outcome);
        }
    }

    /// Fills `expect_double_execution` from the servers' execution log (`None`: not available)
    /// and returns the records in send order.
    pub fn finalize(&self, exec: Option<&[ExecRecord]>) -> Vec<IntentRecord> {
        let mut records = self.lock().clone();
        let executed = |r: &IntentRecord| find_exec(exec, r);
        // If an execution log was given but none of our requests can be found in it (a proxy
        // between client and server changes the peer address), execution cannot be decided.
        let linkable = match exec {
            None => false,
            Some(log) => log.is_empty() || records.iter().any(|r| executed(r).is_some()),
        };
        let facts: Vec<Option<(&'static str, String)>> = records
            .iter()
            .map(|r| {
                if r.role != Role::Mutation {
                    return None;
                }
                let Some(p_seq) = r.expect_repeat_of else {
                    return Some(("no", String::new()));
                };
                let p = usize::try_from(p_seq.saturating_sub(1)).ok().and_then(|i| records.get(i))?;
                Some(if exec.is_none() {
                    (
                        "unknown",
                        format!(
                            "No server execution log was given, so whether #{p_seq} executed is \
                             unknown."
                        ),
                    )
                } else if !linkable {
                    (
                        "unknown",
                        format!(
                            "The execution log could not be linked to this client's connections \
                             (a proxy in between?), so whether #{p_seq} executed is unknown."
                        ),
                    )
                } else if let Some(e) = executed(p) {
                    (
                        "yes",
                        format!(
                            "Server execution log: #{p_seq} did execute on {} (result {}).",
                            e.server, e.result
                        ),
                    )
                } else {
                    (
                        "no",
                        format!(
                            "Server execution log: #{p_seq} never reached a controller (no \
                             execution recorded)."
                        ),
                    )
                })
            })
            .collect();
        let own: Vec<Option<bool>> = records
            .iter()
            .map(|r| (r.role == Role::Mutation && linkable).then(|| executed(r).is_some()))
            .collect();
        // For an attempt that did not run although its predecessor did: the retry that did.
        let executed_retry: Vec<Option<u64>> = records
            .iter()
            .map(|r| {
                records
                    .iter()
                    .zip(&own)
                    .find(|(m, ran)| m.expect_repeat_of == Some(r.seq) && **ran == Some(true))
                    .map(|(m, _)| m.seq)
            })
            .collect();
        for (((r, fact), own), retry) in records.iter_mut().zip(facts).zip(own).zip(executed_retry) {
            r.executed = own;
            if let Some((value, note)) = fact {
                r.expect_double_execution = Some(value);
                r.why = join_sentences(&r.why, &note);
                if value == "yes" && own == Some(false) {
                    let tail = match retry {
                        Some(m) => format!("This attempt itself did not execute; its retry #{m} did."),
                        None => "This attempt itself did not execute.".to_string(),
                    };
                    r.why = join_sentences(&r.why, &tail);
                }
            }
        }
        records
    }
}

/// The execution of attempt `r`, matched by server address, client address and the
/// request's index on its connection.
fn find_exec<'a>(exec: Option<&'a [ExecRecord]>, r: &IntentRecord) -> Option<&'a ExecRecord> {
    exec?.iter().find(|e| e.addr == r.server && e.peer == r.local && e.conn_req == r.conn_req)
}

fn join_sentences(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (_, true) => a.to_string(),
        (true, false) => b.to_string(),
        (false, false) => format!("{} {}", a.trim_end(), b),
    }
}

/// The label of a mutation attempt, the attempt it repeats, and a note on why.
fn decide(
    records: &[IntentRecord],
    client: &str,
    call_key: &str,
    cause: Cause,
) -> (&'static str, Option<u64>, String) {
    match cause {
        Cause::RefreshRetry { of } => ("auto-refresh-retry", Some(of), String::new()),
        Cause::ErrorRetry { of } => ("error-retry", Some(of), String::new()),
        Cause::App => {
            let prior = records
                .iter()
                .rev()
                .find(|r| r.role == Role::Mutation && r.client == client && r.call_key == call_key);
            let Some(p) = prior else {
                return ("original", None, String::new());
            };
            match p.outcome_kind {
                Some(Outcome::Ok | Outcome::OkUnconfirmed | Outcome::AppError | Outcome::Rejected) => (
                    "genuine-duplicate",
                    Some(p.seq),
                    format!(
                        "The application sent the same call as #{} again after it had completed \
                         ({}).",
                        p.seq,
                        p.outcome.unwrap_or("?")
                    ),
                ),
                Some(o) => (
                    "error-retry",
                    Some(p.seq),
                    format!("The application re-sent #{} after it failed ({}).", p.seq, o.as_str()),
                ),
                None => (
                    "error-retry",
                    Some(p.seq),
                    format!("The same call as #{} was sent while #{} was still unanswered.", p.seq, p.seq),
                ),
            }
        }
    }
}

/// Writes records as JSON lines.
pub fn to_jsonl<T: Serialize>(items: &[T]) -> anyhow::Result<String> {
    let mut out = String::new();
    for item in items {
        out.push_str(&serde_json::to_string(item)?);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(path: &str, body: &str, role: Role, cause: Cause) -> Attempt {
        Attempt {
            client: "app@127.0.0.1".into(),
            app_id: 1.into(),
            server: "127.0.0.1:1".parse().unwrap(),
            method: "POST".into(),
            path: path.into(),
            content_type: "application/x-www-form-urlencoded".into(),
            body: body.into(),
            role,
            cause,
            why: "test.".into(),
        }
    }

    #[test]
    fn labels_follow_the_design_table() {
        let log = IntentLog::new();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let ok = |_: ()| Ok::<(), ()>(());
        let (s1, _) = log.send(
            attempt("/openApi/runJob", "jobId=1&appId=1", Role::Mutation, Cause::App),
            local,
            1,
            || ok(()),
        );
        log.set_result(s1, Some(200), Outcome::Ok);
        // Same call, other parameter order: same key → genuine duplicate.
        let (s2, _) = log.send(
            attempt("/openApi/runJob", "appId=1&jobId=1", Role::Mutation, Cause::App),
            local,
            2,
            || ok(()),
        );
        log.set_result(s2, Some(500), Outcome::ServerError);
        let (s3, _) = log.send(
            attempt("/openApi/runJob", "jobId=1&appId=1", Role::Mutation, Cause::App),
            local,
            3,
            || ok(()),
        );
        let (s4, _) = log.send(
            attempt("/openApi/runJob", "jobId=1&appId=1", Role::Mutation, Cause::RefreshRetry { of: s3 }),
            local,
            4,
            || ok(()),
        );
        let exec = vec![ExecRecord {
            time_us: 0,
            server: "a".into(),
            addr: "127.0.0.1:1".into(),
            path: "/openApi/runJob".into(),
            body: String::new(),
            result: Value::Null,
            peer: "127.0.0.1:5000".into(),
            conn_req: 1,
        }];
        let recs = log.finalize(Some(&exec));
        let got: Vec<_> =
            recs.iter().map(|r| (r.expect_label, r.expect_repeat_of, r.expect_double_execution)).collect();
        assert_eq!(
            got,
            vec![
                (Some("original"), None, Some("no")),
                (Some("genuine-duplicate"), Some(s1), Some("yes")),
                (Some("error-retry"), Some(s2), Some("no")),
                (Some("auto-refresh-retry"), Some(s3), Some("no")),
            ]
        );
        assert_eq!(s4, 4);
        let unknown = log.finalize(None);
        assert_eq!(unknown[1].expect_double_execution, Some("unknown"));
    }
}
