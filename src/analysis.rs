//! The analysis run: input paths in, labelled [`Row`]s and a [`Summary`] out.
//!
//! Each input is read on its own thread (captures through the capture pipeline, access logs
//! through [`logs`]), producing exchanges in time order into a bounded
//! channel; the run merges the streams by time, picks the profile (`auto` looks at the
//! first exchanges), classifies each exchange and labels it, handing rows to the caller as
//! they are decided. Memory: the channels, the detection buffer and the correlator's
//! window, whatever the input size.

use std::collections::BinaryHeap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use crate::accesslog::pipeline::{self as logs, LogOptions};
use crate::capture::pipeline::{self, Options};
use crate::classify::{Call, CallKind, CallerMode, Classifier};
use crate::correlate::{Correlator, Row, Settings};
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{Exchange, InputId, Timestamp};
use crate::http::decode::{DEFAULT_DECODED_CAP, trailer_exceeds_cap};
use crate::input::{self, InputKind};
use crate::profile::{Profile, detect_profile};
use crate::redact::Redactor;
use crate::report::{InputFailure, InputInfo, Summary};
use crate::tls::KeyMaterial;

/// How to choose the profile.
#[derive(Clone, Debug)]
pub enum ProfileChoice {
    /// Pick by what the traffic looks like.
    Auto,
    /// This one.
    Fixed(Box<Profile>),
}

/// Everything an analysis run needs besides the inputs.
#[derive(Clone, Debug)]
pub struct AnalyzeOptions {
    /// Capture pipeline limits.
    pub pipeline: Options,
    /// Access-log options.
    pub logs: LogOptions,
    /// Profile choice.
    pub profile: ProfileChoice,
    /// Correlation settings (window, reads).
    pub settings: Settings,
    /// Caller identity.
    pub caller: CallerMode,
    /// Called with every warning as it happens (`-v`).
    pub echo: Option<fn(&crate::diag::Warning)>,
    /// Every byte read from the input files is added here (for a progress bar).
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// TLS key logs (`--keylog`, SSLKEYLOGFILE).
    pub keys: KeyMaterial,
}

/// What a run produced besides the rows.
#[derive(Debug, Default)]
pub struct RunResult {
    /// Inputs in the order given.
    pub inputs: Vec<InputInfo>,
    /// Counts.
    pub summary: Summary,
    /// Warnings of all inputs.
    pub diagnostics: Diagnostics,
    /// Did any input fail to be read at all?
    pub input_failed: bool,
}

/// Exchanges buffered for `--profile auto` before deciding.
const DETECT_BUFFER: usize = 2000;
/// Batches in flight per input.
const CHANNEL: usize = 4;

/// Exchanges travel in batches: one channel hand-off per batch, not per exchange.
const BATCH: usize = 256;

enum Msg {
    Batch(Vec<Exchange>),
    Done(Box<(InputInfo, Diagnostics)>),
}

/// How inputs are read (the part of [`AnalyzeOptions`] the reader threads need).
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Capture pipeline limits.
    pub pipeline: Options,
    /// Access-log options.
    pub logs: LogOptions,
    /// Called with every warning as it happens (`-v`).
    pub echo: Option<fn(&crate::diag::Warning)>,
    /// Every byte read from the input files is added here (for a progress bar).
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// TLS key logs (`--keylog`, SSLKEYLOGFILE).
    pub keys: KeyMaterial,
}

/// The exchanges of several inputs, merged by time: each input is read on its own thread
/// (captures: reader → reassembly → HTTP; logs: parser) and handed over in batches, so one
/// large file keeps two cores busy (reading and whatever consumes the stream).
pub struct ExchangeStream {
    receivers: Vec<Receiver<Msg>>,
    handles: Vec<thread::JoinHandle<()>>,
    heads: BinaryHeap<std::cmp::Reverse<(Timestamp, InputId, u64)>>,
    slots: Vec<Option<Exchange>>,
    queues: Vec<std::collections::VecDeque<Exchange>>,
    open: Vec<bool>,
    seq: u64,
    started: bool,
    /// Inputs in the order given, filled in as each one ends.
    pub inputs: Vec<InputInfo>,
    /// Warnings of the inputs that ended.
    pub diagnostics: Diagnostics,
    /// Did an input fail to be read at all?
    pub input_failed: bool,
}

