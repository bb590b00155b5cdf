//! The allow-list file parser (`--public-allowlist-file`), then the server's validation
//! (see `allowlist_file` in crates/core/tests/support/entry_points.rs).
#![no_main]

#[path = "../../crates/core/tests/support/entry_points.rs"]
mod entry_points;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The CLI reads the file with `read_to_string`: non-UTF-8 is refused before parsing.
    if let Ok(text) = std::str::from_utf8(data) {
        entry_points::allowlist_file(text);
    }
});
