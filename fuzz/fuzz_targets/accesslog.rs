//! Every access-log parser: each line through every built-in format; the first line as a
//! `--log-format` spec (then the other lines through it); detection on the first lines.
#![no_main]

use dupcall::accesslog::{LogFormat, NAMES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let formats: Vec<LogFormat> = NAMES.iter().filter_map(|n| LogFormat::named(n)).collect();
    for (i, line) in lines.iter().enumerate().take(16) {
        for f in &formats {
            if let Ok(rec) = f.parse_line(line, i as u64 + 1) {
                let _ = format!("{rec:?}");
            }
        }
    }
    if let Some(spec) = lines.first()
        && let Ok(f) = LogFormat::parse_spec(spec)
    {
        let _ = f.describe();
        for (i, line) in lines.iter().enumerate().skip(1).take(16) {
            let _ = f.parse_line(line, i as u64 + 1);
        }
    }
    let _ = LogFormat::detect(&lines[..lines.len().min(8)]);
});
