//! Moving a running cluster to another network on the simulated AWS cloud (issue 19):
//! the move goes through its phases one by one (each audited), keeps every name, and
//! `reach` follows it: the old network's peerings lose the cluster, the new one's gain
//! it. Refusals name the field; a move cancels only before its names switch.

mod support;

use serde_json::{json, Value};
use support::{peering_body, TestServer};

struct Setup {
    p: String,
    old_net: String,
    new_net: String,
    cluster: String,
}

/// Two networks, each peered (and accepted) with its own customer VPC — the old one with
/// 192.168.0.0/24, the new one with 192.168.1.0/24 — and a running three-node cluster in
/// the old one.
async fn setup(s: &TestServer) -> Setup {
    let p = s.project("acme").await;
    let old_net = s.network(&p, "old", "10.0.0.0/16").await.id();
    let new_net = s.network(&p, "new", "10.1.0.0/16").await.id();
    for (net, vpc, cidr, name) in [
        (&old_net, "vpc-0aaa0001", "192.168.0.0/24", "office-a"),
        (&new_net, "vpc-0bbb0002", "192.168.1.0/24", "office-b"),
    ] {
        s.wait_for_status(&format!("/v1/projects/{p}/networks/{net}"), &["active"])
            .await;
        let created = s
            .post(
                &s.admin,
                "/v1/sim/aws/vpcs",
                json!({"account_id": "123456789012", "network_id": vpc,
                       "region": "us-east-1", "cidr_block": cidr}),
            )
            .await;
        assert_eq!(created.status, 201, "{:#}", created.body);
        let mut body = peering_body(name, net, &[cidr]);
        body["peer"]["network_id"] = json!(vpc);
        let peering = s
            .post(&s.admin, &format!("/v1/projects/{p}/peerings"), body)
            .await;
        assert_eq!(peering.status, 201, "{:#}", peering.body);
        let id = peering.id();
        let path = format!("/v1/projects/{p}/peerings/{id}");
        s.wait_for_status(&path, &["pending_acceptance"]).await;
        let accepted = s
            .post(
                &s.admin,
                &format!("/v1/sim/peerings/{id}/accept"),
                json!(null),
            )
            .await;
        assert_eq!(accepted.status, 200, "{:#}", accepted.body);
        s.wait_for_status(&path, &["active"]).await;
    }
    let cluster = three_nodes(s, &p, "orders", &old_net).await;
    Setup {
        p,
        old_net,
        new_net,
        cluster,
    }
}

async fn three_nodes(s: &TestServer, p: &str, name: &str, net: &str) -> String {
    let created = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/clusters"),
            json!({"name": name, "network_id": net, "engine": "nats",
                   "topology": "three-node-multi-zone"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let id = created.id();
    s.wait_for_status(&format!("/v1/projects/{p}/clusters/{id}"), &["running"])
        .await;
    id
}

async fn reach_allowed(s: &TestServer, p: &str, from: &str, cluster: &str) -> (bool, Value) {
    let r = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/reachability"),
            json!({"from": from, "to": cluster}),
        )
        .await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    (r.body["allowed"].as_bool().unwrap(), r.body)
}

/// Polls the cluster until its move's phase is one of `phases`.
async fn wait_for_phase(s: &TestServer, path: &str, phases: &[&str]) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = s.get(&s.admin, path).await;
        let phase = r.body["network_move"]["phase"].as_str().unwrap_or_default();
        if phases.contains(&phase) {
            return r.body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never reached {phases:?}: {:#}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The audit events of one resource, oldest first.
async fn events_of(s: &TestServer, p: &str, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/projects/{p}/events?limit=500&cursor={c}"),
            None => format!("/v1/projects/{p}/events?limit=500"),
        };
        let page = s.get(&s.admin, &path).await;
        assert_eq!(page.status, 200, "{:#}", page.body);
        for e in page.body["items"].as_array().unwrap() {
            if e["resource_id"] == id {
                out.push(e.clone());
            }
        }
        match page.body["next_cursor"].as_str() {
            Some(c) if !c.is_empty() && Some(c) != cursor.as_deref() => cursor = Some(c.into()),
            _ => return out,
        }
    }
}

/// Deleting network `net` is refused with a 409 naming the move of `cluster`, and the
/// way out (`hint`); the network stays.
async fn assert_network_held(s: &TestServer, p: &str, net: &str, cluster: &str, hint: &str) {
    let path = format!("/v1/projects/{p}/networks/{net}");
    let refused = s.delete(&s.admin, &format!("{path}?cascade=true")).await;
    refused.assert_problem(409, "", "network-in-cluster-move");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains(cluster) && detail.contains(hint),
        "{detail}"
    );
    let still = s.get(&s.admin, &path).await;
    assert_eq!(still.body["status"], "active", "{:#}", still.body);
}

