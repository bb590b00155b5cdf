//! Migrations in the simulated clouds: modelled without packets. The replicator's place
//! and its egress to the source are accepted and reported, but no process runs and no
//! event moves; the simulated clouds carry no data plane (see docs/migrations.md).

use async_trait::async_trait;
use isthmus_core::kinds::migration::Migration;

use super::driver::SimCloud;
use crate::{MigrationPlace, MigrationWorkerObservation, Provisioner, Result, Teardown};

#[async_trait]
impl Provisioner<Migration> for SimCloud {
    async fn ensure(
        &self,
        m: &Migration,
        p: &MigrationPlace,
    ) -> Result<MigrationWorkerObservation> {
        self.observe(m, p).await
    }
    async fn observe(
        &self,
        m: &Migration,
        p: &MigrationPlace,
    ) -> Result<MigrationWorkerObservation> {
        let egress: Vec<String> = m.egress.iter().map(|r| r.cidr.to_string()).collect();
        Ok(MigrationWorkerObservation {
            ready: true,
            namespace: None,
            message: format!(
                "simulated {}: replicator at {} in network {} with egress to {} only; \
                 modelled without packets, no events are copied",
                self.cloud,
                m.worker_ip,
                p.network.id,
                egress.join(", ")
            ),
        })
    }
    async fn delete(&self, _: &Migration, _: &MigrationPlace) -> Result<Teardown> {
        Ok(Teardown::Done)
    }
}
