//! HTTP/2 framing (RFC 9113 §4): one direction's in-order bytes in, frame events out.
//!
//! Takes a direction's chunks, gaps and its first bytes; gives [`Event`]s: whole control
//! and header frames (payload buffered, capped), DATA payloads streamed as they arrive
//! (padding stripped, never buffered whole), and what a gap cost. Frames have no sync
//! marker, so a gap that does not fall inside a DATA payload or a skipped frame loses the
//! framing: the reader then waits for a chunk that starts with a [`plausible`] run of
//! frame headers (senders write whole frames, so segment starts are frame starts more
//! often than not). A capture picked up mid-connection starts the same way.

use crate::capture::reassembly::At;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// DATA frame type.
pub const DATA: u8 = 0;
/// HEADERS frame type.
pub const HEADERS: u8 = 1;
/// PRIORITY frame type.
pub const PRIORITY: u8 = 2;
/// RST_STREAM frame type.
pub const RST_STREAM: u8 = 3;
/// SETTINGS frame type.
pub const SETTINGS: u8 = 4;
/// PUSH_PROMISE frame type.
pub const PUSH_PROMISE: u8 = 5;
/// PING frame type.
pub const PING: u8 = 6;
/// GOAWAY frame type.
pub const GOAWAY: u8 = 7;
/// WINDOW_UPDATE frame type.
pub const WINDOW_UPDATE: u8 = 8;
/// CONTINUATION frame type.
pub const CONTINUATION: u8 = 9;

/// END_STREAM flag (DATA, HEADERS).
pub const END_STREAM: u8 = 0x1;
/// ACK flag (SETTINGS, PING).
pub const ACK: u8 = 0x1;
/// END_HEADERS flag (HEADERS, PUSH_PROMISE, CONTINUATION).
pub const END_HEADERS: u8 = 0x4;
/// PADDED flag (DATA, HEADERS, PUSH_PROMISE).
pub const PADDED: u8 = 0x8;
/// PRIORITY flag (HEADERS).
pub const PRIORITY_FLAG: u8 = 0x20;

/// The largest frame payload HTTP/2 allows (2^24 - 1).
pub const MAX_FRAME: u32 = (1 << 24) - 1;
/// The largest payload [`plausible`] accepts when looking for a frame start.
const PLAUSIBLE_MAX: u32 = 1 << 20;

/// A frame header (9 octets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length.
    pub len: u32,
    /// Frame type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Stream identifier (reserved bit cleared).
    pub stream: u32,
    /// The reserved bit was set.
    pub reserved: bool,
}

impl FrameHeader {
    /// Parses the 9-octet header.
    pub fn parse(b: &[u8; 9]) -> Self {
        let sid = u32::from_be_bytes([b[5], b[6], b[7], b[8]]);
        FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: sid & 0x7fff_ffff,
            reserved: sid & 0x8000_0000 != 0,
        }
    }

    /// Does the flag bit `f` appear?
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    /// Could this header start a frame a real peer sent? Known type, right stream kind,
    /// the fixed lengths right.
    fn sane(&self) -> bool {
        let conn_level = matches!(self.kind, SETTINGS | PING | GOAWAY);
        let len_ok = match self.kind {
            SETTINGS => self.len % 6 == 0,
            PING => self.len == 8,
            RST_STREAM | WINDOW_UPDATE => self.len == 4,
            PRIORITY => self.len == 5,
            GOAWAY => self.len >= 8,
            DATA | HEADERS | PUSH_PROMISE | CONTINUATION => true,
            _ => false,
        };
        len_ok
            && !self.reserved
            && self.len <= PLAUSIBLE_MAX
            && (self.kind == WINDOW_UPDATE || conn_level == (self.stream == 0))
    }
}

/// Do `data` start with a run of sane frame headers (each at the end of the previous
/// frame, as far as `data` reaches)? Used to find a frame start after lost bytes.
pub fn plausible(data: &[u8]) -> bool {
    let mut p = 0usize;
    let mut frames = 0;
    while let Some(h) = data.get(p..p + 9) {
        let mut b = [0u8; 9];
        b.copy_from_slice(h);
        let h = FrameHeader::parse(&b);
        if !h.sane() {
            return false;
        }
        frames += 1;
        p += 9 + h.len as usize;
        if frames == 8 {
            break;
        }
    }
    frames > 0
}

