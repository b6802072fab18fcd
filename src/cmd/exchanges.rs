//! `dupcall exchanges INPUT... [-o FILE]`: every HTTP exchange as CSV.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use anyhow::Context;
use dupcall::diag::Diagnostics;
use dupcall::input::{self, InputKind};
use dupcall::pipeline::{self, Options};
use dupcall::redact::Redactor;
use dupcall::report::exchanges::ExchangeCsv;

use super::EXIT_INPUT;

/// Arguments of `exchanges`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Capture files (pcap, pcapng, optionally gzip-compressed); `-` reads stdin.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// Write the CSV here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
    /// Fingerprint key, for reproducible token fingerprints.
    #[arg(long, value_name = "KEY")]
    fingerprint_key: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(BufWriter::new(File::create(p).with_context(|| format!("cannot create {p}"))?)),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let redactor = match &args.fingerprint_key {
        Some(k) => Redactor::with_key(k),
        None => Redactor::random(),
    };
    let mut csv = ExchangeCsv::new(out, &redactor, args.inputs.clone())?;
    let mut diag = Diagnostics::default();
    let mut failed = false;
    let opts = Options::default();
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
            eprintln!("dupcall: {path}: this is a text file (an access log?); `exchanges` reads captures");
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
        if let Err(e) = res {
            eprintln!("dupcall: {path}: {e}");
            failed = true;
        }
    }
    let rows = csv.rows();
    csv.finish().context("writing the CSV")?;
    eprintln!("dupcall: {rows} exchanges");
    for (kind, n) in diag.counts() {
        eprintln!("  warning {kind}: {n}");
    }
    Ok(if failed { EXIT_INPUT } else { 0 })
}
