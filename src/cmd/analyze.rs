//! `dupcall analyze INPUT...`: label every repeated mutating call, with evidence.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::time::Instant;

use anyhow::Context;
use dupcall::accesslog::pipeline::LogOptions;
use dupcall::analysis::{self, AnalyzeOptions, ProfileChoice, RunResult};
use dupcall::classify::CallerMode;
use dupcall::correlate::{DoubleExecution, Label, Settings};
use dupcall::profile::{Profile, duration_text};
use dupcall::report::rows::RowCsv;
use dupcall::report::table::{TableReport, TableStyle};
use dupcall::report::{ReportWriter, RunContext};

use super::common::{KeylogArgs, LimitArgs, OutputArgs, echo_warning};
use super::progress::Progress;
use super::{EXIT_FAIL_ON, EXIT_INPUT};

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CSV, one row per call (the default).
    Csv,
    /// JSON: rows, summary, warnings, inputs.
    Json,
    /// Markdown to paste into an issue.
    Md,
    /// A table to read in a terminal (the default when stdout is one).
    Table,
}

/// When the terminal table uses colour.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorArg {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    Auto,
    /// Always (also into pipes and files; overrides `NO_COLOR`).
    Always,
    /// Never.
    Never,
}

/// Who counts as one caller.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerArg {
    /// App identity plus client host: two replicas are two callers.
    Host,
    /// App identity only: finds duplicates sent by two replicas.
    App,
}

/// Arguments of `analyze`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Captures (pcap, pcapng, gzip) and access logs; `-` reads stdin.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<String>,
    /// Profile: powerjob, oauth2-bearer, generic, a TOML file, or auto.
    #[arg(long, value_name = "PROFILE", default_value = "auto")]
    profile: String,
    /// How far back an identical earlier call counts as repeated (e.g. 10m, 30s).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration_text::parse)]
    window: std::time::Duration,
    /// Also report reads.
    #[arg(long)]
    all: bool,
    /// Write the report here instead of stdout (the extension picks the format).
    #[arg(short, long, value_name = "FILE")]
    output: Option<String>,
    /// Report format (default: from the -o extension; else a table when stdout is a
    /// terminal, csv otherwise).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Colour in the terminal table (`NO_COLOR` set turns `auto` off).
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    color: ColorArg,
    /// Exit with code 3 when any of these labels is found (comma-separated).
    #[arg(long, value_name = "LABELS", value_delimiter = ',')]
    fail_on: Vec<String>,
    /// Who counts as one caller.
    #[arg(long, value_enum, default_value = "host")]
    caller: CallerArg,
    /// Access-log format: a name (combined, common, json, ...) or an nginx log_format /
    /// Apache LogFormat / Tomcat pattern string.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    keys: KeylogArgs,
    #[command(flatten)]
    out: OutputArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let started = Instant::now();
    let fail_on: Vec<Label> = args
        .fail_on
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| Label::parse(s).with_context(|| format!("--fail-on: unknown label `{s}` (use original, auto-refresh-retry, error-retry, genuine-duplicate, ambiguous, auth, read)")))
        .collect::<anyhow::Result<_>>()?;
    let profile = match args.profile.as_str() {
        "auto" => ProfileChoice::Auto,
        name => ProfileChoice::Fixed(Box::new(Profile::load(name)?)),
    };
    let extra: Vec<String> = match &profile {
        ProfileChoice::Fixed(p) => p.fields.secret.clone(),
        ProfileChoice::Auto => Profile::builtins().into_iter().flat_map(|p| p.fields.secret).collect(),
    };
    let redactor = args.out.redactor(&extra);
    let opts = AnalyzeOptions {
        pipeline: args.limits.options(),
        logs: LogOptions { format: args.log_format.clone(), ..LogOptions::default() },
        profile,
        settings: Settings { window: args.window, all: args.all, ..Settings::default() },
        caller: if args.caller == CallerArg::App { CallerMode::App } else { CallerMode::AppAndHost },
        echo: if args.out.verbose { Some(echo_warning) } else { None },
        progress: None,
        keys: args.keys.material(args.out.quiet)?,
    };
    let progress = Progress::start(&args.inputs, args.out.quiet);
    let opts = AnalyzeOptions { progress: progress.counter(), ..opts };
    let mut writer = open_writer(&args)?;
    let mut write_err = None;
    let mut twice: BTreeMap<Label, u64> = BTreeMap::new();
    let mut found_fail = false;
    let result = analysis::run(&args.inputs, &opts, &redactor, &mut |row| {
        if row.double_execution == Some(DoubleExecution::Yes) {
            *twice.entry(row.label).or_default() += 1;
        }
        found_fail |= fail_on.contains(&row.label);
        if write_err.is_none() {
            if let Err(e) = writer.row(row, &redactor) {
                write_err = Some(e);
            }
        }
    });
    progress.finish();
    if let Some(e) = write_err {
        return Err(e).context("writing the report");
    }
    let ctx = RunContext {
        inputs: &result.inputs,
        summary: &result.summary,
        diagnostics: &result.diagnostics,
        window: duration_text::format(args.window),
        tool: format!("dupcall {}", env!("CARGO_PKG_VERSION")),
    };
    writer.finish(&ctx, &redactor).context("writing the report")?;
    if !args.out.quiet {
        print_summary(&result, &twice, &args, started);
    }
    for i in result.inputs.iter().filter_map(|i| i.error.as_ref()) {
        eprintln!("dupcall: {i}");
    }
    if found_fail {
        return Ok(EXIT_FAIL_ON);
    }
    Ok(if result.input_failed { EXIT_INPUT } else { 0 })
}

