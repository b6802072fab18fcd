//! Content decoding for inspection: a [`Body`] and its head in, readable bytes out.
//!
//! `Content-Encoding: gzip`, `x-gzip` and `deflate` (zlib-wrapped or raw, as servers differ)
//! are undone with flate2 into at most `cap` bytes, so a decompression bomb costs at most
//! `cap` bytes of memory and is reported as [`Decoded::limited`]. Anything else (identity,
//! unknown codings, a body whose captured prefix is incomplete) is returned as captured.

use std::borrow::Cow;
use std::io::Read;

use crate::exchange::{Body, Head};

/// Default cap on decoded bytes.
pub const DEFAULT_DECODED_CAP: usize = 1 << 20;

/// A body made readable.
#[derive(Debug)]
pub struct Decoded<'a> {
    /// The bytes (decoded, or as captured).
    pub bytes: Cow<'a, [u8]>,
    /// Decoding stopped at the cap (possible decompression bomb).
    pub limited: bool,
    /// The body claimed an encoding that could not be undone.
    pub undecodable: bool,
}

/// Decodes `body` according to `head`'s `Content-Encoding`, producing at most `cap` bytes.
pub fn decode_body<'a>(head: &Head, body: &'a Body, cap: usize) -> Decoded<'a> {
    let raw = Decoded { bytes: Cow::Borrowed(&body.data[..]), limited: false, undecodable: false };
    let Some(enc) = head.header_str("content-encoding") else { return raw };
    let enc = enc.to_ascii_lowercase();
    let enc = enc.trim();
    if enc.is_empty() || enc == "identity" {
        return raw;
    }
    let data = &body.data[..];
    let out = match enc {
        "gzip" | "x-gzip" => read_capped(flate2::read::MultiGzDecoder::new(data), cap),
        "deflate" => read_capped(flate2::read::ZlibDecoder::new(data), cap)
            .or_else(|| read_capped(flate2::read::DeflateDecoder::new(data), cap)),
        _ => None,
    };
    match out {
        Some((bytes, limited)) => Decoded { bytes: Cow::Owned(bytes), limited, undecodable: false },
        None => Decoded { undecodable: true, ..raw },
    }
}

/// Does a gzip body state, in its trailer, a decoded size over `cap` (a decompression bomb,
/// or merely a big encoded body)? Free: it reads the last four bytes (ISIZE, the decoded
/// size mod 2^32 of the last member) of a whole body and decodes nothing. A body whose
/// trailer cannot tell (deflate, several members, a body cut short) is caught where it is
/// decoded: [`decode_body`] reports `limited`.
pub fn trailer_exceeds_cap(head: &Head, body: &Body, cap: usize) -> bool {
    let Some(enc) = head.header_str("content-encoding") else { return false };
    let enc = enc.trim();
    if !(enc.eq_ignore_ascii_case("gzip") || enc.eq_ignore_ascii_case("x-gzip")) {
        return false;
    }
    let n = body.data.len();
    if n < 18 || body.capped || body.missing != 0 {
        return false;
    }
    let isize = u32::from_le_bytes([body.data[n - 4], body.data[n - 3], body.data[n - 2], body.data[n - 1]]);
    isize as usize > cap
}

/// Reads at most `cap` bytes; `None` if nothing could be decoded at all.
fn read_capped(r: impl Read, cap: usize) -> Option<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut limited = r.take(cap as u64 + 1);
    match limited.read_to_end(&mut out) {
        Ok(_) => {}
        // A truncated stream still yields its prefix.
        Err(_) if !out.is_empty() => {}
        Err(_) => return None,
    }
    let hit = out.len() > cap;
    out.truncate(cap);
    Some((out, hit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn body(data: Vec<u8>) -> Body {
        Body { len: data.len() as u64, data, ..Body::default() }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_and_deflate_decode() {
        let h = Head::response(200, 1, &[("Content-Encoding", "gzip")]);
        let b = body(gzip(b"{\"success\":true}"));
        let d = decode_body(&h, &b, 1024);
        assert_eq!(&d.bytes[..], b"{\"success\":true}");
        assert!(!d.limited);

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"zlib").unwrap();
        let h = Head::response(200, 1, &[("Content-Encoding", "deflate")]);
        let zb = body(z.finish().unwrap());
        assert_eq!(&decode_body(&h, &zb, 1024).bytes[..], b"zlib");
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(b"raw deflate").unwrap();
        let rb = body(raw.finish().unwrap());
        assert_eq!(&decode_body(&h, &rb, 1024).bytes[..], b"raw deflate");
    }

    #[test]
    fn bomb_is_capped() {
        let bomb = gzip(&vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100 << 10);
        let h = Head::response(200, 1, &[("Content-Encoding", "gzip")]);
        let b = body(bomb);
        let d = decode_body(&h, &b, 4096);
        assert_eq!(d.bytes.len(), 4096);
        assert!(d.limited);
    }

    #[test]
    fn not_really_gzip_stays_raw() {
        let h = Head::request("POST", "/", 1, &[("Content-Encoding", "gzip")]);
        let b = body(b"{\"plain\":1}".to_vec());
        let d = decode_body(&h, &b, 1024);
        assert!(d.undecodable);
        assert_eq!(&d.bytes[..], b"{\"plain\":1}");
        let h = Head::response(200, 1, &[]);
        assert!(matches!(decode_body(&h, &b, 1024).bytes, Cow::Borrowed(_)));
    }
}
