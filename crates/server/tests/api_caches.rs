//! The API answers tokens, resources and reachability from memory, and a change is still
//! seen: at once when it was made through this server, and within a second when another
//! process on the same database made it (as another replica or an offline admin command
//! would) — through the audit log, or at the latest when the cached answer ages out.

mod support;

use std::str::FromStr;
use std::time::{Duration, Instant};

use isthmus_core::resources::{Network, NetworkUpdate, Peering, PeeringUpdate};
use isthmus_core::{Id, ProjectId, TokenId};
use isthmus_server::serve::DB_FILE;
use isthmus_store::api::Api;
use isthmus_store::sqlite::SqliteStore;
use isthmus_store::{Actor, Store};
use serde_json::json;
use support::{cluster_body, peering_body, Reply, TestServer};

/// How late a change made elsewhere may show.
const WITHIN: Duration = Duration::from_secs(1);

/// Another process's handle on the server's database.
async fn elsewhere(s: &TestServer) -> SqliteStore {
    SqliteStore::open(&s.data_dir.join(DB_FILE))
        .await
        .expect("open the server's database a second time")
}

/// Asks `ask` until `seen` holds, and returns the first answer that holds; fails if no
/// request sent within [`WITHIN`] of `since` saw it.
async fn seen_within<F, Fut>(since: Instant, ask: F, seen: impl Fn(&Reply) -> bool) -> Reply
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    loop {
        let sent = Instant::now();
        let reply = ask().await;
        if seen(&reply) {
            return reply;
        }
        assert!(
            sent.duration_since(since) < WITHIN,
            "not seen within {WITHIN:?}; last answer: {} {:#}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn project_token(s: &TestServer, p: &str) -> (String, TokenId) {
    let r = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/tokens"),
            json!({"name": "ci", "role": "operator"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:#}", r.body);
    let id = TokenId::from_str(r.body["token"]["id"].as_str().unwrap()).unwrap();
    (r.body["secret"].as_str().unwrap().to_string(), id)
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once_here_and_within_a_second_when_revoked_elsewhere() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let networks = format!("/v1/projects/{p}/networks");

    let (here, here_id) = project_token(&s, &p).await;
    assert_eq!(s.get(&here, &networks).await.status, 200);
    let revoked = s
        .delete(&s.admin, &format!("/v1/projects/{p}/tokens/{here_id}"))
        .await;
    assert!(revoked.status < 300, "{:#}", revoked.body);
    s.get(&here, &networks).await.assert_status_problem(401);

    let (there, there_id) = project_token(&s, &p).await;
    assert_eq!(s.get(&there, &networks).await.status, 200);
    let other = elsewhere(&s).await;
    other
        .revoke_token(&Actor::controller(), there_id)
        .await
        .expect("revoke elsewhere");
    let since = Instant::now();
    let refused = seen_within(since, || s.get(&there, &networks), |r| r.status == 401).await;
    refused.assert_status_problem(401);
}

#[tokio::test]
async fn a_network_changed_or_deleted_is_seen_at_once_here_and_within_a_second_from_elsewhere() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let id = s.network(&p, "main", "10.0.0.0/16").await.id();
    let path = format!("/v1/projects/{p}/networks/{id}");
    let first = s.get(&s.admin, &path).await;
    assert_eq!(first.body["name"], "main");

    let renamed = s.patch(&s.admin, &path, json!({"name": "renamed"})).await;
    assert_eq!(renamed.status, 200, "{:#}", renamed.body);
    let now = s.get(&s.admin, &path).await;
    assert_eq!(now.body["name"], "renamed");
    assert_eq!(now.header("etag"), renamed.header("etag"));

    let other = elsewhere(&s).await;
    let project = ProjectId::from_str(&p).unwrap();
    let network = Id::from_str(&id).unwrap();
    let update = NetworkUpdate {
        name: Some("elsewhere".into()),
        provider: None,
        region: None,
        cidr_block: None,
    };
    Api::<Network>::new(other.docs())
        .update(&Actor::controller(), project, network, &update, None)
        .await
        .expect("rename elsewhere");
    let since = Instant::now();
    seen_within(
        since,
        || s.get(&s.admin, &path),
        |r| r.body["name"] == "elsewhere",
    )
    .await;

    Api::<Network>::new(other.docs())
        .delete_explicit(&Actor::controller(), project, network, None, false)
        .await
        .expect("delete elsewhere");
    let since = Instant::now();
    seen_within(
        since,
        || s.get(&s.admin, &path),
        |r| {
            r.status == 404
                || ["deleting", "deleted"].contains(&r.body["status"].as_str().unwrap_or(""))
        },
    )
    .await;
}

#[tokio::test]
async fn reachability_follows_a_changed_peering_and_a_deleted_cluster() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let net = s.network(&p, "main", "10.0.0.0/16").await.id();
    s.wait_for_status(&format!("/v1/projects/{p}/networks/{net}"), &["active"])
        .await;
    let vpc = s
        .post(
            &s.admin,
            "/v1/sim/aws/vpcs",
            json!({"account_id": "123456789012", "network_id": "vpc-0abc1234",
                   "region": "us-east-1", "cidr_block": "192.168.0.0/24"}),
        )
        .await;
    assert_eq!(vpc.status, 201, "{:#}", vpc.body);
    let peering = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/peerings"),
            peering_body("to-customer", &net, &["192.168.0.0/24"]),
        )
        .await
        .id();
    let peering_path = format!("/v1/projects/{p}/peerings/{peering}");
    s.wait_for_status(&peering_path, &["pending_acceptance"])
        .await;
    let cluster = s
        .post(
            &s.admin,
            &format!("/v1/projects/{p}/clusters"),
            cluster_body("orders", &net, "probe"),
        )
        .await
        .id();
    let cluster_path = format!("/v1/projects/{p}/clusters/{cluster}");
    s.wait_for_status(&cluster_path, &["running"]).await;
    let reach_path = format!("/v1/projects/{p}/reachability");
    let reach = || {
        s.post(
            &s.admin,
            &reach_path,
            json!({"from": "192.168.0.5", "to": cluster}),
        )
    };
    let reason = |r: &Reply| r.body["verdicts"][0]["reason"].as_str().map(str::to_string);

    let pending = reach().await;
    assert_eq!(pending.status, 200, "{:#}", pending.body);
    assert_eq!(reason(&pending).as_deref(), Some("peering-not-active"));

    // Changed here: the customer accepts, the controller marks the peering active.
    let accepted = s
        .post(
            &s.admin,
            &format!("/v1/sim/peerings/{peering}/accept"),
            json!(null),
        )
        .await;
    assert_eq!(accepted.status, 200, "{:#}", accepted.body);
    s.wait_for_status(&peering_path, &["active"]).await;
    let allowed = reach().await;
    assert_eq!(allowed.body["allowed"], true, "{:#}", allowed.body);

    // Changed elsewhere: the peering's routes no longer cover the source.
    let other = elsewhere(&s).await;
    let update = PeeringUpdate {
        name: None,
        routes: Some(vec!["192.168.1.0/24".into()]),
        transit_routes: None,
        allow_gateway_transit: None,
    };
    Api::<Peering>::new(other.docs())
        .update(
            &Actor::controller(),
            ProjectId::from_str(&p).unwrap(),
            Id::from_str(&peering).unwrap(),
            &update,
            None,
        )
        .await
        .expect("change the routes elsewhere");
    let since = Instant::now();
    let outside = seen_within(since, reach, |r| r.body["allowed"] == false).await;
    assert_eq!(outside.status, 200, "{:#}", outside.body);

    // Deleted here: once the cluster is gone, it is not a destination any more.
    let deleted = s.delete(&s.admin, &cluster_path).await;
    assert_eq!(deleted.status, 202, "{:#}", deleted.body);
    s.wait_for_status(&cluster_path, &["deleted"]).await;
    reach().await.assert_status_problem(404);
}
