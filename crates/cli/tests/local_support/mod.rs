//! Harness of the `local` provider's end-to-end tests: a real `isthmus serve` (as root)
//! under a prefix of the test's own, the real `isthmus` binary, TCP listeners inside node
//! namespaces and connection attempts from lab hosts through `isthmus lab exec`.
//!
//! Cleanup is a drop guard: it kills the server, removes every kernel object under the
//! prefix (namespaces, links, firewall tables go with their namespaces) and, unless the
//! test already failed, asserts that nothing under the prefix is left.
#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod topology;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use isthmus_driver_local::names::Names;
use isthmus_driver_local::probe::EchoServer;
use isthmus_driver_local::{netns, LocalConfig, LocalDriver};
use serde_json::Value;

use crate::support::{Cli, Run, Sandbox, Server, BIN, PATIENCE};

/// The port the tests' listeners use inside node namespaces.
pub const PORT: u16 = 7000;

/// Fails the test (never skips it) when not root: CI runs these as root.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the local provider's end-to-end tests create network namespaces and must run as \
         root (CI runs them as root; locally: `sudo -E cargo test -p isthmus --test 'local_*'`)"
    );
}

/// A server running the local provider under `prefix`, with a CLI bound to it.
pub struct LocalLab {
    pub sandbox: Sandbox,
    pub prefix: String,
    pub names: Names,
    server: Option<Server>,
    pub cli: Cli,
    /// More `isthmus serve` flags, kept across restarts.
    serve_args: Vec<String>,
}

impl LocalLab {
    /// Removes leftovers of an interrupted earlier run under `prefix`, then starts a server.
    pub fn start(prefix: &str) -> LocalLab {
        Self::start_with(prefix, &[])
    }

    /// Like [`LocalLab::start`], with more `isthmus serve` flags.
    pub fn start_with(prefix: &str, serve_args: &[&str]) -> LocalLab {
        require_root();
        purge(prefix);
        let sandbox = Sandbox::new();
        let serve_args: Vec<String> = ["--local-prefix", prefix]
            .iter()
            .chain(serve_args)
            .map(|a| a.to_string())
            .collect();
        let server = Server::start(sandbox.data.path(), &as_strs(&serve_args));
        let cli = server.cli(sandbox.home.path());
        LocalLab {
            names: Names::new(prefix).expect("a valid test prefix"),
            prefix: prefix.to_string(),
            sandbox,
            server: Some(server),
            cli,
            serve_args,
        }
    }

    /// `kill -9` the server, whatever it was doing.
    pub fn crash(&mut self) {
        if let Some(server) = self.server.take() {
            server.kill();
        }
    }

    /// Starts the server again on the same data dir (a new port; the CLI follows it).
    pub fn restart(&mut self) {
        self.crash();
        let server = Server::start(self.sandbox.data.path(), &as_strs(&self.serve_args));
        self.cli = Cli {
            url: server.url.clone(),
            ..self.cli.clone()
        };
        self.server = Some(server);
    }

    pub fn server_log(&self) -> String {
        self.server.as_ref().map(Server::log).unwrap_or_default()
    }

    /// Every namespace under this test's prefix.
    pub fn namespaces(&self) -> Vec<String> {
        namespaces_of(&self.prefix)
    }

    /// A TCP echo listener on `ip:PORT` inside node `index` of cluster `cluster_id`.
    pub fn listen_in_node(&self, cluster_id: &str, index: u32, ip: Ipv4Addr) -> EchoServer {
        let ns = self.names.node_ns(cluster_id, index);
        EchoServer::start(&ns, SocketAddr::from((ip, PORT)))
            .unwrap_or_else(|e| panic!("listener in {ns}: {e:#}"))
    }

    /// Creates a lab VPC with one host per `(name, ip)` through the CLI.
    pub fn lab_vpc(&self, name: &str, cidr: &str, hosts: &[(&str, &str)]) {
        self.cli.ok(&format!("lab vpc create {name} --cidr {cidr}"));
        for (host, ip) in hosts {
            self.cli
                .ok(&format!("lab host add {name} {host} --ip {ip}"));
        }
    }

    /// Creates lab VPC `name` behind `hub` (a spoke of a hub, or a VPN-client range): its
    /// traffic to the platform leaves through the hub's router and the hub's peerings.
    pub fn lab_vpc_behind(&self, name: &str, cidr: &str, hub: &str, hosts: &[(&str, &str)]) {
        self.cli.ok(&format!(
            "lab vpc create {name} --cidr {cidr} --behind {hub}"
        ));
        for (host, ip) in hosts {
            self.cli
                .ok(&format!("lab host add {name} {host} --ip {ip}"));
        }
    }

    /// Adds host `name` with address `ip` to the lab's internet (`internet/NAME`).
    pub fn internet_host(&self, name: &str, ip: &str) {
        self.cli
            .ok(&format!("lab internet host add {name} --ip {ip}"));
    }

