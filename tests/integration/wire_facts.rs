//! The connection facts of each exchange (`Exchange::wire`) on crafted captures: who closed
//! the connection, when, with FIN or RST, the request's position on its connection, a capture
//! that ended first — and that the gap flags mean a real hole, never a missing response.
//! The same facts on real loopback traffic are in `wire_live`.

use std::io::Cursor;

use dupcall::capture::linktype;
use dupcall::capture::pipeline::{self, Options};
use dupcall::diag::{Diagnostics, WarningKind};
use dupcall::exchange::{Close, Exchange, Flags, Timestamp, Wire};
use dupcall::input;
use dupcall_testkit::synth::{Conversation, PcapWriter, frame};

const REQ: &[u8] = b"POST /openApi/runJob HTTP/1.1\r\nHost: pj\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 15\r\n\r\njobId=7&appId=1";
const RESP_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n";
const RESP_BODY: &[u8] = b"{\"success\":true,\"data\":99,\"m\":null}";
const T0: i64 = 1_700_000_000_000_000_000;

fn resp() -> Vec<u8> {
    [RESP_HEAD, RESP_BODY].concat()
}

/// Capture time `ms` milliseconds after T0.
fn at(ms: f64) -> Timestamp {
    Timestamp(T0 + (ms * 1e6) as i64)
}

/// Runs `(time in ms, IP packet)` pairs as an Ethernet pcap through the capture pipeline.
fn run(packets: &[(f64, Vec<u8>)]) -> Vec<Exchange> {
    run_warned(packets).0
}

/// [`run`], with the warnings.
fn run_warned(packets: &[(f64, Vec<u8>)]) -> (Vec<Exchange>, Diagnostics) {
    let mut w = PcapWriter::new(Vec::new(), linktype::ETHERNET, true).unwrap();
    for (ms, p) in packets {
        let f = frame(linktype::ETHERNET, p, &[]);
        w.packet(at(*ms), &f, f.len() as u32).unwrap();
    }
    let opened = input::detect("wire", Box::new(Cursor::new(w.into_inner()))).unwrap();
    let mut out = Vec::new();
    let mut diag = Diagnostics::default();
    pipeline::capture_exchanges(opened.reader, 0, &Options::default(), &mut diag, &mut |e| out.push(e))
        .unwrap();
    (out, diag)
}

fn conv() -> Conversation {
    Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", 1000, 9000)
}

/// The handshake at 0.0, 0.1 and 0.2 ms.
fn open(c: &mut Conversation) -> Vec<(f64, Vec<u8>)> {
    c.handshake().into_iter().enumerate().map(|(i, p)| (i as f64 * 0.1, p)).collect()
}

const GAP_BITS: u16 = Flags::REQUEST_GAP | Flags::RESPONSE_GAP | Flags::PAIRING_UNCERTAIN;

fn fin(ms: f64) -> Option<Close> {
    Some(Close { at: at(ms), rst: false })
}

fn rst(ms: f64) -> Option<Close> {
    Some(Close { at: at(ms), rst: true })
}

#[test]
fn client_gives_up_then_the_late_response_head_and_a_client_rst() {
    // OkHttp's timeout: P, 2.0 s of silence, the client's FIN; the server's 200 head comes
    // 1.0 s later, the client answers with RST. No hole anywhere in the streams.
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    p.push((2001.0, c.fin(true)));
    p.push((3001.0, c.send(false, RESP_HEAD)));
    p.push((3001.1, c.rst(true)));
    let (exs, diag) = run_warned(&p);
    assert_eq!(diag.count_of(WarningKind::TcpGap), 0, "no gap warning either: {:?}", diag.kept());
    assert_eq!(
        diag.count_of(WarningKind::RequestWithoutResponse),
        1,
        "the cut body is named: {:?}",
        diag.kept()
    );
    assert_eq!(exs.len(), 1, "{exs:#?}");
    let e = &exs[0];
    assert_eq!(e.request.as_ref().unwrap().head.uri(), "/openApi/runJob");
    assert_eq!(e.status(), Some(200), "the late response is paired with P and kept");
    assert_eq!(e.response.as_ref().unwrap().ts, at(3001.0));
    assert_eq!(e.flags.0 & GAP_BITS, 0, "no gap: {}", e.flags.describe());
    assert!(e.flags.has(Flags::RESPONSE_TRUNCATED), "{}", e.flags.describe());
    assert!(!e.flags.has(Flags::NO_RESPONSE));
    assert_eq!(
        e.wire,
        Wire {
            nth: 1,
            client_closed: fin(2001.0),
            server_closed: None,
            capture_ended: false,
            tls: None,
            ..Wire::default()
        }
    );
}

