//! One TLS connection: both directions' reassembled ciphertext in, plaintext and holes out.
//!
//! Takes each direction's in-order bytes (and gaps) from reassembly; frames TLS records
//! (RFC 8446 section 5, RFC 5246 section 6.2), reads the cleartext ClientHello/ServerHello,
//! looks the client random up in the key logs, builds [`RecordKeys`] and gives every
//! application-data record's plaintext to a callback as [`Out::Plain`]. A record that does
//! not authenticate becomes [`Out::Gap`] and the sequence number still advances, so later
//! records decrypt. A TCP gap is passed on as a gap, and the record layer resynchronises on
//! the next record that authenticates at a nearby sequence number (bounded tries).
//! Why a connection is not decrypted is [`Status::Failed`] with a [`Why`]; the caller warns.
//! Memory per direction is bounded by one record (18 KiB) plus one kept handshake message.

use crate::tls::crypto::{RecordKeys, Suite, TAG, suite};
use crate::tls::hello::{self, TLS12, TLS13};
use crate::tls::keylog::KeyLog;

/// Record content types.
const CCS: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPDATA: u8 = 23;
/// The longest record body accepted (TLS 1.2 ciphertext limit, RFC 5246 6.2.3).
const MAX_RECORD: usize = (1 << 14) + 2048;
/// The longest handshake message kept for parsing (hellos, EncryptedExtensions).
const MAX_KEPT_HS: usize = 1 << 16;
/// Sequence numbers tried per record when resynchronising after a TCP gap.
const RESYNC_TRIES: u64 = 256;
/// Records looked at for resynchronisation before giving the direction up.
const RESYNC_RECORDS: u32 = 16;

/// What came out of the record layer.
#[derive(Debug, PartialEq, Eq)]
pub enum Out<'a> {
    /// Application data, in order.
    Plain(&'a [u8]),
    /// This many plaintext bytes (about) are missing here.
    Gap(u64),
}

/// Why a connection is not decrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// No secrets for its client random in any key log.
    NoKeys,
    /// A suite or version this tool does not decrypt.
    Unsupported(String),
    /// The handshake was not captured (picked up mid-connection, or lost in a gap).
    MissingHandshake,
    /// The ClientHello was seen but not the ServerHello.
    HandshakeIncomplete,
    /// The key log's secrets do not authenticate its records (a wrong key log).
    WrongKeys,
    /// The record layer could not be read (bad record header).
    Malformed,
}

impl Why {
    /// Words for a warning.
    pub fn text(&self) -> String {
        match self {
            Why::NoKeys => "no key for its client random in the key logs (pass --keylog FILE or set SSLKEYLOGFILE)".into(),
            Why::Unsupported(s) => format!("{s} is not decrypted (TLS 1.2/1.3 AEAD suites only)"),
            Why::MissingHandshake => "its handshake was not captured (the connection was picked up mid-stream or the handshake was lost)".into(),
            Why::HandshakeIncomplete => "its handshake is incomplete (ClientHello seen, no ServerHello)".into(),
            Why::WrongKeys => "the key log has secrets for it but they do not decrypt its records (a key log of another run?)".into(),
            Why::Malformed => "its bytes are not a valid TLS record stream".into(),
        }
    }

    /// A short tag for grouping in the summary.
    pub fn short(&self) -> &'static str {
        match self {
            Why::NoKeys => "pass --keylog",
            Why::Unsupported(_) => "unsupported cipher suite or version",
            Why::MissingHandshake | Why::HandshakeIncomplete => "handshake not captured",
            Why::WrongKeys => "wrong key log",
            Why::Malformed => "not TLS",
        }
    }
}

/// Where a connection stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Status {
    /// Before the ServerHello.
    #[default]
    Handshake,
    /// Keys found; records are decrypted.
    Decrypting,
    /// Decrypted, but ALPN chose a protocol not parsed here (`h2`): plaintext withheld.
    OtherProtocol(String),
    /// Not decrypted.
    Failed(Why),
}

/// Handshake message reassembly over records: keeps only the messages parsed here.
#[derive(Default)]
struct HsReader {
    hdr: [u8; 4],
    hdr_len: usize,
    remaining: usize,
    keep: Option<Vec<u8>>,
}

