//! Streaming access-log reader: bytes in, one record (or line error) per line out.
//!
//! Takes any [`BufRead`] (a file, stdin, a gzip decoder); gives an iterator of
//! `Result<LogRecord, LineError>` in file order. It reads with one reusable buffer,
//! strips `\n` / `\r\n`, replaces invalid UTF-8 lossily, skips blank lines (they still
//! count for line numbers), and caps line length: a longer line is reported as a
//! [`LineErrorKind::TooLong`] error and skipped without being held in memory. An I/O
//! error is reported once as [`LineErrorKind::Io`] and ends the iteration.
//!
//! [`LogReader::sniff`] reads the first lines ahead for [`LogFormat::detect`] and
//! replays them, so detection works on stdin too.

use std::collections::VecDeque;
use std::io::{self, BufRead};

use memchr::memchr;

use super::LogFormat;
use super::record::{LineError, LineErrorKind, LogRecord};

/// Default cap on one line: 1 MiB.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// What one physical line turned out to be.
enum Raw {
    Line,
    TooLong,
    Eof,
}

/// Reads physical lines from `inner` into `buf` (without the terminator), at most `max`
/// bytes; the rest of a longer line is consumed and dropped.
/// Adds the bytes consumed (terminators included) to `read`.
fn read_line<R: BufRead>(inner: &mut R, buf: &mut Vec<u8>, max: usize, read: &mut u64) -> io::Result<Raw> {
    buf.clear();
    let mut total = 0usize;
    let mut seen_any = false;
    loop {
        let available = match inner.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if !seen_any {
                Raw::Eof
            } else if total > max {
                Raw::TooLong
            } else {
                Raw::Line
            });
        }
        seen_any = true;
        let (chunk_len, consumed, done) = match memchr(b'\n', available) {
            Some(i) => (i, i + 1, true),
            None => (available.len(), available.len(), false),
        };
        total = total.saturating_add(chunk_len);
        if total <= max {
            buf.extend_from_slice(available.get(..chunk_len).unwrap_or(&[]));
        } else if !buf.is_empty() {
            buf.clear();
            buf.shrink_to(64 * 1024);
        }
        inner.consume(consumed);
        *read += consumed as u64;
        if done {
            return Ok(if total > max { Raw::TooLong } else { Raw::Line });
        }
    }
}

/// Trims the `\r` of a CRLF line end.
fn strip_cr(buf: &[u8]) -> &[u8] {
    buf.strip_suffix(b"\r").unwrap_or(buf)
}

/// Blank, or a line that describes the log rather than being an entry (CloudFront's
/// `#Version:` / `#Fields:`): skipped, still counted for line numbers.
fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c')) || super::detect::is_directive(b)
}

/// An iterator of records from an access log, in file order.
pub struct LogReader<R> {
    inner: R,
    format: LogFormat,
    buf: Vec<u8>,
    line_no: u64,
    max_line: usize,
    pending: VecDeque<(u64, Vec<u8>)>,
    done: bool,
    bytes: u64,
}

impl<R: BufRead> LogReader<R> {
    /// Reads `inner` with `format`.
    pub fn new(inner: R, format: LogFormat) -> Self {
        LogReader {
            inner,
            format,
            buf: Vec::with_capacity(1024),
            line_no: 0,
            max_line: DEFAULT_MAX_LINE,
            pending: VecDeque::new(),
            done: false,
            bytes: 0,
        }
    }

    /// Sets the longest line accepted (default [`DEFAULT_MAX_LINE`]).
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// The format in use.
    pub fn format(&self) -> &LogFormat {
        &self.format
    }

    /// Bytes read from the input so far (after decompression), line terminators and
    /// skipped lines included.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Reads up to `n` non-blank lines ahead (for [`LogFormat::detect`]); the returned
    /// [`Sniffed`] replays them before the rest of the input.
    pub fn sniff(mut inner: R, n: usize) -> io::Result<Sniffed<R>> {
        let mut lines = Vec::new();
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        let mut bytes = 0u64;
        while lines.len() < n {
            match read_line(&mut inner, &mut buf, DEFAULT_MAX_LINE, &mut bytes)? {
                Raw::Eof => break,
                Raw::TooLong => {
                    line_no += 1;
                    // Replayed as an empty marker; reported again when read.
                    lines.push((line_no, None));
                }
                Raw::Line => {
                    line_no += 1;
                    let l = strip_cr(&buf);
                    if !is_blank(l) {
                        lines.push((line_no, Some(l.to_vec())));
                    }
                }
            }
        }
        Ok(Sniffed { inner, lines, line_no, bytes })
    }

