//! Label tests: sequences of calls in, labels out — one test per row of the decision table.

use super::*;
use crate::classify::{Marker, Outcome};
use crate::exchange::{Close, Flags, Origin, Wire};

/// A call builder with PowerJob-like defaults.
#[derive(Clone)]
struct C(Call);

fn at(ms: i64) -> Timestamp {
    Timestamp(ms * 1_000_000)
}

fn mutation(key: u64, ms: i64) -> C {
    C(Call {
        time: at(ms),
        resp_time: Some(at(ms + 10)),
        input: 0,
        origin: Origin::Frame(ms as u64),
        conn: 1,
        client: "10.0.0.5:40000".parse().unwrap(),
        server: "10.0.0.9:7700".parse().unwrap(),
        kind: CallKind::Mutation,
        method: "POST".into(),
        path: "/openApi/runJob".into(),
        query: String::new(),
        key,
        call_key: format!("POST /openApi/runJob jobId={key}"),
        caller: "app:1@10.0.0.5".into(),
        app: Some("1".into()),
        host: "10.0.0.5".into(),
        credential: Some("tok:aaaaaaaa".into()),
        status: Some(200),
        outcome: Outcome::Ok,
        code: None,
        message: None,
        marker: Marker::Present("true".into()),
        refresh_trigger: false,
        issued_token: None,
        idempotency_key: None,
        attempt: None,
        resp_bytes: Some(40),
        verdict_seen: true,
        flags: Flags::default(),
        wire: Wire::default(),
        key_incomplete: false,
        client_aborted: false,
        retry_after: false,
    })
}

impl C {
    fn outcome(mut self, o: Outcome) -> Self {
        self.0.outcome = o;
        self
    }
    fn unconfirmed(mut self) -> Self {
        self.0.outcome = Outcome::OkUnconfirmed;
        self.0.marker = Marker::Absent;
        self.0.refresh_trigger = true;
        self
    }
    fn rejected(mut self) -> Self {
        self.0.outcome = Outcome::Rejected;
        self.0.marker = Marker::Present("false".into());
        self.0.code = Some("-403".into());
        self.0.refresh_trigger = true;
        self
    }
    fn status(mut self, st: u16) -> Self {
        self.0.status = Some(st);
        self
    }
    fn wire(mut self, w: Wire) -> Self {
        self.0.wire = w;
        self
    }
    fn conn(mut self, n: u64) -> Self {
        self.0.conn = n;
        self
    }
    fn token(mut self, t: &str) -> Self {
        self.0.credential = Some(t.into());
        self
    }
    fn no_response(mut self) -> Self {
        self.0.resp_time = None;
        self.0.status = None;
        self.0.outcome = Outcome::NoResponse;
        self
    }
    fn late(mut self, resp_ms: i64) -> Self {
        self.0.resp_time = Some(at(resp_ms));
        self
    }
    fn caller(mut self, c: &str) -> Self {
        self.0.caller = c.into();
        self
    }
    fn idem(mut self, k: &str) -> Self {
        self.0.idempotency_key = Some(k.into());
        self
    }
    fn unseen(mut self, bytes: u64) -> Self {
        self.0.verdict_seen = false;
        self.0.marker = Marker::Unseen;
        self.0.resp_bytes = Some(bytes);
        self.0.origin = Origin::Line(self.0.origin.number());
        self
    }
    fn auth(mut self, issued: &str) -> Self {
        self.0.kind = CallKind::Auth;
        self.0.path = "/openApi/authApp".into();
        self.0.issued_token = Some(issued.into());
        self.0.key = u64::MAX;
        self
    }
}

/// Settings as the powerjob profile gives them.
fn powerjob() -> Settings {
    Settings {
        marker: Some("X-POWERJOB-AUTH-PASSED".into()),
        marker_value: Some("true".into()),
        missing_marker_hint: Some(
            "a PowerJob 5.1.0 server with auth off, or a proxy dropping the header".into(),
        ),
        marker_case_hint: Some("PowerJob #1062".into()),
        refresh_on_success: true,
        ..Settings::default()
    }
}

