//! Table, detection, reader, property and throughput tests for access logs.
//!
//! Table tests are one line in, the fields out: [`fields`] flattens a record into
//! `name → text` (headers as `req.<Name>` / `resp.<Name>`), and each case lists the fields
//! it checks; [`NONE`] means the field must be absent.

use std::collections::BTreeMap;
use std::io::{self, Cursor, Read};

use proptest::prelude::*;

use super::*;

const NONE: &str = "<none>";

fn fields(r: &LogRecord) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_owned(), v);
    };
    put("line", r.line.to_string());
    put("time", r.time.rfc3339());
    put("logged_time", r.logged_time.rfc3339());
    put("basis", r.time_basis.as_str().to_owned());
    put("whole_second", r.whole_second.to_string());
    put("method", r.method.clone());
    put("uri", r.uri.clone());
    put("version", r.version.to_string());
    if let Some(v) = r.remote_addr {
        put("remote_addr", v.to_string());
    }
    if let Some(v) = r.client_ip() {
        put("client_ip", v.to_string());
    }
    if let Some(v) = r.remote_port {
        put("remote_port", v.to_string());
    }
    if let Some(v) = r.status {
        put("status", v.to_string());
    }
    if let Some(v) = r.body_bytes {
        put("body_bytes", v.to_string());
    }
    if let Some(v) = r.request_time {
        put("request_time", format!("{v:.6}"));
    }
    if let Some(v) = &r.upstream_status {
        put("upstream_status", v.clone());
    }
    if let Some(v) = &r.host {
        put("host", v.clone());
    }
    if let Some(v) = &r.server_addr {
        put("server_addr", v.clone());
    }
    if let Some(v) = r.server_port {
        put("server_port", v.to_string());
    }
    for (n, v) in &r.request_headers {
        put(&format!("req.{n}"), v.clone());
    }
    for (n, v) in &r.response_headers {
        put(&format!("resp.{n}"), v.clone());
    }
    m
}

fn check(got: &BTreeMap<String, String>, key: &str, want: &str) {
    if want == NONE {
        assert!(!got.contains_key(key), "field {key} should be absent, got {:?}", got.get(key));
    } else {
        assert_eq!(got.get(key).map(String::as_str), Some(want), "field {key}; record: {got:#?}");
    }
}

fn named(name: &str) -> LogFormat {
    LogFormat::named(name).unwrap_or_else(|| panic!("format {name}"))
}
fn nginx(f: &str) -> LogFormat {
    LogFormat::nginx(f).unwrap()
}
fn apache(f: &str) -> LogFormat {
    LogFormat::apache(f).unwrap()
}
fn tomcat(f: &str) -> LogFormat {
    LogFormat::tomcat(f).unwrap()
}
fn spec(f: &str) -> LogFormat {
    LogFormat::parse_spec(f).unwrap()
}

/// `name: format, line => { "field": "value", … }` — the line parses and shows those fields.
macro_rules! line_cases {
    ($( $name:ident : $fmt:expr, $line:expr => { $($k:literal : $v:expr),* $(,)? } )*) => {
        $(
            #[test]
            fn $name() {
                let f = $fmt;
                let line: &str = &$line;
                let r = f.parse_line(line, 7).unwrap_or_else(|e| panic!("{e}"));
                let got = fields(&r);
                check(&got, "line", "7");
                $( check(&got, $k, $v); )*
            }
        )*
    };
}

/// `name: format, line => "reason part"` — the line is rejected, and the reason neither
/// contains the marker `s3cr3t` that every such line carries nor the line itself.
macro_rules! error_cases {
    ($( $name:ident : $fmt:expr, $line:expr => $reason:expr ),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let f = $fmt;
                let line: &str = &$line;
                let e = f.parse_line(line, 3).expect_err("line should be rejected");
                assert_eq!(e.line, 3);
                assert_eq!(e.kind, LineErrorKind::Malformed);
                assert!(e.reason.contains($reason), "reason {:?} lacks {:?}", e.reason, $reason);
                assert!(!e.reason.contains("s3cr3t"), "reason leaks line content: {:?}", e.reason);
            }
        )*
    };
}

const T0: &str = "2000-10-10T20:55:36.000000Z";
const COMBINED_LINE: &str = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
const COMMON_LINE: &str =
    r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "POST /openApi/runJob HTTP/1.1" 200 48"#;

