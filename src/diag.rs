//! Warnings: anomalies recorded as data, never as aborts.
//!
//! Takes warnings from every stage; gives per-kind counts and the first few warnings with
//! their evidence (input, frame or line, connection). Memory is bounded: only
//! [`Diagnostics::KEEP`] warnings are kept in full, the rest are only counted.
//! Details must never contain payload bytes that could hold secrets: stages describe
//! *what* happened (sizes, positions), not *what was said*.

use std::fmt;

use serde::Serialize;

use crate::exchange::{InputId, Origin};

/// The kinds of warning, as listed in docs/report-format.md (plus a few the inputs need).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningKind {
    /// The capture file ends in the middle of a record.
    TruncatedFile,
    /// A packet was cut by the snapshot length; its tail is a gap.
    SnaplenCut,
    /// Bytes of a TCP stream were never captured.
    TcpGap,
    /// A retransmission carried different bytes than the first copy.
    ConflictingOverlap,
    /// Bytes that should have been an HTTP message head were not.
    HttpParseError,
    /// A response whose request was not seen.
    ResponseWithoutRequest,
    /// A request that got no response before the connection or capture ended.
    RequestWithoutResponse,
    /// The open-connection limit was reached; the stalest connections were closed early.
    ConnectionLimit,
    /// A body was longer than the kept-bytes cap (only counted, not an error).
    BodyCap,
    /// A per-connection limit (reassembly buffer, head size, pipeline depth) was reached.
    BufferLimit,
    /// A packet could not be decoded (bad or unsupported link/IP/TCP header).
    DecodeError,
    /// A link type dupcall does not decode.
    UnsupportedLinkType,
    /// An IP fragment (not reassembled).
    IpFragment,
    /// An access-log line that did not match the format.
    MalformedLogLine,
    /// A decompression limit was reached (possible decompression bomb).
    DecompressionLimit,
    /// Something unexpected in the input container (unknown block, bad timestamp...).
    InputAnomaly,
    /// A key log (or Decryption Secrets Block) had malformed lines or no secrets.
    KeyLog,
    /// A TLS connection could not be decrypted (no key, unsupported suite, no handshake).
    TlsNotDecrypted,
    /// A decrypted TLS connection carries a protocol not parsed yet (ALPN `h2`).
    TlsUnparsed,
    /// TLS records that did not authenticate, or record sync lost after a gap.
    TlsRecord,
    /// Undecrypted TLS connections counted per server and reason.
    TlsSummary,
    /// Bytes after a connection switched protocol (101 `Upgrade`, CONNECT): not decoded.
    ProtocolSwitch,
    /// A head with irregular line endings (CR CR LF, obs-fold), read leniently.
    LenientHead,
}

impl WarningKind {
    /// All kinds, in report order.
    pub const ALL: [WarningKind; 23] = [
        WarningKind::TruncatedFile,
        WarningKind::SnaplenCut,
        WarningKind::TcpGap,
        WarningKind::ConflictingOverlap,
        WarningKind::HttpParseError,
        WarningKind::ResponseWithoutRequest,
        WarningKind::RequestWithoutResponse,
        WarningKind::ConnectionLimit,
        WarningKind::BodyCap,
        WarningKind::BufferLimit,
        WarningKind::DecodeError,
        WarningKind::UnsupportedLinkType,
        WarningKind::IpFragment,
        WarningKind::MalformedLogLine,
        WarningKind::DecompressionLimit,
        WarningKind::InputAnomaly,
        WarningKind::KeyLog,
        WarningKind::TlsNotDecrypted,
        WarningKind::TlsUnparsed,
        WarningKind::TlsRecord,
        WarningKind::TlsSummary,
        WarningKind::ProtocolSwitch,
        WarningKind::LenientHead,
    ];

