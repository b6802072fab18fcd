//! HTTP-layer tests from readable stream fixtures (`tests/streams/*.t`), no pcap involved.
//!
//! Fixture format, after Suricata's htp tests:
//! - `>>>` starts a client→server chunk, `<<<` a server→client chunk; `>>> gap N` /
//!   `<<< gap N` lose N bytes of that direction; `>>> end` / `<<< end` is a FIN;
//!   `<<< ack N` sets the ACK the chunk carries (by default each chunk acknowledges
//!   everything the other side sent so far, gaps included).
//! - Chunk lines end with CRLF (with `!lf` at the top: LF); a line ending in `\` has no line
//!   ending; `\xNN` is a byte.
//! - `=== expect` then one line per exchange, in order:
//!   `METHOD URI STATUS FLAGS req=N resp=M [interim=100,...]`, `-` for absent values and
//!   `complete` for no flags.
//! - Optionally `=== warnings` then one line per warning that must be given, each a
//!   substring of some warning's `kind: detail`.

use std::path::Path;

use dupcall::capture::reassembly::{At, Chunk, CloseReason, ConnInfo, Dir, StreamHandler};
use dupcall::diag::Diagnostics;
use dupcall::exchange::{Exchange, Timestamp};
use dupcall::http::{HttpConfig, HttpHandler};

enum Step {
    Data(Dir, Vec<u8>, Option<u64>),
    Gap(Dir, u64),
    End(Dir),
}

fn unescape(line: &str) -> Vec<u8> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() + 1 {
            if let Ok(v) = u8::from_str_radix(&line[i + 2..i + 4], 16) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn parse_fixture(text: &str) -> (Vec<Step>, Vec<String>) {
    let (body, expect) = text.split_once("=== expect\n").expect("fixture has an === expect section");
    let eol: &[u8] = if body.lines().any(|l| l == "!lf") { b"\n" } else { b"\r\n" };
    let mut steps = Vec::new();
    let mut cur: Option<(Dir, Vec<u8>, Option<u64>)> = None;
    for line in body.lines() {
        let marker = line
            .strip_prefix(">>>")
            .map(|r| (Dir::ToServer, r))
            .or_else(|| line.strip_prefix("<<<").map(|r| (Dir::ToClient, r)));
        if let Some((dir, rest)) = marker {
            if let Some((d, data, ack)) = cur.take() {
                steps.push(Step::Data(d, data, ack));
            }
            let rest = rest.trim();
            if let Some(n) = rest.strip_prefix("gap ") {
                steps.push(Step::Gap(dir, n.parse().unwrap()));
            } else if rest == "end" {
                steps.push(Step::End(dir));
            } else if let Some(n) = rest.strip_prefix("ack ") {
                cur = Some((dir, Vec::new(), Some(n.parse().unwrap())));
            } else {
                cur = Some((dir, Vec::new(), None));
            }
            continue;
        }
        match &mut cur {
            Some((_, data, _)) => {
                if let Some(l) = line.strip_suffix('\\') {
                    data.extend(unescape(l));
                } else {
                    data.extend(unescape(line));
                    data.extend_from_slice(eol);
                }
            }
            None => assert!(line.starts_with('#') || line == "!lf" || line.is_empty(), "stray line {line:?}"),
        }
    }
    if let Some((d, data, ack)) = cur.take() {
        steps.push(Step::Data(d, data, ack));
    }
    (steps, expect.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect())
}

fn run(steps: &[Step]) -> (Vec<Exchange>, Diagnostics) {
    let info = ConnInfo {
        id: 1,
        client: "10.0.0.1:40000".parse().unwrap(),
        server: "10.0.0.2:80".parse().unwrap(),
        handshake: true,
    };
    let mut h = HttpHandler::new(HttpConfig::default(), 0);
    let mut diag = Diagnostics::default();
    let mut conn = h.open(&info);
    let mut sent = [0u64; 2];
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let at = At { ts: Timestamp(i as i64 * 1_000_000), frame: i as u64 + 1 };
        match step {
            Step::Data(dir, data, ack) => {
                let d = *dir as usize;
                let chunk = Chunk { data, offset: sent[d], ack: Some(ack.unwrap_or(sent[1 - d])), at };
                sent[d] += data.len() as u64;
                h.data(&mut conn, &info, *dir, chunk, &mut diag);
            }
            Step::Gap(dir, len) => {
                let d = *dir as usize;
                h.gap(&mut conn, &info, *dir, sent[d]..sent[d] + *len, at, &mut diag);
                sent[d] += len;
            }
            Step::End(dir) => h.end(&mut conn, &info, *dir, at, &mut diag),
        }
        h.orderer.drain(&mut |e| out.push(e));
    }
    let at = At { ts: Timestamp(steps.len() as i64 * 1_000_000), frame: steps.len() as u64 + 1 };
    h.close(conn, &info, CloseReason::EndOfInput, at, &mut diag);
    h.orderer.flush(&mut |e| out.push(e));
    (out, diag)
}

