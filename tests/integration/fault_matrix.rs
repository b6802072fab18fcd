//! The fault matrix: every sample capture (samples/*.pcap, real traffic) rewritten with one
//! kind of damage at a time, then run through the `dupcall` binary (`analyze` and
//! `exchanges`) and compared with the clean run.
//!
//! How a capture is rewritten: it is read with pcap-parser, each packet decoded with
//! etherparse into (time, addresses, seq, ack, flags, payload), and written again with
//! `dupcall_testkit::synth` (Ethernet, µs). The *clean* run is the rewritten but undamaged capture,
//! so the comparison sees only the fault. Every written packet remembers the index of the
//! original packet it came from (`Pkt::orig`), which maps frame numbers of the damaged file
//! back to the clean one: a report row is identified by the original packet that carried the
//! first byte of its request (its `source` frame).
//!
//! **Touched**, precisely: the clean run's exchanges (from the library pipeline) give, per
//! message, the frames of its first and last byte. An exchange is touched when a *damaged*
//! packet is a packet of its connection, in the direction of a message of the exchange,
//! with a frame number inside that message's [first, last] frame range — i.e. when the
//! request's or the response's bytes lie in damaged packets. For a truncated file, every
//! exchange with a byte at or after the first incomplete record is touched; for a mid-stream
//! start, every exchange with a byte in the removed packets. A report row is touched when its
//! exchange is, or when its decision rests on a touched row (its `repeat_of` or `refresh_id`,
//! in the clean or the damaged run, is touched), transitively.
//!
//! **Checks**, per sample and fault: no panic and exit code 0 (docs/report-format.md: damaged but
//! readable input); every untouched row is unchanged (label, outcome, the row it repeats,
//! double execution, confidence); a touched row either kept its clean label or is flagged:
//! `ambiguous`, `confidence=inferred`, or its exchange is `complete=no` in `dupcall
//! exchanges`; a `confirmed` label that differs from the clean label is a failure; faults
//! that lose or change bytes leave a warning.
//!
//! The table of results is printed (`cargo test --test fault_matrix -- --nocapture`) and
//! recorded in docs/robustness.md.

use crate::common;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use dupcall::capture::decode::TcpFlags;
use dupcall::capture::linktype;
use dupcall::capture::pipeline::{self, Options};
use dupcall::diag::Diagnostics;
use dupcall::exchange::{Exchange, Message, Timestamp};
use dupcall_testkit::synth::{self, PcapNgWriter, PcapWriter, Segment};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};

const KEY: &str = "fault-matrix";

/// One packet of a capture, decoded.
#[derive(Clone, Debug)]
struct Pkt {
    /// Index of the original packet (0-based) this one was made from.
    orig: usize,
    ts: i64,
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    payload: Vec<u8>,
    /// Frame bytes cut off the end (snapshot length).
    cut: usize,
}

fn read_sample(path: &Path) -> Vec<Pkt> {
    let bytes = std::fs::read(path).unwrap();
    let cap =
        pcap_parser::PcapCapture::from_file(&bytes).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    assert_eq!(cap.header.network.0, linktype::ETHERNET as i32, "samples are Ethernet captures");
    let nanos = cap.header.is_nanosecond_precision();
    let mut out = Vec::new();
    for (i, b) in cap.blocks.iter().enumerate() {
        let frac = if nanos { b.ts_usec as i64 } else { b.ts_usec as i64 * 1000 };
        let ts = b.ts_sec as i64 * 1_000_000_000 + frac;
        let p = SlicedPacket::from_ethernet(b.data).unwrap_or_else(|e| panic!("packet {}: {e:?}", i + 1));
        let (src, dst): (IpAddr, IpAddr) = match &p.net {
            Some(NetSlice::Ipv4(v4)) => {
                (v4.header().source_addr().into(), v4.header().destination_addr().into())
            }
            Some(NetSlice::Ipv6(v6)) => {
                (v6.header().source_addr().into(), v6.header().destination_addr().into())
            }
            _ => panic!("packet {}: not IP", i + 1),
        };
        let Some(TransportSlice::Tcp(tcp)) = &p.transport else { panic!("packet {}: not TCP", i + 1) };
        out.push(Pkt {
            orig: i,
            ts,
            src: SocketAddr::new(src, tcp.source_port()),
            dst: SocketAddr::new(dst, tcp.destination_port()),
            seq: tcp.sequence_number(),
            ack: tcp.acknowledgment_number(),
            flags: TcpFlags { syn: tcp.syn(), ack: tcp.ack(), fin: tcp.fin(), rst: tcp.rst() },
            payload: tcp.payload().to_vec(),
            cut: 0,
        });
    }
    out
}

