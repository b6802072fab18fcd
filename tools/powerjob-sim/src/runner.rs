//! The three ways to run things: a whole scenario (`run`), only its servers (`serve`), or only
//! its clients against given addresses (`client`). `run` starts and stops everything itself:
//! when it returns, every server thread and the tcpdump process are gone.

use crate::capture::Capture;
use crate::intent::{IntentLog, IntentRecord, to_jsonl};
use crate::scenarios::{self, Env};
use crate::server::{self, Db, ExecRecord, ServerConfig, ServerHandle};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long `run` waits for slow responses still in progress before it stops the servers.
const IDLE_WAIT: Duration = Duration::from_secs(8);
/// Pause between the last request and stopping tcpdump, so the last packets reach the file.
const CAPTURE_TAIL: Duration = Duration::from_millis(300);

/// Prints the scenario list.
pub fn list() {
    for s in scenarios::SCENARIOS {
        println!("{:<32} {}", s.name, s.story);
        println!("{:<32} expect: {}", "", s.expect);
    }
}

fn loopback(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
}

/// Runs scenario `name` end to end, writing `NAME.intent.jsonl`, `NAME.exec.jsonl` and, with
/// `capture`, `NAME.pcap` into `out`.
pub fn run(name: &str, out: &Path, capture: bool) -> Result<()> {
    let scenario = scenarios::find(name)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let db = Arc::new(Db::new(None));
    let mut servers: Vec<ServerHandle> = Vec::new();
    for cfg in (scenario.servers)() {
        let handle = server::start(cfg.clone(), loopback("127.0.0.1:0".parse()?), db.clone())
            .with_context(|| format!("cannot start server {}", cfg.name))?;
        servers.push(handle);
    }
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let ports: Vec<u16> = addrs.iter().map(SocketAddr::port).collect();
    let pcap = out.join(format!("{name}.pcap"));
    let cap = if capture { Some(Capture::start(&pcap, &ports)?) } else { None };
    let intent = Arc::new(IntentLog::new());
    let env = Env { servers: addrs.clone(), intent: intent.clone() };
    let outcome = (scenario.script)(&env);
    for s in &servers {
        if !s.wait_idle(IDLE_WAIT) {
            eprintln!("powerjob-sim: server {} still busy after {IDLE_WAIT:?}; stopping it", s.addr);
        }
    }
    let cap_summary = match cap {
        Some(c) => {
            std::thread::sleep(CAPTURE_TAIL);
            Some(c.stop()?)
        }
        None => None,
    };
    for s in &mut servers {
        s.stop();
    }
    let exec = db.exec_records();
    let records = intent.finalize(Some(&exec));
    let files = write_logs(out, name, &records, Some(&exec))?;
    println!(
        "scenario {name}: {} requests, {} executions, servers {}",
        records.len(),
        exec.len(),
        addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    for f in files {
        println!("  wrote {}", f.display());
    }
    if let Some(c) = cap_summary {
        println!("  wrote {} ({})", c.path.display(), c.packets.as_deref().unwrap_or("packet count unknown"));
    }
    print_table(&records);
    outcome.with_context(|| format!("scenario {name} did not run to the end"))
}

/// Runs only the client side of scenario `name` against `servers`.
pub fn client(name: &str, servers: Vec<SocketAddr>, out: &Path, exec_logs: &[PathBuf]) -> Result<()> {
    let scenario = scenarios::find(name)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let intent = Arc::new(IntentLog::new());
    let env = Env { servers, intent: intent.clone() };
    let outcome = (scenario.script)(&env);
    let exec = if exec_logs.is_empty() {
        None
    } else {
        // Give a server still finishing a slow request a moment to log it.
        std::thread::sleep(Duration::from_millis(300));
        let mut all = Vec::new();
        for p in exec_logs {
            all.extend(read_exec_log(p)?);
        }
        all.sort_by_key(|r: &ExecRecord| r.time_us);
        Some(all)
    };
    let records = intent.finalize(exec.as_deref());
    let files = write_logs(out, name, &records, None)?;
    for f in files {
        println!("wrote {}", f.display());
    }
    print_table(&records);
    outcome.with_context(|| format!("client side of {name} did not run to the end"))
}

fn read_exec_log(path: &Path) -> Result<Vec<ExecRecord>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read execution log {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not an execution record", path.display(), i + 1))
        })
        .collect()
}

/// Runs one server until the process is killed.
pub fn serve(cfg: ServerConfig, listen: SocketAddr, exec_log: Option<&Path>) -> Result<()> {
    if !listen.ip().is_loopback() {
        bail!("refusing to listen on {listen}: the simulator serves on loopback addresses only");
    }
    let file = match exec_log {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("cannot open execution log {}", p.display()))?,
        ),
        None => None,
    };
    let handle = server::start(cfg.clone(), listen, Arc::new(Db::new(file)))
        .with_context(|| format!("cannot listen on {listen}"))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{}", handle.addr)?;
    stdout.flush()?;
    eprintln!(
        "powerjob-sim: {} ({:?}, auth {}, token ttl {} ms{}) listening on {}; stop with Ctrl-C",
        cfg.name,
        cfg.mode,
        if cfg.auth { "on" } else { "off" },
        cfg.token_ttl_ms,
        if cfg.lowercase_header { ", lowercased headers" } else { "" },
        handle.addr
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn write_logs(
    out: &Path,
    name: &str,
    records: &[IntentRecord],
    exec: Option<&[ExecRecord]>,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let intent_path = out.join(format!("{name}.intent.jsonl"));
    std::fs::write(&intent_path, to_jsonl(records)?)
        .with_context(|| format!("cannot write {}", intent_path.display()))?;
    written.push(intent_path);
    if let Some(exec) = exec {
        let exec_path = out.join(format!("{name}.exec.jsonl"));
        std::fs::write(&exec_path, to_jsonl(exec)?)
            .with_context(|| format!("cannot write {}", exec_path.display()))?;
        written.push(exec_path);
    }
    Ok(written)
}

fn print_table(records: &[IntentRecord]) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        println!(
            "  #{:<3} {:<24} {:<28} {:<8} {:<15} {:<20} repeat_of={:<4} double={}",
            r.seq,
            r.client,
            r.path,
            r.status.map_or("-".into(), |s| s.to_string()),
            r.outcome.unwrap_or("-"),
            r.expect_label.unwrap_or("(read)"),
            r.expect_repeat_of.map_or("-".into(), |s| s.to_string()),
            r.expect_double_execution.unwrap_or("-"),
        );
        *counts.entry(r.expect_label.unwrap_or("read")).or_default() += 1;
    }
    let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("  labels: {}", summary.join(", "));
}
