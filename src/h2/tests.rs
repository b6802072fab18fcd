//! HPACK against the RFC 7541 Appendix C vectors, and connections built frame by frame.

use super::hpack::{Decoder, HpackError, integer};
use super::*;
use crate::capture::reassembly::{At, Chunk, CloseReason, ConnInfo, Dir, StreamHandler};
use crate::diag::Diagnostics;
use crate::exchange::{Exchange, Flags, Refused, Timestamp};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn fields(d: &mut Decoder, block: &str) -> Vec<(String, String)> {
    let b = d.decode(&hex(block)).unwrap();
    assert_eq!(b.undecoded, 0);
    b.fields
        .into_iter()
        .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn c1_integers() {
    assert_eq!(integer(&[0b0000_1010], 5), Ok((10, 1)));
    assert_eq!(integer(&[0b0001_1111, 0b1001_1010, 0b0000_1010], 5), Ok((1337, 3)));
    assert_eq!(integer(&[42], 8), Ok((42, 1)));
    assert_eq!(integer(&[0x1f], 5), Err(HpackError::Truncated));
    assert_eq!(integer(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 5), Err(HpackError::IntegerOverflow));
}

const C3: [&str; 3] = [
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
];
const C4: [&str; 3] = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
];

fn c3_expected() -> [Vec<(String, String)>; 3] {
    let base = [(":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com")];
    let mut second = base.to_vec();
    second.push(("cache-control", "no-cache"));
    [
        pairs(&base),
        pairs(&second),
        pairs(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ]),
    ]
}

#[test]
fn c3_and_c4_requests_with_and_without_huffman() {
    for blocks in [C3, C4] {
        let mut d = Decoder::new(1 << 16);
        for (block, want) in blocks.iter().zip(c3_expected()) {
            assert_eq!(fields(&mut d, block), want);
        }
        assert_eq!(d.table_len(), 3);
    }
}

const C5: [&str; 3] = [
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
];
const C6: [&str; 3] = [
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
];

#[test]
fn c5_and_c6_responses_evict_with_a_256_byte_table() {
    let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
    let loc = "https://www.example.com";
    for blocks in [C5, C6] {
        let mut d = Decoder::new(1 << 16);
        // The table is 256 bytes in these examples: the encoder says so with an update.
        d.decode(&[0x3f, 0xe1, 0x01]).unwrap();
        let want1 =
            pairs(&[(":status", "302"), ("cache-control", "private"), ("date", date1), ("location", loc)]);
        assert_eq!(fields(&mut d, blocks[0]), want1);
        let want2 =
            pairs(&[(":status", "307"), ("cache-control", "private"), ("date", date1), ("location", loc)]);
        assert_eq!(fields(&mut d, blocks[1]), want2);
        let got3 = fields(&mut d, blocks[2]);
        assert_eq!(got3[0], (":status".to_string(), "200".to_string()));
        assert_eq!(got3[2].1, "Mon, 21 Oct 2013 20:13:22 GMT");
        assert_eq!(got3[4], ("content-encoding".to_string(), "gzip".to_string()));
        assert_eq!(got3[5].0, "set-cookie");
        assert_eq!(got3[5].1, "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1");
        assert_eq!(d.table_len(), 3);
    }
}

#[test]
fn mid_stream_decoder_counts_unknown_entries_and_keeps_going() {
    let mut d = Decoder::mid_stream(1 << 16);
    // The second C.3 block refers to entry 62 (`:authority`), never seen here.
    let b = d.decode(&hex(C3[1])).unwrap();
    assert_eq!(b.undecoded, 1);
    assert_eq!(b.fields.len(), 4, "{b:?}");
    // A full decoder calls the same index an error.
    let mut full = Decoder::new(1 << 16);
    assert_eq!(full.decode(&hex(C3[1])), Err(HpackError::BadIndex(62)));
}

