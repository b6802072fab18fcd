//! The report writers (CSV, JSON, Markdown) on fixed analyses built by hand, as insta
//! snapshots (`src/report/snapshots/`), plus end-to-end checks of `--format json|md` on
//! every bundled sample: the JSON is valid, versioned and carries the same rows as the CSV;
//! the Markdown has its sections and one diagram per repeated call.
//!
//! Rows are built with `Redactor::with_key("test")` fingerprints and fixed times, so the
//! output is deterministic.

use crate::common;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::rc::Rc;

use dupcall::classify::{Call, CallKind, Marker, Outcome};
use dupcall::correlate::{Cause, Confidence, DoubleExecution, Label, Row};
use dupcall::diag::{Diagnostics, WarningKind};
use dupcall::exchange::{Flags, Origin, Timestamp};
use dupcall::input::InputKind;
use dupcall::redact::Redactor;
use dupcall::report::json::JsonReport;
use dupcall::report::markdown::{MAX_DIAGRAMS, MarkdownReport, RECENT};
use dupcall::report::rows::RowCsv;
use dupcall::report::{InputInfo, Summary};
use dupcall::report::{ReportWriter, RunContext};

/// 2026-11-26T03:16:07Z.
const BASE: i64 = 1_795_662_967_000_000_000;

fn at(ms: f64) -> Timestamp {
    Timestamp(BASE + (ms * 1e6) as i64)
}

/// A shared buffer, so the output survives the writer's `finish(self: Box<Self>)`.
#[derive(Clone, Default)]
struct Buf(Rc<RefCell<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.borrow().clone()).expect("UTF-8 report")
    }
}

/// One call; the rest of the fields get the values of a v5 client on loopback.
struct C {
    kind: CallKind,
    path: &'static str,
    at: f64,
    resp: Option<f64>,
    status: Option<u16>,
    outcome: Outcome,
    marker: Marker,
    server: &'static str,
    token: Option<&'static str>,
    issued: Option<&'static str>,
    code: Option<&'static str>,
}

impl C {
    fn new(kind: CallKind, path: &'static str, at: f64) -> Self {
        C {
            kind,
            path,
            at,
            resp: Some(at + 0.1),
            status: Some(200),
            outcome: Outcome::Ok,
            marker: Marker::NotApplicable,
            server: "127.0.0.1:7700",
            token: None,
            issued: None,
            code: None,
        }
    }

    fn call(self, r: &Redactor) -> Call {
        let server: SocketAddr = self.server.parse().unwrap();
        let body = if self.kind == CallKind::Auth {
            r#"{"appName":"order-service","encryptType":"md5"}"#.to_string()
        } else {
            "appId=1&jobId=7".to_string()
        };
        Call {
            time: at(self.at),
            resp_time: self.resp.map(at),
            input: 0,
            origin: Origin::Frame((self.at * 2.0) as u64 + 1),
            conn: 1,
            client: "127.0.0.1:50000".parse().unwrap(),
            server,
            kind: self.kind,
            method: "POST".to_string(),
            path: self.path.to_string(),
            query: String::new(),
            key: 7,
            call_key: format!("POST {} {body}", self.path),
            caller: "app:1@127.0.0.1".to_string(),
            app: Some("1".to_string()),
            host: "127.0.0.1".to_string(),
            credential: self.token.map(|t| r.fingerprint(t.as_bytes())),
            status: self.status,
            outcome: self.outcome,
            code: self.code.map(str::to_string),
            message: None,
            marker: self.marker,
            refresh_trigger: false,
            issued_token: self.issued.map(|t| r.fingerprint(t.as_bytes())),
            idempotency_key: None,
            attempt: None,
            resp_bytes: Some(40),
            verdict_seen: true,
            flags: Flags::default(),
            wire: Default::default(),
            key_incomplete: false,
            client_aborted: false,
            retry_after: false,
        }
    }
}

struct R {
    label: Label,
    repeat_of: Option<u64>,
    refresh_id: Option<u64>,
    double: Option<DoubleExecution>,
    confidence: Confidence,
    evidence: String,
    cause: Option<Cause>,
}

fn plain(label: Label, evidence: &str) -> R {
    R {
        label,
        repeat_of: None,
        refresh_id: None,
        double: None,
        confidence: Confidence::Confirmed,
        evidence: evidence.to_string(),
        cause: None,
    }
}

