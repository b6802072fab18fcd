//! What a run counts besides its rows: the [`Summary`] (rows per label, endpoint and
//! caller) and one [`InputInfo`] per input, as every report format lists them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use thiserror::Error;

use crate::accesslog::pipeline::LogError;
use crate::capture::reader::CaptureError;
use crate::correlate::{DoubleExecution, Label, Row};
use crate::exchange::Timestamp;
use crate::input::{InputError, InputKind};

/// Why an input could not be read, typed: opening it failed, or its capture or log could
/// not be read at all. Its text is what the reports print.
#[derive(Debug, Error)]
pub enum InputFailure {
    /// It could not be opened, or its kind not told (the error names the path).
    #[error(transparent)]
    Open(#[from] InputError),
    /// A capture that cannot be read at all.
    #[error("{path}: {source}")]
    Capture {
        /// The input's name.
        path: String,
        /// Why.
        source: CaptureError,
    },
    /// An access log that cannot be read at all.
    #[error("{path}: {source}")]
    Log {
        /// The input's name.
        path: String,
        /// Why.
        source: LogError,
    },
}

/// One input as the report lists it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct InputInfo {
    /// The name given.
    pub name: String,
    /// What the input holds; `None` when it could not be opened. Serialised as its report
    /// name (`pcap`, `pcapng`, `access-log`), or empty.
    #[serde(serialize_with = "kind_name")]
    pub kind: Option<InputKind>,
    /// Gzip-compressed?
    pub gzip: bool,
    /// Packets (captures) or lines (logs) read.
    pub records: u64,
    /// Bytes read (decompressed).
    pub bytes: u64,
    /// TCP connections (captures).
    pub connections: u64,
    /// HTTP exchanges found.
    pub exchanges: u64,
    /// First record time.
    pub first: Option<Timestamp>,
    /// Last record time.
    pub last: Option<Timestamp>,
    /// The log format used (logs).
    pub format: Option<String>,
    /// Why it could not be read, if it could not, as the reports print it.
    pub error: Option<String>,
    /// TLS connections seen (captures).
    pub tls_connections: u64,
    /// TLS connections decrypted with a key log.
    pub tls_decrypted: u64,
    /// The same, typed, for the code that decides on it (not serialised: `error` is).
    #[serde(skip)]
    pub failure: Option<Arc<InputFailure>>,
}

impl InputInfo {
    /// Records that the input could not be read: the typed failure and its text.
    pub fn fail(&mut self, failure: InputFailure) {
        self.error = Some(failure.to_string());
        self.failure = Some(Arc::new(failure));
    }

    /// Could it not be read at all?
    pub fn failed(&self) -> bool {
        self.failure.is_some() || self.error.is_some()
    }
}

/// The most endpoints, and callers, counted by name. The rest are counted together under
/// [`OTHER_GROUP`]: a busy proxy's log can name millions of clients, and memory stays
/// bounded whatever the input.
pub const MAX_GROUPS: usize = 10_000;
/// The name the endpoints (callers) beyond [`MAX_GROUPS`] are counted under.
pub const OTHER_GROUP: &str = "(others)";

/// The name to count `key` under in a map bounded by [`MAX_GROUPS`].
pub fn group_key<'k, V>(map: &BTreeMap<String, V>, key: &'k str) -> &'k str {
    if map.len() < MAX_GROUPS || map.contains_key(key) { key } else { OTHER_GROUP }
}

/// Counts over the rows of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// The profile used.
    pub profile: String,
    /// Rows per label. Serialised keyed by label name, in name order.
    #[serde(serialize_with = "labels_by_name")]
    pub labels: BTreeMap<Label, u64>,
    /// Repeats that executed twice.
    pub executed_twice: u64,
    /// Rows per endpoint (method + path) and label (at most [`MAX_GROUPS`] by name).
    pub endpoints: BTreeMap<String, BTreeMap<String, u64>>,
    /// Rows per caller and label (at most [`MAX_GROUPS`] by name).
    pub callers: BTreeMap<String, BTreeMap<String, u64>>,
    /// Exchanges seen (all kinds).
    pub exchanges: u64,
    /// Exchanges classified as mutations.
    pub mutations: u64,
    /// Auth calls.
    pub auth_calls: u64,
    /// Reads.
    pub reads: u64,
    /// Responses without request (not classifiable).
    pub orphans: u64,
}

impl Summary {
    /// Counts one row.
    pub fn count(&mut self, row: &Row) {
        // Once per row: look keys up borrowed, allocate only for a key seen the first time.
        fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
            match map.get_mut(key) {
                Some(n) => *n += 1,
                None => {
                    map.insert(key.to_string(), 1);
                }
            }
        }
        fn bump2(map: &mut BTreeMap<String, BTreeMap<String, u64>>, key: &str, label: &str) {
            let key = group_key(map, key);
            match map.get_mut(key) {
                Some(m) => bump(m, label),
                None => {
                    map.insert(key.to_string(), BTreeMap::from([(label.to_string(), 1)]));
                }
            }
        }
        *self.labels.entry(row.label).or_default() += 1;
        let label = row.label.name();
        if row.double_execution == Some(DoubleExecution::Yes) {
            self.executed_twice += 1;
        }
        let mut endpoint = String::with_capacity(row.call.method.len() + row.call.path.len() + 1);
        endpoint.push_str(&row.call.method);
        endpoint.push(' ');
        endpoint.push_str(&row.call.path);
        bump2(&mut self.endpoints, &endpoint, label);
        bump2(&mut self.callers, &row.call.caller, label);
    }

    /// Rows with `label`.
    pub fn count_of(&self, label: Label) -> u64 {
        self.labels.get(&label).copied().unwrap_or(0)
    }
}

fn kind_name<S: Serializer>(kind: &Option<InputKind>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.map_or("", InputKind::name))
}

/// `{"auto-refresh-retry": 2, "original": 2}`: names as keys, sorted by name.
fn labels_by_name<S: Serializer>(labels: &BTreeMap<Label, u64>, s: S) -> Result<S::Ok, S::Error> {
    let by_name: BTreeMap<&str, u64> = labels.iter().map(|(l, n)| (l.name(), *n)).collect();
    by_name.serialize(s)
}
