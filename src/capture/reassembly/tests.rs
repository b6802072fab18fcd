//! Reassembly tests: a recording handler, table cases for each TCP edge case, and property
//! tests that reordering and duplication never change the delivered bytes or gaps.

use super::*;
use crate::capture::decode::TcpFlags;
use crate::diag::WarningKind;
use proptest::prelude::*;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Stream {
    bytes: Vec<u8>,
    /// (offset, len)
    gaps: Vec<(u64, u64)>,
    ended: bool,
}

#[derive(Debug, Default)]
struct Rec {
    opened: Vec<ConnInfo>,
    streams: std::collections::BTreeMap<(u64, u8), Stream>,
    closed: Vec<(u64, CloseReason)>,
}

impl Rec {
    fn stream(&self, conn: u64, dir: Dir) -> Stream {
        self.streams.get(&(conn, dir as u8)).cloned().unwrap_or_default()
    }
}

impl StreamHandler for Rec {
    type Conn = u64;
    fn sniff_client(&self, payload: &[u8]) -> Option<bool> {
        use crate::http::sniff::{looks_like_request, looks_like_response};
        if looks_like_response(payload) { Some(false) } else { looks_like_request(payload).then_some(true) }
    }
    fn open(&mut self, info: &ConnInfo) -> u64 {
        self.opened.push(*info);
        info.id
    }
    fn data(&mut self, conn: &mut u64, _: &ConnInfo, dir: Dir, chunk: Chunk<'_>, _: &mut Diagnostics) {
        let s = self.streams.entry((*conn, dir as u8)).or_default();
        let expected = s.bytes.len() as u64 + s.gaps.iter().map(|g| g.1).sum::<u64>();
        assert_eq!(chunk.offset, expected, "chunks arrive in order, without overlap");
        s.bytes.extend_from_slice(chunk.data);
    }
    fn gap(
        &mut self,
        conn: &mut u64,
        _: &ConnInfo,
        dir: Dir,
        hole: std::ops::Range<u64>,
        _: At,
        _: &mut Diagnostics,
    ) {
        self.streams.entry((*conn, dir as u8)).or_default().gaps.push((hole.start, hole.end - hole.start));
    }
    fn end(&mut self, conn: &mut u64, _: &ConnInfo, dir: Dir, _: At, _: &mut Diagnostics) {
        self.streams.entry((*conn, dir as u8)).or_default().ended = true;
    }
    fn close(&mut self, conn: u64, _: &ConnInfo, reason: CloseReason, _: At, _: &mut Diagnostics) {
        self.closed.push((conn, reason));
    }
}

const C: &str = "10.0.0.1:40000";
const S: &str = "10.0.0.2:80";

#[derive(Clone, Debug)]
struct Seg {
    from_client: bool,
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    fin: bool,
    rst: bool,
    data: Vec<u8>,
    missing: u32,
}

fn seg(from_client: bool, seq: u32, data: &[u8]) -> Seg {
    Seg { from_client, seq, ack: None, syn: false, fin: false, rst: false, data: data.to_vec(), missing: 0 }
}

struct Harness {
    r: Reassembler<u64>,
    h: Rec,
    d: Diagnostics,
    frame: u64,
    ts: i64,
}

impl Harness {
    fn new(limits: Limits) -> Self {
        Harness {
            r: Reassembler::new(limits, 0),
            h: Rec::default(),
            d: Diagnostics::default(),
            frame: 0,
            ts: 0,
        }
    }
    fn feed(&mut self, s: &Seg) {
        self.frame += 1;
        self.ts += 1_000_000;
        let (src, dst) = if s.from_client { (C, S) } else { (S, C) };
        let t = TcpSegment {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            seq: s.seq,
            ack: s.ack.unwrap_or(0),
            flags: TcpFlags { syn: s.syn, ack: s.ack.is_some(), fin: s.fin, rst: s.rst },
            payload: &s.data,
            missing: s.missing,
        };
        self.r.segment(&t, At { ts: Timestamp(self.ts), frame: self.frame }, &mut self.h, &mut self.d);
    }
    fn feed_all(&mut self, segs: &[Seg]) {
        for s in segs {
            self.feed(s);
        }
    }
    fn finish(&mut self) {
        self.r.finish(At { ts: Timestamp(self.ts), frame: self.frame }, &mut self.h, &mut self.d);
    }
}