/// What the reader saw. `h` is the frame's header, `stream` its stream id.
#[derive(Debug)]
#[allow(missing_docs)]
pub enum Event<'a> {
    /// The client preface.
    Preface,
    /// A whole non-DATA frame; `start` is where its first byte was captured.
    Frame { h: FrameHeader, payload: &'a [u8], start: At },
    /// A DATA frame begins (its header was read).
    DataStart { h: FrameHeader, start: At },
    /// Payload bytes of the current DATA frame (padding excluded).
    Data { stream: u32, bytes: &'a [u8] },
    /// `len` payload bytes of the current DATA frame were lost in a gap.
    DataMissing { stream: u32, len: u64 },
    /// The current DATA frame ended.
    DataEnd { h: FrameHeader },
    /// A frame too long to buffer was skipped (header blocks in it are lost).
    Skipped { h: FrameHeader },
    /// A frame that breaks the protocol (e.g. padding longer than the payload).
    Malformed { h: FrameHeader, why: &'static str },
    /// Bytes that are not the preface where the preface was expected; framing lost.
    NoPreface,
    /// The framing was lost (a gap) and is waiting for a frame start.
    Lost,
    /// The framing was found again at the start of a chunk.
    Resync,
}

#[derive(Debug)]
enum State {
    /// Expecting the client preface (`got` bytes of it so far).
    Preface { got: usize },
    /// Reading a frame header.
    Header { got: usize },
    /// Buffering a non-DATA payload.
    Payload { h: FrameHeader, start: At },
    /// Skipping the rest of a frame.
    Skip { left: u32 },
    /// Expecting the pad-length octet of a padded DATA frame.
    DataPad { h: FrameHeader },
    /// In a DATA payload: data bytes, then padding.
    Data { h: FrameHeader, data_left: u32, pad_left: u32 },
    /// Framing lost: waiting for a chunk that starts with a plausible frame.
    Lost,
}

/// One direction's frame reader.
#[derive(Debug)]
pub struct FrameReader {
    state: State,
    hdr: [u8; 9],
    buf: Vec<u8>,
    /// Non-DATA payloads longer than this are skipped.
    max_buffered: usize,
    start: At,
    /// Framing was ever found (a later find is a resynchronisation).
    found: bool,
}

impl FrameReader {
    /// A reader expecting the client preface first (`client`), or frames.
    pub fn new(client: bool, max_buffered: usize) -> Self {
        FrameReader {
            state: if client { State::Preface { got: 0 } } else { State::Lost },
            hdr: [0; 9],
            buf: Vec::new(),
            max_buffered,
            start: At { ts: crate::exchange::Timestamp(0), frame: 0 },
            found: false,
        }
    }

    /// Is the framing lost (waiting for a frame start)?
    pub fn is_lost(&self) -> bool {
        matches!(self.state, State::Lost)
    }

    /// Feeds one in-order chunk (`chunk_start`: `data` begins a TCP chunk, so it may be
    /// tried as a frame start when the framing is lost).
    pub fn feed(&mut self, mut data: &[u8], at: At, out: &mut dyn FnMut(Event<'_>)) {
        if matches!(self.state, State::Lost) {
            if !plausible(data) {
                return;
            }
            self.state = State::Header { got: 0 };
            if std::mem::replace(&mut self.found, true) {
                out(Event::Resync);
            }
        }
        self.found = true;
        while !data.is_empty() {
            let used = self.step(data, at, out);
            data = &data[used..];
            if matches!(self.state, State::Lost) {
                return;
            }
        }
        // A DATA frame whose payload is all read ends at once, not with the next byte.
        self.finish_data(out);
    }

    fn step(&mut self, data: &[u8], at: At, out: &mut dyn FnMut(Event<'_>)) -> usize {
        match &mut self.state {
            State::Preface { got } => {
                let had = *got;
                let want = &PREFACE[had..];
                let n = want.len().min(data.len());
                if data[..n] != want[..n] {
                    self.state = State::Lost;
                    out(Event::NoPreface);
                    // The same chunk may start with frames (a capture picked up late).
                    if had == 0 && plausible(data) {
                        self.state = State::Header { got: 0 };
                        out(Event::Resync);
                    }
                    return 0;
                }
                *got += n;
                if *got == PREFACE.len() {
                    self.state = State::Header { got: 0 };
                    out(Event::Preface);
                }
                n
            }
            State::Header { got } => {
                if *got == 0 {
                    self.start = at;
                }
                let n = (9 - *got).min(data.len());
                self.hdr[*got..*got + n].copy_from_slice(&data[..n]);
                *got += n;
                if *got == 9 {
                    let h = FrameHeader::parse(&self.hdr);
                    self.begin(h, out);
                }
                n
            }
            State::Payload { h, start } => {
                let (h, start) = (*h, *start);
                let n = (h.len as usize - self.buf.len()).min(data.len());
                self.buf.extend_from_slice(&data[..n]);
                if self.buf.len() == h.len as usize {
                    self.state = State::Header { got: 0 };
                    out(Event::Frame { h, payload: &self.buf, start });
                    self.buf.clear();
                }
                n
            }
            State::Skip { left, .. } => {
                let n = (*left as usize).min(data.len());
                *left -= n as u32;
                if *left == 0 {
                    self.state = State::Header { got: 0 };
                }
                n
            }
            State::DataPad { h } => {
                let h = *h;
                let pad = u32::from(data[0]);
                if pad > h.len - 1 {
                    out(Event::Malformed { h, why: "DATA padding longer than the payload" });
                    self.state = State::Skip { left: h.len - 1 };
                    return 1;
                }
                self.state = State::Data { h, data_left: h.len - 1 - pad, pad_left: pad };
                1
            }
            State::Data { h, data_left, pad_left } => {
                if *data_left > 0 {
                    let n = (*data_left as usize).min(data.len());
                    *data_left -= n as u32;
                    out(Event::Data { stream: h.stream, bytes: &data[..n] });
                    return n;
                }
                let n = (*pad_left as usize).min(data.len());
                *pad_left -= n as u32;
                self.finish_data(out);
                n
            }
            State::Lost => data.len(),
        }
    }

    /// A frame header was read: choose how to read its payload.
    fn begin(&mut self, h: FrameHeader, out: &mut dyn FnMut(Event<'_>)) {
        let start = self.start;
        self.state = if h.kind == DATA {
            out(Event::DataStart { h, start });
            if h.has(PADDED) {
                if h.len == 0 {
                    out(Event::Malformed { h, why: "padded DATA frame without a pad length" });
                    State::Header { got: 0 }
                } else {
                    State::DataPad { h }
                }
            } else {
                State::Data { h, data_left: h.len, pad_left: 0 }
            }
        } else if h.len as usize > self.max_buffered {
            out(Event::Skipped { h });
            State::Skip { left: h.len }
        } else if h.len == 0 {
            out(Event::Frame { h, payload: &[], start });
            State::Header { got: 0 }
        } else {
            self.buf.clear();
            State::Payload { h, start }
        };
        self.finish_data(out);
    }

    fn finish_data(&mut self, out: &mut dyn FnMut(Event<'_>)) {
        if let State::Data { h, data_left: 0, pad_left: 0 } = self.state {
            self.state = State::Header { got: 0 };
            out(Event::DataEnd { h });
        }
    }

    /// `len` bytes were never captured. Returns `true` when the framing survived (the
    /// hole lies inside a DATA payload or a frame being skipped).
    pub fn gap(&mut self, len: u64, out: &mut dyn FnMut(Event<'_>)) -> bool {
        match &mut self.state {
            State::Data { h, data_left, pad_left } if len <= u64::from(*data_left) + u64::from(*pad_left) => {
                let from_data = len.min(u64::from(*data_left));
                *data_left -= from_data as u32;
                *pad_left -= (len - from_data) as u32;
                if from_data > 0 {
                    out(Event::DataMissing { stream: h.stream, len: from_data });
                }
                self.finish_data(out);
                true
            }
            State::Skip { left, .. } if len <= u64::from(*left) => {
                *left -= len as u32;
                if *left == 0 {
                    self.state = State::Header { got: 0 };
                }
                true
            }
            State::Lost => false,
            _ => {
                if let State::Data { h, data_left, .. } = self.state {
                    if data_left > 0 {
                        out(Event::DataMissing { stream: h.stream, len: u64::from(data_left) });
                    }
                }
                self.buf.clear();
                self.state = State::Lost;
                out(Event::Lost);
                false
            }
        }
    }
}
