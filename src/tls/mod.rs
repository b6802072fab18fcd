//! TLS: reassembled TCP streams in, decrypted streams out, for the HTTP layer.
//!
//! [`TlsLayer::wrap`] puts a [`StreamHandler`] in front of another one (the HTTP handler):
//! a connection whose first bytes are a TLS record goes through a [`session::Session`]
//! (record layer, hellos, key schedules) and only its plaintext, holes and ends reach the
//! inner handler, with plaintext stream offsets; a plaintext connection is passed straight
//! through. Secrets come from key logs ([`keylog`]: `--keylog`, `SSLKEYLOGFILE`) and from
//! the capture's own pcapng Decryption Secrets Blocks ([`TlsLayer::dsb_sink`]). A TLS
//! connection that cannot be decrypted is one `tls-not-decrypted` warning (server name,
//! address, why), and [`TlsLayer::finish`] adds one summary line per server and reason.
//! See docs/tls.md.

pub mod crypto;
pub mod hello;
pub mod keylog;
pub mod session;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use crate::capture::reassembly::{At, Chunk, CloseReason, ConnInfo, Dir, StreamHandler};
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{Exchange, InputId};
pub use keylog::{KeyLog, LoadReport};
use session::{Keys, Out, Session, Status};

/// Raw Decryption Secrets Block payloads (TLS key log text) found by the capture reader.
pub type SecretsSink = Arc<Mutex<Vec<Vec<u8>>>>;

/// The key material of a run: key logs loaded from files, shared by every input.
#[derive(Clone, Debug, Default)]
pub struct KeyMaterial {
    /// Every secret of every key log given.
    pub log: Arc<KeyLog>,
    /// Per key log: its name and what loading it found (for warnings).
    pub loaded: Vec<(String, LoadReport)>,
}

impl KeyMaterial {
    /// Adds one key log's text, named `name` in warnings.
    pub fn load(&mut self, name: &str, text: &[u8]) {
        let mut log = KeyLog::new();
        let rep = log.load(text);
        Arc::make_mut(&mut self.log).extend(log);
        self.loaded.push((name.to_string(), rep));
    }

    /// One `key-log` warning per key log with malformed lines (line numbers, never content).
    pub fn warn_into(&self, diag: &mut Diagnostics) {
        for (name, rep) in &self.loaded {
            if let Some(d) = rep.describe_bad(&format!("key log {name}")) {
                diag.warn(WarningKind::KeyLog, 0, None, None, d);
            } else if rep.secrets == 0 {
                diag.warn(WarningKind::KeyLog, 0, None, None, format!("key log {name} holds no TLS secrets"));
            }
        }
    }
}

/// TLS counters of one input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// Connections that started like TLS.
    pub connections: u64,
    /// Connections decrypted with a key log.
    pub decrypted: u64,
    /// Connections not decrypted (each one a warning).
    pub undecrypted: u64,
    /// Records that did not authenticate (each a gap in the plaintext).
    pub bad_records: u64,
    /// Application-data bytes decrypted.
    pub plain_bytes: u64,
}

/// Server-and-reason groups counted for the summary at most (memory bound).
const MAX_GROUPS: usize = 1000;

