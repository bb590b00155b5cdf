//! The `local` provisioner of VPN gateways and clients: the data plane of this module
//! inside the network's router namespace, reachable on an address of the lab's internet.
//!
//! - A gateway: the router's uplink (made if no public endpoint made it yet), its public
//!   address (kept from the object's `endpoint`, else the lowest free one of
//!   [`public_range`]), its key ([`super::keys`]), the wireguard-go process and its table,
//!   the router's entries ([`super::router`]) and the internet's route to the address.
//! - A client: the gateway made to run first (a client's reconcile restarts a gateway
//!   whose process died, and re-applies its own peer with its last endpoint: every client
//!   re-applies itself that way within the controller's pending interval), then its
//!   grants and peer; a peer still holding its address with another key (a rotation) goes.
//!   `observe` reports it unapplied when the peer, its chain or its grants differ from
//!   the cluster's nodes as they are now, so a node added or replaced is covered.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{Context, Result};
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use isthmus_core::kinds::vpn_client::VpnClient;
use isthmus_core::kinds::vpn_gateway::VpnGateway;
use isthmus_core::resources::Network;
use isthmus_core::Cidr;
use isthmus_driver::{
    Provisioner, Teardown, VpnClientContext, VpnClientObservation, VpnGatewayObservation,
    VpnGatewayState,
};

use super::router::{self, RouterEntries};
use super::{keys, nft, ClientSpec, GatewaySpec, Grant};
use crate::driver::LocalDriver;
use crate::errors::driver_error;
use crate::{firewall, netns, nl};

/// The UDP port every local gateway listens on (each has its own address).
pub const PORT: u16 = 51820;

/// Where local gateways' public addresses come from: the top /24 of the public pool
/// (198.18.0.0/15, never a real internet address), which cluster endpoints, taken
/// lowest first, would reach only after 130,000 of them.
pub fn public_range() -> Cidr {
    "198.19.255.0/24".parse().expect("static prefix")
}

type DResult<T> = isthmus_driver::Result<T>;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("VPN task panicked")?
}

impl LocalDriver {
    fn gateway_iface(&self, g: &VpnGateway) -> String {
        self.names.vpn_iface(&g.id.to_string())
    }

    /// The gateway's spec with its key (from the running process, the key file, or new).
    async fn gateway_spec(&self, g: &VpnGateway, n: &Network) -> Result<GatewaySpec> {
        let iface = self.gateway_iface(g);
        let (prefix, i) = (self.names.prefix().to_string(), iface.clone());
        let private_key = blocking(move || keys::load_or_create(&prefix, &i)).await?;
        Ok(GatewaySpec {
            namespace: self.names.router_ns(&n.id.to_string()),
            iface,
            private_key,
            listen_port: PORT,
            client_cidr: g.client_cidr,
        })
    }

    /// Registers (or forgets) the gateway's resolver address, as its `dns` says.
    fn note_dns(&self, g: &VpnGateway, ns: &str) {
        let mut registry = self.vpn_dns.lock().expect("vpn dns registry");
        let iface = self.gateway_iface(g);
        if g.dns == isthmus_core::kinds::vpn_gateway::VpnDns::Push {
            registry.insert(iface, (ns.to_string(), g.tunnel_address()));
        } else {
            registry.remove(&iface);
        }
    }

    fn router_entries(&self, g: &VpnGateway, public_ip: Ipv4Addr) -> RouterEntries {
        let id = g.id.to_string();
        RouterEntries {
            iface: self.names.vpn_iface(&id),
            chain: self.names.vpn_chain(&id),
            in_chain: self.names.vpn_in_chain(&id),
            public_ip,
            port: PORT,
            uplink: self.names.uplink(&g.network_id.to_string()),
        }
    }

    /// The address the gateway had (its stored endpoint), if any.
    fn known_ip(g: &VpnGateway) -> Option<Ipv4Addr> {
        let endpoint: SocketAddr = g.endpoint.as_deref()?.parse().ok()?;
        match endpoint.ip() {
            std::net::IpAddr::V4(ip) if public_range().contains_addr(ip) => Some(ip),
            _ => None,
        }
    }

