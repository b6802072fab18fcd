//! Line endings a strict parser refuses but real peers accept: a head's bytes in, the same
//! head with regular line endings out, and what was irregular.
//!
//! tshark, Suricata's libhtp and browsers read header lines ending in CR CR LF (a server that
//! appends `\r\n` to lines that already end in `\r`) and obs-fold continuation lines
//! (RFC 9112 section 5.2: a line starting with a space or tab continues the previous field).
//! httparse refuses both; [`super::head`] tries it strictly first and only then rewrites the
//! head with [`normalize`] and parses the rewrite, so a regular head costs nothing more.

/// What was irregular in a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Irregular {
    /// Header lines ending in more than one CR before the LF.
    CrCrLf,
    /// obs-fold continuation lines.
    ObsFold,
    /// Both.
    Both,
}

impl Irregular {
    /// In words, for the warning.
    pub fn words(self) -> &'static str {
        match self {
            Irregular::CrCrLf => "lines ending in CR CR LF",
            Irregular::ObsFold => "obs-fold continuation lines",
            Irregular::Both => "lines ending in CR CR LF and obs-fold continuation lines",
        }
    }
}

/// `buf` (a head, possibly with what follows it, possibly incomplete) with each line
/// ending as CR LF and each obs-fold replaced by one space; the bytes after the blank line
/// are copied unchanged. `None` when nothing was irregular.
pub fn normalize(buf: &[u8]) -> Option<(Vec<u8>, Irregular)> {
    let mut out = Vec::with_capacity(buf.len());
    let (mut crcr, mut fold) = (false, false);
    let (mut line_start, mut first_line) = (true, true);
    let mut i = 0;
    while i < buf.len() {
        let run = buf[i..].iter().take_while(|&&c| c == b'\r').count();
        if run > 1 && i + run == buf.len() {
            // An incomplete head ending in CRs: most likely a CR CR LF line end to come.
            crcr = true;
            out.push(b'\r');
            break;
        }
        if buf.get(i + run) != Some(&b'\n') {
            // Not a line end: the CRs (if any) and the next byte are content.
            let n = run.max(1).min(buf.len() - i);
            out.extend_from_slice(&buf[i..i + n]);
            i += n;
            line_start = false;
            continue;
        }
        crcr |= run > 1;
        let next = i + run + 1;
        if line_start {
            // The blank line: the head ends here.
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&buf[next..]);
            break;
        }
        if !first_line && matches!(buf.get(next), Some(b' ' | b'\t')) {
            fold = true;
            out.push(b' ');
            i = next + buf[next..].iter().take_while(|&&c| c == b' ' || c == b'\t').count();
            continue;
        }
        out.extend_from_slice(b"\r\n");
        i = next;
        line_start = true;
        first_line = false;
    }
    let what = match (crcr, fold) {
        (true, true) => Irregular::Both,
        (true, false) => Irregular::CrCrLf,
        (false, true) => Irregular::ObsFold,
        (false, false) => return None,
    };
    Some((out, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crcrlf_lines_become_crlf() {
        let (out, what) = normalize(b"HTTP/1.1 200 OK\r\r\nA: 1\r\r\n\r\nbody\r\r\n").unwrap();
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\nbody\r\r\n");
        assert_eq!(what, Irregular::CrCrLf);
    }

    #[test]
    fn obs_fold_becomes_one_space() {
        let (out, what) = normalize(b"GET / HTTP/1.1\r\nX: a\r\n  \tb\r\nY: c\n\n").unwrap();
        assert_eq!(out, b"GET / HTTP/1.1\r\nX: a b\r\nY: c\r\n\r\n");
        assert_eq!(what, Irregular::ObsFold);
    }

    #[test]
    fn regular_heads_and_start_line_whitespace_are_left_alone() {
        assert!(normalize(b"GET / HTTP/1.1\r\nA: 1\r\n\r\n").is_none());
        assert!(normalize(b"GET / HTTP/1.1\n\n").is_none());
        // A line after the start line beginning with a space is not a fold of the start line.
        assert!(normalize(b"GET / HTTP/1.1\r\n X: 1\r\n\r\n").is_none());
        assert!(normalize(b"").is_none());
        assert!(normalize(b"\r").is_none());
    }

    #[test]
    fn incomplete_heads_are_normalised_as_far_as_they_go() {
        let (out, _) = normalize(b"HTTP/1.1 200 OK\r\r\nA: 1\r").unwrap();
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nA: 1\r");
    }
}

#[cfg(test)]
mod parse_tests {
    use crate::http::head::{Parsed, parse_request, parse_response};

    #[test]
    fn heads_with_irregular_line_endings_are_tolerated() {
        let buf = b"HTTP/1.1 200 OK\r\r\nContent-Length: 3\r\r\nX-Note: a\r\r\n\r\ncde";
        match parse_response(buf) {
            Parsed::Tolerated(head, n, what) => {
                assert_eq!(n, buf.len() - 3);
                assert_eq!(head.status(), 200);
                assert_eq!(head.header_str("content-length"), Some("3"));
                assert_eq!(what, super::Irregular::CrCrLf);
            }
            p => panic!("{p:?}"),
        }
        let buf = b"POST /f HTTP/1.1\r\nX-Long: one\r\n two\r\nContent-Length: 2\r\n\r\nab";
        match parse_request(buf) {
            Parsed::Complete(head, _) | Parsed::Tolerated(head, ..) => {
                assert_eq!(head.header_str("content-length"), Some("2"))
            }
            p => panic!("{p:?}"),
        }
        assert!(matches!(parse_response(b"HTTP/1.1 200 OK\r\r\nA: 1\r\r\n"), Parsed::Partial));
        assert!(matches!(parse_response(b"HTTP/1.1 200 OK\r\r"), Parsed::Partial));
        assert!(matches!(parse_response(b"\x16\x03\x01\r\r\n\r\n"), Parsed::Invalid(_)));
    }
}