fn frame_of(p: &Pkt) -> Vec<u8> {
    let seg = Segment { src: p.src, dst: p.dst, seq: p.seq, ack: p.ack, flags: p.flags, payload: &p.payload };
    synth::frame(linktype::ETHERNET, &synth::ip_packet(&seg), &[])
}

fn write_pcap(pkts: &[Pkt]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), linktype::ETHERNET, false).unwrap();
    for p in pkts {
        let f = frame_of(p);
        let keep = f.len().saturating_sub(p.cut);
        w.packet(Timestamp(p.ts), &f[..keep], f.len() as u32).unwrap();
    }
    w.into_inner()
}

/// A pcapng copy with blocks of an unknown type: after the interface block, and every
/// `every` packets.
fn write_pcapng_with_unknown_blocks(pkts: &[Pkt], every: usize) -> Vec<u8> {
    fn unknown_block(out: &mut Vec<u8>, n: u32) {
        let body = format!("dupcall fault matrix: unknown block {n}").into_bytes();
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        out.extend_from_slice(&0x0BAD_F00Du32.to_le_bytes());
        out.extend_from_slice(&total.to_le_bytes());
        out.extend_from_slice(&body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend_from_slice(&total.to_le_bytes());
    }
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let iface = w.interface(linktype::ETHERNET, 6).unwrap();
    let mut out = w.into_inner();
    unknown_block(&mut out, 0);
    let mut w = PcapNgWriter::new(Vec::new()).unwrap();
    let _ = w.interface(linktype::ETHERNET, 6).unwrap();
    let header_len = w.into_inner().len();
    for (i, p) in pkts.iter().enumerate() {
        let mut one = PcapNgWriter::new(Vec::new()).unwrap();
        let _ = one.interface(linktype::ETHERNET, 6).unwrap();
        let f = frame_of(p);
        one.packet(iface, Timestamp(p.ts), &f, f.len() as u32).unwrap();
        out.extend_from_slice(&one.into_inner()[header_len..]);
        if (i + 1) % every == 0 {
            unknown_block(&mut out, i as u32 + 1);
        }
    }
    out
}

fn same_conn(p: &Pkt, ex: &Exchange) -> Option<bool> {
    if p.src == ex.client && p.dst == ex.server {
        Some(true)
    } else if p.src == ex.server && p.dst == ex.client {
        Some(false)
    } else {
        None
    }
}

fn frames(m: &Message) -> (u64, u64) {
    (m.origin.number(), m.end_origin.number())
}

/// Splits packet `i` at payload offsets `cuts`, returning the pieces (in stream order).
fn split(p: &Pkt, cuts: &[usize]) -> Vec<Pkt> {
    let mut bounds = vec![0];
    bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < p.payload.len()));
    bounds.push(p.payload.len());
    bounds.dedup();
    bounds
        .windows(2)
        .enumerate()
        .map(|(k, w)| {
            let last = k + 2 == bounds.len();
            Pkt {
                seq: p.seq.wrapping_add(w[0] as u32),
                payload: p.payload[w[0]..w[1]].to_vec(),
                flags: TcpFlags { fin: p.flags.fin && last, ..p.flags },
                ..p.clone()
            }
        })
        .collect()
}

