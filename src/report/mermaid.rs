//! Mermaid sequence diagrams for the Markdown report: one repeated call in, a
//! `sequenceDiagram` block's text out.
//!
//! Takes a [`Repeat`]: compact [`Brief`]s of the repeat M, of the earlier attempt P it
//! repeats and of the auth call that refreshed the token (each optional but M), built from
//! report [`Row`]s that are already redacted. Gives the diagram text (without the
//! ```` ```mermaid ```` fence): participants Client and Server (a second server when an
//! attempt went elsewhere), every request and response in time order with its time relative
//! to P's request, and a closing note with the label and whether the work was executed
//! twice.
//!
//! Everything that comes from the traffic passes [`text`], which writes the characters
//! Mermaid's sequence-diagram grammar or GitHub's renderer treat specially (`#`, `;`, `:`,
//! `%`, quotes, `<>`, `&`, backticks, braces) as Mermaid entity codes (`#35;`) and turns
//! control characters into spaces, so a hostile path cannot end a message, start a comment
//! or inject markup. Diagrams are checked with the real Mermaid library by
//! `tests/mermaid_render.rs`.

use std::net::SocketAddr;

use crate::classify::{Marker, Outcome};
use crate::correlate::{DoubleExecution, Label, Row};
use crate::exchange::Timestamp;
use crate::redact::Redactor;
use crate::text::shorten;

/// The longest path kept in a [`Brief`] (characters).
const PATH_SHOWN: usize = 64;
/// The longest value (marker, code, caller) kept in a [`Brief`].
const VALUE_SHOWN: usize = 48;

/// What a diagram needs of one row: short, redacted, owned.
#[derive(Clone, Debug, PartialEq)]
pub struct Brief {
    /// Row id.
    pub id: u64,
    /// The row's label.
    pub label: Label,
    /// Request time.
    pub time: Timestamp,
    /// Response time, if seen.
    pub resp_time: Option<Timestamp>,
    /// The caller (redacted, shortened).
    pub caller: String,
    /// The client host (IP, for logs plus user agent; shortened).
    pub host: String,
    /// Server end.
    pub server: SocketAddr,
    /// The exchange was decrypted from TLS: the server is named `https://…`.
    pub tls: bool,
    /// Method.
    pub method: String,
    /// Path (redacted, shortened).
    pub path: String,
    /// Query (redacted, shortened; empty when none).
    pub query: String,
    /// Response status.
    pub status: Option<u16>,
    /// Outcome.
    pub outcome: Outcome,
    /// The client's marker header as seen (values shortened).
    pub marker: Marker,
    /// The app's error code.
    pub code: Option<String>,
    /// Fingerprint of the credential the request carried.
    pub credential: Option<String>,
    /// Fingerprint of the token an auth call issued.
    pub issued: Option<String>,
}

impl Brief {
    /// The brief of a row. Values pass `redactor.text` again (they were redacted where they
    /// came from) and are shortened, so a brief stays a few hundred bytes.
    pub fn of(row: &Row, redactor: &Redactor) -> Brief {
        let c = &row.call;
        let clean = |s: &str, n: usize| shorten(&redactor.text(s), n);
        Brief {
            id: row.id,
            label: row.label,
            time: c.time,
            resp_time: c.resp_time,
            caller: clean(&c.caller, VALUE_SHOWN),
            host: clean(&c.host, VALUE_SHOWN),
            server: c.server,
            tls: c.wire.tls.is_some(),
            method: clean(&c.method, 16),
            path: clean(&c.path, PATH_SHOWN),
            query: clean(&c.query, PATH_SHOWN),
            status: c.status,
            outcome: c.outcome,
            marker: match &c.marker {
                Marker::Present(v) => Marker::Present(clean(v, VALUE_SHOWN)),
                Marker::OtherCase(n, v) => Marker::OtherCase(clean(n, VALUE_SHOWN), clean(v, VALUE_SHOWN)),
                m => m.clone(),
            },
            code: c.code.as_deref().map(|s| clean(s, 16)),
            credential: c.credential.as_deref().map(|s| clean(s, VALUE_SHOWN)),
            issued: c.issued_token.as_deref().map(|s| clean(s, VALUE_SHOWN)),
        }
    }
}

