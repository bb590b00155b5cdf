//! A WireGuard VPN gateway on this host, for real: a userspace WireGuard (`wireguard-go`,
//! there is no kernel module here) inside a namespace, configured peer by peer through its
//! UAPI socket, with every client's grants enforced by nftables in the same namespace.
//!
//! - `daemon`: the wireguard-go process (start, find again after a restart, stop).
//! - `uapi`: its configuration socket (device key and port, one peer at a time, state).
//! - `nft`: the enforcement table (per-client chains and grant sets; reset on refusal).
//! - `conntrack`: cutting a client's established flows.
//! - `sweep`: stopping gateway processes under the prefix that no live gateway claims.
//! - `keys`: gateways' private keys on this host (never in the store).
//! - `router`: the network router's entries that let a gateway's traffic through.
//! - `provision`: the `local` provisioner of both VPN kinds.
//!
//! Why wireguard-go and not a Rust crate (boringtun): wireguard-go is the reference
//! userspace implementation, packaged by Debian, speaks the same UAPI as the kernel module
//! (so `wg(8)` reads and writes it), and keeps the data plane out of the server's process:
//! a server restart does not drop a single tunnel.
//!
//! A client's own `AllowedIPs` decides only what its laptop routes into the tunnel. The
//! gateway gives each peer exactly its /32 (WireGuard drops any packet of a peer whose
//! source is outside it: another client's address cannot be spoofed), and the table
//! decides which (destination, port) each client address may open.

pub mod conntrack;
pub mod daemon;
pub mod keys;
pub mod nft;
pub mod provision;
pub mod router;
pub mod sweep;
pub mod uapi;

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{Context, Result};
use isthmus_core::wg_key::WgKey;
use isthmus_core::Cidr;

pub use nft::Grant;
pub use uapi::{DeviceState, PeerState};

/// Keepalive the gateway sets on each peer: a gateway that restarts starts the handshake
/// toward each peer's last endpoint at once, and NAT bindings on the way stay open.
pub const KEEPALIVE_SECS: u16 = 25;

/// A gateway: where it runs and what it is.
#[derive(Debug, Clone)]
pub struct GatewaySpec {
    /// The namespace it runs in (the network's router on `local`).
    pub namespace: String,
    /// Its WireGuard interface (unique on the host: the socket path is global).
    pub iface: String,
    pub private_key: WgKey,
    pub listen_port: u16,
    /// The client range; the gateway holds its first address.
    pub client_cidr: Cidr,
}

impl GatewaySpec {
    /// The gateway's own tunnel address: the first host of the client range.
    pub fn tunnel_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.client_cidr.start() + 1)
    }
}

/// A client as the gateway enforces it.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub public_key: WgKey,
    /// Its tunnel address, inside the client range.
    pub address: Ipv4Addr,
    pub grants: Vec<Grant>,
    /// Its last known endpoint (re-applied after a gateway restart).
    pub endpoint: Option<SocketAddr>,
}

/// What [`ensure_gateway`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ensured {
    /// The process was (re)started: its peers must be applied again.
    pub started: bool,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("gateway task panicked")?
}

/// Makes the gateway run: the process, its key and port, its address, the enforcement
/// table. Idempotent; `started` says whether the peers need applying again.
pub async fn ensure_gateway(spec: &GatewaySpec) -> Result<Ensured> {
    let (ns, iface) = (spec.namespace.clone(), spec.iface.clone());
    let started = blocking(move || daemon::ensure_running(&ns, &iface)).await?;
    let (iface, key, port) = (spec.iface.clone(), spec.private_key, spec.listen_port);
    blocking(move || {
        let device = uapi::get(&iface)?;
        let own = isthmus_driver::wg_keys::public_of(&key);
        if device.public_key_of_private != Some(own) || device.listen_port != port {
            uapi::set_device(&iface, &key, port)?;
        }
        Ok(())
    })
    .await?;
    daemon::configure_link(
        &spec.namespace,
        &spec.iface,
        spec.tunnel_address(),
        spec.client_cidr.prefix_len(),
    )
    .await?;
    let (ns, iface) = (spec.namespace.clone(), spec.iface.clone());
    blocking(move || nft::ensure_base(&ns, &iface)).await?;
    Ok(Ensured { started })
}

/// Adds or updates a client: its grants first (so its first packet meets them), then its
/// peer, changed in place (the other peers' sessions are untouched).
pub async fn apply_client(gateway: &GatewaySpec, client: &ClientSpec) -> Result<()> {
    let (ns, iface) = (gateway.namespace.clone(), gateway.iface.clone());
    let client = client.clone();
    let label = format!("apply VPN client {} on {}", client.address, gateway.iface);
    blocking(move || {
        nft::set_client(&ns, client.address, &client.grants)?;
        uapi::set_peer(
            &iface,
            &uapi::PeerConfig {
                public_key: client.public_key,
                allowed_ips: vec![Cidr::new(client.address, 32).expect("a /32 is a prefix")],
                endpoint: client.endpoint,
                persistent_keepalive: KEEPALIVE_SECS,
            },
        )
    })
    .await
    .context(label)
}

/// Revokes a client: its peer goes (its session with it), then its chain and grants, then
/// its established flows. Returns how many flows were cut. Idempotent.
pub async fn revoke_client(
    gateway: &GatewaySpec,
    public_key: WgKey,
    address: Ipv4Addr,
) -> Result<u64> {
    let (ns, iface) = (gateway.namespace.clone(), gateway.iface.clone());
    blocking(move || {
        if daemon::running_pid(&iface).is_some() {
            uapi::remove_peer(&iface, &public_key)?;
        }
        nft::remove_client(&ns, address)?;
        conntrack::flush_address(&ns, address)
    })
    .await
    .with_context(|| format!("revoke VPN client {address} on {}", gateway.iface))
}

/// What the gateway sees now: its peers (handshakes, endpoints, bytes) and each client
/// address's denied count.
#[derive(Debug, Clone, Default)]
pub struct GatewayObservation {
    pub running: bool,
    pub device: DeviceState,
    pub table: nft::VpnTable,
}

pub async fn observe_gateway(gateway: &GatewaySpec) -> Result<GatewayObservation> {
    let (ns, iface) = (gateway.namespace.clone(), gateway.iface.clone());
    blocking(move || {
        let running = daemon::running_pid(&iface).is_some();
        let device = if running {
            uapi::get(&iface)?
        } else {
            DeviceState::default()
        };
        let table = nft::read(&ns)?;
        Ok(GatewayObservation {
            running,
            device,
            table,
        })
    })
    .await
}

/// Stops the gateway and removes its table. Idempotent.
pub async fn delete_gateway(gateway: &GatewaySpec) -> Result<()> {
    let (ns, iface) = (gateway.namespace.clone(), gateway.iface.clone());
    blocking(move || {
        daemon::stop(&iface)?;
        if crate::netns::exists(&ns) {
            nft::delete_table(&ns)?;
        }
        Ok(())
    })
    .await
}
