//! Output ordering: exchanges finished in any order in, exchanges in request order out.
//!
//! Exchanges complete out of order (a slow response holds one back while faster
//! connections finish theirs). Every message start opens an [`OrderKey`] (frame number of
//! its first byte, then a sequence number); an exchange is released once no open key is
//! older than its own. The buffer of finished exchanges is capped, in count and in bytes
//! ([`HELD_BYTES`]): past either cap the oldest is released anyway, so a request that never
//! completes cannot hold memory hostage.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use crate::exchange::Exchange;

/// Position of a message start in the input: (frame, sequence).
pub type OrderKey = (u64, u64);

struct Ready {
    key: OrderKey,
    exchange: Exchange,
}

impl PartialEq for Ready {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ready {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// The most bytes (heads and kept bodies, roughly) of finished exchanges held back.
pub const HELD_BYTES: usize = 32 << 20;

/// Rough heap size of an exchange: what holding it back costs.
fn weight(e: &Exchange) -> usize {
    let m =
        |m: Option<&crate::exchange::Message>| m.map_or(0, |m| m.head.raw().len() * 2 + m.body.data.len());
    std::mem::size_of::<Exchange>() + m(e.request.as_ref()) + m(e.response.as_ref())
}

/// Releases exchanges in request order.
pub struct Orderer {
    /// Bytes held in `ready` (by [`weight`]).
    bytes: usize,
    open: BTreeSet<OrderKey>,
    ready: BinaryHeap<Reverse<Ready>>,
    seq: u64,
    cap: usize,
    forced: u64,
}

impl Orderer {
    /// An orderer holding at most `cap` finished exchanges.
    pub fn new(cap: usize) -> Self {
        Orderer {
            bytes: 0,
            open: BTreeSet::new(),
            ready: BinaryHeap::new(),
            seq: 0,
            cap: cap.max(1),
            forced: 0,
        }
    }

    /// A message starts at `frame`: reserve its place.
    pub fn open(&mut self, frame: u64) -> OrderKey {
        self.seq += 1;
        let key = (frame, self.seq);
        self.open.insert(key);
        key
    }

    /// The message at `key` will not become an exchange of its own.
    pub fn cancel(&mut self, key: OrderKey) {
        self.open.remove(&key);
    }

    /// The exchange whose place is `key` is finished.
    pub fn complete(&mut self, key: OrderKey, exchange: Exchange) {
        self.open.remove(&key);
        self.bytes += weight(&exchange);
        self.ready.push(Reverse(Ready { key, exchange }));
    }

    /// Releases every exchange that can no longer be overtaken.
    pub fn drain(&mut self, out: &mut dyn FnMut(Exchange)) {
        while let Some(Reverse(top)) = self.ready.peek() {
            let blocked = self.open.first().is_some_and(|oldest| *oldest < top.key);
            if blocked && self.ready.len() <= self.cap && self.bytes <= HELD_BYTES {
                break;
            }
            if blocked {
                self.forced += 1;
            }
            if let Some(Reverse(r)) = self.ready.pop() {
                self.bytes -= weight(&r.exchange);
                out(r.exchange);
            }
        }
    }

    /// Releases everything (end of input).
    pub fn flush(&mut self, out: &mut dyn FnMut(Exchange)) {
        self.open.clear();
        self.drain(out);
    }

    /// Exchanges released ahead of an older unfinished one because the buffer was full.
    pub fn forced(&self) -> u64 {
        self.forced
    }

    /// Finished exchanges waiting.
    pub fn waiting(&self) -> usize {
        self.ready.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Flags;

    fn ex(conn: u64) -> Exchange {
        Exchange {
            input: 0,
            conn,
            client: "1.1.1.1:1".parse().unwrap(),
            server: "2.2.2.2:2".parse().unwrap(),
            request: None,
            response: None,
            interim: vec![],
            flags: Flags::default(),
            wire: crate::exchange::Wire::default(),
            logged: None,
        }
    }

    #[test]
    fn releases_in_key_order_once_unblocked() {
        let mut o = Orderer::new(100);
        let a = o.open(1);
        let b = o.open(2);
        let c = o.open(2);
        let mut out = Vec::new();
        o.complete(c, ex(3));
        o.complete(b, ex(2));
        o.drain(&mut |e| out.push(e.conn));
        assert!(out.is_empty(), "a is still open");
        o.complete(a, ex(1));
        o.drain(&mut |e| out.push(e.conn));
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn cap_forces_release() {
        let mut o = Orderer::new(2);
        let _stuck = o.open(1);
        let mut out = Vec::new();
        for f in 2..6 {
            let k = o.open(f);
            o.complete(k, ex(f));
            o.drain(&mut |e| out.push(e.conn));
        }
        assert_eq!(out, vec![2, 3]);
        assert_eq!(o.waiting(), 2);
        assert_eq!(o.forced(), 2);
        o.flush(&mut |e| out.push(e.conn));
        assert_eq!(out, vec![2, 3, 4, 5]);
    }

    /// Measured with scripts/gen-hostile.py's `stalled-order`: one request never answered
    /// held 100 000 finished exchanges with their bodies back (292 MB); the count cap alone
    /// did not bound bytes.
    #[test]
    fn byte_budget_forces_release() {
        let mut o = Orderer::new(usize::MAX);
        let _stuck = o.open(1);
        let mut big = ex(2);
        big.request = Some(crate::exchange::Message {
            head: crate::exchange::Head::request("POST", "/", 1, &[]),
            ts: Default::default(),
            end_ts: Default::default(),
            origin: crate::exchange::Origin::Frame(2),
            end_origin: crate::exchange::Origin::Frame(2),
            body: crate::exchange::Body { data: vec![0; 1 << 20], len: 1 << 20, ..Default::default() },
        });
        let mut out = 0;
        for f in 2..200 {
            let k = o.open(f);
            o.complete(k, big.clone());
            o.drain(&mut |_| out += 1);
        }
        assert!(o.bytes <= HELD_BYTES + (2 << 20), "{} bytes held", o.bytes);
        assert!(out > 100, "{out}");
        assert!(o.forced() > 0);
    }
}