    /// Whether `target` (`VPC/HOST` or `internet/HOST`) opens a TCP connection to
    /// `host:port`, `host` an address or a name it resolves through its own resolver.
    /// bash's `/dev/tcp` under `timeout 3`, fixed argv.
    pub fn connects_to(&self, target: &str, host: &str, port: u16) -> bool {
        let script = format!("exec 3<>/dev/tcp/{host}/{port}");
        let run = self.lab_exec(target, &["timeout", "3", "bash", "-c", &script]);
        assert!(
            !run.stderr.lines().any(|l| l.starts_with("error: ")),
            "`isthmus lab exec {target}` itself failed:\n{}",
            run.stderr
        );
        run.code == Some(0)
    }

    /// The IPv4 addresses `name` resolves to on `target` (`getent ahostsv4`, through the
    /// host's resolver); `None` when it does not resolve.
    pub fn resolve_on(&self, target: &str, name: &str) -> Option<Vec<String>> {
        let run = self.lab_exec(target, &["getent", "ahostsv4", name]);
        if run.code != Some(0) {
            return None;
        }
        let mut ips: Vec<String> = run
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect();
        ips.sort();
        ips.dedup();
        Some(ips)
    }

    /// The network namespace `target` runs in (as `ip netns identify` sees it there).
    pub fn namespace_of(&self, target: &str) -> String {
        let run = self.lab_exec(target, &["ip", "netns", "identify"]);
        let ns = run.stdout.trim().to_string();
        assert!(
            run.code == Some(0) && !ns.is_empty(),
            "no namespace name for {target}:\n{}{}",
            run.stdout,
            run.stderr
        );
        ns
    }

    /// Runs `cluster update ID flags…` and waits until the controller has applied it.
    pub fn update_cluster(&self, id: &str, flags: &str) -> Value {
        let updated = self.cli.json(&format!("cluster update {id} {flags}"));
        let settled = self.settled_cluster(id);
        assert!(
            settled["generation"].as_u64() >= updated["generation"].as_u64(),
            "{settled:#}"
        );
        settled
    }

