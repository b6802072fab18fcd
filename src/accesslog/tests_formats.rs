//! Unit tests of the formats detected from the lines: HAProxy, Caddy, AWS, inferred
//! custom formats, and the facts a line logs beyond the heads.

use super::*;

fn detect(lines: &[&str]) -> Detected {
    LogFormat::detect_spec(lines).expect("detected")
}

const HAPROXY_RAW: &str = r#"127.0.0.1:40000 [02/Dec/2026:02:50:12.345] fe be/srv1 0/0/1/12/13 200 345 - - ---- 1/1/0/0/0 0/0 {okhttp/3.14.9|7} "POST /openApi/runJob?appId=7 HTTP/1.1""#;

#[test]
fn haproxy_raw_and_syslog_framed() {
    let d = detect(&[HAPROXY_RAW]);
    assert_eq!(d.name, "haproxy");
    let r = d.format.parse_line(HAPROXY_RAW, 1).unwrap();
    assert_eq!((r.method.as_str(), r.uri.as_str(), r.status), ("POST", "/openApi/runJob?appId=7", Some(200)));
    assert_eq!(r.time_basis, TimeBasis::Start);
    assert_eq!(r.time.0 % 1_000_000_000, 345_000_000);
    assert_eq!(r.request_time, Some(0.013));
    assert_eq!(r.upstream_addr.as_deref(), Some("be/srv1"));
    assert_eq!(r.request_header("User-Agent"), Some("okhttp/3.14.9"));
    assert_eq!(r.remote_port, Some(40000));
    for framed in [
        format!("Dec  2 02:50:12 host haproxy[123]: {HAPROXY_RAW}"),
        format!("<134>Dec  2 02:50:12 haproxy[123]: {HAPROXY_RAW}"),
        format!("2026-12-02T02:50:12.345678+00:00 host haproxy[9]: {HAPROXY_RAW}"),
    ] {
        let d = detect(&[&framed]);
        assert_eq!(d.name, "haproxy", "{framed}");
        assert_eq!(d.format.parse_line(&framed, 1).unwrap(), r);
    }
    // Named captures; a client abort; no response; httpslog's TLS fields after the request.
    let f = LogFormat::parse_spec("haproxy:req=User-Agent,X-Powerjob-App-Id").unwrap();
    let r = f.parse_line(HAPROXY_RAW, 1).unwrap();
    assert_eq!(r.request_header("X-Powerjob-App-Id"), Some("7"));
    let aborted = r#"::1:5000 [02/Dec/2026:02:50:13.000] fe be/srv1 0/0/0/-1/2003 -1 0 - - CH-- 1/1/0/0/0 0/0 "POST /x HTTP/1.1" 0/0000000000000000/0/0/0 -/-/-"#;
    let r = f.parse_line(aborted, 1).unwrap();
    assert!(r.client_aborted);
    assert_eq!((r.status, r.termination.as_deref()), (None, Some("CH--")));
    assert_eq!(r.remote_addr, "::1".parse().ok());
    assert!(f.parse_line("Dec  2 02:50:12 host haproxy[1]: Proxy fe started.", 1).is_err());
}