/// TLS state of one input, shared by its connections.
pub struct TlsLayer {
    run: Arc<KeyLog>,
    capture: KeyLog,
    dsb: SecretsSink,
    input: InputId,
    stats: TlsStats,
    /// (server, reason) -> undecrypted connections.
    groups: BTreeMap<(String, &'static str), u64>,
    /// Decrypted connection ids -> TLS version, to mark their exchanges.
    decrypted: FxHashMap<u64, u16>,
}

/// The wrapped handler's per-connection state.
pub struct TlsConn<C> {
    inner: C,
    mode: Mode,
}

enum Mode {
    /// No payload yet; gaps seen before it are held (a handful at most).
    Undecided(Vec<(Dir, Range<u64>, At)>),
    Plain,
    Tls(Box<TlsState>),
}

struct TlsState {
    s: Session,
    /// The reassembler's client sent the ServerHello: sides are swapped.
    swapped: bool,
    /// Plaintext stream offsets per direction (indexed by [`Dir`]).
    plain_off: [u64; 2],
    warned: bool,
    counted: bool,
}

/// Gaps held before a connection's first payload; beyond, it is taken as plaintext.
const HELD_GAPS: usize = 4;

/// Does a first payload start like a TLS record (type 20-23, version 3.x)?
pub fn looks_like_tls(p: &[u8]) -> bool {
    matches!(p.first(), Some(20..=23)) && p.get(1).is_none_or(|&b| b == 3) && p.get(2).is_none_or(|&b| b <= 4)
}

/// The handshake type of a first record, if it is a handshake record.
fn handshake_type(p: &[u8]) -> Option<u8> {
    (p.first() == Some(&22) && looks_like_tls(p)).then(|| p.get(5).copied()).flatten()
}

impl TlsLayer {
    /// A layer for input `input` with the run's key logs.
    pub fn new(keys: &KeyMaterial, input: InputId) -> Self {
        TlsLayer {
            run: keys.log.clone(),
            capture: KeyLog::new(),
            dsb: SecretsSink::default(),
            input,
            stats: TlsStats::default(),
            groups: BTreeMap::new(),
            decrypted: FxHashMap::default(),
        }
    }

