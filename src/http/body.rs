//! Body framing: a [`Framing`] and stream bytes in, de-chunked body bytes and "done" out.
//!
//! A small state machine per message that survives any split of its input (a chunk-size
//! line cut across two segments is buffered, bounded) and that knows when a gap can be
//! absorbed without losing sync: a gap inside a known-length body or inside chunk data only
//! costs body bytes; a gap inside a chunk-size line or a trailer loses the message framing.

use super::head::Framing;
use crate::exchange::Body;

/// The longest chunk-size line or trailer line accepted.
const MAX_LINE: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Chunked {
    /// Reading a chunk-size line (partial line kept).
    Size(Vec<u8>),
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// After chunk data: expecting CRLF (bytes of it already seen).
    DataEnd(u8),
    /// Trailer section: partial line kept.
    Trailer(Vec<u8>),
}

/// Reads one message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyReader {
    framing: Framing,
    remaining: u64,
    chunked: Chunked,
    done: bool,
}

/// The framing broke (bad chunk size, overlong line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramingError(pub &'static str);

impl BodyReader {
    /// A reader for a body delimited by `framing`.
    pub fn new(framing: Framing) -> Self {
        BodyReader {
            framing,
            remaining: match framing {
                Framing::Length(n) => n,
                _ => 0,
            },
            chunked: Chunked::Size(Vec::new()),
            done: framing == Framing::None,
        }
    }

    /// The framing.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Has the body ended?
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Consumes body bytes from `data` into `body` (keeping at most `cap`); returns how many
    /// bytes of `data` belonged to this body. Bytes after the end are left for the next message.
    pub fn feed(&mut self, data: &[u8], body: &mut Body, cap: usize) -> Result<usize, FramingError> {
        match self.framing {
            Framing::None => Ok(0),
            Framing::Close => {
                body.push(data, cap);
                Ok(data.len())
            }
            Framing::Length(_) => {
                let take = (self.remaining.min(data.len() as u64)) as usize;
                body.push(&data[..take], cap);
                self.remaining -= take as u64;
                self.done = self.remaining == 0;
                Ok(take)
            }
            Framing::Chunked => self.feed_chunked(data, body, cap),
        }
    }

    fn feed_chunked(&mut self, data: &[u8], body: &mut Body, cap: usize) -> Result<usize, FramingError> {
        let mut i = 0;
        while i < data.len() && !self.done {
            let rest = &data[i..];
            match &mut self.chunked {
                Chunked::Data(left) => {
                    let take = (*left).min(rest.len() as u64) as usize;
                    body.push(&rest[..take], cap);
                    *left -= take as u64;
                    i += take;
                    if *left == 0 {
                        self.chunked = Chunked::DataEnd(0);
                    }
                }
                Chunked::DataEnd(seen) => {
                    // Accept CRLF or a bare LF.
                    let b = rest[0];
                    i += 1;
                    match (*seen, b) {
                        (0, b'\r') => *seen = 1,
                        (_, b'\n') => self.chunked = Chunked::Size(Vec::new()),
                        _ => return Err(FramingError("missing CRLF after chunk data")),
                    }
                }
                Chunked::Size(line) => {
                    let Some(nl) = memchr::memchr(b'\n', rest) else {
                        line.extend_from_slice(rest);
                        if line.len() > MAX_LINE {
                            return Err(FramingError("chunk-size line too long"));
                        }
                        i = data.len();
                        continue;
                    };
                    line.extend_from_slice(&rest[..=nl]);
                    i += nl + 1;
                    let size = chunk_size(line)?;
                    self.chunked = if size == 0 { Chunked::Trailer(Vec::new()) } else { Chunked::Data(size) };
                }
                Chunked::Trailer(line) => {
                    let Some(nl) = memchr::memchr(b'\n', rest) else {
                        line.extend_from_slice(rest);
                        if line.len() > MAX_LINE {
                            return Err(FramingError("trailer line too long"));
                        }
                        i = data.len();
                        continue;
                    };
                    line.extend_from_slice(&rest[..=nl]);
                    i += nl + 1;
                    if line.trim_ascii().is_empty() {
                        self.done = true;
                    } else {
                        line.clear();
                    }
                }
            }
        }
        Ok(i)
    }

