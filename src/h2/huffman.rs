//! The HPACK Huffman code (RFC 7541 Appendix B): bytes in, decoded octets out.
//!
//! The code is canonical, so the table is only each symbol's code length (symbols 0-255
//! and EOS = 256); decoding walks the code one bit at a time against the first code of
//! each length. Errors (EOS inside a string, padding longer than 7 bits or not all ones)
//! are values, never panics.

/// Code length in bits of each symbol, RFC 7541 Appendix B (index 256 is EOS).
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6,
    6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7,
    8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7,
    15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24,
    23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23,
    23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26,
    26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20,
    21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27,
    27, 27, 26, 30,
];

const MAX_LEN: usize = 30;

/// Per code length: the first canonical code, how many symbols have it, and where they
/// start in [`Tables::syms`].
struct Tables {
    first: [u32; MAX_LEN + 1],
    count: [u16; MAX_LEN + 1],
    start: [u16; MAX_LEN + 1],
    syms: [u16; 257],
}

const fn build() -> Tables {
    let mut t =
        Tables { first: [0; MAX_LEN + 1], count: [0; MAX_LEN + 1], start: [0; MAX_LEN + 1], syms: [0; 257] };
    let mut code: u32 = 0;
    let mut n: usize = 0;
    let mut len = 1;
    while len <= MAX_LEN {
        t.first[len] = code;
        t.start[len] = n as u16;
        let mut s = 0;
        while s < 257 {
            if LENGTHS[s] as usize == len {
                t.syms[n] = s as u16;
                n += 1;
                t.count[len] += 1;
                code += 1;
            }
            s += 1;
        }
        code <<= 1;
        len += 1;
    }
    t
}

static TABLES: Tables = build();

/// Why a Huffman string does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HuffmanError {
    /// The EOS symbol appeared inside the string.
    #[error("EOS symbol inside a Huffman string")]
    Eos,
    /// The padding is longer than 7 bits or not a prefix of EOS (all ones).
    #[error("bad Huffman padding")]
    Padding,
    /// The decoded string would be longer than the limit.
    #[error("Huffman string longer than the limit")]
    TooLong,
}

/// Decodes `src`, appending the octets to `out`; stops with an error once `out` would
/// exceed `limit` bytes (bounded memory on a hostile string).
pub fn decode(src: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), HuffmanError> {
    let t = &TABLES;
    let mut code: u32 = 0;
    let mut len: usize = 0;
    for &byte in src {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            if len > MAX_LEN {
                return Err(HuffmanError::Padding);
            }
            let offset = code.wrapping_sub(t.first[len]);
            if offset < u32::from(t.count[len]) {
                let sym = t.syms[usize::from(t.start[len]) + offset as usize];
                if sym == 256 {
                    return Err(HuffmanError::Eos);
                }
                if out.len() >= limit {
                    return Err(HuffmanError::TooLong);
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
            }
        }
    }
    // What is left must be at most 7 bits, all ones (the most significant bits of EOS).
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HuffmanError::Padding);
    }
    Ok(())
}
