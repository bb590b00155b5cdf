//! Who may reach a cluster's nodes, applied in its network's router:
//! - the public endpoint (while `public_access.enabled`): the internet routes the endpoint
//!   ip to the router's uplink; a packet whose source is outside the public allow-list is
//!   dropped (every packet, before NAT); the first packet of an admitted connection is
//!   DNATed to the nodes in turn (same port). Disabled: no route, no DNAT, no set.
//! - the private allow-list (when non-empty): a packet from a peering to one of the nodes
//!   whose source is outside the list is dropped (every packet). Empty: no narrowing.

use std::net::Ipv4Addr;

use crate::applied::Applied;
use crate::driver::LocalDriver;
use crate::fast_access;
use crate::firewall::{
    self, delete_chain, set_map_keys, Batch, Table, PRIVATE_TO_MAP, PUBLIC_DNAT_MAP, PUBLIC_IN_MAP,
};
use crate::guard::Guard;
use crate::netns;
use anyhow::{Context, Result};
use isthmus_core::resources::{Cluster, EgressRule, Network};
use isthmus_core::Cidr;

/// A cluster's access objects in its network's router, and what they should hold.
#[derive(Debug, Clone)]
pub(crate) struct AccessPlan {
    pub(crate) router_ns: String,
    pub(crate) cluster: String,
    pub(crate) public: Guard,
    dnat_chain: String,
    pub(crate) private: Guard,
    /// The endpoint ip while public access is on (and there are nodes to forward to).
    pub(crate) endpoint: Option<Ipv4Addr>,
    pub(crate) public_list: Vec<Cidr>,
    pub(crate) private_list: Vec<Cidr>,
    pub(crate) nodes: Vec<Ipv4Addr>,
    /// The egress chain and rules, applied in the same transaction (`None`: left alone).
    pub(crate) egress: Option<(String, Vec<EgressRule>)>,
}

impl LocalDriver {
    pub(crate) fn access_plan(&self, network: &Network, cluster: &Cluster) -> AccessPlan {
        let id = cluster.id.to_string();
        let nodes: Vec<Ipv4Addr> = cluster.nodes.iter().map(|n| n.ip).collect();
        let endpoint = cluster
            .public_endpoint
            .as_ref()
            .filter(|_| cluster.public_access.enabled && !nodes.is_empty())
            .map(|e| e.ip);
        AccessPlan {
            router_ns: self.names.router_ns(&network.id.to_string()),
            cluster: id.clone(),
            public: Guard {
                chain: self.names.public_chain(&id),
                accept_after: true,
                originator_only: false,
            },
            dnat_chain: self.names.dnat_chain(&id),
            private: Guard {
                chain: self.names.private_chain(&id),
                accept_after: false,
                originator_only: true,
            },
            endpoint,
            public_list: cluster
                .public_access
                .allowlist
                .iter()
                .map(|e| e.cidr)
                .collect(),
            private_list: cluster.private_allowlist.iter().map(|e| e.cidr).collect(),
            nodes,
            egress: Some((
                self.names.egress_chain(&id),
                cluster.egress_allowlist.clone(),
            )),
        }
    }

    /// Applies the cluster's egress allow-list, public endpoint and private allow-list in
    /// one transaction (one table read: with 8,000-entry lists each nft call counts). Called
    /// by `ensure_nodes`, after the nodes exist.
    pub(crate) async fn apply_access(&self, network: &Network, plan: &AccessPlan) -> Result<()> {
        let network_id = network.id.to_string();
        if plan.endpoint.is_some() {
            // The uplink first: the firewall below is in place before the internet routes
            // the endpoint here.
            self.ensure_uplink(&plan.router_ns, &network_id).await?;
        }
        let (p, applied) = (plan.clone(), self.applied.clone());
        let old_endpoints = netns::run_in_async(Some(&plan.router_ns), move || {
            let started = std::time::Instant::now();
            let fast = fast_access::apply_elements_only(&p, &applied)?;
            let elements_only = fast.is_some();
            let old = match fast {
                Some(old) => old,
                None => apply_firewall(&p, &applied)?,
            };
            // Which path an access change took, and its cost (RUST_LOG=isthmus_driver_local=debug).
            tracing::debug!(cluster = %p.cluster, elements_only,
                firewall_ms = started.elapsed().as_secs_f64() * 1e3, "access firewall applied");
            Ok(old)
        })
        .await
        .context("apply the access firewall")?;
        let stale: Vec<Ipv4Addr> = old_endpoints
            .into_iter()
            .filter(|ip| Some(*ip) != plan.endpoint)
            .collect();
        self.route_endpoints(&network_id, plan.endpoint.into_iter().collect(), stale)
            .await
    }

    /// What differs from the plan (empty: nothing), cheaply: one table read in the router
    /// and one route read in the internet namespace. `trust_record`: right after an apply,
    /// the record of what was applied stands for the table while the ruleset is still at
    /// its generation (no read of the lists back); the resync reads the table in full.
    pub(crate) async fn access_drift(
        &self,
        network: &Network,
        plan: &AccessPlan,
        trust_record: bool,
    ) -> Result<Vec<String>> {
        if !netns::exists(&plan.router_ns) {
            return Ok(vec![]);
        }
        let (p, applied) = (plan.clone(), self.applied.clone());
        let mut drift = netns::run_in_async(Some(&plan.router_ns), move || {
            if trust_record && fast_access::record_holds(&p, &applied)? {
                return Ok(vec![]);
            }
            let drift = firewall_drift(&firewall::read_table()?, &p);
            if !drift.is_empty() {
                // Whatever the kernel holds, it is not what was recorded.
                applied.forget(&p.router_ns);
            }
            Ok(drift)
        })
        .await
        .context("read the access firewall")?;
        if let Some(ip) = plan.endpoint {
            let routed = self
                .routed_endpoints(&network.id.to_string(), vec![ip])
                .await?;
            if routed.is_empty() {
                drift.push(format!("the internet has no route to public endpoint {ip}"));
            }
            if !self
                .uplink_is_default(&plan.router_ns, &network.id.to_string())
                .await?
            {
                drift.push("the router's default route over its uplink is missing".into());
            }
        }
        Ok(drift)
    }

