//! Capture reading: bytes of a pcap or pcapng file in, [`Frame`]s out.
//!
//! Takes any `Read` (a file, stdin, a gzip decoder) holding classic pcap (µs or ns, either
//! byte order) or pcapng (several sections and interfaces, per-interface link type,
//! `if_tsresol` and `if_tsoffset`); gives each packet as a [`Frame`] borrowed from the
//! reader's fixed-size buffer, pushed to a callback (the push model lets the whole pipeline
//! run on the borrowed bytes without copying them). Framing is pcap-parser's; this module
//! keeps the interface table, turns timestamps into [`Timestamp`]s and turns a file cut
//! mid-record into a warning after every whole frame was delivered.

use std::io::Read;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};
use thiserror::Error;

use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{InputId, Origin, Timestamp};

/// Initial reader buffer: large reads, few syscalls (Zeek moved from 4 KiB to 128 KiB).
const BUFFER: usize = 1 << 20;
/// The largest block we grow the buffer for (pcapng allows big blocks; snaplen is 256 KiB).
const MAX_BLOCK: usize = 64 << 20;

/// Link-layer header type numbers (tcpdump.org/linktypes.html).
pub mod linktype {
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II (with 802.1Q / QinQ tags).
    pub const ETHERNET: u32 = 1;
    /// Raw IP (some systems use 12 or 14 for it).
    pub const RAW: u32 = 101;
    /// Raw IP, OpenBSD number.
    pub const RAW_12: u32 = 12;
    /// Raw IP, alternative number.
    pub const RAW_14: u32 = 14;
    /// OpenBSD loopback: 4-byte address family, network byte order.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux netfilter NFLOG.
    pub const NFLOG: u32 = 239;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u32 = 276;
}

/// One captured packet, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based frame number, as Wireshark counts.
    pub number: u64,
    /// Capture time.
    pub ts: Timestamp,
    /// Link type of the interface it was captured on.
    pub linktype: u32,
    /// Length on the wire (may exceed `data.len()` when cut by the snapshot length).
    pub origlen: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// What went wrong reading a capture. Only errors before the first frame are fatal;
/// later ones end the input with a warning and keep everything decoded so far.
#[derive(Debug, Error)]
pub enum CaptureError {
    /// Neither a pcap nor a pcapng header.
    #[error("not a pcap or pcapng capture (unrecognised file header)")]
    NotACapture,
    /// The file is shorter than its own header.
    #[error("the capture is empty or shorter than its file header")]
    Empty,
    /// The underlying reader failed.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// A record could not be parsed.
    #[error("malformed capture at byte {offset}: {what}")]
    Malformed {
        /// Byte offset in the (decompressed) input.
        offset: u64,
        /// What was wrong.
        what: String,
    },
}

/// Counts of what the reader saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets delivered.
    pub frames: u64,
    /// Captured bytes delivered.
    pub bytes: u64,
    /// Bytes read from the input (decompressed).
    pub input_bytes: u64,
    /// First and last packet times.
    pub first_ts: Option<Timestamp>,
    /// Last packet time.
    pub last_ts: Option<Timestamp>,
    /// Classic pcap (false) or pcapng (true).
    pub pcapng: bool,
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    /// Timestamp units per second.
    units: u64,
    /// Seconds added to every timestamp.
    offset: i64,
}

/// Streams frames out of a capture.
pub struct CaptureReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    input: InputId,
    /// Classic pcap: the single link type and whether fractions are nanoseconds.
    legacy: Option<(u32, bool)>,
    interfaces: Vec<Interface>,
    last_ts: Timestamp,
    stats: CaptureStats,
    /// Where TLS key log text from Decryption Secrets Blocks goes (docs/tls.md).
    secrets: Option<crate::tls::SecretsSink>,
}

