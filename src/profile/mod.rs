//! Profiles: what a service's calls mean. TOML text in, a checked [`Profile`] out.
//!
//! A profile says how to recognise the service (`--profile auto`), which calls are auth
//! calls and how a token is issued (to bind tokens to callers), where credentials travel,
//! which calls are mutations, what a rejection and a success look like, the client's retry
//! rule, and which fields are volatile or secret. Built in: `powerjob`, `oauth2-bearer`,
//! `generic` (the TOML files next to this module, printed by `dupcall profiles show`).
//! A malformed profile is an error naming the file, the line and the field.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Built-in profiles: (name, TOML source).
pub const BUILTIN: [(&str, &str); 4] = [
    ("powerjob", include_str!("powerjob.toml")),
    ("oauth2-bearer", include_str!("oauth2-bearer.toml")),
    ("generic", include_str!("generic.toml")),
    ("grpc", include_str!("grpc.toml")),
];

/// A profile as written in TOML.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Short name (`--profile NAME`).
    pub name: String,
    /// One line saying what it is for.
    #[serde(default)]
    pub description: String,
    /// How `--profile auto` recognises the service.
    #[serde(default)]
    pub detect: Detect,
    /// What each call is.
    pub calls: Calls,
    /// How auth calls issue tokens.
    #[serde(default)]
    pub auth: Auth,
    /// Where credentials and app identities travel.
    #[serde(default)]
    pub credentials: Credentials,
    /// What an auth rejection looks like.
    #[serde(default)]
    pub rejection: Rejection,
    /// What success looks like.
    #[serde(default)]
    pub success: Success,
    /// The client's retry rule.
    #[serde(default)]
    pub client: Client,
    /// Volatile and secret fields.
    #[serde(default)]
    pub fields: Fields,
}

/// Recognition markers.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Detect {
    /// Path patterns (`*` matches anything).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Request header names.
    #[serde(default)]
    pub request_headers: Vec<String>,
    /// Response header names.
    #[serde(default)]
    pub response_headers: Vec<String>,
}

/// Call classification. First match wins: auth, then mutations, then reads, then methods.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Calls {
    /// Auth-call path patterns.
    #[serde(default)]
    pub auth: Vec<String>,
    /// Mutation path patterns.
    #[serde(default)]
    pub mutations: Vec<String>,
    /// Read path patterns.
    #[serde(default)]
    pub reads: Vec<String>,
    /// Methods that make an otherwise unlisted call a mutation.
    #[serde(default)]
    pub mutation_methods: Vec<String>,
    /// What everything else is: `read` or `mutation`.
    #[serde(default = "default_other")]
    pub other: CallKindName,
}

fn default_other() -> CallKindName {
    CallKindName::Read
}

/// `read` or `mutation`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CallKindName {
    /// No side effect.
    #[default]
    Read,
    /// Has a side effect.
    Mutation,
}

/// Token issuing.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// JSON pointer of the issued token in the auth response.
    #[serde(default)]
    pub token: Option<String>,
    /// JSON pointers of the app id in the auth response (first present wins).
    #[serde(default)]
    pub app: Vec<String>,
    /// Where the auth request names the app: JSON pointers (`/x`) or form fields.
    #[serde(default)]
    pub request_app: Vec<String>,
}

/// Credential locations.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Request headers carrying the token (`Authorization` keeps its scheme aside).
    #[serde(default)]
    pub token_headers: Vec<String>,
    /// Request headers naming the app.
    #[serde(default)]
    pub app_headers: Vec<String>,
    /// Form/query/JSON fields naming the app.
    #[serde(default)]
    pub app_fields: Vec<String>,
}

/// Rejection markers (any one suffices).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// HTTP statuses.
    #[serde(default)]
    pub statuses: Vec<u16>,
    /// A response header...
    #[serde(default)]
    pub header: Option<String>,
    /// ...with this value (case-insensitive).
    #[serde(default)]
    pub header_value: Option<String>,
    /// JSON pointer of an error code in the body...
    #[serde(default)]
    pub code_field: Option<String>,
    /// ...with one of these values.
    #[serde(default)]
    pub codes: Vec<String>,
    /// JSON pointer of a message shown in evidence.
    #[serde(default)]
    pub message_field: Option<String>,
    /// `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
    #[serde(default)]
    pub www_authenticate_invalid_token: bool,
}

/// Success marker.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Success {
    /// JSON pointer of a boolean success flag; absent means "2xx is success".
    #[serde(default)]
    pub field: Option<String>,
}

