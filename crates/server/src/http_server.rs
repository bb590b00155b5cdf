//! The API's HTTP/1.1 server: our own accept loop over hyper, because `axum::serve` has no
//! header timeout, no idle timeout and no cap on connections, and a few hundred clients
//! that open a connection and send nothing (or half a request) could hold the API.
//!
//! - At most `max_connections` connections are open; past that, new ones wait in the
//!   kernel's accept queue until one closes (as Go's `LimitListener` does).
//! - A connection is closed when a request's head (request line and headers) has not
//!   fully arrived `header_timeout` after its first byte, or when it has been idle (no
//!   request in progress, no new byte) for `idle_timeout`.
//! - Every request carries a [`RequestTimeout`] the router enforces (504 problem+json).
//! - hyper answers a request it cannot parse (a URI or headers too long, a bad header)
//!   itself, with an empty body; that answer is replaced by a problem+json one.
//! - Shutdown stops accepting, lets requests in progress finish and closes idle
//!   connections.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{Response, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::api::edge::{raw_problem_response, RequestTimeout};

/// The limits of the API's HTTP server (`isthmus serve --max-connections …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// From a request's first byte to the end of its headers.
    pub header_timeout: Duration,
    /// A connection with no request in progress and no byte received is closed after this.
    pub idle_timeout: Duration,
    /// From the end of a request's headers to its response (504 past it). The lab's
    /// `exec` has its own limit and is exempt.
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then lets
/// requests in progress finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        limits.max_connections > 0,
        "max_connections must be at least 1"
    );
    let max = limits
        .max_connections
        .min(Semaphore::MAX_PERMITS)
        .min(u32::MAX as usize);
    let slots = Arc::new(Semaphore::new(max));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.context("connection slots closed")?,
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before accept: wait a
                    // little rather than spin, and keep serving.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            stream,
            router.clone(),
            limits,
            stopping.clone(),
            slot,
        ));
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: all slots back means all done.
    let _ = slots.acquire_many(max as u32).await;
    Ok(())
}

