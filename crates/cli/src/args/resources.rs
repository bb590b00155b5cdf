//! Verbs on the API's resources: projects, networks, peerings, clusters, events, tokens.
//! A kind's `list`, `get`, `delete` and `wait` are the generic [`Verbs`]; only its own
//! verbs (create, update, and any bespoke one) are declared here.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Subcommand};
use isthmus_core::resources::{
    AllowlistEntryInput, Cluster, EgressRuleInput, Network, Peering, Provider, Role, Topology,
};

use crate::access;

use super::verbs::Verbs;
use super::WaitArgs;

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project; the calling token becomes its admin.
    Create { name: String },
    /// List the projects this token can see.
    List,
    /// Show one project.
    Get {
        /// Its name or id.
        id: String,
    },
    /// Make a project the profile's default (`isthmus login` keeps the rest).
    Use {
        /// Its name or id.
        project: String,
    },
    /// Delete a project (refused while it holds objects, naming them, unless --cascade).
    Delete {
        /// Its name or id.
        project: String,
        /// Do not ask for confirmation (asked only when stdin is a terminal).
        #[arg(short = 'y', long)]
        yes: bool,
        /// Delete every object of the project first, and wait until they are gone.
        #[arg(long)]
        cascade: bool,
        /// With --cascade: give up waiting after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 300)]
        timeout: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network.
    Create {
        name: String,
        /// aws, gcp or azure (the simulated clouds), or local (this host; needs root).
        #[arg(long, value_parser = parse_provider)]
        provider: Provider,
        /// A region of the provider (`isthmus regions` lists them; local: host).
        #[arg(long)]
        region: String,
        /// The network's CIDR block, e.g. 10.0.0.0/16.
        #[arg(long)]
        cidr: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Rename a network (provider, region and CIDR are immutable).
    Update {
        id: String,
        #[arg(long, required = true)]
        name: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    #[command(flatten)]
    Object(Verbs<Network>),
}

#[derive(Debug, Subcommand)]
pub enum PeeringCommand {
    /// Request a peering from a network to a customer's VPC/VNet.
    Create {
        name: String,
        /// The Isthmus network to peer from (name or id).
        #[arg(long)]
        network: String,
        /// AWS account id, GCP project id or Azure subscription id.
        #[arg(long)]
        peer_account: String,
        /// VPC id, VPC network name or VNet resource id.
        #[arg(long)]
        peer_network: String,
        #[arg(long)]
        peer_region: String,
        /// A customer prefix reachable over the peering; repeat for several.
        #[arg(long = "route", value_name = "CIDR", required = true)]
        routes: Vec<String>,
        /// A range the peer reaches through its gateway (VPN clients, spokes of a hub);
        /// Azure and local only. Repeat for several.
        #[arg(long = "transit-route", value_name = "CIDR")]
        transit_routes: Vec<String>,
        /// Azure: admit sources in the transit routes (reached through the peer's gateway).
        #[arg(long)]
        allow_gateway_transit: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Change a peering's name, routes or gateway transit; the data plane follows.
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["name", "routes", "transit_routes", "no_transit_routes", "allow_gateway_transit"])))]
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// The new full list of routes (replaces the old one); repeat for several.
        #[arg(long = "route", value_name = "CIDR")]
        routes: Vec<String>,
        /// The new full list of transit routes (replaces the old one); repeat for several.
        #[arg(long = "transit-route", value_name = "CIDR")]
        transit_routes: Vec<String>,
        /// Remove every transit route.
        #[arg(long, conflicts_with = "transit_routes")]
        no_transit_routes: bool,
        #[arg(long, value_name = "true|false")]
        allow_gateway_transit: Option<bool>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Re-observe the peering in the provider now instead of at the next resync.
    Refresh {
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Print the commands the customer runs on their side.
    Actions { id: String },
    #[command(flatten)]
    Object(Verbs<Peering>),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Create a cluster in a network (the network may still be provisioning).
    Create {
        name: String,
        /// The network to place it in (name or id).
        #[arg(long)]
        network: String,
        /// Engine from the catalog: probe, nats or postgresql (`isthmus engines` says
        /// which topologies each supports).
        #[arg(long)]
        engine: String,
        /// single-node or three-node-multi-zone.
        #[arg(long, value_parser = parse_topology)]
        topology: Topology,
        #[command(flatten)]
        access: ClusterAccessCreate,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// The URIs a client connects with (connection strings, HTTP, per-node addresses).
    Addresses { id: String },
    /// Replace one node of a running cluster: it keeps its index and DNS name and gets a
    /// new private address in the same network (its name moves with it; VPN grants and
    /// access lists follow by themselves).
    ReplaceNode {
        /// The cluster (name or id).
        id: String,
        /// The node's index (0 for the first node).
        index: u32,
        /// Wait until the new node runs.
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Rename a cluster or change who may connect to it; the data plane follows within a
    /// second. Additions and removals edit the lists the server holds (re-read and sent
    /// back with If-Match, so a concurrent change is never lost).
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        access: ClusterAccessUpdate,
        /// Wait until the change is applied: the controller observed the new spec (the
        /// data plane and the public name follow it).
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Move the cluster to another network of the project without changing its names:
    /// new nodes there, the data brought over, the names switched, the old nodes drained.
    Move {
        id: String,
        /// The target network (name or id).
        #[arg(long, required_unless_present = "cancel")]
        network: Option<String>,
        /// Move even though sources that reach the cluster today would lose it (the
        /// refusal names them).
        #[arg(long)]
        allow_lost_access: bool,
        /// How long the old nodes keep serving after the names switched (default 30).
        #[arg(long, value_name = "SECS")]
        drain: Option<u32>,
        /// Cancel the cluster's move instead (only before its names switched).
        #[arg(long, conflicts_with_all = ["network", "allow_lost_access", "drain"])]
        cancel: bool,
        /// Wait until the move is done (or cancelled), showing each phase.
        #[command(flatten)]
        wait: WaitArgs,
    },
    #[command(flatten)]
    Object(Verbs<Cluster>),
}

/// Who may connect to a new cluster.
#[derive(Debug, Args, Default)]
pub struct ClusterAccessCreate {
    /// Open a public endpoint (`public-<id>.<zone>`); only --public-allow may connect.
    #[arg(long, value_name = "on|off", value_parser = access::parse_on_off)]
    pub public_access: Option<bool>,
    /// An entry of the public allow-list, CIDR[=COMMENT]; repeat for several.
    #[arg(long = "public-allow", value_name = "CIDR[=COMMENT]", value_parser = access::parse_entry)]
    pub public_allow: Vec<AllowlistEntryInput>,
    /// Narrow the peered sources that may connect (default: every peered source); repeat.
    #[arg(long = "private-allow", value_name = "CIDR[=COMMENT]", value_parser = access::parse_entry)]
    pub private_allow: Vec<AllowlistEntryInput>,
    /// A destination in a peered network the nodes may connect to, CIDR[:PORT,PORT]; repeat.
    #[arg(long = "egress", value_name = "CIDR[:PORT,…]", value_parser = access::parse_egress)]
    pub egress: Vec<EgressRuleInput>,
    /// The public allow-list entries given here are removed after this long (e.g. 8h,
    /// 30d): temporary access, removed and audited by the server.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_seconds)]
    pub expire_after: Option<u64>,
}

/// Changes to who may connect to a cluster.
#[derive(Debug, Args, Default)]
pub struct ClusterAccessUpdate {
    /// Turn the public endpoint on or off (the allow-list is kept either way).
    #[arg(long, value_name = "on|off", value_parser = access::parse_on_off)]
    pub public_access: Option<bool>,
    /// Add (or re-comment) a public allow-list entry, CIDR[=COMMENT]; repeat for several.
    #[arg(long = "add-public-allow", value_name = "CIDR[=COMMENT]", value_parser = access::parse_entry)]
    pub add_public_allow: Vec<AllowlistEntryInput>,
    /// Remove a public allow-list entry; repeat for several.
    #[arg(long = "remove-public-allow", value_name = "CIDR")]
    pub remove_public_allow: Vec<String>,
    /// Replace the public allow-list with a file's: lines "CIDR [comment]", # comments.
    #[arg(long = "public-allowlist-file", value_name = "FILE",
          conflicts_with_all = ["add_public_allow", "remove_public_allow"])]
    pub public_allowlist_file: Option<PathBuf>,
    /// Add a private allow-list entry, CIDR[=COMMENT]; repeat for several.
    #[arg(long = "add-private-allow", value_name = "CIDR[=COMMENT]", value_parser = access::parse_entry)]
    pub add_private_allow: Vec<AllowlistEntryInput>,
    /// Remove a private allow-list entry; repeat for several.
    #[arg(long = "remove-private-allow", value_name = "CIDR")]
    pub remove_private_allow: Vec<String>,
    /// Remove the narrowing: every peered source may connect again.
    #[arg(long, conflicts_with_all = ["add_private_allow", "remove_private_allow"])]
    pub clear_private_allowlist: bool,
    /// Let the nodes connect to CIDR[:PORT,PORT] in a peered network; repeat for several.
    #[arg(long = "add-egress", value_name = "CIDR[:PORT,…]", value_parser = access::parse_egress)]
    pub add_egress: Vec<EgressRuleInput>,
    /// Remove the egress rule for CIDR (every port of it); repeat for several.
    #[arg(long = "remove-egress", value_name = "CIDR")]
    pub remove_egress: Vec<String>,
    /// Remove every egress rule: the nodes connect to nothing in peered networks again.
    #[arg(long, conflicts_with_all = ["add_egress", "remove_egress"])]
    pub clear_egress: bool,
    /// The public allow-list entries added here (or the file's) are removed after this
    /// long (e.g. 8h, 30d): temporary access, removed and audited by the server.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_seconds)]
    pub expire_after: Option<u64>,
}

