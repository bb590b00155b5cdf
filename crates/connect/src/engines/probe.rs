//! The `probe` engine runs the isthmus binary itself: `isthmus probe …`.

use std::path::Path;

use super::{CertRenewal, NodeLaunch, Readiness};

/// `isthmus probe --listen IP:PORT --cert … --key … --cluster-id … --node-index N
/// --name NODE_NAME --name CLUSTER_NAME` (the flags the `probe` subcommand accepts).
pub fn probe_launch(isthmus_binary: &Path) -> NodeLaunch {
    let args = [
        "probe",
        "--listen",
        "{node_ip}:{port:https}",
        "--cert",
        "{cert}",
        "--key",
        "{key}",
        "--cluster-id",
        "{cluster_id}",
        "--node-index",
        "{node_index}",
        "--name",
        "{node_name}",
        "--name",
        "{cluster_name}",
    ];
    NodeLaunch {
        engine: "probe",
        program: isthmus_binary.to_path_buf(),
        args: args.iter().map(|a| a.to_string()).collect(),
        config_file: None,
        peer_port: None,
        readiness: Readiness::TlsHandshake { port: "https" },
        on_cert_renewal: CertRenewal::WatchesFiles,
    }
}
