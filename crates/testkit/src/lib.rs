//! Test and benchmark tooling for dupcall, kept out of the shipped library: synthetic
//! pcap/pcapng writers ([`synth`]) for the integration tests and the fault matrix, and a
//! deterministic generator of large captures ([`generate`]) for the benchmarks
//! (`cargo run --release -p dupcall-testkit -- --size 1G -o FILE`).
//!
//! Takes dupcall's own types (timestamps, TCP flags, link types) so a test builds packets
//! with the same vocabulary it reads them back with; gives bytes. The only user of
//! pcap-parser's `serialize` feature, which the production build therefore does not enable.

pub mod generate;
pub mod synth;
