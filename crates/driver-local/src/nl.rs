//! Small rtnetlink helpers used inside a namespace (see [`crate::netns::netlink_in_async`],
//! which runs them on the namespace's netlink thread).
//! Each is idempotent where the kernel allows it (`replace` for addresses and routes).

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use anyhow::{Context, Result};
use futures::TryStreamExt;
use isthmus_core::Cidr;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

/// An interface as netlink reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
    /// The bridge this interface is a port of.
    pub master: Option<u32>,
    /// The largest IPv4 GSO packet it takes (reported by Linux 6.3 and later).
    pub gso_ipv4_max: Option<u32>,
}

/// An IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: Cidr,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
}

pub async fn links(handle: &Handle) -> Result<Vec<Link>> {
    let mut stream = handle.link().get().execute();
    let mut out = vec![];
    while let Some(msg) = stream.try_next().await.context("list links")? {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            up: msg.header.flags.contains(LinkFlags::Up),
            master: None,
            gso_ipv4_max: None,
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name,
                LinkAttribute::Controller(master) => link.master = Some(master),
                LinkAttribute::GsoIpv4MaxSize(size) => link.gso_ipv4_max = Some(size),
                _ => {}
            }
        }
        out.push(link);
    }
    Ok(out)
}

pub async fn link(handle: &Handle, name: &str) -> Result<Option<Link>> {
    Ok(links(handle).await?.into_iter().find(|l| l.name == name))
}

pub async fn require_link(handle: &Handle, name: &str) -> Result<Link> {
    link(handle, name)
        .await?
        .with_context(|| format!("interface {name} not found"))
}

/// The largest IPv4 GSO and GRO packet a project link takes (IPv4 BIG TCP, Linux 6.3 and
/// later): 524,280 bytes, the most a veth takes, eight times the kernel's 64 KiB default.
/// TCP between two project namespaces then hands every hop of the path (a veth, a bridge,
/// a router's lookups and firewall) up to an eighth as many packets for the same bytes,
/// so the per-packet work of a peering's extra hops is paid that much less often (issue
/// 16: a peering went from about 0.7× of a bare veth pair as the kernel makes it to
/// about 1.1×). A link that cannot take such a packet (a WireGuard interface) has it
/// segmented by the kernel first, as any GSO packet.
pub const GSO_IPV4_MAX: u32 = 524_280;

/// A link message with `size` as its IPv4 GSO and GRO limits.
fn with_big_tcp<T>(link: LinkMessageBuilder<T>, size: u32) -> LinkMessageBuilder<T> {
    link.append_extra_attribute(LinkAttribute::GsoIpv4MaxSize(size))
        .append_extra_attribute(LinkAttribute::GroIpv4MaxSize(size))
}

/// Sets an existing link's IPv4 GSO and GRO limits (the kernel's default is 65,536).
pub async fn set_gso_ipv4_max(handle: &Handle, index: u32, size: u32) -> Result<()> {
    let change = with_big_tcp(LinkUnspec::new_with_index(index), size);
    set_link(handle, change, || {
        format!("set link {index}'s IPv4 GSO/GRO limit to {size}")
    })
    .await
}

/// Raises a link to [`GSO_IPV4_MAX`]: a bridge (born at the kernel's default, and the
/// kernel refuses more while it has no port, since a bridge takes no larger packets than
/// its smallest port), or a link an older Isthmus made. A link already there, or a kernel
/// that does not report the limit, is left as is.
pub async fn raise_gso_ipv4_max(handle: &Handle, link: &Link) -> Result<()> {
    match link.gso_ipv4_max {
        Some(size) if size < GSO_IPV4_MAX => {
            set_gso_ipv4_max(handle, link.index, GSO_IPV4_MAX).await
        }
        _ => Ok(()),
    }
}

pub async fn create_bridge(handle: &Handle, name: &str) -> Result<()> {
    handle
        .link()
        .add(LinkBridge::new(name).build())
        .execute()
        .await
        .with_context(|| format!("create bridge {name}"))
}

/// Creates a veth pair whose `peer` end is born inside namespace `peer_ns`, so neither
/// end ever exists in the host's root namespace. Both ends take [`GSO_IPV4_MAX`].
pub async fn create_veth_into(
    handle: &Handle,
    name: &str,
    peer: &str,
    peer_ns: &str,
) -> Result<()> {
    let ns_file = File::open(crate::netns::path(peer_ns))
        .with_context(|| format!("open namespace {peer_ns} for veth {name}"))?;
    let peer_msg = LinkMessageBuilder::<LinkUnspec>::new()
        .name(peer.to_string())
        .setns_by_fd(ns_file.as_raw_fd());
    let peer_msg = with_big_tcp(peer_msg, GSO_IPV4_MAX).build();
    let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
        .name(name.to_string())
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)));
    let msg = with_big_tcp(msg, GSO_IPV4_MAX).build();
    handle
        .link()
        .add(msg)
        .execute()
        .await
        .with_context(|| format!("create veth {name} (peer {peer} in {peer_ns})"))
}

