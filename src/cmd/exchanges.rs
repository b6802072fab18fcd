//! `dupcall exchanges INPUT... [-o FILE]`: every HTTP exchange as CSV.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::time::Instant;

use anyhow::Context;
use dupcall::diag::Diagnostics;
use dupcall::input::{self, InputKind};
use dupcall::pipeline;
use dupcall::report::exchanges::ExchangeCsv;

use super::EXIT_INPUT;
use super::common::{LimitArgs, OutputArgs, echo_warning};

/// Arguments of `exchanges`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Capture files (pcap, pcapng, optionally gzip-compressed); `-` reads stdin.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// Write the CSV here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    out: OutputArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let started = Instant::now();
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(BufWriter::new(File::create(p).with_context(|| format!("cannot create {p}"))?)),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let redactor = args.out.redactor(&[]);
    let mut csv = ExchangeCsv::new(out, &redactor, args.inputs.clone())?;
    let mut diag = Diagnostics::default();
    if args.out.verbose {
        diag.echo = Some(echo_warning);
    }
    let mut failed = false;
    let mut opts = args.limits.options();
    // The CSV shows body sizes, never bodies: keep none.
    opts.http.body_cap = 0;
    let (mut bytes, mut packets, mut conns) = (0u64, 0u64, 0u64);
    for (id, path) in args.inputs.iter().enumerate() {
        let opened = match input::open(path) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("dupcall: {e}");
                failed = true;
                continue;
            }
        };
        if opened.kind == InputKind::Text {
            eprintln!(
                "dupcall: {path}: this is a text file (an access log?); `exchanges` reads captures, `analyze` reads both"
            );
            failed = true;
            continue;
        }
        let mut write_err = None;
        let res = pipeline::capture_exchanges(opened.reader, id as u32, &opts, &mut diag, &mut |ex| {
            if write_err.is_none() {
                if let Err(e) = csv.write(&ex) {
                    write_err = Some(e);
                }
            }
        });
        if let Some(e) = write_err {
            return Err(e).context("writing the CSV");
        }
        match res {
            Ok(s) => {
                bytes += s.capture.input_bytes;
                packets += s.capture.frames;
                conns += s.tcp.connections;
            }
            Err(e) => {
                eprintln!("dupcall: {path}: {e}");
                failed = true;
            }
        }
    }
    let rows = csv.rows();
    csv.finish().context("writing the CSV")?;
    if !args.out.quiet {
        eprintln!("dupcall: {rows} exchanges");
        let warnings: Vec<String> = diag.counts().map(|(k, n)| format!("{k} {n}")).collect();
        if !warnings.is_empty() {
            let hint = if args.out.verbose { "" } else { " (-v lists them)" };
            eprintln!("  warnings: {}{hint}", warnings.join(", "));
        }
        if args.out.stats {
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            eprintln!(
                "  stats: {secs:.3} s, {:.1} MB/s, {packets} packets, {conns} connections, {rows} exchanges",
                bytes as f64 / secs / 1e6
            );
        }
    }
    Ok(if failed { EXIT_INPUT } else { 0 })
}