/// What a fault did.
#[derive(Default)]
struct Damage {
    /// Original packets whose bytes were lost or changed.
    damaged: BTreeSet<usize>,
    /// Frames of the clean file from which on everything is lost (truncated file).
    lost_from_frame: Option<u64>,
    /// Frames of the clean file up to which everything is lost (mid-stream start).
    lost_to_frame: Option<u64>,
    /// The fault loses or changes bytes (a warning is required).
    lossy: bool,
}

struct Faulted {
    bytes: Vec<u8>,
    /// Original packet index of each frame of the damaged file.
    map: Vec<usize>,
    damage: Damage,
    ext: &'static str,
}

/// A message to damage: the packet carrying its first byte and the message's bounds.
struct Target {
    /// Index in the packet list of the packet carrying the first byte.
    first: usize,
    /// Head length (bytes up to and including the blank line), within that packet's payload
    /// when the head is in one packet.
    head_len: usize,
    /// Whether the message is a request.
    request: bool,
}

fn head_len(payload: &[u8]) -> usize {
    payload.windows(4).position(|w| w == b"\r\n\r\n").map_or(payload.len(), |p| p + 4)
}

/// Targets: the request and the response of exchanges at about ¼, ½ and ¾ of the capture
/// (the fault is applied to each separately).
fn targets(pkts: &[Pkt], exs: &[Exchange]) -> Vec<Target> {
    let n = exs.len();
    let mut picks: Vec<usize> = vec![n / 4, n / 2, (3 * n) / 4];
    picks.dedup();
    let mut out = Vec::new();
    for &k in &picks {
        let ex = &exs[k];
        for (request, m) in [(true, ex.request.as_ref()), (false, ex.response.as_ref())] {
            let Some(m) = m else { continue };
            let first = m.origin.number() as usize - 1;
            out.push(Target { first, head_len: head_len(&pkts[first].payload), request });
        }
    }
    out
}

fn finish(pkts: Vec<Pkt>, damage: Damage) -> Faulted {
    let map = pkts.iter().map(|p| p.orig).collect();
    Faulted { bytes: write_pcap(&pkts), map, damage, ext: "pcap" }
}

fn damaged(orig: usize, lossy: bool) -> Damage {
    Damage { damaged: [orig].into(), lossy, ..Damage::default() }
}

/// The faults. Each returns `None` when the target does not allow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    Reordered,
    Duplicated,
    ConflictingOverlap,
    DroppedBodySegment,
    DroppedHeadSegment,
    Snaplen,
    TruncatedFile,
    MidStreamStart,
    PcapngUnknownBlock,
    GzipBomb,
}

