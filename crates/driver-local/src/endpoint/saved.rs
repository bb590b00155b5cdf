//! Lab endpoints on disk, so a restarted server finds them again. A lab endpoint is the
//! customer's side of a connection (like the simulated clouds' endpoints, which live in
//! the sim journal, not in the platform's store): the driver keeps it, and writes the
//! whole set to `/var/lib/isthmus/<prefix>/lab-endpoints.json` after every change (a
//! handful of entries; written to a temporary file and renamed, so a crash leaves the old
//! set or the new one, never half of either). At start the server calls
//! [`LocalDriver::restore_lab_endpoints`] after the lab VPCs are back and before the sweep,
//! which then keeps their namespaces.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{plumbing, LabEndpoint};
use crate::driver::LocalDriver;

/// Where the lab endpoints of the driver with prefix `prefix` are kept.
pub fn path(prefix: &str) -> PathBuf {
    PathBuf::from(format!("/var/lib/isthmus/{prefix}/lab-endpoints.json"))
}

fn load(prefix: &str) -> Result<Vec<LabEndpoint>> {
    let file = path(prefix);
    match fs::read(&file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("parse saved lab endpoints {}", file.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
        Err(e) => Err(e).with_context(|| format!("read {}", file.display())),
    }
}

fn save(prefix: &str, all: &[LabEndpoint]) -> Result<()> {
    let file = path(prefix);
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let tmp = file.with_extension("json.tmp");
    let mut out = fs::File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    out.write_all(&serde_json::to_vec_pretty(all)?)?;
    out.sync_all()?;
    fs::rename(&tmp, &file).with_context(|| format!("replace {}", file.display()))
}

/// Forgets every saved lab endpoint (the driver's purge).
pub(crate) fn forget(prefix: &str) {
    let file = path(prefix);
    let _ = fs::remove_file(&file);
    // The prefix's directory too (and its VPN key directory), unless something still
    // lives there: `remove_dir` takes only empty ones.
    let _ = fs::remove_dir(crate::vpn::keys::dir(prefix));
    if let Some(dir) = file.parent() {
        let _ = fs::remove_dir(dir);
    }
}

impl LocalDriver {
    /// Writes the registry out. A failure is logged, not returned: the kernel objects are
    /// made already, and the next change writes the whole set again.
    pub(super) fn save_endpoints(&self, all: &[LabEndpoint]) {
        if let Err(e) = save(self.names.prefix(), all) {
            tracing::warn!(error = %format!("{e:#}"), "could not save lab endpoints");
        }
    }

    /// Registers the saved lab endpoints again and makes sure each has its namespace, its
    /// leg in the lab VPC and its node addresses (after a reboot they are gone; after a
    /// server restart they are still there and this changes nothing). A fresh namespace
    /// gets the closed firewall; the provisioner's next pass opens an available one and
    /// re-attaches its platform leg. An endpoint whose lab VPC is gone is dropped (its
    /// connection then shows `disconnected`). Returns what it dropped, with why.
    pub async fn restore_lab_endpoints(&self) -> Result<Vec<String>> {
        let _guard = self.changes.lock().await;
        let mut dropped = vec![];
        for ep in load(self.names.prefix())? {
            let Ok(lab) = self.require_lab(&ep.vpc) else {
                dropped.push(format!("{}: lab VPC {} is gone", ep.endpoint_id(), ep.vpc));
                continue;
            };
            let fresh = !crate::netns::exists(&ep.namespace);
            let leg = plumbing::Leg {
                router_ns: lab.router_namespace.clone(),
                bridge: self.names.lab_bridge(&ep.vpc),
                port: self.names.endpoint_lab_port(&ep.vpc, &ep.name),
                address: ep.ip,
                cidr: lab.cidr,
            };
            let made = async {
                plumbing::ensure_namespace(&ep.namespace).await?;
                plumbing::ensure_leg(&ep.namespace, super::nft::LAB_IF, &leg).await?;
                if !ep.node_ips.is_empty() {
                    plumbing::ensure_lab_addresses(
                        &ep.namespace,
                        &ep.node_ips,
                        lab.cidr.prefix_len(),
                    )
                    .await?;
                }
                if fresh {
                    let (ns, rules) = (ep.namespace.clone(), self.rules_of(&ep, None));
                    tokio::task::spawn_blocking(move || super::nft::apply(&ns, &rules)).await??;
                }
                Ok::<_, anyhow::Error>(())
            }
            .await;
            match made {
                Ok(()) => {
                    self.endpoints
                        .lock()
                        .expect("endpoint registry")
                        .insert(super::key(&ep.vpc, &ep.name), ep);
                }
                Err(e) => dropped.push(format!("{}: {e:#}", ep.endpoint_id())),
            }
        }
        let all = self.lab_endpoints();
        self.save_endpoints(&all);
        Ok(dropped)
    }
}