/// One connection, until it ends, times out or the server stops.
async fn connection(
    stream: TcpStream,
    router: Router,
    limits: HttpLimits,
    mut stopping: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(EdgeIo::new(stream, activity.clone()));
    let service = EdgeService {
        router,
        activity: activity.clone(),
        request_timeout: limits.request_timeout,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Ours (below) tells a slow head from an idle connection; hyper's counts both.
    builder.header_read_timeout(None);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut stop_requested = *stopping.borrow();
    if stop_requested {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = activity.deadline(&limits);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            _ = activity.changed.notified() => {}
            _ = sleep_until(deadline) => {
                if let Some(why) = activity.expired(&limits) {
                    tracing::debug!("closing a connection: {why}");
                    return;
                }
            }
            changed = stopping.changed(), if !stop_requested => {
                stop_requested = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Where a connection is between requests, for the header and idle timeouts.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No request in progress and nothing of the next one received, since then.
    Idle(Instant),
    /// The first bytes of a request's head arrived then.
    Head(Instant),
    /// Requests handed to the router whose responses are not fully sent yet.
    Busy(usize),
}

struct Activity {
    phase: Mutex<Phase>,
    /// Wakes the connection's task to set its timer for the new phase.
    changed: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            phase: Mutex::new(Phase::Idle(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes_received(&self) {
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
            self.changed.notify_one();
        }
    }

    fn request_started(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        };
        self.changed.notify_one();
    }

    fn response_sent(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
        self.changed.notify_one();
    }

    fn deadline(&self, limits: &HttpLimits) -> Option<Instant> {
        match *self.phase() {
            Phase::Idle(since) => Some(since + limits.idle_timeout),
            Phase::Head(since) => Some(since + limits.header_timeout),
            Phase::Busy(_) => None,
        }
    }

    /// Why the connection is to be closed now, if it is.
    fn expired(&self, limits: &HttpLimits) -> Option<&'static str> {
        let now = Instant::now();
        match *self.phase() {
            Phase::Idle(since) if now >= since + limits.idle_timeout => Some("idle timeout"),
            Phase::Head(since) if now >= since + limits.header_timeout => {
                Some("the request's headers did not arrive in time")
            }
            _ => None,
        }
    }
}

/// Marks the connection busy from a request's dispatch until its response body is
/// dropped (sent in full, or abandoned).
struct BusyGuard(Arc<Activity>);

impl BusyGuard {
    fn new(activity: Arc<Activity>) -> BusyGuard {
        activity.request_started();
        BusyGuard(activity)
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.response_sent();
    }
}

/// A response body that keeps its connection marked busy while it lives.
struct TrackedBody {
    inner: Body,
    _busy: BusyGuard,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[derive(Clone)]
struct EdgeService {
    router: Router,
    activity: Arc<Activity>,
    request_timeout: Duration,
}

impl hyper::service::Service<hyper::Request<Incoming>> for EdgeService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let busy = BusyGuard::new(self.activity.clone());
        let mut req: Request = req.map(Body::new);
        req.extensions_mut()
            .insert(RequestTimeout(self.request_timeout));
        let router = self.router.clone();
        Box::pin(async move {
            let response = match router.oneshot(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok(response.map(|inner| TrackedBody { inner, _busy: busy }))
        })
    }
}

/// The connection's socket: notes when bytes arrive (for the header and idle timeouts)
/// and replaces hyper's own empty-bodied answer to an unparseable request by a
/// problem+json one.
struct EdgeIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    /// Bytes of our replacement answer not yet written.
    pending: Vec<u8>,
    /// Set once the answer was replaced: hyper writes nothing after it but is told
    /// everything was written.
    replaced: bool,
}

impl EdgeIo {
    fn new(stream: TcpStream, activity: Arc<Activity>) -> EdgeIo {
        EdgeIo {
            stream,
            activity,
            pending: Vec::new(),
            replaced: false,
        }
    }

    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.stream).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for EdgeIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_received();
        }
        result
    }
}

impl AsyncWrite for EdgeIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        if self.replaced {
            return Poll::Ready(Ok(buf.len()));
        }
        if let Some(status) = hyper_parse_error_answer(buf) {
            self.pending = raw_problem_response(status, parse_error_detail(status));
            self.replaced = true;
            // Written as far as hyper is concerned; ours goes out on the next poll.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Whether `buf` is exactly the answer hyper writes by itself to a request it could not
/// parse: a bare head with status 400, 414 or 431, `content-length: 0` and no content
/// type. Every error the router sends has a problem+json body, so none looks like this.
fn hyper_parse_error_answer(buf: &[u8]) -> Option<StatusCode> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ")?;
    let code = std::str::from_utf8(rest.get(..3)?)
        .ok()?
        .parse::<u16>()
        .ok()?;
    let status = match code {
        400 | 414 | 431 => StatusCode::from_u16(code).ok()?,
        _ => return None,
    };
    // One head, and nothing after it.
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != buf.len() {
        return None;
    }
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let fields: Vec<&str> = head.split("\r\n").skip(1).collect();
    let empty = fields.contains(&"content-length: 0");
    let typed = fields.iter().any(|f| f.starts_with("content-type:"));
    (empty && !typed).then_some(status)
}

fn parse_error_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::URI_TOO_LONG => "the request's URI is longer than the server accepts (64 KiB)",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "the request's headers are larger than the server accepts (100 headers, about 400 KiB)"
        }
        _ => "the request is not valid HTTP/1.1: its method, URI, a header name or value, or its version is malformed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bare_parse_error_answers_are_recognised_and_nothing_else() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Wed, 02 Dec 2026 00:00:00 GMT\r\n\r\n";
        assert_eq!(
            hyper_parse_error_answer(bare),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_parse_error_answer(ours), None);
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n{}";
        assert_eq!(hyper_parse_error_answer(with_body), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_parse_error_answer(ok), None);
    }
}