impl HsReader {
    /// Feeds handshake bytes; calls `f(type, body)` for each complete kept message.
    fn feed(&mut self, mut data: &[u8], keep: impl Fn(u8) -> bool, mut f: impl FnMut(u8, &[u8])) {
        while !data.is_empty() {
            if self.hdr_len < 4 {
                let n = (4 - self.hdr_len).min(data.len());
                self.hdr[self.hdr_len..self.hdr_len + n].copy_from_slice(&data[..n]);
                self.hdr_len += n;
                data = &data[n..];
                if self.hdr_len < 4 {
                    return;
                }
                self.remaining = u32::from_be_bytes([0, self.hdr[1], self.hdr[2], self.hdr[3]]) as usize;
                self.keep = (keep(self.hdr[0]) && self.remaining <= MAX_KEPT_HS).then(Vec::new);
            }
            let n = self.remaining.min(data.len());
            if let Some(k) = &mut self.keep {
                k.extend_from_slice(&data[..n]);
            }
            self.remaining -= n;
            data = &data[n..];
            if self.remaining == 0 {
                if let Some(k) = self.keep.take() {
                    f(self.hdr[0], &k);
                }
                self.hdr_len = 0;
            }
        }
    }
}

#[derive(Default)]
struct Half {
    /// Bytes of an unfinished record (and, transiently, the records of one chunk).
    buf: Vec<u8>,
    hs: HsReader,
    keys: Option<RecordKeys>,
    /// TLS 1.3: the application keys, used from the record after this side's Finished.
    next: Option<RecordKeys>,
    /// TLS 1.2: keys waiting for this side's ChangeCipherSpec.
    pending: Option<RecordKeys>,
    /// A record authenticated with the current keys.
    authed: bool,
    /// A record of this direction ever authenticated.
    ever: bool,
    /// After a TCP gap: looking for the record boundary and sequence number.
    lost: bool,
    resync_records: u32,
    /// Gave up on this direction.
    dead: bool,
}

/// One TLS connection's decryption state.
#[derive(Default)]
pub struct Session {
    halves: [Half; 2],
    /// The client random, once the ClientHello was read.
    pub client_random: Option<[u8; 32]>,
    /// The server name (SNI).
    pub sni: Option<String>,
    /// The protocol ALPN chose.
    pub alpn: Option<String>,
    /// The negotiated version (0x0303, 0x0304), once known.
    pub version: u16,
    /// Where it stands.
    pub status: Status,
    /// Records that did not authenticate.
    pub bad_records: u64,
    /// Application-data bytes decrypted.
    pub plain_bytes: u64,
    /// A direction lost record sync for good after a gap (for a warning).
    pub lost_sync: bool,
}

/// The two key logs consulted: the run's (`--keylog`, SSLKEYLOGFILE) and the capture's own
/// Decryption Secrets Blocks.
pub struct Keys<'a> {
    /// Key logs given to the run.
    pub run: &'a KeyLog,
    /// Secrets found in the capture.
    pub capture: &'a KeyLog,
}

/// Side index: 0 = client's stream, 1 = server's.
type Side = usize;

impl Session {
    /// Are the records of this connection being decrypted (or could they still be)?
    pub fn live(&self) -> bool {
        matches!(self.status, Status::Handshake | Status::Decrypting)
    }

    fn fail(&mut self, why: Why) {
        if self.live() {
            self.status = Status::Failed(why);
            self.halves = Default::default();
        }
    }

