//! Stage 1, captures: pcap/pcapng bytes in, HTTP [`Exchange`](crate::exchange::Exchange)s out.
//!
//! - [`reader`] — pcap and pcapng framing: bytes in, [`Frame`]s (borrowed) out.
//! - [`decode`] — link, IP and TCP headers: a [`Frame`] in, a [`decode::TcpSegment`] out.
//! - [`defrag`] — IPv4/IPv6 fragment reassembly (bounded; overlaps dropped), for [`decode`]'s
//!   fragments: the datagram is decoded again from its IP header.
//! - [`encap`] — the tunnels and tags between link and IP (VLAN, MPLS, PPPoE, GRE/ERSPAN,
//!   VXLAN, Geneve, IP-in-IP), for [`decode`].
//! - [`reassembly`] — TCP per connection: segments in, in-order byte streams with explicit
//!   gaps, half-closes and closes out, pushed to a [`reassembly::StreamHandler`].
//! - [`pipeline`] — the stage put together: a capture in, exchanges (from [`crate::http`])
//!   out in request order, with the run's counters.

pub mod decode;
pub mod defrag;
pub mod encap;
pub mod pipeline;
pub mod reader;
pub mod reassembly;

pub use reader::{CaptureError, CaptureReader, CaptureStats, Frame, linktype};
