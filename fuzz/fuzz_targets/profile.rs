//! The profile loader: any text as a user's TOML profile.
#![no_main]

use dupcall::profile::{Profile, path_matches};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Profile::from_toml(text, "fuzz.toml") {
        Ok(p) => {
            let _ = format!("{p:?}");
            // Patterns from the file are matched against paths at run time.
            for line in text.lines().take(8) {
                let _ = path_matches(line, "/openApi/saveJob");
                let _ = path_matches(line, line);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
