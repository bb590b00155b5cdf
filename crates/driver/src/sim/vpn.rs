//! VPN gateways and clients in a simulated cloud: modelled, no packets. A gateway is
//! ready as soon as the call's round trip is paid, with an endpoint name in the cloud's
//! region and a public key (a fresh pair on first ensure, whose private half is dropped:
//! no tunnel is ever made with it). A client is applied at once and never handshakes, so
//! it stays `pending`. The gateway is derived from its object alone (its key comes back
//! in the object once stored), so there is nothing to journal and nothing to drift.

use async_trait::async_trait;
use isthmus_core::kinds::vpn_client::VpnClient;
use isthmus_core::kinds::vpn_gateway::VpnGateway;
use isthmus_core::resources::Network;

use super::driver::SimCloud;
use crate::{
    wg_keys, Provisioner, Result, Teardown, VpnClientContext, VpnClientObservation,
    VpnGatewayObservation, VpnGatewayState,
};

/// The port a simulated gateway listens on.
const PORT: u16 = 51820;

impl SimCloud {
    fn gateway_now(&self, gateway: &VpnGateway, network: &Network) -> VpnGatewayObservation {
        let host = format!(
            "vpn-{}.{}.{}.sim.isthmus.internal",
            gateway.id, network.region, self.cloud
        );
        VpnGatewayObservation {
            state: VpnGatewayState::Ready,
            endpoint: Some(format!("{host}:{PORT}")),
            public_key: Some(
                gateway
                    .public_key
                    .unwrap_or_else(|| wg_keys::generate().public),
            ),
            message: format!(
                "simulated {} gateway: states, endpoint and configs are modelled, no packets flow",
                self.cloud
            ),
        }
    }
}

#[async_trait]
impl Provisioner<VpnGateway> for SimCloud {
    async fn ensure(
        &self,
        gateway: &VpnGateway,
        network: &Network,
    ) -> Result<VpnGatewayObservation> {
        self.enter("ensure_vpn_gateway").await?;
        Ok(self.gateway_now(gateway, network))
    }

    async fn observe(
        &self,
        gateway: &VpnGateway,
        network: &Network,
    ) -> Result<VpnGatewayObservation> {
        self.enter("observe_vpn_gateway").await?;
        Ok(self.gateway_now(gateway, network))
    }

    async fn delete(&self, _: &VpnGateway, _: &Network) -> Result<Teardown> {
        self.enter("delete_vpn_gateway").await?;
        Ok(Teardown::Done)
    }
}

fn client_now(ctx: &VpnClientContext) -> VpnClientObservation {
    VpnClientObservation {
        applied: true,
        last_handshake_at: None,
        endpoint: None,
        rx_bytes: 0,
        tx_bytes: 0,
        denied_flows: 0,
        message: format!(
            "simulated gateway {}: {} granted destinations; no packets flow",
            ctx.gateway.id,
            ctx.destinations.len()
        ),
    }
}

#[async_trait]
impl Provisioner<VpnClient> for SimCloud {
    async fn ensure(&self, _: &VpnClient, ctx: &VpnClientContext) -> Result<VpnClientObservation> {
        self.enter("ensure_vpn_client").await?;
        Ok(client_now(ctx))
    }

    async fn observe(&self, _: &VpnClient, ctx: &VpnClientContext) -> Result<VpnClientObservation> {
        self.enter("observe_vpn_client").await?;
        Ok(client_now(ctx))
    }

    async fn delete(&self, _: &VpnClient, _: &VpnClientContext) -> Result<Teardown> {
        self.enter("delete_vpn_client").await?;
        Ok(Teardown::Done)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;
    use isthmus_core::kinds::vpn_gateway::{new_vpn_gateway, VpnGatewayCreate};
    use isthmus_core::resources::{NetworkCreate, Provider};
    use isthmus_core::{rules, Id, ProjectId};

    use super::*;
    use crate::sim::{SimClouds, SimConfig};
    use crate::{DriverError, Provisioners};

    fn network() -> Network {
        let req = NetworkCreate {
            name: "prod".into(),
            provider: Provider::Aws,
            region: "us-east-1".into(),
            cidr_block: "10.0.0.0/16".into(),
        };
        let project = ProjectId::from(Id::from_parts(1_700_000_000, [1; 8]));
        rules::new_network(
            Id::from_parts(1_700_000_000, [2; 8]).into(),
            project,
            &req,
            &[],
            Utc::now(),
        )
        .unwrap()
    }

    fn gateway(net: &Network) -> VpnGateway {
        let req = VpnGatewayCreate {
            name: "laptops".into(),
            network_id: net.id.to_string(),
            client_cidr: "100.64.0.0/24".into(),
            dns: Default::default(),
            max_client_days: None,
        };
        let id = Id::from_parts(1_700_000_000, [3; 8]).into();
        new_vpn_gateway(id, net.project_id, &req, net, &[], &[], &[], Utc::now()).unwrap()
    }

    #[tokio::test]
    async fn a_simulated_gateway_is_ready_with_an_endpoint_and_a_key_that_stays() {
        let sim = SimClouds::open(SimConfig::default()).unwrap();
        let provisioners: Provisioners = sim.provisioners(&[Provider::Aws]);
        let p = provisioners.get::<VpnGateway>(Provider::Aws).unwrap();
        let net = network();
        let mut gw = gateway(&net);
        let seen = p.ensure(&gw, &net).await.unwrap();
        assert_eq!(seen.state, VpnGatewayState::Ready);
        let endpoint = seen.endpoint.unwrap();
        assert!(
            endpoint.contains("us-east-1.aws") && endpoint.ends_with(":51820"),
            "{endpoint}"
        );
        // Once stored, the key is the gateway's for good.
        gw.public_key = seen.public_key;
        assert_eq!(
            p.observe(&gw, &net).await.unwrap().public_key,
            gw.public_key
        );
        assert!(provisioners.find::<VpnClient>(Provider::Aws).is_some());

        sim.inject_fault("ensure_vpn_gateway", 1).unwrap();
        let e = p.ensure(&gw, &net).await.unwrap_err();
        assert!(matches!(e, DriverError::Transient(_)), "{e:?}");
        assert_eq!(p.delete(&gw, &net).await.unwrap(), Teardown::Done);
        let _: Arc<SimClouds> = sim;
    }
}
