//! `dupcall exchanges INPUT... [-o FILE] [--format csv|jsonl|parquet]`: every HTTP exchange
//! as CSV, or as `dupcall-exchange/1` records (JSON lines or Parquet) that `dupcall analyze`
//! reads back.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::time::Instant;

use anyhow::Context;
use dupcall::analysis::{ExchangeStream, ReadOptions};
use dupcall::har::parquet_records::ParquetWriter;
use dupcall::har::records::write_record;
use dupcall::redact::Redactor;
use dupcall::report::exchanges::ExchangeCsv;

use super::EXIT_INPUT;
use super::common::{KeylogArgs, LimitArgs, OutputArgs, echo_warning};
use super::progress::Progress;

/// Arguments of `exchanges`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Inputs (pcap, pcapng, access logs, HAR, exchange records; gzip too); `-` reads stdin.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// Write the CSV here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
    /// `csv` (a row per exchange, sizes only), `jsonl` or `parquet` (`dupcall-exchange/1`
    /// records with redacted heads and bodies, for `dupcall analyze`, DuckDB or Spark;
    /// docs/har.md, docs/scale.md).
    #[arg(long, value_name = "FORMAT", default_value = "csv", value_parser = ["csv", "jsonl", "parquet"])]
    format: String,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    keys: KeylogArgs,
    #[command(flatten)]
    out: OutputArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let started = Instant::now();
    let out: Box<dyn Write + Send> = match &args.output {
        Some(p) => Box::new(BufWriter::new(File::create(p).with_context(|| format!("cannot create {p}"))?)),
        None => Box::new(BufWriter::new(io::stdout())),
    };
    if args.format != "csv" {
        return records(args, out);
    }
    let redactor = args.out.redactor(&[]);
    let mut csv = ExchangeCsv::new(out, &redactor, args.inputs.clone())?;
    let mut opts = args.limits.options();
    // The CSV shows body sizes, never bodies: keep none.
    opts.http.body_cap = 0;
    let read = ReadOptions {
        pipeline: opts,
        logs: Default::default(),
        echo: if args.out.verbose { Some(echo_warning) } else { None },
        progress: None,
        keys: args.keys.material(args.out.quiet)?,
    };
    let progress = Progress::start(&args.inputs, args.out.quiet);
    let read = ReadOptions { progress: progress.counter(), ..read };
    // Reading and parsing run on a thread per input; rows are written here, in time order.
    let mut stream = ExchangeStream::open(&args.inputs, &read);
    for ex in stream.by_ref() {
        csv.write(&ex).context("writing the CSV")?;
    }
    let stream = stream.finish();
    progress.finish();
    for e in stream.inputs.iter().filter_map(|i| i.error.as_ref()) {
        eprintln!("dupcall: {e}");
    }
    let bytes: u64 = stream.inputs.iter().map(|i| i.bytes).sum();
    let packets: u64 = stream.inputs.iter().map(|i| i.records).sum();
    let conns: u64 = stream.inputs.iter().map(|i| i.connections).sum();
    let diag = stream.diagnostics;
    let failed = stream.input_failed;
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

/// `--format jsonl|parquet`: every exchange as a record, bodies kept (redacted) for the call
/// key.
fn records(args: Args, out: Box<dyn Write + Send>) -> anyhow::Result<u8> {
    // Every built-in profile's secret field names: the records do not know the profile
    // they will be analysed with.
    let extra: Vec<String> =
        dupcall::profile::Profile::builtins().into_iter().flat_map(|p| p.fields.secret).collect();
    let redactor = args.out.redactor(&extra);
    let read = ReadOptions {
        pipeline: args.limits.options(),
        logs: Default::default(),
        echo: if args.out.verbose { Some(echo_warning) } else { None },
        progress: None,
        keys: args.keys.material(args.out.quiet)?,
    };
    let mut stream = ExchangeStream::open(&args.inputs, &read);
    let mut sink = Sink::new(&args.format, out)?;
    let mut n = 0u64;
    for ex in stream.by_ref() {
        sink.write(&ex, &redactor).context("writing the records")?;
        n += 1;
    }
    sink.finish().context("writing the records")?;
    let stream = stream.finish();
    for e in stream.inputs.iter().filter_map(|i| i.error.as_ref()) {
        eprintln!("dupcall: {e}");
    }
    if !args.out.quiet {
        eprintln!("dupcall: {n} exchange records");
    }
    Ok(if stream.input_failed { EXIT_INPUT } else { 0 })
}

/// Where records go: JSON lines or Parquet.
enum Sink {
    Jsonl(Box<dyn Write + Send>),
    Parquet(Box<ParquetWriter<Box<dyn Write + Send>>>),
}

impl Sink {
    fn new(format: &str, out: Box<dyn Write + Send>) -> anyhow::Result<Sink> {
        Ok(match format {
            "parquet" => Sink::Parquet(Box::new(ParquetWriter::new(out)?)),
            _ => Sink::Jsonl(out),
        })
    }

    fn write(&mut self, ex: &dupcall::exchange::Exchange, r: &Redactor) -> anyhow::Result<()> {
        match self {
            Sink::Jsonl(out) => write_record(out, ex, r)?,
            Sink::Parquet(w) => w.write(ex, r)?,
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Jsonl(mut out) => out.flush()?,
            Sink::Parquet(w) => {
                w.finish()?;
            }
        }
        Ok(())
    }
}
