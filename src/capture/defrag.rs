//! IP fragment reassembly: IPv4 and IPv6 fragments in, whole IP datagrams out.
//!
//! Takes each fragment ([`Fragment`], cut out of a packet by [`decode`](super::decode));
//! gives the datagram, rebuilt as a plain IPv4 or IPv6 packet without fragmentation (so
//! decoding goes on from there, tunnels included), once all its bytes have arrived.
//!
//! - Datagrams are keyed by source, destination, identification and protocol.
//! - Overlapping fragments drop the whole datagram (RFC 5722 for IPv6; the same for IPv4,
//!   where overlaps are an evasion trick), with a warning.
//! - Memory is bounded: at most [`MAX_DATAGRAMS`] datagrams and [`MAX_HELD`] bytes pending,
//!   a datagram at most 65 535 bytes; an incomplete datagram silent for [`TIMEOUT_NS`] of
//!   capture time, or pushed out by the caps, is dropped with a warning naming it.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::diag::{Diagnostics, WarningKind};
use crate::exchange::{InputId, Origin, Timestamp};

/// Incomplete datagrams held at most.
pub const MAX_DATAGRAMS: usize = 4096;
/// Fragment bytes held at most, over all datagrams.
pub const MAX_HELD: usize = 16 << 20;
/// An incomplete datagram silent this long (capture time) is dropped (Linux: 30 s).
pub const TIMEOUT_NS: i64 = 30 * 1_000_000_000;

/// One fragment, borrowed from its packet.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Identification (16 bits in IPv4, 32 in IPv6).
    pub id: u32,
    /// The protocol of the datagram's payload.
    pub proto: u8,
    /// Byte offset of this fragment's payload in the datagram's payload.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    /// This fragment's payload.
    pub payload: &'a [u8],
}

type Key = (IpAddr, IpAddr, u32, u8);

#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    /// Byte ranges received, sorted, not overlapping.
    have: Vec<(usize, usize)>,
    /// Payload length, once the last fragment arrived.
    end: Option<usize>,
    first_frame: u64,
    last_seen: Timestamp,
    fragments: u32,
}

/// Counters of reassembly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments taken.
    pub fragments: u64,
    /// Datagrams completed.
    pub datagrams: u64,
    /// Datagrams dropped (overlap, timeout, caps, end of input).
    pub dropped: u64,
}

/// The reassembly table of one input.
#[derive(Debug, Default)]
pub struct Defrag {
    pending: HashMap<Key, Pending>,
    held: usize,
    stats: DefragStats,
}

impl Defrag {
    /// Counters so far.
    pub fn stats(&self) -> DefragStats {
        self.stats
    }

    /// Takes one fragment; gives the whole datagram as an IP packet once complete.
    pub fn add(
        &mut self,
        f: &Fragment<'_>,
        ts: Timestamp,
        frame: u64,
        input: InputId,
        diag: &mut Diagnostics,
    ) -> Option<Vec<u8>> {
        self.stats.fragments += 1;
        let key = (f.src, f.dst, f.id, f.proto);
        let end = f.offset + f.payload.len();
        if end > 65_535 {
            self.drop_one(&key, input, diag, "a fragment reaches past 65 535 bytes");
            return None;
        }
        if !self.pending.contains_key(&key) {
            self.make_room(ts, input, diag);
            let p = Pending {
                data: Vec::new(),
                have: Vec::new(),
                end: None,
                first_frame: frame,
                last_seen: ts,
                fragments: 0,
            };
            self.pending.insert(key, p);
        }
        let p = self.pending.get_mut(&key)?;
        p.last_seen = ts;
        p.fragments += 1;
        let overlaps = p.have.iter().any(|&(s, e)| f.offset < e && s < end);
        let bad_end = match (p.end, f.more) {
            (Some(known), _) => end > known || (!f.more && end != known),
            (None, false) => p.have.iter().any(|&(_, e)| e > end),
            (None, true) => false,
        };
        if overlaps || bad_end {
            let why = if overlaps {
                "fragments overlap (RFC 5722: the datagram is dropped)"
            } else {
                "fragments disagree on the datagram's end"
            };
            self.drop_one(&key, input, diag, why);
            return None;
        }
        if p.data.len() < end {
            p.data.resize(end, 0);
        }
        p.data[f.offset..end].copy_from_slice(f.payload);
        self.held += f.payload.len();
        let at = p.have.partition_point(|&(s, _)| s < f.offset);
        p.have.insert(at, (f.offset, end));
        if !f.more {
            p.end = Some(end);
        }
        let complete = p.end.is_some_and(|e| contiguous(&p.have) == e);
        if !complete {
            return None;
        }
        let p = self.pending.remove(&key)?;
        self.held -= p.data.len().min(self.held);
        self.stats.datagrams += 1;
        Some(rebuild(f, &p.data))
    }

    /// The input ended: what is still incomplete is dropped, with a warning each.
    pub fn finish(&mut self, input: InputId, diag: &mut Diagnostics) {
        let mut keys: Vec<(u64, Key)> = self.pending.iter().map(|(k, p)| (p.first_frame, *k)).collect();
        keys.sort_unstable();
        for (_, k) in keys {
            self.drop_one(&k, input, diag, "the capture ended before its last fragment");
        }
    }

    /// Drops datagrams silent past the timeout; then, if still full, the oldest.
    fn make_room(&mut self, now: Timestamp, input: InputId, diag: &mut Diagnostics) {
        if self.pending.len() < MAX_DATAGRAMS && self.held < MAX_HELD {
            return;
        }
        let expired: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, p)| now.0.saturating_sub(p.last_seen.0) > TIMEOUT_NS)
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            self.drop_one(&k, input, diag, "no further fragment within 30 s");
        }
        while self.pending.len() >= MAX_DATAGRAMS || self.held >= MAX_HELD {
            let Some(oldest) = self.pending.iter().min_by_key(|(_, p)| p.last_seen).map(|(k, _)| *k) else {
                break;
            };
            self.drop_one(&oldest, input, diag, "too many incomplete datagrams held (a fixed limit)");
        }
    }

    fn drop_one(&mut self, key: &Key, input: InputId, diag: &mut Diagnostics, why: &str) {
        let (frame, n) = match self.pending.remove(key) {
            Some(p) => {
                self.held -= p.have.iter().map(|(s, e)| e - s).sum::<usize>().min(self.held);
                (Some(Origin::Frame(p.first_frame)), p.fragments)
            }
            None => (None, 1),
        };
        self.stats.dropped += 1;
        diag.warn(
            WarningKind::IpFragment,
            input,
            frame,
            None,
            format!(
                "an IP datagram {} → {} (id {}) of {n} fragments is not reassembled: {why}",
                key.0, key.1, key.2
            ),
        );
    }
}

/// Bytes received from offset 0 without a hole.
fn contiguous(have: &[(usize, usize)]) -> usize {
    let mut reach = 0;
    for &(s, e) in have {
        if s > reach {
            break;
        }
        reach = reach.max(e);
    }
    reach
}

/// A plain IPv4 or IPv6 packet carrying `payload` between the fragment's addresses.
fn rebuild(f: &Fragment<'_>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 40);
    match (f.src, f.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + payload.len()).min(u16::MAX as usize) as u16;
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&(f.id as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0, 64, f.proto, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(a) => a.octets(),
                IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            };
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(payload.len().min(u16::MAX as usize) as u16).to_be_bytes());
            out.extend_from_slice(&[f.proto, 64]);
            out.extend_from_slice(&v6(s));
            out.extend_from_slice(&v6(d));
        }
    }
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests;
