//! Local peerings: a veth pair between a network's router namespace and a lab VPC's
//! router, with the peering's routes and transit routes on the platform side (always
//! routed), the network's CIDR on the lab side, and the admitted sources in the firewall:
//! the routes, plus the transit routes while `allow_gateway_transit` is on. Turning the
//! flag or changing a list is a set-element change: no link or rule churn.
//!
//! Both ends carry a link-local /32 and routes use the other end as an on-link gateway, so
//! any number of peerings share the same two addresses without a per-peering subnet.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use isthmus_core::resources::{Network, Peering};
use isthmus_core::Cidr;
use isthmus_driver::{PeeringObservation, PeeringState, Teardown};

use crate::driver::LocalDriver;
use crate::errors::dependency;
use crate::guard::{self, SetChange};
use crate::{firewall, netns, nl};

const PLATFORM_END: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);
const CUSTOMER_END: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 2);

/// Everything about one peering's kernel objects, by name.
#[derive(Debug, Clone)]
struct PeeringPlan {
    router_ns: String,
    bridge: String,
    link: String,
    peer_link: String,
    set: String,
    chain: String,
    network_cidr: Cidr,
    /// Routed over the link: routes and transit routes.
    routes: Vec<Cidr>,
    /// Admitted sources (collapsed: disjoint prefixes).
    admit: Vec<Cidr>,
}

/// The prefixes the platform routes over the peering's link.
fn routed(peering: &Peering) -> Vec<Cidr> {
    let all: BTreeSet<Cidr> = peering
        .routes
        .iter()
        .chain(&peering.transit_routes)
        .copied()
        .collect();
    all.into_iter().collect()
}

/// The sources the firewall admits from the peering's link.
fn admitted(peering: &Peering) -> Vec<Cidr> {
    let mut admit = peering.routes.clone();
    if peering.allow_gateway_transit {
        admit.extend(&peering.transit_routes);
    }
    crate::guard::collapse(&admit)
}

fn observation(state: PeeringState, link: Option<&str>, message: String) -> PeeringObservation {
    PeeringObservation {
        state,
        provider_peering_id: link.map(str::to_string),
        message,
    }
}

impl LocalDriver {
    fn peering_plan(&self, network: &Network, peering: &Peering) -> PeeringPlan {
        let (net, id) = (network.id.to_string(), peering.id.to_string());
        PeeringPlan {
            router_ns: self.names.router_ns(&net),
            bridge: self.names.bridge(&net),
            link: self.names.peering_link(&id),
            peer_link: self.names.peering_peer_link(&id),
            set: self.names.peering_set(&id),
            chain: self.names.peering_chain(&id),
            network_cidr: network.cidr_block,
            routes: routed(peering),
            admit: admitted(peering),
        }
    }

    /// Why the peering cannot exist at all (unknown or overlapping lab VPC), if so.
    fn invalid_reason(&self, network: &Network, peering: &Peering) -> Option<String> {
        let name = &peering.peer.network_id;
        match self.lab_vpc(name) {
            None => Some(format!(
                "no lab VPC named '{name}' on this host (create it with `isthmus lab vpc create`)"
            )),
            Some(vpc) if vpc.cidr.overlaps(&network.cidr_block) => Some(format!(
                "lab VPC {name} ({}) overlaps network {} ({}): packets could not be routed",
                vpc.cidr, network.id, network.cidr_block
            )),
            Some(_) => None,
        }
    }

