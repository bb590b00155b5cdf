//! Lab endpoints on real namespaces: a lab host reaches every node through the endpoint
//! address only while its connection is available, whatever the two networks' addresses;
//! rejecting it, removing its principal or deleting it cuts established connections; the
//! platform never connects into the lab VPC. Run as root: `cargo test -p
//! isthmus-driver-local --test endpoint`.

mod common;

use std::net::{Ipv4Addr, SocketAddr};

use chrono::Utc;
use common::*;
use isthmus_core::kinds::endpoint_connection::{merge_observed, ConnectionStatus, Decision};
use isthmus_core::kinds::endpoint_service::{EndpointService, EndpointServiceStatus};
use isthmus_core::resources::{Cluster, Provider};
use isthmus_driver::Provisioner;
use isthmus_driver_local::probe::{self, EchoServer};
use isthmus_driver_local::{LabHostSpec, LabVpcSpec, LocalDriver};

const PORT: u16 = 8443; // the `probe` engine's port

fn service(cluster: &Cluster, principals: &[&str], acceptance_required: bool) -> EndpointService {
    let now = Utc::now();
    EndpointService {
        id: new_id().into(),
        project_id: cluster.project_id,
        name: "db-endpoint".into(),
        cluster_id: cluster.id,
        provider: Provider::Local,
        region: "local".into(),
        allowed_principals: principals.iter().map(|p| p.to_string()).collect(),
        acceptance_required,
        service_name: format!("isthmus.local.{}", cluster.id),
        cluster_dns_name: cluster.dns_name.clone(),
        connections: vec![],
        customer_actions: vec![],
        warnings: vec![],
        status: EndpointServiceStatus::Provisioning,
        status_message: String::new(),
        generation: 1,
        observed_generation: 0,
        conditions: vec![],
        created_at: now,
        updated_at: now,
        version: 1,
    }
}

/// Runs one reconcile as the controller does (`ensure` after a spec change) and merges
/// what the provider reports into the service.
async fn reconcile(d: &LocalDriver, s: &mut EndpointService, c: &Cluster) {
    let seen = d.ensure(s, c).await.expect("ensure endpoint service");
    s.connections = merge_observed(
        Provider::Local,
        &s.id.to_string(),
        &s.connections,
        &seen.connections,
        Utc::now(),
    );
}

fn decide(s: &mut EndpointService, endpoint_id: &str, decision: Decision) {
    let c = s
        .connections
        .iter_mut()
        .find(|c| c.endpoint_id == endpoint_id)
        .expect("connection");
    c.decision = decision;
}

fn status_of(s: &EndpointService, endpoint_id: &str) -> ConnectionStatus {
    s.connections
        .iter()
        .find(|c| c.endpoint_id == endpoint_id)
        .expect("connection")
        .status
}

/// A network with a `probe` cluster whose nodes each greet with their index.
async fn platform(d: &LocalDriver, cidr: &str, ips: &[&str]) -> (Cluster, Vec<EchoServer>) {
    let net = network(cidr);
    let mut db = cluster(&net, ips);
    db.engine = "probe".into();
    d.ensure_network(&net).await.unwrap();
    d.ensure_nodes(&net, &db).await.unwrap();
    let servers = db
        .nodes
        .iter()
        .map(|n| {
            let ns = d.node_namespace(&db, n.index);
            let greeting = format!("node-{}", n.index).into_bytes();
            EchoServer::start_with_greeting(&ns, addr(n.ip, PORT), greeting).unwrap()
        })
        .collect();
    (db, servers)
}

async fn lab(d: &LocalDriver, name: &str, cidr_block: &str, app_ip: &str) -> String {
    let vpc = d
        .ensure_lab_vpc(&LabVpcSpec {
            name: name.into(),
            cidr: cidr(cidr_block),
            behind: None,
            hosts: vec![LabHostSpec {
                name: "app".into(),
                ip: Some(app_ip.parse().unwrap()),
            }],
        })
        .await
        .unwrap();
    vpc.hosts[0].namespace.clone()
}

/// No TCP connection can be opened from `from` to `to` (reset or silence).
fn refused(from: &str, to: SocketAddr) -> bool {
    probe::connect(from, to, DENIED_AFTER).is_err()
}

