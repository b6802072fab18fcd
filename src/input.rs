//! Inputs: a path (or `-` for stdin) in, a byte stream and its detected kind out.
//!
//! The kind comes from the bytes, never from the file name: pcap and pcapng magic numbers,
//! gzip (decompressed on the fly, then detected again), a HAR (a JSON object whose first
//! member is `"log": {`), dupcall's exchange records (JSON lines, or Parquet: `PAR1`), and
//! text (an access log). A
//! directory, an unreadable or empty file, or bytes that are none of these get an
//! [`InputError`] naming the file and what to do.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use thiserror::Error;

/// What an input holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// Classic pcap.
    Pcap,
    /// pcapng.
    PcapNg,
    /// Text lines (an access log).
    Text,
    /// A HAR (HTTP Archive): a JSON object whose first member is `"log": {`.
    Har,
    /// dupcall's own exchange records (`dupcall exchanges --format jsonl`).
    Records,
    /// The same records as Parquet (`dupcall exchanges --format parquet`; `PAR1`).
    ParquetRecords,
}

impl InputKind {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            InputKind::Pcap => "pcap",
            InputKind::PcapNg => "pcapng",
            InputKind::Text => "access-log",
            InputKind::Har => "har",
            InputKind::Records => "exchange-records",
            InputKind::ParquetRecords => "exchange-records-parquet",
        }
    }
}

/// Why an input cannot be read at all.
#[derive(Debug, Error)]
pub enum InputError {
    /// No such file.
    #[error("{path}: no such file; check the path")]
    NotFound {
        /// The path.
        path: String,
    },
    /// Permission denied.
    #[error("{path}: permission denied; run with access to the file or copy it somewhere readable")]
    PermissionDenied {
        /// The path.
        path: String,
    },
    /// A directory.
    #[error("{path}: is a directory; pass the capture or log files inside it")]
    Directory {
        /// The path.
        path: String,
    },
    /// Zero bytes.
    #[error(
        "{path}: the file is empty; nothing to analyse (pass the capture once tcpdump has stopped writing it, or check the path)"
    )]
    Empty {
        /// The path.
        path: String,
    },
    /// Binary bytes that are not a capture.
    #[error(
        "{path}: not a pcap/pcapng capture, a gzip of one, or a text access log (starts with bytes {magic}); export it as pcap or pcapng (e.g. with editcap or Wireshark)"
    )]
    Unrecognised {
        /// The path.
        path: String,
        /// The first bytes, hex.
        magic: String,
    },
    /// Another I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: io::Error,
    },
}

/// An opened input.
pub struct Opened {
    /// The name used in reports (the path as given, `-` for stdin).
    pub name: String,
    /// The kind detected.
    pub kind: InputKind,
    /// Was it gzip-compressed?
    pub gzip: bool,
    /// The (decompressed) bytes.
    pub reader: Box<dyn BufRead + Send>,
}

const PEEK: usize = 512;

/// Opens `path` (`-` = stdin) and detects its kind.
pub fn open(path: &str) -> Result<Opened, InputError> {
    open_counted(path, None)
}

/// Like [`open`], adding every byte read from the file (before decompression) to `counter`
/// (for a progress bar).
pub fn open_counted(path: &str, counter: Option<Arc<AtomicU64>>) -> Result<Opened, InputError> {
    let raw: Box<dyn Read + Send> = if path == "-" {
        Box::new(io::stdin())
    } else {
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        if meta.is_dir() {
            return Err(InputError::Directory { path: path.to_string() });
        }
        Box::new(File::open(path).map_err(|e| io_error(path, e))?)
    };
    let raw: Box<dyn Read + Send> = match counter {
        Some(counter) => Box::new(Counted { inner: raw, counter }),
        None => raw,
    };
    detect(path, raw)
}

/// Detects the kind of the bytes in `raw`, decompressing gzip.
pub fn detect(name: &str, raw: Box<dyn Read + Send>) -> Result<Opened, InputError> {
    let (prefix, raw) = peek(raw).map_err(|e| io_error(name, e))?;
    if prefix.is_empty() {
        return Err(InputError::Empty { path: name.to_string() });
    }
    let (prefix, reader, gzip): (Vec<u8>, Box<dyn Read + Send>, bool) = if prefix.starts_with(&[0x1f, 0x8b]) {
        let whole = Cursor::new(prefix).chain(raw);
        let gz: Box<dyn Read + Send> =
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, whole)));
        let (p, r) = peek(gz).map_err(|e| io_error(name, e))?;
        if p.is_empty() {
            return Err(InputError::Empty { path: name.to_string() });
        }
        (p, r, true)
    } else {
        (prefix, raw, false)
    };
    let kind = kind_of(&prefix).ok_or_else(|| InputError::Unrecognised {
        path: name.to_string(),
        magic: prefix.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "),
    })?;
    let reader = Box::new(BufReader::with_capacity(1 << 16, Cursor::new(prefix).chain(reader)));
    Ok(Opened { name: name.to_string(), kind, gzip, reader })
}

