//! Throughput of the access-log reader on generated `combined` lines, in lines per second.
//!
//! Run `cargo bench --bench accesslog` with this stanza in Cargo.toml:
//!
//! ```toml
//! [[bench]]
//! name = "accesslog"
//! harness = false
//! ```
//!
//! `ACCESSLOG_BENCH_LINES` sets the line count (default 1 000 000). Without the stanza
//! cargo builds this file as a libtest bench and only the small smoke test runs.

use std::io::Cursor;
use std::time::Instant;

use dupcall::accesslog::{LogFormat, LogReader};

/// `n` combined lines shaped like PowerJob OpenAPI traffic behind nginx.
fn generate(n: usize) -> Vec<u8> {
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
    for i in 0..n {
        let secs = i / 50;
        let ip = if i % 7 == 0 {
            format!("2001:db8::{:x}", i % 4096)
        } else {
            format!("10.{}.{}.{}", i % 3, (i / 3) % 256, i % 251)
        };
        let line = format!(
            "{ip} - - [{:02}/Jun/2024:{:02}:{:02}:{:02} +0800] \"{} {} HTTP/1.1\" {} {} \"{}\" \"{}\"\n",
            10 + secs / 86_400 % 18,
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
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

/// Best lines/s over `rounds` passes of `LogReader` over `n` in-memory lines.
fn measure(n: usize, rounds: usize) -> f64 {
    let data = generate(n);
    let format = LogFormat::named("combined").expect("built-in format");
    let mut best = 0.0f64;
    for round in 0..rounds {
        let start = Instant::now();
        let mut ok = 0usize;
        let mut check = 0u64;
        for rec in LogReader::new(Cursor::new(&data[..]), format.clone()).flatten() {
            ok += 1;
            check = check.wrapping_add(u64::from(rec.status.unwrap_or(0)) + rec.uri.len() as u64);
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(ok, n, "every generated line parses");
        let rate = n as f64 / secs;
        best = best.max(rate);
        if rounds > 1 {
            println!(
                "round {round}: {n} lines, {:.1} MB in {secs:.3} s = {:.2} M lines/s, {:.0} MB/s (check {check})",
                data.len() as f64 / 1e6,
                rate / 1e6,
                data.len() as f64 / 1e6 / secs
            );
        }
    }
    best
}

// With `harness = false` this is the entry point; without the stanza libtest supplies its
// own `main` (and runs `smoke`), leaving this one unused. Cargo sets `cfg(test)` for bench
// targets either way, so it cannot tell the two apart.
#[allow(dead_code)]
fn main() {
    let n = std::env::var("ACCESSLOG_BENCH_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let best = measure(n, 5);
    println!("accesslog combined: best {:.2} M lines/s", best / 1e6);
}

#[test]
fn smoke() {
    assert!(measure(10_000, 1) > 0.0);
}
