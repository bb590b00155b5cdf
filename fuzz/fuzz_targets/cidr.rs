//! The CIDR and prefix parsers, and the prefix set the overlap rules query
//! (see `prefix_text` in crates/core/tests/support/entry_points.rs).
#![no_main]

#[path = "../../crates/core/tests/support/entry_points.rs"]
mod entry_points;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        entry_points::prefix_text(text);
    }
});
