//! dupcall: tells why an HTTP call happened twice.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! input ─▶ capture ─▶ decode ─▶ reassembly ─▶ http ─▶ order ─▶ Exchange ─▶ classify ─▶ correlate ─▶ report
//!          (frames)   (TCP       (byte streams  (messages,  (request           (Call)      (Label)
//!                      segments)  with gaps)     pairing)    order)
//! input ─▶ accesslog ─────────────────────────────────────────▶ Exchange
//! ```
//!
//! Every stage streams: memory is bounded by configurable limits, never by input size.
//! Anomalies are data ([`diag`]), and every record points back to its frame or line.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod accesslog;
pub mod analysis;
pub mod capture;
pub mod classify;
pub mod correlate;
pub mod decode;
pub mod diag;
pub mod exchange;
pub mod generate;
pub mod http;
pub mod input;
pub mod logs;
pub mod order;
pub mod pipeline;
pub mod profile;
pub mod reassembly;
pub mod redact;
pub mod report;
pub mod synth;
