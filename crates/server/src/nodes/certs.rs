//! A node's certificate files: issued from the installation CA on first start, re-issued
//! when `needs_renewal` says so (or when the files do not match the node any more).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use isthmus_connect::pki::{cert_info, needs_renewal, write_atomically, Ca, NodeIdentity};

/// Mode of the CA copy next to the node's files: public material.
const CA_MODE: u32 = 0o644;

/// Makes sure `cert`/`key` hold a current certificate for `identity`; true when new files
/// were written (the engine may need to reload).
pub fn ensure_node_cert(
    ca: &Ca,
    identity: &NodeIdentity,
    lifetime: Duration,
    cert: &Path,
    key: &Path,
) -> anyhow::Result<bool> {
    if current(identity, lifetime, cert, key) {
        return Ok(false);
    }
    ca.issue_node_cert(identity, lifetime)?
        .write_to(cert, key)
        .with_context(|| format!("write the certificate of {}", identity.node_dns))?;
    tracing::info!(node = %identity.node_dns, "issued a node certificate");
    Ok(true)
}

/// Whether the files on disk can stay: both present, readable, for this identity, and not
/// yet due for renewal. Anything unreadable is simply replaced.
fn current(identity: &NodeIdentity, lifetime: Duration, cert: &Path, key: &Path) -> bool {
    if !key.exists() {
        return false;
    }
    let Ok(pem) = std::fs::read_to_string(cert) else {
        return false;
    };
    let Ok(info) = cert_info(&pem) else {
        return false;
    };
    let names_match = info.dns_names.contains(&identity.node_dns)
        && info.dns_names.contains(&identity.cluster_dns)
        && identity
            .public_dns
            .as_ref()
            .is_none_or(|p| info.dns_names.contains(p))
        && info.ip_addresses.contains(&identity.ip);
    names_match && !needs_renewal(info.not_after, Utc::now(), lifetime)
}

/// Keeps a copy of the CA certificate next to the node's files (engines that verify peers
/// read it from there).
pub fn ensure_ca_copy(ca: &Ca, path: &Path) -> anyhow::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|existing| existing == ca.cert_pem()) {
        return Ok(());
    }
    write_atomically(path, ca.cert_pem().as_bytes(), CA_MODE)
        .with_context(|| format!("write the CA certificate to {}", path.display()))
}
