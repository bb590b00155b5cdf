//! The controller's AWS scenarios with the real `aws` driver on moto's EC2: the handshake,
//! the customer accepting (as their own account), rejecting and deleting their side, a
//! routes update, deletes, drift, and restarts. They end in the states the simulator's
//! scenarios end in (crates/server/tests/controller.rs).

mod support;

use isthmus_core::resources::{Cluster, Network, Peering};
use isthmus_core::state::{ClusterStatus, NetworkStatus, NodeStatus, PeeringStatus};
use isthmus_driver::{PeeringState, Provisioner};
use isthmus_driver_aws::xml::{self, tag, Items, Tag};
use isthmus_driver_aws::{Params, TAG_NETWORK};
use serde::de::DeserializeOwned;
use support::*;

/// A `Describe*` call of the platform account, filtered to `net`'s resources by tag.
async fn describe<T: DeserializeOwned>(w: &World, action: &str, net: &Network) -> T {
    let by_network = Params::new().filters(&[("tag:isthmus:network-id", net.id.to_string())]);
    w.moto
        .platform()
        .call(REGION, action, &by_network)
        .await
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

/// Whether a resource's tags say it is `net`'s.
fn of(net: &Network, tags: &Items<Tag>) -> bool {
    tag(tags, TAG_NETWORK) == Some(net.id.to_string().as_str())
}

/// Our route table's routes through peering connections, as (destination, pcx).
async fn peering_routes(w: &World, net: &Network) -> Vec<(String, String)> {
    let tables: xml::DescribeRouteTables = describe(w, "DescribeRouteTables", net).await;
    let mut routes: Vec<(String, String)> = tables
        .route_table_set
        .item
        .iter()
        .filter(|t| of(net, &t.tag_set))
        .flat_map(|t| t.route_set.item.iter())
        .filter_map(|r| {
            r.vpc_peering_connection_id
                .clone()
                .map(|pcx| (r.destination_cidr_block.clone(), pcx))
        })
        .collect();
    routes.sort();
    routes
}

/// The sources our security group admits, as (cidr, description).
async fn ingress(w: &World, net: &Network) -> Vec<(String, String)> {
    let groups: xml::DescribeSecurityGroups = describe(w, "DescribeSecurityGroups", net).await;
    let mut rules: Vec<(String, String)> = groups
        .security_group_info
        .item
        .iter()
        .filter(|g| of(net, &g.tag_set))
        .flat_map(|g| g.ip_permissions.item.iter())
        .flat_map(|p| p.ip_ranges.item.iter())
        .map(|r| (r.cidr_ip.clone(), r.description.clone().unwrap_or_default()))
        .collect();
    rules.sort();
    rules
}

/// How many VPCs EC2 has for `net`.
async fn vpcs_of(w: &World, net: &Network) -> usize {
    let vpcs: xml::DescribeVpcs = describe(w, "DescribeVpcs", net).await;
    vpcs.vpc_set
        .item
        .iter()
        .filter(|v| of(net, &v.tag_set))
        .count()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_accept_by_the_customer_routes_and_admits_the_peer() {
    let w = World::new().await;
    let (net, p) = w.peered(&["192.168.1.0/24"]).await;

    let active_net = w.network_reaches(&net, NetworkStatus::Active).await;
    let vpc_id = active_net.provider_network_id.clone().expect("a VPC id");
    assert!(vpc_id.starts_with("vpc-"), "{vpc_id}");
    let subnets: xml::DescribeSubnets = describe(&w, "DescribeSubnets", &net).await;
    let mut zones: Vec<String> = subnets
        .subnet_set
        .item
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s.cidr_block,
                tag(&s.tag_set, "isthmus:zone").unwrap_or("?")
            )
        })
        .collect();
    zones.sort();
    assert_eq!(
        zones,
        [
            "10.20.0.0/18 eu-west-1a",
            "10.20.128.0/18 eu-west-1c",
            "10.20.192.0/18 eu-west-1a",
            "10.20.64.0/18 eu-west-1b",
        ]
    );

    let pending = w
        .peering_reaches(&p, PeeringStatus::PendingAcceptance)
        .await;
    let pcx = pending.provider_peering_id.clone().expect("a pcx id");
    assert!(pcx.starts_with("pcx-"), "{pcx}");
    assert!(
        pending.status_message.contains(CUSTOMER_ACCOUNT),
        "{}",
        pending.status_message
    );
    assert_eq!(peering_routes(&w, &net).await, vec![]);

    customer_does(&w.moto.customer(), "AcceptVpcPeeringConnection", &pcx).await;
    let active = w.peering_reaches(&p, PeeringStatus::Active).await;
    assert_eq!(active.provider_peering_id.as_deref(), Some(pcx.as_str()));
    assert_eq!(
        peering_routes(&w, &net).await,
        pairs(&[("192.168.1.0/24", &pcx)])
    );
    let description = format!("isthmus peering {}", p.id);
    assert_eq!(
        ingress(&w, &net).await,
        pairs(&[("192.168.1.0/24", &description)])
    );

    // Nodes: a network interface per node with its allocated address.
    let c = w.cluster(&net).await;
    let running = w.cluster_reaches(&c, ClusterStatus::Running).await;
    assert!(running
        .nodes
        .iter()
        .all(|n| n.status == NodeStatus::Running));
    let enis: xml::DescribeNetworkInterfaces = w
        .moto
        .platform()
        .call(REGION, "DescribeNetworkInterfaces", &Params::new())
        .await
        .unwrap();
    let mut ips: Vec<String> = enis
        .network_interface_set
        .item
        .iter()
        .filter(|e| tag(&e.tag_set, "isthmus:cluster-id") == Some(c.id.to_string().as_str()))
        .map(|e| e.private_ip_address.clone())
        .collect();
    ips.sort();
    let mut want: Vec<String> = running.nodes.iter().map(|n| n.ip.to_string()).collect();
    want.sort();
    assert_eq!(ips, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_request_is_rejected_by_peer() {
    let w = World::new().await;
    let (_, p) = w.peered(&["192.168.1.0/24"]).await;
    let pcx = w.pending_pcx(&p).await;

    customer_does(&w.moto.customer(), "RejectVpcPeeringConnection", &pcx).await;
    let rejected = w.peering_reaches(&p, PeeringStatus::RejectedByPeer).await;
    assert!(
        rejected.status_message.contains("the customer rejected"),
        "{}",
        rejected.status_message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_deleting_their_side_is_found_by_the_resync_and_our_routes_go() {
    let w = World::new().await;
    let (net, p) = w.peered(&["192.168.1.0/24"]).await;
    let pcx = w.accepted(&p).await;

    // Nobody enqueues the peering: only the periodic resync can notice.
    customer_does(&w.moto.customer(), "DeleteVpcPeeringConnection", &pcx).await;
    let drifted = w.peering_reaches(&p, PeeringStatus::DeletedByPeer).await;
    assert!(
        drifted.status_message.contains("deleted their side"),
        "{}",
        drifted.status_message
    );

    // Deleting ours takes the routes and rules that pointed at it down.
    w.delete::<Peering>(p.id.as_id()).await;
    w.peering_reaches(&p, PeeringStatus::Deleted).await;
    assert_eq!(peering_routes(&w, &net).await, vec![]);
    assert_eq!(ingress(&w, &net).await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routes_update_changes_exactly_what_differs_and_drift_is_restored() {
    let w = World::new().await;
    let (net, p) = w.peered(&["192.168.1.0/24", "192.168.2.0/24"]).await;
    let pcx = w.accepted(&p).await;

    w.set_routes(&p, &["192.168.2.0/24", "192.168.3.0/24"])
        .await;
    let updated = w.peering_reaches(&p, PeeringStatus::Active).await;
    assert_eq!(updated.provider_peering_id.as_deref(), Some(pcx.as_str()));
    let want = pairs(&[("192.168.2.0/24", &pcx), ("192.168.3.0/24", &pcx)]);
    w.eventually("the routes to follow the update", || async {
        (peering_routes(&w, &net).await == want).then_some(())
    })
    .await;
    let description = format!("isthmus peering {}", p.id);
    assert_eq!(
        ingress(&w, &net).await,
        pairs(&[
            ("192.168.2.0/24", &description),
            ("192.168.3.0/24", &description)
        ])
    );

    // Someone removes a route and a rule by hand: the resync puts them back.
    let tables: xml::DescribeRouteTables = describe(&w, "DescribeRouteTables", &net).await;
    let table = tables
        .route_table_set
        .item
        .iter()
        .find(|t| of(&net, &t.tag_set))
        .unwrap()
        .route_table_id
        .clone();
    raw(
        &w.moto.platform(),
        "DeleteRoute",
        Params::new()
            .set("RouteTableId", &table)
            .set("DestinationCidrBlock", "192.168.3.0/24"),
    )
    .await;
    assert_eq!(
        peering_routes(&w, &net).await,
        pairs(&[("192.168.2.0/24", &pcx)])
    );
    w.eventually("the resync to restore the route", || async {
        (peering_routes(&w, &net).await == want).then_some(())
    })
    .await;
    w.peering_reaches(&p, PeeringStatus::Active).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_network_takes_peerings_nodes_and_the_vpc_down() {
    let w = World::new().await;
    let (net, p) = w.peered(&["192.168.1.0/24"]).await;
    let pcx = w.accepted(&p).await;
    let c = w.cluster(&net).await;
    w.cluster_reaches(&c, ClusterStatus::Running).await;

    w.delete::<Cluster>(c.id.as_id()).await;
    w.cluster_reaches(&c, ClusterStatus::Deleted).await;
    w.delete::<Network>(net.id.as_id()).await;
    w.network_reaches(&net, NetworkStatus::Deleted).await;
    let deleted: Peering = w.get(p.id.as_id()).await;
    assert_eq!(deleted.status, PeeringStatus::Deleted);

    assert_eq!(vpcs_of(&w, &net).await, 0, "the VPC is gone");
    let connections = platform_connections(&w.moto.platform()).await;
    assert_eq!(connections, vec![(pcx, "deleted".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_peer_vpc_is_an_invalid_specification_with_ec2s_message() {
    let w = World::new().await;
    let net = w.network("10.20.0.0/16").await;
    let p = w
        .peering(&net, "app", "vpc-0dead000", &["192.168.1.0/24"])
        .await;
    let invalid = w
        .peering_reaches(&p, PeeringStatus::InvalidSpecification)
        .await;
    assert!(
        invalid.status_message.contains("InvalidVpcID.NotFound")
            && invalid.status_message.contains("vpc-0dead000"),
        "{}",
        invalid.status_message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_reconciling_converges_with_one_peering() {
    let mut w = World::new().await;
    let (net, p) = w.peered(&["192.168.1.0/24"]).await;
    // Crash while the network and peering are being made, more than once.
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        w.restart().await;
        w.wake::<Network>(net.id.0);
        w.wake::<Peering>(p.id.0);
    }
    let pcx = w.pending_pcx(&p).await;
    let connections = platform_connections(&w.moto.platform()).await;
    assert_eq!(
        connections,
        vec![(pcx.clone(), "pending-acceptance".into())]
    );
    assert_eq!(vpcs_of(&w, &net).await, 1, "one VPC for the network");

    w.restart().await;
    customer_does(&w.moto.customer(), "AcceptVpcPeeringConnection", &pcx).await;
    w.peering_reaches(&p, PeeringStatus::Active).await;
}

/// The request is made, then the server dies before it writes the status: the next
/// server adopts the connection by its tag and does not request a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_between_the_request_and_the_status_write_makes_no_second_peering() {
    let mut w = World::new().await;
    let vpc = customer_vpc(&w.moto.customer(), "192.168.0.0/16").await;
    let net = w.network("10.20.0.0/16").await;
    let net = w.network_reaches(&net, NetworkStatus::Active).await;
    w.crash().await;

    // The peering is stored, then the (dead) server's driver requests it; no status is
    // written.
    let p = w.peering(&net, "app", &vpc, &["192.168.1.0/24"]).await;
    let seen = w.moto.driver().ensure(&p, &net).await.unwrap();
    // EC2 answers a new request with `initiating-request`.
    assert!(
        matches!(
            seen.state,
            PeeringState::Requested | PeeringState::PendingAcceptance
        ),
        "{seen:?}"
    );
    let first = seen.provider_peering_id.unwrap();
    let stored: Peering = w.get(p.id.as_id()).await;
    assert_eq!(stored.status, PeeringStatus::Provisioning);
    assert_eq!(stored.provider_peering_id, None);

    w.restart().await;
    w.wake::<Peering>(p.id.0);
    let pending = w.pending_pcx(&p).await;
    assert_eq!(pending, first);
    assert_eq!(
        platform_connections(&w.moto.platform()).await,
        vec![(first, "pending-acceptance".to_string())]
    );
}