fn handshake(isn_c: u32, isn_s: u32) -> Vec<Seg> {
    vec![
        Seg { syn: true, ..seg(true, isn_c, b"") },
        Seg { syn: true, ack: Some(isn_c.wrapping_add(1)), ..seg(false, isn_s, b"") },
        Seg { ack: Some(isn_s.wrapping_add(1)), ..seg(true, isn_c.wrapping_add(1), b"") },
    ]
}

#[test]
fn in_order_with_handshake_and_fins() {
    let mut t = Harness::new(Limits::default());
    let mut segs = handshake(100, 5000);
    segs.push(Seg { ack: Some(5001), ..seg(true, 101, b"GET / HTTP/1.1\r\n\r\n") });
    segs.push(Seg { ack: Some(119), ..seg(false, 5001, b"HTTP/1.1 200 OK\r\n\r\n") });
    segs.push(Seg { fin: true, ack: Some(5020), ..seg(true, 119, b"") });
    segs.push(Seg { fin: true, ack: Some(120), ..seg(false, 5020, b"") });
    t.feed_all(&segs);
    assert_eq!(t.h.opened[0].client, C.parse().unwrap());
    assert_eq!(t.h.stream(1, Dir::ToServer).bytes, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(t.h.stream(1, Dir::ToClient).bytes, b"HTTP/1.1 200 OK\r\n\r\n");
    assert!(t.h.stream(1, Dir::ToServer).ended && t.h.stream(1, Dir::ToClient).ended);
    assert_eq!(t.h.closed, vec![(1, CloseReason::Fin)]);
    // A late retransmission of a closed connection is swallowed, not a new connection.
    t.feed(&seg(true, 101, b"GET"));
    assert_eq!(t.h.opened.len(), 1);
}

#[test]
fn out_of_order_and_duplicates() {
    let mut t = Harness::new(Limits::default());
    let mut segs = handshake(1, 1);
    segs.push(seg(true, 7, b"world"));
    segs.push(seg(true, 2, b"hello"));
    segs.push(seg(true, 2, b"hello"));
    segs.push(seg(true, 4, b"llowo")); // overlaps both, same bytes
    segs.push(seg(true, 12, b"!"));
    t.feed_all(&segs);
    let s = t.h.stream(1, Dir::ToServer);
    assert_eq!(s.bytes, b"helloworld!");
    assert!(s.gaps.is_empty());
    assert_eq!(t.d.count_of(WarningKind::ConflictingOverlap), 0);
    assert!(t.r.stats().retransmissions >= 2);
}

#[test]
fn conflicting_overlap_keeps_first_copy_and_warns() {
    let mut t = Harness::new(Limits::default());
    let mut segs = handshake(1, 1);
    segs.push(seg(true, 7, b"world"));
    segs.push(seg(true, 7, b"WORLD"));
    segs.push(seg(true, 2, b"hello"));
    t.feed_all(&segs);
    assert_eq!(t.h.stream(1, Dir::ToServer).bytes, b"helloworld");
    assert_eq!(t.d.count_of(WarningKind::ConflictingOverlap), 1);
}

#[test]
fn sequence_wraps_around() {
    let isn = u32::MAX - 3;
    let mut t = Harness::new(Limits::default());
    let mut segs = handshake(isn, 9);
    segs.push(seg(true, isn.wrapping_add(1), b"abc"));
    segs.push(seg(true, isn.wrapping_add(7), b"ghi")); // after the wrap, out of order
    segs.push(seg(true, isn.wrapping_add(4), b"def")); // spans the wrap
    t.feed_all(&segs);
    assert_eq!(t.h.stream(1, Dir::ToServer).bytes, b"abcdefghi");
}

#[test]
fn mid_stream_pickup_guesses_roles_from_content() {
    let mut t = Harness::new(Limits::default());
    // First packet seen is the server's response: no SYN, ports give no hint either way.
    t.feed(&Seg { ack: Some(777), ..seg(false, 9000, b"HTTP/1.1 200 OK\r\n\r\n") });
    t.feed(&Seg { ack: Some(9019), ..seg(true, 777, b"GET /next HTTP/1.1\r\n\r\n") });
    assert_eq!(t.h.opened[0].server, S.parse().unwrap());
    assert_eq!(t.h.stream(1, Dir::ToClient).bytes, b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(t.h.stream(1, Dir::ToServer).bytes, b"GET /next HTTP/1.1\r\n\r\n");
}

#[test]
fn peer_ack_beyond_a_hole_makes_a_gap() {
    let mut t = Harness::new(Limits::default());
    let mut segs = handshake(0, 0);
    segs.push(seg(true, 1, b"aaaa"));
    segs.push(seg(true, 9, b"cccc")); // bytes 4..8 never captured
    segs.push(Seg { ack: Some(13), ..seg(false, 1, b"") }); // the server got them all
    t.feed_all(&segs);
    let s = t.h.stream(1, Dir::ToServer);
    assert_eq!(s.bytes, b"aaaacccc");
    assert_eq!(s.gaps, vec![(4, 4)]);
    assert_eq!(t.d.count_of(WarningKind::TcpGap), 1);
}

#[test]
fn peer_data_acking_unseen_bytes_makes_a_gap() {
    let mut t = Harness::new(Limits::default());
    let mut segs = handshake(0, 0);
    segs.push(seg(true, 1, b"aaaa"));
    // The client's next 6 bytes were lost; the server answers having received them.
    segs.push(Seg { ack: Some(11), ..seg(false, 1, b"resp") });
    segs.push(seg(true, 11, b"next"));
    t.feed_all(&segs);
    let s = t.h.stream(1, Dir::ToServer);
    assert_eq!(s.bytes, b"aaaanext");
    assert_eq!(s.gaps, vec![(4, 6)]);
}

#[test]
fn holes_left_at_the_end_become_gaps() {
    let mut t = Harness::new(Limits::default());
    let mut segs = handshake(0, 0);
    segs.push(seg(true, 1, b"aa"));
    segs.push(seg(true, 5, b"bb"));
    t.feed_all(&segs);
    t.finish();
    let s = t.h.stream(1, Dir::ToServer);
    assert_eq!((s.bytes.as_slice(), s.gaps.as_slice()), (&b"aabb"[..], &[(2, 2)][..]));
    assert_eq!(t.h.closed, vec![(1, CloseReason::EndOfInput)]);
}

#[test]
fn snaplen_cut_is_a_gap() {
    let mut t = Harness::new(Limits::default());
    let mut segs = handshake(0, 0);
    segs.push(Seg { missing: 10, ..seg(true, 1, b"head") });
    segs.push(seg(true, 15, b"tail"));
    t.feed_all(&segs);
    let s = t.h.stream(1, Dir::ToServer);
    assert_eq!(s.bytes, b"headtail");
    assert_eq!(s.gaps, vec![(4, 10)]);
    assert_eq!(t.d.count_of(WarningKind::SnaplenCut), 1);
}

#[test]
fn port_reuse_starts_a_new_connection() {
    let mut t = Harness::new(Limits::default());
    let mut segs = handshake(100, 200);
    segs.push(seg(true, 101, b"one"));
    segs.extend(handshake(90_000, 7));
    segs.push(seg(true, 90_001, b"two"));
    t.feed_all(&segs);
    assert_eq!(t.h.opened.len(), 2);
    assert_eq!(t.h.stream(1, Dir::ToServer).bytes, b"one");
    assert_eq!(t.h.stream(2, Dir::ToServer).bytes, b"two");
    assert_eq!(t.h.closed, vec![(1, CloseReason::Reused)]);
    // A retransmitted SYN is not a new connection.
    t.feed(&Seg { syn: true, ..seg(true, 90_000, b"") });
    assert_eq!(t.h.opened.len(), 2);
}

#[test]
fn a_syn_repeated_after_a_rst_is_a_new_connection() {
    // The client's SYN is refused with RST; it tries again on the same ports with the same
    // initial sequence number, and this time the connection carries data.
    let mut t = Harness::new(Limits::default());
    let mut segs = vec![Seg { syn: true, ..seg(true, 100, b"") }];
    segs.push(Seg { rst: true, ack: Some(101), ..seg(false, 0, b"") });
    segs.extend(handshake(100, 500));
    segs.push(seg(true, 101, b"again"));
    t.feed_all(&segs);
    assert_eq!(t.h.opened.len(), 2, "{:?}", t.h.opened);
    assert_eq!(t.h.stream(2, Dir::ToServer).bytes, b"again");
    assert_eq!(t.h.closed, vec![(1, CloseReason::Reset)]);
}

#[test]
fn rst_closes_and_flushes() {
    let mut t = Harness::new(Limits::default());
    let mut segs = handshake(0, 0);
    segs.push(seg(true, 5, b"late"));
    segs.push(Seg { rst: true, ..seg(false, 1, b"") });
    t.feed_all(&segs);
    assert_eq!(t.h.closed, vec![(1, CloseReason::Reset)]);
    assert_eq!(t.h.stream(1, Dir::ToServer).gaps, vec![(0, 4)]);
}

#[test]
fn tcp_fast_open_data_in_syn() {
    let mut t = Harness::new(Limits::default());
    t.feed(&Seg { syn: true, ..seg(true, 50, b"GET / HTTP/1.1\r\n\r\n") });
    t.feed(&Seg { syn: true, ack: Some(69), ..seg(false, 1, b"") });
    assert_eq!(t.h.stream(1, Dir::ToServer).bytes, b"GET / HTTP/1.1\r\n\r\n");
}

#[test]
fn handshake_out_of_order() {
    let mut t = Harness::new(Limits::default());
    let segs = handshake(1000, 2000);
    t.feed_all(&[segs[1].clone(), segs[0].clone(), segs[2].clone()]);
    t.feed(&seg(true, 1001, b"GET /"));
    assert_eq!(t.h.opened.len(), 1);
    assert_eq!(t.h.opened[0].client, C.parse().unwrap());
    assert_eq!(t.h.stream(1, Dir::ToServer).bytes, b"GET /");
}

#[test]
fn idle_connections_are_closed() {
    let mut t = Harness::new(Limits { idle_timeout_ns: 5_000_000_000, ..Limits::default() });
    t.feed_all(&handshake(0, 0));
    // Another connection keeps the clock moving.
    for i in 0..30 {
        t.ts += 1_000_000_000;
        let s = TcpSegment {
            src: "10.9.9.9:1".parse().unwrap(),
            dst: S.parse().unwrap(),
            seq: i,
            ack: 0,
            flags: TcpFlags::default(),
            payload: b"x",
            missing: 0,
        };
        t.r.segment(&s, At { ts: Timestamp(t.ts), frame: 0 }, &mut t.h, &mut t.d);
    }
    assert!(t.h.closed.contains(&(1, CloseReason::Idle)), "{:?}", t.h.closed);
}

#[test]
fn connection_limit_evicts_the_stalest() {
    let mut t = Harness::new(Limits { max_conns: 4, ..Limits::default() });
    for port in 1..=6u16 {
        t.ts += 1_000_000;
        let s = TcpSegment {
            src: format!("10.0.0.1:{}", 1000 + port).parse().unwrap(),
            dst: S.parse().unwrap(),
            seq: 1,
            ack: 0,
            flags: TcpFlags { syn: true, ..TcpFlags::default() },
            payload: b"",
            missing: 0,
        };
        t.r.segment(&s, At { ts: Timestamp(t.ts), frame: port as u64 }, &mut t.h, &mut t.d);
    }
    assert!(t.r.table_len() <= 4);
    assert_eq!(t.h.closed.first(), Some(&(1, CloseReason::Limit)));
    assert!(t.d.count_of(WarningKind::ConnectionLimit) >= 1);
}

#[test]
fn buffer_limit_turns_the_hole_into_a_gap() {
    let mut t = Harness::new(Limits { max_buffer_per_dir: 8, ..Limits::default() });
    let mut segs = handshake(0, 0);
    segs.push(seg(true, 11, b"0123456789")); // 10 bytes held behind a 10-byte hole
    t.feed_all(&segs);
    let s = t.h.stream(1, Dir::ToServer);
    assert_eq!(s.gaps, vec![(0, 10)]);
    assert_eq!(s.bytes, b"0123456789");
    assert_eq!(t.d.count_of(WarningKind::BufferLimit), 1);
}

/// Splits `data` into segments at `cuts` (sorted, deduplicated offsets).
fn split(data: &[u8], cuts: &[usize], base: u32) -> Vec<Seg> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| seg(true, base.wrapping_add(w[0] as u32), &data[w[0]..w[1]])).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any reordering and duplication of a stream's segments gives the same bytes, no gaps.
    #[test]
    fn reordering_and_duplication_change_nothing(
        data in proptest::collection::vec(any::<u8>(), 1..400),
        cuts in proptest::collection::vec(0usize..400, 0..12),
        order in proptest::collection::vec(any::<u16>(), 0..40),
        dups in proptest::collection::vec(any::<u16>(), 0..6),
        isn in any::<u32>(),
    ) {
        let mut segs = split(&data, &cuts, isn.wrapping_add(1));
        for d in &dups {
            let s = segs[*d as usize % segs.len()].clone();
            segs.push(s);
        }
        for (i, o) in order.iter().enumerate() {
            let (a, b) = (i % segs.len(), *o as usize % segs.len());
            segs.swap(a, b);
        }
        let mut t = Harness::new(Limits::default());
        t.feed(&Seg { syn: true, ..seg(true, isn, b"") });
        t.feed_all(&segs);
        t.finish();
        let s = t.h.stream(1, Dir::ToServer);
        prop_assert_eq!(&s.bytes, &data);
        prop_assert!(s.gaps.is_empty());
    }

    /// Overlapping retransmissions of arbitrary ranges (same bytes) change nothing either.
    #[test]
    fn overlapping_ranges_change_nothing(
        data in proptest::collection::vec(any::<u8>(), 1..300),
        ranges in proptest::collection::vec((0usize..300, 1usize..80), 1..30),
    ) {
        let mut segs = split(&data, &[], 1);
        for (start, len) in ranges {
            let s = start % data.len();
            let e = (s + len).min(data.len());
            segs.insert(0, seg(true, 1 + s as u32, &data[s..e]));
        }
        let mut t = Harness::new(Limits::default());
        t.feed(&Seg { syn: true, ..seg(true, 0, b"") });
        t.feed_all(&segs);
        t.finish();
        let s = t.h.stream(1, Dir::ToServer);
        prop_assert_eq!(&s.bytes, &data);
        prop_assert!(s.gaps.is_empty());
        prop_assert_eq!(t.d.count_of(WarningKind::ConflictingOverlap), 0);
    }

    /// Dropping one segment (not the last) gives exactly that range as a gap, whatever the order.
    #[test]
    fn a_dropped_segment_is_exactly_one_gap(
        data in proptest::collection::vec(any::<u8>(), 3..300),
        cuts in proptest::collection::vec(1usize..300, 2..10),
        drop in any::<u16>(),
        order in proptest::collection::vec(any::<u16>(), 0..20),
    ) {
        let mut segs = split(&data, &cuts, 1);
        prop_assume!(segs.len() >= 3);
        let victim = drop as usize % (segs.len() - 1);
        let lost = segs.remove(victim);
        let lost_off = (lost.seq - 1) as u64;
        for (i, o) in order.iter().enumerate() {
            let (a, b) = (i % segs.len(), *o as usize % segs.len());
            segs.swap(a, b);
        }
        let mut t = Harness::new(Limits::default());
        t.feed(&Seg { syn: true, ..seg(true, 0, b"") });
        t.feed_all(&segs);
        t.finish();
        let s = t.h.stream(1, Dir::ToServer);
        let mut want = data.clone();
        want.drain(lost_off as usize..lost_off as usize + lost.data.len());
        prop_assert_eq!(&s.bytes, &want);
        prop_assert_eq!(s.gaps, vec![(lost_off, lost.data.len() as u64)]);
    }
}
