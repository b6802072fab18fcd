//! The secret-name rule: which field, parameter, cookie or header names hold secrets.
//!
//! A name is split into lower-case **words** at every non-alphanumeric character and at
//! camel-case humps (`X-Access-Token`, `access_token`, `accessToken`, `ACCESS_TOKEN` all give
//! `[access, token]`; `APIKey` gives `[api, key]`). Words made only of digits are dropped.
//! Trailing *qualifier* words (`hash`, `md5`, `value`, `confirm`, …) are skipped, so
//! `password_hash` and `secretValue` still count. Then only the **last word** decides
//! (exact-or-suffix match on word boundaries):
//!
//! - a password word (`password`, `passwd`, `pwd`, `pass`, `passphrase`, `passcode`, `pin`,
//!   `otp`) → [`Class::Password`];
//! - a token word (`token`, `secret`, `key`, `apikey`, `signature`, `sig`, `session`,
//!   `sessionid`, `jsessionid`, `sid`, `auth`, `jwt`, `bearer`, `credential(s)`, `csrf`, `xsrf`)
//!   → [`Class::Token`];
//! - `authorization`, `cookie`, `set-cookie` → their own classes, so a value is redacted the
//!   way its header would be (keeping the scheme or the cookie names);
//! - the last two words glued together (`session`+`id`, `pass`+`word`) are looked up too;
//! - one unsplit word that *ends* with `token`, `secret`, `password`, `passwd`, `apikey`,
//!   `sessionid` or `signature` (`accesstoken`, `clientsecret`) counts.
//!
//! Deliberate exceptions, because those names carry data a diagnosis needs:
//!
//! - `key` after a word that names a non-secret key (`idempotency`, `primary`, `sort`, `cache`,
//!   `job`, `call`, `public`, …): `Idempotency-Key`, `jobKey` and dupcall's own `call_key` stay
//!   visible. Any other `…key`
//!   (`x-api-key`, `accessKey`, `secretKey`, plain `key`) is a secret. Words that merely contain
//!   `key` (`monkey`, `keyword`) never count.
//! - `code` is PowerJob's error-code field, so plain `code` (and `error_code`, `statusCode`) is
//!   not secret; `auth_code`, `authorizationCode`, `verification_code`, `otp_code` are.
//! - names where the secret word is not last describe a secret without holding it:
//!   `token_type`, `tokenExpireTime`, `expires_in`, `X-POWERJOB-AUTH-PASSED`.
//!
//! Extra names from a profile are split the same way and match when the name's words end
//! with the extra name's words (`jobSecret` matches `job_secret` and `X-Job-Secret`); they
//! are tokens unless the built-in rule already says password.

/// How a named value is redacted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Replaced by a keyed fingerprint.
    Token,
    /// Replaced by `[redacted]`, never fingerprinted.
    Password,
    /// An `Authorization`-style value: the scheme stays visible.
    Authorization,
    /// A `Cookie`-style list: cookie names stay visible.
    Cookie,
    /// A `Set-Cookie`-style value: the name and attributes stay visible.
    SetCookie,
}

const PASSWORD_WORDS: &[&str] =
    &["password", "passwords", "passwd", "pwd", "pass", "passphrase", "passcode", "pin", "otp", "totp"];

const TOKEN_WORDS: &[&str] = &[
    "token",
    "tokens",
    "secret",
    "secrets",
    "key",
    "apikey",
    "signature",
    "sig",
    "session",
    "sessionid",
    "jsessionid",
    "phpsessid",
    "sid",
    "auth",
    "jwt",
    "bearer",
    "credential",
    "credentials",
    "csrf",
    "xsrf",
];

/// Suffixes that make one unsplit lower-case word a secret (`accesstoken`).
const TOKEN_SUFFIXES: &[&str] = &["token", "secret", "apikey", "sessionid", "signature"];
const PASSWORD_SUFFIXES: &[&str] = &["password", "passwd"];

/// Trailing words that qualify a secret without changing what it is (`password_hash`).
const QUALIFIERS: &[&str] = &[
    "hash",
    "hashed",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "digest",
    "hex",
    "b64",
    "base64",
    "enc",
    "encrypted",
    "encoded",
    "plain",
    "plaintext",
    "raw",
    "value",
    "val",
    "str",
    "string",
    "confirm",
    "confirmation",
    "repeat",
    "again",
];

