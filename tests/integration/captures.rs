//! End-to-end capture tests on synthetic captures built with etherparse's PacketBuilder:
//! every link type and container variant, and the TCP edge cases, through the whole
//! pipeline (bytes → exchanges).

use std::io::Cursor;

use dupcall::capture::linktype;
use dupcall::capture::pipeline::{self, Options};
use dupcall::diag::{Diagnostics, WarningKind};
use dupcall::exchange::{Exchange, Flags, Timestamp};
use dupcall::input;
use dupcall_testkit::synth::{Conversation, PcapNgWriter, PcapWriter, frame};

const REQ: &[u8] = b"POST /openApi/runJob HTTP/1.1\r\nHost: pj\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 15\r\n\r\njobId=7&appId=1";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n{\"success\":true,\"data\":99,\"m\":null}";

fn run(bytes: Vec<u8>) -> (Vec<Exchange>, Diagnostics) {
    let opened = input::detect("test", Box::new(Cursor::new(bytes))).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    let mut diag = Diagnostics::default();
    pipeline::capture_exchanges(opened.reader, 0, &Options::default(), &mut diag, &mut |e| out.push(e))
        .unwrap_or_else(|e| panic!("{e}"));
    (out, diag)
}

/// Packets of one complete exchange with handshake and close.
fn exchange_packets(c: &mut Conversation) -> Vec<Vec<u8>> {
    let mut p = c.handshake();
    p.push(c.send(true, REQ));
    p.push(c.send(false, RESP));
    p.push(c.fin(true));
    p.push(c.fin(false));
    p
}

fn pcap(link: u32, nanos: bool, packets: &[Vec<u8>], vlans: &[u16]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), link, nanos).unwrap();
    for (i, p) in packets.iter().enumerate() {
        let f = frame(link, p, vlans);
        w.packet(Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_123), &f, f.len() as u32).unwrap();
    }
    w.into_inner()
}

fn assert_one_good_exchange(exs: &[Exchange], what: &str) {
    assert_eq!(exs.len(), 1, "{what}: {exs:#?}");
    let e = &exs[0];
    let req = e.request.as_ref().unwrap();
    assert_eq!(req.head.method(), "POST", "{what}");
    assert_eq!(req.head.uri(), "/openApi/runJob", "{what}");
    assert_eq!(req.body.data, b"jobId=7&appId=1", "{what}");
    assert_eq!(e.status(), Some(200), "{what}");
    assert!(e.flags.complete(), "{what}: {}", e.flags.describe());
    assert_eq!(e.server.port(), 7700, "{what}");
}

#[test]
fn every_link_type_ipv4_and_ipv6() {
    for link in [
        linktype::ETHERNET,
        linktype::NULL,
        linktype::LOOP,
        linktype::RAW,
        linktype::LINUX_SLL,
        linktype::LINUX_SLL2,
        linktype::NFLOG,
    ] {
        for (client, server) in [("10.1.1.1:50000", "10.2.2.2:7700"), ("[fd00::1]:50000", "[fd00::2]:7700")] {
            let mut c = Conversation::new(client, server, 1000, 9000);
            let (exs, diag) = run(pcap(link, false, &exchange_packets(&mut c), &[]));
            assert_one_good_exchange(&exs, &format!("link {link} {client}"));
            assert_eq!(diag.total(), 0, "link {link}: {:?}", diag.kept());
        }
    }
}

#[test]
fn vlan_tags_single_double_triple() {
    for vlans in [&[5u16][..], &[5, 6], &[5, 6, 7]] {
        let mut c = Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", 1, 1);
        let (exs, _) = run(pcap(linktype::ETHERNET, false, &exchange_packets(&mut c), vlans));
        assert_one_good_exchange(&exs, &format!("vlans {vlans:?}"));
    }
}

#[test]
fn nanosecond_pcap_keeps_nanoseconds() {
    let mut c = Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", 1, 1);
    let (exs, _) = run(pcap(linktype::RAW, true, &exchange_packets(&mut c), &[]));
    assert_one_good_exchange(&exs, "ns pcap");
    // Packet 3 (the request) was written at base + 3 * 1_000_123 ns.
    assert_eq!(exs[0].request.as_ref().unwrap().ts, Timestamp(1_700_000_000_000_000_000 + 3 * 1_000_123));
}

#[test]
fn pcapng_with_two_interfaces_of_different_link_types_and_resolutions() {
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let eth = w.interface(linktype::ETHERNET, 6).unwrap();
    let sll = w.interface(linktype::LINUX_SLL, 9).unwrap();
    let mut a = Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", 1, 1);
    let mut b = Conversation::new("10.1.1.3:50001", "10.2.2.2:7700", 1, 1);
    let (pa, pb) = (exchange_packets(&mut a), exchange_packets(&mut b));
    let base = 1_700_000_000_000_000_000i64;
    for i in 0..pa.len() {
        w.packet(eth, Timestamp(base + i as i64 * 2_000_000_000), &frame(linktype::ETHERNET, &pa[i], &[]), 0)
            .unwrap();
        let ts = Timestamp(base + i as i64 * 2_000_000_000 + 1_000_000_007);
        w.packet(sll, ts, &frame(linktype::LINUX_SLL, &pb[i], &[]), 0).unwrap();
    }
    let (exs, diag) = run(w.into_inner());
    assert_eq!(exs.len(), 2, "{:?}", diag.kept());
    for e in &exs {
        assert!(e.flags.complete());
        assert_eq!(e.status(), Some(200));
    }
    // Request order: interface 0's request (packet 3 at base+6 s) first, then interface 1's.
    assert_eq!(exs[0].client.port(), 50000);
    assert_eq!(exs[1].request.as_ref().unwrap().ts, Timestamp(base + 3 * 2_000_000_000 + 1_000_000_007));
}