fn run(calls: Vec<C>) -> Vec<Row> {
    let mut k = Correlator::new(powerjob());
    calls.into_iter().filter_map(|c| k.push(c.0)).collect()
}

fn labels(rows: &[Row]) -> Vec<(Label, Option<u64>, Option<DoubleExecution>)> {
    rows.iter().map(|r| (r.label, r.repeat_of, r.double_execution)).collect()
}

use DoubleExecution::{No, Unknown, Yes};
use Label::*;

#[test]
fn first_call_is_original() {
    let rows = run(vec![mutation(1, 0), mutation(2, 5)]);
    assert_eq!(labels(&rows), vec![(Original, None, None), (Original, None, None)]);
}

#[test]
fn the_510_bug_is_an_auto_refresh_retry_executed_twice() {
    let rows = run(vec![
        mutation(1, 0).unconfirmed(),
        mutation(0, 20).auth("tok:bbbbbbbb"),
        mutation(1, 40).token("tok:bbbbbbbb"),
    ]);
    assert_eq!(labels(&rows)[2], (AutoRefreshRetry, Some(1), Some(Yes)));
    assert_eq!(rows[2].refresh_id, Some(2));
    assert_eq!(rows[2].cause, Some(Cause::MarkerMissing));
    assert!(rows[2].evidence.contains("lacked X-POWERJOB-AUTH-PASSED: true"), "{}", rows[2].evidence);
    assert!(rows[2].evidence.contains("executed twice"));
}

#[test]
fn lowercased_marker_names_1062() {
    let mut p = mutation(1, 0).unconfirmed();
    p.0.marker = Marker::OtherCase("x-powerjob-auth-passed".into(), "true".into());
    let rows = run(vec![p, mutation(0, 20).auth("tok:b"), mutation(1, 40).token("tok:b")]);
    assert_eq!(rows[2].cause, Some(Cause::MarkerCase));
    assert!(rows[2].evidence.contains("#1062"), "{}", rows[2].evidence);
}

#[test]
fn lowercased_marker_on_http2_names_the_http2_hop() {
    let mut p = mutation(1, 0).unconfirmed();
    p.0.marker = Marker::OtherCase("x-powerjob-auth-passed".into(), "true".into());
    let rows = run(vec![p.clone(), mutation(0, 20).auth("tok:b"), mutation(1, 40).token("tok:b")]);
    assert!(!rows[2].evidence.contains("HTTP/2, whose header names"), "{}", rows[2].evidence);
    p.0.wire.h2_stream = 1;
    let rows = run(vec![p, mutation(0, 20).auth("tok:b"), mutation(1, 40).token("tok:b")]);
    assert_eq!(rows[2].cause, Some(Cause::MarkerCase));
    assert!(
        rows[2].evidence.contains("this hop is HTTP/2, whose header names are lower case"),
        "{}",
        rows[2].evidence
    );
    assert!(rows[2].evidence.contains("#1062"), "{}", rows[2].evidence);
}

#[test]
fn expired_token_retry_is_harmless() {
    let rows =
        run(vec![mutation(1, 0).rejected(), mutation(0, 20).auth("tok:b"), mutation(1, 40).token("tok:b")]);
    assert_eq!(labels(&rows)[2], (AutoRefreshRetry, Some(1), Some(No)));
    assert_eq!(rows[2].cause, Some(Cause::TokenRejected));
}

#[test]
fn same_credential_after_a_rejection_is_not_a_refresh() {
    // The auth call happened, but M still carries the old token: not the refresh rule.
    // No client re-sends a rejected call with the token it was rejected for: the application
    // sent it again (docs/labels.md, final-error).
    let rows = run(vec![mutation(1, 0).rejected(), mutation(0, 20).auth("tok:b"), mutation(1, 40)]);
    assert_eq!(labels(&rows)[2], (GenuineDuplicate, Some(1), Some(No)));
    assert_eq!(rows[2].cause, Some(Cause::FinalError));
}