#[test]
fn hostile_blocks_are_errors_not_panics() {
    let mut d = Decoder::new(1024);
    for bad in [
        &[0x3f][..],
        &[0x80],
        &[0x40, 0x85, 0xff],
        &[0x00, 0x7f],
        &[0x82, 0x1f],
        &[0x40, 0x01, b'a', 0x81, 0xff],
    ] {
        assert!(d.decode(bad).is_err(), "{bad:?}");
    }
    // EOS inside a Huffman string.
    assert!(d.decode(&[0x40, 0x81, b'a', 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    // An HPACK bomb: one big entry indexed over and over stops at the limit.
    let mut bomb = vec![0x40, 0x01, b'k', 0x7f, 0x81, 0x06];
    bomb.extend(std::iter::repeat_n(b'v', 896));
    bomb.extend(std::iter::repeat_n(0xbe, 100));
    let mut d = Decoder::new(8 << 10);
    assert_eq!(d.decode(&bomb), Err(HpackError::TooLarge(8 << 10)));
}

// ---- connections built frame by frame ----

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A literal field without indexing, new name.
fn lit(name: &str, value: &str) -> Vec<u8> {
    let mut b = vec![0x00, name.len() as u8];
    b.extend_from_slice(name.as_bytes());
    b.push(value.len() as u8);
    b.extend_from_slice(value.as_bytes());
    b
}

/// A literal field with incremental indexing, new name.
fn indexed_lit(name: &str, value: &str) -> Vec<u8> {
    let mut b = lit(name, value);
    b[0] = 0x40;
    b
}

fn request_block(path: &str, extra: &[u8]) -> Vec<u8> {
    let mut b = vec![0x83, 0x86]; // :method POST, :scheme http
    b.extend(lit(":path", path));
    b.extend(lit(":authority", "api.test"));
    b.extend_from_slice(extra);
    b
}

struct Run {
    h: H2Handler,
    conn: Box<H2Conn>,
    info: ConnInfo,
    diag: Diagnostics,
    frame_no: u64,
    off: [u64; 2],
}

impl Run {
    fn new() -> Self {
        let info = ConnInfo {
            id: 1,
            client: "10.0.0.1:40000".parse().unwrap(),
            server: "10.0.0.2:80".parse().unwrap(),
            handshake: true,
        };
        let mut h = H2Handler::new(H2Config::default(), 0);
        let conn = h.open(&info);
        Run { h, conn, info, diag: Diagnostics::default(), frame_no: 0, off: [0; 2] }
    }

    fn at(&mut self) -> At {
        self.frame_no += 1;
        At { ts: Timestamp(self.frame_no as i64 * 1000), frame: self.frame_no }
    }

    fn send(&mut self, dir: Dir, bytes: &[u8]) {
        let at = self.at();
        let offset = self.off[dir as usize];
        self.off[dir as usize] += bytes.len() as u64;
        let chunk = Chunk { data: bytes, offset, ack: None, at };
        self.h.data(&mut self.conn, &self.info, dir, chunk, &mut self.diag);
    }

    fn lose(&mut self, dir: Dir, len: u64) {
        let at = self.at();
        let o = self.off[dir as usize];
        self.off[dir as usize] += len;
        self.h.gap(&mut self.conn, &self.info, dir, o..o + len, at, &mut self.diag);
    }

    fn finish(mut self) -> (Vec<Exchange>, Diagnostics, H2Stats) {
        let at = self.at();
        self.h.close(self.conn, &self.info, CloseReason::EndOfInput, at, &mut self.diag);
        let mut out = Vec::new();
        self.h.orderer.flush(&mut |e| out.push(e));
        (out, self.diag, self.h.stats())
    }
}

fn preface_and_settings() -> Vec<u8> {
    let mut b = frame::PREFACE.to_vec();
    b.extend(frame(frame::SETTINGS, 0, 0, &[0, 1, 0, 0, 0x10, 0]));
    b
}

#[test]
fn preface_detection() {
    assert!(is_preface(frame::PREFACE));
    assert!(is_preface(b"PRI * HTTP/2.0\r\n"));
    assert!(!is_preface(b"PRI * HTTP/1.1\r\n\r\n"));
    assert!(!is_preface(b"PRI"));
    assert!(!is_preface(b"GET / HTTP/1.1\r\n"));
    assert!(looks_like_frames(&frame(frame::SETTINGS, 0, 0, &[])));
    assert!(!looks_like_frames(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
}

#[test]
fn request_and_response_with_continuation_padding_priority_and_trailers() {
    let mut r = Run::new();
    r.send(Dir::ToServer, &preface_and_settings());
    r.send(Dir::ToClient, &frame(frame::SETTINGS, 0, 0, &[]));
    let block = request_block("/pkg.Svc/CreateThing", &lit("content-type", "application/grpc"));
    let (a, b) = block.split_at(10);
    // HEADERS with priority and padding, then a CONTINUATION.
    let mut p = vec![3u8, 0, 0, 0, 0, 16];
    p.extend_from_slice(a);
    p.extend_from_slice(&[0, 0, 0]);
    let mut bytes = frame(frame::HEADERS, frame::PADDED | frame::PRIORITY_FLAG, 1, &p);
    bytes.extend(frame(frame::CONTINUATION, frame::END_HEADERS, 1, b));
    let mut data = vec![2u8];
    data.extend_from_slice(b"\0\0\0\0\x02hi");
    data.extend_from_slice(&[0, 0]);
    bytes.extend(frame(frame::DATA, frame::PADDED | frame::END_STREAM, 1, &data));
    r.send(Dir::ToServer, &bytes);
    let mut resp = frame(frame::HEADERS, frame::END_HEADERS, 1, &[0x88]);
    resp.extend(frame(frame::DATA, 0, 1, b"\0\0\0\0\x01x"));
    r.send(Dir::ToClient, &resp);
    let trailers = [lit("grpc-status", "0"), lit("grpc-message", "")].concat();
    r.send(Dir::ToClient, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 1, &trailers));
    let (ex, diag, stats) = r.finish();
    assert_eq!(ex.len(), 1, "{:?}", diag);
    let e = &ex[0];
    let req = e.request.as_ref().unwrap();
    assert_eq!(req.head.method(), "POST");
    assert_eq!(req.head.uri(), "/pkg.Svc/CreateThing");
    assert_eq!(req.head.header_exact("host"), Some(&b"api.test"[..]));
    assert_eq!(req.head.version, 2);
    assert_eq!(req.body.data, b"\0\0\0\0\x02hi");
    assert_eq!(e.status(), Some(200));
    assert_eq!(e.response.as_ref().unwrap().body.data, b"\0\0\0\0\x01x");
    assert!(e.flags.complete(), "{}", e.flags.describe());
    assert_eq!(e.wire.h2_stream, 1);
    assert_eq!(e.wire.nth, 1);
    assert_eq!(grpc::status(e), Some(0));
    assert_eq!(grpc::method(e), Some(("pkg.Svc", "CreateThing")));
    assert_eq!(stats.requests, 1);
    assert_eq!(req.origin, crate::exchange::Origin::Frame(3));
}

#[test]
fn interleaved_streams_pair_by_id_and_come_out_in_request_order() {
    let mut r = Run::new();
    r.send(Dir::ToServer, &preface_and_settings());
    for (id, path) in [(1, "/a"), (3, "/b")] {
        r.send(
            Dir::ToServer,
            &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, id, &request_block(path, &[])),
        );
    }
    // Stream 3 answered first, 404; stream 1 then, 500 (indexed :status 14).
    r.send(Dir::ToClient, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 3, &[0x8d]));
    r.send(Dir::ToClient, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 1, &[0x8e]));
    let (ex, _, _) = r.finish();
    let got: Vec<(&str, Option<u16>, u32)> =
        ex.iter().map(|e| (e.request.as_ref().unwrap().head.uri(), e.status(), e.wire.nth)).collect();
    assert_eq!(got, vec![("/a", Some(500), 1), ("/b", Some(404), 2)]);
}

#[test]
fn refused_stream_and_goaway_mark_the_request_unprocessed() {
    let mut r = Run::new();
    r.send(Dir::ToServer, &preface_and_settings());
    for id in [1, 3, 5] {
        r.send(
            Dir::ToServer,
            &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, id, &request_block("/x", &[])),
        );
    }
    r.send(Dir::ToClient, &frame(frame::RST_STREAM, 0, 1, &7u32.to_be_bytes()));
    // GOAWAY: last stream 3, NO_ERROR. Stream 3 may still be answered; 5 was not processed.
    r.send(Dir::ToClient, &frame(frame::GOAWAY, 0, 0, &[0, 0, 0, 3, 0, 0, 0, 0]));
    r.send(Dir::ToClient, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 3, &[0x88]));
    let (ex, _, stats) = r.finish();
    assert_eq!(ex.len(), 3);
    assert!(matches!(ex[0].wire.refused, Some(Refused::RstStream { .. })));
    assert!(ex[0].flags.has(Flags::NO_RESPONSE));
    assert_eq!(ex[1].wire.refused, None);
    assert_eq!(ex[1].status(), Some(200));
    assert!(matches!(ex[2].wire.refused, Some(Refused::GoAway { last_stream_id: 3, .. })));
    assert_eq!(stats.refused, 2);
}

