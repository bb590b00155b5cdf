//! Peerings in a simulated cloud: each cloud's handshake (see `handshake.rs`) from the
//! platform's side.

use async_trait::async_trait;
use isthmus_core::resources::{Network, Peering};

use super::driver::{journal_error, SimCloud};
use super::handshake;
use super::journal::Record;
use crate::{DriverError, PeeringObservation, PeeringState, Provisioner, Result, Teardown};

#[async_trait]
impl Provisioner<Peering> for SimCloud {
    async fn ensure(&self, peering: &Peering, network: &Network) -> Result<PeeringObservation> {
        self.enter("ensure_peering").await?;
        let mut inner = self.clouds.lock();
        let Some(net) = inner.state.networks.get(&network.id).cloned() else {
            return Err(DriverError::Transient(format!(
                "platform network {} does not exist in {}; it must be created first",
                network.id, self.cloud
            )));
        };
        let next = match inner.state.peerings.get(&peering.id) {
            Some(live) if !live.phase.is_terminal() => {
                if handshake::same_spec(live, peering) {
                    return Ok(handshake::observation(live));
                }
                handshake::with_spec(live, peering)
            }
            previous => {
                let attempt = previous.map_or(1, |p| p.attempt + 1);
                handshake::request(&inner.state, &net, peering, attempt)
            }
        };
        let observation = handshake::observation(&next);
        inner.commit(Record::Peering(next)).map_err(journal_error)?;
        Ok(observation)
    }

    async fn observe(&self, peering: &Peering, _network: &Network) -> Result<PeeringObservation> {
        self.enter("observe_peering").await?;
        let inner = self.clouds.lock();
        Ok(match inner.state.peerings.get(&peering.id) {
            Some(p) => handshake::observation(p),
            None => PeeringObservation {
                state: PeeringState::Missing,
                provider_peering_id: None,
                message: format!("no {} peering connection for {}", self.cloud, peering.id),
            },
        })
    }

    async fn delete(&self, peering: &Peering, _network: &Network) -> Result<Teardown> {
        self.enter("delete_peering").await?;
        let mut inner = self.clouds.lock();
        if inner.state.peerings.contains_key(&peering.id) {
            inner
                .commit(Record::PeeringDeleted { id: peering.id })
                .map_err(journal_error)?;
        }
        Ok(Teardown::Done)
    }
}