    /// The lowest address of [`public_range`] that the internet routes nowhere and no
    /// internet host holds. Called with the change lock held.
    async fn free_public_ip(&self) -> Result<Ipv4Addr> {
        let inet = self.names.internet_ns();
        let routed: Vec<Ipv4Addr> = netns::netlink_in_async(&inet, |h| async move {
            Ok(nl::routes(&h)
                .await?
                .into_iter()
                .filter(|r| r.destination.prefix_len() == 32)
                .map(|r| r.destination.network())
                .collect())
        })
        .await
        .context("read the internet's routes")?;
        let hosts: Vec<Ipv4Addr> = self.internet_hosts().iter().map(|h| h.ip).collect();
        let range = public_range();
        (range.start() + 1..range.end())
            .map(Ipv4Addr::from)
            .find(|ip| !routed.contains(ip) && !hosts.contains(ip))
            .with_context(|| format!("every address of {range} is taken by a VPN gateway"))
    }

    async fn ensure_gateway_impl(
        &self,
        g: &VpnGateway,
        n: &Network,
    ) -> Result<VpnGatewayObservation> {
        let net_id = n.id.to_string();
        let ns = self.names.router_ns(&net_id);
        if !netns::exists(&ns) {
            return Err(crate::errors::dependency(format!(
                "network {} is not provisioned yet (no {ns})",
                n.id
            )));
        }
        self.ensure_uplink(&ns, &net_id).await?;
        let ip = match Self::known_ip(g) {
            Some(ip) => ip,
            None => self.free_public_ip().await?,
        };
        let spec = self.gateway_spec(g, n).await?;
        super::ensure_gateway(&spec).await?;
        let entries = self.router_entries(g, ip);
        netns::run_in_async(Some(&ns), move || router::apply(&entries)).await?;
        let uplink = self.names.uplink(&net_id);
        netns::netlink_in_async(&ns, move |h| async move {
            let link = nl::require_link(&h, &uplink).await?;
            nl::ensure_address(&h, link.index, ip, 32).await
        })
        .await
        .context("the gateway's address on the uplink")?;
        self.route_endpoints(&net_id, vec![ip], vec![]).await?;
        self.observe_gateway_impl(g, n, Some(ip)).await
    }

    async fn observe_gateway_impl(
        &self,
        g: &VpnGateway,
        n: &Network,
        ip: Option<Ipv4Addr>,
    ) -> Result<VpnGatewayObservation> {
        let net_id = n.id.to_string();
        let ns = self.names.router_ns(&net_id);
        let iface = self.gateway_iface(g);
        let missing = |message: String| VpnGatewayObservation {
            state: VpnGatewayState::Missing,
            endpoint: g.endpoint.clone(),
            public_key: g.public_key,
            message,
        };
        let Some(ip) = ip.or_else(|| Self::known_ip(g)) else {
            return Ok(missing("no public address yet".into()));
        };
        if !netns::exists(&ns) {
            return Ok(missing(format!("router namespace {ns} does not exist")));
        }
        self.note_dns(g, &ns);
        let i = iface.clone();
        let running = blocking(move || Ok(super::daemon::running_pid(&i))).await?;
        if running.is_none() {
            return Ok(missing(format!("no wireguard-go serves {iface}")));
        }
        let spec = self.gateway_spec(g, n).await?;
        let public_key = isthmus_driver::wg_keys::public_of(&spec.private_key);
        let entries = self.router_entries(g, ip);
        let mut drift = netns::run_in_async(Some(&ns), move || {
            Ok(router::drift(&firewall::read_table()?, &entries))
        })
        .await?;
        let (n2, i2) = (ns.clone(), iface.clone());
        let table = blocking(move || nft::read(&n2)).await?;
        if table.base_rules.get("forward").copied().unwrap_or(0) == 0 {
            drift.push(format!(
                "the gateway's table in {n2_ns} is missing",
                n2_ns = ns
            ));
        }
        if self.routed_endpoints(&net_id, vec![ip]).await?.is_empty() {
            drift.push(format!("the internet has no route to {ip}"));
        }
        let (state, message) = if drift.is_empty() {
            (
                VpnGatewayState::Ready,
                format!("wireguard-go {i2} in {ns} on {ip}:{PORT}"),
            )
        } else {
            (
                VpnGatewayState::Starting,
                format!("needs repair: {}", drift.join("; ")),
            )
        };
        Ok(VpnGatewayObservation {
            state,
            endpoint: Some(format!("{ip}:{PORT}")),
            public_key: Some(public_key),
            message,
        })
    }

