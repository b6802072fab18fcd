//! The HTTP connection parser driven through `StreamHandler`, both directions, with gaps
//! and ends, from an input-derived script.
//!
//! Script: repeated steps `op` + arguments:
//! - op % 4 == 0 / 1: data to the server / to the client; next byte = length L, then L
//!   bytes (fewer at the end of the input); the ACK it carries is the other side's offset,
//!   minus `op >> 4` (to vary the pairing evidence).
//! - op % 4 == 2: a gap; bit 2 = direction, next two bytes = length (1..=65536).
//! - op % 4 == 3: FIN of the direction in bit 2.
//!
//! The connection is closed (reason from the first byte) at the end.
#![no_main]

use dupcall::capture::reassembly::{At, Chunk, CloseReason, ConnInfo, Dir, StreamHandler};
use dupcall::diag::Diagnostics;
use dupcall::exchange::Timestamp;
use dupcall::http::{HttpConfig, HttpHandler};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut rest)) = data.split_first() else { return };
    let cfg = if first & 1 == 0 {
        HttpConfig::default()
    } else {
        HttpConfig { body_cap: 16, max_head: 64, max_pipeline: 2 }
    };
    let reason = [
        CloseReason::Fin,
        CloseReason::Reset,
        CloseReason::Idle,
        CloseReason::Limit,
        CloseReason::Reused,
        CloseReason::EndOfInput,
    ][(first as usize >> 1) % 6];
    let info = ConnInfo {
        id: 1,
        client: "10.0.0.1:40000".parse().unwrap(),
        server: "10.0.0.2:80".parse().unwrap(),
        handshake: true,
    };
    let mut h = HttpHandler::new(cfg, 0);
    let mut diag = Diagnostics::default();
    let mut conn = h.open(&info);
    let mut sent = [0u64; 2];
    let mut step = 0u64;
    let mut out = 0usize;
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
                let ack = sent[1 - di].saturating_sub((op >> 4) as u64);
                let chunk = Chunk { data: bytes, offset: sent[di], ack: Some(ack), at };
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
    let stats = h.stats();
    assert_eq!(stats.exchanges as usize, out, "every finished exchange leaves the orderer");
});
