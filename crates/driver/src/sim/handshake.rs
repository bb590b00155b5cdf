//! The peering handshake of each simulated cloud: what a request turns into, what the
//! customer may do next, and how the platform's driver reads the result.
//!
//! - AWS: a request is `pending-acceptance` until the customer accepts (`active`) or
//!   rejects (`rejected`).
//! - GCP: our side is `INACTIVE` until the customer creates the reciprocal peering, then
//!   both sides are `ACTIVE`.
//! - Azure: nothing can happen until the customer grants our principal a role on their
//!   VNet; then the platform creates both sides and the peering is `Connected`. With
//!   gateway transit the hub side allows it and ours uses the remote gateway, so the
//!   transit routes (behind the customer's gateway) are reached; without, they are not.
//!   AWS and GCP peerings are non-transitive: a request with transit fails.
//!
//! A request for an unknown peer network, or one whose CIDR overlaps ours, fails at once
//! (AWS `failed`), with the reason in the message.

use isthmus_core::resources::{Peering, Provider};

use super::state::{derived_id, Phase, SimNetwork, SimPeering, SimState};
use super::{CustomerActionKind, SimError};
use crate::{PeeringObservation, PeeringState};

/// A fresh request for `peering` from the platform network `net`.
pub(crate) fn request(
    state: &SimState,
    net: &SimNetwork,
    peering: &Peering,
    attempt: u32,
) -> SimPeering {
    let cloud = net.cloud;
    let provider_peering_id = match cloud {
        // AWS names every request anew, even for a peering it has seen before.
        Provider::Aws => derived_id(
            "pcx",
            &format!(
                "{}/{attempt}/{}",
                peering.id,
                chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
            ),
        ),
        _ => isthmus_core::customer_actions::peering_name(peering),
    };
    let (phase, message) = match refusal(state, net, peering) {
        Some(why) => (Phase::Failed, why),
        None => (
            Phase::Pending,
            pending_message(cloud, &provider_peering_id, peering),
        ),
    };
    SimPeering {
        id: peering.id,
        cloud,
        provider_peering_id,
        network_id: net.id,
        peer: peering.peer.clone(),
        phase,
        message,
        routes: routes_of(peering),
        transit_routes: transit_routes_of(peering),
        allow_gateway_transit: peering.allow_gateway_transit,
        attempt,
    }
}

pub(crate) fn routes_of(peering: &Peering) -> Vec<String> {
    peering.routes.iter().map(|r| r.to_string()).collect()
}

pub(crate) fn transit_routes_of(peering: &Peering) -> Vec<String> {
    peering
        .transit_routes
        .iter()
        .map(|r| r.to_string())
        .collect()
}

/// Whether the live connection `p` already carries what `peering` asks for.
pub(crate) fn same_spec(p: &SimPeering, peering: &Peering) -> bool {
    p.routes == routes_of(peering)
        && p.transit_routes == transit_routes_of(peering)
        && p.allow_gateway_transit == peering.allow_gateway_transit
}

/// `p` carrying the routes and gateway-transit setting of `peering`.
pub(crate) fn with_spec(p: &SimPeering, peering: &Peering) -> SimPeering {
    let mut next = p.clone();
    next.routes = routes_of(peering);
    next.transit_routes = transit_routes_of(peering);
    next.allow_gateway_transit = peering.allow_gateway_transit;
    if next.cloud == Provider::Azure && next.phase == Phase::Active {
        next.message = connected_message(&next);
    }
    next
}

/// Azure's word for a connected peering, saying whether it uses the customer's gateway.
fn connected_message(p: &SimPeering) -> String {
    let base = format!(
        "{} is Connected: the platform created both sides after the role grant",
        p.provider_peering_id
    );
    if p.allow_gateway_transit {
        format!(
            "{base}; the hub side allows gateway transit and ours uses remote gateways, so \
             {} behind VNet {}'s gateway {} reached",
            p.transit_routes.join(", "),
            p.peer.network_id,
            if p.transit_routes.len() == 1 {
                "is"
            } else {
                "are"
            }
        )
    } else {
        base
    }
}

