//! Key logs: SSLKEYLOGFILE text (RFC 9850) in, secrets looked up by client random out.
//!
//! Takes the bytes of a key log (a file given with `--keylog`, the `SSLKEYLOGFILE` file, or
//! the text of a pcapng Decryption Secrets Block); gives a [`KeyLog`]: the TLS 1.2 master
//! secret (`CLIENT_RANDOM`) and the TLS 1.3 traffic secrets
//! (`CLIENT_/SERVER_HANDSHAKE_TRAFFIC_SECRET`, `CLIENT_/SERVER_TRAFFIC_SECRET_0`) per
//! ClientHello random. Lines may end in LF, CR or CRLF; `#` starts a comment; hex is read
//! in either case. Malformed lines are counted by line number in a [`LoadReport`], never
//! quoted: a key log is secret, and nothing here ever prints a secret (`Debug` shows counts).

use std::fmt;

use rustc_hash::FxHashMap;

/// A secret (master secret or traffic secret): its bytes are never formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    /// The secret bytes (for the key schedule only).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Wraps bytes (tests and the key schedule).
    pub fn new(b: &[u8]) -> Self {
        Secret(b.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// The TLS 1.3 secrets of one connection.
#[derive(Clone, Debug, Default)]
pub struct Tls13Secrets {
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET`.
    pub client_hs: Option<Secret>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET`.
    pub server_hs: Option<Secret>,
    /// `CLIENT_TRAFFIC_SECRET_0`.
    pub client_app: Option<Secret>,
    /// `SERVER_TRAFFIC_SECRET_0`.
    pub server_app: Option<Secret>,
}

/// Secrets by ClientHello random.
#[derive(Clone, Default)]
pub struct KeyLog {
    tls12: FxHashMap<[u8; 32], Secret>,
    tls13: FxHashMap<[u8; 32], Tls13Secrets>,
}

impl fmt::Debug for KeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyLog({} TLS 1.2 and {} TLS 1.3 connections)", self.tls12.len(), self.tls13.len())
    }
}

/// What loading one key log found (line numbers only, never content).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Secret lines read.
    pub secrets: u64,
    /// Malformed lines (wrong field count, bad hex, wrong length).
    pub bad: u64,
    /// Lines with a label this tool does not use (early traffic, exporter, unknown).
    pub ignored: u64,
    /// The first few malformed line numbers (1-based).
    pub bad_lines: Vec<u64>,
}

/// Malformed line numbers kept in a [`LoadReport`].
const BAD_LINES_KEPT: usize = 5;

impl LoadReport {
    /// A one-line description for a warning, naming `source` ("key log keys.txt").
    pub fn describe_bad(&self, source: &str) -> Option<String> {
        if self.bad == 0 {
            return None;
        }
        let lines: Vec<String> = self.bad_lines.iter().map(|n| n.to_string()).collect();
        let more = if self.bad > self.bad_lines.len() as u64 { ", …" } else { "" };
        Some(format!(
            "{source}: {} malformed line(s) skipped (line {}{more}); {} secrets read",
            self.bad,
            lines.join(", "),
            self.secrets
        ))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex of either case; `None` on odd length or a non-hex character.
pub fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.chunks_exact(2).map(|p| Some(hex_val(p[0])? << 4 | hex_val(p[1])?)).collect()
}

/// Splits on LF, CR or CRLF, numbering lines from 1.
fn lines(text: &[u8]) -> impl Iterator<Item = (u64, &[u8])> {
    let mut rest = text;
    let mut n = 0u64;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        n += 1;
        let end = rest.iter().position(|&b| b == b'\n' || b == b'\r').unwrap_or(rest.len());
        let line = &rest[..end];
        let skip = match rest.get(end..end + 2) {
            Some(b"\r\n") => 2,
            _ if end < rest.len() => 1,
            _ => 0,
        };
        rest = &rest[end + skip..];
        Some((n, line))
    })
}

enum Label {
    ClientRandom,
    ClientHs,
    ServerHs,
    ClientApp,
    ServerApp,
    Ignored,
}

fn label_of(l: &[u8]) -> Label {
    match l {
        b"CLIENT_RANDOM" => Label::ClientRandom,
        b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => Label::ClientHs,
        b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => Label::ServerHs,
        b"CLIENT_TRAFFIC_SECRET_0" => Label::ClientApp,
        b"SERVER_TRAFFIC_SECRET_0" => Label::ServerApp,
        _ => Label::Ignored,
    }
}

impl KeyLog {
    /// An empty key log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connections with secrets.
    pub fn len(&self) -> usize {
        self.tls12.len() + self.tls13.len()
    }

    /// No secrets at all?
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the secrets of a key log's text; a later line for the same random wins.
    pub fn load(&mut self, text: &[u8]) -> LoadReport {
        let mut rep = LoadReport::default();
        for (n, line) in lines(text) {
            let line = line.trim_ascii();
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            match self.load_line(line) {
                Some(true) => rep.secrets += 1,
                Some(false) => rep.ignored += 1,
                None => {
                    rep.bad += 1;
                    if rep.bad_lines.len() < BAD_LINES_KEPT {
                        rep.bad_lines.push(n);
                    }
                }
            }
        }
        rep
    }

    /// `Some(true)`: a secret; `Some(false)`: a well-formed line with an unused label.
    fn load_line(&mut self, line: &[u8]) -> Option<bool> {
        let mut f = line.split(|b| b.is_ascii_whitespace()).filter(|s| !s.is_empty());
        let (label, random, secret) = (f.next()?, f.next()?, f.next()?);
        if f.next().is_some() {
            return None;
        }
        let random: [u8; 32] = unhex(random)?.try_into().ok()?;
        let secret = unhex(secret)?;
        let label = label_of(label);
        if matches!(label, Label::Ignored) {
            return (!secret.is_empty()).then_some(false);
        }
        let want_len = |ok: bool| ok.then_some(());
        let secret = Secret(secret.into());
        let slot = match label {
            Label::ClientRandom => {
                want_len(secret.0.len() == 48)?;
                self.tls12.insert(random, secret);
                return Some(true);
            }
            _ => {
                // SHA-256 or SHA-384 sized.
                want_len(secret.0.len() == 32 || secret.0.len() == 48)?;
                self.tls13.entry(random).or_default()
            }
        };
        let field = match label {
            Label::ClientHs => &mut slot.client_hs,
            Label::ServerHs => &mut slot.server_hs,
            Label::ClientApp => &mut slot.client_app,
            _ => &mut slot.server_app,
        };
        *field = Some(secret);
        Some(true)
    }

    /// Adds every secret of `other` (a later source wins).
    pub fn extend(&mut self, other: KeyLog) {
        self.tls12.extend(other.tls12);
        for (r, s) in other.tls13 {
            let e = self.tls13.entry(r).or_default();
            for (dst, src) in [
                (&mut e.client_hs, s.client_hs),
                (&mut e.server_hs, s.server_hs),
                (&mut e.client_app, s.client_app),
                (&mut e.server_app, s.server_app),
            ] {
                if src.is_some() {
                    *dst = src;
                }
            }
        }
    }

    /// The TLS 1.2 master secret of the connection with this client random.
    pub fn master_secret(&self, client_random: &[u8; 32]) -> Option<&Secret> {
        self.tls12.get(client_random)
    }

    /// The TLS 1.3 secrets of the connection with this client random.
    pub fn tls13(&self, client_random: &[u8; 32]) -> Option<&Tls13Secrets> {
        self.tls13.get(client_random)
    }
}