fn at(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

#[tokio::test(flavor = "multi_thread")]
async fn same_cidr_and_a_client_holding_a_nodes_address_reach_every_node_once_accepted() {
    let fx = Fixture::new("isthe1");
    let d = &fx.driver;
    let (db, _servers) =
        platform(d, "10.77.0.0/24", &["10.77.0.2", "10.77.0.3", "10.77.0.4"]).await;
    // The customer's VPC uses the platform's very CIDR, and its host holds node 0's address.
    let app = lab(d, "cust", "10.77.0.0/24", "10.77.0.2").await;
    let mut s = service(&db, &["cust"], true);
    let ep = d
        .create_lab_endpoint("cust", "db", &s.service_name, None)
        .await
        .unwrap();
    assert_eq!(ep.ip.to_string(), "10.77.0.254", "highest free lab address");

    reconcile(d, &mut s, &db).await;
    assert_eq!(
        status_of(&s, "cust/db"),
        ConnectionStatus::PendingAcceptance
    );
    for port in [PORT, PORT + 10_000] {
        assert!(
            refused(&app, at(ep.ip, port)),
            "pending: the endpoint refuses"
        );
    }

    decide(&mut s, "cust/db", Decision::Accepted);
    reconcile(d, &mut s, &db).await;
    assert_eq!(status_of(&s, "cust/db"), ConnectionStatus::Available);
    for i in 0..3u16 {
        assert_eq!(
            greeting_from(&app, at(ep.ip, PORT + 10_000 * (i + 1)), 6).as_deref(),
            Some(format!("node-{i}").as_str()),
            "node {i} behind its own port"
        );
    }
    let own = d.lab_endpoint("cust", "db").unwrap().node_ips;
    assert_eq!(own.len(), 3, "an address per node");
    for (i, ip) in own.iter().enumerate() {
        assert_eq!(
            greeting_from(&app, at(*ip, PORT), 6).as_deref(),
            Some(format!("node-{i}").as_str()),
            "node {i} at its own address {ip}"
        );
    }
    // The cluster port takes the nodes in turn.
    let mut answered: Vec<String> = (0..3)
        .filter_map(|_| greeting_from(&app, at(ep.ip, PORT), 6))
        .collect();
    answered.sort();
    assert_eq!(answered, ["node-0", "node-1", "node-2"], "round robin");

    // The platform cannot open anything into the lab VPC, by any address.
    let listener = EchoServer::start(&app, addr("10.77.0.2".parse().unwrap(), 9000)).unwrap();
    assert!(can_connect(&app, listener.addr), "the lab host listens");
    let nat = d
        .lab_endpoint("cust", "db")
        .unwrap()
        .nat_ip
        .expect("attached");
    let node1 = d.node_namespace(&db, 1);
    for target in [nat, ep.ip, "10.77.0.2".parse().unwrap()] {
        assert!(
            !can_connect(&node1, at(target, 9000)),
            "node 1 must not reach the lab host via {target}"
        );
    }
    drop(listener);

    // A resync changes nothing: no rule, address or route is added twice.
    // IPv4 only: the kernel gives each link an IPv6 link-local address on
    // its own time (DAD), which is not ours and would make this flaky.
    let ns = d.lab_endpoint("cust", "db").unwrap().namespace;
    let ip4 = |args: &[&str]| {
        let out = std::process::Command::new("ip")
            .args(["-4", "-n", &ns])
            .args(args)
            .output()
            .unwrap()
            .stdout;
        String::from_utf8_lossy(&out).into_owned()
    };
    let state = || {
        (
            ip4(&["-o", "addr"]),
            ip4(&["rule"]),
            ip4(&["route", "show", "table", "all"]),
        )
    };
    assert!(
        state().0.contains("lab0"),
        "the endpoint namespace has its lab leg"
    );
    let before = state();
    reconcile(d, &mut s, &db).await;
    assert_eq!(state(), before, "a second ensure is a no-op");

    let mut stream = probe::connect(&app, at(ep.ip, PORT + 10_000), DENIED_AFTER).unwrap();
    let mut greeting = [0u8; 6];
    std::io::Read::read_exact(&mut stream, &mut greeting).unwrap();
    assert!(still_carries(&mut stream, b"through the endpoint"));
    reconcile(d, &mut s, &db).await;
    let c = s
        .connections
        .iter()
        .find(|c| c.endpoint_id == "cust/db")
        .unwrap();
    assert!(c.connections >= 5, "counted connections: {}", c.connections);
    assert!(c.bytes > 0, "counted bytes");

    decide(&mut s, "cust/db", Decision::Rejected);
    reconcile(d, &mut s, &db).await;
    assert_eq!(status_of(&s, "cust/db"), ConnectionStatus::Rejected);
    assert!(
        !still_carries(&mut stream, b"after the reject"),
        "a reject cuts the established connection"
    );
    assert!(refused(&app, at(ep.ip, PORT)), "and refuses new ones");
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_the_principal_or_deleting_the_endpoint_cuts_its_flows() {
    let fx = Fixture::new("isthe2");
    let d = &fx.driver;
    let (db, _servers) = platform(d, "10.78.0.0/24", &["10.78.0.2"]).await;
    let app = lab(d, "cust", "172.30.5.0/24", "172.30.5.10").await;
    let mut s = service(&db, &["cust"], false);
    let ep = d
        .create_lab_endpoint(
            "cust",
            "a",
            &s.service_name,
            Some("172.30.5.50".parse().unwrap()),
        )
        .await
        .unwrap();
    reconcile(d, &mut s, &db).await;
    assert_eq!(
        status_of(&s, "cust/a"),
        ConnectionStatus::Available,
        "no acceptance required"
    );
    let mut stream = probe::connect(&app, at(ep.ip, PORT), DENIED_AFTER).unwrap();
    let mut greeting = [0u8; 6];
    std::io::Read::read_exact(&mut stream, &mut greeting).unwrap();
    assert!(still_carries(&mut stream, b"before"));

    s.allowed_principals.clear();
    reconcile(d, &mut s, &db).await;
    assert_eq!(status_of(&s, "cust/a"), ConnectionStatus::Rejected);
    assert!(
        !still_carries(&mut stream, b"after"),
        "principal removal cuts"
    );
    assert!(refused(&app, at(ep.ip, PORT)));

    s.allowed_principals = vec!["cust".into()];
    let other = d
        .create_lab_endpoint("cust", "b", &s.service_name, None)
        .await
        .unwrap();
    reconcile(d, &mut s, &db).await;
    assert_eq!(status_of(&s, "cust/b"), ConnectionStatus::Available);
    let mut stream = probe::connect(&app, at(other.ip, PORT), DENIED_AFTER).unwrap();
    std::io::Read::read_exact(&mut stream, &mut greeting).unwrap();
    assert!(still_carries(&mut stream, b"before"));
    assert!(d.delete_lab_endpoint("cust", "b").await.unwrap());
    assert!(
        !still_carries(&mut stream, b"after"),
        "deleting the endpoint cuts"
    );
    reconcile(d, &mut s, &db).await;
    assert_eq!(status_of(&s, "cust/b"), ConnectionStatus::Disconnected);
    assert!(refused(&app, at(other.ip, PORT)));
}

/// A node that lands on one of an endpoint's addresses (a node added later, on the same
/// CIDR) fails the connection, naming the way out, and closes the endpoint: its address
/// would be the namespace's own and the DNAT to that node would end there.
#[tokio::test(flavor = "multi_thread")]
async fn a_node_on_an_endpoints_address_fails_its_connection_with_the_way_out() {
    let fx = Fixture::new("isthy7");
    let d = &fx.driver;
    let (db, _servers) = platform(d, "10.78.0.0/24", &["10.78.0.2"]).await;
    let app = lab(d, "cust", "10.78.0.0/24", "10.78.0.20").await;
    let mut s = service(&db, &["cust"], false);
    let ep = d
        .create_lab_endpoint("cust", "db", &s.service_name, None)
        .await
        .unwrap();
    reconcile(d, &mut s, &db).await;
    assert_eq!(status_of(&s, "cust/db"), ConnectionStatus::Available);
    assert!(!refused(&app, at(ep.ip, PORT)), "open while available");

    // The cluster grows a node at the endpoint's address.
    let mut grown = db.clone();
    let mut node = grown.nodes[0].clone();
    (node.index, node.ip) = (1, ep.ip);
    grown.nodes.push(node);
    reconcile(d, &mut s, &grown).await;
    assert_eq!(status_of(&s, "cust/db"), ConnectionStatus::Failed);
    let c = &s.connections[0];
    assert!(
        c.status_message.contains("node 1's address")
            && c.status_message
                .contains("isthmus lab endpoint create cust db-2"),
        "{}",
        c.status_message
    );
    assert!(refused(&app, at(ep.ip, PORT)), "closed once failed");
}
