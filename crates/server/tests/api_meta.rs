//! The endpoints about the service: health, metrics and the OpenAPI document.

mod support;

use reqwest::Method;
use support::TestServer;

#[tokio::test]
async fn healthz_answers_ok_without_a_token() {
    let s = TestServer::start().await;
    let r = s.raw(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "ok");
}

#[tokio::test]
async fn the_openapi_document_lists_every_resource_path() {
    let s = TestServer::start().await;
    let r = s
        .raw(Method::GET, "/v1/openapi.json", None, None, &[])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = r.body["paths"].as_object().expect("paths");
    for path in [
        "/v1/projects",
        "/v1/projects/{p}",
        "/v1/projects/{p}/networks",
        "/v1/projects/{p}/networks/{id}",
        "/v1/projects/{p}/peerings",
        "/v1/projects/{p}/peerings/{id}",
        "/v1/projects/{p}/peerings/{id}/refresh",
        "/v1/projects/{p}/clusters",
        "/v1/projects/{p}/clusters/{id}",
        "/v1/projects/{p}/events",
        "/v1/projects/{p}/tokens",
        "/v1/projects/{p}/members",
        "/v1/projects/{p}/members/{token_id}",
        "/v1/sim/{cloud}/vpcs",
        "/v1/sim/peerings/{peering_id}/{action}",
        "/healthz",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from {:?}",
            paths.keys()
        );
    }
    let network = &paths["/v1/projects/{p}/networks/{id}"];
    for method in ["get", "patch", "delete"] {
        assert!(network.get(method).is_some(), "{method} of a network");
    }
    let schemas = r.body["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for schema in ["Network", "NetworkCreate", "Peering", "Cluster", "Problem"] {
        assert!(schemas.contains_key(schema), "schema {schema}");
    }
    assert_eq!(
        r.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    for _ in 0..2 {
        s.get(&s.admin, &format!("/v1/projects/{p}/networks")).await;
    }
    let r = s.raw(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(
        reqwest::get(format!("{}/metrics", s.base))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(text.contains("# TYPE isthmus_http_requests_total counter"));
    assert!(
        text.contains(
            "isthmus_http_requests_total{method=\"GET\",route=\"/v1/projects/{p}/networks\",status=\"2xx\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains(
        "isthmus_http_requests_total{method=\"POST\",route=\"/v1/projects\",status=\"2xx\"} 1"
    ));
    assert!(
        text.contains("# TYPE isthmus_reconciles_total counter"),
        "{text}"
    );
    assert!(text.contains("# TYPE isthmus_queue_depth gauge"), "{text}");
}

/// Anyone, without a token, chooses the method and the path of a request: neither may
/// become a label value, or each request would add a series to /metrics for good.
#[tokio::test]
async fn odd_methods_and_random_paths_do_not_grow_metrics() {
    let s = TestServer::start().await;
    let metrics = || async {
        reqwest::get(format!("{}/metrics", s.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // One of each first, so every series these requests can touch exists.
    let send = |method: String, path: String| {
        let s = &s;
        async move {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            s.raw(method, &path, None, None, &[]).await.status
        }
    };
    send("FOO".into(), "/nowhere".into()).await;
    send("GET".into(), "/nowhere".into()).await;
    send("FOO".into(), "/healthz".into()).await;
    let before = metrics().await;
    for i in 0..50 {
        let method = format!("M{i}{}", "X".repeat(8000));
        let path = format!("/v1/{i}/{}", "p".repeat(i * 10));
        assert_eq!(send(method, path.clone()).await, 404);
        assert_eq!(send(format!("Q{i}"), "/healthz".into()).await, 405);
        assert_eq!(send("GET".into(), path).await, 404);
    }
    let after = metrics().await;
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("isthmus_http_requests_total{"))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
            .collect::<Vec<_>>()
    };
    // The /metrics requests themselves count under their own series; nothing else is new.
    let new: Vec<_> = series(&after)
        .into_iter()
        .filter(|s| !series(&before).contains(s) && !s.contains("route=\"/metrics\""))
        .collect();
    assert!(new.is_empty(), "new series: {new:?}");
    assert!(
        after.contains("method=\"other\",route=\"unmatched\",status=\"4xx\"} 51"),
        "{after}"
    );
    assert!(after.len() < 4096, "{} bytes of metrics", after.len());
}

#[tokio::test]
async fn metrics_count_the_controllers_reconciles() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    let body = serde_json::json!({"name": "n", "provider": "aws", "region": "us-east-1", "cidr_block": "10.1.0.0/16"});
    s.post(&s.admin, &format!("/v1/projects/{p}/networks"), body)
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = reqwest::get(format!("{}/metrics", s.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let reconciles: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("isthmus_reconciles_total "))
            .and_then(|v| v.parse().ok())
            .expect("isthmus_reconciles_total is exported");
        if reconciles > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reconcile counted after creating a network"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_unknown_path_is_a_not_found_problem() {
    let s = TestServer::start().await;
    s.get(&s.admin, "/v1/nothing-here")
        .await
        .assert_status_problem(404);
}

/// `GET /v1/dns/synced` returns once the platform DNS holds every change written before
/// it: after it, a new network's events are all behind the seq it answers.
#[tokio::test]
async fn dns_synced_answers_once_the_zone_holds_every_change_so_far() {
    let s = TestServer::start().await;
    let p = s.project("acme").await;
    s.network(&p, "main", "10.20.0.0/16").await;
    let events = s.get(&s.admin, &format!("/v1/projects/{p}/events")).await;
    let last = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .max()
        .unwrap();
    let r = s.get(&s.admin, "/v1/dns/synced").await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    assert!(
        r.body["seq"].as_i64().unwrap() >= last,
        "{:#} < {last}",
        r.body
    );
    let anonymous = s.raw(Method::GET, "/v1/dns/synced", None, None, &[]).await;
    assert_eq!(anonymous.status, 401);
}

/// On SQLite the one server always runs the controller: `GET /v1/leader` and `/metrics`
/// say so, with epoch 0 (PostgreSQL replicas: crates/cli/tests/replicas.rs).
#[tokio::test]
async fn the_single_sqlite_server_leads_and_says_so() {
    let s = TestServer::start().await;
    let r = s.get(&s.admin, "/v1/leader").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["leader"], true);
    assert_eq!(r.body["store"], "sqlite");
    assert_eq!(r.body["epoch"], 0);
    assert_eq!(r.body["holder"], r.body["replica"]);
    let anonymous = s.raw(Method::GET, "/v1/leader", None, None, &[]).await;
    assert_eq!(anonymous.status, 401);
    let text = reqwest::get(format!("{}/metrics", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\nisthmus_controller_leader 1\n"), "{text}");
    assert!(
        text.contains("\nisthmus_controller_lease_epoch 0\n"),
        "{text}"
    );
}
