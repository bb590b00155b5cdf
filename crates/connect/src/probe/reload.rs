//! Keeps the probe's TLS configuration in step with its certificate files, so a renewed
//! certificate is served without a restart: the files are checked every second (and on
//! SIGHUP), and a pair that does not load (e.g. caught between the key and the certificate
//! being replaced) leaves the previous configuration in place until the next check.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use rustls::ServerConfig;

use crate::pki::tls::server_config;

const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What identifies one version of a file: replacing it by rename gives a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileVersion {
    inode: u64,
    len: u64,
    modified_ns: i64,
}

fn version_of(path: &Path) -> anyhow::Result<FileVersion> {
    let meta = std::fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
    Ok(FileVersion {
        inode: meta.ino(),
        len: meta.len(),
        modified_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
    })
}

pub struct ReloadingTlsConfig {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
    loaded: RwLock<(FileVersion, FileVersion)>,
}

impl ReloadingTlsConfig {
    pub fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<ReloadingTlsConfig>> {
        let versions = (version_of(cert_path)?, version_of(key_path)?);
        let config = read_pair(cert_path, key_path)?;
        Ok(Arc::new(ReloadingTlsConfig {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new(config),
            loaded: RwLock::new(versions),
        }))
    }

    /// The configuration for the next handshake.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.read().expect("tls config lock").clone()
    }

    /// Reloads if either file changed since the last successful load; returns whether it did.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let versions = (version_of(&self.cert_path)?, version_of(&self.key_path)?);
        if versions == *self.loaded.read().expect("tls versions lock") {
            return Ok(false);
        }
        let config = read_pair(&self.cert_path, &self.key_path)?;
        *self.current.write().expect("tls config lock") = config;
        *self.loaded.write().expect("tls versions lock") = versions;
        Ok(true)
    }

    /// Checks the files every second and on SIGHUP, for as long as the probe runs.
    pub async fn watch(self: Arc<Self>) {
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            match hangup.as_mut() {
                Some(signal) => {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = signal.recv() => {}
                    }
                }
                None => {
                    tick.tick().await;
                }
            }
            match self.reload_if_changed() {
                Ok(true) => {
                    tracing::info!(cert = %self.cert_path.display(), "reloaded TLS certificate")
                }
                Ok(false) => {}
                Err(error) => tracing::warn!(
                    error = format!("{error:#}"),
                    "keeping the current TLS certificate; will retry"
                ),
            }
        }
    }
}

fn read_pair(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<ServerConfig>> {
    let cert = std::fs::read_to_string(cert_path)
        .with_context(|| format!("read certificate {}", cert_path.display()))?;
    let key = std::fs::read_to_string(key_path)
        .with_context(|| format!("read key {}", key_path.display()))?;
    server_config(&cert, &key)
        .with_context(|| format!("load {} with {}", cert_path.display(), key_path.display()))
}
