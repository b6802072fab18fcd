//! Format detection: the first lines of a log in, the format that reads them out.
//!
//! Takes the first non-empty lines; gives a [`Detected`] format with the `--log-format`
//! spec that names it (so `-v` can print it and the user can pass it back). In order:
//! JSON lines (Caddy's by its `logger`/nested `request`, else nginx / Envoy / Traefik /
//! generic keys); HAProxy `httplog`; AWS ALB and CloudFront; then the named text formats
//! that read every sample line to its END (richest first); then a custom format inferred
//! from the lines ([`infer`](super::infer)); then a named format that reads every line
//! (ignoring what follows its fields); then the one reading the most, if at least half.

use super::infer::infer;
use super::{JsonMapping, LogFormat, json};

/// Text-format candidates, richest first.
const DETECT_TEXT: &[&str] =
    &["traefik", "nginx-main", "combined", "envoy", "tomcat-common-ms", "tomcat-common-T", "common"];

/// Apache `common` + `%D`, for a Tomcat-looking log whose times are starts.
const APACHE_COMMON_D: &str = r#"apache:%h %l %u %t "%r" %>s %b %D"#;

/// A detected format.
#[derive(Clone, Debug)]
pub struct Detected {
    /// The format.
    pub format: LogFormat,
    /// A short name (`combined`, `haproxy`, `inferred` …).
    pub name: &'static str,
    /// What `--log-format` takes to give this format back.
    pub spec: String,
}

fn named(name: &'static str) -> Option<Detected> {
    LogFormat::named(name).map(|format| Detected { format, name, spec: name.to_owned() })
}

/// Lines that describe a log rather than being entries (CloudFront's W3C headers).
pub(crate) fn is_directive(line: &[u8]) -> bool {
    line.starts_with(b"#Version:") || line.starts_with(b"#Fields:")
}

impl LogFormat {
    /// Detects the format of the first non-empty lines of a log (see the module doc);
    /// gives it and its short name.
    pub fn detect(first_lines: &[&str]) -> Option<(Self, &'static str)> {
        Self::detect_spec(first_lines).map(|d| (d.format, d.name))
    }

    /// [`LogFormat::detect`] with the `--log-format` spec that gives the format back.
    ///
    /// Tomcat `%D` is ms (≤ 9) or µs (10+); the unit is guessed from the sample: µs when
    /// the median is 200 or more or any value reaches 10000, else ms. A `common` + `%D`
    /// log whose times go backwards in file order is Apache (`%t` is the start, the line
    /// written at the end), not Tomcat (`%t` is the end).
    pub fn detect_spec(first_lines: &[&str]) -> Option<Detected> {
        let lines: Vec<&str> = first_lines
            .iter()
            .map(|l| l.trim_end_matches(['\r', '\n']))
            .filter(|l| !l.trim().is_empty() && !is_directive(l.as_bytes()))
            .collect();
        let n = lines.len();
        if n == 0 {
            return None;
        }
        let count = |f: &LogFormat| {
            lines.iter().enumerate().filter(|(i, l)| f.parse_line(l, *i as u64 + 1).is_ok()).count()
        };
        let enough = |ok: usize| ok > 0 && ok * 2 >= n;
        let json_like = lines.iter().filter(|l| l.trim_start().starts_with('{')).count();
        if json_like * 2 >= n {
            let first = lines.iter().find(|l| l.trim_start().starts_with('{')).copied().unwrap_or("");
            let flavor = json::flavor(first);
            let format =
                LogFormat::Json(if flavor == "caddy" { JsonMapping::caddy() } else { JsonMapping::new() });
            return enough(count(&format)).then(|| Detected {
                format,
                name: flavor,
                spec: flavor.to_owned(),
            });
        }
        for name in ["haproxy", "aws-alb", "cloudfront"] {
            if let Some(d) = named(name).filter(|d| enough(count(&d.format))) {
                return Some(d);
            }
        }
        let mut all_lines = None;
        let mut best: Option<(usize, Detected)> = None;
        for &name in DETECT_TEXT {
            let Some(d) = named(name) else { continue };
            let LogFormat::Text(t) = &d.format else { continue };
            let (mut ok, mut full) = (0, 0);
            for (i, l) in lines.iter().enumerate() {
                if let Ok((_, whole)) = t.parse_full(l, i as u64 + 1) {
                    ok += 1;
                    full += usize::from(whole);
                }
            }
            if full == n {
                return Some(finish(d, &lines));
            }
            if ok == n && all_lines.is_none() {
                all_lines = Some(d);
            } else if best.as_ref().is_none_or(|(b, _)| ok > *b) {
                best = Some((ok, d));
            }
        }
        let inferred = infer(&lines).and_then(|spec| {
            let format = LogFormat::parse_spec(&spec).ok()?;
            let ok = count(&format);
            Some((ok, Detected { format, name: "inferred", spec }))
        });
        if let Some((ok, d)) = &inferred {
            if *ok == n {
                return Some(d.clone());
            }
        }
        if let Some(d) = all_lines {
            return Some(finish(d, &lines));
        }
        let best = match (best, inferred) {
            (Some((b, d)), Some((i, _))) if b >= i => Some((b, d)),
            (_, Some((i, d))) => Some((i, d)),
            (b, None) => b,
        };
        match best {
            Some((ok, d)) if enough(ok) => Some(if d.name == "inferred" { d } else { finish(d, &lines) }),
            _ => None,
        }
    }

    /// The keys of the first JSON object among `lines` (nested keys dotted), for an error
    /// that says what a JSON log holds when no field could be mapped.
    pub fn json_keys(lines: &[&str]) -> Option<Vec<String>> {
        let first = lines.iter().find(|l| l.trim_start().starts_with('{'))?;
        json::keys(first)
    }
}

/// Picks the `%D` unit of a Tomcat `common` + `%D` log, or Apache when its times go
/// backwards.
fn finish(d: Detected, lines: &[&str]) -> Detected {
    if d.name != "tomcat-common-ms" {
        return d;
    }
    let recs: Vec<_> = lines.iter().filter_map(|l| d.format.parse_line(l, 1).ok()).collect();
    if recs.windows(2).any(|w| matches!(w, [a, b] if b.logged_time < a.logged_time)) {
        if let Ok(format) = LogFormat::parse_spec(APACHE_COMMON_D) {
            return Detected { format, name: "apache-common-D", spec: APACHE_COMMON_D.to_owned() };
        }
    }
    // Parsed as ms: request_time × 1000 is the logged number.
    let mut values: Vec<f64> = recs.iter().filter_map(|r| r.request_time).map(|s| s * 1000.0).collect();
    values.sort_by(f64::total_cmp);
    let median = values.get(values.len() / 2).copied().unwrap_or(0.0);
    let max = values.last().copied().unwrap_or(0.0);
    if median >= 200.0 || max >= 10_000.0 { named("tomcat-common-us").unwrap_or(d) } else { d }
}
