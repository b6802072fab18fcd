//! dupcall: tells why an HTTP call happened twice.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! capture ─▶ decode ─▶ reassembly ─▶ http ─▶ Exchange ─▶ classify ─▶ correlate ─▶ report
//! (frames)   (TCP       (byte streams  (messages,        (Call)      (Label)
//!             segments)  with gaps)     pairing)
//! accesslog ───────────────────────────────────▶ Exchange
//! ```
//!
//! Every stage streams: memory is bounded by configurable limits, never by input size.
//! Anomalies are data ([`diag`]), and every record points back to its frame or line.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod accesslog;
pub mod diag;
pub mod exchange;
pub mod redact;
