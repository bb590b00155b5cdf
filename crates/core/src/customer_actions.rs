//! The commands a customer runs on their side of a peering, generated from its fields.
//!
//! Every value comes from the peering and its network; where a provider id is not known
//! yet (AWS assigns `pcx-…` only once the request exists) the command carries a visible
//! placeholder and the controller regenerates the list once the id is known.
//!
//! A command is built as argv words, each made of parts: the generator's own fixed text,
//! [`Placeholder`]s (a type only this module can make, shown as `<…>` for the customer to
//! replace) and values from input, which are always shell-quoted (`shlex`). A value that
//! merely looks like a placeholder is quoted like any other, so a pasted command never
//! runs something the customer did not see.

use crate::resources::{CustomerAction, Network, Peering, Provider};
use crate::state::PeeringStatus;
use crate::NetworkId;

pub mod endpoint_service;

/// The GCP project that holds the platform's VPC networks.
pub const GCP_PLATFORM_PROJECT: &str = "isthmus-platform";
/// The Azure service principal that creates the platform's side of VNet peerings.
pub const AZURE_PLATFORM_PRINCIPAL_ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

/// Text the customer replaces before running a command. Its field is private: only this
/// module makes placeholders, so no value from a request can pass for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placeholder(&'static str);

impl Placeholder {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// Shown until AWS has assigned the peering connection its id.
pub const PCX_PLACEHOLDER: Placeholder = Placeholder("<PCX_ID_SHOWN_ONCE_REQUESTED>");
/// The customer's route table: only they know it.
pub const ROUTE_TABLE_PLACEHOLDER: Placeholder = Placeholder("<YOUR_ROUTE_TABLE_ID>");
/// The customer's Azure resource group, when the peer VNet is given by name only.
pub const RESOURCE_GROUP_PLACEHOLDER: Placeholder = Placeholder("<YOUR_RESOURCE_GROUP>");

/// Every placeholder the generator may emit.
pub const PLACEHOLDERS: [Placeholder; 3] = [
    PCX_PLACEHOLDER,
    ROUTE_TABLE_PLACEHOLDER,
    RESOURCE_GROUP_PLACEHOLDER,
];

/// One piece of an argv word.
#[derive(Debug, Clone)]
enum Part {
    /// The generator's own text: only characters a shell never treats specially.
    Fixed(&'static str),
    /// A value from input (or from a provider): always quoted.
    Value(String),
    Placeholder(Placeholder),
}

impl Part {
    fn value(v: impl Into<String>) -> Part {
        // A shell word cannot carry NUL; nothing valid holds one, so show it replaced.
        Part::Value(v.into().replace('\0', "\u{FFFD}"))
    }
}

/// One argv word: its parts are concatenated with no space between them.
#[derive(Debug, Clone)]
struct Word(Vec<Part>);

fn fixed(text: &'static str) -> Word {
    Word(vec![Part::Fixed(text)])
}

fn value(v: impl Into<String>) -> Word {
    Word(vec![Part::value(v)])
}

fn placeholder(p: Placeholder) -> Word {
    Word(vec![Part::Placeholder(p)])
}

/// A value, or the placeholder while it is not known.
fn value_or(v: Option<&str>, p: Placeholder) -> Word {
    match v {
        Some(v) => value(v),
        None => placeholder(p),
    }
}

/// `--flag VALUE`.
fn flag(name: &'static str, v: Word) -> [Word; 2] {
    [fixed(name), v]
}

/// A command: its words, and what the customer is told it does.
#[derive(Debug, Clone)]
struct Command {
    description: String,
    words: Vec<Word>,
}

impl Command {
    /// The line to paste into a POSIX shell.
    fn render(&self) -> String {
        let mut out = Vec::with_capacity(self.words.len());
        for word in &self.words {
            let mut w = String::new();
            for part in &word.0 {
                match part {
                    Part::Fixed(t) => {
                        debug_assert!(t.bytes().all(plain_byte), "fixed text {t:?}");
                        w.push_str(t)
                    }
                    Part::Value(v) => w.push_str(&quote(v)),
                    Part::Placeholder(p) => w.push_str(p.0),
                }
            }
            out.push(w);
        }
        out.join(" ")
    }

    /// The argv the command means (placeholders as shown).
    #[cfg(test)]
    fn argv(&self) -> Vec<String> {
        self.words
            .iter()
            .map(|w| {
                w.0.iter()
                    .map(|p| match p {
                        Part::Fixed(t) => t.to_string(),
                        Part::Value(v) => v.clone(),
                        Part::Placeholder(p) => p.0.to_string(),
                    })
                    .collect()
            })
            .collect()
    }

