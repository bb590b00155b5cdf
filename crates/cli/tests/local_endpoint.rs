//! Private endpoints on the `local` provider, end to end through the real binary: a lab
//! endpoint is an address inside the customer's lab VPC that leads to every node of the
//! cluster once the operator accepts its connection, with TLS verified against each
//! node's name, even when the VPC uses the platform's very CIDR and the client holds a
//! node's address. Rejecting the connection, removing the principal and deleting the
//! endpoint cut established connections and refuse new ones; the platform never
//! connects into the lab VPC.

mod local_support;
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use isthmus_connect::pki::tls::client_config_trusting;
use isthmus_driver_local::probe::{self, EchoServer};
use local_support::{eventually, node_ips, LocalLab};
use serde_json::Value;
use support::{id_of, WAIT_TIMEOUT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

const PROBE_PORT: u16 = 8443;

/// Node `i`'s port behind the endpoint.
fn node_port(i: usize) -> u16 {
    PROBE_PORT + 10_000 * (i as u16 + 1)
}

/// A TLS session to a probe node (verified against the CA as `name`), opened from inside
/// a lab host's namespace and kept open across the test's changes.
struct Session {
    rt: tokio::runtime::Runtime,
    tls: BufReader<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
}

impl Session {
    fn open(ns: &str, addr: SocketAddr, name: &str, ca_pem: &str) -> Session {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let std_stream = probe::connect(ns, addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {addr} from {ns}: {e:#}"));
        std_stream.set_nonblocking(true).unwrap();
        let connector = TlsConnector::from(client_config_trusting(ca_pem).unwrap());
        let server = ServerName::try_from(name.to_string()).unwrap();
        let tls = rt.block_on(async {
            let tcp = tokio::net::TcpStream::from_std(std_stream).unwrap();
            connector
                .connect(server, tcp)
                .await
                .unwrap_or_else(|e| panic!("TLS to {addr} as {name}: {e}"))
        });
        Session {
            rt,
            tls: BufReader::new(tls),
        }
    }

    /// Asks the node who it is: its index, or `None` when the connection no longer
    /// carries anything.
    fn node_index(&mut self) -> Option<u64> {
        let tls = &mut self.tls;
        self.rt.block_on(async {
            let ask = async {
                tls.get_mut().write_all(b"who\n").await.ok()?;
                let mut line = String::new();
                tls.read_line(&mut line).await.ok()?;
                let reply: Value = serde_json::from_str(&line).ok()?;
                reply["node_index"].as_u64()
            };
            tokio::time::timeout(Duration::from_secs(3), ask)
                .await
                .ok()
                .flatten()
        })
    }
}

/// A TLS handshake from lab host `target` to `ip:port`, verifying the certificate against
/// `ca` as `name` (openssl inside the host, through `isthmus lab exec`).
fn verified(lab: &LocalLab, target: &str, ca: &Path, ip: &str, port: u16, name: &str) -> bool {
    let connect = format!("{ip}:{port}");
    let ca = ca.display().to_string();
    let run = lab.lab_exec(
        target,
        &[
            "timeout",
            "10",
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-servername",
            name,
            "-verify_hostname",
            name,
            "-CAfile",
            &ca,
            "-verify_return_error",
        ],
    );
    run.code == Some(0)
}

/// Polls the service's connections until `endpoint_id`'s is in `status`; returns it.
fn connection(lab: &LocalLab, service: &str, endpoint_id: &str, status: &str) -> Value {
    let mut found = Value::Null;
    eventually(&format!("{endpoint_id} is {status}"), || {
        let list = lab
            .cli
            .json(&format!("endpoint-service connections {service}"));
        found = list
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["endpoint_id"] == endpoint_id)
            .cloned()
            .unwrap_or(Value::Null);
        found["status"] == status
    });
    found
}

fn node_names(cluster: &Value) -> Vec<String> {
    cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["dns_name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_accepted_endpoint_leads_to_every_node_with_tls_even_on_the_same_cidr_and_address() {
    let mut lab = LocalLab::start("isthe3");
    let network = lab.project_and_network("10.79.0.0/24");
    let cluster = lab.cluster(&network, "three-node-multi-zone");
    let cluster_id = id_of(&cluster);
    let (ips, names) = (node_ips(&cluster), node_names(&cluster));
    // The customer's VPC is the platform's CIDR, and its host holds node 0's address.
    lab.lab_vpc("customer", "10.79.0.0/24", &[("app", &ips[0])]);
    lab.lab_vpc("stranger", "10.80.0.0/24", &[("box", "10.80.0.10")]);
    let ca = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca.display()));
    let ca_pem = std::fs::read_to_string(&ca).unwrap();

    let service = lab.cli.json(&format!(
        "endpoint-service create db-pl --cluster {cluster_id} --principal customer \
         --wait --timeout {WAIT_TIMEOUT}"
    ));
    let sid = id_of(&service);
    let service_name = service["service_name"].as_str().unwrap().to_string();
    let refused = lab.cli.fails(&format!(
        "lab endpoint create stranger db --service {service_name}"
    ));
    assert!(refused.contains("not an allowed principal"), "{refused}");
    let unknown = lab
        .cli
        .fails("lab endpoint create customer db --service isthmus.local.nothing");
    assert!(unknown.contains("no endpoint service"), "{unknown}");

    let ep = lab.cli.json(&format!(
        "lab endpoint create customer db --service {service_name}"
    ));
    let ip = ep["ip"].as_str().unwrap().to_string();
    assert_eq!(ip, "10.79.0.254", "{ep:#}");
    let pending = connection(&lab, &sid, "customer/db", "pending_acceptance");
    for port in [PROBE_PORT, node_port(0)] {
        assert!(
            !lab.connects_to("customer/app", &ip, port),
            "pending: {ip}:{port} refuses"
        );
    }

    let cid = pending["id"].as_str().unwrap();
    lab.cli.ok(&format!("endpoint-service accept {sid} {cid}"));
    connection(&lab, &sid, "customer/db", "available");
    for (i, name) in names.iter().enumerate() {
        assert!(
            verified(&lab, "customer/app", &ca, &ip, node_port(i), name),
            "node {i} over TLS as {name} through {ip}:{}",
            node_port(i)
        );
    }
    assert!(
        lab.connects_to("customer/app", &ip, PROBE_PORT),
        "the cluster port"
    );

    // Inside the VPC the cluster's names lead to the endpoint: the cluster name to its
    // address, each node's name to the endpoint's address of that node, and TLS verifies
    // each node by its name there. Another VPC still gets the nodes' own addresses.
    let node_ips: Vec<String> = lab.cli.json("lab endpoint list")[0]["node_ips"]
        .as_array()
        .expect("node_ips")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(node_ips.len(), 3);
    let cluster_name = cluster["dns_name"].as_str().unwrap();
    eventually("the cluster name resolves to the endpoint", || {
        lab.resolve_on("customer/app", cluster_name) == Some(vec![ip.clone()])
    });
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            lab.resolve_on("customer/app", name),
            Some(vec![node_ips[i].clone()]),
            "{name}"
        );
        assert!(
            verified(&lab, "customer/app", &ca, name, PROBE_PORT, name),
            "node {i} over TLS by its name through the endpoint"
        );
    }
    let mut all = ips.clone();
    all.sort();
    assert_eq!(lab.resolve_on("stranger/box", cluster_name), Some(all));
    assert!(
        !lab.connects_to("stranger/box", &ip, PROBE_PORT),
        "another VPC has no route to the endpoint"
    );

    // The platform cannot open a connection into the lab VPC, by any address.
    let app_ns = lab.names.lab_host_ns("customer", "app");
    let listener = EchoServer::start(&app_ns, SocketAddr::new(ips[0].parse().unwrap(), 9000))
        .expect("listener in the lab host");
    assert!(lab.connects_to("customer/app", &ips[0], 9000), "it listens");
    let nat = lab.cli.json("lab endpoint list")[0]["nat_ip"]
        .as_str()
        .expect("attached to the platform")
        .to_string();
    let node1 = lab.names.node_ns(&cluster_id, 1);
    for target in [&nat, &ip, &ips[0]] {
        let to = SocketAddr::new(target.parse().unwrap(), 9000);
        assert!(
            probe::connect(&node1, to, Duration::from_millis(1500)).is_err(),
            "node 1 reached the lab host through {target}"
        );
    }
    drop(listener);

    let to_node0 = SocketAddr::new(ip.parse().unwrap(), node_port(0));
    let mut session = Session::open(&app_ns, to_node0, &names[0], &ca_pem);
    assert_eq!(session.node_index(), Some(0));
    // A spec change makes the controller look again: the counters are on the connection.
    lab.cli.ok(&format!(
        "endpoint-service update {sid} --principal customer"
    ));
    eventually("the connection counts its traffic", || {
        let c = connection(&lab, &sid, "customer/db", "available");
        c["connections"].as_u64() >= Some(5) && c["bytes"].as_u64() > Some(0)
    });

    let out = lab.cli.run(&format!("endpoint-service reject {sid} {cid}"));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("cut"), "the warning: {}", out.stderr);
    connection(&lab, &sid, "customer/db", "rejected");
    assert_eq!(session.node_index(), None, "the reject cut the session");
    assert!(!lab.connects_to("customer/app", &ip, node_port(0)));
}