/// A reader that counts what passes through it.
struct Counted {
    inner: Box<dyn Read + Send>,
    counter: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads up to [`PEEK`] bytes, returning them and a reader that still yields everything.
fn peek(mut r: Box<dyn Read + Send>) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut buf = vec![0u8; PEEK];
    let mut n = 0;
    while n < PEEK {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok((buf, r))
}

/// The kind of input that starts with `p`.
pub fn kind_of(p: &[u8]) -> Option<InputKind> {
    const PCAP: [[u8; 4]; 4] = [
        [0xd4, 0xc3, 0xb2, 0xa1],
        [0xa1, 0xb2, 0xc3, 0xd4],
        [0x4d, 0x3c, 0xb2, 0xa1],
        [0xa1, 0xb2, 0x3c, 0x4d],
    ];
    let magic = p.get(..4)?;
    if PCAP.iter().any(|m| m == magic) {
        return Some(InputKind::Pcap);
    }
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        return Some(InputKind::PcapNg);
    }
    if crate::har::parquet_records::is_parquet(p) {
        return Some(InputKind::ParquetRecords);
    }
    if crate::har::records::is_records(p) {
        return Some(InputKind::Records);
    }
    if is_har(p) {
        return Some(InputKind::Har);
    }
    // Text: no NUL and mostly printable in the first bytes (UTF-8 allowed).
    let printable = p.iter().filter(|&&b| b == b'\n' || b == b'\r' || b == b'\t' || b >= 0x20).count();
    if !p.contains(&0) && printable * 100 >= p.len() * 98 {
        return Some(InputKind::Text);
    }
    None
}

/// Does `p` start like a HAR: `{`, then `"log"`, `:`, `{` (optional UTF-8 BOM, any JSON
/// whitespace, CRLF included)? A JSON-lines log whose first key is `log` holds a string
/// there (Docker's), not an object.
fn is_har(p: &[u8]) -> bool {
    let p = p.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(p);
    let mut rest = p;
    for want in [&b"{"[..], b"\"log\"", b":", b"{"] {
        rest = rest.trim_ascii_start();
        match rest.strip_prefix(want) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    true
}

fn io_error(path: &str, e: io::Error) -> InputError {
    let path = path.to_string();
    match e.kind() {
        io::ErrorKind::NotFound => InputError::NotFound { path },
        io::ErrorKind::PermissionDenied => InputError::PermissionDenied { path },
        io::ErrorKind::IsADirectory => InputError::Directory { path },
        _ => InputError::Io { path, source: e },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn detect_bytes(b: &[u8]) -> Result<Opened, InputError> {
        detect("t", Box::new(Cursor::new(b.to_vec())))
    }

    #[test]
    fn kinds_from_bytes() {
        assert_eq!(kind_of(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]), Some(InputKind::Pcap));
        assert_eq!(kind_of(&[0xa1, 0xb2, 0x3c, 0x4d]), Some(InputKind::Pcap));
        assert_eq!(kind_of(&[0x0a, 0x0d, 0x0d, 0x0a, 0]), Some(InputKind::PcapNg));
        assert_eq!(
            kind_of(b"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 2326\n"),
            Some(InputKind::Text)
        );
        assert_eq!(kind_of(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0]), None);
        assert_eq!(kind_of(b"{\"log\": {\"version\": \"1.2\"}}"), Some(InputKind::Har));
        assert_eq!(kind_of(b"\xEF\xBB\xBF{\r\n  \"log\" :\r\n {"), Some(InputKind::Har));
        assert_eq!(kind_of(b"{\"log\":\"container line\",\"stream\":\"stdout\"}\n"), Some(InputKind::Text));
        assert_eq!(kind_of(b"PAR1\x15\x04\x15"), Some(InputKind::ParquetRecords));
    }

    #[test]
    fn gzip_is_transparent() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1\n").unwrap();
        let mut o = detect_bytes(&e.finish().unwrap()).ok().unwrap();
        assert!(o.gzip);
        assert_eq!(o.kind, InputKind::Text);
        let mut s = String::new();
        o.reader.read_to_string(&mut s).unwrap();
        assert!(s.starts_with("1.2.3.4 - -"));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(matches!(detect_bytes(b""), Err(InputError::Empty { .. })));
        let e = detect_bytes(&[0u8, 1, 2, 3, 0, 0]).err().unwrap();
        assert!(e.to_string().contains("not a pcap"), "{e}");
        assert!(matches!(open("/nonexistent/x.pcap"), Err(InputError::NotFound { .. })));
        assert!(matches!(open("/"), Err(InputError::Directory { .. })));
    }
}
