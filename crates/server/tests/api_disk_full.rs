//! A full disk: each write that needs room answers 503 problem+json (not a 500 that wedges
//! every later write), /healthz says the store cannot write, and everything works again as
//! soon as space returns. The data dir lives on a small tmpfs of the test's own (root).

mod support;

use serde_json::json;
use support::tmpfs::Tmpfs;
use support::{network_body, Reply, TestServer};

fn assert_unavailable(r: &Reply, kind: &str) {
    r.assert_status_problem(503);
    assert_eq!(r.body["type"], format!("urn:isthmus:problem:{kind}"));
    assert!(
        r.header("retry-after")
            .is_some_and(|s| s.parse::<u32>().is_ok()),
        "Retry-After in {:?}",
        r.headers
    );
}

fn sim_vpc(n: u32) -> serde_json::Value {
    json!({
        "account_id": "123456789012",
        "network_id": format!("vpc-{n:017x}"),
        "region": "us-east-1",
        "cidr_block": "10.200.0.0/16",
    })
}

#[tokio::test]
async fn a_full_disk_answers_503_until_space_returns_and_healthz_says_so() {
    let disk = Tmpfs::mount("16m");
    let s = TestServer::start_at(tempfile::tempdir().unwrap(), disk.path().join("data")).await;
    let p = s.project("acme").await;
    let networks = format!("/v1/projects/{p}/networks");
    assert_eq!(s.get(&s.admin, "/healthz").await.status, 200);
    let r = s.post(&s.admin, "/v1/sim/aws/vpcs", sim_vpc(0)).await;
    assert_eq!(r.status, 201, "{:#}", r.body);

    let filler = disk.fill();
    // SQLite may still fit a commit or two into room it already has (a WAL that the
    // checkpoint emptied is written again from its start): writes go on until one needs
    // room (seen in CI), and from then on each is refused.
    let mut i = 0;
    let refused = loop {
        let name = format!("fill{i}");
        let cidr = format!("10.{}.0.0/16", 100 + i);
        let r = s
            .post(&s.admin, &networks, network_body(&name, &cidr))
            .await;
        if r.status != 201 {
            break r;
        }
        i += 1;
        assert!(i < 100, "the store never ran out of room");
    };
    assert_unavailable(&refused, "store-unavailable");
    for name in ["web", "web", "api"] {
        let r = s
            .post(&s.admin, &networks, network_body(name, "10.1.0.0/16"))
            .await;
        assert_unavailable(&r, "store-unavailable");
        assert!(
            r.body["detail"].as_str().unwrap().contains("full"),
            "{:#}",
            r.body
        );
    }
    let health = s.get(&s.admin, "/healthz").await;
    assert_unavailable(&health, "store-unavailable");
    assert!(
        health.body["detail"]
            .as_str()
            .unwrap()
            .contains("cannot write"),
        "{:#}",
        health.body
    );
    // The simulated clouds' journal runs out of room too: a 503, never a 422. (The file's
    // last page may still take a few lines.)
    let mut n = 1;
    let refused = loop {
        let r = s.post(&s.admin, "/v1/sim/aws/vpcs", sim_vpc(n)).await;
        if r.status != 201 {
            break r;
        }
        n += 1;
        assert!(n < 200, "the sim journal never ran out of room");
    };
    assert_unavailable(&refused, "sim-unavailable");

    std::fs::remove_file(filler).expect("free the space");
    let health = s.get(&s.admin, "/healthz").await;
    assert_eq!(health.status, 200, "{:#}", health.body);
    assert_eq!(health.body["status"], "ok");
    let r = s
        .post(&s.admin, &networks, network_body("web", "10.1.0.0/16"))
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    let r = s.post(&s.admin, "/v1/sim/aws/vpcs", sim_vpc(n)).await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    drop(s);
}