    async fn delete_gateway_impl(&self, g: &VpnGateway, n: &Network) -> Result<Teardown> {
        let net_id = n.id.to_string();
        let ns = self.names.router_ns(&net_id);
        let iface = self.gateway_iface(g);
        self.vpn_dns
            .lock()
            .expect("vpn dns registry")
            .remove(&iface);
        let (n2, i2) = (ns.clone(), iface.clone());
        blocking(move || {
            super::daemon::stop(&i2)?;
            if netns::exists(&n2) {
                nft::delete_table(&n2)?;
            }
            Ok(())
        })
        .await?;
        if let Some(ip) = Self::known_ip(g) {
            if netns::exists(&ns) {
                let entries = self.router_entries(g, ip);
                netns::run_in_async(Some(&ns), move || router::remove(&entries)).await?;
                let uplink = self.names.uplink(&net_id);
                netns::netlink_in_async(&ns, move |h| async move {
                    if let Some(link) = nl::link(&h, &uplink).await? {
                        let held = nl::addresses(&h).await?;
                        if held.contains(&(link.index, ip, 32)) {
                            nl::delete_address(&h, link.index, ip, 32).await?;
                        }
                    }
                    Ok(())
                })
                .await?;
            }
            self.route_endpoints(&net_id, vec![], vec![ip]).await?;
        }
        let prefix = self.names.prefix().to_string();
        blocking(move || keys::remove(&prefix, &iface)).await?;
        Ok(Teardown::Done)
    }

    fn client_spec(c: &VpnClient, ctx: &VpnClientContext) -> ClientSpec {
        ClientSpec {
            public_key: c.public_key,
            address: c.address,
            grants: grants(ctx),
            endpoint: c.endpoint.as_deref().and_then(|e| e.parse().ok()),
        }
    }

    async fn ensure_client_impl(
        &self,
        c: &VpnClient,
        ctx: &VpnClientContext,
    ) -> Result<VpnClientObservation> {
        let ns = self.names.router_ns(&ctx.network.id.to_string());
        if !netns::exists(&ns) {
            return Err(crate::errors::dependency(format!(
                "network {} is not provisioned yet",
                ctx.network.id
            )));
        }
        let spec = self.gateway_spec(&ctx.gateway, &ctx.network).await?;
        super::ensure_gateway(&spec).await?;
        // A rotation: the old key still holds this address; its session ends now.
        let (iface, key, address) = (spec.iface.clone(), c.public_key, c.address);
        blocking(move || {
            let own = Cidr::new(address, 32).expect("a /32");
            for peer in super::uapi::get(&iface)?.peers {
                let Some(other) = peer.public_key else {
                    continue;
                };
                if other != key && peer.allowed_ips.contains(&own) {
                    super::uapi::remove_peer(&iface, &other)?;
                }
            }
            Ok(())
        })
        .await?;
        super::apply_client(&spec, &Self::client_spec(c, ctx)).await?;
        self.observe_client_impl(c, ctx).await
    }

    async fn observe_client_impl(
        &self,
        c: &VpnClient,
        ctx: &VpnClientContext,
    ) -> Result<VpnClientObservation> {
        let ns = self.names.router_ns(&ctx.network.id.to_string());
        let iface = self.gateway_iface(&ctx.gateway);
        let unapplied = |message: String| VpnClientObservation {
            applied: false,
            last_handshake_at: c.last_handshake_at,
            endpoint: c.endpoint.clone(),
            rx_bytes: c.rx_bytes,
            tx_bytes: c.tx_bytes,
            denied_flows: c.denied_flows,
            message,
        };
        if !netns::exists(&ns) {
            return Ok(unapplied(format!("router namespace {ns} does not exist")));
        }
        let i = iface.clone();
        let seen = blocking(move || {
            let running = super::daemon::running_pid(&i).is_some();
            let device = if running {
                super::uapi::get(&i)?
            } else {
                Default::default()
            };
            Ok((running, device, nft::read(&ns)?))
        })
        .await?;
        let (running, device, table) = seen;
        if !running {
            return Ok(unapplied(format!(
                "the gateway process for {iface} is not running"
            )));
        }
        let own = Cidr::new(c.address, 32).expect("a /32");
        let peer = device
            .peers
            .iter()
            .find(|p| p.public_key == Some(c.public_key) && p.allowed_ips == vec![own]);
        let Some(peer) = peer else {
            return Ok(unapplied(
                "the gateway does not hold the client's key".into(),
            ));
        };
        let mut problems = vec![];
        if device
            .peers
            .iter()
            .any(|p| p.public_key != Some(c.public_key) && p.allowed_ips.contains(&own))
        {
            problems.push("another key still holds the client's address");
        }
        let wanted: std::collections::BTreeSet<Grant> = grants(ctx).into_iter().collect();
        if !table.clients.contains(&c.address) || table.grants_of(c.address) != Some(&wanted) {
            problems.push("the gateway's grants differ from the granted clusters' nodes");
        }
        let last_handshake_at = (peer.last_handshake_sec > 0)
            .then(|| {
                Utc.timestamp_opt(peer.last_handshake_sec as i64, 0)
                    .single()
            })
            .flatten();
        let message = if problems.is_empty() {
            format!("{} granted destinations on {iface}", wanted.len())
        } else {
            problems.join("; ")
        };
        Ok(VpnClientObservation {
            applied: problems.is_empty(),
            last_handshake_at,
            endpoint: peer
                .endpoint
                .map(|e| e.to_string())
                .or_else(|| c.endpoint.clone()),
            rx_bytes: peer.rx_bytes,
            tx_bytes: peer.tx_bytes,
            denied_flows: table.denied_for(c.address),
            message,
        })
    }

