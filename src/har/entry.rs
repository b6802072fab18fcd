//! One HAR entry as an [`Exchange`].
//!
//! Takes a parsed [`Entry`] and what the file said about its producer; gives the exchange:
//! request head from `method`, `url` (origin-form target, `Host` from the authority) and
//! `headers`; the request body from `postData.text` (or `params`, form-encoded); the response
//! head from `status` and `headers` (status 0 = no response); its body from `content.text`
//! (base64 when `encoding` says so); times from `startedDateTime` + `time`; the server from
//! `serverIPAddress`; the connection from `connection` / `_connectionId`. HAR bodies are
//! already decoded, so `Content-Encoding` and `Transfer-Encoding` are left out of the heads.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use base64::Engine;
use sha2::Digest;

use super::model::{Entry, Pair, PostData};
use crate::exchange::{Body, Exchange, Flags, Head, InputId, Logged, Message, Origin, Timestamp};

/// What the conversion found besides the exchange.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Notes {
    /// A method that carries a body, with a body size other than 0, and no `postData`: the
    /// call key lacks the body.
    pub missing_post_data: bool,
    /// `startedDateTime` did not parse (the entry was timed at 0).
    pub bad_time: bool,
}

/// The file-level facts every entry shares.
pub struct Context<'a> {
    /// The input.
    pub input: InputId,
    /// `log.creator.name` (and version), shown as the producer.
    pub producer: Option<&'a str>,
    /// Body bytes kept per message.
    pub body_cap: usize,
}

/// Parses `startedDateTime`: RFC 3339 with any offset and any number of fraction digits,
/// also an offset without a colon (`+0530`).
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let t = chrono::DateTime::parse_from_rfc3339(s)
        .or_else(|_| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()?;
    let t = t.with_timezone(&chrono::Utc);
    Some(Timestamp::from_parts(t.timestamp(), t.timestamp_subsec_nanos()))
}

/// A URL's parts: the authority without user info, the origin-form target, the scheme.
pub fn split_url(url: &str) -> (&str, &str, &str) {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i], &url[i + 3..]),
        None => ("", url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut authority = &rest[..end];
    // `user:password@host`: the credentials never go further.
    if let Some(at) = authority.rfind('@') {
        authority = &authority[at + 1..];
    }
    let target = &rest[end..];
    let target = target.split('#').next().unwrap_or("");
    let target = if target.is_empty() { "/" } else { target };
    (authority, target, scheme)
}

/// The port of an authority (`host:port`, `[v6]:port`), else the scheme's default.
fn port_of(authority: &str, scheme: &str) -> u16 {
    let tail = authority.rsplit_once(']').map_or(authority, |(_, t)| t);
    match tail.rsplit_once(':').and_then(|(_, p)| p.parse().ok()) {
        Some(p) => p,
        None if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") => 443,
        None if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") => 80,
        None => 0,
    }
}

/// HTTP minor version for a head: 0 only for HTTP/1.0 (HTTP/2 and 3 are shown as 1.1).
fn minor_version(v: &str) -> u8 {
    u8::from(!v.trim().eq_ignore_ascii_case("HTTP/1.0"))
}

/// Headers kept in a synthesised head: no HTTP/2 pseudo-headers, no transfer codings
/// (the HAR holds decoded bodies).
fn kept_headers(headers: &[Pair]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .filter(|h| !h.name.starts_with(':'))
        .filter(|h| {
            !h.name.eq_ignore_ascii_case("content-encoding")
                && !h.name.eq_ignore_ascii_case("transfer-encoding")
        })
        .map(|h| (h.name.as_str(), h.value.as_deref().unwrap_or("")))
        .collect()
}

/// Form-encodes `params` (`application/x-www-form-urlencoded`).
fn form_encode(params: &[Pair]) -> Vec<u8> {
    fn push(out: &mut Vec<u8>, s: &str) {
        for &b in s.as_bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b),
                b' ' => out.push(b'+'),
                _ => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
            }
        }
    }
    let mut out = Vec::new();
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        push(&mut out, &p.name);
        out.push(b'=');
        push(&mut out, p.value.as_deref().unwrap_or(""));
    }
    out
}

fn is_base64(encoding: Option<&str>) -> bool {
    encoding.is_some_and(|e| e.trim().eq_ignore_ascii_case("base64"))
}

/// Text or base64 text as bytes (base64 that does not decode is kept as text).
fn body_bytes(text: &str, base64: bool) -> Vec<u8> {
    if base64 {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
            return b;
        }
    }
    text.as_bytes().to_vec()
}

fn request_body(post: Option<&PostData>) -> Option<Vec<u8>> {
    let post = post?;
    match (&post.text, &post.params) {
        (Some(t), _) => Some(body_bytes(t, is_base64(post.encoding.as_deref()))),
        (None, Some(params)) => Some(form_encode(params)),
        (None, None) => None,
    }
}

