//! Classification tests: one exchange in, the call's fields out, as tables.

use super::*;
use crate::exchange::{Body, Message};

fn msg(head: Head, body: &[u8], t: i64, origin: Origin) -> Message {
    Message {
        head,
        ts: Timestamp(t),
        end_ts: Timestamp(t),
        origin,
        end_origin: origin,
        body: Body { data: body.to_vec(), len: body.len() as u64, ..Body::default() },
    }
}

fn exchange(req: Head, req_body: &[u8], resp: Option<(Head, &[u8])>) -> Exchange {
    Exchange {
        input: 0,
        conn: 1,
        client: "10.0.0.5:40000".parse().unwrap(),
        server: "10.0.0.9:7700".parse().unwrap(),
        request: Some(msg(req, req_body, 1_000, Origin::Frame(4))),
        response: resp.map(|(h, b)| msg(h, b, 2_000, Origin::Frame(5))),
        interim: vec![],
        flags: Flags::default(),
        wire: crate::exchange::Wire::default(),
        logged: None,
    }
}

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");
const JSON: (&str, &str) = ("Content-Type", "application/json; charset=utf-8");
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJhcHBJZCI6MX0.c2lnbmF0dXJl";

fn pj_req(path: &str, extra: &[(&str, &str)]) -> Head {
    let mut h = vec![FORM, ("X-POWERJOB-APP-ID", "1"), ("X-POWERJOB-ACCESS-TOKEN", TOKEN)];
    h.extend_from_slice(extra);
    Head::request("POST", path, 1, &h)
}

fn resp(headers: &[(&str, &str)]) -> Head {
    let mut h = vec![JSON];
    h.extend_from_slice(headers);
    Head::response(200, 1, &h)
}

fn classify(ex: &Exchange) -> Call {
    let r = Redactor::with_key("t");
    let mut c = Classifier::new(Profile::builtin("powerjob").unwrap(), &r, CallerMode::AppAndHost);
    c.classify(ex).expect("a request")
}

#[test]
fn kinds_follow_the_profile_not_the_method() {
    for (path, kind) in [
        ("/openApi/saveJob", CallKind::Mutation),
        ("/openApi/runJob", CallKind::Mutation),
        ("/pj/openApi/disableJob", CallKind::Mutation),
        ("/openApi/fetchJob", CallKind::Read),
        ("/openApi/authApp", CallKind::Auth),
        ("/openApi/assert", CallKind::Auth),
        ("/somethingElse", CallKind::Read),
    ] {
        let c = classify(&exchange(pj_req(path, &[]), b"", None));
        assert_eq!(c.kind, kind, "{path}");
    }
}

