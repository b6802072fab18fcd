//! Captures taken inside tunnels, end to end: an HTTP exchange carried in VXLAN inside GRE
//! (as a mirrored overlay delivers it) is read as if captured on the inner link, and frames
//! in an encapsulation that is not decoded give one warning per class, with the count.

use std::io::Cursor;

use dupcall::capture::linktype;
use dupcall::capture::pipeline::{self, CaptureSummary, Options};
use dupcall::diag::{Diagnostics, WarningKind};
use dupcall::exchange::{Exchange, Timestamp};
use dupcall::input;
use dupcall_testkit::synth::{Conversation, PcapWriter};
use etherparse::PacketBuilder;

const REQ: &[u8] = b"POST /openApi/runJob HTTP/1.1\r\nHost: pj\r\nContent-Length: 7\r\n\r\njobId=7";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const MAC: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    [&MAC[..], &ethertype.to_be_bytes(), payload].concat()
}

/// The inner IP packet in Ethernet, in VXLAN (VNI 0x1234), in UDP, in GRE (with a key), in
/// the outer IPv4 and Ethernet.
fn vxlan_in_gre(ip: &[u8]) -> Vec<u8> {
    let vxlan = [&[0x08, 0, 0, 0, 0, 0x12, 0x34, 0][..], &eth(0x0800, ip)].concat();
    let mut udp = Vec::new();
    PacketBuilder::ipv4([172, 16, 0, 1], [172, 16, 0, 2], 64)
        .udp(50000, 4789)
        .write(&mut udp, &vxlan)
        .unwrap();
    let gre = [&[0x20, 0x00, 0x08, 0x00, 0, 0, 0, 7][..], &udp].concat();
    let mut outer = Vec::new();
    PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .write(&mut outer, etherparse::IpNumber::GRE, &gre)
        .unwrap();
    eth(0x0800, &outer)
}

fn run(frames: &[Vec<u8>]) -> (Vec<Exchange>, Diagnostics, CaptureSummary) {
    let mut w = PcapWriter::new(Vec::new(), linktype::ETHERNET, false).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.packet(Timestamp(1_700_000_000_000_000_000 + i as i64 * 1_000_000), f, f.len() as u32).unwrap();
    }
    let opened = input::detect("tunnels", Box::new(Cursor::new(w.into_inner()))).unwrap();
    let mut out = Vec::new();
    let mut diag = Diagnostics::default();
    let summary =
        pipeline::capture_exchanges(opened.reader, 0, &Options::default(), &mut diag, &mut |e| out.push(e))
            .unwrap();
    (out, diag, summary)
}

#[test]
fn an_exchange_inside_vxlan_inside_gre() {
    let mut c = Conversation::new("192.168.7.1:40000", "192.168.7.2:7700", 100, 900);
    let mut ips = c.handshake();
    ips.push(c.send(true, REQ));
    ips.push(c.send(false, RESP));
    ips.push(c.fin(true));
    ips.push(c.fin(false));
    let frames: Vec<Vec<u8>> = ips.iter().map(|ip| vxlan_in_gre(ip)).collect();
    let (exs, diag, summary) = run(&frames);
    assert_eq!(exs.len(), 1, "{exs:#?}");
    let e = &exs[0];
    assert_eq!(e.client, "192.168.7.1:40000".parse().unwrap(), "keyed by the inner addresses");
    assert_eq!(e.server, "192.168.7.2:7700".parse().unwrap());
    assert_eq!(e.request.as_ref().unwrap().body.data, b"jobId=7");
    assert_eq!(e.status(), Some(200));
    assert!(e.flags.complete(), "{}", e.flags.describe());
    assert_eq!(e.wire.nth, 1);
    assert_eq!(diag.total(), 0, "{:?}", diag.kept());
    let counts: Vec<(&str, u64)> = summary.encapsulation_counts().collect();
    assert_eq!(counts, vec![("GRE", 7), ("VXLAN", 7)]);
}

#[test]
fn an_undecoded_encapsulation_is_one_warning_with_its_count() {
    let aruba = |i: u8| {
        let gre = [&[0x00, 0x00, 0x82, 0x00][..], &[i; 30]].concat();
        let mut outer = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .write(&mut outer, etherparse::IpNumber::GRE, &gre)
            .unwrap();
        eth(0x0800, &outer)
    };
    let mut frames: Vec<Vec<u8>> = (0..3).map(aruba).collect();
    frames.push(eth(0x88e5, &[0; 40])); // MACsec
    let (exs, diag, summary) = run(&frames);
    assert!(exs.is_empty());
    assert_eq!(summary.undecoded, 4);
    assert_eq!(diag.count_of(WarningKind::DecodeError), 4, "counted per packet");
    let said: Vec<&str> = diag.kept().iter().map(|w| w.detail.as_str()).collect();
    assert_eq!(
        said,
        vec![
            "3 packets with EtherType 0x8200 (Aruba) inside GRE not decoded; they are skipped",
            "1 packet with EtherType 0x88e5 (MACsec, encrypted) not decoded; it is skipped",
        ],
        "one warning per class"
    );
}

/// Cuts an IPv4 packet (20-byte header) into two fragments at payload offset `at` (8-aligned).
fn fragment_v4(ip: &[u8], at: usize) -> [Vec<u8>; 2] {
    let (head, payload) = ip.split_at(20);
    let piece = |range: std::ops::Range<usize>, more: bool| {
        let mut h = head.to_vec();
        h[2..4].copy_from_slice(&((20 + range.len()) as u16).to_be_bytes());
        let flags = ((range.start / 8) as u16) | if more { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&flags.to_be_bytes());
        [&h[..], &payload[range]].concat()
    };
    [piece(0..at, true), piece(at..payload.len(), false)]
}

#[test]
fn a_fragmented_tunnel_packet_is_reassembled_before_its_inner_packet_is_read() {
    let mut c = Conversation::new("192.168.7.1:40000", "192.168.7.2:7700", 100, 900);
    let mut ips = c.handshake();
    ips.push(c.send(true, REQ));
    ips.push(c.send(false, RESP));
    let mut frames = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        let frame = vxlan_in_gre(ip);
        if i == 3 {
            // The request's outer packet arrives as two fragments, the second first.
            let [a, b] = fragment_v4(&frame[14..], 48);
            frames.push(eth(0x0800, &b));
            frames.push(eth(0x0800, &a));
        } else {
            frames.push(frame);
        }
    }
    let (exs, diag, _) = run(&frames);
    assert_eq!(exs.len(), 1, "{exs:#?} {:?}", diag.kept());
    assert_eq!(exs[0].request.as_ref().unwrap().body.data, b"jobId=7");
    assert!(exs[0].flags.complete(), "{}", exs[0].flags.describe());
    assert_eq!(diag.count_of(WarningKind::IpFragment), 0, "{:?}", diag.kept());
}