impl<'r> CaptureReader<'r> {
    /// Opens a capture; fails if the bytes are not pcap or pcapng.
    pub fn new<R: Read + Send + 'r>(reader: R, input: InputId) -> Result<Self, CaptureError> {
        let inner = pcap_parser::create_reader(BUFFER, reader).map_err(|e| match e {
            PcapError::Eof | PcapError::Incomplete(_) | PcapError::UnexpectedEof => CaptureError::Empty,
            PcapError::ReadError => CaptureError::Io(std::io::Error::other("could not read the capture")),
            _ => CaptureError::NotACapture,
        })?;
        Ok(CaptureReader {
            inner,
            input,
            legacy: None,
            interfaces: Vec::new(),
            last_ts: Timestamp::default(),
            stats: CaptureStats::default(),
            secrets: None,
        })
    }

    /// Hands the TLS key log text of pcapng Decryption Secrets Blocks to `sink`
    /// (without one, such blocks are skipped as before).
    pub fn set_secrets_sink(&mut self, sink: crate::tls::SecretsSink) {
        self.secrets = Some(sink);
    }

    /// What was read so far.
    pub fn stats(&self) -> CaptureStats {
        let mut s = self.stats;
        s.input_bytes = self.inner.consumed() as u64;
        s
    }

    /// Delivers every frame to `on_frame`, in file order.
    ///
    /// A file cut in the middle of a record, or a corrupt record after the first frame, ends
    /// the input with a warning; the frames before it have all been delivered.
    pub fn for_each_frame(
        &mut self,
        diag: &mut Diagnostics,
        mut on_frame: impl FnMut(Frame<'_>, &mut Diagnostics),
    ) -> Result<CaptureStats, CaptureError> {
        loop {
            let consumed = self.inner.consumed() as u64;
            match self.inner.next() {
                Ok((len, block)) => {
                    let frame = match block {
                        PcapBlockOwned::LegacyHeader(h) => {
                            self.legacy = Some((h.network.0 as u32, h.is_nanosecond_precision()));
                            None
                        }
                        PcapBlockOwned::Legacy(b) => {
                            let (linktype, nanos) = self.legacy.unwrap_or((linktype::ETHERNET, false));
                            let frac = if nanos { b.ts_usec } else { b.ts_usec.saturating_mul(1000) };
                            let ts = Timestamp::from_parts(b.ts_sec as i64, frac.min(999_999_999));
                            Some((ts, linktype, b.origlen, b.data))
                        }
                        PcapBlockOwned::NG(Block::DecryptionSecrets(dsb)) => {
                            dsb_block(&dsb, self.secrets.as_ref(), self.input, diag);
                            None
                        }
                        PcapBlockOwned::NG(block) => {
                            let (stats, last_ts, ifaces, input) =
                                (&mut self.stats, &mut self.last_ts, &mut self.interfaces, self.input);
                            stats.pcapng = true;
                            ng_block(block, ifaces, *last_ts, input, consumed, diag)
                        }
                    };
                    if let Some((ts, linktype, origlen, data)) = frame {
                        self.stats.frames += 1;
                        self.stats.bytes += data.len() as u64;
                        self.stats.first_ts.get_or_insert(ts);
                        self.stats.last_ts = Some(ts);
                        self.last_ts = ts;
                        let frame = Frame { number: self.stats.frames, ts, linktype, origlen, data };
                        on_frame(frame, diag);
                    }
                    self.inner.consume(len);
                }
                Err(PcapError::Eof) => break,
                Err(PcapError::Incomplete(_)) => {
                    let before = self.inner.data().len();
                    if let Err(e) = self.inner.refill() {
                        let e = format!("{e:?}");
                        return Err(CaptureError::Io(std::io::Error::other(e)));
                    }
                    if self.inner.reader_exhausted() && self.inner.data().len() == before {
                        self.end_of_data(diag, consumed);
                        break;
                    }
                }
                Err(PcapError::UnexpectedEof) => {
                    self.end_of_data(diag, consumed);
                    break;
                }
                Err(PcapError::BufferTooSmall) => {
                    let size = self.inner.data().len().max(BUFFER) * 2;
                    if size > MAX_BLOCK || !self.inner.grow(size) {
                        return self.corrupt(diag, consumed, "a record larger than 64 MiB");
                    }
                    if let Err(e) = self.inner.refill() {
                        let e = format!("{e:?}");
                        return Err(CaptureError::Io(std::io::Error::other(e)));
                    }
                }
                Err(PcapError::ReadError) => {
                    return Err(CaptureError::Io(std::io::Error::other(
                        "read error in the middle of the capture",
                    )));
                }
                Err(e) => {
                    let what = match e {
                        PcapError::NomError(_, k) | PcapError::OwnedNomError(_, k) => {
                            format!("unparsable record ({k:?})")
                        }
                        other => format!("{other:?}"),
                    };
                    return self.corrupt(diag, consumed, &what);
                }
            }
        }
        Ok(self.stats())
    }

    /// The input ended where a record was expected: clean if no bytes are left over.
    fn end_of_data(&mut self, diag: &mut Diagnostics, offset: u64) {
        let left = self.inner.data().len();
        if left == 0 {
            return;
        }
        let frames = self.stats.frames;
        self.warn_cut(
            diag,
            format!(
                "the capture ends in the middle of a record at byte {offset} ({left} bytes left over); {frames} whole frames were read"
            ),
        );
    }

    /// A `truncated-file` warning at the frame after the last one read.
    fn warn_cut(&self, diag: &mut Diagnostics, detail: String) {
        diag.warn(
            WarningKind::TruncatedFile,
            self.input,
            Some(Origin::Frame(self.stats.frames + 1)),
            None,
            detail,
        );
    }

    /// A corrupt record: fatal before the first frame, a warning after it.
    fn corrupt(
        &mut self,
        diag: &mut Diagnostics,
        offset: u64,
        what: &str,
    ) -> Result<CaptureStats, CaptureError> {
        if self.stats.frames == 0 {
            return Err(CaptureError::Malformed { offset, what: what.to_string() });
        }
        let frames = self.stats.frames;
        self.warn_cut(
            diag,
            format!("corrupt record at byte {offset} ({what}); reading stopped after {frames} frames"),
        );
        Ok(self.stats())
    }
}

