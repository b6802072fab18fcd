//! The HAR 1.2 document as serde types, read one entry at a time.
//!
//! Takes a byte stream holding `{"log": {"creator": …, "entries": [ … ]}}`; gives each entry
//! as an [`Entry`] to a callback while the parser is still inside the `entries` array, so
//! memory holds one entry, never the document. Each entry is first taken as raw JSON text
//! and then parsed on its own: an entry of the wrong shape is one skipped entry (the caller
//! warns), not the end of the file.

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// `log.creator` (or `log.browser`): the program that wrote the HAR.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Creator {
    /// `name`, e.g. `mitmproxy`, `WebInspector`, `Playwright`.
    pub name: String,
    /// `version`.
    pub version: String,
}

/// A string the producers write as a string or as a number (`connection`, `_serverPort`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum StrOrNum {
    /// As text.
    Str(String),
    /// As a number.
    Num(f64),
}

impl StrOrNum {
    /// The value as text (integers without a fraction).
    pub fn text(&self) -> String {
        match self {
            StrOrNum::Str(s) => s.clone(),
            StrOrNum::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
            StrOrNum::Num(n) => n.to_string(),
        }
    }
}

/// A `name`/`value` pair (headers, form parameters).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Pair {
    /// Name.
    pub name: String,
    /// Value (`params` may omit it).
    pub value: Option<String>,
}

/// `request.postData`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PostData {
    /// `mimeType`.
    #[serde(rename = "mimeType")]
    pub mime_type: Option<String>,
    /// `text`: the body as text.
    pub text: Option<String>,
    /// `params`: form fields, when the producer split the body.
    pub params: Option<Vec<Pair>>,
    /// Some producers mark a base64 `text` (not in HAR 1.2).
    #[serde(rename = "_encoding", alias = "encoding")]
    pub encoding: Option<String>,
}

/// `request`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Request {
    /// `method`.
    pub method: String,
    /// `url`: absolute.
    pub url: String,
    /// `httpVersion`: `HTTP/1.1`, `h2`, `HTTP/2.0`…
    #[serde(rename = "httpVersion")]
    pub http_version: String,
    /// `headers`.
    pub headers: Vec<Pair>,
    /// `postData`.
    #[serde(rename = "postData")]
    pub post_data: Option<PostData>,
    /// `bodySize` (-1 unknown).
    #[serde(rename = "bodySize")]
    pub body_size: Option<f64>,
}

/// `response.content`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Content {
    /// `size`: decoded length.
    pub size: Option<f64>,
    /// `text`.
    pub text: Option<String>,
    /// `encoding`: `base64` when `text` is base64.
    pub encoding: Option<String>,
    /// `mimeType`.
    #[serde(rename = "mimeType")]
    pub mime_type: Option<String>,
}

/// `response`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Response {
    /// `status`: 0 when there was no response.
    pub status: f64,
    /// `httpVersion`.
    #[serde(rename = "httpVersion")]
    pub http_version: String,
    /// `headers`.
    pub headers: Vec<Pair>,
    /// `content`.
    pub content: Content,
    /// `_error` (mitmproxy, Chromium): why there was no response.
    #[serde(rename = "_error")]
    pub error: Option<String>,
}

/// `timings` (milliseconds, -1 = not applicable).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Timings {
    /// `receive`: reading the response.
    pub receive: Option<f64>,
}

/// One `entries[]` element.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Entry {
    /// `startedDateTime`: ISO 8601 with an offset.
    #[serde(rename = "startedDateTime")]
    pub started: String,
    /// `time`: total milliseconds (-1 or absent = unknown).
    pub time: Option<f64>,
    /// `request`.
    pub request: Request,
    /// `response`.
    pub response: Response,
    /// `timings`.
    pub timings: Option<Timings>,
    /// `serverIPAddress`.
    #[serde(rename = "serverIPAddress")]
    pub server_ip: Option<String>,
    /// `connection`: the producer's connection id.
    pub connection: Option<StrOrNum>,
    /// Chromium's `_connectionId`.
    #[serde(rename = "_connectionId")]
    pub connection_id: Option<StrOrNum>,
    /// Playwright's `_serverPort`.
    #[serde(rename = "_serverPort")]
    pub server_port: Option<StrOrNum>,
    /// Chromium's `_initiator`: what started the request (a script's call stack, a parser…).
    #[serde(rename = "_initiator")]
    pub initiator: Option<Box<RawValue>>,
    /// An entry-level `_error` (some producers put it here).
    #[serde(rename = "_error")]
    pub error: Option<String>,
}

/// What the streaming parse hands to its caller.
pub trait Sink {
    /// `log.creator` was read (it usually comes before `entries`).
    fn creator(&mut self, creator: Creator);
    /// The next element of `entries`: parsed, or why not.
    fn entry(&mut self, entry: Result<Entry, serde_json::Error>);
    /// The top-level object had a `log` with an `entries` array.
    fn saw_entries(&mut self);
}

/// Parses a HAR document from `de`, calling `sink` per entry while parsing.
pub fn stream<'de, D: serde::Deserializer<'de>>(de: D, sink: &mut dyn Sink) -> Result<(), D::Error> {
    de.deserialize_map(Top { sink })
}

struct Top<'s> {
    sink: &'s mut dyn Sink,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a HAR object with a `log`")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "log" {
                map.next_value_seed(Log { sink: &mut *self.sink })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct Log<'s> {
    sink: &'s mut dyn Sink,
}

impl<'de> DeserializeSeed<'de> for Log<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Log<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HAR `log` object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                // `browser` names the browser when `creator` is a tool; creator wins.
                "creator" => {
                    let c = map.next_value::<Creator>()?;
                    self.sink.creator(c);
                }
                "entries" => {
                    self.sink.saw_entries();
                    map.next_value_seed(Entries { sink: &mut *self.sink })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct Entries<'s> {
    sink: &'s mut dyn Sink,
}

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the HAR `entries` array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Each entry as raw text first: one entry of the wrong shape is skipped, the rest read.
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            self.sink.entry(serde_json::from_str::<Entry>(raw.get()));
        }
        Ok(())
    }
}
