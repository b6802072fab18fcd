//! The bundled access-log samples (samples/logs/, real logs recorded through nginx from the
//! simulator, see samples/logs/README.md): every label must match what the clients meant
//! (their intent log) or show the deviation stated here for that format, and the report
//! must equal the committed expected report. Also: formats are detected, and several log
//! files (two servers behind a load balancer, rotated `.gz` files) merge by time into the
//! same report as one file.

use crate::common;
use std::io::Write;
use std::path::Path;

use crate::common::{Lenience, Row};
use dupcall::accesslog::LogFormat;

/// The rich nginx `log_format` the `nginx-rich-*` samples were written with.
const RICH: &str = include_str!("../../samples/logs/nginx-rich.conf");
/// The Tomcat 9 / Spring Boot 2 pattern of the `tomcat-*` sample (`%D` in milliseconds).
const TOMCAT: &str = r#"tomcat9:%h %l %u %t "%r" %s %b %D"#;

/// A sample: its name, its `--log-format` (None: detected), the format detection must find
/// (None: not checked), and the rows that differ from the intent: (intent seq, label,
/// repeat_of as intent seq, double_execution, why).
type Deviation = (i64, &'static str, Option<i64>, &'static str, &'static str);
struct Sample {
    name: &'static str,
    format: Option<&'static str>,
    detected: Option<&'static str>,
    deviations: &'static [Deviation],
}

const SAMPLES: &[Sample] = &[
    Sample {
        name: "nginx-combined-v5-510-auth-off",
        format: None,
        detected: Some("combined"),
        deviations: &[],
    },
    Sample {
        name: "nginx-combined-v5-expired-token",
        format: None,
        detected: Some("combined"),
        deviations: &[],
    },
    Sample {
        name: "nginx-rich-v5-510-auth-off",
        format: Some(RICH),
        detected: Some("inferred"),
        deviations: &[],
    },
    Sample {
        name: "nginx-rich-v5-timeout-failover",
        format: Some(RICH),
        detected: Some("inferred"),
        deviations: &[],
    },
    Sample { name: "nginx-json-v5-two-apps", format: None, detected: Some("nginx-json"), deviations: &[] },
    Sample {
        name: "tomcat-v5-510-auth-off",
        format: Some(TOMCAT),
        detected: Some("tomcat-common-ms"),
        deviations: &[],
    },
];

fn path(name: &str, ext: &str) -> String {
    format!("samples/logs/{name}.{ext}")
}

/// `dupcall analyze INPUTS… [--log-format F] --fingerprint-key sample -q` from the repo root.
fn analyze(inputs: &[&str], format: Option<&str>) -> (Vec<Row>, String) {
    let mut args = vec!["analyze"];
    args.extend_from_slice(inputs);
    if let Some(f) = format {
        args.extend(["--log-format", f]);
    }
    args.extend(["--fingerprint-key", "sample", "-q"]);
    let out = common::dupcall(&args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    (common::rows(text.as_bytes()), text)
}

#[test]
fn every_label_matches_the_intent_or_a_stated_limit() {
    assert!(SAMPLES.len() >= 5);
    let mut failures = Vec::new();
    for s in SAMPLES {
        let (rows, _) = analyze(&[&path(s.name, "log")], s.format);
        let intent = common::read(&path(s.name, "intent.jsonl"));
        let checks = common::check_rows(&rows, &intent, Lenience { unknown_when_inferred: true });
        if rows.len() != checks.len() {
            failures.push(format!("{}: {} rows for {} intended calls", s.name, rows.len(), checks.len()));
        }
        let (mut right, mut lenient) = (0, 0);
        for c in &checks {
            match s.deviations.iter().find(|d| d.0 == c.seq) {
                Some(&(_, label, repeat, double, why)) => {
                    if c.ok || c.got != (label.to_string(), repeat, double.to_string()) {
                        failures.push(format!(
                            "{}: stated deviation ({why}) not shown: {}",
                            s.name,
                            c.describe()
                        ));
                    }
                }
                None if c.ok => {
                    right += 1;
                    lenient += usize::from(c.lenient.is_some());
                }
                None => failures.push(format!("{}: {}", s.name, c.describe())),
            }
        }
        println!(
            "{:<34} {right}/{} rows as the clients meant ({lenient} with double_execution=unknown accepted), {} stated deviations",
            s.name,
            checks.len(),
            s.deviations.len()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reports_equal_the_expected_reports() {
    for s in SAMPLES {
        let (_, got) = analyze(&[&path(s.name, "log")], s.format);
        let expected = common::read(&path(s.name, "expected.csv"));
        assert!(
            got == expected,
            "{}: report differs from {} (scripts/log-samples-expected.sh rewrites it)\n--- expected\n{expected}\n--- got\n{got}",
            s.name,
            path(s.name, "expected.csv")
        );
    }
}

/// The first lines of every sample are recognised; where the sample needs no
/// `--log-format`, detection is what the other tests use; the rich nginx format is
/// inferred from the lines and gives the report its `log_format` gives. The Tomcat sample gives the same
/// report detected (`%D` unit guessed from the values) as with its pattern.
#[test]
fn sample_formats_are_detected() {
    for s in SAMPLES {
        let text = common::read(&path(s.name, "log"));
        let lines: Vec<&str> = text.lines().take(20).collect();
        let got = LogFormat::detect(&lines).map(|(_, n)| n);
        assert_eq!(got, s.detected, "{}", s.name);
        // An inferred custom format reads the log as its own log_format does.
        if let (Some("inferred"), Some(f)) = (got, s.format) {
            let p = path(s.name, "log");
            assert_eq!(analyze(&[&p], None).1, analyze(&[&p], Some(f)).1, "{}", s.name);
        }
    }
    let tomcat = path("tomcat-v5-510-auth-off", "log");
    assert_eq!(analyze(&[&tomcat], None).1, analyze(&[&tomcat], Some(TOMCAT)).1);
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

/// A report keyed by the original log line of each row: its label, outcome,
/// double_execution, confidence, and the original line of the row it repeats. Row ids may
/// differ between a single log and a split one (requests that start in the same millisecond
/// in two files are ordered by input); what each request is labelled may not.
/// `orig(file, line)` maps a row's source back to the line of the single log.
fn by_line(rows: &[Row], orig: impl Fn(&str, u64) -> u64) -> std::collections::BTreeMap<u64, Vec<String>> {
    let line_of = |r: &Row| {
        let src = &r["source"];
        let (file, line) = src.rsplit_once(":line=").expect("source names a line");
        orig(file, line.parse().unwrap())
    };
    let by_id: std::collections::HashMap<&str, u64> =
        rows.iter().map(|r| (r["id"].as_str(), line_of(r))).collect();
    rows.iter()
        .map(|r| {
            let repeat = by_id.get(r["repeat_of"].as_str()).map_or(String::new(), |l| l.to_string());
            let refresh = by_id.get(r["refresh_id"].as_str()).map_or(String::new(), |l| l.to_string());
            let keep = ["label", "outcome", "double_execution", "confidence", "caller", "status"];
            let mut v: Vec<String> = keep.iter().map(|k| r[*k].clone()).collect();
            v.extend([repeat, refresh]);
            (line_of(r), v)
        })
        .collect()
}

/// Two servers behind a load balancer: a sample's lines dealt round-robin into two logs,
/// one of them gzipped, give every request the label it has in the single log. Done for
/// the samples with millisecond times (rich, JSON); a `combined` log split this way loses
/// the order of requests within a second (docs/access-logs.md).
#[test]
fn two_servers_behind_a_load_balancer_merge_by_time() {
    let dir = tempfile::tempdir().unwrap();
    for s in SAMPLES.iter().filter(|s| s.name.starts_with("nginx-rich") || s.name.starts_with("nginx-json")) {
        let log = path(s.name, "log");
        let text = common::read(&log);
        let (mut a, mut b) = (String::new(), String::new());
        for (n, line) in text.lines().enumerate() {
            let half = if n % 2 == 0 { &mut a } else { &mut b };
            half.push_str(line);
            half.push('\n');
        }
        let (pa, pb) =
            (dir.path().join(format!("{}-a.log", s.name)), dir.path().join(format!("{}-b.log.gz", s.name)));
        std::fs::write(&pa, a).unwrap();
        std::fs::write(&pb, gzip(&b)).unwrap();
        let (one, _) = analyze(&[&log], s.format);
        let (two, _) = analyze(&[pa.to_str().unwrap(), pb.to_str().unwrap()], s.format);
        assert_eq!(two.len(), one.len(), "{}", s.name);
        let single = by_line(&one, |_, l| l);
        let merged = by_line(&two, |f, l| if f.ends_with("-a.log") { 2 * l - 1 } else { 2 * l });
        assert_eq!(merged, single, "{}: the merged logs label requests differently", s.name);
    }
    // The failover sample split by the server that wrote each line (nginx's
    // $server_addr:$server_port): the timed-out attempt on one, the retry on the other.
    let log = path("nginx-rich-v5-timeout-failover", "log");
    let text = common::read(&log);
    let first_srv =
        text.lines().next().and_then(|l| l.split(" srv=").nth(1)).and_then(|r| r.split(' ').next()).unwrap();
    let (mut a, mut b) = (String::new(), String::new());
    for line in text.lines() {
        let side = if line.contains(&format!(" srv={first_srv} ")) { &mut a } else { &mut b };
        side.push_str(line);
        side.push('\n');
    }
    assert!(!a.is_empty() && !b.is_empty());
    let (pa, pb) = (dir.path().join("server-a.log"), dir.path().join("server-b.log.gz"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, gzip(&b)).unwrap();
    let (one, _) = analyze(&[&log], Some(RICH));
    let (two, _) = analyze(&[pb.to_str().unwrap(), pa.to_str().unwrap()], Some(RICH));
    assert_eq!(common::without_source(&two), common::without_source(&one));
    assert!(two.iter().any(|r| r["label"] == "error-retry" && r["evidence"].contains("to another server")));
}

/// Log rotation: the first half of a sample in `access.log.1.gz`, the rest in `access.log`,
/// given oldest first, give the single log's report, also for `combined` (whole seconds:
/// lines of one second in both files keep the order of the inputs, oldest first).
#[test]
fn rotated_gz_files_merge_into_one_report() {
    let dir = tempfile::tempdir().unwrap();
    for s in SAMPLES {
        let log = path(s.name, "log");
        let text = common::read(&log);
        let lines: Vec<&str> = text.lines().collect();
        let (old, new) = lines.split_at(lines.len() / 2);
        let sub = dir.path().join(s.name);
        std::fs::create_dir_all(&sub).unwrap();
        let (po, pn) = (sub.join("access.log.1.gz"), sub.join("access.log"));
        std::fs::write(&po, gzip(&(old.join("\n") + "\n"))).unwrap();
        std::fs::write(&pn, new.join("\n") + "\n").unwrap();
        let (one, _) = analyze(&[&log], s.format);
        let (two, _) = analyze(&[po.to_str().unwrap(), pn.to_str().unwrap()], s.format);
        assert_eq!(
            common::without_source(&two),
            common::without_source(&one),
            "{}: the rotated files give another report",
            s.name
        );
    }
}

#[test]
fn the_combined_510_sample_says_probably_executed_twice() {
    let (rows, _) = analyze(&[&path("nginx-combined-v5-510-auth-off", "log")], None);
    let retries: Vec<&Row> = rows.iter().filter(|r| r["label"] == "auto-refresh-retry").collect();
    assert_eq!(retries.len(), 2);
    for r in retries {
        assert_eq!((r["double_execution"].as_str(), r["confidence"].as_str()), ("yes", "inferred"));
        assert!(r["evidence"].contains("The log does not show"), "{}", r["evidence"]);
        assert!(r["evidence"].contains("same size"), "{}", r["evidence"]);
    }
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/logs/README.md").is_file());
}
