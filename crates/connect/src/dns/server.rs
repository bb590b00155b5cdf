//! Starting and stopping the DNS server (UDP and TCP on one address).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hickory_server::Server;
use isthmus_core::id::ClusterId;
use tokio::net::{TcpListener, UdpSocket};

use super::handler::PlatformZoneHandler;
use super::record_set::{Publisher, RecordSet, View};
use super::records::ClusterRecords;
use super::udp::UdpAnswerer;
use super::zone::Zone;

pub const DEFAULT_ZONE: &str = "isthmus.internal";

/// A TCP client that sends nothing for this long is dropped.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Responses buffered per TCP connection before the writer waits.
const TCP_RESPONSE_BUFFER: usize = 32;

#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// UDP and TCP are both bound here. Port 0 picks a free port (the same for both).
    pub listen: SocketAddr,
    pub zone: String,
    /// Where `ns.<zone>` points; defaults to the listen address when it is a concrete IPv4.
    pub ns_address: Option<Ipv4Addr>,
}

pub struct DnsServer;

impl DnsServer {
    pub async fn start(listen: SocketAddr, zone: &str) -> anyhow::Result<DnsHandle> {
        Self::start_with(DnsConfig {
            listen,
            zone: zone.to_string(),
            ns_address: None,
        })
        .await
    }

    pub async fn start_with(config: DnsConfig) -> anyhow::Result<DnsHandle> {
        let ns_address = config.ns_address.or(match config.listen.ip() {
            IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
            _ => None,
        });
        let zone = Arc::new(Zone::new(&config.zone, ns_address)?);
        let (udp, tcp) = bind_pair(config.listen).await?;
        let local_addr = udp.local_addr().context("read the DNS UDP address")?;
        DnsHandle::serve(zone, View::Default, udp, tcp, local_addr)
    }
}

impl DnsServer {
    /// Answers for an existing zone (shared with another server, e.g. the loopback one) on
    /// sockets the caller bound, for example inside another network namespace: a socket
    /// belongs to the namespace it was created in, whichever thread serves it later.
    pub fn serve_zone(
        zone: Arc<Zone>,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
    ) -> anyhow::Result<DnsHandle> {
        Self::serve_zone_in(zone, View::Default, udp, tcp)
    }

    /// Like [`serve_zone`](Self::serve_zone), answering as `view` sees the zone (a lab
    /// VPC's resolver: the names its private endpoints publish, then everyone's).
    pub fn serve_zone_in(
        zone: Arc<Zone>,
        view: View,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
    ) -> anyhow::Result<DnsHandle> {
        let local_addr = udp.local_addr().context("read the DNS UDP address")?;
        udp.set_nonblocking(true)
            .context("make the DNS UDP socket non-blocking")?;
        tcp.set_nonblocking(true)
            .context("make the DNS TCP listener non-blocking")?;
        let tcp = TcpListener::from_std(tcp).context("register the DNS TCP listener")?;
        DnsHandle::serve_std(zone, view, udp, tcp, local_addr)
    }
}

/// Binds UDP and TCP on the same port; with port 0 the UDP port is picked first and TCP
/// follows it, retrying if another program holds that TCP port.
async fn bind_pair(listen: SocketAddr) -> anyhow::Result<(UdpSocket, TcpListener)> {
    let attempts = if listen.port() == 0 { 20 } else { 1 };
    let mut last_error = None;
    for _ in 0..attempts {
        let udp = UdpSocket::bind(listen)
            .await
            .with_context(|| format!("bind DNS UDP socket on {listen}"))?;
        let addr = udp.local_addr().context("read the DNS UDP address")?;
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.expect("at least one attempt"))
        .with_context(|| format!("bind DNS TCP listener on {listen}"))
}

/// A running DNS server. Record changes are visible to the very next query.
pub struct DnsHandle {
    zone: Arc<Zone>,
    /// UDP: answered by a thread of its own (`udp`).
    udp: UdpAnswerer,
    /// TCP: hickory's server.
    server: Server<PlatformZoneHandler>,
    local_addr: SocketAddr,
}

impl DnsHandle {
    /// Where the server answers (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The zone's records, shareable with the controller that keeps them current.
    pub fn zone(&self) -> Arc<Zone> {
        self.zone.clone()
    }

    /// Replaces exactly what `publisher` publishes; see [`Zone::publish`].
    pub fn publish(&self, publisher: Publisher, sets: Vec<RecordSet>) -> bool {
        self.zone.publish(publisher, sets)
    }

    pub fn withdraw(&self, publisher: Publisher) -> bool {
        self.zone.withdraw(publisher)
    }

    pub fn set_clusters(&self, clusters: Vec<ClusterRecords>) {
        self.zone.set_clusters(clusters);
    }

    pub fn upsert(&self, cluster: &ClusterRecords) {
        self.zone.upsert(cluster);
    }

    pub fn remove(&self, cluster_id: ClusterId) -> bool {
        self.zone.remove(cluster_id)
    }

    /// Stops accepting queries and waits for the server's tasks to end.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let mut udp = self.udp;
        tokio::task::spawn_blocking(move || udp.stop())
            .await
            .context("stop answering over UDP")?;
        self.server
            .shutdown_gracefully()
            .await
            .context("shut down the DNS server")
    }
}

impl DnsHandle {
    /// Answers for `zone` on the bound sockets, UDP and TCP alike.
    fn serve(
        zone: Arc<Zone>,
        view: View,
        udp: UdpSocket,
        tcp: TcpListener,
        local_addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        let udp = udp.into_std().context("take the DNS UDP socket")?;
        Self::serve_std(zone, view, udp, tcp, local_addr)
    }

    fn serve_std(
        zone: Arc<Zone>,
        view: View,
        udp: std::net::UdpSocket,
        tcp: TcpListener,
        local_addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        let udp = UdpAnswerer::start(zone.clone(), view.clone(), udp)
            .context("start answering DNS over UDP")?;
        let mut server = Server::new(PlatformZoneHandler {
            zone: zone.clone(),
            view,
        });
        server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
        tracing::info!(%local_addr, zone = %zone.apex(), "platform DNS listening (UDP and TCP)");
        Ok(DnsHandle {
            zone,
            udp,
            server,
            local_addr,
        })
    }
}
