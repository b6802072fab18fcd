//! Resource limits, scaled down: each hostile case of docs/robustness.md (half-open
//! connections, a huge declared Content-Length, an endless chunked body, too many headers,
//! a huge request line, pipelined requests without responses, out-of-order floods, idle
//! connections) built small with `dupcall_testkit::synth`, run through the binary with small
//! limits. Each must finish without a panic, exit 0, and warn naming the limit's flag.
//! The full-size versions are measured by scripts/measure-hostile.sh.

use crate::common;
use std::path::Path;

use dupcall::capture::decode::TcpFlags;
use dupcall::capture::linktype;
use dupcall::exchange::Timestamp;
use dupcall_testkit::synth::{self, Conversation, PcapWriter};

fn pcap(packets: &[Vec<u8>], step_ns: i64) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), linktype::ETHERNET, false).unwrap();
    for (i, p) in packets.iter().enumerate() {
        let f = synth::frame(linktype::ETHERNET, p, &[]);
        w.packet(Timestamp(1_700_000_000_000_000_000 + i as i64 * step_ns), &f, f.len() as u32).unwrap();
    }
    w.into_inner()
}

/// Sends `data` from one side in segments of at most 16 000 bytes.
fn send_all(c: &mut Conversation, from_client: bool, data: &[u8], out: &mut Vec<Vec<u8>>) {
    for part in data.chunks(16_000) {
        out.push(c.send(from_client, part));
    }
}