#[test]
fn proactive_refresh_does_not_make_a_retry() {
    let rows = run(vec![mutation(1, 0), mutation(0, 20).auth("tok:b"), mutation(1, 40).token("tok:b")]);
    assert_eq!(labels(&rows)[2], (GenuineDuplicate, Some(1), Some(Yes)));
    assert!(rows[2].evidence.contains("not a retry"), "{}", rows[2].evidence);
}

#[test]
fn genuine_duplicate_chain_straddling_a_refresh() {
    let rows = run(vec![
        mutation(1, 0),
        mutation(1, 2_000).rejected(),
        mutation(0, 2_020).auth("tok:b"),
        mutation(1, 2_040).token("tok:b"),
    ]);
    assert_eq!(
        labels(&rows),
        vec![
            (Original, None, None),
            (GenuineDuplicate, Some(1), Some(Yes)),
            (Auth, None, None),
            (AutoRefreshRetry, Some(2), Some(No)),
        ]
    );
}

#[test]
fn concurrent_calls_share_one_refresh() {
    let rows = run(vec![
        mutation(11, 0).rejected(),
        mutation(12, 1).rejected(),
        mutation(0, 20).auth("tok:b"),
        mutation(11, 40).token("tok:b"),
        mutation(12, 41).token("tok:b"),
    ]);
    assert_eq!(labels(&rows)[3], (AutoRefreshRetry, Some(1), Some(No)));
    assert_eq!(labels(&rows)[4], (AutoRefreshRetry, Some(2), Some(No)));
    assert_eq!((rows[3].refresh_id, rows[4].refresh_id), (Some(3), Some(3)));
}

#[test]
fn timeout_failover_is_an_error_retry_executed_twice() {
    let mut m = mutation(1, 2_000);
    m.0.server = "10.0.0.10:7700".parse().unwrap();
    let rows = run(vec![mutation(1, 0).late(3_000), m]);
    assert_eq!(labels(&rows)[1], (ErrorRetry, Some(1), Some(Yes)));
    assert_eq!(rows[1].cause, Some(Cause::Timeout));
    assert!(rows[1].evidence.contains("another server"), "{}", rows[1].evidence);
}

#[test]
fn no_response_and_server_errors_are_error_retries_of_unknown_effect() {
    let rows = run(vec![mutation(1, 0).no_response(), mutation(1, 3_000)]);
    assert_eq!(labels(&rows)[1], (ErrorRetry, Some(1), Some(Unknown)));
    let rows = run(vec![mutation(1, 0).outcome(Outcome::ServerError), mutation(1, 100)]);
    assert_eq!(labels(&rows)[1], (ErrorRetry, Some(1), Some(Unknown)));
    // A final client or application error is not retried by any library: the application
    // sent the call again, and the first attempt had no effect.
    let rows = run(vec![mutation(1, 0).outcome(Outcome::ClientError).status(404), mutation(1, 100)]);
    assert_eq!(labels(&rows)[1], (GenuineDuplicate, Some(1), Some(No)));
    let rows = run(vec![mutation(1, 0).outcome(Outcome::AppError), mutation(1, 100)]);
    assert_eq!(labels(&rows)[1], (GenuineDuplicate, Some(1), Some(No)));
}

#[test]
fn lost_response_is_ambiguous() {
    let rows = run(vec![mutation(1, 0).no_response().outcome(Outcome::Unknown), mutation(1, 5_000)]);
    assert_eq!(labels(&rows)[1], (Ambiguous, Some(1), Some(Unknown)));
    assert_eq!(rows[1].confidence, Confidence::Inferred);
}

