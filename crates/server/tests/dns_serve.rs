//! The platform DNS and the installation CA of a running server: cluster names resolve over
//! real UDP on loopback to exactly the cluster's node IPs, disappear once the cluster is
//! deleted (before or after a restart), and the CA certificate is served to the project's
//! members only.

mod support;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_server::proto::op::ResponseCode;
use isthmus_core::resources::{Cluster, ClusterCreate, Network, NetworkCreate, ProjectCreate};
use isthmus_server::serve::{self, ServeConfig};
use isthmus_store::api::{Api, Env};
use isthmus_store::Actor;
use serde_json::{json, Value};
use support::dns::{query_a, Answer};
use support::TestServer;

const ZONE: &str = "isthmus.internal";
/// A guard against hanging, not a speed assertion: changes show within a second.
const PATIENCE: Duration = Duration::from_secs(5);

/// Asks until `done` holds for the answer; panics after [`PATIENCE`].
async fn query_until(server: SocketAddr, name: &str, done: impl Fn(&Answer) -> bool) -> Answer {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = query_a(server, name).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: still {:?} {:?}",
            answer.code,
            answer.ips
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `(index, ip)` of every node, as the API reports them.
fn nodes(cluster: &Value) -> Vec<(u64, Ipv4Addr)> {
    cluster["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            let ip = n["ip"].as_str().expect("node ip").parse().expect("IPv4");
            (n["index"].as_u64().expect("node index"), ip)
        })
        .collect()
}

#[tokio::test]
async fn cluster_names_resolve_to_their_nodes_until_the_cluster_is_deleted() {
    let server = TestServer::start().await;
    let dns = server.dns_addr();
    let project = server.project("names").await;
    let network = server.network(&project, "prod", "10.30.0.0/16").await;
    assert_eq!(network.status, 201, "{:#}", network.body);
    let clusters = format!("/v1/projects/{project}/clusters");
    let created = server
        .post(
            &server.admin,
            &clusters,
            json!({ "name": "orders", "network_id": network.id(), "engine": "probe",
                    "topology": "three-node-multi-zone" }),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let id = created.id();
    let nodes = nodes(&created.body);
    assert_eq!(nodes.len(), 3);

    // The cluster's name: every node, and nothing else.
    let cluster_name = format!("{id}.{ZONE}.");
    let all = query_until(dns, &cluster_name, |a| a.code == ResponseCode::NoError).await;
    let mut expected: Vec<Ipv4Addr> = nodes.iter().map(|(_, ip)| *ip).collect();
    expected.sort();
    assert_eq!(all.ips, expected);
    // Each node's name: that node alone.
    for (index, ip) in &nodes {
        let one = query_a(dns, &format!("{id}-{index}.{ZONE}.")).await;
        assert_eq!(one.code, ResponseCode::NoError, "node {index}");
        assert_eq!(one.ips, vec![*ip], "node {index}");
    }
    // A name the zone does not have.
    let unknown = query_a(dns, &format!("{id}-9.{ZONE}.")).await;
    assert_eq!(unknown.code, ResponseCode::NXDomain);

    let deleted = server
        .delete(&server.admin, &format!("{clusters}/{id}"))
        .await;
    assert_eq!(deleted.status, 202, "{:#}", deleted.body);
    query_until(dns, &cluster_name, |a| a.code == ResponseCode::NXDomain).await;
    for (index, _) in &nodes {
        let gone = query_a(dns, &format!("{id}-{index}.{ZONE}.")).await;
        assert_eq!(gone.code, ResponseCode::NXDomain, "node {index}");
    }
}

#[tokio::test]
async fn a_restarted_server_answers_for_clusters_created_before() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServeConfig::new(dir.path());
    let actor = Actor("token:test".into());
    let (id, ip) = {
        let first = serve::start(&config).await.expect("first start");
        let store = &first.state.store;
        let project = store
            .create_project(&actor, &ProjectCreate { name: "p".into() }, None)
            .await
            .expect("create project");
        let network: NetworkCreate = serde_json::from_value(json!({
            "name": "n", "provider": "aws", "region": "us-east-1", "cidr_block": "10.31.0.0/16"
        }))
        .unwrap();
        let network = Api::<Network>::new(store.docs())
            .create(&actor, project.id, &network, &Env::default(), None)
            .await
            .expect("create network")
            .resource;
        let cluster: ClusterCreate = serde_json::from_value(json!({
            "name": "c", "network_id": network.id.to_string(), "engine": "probe",
            "topology": "single-node"
        }))
        .unwrap();
        let cluster = Api::<Cluster>::new(store.docs())
            .create(
                &actor,
                project.id,
                &cluster,
                &Env {
                    dns_zone: ZONE.to_string(),
                },
                None,
            )
            .await
            .expect("create cluster")
            .resource;
        (cluster.id, cluster.nodes[0].ip)
    };

    let second = serve::start(&config).await.expect("second start");
    // Loaded at start, not replayed from a change: the answer is there at once.
    let answer = query_a(second.dns.local_addr(), &format!("{id}.{ZONE}.")).await;
    assert_eq!(answer.code, ResponseCode::NoError);
    assert_eq!(answer.ips, vec![ip]);
}

