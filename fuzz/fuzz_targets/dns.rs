//! The platform DNS query handler, fed raw DNS messages
//! (see `dns_message` in crates/connect/tests/support/dns_entry_points.rs).
#![no_main]

#[path = "../../crates/connect/tests/support/dns_entry_points.rs"]
mod dns_entry_points;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dns_entry_points::dns_message(data);
});
