//! The random topologies of the differential test (`local_reach.rs`): a fixed lab (lab VPCs,
//! two of them behind a hub, internet hosts, two networks with a cluster each) and, per
//! round, seeded choices of what changes on it: which peerings exist with which routes,
//! gateway-transit ranges and flag, and each cluster's private and public allow-lists.
//! Applying a topology changes the running lab through the CLI (PATCH, not recreate).

use std::collections::BTreeMap;
use std::fmt;

use isthmus_core::Cidr;

use super::LocalLab;
use crate::support::{id_of, WAIT_TIMEOUT};

/// What a peering to a lab VPC carries: the VPC's own ranges and its gateway's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeeringPlan {
    pub routes: &'static [&'static str],
    pub transit: &'static [&'static str],
}

const fn own(routes: &'static [&'static str]) -> Option<PeeringPlan> {
    Some(PeeringPlan {
        routes,
        transit: &[],
    })
}

const fn with_transit(
    routes: &'static [&'static str],
    transit: &'static [&'static str],
) -> Option<PeeringPlan> {
    Some(PeeringPlan { routes, transit })
}

/// A lab VPC, its hosts, and the peerings a network may have to it (`None`: no peering).
pub struct VpcPlan {
    pub name: &'static str,
    pub cidr: &'static str,
    pub behind: Option<&'static str>,
    pub hosts: &'static [(&'static str, &'static str)],
    pub choices: Vec<Option<PeeringPlan>>,
}

/// The lab VPCs, hubs before what sits behind them. Route choices cover a VPC, part of it
/// (one host in, one out), something else, another VPC's range (non-transitive: that
/// VPC's packets have no path), or a hub's spoke as transit (whole, partly, not at all) or
/// as the hub's own range (a /15 over both: admitted whatever the flag says).
pub fn vpcs() -> Vec<VpcPlan> {
    vec![
        VpcPlan {
            name: "alpha",
            cidr: "172.16.0.0/16",
            behind: None,
            hosts: &[("a1", "172.16.0.10"), ("a2", "172.16.200.10")],
            choices: vec![
                None,
                own(&["172.16.0.0/16"]),
                own(&["172.16.0.0/24"]),
                own(&["172.16.128.0/17"]),
                own(&["172.16.0.0/24", "172.16.200.0/24"]),
                with_transit(&["172.16.0.0/16"], &["100.64.1.0/24"]),
                with_transit(&["172.16.0.0/24"], &["100.64.0.0/16"]),
                with_transit(&["172.16.0.0/16"], &["100.64.1.128/25"]),
                // A route that is beta's range, not alpha's (a misconfiguration).
                own(&["172.16.0.0/16", "10.70.0.0/16"]),
            ],
        },
        // A VPN-client range behind alpha's gateway.
        VpcPlan {
            name: "vpn",
            cidr: "100.64.1.0/24",
            behind: Some("alpha"),
            hosts: &[("v1", "100.64.1.10")],
            choices: vec![None, None, None, own(&["100.64.1.0/24"])],
        },
        VpcPlan {
            name: "beta",
            cidr: "10.70.0.0/16",
            behind: None,
            hosts: &[("b1", "10.70.0.10")],
            choices: vec![
                None,
                own(&["10.70.0.0/16"]),
                own(&["10.71.0.0/16"]),
                // Gamma's range too: gamma's own packets still have no path to the network.
                own(&["10.70.0.0/16", "192.168.10.0/24"]),
            ],
        },
        VpcPlan {
            name: "hub",
            cidr: "10.80.0.0/16",
            behind: None,
            hosts: &[("h1", "10.80.0.10")],
            choices: vec![
                None,
                own(&["10.80.0.0/16"]),
                with_transit(&["10.80.0.0/16"], &["10.81.0.0/16"]),
                with_transit(&["10.80.0.0/16"], &["10.81.0.0/16"]),
                with_transit(&["10.80.0.0/16"], &["10.81.128.0/17"]),
                with_transit(&["10.80.0.0/24"], &["10.81.0.0/24"]),
                own(&["10.80.0.0/15"]),
            ],
        },
        // A spoke of the hub; now and then peered itself (its own route wins).
        VpcPlan {
            name: "spoke",
            cidr: "10.81.0.0/16",
            behind: Some("hub"),
            hosts: &[("s1", "10.81.0.10")],
            choices: vec![None, None, None, own(&["10.81.0.0/16"])],
        },
        // Never peered, behind nothing (beta's peering may claim its range): every answer
        // is a denial.
        VpcPlan {
            name: "gamma",
            cidr: "192.168.10.0/24",
            behind: None,
            hosts: &[("c1", "192.168.10.10")],
            choices: vec![None],
        },
    ]
}

