//! The VPN kinds' rules: what a gateway's client range may be, one gateway per network,
//! what a client may be granted and for how long, and what its config routes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{Duration, TimeZone, Utc};

use super::vpn_client::*;
use super::vpn_config::*;
use super::vpn_gateway::*;
use crate::object::{Object, OnOwnerDelete, Settled, StatusMachine};
use crate::resources::*;
use crate::rules;
use crate::wg_key::WgKey;
use crate::{CoreError, Id, ProjectId};

fn id<T: From<Id>>() -> T {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let [a, b, c, d] = NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes();
    T::from(Id::from_parts(1_700_000_000, [a, b, c, d, 0, 0, 0, 7]))
}

fn project() -> ProjectId {
    ProjectId::from(Id::from_parts(1_700_000_000, [0, 0, 0, 0, 0, 0, 0, 1]))
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
}

fn network(cidr: &str) -> Network {
    let req = NetworkCreate {
        name: "platform".into(),
        provider: Provider::Local,
        region: "local".into(),
        cidr_block: cidr.into(),
    };
    rules::new_network(id(), project(), &req, &[], now()).unwrap()
}

fn cluster(network: &Network, topology: Topology) -> Cluster {
    let req = ClusterCreate {
        private_allowlist: None,
        name: "orders".into(),
        network_id: network.id.to_string(),
        engine: "probe".into(),
        topology,
        public_access: None,
        egress_allowlist: None,
    };
    rules::new_cluster(
        id(),
        project(),
        &req,
        network,
        &HashSet::new(),
        "isthmus.internal",
        now(),
    )
    .unwrap()
}

fn gateway_req(cidr: &str) -> VpnGatewayCreate {
    VpnGatewayCreate {
        name: "laptops".into(),
        network_id: String::new(),
        client_cidr: cidr.into(),
        dns: VpnDns::Push,
        max_client_days: None,
    }
}

fn gateway(net: &Network, cidr: &str) -> Result<VpnGateway, CoreError> {
    new_vpn_gateway(
        id(),
        project(),
        &gateway_req(cidr),
        net,
        &[],
        &[],
        &[],
        now(),
    )
}

fn field_rule(e: CoreError) -> (String, String) {
    match e {
        CoreError::Invalid(errors) => (errors[0].field.clone(), errors[0].rule.clone()),
        other => panic!("expected a 422, got {other:?}"),
    }
}

fn key(n: u8) -> WgKey {
    WgKey::from_bytes([n; 32])
}

fn client_req(grants: Vec<VpnGrantRequest>) -> VpnClientCreate {
    VpnClientCreate {
        name: "ada".into(),
        gateway_id: String::new(),
        public_key: Some(key(1).to_string()),
        grants,
        expires_at: None,
    }
}

fn grant(c: &Cluster, ports: &[u16]) -> VpnGrantRequest {
    VpnGrantRequest {
        cluster_id: c.id.to_string(),
        ports: ports.to_vec(),
    }
}

#[test]
fn a_client_range_is_private_and_collides_with_nothing_the_network_routes() {
    let net = network("10.0.0.0/16");
    assert!(gateway(&net, "100.64.0.0/24").is_ok());
    assert_eq!(
        field_rule(gateway(&net, "8.8.8.0/24").unwrap_err()),
        ("client_cidr".into(), "private-range".into())
    );
    assert_eq!(
        field_rule(gateway(&net, "10.0.5.0/24").unwrap_err()),
        ("client_cidr".into(), "no-overlap".into())
    );
    assert_eq!(
        field_rule(gateway(&net, "100.64.0.0/30").unwrap_err()).1,
        "prefix-length"
    );
    // A peering's route, and another gateway's range in the project.
    let peering = rules::new_peering(
        id(),
        project(),
        &PeeringCreate {
            name: "office".into(),
            network_id: net.id.to_string(),
            peer: PeerSpec {
                account_id: "lab".into(),
                network_id: "office".into(),
                region: "local".into(),
            },
            routes: vec!["192.168.0.0/16".into()],
            transit_routes: vec![],
            allow_gateway_transit: false,
        },
        &net,
        &[],
        now(),
    )
    .unwrap();
    let e = new_vpn_gateway(
        id(),
        project(),
        &gateway_req("192.168.7.0/24"),
        &net,
        &[peering],
        &[],
        &[],
        now(),
    );
    assert!(format!("{}", e.unwrap_err()).contains("peering"));
    let other_net = network("10.1.0.0/16");
    let other = gateway(&other_net, "100.64.0.0/22").unwrap();
    let e = new_vpn_gateway(
        id(),
        project(),
        &gateway_req("100.64.1.0/24"),
        &net,
        &[],
        &[],
        &[other],
        now(),
    );
    assert_eq!(
        field_rule(e.unwrap_err()),
        ("client_cidr".into(), "no-overlap".into())
    );
}