/// A brief's server as a participant shows it (`https://` when decrypted).
fn server_of(b: &Brief) -> String {
    let mut s = String::new();
    super::rows::write_server(&mut s, &b.server, b.tls);
    s
}

impl Brief {
    /// The request target as shown: path, and `?query` when there is one.
    pub fn target(&self) -> String {
        if self.query.is_empty() { self.path.clone() } else { format!("{}?{}", self.path, self.query) }
    }
}

/// One repeated call to draw.
#[derive(Clone, Copy, Debug)]
pub struct Repeat<'a> {
    /// The repeat M.
    pub m: &'a Brief,
    /// The attempt it repeats, if still known.
    pub p: Option<&'a Brief>,
    /// The auth call that refreshed the token, if any and still known.
    pub auth: Option<&'a Brief>,
    /// Row id of P (drawn as a note when P itself is no longer known).
    pub repeat_of: Option<u64>,
    /// Was the work done twice?
    pub double: Option<DoubleExecution>,
    /// The profile's marker header name (`X-POWERJOB-AUTH-PASSED`), if it has one.
    pub marker_name: Option<&'a str>,
}

/// Escapes text for a Mermaid message, note or participant alias.
///
/// `#` `;` `:` `%` `"` `'` `<` `>` `&` `` ` `` `{` `}` `\` `|` become entity codes (`#35;`),
/// which Mermaid shows as the character; control characters become spaces; runs of spaces
/// collapse and the ends are trimmed. The result is one line without any character that
/// ends a message (`;`, newline), starts a comment (`%%`) or an entity other than ours.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        match c {
            '#' | ';' | ':' | '%' | '"' | '\'' | '<' | '>' | '&' | '`' | '{' | '}' | '\\' | '|' => {
                out.push_str(&format!("#{};", u32::from(c)));
            }
            // Bidirectional overrides would reorder what the reader sees.
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A participant declaration: `participant ID as ALIAS` with the alias escaped. `id` must
/// be a plain identifier (letters and digits); anything else is dropped from it.
pub fn participant(id: &str, alias: &str) -> String {
    let id: String = id.chars().filter(char::is_ascii_alphanumeric).collect();
    let id = if id.is_empty() { "P".to_string() } else { id };
    format!("participant {id} as {}", text(alias))
}

/// One message line: `FROM ARROW TO: TEXT`, with the text escaped. `arrow` is one of
/// Mermaid's (`->>`, `-->>`, `--x`); anything else becomes `->>`.
pub fn message(from: &str, arrow: &str, to: &str, msg: &str) -> String {
    let arrow = match arrow {
        "->>" | "-->>" | "-x" | "--x" | "->" | "-->" | "-)" | "--)" => arrow,
        _ => "->>",
    };
    let msg = text(msg);
    // An empty message is valid, but keep something to read.
    let msg = if msg.is_empty() { "-".to_string() } else { msg };
    format!("{from}{arrow}{to}: {msg}")
}

/// A note over one or two participants, escaped.
pub fn note_over(a: &str, b: Option<&str>, msg: &str) -> String {
    match b {
        Some(b) if b != a => format!("Note over {a},{b}: {}", text(msg)),
        _ => format!("Note over {a}: {}", text(msg)),
    }
}

/// Milliseconds relative to the first request: `0 ms`, `+0.355 ms`, `+12.4 ms`, `+2.019 s`.
pub fn rel_time(ms: f64) -> String {
    if !ms.is_finite() {
        return "?".to_string();
    }
    let sign = if ms < 0.0 { "-" } else { "+" };
    let a = ms.abs();
    if a == 0.0 {
        "0 ms".to_string()
    } else if a < 10.0 {
        format!("{sign}{a:.3} ms")
    } else if a < 1000.0 {
        format!("{sign}{a:.1} ms")
    } else {
        format!("{sign}{:.3} s", a / 1000.0)
    }
}

