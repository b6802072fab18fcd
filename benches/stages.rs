//! Per-stage throughput (criterion, `Throughput::Bytes`): if a run gets slower, this says
//! which stage. Input: a 16 MiB capture from the deterministic generator (`dupcall
//! generate`), held in memory, so disk speed does not enter.
//!
//! Run: `cargo bench --bench stages` (HTML report in target/criterion/).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dupcall::capture::CaptureReader;
use dupcall::capture::decode::{Decoded, TcpSegment, decode};
use dupcall::capture::pipeline::{Options, capture_exchanges};
use dupcall::capture::reassembly::{
    At, Chunk, CloseReason, ConnInfo, Dir, Limits, Reassembler, StreamHandler,
};
use dupcall::classify::{CallerMode, Classifier};
use dupcall::diag::Diagnostics;
use dupcall::exchange::Exchange;
use dupcall::http::{HttpConfig, HttpHandler};
use dupcall::profile::Profile;
use dupcall::redact::Redactor;
use dupcall_testkit::generate::{GenOptions, generate};

fn capture() -> Vec<u8> {
    let mut out = Vec::new();
    generate(&mut out, &GenOptions { size: 16 << 20, conns: 64, seed: 7 }).expect("generate");
    out
}

/// Frames as (link type, ts, bytes), copied out of the capture once.
/// A frame read once, kept for the later stages' benchmarks.
struct Kept {
    linktype: u32,
    at: At,
    data: Vec<u8>,
    origlen: u32,
}

fn frames(cap: &[u8]) -> Vec<Kept> {
    let mut v = Vec::new();
    let mut r = CaptureReader::new(cap, 0).expect("capture");
    r.for_each_frame(&mut Diagnostics::default(), |f, _| {
        let at = At { ts: f.ts, frame: f.number };
        v.push(Kept { linktype: f.linktype, at, data: f.data.to_vec(), origlen: f.origlen });
    })
    .expect("read");
    v
}

/// Decodes every kept frame; gives each TCP segment with where it was captured.
fn each_segment(frames: &[Kept], mut f: impl FnMut(&TcpSegment<'_>, At)) {
    for k in frames {
        let frame = dupcall::capture::Frame {
            number: k.at.frame,
            ts: k.at.ts,
            linktype: k.linktype,
            origlen: k.origlen,
            data: &k.data,
        };
        if let Decoded::Tcp(s) = decode(&frame) {
            f(&s, k.at);
        }
    }
}

/// Counts bytes, nothing else: isolates reassembly from HTTP.
struct Null(u64);

impl StreamHandler for Null {
    type Conn = ();
    fn open(&mut self, _: &ConnInfo) {}
    fn data(&mut self, _: &mut (), _: &ConnInfo, _: Dir, c: Chunk<'_>, _: &mut Diagnostics) {
        self.0 += c.data.len() as u64;
    }
    fn gap(&mut self, _: &mut (), _: &ConnInfo, _: Dir, _: std::ops::Range<u64>, _: At, _: &mut Diagnostics) {
    }
    fn end(&mut self, _: &mut (), _: &ConnInfo, _: Dir, _: At, _: &mut Diagnostics) {}
    fn close(&mut self, _: (), _: &ConnInfo, _: CloseReason, _: At, _: &mut Diagnostics) {}
}

fn stages(c: &mut Criterion) {
    let cap = capture();
    let frames = frames(&cap);
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(cap.len() as u64));
    g.sample_size(20);

    g.bench_function("reader", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut r = CaptureReader::new(&cap[..], 0).expect("capture");
            r.for_each_frame(&mut Diagnostics::default(), |f, _| n += f.data.len() as u64).expect("read");
            black_box(n)
        })
    });

    g.bench_function("decode", |b| {
        b.iter(|| {
            let mut n = 0usize;
            each_segment(&frames, |s, _| n += s.payload.len());
            black_box(n)
        })
    });

    g.bench_function("reassembly", |b| {
        b.iter(|| {
            let mut r: Reassembler<()> = Reassembler::new(Limits::default(), 0);
            let mut h = Null(0);
            let mut d = Diagnostics::default();
            each_segment(&frames, |s, at| r.segment(s, at, &mut h, &mut d));
            black_box(h.0)
        })
    });

    g.bench_function("reassembly+http", |b| {
        b.iter(|| {
            let mut r = Reassembler::new(Limits::default(), 0);
            let mut h = HttpHandler::new(HttpConfig::default(), 0);
            let mut d = Diagnostics::default();
            let mut n = 0u64;
            each_segment(&frames, |s, at| {
                r.segment(s, at, &mut h, &mut d);
                h.orderer.drain(&mut |_| n += 1);
            });
            black_box(n)
        })
    });

    g.bench_function("pipeline (bytes to exchanges)", |b| {
        b.iter(|| {
            let mut n = 0u64;
            capture_exchanges(&cap[..], 0, &Options::default(), &mut Diagnostics::default(), &mut |_| n += 1)
                .expect("pipeline");
            black_box(n)
        })
    });

    let mut exchanges: Vec<Exchange> = Vec::new();
    capture_exchanges(&cap[..], 0, &Options::default(), &mut Diagnostics::default(), &mut |e| {
        exchanges.push(e)
    })
    .expect("pipeline");
    let redactor = Redactor::with_key("bench");
    g.bench_function("classify", |b| {
        b.iter(|| {
            let mut c = Classifier::new(
                Profile::builtin("powerjob").expect("built in"),
                &redactor,
                CallerMode::AppAndHost,
            );
            let mut n = 0usize;
            for e in &exchanges {
                if let Some(call) = c.classify(e) {
                    n += call.call_key.len();
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