    /// Removes the client's peer (and any other key holding its address), its grants and
    /// its flows.
    async fn revoke_client_impl(&self, c: &VpnClient, ctx: &VpnClientContext) -> Result<Teardown> {
        let ns = self.names.router_ns(&ctx.network.id.to_string());
        if !netns::exists(&ns) {
            return Ok(Teardown::Done);
        }
        let iface = self.gateway_iface(&ctx.gateway);
        let (i, address) = (iface.clone(), c.address);
        blocking(move || {
            if super::daemon::running_pid(&i).is_some() {
                let own = Cidr::new(address, 32).expect("a /32");
                for peer in super::uapi::get(&i)?.peers {
                    if let Some(key) = peer.public_key.filter(|_| peer.allowed_ips.contains(&own)) {
                        super::uapi::remove_peer(&i, &key)?;
                    }
                }
            }
            Ok(())
        })
        .await?;
        // The key is not needed to revoke: the spec's key is unused by `revoke_client`.
        let spec = GatewaySpec {
            namespace: ns,
            iface,
            private_key: isthmus_core::wg_key::WgKey::from_bytes([0; 32]),
            listen_port: PORT,
            client_cidr: ctx.gateway.client_cidr,
        };
        super::revoke_client(&spec, c.public_key, c.address).await?;
        Ok(Teardown::Done)
    }
}

/// The client's grants as the gateway enforces them.
fn grants(ctx: &VpnClientContext) -> Vec<Grant> {
    ctx.destinations
        .iter()
        .map(|(destination, port)| Grant {
            destination: *destination,
            port: *port,
        })
        .collect()
}

#[async_trait]
impl Provisioner<VpnGateway> for LocalDriver {
    async fn ensure(&self, g: &VpnGateway, n: &Network) -> DResult<VpnGatewayObservation> {
        let _guard = self.changes.lock().await;
        self.ensure_gateway_impl(g, n).await.map_err(driver_error)
    }
    async fn observe(&self, g: &VpnGateway, n: &Network) -> DResult<VpnGatewayObservation> {
        self.observe_gateway_impl(g, n, None)
            .await
            .map_err(driver_error)
    }
    async fn delete(&self, g: &VpnGateway, n: &Network) -> DResult<Teardown> {
        let _guard = self.changes.lock().await;
        self.delete_gateway_impl(g, n).await.map_err(driver_error)
    }
    fn owned_names(&self, g: &VpnGateway) -> Vec<String> {
        let id = g.id.to_string();
        vec![
            self.names.vpn_iface(&id),
            self.names.vpn_chain(&id),
            self.names.vpn_in_chain(&id),
        ]
    }
}

#[async_trait]
impl Provisioner<VpnClient> for LocalDriver {
    async fn ensure(&self, c: &VpnClient, ctx: &VpnClientContext) -> DResult<VpnClientObservation> {
        let _guard = self.changes.lock().await;
        self.ensure_client_impl(c, ctx).await.map_err(driver_error)
    }
    async fn observe(
        &self,
        c: &VpnClient,
        ctx: &VpnClientContext,
    ) -> DResult<VpnClientObservation> {
        self.observe_client_impl(c, ctx).await.map_err(driver_error)
    }
    async fn delete(&self, c: &VpnClient, ctx: &VpnClientContext) -> DResult<Teardown> {
        let _guard = self.changes.lock().await;
        self.revoke_client_impl(c, ctx).await.map_err(driver_error)
    }
}
