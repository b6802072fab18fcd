//! HS256 JSON Web Tokens as the PowerJob 5.x server (jjwt 0.11.5) issues them, plus the
//! error messages jjwt produces, so rejected calls carry realistic bodies.
//!
//! A token is `base64url(header).base64url(payload).base64url(HMAC-SHA-256)`; the header is
//! `{"alg":"HS256"}` (so every token starts `eyJhbGciOiJIUzI1NiJ9.`), the payload holds the
//! caller's claims plus `iat`, `exp` (seconds) and a random `jti`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// The `exp` claim lies in the past; the message is jjwt's `ExpiredJwtException` text.
    Expired(String),
    /// Malformed token or bad signature; the message is jjwt's text.
    Invalid(String),
}

/// A random 64-bit number (not cryptographic; fine for ids in a simulator).
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
    );
    h.finish()
}

/// A random version-4 UUID string (jjwt's `jti` is `UUID.randomUUID()`).
pub fn uuid4() -> String {
    let a = random_u64();
    let b = random_u64();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Issues a token with `claims` plus `iat`, `exp` and `jti`; lives at least `ttl_ms`
/// (`exp` is rounded up to whole seconds, as JWT `NumericDate` is). Returns token and `exp`.
pub fn issue(secret: &[u8], claims: Map<String, Value>, ttl_ms: u64) -> (String, i64) {
    let now = now_ms();
    let iat = now / 1000;
    let exp_ms = now.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX / 2));
    let exp = exp_ms.div_euclid(1000) + i64::from(exp_ms.rem_euclid(1000) != 0);
    let mut payload = claims;
    payload.insert("iat".into(), iat.into());
    payload.insert("exp".into(), exp.into());
    payload.insert("jti".into(), uuid4().into());
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
    let body = URL_SAFE_NO_PAD.encode(Value::Object(payload).to_string());
    let signing_input = format!("{header}.{body}");
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    (format!("{signing_input}.{sig}"), exp)
}

/// The payload of a token without checking anything (the client reads its own `exp`).
pub fn peek_claims(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn iso_seconds(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Checks signature and expiry at `now` (Unix ms), returning the claims.
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<Map<String, Value>, JwtError> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(JwtError::Invalid(format!(
            "JWT strings must contain exactly 2 period characters. Found: {}",
            parts.len().saturating_sub(1)
        )));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(parts[2])
        .map_err(|_| JwtError::Invalid("Unable to decode JWT signature".into()))?;
    let mut m = mac(secret);
    m.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    if m.verify_slice(&sig).is_err() {
        return Err(JwtError::Invalid(
            "JWT signature does not match locally computed signature. JWT validity cannot be \
             asserted and should not be trusted."
                .into(),
        ));
    }
    let claims = peek_claims(token)
        .ok_or_else(|| JwtError::Invalid("Unable to read JSON value from JWT payload".into()))?;
    if let Some(exp) = claims.get("exp").and_then(Value::as_i64) {
        let exp_ms = exp.saturating_mul(1000);
        if now > exp_ms {
            return Err(JwtError::Expired(format!(
                "JWT expired at {}. Current time: {}, a difference of {} milliseconds.  Allowed \
                 clock skew: 0 milliseconds.",
                iso_seconds(exp_ms),
                iso_seconds(now),
                now - exp_ms
            )));
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_expire_tamper() {
        let mut claims = Map::new();
        claims.insert("appId".into(), 1.into());
        let (tok, exp) = issue(b"k", claims, 1500);
        assert!(tok.starts_with("eyJhbGciOiJIUzI1NiJ9.eyJ"));
        let now = now_ms();
        assert!(exp * 1000 >= now + 1500);
        let c = verify(b"k", &tok, now).unwrap();
        assert_eq!(c.get("appId"), Some(&Value::from(1)));
        match verify(b"k", &tok, exp * 1000 + 5) {
            Err(JwtError::Expired(msg)) => {
                assert!(msg.starts_with("JWT expired at "), "{msg}");
                assert!(msg.contains("a difference of 5 milliseconds"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(verify(b"other", &tok, now), Err(JwtError::Invalid(_))));
        assert!(matches!(verify(b"k", "abc", now), Err(JwtError::Invalid(_))));
        assert!(matches!(verify(b"k", "a.b.!!!", now), Err(JwtError::Invalid(_))));
    }

    #[test]
    fn uuid_shape() {
        let u = uuid4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
