//! The `local` provider at server start: real networks on this host need root. When the
//! driver can run, the server re-creates every stored lab VPC and the lab's internet with
//! its hosts, and the saved lab endpoints (namespaces do not survive a reboot, and a crash may have left them
//! half-made), then removes every kernel object under the driver's prefix that the store
//! does not know — all before the controller starts, so it never races a sweep.

use std::sync::Arc;

use anyhow::Context;
use isthmus_core::resources::Provider;
use isthmus_driver_local::{KnownObjects, LocalConfig, LocalDriver};
use isthmus_store::Store;

/// Why the local provider cannot run here, if it cannot.
pub fn unavailable_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some(
            "the local provider needs root (network namespaces, veth pairs, nftables); \
             start `isthmus serve` as root to use local networks and lab VPCs"
                .into(),
        );
    }
    None
}

/// Starts the local driver if this process may (root), restores the stored lab VPCs and
/// sweeps orphans. `None` (with a warning) when the provider is unavailable: local
/// networks are then refused at create (422), and the lab API answers 409.
pub async fn start(
    config: &LocalConfig,
    store: &dyn Store,
) -> anyhow::Result<Option<Arc<LocalDriver>>> {
    if let Some(reason) = unavailable_reason() {
        tracing::warn!("{reason}");
        return Ok(None);
    }
    let driver = LocalDriver::new(config.clone()).context("start the local driver")?;
    restore_lab_vpcs(&driver, store).await?;
    restore_internet(&driver, store).await?;
    // After the lab VPCs (an endpoint needs its VPC) and before the sweep (which keeps
    // the namespaces of the endpoints registered here).
    for dropped in driver
        .restore_lab_endpoints()
        .await
        .context("restore saved lab endpoints")?
    {
        tracing::warn!(%dropped, "a saved lab endpoint was not restored");
    }
    let known = known_objects(&driver, store).await?;
    let report = driver
        .sweep_orphans(&known)
        .await
        .context("sweep orphaned kernel objects of the local driver")?;
    for removed in &report.removed {
        tracing::info!(object = %removed, "removed an orphan of the local driver");
    }
    for error in &report.errors {
        tracing::warn!(%error, "could not remove an orphan of the local driver");
    }
    tracing::info!(prefix = %driver.names().prefix(), "local provider ready");
    Ok(Some(driver))
}

/// Registers every stored lab VPC with the driver, creating or repairing its namespaces.
/// One that cannot be made is logged and skipped: the others and the server still start.
async fn restore_lab_vpcs(driver: &LocalDriver, store: &dyn Store) -> anyhow::Result<()> {
    let mut vpcs = store
        .list_lab_vpcs()
        .await
        .context("list stored lab VPCs")?;
    // Hubs first: a VPC behind another is linked to the hub's router, which must exist.
    vpcs.sort_by_key(|v| v.behind.is_some());
    for vpc in &vpcs {
        if let Err(e) = driver.ensure_lab_vpc(&vpc.into()).await {
            tracing::warn!(lab_vpc = %vpc.name, error = %format!("{e:#}"), "could not restore a lab VPC");
        }
    }
    Ok(())
}

/// Re-creates the lab's internet namespace and every stored internet host with its
/// stored address. A host that cannot be made is logged and skipped, like a lab VPC.
/// Without stored hosts nothing is made here: the driver makes the internet when a
/// network's uplink or a first host needs it, so an idle server leaves no namespace.
async fn restore_internet(driver: &LocalDriver, store: &dyn Store) -> anyhow::Result<()> {
    let hosts = store
        .list_internet_hosts()
        .await
        .context("list stored internet hosts")?;
    if hosts.is_empty() {
        return Ok(());
    }
    driver
        .ensure_internet()
        .await
        .context("create the lab's internet namespace")?;
    for host in &hosts {
        if let Err(e) = driver.add_internet_host(&host.into()).await {
            tracing::warn!(internet_host = %host.name, error = %format!("{e:#}"), "could not restore an internet host");
        }
    }
    Ok(())
}

/// The kernel objects of everything the store holds that may still own some (anything
/// not yet `deleted`), of every registered kind, as the local provisioner of its kind
/// names them.
async fn known_objects(
    driver: &Arc<LocalDriver>,
    store: &dyn Store,
) -> anyhow::Result<KnownObjects> {
    let provisioners = driver.provisioners();
    let mut known = KnownObjects::new();
    for key in store.list_live().await.context("list live resources")? {
        let Some(kind) = crate::kinds::kind(key.kind) else {
            continue;
        };
        known.claim(
            kind.owned_names(store, &provisioners, Provider::Local, key.id)
                .await
                .context("load a live resource")?,
        );
    }
    Ok(known)
}