    fn into_action(self) -> CustomerAction {
        CustomerAction {
            command: self.render(),
            description: self.description,
        }
    }
}

fn plain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'@' | b'+')
}

/// A value as one POSIX shell word (or part of one).
fn quote(v: &str) -> String {
    shlex::try_quote(v)
        .map(|q| q.into_owned())
        // Part::value removed NULs, the only thing try_quote refuses.
        .unwrap_or_else(|_| "''".to_string())
}

/// The name the platform gives its network on clouds where the caller chooses names
/// (GCP VPC networks, Azure VNets), so it is known before the network exists.
pub fn platform_network_name(id: NetworkId) -> String {
    format!("isthmus-{id}")
}

/// The name of the customer's side of a GCP peering (and of ours on Azure).
pub fn peering_name(peering: &Peering) -> String {
    format!("isthmus-{}", peering.id)
}

/// What the customer must still run: the handshake's commands while the peering waits on
/// them, nothing once it is active, failed or going (see [`none_left`] for why).
pub fn for_peering(network: &Network, peering: &Peering) -> Vec<CustomerAction> {
    if !awaits_customer(peering.status) {
        return Vec::new();
    }
    commands(network, peering)
        .into_iter()
        .map(Command::into_action)
        .collect()
}

/// Whether the customer may still have to act: the handshake is not over. Active, failed
/// and going peerings ask nothing of them (a stored list is stale in those states).
pub fn awaits_customer(status: PeeringStatus) -> bool {
    use PeeringStatus::*;
    matches!(status, Provisioning | PendingAcceptance | PendingPeer)
}

/// Why the customer has nothing (left) to run, in one sentence: what happened instead
/// when the peering failed, and what the operator does about it. `None` while the
/// peering still waits on the customer.
pub fn none_left(peering: &Peering) -> Option<String> {
    use PeeringStatus::*;
    let why = |m: &str| match peering.status_message.is_empty() {
        true => String::new(),
        false => format!(" ({m})"),
    };
    let recreate = "delete this peering and create it again";
    Some(match peering.status {
        Provisioning | PendingAcceptance | PendingPeer => return None,
        Active => "Nothing: the peering is active.".to_string(),
        RejectedByPeer => format!(
            "Nothing: the customer rejected the request, and a rejected request cannot be accepted; to ask again, {recreate}."
        ),
        DeletedByPeer => format!(
            "Nothing: the customer deleted their side of the peering; to link the networks again, {recreate}."
        ),
        InvalidSpecification => format!(
            "Nothing: the cloud refused the request as specified{}; correct the peer account, network or region: {recreate}.",
            why(&peering.status_message)
        ),
        Error => format!(
            "Nothing for now: the peering is in error{}; the controller tries again when it changes or is refreshed.",
            why(&peering.status_message)
        ),
        Deleting | Deleted => "Nothing: the peering is being deleted.".to_string(),
    })
}

fn commands(network: &Network, peering: &Peering) -> Vec<Command> {
    match network.provider {
        Provider::Aws => aws(network, peering),
        Provider::Gcp => gcp(network, peering),
        Provider::Azure => azure(peering),
        Provider::Local => Vec::new(),
    }
}

fn words<const N: usize>(groups: impl IntoIterator<Item = [Word; N]>) -> Vec<Word> {
    groups.into_iter().flatten().collect()
}

fn aws(network: &Network, peering: &Peering) -> Vec<Command> {
    let pcx = || value_or(peering.provider_peering_id.as_deref(), PCX_PLACEHOLDER);
    let mut accept = vec![
        fixed("aws"),
        fixed("ec2"),
        fixed("accept-vpc-peering-connection"),
    ];
    accept.extend(words([
        flag("--vpc-peering-connection-id", pcx()),
        flag("--region", value(peering.peer.region.clone())),
    ]));
    let mut route = vec![fixed("aws"), fixed("ec2"), fixed("create-route")];
    route.extend(words([
        flag("--route-table-id", placeholder(ROUTE_TABLE_PLACEHOLDER)),
        flag(
            "--destination-cidr-block",
            value(network.cidr_block.to_string()),
        ),
        flag("--vpc-peering-connection-id", pcx()),
    ]));
    vec![
        Command {
            description: format!(
                "Accept the peering connection in account {} (region {}).",
                peering.peer.account_id, peering.peer.region
            ),
            words: accept,
        },
        Command {
            description: format!(
                "Route the platform network {} through the peering, in every route table of VPC {} that should reach it.",
                network.cidr_block, peering.peer.network_id
            ),
            words: route,
        },
    ]
}