impl ExchangeStream {
    /// Starts a reader thread per path.
    pub fn open(paths: &[String], opts: &ReadOptions) -> Self {
        let mut receivers = Vec::new();
        let mut handles = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            let (tx, rx) = sync_channel::<Msg>(CHANNEL);
            receivers.push(rx);
            let (path, opts) = (path.clone(), opts.clone());
            handles.push(thread::spawn(move || read_input(i as InputId, &path, &opts, tx)));
        }
        let mut diagnostics = Diagnostics::default();
        diagnostics.echo = opts.echo;
        opts.keys.warn_into(&mut diagnostics);
        diagnostics.echo = None;
        ExchangeStream {
            receivers,
            handles,
            heads: BinaryHeap::new(),
            slots: (0..paths.len()).map(|_| None).collect(),
            queues: (0..paths.len()).map(|_| Default::default()).collect(),
            open: vec![true; paths.len()],
            seq: 0,
            started: false,
            inputs: vec![InputInfo::default(); paths.len()],
            diagnostics,
            input_failed: false,
        }
    }

    /// Moves input `i`'s next exchange into its slot; false when the input has ended.
    fn fetch(&mut self, i: usize) -> bool {
        if let Some(e) = self.queues[i].pop_front() {
            self.slots[i] = Some(e);
            return true;
        }
        while self.open[i] {
            match self.receivers[i].recv() {
                Ok(Msg::Batch(batch)) => {
                    self.queues[i].extend(batch);
                    if let Some(e) = self.queues[i].pop_front() {
                        self.slots[i] = Some(e);
                        return true;
                    }
                }
                Ok(Msg::Done(done)) => {
                    let (info, diag) = *done;
                    self.input_failed |= info.failed();
                    self.inputs[i] = info;
                    self.diagnostics.merge(diag);
                    self.open[i] = false;
                }
                Err(_) => self.open[i] = false,
            }
        }
        false
    }

    fn push_head(&mut self, i: usize) {
        if self.fetch(i) {
            self.seq += 1;
            let t = self.slots[i].as_ref().map(Exchange::time).unwrap_or_default();
            self.heads.push(std::cmp::Reverse((t, i as InputId, self.seq)));
        }
    }

    /// Waits for every reader thread (after the stream was drained).
    pub fn finish(mut self) -> Self {
        for i in 0..self.open.len() {
            while self.fetch(i) {
                self.slots[i] = None;
            }
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        self
    }
}

impl Iterator for ExchangeStream {
    type Item = Exchange;

    fn next(&mut self) -> Option<Exchange> {
        if !self.started {
            self.started = true;
            for i in 0..self.open.len() {
                self.push_head(i);
            }
        }
        let std::cmp::Reverse((_, i, _)) = self.heads.pop()?;
        let i = i as usize;
        let ex = self.slots[i].take();
        self.push_head(i);
        ex
    }
}

/// What the classifier thread hands to the correlating thread.
enum Classified {
    /// The profile chosen (sent once, before any call).
    Profile(Box<Profile>),
    /// Calls in request-time order.
    Calls(Vec<Call>),
}

/// Counts the classifier thread keeps.
#[derive(Default)]
struct ClassifyCounts {
    exchanges: u64,
    mutations: u64,
    auth_calls: u64,
    reads: u64,
    orphans: u64,
}

