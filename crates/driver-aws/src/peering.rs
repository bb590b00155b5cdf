//! Peerings: a VPC peering connection from the platform VPC to the customer's (account,
//! VPC, region), found again by its tag (there is no client token: a restarted server
//! adopts its predecessor's request instead of asking twice). Once `active`, a route per
//! peering route in the network's route table and an ingress rule per route in its
//! security group; an update changes exactly the ones that differ; delete removes them.

use std::time::SystemTime;

use async_trait::async_trait;
use isthmus_core::resources::{Network, Peering};
use isthmus_driver::{DriverError, PeeringObservation, PeeringState, Provisioner, Teardown};

mod routes;

use routes::drift;

use crate::network::Parts;
use crate::xml::{self, tag, PeeringConnection};
use crate::{AwsDriver, Params, TAG_NETWORK, TAG_PEERING, TAG_REQUESTED_AT};

type Result<T> = std::result::Result<T, DriverError>;

/// EC2's states of a connection that may still become (or is) active.
const LIVE: &[&str] = &[
    "initiating-request",
    "pending-acceptance",
    "provisioning",
    "active",
];

/// EC2's state word onto ours.
pub(crate) fn state_of(code: &str) -> PeeringState {
    match code {
        "initiating-request" | "provisioning" => PeeringState::Requested,
        "pending-acceptance" => PeeringState::PendingAcceptance,
        "active" => PeeringState::Active,
        "rejected" | "expired" => PeeringState::RejectedByPeer,
        "deleted" | "deleting" => PeeringState::DeletedByPeer,
        // `failed` (e.g. overlapping CIDRs, an unknown VPC) and anything new.
        _ => PeeringState::Invalid,
    }
}

/// Our words for a connection in `code`, with EC2's own message.
fn message_of(c: &PeeringConnection) -> String {
    let id = &c.vpc_peering_connection_id;
    let ec2 = &c.status.message;
    let peer = &c.accepter_vpc_info;
    match c.status.code.as_str() {
        "pending-acceptance" => format!(
            "{id} is pending-acceptance: the owner of account {} accepts it in {}",
            peer.owner_id, peer.region
        ),
        "active" => format!("{id} is active"),
        "rejected" => format!("the customer rejected {id} (EC2: {ec2})"),
        "expired" => format!("{id} expired: it was not accepted in time (EC2: {ec2})"),
        "deleted" | "deleting" => {
            format!("the customer deleted their side of {id} (EC2: {ec2})")
        }
        code => format!("{id} is {code}: {ec2}"),
    }
}

/// The connection that speaks for the peering: a live one first, the newest request
/// among equals.
fn current(conns: &[PeeringConnection]) -> Option<&PeeringConnection> {
    conns.iter().max_by_key(|c| {
        (
            LIVE.contains(&c.status.code.as_str()),
            tag(&c.tag_set, TAG_REQUESTED_AT)
                .unwrap_or_default()
                .to_string(),
        )
    })
}

fn observation(c: &PeeringConnection, state: PeeringState, message: String) -> PeeringObservation {
    PeeringObservation {
        state,
        provider_peering_id: Some(c.vpc_peering_connection_id.clone()),
        message,
    }
}

impl AwsDriver {
    /// Every connection ever requested for `p` (by tag, checked here too).
    async fn connections(&self, p: &Peering, net: &Network) -> Result<Vec<PeeringConnection>> {
        let params = Params::new().filters(&[("tag:isthmus:peering-id", p.id.to_string())]);
        let found: xml::DescribePeeringConnections = self
            .call(
                &net.region,
                "DescribeVpcPeeringConnections",
                params,
                &format!("look up peering {}", p.id),
            )
            .await?;
        let id = p.id.to_string();
        Ok(found
            .vpc_peering_connection_set
            .item
            .into_iter()
            .filter(|c| tag(&c.tag_set, TAG_PEERING) == Some(id.as_str()))
            .collect())
    }

    async fn request(
        &self,
        p: &Peering,
        net: &Network,
        vpc_id: &str,
    ) -> Result<PeeringObservation> {
        let requested_at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let params = Params::new()
            .set("VpcId", vpc_id)
            .set("PeerVpcId", &p.peer.network_id)
            .set("PeerOwnerId", &p.peer.account_id)
            .set("PeerRegion", &p.peer.region)
            .tags(
                "vpc-peering-connection",
                &[
                    (TAG_PEERING, p.id.to_string()),
                    (TAG_NETWORK, net.id.to_string()),
                    (TAG_REQUESTED_AT, format!("{requested_at:020}")),
                    ("Name", format!("isthmus-{}", p.name)),
                ],
            );
        match self
            .ec2
            .call::<xml::CreatePeeringConnection>(
                &net.region,
                "CreateVpcPeeringConnection",
                &params,
            )
            .await
        {
            Ok(created) => {
                let c = created.vpc_peering_connection;
                Ok(observation(&c, state_of(&c.status.code), message_of(&c)))
            }
            // EC2 refuses the spec itself (an unknown VPC, a bad account or region):
            // the customer's to fix, as a failed request would be.
            Err(e) if !e.is_retryable() && !e.is_credentials() && e.status < 500 => {
                Ok(PeeringObservation {
                    state: PeeringState::Invalid,
                    provider_peering_id: None,
                    message: format!("EC2 refused the peering request: {e}"),
                })
            }
            Err(e) => Err(e.into_driver(&format!("request peering {}", p.id))),
        }
    }