fn repeat(label: Label, of: u64, refresh: Option<u64>, double: DoubleExecution, cause: Cause, ev: &str) -> R {
    R {
        label,
        repeat_of: Some(of),
        refresh_id: refresh,
        double: Some(double),
        confidence: Confidence::Confirmed,
        evidence: ev.to_string(),
        cause: Some(cause),
    }
}

/// Rows from (call, label) pairs; ids 1.., `gap_ms` from the repeated row's time.
fn rows(specs: Vec<(C, R)>, r: &Redactor) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for (i, (c, l)) in specs.into_iter().enumerate() {
        let call = c.call(r);
        let gap_ms = l
            .repeat_of
            .and_then(|p| out.iter().find(|x| x.id == p))
            .map(|p| call.time.millis_since(p.call.time));
        out.push(Row {
            id: i as u64 + 1,
            call,
            label: l.label,
            repeat_of: l.repeat_of,
            refresh_id: l.refresh_id,
            gap_ms,
            double_execution: l.double,
            confidence: l.confidence,
            evidence: l.evidence,
            cause: l.cause,
            rule: None,
        });
    }
    out
}

/// The summary `analysis::run` would count for these rows.
fn summary(rows: &[Row], profile: &str) -> Summary {
    let mut s = Summary { profile: profile.to_string(), ..Summary::default() };
    for row in rows {
        *s.labels.entry(row.label).or_default() += 1;
        let label = row.label.name().to_string();
        if row.double_execution == Some(DoubleExecution::Yes) {
            s.executed_twice += 1;
        }
        let endpoint = format!("{} {}", row.call.method, row.call.path);
        *s.endpoints.entry(endpoint).or_default().entry(label.clone()).or_default() += 1;
        *s.callers.entry(row.call.caller.clone()).or_default().entry(label).or_default() += 1;
        match row.call.kind {
            CallKind::Auth => s.auth_calls += 1,
            CallKind::Mutation => s.mutations += 1,
            CallKind::Read => s.reads += 1,
        }
        s.exchanges += 1;
    }
    s
}

fn input(records: u64, first_ms: f64, last_ms: f64) -> InputInfo {
    InputInfo {
        name: "capture.pcap".to_string(),
        kind: Some(InputKind::Pcap),
        gzip: false,
        records,
        bytes: records * 300,
        connections: 1,
        exchanges: records / 2,
        first: Some(at(first_ms)),
        last: Some(at(last_ms)),
        format: None,
        error: None,
        ..InputInfo::default()
    }
}

enum Fmt {
    Csv,
    Json,
    Md,
}

fn render(fmt: Fmt, rows: &[Row], inputs: &[InputInfo], diag: &Diagnostics, profile: &str) -> String {
    let r = Redactor::with_key("test");
    let buf = Buf::default();
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let mut w: Box<dyn ReportWriter> = match fmt {
        Fmt::Csv => Box::new(RowCsv::new(buf.clone(), names).unwrap()),
        Fmt::Json => Box::new(JsonReport::new(buf.clone(), names).unwrap()),
        Fmt::Md => Box::new(MarkdownReport::new(buf.clone(), names)),
    };
    for row in rows {
        w.row(row, &r).unwrap();
    }
    let summary = summary(rows, profile);
    let ctx = RunContext {
        inputs,
        summary: &summary,
        diagnostics: diag,
        window: "10m".to_string(),
        tool: "dupcall 0.0.0-test".to_string(),
    };
    w.finish(&ctx, &r).unwrap();
    buf.text()
}

