//! Regression tests for bugs found by the fault matrix (tests/fault_matrix.rs) and the
//! fuzzers (fuzz/), each named after what went wrong. See docs/robustness.md.

use crate::common;
use std::io::Write;

use dupcall::capture::linktype;
use dupcall::capture::pipeline::{self, Options};
use dupcall::diag::{Diagnostics, WarningKind};
use dupcall::exchange::{Exchange, Flags, Timestamp};
use dupcall_testkit::synth::{self, Conversation, PcapWriter};

fn pcap(packets: &[Vec<u8>]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), linktype::ETHERNET, false).unwrap();
    for (i, p) in packets.iter().enumerate() {
        let f = synth::frame(linktype::ETHERNET, p, &[]);
        w.packet(Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_000), &f, f.len() as u32).unwrap();
    }
    w.into_inner()
}

fn run(bytes: &[u8]) -> (Vec<Exchange>, Diagnostics) {
    let mut out = Vec::new();
    let mut diag = Diagnostics::default();
    pipeline::capture_exchanges(bytes, 0, &Options::default(), &mut diag, &mut |e| out.push(e)).unwrap();
    (out, diag)
}

fn analyze(bytes: &[u8], args: &[&str]) -> Vec<common::Row> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.pcap");
    std::fs::write(&p, bytes).unwrap();
    let mut all = vec!["analyze", p.to_str().unwrap(), "-q", "--fingerprint-key", "k"];
    all.extend_from_slice(args);
    let o = common::dupcall(&all);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    common::rows(&o.stdout)
}

