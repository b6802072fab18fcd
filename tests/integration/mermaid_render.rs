//! Renders every Mermaid block of the Markdown reports with the real Mermaid library.
//!
//! For every capture under `samples/` (and the hostile fixture of `tests/formula_injection.rs`'s
//! kind, built here with `dupcall_testkit::synth`), `dupcall analyze --format md` is run, each
//! ```` ```mermaid ```` block is written to a file and rendered with `mmdc` (mermaid-cli) to
//! SVG. A block Mermaid cannot parse fails the test with mmdc's message.
//!
//! mmdc is found via `$MMDC`, `.ci/node/node_modules/.bin/mmdc`, `node_modules/.bin/mmdc`
//! or `PATH`; `.ci/mermaid-setup.sh` installs it (with Debian's chromium). Without it the test
//! fails saying so, unless `DUPCALL_SKIP_MERMAID=1`.

use crate::common;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use dupcall::capture::linktype;
use dupcall::exchange::Timestamp;
use dupcall_testkit::synth::{Conversation, PcapWriter, frame};

const PUPPETEER_CONFIG: &str = r#"{"executablePath":"/usr/bin/chromium","args":["--no-sandbox","--disable-gpu","--disable-background-networking","--disable-component-update","--disable-sync","--no-first-run"]}"#;

fn find_mmdc() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MMDC").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for rel in [".ci/node/node_modules/.bin/mmdc", "node_modules/.bin/mmdc"] {
        let p = root.join(rel);
        if p.is_file() {
            return Some(p);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("mmdc")).find(|p| p.is_file())
}

/// The ```mermaid blocks of a Markdown document.
fn mermaid_blocks(md: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in md.lines() {
        match &mut current {
            None if line.trim_end() == "```mermaid" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
        }
    }
    assert!(current.is_none(), "unterminated mermaid block");
    blocks
}

/// A capture whose repeats carry every character Mermaid could choke on.
fn hostile_capture(path: &Path) {
    let mut w = PcapWriter::new(Vec::new(), linktype::ETHERNET, false).unwrap();
    let mut t = 1_800_000_000_000_000_000i64;
    let mut packets: Vec<(i64, Vec<u8>)> = Vec::new();
    let server: SocketAddr = "10.0.0.2:8080".parse().unwrap();
    for (i, target) in [
        "/api/%25%25{init}%25%25;x#y:z<b>\"q\"'&`|\\",
        "/=cmd|'/C%20calc'!A0",
        "/orders;end;loop",
        "/-->>S:%0Anote_over_C:x%%",
    ]
    .iter()
    .enumerate()
    {
        let mut c = Conversation::new(&format!("10.0.0.1:{}", 40000 + i), &server.to_string(), 100, 900);
        for p in c.handshake() {
            packets.push((t, p));
            t += 1_000_000;
        }
        // The same call twice: a genuine duplicate.
        for _ in 0..2 {
            let body = "a=1";
            let req = format!(
                "POST {target} HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            packets.push((t, c.send(true, req.as_bytes())));
            t += 2_000_000;
            let resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"success\":true}";
            packets.push((t, c.send(false, resp.as_bytes())));
            t += 50_000_000;
        }
        packets.push((t, c.fin(true)));
        packets.push((t, c.fin(false)));
    }
    for (ts, p) in packets {
        let f = frame(linktype::ETHERNET, &p, &[]);
        w.packet(Timestamp(ts), &f, f.len() as u32).unwrap();
    }
    std::fs::write(path, w.into_inner()).unwrap();
}

#[test]
fn every_mermaid_block_of_the_sample_reports_renders() {
    let Some(mmdc) = find_mmdc() else {
        if std::env::var("DUPCALL_SKIP_MERMAID").is_ok_and(|v| v == "1") {
            eprintln!("mmdc not found; skipped (DUPCALL_SKIP_MERMAID=1)");
            return;
        }
        panic!(
            "mmdc (mermaid-cli) not found: run `bash .ci/mermaid-setup.sh` (or set MMDC=/path/to/mmdc; \
             DUPCALL_SKIP_MERMAID=1 skips this test)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("puppeteer.json");
    std::fs::write(&config, PUPPETEER_CONFIG).unwrap();

    let mut inputs = common::sample_captures();
    assert!(!inputs.is_empty(), "no samples");
    let hostile = dir.path().join("hostile.pcap");
    hostile_capture(&hostile);
    inputs.push(hostile.to_string_lossy().into_owned());

    // Every block of every report, in one Markdown file: one browser start for all.
    let mut blocks: Vec<(String, String)> = Vec::new();
    for input in &inputs {
        let out = common::dupcall(&["analyze", input, "--format", "md", "--fingerprint-key", "k", "-q"]);
        assert!(out.status.success(), "{input}: {}", String::from_utf8_lossy(&out.stderr));
        let md = String::from_utf8(out.stdout).expect("UTF-8 report");
        let found = mermaid_blocks(&md);
        if input.ends_with("hostile.pcap") {
            assert_eq!(found.len(), 4, "{md}");
        }
        blocks.extend(found.into_iter().enumerate().map(|(i, b)| (format!("{input} block {}", i + 1), b)));
    }
    assert!(blocks.len() >= 10, "only {} blocks: the samples should have more repeats", blocks.len());
    let all: String = blocks.iter().map(|(_, b)| format!("```mermaid\n{b}```\n\n")).collect();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let run = |input: &Path, output: &Path| {
        Command::new(&mmdc)
            .arg("-p")
            .arg(&config)
            .arg("-i")
            .arg(input)
            .arg("-o")
            .arg(output)
            .arg("-q")
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {}: {e} (run `bash .ci/mermaid-setup.sh`)", mmdc.display())
            })
    };
    let all_md = dir.path().join("all.md");
    std::fs::write(&all_md, &all).unwrap();
    let batch = run(&all_md, &out_dir.join("all.md"));
    let svgs = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".svg")))
        .count();
    if batch.status.success() && svgs == blocks.len() {
        println!("{svgs} Mermaid blocks rendered");
        return;
    }
    // Something failed: render block by block to name it.
    let mut failures = Vec::new();
    for (i, (name, block)) in blocks.iter().enumerate() {
        let mmd = dir.path().join(format!("{i}.mmd"));
        let svg = dir.path().join(format!("{i}.svg"));
        std::fs::write(&mmd, block).unwrap();
        let r = run(&mmd, &svg);
        if !r.status.success() || !std::fs::metadata(&svg).is_ok_and(|m| m.len() > 0) {
            let err: Vec<_> =
                String::from_utf8_lossy(&r.stderr).lines().take(12).map(str::to_string).collect();
            failures.push(format!("{name}:\n{block}\n{}", err.join("\n")));
        }
    }
    assert!(
        !failures.is_empty(),
        "the batch failed ({svgs} of {} SVGs) but every block renders alone:\n{}",
        blocks.len(),
        String::from_utf8_lossy(&batch.stderr)
    );
    panic!("Mermaid could not render:\n{}", failures.join("\n\n"));
}

#[test]
fn block_extraction() {
    let md = "a\n```mermaid\nsequenceDiagram\n    A->>B: x\n```\n```\nnot\n```\n```mermaid\nx\n```\n";
    assert_eq!(mermaid_blocks(md), vec!["sequenceDiagram\n    A->>B: x\n".to_string(), "x\n".to_string()]);
}
