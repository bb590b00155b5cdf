//! `isthmus endpoint-service …` and `isthmus sim endpoint …` through the real binary, on
//! the simulated AWS: publish a cluster, a customer endpoint waits for acceptance, the
//! operator accepts it; bad principals and a cluster still published are one-line errors.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{id_of, Cli, Sandbox, Server, WAIT_TIMEOUT};

/// Polls the service's connections until one is in `status`; returns it.
fn connection_in(cli: &Cli, service: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = cli.json(&format!("endpoint-service connections {service}"));
        if let Some(c) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["status"] == status)
        {
            return c.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {status} connection: {list:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_customer_endpoint_is_accepted_through_the_cli() {
    let sandbox = Sandbox::new();
    let server = Server::start(sandbox.data.path(), &[]);
    let admin = server.cli(sandbox.home.path());
    let cli = admin.in_project(&id_of(&admin.json("project create endpoints")));
    let network = id_of(&cli.json(&format!(
        "network create prod --provider aws --region us-east-1 --cidr 10.40.0.0/16 \
         --wait --timeout {WAIT_TIMEOUT}"
    )));
    let cluster = id_of(&cli.json(&format!(
        "cluster create orders --network {network} --engine probe --topology single-node \
         --wait --timeout {WAIT_TIMEOUT}"
    )));

    let bad = cli.fails(&format!(
        "endpoint-service create pl --cluster {cluster} --principal 123456789012"
    ));
    assert!(bad.contains("allowed_principals[0]"), "{bad}");

    let service = cli.json(&format!(
        "endpoint-service create orders-pl --cluster {cluster} \
         --principal arn:aws:iam::123456789012:root --wait --timeout {WAIT_TIMEOUT}"
    ));
    assert_eq!(service["status"], "available", "{service:#}");
    let name = service["service_name"].as_str().unwrap();
    assert!(
        name.starts_with("com.amazonaws.vpce.us-east-1.vpce-svc-"),
        "{name}"
    );
    let id = id_of(&service);

    let unknown = cli.fails(
        "sim endpoint create --cloud aws --account 123456789012 --network vpc-0a1b2c3d \
         --region us-east-1 --service com.amazonaws.vpce.us-east-1.vpce-svc-00000000000000000",
    );
    assert!(unknown.contains("InvalidServiceName"), "{unknown}");
    let endpoint = cli.json(&format!(
        "sim endpoint create --cloud aws --account 123456789012 --network vpc-0a1b2c3d \
         --region us-east-1 --service {name}"
    ));
    assert_eq!(endpoint["state"], "pendingAcceptance", "{endpoint:#}");

    let pending = connection_in(&cli, &id, "pending_acceptance");
    let cid = pending["id"].as_str().unwrap();
    let accepted = cli.json(&format!("endpoint-service accept {id} {cid}"));
    assert_eq!(accepted["decision"], "accepted", "{accepted:#}");
    let available = connection_in(&cli, &id, "available");
    assert_eq!(available["provider_state"], "available");

    let refused = cli.fails(&format!("cluster delete {cluster}"));
    assert!(refused.contains("orders-pl"), "{refused}");
    let table = cli.ok(&format!("endpoint-service get {id}"));
    assert!(table.contains("aws route53 create-hosted-zone"), "{table}");
}