    /// `len` bytes of the stream were lost. Returns how many of them fell inside this body
    /// while keeping sync (those are counted as missing body bytes), or `None` when the
    /// framing is lost (the gap hit a chunk-size line, a trailer, or went past the end).
    pub fn gap(&mut self, len: u64, body: &mut Body) -> Option<u64> {
        let fits = match (self.framing, &mut self.chunked) {
            (Framing::Close, _) => true,
            (Framing::Length(_), _) if len <= self.remaining => {
                self.remaining -= len;
                self.done = self.remaining == 0;
                true
            }
            (Framing::Chunked, Chunked::Data(left)) if len <= *left => {
                *left -= len;
                if *left == 0 {
                    self.chunked = Chunked::DataEnd(0);
                }
                true
            }
            _ => false,
        };
        if fits {
            body.missing += len;
            Some(len)
        } else {
            None
        }
    }
}

/// Parses a complete chunk-size line (with its line ending): hex size, optional extensions.
fn chunk_size(line: &[u8]) -> Result<u64, FramingError> {
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((_, size))) => Ok(size),
        // httparse wants CRLF; tolerate a bare LF as many servers' peers do.
        Ok(httparse::Status::Partial) | Err(_) => {
            let hex: &[u8] = line.split(|&b| b == b';' || b == b'\r' || b == b'\n').next().unwrap_or(b"");
            let hex = hex.trim_ascii();
            if hex.is_empty() || hex.len() > 16 {
                return Err(FramingError("invalid chunk size"));
            }
            std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or(FramingError("invalid chunk size"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at every position in `splits`; returns body, consumed, done.
    fn run(framing: Framing, parts: &[&[u8]]) -> (Vec<u8>, usize, bool) {
        let mut r = BodyReader::new(framing);
        let mut body = Body::default();
        let mut used = 0;
        for p in parts {
            used += r.feed(p, &mut body, 1 << 20).unwrap();
        }
        (body.data, used, r.is_done())
    }

    #[test]
    fn length_body_stops_at_its_end() {
        assert_eq!(run(Framing::Length(5), &[b"hel", b"loNEXT"]), (b"hello".to_vec(), 5, true));
    }

    #[test]
    fn chunked_any_split() {
        let wire: &[u8] =
            b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nGET";
        let body_len = wire.len() - 3;
        for cut in 0..wire.len() {
            let (body, used, done) = run(Framing::Chunked, &[&wire[..cut], &wire[cut..]]);
            assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "cut at {cut}");
            assert_eq!(used, body_len);
            assert!(done);
        }
    }

    #[test]
    fn chunked_tolerates_bare_lf() {
        assert_eq!(run(Framing::Chunked, &[b"3\nabc\n0\n\n"]), (b"abc".to_vec(), 9, true));
    }

    #[test]
    fn bad_chunk_size_is_an_error() {
        let mut r = BodyReader::new(Framing::Chunked);
        assert!(r.feed(b"zz\r\n", &mut Body::default(), 10).is_err());
        let mut r = BodyReader::new(Framing::Chunked);
        assert!(r.feed(&[b'1'; 5000], &mut Body::default(), 10).is_err());
    }

    #[test]
    fn gaps_inside_bodies_keep_sync() {
        let mut body = Body::default();
        let mut r = BodyReader::new(Framing::Length(10));
        assert_eq!(r.gap(4, &mut body), Some(4));
        assert_eq!(r.feed(b"123456XX", &mut body, 100), Ok(6));
        assert!(r.is_done());
        assert_eq!(body.missing, 4);

        let mut r = BodyReader::new(Framing::Length(3));
        assert_eq!(r.gap(4, &mut Body::default()), None);

        let mut r = BodyReader::new(Framing::Chunked);
        let mut body = Body::default();
        r.feed(b"a\r\n12", &mut body, 100).unwrap();
        assert_eq!(r.gap(5, &mut body), Some(5));
        assert_eq!(r.feed(b"345\r\n0\r\n\r\n", &mut body, 100), Ok(10));
        assert!(r.is_done());
        // A gap in a size line loses the framing.
        let mut r = BodyReader::new(Framing::Chunked);
        assert_eq!(r.gap(1, &mut Body::default()), None);
    }
}