#[test]
fn client_cancel_is_a_client_close() {
    let mut r = Run::new();
    r.send(Dir::ToServer, &preface_and_settings());
    r.send(
        Dir::ToServer,
        &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 1, &request_block("/slow", &[])),
    );
    r.send(Dir::ToServer, &frame(frame::RST_STREAM, 0, 1, &8u32.to_be_bytes()));
    let (ex, _, _) = r.finish();
    assert!(ex[0].wire.client_closed.is_some_and(|c| c.rst));
    assert_eq!(ex[0].wire.refused, None);
}

#[test]
fn mid_connection_capture_keeps_streams_and_marks_undecoded_headers() {
    let mut r = Run::new();
    // No preface: the capture began later. The client refers to dynamic entry 62.
    let mut block = request_block("/late", &[]);
    block.push(0xbe);
    r.send(Dir::ToServer, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 7, &block));
    r.send(Dir::ToClient, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 7, &[0x88]));
    let (ex, diag, stats) = r.finish();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].request.as_ref().unwrap().head.uri(), "/late");
    assert!(ex[0].flags.has(Flags::HEADERS_UNDECODED));
    assert_eq!(stats.undecoded_fields, 1);
    assert!(diag.total() > 0);
}

#[test]
fn gap_inside_data_costs_body_bytes_only_and_elsewhere_loses_framing() {
    let mut r = Run::new();
    r.send(Dir::ToServer, &preface_and_settings());
    let idx = indexed_lit("x-trace", "abc");
    let h = frame(frame::HEADERS, frame::END_HEADERS, 1, &request_block("/up", &idx));
    r.send(Dir::ToServer, &h);
    let d = frame(frame::DATA, frame::END_STREAM, 1, &[b'z'; 100]);
    r.send(Dir::ToServer, &d[..30]);
    r.lose(Dir::ToServer, 50);
    r.send(Dir::ToServer, &d[80..]);
    r.send(Dir::ToClient, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 1, &[0x88]));
    // A gap over a frame boundary: stream 3's HEADERS are lost, stream 5 resynchronises.
    r.send(
        Dir::ToServer,
        &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 3, &request_block("/lost", &[]))[..5],
    );
    r.lose(Dir::ToServer, 40);
    let mut b5 = request_block("/after", &[]);
    b5.push(0xbe); // the x-trace entry, or one the lost block added: undecodable now
    r.send(Dir::ToServer, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 5, &b5));
    r.send(Dir::ToClient, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 5, &[0x88]));
    let (ex, _, stats) = r.finish();
    assert_eq!(ex.len(), 2, "{ex:?}");
    let body = &ex[0].request.as_ref().unwrap().body;
    assert_eq!((body.len, body.missing), (100 - 50 - 9 + 9, 50));
    assert!(ex[0].flags.has(Flags::REQUEST_GAP));
    assert_eq!(ex[1].request.as_ref().unwrap().head.uri(), "/after");
    assert_eq!(ex[1].request.as_ref().unwrap().head.header_str("x-trace"), None);
    assert!(ex[1].flags.has(Flags::HEADERS_UNDECODED));
    assert!(!ex[0].flags.has(Flags::HEADERS_UNDECODED));
    assert_eq!(stats.resyncs, 1);
}

