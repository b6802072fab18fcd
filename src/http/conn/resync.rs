//! Finding the next message start after damage (a gap, bytes that do not parse, a
//! connection picked up mid-stream): a request line with a known method, or a status line.

use super::Role;
use crate::http::sniff;

/// The longest tail kept while resynchronising (a request line split across segments).
const RESYNC_TAIL: usize = 8 << 10;

/// Could `data` be the start of a message of this role (allowing a short prefix)?
pub(super) fn starts_like(role: Role, data: &[u8]) -> bool {
    match role {
        Role::Request => {
            sniff::looks_like_request(data) || (data.len() < 8 && data.iter().all(|b| b.is_ascii_uppercase()))
        }
        Role::Response => {
            sniff::looks_like_response(data) || (data.len() < 7 && b"HTTP/1.".starts_with(data))
        }
    }
}

pub(super) enum Found {
    /// The message starts at this index of the tail.
    InTail(usize),
    /// The message starts at this index of the new data.
    InData(usize),
}

/// Request methods accepted when resynchronising in the middle of a stream.
const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"HEAD",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"MERGE",
    b"PURGE",
    b"LINK",
    b"UNLINK",
    b"NOTIFY",
    b"SUBSCRIBE",
    b"UNSUBSCRIBE",
];

enum Scan {
    /// A message starts here.
    At(usize),
    /// Something that may be a message start begins here; more bytes needed.
    Partial(usize),
    /// Nothing.
    None,
}

/// Looks for a message start in `tail` (bytes kept from before) followed by `data`.
/// Returns where, and how many bytes of `data` were consumed when nothing was found.
pub(super) fn find_start(role: Role, tail: &mut Vec<u8>, data: &[u8]) -> (Option<Found>, usize) {
    let tl = tail.len();
    let combined;
    let hay: &[u8] = if tl == 0 {
        data
    } else {
        let mut c = std::mem::take(tail);
        c.extend_from_slice(data);
        combined = c;
        &combined
    };
    let keep_from = match scan(role, hay) {
        Scan::At(p) if p < tl => {
            *tail = hay[..tl].to_vec();
            return (Some(Found::InTail(p)), 0);
        }
        Scan::At(p) => {
            tail.clear();
            return (Some(Found::InData(p - tl)), 0);
        }
        Scan::Partial(p) => p,
        Scan::None => match role {
            // A request line may be split: keep the current line.
            Role::Request => memchr::memrchr(b'\n', hay).map_or(0, |p| p + 1),
            // A status line marker may be split: keep a few bytes.
            Role::Response => hay.len().saturating_sub(11),
        },
    };
    let keep_from = keep_from.max(hay.len().saturating_sub(RESYNC_TAIL));
    *tail = hay[keep_from..].to_vec();
    (None, data.len())
}

fn scan(role: Role, hay: &[u8]) -> Scan {
    match role {
        Role::Response => {
            for p in memchr::memmem::find_iter(hay, b"HTTP/1.") {
                let Some(line) = hay.get(p..p + 12) else { return Scan::Partial(p) };
                if matches!(line[7], b'0' | b'1')
                    && line[8] == b' '
                    && line[9..12].iter().all(u8::is_ascii_digit)
                {
                    return Scan::At(p);
                }
            }
            Scan::None
        }
        Role::Request => {
            for q in memchr::memmem::find_iter(hay, b" HTTP/1.") {
                // Walk back over the target, then the method.
                let line_start = memchr::memrchr(b'\n', &hay[..q]).map_or(0, |p| p + 1);
                let Some(sp) = memchr::memrchr(b' ', &hay[line_start..q]).map(|p| line_start + p) else {
                    continue;
                };
                if sp + 1 >= q {
                    continue;
                }
                let m = hay[..sp].iter().rev().take_while(|b| b.is_ascii_uppercase() || **b == b'-').count();
                let method = &hay[sp - m..sp];
                if !METHODS.contains(&method) {
                    continue;
                }
                match hay.get(q + 8..q + 10) {
                    None => return Scan::Partial(sp - m),
                    Some([v, e]) if matches!(v, b'0' | b'1') && matches!(e, b'\r' | b'\n') => {
                        return Scan::At(sp - m);
                    }
                    _ => continue,
                }
            }
            Scan::None
        }
    }
}