/// The v5.1.0 story (success without the marker, refresh, re-send) plus one hostile row
/// and two warnings, one of whose details carries a token.
fn analysis_510() -> (Vec<Row>, Vec<InputInfo>, Diagnostics) {
    let r = Redactor::with_key("test");
    let unconfirmed = |mut c: C| {
        c.outcome = Outcome::OkUnconfirmed;
        c.marker = Marker::Absent;
        c
    };
    let mut auth1 = C::new(CallKind::Auth, "/openApi/authApp", 0.0);
    auth1.issued = Some("eyJhbGciOiJIUzI1NiJ9.eyJhcHBJZCI6MX0.first");
    let mut p = unconfirmed(C::new(CallKind::Mutation, "/openApi/saveJob", 0.4));
    p.token = auth1.issued;
    let mut auth2 = C::new(CallKind::Auth, "/openApi/authApp", 0.6);
    auth2.issued = Some("eyJhbGciOiJIUzI1NiJ9.eyJhcHBJZCI6MX0.second");
    let mut m = unconfirmed(C::new(CallKind::Mutation, "/openApi/saveJob", 0.755));
    m.token = auth2.issued;
    let mut hostile = C::new(CallKind::Mutation, "/=cmd|' /C calc'!A0", 2.0);
    hostile.resp = None;
    hostile.status = None;
    hostile.outcome = Outcome::NoResponse;
    let ev = "Repeats #2 after auth call #3 with new token tok:aaaa0000: #2 succeeded (HTTP 200, success) but lacked X-POWERJOB-AUTH-PASSED: true (a PowerJob 5.1.0 server with auth off, or a proxy dropping the header); the client refreshed and re-sent; executed twice.";
    let rows = rows(
        vec![
            (auth1, plain(Label::Auth, "Auth call by app:1@127.0.0.1.")),
            (p, plain(Label::Original, "No earlier identical call by this caller within 10m.")),
            (auth2, plain(Label::Auth, "Auth call by app:1@127.0.0.1.")),
            (m, repeat(Label::AutoRefreshRetry, 2, Some(3), DoubleExecution::Yes, Cause::MarkerMissing, ev)),
            (hostile, plain(Label::Original, "=HYPERLINK(\"http://x\") <b>@octocat</b> | pipe")),
        ],
        &r,
    );
    let mut diag = Diagnostics::default();
    diag.warn(WarningKind::TcpGap, 0, Some(Origin::Frame(12)), Some(1), "120 bytes missing");
    diag.warn(
        WarningKind::HttpParseError,
        0,
        Some(Origin::Frame(14)),
        Some(2),
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl in a bad head",
    );
    (rows, vec![input(28, -0.2, 2.5)], diag)
}

fn snapshot_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn csv_of_the_510_story() {
    let (rows, inputs, diag) = analysis_510();
    let out = render(Fmt::Csv, &rows, &inputs, &diag, "powerjob");
    snapshot_settings().bind(|| insta::assert_snapshot!("csv_510", out));
}

#[test]
fn json_of_the_510_story() {
    let (rows, inputs, diag) = analysis_510();
    let out = render(Fmt::Json, &rows, &inputs, &diag, "powerjob");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["schema"], "dupcall-report/1");
    assert!(!out.contains("eyJ"), "{out}");
    snapshot_settings().bind(|| insta::assert_snapshot!("json_510", out));
}

#[test]
fn markdown_of_the_510_story() {
    let (rows, inputs, diag) = analysis_510();
    let out = render(Fmt::Md, &rows, &inputs, &diag, "powerjob");
    assert!(!out.contains("eyJ"), "{out}");
    assert!(!out.contains("<b>") && !out.contains(" @octocat"), "{out}");
    snapshot_settings().bind(|| insta::assert_snapshot!("md_510", out));
}

#[test]
fn empty_analysis_is_valid_everywhere() {
    let inputs = vec![input(0, 0.0, 0.0)];
    let diag = Diagnostics::default();
    let json = render(Fmt::Json, &[], &inputs, &diag, "generic");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON with zero rows");
    assert_eq!(v["rows"], serde_json::json!([]));
    assert_eq!(v["summary"]["rows"], 0);
    let md = render(Fmt::Md, &[], &inputs, &diag, "generic");
    assert!(!md.contains("```mermaid"));
    snapshot_settings().bind(|| {
        insta::assert_snapshot!("json_empty", json);
        insta::assert_snapshot!("md_empty", md);
    });
}