    pub(crate) async fn ensure_peering_impl(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> Result<PeeringObservation> {
        if let Some(reason) = self.invalid_reason(network, peering) {
            return Ok(observation(PeeringState::Invalid, None, reason));
        }
        let vpc = self
            .lab_vpc(&peering.peer.network_id)
            .expect("checked above");
        let plan = self.peering_plan(network, peering);
        if !netns::exists(&plan.router_ns) {
            return Err(dependency(format!(
                "network {} is not provisioned yet (no {})",
                network.id, plan.router_ns
            )));
        }
        if !netns::exists(&vpc.router_namespace) {
            return Err(dependency(format!(
                "lab VPC {} has no router namespace (ensure the lab VPC again)",
                vpc.name
            )));
        }
        let (p, lab_ns) = (plan.clone(), vpc.router_namespace.clone());
        netns::netlink_in_async(&plan.router_ns, move |h| async move {
            if nl::link(&h, &p.link).await?.is_none() {
                nl::create_veth_into(&h, &p.link, &p.peer_link, &lab_ns).await?;
            }
            let link = nl::require_link(&h, &p.link).await?;
            nl::raise_gso_ipv4_max(&h, &link).await?;
            nl::ensure_address(&h, link.index, PLATFORM_END, 32).await?;
            nl::set_up(&h, link.index).await?;
            // Routes: only the difference, so a route update touches only what changed.
            let wanted: BTreeSet<Cidr> = p.routes.iter().copied().collect();
            let mut present = BTreeSet::new();
            for route in nl::routes(&h).await? {
                if route.oif != Some(link.index)
                    || route.destination.prefix_len() == 32 && route.gateway.is_none()
                {
                    continue;
                }
                if wanted.contains(&route.destination) && route.gateway == Some(CUSTOMER_END) {
                    present.insert(route.destination);
                } else {
                    nl::delete_route(&h, &route).await?;
                }
            }
            for cidr in wanted.difference(&present) {
                nl::replace_route(&h, cidr, Some(CUSTOMER_END), link.index).await?;
            }
            apply_peering_firewall(&p)
        })
        .await
        .with_context(|| format!("ensure platform side of peering {}", peering.id))?;
        let (p, lab) = (plan.clone(), vpc.name.clone());
        netns::netlink_in_async(&vpc.router_namespace, move |h| async move {
            let link = nl::require_link(&h, &p.peer_link).await?;
            nl::raise_gso_ipv4_max(&h, &link).await?;
            nl::ensure_address(&h, link.index, CUSTOMER_END, 32).await?;
            nl::set_up(&h, link.index).await?;
            nl::replace_route(&h, &p.network_cidr, Some(PLATFORM_END), link.index).await
        })
        .await
        .with_context(|| format!("ensure lab side of peering {} (lab VPC {lab})", peering.id))?;
        self.observe_peering_impl(network, peering).await
    }

    pub(crate) async fn observe_peering_impl(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> Result<PeeringObservation> {
        let plan = self.peering_plan(network, peering);
        if !netns::exists(&plan.router_ns) {
            return Ok(observation(
                PeeringState::Missing,
                None,
                format!("network router {} does not exist", plan.router_ns),
            ));
        }
        let p = plan.clone();
        let (ours_exist, link_present, mut drift) =
            netns::netlink_in_async(&plan.router_ns, move |h| async move {
                platform_drift(&h, &p).await
            })
            .await
            .with_context(|| format!("observe peering {}", peering.id))?;
        if let Some(reason) = self.invalid_reason(network, peering) {
            // The lab VPC went away after we had a link to it: the peer deleted its side.
            let state = if ours_exist {
                PeeringState::DeletedByPeer
            } else {
                PeeringState::Invalid
            };
            return Ok(observation(state, None, reason));
        }
        if !ours_exist {
            return Ok(observation(
                PeeringState::Missing,
                None,
                "no peering link or firewall entries".into(),
            ));
        }
        if link_present {
            let vpc = self
                .lab_vpc(&peering.peer.network_id)
                .expect("checked above");
            let p = plan.clone();
            drift.extend(
                netns::netlink_in_async(&vpc.router_namespace, move |h| async move {
                    customer_drift(&h, &p).await
                })
                .await
                .with_context(|| format!("observe lab side of peering {}", peering.id))?,
            );
        }
        if drift.is_empty() {
            let message = format!(
                "link {} to lab VPC {}, {} routes",
                plan.link,
                peering.peer.network_id,
                plan.routes.len()
            );
            Ok(observation(PeeringState::Active, Some(&plan.link), message))
        } else {
            Ok(observation(
                PeeringState::NeedsRepair,
                Some(&plan.link),
                format!("needs repair: {}", drift.join("; ")),
            ))
        }
    }

    pub(crate) async fn delete_peering_impl(
        &self,
        network: &Network,
        peering: &Peering,
    ) -> Result<Teardown> {
        let plan = self.peering_plan(network, peering);
        if !netns::exists(&plan.router_ns) {
            return Ok(Teardown::Done);
        }
        let p = plan.clone();
        netns::netlink_in_async(&plan.router_ns, move |h| async move {
            // Deleting one end of a veth removes the other, and the routes over it.
            if let Some(link) = nl::link(&h, &p.link).await? {
                nl::delete_link(&h, link.index).await?;
            }
            let current = firewall::read_table()?;
            let mut batch = firewall::Batch::new();
            firewall::delete_peering(&mut batch, &current, &p.link, &p.set, &p.chain);
            batch.apply()
        })
        .await
        .with_context(|| format!("delete peering {}", peering.id))?;
        Ok(Teardown::Done)
    }
}

/// Brings the peering's firewall objects to the plan: set elements by difference (a route
/// change never rewrites a rule), chain and map entry only if they are missing or altered.
fn apply_peering_firewall(p: &PeeringPlan) -> Result<()> {
    let table = firewall::read_table()?;
    if !table.base_intact() {
        return Err(dependency(format!(
            "firewall base of {} is missing (ensure the network first)",
            p.router_ns
        )));
    }
    let mut batch = firewall::Batch::new();
    let chain_ok = table.rule_count(&p.chain) == firewall::PEERING_CHAIN_RULES
        && table.peer_links.contains(&p.link);
    match table.elements.get(&p.set) {
        None => firewall::add_peering(&mut batch, &p.link, &p.set, &p.chain, &p.bridge, &p.admit),
        Some(elements) => {
            if !chain_ok {
                firewall::add_peering(&mut batch, &p.link, &p.set, &p.chain, &p.bridge, &[]);
            }
            match guard::plan_change(elements, &p.admit) {
                SetChange::Elements { add, delete } => {
                    firewall::delete_elements(&mut batch, &p.set, &delete);
                    firewall::add_elements(&mut batch, &p.set, &add);
                }
                SetChange::Replace => {
                    // A prefix widened over one that goes (nft refuses the overlap in one
                    // transaction), or a hand-made element: empty the set, then fill it. Sources inside both
                    // lose a packet or two in between; TCP resends them.
                    batch.flush_set(&p.set);
                    batch.apply()?;
                    batch = firewall::Batch::new();
                    firewall::add_elements(&mut batch, &p.set, &p.admit);
                }
            }
        }
    }
    batch.apply()
}

/// The platform side: (any of our objects exist, the link exists, what is wrong).
async fn platform_drift(
    h: &rtnetlink::Handle,
    p: &PeeringPlan,
) -> Result<(bool, bool, Vec<String>)> {
    let mut drift = vec![];
    let table = firewall::read_table()?;
    let elements = firewall::read_set(&p.set)?;
    let link = nl::link(h, &p.link).await?;
    match &link {
        None => drift.push(format!("peering link {} is gone", p.link)),
        Some(link) => {
            if !link.up {
                drift.push(format!("link {} is down", p.link));
            }
            if !nl::addresses(h)
                .await?
                .contains(&(link.index, PLATFORM_END, 32))
            {
                drift.push(format!("{PLATFORM_END} is not on {}", p.link));
            }
            let routed: BTreeSet<Cidr> = nl::routes(h)
                .await?
                .into_iter()
                .filter(|r| r.oif == Some(link.index) && r.gateway == Some(CUSTOMER_END))
                .map(|r| r.destination)
                .collect();
            let wanted: BTreeSet<Cidr> = p.routes.iter().copied().collect();
            if routed != wanted {
                drift.push(format!(
                    "routes over {} differ from the peering's routes",
                    p.link
                ));
            }
        }
    }
    let firewall_present =
        elements.is_some() || table.chains.contains(&p.chain) || table.peer_links.contains(&p.link);
    match elements {
        None => drift.push(format!("allowed-sources set {} is gone", p.set)),
        Some(elements) => {
            if !guard::plan_change(&elements, &p.admit).is_noop() {
                drift.push(format!(
                    "allowed sources in {} differ from the peering's routes",
                    p.set
                ));
            }
        }
    }
    if table.rule_count(&p.chain) != firewall::PEERING_CHAIN_RULES
        || !table.peer_links.contains(&p.link)
    {
        drift.push(format!("firewall chain {} is missing or altered", p.chain));
    }
    Ok((link.is_some() || firewall_present, link.is_some(), drift))
}

async fn customer_drift(h: &rtnetlink::Handle, p: &PeeringPlan) -> Result<Vec<String>> {
    let Some(link) = nl::link(h, &p.peer_link).await? else {
        return Ok(vec![format!("lab end {} is missing", p.peer_link)]);
    };
    let mut drift = vec![];
    if !link.up {
        drift.push(format!("lab end {} is down", p.peer_link));
    }
    let routed = nl::routes(h).await?.iter().any(|r| {
        r.oif == Some(link.index)
            && r.destination == p.network_cidr
            && r.gateway == Some(PLATFORM_END)
    });
    if !routed {
        drift.push(format!(
            "lab route to {} over {} is missing",
            p.network_cidr, p.peer_link
        ));
    }
    Ok(drift)
}
