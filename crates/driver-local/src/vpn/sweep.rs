//! Orphaned gateways: wireguard-go processes (and their sockets) under the driver's
//! prefix that no live gateway accounts for. Kept here so the driver's sweep needs one
//! call: it passes the interfaces live objects claim, this stops the others. A stopped
//! process takes its interface with it; its namespace's table goes with the namespace.

use anyhow::Result;

use super::daemon;

/// Stops every gateway process whose interface starts with `prefix` and is not in
/// `keep`; returns the interfaces stopped. Errors are collected, the sweep goes on.
pub fn sweep_gateways(prefix: &str, keep: &[String]) -> (Vec<String>, Vec<anyhow::Error>) {
    let mut stopped = vec![];
    let mut errors = vec![];
    for iface in daemon::sockets_with_prefix(prefix) {
        if keep.contains(&iface) {
            continue;
        }
        match stop_one(&iface) {
            Ok(()) => stopped.push(iface),
            Err(e) => errors.push(e.context(format!("stop orphaned gateway {iface}"))),
        }
    }
    (stopped, errors)
}

fn stop_one(iface: &str) -> Result<()> {
    daemon::stop(iface)
}
