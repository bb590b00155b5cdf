//! TCP probes inside namespaces: a listener in a node, a connection from a lab host.
//! A socket belongs to the namespace of the thread that creates it, so each socket is made
//! on a short-lived thread inside the namespace and then used from anywhere.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::netns;

/// Binds a TCP listener inside namespace `ns`.
pub fn listen(ns: &str, addr: SocketAddr) -> Result<TcpListener> {
    netns::run_in(Some(ns), move || {
        TcpListener::bind(addr).with_context(|| format!("listen on {addr}"))
    })
    .with_context(|| format!("listener in {ns}"))
}

/// Opens a TCP connection from inside namespace `ns`.
pub fn connect(ns: &str, addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
    netns::run_in(Some(ns), move || {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(stream)
    })
    .with_context(|| format!("connection from {ns}"))
}

/// Sends `payload` and reads the same number of bytes back (from an [`EchoServer`]).
pub fn round_trip(stream: &mut TcpStream, payload: &[u8]) -> Result<Vec<u8>> {
    stream.write_all(payload).context("send")?;
    let mut back = vec![0; payload.len()];
    stream.read_exact(&mut back).context("receive echo")?;
    Ok(back)
}

/// A TCP echo server in a namespace; stops when dropped.
pub struct EchoServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl EchoServer {
    pub fn start(ns: &str, addr: SocketAddr) -> Result<EchoServer> {
        Self::start_with_greeting(ns, addr, Vec::new())
    }

    /// Like [`start`](Self::start), but every connection first receives `greeting` (to
    /// tell which of several servers answered).
    pub fn start_with_greeting(
        ns: &str,
        addr: SocketAddr,
        greeting: Vec<u8>,
    ) -> Result<EchoServer> {
        let listener = listen(ns, addr)?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let greeting = greeting.clone();
                        std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            if stream.write_all(&greeting).is_ok() {
                                echo(stream);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(EchoServer { addr, stop })
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn echo(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let mut buf = [0u8; 64 * 1024];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 || stream.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}
