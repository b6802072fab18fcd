//! The capture pipeline: a capture's bytes in, its exchanges in request order out.
//!
//! Wires [`capture`](crate::capture) → [`decode`](crate::capture::decode) →
//! [`reassembly`](crate::capture::reassembly) → [`tls`](crate::tls) (decrypts TLS connections,
//! passes plaintext ones through) → [`http`](crate::http) → [`order`](crate::http::order) for
//! one input, in one pass, calling `emit` as soon as an exchange can no longer be
//! overtaken. Nothing here holds the file or its packets: memory is the limits' business.

use std::io::Read;

use crate::capture::decode::{Decoded, decode};
use crate::capture::reassembly::{At, Limits, Reassembler, ReassemblyStats};
use crate::capture::{CaptureError, CaptureReader, CaptureStats};
use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{Exchange, InputId, Message, Origin, Timestamp};
use crate::http::decode::{DEFAULT_DECODED_CAP, trailer_exceeds_cap};
use crate::http::{HttpConfig, HttpHandler, HttpStats, ORDER_CAP};
use crate::tls::{KeyMaterial, TlsLayer};

/// Tunables of the capture pipeline.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Reassembly limits.
    pub limits: Limits,
    /// HTTP limits.
    pub http: HttpConfig,
}

/// What one capture held.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptureSummary {
    /// Reader counters.
    pub capture: CaptureStats,
    /// Reassembly counters.
    pub tcp: ReassemblyStats,
    /// HTTP counters.
    pub http: HttpStats,
    /// Frames that were not TCP.
    pub non_tcp: u64,
    /// Exchanges released ahead of an older unfinished one (order buffer full).
    pub out_of_order: u64,
    /// TLS counters (connections decrypted and not).
    pub tls: crate::tls::TlsStats,
}

/// Warns about the body limits an exchange reached: a body longer than `--body-cap` (only
/// its first bytes are kept for classification) and a `Content-Encoding` that decodes past
/// the inspection cap (a possible decompression bomb; only its first bytes are inspected).
fn body_limits(ex: &Exchange, input: InputId, http: &HttpConfig, diag: &mut Diagnostics) {
    for (what, m) in [("request", ex.request.as_ref()), ("response", ex.response.as_ref())] {
        let Some(m) = m else { continue };
        // A body cap of 0 means the caller keeps no bodies (`exchanges`): nothing is lost.
        if http.body_cap > 0 && m.body.len > http.body_cap as u64 && m.body.missing == 0 {
            diag.warn(
                WarningKind::BodyCap,
                input,
                Some(m.origin),
                Some(ex.conn),
                format!(
                    "a {what} body of {} bytes is longer than the body cap; only its first {} bytes are kept for classification (raise --body-cap)",
                    m.body.len, http.body_cap
                ),
            );
        }
        if trailer_exceeds_cap(&m.head, &m.body, DEFAULT_DECODED_CAP) {
            warn_decoded_cap(diag, input, ex.conn, m, what);
        }
    }
}

/// Warns that a `what` ("request"/"response") body decodes past the inspection cap: found
/// here from a gzip trailer, or by the classifier when its decoding stopped at the cap.
pub fn warn_decoded_cap(diag: &mut Diagnostics, input: InputId, conn: u64, m: &Message, what: &str) {
    diag.warn(
        WarningKind::DecompressionLimit,
        input,
        Some(m.origin),
        Some(conn),
        format!(
            "a {what} body decodes ({}) to more than {DEFAULT_DECODED_CAP} bytes, a possible decompression bomb; only its first {DEFAULT_DECODED_CAP} decoded bytes are inspected",
            m.head.header_str("content-encoding").unwrap_or("?").trim(),
        ),
    );
}

/// Runs the whole pipeline over one capture, with no key logs (TLS connections are only
/// warned about, unless the capture holds Decryption Secrets Blocks).
pub fn capture_exchanges<R: Read + Send>(
    reader: R,
    input: InputId,
    opts: &Options,
    diag: &mut Diagnostics,
    emit: &mut dyn FnMut(Exchange),
) -> Result<CaptureSummary, CaptureError> {
    capture_exchanges_keyed(reader, input, opts, &KeyMaterial::default(), diag, emit)
}

/// Runs the whole pipeline over one capture, decrypting TLS with `keys` (docs/tls.md).
pub fn capture_exchanges_keyed<R: Read + Send>(
    reader: R,
    input: InputId,
    opts: &Options,
    keys: &KeyMaterial,
    diag: &mut Diagnostics,
    emit: &mut dyn FnMut(Exchange),
) -> Result<CaptureSummary, CaptureError> {
    let mut cap = CaptureReader::new(reader, input)?;
    let mut reasm = Reassembler::new(opts.limits, input);
    let mut http = HttpHandler::new(opts.http, input);
    let mut tls = TlsLayer::new(keys, input);
    cap.set_secrets_sink(tls.dsb_sink());
    let mut non_tcp = 0u64;
    let mut last = At { ts: Timestamp::default(), frame: 0 };
    let mut warned_links: Vec<u32> = Vec::new();
    let stats = cap.for_each_frame(diag, |frame, diag| {
        let at = At { ts: frame.ts, frame: frame.number };
        last = at;
        match decode(&frame) {
            Decoded::Tcp(seg) => {
                reasm.segment(&seg, at, &mut tls.wrap(&mut http), diag);
                http.orderer.drain(&mut |mut ex| {
                    tls.mark(&mut ex);
                    body_limits(&ex, input, &opts.http, diag);
                    emit(ex)
                });
            }
            Decoded::Other => non_tcp += 1,
            Decoded::Fragment => {
                non_tcp += 1;
                diag.warn(
                    WarningKind::IpFragment,
                    input,
                    Some(Origin::Frame(frame.number)),
                    None,
                    "IP fragment (fragments are not reassembled)",
                );
            }
            Decoded::UnsupportedLink(lt) => {
                non_tcp += 1;
                if !warned_links.contains(&lt) {
                    warned_links.push(lt);
                    diag.warn(
                        WarningKind::UnsupportedLinkType,
                        input,
                        Some(Origin::Frame(frame.number)),
                        None,
                        format!("link type {lt} is not decoded; its packets are skipped"),
                    );
                } else {
                    diag.count(WarningKind::UnsupportedLinkType);
                }
            }
            Decoded::Malformed(why) => {
                non_tcp += 1;
                diag.warn(WarningKind::DecodeError, input, Some(Origin::Frame(frame.number)), None, why);
            }
        }
    });
    // Whatever ended the input, everything decoded so far is flushed.
    reasm.finish(last, &mut tls.wrap(&mut http), diag);
    tls.finish(diag);
    http.orderer.flush(&mut |mut ex| {
        tls.mark(&mut ex);
        body_limits(&ex, input, &opts.http, diag);
        emit(ex)
    });
    let forced = http.orderer.forced();
    if forced > 0 {
        diag.warn(
            WarningKind::BufferLimit,
            input,
            None,
            None,
            format!(
                "{forced} exchanges were released ahead of an older unfinished request: more than {} finished exchanges or {} MiB were waiting for it (a fixed limit)",
                ORDER_CAP,
                crate::http::order::HELD_BYTES >> 20
            ),
        );
    }
    let capture = stats?;
    Ok(CaptureSummary {
        capture,
        tcp: reasm.stats(),
        http: http.stats(),
        non_tcp,
        out_of_order: http.orderer.forced(),
        tls: tls.stats(),
    })
}