#[test]
fn idempotency_keys_outrank_timing() {
    let rows = run(vec![mutation(1, 0).idem("a"), mutation(1, 100).idem("b")]);
    assert_eq!(labels(&rows)[1], (GenuineDuplicate, Some(1), Some(Yes)));
    let rows = run(vec![mutation(1, 0).outcome(Outcome::ServerError).idem("a"), mutation(1, 100).idem("a")]);
    assert_eq!(labels(&rows)[1], (ErrorRetry, Some(1), Some(Unknown)));
    assert_eq!(rows[1].cause, Some(Cause::RetryMarker));
    let mut m = mutation(1, 100);
    m.0.attempt = Some(("X-Envoy-Attempt-Count".into(), 2));
    let rows = run(vec![mutation(1, 0), m]);
    assert_eq!(labels(&rows)[1].0, ErrorRetry);
    assert!(rows[1].evidence.contains("X-Envoy-Attempt-Count"));
}

#[test]
fn callers_and_window_separate_calls() {
    let rows = run(vec![mutation(1, 0), mutation(1, 10).caller("app:2@10.0.0.5")]);
    assert_eq!(labels(&rows)[1].0, Original, "another app is another caller");
    let rows = run(vec![mutation(1, 0), mutation(1, 11 * 60 * 1000)]);
    assert_eq!(labels(&rows)[1].0, Original, "outside the 10 minute window");
}

#[test]
fn an_expiring_earlier_copy_does_not_forget_the_later_one() {
    // #1 at 0 min, #2 at 8 min repeats it, #3 at 15 min: #1 has left the 10 minute window
    // (its slot goes), #2 has not and is still remembered under the same key.
    let min = 60 * 1000;
    let rows = run(vec![mutation(1, 0), mutation(1, 8 * min), mutation(2, 12 * min), mutation(1, 15 * min)]);
    assert_eq!(labels(&rows)[1].1, Some(1));
    assert_eq!(labels(&rows)[3].0, GenuineDuplicate);
    assert_eq!(labels(&rows)[3].1, Some(2), "the repeat of #2, not of the expired #1");
}

#[test]
fn past_the_memory_cap_the_oldest_calls_are_forgotten_and_counted() {
    let mut k = Correlator::new(Settings::default());
    // One call per millisecond, all within the window: MAX_REMEMBERED + 10 distinct calls.
    let n = MAX_REMEMBERED as u64 + 10;
    for key in 0..n {
        let row = k.push(mutation(key, key as i64).0).expect("a mutation is reported");
        assert_eq!(row.label, Original);
    }
    assert_eq!(k.forgotten(), 9, "the first 9 left the table to make room");
    let t = n as i64;
    let old = k.push(mutation(0, t).0).unwrap();
    assert_eq!(old.label, Original, "forgotten: its repeat cannot be found");
    let recent = k.push(mutation(n - 1, t + 1000).0).unwrap();
    assert_eq!((recent.label, recent.repeat_of), (GenuineDuplicate, Some(n)), "still remembered");
    assert!(k.slots.len() <= MAX_REMEMBERED + 1 && k.index.len() <= MAX_REMEMBERED + 1);
}

#[test]
fn logs_infer_the_refresh_pattern_and_use_sizes() {
    // Verdict invisible: P -> auth -> M within the retry latency.
    let rows = run(vec![
        mutation(1, 0).unseen(48),
        mutation(0, 0).auth("tok:b").unseen(120),
        mutation(1, 0).unseen(48),
    ]);
    assert_eq!(labels(&rows)[2], (AutoRefreshRetry, Some(1), Some(Yes)));
    assert_eq!(rows[2].confidence, Confidence::Inferred);
    assert!(rows[2].evidence.contains("same size"), "{}", rows[2].evidence);
    let rows = run(vec![
        mutation(1, 0).unseen(130),
        mutation(0, 0).auth("tok:b").unseen(120),
        mutation(1, 0).unseen(48),
    ]);
    assert_eq!(labels(&rows)[2], (AutoRefreshRetry, Some(1), Some(No)));
    // Too late for the client's retry: an application repeat of unknown effect.
    let rows = run(vec![
        mutation(1, 0).unseen(48),
        mutation(0, 1_000).auth("tok:b").unseen(120),
        mutation(1, 9_000).unseen(48),
    ]);
    assert_eq!(labels(&rows)[2], (GenuineDuplicate, Some(1), Some(Unknown)));
}

