//! Packet capture with `tcpdump` on the loopback interface, limited to a scenario's ports.
//!
//! [`Capture::start`] runs `tcpdump -i lo -U -s 0 --immediate-mode -w FILE 'tcp and (port A or
//! port B)'` and
//! returns only once tcpdump reports `listening on`, so no packet of the scenario is missed.
//! [`Capture::stop`] sends SIGINT to that one process (by PID) and waits for it; dropping a
//! capture that was not stopped does the same, so an aborted scenario leaves nothing running.

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long tcpdump may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long tcpdump may take to exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running tcpdump.
#[derive(Debug)]
pub struct Capture {
    child: Option<Child>,
    path: PathBuf,
    stderr: Option<JoinHandle<Vec<String>>>,
}

/// What tcpdump said when it stopped.
#[derive(Debug)]
pub struct CaptureSummary {
    /// The pcap file.
    pub path: PathBuf,
    /// tcpdump's "N packets captured" line, if it printed one.
    pub packets: Option<String>,
}

fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The BPF filter for exactly these TCP ports.
pub fn port_filter(ports: &[u16]) -> String {
    let alts: Vec<String> = ports.iter().map(|p| format!("port {p}")).collect();
    format!("tcp and ({})", alts.join(" or "))
}

impl Capture {
    /// Starts tcpdump writing `path`, capturing TCP traffic on `ports` of `lo`.
    pub fn start(path: &Path, ports: &[u16]) -> Result<Capture> {
        if ports.is_empty() {
            bail!("nothing to capture: the scenario has no server ports");
        }
        let mut cmd = Command::new("tcpdump");
        // --immediate-mode: without it libpcap's TPACKET_V3 ring hands packets over only when
        // a block fills or its 1 s timeout passes, and SIGINT would lose the last second.
        cmd.args(["-i", "lo", "-U", "-s", "0", "-n", "--immediate-mode"]);
        if effective_uid_is_root() {
            // Keep the output file owned by the caller instead of tcpdump's unprivileged user.
            cmd.args(["-Z", "root"]);
        }
        cmd.arg("-w")
            .arg(path)
            .arg(port_filter(ports))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "--capture needs tcpdump, which is not on PATH (install it, e.g. `apt-get \
                 install tcpdump`, or run without --capture)"
            ),
            Err(e) => return Err(e).context("cannot start tcpdump"),
        };
        let stderr = child.stderr.take().context("tcpdump's stderr is not available")?;
        let (tx, rx) = mpsc::channel::<String>();
        let reader = thread::Builder::new()
            .name("tcpdump-stderr".into())
            .spawn(move || {
                let mut lines = Vec::new();
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let _ = tx.send(line.clone());
                    lines.push(line);
                }
                lines
            })
            .context("cannot start a thread to read tcpdump's stderr")?;
        let mut cap = Capture { child: Some(child), path: path.to_path_buf(), stderr: Some(reader) };
        let end = Instant::now() + START_TIMEOUT;
        let mut said = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    let listening = line.contains("listening on");
                    said.push(line);
                    if listening {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = cap.child.as_mut().and_then(|c| c.wait().ok());
                    cap.child = None;
                    bail!(
                        "tcpdump exited before it started listening ({}): {}",
                        status.map_or("unknown status".into(), |s| s.to_string()),
                        said.join(" / ")
                    );
                }
            }
            if Instant::now() >= end {
                let _ = cap.stop_inner();
                bail!("tcpdump did not start listening within {START_TIMEOUT:?}: {}", said.join(" / "));
            }
        }
        // The handle is active once tcpdump says so; leave the kernel a moment anyway.
        thread::sleep(Duration::from_millis(100));
        Ok(cap)
    }

    /// Stops tcpdump with SIGINT and waits for it; fails if it did not write a capture.
    pub fn stop(mut self) -> Result<CaptureSummary> {
        let lines = self.stop_inner()?;
        let packets = lines.iter().find(|l| l.contains("packets captured")).cloned();
        let len = std::fs::metadata(&self.path)
            .with_context(|| format!("tcpdump wrote no file at {}", self.path.display()))?
            .len();
        if len < 24 {
            bail!(
                "tcpdump wrote a {len}-byte file at {} (no pcap header): {}",
                self.path.display(),
                lines.join(" / ")
            );
        }
        Ok(CaptureSummary { path: self.path.clone(), packets })
    }

    fn stop_inner(&mut self) -> Result<Vec<String>> {
        let Some(mut child) = self.child.take() else {
            return Ok(self.join_stderr());
        };
        let pid = child.id().to_string();
        let signalled = Command::new("kill")
            .args(["-INT", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let end = Instant::now() + STOP_TIMEOUT;
        let mut status = None;
        while signalled && Instant::now() < end {
            match child.try_wait() {
                Ok(Some(s)) => {
                    status = Some(s);
                    break;
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        if status.is_none() {
            // SIGINT failed or was ignored: make sure the process does not outlive us.
            let _ = child.kill();
            let _ = child.wait();
            let lines = self.join_stderr();
            bail!("tcpdump (pid {pid}) did not stop on SIGINT; killed it: {}", lines.join(" / "));
        }
        Ok(self.join_stderr())
    }

    fn join_stderr(&mut self) -> Vec<String> {
        self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
