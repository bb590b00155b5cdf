//! The API's HTTP edge against clients that misbehave: slow or idle connections, requests
//! too malformed to route, and errors that must all be problem+json with a request id.

mod support;

use std::time::Duration;

use isthmus_server::serve::HttpLimits;
use reqwest::Method;
use serde_json::Value;
use support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far longer than any limit these tests set (1 s), so only a server that does not
/// enforce them hits it; and shorter than hyper's own 30 s default header timeout, so a
/// server relying on that default fails these tests.
const GUARD: Duration = Duration::from_secs(20);

fn limits(header_seconds: u64, idle_seconds: u64) -> HttpLimits {
    HttpLimits {
        header_timeout: Duration::from_secs(header_seconds),
        idle_timeout: Duration::from_secs(idle_seconds),
        ..HttpLimits::default()
    }
}

async fn connect(s: &TestServer) -> TcpStream {
    TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads until the server closes the connection; what it sent before.
async fn read_until_closed(conn: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    tokio::time::timeout(GUARD, async {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    all
}

/// One raw HTTP/1.1 answer: status, lowercase headers, body.
struct RawAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl RawAnswer {
    fn parse(bytes: &[u8]) -> RawAnswer {
        let text = String::from_utf8_lossy(bytes);
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap()[9..12].parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        RawAnswer {
            status,
            headers,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn assert_problem(&self, status: u16) {
        assert_eq!(self.status, status, "{:#}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.body["status"], status);
        let id = self.header("x-request-id").expect("an x-request-id");
        assert_eq!(self.body["request_id"], id);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

/// Sends `request` as is on a new connection; the answer, read until the server closes.
async fn send_raw(s: &TestServer, request: &[u8]) -> RawAnswer {
    let mut conn = connect(s).await;
    conn.write_all(request).await.expect("send");
    RawAnswer::parse(&read_until_closed(&mut conn).await)
}

#[tokio::test]
async fn connections_that_send_only_a_request_line_are_closed_and_do_not_block_others() {
    let s = TestServer::start_with(|c| {
        c.http = HttpLimits {
            max_connections: 8,
            ..limits(1, 3600)
        }
    })
    .await;
    // Five times the cap, each with a request line and nothing more.
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut conn = connect(&s).await;
        conn.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        slow.push(conn);
    }
    let ok = tokio::time::timeout(GUARD, s.raw(Method::GET, "/healthz", None, None, &[]))
        .await
        .expect("a normal request is answered while slow clients hold connections");
    assert_eq!(ok.status, 200);
    // The server, not the clients, ended every slow connection.
    for mut conn in slow {
        let answer = read_until_closed(&mut conn).await;
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }
}

#[tokio::test]
async fn headers_trickling_in_are_cut_off_at_the_header_timeout() {
    let s = TestServer::start_with(|c| c.http = limits(1, 3600)).await;
    let conn = connect(&s).await;
    let (mut read, mut write) = conn.into_split();
    // One byte every 50 ms of a head that would take a minute: each byte is activity, but
    // the time limit runs from the first one.
    let trickle = tokio::spawn(async move {
        let head = format!(
            "GET /healthz HTTP/1.1\r\nx-long: {}\r\n\r\n",
            "a".repeat(1200)
        );
        for byte in head.as_bytes() {
            if write.write_all(&[*byte]).await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(GUARD, read.read(&mut buf))
        .await
        .expect("the server closes the connection");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    trickle.abort();
    assert!(
        !trickle.await.unwrap_or(false),
        "the whole head was sent before the server gave up"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let s = TestServer::start_with(|c| c.http = limits(3600, 1)).await;
    let mut conn = connect(&s).await;
    conn.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    // The answer comes, and then the connection stays idle until the server closes it
    // (long before the hour the header timeout would allow).
    let all = read_until_closed(&mut conn).await;
    let answer = RawAnswer::parse(&all);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["status"], "ok");
}

#[tokio::test]
async fn a_request_line_too_long_is_a_414_problem() {
    let s = TestServer::start().await;
    let cursor = "c".repeat(70_000);
    let request = format!("GET /v1/projects?cursor={cursor} HTTP/1.1\r\nhost: x\r\n\r\n");
    send_raw(&s, request.as_bytes()).await.assert_problem(414);
}

#[tokio::test]
async fn too_many_or_malformed_headers_are_problems() {
    let s = TestServer::start().await;
    let mut request = "GET /healthz HTTP/1.1\r\nhost: x\r\n".to_string();
    for i in 0..120 {
        request.push_str(&format!("x-h{i}: v\r\n"));
    }
    request.push_str("\r\n");
    send_raw(&s, request.as_bytes()).await.assert_problem(431);

    let bad = send_raw(&s, b"GET /healthz HTTP/1.1\r\nbad header: v\r\n\r\n").await;
    bad.assert_problem(400);
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let s = TestServer::start().await;
    let ok = s.raw(Method::GET, "/healthz", None, None, &[]).await;
    let id = ok.header("x-request-id").expect("x-request-id on a 200");
    assert_eq!(id.len(), 32);
    let missing = s.raw(Method::GET, "/nowhere", None, None, &[]).await;
    missing.assert_status_problem(404);
    assert_eq!(
        missing.body["request_id"],
        missing.header("x-request-id").unwrap()
    );
    assert_ne!(missing.header("x-request-id"), Some(id));
}

#[tokio::test]
async fn an_unknown_console_asset_and_an_undecodable_path_are_problems() {
    let s = TestServer::start().await;
    let r = s
        .raw(Method::GET, "/console/nope.js", None, None, &[])
        .await;
    r.assert_status_problem(404);
    // axum's own rejection of a path that is not UTF-8 becomes a problem too.
    let r = s.raw(Method::GET, "/console/%FF", None, None, &[]).await;
    r.assert_status_problem(400);
}

#[tokio::test]
async fn a_duplicate_json_key_is_blamed_on_that_key() {
    let s = TestServer::start().await;
    let r = s
        .raw(
            Method::POST,
            "/v1/projects",
            Some(&s.admin),
            Some(br#"{"name":"a","name":"b"}"#.to_vec()),
            &[],
        )
        .await;
    r.assert_problem(422, "name", "duplicate-key");
}