#[test]
fn outcome_table() {
    let ok = br#"{"success":true,"data":101,"message":null}"#;
    let expired =
        br#"{"success":false,"message":"TOKEN_EXPIRED:JWT expired at 2024-08-20T02:00:00Z","code":"-403"}"#;
    let app_err = br#"{"success":false,"message":"job not found","code":"-1"}"#;
    type Case<'a> = (&'a str, Option<(Head, &'a [u8])>, Outcome, Marker);
    let cases: Vec<Case> = vec![
        (
            "passed",
            Some((resp(&[("X-POWERJOB-AUTH-PASSED", "true")]), ok)),
            Outcome::Ok,
            Marker::Present("true".into()),
        ),
        ("5.1.0: no header", Some((resp(&[]), ok)), Outcome::OkUnconfirmed, Marker::Absent),
        (
            "#1062: lowercased",
            Some((resp(&[("x-powerjob-auth-passed", "true")]), ok)),
            Outcome::OkUnconfirmed,
            Marker::OtherCase("x-powerjob-auth-passed".into(), "true".into()),
        ),
        (
            "expired token",
            Some((resp(&[("X-POWERJOB-AUTH-PASSED", "false")]), expired)),
            Outcome::Rejected,
            Marker::Present("false".into()),
        ),
        (
            "app error",
            Some((resp(&[("X-POWERJOB-AUTH-PASSED", "true")]), app_err)),
            Outcome::AppError,
            Marker::Present("true".into()),
        ),
        ("500", Some((Head::response(500, 1, &[]), b"{}")), Outcome::ServerError, Marker::Absent),
        ("404", Some((Head::response(404, 1, &[]), b"")), Outcome::ClientError, Marker::Absent),
        ("no response", None, Outcome::NoResponse, Marker::Unseen),
    ];
    for (what, response, outcome, marker) in cases {
        let c = classify(&exchange(pj_req("/openApi/runJob", &[]), b"jobId=1&appId=1", response));
        assert_eq!((c.outcome, &c.marker), (outcome, &marker), "{what}");
    }
}

#[test]
fn refresh_rule_fires_only_for_v5_requests() {
    let ok = br#"{"success":true,"data":1}"#;
    let v5 = classify(&exchange(pj_req("/openApi/runJob", &[]), b"jobId=1", Some((resp(&[]), ok))));
    assert!(v5.refresh_trigger);
    assert_eq!(v5.outcome, Outcome::OkUnconfirmed);
    // A v4 client sends no token headers and never retries: a missing marker means nothing.
    let v4 = Head::request("POST", "/openApi/runJob", 1, &[FORM]);
    let v4 = classify(&exchange(v4, b"jobId=1&appId=1", Some((resp(&[]), ok))));
    assert!(!v4.refresh_trigger);
    assert_eq!(v4.outcome, Outcome::Ok);
    assert_eq!(v4.marker, Marker::NotApplicable);
}

#[test]
fn response_lost_in_a_gap_is_unknown() {
    let mut ex = exchange(pj_req("/openApi/runJob", &[]), b"jobId=1", None);
    ex.flags.set(Flags::NO_RESPONSE | Flags::RESPONSE_GAP);
    assert_eq!(classify(&ex).outcome, Outcome::Unknown);
    let mut ex = exchange(pj_req("/openApi/runJob", &[]), b"jobId=1", Some((resp(&[]), br#"{"succ"#)));
    ex.flags.set(Flags::RESPONSE_GAP);
    assert_eq!(classify(&ex).outcome, Outcome::Unknown, "success field unreadable");
}

#[test]
fn call_key_is_canonical_and_leaves_out_credentials() {
    let key = |path: &str, body: &[u8], extra: &[(&str, &str)]| {
        let c = classify(&exchange(pj_req(path, extra), body, None));
        (c.key, c.call_key)
    };
    let (a, text) = key("/openApi/runJob", b"jobId=1&appId=1&delay=0", &[]);
    let (b, _) = key("/openApi/runJob", b"delay=0&appId=1&jobId=1", &[]);
    assert_eq!(a, b, "form field order does not matter");
    assert_eq!(text, "POST /openApi/runJob appId=1&delay=0&jobId=1");
    let (c, _) = key("/openApi/runJob", b"jobId=2&appId=1&delay=0", &[]);
    assert_ne!(a, c, "a different job is a different call");
    // A new token is the same call.
    let other_token = [("X-POWERJOB-ACCESS-TOKEN", "eyJ.other.token")];
    let c2 = classify(&exchange(
        Head::request("POST", "/openApi/runJob", 1, &[FORM, other_token[0]]),
        b"jobId=1&appId=1&delay=0",
        None,
    ));
    assert_eq!(c2.key, a);
    // JSON: key order and whitespace do not matter; secret fields are left out.
    let j1 = classify(&exchange(
        Head::request("POST", "/openApi/saveJob", 1, &[JSON]),
        br#"{"jobName":"x","appId":1,"password":"hunter22"}"#,
        None,
    ));
    let j2 = classify(&exchange(
        Head::request("POST", "/openApi/saveJob", 1, &[JSON]),
        br#"{ "appId" : 1, "jobName" : "x", "password": "other" }"#,
        None,
    ));
    assert_eq!(j1.key, j2.key);
    assert!(!j1.call_key.contains("hunter22") && !j1.call_key.contains("password"), "{}", j1.call_key);
    // Query parameters too, secrets excluded.
    let (q1, qt) = key("/openApi/fetchJob?b=2&a=1&access_token=SECRET1", b"", &[]);
    let (q2, _) = key("/openApi/fetchJob?a=1&b=2&access_token=SECRET2", b"", &[]);
    assert_eq!(q1, q2);
    assert!(!qt.contains("SECRET"), "{qt}");
}

#[test]
fn caller_comes_from_the_app_and_tokens_bind_to_apps() {
    let r = Redactor::with_key("t");
    let mut c = Classifier::new(Profile::builtin("powerjob").unwrap(), &r, CallerMode::AppAndHost);
    // authApp issues a token for app 7.
    let auth = exchange(
        Head::request("POST", "/openApi/authApp", 1, &[JSON]),
        br#"{"appName":"orders","encryptedPassword":"5f4dcc3b5aa765d61d8327deb882cf99","encryptType":"md5"}"#,
        Some((
            resp(&[]),
            br#"{"success":true,"data":{"appId":7,"token":"eyJhbGciOiJIUzI1NiJ9.eyJhIjo3fQ.sig7"}}"#,
        )),
    );
    let a = c.classify(&auth).unwrap();
    assert_eq!(a.caller, "app:7@10.0.0.5");
    assert_eq!(
        a.issued_token.as_deref(),
        Some(r.fingerprint(b"eyJhbGciOiJIUzI1NiJ9.eyJhIjo3fQ.sig7").as_str())
    );
    assert!(!a.call_key.contains("5f4dcc3b"), "the password hash is never in the key");
    // A call carrying only that token is attributed to app 7.
    let call = exchange(
        Head::request(
            "POST",
            "/openApi/runJob",
            1,
            &[FORM, ("X-POWERJOB-ACCESS-TOKEN", "eyJhbGciOiJIUzI1NiJ9.eyJhIjo3fQ.sig7")],
        ),
        b"jobId=1",
        None,
    );
    let m = c.classify(&call).unwrap();
    assert_eq!(m.caller, "app:7@10.0.0.5");
    assert_eq!(m.credential, a.issued_token);
    // Without any app identity the caller is the host.
    let anon = exchange(Head::request("POST", "/openApi/runJob", 1, &[FORM]), b"jobId=1", None);
    assert_eq!(c.classify(&anon).unwrap().caller, "10.0.0.5");
    // --caller app merges hosts.
    let mut by_app = Classifier::new(Profile::builtin("powerjob").unwrap(), &r, CallerMode::App);
    assert_eq!(
        by_app.classify(&exchange(pj_req("/openApi/runJob", &[]), b"", None)).unwrap().caller,
        "app:1"
    );
}

#[test]
fn basic_credentials_are_never_fingerprinted() {
    let r = Redactor::with_key("t");
    let mut c = Classifier::new(Profile::builtin("generic").unwrap(), &r, CallerMode::AppAndHost);
    let basic = Head::request("POST", "/orders", 1, &[("Authorization", "Basic dXNlcjpodW50ZXIy")]);
    assert_eq!(c.classify(&exchange(basic, b"", None)).unwrap().credential, None);
    let bearer = Head::request("POST", "/orders", 1, &[("Authorization", "Bearer abc.def")]);
    assert_eq!(c.classify(&exchange(bearer, b"", None)).unwrap().credential, Some(r.fingerprint(b"abc.def")));
}

#[test]
fn oauth2_rejections_and_retry_markers() {
    let r = Redactor::with_key("t");
    let mut c = Classifier::new(Profile::builtin("oauth2-bearer").unwrap(), &r, CallerMode::AppAndHost);
    let req = Head::request(
        "POST",
        "/api/orders",
        1,
        &[("Authorization", "Bearer old"), ("Idempotency-Key", "k-1"), ("X-Envoy-Attempt-Count", "2")],
    );
    let resp = Head::response(401, 1, &[("WWW-Authenticate", "Bearer error=\"invalid_token\"")]);
    let call = c.classify(&exchange(req, b"{}", Some((resp, b"")))).unwrap();
    assert_eq!(call.kind, CallKind::Mutation);
    assert_eq!(call.outcome, Outcome::Rejected);
    assert!(call.refresh_trigger);
    assert_eq!(call.idempotency_key.as_deref(), Some("k-1"));
    assert_eq!(call.attempt, Some(("X-Envoy-Attempt-Count".to_string(), 2)));
}

#[test]
fn logs_show_the_marker_only_when_the_format_logs_it() {
    let r = Redactor::with_key("t");
    let mut c = Classifier::new(Profile::builtin("powerjob").unwrap(), &r, CallerMode::AppAndHost);
    let log_exchange = |resp_headers: &[(&str, &str)]| {
        let mut ex = exchange(
            Head::request("POST", "/openApi/runJob", 1, &[("User-Agent", "okhttp/3.14.9")]),
            b"",
            Some((Head::response(200, 1, resp_headers), b"")),
        );
        for m in [&mut ex.request, &mut ex.response].into_iter().flatten() {
            m.origin = Origin::Line(3);
        }
        ex
    };
    let not_logged = c.classify(&log_exchange(&[])).unwrap();
    assert_eq!(not_logged.marker, Marker::Unseen);
    assert!(!not_logged.verdict_seen);
    assert_eq!(not_logged.host, "10.0.0.5 (okhttp/3.14.9)");
    let absent = c.classify(&log_exchange(&[("X-Powerjob-Auth-Passed", "")])).unwrap();
    assert_eq!(absent.marker, Marker::Absent);
    assert!(absent.verdict_seen && absent.refresh_trigger);
    // Logs lose header case: a canonicalised name is not the #1062 proxy story.
    let present = c.classify(&log_exchange(&[("X-Powerjob-Auth-Passed", "true")])).unwrap();
    assert_eq!(present.marker, Marker::Present("true".into()));
    assert!(!present.refresh_trigger);
}

#[test]
fn uri_helpers() {
    assert_eq!(split_uri("/a?b=1#frag"), ("/a", Some("b=1")));
    assert_eq!(split_uri("http://host:80/x/y?q"), ("/x/y", Some("q")));
    assert_eq!(split_uri("http://host"), ("/", None));
    let mut squashed = String::from("GET ");
    super::callkey::squash_slashes_into("//a///b/", &mut squashed);
    assert_eq!(squashed, "GET /a/b/");
    assert_eq!(crate::http::form::form_decode_str("a%20b+c%zz%4"), "a b c%zz%4");
    assert_eq!(
        crate::http::form::form_pairs("a=1&&b&c=%3D"),
        vec![("a".into(), "1".into()), ("b".into(), "".into()), ("c".into(), "=".into())]
    );
}

#[test]
fn an_untyped_form_body_is_read_as_a_form() {
    let head = Head::request("POST", "/oauth/token", 1, &[("Host", "x")]);
    let f = super::callkey::Fields::parse(&head, b"grant_type=client_credentials&client_id=eval-1", None);
    assert_eq!(f.get("client_id").as_deref(), Some("eval-1"));
    let f = super::callkey::Fields::parse(&head, b"not a form at all", None);
    assert_eq!(f.get("not a form at all"), None);
}

#[test]
fn grpc_statuses_decide_the_outcome_on_http_200() {
    let r = Redactor::with_key("t");
    let mut c = Classifier::new(Profile::builtin("grpc").unwrap(), &r, CallerMode::AppAndHost);
    let grpc = ("content-type", "application/grpc");
    for (status, want) in [
        ("0", Outcome::Ok),
        // UNAVAILABLE: the profile's retryable_grpc_statuses, a retryable error like a 503.
        ("14", Outcome::ServerError),
        // INVALID_ARGUMENT, ALREADY_EXISTS: the server's final answer.
        ("3", Outcome::AppError),
        ("6", Outcome::AppError),
        // UNAUTHENTICATED: the profile's rejection.
        ("16", Outcome::Rejected),
    ] {
        let req = Head::request("POST", "/shop.Orders/CreateOrder", 2, &[grpc]);
        let resp = Head::response(200, 2, &[grpc, ("grpc-status", status)]);
        let call = c.classify(&exchange(req, b"\0\0\0\0\x02\x08\x01", Some((resp, b"")))).expect("a request");
        assert_eq!(call.kind, CallKind::Mutation);
        assert_eq!(call.outcome, want, "grpc-status {status}");
    }
}
