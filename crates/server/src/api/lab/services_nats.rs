//! The nats-server processes of a lab service: one per host, each in its host's namespace
//! listening on the host's address, and — for a cluster — routed to the others on port
//! 6222 with JetStream clustered (Raft over the routes, so a stream of three replicas
//! survives one node's loss, as a customer's production cluster would).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Stdio;

use tokio::process::Child;

/// The route port of a clustered lab service (nats-server's default).
pub const ROUTE_PORT: u16 = 6222;

/// One node: where it runs and what it is called.
pub struct NodePlan {
    pub host: String,
    pub ns: String,
    pub ip: Ipv4Addr,
}

/// A started node: its process and its store, removed when the service is deleted.
pub struct NodeProcess {
    pub child: Child,
    pub store_dir: PathBuf,
}

/// Starts every node of the service `name` (`lab-VPC-HOST`) on client port `port`. A
/// single node runs plain JetStream; more join one cluster named after the service.
pub fn start(name: &str, nodes: &[NodePlan], port: u16) -> Result<Vec<NodeProcess>, String> {
    let mut started = Vec::new();
    for node in nodes {
        let store_dir = std::env::temp_dir().join(format!("isthmus-lab-{}-nats-{port}", node.ns));
        // A service starts empty: nothing of an earlier run on the same host is kept.
        let _ = std::fs::remove_dir_all(&store_dir);
        std::fs::create_dir_all(&store_dir)
            .map_err(|e| format!("create {}: {e}", store_dir.display()))?;
        let mut command = tokio::process::Command::new("ip");
        command
            .args(["netns", "exec", &node.ns, "nats-server", "-js"])
            .args(["-a", &node.ip.to_string(), "-p", &port.to_string()])
            .arg("-sd")
            .arg(&store_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if nodes.len() == 1 {
            command.args(["-n", name]);
        } else {
            let routes: Vec<String> = nodes
                .iter()
                .filter(|other| other.host != node.host)
                .map(|other| format!("nats://{}:{ROUTE_PORT}", other.ip))
                .collect();
            command
                .args(["-n", &format!("{name}-{}", node.host)])
                .args(["--cluster_name", name])
                .args(["--cluster", &format!("nats://{}:{ROUTE_PORT}", node.ip)])
                .args(["--routes", &routes.join(",")]);
        }
        // SAFETY: the closure makes one async-signal-safe syscall (prctl).
        unsafe {
            command.pre_exec(|| {
                // The service dies with the server, as every lab object does.
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        // Nodes already started are killed on drop (`kill_on_drop`) if a later one fails.
        let child = command
            .spawn()
            .map_err(|e| format!("start nats-server in {}: {e}", node.ns))?;
        started.push(NodeProcess { child, store_dir });
    }
    Ok(started)
}

/// Whether any node's process still runs (a cluster that lost a node still serves).
pub fn any_running(nodes: &mut [NodeProcess]) -> bool {
    nodes
        .iter_mut()
        .any(|n| matches!(n.child.try_wait(), Ok(None)))
}