/// The client's retry rule.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// `marker`: refresh unless a 200 response carries `marker: marker_value`;
    /// `rejection`: refresh on a rejection; `none`: the client never refreshes.
    #[serde(default = "default_rule")]
    pub rule: RetryRule,
    /// The marker header.
    #[serde(default)]
    pub marker: Option<String>,
    /// Its expected value (compared case-insensitively).
    #[serde(default)]
    pub marker_value: Option<String>,
    /// The client looks the marker up with exact letter case.
    #[serde(default)]
    pub marker_case_sensitive: bool,
    /// The rule applies only to requests carrying one of these headers (empty: all).
    #[serde(default)]
    pub when_request_has: Vec<String>,
    /// The longest time from a response to the client's retry (for logs).
    #[serde(default = "default_latency", with = "duration_text")]
    pub retry_latency: Duration,
    /// Known causes of a successful response without the marker, for the evidence
    /// (PowerJob: a 5.1.0 server with auth off, or a proxy dropping the header).
    #[serde(default)]
    pub missing_marker_hint: Option<String>,
    /// Known cause of the marker arriving in another letter case, for the evidence.
    #[serde(default)]
    pub marker_case_hint: Option<String>,
    /// gRPC statuses (`grpc-status`) the client's retry policy re-sends on (gRPC
    /// `retryableStatusCodes`; 14 UNAVAILABLE): an answer with one is a retryable error.
    #[serde(default)]
    pub retryable_grpc_statuses: Vec<u32>,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            rule: RetryRule::Rejection,
            marker: None,
            marker_value: None,
            marker_case_sensitive: false,
            when_request_has: Vec::new(),
            retry_latency: default_latency(),
            missing_marker_hint: None,
            marker_case_hint: None,
            retryable_grpc_statuses: Vec::new(),
        }
    }
}

fn default_rule() -> RetryRule {
    RetryRule::Rejection
}

fn default_latency() -> Duration {
    Duration::from_secs(2)
}

/// What makes the client refresh and re-send.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RetryRule {
    /// A missing or non-matching marker header on an HTTP 200.
    Marker,
    /// An auth rejection.
    Rejection,
    /// Never.
    None,
}

/// Field lists.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// Left out of the call key (timestamps, nonces...).
    #[serde(default)]
    pub volatile: Vec<String>,
    /// Secret beyond the default names (never written).
    #[serde(default)]
    pub secret: Vec<String>,
}

mod detect;
pub use detect::detect_profile;

/// Durations as text: `2s`, `500ms`, `10m`, `1h`.
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Parses `2s`, `1.5s`, `500ms`, `10m`, `1h`, `0`.
    pub fn parse(s: &str) -> Result<Duration, String> {
        let s = s.trim();
        let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
            Some(i) => (&s[..i], s[i..].trim()),
            None => (s, "s"),
        };
        let n: f64 = num.parse().map_err(|_| format!("`{s}` is not a duration (try 2s, 500ms, 10m)"))?;
        let secs = match unit {
            "ms" => n / 1000.0,
            "s" | "" => n,
            "m" | "min" => n * 60.0,
            "h" => n * 3600.0,
            other => return Err(format!("unknown duration unit `{other}` in `{s}` (use ms, s, m or h)")),
        };
        if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
            return Err(format!("`{s}` is out of range"));
        }
        Ok(Duration::from_secs_f64(secs))
    }

    /// Writes the largest whole unit: `1h`, `10m`, `30s`, `1500ms`.
    pub fn format(d: Duration) -> String {
        let (secs, ms) = (d.as_secs(), d.subsec_millis());
        match (secs, ms) {
            (s, 0) if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
            (s, 0) if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
            (s, 0) => format!("{s}s"),
            _ => format!("{}ms", d.as_millis()),
        }
    }

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A profile that could not be loaded.
#[derive(Debug, Error)]
pub enum ProfileError {
    /// Not valid TOML, or a field with the wrong name or type.
    #[error(
        "{file}: line {line}, column {column}: {message} (fix the profile; `dupcall profiles show generic` prints a valid one)"
    )]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong (names the field).
        message: String,
    },
    /// Parsed, but inconsistent.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Neither a built-in name nor a readable file.
    #[error("no profile `{0}`: use one of powerjob, oauth2-bearer, generic, auto, or a path to a TOML file")]
    Unknown(String),
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
}