    /// Where the capture reader puts Decryption Secrets Blocks' key log text.
    pub fn dsb_sink(&self) -> SecretsSink {
        self.dsb.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> TlsStats {
        self.stats
    }

    /// The handler `inner` behind this layer, for one call of reassembly.
    pub fn wrap<'a, H: StreamHandler>(&'a mut self, inner: &'a mut H) -> Wrapped<'a, H> {
        Wrapped { layer: self, inner }
    }

    /// Marks an exchange of a decrypted connection (`wire.tls` = the TLS version).
    pub fn mark(&self, ex: &mut Exchange) {
        if let Some(&v) = self.decrypted.get(&ex.conn) {
            ex.wire.tls = Some(v);
        }
    }

    /// Takes in the secrets of Decryption Secrets Blocks read so far.
    fn take_dsb(&mut self, diag: &mut Diagnostics) {
        let blocks = match self.dsb.lock() {
            Ok(mut g) if !g.is_empty() => std::mem::take(&mut *g),
            _ => return,
        };
        for b in blocks {
            let rep = self.capture.load(&b);
            if let Some(d) = rep.describe_bad("a Decryption Secrets Block of the capture") {
                diag.warn(WarningKind::KeyLog, self.input, None, None, d);
            }
        }
    }

    /// Summary lines: one `tls-summary` warning per server and reason.
    pub fn finish(&mut self, diag: &mut Diagnostics) {
        for ((server, why), n) in std::mem::take(&mut self.groups) {
            let conns = if n == 1 { "connection" } else { "connections" };
            diag.warn(
                WarningKind::TlsSummary,
                self.input,
                None,
                None,
                format!("{n} TLS {conns} to {server} could not be decrypted: {why}"),
            );
        }
    }

    /// Counts a connection as decrypted (once) and remembers it to mark its exchanges.
    fn count_decrypted(&mut self, st: &mut TlsState, info: &ConnInfo) {
        if !st.counted {
            st.counted = true;
            self.stats.decrypted += 1;
            self.decrypted.insert(info.id, st.s.version);
        }
    }

    /// Warns once when a connection's status says it is not (or no longer) read.
    fn check(&mut self, st: &mut TlsState, info: &ConnInfo, diag: &mut Diagnostics) {
        if st.s.plain_bytes > 0 {
            self.count_decrypted(st, info);
        }
        if st.warned {
            return;
        }
        let server = server_label(&st.s, if st.swapped { info.client } else { info.server });
        match &st.s.status {
            Status::Failed(why) => {
                st.warned = true;
                self.stats.undecrypted += 1;
                let mut detail = format!("TLS connection to {server} not decrypted: {}", why.text());
                let known = self.run.len() + self.capture.len();
                if *why == session::Why::NoKeys && known > 0 {
                    detail.push_str(&format!(
                        "; the key logs hold secrets of {known} other connections (a key log of another capture?)"
                    ));
                }
                diag.warn(WarningKind::TlsNotDecrypted, self.input, None, Some(info.id), detail);
                let key = (server, why.short());
                if self.groups.len() < MAX_GROUPS || self.groups.contains_key(&key) {
                    *self.groups.entry(key).or_default() += 1;
                }
            }
            Status::OtherProtocol(p) => {
                st.warned = true;
                let what = if p == "h2" {
                    "HTTP/2 over TLS not parsed yet".to_string()
                } else {
                    format!("ALPN protocol {p:?} is not parsed")
                };
                diag.warn(
                    WarningKind::TlsUnparsed,
                    self.input,
                    None,
                    Some(info.id),
                    format!("TLS connection to {server} decrypted, but {what}; its requests are not read"),
                );
            }
            _ if st.s.lost_sync => {
                st.warned = true;
                diag.warn(
                    WarningKind::TlsRecord,
                    self.input,
                    None,
                    Some(info.id),
                    format!("TLS connection to {server}: record sync lost after a gap; the rest of one direction is not decrypted"),
                );
            }
            _ => {}
        }
    }
}

/// "api.example.com:443" (SNI and port) or the server address.
fn server_label(s: &Session, server: SocketAddr) -> String {
    match &s.sni {
        Some(name) => format!("{name}:{} ({})", server.port(), server.ip()),
        None => server.to_string(),
    }
}

/// A [`StreamHandler`] that decrypts TLS connections in front of `inner`.
pub struct Wrapped<'a, H> {
    layer: &'a mut TlsLayer,
    inner: &'a mut H,
}

impl<H: StreamHandler> Wrapped<'_, H> {
    /// Starts TLS or plaintext mode on a connection's first payload.
    fn decide(
        &mut self,
        conn: &mut TlsConn<H::Conn>,
        info: &ConnInfo,
        dir: Dir,
        data: &[u8],
        diag: &mut Diagnostics,
    ) {
        let Mode::Undecided(held) = &mut conn.mode else { return };
        let held = std::mem::take(held);
        if !looks_like_tls(data) {
            conn.mode = Mode::Plain;
            for (d, hole, at) in held {
                self.inner.gap(&mut conn.inner, info, d, hole, at, diag);
            }
            return;
        }
        self.layer.stats.connections += 1;
        // A ClientHello from the "server" or a ServerHello from the "client": roles swapped.
        let swapped =
            matches!((handshake_type(data), dir), (Some(1), Dir::ToClient) | (Some(2), Dir::ToServer));
        let mut st =
            TlsState { s: Session::default(), swapped, plain_off: [0; 2], warned: false, counted: false };
        for (d, hole, _) in held {
            st.s.gap(side(d, swapped), hole.end - hole.start, &mut |_| {});
        }
        conn.mode = Mode::Tls(Box::new(st));
    }

    /// Passes what the session produced to the inner handler.
    fn run(
        &mut self,
        conn: &mut TlsConn<H::Conn>,
        info: &ConnInfo,
        dir: Dir,
        at: At,
        diag: &mut Diagnostics,
        f: impl FnOnce(&mut Session, &Keys<'_>, &mut dyn FnMut(Out<'_>)),
    ) {
        let Mode::Tls(st) = &mut conn.mode else { return };
        let (inner, layer) = (&mut *self.inner, &mut *self.layer);
        if st.s.status == Status::Handshake {
            layer.take_dsb(diag);
        }
        let keys = Keys { run: &layer.run, capture: &layer.capture };
        let before = st.s.plain_bytes;
        let bad = st.s.bad_records;
        let off = &mut st.plain_off[dir as usize];
        f(&mut st.s, &keys, &mut |o| match o {
            Out::Plain(p) => {
                let chunk = Chunk { data: p, offset: *off, ack: None, at };
                inner.data(&mut conn.inner, info, dir, chunk, diag);
                *off += p.len() as u64;
            }
            Out::Gap(n) => {
                inner.gap(&mut conn.inner, info, dir, *off..*off + n, at, diag);
                *off += n;
            }
        });
        layer.stats.plain_bytes += st.s.plain_bytes - before;
        layer.stats.bad_records += st.s.bad_records - bad;
        layer.check(st, info, diag);
    }
}