/// Runs an analysis over `paths`, calling `on_row` for every row as it is decided.
///
/// Three stages on their own threads: reading (a thread per input: capture pipeline or log
/// parser), classifying (merge by time, profile detection, [`Classifier`]), and correlating
/// and writing (the caller's thread: [`Correlator`], `on_row`). Each stage hands the next
/// batches through a bounded channel, so one large capture keeps both cores busy.
pub fn run(
    paths: &[String],
    opts: &AnalyzeOptions,
    redactor: &Redactor,
    on_row: &mut dyn FnMut(&Row),
) -> RunResult {
    let read = ReadOptions {
        pipeline: opts.pipeline,
        logs: opts.logs.clone(),
        echo: opts.echo,
        progress: opts.progress.clone(),
        keys: opts.keys.clone(),
    };
    thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Classified>(CHANNEL);
        let classifier = scope.spawn(move || classify_stage(paths, &read, opts, redactor, tx));
        let mut summary = Summary::default();
        let mut correlator: Option<Correlator> = None;
        for msg in rx {
            match msg {
                Classified::Profile(profile) => {
                    summary.profile = profile.name.clone();
                    let mut settings = opts.settings.clone();
                    settings.retry_latency = profile.client.retry_latency;
                    settings.marker = profile.client.marker.clone();
                    settings.marker_value = profile.client.marker_value.clone();
                    settings.missing_marker_hint = profile.client.missing_marker_hint.clone();
                    settings.marker_case_hint = profile.client.marker_case_hint.clone();
                    settings.refresh_on_success = profile.client.rule == crate::profile::RetryRule::Marker;
                    correlator = Some(Correlator::new(settings));
                }
                Classified::Calls(calls) => {
                    let Some(k) = correlator.as_mut() else { continue };
                    for call in calls {
                        if let Some(row) = k.push(call) {
                            summary.count(&row);
                            on_row(&row);
                        }
                    }
                }
            }
        }
        let (stream, counts) = match classifier.join() {
            Ok(r) => r,
            Err(e) => std::panic::resume_unwind(e),
        };
        let mut stream = stream;
        summary.exchanges = counts.exchanges;
        summary.mutations = counts.mutations;
        summary.auth_calls = counts.auth_calls;
        summary.reads = counts.reads;
        summary.orphans = counts.orphans;
        // The correlator's own limits (it keeps no diagnostics): one warning each.
        let (forgotten, dropped) =
            correlator.as_ref().map_or((0, 0), |c| (c.forgotten(), c.auth_keys_dropped()));
        let limits = [
            (
                forgotten,
                format!(
                    "{forgotten} earlier mutations were forgotten before their window ended (more than {} in one --window): a repeat of one of them is reported as original; narrow --window",
                    crate::correlate::MAX_REMEMBERED
                ),
            ),
            (
                dropped,
                format!(
                    "the auth calls of {dropped} callers were forgotten before their window ended (more than {} callers with auth calls in one --window): a retry of theirs after a refresh may be reported as a genuine duplicate; narrow --window",
                    crate::correlate::MAX_AUTH_KEYS
                ),
            ),
        ];
        for (n, text) in limits {
            if n > 0 {
                stream.diagnostics.warn(WarningKind::BufferLimit, 0, None, None, text);
            }
        }
        RunResult {
            inputs: stream.inputs,
            summary,
            diagnostics: stream.diagnostics,
            input_failed: stream.input_failed,
        }
    })
}

/// The classifying stage: merges the inputs, picks the profile, classifies in order.
fn classify_stage(
    paths: &[String],
    read: &ReadOptions,
    opts: &AnalyzeOptions,
    redactor: &Redactor,
    tx: SyncSender<Classified>,
) -> (ExchangeStream, ClassifyCounts) {
    let mut stream = ExchangeStream::open(paths, read);
    let mut counts = ClassifyCounts::default();
    let mut classifier: Option<Classifier<'_>> = None;
    let mut pending: Vec<Exchange> = Vec::new();
    let mut batch: Vec<Call> = Vec::with_capacity(BATCH);
    let all = opts.settings.all;
    let start = |sample: &[Exchange]| {
        let profile = match &opts.profile {
            ProfileChoice::Fixed(p) => (**p).clone(),
            ProfileChoice::Auto => detect_profile(sample),
        };
        let _ = tx.send(Classified::Profile(Box::new(profile.clone())));
        Classifier::new(profile, redactor, opts.caller)
    };
    // Warnings found while classifying, merged into the stream's at the end.
    let mut diag = Diagnostics::default();
    let mut one =
        |c: &mut Classifier<'_>, ex: &Exchange, counts: &mut ClassifyCounts, batch: &mut Vec<Call>| {
            // Reads are only counted unless they are reported: no need to classify them.
            if !all && c.kind_of(ex) == Some(CallKind::Read) {
                counts.reads += 1;
                return;
            }
            let Some(call) = c.classify(ex) else {
                counts.orphans += 1;
                return;
            };
            for what in c.decode_limited() {
                let m = if what == "request" { &ex.request } else { &ex.response };
                // A gzip trailer over the cap was already reported by the pipeline.
                if let Some(m) =
                    m.as_ref().filter(|m| !trailer_exceeds_cap(&m.head, &m.body, DEFAULT_DECODED_CAP))
                {
                    pipeline::warn_decoded_cap(&mut diag, ex.input, ex.conn, m, what);
                }
            }
            match call.kind {
                CallKind::Auth => counts.auth_calls += 1,
                CallKind::Mutation => counts.mutations += 1,
                CallKind::Read => counts.reads += 1,
            }
            batch.push(call);
            if batch.len() >= BATCH {
                let _ = tx.send(Classified::Calls(std::mem::replace(batch, Vec::with_capacity(BATCH))));
            }
        };
    for ex in stream.by_ref() {
        counts.exchanges += 1;
        match &mut classifier {
            Some(c) => one(c, &ex, &mut counts, &mut batch),
            None => {
                pending.push(ex);
                if pending.len() >= DETECT_BUFFER {
                    let c = classifier.insert(start(&pending));
                    for ex in pending.drain(..) {
                        one(c, &ex, &mut counts, &mut batch);
                    }
                }
            }
        }
    }
    if classifier.is_none() {
        let c = classifier.insert(start(&pending));
        for ex in pending.drain(..) {
            one(c, &ex, &mut counts, &mut batch);
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(Classified::Calls(batch));
    }
    let mut stream = stream.finish();
    stream.diagnostics.merge(diag);
    (stream, counts)
}