pub async fn set_up(handle: &Handle, index: u32) -> Result<()> {
    let up = LinkUnspec::new_with_index(index).up();
    set_link(handle, up, || format!("set link {index} up")).await
}

pub async fn set_master(handle: &Handle, index: u32, master: u32) -> Result<()> {
    let attach = LinkUnspec::new_with_index(index).controller(master);
    set_link(handle, attach, || {
        format!("attach link {index} to bridge {master}")
    })
    .await
}

/// Changes an existing link as `change` says.
async fn set_link(
    handle: &Handle,
    change: LinkMessageBuilder<LinkUnspec>,
    what: impl Fn() -> String,
) -> Result<()> {
    handle
        .link()
        .set(change.build())
        .execute()
        .await
        .with_context(what)
}

pub async fn delete_link(handle: &Handle, index: u32) -> Result<()> {
    handle
        .link()
        .del(index)
        .execute()
        .await
        .with_context(|| format!("delete link {index}"))
}

/// Every IPv4 address: (interface index, address, prefix length).
pub async fn addresses(handle: &Handle) -> Result<Vec<(u32, Ipv4Addr, u8)>> {
    let mut stream = handle.address().get().execute();
    let mut out = vec![];
    while let Some(msg) = stream.try_next().await.context("list addresses")? {
        for attr in &msg.attributes {
            if let AddressAttribute::Address(IpAddr::V4(ip)) = attr {
                out.push((msg.header.index, *ip, msg.header.prefix_len));
            }
        }
    }
    Ok(out)
}

pub async fn ensure_address(handle: &Handle, index: u32, ip: Ipv4Addr, len: u8) -> Result<()> {
    handle
        .address()
        .add(index, IpAddr::V4(ip), len)
        .replace()
        .execute()
        .await
        .with_context(|| format!("add address {ip}/{len} to link {index}"))
}

pub async fn delete_address(handle: &Handle, index: u32, ip: Ipv4Addr, len: u8) -> Result<()> {
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(msg) = stream.try_next().await.context("list addresses")? {
        let matches = msg.header.prefix_len == len
            && msg
                .attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Address(IpAddr::V4(found)) if *found == ip));
        if matches {
            handle
                .address()
                .del(msg)
                .execute()
                .await
                .with_context(|| format!("delete address {ip}/{len} from link {index}"))?;
        }
    }
    Ok(())
}

pub async fn routes(handle: &Handle) -> Result<Vec<Route>> {
    let query = RouteMessageBuilder::<Ipv4Addr>::new().build();
    let mut stream = handle.route().get(query).execute();
    let mut out = vec![];
    while let Some(msg) = stream.try_next().await.context("list routes")? {
        if msg.header.table != RouteHeader::RT_TABLE_MAIN {
            continue;
        }
        let mut dest = Ipv4Addr::UNSPECIFIED;
        let mut route = Route {
            destination: Cidr::containing(dest, 0),
            gateway: None,
            oif: None,
        };
        for attr in &msg.attributes {
            match attr {
                RouteAttribute::Destination(RouteAddress::Inet(d)) => dest = *d,
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => route.gateway = Some(*g),
                RouteAttribute::Oif(oif) => route.oif = Some(*oif),
                _ => {}
            }
        }
        route.destination = Cidr::containing(dest, msg.header.destination_prefix_length);
        out.push(route);
    }
    Ok(out)
}

fn route_message(
    destination: &Cidr,
    gateway: Option<Ipv4Addr>,
    oif: u32,
) -> netlink_packet_route::route::RouteMessage {
    let mut builder = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(destination.network(), destination.prefix_len())
        .output_interface(oif);
    if let Some(gateway) = gateway {
        // The gateway is a link-local /32 on the other end of a veth: on-link by design.
        builder = builder.gateway(gateway).onlink();
    }
    builder.build()
}

/// Adds or replaces the route to `destination` through `gateway` (on-link) on link `oif`.
pub async fn replace_route(
    handle: &Handle,
    destination: &Cidr,
    gateway: Option<Ipv4Addr>,
    oif: u32,
) -> Result<()> {
    handle
        .route()
        .add(route_message(destination, gateway, oif))
        .replace()
        .execute()
        .await
        .with_context(|| format!("add route to {destination} via link {oif}"))
}

pub async fn delete_route(handle: &Handle, route: &Route) -> Result<()> {
    let oif = route.oif.unwrap_or_default();
    handle
        .route()
        .del(route_message(&route.destination, route.gateway, oif))
        .execute()
        .await
        .with_context(|| format!("delete route to {}", route.destination))
}