/// Why the cloud refuses the request, if it does.
fn refusal(state: &SimState, net: &SimNetwork, peering: &Peering) -> Option<String> {
    let peer = &peering.peer;
    // The core refuses these already; a cloud that cannot carry transit says so too.
    let transit = !peering.transit_routes.is_empty() || peering.allow_gateway_transit;
    if transit && matches!(net.cloud, Provider::Aws | Provider::Gcp) {
        return Some(format!(
            "{} peering is non-transitive: it carries no traffic through the peer's gateway",
            net.cloud
        ));
    }
    let key = SimState::vpc_key(net.cloud, &peer.account_id, &peer.network_id);
    let Some(vpc) = state.vpcs.get(&key) else {
        return Some(format!(
            "{} network {} does not exist in account {}",
            net.cloud, peer.network_id, peer.account_id
        ));
    };
    if vpc.region != peer.region {
        return Some(format!(
            "{} network {} is in region {}, not {}",
            net.cloud, peer.network_id, vpc.region, peer.region
        ));
    }
    match vpc.cidr_block.parse::<isthmus_core::Cidr>() {
        Ok(cidr) if cidr.overlaps(&net.cidr_block) => Some(format!(
            "peer network {} CIDR {} overlaps the platform network CIDR {}",
            peer.network_id, cidr, net.cidr_block
        )),
        Ok(_) => None,
        Err(e) => Some(format!(
            "peer network {} has an unusable CIDR: {e}",
            peer.network_id
        )),
    }
}

fn pending_message(cloud: Provider, provider_id: &str, peering: &Peering) -> String {
    let peer = &peering.peer;
    match cloud {
        Provider::Aws => format!(
            "{provider_id} is pending-acceptance: the owner of account {} accepts it in {}",
            peer.account_id, peer.region
        ),
        Provider::Gcp => format!(
            "{provider_id} is INACTIVE: waiting for the reciprocal peering from network {} of project {}",
            peer.network_id, peer.account_id
        ),
        _ => format!(
            "waiting for the role grant on VNet {} so the platform can create both sides",
            peer.network_id
        ),
    }
}

/// What the customer's `action` does to `p`, or why it cannot be done.
pub(crate) fn customer_action(
    p: &SimPeering,
    action: CustomerActionKind,
) -> Result<SimPeering, SimError> {
    use CustomerActionKind::*;
    let offered = match p.cloud {
        Provider::Aws => [Accept, Reject, DeletePeerSide].contains(&action),
        Provider::Gcp => [CreateReciprocal, Reject, DeletePeerSide].contains(&action),
        Provider::Azure => [GrantRole, Reject, DeletePeerSide].contains(&action),
        Provider::Local => false,
    };
    if !offered {
        return Err(SimError::Conflict(format!(
            "{} has no '{}' for a peering ({})",
            p.cloud,
            action_name(action),
            match p.cloud {
                Provider::Aws => "the customer accepts or rejects the connection",
                Provider::Gcp => "the customer creates the reciprocal peering",
                Provider::Azure => "the customer grants the platform a role on the VNet",
                Provider::Local => "the local provider has no customer side here",
            }
        )));
    }
    let required = match action {
        DeletePeerSide => Phase::Active,
        _ => Phase::Pending,
    };
    if p.phase != required {
        return Err(SimError::Conflict(format!(
            "{} {} is {}: '{}' needs it to be {}",
            p.cloud,
            p.provider_peering_id,
            p.state_word(),
            action_name(action),
            SimPeering {
                phase: required,
                ..p.clone()
            }
            .state_word()
        )));
    }
    let mut next = p.clone();
    let (phase, message) = match action {
        Accept => (
            Phase::Active,
            format!("{} is active", p.provider_peering_id),
        ),
        CreateReciprocal => (
            Phase::Active,
            format!(
                "{} is ACTIVE: the reciprocal peering exists",
                p.provider_peering_id
            ),
        ),
        GrantRole => (Phase::Active, connected_message(p)),
        Reject => (
            Phase::Rejected,
            format!("the customer rejected {}", p.provider_peering_id),
        ),
        DeletePeerSide => (
            Phase::PeerDeleted,
            format!(
                "the customer deleted their side of {}",
                p.provider_peering_id
            ),
        ),
    };
    next.phase = phase;
    next.message = message;
    Ok(next)
}

pub(crate) fn action_name(action: CustomerActionKind) -> &'static str {
    match action {
        CustomerActionKind::Accept => "accept",
        CustomerActionKind::Reject => "reject",
        CustomerActionKind::DeletePeerSide => "delete-peer-side",
        CustomerActionKind::CreateReciprocal => "create-reciprocal",
        CustomerActionKind::GrantRole => "grant-role",
    }
}

/// How the platform's driver reads a connection.
pub(crate) fn observation(p: &SimPeering) -> PeeringObservation {
    let state = match p.phase {
        Phase::Pending if p.cloud == Provider::Aws => PeeringState::PendingAcceptance,
        Phase::Pending => PeeringState::PendingPeer,
        Phase::Active => PeeringState::Active,
        Phase::Failed => PeeringState::Invalid,
        Phase::Rejected => PeeringState::RejectedByPeer,
        Phase::PeerDeleted => PeeringState::DeletedByPeer,
    };
    PeeringObservation {
        state,
        provider_peering_id: Some(p.provider_peering_id.clone()),
        message: p.message.clone(),
    }
}
