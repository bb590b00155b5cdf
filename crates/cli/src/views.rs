//! How each resource looks in a table row and in the `key: value` view.

use chrono::{DateTime, Utc};
use isthmus_core::conditions::Condition;
use isthmus_core::object::Object;
use isthmus_core::resources::{
    AllowlistEntry, Cluster, CustomerAction, Event, Network, Peering, Project,
};
use isthmus_driver::sim::{CustomerVpc, SimPeeringView};

use crate::output::{or_dash, time, Details, View};

mod tokens;
pub use tokens::{CreatedToken, ProjectToken, RotatedToken};

impl View for Project {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "CREATED"];
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            time(&self.created_at),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("id", self.id)
            .field("name", &self.name)
            .field("created_at", time(&self.created_at))
            .field("updated_at", time(&self.updated_at))
            .field("version", self.version)
    }
}

impl View for Network {
    const HEADERS: &'static [&'static str] = &[
        "ID", "NAME", "PROVIDER", "REGION", "CIDR", "STATUS", "CREATED",
    ];
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.provider.to_string(),
            self.region.clone(),
            self.cidr_block.to_string(),
            self.status.to_string(),
            time(&self.created_at),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .object_head(self)
            .field("provider", self.provider)
            .field("region", &self.region)
            .field("cidr_block", self.cidr_block)
            .object_status(self)
            .field(
                "provider_network_id",
                or_dash(self.provider_network_id.as_deref()),
            )
            .object_tail(self, &self.updated_at)
    }
}

impl View for Peering {
    const HEADERS: &'static [&'static str] = &["ID", "NAME", "NETWORK", "PEER", "ROUTES", "STATUS"];
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.network_id.to_string(),
            short_peer_network(&self.peer.network_id).to_string(),
            short_routes(&self.routes),
            self.status.to_string(),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .object_head(self)
            .field("network_id", self.network_id)
            .field("peer_account", &self.peer.account_id)
            .field("peer_network", &self.peer.network_id)
            .field("peer_region", &self.peer.region)
            .field("routes", routes(self))
            .field("transit_routes", or_dash(Some(&transit_routes(self))))
            .field("allow_gateway_transit", self.allow_gateway_transit)
            .object_status(self)
            .field(
                "provider_peering_id",
                or_dash(self.provider_peering_id.as_deref()),
            )
            .block("warnings", self.warnings.clone())
            .block("customer_actions", customer_actions_or_why(self))
            .object_tail(self, &self.updated_at)
    }
}

impl View for Cluster {
    const HEADERS: &'static [&'static str] = &[
        "ID", "NAME", "NETWORK", "ENGINE", "TOPOLOGY", "STATUS", "DNS",
    ];
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.network_id.to_string(),
            self.engine.clone(),
            self.topology.as_str().to_string(),
            self.status.to_string(),
            or_dash(Some(&self.dns_name)),
        ]
    }
    fn details(&self) -> Details {
        let public = &self.public_access;
        let public_access = if public.enabled {
            "enabled"
        } else {
            "disabled"
        };
        let endpoint = self
            .public_endpoint
            .as_ref()
            .map(|e| format!("{} ({})", e.dns_name, e.ip));
        Details::default()
            .object_head(self)
            .field("network_id", self.network_id)
            .field("engine", &self.engine)
            .field("topology", self.topology.as_str())
            .object_status(self)
            .field("dns_name", or_dash(Some(&self.dns_name)))
            .field("public_access", public_access)
            .field("public_endpoint", or_dash(endpoint.as_deref()))
            .block(
                &format!("public_allowlist ({})", public.allowlist.len()),
                allowlist_lines(&public.allowlist),
            )
            .block(
                &format!("private_allowlist ({})", self.private_allowlist.len()),
                if self.private_allowlist.is_empty() {
                    vec!["none: every peered source may connect".to_string()]
                } else {
                    allowlist_lines(&self.private_allowlist)
                },
            )
            .block(
                &format!("egress_allowlist ({})", self.egress_allowlist.len()),
                if self.egress_allowlist.is_empty() {
                    vec!["none: the nodes connect to nothing in peered networks".to_string()]
                } else {
                    self.egress_allowlist
                        .iter()
                        .map(|r| {
                            let ports = match r.ports.as_slice() {
                                [] => "every port".to_string(),
                                ports => format!(
                                    "port {}",
                                    ports
                                        .iter()
                                        .map(u16::to_string)
                                        .collect::<Vec<_>>()
                                        .join(",")
                                ),
                            };
                            match r.comment.as_str() {
                                "" => format!("{}  {ports}", r.cidr),
                                c => format!("{}  {ports}  {c}", r.cidr),
                            }
                        })
                        .collect()
                },
            )
            .block("warnings", self.warnings.clone())
            .block(
                "nodes",
                self.nodes
                    .iter()
                    .map(|n| {
                        format!(
                            "{}  {}  {}  {}  {}",
                            n.index, n.ip, n.zone, n.status, n.dns_name
                        )
                    })
                    .collect(),
            )
            .block(
                "addresses",
                crate::addresses::scoped_addresses(self)
                    .iter()
                    .map(|a| format!("{} {}: {}", a.scope, a.name, a.uri))
                    .collect(),
            )
            .object_tail(self, &self.updated_at)
    }
}

