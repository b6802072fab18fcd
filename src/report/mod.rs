//! Reports: exchanges and analyses in, CSV / JSON / Markdown bytes out.
//!
//! Every writer takes a [`Redactor`](crate::redact::Redactor): values that can carry
//! secrets (URIs, headers, bodies, evidence text) pass through it before they are written,
//! and CSV cells pass the formula-injection guard. No writer has a switch to skip it.

pub mod exchanges;
pub mod rows;
