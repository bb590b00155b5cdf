//! Ending a client's established flows: its conntrack entries are deleted (both as source
//! and as destination), so the next packet of a cut connection is a new flow that the
//! firewall judges afresh (and a node's packet toward a revoked client gets a reset).
//!
//! Through the `conntrack` tool of conntrack-tools (scripts/setup installs it), with an
//! argv inside the gateway's namespace.

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::netns;

/// Deletes every flow from or to `address` in namespace `ns`; returns how many went.
pub fn flush_address(ns: &str, address: Ipv4Addr) -> Result<u64> {
    let mut deleted = 0;
    for side in ["--orig-src", "--orig-dst"] {
        let addr = address.to_string();
        let out = netns::run_in(Some(ns), move || {
            Command::new("conntrack")
                .args(["-D", side, &addr])
                .output()
                .context("run conntrack (is conntrack-tools installed?)")
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // "N flow entries have been deleted." — with exit status 1 when N is 0.
        let Some(count) = stderr
            .lines()
            .find_map(|l| l.split_once(" flow entries have been deleted"))
            .and_then(|(n, _)| n.trim().rsplit(' ').next()?.parse::<u64>().ok())
        else {
            bail!(
                "conntrack -D {side} {address} in {ns} failed: {}",
                stderr.trim()
            );
        };
        deleted += count;
    }
    Ok(deleted)
}
