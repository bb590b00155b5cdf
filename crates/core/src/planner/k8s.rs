//! `isthmus plan k8s`: a Kubernetes cluster's node subnet, pod range and service range
//! checked against a peering's routes, with the covering prefix to route and its layout.
//!
//! Why: on GKE (VPC-native) and EKS with custom networking, pods and services take
//! addresses outside the node subnet. A peering that routes only the node subnet leaves
//! pods unreachable — the classic "works from the node, not from the pod". One covering
//! prefix (the Event Store Cloud GKE example: 172.30.0.0/15 for pods /16, nodes /17 and
//! services /17) keeps the peering to a single route.

use std::net::Ipv4Addr;

use super::{cover, render_split_table, SplitRow};
use crate::{Cidr, CoreError};

/// The ranges of a Kubernetes cluster, by role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sRanges {
    pub nodes: Cidr,
    pub pods: Cidr,
    pub services: Option<Cidr>,
}

impl K8sRanges {
    /// (role, range) in the order given: nodes, pods, services.
    pub fn roles(&self) -> Vec<(&'static str, Cidr)> {
        let mut out = vec![("nodes", self.nodes), ("pods", self.pods)];
        out.extend(self.services.map(|s| ("services", s)));
        out
    }
}

/// How much of a range the peering's routes hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// Wholly inside this route.
    Covered(Cidr),
    /// Only these routes' addresses of it.
    Partly(Vec<Cidr>),
    NotCovered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sPlan {
    pub ranges: Vec<(&'static str, Cidr)>,
    /// Per role, when the peering's routes were given.
    pub coverage: Option<Vec<(&'static str, Coverage)>>,
    /// The prefixes the peering should route: one covering prefix when it wastes no more
    /// addresses than it holds, else the pod and service ranges covered together, else
    /// each range on its own.
    pub routes_to_use: Vec<Cidr>,
    /// The full new route list for the peering (old routes not absorbed, plus the new),
    /// when routes were given and do not already cover everything.
    pub new_routes: Option<Vec<Cidr>>,
    /// The layout of each covering prefix that holds more than one range.
    pub layouts: Vec<(Cidr, Vec<(SplitRow, &'static str)>)>,
}

pub fn plan_k8s(ranges: &K8sRanges, routes: Option<&[Cidr]>) -> Result<K8sPlan, CoreError> {
    let roles = ranges.roles();
    for (i, (a_role, a)) in roles.iter().enumerate() {
        if let Some((b_role, b)) = roles[i + 1..].iter().find(|(_, b)| a.overlaps(b)) {
            return Err(CoreError::invalid(
                *b_role,
                "overlap",
                format!("the {b_role} range {b} overlaps the {a_role} range {a}"),
            ));
        }
    }
    let groups = covering_groups(&roles);
    let routes_to_use: Vec<Cidr> = groups.iter().map(|(c, _)| *c).collect();
    let layouts = groups
        .iter()
        .filter(|(_, members)| members.len() > 1)
        .map(|(c, members)| (*c, layout(*c, members)))
        .collect();
    let coverage = routes.map(|routes| {
        roles
            .iter()
            .map(|(role, range)| (*role, coverage_of(*range, routes)))
            .collect::<Vec<_>>()
    });
    let all_covered = coverage
        .as_ref()
        .is_some_and(|c| c.iter().all(|(_, c)| matches!(c, Coverage::Covered(_))));
    let new_routes = match routes {
        Some(routes) if !all_covered => {
            let mut out: Vec<Cidr> = routes
                .iter()
                // Kept unless a wider prefix to use absorbs it.
                .filter(|r| !routes_to_use.iter().any(|u| u.contains(r) && u != *r))
                .copied()
                .collect();
            out.extend(
                routes_to_use
                    .iter()
                    .filter(|u| !routes.iter().any(|r| r.contains(u))),
            );
            out.sort();
            Some(out)
        }
        _ => None,
    };
    Ok(K8sPlan {
        ranges: roles,
        coverage,
        routes_to_use,
        new_routes,
        layouts,
    })
}

/// Whether a prefix is worth routing in place of its members: it holds at most twice
/// the addresses they do.
fn worth_covering(members: &[(&'static str, Cidr)]) -> Option<Cidr> {
    let prefixes: Vec<Cidr> = members.iter().map(|(_, c)| *c).collect();
    let covering = cover(&prefixes)?;
    let held: u64 = prefixes.iter().map(Cidr::size).sum();
    (covering.size() <= 2 * held).then_some(covering)
}

type Group = (Cidr, Vec<(&'static str, Cidr)>);

fn covering_groups(roles: &[(&'static str, Cidr)]) -> Vec<Group> {
    if let Some(all) = worth_covering(roles) {
        return vec![(all, roles.to_vec())];
    }
    // Nodes usually live in the VPC's primary range; pods and services in secondary
    // ranges next to each other.
    let (nodes, secondary) = roles.split_at(1);
    if secondary.len() > 1 {
        if let Some(both) = worth_covering(secondary) {
            return vec![(nodes[0].1, nodes.to_vec()), (both, secondary.to_vec())];
        }
    }
    roles.iter().map(|r| (r.1, vec![*r])).collect()
}

/// The covering prefix as consecutive aligned subnets: each member range under its role,
/// the gaps as the fewest aligned free blocks.
fn layout(covering: Cidr, members: &[(&'static str, Cidr)]) -> Vec<(SplitRow, &'static str)> {
    let mut sorted = members.to_vec();
    sorted.sort_by_key(|(_, c)| *c);
    let mut rows = Vec::new();
    let mut cursor = u64::from(covering.start());
    let fill_to = |rows: &mut Vec<(SplitRow, &'static str)>, cursor: &mut u64, end: u64| {
        while *cursor < end {
            // The largest block aligned at the cursor that does not run past `end`.
            let align = cursor.trailing_zeros().min(32);
            let fits = 63 - (end - *cursor).leading_zeros();
            let bits = align.min(fits);
            let len = 32 - bits as u8;
            let block = Cidr::containing(Ipv4Addr::from(*cursor as u32), len);
            rows.push((SplitRow::for_subnet(block), "free"));
            *cursor += 1u64 << bits;
        }
    };
    for (role, range) in sorted {
        fill_to(&mut rows, &mut cursor, u64::from(range.start()));
        rows.push((SplitRow::for_subnet(range), role));
        cursor = u64::from(range.end()) + 1;
    }
    fill_to(&mut rows, &mut cursor, u64::from(covering.end()) + 1);
    rows
}

fn coverage_of(range: Cidr, routes: &[Cidr]) -> Coverage {
    if let Some(r) = routes.iter().find(|r| r.contains(&range)) {
        return Coverage::Covered(*r);
    }
    let partly: Vec<Cidr> = routes
        .iter()
        .filter(|r| range.contains(r))
        .copied()
        .collect();
    if partly.is_empty() {
        Coverage::NotCovered
    } else {
        Coverage::Partly(partly)
    }
}

fn join(items: &[Cidr]) -> String {
    items
        .iter()
        .map(Cidr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plan as text: ranges, coverage, routes to use, and each covering prefix's table.
pub fn render_k8s(plan: &K8sPlan) -> String {
    let mut out = String::from("ranges:\n");
    for (role, range) in &plan.ranges {
        out.push_str(&format!(
            "  {role:<8}  {:<18}  {} addresses\n",
            range.to_string(),
            range.size()
        ));
    }
    match &plan.coverage {
        None => out.push_str(
            "peering routes: not given (--peering-routes or --peering); coverage not checked\n",
        ),
        Some(coverage) => {
            out.push_str("covered by the peering's routes:\n");
            for (role, c) in coverage {
                let text = match c {
                    Coverage::Covered(r) => format!("yes (by {r})"),
                    Coverage::Partly(rs) => format!("partly (only {})", join(rs)),
                    Coverage::NotCovered => "no".to_string(),
                };
                out.push_str(&format!("  {role:<8}  {text}\n"));
            }
        }
    }
    out.push_str(&format!("routes to use: {}\n", join(&plan.routes_to_use)));
    match (&plan.coverage, &plan.new_routes) {
        (Some(_), None) => out.push_str("the peering's routes already cover every range\n"),
        (_, Some(new)) => {
            let flags: Vec<String> = new.iter().map(|r| format!("--route {r}")).collect();
            out.push_str(&format!(
                "update the peering: isthmus peering update <peering-id> {}\n",
                flags.join(" ")
            ));
        }
        (None, None) => {}
    }
    for (covering, rows) in &plan.layouts {
        let sizes: Vec<String> = rows
            .iter()
            .map(|(r, _)| r.subnet.prefix_len().to_string())
            .collect();
        out.push_str(&format!(
            "\n{covering} laid out (isthmus plan split {covering} --into {}):\n",
            sizes.join(",")
        ));
        let table_rows: Vec<SplitRow> = rows.iter().map(|(r, _)| *r).collect();
        let table = render_split_table(&table_rows);
        let mut lines = table.lines();
        if let Some(header) = lines.next() {
            out.push_str(&format!("{header}  role\n"));
        }
        for (line, (_, role)) in lines.zip(rows) {
            out.push_str(&format!("{line}  {role}\n"));
        }
    }
    out
}
