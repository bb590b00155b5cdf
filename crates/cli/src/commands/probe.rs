//! `isthmus probe`: runs the `probe` engine for one node until it is stopped.

use isthmus_connect::probe::{run_probe, ProbeConfig, ProbeIdentity};

use crate::args::ProbeArgs;

pub async fn run(args: ProbeArgs) -> anyhow::Result<String> {
    super::serve::init_tracing();
    run_probe(ProbeConfig {
        listen: args.listen,
        cert_path: args.cert,
        key_path: args.key,
        identity: ProbeIdentity {
            cluster_id: args.cluster_id,
            node_index: args.node_index,
            names: args.names,
        },
    })
    .await?;
    Ok(String::new())
}