#[test]
fn gzip_compressed_capture() {
    use std::io::Write;
    let mut c = Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", 1, 1);
    let raw = pcap(linktype::ETHERNET, false, &exchange_packets(&mut c), &[]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    let (exs, _) = run(gz.finish().unwrap());
    assert_one_good_exchange(&exs, "gzip");
}

#[test]
fn truncated_last_record_keeps_every_complete_exchange() {
    let mut c = Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", 1, 1);
    let mut packets = exchange_packets(&mut c);
    // A second exchange whose response is cut by the end of the file.
    packets.truncate(packets.len() - 2);
    packets.push(c.send(true, REQ));
    packets.push(c.send(false, RESP));
    let mut bytes = pcap(linktype::ETHERNET, false, &packets, &[]);
    bytes.truncate(bytes.len() - 20);
    let (exs, diag) = run(bytes);
    assert_eq!(exs.len(), 2);
    assert!(exs[0].flags.complete());
    assert!(exs[1].response.is_none() && exs[1].flags.has(Flags::NO_RESPONSE));
    assert_eq!(diag.count_of(WarningKind::TruncatedFile), 1);
}

#[test]
fn out_of_order_retransmitted_and_overlapping_segments() {
    let mut c = Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", u32::MAX - 40, 7);
    let mut p = c.handshake();
    let (first, rest) = REQ.split_at(50);
    let a = c.send(true, first);
    let b = c.send(true, rest); // crosses the sequence wrap
    p.push(b.clone());
    p.push(a.clone());
    p.push(a);
    p.push(b);
    let (r1, r2) = RESP.split_at(30);
    let x = c.send(false, r1);
    let y = c.send(false, r2);
    p.push(y);
    p.push(x);
    let (exs, diag) = run(pcap(linktype::ETHERNET, false, &p, &[]));
    assert_one_good_exchange(&exs, "reordered");
    assert_eq!(diag.total(), 0, "{:?}", diag.kept());
}

#[test]
fn lost_segment_in_a_response_body_and_snaplen_cut() {
    let mut c = Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", 1, 1);
    let mut p = c.handshake();
    p.push(c.send(true, REQ));
    let (r1, r2) = RESP.split_at(RESP.len() - 10);
    p.push(c.send(false, r1));
    c.advance(false, 10); // lost
    p.push(c.send(true, REQ));
    p.push(c.send(false, RESP));
    let mut w = PcapWriter::new(Vec::new(), linktype::RAW, false).unwrap();
    for (i, pk) in p.iter().enumerate() {
        w.packet(Timestamp(i as i64 * 1000), pk, 0).unwrap();
    }
    // A third request cut by the snapshot length after 60 bytes of payload.
    let cut = c.send(true, REQ);
    let keep = cut.len() - (REQ.len() - 60);
    w.packet(Timestamp(99_000), &cut[..keep], cut.len() as u32).unwrap();
    let _ = r2;
    let (exs, diag) = run(w.into_inner());
    assert_eq!(exs.len(), 3, "{exs:#?}");
    assert!(exs[0].flags.has(Flags::RESPONSE_GAP), "{}", exs[0].flags.describe());
    assert_eq!(exs[0].response.as_ref().unwrap().body.missing, 10);
    assert!(exs[1].flags.complete(), "the exchange after the gap survives");
    assert_eq!(exs[2].request.as_ref().unwrap().head.uri(), "/openApi/runJob");
    assert!(exs[2].flags.has(Flags::REQUEST_TRUNCATED));
    assert_eq!(diag.count_of(WarningKind::SnaplenCut), 1);
    assert_eq!(diag.count_of(WarningKind::TcpGap), 1);
}

#[test]
fn mid_stream_start_yields_later_exchanges() {
    let mut c = Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", 1, 1);
    // The capture starts halfway through a response body.
    let p = vec![c.send(false, &RESP[40..]), c.send(true, REQ), c.send(false, RESP)];
    let (exs, _) = run(pcap(linktype::ETHERNET, false, &p, &[]));
    assert_one_good_exchange(&exs, "mid-stream");
}

#[test]
fn reset_and_port_reuse() {
    let mut c = Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", 1, 1);
    let mut p = c.handshake();
    p.push(c.send(true, REQ));
    p.push(c.rst(false));
    // Same ports, new connection.
    let mut d = Conversation::new("10.1.1.1:50000", "10.2.2.2:7700", 500_000, 800_000);
    p.extend(exchange_packets(&mut d));
    let (exs, _) = run(pcap(linktype::ETHERNET, false, &p, &[]));
    assert_eq!(exs.len(), 2);
    assert!(exs[0].flags.has(Flags::NO_RESPONSE) && exs[0].flags.has(Flags::RESET));
    assert_ne!(exs[0].conn, exs[1].conn);
    assert!(exs[1].flags.complete());
}