#[test]
fn client_gives_up_and_the_late_response_arrives_in_full() {
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    p.push((2001.0, c.fin(true)));
    p.push((2500.0, c.send(false, &resp())));
    p.push((2500.1, c.rst(true)));
    let exs = run(&p);
    assert_eq!(exs.len(), 1, "{exs:#?}");
    let e = &exs[0];
    assert!(e.flags.complete(), "{}", e.flags.describe());
    assert_eq!(e.response.as_ref().unwrap().body.data, RESP_BODY);
    assert_eq!(
        e.wire,
        Wire {
            nth: 1,
            client_closed: fin(2001.0),
            server_closed: None,
            capture_ended: false,
            tls: None,
            ..Wire::default()
        }
    );
}

#[test]
fn client_rst_while_the_response_body_is_arriving() {
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    p.push((5.0, c.send(false, RESP_HEAD)));
    p.push((6.0, c.rst(true)));
    let e = &run(&p)[0];
    assert_eq!(
        e.wire,
        Wire {
            nth: 1,
            client_closed: rst(6.0),
            server_closed: None,
            capture_ended: false,
            tls: None,
            ..Wire::default()
        }
    );
    assert!(e.flags.has(Flags::RESPONSE_TRUNCATED));
    assert_eq!(e.flags.0 & GAP_BITS, 0, "{}", e.flags.describe());
}

#[test]
fn server_fin_without_answer_on_a_reused_keep_alive_connection() {
    // The stale-connection case behind OkHttp's retryOnConnectionFailure: the first call is
    // answered, the second is written and the server closes without a response.
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    p.push((3.0, c.send(false, &resp())));
    p.push((500.0, c.send(true, REQ)));
    p.push((500.4, c.fin(false)));
    p.push((500.6, c.fin(true)));
    let exs = run(&p);
    assert_eq!(exs.len(), 2, "{exs:#?}");
    assert!(exs[0].flags.complete());
    assert_eq!(exs[0].wire, Wire { nth: 1, ..Wire::default() }, "answered: nobody dropped it");
    let e = &exs[1];
    assert_eq!(e.flags, Flags(Flags::NO_RESPONSE), "{}", e.flags.describe());
    assert_eq!(
        e.wire,
        Wire {
            nth: 2,
            client_closed: fin(500.6),
            server_closed: fin(500.4),
            capture_ended: false,
            tls: None,
            ..Wire::default()
        }
    );
}

#[test]
fn a_request_written_after_the_server_closed_is_dropped_by_that_close() {
    // The server's FIN came first (an idle timeout on its side), the client had not read it
    // yet and wrote the request; the server's kernel answers with RST.
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    p.push((3.0, c.send(false, &resp())));
    p.push((60_000.0, c.fin(false)));
    p.push((60_000.5, c.send(true, REQ)));
    p.push((60_000.6, c.rst(false)));
    let exs = run(&p);
    assert_eq!(exs.len(), 2, "{exs:#?}");
    let e = &exs[1];
    assert_eq!(
        e.wire,
        Wire {
            nth: 2,
            client_closed: None,
            server_closed: fin(60_000.0),
            capture_ended: false,
            tls: None,
            ..Wire::default()
        }
    );
    assert_eq!(e.flags, Flags(Flags::NO_RESPONSE | Flags::RESET), "{}", e.flags.describe());
}