/// Internet hosts: one in TEST-NET-3 (203.0.113.0/24), one in TEST-NET-2.
pub const INTERNET_HOSTS: &[(&str, &str)] = &[("i1", "203.0.113.10"), ("i2", "198.51.100.7")];

/// Private allow-lists: none (every peered source), a VPC, one host, a spoke with
/// another VPC, a wide prefix, nobody of the lab, a VPN range with a hub.
const PRIVATE_LISTS: &[&[&str]] = &[
    &[],
    &[],
    &["172.16.0.0/16"],
    &["172.16.200.10/32"],
    &["10.70.0.0/16", "10.81.0.0/16"],
    &["10.0.0.0/8"],
    &["192.0.2.0/24"],
    &["100.64.1.0/24", "10.80.0.0/16"],
];

/// Public allow-lists: empty (nobody), each host, a range with one of them, everybody,
/// nobody of ours, both.
const PUBLIC_LISTS: &[&[&str]] = &[
    &[],
    &["203.0.113.10/32"],
    &["198.51.100.7/32"],
    &["203.0.113.0/24"],
    &["0.0.0.0/0"],
    &["192.0.2.0/24"],
    &["203.0.113.10/32", "198.51.100.7/32"],
];

/// Who may reach one cluster: its private allow-list and its public access.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessPlan {
    pub private: Vec<&'static str>,
    pub public_enabled: bool,
    pub public: Vec<&'static str>,
}

/// A peering as it should be: the plan and the gateway-transit flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub plan: PeeringPlan,
    pub allow_gateway_transit: bool,
}

/// One round's topology: per network, the peerings (by lab VPC) and the cluster's access.
#[derive(Clone, PartialEq, Eq)]
pub struct Topology {
    pub networks: Vec<(BTreeMap<&'static str, Wanted>, AccessPlan)>,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (peerings, access)) in self.networks.iter().enumerate() {
            writeln!(f, "network {i}: cluster access {access:?}")?;
            for (vpc, w) in peerings {
                writeln!(
                    f,
                    "  peering to {vpc}: routes {:?} transit {:?} allow_gateway_transit {}",
                    w.plan.routes, w.plan.transit, w.allow_gateway_transit
                )?;
            }
        }
        Ok(())
    }
}

/// A small seeded generator (xorshift64*), so a failing seed replays exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn pick(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }

    fn coin(&mut self) -> bool {
        self.pick(2) == 1
    }
}

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter()
        .map(|c| c.parse().expect("a plan's prefix"))
        .collect()
}

fn prefixes(plan: &PeeringPlan) -> Vec<Cidr> {
    cidrs(plan.routes)
        .into_iter()
        .chain(cidrs(plan.transit))
        .collect()
}

/// A random topology over `networks` networks. Peerings of one network never claim
/// overlapping ranges (the API refuses that): a choice that would is skipped.
pub fn random(rng: &mut Rng, vpcs: &[VpcPlan], networks: usize) -> Topology {
    let networks = (0..networks)
        .map(|_| {
            let mut peerings = BTreeMap::new();
            let mut claimed: Vec<Cidr> = Vec::new();
            for v in vpcs {
                let candidates: Vec<&PeeringPlan> = v
                    .choices
                    .iter()
                    .flatten()
                    .filter(|p| {
                        prefixes(p)
                            .iter()
                            .all(|c| claimed.iter().all(|t| !t.overlaps(c)))
                    })
                    .collect();
                // `None` keeps its weight among the choices.
                let nones = v.choices.iter().filter(|c| c.is_none()).count();
                let i = rng.pick(candidates.len() + nones);
                let allow_gateway_transit = rng.coin();
                if let Some(plan) = candidates.get(i) {
                    claimed.extend(prefixes(plan));
                    peerings.insert(
                        v.name,
                        Wanted {
                            plan: (*plan).clone(),
                            allow_gateway_transit,
                        },
                    );
                }
            }
            let access = AccessPlan {
                private: PRIVATE_LISTS[rng.pick(PRIVATE_LISTS.len())].to_vec(),
                public_enabled: rng.pick(3) > 0,
                public: PUBLIC_LISTS[rng.pick(PUBLIC_LISTS.len())].to_vec(),
            };
            (peerings, access)
        })
        .collect();
    Topology { networks }
}