/// One repeat per cause, with its attempt (and auth call where the story has one).
fn analysis_every_cause() -> (Vec<Row>, Vec<InputInfo>, Diagnostics) {
    let r = Redactor::with_key("test");
    let mut specs: Vec<(C, R)> = Vec::new();
    let mut t = 0.0;
    let mut next = |specs: &mut Vec<(C, R)>,
                    path: &'static str,
                    p_fix: &dyn Fn(&mut C),
                    auth: bool,
                    m_fix: &dyn Fn(&mut C),
                    label: Label,
                    double: DoubleExecution,
                    cause: Cause,
                    ev: &str| {
        let pid = specs.len() as u64 + 1;
        let mut p = C::new(CallKind::Mutation, path, t);
        p.token = Some("eyJhbGciOiJIUzI1NiJ9.eyJhcHBJZCI6MX0.one");
        p_fix(&mut p);
        specs.push((p, plain(Label::Original, "No earlier identical call by this caller within 10m.")));
        let mut refresh = None;
        if auth {
            let mut a = C::new(CallKind::Auth, "/openApi/authApp", t + 1.0);
            a.issued = Some("eyJhbGciOiJIUzI1NiJ9.eyJhcHBJZCI6MX0.two");
            refresh = Some(specs.len() as u64 + 1);
            specs.push((a, plain(Label::Auth, "Auth call by app:1@127.0.0.1.")));
        }
        let mut m = C::new(CallKind::Mutation, path, t + 2.0);
        m.token = Some(if auth {
            "eyJhbGciOiJIUzI1NiJ9.eyJhcHBJZCI6MX0.two"
        } else {
            "eyJhbGciOiJIUzI1NiJ9.eyJhcHBJZCI6MX0.one"
        });
        m_fix(&mut m);
        specs.push((m, repeat(label, pid, refresh, double, cause, ev)));
        t += 1000.0;
    };
    let none = |_: &mut C| {};
    next(
        &mut specs,
        "/openApi/saveJob",
        &|c| {
            c.outcome = Outcome::OkUnconfirmed;
            c.marker = Marker::Absent;
        },
        true,
        &|c| {
            c.outcome = Outcome::OkUnconfirmed;
            c.marker = Marker::Absent;
        },
        Label::AutoRefreshRetry,
        DoubleExecution::Yes,
        Cause::MarkerMissing,
        "Repeats #1 after auth call #2: #1 succeeded but lacked X-POWERJOB-AUTH-PASSED: true; executed twice.",
    );
    next(
        &mut specs,
        "/openApi/runJob",
        &|c| {
            c.outcome = Outcome::OkUnconfirmed;
            c.marker = Marker::OtherCase("x-powerjob-auth-passed".into(), "true".into());
        },
        true,
        &|c| c.marker = Marker::OtherCase("x-powerjob-auth-passed".into(), "true".into()),
        Label::AutoRefreshRetry,
        DoubleExecution::Yes,
        Cause::MarkerCase,
        "Repeats #4 after auth call #5: #4 succeeded but carried `x-powerjob-auth-passed: true` in another letter case; executed twice.",
    );
    next(
        &mut specs,
        "/openApi/disableJob",
        &|c| {
            c.outcome = Outcome::Rejected;
            c.marker = Marker::Present("false".into());
            c.code = Some("-403");
        },
        true,
        &|c| c.marker = Marker::Present("true".into()),
        Label::AutoRefreshRetry,
        DoubleExecution::No,
        Cause::TokenRejected,
        "Repeats #7 after auth call #8: #7 was rejected (X-POWERJOB-AUTH-PASSED: false, code -403, TOKEN_EXPIRED:JWT expired); the first attempt had no effect.",
    );
    next(
        &mut specs,
        "/openApi/runWorkflow",
        &|c| c.resp = Some(c.at + 3000.0),
        false,
        &|c| {
            c.server = "127.0.0.1:7701";
            c.at += 2000.0;
            c.resp = Some(c.at + 5.0);
        },
        Label::ErrorRetry,
        DoubleExecution::Yes,
        Cause::Timeout,
        "Sent 2.0 s after #10 to another server while #10 was still unanswered (client timeout); executed twice.",
    );
    next(
        &mut specs,
        "/openApi/enableJob",
        &|c| {
            c.status = Some(500);
            c.outcome = Outcome::ServerError;
            c.code = Some("-500");
        },
        false,
        &none,
        Label::ErrorRetry,
        DoubleExecution::Unknown,
        Cause::ErrorResponse,
        "Repeats #12, which failed (HTTP 500); re-sent without a token refresh; whether the first attempt took effect is unknown.",
    );
    next(
        &mut specs,
        "/openApi/deleteJob",
        &none,
        false,
        &none,
        Label::GenuineDuplicate,
        DoubleExecution::Yes,
        Cause::Application,
        "Repeats #14, which succeeded (HTTP 200) 2 ms earlier: the application sent the call again; executed twice.",
    );
    next(
        &mut specs,
        "/api/orders",
        &|c| c.status = Some(503),
        false,
        &none,
        Label::ErrorRetry,
        DoubleExecution::Unknown,
        Cause::RetryMarker,
        "Repeats #16 with the same Idempotency-Key: the client retried; whether the first attempt took effect is unknown.",
    );
    next(
        &mut specs,
        "/openApi/stopInstance",
        &|c| {
            c.resp = None;
            c.status = None;
            c.outcome = Outcome::Unknown;
        },
        false,
        &none,
        Label::Ambiguous,
        DoubleExecution::Unknown,
        Cause::Unknown,
        "Repeats #18, whose response was lost in a capture gap: cannot tell whether it was rejected, failed or succeeded.",
    );
    let rows = rows(specs, &r);
    (rows, vec![input(400, 0.0, 8000.0)], Diagnostics::default())
}