#[test]
fn a_network_has_at_most_one_gateway() {
    let net = network("10.0.0.0/16");
    let first = gateway(&net, "100.64.0.0/24").unwrap();
    let e = new_vpn_gateway(
        id(),
        project(),
        &gateway_req("100.65.0.0/24"),
        &net,
        &[],
        &[first],
        &[],
        now(),
    );
    assert!(
        matches!(e, Err(CoreError::Conflict { ref rule, .. }) if rule == "one-gateway-per-network"),
        "{e:?}"
    );
}

#[test]
fn a_gateway_goes_with_its_network_and_its_clients_with_it() {
    let gw = VpnGateway::INFO.owner.unwrap();
    assert_eq!((gw.kind, gw.on_delete), ("network", OnOwnerDelete::Cascade));
    let c = VpnClient::INFO.owner.unwrap();
    assert_eq!((c.kind, c.field), ("vpn_gateway", "gateway_id"));
    for s in VpnGatewayStatus::ALL {
        let _ = s.phase();
        if s.is_live() && *s != VpnGatewayStatus::Deleting {
            assert!(
                s.allowed_next().contains(&VpnGatewayStatus::Deleting),
                "{s}"
            );
        }
    }
    // One word per status, in the JSON and everywhere else (the console, the CLI, the
    // store's liveness): a revocation is the client's deletion.
    for s in VpnClientStatus::ALL {
        assert_eq!(serde_json::to_value(s).unwrap(), s.as_str(), "{s:?}");
    }
    assert_eq!(VpnClientStatus::Deleting.phase(), Settled::Moving);
    assert_eq!(VpnClientStatus::ERROR.phase(), Settled::Failed);
    for s in VpnClientStatus::ALL {
        if s.is_live() && *s != VpnClientStatus::Deleting {
            assert!(s.allowed_next().contains(&VpnClientStatus::Deleting), "{s}");
        }
    }
}

#[test]
fn a_client_gets_the_next_free_address_and_grants_only_on_its_network() {
    let net = network("10.0.0.0/16");
    let gw = gateway(&net, "100.64.0.0/24").unwrap();
    let db = cluster(&net, Topology::ThreeNodeMultiZone);
    let elsewhere = cluster(&network("10.1.0.0/16"), Topology::SingleNode);
    let a = new_vpn_client(
        id(),
        project(),
        &client_req(vec![grant(&db, &[5432, 5432])]),
        None,
        &gw,
        std::slice::from_ref(&db),
        &[],
        now(),
    )
    .unwrap();
    assert_eq!(
        a.address.to_string(),
        "100.64.0.2",
        "after the gateway's own .1"
    );
    assert_eq!(a.grants[0].ports, vec![5432]);
    assert_eq!(
        a.expires_at,
        now() + Duration::days(90),
        "keys expire by default"
    );
    let mut req = client_req(vec![]);
    req.public_key = Some(key(2).to_string());
    let b = new_vpn_client(
        id(),
        project(),
        &req,
        None,
        &gw,
        std::slice::from_ref(&db),
        std::slice::from_ref(&a),
        now(),
    )
    .unwrap();
    assert_eq!(b.address.to_string(), "100.64.0.3");

    let e = new_vpn_client(
        id(),
        project(),
        &client_req(vec![grant(&elsewhere, &[5432])]),
        None,
        &gw,
        std::slice::from_ref(&db),
        &[],
        now(),
    );
    assert_eq!(
        field_rule(e.unwrap_err()),
        ("grants[0].cluster_id".into(), "same-network".into())
    );
    let mut req = client_req(vec![]);
    req.public_key = Some("not-a-key".into());
    let e = new_vpn_client(id(), project(), &req, None, &gw, &[], &[], now());
    assert_eq!(
        field_rule(e.unwrap_err()),
        ("public_key".into(), "wireguard-key".into())
    );
    let mut req = client_req(vec![]);
    req.expires_at = Some(now() + Duration::days(91));
    let e = new_vpn_client(id(), project(), &req, None, &gw, &[], &[], now());
    assert_eq!(
        field_rule(e.unwrap_err()),
        ("expires_at".into(), "max-lifetime".into())
    );
    // The same key twice on one gateway is a conflict; without a key, the generated one.
    let e = new_vpn_client(
        id(),
        project(),
        &client_req(vec![]),
        None,
        &gw,
        &[],
        std::slice::from_ref(&a),
        now(),
    );
    assert!(matches!(e, Err(CoreError::Conflict { .. })));
    let mut req = client_req(vec![]);
    req.public_key = None;
    let c = new_vpn_client(id(), project(), &req, Some(key(9)), &gw, &[], &[a], now()).unwrap();
    assert_eq!(c.public_key, key(9));
}