const FAULTS: [Fault; 10] = [
    Fault::Reordered,
    Fault::Duplicated,
    Fault::ConflictingOverlap,
    Fault::DroppedBodySegment,
    Fault::DroppedHeadSegment,
    Fault::Snaplen,
    Fault::TruncatedFile,
    Fault::MidStreamStart,
    Fault::PcapngUnknownBlock,
    Fault::GzipBomb,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Reordered => "reordered segments",
            Fault::Duplicated => "duplicated segments",
            Fault::ConflictingOverlap => "overlapping retransmission, different bytes",
            Fault::DroppedBodySegment => "dropped segment in a body",
            Fault::DroppedHeadSegment => "dropped segment in headers",
            Fault::Snaplen => "packets cut by snaplen (200 B)",
            Fault::TruncatedFile => "file truncated mid-record (at 1/3, 2/3, last)",
            Fault::MidStreamStart => "first 1/4, 1/2, 3/4 of packets removed",
            Fault::PcapngUnknownBlock => "pcapng with unknown blocks",
            Fault::GzipBomb => "gzip bomb response body",
        }
    }

    /// Whether the fault is applied per target message (else once per capture).
    fn per_target(self) -> bool {
        matches!(
            self,
            Fault::Reordered
                | Fault::Duplicated
                | Fault::ConflictingOverlap
                | Fault::DroppedBodySegment
                | Fault::DroppedHeadSegment
                | Fault::GzipBomb
        )
    }

    /// `vi` numbers the variants of whole-capture faults (where to cut).
    fn apply(self, pkts: &[Pkt], t: Option<&Target>, vi: usize) -> Option<Faulted> {
        let mut v = pkts.to_vec();
        match self {
            Fault::Reordered => {
                // The message's first packet split in three, sent as 3, 1, 2.
                let t = t?;
                let p = &v[t.first];
                if p.payload.len() < 3 {
                    return None;
                }
                let l = p.payload.len();
                let mut parts = split(p, &[l / 3, 2 * l / 3]);
                let third = parts.pop()?;
                parts.insert(0, third);
                v.splice(t.first..=t.first, parts);
                Some(finish(v, Damage::default()))
            }
            Fault::Duplicated => {
                // Every packet of the message's first segment sent twice, the copy later.
                let t = t?;
                let copy = v[t.first].clone();
                v.insert(t.first + 1, copy.clone());
                if t.first + 3 < v.len() {
                    v.insert(t.first + 3, copy);
                }
                Some(finish(v, Damage::default()))
            }
            Fault::ConflictingOverlap => {
                // Split in three (A, B, C); send C, then a retransmission of the second half
                // of B and the first half of C with different bytes, then A, B.
                let t = t?;
                let p = &v[t.first];
                let l = p.payload.len();
                if l < 8 {
                    return None;
                }
                let (a, b) = (l / 3, 2 * l / 3);
                let parts = split(p, &[a, b]);
                let mid = (a + b) / 2;
                let end = (b + l) / 2;
                let mut bad = Pkt {
                    seq: p.seq.wrapping_add(mid as u32),
                    payload: p.payload[mid..end].iter().map(|x| x ^ 0x20).collect(),
                    flags: TcpFlags { fin: false, ..p.flags },
                    ..p.clone()
                };
                bad.flags.fin = false;
                let seq = vec![parts[2].clone(), bad, parts[0].clone(), parts[1].clone()];
                let orig = p.orig;
                v.splice(t.first..=t.first, seq);
                Some(finish(v, damaged(orig, true)))
            }
            Fault::DroppedBodySegment => {
                let t = t?;
                let p = &v[t.first];
                let orig = p.orig;
                if t.head_len < p.payload.len() {
                    // Body in the same packet: split after the head, drop the body part.
                    let parts = split(p, &[t.head_len]);
                    v.splice(t.first..=t.first, parts.into_iter().take(1));
                } else {
                    // Body in the next data packet of the same direction, if any.
                    let next = (t.first + 1..v.len())
                        .find(|&i| v[i].src == p.src && v[i].dst == p.dst && !v[i].payload.is_empty())?;
                    if looks_like_message_start(&v[next].payload) {
                        return None;
                    }
                    let orig = v[next].orig;
                    v.remove(next);
                    return Some(finish(v, damaged(orig, true)));
                }
                Some(finish(v, damaged(orig, true)))
            }
            Fault::DroppedHeadSegment => {
                // The head split in three; the middle part is lost.
                let t = t?;
                let p = &v[t.first];
                let h = t.head_len;
                if h < 12 {
                    return None;
                }
                let parts = split(p, &[h / 3, 2 * h / 3]);
                let orig = p.orig;
                let kept: Vec<Pkt> =
                    parts.into_iter().enumerate().filter(|(k, _)| *k != 1).map(|(_, x)| x).collect();
                v.splice(t.first..=t.first, kept);
                Some(finish(v, damaged(orig, true)))
            }
            Fault::Snaplen => {
                // tcpdump -s: every frame cut to 14 + 20 + 32 + 200 bytes (IPv4 + timestamps).
                let mut d = Damage { lossy: true, ..Damage::default() };
                for p in &mut v {
                    let len = frame_of(p).len();
                    let snap = 14 + 20 + 32 + 200;
                    if len > snap {
                        p.cut = len - snap;
                        d.damaged.insert(p.orig);
                    }
                }
                if d.damaged.is_empty() {
                    return None;
                }
                Some(finish(v, d))
            }
            Fault::TruncatedFile => {
                // Cut in the middle of the record of the packet at 1/3, 2/3 or the end of
                // the file.
                let k = match vi {
                    0 => v.len() / 3,
                    1 => v.len() * 2 / 3,
                    _ => v.len() - 1,
                };
                let mut f = finish(v[..=k].to_vec(), Damage::default());
                let last_len = frame_of(&v[k]).len();
                f.bytes.truncate(f.bytes.len() - last_len / 2);
                f.map.pop();
                f.damage = Damage { lost_from_frame: Some(k as u64 + 1), lossy: true, ..Damage::default() };
                Some(f)
            }
            Fault::MidStreamStart => {
                // The first quarter, half or three quarters of the packets removed.
                let n = v.len() * (vi + 1) / 4;
                let mut f = finish(v[n..].to_vec(), Damage::default());
                // Lossy (a warning is due) only when a message straddles the cut: decided
                // in `compare`.
                f.damage = Damage { lost_to_frame: Some(n as u64), ..Damage::default() };
                Some(f)
            }
            Fault::PcapngUnknownBlock => {
                let map = v.iter().map(|p| p.orig).collect();
                Some(Faulted {
                    bytes: write_pcapng_with_unknown_blocks(&v, 7),
                    map,
                    damage: Damage::default(),
                    ext: "pcapng",
                })
            }
            Fault::GzipBomb => {
                let t = t?;
                if t.request {
                    return None;
                }
                gzip_bomb(&mut v, t.first)?;
                let orig = pkts[t.first].orig;
                // The content means the same (JSON + whitespace): damaged only in form.
                Some(finish(v, damaged(orig, true)))
            }
        }
    }
}

