//! TCP reassembly fed by segments derived from the input, checked by a handler that
//! asserts the stream contract (contiguous offsets, no events after close), with the HTTP
//! handler behind it.
//!
//! Each segment is a 7-byte header then its payload:
//! - byte 0: bit 0 direction (client→server or back), bit 1 SYN, bit 2 ACK, bit 3 FIN,
//!   bit 4 RST, bits 5-6 connection (of 4: two address pairs × a reused pair), bit 7 a
//!   snaplen cut (the last payload byte claims 1..=255 more bytes were sent);
//! - bytes 1-2: sequence number as a signed delta from the direction's running cursor;
//! - bytes 3-4: acknowledgment as a signed delta from the other direction's cursor;
//! - byte 5: payload length (fewer at the end of the input);
//! - byte 6: time step (ms, ×64 when the top bit is set: idle timeouts).
#![no_main]

use std::net::SocketAddr;

use dupcall::capture::decode::{TcpFlags, TcpSegment};
use dupcall::capture::reassembly::{
    At, Chunk, CloseReason, ConnInfo, Dir, Limits, Reassembler, StreamHandler,
};
use dupcall::diag::Diagnostics;
use dupcall::exchange::Timestamp;
use dupcall::http::{HttpConfig, HttpHandler};
use libfuzzer_sys::fuzz_target;

/// Checks the contract, forwards to HTTP.
struct Check {
    http: HttpHandler,
    open: u64,
}

struct CheckConn {
    next: [u64; 2],
    started: [bool; 2],
    ended: [bool; 2],
    http: <HttpHandler as StreamHandler>::Conn,
}

impl StreamHandler for Check {
    type Conn = CheckConn;

    fn open(&mut self, info: &ConnInfo) -> CheckConn {
        self.open += 1;
        CheckConn { next: [0; 2], started: [false; 2], ended: [false; 2], http: self.http.open(info) }
    }

    fn data(
        &mut self,
        c: &mut CheckConn,
        info: &ConnInfo,
        dir: Dir,
        chunk: Chunk<'_>,
        diag: &mut Diagnostics,
    ) {
        let d = dir as usize;
        assert!(!chunk.data.is_empty(), "empty chunk");
        if c.started[d] {
            assert_eq!(chunk.offset, c.next[d], "chunk not contiguous");
        }
        c.started[d] = true;
        c.next[d] = chunk.offset + chunk.data.len() as u64;
        self.http.data(&mut c.http, info, dir, chunk, diag);
    }

    fn gap(
        &mut self,
        c: &mut CheckConn,
        info: &ConnInfo,
        dir: Dir,
        hole: std::ops::Range<u64>,
        at: At,
        diag: &mut Diagnostics,
    ) {
        let (offset, len) = (hole.start, hole.end - hole.start);
        let d = dir as usize;
        assert!(len > 0, "empty gap");
        if c.started[d] {
            assert_eq!(offset, c.next[d], "gap not contiguous");
        }
        c.started[d] = true;
        c.next[d] = offset + len;
        self.http.gap(&mut c.http, info, dir, hole, at, diag);
    }

    fn end(&mut self, c: &mut CheckConn, info: &ConnInfo, dir: Dir, at: At, diag: &mut Diagnostics) {
        let d = dir as usize;
        assert!(!c.ended[d], "direction ended twice");
        c.ended[d] = true;
        self.http.end(&mut c.http, info, dir, at, diag);
    }

    fn close(&mut self, c: CheckConn, info: &ConnInfo, reason: CloseReason, at: At, diag: &mut Diagnostics) {
        assert!(self.open > 0, "close without open");
        self.open -= 1;
        self.http.close(c.http, info, reason, at, diag);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else { return };
    let limits = if cfg & 1 == 0 {
        Limits::default()
    } else {
        Limits { max_conns: 2, max_buffer_per_dir: 64, max_buffer_total: 96, idle_timeout_ns: 1_000_000_000 }
    };
    let addrs: [(SocketAddr, SocketAddr); 4] = [
        ("10.0.0.1:40000".parse().unwrap(), "10.0.0.2:80".parse().unwrap()),
        ("10.0.0.1:40001".parse().unwrap(), "10.0.0.2:80".parse().unwrap()),
        ("[fd00::1]:40000".parse().unwrap(), "[fd00::2]:8080".parse().unwrap()),
        ("10.0.0.3:80".parse().unwrap(), "10.0.0.4:80".parse().unwrap()),
    ];
    // Per connection, per direction: the running sequence cursor (starts wrap-adjacent
    // for connection 2 to cross 2^32).
    let mut cursor = [[1000u32, 9000u32], [5, 77], [u32::MAX - 300, u32::MAX - 100], [0, 0]];
    let mut reasm: Reassembler<CheckConn> = Reassembler::new(limits, 0);
    let mut check = Check { http: HttpHandler::new(HttpConfig::default(), 0), open: 0 };
    let mut diag = Diagnostics::default();
    let mut ts = 1_700_000_000_000_000_000i64;
    let mut frame = 0u64;
    while rest.len() >= 7 {
        let (h, r) = rest.split_at(7);
        let n = (h[5] as usize).min(r.len());
        let (payload, r) = r.split_at(n);
        rest = r;
        frame += 1;
        let step = (h[6] & 0x7f) as i64 * if h[6] & 0x80 != 0 { 64_000_000 } else { 1_000_000 };
        ts += step;
        let ci = ((h[0] >> 5) & 3) as usize;
        let from_client = h[0] & 1 == 0;
        let (c, s) = addrs[ci];
        let (src, dst) = if from_client { (c, s) } else { (s, c) };
        let d = if from_client { 0 } else { 1 };
        let seq_delta = i16::from_le_bytes([h[1], h[2]]) as i32;
        let ack_delta = i16::from_le_bytes([h[3], h[4]]) as i32;
        let seq = cursor[ci][d].wrapping_add(seq_delta as u32);
        let ack = cursor[ci][1 - d].wrapping_add(ack_delta as u32);
        let flags =
            TcpFlags { syn: h[0] & 2 != 0, ack: h[0] & 4 != 0, fin: h[0] & 8 != 0, rst: h[0] & 16 != 0 };
        let missing = if h[0] & 0x80 != 0 { payload.last().copied().unwrap_or(1).max(1) as u32 } else { 0 };
        let end = seq.wrapping_add(payload.len() as u32 + missing + flags.syn as u32 + flags.fin as u32);
        // The cursor follows the furthest byte sent.
        if (end.wrapping_sub(cursor[ci][d]) as i32) > 0 {
            cursor[ci][d] = end;
        }
        let seg = TcpSegment { src, dst, seq, ack, flags, payload, missing };
        reasm.segment(&seg, At { ts: Timestamp(ts), frame }, &mut check, &mut diag);
        check.http.orderer.drain(&mut |_| {});
    }
    reasm.finish(At { ts: Timestamp(ts), frame: frame + 1 }, &mut check, &mut diag);
    check.http.orderer.flush(&mut |_| {});
    assert_eq!(check.open, 0, "every opened connection is closed at the end");
});
