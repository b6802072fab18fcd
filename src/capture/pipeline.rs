//! The capture pipeline: a capture's bytes in, its exchanges in request order out.
//!
//! Wires [`capture`](crate::capture) → [`decode`](crate::capture::decode) →
//! [`reassembly`](crate::capture::reassembly) → [`tls`](crate::tls) (decrypts TLS connections,
//! passes plaintext ones through) → [`http`](crate::http) → [`order`](crate::http::order) for
//! one input, in one pass, calling `emit` as soon as an exchange can no longer be
//! overtaken. Nothing here holds the file or its packets: memory is the limits' business.

use std::collections::BTreeMap;
use std::io::Read;

use crate::capture::decode::{Decoded, decode_path};
use crate::capture::defrag::Defrag;
use crate::capture::encap::{Layer, Path, Undecoded};
use crate::capture::reassembly::{At, Limits, Reassembler, ReassemblyStats};
use crate::capture::{CaptureError, CaptureReader, CaptureStats, Frame, linktype};
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
    /// Frames that went through each encapsulation layer, indexed by [`Layer`].
    pub encapsulations: [u64; Layer::ALL.len()],
    /// Frames not decoded (unknown link type, EtherType, IP protocol, tunnel).
    pub undecoded: u64,
}

impl CaptureSummary {
    /// `(layer name, frames)` for each layer some frame went through.
    pub fn encapsulation_counts(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Layer::ALL.iter().map(|&l| (l.name(), self.encapsulations[l as usize])).filter(|&(_, n)| n > 0)
    }
}

/// A class of frames that is not decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Skip {
    /// A link type.
    Link(u32),
    /// Something under the link layer, with the layers it was found inside.
    Inside(Undecoded, u16),
}

/// Distinct classes tallied at most; further ones are lumped together (bounded memory).
const MAX_SKIP_CLASSES: usize = 256;

/// Frames not decoded, per class: the first frame and the count. Warned once per class,
/// with the count, when the input ends: never silence, never a warning per packet.
#[derive(Default)]
struct Skipped {
    classes: BTreeMap<Skip, (u64, u64)>,
    lumped: (u64, u64),
}

impl Skipped {
    fn add(&mut self, class: Skip, frame: u64) {
        let full = self.classes.len() >= MAX_SKIP_CLASSES;
        let slot = match self.classes.get_mut(&class) {
            Some(slot) => slot,
            None if full => &mut self.lumped,
            None => self.classes.entry(class).or_insert((frame, 0)),
        };
        if slot.1 == 0 {
            slot.0 = frame;
        }
        slot.1 += 1;
    }

    fn total(&self) -> u64 {
        self.classes.values().map(|v| v.1).sum::<u64>() + self.lumped.1
    }

    fn warn(&self, input: InputId, diag: &mut Diagnostics) {
        let lumped = (self.lumped.1 > 0).then_some((None, self.lumped));
        for (class, (first, n)) in self.classes.iter().map(|(c, v)| (Some(*c), *v)).chain(lumped) {
            let (kind, what) = match class {
                Some(Skip::Link(lt)) => (WarningKind::UnsupportedLinkType, format!("of link type {lt}")),
                Some(Skip::Inside(u, layers)) => {
                    (WarningKind::DecodeError, format!("with {u}{}", inside(layers)))
                }
                None => (WarningKind::DecodeError, format!("of {MAX_SKIP_CLASSES}+ further classes")),
            };
            diag.warn(
                kind,
                input,
                Some(Origin::Frame(first)),
                None,
                if n == 1 {
                    format!("1 packet {what} not decoded; it is skipped")
                } else {
                    format!("{n} packets {what} not decoded; they are skipped")
                },
            );
            for _ in 1..n {
                diag.count(kind);
            }
        }
    }
}

/// " inside GRE, 802.1Q" for the layers of a path.
fn inside(layers: u16) -> String {
    let names: Vec<&str> =
        Layer::ALL.iter().filter(|&&l| layers & (1 << l as u16) != 0).map(|l| l.name()).collect();
    if names.is_empty() { String::new() } else { format!(" inside {}", names.join(", ")) }
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
/// Decodes `frame` and gives the result to `f`; a fragment goes to `defrag` instead, and a
/// datagram it completes is decoded in turn from its IP header (so a fragmented tunnel
/// packet is whole before its inner packet is read, and fragments inside it are reassembled
/// too: two levels).
fn decode_all(
    frame: &Frame<'_>,
    path: &mut Path,
    defrag: &mut Defrag,
    input: InputId,
    diag: &mut Diagnostics,
    f: &mut dyn FnMut(Decoded<'_>, &Path, &mut Diagnostics),
) {
    let mut level = 0;
    let mut whole: Vec<u8>;
    let mut current = *frame;
    loop {
        match decode_path(&current, path) {
            Decoded::Fragment(fr) if level < 2 => {
                let Some(datagram) = defrag.add(&fr, frame.ts, frame.number, input, diag) else { return };
                whole = datagram;
                level += 1;
                current =
                    Frame { data: &whole, origlen: whole.len() as u32, linktype: linktype::RAW, ..*frame };
            }
            d => return f(d, path, diag),
        }
    }
}

/// Runs the whole pipeline over one capture.
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
    let mut skipped = Skipped::default();
    let mut encapsulations = [0u64; Layer::ALL.len()];
    let mut defrag = Defrag::default();
    let stats = cap.for_each_frame(diag, |frame, diag| {
        let at = At { ts: frame.ts, frame: frame.number };
        last = at;
        let mut path = Path::default();
        decode_all(&frame, &mut path, &mut defrag, input, diag, &mut |decoded, path, diag| {
        for l in Layer::ALL.iter().filter(|&&l| path.has(l)) {
            encapsulations[*l as usize] += 1;
        }
        match decoded {
            Decoded::Tcp(seg) => {
                reasm.segment(&seg, at, &mut tls.wrap(&mut http), diag);
                http.orderer.drain(&mut |mut ex| {
                    tls.mark(&mut ex);
                    body_limits(&ex, input, &opts.http, diag);
                    emit(ex)
                });
            }
            Decoded::Other => non_tcp += 1,
            Decoded::Fragment(_) => {
                non_tcp += 1;
                diag.warn(
                    WarningKind::IpFragment,
                    input,
                    Some(Origin::Frame(frame.number)),
                    None,
                    "an IP fragment inside a reassembled fragmented datagram (more than two levels) is not reassembled",
                );
            }
            Decoded::UnsupportedLink(lt) => {
                non_tcp += 1;
                skipped.add(Skip::Link(lt), frame.number);
            }
            Decoded::Undecoded(u) => {
                non_tcp += 1;
                skipped.add(Skip::Inside(u, path.layers), frame.number);
            }
            Decoded::Malformed(why) => {
                non_tcp += 1;
                diag.warn(WarningKind::DecodeError, input, Some(Origin::Frame(frame.number)), None, why);
            }
        }
        });
    });
    skipped.warn(input, diag);
    defrag.finish(input, diag);
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
        encapsulations,
        undecoded: skipped.total(),
    })
}