/// The format asked for: `--format`, else the `-o` extension, else a table for a terminal
/// and CSV for pipes and files (byte for byte what scripts have always read).
fn choose_format(format: Option<Format>, output: Option<&str>, stdout_is_terminal: bool) -> Format {
    match (format, output) {
        (Some(f), _) => f,
        (None, Some(p)) if p.ends_with(".json") => Format::Json,
        (None, Some(p)) if p.ends_with(".md") || p.ends_with(".markdown") => Format::Md,
        (None, Some(_)) => Format::Csv,
        (None, None) if stdout_is_terminal => Format::Table,
        (None, None) => Format::Csv,
    }
}

/// Colour on? `always` and `never` say so; `auto` when the table goes to a terminal and
/// `NO_COLOR` (<https://no-color.org>) is unset or empty, and `TERM` is not `dumb`.
fn use_color(choice: ColorArg, to_terminal: bool) -> bool {
    let env_set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    match choice {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            to_terminal && !env_set("NO_COLOR") && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

/// The report writer for the chosen format, on `-o FILE` or stdout.
fn open_writer(args: &Args) -> anyhow::Result<Box<dyn ReportWriter>> {
    let stdout_is_terminal = args.output.is_none() && io::stdout().is_terminal();
    let format = choose_format(args.format, args.output.as_deref(), stdout_is_terminal);
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(BufWriter::new(File::create(p).with_context(|| format!("cannot create {p}"))?)),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    Ok(match format {
        Format::Csv => Box::new(RowCsv::new(out, args.inputs.clone())?),
        Format::Json => Box::new(dupcall::report::json::JsonReport::new(out, args.inputs.clone())?),
        Format::Md => Box::new(dupcall::report::markdown::MarkdownReport::new(out, args.inputs.clone())),
        Format::Table => {
            // The terminal's width when stdout is one; a fixed width otherwise, so a
            // table written to a pipe or file is the same everywhere.
            let width = match stdout_is_terminal {
                true => console::Term::stdout().size_checked().map_or(DEFAULT_WIDTH, |(_, w)| usize::from(w)),
                false => DEFAULT_WIDTH,
            };
            let style = TableStyle { width, color: use_color(args.color, stdout_is_terminal) };
            Box::new(TableReport::new(out, style))
        }
    })
}

/// The table's width when it does not go to a terminal.
const DEFAULT_WIDTH: usize = 120;

fn print_summary(r: &RunResult, twice: &BTreeMap<Label, u64>, args: &Args, started: Instant) {
    let s = &r.summary;
    let readable = r.inputs.iter().filter(|i| i.error.is_none()).count();
    eprintln!(
        "dupcall: profile {}; {readable} of {} input(s); {} exchanges: {} mutations, {} auth calls, {} reads",
        if s.profile.is_empty() { "-" } else { &s.profile },
        r.inputs.len(),
        s.exchanges,
        s.mutations,
        s.auth_calls,
        s.reads
    );
    eprintln!("  {:<20} {:>8} {:>15}", "label", "rows", "executed twice");
    for label in Label::ALL {
        let n = s.count_of(label);
        if n == 0 && matches!(label, Label::Read | Label::Ambiguous) {
            continue;
        }
        let t = twice.get(&label).map(|t| t.to_string()).unwrap_or_default();
        eprintln!("  {:<20} {:>8} {:>15}", label.name(), n, t);
    }
    if args.out.verbose {
        // The format each log was read with, as `--log-format` takes it back.
        for i in &r.inputs {
            if let Some(f) = &i.format {
                eprintln!("  log format of {}: --log-format '{}'", i.name, f.replace('\'', "'\\''"));
            }
        }
    }
    let warnings: Vec<String> = r.diagnostics.counts().map(|(k, n)| format!("{k} {n}")).collect();
    if !warnings.is_empty() {
        let hint = if args.out.verbose { "" } else { " (-v lists them)" };
        eprintln!("  warnings: {}{hint}", warnings.join(", "));
    }
    if args.out.stats {
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let bytes: u64 = r.inputs.iter().map(|i| i.bytes).sum();
        let records: u64 = r.inputs.iter().map(|i| i.records).sum();
        let conns: u64 = r.inputs.iter().map(|i| i.connections).sum();
        eprintln!(
            "  stats: {:.3} s, {:.1} MB/s, {records} packets/lines, {conns} connections, {} exchanges",
            secs,
            bytes as f64 / secs / 1e6,
            s.exchanges
        );
    }
}
