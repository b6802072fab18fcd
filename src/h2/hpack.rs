//! HPACK (RFC 7541) decoding for a passive observer: header blocks in, header fields out.
//!
//! Takes one complete header block (HEADERS + CONTINUATION payloads joined) at a time;
//! gives its fields in order, plus a count of the fields that could not be decoded. One
//! [`Decoder`] per direction keeps that direction's dynamic table.
//!
//! An observer may have missed the start of the connection (a capture begun mid-way, a
//! gap): the dynamic table then holds entries it never saw. Such a decoder is built
//! [`Decoder::mid_stream`]: an index past the entries it knows is counted as an
//! undecodable field (never an error), and decoding goes on with the next field, since
//! every representation says its own length. Entries added later are known, so the
//! decoder is exact again once the unseen ones are evicted. Errors are values, never
//! panics; decoded bytes per block and the table size are capped.

use std::collections::VecDeque;

use super::huffman::{self, HuffmanError};

/// The largest dynamic table accepted (a size update above it is clamped and reported).
pub const MAX_TABLE_SIZE: usize = 1 << 20;
/// The default dynamic table size (RFC 7541 §4.2, SETTINGS_HEADER_TABLE_SIZE default).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// Why a header block does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    /// The block ends inside a representation.
    #[error("header block truncated")]
    Truncated,
    /// An integer longer than 5 continuation octets (would overflow).
    #[error("HPACK integer too long")]
    IntegerOverflow,
    /// Index 0, or an index past the table in a decoder that saw the whole connection.
    #[error("HPACK index {0} is not in the table")]
    BadIndex(usize),
    /// A Huffman string that does not decode.
    #[error("{0}")]
    Huffman(#[from] HuffmanError),
    /// The decoded fields exceed the per-block limit (an HPACK bomb).
    #[error("decoded header list longer than {0} bytes")]
    TooLarge(usize),
    /// A dynamic table size update above the allowed maximum.
    #[error("dynamic table size update to {0} above the allowed maximum")]
    SizeUpdate(usize),
}

/// A decoded header field: name and value bytes.
pub type Field = (Vec<u8>, Vec<u8>);

/// The decoded header list of one block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// Fields in order, names as received (HTTP/2 sends them lower case).
    pub fields: Vec<Field>,
    /// Fields that referred to dynamic-table entries this decoder never saw.
    pub undecoded: u32,
}

#[derive(Clone, Debug)]
struct Entry {
    /// `None`: added by a field whose name was itself unknown.
    name: Option<Box<[u8]>>,
    value: Box<[u8]>,
    size: usize,
}

/// One direction's HPACK state.
#[derive(Clone, Debug)]
pub struct Decoder {
    table: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// The most a size update may set (the peer's SETTINGS_HEADER_TABLE_SIZE).
    allowed: usize,
    /// Entries may exist that this decoder never saw.
    mid_stream: bool,
    /// Decoded name + value bytes per block at most.
    list_limit: usize,
}