    /// Fills `self.buf` with the next non-blank line and gives its number; `None` at the
    /// end.
    fn next_line(&mut self) -> Option<Result<u64, LineError>> {
        loop {
            if let Some((no, bytes)) = self.pending.pop_front() {
                if bytes.is_empty() {
                    return Some(Err(too_long(no, self.max_line)));
                }
                self.buf = bytes;
                return Some(Ok(no));
            }
            if self.done {
                return None;
            }
            match read_line(&mut self.inner, &mut self.buf, self.max_line, &mut self.bytes) {
                Ok(Raw::Eof) => {
                    self.done = true;
                    return None;
                }
                Ok(Raw::TooLong) => {
                    self.line_no += 1;
                    return Some(Err(too_long(self.line_no, self.max_line)));
                }
                Ok(Raw::Line) => {
                    self.line_no += 1;
                    if self.buf.last() == Some(&b'\r') {
                        self.buf.pop();
                    }
                    if is_blank(&self.buf) {
                        continue;
                    }
                    return Some(Ok(self.line_no));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(LineError {
                        line: self.line_no + 1,
                        reason: format!("read error: {}", e.kind()),
                        kind: LineErrorKind::Io,
                    }));
                }
            }
        }
    }
}

fn too_long(line: u64, max: usize) -> LineError {
    LineError { line, reason: format!("line longer than {max} bytes, skipped"), kind: LineErrorKind::TooLong }
}

impl<R: BufRead> Iterator for LogReader<R> {
    type Item = Result<LogRecord, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let line_no = match self.next_line()? {
            Ok(n) => n,
            Err(e) => return Some(Err(e)),
        };
        Some(match std::str::from_utf8(&self.buf) {
            Ok(s) => self.format.parse_line(s, line_no),
            Err(_) => self.format.parse_line(&String::from_utf8_lossy(&self.buf), line_no),
        })
    }
}

/// Lines read ahead from an input, to detect its format, and the input itself.
pub struct Sniffed<R> {
    inner: R,
    /// (line number, content; `None` for a line over the cap).
    lines: Vec<(u64, Option<Vec<u8>>)>,
    line_no: u64,
    bytes: u64,
}

impl<R: BufRead> Sniffed<R> {
    /// The non-blank lines read ahead (lossy UTF-8), for [`LogFormat::detect`].
    pub fn sample(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|(_, l)| l.as_ref())
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    /// Detects the format from the sample ([`LogFormat::detect`]).
    pub fn detect(&self) -> Option<(LogFormat, &'static str)> {
        self.detect_spec().map(|d| (d.format, d.name))
    }

    /// Detects the format from the sample, with its spec ([`LogFormat::detect_spec`]).
    pub fn detect_spec(&self) -> Option<super::Detected> {
        let sample = self.sample();
        let refs: Vec<&str> = sample.iter().map(String::as_str).collect();
        LogFormat::detect_spec(&refs)
    }

    /// The keys of the first JSON line of the sample ([`LogFormat::json_keys`]).
    pub fn json_keys(&self) -> Option<Vec<String>> {
        let sample = self.sample();
        let refs: Vec<&str> = sample.iter().map(String::as_str).collect();
        LogFormat::json_keys(&refs)
    }

    /// A reader that yields the sampled lines first, then the rest of the input.
    pub fn into_reader(self, format: LogFormat) -> LogReader<R> {
        let mut r = LogReader::new(self.inner, format);
        r.pending = self.lines.into_iter().map(|(n, l)| (n, l.unwrap_or_default())).collect();
        // Lines after the sample continue its numbering.
        r.line_no = self.line_no;
        r.bytes = self.bytes;
        r
    }
}
