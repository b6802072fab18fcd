//! The integration tests, one binary (the crate is linked once, not once per file).
//! Each module is one area; shared helpers are in `common`.
//!
//! Run one area with `cargo test --test integration MODULE::`, for example
//! `cargo test --test integration corpus::`. (Each comment stands above its module:
//! rustfmt sorts the declarations.)

// Helpers: running the binary, reading CSV rows, comparing with intent logs.
mod common;

// --- Captures and reassembly ---
// Synthetic captures end to end (PacketBuilder).
mod captures;
// Every public corpus capture against tshark's reading.
mod corpus;
// HTTP-layer fixtures (tests/streams/*.t), no pcap.
mod http_streams;
// Bugs found by the fault matrix and the fuzzers.
mod regressions;
// Connection facts per exchange (who closed, when, FIN or RST) on crafted captures.
mod wire_facts;
// HTTPS from a real nginx decrypted with key logs, against tshark.
mod tls;
// Captures inside VXLAN/GRE; undecoded encapsulations warned once per class.
mod tunnels;
// HTTP/2 h2c between nginx, nghttp and curl against tshark's reading.
mod h2_live;

// --- Robustness ---
// One clear sentence per unreadable input.
mod errors;
// Every sample rewritten with one fault at a time.
mod fault_matrix;
// The hostile-input resource limits, scaled down.
mod limits;

// Accuracy on HTTP client libraries we did not write (tests/clients/, docs/accuracy.md).
mod clients;
// --- Diagnosis on real traffic ---
// Fresh simulator traffic recorded with tcpdump.
mod live_traffic;
// The bundled samples, row by row.
mod samples;
// Connection facts on real loopback traffic (curl timeout, urllib3 re-send).
mod wire_live;

// --- Access logs ---
// A real Apache httpd in front of the simulator.
mod apache_logs;
// A real Caddy in front of the simulator, JSON logs.
mod caddy_logs;
// A real HAProxy in front of the simulator, raw and syslog-framed.
mod haproxy_logs;
// The bundled nginx log samples.
mod log_samples;
// A real nginx in front of the simulator.
mod nginx_logs;
// Harness shared by the real-proxy log tests.
mod proxy_logs;

// --- HAR files and exchange records ---
// Real producers: mitmproxy's hardump, chromium through Playwright.
mod har;
// dupcall-exchange/1 records out and back in: the same rows.
mod records;

// --- Reports and secrets ---
// No CSV cell starts a formula.
mod formula_injection;
// No secret in any output.
mod leaks;
// Every diagram rendered by the real Mermaid library.
mod mermaid_render;
// CSV/JSON/Markdown snapshots.
mod report_formats;

// --- The terminal and the package ---
// The table a terminal gets, and pipes still getting the CSV.
mod terminal_view;
// --version, man pages, completions, the .deb's contents.
mod packaging;