#[test]
fn removing_the_principal_or_deleting_the_endpoint_cuts_established_connections() {
    let mut lab = LocalLab::start("isthe4");
    let network = lab.project_and_network("10.81.0.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let cluster_id = id_of(&cluster);
    let name = node_names(&cluster)[0].clone();
    lab.lab_vpc("customer", "172.31.9.0/24", &[("app", "172.31.9.10")]);
    let ca = lab.sandbox.home.path().join("isthmus-ca.pem");
    lab.cli.ok(&format!("ca get -f {}", ca.display()));
    let ca_pem = std::fs::read_to_string(&ca).unwrap();
    let app_ns = lab.names.lab_host_ns("customer", "app");
    let service = lab.cli.json(&format!(
        "endpoint-service create db-pl --cluster {cluster_id} --principal customer \
         --no-acceptance --wait --timeout {WAIT_TIMEOUT}"
    ));
    let sid = id_of(&service);
    let service_name = service["service_name"].as_str().unwrap().to_string();

    let a = lab.cli.json(&format!(
        "lab endpoint create customer a --service {service_name} --ip 172.31.9.50"
    ));
    assert_eq!(a["ip"], "172.31.9.50");
    connection(&lab, &sid, "customer/a", "available");
    let to_a = SocketAddr::new("172.31.9.50".parse().unwrap(), node_port(0));
    let mut session = Session::open(&app_ns, to_a, &name, &ca_pem);
    assert_eq!(session.node_index(), Some(0));
    let out = lab
        .cli
        .run(&format!("endpoint-service update {sid} --no-principals"));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    connection(&lab, &sid, "customer/a", "rejected");
    assert_eq!(
        session.node_index(),
        None,
        "principal removal cut the session"
    );
    assert!(!lab.connects_to("customer/app", "172.31.9.50", PROBE_PORT));

    lab.cli.ok(&format!(
        "endpoint-service update {sid} --principal customer"
    ));
    let b = lab.cli.json(&format!(
        "lab endpoint create customer b --service {service_name}"
    ));
    let b_ip = b["ip"].as_str().unwrap().to_string();
    connection(&lab, &sid, "customer/b", "available");
    let to_b = SocketAddr::new(b_ip.parse().unwrap(), PROBE_PORT);
    let mut session = Session::open(&app_ns, to_b, &name, &ca_pem);
    assert_eq!(session.node_index(), Some(0));
    lab.cli.ok("lab endpoint delete customer/b");
    assert_eq!(session.node_index(), None, "deleting the endpoint cut it");
    connection(&lab, &sid, "customer/b", "disconnected");
    assert!(!lab.connects_to("customer/app", &b_ip, PROBE_PORT));

    // Everything goes through the API: the lab VPC takes its endpoints with it.
    lab.cli.ok("lab vpc delete customer");
    assert_eq!(lab.cli.json("lab endpoint list"), serde_json::json!([]));
    lab.cli.ok(&format!(
        "endpoint-service delete {sid} --wait --timeout {WAIT_TIMEOUT}"
    ));
}

#[test]
fn lab_endpoints_survive_a_server_restart_and_keep_leading_to_the_cluster() {
    let mut lab = LocalLab::start("isthy1");
    let network = lab.project_and_network("10.86.0.0/24");
    let cluster = lab.cluster(&network, "single-node");
    let name = cluster["dns_name"].as_str().unwrap().to_string();
    lab.lab_vpc("customer", "172.31.10.0/24", &[("app", "172.31.10.10")]);
    let service = lab.cli.json(&format!(
        "endpoint-service create db-pl --cluster {} --principal customer --no-acceptance \
         --wait --timeout {WAIT_TIMEOUT}",
        id_of(&cluster)
    ));
    let sid = id_of(&service);
    let svc = service["service_name"].as_str().unwrap();
    lab.cli
        .ok(&format!("lab endpoint create customer a --service {svc}"));
    lab.cli
        .ok(&format!("lab endpoint create customer b --service {svc}"));
    connection(&lab, &sid, "customer/a", "available");
    eventually("the lab host connects by name", || {
        lab.connects_to("customer/app", &name, PROBE_PORT)
    });
    let before = lab.cli.json("lab endpoint list");
    let ns = lab.names.endpoint_ns("customer", "a");

    // A crash, then a start on the same data: the endpoints are rebuilt, not swept.
    lab.restart();
    assert!(
        lab.namespaces().contains(&ns),
        "the endpoint's namespace is kept"
    );
    let after = lab.cli.json("lab endpoint list");
    let ips = |list: &Value| -> Vec<(String, String)> {
        let mut all: Vec<_> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["endpoint_id"].to_string(), e["ip"].to_string()))
            .collect();
        all.sort();
        all
    };
    assert_eq!(ips(&after), ips(&before), "same endpoints, same addresses");
    connection(&lab, &sid, "customer/a", "available");
    // The server's resolver for the VPC comes up with it.
    eventually("the lab host connects by name after the restart", || {
        lab.connects_to("customer/app", &name, PROBE_PORT)
    });

    // A deletion after the restart is still the customer's: its connection turns
    // disconnected, and a second restart does not bring it back.
    lab.cli.ok("lab endpoint delete customer/b");
    connection(&lab, &sid, "customer/b", "disconnected");
    lab.restart();
    let ids: Vec<String> = ips(&lab.cli.json("lab endpoint list"))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, vec!["\"customer/a\"".to_string()]);
    connection(&lab, &sid, "customer/a", "available");
    eventually(
        "the lab host connects by name after a second restart",
        || lab.connects_to("customer/app", &name, PROBE_PORT),
    );
}
