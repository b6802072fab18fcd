//! `--profile auto`: a sample of exchanges in, the built-in profile that fits them best out.

use super::{Profile, path_matches};
use crate::exchange::Exchange;

/// Scores each built-in profile on a sample of exchanges; `generic` when nothing matches.
pub fn detect_profile(sample: &[Exchange]) -> Profile {
    let mut best: Option<(usize, Profile)> = None;
    for p in Profile::builtins() {
        let d = &p.detect;
        let score = sample
            .iter()
            .filter(|e| {
                let Some(req) = &e.request else { return false };
                let path = req.head.uri().split('?').next().unwrap_or("");
                d.paths.iter().any(|pat| path_matches(pat, path))
                    || d.request_headers.iter().any(|h| req.head.header(h).is_some_and(|v| !v.is_empty()))
                    || e.response.as_ref().is_some_and(|r| {
                        // A logged `-` (an absent header) is not a marker.
                        d.response_headers.iter().any(|h| r.head.header(h).is_some_and(|v| !v.is_empty()))
                    })
            })
            .count();
        if score > 0 && best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, p));
        }
    }
    best.map(|(_, p)| p).unwrap_or_else(|| Profile::builtin("generic").expect("generic is built in"))
}