    async fn vpc_of(&self, net: &Network) -> Result<Parts> {
        let parts = self.parts(net).await?;
        if parts.vpc.is_none() {
            return Err(DriverError::Dependency(format!(
                "platform network {} has no VPC in {} yet",
                net.id, net.region
            )));
        }
        Ok(parts)
    }
}

#[async_trait]
impl Provisioner<Peering> for AwsDriver {
    async fn ensure(&self, p: &Peering, net: &Network) -> Result<PeeringObservation> {
        if !p.transit_routes.is_empty() || p.allow_gateway_transit {
            return Ok(PeeringObservation {
                state: PeeringState::Invalid,
                provider_peering_id: None,
                message: "aws peering is non-transitive: it carries no traffic through the \
                          peer's gateway"
                    .into(),
            });
        }
        let parts = self.vpc_of(net).await?;
        let all = self.connections(p, net).await?;
        let Some(c) = current(&all).filter(|c| LIVE.contains(&c.status.code.as_str())) else {
            // Nothing live: routes left from an earlier connection go, then ask anew.
            self.sync(p, net, &parts, &all, None).await?;
            let vpc_id = parts
                .vpc
                .as_ref()
                .map(|v| v.vpc_id.clone())
                .unwrap_or_default();
            return self.request(p, net, &vpc_id).await;
        };
        let state = state_of(&c.status.code);
        if state == PeeringState::Active {
            self.sync(p, net, &parts, &all, Some(&c.vpc_peering_connection_id))
                .await?;
        }
        Ok(observation(c, state, message_of(c)))
    }

    async fn observe(&self, p: &Peering, net: &Network) -> Result<PeeringObservation> {
        let all = self.connections(p, net).await?;
        let Some(c) = current(&all) else {
            return Ok(PeeringObservation {
                state: PeeringState::Missing,
                provider_peering_id: None,
                message: format!("no VPC peering connection tagged {TAG_PEERING}={}", p.id),
            });
        };
        let state = state_of(&c.status.code);
        if state == PeeringState::Active {
            let parts = self.vpc_of(net).await?;
            let d = drift(p, &parts, &all, Some(&c.vpc_peering_connection_id));
            if !d.is_empty() {
                let message = format!(
                    "{} is active but our side drifted ({})",
                    c.vpc_peering_connection_id,
                    d.describe()
                );
                return Ok(observation(c, PeeringState::NeedsRepair, message));
            }
        }
        Ok(observation(c, state, message_of(c)))
    }

    async fn delete(&self, p: &Peering, net: &Network) -> Result<Teardown> {
        let parts = self.parts(net).await?;
        if parts.vpc.is_none() {
            return Ok(Teardown::Done);
        }
        let all = self.connections(p, net).await?;
        self.sync(p, net, &parts, &all, None).await?;
        let what = format!("delete peering {}", p.id);
        for c in all
            .iter()
            .filter(|c| LIVE.contains(&c.status.code.as_str()))
        {
            let params = Params::new().set("VpcPeeringConnectionId", &c.vpc_peering_connection_id);
            match self
                .ec2
                .call::<xml::Ignored>(&net.region, "DeleteVpcPeeringConnection", &params)
                .await
            {
                Err(e) if !e.code.ends_with(".NotFound") && !e.is("InvalidStateTransition") => {
                    return Err(e.into_driver(&what))
                }
                _ => {}
            }
        }
        Ok(Teardown::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ec2_state_maps_onto_ours() {
        use PeeringState::*;
        for (code, ours) in [
            ("initiating-request", Requested),
            ("pending-acceptance", PendingAcceptance),
            ("provisioning", Requested),
            ("active", Active),
            ("rejected", RejectedByPeer),
            ("expired", RejectedByPeer),
            ("deleted", DeletedByPeer),
            ("deleting", DeletedByPeer),
            ("failed", Invalid),
        ] {
            assert_eq!(state_of(code), ours, "{code}");
        }
    }
}
