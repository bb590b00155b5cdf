//! The JSON request body of every create/update, then the rule that validates it
//! (see `request_body` in crates/core/tests/support/entry_points.rs).
#![no_main]

#[path = "../../crates/core/tests/support/entry_points.rs"]
mod entry_points;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    entry_points::request_body(data);
});