/// Words before `key` that make it a non-secret key.
const NON_SECRET_KEYS: &[&str] = &[
    "idempotency",
    "public",
    "primary",
    "foreign",
    "sort",
    "partition",
    "routing",
    "cache",
    "dedup",
    "dedupe",
    "deduplication",
    "object",
    "row",
    "composite",
    "shard",
    "range",
    "hash",
    "lookup",
    "unique",
    "job",
    "call",
    "group",
    "map",
    "index",
    "search",
    "business",
    "biz",
    "i18n",
    "translation",
];

/// Words before `code` that make it a secret code.
const SECRET_CODES: &[&str] = &[
    "auth",
    "authorization",
    "authorisation",
    "oauth",
    "verification",
    "verify",
    "otp",
    "mfa",
    "totp",
    "sms",
    "activation",
    "reset",
    "recovery",
    "security",
    "access",
    "invite",
    "invitation",
];

/// Splits a name into lower-case words (see the module docs).
pub(crate) fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            flush(&mut out, &mut cur);
            continue;
        }
        if c.is_uppercase() && !cur.is_empty() {
            let prev = chars.get(i.wrapping_sub(1)).copied().unwrap_or(' ');
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            if prev.is_lowercase() || prev.is_ascii_digit() || next.is_lowercase() {
                flush(&mut out, &mut cur);
            }
        }
        cur.extend(c.to_lowercase());
    }
    flush(&mut out, &mut cur);
    out
}

fn flush(out: &mut Vec<String>, cur: &mut String) {
    if !cur.is_empty() && !cur.chars().all(|c| c.is_ascii_digit()) {
        out.push(std::mem::take(cur));
    }
    cur.clear();
}

/// The built-in classification of a name, if it is secret.
pub(crate) fn classify_words(words: &[String]) -> Option<Class> {
    let words = strip_qualifiers(words);
    let last = words.last()?.as_str();
    let prev = words.len().checked_sub(2).and_then(|i| words.get(i));
    let prev = prev.map_or("", String::as_str);
    if let Some(class) = header_like(last, prev) {
        return Some(class);
    }
    if let Some(class) = word_class(last, prev) {
        return Some(class);
    }
    if !prev.is_empty() {
        let glued = format!("{prev}{last}");
        if let Some(class) = word_class(&glued, "") {
            return Some(class);
        }
    }
    suffix_class(last)
}

fn strip_qualifiers(words: &[String]) -> &[String] {
    let mut end = words.len();
    while end > 1 && QUALIFIERS.contains(&words[end - 1].as_str()) {
        end -= 1;
    }
    &words[..end]
}

fn header_like(last: &str, prev: &str) -> Option<Class> {
    match last {
        "authorization" => Some(Class::Authorization),
        "cookie" | "cookies" if prev == "set" => Some(Class::SetCookie),
        "cookie" | "cookies" => Some(Class::Cookie),
        _ => None,
    }
}

fn word_class(word: &str, prev: &str) -> Option<Class> {
    let trimmed = word.trim_end_matches(|c: char| c.is_ascii_digit());
    let candidates = [word, trimmed];
    if candidates.iter().any(|w| PASSWORD_WORDS.contains(w)) {
        return Some(Class::Password);
    }
    if candidates.contains(&"key") {
        return (!NON_SECRET_KEYS.contains(&prev)).then_some(Class::Token);
    }
    if candidates.contains(&"code") {
        return SECRET_CODES.contains(&prev).then_some(Class::Token);
    }
    candidates.iter().any(|w| TOKEN_WORDS.contains(w)).then_some(Class::Token)
}

fn suffix_class(word: &str) -> Option<Class> {
    let ends = |list: &[&str]| list.iter().any(|s| word.len() > s.len() && word.ends_with(s));
    if ends(PASSWORD_SUFFIXES) {
        Some(Class::Password)
    } else if ends(TOKEN_SUFFIXES) {
        Some(Class::Token)
    } else {
        None
    }
}

/// Whether `words` ends with the words of an extra secret name.
pub(crate) fn ends_with_words(words: &[String], extra: &[String]) -> bool {
    !extra.is_empty() && words.ends_with(extra)
}
