//! A migration's replicator on `local`: a namespace of its own (`<p>-m-<hash>`) on the
//! target network's bridge, at the migration's `worker_ip`, with a default route through
//! the network's router. The router's firewall forwards nothing from the bridge to a
//! peering or the internet unless an egress chain accepts it, so the replicator gets one
//! (`egress_<hash>`, keyed by its address) accepting exactly the source's addresses and
//! ports. Deleting the migration removes the chain and the namespace: the egress exists
//! only while the migration does. The server runs the engine process in the namespace.

use anyhow::{Context, Result};
use async_trait::async_trait;
use isthmus_core::kinds::migration::Migration;
use isthmus_driver::{MigrationPlace, MigrationWorkerObservation, Provisioner, Teardown};

use crate::driver::LocalDriver;
use crate::errors::driver_error;
use crate::topology::{self, HostSpec};
use crate::{firewall, netns};

impl LocalDriver {
    fn worker_spec(&self, m: &Migration) -> HostSpec {
        let id = m.id.to_string();
        HostSpec {
            ns: self.names.migration_ns(&id),
            port: self.names.migration_port(&id),
            ip: m.worker_ip,
        }
    }

    /// The namespace a migration's replicator runs in.
    pub fn migration_namespace(&self, m: &Migration) -> String {
        self.names.migration_ns(&m.id.to_string())
    }

    async fn ensure_worker(&self, m: &Migration, place: &MigrationPlace) -> Result<()> {
        let router = self.router_spec(&place.network);
        if !netns::exists(&router.ns) {
            return Err(crate::errors::dependency(format!(
                "router namespace {} is missing (ensure the network first)",
                router.ns
            )));
        }
        let host = self.worker_spec(m);
        topology::ensure_host(&router, &host).await?;
        let chain = self.names.egress_chain(&m.id.to_string());
        let (ip, rules) = (m.worker_ip, m.egress.clone());
        netns::run_in_async(Some(&router.ns), move || {
            let table = firewall::read_table()?;
            if !table.base_intact() {
                return Err(crate::errors::dependency(
                    "the network's firewall base is missing (ensure the network first)",
                ));
            }
            let mut b = firewall::Batch::new();
            firewall::set_egress(&mut b, &table, &chain, &[ip], &rules);
            b.apply().context("open the replicator's egress")
        })
        .await
        .with_context(|| format!("egress of migration {}", m.id))
    }

    async fn observe_worker(
        &self,
        m: &Migration,
        place: &MigrationPlace,
    ) -> Result<MigrationWorkerObservation> {
        let router = self.router_spec(&place.network);
        let host = self.worker_spec(m);
        let mut drift = match topology::host_drift(&router, &host).await? {
            None => vec![format!("namespace {} does not exist", host.ns)],
            Some(drift) => drift,
        };
        if netns::exists(&router.ns) {
            let chain = self.names.egress_chain(&m.id.to_string());
            let ip = m.worker_ip.to_string();
            let (has_chain, jumps) = netns::run_in_async(Some(&router.ns), move || {
                let table = firewall::read_table()?;
                let jumps = table.egress_targets.get(&ip) == Some(&chain);
                Ok((table.chains.contains(&chain), jumps))
            })
            .await?;
            if !has_chain || !jumps {
                drift.push("the egress to the source is not open".into());
            }
        }
        let ready = drift.is_empty();
        let targets: Vec<String> = m.egress.iter().map(rule_text).collect();
        Ok(MigrationWorkerObservation {
            ready,
            namespace: Some(host.ns.clone()),
            message: if ready {
                format!(
                    "replicator at {} in {}; egress open to {} only",
                    m.worker_ip,
                    host.ns,
                    targets.join(", ")
                )
            } else {
                format!("needs repair: {}", drift.join("; "))
            },
        })
    }

    async fn delete_worker(&self, m: &Migration, place: &MigrationPlace) -> Result<()> {
        let router = self.router_spec(&place.network);
        if netns::exists(&router.ns) {
            let chain = self.names.egress_chain(&m.id.to_string());
            let ip = m.worker_ip;
            netns::run_in_async(Some(&router.ns), move || {
                let table = firewall::read_table()?;
                if !table.exists {
                    return Ok(());
                }
                let mut b = firewall::Batch::new();
                firewall::delete_egress(&mut b, &table, &chain, &[ip]);
                b.apply().context("close the replicator's egress")
            })
            .await?;
        }
        topology::delete_host(&router.ns, &self.worker_spec(m)).await
    }
}

/// `172.16.0.10/32 tcp 4222`.
fn rule_text(rule: &isthmus_core::resources::EgressRule) -> String {
    let ports: Vec<String> = rule.ports.iter().map(u16::to_string).collect();
    format!("{} tcp {}", rule.cidr, ports.join(","))
}

#[async_trait]
impl Provisioner<Migration> for LocalDriver {
    async fn ensure(
        &self,
        m: &Migration,
        place: &MigrationPlace,
    ) -> isthmus_driver::Result<MigrationWorkerObservation> {
        {
            let _guard = self.changes.lock().await;
            self.ensure_worker(m, place).await.map_err(driver_error)?;
        }
        self.observe(m, place).await
    }
    async fn observe(
        &self,
        m: &Migration,
        place: &MigrationPlace,
    ) -> isthmus_driver::Result<MigrationWorkerObservation> {
        self.observe_worker(m, place).await.map_err(driver_error)
    }
    async fn delete(
        &self,
        m: &Migration,
        place: &MigrationPlace,
    ) -> isthmus_driver::Result<Teardown> {
        let _guard = self.changes.lock().await;
        self.delete_worker(m, place).await.map_err(driver_error)?;
        Ok(Teardown::Done)
    }
    fn owned_names(&self, m: &Migration) -> Vec<String> {
        let id = m.id.to_string();
        vec![
            self.names.migration_ns(&id),
            self.names.migration_port(&id),
            self.names.egress_chain(&id),
        ]
    }
}
