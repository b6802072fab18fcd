//! The HAR reader: any bytes through input detection and the streaming entry parser, each
//! exchange it gives classified as the analysis would (nothing may panic, memory bounded).
#![no_main]

use dupcall::classify::{CallerMode, Classifier};
use dupcall::diag::Diagnostics;
use dupcall::har::{HarOptions, har_exchanges};
use dupcall::profile::Profile;
use dupcall::redact::Redactor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dupcall::input::kind_of(data);
    let mut diag = Diagnostics::default();
    let mut out = Vec::new();
    let opts = HarOptions { body_cap: 4096, ..HarOptions::default() };
    let _ = har_exchanges(data, 0, &opts, &mut diag, &mut |e| out.push(e));
    let redactor = Redactor::random();
    if let Some(profile) = Profile::builtin("powerjob") {
        let mut c = Classifier::new(profile, &redactor, CallerMode::default());
        for ex in &out {
            let _ = c.classify(ex);
        }
    }
});
