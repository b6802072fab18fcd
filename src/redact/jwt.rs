//! JSON Web Token recognition: only the header's `alg` and the payload's `exp`/`iat` are read.

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use serde_json::Value;

/// The time claims of a JWT, in seconds since the Unix epoch.
///
/// Kept: `exp` and `iat` (they prove whether a token had expired). Removed: every other claim,
/// the header and the signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JwtTimes {
    /// The `exp` (expiration time) claim, if present and numeric.
    pub exp: Option<i64>,
    /// The `iat` (issued at) claim, if present and numeric.
    pub iat: Option<i64>,
}

/// Lenient base64url: padding optional, non-canonical trailing bits accepted.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Lenient standard base64, for `Basic` credentials.
pub(crate) const B64STD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    general_purpose::PAD
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes the `exp`/`iat` claims of a JWT.
///
/// Returns `None` unless `token` is a JWT: three base64url parts separated by dots (the
/// signature may be empty, for `alg: none`), whose first part is a JSON object with an `alg`
/// member. Returns `Some` with absent times when the payload is not a JSON object or lacks
/// numeric claims. Nothing else of the token is read or returned.
pub fn jwt_times(token: &str) -> Option<JwtTimes> {
    let payload = jwt_payload(token)?;
    let claims: Option<Value> =
        B64URL.decode(payload).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let claim = |name: &str| claims.as_ref().and_then(|c| c.get(name)).and_then(seconds);
    Some(JwtTimes { exp: claim("exp"), iat: claim("iat") })
}

/// Whether `token` is a JWT (see [`jwt_times`]).
pub(crate) fn is_jwt(token: &str) -> bool {
    jwt_payload(token).is_some()
}

/// The payload part of a JWT, after checking the shape and the header.
fn jwt_payload(token: &str) -> Option<&str> {
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || header.is_empty() || payload.is_empty() {
        return None;
    }
    if ![header, payload, signature].iter().all(|p| is_b64url(p)) {
        return None;
    }
    let header: Value = serde_json::from_slice(&B64URL.decode(header).ok()?).ok()?;
    header.get("alg")?;
    Some(payload)
}

fn is_b64url(part: &str) -> bool {
    let body = part.trim_end_matches('=');
    body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A NumericDate claim as whole seconds (RFC 7519 allows fractions).
fn seconds(value: &Value) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    // Beyond ±2^62 seconds no calendar date is meaningful; the bound also keeps the cast exact.
    (f.is_finite() && f.abs() < 4.6e18).then(|| f.floor() as i64)
}

/// `2024-08-20T02:00:00Z`, or the plain number when it is outside the years 0–9999.
pub(crate) fn rfc3339(secs: i64) -> String {
    const MIN: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    if !(MIN..=MAX).contains(&secs) {
        return secs.to_string();
    }
    chrono::DateTime::from_timestamp(secs, 0)
        .map_or_else(|| secs.to_string(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}