fn kept(bytes: &[u8], len: u64, cap: usize) -> Body {
    let mut b = Body::default();
    b.push(bytes, cap);
    if len > b.len {
        // The producer recorded a longer body than it kept (or none of it).
        b.len = len;
        b.capped = true;
    }
    b
}

/// A short, stable hash of Chromium's `_initiator` (the call stack that sent the request):
/// equal for two attempts from one stack, different for two clicks.
pub fn initiator_hash(raw: &str) -> u64 {
    let d = sha2::Sha256::digest(raw.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Milliseconds (HAR) to nanoseconds, ignoring the `-1` "unknown" and absurd values.
fn ms(v: Option<f64>) -> Option<i64> {
    v.filter(|v| v.is_finite() && *v >= 0.0 && *v < 1e12).map(|v| (v * 1e6) as i64)
}

/// Converts entry number `index` (0-based, `.log.entries[index]`) on connection `conn`.
pub fn to_exchange(e: &Entry, index: u64, conn: u64, cx: &Context<'_>) -> (Exchange, Notes) {
    let mut notes = Notes::default();
    let origin = Origin::Entry(index);
    let ts = parse_time(&e.started).unwrap_or_else(|| {
        notes.bad_time = true;
        Timestamp(0)
    });
    let req = &e.request;
    let (authority, target, scheme) = split_url(&req.url);
    let mut headers = kept_headers(&req.headers);
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        let auth = req.headers.iter().find(|h| h.name.eq_ignore_ascii_case(":authority"));
        let host = auth.and_then(|h| h.value.as_deref()).unwrap_or(authority);
        if !host.is_empty() {
            headers.push(("Host", host));
        }
    }
    let method = if req.method.is_empty() { "-" } else { req.method.trim() };
    let body = request_body(req.post_data.as_ref());
    let carries_body = matches!(method, "POST" | "PUT" | "PATCH");
    let size_says_empty = req.body_size == Some(0.0);
    notes.missing_post_data = carries_body && body.is_none() && !size_says_empty;
    let body_len = body.as_ref().map_or(0, |b| b.len() as u64);
    let request = Message {
        head: Head::request(method, target, minor_version(&req.http_version), &headers),
        ts,
        end_ts: ts,
        origin,
        end_origin: origin,
        body: kept(body.as_deref().unwrap_or(&[]), body_len, cx.body_cap),
    };
    let total = ms(e.time);
    let receive = ms(e.timings.as_ref().and_then(|t| t.receive)).unwrap_or(0);
    let end = Timestamp(ts.0.saturating_add(total.unwrap_or(0)));
    let start = Timestamp(end.0.saturating_sub(receive).max(ts.0));
    let r = &e.response;
    let status = r.status;
    // Status 0 (mitmproxy adds `_error`): the request got no response.
    let answered = status.is_finite() && (100.0..1000.0).contains(&status);
    let response = answered.then(|| {
        let c = &r.content;
        let data =
            c.text.as_deref().map(|t| body_bytes(t, is_base64(c.encoding.as_deref()))).unwrap_or_default();
        let size = c.size.filter(|s| s.is_finite() && *s > 0.0).map_or(0, |s| s as u64);
        Message {
            head: Head::response(status as u16, minor_version(&r.http_version), &kept_headers(&r.headers)),
            ts: start,
            end_ts: end,
            origin,
            end_origin: origin,
            body: kept(&data, size, cx.body_cap),
        }
    });
    let mut flags = Flags::default();
    if response.is_none() {
        flags.set(Flags::NO_RESPONSE);
    }
    let server_ip =
        e.server_ip.as_deref().and_then(|s| s.trim().trim_matches(['[', ']']).parse::<IpAddr>().ok());
    let server = match server_ip {
        Some(ip) => {
            let port = e.server_port.as_ref().and_then(|p| p.text().parse().ok());
            SocketAddr::new(ip, port.unwrap_or_else(|| port_of(authority, scheme)))
        }
        None => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
    };
    let logged = Logged {
        body: body.is_some() || !carries_body || size_says_empty,
        request_length: None,
        connection: (conn > 0).then_some(conn),
        producer: cx.producer.map(Into::into),
        initiator: e.initiator.as_ref().map(|r| initiator_hash(r.get())),
        ..Logged::default()
    };
    let ex = Exchange {
        input: cx.input,
        conn,
        client: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        server,
        request: Some(request),
        response,
        interim: Vec::new(),
        flags,
        wire: crate::exchange::Wire::default(),
        logged: Some(Box::new(logged)),
    };
    (ex, notes)
}

/// The producer's connection id of an entry (`connection`, else `_connectionId`), if any.
pub fn connection_id(e: &Entry) -> Option<String> {
    e.connection.as_ref().or(e.connection_id.as_ref()).map(|c| c.text()).filter(|c| !c.is_empty())
}
