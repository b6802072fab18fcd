//! Reassembly and parsing checked against a peer: `dupcall exchanges` on every capture of
//! the public corpus (`tests/corpus/`, from Zeek, Suricata-verify and PcapPlusPlus) compared
//! with tshark's reading of the same file (`*.tshark.tsv`, see `tests/corpus/README.md`).
//!
//! Requests are compared as (client port, server port, method, uri), responses as
//! (server port, client port, status), as multisets. Every message tshark finds must be
//! found. Where dupcall finds more, the difference must be listed in [`EXTRAS`] with the
//! reason, so the table in `docs/reassembly.md` cannot drift from the code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Messages dupcall reports and tshark does not, file by file, with why.
const EXTRAS: &[(&str, &str, &str)] = &[
    (
        "ppp-raw_ip",
        "resp 80>35997 200",
        "the response lost a segment; tshark waits for the missing bytes and never shows it, dupcall reports it with complete=no",
    ),
    (
        "ppp-unidirectional_tcp_stream_with_missing_packet",
        "req 61541>80 POST /GetSearchMultipleSuggestions.ashx",
        "the first of two POSTs lost a body segment; tshark drops it, dupcall reports it with complete=no",
    ),
    (
        "sv-http-gap-simple",
        "resp 8080>51297 200",
        "a response hit by a gap in its body; dupcall keeps the framing (Content-Length) and reports it incomplete",
    ),
    (
        "sv-http-pipeline-files-with-gap",
        "resp 80>51001 200",
        "two responses after the gap; dupcall resynchronises on the status lines, tshark stops",
    ),
    (
        "sv-tcp-rst-unacked-stream-10",
        "resp 80>49309 200",
        "a response with snaplen-cut and lost segments, ended by RST; dupcall reports its head with complete=no",
    ),
    (
        "zeek-http-bro.org",
        "resp 80>55081 200",
        "a response with a lost segment in its body, reported with complete=no",
    ),
];

/// Interim (1xx) responses: tshark lists them as responses; dupcall records them on the
/// exchange they belong to (`Exchange::interim`), not as rows of their own.
const INTERIM_NOTE: &str = "1xx responses are interim responses of their exchange";

type Bag = BTreeMap<String, i64>;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn tshark_messages(tsv: &Path) -> (Bag, Bag) {
    let text = std::fs::read_to_string(tsv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (sp, dp, m, u, c) = (
        col("tcp.srcport"),
        col("tcp.dstport"),
        col("http.request.method"),
        col("http.request.uri"),
        col("http.response.code"),
    );
    let (mut reqs, mut resps) = (Bag::new(), Bag::new());
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let methods: Vec<&str> = f[m].split(',').filter(|s| !s.is_empty()).collect();
        // A URI may itself contain commas: only split when the counts agree.
        let uris: Vec<&str> = if methods.len() <= 1 { vec![f[u]] } else { f[u].split(',').collect() };
        for (i, method) in methods.iter().enumerate() {
            let uri = uris.get(i).copied().unwrap_or("");
            *reqs.entry(format!("req {}>{} {method} {uri}", f[sp], f[dp])).or_default() += 1;
        }
        for code in f[c].split(',').filter(|s| !s.is_empty()) {
            *resps.entry(format!("resp {}>{} {code}", f[sp], f[dp])).or_default() += 1;
        }
    }
    (reqs, resps)
}

fn dupcall_messages(pcap: &Path) -> (Bag, Bag) {
    let out = Command::new(env!("CARGO_BIN_EXE_dupcall"))
        .args(["exchanges", "--fingerprint-key", "test"])
        .arg(pcap)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}: {}", pcap.display(), String::from_utf8_lossy(&out.stderr));
    let mut rdr = csv::Reader::from_reader(&out.stdout[..]);
    let headers = rdr.headers().unwrap().clone();
    let idx = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let (ci, si, mi, ui, st) = (idx("client"), idx("server"), idx("method"), idx("uri"), idx("status"));
    let port = |a: &str| a.rsplit(':').next().unwrap().to_string();
    let (mut reqs, mut resps) = (Bag::new(), Bag::new());
    for row in rdr.records() {
        let r = row.unwrap();
        let (cp, sp) = (port(&r[ci]), port(&r[si]));
        if !r[mi].is_empty() {
            *reqs.entry(format!("req {cp}>{sp} {} {}", &r[mi], &r[ui])).or_default() += 1;
        }
        if !r[st].is_empty() {
            *resps.entry(format!("resp {sp}>{cp} {}", &r[st])).or_default() += 1;
        }
    }
    (reqs, resps)
}

/// Interim responses per (server port, client port, code), from the library.
fn interim_messages(pcap: &Path) -> Bag {
    let opened = dupcall::input::open(pcap.to_str().unwrap()).unwrap();
    let mut bag = Bag::new();
    let mut diag = dupcall::diag::Diagnostics::default();
    let opts = dupcall::capture::pipeline::Options::default();
    dupcall::capture::pipeline::capture_exchanges(opened.reader, 0, &opts, &mut diag, &mut |e| {
        for code in &e.interim {
            *bag.entry(format!("resp {}>{} {code}", e.server.port(), e.client.port())).or_default() += 1;
        }
    })
    .unwrap();
    bag
}

/// `a - b`, keeping positive counts.
fn minus(a: &Bag, b: &Bag) -> Bag {
    let mut d = Bag::new();
    for (k, v) in a {
        let n = v - b.get(k).copied().unwrap_or(0);
        if n > 0 {
            d.insert(k.clone(), n);
        }
    }
    d
}

#[test]
fn every_message_tshark_finds_is_found() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 39, "the corpus has 39 captures");
    let mut problems = Vec::new();
    let mut table = vec!["| capture | tshark req/resp | dupcall req/resp | interim | extra |".to_string()];
    let mut used_extras = 0;
    for pcap in &files {
        let name = pcap.file_stem().unwrap().to_str().unwrap();
        let (treq, tresp) = tshark_messages(&corpus().join(format!("{name}.tshark.tsv")));
        let (dreq, mut dresp) = dupcall_messages(pcap);
        let interim = interim_messages(pcap);
        let interim_n: i64 = interim.values().sum();
        for (k, v) in &interim {
            *dresp.entry(k.clone()).or_default() += v;
        }
        for (k, n) in minus(&treq, &dreq).into_iter().chain(minus(&tresp, &dresp)) {
            problems.push(format!("{name}: tshark has {n} × `{k}` that dupcall does not"));
        }
        let mut extras = 0;
        for (k, n) in minus(&dreq, &treq).into_iter().chain(minus(&dresp, &tresp)) {
            extras += n;
            if EXTRAS.iter().any(|(f, key, _)| *f == name && *key == k) {
                used_extras += 1;
            } else {
                problems.push(format!(
                    "{name}: dupcall has {n} × `{k}` that tshark does not, and EXTRAS does not explain it"
                ));
            }
        }
        table.push(format!(
            "| {name} | {}/{} | {}/{} | {interim_n} | {extras} |",
            treq.values().sum::<i64>(),
            tresp.values().sum::<i64>(),
            dreq.values().sum::<i64>(),
            dresp.values().sum::<i64>() - interim_n,
        ));
    }
    println!("{}\n\n({INTERIM_NOTE})", table.join("\n"));
    assert_eq!(used_extras, EXTRAS.len(), "every EXTRAS entry must still be observed (stale entry?)");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