/// Creates a single-node cluster straight in the store; returns its id and node IP.
async fn create_cluster(
    store: &dyn isthmus_store::Store,
    project: isthmus_core::ProjectId,
    network: &str,
    name: &str,
) -> (isthmus_core::ClusterId, Ipv4Addr) {
    let create: ClusterCreate = serde_json::from_value(json!({
        "name": name, "network_id": network, "engine": "probe", "topology": "single-node"
    }))
    .unwrap();
    let cluster = Api::<Cluster>::new(store.docs())
        .create(
            &Actor("token:test".into()),
            project,
            &create,
            &Env {
                dns_zone: ZONE.to_string(),
            },
            None,
        )
        .await
        .expect("create cluster")
        .resource;
    (cluster.id, cluster.nodes[0].ip)
}

#[tokio::test]
async fn a_restarted_server_publishes_no_deleted_cluster_and_follows_deletes_after_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ServeConfig::new(dir.path());
    let actor = Actor("token:test".into());
    let (project, gone, (kept, kept_ip)) = {
        let first = serve::start(&config).await.expect("first start");
        let store = first.state.store.as_ref();
        let project = store
            .create_project(&actor, &ProjectCreate { name: "p".into() }, None)
            .await
            .expect("create project");
        let network: NetworkCreate = serde_json::from_value(json!({
            "name": "n", "provider": "aws", "region": "us-east-1", "cidr_block": "10.32.0.0/16"
        }))
        .unwrap();
        let network = Api::<Network>::new(store.docs())
            .create(&actor, project.id, &network, &Env::default(), None)
            .await
            .expect("create network")
            .resource
            .id
            .to_string();
        let (gone, _) = create_cluster(store, project.id, &network, "gone").await;
        let kept = create_cluster(store, project.id, &network, "kept").await;
        Api::<Cluster>::new(store.docs())
            .delete(&actor, project.id, gone.as_id(), None)
            .await
            .expect("delete cluster");
        (project.id, gone, kept)
    };

    let second = serve::start(&config).await.expect("second start");
    let dns = second.dns.local_addr();
    // Whether its teardown finished before the restart or not, a deleted cluster's
    // name is not loaded at start.
    let answer = query_a(dns, &format!("{gone}.{ZONE}.")).await;
    assert_eq!(answer.code, ResponseCode::NXDomain);
    let answer = query_a(dns, &format!("{kept}.{ZONE}.")).await;
    assert_eq!(answer.ips, vec![kept_ip]);

    Api::<Cluster>::new(second.state.store.docs())
        .delete(&actor, project, kept.as_id(), None)
        .await
        .expect("delete cluster");
    query_until(dns, &format!("{kept}.{ZONE}."), |a| {
        a.code == ResponseCode::NXDomain
    })
    .await;
    let node = query_a(dns, &format!("{kept}-0.{ZONE}.")).await;
    assert_eq!(node.code, ResponseCode::NXDomain);
}

async fn get_ca(server: &TestServer, project: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/v1/projects/{project}/ca.pem", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET ca.pem")
}

#[tokio::test]
async fn every_member_of_a_project_downloads_the_installation_ca() {
    let server = TestServer::start().await;
    let project = server.project("tls").await;
    let viewer = server.token(&project, "viewer").await;

    let reply = get_ca(&server, &project, &viewer).await;
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"].to_str().unwrap(),
        "application/x-pem-file"
    );
    let pem = reply.text().await.expect("read ca.pem");
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    let cert = block.parse_x509().expect("an X.509 certificate");
    let constraints = cert
        .basic_constraints()
        .expect("well-formed extensions")
        .expect("basic constraints present");
    assert!(constraints.value.ca, "the certificate is a CA");

    // The same CA as the one stored in the data dir, whose key only this user can read.
    let ca_dir = server.data_dir.join(serve::CA_DIR);
    assert_eq!(std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap(), pem);
    let key_mode = std::fs::metadata(ca_dir.join("ca.key"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode) & 0o777,
        0o600
    );
}

#[tokio::test]
async fn outsiders_are_told_the_project_does_not_exist() {
    let server = TestServer::start().await;
    let project = server.project("tls").await;
    let other = server.project("elsewhere").await;
    let outsider = server.token(&other, "admin").await;

    let reply = get_ca(&server, &project, &outsider).await;
    assert_eq!(reply.status(), 404);
    assert_eq!(
        reply.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
}
