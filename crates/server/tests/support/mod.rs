//! An Isthmus server running in-process on a random loopback port with a temp data dir,
//! and a small JSON client for it. Shared by the `api_*` integration tests.
#![allow(dead_code)] // each test binary uses a different part

// One tmpfs guard for the store and server tests (a file of the store crate's tests).
#[path = "../../../store/tests/common/tmpfs.rs"]
pub mod tmpfs;

pub mod dns;

use std::path::PathBuf;

use isthmus_server::serve::{self, ServeConfig, Started};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestServer {
    pub base: String,
    /// The first-start superuser secret, read from `<data_dir>/admin-token`.
    pub admin: String,
    pub data_dir: PathBuf,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    _started: Started,
    _dir: tempfile::TempDir,
}

/// One answer: status, headers and the JSON body (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with `status` whose first error names `field` and `rule`.
    pub fn assert_problem(&self, status: u16, field: &str, rule: &str) -> &Value {
        self.assert_status_problem(status);
        let first = &self.body["errors"][0];
        assert_eq!(first["field"], field, "field in {:#}", self.body);
        assert_eq!(first["rule"], rule, "rule in {:#}", self.body);
        first
    }

    /// Asserts an RFC 9457 problem with `status`.
    pub fn assert_status_problem(&self, status: u16) {
        assert_eq!(self.status, status, "status of {:#}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type of {:#}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        let kind = self.body["type"].as_str().unwrap_or_default();
        assert!(kind.starts_with("urn:isthmus:problem:"), "type {kind}");
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }

    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {:#}", self.body))
            .to_string()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server whose config `configure` adjusts first (e.g. HTTP limits, the local
    /// provider, `--no-lab`).
    pub async fn start_with(configure: impl FnOnce(&mut ServeConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        // A directory serve() has to create itself, as on a first start.
        let data_dir = dir.path().join("data");
        TestServer::start_at_with(dir, data_dir, configure).await
    }

    /// A server whose data dir is `data_dir` (a first start), kept while `dir` lives.
    pub async fn start_at(dir: tempfile::TempDir, data_dir: PathBuf) -> TestServer {
        TestServer::start_at_with(dir, data_dir, |_| {}).await
    }

    async fn start_at_with(
        dir: tempfile::TempDir,
        data_dir: PathBuf,
        configure: impl FnOnce(&mut ServeConfig),
    ) -> TestServer {
        let mut config = ServeConfig::new(&data_dir);
        configure(&mut config);
        let limits = config.http;
        let started = serve::start(&config).await.expect("start the server");
        let token_file = started
            .admin_token_file
            .clone()
            .expect("a first start writes the admin token");
        let admin = std::fs::read_to_string(&token_file)
            .expect("read admin-token")
            .trim()
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let state = started.state.clone();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            serve::serve_on_with(listener, state, limits, shutdown)
                .await
                .expect("serve");
        });
        TestServer {
            base,
            admin,
            data_dir,
            http: reqwest::Client::new(),
            stop: Some(stop),
            _started: started,
            _dir: dir,
        }
    }

    /// The running server's state (its store, for what the API cannot set up).
    pub fn state(&self) -> &isthmus_server::AppState {
        &self._started.state
    }

    /// Where this server's platform DNS answers (UDP and TCP, a free loopback port).
    pub fn dns_addr(&self) -> std::net::SocketAddr {
        self._started.dns.local_addr()
    }

    /// A request with a raw body and extra headers.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.expect("send request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("read body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        self.raw(method, path, Some(token), body, headers).await
    }

    pub async fn get(&self, token: &str, path: &str) -> Reply {
        self.call(Method::GET, path, token, None, &[]).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body), &[]).await
    }

    pub async fn patch(&self, token: &str, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body), &[]).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Reply {
        self.call(Method::DELETE, path, token, None, &[]).await
    }

    /// Polls `path` until the resource's status is one of `statuses` (the controller
    /// works in the background); panics if it never gets there.
    pub async fn wait_for_status(&self, path: &str, statuses: &[&str]) -> Reply {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let r = self.get(&self.admin, path).await;
            let status = r.body["status"].as_str().unwrap_or_default();
            if statuses.contains(&status) {
                return r;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} never reached {statuses:?}: {:#}",
                r.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A new project made by the superuser; returns its id.
    pub async fn project(&self, name: &str) -> String {
        let r = self
            .post(&self.admin, "/v1/projects", json!({ "name": name }))
            .await;
        assert_eq!(r.status, 201, "create project: {:#}", r.body);
        r.id()
    }

    /// A new token with `role` in `project`; returns its secret.
    pub async fn token(&self, project: &str, role: &str) -> String {
        let r = self
            .post(
                &self.admin,
                &format!("/v1/projects/{project}/tokens"),
                json!({ "name": format!("{role} token"), "role": role }),
            )
            .await;
        assert_eq!(r.status, 201, "create token: {:#}", r.body);
        r.body["secret"].as_str().expect("secret").to_string()
    }

    /// Creates a network as the superuser; returns the reply.
    pub async fn network(&self, project: &str, name: &str, cidr: &str) -> Reply {
        self.post(
            &self.admin,
            &format!("/v1/projects/{project}/networks"),
            network_body(name, cidr),
        )
        .await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub fn network_body(name: &str, cidr: &str) -> Value {
    json!({ "name": name, "provider": "aws", "region": "us-east-1", "cidr_block": cidr })
}

pub fn cluster_body(name: &str, network_id: &str, engine: &str) -> Value {
    json!({ "name": name, "network_id": network_id, "engine": engine, "topology": "single-node" })
}

pub fn peering_body(name: &str, network_id: &str, routes: &[&str]) -> Value {
    json!({
        "name": name,
        "network_id": network_id,
        "peer": { "account_id": "123456789012", "network_id": "vpc-0abc1234", "region": "us-east-1" },
        "routes": routes,
    })
}