/// Fault matrix, "dropped segment in headers": the middle of a request head was lost. The
/// server's response acknowledges the whole request, but reassembly delivered the response
/// before declaring the request's gap, so the response found no request waiting, became a
/// response without request, and every later response was paired with the wrong request
/// (confident wrong outcomes). The gap a segment's ACK reveals is now declared before the
/// segment's own bytes.
#[test]
fn request_head_lost_in_a_gap_does_not_shift_the_pairing() {
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut p = c.handshake();
    let r1 = b"POST /a HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaa\r\nContent-Length: 2\r\n\r\nok";
    p.push(c.send(true, &r1[..30])); // the request line and Host
    c.advance(true, 10); // lost
    p.push(c.send(true, &r1[40..]));
    p.push(c.send(false, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"));
    p.push(c.send(true, b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    p.push(c.send(false, b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"));
    let (exs, diag) = run(&pcap(&p));
    assert_eq!(diag.count_of(WarningKind::ResponseWithoutRequest), 0, "{:?}", diag.kept());
    let b = exs.iter().find(|e| e.request.as_ref().is_some_and(|r| r.head.uri() == "/b")).unwrap();
    assert_eq!(b.status(), Some(202), "the second request got the first response");
    let a: Vec<&Exchange> = exs.iter().filter(|e| e.status() == Some(201)).collect();
    assert_eq!(a.len(), 1);
    assert!(a[0].request.is_some(), "the first response lost its (damaged) request");
    assert!(!a[0].flags.complete());
}

/// Fault matrix, "dropped segment in a body": a mutation's request body was lost, so its
/// call key lacked the body; the identical call sent next found no earlier call with its
/// key and was labelled `original`, confirmed — a wrong confident label. Now the damaged
/// call is `original` only as far as can be told (inferred), and the next one is
/// `ambiguous`, naming it.
#[test]
fn a_request_body_lost_in_a_gap_makes_the_next_identical_call_ambiguous() {
    let body = b"orderId=42&amount=100";
    let head = format!("POST /api/orders HTTP/1.1\r\nHost: shop\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut p = c.handshake();
    p.push(c.send(true, head.as_bytes()));
    c.advance(true, body.len() as u32); // the body segment was lost
    p.push(c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    p.push(c.send(true, &[head.as_bytes(), body].concat()));
    p.push(c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    let rows = analyze(&pcap(&p), &["--profile", "generic"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["label"], "original");
    assert_eq!(rows[0]["confidence"], "inferred", "{}", rows[0]["evidence"]);
    assert_eq!(rows[1]["label"], "ambiguous", "{}", rows[1]["evidence"]);
    assert_eq!(rows[1]["repeat_of"], "1");
    assert_eq!(rows[1]["confidence"], "inferred");
}

/// Fault matrix, "dropped segment in a body" at the end of a connection: the response body
/// was never captured, the exchange was marked truncated, but nothing was said.
#[test]
fn a_body_cut_by_the_end_of_the_connection_is_a_warning() {
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut p = c.handshake();
    p.push(c.send(true, b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    p.push(c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"));
    c.advance(false, 10); // lost
    p.push(c.rst(true));
    let (exs, diag) = run(&pcap(&p));
    assert_eq!(exs.len(), 1);
    assert!(exs[0].flags.has(Flags::RESPONSE_TRUNCATED));
    assert!(diag.count_of(WarningKind::TcpGap) >= 1, "{:?}", diag.kept());
}

/// Fault matrix, "first packets removed": a connection picked up in the middle of a message
/// skipped the rest of that message silently.
#[test]
fn a_connection_picked_up_mid_message_is_a_warning() {
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let _ = c.handshake();
    let _ = c.send(true, b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n");
    let p = vec![
        c.send(true, b"0123456789"),
        c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        c.send(true, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"),
        c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ];
    let (exs, diag) = run(&pcap(&p));
    assert!(exs.iter().any(|e| e.request.as_ref().is_some_and(|r| r.head.uri() == "/b")));
    assert!(
        diag.kept().iter().any(|w| w.kind == WarningKind::TcpGap && w.detail.contains("mid-stream")),
        "{:?}",
        diag.kept()
    );
}

/// Fault matrix, "gzip bomb": a response body decoding to 32 MiB was inspected up to the
/// decoding cap without a word, and a body over --body-cap was only counted.
#[test]
fn a_gzip_bomb_and_a_body_over_the_cap_are_warnings() {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b"{\"success\":true}").unwrap();
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..32 {
        e.write_all(&spaces).unwrap();
    }
    let gz = e.finish().unwrap();
    assert!(gz.len() < 64 << 10, "the bomb stays small: {}", gz.len());
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut p = c.handshake();
    p.push(c.send(true, b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    let head = format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", gz.len());
    let msg = [head.as_bytes(), &gz].concat();
    for part in msg.chunks(16_000) {
        p.push(c.send(false, part));
    }
    let big = vec![b'x'; 100_000];
    let head = format!("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", big.len());
    let msg = [head.as_bytes(), &big].concat();
    for part in msg.chunks(16_000) {
        p.push(c.send(true, part));
    }
    p.push(c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    let (exs, diag) = run(&pcap(&p));
    assert_eq!(exs.len(), 2);
    let bomb: Vec<_> = diag.kept().iter().filter(|w| w.kind == WarningKind::DecompressionLimit).collect();
    assert_eq!(bomb.len(), 1, "{:?}", diag.kept());
    assert!(bomb[0].detail.contains("decompression bomb"), "{}", bomb[0].detail);
    let cap: Vec<_> = diag.kept().iter().filter(|w| w.kind == WarningKind::BodyCap).collect();
    assert_eq!(cap.len(), 1, "{:?}", diag.kept());
    assert!(cap[0].detail.contains("--body-cap"), "{}", cap[0].detail);
}

/// `dupcall exchanges` keeps no bodies (body cap 0): every body was reported as over the
/// cap. A cap of 0 means "keep none", not a limit reached.
#[test]
fn no_body_cap_warning_when_no_bodies_are_kept() {
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut p = c.handshake();
    p.push(c.send(true, b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
    p.push(c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    let mut opts = Options::default();
    opts.http.body_cap = 0;
    let mut diag = Diagnostics::default();
    let mut n = 0;
    pipeline::capture_exchanges(&pcap(&p)[..], 0, &opts, &mut diag, &mut |_| n += 1).unwrap();
    assert_eq!(n, 1);
    assert_eq!(diag.count_of(WarningKind::BodyCap), 0, "{:?}", diag.kept());
}