fn describe(e: &Exchange) -> String {
    let req = e.request.as_ref();
    let resp = e.response.as_ref();
    let flags = if e.flags.complete() { "complete".to_string() } else { e.flags.describe() };
    let mut s = format!(
        "{} {} {} {} req={} resp={}",
        req.map_or("-", |r| r.head.method()),
        req.map_or("-", |r| r.head.uri()),
        resp.map_or("-".to_string(), |r| r.head.status().to_string()),
        flags,
        req.map_or("-".to_string(), |r| r.body.len.to_string()),
        resp.map_or("-".to_string(), |r| r.body.len.to_string()),
    );
    if !e.interim.is_empty() {
        let codes: Vec<String> = e.interim.iter().map(u16::to_string).collect();
        s.push_str(&format!(" interim={}", codes.join(",")));
    }
    s
}

fn check(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let (text, want_warnings) = text.split_once("=== warnings\n").unwrap_or((&text, ""));
    let (steps, expect) = parse_fixture(text);
    let (got, diag) = run(&steps);
    let warnings: Vec<String> = diag.kept().iter().map(|w| format!("{}: {}", w.kind, w.detail)).collect();
    for want in want_warnings.lines().filter(|l| !l.trim().is_empty()) {
        if !warnings.iter().any(|w| w.contains(want)) {
            return Err(format!(
                "{}: no warning contains {want:?}\n--- warnings\n{}",
                path.display(),
                warnings.join("\n")
            ));
        }
    }
    let got: Vec<String> = got.iter().map(describe).collect();
    if got != expect {
        let warnings: Vec<String> = diag.kept().iter().map(|w| format!("{}: {}", w.kind, w.detail)).collect();
        return Err(format!(
            "{}\n--- expected\n{}\n--- got\n{}\n--- warnings\n{}",
            path.display(),
            expect.join("\n"),
            got.join("\n"),
            warnings.join("\n")
        ));
    }
    // Every split of the byte stream must give the same answer: replay with each data
    // chunk cut in two at every position of the first 64 bytes.
    for (i, step) in steps.iter().enumerate() {
        let Step::Data(dir, data, ack) = step else { continue };
        for cut in 1..data.len().min(64) {
            let mut split: Vec<Step> = Vec::new();
            for (j, s) in steps.iter().enumerate() {
                match s {
                    _ if j == i => {
                        split.push(Step::Data(*dir, data[..cut].to_vec(), *ack));
                        split.push(Step::Data(*dir, data[cut..].to_vec(), *ack));
                    }
                    Step::Data(d, b, a) => split.push(Step::Data(*d, b.clone(), *a)),
                    Step::Gap(d, n) => split.push(Step::Gap(*d, *n)),
                    Step::End(d) => split.push(Step::End(*d)),
                }
            }
            let (again, diag) = run(&split);
            let again: Vec<String> = again.iter().map(describe).collect();
            if again != expect {
                let warnings: Vec<String> =
                    diag.kept().iter().map(|w| format!("{}: {}", w.kind, w.detail)).collect();
                return Err(format!(
                    "{}: chunk {i} split at {cut} changes the result\n--- expected\n{}\n--- got\n{}\n--- warnings\n{}",
                    path.display(),
                    expect.join("\n"),
                    again.join("\n"),
                    warnings.join("\n")
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn stream_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/streams");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    if let Ok(only) = std::env::var("FIXTURE") {
        files.retain(|f| f.to_string_lossy().contains(&only));
        assert!(!files.is_empty(), "no fixture matches {only}");
    } else {
        assert!(files.len() >= 20, "fixtures missing in {}", dir.display());
    }
    let failures: Vec<String> = files.iter().filter_map(|f| check(f).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