line_cases! {
    combined_basic: named("combined"), COMBINED_LINE => {
        "remote_addr": "127.0.0.1", "client_ip": "127.0.0.1", "method": "GET",
        "uri": "/apache_pb.gif", "version": "0", "status": "200", "body_bytes": "2326",
        "req.Referer": "http://www.example.com/start.html",
        "req.User-Agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
        "time": T0, "logged_time": T0, "basis": "unknown", "request_time": NONE, "host": NONE,
    }
    combined_ipv6: named("combined"),
        r#"2001:db8::1 - - [10/Oct/2000:13:55:36 -0700] "POST /openApi/runJob?appId=1 HTTP/1.1" 200 55 "-" "okhttp/4.9.3""# => {
        "remote_addr": "2001:db8::1", "uri": "/openApi/runJob?appId=1", "version": "1",
        "req.Referer": NONE, "req.User-Agent": "okhttp/4.9.3",
    }
    combined_nginx_escaped_quotes: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a?q=\x22x\x22 HTTP/1.1" 200 1 "-" "agent \x22quoted\x22 \x5C""# => {
        "uri": "/a?q=\"x\"", "req.User-Agent": "agent \"quoted\" \\",
    }
    combined_apache_escaped_quotes: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 1 "-" "Mozilla \"X\" y\\""# => {
        "req.User-Agent": "Mozilla \"X\" y\\", "status": "200",
    }
    combined_unescaped_quote_in_user_agent: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 1 "-" "bad"agent""# => {
        "req.User-Agent": "bad\"agent",
    }
    combined_non_ascii_raw: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /文档/ä?名=值 HTTP/1.1" 200 1 "-" "ü""# => {
        "uri": "/文档/ä?名=值", "req.User-Agent": "ü",
    }
    combined_non_ascii_escaped: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /\xE6\x96\x87\xE6\xA1\xA3 HTTP/1.1" 200 1 "-" "-""# => {
        "uri": "/文档", "req.User-Agent": NONE,
    }
    combined_percent_encoded_kept: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a%20b%2Fc?x=%E6%96%87&t=1 HTTP/1.1" 200 1 "-" "-""# => {
        "uri": "/a%20b%2Fc?x=%E6%96%87&t=1",
    }
    combined_10kb_uri: named("combined"),
        format!(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /q?{} HTTP/1.1" 414 0 "-" "-""#, "a".repeat(10_240)) => {
        "uri": &format!("/q?{}", "a".repeat(10_240)), "status": "414", "body_bytes": "0",
    }
    combined_dash_request: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "-" 400 0 "-" "-""# => {
        "method": "", "uri": "", "status": "400", "time": T0,
    }
    combined_binary_junk_request: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-""# => {
        "method": "", "uri": "", "status": "400", "body_bytes": "157",
    }
    combined_extra_trailing_fields: named("combined"),
        format!(r#"{COMBINED_LINE} 0.005 "10.0.0.1" extra"#) => {
        "req.User-Agent": "Mozilla/4.08 [en] (Win98; I ;Nav)", "status": "200",
    }
    combined_space_in_uri: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a b HTTP/1.1" 200 1 "-" "-""# => {
        "uri": "/a b", "method": "GET",
    }
    combined_http09_request: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /" 200 1 "-" "-""# => {
        "method": "GET", "uri": "/", "version": "1",
    }
    combined_hostname_remote: named("combined"),
        r#"client.example.com - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-""# => {
        "remote_addr": NONE, "method": "GET",
    }
    combined_trailing_cr: named("combined"), format!("{COMBINED_LINE}\r") => {
        "req.User-Agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
    }
    common_basic: named("common"), COMMON_LINE => {
        "method": "POST", "uri": "/openApi/runJob", "status": "200", "body_bytes": "48",
        "time": T0, "basis": "unknown",
    }
    nginx_combined_is_end: named("nginx-combined"), COMBINED_LINE => {
        "time": T0, "basis": "end",
    }
    nginx_main_xff: named("nginx-main"),
        format!(r#"{COMBINED_LINE} "203.0.113.9, 10.0.0.1""#) => {
        "req.X-Forwarded-For": "203.0.113.9, 10.0.0.1", "client_ip": "203.0.113.9",
        "remote_addr": "127.0.0.1",
    }
    nginx_request_time_gives_start: nginx(
        r#"$remote_addr:$remote_port [$time_local] "$request" $status $body_bytes_sent $request_time "$http_x_forwarded_for" $sent_http_x_powerjob_auth_passed"#),
        r#"10.0.0.5:51234 [10/Jun/2024:12:00:01 +0800] "POST /openApi/disableJob HTTP/1.1" 200 48 2.250 "203.0.113.9, 10.0.0.1" true"# => {
        "remote_addr": "10.0.0.5", "remote_port": "51234",
        // `$time_local` is whole seconds: only the whole seconds of the duration are
        // subtracted (the end lies in [01, 02), so the start lies in [58.75, 59.75)).
        "time": "2024-06-10T03:59:59.000000Z", "logged_time": "2024-06-10T04:00:01.000000Z",
        "basis": "end-minus-duration", "request_time": "2.250000", "whole_second": "true",
        "resp.X-Powerjob-Auth-Passed": "true", "client_ip": "203.0.113.9",
    }
    nginx_ipv6_with_port: nginx(r#"$remote_addr:$remote_port [$time_local] "$request" $status"#),
        r#"2001:db8::5:51234 [10/Jun/2024:12:00:01 +0800] "GET / HTTP/1.1" 200"# => {
        "remote_addr": "2001:db8::5", "remote_port": "51234",
    }
    nginx_msec_and_iso: nginx(r#"$msec $time_iso8601 "$request" $status"#),
        r#"1718000000.123 2024-06-10T06:13:20+00:00 "GET / HTTP/1.1" 200"# => {
        "time": "2024-06-10T06:13:20.123000Z", "basis": "end",
    }
    // `combined` with `$request_time` and `$msec` appended: the millisecond end time
    // refines the whole-second `$time_local`, so the start is exact to the millisecond.
    nginx_time_local_refined_by_msec: nginx(
        r#"[$time_local] "$request" $status rt=$request_time msec=$msec"#),
        r#"[10/Jun/2024:12:00:01 +0800] "POST /openApi/runJob HTTP/1.1" 200 rt=0.005 msec=1717992001.629"# => {
        "time": "2024-06-10T04:00:01.624000Z", "logged_time": "2024-06-10T04:00:01.000000Z",
        "basis": "end-minus-duration", "whole_second": "false",
    }
    // A finer time of another second does not replace the first: the fields disagree.
    nginx_time_local_kept_when_msec_disagrees: nginx(r#"[$time_local] "$request" $status $msec"#),
        r#"[10/Jun/2024:12:00:01 +0800] "POST /openApi/runJob HTTP/1.1" 200 1717992002.500"# => {
        "time": "2024-06-10T04:00:01.000000Z", "basis": "end",
    }
    nginx_pasted_directive_json_escape: nginx(
        "log_format api escape=json '[$time_local] \"$request\" $status '\n  '\"$http_user_agent\" \"$http_x_powerjob_app_id\" \"$http_authorization\"';"),
        r#"[10/Jun/2024:12:00:01 +0800] "POST /openApi/runJob HTTP/1.1" 200 "ok \"http\" caf\u00e9" "" "Bearer abc""# => {
        "req.User-Agent": "ok \"http\" café", "req.X-Powerjob-App-Id": NONE,
        "req.Authorization": "Bearer abc",
    }
    nginx_uri_is_args_args: nginx(r#"[$time_local] "$request_method $uri$is_args$args $server_protocol" $status $host $upstream_status"#),
        r#"[10/Jun/2024:12:00:01 +0800] "POST /openApi/runJob?appId=1&jobId=2 HTTP/1.0" 200 oms.example.com 502, 200"# => {
        "method": "POST", "uri": "/openApi/runJob?appId=1&jobId=2", "version": "0",
        "host": "oms.example.com", "upstream_status": "502,",
    }
    nginx_uri_without_args: nginx(r#"[$time_local] "$request_method $uri$is_args$args $server_protocol" $status"#),
        r#"[10/Jun/2024:12:00:01 +0800] "GET /x HTTP/1.1" 200"# => {
        "uri": "/x",
    }
    nginx_host_header_fallback: nginx(r#"[$time_local] "$request" $status "$http_host""#),
        r#"[10/Jun/2024:12:00:01 +0800] "GET /x HTTP/1.1" 200 "oms:7700""# => {
        "host": "oms:7700", "req.Host": "oms:7700",
    }
    nginx_unknown_variables_skipped: nginx(r#"$connection $pipe [$time_local] "$request" $status $bytes_sent $foo_bar"#),
        r#"18 . [10/Jun/2024:12:00:01 +0800] "GET /x HTTP/1.1" 200 512 whatever"# => {
        "status": "200", "body_bytes": NONE,
    }
    apache_combined_is_start: named("apache-combined"), COMBINED_LINE => {
        "time": T0, "basis": "start", "req.User-Agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
    }
    apache_d_microseconds: apache(r#"%h %l %u %t \"%r\" %>s %b %D"#),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 - 1500"# => {
        "request_time": "0.001500", "time": T0, "basis": "start", "body_bytes": "0",
    }
    apache_end_time_minus_duration: apache(r#"%{end:%d/%b/%Y:%H:%M:%S %z}t "%r" %>s %{ms}T"#),
        r#"10/Oct/2000:13:55:36 -0700 "GET / HTTP/1.1" 200 2250"# => {
        "time": "2000-10-10T20:55:34.000000Z", "logged_time": T0, "basis": "end-minus-duration",
    }
    apache_msec_frac_split_time: apache(r#"[%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{%z}t] "%r" %>s"#),
        r#"[10/Oct/2000:13:55:36.123 -0700] "GET / HTTP/1.1" 200"# => {
        "time": "2000-10-10T20:55:36.123000Z", "basis": "start", "whole_second": "false",
    }
    apache_epoch_seconds: apache(r#"%{sec}t %a "%r" %s"#),
        r#"971211336 ::1 "GET / HTTP/1.1" 200"# => {
        "time": T0, "remote_addr": "::1",
    }
    apache_vhost_combined: named("apache-vhost-combined"),
        r#"oms.example.com:443 1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 123 "-" "curl/8""# => {
        "host": "oms.example.com", "server_port": "443", "remote_addr": "1.2.3.4",
        "body_bytes": NONE, "req.User-Agent": "curl/8",
    }
    apache_response_header_exact_value: apache(r#"%t "%r" %>s "%{X-POWERJOB-AUTH-PASSED}o" "%{X-POWERJOB-APP-ID}i""#),
        r#"[10/Oct/2000:13:55:36 -0700] "POST /openApi/runJob HTTP/1.1" 200 "True" "12""# => {
        "resp.X-Powerjob-Auth-Passed": "True", "req.X-Powerjob-App-Id": "12",
    }
    apache_pasted_logformat: apache(r#"LogFormat "%h %l %u %t \"%r\" %>s %b" common"#), COMMON_LINE => {
        "status": "200", "basis": "start",
    }
    tomcat_common_is_end: named("tomcat-common"), COMMON_LINE => {
        "time": T0, "basis": "end",
    }
    tomcat10_d_microseconds: tomcat(r#"%h %l %u %t "%r" %s %b %D"#),
        format!("{COMMON_LINE} 2500") => {
        // A whole-second end minus a sub-second duration stays the logged second.
        "time": T0, "request_time": "0.002500", "basis": "end-minus-duration",
    }
    tomcat9_d_milliseconds: spec(r#"tomcat9:%h %l %u %t "%r" %s %b %D"#),
        format!("{COMMON_LINE} 250") => {
        "time": T0, "request_time": "0.250000",
    }
    tomcat_t_fractional_seconds: named("tomcat-common-T"), format!("{COMMON_LINE} 0.015") => {
        "time": T0, "request_time": "0.015000",
    }
    tomcat_begin_msec: tomcat(r#"%{begin:msec}t "%r" %s %D"#),
        r#"971211336250 "GET / HTTP/1.1" 200 9000"# => {
        "time": "2000-10-10T20:55:36.250000Z", "basis": "start", "request_time": "0.009000",
    }
    tomcat_simpledateformat: tomcat(r#"%{yyyy-MM-dd HH:mm:ss.SSS Z}t %a "%r" %s %{X-POWERJOB-APP-ID}i %{ms}T"#),
        r#"2024-06-10 12:00:01.250 +0800 10.1.2.3 "POST /openApi/runJob HTTP/1.1" 200 7 12"# => {
        "time": "2024-06-10T04:00:01.238000Z", "req.X-Powerjob-App-Id": "7", "remote_addr": "10.1.2.3",
    }
    tomcat_unicode_escapes: named("tomcat-combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /\u6587 HTTP/1.1" 200 - "-" "a \"b\"""# => {
        "uri": "/文", "req.User-Agent": "a \"b\"", "body_bytes": "0",
    }
    tomcat_spring_boot_property: spec("tomcat:server.tomcat.accesslog.pattern=%h %l %u %t \"%r\" %s %b %D"),
        format!("{COMMON_LINE} 1000") => {
        "request_time": "0.001000",
    }
    tomcat_server_xml_entities: spec(r#"tomcat:pattern="%h %l %u %t &quot;%r&quot; %s %b""#), COMMON_LINE => {
        "uri": "/openApi/runJob",
    }
    envoy_default: named("envoy"),
        r#"[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2" "locations" "tcp://10.0.2.1:80""# => {
        "time": "2016-04-15T20:17:00.310000Z", "basis": "start", "method": "POST",
        "uri": "/api/v1/locations", "status": "204", "body_bytes": "0", "request_time": "0.226000",
        "req.X-Forwarded-For": "10.0.35.28", "req.User-Agent": "nsq2http", "host": "locations",
        "req.X-Request-Id": "cc21d9b0-cf5c-432b-8c7e-98aeb7988cd2", "version": "1",
        "resp.X-Envoy-Upstream-Service-Time": "100", "client_ip": "10.0.35.28",
    }
    traefik_clf: named("traefik"),
        r#"10.0.0.1 - - [10/Jun/2024:04:00:01 +0000] "POST /openApi/saveJob HTTP/1.1" 200 85 "-" "Java/1.8" 42 "powerjob@docker" "http://172.18.0.3:7700" 3ms"# => {
        "time": "2024-06-10T04:00:01.000000Z", "basis": "start", "request_time": "0.003000",
        "req.User-Agent": "Java/1.8", "uri": "/openApi/saveJob",
    }
    json_nginx: named("json"),
        r#"{"time_iso8601":"2024-06-10T12:00:01+08:00","remote_addr":"10.0.0.5","request":"POST /openApi/runJob HTTP/1.1","status":"200","body_bytes_sent":"48","request_time":"0.250","http_x_forwarded_for":"203.0.113.9","http_user_agent":"okhttp/4","sent_http_x_powerjob_auth_passed":"","http_x_powerjob_app_id":"3"}"# => {
        "time": "2024-06-10T04:00:01.000000Z", "basis": "end-minus-duration", "method": "POST",
        "uri": "/openApi/runJob", "status": "200", "body_bytes": "48", "client_ip": "203.0.113.9",
        "resp.X-Powerjob-Auth-Passed": "", "req.X-Powerjob-App-Id": "3", "req.User-Agent": "okhttp/4",
    }
    // `$msec` beside `$time_iso8601`: the millisecond time wins, whatever the key order.
    json_nginx_msec_beats_iso: named("json"),
        r#"{"time_iso8601":"2024-06-10T12:00:01+08:00","msec":"1717992001.629","request":"POST /openApi/runJob HTTP/1.1","status":"200","request_time":"0.005"}"# => {
        "time": "2024-06-10T04:00:01.624000Z", "basis": "end-minus-duration", "whole_second": "false",
    }
    json_envoy: named("json"),
        r#"{"start_time":"2024-06-10T04:00:00.750Z","method":"POST","path":"/openApi/runJob?x=1","protocol":"HTTP/1.1","response_code":200,"bytes_sent":48,"duration":250,"downstream_remote_address":"10.0.0.5:51234","x_forwarded_for":"203.0.113.9","user_agent":"okhttp","authority":"oms:7700","request_id":"abc","x_envoy_attempt_count":"2"}"# => {
        "time": "2024-06-10T04:00:00.750000Z", "basis": "start", "uri": "/openApi/runJob?x=1",
        "remote_addr": "10.0.0.5", "remote_port": "51234", "host": "oms:7700",
        "request_time": "0.250000", "status": "200", "req.X-Forwarded-For": "203.0.113.9",
        "req.X-Request-Id": "abc", "req.X-Envoy-Attempt-Count": "2",
    }
    json_traefik: named("json"),
        r#"{"StartUTC":"2024-06-10T04:00:00.75Z","Duration":250000000,"RequestMethod":"POST","RequestPath":"/openApi/runJob","RequestProtocol":"HTTP/1.1","DownstreamStatus":200,"OriginStatus":200,"ClientHost":"10.0.0.5","ClientPort":"51234","request_User-Agent":"okhttp","request_X-Forwarded-For":"203.0.113.9","downstream_X-Powerjob-Auth-Passed":"true","DownstreamContentSize":48}"# => {
        "time": "2024-06-10T04:00:00.750000Z", "basis": "start", "request_time": "0.250000",
        "status": "200", "upstream_status": "200", "remote_port": "51234",
        "resp.X-Powerjob-Auth-Passed": "true", "req.User-Agent": "okhttp", "client_ip": "203.0.113.9",
    }
    json_nginx_default_escapes: named("json"),
        r#"{"time_local":"10/Jun/2024:12:00:01 +0800","request":"GET /a?q=\x22\xE6\x96\x87 HTTP/1.1","status":"200"}"# => {
        "uri": "/a?q=\"文", "time": "2024-06-10T04:00:01.000000Z",
    }
    json_custom_mapping: spec("json:time=ts,time_is=end,duration=took,duration_unit=ms,method=verb,uri=target,resp.X-Powerjob-Auth-Passed=auth"),
        r#"{"ts":1718000000.5,"took":500,"verb":"POST","target":"/x","auth":"false"}"# => {
        "time": "2024-06-10T06:13:20.000000Z", "basis": "end-minus-duration", "method": "POST",
        "uri": "/x", "resp.X-Powerjob-Auth-Passed": "false",
    }
    json_epoch_seconds_fraction_exact: named("json"),
        r#"{"ts":1718000000.55,"method":"GET","path":"/"}"# => {
        "time": "2024-06-10T06:13:20.550000Z", "basis": "unknown",
    }
    json_epoch_millis: named("json"),
        r#"{"timestamp":1718000000123,"method":"GET","path":"/"}"# => {
        "time": "2024-06-10T06:13:20.123000Z", "basis": "unknown",
    }
}