fn looks_like_message_start(p: &[u8]) -> bool {
    p.starts_with(b"HTTP/1.") || dupcall::http::sniff::looks_like_request(p)
}

/// Replaces the body of the response starting in packet `first` (head and whole body in that
/// packet, Content-Length framed) by gzip(original body + 32 MiB of spaces): the same JSON
/// once decoded, a 32 MiB decompression for anyone who decodes it all, ~32 KiB on the wire.
/// Later sequence numbers of the server and acknowledgments of the client are shifted.
fn gzip_bomb(v: &mut Vec<Pkt>, first: usize) -> Option<()> {
    let p = v[first].clone();
    let h = head_len(&p.payload);
    let head = std::str::from_utf8(&p.payload[..h]).ok()?;
    let cl_line = head.lines().find(|l| l.to_ascii_lowercase().starts_with("content-length:"))?;
    let cl: usize = cl_line.split(':').nth(1)?.trim().parse().ok()?;
    if cl == 0 || h + cl != p.payload.len() || head.to_ascii_lowercase().contains("content-encoding") {
        return None;
    }
    let body = &p.payload[h..];
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(body).unwrap();
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..32 {
        enc.write_all(&spaces).unwrap();
    }
    let gz = enc.finish().unwrap();
    let new_head = head.replace(cl_line, &format!("Content-Encoding: gzip\r\nContent-Length: {}", gz.len()));
    let mut msg = new_head.into_bytes();
    msg.extend_from_slice(&gz);
    let delta = msg.len() as i64 - p.payload.len() as i64;
    let old_end = p.seq.wrapping_add(p.payload.len() as u32);
    // Later packets of the connection: shift the server's sequence and the client's ACKs.
    for q in v.iter_mut().skip(first + 1) {
        if q.src == p.src && q.dst == p.dst && (q.seq.wrapping_sub(old_end) as i32) >= 0 {
            q.seq = q.seq.wrapping_add(delta as u32);
        }
        if q.src == p.dst && q.dst == p.src && q.flags.ack && (q.ack.wrapping_sub(old_end) as i32) >= 0 {
            q.ack = q.ack.wrapping_add(delta as u32);
        }
    }
    let whole = Pkt { payload: msg, ..p };
    let cuts: Vec<usize> = (1..).map(|k| k * 16_000).take_while(|&c| c < whole.payload.len()).collect();
    let pieces = split(&whole, &cuts);
    v.splice(first..=first, pieces);
    Some(())
}

