//! Table tests for every public function, and property tests that no secret survives.

use super::*;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;

const KEY: &str = "test-key";

fn r() -> Redactor {
    Redactor::with_key(KEY)
}

/// Expands `«secret»` in an expected string to `r().token("secret")`.
fn expand(want: &str) -> String {
    let red = r();
    let mut out = String::new();
    let mut rest = want;
    while let Some((before, after)) = rest.split_once('«') {
        out.push_str(before);
        let (secret, tail) = after.split_once('»').unwrap_or((after, ""));
        out.push_str(&red.token(secret));
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// `table!(name, |r, input| call, [(input, expected), …])`: `«x»` in `expected` is the
/// fingerprint of `x` under [`KEY`].
macro_rules! table {
    ($name:ident, |$r:ident, $input:ident| $call:expr, [$(($in:expr, $want:expr)),* $(,)?]) => {
        #[test]
        fn $name() {
            let $r = r();
            $(
                let $input = $in;
                let got: String = ($call).into();
                assert_eq!(got, expand($want), "input: {:?}", $in);
            )*
        }
    };
}

/// A JWT with the given claims (signature is fake; only the shape matters).
fn jwt(claims: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims);
    format!("{header}.{payload}.c2lnbmF0dXJlLWJ5dGVz")
}

fn powerjob_jwt() -> String {
    jwt(
        r#"{"appId":1,"password":"5f4dcc3b5aa765d61d8327deb882cf99","sub":"PowerJob","exp":1724119200,"iat":1723514400,"jti":"x"}"#,
    )
}

// ---------------------------------------------------------------- fingerprint and token

#[test]
fn fingerprint_is_keyed_hmac_sha256() {
    // HMAC-SHA-256(key="key", "The quick brown fox jumps over the lazy dog") = f7bc83f4…
    let red = Redactor::with_key("key");
    assert_eq!(red.fingerprint(b"The quick brown fox jumps over the lazy dog"), "tok:f7bc83f4");
}

#[test]
fn fingerprint_is_deterministic_and_distinguishes() {
    assert_eq!(r().fingerprint(b"abc"), r().fingerprint(b"abc"));
    assert_ne!(r().fingerprint(b"abc"), r().fingerprint(b"abd"));
    assert_ne!(r().fingerprint(b"abc"), Redactor::with_key("other").fingerprint(b"abc"));
    let fp = r().fingerprint(b"");
    assert_eq!(fp.len(), 12);
    assert!(fp[4..].bytes().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn random_keys_differ() {
    assert_ne!(Redactor::random().fingerprint(b"abc"), Redactor::random().fingerprint(b"abc"));
    assert!(fallback_key() != [0; 32]);
}

#[test]
fn debug_hides_the_key() {
    let shown = format!("{:?}", Redactor::with_key("sekrit-key"));
    assert!(!shown.contains("sekrit"), "{shown}");
}

#[test]
fn token_shows_jwt_times_only() {
    let t = powerjob_jwt();
    let got = r().token(&t);
    let fp = r().fingerprint(t.as_bytes());
    assert_eq!(got, format!("{fp}(jwt exp=2024-08-20T02:00:00Z iat=2024-08-13T02:00:00Z)"));
    assert_eq!(r().token("plain"), r().fingerprint(b"plain"));
    let no_times = jwt(r#"{"sub":"x"}"#);
    assert!(r().token(&no_times).ends_with("(jwt)"));
}

table!(
    jwt_times_table,
    |_r, input| format!("{:?}", jwt_times(input)),
    [
        (&powerjob_jwt(), "Some(JwtTimes { exp: Some(1724119200), iat: Some(1723514400) })"),
        (&jwt(r#"{"exp":1.7e9}"#), "Some(JwtTimes { exp: Some(1700000000), iat: None })"),
        (&jwt(r#"{"exp":"soon"}"#), "Some(JwtTimes { exp: None, iat: None })"),
        (&jwt("not json"), "Some(JwtTimes { exp: None, iat: None })"),
        ("eyJhbGciOiJub25lIn0.eyJleHAiOjF9.", "Some(JwtTimes { exp: Some(1), iat: None })"),
        ("abc.def.ghi", "None"),
        ("a.b", "None"),
        ("", "None"),
        (&format!("{}.x", powerjob_jwt()), "None"),
        // header without "alg"
        (&format!("{}.e30.", URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT"}"#)), "None"),
    ]
);

#[test]
fn jwt_times_out_of_range_prints_number() {
    let t = jwt(r#"{"exp":99999999999999}"#);
    assert!(r().token(&t).ends_with("(jwt exp=99999999999999)"));
    let t = jwt(r#"{"exp":-1e300}"#);
    assert!(r().token(&t).ends_with("(jwt)"));
}

// ---------------------------------------------------------------- secret names

table!(
    secret_kind_table,
    |r, input| format!("{:?}", r.secret_kind(input)),
    [
        ("token", "Some(Token)"),
        ("access_token", "Some(Token)"),
        ("accessToken", "Some(Token)"),
        ("X-Access-Token", "Some(Token)"),
        ("ACCESS_TOKEN", "Some(Token)"),
        ("accesstoken", "Some(Token)"),
        ("refresh_token", "Some(Token)"),
        ("id_token", "Some(Token)"),
        ("X-POWERJOB-ACCESS-TOKEN", "Some(Token)"),
        ("secret", "Some(Token)"),
        ("client_secret", "Some(Token)"),
        ("clientSecret", "Some(Token)"),
        ("key", "Some(Token)"),
        ("api_key", "Some(Token)"),
        ("apikey", "Some(Token)"),
        ("X-API-Key", "Some(Token)"),
        ("APIKey", "Some(Token)"),
        ("secretKey", "Some(Token)"),
        ("signature", "Some(Token)"),
        ("X-Hub-Signature-256", "Some(Token)"),
        ("sig", "Some(Token)"),
        ("session", "Some(Token)"),
        ("sessionid", "Some(Token)"),
        ("session_id", "Some(Token)"),
        ("JSESSIONID", "Some(Token)"),
        ("auth", "Some(Token)"),
        ("auth_code", "Some(Token)"),
        ("authorizationCode", "Some(Token)"),
        ("Authorization", "Some(Token)"),
        ("Cookie", "Some(Token)"),
        ("secret_value", "Some(Token)"),
        ("password", "Some(Password)"),
        ("Password", "Some(Password)"),
        ("passwd", "Some(Password)"),
        ("pwd", "Some(Password)"),
        ("pass", "Some(Password)"),
        ("encryptedPassword", "Some(Password)"),
        ("encrypted_password", "Some(Password)"),
        ("passphrase", "Some(Password)"),
        ("password2", "Some(Password)"),
        ("password_hash", "Some(Password)"),
        ("passwordMd5", "Some(Password)"),
        ("spring.datasource.password", "Some(Password)"),
        ("--password", "Some(Password)"),
        ("code", "None"),
        ("error_code", "None"),
        ("statusCode", "None"),
        ("message", "None"),
        ("monkey", "None"),
        ("keyword", "None"),
        ("jobKey", "None"),
        ("Idempotency-Key", "None"),
        ("call_key", "None"),
        ("primaryKey", "None"),
        ("token_type", "None"),
        ("tokenExpireTime", "None"),
        ("expires_in", "None"),
        ("X-POWERJOB-AUTH-PASSED", "None"),
        ("X-POWERJOB-APP-ID", "None"),
        ("WWW-Authenticate", "None"),
        ("appName", "None"),
        ("encryptType", "None"),
        ("bypass", "None"),
        ("passport", "None"),
        ("", "None"),
        ("_-.", "None"),
    ]
);

#[test]
fn extra_secret_names_match_by_words() {
    let red = r().with_extra_secret_names(&["jobSecretParam".into(), "code".into(), "".into()]);
    assert_eq!(red.secret_kind("job_secret_param"), Some(SecretKind::Token));
    assert_eq!(red.secret_kind("X-Job-Secret-Param"), Some(SecretKind::Token));
    assert_eq!(red.secret_kind("code"), Some(SecretKind::Token));
    assert_eq!(red.secret_kind("password"), Some(SecretKind::Password));
    assert_eq!(red.secret_kind("jobParam"), None);
    assert_eq!(r().secret_kind("job_secret_param"), None);
}

// ---------------------------------------------------------------- headers

table!(
    header_value_table,
    |r, input| r.header_value(input.0, input.1.as_bytes()),
    [
        (("Authorization", "Bearer abc.def"), "Bearer «abc.def»"),
        (("authorization", "bearer   abc"), "bearer «abc»"),
        (("Authorization", "Basic dXNlcjpwYXNz"), "Basic [redacted]"),
        (("Proxy-Authorization", "Basic dXNlcjpwYXNz"), "Basic [redacted]"),
        (("Authorization", "Digest username=\"u\", response=\"abc\""), "Digest [redacted]"),
        (("Authorization", "Negotiate YIIabc"), "Negotiate [redacted]"),
        (("Authorization", "Token abc"), "Token «abc»"),
        (("Authorization", "abc123"), "«abc123»"),
        (("Authorization", "Custom abc def"), "«Custom abc def»"),
        (("Authorization", "Bearer"), "Bearer"),
        (("Authorization", ""), ""),
        (("Cookie", "a=1; sid=xyz"), "a=«1»; sid=«xyz»"),
        (("Cookie", "sid=\"xyz\";theme="), "sid=«xyz»; theme="),
        (("Cookie", "password=hunter2; lone"), "password=[redacted]; «lone»"),
        (
            (
                "Set-Cookie",
                "sid=xyz; Path=/; HttpOnly; SameSite=Lax; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age=60; Domain=example.com; Secure"
            ),
            "sid=«xyz»; Path=/; HttpOnly; SameSite=Lax; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age=60; Domain=example.com; Secure"
        ),
        (("Set-Cookie", "a=1; Path=/, b=2; Path=/x"), "a=«1»; Path=/, b=«2»; Path=/x"),
        (("Set-Cookie", "a=1; Foo=bar; Flag"), "a=«1»; Foo=«bar»; Flag"),
        (("X-POWERJOB-ACCESS-TOKEN", "abc"), "«abc»"),
        (("X-API-Key", "abc"), "«abc»"),
        (("X-Auth-Token", "abc"), "«abc»"),
        (("X-Auth-Token", "Bearer abc"), "Bearer «abc»"),
        (("X-Session-Count", "3"), "«3»"),
        (("X-Token-Expires", "soon"), "«soon»"),
        (("X-Password", "hunter2"), "[redacted]"),
        (("X-Admin-Passw0rd", "hunter2"), "[redacted]"),
        (("X-POWERJOB-AUTH-PASSED", "false"), "false"),
        (("X-POWERJOB-APP-ID", "1"), "1"),
        (("Idempotency-Key", "k-1"), "k-1"),
        (("Content-Type", "application/json; charset=utf-8"), "application/json; charset=utf-8"),
        (("WWW-Authenticate", "Bearer error=\"invalid_token\""), "Bearer error=\"invalid_token\""),
        (
            ("Location", "http://u:p@h/cb?code=1&access_token=abc"),
            "http://[redacted]@h/cb?code=1&access_token=«abc»"
        ),
        (("Link", "</x?access_token=abc>; rel=next"), "</x?access_token=«abc»>; rel=next"),
        (("X-Note", "line1\nline2\x1b[31m\u{202e}"), "line1\\nline2\\x1b[31m\\u{202e}"),
        (("Authorization", "Bearer ab\nc"), "Bearer «ab\nc»"),
    ]
);

#[test]
fn header_value_escapes_invalid_utf8() {
    assert_eq!(r().header_value("X-Note", b"a\xffb"), "a\\xffb");
    let got = r().header_value("Authorization", b"Bearer a\xffb");
    assert!(got.starts_with("Bearer tok:"), "{got}");
}

#[test]
fn bearer_jwt_header_shows_times() {
    let t = powerjob_jwt();
    let got = r().header_value("X-POWERJOB-ACCESS-TOKEN", t.as_bytes());
    assert!(got.ends_with("(jwt exp=2024-08-20T02:00:00Z iat=2024-08-13T02:00:00Z)"));
    assert!(!got.contains("eyJ"));
}

// ---------------------------------------------------------------- query, form, uri

table!(
    query_table,
    |r, input| r.query(input),
    [
        ("a=1&access_token=abc&password=x", "a=1&access_token=«abc»&password=[redacted]"),
        ("a=%2F&b=c+d", "a=%2F&b=c+d"),
        ("access%5Ftoken=abc", "access%5Ftoken=«abc»"),
        ("access+token=abc", "access+token=«abc»"),
        ("token=a%2Bb", "token=«a+b»"),
        ("token=a+b", "token=«a b»"),
        ("token&token=&token=x&token=y", "token&token=&token=«x»&token=«y»"),
        ("password=&pwd", "password=&pwd"),
        ("a=1;sid=abc", "a=1;sid=«abc»"),
        ("", ""),
        ("&&=&", "&&=&"),
        ("code=-403&jobId=5", "code=-403&jobId=5"),
        ("x=%zz&token=%zz", "x=%zz&token=«%zz»"),
        ("redirect=https%3A%2F%2Fh%2Fcb%3Faccess_token%3Dabc", "redirect=https://h/cb?access_token%3D«abc»"),
        ("token=tok:0123abcd", "token=tok:0123abcd"),
        ("password=%FF%FE", "password=[redacted]"),
    ]
);

#[test]
fn query_fingerprints_invalid_utf8_bytes() {
    assert_eq!(r().query("token=%FF"), format!("token={}", r().fingerprint(b"\xff")));
}

#[test]
fn query_jwt_value_in_plain_param() {
    let t = powerjob_jwt();
    let got = r().query(&format!("state={t}&x=1"));
    assert_eq!(got, format!("state={}&x=1", r().token(&t)));
}

table!(
    form_table,
    |r, input| r.form(input),
    [
        ("appName=my-app&password=secret123", "appName=my-app&password=[redacted]"),
        (
            "jobId=1&appId=2&instanceParams=%7B%22a%22%3A1%7D",
            "jobId=1&appId=2&instanceParams=%7B%22a%22%3A1%7D"
        ),
        ("grant_type=refresh_token&refresh_token=abc", "grant_type=refresh_token&refresh_token=«abc»"),
        ("client_id=c&client_secret=s3", "client_id=c&client_secret=«s3»"),
        ("instanceParams=%7B%22password%22%3A%22x%22%7D", "instanceParams={\"password\":\"[redacted]\"}"),
    ]
);

table!(
    uri_table,
    |r, input| r.uri(input),
    [
        ("/openApi/disableJob", "/openApi/disableJob"),
        ("/openApi/disableJob?jobId=1&appId=2", "/openApi/disableJob?jobId=1&appId=2"),
        ("/x?access_token=abc#frag", "/x?access_token=«abc»#frag"),
        ("/cb#access_token=abc&token_type=bearer", "/cb#access_token=«abc»&token_type=bearer"),
        ("http://user:pass@host:8080/p?q=1", "http://[redacted]@host:8080/p?q=1"),
        ("https://tok@host", "https://[redacted]@host"),
        ("//u:p@host/x", "//[redacted]@host/x"),
        ("http://host/a@b", "http://host/a@b"),
        ("/app;jsessionid=ABC123/x;v=1", "/app;jsessionid=«ABC123»/x;v=1"),
        ("host:443", "host:443"),
        ("*", "*"),
        ("", ""),
        ("/a b\r\n", "/a b\\r\\n"),
        ("://@", "://@"),
    ]
);

#[test]
fn uri_jwt_path_segment() {
    let t = powerjob_jwt();
    assert_eq!(r().uri(&format!("/verify/{t}")), format!("/verify/{}", r().token(&t)));
}

// ---------------------------------------------------------------- json

table!(
    json_text_table,
    |r, input| r.json_text(input),
    [
        (
            r#"{"appName":"a","encryptedPassword":"5f4d","encryptType":"md5"}"#,
            r#"{"appName":"a","encryptType":"md5","encryptedPassword":"[redacted]"}"#
        ),
        (
            r#"{"success":true,"data":{"appId":1,"token":"abc"}}"#,
            r#"{"data":{"appId":1,"token":"«abc»"},"success":true}"#
        ),
        (
            r#"{"success":false,"message":"TOKEN_EXPIRED:JWT expired at 2024-08-20T02:00:00Z","code":"-403"}"#,
            r#"{"code":"-403","message":"TOKEN_EXPIRED:JWT expired at 2024-08-20T02:00:00Z","success":false}"#
        ),
        (
            r#"{"token":null,"password":"","secret":true,"key":5}"#,
            r#"{"key":"«5»","password":"","secret":true,"token":null}"#
        ),
        (
            r#"[{"tokens":["a","b"]},{"auth":{"user":"u","password":"p"}}]"#,
            r#"[{"tokens":["«a»","«b»"]},{"auth":{"password":"[redacted]","user":"«u»"}}]"#
        ),
        (
            r#"{"headers":[{"name":"Authorization","value":"Bearer abc"},{"name":"password","value":"x"},{"name":"Accept","value":"*/*"}]}"#,
            r#"{"headers":[{"name":"Authorization","value":"Bearer «abc»"},{"name":"password","value":"[redacted]"},{"name":"Accept","value":"*/*"}]}"#
        ),
        (
            r#"{"authorization":"Basic dXNlcjpwYXNz","cookie":"a=1","token":"Bearer abc"}"#,
            r#"{"authorization":"Basic [redacted]","cookie":"a=«1»","token":"Bearer «abc»"}"#
        ),
        (
            r#"{"note":"sent with Bearer abc123","url":"/x?access_token=abc"}"#,
            r#"{"note":"sent with Bearer «abc123»","url":"/x?access_token=«abc»"}"#
        ),
        (
            r#"{"instanceParams":"{\"password\":\"x\"}"}"#,
            r#"{"instanceParams":"{\"password\":\"[redacted]\"}"}"#
        ),
        ("\u{feff}{\"pwd\":1}", r#"{"pwd":"[redacted]"}"#),
        // not JSON: falls back to text()
        (r#"{"token":"abc","cut":"#, r#"{"token":"«abc»","cut":"#),
        (r#"{"password":"abc"#, r#"{"password":"[redacted]"#),
        ("password=abc", "password=[redacted]"),
    ]
);

#[test]
fn json_jwt_anywhere() {
    let t = powerjob_jwt();
    let mut v = serde_json::json!({ "list": [t.clone()], "data": { "token": t.clone() }, t.clone(): 1 });
    r().json(&mut v);
    let s = v.to_string();
    assert!(!s.contains("eyJ"), "{s}");
    assert_eq!(v["data"]["token"], r().token(&t));
    assert_eq!(v["list"][0], r().token(&t));
}

#[test]
fn json_deep_nesting_does_not_overflow() {
    let mut v = Value::String("password=x".into());
    for _ in 0..100_000 {
        v = Value::Array(vec![v]);
    }
    r().json(&mut v);
    let mut map = Map::new();
    map.insert("token".into(), v);
    let mut secret = Value::Object(map);
    r().json(&mut secret);
    // Drop iteratively-built deep values without recursion problems in the test itself.
    let mut cur = secret;
    while let Some(next) =
        cur.as_array_mut().and_then(Vec::pop).or_else(|| cur.as_object_mut().and_then(|m| m.remove("token")))
    {
        cur = next;
    }
    let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
    assert_eq!(r().json_text(&deep), r().text(&deep));
}

// ---------------------------------------------------------------- text

table!(
    text_table,
    |r, input| r.text(input),
    [
        ("nothing secret here: code=-403", "nothing secret here: code=-403"),
        ("Authorization: Bearer abc123 then", "Authorization: Bearer «abc123» then"),
        ("sent Bearer abc123.", "sent Bearer «abc123»."),
        ("Bearer token expired", "Bearer token expired"),
        (
            "WWW-Authenticate: Bearer error=\"invalid_token\"",
            "WWW-Authenticate: Bearer error=\"invalid_token\""
        ),
        ("Basic dXNlcjpwYXNz", "Basic [redacted]"),
        ("Basic auth failed", "Basic auth failed"),
        ("Authorization: Basic anything", "Authorization: Basic [redacted]"),
        (
            "Authorization: Digest username=\"u\", response=\"r\"\nnext",
            "Authorization: Digest [redacted]\\nnext"
        ),
        ("Authorization: rawtoken rest", "Authorization: «rawtoken» rest"),
        ("password=hunter2 and more", "password=[redacted] and more"),
        ("password: hunter2", "password: [redacted]"),
        ("\"password\":\"hun ter2\",\"x\":1", "\"password\":\"[redacted]\",\"x\":1"),
        ("{\\\"token\\\":\\\"abc\\\"}", "{\\\"token\\\":\\\"«abc»\\\"}"),
        ("'client_secret': 'abc def'", "'client_secret': '«abc def»'"),
        (":password => \"abc\"", ":password => \"[redacted]\""),
        ("token==null", "token==null"),
        ("token: null", "token: null"),
        ("token: \"null\"", "token: \"«null»\""),
        ("GET /x?a=1&access_token=abc HTTP/1.1", "GET /x?a=1&access_token=«abc» HTTP/1.1"),
        (
            "TOKEN_EXPIRED:JWT expired at 2024-08-20T02:00:00Z.",
            "TOKEN_EXPIRED:JWT expired at 2024-08-20T02:00:00Z."
        ),
        ("INVALID_TOKEN:JWT signature does not match", "INVALID_TOKEN:JWT signature does not match"),
        ("INCORRECT_PASSWORD", "INCORRECT_PASSWORD"),
        ("OPEN_API_AUTH_FAILED:token_is_empty", "OPEN_API_AUTH_FAILED:token_is_empty"),
        ("token:abc", "token:«abc»"),
        ("Cookie: a=1; b=2\nnext", "Cookie: a=«1»; b=«2»\\nnext"),
        ("Set-Cookie: sid=x; Path=/", "Set-Cookie: sid=«x»; Path=/"),
        ("the call_key=POST /x", "the call_key=POST /x"),
        ("monkey=banana keyword: x", "monkey=banana keyword: x"),
        ("token=", "token="),
        ("password=", "password="),
        ("token=\"unterminated", "token=\"«unterminated»"),
        ("tab\there", "tab\\there"),
        ("ünïcödé password=ü", "ünïcödé password=[redacted]"),
        ("password=a,b;c d", "password=[redacted] d"),
        ("db jdbc:mysql://root:pw@db:3306/x ok", "db jdbc:mysql://[redacted]@db:3306/x ok"),
        ("redis://:pw@host", "redis://[redacted]@host"),
        ("see http://host/a@b", "see http://host/a@b"),
        ("", ""),
    ]
);

#[test]
fn text_jwt_runs() {
    let t = powerjob_jwt();
    let got = r().text(&format!("old token {t}. New: {t}"));
    let fp = r().token(&t);
    assert_eq!(got, format!("old token {fp}. New: {fp}"));
    let jwe = "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d";
    assert_eq!(r().text(jwe), r().token(jwe));
}

#[test]
fn redaction_is_idempotent() {
    let red = r();
    let t = powerjob_jwt();
    for input in [
        format!("Authorization: Bearer {t}"),
        format!("access_token={t} password=x"),
        "Basic dXNlcjpwYXNz; token: abc; Cookie: a=1".to_owned(),
    ] {
        let once = red.text(&input);
        assert_eq!(red.text(&once), once);
    }
    let h = red.header_value("Authorization", t.as_bytes());
    assert_eq!(red.header_value("Authorization", h.as_bytes()), h);
    let q = red.query("token=abc");
    assert_eq!(red.query(&q), q);
}

// ---------------------------------------------------------------- csv

table!(
    csv_cell_table,
    |_r, input| csv_cell(input),
    [
        ("/=cmd|' /C calc'!A0", "/=cmd|' /C calc'!A0"),
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1", "'+1"),
        ("-403", "'-403"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a\0b", "a\\x00b"),
        ("=a\0", "'=a\\x00"),
        ("plain", "plain"),
        ("", ""),
    ]
);

#[test]
fn csv_cell_guards_formula_path() {
    // A request path is attacker-controlled; once the leading '/' is trimmed by a user or
    // a tool, or when the path is relative, the formula must still be defused.
    let path = "/=cmd|' /C calc'!A0";
    let cell = r().uri(path.trim_start_matches('/'));
    assert!(csv_cell(&cell).starts_with('\''));
    assert!(csv_cell(&path[1..]).starts_with('\''));
    assert!(matches!(csv_cell("plain"), Cow::Borrowed(_)));
}

// ---------------------------------------------------------------- properties

/// Random secrets: at least 6 characters from the token alphabet, with an upper-case letter,
/// a lower-case letter and a digit, so they cannot occur by chance in the fixed text around
/// them or in fingerprints.
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~+/-]{6,40}".prop_filter("mixed", |s| {
        s.bytes().any(|c| c.is_ascii_uppercase())
            && s.bytes().any(|c| c.is_ascii_lowercase())
            && s.bytes().any(|c| c.is_ascii_digit())
            && !s.starts_with("eyJ")
    })
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every carrier of `s`, with the redacted output.
fn carriers(red: &Redactor, s: &str) -> Vec<(String, String)> {
    let basic = STANDARD.encode(format!("user:{s}"));
    let e = pct(s);
    let mut out = vec![];
    let mut add = |carrier: String, output: String| out.push((carrier, output));
    for (name, value) in [
        ("Authorization", format!("Bearer {s}")),
        ("Authorization", format!("Basic {basic}")),
        ("Proxy-Authorization", format!("Basic {basic}")),
        ("Authorization", s.to_owned()),
        ("Cookie", format!("theme=dark; sid={s}; x=1")),
        ("Cookie", format!("password={s}")),
        ("Set-Cookie", format!("sid={s}; Path=/; HttpOnly; SameSite=Lax")),
        ("Set-Cookie", format!("a=1; Path=/, sid={s}; Secure")),
        ("X-POWERJOB-ACCESS-TOKEN", s.to_owned()),
        ("X-API-Key", s.to_owned()),
        ("X-Auth-Token", s.to_owned()),
        ("X-Password", s.to_owned()),
        ("Location", format!("https://h/cb?access_token={e}")),
        ("X-Other", format!("access_token={s}")),
    ] {
        add(format!("{name}: {value}"), red.header_value(name, value.as_bytes()));
    }
    for q in [
        format!("a=1&access_token={e}&password={e}"),
        format!("refresh_token={e}"),
        format!("client%5Fsecret={e}"),
        format!("x=1;token={e}"),
        format!("next=%2Fcb%3Ftoken%3D{}", pct(&e)),
    ] {
        add(format!("query {q}"), red.query(&q));
        add(format!("form {q}"), red.form(&q));
        add(format!("uri /p?{q}"), red.uri(&format!("/p?{q}")));
    }
    add("userinfo".into(), red.uri(&format!("http://user:{e}@host/x")));
    add("userinfo-token".into(), red.uri(&format!("http://{e}@host/x")));
    add("matrix".into(), red.uri(&format!("/a;jsessionid={e}/b")));
    let j = serde_json::to_string(s).unwrap_or_default();
    for doc in [
        format!(r#"{{"data":{{"appId":1,"token":{j}}}}}"#),
        format!(r#"{{"appName":"a","encryptedPassword":{j},"encryptType":"md5"}}"#),
        format!(r#"[{{"list":[{{"client_secret":{j}}}]}},[[{{"auth":{{"password":{j}}}}}]]]"#),
        format!(r#"{{"note":"Bearer {s}","h":[{{"name":"X-API-Key","value":{j}}}]}}"#),
        format!(r#"{{"session":[{j},{{"deep":{j}}}]}}"#),
        format!(r#"{{"token":{j},"cut"#),
    ] {
        add(format!("json {doc}"), red.json_text(&doc));
    }
    for t in [
        format!("retry used Authorization: Bearer {s} again"),
        format!("sent Bearer {s}"),
        format!("Basic {basic}"),
        format!("Authorization: Basic {basic}"),
        format!("password={s}"),
        format!("login with password: {s}"),
        format!("token: {s}"),
        format!("{{\"access_token\":\"{s}\"}}"),
        format!("'secret' => '{s}'"),
        format!("Cookie: a={s}; b=2"),
        format!("Set-Cookie: sid={s}; Path=/"),
        format!("GET /x?api_key={e} HTTP/1.1"),
        format!("connect postgres://app:{e}@db/x failed"),
    ] {
        add(format!("text {t}"), red.text(&t));
    }
    out
}

fn assert_hidden(needles: &[&str], carrier: &str, output: &str) -> Result<(), TestCaseError> {
    for needle in needles {
        prop_assert!(!output.contains(needle), "{needle:?} leaked from {carrier:?} into {output:?}");
    }
    Ok(())
}

proptest! {
    #[test]
    fn no_secret_survives_any_carrier(s in secret()) {
        let red = Redactor::random();
        let basic = STANDARD.encode(format!("user:{s}"));
        let encoded = pct(&s);
        let mut needles = vec![s.as_str(), basic.as_str()];
        if encoded.len() > s.len() {
            needles.push(encoded.as_str());
        }
        for (carrier, output) in carriers(&red, &s) {
            assert_hidden(&needles, &carrier, &output)?;
        }
    }

    #[test]
    fn passwords_are_never_fingerprinted(s in secret()) {
        let red = r();
        let fp = red.fingerprint(s.as_bytes());
        let basic = STANDARD.encode(format!("user:{s}"));
        let outputs = [
            red.header_value("Authorization", format!("Basic {basic}").as_bytes()),
            red.header_value("X-Password", s.as_bytes()),
            red.query(&format!("password={}", pct(&s))),
            red.json_text(&format!(r#"{{"encryptedPassword":"{s}"}}"#)),
            red.text(&format!("pwd={s}")),
            red.header_value("Cookie", format!("pass={s}").as_bytes()),
        ];
        for out in outputs {
            prop_assert!(!out.contains(&fp), "{out}");
            prop_assert!(!out.contains("tok:"), "{out}");
        }
    }

    #[test]
    fn same_token_same_fingerprint_everywhere(s in secret()) {
        let red = Redactor::random();
        let fp = red.token(&s);
        let outputs = [
            red.header_value("Authorization", format!("Bearer {s}").as_bytes()),
            red.header_value("X-POWERJOB-ACCESS-TOKEN", s.as_bytes()),
            red.header_value("Cookie", format!("sid={s}").as_bytes()),
            red.query(&format!("access_token={}", pct(&s))),
            red.json_text(&format!(r#"{{"data":{{"token":"{s}"}}}}"#)),
            red.text(&format!("token: {s}")),
        ];
        for out in outputs {
            prop_assert!(out.contains(&fp), "{out} lacks {fp}");
        }
    }

    #[test]
    fn jwt_payload_and_signature_never_shown(
        secret_claim in secret(),
        exp in 0i64..4_000_000_000,
        sig in "[A-Za-z0-9_-]{16,64}",
    ) {
        let red = Redactor::random();
        let body = format!(r#"{{"password":"{secret_claim}","exp":{exp},"iat":{}}}"#, exp - 3600);
        let payload = URL_SAFE_NO_PAD.encode(&body);
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
        let t = format!("{header}.{payload}.{sig}");
        let outputs = [
            red.header_value("Authorization", format!("Bearer {t}").as_bytes()),
            red.header_value("X-POWERJOB-ACCESS-TOKEN", t.as_bytes()),
            red.json_text(&format!(r#"{{"data":{{"token":"{t}"}},"x":["{t}"]}}"#)),
            red.query(&format!("state={t}")),
            red.uri(&format!("/v/{t}")),
            red.text(&format!("got {t}, then Bearer {t}")),
        ];
        let exp_text = jwt::rfc3339(exp);
        for out in outputs {
            prop_assert!(!out.contains(&payload) && !out.contains(&sig) && !out.contains(&secret_claim), "{out}");
            prop_assert!(out.contains(&exp_text), "{out} lacks {exp_text}");
        }
    }

    #[test]
    fn never_panics(s in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let red = r().with_extra_secret_names(std::slice::from_ref(&s));
        let _ = red.text(&s);
        let _ = red.query(&s);
        let _ = red.form(&s);
        let _ = red.uri(&s);
        let _ = red.json_text(&s);
        let _ = red.token(&s);
        let _ = red.secret_kind(&s);
        let _ = jwt_times(&s);
        let _ = csv_cell(&s);
        for name in ["Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "Location", "X", s.as_str()] {
            let _ = red.header_value(name, &bytes);
            let _ = red.header_value(name, s.as_bytes());
        }
    }

    #[test]
    fn text_output_is_one_printable_line(s in any::<String>()) {
        let out = r().text(&s);
        prop_assert!(!out.chars().any(needs_escape), "{out:?}");
        let out = r().header_value("X", s.as_bytes());
        prop_assert!(!out.chars().any(needs_escape), "{out:?}");
    }

    #[test]
    fn csv_cell_never_starts_a_formula(s in any::<String>()) {
        let out = csv_cell(&s);
        prop_assert!(!out.starts_with(['=', '+', '-', '@', '\t', '\r']));
        prop_assert!(!out.contains('\0'));
    }
}

/// URI-like text built from pieces that do and do not trip the pre-check.
fn uri_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/"),
        Just("?"),
        Just("&"),
        Just("="),
        Just(";"),
        Just("#"),
        Just("@"),
        Just("%"),
        Just("%74"),
        Just("+"),
        Just("//"),
        Just("://"),
        Just("api"),
        Just("jobId"),
        Just("Token"),
        Just("pin"),
        Just("keyword"),
        Just("eyJ"),
        Just("."),
        Just("x"),
        Just("42"),
        Just("é"),
        Just("\u{212a}"),
        Just("\n"),
        Just("access_token"),
        Just("user:pw"),
        Just("Phrase"),
        Just("api_phrase"),
        Just(":"),
        Just(" "),
        Just("\""),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    /// The pre-checks only skip work: with them or without, the same output.
    #[test]
    fn pre_checks_change_nothing(u in uri_like(), name in "[A-Za-z_\\-]{0,12}", extra in any::<bool>()) {
        // A profile's own secret name holds none of the built-in fragments.
        let red = if extra { r().with_extra_secret_names(&["apiPhrase".to_string()]) } else { r() };
        prop_assert_eq!(red.uri(&u), red.uri_full(&u));
        prop_assert_eq!(red.text(&u), red.text_full(&u));
        prop_assert_eq!(red.classify(&name), red.classify_full(&name));
        prop_assert_eq!(red.classify(&u), red.classify_full(&u));
    }
}
