//! `dupcall-gen`: a large deterministic capture for benchmarks (benches/*.sh,
//! docs/benchmarks.md).
//!
//! ```text
//! cargo run --release -p dupcall-testkit -- --size 1G --seed 1 -o /tmp/big.pcap
//! ```

use std::fs::File;
use std::io::BufWriter;

use anyhow::Context;
use clap::Parser;
use dupcall_testkit::generate::{GenOptions, generate};

/// Writes a large deterministic capture for benchmarks.
#[derive(Parser, Debug)]
#[command(name = "dupcall-gen", version)]
struct Args {
    /// Approximate size: bytes, or with a K/M/G suffix.
    #[arg(long, default_value = "100M", value_parser = parse_size)]
    size: u64,
    /// Keep-alive connections at once.
    #[arg(long, default_value_t = 64)]
    conns: usize,
    /// PRNG seed (the same seed gives the same file).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file.
    #[arg(short, long)]
    output: String,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().map(|n| n * mult).map_err(|_| format!("`{s}` is not a size (e.g. 500M, 2G)"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let f = File::create(&args.output).with_context(|| format!("cannot create {}", args.output))?;
    let opts = GenOptions { size: args.size, conns: args.conns.max(1), seed: args.seed };
    let s = generate(BufWriter::with_capacity(1 << 20, f), &opts)?;
    eprintln!(
        "dupcall-gen: wrote {} ({} bytes, {} packets, {} exchanges, {} refresh-retry patterns)",
        args.output, s.bytes, s.packets, s.exchanges, s.retries
    );
    Ok(())
}