fn flags(prefix: &str, list: &[&str]) -> String {
    list.iter().map(|c| format!(" {prefix} {c}")).collect()
}

/// The lab as it is now: peering ids and each cluster's access, to change by difference.
pub struct Applied {
    pub peerings: Vec<BTreeMap<&'static str, (String, Wanted)>>,
    pub access: Vec<AccessPlan>,
}

impl Applied {
    pub fn new(networks: usize) -> Applied {
        Applied {
            peerings: vec![BTreeMap::new(); networks],
            access: vec![AccessPlan::default(); networks],
        }
    }
}

/// Makes the lab match `topology`: deletes, then updates (in an order that never claims a
/// range twice), then creates peerings; then updates each cluster's lists by difference, as a user would
/// (`--add-…`/`--remove-…`), waiting until the controller has applied each change.
pub fn apply(
    lab: &LocalLab,
    networks: &[(String, String)],
    now: &mut Applied,
    topology: &Topology,
) {
    for (i, (network, cluster)) in networks.iter().enumerate() {
        let (wanted, access) = &topology.networks[i];
        let current = &mut now.peerings[i];
        for (vpc, (id, _)) in current.clone() {
            if !wanted.contains_key(vpc) {
                lab.cli.ok(&format!(
                    "peering delete {id} --wait --timeout {WAIT_TIMEOUT}"
                ));
                current.remove(vpc);
            }
        }
        // The API refuses a route another peering holds even for a moment, so an update
        // goes only once no other peering still holds what it claims (the update that frees
        // a range goes first); one that can never go is deleted and created afresh below.
        let mut pending: Vec<&'static str> = wanted
            .iter()
            .filter(|(vpc, w)| current.get(*vpc).is_some_and(|(_, was)| was != *w))
            .map(|(vpc, _)| *vpc)
            .collect();
        while !pending.is_empty() {
            let free = |vpc: &str| {
                let claims = prefixes(&wanted[vpc].plan);
                current
                    .iter()
                    .filter(|(other, _)| **other != vpc)
                    .flat_map(|(_, (_, was))| prefixes(&was.plan))
                    .all(|held| claims.iter().all(|c| !c.overlaps(&held)))
            };
            let Some(ready) = pending.iter().position(|vpc| free(vpc)) else {
                let (id, _) = current
                    .remove(pending.remove(0))
                    .expect("a current peering");
                lab.cli.ok(&format!(
                    "peering delete {id} --wait --timeout {WAIT_TIMEOUT}"
                ));
                continue;
            };
            let vpc = pending.remove(ready);
            let w = &wanted[vpc];
            let (id, was) = current.get_mut(vpc).expect("a current peering");
            let transit = if w.plan.transit.is_empty() {
                " --no-transit-routes".to_string()
            } else {
                flags("--transit-route", w.plan.transit)
            };
            lab.cli.ok(&format!(
                "peering update {id}{}{transit} --allow-gateway-transit {} \
                 --wait --timeout {WAIT_TIMEOUT}",
                flags("--route", w.plan.routes),
                w.allow_gateway_transit
            ));
            *was = w.clone();
        }
        for (vpc, w) in wanted {
            if !current.contains_key(vpc) {
                let p = lab.transit_peering(
                    network,
                    vpc,
                    w.plan.routes,
                    w.plan.transit,
                    w.allow_gateway_transit,
                );
                current.insert(vpc, (id_of(&p), w.clone()));
            }
        }
        let was = &now.access[i];
        if was != access {
            lab.update_cluster(cluster, &access_flags(was, access));
            now.access[i] = access.clone();
        }
    }
}

/// `cluster update` flags that turn access `was` into `to`.
fn access_flags(was: &AccessPlan, to: &AccessPlan) -> String {
    let gone = |a: &[&'static str], b: &[&'static str]| -> Vec<&'static str> {
        a.iter().filter(|c| !b.contains(c)).copied().collect()
    };
    let mut line = format!(
        "--public-access {}",
        if to.public_enabled { "on" } else { "off" }
    );
    line += &flags("--remove-public-allow", &gone(&was.public, &to.public));
    line += &flags("--add-public-allow", &gone(&to.public, &was.public));
    if to.private.is_empty() && !was.private.is_empty() {
        line += " --clear-private-allowlist";
    } else {
        line += &flags("--remove-private-allow", &gone(&was.private, &to.private));
        line += &flags("--add-private-allow", &gone(&to.private, &was.private));
    }
    line
}
