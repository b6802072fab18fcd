//! No secret reaches any output (docs/report-format.md, "Secrets").
//!
//! Every output format (`analyze` as CSV, JSON and Markdown, to stdout and to `-o` files,
//! with and without `-v`, with each profile; `dupcall exchanges`) runs over every bundled
//! sample and over a capture built here with `dupcall_testkit::synth` that carries a secret in every
//! place one travels: `Authorization: Basic` and `Bearer <JWT>`, `Proxy-Authorization`,
//! `Cookie`, `Set-Cookie`, `X-API-Key`, `X-POWERJOB-ACCESS-TOKEN`, `?access_token=` in the
//! query, a JWT as a path segment, a PowerJob v4 `password` form field, a v5 `authApp` body
//! with `encryptedPassword`, a JSON `password`, an OAuth token request (`client_secret`) and
//! response (`access_token`, `refresh_token`), the tokens `authApp` issues, and a malformed
//! request holding a token (a parse warning). stdout, stderr and the written files must not
//! contain any secret value, nor a JWT's payload or signature.
//!
//! For the samples the secrets are taken from the capture bytes themselves: every JWT
//! (`eyJ…​.…​.…`), every `encryptedPassword` / `password` / `token` / `access_token` value
//! and every `Authorization` / `X-POWERJOB-ACCESS-TOKEN` / `Cookie` value.

use crate::common;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use dupcall::capture::linktype;
use dupcall::exchange::Timestamp;
use dupcall_testkit::synth::{Conversation, PcapWriter, frame};

/// Packets with their times, written out as one pcap.
struct Capture {
    packets: Vec<(i64, Vec<u8>)>,
    t: i64,
    port: u16,
}

impl Capture {
    fn new() -> Self {
        Capture { packets: Vec::new(), t: 1_795_662_967_000_000_000, port: 41000 }
    }

    fn push(&mut self, p: Vec<u8>, dt_ms: i64) {
        self.packets.push((self.t, p));
        self.t += dt_ms * 1_000_000;
    }

    /// A new connection from the client to `server`.
    fn connect(&mut self, server: &str) -> Conversation {
        self.port += 1;
        let mut c = Conversation::new(&format!("10.9.0.1:{}", self.port), server, 1000, 5000);
        for p in c.handshake() {
            self.push(p, 1);
        }
        c
    }

    /// One request and its response on `c`.
    fn exchange(&mut self, c: &mut Conversation, req: &str, resp: &str) {
        let p = c.send(true, req.as_bytes());
        self.push(p, 2);
        let p = c.send(false, resp.as_bytes());
        self.push(p, 3);
    }

    fn close(&mut self, c: &mut Conversation) {
        let a = c.fin(true);
        self.push(a, 1);
        let b = c.fin(false);
        self.push(b, 1);
    }

    fn write(self, path: &Path) {
        let mut w = PcapWriter::new(Vec::new(), linktype::ETHERNET, false).unwrap();
        for (t, p) in self.packets {
            let f = frame(linktype::ETHERNET, &p, &[]);
            w.packet(Timestamp(t), &f, f.len() as u32).unwrap();
        }
        std::fs::write(path, w.into_inner()).unwrap();
    }
}

fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = format!("{method} {target} HTTP/1.1\r\nHost: pj.example\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s
}

fn response(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s
}