#[test]
fn rotation_keeps_the_address_and_grants() {
    let net = network("10.0.0.0/16");
    let gw = gateway(&net, "100.64.0.0/24").unwrap();
    let db = cluster(&net, Topology::SingleNode);
    let a = new_vpn_client(
        id(),
        project(),
        &client_req(vec![grant(&db, &[5432])]),
        None,
        &gw,
        std::slice::from_ref(&db),
        &[],
        now(),
    )
    .unwrap();
    let req = VpnClientUpdate {
        public_key: Some(key(5).to_string()),
        ..Default::default()
    };
    let b = update_vpn_client(&a, &req, &[db], now()).unwrap();
    assert_eq!((b.address, &b.grants), (a.address, &a.grants));
    assert_eq!(b.public_key, key(5));
    assert_eq!(b.generation, a.generation + 1);
}

#[test]
fn the_config_routes_exactly_the_granted_nodes_and_the_resolver() {
    let net = network("10.0.0.0/16");
    let mut gw = gateway(&net, "100.64.0.0/24").unwrap();
    gw.public_key = Some(key(3));
    gw.endpoint = Some("198.18.0.5:51820".into());
    let db = cluster(&net, Topology::ThreeNodeMultiZone);
    let a = new_vpn_client(
        id(),
        project(),
        &client_req(vec![grant(&db, &[5432])]),
        None,
        &gw,
        std::slice::from_ref(&db),
        &[],
        now(),
    )
    .unwrap();
    let text = wg_quick_config(
        &gw,
        &a,
        std::slice::from_ref(&db),
        "isthmus.internal",
        Some(&key(1)),
    );
    let allowed = text
        .lines()
        .find_map(|l| l.strip_prefix("AllowedIPs = "))
        .unwrap();
    let expected: Vec<String> =
        covering_prefixes(db.nodes.iter().map(|n| n.ip).chain([gw.tunnel_address()]))
            .iter()
            .map(|c| c.to_string())
            .collect();
    assert_eq!(allowed, expected.join(", "));
    assert!(
        !allowed.contains("10.0.0.0/16"),
        "never the whole network: {allowed}"
    );
    assert!(
        text.contains("DNS = 100.64.0.1, isthmus.internal"),
        "{text}"
    );
    assert!(text.contains(&format!("PrivateKey = {}", key(1))));
    assert!(text.contains("Endpoint = 198.18.0.5:51820"));
    assert_eq!(granted_destinations(&a, &[db]).len(), 3);
}

#[test]
fn the_cover_is_exact_and_small() {
    let ips = |v: &[&str]| {
        v.iter()
            .map(|s| s.parse().unwrap())
            .collect::<Vec<std::net::Ipv4Addr>>()
    };
    let cover = |v: &[&str]| {
        covering_prefixes(ips(v))
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cover(&["10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7"]),
        vec!["10.0.0.4/30"]
    );
    assert_eq!(
        cover(&["10.0.0.5", "10.0.0.6"]),
        vec!["10.0.0.5/32", "10.0.0.6/32"]
    );
    assert_eq!(
        cover(&["10.0.0.9", "10.0.0.8", "10.0.0.10"]),
        vec!["10.0.0.8/31", "10.0.0.10/32"]
    );
    assert!(cover(&[]).is_empty());
}

#[test]
fn a_client_is_connected_after_a_recent_handshake_and_expired_when_its_time_is_up() {
    let net = network("10.0.0.0/16");
    let gw = gateway(&net, "100.64.0.0/24").unwrap();
    let a = new_vpn_client(
        id(),
        project(),
        &client_req(vec![]),
        None,
        &gw,
        &[],
        &[],
        now(),
    )
    .unwrap();
    assert_eq!(client_state(&a, None, now()), VpnClientStatus::Pending);
    assert_eq!(
        client_state(&a, Some(now()), now() + Duration::seconds(30)),
        VpnClientStatus::Connected
    );
    assert_eq!(
        client_state(&a, Some(now()), now() + Duration::minutes(10)),
        VpnClientStatus::Idle
    );
    assert_eq!(
        client_state(&a, Some(now()), a.expires_at),
        VpnClientStatus::Expired
    );
}