struct Run {
    code: i32,
    rows: Vec<common::Row>,
    stderr: String,
    /// `complete` of each exchange, by the frame of its request's first byte.
    complete: HashMap<u64, String>,
}

fn run_file(dir: &Path, name: &str, bytes: &[u8]) -> Run {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let p = path.to_str().unwrap();
    let bin = env!("CARGO_BIN_EXE_dupcall");
    let a = Command::new(bin).args(["analyze", p, "--fingerprint-key", KEY]).output().unwrap();
    let e = Command::new(bin).args(["exchanges", p, "--fingerprint-key", KEY]).output().unwrap();
    let stderr = String::from_utf8_lossy(&a.stderr).into_owned();
    assert!(a.status.code().is_some(), "{name}: analyze killed by a signal: {stderr}");
    assert!(e.status.code().is_some(), "{name}: exchanges killed by a signal");
    assert!(!stderr.contains("panicked"), "{name}: analyze panicked: {stderr}");
    let ex_err = String::from_utf8_lossy(&e.stderr);
    assert!(!ex_err.contains("panicked"), "{name}: exchanges panicked: {ex_err}");
    assert_eq!(a.status.code(), e.status.code(), "{name}: analyze and exchanges disagree on the exit code");
    let complete = common::rows(&e.stdout)
        .into_iter()
        .filter_map(|r| Some((r["req_frame"].parse().ok()?, r["complete"].clone())))
        .collect();
    Run { code: a.status.code().unwrap_or(-1), rows: common::rows(&a.stdout), stderr, complete }
}

