//! HAR 1.2 (HTTP Archive) files as exchanges: a HAR in, [`Exchange`]s in request-start
//! order out.
//!
//! Takes the bytes of a HAR (what browsers' devtools, Playwright, mitmproxy's `hardump`,
//! Charles and Fiddler export; a UTF-8 BOM and CRLF are fine, gzip is undone by
//! [`input`](crate::input)); gives one exchange per `log.entries[]` element, made by
//! [`entry::to_exchange`]. The document is never held whole: [`model::stream`] hands each
//! entry over while the parser is inside the `entries` array, and a bounded buffer re-orders
//! entries by start (mitmproxy writes them as they *finish*). A HAR has no client address:
//! the exchange's client is unspecified and [`Logged::producer`](crate::exchange::Logged)
//! names `log.creator`. Origins are [`Origin::Entry`] (0-based, as `jq '.log.entries[N]'`).
//! An entry of the wrong shape, a missing `postData`, a cut file: counted warnings, every
//! entry before the cut kept. docs/har.md lists the producers and what a HAR cannot show.

pub mod entry;
pub mod model;
pub mod parquet_records;
pub mod records;

use std::collections::{BinaryHeap, HashMap};
use std::io::BufRead;
use std::time::Duration;

use thiserror::Error;

use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{Exchange, InputId, Origin, Timestamp};
use model::{Creator, Entry, Sink};

/// HAR options.
#[derive(Clone, Copy, Debug)]
pub struct HarOptions {
    /// Body bytes kept per message (`--body-cap`).
    pub body_cap: usize,
    /// How far an entry may be out of start order (longest request duration).
    pub reorder: Duration,
}

impl Default for HarOptions {
    fn default() -> Self {
        HarOptions { body_cap: 64 << 10, reorder: Duration::from_secs(120) }
    }
}

/// What one HAR held.
#[derive(Clone, Debug, Default)]
pub struct HarSummary {
    /// Entries read (also those skipped).
    pub entries: u64,
    /// Entries skipped (wrong shape).
    pub skipped: u64,
    /// Entries found before an entry that started later (re-ordered).
    pub out_of_order: u64,
    /// Earliest request start.
    pub first: Option<Timestamp>,
    /// Latest request start.
    pub last: Option<Timestamp>,
    /// `log.creator`: `name version`.
    pub creator: String,
    /// Distinct connection ids seen.
    pub connections: u64,
}

/// A HAR that cannot be read at all.
#[derive(Debug, Error)]
pub enum HarError {
    /// No `log.entries` array before the JSON ended or broke.
    #[error("not a HAR: {0}; a HAR is a JSON object {{\"log\": {{\"entries\": [...]}}}}")]
    NotHar(String),
    /// Reading failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// Entries held for re-ordering at most: past it the oldest is passed on early.
pub const MAX_REORDER_ENTRIES: usize = 10_000;
/// Body bytes held for re-ordering at most (HAR entries carry whole bodies).
pub const MAX_REORDER_BYTES: u64 = 64 << 20;
/// Distinct connection ids remembered (then numbering starts again).
const MAX_CONNECTIONS: usize = 65_536;

/// Reads a HAR, emitting exchanges in request-start order.
pub fn har_exchanges<R: BufRead>(
    mut reader: R,
    input: InputId,
    opts: &HarOptions,
    diag: &mut Diagnostics,
    emit: &mut dyn FnMut(Exchange),
) -> Result<HarSummary, HarError> {
    // serde_json does not skip a UTF-8 byte order mark.
    if reader.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    let mut state = State::new(input, opts, diag, emit);
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = model::stream(&mut de, &mut state);
    let parsed = parsed.and_then(|()| de.end());
    if let Err(e) = parsed {
        state.broken(e)?;
    }
    Ok(state.finish())
}

struct Pending {
    time: Timestamp,
    index: u64,
    ex: Box<Exchange>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.index) == (o.time, o.index)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.time, self.index).cmp(&(o.time, o.index))
    }
}

