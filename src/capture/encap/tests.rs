//! Encapsulation tests: inner TCP/IP packets built with etherparse's PacketBuilder, wrapped
//! in hand-written tunnel headers, nested two deep; and every undecoded class named.

use super::*;
use crate::capture::decode::{Decoded, TcpSegment, decode_path};
use crate::capture::{Frame, linktype};
use crate::exchange::Timestamp;
use etherparse::PacketBuilder;

const MAC: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];

/// An inner IPv4/TCP packet 192.168.7.1:40000 → 192.168.7.2:80.
fn tcp_v4(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4([192, 168, 7, 1], [192, 168, 7, 2], 64).tcp(40000, 80, 1000, 512).ack(7);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

fn tcp_v6(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 64).tcp(40001, 8080, 1, 1);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    [&MAC[..], &ethertype.to_be_bytes(), payload].concat()
}

/// An outer IPv4 packet 10.0.0.1 → 10.0.0.2 with IP protocol `proto`.
fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64);
    let mut out = Vec::new();
    b.write(&mut out, etherparse::IpNumber(proto), payload).unwrap();
    out
}

fn udp(dst: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(54321, dst);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

fn vxlan(frame: &[u8]) -> Vec<u8> {
    [&[0x08, 0, 0, 0, 0, 0x12, 0x34, 0][..], frame].concat()
}

/// GRE with checksum, key and sequence number present.
fn gre(proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0xb0, 0x00];
    h.extend_from_slice(&proto.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 9]);
    [&h[..], payload].concat()
}