fn frame_in_source(source: &str) -> u64 {
    source.rsplit("#frame=").next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[derive(Default, Clone)]
struct Tally {
    runs: usize,
    rows: usize,
    touched: usize,
    kept_label: usize,
    flagged: usize,
    failures: Vec<String>,
    warned: usize,
    lossy_runs: usize,
    /// Touched rows whose earlier attempt P was cut off by a mid-stream start and that are
    /// now `original` (confirmed): right for the capture as given, wrong for the traffic.
    /// A known limitation (docs/robustness.md), counted, not failed.
    p_before_capture: usize,
}

/// Which clean exchanges the damage touches (by the frame of the request's first byte; for
/// an orphan response, of the response's), and whether a cut falls inside a message.
fn touched_frames(pkts: &[Pkt], clean_ex: &[Exchange], d: &Damage) -> (BTreeSet<u64>, bool) {
    let mut touched_frames: BTreeSet<u64> = BTreeSet::new();
    let mut straddles = false;
    for ex in clean_ex {
        let msgs: Vec<(bool, &Message)> = [(true, ex.request.as_ref()), (false, ex.response.as_ref())]
            .into_iter()
            .filter_map(|(r, m)| Some((r, m?)))
            .collect();
        let mut hit = false;
        for (is_req, m) in &msgs {
            let (lo, hi) = frames(m);
            for &o in &d.damaged {
                let fr = o as u64 + 1;
                if fr >= lo && fr <= hi && same_conn(&pkts[o], ex) == Some(*is_req) {
                    hit = true;
                }
            }
            if d.lost_from_frame.is_some_and(|k| hi >= k) || d.lost_to_frame.is_some_and(|k| lo <= k) {
                hit = true;
            }
            straddles |= d.lost_to_frame.is_some_and(|k| lo <= k && hi > k);
        }
        // A request with no response yet when the file was cut loses the response.
        if d.lost_from_frame.is_some() && ex.response.is_none() {
            hit = true;
        }
        if hit {
            touched_frames.insert(ex.origin().number());
        }
    }
    (touched_frames, straddles)
}

/// Compares one damaged run with the clean one.
fn compare(
    what: &str,
    pkts: &[Pkt],
    clean_ex: &[Exchange],
    clean: &Run,
    f: &Faulted,
    got: &Run,
    tally: &mut Tally,
) {
    tally.runs += 1;
    if got.code != 0 {
        tally.failures.push(format!("{what}: exit code {} (want 0): {}", got.code, got.stderr));
        return;
    }
    let d = &f.damage;
    let (touched_frames, straddles) = touched_frames(pkts, clean_ex, d);
    // Rows by key (original packet index of the request's first byte).
    let clean_key = |r: &common::Row| frame_in_source(&r["source"]).saturating_sub(1) as usize;
    let got_key = |r: &common::Row| {
        let fr = frame_in_source(&r["source"]) as usize;
        f.map.get(fr.wrapping_sub(1)).copied().unwrap_or(usize::MAX)
    };
    let clean_by_id: HashMap<&str, usize> =
        clean.rows.iter().map(|r| (r["id"].as_str(), clean_key(r))).collect();
    let got_by_id: HashMap<&str, usize> = got.rows.iter().map(|r| (r["id"].as_str(), got_key(r))).collect();
    let got_by_key: BTreeMap<usize, &common::Row> = got.rows.iter().map(|r| (got_key(r), r)).collect();
    let mut touched: BTreeSet<usize> =
        clean.rows.iter().map(clean_key).filter(|k| touched_frames.contains(&(*k as u64 + 1))).collect();
    // Rows deciding on touched rows are touched too (transitively).
    loop {
        let before = touched.len();
        for r in &clean.rows {
            let deps = [&r["repeat_of"], &r["refresh_id"]];
            let mut dep_keys: Vec<usize> =
                deps.iter().filter_map(|id| clean_by_id.get(id.as_str()).copied()).collect();
            if let Some(g) = got_by_key.get(&clean_key(r)) {
                dep_keys.extend(
                    [&g["repeat_of"], &g["refresh_id"]]
                        .iter()
                        .filter_map(|id| got_by_id.get(id.as_str()).copied()),
                );
            }
            if dep_keys.iter().any(|k| touched.contains(k)) {
                touched.insert(clean_key(r));
            }
        }
        if touched.len() == before {
            break;
        }
    }
    let rel = |id: &str, by: &HashMap<&str, usize>| by.get(id).map(|k| k.to_string()).unwrap_or_default();
    for r in &clean.rows {
        tally.rows += 1;
        let k = clean_key(r);
        let g = got_by_key.get(&k);
        if !touched.contains(&k) {
            let Some(g) = g else {
                tally.failures.push(format!("{what}: untouched row {} ({}) is missing", r["id"], r["path"]));
                continue;
            };
            let same = g["label"] == r["label"]
                && g["outcome"] == r["outcome"]
                && g["double_execution"] == r["double_execution"]
                && g["confidence"] == r["confidence"]
                && rel(&g["repeat_of"], &got_by_id) == rel(&r["repeat_of"], &clean_by_id);
            if !same {
                tally.failures.push(format!(
                    "{what}: untouched row {} {} changed: {}/{}/{}/{} → {}/{}/{}/{} ({})",
                    r["id"],
                    r["path"],
                    r["label"],
                    r["outcome"],
                    r["double_execution"],
                    r["confidence"],
                    g["label"],
                    g["outcome"],
                    g["double_execution"],
                    g["confidence"],
                    g["evidence"]
                ));
            }
            continue;
        }
        tally.touched += 1;
        let Some(g) = g else {
            // Lost with the damaged bytes: nothing claimed, nothing wrong.
            tally.flagged += 1;
            continue;
        };
        if g["label"] == r["label"] && rel(&g["repeat_of"], &got_by_id) == rel(&r["repeat_of"], &clean_by_id)
        {
            tally.kept_label += 1;
            continue;
        }
        let incomplete = got.complete.get(&frame_in_source(&g["source"])).is_some_and(|c| c == "no");
        let p_cut = d
            .lost_to_frame
            .is_some_and(|n| clean_by_id.get(r["repeat_of"].as_str()).is_some_and(|&pk| (pk as u64) < n));
        if p_cut && g["label"] == "original" && g["repeat_of"].is_empty() {
            tally.p_before_capture += 1;
            continue;
        }
        let flagged = g["label"] == "ambiguous" || g["confidence"] == "inferred" || incomplete;
        if g["confidence"] == "confirmed" && g["label"] != r["label"] && !incomplete {
            tally.failures.push(format!(
                "{what}: touched row {} {} got a different confirmed label: {} → {} ({})",
                r["id"], r["path"], r["label"], g["label"], g["evidence"]
            ));
        } else if flagged {
            tally.flagged += 1;
        } else {
            tally.failures.push(format!(
                "{what}: touched row {} {} changed ({} → {}) without a flag ({})",
                r["id"], r["path"], r["label"], g["label"], g["evidence"]
            ));
        }
    }
    if d.lossy || straddles {
        tally.lossy_runs += 1;
        if got.stderr.contains("warnings:") {
            tally.warned += 1;
        } else {
            tally.failures.push(format!("{what}: bytes were lost or changed but no warning: {}", got.stderr));
        }
    }
}

fn samples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    v.sort();
    v
}