/// The reader's state while the parser walks the entries.
struct State<'a> {
    input: InputId,
    opts: HarOptions,
    diag: &'a mut Diagnostics,
    emit: &'a mut dyn FnMut(Exchange),
    summary: HarSummary,
    producer: Option<String>,
    saw_entries: bool,
    connections: HashMap<String, u64>,
    next_conn: u64,
    /// URL authority → the server address an entry to it named (Playwright names it only on
    /// the entry that opened a connection).
    servers: HashMap<String, std::net::SocketAddr>,
    heap: BinaryHeap<std::cmp::Reverse<Pending>>,
    held_bytes: u64,
    newest: i64,
    released: i64,
    /// Entries that came after one that started later: (count, first index).
    late_in_file: Option<(u64, u64)>,
    /// Entries that started before one already passed on: (count, first index).
    too_late: Option<(u64, u64)>,
    missing_post: Option<(u64, u64)>,
    bad_time: Option<(u64, u64)>,
}

fn count(slot: &mut Option<(u64, u64)>, index: u64) {
    slot.get_or_insert((0, index)).0 += 1;
}

impl<'a> State<'a> {
    fn new(
        input: InputId,
        opts: &HarOptions,
        diag: &'a mut Diagnostics,
        emit: &'a mut dyn FnMut(Exchange),
    ) -> Self {
        State {
            input,
            opts: *opts,
            diag,
            emit,
            summary: HarSummary::default(),
            producer: None,
            saw_entries: false,
            connections: HashMap::new(),
            next_conn: 0,
            servers: HashMap::new(),
            heap: BinaryHeap::new(),
            held_bytes: 0,
            newest: i64::MIN,
            released: i64::MIN,
            late_in_file: None,
            too_late: None,
            missing_post: None,
            bad_time: None,
        }
    }

    fn conn_of(&mut self, e: &Entry) -> u64 {
        let Some(id) = entry::connection_id(e) else { return 0 };
        if let Some(&n) = self.connections.get(&id) {
            return n;
        }
        if self.connections.len() >= MAX_CONNECTIONS {
            self.connections.clear();
        }
        self.next_conn += 1;
        self.connections.insert(id, self.next_conn);
        self.next_conn
    }

    fn push(&mut self, index: u64, e: &Entry) {
        let conn = self.conn_of(e);
        let cx = entry::Context {
            input: self.input,
            producer: self.producer.as_deref(),
            body_cap: self.opts.body_cap,
        };
        let (mut ex, notes) = entry::to_exchange(e, index, conn, &cx);
        let authority = entry::split_url(&e.request.url).0;
        if ex.server.ip().is_unspecified() {
            if let Some(a) = self.servers.get(authority) {
                ex.server = *a;
            }
        } else if self.servers.get(authority) != Some(&ex.server) {
            if self.servers.len() >= MAX_CONNECTIONS {
                self.servers.clear();
            }
            self.servers.insert(authority.to_string(), ex.server);
        }
        if notes.missing_post_data {
            count(&mut self.missing_post, index);
        }
        if notes.bad_time {
            count(&mut self.bad_time, index);
        }
        let t = ex.time();
        let s = &mut self.summary;
        s.first = Some(s.first.map_or(t, |f| f.min(t)));
        s.last = Some(s.last.map_or(t, |l| l.max(t)));
        if t.0 < self.newest {
            count(&mut self.late_in_file, index);
        }
        if t.0 < self.released {
            count(&mut self.too_late, index);
        }
        self.newest = self.newest.max(t.0);
        self.held_bytes += size_of(&ex);
        self.heap.push(std::cmp::Reverse(Pending { time: t, index, ex: Box::new(ex) }));
        let reorder = self.opts.reorder.as_nanos().min(i64::MAX as u128) as i64;
        while self.heap.peek().is_some_and(|p| p.0.time.0 < self.newest.saturating_sub(reorder))
            || self.heap.len() > MAX_REORDER_ENTRIES
            || self.held_bytes > MAX_REORDER_BYTES
        {
            if !self.release() {
                break;
            }
        }
    }