    /// Removes the cluster's access objects (its nodes are going).
    pub(crate) async fn delete_access(&self, network: &Network, plan: &AccessPlan) -> Result<()> {
        let mut gone = plan.clone();
        gone.endpoint = None;
        gone.private_list.clear();
        gone.egress = None;
        self.apply_access(network, &gone).await
    }
}

/// Brings the router's access objects to the plan (in the router's namespace) from a
/// full read of the table, and records what it applied. Returns the endpoint ips the
/// firewall had for this cluster before (to unroute the stale ones).
fn apply_firewall(p: &AccessPlan, applied: &Applied) -> Result<Vec<Ipv4Addr>> {
    applied.forget(&p.router_ns);
    let mut table = firewall::read_table()?;
    let wants_nothing = p.endpoint.is_none() && p.private_list.is_empty() && p.egress.is_none();
    if wants_nothing && !table.exists {
        return Ok(vec![]);
    }
    if !table.base_intact() {
        return Err(crate::errors::dependency(format!(
            "firewall base of {} is missing (ensure the network first)",
            p.router_ns
        )));
    }
    let old: Vec<Ipv4Addr> = table
        .keys_jumping_to(PUBLIC_IN_MAP, &p.public.chain)
        .into_iter()
        .chain(table.keys_jumping_to(PUBLIC_DNAT_MAP, &p.dnat_chain))
        .filter_map(|k| k.parse().ok())
        .collect();
    let mut prepare = Batch::new();
    if p.endpoint.is_some() {
        p.public.prepare(&table, &mut prepare);
    }
    if !p.private_list.is_empty() {
        p.private.prepare(&table, &mut prepare);
    }
    if !prepare.is_empty() {
        prepare.apply().context("clear leftover allow-list sets")?;
        table = firewall::read_table()?;
    }
    let mut b = Batch::new();
    let (mut public_set, mut private_set) = (None, None);
    if let Some((chain, rules)) = &p.egress {
        firewall::set_egress(&mut b, &table, chain, &p.nodes, rules);
    }
    match p.endpoint {
        Some(ip) => {
            public_set = Some(p.public.apply(&table, &mut b, &p.public_list));
            b.add_chain(&p.dnat_chain);
            b.flush_chain(&p.dnat_chain);
            b.rule(&p.dnat_chain, vec![firewall::round_robin_dnat(&p.nodes)]);
            set_map_keys(&mut b, &table, PUBLIC_IN_MAP, &p.public.chain, &[ip]);
            set_map_keys(&mut b, &table, PUBLIC_DNAT_MAP, &p.dnat_chain, &[ip]);
        }
        None => {
            set_map_keys(&mut b, &table, PUBLIC_IN_MAP, &p.public.chain, &[]);
            set_map_keys(&mut b, &table, PUBLIC_DNAT_MAP, &p.dnat_chain, &[]);
            p.public.delete(&table, &mut b);
            delete_chain(&mut b, &table, &p.dnat_chain);
        }
    }
    if p.private_list.is_empty() {
        set_map_keys(&mut b, &table, PRIVATE_TO_MAP, &p.private.chain, &[]);
        p.private.delete(&table, &mut b);
    } else {
        private_set = Some(p.private.apply(&table, &mut b, &p.private_list));
        set_map_keys(&mut b, &table, PRIVATE_TO_MAP, &p.private.chain, &p.nodes);
    }
    b.apply()
        .context("apply public endpoint and private allow-list")?;
    fast_access::record(p, applied, public_set, private_set)?;
    Ok(old)
}

fn firewall_drift(table: &Table, p: &AccessPlan) -> Vec<String> {
    let mut drift = vec![];
    let points_at = |map: &str, key: &Ipv4Addr, chain: &str| {
        table
            .jumps
            .get(map)
            .and_then(|m| m.get(&key.to_string()))
            .is_some_and(|t| t == chain)
    };
    match p.endpoint {
        Some(ip) => {
            drift.extend(p.public.drift(table, &p.public_list));
            if table.rule_count(&p.dnat_chain) != 1
                || !points_at(PUBLIC_IN_MAP, &ip, &p.public.chain)
                || !points_at(PUBLIC_DNAT_MAP, &ip, &p.dnat_chain)
            {
                drift.push(format!(
                    "public endpoint {ip} is not forwarded to the nodes"
                ));
            }
        }
        None => {
            if !table
                .keys_jumping_to(PUBLIC_IN_MAP, &p.public.chain)
                .is_empty()
                || table.chains.contains(&p.dnat_chain)
            {
                drift.push("a public endpoint is open though public access is off".into());
            }
        }
    }
    if p.private_list.is_empty() {
        if !table
            .keys_jumping_to(PRIVATE_TO_MAP, &p.private.chain)
            .is_empty()
        {
            drift.push("a private allow-list is applied though the list is empty".into());
        }
    } else {
        drift.extend(p.private.drift(table, &p.private_list));
        if p.nodes
            .iter()
            .any(|ip| !points_at(PRIVATE_TO_MAP, ip, &p.private.chain))
        {
            drift.push("the private allow-list does not cover every node".into());
        }
    }
    drift
}