impl Decoder {
    /// A decoder that saw the connection from its first header block.
    pub fn new(list_limit: usize) -> Self {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: DEFAULT_TABLE_SIZE,
            allowed: MAX_TABLE_SIZE,
            mid_stream: false,
            list_limit,
        }
    }

    /// A decoder that joined late: unknown dynamic entries are counted, not errors.
    pub fn mid_stream(list_limit: usize) -> Self {
        Decoder { mid_stream: true, ..Decoder::new(list_limit) }
    }

    /// Header blocks were lost (a gap, a broken block): they may have added entries, so
    /// the known ones are at unknown indices now. They are dropped; entries added from
    /// here on are known again, older ones are counted as undecoded.
    pub fn lose_sync(&mut self) {
        self.mid_stream = true;
        self.table.clear();
        self.size = 0;
    }

    /// Did this decoder possibly miss entries?
    pub fn is_mid_stream(&self) -> bool {
        self.mid_stream
    }

    /// The decoding side announced SETTINGS_HEADER_TABLE_SIZE = `size`.
    pub fn set_allowed(&mut self, size: usize) {
        self.allowed = size.min(MAX_TABLE_SIZE);
    }

    /// Entries in the dynamic table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Decodes one complete header block. On an error the fields decoded so far are lost,
    /// and the table may lack the entries the rest of the block would have added (the
    /// caller should then treat the decoder as [`lose_sync`](Self::lose_sync)).
    pub fn decode(&mut self, mut buf: &[u8]) -> Result<Block, HpackError> {
        let mut block = Block::default();
        let mut bytes = 0usize;
        while let Some(&first) = buf.first() {
            let field = if first & 0x80 != 0 {
                let (index, n) = integer(buf, 7)?;
                buf = &buf[n..];
                self.indexed(index)?
            } else if first & 0xe0 == 0x20 {
                let (size, n) = integer(buf, 5)?;
                buf = &buf[n..];
                self.size_update(size)?;
                continue;
            } else {
                let (indexing, prefix) = if first & 0x40 != 0 { (true, 6) } else { (false, 4) };
                let (index, n) = integer(buf, prefix)?;
                buf = &buf[n..];
                let name = if index == 0 {
                    let (name, n) = string(buf, self.list_limit)?;
                    buf = &buf[n..];
                    Some(name)
                } else {
                    self.indexed(index)?.map(|(name, _)| name)
                };
                let (value, n) = string(buf, self.list_limit)?;
                buf = &buf[n..];
                if indexing {
                    self.insert(name.as_deref(), &value);
                }
                name.map(|name| (name, value))
            };
            match field {
                Some((name, value)) => {
                    bytes += name.len() + value.len();
                    if bytes > self.list_limit {
                        return Err(HpackError::TooLarge(self.list_limit));
                    }
                    block.fields.push((name, value));
                }
                None => block.undecoded += 1,
            }
        }
        Ok(block)
    }

    /// The entry at `index` (1-based over static then dynamic); `None` when it is an
    /// entry this mid-stream decoder never saw (or whose name it never saw).
    fn indexed(&self, index: usize) -> Result<Option<Field>, HpackError> {
        if index == 0 {
            return Err(HpackError::BadIndex(0));
        }
        if let Some(&(n, v)) = STATIC.get(index - 1) {
            return Ok(Some((n.as_bytes().to_vec(), v.as_bytes().to_vec())));
        }
        match self.table.get(index - 1 - STATIC.len()) {
            Some(e) => Ok(e.name.as_ref().map(|n| (n.to_vec(), e.value.to_vec()))),
            None if self.mid_stream => Ok(None),
            None => Err(HpackError::BadIndex(index)),
        }
    }

    fn size_update(&mut self, size: usize) -> Result<(), HpackError> {
        if size > self.allowed && !self.mid_stream {
            return Err(HpackError::SizeUpdate(size));
        }
        self.max_size = size.min(MAX_TABLE_SIZE);
        self.evict(0);
        Ok(())
    }

    fn insert(&mut self, name: Option<&[u8]>, value: &[u8]) {
        // An unknown name's length is unknown too: the size is then a lower bound.
        let size = 32 + name.map_or(0, <[u8]>::len) + value.len();
        if size > self.max_size {
            // RFC 7541 §4.4: an entry larger than the table empties it.
            self.table.clear();
            self.size = 0;
            return;
        }
        self.evict(size);
        self.size += size;
        self.table.push_front(Entry { name: name.map(Box::from), value: value.into(), size });
    }

    /// Evicts the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max_size {
            match self.table.pop_back() {
                Some(e) => self.size -= e.size,
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

/// Decodes an integer with an `prefix`-bit prefix (RFC 7541 §5.1); returns it and the
/// octets used.
pub fn integer(buf: &[u8], prefix: u8) -> Result<(usize, usize), HpackError> {
    let first = *buf.first().ok_or(HpackError::Truncated)?;
    let mask = ((1u16 << prefix) - 1) as u8;
    let mut value = usize::from(first & mask);
    if value < usize::from(mask) {
        return Ok((value, 1));
    }
    for (i, &b) in buf.iter().enumerate().skip(1) {
        if i > 5 {
            return Err(HpackError::IntegerOverflow);
        }
        value += usize::from(b & 0x7f) << (7 * (i - 1));
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(HpackError::Truncated)
}

/// Decodes a string literal (RFC 7541 §5.2); returns it and the octets used.
fn string(buf: &[u8], limit: usize) -> Result<(Vec<u8>, usize), HpackError> {
    let huffman = buf.first().is_some_and(|b| b & 0x80 != 0);
    let (len, n) = integer(buf, 7)?;
    let raw = buf.get(n..n.saturating_add(len)).ok_or(HpackError::Truncated)?;
    if raw.len() > limit {
        return Err(HpackError::TooLarge(limit));
    }
    let out = if huffman {
        let mut out = Vec::with_capacity(len + len / 2);
        huffman::decode(raw, &mut out, limit)?;
        out
    } else {
        raw.to_vec()
    };
    Ok((out, n + len))
}

/// The static table, RFC 7541 Appendix A.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];