impl ClusterAccessUpdate {
    /// Whether anything but the name is to change.
    pub fn is_empty(&self) -> bool {
        self.public_access.is_none()
            && self.add_public_allow.is_empty()
            && self.remove_public_allow.is_empty()
            && self.public_allowlist_file.is_none()
            && self.add_private_allow.is_empty()
            && self.remove_private_allow.is_empty()
            && !self.clear_private_allowlist
            && self.add_egress.is_empty()
            && self.remove_egress.is_empty()
            && !self.clear_egress
    }
}

/// `isthmus events [list] [--limit N] [--follow] [--kind K] [--id ID] [--actor A] [--since T]`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: Option<EventsCommand>,
    /// Show only the N most recent events (of those the filters keep).
    #[arg(long, global = true)]
    pub limit: Option<usize>,
    /// Keep printing events as they happen, until Ctrl-C.
    #[arg(short = 'f', long, global = true)]
    pub follow: bool,
    /// Only events of this kind of resource (network, peering, cluster, …).
    #[arg(long, global = true)]
    pub kind: Option<String>,
    /// Only events of the resource with this id.
    #[arg(long, global = true)]
    pub id: Option<String>,
    /// Only events by this actor: a token's name or id, or `controller`.
    #[arg(long, global = true)]
    pub actor: Option<String>,
    /// Only events since this long ago (30s, 15m, 12h, 2d) or this time (RFC 3339).
    #[arg(long, global = true, value_parser = parse_since)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// `--since`: a duration back from now, or an RFC 3339 time.
fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    let secs = parse_duration_seconds(s).map_err(|_| {
        format!("'{s}' is neither a duration (30s, 15m, 12h, 2d) nor an RFC 3339 time")
    })?;
    Ok(chrono::Utc::now() - chrono::Duration::seconds(secs as i64))
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// List the audit log, oldest first (the default).
    List,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token with a role in the project; its secret is shown once.
    Create {
        name: String,
        /// viewer (read), operator (also create, update, delete) or admin (also tokens
        /// and members).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The token stops working after this long: seconds, or a number with s, m, h
        /// or d (e.g. 90d); 60 s to 10 years. Default: never.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_seconds)]
        expires_in: Option<u64>,
    },
    /// List the project's tokens (never their secrets); `--all`: every token of the
    /// installation, revoked ones included (superuser only).
    List {
        #[arg(long)]
        all: bool,
    },
    /// Revoke a token: it answers 401 from now on and loses every role. With a project,
    /// a token of that project (admin); without one, any token (superuser).
    Revoke { token_id: String },
    /// Give a token a new secret (superuser only); the old one stops working at once.
    /// Without TOKEN_ID: the calling token. The server's admin-token file is updated when
    /// it held the old secret.
    Rotate { token_id: Option<String> },
}

/// `90`, `90s`, `15m`, `12h`, `30d` as seconds.
pub(crate) fn parse_duration_seconds(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a duration such as 3600, 15m, 12h or 90d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("'{s}': the unit is one of s, m, h, d")),
    };
    n.checked_mul(unit)
        .ok_or_else(|| format!("'{s}' is too long"))
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    s.parse()
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

fn parse_topology(s: &str) -> Result<Topology, String> {
    [Topology::SingleNode, Topology::ThreeNodeMultiZone]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| {
            format!("unknown topology '{s}' (one of single-node, three-node-multi-zone)")
        })
}