fn node_names(cluster: &Value) -> Vec<String> {
    cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["dns_name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_cluster_moves_phase_by_phase_keeping_its_names_and_reach_follows_it() {
    let s = TestServer::start().await;
    let Setup {
        p,
        old_net,
        new_net,
        cluster,
    } = setup(&s).await;
    let path = format!("/v1/projects/{p}/clusters/{cluster}");
    let before = s.get(&s.admin, &path).await.body;

    // Today office-a (peered with the old network) reaches the cluster, office-b does not.
    assert!(reach_allowed(&s, &p, "192.168.0.5", &cluster).await.0);
    assert!(!reach_allowed(&s, &p, "192.168.1.5", &cluster).await.0);

    // office-a would lose the cluster: refused, naming the peering, until allowed.
    let refused = s
        .post(
            &s.admin,
            &format!("{path}/move"),
            json!({"network_id": "new"}),
        )
        .await;
    let problem = refused.assert_problem(422, "network_id", "keeps-access");
    let detail = problem.to_string();
    assert!(
        detail.contains("peering office-a") && detail.contains("192.168.0.0/24"),
        "{detail}"
    );
    assert_eq!(s.get(&s.admin, &path).await.body["status"], "running");

    let started = s
        .post(
            &s.admin,
            &format!("{path}/move"),
            json!({"network_id": "new", "allow_lost_access": true, "drain_seconds": 1}),
        )
        .await;
    assert_eq!(started.status, 202, "{:#}", started.body);
    let m = &started.body["network_move"];
    assert_eq!(m["phase"], "provisioning_nodes");
    assert_eq!(m["target_network_id"], new_net.as_str());
    assert!(m["lost_access"][0]
        .as_str()
        .unwrap()
        .starts_with("peering office-a"));
    let new_ips: Vec<String> = m["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["ip"].as_str().unwrap().to_string())
        .collect();
    assert!(
        new_ips.iter().all(|ip| ip.starts_with("10.1.")),
        "{new_ips:?}"
    );

    let done = wait_for_phase(&s, &path, &["done"]).await;
    assert_eq!(done["status"], "running");
    assert_eq!(done["network_id"], new_net.as_str());
    // Same id, names and connection strings; nodes at the addresses the move gave them.
    assert_eq!(done["id"], before["id"]);
    assert_eq!(done["dns_name"], before["dns_name"]);
    assert_eq!(done["addresses"], before["addresses"]);
    assert_eq!(node_names(&done), node_names(&before));
    let ips: Vec<String> = done["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["ip"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ips, new_ips);
    assert_eq!(done["network_move"]["nodes"], json!([]));
    // A figure, not an assertion: how long the move took, and how much of it was drain.
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(done["network_move"][field].as_str().unwrap()).unwrap()
    };
    eprintln!(
        "move on the simulated cloud: {} ms to the switch, {} ms in all (drain 1 s)",
        (at("switched_at") - at("started_at")).num_milliseconds(),
        (at("finished_at") - at("started_at")).num_milliseconds()
    );

    // Every phase, in order, each one audited; the cluster joins the new network exactly
    // at the switch.
    let events = events_of(&s, &p, &cluster).await;
    let steps: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| {
            e["action"].as_str().unwrap().starts_with("cluster.move")
                || e["action"] == "cluster.status"
        })
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["after"]["network_move"]["phase"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                e["after"]["network_id"].as_str().unwrap().to_string(),
            )
        })
        .skip_while(|(action, _, _)| action != "cluster.move")
        .collect();
    let expected = [
        ("cluster.move", "provisioning_nodes", &old_net),
        ("cluster.status", "provisioning_nodes", &old_net),
        ("cluster.move_catching_up", "catching_up", &old_net),
        ("cluster.move_names_switched", "names_switched", &new_net),
        ("cluster.move_draining", "draining", &new_net),
        ("cluster.move_done", "done", &new_net),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, ph, n)| (a.to_string(), ph.to_string(), n.to_string()))
        .collect();
    assert_eq!(steps, expected);
    let moving = events
        .iter()
        .find(|e| e["action"] == "cluster.status" && e["after"]["status"] == "moving");
    assert!(moving.is_some(), "the cluster showed moving");

    // reach agrees: office-a lost the cluster, office-b gained it.
    let (old_allowed, old_body) = reach_allowed(&s, &p, "192.168.0.5", &cluster).await;
    assert!(!old_allowed, "{old_body:#}");
    assert!(reach_allowed(&s, &p, "192.168.1.5", &cluster).await.0);

    // The cluster no longer holds the old network, and no instance is left in it: the
    // cloud lets it (and its peering) be deleted.
    let deleted = s
        .delete(
            &s.admin,
            &format!("/v1/projects/{p}/networks/{old_net}?cascade=true"),
        )
        .await;
    assert!(deleted.status < 300, "{:#}", deleted.body);
    s.wait_for_status(
        &format!("/v1/projects/{p}/networks/{old_net}"),
        &["deleted"],
    )
    .await;
}