    fn release(&mut self) -> bool {
        let Some(p) = self.heap.pop() else { return false };
        self.released = self.released.max(p.0.time.0);
        self.held_bytes = self.held_bytes.saturating_sub(size_of(&p.0.ex));
        (self.emit)(*p.0.ex);
        true
    }

    /// The JSON ended or broke: a cut file keeps what came before; no entries at all is
    /// not a HAR.
    fn broken(&mut self, e: serde_json::Error) -> Result<(), HarError> {
        if !self.saw_entries {
            return Err(match e.classify() {
                serde_json::error::Category::Io => HarError::Io(e.into()),
                _ => HarError::NotHar(e.to_string()),
            });
        }
        let n = self.summary.entries;
        let (kind, what) = match e.classify() {
            serde_json::error::Category::Eof => (WarningKind::TruncatedFile, "the file ends"),
            serde_json::error::Category::Io => (WarningKind::TruncatedFile, "reading failed"),
            _ => (WarningKind::InputAnomaly, "the JSON breaks"),
        };
        let detail = format!(
            "{what} after {n} entr{} ({e}): the entries before it are analysed, anything after it is not",
            if n == 1 { "y" } else { "ies" }
        );
        self.diag.warn(kind, self.input, Some(Origin::Entry(n)), None, detail);
        Ok(())
    }

    fn warn_counted(&mut self, kind: WarningKind, slot: Option<(u64, u64)>, what: &str) {
        if let Some((n, first)) = slot {
            let s = if n == 1 { "y" } else { "ies" };
            let detail = format!("{n} entr{s} (the first .log.entries[{first}]) {what}");
            self.diag.warn(kind, self.input, Some(Origin::Entry(first)), None, detail);
        }
    }

    fn finish(mut self) -> HarSummary {
        while self.release() {}
        self.summary.out_of_order = self.late_in_file.map_or(0, |l| l.0);
        self.summary.connections = self.next_conn;
        let reorder = self.opts.reorder.as_secs();
        self.warn_counted(
            WarningKind::InputAnomaly,
            self.late_in_file,
            "came after an entry that started later (the producer writes entries as they finish, as mitmproxy does): re-ordered by start",
        );
        let late = format!(
            "started more than {reorder} s before an entry already passed on, or more than {MAX_REORDER_ENTRIES} entries ({} MiB of bodies) were waiting to be re-ordered (fixed limits): analysed out of start order",
            MAX_REORDER_BYTES >> 20
        );
        self.warn_counted(WarningKind::BufferLimit, self.too_late, &late);
        self.warn_counted(
            WarningKind::InputAnomaly,
            self.missing_post,
            "sent a POST, PUT or PATCH with a body but have no postData (the producer did not record it): their call key lacks the body, so two different calls to one target look alike",
        );
        self.warn_counted(
            WarningKind::InputAnomaly,
            self.bad_time,
            "have a startedDateTime that is not an ISO 8601 time: timed at 1970-01-01",
        );
        self.summary
    }
}

fn size_of(ex: &Exchange) -> u64 {
    let m = |m: &Option<crate::exchange::Message>| {
        m.as_ref().map_or(0, |m| m.body.data.len() + m.head.raw().len())
    };
    (m(&ex.request) + m(&ex.response) + 256) as u64
}

impl Sink for State<'_> {
    fn creator(&mut self, c: Creator) {
        let name = c.name.trim();
        let version = c.version.trim();
        let producer = if version.is_empty() { name.to_string() } else { format!("{name} {version}") };
        self.summary.creator = producer.clone();
        if !name.is_empty() {
            self.producer = Some(name.chars().take(60).collect());
        }
    }

    fn saw_entries(&mut self) {
        self.saw_entries = true;
    }

    fn entry(&mut self, e: Result<Entry, serde_json::Error>) {
        let index = self.summary.entries;
        self.summary.entries += 1;
        match e {
            Ok(e) => self.push(index, &e),
            Err(err) => {
                self.summary.skipped += 1;
                let detail = format!(".log.entries[{index}] is not a HAR entry ({err}): skipped");
                self.diag.warn(
                    WarningKind::InputAnomaly,
                    self.input,
                    Some(Origin::Entry(index)),
                    None,
                    detail,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