#[test]
fn reads_only_with_all() {
    let mut read = mutation(5, 0);
    read.0.kind = CallKind::Read;
    assert!(run(vec![read.clone()]).is_empty());
    let mut k = Correlator::new(Settings { all: true, ..Settings::default() });
    assert_eq!(k.push(read.0).map(|r| r.label), Some(Read));
}

#[test]
fn labels_parse_and_print() {
    for l in Label::ALL {
        assert_eq!(Label::parse(l.name()), Some(l));
    }
    assert_eq!(Label::parse("nope"), None);
}

#[test]
fn remembered_calls_stay_small() {
    // 200 000 of them at the cap: every byte here is 200 KB of peak memory.
    assert!(std::mem::size_of::<Slot>() <= 72, "{}", std::mem::size_of::<Slot>());
}

#[test]
fn past_the_caller_cap_the_half_with_the_oldest_auth_calls_goes() {
    let mut k = Correlator::new(Settings::default());
    // All at one instant (a log's whole second): the cut is by row id, not by time.
    for n in 0..=MAX_AUTH_KEYS {
        k.push(mutation(0, 0).auth("tok:b").caller(&format!("app:{n}@10.0.0.5")).0);
    }
    assert_eq!(k.auth_keys_dropped(), MAX_AUTH_KEYS as u64 / 2);
    assert_eq!(k.callers.len(), MAX_AUTH_KEYS / 2 + 1);
    assert!(!k.callers.contains_key("app:0@10.0.0.5"));
    assert!(k.callers.contains_key(format!("app:{MAX_AUTH_KEYS}@10.0.0.5").as_str()));
}

mod model {
    //! The ring and its index against the plain definition: a mutation repeats the latest
    //! earlier mutation with its caller and call key whose time is within the window.
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn repeats_are_found_as_defined(
            calls in proptest::collection::vec((0u8..3, 0u64..4, 0i64..60, any::<bool>()), 0..300),
        ) {
            let window_ms = 100;
            let mut k = Correlator::new(Settings {
                window: Duration::from_millis(window_ms as u64),
                ..Settings::default()
            });
            let mut seen: Vec<(String, u64, i64, u64)> = Vec::new(); // caller, key, ms, row id
            let mut t = 0;
            for (caller, key, step, auth) in calls {
                t += step;
                let who = format!("app:{caller}@10.0.0.5");
                let c = if auth { mutation(0, t).auth("tok:b") } else { mutation(key, t) }.caller(&who);
                let row = k.push(c.0).expect("mutations and auth calls are reported");
                if auth {
                    continue;
                }
                let want = seen
                    .iter()
                    .rev()
                    .find(|(c, k, ms, _)| *c == who && *k == key && *ms >= t - window_ms)
                    .map(|s| s.3);
                prop_assert_eq!(row.repeat_of, want, "call {} at {} ms", row.id, t);
                seen.push((who, key, t, row.id));
            }
        }
    }
}

// --- One test per row of the decision table (rules::RULES, docs/labels.md), each also
// checking the key facts of its evidence. ---

fn close(ms: i64, rst: bool) -> Option<Close> {
    Some(Close { at: at(ms), rst })
}

fn rule_of(rows: &[Row], i: usize) -> &'static str {
    rows[i].rule.unwrap_or("none")
}

#[test]
fn every_rule_has_a_row_in_docs_labels_md() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/labels.md")).unwrap();
    let mut last = 0;
    for name in super::rules::rule_names().into_iter().chain(["request-lost-bytes"]) {
        let pos =
            doc.find(&format!("`{name}`")).unwrap_or_else(|| panic!("docs/labels.md lacks rule `{name}`"));
        if name != "request-lost-bytes" {
            assert!(pos > last, "docs/labels.md lists `{name}` out of order");
            last = pos;
        }
    }
}

