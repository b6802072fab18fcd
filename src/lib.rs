//! dupcall: tells why an HTTP call happened twice.
//!
//! The pipeline, one folder per stage, in the order the data flows:
//!
//! ```text
//! input ─▶ capture ──▶ http ─────┐
//!          (frames, TCP  (messages, ├─▶ Exchange ─▶ classify ─▶ correlate ─▶ report
//! input ─▶ accesslog ────────────┘               (Call)       (Row, Label)  (CSV, JSON, Markdown)
//! ```
//!
//! Every stage streams: memory is bounded by configurable limits, never by input size.
//! Anomalies are data ([`diag`]), and every record points back to its frame or line.
//! docs/architecture.md draws the same picture with what each folder takes and gives.

#![deny(unsafe_code)]
#![warn(missing_docs)]

// Opens an input path (or `-`) and detects its kind from the bytes.
pub mod input;
// Captures: pcap/pcapng framing, link/IP/TCP decoding, TCP reassembly.
pub mod capture;
// TLS over reassembled streams: key logs, record decryption, a wrapper handler.
pub mod tls;
// HTTP/1.x over reassembled streams: heads, bodies, pairing, request order.
pub mod http;
// HTTP/2 and gRPC over reassembled streams: frames, HPACK, streams as exchanges.
pub mod h2;
// Access logs: nginx, Apache, Tomcat, Envoy, Traefik, JSON lines, as exchanges.
pub mod accesslog;
// HAR (HTTP Archive) files: entries streamed one at a time, as exchanges.
pub mod har;
// The record every input becomes: [`exchange::Exchange`] and its parts.
pub mod exchange;
// Profiles: what a service's calls, credentials, rejections and client retries look like.
pub mod profile;
// Exchanges into calls: kind, caller, credential, call key, outcome.
pub mod classify;
// Calls into labelled rows: the decision procedure for repeats.
pub mod correlate;
// The one redaction layer every output goes through.
pub mod redact;
// Rows into CSV, JSON and Markdown; the run's summary.
pub mod report;
// Text helpers the output stages share: durations in words, cutting to a width, one line.
pub mod text;
// Warnings as data, counted per kind.
pub mod diag;
// The run: inputs on threads, merged by time, classified, correlated, reported.
pub mod analysis;