fn jwt(jti: &str) -> String {
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
    let payload = URL_SAFE_NO_PAD
        .encode(format!(r#"{{"appId":1,"exp":1795700000,"iat":1795600000,"jti":"{jti}"}}"#).as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(format!("signature-of-{jti}-0123456789abcdef").as_bytes());
    format!("{head}.{payload}.{sig}")
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json; charset=utf-8";

/// The capture full of secrets, and the secrets.
fn secret_capture(path: &Path) -> Vec<String> {
    let (jwt_a, jwt_b, jwt_c, jwt_d, jwt_e) = (
        jwt("token-a-7f3e"),
        jwt("token-b-91c2"),
        jwt("bearer-c-44aa"),
        jwt("path-d-0b1d"),
        jwt("hdr-e-5e5e"),
    );
    let basic = STANDARD.encode("alice:BasicPassw0rdZ");
    let proxy_basic = STANDARD.encode("proxyuser:ProxyPassw0rdY");
    let server = "10.9.0.2:7700";
    let mut cap = Capture::new();
    let ok = r#"{"success":true,"data":101,"message":null}"#;

    // PowerJob v4: the password in clear in a form.
    let mut c = cap.connect(server);
    cap.exchange(
        &mut c,
        &request(
            "POST",
            "/openApi/assert",
            &[("Content-Type", FORM)],
            "appName=billing&password=V4PlainPassw0rdX%21",
        ),
        &response("200 OK", &[("Content-Type", JSON)], r#"{"success":true,"data":3}"#),
    );
    cap.close(&mut c);

    // PowerJob v5: authApp, a call without the marker (the 5.1.0 bug), refresh, re-send.
    let mut c = cap.connect(server);
    let auth_body = r#"{"appName":"order-service","encryptedPassword":"e99a18c428cb38d5f260853678922e03","encryptType":"md5"}"#;
    for token in [&jwt_a, &jwt_b] {
        cap.exchange(
            &mut c,
            &request("POST", "/openApi/authApp", &[("Content-Type", JSON)], auth_body),
            &response(
                "200 OK",
                &[("Content-Type", JSON)],
                &format!(r#"{{"success":true,"data":{{"appId":1,"token":"{token}"}}}}"#),
            ),
        );
        let save = r#"{"appId":1,"jobName":"nightly","password":"JsonBodyPassw0rdW"}"#;
        cap.exchange(
            &mut c,
            &request(
                "POST",
                "/openApi/saveJob",
                &[("Content-Type", JSON), ("X-POWERJOB-APP-ID", "1"), ("X-POWERJOB-ACCESS-TOKEN", token)],
                save,
            ),
            &response("200 OK", &[("Content-Type", JSON)], ok),
        );
    }
    cap.close(&mut c);

    // Bearer, cookies, API key, a JWT in the path, Set-Cookie in the response.
    let mut c = cap.connect(server);
    let bearer = format!("Bearer {jwt_c}");
    for _ in 0..2 {
        cap.exchange(
            &mut c,
            &request(
                "POST",
                &format!("/openApi/runJob/{jwt_d}"),
                &[
                    ("Content-Type", FORM),
                    ("Authorization", &bearer),
                    ("Cookie", "session=CookieSessionValueV; theme=dark"),
                    ("X-API-Key", "ApiKeyValueU123"),
                    ("X-POWERJOB-ACCESS-TOKEN", &jwt_e),
                ],
                "appId=1&jobId=7&delay=0",
            ),
            &response(
                "200 OK",
                &[
                    ("Content-Type", JSON),
                    ("Set-Cookie", "sid=SetCookieSecretT; Path=/; HttpOnly"),
                    ("X-POWERJOB-AUTH-PASSED", "true"),
                ],
                ok,
            ),
        );
    }
    cap.close(&mut c);

    // OAuth: Basic auth and a query token rejected, the token endpoint, the retry.
    let mut c = cap.connect("10.9.0.3:8080");
    let orders = r#"{"item":"book","password":"OrderBodyPassw0rdS"}"#;
    cap.exchange(
        &mut c,
        &request(
            "POST",
            "/api/orders?access_token=QueryAccessTokenR&x=1",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &format!("Basic {basic}")),
                ("Proxy-Authorization", &format!("Basic {proxy_basic}")),
            ],
            orders,
        ),
        &response("401 Unauthorized", &[("WWW-Authenticate", r#"Bearer error="invalid_token""#)], ""),
    );
    cap.exchange(
        &mut c,
        &request(
            "POST",
            "/oauth/token",
            &[("Content-Type", FORM)],
            "grant_type=client_credentials&client_id=app&client_secret=ClientSecretQ",
        ),
        &response(
            "200 OK",
            &[("Content-Type", "application/json")],
            r#"{"access_token":"OAuthAccessTokP","token_type":"bearer","expires_in":3600,"refresh_token":"OAuthRefreshTokO"}"#,
        ),
    );
    cap.exchange(
        &mut c,
        &request(
            "POST",
            "/api/orders?access_token=OAuthAccessTokP&x=1",
            &[("Content-Type", "application/json"), ("Authorization", "Bearer OAuthAccessTokP")],
            orders,
        ),
        &response("201 Created", &[("Content-Type", "application/json")], r#"{"id":9}"#),
    );
    cap.close(&mut c);

    // Malformed traffic holding tokens: the warnings (parse error, broken chunked framing, a
    // TCP gap) must not quote them.
    let mut c = cap.connect(server);
    let ping = request("POST", "/openApi/fetchJob", &[("Content-Type", FORM)], "appId=1&jobId=7");
    cap.exchange(&mut c, &ping, &response("200 OK", &[("Content-Type", JSON)], ok));
    let p = c.send(
        true,
        b"P@ST /x?token=ParseErrSecretN HTTP/1.1 junk\r\nAuthorization: Bearer ParseErrBearerM\r\n\r\n",
    );
    cap.push(p, 2);
    let p = c.send(
        true,
        b"POST /openApi/runJob HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz;token=ChunkExtSecretL\r\npassword=ChunkBodyPwK\r\n",
    );
    cap.push(p, 2);
    c.advance(true, 40);
    let p = c.send(true, b"ion: Bearer GapTailSecretJ\r\n\r\nPOST /openApi/runJob?access_token=AfterGapTokenI HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    cap.push(p, 2);
    cap.close(&mut c);
    cap.write(path);

    let mut secrets = vec![
        "V4PlainPassw0rdX".to_string(),
        "e99a18c428cb38d5f260853678922e03".to_string(),
        "JsonBodyPassw0rdW".to_string(),
        "CookieSessionValueV".to_string(),
        "ApiKeyValueU123".to_string(),
        "SetCookieSecretT".to_string(),
        "OrderBodyPassw0rdS".to_string(),
        "QueryAccessTokenR".to_string(),
        "ClientSecretQ".to_string(),
        "OAuthAccessTokP".to_string(),
        "OAuthRefreshTokO".to_string(),
        "ParseErrSecretN".to_string(),
        "ParseErrBearerM".to_string(),
        "ChunkExtSecretL".to_string(),
        "ChunkBodyPwK".to_string(),
        "GapTailSecretJ".to_string(),
        "AfterGapTokenI".to_string(),
        "BasicPassw0rdZ".to_string(),
        "ProxyPassw0rdY".to_string(),
        basic,
        proxy_basic,
    ];
    for j in [jwt_a, jwt_b, jwt_c, jwt_d, jwt_e] {
        secrets.extend(jwt_parts(&j));
    }
    secrets
}

/// A JWT, its payload and its signature (the header is the same in every token).
fn jwt_parts(j: &str) -> Vec<String> {
    let mut v = vec![j.to_string()];
    v.extend(j.split('.').skip(1).filter(|p| p.len() >= 8).map(str::to_string));
    v
}

/// The packets of a classic pcap file (either byte order); the whole input otherwise.
fn pcap_records(bytes: &[u8]) -> Vec<&[u8]> {
    let magic = bytes.get(..4).map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    let le = match magic {
        Some(0xa1b2_c3d4 | 0xa1b2_3c4d) => true,
        Some(0xd4c3_b2a1 | 0x4d3c_b2a1) => false,
        _ => return vec![bytes],
    };
    let u32_at = |k: usize| {
        bytes.get(k..k + 4).map(|b| {
            let a = [b[0], b[1], b[2], b[3]];
            if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
        })
    };
    let mut out = Vec::new();
    let mut at = 24;
    while let Some(caplen) = u32_at(at + 8) {
        let start = at + 16;
        let end = (start + caplen as usize).min(bytes.len());
        out.push(&bytes[start..end]);
        at = end;
    }
    out
}

/// Secrets found in a capture: in each packet, JWTs, password/token fields, credential
/// headers.
fn secrets_in_capture(bytes: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = pcap_records(bytes).into_iter().flat_map(secrets_in_bytes).collect();
    out.sort();
    out.dedup();
    out
}

/// Secrets found in raw bytes: JWTs, password/token fields, credential headers.
fn secrets_in_bytes(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out: Vec<String> = Vec::new();
    let token_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    // JWTs.
    let mut rest = text.as_ref();
    while let Some(i) = rest.find("eyJ") {
        let cand: String = rest[i..].chars().take_while(|&c| token_char(c) || c == '.').collect();
        if cand.split('.').count() >= 3 && cand.split('.').take(2).all(|p| !p.is_empty()) {
            out.extend(jwt_parts(cand.trim_end_matches('.')));
        }
        rest = &rest[i + 3..];
    }
    // JSON string fields and form fields.
    for name in ["encryptedPassword", "password", "token", "access_token", "refresh_token", "client_secret"] {
        for pat in [format!("\"{name}\":\""), format!("\"{name}\": \"")] {
            for (i, _) in text.match_indices(&pat) {
                let v: String =
                    text[i + pat.len()..].chars().take_while(|&c| c != '"' && !c.is_control()).collect();
                out.push(v);
            }
        }
        let pat = format!("{name}=");
        for (i, _) in text.match_indices(&pat) {
            let before = text[..i].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let v: String = text[i + pat.len()..]
                .chars()
                .take_while(|&c| c.is_ascii_graphic() && !"&\"".contains(c))
                .collect();
            out.push(v);
        }
    }
    // Credential headers (any letter case).
    let lower = text.to_ascii_lowercase();
    for name in
        ["authorization: ", "proxy-authorization: ", "x-powerjob-access-token: ", "cookie: ", "set-cookie: "]
    {
        for (i, _) in lower.match_indices(name) {
            let line: String =
                text[i + name.len()..].chars().take_while(|&c| c != '\r' && c != '\n').collect();
            let value = match line.split_once(' ') {
                Some((scheme, cred)) if name.contains("authorization") && !scheme.contains('=') => {
                    cred.to_string()
                }
                _ => line.clone(),
            };
            // Cookie values: each `name=value`.
            for part in value.split(';') {
                let v = part.split_once('=').map_or(part, |(_, v)| v).trim();
                out.push(v.to_string());
            }
        }
    }
    out.retain(|s| s.len() >= 8 && !matches!(s.as_str(), "order-service" | "HttpOnly"));
    out.sort();
    out.dedup();
    out
}

/// Runs `dupcall args`, returns everything it printed plus every file it wrote.
fn outputs(args: &[&str], files: &[&Path]) -> Vec<(String, String)> {
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    let out = common::dupcall(args);
    let what = args.join(" ");
    assert!(
        out.status.code().is_some_and(|c| c != 2 && c < 100),
        "{what}: exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v = vec![
        (format!("{what} (stdout)"), String::from_utf8_lossy(&out.stdout).into_owned()),
        (format!("{what} (stderr)"), String::from_utf8_lossy(&out.stderr).into_owned()),
    ];
    for f in files {
        if let Ok(bytes) = std::fs::read(f) {
            v.push((format!("{what} ({})", f.display()), String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    v
}

/// Every output of every command over `input`.
fn every_output(input: &str, dir: &Path) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for profile in ["auto", "powerjob", "oauth2-bearer", "generic"] {
        for verbose in [false, true] {
            for (fmt, ext) in [("csv", "csv"), ("json", "json"), ("md", "md")] {
                let file = dir.join(format!("report.{ext}"));
                let file_s = file.to_string_lossy().into_owned();
                let mut args = vec!["analyze", input, "--profile", profile, "--format", fmt];
                if verbose {
                    args.extend(["-v", "--all"]);
                }
                all.extend(outputs(&args, &[]));
                args.extend(["-o", &file_s]);
                all.extend(outputs(&args, &[&file]));
            }
        }
    }
    let file = dir.join("exchanges.csv");
    let file_s = file.to_string_lossy().into_owned();
    all.extend(outputs(&["exchanges", input], &[]));
    all.extend(outputs(&["exchanges", input, "-o", &file_s], &[&file]));
    // Exchange records carry heads and bodies: redacted like every other output.
    all.extend(outputs(&["exchanges", "--format", "jsonl", input], &[]));
    // `exchanges -v` where the command has the flag.
    let v = common::dupcall(&["exchanges", "-v", input]);
    if v.status.code() != Some(2) {
        all.extend(outputs(&["exchanges", "-v", input], &[]));
    }
    all
}

fn assert_no_secret(outputs: &[(String, String)], secrets: &[String]) {
    let mut leaks = Vec::new();
    for (what, text) in outputs {
        for s in secrets {
            if let Some(i) = text.find(s.as_str()) {
                let from = text[..i].char_indices().rev().nth(60).map_or(0, |(k, _)| k);
                let context: String = text[from..].chars().take(60 + s.chars().count() + 40).collect();
                leaks.push(format!("{what}: {s}\n    …{context}…"));
            }
        }
    }
    assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
}

#[test]
fn no_secret_of_the_secret_capture_reaches_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("secrets.pcap");
    let secrets = secret_capture(&pcap);
    // DUPCALL_KEEP_FIXTURE=path keeps a copy of the capture to look at.
    if let Some(keep) = std::env::var_os("DUPCALL_KEEP_FIXTURE") {
        std::fs::copy(&pcap, keep).unwrap();
    }
    // The fixture is what the secrets were taken from: check the extraction on it too.
    let found = secrets_in_capture(&std::fs::read(&pcap).unwrap());
    for s in ["V4PlainPassw0rdX%21", "e99a18c428cb38d5f260853678922e03", "OAuthRefreshTokO", "ClientSecretQ"]
    {
        assert!(found.iter().any(|f| f == s), "extraction missed {s}: {found:?}");
    }
    let mut all = secrets;
    all.extend(found);
    let outs = every_output(&pcap.to_string_lossy(), dir.path());
    // The outputs are not vacuous: the calls and fingerprints are there.
    let report = &outs.iter().find(|(w, _)| w.contains("--format csv") && w.ends_with("(stdout)")).unwrap().1;
    assert!(report.contains("/openApi/saveJob") && report.contains("tok:"), "{report}");
    assert_no_secret(&outs, &all);
}

#[test]
fn no_secret_of_any_sample_reaches_any_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = common::sample_captures();
    assert!(!samples.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0;
    for s in &samples {
        let secrets = secrets_in_capture(&std::fs::read(root.join(s)).unwrap());
        total += secrets.len();
        assert_no_secret(&every_output(s, dir.path()), &secrets);
    }
    // The v5 samples carry JWTs and encrypted passwords: the extraction found them.
    assert!(total >= 20, "only {total} secrets found in the samples");
}

#[test]
fn extraction_finds_what_it_should() {
    let j = jwt("x-1234");
    let raw = format!(
        "POST /a?access_token=QTokenValue1&b=2 HTTP/1.1\r\nauthorization: Bearer {j}\r\nCookie: a=CookieValue1; b=CookieValue2\r\n\r\n{{\"encryptedPassword\":\"0123456789abcdef\",\"password\": \"PwValue123\"}}password=FormPw12345&x=1"
    );
    let found = secrets_in_bytes(raw.as_bytes());
    for want in
        ["QTokenValue1", "CookieValue1", "CookieValue2", "0123456789abcdef", "PwValue123", "FormPw12345"]
    {
        assert!(found.iter().any(|f| f == want), "{want} not in {found:?}");
    }
    assert!(found.contains(&j), "{found:?}");
}

/// A HAR as browsers and mitmproxy write it: every secret in clear (headers, query, URL user
/// info, JSON and form bodies, a base64 response body issuing tokens), and the secrets.
fn secret_har(path: &Path) -> Vec<String> {
    let (jwt_a, jwt_b, jwt_c) = (jwt("har-a-1a2b"), jwt("har-b-3c4d"), jwt("har-c-5e6f"));
    let basic = STANDARD.encode("harry:HarBasicPassw0rd");
    let issued = format!(r#"{{"success":true,"data":{{"token":"{jwt_b}","appId":7}},"message":null}}"#);
    let h = |n: &str, v: &str| serde_json::json!({"name": n, "value": v});
    let entry = |i: u64,
                 method: &str,
                 url: &str,
                 headers: Vec<serde_json::Value>,
                 post: serde_json::Value,
                 status: u16,
                 content: serde_json::Value| {
        serde_json::json!({
            "startedDateTime": format!("2026-11-26T03:28:{:02}.{:03}Z", 10 + i / 10, (i % 10) * 100),
            "time": 5.0,
            "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": headers,
                        "cookies": [{"name": "SESSION", "value": "HarCookieSess10n"}], "postData": post},
            "response": {"status": status, "httpVersion": "HTTP/1.1", "content": content,
                         "headers": [h("Set-Cookie", "SESSION=HarSetCookieVal9; HttpOnly"), h("X-POWERJOB-AUTH-PASSED", "true")]},
            "serverIPAddress": "127.0.0.1"
        })
    };
    let ok = serde_json::json!({"size": 42, "mimeType": "application/json", "text": r#"{"success":true,"data":101,"message":null}"#});
    let entries = vec![
        entry(
            0,
            "POST",
            "http://harry:HarUrlPassw0rd@127.0.0.1:7700/openApi/authApp",
            vec![h("Content-Type", "application/json"), h("Authorization", &format!("Basic {basic}"))],
            serde_json::json!({"mimeType": "application/json", "text": r#"{"appName":"orders","encryptedPassword":"a1b2c3d4e5f60718293a4b5c6d7e8f90"}"#}),
            200,
            serde_json::json!({"size": issued.len(), "encoding": "base64", "text": STANDARD.encode(&issued)}),
        ),
        entry(
            1,
            "POST",
            "http://127.0.0.1:7700/openApi/assert",
            vec![h("Content-Type", FORM)],
            serde_json::json!({"mimeType": FORM, "params": [{"name": "appName", "value": "orders"}, {"name": "password", "value": "HarFormPassw0rd"}]}),
            200,
            ok.clone(),
        ),
        entry(
            2,
            "POST",
            &format!("http://127.0.0.1:7700/openApi/runJob?appId=7&access_token={jwt_c}"),
            vec![
                h("X-POWERJOB-ACCESS-TOKEN", &jwt_b),
                h("Authorization", &format!("Bearer {jwt_a}")),
                h("Cookie", "SESSION=HarCookieSess10n; csrf=HarCsrfT0kenV"),
                h("X-API-Key", "HarApiKeyV4lue77"),
            ],
            serde_json::json!({"mimeType": "application/json", "text": r#"{"jobId":1,"password":"HarJsonPassw0rd"}"#}),
            401,
            serde_json::json!({"size": 0}),
        ),
        entry(
            3,
            "POST",
            "http://127.0.0.1:7700/openApi/runJob?appId=7",
            vec![h("X-POWERJOB-ACCESS-TOKEN", &jwt_b), h("Proxy-Authorization", &format!("Basic {basic}"))],
            serde_json::json!({"mimeType": "application/json", "text": r#"{"jobId":1}"#}),
            0,
            serde_json::json!({"size": 0}),
        ),
    ];
    let har = serde_json::json!({"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "entries": entries}});
    std::fs::write(path, serde_json::to_vec_pretty(&har).unwrap()).unwrap();
    let mut secrets: Vec<String> = [
        "HarBasicPassw0rd",
        "HarUrlPassw0rd",
        "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "HarFormPassw0rd",
        "HarCookieSess10n",
        "HarCsrfT0kenV",
        "HarApiKeyV4lue77",
        "HarJsonPassw0rd",
        "HarSetCookieVal9",
    ]
    .map(String::from)
    .to_vec();
    secrets.push(basic);
    for j in [&jwt_a, &jwt_b, &jwt_c] {
        secrets.extend(jwt_parts(j));
        secrets.push(j.clone());
    }
    secrets
}

#[test]
fn no_secret_of_a_har_reaches_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("secrets.har");
    let secrets = secret_har(&har);
    let outs = every_output(&har.to_string_lossy(), dir.path());
    // Not vacuous: the HAR was read as one, its calls are in the report.
    let report = &outs.iter().find(|(w, _)| w.contains("--format csv") && w.ends_with("(stdout)")).unwrap().1;
    assert!(report.contains("/openApi/runJob") && report.contains("#entry=2"), "{report}");
    assert_no_secret(&outs, &secrets);
}