/// Reads one input on its own thread, sending exchanges in time order.
fn read_input(id: InputId, path: &str, opts: &ReadOptions, tx: SyncSender<Msg>) {
    let mut info = InputInfo { name: path.to_string(), ..InputInfo::default() };
    let mut diag = Diagnostics::default();
    diag.echo = opts.echo;
    match input::open_counted(path, opts.progress.clone()) {
        Err(e) => info.fail(InputFailure::Open(e)),
        Ok(opened) => {
            info.kind = Some(opened.kind);
            info.gzip = opened.gzip;
            let mut exchanges = 0u64;
            let mut batch: Vec<Exchange> = Vec::with_capacity(BATCH);
            let mut send = |e: Exchange| {
                exchanges += 1;
                batch.push(e);
                if batch.len() >= BATCH {
                    let _ = tx.send(Msg::Batch(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))));
                }
            };
            match opened.kind {
                InputKind::Pcap | InputKind::PcapNg => {
                    let run = pipeline::capture_exchanges_keyed(
                        opened.reader,
                        id,
                        &opts.pipeline,
                        &opts.keys,
                        &mut diag,
                        &mut send,
                    );
                    match run {
                        Ok(s) => {
                            info.tls_connections = s.tls.connections;
                            info.tls_decrypted = s.tls.decrypted;
                            info.records = s.capture.frames;
                            info.bytes = s.capture.input_bytes;
                            info.connections = s.tcp.connections;
                            info.first = s.capture.first_ts;
                            info.last = s.capture.last_ts;
                        }
                        Err(e) => info.fail(InputFailure::Capture { path: path.to_string(), source: e }),
                    }
                }
                InputKind::Har => {
                    let har = crate::har::HarOptions {
                        body_cap: opts.pipeline.http.body_cap,
                        reorder: opts.logs.reorder,
                    };
                    match crate::har::har_exchanges(opened.reader, id, &har, &mut diag, &mut send) {
                        Ok(s) => {
                            info.records = s.entries;
                            info.connections = s.connections;
                            info.first = s.first;
                            info.last = s.last;
                            info.format = Some(format!(
                                "har ({})",
                                if s.creator.is_empty() { "no creator" } else { &s.creator }
                            ));
                        }
                        Err(e) => info.error = Some(format!("{path}: {e}")),
                    }
                }
                InputKind::Records => {
                    match crate::har::records::read_records(opened.reader, id, &mut diag, &mut send) {
                        Ok(s) => {
                            info.records = s.lines;
                            info.first = s.first;
                            info.last = s.last;
                        }
                        Err(e) => info.error = Some(format!("{path}: {e}")),
                    }
                }
                InputKind::ParquetRecords => {
                    let file = if path == "-" || opened.gzip {
                        crate::har::parquet_records::spool(opened.reader)
                    } else {
                        std::fs::File::open(path).map_err(Into::into)
                    };
                    let read = file
                        .and_then(|f| crate::har::parquet_records::read_parquet(f, id, &mut diag, &mut send));
                    match read {
                        Ok(s) => {
                            info.records = s.lines;
                            info.first = s.first;
                            info.last = s.last;
                        }
                        Err(e) => info.error = Some(format!("{path}: {e}")),
                    }
                }
                InputKind::Text => {
                    match logs::log_exchanges(opened.reader, id, path, &opts.logs, &mut diag, &mut send) {
                        Ok(s) => {
                            info.records = s.lines;
                            info.bytes = s.bytes;
                            info.first = s.first;
                            info.last = s.last;
                            info.format = Some(s.format);
                        }
                        Err(e) => info.fail(InputFailure::Log { path: path.to_string(), source: e }),
                    }
                }
            }
            if !batch.is_empty() {
                let _ = tx.send(Msg::Batch(batch));
            }
            info.exchanges = exchanges;
        }
    }
    let _ = tx.send(Msg::Done(Box::new((info, diag))));
}