#[tokio::test]
async fn a_move_is_refused_naming_the_field_and_cancels_only_before_the_switch() {
    let s = TestServer::start().await;
    let Setup {
        p,
        old_net,
        new_net,
        cluster,
    } = setup(&s).await;
    let path = format!("/v1/projects/{p}/clusters/{cluster}");
    let move_to = |net: &str| json!({"network_id": net, "allow_lost_access": true});

    // The same network, an unknown one, another project's.
    s.post(&s.admin, &format!("{path}/move"), move_to(&old_net))
        .await
        .assert_problem(422, "network_id", "different-network");
    s.post(&s.admin, &format!("{path}/move"), move_to("nowhere"))
        .await
        .assert_problem(422, "network_id", "known-network");
    let other = s.project("other").await;
    let theirs = s.network(&other, "theirs", "10.9.0.0/16").await.id();
    s.post(&s.admin, &format!("{path}/move"), move_to(&theirs))
        .await
        .assert_problem(422, "network_id", "same-project");
    // Too long a drain.
    s.post(
        &s.admin,
        &format!("{path}/move"),
        json!({"network_id": "new", "allow_lost_access": true, "drain_seconds": 99999}),
    )
    .await
    .assert_problem(422, "drain_seconds", "drain-range");

    // A target without room: AWS keeps 5 of a /28's 16 addresses, three clusters take 9.
    let tiny = s.network(&p, "tiny", "10.2.0.0/28").await.id();
    s.wait_for_status(&format!("/v1/projects/{p}/networks/{tiny}"), &["active"])
        .await;
    for name in ["t1", "t2", "t3"] {
        three_nodes(&s, &p, name, &tiny).await;
    }
    s.post(&s.admin, &format!("{path}/move"), move_to("tiny"))
        .await
        .assert_problem(409, "network_id", "network-full");

    // Not moving: nothing to cancel.
    s.post(&s.admin, &format!("{path}/move/cancel"), json!(null))
        .await
        .assert_problem(409, "", "no-move");

    // The cloud cannot create the new nodes for now: the move waits; a cancel undoes it.
    let fault = s
        .post(
            &s.admin,
            "/v1/sim/faults",
            json!({"operation": "ensure_nodes", "count": 100000}),
        )
        .await;
    assert!(fault.status < 300, "{:#}", fault.body);
    let started = s
        .post(&s.admin, &format!("{path}/move"), move_to("new"))
        .await;
    assert_eq!(started.status, 202, "{:#}", started.body);
    s.wait_for_status(&path, &["moving"]).await;
    // The target holds the move's new nodes: it cannot be deleted meanwhile (409 naming
    // the move), not even with cascade.
    assert_network_held(&s, &p, &new_net, &cluster, "cancel the move").await;
    let cancelled = s.delete(&s.admin, &format!("{path}/move")).await;
    assert_eq!(cancelled.status, 202, "{:#}", cancelled.body);
    let after = wait_for_phase(&s, &path, &["cancelled"]).await;
    assert_eq!(after["status"], "running");
    assert_eq!(after["network_id"], old_net.as_str());
    assert!(reach_allowed(&s, &p, "192.168.0.5", &cluster).await.0);
    s.post(
        &s.admin,
        "/v1/sim/faults",
        json!({"operation": "ensure_nodes", "count": 0}),
    )
    .await;

    // Past the switch (a long drain holds the move there), a cancel is refused.
    let again = s
        .post(
            &s.admin,
            &format!("{path}/move"),
            json!({"network_id": "new", "allow_lost_access": true, "drain_seconds": 3600}),
        )
        .await;
    assert_eq!(again.status, 202, "{:#}", again.body);
    wait_for_phase(&s, &path, &["draining"]).await;
    s.post(&s.admin, &format!("{path}/move/cancel"), json!(null))
        .await
        .assert_problem(409, "", "move-past-switch");
    // The old network holds the draining nodes: not deletable until they are gone.
    assert_network_held(&s, &p, &old_net, &cluster, "drained").await;
    // A second move while one is under way is a conflict too.
    s.post(&s.admin, &format!("{path}/move"), move_to("old"))
        .await
        .assert_problem(409, "network_id", "cluster-moving");

    // Deleted mid-drain, the cluster takes its old nodes with it: the old network's cloud
    // side holds no instance, so it can be deleted.
    let gone = s.delete(&s.admin, &path).await;
    assert!(gone.status < 300, "{:#}", gone.body);
    s.wait_for_status(&path, &["deleted"]).await;
    let net = s
        .delete(
            &s.admin,
            &format!("/v1/projects/{p}/networks/{old_net}?cascade=true"),
        )
        .await;
    assert!(net.status < 300, "{:#}", net.body);
    s.wait_for_status(
        &format!("/v1/projects/{p}/networks/{old_net}"),
        &["deleted"],
    )
    .await;
}
