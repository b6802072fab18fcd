use super::*;
use crate::exchange::Flags;

fn read(text: &str) -> (Vec<Exchange>, Diagnostics, Result<HarSummary, HarError>) {
    let mut out = Vec::new();
    let mut diag = Diagnostics::default();
    let r = har_exchanges(text.as_bytes(), 0, &HarOptions::default(), &mut diag, &mut |e| out.push(e));
    (out, diag, r)
}

fn entry(started: &str, method: &str, url: &str, extra: &str) -> String {
    format!(
        r#"{{"startedDateTime":"{started}","time":12.5,"request":{{"method":"{method}","url":"{url}","httpVersion":"HTTP/1.1","headers":[{{"name":"User-Agent","value":"t"}}]{extra}}},"response":{{"status":200,"httpVersion":"HTTP/1.1","headers":[{{"name":"Content-Encoding","value":"gzip"}}],"content":{{"size":2,"text":"{{}}"}}}},"timings":{{"receive":2.5}}}}"#
    )
}

fn har(entries: &[String]) -> String {
    format!(
        r#"{{"log":{{"version":"1.2","creator":{{"name":"mitmproxy","version":"11"}},"entries":[{}]}}}}"#,
        entries.join(",")
    )
}

#[test]
fn an_entry_becomes_an_exchange() {
    let post = r#","postData":{"mimeType":"application/json","text":"{\"a\":1}"}"#;
    let text = har(&[entry(
        "2026-11-26T03:28:21.123456+05:30",
        "POST",
        "https://u:pw@api.example:8443/openApi/run?x=1#f",
        post,
    )]);
    let (ex, diag, r) = read(&text);
    let s = r.unwrap();
    assert_eq!((s.entries, s.creator.as_str()), (1, "mitmproxy 11"));
    assert_eq!(diag.total(), 0);
    let e = &ex[0];
    let req = e.request.as_ref().unwrap();
    assert_eq!(req.head.method(), "POST");
    assert_eq!(req.head.uri(), "/openApi/run?x=1");
    assert_eq!(req.head.header_str("host"), Some("api.example:8443"));
    assert_eq!(req.body.data, br#"{"a":1}"#);
    assert_eq!(req.origin, Origin::Entry(0));
    // 03:28:21.123456 at +05:30 is 21:58:21.123456 UTC the day before.
    assert_eq!(req.ts.rfc3339(), "2026-11-25T21:58:21.123456Z");
    let resp = e.response.as_ref().unwrap();
    assert_eq!(resp.head.status(), 200);
    assert_eq!(resp.head.header("content-encoding"), None, "HAR bodies are decoded");
    assert_eq!(resp.end_ts.0 - req.ts.0, 12_500_000);
    assert_eq!(resp.ts.0 - req.ts.0, 10_000_000);
    assert_eq!(e.logged.as_ref().unwrap().producer.as_deref(), Some("mitmproxy"));
    assert!(e.logged.as_ref().unwrap().body);
}

#[test]
fn status_zero_is_no_response_and_base64_bodies_decode() {
    let mut e0 = entry("2026-11-26T03:28:21.000Z", "GET", "http://h/a", "");
    e0 = e0.replace(r#""status":200"#, r#""status":0,"_error":"Connection reset""#);
    let e1 = entry("2026-11-26T03:28:22.000Z", "GET", "http://h/b", "")
        .replace(r#""text":"{}""#, r#""text":"eyJvayI6dHJ1ZX0=","encoding":"base64""#);
    let (ex, _, r) = read(&har(&[e0, e1]));
    r.unwrap();
    assert!(ex[0].response.is_none());
    assert!(ex[0].flags.has(Flags::NO_RESPONSE));
    assert_eq!(ex[1].response.as_ref().unwrap().body.data, br#"{"ok":true}"#);
}

#[test]
fn params_are_form_encoded_and_missing_post_data_is_warned() {
    let params = r#","postData":{"mimeType":"application/x-www-form-urlencoded","params":[{"name":"appId","value":"1"},{"name":"pw","value":"a b&c"}]}"#;
    let a = entry("2026-11-26T03:28:21.000Z", "POST", "http://h/auth", params);
    let b = entry("2026-11-26T03:28:22.000Z", "POST", "http://h/save", "");
    let (ex, diag, _) = read(&har(&[a, b]));
    assert_eq!(ex[0].request.as_ref().unwrap().body.data, b"appId=1&pw=a+b%26c");
    assert!(!ex[1].logged.as_ref().unwrap().body);
    assert_eq!(diag.count_of(WarningKind::InputAnomaly), 1);
    assert!(diag.kept()[0].detail.contains("no postData"), "{}", diag.kept()[0].detail);
}

#[test]
fn entries_written_as_they_finished_come_out_by_start() {
    let a = entry("2026-11-26T03:28:23.000Z", "GET", "http://h/late", "");
    let b = entry("2026-11-26T03:28:21.000Z", "GET", "http://h/early", "");
    let (ex, diag, r) = read(&har(&[a, b]));
    assert_eq!(r.unwrap().out_of_order, 1);
    let uris: Vec<&str> = ex.iter().map(|e| e.request.as_ref().unwrap().head.uri()).collect();
    assert_eq!(uris, ["/early", "/late"]);
    assert_eq!(diag.count_of(WarningKind::InputAnomaly), 1);
}

#[test]
fn a_cut_file_keeps_what_came_before_and_a_bad_entry_is_skipped() {
    let a = entry("2026-11-26T03:28:21.000Z", "GET", "http://h/a", "");
    let b = entry("2026-11-26T03:28:22.000Z", "GET", "http://h/b", "");
    let bad = r#"{"startedDateTime":5,"request":[]}"#.to_string();
    let text = har(&[a, bad, b]);
    let cut = &text[..text.len() - 40];
    let (ex, diag, r) = read(cut);
    assert_eq!(r.unwrap().skipped, 1);
    assert_eq!(ex.len(), 1);
    assert_eq!(diag.count_of(WarningKind::TruncatedFile), 1);
    assert_eq!(diag.count_of(WarningKind::InputAnomaly), 1);
    let (ex, _, r) = read(&text);
    assert_eq!((ex.len(), r.unwrap().entries), (2, 3));
}

#[test]
fn not_a_har_is_an_error_and_a_bom_is_fine() {
    assert!(read(r#"{"log":{"version":"1.2"}}"#).2.is_ok());
    assert!(matches!(read(r#"{"log":{"version":"#).2, Err(HarError::NotHar(_))));
    let text = format!("\u{feff}{}", har(&[entry("2026-11-26T03:28:21.000Z", "GET", "http://h/a", "")]));
    let text = text.replace(',', ",\r\n");
    let (ex, diag, _) = read(&text);
    assert_eq!((ex.len(), diag.total()), (1, 0));
}

#[test]
fn connection_ids_and_initiators() {
    let a = entry("2026-11-26T03:28:21.000Z", "GET", "http://h/a", "").replacen(
        r#""startedDateTime""#,
        r#""connection":"4711","_initiator":{"type":"script"},"startedDateTime""#,
        1,
    );
    let b = entry("2026-11-26T03:28:22.000Z", "GET", "http://h/b", "").replacen(
        r#""startedDateTime""#,
        r#""_connectionId":4711,"startedDateTime""#,
        1,
    );
    let (ex, _, r) = read(&har(&[a, b]));
    assert_eq!(r.unwrap().connections, 1);
    assert_eq!((ex[0].conn, ex[1].conn), (1, 1));
    assert!(ex[0].logged.as_ref().unwrap().initiator.is_some());
    assert!(ex[1].logged.as_ref().unwrap().initiator.is_none());
}

#[test]
fn times_and_urls() {
    let t = |s| entry::parse_time(s).map(|t| t.rfc3339());
    assert_eq!(t("2026-01-02T03:04:05.678Z").as_deref(), Some("2026-01-02T03:04:05.678000Z"));
    assert_eq!(t("2026-01-02T03:04:05.678+0100").as_deref(), Some("2026-01-02T02:04:05.678000Z"));
    assert_eq!(t("yesterday"), None);
    assert_eq!(entry::split_url("https://h"), ("h", "/", "https"));
    assert_eq!(entry::split_url("http://[::1]:80/p?q"), ("[::1]:80", "/p?q", "http"));
}

#[test]
fn a_fingerprint_is_not_fingerprinted_again() {
    let r = crate::redact::Redactor::with_key("k");
    let fp = r.fingerprint(b"a-real-token-value");
    assert_eq!(r.fingerprint(fp.as_bytes()), fp);
    assert_eq!(r.fingerprint(format!("{fp}(jwt exp=2026-01-01T00:00:00Z)").as_bytes()), fp);
    // Anything else is a secret like any other.
    assert_ne!(r.fingerprint(format!("{fp}x").as_bytes()), format!("{fp}x")[..12]);
    assert_ne!(r.fingerprint(b"tok:1A2B3C4D"), "tok:1A2B3C4D");
}

#[test]
fn records_round_trip_an_exchange_with_its_secrets_redacted() {
    let post =
        r#","postData":{"mimeType":"application/json","text":"{\"password\":\"Hunter2Secret\",\"a\":1}"}"#;
    let e = entry("2026-11-26T03:28:21.5Z", "POST", "http://h/x?access_token=QueryTok3n", post).replace(
        r#"{"name":"User-Agent","value":"t"}"#,
        r#"{"name":"Authorization","value":"Bearer BearerTok3nValue"}"#,
    );
    let (ex, _, _) = read(&har(&[e]));
    let r = crate::redact::Redactor::with_key("k");
    let mut out = Vec::new();
    records::write_record(&mut out, &ex[0], &r).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    for s in ["Hunter2Secret", "QueryTok3n", "BearerTok3nValue"] {
        assert!(!text.contains(s), "{s} in {text}");
    }
    assert!(records::is_records(&out));
    let mut back = Vec::new();
    let mut diag = Diagnostics::default();
    records::read_records(&out[..], 3, &mut diag, &mut |e| back.push(e)).unwrap();
    let b = &back[0];
    assert_eq!((b.input, b.time(), b.origin()), (3, ex[0].time(), Origin::Entry(0)));
    let req = b.request.as_ref().unwrap();
    assert_eq!(
        req.head.header_str("authorization"),
        Some(format!("Bearer {}", r.fingerprint(b"BearerTok3nValue")).as_str())
    );
    assert_eq!(req.body.len, ex[0].request.as_ref().unwrap().body.len);
    assert_eq!(b.logged.as_ref().unwrap().producer.as_deref(), Some("mitmproxy"));
}

#[test]
fn an_entry_without_a_server_address_takes_the_last_one_of_its_host() {
    let a = entry("2026-11-26T03:28:21.000Z", "GET", "http://h:8080/a", "").replacen(
        r#""startedDateTime""#,
        r#""serverIPAddress":"10.1.2.3","_serverPort":8080,"startedDateTime""#,
        1,
    );
    let b = entry("2026-11-26T03:28:22.000Z", "GET", "http://h:8080/b", "");
    let c = entry("2026-11-26T03:28:23.000Z", "GET", "http://other/c", "");
    let (ex, _, _) = read(&har(&[a, b, c]));
    let servers: Vec<String> = ex.iter().map(|e| e.server.to_string()).collect();
    assert_eq!(servers, ["10.1.2.3:8080", "10.1.2.3:8080", "0.0.0.0:0"]);
}

#[test]
fn every_cut_and_many_byte_flips_of_a_har_are_read_without_panic() {
    let post =
        r#","postData":{"mimeType":"application/x-www-form-urlencoded","params":[{"name":"a","value":"1"}]}"#;
    let text = har(&[
        entry("2026-11-26T03:28:21.123456+05:30", "POST", "http://[::1]:8080/x?y=1", post),
        entry("2026-11-26T03:28:20Z", "GET", "https://h/b", ""),
    ]);
    let bytes = text.as_bytes();
    for cut in 0..bytes.len() {
        let mut diag = Diagnostics::default();
        let mut n = 0;
        let _ = har_exchanges(&bytes[..cut], 0, &HarOptions::default(), &mut diag, &mut |_| n += 1);
        assert!(n <= 2);
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..3000 {
        let mut b = bytes.to_vec();
        for _ in 0..3 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed % b.len() as u64) as usize;
            b[i] = (seed >> 32) as u8;
        }
        let mut diag = Diagnostics::default();
        let _ = har_exchanges(&b[..], 0, &HarOptions::default(), &mut diag, &mut |_| {});
    }
}
