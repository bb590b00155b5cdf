//! The VPN path: allowed with a grant; denied with the grant to add, for an expired or
//! revoked client, a gateway that does not serve, another network's cluster.

use chrono::{Duration, Utc};

use super::tests::{fix, only, World};
use super::*;
use crate::kinds::vpn_client::{new_vpn_client, VpnClientCreate, VpnClientStatus, VpnGrantRequest};
use crate::kinds::vpn_gateway::{new_vpn_gateway, VpnGatewayCreate, VpnGatewayStatus};
use crate::resources::{Provider, Topology};
use crate::Id;

/// A local network with a running probe cluster, a ready gateway and client `alice`
/// granted the cluster's 8443; returns the world and the cluster id.
fn world() -> (World, ClusterId) {
    let mut w = World::new();
    let net = w.network(Provider::Local, "10.40.0.0/24");
    let cid = w.cluster(&net, Topology::SingleNode);
    let now = Utc::now();
    let req = VpnGatewayCreate {
        name: "laptops".into(),
        network_id: net.id.to_string(),
        client_cidr: "100.64.9.0/24".into(),
        dns: Default::default(),
        max_client_days: None,
    };
    let gid = Id::from_parts(1_700_000_000, [7, 7, 7, 7, 0, 0, 0, 1]).into();
    let mut g = new_vpn_gateway(gid, net.project_id, &req, &net, &[], &[], &[], now).unwrap();
    g.status = VpnGatewayStatus::Ready;
    g.endpoint = Some("198.19.255.1:51820".into());
    let clusters = w.snap.clusters.clone();
    let creq = VpnClientCreate {
        name: "alice".into(),
        gateway_id: g.id.to_string(),
        public_key: Some("/nlqB6EjEoqPW01/i7U/CsNCvCpzFwhvDV+i6tb77hg=".into()),
        grants: vec![VpnGrantRequest {
            cluster_id: cid.to_string(),
            ports: vec![8443],
        }],
        expires_at: None,
    };
    let client_id = Id::from_parts(1_700_000_000, [7, 7, 7, 7, 0, 0, 0, 2]).into();
    let client = new_vpn_client(
        client_id,
        net.project_id,
        &creq,
        None,
        &g,
        &clusters,
        &[],
        now,
    )
    .unwrap();
    w.snap.vpn_gateways.push(g);
    w.snap.vpn_clients.push(client);
    (w, cid)
}

#[test]
fn a_granted_port_is_allowed_through_the_tunnel_and_the_node_sees_the_client() {
    let (w, cid) = world();
    let r = w.reach("vpn/alice", &cid.to_string(), None);
    assert!(r.allowed, "{r:#?}");
    assert_eq!(r.port, 8443);
    let v = only(&r);
    assert!(v.explanation.contains("100.64.9.2"), "{}", v.explanation);
    assert!(
        matches!(v.hops.first(), Some(Hop::Source { ip, .. }) if ip.to_string() == "100.64.9.2")
    );
}

#[test]
fn an_ungranted_port_is_denied_with_the_grant_to_add_and_the_fix_works() {
    let (mut w, cid) = world();
    let r = w.reach("vpn/alice", &cid.to_string(), Some(9000));
    // 9000 is not served by the probe engine: that comes first.
    assert_eq!(only(&r).reason, Reason::PortNotServed);
    // An ungranted cluster: a second one on the same network.
    let net = w.snap.networks[0].clone();
    let other = w.cluster(&net, Topology::SingleNode);
    let r = w.reach("vpn/alice", &other.to_string(), None);
    let v = only(&r);
    assert_eq!(v.reason, Reason::VpnNotGranted);
    let f = fix(v);
    assert_eq!(
        f.actions,
        vec![FixAction::AddVpnGrant {
            client_id: w.snap.vpn_clients[0].id,
            cluster_id: other,
            port: 8443
        }]
    );
    assert_eq!(
        f.commands,
        vec![format!(
            "isthmus vpn client update {} --grant {cid}:8443 --grant {other}:8443",
            w.snap.vpn_clients[0].id
        )]
    );
    // Following the fix allows it.
    w.snap.vpn_clients[0]
        .grants
        .push(crate::kinds::vpn_client::VpnGrant {
            cluster_id: other,
            ports: vec![8443],
        });
    assert!(w.reach("vpn/alice", &other.to_string(), None).allowed);
}

#[test]
fn an_expired_or_revoked_client_and_a_gateway_not_serving_are_denied_and_say_so() {
    let (mut w, cid) = world();
    let to = cid.to_string();
    w.snap.vpn_clients[0].status = VpnClientStatus::Expired;
    w.snap.vpn_clients[0].expires_at = Utc::now() - Duration::hours(1);
    let v = only(&w.reach("vpn/alice", &to, None)).clone();
    assert_eq!(v.reason, Reason::VpnClientExpired);
    assert!(fix(&v).commands[0].starts_with("isthmus vpn client add "));
    w.snap.vpn_clients[0].status = VpnClientStatus::Deleted;
    assert_eq!(
        only(&w.reach("vpn/alice", &to, None)).reason,
        Reason::VpnClientRevoked
    );
    w.snap.vpn_clients[0].status = VpnClientStatus::Connected;
    w.snap.vpn_gateways[0].status = VpnGatewayStatus::Provisioning;
    let v = only(&w.reach("vpn/alice", &to, None)).clone();
    assert_eq!(v.reason, Reason::VpnGatewayNotReady);
    assert_eq!(
        fix(&v).commands,
        vec![format!(
            "isthmus vpn gateway wait {}",
            w.snap.vpn_gateways[0].id
        )]
    );
}

#[test]
fn a_cluster_of_another_network_has_no_route_and_unknown_clients_are_errors() {
    let (mut w, _) = world();
    let elsewhere = w.network(Provider::Local, "10.41.0.0/24");
    let far = w.cluster(&elsewhere, Topology::SingleNode);
    assert_eq!(
        only(&w.reach("vpn/alice", &far.to_string(), None)).reason,
        Reason::NoRoute
    );
    // No client `bob`: `vpn/bob` is a host of a lab VPC named `vpn`, and there is none.
    let err = ReachIndex::new(&w.snap)
        .analyze(&"vpn/bob".parse().unwrap(), &far.to_string(), None)
        .unwrap_err();
    assert!(matches!(err, ReachError::UnknownSource(_)), "{err}");
}