impl View for Event {
    const HEADERS: &'static [&'static str] = &["SEQ", "TIME", "ACTOR", "ACTION", "RESOURCE"];
    fn row(&self) -> Vec<String> {
        vec![
            self.seq.to_string(),
            time(&self.time),
            self.actor.clone(),
            self.action.clone(),
            format!("{}/{}", self.resource_kind, self.resource_id),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("seq", self.seq)
            .field("time", time(&self.time))
            .field("actor", &self.actor)
            .field("action", &self.action)
            .field(
                "resource",
                format!("{}/{}", self.resource_kind, self.resource_id),
            )
    }
}

impl View for CustomerVpc {
    const HEADERS: &'static [&'static str] = &["CLOUD", "ACCOUNT", "NETWORK", "REGION", "CIDR"];
    fn row(&self) -> Vec<String> {
        vec![
            self.cloud.to_string(),
            self.account_id.clone(),
            self.network_id.clone(),
            self.region.clone(),
            self.cidr_block.clone(),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("cloud", self.cloud)
            .field("account_id", &self.account_id)
            .field("network_id", &self.network_id)
            .field("region", &self.region)
            .field("cidr_block", &self.cidr_block)
    }
}

impl View for SimPeeringView {
    const HEADERS: &'static [&'static str] =
        &["PEERING", "CLOUD", "PROVIDER ID", "STATE", "ROUTES"];
    fn row(&self) -> Vec<String> {
        vec![
            self.peering_id.to_string(),
            self.cloud.to_string(),
            self.provider_peering_id.clone(),
            self.state.clone(),
            self.routes.join(","),
        ]
    }
    fn details(&self) -> Details {
        Details::default()
            .field("peering_id", self.peering_id)
            .field("cloud", self.cloud)
            .field("provider_peering_id", &self.provider_peering_id)
            .field("state", &self.state)
            .field("routes", self.routes.join(", "))
            .field(
                "transit_routes",
                or_dash(Some(&self.transit_routes.join(", "))),
            )
            .field("allow_gateway_transit", self.allow_gateway_transit)
            .field("message", &self.message)
    }
}

/// The customer's commands, each after a comment saying what it does, ready to paste:
/// only while the peering still waits on them (a list stored before it became active,
/// failed or started going is stale).
pub fn customer_actions(peering: &Peering) -> Vec<String> {
    pending_actions(peering)
        .iter()
        .flat_map(|a| [format!("# {}", a.description), a.command.clone()])
        .collect()
}

/// The commands, or the one line saying why there are none.
fn customer_actions_or_why(peering: &Peering) -> Vec<String> {
    let lines = customer_actions(peering);
    match (
        lines.is_empty(),
        isthmus_core::customer_actions::none_left(peering),
    ) {
        (true, Some(why)) => vec![why],
        _ => lines,
    }
}

/// The customer's actions still to do.
pub fn pending_actions(peering: &Peering) -> &[CustomerAction] {
    match isthmus_core::customer_actions::awaits_customer(peering.status) {
        true => &peering.customer_actions,
        false => &[],
    }
}