fn side(dir: Dir, swapped: bool) -> usize {
    (dir as usize) ^ (swapped as usize)
}

impl<H: StreamHandler> StreamHandler for Wrapped<'_, H> {
    type Conn = TlsConn<H::Conn>;

    fn open(&mut self, info: &ConnInfo) -> Self::Conn {
        TlsConn { inner: self.inner.open(info), mode: Mode::Undecided(Vec::new()) }
    }

    fn sniff_client(&self, payload: &[u8]) -> Option<bool> {
        match handshake_type(payload) {
            Some(1) => Some(true),
            Some(2) => Some(false),
            _ => self.inner.sniff_client(payload),
        }
    }

    fn data(
        &mut self,
        conn: &mut Self::Conn,
        info: &ConnInfo,
        dir: Dir,
        chunk: Chunk<'_>,
        diag: &mut Diagnostics,
    ) {
        if matches!(conn.mode, Mode::Undecided(_)) {
            self.decide(conn, info, dir, chunk.data, diag);
        }
        match &conn.mode {
            Mode::Tls(st) => {
                let s = side(dir, st.swapped);
                self.run(conn, info, dir, chunk.at, diag, |sess, keys, out| {
                    sess.data(s, chunk.data, keys, out)
                });
            }
            _ => self.inner.data(&mut conn.inner, info, dir, chunk, diag),
        }
    }

    fn gap(
        &mut self,
        conn: &mut Self::Conn,
        info: &ConnInfo,
        dir: Dir,
        hole: Range<u64>,
        at: At,
        diag: &mut Diagnostics,
    ) {
        match &mut conn.mode {
            Mode::Undecided(held) if held.len() < HELD_GAPS => held.push((dir, hole, at)),
            Mode::Undecided(_) => {
                conn.mode = Mode::Plain;
                self.inner.gap(&mut conn.inner, info, dir, hole, at, diag);
            }
            Mode::Plain => self.inner.gap(&mut conn.inner, info, dir, hole, at, diag),
            Mode::Tls(st) => {
                let s = side(dir, st.swapped);
                let len = hole.end - hole.start;
                self.run(conn, info, dir, at, diag, |sess, _, out| sess.gap(s, len, out));
            }
        }
    }

    fn end(&mut self, conn: &mut Self::Conn, info: &ConnInfo, dir: Dir, at: At, diag: &mut Diagnostics) {
        self.inner.end(&mut conn.inner, info, dir, at, diag);
    }

    fn reset(&mut self, conn: &mut Self::Conn, info: &ConnInfo, dir: Dir, at: At, diag: &mut Diagnostics) {
        // Who reset the connection is a fact of the wire, TLS or not (`Wire::server_closed`).
        self.inner.reset(&mut conn.inner, info, dir, at, diag);
    }

    fn close(
        &mut self,
        mut conn: Self::Conn,
        info: &ConnInfo,
        reason: CloseReason,
        at: At,
        diag: &mut Diagnostics,
    ) {
        if let Mode::Tls(st) = &mut conn.mode {
            st.s.finish();
            if matches!(st.s.status, Status::Decrypting | Status::OtherProtocol(_)) {
                self.layer.count_decrypted(st, info);
            }
            self.layer.check(st, info, diag);
            if st.s.bad_records > 0 && st.s.status == Status::Decrypting {
                let server = server_label(&st.s, if st.swapped { info.client } else { info.server });
                diag.warn(
                    WarningKind::TlsRecord,
                    self.layer.input,
                    None,
                    Some(info.id),
                    format!(
                        "TLS connection to {server}: {} records did not authenticate; each is a gap in the decrypted stream",
                        st.s.bad_records
                    ),
                );
            }
        }
        self.inner.close(conn.inner, info, reason, at, diag);
    }
}