    /// Polls the cluster until the controller has acted on its latest spec and it runs.
    pub fn settled_cluster(&self, id: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let cluster = self.cli.json(&format!("cluster get {id}"));
            if cluster["observed_generation"] == cluster["generation"]
                && cluster["status"] == "running"
            {
                return cluster;
            }
            assert!(
                Instant::now() < deadline,
                "cluster {id} never settled; last seen:\n{cluster:#}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A running cluster on `network`, created with more `cluster create` flags.
    pub fn cluster_with(&self, network: &str, topology: &str, flags: &str) -> Value {
        let cluster = self.cli.json(&format!(
            "cluster create db --network {network} --engine probe --topology {topology} \
             {flags} --wait --timeout {}",
            crate::support::WAIT_TIMEOUT
        ));
        assert_eq!(cluster["status"], "running", "{cluster:#}");
        cluster
    }

    /// A local peering to lab VPC `vpc` with `routes`, gateway-transit ranges `transit`
    /// and the gateway-transit flag, waited for.
    pub fn transit_peering(
        &self,
        network: &str,
        vpc: &str,
        routes: &[&str],
        transit: &[&str],
        allow_gateway_transit: bool,
    ) -> Value {
        let routes: String = routes.iter().map(|r| format!(" --route {r}")).collect();
        let transit: String = transit
            .iter()
            .map(|r| format!(" --transit-route {r}"))
            .collect();
        let flag = if allow_gateway_transit {
            " --allow-gateway-transit"
        } else {
            ""
        };
        let peering = self.cli.json(&format!(
            "peering create {} --network {network} --peer-account lab \
             --peer-network {vpc} --peer-region host{routes}{transit}{flag} --wait --timeout {}",
            peering_name(network, vpc),
            crate::support::WAIT_TIMEOUT
        ));
        assert_eq!(peering["status"], "active", "{peering:#}");
        peering
    }

    /// A project (made the CLI's default) and an active local network in it.
    pub fn project_and_network(&mut self, cidr: &str) -> String {
        let project = self.cli.json("project create e2e");
        self.cli = self.cli.in_project(&crate::support::id_of(&project));
        let network = self.cli.json(&format!(
            "network create lab --provider local --region host --cidr {cidr} --wait --timeout {}",
            crate::support::WAIT_TIMEOUT
        ));
        assert_eq!(network["status"], "active", "{network:#}");
        crate::support::id_of(&network)
    }

    /// A running cluster `db` on `network`; returns it (with `nodes[].ip`).
    pub fn cluster(&self, network: &str, topology: &str) -> Value {
        self.cluster_named("db", network, topology)
    }

    /// A running cluster called `name` on `network` (names are unique in a project).
    pub fn cluster_named(&self, name: &str, network: &str, topology: &str) -> Value {
        let cluster = self.cli.json(&format!(
            "cluster create {name} --network {network} --engine probe --topology {topology} \
             --wait --timeout {}",
            crate::support::WAIT_TIMEOUT
        ));
        assert_eq!(cluster["status"], "running", "{cluster:#}");
        cluster
    }

    /// A local peering from `network` to lab VPC `vpc` with `routes`, waited for.
    pub fn peering(&self, network: &str, vpc: &str, routes: &[&str]) -> Value {
        let routes: String = routes.iter().map(|r| format!(" --route {r}")).collect();
        let run = self.cli.run(&format!(
            "peering create {} --network {network} --peer-account lab \
             --peer-network {vpc} --peer-region host{routes} --wait --timeout {} -o json",
            peering_name(network, vpc),
            crate::support::WAIT_TIMEOUT
        ));
        serde_json::from_str(&run.stdout)
            .unwrap_or_else(|_| panic!("peering create answered:\n{}{}", run.stdout, run.stderr))
    }

    /// Runs `isthmus lab exec VPC/HOST -- argv…` with each argument kept whole.
    pub fn lab_exec(&self, target: &str, argv: &[&str]) -> Run {
        let mut command = Command::new(BIN);
        command
            .args(["lab", "exec", target, "--"])
            .args(argv)
            .env("HOME", &self.cli.home)
            .env("ISTHMUS_URL", &self.cli.url)
            .env("ISTHMUS_TOKEN", &self.cli.token)
            .env_remove("ISTHMUS_PROJECT")
            .stdin(Stdio::null());
        command.output().expect("run isthmus lab exec").into()
    }

    /// Whether lab host `target` (`VPC/HOST`) can open a TCP connection to `ip:PORT`.
    /// The attempt is bash's `/dev/tcp` under `timeout 2`: the argv is fixed here, never
    /// built from user input.
    pub fn connects(&self, target: &str, ip: &str) -> bool {
        let script = format!("exec 3<>/dev/tcp/{ip}/{PORT}");
        let run = self.lab_exec(target, &["timeout", "2", "bash", "-c", &script]);
        assert!(
            !run.stderr.lines().any(|l| l.starts_with("error: ")),
            "`isthmus lab exec {target}` itself failed:\n{}",
            run.stderr
        );
        run.code == Some(0)
    }

    /// Polls until `target` connects to every address in `ips` (or fails the test).
    pub fn eventually_connects(&self, target: &str, ips: &[String]) {
        eventually(&format!("{target} connects to {ips:?}"), || {
            ips.iter().all(|ip| self.connects(target, ip))
        });
    }
}

impl Drop for LocalLab {
    fn drop(&mut self) {
        self.crash();
        let errors = purge(&self.prefix);
        let left = self.namespaces();
        if !std::thread::panicking() {
            assert!(errors.is_empty(), "cleanup errors: {errors:?}");
            assert!(left.is_empty(), "namespaces left behind: {left:?}");
        }
    }
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Removes every kernel object under `prefix` (the final sweep of every test), and the
/// lab hosts' resolver files a killed server left in `/etc/netns`.
pub fn purge(prefix: &str) -> Vec<String> {
    let mut errors = LocalDriver::new(LocalConfig {
        prefix: prefix.to_string(),
    })
    .expect("driver for cleanup")
    .purge()
    .errors;
    let ours = format!("{prefix}-");
    if let Ok(entries) = std::fs::read_dir("/etc/netns") {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&ours) {
                if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                    errors.push(format!("remove {}: {e}", entry.path().display()));
                }
            }
        }
    }
    errors
}

pub fn namespaces_of(prefix: &str) -> Vec<String> {
    let ours = format!("{prefix}-");
    netns::list()
        .expect("list namespaces")
        .into_iter()
        .filter(|n| n.starts_with(&ours))
        .collect()
}

/// Polls `check` until it holds; fails the test after [`PATIENCE`].
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The node addresses of a cluster, by index.
pub fn node_ips(cluster: &Value) -> Vec<String> {
    cluster["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["ip"].as_str().expect("node ip").to_string())
        .collect()
}

/// `public-<cluster-id>.<zone>`: the public endpoint's name, whether or not it is enabled.
pub fn public_name(cluster: &Value) -> String {
    let id = cluster["id"].as_str().expect("cluster id");
    let dns = cluster["dns_name"].as_str().expect("cluster dns_name");
    let zone = dns
        .strip_prefix(&format!("{id}."))
        .unwrap_or_else(|| panic!("{dns} is not <id>.<zone>"));
    format!("public-{id}.{zone}")
}

/// A peering's name, unique in the project (names are unique per kind): several
/// networks may peer with the same lab VPC.
fn peering_name(network: &str, vpc: &str) -> String {
    format!("to-{vpc}-{network}")
}
