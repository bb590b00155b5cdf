//! The endpoint namespace's links and routing. It has two legs, each a port on a bridge:
//! `lab0` on the lab VPC's bridge with the endpoint address, and `plat0` on the platform
//! network's bridge with the NAT address. The two CIDRs may be the same, and a lab client
//! may hold a node's address, so routing never looks at the destination alone: policy
//! rules pick a table by the leg a packet came in on.
//!
//! ```text
//!  90  iif lab0  to <E, E_i> lookup local   (ARP and the endpoint's own addresses)
//!  91  iif plat0 to <X> lookup local
//! 100  iif lab0  lookup 101     table 101: <platform cidr> dev plat0
//! 101  iif plat0 lookup 102     table 102: <lab cidr> dev lab0
//! 110  from <E>  lookup 102     (the endpoint's own resets go back into the lab VPC)
//! 111  from <X>  lookup 101
//! 200  lookup local             (moved from 0, after the legs)
//! ```

use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{bail, Context, Result};
use isthmus_core::Cidr;

use super::nft::{LAB_IF, PLATFORM_IF};
use crate::{netns, nl};

const FROM_LAB_TABLE: &str = "101";
const FROM_PLATFORM_TABLE: &str = "102";

/// One leg: the bridge it is a port of, and the address it carries.
#[derive(Debug, Clone)]
pub struct Leg {
    /// The namespace holding the bridge (lab VPC router or network router).
    pub router_ns: String,
    pub bridge: String,
    /// The port's name on the bridge side.
    pub port: String,
    pub address: Ipv4Addr,
    pub cidr: Cidr,
}