/// Runs `dupcall CMD FILE ARGS -v` on `bytes`; returns stderr after checking the exit code.
fn run(dir: &Path, name: &str, bytes: &[u8], cmd: &str, args: &[&str]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let p = path.to_str().unwrap();
    let mut all = vec![cmd, p, "-o", "/dev/null"];
    if cmd == "analyze" {
        all.push("-v");
    }
    all.extend_from_slice(args);
    let out = common::dupcall(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    assert_eq!(out.status.code(), Some(0), "{name}: {stderr}");
    stderr
}

fn assert_warns(stderr: &str, kind: &str, flag: &str, name: &str) {
    let hit = stderr.lines().any(|l| l.contains(&format!("warning [{kind}]")) && l.contains(flag));
    assert!(hit, "{name}: no [{kind}] warning naming {flag}:\n{}", &stderr[..stderr.len().min(4000)]);
}

#[test]
fn half_open_connections_hit_max_conns() {
    let dir = tempfile::tempdir().unwrap();
    let mut packets = Vec::new();
    for i in 0..3000u32 {
        let client = format!("10.{}.{}.{}:{}", 1 + i / 65536, (i / 256) % 256, i % 256, 1024 + i % 50000);
        let mut c = Conversation::new(&client, "10.9.9.9:80", i.wrapping_mul(7919), 1);
        packets.push(c.handshake().swap_remove(0));
    }
    let bytes = pcap(&packets, 1_000);
    let err = run(dir.path(), "syn.pcap", &bytes, "analyze", &["--max-conns", "100"]);
    assert_warns(&err, "connection-limit", "--max-conns", "half-open");
    run(dir.path(), "syn.pcap", &bytes, "exchanges", &[]);
}

#[test]
fn huge_declared_content_length_hits_body_cap() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut packets = c.handshake();
    packets.push(c.send(true, b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2147483648\r\n\r\n"));
    send_all(&mut c, true, &vec![b'A'; 300_000], &mut packets);
    let bytes = pcap(&packets, 1_000);
    let err = run(dir.path(), "cl.pcap", &bytes, "analyze", &["--body-cap", "4096"]);
    assert_warns(&err, "body-cap", "--body-cap", "content-length");
    assert_warns(&err, "tcp-gap", "declared length", "content-length");
}

#[test]
fn endless_chunked_body_hits_body_cap() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut packets = c.handshake();
    packets.push(c.send(true, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"));
    packets.push(c.send(false, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
    let chunk: Vec<u8> = [&b"400\r\n"[..], &[b'x'; 0x400][..], b"\r\n"].concat();
    send_all(&mut c, false, &chunk.repeat(300), &mut packets);
    let bytes = pcap(&packets, 1_000);
    let err = run(dir.path(), "chunked.pcap", &bytes, "analyze", &["--body-cap", "4096"]);
    assert_warns(&err, "body-cap", "--body-cap", "chunked");
}

#[test]
fn too_many_headers_hit_max_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut packets = c.handshake();
    let mut head = b"POST /openApi/runJob HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..10_000 {
        head.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    head.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    send_all(&mut c, true, &head, &mut packets);
    packets.push(c.send(false, b"HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n"));
    let bytes = pcap(&packets, 1_000);
    let err = run(dir.path(), "headers.pcap", &bytes, "analyze", &["--max-head", "16384"]);
    assert_warns(&err, "buffer-limit", "--max-head", "many headers");
}

#[test]
fn huge_request_line_hits_max_head() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut packets = c.handshake();
    let mut line = b"GET /".to_vec();
    line.resize(1_000_000, b'a');
    line.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    send_all(&mut c, true, &line, &mut packets);
    packets.push(c.send(false, b"HTTP/1.1 414 URI Too Long\r\nContent-Length: 0\r\n\r\n"));
    // The next request on the connection is still found.
    packets.push(c.send(true, b"POST /openApi/runJob HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    packets.push(c.send(false, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    let bytes = pcap(&packets, 1_000);
    let err = run(dir.path(), "line.pcap", &bytes, "analyze", &[]);
    assert_warns(&err, "buffer-limit", "--max-head", "request line");
    let path = dir.path().join("line.pcap");
    let out = common::dupcall(&["exchanges", path.to_str().unwrap()]);
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(csv.contains("/openApi/runJob"), "the request after the long line is lost:\n{csv}");
}

#[test]
fn pipelined_requests_without_responses_hit_max_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut packets = c.handshake();
    let req = b"POST /openApi/runJob HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\njobId=1";
    send_all(&mut c, true, &req.repeat(3000), &mut packets);
    let bytes = pcap(&packets, 1_000);
    let err = run(dir.path(), "pipe.pcap", &bytes, "analyze", &["--max-pipeline", "64"]);
    assert_warns(&err, "buffer-limit", "--max-pipeline", "pipelined");
}

#[test]
fn out_of_order_floods_hit_max_buffer_and_max_buffer_total() {
    let dir = tempfile::tempdir().unwrap();
    // Each connection: a request whose first segment is missing, then 100 KB after the hole.
    let mut packets = Vec::new();
    for k in 0..20u32 {
        let mut c = Conversation::new(&format!("10.0.0.1:{}", 40000 + k), "10.0.0.2:80", 1, 1);
        packets.extend(c.handshake());
        c.advance(true, 100); // the lost segment
        send_all(&mut c, true, &vec![b'z'; 100_000], &mut packets);
    }
    let bytes = pcap(&packets, 1_000);
    let err = run(dir.path(), "ooo.pcap", &bytes, "analyze", &["--max-buffer", "65536"]);
    assert_warns(&err, "buffer-limit", "--max-buffer", "per direction");
    let err = run(
        dir.path(),
        "ooo.pcap",
        &bytes,
        "analyze",
        &["--max-buffer", "1000000", "--max-buffer-total", "300000"],
    );
    assert_warns(&err, "buffer-limit", "--max-buffer-total", "total");
}

#[test]
fn idle_connections_name_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Conversation::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut packets = a.handshake();
    packets.push(a.send(true, b"POST /openApi/runJob HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    // Another connection keeps the capture going for a minute of capture time.
    for k in 0..70u32 {
        let mut b = Conversation::new(&format!("10.0.0.3:{}", 30000 + k), "10.0.0.2:80", 1, 1);
        packets.push(ip_syn(&mut b));
    }
    let bytes = pcap(&packets, 1_000_000_000);
    let err = run(dir.path(), "idle.pcap", &bytes, "analyze", &["--idle-timeout", "10s"]);
    assert_warns(&err, "request-without-response", "--idle-timeout", "idle");
}

fn ip_syn(c: &mut Conversation) -> Vec<u8> {
    synth::ip_packet(&c.seg(true, TcpFlags { syn: true, ..TcpFlags::default() }, b""))
}