#[test]
fn server_preface_direction_swaps_roles() {
    let mut r = Run::new();
    r.send(Dir::ToClient, &preface_and_settings());
    r.send(
        Dir::ToClient,
        &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 1, &request_block("/s", &[])),
    );
    r.send(Dir::ToServer, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 1, &[0x88]));
    let (ex, _, _) = r.finish();
    assert_eq!(ex.len(), 1);
    assert_eq!(ex[0].client.port(), 80);
    assert_eq!(ex[0].status(), Some(200));
}

#[test]
fn hostile_frames_never_panic() {
    let mut r = Run::new();
    r.send(Dir::ToServer, &preface_and_settings());
    let junk = [
        frame(frame::HEADERS, frame::PADDED | frame::END_HEADERS, 1, &[200, 1, 2]),
        frame(frame::DATA, frame::PADDED, 1, &[]),
        frame(frame::DATA, frame::PADDED, 1, &[9, 1]),
        frame(frame::CONTINUATION, frame::END_HEADERS, 9, &[0x82]),
        frame(frame::RST_STREAM, 0, 1, &[1]),
        frame(frame::GOAWAY, 0, 0, &[0]),
        frame(frame::HEADERS, frame::END_HEADERS, 3, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        frame(0xee, 0xff, 5, b"unknown"),
    ];
    for j in &junk {
        r.send(Dir::ToServer, j);
        r.send(Dir::ToClient, j);
    }
    let (_, diag, _) = r.finish();
    assert!(diag.total() >= 3);
}

#[test]
fn without_a_preface_the_first_block_settles_the_roles() {
    let mut r = Run::new();
    // Reassembly guessed wrong: the "server" side sends the requests.
    r.send(
        Dir::ToClient,
        &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 9, &request_block("/r", &[])),
    );
    r.send(Dir::ToServer, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 9, &[0x88]));
    r.send(
        Dir::ToClient,
        &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 11, &request_block("/s", &[])),
    );
    r.send(Dir::ToServer, &frame(frame::HEADERS, frame::END_HEADERS | frame::END_STREAM, 11, &[0x8d]));
    let (ex, _, _) = r.finish();
    let got: Vec<(&str, Option<u16>, u16)> =
        ex.iter().map(|e| (e.request.as_ref().unwrap().head.uri(), e.status(), e.server.port())).collect();
    assert_eq!(got, vec![("/r", Some(200), 40000), ("/s", Some(404), 40000)]);
}