/// What `peering actions` prints: the commands, or why there are none (what happened
/// instead when the peering failed).
pub fn customer_actions_text(peering: &Peering) -> String {
    let lines = customer_actions(peering);
    if lines.is_empty() {
        let why = isthmus_core::customer_actions::none_left(peering)
            .unwrap_or_else(|| "Nothing yet.".to_string());
        return format!("peering {} is {}: {why}\n", peering.id, peering.status);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// A list row's peer: the VPC id or network name as given, an Azure VNet by its name
/// alone (its resource id runs past 150 columns; `peering get` shows it whole).
fn short_peer_network(network: &str) -> &str {
    match network.rsplit_once("/virtualNetworks/") {
        Some((_, name)) if network.starts_with("/subscriptions/") && !name.is_empty() => {
            name.trim_end_matches('/')
        }
        _ => network,
    }
}

/// A list row's routes: the first, then how many more (`peering get` lists all).
fn short_routes(routes: &[isthmus_core::Cidr]) -> String {
    let mut shown: Vec<String> = routes.iter().take(1).map(|r| r.to_string()).collect();
    if routes.len() > 1 {
        shown.push(format!("+{} more", routes.len() - 1));
    }
    shown.join(",")
}

fn routes(peering: &Peering) -> String {
    let routes: Vec<String> = peering.routes.iter().map(|r| r.to_string()).collect();
    routes.join(",")
}

fn transit_routes(peering: &Peering) -> String {
    let routes: Vec<String> = peering
        .transit_routes
        .iter()
        .map(|r| r.to_string())
        .collect();
    routes.join(",")
}

/// How many allow-list entries `cluster get` shows before "… and N more" (`-o json`
/// shows them all).
const ALLOWLIST_SHOWN: usize = 10;

fn allowlist_lines(list: &[AllowlistEntry]) -> Vec<String> {
    let mut lines: Vec<String> = list
        .iter()
        .take(ALLOWLIST_SHOWN)
        .map(|e| {
            let mut line = match e.comment.as_str() {
                "" => e.cidr.to_string(),
                comment => format!("{}  {comment}", e.cidr),
            };
            if let Some(at) = e.expires_at {
                line.push_str(&format!("  (expires {})", time(&at)));
            }
            line
        })
        .collect();
    if list.len() > ALLOWLIST_SHOWN {
        lines.push(format!(
            "… and {} more (-o json shows all)",
            list.len() - ALLOWLIST_SHOWN
        ));
    }
    lines
}

/// The parts of a `key: value` view every object has, in the order every view shows them.
trait ObjectDetails {
    /// First: id, name, project.
    fn object_head<K: Object>(self, object: &K) -> Self;
    /// After the spec: status and the controller's message.
    fn object_status<K: Object>(self, object: &K) -> Self;
    /// Last: generations, conditions, times, version.
    fn object_tail<K: Object>(self, object: &K, updated_at: &DateTime<Utc>) -> Self;
}

impl ObjectDetails for Details {
    fn object_head<K: Object>(self, object: &K) -> Self {
        self.field("id", object.id())
            .field("name", object.name())
            .field("project_id", object.project_id())
    }
    fn object_status<K: Object>(self, object: &K) -> Self {
        self.field("status", object.status())
            .field("status_message", object.status_message())
    }
    fn object_tail<K: Object>(self, object: &K, updated_at: &DateTime<Utc>) -> Self {
        let observed = generation(object.generation(), object.observed_generation());
        self.field("generation", observed)
            .block("conditions", conditions(object.conditions()))
            .field("created_at", time(&object.created_at()))
            .field("updated_at", time(updated_at))
            .field("version", object.version())
    }
}

fn generation(generation: u64, observed: u64) -> String {
    if generation == observed {
        format!("{generation} (observed)")
    } else {
        format!("{generation} (observed {observed})")
    }
}

fn conditions(conditions: &[Condition]) -> Vec<String> {
    conditions
        .iter()
        .map(|c| {
            let mut line = format!("{}={:?} {}", c.type_, c.status, c.reason);
            if !c.message.is_empty() {
                line.push_str(&format!(": {}", c.message));
            }
            line.push_str(&format!(" (since {})", time(&c.last_transition_time)));
            line
        })
        .collect()
}