    /// The kebab-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            WarningKind::TruncatedFile => "truncated-file",
            WarningKind::SnaplenCut => "snaplen-cut",
            WarningKind::TcpGap => "tcp-gap",
            WarningKind::ConflictingOverlap => "conflicting-overlap",
            WarningKind::HttpParseError => "http-parse-error",
            WarningKind::ResponseWithoutRequest => "response-without-request",
            WarningKind::RequestWithoutResponse => "request-without-response",
            WarningKind::ConnectionLimit => "connection-limit",
            WarningKind::BodyCap => "body-cap",
            WarningKind::BufferLimit => "buffer-limit",
            WarningKind::DecodeError => "decode-error",
            WarningKind::UnsupportedLinkType => "unsupported-link-type",
            WarningKind::IpFragment => "ip-fragment",
            WarningKind::MalformedLogLine => "malformed-log-line",
            WarningKind::DecompressionLimit => "decompression-limit",
            WarningKind::InputAnomaly => "input-anomaly",
            WarningKind::KeyLog => "key-log",
            WarningKind::TlsNotDecrypted => "tls-not-decrypted",
            WarningKind::TlsUnparsed => "tls-unparsed",
            WarningKind::TlsRecord => "tls-record",
            WarningKind::TlsSummary => "tls-summary",
            WarningKind::ProtocolSwitch => "protocol-switch",
            WarningKind::LenientHead => "lenient-head",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One warning with its evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// What happened.
    pub kind: WarningKind,
    /// Which input.
    pub input: InputId,
    /// The frame or line it was noticed at, if known.
    #[serde(skip)]
    pub origin: Option<Origin>,
    /// Connection number within the input, if it concerns one.
    pub conn: Option<u64>,
    /// A short description without payload bytes.
    pub detail: String,
}

/// Warning counts plus the first [`Diagnostics::KEEP`] warnings.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    counts: [u64; WarningKind::ALL.len()],
    kept: Vec<Warning>,
    /// Every warning is also passed here when set (for `-v`, one line each as it happens).
    pub echo: Option<fn(&Warning)>,
}

impl Diagnostics {
    /// How many warnings are kept in full.
    pub const KEEP: usize = 1000;

    /// Records a warning.
    pub fn warn(
        &mut self,
        kind: WarningKind,
        input: InputId,
        origin: Option<Origin>,
        conn: Option<u64>,
        detail: impl Into<String>,
    ) {
        self.counts[kind.index()] += 1;
        if self.kept.len() < Self::KEEP || self.echo.is_some() {
            let w = Warning { kind, input, origin, conn, detail: detail.into() };
            if let Some(echo) = self.echo {
                echo(&w);
            }
            if self.kept.len() < Self::KEEP {
                self.kept.push(w);
            }
        }
    }

    /// Counts only (no detail kept), for high-rate anomalies already summarised elsewhere.
    pub fn count(&mut self, kind: WarningKind) {
        self.counts[kind.index()] += 1;
    }

    /// How many warnings of `kind`.
    pub fn count_of(&self, kind: WarningKind) -> u64 {
        self.counts[kind.index()]
    }

    /// Total warnings.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Non-zero counts in report order.
    pub fn counts(&self) -> impl Iterator<Item = (WarningKind, u64)> + '_ {
        WarningKind::ALL.iter().map(|&k| (k, self.count_of(k))).filter(|&(_, n)| n > 0)
    }

    /// The warnings kept in full.
    pub fn kept(&self) -> &[Warning] {
        &self.kept
    }

    /// Adds another run's diagnostics into this one.
    pub fn merge(&mut self, other: Diagnostics) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        let room = Self::KEEP.saturating_sub(self.kept.len());
        self.kept.extend(other.kept.into_iter().take(room));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_all_keeps_first() {
        let mut d = Diagnostics::default();
        for i in 0..(Diagnostics::KEEP + 5) {
            d.warn(WarningKind::TcpGap, 0, Some(Origin::Frame(i as u64)), Some(1), "gap");
        }
        d.count(WarningKind::BodyCap);
        assert_eq!(d.count_of(WarningKind::TcpGap), Diagnostics::KEEP as u64 + 5);
        assert_eq!(d.kept().len(), Diagnostics::KEEP);
        assert_eq!(d.total(), Diagnostics::KEEP as u64 + 6);
        let kinds: Vec<_> = d.counts().map(|(k, _)| k).collect();
        assert_eq!(kinds, vec![WarningKind::TcpGap, WarningKind::BodyCap]);
    }

    #[test]
    fn names_are_stable() {
        for k in WarningKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
            assert_eq!(WarningKind::ALL[k.index()], k);
        }
    }
}
