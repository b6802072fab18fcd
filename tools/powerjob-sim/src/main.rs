//! `powerjob-sim`: produces real HTTP traffic over loopback TCP between simulated PowerJob
//! OpenAPI (and OAuth2 bearer) servers and clients that behave like the real ones, and writes
//! the expected answer next to it.
//!
//! ```text
//! powerjob-sim list
//! powerjob-sim run v5-510-auth-off --out DIR [--capture]
//! powerjob-sim serve --mode v5.1.0 --auth off --listen 127.0.0.1:7700 --exec-log FILE
//! powerjob-sim client v5-510-auth-off --server 127.0.0.1:7700 --out DIR --exec-log FILE
//! ```
//!
//! `run` writes `DIR/NAME.intent.jsonl` (one record per request the clients sent, with the
//! label dupcall should find), `DIR/NAME.exec.jsonl` (every time a server's mutation controller
//! really ran) and, with `--capture`, `DIR/NAME.pcap` recorded by tcpdump on `lo`.
//! The intent log is written by the clients and servers themselves, never derived from a
//! capture, so it can be used to check dupcall's analysis of that capture.

mod capture;
mod client;
mod http;
mod intent;
mod jwt;
mod md5;
mod oauth2_client;
mod powerjob_client;
mod runner;
mod scenarios;
mod server;

use clap::{Parser, Subcommand, ValueEnum};
use server::{Mode, ServerConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "powerjob-sim",
    version,
    about = "Simulates PowerJob OpenAPI / OAuth2 clients and servers on loopback, with the \
             expected dupcall labels"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List the scenarios with their story and expected labels.
    List,
    /// Run a scenario: servers and clients on 127.0.0.1, logs (and a capture) in --out.
    Run {
        /// Scenario name (see `list`).
        name: String,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Record the scenario's traffic with tcpdump into OUT/NAME.pcap.
        #[arg(long)]
        capture: bool,
    },
    /// Run one simulated server until killed; prints the bound address on the first line.
    Serve {
        /// Take the server configuration from this scenario instead of the flags below.
        #[arg(long, conflicts_with_all = ["mode", "auth", "token_ttl_ms", "lowercase_header", "slow", "fail"])]
        scenario: Option<String>,
        /// Which of the scenario's servers (0-based).
        #[arg(long, default_value_t = 0, requires = "scenario")]
        index: usize,
        /// Server behaviour: v5.1.0, fixed (5.1.0-bugfix/5.1.1), v4 or oauth2.
        #[arg(long, default_value = "fixed")]
        mode: Mode,
        /// oms.auth.openapi.enable.
        #[arg(long, value_enum, default_value_t = OnOff::Off)]
        auth: OnOff,
        /// Token lifetime in milliseconds (default 7 days).
        #[arg(long)]
        token_ttl_ms: Option<u64>,
        /// Lowercase response header names, like a proxy (PowerJob #1062).
        #[arg(long)]
        lowercase_header: bool,
        /// Delay responses on a path: PATH=MS (repeatable).
        #[arg(long, value_name = "PATH=MS")]
        slow: Vec<String>,
        /// Fail the Nth call of a path: PATH=N, PATH=N:STATUS or PATH=N:STATUS:after ("after": the controller ran).
        #[arg(long, value_name = "PATH=N[:STATUS[:after]]")]
        fail: Vec<String>,
        /// Address to listen on (loopback only).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Append every execution to this JSONL file.
        #[arg(long)]
        exec_log: Option<PathBuf>,
        /// Server name in the execution log.
        #[arg(long, default_value = "powerjob-server")]
        name: String,
    },
    /// Run only the client side of a scenario against the given server addresses.
    Client {
        /// Scenario name.
        scenario: String,
        /// Server addresses, comma-separated, in the scenario's order.
        #[arg(long, value_delimiter = ',', required = true)]
        server: Vec<SocketAddr>,
        /// Output directory for NAME.intent.jsonl.
        #[arg(long)]
        out: PathBuf,
        /// Servers' execution logs, to fill in expect_double_execution (repeatable).
        #[arg(long)]
        exec_log: Vec<PathBuf>,
    },
}

fn parse_slow(spec: &str) -> anyhow::Result<(String, u64)> {
    let (path, ms) =
        spec.split_once('=').ok_or_else(|| anyhow::anyhow!("--slow {spec:?}: expected PATH=MS"))?;
    let ms = ms.parse().map_err(|_| anyhow::anyhow!("--slow {spec:?}: {ms:?} is not a number of ms"))?;
    Ok((path.to_string(), ms))
}

fn parse_fail(spec: &str) -> anyhow::Result<server::Fault> {
    let bad = || anyhow::anyhow!("--fail {spec:?}: expected PATH=N[:STATUS[:after]]");
    let (path, rest) = spec.split_once('=').ok_or_else(bad)?;
    let mut parts = rest.split(':');
    let nth = parts.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
    let status = match parts.next() {
        None => 500,
        Some(s) => s.parse().ok().filter(|s| (100..600).contains(s)).ok_or_else(bad)?,
    };
    let after_exec = match parts.next() {
        None => false,
        Some("after") => true,
        Some(_) => return Err(bad()),
    };
    Ok(server::Fault { path: path.to_string(), nth, status, after_exec })
}

fn main_inner(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::List => {
            runner::list();
            Ok(())
        }
        Cmd::Run { name, out, capture } => runner::run(&name, &out, capture),
        Cmd::Client { scenario, server, out, exec_log } => runner::client(&scenario, server, &out, &exec_log),
        Cmd::Serve {
            scenario,
            index,
            mode,
            auth,
            token_ttl_ms,
            lowercase_header,
            slow,
            fail,
            listen,
            exec_log,
            name,
        } => {
            let cfg = match scenario {
                Some(s) => {
                    let sc = scenarios::find(&s)?;
                    let all = (sc.servers)();
                    let n = all.len();
                    all.into_iter().nth(index).ok_or_else(|| {
                        anyhow::anyhow!("scenario {s} has {n} server(s); --index {index} is out of range")
                    })?
                }
                None => {
                    let mut cfg = ServerConfig::new(&name, mode).auth(matches!(auth, OnOff::On));
                    if mode == Mode::OAuth2 {
                        cfg.auth = true;
                    }
                    if let Some(ms) = token_ttl_ms {
                        cfg = cfg.ttl_ms(ms);
                    }
                    if lowercase_header {
                        cfg = cfg.lowercase();
                    }
                    for s in &slow {
                        let (path, ms) = parse_slow(s)?;
                        cfg = cfg.slow(&path, ms);
                    }
                    for f in &fail {
                        cfg.faults.push(parse_fail(f)?);
                    }
                    cfg
                }
            };
            runner::serve(cfg, listen, exec_log.as_deref())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match main_inner(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("powerjob-sim: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