#[test]
fn fault_matrix() {
    // FAULT_MATRIX_KEEP=DIR keeps the rewritten captures there (for debugging).
    let tmp = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("FAULT_MATRIX_KEEP").map(PathBuf::from);
    let dir: &Path = keep.as_deref().unwrap_or(tmp.path());
    std::fs::create_dir_all(dir).unwrap();
    let mut table: BTreeMap<Fault, Tally> = BTreeMap::new();
    for sample in samples() {
        let name = sample.file_stem().unwrap().to_string_lossy().into_owned();
        let pkts = read_sample(&sample);
        let clean_bytes = write_pcap(&pkts);
        let mut clean_ex = Vec::new();
        let mut diag = Diagnostics::default();
        pipeline::capture_exchanges(&clean_bytes[..], 0, &Options::default(), &mut diag, &mut |e| {
            clean_ex.push(e)
        })
        .unwrap();
        let clean = run_file(dir, &format!("{name}.clean.pcap"), &clean_bytes);
        assert_eq!(clean.code, 0, "{name}: clean run: {}", clean.stderr);
        // The rewritten capture means the same as the recorded one.
        let orig = run_file(dir, &format!("{name}.orig.pcap"), &std::fs::read(&sample).unwrap());
        let strip = |rows: &[common::Row]| -> Vec<Vec<String>> {
            rows.iter()
                .map(|r| r.iter().filter(|(k, _)| *k != "source").map(|(_, v)| v.clone()).collect())
                .collect()
        };
        assert_eq!(strip(&clean.rows), strip(&orig.rows), "{name}: rewriting changed the report");
        let tg = targets(&pkts, &clean_ex);
        for fault in FAULTS {
            let tally = table.entry(fault).or_default();
            let variants: Vec<Option<&Target>> = if fault.per_target() {
                tg.iter().map(Some).collect()
            } else if matches!(fault, Fault::TruncatedFile | Fault::MidStreamStart) {
                vec![None; 3]
            } else {
                vec![None]
            };
            for (vi, t) in variants.into_iter().enumerate() {
                let Some(f) = fault.apply(&pkts, t, vi) else { continue };
                let what = format!("{name} / {} #{vi}", fault.name());
                let file = format!("{name}.{fault:?}.{vi}.{}", f.ext);
                let got = run_file(dir, &file, &f.bytes);
                if fault == Fault::GzipBomb {
                    assert!(
                        f.bytes.len() < clean_bytes.len() + 200_000,
                        "{what}: the bomb is not small on disk"
                    );
                }
                compare(&what, &pkts, &clean_ex, &clean, &f, &got, tally);
            }
        }
    }
    println!();
    println!(
        "| fault | runs | rows | touched | touched, label kept | touched, flagged | P before the capture | lossy runs with warning | failures |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for (fault, t) in &table {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {}/{} | {} |",
            fault.name(),
            t.runs,
            t.rows,
            t.touched,
            t.kept_label,
            t.flagged,
            t.p_before_capture,
            t.warned,
            t.lossy_runs,
            t.failures.len()
        );
        failures.extend(t.failures.iter().cloned());
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