#[test]
fn caddy_json_and_unmapped_json() {
    let line = r#"{"level":"info","ts":1733107812.5,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"41234","proto":"HTTP/1.1","method":"POST","host":"127.0.0.1:8080","uri":"/openApi/runJob?x=1","headers":{"User-Agent":["okhttp/3.14.9"],"X-Powerjob-App-Id":["7"]}},"bytes_read":12,"duration":0.25,"size":99,"status":200,"resp_headers":{"X-Powerjob-Auth-Passed":["true"]}}"#;
    let d = detect(&[line]);
    assert_eq!(d.name, "caddy");
    let r = d.format.parse_line(line, 1).unwrap();
    assert_eq!(
        (r.method.as_str(), r.uri.as_str(), r.status, r.body_bytes),
        ("POST", "/openApi/runJob?x=1", Some(200), Some(99))
    );
    assert_eq!(r.time_basis, TimeBasis::EndMinusDuration);
    assert_eq!(r.time.0, 1_733_107_812_250_000_000);
    assert_eq!(r.request_header("User-Agent"), Some("okhttp/3.14.9"));
    assert_eq!(r.response_header("X-Powerjob-Auth-Passed"), Some("true"));
    assert_eq!(r.remote_port, Some(41234));
    assert!(LogFormat::detect_spec(&[r#"{"a":1,"b":{"c":2}}"#]).is_none());
    assert_eq!(LogFormat::json_keys(&[r#"{"a":1,"b":{"c":2}}"#]).unwrap(), vec!["a", "b.c"]);
}

#[test]
fn aws_alb_and_cloudfront() {
    let alb = r#"http 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/a?b=1 HTTP/1.1" "curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 "Root=1-58337262-36d228ad5d99923122bbe354" "-" "-" 0 2018-07-02T22:22:48.364000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-""#;
    let d = detect(&[alb]);
    assert_eq!(d.name, "aws-alb");
    let r = d.format.parse_line(alb, 1).unwrap();
    assert_eq!((r.uri.as_str(), r.host.as_deref()), ("/a?b=1", Some("www.example.com:80")));
    assert_eq!(r.time_basis, TimeBasis::Start);
    assert_eq!(
        (r.request_length, r.upstream_addr.as_deref(), r.upstream_status.as_deref()),
        (Some(34), Some("10.0.0.1:80"), Some("200"))
    );
    assert_eq!(r.request_time, Some(0.001));
    let gone = alb.replace(" 200 200 34", " 460 - 34");
    let r = d.format.parse_line(&gone, 1).unwrap();
    assert!(r.client_aborted && r.status.is_none());

    let cf = "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(Windows)\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t1.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-";
    let d = detect(&["#Version: 1.0", "#Fields: date time x-edge-location", cf]);
    assert_eq!(d.name, "cloudfront");
    let r = d.format.parse_line(cf, 1).unwrap();
    assert_eq!(
        (r.method.as_str(), r.uri.as_str(), r.status, r.request_length),
        ("GET", "/index.html", Some(200), Some(23))
    );
    // The end minus the whole seconds of time-taken (logged to the second).
    assert_eq!(r.time.0, 1_575_493_350_000_000_000);
    assert_eq!(r.remote_port, Some(11040));
    let r = d
        .format
        .parse_line(&cf.replace("\t200\t", "\t000\t").replace("\tHit\tSOX", "\tClientCommError\tSOX"), 1)
        .unwrap();
    assert!(r.client_aborted);
}

#[test]
fn custom_nginx_format_is_inferred_and_round_trips() {
    let lines: Vec<String> = (0..5)
        .map(|i| {
            format!(
                r#"10.0.0.5:4{i}000 - - [10/Jun/2024:12:00:0{i} +0800] "POST /openApi/runJob?i={i} HTTP/1.1" 200 85 "-" "okhttp/3.14.9" rt=0.00{i} us="200" conn={} creq={} rl=312 app="7" idem="k{i}" body="{{\"jobId\":{i}}}""#,
                100 + i,
                i + 1
            )
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let d = detect(&refs);
    assert_eq!(d.name, "inferred");
    assert!(d.spec.starts_with("nginx:$remote_addr:$remote_port"), "{}", d.spec);
    let r = d.format.parse_line(&lines[3], 1).unwrap();
    assert_eq!(r.time_basis, TimeBasis::EndMinusDuration);
    assert_eq!((r.connection, r.connection_requests, r.request_length), (Some(103), Some(4), Some(312)));
    assert_eq!(r.request_header("X-Powerjob-App-Id"), Some("7"));
    assert_eq!(r.request_header("Idempotency-Key"), Some("k3"));
    assert_eq!(r.request_header("User-Agent"), Some("okhttp/3.14.9"));
    assert_eq!(r.request_body.as_deref(), Some(r#"{"jobId":3}"#));
    assert!(r.body_logged);
    // Passing the spec back gives identical records.
    let again = LogFormat::parse_spec(&d.spec).unwrap();
    assert_eq!(again.parse_line(&lines[3], 1).unwrap(), r);
}

#[test]
fn apache_with_d_and_headers_is_not_tomcat() {
    // Apache writes at the end with `%t` = start: the 2.5 s request's line comes after a
    // later-started one, so times go backwards: starts, nothing subtracted.
    let lines = [
        r#"10.0.0.5 - - [10/Jun/2024:12:00:03 +0800] "POST /a HTTP/1.1" 200 85 5120 "true" "7""#,
        r#"10.0.0.5 - - [10/Jun/2024:12:00:01 +0800] "POST /b HTTP/1.1" 200 85 2500000 "-" "7""#,
        r#"10.0.0.5 - - [10/Jun/2024:12:00:04 +0800] "POST /c HTTP/1.1" 200 85 4100 "false" "7""#,
    ];
    let d = detect(&lines);
    assert!(d.spec.starts_with("apache:"), "{}", d.spec);
    let r = d.format.parse_line(lines[1], 1).unwrap();
    assert_eq!(r.time, r.logged_time);
    assert_eq!(r.request_time, Some(2.5));
    // The same without the extra fields: `common` + `%D` with times going backwards.
    let bare: Vec<String> = lines.iter().map(|l| l.rsplitn(3, ' ').nth(2).unwrap().to_owned()).collect();
    let refs: Vec<&str> = bare.iter().map(String::as_str).collect();
    let d = detect(&refs);
    assert_eq!(d.name, "apache-common-D", "{refs:?}");
}

#[test]
fn named_and_string_formats_give_identical_records() {
    let line = r#"10.0.0.5 - - [10/Jun/2024:12:00:01 +0800] "POST /a HTTP/1.1" 200 85 "-" "okhttp/3.14.9""#;
    let named = LogFormat::named("apache-combined").unwrap();
    let string = LogFormat::parse_spec(&format!("apache:{APACHE_COMBINED}")).unwrap();
    assert_eq!(named.parse_line(line, 1).unwrap(), string.parse_line(line, 1).unwrap());
    let apache = LogFormat::parse_spec(r#"apache:%h %t "%r" %>s %b %I %k %X"#).unwrap();
    let r = apache
        .parse_line(r#"10.0.0.5 [10/Jun/2024:12:00:01 +0800] "POST /a HTTP/1.1" 200 85 420 2 X"#, 1)
        .unwrap();
    assert_eq!((r.request_length, r.connection_requests, r.client_aborted), (Some(420), Some(3), true));
}

// ------------------------------------------------------------- recorded fixtures
//
// Logs written by real servers (tests/fixtures/logs/, recorded by the `record_fixtures`
// tests of tests/integration/{apache,haproxy,caddy}_logs.rs) for the scenario
// v5-timeout-failover: runJob to the first server is answered after 3 s, the client gives
// up at 2 s and re-sends to the second.

use crate::accesslog::pipeline::{LogOptions, log_exchanges};
use crate::exchange::Exchange;

fn fixture(text: &str) -> (Vec<Exchange>, String) {
    let mut out = Vec::new();
    let mut diag = crate::diag::Diagnostics::default();
    let s = log_exchanges(text.as_bytes(), 0, "t", &LogOptions::default(), &mut diag, &mut |e| out.push(e))
        .unwrap();
    assert_eq!((s.malformed, s.lines as usize), (0, text.lines().count()));
    assert!(out.windows(2).all(|w| w[0].time() <= w[1].time()), "ordered by start");
    (out, s.format)
}

fn uri(e: &Exchange) -> &str {
    e.request.as_ref().map_or("", |r| r.head.uri())
}

#[test]
fn fixture_apache() {
    let (ex, f) = fixture(include_str!("../../tests/fixtures/logs/apache-combined.log"));
    assert_eq!((ex.len(), f.as_str()), (4, "combined"));
    let (ex, f) = fixture(include_str!("../../tests/fixtures/logs/apache-rich.log"));
    assert!(f.starts_with("apache:"), "{f}");
    // The abandoned runJob started before the retry although it was logged after it.
    let jobs: Vec<&Exchange> = ex.iter().filter(|e| uri(e) == "/openApi/runJob").collect();
    assert_eq!(jobs.len(), 2);
    let slow = jobs[0].logged.as_deref().unwrap();
    assert_eq!((slow.request_length, slow.connection_requests), (Some(479), Some(3)));
    let took = jobs[0].response.as_ref().unwrap().ts.0 - jobs[0].request.as_ref().unwrap().ts.0;
    assert!(took >= 3_000_000_000, "{took}");
}

#[test]
fn fixture_haproxy() {
    let (ex, f) = fixture(include_str!("../../tests/fixtures/logs/haproxy-httplog.log"));
    assert_eq!((ex.len(), f.as_str()), (8, "haproxy"));
    let first_job = ex.iter().find(|e| uri(e) == "/openApi/runJob").unwrap();
    assert_eq!(first_job.logged.as_deref().unwrap().upstream_addr.as_deref(), Some("be0/s0"));
    let (ex, f) = fixture(include_str!("../../tests/fixtures/logs/haproxy-syslog-captures.log"));
    assert_eq!((ex.len(), f.as_str()), (8, "haproxy"));
    let resp = ex[0].response.as_ref().unwrap();
    assert_eq!(resp.head.header_str("X-Haproxy-Response-Capture-1"), Some("true"));
    assert_eq!(ex[1].request.as_ref().unwrap().head.header_str("User-Agent"), Some("okhttp/3.14.9"));
}

#[test]
fn fixture_caddy() {
    for text in [
        include_str!("../../tests/fixtures/logs/caddy-json.log"),
        include_str!("../../tests/fixtures/logs/caddy-filtered.log"),
    ] {
        let (ex, f) = fixture(text);
        assert_eq!((ex.len(), f.as_str()), (8, "caddy"));
        let gone: Vec<&Exchange> =
            ex.iter().filter(|e| e.logged.as_deref().is_some_and(|l| l.client_aborted)).collect();
        assert_eq!(gone.len(), 1, "the runJob the client gave up on");
        assert!(gone[0].response.is_none() && uri(gone[0]) == "/openApi/runJob");
    }
}
