//! Just enough of the NATS client protocol, over TLS verified against the installation CA,
//! for the tests to write to a JetStream stream on one node and read it back on another.
//! (No NATS client is packaged for Debian; the protocol is a few text lines.)
//!
//! NATS sends its INFO line in the clear, then the client starts TLS on the same connection.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ClientConnection, StreamOwned};

pub struct Nats {
    conn: BufReader<StreamOwned<ClientConnection, TcpStream>>,
    next_sid: u32,
}

impl Nats {
    /// Speaks NATS over `tcp` (already connected, with timeouts), verifying the server as
    /// `server_name` with `tls`.
    pub fn handshake(
        mut tcp: TcpStream,
        server_name: &str,
        tls: Arc<ClientConfig>,
    ) -> Result<Nats> {
        let info = read_plain_line(&mut tcp).context("read INFO")?;
        if !info.starts_with("INFO ") || !info.contains("\"tls_required\":true") {
            bail!("expected an INFO that requires TLS, got {info:?}");
        }
        let name = ServerName::try_from(server_name.to_string()).context("server name")?;
        let tls = ClientConnection::new(tls, name).context("start TLS")?;
        let mut nats = Nats {
            conn: BufReader::new(StreamOwned::new(tls, tcp)),
            next_sid: 1,
        };
        nats.send(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":true,\"lang\":\"isthmus-test\",\"version\":\"0\"}\r\nPING\r\n")?;
        loop {
            match nats.line()?.as_str() {
                "PONG" => return Ok(nats),
                line if line.starts_with("-ERR") => bail!("CONNECT refused: {line}"),
                _ => {}
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stream = self.conn.get_mut();
        stream.write_all(bytes).context("send to NATS")?;
        stream.flush().context("flush to NATS")
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        let n = self.conn.read_line(&mut line).context("read from NATS")?;
        if n == 0 {
            bail!("NATS closed the connection");
        }
        Ok(line.trim_end().to_string())
    }

    /// Publishes `payload` to `subject` and returns the first reply.
    pub fn request(&mut self, subject: &str, payload: &[u8]) -> Result<Vec<u8>> {
        let sid = self.next_sid;
        self.next_sid += 1;
        let inbox = format!("_INBOX.isthmus.{sid}");
        let mut out = format!(
            "SUB {inbox} {sid}\r\nUNSUB {sid} 1\r\nPUB {subject} {inbox} {}\r\n",
            payload.len()
        )
        .into_bytes();
        out.extend_from_slice(payload);
        out.extend_from_slice(b"\r\n");
        self.send(&out)?;
        loop {
            let line = self.line()?;
            if line == "PING" {
                self.send(b"PONG\r\n")?;
            } else if line.starts_with("-ERR") {
                bail!("request to {subject}: {line}");
            } else if let Some(rest) = line.strip_prefix("MSG ") {
                let len: usize = rest
                    .split_whitespace()
                    .last()
                    .and_then(|l| l.parse().ok())
                    .with_context(|| format!("MSG line {line:?}"))?;
                let mut body = vec![0; len + 2];
                self.conn
                    .read_exact(&mut body)
                    .context("read MSG payload")?;
                body.truncate(len);
                return Ok(body);
            }
        }
    }
}

/// Reads one CRLF-terminated line byte by byte, so nothing after it (the TLS handshake) is
/// consumed.
fn read_plain_line(tcp: &mut TcpStream) -> Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        tcp.read_exact(&mut byte).context("read a line")?;
        line.push(byte[0]);
        if line.len() > 64 * 1024 {
            bail!("line too long");
        }
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

/// Standard base64 (JetStream returns message data in it).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