impl Profile {
    /// Parses TOML text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ProfileError::Syntax {
                file: file.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        profile.check(file)?;
        Ok(profile)
    }

    fn check(&self, file: &str) -> Result<(), ProfileError> {
        let invalid = |message: String| Err(ProfileError::Invalid { file: file.to_string(), message });
        if self.name.trim().is_empty() {
            return invalid("`name` must not be empty".into());
        }
        if self.client.rule == RetryRule::Marker && self.client.marker.is_none() {
            return invalid(
                "[client] rule = \"marker\" needs `marker` (the response header the client checks)".into(),
            );
        }
        for p in self.json_pointers() {
            if !p.is_empty() && !p.starts_with('/') {
                return invalid(format!("`{p}` is not a JSON pointer (it must start with /)"));
            }
        }
        Ok(())
    }

    fn json_pointers(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        v.extend(self.auth.token.as_deref());
        v.extend(self.auth.app.iter().map(String::as_str));
        v.extend(self.rejection.code_field.as_deref());
        v.extend(self.rejection.message_field.as_deref());
        v.extend(self.success.field.as_deref());
        v
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Profile> {
        BUILTIN.iter().find(|(n, _)| *n == name).map(|(n, text)| {
            Profile::from_toml(text, &format!("built-in profile {n}")).expect("built-in profiles are valid")
        })
    }

    /// All built-in profiles.
    pub fn builtins() -> Vec<Profile> {
        BUILTIN.iter().filter_map(|(n, _)| Profile::builtin(n)).collect()
    }

    /// A built-in name, or a path to a TOML file.
    pub fn load(name_or_path: &str) -> Result<Profile, ProfileError> {
        if let Some(p) = Profile::builtin(name_or_path) {
            return Ok(p);
        }
        let looks_like_path = name_or_path.contains('/') || name_or_path.ends_with(".toml");
        match std::fs::read_to_string(name_or_path) {
            Ok(text) => Profile::from_toml(&text, name_or_path),
            Err(e) if looks_like_path => Err(ProfileError::Io { file: name_or_path.to_string(), source: e }),
            Err(_) => Err(ProfileError::Unknown(name_or_path.to_string())),
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |p| before.len() - p - 1) + 1;
    (line, column)
}

/// Does `path` match `pattern` (`*` matches any run of characters, including none)?
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == path;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !path.starts_with(first) || path.len() < first.len() + last.len() || !path.ends_with(last) {
        return false;
    }
    let mut rest = &path[first.len()..path.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load_and_round_trip() {
        for p in Profile::builtins() {
            let text = toml::to_string(&p).unwrap();
            assert_eq!(Profile::from_toml(&text, "x").unwrap(), p, "{}", p.name);
        }
        let pj = Profile::builtin("powerjob").unwrap();
        assert_eq!(pj.client.rule, RetryRule::Marker);
        assert_eq!(pj.client.retry_latency, Duration::from_secs(2));
        assert!(pj.calls.mutations.iter().any(|m| m.ends_with("/runJob")));
    }

    #[test]
    fn typo_names_line_and_field() {
        let text = "name = \"x\"\n[calls]\nmutation = [\"/a\"]\n";
        let e = Profile::from_toml(text, "my.toml").unwrap_err().to_string();
        assert!(e.starts_with("my.toml: line 3"), "{e}");
        assert!(e.contains("mutation"), "{e}");
        let e =
            Profile::from_toml("name = \"x\"\n[calls]\n[client]\nretry_latency = \"2 parsecs\"\n", "p.toml")
                .unwrap_err()
                .to_string();
        assert!(e.contains("line 4") && e.contains("parsecs"), "{e}");
        let e =
            Profile::from_toml("name = \"x\"\n[calls]\n[client]\nrule = \"marker\"\n", "p.toml").unwrap_err();
        assert!(e.to_string().contains("needs `marker`"), "{e}");
        assert!(matches!(Profile::load("nope"), Err(ProfileError::Unknown(_))));
    }

    #[test]
    fn globs() {
        assert!(path_matches("*/openApi/saveJob", "/openApi/saveJob"));
        assert!(path_matches("*/openApi/saveJob", "/pj/openApi/saveJob"));
        assert!(!path_matches("*/openApi/saveJob", "/openApi/saveJobs"));
        assert!(path_matches("*/auth*", "/api/authorize"));
        assert!(path_matches("/a/*/c", "/a/b/c"));
        assert!(!path_matches("/a/*/c", "/a/c"));
        assert!(path_matches("/exact", "/exact"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration_text::parse("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(duration_text::parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(duration_text::parse("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(duration_text::parse("3").unwrap(), Duration::from_secs(3));
        assert!(duration_text::parse("-1s").is_err());
        assert!(duration_text::parse("1 fortnight").is_err());
    }
}