#[test]
fn client_timeout_with_a_late_success_is_executed_twice() {
    // OkHttp: FIN at 2.0 s, the new call on a new connection to another server, the late
    // 200 head after the FIN (then the client's RST).
    let p = mutation(1, 0).late(3_000).wire(Wire {
        nth: 1,
        client_closed: close(2_000, false),
        ..Wire::default()
    });
    let mut m = mutation(1, 2_003).conn(2);
    m.0.server = "10.0.0.10:7700".parse().unwrap();
    let rows = run(vec![p, m]);
    assert_eq!(labels(&rows)[1], (ErrorRetry, Some(1), Some(Yes)));
    assert_eq!(rule_of(&rows, 1), "client-gave-up");
    assert_eq!(rows[1].cause, Some(Cause::Timeout));
    let e = &rows[1].evidence;
    for fact in [
        "gave up on #1 after 2.0 s",
        "closed the connection",
        "another server",
        "1.0 s after the client gave up",
        "executed twice",
    ] {
        assert!(e.contains(fact), "{fact}: {e}");
    }
    assert!(!e.contains("gap"), "no gap without a hole: {e}");
}

#[test]
fn client_timeout_without_a_late_response_is_unknown() {
    let p = mutation(1, 0).no_response().wire(Wire { client_closed: close(2_000, true), ..Wire::default() });
    let rows = run(vec![p, mutation(1, 2_001).conn(2)]);
    assert_eq!(labels(&rows)[1], (ErrorRetry, Some(1), Some(Unknown)));
    assert!(rows[1].evidence.contains("reset the connection"), "{}", rows[1].evidence);
    assert!(rows[1].evidence.contains("server's log"), "{}", rows[1].evidence);
}

#[test]
fn server_dropping_a_keep_alive_connection_is_a_transport_resend() {
    let p =
        mutation(1, 0).no_response().wire(Wire { nth: 3, server_closed: close(1, false), ..Wire::default() });
    let rows = run(vec![p, mutation(1, 3).conn(2)]);
    assert_eq!(labels(&rows)[1], (ErrorRetry, Some(1), Some(Unknown)));
    assert_eq!(rule_of(&rows, 1), "server-dropped");
    assert_eq!(rows[1].cause, Some(Cause::TransportResend));
    let e = &rows[1].evidence;
    for fact in ["server closed (FIN)", "reused keep-alive connection", "new connection", "server's log"] {
        assert!(e.contains(fact), "{fact}: {e}");
    }
    assert!(!e.contains("timeout") && !e.contains("gap"), "{e}");
}

#[test]
fn a_repeat_after_a_final_4xx_is_the_application() {
    for st in [400, 403, 404, 409, 422] {
        let rows = run(vec![mutation(1, 0).outcome(Outcome::ClientError).status(st), mutation(1, 3_000)]);
        assert_eq!(labels(&rows)[1], (GenuineDuplicate, Some(1), Some(No)), "{st}");
        assert_eq!(rule_of(&rows, 1), "final-error");
        assert!(rows[1].evidence.contains(&format!("HTTP {st}")), "{}", rows[1].evidence);
        assert!(rows[1].evidence.contains("application sent the call again"), "{}", rows[1].evidence);
    }
}

#[test]
fn retryable_4xx_are_error_retries_not_processed() {
    for st in [408, 425, 429] {
        let rows = run(vec![mutation(1, 0).outcome(Outcome::ClientError).status(st), mutation(1, 1_000)]);
        assert_eq!(labels(&rows)[1], (ErrorRetry, Some(1), Some(No)), "{st}");
        assert_eq!(rule_of(&rows, 1), "retryable-error");
        assert!(rows[1].evidence.contains("try again"), "{}", rows[1].evidence);
    }
}