#[test]
fn server_answers_then_closes_is_not_a_drop() {
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    p.push((3.0, c.send(false, &[&b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"[..], RESP_BODY].concat())));
    p.push((3.1, c.fin(false)));
    p.push((3.2, c.fin(true)));
    let e = &run(&p)[0];
    assert!(e.flags.complete(), "a close-delimited body ends at the FIN: {}", e.flags.describe());
    assert_eq!(e.response.as_ref().unwrap().body.data, RESP_BODY);
    assert_eq!(e.wire, Wire { nth: 1, ..Wire::default() });
}

#[test]
fn server_rst_without_answer() {
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    p.push((2.5, c.rst(false)));
    let exs = run(&p);
    assert_eq!(exs.len(), 1);
    let e = &exs[0];
    assert_eq!(e.flags, Flags(Flags::NO_RESPONSE | Flags::RESET), "{}", e.flags.describe());
    assert_eq!(
        e.wire,
        Wire {
            nth: 1,
            client_closed: None,
            server_closed: rst(2.5),
            capture_ended: false,
            tls: None,
            ..Wire::default()
        }
    );
}

#[test]
fn capture_cut_before_the_answer() {
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    let e = &run(&p)[0];
    assert_eq!(e.flags, Flags(Flags::NO_RESPONSE), "no gap for a missing response: {}", e.flags.describe());
    assert_eq!(
        e.wire,
        Wire {
            nth: 1,
            client_closed: None,
            server_closed: None,
            capture_ended: true,
            tls: None,
            ..Wire::default()
        }
    );
}

#[test]
fn picked_up_mid_connection_the_position_is_unknown() {
    let mut c = conv();
    let p = vec![(1.0, c.send(true, REQ)), (2.0, c.send(false, &resp()))];
    let e = &run(&p)[0];
    assert!(e.flags.complete());
    assert_eq!(e.wire.nth, 0, "without the handshake earlier requests may have gone unseen");
}

#[test]
fn a_real_hole_in_the_response_stream_is_a_gap() {
    // The first response was never captured; the client's next request acknowledges it.
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    c.advance(false, resp().len() as u32);
    p.push((10.0, c.send(true, REQ)));
    p.push((12.0, c.send(false, &resp())));
    let exs = run(&p);
    assert_eq!(exs.len(), 2, "{exs:#?}");
    assert_eq!(exs[0].flags, Flags(Flags::NO_RESPONSE | Flags::RESPONSE_GAP), "{}", exs[0].flags.describe());
    assert!(exs[1].flags.complete(), "{}", exs[1].flags.describe());
    assert_eq!(exs[1].wire.nth, 2);
    assert!(!exs[0].wire.capture_ended, "its response was lost in the hole, not after the capture");
}

#[test]
fn a_hole_in_the_request_stream_makes_later_positions_unknown() {
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    p.push((2.0, c.send(false, &resp())));
    c.advance(true, REQ.len() as u32); // the second request was never captured
    p.push((4.0, c.send(false, &resp())));
    p.push((6.0, c.send(true, REQ)));
    p.push((7.0, c.send(false, &resp())));
    let exs = run(&p);
    assert_eq!(exs.len(), 3, "{exs:#?}");
    assert_eq!(exs[0].wire.nth, 1);
    assert!(exs[1].flags.has(Flags::NO_REQUEST), "{}", exs[1].flags.describe());
    assert!(exs[2].flags.complete(), "{}", exs[2].flags.describe());
    assert_eq!(exs[2].wire.nth, 0, "a request may have been lost in the hole: position unknown");
}

#[test]
fn an_unparsable_response_is_not_called_a_gap() {
    // The first response is garbage (no hole in the stream): its exchange has no response
    // and says the response could not be parsed, not that bytes were lost.
    let mut c = conv();
    let mut p = open(&mut c);
    p.push((1.0, c.send(true, REQ)));
    p.push((2.0, c.send(false, b"XYZZY this is not HTTP\r\n\r\n")));
    p.push((3.0, c.send(true, REQ)));
    p.push((4.0, c.send(false, &resp())));
    let exs = run(&p);
    assert_eq!(exs.len(), 2, "{exs:#?}");
    assert_eq!(exs[0].flags, Flags(Flags::NO_RESPONSE | Flags::RESPONSE_UNPARSED), "{exs:#?}");
    assert!(exs[1].flags.complete(), "{}", exs[1].flags.describe());
}

#[test]
fn wire_facts_serialize() {
    let w = Wire {
        nth: 2,
        client_closed: fin(1.0),
        server_closed: None,
        capture_ended: false,
        tls: None,
        ..Wire::default()
    };
    let j = serde_json::to_value(w).unwrap();
    assert_eq!(j["nth"], 2);
    assert_eq!(j["client_closed"]["rst"], false);
    assert_eq!(j["client_closed"]["at"], "2023-11-14T22:13:20.001000Z");
    assert!(j["server_closed"].is_null());
}

#[test]
fn a_request_line_cut_by_the_snapshot_length_is_still_an_exchange() {
    // tcpdump -s 96: the request line (a long target) is cut; the response fits.
    let target = format!("/openApi/runJob?instanceId=12&{}", "x=1&".repeat(40));
    let req = format!("POST {target} HTTP/1.1\r\nHost: pj\r\nContent-Length: 0\r\n\r\n");
    let mut c = conv();
    let mut frames: Vec<(f64, Vec<u8>, usize)> =
        open(&mut c).into_iter().map(|(t, p)| (t, p, usize::MAX)).collect();
    frames.push((1.0, c.send(true, req.as_bytes()), 96));
    frames.push((2.0, c.send(false, &resp()), usize::MAX));
    let mut w = PcapWriter::new(Vec::new(), linktype::ETHERNET, true).unwrap();
    for (ms, p, snap) in &frames {
        let f = frame(linktype::ETHERNET, p, &[]);
        w.packet(at(*ms), &f[..f.len().min(*snap)], f.len() as u32).unwrap();
    }
    let opened = input::detect("snaplen", Box::new(Cursor::new(w.into_inner()))).unwrap();
    let mut exs = Vec::new();
    let mut diag = Diagnostics::default();
    pipeline::capture_exchanges(opened.reader, 0, &Options::default(), &mut diag, &mut |e| exs.push(e))
        .unwrap();
    assert_eq!(exs.len(), 1, "{exs:#?}");
    let e = &exs[0];
    let head = &e.request.as_ref().unwrap().head;
    assert_eq!(head.method(), "POST");
    assert!(head.uri().starts_with("/openApi/runJob?instanceId=12"), "{}", head.uri());
    assert!(target.starts_with(head.uri()) && head.uri().len() < target.len(), "only what was captured");
    assert!(
        e.flags.has(Flags::REQUEST_GAP) && e.flags.has(Flags::REQUEST_TRUNCATED),
        "{}",
        e.flags.describe()
    );
    assert_eq!(e.status(), Some(200));
    assert!(diag.count_of(WarningKind::SnaplenCut) >= 1, "{:?}", diag.kept());
}