error_cases! {
    combined_format_on_common_line: named("combined"), format!("{COMMON_LINE} s3cr3t") => "after $body_bytes_sent",
    combined_missing_everything: named("combined"), "hello s3cr3t world" => "expected",
    combined_bad_time: named("combined"),
        r#"1.2.3.4 - - [99/Foo/2000:13:55:36 -0700] "GET /?s3cr3t HTTP/1.1" 200 1 "-" "-""# => "$time_local: not a CLF time",
    combined_bad_status: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /?s3cr3t HTTP/1.1" abc 1 "-" "-""# => "$status: not a status code",
    combined_unterminated_quote: named("combined"),
        r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /?s3cr3t HTTP/1.1"# => "after $request",
    tomcat_bad_duration: tomcat(r#"%h %l %u %t "%r" %s %b %D"#), format!("{COMMON_LINE} s3cr3t") => "%D: not a duration",
    json_garbage: named("json"), r#"{"token":"s3cr3t""# => "not a JSON object",
    json_not_an_object: named("json"), r#""s3cr3t""# => "not a JSON object",
    json_without_request: named("json"), r#"{"time":"2024-06-10T04:00:00Z","token":"s3cr3t"}"# => "no request fields",
    json_without_time: named("json"), r#"{"method":"GET","path":"/s3cr3t"}"# => "no time value",
}

#[test]
fn format_errors() {
    assert!(matches!(LogFormat::parse_spec("bogus"), Err(FormatError::UnknownName(_))));
    assert!(matches!(LogFormat::nginx("$status $request"), Err(FormatError::NoTime { .. })));
    assert!(matches!(LogFormat::apache("%t %s"), Err(FormatError::NoRequest { .. })));
    assert!(matches!(LogFormat::parse_spec("json:foo=bar"), Err(FormatError::Mapping(_))));
    assert!(matches!(LogFormat::parse_spec("json:time"), Err(FormatError::Mapping(_))));
    assert!(LogFormat::apache("%{%Q}t %r").is_err());
    for name in NAMES {
        assert!(LogFormat::named(name).is_some(), "{name}");
        assert!(LogFormat::parse_spec(name).is_ok(), "{name}");
    }
    let msg = FormatError::UnknownName("x".into()).to_string();
    assert!(msg.contains("nginx-main"), "{msg}");
}

#[test]
fn spec_forms() {
    assert_eq!(spec("nginx:$msec \"$request\""), nginx("$msec \"$request\""));
    assert_eq!(spec("$msec \"$request\""), nginx("$msec \"$request\""));
    assert_eq!(spec(r#"%t "%r""#), apache(r#"%t "%r""#));
    assert_eq!(spec("apache:%t %r"), apache("%t %r"));
    assert_eq!(spec("[%START_TIME%] %REQ(:PATH)%"), LogFormat::envoy("[%START_TIME%] %REQ(:PATH)%").unwrap());
    assert_eq!(spec("tomcat:common"), named("tomcat-common"));
    assert_eq!(spec("COMBINED"), named("combined"));
    assert_eq!(spec("json"), LogFormat::json(None));
    assert!(named("combined").describe().contains("$time_local = start or end"));
    assert!(named("nginx-combined").describe().contains("log write (end)"));
    assert!(tomcat("%t %r %D").describe().contains("%D in Micros"));
    assert!(LogFormat::json(None).describe().starts_with("JSON"));
}

#[test]
fn client_ip_variants() {
    let mut r = LogRecord::empty(1);
    r.remote_addr = "10.0.0.1".parse().ok();
    assert_eq!(r.client_ip(), r.remote_addr);
    r.request_headers.push(("X-Forwarded-For".into(), "unknown, 1.2.3.4".into()));
    assert_eq!(r.client_ip(), r.remote_addr, "unparseable first hop falls back");
    r.request_headers.clear();
    r.request_headers.push(("Forwarded".into(), r#"for="[2001:db8::1]:4711";proto=http"#.into()));
    assert_eq!(r.client_ip(), "2001:db8::1".parse().ok());
    r.request_headers.push(("x-forwarded-for".into(), " [::1]:80 , 2.2.2.2".into()));
    assert_eq!(r.client_ip(), "::1".parse().ok());
    r.uri = "/a/b?x=1&y".into();
    assert_eq!((r.path(), r.query()), ("/a/b", Some("x=1&y")));
    assert_eq!(parse_ip_lenient("fe80::1%eth0"), "fe80::1".parse().ok());
    assert_eq!(canonical_header_name("x_POWERJOB-app_id"), "X-Powerjob-App-Id");
}

// ---------------------------------------------------------------- detection

fn detect(lines: &[&str]) -> Option<&'static str> {
    LogFormat::detect(lines).map(|(_, name)| name)
}

fn combined_lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"10.0.{}.{} - - [10/Oct/2000:13:55:{:02} -0700] "POST /openApi/runJob?i={i} HTTP/1.1" 200 {} "-" "okhttp/4.9""#,
                i / 250,
                i % 250,
                i % 60,
                40 + i
            )
        })
        .collect()
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn detects_combined_and_common() {
    let c = combined_lines(5);
    assert_eq!(detect(&refs(&c)), Some("combined"));
    assert_eq!(detect(&[COMMON_LINE, COMMON_LINE]), Some("common"));
    // A common line among combined ones: only `common` parses all.
    let mut mixed = refs(&c);
    mixed.push(COMMON_LINE);
    assert_eq!(detect(&mixed), Some("common"));
    // nginx's stock `main`.
    let main: Vec<String> = c.iter().map(|l| format!(r#"{l} "203.0.113.9""#)).collect();
    assert_eq!(detect(&refs(&main)), Some("nginx-main"));
    // Blank lines and CRLF are ignored; one truncated line does not defeat detection.
    let mut noisy: Vec<String> = c.iter().map(|l| format!("{l}\r")).collect();
    noisy.insert(0, String::new());
    noisy.insert(1, "00 -0700] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"".to_owned());
    assert_eq!(detect(&refs(&noisy)), Some("combined"));
    let (f, _) = LogFormat::detect(&refs(&c)).unwrap();
    assert_eq!(f.parse_line(&c[0], 1).unwrap().uri, "/openApi/runJob?i=0");
}

#[test]
fn detects_tomcat_default_and_d_unit() {
    let ms: Vec<String> = [12, 3, 45, 150, 7].iter().map(|d| format!("{COMMON_LINE} {d}")).collect();
    assert_eq!(detect(&refs(&ms)), Some("tomcat-common-ms"));
    let us: Vec<String> =
        [1200, 350, 45000, 15000, 700].iter().map(|d| format!("{COMMON_LINE} {d}")).collect();
    let (f, name) = LogFormat::detect(&refs(&us)).unwrap();
    assert_eq!(name, "tomcat-common-us");
    assert_eq!(f.parse_line(&us[0], 1).unwrap().request_time, Some(0.0012));
    let t: Vec<String> = ["0.012", "1.500", "0.003"].iter().map(|d| format!("{COMMON_LINE} {d}")).collect();
    assert_eq!(detect(&refs(&t)), Some("tomcat-common-T"));
}

#[test]
fn detects_envoy_traefik_and_json() {
    let envoy = r#"[2016-04-15T20:17:00.310Z] "POST /api/v1/locations HTTP/2" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0" "locations" "tcp://10.0.2.1:80""#;
    assert_eq!(detect(&[envoy, envoy]), Some("envoy"));
    let traefik = r#"10.0.0.1 - - [10/Jun/2024:04:00:01 +0000] "POST /openApi/saveJob HTTP/1.1" 200 85 "-" "Java/1.8" 42 "powerjob@docker" "http://172.18.0.3:7700" 3ms"#;
    assert_eq!(detect(&[traefik]), Some("traefik"));
    let nginx_json = r#"{"time_iso8601":"2024-06-10T12:00:01+08:00","remote_addr":"10.0.0.5","request":"POST /x HTTP/1.1","status":"200"}"#;
    assert_eq!(detect(&[nginx_json, nginx_json]), Some("nginx-json"));
    let envoy_json = r#"{"start_time":"2024-06-10T04:00:00.750Z","method":"POST","path":"/x","response_code":200,"duration":3}"#;
    assert_eq!(detect(&[envoy_json]), Some("envoy-json"));
    let traefik_json = r#"{"StartUTC":"2024-06-10T04:00:00.75Z","Duration":250,"RequestMethod":"POST","RequestPath":"/x","DownstreamStatus":200}"#;
    assert_eq!(detect(&[traefik_json]), Some("traefik-json"));
    let generic = r#"{"@timestamp":"2024-06-10T04:00:00Z","method":"GET","path":"/"}"#;
    assert_eq!(detect(&[generic]), Some("json"));
}

#[test]
fn detection_gives_up_on_garbage() {
    assert_eq!(detect(&[]), None);
    assert_eq!(detect(&["", "  "]), None);
    assert_eq!(detect(&["hello world", "foo bar"]), None);
    assert_eq!(detect(&[r#"{"a":1}"#, r#"{"b":2}"#]), None);
    assert_eq!(detect(&["Jun 10 12:00:01 host sshd[1]: Accepted publickey"]), None);
}

// ---------------------------------------------------------------- reader

fn read_all(input: &[u8], format: LogFormat, max: usize) -> Vec<Result<LogRecord, LineError>> {
    LogReader::new(Cursor::new(input.to_vec()), format).with_max_line(max).collect()
}

#[test]
fn reader_handles_crlf_blank_lossy_and_long_lines() {
    let mut input = Vec::new();
    input.extend_from_slice(COMBINED_LINE.as_bytes());
    input.extend_from_slice(b"\r\n\r\n   \n");
    // Invalid UTF-8 in the user agent.
    input.extend_from_slice(
        b"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET /x HTTP/1.1\" 200 1 \"-\" \"\xff\xfe\"\n",
    );
    input.extend_from_slice(format!("{}\n", "x".repeat(5000)).as_bytes());
    input.extend_from_slice(b"garbage\n");
    input.extend_from_slice(COMMON_LINE.as_bytes()); // no final newline
    let out = read_all(&input, named("combined"), 4096);
    let lines: Vec<u64> = out.iter().map(|r| r.as_ref().map_or_else(|e| e.line, |r| r.line)).collect();
    assert_eq!(lines, vec![1, 4, 5, 6, 7]);
    let first = out[0].as_ref().unwrap();
    assert_eq!(first.request_header("user-agent"), Some("Mozilla/4.08 [en] (Win98; I ;Nav)"));
    assert_eq!(out[1].as_ref().unwrap().request_header("User-Agent"), Some("\u{fffd}\u{fffd}"));
    let long = out[2].as_ref().unwrap_err();
    assert_eq!(long.kind, LineErrorKind::TooLong);
    assert!(!long.reason.contains("xxx"));
    assert_eq!(out[3].as_ref().unwrap_err().kind, LineErrorKind::Malformed);
    assert_eq!(out[4].as_ref().unwrap_err().line, 7, "common line under combined");
}

#[test]
fn reader_keeps_file_order_for_equal_times() {
    let input: String = (0..50)
        .map(|i| {
            format!(
                "10.0.0.{i} - - [10/Oct/2000:13:55:36 -0700] \"POST /openApi/runJob?i={i} HTTP/1.1\" 200 1 \"-\" \"-\"\n"
            )
        })
        .collect();
    let got: Vec<String> = read_all(input.as_bytes(), named("combined"), DEFAULT_MAX_LINE)
        .into_iter()
        .map(|r| r.unwrap().uri)
        .collect();
    let want: Vec<String> = (0..50).map(|i| format!("/openApi/runJob?i={i}")).collect();
    assert_eq!(got, want);
}

/// Tomcat's `%t` and nginx's `$time_local` are the END to the second; subtracting a
/// millisecond duration from them sorted requests of one second by duration. Sequential
/// calls (P, the auth call, P's retry) written in that order must keep it, and a request of
/// several seconds still moves back by its whole seconds.
#[test]
fn whole_second_end_minus_duration_keeps_log_order() {
    let f = spec(r#"tomcat9:%h %l %u %t "%r" %s %b %D"#);
    let lines = [
        r#"127.0.0.1 - - [26/Nov/2026:03:28:25 +0000] "POST /openApi/saveJob HTTP/1.1" 200 42 5"#,
        r#"127.0.0.1 - - [26/Nov/2026:03:28:25 +0000] "POST /openApi/authApp HTTP/1.1" 200 294 9"#,
        r#"127.0.0.1 - - [26/Nov/2026:03:28:25 +0000] "POST /openApi/saveJob HTTP/1.1" 200 42 1"#,
        r#"127.0.0.1 - - [26/Nov/2026:03:28:27 +0000] "POST /openApi/runJob HTTP/1.1" 200 51 3031"#,
    ];
    let recs: Vec<LogRecord> = lines.iter().zip(1..).map(|(l, n)| f.parse_line(l, n).unwrap()).collect();
    let times: Vec<String> = recs.iter().map(|r| r.time.rfc3339()).collect();
    assert_eq!(
        times,
        [
            "2026-11-26T03:28:25.000000Z",
            "2026-11-26T03:28:25.000000Z",
            "2026-11-26T03:28:25.000000Z",
            "2026-11-26T03:28:24.000000Z",
        ]
    );
    // With a millisecond end the whole duration is subtracted.
    let f = nginx(r#"$msec "$request" $status $request_time"#);
    let r = f.parse_line(r#"1795663705.272 "POST /openApi/runJob HTTP/1.1" 499 2.031"#, 1).unwrap();
    assert_eq!(r.time.rfc3339(), "2026-11-26T03:28:23.241000Z");
}

#[test]
fn sniff_then_read_replays_sample() {
    let mut lines = combined_lines(30);
    lines.insert(3, String::new());
    let input = lines.join("\n") + "\n";
    let sniffed = LogReader::sniff(Cursor::new(input.into_bytes()), 10).unwrap();
    assert_eq!(sniffed.sample().len(), 10);
    let (format, name) = sniffed.detect().unwrap();
    assert_eq!(name, "combined");
    let recs: Vec<LogRecord> = sniffed.into_reader(format).map(Result::unwrap).collect();
    assert_eq!(recs.len(), 30);
    let numbers: Vec<u64> = recs.iter().map(|r| r.line).collect();
    let want: Vec<u64> = (1..=31).filter(|&n| n != 4).collect();
    assert_eq!(numbers, want);
}

/// A reader that fails after its data.
struct Failing(Cursor<Vec<u8>>);
impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated gzip")),
            n => Ok(n),
        }
    }
}

#[test]
fn reader_reports_io_error_once() {
    let data = format!("{COMBINED_LINE}\n{COMBINED_LINE}");
    let r = io::BufReader::with_capacity(16, Failing(Cursor::new(data.into_bytes())));
    let out: Vec<_> = LogReader::new(r, named("combined")).collect();
    assert_eq!(out.len(), 2);
    assert!(out[0].is_ok());
    let e = out[1].as_ref().unwrap_err();
    assert_eq!((e.kind, e.line), (LineErrorKind::Io, 2));
    assert!(!e.reason.contains("gzip"), "only the error kind is reported");
}

// ---------------------------------------------------------------- properties

/// Every built-in format plus custom ones exercising every field kind.
fn all_formats() -> Vec<LogFormat> {
    let mut v: Vec<LogFormat> = NAMES.iter().map(|n| named(n)).collect();
    v.push(nginx(r#"$remote_addr:$remote_port [$time_local] "$request_method $uri$is_args$args $server_protocol" $status $body_bytes_sent $request_time $msec $time_iso8601 "$http_x_forwarded_for" $sent_http_x_a $upstream_status $host $server_addr $server_port"#));
    v.push(apache(r#"%a %{c}a %A %p %{remote}p [%{%d/%b/%Y:%H:%M:%S}t.%{msec_frac}t %{%z}t] %{end:sec}t "%m %U%q %H" %>s %B %D %{ms}T %{X}i %{X}o %v"#));
    v.push(tomcat(r#"%{begin:yyyy-MM-dd HH:mm:ss.SSS Z}t %{end:msec}t %a %A %p "%r" %s %b %D %T %{fracsec}T %{X}i %{X}o %{X}r %u"#));
    v.push(LogFormat::envoy("[%START_TIME(%s.%3f)%] %DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% \"%REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %DURATION%").unwrap());
    v
}

fn sample_lines() -> Vec<String> {
    vec![
        COMBINED_LINE.to_owned(),
        COMMON_LINE.to_owned(),
        r#"[2016-04-15T20:17:00.310Z] "POST /api HTTP/2" 204 - 154 0 226 100 "1.2.3.4" "ua" "id" "host" "up""#.to_owned(),
        r#"{"time_iso8601":"2024-06-10T12:00:01+08:00","request":"POST /x HTTP/1.1","status":200,"request_time":0.25}"#.to_owned(),
        r#"1.2.3.4:80 [10/Jun/2024:12:00:01 +0800] "GET /a?b HTTP/1.1" 200 1 0.5 1718000000.1 2024-06-10T12:00:01+08:00 "x" y - h 1.2.3.4 80"#.to_owned(),
        r#"<134>Dec  2 02:50:12 haproxy[1]: ::1:40000 [02/Dec/2026:02:50:12.345] fe be/s1 0/0/1/12/13 200 345 - - CD-- 1/1/0/0/0 0/0 {ua/1|7} {x} "POST /a HTTP/1.1""#.to_owned(),
        r#"{"ts":1.5,"logger":"http.log.access","request":{"method":"GET","uri":"/","headers":{"A":["b"]}},"status":0,"duration":2}"#.to_owned(),
        r#"10.0.0.5:1 - [10/Jun/2024:12:00:01.123 +0800] "POST /a HTTP/1.1" 200 85 "-" "ua/1" 1200 rt=0.005 conn=3 body="{\"a\":1}""#.to_owned(),
    ]
}

proptest! {
    #[test]
    fn parse_line_never_panics_on_arbitrary_text(line in any::<String>()) {
        for f in all_formats() {
            let _ = f.parse_line(&line, 1);
        }
    }

    #[test]
    fn parse_line_never_panics_on_damaged_lines(
        which in 0usize..8, at in any::<prop::sample::Index>(), cut in 0usize..40,
        insert in "[\\\\\"\\[\\] :x%$0-9a-z{}\u{e9}\u{1F600}-]{0,12}",
    ) {
        let lines = sample_lines();
        let base = &lines[which % lines.len()];
        let chars: Vec<char> = base.chars().collect();
        let i = at.index(chars.len() + 1);
        let j = (i + cut).min(chars.len());
        let damaged: String = chars[..i].iter().chain(insert.chars().collect::<Vec<_>>().iter()).chain(chars[j..].iter()).collect();
        for f in all_formats() {
            let _ = f.parse_line(&damaged, 1);
        }
        let _ = LogFormat::detect(&[&damaged, base]);
    }

    #[test]
    fn reader_never_panics_on_bytes(data in prop::collection::vec(any::<u8>(), 0..600), max in 1usize..200) {
        let n = read_all(&data, named("combined"), max).len();
        prop_assert!(n <= data.len() + 1);
        let _ = read_all(&data, named("json"), max);
    }

    #[test]
    fn format_compilers_never_panic(f in any::<String>()) {
        let _ = LogFormat::nginx(&f);
        let _ = LogFormat::apache(&f);
        let _ = LogFormat::tomcat(&f);
        let _ = LogFormat::envoy(&f);
        let _ = LogFormat::parse_spec(&f);
        let _ = JsonMapping::parse(&f);
    }

    #[test]
    fn combined_round_trip(
        ip in any::<std::net::IpAddr>(),
        secs in 0i64..4_000_000_000,
        offset_quarters in -48i32..=56,
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
        uri in "/[^\\s]{0,40}( [^\\s]{1,8})?",
        http10 in any::<bool>(),
        status in 100u16..600,
        bytes in any::<u64>(),
        referer in any::<String>(),
        agent in any::<String>(),
        apache_escaping in any::<bool>(),
    ) {
        // The record a combined line can carry …
        let mut rec = LogRecord::empty(9);
        rec.time = crate::exchange::Timestamp::from_parts(secs, 0);
        rec.logged_time = rec.time;
        rec.time_basis = TimeBasis::Unknown;
        rec.whole_second = true;
        rec.remote_addr = Some(ip);
        rec.method = method.to_owned();
        rec.uri = uri;
        rec.version = u8::from(!http10);
        rec.status = Some(status);
        rec.body_bytes = Some(bytes);
        for (name, v) in [("Referer", referer), ("User-Agent", agent)] {
            if !v.is_empty() && v != "-" {
                rec.request_headers.push((name.to_owned(), v));
            }
        }
        // … written as nginx or Apache would, in some time zone, reads back the same.
        let line = format_combined(&rec, offset_quarters * 900, apache_escaping);
        let back = named("combined").parse_line(&line, 9).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, rec);
    }

    #[test]
    fn random_formats_never_panic(
        pieces in prop::collection::vec(prop::sample::select(FORMAT_PIECES.to_vec()), 1..12),
        which in 0usize..5,
        damage in "[\\\\\"\\[\\] :x%0-9a-z-]{0,8}",
    ) {
        let fmt: String = pieces.concat();
        let lines = sample_lines();
        let base = &lines[which % lines.len()];
        let damaged = format!("{damage}{base}{damage}");
        for f in [LogFormat::nginx(&fmt), LogFormat::apache(&fmt), LogFormat::tomcat(&fmt), LogFormat::envoy(&fmt)]
            .into_iter()
            .flatten()
        {
            let _ = f.parse_line(base, 1);
            let _ = f.parse_line(&damaged, 2);
            let _ = f.describe();
        }
    }
}

/// Fragments random formats are made of: directives of every dialect and the literals
/// between them.
const FORMAT_PIECES: &[&str] = &[
    " ",
    "\"",
    "[",
    "]",
    ":",
    "-",
    "?",
    "ms",
    "%%",
    "$",
    "{",
    "$remote_addr",
    "$remote_port",
    "$time_local",
    "$time_iso8601",
    "$msec",
    "$request",
    "$request_method",
    "$uri",
    "$is_args",
    "$args",
    "$request_uri",
    "$status",
    "$body_bytes_sent",
    "$request_time",
    "$http_user_agent",
    "$sent_http_x",
    "${host}",
    "$server_protocol",
    "%h",
    "%a",
    "%t",
    "%r",
    "%>s",
    "%s",
    "%b",
    "%D",
    "%T",
    "%{ms}T",
    "%U",
    "%q",
    "%m",
    "%H",
    "%{X}i",
    "%{X}o",
    "%{%d/%b/%Y:%H:%M:%S}t",
    "%{msec_frac}t",
    "%{%z}t",
    "%{end:sec}t",
    "%{begin:msec}t",
    "%{yyyy-MM-dd HH:mm:ss}t",
    "%{remote}p",
    "%START_TIME%",
    "%REQ(:METHOD)%",
    "%REQ(:PATH)%",
    "%PROTOCOL%",
    "%RESPONSE_CODE%",
    "%DURATION%",
    "%DOWNSTREAM_REMOTE_ADDRESS%",
];

/// A record as an nginx/Apache `combined` line, its time shown at UTC offset `offset`
/// seconds.
fn format_combined(r: &LogRecord, offset: i32, apache_escaping: bool) -> String {
    use chrono::{DateTime, FixedOffset};
    let off = FixedOffset::east_opt(offset).expect("offset in range");
    let secs = r.time.0.div_euclid(1_000_000_000);
    let t = DateTime::from_timestamp(secs, 0).expect("time in range").with_timezone(&off);
    let esc = |s: &str| if apache_escaping { escape_apache(s) } else { escape_nginx(s) };
    let hdr = |n: &str| r.request_header(n).map_or_else(|| "-".to_owned(), esc);
    format!(
        r#"{} - - [{}] "{} {} HTTP/1.{}" {} {} "{}" "{}""#,
        r.remote_addr.map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
        t.format("%d/%b/%Y:%H:%M:%S %z"),
        r.method,
        esc(&r.uri),
        r.version,
        r.status.unwrap_or(0),
        r.body_bytes.unwrap_or(0),
        hdr("Referer"),
        hdr("User-Agent"),
    )
}

/// nginx's default escaping: `"`, `\`, control bytes and bytes ≥ 0x7f as `\xHH`.
fn escape_nginx(s: &str) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            out.push_str(&format!("\\x{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Apache's escaping: `\"`, `\\`, control bytes as `\xhh`, UTF-8 kept.
fn escape_apache(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------- throughput

/// `n` realistic combined lines (PowerJob-ish API calls, varied clients and times).
pub(crate) fn generate_combined(n: usize) -> Vec<u8> {
    const PATHS: &[&str] = &[
        "/openApi/runJob?appId=1&jobId=42&instanceParams=%7B%22a%22%3A1%7D",
        "/openApi/fetchInstanceStatus?instanceId=1718000000123&appId=1",
        "/openApi/disableJob",
        "/openApi/authApp",
        "/static/js/app.3f9a1c.js",
        "/api/v1/workflow/instance/list?page=3&size=20&sort=gmtCreate%2Cdesc",
    ];
    const AGENTS: &[&str] = &[
        "okhttp/4.9.3",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        "Apache-HttpClient/4.5.13 (Java/1.8.0_392)",
    ];
    let mut out = Vec::with_capacity(n * 200);
    let base = 1_718_000_000i64;
    for i in 0..n {
        let t = chrono::DateTime::from_timestamp(base + (i / 50) as i64, 0)
            .unwrap_or_default()
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset"));
        let ip = if i % 7 == 0 {
            format!("2001:db8::{:x}", i % 4096)
        } else {
            format!("10.{}.{}.{}", i % 3, (i / 3) % 256, i % 251)
        };
        let line = format!(
            "{ip} - - [{}] \"{} {} HTTP/1.1\" {} {} \"{}\" \"{}\"\n",
            t.format("%d/%b/%Y:%H:%M:%S %z"),
            if i % 3 == 0 { "GET" } else { "POST" },
            PATHS[i % PATHS.len()],
            if i % 10 == 0 { 401 } else { 200 },
            100 + i % 5000,
            if i % 2 == 0 { "-" } else { "http://oms.example.com/#/oms/job" },
            AGENTS[i % AGENTS.len()],
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

#[test]
fn generated_lines_parse() {
    let data = generate_combined(1000);
    let recs: Vec<_> = LogReader::new(Cursor::new(data), named("combined")).collect();
    assert_eq!(recs.len(), 1000);
    assert!(recs.iter().all(Result::is_ok));
}

/// Run: `cargo test --release --lib accesslog::tests::throughput -- --ignored --nocapture`
#[test]
#[ignore = "throughput measurement: run in release mode with --ignored --nocapture"]
fn throughput_combined() {
    let n = 1_000_000;
    let data = generate_combined(n);
    let mb = data.len() as f64 / 1e6;
    for round in 0..3 {
        let start = std::time::Instant::now();
        let mut ok = 0usize;
        let mut check = 0u64;
        for r in LogReader::new(Cursor::new(&data[..]), named("combined")) {
            let r = r.expect("generated lines parse");
            ok += 1;
            check = check.wrapping_add(u64::from(r.status.unwrap_or(0)) + r.uri.len() as u64);
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(ok, n);
        eprintln!(
            "round {round}: LogReader, {n} combined lines ({mb:.1} MB) in {secs:.3} s: {:.2} M lines/s, {:.0} MB/s (check {check})",
            n as f64 / secs / 1e6,
            mb / secs
        );
    }
    // parse_line alone, lines pre-split.
    let text = std::str::from_utf8(&data).unwrap_or("");
    let lines: Vec<&str> = text.lines().collect();
    let f = named("combined");
    let start = std::time::Instant::now();
    let mut ok = 0usize;
    for (i, l) in lines.iter().enumerate() {
        ok += usize::from(f.parse_line(l, i as u64 + 1).is_ok());
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(ok, n);
    eprintln!("parse_line only: {:.2} M lines/s", n as f64 / secs / 1e6);
}