fn mpls(labels: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        let bottom = u32::from(i + 1 == labels.len());
        out.extend_from_slice(&((l << 12) | (bottom << 8) | 64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// A VLAN tag's 4 bytes after its TPID: the id, then the next EtherType.
fn tag(id: u16, next: u16) -> Vec<u8> {
    [id.to_be_bytes(), next.to_be_bytes()].concat()
}

/// Decodes an Ethernet frame (kept for the test's lifetime: the segment borrows it).
fn run(data: &[u8]) -> (Decoded<'static>, Path) {
    let data: &'static [u8] = Box::leak(data.to_vec().into_boxed_slice());
    let mut path = Path::default();
    let frame =
        Frame { number: 1, ts: Timestamp(0), linktype: linktype::ETHERNET, origlen: data.len() as u32, data };
    (decode_path(&frame, &mut path), path)
}

fn expect_inner_tcp(d: Decoded<'_>) -> TcpSegment<'_> {
    match d {
        Decoded::Tcp(s) => {
            assert_eq!(s.src, "192.168.7.1:40000".parse().unwrap(), "keyed by the inner addresses");
            assert_eq!(s.dst, "192.168.7.2:80".parse().unwrap());
            s
        }
        other => panic!("expected the inner TCP segment, got {other:?}"),
    }
}

const HI: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

#[test]
fn vxlan_inside_gre() {
    let inner = eth(0x0800, &tcp_v4(HI));
    let outer_inner = udp(VXLAN_PORT, &vxlan(&inner));
    let frame = eth(0x0800, &ipv4(47, &gre(0x0800, &outer_inner)));
    let (d, path) = run(&frame);
    assert_eq!(expect_inner_tcp(d).payload, HI);
    assert!(path.has(Layer::Gre) && path.has(Layer::Vxlan), "{path:?}");
    assert!(!path.has(Layer::Mpls));
}

#[test]
fn qinq_inside_mpls_inside_qinq() {
    // Ethernet, QinQ, MPLS (two labels), pseudowire control word, Ethernet, QinQ, IPv4.
    let inner = eth(0x88a8, &[tag(10, 0x8100), tag(20, 0x0800), tcp_v4(HI)].concat());
    let pw = [&[0u8, 0, 0, 0][..], &inner].concat();
    let frame = eth(0x88a8, &[tag(5, 0x8100), tag(6, 0x8847), mpls(&[16, 17], &pw)].concat());
    let (d, path) = run(&frame);
    assert_eq!(expect_inner_tcp(d).payload, HI);
    assert!(path.has(Layer::Vlan) && path.has(Layer::Mpls), "{path:?}");
}

#[test]
fn mpls_payload_by_first_nibble() {
    let (d, _) = run(&eth(0x8847, &mpls(&[100], &tcp_v4(HI))));
    assert_eq!(expect_inner_tcp(d).payload, HI);
    let (d, _) = run(&eth(0x8847, &mpls(&[100, 200, 300], &tcp_v6(HI))));
    assert!(matches!(d, Decoded::Tcp(s) if s.dst.port() == 8080 && s.payload == HI));
    let (d, _) = run(&eth(0x8847, &mpls(&[100], &[0x50, 1, 2, 3])));
    assert!(matches!(d, Decoded::Undecoded(Undecoded::MplsPayload(5))), "{d:?}");
}

#[test]
fn pppoe_session() {
    let ppp = [&[0x11, 0x00, 0x12, 0x34, 0, 0][..], &0x0021u16.to_be_bytes(), &tcp_v4(HI)].concat();
    let (d, path) = run(&eth(0x8864, &ppp));
    assert_eq!(expect_inner_tcp(d).payload, HI);
    assert!(path.has(Layer::Pppoe));
    let lcp = [&[0x11, 0x00, 0x12, 0x34, 0, 0][..], &0xc021u16.to_be_bytes(), &[1, 2, 3, 4]].concat();
    assert!(matches!(run(&eth(0x8864, &lcp)).0, Decoded::Other));
}

#[test]
fn gre_transparent_ethernet_bridging_and_erspan() {
    let inner = eth(0x8100, &[tag(9, 0x0800), tcp_v4(HI)].concat());
    // TEB: an Ethernet frame straight after the GRE header.
    let (d, path) = run(&eth(0x0800, &ipv4(47, &gre(0x6558, &inner))));
    assert_eq!(expect_inner_tcp(d).payload, HI);
    assert!(path.has(Layer::Gre) && path.has(Layer::Vlan));
    // ERSPAN type II: GRE with a sequence number, an 8-byte ERSPAN header.
    let ii = [&[0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1][..], &[0x10, 0, 0, 1, 0, 0, 0, 0], &inner].concat();
    let (d, path) = run(&eth(0x0800, &ipv4(47, &ii)));
    assert_eq!(expect_inner_tcp(d).payload, HI);
    assert!(path.has(Layer::Erspan));
    // ERSPAN type I: no sequence number, no ERSPAN header.
    let i = [&[0x00, 0x00, 0x88, 0xbe][..], &inner].concat();
    assert_eq!(expect_inner_tcp(run(&eth(0x0800, &ipv4(47, &i))).0).payload, HI);
    // ERSPAN type III with the optional platform subheader (O flag).
    let mut iii_hdr = vec![0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x01];
    iii_hdr.extend_from_slice(&[0; 8]);
    let iii = [&[0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 1][..], &iii_hdr, &inner].concat();
    assert_eq!(expect_inner_tcp(run(&eth(0x0800, &ipv4(47, &iii))).0).payload, HI);
}

#[test]
fn geneve_with_options_and_ip_in_ip() {
    // Geneve: one 4-byte option word, protocol TEB.
    let g = [&[0x01, 0x00, 0x65, 0x58, 0, 0, 0x42, 0][..], &[0, 1, 2, 0], &eth(0x0800, &tcp_v4(HI))].concat();
    let (d, path) = run(&eth(0x0800, &udp(GENEVE_PORT, &g)));
    assert_eq!(expect_inner_tcp(d).payload, HI);
    assert!(path.has(Layer::Geneve));
    // IPv4 in IPv4, and IPv6 in IPv4.
    let (d, path) = run(&eth(0x0800, &ipv4(4, &tcp_v4(HI))));
    assert_eq!(expect_inner_tcp(d).payload, HI);
    assert!(path.has(Layer::IpInIp));
    assert!(matches!(run(&eth(0x0800, &ipv4(41, &tcp_v6(HI)))).0, Decoded::Tcp(s) if s.src.is_ipv6()));
}

#[test]
fn llc_snap() {
    let len = (8 + tcp_v4(HI).len()) as u16;
    let snap = [&[0xaa, 0xaa, 0x03, 0, 0, 0][..], &0x0800u16.to_be_bytes(), &tcp_v4(HI)].concat();
    let (d, path) = run(&[&MAC[..], &len.to_be_bytes(), &snap].concat());
    assert_eq!(expect_inner_tcp(d).payload, HI);
    assert!(path.has(Layer::LlcSnap));
    // Spanning tree (LLC without SNAP) carries no TCP.
    assert!(matches!(run(&[&MAC[..], &[0, 38, 0x42, 0x42, 0x03, 0, 0]].concat()).0, Decoded::Other));
}

#[test]
fn undecoded_classes_are_named() {
    let cases: Vec<(Vec<u8>, Undecoded, &str)> = vec![
        (eth(0x88e5, &[0; 40]), Undecoded::EtherType(0x88e5), "EtherType 0x88e5 (MACsec, encrypted)"),
        (eth(0x0800, &ipv4(50, &[0; 40])), Undecoded::IpProtocol(50), "IP protocol 50 (ESP, encrypted)"),
        (
            eth(0x0800, &ipv4(47, &gre(0x8200, &[0; 20]))),
            Undecoded::EtherType(0x8200),
            "EtherType 0x8200 (Aruba)",
        ),
        (
            eth(0x0800, &ipv4(47, &[0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0])),
            Undecoded::GreVersion(1),
            "GRE version 1 (PPTP)",
        ),
    ];
    for (frame, class, words) in cases {
        let (d, _) = run(&frame);
        assert!(matches!(d, Decoded::Undecoded(u) if u == class), "{d:?}");
        assert_eq!(class.to_string(), words);
    }
    // Plain UDP, ICMP and ARP are not TCP, not undecoded.
    assert!(matches!(run(&eth(0x0800, &udp(53, b"dns"))).0, Decoded::Other));
    assert!(matches!(run(&eth(0x0800, &ipv4(1, &[8, 0, 0, 0]))).0, Decoded::Other));
    assert!(matches!(run(&eth(0x0806, &[0; 28])).0, Decoded::Other));
}

#[test]
fn nesting_is_capped_and_short_headers_are_malformed() {
    let mut p = tcp_v4(HI);
    for _ in 0..MAX_DEPTH + 1 {
        p = ipv4(4, &p);
    }
    assert!(matches!(run(&eth(0x0800, &p)).0, Decoded::Undecoded(Undecoded::TooDeep)));
    let mut p = tcp_v4(HI);
    for _ in 0..MAX_DEPTH - 1 {
        p = ipv4(4, &p);
    }
    assert!(matches!(run(&eth(0x0800, &p)).0, Decoded::Tcp(_)), "within the cap");
    for bad in [
        eth(0x8847, &[0, 0, 0]),
        eth(0x8100, &[0]),
        eth(0x8864, &[0x11, 0]),
        eth(0x0800, &udp(VXLAN_PORT, &[8, 0])),
    ] {
        assert!(matches!(run(&bad).0, Decoded::Malformed(_)), "{bad:?}");
    }
}
