//! How each engine's nodes are started: the program and its arguments (with placeholders),
//! an optional generated configuration file, the readiness check, and what a renewed
//! certificate needs. The catalog itself (names, topologies, ports, addresses) lives in
//! `isthmus_core::engines`.

mod context;
mod nats;
mod placeholders;
mod probe;
mod readiness;

use std::path::{Path, PathBuf};

use anyhow::Context;

pub use context::{catalog_ports, LaunchContext, Membership, Peer};
pub use nats::{nats_config, nats_launch, NATS_CONFIG_FILE};
pub use placeholders::render;
pub use probe::probe_launch;
pub use readiness::{Readiness, ReadyCheck};

/// What a node needs once its certificate files were replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertRenewal {
    /// The engine watches its certificate files itself (`probe`).
    WatchesFiles,
    /// Send SIGHUP: the engine reloads its configuration, certificates included (`nats`).
    SignalHup,
    /// Only a restart picks up new certificates.
    Restart,
}

/// Builds the text of an engine's configuration file for one node.
pub type ConfigRenderer = fn(&LaunchContext) -> anyhow::Result<String>;

/// How one engine's node process is started, for any node.
#[derive(Debug, Clone)]
pub struct NodeLaunch {
    pub engine: &'static str,
    pub program: PathBuf,
    /// Arguments with `{placeholders}` (see [`render`]).
    pub args: Vec<String>,
    /// A configuration file written into the node's data dir as `(file name, renderer)`;
    /// its path is the `{config}` placeholder.
    pub config_file: Option<(&'static str, ConfigRenderer)>,
    /// The port peers connect to; `{peers}` lists the peers' addresses on it.
    pub peer_port: Option<&'static str>,
    pub readiness: Readiness,
    pub on_cert_renewal: CertRenewal,
}

/// A launch made concrete for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedLaunch {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Files to write before starting: (path, contents).
    pub files: Vec<(PathBuf, String)>,
    pub ready: ReadyCheck,
    pub on_cert_renewal: CertRenewal,
}

impl NodeLaunch {
    pub fn render(&self, ctx: &LaunchContext) -> anyhow::Result<RenderedLaunch> {
        let context = || format!("{} launch for node {}", self.engine, ctx.node_name);
        let mut files = Vec::new();
        let config_path = match self.config_file {
            Some((name, renderer)) => {
                let path = ctx.data_dir.join(name);
                files.push((path.clone(), renderer(ctx).with_context(context)?));
                Some(path)
            }
            None => None,
        };
        let args = self
            .args
            .iter()
            .map(|arg| render(arg, ctx, config_path.as_deref(), self.peer_port))
            .collect::<anyhow::Result<Vec<_>>>()
            .with_context(context)?;
        let ready_port = match self.readiness {
            Readiness::TcpConnect { port }
            | Readiness::TlsHandshake { port }
            | Readiness::HttpsGet { port, .. } => port,
        };
        Ok(RenderedLaunch {
            program: self.program.clone(),
            args,
            files,
            ready: ReadyCheck {
                kind: self.readiness,
                addr: ctx.addr(ready_port).with_context(context)?,
                server_name: ctx.node_name.clone(),
            },
            on_cert_renewal: self.on_cert_renewal,
        })
    }
}

impl RenderedLaunch {
    /// Writes the configuration files (their directories must exist).
    pub fn write_files(&self) -> anyhow::Result<()> {
        for (path, contents) in &self.files {
            crate::pki::write_atomically(path, contents.as_bytes(), 0o640)
                .with_context(|| format!("write engine config {}", path.display()))?;
        }
        Ok(())
    }

    /// The command to spawn (wrap it, e.g. in `ip netns exec`, to run inside a namespace).
    pub fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command.args(&self.args);
        command
    }
}

/// The launch recipe of a catalog engine; `isthmus_binary` is the program that has the
/// `probe` subcommand, `nats_server` where nats-server is installed.
pub fn launch_for(engine: &str, isthmus_binary: &Path, nats_server: &Path) -> Option<NodeLaunch> {
    match engine {
        "probe" => Some(probe_launch(isthmus_binary)),
        "nats" => Some(nats_launch(nats_server)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
