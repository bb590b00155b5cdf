//! TLS helpers for tests: a handshake over an in-memory pipe, and a client over TCP.

use std::net::SocketAddr;
use std::sync::Arc;

use isthmus_connect::pki::tls::{client_config_trusting, server_config};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Runs one handshake between a server presenting `cert_pem`/`key_pem` and a client that
/// trusts only `ca_pem` and expects `server_name`. Err is the client's verdict.
pub async fn handshake_in_memory(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
    server_name: &str,
) -> Result<(), String> {
    let acceptor = TlsAcceptor::from(server_config(cert_pem, key_pem).expect("server config"));
    let connector = TlsConnector::from(client_config_trusting(ca_pem).expect("client config"));
    let name = ServerName::try_from(server_name.to_string()).expect("valid server name");
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(async move { acceptor.accept(server_io).await.map(|_| ()) });
    let client = connector.connect(name, client_io).await.map(|_| ());
    let _ = server.await;
    client.map_err(|e| e.to_string())
}

/// Connects to `addr` over TLS, trusting only `ca_pem` and expecting `server_name`.
pub async fn connect(
    addr: SocketAddr,
    ca_pem: &str,
    server_name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let config: Arc<rustls::ClientConfig> = client_config_trusting(ca_pem).expect("client config");
    let name = ServerName::try_from(server_name.to_string()).expect("valid server name");
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(config).connect(name, tcp).await
}

/// The certificate the server presented on this connection, as PEM.
pub fn peer_cert_pem(stream: &TlsStream<TcpStream>) -> String {
    let (_, conn) = stream.get_ref();
    let der = &conn.peer_certificates().expect("server sent a certificate")[0];
    let body = base64_lines(der.as_ref());
    format!("-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n")
}

fn base64_lines(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.as_bytes()
        .chunks(64)
        .map(|line| format!("{}\n", std::str::from_utf8(line).unwrap()))
        .collect()
}

/// GET `path` over HTTPS (verified against `ca_pem` as `server_name`); returns (status, body).
pub async fn https_get(
    addr: SocketAddr,
    ca_pem: &str,
    server_name: &str,
    path: &str,
) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = connect(addr, ca_pem, server_name).await?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    // Some servers close without a TLS close_notify; what arrived is still the answer.
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}