type NgFrame<'a> = Option<(Timestamp, u32, u32, &'a [u8])>;

/// Handles one pcapng block: interface bookkeeping, or a packet.
fn ng_block<'a>(
    block: Block<'a>,
    interfaces: &mut Vec<Interface>,
    last_ts: Timestamp,
    input: InputId,
    offset: u64,
    diag: &mut Diagnostics,
) -> NgFrame<'a> {
    match block {
        Block::SectionHeader(_) => {
            // Interface ids are per section.
            interfaces.clear();
            None
        }
        Block::InterfaceDescription(idb) => {
            let units = idb.ts_resolution().unwrap_or_else(|| {
                diag.warn(
                    WarningKind::InputAnomaly,
                    input,
                    None,
                    None,
                    format!(
                        "interface {} has an invalid if_tsresol; assuming microseconds",
                        interfaces.len()
                    ),
                );
                1_000_000
            });
            interfaces.push(Interface { linktype: idb.linktype.0 as u32, units, offset: idb.ts_offset() });
            None
        }
        Block::EnhancedPacket(epb) => {
            let Some(iface) = interfaces.get(epb.if_id as usize).copied() else {
                diag.warn(
                    WarningKind::InputAnomaly,
                    input,
                    None,
                    None,
                    format!(
                        "packet at byte {offset} names interface {} which was never described",
                        epb.if_id
                    ),
                );
                return None;
            };
            let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
            let ts = ng_timestamp(raw, iface);
            let data = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
            Some((ts, iface.linktype, epb.origlen, data))
        }
        Block::SimplePacket(spb) => {
            // No timestamp and always interface 0.
            let linktype = interfaces.first().map(|i| i.linktype).unwrap_or(linktype::ETHERNET);
            let caplen = (spb.origlen as usize).min(spb.data.len());
            Some((last_ts, linktype, spb.origlen, &spb.data[..caplen]))
        }
        Block::Unknown(_) => {
            diag.count(WarningKind::InputAnomaly);
            None
        }
        _ => None,
    }
}

/// A Decryption Secrets Block: TLS key log text goes to the sink; other kinds are named.
fn dsb_block(
    dsb: &pcap_parser::pcapng::DecryptionSecretsBlock<'_>,
    sink: Option<&crate::tls::SecretsSink>,
    input: InputId,
    diag: &mut Diagnostics,
) {
    use pcap_parser::pcapng::SecretsType;
    if dsb.secrets_type != SecretsType::TlsKeyLog {
        diag.warn(
            WarningKind::InputAnomaly,
            input,
            None,
            None,
            format!(
                "a Decryption Secrets Block of type 0x{:08x} is not used (only TLS key logs are)",
                dsb.secrets_type.0
            ),
        );
        return;
    }
    let data = dsb.data.get(..dsb.secrets_len as usize).unwrap_or(dsb.data);
    if let Some(Ok(mut v)) = sink.map(|s| s.lock()) {
        v.push(data.to_vec());
    }
}

/// Converts a pcapng timestamp in interface units to nanoseconds, without overflow.
fn ng_timestamp(raw: u64, iface: Interface) -> Timestamp {
    let units = iface.units.max(1) as u128;
    let secs = (raw as u128 / units) as i64;
    let frac = raw as u128 % units;
    let nanos = (frac * 1_000_000_000 / units) as u32;
    Timestamp::from_parts(secs.saturating_add(iface.offset), nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ng_timestamp_resolutions() {
        let us = Interface { linktype: 1, units: 1_000_000, offset: 0 };
        assert_eq!(ng_timestamp(1_500_000, us), Timestamp(1_500_000_000));
        let ns = Interface { linktype: 1, units: 1_000_000_000, offset: 10 };
        assert_eq!(ng_timestamp(1_000_000_001, ns), Timestamp(11_000_000_001));
        let pow2 = Interface { linktype: 1, units: 1 << 20, offset: 0 };
        assert_eq!(ng_timestamp(1 << 19, pow2), Timestamp(500_000_000));
        // The largest raw value must not overflow.
        let _ = ng_timestamp(u64::MAX, ns);
    }

    #[test]
    fn garbage_is_not_a_capture() {
        let r = CaptureReader::new(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..], 0);
        assert!(matches!(r, Err(CaptureError::NotACapture)), "{:?}", r.err());
        let r = CaptureReader::new(&b""[..], 0);
        assert!(matches!(r, Err(CaptureError::Empty)));
    }
}
