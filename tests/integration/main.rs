//! The integration tests, one binary (the crate is linked once, not once per file).
//! Each module is one area; shared helpers are in `common`.
//!
//! Run one area with `cargo test --test integration MODULE::`, for example
//! `cargo test --test integration corpus::`.

// Helpers: running the binary, reading CSV rows, comparing with intent logs.
mod common;

// Captures and reassembly.
mod captures; // synthetic captures end to end (PacketBuilder)
mod corpus; // every public corpus capture against tshark's reading
mod h2_live; // HTTP/2 h2c between nginx, nghttp and curl against tshark's reading
mod http_streams; // HTTP-layer fixtures (tests/streams/*.t), no pcap
mod regressions; // bugs found by the fault matrix and the fuzzers

// Robustness.
mod errors; // one clear sentence per unreadable input
mod fault_matrix; // every sample rewritten with one fault at a time
mod limits; // the hostile-input resource limits, scaled down

// Diagnosis on real traffic.
mod live_traffic; // fresh simulator traffic recorded with tcpdump
mod samples; // the bundled samples, row by row
mod sim_smoke; // the traffic simulator itself

// Access logs.
mod log_samples; // the bundled nginx log samples
mod nginx_logs; // a real nginx in front of the simulator

// Reports and secrets.
mod formula_injection; // no CSV cell starts a formula
mod leaks; // no secret in any output
mod mermaid_render; // every diagram rendered by the real Mermaid library
mod report_formats; // CSV/JSON/Markdown snapshots