fn gcp(network: &Network, peering: &Peering) -> Vec<Command> {
    let platform_network = network
        .provider_network_id
        .clone()
        .unwrap_or_else(|| platform_network_name(network.id));
    let mut create = vec![
        fixed("gcloud"),
        fixed("compute"),
        fixed("networks"),
        fixed("peerings"),
        fixed("create"),
        value(peering_name(peering)),
    ];
    create.extend(words([
        flag("--project", value(peering.peer.account_id.clone())),
        flag("--network", value(peering.peer.network_id.clone())),
        flag("--peer-project", fixed(GCP_PLATFORM_PROJECT)),
        flag("--peer-network", value(platform_network)),
    ]));
    create.push(fixed("--import-custom-routes"));
    create.push(fixed("--export-custom-routes"));
    vec![Command {
        description: format!(
            "Create the reciprocal peering from network {} of project {} to the platform network.",
            peering.peer.network_id, peering.peer.account_id
        ),
        words: create,
    }]
}

fn azure(peering: &Peering) -> Vec<Command> {
    let mut actions = vec![role_grant(peering)];
    if peering.allow_gateway_transit {
        actions.push(hub_gateway_transit(peering));
    }
    actions
}

/// With gateway transit our side of the peering uses the customer's gateway
/// (`useRemoteGateways`), which Azure allows only while their side — the hub's peering to
/// the platform VNet — has `allowGatewayTransit` set.
fn hub_gateway_transit(peering: &Peering) -> Command {
    let (resource_group, vnet) = azure_vnet_parts(peering);
    let behind: Vec<String> = peering
        .transit_routes
        .iter()
        .map(|r| r.to_string())
        .collect();
    let reached = if behind.is_empty() {
        "sources behind its gateway".to_string()
    } else {
        format!("sources behind its gateway ({})", behind.join(", "))
    };
    let mut update = vec![
        fixed("az"),
        fixed("network"),
        fixed("vnet"),
        fixed("peering"),
        fixed("update"),
    ];
    update.extend(words([
        flag("--name", value(peering_name(peering))),
        flag("--resource-group", resource_group),
        flag("--vnet-name", value(vnet.clone())),
        flag("--allow-gateway-transit", fixed("true")),
    ]));
    Command {
        description: format!(
            "Allow gateway transit on VNet {vnet}'s peering to the platform: the platform's side \
             uses your VNet's VPN/ExpressRoute gateway (use remote gateways), so {reached} reach \
             the platform. The VNet needs such a gateway."
        ),
        words: update,
    }
}

/// The peer VNet's resource group and name: read from its resource id when given as
/// one, else the placeholder group and the name as given.
fn azure_vnet_parts(peering: &Peering) -> (Word, String) {
    let vnet = &peering.peer.network_id;
    let segment_after = |key: &str| {
        let mut parts = vnet.split('/');
        parts
            .by_ref()
            .find(|p| p.eq_ignore_ascii_case(key))
            .and_then(|_| parts.next())
            .filter(|p| !p.is_empty())
            .map(str::to_string)
    };
    match (
        segment_after("resourceGroups"),
        segment_after("virtualNetworks"),
    ) {
        (Some(group), Some(name)) if vnet.starts_with("/subscriptions/") => (value(group), name),
        _ => (placeholder(RESOURCE_GROUP_PLACEHOLDER), vnet.clone()),
    }
}

fn role_grant(peering: &Peering) -> Command {
    let mut grant = vec![
        fixed("az"),
        fixed("role"),
        fixed("assignment"),
        fixed("create"),
    ];
    grant.extend(words([
        flag("--assignee", fixed(AZURE_PLATFORM_PRINCIPAL_ID)),
        flag("--role", value("Network Contributor")),
        flag("--scope", azure_vnet_scope(peering)),
    ]));
    Command {
        description: format!(
            "Let the platform create both sides of the peering: grant its principal Network Contributor on VNet {}.",
            peering.peer.network_id
        ),
        words: grant,
    }
}

/// The peer VNet's resource id: given as such, or built from the subscription and name
/// (each user-given piece quoted on its own, so the placeholder stays editable).
fn azure_vnet_scope(peering: &Peering) -> Word {
    let vnet = &peering.peer.network_id;
    if vnet.starts_with("/subscriptions/") {
        value(vnet.clone())
    } else {
        Word(vec![
            Part::Fixed("/subscriptions/"),
            Part::value(peering.peer.account_id.clone()),
            Part::Fixed("/resourceGroups/"),
            Part::Placeholder(RESOURCE_GROUP_PLACEHOLDER),
            Part::Fixed("/providers/Microsoft.Network/virtualNetworks/"),
            Part::value(vnet.clone()),
        ])
    }
}

#[cfg(test)]
mod tests;
