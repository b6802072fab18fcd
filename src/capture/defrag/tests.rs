//! Fragment reassembly tests: datagrams cut into fragments given in any order, overlaps
//! (RFC 5722), conflicting ends, timeouts, the memory caps, IPv6.

use super::*;
use crate::capture::decode::{Decoded, decode};
use crate::capture::{Frame, linktype};
use etherparse::PacketBuilder;

fn tcp_payload(data: &[u8]) -> Vec<u8> {
    // The TCP header and data of an IPv4 packet: the datagram's payload.
    let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(40000, 80, 5, 6).ack(1);
    let mut out = Vec::new();
    b.write(&mut out, data).unwrap();
    out[20..].to_vec()
}

fn frag<'a>(id: u32, offset: usize, more: bool, payload: &'a [u8]) -> Fragment<'a> {
    Fragment {
        src: "10.0.0.1".parse().unwrap(),
        dst: "10.0.0.2".parse().unwrap(),
        id,
        proto: 6,
        offset,
        more,
        payload,
    }
}

/// A raw-IP frame of `data`.
fn raw(data: &[u8]) -> Frame<'_> {
    Frame { number: 1, ts: Timestamp(0), linktype: linktype::RAW, origlen: data.len() as u32, data }
}

fn add(d: &mut Defrag, f: &Fragment<'_>, diag: &mut Diagnostics) -> Option<Vec<u8>> {
    d.add(f, Timestamp(0), 1, 0, diag)
}

#[test]
fn fragments_in_any_order_make_the_datagram() {
    let body = b"POST /openApi/runJob HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    let p = tcp_payload(body);
    let (a, b, c) = (&p[..16], &p[16..40], &p[40..]);
    let mut d = Defrag::default();
    let mut diag = Diagnostics::default();
    assert!(add(&mut d, &frag(7, 40, false, c), &mut diag).is_none());
    assert!(add(&mut d, &frag(7, 0, true, a), &mut diag).is_none());
    let whole = add(&mut d, &frag(7, 16, true, b), &mut diag).expect("complete");
    let f = raw(&whole);
    match decode(&f) {
        Decoded::Tcp(s) => {
            assert_eq!(s.payload, body);
            assert_eq!(s.dst.port(), 80);
            assert_eq!(s.missing, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.stats(), DefragStats { fragments: 3, datagrams: 1, dropped: 0 });
    assert_eq!(diag.total(), 0);
}

#[test]
fn overlapping_fragments_drop_the_datagram() {
    let p = tcp_payload(&[b'x'; 64]);
    let mut d = Defrag::default();
    let mut diag = Diagnostics::default();
    assert!(add(&mut d, &frag(1, 0, true, &p[..48]), &mut diag).is_none());
    assert!(add(&mut d, &frag(1, 40, false, &p[40..]), &mut diag).is_none(), "overlap at 40..48");
    assert_eq!(diag.count_of(WarningKind::IpFragment), 1);
    assert!(diag.kept()[0].detail.contains("RFC 5722"), "{:?}", diag.kept());
    // A later fragment of the dropped datagram starts a new one, which never completes.
    assert!(add(&mut d, &frag(1, 48, false, &p[48..]), &mut diag).is_none());
    d.finish(0, &mut diag);
    assert_eq!(d.stats().dropped, 2);
}

#[test]
fn conflicting_ends_and_oversize_are_dropped() {
    let p = [0u8; 64];
    let mut d = Defrag::default();
    let mut diag = Diagnostics::default();
    add(&mut d, &frag(2, 0, true, &p[..16]), &mut diag);
    add(&mut d, &frag(2, 32, false, &p[..8]), &mut diag);
    add(&mut d, &frag(2, 16, false, &p[..8]), &mut diag);
    assert_eq!(d.stats().dropped, 1, "two different last fragments");
    add(&mut d, &frag(3, 65_530, false, &p[..8]), &mut diag);
    assert_eq!(d.stats().dropped, 2, "past 65 535 bytes");
}

#[test]
fn memory_is_bounded_and_old_datagrams_time_out() {
    let p = [0u8; 16];
    let mut d = Defrag::default();
    let mut diag = Diagnostics::default();
    for id in 0..(MAX_DATAGRAMS as u32 + 10) {
        d.add(&frag(id, 0, true, &p), Timestamp(id as i64), 1, 0, &mut diag);
        assert!(d.pending.len() <= MAX_DATAGRAMS);
    }
    assert_eq!(d.stats().dropped, 10, "the oldest make room");
    // Past the timeout, silent datagrams go first when room is needed.
    let late = Timestamp(TIMEOUT_NS * 2);
    d.add(&frag(999_999, 0, true, &p), late, 2, 0, &mut diag);
    assert_eq!(d.pending.len(), 1, "all the silent ones expired");
    assert!(d.held <= MAX_HELD);
}

#[test]
fn ipv6_fragments_through_decode() {
    // An IPv6 TCP packet, its payload cut in two fragments with Fragment headers.
    let b = PacketBuilder::ipv6([0xfd; 16], [0xfe; 16], 64).tcp(1234, 8080, 1, 1);
    let mut full = Vec::new();
    b.write(&mut full, b"GET /v6 HTTP/1.1\r\n\r\n").unwrap();
    let payload = &full[40..];
    let mut d = Defrag::default();
    let mut diag = Diagnostics::default();
    let mut out = None;
    for (off, chunk, more) in [(16usize, &payload[16..], false), (0, &payload[..16], true)] {
        let mut pkt = full[..40].to_vec();
        pkt[6] = 44; // next header: Fragment
        let len = (8 + chunk.len()) as u16;
        pkt[4..6].copy_from_slice(&len.to_be_bytes());
        let offset_flags = ((off / 8) as u16) << 3 | u16::from(more);
        pkt.extend_from_slice(&[6, 0]);
        pkt.extend_from_slice(&offset_flags.to_be_bytes());
        pkt.extend_from_slice(&0xabcd_u32.to_be_bytes());
        pkt.extend_from_slice(chunk);
        let f = raw(&pkt);
        let Decoded::Fragment(fr) = decode(&f) else { panic!("a fragment: {:?}", decode(&f)) };
        assert_eq!(fr.id, 0xabcd);
        out = d.add(&fr, Timestamp(0), 1, 0, &mut diag).or(out);
    }
    let whole = out.expect("complete");
    let f = raw(&whole);
    assert!(
        matches!(decode(&f), Decoded::Tcp(s) if s.payload == b"GET /v6 HTTP/1.1\r\n\r\n" && s.src.is_ipv6())
    );
}
