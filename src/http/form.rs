//! `application/x-www-form-urlencoded` (and query-string) decoding: `+` is a space, `%XX`
//! a byte, a bad `%` escape stays as it is. The one decoder the classifier (call keys) and
//! the redactor (secret field names and values) share.

/// Decodes `s` to bytes.
pub fn form_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |k: usize| b.get(k).and_then(|c| char::from(*c).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Decodes `s` to text (invalid UTF-8 replaced); no copy of the work when nothing is encoded.
pub fn form_decode_str(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_string();
    }
    String::from_utf8_lossy(&form_decode(s)).into_owned()
}

/// `a=1&b=x%20y` → decoded pairs, in order; empty pieces skipped.
pub fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode_str(k), form_decode_str(v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_keeps_bad_escapes() {
        assert_eq!(form_decode_str("a+b%20c%2"), "a b c%2");
        assert_eq!(form_decode_str("%zz%41"), "%zzA");
        assert_eq!(form_decode(""), b"");
        assert_eq!(
            form_pairs("b=2&&a=x%3Dy&c"),
            vec![("b".into(), "2".into()), ("a".into(), "x=y".into()), ("c".into(), String::new())]
        );
    }
}