/// Runs `ip -batch -` with `lines` inside namespace `ns`.
fn ip_batch(ns: &str, lines: Vec<String>) -> Result<()> {
    let script = lines.join("\n") + "\n";
    let label = script.clone();
    netns::run_in(Some(ns), move || {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["-batch", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("run ip -batch")?;
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(script.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    })
    .with_context(|| format!("policy routing in {ns}: {}", label.replace('\n', "; ")))
}

/// Whether the namespace already has our rules (the local table moved to 200).
fn has_rules(ns: &str) -> Result<bool> {
    netns::run_in(Some(ns), || {
        let out = Command::new("ip")
            .args(["rule", "list", "pref", "200"])
            .output()
            .context("run ip rule")?;
        Ok(!String::from_utf8_lossy(&out.stdout).trim().is_empty())
    })
}

/// Creates the namespace (if needed) with its sysctls and policy rules.
pub async fn ensure_namespace(ns: &str) -> Result<()> {
    netns::create_async(ns).await?;
    netns::netlink_in_async(ns, |h| async move {
        netns::set_ipv4_sysctl("ip_forward", "1")?;
        for conf in ["all", "default"] {
            netns::set_ipv4_sysctl(&format!("conf/{conf}/rp_filter"), "0")?;
            // Answer ARP only for the address of the leg asked on: the endpoint address
            // may be a node's address on the platform side, and the NAT address a host's.
            netns::set_ipv4_sysctl(&format!("conf/{conf}/arp_ignore"), "1")?;
        }
        let lo = nl::require_link(&h, "lo").await?;
        nl::set_up(&h, lo.index).await
    })
    .await
    .with_context(|| format!("set up endpoint namespace {ns}"))?;
    if !has_rules(ns)? {
        ip_batch(
            ns,
            vec![
                format!("rule add pref 100 iif {LAB_IF} lookup {FROM_LAB_TABLE}"),
                format!("rule add pref 101 iif {PLATFORM_IF} lookup {FROM_PLATFORM_TABLE}"),
                "rule add pref 200 lookup local".into(),
                "rule del pref 0 lookup local".into(),
            ],
        )?;
    }
    Ok(())
}

/// Attaches one leg: a veth from the bridge into the namespace (`iface` there), its
/// address, and the routes and rule that send traffic of the other leg out through it.
pub async fn ensure_leg(ns: &str, iface: &'static str, leg: &Leg) -> Result<()> {
    let (l, target) = (leg.clone(), ns.to_string());
    netns::netlink_in_async(&leg.router_ns, move |h| async move {
        if nl::link(&h, &l.port).await?.is_none() {
            nl::create_veth_into(&h, &l.port, iface, &target).await?;
        }
        let port = nl::require_link(&h, &l.port).await?;
        let bridge = nl::require_link(&h, &l.bridge).await?;
        if port.master != Some(bridge.index) {
            pin_bridge_address(&h, bridge.index).await?;
            nl::set_master(&h, port.index, bridge.index).await?;
        }
        nl::raise_gso_ipv4_max(&h, &bridge).await?;
        nl::set_up(&h, port.index).await
    })
    .await
    .with_context(|| format!("attach endpoint {ns} to bridge {}", leg.bridge))?;
    let l = leg.clone();
    netns::netlink_in_async(ns, move |h| async move {
        let link = nl::require_link(&h, iface).await?;
        nl::ensure_address(&h, link.index, l.address, l.cidr.prefix_len()).await?;
        nl::set_up(&h, link.index).await
    })
    .await
    .with_context(|| format!("configure {iface} in {ns}"))?;
    // The table the *other* leg's packets look up leads out through this one.
    let table = if iface == LAB_IF {
        FROM_PLATFORM_TABLE
    } else {
        FROM_LAB_TABLE
    };
    ip_batch(
        ns,
        vec![format!(
            "route replace {} dev {iface} table {table}",
            leg.cidr
        )],
    )?;
    own_address_rules(ns, iface, &[leg.address])
}

/// For each of `addresses` (held by leg `iface`): packets to it that arrive on that leg are
/// the namespace's own (ARP needs that: the leg's table would send them to the other
/// leg when the CIDRs are the same), and what it sends from it goes out through that leg.
fn own_address_rules(ns: &str, iface: &str, addresses: &[Ipv4Addr]) -> Result<()> {
    let (table, to_pref, from_pref) = if iface == LAB_IF {
        (FROM_PLATFORM_TABLE, 90, 110)
    } else {
        (FROM_LAB_TABLE, 91, 111)
    };
    let present = netns::run_in(Some(ns), || {
        let out = Command::new("ip")
            .args(["rule", "list"])
            .output()
            .context("run ip rule")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    })?;
    let mut lines = vec![];
    for ip in addresses {
        if !present.contains(&format!("{to_pref}:\tfrom all to {ip} iif {iface} ")) {
            lines.push(format!(
                "rule add pref {to_pref} iif {iface} to {ip}/32 lookup local"
            ));
        }
        if !present.contains(&format!("{from_pref}:\tfrom {ip} lookup")) {
            lines.push(format!(
                "rule add pref {from_pref} from {ip}/32 lookup {table}"
            ));
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    ip_batch(ns, lines)
}

/// Puts the per-node addresses on the lab leg, each with the rule that sends what the
/// namespace itself answers from it (a reset) back into the lab VPC.
pub async fn ensure_lab_addresses(ns: &str, addresses: &[Ipv4Addr], len: u8) -> Result<()> {
    let list = addresses.to_vec();
    netns::netlink_in_async(ns, move |h| async move {
        let link = nl::require_link(&h, LAB_IF).await?;
        for ip in list {
            nl::ensure_address(&h, link.index, ip, len).await?;
        }
        Ok(())
    })
    .await
    .with_context(|| format!("node addresses of endpoint {ns}"))?;
    own_address_rules(ns, LAB_IF, addresses)
}

/// Removes the endpoint: its ports first (the bridges forget it at once), then its
/// namespace. Idempotent.
pub async fn delete(ns: &str, ports: &[(String, String)]) -> Result<()> {
    for (router_ns, port) in ports {
        if !netns::exists(router_ns) {
            continue;
        }
        let port = port.clone();
        netns::netlink_in_async(router_ns, move |h| async move {
            if let Some(link) = nl::link(&h, &port).await? {
                nl::delete_link(&h, link.index).await?;
            }
            Ok(())
        })
        .await
        .with_context(|| format!("delete endpoint port in {router_ns}"))?;
    }
    netns::delete_async(ns).await?;
    Ok(())
}

/// Deletes every flow in the endpoint's namespace (they are all this connection's).
pub fn flush_flows(ns: &str) -> Result<()> {
    if !netns::exists(ns) {
        return Ok(());
    }
    netns::run_in(Some(ns), || {
        let out = Command::new("conntrack")
            .arg("-F")
            .output()
            .context("run conntrack (is conntrack-tools installed?)")?;
        if !out.status.success() {
            bail!(
                "conntrack -F: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    })
    .with_context(|| format!("cut the flows of endpoint {ns}"))
}

/// Pins the bridge's MAC address to what it is now. A Linux bridge without an address of
/// its own takes its lowest port's: an endpoint's port could lend it its MAC, and when
/// that endpoint goes the bridge changes address under every host that cached it for its
/// gateway (their traffic goes nowhere until the entry ages out; seen in
/// `local_edge_reach`). Setting it explicitly, even to the same value, stops that.
async fn pin_bridge_address(h: &rtnetlink::Handle, index: u32) -> Result<()> {
    use futures::TryStreamExt;
    use netlink_packet_route::link::LinkAttribute;
    let mut links = h.link().get().match_index(index).execute();
    let msg = links
        .try_next()
        .await
        .context("read the bridge")?
        .context("no such bridge")?;
    let Some(mac) = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(mac) => Some(mac.clone()),
        _ => None,
    }) else {
        return Ok(());
    };
    h.link()
        .set(
            rtnetlink::LinkUnspec::new_with_index(index)
                .address(mac)
                .build(),
        )
        .execute()
        .await
        .context("pin the bridge's MAC address")
}

/// Whether the lab leg of `ns` holds every one of `addresses` already.
pub async fn has_lab_addresses(ns: &str, addresses: &[Ipv4Addr]) -> Result<bool> {
    let wanted = addresses.to_vec();
    netns::netlink_in_async(ns, move |h| async move {
        let link = nl::require_link(&h, LAB_IF).await?;
        let held: Vec<Ipv4Addr> = nl::addresses(&h)
            .await?
            .into_iter()
            .filter(|(index, _, _)| *index == link.index)
            .map(|(_, ip, _)| ip)
            .collect();
        Ok(wanted.iter().all(|ip| held.contains(ip)))
    })
    .await
}

/// Forgets what namespaces `namespaces` (the lab VPC's router and hosts) cached about
/// `addresses`: a new endpoint may take an address a deleted one held, and a host that
/// still has the old namespace's MAC for it would send into the void until the entry
/// ages out (tens of seconds). Nothing in the lab announces the change (no gratuitous
/// ARP), so the driver drops the entries and the next packet asks again.
pub async fn forget_neighbours(namespaces: Vec<String>, addresses: Vec<Ipv4Addr>) -> Result<()> {
    use futures::TryStreamExt;
    use netlink_packet_route::neighbour::{NeighbourAddress, NeighbourAttribute};
    for ns in namespaces {
        if !netns::exists(&ns) {
            continue;
        }
        let wanted = addresses.clone();
        netns::netlink_in_async(&ns, move |h| async move {
            let mut stale = vec![];
            let mut all = h.neighbours().get().execute();
            while let Some(msg) = all.try_next().await.context("list neighbours")? {
                let held = msg.attributes.iter().any(|a| {
                    matches!(a, NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) if wanted.contains(ip))
                });
                if held {
                    stale.push(msg);
                }
            }
            for msg in stale {
                // Gone already (it aged out meanwhile) is as good.
                let _ = h.neighbours().del(msg).execute().await;
            }
            Ok(())
        })
        .await
        .with_context(|| format!("forget neighbours in {ns}"))?;
    }
    Ok(())
}