#[test]
fn markdown_tells_every_story() {
    let (rows, inputs, diag) = analysis_every_cause();
    let out = render(Fmt::Md, &rows, &inputs, &diag, "powerjob");
    for needle in [
        "PowerJob 5.1.0 server without `X-POWERJOB-AUTH-PASSED`",
        "arrived as `x-powerjob-auth-passed`",
        "Harmless token refresh",
        "Client timeout",
        "Re-sent after an error response",
        "Genuine duplicates",
        "Retried by the client library or a proxy",
        "Undecidable",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert_eq!(out.matches("```mermaid").count(), 8);
    snapshot_settings().bind(|| insta::assert_snapshot!("md_every_cause", out));
    // The generic wording when the profile is not PowerJob's.
    let generic = render(Fmt::Md, &rows, &inputs, &diag, "oauth2-bearer");
    assert!(!generic.contains("PowerJob 5.1.0"), "{generic}");
    assert!(generic.contains("Success without the client's marker header"), "{generic}");
}

#[test]
fn markdown_memory_is_bounded_and_says_what_it_left_out() {
    let r = Redactor::with_key("test");
    // An original far back, RECENT other rows, then its repeat: P is no longer remembered.
    let mut specs =
        vec![(C::new(CallKind::Mutation, "/openApi/runJob", 0.0), plain(Label::Original, "first"))];
    for i in 0..RECENT {
        specs.push((C::new(CallKind::Auth, "/openApi/authApp", 1.0 + i as f64), plain(Label::Auth, "auth")));
    }
    for i in 0..(MAX_DIAGRAMS + 5) {
        specs.push((
            C::new(CallKind::Mutation, "/openApi/runJob", 10_000.0 + i as f64),
            repeat(Label::GenuineDuplicate, 1, None, DoubleExecution::Yes, Cause::Application, "again"),
        ));
    }
    let rows = rows(specs, &r);
    let out = render(Fmt::Md, &rows, &[input(10, 0.0, 1.0)], &Diagnostics::default(), "powerjob");
    assert_eq!(out.matches("```mermaid").count(), MAX_DIAGRAMS);
    assert!(out.contains("5 more repeated calls are not drawn"), "{out}");
    assert!(out.contains("#35;1 (the first attempt) is no longer in memory"), "{out}");
}

// ---------------------------------------------------------------------------------------
// End to end, on the bundled samples.

/// A CSV cell as the JSON value it must equal (CSV's formula guard undone).
fn same_cell(column: &str, csv: &str, json: &serde_json::Value) -> bool {
    let csv = if csv.starts_with('\'') && csv[1..].starts_with(['=', '+', '-', '@', '\t', '\r']) {
        &csv[1..]
    } else {
        csv
    };
    match json {
        serde_json::Value::Null => csv.is_empty(),
        serde_json::Value::Number(n) if column == "gap_ms" => {
            csv.parse::<f64>().is_ok_and(|c| (c - n.as_f64().unwrap_or(f64::NAN)).abs() < 1e-9)
        }
        serde_json::Value::Number(n) => csv == n.to_string(),
        serde_json::Value::String(s) => csv == s,
        _ => false,
    }
}

#[test]
fn json_rows_equal_the_csv_rows_on_every_sample() {
    let samples = common::sample_captures();
    assert!(!samples.is_empty());
    for s in &samples {
        let csv = common::dupcall(&["analyze", s, "--fingerprint-key", "k", "-q"]);
        let json = common::dupcall(&["analyze", s, "--fingerprint-key", "k", "-q", "--format", "json"]);
        assert!(json.status.success(), "{s}: {}", String::from_utf8_lossy(&json.stderr));
        let text = String::from_utf8(json.stdout).unwrap();
        assert!(text.starts_with("{\n  \"schema\": \"dupcall-report/1\""), "{s}: schema first");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{s}: {e}"));
        let csv_rows = common::rows(&csv.stdout);
        let json_rows = v["rows"].as_array().expect("rows array");
        assert_eq!(csv_rows.len(), json_rows.len(), "{s}");
        for (c, j) in csv_rows.iter().zip(json_rows) {
            for (column, cell) in c {
                assert!(
                    same_cell(column, cell, &j[column]),
                    "{s} row {}: {column}: CSV {cell:?} vs JSON {}",
                    c["id"],
                    j[column]
                );
            }
            let is_repeat = Label::parse(&c["label"]).is_some_and(Label::is_repeat);
            assert_eq!(j["cause"].is_string(), is_repeat, "{s} row {}: cause {}", c["id"], j["cause"]);
        }
        // The summary agrees with the rows.
        let mut labels: BTreeMap<String, u64> = BTreeMap::new();
        for c in &csv_rows {
            *labels.entry(c["label"].clone()).or_default() += 1;
        }
        for (label, n) in v["summary"]["labels"].as_object().unwrap() {
            assert_eq!(labels.get(label).copied().unwrap_or(0), n.as_u64().unwrap(), "{s}: {label}");
        }
        let twice = csv_rows.iter().filter(|c| c["double_execution"] == "yes").count() as u64;
        assert_eq!(v["summary"]["executed_twice"], twice, "{s}");
        let input = &v["inputs"][0];
        assert_eq!(input["kind"], "pcap", "{s}");
        assert!(input["packets"].as_u64().unwrap() > 0 && input["lines"].is_null(), "{s}");
        assert!(v["warnings"]["counts"].is_object() && v["warnings"]["first"].is_array(), "{s}");
    }
}

#[test]
fn markdown_of_every_sample_has_its_sections_and_diagrams() {
    for s in common::sample_captures() {
        let out = common::dupcall(&["analyze", &s, "--fingerprint-key", "k", "-q", "--format", "md"]);
        assert!(out.status.success(), "{s}");
        let md = String::from_utf8(out.stdout).unwrap();
        for section in ["### What was analysed", "### Summary", "### Diagnosis", "### Warnings"] {
            assert!(md.contains(section), "{s}: no {section}");
        }
        let csv = common::dupcall(&["analyze", &s, "--fingerprint-key", "k", "-q"]);
        let repeats = common::rows(&csv.stdout)
            .iter()
            .filter(|r| Label::parse(&r["label"]).is_some_and(Label::is_repeat))
            .count();
        assert_eq!(md.matches("```mermaid").count(), repeats.min(MAX_DIAGRAMS), "{s}");
        if repeats == 0 {
            assert!(md.contains("No repeated calls found"), "{s}");
        }
    }
}

#[test]
fn the_output_extension_picks_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let md = dir.path().join("r.md");
    for p in [&json, &md] {
        let out =
            common::dupcall(&["analyze", "samples/v5-510-auth-off.pcap", "-q", "-o", p.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty());
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["schema"], "dupcall-report/1");
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("## dupcall report"), "{md}");
    assert!(md.contains("PowerJob 5.1.0 server without `X-POWERJOB-AUTH-PASSED`"), "{md}");
}