    /// In-order bytes of side `side` (0 = client); plaintext goes to `out`.
    pub fn data(&mut self, side: Side, data: &[u8], keys: &Keys<'_>, out: &mut dyn FnMut(Out<'_>)) {
        if !self.live() || self.halves[side].dead {
            return;
        }
        let mut buf = std::mem::take(&mut self.halves[side].buf);
        buf.extend_from_slice(data);
        let mut pos = 0;
        while self.live() && !self.halves[side].dead {
            let rest = &buf[pos..];
            if self.halves[side].lost {
                match self.resync(side, rest) {
                    Some(skip) => {
                        pos += skip;
                        continue;
                    }
                    None => break,
                }
            }
            if rest.len() < 5 {
                break;
            }
            let len = u16::from_be_bytes([rest[3], rest[4]]) as usize;
            if !(CCS..=24).contains(&rest[0]) || rest[1] != 3 || len > MAX_RECORD {
                self.header_error(side);
                break;
            }
            if rest.len() < 5 + len {
                break;
            }
            let header: [u8; 5] = rest[..5].try_into().unwrap_or_default();
            let body = &mut buf[pos + 5..pos + 5 + len];
            self.record(side, header, body, keys, out);
            pos += 5 + len;
        }
        buf.drain(..pos.min(buf.len()));
        if self.live() {
            self.halves[side].buf = buf;
        }
    }

    /// Bytes of side `side` were never captured.
    pub fn gap(&mut self, side: Side, len: u64, out: &mut dyn FnMut(Out<'_>)) {
        if !self.live() {
            return;
        }
        let h = &mut self.halves[side];
        if h.keys.is_none() && h.pending.is_none() {
            // The handshake (or the start of encryption) is lost.
            self.fail(Why::MissingHandshake);
            return;
        }
        if h.dead {
            return;
        }
        let held = h.buf.len() as u64;
        h.buf.clear();
        h.lost = true;
        h.resync_records = 0;
        out(Out::Gap(len + held));
    }

    fn header_error(&mut self, side: Side) {
        if self.status == Status::Handshake {
            self.fail(Why::Malformed);
        } else {
            // Lost sync with no gap: treat like one.
            let h = &mut self.halves[side];
            h.buf.clear();
            h.lost = true;
        }
    }

    /// After a gap: finds the next record that authenticates at a nearby sequence number.
    /// Returns bytes to skip (then decrypting resumes at the record), or `None` for "need more".
    fn resync(&mut self, side: Side, rest: &[u8]) -> Option<usize> {
        let h = &mut self.halves[side];
        let Some(keys) = h.keys.as_mut() else {
            h.dead = true;
            self.lost_sync = true;
            return None;
        };
        let mut i = 0;
        while i + 5 <= rest.len() {
            let len = u16::from_be_bytes([rest[i + 3], rest[i + 4]]) as usize;
            let plausible = rest[i] == APPDATA
                && rest[i + 1] == 3
                && rest[i + 2] == 3
                && (TAG..=MAX_RECORD).contains(&len);
            if !plausible {
                i += 1;
                continue;
            }
            if i + 5 + len > rest.len() {
                // Wait for the whole candidate, if it can fit in a record buffer.
                return Some(i).filter(|&n| n > 0);
            }
            let header: [u8; 5] = rest[i..i + 5].try_into().unwrap_or_default();
            let mut body = rest[i + 5..i + 5 + len].to_vec();
            let from = keys.seq;
            if let Some(seq) =
                (from..from + RESYNC_TRIES).find(|&s| keys.open_at(s, &header, &mut body).is_some())
            {
                keys.seq = seq;
                h.lost = false;
                return Some(i);
            }
            h.resync_records += 1;
            if h.resync_records >= RESYNC_RECORDS {
                h.dead = true;
                self.lost_sync = true;
                return None;
            }
            i += 1;
        }
        Some(i).filter(|&n| n > 0)
    }

    fn record(
        &mut self,
        side: Side,
        header: [u8; 5],
        body: &mut [u8],
        keys: &Keys<'_>,
        out: &mut dyn FnMut(Out<'_>),
    ) {
        let ty = header[0];
        if ty == CCS {
            if self.version != TLS13 {
                let h = &mut self.halves[side];
                if let Some(k) = h.pending.take() {
                    h.keys = Some(k);
                    h.authed = false;
                }
            }
            return;
        }
        if self.halves[side].keys.is_none() {
            match ty {
                HANDSHAKE => self.clear_handshake(side, body, keys),
                ALERT => {}
                // After a ClientHello: 0-RTT early data (not decrypted), or a record that
                // overtook the ServerHello in the capture; skipped.
                _ if self.client_random.is_some() => {}
                _ => self.fail(Why::MissingHandshake),
            }
            return;
        }
        let Some((range, inner)) = self.open(side, &header, body) else {
            self.bad_records += 1;
            if !self.halves[side].ever {
                self.fail(Why::WrongKeys);
            } else if ty == APPDATA && self.status == Status::Decrypting {
                out(Out::Gap(body.len().saturating_sub(TAG + 1) as u64));
            }
            return;
        };
        let plain = &body[range];
        match inner {
            APPDATA => {
                if matches!(self.status, Status::Decrypting) {
                    self.plain_bytes += plain.len() as u64;
                    out(Out::Plain(plain));
                }
            }
            HANDSHAKE => self.encrypted_handshake(side, plain),
            _ => {}
        }
    }

    /// Opens a record with the current keys, or (TLS 1.3) with the next ones when the
    /// Finished that switches to them was not recognised.
    fn open(
        &mut self,
        side: Side,
        header: &[u8; 5],
        body: &mut [u8],
    ) -> Option<(std::ops::Range<usize>, u8)> {
        let h = &mut self.halves[side];
        let keys = h.keys.as_mut()?;
        let seq = keys.seq;
        if let Some(r) = keys.open_at(seq, header, body) {
            keys.seq += 1;
            h.authed = true;
            h.ever = true;
            return Some(r);
        }
        if h.authed {
            // A corrupt record still used its sequence number.
            keys.seq += 1;
        }
        let next = h.next.as_mut()?;
        let r = next.open_at(0, header, body)?;
        next.seq = 1;
        h.keys = h.next.take();
        h.authed = true;
        h.ever = true;
        Some(r)
    }

    fn clear_handshake(&mut self, side: Side, body: &[u8], keys: &Keys<'_>) {
        let mut hs = std::mem::take(&mut self.halves[side].hs);
        let mut msgs: Vec<(u8, Vec<u8>)> = Vec::new();
        hs.feed(body, |t| t == 1 || t == 2, |t, b| msgs.push((t, b.to_vec())));
        self.halves[side].hs = hs;
        for (t, b) in msgs {
            match (side, t) {
                (0, 1) => match hello::client_hello(&b) {
                    Some(ch) => {
                        self.client_random = Some(ch.random);
                        self.sni = ch.sni;
                    }
                    None => self.fail(Why::Malformed),
                },
                (1, 2) => match hello::server_hello(&b) {
                    Some(sh) if sh.retry => {}
                    Some(sh) => self.server_hello(sh, keys),
                    None => self.fail(Why::Malformed),
                },
                _ => {}
            }
        }
    }

    fn server_hello(&mut self, sh: hello::ServerHello, keys: &Keys<'_>) {
        self.version = sh.version;
        self.alpn = sh.alpn;
        let Some(cr) = self.client_random else {
            self.fail(Why::MissingHandshake);
            return;
        };
        let Some(s) = suite(sh.suite).filter(|s| s.tls13 == (sh.version == TLS13)) else {
            let what = match sh.version {
                TLS12 | TLS13 => format!("cipher suite 0x{:04X}", sh.suite),
                v => format!("protocol version 0x{v:04X}"),
            };
            self.fail(Why::Unsupported(what));
            return;
        };
        let ok = if s.tls13 { self.keys13(s, &cr, keys) } else { self.keys12(s, &cr, &sh.random, keys) };
        if ok {
            self.status = Status::Decrypting;
            if let Some(p) = self.alpn.clone() {
                self.check_alpn(p);
            }
        } else {
            self.fail(Why::NoKeys);
        }
    }

    fn keys13(&mut self, s: Suite, cr: &[u8; 32], keys: &Keys<'_>) -> bool {
        let Some(sec) = keys.capture.tls13(cr).or_else(|| keys.run.tls13(cr)) else { return false };
        let mk = |x: &Option<crate::tls::keylog::Secret>| x.as_ref().and_then(|x| RecordKeys::tls13(s, x));
        let (chs, shs, capp, sapp) =
            (mk(&sec.client_hs), mk(&sec.server_hs), mk(&sec.client_app), mk(&sec.server_app));
        if capp.is_none() && sapp.is_none() {
            return false;
        }
        for (h, hs, app) in [(0, chs, capp), (1, shs, sapp)] {
            let half = &mut self.halves[h];
            match hs {
                Some(k) => (half.keys, half.next) = (Some(k), app),
                None => (half.keys, half.next) = (app, None),
            }
        }
        true
    }

    fn keys12(&mut self, s: Suite, cr: &[u8; 32], sr: &[u8; 32], keys: &Keys<'_>) -> bool {
        let Some(ms) = keys.capture.master_secret(cr).or_else(|| keys.run.master_secret(cr)) else {
            return false;
        };
        let Some((c, sv)) = RecordKeys::tls12(s, ms, cr, sr) else { return false };
        self.halves[0].pending = Some(c);
        self.halves[1].pending = Some(sv);
        true
    }

    fn check_alpn(&mut self, proto: String) {
        // HTTP/2 goes on to the HTTP layer, which tells it by its connection preface.
        if !matches!(proto.as_str(), "http/1.1" | "http/1.0" | "h2") && self.status == Status::Decrypting {
            self.status = Status::OtherProtocol(proto);
            self.halves = Default::default();
        }
    }

    fn encrypted_handshake(&mut self, side: Side, plain: &[u8]) {
        let mut hs = std::mem::take(&mut self.halves[side].hs);
        let mut msgs: Vec<(u8, Vec<u8>)> = Vec::new();
        // EncryptedExtensions (8), Finished (20), KeyUpdate (24).
        hs.feed(plain, |t| t == 8 || t == 20 || t == 24, |t, b| msgs.push((t, b.to_vec())));
        self.halves[side].hs = hs;
        for (t, b) in msgs {
            let h = &mut self.halves[side];
            match t {
                8 => {
                    if let Some(p) = hello::encrypted_extensions_alpn(&b) {
                        self.alpn = Some(p.clone());
                        self.check_alpn(p);
                    }
                }
                20 if h.next.is_some() => {
                    h.keys = h.next.take();
                    h.authed = false;
                }
                24 => {
                    if let Some(k) = h.keys.as_ref().and_then(RecordKeys::updated) {
                        h.keys = Some(k);
                    }
                }
                _ => {}
            }
        }
    }

    /// The connection ended: an unfinished handshake becomes a failure.
    pub fn finish(&mut self) {
        if self.status == Status::Handshake {
            let why =
                if self.client_random.is_some() { Why::HandshakeIncomplete } else { Why::MissingHandshake };
            self.fail(why);
        }
    }
}
