//! One probe connection: TLS, then one JSON line per request line. An HTTP/1.x request gets
//! a minimal HTTP response with the same JSON, so `curl --cacert ca.pem https://…` works.

use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest request line (or HTTP header line) accepted.
const MAX_LINE: u64 = 8 * 1024;
/// A client that says nothing for this long is disconnected.
const IDLE: Duration = Duration::from_secs(30);

pub async fn answer<S>(stream: S, identity_json: &str) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    loop {
        let Some(line) = read_line(&mut stream).await? else {
            return Ok(());
        };
        if is_http_request(&line) {
            skip_http_headers(&mut stream).await?;
            let body = format!("{identity_json}\n");
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream
                .write_all(response.as_bytes())
                .await
                .context("send HTTP response")?;
            stream.shutdown().await.ok();
            return Ok(());
        }
        stream
            .write_all(format!("{identity_json}\n").as_bytes())
            .await
            .context("send identity")?;
        stream.flush().await.context("send identity")?;
    }
}

async fn read_line<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> anyhow::Result<Option<String>> {
    let mut buf = Vec::new();
    let mut limited = AsyncReadExt::take(&mut *reader, MAX_LINE);
    let read = tokio::time::timeout(IDLE, limited.read_until(b'\n', &mut buf))
        .await
        .context("client idle")?
        .context("read request line")?;
    if read == 0 {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&buf).trim_end().to_string()))
}

fn is_http_request(line: &str) -> bool {
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or_default();
    let version = line.rsplit(' ').next().unwrap_or_default();
    matches!(method, "GET" | "HEAD" | "POST" | "PUT" | "OPTIONS") && version.starts_with("HTTP/1.")
}

async fn skip_http_headers<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> anyhow::Result<()> {
    while let Some(line) = read_line(reader).await? {
        if line.is_empty() {
            break;
        }
    }
    Ok(())
}
