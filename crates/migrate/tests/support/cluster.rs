//! A three-node JetStream cluster on loopback, standing in for a customer's clustered
//! source: real nats-server processes routed to each other, each with its own store,
//! SIGKILLed one at a time to play a node that dies for good.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream, Context};
use isthmus_migrate::Endpoint;

use super::{free_port, nats_server, WAIT};

pub struct NatsCluster {
    pub ports: Vec<u16>,
    store: tempfile::TempDir,
    processes: Vec<Option<Child>>,
}

impl NatsCluster {
    /// Three nodes; returns once the cluster has a meta leader.
    pub async fn start() -> NatsCluster {
        let store = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route_urls: Vec<String> = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect();
        let mut processes = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let log = std::fs::File::create(store.path().join(format!("n{i}.log"))).unwrap();
            let child = Command::new(nats_server())
                .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js"])
                .args(["-n", &format!("n{i}"), "--cluster_name", "source"])
                .args(["--cluster", &route_urls[i]])
                .args(["--routes", &route_urls.join(",")])
                .arg("-sd")
                .arg(store.path().join(format!("n{i}")))
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawn nats-server");
            processes.push(Some(child));
        }
        let cluster = NatsCluster {
            ports,
            store,
            processes,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            // The account info of a clustered 2.9 server does not decode in this client:
            // an API request that needs the meta leader stands in for it.
            let ready = match async_nats::connect(cluster.url(0)).await {
                Ok(client) => client
                    .request("$JS.API.STREAM.NAMES", "".into())
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|reply| {
                        let body = String::from_utf8_lossy(&reply.payload).to_string();
                        if body.contains("\"error\"") {
                            Err(body)
                        } else {
                            Ok(())
                        }
                    }),
                Err(e) => Err(e.to_string()),
            };
            let Err(why) = ready else {
                return cluster;
            };
            assert!(
                Instant::now() < deadline,
                "no meta leader ({why}):\n{}",
                cluster.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, node: usize) -> String {
        format!("nats://127.0.0.1:{}", self.ports[node])
    }

    /// Only `node`'s URL: a client learns the others from the server (and reconnects to
    /// them when `node` dies).
    pub fn endpoint_of(&self, node: usize) -> Endpoint {
        Endpoint {
            urls: vec![self.url(node)],
            ..Default::default()
        }
    }

    /// A client that knows every node.
    pub async fn js(&self) -> Context {
        let urls: Vec<async_nats::ServerAddr> =
            (0..3).map(|i| self.url(i).parse().unwrap()).collect();
        jetstream::new(async_nats::connect(urls).await.unwrap())
    }

    /// A stream over `name.>` with a replica on every node.
    pub async fn create_stream(&self, js: &Context, name: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let made = js
                .get_or_create_stream(stream::Config {
                    name: name.to_string(),
                    subjects: vec![format!("{}.>", name.to_lowercase())],
                    num_replicas: 3,
                    ..Default::default()
                })
                .await;
            match made {
                Ok(_) => return,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("create {name}: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("create {name}: {e}\n{}", self.logs()),
            }
        }
    }

    /// SIGKILL: the node gets no chance to step down or say goodbye.
    pub fn kill(&mut self, node: usize) {
        if let Some(mut child) = self.processes[node].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn logs(&self) -> String {
        (0..3)
            .map(|i| {
                std::fs::read_to_string(self.store.path().join(format!("n{i}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n----\n")
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in 0..3 {
            self.kill(node);
        }
    }
}
