//! The capture reader and the whole capture pipeline on one file's bytes
//! (pcap / pcapng / anything): must never panic, hang or grow without bound.
#![no_main]

use dupcall::capture::pipeline::{Options, capture_exchanges};
use dupcall::capture::reassembly::Limits;
use dupcall::diag::Diagnostics;
use dupcall::http::HttpConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits so the limit paths are reachable with small inputs.
    let opts = Options {
        limits: Limits {
            max_conns: 8,
            max_buffer_per_dir: 4096,
            max_buffer_total: 16384,
            idle_timeout_ns: 5_000_000_000,
        },
        http: HttpConfig { body_cap: 1024, max_head: 2048, max_pipeline: 8 },
    };
    let mut diag = Diagnostics::default();
    let mut n = 0usize;
    let _ = capture_exchanges(data, 0, &opts, &mut diag, &mut |ex| {
        n += 1;
        // Everything an exchange exposes must be usable.
        let _ = ex.time();
        let _ = ex.origin();
        let _ = ex.flags.describe();
        if let Some(r) = &ex.request {
            let _ = (r.head.method(), r.head.uri(), r.head.header_count());
        }
        if let Some(r) = &ex.response {
            let _ = r.head.status();
        }
    });
    // And with the defaults (the real CLI configuration).
    let mut diag = Diagnostics::default();
    let _ = capture_exchanges(data, 0, &Options::default(), &mut diag, &mut |_| {});
    let _ = n;
});
