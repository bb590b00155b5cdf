//! Is a node ready? One attempt per call; the caller polls.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::pki::tls::client_config_trusting;

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// How an engine says it is ready, by the name of one of its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// A TCP connection is accepted.
    TcpConnect { port: &'static str },
    /// A TLS handshake verifies against the CA with the node name.
    TlsHandshake { port: &'static str },
    /// An HTTPS GET (verified like the handshake) answers 200.
    HttpsGet {
        port: &'static str,
        path: &'static str,
    },
}

/// A readiness check bound to one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyCheck {
    pub kind: Readiness,
    pub addr: SocketAddr,
    /// The name the node's certificate must be valid for.
    pub server_name: String,
}

impl ReadyCheck {
    /// Ok when the node is ready; the error says what is not.
    pub async fn check(&self, ca_pem: &str) -> anyhow::Result<()> {
        tokio::time::timeout(ATTEMPT_TIMEOUT, self.check_once(ca_pem))
            .await
            .with_context(|| format!("readiness check on {} timed out", self.addr))?
    }

    async fn check_once(&self, ca_pem: &str) -> anyhow::Result<()> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connect to {}", self.addr))?;
        let path = match self.kind {
            Readiness::TcpConnect { .. } => return Ok(()),
            Readiness::TlsHandshake { .. } => None,
            Readiness::HttpsGet { path, .. } => Some(path),
        };
        let connector = TlsConnector::from(client_config_trusting(ca_pem)?);
        let name = ServerName::try_from(self.server_name.clone())
            .with_context(|| format!("server name {:?}", self.server_name))?;
        let mut tls = connector
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {} as {}", self.addr, self.server_name))?;
        let Some(path) = path else {
            return Ok(());
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.server_name
        );
        tls.write_all(request.as_bytes())
            .await
            .context("send readiness request")?;
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await.ok();
        let response = String::from_utf8_lossy(&response);
        let status = response.lines().next().unwrap_or_default();
        anyhow::ensure!(
            status.split(' ').nth(1) == Some("200"),
            "GET {path} on {} answered {status:?}",
            self.addr
        );
        Ok(())
    }
}
