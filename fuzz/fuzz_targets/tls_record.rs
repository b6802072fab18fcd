//! The TLS record layer and handshake parser (`dupcall::tls::session`) on arbitrary
//! byte streams: must never panic, hang or grow without bound. The input is a list of
//! events: one control byte (bit 0: client or server side; bit 1: a gap instead of
//! data), one length byte, then that many bytes of stream data. The key log holds
//! secrets for the all-zero client random, so ServerHellos for it reach the key schedule
//! and record decryption paths.
#![no_main]

use dupcall::tls::KeyLog;
use dupcall::tls::session::{Keys, Out, Session};
use libfuzzer_sys::fuzz_target;

fn keylog() -> KeyLog {
    let r = "00".repeat(32);
    let text = format!(
        "CLIENT_RANDOM {r} {}\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {r} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {r} {}\n\
         CLIENT_TRAFFIC_SECRET_0 {r} {}\nSERVER_TRAFFIC_SECRET_0 {r} {}\n",
        "11".repeat(48),
        "22".repeat(32),
        "33".repeat(32),
        "44".repeat(32),
        "55".repeat(32)
    );
    let mut log = KeyLog::new();
    log.load(text.as_bytes());
    log
}

fuzz_target!(|data: &[u8]| {
    let (run, capture) = (keylog(), KeyLog::new());
    let keys = Keys { run: &run, capture: &capture };
    let mut s = Session::default();
    let mut plain = 0usize;
    let mut out = |o: Out<'_>| {
        if let Out::Plain(p) = o {
            plain += p.len();
        }
    };
    let mut rest = data;
    while rest.len() >= 2 {
        let (ctl, len) = (rest[0], rest[1] as usize);
        let body = &rest[2..(2 + len).min(rest.len())];
        rest = &rest[2 + body.len()..];
        let side = (ctl & 1) as usize;
        if ctl & 2 != 0 {
            s.gap(side, len as u64, &mut out);
        } else {
            s.data(side, body, &keys, &mut out);
        }
    }
    s.finish();
    // The key log text itself must parse without panics too.
    let mut log = KeyLog::new();
    let _ = log.load(data);
    let _ = (s.status.clone(), s.sni.as_deref(), plain);
});
