//! What a local peering does not allow, end to end through the server: no transit for a
//! network routed through the peered lab VPC, no connections from nodes into the peered VPC
//! unless the cluster's egress allow-list names them, and a lab VPC deleted on the
//! customer's side shows as `deleted_by_peer`.

mod local_support;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use isthmus_driver_local::lab::{LabHostSpec, LabVpcSpec};
use isthmus_driver_local::probe::{self, EchoServer};
use isthmus_driver_local::{LocalConfig, LocalDriver};
use local_support::{eventually, node_ips, LocalLab, PORT};
use support::id_of;

/// The same lab VPC the server made, as the driver spec (to reach it from the test).
fn spec(name: &str, cidr: &str, host: &str, ip: &str) -> LabVpcSpec {
    LabVpcSpec {
        name: name.into(),
        cidr: cidr.parse().unwrap(),
        behind: None,
        hosts: vec![LabHostSpec {
            name: host.into(),
            ip: Some(ip.parse().unwrap()),
        }],
    }
}

#[test]
fn a_network_routed_through_the_peered_lab_vpc_gets_no_transit() {
    let mut lab = LocalLab::start("isths1");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    lab.lab_vpc("branch", "10.70.0.0/16", &[("far", "10.70.0.10")]);
    let network = lab.project_and_network("172.29.98.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let node_ip = node_ips(&cluster)[0].clone();
    let _listener = lab.listen_in_node(&id_of(&cluster), 0, node_ip.parse().unwrap());
    let peering = lab.peering(&network, "customer", &["172.16.0.0/16"]);
    assert_eq!(peering["status"], "active", "{peering:#}");

    // The customer links their branch to the peered VPC and routes the platform through it,
    // as a hub would (the lab API has no verb for this: the test does it with the driver).
    let customer_side = LocalDriver::new(LocalConfig {
        prefix: lab.prefix.clone(),
    })
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let customer = spec("customer", "172.16.0.0/16", "app", "172.16.0.10");
        customer_side.ensure_lab_vpc(&customer).await.unwrap();
        let branch = spec("branch", "10.70.0.0/16", "far", "10.70.0.10");
        customer_side.ensure_lab_vpc(&branch).await.unwrap();
        customer_side
            .link_lab_vpcs("customer", "branch")
            .await
            .unwrap();
        customer_side
            .route_lab_vpc_via("branch", "172.29.98.0/24".parse().unwrap(), "customer")
            .await
            .unwrap();
    });
    // The branch does reach the customer's VPC, so the path to the platform exists…
    let app_ns = lab.names.lab_host_ns("customer", "app");
    let _app = EchoServer::start(&app_ns, SocketAddr::from(([172, 16, 0, 10], PORT))).unwrap();
    assert!(
        lab.connects("branch/far", "172.16.0.10"),
        "branch → customer"
    );
    // …but the platform drops what does not come from the peering's routes.
    assert!(lab.connects("customer/app", &node_ip));
    assert!(
        !lab.connects("branch/far", &node_ip),
        "a source outside the peering's routes must not get through"
    );

    // The customer deletes their VPC: the peering shows it.
    lab.cli.ok("lab vpc delete customer");
    let gone = lab
        .cli
        .poll_status("peering", &id_of(&peering), &["deleted_by_peer"]);
    assert!(
        gone["status_message"]
            .as_str()
            .unwrap_or_default()
            .contains("customer"),
        "{gone:#}"
    );
}

#[test]
fn nodes_reach_into_the_peered_vpc_only_through_the_egress_allow_list() {
    let mut lab = LocalLab::start("isths2");
    lab.lab_vpc("customer", "172.16.0.0/16", &[("app", "172.16.0.10")]);
    let network = lab.project_and_network("172.29.98.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let cluster_id = id_of(&cluster);
    let peering = lab.peering(&network, "customer", &["172.16.0.0/16"]);
    assert_eq!(peering["status"], "active", "{peering:#}");
    let app_ns = lab.names.lab_host_ns("customer", "app");
    let app = SocketAddr::from(([172, 16, 0, 10], PORT));
    let _listener = EchoServer::start(&app_ns, app).unwrap();
    let node_ns = lab.names.node_ns(&cluster_id, 0);
    let timeout = Duration::from_millis(1500);

    assert!(
        probe::connect(&node_ns, app, timeout).is_err(),
        "by default a node cannot open connections into the peered VPC"
    );

    let project = lab.cli.project.clone().expect("project");
    let path = format!("/v1/projects/{project}/clusters/{cluster_id}");
    let body = r#"{"egress_allowlist":[{"cidr":"172.16.0.10/32","ports":[7000],"comment":"app"}]}"#;
    let status = http(&lab.cli.url, &lab.cli.token, "PATCH", &path, body);
    assert_eq!(status, 200, "PATCH egress_allowlist");
    eventually("the allow-list is applied", || {
        let c = lab.cli.json(&format!("cluster get {cluster_id}"));
        c["status"] == "running" && c["observed_generation"] == c["generation"]
    });
    eventually("the node connects to the allowed host and port", || {
        probe::connect(&node_ns, app, timeout).is_ok()
    });
    let other_port = SocketAddr::from(([172, 16, 0, 10], PORT + 1));
    let _other = EchoServer::start(&app_ns, other_port).unwrap();
    assert!(
        probe::connect(&node_ns, other_port, timeout).is_err(),
        "a port the allow-list does not name stays closed"
    );
}

/// One API request over plain HTTP/1.1 (the CLI has no egress verb yet); returns the status.
fn http(url: &str, token: &str, method: &str, path: &str, body: &str) -> u16 {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {answer}"))
}