#[test]
fn json_is_valid_when_nothing_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.log");
    std::fs::write(&empty, "").unwrap();
    let out = common::dupcall(&["analyze", empty.to_str().unwrap(), "--format", "json", "-q"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(v["rows"], serde_json::json!([]));
    let md = common::dupcall(&["analyze", empty.to_str().unwrap(), "--format", "md", "-q"]);
    assert!(String::from_utf8_lossy(&md.stdout).contains("No repeated calls found"));
}

// ---------------------------------------------------------------------------------------
// Any input: the writers never panic, the JSON always parses, the diagrams stay one line per
// statement.

mod any_input {
    use super::*;
    use proptest::prelude::*;

    const OUTCOMES: [Outcome; 8] = [
        Outcome::Ok,
        Outcome::OkUnconfirmed,
        Outcome::Rejected,
        Outcome::AppError,
        Outcome::ClientError,
        Outcome::ServerError,
        Outcome::NoResponse,
        Outcome::Unknown,
    ];
    const CAUSES: [Cause; 8] = [
        Cause::MarkerMissing,
        Cause::MarkerCase,
        Cause::TokenRejected,
        Cause::Timeout,
        Cause::ErrorResponse,
        Cause::Application,
        Cause::RetryMarker,
        Cause::Unknown,
    ];

    fn arb_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~]{0,40}",
            "\\PC{0,20}",
            Just("#;:%%{}<>\"'`|\\\n\r\t".to_string()),
            Just("=cmd|' /C calc'!A0".to_string()),
        ]
    }

    prop_compose! {
        fn arb_row()(
            path in arb_text(), query in arb_text(), caller in arb_text(), host in arb_text(),
            evidence in arb_text(), marker in arb_text(),
            time in any::<i64>(), resp in proptest::option::of(any::<i64>()),
            status in proptest::option::of(any::<u16>()), outcome in 0usize..8, label in 0usize..7,
            cause in 0usize..8, repeat_of in proptest::option::of(0u64..40),
            refresh in proptest::option::of(0u64..40), gap in proptest::option::of(any::<f64>()),
        ) -> (Call, Label, Option<u64>, Option<u64>, Option<f64>, Cause, String) {
            let r = Redactor::with_key("test");
            let mut c = C::new(CallKind::Mutation, "/x", 0.0).call(&r);
            c.path = path;
            c.query = query;
            c.caller = caller;
            c.host = host;
            c.time = Timestamp(time);
            c.resp_time = resp.map(Timestamp);
            c.status = status;
            c.outcome = OUTCOMES[outcome];
            c.marker = Marker::OtherCase(marker.clone(), marker);
            (c, Label::ALL[label], repeat_of, refresh, gap, CAUSES[cause], evidence)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn writers_take_anything(specs in proptest::collection::vec(arb_row(), 0..30)) {
            let rows: Vec<Row> = specs
                .into_iter()
                .enumerate()
                .map(|(i, (call, label, repeat_of, refresh_id, gap_ms, cause, evidence))| Row {
                    id: i as u64 + 1,
                    call,
                    label,
                    repeat_of,
                    refresh_id,
                    gap_ms,
                    double_execution: Some(DoubleExecution::Unknown),
                    confidence: Confidence::Inferred,
                    evidence,
                    cause: label.is_repeat().then_some(cause),
                    rule: None,
                })
                .collect();
            let inputs = vec![input(3, 0.0, 1.0)];
            let diag = Diagnostics::default();
            let csv = render(Fmt::Csv, &rows, &inputs, &diag, "powerjob");
            prop_assert_eq!(common::rows(csv.as_bytes()).len(), rows.len());
            let json = render(Fmt::Json, &rows, &inputs, &diag, "powerjob");
            let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            prop_assert_eq!(v["rows"].as_array().map(Vec::len), Some(rows.len()));
            let md = render(Fmt::Md, &rows, &inputs, &diag, "powerjob");
            let mut inside = false;
            for line in md.lines() {
                if line == "```mermaid" {
                    inside = true;
                } else if line == "```" {
                    inside = false;
                } else if inside {
                    // Every `;` closes an entity we wrote; no comment starts.
                    prop_assert!(!line.contains("%%"), "{}", line);
                    let mut rest = line;
                    while let Some(i) = rest.find('#') {
                        let after = &rest[i + 1..];
                        let end = after.find(';').unwrap_or(0);
                        prop_assert!(end > 0 && after[..end].chars().all(|c| c.is_ascii_digit()), "{}", line);
                        rest = &after[end + 1..];
                    }
                    prop_assert!(!rest.contains(';'), "{}", line);
                }
            }
        }
    }
}
