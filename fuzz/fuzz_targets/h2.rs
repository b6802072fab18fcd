//! The HTTP/2 stage: frames + HPACK driven through `StreamHandler`, both directions, with
//! gaps and ends, from an input-derived script; and the HPACK decoder on raw blocks.
//!
//! First byte: bit 0 set = the rest is HPACK blocks (split at each 0xff 0x00 pair) fed to
//! one decoder (full or, bit 1, mid-stream). Otherwise a script as in `http_conn`:
//! - op % 4 == 0 / 1: data to the server / to the client; next byte = length L, then L bytes.
//! - op % 4 == 2: a gap; bit 2 = direction, next two bytes = length (1..=65536).
//! - op % 4 == 3: FIN of the direction in bit 2.
//!
//! Bit 1 of the first byte sends the client preface first (so frames, not the preface
//! check, get the bytes); the connection is closed (reason from bits 2-4) at the end.
#![no_main]

use dupcall::capture::reassembly::{At, Chunk, CloseReason, ConnInfo, Dir, StreamHandler};
use dupcall::diag::Diagnostics;
use dupcall::exchange::Timestamp;
use dupcall::h2::hpack::Decoder;
use dupcall::h2::{H2Config, H2Handler, frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    if first & 1 == 1 {
        let mut d = if first & 2 == 0 { Decoder::new(16 << 10) } else { Decoder::mid_stream(16 << 10) };
        d.set_allowed(4096);
        for block in rest.split(|&b| b == 0xff) {
            if let Ok(b) = d.decode(block) {
                let bytes: usize = b.fields.iter().map(|(n, v)| n.len() + v.len()).sum();
                assert!(bytes <= 16 << 10, "the per-block limit holds");
            }
        }
        return;
    }
    script(first, rest);
});

fn script(first: u8, mut rest: &[u8]) {
    let cfg = if first & 0x20 == 0 {
        H2Config::default()
    } else {
        H2Config { body_cap: 16, max_header_block: 64, max_streams: 2 }
    };
    let reason = [
        CloseReason::Fin,
        CloseReason::Reset,
        CloseReason::Idle,
        CloseReason::Limit,
        CloseReason::Reused,
        CloseReason::EndOfInput,
    ][(first as usize >> 2) % 6];
    let info = ConnInfo {
        id: 1,
        client: "10.0.0.1:40000".parse().unwrap(),
        server: "10.0.0.2:80".parse().unwrap(),
        handshake: true,
    };
    let mut h = H2Handler::new(cfg, 0);
    let mut diag = Diagnostics::default();
    let mut conn = h.open(&info);
    let mut sent = [0u64; 2];
    let mut step = 0u64;
    let mut out = 0usize;
    if first & 2 != 0 {
        let at = At { ts: Timestamp(0), frame: 0 };
        let chunk = Chunk { data: frame::PREFACE, offset: 0, ack: None, at };
        h.data(&mut conn, &info, Dir::ToServer, chunk, &mut diag);
        sent[0] = frame::PREFACE.len() as u64;
    }
    while let Some((&op, r)) = rest.split_first() {
        rest = r;
        step += 1;
        let at = At { ts: Timestamp(step as i64 * 1_000_000), frame: step };
        match op % 4 {
            d @ (0 | 1) => {
                let dir = if d == 0 { Dir::ToServer } else { Dir::ToClient };
                let Some((&len, r)) = rest.split_first() else { break };
                let n = (len as usize).min(r.len());
                let (bytes, r) = r.split_at(n);
                rest = r;
                let di = dir as usize;
                let chunk = Chunk { data: bytes, offset: sent[di], ack: None, at };
                sent[di] += bytes.len() as u64;
                h.data(&mut conn, &info, dir, chunk, &mut diag);
            }
            2 => {
                let dir = if op & 4 == 0 { Dir::ToServer } else { Dir::ToClient };
                let [a, b, r @ ..] = rest else { break };
                rest = r;
                let len = u16::from_le_bytes([*a, *b]) as u64 + 1;
                let di = dir as usize;
                h.gap(&mut conn, &info, dir, sent[di]..sent[di] + len, at, &mut diag);
                sent[di] += len;
            }
            _ => {
                let dir = if op & 4 == 0 { Dir::ToServer } else { Dir::ToClient };
                h.end(&mut conn, &info, dir, at, &mut diag);
            }
        }
        h.orderer.drain(&mut |_| out += 1);
    }
    let at = At { ts: Timestamp((step as i64 + 1) * 1_000_000), frame: step + 1 };
    h.close(conn, &info, reason, at, &mut diag);
    h.orderer.flush(&mut |_| out += 1);
    assert_eq!(h.stats().exchanges as usize, out, "every finished exchange leaves the orderer");
}
