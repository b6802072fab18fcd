//! Does a payload start like HTTP/1.x? Cheap checks on the first bytes, used to tell the
//! client from the server when a connection is picked up mid-stream and to find the next
//! message start after a gap.

/// Does this payload start like an HTTP response?
pub fn looks_like_response(p: &[u8]) -> bool {
    p.starts_with(b"HTTP/1.")
}

/// Does this payload start like an HTTP request line (`TOKEN SP`)?
/// A method-only line (`OPTIONS\r\n`) counts too: servers answer those.
pub fn looks_like_request(p: &[u8]) -> bool {
    let n = p.iter().take(24).take_while(|b| b.is_ascii_uppercase() || **b == b'-' || **b == b'_').count();
    n >= 3 && matches!(p.get(n), Some(b' ' | b'\r' | b'\n'))
}