#[test]
fn a_401_refreshed_by_another_layer_is_a_refresh_retry_with_that_said() {
    // PowerJob v5 throws on a 401 and never refreshes; the caller refreshed anyway.
    let mut p = mutation(1, 0).outcome(Outcome::Rejected).status(401);
    p.0.refresh_trigger = false;
    let rows = run(vec![p, mutation(0, 20).auth("tok:b"), mutation(1, 40).token("tok:b")]);
    assert_eq!(labels(&rows)[2], (AutoRefreshRetry, Some(1), Some(No)));
    assert_eq!(rule_of(&rows, 2), "rejected-refreshed-elsewhere");
    assert_eq!(rows[2].refresh_id, Some(2));
    let e = &rows[2].evidence;
    assert!(e.contains("HTTP 401") && e.contains("application or another layer"), "{e}");
    assert!(!e.contains("without a token refresh"), "{e}");
}

#[test]
fn a_401_without_a_refresh_is_the_application() {
    let mut p = mutation(1, 0).outcome(Outcome::Rejected).status(401);
    p.0.refresh_trigger = false;
    let rows = run(vec![p, mutation(1, 500)]);
    assert_eq!(labels(&rows)[1], (GenuineDuplicate, Some(1), Some(No)));
    assert!(rows[1].evidence.contains("no token refresh followed"), "{}", rows[1].evidence);
}

#[test]
fn go_canonical_marker_names_a_go_proxy() {
    let mut p = mutation(1, 0).unconfirmed();
    p.0.marker = Marker::OtherCase("X-Powerjob-Auth-Passed".into(), "true".into());
    let rows = run(vec![p, mutation(0, 20).auth("tok:b"), mutation(1, 40).token("tok:b")]);
    assert_eq!(rows[2].cause, Some(Cause::MarkerCase));
    let e = &rows[2].evidence;
    assert!(e.contains("Go's canonical form") && e.contains("Caddy"), "{e}");
    assert!(!e.contains("lacked"), "the header was there, in another case: {e}");
}

#[test]
fn concurrent_identical_calls_are_ambiguous() {
    // M 100 ms after P, P answered later, nothing closed: two calls in flight.
    let rows = run(vec![mutation(1, 0).late(300), mutation(1, 100).conn(2)]);
    assert_eq!(labels(&rows)[1], (Ambiguous, Some(1), Some(Unknown)));
    assert_eq!(rows[1].cause, Some(Cause::Concurrent));
}

#[test]
fn logs_without_bodies_never_claim_a_duplicate() {
    let mut p = mutation(1, 0).unseen(48);
    p.0.key_incomplete = true;
    let mut m = mutation(1, 5_000).unseen(48);
    m.0.key_incomplete = true;
    let rows = run(vec![p, m]);
    assert_eq!(labels(&rows)[1], (Ambiguous, Some(1), Some(Unknown)));
    assert_eq!(rule_of(&rows, 1), "call-key-incomplete");
    assert!(rows[1].evidence.contains("may be different calls"), "{}", rows[1].evidence);
    assert!(rows[1].evidence.contains("$request_body"), "{}", rows[1].evidence);
}

#[test]
fn a_log_refresh_pattern_needs_nothing_in_between() {
    // P → another call of the caller → auth → M: not the client's immediate retry.
    let mut other = mutation(7, 5).unseen(10);
    other.0.path = "/openApi/fetchJob".into();
    let mut rows = run(vec![
        mutation(1, 0).unseen(130),
        other,
        mutation(0, 10).auth("tok:b").unseen(120),
        mutation(1, 20).unseen(48),
    ]);
    let last = rows.pop().unwrap();
    assert_ne!(last.label, AutoRefreshRetry, "{}", last.evidence);
}

#[test]
fn a_log_refresh_pattern_needs_the_retry_latency_after_the_refresh() {
    let rows = run(vec![
        mutation(1, 0).unseen(130).status(401),
        mutation(0, 10).auth("tok:b").unseen(120),
        mutation(1, 6_000).unseen(48),
    ]);
    assert_ne!(rows[2].label, AutoRefreshRetry, "{}", rows[2].evidence);
}