/// Milliseconds from `a` to `b`, saturating (never overflows on absurd timestamps).
pub fn ms_between(a: Timestamp, b: Timestamp) -> f64 {
    b.0.saturating_sub(a.0) as f64 / 1e6
}

/// Which role a row plays in the diagram.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    First,
    Auth,
    Repeat,
}

/// The diagram of one repeated call (without the code fence).
pub fn sequence_diagram(r: &Repeat<'_>) -> String {
    let steps: Vec<(Role, &Brief)> = [(Role::First, r.p), (Role::Auth, r.auth), (Role::Repeat, Some(r.m))]
        .into_iter()
        .filter_map(|(role, b)| b.map(|b| (role, b)))
        .collect();
    let t0 = steps.first().map(|(_, b)| b.time).unwrap_or(r.m.time);

    // Participants: clients by host, servers by address, in order of appearance.
    let mut clients: Vec<(String, String)> = Vec::new();
    let mut servers: Vec<String> = Vec::new();
    for (_, b) in &steps {
        if !clients.iter().any(|(h, _)| *h == b.host) {
            clients.push((b.host.clone(), b.caller.clone()));
        }
        let s = server_of(b);
        if !servers.contains(&s) {
            servers.push(s);
        }
    }
    let client_id = |host: &str| {
        let i = clients.iter().position(|(h, _)| h == host).unwrap_or(0);
        if clients.len() == 1 { "C".to_string() } else { format!("C{}", i + 1) }
    };
    let server_id = |b: &Brief| {
        let s = server_of(b);
        let i = servers.iter().position(|x| *x == s).unwrap_or(0);
        if servers.len() == 1 { "S".to_string() } else { format!("S{}", i + 1) }
    };

    let mut lines = vec!["sequenceDiagram".to_string()];
    for (host, caller) in &clients {
        let alias = if caller.is_empty() || caller == host {
            format!("Client {host}")
        } else if caller.contains(host.as_str()) {
            format!("Client {caller}")
        } else {
            format!("Client {caller} at {host}")
        };
        lines.push(format!("    {}", participant(&client_id(host), alias.trim())));
    }
    for (i, s) in servers.iter().enumerate() {
        let name = match (servers.len(), s.is_empty()) {
            (1, true) => "Server".to_string(),
            (1, false) => format!("Server {s}"),
            (_, true) => format!("Server {}", i + 1),
            (_, false) => format!("Server {} {s}", i + 1),
        };
        let id = if servers.len() == 1 { "S".to_string() } else { format!("S{}", i + 1) };
        lines.push(format!("    {}", participant(&id, &name)));
    }
    if let (None, Some(pid)) = (r.p, r.repeat_of) {
        let c = client_id(&r.m.host);
        lines.push(format!(
            "    {}",
            note_over(&c, None, &format!("#{pid} (the first attempt) is no longer in memory"))
        ));
    }

    // Events in time order; ties keep the logical order (request before its response).
    let mut events: Vec<(i64, usize, String)> = Vec::new();
    let marker = r.marker_name.unwrap_or("marker header");
    let mut prev_token: Option<&str> = None;
    for (role, b) in &steps {
        let (c, s) = (client_id(&b.host), server_id(b));
        let rel = |t: Timestamp| rel_time(ms_between(t0, t));
        let mut req = format!("#{} ", b.id);
        match role {
            Role::First => req.push_str(&format!("{} {}", b.method, b.target())),
            Role::Auth => req.push_str(&format!("auth call {} {}", b.method, b.target())),
            Role::Repeat => req.push_str(&format!("{} {} again ({})", b.method, b.target(), b.label.name())),
        }
        if let Some(t) = &b.credential {
            if *role != Role::Auth {
                let new = prev_token.is_some_and(|p| p != t);
                req.push_str(&format!(", {}token {t}", if new { "new " } else { "" }));
                prev_token = Some(t);
            }
        }
        req.push_str(&format!(" ({})", rel(b.time)));
        let n = events.len();
        events.push((b.time.0, n, message(&c, "->>", &s, &req)));

        let resp_line = response_event(b, &s, &c, marker, t0);
        let n = events.len();
        events.push((resp_line.0, n, resp_line.1));
    }
    events.sort_by_key(|(t, n, _)| (*t, *n));
    lines.extend(events.into_iter().map(|(_, _, l)| format!("    {l}")));

    let twice = match r.double {
        Some(DoubleExecution::Yes) => "executed twice",
        Some(DoubleExecution::No) => "executed once (the first attempt had no effect)",
        _ => "executed twice? unknown",
    };
    let first_c = clients.first().map(|(h, _)| client_id(h)).unwrap_or_else(|| "C".to_string());
    let last_s = if servers.len() <= 1 { "S".to_string() } else { format!("S{}", servers.len()) };
    lines.push(format!(
        "    {}",
        note_over(&first_c, Some(&last_s), &format!("#{} {}, {twice}", r.m.id, r.m.label.name()))
    ));
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The response to `b` as a diagram event, at its time: an arrow from server `s` to client
/// `c` with its status, outcome, marker, code and issued token; a note when it was lost in
/// a gap; a crossed arrow at the end when it never came.
fn response_event(b: &Brief, s: &str, c: &str, marker: &str, t0: Timestamp) -> (i64, String) {
    let rel = |t: Timestamp| rel_time(ms_between(t0, t));
    match b.resp_time {
        Some(rt) => {
            let mut words = match b.status {
                Some(st) => format!("HTTP {st} {}", b.outcome.name()),
                None => b.outcome.name().to_string(),
            };
            match &b.marker {
                Marker::Absent => words.push_str(&format!(", no {marker}")),
                Marker::Present(v) => words.push_str(&format!(", {marker} = {v}")),
                Marker::OtherCase(name, v) => {
                    words.push_str(&format!(", only {name} = {v} (other letter case)"))
                }
                Marker::NotApplicable | Marker::Unseen => {}
            }
            if let Some(code) = &b.code {
                words.push_str(&format!(", code {code}"));
            }
            if let Some(t) = &b.issued {
                words.push_str(&format!(", new token {t}"));
            }
            words.push_str(&format!(" ({})", rel(rt)));
            let arrow = if b.outcome == Outcome::NoResponse { "--x" } else { "-->>" };
            (rt.0.max(b.time.0), message(s, arrow, c, &words))
        }
        // A response lost in a gap is noted where it was due; one that never came
        // is a crossed arrow at the end.
        None if b.outcome == Outcome::Unknown => {
            (b.time.0, note_over(s, None, &format!("#{}'s response lost in a capture gap", b.id)))
        }
        None => (i64::MAX, message(s, "--x", c, "no response (connection closed or capture ended)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_what_mermaid_parses() {
        assert_eq!(text("#5 a;b"), "#35;5 a#59;b");
        assert_eq!(text("tok:1a2b"), "tok#58;1a2b");
        assert_eq!(text("%%{init}%%"), "#37;#37;#123;init#125;#37;#37;");
        assert_eq!(text("<b>\"x\"</b>"), "#60;b#62;#34;x#34;#60;/b#62;");
        assert_eq!(text("a & b ` c"), "a #38; b #96; c");
        assert_eq!(text("/=cmd|' /C calc'!A0"), "/=cmd#124;#39; /C calc#39;!A0");
    }

    #[test]
    fn text_is_one_trimmed_line() {
        assert_eq!(text("  a\nb\r\n\tc  "), "a b c");
        assert_eq!(text("\u{202e}evil"), "evil");
        assert_eq!(text(""), "");
        assert_eq!(text("\n\n"), "");
    }

    #[test]
    fn text_output_has_no_bare_separators() {
        for s in ["#;:%", "a;b#c", "end\nloop", "x -->> y: z"] {
            let t = text(s);
            // Every '#' starts an entity we wrote, every ';' ends one.
            let mut rest = t.as_str();
            while let Some(i) = rest.find('#') {
                let after = &rest[i + 1..];
                let end = after.find(';').expect("entity closed");
                assert!(after[..end].chars().all(|c| c.is_ascii_digit()), "{t}");
                rest = &after[end + 1..];
            }
            assert!(!rest.contains(';') && !t.contains('\n'), "{t}");
        }
    }

    #[test]
    fn participants_and_messages() {
        assert_eq!(participant("S2", "Server 127.0.0.1:80"), "participant S2 as Server 127.0.0.1#58;80");
        assert_eq!(participant("a b;", "x"), "participant ab as x");
        assert_eq!(message("C", "->>", "S", "#5 POST /x"), "C->>S: #35;5 POST /x");
        assert_eq!(message("S", "bogus", "C", ""), "S->>C: -");
        assert_eq!(note_over("C", Some("S"), "a: b"), "Note over C,S: a#58; b");
        assert_eq!(note_over("C", Some("C"), "x"), "Note over C: x");
    }

    #[test]
    fn relative_times() {
        assert_eq!(rel_time(0.0), "0 ms");
        assert_eq!(rel_time(0.3551), "+0.355 ms");
        assert_eq!(rel_time(12.44), "+12.4 ms");
        assert_eq!(rel_time(2019.424), "+2.019 s");
        assert_eq!(rel_time(-1.5), "-1.500 ms");
        assert_eq!(rel_time(f64::NAN), "?");
    }

    fn brief(id: u64, label: Label, ms: i64, server: &str) -> Brief {
        Brief {
            id,
            label,
            time: Timestamp(ms * 1_000_000),
            resp_time: None,
            caller: "app:1@10.0.0.1".into(),
            host: "10.0.0.1".into(),
            server: server.parse().unwrap(),
            tls: false,
            method: "POST".into(),
            path: "/openApi/runJob".into(),
            query: String::new(),
            status: None,
            outcome: Outcome::NoResponse,
            marker: Marker::Unseen,
            code: None,
            credential: None,
            issued: None,
        }
    }

    #[test]
    fn unanswered_attempt_and_second_server() {
        let p = brief(3, Label::Original, 0, "10.0.0.2:7700");
        let mut m = brief(4, Label::ErrorRetry, 2000, "10.0.0.3:7700");
        m.resp_time = Some(Timestamp(2_010_000_000));
        m.status = Some(200);
        m.outcome = Outcome::Ok;
        m.marker = Marker::Present("true".into());
        let r = Repeat {
            m: &m,
            p: Some(&p),
            auth: None,
            repeat_of: Some(3),
            double: Some(DoubleExecution::Unknown),
            marker_name: Some("X-POWERJOB-AUTH-PASSED"),
        };
        assert_eq!(
            sequence_diagram(&r),
            "sequenceDiagram
    participant C as Client app#58;1@10.0.0.1
    participant S1 as Server 1 10.0.0.2#58;7700
    participant S2 as Server 2 10.0.0.3#58;7700
    C->>S1: #35;3 POST /openApi/runJob (0 ms)
    C->>S2: #35;4 POST /openApi/runJob again (error-retry) (+2.000 s)
    S2-->>C: HTTP 200 ok, X-POWERJOB-AUTH-PASSED = true (+2.010 s)
    S1--xC: no response (connection closed or capture ended)
    Note over C,S2: #35;4 error-retry, executed twice? unknown
"
        );
    }

    #[test]
    fn ms_between_saturates() {
        assert_eq!(ms_between(Timestamp(0), Timestamp(1_500_000)), 1.5);
        assert!(ms_between(Timestamp(i64::MIN), Timestamp(i64::MAX)).is_finite());
    }

    #[test]
    fn shorten_counts_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("ééééé", 2), "é…");
        assert_eq!(shorten("abc", 0), "…");
    }
}