proptest::proptest! {
    /// No evidence speaks of a capture gap unless P's response really had a hole.
    #[test]
    fn no_gap_without_a_hole(
        outcome in 0usize..8,
        status in proptest::sample::select(vec![200u16, 401, 404, 409, 429, 500, 503]),
        resp in proptest::option::of(0i64..5_000),
        client_close in proptest::option::of((0i64..5_000, proptest::bool::ANY)),
        server_close in proptest::option::of((0i64..5_000, proptest::bool::ANY)),
        gap_flag in proptest::bool::ANY,
        m_at in 1i64..6_000,
    ) {
        let outcomes = [Outcome::Ok, Outcome::OkUnconfirmed, Outcome::Rejected, Outcome::AppError,
            Outcome::ClientError, Outcome::ServerError, Outcome::NoResponse, Outcome::Unknown];
        let mut p = mutation(1, 0).outcome(outcomes[outcome]).status(status);
        p.0.resp_time = resp.map(at);
        if gap_flag { p.0.flags.set(Flags::RESPONSE_GAP); }
        p.0.wire = Wire {
            nth: 1,
            client_closed: client_close.and_then(|(t, r)| close(t, r)),
            server_closed: server_close.and_then(|(t, r)| close(t, r)),
            capture_ended: false,
            ..Wire::default()
        };
        let rows = run(vec![p, mutation(1, m_at).conn(2)]);
        let e = &rows[1].evidence;
        if !gap_flag {
            proptest::prop_assert!(!e.contains("gap"), "{}", e);
        }
        if client_close.is_none() {
            proptest::prop_assert!(!e.contains("gave up"), "{}", e);
        }
        if server_close.is_none() {
            proptest::prop_assert!(!e.contains("server closed") && !e.contains("server reset"), "{}", e);
        }
    }
}

#[test]
fn who_closed_first_tells_the_story() {
    // The server's FIN first, the client's FIN in reply: the server dropped the request.
    let w =
        Wire { nth: 3, server_closed: close(1, false), client_closed: close(2, false), ..Wire::default() };
    let rows = run(vec![mutation(1, 0).no_response().wire(w), mutation(1, 5).conn(2)]);
    assert_eq!(rule_of(&rows, 1), "server-dropped");
    assert!(!rows[1].evidence.contains("gave up"), "{}", rows[1].evidence);
    // The client's FIN first (its timeout), the server's in reply: the client gave up.
    let w = Wire {
        nth: 1,
        client_closed: close(2_000, false),
        server_closed: close(2_001, false),
        ..Wire::default()
    };
    let rows = run(vec![mutation(1, 0).no_response().wire(w), mutation(1, 2_002).conn(2)]);
    assert_eq!(rule_of(&rows, 1), "client-gave-up");
}

#[test]
fn a_refused_http2_stream_re_sent_is_harmless() {
    use crate::exchange::Refused;
    let w = Wire { nth: 3, h2_stream: 5, refused: Some(Refused::RstStream { at: at(2) }), ..Wire::default() };
    let rows = run(vec![mutation(1, 0).no_response().wire(w), mutation(1, 4)]);
    assert_eq!(labels(&rows)[1], (ErrorRetry, Some(1), Some(No)));
    assert_eq!(rule_of(&rows, 1), "refused-stream");
    assert_eq!(rows[1].cause, Some(Cause::Refused));
    assert!(rows[1].evidence.contains("REFUSED_STREAM"), "{}", rows[1].evidence);
}

#[test]
fn a_lost_app_identity_still_finds_the_same_hosts_call() {
    // P's token was bound to its app; M's token was issued by an auth call the capture lost:
    // M's caller is its host only. Same host, same call key: P is found all the same.
    let p = mutation(1, 0).rejected();
    let mut m = mutation(1, 40).token("tok:b");
    m.0.caller = "10.0.0.5".into();
    m.0.app = None;
    let rows = run(vec![p, m]);
    assert_eq!(rows[1].repeat_of, Some(1), "{}", rows[1].evidence);
    // Two callers that both show their apps stay two callers.
    let mut other = mutation(1, 40);
    other.0.caller = "app:2@10.0.0.5".into();
    other.0.app = Some("2".into());
    let rows = run(vec![mutation(1, 0), other]);
    assert_eq!(rows[1].label, Original);
}
